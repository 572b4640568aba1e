// libFuzzer: local delivery (UDP lookup and multicast fan-out, raw sockets, packet taps) to
// endpoints the input configures: UDP endpoints bound to an address and port, connected or
// not, bound to a device, in a reuseport group, joined to groups with source filters,
// IP_MULTICAST_ALL on or off; raw endpoints per protocol with bind/connect/ICMP_FILTER; taps
// for every ethertype or IPv4 only. Then datagrams, mostly built by FrameBuilder, through the
// whole pipeline. Asserted: every copy an endpoint received matches that endpoint's filter
// (what __udp4_lib_lookup / __udp_is_mcast_sock / raw_v4_match / ip_mc_sf_allow /
// ICMP_FILTER / the packet_type protocol demand), plus the conservation identity and the
// buffer pool, as for every pipeline target.
#include <cstdint>
#include <cstdlib>
#include <deque>

#include "demux/endpoint_table.h"
#include "fuzz_input.h"
#include "support/rings.h"

using namespace ingress;
using fuzz::FuzzInput;

namespace {

wire::Ipv4Addr local_or_any(FuzzInput& in) {
    static const wire::Ipv4Addr kLocal[] = {0, wire::ipv4(198, 18, 0, 1),
                                            wire::ipv4(198, 18, 10, 1), wire::ipv4(239, 1, 1, 1),
                                            wire::ipv4(198, 18, 0, 255)};
    return kLocal[in.pick(std::size(kLocal))];
}

void configure_mc(FuzzInput& in, demux::McSocketState& mc) {
    mc.mc_all = in.flag();
    for (unsigned n = in.pick(3); n > 0; --n) {
        const wire::Ipv4Addr g = in.flag() ? wire::ipv4(239, 1, 1, 1) : wire::ipv4(239, 1, 1, 2);
        const uint32_t ifindex = in.pick(2) ? 1u : 10u;
        switch (in.pick(3)) {
            case 0:
                mc.join(g, ifindex);
                break;
            case 1:
                mc.join_source(g, ifindex, fuzz::pick_addr(in));
                break;
            default:
                mc.join(g, ifindex);
                (void)mc.block_source(g, ifindex, fuzz::pick_addr(in));
                break;
        }
    }
}

uint32_t some_dev(FuzzInput& in) {
    static const uint32_t kDevs[] = {0, 0, 1, 10};
    return kDevs[in.pick(4)];
}

// What every inet endpoint checks: local address, connected peer, bound device, and the
// multicast source filter.
bool inet_match(const demux::InetAddressing& a, const demux::McSocketState& mc,
                const shm::SlotMeta& m) {
    if (a.rcv_saddr && a.rcv_saddr != m.dst_addr) return false;
    if (a.daddr && a.daddr != m.src_addr) return false;
    if (a.bound_dev_if && a.bound_dev_if != m.ifindex) return false;
    return mc.sf_allow(m.dst_addr, m.src_addr, m.ifindex);
}

template <class Ep, class Match>
void check_queue(Ep& ep, Match match) {
    for (const test::Received& x : test::take(ep.rings()))
        if (!match(ep, x)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static fuzz::Host w;
    FuzzInput in(data, size);
    std::deque<demux::UdpEndpoint> udp;
    std::deque<demux::RawEndpoint> raw;
    std::deque<demux::TapEndpoint> taps;
    demux::EndpointTable::Builder b;
    for (unsigned n = 1 + in.pick(6); n > 0; --n) {
        auto& e = udp.emplace_back(test::rings(64), "udp");
        e.bind(local_or_any(in), static_cast<uint16_t>(4999 + in.pick(3)));
        if (in.pick(4) == 0)
            e.connect(fuzz::pick_addr(in), static_cast<uint16_t>(4999 + in.pick(3)));
        e.bind_to_device(some_dev(in)).set_reuseport(in.pick(4) == 0);
        configure_mc(in, e.mc());
        b.add(e);
    }
    static const uint8_t kProtos[] = {wire::kIpProtoUdp, wire::kIpProtoIcmp, 253};
    for (unsigned n = in.pick(3); n > 0; --n) {
        auto& e = raw.emplace_back(test::rings(64), kProtos[in.pick(3)], "raw");
        e.bind(local_or_any(in)).bind_to_device(some_dev(in)).set_icmp_filter(in.u32());
        if (in.pick(4) == 0) e.connect(fuzz::pick_addr(in));
        configure_mc(in, e.mc());
        b.add(e);
    }
    for (unsigned n = in.pick(3); n > 0; --n) {
        const auto type = in.flag() ? demux::TapType::kRaw : demux::TapType::kDgram;
        auto& e = taps.emplace_back(test::rings(64), type,
                                    in.flag() ? demux::kEthPAll : wire::kEthPIp, "tap");
        b.add(e);
    }
    auto table = b.build();

    std::vector<std::vector<uint8_t>> frames;
    while (!in.empty() && frames.size() < 256) frames.push_back(fuzz::built_frame(in));
    std::vector<std::span<const uint8_t>> spans(frames.begin(), frames.end());
    io::MemoryBackend backend(1, 1, 320, 2048);
    fuzz::run_and_check(
        backend,
        {.port = &w.port,
         .defrag = fuzz::kSmallDefrag,
         .routes = w.routes.get(),
         .endpoints = table.get()},
        spans, [&] {
            for (auto& e : udp)
                check_queue(e, [](const demux::UdpEndpoint& ep, const test::Received& x) {
                    const auto& a = ep.addressing();
                    return x.meta.dst_port == a.num && (!a.dport || a.dport == x.meta.src_port) &&
                           inet_match(a, ep.mc(), x.meta);
                });
            for (auto& e : raw)
                check_queue(e, [](const demux::RawEndpoint& ep, const test::Received& x) {
                    if (x.meta.protocol != ep.protocol() ||
                        !inet_match(ep.addressing(), ep.mc(), x.meta))
                        return false;
                    // ICMP_FILTER: the type is the byte after the IP header.
                    if (ep.protocol() != wire::kIpProtoIcmp) return true;
                    auto ip = wire::Ipv4View::try_view(x.bytes);
                    if (!ip || x.bytes.size() <= ip->header_len()) return true;
                    const uint8_t type = x.bytes[ip->header_len()];
                    return type >= 32 || !(ep.icmp_filter() & (1u << type));
                });
            for (auto& e : taps)
                check_queue(e, [](const demux::TapEndpoint& ep, const test::Received& x) {
                    return ep.protocol() == demux::kEthPAll || x.meta.ethertype == ep.protocol();
                });
        });
    return 0;
}
