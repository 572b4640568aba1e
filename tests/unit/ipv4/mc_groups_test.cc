// Interface-level multicast memberships with ip_check_mc_rcu() semantics.
#include "ipv4/mc_groups.h"

#include <gtest/gtest.h>

namespace ingress::ipv4 {
namespace {

using wire::ipv4;
using wire::Ipv4Addr;

const Ipv4Addr kG = ipv4(239, 1, 1, 1);
const Ipv4Addr kS1 = ipv4(198, 18, 0, 2), kS2 = ipv4(198, 18, 0, 3);
constexpr uint8_t kUdp = 17, kIgmp = 2;

TEST(IpCheckMc, UnknownGroupIsNotOurs) {
    McGroups m;
    EXPECT_FALSE(m.check(1, kG, kS1, kUdp));
    EXPECT_FALSE(m.check(1, kG, kS1, kIgmp));
}

TEST(IpCheckMc, AllHostsJoinedWhenTheInterfaceComesUp) {
    McGroups m;
    m.add_interface(4);
    EXPECT_TRUE(m.check(4, kAllHostsGroup, kS1, kUdp));
    EXPECT_FALSE(m.check(5, kAllHostsGroup, kS1, kUdp));
}

TEST(IpCheckMc, AnySourceMembershipAcceptsEverySource) {
    McGroups m;
    m.join(1, kG, McFilterMode::kExclude);
    EXPECT_TRUE(m.check(1, kG, kS1, kUdp));
    EXPECT_FALSE(m.check(2, kG, kS1, kUdp)) << "memberships are per interface";
}

TEST(IpCheckMc, IncludeModeAcceptsOnlyListedSources) {
    McGroups m;
    const Ipv4Addr s[] = {kS1};
    m.join(1, kG, McFilterMode::kInclude, s);
    EXPECT_TRUE(m.check(1, kG, kS1, kUdp));
    EXPECT_FALSE(m.check(1, kG, kS2, kUdp));
    EXPECT_TRUE(m.check(1, kG, kS2, kIgmp)) << "IGMP to a joined group is always ours";
    EXPECT_TRUE(m.check(1, kG, 0, kUdp)) << "unspecified source: tentatively allowed";
}

TEST(IpCheckMc, ExcludeSourceBlockedOnlyWhenEveryExcludeSocketBlocksIt) {
    McGroups m;
    const Ipv4Addr s[] = {kS1};
    m.join(1, kG, McFilterMode::kExclude, s);  // socket A: EXCLUDE {S1}
    EXPECT_FALSE(m.check(1, kG, kS1, kUdp));
    EXPECT_TRUE(m.check(1, kG, kS2, kUdp));
    m.join(1, kG, McFilterMode::kExclude);  // socket B: EXCLUDE {} wants S1
    EXPECT_TRUE(m.check(1, kG, kS1, kUdp));
    ASSERT_TRUE(m.leave(1, kG, McFilterMode::kExclude));
    EXPECT_FALSE(m.check(1, kG, kS1, kUdp));
}

TEST(IpCheckMc, IncludeListingOverridesExcludeBlock) {
    McGroups m;
    const Ipv4Addr s[] = {kS1};
    m.join(1, kG, McFilterMode::kExclude, s);
    m.join(1, kG, McFilterMode::kInclude, s);
    EXPECT_TRUE(m.check(1, kG, kS1, kUdp));
}

TEST(IpMcDecGroup, LastLeaveRemovesTheGroupAndUnknownLeaveFails) {
    McGroups m;
    const Ipv4Addr s[] = {kS1};
    m.join(1, kG, McFilterMode::kInclude, s);
    m.join(1, kG, McFilterMode::kInclude, s);
    EXPECT_FALSE(m.leave(1, kG, McFilterMode::kExclude));
    const Ipv4Addr other[] = {kS2};
    EXPECT_FALSE(m.leave(1, kG, McFilterMode::kInclude, other));
    EXPECT_TRUE(m.leave(1, kG, McFilterMode::kInclude, s));
    EXPECT_TRUE(m.check(1, kG, kS1, kUdp));
    EXPECT_TRUE(m.leave(1, kG, McFilterMode::kInclude, s));
    EXPECT_FALSE(m.check(1, kG, kS1, kUdp));
    EXPECT_EQ(m.size(), 0u);
    EXPECT_FALSE(m.leave(1, kG, McFilterMode::kInclude, s));
}

}  // namespace
}  // namespace ingress::ipv4
