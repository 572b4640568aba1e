// The consumer side of the XDP program's tap ring buffer (ingress_tap_ring, a
// BPF_MAP_TYPE_RINGBUF; record layout ingress_xdp_tap_rec in xdp/ingress_xdp.h): the frames
// the program left to the kernel while XdpProgram::set_tap_copy(true), for the dataplane's
// packet taps. libbpf's ring_buffer: mapped at construction (control plane), then
// ring_buffer__consume() reads the shared pages with no system call. One consumer: the
// first worker of the port.
#pragma once

#include <string>

#include "io/kernel_frames.h"

struct ring_buffer;

namespace ingress::io::afxdp {

class TapRing final : public KernelFrames {
public:
    // `map_fd`: the program's ingress_tap_ring (XdpProgram::tap_ring_fd()). Throws
    // std::runtime_error naming `ifname` when the map cannot be mapped.
    TapRing(int map_fd, const std::string& ifname);
    ~TapRing() override;
    TapRing(const TapRing&) = delete;
    TapRing& operator=(const TapRing&) = delete;

    uint32_t drain(Sink sink, void* ctx, uint32_t max) noexcept override;

private:
    static int on_sample(void* self, void* data, std::size_t size) noexcept;
    ring_buffer* rb_ = nullptr;
    // The current drain() call's sink (set for the call's duration).
    Sink sink_ = nullptr;
    void* sink_ctx_ = nullptr;
    uint32_t left_ = 0, done_ = 0;
};

}  // namespace ingress::io::afxdp
