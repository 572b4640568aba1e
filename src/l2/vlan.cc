#include "l2/vlan.h"

namespace ingress::l2 {

using core::DropReason;
using core::Mib;
using core::PktType;
using core::Verdict;

namespace {

// skb_vlan_untag(): pull one tag into the metadata. False when the tag is truncated.
bool untag_one(core::Packet& pkt) noexcept {
    auto tag = wire::VlanView::try_view(pkt.frame().subspan(pkt.l3_off));
    if (!tag) return false;
    pkt.vlan_tpid = pkt.ethertype;
    pkt.vlan_tci = tag->tci();
    pkt.flags |= core::kFlagVlan;
    pkt.ethertype = tag->inner_type();
    pkt.l3_off = static_cast<uint16_t>(pkt.l3_off + wire::VlanView::kTagLen);
    return true;
}

}  // namespace

Verdict vlan_untag(core::Packet& pkt, core::CounterBlock& c) noexcept {
    if (pkt.flags & core::kFlagL2Parsed) {
        // The backend's steering did skb_vlan_untag() (a NIC's VLAN stripping would too).
        if (pkt.flags & core::kFlagVlan) c.mib(Mib::kIngressL2VlanTagged);
        return Verdict::next();
    }
    if (!wire::is_vlan_tpid(pkt.ethertype)) return Verdict::next();
    c.mib(Mib::kIngressL2VlanTagged);
    if (!untag_one(pkt)) return Verdict::drop(DropReason::kPktTooSmall);
    return Verdict::next();
}

Verdict vlan_do_receive(core::Packet& pkt, const Port& port) noexcept {
    if (!(pkt.flags & core::kFlagVlan)) return Verdict::next();
    for (;;) {
        uint16_t vid = pkt.vlan_tci & 0x0fff;
        if (const VlanIf* vif = port.vlan(vid)) {
            // vlan_do_receive(): the frame now arrives on the sub-interface.
            pkt.ifindex = vif->ifindex;
            if (pkt.pkt_type == PktType::kOtherhost) {
                auto eth = wire::EthernetView::try_view(pkt.frame());
                if (eth && eth->dst() == vif->mac) pkt.pkt_type = PktType::kHost;
            }
            return Verdict::next();
        }
        if (vid != 0) {
            // "Vlan id is non 0 and vlan_do_receive() above couldn't find vlan device."
            pkt.pkt_type = PktType::kOtherhost;
            return Verdict::next();
        }
        // Priority-tagged (VID 0): untagged, unless another tag follows.
        if (!wire::is_vlan_tpid(pkt.ethertype)) return Verdict::next();
        if (!untag_one(pkt)) return Verdict::drop(DropReason::kPktTooSmall);
    }
}

}  // namespace ingress::l2
