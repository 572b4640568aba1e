// libFuzzer: reassembly (ip_defrag, ip_expire, the memory limit, ipfrag_max_dist) driven by
// a sequence the input writes: fragments of a few datagrams (source, id, offset, length,
// MF, DF, in any order, overlapping or duplicated as it likes) interleaved with clock steps
// that run the timers. Limits are small and chosen by the input, so eviction and pool
// exhaustion happen. Each frame goes through rcv_core (its offsets and trim) and the defrag
// stage, and its verdict is settled as the pipeline does.
// Asserted after every step: the conservation identity (held fragments counted in the held
// gauge); a completed datagram is an intact IPv4 header whose tot_len is its length. At the
// end, after the clock passes ipfrag_time: every fragment ended as exactly one fate (nothing
// held, no buffer leaked or freed twice, in the backend or the reassembly pool), no queue
// is left and the memory accounted is back to zero.
#include <cstdint>
#include <cstdlib>

#include "fuzz_input.h"
#include "io/tx_queue.h"
#include "ipv4/defrag.h"
#include "ipv4/icmp_send.h"
#include "ipv4/rcv_core.h"
#include "wire/checksum.h"
#include "worker/fate_sink.h"

using namespace ingress;
using fuzz::FuzzInput;

namespace {

constexpr uint64_t kSec = 1'000'000'000;

struct Rig {
    explicit Rig(const ipv4::DefragConfig& cfg) : d(cfg) { sink.set_reasm_pool(&d.buffers()); }

    void feed(std::span<const uint8_t> frame) {
        if (!backend.inject(frame)) return;
        core::Packet p;
        if (backend.rx_burst(0, &p, 1) != 1) std::abort();
        c.begin_burst();
        c.rx();
        p.l3_off = 14;
        core::Verdict v = ipv4::rcv_core(p, c);
        if (v.is_next()) v = ipv4::defrag(p, d, now, c);
        if (v.is_next() && (p.flags & core::kFlagReassembled)) check_reassembled(p);
        sink.settle(p, v.is_next() ? core::Verdict::delivered() : v);
        d.reap(sink);
        sink.flush();
        c.end_burst();
        check_conserved();
    }
    void tick(uint64_t step_ns) {
        now += step_ns;
        c.begin_burst();
        (void)d.expire(now, icmp, c);
        d.reap(sink);
        sink.flush();
        txq.flush(backend, 0);
        c.end_burst();
        check_conserved();
    }
    static void check_reassembled(const core::Packet& p) {
        auto ip = wire::Ipv4View::try_view(p.l3());
        if (!ip || ip->is_fragment() || ip->tot_len() != p.l3_len() ||
            wire::ip_fast_csum(p.data + p.l3_off, ip->ihl()) != 0 || p.frames < 1)
            std::abort();
    }
    void check_conserved() const {
        core::Snapshot s = c.snapshot();
        if (!s.conserved()) std::abort();
    }

    io::MemoryBackend backend{1, 1, 256, 2048};
    core::CounterBlock c;
    worker::FateSink sink{backend, c};
    io::TxQueue txq;
    ipv4::IcmpSender icmp{backend, txq, ipv4::IcmpConfig{}};
    ipv4::Defrag d;
    uint64_t now = kSec;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzInput in(data, size);
    ipv4::DefragConfig cfg;
    static const uint64_t kHigh[] = {4 * 1024 * 1024, 64 * 1024, 8 * 1024, 2 * 1024};
    cfg.ipfrag_high_thresh = kHigh[in.pick(4)];
    cfg.ipfrag_low_thresh = cfg.ipfrag_high_thresh * 3 / 4;
    cfg.ipfrag_time = 1 + in.pick(30);
    cfg.ipfrag_max_dist = in.pick(2) ? 64 : in.pick(4);
    cfg.max_queues = 1 + in.pick(8);
    cfg.max_frags = 1 + in.pick(64);
    cfg.reasm_buffers = 1 + in.pick(4);
    Rig r(cfg);
    for (unsigned steps = 0; !in.empty() && steps < 512; ++steps) {
        const uint8_t op = in.u8();
        if (op >= 0xf0) {  // a clock step: up to 2.55 s, or a whole ipfrag_time
            r.tick(op == 0xff ? uint64_t{cfg.ipfrag_time} * kSec : in.u8() * 10'000'000ull);
            continue;
        }
        const uint16_t offset = in.u16() & wire::kIpOffsetMask;  // in 8-byte units
        const uint8_t bits = in.u8();                            // MF, DF, ECN
        wire::FrameBuilder f;
        f.eth({{0x02, 0, 0, 0, 0, 2}}, {{0x02, 0, 0, 0, 0, 1}})
            .ipv4(wire::ipv4(198, 18, 0, 2 + (op & 3)), wire::ipv4(198, 18, 0, 1))
            .ip_id((op >> 2) & 3)
            .protocol((op & 0x10) ? wire::kIpProtoUdp : wire::kIpProtoIcmp)
            .ecn(static_cast<uint8_t>(bits >> 2))
            .df(bits & 2)
            .ip_frag(static_cast<uint16_t>(offset * 8), bits & 1)
            .payload_size(in.u16() % 1481);
        auto frame = f.build();
        r.feed(frame);
    }
    r.tick((uint64_t{cfg.ipfrag_time} + 1) * kSec);
    core::Snapshot s = r.c.snapshot();
    if (!s.conserved() || s.held != 0) std::abort();
    if (r.d.queues() != 0 || r.d.mem() != 0) std::abort();
    if (r.d.buffers().outstanding() != 0 || r.d.buffers().double_frees() != 0) std::abort();
    if (r.backend.pool().outstanding() != 0 || r.backend.pool().double_frees() != 0) std::abort();
    return 0;
}
