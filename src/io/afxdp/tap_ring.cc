#include "io/afxdp/tap_ring.h"

#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "ingress_xdp.h"

namespace ingress::io::afxdp {

TapRing::TapRing(int map_fd, const std::string& ifname) {
    rb_ = ring_buffer__new(map_fd, &TapRing::on_sample, this, nullptr);
    if (!rb_)
        throw std::runtime_error(ifname +
                                 ": cannot map the XDP tap ring buffer: " + std::strerror(errno));
}

TapRing::~TapRing() {
    if (rb_) ring_buffer__free(rb_);
}

int TapRing::on_sample(void* self, void* data, std::size_t size) noexcept {
    auto* t = static_cast<TapRing*>(self);
    if (size >= offsetof(ingress_xdp_tap_rec, data)) {
        const auto* r = static_cast<const ingress_xdp_tap_rec*>(data);
        const std::size_t cap = std::min<std::size_t>(
            {r->caplen, size - offsetof(ingress_xdp_tap_rec, data), INGRESS_XDP_TAP_SNAP});
        t->sink_(t->sink_ctx_, {r->data, cap}, std::max<uint32_t>(r->len, uint32_t(cap)));
        ++t->done_;
    }
    // ring_buffer__consume() has already moved past this record: a negative return stops it
    // there, which bounds one drain() to `max` records.
    return --t->left_ == 0 ? -1 : 0;
}

uint32_t TapRing::drain(Sink sink, void* ctx, uint32_t max) noexcept {
    if (max == 0) return 0;
    sink_ = sink;
    sink_ctx_ = ctx;
    left_ = max;
    done_ = 0;
    (void)ring_buffer__consume(rb_);  // a negative result: stopped at `max`
    return done_;
}

}  // namespace ingress::io::afxdp
