#include "demux/endpoint.h"

#include <pcap/pcap.h>

#include <algorithm>
#include <cstring>

namespace ingress::demux {

McMembership* McSocketState::find(wire::Ipv4Addr group, uint32_t ifindex) noexcept {
    for (McMembership& m : list)
        if (m.group == group && m.ifindex == ifindex) return &m;
    return nullptr;
}

void McSocketState::join(wire::Ipv4Addr group, uint32_t ifindex) {
    if (!find(group, ifindex)) list.push_back({group, ifindex, McFilterMode::kExclude, {}});
}

void McSocketState::join_source(wire::Ipv4Addr group, uint32_t ifindex, wire::Ipv4Addr source) {
    McMembership* m = find(group, ifindex);
    if (!m) {
        list.push_back({group, ifindex, McFilterMode::kInclude, {}});
        m = &list.back();
    }
    if (std::find(m->sources.begin(), m->sources.end(), source) == m->sources.end())
        m->sources.push_back(source);
}

bool McSocketState::block_source(wire::Ipv4Addr group, uint32_t ifindex, wire::Ipv4Addr source) {
    McMembership* m = find(group, ifindex);
    if (!m || m->mode != McFilterMode::kExclude) return false;  // EINVAL in the kernel
    if (std::find(m->sources.begin(), m->sources.end(), source) == m->sources.end())
        m->sources.push_back(source);
    return true;
}

bool McSocketState::leave(wire::Ipv4Addr group, uint32_t ifindex) {
    auto it = std::find_if(list.begin(), list.end(), [&](const McMembership& m) {
        return m.group == group && m.ifindex == ifindex;
    });
    if (it == list.end()) return false;
    list.erase(it);
    return true;
}

bool McSocketState::sf_allow(wire::Ipv4Addr loc_addr, wire::Ipv4Addr rmt_addr,
                             uint32_t dif) const noexcept {
    if (!wire::ipv4_is_multicast(loc_addr)) return true;
    for (const McMembership& m : list) {
        if (m.group != loc_addr || m.ifindex != dif) continue;
        // The membership on this interface decides: INCLUDE lets only the listed sources
        // through, EXCLUDE all but the listed ones (an empty EXCLUDE list = any source).
        bool listed = std::find(m.sources.begin(), m.sources.end(), rmt_addr) != m.sources.end();
        return m.mode == McFilterMode::kInclude ? listed : !listed;
    }
    // No membership for this group on this interface: IP_MULTICAST_ALL decides. With the
    // default (1) the endpoint receives every group some endpoint joined on the interface.
    return mc_all;
}

std::unique_ptr<TapFilter> TapFilter::compile(const std::string& expr, bool link_header,
                                              std::string* error) {
    pcap_t* p = pcap_open_dead(link_header ? DLT_EN10MB : DLT_RAW, 262144);
    if (!p) {
        if (error) *error = "pcap_open_dead failed";
        return nullptr;
    }
    bpf_program prog{};
    if (pcap_compile(p, &prog, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        if (error) *error = pcap_geterr(p);
        pcap_close(p);
        return nullptr;
    }
    pcap_close(p);
    std::unique_ptr<TapFilter> f(new TapFilter());
    f->expr_ = expr;
    f->len_ = prog.bf_len;
    auto* insns = new bpf_insn[prog.bf_len];
    std::memcpy(insns, prog.bf_insns, sizeof(bpf_insn) * prog.bf_len);
    f->insns_ = insns;
    pcap_freecode(&prog);
    return f;
}

TapFilter::~TapFilter() {
    delete[] static_cast<bpf_insn*>(insns_);
}

uint32_t TapFilter::run(std::span<const uint8_t> bytes, uint32_t wire_len) const noexcept {
    return bpf_filter(static_cast<const bpf_insn*>(insns_), bytes.data(), wire_len,
                      static_cast<u_int>(bytes.size()));
}

}  // namespace ingress::demux
