// The trace / capture messages (ctl/observe_codec.h): requests decode to what was encoded,
// a broken program or an unknown reason is refused, records survive the trip.
#include "ctl/observe_codec.h"

#include <gtest/gtest.h>

namespace ingress::ctl {
namespace {

Message parsed(const std::vector<uint8_t>& bytes) {
    ParseResult pr = parse(bytes);
    EXPECT_TRUE(pr.msg) << parse_error_str(pr.error);
    return *pr.msg;
}

TEST(ObserveCodec, CaptureRequestRoundTrips) {
    ObserveRequest r;
    r.spec.mode = worker::ObserveMode::kCaptureDrops;
    r.spec.count = 5;
    r.spec.filter = worker::compile_filter("udp port 53").value();
    r.spec.reasons.set(static_cast<std::size_t>(core::DropReason::kIpRpfilter));
    r.spec.worker = 1;
    r.timeout_ms = 2500;
    const std::vector<uint8_t> bytes = encode(7, r);
    const Message m = parsed(bytes);
    EXPECT_EQ(m.type, MsgType::kCapture);
    ObserveRequest out;
    ASSERT_FALSE(decode(m, &out));
    EXPECT_EQ(out.spec.mode, worker::ObserveMode::kCaptureDrops);
    EXPECT_EQ(out.spec.count, 5u);
    EXPECT_EQ(out.spec.filter.size(), r.spec.filter.size());
    EXPECT_EQ(out.spec.reasons, r.spec.reasons);
    EXPECT_EQ(out.spec.worker, 1);
    EXPECT_EQ(out.timeout_ms, 2500u);
}

TEST(ObserveCodec, RefusesInvalidProgramAndUnknownReason) {
    ObserveRequest r;
    r.spec.filter = {{0x05, 0, 0, 99}};  // BPF_JMP|BPF_JA out of the program
    ObserveRequest out;
    auto e = decode(parsed(encode(1, r)), &out);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->err, EINVAL);
    Builder b(MsgType::kCapture, 2);
    b.u8(Attr::kObsMode, 1).str(Attr::kObsReason, "NOT_A_REASON");
    e = decode(parsed(b.finish()), &out);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->err, EINVAL);
}

TEST(ObserveCodec, TraceRecordRoundTrips) {
    worker::TraceRecord r;
    r.worker = 2;
    r.queue = 3;
    r.ifindex = 4;
    r.rx_ns = 123;
    r.len = 60;
    r.caplen = 3;
    r.bytes[0] = 9;
    r.closed = true;
    r.fate = core::Verdict::Kind::kDrop;
    r.reason = core::DropReason::kNoSocket;
    r.nsteps = 2;
    r.steps[0] = {worker::TraceStage::kIpRcvCore,
                  core::Verdict::Kind::kContinue,
                  core::DropReason::kNotSpecified,
                  {1, 2, 17, 46, 0}};
    r.steps[1] = {worker::TraceStage::kUdpLookup,
                  core::Verdict::Kind::kDrop,
                  core::DropReason::kNoSocket,
                  {}};
    Builder b(MsgType::kReply, 1);
    encode_record(b, r, "eth0");
    const std::vector<uint8_t> bytes = b.finish();
    const Message m = parsed(bytes);
    auto items = m.all_nested(Attr::kTraceRecord);
    ASSERT_TRUE(items && items->size() == 1);
    std::string name;
    auto out = decode_trace_record((*items)[0], &name);
    ASSERT_TRUE(out);
    EXPECT_EQ(name, "eth0");
    EXPECT_EQ(out->worker, 2);
    EXPECT_EQ(out->reason, core::DropReason::kNoSocket);
    ASSERT_EQ(out->nsteps, 2);
    EXPECT_EQ(worker::format_step(out->steps[0]), worker::format_step(r.steps[0]));
    EXPECT_EQ(worker::format_step(out->steps[1]), worker::format_step(r.steps[1]));
}

}  // namespace
}  // namespace ingress::ctl
