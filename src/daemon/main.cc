// ingressd: the dataplane daemon.
//
//   ingressd --config FILE [--check] [--xdp-object PATH] [--stats-interval S] [--live]
//            [--verbose]
//
// --check validates the configuration and exits (0: valid). Otherwise: brings the
// dataplane up (XDP program and AF_XDP sockets, or DPDK ports with their exception TAPs;
// one worker per interface queue), then
//   SIGHUP         re-reads the file and applies addresses, routes and knobs live (changes
//                  that need a restart are listed and nothing is applied),
//   SIGUSR1        prints every counter in nstat form,
//   SIGINT/TERM    stops the workers, detaches the programs, prints the final counters
//                  (and each port's backend counters on stderr).
// A configuration error names file, line, column and key, and nothing is touched.
// `ingressctl reload` on the control socket does what SIGHUP does (docs/ingressctl.md).
#include <getopt.h>
#include <linux/limits.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <string>

#include "config/config.h"
#include "core/stats_format.h"
#include "daemon/dataplane.h"
#include "io/afxdp/xdp_program.h"

using namespace ingress;

int main(int argc, char** argv) {
    std::string cfg_path, xdp_object;
    bool check = false, verbose = false, live = false;
    int stats_interval = 0;
    static const option opts[] = {{"config", required_argument, nullptr, 'c'},
                                  {"check", no_argument, nullptr, 'k'},
                                  {"xdp-object", required_argument, nullptr, 'x'},
                                  {"stats-interval", required_argument, nullptr, 's'},
                                  {"verbose", no_argument, nullptr, 'v'},
                                  {"live", no_argument, nullptr, 'l'},
                                  {"help", no_argument, nullptr, 'h'},
                                  {nullptr, 0, nullptr, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "c:", opts, nullptr)) != -1) {
        switch (ch) {
        case 'c': cfg_path = optarg; break;
        case 'k': check = true; break;
        case 'x': xdp_object = optarg; break;
        case 's': stats_interval = std::atoi(optarg); break;
        case 'v': verbose = true; break;
        case 'l': live = true; break;
        case 'h':
            std::puts("usage: ingressd --config FILE [--check] [--xdp-object PATH] "
                      "[--stats-interval S] [--live] [--verbose]");
            return 0;
        default: return 2;
        }
    }
    if (cfg_path.empty()) {
        std::fprintf(stderr, "ingressd: --config FILE is required (see config/default.yaml)\n");
        return 2;
    }
    config::Config cfg;
    try {
        cfg = config::load(cfg_path, daemon::load_options());
    } catch (const config::Error& e) {
        std::fprintf(stderr, "ingressd: %s\n", e.what());
        return 1;
    }
    if (check) {
        std::printf("%s: ok (%zu interface(s), %zu worker(s))\n", cfg_path.c_str(),
                    cfg.interfaces.size(), cfg.workers());
        return 0;
    }
    if (xdp_object.empty()) xdp_object = io::afxdp::default_object_path();
    io::afxdp::set_library_logging(verbose);

    // Signals are taken synchronously by this thread; the workers never see them. A signal
    // whose disposition is "ignore" is discarded before sigtimedwait could take it, and a
    // shell starts background jobs with SIGINT ignored: reset them to the default first.
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGUSR1}) {
        signal(s, SIG_DFL);
        sigaddset(&set, s);
    }
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    try {
        daemon::Dataplane dp(cfg, xdp_object);
        std::fprintf(stderr, "ingressd: %s: %zu worker(s) up\n", cfg_path.c_str(), dp.workers());
        for (const auto& d : dp.describe()) std::fprintf(stderr, "ingressd:   %s\n", d.c_str());
        std::fprintf(stderr, "ingressd: control socket %s\n", dp.control_path().c_str());
        // `ingressctl reload` runs SIGHUP's path, from control_step in this thread.
        dp.on_reload_request([&] { return daemon::reload_from_file(dp, cfg_path); });
        timespec last_stats{}, last_live{};
        clock_gettime(CLOCK_MONOTONIC, &last_stats);
        last_live = last_stats;
        core::Snapshot live_prev = dp.counters();
        for (;;) {
            // The control thread: serve apps for up to 100 ms, then look at signals.
            dp.control_step(100);
            if (live) {  // one line of counters a second on stderr
                timespec now{};
                clock_gettime(CLOCK_MONOTONIC, &now);
                double dt = static_cast<double>(now.tv_sec - last_live.tv_sec) +
                            static_cast<double>(now.tv_nsec - last_live.tv_nsec) / 1e9;
                if (dt >= 1.0) {
                    core::Snapshot cur = dp.counters();
                    std::fprintf(stderr, "ingressd: %s\n", core::format_live_line(live_prev, cur, dt).c_str());
                    live_prev = cur;
                    last_live = now;
                }
            }
            timespec zero{0, 0};
            int sig = sigtimedwait(&set, nullptr, &zero);
            if (sig < 0 && stats_interval > 0) {
                timespec now{};
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (now.tv_sec - last_stats.tv_sec < stats_interval) continue;
                last_stats = now;
            } else if (sig < 0) {
                continue;
            }
            if (sig == SIGINT || sig == SIGTERM) break;
            if (sig == SIGHUP) {
                daemon::reload_from_file(dp, cfg_path);
                continue;
            }
            if (sig == SIGUSR1 || (sig < 0 && stats_interval > 0))
                std::fputs(core::format_stats(dp.counters()).c_str(), stdout), std::fflush(stdout);
        }
        // The final counters once the workers have stopped: nothing is in flight or held.
        dp.stop();
        core::Snapshot s = dp.counters();
        for (const auto& b : dp.backend_stats()) std::fprintf(stderr, "ingressd: backend %s\n", b.c_str());
        std::fputs(core::format_stats(s).c_str(), stdout);
        std::fflush(stdout);
        return s.conserved() ? 0 : 3;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ingressd: %s\n", e.what());
        return 1;
    }
}
