// ingress-pktgen: a packet generator on AF_XDP. Templates are built once (src/gen/traffic.h)
// and written into the UMEM; sending recycles descriptors only. One thread per TX queue.
//
//   ingress-pktgen --dev IF [options]
//     --queues N            TX queues 0..N-1, one thread each (default 1)
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
#include <string>
#include <thread>
#include <vector>

#include "gen/traffic.h"
#include "io/afxdp/xsk_tx.h"

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
    if (errno || !end || *end || end == s) fail(std::string("--") + opt + ": '" + s + "' is not a number");
    return v;
}

struct Totals {
    std::atomic<uint64_t> frames{0}, bytes{0};
};

}  // namespace

int main(int argc, char** argv) {
    gen::TrafficSpec spec;
    std::string dev;
    unsigned queues = 1;
    uint64_t count = 0;
    double duration = 0;
    Rate rate;
    double link_bps = 10e9;
    bool json = false, any_dst = false;

    enum { kSrcMac = 256, kDstMac, kSrc, kDst, kSport, kDport, kSize, kVlan, kFrags, kFragOrder,
           kMalformed, kCount, kDuration, kRate, kLink, kJson, kAnyDst, kQueues, kDev, kHelp };
    static const option opts[] = {
        {"dev", required_argument, nullptr, kDev},        {"queues", required_argument, nullptr, kQueues},
        {"src-mac", required_argument, nullptr, kSrcMac}, {"dst-mac", required_argument, nullptr, kDstMac},
        {"src", required_argument, nullptr, kSrc},        {"dst", required_argument, nullptr, kDst},
        {"sport", required_argument, nullptr, kSport},    {"dport", required_argument, nullptr, kDport},
        {"size", required_argument, nullptr, kSize},      {"vlan", required_argument, nullptr, kVlan},
        {"frags", required_argument, nullptr, kFrags},    {"frag-order", required_argument, nullptr, kFragOrder},
        {"malformed", required_argument, nullptr, kMalformed},
        {"count", required_argument, nullptr, kCount},    {"duration", required_argument, nullptr, kDuration},
        {"rate", required_argument, nullptr, kRate},      {"link-speed", required_argument, nullptr, kLink},
        {"json", no_argument, nullptr, kJson},            {"any-dst", no_argument, nullptr, kAnyDst},
        {"help", no_argument, nullptr, kHelp},            {nullptr, 0, nullptr, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, nullptr)) != -1) {
        std::string a = optarg ? optarg : "";
        switch (ch) {
        case kDev: dev = a; break;
        case kQueues: queues = static_cast<unsigned>(parse_u64("queues", optarg)); break;
        case kSrcMac:
        case kDstMac: {
            auto m = wire::Mac::parse(a);
            if (!m) fail("--" + std::string(ch == kSrcMac ? "src-mac" : "dst-mac") + ": '" + a + "' is not a MAC");
            (ch == kSrcMac ? spec.src_mac : spec.dst_mac) = *m;
            if (ch == kDstMac) spec.dst_mac_given = true;
            break;
        }
        case kSrc:
        case kDst: {
            auto r = gen::parse_addr_range(a);
            if (!r) fail("--" + std::string(ch == kSrc ? "src" : "dst") + ": '" + a + "' is not an address or A-B range");
            (ch == kSrc ? spec.src_addr : spec.dst_addr) = *r;
            break;
        }
        case kSport:
        case kDport: {
            auto r = gen::parse_port_range(a);
            if (!r) fail("--" + std::string(ch == kSport ? "sport" : "dport") + ": '" + a + "' is not a port or P-Q range");
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
        case kFrags: spec.fragments = static_cast<uint32_t>(parse_u64("frags", optarg)); break;
        case kFragOrder:
            if (a == "inorder") spec.frag_order = gen::FragOrder::kInOrder;
            else if (a == "shuffle") spec.frag_order = gen::FragOrder::kShuffled;
            else if (a == "overlap") spec.frag_order = gen::FragOrder::kOverlapping;
            else fail("--frag-order: inorder, shuffle or overlap");
            break;
        case kMalformed:
            spec.malformed_pct = static_cast<uint32_t>(parse_u64("malformed", optarg));
            if (spec.malformed_pct > 100) fail("--malformed: a percentage, 0..100");
            break;
        case kCount: count = parse_u64("count", optarg); break;
        case kDuration: duration = std::strtod(optarg, nullptr); break;
        case kRate: rate = parse_rate(a); break;
        case kLink: link_bps = parse_rate(a).bps; if (link_bps <= 0) fail("--link-speed: e.g. 10G"); break;
        case kJson: json = true; break;
        case kAnyDst: any_dst = true; break;
        case kHelp:
            std::puts("usage: ingress-pktgen --dev IF [--queues N] [--src A[-B]] [--dst A[-B]] "
                      "[--sport P[-Q]] [--dport P[-Q]] [--size N|imix] [--vlan VID] [--frags N "
                      "[--frag-order inorder|shuffle|overlap]] [--malformed PCT] [--count N | "
                      "--duration S] [--rate R] [--json]");
            return 0;
        default: fail("unknown option (see --help)");
        }
    }
    if (dev.empty()) fail("--dev is required");
    if (queues == 0 || queues > 64) fail("--queues: 1..64");
    if (!any_dst && (!gen::is_benchmark_destination(spec.dst_addr.lo) ||
                     !gen::is_benchmark_destination(spec.dst_addr.hi)))
        fail("--dst outside 198.18.0.0/15, 239.0.0.0/8 and 255.255.255.255; pass --any-dst "
             "if you mean it");
    if (count == 0 && duration <= 0) duration = 10;

    std::vector<gen::Template> tpl;
    try {
        tpl = gen::build_templates(spec);
    } catch (const std::exception& e) {
        fail(e.what());
    }
    std::vector<std::vector<uint8_t>> frames;
    double avg_frame = 0;
    for (auto& t : tpl) {
        avg_frame += static_cast<double>(t.bytes.size() + gen::kFcsLen);
        frames.push_back(std::move(t.bytes));
    }
    avg_frame /= static_cast<double>(frames.size());
    // Offered rate in frames/s: wire bits count preamble + SFD + IFG (20 bytes) per frame.
    double pps_target = rate.pps;
    if (rate.bps > 0) pps_target = rate.bps / (avg_frame * 8);
    if (rate.pct > 0) pps_target = link_bps * rate.pct / 100 / ((avg_frame + 20) * 8);

    std::signal(SIGINT, [](int) { g_stop = true; });
    std::signal(SIGTERM, [](int) { g_stop = true; });

    Totals tot;
    std::vector<std::thread> threads;
    std::atomic<int> failed{0};
    std::atomic<bool> zero_copy{true};
    auto t0 = Clock::now();
    for (unsigned q = 0; q < queues; ++q) {
        threads.emplace_back([&, q] {
            try {
                io::afxdp::XskTx tx(dev, static_cast<uint16_t>(q), frames);
                if (!tx.zero_copy()) zero_copy = false;
                uint64_t my_count = count ? count / queues + (q < count % queues) : UINT64_MAX;
                double my_pps = pps_target / queues;
                auto start = Clock::now();
                uint64_t sent = 0;
                while (sent < my_count && !g_stop) {
                    double el = std::chrono::duration<double>(Clock::now() - start).count();
                    if (duration > 0 && el >= duration) break;
                    uint64_t allowed = my_pps > 0 ? static_cast<uint64_t>(el * my_pps) + 1 : UINT64_MAX;
                    if (sent >= allowed) continue;  // pacing: spin until the next frame is due
                    uint64_t want = std::min<uint64_t>({64, my_count - sent, allowed - sent});
                    uint32_t n = tx.send(static_cast<uint32_t>(want));
                    sent += n;
                    tot.frames.fetch_add(n, std::memory_order_relaxed);
                }
                tx.drain(1000);
                tot.bytes.fetch_add(tx.sent_bytes(), std::memory_order_relaxed);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "ingress-pktgen: %s\n", e.what());
                ++failed;
                g_stop = true;
            }
        });
    }
    // Progress, once a second, from the main thread.
    std::thread progress([&] {
        uint64_t last = 0;
        auto lt = Clock::now();
        while (!g_stop) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            auto now = Clock::now();
            double dt = std::chrono::duration<double>(now - lt).count();
            if (dt < 1.0) continue;
            uint64_t f = tot.frames.load();
            double pps = static_cast<double>(f - last) / dt;
            std::fprintf(stderr, "tx %10.0f pps %7.3f Gbit/s  sent %llu  elapsed %.0f s\n", pps,
                         pps * avg_frame * 8 / 1e9, static_cast<unsigned long long>(f),
                         std::chrono::duration<double>(now - t0).count());
            last = f;
            lt = now;
        }
    });
    for (auto& t : threads) t.join();
    g_stop = true;
    progress.join();
    if (failed) return 1;
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    uint64_t f = tot.frames.load();
    double pps = static_cast<double>(f) / secs;
    if (json) {
        std::printf("{\"frames\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"pps\":%.0f,\"gbps\":%.6f,"
                    "\"templates\":%zu,\"queues\":%u,\"zero_copy\":%s}\n",
                    static_cast<unsigned long long>(f), static_cast<unsigned long long>(tot.bytes.load()),
                    secs, pps, pps * avg_frame * 8 / 1e9, frames.size(), queues,
                    zero_copy ? "true" : "false");
    } else {
        std::printf("sent %llu frames (%zu templates, avg %.0f B with FCS) in %.3f s: %.0f pps, "
                    "%.3f Gbit/s, %s mode, %u queue(s)\n",
                    static_cast<unsigned long long>(f), frames.size(), avg_frame, secs, pps,
                    pps * avg_frame * 8 / 1e9, zero_copy ? "zero-copy" : "copy", queues);
    }
    return 0;
}
