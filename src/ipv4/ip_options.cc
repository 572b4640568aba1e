#include "ipv4/ip_options.h"

namespace ingress::ipv4 {

IpOptions ip_options_compile(std::span<const uint8_t> h) noexcept {
    IpOptions opt;
    auto fail = [&opt](std::size_t ptr) noexcept {
        opt.ok = false;
        opt.error_ptr = static_cast<uint8_t>(ptr);
        return opt;
    };
    std::size_t p = 20;  // optptr - iph
    std::size_t l = h.size() - 20;
    while (l > 0) {
        const uint8_t type = h[p];
        if (type == kIpoptEnd) break;  // the rest is padding (the kernel zeroes it)
        if (type == kIpoptNoop) {
            --l;
            ++p;
            continue;
        }
        if (l < 2) return fail(p);
        const std::size_t optlen = h[p + 1];
        if (optlen < 2 || optlen > l) return fail(p);
        const std::size_t ptr = optlen > 2 ? h[p + 2] : 0;
        switch (type) {
            case kIpoptSsrr:
            case kIpoptLsrr:
                if (optlen < 3) return fail(p + 1);
                if (ptr < 4) return fail(p + 2);
                if (opt.srr) return fail(p);  // RFC 1812 5.2.4.1: only one source route
                opt.is_strictroute = type == kIpoptSsrr;
                opt.srr = static_cast<uint8_t>(p);
                break;
            case kIpoptRr:
                if (opt.rr) return fail(p);
                if (optlen < 3) return fail(p + 1);
                if (ptr < 4) return fail(p + 2);
                if (ptr <= optlen && ptr + 3 > optlen) return fail(p + 2);
                opt.rr = static_cast<uint8_t>(p);
                break;
            case kIpoptTimestamp:
                if (opt.ts) return fail(p);
                if (optlen < 4) return fail(p + 1);
                if (ptr < 5) return fail(p + 2);
                if (ptr <= optlen) {
                    if (ptr + 3 > optlen) return fail(p + 2);
                    switch (h[p + 3] & 0xf) {
                        case 0:  // IPOPT_TS_TSONLY
                            break;
                        case 1:  // IPOPT_TS_TSANDADDR
                        case 3:  // IPOPT_TS_PRESPEC
                            if (ptr + 7 > optlen) return fail(p + 2);
                            break;
                        default:  // unknown flag: only rejected for locally built options
                            break;
                    }
                } else if ((h[p + 3] & 0xf) != 3) {
                    // Full: the overflow counter (high nibble) would wrap.
                    if ((h[p + 3] >> 4) == 15) return fail(p + 3);
                }
                opt.ts = static_cast<uint8_t>(p);
                break;
            case kIpoptRa:
                if (optlen < 4) return fail(p + 1);
                if (h[p + 2] == 0 && h[p + 3] == 0) opt.router_alert = static_cast<uint8_t>(p);
                break;
            case kIpoptCipso:
                // Only one CIPSO option; its contents are CONFIG_NETLABEL's business (not built
                // here: see route.md).
                if (opt.cipso) return fail(p);
                opt.cipso = static_cast<uint8_t>(p);
                break;
            default:  // IPOPT_SEC, IPOPT_SID and unknown options: accepted on receive
                break;
        }
        l -= optlen;
        p += optlen;
    }
    return opt;
}

}  // namespace ingress::ipv4
