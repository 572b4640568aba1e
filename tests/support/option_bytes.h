// IP option bytes for tests: addresses and times as they lie in an option (big-endian), and
// option byte strings put together from parts.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace ingress::test {

// The four bytes of `v` in network order (an address or a timestamp in an option).
inline std::vector<uint8_t> be32_bytes(uint32_t v) {
    return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
            static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}

// The parts one after the other.
inline std::vector<uint8_t> cat(std::initializer_list<std::vector<uint8_t>> parts) {
    std::vector<uint8_t> r;
    for (const auto& p : parts) r.insert(r.end(), p.begin(), p.end());
    return r;
}

}  // namespace ingress::test
