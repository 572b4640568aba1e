#include "shm/ring.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "shm/region.h"

namespace ingress::shm {
namespace {

constexpr RingGeometry kSmall{8, 128};  // 8 slots of 56 payload bytes (the record is 72)

struct Ring {
    explicit Ring(RingGeometry g = kSmall) : region(Region::create("ring-test", g.region_size())) {
        ring_init(region.data(), g, 7, 0);
        prod = RingProducer(region.data(), g);
        cons = RingConsumer(region.data());
    }
    Region region;
    RingProducer prod;
    RingConsumer cons;
};

SlotMeta meta_with(uint32_t src) {
    SlotMeta m{};
    m.src_addr = src;
    return m;
}

std::vector<uint8_t> bytes(std::size_t n, uint8_t seed) {
    std::vector<uint8_t> b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i);
    return b;
}

TEST(RingLayout, HeaderIsCheckedBeforeUse) {
    Ring r;
    EXPECT_EQ(ring_check(r.region.data(), r.region.size()), RingCheck::kOk);
    EXPECT_EQ(ring_check(r.region.data(), 100), RingCheck::kTooSmall);
    EXPECT_EQ(ring_check(r.region.data(), kSmall.region_size() - 1), RingCheck::kTooSmall);
    auto* h = static_cast<RingHeader*>(r.region.data());
    h->version = kRingVersion + 1;
    EXPECT_EQ(ring_check(r.region.data(), r.region.size()), RingCheck::kBadVersion);
    h->version = kRingVersion;
    h->slot_count = 6;
    EXPECT_EQ(ring_check(r.region.data(), r.region.size()), RingCheck::kBadGeometry);
    h->magic = 0;
    EXPECT_EQ(ring_check(r.region.data(), r.region.size()), RingCheck::kBadMagic);
    EXPECT_STREQ(ring_check_str(RingCheck::kBadVersion),
                 "ring layout version not supported by this client");
}

TEST(RingLayout, RecordSizeIsInTheHeaderAndALongerRecordIsSkipped) {
    // A newer daemon may append fields to the record (meta_size grows, the version does
    // not): this client still finds the payload after it and reads the fields it knows.
    Ring r({8, 256});
    auto* h = static_cast<RingHeader*>(r.region.data());
    EXPECT_EQ(h->meta_size, sizeof(SlotMeta));
    h->meta_size = 128;
    ASSERT_EQ(ring_check(r.region.data(), r.region.size()), RingCheck::kOk);
    uint32_t idx;
    ASSERT_EQ(r.prod.reserve_burst(1, &idx), 1u);
    SlotMeta& m = r.prod.meta(idx);
    m = meta_with(42);
    m.len = 300;  // more than the slot holds after a 128-byte record: bounded, not trusted
    auto* slot = reinterpret_cast<uint8_t*>(&m);
    slot[64] = 0xaa;   // a field this client does not know
    slot[128] = 0x55;  // the payload
    r.prod.submit(1);
    RingConsumer newer(r.region.data());
    ASSERT_EQ(newer.peek(1, &idx), 1u);
    EXPECT_EQ(newer.meta(idx).src_addr, 42u);
    auto p = newer.payload(idx);
    EXPECT_EQ(p.data(), slot + 128);
    EXPECT_EQ(p.size(), 256u - 128u);
    EXPECT_EQ(p[0], 0x55);
    // A record shorter than the one this client knows, misaligned, or filling the slot.
    for (uint32_t bad : {32u, 60u, 72u + 4u, 256u}) {
        h->meta_size = bad;
        EXPECT_EQ(ring_check(r.region.data(), r.region.size()), RingCheck::kBadGeometry) << bad;
    }
}

TEST(Ring, EmptyThenFullThenEmpty) {
    Ring r;
    uint32_t idx;
    EXPECT_EQ(r.cons.peek(1, &idx), 0u);
    for (uint32_t i = 0; i < 8; ++i) ASSERT_TRUE(r.prod.try_push(meta_with(i), bytes(10, 1)));
    EXPECT_FALSE(r.prod.try_push(meta_with(99), bytes(10, 1))) << "ninth push into 8 slots";
    auto* h = r.prod.header();
    EXPECT_EQ(h->delivered.load(), 8u);
    EXPECT_EQ(h->dropped_full.load(), 1u);
    ASSERT_EQ(r.cons.peek(16, &idx), 8u);
    for (uint32_t i = 0; i < 8; ++i) EXPECT_EQ(r.cons.meta(idx + i).src_addr, i);
    r.cons.release(8);
    EXPECT_EQ(r.cons.peek(1, &idx), 0u);
}

TEST(Ring, WrapsAroundManyTimesInOrder) {
    Ring r;
    uint32_t next_in = 0, next_out = 0;
    for (int round = 0; round < 1000; ++round) {
        uint32_t n = 1 + round % 5;
        for (uint32_t i = 0; i < n; ++i)
            if (r.prod.try_push(meta_with(next_in), bytes(4, static_cast<uint8_t>(next_in))))
                ++next_in;
        uint32_t idx;
        uint32_t got = r.cons.peek(3, &idx);
        for (uint32_t i = 0; i < got; ++i) {
            ASSERT_EQ(r.cons.meta(idx + i).src_addr, next_out);
            ASSERT_EQ(r.cons.payload(idx + i)[0], static_cast<uint8_t>(next_out));
            ++next_out;
        }
        r.cons.release(got);
    }
    EXPECT_GT(next_out, 2000u);
}

TEST(Ring, IndicesWrapPast32Bits) {
    Ring r;
    auto* h = static_cast<RingHeader*>(r.region.data());
    h->prod.store(UINT32_MAX - 2);
    h->cons.store(UINT32_MAX - 2);
    RingProducer p(r.region.data(), kSmall);
    RingConsumer c(r.region.data());
    for (uint32_t i = 0; i < 8; ++i) ASSERT_TRUE(p.try_push(meta_with(i), bytes(1, 0)));
    uint32_t idx;
    ASSERT_EQ(c.peek(8, &idx), 8u);
    for (uint32_t i = 0; i < 8; ++i) EXPECT_EQ(c.meta(idx + i).src_addr, i);
    c.release(8);
    EXPECT_EQ(h->cons.load(), 5u);
}

TEST(Ring, BulkIsAllOrNothingBurstTakesWhatFits) {
    Ring r;
    uint32_t idx;
    EXPECT_EQ(r.prod.reserve_bulk(6, &idx), 6u);
    r.prod.submit(6);
    EXPECT_EQ(r.prod.reserve_bulk(3, &idx), 0u) << "only 2 free";
    EXPECT_EQ(r.prod.reserve_burst(3, &idx), 2u);
    r.prod.submit(2);
    EXPECT_EQ(r.prod.reserve_burst(1, &idx), 0u);
}

TEST(Ring, OversizeDatagramTruncatedLikeMsgTrunc) {
    Ring r;
    auto big = bytes(100, 3);  // 56 payload bytes per slot
    ASSERT_TRUE(r.prod.try_push(meta_with(1), big));
    uint32_t idx;
    ASSERT_EQ(r.cons.peek(1, &idx), 1u);
    const SlotMeta& m = r.cons.meta(idx);
    EXPECT_EQ(m.len, 56u);
    EXPECT_EQ(m.orig_len, 100u);
    EXPECT_TRUE(m.flags & INGRESS_F_TRUNCATED);
    auto p = r.cons.payload(idx);
    EXPECT_EQ(std::vector<uint8_t>(p.begin(), p.end()),
              std::vector<uint8_t>(big.begin(), big.begin() + 56));
    EXPECT_EQ(r.prod.header()->truncated.load(), 1u);
}

// A hostile app writes garbage into the only field it owns: the worker must neither
// overwrite unreleased slots nor crash; it just sees a full ring and counts drops.
TEST(Ring, HostileConsumerIndexTreatedAsFull) {
    Ring r;
    ASSERT_TRUE(r.prod.try_push(meta_with(1), bytes(1, 0)));
    auto* h = static_cast<RingHeader*>(r.region.data());
    for (uint32_t bogus : {100u, 0xfffffff0u, 2u}) {
        h->cons.store(bogus);  // ahead of prod (1), or far behind it
        RingProducer p(r.region.data(), kSmall);
        // Reconstructed from the shared prod, which the app cannot move backwards usefully.
        for (int i = 0; i < 20; ++i) (void)p.try_push(meta_with(2), bytes(1, 0));
        EXPECT_GE(h->dropped_full.load(), 20u) << "cons=" << bogus;
        h->dropped_full.store(0);
        h->cons.store(0);
        h->prod.store(1);
    }
}

// The header's counters are the app's copies: an app that writes them (to hide its drops,
// or to inflate what it was sent) changes neither what the daemon reports (the producer's
// own counts, which ingressctl endpoints shows) nor SO_RXQ_OVFL in its next record, and the
// next count overwrites what it wrote.
TEST(Ring, TheDaemonCountsWhatTheAppCannotWrite) {
    Ring r;
    for (int i = 0; i < 10; ++i) (void)r.prod.try_push(meta_with(1), bytes(100, 0));
    EXPECT_EQ(r.prod.delivered(), 8u);
    EXPECT_EQ(r.prod.dropped(), 2u);
    EXPECT_EQ(r.prod.truncated(), 8u);
    auto* h = static_cast<RingHeader*>(r.region.data());
    h->delivered.store(1'000'000);
    h->dropped_full.store(0);
    h->truncated.store(0);
    EXPECT_EQ(r.prod.delivered(), 8u);
    EXPECT_EQ(r.prod.dropped(), 2u);
    EXPECT_EQ(r.prod.truncated(), 8u);
    uint32_t idx;
    ASSERT_EQ(r.cons.peek(8, &idx), 8u);
    r.cons.release(8);
    ASSERT_TRUE(r.prod.try_push(meta_with(2), bytes(1, 0)));
    EXPECT_EQ(h->delivered.load(), 9u) << "the next count overwrites the app's value";
    ASSERT_EQ(r.cons.peek(1, &idx), 1u);
    EXPECT_EQ(r.cons.meta(idx).drops, 2u) << "SO_RXQ_OVFL from the daemon's count";
}

// SO_MEMINFO's rmem_alloc for the app: from the header's running total and the oldest unread
// slot's rmem_before, equal to the daemon's own accounting at every step, across the wrap of
// the ring and of the 32-bit total.
TEST(Ring, AppReadsQueuedBytesFromTheHeaderAsTheDaemonCountsThem) {
    Ring r;
    const auto none = [](SlotMeta&) noexcept {};
    EXPECT_EQ(r.cons.rmem(), 0u);
    uint32_t charged = 0;
    for (int round = 0; round < 5; ++round) {
        for (uint32_t c : {832u, 1280u, 2304u}) {
            ASSERT_TRUE(r.prod.try_push_with(none, bytes(4, 0), {}, c));
            charged += c;
        }
        EXPECT_EQ(r.cons.rmem(), charged);
        EXPECT_EQ(r.cons.rmem(), r.prod.rmem());
        uint32_t idx;
        ASSERT_EQ(r.cons.peek(2, &idx), 2u);
        EXPECT_EQ(r.cons.rmem(1), charged - 832) << "one handed out: no longer queued";
        r.cons.release(2);
        charged -= 832 + 1280;
        EXPECT_EQ(r.cons.rmem(), 2304u);
        EXPECT_EQ(r.cons.rmem(), r.prod.rmem());
        ASSERT_EQ(r.cons.peek(1, &idx), 1u);
        r.cons.release(1);
        charged = 0;
        EXPECT_EQ(r.cons.rmem(), 0u);
    }
    // A running total past 2^32.
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(r.prod.try_push_with(none, {}, {}, 0x7fffffffu));
    EXPECT_EQ(r.cons.rmem(2), 0xfffffffeu);
    EXPECT_EQ(r.cons.rmem(3), 0x7fffffffu);
}

TEST(Ring, SleepProtocolNeverMissesAWakeup) {
    Ring r;
    Doorbell bell = Doorbell::create();
    Doorbell app(::dup(bell.app_fd()));  // what SCM_RIGHTS gives the app
    // Consumer announces sleep on an empty ring.
    ASSERT_TRUE(r.cons.prepare_sleep());
    ASSERT_TRUE(r.prod.try_push(meta_with(1), bytes(1, 0)));
    ASSERT_TRUE(r.prod.take_wakeup()) << "producer must see the sleeper";
    bell.ring();
    r.prod.count_wakeup();
    EXPECT_TRUE(app.wait(1000));
    EXPECT_FALSE(r.prod.take_wakeup()) << "flag cleared after one wakeup";
    // Data already waiting: prepare_sleep refuses and clears the flag.
    EXPECT_FALSE(r.cons.prepare_sleep());
    EXPECT_FALSE(r.prod.take_wakeup());
    EXPECT_EQ(r.prod.header()->wakeups.load(), 1u);
}

// Producer and consumer in two processes over the same memfd, every message checked.
TEST(RingStress, CrossProcessEveryMessageIntact) {
    constexpr RingGeometry g{256, 256};
    constexpr uint32_t kMessages = 300000;
    Region region = Region::create("ring-stress", g.region_size());
    ring_init(region.data(), g, 1, 0);
    Doorbell bell = Doorbell::create();
    Doorbell app(::dup(bell.app_fd()));
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // The producer: busy while the ring has room; wakes the consumer when asked.
        RingProducer p(region.data(), g);
        for (uint32_t i = 0; i < kMessages;) {
            SlotMeta m{};
            m.src_addr = i;
            uint8_t payload[192];
            uint32_t len = 1 + (i * 7) % 184;  // up to max_payload: 256 - 72
            for (uint32_t k = 0; k < len; ++k) payload[k] = static_cast<uint8_t>(i ^ k);
            m.dst_addr = len;
            uint32_t idx;
            if (p.reserve_burst(1, &idx)) {
                p.meta(idx) = m;
                p.meta(idx).len = len;
                std::memcpy(p.payload(idx), payload, len);
                p.submit(1);
                ++i;
            }
            if (p.take_wakeup()) bell.ring();
        }
        if (p.take_wakeup()) bell.ring();
        _exit(0);
    }
    RingConsumer c(region.data());
    uint32_t expect = 0, bad = 0, sleeps = 0;
    while (expect < kMessages) {
        uint32_t idx;
        uint32_t n = c.peek(32, &idx);
        if (n == 0) {
            if (c.prepare_sleep()) {
                ++sleeps;
                app.wait(100);
                c.cancel_sleep();
            }
            continue;
        }
        for (uint32_t k = 0; k < n; ++k) {
            const SlotMeta& m = c.meta(idx + k);
            auto p = c.payload(idx + k);
            bool ok = m.src_addr == expect && m.len == m.dst_addr && p.size() == m.len;
            for (uint32_t j = 0; ok && j < p.size(); ++j)
                ok = p[j] == static_cast<uint8_t>(expect ^ j);
            bad += !ok;
            ++expect;
        }
        c.release(n);
    }
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_EQ(bad, 0u);
    EXPECT_EQ(expect, kMessages);
    RecordProperty("sleeps", static_cast<int>(sleeps));
}

// --- Active slots: the ring's memory follows the endpoint's budget --------------------------

// Page-sized slots: a small datagram written into slot i touches page i of the region only
// (the 256-byte header pushes each slot's start 256 bytes into page i).
constexpr RingGeometry kPaged{16, 4096};

// Which of the region's pages are allocated: a memfd page exists once written (mincore()
// reports it resident; nothing here is swapped).
std::vector<bool> resident_pages(const Region& r) {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    std::vector<unsigned char> v((r.size() + page - 1) / page);
    EXPECT_EQ(mincore(r.data(), r.size(), v.data()), 0);
    std::vector<bool> out;
    for (unsigned char c : v) out.push_back(c & 1);
    return out;
}

struct ActiveRing {
    explicit ActiveRing(uint32_t active, RingGeometry g = kPaged)
        : region(Region::create("ring-active-test", g.region_size())) {
        ring_init(region.data(), g, 7, 0);
        prod = RingProducer(region.data(), g, active);
        cons = RingConsumer(region.data());
    }
    // One datagram whose payload is its sequence number.
    bool push(uint32_t seq) {
        const auto b = bytes(4, static_cast<uint8_t>(seq));
        return prod.try_push(meta_with(seq), b);
    }
    // Reads up to n datagrams, checking they come in sequence from *next.
    uint32_t read(uint32_t n, uint32_t* next) {
        uint32_t idx, got = 0;
        while (got < n) {
            const uint32_t k = cons.peek(n - got, &idx);
            if (k == 0) break;
            for (uint32_t i = 0; i < k; ++i) {
                EXPECT_EQ(cons.meta(idx + i).src_addr, *next);
                EXPECT_EQ(cons.payload(idx + i)[0], static_cast<uint8_t>(*next));
                ++*next;
            }
            cons.release(k);
            got += k;
        }
        return got;
    }
    // Pushes datagrams from..from+slots-1 into an empty ring (all fit, the next is refused:
    // full at `slots`), then reads them back in order from the slots they went to.
    void fill_and_read(uint32_t from, uint32_t slots) {
        for (uint32_t i = from; i < from + slots; ++i) ASSERT_TRUE(push(i)) << i;
        EXPECT_FALSE(push(from + slots)) << "full at " << slots;
        uint32_t next = from;
        EXPECT_EQ(read(slots + 1, &next), slots);
        EXPECT_EQ(next, from + slots);
    }
    const RingHeader& header() const { return *static_cast<const RingHeader*>(region.data()); }
    Region region;
    RingProducer prod;
    RingConsumer cons;
};

TEST(RingActive, WrapsOverTheActiveSlotsOnlyAndNeverTouchesTheRest) {
    // An endpoint whose budget holds 4 datagrams: 1000 of them, read as they come, are
    // written over slots 0..3 only, and the pages of slots 4..15 are never allocated.
    ActiveRing r(4);
    EXPECT_EQ(r.prod.active_slots(), 4u);
    EXPECT_EQ(r.header().slot_mask.load(), 3u);
    EXPECT_EQ(r.header().slot_count, 16u) << "the region keeps its size";
    uint32_t next = 0;
    for (uint32_t i = 0; i < 1000; ++i) {
        ASSERT_TRUE(r.push(i));
        if (i % 3 == 2) {
            ASSERT_EQ(r.read(3, &next), 3u);
        }
    }
    r.read(4, &next);
    EXPECT_EQ(next, 1000u);
    const std::vector<bool> pages = resident_pages(r.region);
    ASSERT_EQ(pages.size(), 17u);
    for (std::size_t p = 0; p < pages.size(); ++p)
        EXPECT_EQ(pages[p], p < 4) << "page " << p << " (slot " << p << ")";
    // Full at 4, not 16: the fifth unread datagram is a drop.
    for (uint32_t i = 0; i < 4; ++i) EXPECT_TRUE(r.push(1000 + i));
    EXPECT_FALSE(r.push(1004));
    EXPECT_EQ(r.prod.dropped(), 1u);
    EXPECT_EQ(r.header().dropped_full.load(), 1u);
}

TEST(RingActive, GrowsAtOnceWhenEmptyAndTheConsumerFollows) {
    ActiveRing r(4);
    uint32_t next = 0;
    for (uint32_t i = 0; i < 4; ++i) ASSERT_TRUE(r.push(i));
    EXPECT_FALSE(r.push(4)) << "full at 4";
    EXPECT_EQ(r.read(6, &next), 4u);
    EXPECT_TRUE(r.prod.try_grow(16)) << "empty: grows";
    EXPECT_EQ(r.prod.active_slots(), 16u);
    EXPECT_EQ(r.header().slot_mask.load(), 15u);
    r.fill_and_read(6, 16);
    EXPECT_EQ(r.cons.active_slots(), 16u);
}

TEST(RingActive, NeverGrowsWhileAQueuedSlotWouldMove) {
    ActiveRing r(4);
    uint32_t next = 0;
    for (uint32_t i = 0; i < 3; ++i) ASSERT_TRUE(r.push(i));
    ASSERT_EQ(r.read(2, &next), 2u);
    for (uint32_t i = 3; i < 6; ++i) ASSERT_TRUE(r.push(i));
    // Queued: indices 2..5, at slots 2,3,0,1; with 16 slots 4 and 5 would be at slots 4, 5.
    EXPECT_FALSE(r.prod.try_grow(16));
    EXPECT_EQ(r.prod.active_slots(), 4u);
    EXPECT_EQ(r.header().slot_mask.load(), 3u);
    EXPECT_FALSE(r.push(6)) << "still full at 4";
    ASSERT_EQ(r.read(4, &next), 4u);
    EXPECT_EQ(next, 6u) << "read from where they were written";
    EXPECT_TRUE(r.prod.try_grow(16)) << "drained: grows";
    r.fill_and_read(6, 16);
}

TEST(RingActive, GrowsWithSlotsQueuedWhereBothMasksPlaceThemAlike) {
    // Indices 16..18 sit at slots 0..2 with 4 slots and with 16: they stay put, so the grow
    // need not wait; the consumer, which peeked them under the old mask, reads them and then
    // what came after under the new one.
    ActiveRing r(4);
    uint32_t next = 0;
    for (uint32_t i = 0; i < 16; ++i) {
        ASSERT_TRUE(r.push(i));
        ASSERT_EQ(r.read(1, &next), 1u);
    }
    for (uint32_t i = 16; i < 19; ++i) ASSERT_TRUE(r.push(i));
    uint32_t idx;
    ASSERT_EQ(r.cons.peek(1, &idx), 1u);
    EXPECT_EQ(r.cons.active_slots(), 4u);
    EXPECT_TRUE(r.prod.try_grow(16));
    for (uint32_t i = 19; i < 32; ++i) ASSERT_TRUE(r.push(i)) << i;
    EXPECT_FALSE(r.push(32)) << "16 queued";
    EXPECT_EQ(r.read(16, &next), 16u);
    EXPECT_EQ(next, 32u);
    EXPECT_EQ(r.cons.active_slots(), 16u);
}

TEST(RingActive, NeverShrinksAndIgnoresAConsumerIndexTheAppMadeUp) {
    ActiveRing r(8);
    EXPECT_TRUE(r.prod.try_grow(2)) << "already as large";
    EXPECT_EQ(r.prod.active_slots(), 8u);
    EXPECT_TRUE(r.prod.try_grow(1000)) << "capped at slot_count";
    EXPECT_EQ(r.prod.active_slots(), 16u);
    ActiveRing h(4);
    ASSERT_TRUE(h.push(0));
    auto& hdr = *static_cast<RingHeader*>(h.region.data());
    hdr.cons.store(100, std::memory_order_release);  // ahead of prod
    EXPECT_FALSE(h.prod.try_grow(16));
    EXPECT_EQ(h.prod.active_slots(), 4u);
    hdr.cons.store(1, std::memory_order_release);
    EXPECT_TRUE(h.prod.try_grow(16));
}

TEST(RingActive, AConsumerBoundsTheMaskItIsGiven) {
    // The app trusts the daemon, but no mask makes it read outside the region.
    ActiveRing r(4);
    ASSERT_TRUE(r.push(0));
    auto& hdr = *static_cast<RingHeader*>(r.region.data());
    hdr.slot_mask.store(0xffffffff, std::memory_order_relaxed);
    uint32_t idx;
    ASSERT_EQ(r.cons.peek(1, &idx), 1u);
    EXPECT_EQ(r.cons.active_slots(), 16u);
}

TEST(RingActiveStress, ProducerAndConsumerAgreeAcrossGrows) {
    // The producer grows 2 -> 4 -> ... -> 1024 whenever its ring allows it, the consumer
    // reads on another thread: every datagram arrives once, in order, intact.
    constexpr RingGeometry g{1024, 128};
    ActiveRing r(2, g);
    constexpr uint32_t kMessages = 300000;
    std::thread consumer([&r] {
        uint32_t next = 0, idx;
        while (next < kMessages) {
            const uint32_t n = r.cons.peek(64, &idx);
            for (uint32_t i = 0; i < n; ++i, ++next) {
                const auto p = r.cons.payload(idx + i);
                if (r.cons.meta(idx + i).src_addr != next || p.size() != 4 ||
                    p[0] != static_cast<uint8_t>(next) || p[3] != static_cast<uint8_t>(next + 3)) {
                    ADD_FAILURE() << "datagram " << next << " misplaced";
                    return;
                }
            }
            r.cons.release(n);
        }
    });
    uint32_t want = 2, grows = 0;
    for (uint32_t seq = 0; seq < kMessages;) {
        if (want < 1024 && seq % 1000 == 0) want *= 2;
        if (r.prod.active_slots() < want && r.prod.try_grow(want)) ++grows;
        if (r.push(seq)) ++seq;
    }
    consumer.join();
    EXPECT_EQ(r.prod.active_slots(), 1024u);
    EXPECT_GE(grows, 1u);
    EXPECT_EQ(r.prod.dropped(), r.header().dropped_full.load());
}

TEST(Region, SealedAgainstShrinkingAndMappableFromFd) {
    Region a = Region::create("seal-test", 4096);
    EXPECT_NE(ftruncate(a.fd(), 0), 0) << "a receiving app must not be able to shrink it";
    int dup_fd = dup(a.fd());
    Region b = Region::map(dup_fd);
    ASSERT_EQ(b.size(), 4096u);
    static_cast<uint8_t*>(a.data())[100] = 42;
    EXPECT_EQ(static_cast<uint8_t*>(b.data())[100], 42);
}

TEST(Region, UnsealedFdRefused) {
    int fd = memfd_create("unsealed", MFD_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, 4096), 0);
    EXPECT_THROW(Region::map(fd), std::system_error);
}

}  // namespace
}  // namespace ingress::shm

// A ring the kernel refuses to map (do_mmap()'s ENOMEM: past vm.max_map_count, or here past
// RLIMIT_AS) is an error that names the mapping limit, since many endpoints times many
// workers reach it long before memory runs out.
TEST(RegionCreate, RefusedMappingNamesTheMapCountLimit) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        // The address space it holds now and 1 MiB more: small allocations still work, a
        // 256 MiB ring does not fit.
        std::FILE* f = std::fopen("/proc/self/status", "r");
        char line[256];
        unsigned long vm_kb = 0;
        while (f && std::fgets(line, sizeof line, f))
            if (std::sscanf(line, "VmSize: %lu", &vm_kb) == 1) break;
        if (f) std::fclose(f);
        rlimit lim{};
        getrlimit(RLIMIT_AS, &lim);
        lim.rlim_cur = (vm_kb + 1024) * 1024;
        if (vm_kb == 0 || setrlimit(RLIMIT_AS, &lim) != 0) _exit(10);
        try {
            (void)ingress::shm::Region::create("ring-test-enomem", std::size_t{256} << 20);
        } catch (const std::system_error& e) {
            const bool names_limit =
                std::string(e.what()).find("vm.max_map_count") != std::string::npos;
            _exit(e.code().value() == ENOMEM ? (names_limit ? 0 : 12) : 13);
        }
        _exit(11);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "10 setrlimit, 11 mapped, 12 no hint, 13 not ENOMEM";
}
