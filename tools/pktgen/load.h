// Offering a load: one thread per TX queue, each with its own sender (AF_XDP socket or DPDK
// queue), paced to a share of the rate, until a frame count or a duration is reached or
// stop is set. Shared by plain runs and by every RFC 2544 trial.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

namespace ingress::pktgen {

// One TX queue's way out. Called from that queue's thread only.
class QueueSender {
public:
    virtual ~QueueSender() = default;
    // Queues up to n frames (the next templates, round robin; n at most Load::kMaxBurst);
    // returns how many went (fewer: the queue was full).
    virtual uint32_t send(uint32_t n) noexcept = 0;
    // Waits until what was queued has left (or a short timeout).
    virtual void drain() noexcept = 0;
    virtual uint64_t sent_bytes() const noexcept = 0;  // without FCS
    virtual bool zero_copy() const noexcept { return false; }
};
// Opens queue q's sender (throws std::runtime_error on failure).
using SenderFactory = std::function<std::unique_ptr<QueueSender>(uint16_t q)>;

struct Load {
    static constexpr uint32_t kMaxBurst = 512;
    double pps = 0;       // 0: as fast as possible
    uint64_t count = 0;   // 0: until duration
    double duration = 0;  // seconds; 0: until count
    unsigned queues = 1;
    bool progress = true;   // a line a second on stderr
    double avg_frame = 64;  // bytes with FCS, for the progress line's Gbit/s
    uint32_t burst = 64;    // frames handed to the queue per call, 1..kMaxBurst
};

struct Sent {
    uint64_t frames = 0, bytes = 0;
    // Frames a full queue did not take when asked (tried again): the peer, not the
    // generator, was the limit while this grows.
    uint64_t refused = 0;
    double seconds = 0;  // the slowest queue's time from its first frame to drained
    bool zero_copy = true;
    bool failed = false;
};

Sent offer(const Load& load, const SenderFactory& open, std::atomic<bool>& stop);

}  // namespace ingress::pktgen
