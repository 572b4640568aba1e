// ingressd's systemd watchdog: WATCHDOG=1 every half period while every worker's loop count
// moves; a worker that stopped beating stops the pings (systemd then restarts the service).
#include "daemon/watchdog.h"

#include <gtest/gtest.h>

namespace ingress::daemon {
namespace {

constexpr uint64_t kMs = 1'000'000;

TEST(Watchdog, PingsEveryHalfPeriodWhileEveryWorkerBeats) {
    Watchdog w(1'000'000);  // WATCHDOG_USEC=1s: a check every 500 ms
    EXPECT_EQ(w.check(1 * kMs, {10, 20}), Watchdog::Action::kPing) << "the first reading pings";
    EXPECT_EQ(w.check(400 * kMs, {11, 21}), Watchdog::Action::kWait) << "not half a period yet";
    EXPECT_EQ(w.check(501 * kMs, {12, 25}), Watchdog::Action::kPing);
    EXPECT_TRUE(w.stalled_workers().empty());
}

TEST(Watchdog, AWorkerThatStoppedBeatingStopsThePingsUntilItMovesAgain) {
    Watchdog w(200'000);  // a check every 100 ms
    ASSERT_EQ(w.check(1 * kMs, {5, 7, 9}), Watchdog::Action::kPing);
    EXPECT_EQ(w.check(101 * kMs, {6, 7, 10}), Watchdog::Action::kStalled);
    EXPECT_EQ(w.stalled_workers(), (std::vector<std::size_t>{1}));
    EXPECT_EQ(w.check(201 * kMs, {6, 7, 10}), Watchdog::Action::kStalled);
    EXPECT_EQ(w.stalled_workers(), (std::vector<std::size_t>{0, 1, 2}));
    EXPECT_EQ(w.check(301 * kMs, {7, 8, 11}), Watchdog::Action::kPing);
    EXPECT_TRUE(w.stalled_workers().empty());
}

TEST(Watchdog, OffWithoutWatchdogUsec) {
    Watchdog w(0);
    EXPECT_FALSE(w.enabled());
    EXPECT_EQ(w.check(1 * kMs, {1}), Watchdog::Action::kWait);
    EXPECT_EQ(w.check(10'000 * kMs, {1}), Watchdog::Action::kWait);
}

}  // namespace
}  // namespace ingress::daemon
