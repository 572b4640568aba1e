// The Internet checksum (RFC 1071), with 64-bit accumulation.
//
// csum_partial() adds bytes to a running one's-complement sum kept in native byte order,
// eight bytes at a time (RFC 1071 §2(B): the sum is independent of byte order as long as it
// is folded the same way). Chunks may be chained, each starting at an even offset of the
// whole. csum_fold() folds and complements, and returns the checksum as a host-order value
// (store it with store_be16). A buffer that carries a correct checksum sums to 0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "wire/ipv4.h"

namespace ingress::wire {

uint64_t csum_partial(const uint8_t* p, std::size_t n, uint64_t acc) noexcept;
inline uint64_t csum_partial(std::span<const uint8_t> b, uint64_t acc = 0) noexcept {
    return csum_partial(b.data(), b.size(), acc);
}
uint16_t csum_fold(uint64_t acc) noexcept;

inline uint16_t internet_checksum(std::span<const uint8_t> b) noexcept {
    return csum_fold(csum_partial(b));
}

// The UDP/TCP pseudo-header (RFC 768): src, dst, zero, protocol, length.
uint64_t pseudo_header_sum(Ipv4Addr src, Ipv4Addr dst, uint8_t proto, uint16_t len) noexcept;

// The plain RFC 1071 loop over big-endian 16-bit words, kept as the reference the fast
// version is tested and benchmarked against.
uint16_t internet_checksum_reference(std::span<const uint8_t> b) noexcept;

}  // namespace ingress::wire
