#include "worker/worker.h"

#include <sys/prctl.h>
#include <time.h>

#include <algorithm>

#include "ipv4/route_tables.h"

namespace ingress::worker {

uint16_t Worker::poll_once() {
    const bool prof = opt_.profile;
    const uint64_t t0 = prof ? core::tsc_now() : 0;
    profile_.at(LoopPhase::kRx);
    batch_.count = backend_.rx_burst(opt_.queue, batch_.pkts.data(), core::kBurst);
    const uint16_t n = batch_.count;
    if (prof && n) profile_.stage(Stage::kRx, core::tsc_now() - t0, n);
    const uint64_t now = clock_.now_ns();
    now_ = now;
    if (n || now - last_timer_ns_ >= opt_.timer_period_ns) {
        profile_.at(LoopPhase::kPipeline);
        pipeline_.process(batch_, now);  // an empty burst runs only the timers
        last_timer_ns_ = now;
        if (n) {
            last_frame_ns_ = now;
            backoff_ns_ = 0;
        }
    }
    if (prof) profile_.poll(n, core::tsc_now() - t0);
    return n;
}

void Worker::idle() noexcept {
    if (opt_.poll_mode == PollMode::kBusy) return;
    if (opt_.poll_mode == PollMode::kAdaptive && now_ - last_frame_ns_ < opt_.idle.spin_ns) return;
    // Until the next timer tick at the latest: the reassembly timers run on time.
    const uint64_t due = last_timer_ns_ + opt_.timer_period_ns;
    if (due <= now_) return;
    const uint64_t timeout = due - now_;
    const uint64_t t0 = core::tsc_now();
    profile_.at(LoopPhase::kIdle);
    ipv4::rcu_reader_offline();  // a sleeping reader holds up no grace period
    if (!backend_.wait_rx(opt_.queue, timeout)) {
        // Deep idle (no frame for deep_idle_ns, or none yet): the longer cap.
        const bool deep = now_ - last_frame_ns_ >= opt_.idle.deep_idle_ns;
        backoff_ns_ = std::clamp(backoff_ns_ * 2, kBackoffMinNs,
                                 deep ? opt_.idle.deep_backoff_max_ns : opt_.idle.backoff_max_ns);
        backend_.micro_sleep(opt_.queue, std::min(backoff_ns_, timeout));
    }
    ipv4::rcu_reader_online();
    profile_.slept(core::tsc_now() - t0);
}

uint16_t Worker::step(void (*after_burst)(void*), void* ctx) {
    profile_.beat();
    const uint16_t n = poll_once();
    if (n && after_burst) {
        profile_.at(LoopPhase::kWakeups);
        after_burst(ctx);
    }
    // Between bursts nothing of the tables is referenced: old snapshots may go.
    ipv4::rcu_reader_quiescent();
    if (!n) idle();
    return n;
}

void Worker::run(const std::atomic<bool>& stop, void (*after_burst)(void*), void* ctx) {
    ipv4::rcu_reader_register();
    backend_.attach_thread(opt_.queue);
    // The micro-sleeps are short: the default 50 us timer slack would more than double them.
    if (opt_.poll_mode != PollMode::kBusy) prctl(PR_SET_TIMERSLACK, 1000UL);
    while (!stop.load(std::memory_order_relaxed)) step(after_burst, ctx);
    // Fragments still waiting for their datagram leave with a fate before the counters are read.
    pipeline_.shutdown();
    ipv4::rcu_reader_unregister();
}

}  // namespace ingress::worker
