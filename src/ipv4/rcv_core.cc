#include "ipv4/rcv_core.h"

#include "wire/checksum.h"
#include "wire/ipv4.h"

namespace ingress::ipv4 {

using core::DropReason;
using core::Mib;
using core::Verdict;

Verdict rcv_core(core::Packet& pkt, core::CounterBlock& c) noexcept {
    // "When the interface is in promisc. mode, drop all the crap that it receives": before
    // any IP counter, so an OTHERHOST frame is not an IP InReceive.
    if (pkt.pkt_type == core::PktType::kOtherhost) return Verdict::drop(DropReason::kOtherhost);

    // __IP_UPD_PO_STATS(IPSTATS_MIB_IN, skb->len): skb->len here is everything after the
    // link header, padding included.
    const uint32_t l3_len = pkt.l3_len();
    c.mib(Mib::kIpInReceives);
    c.mib(Mib::kIpExtInOctets, l3_len);

    // Header errors: the kernel turns an unspecified reason into IP_INHDR and bumps
    // InHdrErrors on every path through its inhdr_error label.
    auto inhdr_error = [&c]() noexcept {
        c.mib(Mib::kIpInHdrErrors);
        return Verdict::drop(DropReason::kIpInhdr);
    };

    // pskb_may_pull(skb, sizeof(struct iphdr)).
    auto ip = wire::Ipv4View::try_view(pkt.l3());
    if (!ip) return inhdr_error();

    // RFC 1122 §3.2.1.1 / RFC 791: version 4, IHL at least 5 words.
    if (ip->ihl() < 5 || ip->version() != 4) return inhdr_error();

    // ECN counters (IPSTATS_MIB_NOECTPKTS + (tos & INET_ECN_MASK)), counted before the
    // checksum is verified, as the kernel does.
    static constexpr Mib kEcn[4] = {Mib::kIpExtInNoECTPkts, Mib::kIpExtInECT1Pkts,
                                    Mib::kIpExtInECT0Pkts, Mib::kIpExtInCEPkts};
    c.mib(kEcn[ip->ecn()]);

    // pskb_may_pull(skb, iph->ihl*4): the options must be in the frame.
    const uint32_t hlen = static_cast<uint32_t>(ip->header_len());
    if (l3_len < hlen) return inhdr_error();

    // RFC 1122 §3.2.1.2: MUST silently discard a datagram that fails the checksum.
    // ip_fast_csum over ihl*4 bytes; a correct header sums to zero. Counted as both
    // InCsumErrors and InHdrErrors.
    if (wire::ip_fast_csum(pkt.data + pkt.l3_off, ip->ihl()) != 0) {
        c.mib(Mib::kIpExtInCsumErrors);
        c.mib(Mib::kIpInHdrErrors);
        return Verdict::drop(DropReason::kIpCsum);
    }

    // tot_len against what arrived: shorter frame -> truncated; tot_len inside the header
    // -> header error.
    const uint32_t tot_len = ip->tot_len();
    if (l3_len < tot_len) {
        c.mib(Mib::kIpExtInTruncatedPkts);
        return Verdict::drop(DropReason::kPktTooSmall);
    }
    if (tot_len < hlen) return inhdr_error();

    // pskb_trim_rcsum(skb, len): drop link-layer padding; from here len is the datagram.
    pkt.len = pkt.l3_off + tot_len;
    set_l3_meta(pkt, *ip);
    return Verdict::next();
}

}  // namespace ingress::ipv4
