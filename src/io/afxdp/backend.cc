#include "io/afxdp/backend.h"

#include <linux/if_xdp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xdp/xsk.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "core/spsc_ring.h"
#include "io/afxdp/rx_meta.h"
#include "io/afxdp/xdp_program.h"
#include "io/rx_packet.h"

#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif

namespace ingress::io::afxdp {
namespace {
constexpr uint64_t kQueueShift = 48;
constexpr uint64_t kAddrMask = (uint64_t{1} << kQueueShift) - 1;
}  // namespace

namespace {
// Which backend and queue slot the calling thread attached to (attach_thread).
thread_local const void* tl_backend = nullptr;
thread_local std::size_t tl_slot = 0;
constexpr std::size_t kTxReserve = 64;  // free frames refill() leaves for try_alloc()
}  // namespace

struct AfXdpBackend::Queue {
    uint16_t id = 0;
    std::size_t slot = 0;  // index in queues_
    // returns[s]: frame addresses of this UMEM freed by the worker of queue slot s.
    std::vector<std::unique_ptr<core::SpscRing<uint64_t>>> returns;
    uint32_t frame_size = 0;
    void* area = nullptr;
    std::size_t area_size = 0;
    xsk_umem* umem = nullptr;
    xsk_socket* xsk = nullptr;
    xsk_ring_prod fill{};
    xsk_ring_cons comp{};
    xsk_ring_cons rx{};
    xsk_ring_prod tx{};
    std::vector<uint64_t> free;  // frame addresses not in any ring
    uint32_t tx_outstanding = 0;
    bool zero_copy = false;
    QueueStats st;

    uint8_t* data(uint64_t addr) const noexcept {
        return static_cast<uint8_t*>(xsk_umem__get_data(area, addr));
    }
    void reclaim_returns() noexcept {
        uint64_t tmp[64];
        for (auto& r : returns) {
            if (!r) continue;
            uint32_t n;
            while ((n = r->try_dequeue_burst(tmp, 64)) > 0) free.insert(free.end(), tmp, tmp + n);
        }
    }
    void reclaim_completions() noexcept {
        uint32_t idx;
        uint32_t n = xsk_ring_cons__peek(&comp, 64, &idx);
        for (uint32_t i = 0; i < n; ++i) free.push_back(*xsk_ring_cons__comp_addr(&comp, idx + i));
        if (n) {
            xsk_ring_cons__release(&comp, n);
            tx_outstanding -= n;
        }
    }
    void refill() noexcept {
        // Keep a burst's worth for the frames the pipeline builds (ICMP errors are
        // allocated mid-burst, before the burst's own buffers are freed): with every free
        // frame in the fill ring, a busy queue would have none to build them in.
        if (free.size() <= kTxReserve) return;
        uint32_t want = static_cast<uint32_t>(free.size() - kTxReserve);
        // xsk_ring_prod__reserve() is all-or-nothing: ask only for what fits.
        want = std::min(want, xsk_prod_nb_free(&fill, want));
        if (want == 0) return;
        uint32_t idx;
        uint32_t n = xsk_ring_prod__reserve(&fill, want, &idx);
        for (uint32_t i = 0; i < n; ++i) {
            *xsk_ring_prod__fill_addr(&fill, idx + i) = free.back();
            free.pop_back();
        }
        if (n) xsk_ring_prod__submit(&fill, n);
    }
};

AfXdpBackend::AfXdpBackend(const XskOptions& opt, XdpProgram& prog)
    : ifindex_(prog.ifindex()), rx_meta_(prog.hw_timestamps()) {
    for (uint16_t qid : opt.queues) {
        auto qu = std::make_unique<Queue>();
        Queue& Q = *qu;
        Q.id = qid;
        Q.frame_size = opt.frame_size;
        Q.area_size = std::size_t{opt.frames} * opt.frame_size;
        Q.area = mmap(nullptr, Q.area_size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        std::string where = opt.ifname + " queue " + std::to_string(qid);
        if (Q.area == MAP_FAILED)
            throw std::runtime_error(where + ": cannot map the UMEM: " + std::strerror(errno));
        xsk_umem_config ucfg{};
        // The fill ring is twice the RX ring (as xdpsock sizes it): while the RX ring holds
        // frames a stalled worker has not taken, the fill ring still has buffers, so the
        // kernel's drops read as rx_ring_full (the worker did not keep up), not as rx_dropped
        // for want of a buffer.
        ucfg.fill_size = 2 * opt.ring_size;
        ucfg.comp_size = opt.ring_size;
        ucfg.frame_size = opt.frame_size;
        ucfg.frame_headroom = 0;
        ucfg.flags = 0;
        if (int err = xsk_umem__create(&Q.umem, Q.area, Q.area_size, &Q.fill, &Q.comp, &ucfg))
            throw std::runtime_error(where + ": xsk_umem__create: " + std::strerror(-err));
        xsk_socket_config scfg{};
        scfg.rx_size = opt.ring_size;
        scfg.tx_size = opt.ring_size;
        scfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
        scfg.xdp_flags = 0;
        int err = -EINVAL;
        if (opt.zero_copy != XskOptions::ZeroCopy::kOff) {
            scfg.bind_flags = XDP_USE_NEED_WAKEUP | XDP_ZEROCOPY;
            err = xsk_socket__create(&Q.xsk, opt.ifname.c_str(), qid, Q.umem, &Q.rx, &Q.tx, &scfg);
            Q.zero_copy = err == 0;
        }
        if (err && opt.zero_copy != XskOptions::ZeroCopy::kOn) {
            scfg.bind_flags = XDP_USE_NEED_WAKEUP | XDP_COPY;
            err = xsk_socket__create(&Q.xsk, opt.ifname.c_str(), qid, Q.umem, &Q.rx, &Q.tx, &scfg);
        }
        if (err)
            throw std::runtime_error(
                where + ": xsk_socket__create: " + std::strerror(-err) +
                (opt.zero_copy == XskOptions::ZeroCopy::kOn ? " (zero-copy was required)" : ""));
        if (int e = xsk_socket__update_xskmap(Q.xsk, prog.xsks_map_fd()))
            throw std::runtime_error(
                where + ": cannot register the socket in the XSK map: " + std::strerror(-e));
        if (opt.busy_poll) {
            int fd = xsk_socket__fd(Q.xsk);
            int one = 1, usec = 20, budget = 64;
            setsockopt(fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof one);
            setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &usec, sizeof usec);
            setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget, sizeof budget);
        }
        // Half the frames go to the fill ring at once; the rest wait for TX and for frames
        // the pipeline holds (reassembly).
        Q.free.reserve(opt.frames);
        for (uint32_t i = opt.frames; i-- > 0;) Q.free.push_back(uint64_t{i} * opt.frame_size);
        Q.refill();
        if (qid >= index_.size()) index_.resize(qid + 1, -1);
        index_[qid] = static_cast<int16_t>(queues_.size());
        Q.slot = queues_.size();
        queues_.push_back(std::move(qu));
    }
    if (queues_.size() > 1)
        for (auto& Q : queues_) {
            Q->returns.resize(queues_.size());
            for (std::size_t s = 0; s < queues_.size(); ++s)
                if (s != Q->slot)
                    Q->returns[s] = std::make_unique<core::SpscRing<uint64_t>>(opt.frames);
        }
}

void AfXdpBackend::attach_thread(uint16_t queue) noexcept {
    Queue* Q = q(queue);
    tl_backend = Q ? this : nullptr;
    tl_slot = Q ? Q->slot : 0;
}

AfXdpBackend::Queue* AfXdpBackend::caller() const noexcept {
    return tl_backend == this ? queues_[tl_slot].get() : nullptr;
}

void AfXdpBackend::give_back(uint64_t handle, bool passed) noexcept {
    Queue* home = q(static_cast<uint16_t>(handle >> kQueueShift));
    if (!home) return;
    Queue* me = caller();
    Queue& counted = me ? *me : *home;  // each queue's counters have one writer
    // A passed frame cannot reach the kernel from here (backend.h): pass_dropped, not passed.
    (passed ? counted.st.pass_dropped : counted.st.freed).add();
    if (me && me != home) {
        // Cannot be full: the ring holds as many entries as the UMEM has frames.
        (void)home->returns[me->slot]->try_push(handle & kAddrMask);
        return;
    }
    home->free.push_back(handle & kAddrMask);
}

AfXdpBackend::~AfXdpBackend() {
    for (auto& Q : queues_) {
        if (Q->xsk) xsk_socket__delete(Q->xsk);
        if (Q->umem) xsk_umem__delete(Q->umem);
        if (Q->area && Q->area != MAP_FAILED) munmap(Q->area, Q->area_size);
    }
}

AfXdpBackend::Queue* AfXdpBackend::q(uint16_t queue) const noexcept {
    if (queue >= index_.size() || index_[queue] < 0) return nullptr;
    return queues_[static_cast<std::size_t>(index_[queue])].get();
}

uint16_t AfXdpBackend::rx_burst(uint16_t queue, core::Packet* pkts, uint16_t max) noexcept {
    Queue* Q = q(queue);
    if (!Q) return 0;
    Q->reclaim_returns();
    Q->reclaim_completions();
    Q->refill();
    if (xsk_ring_prod__needs_wakeup(&Q->fill)) {
        // The kernel ran out of fill entries and wants a kick.
        recvfrom(xsk_socket__fd(Q->xsk), nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
    }
    uint32_t idx;
    uint32_t n = xsk_ring_cons__peek(&Q->rx, max, &idx);
    const uint64_t now = n ? rx_clock_ns() : 0;
    for (uint32_t i = 0; i < n; ++i) {
        const xdp_desc* d = xsk_ring_cons__rx_desc(&Q->rx, idx + i);
        uint64_t base = xsk_umem__extract_addr(d->addr);
        uint64_t addr = xsk_umem__add_offset_to_addr(d->addr);
        init_packet(pkts[i], Q->data(addr), d->len, (uint64_t{queue} << kQueueShift) | base, queue,
                    ifindex_, now);
        // The device-bound program's metadata: the NIC's stamp (rx_meta.h). The UMEM is in
        // aligned mode (frame_size a power of two): the frame's headroom is the address's
        // offset in its chunk.
        if (rx_meta_) take_rx_meta(pkts[i], addr & (Q->frame_size - 1));
    }
    if (n) xsk_ring_cons__release(&Q->rx, n);
    Q->st.rx.add(n);
    return static_cast<uint16_t>(n);
}

bool AfXdpBackend::wait_rx(uint16_t queue, uint64_t timeout_ns) noexcept {
    Queue* Q = q(queue);
    if (!Q) return false;
    // POLLIN: the RX ring has a frame. poll() also wakes the driver to use the fill ring when
    // the kernel asked for it (need_wakeup), so frames can arrive while we sleep.
    pollfd pfd{.fd = xsk_socket__fd(Q->xsk), .events = POLLIN, .revents = 0};
    const timespec ts{.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000),
                      .tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000)};
    ppoll(&pfd, 1, &ts, nullptr);  // an error (EINTR) is an early return: the worker polls
    return true;
}

uint16_t AfXdpBackend::tx_burst(uint16_t queue, core::Packet* pkts, uint16_t n) noexcept {
    if (Queue* me = caller()) queue = me->id;  // a worker sends on its own queue only
    Queue* Q = q(queue);
    if (!Q) return 0;
    Q->reclaim_completions();
    uint32_t idx;
    // A frame can only leave through the socket whose UMEM holds it.
    uint16_t ours = 0;
    while (ours < n && (pkts[ours].buf >> kQueueShift) == queue) ++ours;
    uint32_t got = xsk_ring_prod__reserve(&Q->tx, ours, &idx);
    for (uint32_t i = 0; i < got; ++i) {
        xdp_desc* d = xsk_ring_prod__tx_desc(&Q->tx, idx + i);
        d->addr = pkts[i].buf & kAddrMask;
        d->len = pkts[i].len;
        d->options = 0;
    }
    if (got) {
        xsk_ring_prod__submit(&Q->tx, got);
        Q->tx_outstanding += got;
        if (xsk_ring_prod__needs_wakeup(&Q->tx))
            sendto(xsk_socket__fd(Q->xsk), nullptr, 0, MSG_DONTWAIT, nullptr, 0);
    }
    Q->st.tx.add(got);
    return static_cast<uint16_t>(got);
}

void AfXdpBackend::pass_burst(uint16_t, core::Packet* pkts, uint16_t n) noexcept {
    for (uint16_t i = 0; i < n; ++i) give_back(pkts[i].buf, true);
}

void AfXdpBackend::free_bulk(const uint64_t* bufs, uint16_t n) noexcept {
    for (uint16_t i = 0; i < n; ++i) give_back(bufs[i], false);
}

bool AfXdpBackend::try_alloc(core::Packet& pkt, uint32_t len) noexcept {
    // The frame must come from the UMEM of the queue it will be sent on: pkt.queue says which
    // (an attached worker's own queue, whatever pkt.queue says).
    uint16_t queue = pkt.queue;
    if (Queue* me = caller()) queue = me->id;
    Queue* Q = q(queue);
    if (!Q || len > Q->frame_size) return false;
    Q->reclaim_completions();
    if (Q->free.empty()) {
        Q->st.alloc_fail.add();
        return false;
    }
    uint64_t addr = Q->free.back();
    Q->free.pop_back();
    init_packet(pkt, Q->data(addr), len, (uint64_t{queue} << kQueueShift) | addr, queue, ifindex_,
                0);
    return true;
}

BackendStats AfXdpBackend::stats() const noexcept {
    BackendStats s;
    for (const auto& Q : queues_) {
        // Frames the socket could not take: the kernel counts them (xsk_rcv: rx_dropped when
        // no fill buffer was there or the frame was too long, rx_queue_full -- reported as
        // rx_ring_full -- when the RX ring was full; one frame, one of the two). Reported
        // here so they are never lost without a count.
        const XskCounters k = xsk_counters(Q->id);
        s.rx_missed += k.rx_dropped + k.rx_ring_full;
        Q->st.add_to(s);
    }
    return s;
}

std::vector<core::CounterGroup> AfXdpBackend::counter_groups() const {
    std::vector<core::CounterGroup> out = Backend::counter_groups();
    for (const auto& Q : queues_) {
        // struct xdp_statistics (include/uapi/linux/if_xdp.h), field for field.
        const XskCounters k = xsk_counters(Q->id);
        out.push_back(
            {.device = {},
             .backend = name(),
             .source = "xdp_statistics",
             .queue = Q->id,
             .counters = {
                 {"rx_dropped",
                  "frames the AF_XDP socket dropped: no buffer in the fill ring, or too long "
                  "for one",
                  k.rx_dropped},
                 {"rx_ring_full", "frames dropped because the socket's RX ring was full",
                  k.rx_ring_full},
                 {"rx_fill_ring_empty_descs",
                  "times the kernel found the fill ring empty (a frame then counts in "
                  "rx_dropped, or in the driver's drops in zero-copy mode)",
                  k.rx_fill_ring_empty},
                 {"rx_invalid_descs", "invalid descriptors on the socket's RX side",
                  k.rx_invalid_descs},
                 {"tx_invalid_descs", "invalid descriptors on the socket's TX ring",
                  k.tx_invalid_descs},
                 {"tx_ring_empty_descs", "times the kernel found the TX ring empty",
                  k.tx_ring_empty},
             }});
    }
    return out;
}

bool AfXdpBackend::zero_copy(uint16_t queue) const noexcept {
    Queue* Q = q(queue);
    return Q && Q->zero_copy;
}

AfXdpBackend::XskCounters AfXdpBackend::xsk_counters(uint16_t queue) const {
    Queue* Q = q(queue);
    xdp_statistics st{};
    socklen_t len = sizeof st;
    if (!Q || getsockopt(xsk_socket__fd(Q->xsk), SOL_XDP, XDP_STATISTICS, &st, &len) != 0)
        return {};
    return {st.rx_dropped,       st.rx_invalid_descs,
            st.rx_ring_full,     st.rx_fill_ring_empty_descs,
            st.tx_invalid_descs, st.tx_ring_empty_descs};
}

std::string AfXdpBackend::xsk_stats(uint16_t queue) const {
    const XskCounters c = xsk_counters(queue);
    return "rx_dropped " + std::to_string(c.rx_dropped) + " rx_invalid_descs " +
           std::to_string(c.rx_invalid_descs) + " rx_ring_full " + std::to_string(c.rx_ring_full) +
           " rx_fill_ring_empty_descs " + std::to_string(c.rx_fill_ring_empty);
}

}  // namespace ingress::io::afxdp
