// Route lookup: the ingress FIB (DIR-24-8, src/ipv4/fib.h) against DPDK's rte_fib (DIR24_8,
// 4-byte next hops) and rte_lpm, built from the same random prefixes in the same process,
// looked up in bulk on the same destination arrays. Plus the route hint of the input route
// stage (the same destination and source as the previous packet) on and off. Plus route
// changes with 1M routes installed: a full build against single /24 adds and deletes
// applied in place (Fib::insert/erase, and RoutePublisher::update as a reload or the host
// mirror calls it), as distributions, with the lookup rate before and after the changes.
//
//   build/bench/bench_fib --benchmark_repetitions=5 [--benchmark_filter=...]
//   build/bench/bench_fib --benchmark_filter=Change     (the route changes only)
//
// Prints Google Benchmark's table (ns/lookup and Mlookups/s counters), then a side-by-side
// summary with the ratios against rte_fib, then the route-change figures. DPDK runs with --no-huge
// --no-pci --no-shconf (no hugepages on CI machines); see README "Route lookup".
#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_fib.h>
#include <rte_lpm.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "ipv4/fib.h"
#include "ipv4/route.h"
#include "ipv4/route_tables.h"

using namespace ingress;
using wire::Ipv4Addr;

namespace {

constexpr std::size_t kBurst = 64;              // lookups per bulk call (one rx burst)
constexpr std::size_t kDestinations = 1 << 20;  // the random destination array
constexpr std::size_t kRepeated = 32;           // distinct destinations in the repeated pattern
const int kSizes[] = {1'000, 100'000, 1'000'000};

// Random prefixes shaped like an Internet table: mostly /24 and /16../23, some shorter,
// about 6% longer than /24 (each of those costs a tbl8 group in every DIR-24-8).
std::vector<ipv4::Route> random_prefixes(int n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<ipv4::Route> v;
    v.reserve(n);
    for (int i = 0; i < n; ++i) {
        const uint32_t r = rng() % 100;
        uint8_t len = r < 55   ? 24
                      : r < 85 ? 16 + rng() % 8
                      : r < 94 ? 8 + rng() % 8
                               : 25 + rng() % 8;
        const uint32_t mask = ~uint32_t{0} << (32 - len);
        v.push_back({.prefix = static_cast<Ipv4Addr>(rng()) & mask,
                     .prefix_len = len,
                     .type = ipv4::RouteType::kUnicast,
                     .oif = 1});
    }
    return v;
}

struct Table {
    std::vector<ipv4::Route> routes;
    std::unique_ptr<ipv4::Fib> fib;
    rte_fib* dpdk_fib = nullptr;
    rte_lpm* lpm = nullptr;
    std::vector<Ipv4Addr> random_dst;    // hosts inside random prefixes of the table
    std::vector<Ipv4Addr> repeated_dst;  // kRepeated of them, cycled
};

Table& table(int size_idx) {
    static std::map<int, std::unique_ptr<Table>> tables;
    auto& slot = tables[size_idx];
    if (slot) return *slot;
    slot = std::make_unique<Table>();
    Table& t = *slot;
    const int n = kSizes[size_idx];
    t.routes = random_prefixes(n, 1234 + size_idx);
    t.fib = std::make_unique<ipv4::Fib>(t.routes);

    const std::string sfx = std::to_string(n);
    rte_fib_conf fc{};
    fc.type = RTE_FIB_DIR24_8;
    fc.default_nh = 0;
    fc.max_routes = n + 16;
    fc.dir24_8.nh_sz = RTE_FIB_DIR24_8_4B;
    fc.dir24_8.num_tbl8 = static_cast<uint32_t>(t.fib->tbl8_groups() + 1024);
    t.dpdk_fib = rte_fib_create(("fib" + sfx).c_str(), 0, &fc);
    rte_lpm_config lc{};
    lc.max_rules = static_cast<uint32_t>(n + 16);
    lc.number_tbl8s = static_cast<uint32_t>(t.fib->tbl8_groups() + 1024);
    t.lpm = rte_lpm_create(("lpm" + sfx).c_str(), 0, &lc);
    if (!t.dpdk_fib || !t.lpm) {
        std::fprintf(stderr, "bench_fib: rte_fib/rte_lpm create failed: %s\n",
                     rte_strerror(rte_errno));
        std::exit(1);
    }
    // The same next hop as ours: the route index of the prefix.
    for (ipv4::Fib::Index i = 1; i <= t.fib->size(); ++i) {
        const ipv4::Route& r = t.fib->route(i);
        if (rte_fib_add(t.dpdk_fib, r.prefix, r.prefix_len, i) != 0 ||
            rte_lpm_add(t.lpm, r.prefix, r.prefix_len, i) != 0) {
            std::fprintf(stderr, "bench_fib: add failed at route %u\n", i);
            std::exit(1);
        }
    }
    std::mt19937 rng(99 + size_idx);
    t.random_dst.resize(kDestinations);
    for (Ipv4Addr& a : t.random_dst) {
        const ipv4::Route& r = t.routes[rng() % t.routes.size()];
        const uint32_t host = r.prefix_len == 32 ? 0 : rng() & (~uint32_t{0} >> r.prefix_len);
        a = r.prefix | host;
    }
    for (std::size_t i = 0; i < kDestinations; i += kRepeated)
        for (std::size_t j = 0; j < kRepeated && i + j < kDestinations; ++j)
            t.repeated_dst.push_back(t.random_dst[j]);

    // All three agree on every destination, or the comparison means nothing.
    std::vector<uint32_t> ours(kBurst), lpm(kBurst);
    std::vector<uint64_t> theirs(kBurst);
    for (std::size_t off = 0; off + kBurst <= 65536; off += kBurst) {
        t.fib->lookup_bulk(&t.random_dst[off], ours.data(), kBurst);
        rte_fib_lookup_bulk(t.dpdk_fib, &t.random_dst[off], theirs.data(), kBurst);
        rte_lpm_lookup_bulk(t.lpm, &t.random_dst[off], lpm.data(), kBurst);
        for (std::size_t i = 0; i < kBurst; ++i)
            if (ours[i] != theirs[i] || ours[i] != (lpm[i] & 0x00ffffffu)) {
                std::fprintf(stderr, "bench_fib: lookups disagree on %08x: %u %lu %u\n",
                             t.random_dst[off + i], ours[i], static_cast<unsigned long>(theirs[i]),
                             lpm[i]);
                std::exit(1);
            }
    }
    return t;
}

void set_counters(benchmark::State& state, uint64_t lookups) {
    state.counters["ns/lookup"] =
        benchmark::Counter(static_cast<double>(lookups) * 1e-9,
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.counters["Mlookups/s"] =
        benchmark::Counter(static_cast<double>(lookups) * 1e-6, benchmark::Counter::kIsRate);
}

template <class Lookup>
void run(benchmark::State& state, Lookup&& lookup) {
    Table& t = table(static_cast<int>(state.range(0)));
    const std::vector<Ipv4Addr>& dst = state.range(1) ? t.repeated_dst : t.random_dst;
    std::size_t off = 0;
    uint64_t n = 0;
    for (auto _ : state) {
        lookup(t, &dst[off]);
        off = (off + kBurst) & (kDestinations - 1);
        n += kBurst;
    }
    set_counters(state, n);
}

void BM_Ingress(benchmark::State& state) {
    uint32_t out[kBurst];
    run(state, [&](Table& t, const Ipv4Addr* a) {
        t.fib->lookup_bulk(a, out, kBurst);
        benchmark::DoNotOptimize(out);
    });
}

void BM_RteFib(benchmark::State& state) {
    uint64_t out[kBurst];
    run(state, [&](Table& t, const Ipv4Addr* a) {
        rte_fib_lookup_bulk(t.dpdk_fib, const_cast<Ipv4Addr*>(a), out, kBurst);
        benchmark::DoNotOptimize(out);
    });
}

void BM_RteLpm(benchmark::State& state) {
    uint32_t out[kBurst];
    run(state, [&](Table& t, const Ipv4Addr* a) {
        rte_lpm_lookup_bulk(t.lpm, a, out, kBurst);
        benchmark::DoNotOptimize(out);
    });
}

void lookup_args(benchmark::internal::Benchmark* b) {
    b->ArgNames({"prefixes_idx", "repeated"});
    for (int s = 0; s < 3; ++s)
        for (int r = 0; r < 2; ++r) b->Args({s, r});
}
BENCHMARK(BM_RteFib)->Apply(lookup_args);
BENCHMARK(BM_Ingress)->Apply(lookup_args);
BENCHMARK(BM_RteLpm)->Apply(lookup_args);

// The route hint: route_input_noref() over a burst of one flow (same source and
// destination), with the hint (the decision is reused) and without (full decision each
// time: martian checks, FIB lookup, fib_validate_source with rp_filter=1 doing its own
// lookup), on a table of 100k routes plus a port at 198.18.0.1/24.
void BM_RouteHint(benchmark::State& state) {
    static std::unique_ptr<ipv4::RouteTables> tables = [] {
        ipv4::RouteConfig cfg;
        ipv4::IfConfig port{.ifindex = 1, .name = "eth0"};
        port.addrs.push_back({.addr = wire::ipv4(198, 18, 0, 1), .prefix_len = 24});
        port.conf.rp_filter = 1;
        cfg.ifaces.push_back(port);
        for (const ipv4::Route& r : random_prefixes(100'000, 7))
            cfg.routes.push_back({.prefix = r.prefix, .prefix_len = r.prefix_len, .oif = 1});
        return std::make_unique<ipv4::RouteTables>(cfg, 1);
    }();
    const ipv4::IfState& dev = *tables->iface(1);
    const bool use_hint = state.range(0) != 0;
    ipv4::RouteHint hint;
    uint64_t n = 0;
    for (auto _ : state) {
        for (std::size_t i = 0; i < kBurst; ++i) {
            auto d =
                ipv4::route_input_noref(*tables, dev, wire::ipv4(198, 18, 0, 1),
                                        wire::ipv4(198, 18, 0, 2), 17, use_hint ? &hint : nullptr);
            benchmark::DoNotOptimize(d);
        }
        n += kBurst;
    }
    set_counters(state, n);
}
BENCHMARK(BM_RouteHint)->ArgName("hint")->Arg(0)->Arg(1);

// ---- Route changes with 1M routes installed ----

std::string g_change_report;  // printed after the tables

double now_us() {
    return std::chrono::duration<double, std::micro>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::string distribution(const char* what, std::vector<double> us) {
    std::sort(us.begin(), us.end());
    auto at = [&](double q) { return us[std::min(us.size() - 1, std::size_t(q * us.size()))]; };
    char line[200];
    std::snprintf(line, sizeof line, "  %-34s n=%-6zu p50 %8.2f us  p99 %8.2f us  max %9.2f us\n",
                  what, us.size(), at(0.5), at(0.99), us.back());
    return line;
}

// Mlookups/s of bulk lookups over random destinations of the table (one core).
double lookup_rate(const ipv4::Fib& fib, const std::vector<Ipv4Addr>& dst) {
    uint32_t out[kBurst];
    const std::size_t n = 64 * kDestinations;
    const double t0 = now_us();
    for (std::size_t off = 0, i = 0; i < n; i += kBurst) {
        fib.lookup_bulk(&dst[off], out, kBurst);
        benchmark::DoNotOptimize(out);
        off = (off + kBurst) & (kDestinations - 1);
    }
    return static_cast<double>(n) / (now_us() - t0);
}

// 1M routes shaped like a BGP table (random_prefixes()); 10,000 /24s not in it added one at
// a time, then deleted one at a time, each timed; the lookup rate before and after; the
// full build of the same table. One iteration: the figures are the distributions.
void BM_FibChange(benchmark::State& state) {
    constexpr int kRoutes = 1'000'000, kChanges = 10'000;
    const std::vector<ipv4::Route> routes = random_prefixes(kRoutes, 1236);
    std::mt19937 rng(5);
    std::vector<Ipv4Addr> dst(kDestinations);
    for (Ipv4Addr& a : dst) {
        const ipv4::Route& r = routes[rng() % routes.size()];
        a = r.prefix | (r.prefix_len == 32 ? 0 : rng() & (~uint32_t{0} >> r.prefix_len));
    }
    std::string rep;
    for (auto _ : state) {
        const double b0 = now_us();
        ipv4::Fib fib(routes);
        const double build_ms = (now_us() - b0) / 1e3;
        const double before = lookup_rate(fib, dst);
        // The /24s to change: absent from the table (an add installs a new prefix).
        std::vector<ipv4::Route> change;
        while (change.size() < kChanges) {
            const ipv4::Route r{
                .prefix = static_cast<Ipv4Addr>(rng()) & 0xffffff00u, .prefix_len = 24, .oif = 2};
            if (fib.count_in_table(r) == 0) change.push_back(r);
        }
        std::vector<double> add_us, del_us;
        for (const ipv4::Route& r : change) {
            const double t0 = now_us();
            const bool ok = fib.insert(r) == ipv4::Fib::Change::kApplied;
            add_us.push_back(now_us() - t0);
            if (!ok) state.SkipWithError("insert failed");
        }
        const double during = lookup_rate(fib, dst);
        for (std::size_t i = 0; i < change.size(); ++i) {
            const double t0 = now_us();
            const bool ok = fib.erase(change[i]) == ipv4::Fib::Change::kApplied;
            del_us.push_back(now_us() - t0);
            if (!ok) state.SkipWithError("erase failed");
            if (i % 64 == 63) fib.reclaim();  // as the publisher does after its grace period
        }
        const double after = lookup_rate(fib, dst);
        char head[400];
        std::snprintf(head, sizeof head,
                      "\nroute changes, %d routes installed (BGP-like lengths), one core:\n"
                      "  full build (Fib constructor)       %.1f ms\n",
                      kRoutes, build_ms);
        rep = head;
        rep += distribution("one /24 add (Fib::insert)", add_us);
        rep += distribution("one /24 delete (Fib::erase)", del_us);
        std::snprintf(head, sizeof head,
                      "  lookup, random destinations        %.1f Mlookups/s before, %.1f with "
                      "+10k /24s, %.1f after\n",
                      before, during, after);
        rep += head;
    }
    // Through the publisher, with /24s the table does not have (each add installs a new
    // prefix, each delete removes it): update() as a reload calls it (the diff of two whole
    // configurations, linear in the routes), and apply() as the host mirror calls it for a
    // route notification (the list edited in place). Both: the in-place change, a new
    // snapshot, the grace period (no readers registered here) and the reclaim.
    {
        ipv4::RouteConfig cfg;
        std::unordered_set<uint64_t> have;
        for (const ipv4::Route& r : routes) {
            cfg.routes.push_back({.prefix = r.prefix, .prefix_len = r.prefix_len, .oif = 1});
            have.insert(uint64_t{r.prefix_len} << 32 | r.prefix);
        }
        auto absent_24 = [&] {
            for (;;) {
                const Ipv4Addr p = static_cast<Ipv4Addr>(rng()) & 0xffffff00u;
                if (have.insert(uint64_t{24} << 32 | p).second)
                    return ipv4::StaticRoute{.prefix = p, .prefix_len = 24, .oif = 2};
            }
        };
        ipv4::RoutePublisher pub(cfg);
        std::vector<double> update_us, apply_us;
        bool all_incremental = true;
        for (int i = 0; i < 200; ++i) {
            ipv4::RouteConfig next = pub.config();
            if (i % 2)
                next.routes.pop_back();  // the previous add goes
            else
                next.routes.push_back(absent_24());
            const double t0 = now_us();
            pub.update(std::move(next));
            update_us.push_back(now_us() - t0);
            all_incremental = all_incremental && pub.last_incremental();
        }
        const double i0 = now_us();
        pub.prepare_edits();  // once, as ingressd does when it follows the kernel
        const double index_ms = (now_us() - i0) / 1e3;
        ipv4::RouteEdit edit;
        for (int i = 0; i < 2000; ++i) {
            if (i % 2)
                edit.add = false;  // the previous add goes
            else
                edit = {.route = absent_24()};
            const double t0 = now_us();
            const bool ok = pub.apply({&edit, 1});
            apply_us.push_back(now_us() - t0);
            all_incremental = all_incremental && ok && pub.last_incremental();
        }
        const char* tag = all_incremental ? "" : " (some FULL)";
        rep +=
            distribution((std::string("RoutePublisher::update, 1 route") + tag).c_str(), update_us);
        rep +=
            distribution((std::string("RoutePublisher::apply, 1 route") + tag).c_str(), apply_us);
        char line[160];
        std::snprintf(line, sizeof line, "  RoutePublisher::prepare_edits      %.1f ms (once)\n",
                      index_ms);
        rep += line;
        // An endpoint joins or leaves a group (the registry): set_mc() publishes only the
        // memberships, beside what the registry did before it, a copy of the whole
        // configuration through update() (with apply()'s index in use, rebuilt each time).
        std::vector<double> set_mc_us, via_update_us;
        const Ipv4Addr group = 0xef010000u;  // 239.1.0.0 + i
        for (int i = 0; i < 200; ++i) {
            ipv4::McGroups mc = pub.config().mc;
            if (i % 2)
                (void)mc.leave(1, group + static_cast<Ipv4Addr>(i - 1),
                               ipv4::McFilterMode::kExclude);
            else
                mc.join(1, group + static_cast<Ipv4Addr>(i), ipv4::McFilterMode::kExclude);
            const double t0 = now_us();
            pub.set_mc(std::move(mc));
            set_mc_us.push_back(now_us() - t0);
        }
        for (int i = 0; i < 6; ++i) {
            ipv4::RouteConfig next = pub.config();
            if (i % 2)
                (void)next.mc.leave(1, group + static_cast<Ipv4Addr>(i - 1),
                                    ipv4::McFilterMode::kExclude);
            else
                next.mc.join(1, group + static_cast<Ipv4Addr>(i), ipv4::McFilterMode::kExclude);
            const double t0 = now_us();
            pub.update(std::move(next));
            via_update_us.push_back(now_us() - t0);
        }
        rep += distribution("RoutePublisher::set_mc, 1 join", set_mc_us);
        rep += distribution("1 join as a whole update()", via_update_us);
    }
    g_change_report = rep;
}
BENCHMARK(BM_FibChange)->Iterations(1)->Unit(benchmark::kMillisecond);

// Google Benchmark's console output, then the side-by-side table with ratios to rte_fib.
class SideBySide : public benchmark::ConsoleReporter {
public:
    SideBySide() : ConsoleReporter(OO_Tabular) {}  // no colour codes: the output is pasted
    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        // The fastest repetition of each: on a shared machine the others measure the
        // neighbours (run with --benchmark_repetitions=N).
        for (const Run& r : runs) {
            auto it = r.counters.find("ns/lookup");
            if (r.run_type != Run::RT_Iteration || it == r.counters.end()) continue;
            double& best = ns_[r.run_name.str()];
            if (best == 0 || it->second.value < best) best = it->second.value;
        }
    }
    void Finalize() override {
        ConsoleReporter::Finalize();
        std::printf("\n%-10s %-9s %10s %10s %10s %9s %10s %9s\n", "prefixes", "dst", "rte_fib ns",
                    "ingress ns", "rte_lpm ns", "ingress", "Mlookup/s", "rte_lpm");
        std::printf("%-10s %-9s %10s %10s %10s %9s %10s %9s\n", "", "", "", "", "", "/rte_fib",
                    "ingress", "/rte_fib");
        for (int s = 0; s < 3; ++s)
            for (int r = 0; r < 2; ++r) {
                const std::string args =
                    "/prefixes_idx:" + std::to_string(s) + "/repeated:" + std::to_string(r);
                const double fib = ns_["BM_RteFib" + args], ours = ns_["BM_Ingress" + args],
                             lpm = ns_["BM_RteLpm" + args];
                if (!fib || !ours) continue;
                // Speed ratio: > 1 means faster than rte_fib.
                std::printf("%-10d %-9s %10.2f %10.2f %10.2f %8.2fx %10.1f %8.2fx\n", kSizes[s],
                            r ? "repeated" : "random", fib, ours, lpm, fib / ours, 1e3 / ours,
                            lpm ? fib / lpm : 0.0);
            }
        const double off = ns_["BM_RouteHint/hint:0"], on = ns_["BM_RouteHint/hint:1"];
        if (off && on)
            std::printf("\nroute hint: %.2f ns/packet without, %.2f ns with (%.2fx)\n", off, on,
                        off / on);
        std::fputs(g_change_report.c_str(), stdout);
    }

private:
    std::map<std::string, double> ns_;
};

}  // namespace

int main(int argc, char** argv) {
    // EAL with no hugepages and no devices: rte_fib/rte_lpm only need rte_malloc memory.
    char a0[] = "bench_fib", a1[] = "--no-huge", a2[] = "--no-pci", a3[] = "-l", a4[] = "0",
         a5[] = "--log-level=error", a6[] = "--no-shconf", a7[] = "-m", a8[] = "2048",
         a9[] = "--no-telemetry";
    char* eal_argv[] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9};
    if (rte_eal_init(static_cast<int>(std::size(eal_argv)), eal_argv) < 0) {
        std::fprintf(stderr, "bench_fib: rte_eal_init failed: %s\n", rte_strerror(rte_errno));
        return 1;
    }
    benchmark::Initialize(&argc, argv);
    SideBySide reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    rte_eal_cleanup();
    return 0;
}
