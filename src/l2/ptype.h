#pragma once

#include "core/counters.h"
#include "core/packet.h"
#include "core/verdict.h"
#include "wire/ethernet.h"

namespace ingress::l2 {

// Kernel-equivalent: the ptype_base dispatch at the end of __netif_receive_skb_core():
// ETH_P_IP goes to ip_rcv; every other ethertype (ARP, IPv6, LLC ...) is not ours and is
// passed to the kernel (AF_XDP: the XDP program normally keeps it away from us; DPDK: the
// exception path).
// Reads:  pkt.ethertype.
// Next:   ipv4::rcv_core (IPv4), or pass.
// Counts: IngressL2NonIpv4.
inline core::Verdict ptype_dispatch(const core::Packet& pkt, core::CounterBlock& c) noexcept {
    if (pkt.ethertype == wire::kEthPIp) return core::Verdict::next();
    c.mib(core::Mib::kIngressL2NonIpv4);
    return core::Verdict::pass();
}

}  // namespace ingress::l2
