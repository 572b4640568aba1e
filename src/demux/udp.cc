#include "demux/udp.h"

#include <array>
#include <cstring>
#include <optional>

#include "demux/hash.h"
#include "ipv4/ip_options.h"
#include "ipv4/route_type.h"
#include "wire/checksum.h"
#include "wire/icmp.h"
#include "wire/udp.h"

namespace ingress::demux {

using core::DropReason;
using core::Mib;
using core::Verdict;

namespace {

// CHECKSUM_BREAK: udp4_csum_init() verifies datagrams this short at once; longer ones are
// verified when first needed: before answering "port unreachable", or, once queued, by the
// reader (udp_recvmsg, here libingress: INGRESS_F_CSUM_UNVERIFIED).
constexpr uint32_t kChecksumBreak = 76;

// inet_bound_dev_eq() with no L3 master device (sdif = 0): an unbound endpoint matches
// every interface, a bound one only its own.
inline bool bound_dev_eq(uint32_t bound_dev_if, uint32_t dif) noexcept {
    return bound_dev_if == 0 || bound_dev_if == dif;
}

// compute_score(): -1 = no match. The slot already guarantees rcv_saddr == daddr. The
// kernel's +1 for sk_incoming_cpu == this CPU is left out (see demux.md).
inline int compute_score(const UdpEntry& e, wire::Ipv4Addr saddr, uint16_t sport,
                         uint32_t dif) noexcept {
    int score = 2;  // PF_INET
    if (e.daddr) {
        if (e.daddr != saddr) return -1;
        score += 4;
    }
    if (e.dport) {
        if (e.dport != sport) return -1;
        score += 4;
    }
    if (!bound_dev_eq(e.bound_dev_if, dif)) return -1;
    if (e.bound_dev_if) score += 4;
    return score;
}

// reuseport_select_sock_by_hash(): start at reciprocal_scale(hash, n), skip connected
// members; nullptr when every member is connected. `tr` (a trace) gets the group's size and
// the pick.
UdpEndpoint* reuseport_select(std::span<UdpEndpoint* const> members, uint32_t hash,
                              UdpLookupTrace* tr) noexcept {
    const auto n = static_cast<uint32_t>(members.size());
    const uint32_t j = reciprocal_scale(hash, n);
    uint32_t i = j;
    do {
        if (!members[i]->connected()) {
            if (tr) [[unlikely]] {
                tr->group_size = static_cast<uint16_t>(n);
                tr->pick = static_cast<uint16_t>(i);
            }
            return members[i];
        }
        if (++i >= n) i = 0;
    } while (i != j);
    return nullptr;
}

struct Lookup {
    UdpEndpoint* ep = nullptr;
    bool connected = false;
};

// udp4_lib_lookup2() over one slot. `tr` (a trace, else null) gets the winner's score.
Lookup lookup2(const EndpointTable& t, std::span<const UdpEntry> slot, wire::Ipv4Addr saddr,
               uint16_t sport, wire::Ipv4Addr daddr, uint16_t dport, uint32_t dif,
               UdpLookupTrace* tr) noexcept {
    Lookup result;
    int badness = 0;
    for (const UdpEntry& e : slot) {
        int score = compute_score(e, saddr, sport, dif);
        if (score <= badness) continue;
        badness = score;
        if (tr) [[unlikely]]
            tr->score = score;
        if (e.connected) {
            result = {e.ep, true};
            continue;
        }
        if (e.reuse_group != kNoReuseGroup) {
            uint32_t hash = udp_ehashfn(daddr, dport, saddr, sport, t.hash_seed());
            if (UdpEndpoint* sel = reuseport_select(t.reuse_members(e.reuse_group), hash, tr)) {
                // "Fall back to scoring if group has connections."
                if (!t.reuse_has_conns(e.reuse_group)) return {sel, false};
                result = {sel, sel->connected()};
                continue;
            }
        }
        result = {e.ep, false};
    }
    return result;
}

// The reuseport group of an endpoint the hook selected (inet_lookup_reuseport()).
UdpEndpoint* hook_reuseport(const EndpointTable& t, UdpEndpoint* sel, wire::Ipv4Addr saddr,
                            uint16_t sport, wire::Ipv4Addr daddr, uint16_t dport,
                            UdpLookupTrace* tr) noexcept {
    if (!sel->reuseport()) return sel;
    const InetAddressing& a = sel->addressing();
    for (const UdpEntry& e : t.udp_slot(a.rcv_saddr, a.num)) {
        if (e.ep != sel || e.reuse_group == kNoReuseGroup) continue;
        uint32_t hash = udp_ehashfn(daddr, dport, saddr, sport, t.hash_seed());
        UdpEndpoint* r = reuseport_select(t.reuse_members(e.reuse_group), hash, tr);
        return r ? r : sel;
    }
    return sel;
}

// The bindings as one sk_lookup program (demux/sk_lookup.h): no binding, or a label with no
// live endpoint, is SK_PASS with nothing assigned; a drop binding SK_DROP; a label with
// several endpoints picks one by the 4-tuple hash (already final: no_reuseport is set so
// the caller does not pick again).
UdpLookupVerdict run_bindings(const EndpointTable& t, const SkLookup& sk, const UdpLookupKey& k,
                              UdpLookupTrace* tr) noexcept {
    UdpLookupVerdict v;
    const SkLookup::Rule* r = sk.match(k.daddr, k.dport);
    if (!r) return v;
    if (tr) [[unlikely]]
        tr->binding = static_cast<int32_t>(r->binding);
    if (r->label == SkLookup::kDrop) {
        v.action = UdpLookupVerdict::Action::kDrop;
        return v;
    }
    auto members = sk.members(r->label);
    if (members.empty()) return v;
    v.no_reuseport = r->no_reuseport;
    if (members.size() == 1 || r->no_reuseport) {
        v.selected = members[0];
        return v;
    }
    // reuseport_select_sock_by_hash() over the label's members; every member connected:
    // the assigned socket (the first) stays, as inet_lookup_reuseport() keeps it.
    UdpEndpoint* pick = reuseport_select(
        members, udp_ehashfn(k.daddr, k.dport, k.saddr, k.sport, t.hash_seed()), tr);
    v.selected = pick ? pick : members[0];
    v.no_reuseport = true;
    return v;
}

// BPF_PROG_SK_LOOKUP_RUN_ARRAY(): every attached program runs (the hook first, then the
// bindings); the last one that assigned a socket decides it; SK_DROP only when some program
// dropped and none assigned.
UdpLookupVerdict run_sk_lookup(const EndpointTable& t, const UdpLookupKey& k,
                               UdpLookupTrace* tr) noexcept {
    UdpLookupVerdict out;
    bool all_pass = true;
    auto merge = [&](const UdpLookupVerdict& v) noexcept {
        if (v.action == UdpLookupVerdict::Action::kPass && v.selected) {
            out.selected = v.selected;
            out.no_reuseport = v.no_reuseport;
        } else if (v.action == UdpLookupVerdict::Action::kDrop) {
            all_pass = false;
        }
    };
    if (UdpLookupHook hook = t.udp_lookup_hook()) merge(hook(t.udp_lookup_hook_ctx(), k));
    if (const SkLookup* sk = t.sk_lookup()) merge(run_bindings(t, *sk, k, tr));
    if (!all_pass && !out.selected) out.action = UdpLookupVerdict::Action::kDrop;
    return out;
}

struct Datagram {
    wire::Ipv4Addr saddr, daddr;
    uint16_t sport, dport;
    uint16_t ulen;
    const uint8_t* udp;  // header
};

// Verifies the UDP checksum over the pseudo-header and the (trimmed) datagram.
bool checksum_ok(const Datagram& d) noexcept {
    uint64_t acc = wire::pseudo_header_sum(d.saddr, d.daddr, wire::kIpProtoUdp, d.ulen);
    // The short ones (every datagram udp4_csum_init() verifies at once) inline.
    acc = d.ulen <= kChecksumBreak ? wire::csum_partial_short(d.udp, d.ulen, acc)
                                   : wire::csum_partial(d.udp, d.ulen, acc);
    return wire::csum_fold(acc) == 0;
}

// What the reader of a slot holding the first `room` payload bytes adds to them to verify
// the datagram (record.h, `csum`): the pseudo-header, the UDP header and the payload beyond
// the slot. `room` is even (slots are multiples of 64 bytes), so the tail starts at an even
// offset and the sums chain.
uint16_t reader_csum(const Datagram& d, uint32_t room) noexcept {
    uint64_t acc = wire::pseudo_header_sum(d.saddr, d.daddr, wire::kIpProtoUdp, d.ulen);
    acc = wire::csum_partial(d.udp, wire::UdpView::kHeaderLen, acc);
    const uint32_t payload = d.ulen - wire::UdpView::kHeaderLen;
    if (payload > room)
        acc = wire::csum_partial(d.udp + wire::UdpView::kHeaderLen + room, payload - room, acc);
    // csum_fold() complements and returns a big-endian word's value: undo the complement.
    return static_cast<uint16_t>(~wire::csum_fold(acc));
}

// The checksum state of one datagram: udp4_csum_init() may leave it for later.
enum class Csum : uint8_t { kUnknown, kGood, kBad };

// __udp_is_mcast_sock(), for an entry of the (daddr, dport) or (0, dport) slot (the slot
// has checked the local address and port).
bool is_mcast_sock(const UdpEntry& e, wire::Ipv4Addr saddr, uint16_t sport, wire::Ipv4Addr daddr,
                   uint32_t ifindex) noexcept {
    return (!e.daddr || e.daddr == saddr) && (!e.dport || e.dport == sport) &&
           bound_dev_eq(e.bound_dev_if, ifindex) && e.ep->mc().sf_allow(daddr, saddr, ifindex);
}

// What a datagram with IP options carries after its payload (record.h): IP_RECVOPTS, the
// options as ip_rcv_options() left them (ip_cmsg_recv_opts: the whole ihl * 4 - 20 bytes),
// then IP_RETOPTS (ip_cmsg_recv_retopts: __ip_options_echo(), then ip_options_undo()).
struct OptionsTail {
    std::array<uint8_t, 2 * ipv4::kMaxIpOptionsLen> b;
    uint8_t recv = 0, ret = 0;
    bool ctrunc = false;  // the echo failed: MSG_CTRUNC, no IP_RETOPTS
    std::span<const uint8_t> bytes() const noexcept { return {b.data(), std::size_t{recv} + ret}; }

    OptionsTail(const core::Packet& pkt, const ipv4::IpOptions& opt,
                const ipv4::RouteTables* routes) noexcept {
        const std::span<const uint8_t> hdr = pkt.l3().first(pkt.ip_hlen());
        recv = static_cast<uint8_t>(hdr.size() - wire::Ipv4View::kMinHeaderLen);
        std::memcpy(b.data(), hdr.data() + wire::Ipv4View::kMinHeaderLen, recv);
        ipv4::IpOptionsEcho e;
        if (!ipv4::ip_options_echo(hdr, opt, pkt.saddr, routes, e)) {
            ctrunc = true;
            return;
        }
        ipv4::ip_options_undo(e);
        ret = e.optlen;
        std::memcpy(b.data() + recv, e.data.data(), ret);
    }
};

class Receiver {
public:
    Receiver(core::Packet& pkt, DemuxEnv& env, const Datagram& d, Csum csum) noexcept
        : pkt_(pkt), env_(env), d_(d), csum_(csum) {
        if (env.ip_opt) [[unlikely]]
            opts_.emplace(pkt, *env.ip_opt, env.icmp ? env.icmp->routes() : nullptr);
    }

    // udp_lib_checksum_complete(): computed once, on first need.
    bool csum_complete() noexcept {
        if (csum_ == Csum::kUnknown) csum_ = checksum_ok(d_) ? Csum::kGood : Csum::kBad;
        return csum_ == Csum::kGood;
    }
    Verdict csum_error() noexcept {
        env_.c.mib(Mib::kUdpInCsumErrors);
        env_.c.mib(Mib::kUdpInErrors);
        return Verdict::drop(DropReason::kUdpCsum);
    }

    // udp_queue_rcv_one_skb() / __udp_queue_rcv_skb(): the endpoint's queue. A checksum
    // udp4_csum_init() left for later stays unverified (no socket filter asks for it here):
    // the reader verifies it (udp_recvmsg), and counts InDatagrams or the error then.
    Verdict queue_rcv(UdpEndpoint& ep) noexcept {
        if (env_.csum_at_queue && !csum_complete()) [[unlikely]]
            return csum_error();
        const bool unverified = csum_ == Csum::kUnknown;
        std::span<const uint8_t> payload{d_.udp + wire::UdpView::kHeaderLen,
                                         d_.ulen - wire::UdpView::kHeaderLen};
        const core::Packet& pkt = pkt_;
        const Datagram& d = d_;
        // The options after the payload, when they fit the slot at all.
        const uint32_t max_payload = ep.rings().geometry().max_payload();
        const OptionsTail* opts = opts_ && opts_->bytes().size() <= max_payload ? &*opts_ : nullptr;
        const std::span<const uint8_t> tail = opts ? opts->bytes() : std::span<const uint8_t>{};
        const uint16_t csum =
            unverified ? reader_csum(d, max_payload - static_cast<uint32_t>(tail.size())) : 0;
        auto fill = [&pkt, &d, unverified, csum, opts](shm::SlotMeta& m) noexcept {
            m.src_addr = d.saddr;
            m.dst_addr = d.daddr;
            m.src_port = d.sport;
            m.dst_port = d.dport;
            m.ifindex = pkt.ifindex;
            m.pkt_type = static_cast<uint8_t>(pkt.pkt_type);
            m.protocol = wire::kIpProtoUdp;
            m.flags = unverified ? INGRESS_F_CSUM_UNVERIFIED : INGRESS_F_CSUM_VERIFIED;
            m.csum = csum;
            m.tos = pkt.tos;
            m.ttl = pkt.ttl;  // a reassembled datagram: its first fragment's
            set_vlan(m, pkt);
            set_timestamps(m, pkt);
            if (opts) [[unlikely]] {
                m.ip_optlen = opts->recv;
                m.ip_retoptlen = opts->ret;
                if (opts->ctrunc) m.flags |= INGRESS_F_RETOPTS_CTRUNC;
            }
        };
        // The datagram's charge: the truesize the kernel's skb would have (rcvbuf.h), from
        // the frame as far as the IP header's tot_len (pskb_trim_rcsum() to the UDP length
        // leaves truesize alone).
        const uint8_t* iph = pkt.data + pkt.l3_off;
        const uint32_t tot_len = uint32_t{iph[2]} << 8 | iph[3];
        const RcvBudget budget{
            (pkt.flags & core::kFlagReassembled)
                ? reasm_truesize(pkt.l3_off, pkt.ip_hlen(), tot_len - pkt.ip_hlen(), pkt.frames)
                : skb_truesize(pkt.l3_off + tot_len),
            ep.rcvbuf()};
        if (!ep.rings().try_emplace(fill, payload, {}, env_.delivery, &budget, tail)) {
            // __udp_queue_rcv_skb(): -ENOMEM from __udp_enqueue_schedule_skb (over the
            // budget, or the ring itself is full).
            env_.c.mib(Mib::kUdpRcvbufErrors);
            env_.c.mib(Mib::kUdpInErrors);
            return Verdict::drop(DropReason::kSocketRcvbuff);
        }
        // The kernel counts InDatagrams in udp_recvmsg(). An unverified datagram is counted
        // there too (libingress: the ring's csum_ok, which the daemon adds when it reports);
        // for a verified one the app's read is not visible to the dataplane, so we count at
        // enqueue (demux.md).
        if (!unverified) env_.c.mib(Mib::kUdpInDatagrams);
        return Verdict::delivered();
    }

    // __udp4_lib_mcast_deliver(): every matching endpoint of the (daddr, port) slot and
    // then of the (0.0.0.0, port) slot gets a copy.
    Verdict mcast_deliver() noexcept {
        const EndpointTable& t = env_.table;
        uint32_t matched = 0;
        bool delivered = false, rcvbuf = false;
        auto visit = [&](std::span<const UdpEntry> slot) noexcept {
            for (const UdpEntry& e : slot) {
                if (!is_mcast_sock(e, d_.saddr, d_.sport, d_.daddr, pkt_.ifindex)) continue;
                ++matched;
                Verdict v = queue_rcv(*e.ep);
                delivered = delivered || !v.is_drop();
                rcvbuf = rcvbuf || (v.is_drop() && v.reason() == DropReason::kSocketRcvbuff);
            }
        };
        visit(t.udp_slot(d_.daddr, d_.dport));
        if (d_.daddr != 0) visit(t.udp_slot(0, d_.dport));
        if (matched == 0) {
            // consume, no socket: IgnoredMulti (the kernel frees it with NOT_SPECIFIED; we
            // name it NO_SOCKET, demux.md).
            env_.c.mib(Mib::kUdpIgnoredMulti);
            return Verdict::drop(DropReason::kNoSocket);
        }
        if (delivered) return Verdict::delivered();
        return Verdict::drop(rcvbuf ? DropReason::kSocketRcvbuff : DropReason::kUdpCsum);
    }

    // The no_sk path: checksum first ("drop silently if checksum is wrong"), then NoPorts
    // and ICMP port unreachable (icmp_send refuses non-unicast on its own).
    Verdict no_socket() noexcept {
        if (!csum_complete()) return csum_error();
        env_.c.mib(Mib::kUdpNoPorts);
        if (env_.icmp)
            env_.icmp->send(pkt_, wire::kIcmpDestUnreach, wire::kIcmpPortUnreach, 0, d_.daddr,
                            env_.now_ns, env_.c, env_.ip_opt);
        return Verdict::drop(DropReason::kNoSocket);
    }

private:
    core::Packet& pkt_;
    DemuxEnv& env_;
    const Datagram& d_;
    Csum csum_;
    std::optional<OptionsTail> opts_;  // a datagram with IP options only
};

}  // namespace

UdpEndpoint* udp4_lib_lookup(const EndpointTable& t, wire::Ipv4Addr saddr, uint16_t sport,
                             wire::Ipv4Addr daddr, uint16_t dport, uint32_t dif,
                             UdpLookupTrace* tr) noexcept {
    auto found = [tr](UdpEndpoint* ep, UdpLookupStep step) {
        if (tr && ep) [[unlikely]]
            tr->step = step;
        return ep;
    };
    Lookup r = lookup2(t, t.udp_slot(daddr, dport), saddr, sport, daddr, dport, dif, tr);
    if (r.ep && r.connected) return found(r.ep, UdpLookupStep::kConnected);

    if (t.has_sk_lookup()) [[unlikely]] {
        UdpLookupVerdict v = run_sk_lookup(t, {saddr, sport, daddr, dport, dif}, tr);
        if (v.action == UdpLookupVerdict::Action::kDrop) return found(nullptr, {});
        if (v.selected) {
            return found(v.no_reuseport
                             ? v.selected
                             : hook_reuseport(t, v.selected, saddr, sport, daddr, dport, tr),
                         UdpLookupStep::kHook);
        }
    }
    if (r.ep) return found(r.ep, UdpLookupStep::kBound);
    return found(lookup2(t, t.udp_slot(0, dport), saddr, sport, 0, dport, dif, tr).ep,
                 UdpLookupStep::kWildcard);
}

namespace {

// udp_v4_early_demux()'s entry checks for a datagram of `type`: a non-fragment UDP datagram
// with a whole header (pskb_may_pull(skb, skb_transport_offset(skb) + sizeof(struct
// udphdr))); false otherwise. Its ports into *sport, *dport.
bool early_demux_ports(const core::Packet& pkt, core::PktType type, uint16_t* sport,
                       uint16_t* dport) noexcept {
    if (pkt.ip_proto != wire::kIpProtoUdp || pkt.is_fragment() || pkt.pkt_type != type ||
        pkt.len < pkt.l4_off + wire::UdpView::kHeaderLen)
        return false;
    const uint8_t* uh = pkt.data + pkt.l4_off;
    *sport = static_cast<uint16_t>(uh[0] << 8 | uh[1]);
    *dport = static_cast<uint16_t>(uh[2] << 8 | uh[3]);
    return true;
}

}  // namespace

UdpEndpoint* udp_demux_lookup(const core::Packet& pkt, const EndpointTable& t) noexcept {
    uint16_t sport, dport;
    if (!early_demux_ports(pkt, core::PktType::kHost, &sport, &dport)) return nullptr;
    auto slot = t.udp_slot(pkt.daddr, dport);
    // "Only check first socket in chain".
    if (slot.empty()) return nullptr;
    const UdpEntry& e = slot.front();
    if (!e.connected || e.daddr != pkt.saddr || e.dport != sport ||
        !bound_dev_eq(e.bound_dev_if, pkt.ifindex))
        return nullptr;
    return e.ep;
}

const UdpEntry* udp_mcast_demux_lookup(const core::Packet& pkt, const EndpointTable& t) noexcept {
    uint16_t sport, dport;
    if (!early_demux_ports(pkt, core::PktType::kMulticast, &sport, &dport)) return nullptr;
    const auto group = t.udp_slot(pkt.daddr, dport), any = t.udp_slot(0, dport);
    // "Do not bother scanning a too big list": the kernel's slot holds the port's sockets.
    if (group.size() + any.size() > kMcastDemuxMaxScan) return nullptr;
    const UdpEntry* result = nullptr;
    for (auto slot : {group, any})
        for (const UdpEntry& e : slot) {
            if (!is_mcast_sock(e, pkt.saddr, sport, pkt.daddr, pkt.ifindex)) continue;
            if (result) return nullptr;  // "Only one socket"
            result = &e;
        }
    return result;
}

Verdict udp_v4_early_demux(core::Packet& pkt, const EndpointTable& t, const ipv4::McGroups& mc,
                           uint64_t route_generation) noexcept {
    const UdpEndpoint* ep = nullptr;
    bool validate = false;
    if (pkt.pkt_type == core::PktType::kMulticast) {
        // Only a group the arrival interface joined (ip_check_mc_rcu); route input drops the
        // rest.
        if (pkt.ip_proto != wire::kIpProtoUdp ||
            !mc.check(pkt.ifindex, pkt.daddr, pkt.saddr, pkt.ip_proto))
            return Verdict::next();
        const UdpEntry* e = udp_mcast_demux_lookup(pkt, t);
        if (!e) return Verdict::next();
        ep = e->ep;
        // "for unconnected multicast sockets we need to validate the source on each packet"
        validate = !e->connected;
    } else {
        ep = udp_demux_lookup(pkt, t);
    }
    if (!ep) return Verdict::next();
    const uint64_t dst = ep->rx_dst();
    // dst_check(): a route from older tables is stale.
    if (dst >> 8 == route_generation && route_generation != 0) {
        pkt.route_type = static_cast<uint8_t>(dst & 0xff);
        pkt.flags |= core::kFlagRxDst;
        if (validate) pkt.flags |= core::kFlagRxDstValidate;
    } else {
        pkt.flags |= core::kFlagEarlySk;  // skb->sk, no dst: udp_rcv sets its route
    }
    return Verdict::next();
}

Verdict udp_rcv(core::Packet& pkt, DemuxEnv& env) noexcept {
    core::CounterBlock& c = env.c;
    const uint32_t ip_payload = pkt.len - pkt.l4_off;
    auto uh = wire::UdpView::try_view({pkt.data + pkt.l4_off, ip_payload});
    // pskb_may_pull(skb, sizeof(struct udphdr)): the kernel's reason is NOT_SPECIFIED; we
    // name it PKT_TOO_SMALL (demux.md).
    if (!uh) {
        c.mib(Mib::kUdpInErrors);
        return Verdict::drop(DropReason::kPktTooSmall);
    }
    const uint16_t ulen = uh->length();
    // "ulen > skb->len" and "ulen < sizeof(*uh)": short packet.
    if (ulen > ip_payload || ulen < wire::UdpView::kHeaderLen) {
        c.mib(Mib::kUdpInErrors);
        return Verdict::drop(DropReason::kPktTooSmall);
    }
    // pskb_trim_rcsum(skb, ulen): bytes after the UDP length are not part of the datagram.
    pkt.len = pkt.l4_off + ulen;

    const Datagram d{pkt.saddr,      pkt.daddr, uh->src_port(),
                     uh->dst_port(), ulen,      pkt.data + pkt.l4_off};

    // udp4_csum_init(): a zero checksum means "none" (RFC 768), accepted for IPv4; a
    // backend-verified checksum is CHECKSUM_UNNECESSARY; short datagrams are verified now.
    Csum csum = Csum::kUnknown;
    if (uh->checksum() == 0 || (pkt.flags & core::kFlagL4CsumGood)) csum = Csum::kGood;
    Receiver rx(pkt, env, d, csum);
    if (csum == Csum::kUnknown && ulen <= kChecksumBreak && !rx.csum_complete())
        return rx.csum_error();

    // __udp4_lib_rcv(): a datagram early demux steered to its endpoint (skb->sk) that had to
    // take the full route lookup gives the endpoint that route (udp_sk_rx_dst_set); a
    // multicast one steered there is that endpoint's alone (the only match), so delivering
    // it as mcast_deliver does below is the kernel's unicast delivery to it. Early demux
    // marked it (kFlagEarlySk): the endpoint is looked up again only then, never for a
    // datagram early demux found nothing for (an unconnected endpoint's: most of them).
    if ((pkt.flags & (core::kFlagRxDst | core::kFlagEarlySk)) == core::kFlagEarlySk) {
        const UdpEndpoint* sk = nullptr;
        if (pkt.pkt_type == core::PktType::kMulticast) {
            if (const UdpEntry* e = udp_mcast_demux_lookup(pkt, env.table)) sk = e->ep;
        } else {
            sk = udp_demux_lookup(pkt, env.table);
        }
        if (sk) sk->rx_dst_set(env.route_generation, pkt.route_type);
    }
    const auto rt = ipv4::route_type_of(pkt.route_type);
    if (rt == ipv4::RouteType::kBroadcast || rt == ipv4::RouteType::kMulticast)
        return rx.mcast_deliver();
    if (UdpEndpoint* ep =
            udp4_lib_lookup(env.table, d.saddr, d.sport, d.daddr, d.dport, pkt.ifindex))
        return rx.queue_rcv(*ep);
    return rx.no_socket();
}

void udp_prefetch(std::span<const core::Packet> pkts, const EndpointTable& t,
                  uint16_t worker) noexcept {
    if (t.udp_count() <= kPrefetchMinEndpoints) return;
    // Per datagram, the level reached: its hash2 slot's first entry, then its endpoint.
    std::array<const UdpEntry*, core::kBurst> entry{};
    const std::size_t n = pkts.size() < core::kBurst ? pkts.size() : core::kBurst;
    auto dport_of = [](const core::Packet& p) noexcept {
        const uint8_t* uh = p.data + p.l4_off;
        return static_cast<uint16_t>(uh[2] << 8 | uh[3]);
    };
    auto unicast_udp = [](const core::Packet& p) noexcept {
        const auto rt = ipv4::route_type_of(p.route_type);
        return p.ip_proto == wire::kIpProtoUdp && p.len >= p.l4_off + wire::UdpView::kHeaderLen &&
               rt != ipv4::RouteType::kBroadcast && rt != ipv4::RouteType::kMulticast;
    };
    for (std::size_t i = 0; i < n; ++i)
        if (unicast_udp(pkts[i])) t.prefetch_udp_slot(pkts[i].daddr, dport_of(pkts[i]));
    for (std::size_t i = 0; i < n; ++i) {
        if (!unicast_udp(pkts[i])) continue;
        auto slot = t.udp_slot(pkts[i].daddr, dport_of(pkts[i]));
        if (slot.empty()) continue;
        entry[i] = slot.data();
        __builtin_prefetch(entry[i]);
    }
    for (std::size_t i = 0; i < n; ++i)
        if (entry[i]) entry[i]->ep->prefetch();
    for (std::size_t i = 0; i < n; ++i)
        if (entry[i]) __builtin_prefetch(&entry[i]->ep->rings());
    for (std::size_t i = 0; i < n; ++i)
        if (entry[i]) entry[i]->ep->rings().prefetch_producer(worker);
    for (std::size_t i = 0; i < n; ++i)
        if (entry[i]) entry[i]->ep->rings().prefetch_next_slot(worker);
}

}  // namespace ingress::demux
