// `host: kernel`: the kernel's links, IPv4 addresses, routes and rules read through rtnetlink
// (libmnl), and a subscription to their changes. The control thread polls it between
// requests; a batch of notifications that are only route additions, deletions and
// replacements is applied from the notifications themselves (daemon/host_state.h
// route_edits() and RoutePublisher::apply(): the route list edited in place, the tables
// changed incrementally, route_tables.h); any other
// change (and an overflow of the subscription socket, ENOBUFS) is answered with a full
// dump, whose translation is published like a reload.
#pragma once

#include <cstdint>
#include <vector>

#include "daemon/host_state.h"

struct mnl_socket;

namespace ingress::daemon {

// One dump of links, IPv4 addresses, IPv4 routes (every table) and IPv4 rules. Throws
// std::runtime_error naming the failing request.
KernelHost dump_kernel_host();

// The subscription: RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV4_ROUTE, RTMGRP_IPV4_RULE,
// non-blocking.
class NetlinkWatch {
public:
    NetlinkWatch();  // throws std::runtime_error
    ~NetlinkWatch();
    NetlinkWatch(const NetlinkWatch&) = delete;
    NetlinkWatch& operator=(const NetlinkWatch&) = delete;

    // Reads every pending notification; true when any arrived or the socket overflowed
    // (then `overflows()` grew): the caller re-dumps. Never blocks.
    bool drain();
    // The last drain()'s notifications, when they were only IPv4 route additions and
    // deletions (at most kMaxRouteEvents, no overflow): true, with them in order.
    bool routes_only(std::vector<RouteEvent>& out) const;
    static constexpr std::size_t kMaxRouteEvents = 4096;
    int fd() const noexcept;  // readable when a notification waits
    uint64_t events() const noexcept { return events_; }
    uint64_t overflows() const noexcept { return overflows_; }

private:
    mnl_socket* nl_ = nullptr;
    uint64_t events_ = 0, overflows_ = 0;
    std::vector<RouteEvent> routes_;
    bool other_ = false;  // the last drain() saw something else than route notifications
};

}  // namespace ingress::daemon
