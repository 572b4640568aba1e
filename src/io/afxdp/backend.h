// The AF_XDP backend: one XSK (with its own UMEM) per queue of one interface, behind the
// io::Backend burst interface.
//
// Buffers: each queue's UMEM is `frames` frames of `frame_size` bytes. A buffer handle is
// (queue << 48) | frame address, so a buffer freed by any caller goes back to the right
// UMEM. Frames cycle: fill ring -> (kernel) -> rx ring -> pipeline -> free list -> fill
// ring; frames the dataplane builds (ICMP errors) come from the free list (try_alloc), go
// out on the TX ring and return through the completion ring.
//
// Threads: a queue's XSK, rings and free list are touched only by the worker that polls it.
// A worker says which queue it polls with attach_thread(); from then on its try_alloc() and
// tx_burst() use that queue whatever they are asked, and a buffer of another queue it frees
// or passes (the defrag handoff, src/ipv4/defrag.md, moves a fragment's buffer to the
// worker that owns its datagram) goes home through a return ring: one SPSC ring per
// (queue, other queue), drained into the free list by the home queue's worker at each
// rx_burst. A ring holds as many entries as the UMEM has frames, so a return never fails.
// A thread that never attached (the tests, ingress-live: one thread for everything) works
// on the queues directly, as before.
//
// need_wakeup is used: the fill ring is kicked (poll/recvfrom) only when the kernel asks,
// TX with sendto() only when it asks. An idle worker sleeps in poll() on the socket
// (wait_rx): the kernel wakes it when its RX ring gets a frame. Zero-copy is tried first where
// allowed, then copy mode; zero_copy() reports what the kernel granted.
//
// Hardware receive stamps: when the program on the interface is the device-bound variant
// (XdpProgram::hw_timestamps()), the NIC's stamp of each frame arrives as XDP metadata in the
// UMEM right before the frame; rx_burst sets core::kFlagHwTstamp on a frame that has one
// (rx_meta.h, hw_timestamps.md).
//
// pass_burst(): frames cannot go back into the kernel's stack from an XSK, and this backend
// has no exception interface: the XDP program keeps the kernel's traffic away from us, and
// a frame the pipeline still decides to pass (full-capture mode: ARP and the like; a
// datagram of a protocol the kernel handles) has its buffer freed and is counted in
// `pass_dropped`, never in `passed`: the kernel never sees it. can_pass() says so, and the
// pipeline drops such frames as XDP_UNPASSABLE before they get here (docs/accounting.md).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/backend.h"

namespace ingress::io::afxdp {

class XdpProgram;

struct XskOptions {
    std::string ifname;
    std::vector<uint16_t> queues{0};
    uint32_t frames = 4096;      // per queue
    uint32_t frame_size = 4096;  // XSK_UMEM__DEFAULT_FRAME_SIZE
    uint32_t ring_size = 2048;   // rx, tx, completion; the fill ring is twice this
    enum class ZeroCopy : uint8_t { kAuto, kOn, kOff } zero_copy = ZeroCopy::kAuto;
    bool busy_poll = false;  // SO_PREFER_BUSY_POLL + SO_BUSY_POLL where the kernel allows
};

class AfXdpBackend final : public Backend {
public:
    // Creates the UMEMs and sockets and registers them in the program's XSK map. Throws
    // std::runtime_error naming the interface and queue on failure.
    AfXdpBackend(const XskOptions& opt, XdpProgram& prog);
    ~AfXdpBackend() override;

    uint16_t rx_burst(uint16_t queue, core::Packet* pkts, uint16_t max) noexcept override;
    uint16_t tx_burst(uint16_t queue, core::Packet* pkts, uint16_t n) noexcept override;
    void pass_burst(uint16_t queue, core::Packet* pkts, uint16_t n) noexcept override;
    bool can_pass() const noexcept override { return false; }
    void free_bulk(const uint64_t* bufs, uint16_t n) noexcept override;
    bool try_alloc(core::Packet& pkt, uint32_t len) noexcept override;
    void attach_thread(uint16_t queue) noexcept override;
    bool wait_rx(uint16_t queue, uint64_t timeout_ns) noexcept override;
    BackendStats stats() const noexcept override;
    // The backend group, then one "xdp_statistics" group per socket (queue).
    std::vector<core::CounterGroup> counter_groups() const override;
    std::string name() const override { return "af_xdp"; }

    bool zero_copy(uint16_t queue) const noexcept;
    // Kernel-side ring statistics (XDP_STATISTICS): frames the socket could not take
    // (rx_dropped: no fill buffer or too long; rx_ring_full), bad descriptors, fill ring
    // empty, TX ring empty. Zeros when the socket cannot say. A getsockopt: any thread.
    struct XskCounters {
        uint64_t rx_dropped = 0, rx_invalid_descs = 0, rx_ring_full = 0, rx_fill_ring_empty = 0,
                 tx_invalid_descs = 0, tx_ring_empty = 0;
    };
    XskCounters xsk_counters(uint16_t queue) const;
    std::string xsk_stats(uint16_t queue) const;  // the same, as one line

private:
    struct Queue;
    Queue* q(uint16_t queue) const noexcept;
    Queue* caller() const noexcept;  // the queue the calling thread attached to, if any
    void give_back(uint64_t handle, bool passed) noexcept;
    std::vector<std::unique_ptr<Queue>> queues_;
    std::vector<int16_t> index_;  // queue id -> queues_ slot, -1 if not ours
    uint32_t ifindex_;
    // The program is the device-bound variant (XdpProgram::hw_timestamps()): every frame
    // comes with its metadata, the NIC's stamp in it (rx_meta.h).
    bool rx_meta_ = false;
};

}  // namespace ingress::io::afxdp
