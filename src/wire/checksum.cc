#include "wire/checksum.h"

#include <bit>
#include <cstring>

namespace ingress::wire {

uint64_t csum_partial(const uint8_t* p, std::size_t n, uint64_t acc) noexcept {
    // 32 bytes per iteration into four independent accumulators, so the adds do not all
    // wait on one carry chain; then csum_partial_short()'s 8, 4, 2, 1.
    uint64_t a0 = acc, a1 = 0, a2 = 0, a3 = 0;
    while (n >= 32) {
        uint64_t w[4];
        std::memcpy(w, p, 32);
        a0 = csum_add(a0, w[0]);
        a1 = csum_add(a1, w[1]);
        a2 = csum_add(a2, w[2]);
        a3 = csum_add(a3, w[3]);
        p += 32;
        n -= 32;
    }
    return csum_partial_short(p, n, csum_add(csum_add(a0, a1), csum_add(a2, a3)));
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
