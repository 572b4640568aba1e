// A clock the test moves by hand.
#pragma once

#include <cstdint>

#include "core/clock.h"

namespace ingress::test {

class FakeClock final : public core::Clock {
public:
    explicit FakeClock(uint64_t start_ns = 1'000'000'000) : now_(start_ns) {}
    uint64_t now_ns() const noexcept override { return now_; }
    void advance_ns(uint64_t d) noexcept { now_ += d; }
    void advance_ms(uint64_t d) noexcept { now_ += d * 1'000'000; }
    void advance_s(uint64_t d) noexcept { now_ += d * 1'000'000'000; }

private:
    uint64_t now_;
};

}  // namespace ingress::test
