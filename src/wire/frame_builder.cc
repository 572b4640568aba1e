#include "wire/frame_builder.h"

#include <stdexcept>

#include "wire/checksum.h"
#include "wire/icmp.h"
#include "wire/udp.h"

namespace ingress::wire {

FrameBuilder& FrameBuilder::payload_size(std::size_t n) {
    payload_.resize(n);
    for (std::size_t i = 0; i < n; ++i) payload_[i] = static_cast<uint8_t>(i);
    return *this;
}

FrameBuilder::Bytes FrameBuilder::l4_bytes() const {
    Bytes b;
    switch (l4_) {
        case L4::kRaw:
            return payload_;
        case L4::kUdp: {
            b.resize(UdpView::kHeaderLen + payload_.size());
            uint16_t ulen = static_cast<uint16_t>(b.size());
            store_be16(&b[UdpView::kSrcPortOff], sport_);
            store_be16(&b[UdpView::kDstPortOff], dport_);
            store_be16(&b[UdpView::kLenOff], udp_len_.value_or(ulen));
            std::copy(payload_.begin(), payload_.end(), b.begin() + UdpView::kHeaderLen);
            uint16_t c =
                csum_fold(csum_partial(b, pseudo_header_sum(ip_src_, ip_dst_, kIpProtoUdp, ulen)));
            if (c == 0) c = 0xffff;  // RFC 768: a computed zero is sent as all ones
            if (udp_csum_ == Override::kFlip) c = static_cast<uint16_t>(c ^ 0x5a5a);
            if (udp_csum_ == Override::kZero) c = 0;
            store_be16(&b[UdpView::kCsumOff], c);
            return b;
        }
        case L4::kIcmp: {
            b.resize(IcmpView::kHeaderLen + payload_.size());
            b[IcmpView::kTypeOff] = icmp_type_;
            b[IcmpView::kCodeOff] = icmp_code_;
            store_be32(&b[IcmpView::kRestOff], icmp_rest_);
            std::copy(payload_.begin(), payload_.end(), b.begin() + IcmpView::kHeaderLen);
            uint16_t c = internet_checksum(b);
            if (icmp_csum_ == Override::kFlip) c = static_cast<uint16_t>(c ^ 0x5a5a);
            store_be16(&b[IcmpView::kCsumOff], c);
            return b;
        }
    }
    return b;
}

FrameBuilder::Bytes FrameBuilder::render(std::span<const uint8_t> ip_payload,
                                         uint16_t frag_field) const {
    Bytes f;
    f.reserve(64 + options_.size() + ip_payload.size());
    f.insert(f.end(), eth_dst_.b.begin(), eth_dst_.b.end());
    f.insert(f.end(), eth_src_.b.begin(), eth_src_.b.end());
    auto push16 = [&f](uint16_t v) {
        f.push_back(static_cast<uint8_t>(v >> 8));
        f.push_back(static_cast<uint8_t>(v));
    };
    for (const Tag& t : vlans_) {
        push16(t.tpid);
        push16(t.tci);
    }
    push16(ethertype_.value_or(has_ip_ ? kEthPIp : 0x88b5 /* IEEE local experimental */));
    if (has_ip_) {
        std::size_t opt_len = (options_.size() + 3) & ~std::size_t{3};
        std::size_t hlen = Ipv4View::kMinHeaderLen + opt_len;
        if (hlen > 60) throw std::invalid_argument("FrameBuilder: IP options longer than 40 bytes");
        std::size_t ip_off = f.size();
        f.resize(ip_off + hlen, 0);
        uint8_t* h = &f[ip_off];
        h[Ipv4View::kVerIhlOff] =
            static_cast<uint8_t>((version_.value_or(4) << 4) | (ihl_.value_or(hlen / 4) & 0x0f));
        h[Ipv4View::kTosOff] = tos_;
        store_be16(h + Ipv4View::kTotLenOff,
                   tot_len_.value_or(static_cast<uint16_t>(hlen + ip_payload.size())));
        store_be16(h + Ipv4View::kIdOff, id_);
        store_be16(h + Ipv4View::kFragOff, frag_field);
        h[Ipv4View::kTtlOff] = ttl_;
        h[Ipv4View::kProtoOff] = proto_;
        store_be32(h + Ipv4View::kSrcOff, ip_src_);
        store_be32(h + Ipv4View::kDstOff, ip_dst_);
        std::copy(options_.begin(), options_.end(), h + Ipv4View::kMinHeaderLen);
        uint16_t c = internet_checksum({h, hlen});
        if (ip_csum_ == Override::kFlip) c = static_cast<uint16_t>(c ^ 0x5a5a);
        store_be16(h + Ipv4View::kCsumOff, ip_csum_value_.value_or(c));
    }
    f.insert(f.end(), ip_payload.begin(), ip_payload.end());
    if (f.size() < pad_to_) f.resize(pad_to_, 0);
    if (truncate_ && *truncate_ < f.size()) f.resize(*truncate_);
    return f;
}

FrameBuilder::Bytes FrameBuilder::build() const {
    Bytes l4 = l4_bytes();
    uint16_t frag = static_cast<uint16_t>((df_ ? kIpFlagDf : 0) | (mf_ ? kIpFlagMf : 0) |
                                          (frag_off_.value_or(0) / 8 & kIpOffsetMask));
    return render(l4, frag);
}

FrameBuilder::Bytes FrameBuilder::build_fragment(uint32_t offset, uint32_t len, bool more) const {
    Bytes l4 = l4_bytes();
    if (offset > l4.size()) offset = static_cast<uint32_t>(l4.size());
    if (len > l4.size() - offset) len = static_cast<uint32_t>(l4.size() - offset);
    uint16_t frag = static_cast<uint16_t>((df_ ? kIpFlagDf : 0) | (more ? kIpFlagMf : 0) |
                                          ((offset / 8) & kIpOffsetMask));
    return render(std::span<const uint8_t>(l4).subspan(offset, len), frag);
}

std::vector<FrameBuilder::Bytes> FrameBuilder::build_fragments(uint32_t frag_size) const {
    if (frag_size == 0 || frag_size % 8 != 0)
        throw std::invalid_argument("FrameBuilder: fragment size must be a non-zero multiple of 8");
    std::size_t total = l4_bytes().size();
    std::vector<Bytes> out;
    for (uint32_t off = 0; off < total || out.empty(); off += frag_size) {
        bool more = off + frag_size < total;
        out.push_back(build_fragment(off, frag_size, more));
    }
    return out;
}

}  // namespace ingress::wire
