// ICMP header view (RFC 792).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "wire/bytes.h"

namespace ingress::wire {

inline constexpr uint8_t kIcmpEchoReply = 0;
inline constexpr uint8_t kIcmpDestUnreach = 3;
inline constexpr uint8_t kIcmpSourceQuench = 4;
inline constexpr uint8_t kIcmpRedirect = 5;
inline constexpr uint8_t kIcmpEcho = 8;
inline constexpr uint8_t kIcmpTimeExceeded = 11;
inline constexpr uint8_t kIcmpParameterProb = 12;
inline constexpr uint8_t kIcmpTimestamp = 13;
inline constexpr uint8_t kIcmpTimestampReply = 14;
inline constexpr uint8_t kIcmpAddress = 17;
inline constexpr uint8_t kIcmpAddressReply = 18;
inline constexpr uint8_t kNrIcmpTypes = 18;  // NR_ICMP_TYPES: the highest type with a handler
// Codes.
inline constexpr uint8_t kIcmpProtUnreach = 2;
inline constexpr uint8_t kIcmpPortUnreach = 3;
inline constexpr uint8_t kIcmpFragNeeded = 4;
inline constexpr uint8_t kNrIcmpUnreach = 15;  // NR_ICMP_UNREACH: the highest known code
inline constexpr uint8_t kIcmpExcFragtime = 1;

class IcmpView {
public:
    static constexpr std::size_t kHeaderLen = 8;
    static constexpr std::size_t kTypeOff = 0, kCodeOff = 1, kCsumOff = 2, kRestOff = 4;

    static std::optional<IcmpView> try_view(std::span<const uint8_t> b) noexcept {
        if (b.size() < kHeaderLen) return std::nullopt;
        return IcmpView(b);
    }
    uint8_t type() const noexcept { return b_[kTypeOff]; }
    uint8_t code() const noexcept { return b_[kCodeOff]; }
    uint16_t checksum() const noexcept { return load_be16(&b_[kCsumOff]); }
    uint32_t rest() const noexcept { return load_be32(&b_[kRestOff]); }
    std::span<const uint8_t> body() const noexcept { return b_.subspan(kHeaderLen); }
    std::span<const uint8_t> bytes() const noexcept { return b_; }

private:
    explicit IcmpView(std::span<const uint8_t> b) noexcept : b_(b) {}
    std::span<const uint8_t> b_;
};

}  // namespace ingress::wire
