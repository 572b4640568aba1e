#include "io/memory.h"

#include <cstring>

#include "io/rx_packet.h"

namespace ingress::io {

MemoryBackend::MemoryBackend(uint32_t ifindex, uint16_t queues, uint32_t buffers, uint32_t buf_size)
    : ifindex_(ifindex), pool_(buffers, buf_size), rxq_(queues) {}

bool MemoryBackend::inject(std::span<const uint8_t> frame, uint16_t queue, uint64_t rx_ns,
                           std::optional<uint64_t> hw_ns) {
    const uint32_t off = hw_ns ? kHwOff : 0;
    if (frame.size() + off > pool_.buf_size()) {
        ++stats_.rx_oversize;
        return false;
    }
    uint64_t b = pool_.try_get();
    if (b == BufferPool::kNone) {
        ++stats_.alloc_fail;
        return false;
    }
    // An empty frame may have no storage at all: memcpy from a null pointer is undefined
    // even for zero bytes (found by tests/fuzz/route_fuzz).
    if (hw_ns) std::memcpy(pool_.data(b), &*hw_ns, sizeof *hw_ns);
    if (!frame.empty()) std::memcpy(pool_.data(b) + off, frame.data(), frame.size());
    rxq_.at(queue).push_back({b, static_cast<uint32_t>(frame.size()), rx_ns, hw_ns.has_value()});
    return true;
}

uint16_t MemoryBackend::rx_burst(uint16_t queue, core::Packet* pkts, uint16_t max) noexcept {
    auto& q = rxq_[queue];
    uint16_t n = 0;
    while (n < max && !q.empty()) {
        const Pending& p = q.front();
        core::Packet& pkt = pkts[n++];
        init_packet(pkt, pool_.data(p.buf) + (p.hw ? kHwOff : 0), p.len, p.buf, queue, ifindex_,
                    p.rx_ns);
        if (p.hw) pkt.flags = core::kFlagHwTstamp;
        q.pop_front();
    }
    stats_.rx += n;
    return n;
}

uint16_t MemoryBackend::tx_burst(uint16_t queue, core::Packet* pkts, uint16_t n) noexcept {
    uint16_t sent = 0;
    for (; sent < n && sent_.size() < tx_capacity_; ++sent) {
        const core::Packet& p = pkts[sent];
        sent_.push_back({queue, std::vector<uint8_t>(p.data, p.data + p.len)});
        pool_.put(p.buf);
    }
    stats_.tx += sent;
    return sent;
}

void MemoryBackend::pass_burst(uint16_t queue, core::Packet* pkts, uint16_t n) noexcept {
    for (uint16_t i = 0; i < n; ++i) {
        const core::Packet& p = pkts[i];
        passed_.push_back({queue, std::vector<uint8_t>(p.data, p.data + p.len)});
        pool_.put(p.buf);
    }
    stats_.passed += n;
}

void MemoryBackend::free_bulk(const uint64_t* bufs, uint16_t n) noexcept {
    for (uint16_t i = 0; i < n; ++i) pool_.put(bufs[i]);
    stats_.freed += n;
}

bool MemoryBackend::try_alloc(core::Packet& pkt, uint32_t len) noexcept {
    if (pool_.try_lend(pkt, len, ifindex_)) return true;
    if (len <= pool_.buf_size()) ++stats_.alloc_fail;
    return false;
}

}  // namespace ingress::io
