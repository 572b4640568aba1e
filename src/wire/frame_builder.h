// A fluent builder of Ethernet/802.1Q/IPv4/UDP/ICMP frames for tests, fixtures, the test
// capture generator and (later) ingress-pktgen's templates. Not for the hot path: it
// allocates.
//
//   auto f = FrameBuilder()
//                .eth(kPeerMac, kOurMac)
//                .vlan(10)
//                .ipv4(ipv4(198, 18, 0, 2), ipv4(198, 18, 0, 1))
//                .udp(4000, 5000)
//                .payload_size(18)
//                .build();
//
// Every field has a correct default; the corruption setters (bad_ip_checksum(), ip_tot_len()
// ...) override one field after the correct value is computed, so a test changes exactly one
// thing. Fragments are cut from the rendered transport bytes, so their union is the datagram.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "wire/ethernet.h"
#include "wire/ipv4.h"

namespace ingress::wire {

class FrameBuilder {
public:
    using Bytes = std::vector<uint8_t>;

    FrameBuilder& eth(Mac src, Mac dst) {
        eth_src_ = src;
        eth_dst_ = dst;
        return *this;
    }
    FrameBuilder& eth_dst(Mac dst) {
        eth_dst_ = dst;
        return *this;
    }
    FrameBuilder& eth_src(Mac src) {
        eth_src_ = src;
        return *this;
    }
    // Overrides the ethertype after the tags (default: 0x0800 when an IPv4 header follows).
    FrameBuilder& ethertype(uint16_t t) {
        ethertype_ = t;
        return *this;
    }
    // Pushes one tag; call twice for QinQ (the first call is the outer tag).
    FrameBuilder& vlan(uint16_t vid, uint8_t pcp = 0, uint16_t tpid = kEthP8021Q) {
        vlans_.push_back({tpid, static_cast<uint16_t>((uint16_t{pcp} << 13) | (vid & 0x0fff))});
        return *this;
    }

    FrameBuilder& ipv4(Ipv4Addr src, Ipv4Addr dst) {
        ip_src_ = src;
        ip_dst_ = dst;
        has_ip_ = true;
        return *this;
    }
    FrameBuilder& ttl(uint8_t v) {
        ttl_ = v;
        return *this;
    }
    FrameBuilder& tos(uint8_t v) {
        tos_ = v;
        return *this;
    }
    FrameBuilder& ecn(uint8_t v) {
        tos_ = static_cast<uint8_t>((tos_ & ~3u) | (v & 3u));
        return *this;
    }
    FrameBuilder& ip_id(uint16_t v) {
        id_ = v;
        return *this;
    }
    FrameBuilder& df(bool v = true) {
        df_ = v;
        return *this;
    }
    FrameBuilder& protocol(uint8_t p) {
        proto_ = p;
        return *this;
    }
    // Raw option bytes; padded with EOL (0) to a multiple of 4.
    FrameBuilder& ip_options(std::vector<uint8_t> o) {
        options_ = std::move(o);
        return *this;
    }

    FrameBuilder& udp(uint16_t sport, uint16_t dport) {
        sport_ = sport;
        dport_ = dport;
        l4_ = L4::kUdp;
        proto_ = kIpProtoUdp;
        return *this;
    }
    FrameBuilder& icmp(uint8_t type, uint8_t code, uint32_t rest = 0) {
        icmp_type_ = type;
        icmp_code_ = code;
        icmp_rest_ = rest;
        l4_ = L4::kIcmp;
        proto_ = kIpProtoIcmp;
        return *this;
    }
    FrameBuilder& payload(std::vector<uint8_t> p) {
        payload_ = std::move(p);
        return *this;
    }
    // A payload of n bytes counting up from 0 (so a reassembled datagram is easy to check).
    FrameBuilder& payload_size(std::size_t n);

    // Corruptions: applied after the correct value is computed.
    FrameBuilder& bad_ip_checksum() {
        ip_csum_ = Override::kFlip;
        return *this;
    }
    FrameBuilder& ip_checksum(uint16_t v) {
        ip_csum_value_ = v;
        return *this;
    }
    FrameBuilder& ip_version(uint8_t v) {
        version_ = v;
        return *this;
    }
    FrameBuilder& ip_ihl(uint8_t v) {
        ihl_ = v;
        return *this;
    }
    FrameBuilder& ip_tot_len(uint16_t v) {
        tot_len_ = v;
        return *this;
    }
    FrameBuilder& ip_frag(uint16_t offset_bytes, bool more) {
        frag_off_ = offset_bytes;
        mf_ = more;
        return *this;
    }
    FrameBuilder& bad_udp_checksum() {
        udp_csum_ = Override::kFlip;
        return *this;
    }
    FrameBuilder& zero_udp_checksum() {
        udp_csum_ = Override::kZero;
        return *this;
    }
    FrameBuilder& udp_length(uint16_t v) {
        udp_len_ = v;
        return *this;
    }
    FrameBuilder& bad_icmp_checksum() {
        icmp_csum_ = Override::kFlip;
        return *this;
    }
    // Link-layer padding after the IP datagram, up to n bytes of frame (as a NIC pads to 60).
    FrameBuilder& pad_to(std::size_t n) {
        pad_to_ = n;
        return *this;
    }
    // Cut the finished frame to n bytes.
    FrameBuilder& truncate(std::size_t n) {
        truncate_ = n;
        return *this;
    }

    Bytes build() const;
    // The transport bytes (UDP/ICMP header + payload, or the payload) as the IP payload.
    Bytes l4_bytes() const;
    // One fragment holding l4_bytes()[offset, offset + len), with MF = more.
    Bytes build_fragment(uint32_t offset, uint32_t len, bool more) const;
    // The datagram cut into fragments of frag_size payload bytes (a multiple of 8), in order.
    std::vector<Bytes> build_fragments(uint32_t frag_size) const;

private:
    enum class L4 { kRaw, kUdp, kIcmp };
    enum class Override { kNone, kFlip, kZero };
    struct Tag {
        uint16_t tpid, tci;
    };

    Bytes render(std::span<const uint8_t> ip_payload, uint16_t frag_field) const;

    Mac eth_src_{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
    Mac eth_dst_{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
    std::optional<uint16_t> ethertype_;
    std::vector<Tag> vlans_;
    bool has_ip_ = false;
    Ipv4Addr ip_src_ = 0, ip_dst_ = 0;
    uint8_t ttl_ = 64, tos_ = 0, proto_ = 0;
    uint16_t id_ = 1;
    bool df_ = false;
    std::optional<uint16_t> frag_off_;
    bool mf_ = false;
    std::vector<uint8_t> options_;
    L4 l4_ = L4::kRaw;
    uint16_t sport_ = 0, dport_ = 0;
    uint8_t icmp_type_ = 0, icmp_code_ = 0;
    uint32_t icmp_rest_ = 0;
    std::vector<uint8_t> payload_;
    Override ip_csum_ = Override::kNone, udp_csum_ = Override::kNone, icmp_csum_ = Override::kNone;
    std::optional<uint16_t> ip_csum_value_;
    std::optional<uint8_t> version_, ihl_;
    std::optional<uint16_t> tot_len_, udp_len_;
    std::size_t pad_to_ = 0;
    std::optional<std::size_t> truncate_;
};

}  // namespace ingress::wire
