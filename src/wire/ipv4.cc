#include "wire/ipv4.h"

#include <charconv>

namespace ingress::wire {

std::optional<Ipv4Addr> parse_ipv4(std::string_view s) noexcept {
    Ipv4Addr a = 0;
    const char* p = s.data();
    const char* end = s.data() + s.size();
    for (int i = 0; i < 4; ++i) {
        if (i > 0) {
            if (p == end || *p != '.') return std::nullopt;
            ++p;
        }
        if (p == end || *p < '0' || *p > '9') return std::nullopt;
        unsigned v = 0;
        auto [q, ec] = std::from_chars(p, end, v);
        if (ec != std::errc{} || v > 255 || q - p > 3) return std::nullopt;
        p = q;
        a = (a << 8) | v;
    }
    if (p != end) return std::nullopt;
    return a;
}

std::string ipv4_str(Ipv4Addr a) {
    return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xff) + "." +
           std::to_string((a >> 8) & 0xff) + "." + std::to_string(a & 0xff);
}

}  // namespace ingress::wire
