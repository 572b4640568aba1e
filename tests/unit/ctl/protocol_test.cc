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
    auto b =
        Builder(MsgType::kHello, 1).u32(static_cast<Attr>(999), 5).u16(Attr::kVersion, 1).finish();
    ParseResult r = parse(b);
    ASSERT_TRUE(r.msg);
    EXPECT_EQ(r.msg->attrs.size(), 1u);
    EXPECT_EQ(r.msg->u16(Attr::kVersion), 1);
}

// The operator's replies: nested items, u64 values and the counter array round-trip, and
// each nested item is parsed with the message's strictness.
TEST(Protocol, NestedItemsU64AndCounterArraysRoundTrip) {
    Builder b(MsgType::kReply, 9);
    b.u32(Attr::kError, 0).u32(Attr::kCursor, 7);
    const uint64_t values[] = {1, 0xffffffffffull + 5, 0};
    for (uint32_t w = 0; w < 2; ++w) {
        const std::size_t mark = b.begin_nested(Attr::kWorkerCounters);
        b.u32(Attr::kWorker, w).str(Attr::kWorkerDesc, "eth0 queue");  // odd length: padded
        b.u64_array(Attr::kCounters, values);
        b.end_nested(mark);
    }
    b.u64(Attr::kDelivered, 1ull << 40)
        .str(Attr::kRestart, "rings")
        .str(Attr::kRestart, "workers.cores");
    auto bytes = b.finish();
    ParseResult r = parse(bytes);
    ASSERT_TRUE(r.msg) << parse_error_str(r.error);
    EXPECT_EQ(r.msg->u32(Attr::kCursor), 7u);
    EXPECT_EQ(r.msg->u64(Attr::kDelivered), 1ull << 40);
    EXPECT_EQ(r.msg->all_str(Attr::kRestart),
              (std::vector<std::string_view>{"rings", "workers.cores"}));
    auto ws = r.msg->all_nested(Attr::kWorkerCounters);
    ASSERT_TRUE(ws);
    ASSERT_EQ(ws->size(), 2u);
    EXPECT_EQ((*ws)[1].u32(Attr::kWorker), 1u);
    EXPECT_EQ((*ws)[1].str(Attr::kWorkerDesc), "eth0 queue");
    EXPECT_EQ((*ws)[1].u64_array(Attr::kCounters),
              (std::vector<uint64_t>{1, 0xffffffffffull + 5, 0}));
}

TEST(Protocol, OperatorRequestsAreRequestsAndTheNextTypeIsUnknown) {
    for (MsgType t : {MsgType::kStatsQuery, MsgType::kEndpoints, MsgType::kRoutes, MsgType::kReload,
                      MsgType::kBackendStats, MsgType::kRuntime, MsgType::kTrace, MsgType::kCapture,
                      MsgType::kHost, MsgType::kPmtu}) {
        EXPECT_TRUE(is_request(static_cast<uint16_t>(t))) << msg_type_name(t);
        auto b = Builder(t, 1).u32(Attr::kCursor, 3).finish();
        ASSERT_TRUE(parse(b).msg) << msg_type_name(t);
    }
    EXPECT_STREQ(msg_type_name(MsgType::kStatsQuery), "stats-query");
    EXPECT_STREQ(msg_type_name(MsgType::kRuntime), "runtime");
    EXPECT_STREQ(msg_type_name(MsgType::kHost), "host");
    auto b = Builder(MsgType::kReload, 1).finish();
    b[6] = 19;
    EXPECT_EQ(parse(b).error, ParseError::kUnknownType);
}

TEST(Protocol, CounterGroupsRoundTripAndAnIncompleteCounterIsRefused) {
    const core::CounterGroup g{
        .device = "eth0",
        .backend = "af_xdp",
        .source = "xdp_statistics",
        .queue = 3,
        .counters = {{"rx_ring_full", "ring full", 0xffffffffffull + 1}, {"rx_dropped", "", 0}}};
    Builder b(MsgType::kReply, 1);
    ctl::encode_counter_group(b, g);
    ctl::encode_counter_group(b, {.device = "eth1",
                                  .backend = "dpdk",
                                  .source = "rte_eth_stats",
                                  .queue = -1,
                                  .counters = {}});
    auto bytes = b.finish();
    auto m = parse(bytes).msg;
    ASSERT_TRUE(m);
    auto items = m->all_nested(Attr::kCounterGroup);
    ASSERT_TRUE(items);
    ASSERT_EQ(items->size(), 2u);
    auto back = ctl::decode_counter_group((*items)[0]);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->device, "eth0");
    EXPECT_EQ(back->backend, "af_xdp");
    EXPECT_EQ(back->source, "xdp_statistics");
    EXPECT_EQ(back->queue, 3);
    ASSERT_EQ(back->counters.size(), 2u);
    EXPECT_EQ(back->counters[0].name, "rx_ring_full");
    EXPECT_EQ(back->counters[0].help, "ring full");
    EXPECT_EQ(back->counters[0].value, 0xffffffffffull + 1);
    EXPECT_EQ(back->counters[1].value, 0u);
    auto port = ctl::decode_counter_group((*items)[1]);
    ASSERT_TRUE(port);
    EXPECT_EQ(port->queue, -1) << "no queue attribute: the whole interface";
    // A counter without its value is refused, not read as 0.
    Builder bad(MsgType::kReply, 2);
    const std::size_t gm = bad.begin_nested(Attr::kCounterGroup);
    bad.str(Attr::kIfname, "eth0").str(Attr::kBackend, "af_xdp").str(Attr::kCounterSource, "x");
    const std::size_t cm = bad.begin_nested(Attr::kNamedCounter);
    bad.str(Attr::kCounterName, "rx_dropped");
    bad.end_nested(cm);
    bad.end_nested(gm);
    auto badbytes = bad.finish();
    auto bm = parse(badbytes).msg;
    ASSERT_TRUE(bm);
    EXPECT_FALSE(ctl::decode_counter_group(bm->all_nested(Attr::kCounterGroup)->at(0)));
}

TEST(Protocol, MalformedOperatorAttributesAreTypedErrors) {
    // A counter array that is not a whole number of u64s.
    const uint8_t eleven[11] = {};
    auto b = Builder(MsgType::kReply, 1)
                 .str(Attr::kCounters, {reinterpret_cast<const char*>(eleven), 11})
                 .finish();
    EXPECT_EQ(parse(b).error, ParseError::kBadAttrSize);
    // A u64 of four bytes.
    b = Builder(MsgType::kReply, 1).u32(Attr::kDropped, 1).finish();
    EXPECT_EQ(parse(b).error, ParseError::kBadAttrSize);
    // Inside a nested item: a u32 worker index of two bytes; the message parses (the
    // item's value is opaque to it), the item does not.
    Builder n(MsgType::kReply, 1);
    const std::size_t mark = n.begin_nested(Attr::kEndpoint);
    n.u16(Attr::kPid, 5);
    n.end_nested(mark);
    auto nb = n.finish();
    ParseResult r = parse(nb);
    ASSERT_TRUE(r.msg);
    EXPECT_FALSE(r.msg->all_nested(Attr::kEndpoint));
    // An item whose inner attribute runs past the item.
    Builder p(MsgType::kReply, 1);
    const std::size_t m2 = p.begin_nested(Attr::kRoute);
    p.u32(Attr::kPrefix, 1);
    p.end_nested(m2);
    auto pb = p.finish();
    pb[kHeaderLen + 4 + 2] = 40;  // the inner kPrefix claims 40 bytes
    r = parse(pb);
    ASSERT_TRUE(r.msg);
    EXPECT_FALSE(r.msg->all_nested(Attr::kRoute));
    std::vector<AttrView> out;
    EXPECT_EQ(parse_attrs(r.msg->attrs[0].value, &out), ParseError::kBadAttrLength);
}

struct BadCase {
    const char* name;
    std::size_t keep;     // truncate to this many bytes (0 = keep all)
    std::size_t poke_at;  // then overwrite one byte (SIZE_MAX = none)
    uint8_t poke;
    ParseError want;
};

class ProtocolErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(ProtocolErrors, TypedErrorNeverACrash) {
    auto b =
        Builder(MsgType::kOpenUdp, 1).u32(Attr::kLocalAddr, 1).u16(Attr::kLocalPort, 2).finish();
    const BadCase& c = GetParam();
    if (c.poke_at != SIZE_MAX) b[c.poke_at] = c.poke;
    if (c.keep) b.resize(c.keep);
    ParseResult r = parse(b);
    EXPECT_FALSE(r.msg);
    EXPECT_EQ(r.error, c.want) << parse_error_str(r.error);
}

INSTANTIATE_TEST_SUITE_P(
    Protocol, ProtocolErrors,
    ::testing::Values(BadCase{"ShortHeader", 15, SIZE_MAX, 0, ParseError::kShortHeader},
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

// The client's encoders and the server's decoders are one pair per request: what the
// client sends is what the server decodes, seq included.
template <typename T, typename Decode>
T decoded(const std::vector<uint8_t>& bytes, uint32_t seq, MsgType type, Decode decode) {
    ParseResult r = parse(bytes);
    EXPECT_TRUE(r.msg);
    EXPECT_EQ(r.msg->type, type);
    EXPECT_EQ(r.msg->seq, seq);
    EXPECT_EQ(header_seq(bytes), seq);
    T out{};
    EXPECT_FALSE(decode(*r.msg, &out));
    return out;
}

TEST(ProtocolRequests, EncodeThenDecodeIsTheSameRequest) {
    const UdpOpen u{.addr = 0xc6120001,
                    .port = 5000,
                    .remote_addr = 0xc6120002,
                    .remote_port = 4000,
                    .ifindex = 3,
                    .reuseport = true,
                    .multicast_all = false,
                    .ring_slots = 64};
    auto du = decoded<UdpOpen>(encode(11, u), 11, MsgType::kOpenUdp,
                               [](const Message& m, UdpOpen* o) { return decode(m, o); });
    EXPECT_EQ(du.addr, u.addr);
    EXPECT_EQ(du.port, u.port);
    EXPECT_EQ(du.remote_addr, u.remote_addr);
    EXPECT_EQ(du.remote_port, u.remote_port);
    EXPECT_EQ(du.ifindex, u.ifindex);
    EXPECT_TRUE(du.reuseport);
    EXPECT_FALSE(du.reuseaddr);
    EXPECT_FALSE(du.multicast_all);
    EXPECT_EQ(du.ring_slots, 64u);

    const RawOpen raw{.protocol = 1, .addr = 7, .icmp_filter = 0x10};
    auto dr = decoded<RawOpen>(encode(12, raw), 12, MsgType::kOpenRaw,
                               [](const Message& m, RawOpen* o) { return decode(m, o); });
    EXPECT_EQ(dr.protocol, 1);
    EXPECT_EQ(dr.addr, 7u);
    EXPECT_EQ(dr.icmp_filter, 0x10u);
    EXPECT_TRUE(dr.multicast_all);

    const TapOpen tap{.ethertype = 0x0800,
                      .dgram = true,
                      .filter = "udp",
                      .fanout = true,
                      .fanout_group = 9,
                      .ignore_outgoing = true};
    auto dt = decoded<TapOpen>(encode(13, tap), 13, MsgType::kOpenTap,
                               [](const Message& m, TapOpen* o) { return decode(m, o); });
    EXPECT_EQ(dt.ethertype, 0x0800);
    EXPECT_TRUE(dt.dgram);
    EXPECT_EQ(dt.filter, "udp");
    EXPECT_TRUE(dt.fanout);
    EXPECT_EQ(dt.fanout_group, 9);
    EXPECT_TRUE(dt.ignore_outgoing);

    const McRequest join{
        .id = 4, .group = 0xef010101, .ifindex = 2, .include = true, .sources = {5, 6}};
    auto dj = decoded<McRequest>(encode_join(14, join), 14, MsgType::kJoin,
                                 [](const Message& m, McRequest* o) { return decode_join(m, o); });
    EXPECT_EQ(dj.id, 4u);
    EXPECT_EQ(dj.group, 0xef010101u);
    EXPECT_EQ(dj.ifindex, 2u);
    EXPECT_TRUE(dj.include);
    EXPECT_EQ(dj.sources, (std::vector<uint32_t>{5, 6}));
    auto dl = decoded<McRequest>(encode_leave(15, join), 15, MsgType::kLeave,
                                 [](const Message& m, McRequest* o) { return decode_leave(m, o); });
    EXPECT_EQ(dl.sources, (std::vector<uint32_t>{5, 6}));

    // Every option an open endpoint takes (registry.cc set_option), PACKET_IGNORE_OUTGOING's
    // u8 included (it was sent as a u32, which the parser refused).
    for (Attr a : {Attr::kMulticastAll, Attr::kIcmpFilter, Attr::kIfindex, Attr::kRemoteAddr,
                   Attr::kRecverr, Attr::kIgnoreOutgoing}) {
        auto ds = decoded<SetOption>(encode(16, SetOption{8, a, 1}), 16, MsgType::kSetOption,
                                     [](const Message& m, SetOption* o) { return decode(m, o); });
        EXPECT_EQ(ds.id, 8u);
        EXPECT_EQ(ds.option, a);
        EXPECT_EQ(ds.value, 1u);
    }
    EXPECT_EQ(decoded<uint32_t>(encode_close(17, 99), 17, MsgType::kClose,
                                [](const Message& m, uint32_t* id) { return decode_close(m, id); }),
              99u);
}

TEST(ProtocolRequests, HeaderSeqOfAShortBufferIsZero) {
    const std::vector<uint8_t> b(11, 0xff);
    EXPECT_EQ(header_seq(b), 0u);
}

}  // namespace
}  // namespace ingress::ctl
