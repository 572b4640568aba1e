#include "io/afxdp/xsk_tx.h"

#include <linux/if_xdp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xdp/xsk.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace ingress::io::afxdp {

struct XskTx::Rings {
    xsk_umem* umem = nullptr;
    xsk_socket* xsk = nullptr;
    xsk_ring_prod fill{};
    xsk_ring_cons comp{};
    xsk_ring_prod tx{};
};

XskTx::XskTx(const std::string& ifname, uint16_t queue,
             const std::vector<std::vector<uint8_t>>& templates, uint32_t ring_size,
             bool zero_copy_only)
    : ring_size_(ring_size) {
    std::string where = ifname + " queue " + std::to_string(queue);
    if (templates.empty()) throw std::runtime_error(where + ": nothing to send");
    for (const auto& t : templates)
        if (t.size() > frame_size_)
            throw std::runtime_error(where + ": a " + std::to_string(t.size()) +
                                     "-byte frame does not fit an AF_XDP frame (4096 bytes)");
    r_ = new Rings;
    area_size_ = templates.size() * std::size_t{frame_size_};
    area_ = mmap(nullptr, area_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area_ == MAP_FAILED) {
        area_ = nullptr;
        throw std::runtime_error(where + ": cannot map the UMEM: " + std::strerror(errno));
    }
    for (std::size_t i = 0; i < templates.size(); ++i) {
        std::memcpy(static_cast<uint8_t*>(area_) + i * frame_size_, templates[i].data(),
                    templates[i].size());
        lens_.push_back(static_cast<uint32_t>(templates[i].size()));
    }
    xsk_umem_config ucfg{};
    ucfg.fill_size = XSK_RING_PROD__DEFAULT_NUM_DESCS;
    ucfg.comp_size = ring_size;
    ucfg.frame_size = frame_size_;
    if (int err = xsk_umem__create(&r_->umem, area_, area_size_, &r_->fill, &r_->comp, &ucfg))
        throw std::runtime_error(where + ": xsk_umem__create: " + std::strerror(-err));
    xsk_socket_config scfg{};
    scfg.rx_size = 0;
    scfg.tx_size = ring_size;
    scfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
    scfg.bind_flags = XDP_USE_NEED_WAKEUP | XDP_ZEROCOPY;
    int err =
        xsk_socket__create(&r_->xsk, ifname.c_str(), queue, r_->umem, nullptr, &r_->tx, &scfg);
    zero_copy_ = err == 0;
    if (err && !zero_copy_only) {
        scfg.bind_flags = XDP_USE_NEED_WAKEUP | XDP_COPY;
        err =
            xsk_socket__create(&r_->xsk, ifname.c_str(), queue, r_->umem, nullptr, &r_->tx, &scfg);
    }
    if (err) throw std::runtime_error(where + ": xsk_socket__create: " + std::strerror(-err));
}

XskTx::~XskTx() {
    if (r_) {
        if (r_->xsk) xsk_socket__delete(r_->xsk);
        if (r_->umem) xsk_umem__delete(r_->umem);
        delete r_;
    }
    if (area_) munmap(area_, area_size_);
}

void XskTx::reclaim() noexcept {
    uint32_t idx;
    uint32_t n = xsk_ring_cons__peek(&r_->comp, ring_size_, &idx);
    if (n) {
        xsk_ring_cons__release(&r_->comp, n);
        completed_ += n;
    }
}

uint32_t XskTx::send(uint32_t n) noexcept {
    reclaim();
    // Never more in flight than the completion ring can report back.
    uint64_t in_flight = sent_ - completed_;
    if (in_flight + n > ring_size_) n = static_cast<uint32_t>(ring_size_ - in_flight);
    uint32_t idx = 0;
    uint32_t got = n ? xsk_ring_prod__reserve(&r_->tx, n, &idx) : 0;
    for (uint32_t i = 0; i < got; ++i) {
        xdp_desc* d = xsk_ring_prod__tx_desc(&r_->tx, idx + i);
        d->addr = uint64_t{next_} * frame_size_;
        d->len = lens_[next_];
        d->options = 0;
        bytes_ += lens_[next_];
        if (++next_ == lens_.size()) next_ = 0;
    }
    if (got) {
        xsk_ring_prod__submit(&r_->tx, got);
        sent_ += got;
    }
    if (xsk_ring_prod__needs_wakeup(&r_->tx))
        sendto(xsk_socket__fd(r_->xsk), nullptr, 0, MSG_DONTWAIT, nullptr, 0);
    return got;
}

bool XskTx::drain(int timeout_ms) noexcept {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (completed_ < sent_) {
        if (xsk_ring_prod__needs_wakeup(&r_->tx))
            sendto(xsk_socket__fd(r_->xsk), nullptr, 0, MSG_DONTWAIT, nullptr, 0);
        reclaim();
        if (std::chrono::steady_clock::now() > until) return false;
    }
    return true;
}

}  // namespace ingress::io::afxdp
