// Frames the kernel keeps, shown to the dataplane's packet taps without taking them from the
// kernel: on AF_XDP the XDP program copies the frames it passes (XDP_PASS) into a BPF ring
// buffer (io/afxdp/tap_ring.h), as xdpdump does. One worker per port drains it, once per
// burst while a tap is open (worker/pipeline.cc).
#pragma once

#include <cstdint>
#include <span>

namespace ingress::io {

class KernelFrames {
public:
    // One copy: its first bytes (`frame`, up to the program's snap length) and the length
    // the frame had on the wire (`wire_len` >= frame.size()).
    using Sink = void (*)(void* ctx, std::span<const uint8_t> frame, uint32_t wire_len) noexcept;
    virtual ~KernelFrames() = default;
    // Hands up to `max` waiting copies to `sink`, oldest first; returns how many. No system
    // call, no allocation; the bytes are valid only during the call.
    virtual uint32_t drain(Sink sink, void* ctx, uint32_t max) noexcept = 0;
};

}  // namespace ingress::io
