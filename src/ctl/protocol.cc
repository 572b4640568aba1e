#include "ctl/protocol.h"

#include <cstring>

namespace ingress::ctl {
namespace {

uint16_t get16(const uint8_t* p) noexcept { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
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
uint64_t get64(const uint8_t* p) noexcept { return get32(p) | (uint64_t{get32(p + 4)} << 32); }
void put64(uint8_t* p, uint64_t v) noexcept {
    put32(p, static_cast<uint32_t>(v));
    put32(p + 4, static_cast<uint32_t>(v >> 32));
}

// The size each known attribute must have; 0 = variable (strings, nested, arrays).
int expected_size(Attr a) noexcept {
    switch (a) {
    case Attr::kDelivered: case Attr::kDropped: case Attr::kTruncated:
        return 8;
    case Attr::kError: case Attr::kEndpointId: case Attr::kLocalAddr: case Attr::kRemoteAddr:
    case Attr::kIfindex: case Attr::kIcmpFilter: case Attr::kGroup: case Attr::kSource:
    case Attr::kWorkers: case Attr::kRingSlots: case Attr::kSlotSize: case Attr::kCursor:
    case Attr::kWorker: case Attr::kCounterHash: case Attr::kMibCount: case Attr::kDropCount:
    case Attr::kPid: case Attr::kUid: case Attr::kRingUsed: case Attr::kRingCapacity:
    case Attr::kPrefix:
        return 4;
    case Attr::kLocalPort: case Attr::kRemotePort: case Attr::kEthertype:
    case Attr::kFanoutGroup: case Attr::kOption: case Attr::kVersion:
        return 2;
    case Attr::kReuseport: case Attr::kReuseaddr: case Attr::kMulticastAll:
    case Attr::kProtocol: case Attr::kTapDgram: case Attr::kFanoutMode:
    case Attr::kFilterMode: case Attr::kFdRole: case Attr::kKind: case Attr::kPrefixLen:
    case Attr::kRouteType: case Attr::kScope: case Attr::kTable: case Attr::kApplied:
        return 1;
    case Attr::kMessage: case Attr::kFilterExpr: case Attr::kStatsText: case Attr::kWorkerDesc:
    case Attr::kWorkerCounters: case Attr::kCounters: case Attr::kEndpoint: case Attr::kComm:
    case Attr::kIfname: case Attr::kMembership: case Attr::kRoute: case Attr::kRestart:
        return 0;
    }
    return -1;  // unknown: skipped
}

}  // namespace

const char* msg_type_name(MsgType t) noexcept {
    switch (t) {
    case MsgType::kHello: return "hello";
    case MsgType::kOpenUdp: return "open-udp";
    case MsgType::kOpenRaw: return "open-raw";
    case MsgType::kOpenTap: return "open-tap";
    case MsgType::kJoin: return "join";
    case MsgType::kLeave: return "leave";
    case MsgType::kSetOption: return "set-option";
    case MsgType::kClose: return "close";
    case MsgType::kStats: return "stats";
    case MsgType::kStatsQuery: return "stats-query";
    case MsgType::kEndpoints: return "endpoints";
    case MsgType::kRoutes: return "routes";
    case MsgType::kReload: return "reload";
    case MsgType::kReply: return "reply";
    }
    return "?";
}

bool is_request(uint16_t t) noexcept { return t >= 1 && t <= 13; }

const char* parse_error_str(ParseError e) noexcept {
    switch (e) {
    case ParseError::kShortHeader: return "message shorter than its 16-byte header";
    case ParseError::kBadMagic: return "not an ingress control message (bad magic)";
    case ParseError::kBadVersion: return "unsupported control protocol version";
    case ParseError::kTooLarge: return "message larger than 16 KiB";
    case ParseError::kShortPayload: return "message shorter than its header says";
    case ParseError::kBadAttrLength: return "attribute runs past the end of the message";
    case ParseError::kBadAttrSize: return "attribute has the wrong size for its type";
    case ParseError::kUnknownType: return "unknown message type";
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
        for (std::size_t i = 0; i + 8 <= v->value.size(); i += 8) out.push_back(get64(&v->value[i]));
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
    m.seq = get32(h + 8);
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
        if (at == Attr::kCounters && alen % 8 != 0) return ParseError::kBadAttrSize;
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

std::vector<uint8_t> Builder::finish() {
    put32(&b_[12], static_cast<uint32_t>(b_.size() - kHeaderLen));
    return std::move(b_);
}

}  // namespace ingress::ctl
