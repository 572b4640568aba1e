// The kernel's route types (include/uapi/linux/rtnetlink.h, RTN_*), with its numbering.
// The route stage stores the input route's type in Packet::route_type.
#pragma once

#include <cstdint>

namespace ingress::ipv4 {

enum class RouteType : uint8_t {
    kUnspec = 0,       // RTN_UNSPEC: not routed yet
    kUnicast = 1,      // RTN_UNICAST: a gateway or direct route (forwarding decision)
    kLocal = 2,        // RTN_LOCAL: one of our addresses
    kBroadcast = 3,    // RTN_BROADCAST: a broadcast address we accept locally
    kAnycast = 4,      // RTN_ANYCAST
    kMulticast = 5,    // RTN_MULTICAST: a group we accept locally
    kBlackhole = 6,    // RTN_BLACKHOLE: silently discard
    kUnreachable = 7,  // RTN_UNREACHABLE: discard, host unreachable
    kProhibit = 8,     // RTN_PROHIBIT: discard, communication administratively prohibited
    kThrow = 9,        // RTN_THROW
};

inline RouteType route_type_of(uint8_t v) noexcept {
    return static_cast<RouteType>(v);
}

}  // namespace ingress::ipv4
