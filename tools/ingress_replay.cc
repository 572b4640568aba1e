// ingress-replay: run a pcap file through the dataplane pipeline (no NIC, no daemon) and
// print every counter the way nstat does, the drop reasons, and the fate of every frame.
//
//   ingress-replay [options] FILE.pcap
//     --mac MAC            the receiving port's MAC (default 02:00:00:00:00:01)
//     --ifindex N          the port's ifindex (default 1)
//     --vlan VID:IFINDEX   a VLAN sub-interface on the port (repeatable)
//     --addr A/N[@IFINDEX] an IPv4 address on the port or on a sub-interface (repeatable;
//                          default: 198.18.0.1/24 on the port when none is given)
//     --route P/N[,TYPE][@IFINDEX]  a static route (TYPE: unicast (default), local,
//                          broadcast, blackhole, unreachable, prohibit, ...) via IFINDEX
//     --sysctl [all.|IFINDEX.]NAME=V  a conf knob (net.ipv4.conf.*.NAME): rp_filter,
//                          accept_local, accept_source_route, forwarding, route_localnet,
//                          drop_unicast_in_l2_multicast, bc_forwarding, send_redirects;
//                          without a prefix, the port's
//     --rp-filter N        the port's rp_filter (same as --sysctl rp_filter=N)
//     --join GROUP[@IFINDEX]  a multicast membership (one socket, any source)
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
#include <vector>

#include "core/counters.h"
#include "core/stats_format.h"
#include "io/pcap.h"
#include "ipv4/route_tables.h"
#include "worker/pipeline.h"

using namespace ingress;

namespace {

[[noreturn]] void usage(int code) {
    std::fprintf(code ? stderr : stdout,
                 "usage: ingress-replay [--mac MAC] [--ifindex N] [--vlan VID:IFINDEX]...\n"
                 "                      [--addr A/N[@IFINDEX]]...\n"
                 "                      [--route P/N[,TYPE][@IFINDEX]]...\n"
                 "                      [--sysctl [all.|IFINDEX.]NAME=V]... [--rp-filter N]\n"
                 "                      [--join GROUP[@IFINDEX]]...\n"
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

// "X@IFINDEX" -> X and the ifindex (`dflt` when there is no '@').
std::string split_at(const char* opt, const std::string& s, uint32_t dflt, uint32_t& ifindex) {
    auto at = s.find('@');
    ifindex = dflt;
    if (at == std::string::npos) return s;
    ifindex = static_cast<uint32_t>(parse_num(opt, s.substr(at + 1).c_str(), UINT32_MAX));
    return s.substr(0, at);
}

ipv4::IfConfig& iface_or_fail(ipv4::RouteConfig& cfg, const char* opt, uint32_t ifindex) {
    ipv4::IfConfig* i = cfg.iface(ifindex);
    if (!i)
        fail(std::string("--") + opt + ": no interface with ifindex " + std::to_string(ifindex) +
             " (the port or one of its --vlan sub-interfaces)");
    return *i;
}

// The route-related options, applied once the interfaces are known.
struct RouteOpt {
    char kind;
    std::string arg;
};

void apply_route_opt(ipv4::RouteConfig& cfg, const RouteOpt& o, uint32_t port_ifindex) {
    uint32_t ifindex = 0;
    switch (o.kind) {
        case 'a': {
            std::string a = split_at("addr", o.arg, port_ifindex, ifindex);
            auto slash = a.find('/');
            auto addr = wire::parse_ipv4(a.substr(0, slash));
            if (!addr || slash == std::string::npos)
                fail("--addr: expected ADDRESS/PREFIXLEN[@IFINDEX], got '" + o.arg + "'");
            auto len = parse_num("addr", a.substr(slash + 1).c_str(), 32);
            iface_or_fail(cfg, "addr", ifindex)
                .addrs.push_back({.addr = *addr, .prefix_len = static_cast<uint8_t>(len)});
            break;
        }
        case 'r': {
            std::string r = split_at("route", o.arg, port_ifindex, ifindex);
            ipv4::StaticRoute sr;
            sr.oif = ifindex;
            auto comma = r.find(',');
            if (!ipv4::parse_prefix(r.substr(0, comma), sr.prefix, sr.prefix_len))
                fail("--route: '" + r.substr(0, comma) + "' is not a prefix like 198.19.0.0/16 " +
                     "(host bits must be zero)");
            if (comma != std::string::npos && !ipv4::parse_route_type(r.substr(comma + 1), sr.type))
                fail("--route: unknown route type '" + r.substr(comma + 1) + "'");
            iface_or_fail(cfg, "route", ifindex);
            cfg.routes.push_back(sr);
            break;
        }
        case 's': {
            auto eq = o.arg.find('=');
            if (eq == std::string::npos) fail("--sysctl: expected NAME=VALUE, got '" + o.arg + "'");
            std::string name = o.arg.substr(0, eq);
            unsigned v =
                static_cast<unsigned>(parse_num("sysctl", o.arg.substr(eq + 1).c_str(), 2));
            ipv4::DevConf* conf = &iface_or_fail(cfg, "sysctl", port_ifindex).conf;
            if (auto dot = name.find('.'); dot != std::string::npos) {
                std::string scope = name.substr(0, dot);
                name = name.substr(dot + 1);
                conf = scope == "all" ? &cfg.all
                                      : &iface_or_fail(cfg, "sysctl",
                                                       static_cast<uint32_t>(parse_num(
                                                           "sysctl", scope.c_str(), UINT32_MAX)))
                                             .conf;
            }
            if (!conf->set(name, v))
                fail("--sysctl: unknown knob '" + name + "' or value out of range");
            break;
        }
        case 'g': {
            auto g = wire::parse_ipv4(split_at("join", o.arg, port_ifindex, ifindex));
            if (!g || !wire::ipv4_is_multicast(*g))
                fail("--join: '" + o.arg + "' is not a multicast group");
            iface_or_fail(cfg, "join", ifindex);
            cfg.mc.join(ifindex, *g, ipv4::McFilterMode::kExclude);
            break;
        }
    }
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

    static const option longopts[] = {{"mac", required_argument, nullptr, 'm'},
                                      {"ifindex", required_argument, nullptr, 'i'},
                                      {"vlan", required_argument, nullptr, 'v'},
                                      {"tx-out", required_argument, nullptr, 't'},
                                      {"pass-out", required_argument, nullptr, 'p'},
                                      {"per-frame", no_argument, nullptr, 'f'},
                                      {"zeros", no_argument, nullptr, 'z'},
                                      {"json", no_argument, nullptr, 'j'},
                                      {"ipfrag-time", required_argument, nullptr, 'T'},
                                      {"ipfrag-high-thresh", required_argument, nullptr, 'H'},
                                      {"ipfrag-max-dist", required_argument, nullptr, 'D'},
                                      {"addr", required_argument, nullptr, 'a'},
                                      {"route", required_argument, nullptr, 'r'},
                                      {"sysctl", required_argument, nullptr, 's'},
                                      {"join", required_argument, nullptr, 'g'},
                                      {"rp-filter", required_argument, nullptr, 'R'},
                                      {"help", no_argument, nullptr, 'h'},
                                      {nullptr, 0, nullptr, 0}};
    std::vector<RouteOpt> route_opts;
    bool have_addr = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, nullptr)) != -1) {
        switch (ch) {
            case 'm': {
                auto m = wire::Mac::parse(optarg);
                if (!m)
                    fail(std::string("--mac: '") + optarg +
                         "' is not a MAC like 02:00:00:00:00:01");
                port.mac = *m;
                break;
            }
            case 'i':
                port.ifindex = static_cast<uint32_t>(parse_num("ifindex", optarg, UINT32_MAX));
                break;
            case 'v': {
                std::string s = optarg;
                auto colon = s.find(':');
                if (colon == std::string::npos)
                    fail("--vlan: expected VID:IFINDEX, got '" + s + "'");
                l2::VlanIf v;
                v.vid = static_cast<uint16_t>(parse_num("vlan", s.substr(0, colon).c_str(), 4094));
                v.ifindex = static_cast<uint32_t>(
                    parse_num("vlan", s.substr(colon + 1).c_str(), UINT32_MAX));
                port.vlans.push_back(v);
                break;
            }
            case 'a':
                have_addr = true;
                [[fallthrough]];
            case 'r':
            case 's':
            case 'g':
                route_opts.push_back({static_cast<char>(ch), optarg});
                break;
            case 'R':
                route_opts.push_back({'s', std::string("rp_filter=") + optarg});
                break;
            case 't':
                bopt.tx_path = optarg;
                break;
            case 'p':
                bopt.pass_path = optarg;
                break;
            case 'f':
                per_frame = true;
                break;
            case 'z':
                fopt.zeros = true;
                break;
            case 'j':
                fopt.json = true;
                break;
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
            case 'h':
                usage(0);
            default:
                usage(1);
        }
    }
    if (optind + 1 != argc) usage(1);
    for (auto& v : port.vlans) v.mac = port.mac;
    bopt.rx_path = argv[optind];
    bopt.ifindex = port.ifindex;

    // The IPv4 side: the port and its sub-interfaces, 198.18.0.1/24 on the port by default.
    ipv4::RouteConfig rcfg;
    rcfg.ifaces.push_back({.ifindex = port.ifindex, .name = port.name});
    for (const auto& v : port.vlans)
        rcfg.ifaces.push_back(
            {.ifindex = v.ifindex, .name = port.name + "." + std::to_string(v.vid)});
    if (!have_addr)
        rcfg.ifaces[0].addrs.push_back({.addr = wire::ipv4(198, 18, 0, 1), .prefix_len = 24});
    for (const RouteOpt& o : route_opts) apply_route_opt(rcfg, o, port.ifindex);

    try {
        io::PcapBackend backend(bopt);
        core::CounterBlock counters;
        ipv4::RoutePublisher routes(std::move(rcfg));
        // A host without apps: every datagram meets the kernel's fate for "no socket".
        const auto no_endpoints = demux::EndpointTable::Builder().build();
        worker::Pipeline pipeline(
            backend, counters,
            {.port = &port, .defrag = defrag, .routes = &routes, .endpoints = no_endpoints.get()});
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
            // The capture's clock drives time (reassembly timers, ICMP rate limits).
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
