#include "ipv4/route.h"

#include <optional>
#include <utility>

#include "ipv4/ip_options.h"
#include "ipv4/route_type.h"
#include "ipv4/rp_filter.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

namespace ingress::ipv4 {

using core::DropReason;
using core::Mib;
using core::Verdict;
using wire::Ipv4Addr;

// iif the arrival device, oif 0, mark 0; the protocol and ports only when a rule needs them
// (fib4_rules_early_flow_dissect()).
Flow input_flow(const RouteTables& t, const IfState& dev, Ipv4Addr daddr, Ipv4Addr saddr,
                uint8_t proto, const InputKeys& k) noexcept {
    Flow fl{.iif = dev.ifindex, .saddr = saddr, .daddr = daddr, .dscp = k.dscp};
    if (t.rules_need_ports()) {
        fl.proto = proto;
        fl.sport = k.sport;
        fl.dport = k.dport;
    }
    return fl;
}

namespace {

RouteDecision drop(DropReason r) noexcept {
    return {.drop = true, .reason = r};
}

// fib_validate_source_reason(): -EXDEV is IP_RPFILTER, any other error IP_LOCAL_SOURCE.
// `in` is the input flow with the destination the kernel passes (0 for multicast and
// broadcast input).
bool source_rejected(const RouteTables& t, const IfState& dev, const Flow& in, uint32_t oif,
                     RouteDecision& out) noexcept {
    switch (fib_validate_source(t, dev, in, oif)) {
        case SourceVerdict::kAccept:
            return false;
        case SourceVerdict::kRpFilter:
            out = drop(DropReason::kIpRpfilter);
            return true;
        case SourceVerdict::kLocalSource:
            out = drop(DropReason::kIpLocalSource);
            return true;
        case SourceVerdict::kUnsupported:
            out = {.error = RouteError::kUnsupported};
            return true;
    }
    return false;
}

// ip_mc_validate_source(): the multicast route's decision, or the drop.
RouteDecision mc_validate_source(const RouteTables& t, const IfState& dev, Ipv4Addr daddr,
                                 Ipv4Addr saddr, uint8_t proto, const InputKeys& keys) noexcept {
    if (wire::ipv4_is_multicast(saddr) || wire::ipv4_is_lbcast(saddr))
        return drop(DropReason::kIpInvalidSource);
    if (wire::ipv4_is_loopback(saddr) && !dev.conf.route_localnet)
        return drop(DropReason::kIpLocalnet);
    RouteDecision d{.type = RouteType::kMulticast};
    if (wire::ipv4_is_zeronet(saddr)) {
        // 0.0.0.0 only to link-local groups, or IGMP (a host without an address reports).
        if (!wire::ipv4_is_local_multicast(daddr) && proto != wire::kIpProtoIgmp)
            return drop(DropReason::kIpInvalidSource);
    } else if (source_rejected(t, dev, input_flow(t, dev, 0, saddr, proto, keys), 0, d)) {
        return d;
    }
    return d;
}

// ip_route_input_mc() after ip_check_mc_rcu(), with ip_mc_validate_source().
RouteDecision input_mc(const RouteTables& t, const IfState& dev, Ipv4Addr daddr, Ipv4Addr saddr,
                       uint8_t proto, const InputKeys& keys) noexcept {
    // Not a group this interface joined (and no multicast routing): dropped, uncounted.
    if (!t.mc().check(dev.ifindex, daddr, saddr, proto)) return drop(DropReason::kNotSpecified);
    return mc_validate_source(t, dev, daddr, saddr, proto, keys);
}

// ip_route_input_slow(), in its order. `dst` looks the destination up (or reuses the hint's
// lookup); it is called at the point where the kernel calls fib_lookup().
template <class LookupDst>
RouteDecision input_slow(const RouteTables& t, const IfState& dev, const Flow& fl,
                         LookupDst&& dst) noexcept {
    const Ipv4Addr daddr = fl.daddr, saddr = fl.saddr;
    // "The most weird martians, which can be not detected by fib_lookup."
    if (wire::ipv4_is_multicast(saddr) || wire::ipv4_is_lbcast(saddr))
        return drop(DropReason::kIpInvalidSource);

    RouteDecision d;
    const Route* route = nullptr;
    bool brd = wire::ipv4_is_lbcast(daddr) || (saddr == 0 && daddr == 0);
    if (!brd) {
        // "Accept zero addresses only to limited broadcast."
        if (wire::ipv4_is_zeronet(saddr)) return drop(DropReason::kIpInvalidSource);
        if (wire::ipv4_is_zeronet(daddr)) return drop(DropReason::kIpInvalidDest);
        if (wire::ipv4_is_loopback(daddr)) {
            if (!dev.conf.route_localnet) return drop(DropReason::kIpLocalnet);
        } else if (wire::ipv4_is_loopback(saddr)) {
            if (!dev.conf.route_localnet) return drop(DropReason::kIpLocalnet);
        }

        const FibResult res = dst();
        route = res.route;
        // A rule the dataplane cannot evaluate decided: the kernel routes the datagram.
        if (res.error == RouteError::kUnsupported) return {.error = RouteError::kUnsupported};
        if (res.error != RouteError::kNone) {
            // no_route: an RTN_UNREACHABLE input route whose dst.error ip_error() reads.
            return {.type = RouteType::kUnreachable,
                    .error = dev.conf.forward ? res.error : RouteError::kHostUnreach,
                    .route = route};
        }
        const Route& r = *route;
        if (r.type == RouteType::kBroadcast) {
            if (dev.conf.bforward) {  // make_route: forwarded broadcast
                d = {.type = RouteType::kBroadcast, .forward = true, .route = route};
                source_rejected(t, dev, fl, r.oif, d);
                return d;
            }
            brd = true;
        } else if (r.type == RouteType::kLocal) {
            d = {.type = RouteType::kLocal, .route = route};
            source_rejected(t, dev, fl, 0, d);
            return d;
        } else if (!dev.conf.forward) {
            // Not ours and not forwarding: ip_error() with EHOSTUNREACH.
            return {
                .type = RouteType::kUnreachable, .error = RouteError::kHostUnreach, .route = route};
        } else if (r.type != RouteType::kUnicast) {
            return drop(DropReason::kIpInvalidDest);
        } else {
            // make_route: __mkroute_input() validates the source against the output device.
            d = {.type = RouteType::kUnicast, .forward = true, .route = route};
            source_rejected(t, dev, fl, r.oif, d);
            return d;
        }
    }
    // brd_input: a broadcast is validated (against destination 0) unless its source is
    // 0.0.0.0 (DHCP).
    d = {.type = RouteType::kBroadcast, .route = route};
    if (!wire::ipv4_is_zeronet(saddr)) {
        Flow bfl = fl;
        bfl.daddr = 0;
        source_rejected(t, dev, bfl, 0, d);
    }
    return d;
}

// The parameter problem ip_options_compile() and ip_options_rcv_srr() send about a datagram
// the route stage then drops, with the options __icmp_send() -> __ip_options_echo() echoes
// from IPCB(skb)->opt. The kernel compiles with the route already set (rt != NULL), so by the
// time it fails the options before the bad one are compiled into opt with their receive-side
// writes made in the header (our address in a record route, the time in a timestamp, the
// pointers moved): the error echoes them (a record route with room for one more hop, a
// source route reversed, the error then going to its first hop) and quotes the header as
// written. The option the compile failed on left nothing in opt: each case sets its field
// only after its checks. (CIPSO, whose field is set before cipso_v4_validate() and so would
// be echoed though invalid, is not validated here: it never fails, see route.md.) For the
// source-route failures the compile succeeded: every option is echoed. The header is written
// only here, on the way to a drop, so a datagram passed on still reaches the kernel as it
// arrived.
void options_param_problem(core::Packet& pkt, uint32_t ptr, Ipv4Addr src, IcmpSender& icmp,
                           core::CounterBlock& c, uint64_t now_ns) noexcept {
    const IpOptions opt =
        ip_options_rcv_write(pkt.l3().first(pkt.ip_hlen()), icmp.options_env(pkt));
    icmp.send(pkt, wire::kIcmpParameterProb, 0, ptr << 24, src, now_ns, c, &opt);
}

// iph->daddr = `a` as ip_options_rcv_srr() writes it: the header checksum is not recomputed
// (the kernel recomputes it only for a datagram it forwards).
void rewrite_daddr(core::Packet& pkt, Ipv4Addr a) noexcept {
    if (a == pkt.daddr) return;
    wire::store_be32(&pkt.l3()[wire::Ipv4View::kDstOff], a);
    pkt.daddr = a;
}

// ip_options_rcv_srr(): a source-routed datagram (accept_source_route on). Returns the
// route the datagram finally takes, or a drop.
// Each next hop that is ours is the kernel's "superfast loopback forward": iph->daddr becomes
// that hop and the walk goes on. When the list ends on our own hops the datagram is
// delivered with the last of them as its destination (sockets, the answers' source, the
// quoted header see it). When a hop is elsewhere the datagram is forwarded, which is the
// kernel's to do: it is passed as it arrived (the kernel redoes the walk). A parameter
// problem in the walk quotes the header as far as it went, from that destination (the
// datagram's route is then the last hop's, LOCAL: __icmp_send() answers from iph->daddr).
RouteDecision rcv_srr(core::Packet& pkt, uint8_t srr, bool strict, RouteDecision d,
                      const RouteTables& t, const IfState& dev, core::CounterBlock& c,
                      IcmpSender* icmp, uint64_t now_ns) noexcept {
    const std::span<const uint8_t> hdr = std::as_const(pkt).l3().first(pkt.ip_hlen());
    Ipv4Addr hop_daddr = pkt.daddr;  // iph->daddr as the walk leaves it
    auto param_problem = [&](uint32_t ptr) noexcept {
        if (icmp) {
            // The compile's writes were made before the walk (with the first destination).
            const IpOptions opt =
                ip_options_rcv_write(pkt.l3().first(pkt.ip_hlen()), icmp->options_env(pkt));
            rewrite_daddr(pkt, hop_daddr);
            const Ipv4Addr src = d.type == RouteType::kLocal ? hop_daddr : dev.primary;
            icmp->send(pkt, wire::kIcmpParameterProb, 0, ptr << 24, src, now_ns, c, &opt);
        }
        return drop(DropReason::kNotSpecified);
    };
    if (pkt.pkt_type != core::PktType::kHost) return drop(DropReason::kNotSpecified);
    if (d.type == RouteType::kUnicast) return strict ? param_problem(16) : d;
    if (d.type != RouteType::kLocal) return drop(DropReason::kNotSpecified);
    unsigned ptr = hdr[srr + 2];
    const unsigned space = hdr[srr + 1];
    for (; ptr <= space; ptr += 4) {
        if (ptr + 3 > space) return param_problem(srr + 2u);
        // ip_options_compile() kept the option inside the header.
        const std::optional<Ipv4Addr> nexthop = wire::ipv4_addr_at(hdr, srr + ptr - 1);
        if (!nexthop) return param_problem(srr + 2u);
        RouteDecision hop = route_input_noref(t, dev, *nexthop, pkt.saddr, pkt.ip_proto, nullptr);
        if (hop.drop || (hop.type != RouteType::kUnicast && hop.type != RouteType::kLocal))
            return drop(DropReason::kNotSpecified);
        d = hop;
        if (hop.type != RouteType::kLocal) return d;  // the next hop is elsewhere: forward
        hop_daddr = *nexthop;                         // "Superfast 8) loopback forward"
    }
    rewrite_daddr(pkt, hop_daddr);
    return d;
}

// ip_error(): what the RTN_UNREACHABLE input route does with the datagram.
Verdict ip_error(core::Packet& pkt, const RouteDecision& d, const IfState& dev,
                 core::CounterBlock& c, IcmpSender* icmp, uint64_t now_ns) noexcept {
    if (!dev.conf.forward) {
        if (d.error == RouteError::kHostUnreach) {
            c.mib(Mib::kIpInAddrErrors);
            return Verdict::drop(DropReason::kIpInaddrerrors);
        }
        // ENETUNREACH. ip_route_input_slow() turns every error into EHOSTUNREACH when
        // forwarding is off, so this is ip_error()'s branch for routes built elsewhere.
        c.mib(Mib::kIpExtInNoRoutes);
        return Verdict::drop(DropReason::kIpInnoroutes);
    }
    uint8_t code = 0;
    DropReason reason = DropReason::kNotSpecified;
    switch (d.error) {
        case RouteError::kHostUnreach:
            code = 1;
            break;  // ICMP_HOST_UNREACH
        case RouteError::kNetUnreach:
            code = 0;  // ICMP_NET_UNREACH
            reason = DropReason::kIpInnoroutes;
            c.mib(Mib::kIpExtInNoRoutes);
            break;
        case RouteError::kAccess:
            code = 13;
            break;  // ICMP_PKT_FILTERED
        case RouteError::kInval:
        case RouteError::kNone:
        case RouteError::kUnsupported:  // route_input() passed it before
            return Verdict::drop(reason);
    }
    // The per-peer limiter of ip_error() itself, then icmp_send() with its own limits. The
    // datagram's options were compiled by ip_rcv_options() before dst_input() (the
    // unreachable route is a route: rt set, the writes made), so the error echoes them all
    // and quotes the header as written (the header is written only here: it is dropped).
    if (icmp && icmp->error_route_allow(pkt.saddr, now_ns)) {
        IpOptions opt;
        if (pkt.ip_hlen() > wire::Ipv4View::kMinHeaderLen)
            opt = ip_options_rcv_write(pkt.l3().first(pkt.ip_hlen()), icmp->options_env(pkt));
        icmp->send(pkt, wire::kIcmpDestUnreach, code, 0, dev.primary, now_ns, c,
                   opt.optlen ? &opt : nullptr);
    }
    return Verdict::drop(reason);
}

}  // namespace

InputKeys input_keys(const core::Packet& pkt) noexcept {
    InputKeys k{.dscp = static_cast<uint8_t>(pkt.tos >> 2)};
    // __skb_flow_dissect(): no ports for any fragment (flags 0: not even the first).
    if (pkt.is_fragment()) return k;
    unsigned off;
    switch (pkt.ip_proto) {  // proto_ports_offset()
        case 6:              // TCP
        case 17:             // UDP
        case 33:             // DCCP
        case 50:             // ESP (the SPI)
        case 132:            // SCTP
        case 136:            // UDP-Lite
            off = 0;
            break;
        case 51:  // AH
            off = 4;
            break;
        default:
            return k;
    }
    const std::span<const uint8_t> l4 = pkt.l3().subspan(pkt.ip_hlen());
    if (l4.size() < off + 4) return k;
    k.sport = static_cast<uint16_t>(l4[off] << 8 | l4[off + 1]);
    k.dport = static_cast<uint16_t>(l4[off + 2] << 8 | l4[off + 3]);
    return k;
}

RouteDecision route_input_noref(const RouteTables& t, const IfState& dev, Ipv4Addr daddr,
                                Ipv4Addr saddr, uint8_t proto, RouteHint* hint,
                                const InputKeys& keys) noexcept {
    if (wire::ipv4_is_multicast(daddr)) return input_mc(t, dev, daddr, saddr, proto, keys);
    const Flow fl = input_flow(t, dev, daddr, saddr, proto, keys);
    // ip_extract_route_hint(): no hint with custom rules.
    if (t.has_custom_rules()) hint = nullptr;

    const bool same_dst = hint && hint->generation == t.generation() &&
                          hint->ifindex == dev.ifindex && hint->daddr == daddr;
    if (same_dst && hint->saddr == saddr) return hint->decision;
    bool looked_up = false;
    FibResult dst_res;
    auto dst = [&]() noexcept {
        looked_up = true;
        dst_res = same_dst && hint->dst_valid ? hint->dst : t.fib_lookup(fl);
        return dst_res;
    };
    RouteDecision d = input_slow(t, dev, fl, dst);
    if (hint) {
        *hint = {.generation = t.generation(),
                 .ifindex = dev.ifindex,
                 .daddr = daddr,
                 .saddr = saddr,
                 .dst_valid = looked_up,
                 .dst = dst_res,
                 .decision = d};
    }
    return d;
}

Verdict route_input(core::Packet& pkt, const RouteTables& t, core::CounterBlock& c,
                    IcmpSender* icmp, uint64_t now_ns, RouteHint& hint) noexcept {
    const Ipv4Addr saddr = pkt.saddr;
    const Ipv4Addr daddr = pkt.daddr;

    // The hint's whole decision applies to the same (ifindex, daddr, saddr) under the same
    // tables: skip the interface search and the lookup (multicast is never hinted).
    const IfState* dev;
    RouteDecision d;
    if (pkt.flags & core::kFlagRxDst) {
        // skb_valid_dst(): early demux gave it its endpoint's cached route
        // (demux::udp_v4_early_demux): no lookup, no source validation but an unconnected
        // multicast endpoint's (ip_mc_validate_source, whose failure is drop_error's too).
        dev = t.iface(pkt.ifindex);
        if (!dev) return Verdict::drop(DropReason::kNotSpecified);
        d = {.type = route_type_of(pkt.route_type)};
        if (pkt.flags & core::kFlagRxDstValidate) {
            const InputKeys keys = t.has_custom_rules() ? input_keys(pkt) : InputKeys{};
            const RouteDecision v = mc_validate_source(t, *dev, daddr, saddr, pkt.ip_proto, keys);
            if (v.drop || v.error == RouteError::kUnsupported) d = v;
        }
    } else if (hint.generation == t.generation() && hint.ifindex == pkt.ifindex &&
               hint.daddr == daddr && hint.saddr == saddr && hint.dev &&
               !wire::ipv4_is_multicast(daddr)) {
        dev = hint.dev;
        d = hint.decision;
    } else {
        // "IP on this device is disabled": no in_device.
        dev = t.iface(pkt.ifindex);
        if (!dev) return Verdict::drop(DropReason::kNotSpecified);
        const InputKeys keys = t.has_custom_rules() ? input_keys(pkt) : InputKeys{};
        d = route_input_noref(t, *dev, daddr, saddr, pkt.ip_proto, &hint, keys);
        if (hint.generation == t.generation() && hint.ifindex == dev->ifindex) hint.dev = dev;
    }
    if (d.error == RouteError::kUnsupported) {
        // The decision belongs to a rule this dataplane cannot evaluate: the kernel's.
        c.mib(Mib::kIngressFibRuleUnsupported);
        return Verdict::pass();
    }
    if (d.drop) {
        // drop_error in ip_rcv_finish_core(): only rp_filter has a MIB counter.
        if (d.reason == DropReason::kIpRpfilter) c.mib(Mib::kTcpExtIPReversePathFilter);
        return Verdict::drop(d.reason);
    }
    pkt.route_type = static_cast<uint8_t>(d.type);

    // ip_rcv_options(): after the route, so that the options see it.
    if (pkt.ip_hlen() > wire::Ipv4View::kMinHeaderLen) {
        const auto hdr = pkt.l3().first(pkt.ip_hlen());  // rcv_core checked it
        const IpOptions opt = ip_options_compile(hdr);
        if (!opt.ok) {
            if (icmp) {
                const Ipv4Addr src = d.type == RouteType::kLocal ? daddr : dev->primary;
                options_param_problem(pkt, opt.error_ptr, src, *icmp, c, now_ns);
            }
            c.mib(Mib::kIpInHdrErrors);
            return Verdict::drop(DropReason::kIpInhdr);
        }
        if (opt.srr) {
            if (!dev->conf.source_route) return Verdict::drop(DropReason::kNotSpecified);
            d = rcv_srr(pkt, opt.srr, opt.is_strictroute, d, t, *dev, c, icmp, now_ns);
            if (d.drop) return Verdict::drop(d.reason);
            pkt.route_type = static_cast<uint8_t>(d.type);
        }
    }

    const uint32_t len = pkt.l3_len();
    if (d.type == RouteType::kMulticast) {
        c.mib(Mib::kIpExtInMcastPkts);
        c.mib(Mib::kIpExtInMcastOctets, len);
    } else if (d.type == RouteType::kBroadcast) {
        c.mib(Mib::kIpExtInBcastPkts);
        c.mib(Mib::kIpExtInBcastOctets, len);
    } else if (pkt.pkt_type == core::PktType::kBroadcast ||
               pkt.pkt_type == core::PktType::kMulticast) {
        // RFC 1122 3.3.6: unicast IP in a link-layer broadcast/multicast frame.
        if (dev->conf.drop_unicast_in_l2_multicast)
            return Verdict::drop(DropReason::kUnicastInL2Multicast);
    }

    // dst_input(): ip_error for unreachable input routes, ip_forward (the kernel's job:
    // passed), or on to local delivery.
    if (d.type == RouteType::kUnreachable) return ip_error(pkt, d, *dev, c, icmp, now_ns);
    if (d.forward) return Verdict::pass();
    return Verdict::next();
}

}  // namespace ingress::ipv4
