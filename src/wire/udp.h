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

}  // namespace ingress::wire
