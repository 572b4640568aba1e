// ingress-replay: run a pcap file through the dataplane pipeline (no NIC, no daemon) and
// print every counter the way nstat does, the drop reasons, and the fate of every frame.
//
//   ingress-replay [options] FILE.pcap
//     --mac MAC            the receiving port's MAC (default 02:00:00:00:00:01)
//     --ifindex N          the port's ifindex (default 1)
//     --vlan VID:IFINDEX   a VLAN sub-interface on the port (repeatable)
//     --tx-out FILE        write frames the pipeline transmits (ICMP errors) to FILE
//     --pass-out FILE      write frames passed to the kernel to FILE
//     --per-frame          print one line per frame: number, fate, drop reason
//     --zeros              print zero counters too (nstat -z)
//     --json               one JSON object instead of text
//     --ipfrag-time S      net.ipv4.ipfrag_time (default 30)
//     --ipfrag-high-thresh BYTES  net.ipv4.ipfrag_high_thresh (default 4194304)
//     --ipfrag-max-dist N  net.ipv4.ipfrag_max_dist (default 64)
//
// Time is the capture's: each burst runs at its frames' timestamp, so reassembly timeouts
// happen as they would have. At the end of the capture, the reassembly timers run once more
// ipfrag_time later, so fragments still held then time out (and nothing is left held).
#include <getopt.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/counters.h"
#include "core/stats_format.h"
#include "io/pcap.h"
#include "worker/pipeline.h"

using namespace ingress;

namespace {

[[noreturn]] void usage(int code) {
    std::fprintf(code ? stderr : stdout,
                 "usage: ingress-replay [--mac MAC] [--ifindex N] [--vlan VID:IFINDEX]...\n"
                 "                      [--tx-out FILE] [--pass-out FILE] [--per-frame]\n"
                 "                      [--zeros] [--json] [--ipfrag-time S]\n"
                 "                      [--ipfrag-high-thresh BYTES] [--ipfrag-max-dist N]\n"
                 "                      FILE.pcap\n");
    std::exit(code);
}

[[noreturn]] void fail(const std::string& msg) {
    std::fprintf(stderr, "ingress-replay: %s\n", msg.c_str());
    std::exit(2);
}

unsigned long parse_num(const char* opt, const char* s, unsigned long max) {
    char* end = nullptr;
    errno = 0;
    unsigned long v = std::strtoul(s, &end, 10);
    if (errno || !end || *end || end == s || v > max)
        fail(std::string("--") + opt + ": '" + s + "' is not a number in 0.." +
             std::to_string(max));
    return v;
}

// Which fate a one-frame burst ended in, from the counter deltas.
std::string fate_of(const core::Snapshot& before, const core::Snapshot& after) {
    if (after.delivered > before.delivered) return "delivered";
    if (after.held > before.held) return "held";
    if (after.passed > before.passed) return "passed";
    for (std::size_t i = 0; i < core::kDropReasonCount; ++i)
        if (after.drops[i] > before.drops[i])
            return "dropped " +
                   std::string(core::drop_reason_name(static_cast<core::DropReason>(i)));
    return "?";
}

}  // namespace

int main(int argc, char** argv) {
    l2::Port port;
    port.ifindex = 1;
    port.name = "replay0";
    port.mac = *wire::Mac::parse("02:00:00:00:00:01");
    io::PcapBackend::Options bopt;
    bool per_frame = false;
    core::FormatOptions fopt;
    ipv4::DefragConfig defrag;

    static const option longopts[] = {
        {"mac", required_argument, nullptr, 'm'},     {"ifindex", required_argument, nullptr, 'i'},
        {"vlan", required_argument, nullptr, 'v'},    {"tx-out", required_argument, nullptr, 't'},
        {"pass-out", required_argument, nullptr, 'p'}, {"per-frame", no_argument, nullptr, 'f'},
        {"zeros", no_argument, nullptr, 'z'},         {"json", no_argument, nullptr, 'j'},
        {"ipfrag-time", required_argument, nullptr, 'T'},
        {"ipfrag-high-thresh", required_argument, nullptr, 'H'},
        {"ipfrag-max-dist", required_argument, nullptr, 'D'},
        {"help", no_argument, nullptr, 'h'},          {nullptr, 0, nullptr, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, nullptr)) != -1) {
        switch (ch) {
        case 'm': {
            auto m = wire::Mac::parse(optarg);
            if (!m) fail(std::string("--mac: '") + optarg + "' is not a MAC like 02:00:00:00:00:01");
            port.mac = *m;
            break;
        }
        case 'i':
            port.ifindex = static_cast<uint32_t>(parse_num("ifindex", optarg, UINT32_MAX));
            break;
        case 'v': {
            std::string s = optarg;
            auto colon = s.find(':');
            if (colon == std::string::npos) fail("--vlan: expected VID:IFINDEX, got '" + s + "'");
            l2::VlanIf v;
            v.vid = static_cast<uint16_t>(parse_num("vlan", s.substr(0, colon).c_str(), 4094));
            v.ifindex = static_cast<uint32_t>(
                parse_num("vlan", s.substr(colon + 1).c_str(), UINT32_MAX));
            port.vlans.push_back(v);
            break;
        }
        case 't': bopt.tx_path = optarg; break;
        case 'p': bopt.pass_path = optarg; break;
        case 'f': per_frame = true; break;
        case 'z': fopt.zeros = true; break;
        case 'j': fopt.json = true; break;
        case 'T':
            defrag.ipfrag_time = static_cast<uint32_t>(parse_num("ipfrag-time", optarg, 86400));
            break;
        case 'H':
            defrag.ipfrag_high_thresh = parse_num("ipfrag-high-thresh", optarg, UINT32_MAX);
            defrag.ipfrag_low_thresh =
                std::min(defrag.ipfrag_low_thresh, defrag.ipfrag_high_thresh);
            break;
        case 'D':
            defrag.ipfrag_max_dist =
                static_cast<uint32_t>(parse_num("ipfrag-max-dist", optarg, UINT32_MAX));
            break;
        case 'h': usage(0);
        default: usage(1);
        }
    }
    if (optind + 1 != argc) usage(1);
    for (auto& v : port.vlans) v.mac = port.mac;
    bopt.rx_path = argv[optind];
    bopt.ifindex = port.ifindex;

    try {
        io::PcapBackend backend(bopt);
        core::CounterBlock counters;
        worker::Pipeline pipeline(backend, counters, {.port = &port, .defrag = defrag});
        core::PacketBatch batch;
        const uint16_t burst = per_frame ? 1 : core::kBurst;
        uint64_t frame_no = 0;
        uint64_t now_ns = 0;
        auto t0 = std::chrono::steady_clock::now();
        for (;;) {
            batch.count = backend.rx_burst(0, batch.pkts.data(), burst);
            if (batch.count == 0) break;
            for (const core::Packet& p : batch) now_ns = std::max(now_ns, p.rx_ns);
            core::Snapshot before;
            if (per_frame) before = counters.snapshot();
            pipeline.process(batch, now_ns);
            if (per_frame)
                std::printf("frame %llu: %s\n", static_cast<unsigned long long>(++frame_no),
                            fate_of(before, counters.snapshot()).c_str());
        }
        // The capture is over: let the reassembly timers run out.
        batch.count = 0;
        pipeline.process(batch, now_ns + uint64_t{defrag.ipfrag_time} * 1'000'000'000ull);
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        core::Snapshot s = counters.snapshot();
        std::fputs(core::format_stats(s, fopt).c_str(), stdout);
        io::BackendStats bs = backend.stats();
        if (!fopt.json)
            std::printf("#replayed %llu frames from %s in %.3f s (%llu too large to read)\n",
                        static_cast<unsigned long long>(bs.rx), bopt.rx_path.c_str(), secs,
                        static_cast<unsigned long long>(bs.rx_oversize));
        if (!s.conserved()) {
            std::fprintf(stderr, "ingress-replay: conservation identity violated\n");
            return 3;
        }
        if (backend.pool().outstanding() != 0 || backend.pool().double_frees() != 0) {
            std::fprintf(stderr, "ingress-replay: %u buffers leaked, %llu freed twice\n",
                         backend.pool().outstanding(),
                         static_cast<unsigned long long>(backend.pool().double_frees()));
            return 3;
        }
    } catch (const std::exception& e) {
        fail(e.what());
    }
    return 0;
}
