// The differential runner: every scenario runs twice, once on the Linux kernel and once on
// ingressd, in fresh namespaces; what each socket received, the MIB counter deltas and the
// ICMP errors sent back are diffed. See tests/differential/README.md.
//
//   differential [--ingressd PATH] [--only NAME] FILE|DIR...
//   differential --random --seed N --frames M [--per-scenario K]
//
// Exit status 1 when a scenario differs without a `differs:` reason (or, in random mode,
// when any scenario differs); the diff names the scenario, the socket or counter, and the
// kernel's against ingressd's.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "scenario.h"
#include "sides.h"

namespace ingress::diff {
namespace {

// Lines describing how `got` (ingressd) differs from `want` (the kernel); empty when equal.
std::vector<std::string> compare(const Observed& want, const Observed& got) {
    std::vector<std::string> out;
    auto list = [&](const std::string& what, const std::vector<std::string>& k,
                    const std::vector<std::string>& i) {
        if (k == i) return;
        out.push_back(what + ": kernel " + std::to_string(k.size()) + ", ingressd " +
                      std::to_string(i.size()));
        std::size_t n = std::max(k.size(), i.size());
        for (std::size_t j = 0; j < n; ++j) {
            const std::string* a = j < k.size() ? &k[j] : nullptr;
            const std::string* b = j < i.size() ? &i[j] : nullptr;
            if (a && b && *a == *b) {
                out.push_back("      = " + *a);
                continue;
            }
            if (a) out.push_back("      kernel:   " + *a);
            if (b) out.push_back("      ingressd: " + *b);
        }
    };
    std::map<std::string, bool> names;
    for (const auto& [n, _] : want.deliveries) names[n] = true;
    for (const auto& [n, _] : got.deliveries) names[n] = true;
    static const std::vector<std::string> none;
    for (const auto& [n, _] : names) {
        auto k = want.deliveries.find(n), i = got.deliveries.find(n);
        list("socket " + n, k == want.deliveries.end() ? none : k->second,
             i == got.deliveries.end() ? none : i->second);
    }
    for (const auto& c : compared_counters()) {
        auto k = want.counters.find(c), i = got.counters.find(c);
        int64_t kv = k == want.counters.end() ? 0 : k->second;
        int64_t iv = i == got.counters.end() ? 0 : i->second;
        if (kv != iv)
            out.push_back("counter " + c + ": kernel " + std::to_string(kv) + ", ingressd " +
                          std::to_string(iv));
    }
    // A check of one side alone (a steered scenario's dataplane_frames) is a counter outside
    // the compared list: present means failed.
    for (const auto& [n, v] : got.counters)
        if (std::find(compared_counters().begin(), compared_counters().end(), n) ==
            compared_counters().end())
            out.push_back("ingressd " + n + ": " + std::to_string(v));
    list("icmp sent back", want.icmp, got.icmp);
    return out;
}

struct Totals {
    int run = 0, matched = 0, documented = 0, known = 0, skipped = 0, failed = 0;
    std::vector<std::string> failures;
};

void print_observed(const char* side, const Observed& o) {
    std::printf("  %s:\n", side);
    for (const auto& [n, v] : o.deliveries)
        for (const auto& r : v) std::printf("    %s <- %s\n", n.c_str(), r.c_str());
    for (const auto& [n, v] : o.counters)
        std::printf("    %-28s %lld\n", n.c_str(), static_cast<long long>(v));
    for (const auto& r : o.icmp) std::printf("    icmp %s\n", r.c_str());
}

// Runs one scenario on both sides; returns whether it matched.
bool run_one(const Scenario& sc, const std::string& ingressd, const std::string& driver,
             const std::string& host, bool verbose, Totals& t, bool print_yaml) {
    ++t.run;
    Observed k, i;
    try {
        k = run_kernel(sc);
        i = run_ingressd(sc, ingressd, driver, host);
    } catch (const Unsupported& e) {
        std::printf("SKIPPED  %s: %s\n", sc.name.c_str(), e.what());
        ++t.skipped;
        return true;
    } catch (const std::exception& e) {
        std::printf("ERROR %s: %s: %s\n", sc.file.c_str(), sc.name.c_str(), e.what());
        ++t.failed;
        t.failures.push_back(sc.name);
        return false;
    }
    auto diff = compare(k, i);
    if (verbose) {
        std::printf("%s: %s\n", sc.file.c_str(), sc.name.c_str());
        print_observed("kernel", k);
        print_observed("ingressd", i);
    }
    if (diff.empty()) {
        ++t.matched;
        std::printf("ok       %s%s\n", sc.name.c_str(),
                    sc.differs.empty() && sc.known.empty()
                        ? ""
                        : "  (note: marked `differs`/`known` but matched)");
        return true;
    }
    bool documented = !sc.differs.empty(), known = !sc.known.empty();
    std::printf("%s %s (%s)\n",
                documented ? "DIFFERS "
                : known    ? "KNOWN   "
                           : "MISMATCH",
                sc.name.c_str(), sc.file.c_str());
    if (documented) std::printf("  deliberate: %s\n", sc.differs.c_str());
    if (known) std::printf("  known mismatch: %s\n", sc.known.c_str());
    for (const auto& l : diff) std::printf("    %s\n", l.c_str());
    if (print_yaml) {
        YAML::Emitter e;
        e << YAML::BeginMap << YAML::Key << "scenarios" << YAML::Value << YAML::BeginSeq
          << sc.source << YAML::EndSeq << YAML::EndMap;
        std::printf("  reproduce with this scenario file:\n%s\n", e.c_str());
    }
    if (documented || known) {
        ++(documented ? t.documented : t.known);
        return true;
    }
    ++t.failed;
    t.failures.push_back(sc.name);
    return false;
}

std::vector<std::string> scenario_files(const std::vector<std::string>& args) {
    std::vector<std::string> files;
    for (const auto& a : args) {
        if (std::filesystem::is_directory(a)) {
            std::vector<std::string> in;
            for (const auto& e : std::filesystem::directory_iterator(a))
                if (e.path().extension() == ".yaml") in.push_back(e.path());
            std::sort(in.begin(), in.end());
            files.insert(files.end(), in.begin(), in.end());
        } else {
            files.push_back(a);
        }
    }
    return files;
}

std::string default_ingressd(const char* argv0) {
    // build/tests/differential/differential -> build/src/ingressd
    auto p = std::filesystem::absolute(argv0).parent_path().parent_path().parent_path() / "src" /
             "ingressd";
    return p;
}

int main_(int argc, char** argv) {
    std::string ingressd = default_ingressd(argv[0]), only, driver = "af_xdp", host = "config";
    bool random = false, verbose = false;
    uint64_t seed = 1;
    long frames = 1000, per = 200;
    std::vector<std::string> paths;
    for (int a = 1; a < argc; ++a) {
        std::string s = argv[a];
        auto next = [&] {
            if (a + 1 >= argc) throw std::runtime_error(s + " needs a value");
            return std::string(argv[++a]);
        };
        if (s == "--ingressd")
            ingressd = next();
        else if (s == "--only")
            only = next();
        else if (s == "--driver")
            driver = next();
        else if (s == "--host")
            host = next();
        else if (s == "--random")
            random = true;
        else if (s == "--seed")
            seed = std::stoull(next());
        else if (s == "--frames")
            frames = std::stol(next());
        else if (s == "--per-scenario")
            per = std::stol(next());
        else if (s == "-v" || s == "--verbose")
            verbose = true;
        else if (s == "-h" || s == "--help") {
            std::puts(
                "usage: differential [--ingressd PATH] [--driver af_xdp|dpdk] [--host "
                "config|kernel] "
                "[--only NAME] [-v] FILE|DIR...\n"
                "       differential --random --seed N --frames M [--per-scenario K] [--driver D] "
                "[-v]");
            return 0;
        } else
            paths.push_back(s);
    }
    Totals t;
    long frames_run = 0;
    if (driver != "af_xdp" && driver != "dpdk")
        throw std::runtime_error("--driver: af_xdp or dpdk");
    if (host != "config" && host != "kernel") throw std::runtime_error("--host: config or kernel");
    std::printf("ingressd driver: %s, host: %s\n", driver.c_str(), host.c_str());
    if (random) {
        std::printf("random mode: seed %llu, %ld frames, %ld per scenario\n",
                    static_cast<unsigned long long>(seed), frames, per);
        std::mt19937_64 rng(seed);
        for (int idx = 0; frames_run < frames; ++idx) {
            int n = static_cast<int>(std::min(per, frames - frames_run));
            Scenario sc =
                parse_scenario(random_scenario(rng, idx, n), "seed " + std::to_string(seed));
            frames_run += static_cast<long>(sc.frames.size());
            run_one(sc, ingressd, driver, host, verbose, t, true);
        }
    } else {
        for (const auto& f : scenario_files(paths))
            for (const auto& sc : load_file(f))
                if (only.empty() || sc.name == only) {
                    frames_run += static_cast<long>(sc.frames.size());
                    run_one(sc, ingressd, driver, host, verbose, t, false);
                }
    }
    std::printf(
        "\n%d scenarios, %ld frames: %d matched, %d deliberate differences, %d known "
        "mismatches, %d skipped, %d failed\n",
        t.run, frames_run, t.matched, t.documented, t.known, t.skipped, t.failed);
    for (const auto& f : t.failures) std::printf("  failed: %s\n", f.c_str());
    return t.failed || t.run == 0 ? 1 : 0;
}

}  // namespace
}  // namespace ingress::diff

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows in a log as it happens
    try {
        return ingress::diff::main_(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "differential: %s\n", e.what());
        return 2;
    }
}
