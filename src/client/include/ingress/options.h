// What an app asks for when it opens an endpoint: the socket calls and options each open
// stands for. libingress's Client takes them, the control protocol carries them field for
// field (ctl/protocol.h encodes and decodes them), and ingressd's registry applies them.
#pragma once

#include <cstdint>
#include <string>

namespace ingress {

struct UdpOptions {
    uint32_t addr = 0;         // host order; 0 = INADDR_ANY
    uint16_t port = 0;         // 0 = an ephemeral port
    uint32_t remote_addr = 0;  // connect()
    uint16_t remote_port = 0;
    uint32_t ifindex = 0;  // SO_BINDTODEVICE
    bool reuseport = false;
    bool reuseaddr = false;
    bool multicast_all = true;
    uint32_t ring_slots = 0;  // 0 = the daemon's default
    // SO_RCVBUF in bytes, as given to setsockopt (the daemon clamps it to net.core.rmem_max
    // and doubles it); 0 = never set: net.core.rmem_default, as a fresh socket has.
    uint32_t rcvbuf = 0;
    // IP_RECVERR (default off, as the kernel's): ICMP errors about what this endpoint sent
    // are queued for recv_error(), and every one is reported by the next recv; off, only a
    // connected endpoint is told, and only of hard errors (ECONNREFUSED, ...).
    bool recverr = false;
};

struct RawOptions {
    uint8_t protocol = 0;  // IPPROTO_*
    uint32_t addr = 0;
    uint32_t remote_addr = 0;
    uint32_t ifindex = 0;
    uint32_t icmp_filter = 0;  // ICMP_FILTER
    bool multicast_all = true;
    uint32_t ring_slots = 0;
    bool recverr = false;  // IP_RECVERR, as UdpOptions::recverr
};

struct TapOptions {
    uint16_t ethertype = 0x0003;  // ETH_P_ALL
    uint32_t ifindex = 0;
    bool dgram = false;  // SOCK_DGRAM framing (from the network header)
    std::string filter;  // pcap expression
    bool fanout = false;
    uint16_t fanout_group = 0;
    uint8_t fanout_mode = 0;  // 0 hash, 1 round robin
    uint32_t ring_slots = 0;
    // PACKET_IGNORE_OUTGOING: no copies of the frames the dataplane sends (default off, as a
    // fresh packet socket). For a fanout group, the group's (PACKET_FANOUT_FLAG_IGNORE_OUTGOING).
    bool ignore_outgoing = false;
};

}  // namespace ingress
