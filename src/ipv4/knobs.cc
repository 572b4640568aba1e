#include "ipv4/knobs.h"

#include "ipv4/route_tables.h"

namespace ingress::ipv4 {

KnobPublisher::~KnobPublisher() {
    rcu_wait_grace_period();
    delete cur_.load(std::memory_order_relaxed);
}

bool KnobPublisher::publish(const NetKnobs& k) {
    const Snapshot* old = cur_.load(std::memory_order_relaxed);
    if (old->knobs == k) return false;
    cur_.store(new Snapshot{k, old->generation + 1}, std::memory_order_release);
    rcu_wait_grace_period();
    delete old;
    return true;
}

}  // namespace ingress::ipv4
