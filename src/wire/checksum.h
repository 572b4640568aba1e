// The Internet checksum (RFC 1071), with 64-bit accumulation.
//
// csum_partial() adds bytes to a running one's-complement sum kept in native byte order,
// eight bytes at a time (RFC 1071 §2(B): the sum is independent of byte order as long as it
// is folded the same way). Chunks may be chained, each starting at an even offset of the
// whole. csum_fold() folds and complements, and returns the checksum as a host-order value
// (store it with store_be16). A buffer that carries a correct checksum sums to 0.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "wire/ipv4.h"

namespace ingress::wire {

uint64_t csum_partial(const uint8_t* p, std::size_t n, uint64_t acc) noexcept;
inline uint64_t csum_partial(std::span<const uint8_t> b, uint64_t acc = 0) noexcept {
    return csum_partial(b.data(), b.size(), acc);
}

// One's-complement addition of two native-order accumulators (end-around carry).
inline uint64_t csum_add(uint64_t a, uint64_t b) noexcept {
    const uint64_t s = a + b;
    return s + (s < b);
}

// csum_partial() for the short buffers summed on every packet (a UDP datagram up to
// CHECKSUM_BREAK, 76 bytes, verified in udp4_csum_init), inline: one chain of 8-byte adds,
// then 4, 2 and 1, with none of the call or the long loop's four-accumulator set-up. The
// same sum as csum_partial() for any length; meant for a few dozen bytes.
inline uint64_t csum_partial_short(const uint8_t* p, std::size_t n, uint64_t acc) noexcept {
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        acc = csum_add(acc, w);
    }
    if (n >= 4) {
        uint32_t w;
        std::memcpy(&w, p, 4);
        acc = csum_add(acc, w);
        p += 4;
        n -= 4;
    }
    if (n >= 2) {
        uint16_t w;
        std::memcpy(&w, p, 2);
        acc = csum_add(acc, w);
        p += 2;
        n -= 2;
    }
    if (n == 1) {
        // The odd byte is the high-order byte of a big-endian word padded with zero.
        const uint8_t pad[2] = {p[0], 0};
        uint16_t w;
        std::memcpy(&w, pad, 2);
        acc = csum_add(acc, w);
    }
    return acc;
}

// Inline (a serial chain of a dozen instructions, on every packet twice: the call and the
// lost scheduling freedom cost more than the work; bench/pipeline_bench.cc).
inline uint16_t csum_fold(uint64_t acc) noexcept {
    // 64 -> 33 bits, then 32: the low word is at most 2^32 - 2 whenever the carry is 1.
    const uint64_t s = (acc & 0xffffffffu) + (acc >> 32);
    const uint32_t t = static_cast<uint32_t>(s) + static_cast<uint32_t>(s >> 32);
    // 32 -> 16 as the kernel's csum_fold(): the high half of t + ror(t, 16) is the two
    // halves' sum with its end-around carry.
    const uint16_t native = static_cast<uint16_t>(~((t + std::rotr(t, 16)) >> 16));
    if constexpr (std::endian::native == std::endian::little)
        return static_cast<uint16_t>((native >> 8) | (native << 8));
    return native;
}

inline uint16_t internet_checksum(std::span<const uint8_t> b) noexcept {
    return csum_fold(csum_partial(b));
}

// The IPv4 header checksum over ihl 32-bit words (ip_fast_csum): 0 when the header is
// intact. Inline and without a loop for the common 20-byte header: five 4-byte loads summed
// in a 64-bit register cannot carry out, so no end-around carry is needed until the fold.
// `ihl` is at least 5 and the caller guarantees ihl*4 bytes are readable.
inline uint16_t ip_fast_csum(const uint8_t* h, unsigned ihl) noexcept {
    uint32_t w[5];  // the first five words unrolled: most headers have no options
    std::memcpy(w, h, sizeof(w));
    uint64_t s = uint64_t{w[0]} + w[1] + w[2] + w[3] + w[4];
    for (unsigned i = 5; i < ihl; ++i) {  // at most 15 words: no carry out of 64 bits
        uint32_t o;
        std::memcpy(&o, h + 4 * i, 4);
        s += o;
    }
    return csum_fold(s);
}

// The UDP/TCP pseudo-header (RFC 768): src, dst, zero, protocol, length. The same value as
// csum_partial() over those 12 bytes (an 8-byte and a 4-byte native-order word), computed
// in registers: writing the bytes to memory and loading them back as words stalls on store
// forwarding (bench/pipeline_bench.cc, perf annotate).
inline uint64_t pseudo_header_sum(Ipv4Addr src, Ipv4Addr dst, uint8_t proto,
                                  uint16_t len) noexcept {
    uint64_t a;
    uint32_t b;
    if constexpr (std::endian::native == std::endian::little) {
        a = uint64_t{__builtin_bswap32(src)} | (uint64_t{__builtin_bswap32(dst)} << 32);
        b = (uint32_t{proto} << 8) | (uint32_t{__builtin_bswap16(len)} << 16);
    } else {
        a = (uint64_t{src} << 32) | dst;
        b = (uint32_t{proto} << 16) | len;
    }
    const uint64_t s = a + b;
    return s + (s < b);  // end-around carry
}

// The plain RFC 1071 loop over big-endian 16-bit words, kept as the reference the fast
// version is tested and benchmarked against.
uint16_t internet_checksum_reference(std::span<const uint8_t> b) noexcept;

}  // namespace ingress::wire
