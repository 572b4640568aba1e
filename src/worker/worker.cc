#include "worker/worker.h"

#include <unistd.h>

#include "ipv4/route_tables.h"

namespace ingress::worker {

uint16_t Worker::poll_once() {
    batch_.count = backend_.rx_burst(opt_.queue, batch_.pkts.data(), core::kBurst);
    const uint64_t now = clock_.now_ns();
    if (batch_.count || now - last_timer_ns_ >= opt_.timer_period_ns) {
        const uint16_t n = batch_.count;
        pipeline_.process(batch_, now);  // an empty burst runs only the timers
        last_timer_ns_ = now;
        return n;
    }
    return 0;
}

void Worker::run(const std::atomic<bool>& stop, void (*after_burst)(void*), void* ctx) {
    ipv4::rcu_reader_register();
    backend_.attach_thread(opt_.queue);
    while (!stop.load(std::memory_order_relaxed)) {
        const uint16_t n = poll_once();
        if (n && after_burst) after_burst(ctx);
        // Between bursts nothing of the tables is referenced: old snapshots may go.
        ipv4::rcu_reader_quiescent();
        if (!n && opt_.idle_pause_us) usleep(opt_.idle_pause_us);
    }
    // Fragments still waiting for their datagram leave with a fate before the counters are read.
    pipeline_.shutdown();
    ipv4::rcu_reader_unregister();
}

}  // namespace ingress::worker
