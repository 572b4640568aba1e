// The poll loop of one worker: one (interface, queue), run to completion, in bursts.
//
//   loop:  rx_burst (up to 64) -> Pipeline::process(batch, now) -> quiescent state
//          idle (no frames): an empty burst every timer_period_ns runs the timers
//          (reassembly expiry) so held fragments time out on an idle queue too.
//
// Idle, by poll_mode (worker/poll_mode.h, README "Idle workers"):
//   busy       polls again at once.
//   adaptive   polls again until spin_ns have passed since the last frame, then as interrupt.
//   interrupt  sleeps until a frame may be there or the next timer tick is due, whichever
//              is first: in the backend's wakeup (io::Backend::wait_rx: poll() on the
//              AF_XDP socket, a DPDK rx interrupt), or, where the backend has none, in a
//              micro-sleep that doubles from kBackoffMinNs to backoff_max_ns (the added
//              latency's bound) and starts over at the next frame; once no frame has come
//              for deep_idle_ns it doubles on to deep_backoff_max_ns (the bound of the first
//              frame after a long idle spell: fewer wakeups, a worker's idle CPU share
//              below 1% where each wakeup costs some 25 us).
// The idle timings (spin_ns, the caps, deep_idle_ns) are IdleTimes (poll_mode.h), the
// interface's `idle:` in the config.
// A sleeping worker is an offline RCU reader: route and endpoint changes are published
// without waiting for it to wake.
//
// The worker is an RCU reader (liburcu QSBR): tables it reads during a burst stay valid
// until it announces a quiescent state after the burst, so route and endpoint changes are
// published without ever stopping it. No allocation, lock or syscall here besides the
// backend's own wakeups and the idle sleep.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/clock.h"
#include "core/counters.h"
#include "io/backend.h"
#include "worker/pipeline.h"
#include "worker/poll_mode.h"
#include "worker/runtime.h"

namespace ingress::worker {

struct WorkerOptions {
    uint16_t queue = 0;
    uint64_t timer_period_ns = kTimerPeriodNs;  // idle timer tick (10 ms)
    PollMode poll_mode = PollMode::kAdaptive;
    IdleTimes idle;       // the spin, the micro-sleep's caps, deep idle
    bool profile = true;  // the runtime profile's stage stamps (runtime.h)
};

class Worker {
public:
    Worker(io::Backend& backend, core::CounterBlock& counters, const PipelineTables& tables,
           const core::Clock& clock, WorkerOptions opt) noexcept
        : backend_(backend), clock_(clock), opt_(opt), pipeline_(backend, counters, tables) {
        if (opt_.profile) pipeline_.set_profile(&profile_);
    }

    // Polls until `stop` is set. Registers the calling thread as an RCU reader for the
    // duration. `after_burst` (may be null) runs after every non-empty burst on this thread.
    void run(const std::atomic<bool>& stop, void (*after_burst)(void*) = nullptr,
             void* ctx = nullptr);

    // One iteration (tests and single-threaded tools): returns frames received.
    uint16_t poll_once();
    // One iteration of run()'s loop, on a thread that attached and registered as an RCU
    // reader: poll_once(), after_burst, the quiescent state, then the idle wait poll_mode
    // asks for. Returns frames received.
    uint16_t step(void (*after_burst)(void*) = nullptr, void* ctx = nullptr);

    Pipeline& pipeline() noexcept { return pipeline_; }
    // Its runtime profile (polls, stages, idle share); readable from any thread. Idle sleeps
    // are counted whether or not opt.profile stamps the stages.
    const RuntimeProfile& runtime() const noexcept { return profile_; }
    // The current micro-sleep's length (0 after a frame), for tests: it doubles per idle
    // sleep up to backoff_max_ns, or deep_backoff_max_ns in deep idle.
    uint64_t micro_sleep_ns() const noexcept { return backoff_ns_; }

private:
    void idle() noexcept;

    io::Backend& backend_;
    const core::Clock& clock_;
    WorkerOptions opt_;
    Pipeline pipeline_;
    core::PacketBatch batch_;
    uint64_t now_ = 0;  // the last poll's time
    uint64_t last_timer_ns_ = 0;
    uint64_t last_frame_ns_ = 0;
    uint64_t backoff_ns_ = 0;  // the last micro-sleep; 0 after a frame
    RuntimeProfile profile_;
};

}  // namespace ingress::worker
