// How a worker waits on an idle queue: `interfaces[].poll_mode` and `interfaces[].idle` in
// the config (one enum and one record for the config and the worker; src/worker/worker.h
// has the loop).
#pragma once

#include <cstdint>
#include <string>

namespace ingress::worker {

enum class PollMode : uint8_t {
    kBusy,       // spins: the lowest latency, a whole core per worker even when idle
    kAdaptive,   // spins a short while after the last frame, then sleeps as kInterrupt
    kInterrupt,  // sleeps as soon as a poll finds nothing: in the backend's wakeup
                 // (io::Backend::wait_rx) where it has one, else a bounded micro-sleep
                 // backoff; always until the next timer tick at the latest
};

// An idle worker's timer tick: the reassembly timers (ip_expire) run at least this often,
// so no sleep is longer.
inline constexpr uint64_t kTimerPeriodNs = 10'000'000;
// The first micro-sleep after a frame (the backoff doubles from here).
inline constexpr uint64_t kBackoffMinNs = 10'000;

// The idle timings (`interfaces[].idle`, README "Idle workers"), in nanoseconds. Each trades
// an idle worker's CPU against the latency of the first frame after an idle spell.
struct IdleTimes {
    uint64_t spin_ns = 50'000;                 // adaptive: polling on after the last frame
    uint64_t backoff_max_ns = 1'000'000;       // the longest micro-sleep (no backend wakeup)
    uint64_t deep_idle_ns = 1'000'000'000;     // no frame for this long: deep idle
    uint64_t deep_backoff_max_ns = 5'000'000;  // the longest micro-sleep in deep idle

    bool operator==(const IdleTimes&) const = default;
};

// The micro-sleep's course in words, for the log: "10 us doubling to 1 ms; to 5 ms after
// 1 s without a frame".
std::string micro_sleep_text(const IdleTimes& t);

}  // namespace ingress::worker
