// The I/O ceiling of the AF_XDP path (bench/e2e.sh, (b)): the project's XDP program and
// AF_XDP backend with nothing behind them. Every frame is redirected (capture_all), taken
// off the RX ring, counted and its buffer handed straight back to the fill ring. Whatever
// ingressd does on top of this costs throughput against this figure.
//
//   bench_xsk_count --dev IF [--queue Q] [--skb] [--xdp-object PATH]
//
// Prints "ready" on stderr once the socket is up; on SIGINT/SIGTERM prints
// {"received":N,"bytes":B,"zero_copy":bool} on stdout and exits.
#include <getopt.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <string>

#include "core/packet.h"
#include "io/afxdp/backend.h"
#include "io/afxdp/xdp_program.h"

using namespace ingress;

namespace {
std::atomic<bool> g_stop{false};
}

int main(int argc, char** argv) {
    std::string dev, object;
    uint16_t queue = 0;
    bool skb = false;
    static const option opts[] = {{"dev", required_argument, nullptr, 'd'},
                                  {"queue", required_argument, nullptr, 'q'},
                                  {"skb", no_argument, nullptr, 's'},
                                  {"xdp-object", required_argument, nullptr, 'x'},
                                  {nullptr, 0, nullptr, 0}};
    for (int ch; (ch = getopt_long(argc, argv, "", opts, nullptr)) != -1;) {
        if (ch == 'd')
            dev = optarg;
        else if (ch == 'q')
            queue = static_cast<uint16_t>(std::atoi(optarg));
        else if (ch == 's')
            skb = true;
        else if (ch == 'x')
            object = optarg;
        else
            return 2;
    }
    if (dev.empty()) {
        std::fprintf(stderr,
                     "usage: bench_xsk_count --dev IF [--queue Q] [--skb] [--xdp-object PATH]\n");
        return 2;
    }
    if (object.empty()) object = io::afxdp::default_object_path();
    std::signal(SIGINT, [](int) { g_stop = true; });
    std::signal(SIGTERM, [](int) { g_stop = true; });
    try {
        io::afxdp::set_library_logging(false);
        io::afxdp::XdpProgram prog(object, dev,
                                   skb ? io::afxdp::XdpMode::kSkb : io::afxdp::XdpMode::kNative);
        prog.set_capture_all(true);
        io::afxdp::XskOptions xopt;
        xopt.ifname = dev;
        xopt.queues = {queue};
        io::afxdp::AfXdpBackend backend(xopt, prog);
        std::fprintf(stderr, "ready\n");
        core::Packet pkts[core::kBurst];
        uint64_t bufs[core::kBurst];
        unsigned long long received = 0, bytes = 0;
        while (!g_stop) {
            uint16_t n = backend.rx_burst(queue, pkts, core::kBurst);
            for (uint16_t i = 0; i < n; ++i) {
                bytes += pkts[i].len;
                bufs[i] = pkts[i].buf;
            }
            if (n) backend.free_bulk(bufs, n);
            received += n;
        }
        std::printf("{\"received\":%llu,\"bytes\":%llu,\"zero_copy\":%s}\n", received, bytes,
                    backend.zero_copy(queue) ? "true" : "false");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_xsk_count: %s\n", e.what());
        return 1;
    }
    return 0;
}
