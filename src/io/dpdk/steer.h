// The DPDK backend's steering rule: xdp/ingress.bpf.c's decision, made in rx_burst() on a
// received frame. A free function so tests can call it without a port
// (tests/integration/steering_rule_test.cc holds it, the XDP program and the pipeline to
// one table of frames).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "core/packet.h"
#include "io/dpdk/dst_set.h"
#include "wire/ethernet.h"
#include "wire/ipv4.h"

namespace ingress::io::dpdk {

// Which IP protocols enter the pipeline (the XDP program's ingress_proto map).
using ProtocolSet = std::array<std::atomic<bool>, 256>;

// xdp/ingress.bpf.c kernel_keeps_icmp(): an ICMP echo reply, a redirect, or an error quoting
// a protocol the dataplane does not take stays with the kernel (only a first fragment shows
// the type). `l3`: the IPv4 header onwards.
inline bool kernel_keeps_icmp(const wire::Ipv4View& ip, std::span<const uint8_t> l3,
                              const ProtocolSet& protocols) noexcept {
    if (ip.frag_offset_bytes() != 0) return false;
    const std::size_t ihl = (l3[0] & 0x0f) * 4u;
    if (ihl < 20 || l3.size() < ihl + 1) return false;
    const uint8_t type = l3[ihl];
    if (type == 0 || type == 5) return true;
    if (type != 3 && type != 4 && type != 11 && type != 12) return false;
    if (l3.size() < ihl + 8 + 10) return false;  // the quoted header's protocol byte
    return !protocols[l3[ihl + 8 + 9]].load(std::memory_order_relaxed);
}

// Whether the frame `pkt` views (data, len; the rest at its defaults) enters the pipeline:
// IPv4, after at most two VLAN tags, to a destination in `dsts`, of a protocol `protocols`
// takes. Anything shorter than it needs to look at is the kernel's.
//
// When it returns true it has parsed what eth_type_trans() and skb_vlan_untag() would, and
// leaves it in `pkt` with kFlagL2Parsed, as a NIC that strips the outer VLAN tag does:
// l3_off and ethertype after the Ethernet header and the first tag, vlan_tci/vlan_tpid and
// kFlagVlan for that tag. A second tag stays in the frame (l3_off points at it, ethertype
// is its TPID) for vlan_untag, as the kernel leaves it for its next round. pkt_type is not
// set (it needs the port's MAC: eth_type_trans). On false `pkt` may have been written to.
inline bool steer_to_dataplane(core::Packet& pkt, const DstSet& dsts,
                               const ProtocolSet& protocols) noexcept {
    const std::span<const uint8_t> f = pkt.frame();
    const auto eth = wire::EthernetView::try_view(f);
    if (!eth) return false;
    uint16_t proto = eth->ethertype();
    std::size_t off = wire::EthernetView::kHeaderLen;
    pkt.l3_off = static_cast<uint16_t>(off);
    pkt.ethertype = proto;
    for (int i = 0; i < 2 && wire::is_vlan_tpid(proto); ++i) {
        const auto tag = wire::VlanView::try_view(f.subspan(off));
        if (!tag) return false;
        if (i == 0) {  // skb_vlan_untag(): the first tag moves to the metadata
            pkt.vlan_tpid = proto;
            pkt.vlan_tci = tag->tci();
            pkt.flags |= core::kFlagVlan;
            pkt.ethertype = tag->inner_type();
            pkt.l3_off = static_cast<uint16_t>(off + wire::VlanView::kTagLen);
        }
        proto = tag->inner_type();
        off += wire::VlanView::kTagLen;
    }
    if (proto != wire::kEthPIp) return false;
    const auto ip = wire::Ipv4View::try_view(f.subspan(off));
    if (!ip || !dsts.contains(ip->dst()) ||
        !protocols[ip->protocol()].load(std::memory_order_relaxed))
        return false;
    if (ip->protocol() == wire::kIpProtoIcmp && kernel_keeps_icmp(*ip, f.subspan(off), protocols))
        return false;
    pkt.flags |= core::kFlagL2Parsed;
    return true;
}

}  // namespace ingress::io::dpdk
