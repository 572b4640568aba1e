#include "pktgen/traffic.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <stdexcept>

#include "wire/frame_builder.h"

namespace ingress::gen {
namespace {

constexpr uint32_t kEthIpUdp = 14 + 20 + 8;

uint32_t parse_u32(const std::string& s, bool* ok) {
    if (s.empty() || s.size() > 10) {
        *ok = false;
        return 0;
    }
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') {
            *ok = false;
            return 0;
        }
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    *ok = v <= UINT32_MAX;
    return static_cast<uint32_t>(v);
}

}  // namespace

std::optional<Range> parse_addr_range(const std::string& s) {
    auto dash = s.find('-');
    auto lo = wire::parse_ipv4(s.substr(0, dash));
    auto hi = dash == std::string::npos ? lo : wire::parse_ipv4(s.substr(dash + 1));
    if (!lo || !hi || *hi < *lo) return std::nullopt;
    return Range{*lo, *hi};
}

std::optional<Range> parse_port_range(const std::string& s) {
    auto dash = s.find('-');
    bool ok1 = true, ok2 = true;
    uint32_t lo = parse_u32(s.substr(0, dash), &ok1);
    uint32_t hi = dash == std::string::npos ? lo : parse_u32(s.substr(dash + 1), &ok2);
    if (!ok1 || !ok2 || lo > 65535 || hi > 65535 || hi < lo) return std::nullopt;
    return Range{lo, hi};
}

std::optional<std::vector<uint32_t>> parse_sizes(const std::string& s) {
    if (s == "imix") {
        std::vector<uint32_t> v(7, 64);
        v.insert(v.end(), 4, 594);
        v.push_back(1518);
        return v;
    }
    bool ok = true;
    uint32_t n = parse_u32(s, &ok);
    if (!ok || n < kMinFrame || n > kMaxFrame) return std::nullopt;
    return std::vector<uint32_t>{n};
}

bool is_benchmark_destination(wire::Ipv4Addr a) noexcept {
    return (a & 0xfffe0000u) == wire::ipv4(198, 18, 0, 0) ||
           (a & 0xff000000u) == wire::ipv4(239, 0, 0, 0) || a == 0xffffffffu;
}

std::vector<Template> build_templates(const TrafficSpec& spec) {
    std::vector<Template> out;
    std::mt19937 rng(spec.seed);
    const uint32_t tag = spec.vlan ? 4 : 0;
    uint64_t flows = spec.src_addr.count() * spec.dst_addr.count() * spec.src_port.count() *
                     spec.dst_port.count();
    uint32_t nflows = static_cast<uint32_t>(std::min<uint64_t>(flows, spec.max_flows));
    uint16_t ip_id = 1;
    std::vector<wire::FrameBuilder> plain;  // unfragmented frames, rendered at the end
    for (uint32_t f = 0; f < nflows; ++f) {
        // Walk the flow space with a stride so that a capped number of templates still
        // spreads over every range.
        uint64_t k = nflows == flows ? f : (uint64_t{f} * flows) / nflows;
        uint32_t dport = static_cast<uint32_t>(spec.dst_port.lo + k % spec.dst_port.count());
        k /= spec.dst_port.count();
        uint32_t sport = static_cast<uint32_t>(spec.src_port.lo + k % spec.src_port.count());
        k /= spec.src_port.count();
        wire::Ipv4Addr dst =
            static_cast<wire::Ipv4Addr>(spec.dst_addr.lo + k % spec.dst_addr.count());
        k /= spec.dst_addr.count();
        wire::Ipv4Addr src =
            static_cast<wire::Ipv4Addr>(spec.src_addr.lo + k % spec.src_addr.count());
        wire::Mac dmac = spec.dst_mac;
        if (!spec.dst_mac_given && wire::ipv4_is_multicast(dst))
            dmac = wire::Mac::for_ipv4_multicast(dst);
        if (!spec.dst_mac_given && wire::ipv4_is_lbcast(dst)) dmac = wire::Mac::broadcast();

        for (uint32_t size : spec.sizes) {
            uint32_t on_wire = size - kFcsLen;  // what we hand the NIC
            if (on_wire < kEthIpUdp + tag)
                throw std::invalid_argument("frame size " + std::to_string(size) + " too small");
            uint32_t payload = on_wire - kEthIpUdp - tag;
            wire::FrameBuilder b;
            b.eth(spec.src_mac, dmac)
                .ipv4(src, dst)
                .udp(static_cast<uint16_t>(sport), static_cast<uint16_t>(dport));
            if (spec.vlan) b.vlan(*spec.vlan);
            b.payload_size(payload).ip_id(ip_id++);
            if (spec.fragments >= 2) {
                // The datagram's UDP header + payload cut into N fragments (8-byte units).
                uint32_t l4 = payload + 8;
                uint32_t piece = (l4 / spec.fragments + 7) / 8 * 8;
                if (piece == 0 || piece * (spec.fragments - 1) >= l4)
                    throw std::invalid_argument(
                        "cannot cut a " + std::to_string(size) + "-byte frame into " +
                        std::to_string(spec.fragments) + " fragments; use a larger --size");
                std::vector<Template> frags;
                for (uint32_t i = 0; i < spec.fragments; ++i) {
                    uint32_t off = i * piece;
                    bool last = i + 1 == spec.fragments;
                    uint32_t len = last ? l4 - off : piece;
                    frags.push_back({b.build_fragment(off, len, !last), false, true});
                }
                if (spec.frag_order == FragOrder::kShuffled)
                    std::shuffle(frags.begin(), frags.end(), rng);
                if (spec.frag_order == FragOrder::kOverlapping && frags.size() >= 2) {
                    // A copy of the first fragment re-cut 8 bytes longer: overlaps the second.
                    frags.insert(frags.begin() + 1,
                                 Template{b.build_fragment(0, piece + 8, true), true, true});
                }
                out.insert(out.end(), frags.begin(), frags.end());
                continue;
            }
            plain.push_back(b);
        }
    }
    // Malformed share: enough copies of the flows that the share is exact (at least 100
    // frames), and every frame i with floor((i+1)*pct/100) > floor(i*pct/100) gets one
    // deliberate error, cycling through four kinds.
    std::size_t n = plain.size();
    if (spec.malformed_pct && n) n = std::max<std::size_t>(n, (100 + n - 1) / n * n);
    uint32_t kind = 0;
    for (std::size_t i = 0; i < n; ++i) {
        wire::FrameBuilder b = plain[i % plain.size()];
        if (i >= plain.size()) b.ip_id(ip_id++);
        const bool bad =
            spec.malformed_pct && (i + 1) * spec.malformed_pct / 100 > i * spec.malformed_pct / 100;
        Template t{{}, bad, false};
        if (!bad) {
            t.bytes = b.build();
        } else {
            switch (kind++ % 4) {
                case 0:
                    t.bytes = b.bad_ip_checksum().build();
                    break;
                case 1:
                    t.bytes = b.ip_ihl(4).build();
                    break;
                case 2: {
                    // tot_len one byte beyond what arrives: truncated (InTruncatedPkts).
                    auto good = b.build();
                    std::size_t l3 = spec.vlan ? 18 : 14;
                    t.bytes = b.ip_tot_len(static_cast<uint16_t>(good.size() - l3 + 1)).build();
                    break;
                }
                default:
                    t.bytes = b.bad_udp_checksum().build();
                    break;
            }
        }
        out.push_back(std::move(t));
    }
    return out;
}

std::optional<StampSpot> stamp_spot(const std::vector<uint8_t>& f) {
    auto be16 = [&](std::size_t o) { return static_cast<uint16_t>(f[o] << 8 | f[o + 1]); };
    std::size_t l3 = 14;
    if (f.size() < l3) return std::nullopt;
    if (be16(12) == 0x8100) l3 += 4;
    if (f.size() < l3 + 20 || be16(l3 - 2) != 0x0800 || (f[l3] >> 4) != 4) return std::nullopt;
    const std::size_t ihl = std::size_t{f[l3] & 0x0fu} * 4;
    const bool fragment = (be16(l3 + 6) & 0x3fff) != 0;  // MF or an offset
    if (ihl < 20 || fragment || f[l3 + 9] != wire::kIpProtoUdp) return std::nullopt;
    const std::size_t l4 = l3 + ihl;
    if (f.size() < l4 + 8 + 8 || be16(l4 + 4) < 8 + 8) return std::nullopt;
    return StampSpot{static_cast<uint32_t>(l4 + 8), static_cast<uint32_t>(l4 + 6)};
}

void write_stamp(uint8_t* frame, const StampSpot& at, uint64_t ns) noexcept {
    uint8_t* p = frame + at.payload;
    uint8_t* c = frame + at.checksum;
    const uint32_t old_csum = uint32_t{c[0]} << 8 | c[1];
    // The payload starts 8 bytes into the UDP header: its 16-bit words are the checksum's.
    // RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for each word m replaced by m'.
    uint32_t sum = ~old_csum & 0xffff;
    uint8_t now[8];
    std::memcpy(now, &ns, sizeof now);
    for (int i = 0; i < 8; i += 2) {
        sum += ~(uint32_t{p[i]} << 8 | p[i + 1]) & 0xffff;
        sum += uint32_t{now[i]} << 8 | now[i + 1];
    }
    std::memcpy(p, now, sizeof now);
    if (old_csum == 0) return;  // no checksum: nothing to keep valid
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    uint16_t csum = static_cast<uint16_t>(~sum);
    if (csum == 0) csum = 0xffff;  // RFC 768: a computed 0 is sent as all ones
    c[0] = static_cast<uint8_t>(csum >> 8);
    c[1] = static_cast<uint8_t>(csum);
}

}  // namespace ingress::gen
