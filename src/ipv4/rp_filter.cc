#include "ipv4/rp_filter.h"

namespace ingress::ipv4 {

namespace {

// Route types whose fib_props[].error is set: fib_lookup() fails on them.
bool lookup_fails(RouteType t) noexcept {
    return t == RouteType::kBlackhole || t == RouteType::kUnreachable ||
           t == RouteType::kProhibit || t == RouteType::kThrow;
}

// __fib_validate_source(): the full check, `rpf` being the effective rp_filter.
SourceVerdict full_check(const RouteTables& t, const IfState& dev, wire::Ipv4Addr src,
                         uint8_t rpf) noexcept {
    const Fib::Index idx = t.fib().lookup(src);
    const Route& r = t.fib().route(idx);
    // No route back, or a route fib_lookup() returns as an error: the last resort.
    if (idx == Fib::kNoRoute || lookup_fails(r.type))
        return rpf ? SourceVerdict::kRpFilter : SourceVerdict::kAccept;
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

SourceVerdict fib_validate_source(const RouteTables& t, const IfState& dev, wire::Ipv4Addr src,
                                  uint32_t oif) noexcept {
    const uint8_t rpf = dev.conf.rp_filter;
    // The fast path: rp_filter off, and the route is not sent back out of the interface it
    // came in on with send_redirects (that case wants the full check for the redirect).
    if (!rpf && (dev.ifindex != oif || !dev.conf.tx_redirects)) {
        if (dev.conf.accept_local) return SourceVerdict::kAccept;
        if (!t.has_custom_local_routes()) {
            // "Within the same container, it is regarded as a martian source."
            return t.is_local_addr(src) ? SourceVerdict::kLocalSource : SourceVerdict::kAccept;
        }
    }
    return full_check(t, dev, src, rpf);
}

}  // namespace ingress::ipv4
