#include "worker/observe.h"

#include <pcap/pcap.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "demux/endpoint_table.h"
#include "demux/udp.h"
#include "ipv4/fib_rules.h"
#include "ipv4/route.h"
#include "ipv4/route_tables.h"
#include "ipv4/route_type.h"
#include "ipv4/rp_filter.h"
#include "wire/udp.h"

namespace ingress::worker {

using core::Verdict;

const char* trace_stage_name(TraceStage s) noexcept {
    switch (s) {
        case TraceStage::kEthTypeTrans:
            return "eth_type_trans";
        case TraceStage::kVlan:
            return "vlan_do_receive";
        case TraceStage::kPtype:
            return "__netif_receive_skb_core";
        case TraceStage::kIpRcvCore:
            return "ip_rcv_core";
        case TraceStage::kRouteInput:
            return "ip_route_input_noref";
        case TraceStage::kUdpV4EarlyDemux:
            return "udp_v4_early_demux";
        case TraceStage::kFibValidateSource:
            return "fib_validate_source";
        case TraceStage::kIpDefrag:
            return "ip_defrag";
        case TraceStage::kLocalDeliver:
            return "ip_local_deliver_finish";
        case TraceStage::kUdpLookup:
            return "__udp4_lib_lookup";
        case TraceStage::kIcmpRcv:
            return "icmp_rcv";
        case TraceStage::kCount:
            break;
    }
    return "?";
}

namespace {

std::string ip(uint32_t a) {
    char b[16];
    std::snprintf(b, sizeof b, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
    return b;
}

const char* pkt_type_name(uint32_t t) {
    static const char* const kNames[] = {"PACKET_HOST", "PACKET_BROADCAST", "PACKET_MULTICAST",
                                         "PACKET_OTHERHOST"};
    return t < 4 ? kNames[t] : "?";
}

// `ip route`'s table names (local, main, default or the number); 0: no route found.
std::string table_name(uint32_t t) {
    return t == 0 ? "none" : ipv4::table_name(t);
}

const char* rp_verdict_name(uint32_t v) {
    switch (v) {
        case static_cast<uint32_t>(ipv4::SourceVerdict::kAccept):
            return "accept";
        case static_cast<uint32_t>(ipv4::SourceVerdict::kRpFilter):
            return "reject (-EXDEV)";
        case static_cast<uint32_t>(ipv4::SourceVerdict::kLocalSource):
            return "reject (-EINVAL: local source)";
        default:
            return "not checked";
    }
}

const char* lookup_step_name(uint32_t s) {
    static const char* const kNames[] = {"none", "connected", "sk_lookup", "bound address",
                                         "wildcard"};
    return s < 5 ? kNames[s] : "?";
}

}  // namespace

std::string format_step(const TraceStep& s) {
    const auto& v = s.v;
    char b[256];
    switch (s.stage) {
        case TraceStage::kEthTypeTrans:
            std::snprintf(b, sizeof b, "pkt_type %s, ethertype 0x%04x", pkt_type_name(v[0]), v[1]);
            break;
        case TraceStage::kVlan:
            std::snprintf(b, sizeof b, "vlan %u, dev %u", v[0] & 0xfff, v[1]);
            break;
        case TraceStage::kPtype:
            std::snprintf(b, sizeof b, "protocol 0x%04x", v[0]);
            break;
        case TraceStage::kIpRcvCore:
            std::snprintf(b, sizeof b, "%s > %s proto %u len %u frag_off 0x%04x", ip(v[0]).c_str(),
                          ip(v[1]).c_str(), v[2], v[3], v[4]);
            break;
        case TraceStage::kRouteInput:
            std::snprintf(
                b, sizeof b, "route %s, table %s, %s/%u dev %u",
                std::string(ipv4::route_type_name(static_cast<ipv4::RouteType>(v[0]))).c_str(),
                table_name(v[1]).c_str(), ip(v[2]).c_str(), v[3], v[4]);
            break;
        case TraceStage::kFibValidateSource:
            if (v[3] == 0 && v[2] == 0 && v[4] == 0)
                std::snprintf(b, sizeof b, "rp_filter %u, %s, reverse route: none", v[0],
                              rp_verdict_name(v[1]));
            else
                std::snprintf(b, sizeof b, "rp_filter %u, %s, reverse route %s/%u dev %u", v[0],
                              rp_verdict_name(v[1]), ip(v[2]).c_str(), v[3], v[4]);
            break;
        case TraceStage::kIpDefrag:
            if (v[4])
                std::snprintf(b, sizeof b, "queue id %u proto %u: complete, %u fragments", v[0],
                              v[1], v[4]);
            else
                std::snprintf(b, sizeof b, "queue id %u proto %u: offset %u%s", v[0], v[1], v[2],
                              v[3] ? " MF" : "");
            break;
        case TraceStage::kLocalDeliver:
            std::snprintf(b, sizeof b, "protocol %u", v[0]);
            break;
        case TraceStage::kUdpLookup: {
            // The binding that matched (bindings, demux/sk_lookup.h), in add order.
            char bnd[32] = "";
            if (v[2] >> 8) std::snprintf(bnd, sizeof bnd, ", binding %u", (v[2] >> 8) - 1);
            const char* step = lookup_step_name(v[2] & 0xff);
            if (v[0] == 0) {
                std::snprintf(b, sizeof b, "no endpoint%s", bnd);
            } else if (v[3] >> 16) {
                std::snprintf(b, sizeof b,
                              "endpoint %u (score %d, %s%s, reuseport pick %u of %u), ring slot %u",
                              v[0] - 1, static_cast<int>(v[1]), step, bnd, v[3] & 0xffff,
                              v[3] >> 16, v[4]);
            } else {
                std::snprintf(b, sizeof b, "endpoint %u (score %d, %s%s), ring slot %u", v[0] - 1,
                              static_cast<int>(v[1]), step, bnd, v[4]);
            }
            break;
        }
        case TraceStage::kIcmpRcv:
            std::snprintf(b, sizeof b, "type %u code %u: %s", v[0], v[1],
                          demux::icmp_rcv_outcome_name(static_cast<demux::IcmpRcvOutcome>(v[2])));
            break;
        case TraceStage::kUdpV4EarlyDemux:
            std::snprintf(
                b, sizeof b, "connected endpoint's cached route %s: no route lookup, no rp_filter",
                std::string(ipv4::route_type_name(static_cast<ipv4::RouteType>(v[0]))).c_str());
            break;
        case TraceStage::kCount:
            b[0] = 0;
            break;
    }
    std::string out = trace_stage_name(s.stage);
    out += ": ";
    out += b;
    if (s.kind != Verdict::Kind::kContinue) out += " -> " + format_fate(s.kind, s.reason, true);
    return out;
}

std::string format_fate(Verdict::Kind kind, core::DropReason reason, bool closed) {
    if (!closed) return "handed to another worker";
    switch (kind) {
        case Verdict::Kind::kDrop:
            return "dropped SKB_DROP_REASON_" + std::string(core::drop_reason_name(reason));
        case Verdict::Kind::kDelivered:
            return "delivered";
        case Verdict::Kind::kHeld:
            return "held (reassembly queue)";
        case Verdict::Kind::kPass:
            return "passed to the kernel";
        case Verdict::Kind::kContinue:
            break;
    }
    return "no fate";
}

std::optional<std::vector<BpfInsn>> compile_filter(const std::string& expr, std::string* error) {
    pcap_t* p = pcap_open_dead(DLT_EN10MB, static_cast<int>(kCaptureSnap));
    if (!p) {
        if (error) *error = "pcap_open_dead failed";
        return std::nullopt;
    }
    bpf_program prog{};
    if (pcap_compile(p, &prog, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        if (error) *error = pcap_geterr(p);
        pcap_close(p);
        return std::nullopt;
    }
    pcap_close(p);
    std::vector<BpfInsn> out;
    out.reserve(prog.bf_len);
    for (u_int i = 0; i < prog.bf_len; ++i) {
        const bpf_insn& in = prog.bf_insns[i];
        out.push_back({in.code, in.jt, in.jf, in.k});
    }
    pcap_freecode(&prog);
    return out;
}

bool filter_is_valid(const std::vector<BpfInsn>& prog) noexcept {
    constexpr std::size_t kMaxInsns = 4096;  // BPF_MAXINSNS (include/uapi/linux/bpf_common.h)
    if (prog.empty() || prog.size() > kMaxInsns) return false;
    return bpf_validate(reinterpret_cast<const bpf_insn*>(prog.data()),
                        static_cast<int>(prog.size())) != 0;
}

// --- ObserveSession -------------------------------------------------------------------------

ObserveSession::ObserveSession(ObserveSpec spec, uint16_t workers)
    : spec_(std::move(spec)), per_(workers) {
    const bool trace = spec_.mode == ObserveMode::kTrace;
    const uint32_t slots = spec_.ring_slots ? spec_.ring_slots
                           : trace          ? kTraceRingDefault
                                            : kCaptureRingDefault;
    for (PerWorker& w : per_) {
        if (trace)
            w.trace = std::make_unique<core::SpscRing<TraceRecord>>(slots);
        else
            w.capture = std::make_unique<core::SpscRing<CaptureRecord>>(slots);
    }
}

bool ObserveSession::match(const core::Packet& p) const noexcept {
    if (spec_.filter.empty()) return true;
    static_assert(sizeof(bpf_insn) == sizeof(BpfInsn));
    return bpf_filter(reinterpret_cast<const bpf_insn*>(spec_.filter.data()), p.data, p.len,
                      p.len) != 0;
}

void ObserveSession::push(uint16_t w, const TraceRecord& r) noexcept {
    if (!per_[w].trace->try_push(r)) per_[w].lost.fetch_add(1, std::memory_order_relaxed);
}

void ObserveSession::push(uint16_t w, const CaptureRecord& r) noexcept {
    if (!per_[w].capture->try_push(r)) per_[w].lost.fetch_add(1, std::memory_order_relaxed);
}

uint32_t ObserveSession::drain(uint16_t w, TraceRecord* out, uint32_t n) noexcept {
    return per_[w].trace ? per_[w].trace->try_dequeue_burst(out, n) : 0;
}

uint32_t ObserveSession::drain(uint16_t w, CaptureRecord* out, uint32_t n) noexcept {
    return per_[w].capture ? per_[w].capture->try_dequeue_burst(out, n) : 0;
}

uint64_t ObserveSession::lost() const noexcept {
    uint64_t n = 0;
    for (const PerWorker& w : per_) n += w.lost.load(std::memory_order_relaxed);
    return n;
}

uint64_t ObserveSession::skipped() const noexcept {
    uint64_t n = 0;
    for (const PerWorker& w : per_) n += w.skipped.load(std::memory_order_relaxed);
    return n;
}

void ObserveHub::stop() noexcept {
    cur_.store(nullptr, std::memory_order_release);
    // Every worker passes a quiescent state between bursts (or is offline, asleep): after
    // the grace period none still holds the session it read.
    ipv4::rcu_wait_grace_period();
}

// --- Observer (worker) -----------------------------------------------------------------------

void Observer::admit(core::PacketBatch& batch) noexcept {
    if (!s_->wants_worker(worker_) || s_->spent()) return;
    const ObserveSpec& spec = s_->spec();
    for (core::Packet& p : batch) {
        if (spec.mode == ObserveMode::kCaptureDrops) break;  // copies come at the drop
        if (spec.mode == ObserveMode::kCaptureIface) {
            if ((spec.ifindex == 0 || spec.ifindex == p.ifindex) && s_->match(p)) {
                if (!s_->claim()) return;
                copy(p, false, core::DropReason::kNotSpecified);
            }
            continue;
        }
        if (!s_->match(p)) continue;
        if (n_ == kMaxOpen) {
            s_->count_skipped(worker_);
            continue;
        }
        TraceRecord& r = open_[n_++];
        r.rx_ns = p.rx_ns;
        r.buf = p.buf;
        r.ifindex = p.ifindex;
        r.len = p.len;
        r.worker = worker_;
        r.queue = p.queue;
        r.nsteps = 0;
        r.closed = false;
        r.fate = Verdict::Kind::kContinue;
        r.reason = core::DropReason::kNotSpecified;
        r.caplen = static_cast<uint16_t>(std::min<std::size_t>(p.len, kTraceBytes));
        std::memcpy(r.bytes.data(), p.data, r.caplen);
        p.flags |= core::kFlagTraced;
    }
}

void Observer::step(TraceRecord& r, const core::Packet& before, const core::Packet& p,
                    TraceStage st, Verdict v) noexcept {
    auto add = [&](TraceStage s, Verdict::Kind k, core::DropReason reason,
                   std::array<uint32_t, 5> vals) {
        if (r.nsteps == kMaxSteps) return;
        r.steps[r.nsteps++] = TraceStep{s, k, reason, vals};
    };
    const core::DropReason reason = v.is_drop() ? v.reason() : core::DropReason::kNotSpecified;
    switch (st) {
        case TraceStage::kEthTypeTrans:
            add(st, v.kind(), reason,
                {static_cast<uint32_t>(p.pkt_type), p.ethertype, p.l3_off, 0, 0});
            break;
        case TraceStage::kVlan:
            // Only when there was a tag, or the stage decided something.
            if ((p.flags & core::kFlagVlan) || !v.is_next())
                add(st, v.kind(), reason,
                    {(p.flags & core::kFlagVlan) ? p.vlan_tci : 0u, p.ifindex, 0, 0, 0});
            break;
        case TraceStage::kPtype:
            add(st, v.kind(), reason, {p.ethertype, 0, 0, 0, 0});
            break;
        case TraceStage::kIpRcvCore:
            add(st, v.kind(), reason, {p.saddr, p.daddr, p.ip_proto, p.len - p.l3_off, p.frag_off});
            break;
        case TraceStage::kRouteInput:
            route_steps(r, p, v);
            break;
        case TraceStage::kUdpV4EarlyDemux:
            if (p.flags & core::kFlagRxDst) add(st, v.kind(), reason, {p.route_type, 0, 0, 0, 0});
            break;
        case TraceStage::kIpDefrag:
            if (before.is_fragment())
                add(st, v.kind(), reason,
                    {before.ip_id, before.ip_proto, before.frag_offset_bytes(),
                     before.more_fragments() ? 1u : 0u,
                     (p.flags & core::kFlagReassembled) ? p.frames : 0u});
            break;
        case TraceStage::kLocalDeliver:
            if (p.ip_proto == wire::kIpProtoUdp && eps_) {
                add(st, Verdict::Kind::kContinue, core::DropReason::kNotSpecified,
                    {p.ip_proto, 0, 0, 0, 0});
                udp_step(r, p, v);
            } else if (icmp_.outcome != demux::IcmpRcvOutcome::kNotRun) {
                add(st, Verdict::Kind::kContinue, core::DropReason::kNotSpecified,
                    {p.ip_proto, 0, 0, 0, 0});
                icmp_step(r, v);
            } else {
                add(st, v.kind(), reason, {p.ip_proto, 0, 0, 0, 0});
            }
            icmp_.outcome = demux::IcmpRcvOutcome::kNotRun;
            break;
        default:
            add(st, v.kind(), reason, {});
    }
}

// ip_route_input_noref and fib_validate_source: the stage's verdict and route type are the
// packet's; the table, prefix and device, and the source check with its reverse route, are
// looked up again in the burst's snapshot (the same tables the stage used; pure functions,
// nothing counted).
void Observer::route_steps(TraceRecord& r, const core::Packet& p, Verdict v) noexcept {
    const core::DropReason reason = v.is_drop() ? v.reason() : core::DropReason::kNotSpecified;
    std::array<uint32_t, 5> route{p.route_type, 0, 0, 0, 0};
    std::array<uint32_t, 5> src{0, kSourceNotChecked, 0, 0, 0};
    const ipv4::IfState* dev = rt_ ? rt_->iface(p.ifindex) : nullptr;
    if (dev) {
        // The flow the stage looked up with (rules may select by DSCP, protocol and ports).
        const ipv4::InputKeys keys =
            rt_->has_custom_rules() ? ipv4::input_keys(p) : ipv4::InputKeys{};
        const ipv4::RouteDecision d =
            ipv4::route_input_noref(*rt_, *dev, p.daddr, p.saddr, p.ip_proto, nullptr, keys);
        if (!d.drop) route[0] = static_cast<uint32_t>(d.type);
        const ipv4::Flow fl = ipv4::input_flow(*rt_, *dev, p.daddr, p.saddr, p.ip_proto, keys);
        // A drop decided before the route was kept (the source check) still shows the
        // route the destination has.
        const ipv4::Route* rr = d.route                            ? d.route
                                : wire::ipv4_is_multicast(p.daddr) ? nullptr
                                                                   : rt_->fib_lookup(fl).route;
        if (rr)
            route = {static_cast<uint32_t>(rr->type), rr->table, rr->prefix, rr->prefix_len,
                     rr->oif};
        src[0] = dev->conf.rp_filter;
        if (!wire::ipv4_is_zeronet(p.saddr) && !wire::ipv4_is_multicast(p.saddr)) {
            const uint32_t oif = d.forward ? route[4] : 0;
            src[1] = static_cast<uint32_t>(ipv4::fib_validate_source(*rt_, *dev, fl, oif));
            // The reverse route fib_validate_source() looked up.
            if (const ipv4::Route* rb = rt_->fib_lookup(ipv4::reverse_flow(*rt_, fl, oif)).route) {
                src[2] = rb->prefix;
                src[3] = rb->prefix_len;
                src[4] = rb->oif;
            }
        }
    }
    const bool src_drop = v.is_drop() && (v.reason() == core::DropReason::kIpRpfilter ||
                                          v.reason() == core::DropReason::kIpLocalSource);
    if (r.nsteps < kMaxSteps)
        r.steps[r.nsteps++] =
            TraceStep{TraceStage::kRouteInput, src_drop ? Verdict::Kind::kContinue : v.kind(),
                      src_drop ? core::DropReason::kNotSpecified : reason, route};
    if (r.nsteps < kMaxSteps && src[1] != kSourceNotChecked)
        r.steps[r.nsteps++] = TraceStep{TraceStage::kFibValidateSource,
                                        src_drop ? v.kind() : Verdict::Kind::kContinue,
                                        src_drop ? reason : core::DropReason::kNotSpecified, src};
}

// __udp4_lib_rcv: the lookup again, with its trace (score, step, reuseport pick), and the
// ring slot the delivery used (unicast; multicast fan-out shows the count of copies only).
void Observer::udp_step(TraceRecord& r, const core::Packet& p, Verdict v) noexcept {
    if (r.nsteps == kMaxSteps) return;
    std::array<uint32_t, 5> vals{};
    const core::DropReason reason = v.is_drop() ? v.reason() : core::DropReason::kNotSpecified;
    const auto uh = wire::UdpView::try_view(p.frame().subspan(std::min<uint32_t>(p.l4_off, p.len)));
    if (uh && ipv4::route_type_of(p.route_type) == ipv4::RouteType::kLocal) {
        demux::UdpLookupTrace tr;
        demux::UdpEndpoint* ep = demux::udp4_lib_lookup(*eps_, p.saddr, uh->src_port(), p.daddr,
                                                        uh->dst_port(), p.ifindex, &tr);
        // c: the step, and above bit 8 the binding that matched + 1 (0: none).
        vals[2] = static_cast<uint32_t>(tr.step) | static_cast<uint32_t>(tr.binding + 1) << 8;
        if (ep) {
            const demux::ShmRings& rings = ep->rings();
            vals = {rings.endpoint_id() + 1, static_cast<uint32_t>(tr.score), vals[2],
                    static_cast<uint32_t>(tr.group_size) << 16 | tr.pick,
                    (rings.prod_index(worker_) - 1) & (rings.active_slots(worker_) - 1)};
        }
    }
    r.steps[r.nsteps++] = TraceStep{TraceStage::kUdpLookup, v.kind(), reason, vals};
}

// icmp_rcv: what it recorded in icmp_ (the type, code and outcome of this packet).
void Observer::icmp_step(TraceRecord& r, Verdict v) noexcept {
    if (r.nsteps == kMaxSteps) return;
    const core::DropReason reason = v.is_drop() ? v.reason() : core::DropReason::kNotSpecified;
    r.steps[r.nsteps++] =
        TraceStep{TraceStage::kIcmpRcv,
                  v.kind(),
                  reason,
                  {icmp_.type, icmp_.code, static_cast<uint32_t>(icmp_.outcome), 0, 0}};
}

void Observer::close(TraceRecord& r, Verdict v) noexcept {
    r.closed = true;
    r.fate = v.kind();
    r.reason = v.is_drop() ? v.reason() : core::DropReason::kNotSpecified;
    if (s_->spec().drops_only && !v.is_drop()) return;
    if (!s_->claim()) return;
    s_->push(worker_, r);
}

void Observer::dropped(const core::Packet& p, core::DropReason reason) noexcept {
    if (s_->spec().mode != ObserveMode::kCaptureDrops || !s_->wants_worker(worker_) ||
        !s_->wants_drop(reason) || !s_->match(p) || !s_->claim())
        return;
    copy(p, true, reason);
}

void Observer::copy(const core::Packet& p, bool dropped, core::DropReason reason) noexcept {
    cap_.rx_ns = p.rx_ns;
    cap_.ifindex = p.ifindex;
    cap_.orig_len = p.len;
    cap_.worker = worker_;
    cap_.queue = p.queue;
    cap_.dropped = dropped;
    cap_.reason = reason;
    cap_.caplen = static_cast<uint16_t>(std::min<std::size_t>(p.len, kCaptureSnap));
    std::memcpy(cap_.bytes.data(), p.data, cap_.caplen);
    s_->push(worker_, cap_);
}

void Observer::end() noexcept {
    for (std::size_t i = 0; i < n_; ++i) {
        TraceRecord& r = open_[i];
        if (r.closed) continue;
        r.closed = false;
        if (s_->spec().drops_only) continue;
        if (s_->claim()) s_->push(worker_, r);
    }
    n_ = 0;
    s_ = nullptr;
}

}  // namespace ingress::worker
