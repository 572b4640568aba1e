// The DPDK backend's destination set (the XDP program's ingress_dst and ingress_prefix maps
// in userspace): membership, removal and reuse of removed slots, a full table refusing an
// insert, and local prefixes (AnyIP) matched when no address is listed.
#include "io/dpdk/dst_set.h"

#include <gtest/gtest.h>

namespace ingress::io::dpdk {
namespace {

TEST(DstSet, ListedDestinationsOnly) {
    DstSet s;
    EXPECT_FALSE(s.contains(wire::ipv4(198, 18, 0, 1)));
    ASSERT_TRUE(s.insert(wire::ipv4(198, 18, 0, 1)));
    ASSERT_TRUE(s.insert(0xffffffffu)) << "limited broadcast is a destination like any other";
    ASSERT_TRUE(s.insert(0)) << "0.0.0.0 is stored as key 1, not confused with an empty slot";
    EXPECT_TRUE(s.contains(wire::ipv4(198, 18, 0, 1)));
    EXPECT_TRUE(s.contains(0xffffffffu));
    EXPECT_TRUE(s.contains(0));
    EXPECT_FALSE(s.contains(wire::ipv4(198, 18, 0, 2)));
    ASSERT_TRUE(s.insert(wire::ipv4(198, 18, 0, 1))) << "inserting twice is a no-op";
    s.erase(wire::ipv4(198, 18, 0, 1));
    EXPECT_FALSE(s.contains(wire::ipv4(198, 18, 0, 1)));
    EXPECT_TRUE(s.contains(0xffffffffu));
}

TEST(DstSet, RemovedSlotsAreReusedAndAFullTableRefuses) {
    DstSet s;
    // Join and leave one group many more times than there are slots: tombstones are reused.
    for (std::size_t i = 0; i < 3 * DstSet::kSlots; ++i) {
        ASSERT_TRUE(s.insert(wire::ipv4(239, 1, 0, 1)));
        s.erase(wire::ipv4(239, 1, 0, 1));
    }
    for (uint32_t i = 0; i < DstSet::kSlots; ++i)
        ASSERT_TRUE(s.insert(wire::ipv4(239, 2, 0, 0) + i)) << i;
    for (uint32_t i = 0; i < DstSet::kSlots; ++i)
        ASSERT_TRUE(s.contains(wire::ipv4(239, 2, 0, 0) + i)) << i;
    EXPECT_FALSE(s.insert(wire::ipv4(198, 18, 0, 1))) << "every slot used";
    EXPECT_FALSE(s.contains(wire::ipv4(198, 18, 0, 1)));
    s.erase(wire::ipv4(239, 2, 0, 7));
    EXPECT_TRUE(s.insert(wire::ipv4(198, 18, 0, 1))) << "a removed slot is free again";
    EXPECT_TRUE(s.contains(wire::ipv4(198, 18, 0, 1)));
}

// `ip route add local 198.18.100.0/24 dev lo`: every address of the prefix, nothing outside.
TEST(DstSet, PrefixesMatchEveryAddressInsideThem) {
    DstSet s;
    ASSERT_TRUE(s.insert_prefix(wire::ipv4(198, 18, 100, 0), 24));
    ASSERT_TRUE(s.insert_prefix(wire::ipv4(127, 9, 9, 9), 8)) << "stored masked";
    EXPECT_TRUE(s.contains(wire::ipv4(198, 18, 100, 0)));
    EXPECT_TRUE(s.contains(wire::ipv4(198, 18, 100, 255)));
    EXPECT_TRUE(s.contains(wire::ipv4(127, 0, 0, 1)));
    EXPECT_FALSE(s.contains(wire::ipv4(198, 18, 101, 0)));
    EXPECT_FALSE(s.contains(wire::ipv4(198, 18, 99, 255)));
    s.erase_prefix(wire::ipv4(198, 18, 100, 0), 24);
    EXPECT_FALSE(s.contains(wire::ipv4(198, 18, 100, 7)));
    EXPECT_TRUE(s.contains(wire::ipv4(127, 0, 0, 1)));
    ASSERT_TRUE(s.insert_prefix(0, 0)) << "a default local route: everything";
    EXPECT_TRUE(s.contains(wire::ipv4(203, 0, 113, 1)));
    s.erase_prefix(0, 0);
    EXPECT_FALSE(s.contains(wire::ipv4(203, 0, 113, 1)));
}

TEST(DstSet, RemovedPrefixSlotsAreReusedAndAFullArrayRefuses) {
    DstSet s;
    for (std::size_t i = 0; i < 3 * DstSet::kPrefixSlots; ++i) {
        ASSERT_TRUE(s.insert_prefix(wire::ipv4(198, 18, 100, 0), 24));
        s.erase_prefix(wire::ipv4(198, 18, 100, 0), 24);
    }
    for (uint32_t i = 0; i < DstSet::kPrefixSlots; ++i)
        ASSERT_TRUE(s.insert_prefix(wire::ipv4(10, 0, 0, 0) + (i << 8), 24)) << i;
    EXPECT_FALSE(s.insert_prefix(wire::ipv4(198, 18, 100, 0), 24)) << "every slot used";
    s.erase_prefix(wire::ipv4(10, 0, 7, 0), 24);
    EXPECT_TRUE(s.insert_prefix(wire::ipv4(198, 18, 100, 0), 24));
    EXPECT_TRUE(s.contains(wire::ipv4(198, 18, 100, 1)));
    EXPECT_FALSE(s.contains(wire::ipv4(10, 0, 7, 1)));
}

}  // namespace
}  // namespace ingress::io::dpdk
