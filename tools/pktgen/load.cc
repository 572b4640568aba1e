#include "load.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>
#include <vector>

namespace ingress::pktgen {

using Clock = std::chrono::steady_clock;

namespace {
void cpu_relax(int n) noexcept {
    for (int i = 0; i < n; ++i) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        asm volatile("yield");
#endif
    }
}
}  // namespace

Sent offer(const Load& load, const SenderFactory& open, std::atomic<bool>& stop) {
    std::atomic<uint64_t> frames{0}, bytes{0}, refused{0};
    std::atomic<bool> failed{false}, zero_copy{true}, done{false};
    std::atomic<int64_t> longest_ns{0};  // the slowest queue's sending time, without set-up
    std::vector<std::thread> threads;
    const unsigned queues = load.queues;
    auto t0 = Clock::now();
    for (unsigned q = 0; q < queues; ++q) {
        threads.emplace_back([&, q] {
            try {
                auto tx = open(static_cast<uint16_t>(q));
                if (!tx->zero_copy()) zero_copy = false;
                uint64_t my_count =
                    load.count ? load.count / queues + (q < load.count % queues) : UINT64_MAX;
                double my_pps = load.pps / queues;
                const uint64_t burst = std::clamp<uint32_t>(load.burst, 1, Load::kMaxBurst);
                auto start = Clock::now();
                uint64_t sent = 0, refused_here = 0;
                // Unpaced, the clock is read only every 16th call (for --duration): a
                // clock_gettime per burst is a measurable share of a small burst's cost.
                const unsigned clock_every = my_pps > 0 ? 1 : 16;
                double el = 0;
                for (unsigned iter = 0; sent < my_count && !stop; ++iter) {
                    if (iter % clock_every == 0) {
                        el = std::chrono::duration<double>(Clock::now() - start).count();
                        if (load.duration > 0 && el >= load.duration) break;
                    }
                    uint64_t allowed =
                        my_pps > 0 ? static_cast<uint64_t>(el * my_pps) + 1 : UINT64_MAX;
                    if (sent >= allowed) continue;  // pacing: spin until the next frame is due
                    uint64_t want = std::min<uint64_t>({burst, my_count - sent, allowed - sent});
                    uint32_t n = tx->send(static_cast<uint32_t>(want));
                    sent += n;
                    refused_here += want - n;
                    // A full queue: give the peer time to drain it instead of hammering the
                    // ring's shared indices (and, on memif, its doorbell) with empty calls.
                    if (n == 0) cpu_relax(64);
                    frames.fetch_add(n, std::memory_order_relaxed);
                }
                refused.fetch_add(refused_here, std::memory_order_relaxed);
                tx->drain();
                int64_t ns =
                    std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start)
                        .count();
                for (int64_t cur = longest_ns.load();
                     ns > cur && !longest_ns.compare_exchange_weak(cur, ns);) {
                }
                bytes.fetch_add(tx->sent_bytes(), std::memory_order_relaxed);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "ingress-pktgen: %s\n", e.what());
                failed = true;
                stop = true;
            }
        });
    }
    // Progress, once a second, from this thread.
    std::thread progress([&] {
        uint64_t last = 0;
        auto lt = Clock::now();
        while (!done && load.progress) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            auto now = Clock::now();
            double dt = std::chrono::duration<double>(now - lt).count();
            if (dt < 1.0) continue;
            uint64_t f = frames.load();
            double pps = static_cast<double>(f - last) / dt;
            std::fprintf(stderr, "tx %10.0f pps %7.3f Gbit/s  sent %llu  elapsed %.0f s\n", pps,
                         pps * load.avg_frame * 8 / 1e9, static_cast<unsigned long long>(f),
                         std::chrono::duration<double>(now - t0).count());
            last = f;
            lt = now;
        }
    });
    for (auto& t : threads) t.join();
    done = true;
    progress.join();
    Sent s;
    s.seconds = static_cast<double>(longest_ns.load()) / 1e9;
    s.frames = frames.load();
    s.bytes = bytes.load();
    s.refused = refused.load();
    s.zero_copy = zero_copy;
    s.failed = failed;
    return s;
}

}  // namespace ingress::pktgen
