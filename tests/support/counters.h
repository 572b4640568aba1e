// Counter assertions through the one table: a test names the counters it expects by their
// kernel spelling ("IpInReceives", "IP_CSUM", or the fates "rx", "delivered", "held",
// "passed"), and every counter it does not name must be zero. A misspelt name fails the
// test, so a test cannot silently check nothing.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>

#include "core/counters.h"

namespace ingress::test {

using Expected = std::map<std::string, uint64_t>;

// Whether `s` is exactly `want`; the failure message lists every difference and says
// whether the conservation identity holds. A `want` with IcmpOutMsgs but no IpOutRequests
// expects as many IpOutRequests and IpOutTransmits (one error datagram, one frame each);
// IpExtOutOctets is compared only when `want` names it.
::testing::AssertionResult counters_are(const core::Snapshot& s, const Expected& want);

// The counters in the nstat-form text ingressd prints (SIGUSR1, at exit) and its control
// socket's stats request returns (core::format_stats): every line between "#kernel" and
// "#conservation" by its name; the fates from their Ingress* lines. Lines after it (one per
// endpoint) are ignored. A name the table does not know fails the current test.
core::Snapshot parse_stats_text(const std::string& text);

// Difference after - before (for tests that look at one step).
core::Snapshot delta(const core::Snapshot& after, const core::Snapshot& before);

}  // namespace ingress::test

#define EXPECT_COUNTERS(snapshot, ...) \
    EXPECT_TRUE(::ingress::test::counters_are((snapshot), ::ingress::test::Expected __VA_ARGS__))
