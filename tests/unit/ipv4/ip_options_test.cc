// ip_options_compile() on receive: which option bytes are header errors, and the pointer
// the ICMP parameter problem carries (offset from the IP header start).
#include "ipv4/ip_options.h"

#include <gtest/gtest.h>

#include <vector>

#include "support/option_bytes.h"

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

// ip_options_rcv_write(): what __ip_options_compile() writes into a received header once the
// datagram has a route (ip_rcv_options() on local delivery).
namespace {

constexpr wire::Ipv4Addr kUs = 0xc6120001;    // 198.18.0.1: spec_dst
constexpr wire::Ipv4Addr kPeer = 0xc6120002;  // 198.18.0.2: the sender
constexpr uint32_t kNowMs = 0x01020304;

std::vector<uint8_t> header_with(std::vector<uint8_t> options) {
    std::vector<uint8_t> h(20, 0);
    h[0] = static_cast<uint8_t>(0x40 | ((20 + options.size() + 3) / 4));
    h.insert(h.end(), options.begin(), options.end());
    while (h.size() % 4) h.push_back(0);
    return h;
}

using test::cat;
std::vector<uint8_t> be(uint32_t v) {
    return test::be32_bytes(v);
}

IpOptions write(std::vector<uint8_t>& h) {
    const OptionsRcvEnv env{.spec_dst = kUs, .now_ms = kNowMs, .routes = nullptr};
    return ip_options_rcv_write(h, env);
}

}  // namespace

TEST(IpOptionsRcvWrite, RecordRouteGetsSpecDstAndThePointerMovesOn) {
    auto h = header_with({1, 7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0});
    const IpOptions o = write(h);
    ASSERT_TRUE(o.ok);
    EXPECT_TRUE(o.rr_needaddr);
    EXPECT_TRUE(o.is_changed);
    EXPECT_EQ(o.rr, 21);
    EXPECT_EQ(h[23], 8);  // pointer
    EXPECT_EQ(std::vector<uint8_t>(h.begin() + 24, h.begin() + 28), be(kUs));
    EXPECT_EQ(std::vector<uint8_t>(h.begin() + 28, h.begin() + 32), be(0));
}

TEST(IpOptionsRcvWrite, FullRecordRouteIsLeftAlone) {
    auto h = header_with({7, 7, 8, 1, 2, 3, 4});
    const auto before = h;
    const IpOptions o = write(h);
    ASSERT_TRUE(o.ok);
    EXPECT_FALSE(o.rr_needaddr);
    EXPECT_FALSE(o.is_changed);
    EXPECT_EQ(h, before);
}

TEST(IpOptionsRcvWrite, TimestampOnlyGetsTheTime) {
    auto h = header_with({68, 12, 5, 0x00, 0, 0, 0, 0, 0, 0, 0, 0});
    const IpOptions o = write(h);
    ASSERT_TRUE(o.ok);
    EXPECT_TRUE(o.ts_needtime);
    EXPECT_FALSE(o.ts_needaddr);
    EXPECT_EQ(h[22], 9);
    EXPECT_EQ(std::vector<uint8_t>(h.begin() + 24, h.begin() + 28), be(kNowMs));
}

TEST(IpOptionsRcvWrite, TimestampAndAddressGetsSpecDstThenTheTime) {
    auto h = header_with({68, 20, 5, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    const IpOptions o = write(h);
    ASSERT_TRUE(o.ok);
    EXPECT_TRUE(o.ts_needtime);
    EXPECT_TRUE(o.ts_needaddr);
    EXPECT_EQ(h[22], 13);
    EXPECT_EQ(std::vector<uint8_t>(h.begin() + 24, h.begin() + 32), cat({be(kUs), be(kNowMs)}));
}

TEST(IpOptionsRcvWrite, PrespecifiedOtherAddressIsSkippedWithoutMovingThePointer) {
    // With no route tables, no address is ours (inet_addr_type() == RTN_UNICAST).
    auto h = header_with(cat({{68, 12, 5, 0x03}, be(kPeer), be(0)}));
    const auto before = h;
    const IpOptions o = write(h);
    ASSERT_TRUE(o.ok);
    EXPECT_FALSE(o.ts_needtime);
    EXPECT_EQ(h, before);
}

TEST(IpOptionsRcvWrite, PrespecifiedBroadcastAddressIsStamped) {
    // 255.255.255.255 is RTN_BROADCAST, never RTN_UNICAST: the host stamps the time after it.
    auto h = header_with(cat({{68, 12, 5, 0x03}, be(0xffffffff), be(0)}));
    const IpOptions o = write(h);
    ASSERT_TRUE(o.ok);
    EXPECT_TRUE(o.ts_needtime);
    EXPECT_FALSE(o.ts_needaddr);
    EXPECT_EQ(h[22], 13);
    EXPECT_EQ(std::vector<uint8_t>(h.begin() + 28, h.begin() + 32), be(kNowMs));
}

TEST(IpOptionsRcvWrite, FullTimestampCountsOneMoreOverflow) {
    auto h = header_with({68, 8, 9, 0x20, 1, 2, 3, 4});
    const IpOptions o = write(h);
    ASSERT_TRUE(o.ok);
    EXPECT_TRUE(o.is_changed);
    EXPECT_FALSE(o.ts_needtime);
    EXPECT_EQ(h[23], 0x30);
    EXPECT_EQ(h[22], 9);
}

TEST(IpOptionsRcvWrite, FullPrespecifiedTimestampHasNoOverflowCount) {
    auto h = header_with({68, 12, 13, 0x03, 1, 2, 3, 4, 5, 6, 7, 8});
    const auto before = h;
    ASSERT_TRUE(write(h).ok);
    EXPECT_EQ(h, before);
}

TEST(IpOptionsRcvWrite, BytesAfterEndOfListAreZeroed) {
    auto h = header_with({1, 0, 5, 6});
    const IpOptions o = write(h);
    ASSERT_TRUE(o.ok);
    EXPECT_TRUE(o.is_changed);
    EXPECT_EQ(h[22], 0);
    EXPECT_EQ(h[23], 0);
}

TEST(IpOptionsRcvWrite, TheHeaderChecksumIsNotRecomputed) {
    // ip_rcv_options() leaves iph->check alone; only ip_forward_options() calls ip_send_check().
    auto h = header_with({7, 7, 4, 0, 0, 0, 0});
    h[10] = 0xab;
    h[11] = 0xcd;
    ASSERT_TRUE(write(h).ok);
    EXPECT_EQ(h[10], 0xab);
    EXPECT_EQ(h[11], 0xcd);
}

TEST(IpOptionsRcvWrite, ValidationIsTheSameAsCompile) {
    for (const Case& c : kCases) {
        std::vector<uint8_t> h = header_with(c.options);
        const IpOptions a = ip_options_compile(h);
        const IpOptions b = write(h);
        EXPECT_EQ(a.ok, b.ok) << c.name;
        EXPECT_EQ(a.error_ptr, b.error_ptr) << c.name;
    }
}

// ip_options_echo() + ip_options_build(): the options of an answer, as __ip_options_echo()
// and ip_options_build() make them.
namespace {

struct Echoed {
    bool ok;
    IpOptionsEcho e;
    std::vector<uint8_t> built;  // the answer's option bytes after ip_options_build()
};

constexpr wire::Ipv4Addr kReplySrc = 0xc6120009;
constexpr uint32_t kReplyMs = 0x0a0b0c0d;

Echoed echo_of(std::vector<uint8_t> options, wire::Ipv4Addr saddr = kPeer) {
    auto h = header_with(std::move(options));
    const IpOptions sopt = write(h);
    EXPECT_TRUE(sopt.ok);
    Echoed r;
    r.ok = ip_options_echo(h, sopt, saddr, nullptr, r.e);
    std::vector<uint8_t> reply(20 + r.e.optlen, 0);
    ip_options_build(reply.data(), r.e, saddr, kReplySrc, kReplyMs);
    r.built.assign(reply.begin() + 20, reply.end());
    return r;
}

}  // namespace

TEST(IpOptionsEcho, RecordRouteKeepsWhatWasRecordedAndAddsTheAnswersSource) {
    const Echoed r = echo_of({7, 15, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.e.optlen, 16);
    EXPECT_EQ(r.built, cat({{7, 15, 12}, be(kUs), be(kReplySrc), be(0), {0}}));  // padded with EOL
}

TEST(IpOptionsEcho, TimestampOnlyAddsTheAnswersTime) {
    const Echoed r = echo_of({68, 12, 5, 0x00, 0, 0, 0, 0, 0, 0, 0, 0});
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.built, cat({{68, 12, 13, 0x00}, be(kNowMs), be(kReplyMs)}));
}

TEST(IpOptionsEcho, TimestampAndAddressAddsTheAnswersSourceAndTime) {
    const Echoed r = echo_of(cat({{68, 20, 5, 0x01}, be(0), be(0), be(0), be(0)}));
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.built, cat({{68, 20, 21, 0x01}, be(kUs), be(kNowMs), be(kReplySrc), be(kReplyMs)}));
}

TEST(IpOptionsEcho, FullTimestampIsCopiedWithItsOverflow) {
    const Echoed r = echo_of({68, 8, 9, 0x10, 1, 2, 3, 4});
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.built, std::vector<uint8_t>({68, 8, 9, 0x20, 1, 2, 3, 4}));
}

TEST(IpOptionsEcho, RecordRouteFilledByUsIsCopiedAsItIs) {
    // The receive filled the last slot: the pointer is past the end, the answer adds nothing.
    const Echoed r = echo_of({7, 7, 4, 0, 0, 0, 0});
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.built, cat({{7, 7, 8}, be(kUs), {0}}));
}

TEST(IpOptionsEcho, LooseSourceRouteIsReversedAndTheAnswerGoesToItsFirstHop) {
    // Sent by kPeer via 198.18.1.1 and 198.18.1.2 (both recorded), to us: pointer past the end.
    const wire::Ipv4Addr h1 = 0xc6120101, h2 = 0xc6120102;
    const Echoed r = echo_of(cat({{131, 11, 12}, be(h1), be(h2)}));
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.e.faddr, h2);
    EXPECT_FALSE(r.e.is_strictroute);
    // Reversed: h1, then the final destination (the datagram's source), pointer 4.
    EXPECT_EQ(r.built, cat({{131, 11, 4}, be(h1), be(kPeer), {0}}));
}

TEST(IpOptionsEcho, StrictSourceRouteStaysStrictAndEndsWithTheSource) {
    const wire::Ipv4Addr h1 = 0xc6120101, h2 = 0xc6120102, h3 = 0xc6120103;
    const Echoed r = echo_of(cat({{137, 15, 16}, be(h1), be(h2), be(h3), {1}}));
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.e.faddr, h3);
    EXPECT_TRUE(r.e.is_strictroute);
    // h2, h1, then the slot ip_options_build() fills with the final destination.
    EXPECT_EQ(r.built, cat({{137, 15, 4}, be(h2), be(h1), be(kPeer), {0}}));
}

TEST(IpOptionsEcho, SourceRouteListingTheSenderFirstIsFixed) {
    // RFC 1812: an illegal route whose first hop is the source loses that hop.
    const wire::Ipv4Addr h2 = 0xc6120102;
    const Echoed r = echo_of(cat({{131, 11, 12}, be(kPeer), be(h2)}));
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.e.faddr, h2);
    EXPECT_EQ(r.built, cat({{131, 7, 4}, be(kPeer), {0}}));
}

TEST(IpOptionsEcho, CipsoIsCopiedAndOtherOptionsAreNot) {
    const Echoed r = echo_of({148, 4, 0, 0, 134, 6, 0, 0, 0, 1, 1, 0});
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.e.cipso, 20);
    EXPECT_EQ(r.built, std::vector<uint8_t>({134, 6, 0, 0, 0, 1, 0, 0}));
}

TEST(IpOptionsEcho, NoOptionsNoEcho) {
    const Echoed r = echo_of({148, 4, 0, 0});
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.e.optlen, 0);
}

TEST(IpOptionsEcho, UndoGivesOptionsAnAppCanSendAgain) {
    // ip_cmsg_recv_retopts(): echo, then ip_options_undo(): the reversed route with its first
    // hop back in front, the room grabbed for the answer given back.
    const wire::Ipv4Addr h1 = 0xc6120101, h2 = 0xc6120102;
    auto h = header_with(cat({{131, 11, 12}, be(h1), be(h2), {7, 7, 4, 0, 0, 0, 0}, {0}}));
    const IpOptions sopt = write(h);
    ASSERT_TRUE(sopt.ok);
    IpOptionsEcho e;
    ASSERT_TRUE(ip_options_echo(h, sopt, kPeer, nullptr, e));
    ip_options_undo(e);
    EXPECT_EQ(std::vector<uint8_t>(e.data.begin(), e.data.begin() + e.optlen),
              cat({{7, 7, 8}, be(kUs), {131, 11, 4}, be(h2), be(h1), {0, 0}}));
}

TEST(IpOptionsFragment, OnlyCopiedOptionsSurviveInLaterFragments) {
    auto o = cat({{7, 7, 8}, be(kUs), {131, 7, 4}, be(kPeer), {0, 0}});
    ip_options_fragment(o.data(), o.size());
    EXPECT_EQ(o, cat({{1, 1, 1, 1, 1, 1, 1}, {131, 7, 4}, be(kPeer), {0, 0}}));
}

}  // namespace ingress::ipv4
