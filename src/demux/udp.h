// UDP receive: validation, socket lookup, unicast delivery and multicast/broadcast fan-out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/counters.h"
#include "core/packet.h"
#include "core/verdict.h"
#include "demux/endpoint_table.h"
#include "ipv4/icmp_send.h"
#include "ipv4/mc_groups.h"
#include "ipv4/pmtu.h"

namespace ingress::demux {

struct IcmpRcvTrace;  // demux/icmp_rcv.h

// What local delivery needs besides the packet: the published table, the worker's
// counters, its ICMP sender (nullptr: never send) and the burst's time.
struct DemuxEnv {
    const EndpointTable& table;
    core::CounterBlock& c;
    ipv4::IcmpSender* icmp = nullptr;
    uint64_t now_ns = 0;
    const DeliveryCtx* delivery = nullptr;  // the delivering worker; nullptr = worker 0
    ipv4::PmtuCache* pmtu = nullptr;        // the worker's PMTU exceptions (icmp_err.h)
    IcmpRcvTrace* icmp_trace = nullptr;     // icmp_rcv's outcome (observed bursts only)
    // Verify every checksum before queueing instead of leaving long datagrams to the reader
    // (the kernel's way): for benchmarks that measure what the deferral saves the worker.
    bool csum_at_queue = false;
    // The generation of the route tables the burst used: udp_rcv caches the input route in
    // the endpoint early demux found (kFlagEarlySk: udp_sk_rx_dst_set), keyed by it.
    uint64_t route_generation = 0;
    // The batch is answers the dataplane sent to its own addresses, received again on lo
    // (ipv4/icmp_send.h, "Looped back"): the kernel never sees them, so local delivery
    // keeps every one (worker/pipeline.cc).
    bool looped = false;
    // The options of the datagram being delivered, as ip_options_rcv_write() left them in its
    // header (the kernel's IPCB(skb)->opt): set by local_deliver_finish() for a datagram with
    // ihl > 5, null otherwise. Answers echo them; IP_RECVOPTS/IP_RETOPTS give them to apps.
    const ipv4::IpOptions* ip_opt = nullptr;
};

// net.ipv4.ip_early_demux and net.ipv4.udp_early_demux (both 1 by default).
struct EarlyDemuxConfig {
    bool ip_early_demux = true;
    bool udp_early_demux = true;
    bool on() const noexcept { return ip_early_demux && udp_early_demux; }
};

// Kernel-equivalent: net/ipv4/udp.c __udp4_lib_demux_lookup(): the first endpoint of the
// datagram's (daddr, dport) slot, if it is connected and matches the whole 4-tuple and the
// device (inet_match); nullptr otherwise. For unicast (PACKET_HOST), non-fragment UDP
// datagrams with a whole header.
UdpEndpoint* udp_demux_lookup(const core::Packet& pkt, const EndpointTable& t) noexcept;

// Kernel-equivalent: net/ipv4/udp.c __udp4_lib_mcast_demux_lookup(): the one endpoint of
// the datagram's (daddr, dport) and (0, dport) slots that __udp_is_mcast_sock() accepts
// (source filter included); nullptr when none or several do, or when the slots hold more
// than kMcastDemuxMaxScan entries ("do not bother scanning a too big list": the kernel
// counts its port slot, which also holds the port's endpoints bound to other unicast
// addresses; this counts the two slots it would match in). For multicast (PACKET_MULTICAST),
// non-fragment UDP datagrams with a whole header.
inline constexpr std::size_t kMcastDemuxMaxScan = 10;
const UdpEntry* udp_mcast_demux_lookup(const core::Packet& pkt, const EndpointTable& t) noexcept;

// Kernel-equivalent: net/ipv4/ip_input.c ip_rcv_finish_core()'s early demux ->
// net/ipv4/udp.c udp_v4_early_demux(). Unicast: the endpoint udp_demux_lookup() finds;
// multicast, for a group the arrival interface joined (ip_check_mc_rcu against `mc`): the
// one udp_mcast_demux_lookup() finds. When that endpoint's cached input route (sk_rx_dst)
// is still valid (dst_check: the same tables generation), it becomes the datagram's route,
// so route_input skips the lookup and with it rp_filter and the martian checks (it still
// runs ip_rcv_options and the L2 checks) - except that for an unconnected multicast
// endpoint route_input still validates the source (ip_mc_validate_source: kFlagRxDstValidate).
// An endpoint's first datagram has no cached route: it takes the full lookup and udp_rcv
// caches the result. The route is not checked against the input interface (UDP has no
// sk_rx_dst_ifindex test): a datagram of the same 4-tuple arriving on another interface
// reuses it.
// Reads:  pkt.saddr, pkt.daddr, pkt.ip_proto, pkt.l4_off, pkt.pkt_type, pkt.ifindex, UDP ports.
// Writes: pkt.route_type, pkt.flags (kFlagRxDst, kFlagRxDstValidate) when the cached route
//         applies; pkt.flags kFlagEarlySk when an endpoint was found without one.
// Next:   route_input. Drops: none. Counts: nothing.
core::Verdict udp_v4_early_demux(core::Packet& pkt, const EndpointTable& t,
                                 const ipv4::McGroups& mc, uint64_t route_generation) noexcept;

// Kernel-equivalent: net/ipv4/udp.c __udp4_lib_lookup() with udp4_lib_lookup2(),
// compute_score(), inet_lookup_run_sk_lookup() and reuseport_select_sock():
//   1. the (daddr, dport) slot, best score; a connected winner is final;
//   2. the sk_lookup programs (the hook, then the bindings of demux/sk_lookup.h), which may
//      pick an endpoint or refuse;
//   3. the address-bound winner of step 1;
//   4. the (0.0.0.0, dport) slot, best score.
// A winner in a SO_REUSEPORT group is replaced by the member the 4-tuple hash picks.
// nullptr: no endpoint (or the hook refused).
// `tr` (ingressctl trace; null on the packet path) gets how the winner was found.
enum class UdpLookupStep : uint8_t { kNone, kConnected, kHook, kBound, kWildcard };
struct UdpLookupTrace {
    int score = -1;           // compute_score() of the last best entry (-1: none scored)
    UdpLookupStep step{};     // which step of the lookup found the winner
    uint16_t group_size = 0;  // SO_REUSEPORT group the pick came from (0: none)
    uint16_t pick = 0;        // the member reuseport_select_sock_by_hash() chose
    int32_t binding = -1;     // the binding (sk_lookup.h) that matched (-1: none)
};
UdpEndpoint* udp4_lib_lookup(const EndpointTable& t, wire::Ipv4Addr saddr, uint16_t sport,
                             wire::Ipv4Addr daddr, uint16_t dport, uint32_t dif,
                             UdpLookupTrace* tr = nullptr) noexcept;

// Kernel-equivalent: net/ipv4/udp.c __udp4_lib_rcv(), udp4_csum_init(),
// __udp4_lib_mcast_deliver(), udp_queue_rcv_skb() / __udp_queue_rcv_skb().
// Reads:  pkt.l4_off, pkt.len, pkt.saddr, pkt.daddr, UDP header and payload bytes,
//         pkt.route_type, pkt.ifindex,
//         pkt.flags (kFlagL4CsumGood), pkt.rx_ns, pkt.pkt_type, pkt.vlan_*.
// Writes: pkt.len (trimmed to the UDP length); endpoint queues.
// Next:   delivered (to one or more endpoints).
// Drops:  PKT_TOO_SMALL (no header, ulen vs IP payload), UDP_CSUM, NO_SOCKET (unicast with
//         no endpoint: NoPorts + ICMP port unreachable; multicast/broadcast with no
//         endpoint: IgnoredMulti), SOCKET_RCVBUFF (every matching queue was full).
// Counts: UdpInDatagrams, UdpNoPorts, UdpInErrors, UdpInCsumErrors, UdpRcvbufErrors,
//         UdpIgnoredMulti (+ the ICMP counters through IcmpSender).
core::Verdict udp_rcv(core::Packet& pkt, DemuxEnv& env) noexcept;

// The burst-ahead walk before udp_rcv() runs on a burst: for every unicast UDP datagram,
// the cache is asked for what its delivery will touch, one level per pass over the burst
// (the (daddr, dport) hash2 slot; its first entry; the endpoint; its rings; the worker's
// producer; the ring's header lines and next slot), so the misses of different datagrams
// overlap instead of each delivery waiting for its own chain of them. Hints only: nothing
// is decided or written, and the lookup proper runs unchanged in udp_rcv().
// Runs only when the table has more than kPrefetchMinEndpoints UDP entries: below that the
// endpoints' state stays in the core's caches and the passes are pure cost (bench_pipeline,
// same run on a 1 MB-L2 core: 512 endpoints 12.2-12.4 Mpps without the walk, 10.9-11.7
// with; 10,000 endpoints 2.4 without, 2.6-3.3 with).
inline constexpr std::size_t kPrefetchMinEndpoints = 2048;
void udp_prefetch(std::span<const core::Packet> pkts, const EndpointTable& t,
                  uint16_t worker) noexcept;

}  // namespace ingress::demux
