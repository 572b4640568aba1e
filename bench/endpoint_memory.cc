// What endpoints cost in memory and file descriptors: the daemon's side of N UDP endpoints
// (1,000 and 10,000 by default) with the default rings (ring_slots 1024 x ring_slot_size
// 2048 per (endpoint, worker)), measured from /proc/self/status in this process.
//
//   build/bench/bench_endpoint_memory [workers] [N...]
//
// For each N it prints:
//   memfd bytes     the rings' sealed memfds (each workers x region_size: 256 B of header
//                   and slot_count x slot_size), what control.max_ring_bytes_per_uid counts;
//   RSS at creation what creating them took (VmRSS and its RssShmem part: a memfd's pages
//                   are allocated on first write, so a fresh ring holds its header page);
//   RSS touched     after slot_count (1024) small datagrams delivered to each of the first
//                   min(N, 1000) endpoints, read as they come (enough for a ring that used
//                   every slot to have written each once), per endpoint: a written page is
//                   never given back. The endpoints have the default budget (rmem_default),
//                   so only its active slots are written (shm/ring.h: 256, 512 KiB);
//                   before the ring followed the budget, every slot was (2 MiB);
//   heap            the daemon's own memory per endpoint beside the memfd (the producer's
//                   per-slot charge entries, the objects), from RssAnon;
//   fds             per endpoint: one memfd per worker and the doorbell's two ends (the
//                   benchmark closes them after creation so that 10,000 endpoints fit in
//                   RLIMIT_NOFILE; the daemon keeps them);
//   active slots    the slots the endpoint's default budget (rmem_default, demux/rcvbuf.h)
//                   can fill with the smallest datagrams (skb_truesize 832 each): the ring's
//                   active slots (demux::rcv_queue_slots()), the rest is never written
//                   unless SO_RCVBUF grows the budget.
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "demux/delivery.h"
#include "demux/rcvbuf.h"

using namespace ingress;

namespace {

struct Status {
    long rss_kb = 0, anon_kb = 0, shmem_kb = 0;
};

Status status() {
    Status s;
    std::ifstream f("/proc/self/status");
    std::string key;
    long v;
    while (f >> key) {
        if (key == "VmRSS:" && f >> v) s.rss_kb = v;
        if (key == "RssAnon:" && f >> v) s.anon_kb = v;
        if (key == "RssShmem:" && f >> v) s.shmem_kb = v;
    }
    return s;
}

double mib(double kb) {
    return kb / 1024.0;
}

void measure(uint32_t n, uint16_t workers, const shm::RingGeometry& g) {
    const Status before = status();
    std::vector<std::unique_ptr<demux::ShmRings>> eps;
    eps.reserve(n);
    // A UDP endpoint opened with the default budget, as the registry creates it.
    const demux::RingBudgets budgets{demux::kRmemDefault, demux::kRmemDefault};
    for (uint32_t i = 0; i < n; ++i) {
        eps.push_back(std::make_unique<demux::ShmRings>(
            i + 1, workers, g, demux::ShmRings::kDefaultErrSlots, budgets));
        eps.back()->close_fds();
    }
    const Status created = status();
    const uint32_t touched = n < 1000 ? n : 1000;
    // slot_count datagrams of 18 bytes per (endpoint, worker) ring, each charged what the
    // kernel would (832), the app reading each one.
    const uint8_t payload[18] = {1};
    const demux::RcvBudget charge{demux::skb_truesize(14 + 20 + 8 + sizeof payload),
                                  demux::kRmemDefault};
    uint64_t refused = 0;
    for (uint32_t i = 0; i < touched; ++i)
        for (uint16_t w = 0; w < workers; ++w) {
            shm::RingConsumer app(eps[i]->region(w).data());
            const demux::DeliveryCtx ctx{w, nullptr};
            for (uint32_t s = 0; s < g.slot_count; ++s) {
                if (!eps[i]->try_emplace([](shm::SlotMeta&) noexcept {}, payload, {}, &ctx,
                                         &charge))
                    ++refused;
                uint32_t idx;
                app.release(app.peek(UINT32_MAX, &idx));
            }
        }
    const Status after = status();
    if (refused)
        std::printf("  (%llu datagrams refused)\n", static_cast<unsigned long long>(refused));
    // The data ring and the error queue after it (shm::kErrRingGeometry).
    const double memfd = double(n) * workers * double(eps[0]->region(0).size());
    std::printf("endpoints %u, workers %u, ring %u x %u B\n", n, workers, g.slot_count,
                g.slot_size);
    std::printf("  memfd bytes          %10.1f MiB  (%.1f KiB per endpoint)\n", memfd / 1048576,
                memfd / n / 1024);
    std::printf(
        "  RSS at creation      %10.1f MiB  (shmem %.1f MiB, anon %.1f MiB; %.1f KiB "
        "per endpoint)\n",
        mib(created.rss_kb - before.rss_kb), mib(created.shmem_kb - before.shmem_kb),
        mib(created.anon_kb - before.anon_kb), double(created.rss_kb - before.rss_kb) / n);
    std::printf(
        "  RSS touched          %10.1f KiB per endpoint (%u datagrams to each of %u, read "
        "as they come); all %u: %.1f MiB\n",
        double(after.rss_kb - created.rss_kb) / touched, g.slot_count, touched, n,
        double(after.rss_kb - created.rss_kb) / touched * n / 1024);
    std::printf("  heap per endpoint    %10.1f KiB  (daemon memory beside the memfd)\n",
                double(created.anon_kb - before.anon_kb) / n);
    std::printf("  fds                  %10u      (%u per endpoint: %u memfd + 2 doorbell)\n",
                n * (workers + 2u), workers + 2u, workers);
    const uint32_t active = eps[0]->active_slots(0);
    std::printf(
        "  active slots         %10u      (rmem_default %u / 832 B: "
        "%.1f KiB of ring per worker written at most; error queue %u of %u)\n",
        active, demux::kRmemDefault,
        double(shm::RingGeometry{active, g.slot_size}.region_size()) / 1024,
        eps[0]->err_active_slots(0), demux::ShmRings::kDefaultErrSlots);
}

}  // namespace

int main(int argc, char** argv) {
    const uint16_t workers = argc > 1 ? static_cast<uint16_t>(std::atoi(argv[1])) : 1;
    std::vector<uint32_t> ns;
    for (int i = 2; i < argc; ++i) ns.push_back(static_cast<uint32_t>(std::atoi(argv[i])));
    if (ns.empty()) ns = {1000, 10000};
    const shm::RingGeometry g{1024, 2048};  // config: ring_slots, ring_slot_size
    for (uint32_t n : ns) measure(n, workers ? workers : 1, g);
    return 0;
}
