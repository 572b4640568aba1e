// Bindings: the socket lookup users program, as Cloudflare's tubular programs BPF sk_lookup.
//
// Kernel-equivalent: a BPF_PROG_TYPE_SK_LOOKUP program attached to the netns (the step
// inet_lookup_run_sk_lookup() runs in __udp4_lib_lookup(), after a connected match and before
// the address-bound and wildcard ones) that looks the packet's (protocol, daddr, dport) up in
// a table of bindings, finds a label, and bpf_sk_assign()s the socket a SOCKMAP holds for that
// label; or returns SK_DROP for a `drop` binding. tubular's bindings are (protocol, prefix,
// port) -> label; ours also take a port range.
//
//   - The most specific binding wins: the longest prefix, then the narrowest port range
//     (on an exact tie, the binding added first).
//   - `drop`: SK_DROP, the lookup ends with no socket (-ECONNREFUSED: NoPorts and ICMP port
//     unreachable, as udp_rcv's no_sk path).
//   - A label with no live endpoint: SK_PASS with nothing assigned, the normal lookup goes on.
//   - A label with several endpoints: they are one reuseport group (members in registration
//     order, picked by the 4-tuple hash as reuseport_select_sock_by_hash()), which is what the
//     kernel does when a label's sockets are the members of one SO_REUSEPORT group and the
//     SOCKMAP holds one of them; `no_reuseport` (BPF_SK_LOOKUP_F_NO_REUSEPORT) assigns the
//     first one and skips the pick. A label with one endpoint in a SO_REUSEPORT group of its
//     own bind goes through that group, as inet_lookup_reuseport() does.
//   - UDP only (this table is for UDP; raw and packet endpoints never see it, as sk_lookup
//     runs only in the TCP and UDP lookups).
//
// Immutable once built, part of the EndpointTable snapshot (published by RCU with it): the
// match is a few hash probes (one per prefix length in use) with no allocation and no lock.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "demux/endpoint.h"
#include "wire/ipv4.h"

namespace ingress::demux {

// One binding as the control plane writes it.
struct Binding {
    wire::Ipv4Addr prefix = 0;  // masked to prefix_len when built
    uint8_t prefix_len = 0;     // 0..32
    uint16_t port_lo = 0;       // inclusive range; 0-65535 = every port
    uint16_t port_hi = 65535;
    bool drop = false;          // SK_DROP instead of a label
    bool no_reuseport = false;  // BPF_SK_LOOKUP_F_NO_REUSEPORT
    std::string label;          // empty when `drop`
};

class SkLookup {
public:
    // One compiled rule: a port range and what it leads to.
    struct Rule {
        uint16_t port_lo, port_hi;
        uint32_t label;    // index for members(), or kDrop
        uint32_t binding;  // index into the Builder's bindings (for traces and listings)
        bool no_reuseport;
    };
    static constexpr uint32_t kDrop = UINT32_MAX;

    class Builder {
    public:
        Builder& add(const Binding& b) {
            bindings_.push_back(b);
            return *this;
        }
        // `ep` registered under `label` (the SOCKMAP slot's socket); registration order is
        // the reuseport group's order.
        Builder& add_member(const std::string& label, UdpEndpoint& ep) {
            members_.push_back({label, &ep});
            return *this;
        }
        bool empty() const noexcept { return bindings_.empty(); }
        std::unique_ptr<const SkLookup> build() const;

    private:
        std::vector<Binding> bindings_;
        std::vector<std::pair<std::string, UdpEndpoint*>> members_;
    };

    // The most specific binding covering (daddr, dport), or nullptr.
    const Rule* match(wire::Ipv4Addr daddr, uint16_t dport) const noexcept;
    // The live endpoints of a label, in registration order.
    std::span<UdpEndpoint* const> members(uint32_t label) const noexcept {
        return {members_.data() + member_off_[label], member_off_[label + 1] - member_off_[label]};
    }
    std::size_t size() const noexcept { return rules_.size(); }

private:
    SkLookup() = default;

    struct Bucket {
        uint64_t key = 0;               // (1 << 40) | prefix_len << 32 | masked prefix; 0 = empty
        uint32_t first = 0, count = 0;  // rules_[first, first+count), narrowest range first
    };
    static uint64_t bucket_key(wire::Ipv4Addr masked, unsigned len) noexcept {
        return (uint64_t{1} << 40) | (uint64_t{len} << 32) | masked;
    }
    static wire::Ipv4Addr mask(unsigned len) noexcept {
        return len ? ~wire::Ipv4Addr{0} << (32 - len) : 0;
    }
    std::size_t bucket_index(uint64_t key) const noexcept {
        return static_cast<std::size_t>((key * 0x9e3779b97f4a7c15ull) >> shift_);
    }

    uint64_t lens_ = 0;            // bit L: some binding has prefix length L
    std::vector<Bucket> buckets_;  // open addressing, linear probing, power of two
    unsigned shift_ = 63;
    std::vector<Rule> rules_;
    std::vector<uint32_t> member_off_;  // per label: [off[l], off[l+1]) in members_
    std::vector<UdpEndpoint*> members_;
};

}  // namespace ingress::demux
