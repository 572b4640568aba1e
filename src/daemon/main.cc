// ingressd: the dataplane daemon.
//
//   ingressd --config FILE [--check] [--xdp-object PATH] [--stats-interval S] [--live]
//            [--pid-file PATH] [--verbose]
//
// --check validates the configuration and exits (0: valid). Otherwise: brings the
// dataplane up (XDP program and AF_XDP sockets, or DPDK ports with their exception TAPs;
// one worker per interface queue). Ready is when every worker polls and the control socket
// listens: only then does it serve the socket (so `ingressctl wait-ready` succeeds), write
// the pid file and tell systemd (sd_notify READY=1; STATUS= with the rates every few
// seconds, RELOADING=1 ... READY=1 around a reload, STOPPING=1 on the way out). Then
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
#include <sys/resource.h>
#include <sys/utsname.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string>
#include <utility>

#include "config/config.h"
#include "core/stats_format.h"
#include "daemon/dataplane.h"
#include "daemon/sandbox.h"
#include "daemon/watchdog.h"
#include "io/afxdp/xdp_program.h"
#include "io/dpdk/backend.h"

using namespace ingress;

namespace {

constexpr double kStatusPeriod = 5.0;  // seconds between STATUS= updates

double seconds_between(const timespec& a, const timespec& b) {
    return static_cast<double>(b.tv_sec - a.tv_sec) +
           static_cast<double>(b.tv_nsec - a.tv_nsec) / 1e9;
}

// systemd's STATUS= line (systemctl status): per-second rates since the previous one.
std::string status_line(const core::Snapshot& prev, const core::Snapshot& cur, double secs,
                        std::size_t workers) {
    auto rate = [&](uint64_t a, uint64_t b) {
        return secs > 0 ? static_cast<double>(b - a) / secs : 0.0;
    };
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "STATUS=%zu worker(s): rx %.0f/s, delivered %.0f/s, dropped %.0f/s", workers,
                  rate(prev.rx, cur.rx), rate(prev.delivered, cur.delivered),
                  rate(prev.dropped_total(), cur.dropped_total()));
    return buf;
}

// Kernels before 5.11 count BPF maps and AF_XDP UMEMs against RLIMIT_MEMLOCK (later ones
// charge the memory cgroup). Raise it to infinity, which root or CAP_SYS_RESOURCE may (the
// unit sets LimitMEMLOCK=infinity); if it stays finite on such a kernel, say so once.
void raise_memlock() {
    rlimit r{RLIM_INFINITY, RLIM_INFINITY};
    if (setrlimit(RLIMIT_MEMLOCK, &r) == 0 || getrlimit(RLIMIT_MEMLOCK, &r) != 0 ||
        r.rlim_cur == RLIM_INFINITY)
        return;
    utsname u{};
    unsigned major = 0, minor = 0;
    if (uname(&u) == 0 && std::sscanf(u.release, "%u.%u", &major, &minor) == 2 &&
        (major > 5 || (major == 5 && minor >= 11)))
        return;  // memcg accounting: the limit does not apply
    std::fprintf(
        stderr,
        "ingressd: memlock: RLIMIT_MEMLOCK stays at %llu KiB (raising it needs CAP_SYS_RESOURCE); "
        "kernels before 5.11 count BPF maps and UMEMs against it\n",
        static_cast<unsigned long long>(r.rlim_cur / 1024));
}

// Every app connection, endpoint memfd and doorbell is an fd of this process: the soft
// RLIMIT_NOFILE (often 1024) goes up to the hard one, as a server does at start (the control
// server keeps its last control.reserved_fds for the administrators).
void raise_nofile() {
    rlimit r{};
    if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == r.rlim_max) return;
    const rlim_t was = r.rlim_cur;
    r.rlim_cur = r.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &r) != 0)
        std::fprintf(stderr, "ingressd: nofile: RLIMIT_NOFILE stays at %llu: %s\n",
                     static_cast<unsigned long long>(was), std::strerror(errno));
}

// RELOADING=1 carries the monotonic time it started (systemd >= 253 checks it; older
// versions ignore it).
void notify_reloading() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
               static_cast<unsigned long long>(now.tv_sec) * 1000000ULL +
                   static_cast<unsigned long long>(now.tv_nsec) / 1000ULL);
}

}  // namespace

int main(int argc, char** argv) {
    std::string cfg_path, xdp_object, pid_file;
    bool check = false, verbose = false, live = false;
    int stats_interval = 0;
    static const option opts[] = {{"config", required_argument, nullptr, 'c'},
                                  {"check", no_argument, nullptr, 'k'},
                                  {"xdp-object", required_argument, nullptr, 'x'},
                                  {"stats-interval", required_argument, nullptr, 's'},
                                  {"verbose", no_argument, nullptr, 'v'},
                                  {"live", no_argument, nullptr, 'l'},
                                  {"pid-file", required_argument, nullptr, 'p'},
                                  {"help", no_argument, nullptr, 'h'},
                                  {nullptr, 0, nullptr, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "c:", opts, nullptr)) != -1) {
        switch (ch) {
            case 'c':
                cfg_path = optarg;
                break;
            case 'k':
                check = true;
                break;
            case 'x':
                xdp_object = optarg;
                break;
            case 's':
                stats_interval = std::atoi(optarg);
                break;
            case 'v':
                verbose = true;
                break;
            case 'l':
                live = true;
                break;
            case 'p':
                pid_file = optarg;
                break;
            case 'h':
                std::puts(
                    "usage: ingressd --config FILE [--check] [--xdp-object PATH] "
                    "[--stats-interval S] [--live] [--pid-file PATH] [--verbose]");
                return 0;
            default:
                return 2;
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
        try {  // privileges.user, .group and control.group name existing ones
            if (!cfg.privileges_user.empty()) daemon::resolve_identity(cfg);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "ingressd: %s: %s\n", cfg_path.c_str(), e.what());
            return 1;
        }
        std::printf("%s: ok (%zu interface(s), %zu worker(s))\n", cfg_path.c_str(),
                    cfg.interfaces.size(), cfg.workers());
        return 0;
    }
    if (xdp_object.empty()) xdp_object = io::afxdp::default_object_path();
    io::afxdp::set_library_logging(verbose);
    raise_memlock();
    raise_nofile();

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

    // DPDK's runtime directory goes at exit, whichever way main returns, after the Dataplane
    // (and with it every DPDK port) is gone.
    struct EalCleanup {
        ~EalCleanup() { io::dpdk::eal_cleanup(); }
    } eal_cleanup;
    // Opened before the dataplane (the daemon may run as privileges.user after setup, with
    // no right to create files in /run); written once ready.
    FILE* pid_out = nullptr;
    if (!pid_file.empty() && !(pid_out = std::fopen(pid_file.c_str(), "w"))) {
        std::fprintf(stderr, "ingressd: --pid-file %s: %s\n", pid_file.c_str(),
                     std::strerror(errno));
        return 1;
    }
    try {
        daemon::Dataplane dp(cfg, xdp_object);
        // Ready: every worker polls (they start as the constructor returns) and the control
        // socket listens (it does since the constructor). Nothing is served before this.
        while (dp.workers_polling() < dp.workers()) usleep(1000);
        std::fprintf(stderr, "ingressd: %s: %zu worker(s) up\n", cfg_path.c_str(), dp.workers());
        for (const auto& d : dp.describe()) std::fprintf(stderr, "ingressd:   %s\n", d.c_str());
        std::fprintf(stderr, "ingressd: control socket %s\n", dp.control_path().c_str());
        if (cfg.host_kernel)
            std::fprintf(stderr,
                         "ingressd: host: kernel: addresses, routes and net.ipv4.conf knobs "
                         "follow the kernel's (ip, sysctl)\n");
        else if (!cfg.host_implied.empty())
            std::fprintf(stderr,
                         "ingressd: host: config, implied by %s in the file (the default is "
                         "host: kernel; write host: config to say so)\n",
                         cfg.host_implied.c_str());
        if (pid_out) {
            FILE* f = std::exchange(pid_out, nullptr);
            if (std::fprintf(f, "%d\n", getpid()) < 0 || std::fclose(f) != 0)
                throw std::runtime_error("--pid-file " + pid_file + ": cannot write it");
        }
        if (daemon::selftest_requested(daemon::SandboxRole::kControl))
            daemon::selftest_forbidden_call("the control thread");
        // SIGHUP and `ingressctl reload` (from control_step, in this thread) share this.
        auto reload = [&] {
            notify_reloading();
            ctl::ReloadOutcome o = daemon::reload_from_file(dp, cfg_path);
            sd_notify(0, "READY=1");
            return o;
        };
        dp.on_reload_request(reload);
        timespec last_stats{}, last_live{}, last_status{};
        clock_gettime(CLOCK_MONOTONIC, &last_stats);
        last_live = last_status = last_stats;
        core::Snapshot live_prev = dp.counters(), status_prev = live_prev;
        // A service manager that cannot be told would wait for READY=1 until its timeout:
        // say why (e.g. NOTIFY_SOCKET not writable by privileges.user).
        if (const int r = sd_notifyf(0, "READY=1\nSTATUS=%zu worker(s) up", dp.workers()); r < 0)
            std::fprintf(stderr, "ingressd: READY=1 not sent to NOTIFY_SOCKET %s: %s\n",
                         std::getenv("NOTIFY_SOCKET"), std::strerror(-r));
        uint64_t watchdog_us = 0;
        if (sd_watchdog_enabled(0, &watchdog_us) <= 0) watchdog_us = 0;
        daemon::Watchdog watchdog(watchdog_us);
        bool stall_logged = false;
        for (;;) {
            // The control thread: serve apps for up to 100 ms, then look at signals.
            dp.control_step(100);
            timespec now{};
            clock_gettime(CLOCK_MONOTONIC, &now);
            const uint64_t now_ns = static_cast<uint64_t>(now.tv_sec) * 1'000'000'000ull +
                                    static_cast<uint64_t>(now.tv_nsec);
            switch (watchdog.check(now_ns, dp.worker_beats())) {
                case daemon::Watchdog::Action::kPing:
                    sd_notify(0, "WATCHDOG=1");
                    if (stall_logged)
                        std::fprintf(stderr, "ingressd: watchdog: workers move again\n");
                    stall_logged = false;
                    break;
                case daemon::Watchdog::Action::kStalled:
                    // A line per stalled worker: which one (its description up to the first
                    // comma: interface and queue) and where its loop is.
                    if (!stall_logged) {
                        const auto desc = dp.describe();
                        for (const std::size_t i : watchdog.stalled_workers())
                            std::fprintf(stderr,
                                         "ingressd: watchdog: %s made no progress for %llu ms, "
                                         "in stage %s: no WATCHDOG=1 until it moves\n",
                                         desc.at(i).substr(0, desc.at(i).find(',')).c_str(),
                                         static_cast<unsigned long long>(watchdog_us / 2000),
                                         worker::loop_phase_name(dp.worker_phase(i)));
                    }
                    stall_logged = true;
                    break;
                case daemon::Watchdog::Action::kWait:
                    break;
            }
            if (double dt = seconds_between(last_status, now); dt >= kStatusPeriod) {
                core::Snapshot cur = dp.counters();
                sd_notify(0, status_line(status_prev, cur, dt, dp.workers()).c_str());
                status_prev = cur;
                last_status = now;
            }
            if (live) {  // one line of counters a second on stderr
                double dt = seconds_between(last_live, now);
                if (dt >= 1.0) {
                    core::Snapshot cur = dp.counters();
                    std::fprintf(stderr, "ingressd: %s\n",
                                 core::format_live_line(live_prev, cur, dt).c_str());
                    live_prev = cur;
                    last_live = now;
                }
            }
            timespec zero{0, 0};
            int sig = sigtimedwait(&set, nullptr, &zero);
            if (sig < 0 && stats_interval > 0) {
                if (now.tv_sec - last_stats.tv_sec < stats_interval) continue;
                last_stats = now;
            } else if (sig < 0) {
                continue;
            }
            if (sig == SIGINT || sig == SIGTERM) break;
            if (sig == SIGHUP) {
                reload();
                continue;
            }
            if (sig == SIGUSR1 || (sig < 0 && stats_interval > 0))
                std::fputs(core::format_stats(dp.counters()).c_str(), stdout), std::fflush(stdout);
        }
        // The final counters once the workers have stopped: nothing is in flight or held.
        sd_notify(0, "STOPPING=1");
        dp.stop();
        if (!pid_file.empty()) unlink(pid_file.c_str());
        core::Snapshot s = dp.counters();
        for (const auto& b : dp.backend_stats())
            std::fprintf(stderr, "ingressd: backend %s\n", b.c_str());
        std::fputs(core::format_stats(s).c_str(), stdout);
        std::fputs(core::arrival_line(s, dp.counter_groups()).c_str(), stdout);
        std::fflush(stdout);
        return s.conserved() ? 0 : 3;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ingressd: %s\n", e.what());
        if (pid_out) std::fclose(pid_out), unlink(pid_file.c_str());
        return 1;
    }
}
