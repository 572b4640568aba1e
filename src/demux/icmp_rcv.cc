#include "demux/icmp_rcv.h"

#include <algorithm>
#include <array>

#include "demux/icmp_err.h"
#include "ipv4/route_type.h"
#include "wire/bytes.h"
#include "wire/checksum.h"
#include "wire/icmp.h"

namespace ingress::demux {

using core::DropReason;
using core::Mib;
using core::Verdict;

namespace {

constexpr std::size_t kIpHeader = 20;

static_assert(static_cast<int>(Mib::kIcmpMsgInType18) - static_cast<int>(Mib::kIcmpMsgInType0) ==
                  wire::kNrIcmpTypes,
              "IcmpMsg InType0..InType18 must be contiguous in counters.def");

bool is_error_type(uint8_t t) noexcept {
    return t == wire::kIcmpDestUnreach || t == wire::kIcmpSourceQuench ||
           t == wire::kIcmpRedirect || t == wire::kIcmpTimeExceeded ||
           t == wire::kIcmpParameterProb;
}

// ICMPMSGIN_INC_STATS(): IcmpMsgInTypeN, and the Icmp InX counter /proc/net/snmp derives
// from it (icmpmibmap[]).
void count_in_type(uint8_t type, core::CounterBlock& c) noexcept {
    if (type > wire::kNrIcmpTypes) return;  // no IcmpMsg slot here for types above 18
    c.mib(static_cast<Mib>(static_cast<int>(Mib::kIcmpMsgInType0) + type));
    switch (type) {
        case 0:
            c.mib(Mib::kIcmpInEchoReps);
            break;
        case 3:
            c.mib(Mib::kIcmpInDestUnreachs);
            break;
        case 4:
            c.mib(Mib::kIcmpInSrcQuenchs);
            break;
        case 5:
            c.mib(Mib::kIcmpInRedirects);
            break;
        case 8:
            c.mib(Mib::kIcmpInEchos);
            break;
        case 11:
            c.mib(Mib::kIcmpInTimeExcds);
            break;
        case 12:
            c.mib(Mib::kIcmpInParmProbs);
            break;
        case 13:
            c.mib(Mib::kIcmpInTimestamps);
            break;
        case 14:
            c.mib(Mib::kIcmpInTimestampReps);
            break;
        case 17:
            c.mib(Mib::kIcmpInAddrMasks);
            break;
        case 18:
            c.mib(Mib::kIcmpInAddrMaskReps);
            break;
        default:
            break;
    }
}

Verdict in_error(core::CounterBlock& c, DropReason r) noexcept {
    c.mib(Mib::kIcmpInErrors);
    return Verdict::drop(r);
}

// The trace's outcome (observed bursts only), passing `v` through.
Verdict traced(DemuxEnv& env, IcmpRcvOutcome o, Verdict v) noexcept {
    if (env.icmp_trace) [[unlikely]]
        env.icmp_trace->outcome = o;
    return v;
}

IcmpRcvOutcome reply_outcome(ipv4::IcmpResult r) noexcept {
    switch (r) {
        case ipv4::IcmpResult::kQueued:
            return IcmpRcvOutcome::kReplySent;
        case ipv4::IcmpResult::kRateLimited:
            return IcmpRcvOutcome::kReplyRateLimited;
        case ipv4::IcmpResult::kNoBuffer:
            return IcmpRcvOutcome::kReplyNoBuffer;
        case ipv4::IcmpResult::kNotAllowed:
            break;
    }
    return IcmpRcvOutcome::kReplyNotSent;
}

// icmp_echo(): the reply carries the request's identifier, sequence and data.
Verdict icmp_echo(const core::Packet& pkt, wire::IcmpView icmp, DemuxEnv& env) noexcept {
    if (!env.icmp) return traced(env, IcmpRcvOutcome::kReplyNotSent, Verdict::delivered());
    if (env.icmp->config().icmp_echo_ignore_all)
        return traced(env, IcmpRcvOutcome::kIgnoredEcho, Verdict::delivered());
    const ipv4::IcmpResult r =
        env.icmp->reply(pkt, wire::kIcmpEchoReply, icmp.code(), icmp.rest(), icmp.body(),
                        env.icmp->spec_dst(pkt), env.now_ns, env.c, env.ip_opt);
    return traced(env, reply_outcome(r), Verdict::delivered());
}

// icmp_timestamp(): originate time from the request, receive and transmit time now.
Verdict icmp_timestamp(const core::Packet& pkt, wire::IcmpView icmp, DemuxEnv& env) noexcept {
    if (icmp.body().size() < 4)
        return traced(env, IcmpRcvOutcome::kTooShort, in_error(env.c, DropReason::kPktTooSmall));
    if (!env.icmp) return traced(env, IcmpRcvOutcome::kReplyNotSent, Verdict::delivered());
    std::array<uint8_t, 12> times{};
    std::copy_n(icmp.body().begin(), 4, times.begin());
    const uint32_t now = env.icmp->wall_ms();
    wire::store_be32(&times[4], now);
    wire::store_be32(&times[8], now);
    const ipv4::IcmpResult r =
        env.icmp->reply(pkt, wire::kIcmpTimestampReply, 0, icmp.rest(), times,
                        env.icmp->spec_dst(pkt), env.now_ns, env.c, env.ip_opt);
    return traced(env, reply_outcome(r), Verdict::delivered());
}

// icmp_unreach(): the checks on the quoted datagram, then icmp_socket_deliver().
Verdict icmp_unreach(const core::Packet& pkt, wire::IcmpView icmp, DemuxEnv& env) noexcept {
    const auto quoted = icmp.body();
    // "Incomplete header?"
    if (quoted.size() < kIpHeader) return in_error(env.c, DropReason::kNotSpecified);
    const std::size_t ihl = (quoted[0] & 0x0f) * 4u;
    if (ihl < kIpHeader) return in_error(env.c, DropReason::kIpInhdr);  // "Mangled header"
    switch (icmp.type()) {
        case wire::kIcmpDestUnreach:
            if (icmp.code() > wire::kNrIcmpUnreach) return Verdict::delivered();
            break;
        case wire::kIcmpTimeExceeded:
            if (icmp.code() == wire::kIcmpExcFragtime) return Verdict::delivered();
            break;
        default:
            break;
    }
    // "Check the other end isn't violating RFC 1122": an error about a datagram we would
    // have sent to a broadcast address (inet_addr_type_dev_table() == RTN_BROADCAST).
    const wire::Ipv4Addr inner_dst = wire::load_be32(&quoted[16]);
    if (env.icmp && !env.icmp->config().icmp_ignore_bogus_error_responses &&
        env.icmp->is_broadcast(inner_dst))
        return Verdict::delivered();
    // icmp_socket_deliver(): the full quoted header plus 8 bytes.
    if (quoted.size() < ihl + 8) {
        env.c.mib(Mib::kIcmpInErrors);
        return Verdict::delivered();
    }
    // icmp_unreach()'s info: the next-hop MTU of "fragmentation needed" (ip_no_pmtu_disc
    // 0), the pointer of a parameter problem.
    IcmpError e{icmp.type(), icmp.code(), 0, quoted, ihl};
    if (e.type == wire::kIcmpDestUnreach && e.code == wire::kIcmpFragNeeded)
        e.info = icmp.rest() & 0xffff;
    else if (e.type == wire::kIcmpParameterProb)
        e.info = icmp.rest() >> 24;
    // raw_icmp_error(), then the protocol's err_handler: __udp4_lib_err() (no endpoint sent
    // the quoted datagram: IcmpInErrors).
    raw_icmp_error(pkt, e, env);
    if (quoted[9] == wire::kIpProtoUdp && !udp4_lib_err(pkt, e, env)) env.c.mib(Mib::kIcmpInErrors);
    return Verdict::delivered();
}

}  // namespace

bool icmp_kernel_keeps(const core::Packet& pkt, const LocalDeliverConfig& cfg) noexcept {
    const auto l4 = pkt.l3().subspan(pkt.ip_hlen());
    // Only the first fragment (or a whole datagram) shows the type; later fragments follow
    // their datagram into defrag, and a reassembled one is judged here.
    if (l4.empty() || pkt.frag_offset_bytes() != 0) return false;
    const uint8_t type = l4[0];
    if (type == wire::kIcmpEchoReply || type == wire::kIcmpRedirect) return true;
    if (!is_error_type(type)) return false;
    constexpr std::size_t kQuotedProto = wire::IcmpView::kHeaderLen + 9;
    return l4.size() > kQuotedProto && cfg.kernel_handles[l4[kQuotedProto]];
}

const char* icmp_rcv_outcome_name(IcmpRcvOutcome o) noexcept {
    switch (o) {
        case IcmpRcvOutcome::kNotRun:
            return "not run";
        case IcmpRcvOutcome::kCsumError:
            return "bad checksum";
        case IcmpRcvOutcome::kTooShort:
            return "too short";
        case IcmpRcvOutcome::kIgnoredBroadcast:
            return "ignored (net.ipv4.icmp_echo_ignore_broadcasts)";
        case IcmpRcvOutcome::kBroadcastDiscard:
            return "discarded: not answered to broadcast/multicast";
        case IcmpRcvOutcome::kEchoReplyNoSocket:
            return "echo reply: no ping socket";
        case IcmpRcvOutcome::kUnknownType:
            return "unknown type";
        case IcmpRcvOutcome::kIgnoredEcho:
            return "ignored (net.ipv4.icmp_echo_ignore_all)";
        case IcmpRcvOutcome::kReplySent:
            return "reply sent";
        case IcmpRcvOutcome::kReplyRateLimited:
            return "reply rate limited";
        case IcmpRcvOutcome::kReplyNotSent:
            return "no reply (not answerable or no route back)";
        case IcmpRcvOutcome::kReplyNoBuffer:
            return "reply not sent: no buffer";
        case IcmpRcvOutcome::kErrorToSockets:
            return "error handed to socket lookup";
        case IcmpRcvOutcome::kRedirect:
            return "redirect: ignored";
        case IcmpRcvOutcome::kDiscard:
            return "discarded";
    }
    return "?";
}

Verdict icmp_rcv(core::Packet& pkt, DemuxEnv& env) noexcept {
    using O = IcmpRcvOutcome;
    core::CounterBlock& c = env.c;
    c.mib(Mib::kIcmpInMsgs);
    const auto msg = pkt.l3().subspan(pkt.ip_hlen());
    if (env.icmp_trace) [[unlikely]]
        *env.icmp_trace = {.type = msg.empty() ? uint8_t{0} : msg[0],
                           .code = msg.size() < 2 ? uint8_t{0} : msg[1],
                           .outcome = O::kNotRun};
    // skb_checksum_simple_validate(): over the whole message, whatever its length.
    if (!(pkt.flags & core::kFlagL4CsumGood) && wire::internet_checksum(msg) != 0) {
        c.mib(Mib::kIcmpInCsumErrors);
        return traced(env, O::kCsumError, in_error(c, DropReason::kIcmpCsum));
    }
    auto view = wire::IcmpView::try_view(msg);  // pskb_pull(sizeof(struct icmphdr))
    if (!view) return traced(env, O::kTooShort, in_error(c, DropReason::kPktTooSmall));
    const uint8_t type = view->type();
    count_in_type(type, c);

    const ipv4::RouteType rt = ipv4::route_type_of(pkt.route_type);
    if (rt == ipv4::RouteType::kBroadcast || rt == ipv4::RouteType::kMulticast) {
        // RFC 1122 3.2.2.6 / 3.2.2.8: an echo or timestamp to broadcast MAY be ignored (the
        // sysctl decides); every other type but address mask is.
        const bool echo_or_ts = type == wire::kIcmpEcho || type == wire::kIcmpTimestamp;
        const bool ignore_bcast = !env.icmp || env.icmp->config().icmp_echo_ignore_broadcasts;
        if (echo_or_ts && ignore_bcast)
            return traced(env, O::kIgnoredBroadcast, in_error(c, DropReason::kInvalidProto));
        if (!echo_or_ts && type != wire::kIcmpAddress && type != wire::kIcmpAddressReply)
            return traced(env, O::kBroadcastDiscard, in_error(c, DropReason::kInvalidProto));
    }
    // ping_rcv(): no ping endpoints in the dataplane.
    if (type == wire::kIcmpEchoReply)
        return traced(env, O::kEchoReplyNoSocket, Verdict::drop(DropReason::kNoSocket));
    // RFC 1122 3.2.2: unknown types MUST be silently discarded.
    if (type > wire::kNrIcmpTypes)
        return traced(env, O::kUnknownType, in_error(c, DropReason::kUnhandledProto));

    switch (type) {
        case wire::kIcmpEcho:
            return icmp_echo(pkt, *view, env);
        case wire::kIcmpTimestamp:
            return icmp_timestamp(pkt, *view, env);
        case wire::kIcmpDestUnreach:
        case wire::kIcmpSourceQuench:
        case wire::kIcmpTimeExceeded:
        case wire::kIcmpParameterProb:
            return traced(env, O::kErrorToSockets, icmp_unreach(pkt, *view, env));
        case wire::kIcmpRedirect:
            // icmp_redirect(): the quoted header must be there; no routes to update here.
            if (view->body().size() < kIpHeader)
                return traced(env, O::kRedirect, in_error(c, DropReason::kNotSpecified));
            return traced(env, O::kRedirect, Verdict::delivered());
        default:
            return traced(env, O::kDiscard, Verdict::delivered());  // icmp_discard()
    }
}

}  // namespace ingress::demux
