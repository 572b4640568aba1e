// The socket tables: which endpoints exist, organised for the receive-path lookups.
//
// Kernel-equivalent: udp_table's hash2 (address, port) slots and its reuseport groups
// (struct sock_reuseport), the BPF sk_lookup attachment of the netns, raw_v4_hashinfo, and
// the ptype_all / ptype_base lists with their packet-socket fanout groups.
//
// An EndpointTable is an immutable snapshot: the control plane builds it with a Builder
// (allocating freely), then publishes it; workers only read it, with no lock and no
// allocation per lookup. Snapshots reach the workers by RCU pointer swap
// (demux::EndpointPublisher): nothing in here is written after build(), except each
// endpoint's rings and the fanout round-robin cursor, which belong to the single worker that
// delivers to them. The
// endpoints themselves are owned by the control plane and must outlive every snapshot that
// names them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "demux/endpoint.h"
#include "demux/sk_lookup.h"

namespace ingress::demux {

// What the programmable lookup hook sees (struct bpf_sk_lookup: the 4-tuple + ifindex).
struct UdpLookupKey {
    wire::Ipv4Addr saddr = 0;
    uint16_t sport = 0;
    wire::Ipv4Addr daddr = 0;
    uint16_t dport = 0;
    uint32_t ifindex = 0;
};

// What it answers (bpf_sk_assign + the program's return code).
struct UdpLookupVerdict {
    enum class Action : uint8_t {
        kPass,  // SK_PASS: `selected` if set, else the normal lookup goes on
        kDrop,  // SK_DROP: the lookup ends with no endpoint (ECONNREFUSED -> NoPorts)
    };
    Action action = Action::kPass;
    UdpEndpoint* selected = nullptr;
    bool no_reuseport = false;  // BPF_SK_LOOKUP_F_NO_REUSEPORT
};

// The analogue of a BPF_PROG_TYPE_SK_LOOKUP program: a plain function pointer and its
// context, called only when installed (no virtual call, no std::function).
using UdpLookupHook = UdpLookupVerdict (*)(void* ctx, const UdpLookupKey& key) noexcept;

inline constexpr uint16_t kNoReuseGroup = UINT16_MAX;

// One UDP endpoint as the scoring loop reads it: everything compute_score() needs inline.
struct UdpEntry {
    wire::Ipv4Addr rcv_saddr;
    wire::Ipv4Addr daddr;
    uint32_t bound_dev_if;
    uint16_t dport;
    uint16_t reuse_group;  // kNoReuseGroup, or an index for reuse_members()
    bool connected;
    UdpEndpoint* ep;
};

struct TapGroup {
    uint16_t protocol;  // ETH_P_ALL or an ethertype
    uint32_t ifindex;   // 0 = every interface
    FanoutMode mode;    // kNone: one member
    uint32_t first, count;
    bool ignore_outgoing;  // the prot_hook's ignore_outgoing (PACKET_IGNORE_OUTGOING)
    // PACKET_FANOUT_LB cursor (f->rr_cur). Every worker delivering to the group advances it
    // (relaxed atomic increment, as fanout_rr_next's atomic in the kernel).
    mutable uint32_t rr_cur = 0;
};

class EndpointTable {
public:
    class Builder {
    public:
        Builder& add(UdpEndpoint& ep) {
            udp_.push_back(&ep);
            return *this;
        }
        Builder& add(RawEndpoint& ep) {
            raw_.push_back(&ep);
            return *this;
        }
        Builder& add(TapEndpoint& ep) {
            taps_.push_back(&ep);
            return *this;
        }
        // The sk_lookup hook: the first program of the netns's array (the bindings below run
        // after it; BPF_PROG_SK_LOOKUP_RUN_ARRAY rules: the last assignment wins).
        Builder& set_udp_lookup_hook(UdpLookupHook fn, void* ctx) {
            hook_ = fn;
            hook_ctx_ = ctx;
            return *this;
        }
        // Bindings (demux/sk_lookup.h): the sk_lookup program users configure. Run after
        // the hook above, as a second program of the netns's array.
        Builder& add_binding(const Binding& b) {
            bindings_.add(b);
            return *this;
        }
        // `ep` registered under `label`; only endpoints also add()ed are live.
        Builder& add_label_member(const std::string& label, UdpEndpoint& ep) {
            label_members_.emplace_back(label, &ep);
            return *this;
        }
        // udp_ehash_secret / the fanout hash seed: random at boot in the kernel; injected.
        Builder& set_hash_seed(uint32_t seed) {
            seed_ = seed;
            return *this;
        }
        std::unique_ptr<const EndpointTable> build() const;

    private:
        std::vector<UdpEndpoint*> udp_;
        std::vector<RawEndpoint*> raw_;
        std::vector<TapEndpoint*> taps_;
        UdpLookupHook hook_ = nullptr;
        void* hook_ctx_ = nullptr;
        SkLookup::Builder bindings_;
        std::vector<std::pair<std::string, UdpEndpoint*>> label_members_;
        uint32_t seed_ = 0;
    };

    // The hash2 slot of (addr, port): every endpoint bound to exactly that pair, most
    // recently added first (hlist_add_head_rcu). Empty span when there is none.
    std::span<const UdpEntry> udp_slot(wire::Ipv4Addr addr, uint16_t port) const noexcept;
    // Where udp_slot(addr, port) starts probing, as a hint to the cache (udp_prefetch).
    void prefetch_udp_slot(wire::Ipv4Addr addr, uint16_t port) const noexcept {
        __builtin_prefetch(&slots_[slot_index(slot_key(addr, port))]);
    }
    // Members of a reuseport group in join order (sock_reuseport.socks[]).
    std::span<UdpEndpoint* const> reuse_members(uint16_t group) const noexcept {
        const ReuseGroup& g = reuse_groups_[group];
        return {reuse_members_.data() + g.first, g.count};
    }
    // reuseport_has_conns(): some member is connected, so scoring continues.
    bool reuse_has_conns(uint16_t group) const noexcept { return reuse_groups_[group].has_conns; }
    UdpLookupHook udp_lookup_hook() const noexcept { return hook_; }
    void* udp_lookup_hook_ctx() const noexcept { return hook_ctx_; }
    // The bindings, or nullptr when there are none.
    const SkLookup* sk_lookup() const noexcept { return sk_lookup_.get(); }
    // Whether any sk_lookup program runs (the hook or bindings): the one branch the lookup
    // pays when there are none, as the kernel's bpf_sk_lookup_enabled static branch.
    bool has_sk_lookup() const noexcept { return has_sk_lookup_; }
    uint32_t hash_seed() const noexcept { return seed_; }

    // Raw endpoints of one IP protocol, in add order.
    std::span<RawEndpoint* const> raw(uint8_t protocol) const noexcept {
        return {raw_.data() + raw_off_[protocol], raw_off_[protocol + 1u] - raw_off_[protocol]};
    }
    bool has_raw() const noexcept { return !raw_.empty(); }

    // Tap groups (a tap outside any fanout group is a group of one), in add order.
    std::span<const TapGroup> tap_groups() const noexcept { return tap_groups_; }
    std::span<TapEndpoint* const> tap_members(const TapGroup& g) const noexcept {
        return {tap_members_.data() + g.first, g.count};
    }
    bool has_taps() const noexcept { return !tap_groups_.empty(); }

    std::size_t udp_count() const noexcept { return udp_entries_.size(); }

private:
    EndpointTable() = default;

    struct Slot {
        uint64_t key = 0;  // (1 << 48) | addr << 16 | port; 0 = empty
        uint32_t first = 0, count = 0;
    };
    struct ReuseGroup {
        uint32_t first, count;
        bool has_conns;
    };
    static uint64_t slot_key(wire::Ipv4Addr addr, uint16_t port) noexcept {
        return (uint64_t{1} << 48) | (uint64_t{addr} << 16) | port;
    }
    std::size_t slot_index(uint64_t key) const noexcept {
        return static_cast<std::size_t>((key * 0x9e3779b97f4a7c15ull) >> shift_);
    }

    std::vector<UdpEntry> udp_entries_;
    std::vector<Slot> slots_;  // open addressing, linear probing, power of two
    unsigned shift_ = 63;
    std::vector<ReuseGroup> reuse_groups_;
    std::vector<UdpEndpoint*> reuse_members_;
    UdpLookupHook hook_ = nullptr;
    void* hook_ctx_ = nullptr;
    std::unique_ptr<const SkLookup> sk_lookup_;
    bool has_sk_lookup_ = false;
    uint32_t seed_ = 0;

    std::vector<RawEndpoint*> raw_;  // sorted by protocol
    std::vector<uint32_t> raw_off_ = std::vector<uint32_t>(257, 0);

    std::vector<TapGroup> tap_groups_;
    std::vector<TapEndpoint*> tap_members_;
};

}  // namespace ingress::demux
