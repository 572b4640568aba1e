#include "demux/icmp_err.h"

#include <array>
#include <cerrno>

#include "demux/rcvbuf.h"
#include "ipv4/pmtu.h"
#include "wire/bytes.h"
#include "wire/icmp.h"

namespace ingress::demux {

namespace {

struct ErrConvert {
    uint8_t err;
    bool fatal;
};
// icmp_err_convert[]: destination unreachable codes 0..NR_ICMP_UNREACH.
constexpr std::array<ErrConvert, wire::kNrIcmpUnreach + 1> kErrConvert{{
    {ENETUNREACH, false},   // ICMP_NET_UNREACH
    {EHOSTUNREACH, false},  // ICMP_HOST_UNREACH
    {ENOPROTOOPT, true},    // ICMP_PROT_UNREACH
    {ECONNREFUSED, true},   // ICMP_PORT_UNREACH
    {EMSGSIZE, false},      // ICMP_FRAG_NEEDED
    {EOPNOTSUPP, false},    // ICMP_SR_FAILED
    {ENETUNREACH, true},    // ICMP_NET_UNKNOWN
    {EHOSTDOWN, true},      // ICMP_HOST_UNKNOWN
    {ENONET, true},         // ICMP_HOST_ISOLATED
    {ENETUNREACH, true},    // ICMP_NET_ANO
    {EHOSTUNREACH, true},   // ICMP_HOST_ANO
    {ENETUNREACH, false},   // ICMP_NET_UNR_TOS
    {EHOSTUNREACH, false},  // ICMP_HOST_UNR_TOS
    {EHOSTUNREACH, true},   // ICMP_PKT_FILTERED
    {EHOSTUNREACH, true},   // ICMP_PREC_VIOLATION
    {EHOSTUNREACH, true},   // ICMP_PREC_CUTOFF
}};

// ipv4_sk_update_pmtu(): the quoted datagram's destination, at the route's MTU.
void update_pmtu(const IcmpError& e, DemuxEnv& env) noexcept {
    if (!env.pmtu) return;
    const uint32_t route_mtu = env.icmp ? env.icmp->config().mtu : 1500;
    env.pmtu->update(wire::load_be32(&e.quoted[16]), e.info, route_mtu, env.now_ns);
}

// ip_icmp_error() -> sock_queue_err_skb(): one error-queue entry, `payload` the bytes after
// the quoted transport header (UDP) or IP header (raw).
void ip_icmp_error(ShmRings& rings, uint32_t rcvbuf, const core::Packet& pkt, const IcmpError& e,
                   uint32_t err, uint16_t port, std::span<const uint8_t> payload,
                   DemuxEnv& env) noexcept {
    ingress_sock_err ee{};
    ee.ee_errno = err;
    ee.ee_origin = INGRESS_SO_EE_ORIGIN_ICMP;
    ee.ee_type = e.type;
    ee.ee_code = e.code;
    ee.ee_info = e.info;
    ee.offender = pkt.saddr;  // ip_recv_error: SO_EE_OFFENDER = ip_hdr(skb)->saddr
    const wire::Ipv4Addr orig_dst = wire::load_be32(&e.quoted[16]);
    const uint8_t proto = e.quoted[9];
    auto fill = [&pkt, orig_dst, port, proto](shm::SlotMeta& m) noexcept {
        m.src_addr = orig_dst;  // msg_name: serr->addr_offset, serr->port
        m.src_port = port;
        m.dst_addr = pkt.daddr;  // IP_PKTINFO etc. of the ICMP message (ip_cmsg_recv)
        m.ifindex = pkt.ifindex;
        m.pkt_type = static_cast<uint8_t>(pkt.pkt_type);
        m.protocol = proto;
        m.tos = pkt.tos;
        m.ttl = pkt.ttl;
        set_vlan(m, pkt);
        set_timestamps(m, pkt);  // the ICMP message's stamps
    };
    // sock_queue_err_skb(): refused when the receive budget is used up; the clone costs
    // what the ICMP message's skb does.
    const RcvBudget budget{skb_truesize(pkt.l3_off + pkt.l3().size()), rcvbuf};
    const auto head = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&ee), sizeof ee);
    (void)rings.try_queue_error(fill, head, payload, env.delivery, &budget);
}

}  // namespace

namespace {

// The type switch __udp4_lib_err() and raw_err() share, "fragmentation needed" aside.
SockErr err_convert(uint8_t type, uint8_t code) noexcept {
    switch (type) {
        case wire::kIcmpSourceQuench:
            return {};
        case wire::kIcmpParameterProb:
            return {EPROTO, true};
        case wire::kIcmpDestUnreach:
            if (code <= wire::kNrIcmpUnreach)
                return {kErrConvert[code].err, kErrConvert[code].fatal};
            return {EHOSTUNREACH, false};
        default:  // time exceeded, and anything else
            return {EHOSTUNREACH, false};
    }
}

bool is_frag_needed(uint8_t type, uint8_t code) noexcept {
    return type == wire::kIcmpDestUnreach && code == wire::kIcmpFragNeeded;
}

}  // namespace

SockErr udp_err_of(uint8_t type, uint8_t code, PmtuDisc pmtudisc) noexcept {
    // IP_PMTUDISC_DONT: "goto out", nothing reported.
    if (is_frag_needed(type, code))
        return pmtudisc != PmtuDisc::kDont ? SockErr{EMSGSIZE, true} : SockErr{};
    return err_convert(type, code);
}

SockErr raw_err_of(uint8_t type, uint8_t code, PmtuDisc pmtudisc) noexcept {
    // Unlike UDP, IP_PMTUDISC_DONT still reports EMSGSIZE, as a soft error.
    if (is_frag_needed(type, code)) return {EMSGSIZE, pmtudisc != PmtuDisc::kDont};
    return err_convert(type, code);
}

void raw_icmp_error(const core::Packet& pkt, const IcmpError& e, DemuxEnv& env) noexcept {
    const uint8_t proto = e.quoted[9];
    auto eps = env.table.raw(proto);
    if (eps.empty()) return;
    // raw_v4_match(net, sk, protocol, iph->daddr, iph->saddr, dif): the quoted datagram's
    // destination is the remote address, its source ours.
    const wire::Ipv4Addr raddr = wire::load_be32(&e.quoted[16]);
    const wire::Ipv4Addr laddr = wire::load_be32(&e.quoted[12]);
    for (RawEndpoint* ep : eps) {
        const InetAddressing& a = ep->addressing();
        if ((a.daddr && a.daddr != raddr) || (a.rcv_saddr && a.rcv_saddr != laddr) ||
            (a.bound_dev_if && a.bound_dev_if != pkt.ifindex))
            continue;
        // raw_err().
        if (is_frag_needed(e.type, e.code)) update_pmtu(e, env);
        const ErrorOptions& o = ep->err_opts();
        if (!o.recverr && !ep->connected()) continue;
        const SockErr se = raw_err_of(e.type, e.code, o.pmtudisc);
        if (se.err == 0) continue;
        if (o.recverr)
            ip_icmp_error(ep->rings(), kRmemDefault, pkt, e, se.err, 0, e.quoted.subspan(e.ihl),
                          env);
        if (o.recverr || se.harderr) ep->rings().report_error(se.err, env.delivery);
    }
}

bool udp4_lib_err(const core::Packet& pkt, const IcmpError& e, DemuxEnv& env) noexcept {
    const std::span<const uint8_t> q = e.quoted;
    const wire::Ipv4Addr inner_src = wire::load_be32(&q[12]);
    const wire::Ipv4Addr inner_dst = wire::load_be32(&q[16]);
    const uint16_t sport = wire::load_be16(&q[e.ihl]);
    const uint16_t dport = wire::load_be16(&q[e.ihl + 2]);
    UdpEndpoint* ep = udp4_lib_lookup(env.table, inner_dst, dport, inner_src, sport, pkt.ifindex);
    if (!ep) return false;
    const ErrorOptions& o = ep->err_opts();
    if (is_frag_needed(e.type, e.code)) update_pmtu(e, env);
    const SockErr se = udp_err_of(e.type, e.code, o.pmtudisc);
    if (se.err == 0) return true;  // "goto out"
    // RFC 1122 4.1.3.3: errors are passed to the application.
    if (!o.recverr) {
        if (!se.harderr || !ep->connected()) return true;
    } else {
        ip_icmp_error(ep->rings(), ep->rcvbuf(), pkt, e, se.err, dport, q.subspan(e.ihl + 8), env);
    }
    ep->rings().report_error(se.err, env.delivery);
    return true;
}

}  // namespace ingress::demux
