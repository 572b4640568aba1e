// IPv4 options of a received datagram.
//
// Kernel-equivalent: net/ipv4/ip_options.c __ip_options_compile() as ip_rcv_options() calls
// it (with an skb: the receive-side rules), every check in its order and with the same
// "pointer" (the offset of the offending byte from the start of the IP header, which the
// ICMP parameter problem carries in its top byte). Read only: the kernel also writes our
// address and a timestamp into record-route / timestamp options for datagrams it forwards or
// delivers; no datagram leaves this dataplane, so that is not done (see route.md).
#pragma once

#include <cstdint>
#include <span>

namespace ingress::ipv4 {

inline constexpr uint8_t kIpoptEnd = 0, kIpoptNoop = 1, kIpoptSec = 130, kIpoptLsrr = 131,
                         kIpoptTimestamp = 68, kIpoptCipso = 134, kIpoptRr = 7, kIpoptSid = 136,
                         kIpoptSsrr = 137, kIpoptRa = 148;

// struct ip_options, the parts the receive path uses (offsets from the IP header start).
struct IpOptions {
    bool ok = true;
    uint8_t error_ptr = 0;  // when !ok: pp_ptr - iph
    uint8_t srr = 0;        // offset of the LSRR/SSRR option, 0 if none
    bool is_strictroute = false;
    uint8_t rr = 0, ts = 0, router_alert = 0, cipso = 0;
};

// `header` is the whole IP header (ihl * 4 bytes, ihl > 5).
IpOptions ip_options_compile(std::span<const uint8_t> header) noexcept;

}  // namespace ingress::ipv4
