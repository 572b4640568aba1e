// The DPDK backend's version of the XDP program's `ingress_dst` and `ingress_prefix` maps:
// the IPv4 destinations the dataplane handles (the host's addresses, broadcasts, joined
// groups) and its local prefixes (AnyIP routes, lo's 127.0.0.0/8). A frame whose
// destination is not listed goes straight to the kernel, as XDP_PASS does in AF_XDP mode,
// so the pipeline sees the same frames, and counts the same, on both backends.
//
// One writer (the control thread), any number of readers (the workers), no lock. Addresses:
// a fixed open-addressing table of atomic slots with linear probing, like a BPF hash map; a
// reader racing with an update sees the old or the new membership of that one address;
// removed entries leave a tombstone that a later insert reuses; the table never grows, and
// insert fails (false) when every slot is used. Prefixes: a short array of atomic slots
// scanned, up to the highest slot ever used, only when the address table misses (a host has
// a handful of local prefixes: the scan is what an LPM lookup would cost at that size).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "wire/ipv4.h"

namespace ingress::io::dpdk {

class DstSet {
public:
    static constexpr std::size_t kSlots = 4096;  // INGRESS_XDP_MAX_DST

    static constexpr std::size_t kPrefixSlots = 256;  // INGRESS_XDP_MAX_PREFIX

    bool contains(wire::Ipv4Addr a) const noexcept {
        const uint64_t key = uint64_t{a} + 1;
        for (std::size_t i = 0, s = hash(a); i < kSlots; ++i, s = (s + 1) % kSlots) {
            // Acquire: nothing else is published through a slot, but it pairs with the
            // writer's release so a reader never sees a torn or reordered update.
            const uint64_t v = slots_[s].load(std::memory_order_acquire);
            if (v == key) return true;
            if (v == kEmpty) break;
        }
        // Acquire pairs with insert_prefix()'s release of prefix_end_: the slot below it
        // that was filled first is seen.
        const std::size_t end = prefix_end_.load(std::memory_order_acquire);
        for (std::size_t i = 0; i < end; ++i) {
            const uint64_t v = prefixes_[i].load(std::memory_order_acquire);
            if (v == kEmpty) continue;
            const auto len = static_cast<uint8_t>((v - 1) & 0x3f);
            if (((a ^ static_cast<wire::Ipv4Addr>((v - 1) >> 6)) & mask(len)) == 0) return true;
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

    // A prefix (`len` < 32; a /32 is an address: insert()). False when every slot is used.
    [[nodiscard]] bool insert_prefix(wire::Ipv4Addr a, uint8_t len) noexcept {
        const uint64_t key = prefix_key(a, len);
        const std::size_t end = prefix_end_.load(std::memory_order_relaxed);
        std::size_t free = kPrefixSlots;
        for (std::size_t i = 0; i < end; ++i) {
            const uint64_t v = prefixes_[i].load(std::memory_order_relaxed);
            if (v == key) return true;
            if (v == kEmpty && free == kPrefixSlots) free = i;
        }
        if (free == kPrefixSlots) {
            if (end == kPrefixSlots) return false;
            free = end;
        }
        prefixes_[free].store(key, std::memory_order_release);
        if (free == end) prefix_end_.store(end + 1, std::memory_order_release);
        return true;
    }
    void erase_prefix(wire::Ipv4Addr a, uint8_t len) noexcept {
        const uint64_t key = prefix_key(a, len);
        const std::size_t end = prefix_end_.load(std::memory_order_relaxed);
        for (std::size_t i = 0; i < end; ++i)
            if (prefixes_[i].load(std::memory_order_relaxed) == key)
                prefixes_[i].store(kEmpty, std::memory_order_release);
    }

private:
    static constexpr uint32_t mask(uint8_t len) noexcept {
        return len == 0 ? 0 : ~uint32_t{0} << (32 - len);
    }
    // The prefix's address (masked) above 6 bits of length, plus one: never kEmpty.
    static constexpr uint64_t prefix_key(wire::Ipv4Addr a, uint8_t len) noexcept {
        return ((uint64_t{a & mask(len)} << 6) | len) + 1;
    }
    static constexpr uint64_t kEmpty = 0;
    static constexpr uint64_t kTombstone = ~uint64_t{0};
    static std::size_t hash(wire::Ipv4Addr a) noexcept {
        return (a * 0x9e3779b1u) >> 20;
    }  // 12 bits
    std::array<std::atomic<uint64_t>, kSlots> slots_{};
    std::array<std::atomic<uint64_t>, kPrefixSlots> prefixes_{};
    std::atomic<std::size_t> prefix_end_{0};  // one past the highest prefix slot ever used
};

}  // namespace ingress::io::dpdk
