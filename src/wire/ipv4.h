// IPv4 header view (RFC 791 §3.1) and address helpers.
//
// try_view() checks only that the 20-byte fixed header is present; that is the invariant the
// accessors rely on. It deliberately does NOT check version, ihl, tot_len or the checksum:
// those are decisions of ip_rcv_core (src/ipv4/rcv_core.cc), which must make them in the
// kernel's order and count each under its own counter. options() is clamped to the bytes
// that exist, so it is safe on a header whose ihl lies.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "wire/bytes.h"

namespace ingress::wire {

// Host-order IPv4 address.
using Ipv4Addr = uint32_t;

constexpr Ipv4Addr ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) noexcept {
    return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}
std::optional<Ipv4Addr> parse_ipv4(std::string_view s) noexcept;
std::string ipv4_str(Ipv4Addr a);

// The kernel's address classes (include/linux/in.h).
constexpr bool ipv4_is_multicast(Ipv4Addr a) noexcept {
    return (a & 0xf0000000u) == 0xe0000000u;
}
constexpr bool ipv4_is_lbcast(Ipv4Addr a) noexcept {
    return a == 0xffffffffu;
}
constexpr bool ipv4_is_zeronet(Ipv4Addr a) noexcept {
    return (a & 0xff000000u) == 0;
}
constexpr bool ipv4_is_loopback(Ipv4Addr a) noexcept {
    return (a & 0xff000000u) == 0x7f000000u;
}
constexpr bool ipv4_is_local_multicast(Ipv4Addr a) noexcept {
    return (a & 0xffffff00u) == 0xe0000000u;
}

inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoIgmp = 2;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;

inline constexpr uint16_t kIpFlagRf = 0x8000;      // reserved ("evil") bit
inline constexpr uint16_t kIpFlagDf = 0x4000;      // IP_DF
inline constexpr uint16_t kIpFlagMf = 0x2000;      // IP_MF
inline constexpr uint16_t kIpOffsetMask = 0x1fff;  // IP_OFFSET, in 8-byte units

// ip_is_fragment() on a host-order frag_off field: MF set or a non-zero offset. The one
// definition (Ipv4View and core::Packet use it).
constexpr bool ip_is_fragment(uint16_t frag_off) noexcept {
    return (frag_off & (kIpFlagMf | kIpOffsetMask)) != 0;
}
constexpr uint32_t ip_frag_offset_bytes(uint16_t frag_off) noexcept {
    return uint32_t(frag_off & kIpOffsetMask) * 8u;
}

// The address stored at byte `off` of `b` (a source-route option's hops); nullopt when its
// four bytes are not all in `b`.
inline std::optional<Ipv4Addr> ipv4_addr_at(std::span<const uint8_t> b, std::size_t off) noexcept {
    if (off > b.size() || b.size() - off < 4) return std::nullopt;
    return load_be32(&b[off]);
}

class Ipv4View {
public:
    static constexpr std::size_t kMinHeaderLen = 20;
    static constexpr std::size_t kVerIhlOff = 0, kTosOff = 1, kTotLenOff = 2, kIdOff = 4,
                                 kFragOff = 6, kTtlOff = 8, kProtoOff = 9, kCsumOff = 10,
                                 kSrcOff = 12, kDstOff = 16;

    static std::optional<Ipv4View> try_view(std::span<const uint8_t> b) noexcept {
        if (b.size() < kMinHeaderLen) return std::nullopt;
        return Ipv4View(b);
    }

    uint8_t version() const noexcept { return b_[kVerIhlOff] >> 4; }
    uint8_t ihl() const noexcept { return b_[kVerIhlOff] & 0x0f; }  // in 32-bit words
    std::size_t header_len() const noexcept { return std::size_t{ihl()} * 4; }
    uint8_t tos() const noexcept { return b_[kTosOff]; }
    uint8_t ecn() const noexcept { return tos() & 0x03; }  // INET_ECN_MASK
    uint16_t tot_len() const noexcept { return load_be16(&b_[kTotLenOff]); }
    uint16_t id() const noexcept { return load_be16(&b_[kIdOff]); }
    uint16_t frag_field() const noexcept { return load_be16(&b_[kFragOff]); }
    bool more_fragments() const noexcept { return frag_field() & kIpFlagMf; }
    bool dont_fragment() const noexcept { return frag_field() & kIpFlagDf; }
    uint32_t frag_offset_bytes() const noexcept { return ip_frag_offset_bytes(frag_field()); }
    bool is_fragment() const noexcept { return ip_is_fragment(frag_field()); }
    uint8_t ttl() const noexcept { return b_[kTtlOff]; }
    uint8_t protocol() const noexcept { return b_[kProtoOff]; }
    uint16_t checksum() const noexcept { return load_be16(&b_[kCsumOff]); }
    Ipv4Addr src() const noexcept { return load_be32(&b_[kSrcOff]); }
    Ipv4Addr dst() const noexcept { return load_be32(&b_[kDstOff]); }
    // Option bytes [20, ihl*4), clamped to what the buffer holds.
    std::span<const uint8_t> options() const noexcept {
        std::size_t end = header_len() < b_.size() ? header_len() : b_.size();
        return end > kMinHeaderLen ? b_.subspan(kMinHeaderLen, end - kMinHeaderLen)
                                   : std::span<const uint8_t>{};
    }
    std::span<const uint8_t> bytes() const noexcept { return b_; }

private:
    explicit Ipv4View(std::span<const uint8_t> b) noexcept : b_(b) {}
    std::span<const uint8_t> b_;
};

}  // namespace ingress::wire
