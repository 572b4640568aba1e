#include "demux/endpoint_publisher.h"

#include <urcu-qsbr.h>

namespace ingress::demux {

EndpointPublisher::EndpointPublisher() {
    cur_.store(EndpointTable::Builder().build().release(), std::memory_order_release);
}

EndpointPublisher::~EndpointPublisher() {
    synchronize_rcu();
    delete cur_.load(std::memory_order_relaxed);
}

void EndpointPublisher::publish(std::unique_ptr<const EndpointTable> next,
                                std::function<void()> reclaim) {
    // Release: a worker that loads the new pointer sees a fully built table.
    const EndpointTable* old = cur_.exchange(next.release(), std::memory_order_acq_rel);
    ++generation_;
    // Every registered reader passes a quiescent state: none can still hold `old`, nor any
    // endpoint only `old` named.
    synchronize_rcu();
    delete old;
    if (reclaim) reclaim();
}

}  // namespace ingress::demux
