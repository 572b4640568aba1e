#include "ctl/protocol.h"

#include <gtest/gtest.h>

#include <random>

namespace ingress::ctl {
namespace {

std::vector<uint8_t> open_udp() {
    return Builder(MsgType::kOpenUdp, 7)
        .u32(Attr::kLocalAddr, 0xc6120001)
        .u16(Attr::kLocalPort, 5000)
        .u8(Attr::kReuseport, 1)
        .str(Attr::kFilterExpr, "udp")  // odd length: padded
        .u32(Attr::kSource, 1)
        .u32(Attr::kSource, 2)
        .finish();
}

TEST(Protocol, RoundTrip) {
    auto b = open_udp();
    EXPECT_EQ(b.size() % 4, 0u);
    EXPECT_EQ(message_size(b), b.size());
    ParseResult r = parse(b);
    ASSERT_TRUE(r.msg) << parse_error_str(r.error);
    EXPECT_EQ(r.consumed, b.size());
    EXPECT_EQ(r.msg->type, MsgType::kOpenUdp);
    EXPECT_EQ(r.msg->seq, 7u);
    EXPECT_EQ(r.msg->u32(Attr::kLocalAddr), 0xc6120001u);
    EXPECT_EQ(r.msg->u16(Attr::kLocalPort), 5000);
    EXPECT_EQ(r.msg->u8(Attr::kReuseport), 1);
    EXPECT_EQ(r.msg->str(Attr::kFilterExpr), "udp");
    EXPECT_EQ(r.msg->all_u32(Attr::kSource), (std::vector<uint32_t>{1, 2}));
    EXPECT_FALSE(r.msg->u32(Attr::kGroup));
    EXPECT_FALSE(r.msg->u16(Attr::kLocalAddr)) << "wrong width read is refused";
}

TEST(Protocol, TwoMessagesInOneBufferFrameByLength) {
    auto a = open_udp();
    auto b = Builder(MsgType::kClose, 8).u32(Attr::kEndpointId, 3).finish();
    std::vector<uint8_t> both = a;
    both.insert(both.end(), b.begin(), b.end());
    ParseResult r1 = parse(both);
    ASSERT_TRUE(r1.msg);
    ParseResult r2 = parse(std::span<const uint8_t>(both).subspan(r1.consumed));
    ASSERT_TRUE(r2.msg);
    EXPECT_EQ(r2.msg->type, MsgType::kClose);
    EXPECT_EQ(r2.msg->u32(Attr::kEndpointId), 3u);
}

TEST(Protocol, UnknownAttributeSkippedForForwardCompatibility) {
    auto b = Builder(MsgType::kHello, 1).u32(static_cast<Attr>(999), 5).u16(Attr::kVersion, 1).finish();
    ParseResult r = parse(b);
    ASSERT_TRUE(r.msg);
    EXPECT_EQ(r.msg->attrs.size(), 1u);
    EXPECT_EQ(r.msg->u16(Attr::kVersion), 1);
}

struct BadCase {
    const char* name;
    std::size_t keep;             // truncate to this many bytes (0 = keep all)
    std::size_t poke_at;          // then overwrite one byte (SIZE_MAX = none)
    uint8_t poke;
    ParseError want;
};

class ProtocolErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(ProtocolErrors, TypedErrorNeverACrash) {
    auto b = Builder(MsgType::kOpenUdp, 1).u32(Attr::kLocalAddr, 1).u16(Attr::kLocalPort, 2).finish();
    const BadCase& c = GetParam();
    if (c.poke_at != SIZE_MAX) b[c.poke_at] = c.poke;
    if (c.keep) b.resize(c.keep);
    ParseResult r = parse(b);
    EXPECT_FALSE(r.msg);
    EXPECT_EQ(r.error, c.want) << parse_error_str(r.error);
}

INSTANTIATE_TEST_SUITE_P(
    Protocol, ProtocolErrors,
    ::testing::Values(
        BadCase{"ShortHeader", 15, SIZE_MAX, 0, ParseError::kShortHeader},
        BadCase{"BadMagic", 0, 0, 'X', ParseError::kBadMagic},
        BadCase{"BadVersion", 0, 4, 9, ParseError::kBadVersion},
        BadCase{"UnknownType", 0, 6, 77, ParseError::kUnknownType},
        BadCase{"TooLarge", 0, 14, 0x10, ParseError::kTooLarge},
        BadCase{"ShortPayload", 30, SIZE_MAX, 0, ParseError::kShortPayload},
        // First attribute (at 16) claims 200 bytes.
        BadCase{"AttrPastEnd", 0, 18, 200, ParseError::kBadAttrLength},
        // kLocalAddr with length 3.
        BadCase{"AttrWrongSize", 0, 18, 3, ParseError::kBadAttrSize}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Protocol, RandomMutationsNeverCrash) {
    auto base = open_udp();
    std::mt19937 rng(5);
    int parsed = 0;
    for (int i = 0; i < 20000; ++i) {
        auto b = base;
        for (int k = 0; k < 3; ++k) b[rng() % b.size()] = static_cast<uint8_t>(rng());
        b.resize(rng() % (b.size() + 1));
        ParseResult r = parse(b);
        if (r.msg) {
            ++parsed;
            EXPECT_LE(r.consumed, b.size());
            for (const AttrView& a : r.msg->attrs) {
                EXPECT_GE(a.value.data(), b.data());
                EXPECT_LE(a.value.data() + a.value.size(), b.data() + b.size());
            }
        }
    }
    EXPECT_GT(parsed, 0);
}

}  // namespace
}  // namespace ingress::ctl
