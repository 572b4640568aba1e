// ICMP input for the destinations the dataplane owns.
#pragma once

#include "core/packet.h"
#include "core/verdict.h"
#include "demux/local_deliver.h"
#include "demux/udp.h"

namespace ingress::demux {

// What icmp_rcv() did with a message, for `ingressctl trace` (worker/observe.h: the
// icmp_rcv stage). Written only when DemuxEnv::icmp_trace is set (observed bursts).
enum class IcmpRcvOutcome : uint8_t {
    kNotRun,             // icmp_rcv() did not see the message
    kCsumError,          // skb_checksum_simple_validate failed
    kTooShort,           // shorter than the header (or a timestamp's 4 data bytes)
    kIgnoredBroadcast,   // echo/timestamp to broadcast: net.ipv4.icmp_echo_ignore_broadcasts
    kBroadcastDiscard,   // any other type to broadcast/multicast (RFC 1122 3.2.2.6)
    kEchoReplyNoSocket,  // ping_rcv(): no ping endpoint
    kUnknownType,        // type > NR_ICMP_TYPES
    kIgnoredEcho,        // echo: net.ipv4.icmp_echo_ignore_all
    kReplySent,          // icmp_reply() queued the reply
    kReplyRateLimited,   // icmp_reply(): a rate limit (icmp_ratemask has the reply's type)
    kReplyNotSent,       // icmp_reply(): no route back or not answerable (icmp_send's rules)
    kReplyNoBuffer,      // icmp_reply(): no buffer (IcmpOutErrors)
    kErrorToSockets,     // icmp_unreach() -> icmp_socket_deliver()
    kRedirect,           // icmp_redirect(): no routes to learn here
    kDiscard,            // icmp_discard()
};
const char* icmp_rcv_outcome_name(IcmpRcvOutcome o) noexcept;
struct IcmpRcvTrace {
    uint8_t type = 0, code = 0;
    IcmpRcvOutcome outcome = IcmpRcvOutcome::kNotRun;
};

// Whether the kernel keeps this ICMP message although its destination is ours: what only the
// kernel's sockets can use. An echo reply (ping_rcv: the host's ping sockets) and an error
// (destination unreachable, source quench, redirect, time exceeded, parameter problem) that
// quotes a datagram of a protocol the kernel handles (`kernel_handles`: TCP, IGMP; a redirect
// updates the kernel's routes whatever it quotes). The XDP program and the DPDK steering make
// the same choice at receive (xdp/ingress.bpf.c); this is the pipeline's copy of the rule for
// capture_all and for anything the steering let through. Reads the ICMP header and the quoted
// IP header's protocol, when present; a message too short to tell is ours.
bool icmp_kernel_keeps(const core::Packet& pkt, const LocalDeliverConfig& cfg) noexcept;

// Kernel-equivalent: net/ipv4/icmp.c icmp_rcv() and its handlers, after the raw copies
// (ip_local_deliver_finish calls raw_local_deliver first; local_deliver_finish does too):
//   IcmpInMsgs; the checksum (skb_checksum_simple_validate: IcmpInCsumErrors + IcmpInErrors,
//   ICMP_CSUM); shorter than the 8-byte header: IcmpInErrors; IcmpMsgInTypeN (types <= 18)
//   and the matching Icmp InX counter (icmpmibmap);
//   to a broadcast/multicast route: echo and timestamp are dropped (INVALID_PROTO,
//   IcmpInErrors) when icmp_echo_ignore_broadcasts, and every other type but echo,
//   timestamp and address mask is;
//   echo reply: ping_rcv, no ping endpoints here (NO_SOCKET; icmp_kernel_keeps passes them
//   before this when the frame can still reach the kernel);
//   type > 18: UNHANDLED_PROTO, IcmpInErrors;
//   echo (icmp_echo): ignored when icmp_echo_ignore_all, else an echo reply (icmp_reply);
//   timestamp (icmp_timestamp): shorter than 4 data bytes -> IcmpInErrors, PKT_TOO_SMALL;
//   else a timestamp reply with the receive and transmit times in ms since midnight UT;
//   dest unreachable, source quench, time exceeded, parameter problem (icmp_unreach): the
//   quoted header is checked (at least 20 bytes, ihl >= 5, ihl * 4 + 8 bytes quoted:
//   IcmpInErrors otherwise), errors about a broadcast destination are ignored unless
//   icmp_ignore_bogus_error_responses is 0, frag-time exceeded and unknown unreachable codes
//   go no further; then icmp_socket_deliver (demux/icmp_err.h) with icmp_unreach's info
//   (frag needed: the next-hop MTU, as with ip_no_pmtu_disc 0; parameter problem: the
//   pointer): raw_icmp_error() to the raw endpoints of the quoted protocol, then for UDP
//   __udp4_lib_err() to the endpoint that sent the quoted datagram (none: IcmpInErrors):
//   the pending error, the IP_RECVERR queue, and the PMTU of frag needed (env.pmtu);
//   redirect, and the types the kernel discards (1, 2, 6, 7, 9, 10, 14-18): consumed.
// A reply's source is fib_compute_spec_dst(): the destination when it was ours (LOCAL), else
// the arrival interface's primary address (IcmpSender::spec_dst).
// A request carrying IP options is answered with their echo (ip_options_echo() in
// icmp_reply(): record route and timestamp with our entries, the source route reversed;
// IcmpSender says how), from the header local_deliver_finish() wrote (env.ip_opt).
// Deliberately not done: ICMP extended echo (type 42, PROBE; icmp_echo_enable_probe is 0 by
// default: the kernel answers nothing either, but counts it in IcmpMsgInType42, which has no
// slot here), learning redirects (the dataplane forwards nothing).
// Reads:  pkt.l4_off, pkt.len, ICMP bytes, pkt.route_type, pkt.saddr, pkt.daddr, pkt.tos.
// Writes: endpoints' pending errors and error queues, the worker's PMTU cache;
//         *env.icmp_trace, when set (the type, code and IcmpRcvOutcome).
// Next:   delivered (consumed).
// Drops:  ICMP_CSUM, PKT_TOO_SMALL, INVALID_PROTO, UNHANDLED_PROTO, NO_SOCKET, IP_INHDR,
//         NOT_SPECIFIED.
// Counts: IcmpInMsgs, IcmpInErrors, IcmpInCsumErrors, IcmpMsgInTypeN, Icmp InX; the replies'
//         output counters through IcmpSender.
core::Verdict icmp_rcv(core::Packet& pkt, DemuxEnv& env) noexcept;

}  // namespace ingress::demux
