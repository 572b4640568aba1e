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
//   RSS touched     after one datagram-sized write into every slot of the first min(N, 1000)
//                   endpoints' rings (what a ring that has wrapped once holds), per endpoint:
//                   the whole memfd, since a written page is never given back;
//   heap            the daemon's own memory per endpoint beside the memfd (the producer's
//                   per-slot charge entries, the objects), from RssAnon;
//   fds             per endpoint: one memfd per worker and the doorbell's two ends (the
//                   benchmark closes them after creation so that 10,000 endpoints fit in
//                   RLIMIT_NOFILE; the daemon keeps them);
//   budget slots    the slots the endpoint's default budget (rmem_default, demux/rcvbuf.h)
//                   can fill with the smallest datagrams (skb_truesize 832 each): the ring
//                   beyond that is never used while the budget holds (docs/rcvbuf.md).
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
    for (uint32_t i = 0; i < n; ++i) {
        eps.push_back(std::make_unique<demux::ShmRings>(i + 1, workers, g));
        eps.back()->close_fds();
    }
    const Status created = status();
    const uint32_t touched = n < 1000 ? n : 1000;
    for (uint32_t i = 0; i < touched; ++i)
        for (uint16_t w = 0; w < workers; ++w)
            for (uint32_t s = 0; s < g.slot_count; ++s)
                std::memset(static_cast<uint8_t*>(eps[i]->region(w).data()) + g.header_size() +
                                std::size_t{s} * g.slot_size,
                            1, 128);
    const Status after = status();
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
        "  RSS touched          %10.1f KiB per endpoint (every slot of %u rings written "
        "once); all %u: %.1f MiB\n",
        double(after.rss_kb - created.rss_kb) / touched, touched, n,
        double(after.rss_kb - created.rss_kb) / touched * n / 1024);
    std::printf("  heap per endpoint    %10.1f KiB  (daemon memory beside the memfd)\n",
                double(created.anon_kb - before.anon_kb) / n);
    std::printf("  fds                  %10u      (%u per endpoint: %u memfd + 2 doorbell)\n",
                n * (workers + 2u), workers + 2u, workers);
    const uint32_t budget_slots = demux::kRmemDefault / demux::skb_truesize(64);
    std::printf(
        "  budget slots         %10u      (rmem_default %u / 832 B: "
        "%.1f KiB of ring per worker)\n",
        budget_slots, demux::kRmemDefault,
        double(shm::RingGeometry{std::bit_ceil(budget_slots), g.slot_size}.region_size()) / 1024);
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
