// ip_options_compile() on receive: which option bytes are header errors, and the pointer
// the ICMP parameter problem carries (offset from the IP header start).
#include "ipv4/ip_options.h"

#include <gtest/gtest.h>

#include <vector>

namespace ingress::ipv4 {
namespace {

struct Case {
    const char* name;
    std::vector<uint8_t> options;  // padded with EOL to a multiple of 4
    bool ok;
    uint8_t ptr;  // when !ok
};

class IpOptionsCompile : public ::testing::TestWithParam<Case> {};

TEST_P(IpOptionsCompile, VerdictAndPointer) {
    const Case& c = GetParam();
    std::vector<uint8_t> h(20, 0);
    h[0] = 0x45;
    h.insert(h.end(), c.options.begin(), c.options.end());
    while (h.size() % 4) h.push_back(0);
    IpOptions o = ip_options_compile(h);
    EXPECT_EQ(o.ok, c.ok);
    if (!c.ok) {
        EXPECT_EQ(o.error_ptr, c.ptr);
    }
}

const Case kCases[] = {
    {"NopsAreValid", {1, 1, 1, 1}, true, 0},
    {"EndOfListStopsParsing", {0, 7, 1, 0}, true, 0},
    {"SingleByteLeftForATlvIsAnError", {1, 1, 1, 7}, false, 23},
    {"OptionLengthBelowTwoIsAnError", {7, 1, 0, 0}, false, 20},
    {"OptionLengthBeyondHeaderIsAnError", {7, 9, 4, 0}, false, 20},
    {"RecordRouteValid", {7, 7, 4, 0, 0, 0, 0}, true, 0},
    {"RecordRouteShortIsAnErrorAtLength", {7, 2, 0, 0}, false, 21},
    {"RecordRoutePointerBelowFourIsAnErrorAtPointer", {7, 7, 3, 0, 0, 0, 0}, false, 22},
    {"RecordRoutePointerLeavingNoRoomIsAnError", {7, 7, 6, 0, 0, 0, 0}, false, 22},
    {"RecordRouteFullIsValid", {7, 7, 8, 0, 0, 0, 0}, true, 0},
    {"TwoRecordRoutesIsAnError", {7, 3, 4, 7, 3, 4, 0, 0}, false, 23},
    {"LooseSourceRouteValid", {131, 7, 4, 198, 18, 0, 1}, true, 0},
    {"SourceRoutePointerBelowFourIsAnError", {131, 7, 3, 198, 18, 0, 1}, false, 22},
    {"SourceRouteShortIsAnErrorAtLength", {131, 2, 0, 0}, false, 21},
    {"TwoSourceRoutesIsAnError", {131, 3, 4, 137, 3, 4, 0, 0}, false, 23},
    {"TimestampValid", {68, 8, 5, 0, 0, 0, 0, 0}, true, 0},
    {"TimestampShortIsAnError", {68, 3, 5, 0}, false, 21},
    {"TimestampPointerBelowFiveIsAnError", {68, 8, 4, 0, 0, 0, 0, 0}, false, 22},
    {"TimestampWithAddressNeedsEightBytes", {68, 8, 5, 1, 0, 0, 0, 0}, false, 22},
    {"TimestampFullWithOverflowAtFifteenIsAnError", {68, 4, 5, 0xf0}, false, 23},
    {"TimestampFullWithOverflowBelowFifteenIsValid", {68, 4, 5, 0xe0}, true, 0},
    {"RouterAlertValid", {148, 4, 0, 0}, true, 0},
    {"RouterAlertShortIsAnError", {148, 3, 0, 0}, false, 21},
    {"UnknownOptionIsAcceptedOnReceive", {30, 4, 0, 0}, true, 0},
    {"SecurityOptionIsAcceptedOnReceive", {130, 4, 0, 0}, true, 0},
};

INSTANTIATE_TEST_SUITE_P(IpRcvOptions, IpOptionsCompile, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(IpOptionsCompileFields, SourceRouteOffsetAndStrictness) {
    std::vector<uint8_t> h(20, 0);
    const uint8_t opt[] = {1, 137, 7, 4, 198, 18, 0, 1};
    h.insert(h.end(), std::begin(opt), std::end(opt));
    IpOptions o = ip_options_compile(h);
    ASSERT_TRUE(o.ok);
    EXPECT_EQ(o.srr, 21);
    EXPECT_TRUE(o.is_strictroute);
}

}  // namespace
}  // namespace ingress::ipv4
