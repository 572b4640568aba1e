// The runtime profile, as VPP's `show runtime`: per worker, from the TSC (core/tsc.h), how
// often it polled, how many polls found nothing, frames per non-empty burst, the cycles each
// stage of the pipeline spent and on how many frames, and the share of time it was idle
// (empty polls, spinning and sleeping). `ingressctl runtime` prints it.
//
// One writer: the worker stores its own counters (a relaxed load and store, no atomic
// read-modify-write on the hot path); the control thread reads them with relaxed loads. A
// stage is stamped once per burst (one TSC read at each stage boundary), never per packet.
// Stages a burst goes through in order; each counts the frames that entered it:
//   rx        the backend's rx_burst (non-empty polls; empty ones are idle time)
//   timers    reassembly expiry (ip_expire), every burst and every idle timer tick
//   l2        eth_type_trans, VLAN untag / receive, packet taps, ptype dispatch
//   rcv_core  ip_rcv_core
//   route     ip_rcv_finish_core: the input route
//   defrag    the handoff to a fragment's owning worker, ip_defrag (and handed-in fragments)
//   demux     raw copies, the UDP lookup and the push into the endpoint's ring: one pass per
//             packet, so the ring push is inside it (separating it would take a TSC read
//             per packet, or a second pass)
//   tx        fates settled (buffers freed, passed), app wakeups, ICMP errors sent
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>

#include "core/tsc.h"

namespace ingress::worker {

#define INGRESS_RUNTIME_STAGES(X) \
    X(kRx, "rx")                  \
    X(kTimers, "timers")          \
    X(kL2, "l2")                  \
    X(kRcvCore, "rcv_core")       \
    X(kRoute, "route")            \
    X(kDefrag, "defrag")          \
    X(kDemux, "demux")            \
    X(kTx, "tx")

enum class Stage : uint8_t {
#define X(e, name) e,
    INGRESS_RUNTIME_STAGES(X)
#undef X
};
inline constexpr std::size_t kStageCount = 0
#define X(e, name) +1
    INGRESS_RUNTIME_STAGES(X)
#undef X
    ;
const char* stage_name(Stage s) noexcept;

// Where a worker's loop (Worker::step) is, stored as it gets there (one relaxed byte store
// each, like the beat): what ingressd's watchdog names when a worker stops beating.
//   rx        in the backend's rx_burst
//   pipeline  processing a burst (l2 to tx) or, with none, the timers
//   wakeups   after a burst: the apps' wakeups (Dataplane's after_burst)
//   idle      waiting for frames or the next timer tick (poll_mode adaptive / interrupt)
#define INGRESS_LOOP_PHASES(X) \
    X(kRx, "rx")               \
    X(kPipeline, "pipeline")   \
    X(kWakeups, "wakeups")     \
    X(kIdle, "idle")

enum class LoopPhase : uint8_t {
#define X(e, name) e,
    INGRESS_LOOP_PHASES(X)
#undef X
};
const char* loop_phase_name(LoopPhase p) noexcept;

// A consistent-enough copy for printing (each field read once; fields may be a burst apart).
struct RuntimeSnapshot {
    uint64_t polls = 0;        // rx_burst calls
    uint64_t empty_polls = 0;  // ... that returned nothing
    uint64_t frames = 0;       // frames received
    uint64_t sleeps = 0;       // idle sleeps (poll_mode adaptive / interrupt)
    uint64_t busy_cycles = 0;  // TSC cycles of polls that received frames, rx to tx
    uint64_t idle_cycles = 0;  // TSC cycles of empty polls, timer-only bursts and sleeps
    std::array<uint64_t, kStageCount> stage_cycles{};
    std::array<uint64_t, kStageCount> stage_frames{};  // frames that entered the stage
    std::array<uint64_t, kStageCount> stage_calls{};   // bursts that ran the stage with
                                                       // frames (timers: every run)

    uint64_t bursts() const noexcept { return polls - empty_polls; }
    double idle_share() const noexcept {
        const uint64_t all = busy_cycles + idle_cycles;
        return all ? static_cast<double>(idle_cycles) / static_cast<double>(all) : 0;
    }
    RuntimeSnapshot& operator+=(const RuntimeSnapshot& o) noexcept;
};

// The snapshot as a flat array (the control protocol's kRuntimeValues): polls, empty polls,
// frames, sleeps, busy cycles, idle cycles, then per stage in Stage order: cycles, frames,
// calls. runtime_from_array() refuses an array of another length (another stage list).
inline constexpr std::size_t kRuntimeValues = 6 + 3 * kStageCount;
std::array<uint64_t, kRuntimeValues> runtime_array(const RuntimeSnapshot& s) noexcept;
std::optional<RuntimeSnapshot> runtime_from_array(const uint64_t* v, std::size_t n) noexcept;

class RuntimeProfile {
public:
    // The worker's side (its thread only).
    void stage(Stage s, uint64_t cycles, uint32_t frames) noexcept {
        const auto i = static_cast<std::size_t>(s);
        add(stage_cycles_[i], cycles);
        add(stage_frames_[i], frames);
        add(stage_calls_[i], 1);
    }
    void poll(uint32_t frames, uint64_t cycles) noexcept {
        add(polls_, 1);
        if (frames) {
            add(frames_, frames);
            add(busy_cycles_, cycles);
        } else {
            add(empty_polls_, 1);
            add(idle_cycles_, cycles);
        }
    }
    void slept(uint64_t cycles) noexcept {
        add(sleeps_, 1);
        add(idle_cycles_, cycles);
    }
    // Once per loop iteration, profile or not: the worker is alive (ingressd's watchdog).
    void beat() noexcept { add(beats_, 1); }
    // Profile or not: where the loop is now (the watchdog's message).
    void at(LoopPhase p) noexcept {
        phase_.store(static_cast<uint8_t>(p), std::memory_order_relaxed);
    }

    // Anyone's side.
    RuntimeSnapshot snapshot() const noexcept;
    uint64_t beats() const noexcept { return beats_.load(std::memory_order_relaxed); }
    LoopPhase phase() const noexcept {
        return static_cast<LoopPhase>(phase_.load(std::memory_order_relaxed));
    }

private:
    static void add(std::atomic<uint64_t>& c, uint64_t v) noexcept {
        c.store(c.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
    }
    alignas(64) std::atomic<uint64_t> polls_{0};
    std::atomic<uint64_t> beats_{0};
    std::atomic<uint8_t> phase_{0};
    std::atomic<uint64_t> empty_polls_{0}, frames_{0}, sleeps_{0}, busy_cycles_{0}, idle_cycles_{0};
    std::array<std::atomic<uint64_t>, kStageCount> stage_cycles_{}, stage_frames_{}, stage_calls_{};
};

// Stamps the stages of one burst: lap(s, n) charges the cycles since the previous lap to
// stage s, entered by n frames. A stage no frame entered is not charged (an idle timer tick
// runs the other stages on an empty batch: those cycles are the poll's idle time), except
// the timers, which run for themselves. With no profile it does nothing (no TSC read).
class Laps {
public:
    explicit Laps(RuntimeProfile* p) noexcept : p_(p), t_(p ? core::tsc_now() : 0) {}
    void lap(Stage s, uint32_t frames) noexcept {
        if (!p_) return;
        const uint64_t t = core::tsc_now();
        if (frames || s == Stage::kTimers) p_->stage(s, t - t_, frames);
        t_ = t;
    }

private:
    RuntimeProfile* p_;
    uint64_t t_;
};

}  // namespace ingress::worker
