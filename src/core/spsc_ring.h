// A single-producer / single-consumer ring of trivially copyable values (Packets), for
// in-process worker-to-worker handoff. Not for shared memory: it holds values of T, and
// the shared-memory app rings (offsets, versioned header) are a separate design.
//
// Naming follows DPDK's lib/ring: *_burst moves as many as fit / as are available;
// *_bulk moves all n or nothing. Every call is wait-free; a full ring is the caller's
// decision (counted drop), never a stall.
//
// Layout: the producer's index and its cached copy of the consumer's index share one cache
// line, the consumer's index and its cached producer index another, so in the common case
// neither side touches the other's line (the cached opposite index, as in
// rigtorp/SPSCQueue). Indices run freely (uint32_t, wrapping) and are masked on access.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>

namespace ingress::core {

template <class T>
class SpscRing {
    static_assert(std::is_trivially_copyable_v<T>, "slots are copied with plain stores");

public:
    // `capacity` is rounded up to a power of two. Allocates here, never afterwards.
    explicit SpscRing(uint32_t capacity)
        : mask_(round_up_pow2(capacity) - 1), slots_(new T[mask_ + 1]) {}
    SpscRing(const SpscRing&) = delete;
    SpscRing& operator=(const SpscRing&) = delete;

    uint32_t capacity() const noexcept { return mask_ + 1; }

    // Producer side. Enqueues up to n values; returns how many.
    [[nodiscard]] uint32_t try_enqueue_burst(const T* v, uint32_t n) noexcept {
        return enqueue(v, n, false);
    }
    // Enqueues all n values or none; returns n or 0.
    [[nodiscard]] uint32_t try_enqueue_bulk(const T* v, uint32_t n) noexcept {
        return enqueue(v, n, true);
    }
    [[nodiscard]] bool try_push(const T& v) noexcept { return enqueue(&v, 1, true) == 1; }

    // Consumer side. Dequeues up to n values into out; returns how many.
    [[nodiscard]] uint32_t try_dequeue_burst(T* out, uint32_t n) noexcept {
        return dequeue(out, n, false);
    }
    [[nodiscard]] uint32_t try_dequeue_bulk(T* out, uint32_t n) noexcept {
        return dequeue(out, n, true);
    }

    // Approximate from any thread; exact from the consumer when the producer is idle.
    uint32_t size() const noexcept {
        return prod_.head.load(std::memory_order_acquire) -
               cons_.tail.load(std::memory_order_acquire);
    }

private:
    static uint32_t round_up_pow2(uint32_t n) noexcept {
        uint32_t p = 1;
        while (p < n) p <<= 1;
        return p;
    }

    uint32_t enqueue(const T* v, uint32_t n, bool all) noexcept {
        // Only the producer writes head: relaxed read of our own index.
        const uint32_t head = prod_.head.load(std::memory_order_relaxed);
        uint32_t free = capacity() - (head - prod_.cached_tail);
        if (free < n) {
            // Acquire pairs with the consumer's release store of tail: the slots it freed
            // are no longer being read when we overwrite them.
            prod_.cached_tail = cons_.tail.load(std::memory_order_acquire);
            free = capacity() - (head - prod_.cached_tail);
        }
        if (free < n) {
            if (all) return 0;
            n = free;
        }
        for (uint32_t i = 0; i < n; ++i) slots_[(head + i) & mask_] = v[i];
        // Release: the slot stores above are visible to a consumer that acquires head.
        prod_.head.store(head + n, std::memory_order_release);
        return n;
    }

    uint32_t dequeue(T* out, uint32_t n, bool all) noexcept {
        // Only the consumer writes tail: relaxed read of our own index.
        const uint32_t tail = cons_.tail.load(std::memory_order_relaxed);
        uint32_t avail = cons_.cached_head - tail;
        if (avail < n) {
            // Acquire pairs with the producer's release store of head: the slots up to head
            // are fully written.
            cons_.cached_head = prod_.head.load(std::memory_order_acquire);
            avail = cons_.cached_head - tail;
        }
        if (avail < n) {
            if (all) return 0;
            n = avail;
        }
        for (uint32_t i = 0; i < n; ++i) out[i] = slots_[(tail + i) & mask_];
        // Release: our slot reads are complete before the producer may reuse the slots.
        cons_.tail.store(tail + n, std::memory_order_release);
        return n;
    }

    static constexpr std::size_t kLine = 64;
    struct alignas(kLine) Producer {
        std::atomic<uint32_t> head{0};
        uint32_t cached_tail = 0;  // producer's last view of cons_.tail
    };
    struct alignas(kLine) Consumer {
        std::atomic<uint32_t> tail{0};
        uint32_t cached_head = 0;  // consumer's last view of prod_.head
    };

    const uint32_t mask_;
    std::unique_ptr<T[]> slots_;
    Producer prod_;
    Consumer cons_;
};

}  // namespace ingress::core
