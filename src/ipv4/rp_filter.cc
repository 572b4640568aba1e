#include "ipv4/rp_filter.h"

namespace ingress::ipv4 {

Flow reverse_flow(const RouteTables& t, const Flow& in, uint32_t oif) noexcept {
    return {.iif = oif ? oif : t.loopback_ifindex(),
            .oif = 0,
            .saddr = in.daddr,
            .daddr = in.saddr,
            .dscp = in.dscp,
            .proto = in.proto,
            .sport = in.dport,
            .dport = in.sport};
}

namespace {

// __fib_validate_source(): the full check, `rpf` being the effective rp_filter.
SourceVerdict full_check(const RouteTables& t, const IfState& dev, const Flow& in, uint32_t oif,
                         uint8_t rpf) noexcept {
    const FibResult res = t.fib_lookup(reverse_flow(t, in, oif));
    if (res.error == RouteError::kUnsupported) return SourceVerdict::kUnsupported;
    // No route back, or a route fib_lookup() returns as an error: the last resort.
    if (res.error != RouteError::kNone)
        return rpf ? SourceVerdict::kRpFilter : SourceVerdict::kAccept;
    const Route& r = *res.route;
    // A source that routes as broadcast, multicast, anycast, or local without
    // accept_local, is not a unicast host: -EINVAL.
    if (r.type != RouteType::kUnicast && (r.type != RouteType::kLocal || !dev.conf.accept_local))
        return SourceVerdict::kLocalSource;
    // The route back uses the receiving device (a loopback device also matches a local
    // route): accepted by every mode.
    if (r.oif == dev.ifindex || (r.type == RouteType::kLocal && dev.loopback))
        return SourceVerdict::kAccept;
    // An interface without addresses cannot say which sources are valid on it.
    if (dev.no_addr) return rpf ? SourceVerdict::kRpFilter : SourceVerdict::kAccept;
    // Strict: the route back leaves through another interface.
    if (rpf == 1) return SourceVerdict::kRpFilter;
    // Loose (and off): a route back exists.
    return SourceVerdict::kAccept;
}

}  // namespace

SourceVerdict fib_validate_source(const RouteTables& t, const IfState& dev, const Flow& in,
                                  uint32_t oif) noexcept {
    const wire::Ipv4Addr src = in.saddr;
    const uint8_t rpf = dev.conf.rp_filter;
    // The fast path: rp_filter off, and the route is not sent back out of the interface it
    // came in on with send_redirects (that case wants the full check for the redirect).
    if (!rpf && (dev.ifindex != oif || !dev.conf.tx_redirects)) {
        if (dev.conf.accept_local) return SourceVerdict::kAccept;
        // "with custom local routes in place, checking local addresses only will be too
        // optimistic, with custom rules, checking local addresses only can be too strict"
        if (!t.has_custom_local_routes() && !t.has_custom_rules()) {
            // "Within the same container, it is regarded as a martian source."
            return t.is_local_addr(src) ? SourceVerdict::kLocalSource : SourceVerdict::kAccept;
        }
    }
    return full_check(t, dev, in, oif, rpf);
}

}  // namespace ingress::ipv4
