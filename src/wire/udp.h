// UDP header view (RFC 768).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "wire/bytes.h"

namespace ingress::wire {

class UdpView {
public:
    static constexpr std::size_t kHeaderLen = 8;
    static constexpr std::size_t kSrcPortOff = 0, kDstPortOff = 2, kLenOff = 4, kCsumOff = 6;

    static std::optional<UdpView> try_view(std::span<const uint8_t> b) noexcept {
        if (b.size() < kHeaderLen) return std::nullopt;
        return UdpView(b);
    }
    uint16_t src_port() const noexcept { return load_be16(&b_[kSrcPortOff]); }
    uint16_t dst_port() const noexcept { return load_be16(&b_[kDstPortOff]); }
    uint16_t length() const noexcept { return load_be16(&b_[kLenOff]); }  // ulen, header included
    uint16_t checksum() const noexcept { return load_be16(&b_[kCsumOff]); }
    std::span<const uint8_t> bytes() const noexcept { return b_; }

private:
    explicit UdpView(std::span<const uint8_t> b) noexcept : b_(b) {}
    std::span<const uint8_t> b_;
};

// The two ports that open both the UDP and the TCP header (what a flow hash reads, the
// flow dissector's FLOW_DISSECTOR_KEY_PORTS); nullopt when the 4 bytes are not there.
struct L4Ports {
    uint16_t src = 0, dst = 0;
};
inline std::optional<L4Ports> l4_ports(std::span<const uint8_t> l4) noexcept {
    if (l4.size() < 4) return std::nullopt;
    return L4Ports{load_be16(&l4[0]), load_be16(&l4[2])};
}

}  // namespace ingress::wire
