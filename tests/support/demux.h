// Helpers for local-delivery tests: the addresses, frames aimed at them, an endpoint table
// published into a PipelineHarness, and the counters every UDP frame that reaches udp_rcv
// moves. Endpoints' rings and what an app reads from them: support/rings.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "demux/delivery.h"
#include "demux/endpoint_table.h"
#include "ipv4/route_type.h"
#include "support/counters.h"
#include "support/packet.h"
#include "support/pipeline_harness.h"
#include "support/rings.h"
#include "wire/frame_builder.h"

namespace ingress::test {

inline constexpr wire::Ipv4Addr kLocal = wire::ipv4(198, 18, 0, 1);
inline constexpr wire::Ipv4Addr kLocal2 = wire::ipv4(198, 18, 0, 3);
inline constexpr wire::Ipv4Addr kPeer = wire::ipv4(198, 18, 0, 2);
inline constexpr wire::Ipv4Addr kPeer2 = wire::ipv4(198, 18, 0, 4);
inline constexpr wire::Ipv4Addr kGroup = wire::ipv4(239, 1, 1, 1);
inline constexpr wire::Ipv4Addr kGroup2 = wire::ipv4(239, 1, 1, 2);
inline constexpr wire::Ipv4Addr kSubnetBcast = wire::ipv4(198, 18, 255, 255);

// A UDP frame to `dst`, with the L2 destination the sender would use for it.
inline wire::FrameBuilder udp_to(wire::Ipv4Addr dst, uint16_t dport, wire::Ipv4Addr src = kPeer,
                                 uint16_t sport = 4000, std::size_t payload = 18) {
    wire::Mac l2 = kPortMac;
    if (wire::ipv4_is_multicast(dst)) l2 = wire::Mac::for_ipv4_multicast(dst);
    if (wire::ipv4_is_lbcast(dst) || dst == kSubnetBcast) l2 = wire::Mac::broadcast();
    return wire::FrameBuilder()
        .eth(kPeerMac, l2)
        .ipv4(src, dst)
        .udp(sport, dport)
        .payload_size(payload);
}

// A frame of another IP protocol (10 payload bytes) to `dst`.
inline wire::FrameBuilder proto_to(uint8_t proto, wire::Ipv4Addr dst = kLocal,
                                   wire::Ipv4Addr src = kPeer) {
    wire::Mac l2 = wire::ipv4_is_multicast(dst) ? wire::Mac::for_ipv4_multicast(dst) : kPortMac;
    return wire::FrameBuilder().eth(kPeerMac, l2).ipv4(src, dst).protocol(proto).payload_size(10);
}

// A Packet over an untagged IPv4 frame as rcv_core and route would leave it (for calling one
// stage directly).
inline core::Packet ip_packet(std::vector<uint8_t>& bytes, ipv4::RouteType rt) {
    core::Packet p;
    p.data = bytes.data();
    p.len = static_cast<uint32_t>(bytes.size());
    p.l3_off = 14;
    fill_l3_meta(p);
    p.ifindex = 1;
    p.pkt_type = core::PktType::kHost;
    p.route_type = static_cast<uint8_t>(rt);
    return p;
}

inline std::vector<uint8_t> payload_bytes(std::size_t n) {
    std::vector<uint8_t> p(n);
    for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(i);
    return p;
}

// The counters of n IPv4 frames of `ip_len` bytes each that reached the transport layer
// (rcv_core passed them, local delivery took them).
inline Expected ip_local(uint64_t n, uint64_t ip_len) {
    return {{"rx", n},
            {"IpInReceives", n},
            {"IpExtInOctets", n * ip_len},
            {"IpExtInNoECTPkts", n},
            {"IpInDelivers", n}};
}

// What ip_rcv_finish_core adds for n multicast / broadcast datagrams of ip_len bytes
// (IPSTATS_MIB_INMCAST / INBCAST, counted from the route type).
inline Expected mcast(uint64_t n, uint64_t ip_len) {
    return {{"IpExtInMcastPkts", n}, {"IpExtInMcastOctets", n * ip_len}};
}
inline Expected bcast(uint64_t n, uint64_t ip_len) {
    return {{"IpExtInBcastPkts", n}, {"IpExtInBcastOctets", n * ip_len}};
}

// `base` with `more` added (values summed for names in both).
inline Expected plus(Expected base, const Expected& more) {
    for (const auto& [k, v] : more) base[k] += v;
    return base;
}

// The receiving host of the local-delivery tests: 198.18.0.1/16 and 198.18.0.3 on the port
// (so 198.18.255.255 is the subnet broadcast), with kGroup and kGroup2 joined on it at the
// interface level (what the control plane does when an endpoint joins; which endpoint gets
// what is then the socket-level decision under test).
inline ipv4::RouteConfig demux_route_config() {
    ipv4::RouteConfig cfg;
    ipv4::IfConfig port;
    port.ifindex = 1;
    port.name = "test0";
    port.addrs.push_back({.addr = kLocal, .prefix_len = 16});
    port.addrs.push_back({.addr = kLocal2, .prefix_len = 16, .secondary = true});
    cfg.ifaces.push_back(port);
    // The VLAN 10 sub-interface some tests configure on the port (no address of its own:
    // datagrams to the port's addresses arrive there too, as in the kernel's weak host model).
    cfg.ifaces.push_back({.ifindex = 10, .name = "test0.10"});
    cfg.mc.join(1, kGroup, ipv4::McFilterMode::kExclude, {});
    cfg.mc.join(1, kGroup2, ipv4::McFilterMode::kExclude, {});
    return cfg;
}

// A binding (demux/sk_lookup.h) of `prefix`/`len`, ports lo..hi, to `label` (empty: drop).
inline demux::Binding binding(wire::Ipv4Addr prefix, uint8_t len, const char* label,
                              uint16_t lo = 0, uint16_t hi = 65535, bool no_reuseport = false) {
    demux::Binding b;
    b.prefix = prefix;
    b.prefix_len = len;
    b.port_lo = lo;
    b.port_hi = hi;
    b.label = label;
    b.drop = b.label.empty();
    b.no_reuseport = no_reuseport;
    return b;
}

// A PipelineHarness with an endpoint table: add endpoints to `table`, publish(), run.
struct DemuxHarness : PipelineHarness {
    DemuxHarness() { routes.update(demux_route_config()); }
    void publish() {
        snapshot = builder.build();
        endpoints = snapshot.get();
    }
    demux::EndpointTable::Builder builder;
    std::unique_ptr<const demux::EndpointTable> snapshot;
};

}  // namespace ingress::test

// EXPECT_COUNTERS for an Expected built by an expression (test::plus(...)).
#define EXPECT_COUNTERS_EQ(snapshot, expected) \
    EXPECT_TRUE(::ingress::test::counters_are((snapshot), (expected)))
