#include "ctl/protocol.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ingress::ctl {
namespace {

uint16_t get16(const uint8_t* p) noexcept {
    return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
uint32_t get32(const uint8_t* p) noexcept {
    return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
void put16(uint8_t* p, uint16_t v) noexcept {
    p[0] = static_cast<uint8_t>(v);
    p[1] = static_cast<uint8_t>(v >> 8);
}
void put32(uint8_t* p, uint32_t v) noexcept {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t get64(const uint8_t* p) noexcept {
    return get32(p) | (uint64_t{get32(p + 4)} << 32);
}
void put64(uint8_t* p, uint64_t v) noexcept {
    put32(p, static_cast<uint32_t>(v));
    put32(p + 4, static_cast<uint32_t>(v >> 32));
}

// The size each known attribute must have; 0 = variable (strings, nested, arrays).
int expected_size(Attr a) noexcept {
    switch (a) {
        case Attr::kObsCount:
        case Attr::kObsRxNs:
        case Attr::kObsRecords:
        case Attr::kObsLost:
        case Attr::kObsSkipped:
        case Attr::kDelivered:
        case Attr::kDropped:
        case Attr::kTruncated:
        case Attr::kValue:
        case Attr::kHostSyncNs:
        case Attr::kHostDumps:
        case Attr::kHostEvents:
        case Attr::kHostOverflows:
        case Attr::kHostFailures:
        case Attr::kTscHz:
        case Attr::kRmemAlloc:
        case Attr::kErrQueued:
        case Attr::kErrDropped:
        case Attr::kGrowDropped:
            return 8;
        case Attr::kError:
        case Attr::kEndpointId:
        case Attr::kLocalAddr:
        case Attr::kRemoteAddr:
        case Attr::kIfindex:
        case Attr::kIcmpFilter:
        case Attr::kGroup:
        case Attr::kSource:
        case Attr::kWorkers:
        case Attr::kRingSlots:
        case Attr::kSlotSize:
        case Attr::kCursor:
        case Attr::kWorker:
        case Attr::kCounterHash:
        case Attr::kMibCount:
        case Attr::kDropCount:
        case Attr::kPid:
        case Attr::kUid:
        case Attr::kRingUsed:
        case Attr::kRingCapacity:
        case Attr::kPrefix:
        case Attr::kQueue:
        case Attr::kStageCount:
        case Attr::kObsFlags:
        case Attr::kObsTimeout:
        case Attr::kObsRingSlots:
        case Attr::kObsFrameLen:
        case Attr::kTableId:
        case Attr::kHostLinks:
        case Attr::kHostAddrs:
        case Attr::kHostRoutes:
        case Attr::kHostRules:
        case Attr::kHostTables:
        case Attr::kRcvbuf:
        case Attr::kRcvbufForce:
        case Attr::kPmtuDst:
        case Attr::kPmtuMtu:
        case Attr::kPmtuExpires:
            return 4;
        case Attr::kLocalPort:
        case Attr::kRemotePort:
        case Attr::kEthertype:
        case Attr::kFanoutGroup:
        case Attr::kOption:
        case Attr::kVersion:
        case Attr::kPortLo:
        case Attr::kPortHi:
            return 2;
        case Attr::kRecverr:
        case Attr::kPmtuLocked:
        case Attr::kReuseport:
        case Attr::kReuseaddr:
        case Attr::kMulticastAll:
        case Attr::kProtocol:
        case Attr::kTapDgram:
        case Attr::kFanoutMode:
        case Attr::kIgnoreOutgoing:
        case Attr::kFilterMode:
        case Attr::kFdRole:
        case Attr::kKind:
        case Attr::kPrefixLen:
        case Attr::kRouteType:
        case Attr::kScope:
        case Attr::kTable:
        case Attr::kApplied:
        case Attr::kProof:
        case Attr::kObsMode:
        case Attr::kObsStage:
        case Attr::kObsFate:
        case Attr::kObsClosed:
        case Attr::kObsEnd:
        case Attr::kObsDropped:
        case Attr::kBindingDrop:
        case Attr::kNoReuseport:
        case Attr::kBindingOp:
        case Attr::kBindingConfig:
            return 1;
        case Attr::kMessage:
        case Attr::kFilterExpr:
        case Attr::kStatsText:
        case Attr::kWorkerDesc:
        case Attr::kWorkerCounters:
        case Attr::kCounters:
        case Attr::kEndpoint:
        case Attr::kComm:
        case Attr::kIfname:
        case Attr::kMembership:
        case Attr::kRoute:
        case Attr::kPmtuEntry:
        case Attr::kRestart:
        case Attr::kCounterGroup:
        case Attr::kBackend:
        case Attr::kCounterSource:
        case Attr::kNamedCounter:
        case Attr::kCounterName:
        case Attr::kCounterHelp:
        case Attr::kWorkerRuntime:
        case Attr::kRuntimeValues:
        case Attr::kObsFilter:
        case Attr::kObsReason:
        case Attr::kTraceRecord:
        case Attr::kTraceStep:
        case Attr::kObsValues:
        case Attr::kObsFrame:
        case Attr::kCaptureRecord:
        case Attr::kRuleLine:
        case Attr::kHostSource:
        case Attr::kHostSkipped:
        case Attr::kHostKnob:
        case Attr::kBinding:
        case Attr::kLabel:
            return 0;
    }
    return -1;  // unknown: skipped
}

}  // namespace

const char* msg_type_name(MsgType t) noexcept {
    switch (t) {
        case MsgType::kHello:
            return "hello";
        case MsgType::kOpenUdp:
            return "open-udp";
        case MsgType::kOpenRaw:
            return "open-raw";
        case MsgType::kOpenTap:
            return "open-tap";
        case MsgType::kJoin:
            return "join";
        case MsgType::kLeave:
            return "leave";
        case MsgType::kSetOption:
            return "set-option";
        case MsgType::kClose:
            return "close";
        case MsgType::kStats:
            return "stats";
        case MsgType::kStatsQuery:
            return "stats-query";
        case MsgType::kEndpoints:
            return "endpoints";
        case MsgType::kRoutes:
            return "routes";
        case MsgType::kReload:
            return "reload";
        case MsgType::kBackendStats:
            return "backend-stats";
        case MsgType::kRuntime:
            return "runtime";
        case MsgType::kTrace:
            return "trace";
        case MsgType::kCapture:
            return "capture";
        case MsgType::kHost:
            return "host";
        case MsgType::kBindings:
            return "bindings";
        case MsgType::kBindingChange:
            return "binding-change";
        case MsgType::kRegisterLabel:
            return "register-label";
        case MsgType::kPmtu:
            return "pmtu";
        case MsgType::kReply:
            return "reply";
    }
    return "?";
}

bool is_request(uint16_t t) noexcept {
    return (t >= 1 && t <= 18) || (t >= 20 && t <= 23);
}

const char* parse_error_str(ParseError e) noexcept {
    switch (e) {
        case ParseError::kShortHeader:
            return "message shorter than its 16-byte header";
        case ParseError::kBadMagic:
            return "not an ingress control message (bad magic)";
        case ParseError::kBadVersion:
            return "unsupported control protocol version";
        case ParseError::kTooLarge:
            return "message larger than 16 KiB";
        case ParseError::kShortPayload:
            return "message shorter than its header says";
        case ParseError::kBadAttrLength:
            return "attribute runs past the end of the message";
        case ParseError::kBadAttrSize:
            return "attribute has the wrong size for its type";
        case ParseError::kUnknownType:
            return "unknown message type";
    }
    return "?";
}

const AttrView* Attrs::find(Attr a) const noexcept {
    for (const AttrView& v : attrs)
        if (v.type == a) return &v;
    return nullptr;
}
std::optional<uint8_t> Attrs::u8(Attr a) const noexcept {
    const AttrView* v = find(a);
    if (!v || v->value.size() != 1) return std::nullopt;
    return v->value[0];
}
std::optional<uint16_t> Attrs::u16(Attr a) const noexcept {
    const AttrView* v = find(a);
    if (!v || v->value.size() != 2) return std::nullopt;
    return get16(v->value.data());
}
std::optional<uint32_t> Attrs::u32(Attr a) const noexcept {
    const AttrView* v = find(a);
    if (!v || v->value.size() != 4) return std::nullopt;
    return get32(v->value.data());
}
std::optional<std::string_view> Attrs::str(Attr a) const noexcept {
    const AttrView* v = find(a);
    if (!v) return std::nullopt;
    return std::string_view(reinterpret_cast<const char*>(v->value.data()), v->value.size());
}
std::optional<uint64_t> Attrs::u64(Attr a) const noexcept {
    const AttrView* v = find(a);
    if (!v || v->value.size() != 8) return std::nullopt;
    return get64(v->value.data());
}
std::vector<uint32_t> Attrs::all_u32(Attr a) const {
    std::vector<uint32_t> out;
    for (const AttrView& v : attrs)
        if (v.type == a && v.value.size() == 4) out.push_back(get32(v.value.data()));
    return out;
}
std::vector<std::string_view> Attrs::all_str(Attr a) const {
    std::vector<std::string_view> out;
    for (const AttrView& v : attrs)
        if (v.type == a)
            out.emplace_back(reinterpret_cast<const char*>(v.value.data()), v.value.size());
    return out;
}
std::vector<uint64_t> Attrs::u64_array(Attr a) const {
    std::vector<uint64_t> out;
    if (const AttrView* v = find(a))
        for (std::size_t i = 0; i + 8 <= v->value.size(); i += 8)
            out.push_back(get64(&v->value[i]));
    return out;
}
std::optional<std::vector<Attrs>> Attrs::all_nested(Attr a) const {
    std::vector<Attrs> out;
    for (const AttrView& v : attrs) {
        if (v.type != a) continue;
        Attrs n;
        if (parse_attrs(v.value, &n.attrs)) return std::nullopt;
        out.push_back(std::move(n));
    }
    return out;
}

std::optional<std::size_t> message_size(std::span<const uint8_t> buf) noexcept {
    if (buf.size() < kHeaderLen) return std::nullopt;
    return kHeaderLen + get32(buf.data() + 12);
}

uint32_t header_seq(std::span<const uint8_t> buf) noexcept {
    return buf.size() >= 12 ? get32(buf.data() + 8) : 0;
}

ParseResult parse(std::span<const uint8_t> buf) {
    ParseResult r;
    if (buf.size() < kHeaderLen) {
        r.error = ParseError::kShortHeader;
        return r;
    }
    const uint8_t* h = buf.data();
    if (get32(h) != kMagic) {
        r.error = ParseError::kBadMagic;
        return r;
    }
    if (get16(h + 4) != kVersion) {
        r.error = ParseError::kBadVersion;
        return r;
    }
    uint16_t type = get16(h + 6);
    uint32_t len = get32(h + 12);
    if (len > kMaxPayload) {
        r.error = ParseError::kTooLarge;
        return r;
    }
    if (buf.size() - kHeaderLen < len) {
        r.error = ParseError::kShortPayload;
        return r;
    }
    if (!is_request(type) && type != static_cast<uint16_t>(MsgType::kReply)) {
        r.error = ParseError::kUnknownType;
        return r;
    }
    Message m;
    m.type = static_cast<MsgType>(type);
    m.seq = header_seq(buf);
    if (auto e = parse_attrs(buf.subspan(kHeaderLen, len), &m.attrs)) {
        r.error = *e;
        return r;
    }
    r.msg = std::move(m);
    r.consumed = kHeaderLen + len;
    return r;
}

std::optional<ParseError> parse_attrs(std::span<const uint8_t> p, std::vector<AttrView>* out) {
    std::size_t off = 0;
    while (off < p.size()) {
        if (p.size() - off < 4) return ParseError::kBadAttrLength;
        auto at = static_cast<Attr>(get16(&p[off]));
        std::size_t alen = get16(&p[off + 2]);
        if (p.size() - off - 4 < alen) return ParseError::kBadAttrLength;
        int want = expected_size(at);
        if (want > 0 && alen != static_cast<std::size_t>(want)) return ParseError::kBadAttrSize;
        if ((at == Attr::kCounters || at == Attr::kRuntimeValues || at == Attr::kObsValues ||
             at == Attr::kObsFilter) &&
            alen % 8 != 0)
            return ParseError::kBadAttrSize;
        if (want >= 0) out->push_back({at, p.subspan(off + 4, alen)});
        off += 4 + ((alen + 3) & ~std::size_t{3});
    }
    return std::nullopt;
}

Builder::Builder(MsgType type, uint32_t seq) : b_(kHeaderLen, 0) {
    put32(&b_[0], kMagic);
    put16(&b_[4], kVersion);
    put16(&b_[6], static_cast<uint16_t>(type));
    put32(&b_[8], seq);
}

void Builder::put(Attr a, const void* p, std::size_t n) {
    std::size_t off = b_.size();
    b_.resize(off + 4 + ((n + 3) & ~std::size_t{3}), 0);
    put16(&b_[off], static_cast<uint16_t>(a));
    put16(&b_[off + 2], static_cast<uint16_t>(n));
    if (n) std::memcpy(&b_[off + 4], p, n);
}

Builder& Builder::u8(Attr a, uint8_t v) {
    put(a, &v, 1);
    return *this;
}
Builder& Builder::u16(Attr a, uint16_t v) {
    uint8_t b[2];
    put16(b, v);
    put(a, b, 2);
    return *this;
}
Builder& Builder::u32(Attr a, uint32_t v) {
    uint8_t b[4];
    put32(b, v);
    put(a, b, 4);
    return *this;
}
Builder& Builder::u64(Attr a, uint64_t v) {
    uint8_t b[8];
    put64(b, v);
    put(a, b, 8);
    return *this;
}
Builder& Builder::u64_array(Attr a, std::span<const uint64_t> v) {
    std::vector<uint8_t> b(v.size() * 8);
    for (std::size_t i = 0; i < v.size(); ++i) put64(&b[i * 8], v[i]);
    put(a, b.data(), b.size());
    return *this;
}
std::size_t Builder::begin_nested(Attr a) {
    const std::size_t mark = b_.size();
    put(a, nullptr, 0);
    return mark;
}
void Builder::end_nested(std::size_t mark) {
    // Nested attributes are each padded to 4 bytes, so the value's length is the bytes added.
    put16(&b_[mark + 2], static_cast<uint16_t>(b_.size() - mark - 4));
}
Builder& Builder::str(Attr a, std::string_view s) {
    if (s.size() > 4096) s = s.substr(0, 4096);
    put(a, s.data(), s.size());
    return *this;
}

Builder& Builder::bytes(Attr a, std::span<const uint8_t> v) {
    put(a, v.data(), std::min<std::size_t>(v.size(), 0xfffc));
    return *this;
}

std::vector<uint8_t> Builder::finish() {
    put32(&b_[12], static_cast<uint32_t>(b_.size() - kHeaderLen));
    return std::move(b_);
}

// --- requests ----------------------------------------------------------------------------

namespace {

// What open-udp and open-raw share after their own fields: the device, IP_MULTICAST_ALL and
// the ring size.
template <typename O>
std::vector<uint8_t> finish_ip_open(Builder& b, const O& o) {
    if (o.ifindex) b.u32(Attr::kIfindex, o.ifindex);
    b.u8(Attr::kMulticastAll, o.multicast_all);
    if (o.recverr) b.u8(Attr::kRecverr, 1);
    if (o.ring_slots) b.u32(Attr::kRingSlots, o.ring_slots);
    return b.finish();
}

template <typename O>
void decode_ip_open(const Message& m, O* o) {
    o->addr = m.u32(Attr::kLocalAddr).value_or(0);
    o->remote_addr = m.u32(Attr::kRemoteAddr).value_or(0);
    o->ifindex = m.u32(Attr::kIfindex).value_or(0);
    o->multicast_all = m.u8(Attr::kMulticastAll).value_or(1) != 0;
    o->recverr = m.u8(Attr::kRecverr).value_or(0) != 0;
    o->ring_slots = m.u32(Attr::kRingSlots).value_or(0);
}

}  // namespace

std::vector<uint8_t> encode(uint32_t seq, const UdpOpen& o) {
    Builder b(MsgType::kOpenUdp, seq);
    b.u32(Attr::kLocalAddr, o.addr).u16(Attr::kLocalPort, o.port);
    if (o.remote_addr || o.remote_port)
        b.u32(Attr::kRemoteAddr, o.remote_addr).u16(Attr::kRemotePort, o.remote_port);
    b.u8(Attr::kReuseport, o.reuseport).u8(Attr::kReuseaddr, o.reuseaddr);
    if (o.rcvbuf) b.u32(Attr::kRcvbuf, o.rcvbuf);
    return finish_ip_open(b, o);
}

std::optional<DecodeError> decode(const Message& m, UdpOpen* out) {
    UdpOpen o;
    auto port = m.u16(Attr::kLocalPort);
    if (!port) return DecodeError{EINVAL, "open-udp needs local-port"};
    o.port = *port;
    decode_ip_open(m, &o);
    o.remote_port = m.u16(Attr::kRemotePort).value_or(0);
    o.reuseport = m.u8(Attr::kReuseport).value_or(0) != 0;
    o.reuseaddr = m.u8(Attr::kReuseaddr).value_or(0) != 0;
    o.rcvbuf = m.u32(Attr::kRcvbuf).value_or(0);
    *out = o;
    return std::nullopt;
}

std::vector<uint8_t> encode(uint32_t seq, const RawOpen& o) {
    Builder b(MsgType::kOpenRaw, seq);
    b.u8(Attr::kProtocol, o.protocol);
    if (o.addr) b.u32(Attr::kLocalAddr, o.addr);
    if (o.remote_addr) b.u32(Attr::kRemoteAddr, o.remote_addr);
    if (o.icmp_filter) b.u32(Attr::kIcmpFilter, o.icmp_filter);
    return finish_ip_open(b, o);
}

std::optional<DecodeError> decode(const Message& m, RawOpen* out) {
    RawOpen o;
    auto proto = m.u8(Attr::kProtocol);
    if (!proto) return DecodeError{EINVAL, "open-raw needs protocol"};
    o.protocol = *proto;
    decode_ip_open(m, &o);
    o.icmp_filter = m.u32(Attr::kIcmpFilter).value_or(0);
    *out = o;
    return std::nullopt;
}

std::vector<uint8_t> encode(uint32_t seq, const TapOpen& o) {
    Builder b(MsgType::kOpenTap, seq);
    b.u16(Attr::kEthertype, o.ethertype);
    if (o.ifindex) b.u32(Attr::kIfindex, o.ifindex);
    b.u8(Attr::kTapDgram, o.dgram);
    if (!o.filter.empty()) b.str(Attr::kFilterExpr, o.filter);
    if (o.fanout) b.u16(Attr::kFanoutGroup, o.fanout_group).u8(Attr::kFanoutMode, o.fanout_mode);
    if (o.ring_slots) b.u32(Attr::kRingSlots, o.ring_slots);
    if (o.ignore_outgoing) b.u8(Attr::kIgnoreOutgoing, 1);
    return b.finish();
}

std::optional<DecodeError> decode(const Message& m, TapOpen* out) {
    TapOpen o;
    auto et = m.u16(Attr::kEthertype);
    if (!et) return DecodeError{EINVAL, "open-tap needs ethertype"};
    o.ethertype = *et;
    o.ifindex = m.u32(Attr::kIfindex).value_or(0);
    o.dgram = m.u8(Attr::kTapDgram).value_or(0) != 0;
    o.filter = std::string(m.str(Attr::kFilterExpr).value_or(""));
    if (auto g = m.u16(Attr::kFanoutGroup)) {
        o.fanout = true;
        o.fanout_group = *g;
        o.fanout_mode = m.u8(Attr::kFanoutMode).value_or(0);
    }
    o.ring_slots = m.u32(Attr::kRingSlots).value_or(0);
    o.ignore_outgoing = m.u8(Attr::kIgnoreOutgoing).value_or(0) != 0;
    *out = std::move(o);
    return std::nullopt;
}

namespace {

Builder mc_request(MsgType t, uint32_t seq, const McRequest& r) {
    Builder b(t, seq);
    b.u32(Attr::kEndpointId, r.id).u32(Attr::kGroup, r.group);
    if (r.ifindex) b.u32(Attr::kIfindex, r.ifindex);
    return b;
}

// The endpoint id, group, interface and sources of a join or leave.
bool mc_fields(const Message& m, McRequest* out) {
    auto id = m.u32(Attr::kEndpointId);
    auto group = m.u32(Attr::kGroup);
    if (!id || !group) return false;
    out->id = *id;
    out->group = *group;
    out->ifindex = m.u32(Attr::kIfindex).value_or(0);
    out->sources = m.all_u32(Attr::kSource);
    return true;
}

}  // namespace

std::vector<uint8_t> encode_join(uint32_t seq, const McRequest& r) {
    Builder b = mc_request(MsgType::kJoin, seq, r);
    b.u8(Attr::kFilterMode, !r.sources.empty() && r.include ? 1 : 0);
    for (uint32_t s : r.sources) b.u32(Attr::kSource, s);
    return b.finish();
}

std::optional<DecodeError> decode_join(const Message& m, McRequest* out) {
    if (!mc_fields(m, out)) return DecodeError{EINVAL, "join needs endpoint-id and group"};
    out->include = m.u8(Attr::kFilterMode).value_or(0) != 0;
    if (out->include && out->sources.empty())
        return DecodeError{EINVAL, "an INCLUDE join needs at least one source"};
    return std::nullopt;
}

std::vector<uint8_t> encode_leave(uint32_t seq, const McRequest& r) {
    Builder b = mc_request(MsgType::kLeave, seq, r);
    for (uint32_t s : r.sources) b.u32(Attr::kSource, s);
    return b.finish();
}

std::optional<DecodeError> decode_leave(const Message& m, McRequest* out) {
    if (!mc_fields(m, out)) return DecodeError{EINVAL, "leave needs endpoint-id and group"};
    return std::nullopt;
}

std::vector<uint8_t> encode(uint32_t seq, const SetOption& o) {
    Builder b(MsgType::kSetOption, seq);
    b.u32(Attr::kEndpointId, o.id).u16(Attr::kOption, static_cast<uint16_t>(o.option));
    if (o.option == Attr::kMulticastAll || o.option == Attr::kRecverr ||
        o.option == Attr::kIgnoreOutgoing)
        b.u8(o.option, static_cast<uint8_t>(o.value));
    else
        b.u32(o.option, o.value);
    return b.finish();
}

std::optional<DecodeError> decode(const Message& m, SetOption* out) {
    auto id = m.u32(Attr::kEndpointId);
    auto opt = m.u16(Attr::kOption);
    if (!id || !opt) return DecodeError{EINVAL, "set-option needs endpoint-id and option"};
    const Attr a = static_cast<Attr>(*opt);
    std::optional<uint32_t> v;
    if (a == Attr::kMulticastAll || a == Attr::kRecverr || a == Attr::kIgnoreOutgoing) {
        if (auto x = m.u8(a)) v = *x;
    } else if (a == Attr::kIcmpFilter || a == Attr::kIfindex || a == Attr::kRcvbuf ||
               a == Attr::kRcvbufForce || a == Attr::kRemoteAddr) {
        v = m.u32(a);
    } else {
        return DecodeError{ENOPROTOOPT, "option cannot be set on an open endpoint"};
    }
    if (!v) return DecodeError{EINVAL, "set-option: the option's attribute is missing"};
    *out = SetOption{*id, a, *v};
    return std::nullopt;
}

std::vector<uint8_t> encode_close(uint32_t seq, uint32_t id) {
    return Builder(MsgType::kClose, seq).u32(Attr::kEndpointId, id).finish();
}

std::optional<DecodeError> decode_close(const Message& m, uint32_t* id) {
    auto v = m.u32(Attr::kEndpointId);
    if (!v) return DecodeError{EINVAL, "close needs endpoint-id"};
    *id = *v;
    return std::nullopt;
}

void encode_binding(Builder& b, const demux::Binding& x) {
    b.u32(Attr::kPrefix, x.prefix).u8(Attr::kPrefixLen, x.prefix_len);
    b.u16(Attr::kPortLo, x.port_lo).u16(Attr::kPortHi, x.port_hi);
    if (x.drop) b.u8(Attr::kBindingDrop, 1);
    if (!x.label.empty()) b.str(Attr::kLabel, x.label);
    if (x.no_reuseport) b.u8(Attr::kNoReuseport, 1);
}

std::optional<DecodeError> decode_binding(const Attrs& a, demux::Binding* out) {
    auto prefix = a.u32(Attr::kPrefix);
    auto len = a.u8(Attr::kPrefixLen);
    if (!prefix || !len) return DecodeError{EINVAL, "a binding needs prefix and prefix-len"};
    if (*len > 32) return DecodeError{EINVAL, "prefix-len above 32"};
    if (*len < 32 && (*prefix & (0xffffffffu >> *len)))
        return DecodeError{EINVAL, "the prefix has host bits set"};
    demux::Binding b;
    b.prefix = *prefix;
    b.prefix_len = *len;
    b.port_lo = a.u16(Attr::kPortLo).value_or(0);
    b.port_hi = a.u16(Attr::kPortHi).value_or(65535);
    if (b.port_lo > b.port_hi) return DecodeError{EINVAL, "an empty port range (lo > hi)"};
    b.drop = a.u8(Attr::kBindingDrop).value_or(0) != 0;
    b.no_reuseport = a.u8(Attr::kNoReuseport).value_or(0) != 0;
    if (auto l = a.str(Attr::kLabel)) b.label = std::string(*l);
    *out = std::move(b);
    return std::nullopt;
}

std::vector<uint8_t> encode(uint32_t seq, const BindingChange& c) {
    Builder b(MsgType::kBindingChange, seq);
    b.u8(Attr::kBindingOp, c.remove ? 1 : 0);
    encode_binding(b, c.binding);
    return b.finish();
}

std::vector<uint8_t> encode(uint32_t seq, const LabelChange& c) {
    return Builder(MsgType::kRegisterLabel, seq)
        .u8(Attr::kBindingOp, c.remove ? 1 : 0)
        .u32(Attr::kEndpointId, c.id)
        .str(Attr::kLabel, c.label)
        .finish();
}

std::optional<DecodeError> decode(const Message& m, BindingChange* out) {
    out->remove = m.u8(Attr::kBindingOp).value_or(0) == 1;
    if (auto e = decode_binding(m, &out->binding)) return e;
    // A removal names the binding by its prefix and ports alone.
    if (!out->remove && out->binding.drop != out->binding.label.empty())
        return DecodeError{EINVAL, "a binding has a label or is a drop, not both or neither"};
    return std::nullopt;
}

std::optional<DecodeError> decode(const Message& m, LabelChange* out) {
    auto id = m.u32(Attr::kEndpointId);
    auto label = m.str(Attr::kLabel);
    if (!id || !label) return DecodeError{EINVAL, "register-label needs endpoint-id and label"};
    out->remove = m.u8(Attr::kBindingOp).value_or(0) == 1;
    out->id = *id;
    out->label = std::string(*label);
    return std::nullopt;
}

void encode_counter_group(Builder& b, const core::CounterGroup& g) {
    const std::size_t mark = b.begin_nested(Attr::kCounterGroup);
    b.str(Attr::kIfname, g.device)
        .str(Attr::kBackend, g.backend)
        .str(Attr::kCounterSource, g.source);
    if (g.queue >= 0) b.u32(Attr::kQueue, static_cast<uint32_t>(g.queue));
    for (const core::NamedCounter& c : g.counters) {
        const std::size_t cm = b.begin_nested(Attr::kNamedCounter);
        b.str(Attr::kCounterName, c.name)
            .str(Attr::kCounterHelp, c.help)
            .u64(Attr::kValue, c.value);
        b.end_nested(cm);
    }
    b.end_nested(mark);
}

std::optional<core::CounterGroup> decode_counter_group(const Attrs& item) {
    auto device = item.str(Attr::kIfname);
    auto backend = item.str(Attr::kBackend);
    auto source = item.str(Attr::kCounterSource);
    auto counters = item.all_nested(Attr::kNamedCounter);
    if (!device || !backend || !source || !counters) return std::nullopt;
    core::CounterGroup g{.device = std::string(*device),
                         .backend = std::string(*backend),
                         .source = std::string(*source),
                         .queue = -1,
                         .counters = {}};
    if (auto q = item.u32(Attr::kQueue)) g.queue = static_cast<int32_t>(*q & 0x7fffffff);
    for (const Attrs& c : *counters) {
        auto name = c.str(Attr::kCounterName);
        auto value = c.u64(Attr::kValue);
        if (!name || !value) return std::nullopt;
        g.counters.push_back(
            {std::string(*name), std::string(c.str(Attr::kCounterHelp).value_or("")), *value});
    }
    return g;
}

}  // namespace ingress::ctl
