// Path MTU learned from ICMP "fragmentation needed": the kernel's next-hop exceptions
// (struct fib_nh_exception) as far as PMTU goes.
//
// Kernel-equivalent: net/ipv4/route.c __ip_rt_update_pmtu() and update_or_create_fnhe(),
// reached from ipv4_sk_update_pmtu() when __udp4_lib_err / raw_err found the socket that
// sent the quoted datagram (an error nobody sent records nothing, as in the kernel):
//   old = the destination's current MTU (a live exception's, else the route's: the port MTU,
//         IcmpConfig::mtu); a reported MTU above it changes nothing;
//   below net.ipv4.route.min_pmtu (552): the exception is locked at min(old, min_pmtu);
//   the same MTU again, unlocked, in the first half of its life: nothing (no refresh);
//   else the exception holds the MTU and expires net.ipv4.route.mtu_expires (600 s) later.
// An expired exception is as good as none (ipv4_mtu() ignores it).
//
// One cache per worker, written only by its worker (no locks: a fixed table, no allocation);
// the control thread reads it for `ingressctl pmtu` through a per-entry sequence count.
// Exceptions of different workers are merged by the reader (the newest wins), since the
// kernel has one per destination. 4-way sets: a new destination takes an expired way, else
// the one expiring first (fnhe_oldest()).
// Deliberately not done: a per-nexthop table (the kernel keys exceptions by nexthop and
// destination; one port MTU here), RTAX_LOCK'ed route MTUs (ip_mtu_locked), using the PMTU
// for the dataplane's own output (its replies are fragmented at the port MTU regardless, as
// the kernel's ICMP socket is IP_PMTUDISC_DONT).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "wire/ipv4.h"

namespace ingress::ipv4 {

struct PmtuConfig {
    uint32_t min_pmtu = 552;       // net.ipv4.route.min_pmtu (512 + 20 + 20)
    uint32_t mtu_expires_s = 600;  // net.ipv4.route.mtu_expires
    friend bool operator==(const PmtuConfig&, const PmtuConfig&) = default;
};

struct PmtuEntry {
    wire::Ipv4Addr daddr = 0;
    uint32_t mtu = 0;
    bool locked = false;      // fnhe_mtu_locked: set below min_pmtu
    uint64_t expires_ns = 0;  // on the worker's clock
    uint64_t updated_ns = 0;  // when it was last written (merging workers' tables)
};

class PmtuCache {
public:
    static constexpr std::size_t kSets = 256, kWays = 4;

    explicit PmtuCache(const PmtuConfig& cfg = {}) noexcept : cfg_(cfg) {}

    // __ip_rt_update_pmtu(): `mtu` reported for `daddr`, whose route MTU is `route_mtu`.
    // Returns the destination's MTU afterwards.
    uint32_t update(wire::Ipv4Addr daddr, uint32_t mtu, uint32_t route_mtu,
                    uint64_t now_ns) noexcept;
    // ipv4_mtu(): the live exception's MTU for `daddr`, 0 when none (or expired).
    uint32_t lookup(wire::Ipv4Addr daddr, uint64_t now_ns) const noexcept;
    // Any thread: the entries live at `now_ns`, appended to `out` (allocates: control path).
    void snapshot(uint64_t now_ns, std::vector<PmtuEntry>& out) const;
    const PmtuConfig& config() const noexcept { return cfg_; }
    // The knobs changed (ipv4/knobs.h): later updates read them; entries keep their expiry.
    void set_config(const PmtuConfig& cfg) noexcept { cfg_ = cfg; }

private:
    struct Slot {
        uint32_t seq = 0;  // odd while the worker writes it
        wire::Ipv4Addr daddr = 0;
        uint32_t mtu = 0;
        uint32_t locked = 0;
        uint64_t expires_ns = 0;  // 0: empty
        uint64_t updated_ns = 0;
    };
    static std::size_t set_of(wire::Ipv4Addr a) noexcept {
        return ((a * 0x9e3779b1u) >> 24) & (kSets - 1);
    }
    Slot* find(wire::Ipv4Addr daddr, uint64_t now_ns) noexcept;
    void write(Slot& s, const PmtuEntry& e) noexcept;

    PmtuConfig cfg_;
    std::array<Slot, kSets * kWays> slots_{};
};

// Merges per-worker snapshots into one entry per destination (the newest write wins),
// sorted by address.
std::vector<PmtuEntry> pmtu_merge(std::vector<PmtuEntry> all);

}  // namespace ingress::ipv4
