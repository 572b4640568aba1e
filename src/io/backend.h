// The rx/tx burst interface every backend implements: memory (tests), pcap (replay and
// capture), AF_XDP and DPDK. Calls are per burst, never per packet.
//
// Ownership: rx_burst() hands the caller buffers it must give back exactly once, through
// free_bulk(), tx_burst() or pass_burst(). try_alloc() lends a fresh buffer for a frame the
// dataplane builds (ICMP errors) on the same terms.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include "core/counters.h"
#include "core/packet.h"
#include "core/stats_format.h"

namespace ingress::io {

struct BackendStats {
    uint64_t rx = 0;           // frames handed out by rx_burst
    uint64_t tx = 0;           // frames accepted by tx_burst
    uint64_t passed = 0;       // frames accepted by pass_burst (to the kernel / exception path)
    uint64_t freed = 0;        // buffers returned by free_bulk
    uint64_t rx_oversize = 0;  // frames the backend could not receive (larger than a buffer)
    uint64_t alloc_fail = 0;   // try_alloc / rx found no free buffer
    // The DPDK exception path (src/io/dpdk/backend.h); zero elsewhere.
    uint64_t steered = 0;              // frames not for the dataplane, given to the kernel at rx
    uint64_t rx_missed = 0;            // frames the device dropped before rx_burst (ring full)
    uint64_t pass_dropped = 0;         // passed frames the kernel did not get (DPDK: the TAP
                                       // refused them; AF_XDP: every one, it has no way back)
    uint64_t from_kernel = 0;          // the kernel's frames sent out of the port
    uint64_t from_kernel_dropped = 0;  // the kernel's frames the port refused
    uint64_t tap_lost = 0;             // DPDK: steered frames whose copy for the taps found no room
};

// One queue's share of BackendStats, written by the worker that polls the queue and read
// live by the control thread (`ingressctl stats`): single-writer counters (core::Counter, a
// plain load and store for the writer). rx_missed has no field here: the kernel or the
// device counts it.
struct QueueStats {
    core::Counter rx, tx, passed, freed, rx_oversize, alloc_fail, steered, pass_dropped,
        from_kernel, from_kernel_dropped, tap_lost;
    void add_to(BackendStats& s) const noexcept {
        s.rx += rx.get();
        s.tx += tx.get();
        s.passed += passed.get();
        s.freed += freed.get();
        s.rx_oversize += rx_oversize.get();
        s.alloc_fail += alloc_fail.get();
        s.steered += steered.get();
        s.pass_dropped += pass_dropped.get();
        s.from_kernel += from_kernel.get();
        s.from_kernel_dropped += from_kernel_dropped.get();
        s.tap_lost += tap_lost.get();
    }
};

// BackendStats under its field names, for the operator (a core::CounterGroup with source
// "backend"; the caller names the device and backend).
std::vector<core::NamedCounter> named(const BackendStats& s);

class Backend {
public:
    virtual ~Backend() = default;

    // Up to `max` frames from `queue` into pkts[0..n). Sets data, len, buf, rx_ns, queue and
    // ifindex; every other field is reset to its default (io/rx_packet.h init_packet) except
    // what a backend that parsed the frame to steer it leaves for l2 (kFlagL2Parsed). rx_ns
    // is the backend's clock: CLOCK_REALTIME ns for AF_XDP and DPDK (read once per burst, as
    // SO_TIMESTAMPNS would stamp it), the capture's timestamp for pcap, the injected one for
    // memory; never decreasing along a queue (unless the wall clock is set back, as for
    // the kernel's own timestamps).
    virtual uint16_t rx_burst(uint16_t queue, core::Packet* pkts, uint16_t max) noexcept = 0;
    // Sends pkts[0..n); returns how many were accepted (the backend owns those buffers now).
    // The caller frees the rest.
    virtual uint16_t tx_burst(uint16_t queue, core::Packet* pkts, uint16_t n) noexcept = 0;
    // Hands frames the dataplane does not consume to the kernel where the backend can: DPDK
    // sends them to its exception TAP; AF_XDP cannot (a frame in an XSK cannot re-enter the
    // kernel's stack), so it counts them as pass_dropped and frees the buffers (the XDP program
    // keeps the kernel's traffic away from the socket); memory/pcap record them. Takes all n,
    // and each buffer comes back exactly once.
    virtual void pass_burst(uint16_t queue, core::Packet* pkts, uint16_t n) noexcept = 0;
    // Whether pass_burst() reaches the kernel: false for AF_XDP (and DPDK without an exception
    // TAP), whose would-be-passed frames the pipeline drops as XDP_UNPASSABLE instead of
    // counting them passed (docs/accounting.md). Read once, when the pipeline is built.
    virtual bool can_pass() const noexcept { return true; }
    virtual void free_bulk(const uint64_t* bufs, uint16_t n) noexcept = 0;
    // A buffer of at least `len` bytes for a frame the dataplane builds, from the buffers of
    // queue `pkt.queue` (the queue it will be sent on); pkt is reset, data/buf/len/queue set.
    [[nodiscard]] virtual bool try_alloc(core::Packet& pkt, uint32_t len) noexcept = 0;

    // The calling thread polls `queue` from now on (a worker calls it once, first). Backends
    // whose buffers belong to one queue's memory use it to keep every thread on its own
    // queue's rings and to send other queues' buffers home (AF_XDP); others ignore it.
    virtual void attach_thread(uint16_t /*queue*/) noexcept {}

    // An idle worker's sleep (worker.h, poll_mode): blocks the calling worker until `queue`
    // may have frames or `timeout_ns` has passed, whichever is first; a spurious early return
    // is allowed. Returns false at once when the backend has no wakeup event for the queue
    // (memory, pcap, a DPDK PMD without rx interrupts): the worker then sleeps a bounded
    // backoff instead. AF_XDP: poll() on the socket (which also kicks the fill ring when the
    // kernel asks, need_wakeup); DPDK: the queue's rx interrupt where the PMD has one.
    [[nodiscard]] virtual bool wait_rx(uint16_t /*queue*/, uint64_t /*timeout_ns*/) noexcept {
        return false;
    }
    // The micro-sleep of a worker whose wait_rx() had no wakeup: `ns` nanoseconds, or less
    // where the backend has something else to serve (DPDK: the exception TAP's frames from
    // the kernel, sent out at once). Default: nanosleep.
    virtual void micro_sleep(uint16_t /*queue*/, uint64_t ns) noexcept {
        const timespec ts{.tv_sec = static_cast<time_t>(ns / 1'000'000'000),
                          .tv_nsec = static_cast<long>(ns % 1'000'000'000)};
        nanosleep(&ts, nullptr);
    }

    // Safe from any thread while workers poll (the control thread reads it per request).
    virtual BackendStats stats() const noexcept = 0;
    // stats() under its field names, then what the kernel or the device counts for the
    // interface under its own names (AF_XDP: XDP_STATISTICS per socket; DPDK: rte_eth_stats),
    // `device` left for the caller. Read per request from the control thread (a getsockopt
    // per socket, rte_eth_stats_get per port), never from a worker.
    virtual std::vector<core::CounterGroup> counter_groups() const {
        return {{.device = {},
                 .backend = name(),
                 .source = "backend",
                 .queue = -1,
                 .counters = named(stats())}};
    }
    virtual std::string name() const = 0;
};

}  // namespace ingress::io
