// The kernel's hashes for endpoint selection (include/linux/jhash.h, reciprocal_scale()).
// jhash_3words is Bob Jenkins' lookup3 final mix, as the kernel uses it for udp_ehashfn
// (reuseport selection) and the packet fanout flow hash. The seed is injected (the kernel
// draws udp_ehash_secret at random), so a test can pin which member is chosen.
#pragma once

#include <bit>
#include <cstdint>

namespace ingress::demux {

inline uint32_t jhash_3words(uint32_t a, uint32_t b, uint32_t c, uint32_t initval) noexcept {
    const uint32_t iv = initval + 0xdeadbeefu + (3u << 2);  // JHASH_INITVAL + length
    a += iv;
    b += iv;
    c += iv;
    c ^= b;
    c -= std::rotl(b, 14);
    a ^= c;
    a -= std::rotl(c, 11);
    b ^= a;
    b -= std::rotl(a, 25);
    c ^= b;
    c -= std::rotl(b, 16);
    a ^= c;
    a -= std::rotl(c, 4);
    b ^= a;
    b -= std::rotl(a, 14);
    c ^= b;
    c -= std::rotl(b, 24);
    return c;
}

// reciprocal_scale(): maps a 32-bit hash onto [0, n) without a division.
inline uint32_t reciprocal_scale(uint32_t hash, uint32_t n) noexcept {
    return static_cast<uint32_t>((uint64_t{hash} * n) >> 32);
}

// udp_ehashfn() / __inet_ehashfn(): local address, remote address, ports. Inputs are host
// order here (the kernel hashes the wire-order words); with a random secret the choice is
// only ever "stable per 4-tuple while the group is unchanged", which is what we keep.
inline uint32_t udp_ehashfn(uint32_t laddr, uint16_t lport, uint32_t faddr, uint16_t fport,
                            uint32_t seed) noexcept {
    return jhash_3words(laddr, faddr, (uint32_t{lport} << 16) | fport, seed);
}

}  // namespace ingress::demux
