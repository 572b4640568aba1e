// How a worker waits on an idle queue: `interfaces[].poll_mode` in the config (one enum for
// the config and the worker; src/worker/worker.h has the loop).
#pragma once

#include <cstdint>

namespace ingress::worker {

enum class PollMode : uint8_t {
    kBusy,       // spins: the lowest latency, a whole core per worker even when idle
    kAdaptive,   // spins a short while after the last frame, then sleeps as kInterrupt
    kInterrupt,  // sleeps as soon as a poll finds nothing: in the backend's wakeup
                 // (io::Backend::wait_rx) where it has one, else a bounded micro-sleep
                 // backoff; always until the next timer tick at the latest
};

}  // namespace ingress::worker
