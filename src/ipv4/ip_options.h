// IPv4 options of a received datagram, and the options of the answers to it.
//
// Kernel-equivalent: net/ipv4/ip_options.c.
//   ip_options_compile(): __ip_options_compile() as ip_rcv_options() calls it (with an skb:
//     the receive-side rules), every check in its order and with the same "pointer" (the
//     offset of the offending byte from the start of the IP header, which the ICMP parameter
//     problem carries in its top byte). Read only: route_input validates with it.
//   ip_options_rcv_write(): the same walk with the writes the kernel makes into the received
//     header once the datagram has a route (skb_rtable set): record route gets spec_dst at
//     the pointer and the pointer moves on 4; timestamp gets the time (TSONLY), spec_dst and
//     the time (TSANDADDR), or the time when the prespecified address is ours (PRESPEC, the
//     pointer moving 8 either way it matches); a full timestamp option counts one more in its
//     overflow nibble; the bytes after an end-of-list are zeroed. The header checksum is NOT
//     recomputed: the kernel recomputes it only for datagrams it forwards
//     (ip_forward_options()), so a locally delivered datagram's header carries the stale
//     checksum of the bytes as they arrived, as raw sockets see it.
//     Where: the kernel writes in ip_rcv_finish_core() (after the route); this dataplane
//     writes at local delivery (demux::local_deliver_finish), before the raw copies, because
//     frames it passes to the kernel (forwarded, TCP, IGMP) must reach it as they arrived. No
//     observer sits between the two points: taps copy before route_input, and the first
//     fragment's header is the reassembled datagram's.
//   ip_options_echo(): __ip_options_echo(), the options of an answer (icmp_reply,
//     __icmp_send, IP_RETOPTS): record route and timestamp copied with what was recorded and
//     room grabbed for one more entry, the source route reversed (the reply goes to its
//     first hop, `faddr`), CIPSO copied, padded with end-of-list to 4 bytes.
//   ip_options_build(): ip_options_build() into the answer's header: the final destination
//     at the end of the reversed source route, the answer's source address into record route
//     / timestamp-with-address, the time into the timestamp.
//   ip_options_undo(): ip_options_undo(), as ip_cmsg_recv_retopts() applies it to the echo
//     (IP_RETOPTS gives options an app can pass to IP_OPTIONS).
//   ip_options_fragment(): ip_options_fragment(), the options of the fragments after the
//     first: those without the copied flag become no-ops.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "wire/ipv4.h"

namespace ingress::ipv4 {

class RouteTables;

inline constexpr uint8_t kIpoptEnd = 0, kIpoptNoop = 1, kIpoptSec = 130, kIpoptLsrr = 131,
                         kIpoptTimestamp = 68, kIpoptCipso = 134, kIpoptRr = 7, kIpoptSid = 136,
                         kIpoptSsrr = 137, kIpoptRa = 148;
// The timestamp option's flags (low nibble of its fourth byte).
inline constexpr uint8_t kIpoptTsTsonly = 0, kIpoptTsTsandaddr = 1, kIpoptTsPrespec = 3;
inline constexpr std::size_t kMaxIpOptionsLen = 40;

// struct ip_options, the parts the receive path uses (offsets from the IP header start).
struct IpOptions {
    bool ok = true;
    uint8_t error_ptr = 0;  // when !ok: pp_ptr - iph
    uint8_t optlen = 0;     // ihl * 4 - 20
    uint8_t srr = 0;        // offset of the LSRR/SSRR option, 0 if none
    bool is_strictroute = false;
    uint8_t rr = 0, ts = 0, router_alert = 0, cipso = 0;
    // The record route / timestamp had room for us (the pointer was advanced past our slot).
    bool rr_needaddr = false, ts_needaddr = false, ts_needtime = false;
    bool is_changed = false;  // ip_options_rcv_write() changed a byte of the header
};

// `header` is the whole IP header (ihl * 4 bytes, ihl > 5).
IpOptions ip_options_compile(std::span<const uint8_t> header) noexcept;

// What the receive-side writes read besides the header.
struct OptionsRcvEnv {
    wire::Ipv4Addr spec_dst = 0;  // fib_compute_spec_dst(): IcmpSender::spec_dst()
    uint32_t now_ms = 0;          // inet_current_timestamp(): ms since midnight UT
    // inet_addr_type() for PRESPEC timestamps: an address is ours when the route tables give
    // it a local or broadcast type (null: no address is).
    const RouteTables* routes = nullptr;
};
// `header` as above, writable. Returns what ip_options_compile() returns, with the
// *_needaddr/needtime flags and is_changed.
IpOptions ip_options_rcv_write(std::span<uint8_t> header, const OptionsRcvEnv& env) noexcept;

// The options of an answer (struct ip_options with its __data).
struct IpOptionsEcho {
    std::array<uint8_t, kMaxIpOptionsLen> data{};
    uint8_t optlen = 0;                          // a multiple of 4; 0: the answer has no options
    uint8_t rr = 0, ts = 0, srr = 0, cipso = 0;  // offsets from the IP header start
    bool rr_needaddr = false, ts_needaddr = false, ts_needtime = false, is_strictroute = false;
    wire::Ipv4Addr faddr = 0;  // srr: the first hop, where the answer is routed
};
// `header`: the received header as ip_options_rcv_write() left it, `sopt` what it returned,
// `saddr` the received datagram's source. false: the kernel's -EINVAL (no answer is sent).
[[nodiscard]] bool ip_options_echo(std::span<const uint8_t> header, const IpOptions& sopt,
                                   wire::Ipv4Addr saddr, const RouteTables* routes,
                                   IpOptionsEcho& out) noexcept;
// Writes `e` into the answer's header at `iph` (20 + e.optlen bytes; the base header's
// checksum is the caller's, after this): `daddr` the answer's final destination (the
// received datagram's source), `src` the answer's source address, `now_ms` the time.
void ip_options_build(uint8_t* iph, const IpOptionsEcho& e, wire::Ipv4Addr daddr,
                      wire::Ipv4Addr src, uint32_t now_ms) noexcept;
void ip_options_undo(IpOptionsEcho& e) noexcept;
// The `optlen` option bytes at `opts` (after the base header) for a fragment other than the
// first.
void ip_options_fragment(uint8_t* opts, std::size_t optlen) noexcept;

}  // namespace ingress::ipv4
