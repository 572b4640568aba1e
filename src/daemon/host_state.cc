#include "daemon/host_state.h"

#include <algorithm>
#include <optional>

namespace ingress::daemon {

namespace {

// One kernel route as the route tables hold it, or nothing: derived again from the
// addresses (protocol kernel), or not representable (counted in `sk`).
std::optional<ipv4::StaticRoute> static_route_of(const KernelRoute& r, HostSkipped& sk) {
    using ipv4::RouteType;
    if (r.protocol == kRtProtKernel) return std::nullopt;  // derived again from the addresses
    if (r.tos) {
        ++sk.tos;
        return std::nullopt;
    }
    if (r.multipath) {
        ++sk.multipath;
        return std::nullopt;
    }
    if (r.nexthop_id) {
        ++sk.nexthop;
        return std::nullopt;
    }
    const auto t = ipv4::route_type_of(r.type);
    const bool known = t == RouteType::kLocal || t == RouteType::kBroadcast ||
                       t == RouteType::kUnicast || t == RouteType::kBlackhole ||
                       t == RouteType::kUnreachable || t == RouteType::kProhibit ||
                       t == RouteType::kThrow;
    if (!known) {
        ++sk.other_type;
        return std::nullopt;
    }
    return ipv4::StaticRoute{.prefix = r.prefix,
                             .prefix_len = r.prefix_len,
                             .type = t,
                             .oif = r.oif,
                             .via_gateway = r.gateway,
                             .table = r.table ? r.table : ipv4::kTableMain};
}

}  // namespace

ipv4::RouteConfig overlay_kernel_host(ipv4::RouteConfig base, const KernelHost& k,
                                      HostSkipped* skipped) {
    HostSkipped sk;
    ipv4::RouteConfig rc;
    rc.all = base.all;
    rc.mc = std::move(base.mc);
    for (const KernelLink& l : k.links) {
        ipv4::IfConfig i{
            .ifindex = l.ifindex, .name = l.name, .loopback = l.loopback, .group = l.group};
        if (const ipv4::IfConfig* owned = base.iface(l.ifindex)) i.conf = owned->conf;
        for (const KernelAddr& a : k.addrs)
            if (l.up && a.ifindex == l.ifindex) i.addrs.push_back(a.addr);
        rc.ifaces.push_back(std::move(i));
    }
    // An owned interface the kernel does not list (a VLAN with no kernel device): kept,
    // without addresses.
    for (ipv4::IfConfig& i : base.ifaces)
        if (!rc.iface(i.ifindex)) {
            i.addrs.clear();
            rc.ifaces.push_back(std::move(i));
        }
    for (const KernelRoute& r : k.routes)
        if (auto s = static_route_of(r, sk)) rc.routes.push_back(*s);
    // The rules: iif/oif by name (a name no link has: detached, as the kernel marks it).
    rc.rules = k.rules;
    for (ipv4::FibRule& f : rc.rules) {
        auto resolve = [&](const std::string& name, uint32_t& ifindex) {
            if (name.empty()) return;
            ifindex = ipv4::kIfDetached;
            for (const KernelLink& l : k.links)
                if (l.name == name) ifindex = l.ifindex;
        };
        resolve(f.iifname, f.iif);
        resolve(f.oifname, f.oif);
        if (!f.unsupported.empty()) ++sk.unsupported_rules;
    }
    if (skipped) *skipped = sk;
    return rc;
}

bool route_edits(std::span<const RouteEvent> events, std::vector<ipv4::RouteEdit>& out) {
    out.clear();
    for (const RouteEvent& e : events) {
        HostSkipped sk;
        const std::optional<ipv4::StaticRoute> s = static_route_of(e.route, sk);
        if (!s) return false;
        out.push_back({.add = e.add, .replace = e.replace, .route = *s});
    }
    return true;
}

}  // namespace ingress::daemon
