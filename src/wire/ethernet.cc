#include "wire/ethernet.h"

#include <cstdio>

namespace ingress::wire {
namespace {
int hex_digit(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

std::optional<Mac> Mac::parse(std::string_view s) noexcept {
    if (s.size() != 17) return std::nullopt;
    Mac m;
    for (std::size_t i = 0; i < 6; ++i) {
        int hi = hex_digit(s[i * 3]), lo = hex_digit(s[i * 3 + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        if (i < 5 && s[i * 3 + 2] != ':') return std::nullopt;
        m.b[i] = static_cast<uint8_t>(hi * 16 + lo);
    }
    return m;
}

std::string Mac::str() const {
    char out[18];
    std::snprintf(out, sizeof out, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4],
                  b[5]);
    return out;
}

}  // namespace ingress::wire
