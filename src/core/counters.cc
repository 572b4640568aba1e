#include "core/counters.h"

namespace ingress::core {
namespace {

struct DropInfo {
    std::string_view name, help;
};
constexpr DropInfo kDrops[] = {
#define INGRESS_DROP(e, name, help) {#name, help},
#include "core/counters.def"
};
static_assert(std::size(kDrops) == kDropReasonCount);

struct MibInfo {
    std::string_view nstat, group, field, help;
};
constexpr MibInfo kMibs[] = {
#define INGRESS_MIB(group, name, help) {#group #name, #group, #name, help},
#include "core/counters.def"
};
static_assert(std::size(kMibs) == kMibCount);

}  // namespace

std::string_view drop_reason_name(DropReason r) noexcept {
    return kDrops[static_cast<std::size_t>(r)].name;
}
std::string_view drop_reason_help(DropReason r) noexcept {
    return kDrops[static_cast<std::size_t>(r)].help;
}
std::optional<DropReason> drop_reason_from_name(std::string_view name) noexcept {
    for (std::size_t i = 0; i < kDropReasonCount; ++i)
        if (kDrops[i].name == name) return static_cast<DropReason>(i);
    return std::nullopt;
}

std::string_view mib_name(Mib m) noexcept {
    return kMibs[static_cast<std::size_t>(m)].nstat;
}
std::string_view mib_group(Mib m) noexcept {
    return kMibs[static_cast<std::size_t>(m)].group;
}
std::string_view mib_field(Mib m) noexcept {
    return kMibs[static_cast<std::size_t>(m)].field;
}
std::string_view mib_help(Mib m) noexcept {
    return kMibs[static_cast<std::size_t>(m)].help;
}
std::optional<Mib> mib_from_name(std::string_view nstat_name) noexcept {
    for (std::size_t i = 0; i < kMibCount; ++i)
        if (kMibs[i].nstat == nstat_name) return static_cast<Mib>(i);
    return std::nullopt;
}

Snapshot CounterBlock::snapshot() const noexcept {
    Snapshot s;
    for (;;) {
        // Acquire: pairs with end_burst()'s release, so every counter store of the bursts
        // before this even sequence is visible below.
        uint64_t before = seq_.load(std::memory_order_acquire);
        if (before & 1) continue;  // a burst is in progress; the writer never waits on us
        s.rx = rx_.get();
        s.delivered = delivered_.get();
        s.held = held_.get();
        s.passed = passed_.get();
        for (std::size_t i = 0; i < kDropReasonCount; ++i) s.drops[i] = drops_[i].get();
        for (std::size_t i = 0; i < kMibCount; ++i) s.mib[i] = mib_[i].get();
        // Acquire fence: the counter loads above cannot move below the re-read of seq_; if
        // any of them saw a store of a later burst, the re-read sees that burst's odd seq.
        std::atomic_thread_fence(std::memory_order_acquire);
        if (seq_.load(std::memory_order_relaxed) == before) return s;
    }
}

uint64_t Snapshot::dropped_total() const noexcept {
    uint64_t t = 0;
    for (uint64_t d : drops) t += d;
    return t;
}

Snapshot& Snapshot::operator+=(const Snapshot& o) noexcept {
    rx += o.rx;
    delivered += o.delivered;
    held += o.held;
    passed += o.passed;
    for (std::size_t i = 0; i < kDropReasonCount; ++i) drops[i] += o.drops[i];
    for (std::size_t i = 0; i < kMibCount; ++i) mib[i] += o.mib[i];
    return *this;
}

std::array<uint64_t, kCounterSlots> counter_array(const Snapshot& s) noexcept {
    std::array<uint64_t, kCounterSlots> v{};
    v[0] = s.rx;
    v[1] = s.delivered;
    v[2] = s.held;
    v[3] = s.passed;
    for (std::size_t i = 0; i < kDropReasonCount; ++i) v[4 + i] = s.drops[i];
    for (std::size_t i = 0; i < kMibCount; ++i) v[4 + kDropReasonCount + i] = s.mib[i];
    return v;
}

std::optional<Snapshot> snapshot_from_array(const uint64_t* v, std::size_t n) noexcept {
    if (n != kCounterSlots) return std::nullopt;
    Snapshot s;
    s.rx = v[0];
    s.delivered = v[1];
    s.held = v[2];
    s.passed = v[3];
    for (std::size_t i = 0; i < kDropReasonCount; ++i) s.drops[i] = v[4 + i];
    for (std::size_t i = 0; i < kMibCount; ++i) s.mib[i] = v[4 + kDropReasonCount + i];
    return s;
}

uint32_t counter_table_hash() noexcept {
    uint32_t h = 2166136261u;
    auto mix = [&](std::string_view s) {
        for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
        h = (h ^ 0xffu) * 16777619u;  // separator: "AB","C" differs from "A","BC"
    };
    for (const DropInfo& d : kDrops) mix(d.name);
    for (const MibInfo& m : kMibs) mix(m.nstat);
    return h;
}

}  // namespace ingress::core
