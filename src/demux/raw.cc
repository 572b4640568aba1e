#include "demux/raw.h"

#include "wire/icmp.h"
#include "wire/ipv4.h"

namespace ingress::demux {

namespace {

// raw_v4_match(): protocol (the span), remote, local and device.
inline bool raw_v4_match(const RawEndpoint& ep, wire::Ipv4Addr raddr, wire::Ipv4Addr laddr,
                         uint32_t dif) noexcept {
    const InetAddressing& a = ep.addressing();
    return !(a.daddr && a.daddr != raddr) && !(a.rcv_saddr && a.rcv_saddr != laddr) &&
           (a.bound_dev_if == 0 || a.bound_dev_if == dif);
}

// icmp_filter(): true = filtered out. A header shorter than 8 bytes is filtered; types of
// 32 and above are never blocked.
inline bool icmp_filter(const RawEndpoint& ep, const core::Packet& pkt) noexcept {
    auto icmp = wire::IcmpView::try_view({pkt.data + pkt.l4_off, pkt.len - pkt.l4_off});
    if (!icmp) return true;
    const uint8_t type = icmp->type();
    return type < 32 && ((1u << type) & ep.icmp_filter()) != 0;
}

}  // namespace

RawResult raw_local_deliver(const core::Packet& pkt, const EndpointTable& t,
                            const DeliveryCtx* ctx) noexcept {
    RawResult r;
    auto eps = t.raw(pkt.ip_proto);
    if (eps.empty()) return r;
    const wire::Ipv4Addr saddr = pkt.saddr, daddr = pkt.daddr;
    for (RawEndpoint* ep : eps) {
        if (!raw_v4_match(*ep, saddr, daddr, pkt.ifindex)) continue;
        r.matched = true;
        if (pkt.ip_proto == wire::kIpProtoIcmp && icmp_filter(*ep, pkt)) continue;
        if (!ep->mc().sf_allow(daddr, saddr, pkt.ifindex)) continue;
        auto fill = [&pkt, saddr, daddr](shm::SlotMeta& m) noexcept {
            m.src_addr = saddr;  // raw_recvmsg: sin_addr = saddr, sin_port = 0
            m.dst_addr = daddr;
            m.ifindex = pkt.ifindex;
            m.pkt_type = static_cast<uint8_t>(pkt.pkt_type);
            m.protocol = pkt.ip_proto;
            m.tos = pkt.tos;
            m.ttl = pkt.ttl;  // a reassembled datagram: its first fragment's
            set_vlan(m, pkt);
            set_timestamps(m, pkt);
        };
        if (ep->rings().try_emplace(fill, pkt.l3(), {}, ctx))
            r.delivered = true;
        else
            r.rcvbuf = true;
    }
    return r;
}

}  // namespace ingress::demux
