// The XDP metadata the device-bound program (xdp/ingress_hwts.bpf.o) puts in front of a
// frame it redirects: struct ingress_xdp_meta (xdp/ingress_xdp.h), whose hw_ns is the
// NIC's receive stamp. src/io/afxdp/hw_timestamps.md says which NICs give one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/packet.h"
#include "ingress_xdp.h"

namespace ingress::io::afxdp {

static_assert(sizeof(ingress_xdp_meta) == 16 && offsetof(ingress_xdp_meta, hw_ns) == 8,
              "hw_ns ends where the frame starts: core::Packet::hw_tstamp() reads it there");

// `pkt` was just received from the UMEM (data, len set; `headroom`: the bytes of its UMEM
// frame before data). The metadata counts only when its magic and length say it was written
// for this frame: a UMEM frame is reused, so the bytes before data are otherwise a previous
// frame's metadata or a sent frame's bytes. The magic is cleared as it is read, so no later
// frame of this UMEM frame can take it for its own. With a non-zero stamp the packet gets
// core::kFlagHwTstamp (the stamp already sits in the 8 bytes before data). Returns whether
// the metadata was there (with or without a stamp).
inline bool take_rx_meta(core::Packet& pkt, uint64_t headroom) noexcept {
    if (headroom < sizeof(ingress_xdp_meta)) return false;
    uint8_t* at = pkt.data - sizeof(ingress_xdp_meta);
    ingress_xdp_meta m;
    std::memcpy(&m, at, sizeof m);
    if (m.magic != INGRESS_XDP_META_MAGIC || m.len != pkt.len) return false;
    const uint32_t cleared = 0;
    std::memcpy(at + offsetof(ingress_xdp_meta, magic), &cleared, sizeof cleared);
    if (m.hw_ns) pkt.flags |= core::kFlagHwTstamp;
    return true;
}

}  // namespace ingress::io::afxdp
