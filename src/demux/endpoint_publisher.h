// Publishing endpoint snapshots to the workers without stopping them.
//
// The same liburcu QSBR pattern as ipv4::RoutePublisher: workers read() the current
// EndpointTable once per burst (the burst is the read-side section) and announce a quiescent
// state between bursts; the control plane swaps in a new snapshot (release) and, after a
// grace period (synchronize_rcu), frees the old snapshot and runs the deferred reclaims
// queued with it (endpoints closed by that change: their rings and doorbells), so an
// endpoint outlives every snapshot that names it.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "demux/endpoint_table.h"

namespace ingress::demux {

class EndpointPublisher {
public:
    EndpointPublisher();  // publishes an empty table
    ~EndpointPublisher();
    EndpointPublisher(const EndpointPublisher&) = delete;
    EndpointPublisher& operator=(const EndpointPublisher&) = delete;

    // Workers: the current snapshot, valid until the calling thread's next quiescent state.
    const EndpointTable* read() const noexcept { return cur_.load(std::memory_order_acquire); }

    // Control plane (one thread, not an online reader): publish `next`, wait for a grace
    // period, free the previous snapshot, then run `reclaim` (objects only the previous
    // snapshot could still name). Returns after the old snapshot is gone.
    void publish(std::unique_ptr<const EndpointTable> next, std::function<void()> reclaim = {});
    uint64_t generation() const noexcept { return generation_; }

private:
    std::atomic<const EndpointTable*> cur_{nullptr};
    uint64_t generation_ = 0;
};

}  // namespace ingress::demux
