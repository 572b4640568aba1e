// libFuzzer: route classification (ip_route_input_noref and ip_rcv_finish_core: martians,
// rp_filter, local/broadcast/multicast, source routes, the route hint across a burst) under
// a configuration the input chooses: conf/all and conf/IFACE knobs (rp_filter,
// accept_local, route_localnet, accept_source_route, drop_unicast_in_l2_multicast,
// forwarding, bc_forwarding), a loopback interface or not, a VLAN sub-interface, a
// secondary address, static routes of every type and a multicast membership. Then frames,
// mostly built by FrameBuilder from the interesting addresses, through the whole pipeline:
// after every input the conservation identity holds, nothing is left held and every buffer
// came back exactly once.
#include <cstdint>
#include <cstdlib>

#include "demux/endpoint_table.h"
#include "fuzz_input.h"
#include "ipv4/route_tables.h"

using namespace ingress;
using fuzz::FuzzInput;

namespace {

void knobs(FuzzInput& in, ipv4::DevConf& c) {
    static const char* kNames[] = {
        "accept_local",   "accept_source_route",          "forwarding",
        "route_localnet", "drop_unicast_in_l2_multicast", "bc_forwarding"};
    (void)c.set("rp_filter", in.pick(3));
    const uint8_t bits = in.u8();
    for (unsigned i = 0; i < std::size(kNames); ++i) (void)c.set(kNames[i], (bits >> i) & 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzInput in(data, size);
    ipv4::RouteConfig rc;
    knobs(in, rc.all);
    ipv4::IfConfig f0{.ifindex = 1,
                      .name = "f0",
                      .addrs = {{.addr = wire::ipv4(198, 18, 0, 1), .prefix_len = 24}}};
    if (in.flag())
        f0.addrs.push_back(
            {.addr = wire::ipv4(198, 19, 0, 1), .prefix_len = 16, .secondary = in.flag()});
    knobs(in, f0.conf);
    rc.ifaces.push_back(f0);
    ipv4::IfConfig f10{.ifindex = 10,
                       .name = "f0.10",
                       .addrs = {{.addr = wire::ipv4(198, 18, 10, 1), .prefix_len = 24}}};
    knobs(in, f10.conf);
    rc.ifaces.push_back(f10);
    if (in.flag()) rc.ifaces.push_back(ipv4::RouteConfig::loopback(100));
    for (unsigned n = in.pick(4); n > 0; --n) {
        // As the config loader accepts them: no host bits set. At least /16: a shorter prefix
        // fills up to 64 MiB of the DIR-24-8 table, which would slow every input 100-fold.
        const uint8_t len = static_cast<uint8_t>(16 + in.pick(17));
        const wire::Ipv4Addr mask = ~uint32_t{0} << (32 - len);
        rc.routes.push_back({.prefix = fuzz::pick_addr(in) & mask,
                             .prefix_len = len,
                             .type = ipv4::route_type_of(in.pick(10)),
                             .oif = in.pick(2) ? 1u : 10u,
                             .via_gateway = in.flag()});
    }
    if (in.flag()) rc.mc.join(1, wire::ipv4(239, 1, 1, 1), ipv4::McFilterMode::kExclude, {});
    ipv4::RoutePublisher routes(rc);
    l2::Port port;
    port.ifindex = 1;
    port.mac = wire::Mac{{0x02, 0, 0, 0, 0, 1}};
    port.vlans.push_back({10, 10, port.mac});

    std::vector<std::vector<uint8_t>> frames;
    while (!in.empty() && frames.size() < 256) frames.push_back(fuzz::built_frame(in));
    std::vector<std::span<const uint8_t>> spans(frames.begin(), frames.end());
    io::MemoryBackend backend(1, 1, 320, 2048);
    const auto no_endpoints = demux::EndpointTable::Builder().build();
    fuzz::run_and_check(backend,
                        {.port = &port,
                         .defrag = fuzz::kSmallDefrag,
                         .routes = &routes,
                         .endpoints = no_endpoints.get()},
                        spans, [] {});
    return 0;
}
