// systemd's service watchdog (WatchdogSec= in the unit, sd_watchdog_enabled): ingressd sends
// WATCHDOG=1 every half period, and only while every worker is alive, i.e. its loop count
// (Dataplane::worker_beats) moved since the previous check. A busy worker beats per poll; an
// idle one (poll_mode adaptive/interrupt) wakes for its timer tick every 10 ms and beats
// then. A worker stuck in a loop, or blocked, stops the pings, and systemd restarts the
// service (WatchdogSec=, Restart=on-failure): a stuck dataplane is not left "active". The
// caller logs which workers stalled (stalled_workers()) and where their loop is
// (worker::LoopPhase). tests/check-systemd.sh runs it under systemd.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ingress::daemon {

class Watchdog {
public:
    enum class Action { kWait, kPing, kStalled };

    // period_us: WATCHDOG_USEC (0: the watchdog is off and check() always waits).
    explicit Watchdog(uint64_t period_us) noexcept : half_ns_(period_us * 500) {}

    bool enabled() const noexcept { return half_ns_ != 0; }
    // From the control loop (every ~100 ms): kPing when half a period passed since the last
    // check and every worker beat since, kStalled when one did not (stalled_workers() says
    // which), kWait otherwise. The first check only takes the reading.
    Action check(uint64_t now_ns, const std::vector<uint64_t>& beats) {
        if (!enabled() || (last_ns_ && now_ns - last_ns_ < half_ns_)) return Action::kWait;
        const bool first = last_ns_ == 0;
        last_ns_ = now_ns;
        stalled_.clear();
        for (std::size_t i = 0; i < beats.size(); ++i)
            if (!first && i < prev_.size() && beats[i] == prev_[i]) stalled_.push_back(i);
        prev_ = beats;
        if (first) return Action::kPing;
        return stalled_.empty() ? Action::kPing : Action::kStalled;
    }
    // The workers (indexes into the beats) that did not beat over the last period.
    const std::vector<std::size_t>& stalled_workers() const noexcept { return stalled_; }

private:
    uint64_t half_ns_;
    uint64_t last_ns_ = 0;
    std::vector<uint64_t> prev_;
    std::vector<std::size_t> stalled_;
};

}  // namespace ingress::daemon
