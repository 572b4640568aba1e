// The kernel's side of the apps' multicast joins. An app's join is an interface-level
// membership in the dataplane's route tables (ip_mc_inc_group's bookkeeping), but on a real
// NIC two things only the kernel does make the group's traffic arrive at all: programming
// the NIC's multicast MAC filter (dev_mc_add -> ndo_set_rx_mode) and answering the routers'
// IGMP queries with membership reports (igmp_send_report). So ingressd joins the same group
// on the same interface in the kernel, with one plain UDP socket per (interface, group)
// holding an IP_ADD_MEMBERSHIP (ip_mc_join_group), and closes it when the last member
// leaves, which makes the kernel send the leave and drop the filter entry.
//
// The socket is never bound, so no datagram is ever queued on it (udp_v4_mcast_deliver
// matches on the port); the XDP program redirects the group's UDP before the kernel's
// stack sees it anyway, and passes IGMP to the kernel, which keeps its membership state.
//
// One socket per membership rather than one socket for all: a socket may hold at most
// net.ipv4.igmp_max_memberships (20) groups. The kernel's join is any-source (EXCLUDE {}):
// an app's source filter is applied by the dataplane, and the upstream report asks for the
// union, which is what the kernel reports too when two sockets filter differently.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "wire/ipv4.h"

namespace ingress::daemon {

using Membership = std::pair<uint32_t, wire::Ipv4Addr>;  // (kernel ifindex, group)

class KernelMemberships {
public:
    KernelMemberships() = default;
    ~KernelMemberships();  // closing the sockets leaves every group
    KernelMemberships(const KernelMemberships&) = delete;
    KernelMemberships& operator=(const KernelMemberships&) = delete;

    // Joins what `want` has and this does not, leaves what this has and `want` does not.
    // A join the kernel refuses (no such device, the group limit of the interface) is
    // reported on stderr once per membership and retried at the next sync; the dataplane's
    // own membership stands either way.
    void sync(const std::set<Membership>& want);
    std::set<Membership> joined() const;

private:
    std::map<Membership, int> socks_;
    std::set<Membership> refused_;  // reported already
};

}  // namespace ingress::daemon
