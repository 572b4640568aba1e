// libFuzzer: the header views on arbitrary bytes. Every view is made through its checked
// try_view() at every offset the bytes allow, and every accessor is called: ASan reports any
// read outside the input. The IPv4 options parser (ip_options_compile) gets whatever
// header an IPv4 view claims, clamped to the bytes, and must keep its offsets inside it.
// The checksum is compared with its reference implementation. The text parsers (parse_ipv4,
// Mac::parse) get the input as a string.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ipv4/ip_options.h"
#include "wire/checksum.h"
#include "wire/ethernet.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

using namespace ingress;

namespace {

volatile uint64_t g_sink;  // keeps the accessors' results alive

void views_at(std::span<const uint8_t> b) {
    uint64_t acc = 0;
    if (auto e = wire::EthernetView::try_view(b))
        acc += e->dst().b[5] + e->src().b[0] + e->ethertype();
    if (auto v = wire::VlanView::try_view(b)) acc += v->vid() + v->pcp() + v->inner_type();
    if (auto ip = wire::Ipv4View::try_view(b)) {
        acc += ip->version() + ip->header_len() + ip->tos() + ip->ecn() + ip->tot_len() + ip->id() +
               ip->frag_offset_bytes() + ip->more_fragments() + ip->ttl() + ip->protocol() +
               ip->checksum() + ip->src() + ip->dst() + ip->is_fragment();
        auto opts = ip->options();
        if (!opts.empty() &&
            (opts.data() < b.data() || opts.data() + opts.size() > b.data() + b.size()))
            std::abort();
        // ip_options_compile reads the whole header it is given: hand it only real bytes.
        std::size_t hl = ip->header_len();
        if (hl > wire::Ipv4View::kMinHeaderLen && hl <= b.size()) {
            ipv4::IpOptions o = ipv4::ip_options_compile(b.first(hl));
            // Every offset it reports points inside the header it was given.
            for (uint8_t at : {o.error_ptr, o.srr, o.rr, o.ts, o.router_alert, o.cipso})
                if (at >= hl) std::abort();
            if (ip->ihl() >= 5) acc += wire::ip_fast_csum(b.data(), ip->ihl());
        }
    }
    if (auto u = wire::UdpView::try_view(b))
        acc += u->src_port() + u->dst_port() + u->length() + u->checksum() + u->bytes().size();
    if (auto i = wire::IcmpView::try_view(b))
        acc += i->type() + i->code() + i->checksum() + i->rest() + i->body().size();
    g_sink = acc;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const uint8_t> b(data, size);
    for (std::size_t off = 0; off <= size && off <= 64; ++off) views_at(b.subspan(off));
    // The fast checksum against the byte-at-a-time reference (RFC 1071).
    if (wire::internet_checksum(b) != wire::internet_checksum_reference(b)) std::abort();
    std::string_view s(reinterpret_cast<const char*>(data), size);
    if (auto a = wire::parse_ipv4(s)) {
        if (wire::parse_ipv4(wire::ipv4_str(*a)) != a) std::abort();
    }
    if (auto m = wire::Mac::parse(s)) {
        if (wire::Mac::parse(m->str()) != m) std::abort();
    }
    return 0;
}
