#include "demux/tap.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "demux/hash.h"
#include "wire/ethernet.h"
#include "wire/header_writer.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

namespace ingress::demux {

namespace {

// One delivery round on one device (deliver_skb for each matching prot_hook).
struct Round {
    uint32_t dev;            // the device of this round (sll_ifindex)
    bool vlan_present;       // skb_vlan_tag_present() during this round
    bool all;                // ETH_P_ALL taps run in this pass
    bool specific;           // ethertype taps run in this pass (the final round's ptype_base)
    core::PktType pkt_type;  // skb->pkt_type during this round
    bool outgoing = false;   // dev_queue_xmit_nit: ignore_outgoing hooks are skipped
};

bool group_matches(const TapGroup& g, const core::Packet& pkt, const l2::Port& port,
                   const Round& r) noexcept {
    if (r.outgoing && g.ignore_outgoing) return false;  // PACKET_IGNORE_OUTGOING
    if (g.protocol == kEthPAll) {
        // ptype_all (global) and dev->ptype_all of the round's device.
        return r.all && (g.ifindex == 0 || g.ifindex == r.dev);
    }
    if (!r.specific || g.protocol != pkt.ethertype) return false;
    // ptype_base (global), orig_dev->ptype_specific and skb->dev->ptype_specific.
    return g.ifindex == 0 || g.ifindex == port.ifindex || g.ifindex == pkt.ifindex;
}

// packet_rcv() for one tap.
void packet_rcv(TapEndpoint& tap, const core::Packet& pkt, const Round& r,
                TapScratch& scratch) noexcept {
    const uint8_t* f = pkt.data;
    std::span<const uint8_t> head, body{f + pkt.l3_off, pkt.len - pkt.l3_off};
    uint8_t link[wire::EthernetView::kHeaderLen];
    if (tap.type() == TapType::kRaw) {
        // The MAC header as it is after skb_vlan_untag(): the tag bytes are gone.
        std::memcpy(link, f, wire::EthernetView::kTypeOff);
        wire::write_ethertype(link, pkt.ethertype);
        head = {link, sizeof link};
    }
    const auto len = static_cast<uint32_t>(head.size() + body.size() + scratch.cut);
    uint32_t snaplen = len;
    if (const TapFilter* filter = tap.filter()) {
        std::span<const uint8_t> bytes = body;
        if (!head.empty()) {
            if (pkt.l3_off == wire::EthernetView::kHeaderLen) {
                bytes = {f, head.size() + body.size()};  // untagged: already what the tap sees
            } else {
                const std::size_t n =
                    std::min<std::size_t>(head.size() + body.size(), scratch.bytes.size());
                std::memcpy(scratch.bytes.data(), link, head.size());
                std::memcpy(scratch.bytes.data() + head.size(), body.data(), n - head.size());
                bytes = {scratch.bytes.data(), n};
            }
        }
        const uint32_t res = filter->run(bytes, len);
        if (res == 0) {
            tap.count_filter_drop();  // SOCKET_FILTER, per tap
            return;
        }
        snaplen = std::min(snaplen, res);
    }

    // Snap length: cut what the filter did not keep, or what the copy never had (the
    // record's l3_off still says where the network header starts, as tp_net does).
    const auto l3_off = static_cast<uint16_t>(head.size());
    snaplen = std::min(snaplen, len - scratch.cut);
    const bool snapped = snaplen < len;
    if (snapped) {
        if (snaplen <= head.size()) {
            head = head.first(snaplen);
            body = {};
        } else {
            body = body.first(std::min<std::size_t>(body.size(), snaplen - head.size()));
        }
    }
    auto fill = [&pkt, &r, &tap, len, l3_off, snapped](shm::SlotMeta& m) noexcept {
        set_timestamps(m, pkt);
        m.ifindex = r.dev;
        m.pkt_type = static_cast<uint8_t>(r.pkt_type);
        m.ethertype = pkt.ethertype;
        m.orig_len = len;
        m.l3_off = l3_off;
        set_src_mac(m, pkt);  // sll_addr, for SOCK_DGRAM too (the header is not in the payload)
        if (snapped) m.flags |= INGRESS_F_TRUNCATED;
        // PACKET_AUXDATA: what tpacket_auxdata carries (ingress_tp_status() rebuilds tp_status).
        if (tap.auxdata()) {
            if (pkt.flags & core::kFlagL4CsumGood) m.flags |= INGRESS_F_CSUM_VERIFIED;
            if (r.vlan_present) {
                m.vlan_tci = pkt.vlan_tci;
                m.vlan_tpid = pkt.vlan_tpid;
                m.flags |= INGRESS_F_VLAN | INGRESS_F_VLAN_TPID;
            }
        }
    };
    // A full ring: the tap's own drop count (dropped_full in its ring header).
    (void)tap.rings().try_emplace(fill, head, body, scratch.delivery);
}

void deliver_round(const core::Packet& pkt, const l2::Port& port, const EndpointTable& t,
                   const Round& r, TapScratch& scratch) noexcept {
    for (const TapGroup& g : t.tap_groups()) {
        if (!group_matches(g, pkt, port, r)) continue;
        auto members = t.tap_members(g);
        if (g.mode == FanoutMode::kNone) {
            for (TapEndpoint* tap : members) packet_rcv(*tap, pkt, r, scratch);
            continue;
        }
        // fanout_demux(): one member per frame.
        const auto n = static_cast<uint32_t>(members.size());
        uint32_t idx =
            g.mode == FanoutMode::kHash
                ? reciprocal_scale(fanout_flow_hash(pkt, t.hash_seed()), n)
                : std::atomic_ref<uint32_t>(g.rr_cur).fetch_add(1, std::memory_order_relaxed) % n;
        packet_rcv(*members[idx], pkt, r, scratch);
    }
}

}  // namespace

uint32_t fanout_flow_hash(const core::Packet& pkt, uint32_t seed) noexcept {
    if (pkt.ethertype != wire::kEthPIp) return 0;
    auto ip = wire::Ipv4View::try_view(pkt.l3());
    if (!ip || ip->ihl() < 5) return 0;
    wire::Ipv4Addr a = ip->src(), b = ip->dst();
    uint16_t pa = 0, pb = 0;
    const std::size_t hl = ip->header_len();
    const uint8_t proto = ip->protocol();
    if ((proto == wire::kIpProtoUdp || proto == wire::kIpProtoTcp) && !ip->is_fragment() &&
        pkt.l3_len() >= hl) {
        if (auto ports = wire::l4_ports(pkt.l3().subspan(hl))) {
            pa = ports->src;
            pb = ports->dst;
        }
    }
    // Symmetric: order the endpoints of the flow before hashing.
    if (a > b || (a == b && pa > pb)) {
        std::swap(a, b);
        std::swap(pa, pb);
    }
    return jhash_3words(a, b, (uint32_t{pa} << 16) | pb, seed ^ proto);
}

core::Verdict tap_deliver_port(const core::Packet& pkt, const l2::Port& port,
                               const EndpointTable& t, TapScratch& scratch) noexcept {
    // ptype_all on the port, after skb_vlan_untag() (the tag, if any, in aux data) and before
    // vlan_do_receive(): pkt_type is still eth_type_trans()'s.
    const bool tagged = (pkt.flags & core::kFlagVlan) != 0;
    deliver_round(pkt, port, t, {port.ifindex, tagged, true, false, pkt.pkt_type}, scratch);
    return core::Verdict::next();
}

core::Verdict tap_deliver_final(const core::Packet& pkt, const l2::Port& port,
                                const EndpointTable& t, TapScratch& scratch) noexcept {
    if (pkt.ifindex != port.ifindex) {
        // The frame moved to a VLAN sub-interface: another_round there, untagged, ptype_all
        // then ptype_base.
        deliver_round(pkt, port, t, {pkt.ifindex, false, true, true, pkt.pkt_type}, scratch);
    } else {
        // ptype_base on the port: by now the kernel has cleared the tag.
        deliver_round(pkt, port, t, {port.ifindex, false, false, true, pkt.pkt_type}, scratch);
    }
    return core::Verdict::next();
}

void tap_deliver_outgoing(const core::Packet& frame, const l2::Port& port, const EndpointTable& t,
                          TapScratch& scratch, uint64_t tstamp_ns) noexcept {
    // The frame as the transmit path holds it: the link header at data, the network header
    // after it (and after the tag of a frame sent on a VLAN sub-interface).
    auto eth = wire::EthernetView::try_view({frame.data, frame.len});
    if (!eth) return;
    core::Packet p = frame;
    p.l3_off = wire::EthernetView::kHeaderLen;
    p.ethertype = eth->ethertype();
    p.flags = 0;  // a built frame: nothing verified (CHECKSUM_NONE: tp_status has no flag)
    p.pkt_type = core::PktType::kOutgoing;
    p.rx_ns = tstamp_ns;  // net_timestamp_set(skb2)
    bool tagged = false;
    if (wire::is_vlan_tpid(p.ethertype)) {
        auto tag = wire::VlanView::try_view(
            {frame.data + wire::EthernetView::kHeaderLen, frame.len - p.l3_off});
        if (!tag) return;
        tagged = true;
        p.vlan_tpid = p.ethertype;
        p.vlan_tci = tag->tci();
        p.ethertype = tag->inner_type();
        p.l3_off = wire::EthernetView::kHeaderLen + wire::VlanView::kTagLen;
        p.flags |= core::kFlagVlan;
    }
    if (p.ifindex != port.ifindex) {
        // Sent on a VLAN sub-interface: its own dev_queue_xmit_nit, untagged
        // (vlan_dev_hard_start_xmit), then the port's below.
        deliver_round(p, port, t, {p.ifindex, false, true, false, p.pkt_type, true}, scratch);
    }
    // The port's: the tag (REORDER_HDR, put back by __vlan_hwaccel_put_tag) in aux data.
    deliver_round(p, port, t, {port.ifindex, tagged, true, false, p.pkt_type, true}, scratch);
}

void tap_deliver_looped(const core::Packet& pkt, const l2::Port& lo, const EndpointTable& t,
                        TapScratch& scratch) noexcept {
    tap_deliver_outgoing(pkt, lo, t, scratch, pkt.rx_ns);  // xmit_one on lo
    // process_backlog on lo: never tagged, so one device and no another_round.
    deliver_round(pkt, lo, t, {lo.ifindex, false, true, false, pkt.pkt_type}, scratch);
    deliver_round(pkt, lo, t, {lo.ifindex, false, false, true, pkt.pkt_type}, scratch);
}

}  // namespace ingress::demux
