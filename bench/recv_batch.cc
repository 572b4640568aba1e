// Per-datagram receive cost in libingress, single vs batch, in the same run: a test daemon
// (tests/support/test_daemon.h: the control server and a worker pipeline over a memory
// backend, in this process) fills one endpoint's ring with N datagrams, then only the app's
// drain of the ring is timed, for each way of receiving:
//   recv x1       ingress_recv(ep, d, 1, 0): one zero-copy view per call
//   recv x64      ingress_recv(ep, d, 64, 0)
//   recvmmsg x1   ingress_recvmmsg(ep, m, 1, MSG_DONTWAIT, NULL): one copy per call
//   recvmmsg x64  ingress_recvmmsg(ep, m, 64, MSG_DONTWAIT, NULL)
// and prints ns per datagram (median of the rounds) and the single/batch ratios.
//
//   bench_recv_batch [--datagrams N] [--rounds R] [--size BYTES]
#include <getopt.h>
#include <ingress/ingress.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "support/demux.h"
#include "support/test_daemon.h"

namespace {

using ingress::test::TestDaemon;

uint64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

constexpr uint16_t kPort = 7000;
constexpr int kBatch = 64;

enum class Way { kRecv1, kRecv64, kMmsg1, kMmsg64 };
const char* way_name(Way w) {
    switch (w) {
        case Way::kRecv1:
            return "recv x1";
        case Way::kRecv64:
            return "recv x64";
        case Way::kMmsg1:
            return "recvmmsg x1";
        case Way::kMmsg64:
            return "recvmmsg x64";
    }
    return "?";
}

// Drains the endpoint one way; returns the datagrams taken.
uint64_t drain(ingress_endpoint* ep, Way w, std::vector<ingress_mmsg>& m) {
    ingress_datagram d[kBatch];
    uint64_t n = 0;
    uint64_t sum = 0;  // touch every payload, as an app would
    for (;;) {
        int got = 0;
        switch (w) {
            case Way::kRecv1:
            case Way::kRecv64:
                got = ingress_recv(ep, d, w == Way::kRecv1 ? 1 : kBatch, 0);
                for (int i = 0; i < got; ++i) sum += d[i].data[0];
                break;
            case Way::kMmsg1:
            case Way::kMmsg64:
                got = ingress_recvmmsg(ep, m.data(), w == Way::kMmsg1 ? 1 : kBatch, MSG_DONTWAIT,
                                       nullptr);
                for (int i = 0; i < got; ++i) sum += static_cast<uint8_t*>(m[i].buf)[0];
                break;
        }
        if (got <= 0) break;
        n += static_cast<uint64_t>(got);
    }
    asm volatile("" : : "r"(sum));
    return n;
}

}  // namespace

int main(int argc, char** argv) {
    uint32_t datagrams = 8192, rounds = 15;
    std::size_t size = 64;
    static const option opts[] = {{"datagrams", required_argument, nullptr, 'n'},
                                  {"rounds", required_argument, nullptr, 'r'},
                                  {"size", required_argument, nullptr, 's'},
                                  {nullptr, 0, nullptr, 0}};
    for (int c; (c = getopt_long(argc, argv, "n:r:s:", opts, nullptr)) != -1;) {
        switch (c) {
            case 'n':
                datagrams = static_cast<uint32_t>(std::atoi(optarg));
                break;
            case 'r':
                rounds = static_cast<uint32_t>(std::atoi(optarg));
                break;
            case 's':
                size = static_cast<std::size_t>(std::atoi(optarg));
                break;
            default:
                std::fprintf(stderr, "usage: %s [--datagrams N] [--rounds R] [--size BYTES]\n",
                             argv[0]);
                return 2;
        }
    }
    ingress::test::TestDaemonOptions o;
    o.ring_slots = 16384;
    TestDaemon daemon(o);
    ingress_client* c = ingress_client_connect(daemon.path().c_str());
    if (!c) {
        std::fprintf(stderr, "connect: %s\n", ingress_last_error());
        return 1;
    }
    ingress_udp_opts uo = INGRESS_UDP_OPTS_INIT;
    uo.port = kPort;
    uo.ring_slots = std::max<uint32_t>(datagrams, 2);
    ingress_endpoint* ep = ingress_udp_open(c, &uo);
    if (!ep) {
        std::fprintf(stderr, "open: %s\n", ingress_last_error());
        return 1;
    }
    const std::vector<uint8_t> frame =
        ingress::test::udp_to(ingress::test::kLocal, kPort, ingress::test::kPeer, 4000, size)
            .build();
    std::vector<std::vector<uint8_t>> bufs(kBatch, std::vector<uint8_t>(2048));
    std::vector<ingress_mmsg> m(kBatch);
    for (int i = 0; i < kBatch; ++i) {
        m[i] = {};
        m[i].buf = bufs[i].data();
        m[i].buf_len = 2048;
    }
    const Way ways[] = {Way::kRecv1, Way::kRecv64, Way::kMmsg1, Way::kMmsg64};
    std::vector<double> ns[4];
    for (uint32_t r = 0; r < rounds; ++r) {
        for (int w = 0; w < 4; ++w) {  // interleaved: the ways see the same machine state
            for (uint32_t i = 0; i < datagrams; ++i) daemon.inject(frame);
            if (!daemon.wait_processed(60000)) {
                std::fprintf(stderr, "worker did not finish\n");
                return 1;
            }
            const uint64_t t0 = now_ns();
            const uint64_t got = drain(ep, ways[w], m);
            const uint64_t t1 = now_ns();
            if (got != datagrams) {
                std::fprintf(stderr, "%s: took %llu of %u\n", way_name(ways[w]),
                             static_cast<unsigned long long>(got), datagrams);
                return 1;
            }
            ns[w].push_back(static_cast<double>(t1 - t0) / static_cast<double>(got));
        }
    }
    double med[4];
    std::printf("per-datagram receive cost, %u datagrams of %zu bytes per drain, %u rounds\n",
                datagrams, size, rounds);
    for (int w = 0; w < 4; ++w) {
        std::sort(ns[w].begin(), ns[w].end());
        med[w] = ns[w][ns[w].size() / 2];
        std::printf("  %-13s %8.1f ns/datagram (min %.1f)\n", way_name(ways[w]), med[w],
                    ns[w].front());
    }
    std::printf("  ratio recv x1 / recv x64:         %.2f\n", med[0] / med[1]);
    std::printf("  ratio recvmmsg x1 / recvmmsg x64: %.2f\n", med[2] / med[3]);
    std::printf("  ratio recvmmsg x64 / recv x64:    %.2f (the copy)\n", med[3] / med[1]);
    ingress_endpoint_close(ep);
    ingress_client_close(c);
    return 0;
}
