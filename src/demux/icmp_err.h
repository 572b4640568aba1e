// ICMP errors handed to the endpoints they concern.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/packet.h"
#include "demux/udp.h"

namespace ingress::demux {

// One ICMP error as icmp_unreach() passes it on (icmp_socket_deliver): the message's type
// and code, its `info` (frag needed: the next-hop MTU; parameter problem: the pointer; else
// 0), and the quoted datagram (its IP header, `ihl` bytes, then at least 8 bytes).
struct IcmpError {
    uint8_t type = 0;
    uint8_t code = 0;
    uint32_t info = 0;
    std::span<const uint8_t> quoted;
    std::size_t ihl = 20;
};

// What the error means to a socket: icmp_err_convert[] and the type switch of
// __udp4_lib_err() / raw_err(). `err` 0: nothing to report (source quench; frag needed with
// IP_PMTUDISC_DONT on UDP).
struct SockErr {
    uint32_t err = 0;      // errno
    bool harderr = false;  // icmp_err_convert[].fatal, or the type's own rule
};
SockErr udp_err_of(uint8_t type, uint8_t code, PmtuDisc pmtudisc) noexcept;
SockErr raw_err_of(uint8_t type, uint8_t code, PmtuDisc pmtudisc) noexcept;

// Kernel-equivalent: net/ipv4/raw.c raw_icmp_error() -> raw_err(), for every raw endpoint
// of the quoted datagram's protocol that raw_v4_match()es it as the sender (its connected
// address 0 or the quoted destination, its bound address 0 or the quoted source, its device
// binding 0 or the arrival interface):
//   frag needed: the destination's PMTU is recorded (ipv4_sk_update_pmtu, env.pmtu);
//   neither IP_RECVERR nor connected: nothing more;
//   err/harderr from raw_err_of(); IP_RECVERR: an error-queue entry (ip_icmp_error: the
//   payload after the quoted IP header); IP_RECVERR or harderr: the pending error.
// Runs before the protocol's handler, as icmp_socket_deliver() calls it.
void raw_icmp_error(const core::Packet& pkt, const IcmpError& e, DemuxEnv& env) noexcept;

// Kernel-equivalent: net/ipv4/udp.c __udp4_lib_err(): the endpoint that sent the quoted
// datagram (__udp4_lib_lookup with the quoted addresses reversed: its destination is the
// remote side); none -> false (the caller counts IcmpInErrors). Then:
//   frag needed: the PMTU is recorded, and with IP_PMTUDISC_DONT nothing more;
//   source quench: nothing;
//   without IP_RECVERR only a hard error on a connected endpoint is reported;
//   with IP_RECVERR an error-queue entry (ip_icmp_error: the payload after the quoted UDP
//   header, msg_name the quoted destination and port, the ICMP sender as SO_EE_OFFENDER);
//   then the pending error: sk->sk_err = err, and the app is woken.
// An error-queue entry is charged the ICMP message's truesize to the endpoint's receive
// budget (the datagrams' sk_rmem_alloc); one that would reach sk_rcvbuf (sock_queue_err_skb()
// refuses at >=), or finds the queue's slots full, is lost, counted only in the endpoint's
// error queue drops, as the kernel counts nothing; the pending error is set regardless.
bool udp4_lib_err(const core::Packet& pkt, const IcmpError& e, DemuxEnv& env) noexcept;

}  // namespace ingress::demux
