// Drop reasons, MIB counters and the per-worker counter block.
//
// Everything here is generated from counters.def, the one table. Counters are
// single-writer: only the owning worker writes its CounterBlock, any thread may read it.
// A reader that needs the conservation identity to hold exactly takes a Snapshot, which
// retries until it sees the block between two bursts (a sequence lock, see snapshot()).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ingress::core {

enum class DropReason : uint16_t {
#define INGRESS_DROP(e, name, help) e,
#include "core/counters.def"
};

enum class Mib : uint16_t {
#define INGRESS_MIB(group, name, help) k##group##name,
#include "core/counters.def"
};

inline constexpr std::size_t kDropReasonCount = 0
#define INGRESS_DROP(e, name, help) +1
#include "core/counters.def"
    ;

inline constexpr std::size_t kMibCount = 0
#define INGRESS_MIB(group, name, help) +1
#include "core/counters.def"
    ;

// "IP_CSUM" — the kernel's spelling, as `perf script` / dropwatch print it.
std::string_view drop_reason_name(DropReason r) noexcept;
std::string_view drop_reason_help(DropReason r) noexcept;
std::optional<DropReason> drop_reason_from_name(std::string_view name) noexcept;

// "IpExtInOctets" — nstat's spelling; group "IpExt", field "InOctets" as in /proc/net/netstat.
std::string_view mib_name(Mib m) noexcept;
std::string_view mib_group(Mib m) noexcept;
std::string_view mib_field(Mib m) noexcept;
std::string_view mib_help(Mib m) noexcept;
std::optional<Mib> mib_from_name(std::string_view nstat_name) noexcept;

// The four fates of a frame. Every frame that enters a worker (rx) ends in exactly one:
//   delivered  handed to at least one endpoint (a frame fanned out to three endpoints is
//              one delivered frame; per-endpoint counts live with the endpoints);
//   held       a fragment sitting in a reassembly queue (a gauge: when its datagram
//              completes or dies, each of its frames moves to delivered or to a drop);
//   passed     handed to the kernel (non-IP ethertypes, traffic we do not own);
//   dropped    discarded, counted under exactly one DropReason.
// Invariant, true between any two bursts: rx == delivered + held + passed + sum(dropped).
enum class Fate : uint8_t { kDelivered, kHeld, kPassed, kDropped };

// A single-writer counter: the owner adds with a plain load+store (no locked RMW); other
// threads read it with a relaxed load. Never written by two threads.
class Counter {
public:
    void add(uint64_t n = 1) noexcept {
        v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void sub(uint64_t n = 1) noexcept {
        v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
    }
    uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> v_{0};
};

struct Snapshot;

// One worker's counters. The worker brackets each burst with begin_burst()/end_burst();
// snapshot() from any thread returns a view in which the conservation identity holds.
class CounterBlock {
public:
    void begin_burst() noexcept {
        // Odd sequence: a burst is in progress. The release fence orders this store before
        // the counter stores that follow, so a reader that sees their new values also sees
        // the odd sequence when it re-reads seq_ (pairs with the acquire fence in snapshot()).
        seq_.store(seq_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_release);
    }
    void end_burst() noexcept {
        // Even sequence, published after every counter store of the burst (release).
        seq_.store(seq_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    }

    void mib(Mib m, uint64_t n = 1) noexcept { mib_[static_cast<std::size_t>(m)].add(n); }
    void rx(uint64_t n = 1) noexcept { rx_.add(n); }
    void delivered(uint64_t n = 1) noexcept { delivered_.add(n); }
    void held(uint64_t n = 1) noexcept { held_.add(n); }
    void passed(uint64_t n = 1) noexcept { passed_.add(n); }
    void dropped(DropReason r, uint64_t n = 1) noexcept {
        drops_[static_cast<std::size_t>(r)].add(n);
    }
    // Frames leaving the held gauge when their datagram completes or dies; the caller then
    // counts them under their final fate (delivered or dropped) in the same burst.
    void unheld(uint64_t n) noexcept { held_.sub(n); }
    // A fragment handed to the worker that owns its datagram leaves this worker's rx (its
    // fate is counted there); the receiving worker counts it in rx with handed_in(). Between
    // the two, the frame is in flight: IngressFragHandedOff - IngressFragHandedIn summed over
    // workers (docs/accounting.md).
    void handed_off(uint64_t n = 1) noexcept {
        rx_.sub(n);
        mib(Mib::kIngressFragHandedOff, n);
    }
    void handed_in(uint64_t n = 1) noexcept {
        rx_.add(n);
        mib(Mib::kIngressFragHandedIn, n);
    }
    // An answer the worker sent to one of its own addresses comes back in through lo
    // (ipv4/icmp_send.h, "Looped back"): a frame of its own that enters rx.
    void looped(uint64_t n = 1) noexcept {
        rx_.add(n);
        mib(Mib::kIngressLoopbackRx, n);
    }

    uint64_t mib_value(Mib m) const noexcept { return mib_[static_cast<std::size_t>(m)].get(); }
    uint64_t drop_value(DropReason r) const noexcept {
        return drops_[static_cast<std::size_t>(r)].get();
    }

    // Consistent copy (retries while a burst is in progress; the writer never waits).
    Snapshot snapshot() const noexcept;

private:
    std::atomic<uint64_t> seq_{0};
    Counter rx_, delivered_, held_, passed_;
    std::array<Counter, kDropReasonCount> drops_{};
    std::array<Counter, kMibCount> mib_{};
};

// Plain values; summable across workers.
struct Snapshot {
    uint64_t rx = 0, delivered = 0, held = 0, passed = 0;
    std::array<uint64_t, kDropReasonCount> drops{};
    std::array<uint64_t, kMibCount> mib{};

    uint64_t dropped_total() const noexcept;
    uint64_t mib_value(Mib m) const noexcept { return mib[static_cast<std::size_t>(m)]; }
    uint64_t drop_value(DropReason r) const noexcept { return drops[static_cast<std::size_t>(r)]; }
    // rx == delivered + held + passed + sum(drops)
    bool conserved() const noexcept { return rx == delivered + held + passed + dropped_total(); }
    Snapshot& operator+=(const Snapshot& o) noexcept;
};

// A snapshot as a flat array, for the control protocol (stats-query): rx, delivered, held,
// passed, then every drop reason and every MIB counter in counters.def order.
inline constexpr std::size_t kCounterSlots = 4 + kDropReasonCount + kMibCount;
std::array<uint64_t, kCounterSlots> counter_array(const Snapshot& s) noexcept;
// The inverse; nullopt unless `v` has exactly kCounterSlots values.
std::optional<Snapshot> snapshot_from_array(const uint64_t* v, std::size_t n) noexcept;
// FNV-1a over every drop reason and MIB name in table order: a reader built from another
// counters.def (a counter added, removed or moved) sees a different value and refuses the
// array instead of printing counters under the wrong names.
uint32_t counter_table_hash() noexcept;

}  // namespace ingress::core
