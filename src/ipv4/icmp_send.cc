#include "ipv4/icmp_send.h"

#include <algorithm>
#include <cstring>
#include <ctime>

#include "ipv4/route.h"
#include "ipv4/route_tables.h"
#include "ipv4/route_type.h"
#include "wire/header_writer.h"

namespace ingress::ipv4 {

using core::Mib;

namespace {

constexpr uint64_t kNsPerMs = 1'000'000;
constexpr uint64_t kNsPerSec = 1'000'000'000;
// RFC 1812 §4.3.2.3 / the kernel's room computation: the whole error datagram fits in 576.
constexpr std::size_t kMaxErrorDatagram = 576;
constexpr std::size_t kIpHeader = 20;
// XRLIM_BURST_FACTOR: a destination may receive up to 6 errors back to back.
constexpr uint64_t kBurstFactor = 6;
constexpr uint8_t kIptosTosMask = 0x1e;              // IPTOS_TOS_MASK
constexpr uint8_t kIptosPrecInternetcontrol = 0xc0;  // IPTOS_PREC_INTERNETCONTROL

// icmp_pointers[type].error: which ICMP types are errors. Unknown types (> NR_ICMP_TYPES,
// 18) are treated as errors too, "think about it".
bool icmp_type_is_error(uint8_t type) noexcept {
    switch (type) {
        case 3:
        case 4:
        case 5:
        case 11:
        case 12:
            return true;
        default:
            return type > 18;
    }
}

// Leaves by the VLAN sub-interface it arrived on (VID 0 is a priority tag: untagged).
bool tagged(const core::Packet& in) noexcept {
    return (in.flags & core::kFlagVlan) && (in.vlan_tci & 0x0fff) != 0;
}

// icmpmibmap[] and the IcmpMsg table: the per-type output counters the kernel keeps.
void count_out_type(uint8_t type, core::CounterBlock& c) noexcept {
    switch (type) {
        case wire::kIcmpEchoReply:
            c.mib(Mib::kIcmpMsgOutType0);
            c.mib(Mib::kIcmpOutEchoReps);
            break;
        case wire::kIcmpDestUnreach:
            c.mib(Mib::kIcmpMsgOutType3);
            c.mib(Mib::kIcmpOutDestUnreachs);
            break;
        case wire::kIcmpTimeExceeded:
            c.mib(Mib::kIcmpMsgOutType11);
            c.mib(Mib::kIcmpOutTimeExcds);
            break;
        case wire::kIcmpParameterProb:
            c.mib(Mib::kIcmpMsgOutType12);
            c.mib(Mib::kIcmpOutParmProbs);
            break;
        case wire::kIcmpTimestampReply:
            c.mib(Mib::kIcmpMsgOutType14);
            c.mib(Mib::kIcmpOutTimestampReps);
            break;
        default:
            break;
    }
}

}  // namespace

uint32_t realtime_ms_of_day() noexcept {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint32_t>((ts.tv_sec % 86400) * 1000 + ts.tv_nsec / 1'000'000);
}

wire::Ipv4Addr IcmpSender::spec_dst(const core::Packet& in) const noexcept {
    if (route_type_of(in.route_type) == RouteType::kLocal) return in.daddr;
    if (routes_)
        if (const IfState* dev = routes_->iface(in.ifindex)) return dev->primary;
    return in.daddr;
}

bool IcmpSender::is_broadcast(wire::Ipv4Addr a) const noexcept {
    if (wire::ipv4_is_lbcast(a)) return true;
    if (!routes_) return false;
    const Fib& fib = routes_->fib();
    return fib.route(fib.lookup(a)).type == RouteType::kBroadcast;
}

bool IcmpSender::global_allow(uint64_t now_ns) noexcept {
    // icmp_global_allow(): while credit is left the message is allowed (the credit is spent
    // later, by icmp_global_consume(), only once the per-host limit also allowed it). Out of
    // credit: refill at icmp_msgs_per_sec for the time since the last refill (at most 1 s,
    // at least 20 ms, HZ/50), capped at icmp_msgs_burst. The first call behaves as if the
    // last refill was long ago, so the bucket starts full.
    if (global_credit_ > 0) return true;
    const uint64_t since = global_started_ ? now_ns - global_last_ns_ : kNsPerSec;
    const uint64_t delta = std::min<uint64_t>(since, kNsPerSec);
    if (delta < kNsPerSec / 50) return false;
    const uint64_t incr = uint64_t{cfg_.icmp_msgs_per_sec} * delta / kNsPerSec;
    if (incr == 0) return false;
    global_started_ = true;
    global_last_ns_ = now_ns;
    global_credit_ = std::min<uint64_t>(global_credit_ + incr, cfg_.icmp_msgs_burst);
    return true;
}

void IcmpSender::global_consume() noexcept {
    // icmp_global_consume(): the kernel spends a random 0..2 credits (1 on average); we
    // spend exactly 1 so tests are deterministic.
    if (global_credit_ > 0) --global_credit_;
}

IcmpSender::Peer& IcmpSender::peer(wire::Ipv4Addr addr, uint64_t now_ns) noexcept {
    Peer& p = peers_[(addr * 2654435761u) >> 22];  // 10-bit multiplicative hash
    if (!p.used || p.addr != addr) p = Peer{addr, true, 0, now_ns - 60 * kNsPerSec};
    return p;
}

bool IcmpSender::error_route_allow(wire::Ipv4Addr addr, uint64_t now_ns) noexcept {
    // ip_error(): rate_tokens += now - rate_last, capped at ip_rt_error_burst; a send costs
    // ip_rt_error_cost. Both are jiffies in the kernel (HZ and 5 * HZ by default).
    constexpr uint64_t kErrorCost = kNsPerSec, kErrorBurst = 5 * kNsPerSec;
    Peer& p = peer(addr, now_ns);
    const uint64_t tokens = std::min(p.tokens_ns + (now_ns - p.last_ns), kErrorBurst);
    p.last_ns = now_ns;
    const bool ok = tokens >= kErrorCost;
    p.tokens_ns = ok ? tokens - kErrorCost : tokens;
    return ok;
}

bool IcmpSender::host_allow(wire::Ipv4Addr dst, uint64_t now_ns) noexcept {
    // inet_peer_xrlim_allow(): a token per icmp_ratelimit ms, at most 6 saved up. A new peer
    // starts as if last seen 60 s ago, i.e. with a full burst (unsigned arithmetic, as the
    // kernel's jiffies: also right when the clock is younger than 60 s).
    const uint64_t timeout = uint64_t{cfg_.icmp_ratelimit_ms} * kNsPerMs;
    if (timeout == 0) return true;
    Peer& p = peer(dst, now_ns);
    uint64_t tokens = p.tokens_ns + (now_ns - p.last_ns);
    p.last_ns = now_ns;
    tokens = std::min(tokens, kBurstFactor * timeout);
    bool ok = tokens >= timeout;
    if (ok) tokens -= timeout;
    p.tokens_ns = tokens;
    return ok;
}

// The kernel's reasons never to answer `in` (__icmp_send() up to the rate limits). The
// packet has passed rcv_core: its header fields are in the Packet.
bool IcmpSender::may_answer(const core::Packet& in, uint8_t type) const noexcept {
    if (in.ip_hlen() < kIpHeader || in.ip_hlen() > in.l3_len() ||
        in.l3_off < wire::EthernetView::kHeaderLen)
        return false;
    // "No replies to physical multicast/broadcast."
    if (in.pkt_type != core::PktType::kHost) return false;
    // "Now check at the protocol level."
    const RouteType rt = route_type_of(in.route_type);
    if (rt == RouteType::kBroadcast || rt == RouteType::kMulticast ||
        wire::ipv4_is_multicast(in.daddr) || wire::ipv4_is_lbcast(in.daddr))
        return false;
    // "Only reply to fragment 0."
    if (in.frag_offset_bytes() != 0) return false;
    // "If we send an ICMP error to an ICMP error a mess would result."
    if (icmp_type_is_error(type) && in.ip_proto == wire::kIpProtoIcmp) {
        auto l4 = in.l3().subspan(in.ip_hlen());
        if (l4.empty() || icmp_type_is_error(l4[0])) return false;
    }
    return true;
}

// The rate limits and the route back, in __icmp_send()'s order: the global limit, then
// icmp_route_lookup(), then the per-host limit (which alone spends a global credit).
IcmpResult IcmpSender::admit(wire::Ipv4Addr to, wire::Ipv4Addr from, uint8_t type, uint8_t code,
                             uint64_t now_ns, core::CounterBlock& c, bool& local) noexcept {
    local = false;
    // icmpv4_mask_allow(): only types in icmp_ratemask are limited, never frag-needed.
    const bool limited = type <= 18 && (cfg_.icmp_ratemask & (1u << type)) &&
                         !(type == wire::kIcmpDestUnreach && code == 4 /* ICMP_FRAG_NEEDED */);
    if (limited && !global_allow(now_ns)) {
        c.mib(Mib::kIcmpOutRateLimitGlobal);
        return IcmpResult::kRateLimited;
    }
    // icmp_route_lookup(): the error is routed to the offending datagram's source; it fails
    // where fib_lookup() fails.
    // The output flow: iif loopback, protocol ICMP with its type and code where the ports
    // would be (flowi4's uli union), mark 0.
    if (routes_) {
        const Flow fl{.iif = routes_->loopback_ifindex(),
                      .saddr = from,
                      .daddr = to,
                      .proto = wire::kIpProtoIcmp,
                      .dport = static_cast<uint16_t>(type << 8 | code)};
        const FibResult res = routes_->fib_lookup(fl);
        if (res.error != RouteError::kNone) return IcmpResult::kNotAllowed;
        // A LOCAL route's output device is lo (ip_route_output_key_hash_rcu).
        local = res.route && res.route->type == RouteType::kLocal;
    }
    if (limited) {
        // icmpv4_xrlim_allow(): the per-host limit ("No rate limit on loopback"); a message
        // it allows, or one to lo, spends a global credit.
        if (!local && !host_allow(to, now_ns)) {
            c.mib(Mib::kIcmpOutRateLimitHost);
            return IcmpResult::kRateLimited;
        }
        global_consume();
    }
    return IcmpResult::kQueued;
}

IcmpSender::~IcmpSender() {
    std::array<core::Packet, io::TxQueue::kCapacity> left;
    const uint16_t n = loop_.take(left.data());
    for (uint16_t i = 0; i < n; ++i) backend_.free_bulk(&left[i].buf, 1);
}

std::size_t IcmpSender::l2_len(const core::Packet& in, bool local) noexcept {
    return wire::EthernetView::kHeaderLen + (!local && tagged(in) ? wire::VlanView::kTagLen : 0);
}

std::size_t IcmpSender::write_l2(uint8_t* f, const core::Packet& in, bool local) noexcept {
    // lo's header (loopback_setup(): a zero address, eth_header() with no neighbour): zero
    // MACs, untagged.
    if (local) return wire::write_eth_header(f, wire::Mac{}, wire::Mac{}, wire::kEthPIp);
    // Ethernet: back to the sender's MAC, from the MAC it was sent to (ours: PACKET_HOST).
    // Out of the same VLAN sub-interface: the tag's priority comes from the VLAN device's
    // egress map (default: everything to PCP 0), not from the received frame.
    auto eth = wire::EthernetView::try_view(in.frame());  // callers: l3_off >= ETH_HLEN
    std::optional<wire::VlanTag> tag;
    if (tagged(in)) tag = wire::VlanTag{in.vlan_tpid, static_cast<uint16_t>(in.vlan_tci & 0x0fff)};
    return wire::write_eth_header(f, eth->src(), eth->dst(), wire::kEthPIp, tag);
}

bool IcmpSender::queue_out(core::Packet& out, const core::Packet& in, bool local) noexcept {
    out.queue = in.queue;
    if (!local) {
        out.ifindex = in.ifindex;
        return txq_.try_push(out);
    }
    // Received on lo (loopback_xmit -> eth_type_trans: our own zero MAC, PACKET_HOST).
    out.ifindex = routes_->loopback_ifindex();
    out.l3_off = wire::EthernetView::kHeaderLen;
    out.ethertype = wire::kEthPIp;
    out.pkt_type = core::PktType::kHost;
    out.flags = 0;
    return loop_.try_push(out);
}

void IcmpSender::out_count(uint8_t type, uint32_t frames, uint64_t ip_octets,
                           core::CounterBlock& c) noexcept {
    // icmp_out_count(): OutMsgs and the per-type counters.
    c.mib(Mib::kIcmpOutMsgs);
    count_out_type(type, c);
    // ip_local_out() -> ip_finish_output2(): OutRequests per datagram (__ip_local_out),
    // OutTransmits and OutOctets per frame on the wire (fragments each).
    c.mib(Mib::kIpOutRequests);
    c.mib(Mib::kIpOutTransmits, frames);
    c.mib(Mib::kIpExtOutOctets, ip_octets);
}

bool IcmpSender::echo_options(const core::Packet& in, const IpOptions* opt,
                              IpOptionsEcho& echo) const noexcept {
    if (!opt || opt->optlen == 0) return true;  // `echo` stays empty
    return ip_options_echo(in.l3().first(in.ip_hlen()), *opt, in.saddr, routes_, echo);
}

// The error frame into `f` (frame_len bytes): Ethernet back to the sender, IPv4 from `src`
// with the echoed options, the ICMP header and as much of the offending datagram as `quote`
// says.
void IcmpSender::build(uint8_t* f, const core::Packet& in, uint8_t type, uint8_t code,
                       uint32_t info, wire::Ipv4Addr src, std::size_t quote,
                       const IpOptionsEcho& echo, bool local) noexcept {
    uint8_t* h = f + write_l2(f, in, local);

    const std::size_t hlen = kIpHeader + echo.optlen;
    const std::size_t icmp_len = wire::IcmpView::kHeaderLen + quote;
    if (echo.optlen) ip_options_build(h, echo, in.saddr, src, cfg_.wall_ms());
    wire::Ipv4Writer(h)
        .ver_ihl(static_cast<uint8_t>(hlen / 4))
        .tos(icmp_type_is_error(type)
                 ? static_cast<uint8_t>((in.tos & kIptosTosMask) | kIptosPrecInternetcontrol)
                 : in.tos)
        .tot_len(static_cast<uint16_t>(hlen + icmp_len))
        .id(next_id_++)
        .frag_field(0)  // the ICMP socket uses PMTUDISC_DONT
        .ttl(cfg_.ip_default_ttl)
        .protocol(wire::kIpProtoIcmp)
        .src(src)
        .dst(echo.srr ? echo.faddr : in.saddr)
        .finish(hlen);

    uint8_t* m = h + hlen;
    std::memcpy(m + wire::IcmpView::kHeaderLen, in.data + in.l3_off, quote);
    wire::write_icmp_header(m, type, code, info, icmp_len);
}

IcmpResult IcmpSender::send(const core::Packet& in, uint8_t type, uint8_t code, uint32_t info,
                            wire::Ipv4Addr src, uint64_t now_ns, core::CounterBlock& c,
                            const IpOptions* opt) noexcept {
    if (!may_answer(in, type)) return IcmpResult::kNotAllowed;
    IpOptionsEcho echo;
    if (!echo_options(in, opt, echo)) return IcmpResult::kNotAllowed;
    const wire::Ipv4Addr to = echo.srr ? echo.faddr : in.saddr;
    bool local = false;
    if (IcmpResult r = admit(to, src, type, code, now_ns, c, local); r != IcmpResult::kQueued)
        return r;

    // Quote as much of the offending datagram as fits in 576 bytes with the options.
    const std::size_t hlen = kIpHeader + echo.optlen;
    const std::size_t quote =
        std::min<std::size_t>(in.l3_len(), kMaxErrorDatagram - hlen - wire::IcmpView::kHeaderLen);
    const std::size_t frame_len = l2_len(in, local) + hlen + wire::IcmpView::kHeaderLen + quote;

    core::Packet out;
    out.queue = in.queue;  // the buffer must come from the queue the error leaves on
    if ((local ? loop_ : txq_).full() ||
        !backend_.try_alloc(out, static_cast<uint32_t>(frame_len))) {
        c.mib(Mib::kIcmpOutErrors);
        return IcmpResult::kNoBuffer;
    }
    build(out.data, in, type, code, info, src, quote, echo, local);
    out.len = static_cast<uint32_t>(frame_len);
    out.rx_ns = now_ns;
    if (!queue_out(out, in, local)) {  // cannot happen: checked full() above
        backend_.free_bulk(&out.buf, 1);
        c.mib(Mib::kIcmpOutErrors);
        return IcmpResult::kNoBuffer;
    }
    out_count(type, 1, hlen + wire::IcmpView::kHeaderLen + quote, c);
    return IcmpResult::kQueued;
}

IcmpResult IcmpSender::reply(const core::Packet& in, uint8_t type, uint8_t code, uint32_t rest,
                             std::span<const uint8_t> body, wire::Ipv4Addr src, uint64_t now_ns,
                             core::CounterBlock& c, const IpOptions* opt) noexcept {
    if (in.l3_off < wire::EthernetView::kHeaderLen) return IcmpResult::kNotAllowed;
    // icmp_reply(): ip_options_echo() first; with a source route the reply goes to its
    // first hop.
    IpOptionsEcho echo;
    if (!echo_options(in, opt, echo)) return IcmpResult::kNotAllowed;
    const wire::Ipv4Addr to = echo.srr ? echo.faddr : in.saddr;
    bool local = false;
    if (IcmpResult r = admit(to, src, type, code, now_ns, c, local); r != IcmpResult::kQueued)
        return r;

    // The ICMP message: header, then the body; its checksum over the whole (icmp_push_reply).
    uint8_t hdr[wire::IcmpView::kHeaderLen];
    hdr[wire::IcmpView::kTypeOff] = type;
    hdr[wire::IcmpView::kCodeOff] = code;
    wire::store_be16(hdr + wire::IcmpView::kCsumOff, 0);
    wire::store_be32(hdr + wire::IcmpView::kRestOff, rest);
    const uint16_t csum = wire::csum_fold(wire::csum_partial(body, wire::csum_partial({hdr})));
    wire::store_be16(hdr + wire::IcmpView::kCsumOff, csum);
    const std::size_t msg_len = sizeof hdr + body.size();

    // ip_fragment(): payload per fragment a multiple of 8 that fits the MTU; every fragment
    // has the first's header length, the fragments after the first with only the options
    // that have the copied flag (ip_options_fragment()).
    // lo's MTU (65536) holds any reply: a looped one is never fragmented.
    const std::size_t hlen = kIpHeader + echo.optlen;
    const std::size_t per_frag = (cfg_.mtu - hlen) & ~std::size_t{7};
    const std::size_t nfrags =
        local || msg_len <= cfg_.mtu - hlen ? 1 : (msg_len + per_frag - 1) / per_frag;
    const uint32_t now_ms = echo.ts_needtime ? cfg_.wall_ms() : 0;
    const std::size_t l2 = l2_len(in, local);
    if ((local ? loop_ : txq_).size() + nfrags > io::TxQueue::kCapacity) {
        c.mib(Mib::kIcmpOutErrors);
        return IcmpResult::kNoBuffer;
    }
    const uint16_t id = next_id_++;
    uint64_t octets = 0;
    for (std::size_t k = 0, off = 0; k < nfrags; ++k) {
        const std::size_t n = nfrags == 1 ? msg_len : std::min(per_frag, msg_len - off);
        core::Packet out;
        out.queue = in.queue;  // the buffer must come from the queue the reply leaves on
        if (!backend_.try_alloc(out, static_cast<uint32_t>(l2 + hlen + n))) {
            // The fragments already queued leave; the datagram is incomplete (as a failed
            // ip_fragment() after some fragments went out): OutErrors.
            c.mib(Mib::kIcmpOutErrors);
            return IcmpResult::kNoBuffer;
        }
        uint8_t* h = out.data + write_l2(out.data, in, local);
        const bool more = off + n < msg_len;
        if (echo.optlen) {
            ip_options_build(h, echo, in.saddr, src, now_ms);
            if (k > 0) ip_options_fragment(h + kIpHeader, echo.optlen);
        }
        wire::Ipv4Writer(h)
            .ver_ihl(static_cast<uint8_t>(hlen / 4))
            .tos(in.tos)
            .tot_len(static_cast<uint16_t>(hlen + n))
            .id(id)
            .frag_field(static_cast<uint16_t>((more ? wire::kIpFlagMf : 0) | (off / 8)))
            .ttl(cfg_.ip_default_ttl)
            .protocol(wire::kIpProtoIcmp)
            .src(src)
            .dst(to)
            .finish(hlen);
        // Bytes [off, off + n) of header + body.
        uint8_t* p = h + hlen;
        std::size_t from = off, left = n;
        if (from < sizeof hdr) {
            const std::size_t k2 = std::min(left, sizeof hdr - from);
            std::memcpy(p, hdr + from, k2);
            p += k2;
            from += k2;
            left -= k2;
        }
        if (left) std::memcpy(p, body.data() + (from - sizeof hdr), left);
        out.len = static_cast<uint32_t>(l2 + hlen + n);
        out.rx_ns = now_ns;
        if (!queue_out(out, in, local)) {  // cannot happen: room checked above
            backend_.free_bulk(&out.buf, 1);
            c.mib(Mib::kIcmpOutErrors);
            return IcmpResult::kNoBuffer;
        }
        octets += hlen + n;
        off += n;
    }
    // The kernel's ICMP socket is SOCK_RAW, so __ip_make_skb() counts the type of fl4 (the
    // flow), and icmp_reply() never sets fl4_icmp_type: every reply, a timestamp reply too,
    // is counted as type 0 (OutEchoReps, IcmpMsgOutType0), as the kernel does.
    out_count(wire::kIcmpEchoReply, static_cast<uint32_t>(nfrags), octets, c);
    return IcmpResult::kQueued;
}

}  // namespace ingress::ipv4
