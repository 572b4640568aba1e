#include "worker/runtime.h"

#include <time.h>

namespace ingress::core {

double tsc_hz() noexcept {
    static const double hz = [] {
#if defined(__x86_64__) || defined(__i386__)
        auto mono = [] {
            timespec ts;
            clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
            return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
        };
        const double m0 = mono();
        const uint64_t t0 = tsc_now();
        const timespec nap{.tv_sec = 0, .tv_nsec = 20'000'000};
        nanosleep(&nap, nullptr);
        const uint64_t t1 = tsc_now();
        const double m1 = mono();
        return static_cast<double>(t1 - t0) * 1e9 / (m1 - m0);
#else
        return 1e9;
#endif
    }();
    return hz;
}

}  // namespace ingress::core

namespace ingress::worker {

const char* loop_phase_name(LoopPhase p) noexcept {
    static constexpr const char* kNames[] = {
#define X(e, name) name,
        INGRESS_LOOP_PHASES(X)
#undef X
    };
    const auto i = static_cast<std::size_t>(p);
    return i < std::size(kNames) ? kNames[i] : "?";
}

const char* stage_name(Stage s) noexcept {
    switch (s) {
#define X(e, name) \
    case Stage::e: \
        return name;
        INGRESS_RUNTIME_STAGES(X)
#undef X
    }
    return "?";
}

RuntimeSnapshot& RuntimeSnapshot::operator+=(const RuntimeSnapshot& o) noexcept {
    polls += o.polls;
    empty_polls += o.empty_polls;
    frames += o.frames;
    sleeps += o.sleeps;
    busy_cycles += o.busy_cycles;
    idle_cycles += o.idle_cycles;
    for (std::size_t i = 0; i < kStageCount; ++i) {
        stage_cycles[i] += o.stage_cycles[i];
        stage_frames[i] += o.stage_frames[i];
        stage_calls[i] += o.stage_calls[i];
    }
    return *this;
}

std::array<uint64_t, kRuntimeValues> runtime_array(const RuntimeSnapshot& s) noexcept {
    std::array<uint64_t, kRuntimeValues> v{s.polls,  s.empty_polls, s.frames,
                                           s.sleeps, s.busy_cycles, s.idle_cycles};
    for (std::size_t i = 0; i < kStageCount; ++i) {
        v[6 + 3 * i] = s.stage_cycles[i];
        v[6 + 3 * i + 1] = s.stage_frames[i];
        v[6 + 3 * i + 2] = s.stage_calls[i];
    }
    return v;
}

std::optional<RuntimeSnapshot> runtime_from_array(const uint64_t* v, std::size_t n) noexcept {
    if (n != kRuntimeValues) return std::nullopt;
    RuntimeSnapshot s;
    s.polls = v[0];
    s.empty_polls = v[1];
    s.frames = v[2];
    s.sleeps = v[3];
    s.busy_cycles = v[4];
    s.idle_cycles = v[5];
    for (std::size_t i = 0; i < kStageCount; ++i) {
        s.stage_cycles[i] = v[6 + 3 * i];
        s.stage_frames[i] = v[6 + 3 * i + 1];
        s.stage_calls[i] = v[6 + 3 * i + 2];
    }
    return s;
}

RuntimeSnapshot RuntimeProfile::snapshot() const noexcept {
    RuntimeSnapshot s;
    auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
    s.polls = get(polls_);
    s.empty_polls = get(empty_polls_);
    s.frames = get(frames_);
    s.sleeps = get(sleeps_);
    s.busy_cycles = get(busy_cycles_);
    s.idle_cycles = get(idle_cycles_);
    for (std::size_t i = 0; i < kStageCount; ++i) {
        s.stage_cycles[i] = get(stage_cycles_[i]);
        s.stage_frames[i] = get(stage_frames_[i]);
        s.stage_calls[i] = get(stage_calls_[i]);
    }
    return s;
}

}  // namespace ingress::worker
