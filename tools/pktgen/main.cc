// ingress-pktgen: a packet generator on AF_XDP or DPDK. Templates are built once
// (src/gen/traffic.h) and written into the UMEM (or into mbufs); sending recycles
// descriptors (or references) only. One thread per TX queue.
//
//   ingress-pktgen --dev IF [options]                    AF_XDP on IF
//   ingress-pktgen --dpdk "EAL ARGS" [--port N] [options] DPDK, e.g.
//       --dpdk "--no-huge --no-pci -m 256 --vdev net_af_xdp0,iface=veth0"
//   ingress-pktgen rfc2544 (--dev IF | --dpdk ...) --socket PATH [options]
//     --queues N            TX queues 0..N-1, one thread each (default 1)
//     --burst N             frames handed to a queue per call, 1..512 (default 64)
//     --src-mac / --dst-mac MAC
//     --src A[-B] --dst A[-B]   IPv4 addresses or ranges (flows)
//     --sport P[-Q] --dport P[-Q]
//     --size N|imix         Ethernet frame size with FCS, 64..4096 on AF_XDP (default 64)
//     --vlan VID            802.1Q tag
//     --frags N [--frag-order inorder|shuffle|overlap]   fragmented datagrams
//     --malformed PCT       share of frames with one deliberate error
//     --count N | --duration SECONDS   (default: 10 s)
//     --rate PPS | Nk/Nm pps | N[kMG]bit | N%   (% of --link-speed, default 10G)
//     --json                the final summary as JSON
//     --any-dst             allow destinations outside 198.18.0.0/15, 239/8, 255.255.255.255
//     --stamp               (DPDK, plain UDP) each frame carries its send time, CLOCK_REALTIME
//                           ns in its first 8 payload bytes, UDP checksum kept valid
//                           (bench/idle.sh's latency); costs a copy of each frame
//
// rfc2544: RFC 2544 section 26.1 throughput against ingressd, reading what it received
// from its control socket (kStats) before and after each trial:
//     --socket PATH         ingressd's control socket (required)
//     --sizes A,B,...       frame sizes (default 64,128,256,512,1024,1280,1518)
//     --trial SECONDS       one trial's duration (default 10; the RFC says 60)
//     --resolution PCT      stop when pass and fail are this close, in % of line (default 1)
//     --max-trials N        per frame size (default 20)
//     --delivered           count what ingressd delivered to endpoints (UdpInDatagrams)
//                           instead of what it received (IngressRx): use with a sink app
//     --settle MS           wait after a trial before reading counters (default 500; the
//                           RFC's 2 s is for store-and-forward devices)
//
// A progress line every second on stderr (pps, Gbit/s, elapsed), a summary at the end.
#include <getopt.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dpdk_tx.h"
#include "ingress/client.h"
#include "io/afxdp/xsk_tx.h"
#include "load.h"
#include "pktgen/rfc2544.h"
#include "pktgen/traffic.h"

using namespace ingress;
using Clock = std::chrono::steady_clock;

namespace {

std::atomic<bool> g_stop{false};

[[noreturn]] void fail(const std::string& m) {
    std::fprintf(stderr, "ingress-pktgen: %s\n", m.c_str());
    std::exit(2);
}

// "100000", "250k", "1.5m" -> pps; "1G", "500Mbit" -> bit/s; "50%" -> share of link.
struct Rate {
    double pps = 0, bps = 0, pct = 0;  // exactly one set; all 0 = unlimited
};

Rate parse_rate(const std::string& s) {
    Rate r;
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    std::string unit = end ? end : "";
    if (end == s.c_str() || v <= 0 || !std::isfinite(v)) fail("--rate: '" + s + "' is not a rate");
    if (unit == "%") {
        if (v > 100) fail("--rate: more than 100% of the link");
        r.pct = v;
    } else if (unit.empty() || unit == "pps") {
        r.pps = v;
    } else if (unit == "k" || unit == "kpps") {
        r.pps = v * 1e3;
    } else if (unit == "m" || unit == "mpps" || unit == "Mpps") {
        r.pps = v * 1e6;
    } else if (unit == "K" || unit == "Kbit") {
        r.bps = v * 1e3;
    } else if (unit == "M" || unit == "Mbit") {
        r.bps = v * 1e6;
    } else if (unit == "G" || unit == "Gbit") {
        r.bps = v * 1e9;
    } else {
        fail("--rate: unknown unit '" + unit + "' (pps, k, m, Mbit, Gbit or %)");
    }
    return r;
}

uint64_t parse_u64(const char* opt, const char* s) {
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (errno || !end || *end || end == s)
        fail(std::string("--") + opt + ": '" + s + "' is not a number");
    return v;
}

class XskSender final : public pktgen::QueueSender {
public:
    XskSender(const std::string& dev, uint16_t q, const std::vector<std::vector<uint8_t>>& frames)
        : tx_(dev, q, frames) {}
    uint32_t send(uint32_t n) noexcept override { return tx_.send(n); }
    void drain() noexcept override { tx_.drain(1000); }
    uint64_t sent_bytes() const noexcept override { return tx_.sent_bytes(); }
    bool zero_copy() const noexcept override { return tx_.zero_copy(); }

private:
    io::afxdp::XskTx tx_;
};

struct Frames {
    std::vector<std::vector<uint8_t>> bytes;
    double avg = 0;  // with FCS
};

Frames build_frames(const gen::TrafficSpec& spec) {
    Frames f;
    try {
        for (auto& t : gen::build_templates(spec)) {
            f.avg += static_cast<double>(t.bytes.size() + gen::kFcsLen);
            f.bytes.push_back(std::move(t.bytes));
        }
    } catch (const std::exception& e) {
        fail(e.what());
    }
    f.avg /= static_cast<double>(f.bytes.size());
    return f;
}

// Where frames go: AF_XDP sockets on --dev, or a DPDK port (EAL brought up once per process,
// so every RFC 2544 trial reuses it; templates are rebuilt per frame size).
struct Output {
    std::string dev, eal;
    int port = -1;
    unsigned queues = 1;
    bool stamp = false;  // --stamp
    std::unique_ptr<pktgen::DpdkPort> dpdk;
    std::string describe() const {
        if (!eal.empty()) return "dpdk " + (dpdk ? dpdk->name() : std::string("?"));
        return "af_xdp on " + dev;
    }
};

pktgen::SenderFactory sender_factory(Output& out, const Frames& frames) {
    if (!out.eal.empty()) {
        if (!out.dpdk)
            out.dpdk =
                std::make_unique<pktgen::DpdkPort>(out.eal, out.port, out.queues, frames.bytes);
        return [&out, &frames](uint16_t q) -> std::unique_ptr<pktgen::QueueSender> {
            return out.dpdk->open(q, frames.bytes, out.stamp);
        };
    }
    return [&out, &frames](uint16_t q) -> std::unique_ptr<pktgen::QueueSender> {
        return std::make_unique<XskSender>(out.dev, q, frames.bytes);
    };
}

struct Rfc2544Options {
    std::string socket;
    std::vector<uint32_t> sizes = gen::kRfc2544Sizes;
    double trial = 10;
    double resolution = 1;
    uint32_t max_trials = 20;
    bool delivered = false;
    int settle_ms = 500;
    uint32_t burst = 64;
};

std::vector<uint32_t> parse_size_list(const std::string& s) {
    std::vector<uint32_t> out;
    std::stringstream in(s);
    std::string item;
    while (std::getline(in, item, ',')) {
        auto v = gen::parse_sizes(item);
        if (!v || v->size() != 1) fail("--sizes: '" + item + "' is not a frame size 64..9018");
        out.push_back(v->front());
    }
    if (out.empty()) fail("--sizes: e.g. 64,1518");
    return out;
}

// ingressd's count of what arrived: IngressRx (every frame its workers took off the rings),
// or with --delivered UdpInDatagrams (what reached the endpoints' rings; datagrams that
// found a full ring are UdpRcvbufErrors and count as lost).
uint64_t daemon_count(Client& c, bool delivered) {
    std::string text = c.stats();
    return gen::nstat_value(text, delivered ? "UdpInDatagrams" : "IngressRx").value_or(0);
}

int run_rfc2544(gen::TrafficSpec spec, Output& out, const Rfc2544Options& o, double link_bps,
                bool json) {
    if (spec.fragments || spec.malformed_pct || spec.sizes.size() != 1 || spec.sizes[0] != 64)
        fail("rfc2544: plain frames only (no --frags, --malformed, --size: use --sizes)");
    Client client = [&] {
        try {
            return Client::connect(o.socket);
        } catch (const std::exception& e) {
            fail("rfc2544: cannot reach ingressd at " + o.socket + ": " + e.what());
        }
    }();
    std::vector<gen::ThroughputRow> rows;
    for (uint32_t size : o.sizes) {
        spec.sizes = {size};
        Frames frames = build_frames(spec);
        auto open = sender_factory(out, frames);
        gen::SearchOptions so{gen::line_rate_fps(link_bps, size), o.resolution, o.max_trials};
        auto trial = [&](double fps) {
            uint64_t before = daemon_count(client, o.delivered);
            pktgen::Load load{fps, 0, o.trial, out.queues, false, frames.avg, o.burst};
            pktgen::Sent s = pktgen::offer(load, open, g_stop);
            if (s.failed || g_stop) std::exit(1);
            std::this_thread::sleep_for(std::chrono::milliseconds(o.settle_ms));
            gen::TrialResult t{s.frames, daemon_count(client, o.delivered) - before, s.seconds};
            std::fprintf(
                stderr,
                "rfc2544: %u B offered %.0f fps: sent %llu (%.0f fps), received %llu, lost %llu\n",
                size, fps, static_cast<unsigned long long>(t.sent),
                s.seconds > 0 ? t.sent / s.seconds : 0, static_cast<unsigned long long>(t.received),
                static_cast<unsigned long long>(t.lost()));
            return t;
        };
        rows.push_back({size, link_bps, o.trial, gen::throughput_search(so, trial)});
    }
    if (json) {
        std::printf("[");
        for (std::size_t i = 0; i < rows.size(); ++i) {
            const auto& r = rows[i];
            std::printf(
                "%s{\"frame\":%u,\"fps\":%.0f,\"line_pct\":%.3f,\"mbps\":%.3f,\"loss\":%llu,"
                "\"trial_s\":%.1f,\"trials\":%u}",
                i ? "," : "", r.frame, r.result.fps,
                100 * r.result.fps / gen::line_rate_fps(link_bps, r.frame),
                r.result.fps * r.frame * 8 / 1e6,
                static_cast<unsigned long long>(r.result.at_rate.lost()), r.trial_seconds,
                r.result.trials);
        }
        std::printf("]\n");
    } else {
        std::printf(
            "RFC 2544 throughput (zero loss), %s, line rate %.0f Mbit/s, counted at ingressd's "
            "%s\n",
            out.describe().c_str(), link_bps / 1e6, o.delivered ? "UdpInDatagrams" : "IngressRx");
        std::fputs(gen::format_throughput_table(rows).c_str(), stdout);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    gen::TrafficSpec spec;
    Output out;
    uint64_t count = 0;
    double duration = 0;
    Rate rate;
    double link_bps = 10e9;
    bool json = false, any_dst = false, rfc2544 = false;
    uint32_t burst = 64;
    Rfc2544Options ro;
    if (argc > 1 && std::string(argv[1]) == "rfc2544") {
        rfc2544 = true;
        ++argv;
        --argc;
    }

    enum {
        kSrcMac = 256,
        kDstMac,
        kSrc,
        kDst,
        kSport,
        kDport,
        kSize,
        kVlan,
        kFrags,
        kFragOrder,
        kMalformed,
        kCount,
        kDuration,
        kRate,
        kLink,
        kJson,
        kAnyDst,
        kQueues,
        kDev,
        kHelp,
        kDpdk,
        kPort,
        kSocket,
        kSizes,
        kTrial,
        kResolution,
        kMaxTrials,
        kDelivered,
        kSettle,
        kBurst,
        kStamp
    };
    static const option opts[] = {{"dev", required_argument, nullptr, kDev},
                                  {"queues", required_argument, nullptr, kQueues},
                                  {"src-mac", required_argument, nullptr, kSrcMac},
                                  {"dst-mac", required_argument, nullptr, kDstMac},
                                  {"src", required_argument, nullptr, kSrc},
                                  {"dst", required_argument, nullptr, kDst},
                                  {"sport", required_argument, nullptr, kSport},
                                  {"dport", required_argument, nullptr, kDport},
                                  {"size", required_argument, nullptr, kSize},
                                  {"vlan", required_argument, nullptr, kVlan},
                                  {"frags", required_argument, nullptr, kFrags},
                                  {"frag-order", required_argument, nullptr, kFragOrder},
                                  {"malformed", required_argument, nullptr, kMalformed},
                                  {"count", required_argument, nullptr, kCount},
                                  {"duration", required_argument, nullptr, kDuration},
                                  {"rate", required_argument, nullptr, kRate},
                                  {"link-speed", required_argument, nullptr, kLink},
                                  {"json", no_argument, nullptr, kJson},
                                  {"any-dst", no_argument, nullptr, kAnyDst},
                                  {"dpdk", required_argument, nullptr, kDpdk},
                                  {"port", required_argument, nullptr, kPort},
                                  {"socket", required_argument, nullptr, kSocket},
                                  {"sizes", required_argument, nullptr, kSizes},
                                  {"trial", required_argument, nullptr, kTrial},
                                  {"resolution", required_argument, nullptr, kResolution},
                                  {"max-trials", required_argument, nullptr, kMaxTrials},
                                  {"delivered", no_argument, nullptr, kDelivered},
                                  {"settle", required_argument, nullptr, kSettle},
                                  {"burst", required_argument, nullptr, kBurst},
                                  {"stamp", no_argument, nullptr, kStamp},
                                  {"help", no_argument, nullptr, kHelp},
                                  {nullptr, 0, nullptr, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, nullptr)) != -1) {
        std::string a = optarg ? optarg : "";
        switch (ch) {
            case kDev:
                out.dev = a;
                break;
            case kQueues:
                out.queues = static_cast<unsigned>(parse_u64("queues", optarg));
                break;
            case kDpdk:
                out.eal = a;
                break;
            case kBurst:
                burst = static_cast<uint32_t>(parse_u64("burst", optarg));
                if (burst < 1 || burst > pktgen::Load::kMaxBurst) fail("--burst: 1..512");
                break;
            case kPort:
                out.port = static_cast<int>(parse_u64("port", optarg));
                break;
            case kSocket:
                ro.socket = a;
                break;
            case kSizes:
                ro.sizes = parse_size_list(a);
                break;
            case kTrial:
                ro.trial = std::strtod(optarg, nullptr);
                break;
            case kResolution:
                ro.resolution = std::strtod(optarg, nullptr);
                break;
            case kMaxTrials:
                ro.max_trials = static_cast<uint32_t>(parse_u64("max-trials", optarg));
                break;
            case kDelivered:
                ro.delivered = true;
                break;
            case kSettle:
                ro.settle_ms = static_cast<int>(parse_u64("settle", optarg));
                break;
            case kSrcMac:
            case kDstMac: {
                auto m = wire::Mac::parse(a);
                if (!m)
                    fail("--" + std::string(ch == kSrcMac ? "src-mac" : "dst-mac") + ": '" + a +
                         "' is not a MAC");
                (ch == kSrcMac ? spec.src_mac : spec.dst_mac) = *m;
                if (ch == kDstMac) spec.dst_mac_given = true;
                break;
            }
            case kSrc:
            case kDst: {
                auto r = gen::parse_addr_range(a);
                if (!r)
                    fail("--" + std::string(ch == kSrc ? "src" : "dst") + ": '" + a +
                         "' is not an address or A-B range");
                (ch == kSrc ? spec.src_addr : spec.dst_addr) = *r;
                break;
            }
            case kSport:
            case kDport: {
                auto r = gen::parse_port_range(a);
                if (!r)
                    fail("--" + std::string(ch == kSport ? "sport" : "dport") + ": '" + a +
                         "' is not a port or P-Q range");
                (ch == kSport ? spec.src_port : spec.dst_port) = *r;
                break;
            }
            case kSize: {
                auto s = gen::parse_sizes(a);
                if (!s) fail("--size: '" + a + "' is not 64..9018 or imix");
                spec.sizes = *s;
                break;
            }
            case kVlan: {
                uint64_t v = parse_u64("vlan", optarg);
                if (v < 1 || v > 4094) fail("--vlan: VID must be 1..4094");
                spec.vlan = static_cast<uint16_t>(v);
                break;
            }
            case kFrags:
                spec.fragments = static_cast<uint32_t>(parse_u64("frags", optarg));
                break;
            case kFragOrder:
                if (a == "inorder")
                    spec.frag_order = gen::FragOrder::kInOrder;
                else if (a == "shuffle")
                    spec.frag_order = gen::FragOrder::kShuffled;
                else if (a == "overlap")
                    spec.frag_order = gen::FragOrder::kOverlapping;
                else
                    fail("--frag-order: inorder, shuffle or overlap");
                break;
            case kMalformed:
                spec.malformed_pct = static_cast<uint32_t>(parse_u64("malformed", optarg));
                if (spec.malformed_pct > 100) fail("--malformed: a percentage, 0..100");
                break;
            case kCount:
                count = parse_u64("count", optarg);
                break;
            case kDuration:
                duration = std::strtod(optarg, nullptr);
                break;
            case kRate:
                rate = parse_rate(a);
                break;
            case kLink:
                link_bps = parse_rate(a).bps;
                if (link_bps <= 0) fail("--link-speed: e.g. 10G");
                break;
            case kJson:
                json = true;
                break;
            case kAnyDst:
                any_dst = true;
                break;
            case kStamp:
                out.stamp = true;
                break;
            case kHelp:
                std::puts(
                    "usage: ingress-pktgen [rfc2544] (--dev IF | --dpdk \"EAL ARGS\" [--port N]) "
                    "[--queues N] [--burst N] [--src-mac MAC] [--dst-mac MAC] [--src A[-B]] "
                    "[--dst A[-B]] [--sport P[-Q]] [--dport P[-Q]] [--size N|imix] [--vlan VID] "
                    "[--frags N [--frag-order inorder|shuffle|overlap]] [--malformed PCT] "
                    "[--count N | --duration S] [--rate R] [--link-speed R] [--json] [--any-dst] "
                    "[--stamp]\n"
                    "rfc2544: --socket PATH [--sizes A,B,..] [--trial S] [--resolution PCT] "
                    "[--max-trials N] [--delivered] [--settle MS] (see the source's header)");
                return 0;
            default:
                fail("unknown option (see --help)");
        }
    }
    if (out.dev.empty() == out.eal.empty())
        fail("one of --dev IF (AF_XDP) or --dpdk \"EAL ARGS\" is required");
    if (out.queues == 0 || out.queues > 64) fail("--queues: 1..64");
    if (out.stamp && out.eal.empty()) fail("--stamp: DPDK only (--dpdk)");
    if (!any_dst && (!gen::is_benchmark_destination(spec.dst_addr.lo) ||
                     !gen::is_benchmark_destination(spec.dst_addr.hi)))
        fail(
            "--dst outside 198.18.0.0/15, 239.0.0.0/8 and 255.255.255.255; pass --any-dst "
            "if you mean it");

    std::signal(SIGINT, [](int) { g_stop = true; });
    std::signal(SIGTERM, [](int) { g_stop = true; });
    try {
        if (rfc2544) {
            if (ro.socket.empty())
                fail("rfc2544: --socket PATH (ingressd's control socket) is required");
            if (ro.trial <= 0 || ro.resolution <= 0 || ro.max_trials == 0)
                fail("rfc2544: --trial, --resolution and --max-trials must be positive");
            ro.burst = burst;
            return run_rfc2544(spec, out, ro, link_bps, json);
        }
        if (count == 0 && duration <= 0) duration = 10;
        Frames frames = build_frames(spec);
        // Offered rate in frames/s: wire bits count preamble + SFD + IFG (20 bytes) per frame.
        double pps_target = rate.pps;
        if (rate.bps > 0) pps_target = rate.bps / (frames.avg * 8);
        if (rate.pct > 0) pps_target = link_bps * rate.pct / 100 / ((frames.avg + 20) * 8);
        auto open = sender_factory(out, frames);
        pktgen::Load load{pps_target, count, duration, out.queues, true, frames.avg, burst};
        pktgen::Sent s = pktgen::offer(load, open, g_stop);
        if (s.failed) return 1;
        double pps = s.seconds > 0 ? static_cast<double>(s.frames) / s.seconds : 0;
        if (json) {
            std::printf(
                "{\"frames\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"pps\":%.0f,\"gbps\":%.6f,"
                "\"refused\":%llu,\"burst\":%u,"
                "\"templates\":%zu,\"queues\":%u,\"driver\":\"%s\",\"zero_copy\":%s}\n",
                static_cast<unsigned long long>(s.frames), static_cast<unsigned long long>(s.bytes),
                s.seconds, pps, pps * frames.avg * 8 / 1e9,
                static_cast<unsigned long long>(s.refused), burst, frames.bytes.size(), out.queues,
                out.eal.empty() ? "af_xdp" : "dpdk",
                s.zero_copy && out.eal.empty() ? "true" : "false");
        } else {
            std::printf(
                "sent %llu frames (%zu templates, avg %.0f B with FCS) in %.3f s: %.0f pps, "
                "%.3f Gbit/s, %s, %u queue(s), %llu refused by a full queue\n",
                static_cast<unsigned long long>(s.frames), frames.bytes.size(), frames.avg,
                s.seconds, pps, pps * frames.avg * 8 / 1e9,
                (out.describe() +
                 (out.eal.empty() ? (s.zero_copy ? " (zero-copy)" : " (copy mode)") : ""))
                    .c_str(),
                out.queues, static_cast<unsigned long long>(s.refused));
        }
    } catch (const std::exception& e) {
        fail(e.what());
    }
    return 0;
}
