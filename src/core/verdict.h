// What a stage decides for one packet: go on to the next stage, or end with a fate.
#pragma once

#include <cstdint>

#include "core/counters.h"

namespace ingress::core {

class Verdict {
public:
    enum class Kind : uint8_t { kContinue, kDrop, kPass, kHeld, kDelivered };

    static constexpr Verdict next() noexcept { return Verdict(Kind::kContinue); }
    static constexpr Verdict drop(DropReason r) noexcept { return Verdict(Kind::kDrop, r); }
    static constexpr Verdict pass() noexcept { return Verdict(Kind::kPass); }
    static constexpr Verdict held() noexcept { return Verdict(Kind::kHeld); }
    static constexpr Verdict delivered() noexcept { return Verdict(Kind::kDelivered); }

    constexpr Kind kind() const noexcept { return kind_; }
    constexpr bool is_next() const noexcept { return kind_ == Kind::kContinue; }
    constexpr bool is_drop() const noexcept { return kind_ == Kind::kDrop; }
    // Meaningful only when is_drop().
    constexpr DropReason reason() const noexcept { return reason_; }

    friend constexpr bool operator==(Verdict a, Verdict b) noexcept {
        return a.kind_ == b.kind_ && (a.kind_ != Kind::kDrop || a.reason_ == b.reason_);
    }

private:
    constexpr explicit Verdict(Kind k, DropReason r = DropReason::kNotSpecified) noexcept
        : kind_(k), reason_(r) {}
    Kind kind_;
    DropReason reason_;
};

}  // namespace ingress::core
