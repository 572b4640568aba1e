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

namespace ingress::ctl {

inline constexpr uint32_t kMagic = 0x43474e49;  // "INGC" as little-endian bytes
inline constexpr uint16_t kVersion = 1;
inline constexpr std::size_t kHeaderLen = 16;
inline constexpr std::size_t kMaxPayload = 16 * 1024;
inline constexpr std::size_t kMaxFds = 16;

enum class MsgType : uint16_t {
    kHello = 1,       // -> kReply with the daemon's version, worker count, ring geometry
    kOpenUdp = 2,     // bind a UDP endpoint; reply: endpoint id + fds (rings, eventfd)
    kOpenRaw = 3,     // a raw IP endpoint for one protocol
    kOpenTap = 4,     // a packet tap (ETH_P_ALL or one ethertype)
    kJoin = 5,        // IP_ADD_MEMBERSHIP / IP_ADD_SOURCE_MEMBERSHIP / IP_BLOCK_SOURCE
    kLeave = 6,       // IP_DROP_MEMBERSHIP / IP_DROP_SOURCE_MEMBERSHIP / IP_UNBLOCK_SOURCE
    kSetOption = 7,   // one socket-option equivalent on an open endpoint
    kClose = 8,       // close an endpoint
    kStats = 9,       // counters (as the stats printer formats them)
    kReply = 100,     // every answer: kAttrError (0 = ok) + kAttrMessage when not ok
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
};

enum class ParseError : uint8_t {
    kShortHeader,       // fewer than 16 bytes
    kBadMagic,
    kBadVersion,
    kTooLarge,          // payload length above kMaxPayload
    kShortPayload,      // fewer bytes than the header announced
    kBadAttrLength,     // an attribute runs past the payload
    kBadAttrSize,       // a known attribute with the wrong size for its type
    kUnknownType,       // not a message type we know
};
const char* parse_error_str(ParseError e) noexcept;

struct AttrView {
    Attr type;
    std::span<const uint8_t> value;
};

// A parsed message; attribute values point into the buffer it was parsed from.
struct Message {
    MsgType type{};
    uint32_t seq = 0;
    std::vector<AttrView> attrs;

    const AttrView* find(Attr a) const noexcept;
    std::optional<uint8_t> u8(Attr a) const noexcept;
    std::optional<uint16_t> u16(Attr a) const noexcept;
    std::optional<uint32_t> u32(Attr a) const noexcept;
    std::optional<std::string_view> str(Attr a) const noexcept;
    std::vector<uint32_t> all_u32(Attr a) const;
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

// Builds a message.
class Builder {
public:
    Builder(MsgType type, uint32_t seq);
    Builder& u8(Attr a, uint8_t v);
    Builder& u16(Attr a, uint16_t v);
    Builder& u32(Attr a, uint32_t v);
    Builder& str(Attr a, std::string_view s);
    std::vector<uint8_t> finish();

private:
    void put(Attr a, const void* p, std::size_t n);
    std::vector<uint8_t> b_;
};

}  // namespace ingress::ctl
