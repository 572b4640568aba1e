// libFuzzer: ip_rcv_core on arbitrary bytes. The first byte picks pkt_type and where the
// network header starts (as l2 would leave them); the rest is the frame, in a buffer of
// exactly its size so ASan catches any read past it. A datagram rcv_core lets through must
// satisfy everything the later stages rely on without checking again: version 4, ihl >= 5,
// a header checksum of zero, len trimmed to l3_off + tot_len within the frame, l4_off right
// after the header, and IpInReceives counted once (the OTHERHOST drop comes before it).
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/counters.h"
#include "ipv4/rcv_core.h"
#include "wire/checksum.h"
#include "wire/ethernet.h"
#include "wire/ipv4.h"

using namespace ingress;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const uint8_t ctl = data[0];
    std::vector<uint8_t> frame(data + 1, data + size);
    const uint32_t orig_len = static_cast<uint32_t>(frame.size());
    core::Packet pkt;
    pkt.data = frame.data();
    pkt.len = orig_len;
    pkt.pkt_type = static_cast<core::PktType>(ctl & 3);
    pkt.l3_off = static_cast<uint16_t>(std::min<uint32_t>((ctl >> 2) % 24, orig_len));
    pkt.ethertype = wire::kEthPIp;
    pkt.ifindex = 1;
    core::CounterBlock c;
    c.begin_burst();
    c.rx();
    core::Verdict v = ipv4::rcv_core(pkt, c);
    if (v.is_drop())
        c.dropped(v.reason());
    else
        c.delivered();
    c.end_burst();
    core::Snapshot s = c.snapshot();
    if (!s.conserved()) std::abort();
    const bool otherhost = ctl % 4 == static_cast<int>(core::PktType::kOtherhost);
    if (s.mib_value(core::Mib::kIpInReceives) != (otherhost ? 0u : 1u)) std::abort();
    if (!v.is_next()) return 0;
    if (otherhost) std::abort();
    auto ip = wire::Ipv4View::try_view(pkt.l3());
    if (!ip || ip->version() != 4 || ip->ihl() < 5) std::abort();
    if (pkt.len > orig_len || pkt.len != pkt.l3_off + ip->tot_len()) std::abort();
    if (pkt.l4_off != pkt.l3_off + ip->header_len() || pkt.l4_off > pkt.len) std::abort();
    if (pkt.ip_proto != ip->protocol()) std::abort();
    if (wire::ip_fast_csum(pkt.data + pkt.l3_off, ip->ihl()) != 0) std::abort();
    return 0;
}
