// Reassembly throughput: ingress's ipv4::Defrag against DPDK's rte_ipv4_frag_reassemble_packet
// on the same fragment bytes in the same order.
//
//   ninja -C build bench/bench_defrag && build/bench/bench_defrag
//   (add --benchmark_repetitions=5 for medians on a noisy machine)
//
// Input: 64 UDP datagrams of N fragments (N = 2, 4, 44; 1480 payload bytes per fragment, as
// an MTU-1500 sender cuts them), each datagram's fragments either in order or shuffled (one
// fixed permutation, shared by both sides). Both sides pay the same per-fragment cost of a
// receive: a buffer taken from a pool that hands back the buffer freed last first (DPDK's
// mempool cache; ingress's io::BufferPool) and the frame copied into it (standing in for the
// NIC's DMA); DPDK needs it anyway, since reassembly edits the mbufs it is given. Neither
// side validates headers in the loop: DPDK is given l2_len/l3_len, ingress the metadata
// rcv_core would have set (computed once, before the loop).
//   ingress: fragments held as descriptors over their buffers; the completed datagram is
//            one contiguous copy into a 64 KiB buffer (what the rest of the pipeline reads).
//   DPDK:    the completed datagram is a chain of the fragments' mbufs (no copy); freed.
// DPDK's fragments-per-datagram limit is the build constant RTE_LIBRTE_IP_FRAG_MAX_FRAG
// (8 in Debian 12's DPDK 22.11): it cannot reassemble 44 fragments, and says so below.
#include <benchmark/benchmark.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ip_frag.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/counters.h"
#include "core/packet.h"
#include "core/verdict.h"
#include "io/buffer_pool.h"
#include "ipv4/defrag.h"
#include "ipv4/rcv_core.h"
#include "wire/frame_builder.h"

using namespace ingress;

namespace {

constexpr int kDatagrams = 64;
constexpr uint32_t kFragPayload = 1480;
constexpr uint32_t kRxBuf = 2048;

struct Input {
    std::vector<std::vector<uint8_t>> frames;  // all fragments, datagram after datagram
    uint32_t per_datagram = 0;
};

const Input& input(uint32_t nfrags, bool shuffled) {
    static std::map<std::pair<uint32_t, bool>, Input> cache;
    auto key = std::make_pair(nfrags, shuffled);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    Input in;
    in.per_datagram = nfrags;
    std::mt19937 rng(1234);
    for (int d = 0; d < kDatagrams; ++d) {
        auto fs = wire::FrameBuilder()
                      .eth(wire::Mac{{2, 0, 0, 0, 0, 2}}, wire::Mac{{2, 0, 0, 0, 0, 1}})
                      .ipv4(wire::ipv4(198, 18, 0, 2), wire::ipv4(198, 18, 0, 1))
                      .ip_id(static_cast<uint16_t>(d + 1))
                      .udp(1000, 2000)
                      .payload_size(nfrags * kFragPayload - 8)
                      .build_fragments(kFragPayload);
        if (shuffled) std::shuffle(fs.begin(), fs.end(), rng);
        for (auto& f : fs) in.frames.push_back(std::move(f));
    }
    return cache.emplace(key, std::move(in)).first->second;
}

// The sink interface Defrag::reap() needs: fragments' buffers go back to the receive pool,
// reassembled ones to defrag's.
struct BenchSink {
    core::CounterBlock& c;
    io::BufferPool& reasm;
    io::BufferPool& rx;
    void settle(core::Packet& p, core::Verdict) noexcept {
        (p.flags & core::kFlagReassembled ? reasm : rx).put(p.buf);
    }
    void release(uint64_t buf) noexcept { rx.put(buf); }
    core::CounterBlock& counters() noexcept { return c; }
};

void set_rates(benchmark::State& state, uint64_t dgrams, uint64_t frags) {
    state.counters["datagrams/s"] = benchmark::Counter(double(dgrams), benchmark::Counter::kIsRate);
    state.counters["fragments/s"] = benchmark::Counter(double(frags), benchmark::Counter::kIsRate);
}

void BM_Ingress(benchmark::State& state, uint32_t nfrags, bool shuffled) {
    const Input& in = input(nfrags, shuffled);
    ipv4::DefragConfig cfg;
    cfg.ipfrag_max_dist = 0;  // one source sending back to back; not what is measured
    ipv4::Defrag d(cfg);
    core::CounterBlock c;
    // Receive buffers: a pool that hands back the buffer freed last first, as DPDK's
    // mempool cache does for the mbufs on the other side.
    io::BufferPool rx(1024, kRxBuf);
    BenchSink sink{c, d.buffers(), rx};
    // What rcv_core establishes for each frame (the frames are valid), computed before the
    // loop: the header checks are rcv_core's cost, not reassembly's, and the DPDK side runs
    // none either (it is given l2_len and l3_len).
    std::vector<core::Packet> meta(in.frames.size());
    for (std::size_t i = 0; i < in.frames.size(); ++i) {
        core::Packet& p = meta[i];
        p.data = const_cast<uint8_t*>(in.frames[i].data());
        p.len = static_cast<uint32_t>(in.frames[i].size());
        p.l3_off = 14;
        ipv4::set_l3_meta(p, *wire::Ipv4View::try_view(p.l3()));
    }
    uint64_t dgrams = 0, frags = 0;
    for (auto _ : state) {
        for (std::size_t i = 0; i < in.frames.size(); ++i) {
            const auto& f = in.frames[i];
            const uint64_t slot = rx.try_get();
            uint8_t* buf = rx.data(slot);
            std::memcpy(buf, f.data(), f.size());
            core::Packet p = meta[i];
            p.data = buf;
            p.buf = slot;
            core::Verdict v = ipv4::defrag(p, d, 0, c);
            if (v.is_next()) {
                benchmark::DoNotOptimize(p.data[p.len - 1]);
                ++dgrams;
                sink.settle(p, core::Verdict::delivered());
            }
            d.reap(sink);
        }
        frags += in.frames.size();
    }
    if (dgrams != uint64_t(state.iterations()) * kDatagrams || rx.outstanding() != 0)
        state.SkipWithError("ingress did not reassemble every datagram");
    set_rates(state, dgrams, frags);
}

// The reassembly copy alone: each datagram's transport bytes memcpy'd into a 64 KiB buffer,
// fragment by fragment, as Defrag::reasm does. Its rate against ingress's shows the copy's
// share of the cost.
void BM_Copy(benchmark::State& state, uint32_t nfrags, bool shuffled) {
    const Input& in = input(nfrags, shuffled);
    std::vector<uint8_t> dst(ipv4::Defrag::kReasmBufSize);
    uint64_t dgrams = 0, frags = 0;
    for (auto _ : state) {
        for (const auto& f : in.frames) {
            const uint32_t off = (uint32_t(f[14 + 6] & 0x1f) << 8 | f[14 + 7]) * 8;
            std::memcpy(dst.data() + 34 + off, f.data() + 34, f.size() - 34);
            if (!(f[14 + 6] & 0x20)) {
                benchmark::DoNotOptimize(dst.data());
                ++dgrams;
            }
        }
        frags += in.frames.size();
    }
    set_rates(state, dgrams, frags);
}

rte_mempool* g_pool = nullptr;

void BM_Dpdk(benchmark::State& state, uint32_t nfrags, bool shuffled) {
    if (nfrags > RTE_LIBRTE_IP_FRAG_MAX_FRAG) {
        state.SkipWithError(("n/a: DPDK reassembles at most RTE_LIBRTE_IP_FRAG_MAX_FRAG=" +
                             std::to_string(RTE_LIBRTE_IP_FRAG_MAX_FRAG) + " fragments")
                                .c_str());
        for (auto _ : state) {
        }
        return;
    }
    const Input& in = input(nfrags, shuffled);
    const uint64_t ttl = rte_get_tsc_hz() * 30;  // ipfrag_time
    rte_ip_frag_tbl* tbl = rte_ip_frag_table_create(1024, 16, 1024 * 16, ttl, SOCKET_ID_ANY);
    if (!tbl) {
        state.SkipWithError("rte_ip_frag_table_create failed");
        return;
    }
    rte_ip_frag_death_row dr{};
    uint64_t dgrams = 0, frags = 0;
    for (auto _ : state) {
        const uint64_t tms = rte_rdtsc();
        for (const auto& f : in.frames) {
            rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
            char* p = rte_pktmbuf_append(m, static_cast<uint16_t>(f.size()));
            std::memcpy(p, f.data(), f.size());
            m->l2_len = 14;
            m->l3_len = 20;
            auto* iph = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, 14);
            rte_mbuf* done = rte_ipv4_frag_reassemble_packet(tbl, &dr, m, tms, iph);
            if (done) {
                benchmark::DoNotOptimize(done->pkt_len);
                ++dgrams;
                rte_pktmbuf_free(done);
            }
            if (dr.cnt) rte_ip_frag_free_death_row(&dr, 3);
        }
        frags += in.frames.size();
    }
    rte_ip_frag_table_destroy(tbl);
    if (dgrams != uint64_t(state.iterations()) * kDatagrams)
        state.SkipWithError("DPDK did not reassemble every datagram");
    set_rates(state, dgrams, frags);
}

// Prints the two implementations side by side once every benchmark has run.
class SideBySide : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& r : runs) {
            // With --benchmark_repetitions the table shows the medians.
            std::string name = r.benchmark_name();
            if (r.run_type == Run::RT_Aggregate) {
                if (r.aggregate_name != "median") continue;
                name = r.run_name.str();
            }
            if (r.error_occurred) {
                results_[name] = {-1, -1};
                continue;
            }
            auto get = [&](const char* k) {
                auto it = r.counters.find(k);
                return it == r.counters.end() ? 0.0 : double(it->second);
            };
            results_[name] = {get("datagrams/s"), get("fragments/s")};
        }
    }
    void Finalize() override {
        ConsoleReporter::Finalize();
        std::printf(
            "\nReassembly, side by side (same fragments, same order; %d datagrams per "
            "iteration)\n",
            kDatagrams);
        std::printf("%-18s %14s %14s %14s %14s %8s %11s\n", "case", "ingress dgr/s",
                    "ingress frg/s", "DPDK dgr/s", "DPDK frg/s", "ratio", "copy share");
        for (uint32_t n : {2u, 4u, 44u}) {
            for (bool sh : {false, true}) {
                std::string name = std::to_string(n) + (sh ? "/shuffled" : "/in_order");
                auto a = results_["ingress/" + name];
                auto b = results_["dpdk/" + name];
                char dpdk_d[32], dpdk_f[32], ratio[32];
                if (b.first > 0) {
                    std::snprintf(dpdk_d, sizeof dpdk_d, "%14.3e", b.first);
                    std::snprintf(dpdk_f, sizeof dpdk_f, "%14.3e", b.second);
                    std::snprintf(ratio, sizeof ratio, "%8.2f", a.first / b.first);
                } else {
                    std::snprintf(dpdk_d, sizeof dpdk_d, "%14s", "n/a");
                    std::snprintf(dpdk_f, sizeof dpdk_f, "%14s", "n/a");
                    std::snprintf(ratio, sizeof ratio, "%8s", "n/a");
                }
                auto cp = results_["copy/" + name];
                std::printf("%-18s %14.3e %14.3e %s %s %s %10.0f%%\n", name.c_str(), a.first,
                            a.second, dpdk_d, dpdk_f, ratio,
                            cp.first > 0 ? 100.0 * a.first / cp.first : 0.0);
            }
        }
        std::printf(
            "ratio = ingress datagrams/s / DPDK datagrams/s. DPDK n/a: more fragments "
            "than RTE_LIBRTE_IP_FRAG_MAX_FRAG=%d.\n"
            "copy share = the part of ingress's time spent copying the datagram into "
            "its contiguous buffer (copy/* alone).\n",
            RTE_LIBRTE_IP_FRAG_MAX_FRAG);
    }

private:
    std::map<std::string, std::pair<double, double>> results_;
};

}  // namespace

int main(int argc, char** argv) {
    // --no-huge forces legacy memory, which --in-memory refuses; --no-shconf keeps the run
    // free of /var/run files instead.
    const char* eal_argv[] = {
        "bench_defrag", "--no-huge", "--no-pci",          "--no-shconf", "-l", "0",
        "-m",           "256",       "--log-level=error", nullptr};
    int eal_argc = static_cast<int>(std::size(eal_argv)) - 1;
    if (rte_eal_init(eal_argc, const_cast<char**>(eal_argv)) < 0) {
        std::fprintf(stderr, "bench_defrag: rte_eal_init failed\n");
        return 1;
    }
    g_pool = rte_pktmbuf_pool_create("bench_defrag", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                     SOCKET_ID_ANY);
    if (!g_pool) {
        std::fprintf(stderr, "bench_defrag: mbuf pool: %s\n", rte_strerror(rte_errno));
        return 1;
    }
    for (uint32_t n : {2u, 4u, 44u}) {
        for (bool sh : {false, true}) {
            std::string name = std::to_string(n) + (sh ? "/shuffled" : "/in_order");
            benchmark::RegisterBenchmark(("ingress/" + name).c_str(), BM_Ingress, n, sh);
            benchmark::RegisterBenchmark(("dpdk/" + name).c_str(), BM_Dpdk, n, sh);
            benchmark::RegisterBenchmark(("copy/" + name).c_str(), BM_Copy, n, sh);
        }
    }
    benchmark::Initialize(&argc, argv);
    SideBySide reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    rte_eal_cleanup();
    return 0;
}
