#include "daemon/host_state.h"

namespace ingress::daemon {

ipv4::RouteConfig overlay_kernel_host(ipv4::RouteConfig base, const KernelHost& k,
                                      HostSkipped* skipped) {
    HostSkipped sk;
    ipv4::RouteConfig rc;
    rc.all = base.all;
    rc.mc = std::move(base.mc);
    for (const KernelLink& l : k.links) {
        ipv4::IfConfig i{.ifindex = l.ifindex, .name = l.name, .loopback = l.loopback};
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
    using ipv4::RouteType;
    for (const KernelRoute& r : k.routes) {
        if (r.protocol == kRtProtKernel) continue;  // derived again from the addresses
        if (r.table != kRtTableMain && r.table != kRtTableLocal) {
            ++sk.other_table;
            continue;
        }
        if (r.multipath) {
            ++sk.multipath;
            continue;
        }
        if (r.nexthop_id) {
            ++sk.nexthop;
            continue;
        }
        const auto t = ipv4::route_type_of(r.type);
        const bool local_table_type = t == RouteType::kLocal || t == RouteType::kBroadcast;
        const bool main_table_type = t == RouteType::kUnicast || t == RouteType::kBlackhole ||
                                     t == RouteType::kUnreachable || t == RouteType::kProhibit;
        if (r.table == kRtTableLocal ? !local_table_type : !main_table_type) {
            ++sk.other_type;
            continue;
        }
        rc.routes.push_back({.prefix = r.prefix,
                             .prefix_len = r.prefix_len,
                             .type = t,
                             .oif = r.oif,
                             .via_gateway = r.gateway});
    }
    if (skipped) *skipped = sk;
    return rc;
}

}  // namespace ingress::daemon
