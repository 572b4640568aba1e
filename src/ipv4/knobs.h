// The net.ipv4.* knobs the workers read, published to them while they run.
//
// The kernel reads these sysctls at each use (icmp_global_allow() reads icmp_msgs_per_sec,
// ip_frag_queue() ipfrag_max_dist, ...), so `sysctl -w net.ipv4.icmp_ratelimit=0` applies to
// the next packet. Here each worker keeps its own copy (its IcmpSender's and Defrag's
// configuration: no shared reads on the hot path) and takes the published value at the start
// of its next burst when the generation moved: one load and a predictable branch per burst.
// The control thread publishes (host: kernel: the sysctl mirror's reading, every second;
// host: config: a reload); the old value is freed after a grace period (liburcu QSBR, as the
// route tables).
//
// What a change does to state already there follows the kernel: a reassembly queue keeps the
// timeout it was given (ip_frag_queue() arms the timer with the ipfrag_time of its first
// fragment), the ICMP token buckets keep their tokens and refill at the new rate.
#pragma once

#include <atomic>
#include <cstdint>

#include "ipv4/defrag.h"
#include "ipv4/icmp_send.h"
#include "ipv4/pmtu.h"

namespace ingress::ipv4 {

struct NetKnobs {
    IcmpConfig icmp;              // icmp_*, ip_default_ttl (and the ports' MTU, not a knob)
    DefragConfig defrag;          // ipfrag_* (and the pool sizes, fixed when a worker starts)
    bool ip_early_demux = true;   // net.ipv4.ip_early_demux (udp_v4_early_demux runs when
    bool udp_early_demux = true;  // both are on: demux::EarlyDemuxConfig)
    PmtuConfig pmtu;              // net.ipv4.route.min_pmtu, mtu_expires
    friend bool operator==(const NetKnobs&, const NetKnobs&) = default;
};

class KnobPublisher {
public:
    struct Snapshot {
        NetKnobs knobs;
        uint64_t generation = 0;
    };

    explicit KnobPublisher(const NetKnobs& k) : cur_(new Snapshot{k, 1}) {}
    ~KnobPublisher();
    KnobPublisher(const KnobPublisher&) = delete;
    KnobPublisher& operator=(const KnobPublisher&) = delete;

    // Workers: valid until the calling thread's next quiescent state.
    const Snapshot* read() const noexcept { return cur_.load(std::memory_order_acquire); }
    // Control thread: publishes `k` when it differs from the current value (true), then
    // waits for a grace period and frees the old one. Must not be called from an online
    // reader thread.
    bool publish(const NetKnobs& k);
    const NetKnobs& current() const noexcept { return cur_.load(std::memory_order_relaxed)->knobs; }

private:
    std::atomic<const Snapshot*> cur_;
};

}  // namespace ingress::ipv4
