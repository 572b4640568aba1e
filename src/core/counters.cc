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

std::string_view mib_name(Mib m) noexcept { return kMibs[static_cast<std::size_t>(m)].nstat; }
std::string_view mib_group(Mib m) noexcept { return kMibs[static_cast<std::size_t>(m)].group; }
std::string_view mib_field(Mib m) noexcept { return kMibs[static_cast<std::size_t>(m)].field; }
std::string_view mib_help(Mib m) noexcept { return kMibs[static_cast<std::size_t>(m)].help; }
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

}  // namespace ingress::core
