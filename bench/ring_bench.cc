// App ring throughput: ingress's shared-memory SPSC ring against DPDK's rte_ring in SP/SC
// mode with elements of the same size (rte_ring_*_elem copies each element into the ring,
// just as ours copies metadata + payload into a slot), one producer thread and one consumer
// thread pinned to different cores, in the same run.
//
//   build/bench/bench_ring [messages]      (default 20,000,000 per case)
//
// Prints messages/s for each ring and payload size and the ratio ingress / rte_ring.
#include <pthread.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "shm/region.h"
#include "shm/ring.h"

using namespace ingress;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint32_t kSlots = 1024;
constexpr uint32_t kBurst = 32;

void pin(std::thread& t, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu % std::thread::hardware_concurrency(), &set);
    pthread_setaffinity_np(t.native_handle(), sizeof set, &set);
}

double run_ingress(uint32_t payload, uint64_t messages) {
    uint32_t slot = (static_cast<uint32_t>(sizeof(shm::SlotMeta)) + payload + 63) / 64 * 64;
    shm::RingGeometry g{kSlots, slot};
    shm::Region region = shm::Region::create("bench", g.region_size());
    shm::ring_init(region.data(), g, 0, 0);
    std::vector<uint8_t> src(payload, 0xab);
    std::atomic<bool> go{false};
    uint64_t sum = 0;
    std::thread prod([&] {
        shm::RingProducer p(region.data(), g);
        while (!go.load()) {
        }
        for (uint64_t i = 0; i < messages;) {
            uint32_t idx;
            uint32_t n = p.reserve_burst(kBurst, &idx);
            for (uint32_t k = 0; k < n; ++k) {
                shm::SlotMeta& m = p.meta(idx + k);
                m.len = payload;
                m.src_addr = static_cast<uint32_t>(i + k);
                std::memcpy(p.payload(idx + k), src.data(), payload);
            }
            if (n) p.submit(n);
            i += n;
        }
    });
    std::thread cons([&] {
        shm::RingConsumer c(region.data());
        while (!go.load()) {
        }
        for (uint64_t got = 0; got < messages;) {
            uint32_t idx;
            uint32_t n = c.peek(kBurst, &idx);
            for (uint32_t k = 0; k < n; ++k)
                sum += c.meta(idx + k).src_addr + c.payload(idx + k)[0];
            if (n) c.release(n);
            got += n;
        }
    });
    pin(prod, 0);
    pin(cons, 1);
    auto t0 = std::chrono::steady_clock::now();
    go = true;
    prod.join();
    cons.join();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (sum == 42) std::puts("");  // keep the consumer's reads
    return static_cast<double>(messages) / s;
}

double run_rte_ring(uint32_t payload, uint64_t messages) {
    // The same bytes per element: metadata (64) + payload, rounded to 4 as rte_ring requires.
    uint32_t esize = (static_cast<uint32_t>(sizeof(shm::SlotMeta)) + payload + 3) / 4 * 4;
    ssize_t sz = rte_ring_get_memsize_elem(esize, kSlots);
    auto* r = static_cast<rte_ring*>(aligned_alloc(64, (static_cast<size_t>(sz) + 63) / 64 * 64));
    if (rte_ring_init(r, "bench", kSlots, RING_F_SP_ENQ | RING_F_SC_DEQ) != 0) {
        std::fprintf(stderr, "rte_ring_init failed\n");
        std::exit(1);
    }
    std::atomic<bool> go{false};
    uint64_t sum = 0;
    std::thread prod([&] {
        std::vector<uint8_t> buf(static_cast<size_t>(esize) * kBurst, 0xab);
        while (!go.load()) {
        }
        for (uint64_t i = 0; i < messages;) {
            for (uint32_t k = 0; k < kBurst; ++k) {
                auto* m = reinterpret_cast<shm::SlotMeta*>(&buf[static_cast<size_t>(k) * esize]);
                m->len = payload;
                m->src_addr = static_cast<uint32_t>(i + k);
            }
            uint32_t want = static_cast<uint32_t>(std::min<uint64_t>(kBurst, messages - i));
            i += rte_ring_sp_enqueue_burst_elem(r, buf.data(), esize, want, nullptr);
        }
    });
    std::thread cons([&] {
        std::vector<uint8_t> buf(static_cast<size_t>(esize) * kBurst);
        while (!go.load()) {
        }
        for (uint64_t got = 0; got < messages;) {
            uint32_t n = rte_ring_sc_dequeue_burst_elem(r, buf.data(), esize, kBurst, nullptr);
            for (uint32_t k = 0; k < n; ++k) {
                auto* m =
                    reinterpret_cast<const shm::SlotMeta*>(&buf[static_cast<size_t>(k) * esize]);
                sum += m->src_addr + buf[static_cast<size_t>(k) * esize + sizeof(shm::SlotMeta)];
            }
            got += n;
        }
    });
    pin(prod, 0);
    pin(cons, 1);
    auto t0 = std::chrono::steady_clock::now();
    go = true;
    prod.join();
    cons.join();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::free(r);
    if (sum == 42) std::puts("");
    return static_cast<double>(messages) / s;
}

uint64_t now_ns() {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
            .count());
}

// Worker-to-app latency: the producer stamps each message and pushes it every `gap_us`; the
// consumer either spins on the ring (busy poll) or sleeps on the doorbell with the
// needs-wakeup protocol. Returns sorted latencies in ns.
std::vector<uint64_t> run_latency(bool sleep, uint32_t messages, uint32_t gap_us) {
    shm::RingGeometry g{1024, 128};
    shm::Region region = shm::Region::create("lat", g.region_size());
    shm::ring_init(region.data(), g, 0, 0);
    shm::Doorbell bell = shm::Doorbell::create();
    shm::Doorbell app(::dup(bell.app_fd()));
    std::vector<uint64_t> lat;
    lat.reserve(messages);
    std::atomic<bool> ready{false};
    std::thread cons([&] {
        shm::RingConsumer c(region.data());
        ready = true;
        while (lat.size() < messages) {
            uint32_t idx;
            uint32_t n = c.peek(32, &idx);
            if (n == 0) {
                if (sleep && c.prepare_sleep()) app.wait(100);
                continue;
            }
            uint64_t t = now_ns();
            for (uint32_t k = 0; k < n; ++k) lat.push_back(t - c.meta(idx + k).rx_ns);
            c.release(n);
        }
    });
    std::thread prod([&] {
        shm::RingProducer p(region.data(), g);
        while (!ready) {
        }
        for (uint32_t i = 0; i < messages; ++i) {
            auto due = Clock::now() + std::chrono::microseconds(gap_us);
            shm::SlotMeta m{};
            m.rx_ns = now_ns();
            (void)p.try_push(m, {});
            if (p.take_wakeup()) {
                bell.ring();
                p.count_wakeup();
            }
            while (Clock::now() < due) {
            }
        }
    });
    pin(prod, 0);
    pin(cons, 1);
    prod.join();
    cons.join();
    std::sort(lat.begin(), lat.end());
    return lat;
}

}  // namespace

int main(int argc, char** argv) {
    uint64_t messages = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 20'000'000;
    std::printf("%-9s %-14s %-14s %s\n", "payload", "ingress Mmsg/s", "rte_ring Mmsg/s",
                "ingress/rte_ring");
    for (uint32_t payload : {64u, 1500u}) {
        uint64_t n = payload > 64 ? messages / 4 : messages;
        // Alternate and keep the best of three for each, to damp the noise of a shared host.
        double best_i = 0, best_r = 0;
        for (int rep = 0; rep < 3; ++rep) {
            best_i = std::max(best_i, run_ingress(payload, n));
            best_r = std::max(best_r, run_rte_ring(payload, n));
        }
        std::printf("%-9u %-14.2f %-14.2f %.2f\n", payload, best_i / 1e6, best_r / 1e6,
                    best_i / best_r);
    }
    std::printf("\nworker-to-app latency, one message every 20 us (ns)\n");
    std::printf("%-12s %8s %8s %8s %8s\n", "consumer", "p50", "p99", "p99.9", "max");
    for (bool sleep : {false, true}) {
        auto lat = run_latency(sleep, 100000, 20);
        auto pct = [&](double p) { return lat[static_cast<size_t>(p * (lat.size() - 1))]; };
        std::printf("%-12s %8llu %8llu %8llu %8llu\n", sleep ? "eventfd" : "busy-poll",
                    static_cast<unsigned long long>(pct(0.50)),
                    static_cast<unsigned long long>(pct(0.99)),
                    static_cast<unsigned long long>(pct(0.999)),
                    static_cast<unsigned long long>(lat.back()));
    }
    return 0;
}
