// Writers for the headers the dataplane itself puts on the wire: the ICMP errors it builds
// (ipv4/icmp_send.cc), the header of a datagram defrag rebuilt (ipv4/defrag.cc) and a tap's
// link header without its VLAN tag (demux/tap.cc). The mirror of the views: values go in in
// host order and network byte order stays in src/wire/. The caller owns the bytes written
// (a writer does not check bounds; each function says how many bytes it writes).
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

#include "wire/bytes.h"
#include "wire/checksum.h"
#include "wire/ethernet.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

namespace ingress::wire {

// An 802.1Q / 802.1ad tag as it goes on the wire: TPID, then TCI.
struct VlanTag {
    uint16_t tpid = kEthP8021Q;
    uint16_t tci = 0;
};

// The ethertype field of the Ethernet header at `eth` (2 bytes at kTypeOff).
inline void write_ethertype(uint8_t* eth, uint16_t ethertype) noexcept {
    store_be16(eth + EthernetView::kTypeOff, ethertype);
}

// dst, src, the tag if any, ethertype at `f`: ETH_HLEN (+ VLAN_HLEN) bytes, returned.
inline std::size_t write_eth_header(uint8_t* f, const Mac& dst, const Mac& src, uint16_t ethertype,
                                    std::optional<VlanTag> tag = std::nullopt) noexcept {
    std::memcpy(f + EthernetView::kDstOff, dst.b.data(), dst.b.size());
    std::memcpy(f + EthernetView::kSrcOff, src.b.data(), src.b.size());
    std::size_t off = EthernetView::kTypeOff;
    if (tag) {
        store_be16(f + off, tag->tpid);  // where an untagged frame has its ethertype
        store_be16(f + off + 2 + VlanView::kTciOff, tag->tci);
        off += VlanView::kTagLen;
    }
    store_be16(f + off, ethertype);
    return off + 2;
}

// Field by field into the IPv4 header at `h` (at least ihl * 4 bytes). finish() computes
// the header checksum last.
class Ipv4Writer {
public:
    explicit Ipv4Writer(uint8_t* h) noexcept : h_(h) {}
    Ipv4Writer& ver_ihl(uint8_t ihl) noexcept {
        h_[Ipv4View::kVerIhlOff] = static_cast<uint8_t>(0x40 | (ihl & 0x0f));
        return *this;
    }
    Ipv4Writer& tos(uint8_t v) noexcept {
        h_[Ipv4View::kTosOff] = v;
        return *this;
    }
    Ipv4Writer& tot_len(uint16_t v) noexcept {
        store_be16(h_ + Ipv4View::kTotLenOff, v);
        return *this;
    }
    Ipv4Writer& id(uint16_t v) noexcept {
        store_be16(h_ + Ipv4View::kIdOff, v);
        return *this;
    }
    // Flags (DF, MF) and the offset in 8-byte units, as Ipv4View::frag_field() reads them.
    Ipv4Writer& frag_field(uint16_t v) noexcept {
        store_be16(h_ + Ipv4View::kFragOff, v);
        return *this;
    }
    Ipv4Writer& ttl(uint8_t v) noexcept {
        h_[Ipv4View::kTtlOff] = v;
        return *this;
    }
    Ipv4Writer& protocol(uint8_t v) noexcept {
        h_[Ipv4View::kProtoOff] = v;
        return *this;
    }
    Ipv4Writer& src(Ipv4Addr a) noexcept {
        store_be32(h_ + Ipv4View::kSrcOff, a);
        return *this;
    }
    Ipv4Writer& dst(Ipv4Addr a) noexcept {
        store_be32(h_ + Ipv4View::kDstOff, a);
        return *this;
    }
    // The header checksum over `header_len` bytes (ip_send_check()).
    void finish(std::size_t header_len) noexcept {
        store_be16(h_ + Ipv4View::kCsumOff, 0);
        store_be16(h_ + Ipv4View::kCsumOff, internet_checksum({h_, header_len}));
    }

private:
    uint8_t* h_;
};

// An ICMP message at `m` whose body (after the 8-byte header) is already in place:
// type, code, the 32-bit rest-of-header field, and the checksum over `len` bytes.
inline void write_icmp_header(uint8_t* m, uint8_t type, uint8_t code, uint32_t rest,
                              std::size_t len) noexcept {
    m[IcmpView::kTypeOff] = type;
    m[IcmpView::kCodeOff] = code;
    store_be16(m + IcmpView::kCsumOff, 0);
    store_be32(m + IcmpView::kRestOff, rest);
    store_be16(m + IcmpView::kCsumOff, internet_checksum({m, len}));
}

}  // namespace ingress::wire
