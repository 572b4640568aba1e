#include "worker/poll_mode.h"

namespace ingress::worker {
namespace {

// Whole seconds, milliseconds or microseconds, whichever divides `ns` (the config's units).
std::string duration_text(uint64_t ns) {
    if (ns && ns % 1'000'000'000 == 0) return std::to_string(ns / 1'000'000'000) + " s";
    if (ns && ns % 1'000'000 == 0) return std::to_string(ns / 1'000'000) + " ms";
    if (ns % 1'000 == 0) return std::to_string(ns / 1'000) + " us";
    return std::to_string(ns) + " ns";
}

}  // namespace

std::string micro_sleep_text(const IdleTimes& t) {
    std::string s =
        duration_text(kBackoffMinNs) + " doubling to " + duration_text(t.backoff_max_ns);
    if (t.deep_backoff_max_ns > t.backoff_max_ns)
        s += "; to " + duration_text(t.deep_backoff_max_ns) + " after " +
             duration_text(t.deep_idle_ns) + " without a frame";
    return s;
}

}  // namespace ingress::worker
