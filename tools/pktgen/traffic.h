// Traffic for ingress-pktgen and the tests: a spec (addresses, ports, sizes, fragmentation,
// malformed share, VLAN) turned into frame templates, built once with the FrameBuilder and
// then only replayed.
//
// Sizes are Ethernet frame sizes as RFC 2544 counts them: including the 4-byte FCS, which
// the NIC appends. A "64-byte frame" is therefore 60 bytes handed to the NIC.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wire/ethernet.h"
#include "wire/ipv4.h"

namespace ingress::gen {

inline constexpr uint32_t kFcsLen = 4;
inline constexpr uint32_t kMinFrame = 64;
inline constexpr uint32_t kMaxFrame = 9018;

struct Range {
    uint32_t lo = 0, hi = 0;  // inclusive
    uint64_t count() const noexcept { return uint64_t{hi} - lo + 1; }
};

enum class FragOrder : uint8_t { kInOrder, kShuffled, kOverlapping };

struct TrafficSpec {
    wire::Mac src_mac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
    wire::Mac dst_mac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
    bool dst_mac_given = false;  // else derived for multicast/broadcast destinations
    Range src_addr{wire::ipv4(198, 18, 0, 2), wire::ipv4(198, 18, 0, 2)};
    Range dst_addr{wire::ipv4(198, 18, 0, 1), wire::ipv4(198, 18, 0, 1)};
    Range src_port{40000, 40000};
    Range dst_port{5000, 5000};
    std::vector<uint32_t> sizes{64};  // frame sizes (with FCS); several = a mix (IMIX)
    std::optional<uint16_t> vlan;
    uint32_t fragments = 0;  // 0: none; N >= 2: each datagram cut into N fragments
    FragOrder frag_order = FragOrder::kInOrder;
    uint32_t malformed_pct = 0;  // share of frames with one deliberate error
    uint32_t max_flows = 1024;   // templates per size at most (flows beyond reuse these)
    uint32_t seed = 1;
};

// "198.18.0.1" or "198.18.0.1-198.18.0.200"; ports "5000" or "5000-5100".
std::optional<Range> parse_addr_range(const std::string& s);
std::optional<Range> parse_port_range(const std::string& s);
// "64", "1518", or "imix" (7 x 64, 4 x 594, 1 x 1518: the simple IMIX).
std::optional<std::vector<uint32_t>> parse_sizes(const std::string& s);

// Whether a destination is allowed without --any-dst: the RFC 2544 benchmarking range
// 198.18.0.0/15, 239.0.0.0/8 (administratively scoped multicast) and 255.255.255.255.
bool is_benchmark_destination(wire::Ipv4Addr a) noexcept;

struct Template {
    std::vector<uint8_t> bytes;  // without FCS
    bool malformed = false;
    bool fragment = false;
};

// Send-time stamps (ingress-pktgen --stamp): where a template carries one. A plain UDP
// frame (Ethernet, at most one 802.1Q tag, IPv4 not fragmented, UDP with at least 8 bytes of
// payload) has room for it in its first 8 payload bytes; nullopt for any other frame.
struct StampSpot {
    uint32_t payload = 0;   // offset of the UDP payload in the frame
    uint32_t checksum = 0;  // offset of the UDP checksum
};
std::optional<StampSpot> stamp_spot(const std::vector<uint8_t>& frame);
// Writes `ns` into the payload's first 8 bytes (host byte order: what bench_idle_latency
// reads, a memcpy of a uint64_t) and updates the UDP checksum for it incrementally (RFC
// 1624), so it stays valid; a zero checksum (none, RFC 768) stays zero.
void write_stamp(uint8_t* frame, const StampSpot& at, uint64_t ns) noexcept;

// The frames, in sending order. Throws std::invalid_argument with a message for a spec that
// cannot be built (e.g. a fragment count that does not fit the size).
std::vector<Template> build_templates(const TrafficSpec& spec);

}  // namespace ingress::gen
