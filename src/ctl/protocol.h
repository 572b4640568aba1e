// The control protocol between apps (libingress) and ingressd, over the UNIX stream socket
// (default /run/ingressd/ctl.sock). Documented in docs/control-protocol.md.
//
// Every message is a 16-byte header followed by attributes:
//
//   header:    u32 magic "INGC" | u16 version | u16 type | u32 seq | u32 payload length
//   attribute: u16 type | u16 length | value (length bytes) | zero padding to 4 bytes
//
// All integers little-endian on the wire (both ends are on the same host; the byte order is
// fixed anyway so a capture of the socket reads the same everywhere). A reply carries the
// request's seq. File descriptors (ring regions, the wakeup eventfd) travel beside a reply
// as SCM_RIGHTS ancillary data; the reply's attributes say what each fd is.
//
// Parsing is strict and never trusts the peer: a length that runs past the message, an
// attribute of the wrong size for its type, an unknown message type, a payload above
// kMaxPayload — each is a typed error, and the server answers it (or closes the
// connection when the framing itself is broken). Unknown attribute types are skipped, so
// a newer client can talk to an older daemon within one protocol version.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "client/include/ingress/options.h"
#include "core/stats_format.h"
#include "demux/sk_lookup.h"

namespace ingress::ctl {

inline constexpr uint32_t kMagic = 0x43474e49;  // "INGC" as little-endian bytes
inline constexpr uint16_t kVersion = 1;
inline constexpr std::size_t kHeaderLen = 16;
inline constexpr std::size_t kMaxPayload = 16 * 1024;
inline constexpr std::size_t kMaxFds = 16;

enum class MsgType : uint16_t {
    kHello = 1,      // -> kReply with the daemon's version, worker count, ring geometry
    kOpenUdp = 2,    // bind a UDP endpoint; reply: endpoint id + fds (rings, eventfd)
    kOpenRaw = 3,    // a raw IP endpoint for one protocol
    kOpenTap = 4,    // a packet tap (ETH_P_ALL or one ethertype)
    kJoin = 5,       // IP_ADD_MEMBERSHIP / IP_ADD_SOURCE_MEMBERSHIP / IP_BLOCK_SOURCE
    kLeave = 6,      // IP_DROP_MEMBERSHIP / IP_DROP_SOURCE_MEMBERSHIP / IP_UNBLOCK_SOURCE
    kSetOption = 7,  // one socket-option equivalent on an open endpoint
    kClose = 8,      // close an endpoint
    kStats = 9,      // counters (as the stats printer formats them)
    // The operator's requests (ingressctl). New types within version 1: an older daemon
    // answers them EPROTO "unknown message type", which ingressctl reports as such.
    kStatsQuery = 10,    // per-worker counters as u64 arrays in counters.def order (paged)
    kEndpoints = 11,     // every endpoint with owner, binding, memberships, ring fill (paged)
    kRoutes = 12,        // the FIB the workers use: every table's entries (paged), the rules
    kReload = 13,        // SIGHUP: re-read the config file and apply it (privileged)
    kBackendStats = 14,  // counters outside the workers': backend, XDP_STATISTICS, rte_eth_stats
    kRuntime = 15,       // per-worker runtime profile (worker/runtime.h) as u64 arrays (paged)
    // A session: one ok reply, then replies with the same seq carrying records, then one
    // with kObsEnd (ctl/observe_codec.h, docs/control-protocol.md).
    kTrace = 16,    // the next frames that match, stage by stage (ingressctl trace)
    kCapture = 17,  // copies of dropped frames or of one interface's (ingressctl capture)
    kHost = 18,     // what the route tables were built from: kernel or config, when, counts
    // 20-22: issue 20 (bindings: the socket lookup as tubular's sk_lookup bindings).
    kBindings = 20,       // every binding with its label's live endpoints (paged)
    kBindingChange = 21,  // add (replace) or remove one binding (privileged: policy.bindings)
    kRegisterLabel = 22,  // register / unregister an endpoint under a label (policy.register)
    // 23-24: issue 17 (ICMP errors to endpoints, PMTU).
    kPmtu = 23,    // the path MTUs "fragmentation needed" taught the workers (paged)
    kReply = 100,  // every answer: kAttrError (0 = ok) + kAttrMessage when not ok
};
const char* msg_type_name(MsgType t) noexcept;
bool is_request(uint16_t t) noexcept;

enum class Attr : uint16_t {
    kError = 1,          // u32: 0 or an errno value (EADDRINUSE, EACCES, EINVAL ...)
    kMessage = 2,        // string: human-readable reason for an error
    kEndpointId = 3,     // u32
    kLocalAddr = 10,     // u32, host order: bind() address (0 = INADDR_ANY)
    kLocalPort = 11,     // u16: bind() port
    kRemoteAddr = 12,    // u32: connect() address
    kRemotePort = 13,    // u16: connect() port
    kIfindex = 14,       // u32: SO_BINDTODEVICE, or a membership's imr_ifindex
    kReuseport = 15,     // u8: SO_REUSEPORT
    kReuseaddr = 16,     // u8: SO_REUSEADDR
    kMulticastAll = 17,  // u8: IP_MULTICAST_ALL
    kProtocol = 18,      // u8: raw endpoint IP protocol
    kIcmpFilter = 19,    // u32: ICMP_FILTER mask
    kEthertype = 20,     // u16: tap protocol (0x0003 = ETH_P_ALL)
    kTapDgram = 21,      // u8: 1 = SOCK_DGRAM framing, 0 = SOCK_RAW
    kFilterExpr = 22,    // string: pcap expression (SO_ATTACH_FILTER)
    kFanoutGroup = 23,   // u16: PACKET_FANOUT group id
    kFanoutMode = 24,    // u8: PACKET_FANOUT_HASH (0) / PACKET_FANOUT_LB (1)
    kGroup = 30,         // u32: multicast group
    kSource = 31,        // u32: a source address (repeatable)
    kFilterMode = 32,    // u8: MCAST_INCLUDE (1) / MCAST_EXCLUDE (0)
    kOption = 40,        // u16: which option kSetOption sets (an Attr value)
    kVersion = 50,       // u16: protocol version (hello)
    kWorkers = 51,       // u32: number of workers = rings per endpoint
    kRingSlots = 52,     // u32: slots per ring (request: wish; reply: granted)
    kSlotSize = 53,      // u32: bytes per slot
    kFdRole = 54,        // u8, repeated once per passed fd, in fd order: 0 ring, 1 eventfd
    kStatsText = 60,     // string: counters in nstat form
    // Operator requests. A list reply carries as many items as fit and, when more remain,
    // kCursor: the client repeats the request with that cursor (docs/control-protocol.md).
    kCursor = 55,          // u32: request: first item; reply: the next one (absent: done)
    kWorker = 56,          // u32: worker index
    kWorkerDesc = 57,      // string: interface, queue, core, zero-copy or copy
    kWorkerCounters = 58,  // nested: worker, worker-desc, counters
    kCounterHash = 61,     // u32: core::counter_table_hash() (names and order of the table)
    kMibCount = 62,        // u32: core::kMibCount
    kDropCount = 63,       // u32: core::kDropReasonCount
    kCounters = 64,        // u64 array (8n bytes): core::counter_array() order
    kTscHz = 65,           // u64: the workers' TSC ticks per second (runtime)
    kWorkerRuntime = 66,   // nested: worker, worker-desc, runtime-values
    kRuntimeValues = 67,   // u64 array: worker::runtime_array() order
    kStageCount = 68,      // u32: worker::kStageCount (the stages the array holds)
    kEndpoint = 70,        // nested: one endpoint (kind, owner, binding, rings)
    kKind = 71,            // u8: 0 udp, 1 raw, 2 tap
    kPid = 72,             // u32: owner pid (SO_PEERCRED at connect)
    kUid = 73,             // u32: owner uid
    kComm = 74,            // string: /proc/PID/comm at connect
    kIfname = 75,          // string: the name of kIfindex
    kMembership = 76,      // nested: group, ifindex, filter-mode, source...
    kRingUsed = 77,        // u32: slots filled, summed over the endpoint's rings
    kRingCapacity = 78,    // u32: slots, summed over the endpoint's rings
    kDelivered = 79,       // u64: delivered, summed over the rings (the daemon's count)
    kDropped = 80,         // u64: dropped, ring full, summed (the daemon's count)
    kTruncated = 81,       // u64: truncated, summed (the daemon's count)
    kRoute = 90,           // nested: one FIB entry
    kPrefix = 91,          // u32: route prefix, host order
    kPrefixLen = 92,       // u8
    kRouteType = 93,       // u8: RTN_* (ipv4::RouteType)
    kScope = 94,           // u8: RT_SCOPE_*
    kTable = 95,           // u8: rtm_table (RT_TABLE_COMPAT 252 for ids beyond 255)
    kApplied = 96,         // u8: reload: 1 applied, 0 nothing applied (see kRestart)
    kRestart = 97,         // string, repeatable: a change that needs a restart
    kCounterGroup = 98,    // nested: ifname, backend, counter-source, [queue], named-counter...
    kBackend = 99,         // string: "af_xdp", "dpdk"
    kCounterSource = 100,  // string: "backend", "xdp_statistics", "rte_eth_stats", ...
    kQueue = 101,          // u32: the interface's queue (absent: the whole interface)
    kNamedCounter = 102,   // nested: counter-name, counter-help, value
    kCounterName = 103,    // string: the source's field name ("rx_ring_full", "imissed")
    kCounterHelp = 104,    // string: what it counts
    kValue = 105,          // u64
    // Privilege from credentials the kernel vouches for (ctl/cap_proof.h, ctl/policy.h).
    kRcvbuf = 151,       // u32: open-udp and set-option: SO_RCVBUF as given to setsockopt
                         // (absent: net.core.rmem_default); endpoints: the sk_rcvbuf in effect
    kRmemAlloc = 152,    // u64: endpoints: bytes charged for queued datagrams (sk_rmem_alloc)
    kRcvbufForce = 181,  // u32: set-option: SO_RCVBUFFORCE (UDP; needs CAP_NET_ADMIN: a kProof)
    kGrowDropped = 182,  // u64: endpoints: datagrams and error-queue entries dropped as ring
                         // full while a raised budget waited for the ring to grow
    // ICMP errors to endpoints (demux/icmp_err.h) and PMTU (ipv4/pmtu.h): 161-170.
    kRecverr = 161,      // u8: open-udp, open-raw and set-option: IP_RECVERR (absent: off);
                         // endpoints: on
    kErrQueued = 162,    // u64: endpoints: error-queue entries queued
    kErrDropped = 163,   // u64: endpoints: error-queue entries lost (queue full)
    kPmtuDst = 164,      // u32: pmtu reply: a destination
    kPmtuMtu = 165,      // u32: pmtu reply: its path MTU
    kPmtuExpires = 166,  // u32: pmtu reply: seconds until it expires
    kPmtuLocked = 167,   // u8: pmtu reply: 1 = locked (reported below min_pmtu)
    kPmtuEntry = 168,    // nested: pmtu reply: pmtu-dst, pmtu-mtu, pmtu-expires, pmtu-locked
    kProof = 150,        // u8, repeatable, one per fd passed with the request, in fd order: the
                         // capability (CAP_* number) that socket proves
    // trace / capture (ctl/observe_codec.h)
    kObsCount = 106,      // u64: records to deliver (0: until the client stops)
    kObsFilter = 107,     // bytes: classic BPF, 8 bytes per instruction (struct bpf_insn)
    kObsFlags = 108,      // u32: bit 0 drops only (trace)
    kObsTimeout = 109,    // u32: milliseconds until the session ends (0: none)
    kObsRingSlots = 110,  // u32: records per worker ring (0: the default)
    kObsReason = 111,     // string: a drop reason's name (capture: repeatable; records)
    kObsMode = 112,       // u8: worker::ObserveMode
    kTraceRecord = 113,   // nested: one traced frame
    kTraceStep = 114,     // nested: stage, fate, [reason], values
    kObsStage = 115,      // u8: worker::TraceStage
    kObsFate = 116,    // u8: core::Verdict::Kind (0 continue, 1 drop, 2 pass, 3 held, 4 delivered)
    kObsValues = 117,  // u64 array: the stage's values (worker/observe.h)
    kObsRxNs = 118,    // u64: the frame's receive time (backend clock, ns)
    kObsFrameLen = 119,    // u32: the frame's length
    kObsFrame = 120,       // bytes: the frame's first bytes
    kObsClosed = 121,      // u8: 1 when the frame reached its fate in this worker
    kCaptureRecord = 122,  // nested: one frame copy
    kObsEnd = 123,         // u8: the session is over (last reply)
    kObsRecords = 124,     // u64: records delivered
    kObsLost = 125,        // u64: records or copies a full ring refused
    kObsSkipped = 126,     // u64: matching frames over a burst's trace limit
    kObsDropped = 127,     // u8: the copy is of a dropped frame
    // 130-149: issue 16 (policy routing, the host mirror).
    kTableId = 130,   // u32: the route's table (any id; kTable carries RT_TABLE_COMPAT beyond 255)
    kRuleLine = 131,  // string, repeatable: routes: one policy rule as `ip rule show` prints it
    kHostSource = 132,     // string: host: "kernel" (netlink mirror) or "config" (the file)
    kHostLinks = 133,      // u32: interfaces in the tables
    kHostAddrs = 134,      // u32: IPv4 addresses
    kHostRoutes = 135,     // u32: configured/mirrored routes (derived ones not counted)
    kHostRules = 136,      // u32: rules in effect
    kHostTables = 137,     // u32: route tables with routes
    kHostSyncNs = 138,     // u64: CLOCK_REALTIME ns of the last dump applied (0: none)
    kHostDumps = 139,      // u64: dumps applied (start, notifications, resyncs)
    kHostEvents = 140,     // u64: notifications read
    kHostOverflows = 141,  // u64: subscription overflows (ENOBUFS), each answered by a dump
    kHostFailures = 142,   // u64: dumps that failed (state kept, retried)
    kHostSkipped = 143,    // string, repeatable: "what count" left to the kernel
    // 153-160: issue 20 (bindings). A binding's prefix travels as kPrefix + kPrefixLen.
    kBinding = 153,         // nested: prefix, prefix-len, ports, label | drop, flags, endpoints
    kLabel = 154,           // string: a label (1..64 bytes)
    kPortLo = 155,          // u16: first port of the range
    kPortHi = 156,          // u16: last port of the range
    kBindingDrop = 157,     // u8: 1 = SK_DROP (no label)
    kNoReuseport = 158,     // u8: 1 = BPF_SK_LOOKUP_F_NO_REUSEPORT
    kBindingOp = 159,       // u8: binding-change / register-label: 0 add, 1 remove
    kBindingConfig = 160,   // u8: bindings: 1 = from the file's bindings:, 0 = added at run time
    kIgnoreOutgoing = 176,  // u8: PACKET_IGNORE_OUTGOING (tap; open-tap or set-option)
    kHostKnob = 191,        // string, repeatable: "net.ipv4.NAME VALUE" the workers use now
};

enum class ParseError : uint8_t {
    kShortHeader,  // fewer than 16 bytes
    kBadMagic,
    kBadVersion,
    kTooLarge,       // payload length above kMaxPayload
    kShortPayload,   // fewer bytes than the header announced
    kBadAttrLength,  // an attribute runs past the payload
    kBadAttrSize,    // a known attribute with the wrong size for its type
    kUnknownType,    // not a message type we know
};
const char* parse_error_str(ParseError e) noexcept;

struct AttrView {
    Attr type;
    std::span<const uint8_t> value;
};

// A list of attributes (a message's payload, or a nested attribute's value); values point
// into the buffer they were parsed from.
struct Attrs {
    std::vector<AttrView> attrs;

    const AttrView* find(Attr a) const noexcept;
    std::optional<uint8_t> u8(Attr a) const noexcept;
    std::optional<uint16_t> u16(Attr a) const noexcept;
    std::optional<uint32_t> u32(Attr a) const noexcept;
    std::optional<uint64_t> u64(Attr a) const noexcept;
    std::optional<std::string_view> str(Attr a) const noexcept;
    std::vector<uint32_t> all_u32(Attr a) const;
    std::vector<std::string_view> all_str(Attr a) const;
    // The u64 array of a kCounters attribute (its size is checked when parsed).
    std::vector<uint64_t> u64_array(Attr a) const;
    // Every nested attribute of type `a`, each parsed with the same strictness as a message;
    // nullopt if any of them is malformed.
    std::optional<std::vector<Attrs>> all_nested(Attr a) const;
};

// A parsed message.
struct Message : Attrs {
    MsgType type{};
    uint32_t seq = 0;
};

struct ParseResult {
    std::optional<Message> msg;
    ParseError error{};
    std::size_t consumed = 0;  // bytes of the buffer this message used (when msg is set)
};

// How many bytes the message starting at `buf` needs in total, once its header is in;
// nullopt while fewer than 16 bytes are available. Used to frame a stream.
std::optional<std::size_t> message_size(std::span<const uint8_t> buf) noexcept;
ParseResult parse(std::span<const uint8_t> buf);
// The header's seq of a message that may not parse (a reply to a malformed request still
// carries its seq; a client matches replies to its request); 0 when the header is short.
uint32_t header_seq(std::span<const uint8_t> buf) noexcept;

// Parses `p` as a sequence of attributes into *out (strict as parse()); nullopt when
// well formed, else the error.
std::optional<ParseError> parse_attrs(std::span<const uint8_t> p, std::vector<AttrView>* out);

// Builds a message.
class Builder {
public:
    Builder(MsgType type, uint32_t seq);
    // Appends to a finished message (its header's length is fixed again by finish()).
    explicit Builder(std::vector<uint8_t> finished) : b_(std::move(finished)) {}
    Builder& u8(Attr a, uint8_t v);
    Builder& u16(Attr a, uint16_t v);
    Builder& u32(Attr a, uint32_t v);
    Builder& u64(Attr a, uint64_t v);
    Builder& str(Attr a, std::string_view s);
    Builder& u64_array(Attr a, std::span<const uint64_t> v);
    Builder& bytes(Attr a, std::span<const uint8_t> v);  // opaque bytes (a frame, a program)
    // A nested attribute: begin_nested() returns a mark, attributes added until
    // end_nested(mark) are its value.
    std::size_t begin_nested(Attr a);
    void end_nested(std::size_t mark);
    // Bytes so far (header included): a list reply stops adding items before kMaxPayload.
    std::size_t size() const noexcept { return b_.size(); }
    std::vector<uint8_t> finish();

private:
    void put(Attr a, const void* p, std::size_t n);
    std::vector<uint8_t> b_;
};

// --- requests: one encoder (the client) and one decoder (the server) per type ----------

// The open requests carry libingress's options, field for field: open-udp is
// socket(SOCK_DGRAM) + bind() (+ connect()), open-raw socket(SOCK_RAW, protocol), open-tap
// socket(AF_PACKET), each with its options.
using UdpOpen = ::ingress::UdpOptions;
using RawOpen = ::ingress::RawOptions;
using TapOpen = ::ingress::TapOptions;

// join / leave: IP_ADD_MEMBERSHIP (no sources), IP_ADD_SOURCE_MEMBERSHIP (include, sources),
// IP_BLOCK_SOURCE (exclude, sources); leave: IP_DROP_MEMBERSHIP (no sources), else
// IP_DROP_SOURCE_MEMBERSHIP / IP_UNBLOCK_SOURCE.
struct McRequest {
    uint32_t id = 0;
    uint32_t group = 0;
    uint32_t ifindex = 0;  // imr_ifindex, 0 = let the daemon choose
    bool include = false;  // join only: the filter mode (INCLUDE needs sources)
    std::vector<uint32_t> sources;
};

// set-option: kMulticastAll (u8), kRecverr (u8), kIcmpFilter (u32), kIfindex (u32), kRcvbuf
// (u32), kRcvbufForce (u32, with a CAP_NET_ADMIN kProof) or kRemoteAddr (u32: connect() on a raw
// endpoint; 0 = connect(AF_UNSPEC)) on an open endpoint.
struct SetOption {
    uint32_t id = 0;
    Attr option{};
    uint32_t value = 0;
};

// binding-change: add or remove one binding (demux/sk_lookup.h).
struct BindingChange {
    bool remove = false;
    demux::Binding binding;
};
// register-label: the endpoint `id` under `label` (or off it).
struct LabelChange {
    bool remove = false;
    uint32_t id = 0;
    std::string label;
};

// Why a request could not be decoded: the errno and message the server answers.
struct DecodeError {
    int err = 0;
    const char* message = "";
};

std::vector<uint8_t> encode(uint32_t seq, const UdpOpen& o);
std::vector<uint8_t> encode(uint32_t seq, const RawOpen& o);
std::vector<uint8_t> encode(uint32_t seq, const TapOpen& o);
std::vector<uint8_t> encode_join(uint32_t seq, const McRequest& r);
std::vector<uint8_t> encode_leave(uint32_t seq, const McRequest& r);
std::vector<uint8_t> encode(uint32_t seq, const SetOption& o);
std::vector<uint8_t> encode_close(uint32_t seq, uint32_t id);
std::vector<uint8_t> encode(uint32_t seq, const BindingChange& c);
std::vector<uint8_t> encode(uint32_t seq, const LabelChange& c);
// One binding's fields (inside a kBinding nest, or a binding-change) and back.
void encode_binding(Builder& b, const demux::Binding& x);
std::optional<DecodeError> decode_binding(const Attrs& a, demux::Binding* out);

// The decoders fill *out from a request of their type; nullopt when it is well formed.
std::optional<DecodeError> decode(const Message& m, UdpOpen* out);
std::optional<DecodeError> decode(const Message& m, RawOpen* out);
std::optional<DecodeError> decode(const Message& m, TapOpen* out);
std::optional<DecodeError> decode_join(const Message& m, McRequest* out);
std::optional<DecodeError> decode_leave(const Message& m, McRequest* out);
std::optional<DecodeError> decode(const Message& m, SetOption* out);
std::optional<DecodeError> decode_close(const Message& m, uint32_t* id);
std::optional<DecodeError> decode(const Message& m, BindingChange* out);
std::optional<DecodeError> decode(const Message& m, LabelChange* out);

// backend-stats items: a core::CounterGroup as one kCounterGroup attribute, and back
// (nullopt when an item or one of its counters is malformed or incomplete).
void encode_counter_group(Builder& b, const core::CounterGroup& g);
std::optional<core::CounterGroup> decode_counter_group(const Attrs& item);

}  // namespace ingress::ctl
