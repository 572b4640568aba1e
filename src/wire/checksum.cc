#include "wire/checksum.h"

#include <bit>
#include <cstring>

namespace ingress::wire {
namespace {

inline uint64_t add_carry(uint64_t a, uint64_t b) noexcept {
    uint64_t s = a + b;
    return s + (s < b);  // end-around carry
}

}  // namespace

uint64_t csum_partial(const uint8_t* p, std::size_t n, uint64_t acc) noexcept {
    // 32 bytes per iteration into four independent accumulators, so the adds do not all
    // wait on one carry chain; then 8, 4, 2, 1.
    uint64_t a0 = acc, a1 = 0, a2 = 0, a3 = 0;
    while (n >= 32) {
        uint64_t w[4];
        std::memcpy(w, p, 32);
        a0 = add_carry(a0, w[0]);
        a1 = add_carry(a1, w[1]);
        a2 = add_carry(a2, w[2]);
        a3 = add_carry(a3, w[3]);
        p += 32;
        n -= 32;
    }
    uint64_t s = add_carry(add_carry(a0, a1), add_carry(a2, a3));
    while (n >= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        s = add_carry(s, w);
        p += 8;
        n -= 8;
    }
    if (n >= 4) {
        uint32_t w;
        std::memcpy(&w, p, 4);
        s = add_carry(s, w);
        p += 4;
        n -= 4;
    }
    if (n >= 2) {
        uint16_t w;
        std::memcpy(&w, p, 2);
        s = add_carry(s, w);
        p += 2;
        n -= 2;
    }
    if (n == 1) {
        // The odd byte is the high-order byte of a big-endian word padded with zero.
        uint8_t pad[2] = {p[0], 0};
        uint16_t w;
        std::memcpy(&w, pad, 2);
        s = add_carry(s, w);
    }
    return s;
}

uint16_t internet_checksum_reference(std::span<const uint8_t> b) noexcept {
    uint32_t sum = 0;
    std::size_t i = 0;
    for (; i + 1 < b.size(); i += 2) sum += load_be16(&b[i]);
    if (i < b.size()) sum += uint32_t{b[i]} << 8;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

}  // namespace ingress::wire
