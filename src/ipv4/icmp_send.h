// ICMP error generation.
//
// Kernel-equivalent: net/ipv4/icmp.c __icmp_send() with icmpv4_global_allow() and
// icmpv4_xrlim_allow() (net.ipv4.icmp_ratelimit / icmp_ratemask / icmp_msgs_per_sec /
// icmp_msgs_burst). The decision whether to answer is the kernel's:
//   - never about a frame that was not PACKET_HOST (L2 broadcast/multicast),
//   - never about a datagram routed as BROADCAST or MULTICAST,
//   - never about a fragment other than the first (offset != 0),
//   - never an error about an ICMP error (unknown ICMP types count as errors),
//   - never when no route leads back to the offending datagram's source (icmp_route_lookup
//     fails where fib_lookup() fails: no route, or a blackhole / unreachable / prohibit /
//     throw one; through the policy rules), checked after the global limit and before the
//     per-host one, as __icmp_send does; nothing is counted.
//     The error leaves by the arrival interface to the sender's MAC, unless that route is
//     LOCAL (see "Looped back" below),
//   - then the global token bucket (icmp_global_allow: allowed while credit is left) and the
//     per-destination limit (inet_peer_xrlim_allow: 6 back to back, then one per
//     icmp_ratelimit); a global credit is spent only when the per-destination limit also
//     allowed the message (icmp_global_consume, after icmpv4_xrlim_allow). Both apply only to
//     the types in icmp_ratemask (default: dest unreachable, source quench, time exceeded,
//     parameter problem) and never to "fragmentation needed".
// The message quotes as much of the offending datagram as fits in 576 bytes, as the kernel
// does (RFC 1812 §4.3.2.3), not only the header + 8 bytes of RFC 792.
// The frame is built in a backend buffer and queued on the worker's TxQueue; it leaves in
// the burst's single tx_burst.
//
// Replies (icmp_reply(): echo and timestamp replies, built by demux::icmp_rcv) go the same
// way: the same global limit, route back and per-host limit, applied only when icmp_ratemask
// has the reply's type (by default it has neither 0 nor 14, so replies are not limited).
// Options: an answer to a datagram that carried options carries their echo
// (ip_options_echo(): record route and timestamp with what was recorded plus our entry, the
// source route reversed, CIPSO), padded to 4 bytes, in a header of ihl > 5; its checksum
// covers them. With a source route the answer is routed to the reversed route's first hop
// (`faddr`, as icmp_reply() and icmp_route_lookup() do) and that is its IP destination; the
// final destination is the route's last entry. The frame still goes to the MAC the request
// came from, which is that first hop's whenever the datagram followed its route (the last
// hop recorded its address into the route). An echo the kernel refuses (-EINVAL: a record
// route or timestamp with no room for a whole entry) means no answer, nothing counted. The
// error quotes `optlen` bytes less (room = 576 - header - options - ICMP header).
// Looped back: when the route back is LOCAL (the offending datagram came from one of our own
// addresses, accept_local; or a source route's first hop is ours) the kernel's answer leaves
// by `lo` (ip_route_output: RTN_LOCAL -> dev_out = loopback_dev) and loopback_xmit() hands it
// straight to its own ip_rcv(): nothing reaches the wire. The answer is then built with
// lo's Ethernet header (zero MACs, no tag), counted as sent (as below), and queued on
// looped() instead of the TX queue; the pipeline takes it in after the burst as a datagram
// received on lo with its output route (LOCAL, no input route, no early demux): ip_rcv_core,
// ip_local_deliver, icmp_rcv. The per-host limit never applies on loopback
// (icmpv4_xrlim_allow: "No rate limit on loopback"), though a global credit is spent. lo's
// MTU (65536) means a looped reply is never fragmented; a datagram larger than a buffer is
// not built (IcmpOutErrors).
// Every datagram sent is counted as the kernel's output path counts it: icmp_out_count()
// (IcmpOutMsgs, the per-type Icmp and IcmpMsg OutTypeN counters), IpOutRequests per datagram,
// IpOutTransmits and IpExtOutOctets per frame (ip_finish_output2, fragments one by one).
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "core/counters.h"
#include "core/packet.h"
#include "io/backend.h"
#include "io/tx_queue.h"
#include "ipv4/ip_options.h"
#include "wire/ipv4.h"

namespace ingress::ipv4 {

class RouteTables;

// CLOCK_REALTIME as milliseconds since midnight UT (inet_current_timestamp()).
uint32_t realtime_ms_of_day() noexcept;

struct IcmpConfig {
    uint32_t icmp_ratelimit_ms = 1000;        // net.ipv4.icmp_ratelimit (ms per token, per host)
    uint32_t icmp_ratemask = 0x1818;          // net.ipv4.icmp_ratemask: types 3, 4, 11, 12
    uint32_t icmp_msgs_per_sec = 1000;        // net.ipv4.icmp_msgs_per_sec
    uint32_t icmp_msgs_burst = 50;            // net.ipv4.icmp_msgs_burst
    uint8_t ip_default_ttl = 64;              // net.ipv4.ip_default_ttl
    bool icmp_echo_ignore_all = false;        // net.ipv4.icmp_echo_ignore_all
    bool icmp_echo_ignore_broadcasts = true;  // net.ipv4.icmp_echo_ignore_broadcasts
    bool icmp_ignore_bogus_error_responses = true;  // net.ipv4.icmp_ignore_bogus_error_responses
    // The ports' MTU: a reply larger than this leaves in fragments (ip_fragment(), the ICMP
    // socket is IP_PMTUDISC_DONT). ingressd does not read the link MTU: 1500 (ETH_DATA_LEN).
    uint16_t mtu = 1500;
    // inet_current_timestamp() for timestamp replies: CLOCK_REALTIME (vDSO, no system call)
    // as milliseconds since midnight UT; tests inject their own.
    uint32_t (*wall_ms)() noexcept = &realtime_ms_of_day;
    friend bool operator==(const IcmpConfig&, const IcmpConfig&) = default;
};

enum class IcmpResult : uint8_t {
    kQueued,       // built and queued for transmission
    kNotAllowed,   // the kernel would not answer this packet (see above); nothing counted
    kRateLimited,  // suppressed by a rate limit (IcmpOutRateLimitGlobal / ...Host)
    kNoBuffer,     // no buffer or TX queue full (IcmpOutErrors)
};

class IcmpSender {
public:
    IcmpSender(io::Backend& backend, io::TxQueue& txq, const IcmpConfig& cfg) noexcept
        : backend_(backend), txq_(txq), cfg_(cfg) {}
    // The looped datagrams nobody took in go back to the backend.
    ~IcmpSender();
    IcmpSender(const IcmpSender&) = delete;
    IcmpSender& operator=(const IcmpSender&) = delete;

    // `offending`: the received packet, past rcv_core (its header fields set, bytes from
    // l3_off to len are the datagram; route_type set when the route stage has run). `src`: the
    // error's source address (the kernel uses the offending datagram's destination when it was
    // local, otherwise an address of the receiving interface). `info`: the 32-bit field after the
    // checksum (the pointer << 24 for parameter problems, the MTU for frag needed).
    // `opt`: the received datagram's options as ip_options_rcv_write() left them (IPCB opt;
    // for the route stage's parameter problems, as far as the compile got: route.cc
    // options_param_problem), null when it had none: the error then carries no options.
    IcmpResult send(const core::Packet& offending, uint8_t type, uint8_t code, uint32_t info,
                    wire::Ipv4Addr src, uint64_t now_ns, core::CounterBlock& c,
                    const IpOptions* opt = nullptr) noexcept;
    // icmp_reply(): the answer to a request `in` (echo, timestamp) back to its source, from
    // `src` (fib_compute_spec_dst()), with the request's TOS. `type`/`code`/`rest` make the
    // ICMP header, `body` follows it (an echo's data, a timestamp reply's three times).
    // Fragmented at IcmpConfig::mtu when larger.
    // `opt` as for send().
    IcmpResult reply(const core::Packet& in, uint8_t type, uint8_t code, uint32_t rest,
                     std::span<const uint8_t> body, wire::Ipv4Addr src, uint64_t now_ns,
                     core::CounterBlock& c, const IpOptions* opt = nullptr) noexcept;
    // fib_compute_spec_dst(): a reply's source. The destination when `in` was routed LOCAL;
    // else (broadcast, multicast) the arrival interface's primary address, which is the
    // kernel's answer (the preferred source of the route back, inet_select_addr) whenever
    // the sender is on one of that interface's subnets.
    wire::Ipv4Addr spec_dst(const core::Packet& in) const noexcept;
    const IcmpConfig& config() const noexcept { return cfg_; }
    // The knobs changed (ipv4/knobs.h): the next packet reads them; buckets keep their tokens.
    void set_config(const IcmpConfig& cfg) noexcept { cfg_ = cfg; }
    // ip_error()'s own limiter, before its icmp_send(): ip_rt_error_cost (1 s of tokens) from
    // the offending source's inet_peer, at most ip_rt_error_burst (5 s) saved up. The same
    // bucket icmpv4_xrlim_allow() then spends from (host_allow): a fresh peer gets two errors
    // back to back, not three. false: ip_error() sends nothing (and counts nothing).
    bool error_route_allow(wire::Ipv4Addr peer, uint64_t now_ns) noexcept;
    // inet_addr_type_dev_table(a) == RTN_BROADCAST (icmp_unreach's bogus-error check).
    bool is_broadcast(wire::Ipv4Addr a) const noexcept;
    uint32_t wall_ms() const noexcept { return cfg_.wall_ms(); }
    // The route tables the reply is routed with (the worker's snapshot for this burst);
    // null: every source is taken as reachable (stage tests without routes).
    void set_routes(const RouteTables* rt) noexcept { routes_ = rt; }
    const RouteTables* routes() const noexcept { return routes_; }
    // The answers routed to our own addresses (see "Looped back"), in the order sent: frames
    // with lo's Ethernet header, l3_off, pkt_type HOST, ifindex the loopback's and
    // no flags (the pipeline delivers them as a batch of their own: DemuxEnv::looped), their
    // buffers the caller's once taken.
    uint16_t looped() const noexcept { return loop_.size(); }
    uint16_t take_looped(core::Packet* out) noexcept { return loop_.take(out); }
    // ip_options_rcv_write()'s environment for a datagram `in` delivered locally: spec_dst,
    // the time, the route tables.
    OptionsRcvEnv options_env(const core::Packet& in) const noexcept {
        return {.spec_dst = spec_dst(in), .now_ms = wall_ms(), .routes = routes_};
    }

private:
    bool may_answer(const core::Packet& in, uint8_t type) const noexcept;
    // `local`: the route back is LOCAL (the answer is looped back).
    IcmpResult admit(wire::Ipv4Addr to, wire::Ipv4Addr from, uint8_t type, uint8_t code,
                     uint64_t now_ns, core::CounterBlock& c, bool& local) noexcept;
    // Ethernet (+ VLAN) header back to the sender of `in`, or lo's (`local`); returns its
    // length.
    static std::size_t write_l2(uint8_t* f, const core::Packet& in, bool local) noexcept;
    static std::size_t l2_len(const core::Packet& in, bool local) noexcept;
    // Where an answer built for `in` goes: the TX queue, or looped() (`local`); its packet's
    // interface and metadata set accordingly.
    [[nodiscard]] bool queue_out(core::Packet& out, const core::Packet& in, bool local) noexcept;
    // Count one datagram of `ip_len` bytes sent in `frames` frames of `wire_octets` IP bytes.
    static void out_count(uint8_t type, uint32_t frames, uint64_t ip_octets,
                          core::CounterBlock& c) noexcept;
    void build(uint8_t* f, const core::Packet& in, uint8_t type, uint8_t code, uint32_t info,
               wire::Ipv4Addr src, std::size_t quote, const IpOptionsEcho& echo,
               bool local) noexcept;
    // The answer's echoed options (none when `opt` is null or empty); false: the kernel's
    // ip_options_echo() failed and nothing is sent.
    bool echo_options(const core::Packet& in, const IpOptions* opt,
                      IpOptionsEcho& echo) const noexcept;
    bool global_allow(uint64_t now_ns) noexcept;
    void global_consume() noexcept;
    bool host_allow(wire::Ipv4Addr dst, uint64_t now_ns) noexcept;
    // The inet_peer of `addr` (inet_getpeer_v4() with create): a slot of peers_, fresh (as if
    // last seen 60 s ago) when it held another address.
    struct Peer;
    Peer& peer(wire::Ipv4Addr addr, uint64_t now_ns) noexcept;

    io::Backend& backend_;
    io::TxQueue& txq_;
    io::TxQueue loop_;  // looped-back answers, until the pipeline takes them in
    IcmpConfig cfg_;
    const RouteTables* routes_ = nullptr;
    // icmp_global: a token bucket of icmp_msgs_burst tokens, refilled at icmp_msgs_per_sec.
    uint64_t global_credit_ = 0;  // whole messages
    uint64_t global_last_ns_ = 0;
    bool global_started_ = false;
    // inet_peer rate state per destination, in a fixed direct-mapped table (no allocation;
    // a colliding destination takes the slot over, starting a fresh bucket).
    struct Peer {
        wire::Ipv4Addr addr = 0;
        bool used = false;
        uint64_t tokens_ns = 0;
        uint64_t last_ns = 0;
    };
    std::array<Peer, 1024> peers_{};
    uint16_t next_id_ = 1;
};

}  // namespace ingress::ipv4
