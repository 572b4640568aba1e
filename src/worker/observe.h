// Per-packet observation for the operator: `ingressctl trace` (every stage a frame went
// through, what each decided, its fate) and `ingressctl capture` (copies of dropped frames,
// or of the frames of one interface, for a pcapng file). The kernel's counterparts are
// external tools (pwru, dropwatch, `perf trace skb:kfree_skb`); VPP's `trace add` and grout's
// trace are the in-dataplane models.
//
// Who does what:
//   ingressctl   compiles the pcap expression to classic BPF (pcap_compile, DLT_EN10MB) and
//                asks for a session (docs/control-protocol.md: trace, capture).
//   control      checks the program (bpf_validate), builds an ObserveSession (its per-worker
//   thread       rings are allocated here, never by a worker), publishes it through the
//                ObserveHub, drains the rings to the client, and ends it (count reached,
//                client gone, timeout): unpublish, RCU grace period, free.
//   worker       reads the hub once per burst. Off: that load and one predictable branch.
//                On: the burst runs the observed copy of the pipeline (Pipeline::process is a
//                template on it); the filter runs on each received frame (libpcap's
//                bpf_filter, see below), matching frames get a TraceRecord in the worker's
//                scratch, every stage appends its step, the fate closes it and it is pushed
//                to the worker's ring; drop captures copy the frame when the fate sink
//                counts its drop.
// Bounded: a ring is fixed at session start; a full ring drops the record or the copy
// (counted in the session's `lost`, reported at the end), never a frame of traffic. At most
// kMaxOpen frames per burst are traced; a matching frame beyond that is counted in
// `skipped`.
//
// The filter runs with libpcap's bpf_filter(): the same interpreter the taps already use
// (demux::TapFilter), written for the kernel-less case. It keeps its scratch memory
// (BPF_MEMWORDS words) on the stack, allocates nothing, takes no lock, makes no syscall, and
// returns 0 for a load beyond the captured bytes; jumps are not bounds-checked at run time,
// so the control thread runs bpf_validate() on every program a client sends before a worker
// sees it.
#pragma once

#include <array>
#include <atomic>
#include <bitset>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/counters.h"
#include "core/packet.h"
#include "core/spsc_ring.h"
#include "core/verdict.h"
#include "demux/icmp_rcv.h"

namespace ingress::ipv4 {
class RouteTables;
}
namespace ingress::demux {
class EndpointTable;
}

namespace ingress::worker {

// The stages a trace shows, each named after the kernel function it mirrors.
enum class TraceStage : uint8_t {
    kEthTypeTrans,       // eth_type_trans: a=pkt_type b=ethertype c=l3_off
    kVlan,               // skb_vlan_untag/vlan_do_receive: a=vlan tci (0: none) b=ifindex
    kPtype,              // __netif_receive_skb_core's ptype_base: a=ethertype
    kIpRcvCore,          // ip_rcv_core: a=saddr b=daddr c=protocol d=tot_len e=frag_off
    kRouteInput,         // ip_route_input_noref: a=route type b=table c=prefix d=len e=oif
    kFibValidateSource,  // fib_validate_source: a=rp_filter b=verdict c=rev prefix d=len e=oif
    kIpDefrag,           // ip_defrag: a=ip id b=protocol c=offset d=MF e=frames (when whole)
    kLocalDeliver,       // ip_local_deliver_finish + raw_local_deliver: a=protocol
    kUdpLookup,          // __udp4_lib_rcv/__udp4_lib_lookup: a=endpoint b=score c=step|binding+1<<8
                         //   d=reuseport (group size << 16 | pick) e=ring seq (delivered)
    kIcmpRcv,            // icmp_rcv: a=type b=code c=demux::IcmpRcvOutcome
    kUdpV4EarlyDemux,    // udp_v4_early_demux: a=route type of the connected endpoint's cached
                         //   route (recorded only when it applies: the route lookup is skipped)
    kCount,
};
const char* trace_stage_name(TraceStage s) noexcept;

// One stage's decision: the verdict and five values whose meaning depends on the stage
// (above); format_step() prints them.
struct TraceStep {
    TraceStage stage = TraceStage::kCount;
    core::Verdict::Kind kind = core::Verdict::Kind::kContinue;
    core::DropReason reason = core::DropReason::kNotSpecified;
    std::array<uint32_t, 5> v{};
};
// One line for a step ("ip_route_input_noref: local table local 198.18.0.1/32 dev 5").
std::string format_step(const TraceStep& s);
// "delivered", "held", "passed", "dropped SKB_DROP_REASON_NO_SOCKET", "in flight".
std::string format_fate(core::Verdict::Kind kind, core::DropReason reason, bool closed);

// kFibValidateSource's verdict values (ipv4::SourceVerdict, plus "not asked").
inline constexpr uint32_t kSourceNotChecked = 255;

inline constexpr std::size_t kMaxSteps = 12;
inline constexpr std::size_t kTraceBytes = 96;  // the frame's first bytes, in the record

// A traced frame: where it came in, its steps in order, its fate.
struct TraceRecord {
    uint64_t rx_ns = 0;
    uint64_t buf = 0;  // worker-local key while open (the packet's buffer)
    uint32_t ifindex = 0;
    uint32_t len = 0;  // frame length as received
    uint16_t worker = 0;
    uint16_t queue = 0;
    uint8_t nsteps = 0;
    bool closed = false;  // a fate was reached in this worker
    core::Verdict::Kind fate = core::Verdict::Kind::kContinue;
    core::DropReason reason = core::DropReason::kNotSpecified;
    uint16_t caplen = 0;
    std::array<TraceStep, kMaxSteps> steps{};
    std::array<uint8_t, kTraceBytes> bytes{};
};

inline constexpr std::size_t kCaptureSnap = 2048;  // bytes copied per captured frame

// A frame copy for a capture file, as the pipeline saw it when the copy was made.
struct CaptureRecord {
    uint64_t rx_ns = 0;
    uint32_t ifindex = 0;
    uint32_t orig_len = 0;
    uint16_t worker = 0;
    uint16_t queue = 0;
    uint16_t caplen = 0;
    bool dropped = false;
    core::DropReason reason = core::DropReason::kNotSpecified;
    std::array<uint8_t, kCaptureSnap> bytes{};
};

// One classic BPF instruction (struct bpf_insn / struct sock_filter).
struct BpfInsn {
    uint16_t code = 0;
    uint8_t jt = 0, jf = 0;
    uint32_t k = 0;
};
static_assert(sizeof(BpfInsn) == 8);

// A pcap expression compiled for Ethernet frames (pcap_compile with DLT_EN10MB, optimised,
// as tcpdump does); nullopt with `error` set when it does not compile. Client side
// (ingressctl) and tests: libpcap allocates.
std::optional<std::vector<BpfInsn>> compile_filter(const std::string& expr,
                                                   std::string* error = nullptr);
// The checks a program from a client must pass before a worker runs it (bpf_validate:
// every jump lands inside, the last instruction returns, at most BPF_MAXINSNS).
bool filter_is_valid(const std::vector<BpfInsn>& prog) noexcept;

enum class ObserveMode : uint8_t { kTrace = 0, kCaptureDrops = 1, kCaptureIface = 2 };

// What the client asked for.
struct ObserveSpec {
    ObserveMode mode = ObserveMode::kTrace;
    std::vector<BpfInsn> filter;                  // empty: every frame
    uint64_t count = 0;                           // records to deliver; 0: until stopped
    bool drops_only = false;                      // trace: only frames whose fate is a drop
    int worker = -1;                              // only this worker (-1: all)
    uint32_t ifindex = 0;                         // capture --iface: the port's ifindex (0: all)
    std::bitset<core::kDropReasonCount> reasons;  // capture --drops: none set = every reason
    uint32_t ring_slots = 0;                      // per worker; 0: the mode's default
};

// A live session: the spec and one ring per worker. Created and destroyed by the control
// thread; workers only read the spec and push into their own ring.
class ObserveSession {
public:
    static constexpr uint32_t kTraceRingDefault = 256;
    static constexpr uint32_t kCaptureRingDefault = 512;

    // Allocates every ring (control thread).
    ObserveSession(ObserveSpec spec, uint16_t workers);

    const ObserveSpec& spec() const noexcept { return spec_; }
    bool wants_worker(uint16_t w) const noexcept { return spec_.worker < 0 || spec_.worker == w; }
    bool wants_drop(core::DropReason r) const noexcept {
        return spec_.reasons.none() || spec_.reasons.test(static_cast<std::size_t>(r));
    }
    // Runs the filter on a frame (true when there is none).
    bool match(const core::Packet& p) const noexcept;
    // Takes one record from the budget (count); false when it is spent. Workers, any thread.
    bool claim() noexcept {
        if (spec_.count == 0) return true;
        return claimed_.fetch_add(1, std::memory_order_relaxed) < spec_.count;
    }
    bool spent() const noexcept {
        return spec_.count != 0 && claimed_.load(std::memory_order_relaxed) >= spec_.count;
    }
    uint16_t workers() const noexcept { return static_cast<uint16_t>(per_.size()); }

    // Worker `w` (its own ring only). A full ring counts a lost record.
    void push(uint16_t w, const TraceRecord& r) noexcept;
    void push(uint16_t w, const CaptureRecord& r) noexcept;
    void count_skipped(uint16_t w) noexcept {
        per_[w].skipped.fetch_add(1, std::memory_order_relaxed);
    }

    // Control thread: up to n records of worker w.
    uint32_t drain(uint16_t w, TraceRecord* out, uint32_t n) noexcept;
    uint32_t drain(uint16_t w, CaptureRecord* out, uint32_t n) noexcept;
    uint64_t lost() const noexcept;     // records or copies a full ring refused
    uint64_t skipped() const noexcept;  // matching frames over a burst's kMaxOpen

private:
    struct PerWorker {
        std::unique_ptr<core::SpscRing<TraceRecord>> trace;
        std::unique_ptr<core::SpscRing<CaptureRecord>> capture;
        std::atomic<uint64_t> lost{0};
        std::atomic<uint64_t> skipped{0};
    };
    ObserveSpec spec_;
    std::vector<PerWorker> per_;
    std::atomic<uint64_t> claimed_{0};
};

// Where workers find the live session: one pointer, read once per burst (the burst is the
// RCU read-side section, as for the route tables).
class ObserveHub {
public:
    ObserveSession* read() const noexcept { return cur_.load(std::memory_order_acquire); }
    // Control thread: publishes `s` (nothing else may be live).
    void start(ObserveSession* s) noexcept { cur_.store(s, std::memory_order_release); }
    // Control thread: unpublishes and waits for every worker's quiescent state, after which
    // no worker reads the session: the caller drains what is left and frees it.
    void stop() noexcept;
    bool active() const noexcept { return cur_.load(std::memory_order_relaxed) != nullptr; }

private:
    std::atomic<ObserveSession*> cur_{nullptr};
};

// The worker's side, owned by its Pipeline: the records open in the current burst. No
// allocation after construction.
class Observer {
public:
    static constexpr std::size_t kMaxOpen = 8;

    void set_worker(uint16_t w) noexcept { worker_ = w; }
    // Burst start (observed bursts only): the session and the tables the details come from.
    void begin(ObserveSession* s, const ipv4::RouteTables* rt) noexcept {
        s_ = s;
        rt_ = rt;
        n_ = 0;
    }
    void set_endpoints(const demux::EndpointTable* eps) noexcept { eps_ = eps; }
    // The received frames: runs the filter, opens a record for each match (trace), copies
    // the match (capture --iface).
    void admit(core::PacketBatch& batch) noexcept;
    // Wraps one stage for one packet: the step and, when it ends there, the fate.
    template <class F>
    core::Verdict around(core::Packet& p, TraceStage st, F&& f) noexcept {
        if (!(p.flags & core::kFlagTraced)) return f(p);
        TraceRecord* r = find(p.buf);
        if (!r) return f(p);
        const core::Packet before = p;
        icmp_.outcome = demux::IcmpRcvOutcome::kNotRun;  // set by icmp_rcv if it runs
        const core::Verdict v = f(p);
        r->buf = p.buf;                // defrag hands back the datagram in a new buffer
        p.flags |= core::kFlagTraced;  // and with its own flags
        step(*r, before, p, st, v);
        if (!v.is_next()) close(*r, v);
        return v;
    }
    // The fate sink's drop hook (capture --drops).
    void dropped(const core::Packet& p, core::DropReason reason) noexcept;
    // Where icmp_rcv writes what it did (DemuxEnv::icmp_trace, observed bursts only); read
    // by the step after the local delivery stage.
    demux::IcmpRcvTrace* icmp_trace() noexcept { return &icmp_; }
    // Burst end: records still open (handed to another worker) are pushed as they are.
    void end() noexcept;
    uint16_t worker() const noexcept { return worker_; }

private:
    TraceRecord* find(uint64_t buf) noexcept {
        for (std::size_t i = 0; i < n_; ++i)
            if (!open_[i].closed && open_[i].buf == buf) return &open_[i];
        return nullptr;
    }
    void step(TraceRecord& r, const core::Packet& before, const core::Packet& p, TraceStage st,
              core::Verdict v) noexcept;
    void route_steps(TraceRecord& r, const core::Packet& p, core::Verdict v) noexcept;
    void udp_step(TraceRecord& r, const core::Packet& p, core::Verdict v) noexcept;
    void icmp_step(TraceRecord& r, core::Verdict v) noexcept;
    void close(TraceRecord& r, core::Verdict v) noexcept;
    void copy(const core::Packet& p, bool dropped, core::DropReason reason) noexcept;

    ObserveSession* s_ = nullptr;
    const ipv4::RouteTables* rt_ = nullptr;
    const demux::EndpointTable* eps_ = nullptr;
    uint16_t worker_ = 0;
    std::size_t n_ = 0;
    std::array<TraceRecord, kMaxOpen> open_{};
    CaptureRecord cap_{};  // built here, then copied into the ring
    demux::IcmpRcvTrace icmp_{};
};

}  // namespace ingress::worker
