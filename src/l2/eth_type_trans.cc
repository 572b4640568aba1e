#include "l2/eth_type_trans.h"

namespace ingress::l2 {

using core::DropReason;
using core::Verdict;

Verdict eth_type_trans(core::Packet& pkt, const Port& port) noexcept {
    auto eth = wire::EthernetView::try_view(pkt.frame());
    if (!eth) return Verdict::drop(DropReason::kPktTooSmall);
    pkt.pkt_type = eth_pkt_type(eth->dst(), port);
    // The backend's steering already set l3_off and ethertype (and pulled the first tag).
    if (pkt.flags & core::kFlagL2Parsed) return Verdict::next();
    pkt.l3_off = wire::EthernetView::kHeaderLen;

    // Ethernet II if the type field is >= 0x0600 (eth_proto_is_802_3); otherwise it is an
    // 802.3 length: 0xFFFF after the header is raw 802.3 (Novell IPX), else 802.2 LLC.
    uint16_t type = eth->ethertype();
    if (type >= wire::kEthP8023Min) {
        pkt.ethertype = type;
    } else {
        auto rest = pkt.frame().subspan(wire::EthernetView::kHeaderLen);
        bool novell = rest.size() >= 2 && rest[0] == 0xff && rest[1] == 0xff;
        pkt.ethertype = novell ? wire::kEthP8023 : wire::kEthP8022;
    }
    return Verdict::next();
}

}  // namespace ingress::l2
