// What a port's backend hands to the dataplane instead of the kernel: frames for some IPv4
// destinations and IP protocols, or every frame (capture_all). The AF_XDP backend steers with
// its XDP program's maps (xdp/ingress_xdp.h, XdpProgram), the DPDK backend in its receive
// path (DpdkBackend); the daemon drives either through this interface, from its control
// thread (src/daemon/steering.h keeps it equal to the route tables). Not per packet.
#pragma once

#include <cstdint>

#include "ipv4/route_type.h"
#include "wire/ipv4.h"

namespace ingress::io {

class Steering {
public:
    virtual ~Steering() = default;
    // Frames for `addr`/`prefix_len` (whose input route is `type`: kLocal, kBroadcast or
    // kMulticast) go to the dataplane: one address (32), or every address of a prefix (an
    // AnyIP local route); false when the backend has no room for another destination.
    [[nodiscard]] virtual bool add_dst(wire::Ipv4Addr addr, uint8_t prefix_len,
                                       ipv4::RouteType type) = 0;
    virtual void remove_dst(wire::Ipv4Addr addr, uint8_t prefix_len) = 0;
    // Whether datagrams of IP protocol `protocol` for those destinations go to the dataplane
    // (UDP at first; TCP, ICMP, IGMP and the rest stay with the kernel).
    virtual void set_protocol(uint8_t protocol, bool take) = 0;
    // Every frame to the dataplane (full capture).
    virtual void set_capture_all(bool on) = 0;
};

}  // namespace ingress::io
