// The DPDK backend's destination set (the XDP program's ingress_dst map in userspace):
// membership, removal and reuse of removed slots, and a full table refusing an insert.
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

}  // namespace
}  // namespace ingress::io::dpdk
