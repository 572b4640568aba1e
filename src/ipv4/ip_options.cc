#include "ipv4/ip_options.h"

#include <cstring>
#include <type_traits>

#include "ipv4/route_tables.h"
#include "wire/bytes.h"

namespace ingress::ipv4 {

namespace {

// inet_addr_type(net, a) != RTN_UNICAST: zeronet and limited broadcast are BROADCAST,
// multicast is MULTICAST, and the local table's entries are LOCAL or BROADCAST.
bool addr_not_unicast(const RouteTables* t, wire::Ipv4Addr a) noexcept {
    if (wire::ipv4_is_zeronet(a) || wire::ipv4_is_lbcast(a) || wire::ipv4_is_multicast(a))
        return true;
    if (!t) return false;
    const Fib& fib = t->fib();
    const RouteType type = fib.route(fib.lookup(a)).type;
    return type == RouteType::kLocal || type == RouteType::kBroadcast;
}

// __ip_options_compile() with an skb. `Byte` const: validation only (nothing written, `env`
// unused); non-const: the receive-side writes.
template <class Byte>
IpOptions compile(std::span<Byte> h, const OptionsRcvEnv* env) noexcept {
    constexpr bool kWrite = !std::is_const_v<Byte>;
    IpOptions opt;
    opt.optlen = static_cast<uint8_t>(h.size() - 20);
    auto fail = [&opt](std::size_t ptr) noexcept {
        opt.ok = false;
        opt.error_ptr = static_cast<uint8_t>(ptr);
        return opt;
    };
    std::size_t p = 20;  // optptr - iph
    std::size_t l = h.size() - 20;
    while (l > 0) {
        const uint8_t type = h[p];
        if (type == kIpoptEnd) {
            // The rest is padding: the kernel zeroes what is not.
            if constexpr (kWrite) {
                for (std::size_t i = p + 1; i < h.size(); ++i)
                    if (h[i] != kIpoptEnd) {
                        h[i] = kIpoptEnd;
                        opt.is_changed = true;
                    }
            }
            break;
        }
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
                if (ptr <= optlen) {
                    if (ptr + 3 > optlen) return fail(p + 2);
                    if constexpr (kWrite) {
                        // Our address (spec_dst) at the pointer, which moves on.
                        wire::store_be32(&h[p + ptr - 1], env->spec_dst);
                        h[p + 2] = static_cast<uint8_t>(ptr + 4);
                        opt.is_changed = true;
                    }
                    opt.rr_needaddr = true;
                }
                opt.rr = static_cast<uint8_t>(p);
                break;
            case kIpoptTimestamp:
                if (opt.ts) return fail(p);
                if (optlen < 4) return fail(p + 1);
                if (ptr < 5) return fail(p + 2);
                if (ptr <= optlen) {
                    if (ptr + 3 > optlen) return fail(p + 2);
                    std::size_t time_at = 0;  // where the time goes (0: nowhere)
                    std::size_t advance = 0;
                    switch (h[p + 3] & 0xf) {
                        case kIpoptTsTsonly:
                            time_at = p + ptr - 1;
                            opt.ts_needtime = true;
                            advance = 4;
                            break;
                        case kIpoptTsTsandaddr:
                            if (ptr + 7 > optlen) return fail(p + 2);
                            if constexpr (kWrite) wire::store_be32(&h[p + ptr - 1], env->spec_dst);
                            time_at = p + ptr + 3;
                            opt.ts_needaddr = opt.ts_needtime = true;
                            advance = 8;
                            break;
                        case kIpoptTsPrespec:
                            if (ptr + 7 > optlen) return fail(p + 2);
                            // Only the host named at the pointer stamps; others pass it on.
                            if (!kWrite ||
                                !addr_not_unicast(env->routes, wire::load_be32(&h[p + ptr - 1])))
                                break;
                            time_at = p + ptr + 3;
                            opt.ts_needtime = true;
                            advance = 8;
                            break;
                        default:  // unknown flag: only rejected for locally built options
                            break;
                    }
                    if constexpr (kWrite) {
                        if (time_at) {
                            wire::store_be32(&h[time_at], env->now_ms);
                            opt.is_changed = true;
                        }
                        h[p + 2] = static_cast<uint8_t>(ptr + advance);
                    }
                } else if ((h[p + 3] & 0xf) != kIpoptTsPrespec) {
                    // Full: one more hop that could not stamp, in the overflow counter (high
                    // nibble), which must not wrap.
                    const unsigned overflow = h[p + 3] >> 4;
                    if (overflow == 15) return fail(p + 3);
                    if constexpr (kWrite) {
                        h[p + 3] = static_cast<uint8_t>((h[p + 3] & 0xf) | ((overflow + 1) << 4));
                        opt.is_changed = true;
                    }
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

}  // namespace

IpOptions ip_options_compile(std::span<const uint8_t> h) noexcept {
    return compile(h, nullptr);
}

IpOptions ip_options_rcv_write(std::span<uint8_t> h, const OptionsRcvEnv& env) noexcept {
    return compile(h, &env);
}

bool ip_options_echo(std::span<const uint8_t> s, const IpOptions& sopt, wire::Ipv4Addr saddr,
                     const RouteTables* routes, IpOptionsEcho& d) noexcept {
    d = IpOptionsEcho{};
    if (sopt.optlen == 0) return true;
    uint8_t* dptr = d.data.data();
    auto take = [&](std::size_t n) noexcept {
        dptr += n;
        d.optlen = static_cast<uint8_t>(d.optlen + n);
    };
    if (sopt.rr) {
        const std::size_t optlen = s[sopt.rr + 1];
        const std::size_t soffset = s[sopt.rr + 2];
        d.rr = static_cast<uint8_t>(d.optlen + 20);
        std::memcpy(dptr, &s[sopt.rr], optlen);
        if (sopt.rr_needaddr && soffset <= optlen) {
            if (soffset + 3 > optlen) return false;
            dptr[2] = static_cast<uint8_t>(soffset + 4);  // room for the answer's source
            d.rr_needaddr = true;
        }
        take(optlen);
    }
    if (sopt.ts) {
        const std::size_t optlen = s[sopt.ts + 1];
        std::size_t soffset = s[sopt.ts + 2];
        d.ts = static_cast<uint8_t>(d.optlen + 20);
        std::memcpy(dptr, &s[sopt.ts], optlen);
        if (soffset <= optlen) {
            if (sopt.ts_needaddr) {
                if (soffset + 3 > optlen) return false;
                d.ts_needaddr = true;
                soffset += 4;
            }
            if (sopt.ts_needtime) {
                if (soffset + 3 > optlen) return false;
                if ((dptr[3] & 0xf) != kIpoptTsPrespec) {
                    d.ts_needtime = true;
                    soffset += 4;
                } else if (soffset + 7 <= optlen &&
                           addr_not_unicast(routes, wire::load_be32(dptr + soffset - 1))) {
                    d.ts_needtime = true;
                    soffset += 8;
                }
            }
            dptr[2] = static_cast<uint8_t>(soffset);
        }
        take(optlen);
    }
    if (sopt.srr) {
        const uint8_t* start = &s[sopt.srr];
        const int optlen = start[1];
        int soffset = start[2];
        int doffset = 0;
        wire::Ipv4Addr faddr = 0;
        if (soffset > optlen) soffset = optlen + 1;
        soffset -= 4;
        if (soffset > 3) {
            // The hops already passed, last first: the first becomes where the answer goes.
            faddr = wire::load_be32(&start[soffset - 1]);
            for (soffset -= 4, doffset = 4; soffset > 3; soffset -= 4, doffset += 4)
                std::memcpy(&dptr[doffset - 1], &start[soffset - 1], 4);
            // RFC 1812 requires fixing illegal source routes: the sender listed itself first.
            if (wire::load_be32(&start[soffset + 3]) == saddr) doffset -= 4;
        }
        if (doffset > 3) {
            d.faddr = faddr;
            dptr[0] = start[0];
            dptr[1] = static_cast<uint8_t>(doffset + 3);
            dptr[2] = 4;
            d.srr = static_cast<uint8_t>(d.optlen + 20);
            take(static_cast<std::size_t>(doffset + 3));
            d.is_strictroute = sopt.is_strictroute;
        }
    }
    if (sopt.cipso) {
        const std::size_t optlen = s[sopt.cipso + 1];
        d.cipso = static_cast<uint8_t>(d.optlen + 20);
        std::memcpy(dptr, &s[sopt.cipso], optlen);
        take(optlen);
    }
    while (d.optlen & 3) {
        *dptr = kIpoptEnd;
        take(1);
    }
    return true;
}

void ip_options_build(uint8_t* iph, const IpOptionsEcho& e, wire::Ipv4Addr daddr,
                      wire::Ipv4Addr src, uint32_t now_ms) noexcept {
    std::memcpy(iph + 20, e.data.data(), e.optlen);
    if (e.srr) wire::store_be32(iph + e.srr + iph[e.srr + 1] - 4, daddr);
    // ip_rt_get_source() of an output route: the answer's source address.
    if (e.rr_needaddr) wire::store_be32(iph + e.rr + iph[e.rr + 2] - 5, src);
    if (e.ts_needaddr) wire::store_be32(iph + e.ts + iph[e.ts + 2] - 9, src);
    if (e.ts_needtime) wire::store_be32(iph + e.ts + iph[e.ts + 2] - 5, now_ms);
}

void ip_options_undo(IpOptionsEcho& e) noexcept {
    if (e.srr) {
        uint8_t* o = e.data.data() + e.srr - 20;
        std::memmove(o + 7, o + 3, o[1] - 7u);
        wire::store_be32(o + 3, e.faddr);
    }
    if (e.rr_needaddr) {
        uint8_t* o = e.data.data() + e.rr - 20;
        o[2] = static_cast<uint8_t>(o[2] - 4);
        std::memset(o + o[2] - 1, 0, 4);
    }
    if (e.ts) {
        uint8_t* o = e.data.data() + e.ts - 20;
        if (e.ts_needtime) {
            o[2] = static_cast<uint8_t>(o[2] - 4);
            std::memset(o + o[2] - 1, 0, 4);
            if ((o[3] & 0xf) == kIpoptTsPrespec) o[2] = static_cast<uint8_t>(o[2] - 4);
        }
        if (e.ts_needaddr) {
            o[2] = static_cast<uint8_t>(o[2] - 4);
            std::memset(o + o[2] - 1, 0, 4);
        }
    }
}

void ip_options_fragment(uint8_t* o, std::size_t l) noexcept {
    while (l > 0) {
        if (*o == kIpoptEnd) return;
        if (*o == kIpoptNoop) {
            --l;
            ++o;
            continue;
        }
        const std::size_t optlen = o[1];
        if (optlen < 2 || optlen > l) return;
        if (!(*o & 0x80)) std::memset(o, kIpoptNoop, optlen);  // IPOPT_COPIED()
        l -= optlen;
        o += optlen;
    }
}

}  // namespace ingress::ipv4
