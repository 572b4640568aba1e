// Interface-level multicast memberships: which groups each interface has joined, and with
// which source filters, as the sum of the sockets' memberships.
//
// Kernel-equivalent: net/ipv4/igmp.c, struct ip_mc_list per (in_device, group) with
// sfcount[MCAST_INCLUDE/EXCLUDE] (how many sockets joined in each mode) and per-source
// sf_count[] (how many of those sockets list the source); ip_mc_inc_group()/ip_mc_dec_group()
// and ip_mc_add_src()/ip_mc_del_src() maintain them; ip_check_mc_rcu() answers "do we want
// this datagram" for the input route. ip_mc_up() joins 224.0.0.1 (all-hosts) on every
// interface in EXCLUDE mode with no sources.
//
// The per-socket filters (ip_mc_sf_allow, which socket gets a copy) belong to the demux.
// A McGroups value is immutable once published; the control plane edits a copy.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "wire/ipv4.h"

namespace ingress::ipv4 {

enum class McFilterMode : uint8_t { kInclude, kExclude };  // MCAST_INCLUDE, MCAST_EXCLUDE

inline constexpr wire::Ipv4Addr kAllHostsGroup = wire::ipv4(224, 0, 0, 1);  // IGMP_ALL_HOSTS

class McGroups {
public:
    // ip_mc_up(): the interface joins 224.0.0.1 (one EXCLUDE {} membership).
    void add_interface(uint32_t ifindex);
    // One socket's membership: IP_ADD_MEMBERSHIP is (kExclude, {}); IP_ADD_SOURCE_MEMBERSHIP
    // is (kInclude, {S}); an EXCLUDE-mode socket with blocked sources is (kExclude, {S...}).
    void join(uint32_t ifindex, wire::Ipv4Addr group, McFilterMode mode,
              std::span<const wire::Ipv4Addr> sources = {});
    // Undoes one join() with the same arguments; false if there was no such membership.
    bool leave(uint32_t ifindex, wire::Ipv4Addr group, McFilterMode mode,
               std::span<const wire::Ipv4Addr> sources = {});

    // ip_check_mc_rcu(): for IGMP every joined group is ours; source 0.0.0.0 is tentatively
    // allowed; otherwise the source is wanted if an INCLUDE socket lists it or some EXCLUDE
    // socket does not block it.
    bool check(uint32_t ifindex, wire::Ipv4Addr group, wire::Ipv4Addr src,
               uint8_t proto) const noexcept;

    std::size_t size() const noexcept { return groups_.size(); }
    // The groups joined on `ifindex` (control plane: e.g. what the XDP program must let in).
    std::vector<wire::Ipv4Addr> groups_on(uint32_t ifindex) const;

private:
    struct Source {
        wire::Ipv4Addr addr = 0;
        uint32_t count[2] = {0, 0};  // sf_count[MCAST_INCLUDE], sf_count[MCAST_EXCLUDE]
    };
    struct Group {
        uint32_t ifindex = 0;
        wire::Ipv4Addr group = 0;
        uint32_t sfcount[2] = {0, 0};
        std::vector<Source> sources;  // sorted by addr
    };
    const Group* find(uint32_t ifindex, wire::Ipv4Addr group) const noexcept;
    std::vector<Group> groups_;  // sorted by (ifindex, group)
};

}  // namespace ingress::ipv4
