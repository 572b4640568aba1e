// The time stamp counter, for the runtime profile (src/worker/runtime.h): a read costs a few
// cycles and no system call, so a worker can stamp every stage of every burst. Converted to
// nanoseconds with one calibration against CLOCK_MONOTONIC (tsc_hz()). On machines without
// an invariant TSC (not x86) it falls back to CLOCK_MONOTONIC in ns (tsc_hz() 1e9).
#pragma once

#include <cstdint>
#include <ctime>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

namespace ingress::core {

inline uint64_t tsc_now() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    return __rdtsc();
#else
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
#endif
}

// TSC ticks per second, measured once (20 ms against CLOCK_MONOTONIC) on first use.
double tsc_hz() noexcept;

}  // namespace ingress::core
