// The poll loop of one worker: one (interface, queue), run to completion, in bursts.
//
//   loop:  rx_burst (up to 64) -> Pipeline::process(batch, now) -> quiescent state
//          idle (no frames): an empty burst every timer_period_ns runs the timers
//          (reassembly expiry) so held fragments time out on an idle queue too.
//
// The worker is an RCU reader (liburcu QSBR): tables it reads during a burst stay valid
// until it announces a quiescent state after the burst, so route and endpoint changes are
// published without ever stopping it. No allocation, lock or syscall here besides the
// backend's own wakeups.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/clock.h"
#include "core/counters.h"
#include "io/backend.h"
#include "worker/pipeline.h"

namespace ingress::worker {

struct WorkerOptions {
    uint16_t queue = 0;
    uint64_t timer_period_ns = 10'000'000;  // idle timer tick (10 ms)
    uint32_t idle_pause_us = 0;             // 0: busy poll; else sleep this long when idle
};

class Worker {
public:
    Worker(io::Backend& backend, core::CounterBlock& counters, const PipelineTables& tables,
           const core::Clock& clock, WorkerOptions opt) noexcept
        : backend_(backend), clock_(clock), opt_(opt), pipeline_(backend, counters, tables) {}

    // Polls until `stop` is set. Registers the calling thread as an RCU reader for the
    // duration. `after_burst` (may be null) runs after every non-empty burst on this thread.
    void run(const std::atomic<bool>& stop, void (*after_burst)(void*) = nullptr,
             void* ctx = nullptr);

    // One iteration (tests and single-threaded tools): returns frames received.
    uint16_t poll_once();

    Pipeline& pipeline() noexcept { return pipeline_; }

private:
    io::Backend& backend_;
    const core::Clock& clock_;
    WorkerOptions opt_;
    Pipeline pipeline_;
    core::PacketBatch batch_;
    uint64_t last_timer_ns_ = 0;
};

}  // namespace ingress::worker
