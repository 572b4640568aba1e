// ingress-live: the dataplane on one live interface through AF_XDP, one worker, with
// in-process UDP endpoints standing in for apps, and live counters. This is what the demo
// runs until ingressd (the daemon issue) takes over with real app processes.
//
//   ingress-live --dev IF [--addr A/N]... [--udp PORT]... [--join GROUP]... [--duration S]
//                [--interval S] [--skb] [--xdp-object PATH] [--json] [--verbose]
//
// Every second: frames received, their fates (delivered / passed / dropped by reason), and
// what the endpoints got. At the end: every counter in nstat form, the XDP program's
// per-action counters and the conservation identity.
#include <getopt.h>
#include <linux/limits.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/stats_format.h"
#include "demux/endpoint_table.h"
#include "io/afxdp/backend.h"
#include "io/afxdp/xdp_program.h"
#include "io/netdev.h"
#include "ipv4/route_tables.h"
#include "worker/worker.h"

using namespace ingress;

namespace {

std::atomic<bool> g_stop{false};

[[noreturn]] void fail(const std::string& m) {
    std::fprintf(stderr, "ingress-live: %s\n", m.c_str());
    std::exit(2);
}

struct App {
    std::vector<std::unique_ptr<demux::UdpEndpoint>> eps;
    std::vector<shm::RingConsumer> rings;  // the consumer side of each endpoint's ring
    std::atomic<uint64_t> datagrams{0}, bytes{0};
    // The in-process "app": drains every endpoint's ring right after each burst, on the
    // worker's thread.
    static void drain(void* ctx) {
        auto* app = static_cast<App*>(ctx);
        uint64_t d = 0, b = 0;
        for (shm::RingConsumer& c : app->rings) {
            uint32_t idx;
            const uint32_t n = c.peek(UINT32_MAX, &idx);
            for (uint32_t i = 0; i < n; ++i) b += c.payload(idx + i).size();
            c.release(n);
            d += n;
        }
        app->datagrams.fetch_add(d, std::memory_order_relaxed);
        app->bytes.fetch_add(b, std::memory_order_relaxed);
    }
};

}  // namespace

int main(int argc, char** argv) {
    std::string dev, xdp_object;
    std::vector<ipv4::IfAddr> addrs;
    std::vector<uint16_t> ports;
    std::vector<wire::Ipv4Addr> groups;
    double duration = 0, interval = 1;
    bool skb = false, json = false, verbose = false;
    enum {
        kDev = 256,
        kAddr,
        kUdp,
        kJoin,
        kDuration,
        kInterval,
        kSkb,
        kObj,
        kJson,
        kVerbose,
        kHelp
    };
    static const option opts[] = {{"dev", required_argument, nullptr, kDev},
                                  {"addr", required_argument, nullptr, kAddr},
                                  {"udp", required_argument, nullptr, kUdp},
                                  {"join", required_argument, nullptr, kJoin},
                                  {"duration", required_argument, nullptr, kDuration},
                                  {"interval", required_argument, nullptr, kInterval},
                                  {"skb", no_argument, nullptr, kSkb},
                                  {"xdp-object", required_argument, nullptr, kObj},
                                  {"json", no_argument, nullptr, kJson},
                                  {"help", no_argument, nullptr, kHelp},
                                  {"verbose", no_argument, nullptr, kVerbose},
                                  {nullptr, 0, nullptr, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, nullptr)) != -1) {
        std::string a = optarg ? optarg : "";
        switch (ch) {
            case kDev:
                dev = a;
                break;
            case kAddr: {
                auto slash = a.find('/');
                auto ip = wire::parse_ipv4(a.substr(0, slash));
                int len = slash == std::string::npos ? 32 : std::atoi(a.c_str() + slash + 1);
                if (!ip || len < 1 || len > 32) fail("--addr: '" + a + "' is not A.B.C.D/N");
                addrs.push_back({.addr = *ip, .prefix_len = static_cast<uint8_t>(len)});
                break;
            }
            case kUdp: {
                int p = std::atoi(a.c_str());
                if (p < 1 || p > 65535) fail("--udp: '" + a + "' is not a port");
                ports.push_back(static_cast<uint16_t>(p));
                break;
            }
            case kJoin: {
                auto g = wire::parse_ipv4(a);
                if (!g || !wire::ipv4_is_multicast(*g))
                    fail("--join: '" + a + "' is not a multicast group");
                groups.push_back(*g);
                break;
            }
            case kDuration:
                duration = std::strtod(a.c_str(), nullptr);
                break;
            case kInterval:
                interval = std::max(0.1, std::strtod(a.c_str(), nullptr));
                break;
            case kSkb:
                skb = true;
                break;
            case kObj:
                xdp_object = a;
                break;
            case kJson:
                json = true;
                break;
            case kVerbose:
                verbose = true;
                break;
            case kHelp:
                std::puts(
                    "usage: ingress-live --dev IF [--addr A/N]... [--udp PORT]... [--join "
                    "GROUP]... "
                    "[--duration S] [--interval S] [--skb] [--xdp-object PATH] [--json]");
                return 0;
            default:
                fail("unknown option (see --help)");
        }
    }
    if (dev.empty()) fail("--dev is required");
    if (addrs.empty()) addrs.push_back({.addr = wire::ipv4(198, 18, 0, 1), .prefix_len = 24});
    if (ports.empty()) ports.push_back(5000);
    if (xdp_object.empty()) xdp_object = io::afxdp::default_object_path();
    std::signal(SIGINT, [](int) { g_stop = true; });
    std::signal(SIGTERM, [](int) { g_stop = true; });

    try {
        l2::Port port;
        port.ifindex = if_nametoindex(dev.c_str());
        if (!port.ifindex) fail(dev + ": no such interface");
        port.name = dev;
        auto mac = io::netdev_mac(dev);
        if (!mac) fail(dev + ": cannot read the MAC address");
        port.mac = *mac;

        ipv4::RouteConfig rcfg;
        rcfg.ifaces.push_back({.ifindex = port.ifindex, .name = dev, .addrs = addrs});
        for (auto g : groups) rcfg.mc.join(port.ifindex, g, ipv4::McFilterMode::kExclude, {});
        ipv4::RoutePublisher routes(rcfg);

        io::afxdp::set_library_logging(verbose);
        io::afxdp::XdpProgram prog(xdp_object, dev,
                                   skb ? io::afxdp::XdpMode::kSkb : io::afxdp::XdpMode::kNative);
        // Steer what the route tables say is ours on this interface.
        for (const ipv4::LocalDst& d : routes.read()->local_dsts(port.ifindex))
            (void)prog.add_dst(d.addr, d.prefix_len, d.type);
        io::afxdp::XskOptions xopt;
        xopt.ifname = dev;
        io::afxdp::AfXdpBackend backend(xopt, prog);

        App app;
        demux::EndpointTable::Builder builder;
        for (uint16_t p : ports) {
            auto rings = std::make_shared<demux::ShmRings>(p, 1, shm::RingGeometry{4096, 2112});
            app.rings.emplace_back(rings->region(0).data());
            auto ep =
                std::make_unique<demux::UdpEndpoint>(std::move(rings), "udp:" + std::to_string(p));
            ep->bind(0, p);
            for (auto g : groups) ep->mc().join(g, port.ifindex);
            builder.add(*ep);
            app.eps.push_back(std::move(ep));
        }
        auto table = builder.build();

        core::CounterBlock counters;
        core::MonotonicClock clock;
        worker::PipelineTables tables{.port = &port, .routes = &routes, .endpoints = table.get()};
        worker::Worker worker(backend, counters, tables, clock, {});
        std::fprintf(stderr,
                     "ingress-live: %s (ifindex %u, %s) in %s mode, %s; %zu UDP endpoint(s)\n",
                     dev.c_str(), port.ifindex, port.mac.str().c_str(), skb ? "skb" : "native",
                     backend.zero_copy(0) ? "zero-copy" : "copy", app.eps.size());
        std::thread t([&] { worker.run(g_stop, &App::drain, &app); });

        auto t0 = std::chrono::steady_clock::now();
        core::Snapshot last;
        uint64_t last_app = 0;
        while (!g_stop) {
            std::this_thread::sleep_for(std::chrono::duration<double>(interval));
            double el =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            core::Snapshot s = counters.snapshot();
            uint64_t got = app.datagrams.load();
            std::fprintf(stderr, "[%5.1fs] %s  app got %8llu\n", el,
                         core::format_live_line(last, s, interval).c_str(),
                         static_cast<unsigned long long>(got - last_app));
            last = s;
            last_app = got;
            if (duration > 0 && el >= duration) g_stop = true;
        }
        t.join();
        core::Snapshot s = counters.snapshot();
        std::fputs(core::format_stats(s, {.json = json}).c_str(), stdout);
        io::afxdp::XdpStats xs = prog.stats();
        if (!json)
            std::printf(
                "#xdp seen %llu redirected %llu passed-to-kernel %llu no-socket %llu\n"
                "#xsk %s\n"
                "#app received %llu datagrams, %llu bytes\n",
                static_cast<unsigned long long>(xs.seen),
                static_cast<unsigned long long>(xs.redirect),
                static_cast<unsigned long long>(xs.pass),
                static_cast<unsigned long long>(xs.no_xsk), backend.xsk_stats(0).c_str(),
                static_cast<unsigned long long>(app.datagrams.load()),
                static_cast<unsigned long long>(app.bytes.load()));
        return s.conserved() ? 0 : 3;
    } catch (const std::exception& e) {
        fail(e.what());
    }
}
