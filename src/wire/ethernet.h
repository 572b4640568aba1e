// Ethernet II and 802.1Q / 802.1ad header views.
//
// Views are made from untrusted bytes through one checked constructor (`try_view`); once a
// view exists, none of its accessors can read out of bounds. Values come out in host order.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "wire/bytes.h"

namespace ingress::wire {

inline constexpr uint16_t kEthPIp = 0x0800;       // ETH_P_IP
inline constexpr uint16_t kEthPArp = 0x0806;      // ETH_P_ARP
inline constexpr uint16_t kEthP8021Q = 0x8100;    // ETH_P_8021Q
inline constexpr uint16_t kEthP8021AD = 0x88a8;   // ETH_P_8021AD
inline constexpr uint16_t kEthPIpv6 = 0x86dd;     // ETH_P_IPV6
inline constexpr uint16_t kEthP8023Min = 0x0600;  // ETH_P_802_3_MIN: below, it is a length
inline constexpr uint16_t kEthP8023 = 0x0001;     // ETH_P_802_3 (raw 802.3, "Novell" IPX)
inline constexpr uint16_t kEthP8022 = 0x0004;     // ETH_P_802_2 (802.2 LLC)

struct Mac {
    std::array<uint8_t, 6> b{};

    static constexpr Mac broadcast() noexcept { return Mac{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
    // I/G bit: the low bit of the first octet (is_multicast_ether_addr).
    constexpr bool is_multicast() const noexcept { return (b[0] & 0x01) != 0; }
    constexpr bool is_broadcast() const noexcept { return *this == broadcast(); }
    constexpr bool is_zero() const noexcept { return *this == Mac{}; }
    // ether_addr_equal(): a 4-byte and a 2-byte word XORed, as the kernel's (the defaulted
    // comparison calls memcmp for six bytes: 9% of a burst's cycles; an XOR per octet
    // compiled to twelve byte loads).
    friend constexpr bool operator==(const Mac& x, const Mac& y) noexcept {
        if (std::is_constant_evaluated())
            return ((x.b[0] ^ y.b[0]) | (x.b[1] ^ y.b[1]) | (x.b[2] ^ y.b[2]) | (x.b[3] ^ y.b[3]) |
                    (x.b[4] ^ y.b[4]) | (x.b[5] ^ y.b[5])) == 0;
        uint32_t x4, y4;
        uint16_t x2, y2;
        std::memcpy(&x4, x.b.data(), 4);
        std::memcpy(&y4, y.b.data(), 4);
        std::memcpy(&x2, x.b.data() + 4, 2);
        std::memcpy(&y2, y.b.data() + 4, 2);
        return ((x4 ^ y4) | static_cast<uint32_t>(x2 ^ y2)) == 0;
    }

    // "02:00:00:00:00:01"; nullopt on anything else.
    static std::optional<Mac> parse(std::string_view s) noexcept;
    std::string str() const;
    // 01:00:5e + low 23 bits of the group (RFC 1112 §6.4, ip_eth_mc_map).
    static constexpr Mac for_ipv4_multicast(uint32_t group) noexcept {
        return Mac{{0x01, 0x00, 0x5e, static_cast<uint8_t>((group >> 16) & 0x7f),
                    static_cast<uint8_t>(group >> 8), static_cast<uint8_t>(group)}};
    }
};

class EthernetView {
public:
    static constexpr std::size_t kHeaderLen = 14;  // ETH_HLEN
    static constexpr std::size_t kDstOff = 0, kSrcOff = 6, kTypeOff = 12;

    static std::optional<EthernetView> try_view(std::span<const uint8_t> b) noexcept {
        if (b.size() < kHeaderLen) return std::nullopt;
        return EthernetView(b.data());
    }
    Mac dst() const noexcept { return mac_at(kDstOff); }
    Mac src() const noexcept { return mac_at(kSrcOff); }
    uint16_t ethertype() const noexcept { return load_be16(p_ + kTypeOff); }

private:
    explicit EthernetView(const uint8_t* p) noexcept : p_(p) {}
    Mac mac_at(std::size_t off) const noexcept {
        Mac m;
        std::memcpy(m.b.data(), p_ + off, 6);
        return m;
    }
    const uint8_t* p_;
};

// The 4 bytes after a TPID: TCI then the encapsulated ethertype.
class VlanView {
public:
    static constexpr std::size_t kTagLen = 4;  // VLAN_HLEN
    static constexpr std::size_t kTciOff = 0, kTypeOff = 2;

    static std::optional<VlanView> try_view(std::span<const uint8_t> b) noexcept {
        if (b.size() < kTagLen) return std::nullopt;
        return VlanView(b.data());
    }
    uint16_t tci() const noexcept { return load_be16(p_ + kTciOff); }
    uint16_t vid() const noexcept { return tci() & 0x0fff; }  // VLAN_VID_MASK
    uint8_t pcp() const noexcept { return static_cast<uint8_t>(tci() >> 13); }
    uint16_t inner_type() const noexcept { return load_be16(p_ + kTypeOff); }

private:
    explicit VlanView(const uint8_t* p) noexcept : p_(p) {}
    const uint8_t* p_;
};

constexpr bool is_vlan_tpid(uint16_t t) noexcept {
    return t == kEthP8021Q || t == kEthP8021AD;
}

}  // namespace ingress::wire
