#include "ctl/observe_codec.h"

#include <cerrno>
#include <cstring>

namespace ingress::ctl {

using worker::BpfInsn;
using worker::TraceRecord;

namespace {

std::span<const uint8_t> as_bytes(const std::vector<BpfInsn>& p) {
    return {reinterpret_cast<const uint8_t*>(p.data()), p.size() * sizeof(BpfInsn)};
}

std::optional<core::DropReason> reason_of(const Attrs& a) {
    auto name = a.str(Attr::kObsReason);
    if (!name) return core::DropReason::kNotSpecified;
    return core::drop_reason_from_name(*name);
}

std::optional<core::Verdict::Kind> kind_of(std::optional<uint8_t> v) {
    if (!v || *v > static_cast<uint8_t>(core::Verdict::Kind::kDelivered)) return std::nullopt;
    return static_cast<core::Verdict::Kind>(*v);
}

// The frame bytes of a record into `dst` (at most its size); the length copied.
template <std::size_t N>
uint16_t frame_of(const Attrs& a, std::array<uint8_t, N>& dst) {
    const AttrView* f = a.find(Attr::kObsFrame);
    if (!f) return 0;
    const std::size_t n = std::min(f->value.size(), N);
    std::memcpy(dst.data(), f->value.data(), n);
    return static_cast<uint16_t>(n);
}

// What both records carry: where and when the frame came in, its bytes; returns its length.
template <class Record>
uint32_t where_of(const Attrs& a, Record& r, std::string* ifname) {
    *ifname = std::string(a.str(Attr::kIfname).value_or(""));
    r.worker = static_cast<uint16_t>(a.u32(Attr::kWorker).value_or(0));
    r.queue = static_cast<uint16_t>(a.u32(Attr::kQueue).value_or(0));
    r.ifindex = a.u32(Attr::kIfindex).value_or(0);
    r.rx_ns = a.u64(Attr::kObsRxNs).value_or(0);
    r.caplen = frame_of(a, r.bytes);
    return a.u32(Attr::kObsFrameLen).value_or(0);
}

}  // namespace

std::vector<uint8_t> encode(uint32_t seq, const ObserveRequest& r) {
    const worker::ObserveSpec& s = r.spec;
    Builder b(s.mode == worker::ObserveMode::kTrace ? MsgType::kTrace : MsgType::kCapture, seq);
    b.u8(Attr::kObsMode, static_cast<uint8_t>(s.mode));
    b.u64(Attr::kObsCount, s.count);
    if (!s.filter.empty()) b.bytes(Attr::kObsFilter, as_bytes(s.filter));
    b.u32(Attr::kObsFlags, s.drops_only ? 1u : 0u);
    if (s.worker >= 0) b.u32(Attr::kWorker, static_cast<uint32_t>(s.worker));
    if (s.ifindex) b.u32(Attr::kIfindex, s.ifindex);
    if (!r.ifname.empty()) b.str(Attr::kIfname, r.ifname);
    for (std::size_t i = 0; i < s.reasons.size(); ++i)
        if (s.reasons.test(i))
            b.str(Attr::kObsReason, core::drop_reason_name(static_cast<core::DropReason>(i)));
    if (s.ring_slots) b.u32(Attr::kObsRingSlots, s.ring_slots);
    if (r.timeout_ms) b.u32(Attr::kObsTimeout, r.timeout_ms);
    return b.finish();
}

std::optional<DecodeError> decode(const Message& m, ObserveRequest* out) {
    worker::ObserveSpec& s = out->spec;
    const uint8_t mode = m.u8(Attr::kObsMode).value_or(0);
    if (mode > static_cast<uint8_t>(worker::ObserveMode::kCaptureIface))
        return DecodeError{EINVAL, "unknown observe mode"};
    s.mode = static_cast<worker::ObserveMode>(mode);
    if ((s.mode == worker::ObserveMode::kTrace) != (m.type == MsgType::kTrace))
        return DecodeError{EINVAL, "mode does not match the message type"};
    s.count = m.u64(Attr::kObsCount).value_or(0);
    if (const AttrView* f = m.find(Attr::kObsFilter)) {
        s.filter.resize(f->value.size() / sizeof(BpfInsn));
        std::memcpy(s.filter.data(), f->value.data(), s.filter.size() * sizeof(BpfInsn));
        if (!worker::filter_is_valid(s.filter))
            return DecodeError{EINVAL, "filter: not a valid classic BPF program"};
    }
    s.drops_only = (m.u32(Attr::kObsFlags).value_or(0) & 1u) != 0;
    if (auto w = m.u32(Attr::kWorker)) s.worker = static_cast<int>(*w);
    s.ifindex = m.u32(Attr::kIfindex).value_or(0);
    out->ifname = std::string(m.str(Attr::kIfname).value_or(""));
    for (std::string_view name : m.all_str(Attr::kObsReason)) {
        auto r = core::drop_reason_from_name(name);
        if (!r) return DecodeError{EINVAL, "unknown drop reason"};
        s.reasons.set(static_cast<std::size_t>(*r));
    }
    s.ring_slots = m.u32(Attr::kObsRingSlots).value_or(0);
    if (s.ring_slots > 65536) return DecodeError{EINVAL, "ring larger than 65536 records"};
    out->timeout_ms = m.u32(Attr::kObsTimeout).value_or(0);
    return std::nullopt;
}

void encode_record(Builder& b, const TraceRecord& r, std::string_view ifname) {
    const std::size_t mark = b.begin_nested(Attr::kTraceRecord);
    b.u32(Attr::kWorker, r.worker).u32(Attr::kQueue, r.queue).u32(Attr::kIfindex, r.ifindex);
    b.str(Attr::kIfname, ifname);
    b.u64(Attr::kObsRxNs, r.rx_ns).u32(Attr::kObsFrameLen, r.len);
    b.bytes(Attr::kObsFrame, {r.bytes.data(), r.caplen});
    b.u8(Attr::kObsClosed, r.closed ? 1 : 0).u8(Attr::kObsFate, static_cast<uint8_t>(r.fate));
    if (r.fate == core::Verdict::Kind::kDrop)
        b.str(Attr::kObsReason, core::drop_reason_name(r.reason));
    for (uint8_t i = 0; i < r.nsteps; ++i) {
        const worker::TraceStep& st = r.steps[i];
        const std::size_t sm = b.begin_nested(Attr::kTraceStep);
        b.u8(Attr::kObsStage, static_cast<uint8_t>(st.stage));
        b.u8(Attr::kObsFate, static_cast<uint8_t>(st.kind));
        if (st.kind == core::Verdict::Kind::kDrop)
            b.str(Attr::kObsReason, core::drop_reason_name(st.reason));
        const std::array<uint64_t, 5> v{st.v[0], st.v[1], st.v[2], st.v[3], st.v[4]};
        b.u64_array(Attr::kObsValues, v);
        b.end_nested(sm);
    }
    b.end_nested(mark);
}

std::optional<TraceRecord> decode_trace_record(const Attrs& a, std::string* ifname) {
    TraceRecord r;
    r.len = where_of(a, r, ifname);
    r.closed = a.u8(Attr::kObsClosed).value_or(0) != 0;
    auto fate = kind_of(a.u8(Attr::kObsFate));
    auto reason = reason_of(a);
    auto steps = a.all_nested(Attr::kTraceStep);
    if (!fate || !reason || !steps) return std::nullopt;
    r.fate = *fate;
    r.reason = *reason;
    for (const Attrs& s : *steps) {
        if (r.nsteps == worker::kMaxSteps) break;
        auto stage = s.u8(Attr::kObsStage);
        auto kind = kind_of(s.u8(Attr::kObsFate));
        auto sreason = reason_of(s);
        auto v = s.u64_array(Attr::kObsValues);
        if (!stage || *stage >= static_cast<uint8_t>(worker::TraceStage::kCount) || !kind ||
            !sreason || v.size() != 5)
            return std::nullopt;
        worker::TraceStep& st = r.steps[r.nsteps++];
        st.stage = static_cast<worker::TraceStage>(*stage);
        st.kind = *kind;
        st.reason = *sreason;
        for (std::size_t i = 0; i < 5; ++i) st.v[i] = static_cast<uint32_t>(v[i]);
    }
    return r;
}

void encode_record(Builder& b, const worker::CaptureRecord& r, std::string_view ifname) {
    const std::size_t mark = b.begin_nested(Attr::kCaptureRecord);
    b.u32(Attr::kWorker, r.worker).u32(Attr::kQueue, r.queue).u32(Attr::kIfindex, r.ifindex);
    b.str(Attr::kIfname, ifname);
    b.u64(Attr::kObsRxNs, r.rx_ns).u32(Attr::kObsFrameLen, r.orig_len);
    b.bytes(Attr::kObsFrame, {r.bytes.data(), r.caplen});
    b.u8(Attr::kObsDropped, r.dropped ? 1 : 0);
    if (r.dropped) b.str(Attr::kObsReason, core::drop_reason_name(r.reason));
    b.end_nested(mark);
}

std::optional<worker::CaptureRecord> decode_capture_record(const Attrs& a, std::string* ifname) {
    worker::CaptureRecord r;
    r.orig_len = where_of(a, r, ifname);
    r.dropped = a.u8(Attr::kObsDropped).value_or(0) != 0;
    auto reason = reason_of(a);
    if (!reason) return std::nullopt;
    r.reason = *reason;
    return r;
}

void encode_end(Builder& b, const ObserveEnd& e) {
    b.u8(Attr::kObsEnd, 1);
    b.u64(Attr::kObsRecords, e.records).u64(Attr::kObsLost, e.lost);
    b.u64(Attr::kObsSkipped, e.skipped).str(Attr::kMessage, e.why);
}

std::optional<ObserveEnd> decode_end(const Attrs& a) {
    if (!a.u8(Attr::kObsEnd)) return std::nullopt;
    ObserveEnd e;
    e.records = a.u64(Attr::kObsRecords).value_or(0);
    e.lost = a.u64(Attr::kObsLost).value_or(0);
    e.skipped = a.u64(Attr::kObsSkipped).value_or(0);
    e.why = std::string(a.str(Attr::kMessage).value_or(""));
    return e;
}

}  // namespace ingress::ctl
