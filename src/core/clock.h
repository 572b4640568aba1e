// Time is injected: stages take `now` as a parameter, and whoever drives them owns a Clock.
// Tests use FakeClock (tests/support/fake_clock.h) and never sleep.
#pragma once

#include <cstdint>
#include <ctime>

namespace ingress::core {

class Clock {
public:
    virtual ~Clock() = default;
    // Monotonic nanoseconds; called once per burst, never per packet.
    virtual uint64_t now_ns() const noexcept = 0;
};

class MonotonicClock final : public Clock {
public:
    uint64_t now_ns() const noexcept override {
        timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull +
               static_cast<uint64_t>(ts.tv_nsec);
    }
};

}  // namespace ingress::core
