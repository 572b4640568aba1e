// The packet: one received frame plus the metadata the stages fill in, in one cache line.
//
// A Packet does not own its bytes: `data` points into a buffer that belongs to the backend
// that received it (a UMEM frame, an mbuf, a memory-backend slot), named by `buf`. Only the
// backend frees it, through the worker's fate sink. Offsets are relative to `data`.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "wire/ipv4.h"

namespace ingress::core {

// The kernel's skb->pkt_type values (include/uapi/linux/if_packet.h), decided at L2.
enum class PktType : uint8_t {
    kHost = 0,       // PACKET_HOST
    kBroadcast = 1,  // PACKET_BROADCAST
    kMulticast = 2,  // PACKET_MULTICAST
    kOtherhost = 3,  // PACKET_OTHERHOST
    kOutgoing = 4,   // PACKET_OUTGOING: a frame the dataplane sends (taps only)
};

// Packet::flags bits.
inline constexpr uint8_t kFlagVlan = 1u << 0;         // a VLAN tag was present (see vlan_*)
inline constexpr uint8_t kFlagL4CsumGood = 1u << 1;   // backend verified the L4 checksum
inline constexpr uint8_t kFlagReassembled = 1u << 2;  // built by defrag from fragments
// Early demux found a valid cached input route (skb_valid_dst after udp_v4_early_demux):
// route_type holds it and route_input skips the lookup, rp_filter and the martian checks.
inline constexpr uint8_t kFlagRxDst = 1u << 4;
// With kFlagRxDst: the cached route of an unconnected multicast endpoint, whose source
// route_input still validates (udp_v4_early_demux's ip_mc_validate_source()).
inline constexpr uint8_t kFlagRxDstValidate = 1u << 5;
// Without kFlagRxDst, the same bit: early demux found the datagram's endpoint (the kernel's
// skb->sk) but no valid cached route, so udp_rcv gives that endpoint the route route_input
// picks (udp_sk_rx_dst_set). A datagram early demux found no endpoint for has neither bit
// and udp_rcv does not look again.
inline constexpr uint8_t kFlagEarlySk = kFlagRxDstValidate;
// The backend parsed L2 while steering (io/dpdk/steer.h): l3_off and ethertype are set as
// eth_type_trans() sets them, and the first VLAN tag, if any, is already in vlan_tci/
// vlan_tpid with kFlagVlan (as skb_vlan_untag() leaves it). pkt_type is still l2's to set.
inline constexpr uint8_t kFlagL2Parsed = 1u << 3;
// The backend left the NIC's hardware receive stamp (nanoseconds, the NIC's clock: what
// skb_hwtstamps() holds) in the 8 bytes right before `data`: hw_tstamp(). There is no room
// for it in the Packet's one cache line, and the buffer has it already where the driver
// puts it (AF_XDP: the XDP metadata area, which ends where the frame starts; DPDK: the
// backend copies the mbuf's dynfield into the headroom). A stage that moves the frame to
// another buffer (defrag) clears the flag: the stamp stays with the old buffer.
inline constexpr uint8_t kFlagHwTstamp = 1u << 6;
// `ingressctl trace` follows this packet (worker/observe.h); set only in observed bursts.
inline constexpr uint8_t kFlagTraced = 1u << 7;

struct alignas(64) Packet {
    uint8_t* data = nullptr;  // first byte of the frame (Ethernet header)
    uint64_t buf = 0;         // backend buffer handle (UMEM address, mbuf pointer, slot index)
    uint64_t rx_ns = 0;       // receive timestamp, from the backend's clock
    uint32_t len = 0;         // frame length; rcv_core trims link padding (len = l3_off + tot_len)
    uint32_t ifindex = 0;     // ingress interface (the VLAN sub-interface once l2 resolved it)
    uint16_t queue = 0;       // rx queue
    uint16_t l3_off = 0;      // network header, set by l2
    uint16_t l4_off = 0;      // transport header, set by rcv_core (l3_off + ihl*4)
    uint16_t ethertype = 0;   // host order, after VLAN tags (skb->protocol)
    uint16_t vlan_tci = 0;    // host order; valid when flags & kFlagVlan
    uint16_t vlan_tpid = 0;   // host order (0x8100 or 0x88a8); valid when flags & kFlagVlan
    PktType pkt_type = PktType::kHost;
    uint8_t ip_proto = 0;  // set by rcv_core
    uint8_t flags = 0;
    uint8_t route_type = 0;  // set by route (ipv4::RouteType)
    // The IPv4 header as rcv_core validated it, host order (ipv4::set_l3_meta); later stages
    // read these instead of the header bytes. Defrag rewrites them for the datagram it
    // rebuilds (frag_off then holds at most DF).
    wire::Ipv4Addr saddr = 0;
    wire::Ipv4Addr daddr = 0;
    // How many received frames this packet stands for: 1, or N for a datagram reassembled
    // from N fragments. The fate sink counts a packet's fate `frames` times, so the
    // conservation identity counts frames (docs/accounting.md).
    uint16_t frames = 1;
    uint16_t ip_id = 0;
    uint16_t frag_off = 0;  // iph->frag_off: flags (DF, MF) and offset in 8-byte units
    uint8_t tos = 0;
    uint8_t ttl = 0;

    std::span<uint8_t> frame() noexcept { return {data, len}; }
    std::span<const uint8_t> frame() const noexcept { return {data, len}; }
    // From the network header to the end of the frame (after rcv_core: exactly tot_len).
    std::span<const uint8_t> l3() const noexcept { return {data + l3_off, len - l3_off}; }
    std::span<uint8_t> l3() noexcept { return {data + l3_off, len - l3_off}; }
    uint32_t l3_len() const noexcept { return len - l3_off; }
    // The IPv4 header length (ihl * 4), after rcv_core.
    uint32_t ip_hlen() const noexcept { return uint32_t{l4_off} - l3_off; }
    // ip_is_fragment(), more_fragments(), the offset in bytes: from frag_off.
    bool is_fragment() const noexcept { return wire::ip_is_fragment(frag_off); }
    bool more_fragments() const noexcept { return (frag_off & wire::kIpFlagMf) != 0; }
    bool dont_fragment() const noexcept { return (frag_off & wire::kIpFlagDf) != 0; }
    uint32_t frag_offset_bytes() const noexcept { return wire::ip_frag_offset_bytes(frag_off); }
    // The hardware receive stamp; only with flags & kFlagHwTstamp.
    uint64_t hw_tstamp() const noexcept {
        uint64_t ns;
        std::memcpy(&ns, data - sizeof ns, sizeof ns);
        return ns;
    }
};
static_assert(sizeof(Packet) == 64, "Packet must stay one cache line");

inline constexpr uint16_t kBurst = 64;

// Up to kBurst packets, by value: stages iterate over a contiguous array.
struct PacketBatch {
    std::array<Packet, kBurst> pkts;
    uint16_t count = 0;

    Packet* begin() noexcept { return pkts.data(); }
    Packet* end() noexcept { return pkts.data() + count; }
    const Packet* begin() const noexcept { return pkts.data(); }
    const Packet* end() const noexcept { return pkts.data() + count; }
    bool full() const noexcept { return count == kBurst; }
    Packet& operator[](std::size_t i) noexcept { return pkts[i]; }
};

}  // namespace ingress::core
