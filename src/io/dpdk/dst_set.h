// The DPDK backend's version of the XDP program's `ingress_dst` map: the IPv4 destinations
// the dataplane handles (our addresses, broadcasts, joined groups). A frame whose
// destination is not listed goes straight to the kernel, as XDP_PASS does in AF_XDP mode,
// so the pipeline sees the same frames, and counts the same, on both backends.
//
// One writer (the control thread), any number of readers (the workers), no lock: a fixed
// open-addressing table of atomic slots with linear probing, like a BPF hash map. A reader
// racing with an update sees the old or the new membership of that one address. Removed
// entries leave a tombstone that a later insert reuses; the table never grows, and insert
// fails (false) when every slot is used.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "wire/ipv4.h"

namespace ingress::io::dpdk {

class DstSet {
public:
    static constexpr std::size_t kSlots = 4096;  // INGRESS_XDP_MAX_DST

    bool contains(wire::Ipv4Addr a) const noexcept {
        const uint64_t key = uint64_t{a} + 1;
        for (std::size_t i = 0, s = hash(a); i < kSlots; ++i, s = (s + 1) % kSlots) {
            // Acquire: nothing else is published through a slot, but it pairs with the
            // writer's release so a reader never sees a torn or reordered update.
            const uint64_t v = slots_[s].load(std::memory_order_acquire);
            if (v == key) return true;
            if (v == kEmpty) return false;
        }
        return false;
    }

    // Writer side (one thread).
    [[nodiscard]] bool insert(wire::Ipv4Addr a) noexcept {
        const uint64_t key = uint64_t{a} + 1;
        std::size_t free = kSlots;
        for (std::size_t i = 0, s = hash(a); i < kSlots; ++i, s = (s + 1) % kSlots) {
            const uint64_t v = slots_[s].load(std::memory_order_relaxed);
            if (v == key) return true;
            if (v == kTombstone && free == kSlots) free = s;
            if (v == kEmpty) {
                if (free == kSlots) free = s;
                break;
            }
        }
        if (free == kSlots) return false;
        slots_[free].store(key, std::memory_order_release);
        return true;
    }
    void erase(wire::Ipv4Addr a) noexcept {
        const uint64_t key = uint64_t{a} + 1;
        for (std::size_t i = 0, s = hash(a); i < kSlots; ++i, s = (s + 1) % kSlots) {
            const uint64_t v = slots_[s].load(std::memory_order_relaxed);
            if (v == key) {
                slots_[s].store(kTombstone, std::memory_order_release);
                return;
            }
            if (v == kEmpty) return;
        }
    }

private:
    static constexpr uint64_t kEmpty = 0;
    static constexpr uint64_t kTombstone = ~uint64_t{0};
    static std::size_t hash(wire::Ipv4Addr a) noexcept {
        return (a * 0x9e3779b1u) >> 20;
    }  // 12 bits
    std::array<std::atomic<uint64_t>, kSlots> slots_{};
};

}  // namespace ingress::io::dpdk
