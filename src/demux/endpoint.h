// Endpoints: the dataplane's sockets. A UDP endpoint, a raw IP endpoint, a packet tap.
//
// Kernel-equivalent: struct inet_sock / udp_sock / raw_sock / packet_sock, reduced to what
// the receive path reads. Options are set through methods named after the socket call or
// option they stand for (bind, connect, SO_BINDTODEVICE, SO_REUSEPORT, IP_MULTICAST_ALL,
// IP_ADD_MEMBERSHIP / IP_ADD_SOURCE_MEMBERSHIP / IP_BLOCK_SOURCE, ICMP_FILTER,
// PACKET_AUXDATA, SO_ATTACH_FILTER, PACKET_FANOUT), with the kernel's defaults.
//
// Endpoints are created and configured by the control plane (tests, here) before they are
// published in an EndpointTable snapshot; the worker only reads their configuration and
// delivers into their shared-memory rings (demux/delivery.h). Changing an option means
// building a new endpoint object on the same rings and a new snapshot.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "demux/delivery.h"
#include "wire/ipv4.h"

namespace ingress::demux {

// MCAST_INCLUDE / MCAST_EXCLUDE.
enum class McFilterMode : uint8_t { kInclude, kExclude };

// One ip_mc_socklist entry: a group joined on one interface, with its source filter.
struct McMembership {
    wire::Ipv4Addr group = 0;
    uint32_t ifindex = 0;  // imr_ifindex (0 = "any": the kernel picks one; we keep 0)
    McFilterMode mode = McFilterMode::kExclude;
    std::vector<wire::Ipv4Addr> sources;  // psl->sl_addr
};

// The socket-level multicast state every inet endpoint has (UDP and raw).
class McSocketState {
public:
    bool mc_all = true;  // IP_MULTICAST_ALL, default 1 (inet_create sets MC_ALL)
    std::vector<McMembership> list;

    // IP_ADD_MEMBERSHIP: EXCLUDE {} (any source).
    void join(wire::Ipv4Addr group, uint32_t ifindex);
    // IP_ADD_SOURCE_MEMBERSHIP: INCLUDE mode, source added (joins if needed).
    void join_source(wire::Ipv4Addr group, uint32_t ifindex, wire::Ipv4Addr source);
    // IP_BLOCK_SOURCE: EXCLUDE mode, source added (the group must be joined ASM).
    bool block_source(wire::Ipv4Addr group, uint32_t ifindex, wire::Ipv4Addr source);
    // IP_DROP_MEMBERSHIP.
    bool leave(wire::Ipv4Addr group, uint32_t ifindex);

    // Kernel-equivalent: net/ipv4/igmp.c ip_mc_sf_allow(). Not a multicast destination:
    // allowed. Otherwise the membership for (loc_addr, dif) decides through its source
    // filter; with no membership on that interface the answer is IP_MULTICAST_ALL.
    bool sf_allow(wire::Ipv4Addr loc_addr, wire::Ipv4Addr rmt_addr, uint32_t dif) const noexcept;

private:
    McMembership* find(wire::Ipv4Addr group, uint32_t ifindex) noexcept;
};

// The addressing every inet endpoint has: bind(), connect(), SO_BINDTODEVICE.
struct InetAddressing {
    wire::Ipv4Addr rcv_saddr = 0;  // inet_rcv_saddr: bound local address, 0 = INADDR_ANY
    uint16_t num = 0;              // inet_num: local port (UDP) or protocol (raw)
    wire::Ipv4Addr daddr = 0;      // inet_daddr: connected remote address, 0 = any
    uint16_t dport = 0;            // inet_dport: connected remote port, 0 = any
    uint32_t bound_dev_if = 0;     // sk_bound_dev_if: SO_BINDTODEVICE, 0 = any
};

// IP_MTU_DISCOVER values (linux/in.h); a new socket has IP_PMTUDISC_WANT unless
// net.ipv4.ip_no_pmtu_disc is set (inet_create()).
enum class PmtuDisc : uint8_t { kDont = 0, kWant = 1, kDo = 2, kProbe = 3 };

// What decides how ICMP errors reach an inet endpoint (demux/icmp_err.h).
struct ErrorOptions {
    bool recverr = false;                 // IP_RECVERR (default off): queue errors
    PmtuDisc pmtudisc = PmtuDisc::kWant;  // IP_MTU_DISCOVER
};

class UdpEndpoint {
public:
    explicit UdpEndpoint(std::shared_ptr<ShmRings> rings, std::string name = {})
        : name_(std::move(name)), rings_(std::move(rings)) {}

    UdpEndpoint& bind(wire::Ipv4Addr addr, uint16_t port) {
        a_.rcv_saddr = addr;
        a_.num = port;
        return *this;
    }
    // connect(): sets the remote address and port (a connected socket is TCP_ESTABLISHED).
    // The kernel's connect() also fills an unbound local address from the route's source
    // and rehashes the socket there; having no routes, we expect the control plane to
    // bind() that address first (a connected endpoint left on 0.0.0.0 is found only by the
    // wildcard step of the lookup, after the hook and address-bound endpoints).
    UdpEndpoint& connect(wire::Ipv4Addr addr, uint16_t port) {
        a_.daddr = addr;
        a_.dport = port;
        return *this;
    }
    UdpEndpoint& bind_to_device(uint32_t ifindex) {
        a_.bound_dev_if = ifindex;
        return *this;
    }
    UdpEndpoint& set_reuseport(bool on = true) {
        reuseport_ = on;
        return *this;
    }
    UdpEndpoint& set_multicast_all(bool on) {
        mc_.mc_all = on;
        return *this;
    }
    // sk_rcvbuf in bytes: rmem_default for a new socket, so_rcvbuf() after SO_RCVBUF
    // (demux/rcvbuf.h). Every datagram is charged against it (udp.cc).
    UdpEndpoint& set_rcvbuf(uint32_t bytes) {
        rcvbuf_ = bytes;
        return *this;
    }
    // IP_RECVERR: ICMP errors go on the error queue (and set the pending error whatever
    // their kind or the socket's state). IP_MTU_DISCOVER: kDont makes "fragmentation needed"
    // a non-error.
    UdpEndpoint& set_recverr(bool on) {
        err_.recverr = on;
        return *this;
    }
    UdpEndpoint& set_pmtudisc(PmtuDisc v) {
        err_.pmtudisc = v;
        return *this;
    }
    McSocketState& mc() noexcept { return mc_; }

    const InetAddressing& addressing() const noexcept { return a_; }
    const McSocketState& mc() const noexcept { return mc_; }
    const ErrorOptions& err_opts() const noexcept { return err_; }
    bool reuseport() const noexcept { return reuseport_; }
    uint32_t rcvbuf() const noexcept { return rcvbuf_; }
    // sk_state == TCP_ESTABLISHED: connect() gave it a remote address.
    bool connected() const noexcept { return a_.daddr != 0 || a_.dport != 0; }
    // sk_rx_dst: the input route of a datagram early demux steered here, as (route tables
    // generation << 8 | route type); 0: none. udp_sk_rx_dst_set() writes it from any worker
    // (the kernel's xchg: relaxed here, one word), udp_v4_early_demux() reads it; a newer
    // tables generation makes it stale, as dst_check() does after rt_genid moves.
    uint64_t rx_dst() const noexcept {
        return std::atomic_ref<uint64_t>(rx_dst_).load(std::memory_order_relaxed);
    }
    void rx_dst_set(uint64_t generation, uint8_t route_type) const noexcept {
        std::atomic_ref<uint64_t>(rx_dst_).store(generation << 8 | route_type,
                                                 std::memory_order_relaxed);
    }
    const std::string& name() const noexcept { return name_; }
    // Where it delivers (shared with the app, and with the endpoint objects that replace
    // this one when an option changes).
    ShmRings& rings() noexcept { return *rings_; }
    const ShmRings& rings() const noexcept { return *rings_; }
    // The lines udp_rcv() reads (the budget and the rings pointer), a burst ahead.
    void prefetch() const noexcept {
        __builtin_prefetch(&rcvbuf_);
        __builtin_prefetch(&rings_);
    }

private:
    std::string name_;
    InetAddressing a_;
    bool reuseport_ = false;
    uint32_t rcvbuf_ = kRmemDefault;
    ErrorOptions err_;
    McSocketState mc_;
    std::shared_ptr<ShmRings> rings_;
    alignas(8) mutable uint64_t rx_dst_ = 0;
};

class RawEndpoint {
public:
    // socket(AF_INET, SOCK_RAW, protocol).
    RawEndpoint(std::shared_ptr<ShmRings> rings, uint8_t protocol, std::string name = {})
        : name_(std::move(name)), rings_(std::move(rings)) {
        a_.num = protocol;
    }
    RawEndpoint& bind(wire::Ipv4Addr addr) {
        a_.rcv_saddr = addr;
        return *this;
    }
    RawEndpoint& connect(wire::Ipv4Addr addr) {
        a_.daddr = addr;
        return *this;
    }
    RawEndpoint& bind_to_device(uint32_t ifindex) {
        a_.bound_dev_if = ifindex;
        return *this;
    }
    RawEndpoint& set_multicast_all(bool on) {
        mc_.mc_all = on;
        return *this;
    }
    // ICMP_FILTER (SOL_RAW): bit t set = ICMP type t (< 32) is NOT delivered.
    RawEndpoint& set_icmp_filter(uint32_t mask) {
        icmp_filter_ = mask;
        return *this;
    }
    // IP_RECVERR, IP_MTU_DISCOVER: as UdpEndpoint's.
    RawEndpoint& set_recverr(bool on) {
        err_.recverr = on;
        return *this;
    }
    RawEndpoint& set_pmtudisc(PmtuDisc v) {
        err_.pmtudisc = v;
        return *this;
    }
    // sk_state == TCP_ESTABLISHED: connect() gave it a remote address.
    bool connected() const noexcept { return a_.daddr != 0; }
    const ErrorOptions& err_opts() const noexcept { return err_; }
    McSocketState& mc() noexcept { return mc_; }

    uint8_t protocol() const noexcept { return static_cast<uint8_t>(a_.num); }
    const InetAddressing& addressing() const noexcept { return a_; }
    const McSocketState& mc() const noexcept { return mc_; }
    uint32_t icmp_filter() const noexcept { return icmp_filter_; }
    const std::string& name() const noexcept { return name_; }
    // Where it delivers (shared with the app, and with the endpoint objects that replace
    // this one when an option changes).
    ShmRings& rings() noexcept { return *rings_; }
    const ShmRings& rings() const noexcept { return *rings_; }

private:
    std::string name_;
    InetAddressing a_;
    uint32_t icmp_filter_ = 0;  // raw_init(): zeroed, nothing filtered
    ErrorOptions err_;
    McSocketState mc_;
    std::shared_ptr<ShmRings> rings_;
};

// A classic BPF program compiled from a pcap expression (SO_ATTACH_FILTER as tcpdump does).
class TapFilter {
public:
    // Compiles `expr` for Ethernet frames (SOCK_RAW taps) or bare IP packets (SOCK_DGRAM
    // taps: the filter sees what the socket sees). Returns nullptr and sets `error` when the
    // expression does not compile. Control plane only (libpcap allocates).
    static std::unique_ptr<TapFilter> compile(const std::string& expr, bool link_header,
                                              std::string* error = nullptr);
    ~TapFilter();
    TapFilter(const TapFilter&) = delete;
    TapFilter& operator=(const TapFilter&) = delete;

    // Runs the program: 0 = reject, otherwise the snap length to keep (sk_filter_trim_cap).
    uint32_t run(std::span<const uint8_t> bytes, uint32_t wire_len) const noexcept;
    const std::string& expression() const noexcept { return expr_; }

private:
    TapFilter() = default;
    std::string expr_;
    void* insns_ = nullptr;  // struct bpf_insn[], owned
    uint32_t len_ = 0;
};

// Packet tap framing: socket(AF_PACKET, SOCK_RAW | SOCK_DGRAM, proto).
enum class TapType : uint8_t { kRaw, kDgram };
// PACKET_FANOUT modes implemented.
enum class FanoutMode : uint8_t { kNone, kHash, kLoadBalance };  // PACKET_FANOUT_HASH / _LB

inline constexpr uint16_t kEthPAll = 0x0003;  // ETH_P_ALL

class TapEndpoint {
public:
    // `protocol`: ETH_P_ALL or one ethertype (host order). bind(ifindex) or 0 for all.
    TapEndpoint(std::shared_ptr<ShmRings> rings, TapType type, uint16_t protocol = kEthPAll,
                std::string name = {})
        : name_(std::move(name)), type_(type), protocol_(protocol), rings_(std::move(rings)) {}

    TapEndpoint& bind(uint32_t ifindex) {
        ifindex_ = ifindex;
        return *this;
    }
    TapEndpoint& set_auxdata(bool on = true) {
        auxdata_ = on;
        return *this;
    }
    // PACKET_IGNORE_OUTGOING: no copies of the frames the dataplane sends (the prot_hook's
    // ignore_outgoing, skipped by dev_queue_xmit_nit). In a fanout group the group's flag
    // counts (PACKET_FANOUT_FLAG_IGNORE_OUTGOING): the first member's.
    TapEndpoint& set_ignore_outgoing(bool on = true) {
        ignore_outgoing_ = on;
        return *this;
    }
    // SO_ATTACH_FILTER with a compiled pcap expression (the endpoint owns it).
    TapEndpoint& attach_filter(std::unique_ptr<TapFilter> f) {
        filter_ = std::move(f);
        return *this;
    }
    // PACKET_FANOUT: taps with the same id, protocol and binding form one group.
    TapEndpoint& join_fanout(uint16_t id, FanoutMode mode) {
        fanout_id_ = id;
        fanout_mode_ = mode;
        return *this;
    }

    TapType type() const noexcept { return type_; }
    uint16_t protocol() const noexcept { return protocol_; }
    uint32_t ifindex() const noexcept { return ifindex_; }
    bool auxdata() const noexcept { return auxdata_; }
    bool ignore_outgoing() const noexcept { return ignore_outgoing_; }
    const TapFilter* filter() const noexcept { return filter_.get(); }
    uint16_t fanout_id() const noexcept { return fanout_id_; }
    FanoutMode fanout_mode() const noexcept { return fanout_mode_; }
    const std::string& name() const noexcept { return name_; }
    // Where it delivers (shared with the app, and with the endpoint objects that replace
    // this one when an option changes).
    ShmRings& rings() noexcept { return *rings_; }
    const ShmRings& rings() const noexcept { return *rings_; }
    // Frames the filter rejected (SOCKET_FILTER, counted per tap: a tap copy is not a fate).
    uint64_t filter_drops() const noexcept {
        return std::atomic_ref<uint64_t>(const_cast<uint64_t&>(filter_drops_))
            .load(std::memory_order_relaxed);
    }
    // Several workers may count on one tap: a relaxed atomic increment.
    void count_filter_drop() noexcept {
        std::atomic_ref<uint64_t>(filter_drops_).fetch_add(1, std::memory_order_relaxed);
    }

private:
    std::string name_;
    TapType type_;
    uint16_t protocol_;
    uint32_t ifindex_ = 0;
    bool auxdata_ = false;
    bool ignore_outgoing_ = false;
    std::unique_ptr<TapFilter> filter_;
    uint16_t fanout_id_ = 0;
    FanoutMode fanout_mode_ = FanoutMode::kNone;
    uint64_t filter_drops_ = 0;
    std::shared_ptr<ShmRings> rings_;
};

}  // namespace ingress::demux
