// ingressctl: the operator's view of a running ingressd, over its control socket
// (docs/ingressctl.md; requests in docs/control-protocol.md).
//
//   ingressctl [--socket PATH] stats [-a] [--json | --openmetrics] [--watch [SECONDS]]
//   ingressctl [--socket PATH] top [--interval SECONDS] [--rows N] [--count N]
//   ingressctl [--socket PATH] drops [-a]
//   ingressctl [--socket PATH] runtime [--json | --openmetrics]
//   ingressctl [--socket PATH] endpoints
//   ingressctl [--socket PATH] routes
//   ingressctl [--socket PATH] host
//   ingressctl [--socket PATH] reload
//   ingressctl [--socket PATH] bindings [list]
//   ingressctl [--socket PATH] bindings add PREFIX [PORTS] (LABEL | drop) [--no-reuseport]
//   ingressctl [--socket PATH] bindings remove PREFIX [PORTS]
//   ingressctl [--socket PATH] wait-ready [--timeout SECONDS]
//   ingressctl [--socket PATH] trace [--count N] [--filter EXPR] [--drops-only] [--worker W]
//                                    [--json] [--timeout SECONDS] [--ring N]
//   ingressctl [--socket PATH] capture (--drops [REASON...] | --iface IF) [--filter EXPR]
//                                      -w FILE [--count N] [--worker W] [--timeout SECONDS]
//                                      [--ring N]
//
// Exit status: 0 done; 1 an error (no daemon, refused, a protocol error; wait-ready: not
// ready in time); 2 usage; 3 reload not applied because a change needs a restart.
#include <ingress/client.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/counters.h"
#include "core/stats_format.h"
#include "ctl/protocol.h"
#include "ingressctl_observe.h"
#include "ipv4/fib.h"
#include "worker/runtime.h"

using namespace ingress;

namespace {

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "ingressctl: %s\n", msg.c_str());
    std::exit(1);
}

std::string json_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) {
            char b[8];
            std::snprintf(b, sizeof b, "\\u%04x", c);
            out += b;
            continue;
        }
        out += c;
    }
    return out;
}

// One connection to the daemon (libingress's control client); requests answered in order.
class Conn {
public:
    explicit Conn(const std::string& path) : path_(path), c_(connect(path)) {}

    // Sends the request and returns the reply; exits on a broken connection or reply. The
    // reply's attributes point into this object's buffer until the next call.
    // `optional`: a request an older daemon or a test daemon may not answer (unknown type,
    // EOPNOTSUPP) returns its error reply instead of exiting.
    const ctl::Message& call(std::vector<uint8_t> req, const char* what, bool optional = false) {
        Client::Reply r;
        try {
            r = c_.call(std::move(req), false);
        } catch (const Error& e) {
            die(path_ + ": " + e.what());
        }
        for (int f : r.fds) close(f);
        frame_ = std::move(r.bytes);
        ctl::ParseResult pr = ctl::parse(frame_);
        if (!pr.msg)
            die(std::string("bad reply to ") + what + ": " + ctl::parse_error_str(pr.error));
        reply_ = std::move(*pr.msg);
        const uint32_t err = reply_.u32(ctl::Attr::kError).value_or(EPROTO);
        const std::string msg(reply_.str(ctl::Attr::kMessage).value_or(""));
        const bool unknown = err == EPROTO && msg.find("unknown message type") != std::string::npos;
        if (optional && (unknown || err == EOPNOTSUPP)) return reply_;
        if (unknown)
            die(std::string("the daemon does not know the ") + what +
                " request (an ingressd older than this ingressctl?)");
        if (err == EPERM) die(std::string(what) + ": permission denied: " + msg);
        if (err && err != EINVAL)
            die(std::string(what) + ": " + std::strerror(static_cast<int>(err)) + ": " + msg);
        return reply_;
    }

    // A paged list request: every page's bytes, over as many replies as the daemon needs
    // (items() reads the items from them); `on_reply` sees each reply first.
    template <typename OnReply>
    std::vector<std::vector<uint8_t>> list(ctl::MsgType type, const char* what,
                                           OnReply&& on_reply) {
        std::vector<std::vector<uint8_t>> frames;  // keeps every page's bytes alive
        uint32_t cursor = 0;
        for (;;) {
            const ctl::Message& m = call(
                ctl::Builder(type, c_.next_seq()).u32(ctl::Attr::kCursor, cursor).finish(), what);
            if (m.u32(ctl::Attr::kError).value_or(0))
                die(std::string(what) + ": " +
                    std::string(m.str(ctl::Attr::kMessage).value_or("")));
            on_reply(m);
            frames.push_back(frame_);
            auto next = m.u32(ctl::Attr::kCursor);
            if (!next) return frames;
            if (*next <= cursor) die(std::string("bad reply to ") + what + ": cursor went back");
            cursor = *next;
        }
    }
    uint32_t next_seq() { return c_.next_seq(); }

private:
    static Client connect(const std::string& path) {
        try {
            return Client::connect(path);
        } catch (const Error& e) {
            const int err = e.code();
            if (err != ENOENT && err != ECONNREFUSED && err != EACCES)
                die("cannot connect to " + path + ": " + e.what());
            const char* hint =
                err == EACCES ? " (the socket's mode and group are control.mode and control.group)"
                              : " (is ingressd running?)";
            die("cannot connect to " + path + ": " + std::strerror(err) + hint);
        }
    }

    std::string path_;
    Client c_;
    std::vector<uint8_t> frame_;
    ctl::Message reply_;
};

// Parses every item of type `item` from the pages `frames` (strictly: a malformed item is a
// protocol error). The returned views point into `frames`.
std::vector<ctl::Attrs> items(const std::vector<std::vector<uint8_t>>& frames, ctl::Attr item,
                              const char* what) {
    std::vector<ctl::Attrs> out;
    for (const auto& f : frames) {
        ctl::ParseResult pr = ctl::parse(f);
        auto n = pr.msg ? pr.msg->all_nested(item) : std::nullopt;
        if (!n) die(std::string("bad reply to ") + what + ": malformed item");
        out.insert(out.end(), n->begin(), n->end());
    }
    return out;
}

struct WorkerStats {
    uint32_t index = 0;
    std::string desc;
    core::Snapshot s;
};

std::vector<WorkerStats> fetch_stats(Conn& c) {
    uint32_t workers = 0;
    auto frames = c.list(ctl::MsgType::kStatsQuery, "stats-query", [&](const ctl::Message& m) {
        const uint32_t hash = m.u32(ctl::Attr::kCounterHash).value_or(0);
        const uint32_t mibs = m.u32(ctl::Attr::kMibCount).value_or(0);
        const uint32_t drops = m.u32(ctl::Attr::kDropCount).value_or(0);
        if (hash != core::counter_table_hash() || mibs != core::kMibCount ||
            drops != core::kDropReasonCount) {
            char b[256];
            std::snprintf(b, sizeof b,
                          "counter table mismatch: ingressd has %u MIB counters and %u drop "
                          "reasons (table %08x), this ingressctl %zu and %zu (table %08x); use "
                          "the ingressctl built with this ingressd",
                          mibs, drops, hash, core::kMibCount, core::kDropReasonCount,
                          core::counter_table_hash());
            die(b);
        }
        workers = m.u32(ctl::Attr::kWorkers).value_or(0);
    });
    std::vector<WorkerStats> out;
    for (const ctl::Attrs& a : items(frames, ctl::Attr::kWorkerCounters, "stats-query")) {
        WorkerStats w;
        w.index = a.u32(ctl::Attr::kWorker).value_or(0);
        w.desc = std::string(a.str(ctl::Attr::kWorkerDesc).value_or(""));
        std::vector<uint64_t> v = a.u64_array(ctl::Attr::kCounters);
        auto s = core::snapshot_from_array(v.data(), v.size());
        if (!s) die("bad reply to stats-query: counter array of the wrong length");
        w.s = *s;
        out.push_back(std::move(w));
    }
    if (out.size() != workers) die("bad reply to stats-query: worker count does not match");
    return out;
}

// The counters outside the workers' (backend, XDP_STATISTICS, rte_eth_stats, the XDP
// program), per interface; none from a daemon that does not keep them.
std::vector<core::CounterGroup> fetch_backend_stats(Conn& c) {
    std::vector<core::CounterGroup> out;
    uint32_t cursor = 0;
    for (;;) {
        const ctl::Message& m = c.call(ctl::Builder(ctl::MsgType::kBackendStats, c.next_seq())
                                           .u32(ctl::Attr::kCursor, cursor)
                                           .finish(),
                                       "backend-stats", true);
        if (m.u32(ctl::Attr::kError).value_or(0)) return out;
        auto groups = m.all_nested(ctl::Attr::kCounterGroup);
        if (!groups) die("bad reply to backend-stats: malformed item");
        for (const ctl::Attrs& a : *groups) {
            auto g = ctl::decode_counter_group(a);
            if (!g) die("bad reply to backend-stats: malformed counter group");
            out.push_back(std::move(*g));
        }
        auto next = m.u32(ctl::Attr::kCursor);
        if (!next) return out;
        if (*next <= cursor) die("bad reply to backend-stats: cursor went back");
        cursor = *next;
    }
}

core::Snapshot total_of(const std::vector<WorkerStats>& ws) {
    core::Snapshot t;
    for (const WorkerStats& w : ws) t += w.s;
    return t;
}

std::vector<core::Snapshot> snapshots(const std::vector<WorkerStats>& ws) {
    std::vector<core::Snapshot> v;
    for (const WorkerStats& w : ws) v.push_back(w.s);
    return v;
}

double mono_secs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

volatile sig_atomic_t g_stop = 0;

int cmd_stats(Conn& c, bool all, bool json, bool openmetrics, double watch, long count) {
    std::vector<WorkerStats> ws = fetch_stats(c);
    if (watch <= 0) {
        const std::vector<core::CounterGroup> groups = fetch_backend_stats(c);
        if (openmetrics) {
            std::fputs(core::format_openmetrics(snapshots(ws), groups).c_str(), stdout);
        } else if (json) {
            std::string out = "{\"counter_table\":" + std::to_string(core::counter_table_hash()) +
                              ",\"total\":" + core::json_snapshot(total_of(ws)) + ",\"workers\":[";
            for (std::size_t i = 0; i < ws.size(); ++i)
                out += std::string(i ? "," : "") + "{\"worker\":" + std::to_string(ws[i].index) +
                       ",\"desc\":\"" + json_escape(ws[i].desc) +
                       "\",\"counters\":" + core::json_snapshot(ws[i].s) + "}";
            std::printf("%s],\"backends\":%s}\n", out.c_str(),
                        core::json_counter_groups(groups).c_str());
        } else {
            for (const WorkerStats& w : ws) std::printf("#%s\n", w.desc.c_str());
            std::fputs(
                core::format_stats_table(total_of(ws), snapshots(ws), {.zeros = all}).c_str(),
                stdout);
            std::fputs(core::format_counter_groups(groups, {.zeros = all}).c_str(), stdout);
            std::fputs(core::arrival_line(total_of(ws), groups).c_str(), stdout);
        }
        return 0;
    }
    // --watch: redraw every `watch` seconds with rates over the interval, until SIGINT.
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_stop = 1; };
    sigaction(SIGINT, &sa, nullptr);  // no SA_RESTART: the sleep ends at once
    sigaction(SIGTERM, &sa, nullptr);
    const bool tty = isatty(STDOUT_FILENO);
    core::Snapshot prev = total_of(ws);
    double t_prev = mono_secs();
    for (long n = 0; !g_stop && (count <= 0 || n < count); ++n) {
        timespec d{
            static_cast<time_t>(watch),
            static_cast<long>((watch - static_cast<double>(static_cast<time_t>(watch))) * 1e9)};
        while (!g_stop && nanosleep(&d, &d) != 0 && errno == EINTR) {
        }
        if (g_stop) break;
        core::Snapshot cur = total_of(fetch_stats(c));
        const double t = mono_secs();
        std::string out = tty ? "\033[H\033[2J" : "";
        char head[96];
        std::snprintf(head, sizeof head, "#ingressctl stats --watch: %.1f s interval, %s\n",
                      t - t_prev, "value and rate per second");
        out += head;
        out += core::format_rates(prev, cur, t - t_prev, {.zeros = all});
        std::fputs(out.c_str(), stdout);
        std::fflush(stdout);
        prev = cur;
        t_prev = t;
    }
    return 0;
}

struct WorkerRuntime {
    uint32_t index = 0;
    std::string desc;
    worker::RuntimeSnapshot r;
};

std::vector<WorkerRuntime> fetch_runtime(Conn& c, double* tsc_hz) {
    uint32_t workers = 0;
    auto frames = c.list(ctl::MsgType::kRuntime, "runtime", [&](const ctl::Message& m) {
        const uint32_t stages = m.u32(ctl::Attr::kStageCount).value_or(0);
        if (stages != worker::kStageCount)
            die("stage list mismatch: ingressd profiles " + std::to_string(stages) +
                " stages, this ingressctl " + std::to_string(worker::kStageCount) +
                "; use the ingressctl built with this ingressd");
        *tsc_hz = static_cast<double>(m.u64(ctl::Attr::kTscHz).value_or(0));
        workers = m.u32(ctl::Attr::kWorkers).value_or(0);
    });
    std::vector<WorkerRuntime> out;
    for (const ctl::Attrs& a : items(frames, ctl::Attr::kWorkerRuntime, "runtime")) {
        WorkerRuntime w;
        w.index = a.u32(ctl::Attr::kWorker).value_or(0);
        w.desc = std::string(a.str(ctl::Attr::kWorkerDesc).value_or(""));
        std::vector<uint64_t> v = a.u64_array(ctl::Attr::kRuntimeValues);
        auto r = worker::runtime_from_array(v.data(), v.size());
        if (!r) die("bad reply to runtime: value array of the wrong length");
        w.r = *r;
        out.push_back(std::move(w));
    }
    if (out.size() != workers || *tsc_hz <= 0) die("bad reply to runtime: worker count or TSC");
    return out;
}

double ratio(uint64_t a, uint64_t b) {
    return b ? static_cast<double>(a) / static_cast<double>(b) : 0;
}

// `ingressctl runtime`: VPP's show runtime, per worker, then the stage table.
void print_runtime_text(const std::vector<WorkerRuntime>& ws, double hz) {
    std::printf("TSC %.3f GHz (calibrated once against CLOCK_MONOTONIC)\n", hz / 1e9);
    for (const WorkerRuntime& w : ws) {
        const worker::RuntimeSnapshot& r = w.r;
        std::printf("#%s\n", w.desc.c_str());
        std::printf(
            "  polls %llu  empty %llu (%.1f%%)  bursts %llu  frames %llu  "
            "frames/burst %.1f  sleeps %llu  idle %.1f%%\n",
            static_cast<unsigned long long>(r.polls),
            static_cast<unsigned long long>(r.empty_polls), 100 * ratio(r.empty_polls, r.polls),
            static_cast<unsigned long long>(r.bursts()), static_cast<unsigned long long>(r.frames),
            ratio(r.frames, r.bursts()), static_cast<unsigned long long>(r.sleeps),
            100 * r.idle_share());
        std::printf("  %-9s %12s %14s %12s %11s %10s\n", "stage", "calls", "frames", "cycles/frame",
                    "ns/frame", "frames/call");
        uint64_t cycles = 0, frames = r.frames;
        for (std::size_t i = 0; i < worker::kStageCount; ++i) {
            const uint64_t f = r.stage_frames[i], cyc = r.stage_cycles[i];
            cycles += cyc;
            std::printf("  %-9s %12llu %14llu %12.1f %11.1f %10.1f\n",
                        worker::stage_name(static_cast<worker::Stage>(i)),
                        static_cast<unsigned long long>(r.stage_calls[i]),
                        static_cast<unsigned long long>(f), ratio(cyc, f), ratio(cyc, f) * 1e9 / hz,
                        ratio(f, r.stage_calls[i]));
        }
        std::printf("  %-9s %12s %14llu %12.1f %11.1f\n", "all", "",
                    static_cast<unsigned long long>(frames), ratio(cycles, frames),
                    ratio(cycles, frames) * 1e9 / hz);
    }
}

void print_runtime_json(const std::vector<WorkerRuntime>& ws, double hz) {
    std::string out = "{\"tsc_hz\":" + std::to_string(static_cast<uint64_t>(hz)) + ",\"workers\":[";
    for (std::size_t k = 0; k < ws.size(); ++k) {
        const worker::RuntimeSnapshot& r = ws[k].r;
        char idle[32];
        std::snprintf(idle, sizeof idle, "%.6f", r.idle_share());
        out +=
            std::string(k ? "," : "") + "{\"worker\":" + std::to_string(ws[k].index) +
            ",\"desc\":\"" + json_escape(ws[k].desc) + "\",\"polls\":" + std::to_string(r.polls) +
            ",\"empty_polls\":" + std::to_string(r.empty_polls) +
            ",\"frames\":" + std::to_string(r.frames) + ",\"sleeps\":" + std::to_string(r.sleeps) +
            ",\"busy_cycles\":" + std::to_string(r.busy_cycles) +
            ",\"idle_cycles\":" + std::to_string(r.idle_cycles) + ",\"idle_share\":" + idle +
            ",\"stages\":{";
        for (std::size_t i = 0; i < worker::kStageCount; ++i)
            out += std::string(i ? "," : "") + "\"" +
                   worker::stage_name(static_cast<worker::Stage>(i)) +
                   "\":{\"calls\":" + std::to_string(r.stage_calls[i]) +
                   ",\"frames\":" + std::to_string(r.stage_frames[i]) +
                   ",\"cycles\":" + std::to_string(r.stage_cycles[i]) + "}";
        out += "}}";
    }
    std::printf("%s]}\n", out.c_str());
}

void print_runtime_openmetrics(const std::vector<WorkerRuntime>& ws, double hz) {
    std::string out;
    auto family = [&](const char* name, const char* type, const char* help) {
        out += std::string("# TYPE ") + name + " " + type + "\n# HELP " + name + " " + help + "\n";
    };
    auto sample = [&](const std::string& name, uint32_t w, const char* stage, double v) {
        char num[64];
        std::snprintf(num, sizeof num, "%.17g", v);
        out += name + "{worker=\"" + std::to_string(w) + "\"" +
               (stage ? std::string(",stage=\"") + stage + "\"" : "") + "} " + num + "\n";
    };
    family("ingress_runtime_tsc_hertz", "gauge", "TSC ticks per second the cycles are counted in");
    for (const WorkerRuntime& w : ws) sample("ingress_runtime_tsc_hertz", w.index, nullptr, hz);
    struct Field {
        const char* name;
        const char* help;
        uint64_t worker::RuntimeSnapshot::*v;
    };
    static constexpr Field kFields[] = {
        {"ingress_runtime_polls", "rx_burst calls", &worker::RuntimeSnapshot::polls},
        {"ingress_runtime_empty_polls", "rx_burst calls that returned nothing",
         &worker::RuntimeSnapshot::empty_polls},
        {"ingress_runtime_frames", "frames received", &worker::RuntimeSnapshot::frames},
        {"ingress_runtime_sleeps", "idle sleeps (poll_mode adaptive, interrupt)",
         &worker::RuntimeSnapshot::sleeps},
        {"ingress_runtime_busy_cycles", "TSC cycles of polls that received frames",
         &worker::RuntimeSnapshot::busy_cycles},
        {"ingress_runtime_idle_cycles", "TSC cycles of empty polls, timer ticks and sleeps",
         &worker::RuntimeSnapshot::idle_cycles},
    };
    for (const Field& f : kFields) {
        family(f.name, "counter", f.help);
        for (const WorkerRuntime& w : ws)
            sample(std::string(f.name) + "_total", w.index, nullptr, static_cast<double>(w.r.*f.v));
    }
    struct StageField {
        const char* name;
        const char* help;
        const std::array<uint64_t, worker::kStageCount> worker::RuntimeSnapshot::*v;
    };
    static constexpr StageField kStage[] = {
        {"ingress_runtime_stage_cycles", "TSC cycles spent in the stage",
         &worker::RuntimeSnapshot::stage_cycles},
        {"ingress_runtime_stage_frames", "frames that entered the stage",
         &worker::RuntimeSnapshot::stage_frames},
        {"ingress_runtime_stage_calls", "bursts that ran the stage",
         &worker::RuntimeSnapshot::stage_calls},
    };
    for (const StageField& f : kStage) {
        family(f.name, "counter", f.help);
        for (const WorkerRuntime& w : ws)
            for (std::size_t i = 0; i < worker::kStageCount; ++i)
                sample(std::string(f.name) + "_total", w.index,
                       worker::stage_name(static_cast<worker::Stage>(i)),
                       static_cast<double>((w.r.*f.v)[i]));
    }
    out += "# EOF\n";
    std::fputs(out.c_str(), stdout);
}

int cmd_runtime(Conn& c, bool json, bool openmetrics) {
    double hz = 0;
    const std::vector<WorkerRuntime> ws = fetch_runtime(c, &hz);
    if (openmetrics)
        print_runtime_openmetrics(ws, hz);
    else if (json)
        print_runtime_json(ws, hz);
    else
        print_runtime_text(ws, hz);
    return 0;
}

int cmd_drops(Conn& c, bool all) {
    std::vector<WorkerStats> ws = fetch_stats(c);
    const core::Snapshot total = total_of(ws);
    std::printf("%-26s %12s", "REASON", "TOTAL");
    for (const WorkerStats& w : ws) std::printf(" %11s%u", "worker", w.index);
    std::printf("  %s\n", "MEANING");
    for (std::size_t i = 0; i < core::kDropReasonCount; ++i) {
        if (!all && !total.drops[i]) continue;
        const auto r = static_cast<core::DropReason>(i);
        const std::string_view name = core::drop_reason_name(r), help = core::drop_reason_help(r);
        std::printf("%-26.*s %12llu", static_cast<int>(name.size()), name.data(),
                    static_cast<unsigned long long>(total.drops[i]));
        for (const WorkerStats& w : ws)
            std::printf(" %12llu", static_cast<unsigned long long>(w.s.drops[i]));
        std::printf("  %.*s\n", static_cast<int>(help.size()), help.data());
    }
    std::printf("%-26s %12llu", "total", static_cast<unsigned long long>(total.dropped_total()));
    for (const WorkerStats& w : ws)
        std::printf(" %12llu", static_cast<unsigned long long>(w.s.dropped_total()));
    std::printf("\n");
    return 0;
}

const char* kind_name(uint8_t k) {
    return k == 0 ? "udp" : k == 1 ? "raw" : k == 2 ? "tap" : "?";
}

std::string ethertype_str(uint16_t et) {
    if (et == 0x0003) return "ETH_P_ALL";
    char b[8];
    std::snprintf(b, sizeof b, "0x%04x", et);
    return b;
}

// An endpoint's local binding as ss prints it: ADDR:PORT, ADDR:protoN, *:ETHERTYPE.
std::string local_of(const ctl::Attrs& e, uint8_t kind) {
    if (kind == 0)
        return wire::ipv4_str(e.u32(ctl::Attr::kLocalAddr).value_or(0)) + ":" +
               std::to_string(e.u16(ctl::Attr::kLocalPort).value_or(0));
    if (kind == 1)
        return wire::ipv4_str(e.u32(ctl::Attr::kLocalAddr).value_or(0)) + ":proto" +
               std::to_string(e.u8(ctl::Attr::kProtocol).value_or(0));
    return "*:" + ethertype_str(e.u16(ctl::Attr::kEthertype).value_or(0));
}

int cmd_endpoints(Conn& c) {
    auto frames = c.list(ctl::MsgType::kEndpoints, "endpoints", [](const ctl::Message&) {});
    std::printf("%-4s %-5s %-9s %-15s %-22s %-22s %-10s %-22s %10s %8s  %s\n", "Kind", "Id",
                "Recv-Q", "Rmem/Rcvbuf", "Local Address:Port", "Peer Address:Port", "Dev",
                "Options", "Delivered", "Drops", "Process");
    for (const ctl::Attrs& e : items(frames, ctl::Attr::kEndpoint, "endpoints")) {
        const uint8_t kind = e.u8(ctl::Attr::kKind).value_or(255);
        const std::string local = local_of(e, kind);
        std::string peer = "*", opts;
        auto flag = [&](const std::string& f) { opts += (opts.empty() ? "" : ",") + f; };
        if (kind == 0) {
            const uint32_t ra = e.u32(ctl::Attr::kRemoteAddr).value_or(0);
            const uint16_t rp = e.u16(ctl::Attr::kRemotePort).value_or(0);
            peer = wire::ipv4_str(ra) + ":" + (rp ? std::to_string(rp) : "*");
            if (e.u8(ctl::Attr::kReuseport).value_or(0)) flag("reuseport");
            if (e.u8(ctl::Attr::kReuseaddr).value_or(0)) flag("reuseaddr");
        } else if (kind == 1) {
            peer = wire::ipv4_str(e.u32(ctl::Attr::kRemoteAddr).value_or(0)) + ":*";
        } else {
            flag(e.u8(ctl::Attr::kTapDgram).value_or(0) ? "dgram" : "raw");
            if (auto g = e.u16(ctl::Attr::kFanoutGroup)) flag("fanout=" + std::to_string(*g));
            if (auto f = e.str(ctl::Attr::kFilterExpr)) flag("filter=\"" + std::string(*f) + "\"");
        }
        // The IP_RECVERR error queue: entries queued / lost (queue full), once any came.
        if (auto q = e.u64(ctl::Attr::kErrQueued))
            flag("errqueue=" + std::to_string(*q) + "/" +
                 std::to_string(e.u64(ctl::Attr::kErrDropped).value_or(0)));
        // Ring-full drops a raised budget admitted before the ring could grow (rcvbuf.md).
        if (auto g = e.u64(ctl::Attr::kGrowDropped)) flag("growdrops=" + std::to_string(*g));
        const std::string dev(e.str(ctl::Attr::kIfname).value_or("*"));
        const std::string recvq = std::to_string(e.u32(ctl::Attr::kRingUsed).value_or(0)) + "/" +
                                  std::to_string(e.u32(ctl::Attr::kRingCapacity).value_or(0));
        // ss -m's skmem r<rmem_alloc>,rb<rcvbuf>: bytes charged for what is queued, and the
        // budget (UDP; "-" for endpoints without one).
        std::string skmem = "-";
        if (auto rb = e.u32(ctl::Attr::kRcvbuf))
            skmem = std::to_string(e.u64(ctl::Attr::kRmemAlloc).value_or(0)) + "/" +
                    std::to_string(*rb);
        std::string process = "uid=" + std::to_string(e.u32(ctl::Attr::kUid).value_or(0));
        if (auto pid = e.u32(ctl::Attr::kPid))
            process = "users:((\"" + std::string(e.str(ctl::Attr::kComm).value_or("")) +
                      "\",pid=" + std::to_string(*pid) + "," + process + "))";
        std::printf("%-4s %-5u %-9s %-15s %-22s %-22s %-10s %-22s %10llu %8llu  %s\n",
                    kind_name(kind), e.u32(ctl::Attr::kEndpointId).value_or(0), recvq.c_str(),
                    skmem.c_str(), local.c_str(), peer.c_str(), dev.c_str(),
                    opts.empty() ? "-" : opts.c_str(),
                    static_cast<unsigned long long>(e.u64(ctl::Attr::kDelivered).value_or(0)),
                    static_cast<unsigned long long>(e.u64(ctl::Attr::kDropped).value_or(0)),
                    process.c_str());
        auto groups = e.all_nested(ctl::Attr::kMembership);
        if (!groups) die("bad reply to endpoints: malformed membership");
        for (const ctl::Attrs& g : *groups) {
            std::string line = "     group " + wire::ipv4_str(g.u32(ctl::Attr::kGroup).value_or(0));
            line += " dev " + std::string(g.str(ctl::Attr::kIfname).value_or("any"));
            std::vector<uint32_t> src = g.all_u32(ctl::Attr::kSource);
            const bool include = g.u8(ctl::Attr::kFilterMode).value_or(0);
            line += include ? " include" : " exclude";
            for (std::size_t i = 0; i < src.size(); ++i)
                line += (i ? "," : " ") + wire::ipv4_str(src[i]);
            if (!include && src.empty()) line += " (any source)";
            std::printf("%s\n", line.c_str());
        }
    }
    return 0;
}

std::vector<core::EndpointFigures> fetch_endpoint_figures(Conn& c) {
    auto frames = c.list(ctl::MsgType::kEndpoints, "endpoints", [](const ctl::Message&) {});
    std::vector<core::EndpointFigures> out;
    for (const ctl::Attrs& e : items(frames, ctl::Attr::kEndpoint, "endpoints")) {
        const uint8_t kind = e.u8(ctl::Attr::kKind).value_or(255);
        out.push_back({.id = e.u32(ctl::Attr::kEndpointId).value_or(0),
                       .kind = kind_name(kind),
                       .local = local_of(e, kind),
                       .delivered = e.u64(ctl::Attr::kDelivered).value_or(0),
                       .dropped = e.u64(ctl::Attr::kDropped).value_or(0),
                       .truncated = e.u64(ctl::Attr::kTruncated).value_or(0),
                       .ring_used = e.u32(ctl::Attr::kRingUsed).value_or(0)});
    }
    return out;
}

// top: what the daemon is doing now. Every `interval` seconds, the rate of every counter
// over the interval: per worker, per drop reason, per MIB counter, per endpoint, per
// backend counter; each section sorted by rate (then total), idle rows left out; redrawn
// in place on a terminal (cursor home + clear), one screen after another otherwise.
struct TopView {
    std::vector<WorkerStats> workers;
    std::vector<core::CounterGroup> groups;
    std::vector<core::EndpointFigures> endpoints;
    double t = 0;
};

TopView fetch_top(Conn& c) {
    TopView v;
    v.workers = fetch_stats(c);
    v.groups = fetch_backend_stats(c);
    v.endpoints = fetch_endpoint_figures(c);
    v.t = mono_secs();
    return v;
}

struct TopRow {
    std::string name;
    double rate;
    uint64_t total;
    std::string extra;
};

void top_section(std::string& out, const char* title, std::vector<TopRow> rows, std::size_t max) {
    std::erase_if(rows, [](const TopRow& r) { return r.rate <= 0 && r.total == 0; });
    if (rows.empty()) return;
    std::stable_sort(rows.begin(), rows.end(), [](const TopRow& a, const TopRow& b) {
        return a.rate != b.rate ? a.rate > b.rate : a.total > b.total;
    });
    char buf[256];
    std::snprintf(buf, sizeof buf, "%-56s %12s %14s\n", title, "RATE/s", "TOTAL");
    out += buf;
    for (std::size_t i = 0; i < rows.size() && i < max; ++i) {
        std::snprintf(buf, sizeof buf, "%-56.56s %12.1f %14llu%s\n", rows[i].name.c_str(),
                      rows[i].rate, static_cast<unsigned long long>(rows[i].total),
                      rows[i].extra.c_str());
        out += buf;
    }
}

std::string format_top(const TopView& a, const TopView& b, std::size_t max) {
    const double dt = b.t - a.t;
    auto rate = [&](uint64_t before, uint64_t now) {
        return dt > 0 && now >= before ? static_cast<double>(now - before) / dt : 0.0;
    };
    const core::Snapshot ta = total_of(a.workers), tb = total_of(b.workers);
    std::string out;
    char head[256];
    std::snprintf(head, sizeof head,
                  "ingressctl top: %.1f s interval, busiest first; rx %.0f/s delivered %.0f/s "
                  "passed %.0f/s dropped %.0f/s\n",
                  dt, rate(ta.rx, tb.rx), rate(ta.delivered, tb.delivered),
                  rate(ta.passed, tb.passed), rate(ta.dropped_total(), tb.dropped_total()));
    out += head;
    std::vector<TopRow> rows;
    for (std::size_t w = 0; w < b.workers.size() && w < a.workers.size(); ++w) {
        const core::Snapshot &x = a.workers[w].s, &y = b.workers[w].s;
        char extra[128];
        std::snprintf(extra, sizeof extra, "  delivered %.0f/s dropped %.0f/s",
                      rate(x.delivered, y.delivered), rate(x.dropped_total(), y.dropped_total()));
        rows.push_back(
            {"worker" + std::to_string(b.workers[w].index) + " rx", rate(x.rx, y.rx), y.rx, extra});
    }
    top_section(out, "#workers", rows, max);
    rows.clear();
    for (std::size_t i = 0; i < core::kDropReasonCount; ++i)
        rows.push_back({std::string(core::drop_reason_name(static_cast<core::DropReason>(i))),
                        rate(ta.drops[i], tb.drops[i]), tb.drops[i], ""});
    top_section(out, "#drop reasons", rows, max);
    rows.clear();
    for (std::size_t i = 0; i < core::kMibCount; ++i)
        rows.push_back({std::string(core::mib_name(static_cast<core::Mib>(i))),
                        rate(ta.mib[i], tb.mib[i]), tb.mib[i], ""});
    top_section(out, "#counters", rows, max);
    rows.clear();
    for (const core::EndpointFigures& e : b.endpoints) {
        uint64_t before = 0, dropped_before = 0;
        for (const core::EndpointFigures& p : a.endpoints)
            if (p.id == e.id) before = p.delivered, dropped_before = p.dropped;
        char extra[128];
        std::snprintf(extra, sizeof extra, "  dropped %.0f/s ring %llu",
                      rate(dropped_before, e.dropped),
                      static_cast<unsigned long long>(e.ring_used));
        rows.push_back({"endpoint " + std::to_string(e.id) + " " + e.kind + " " + e.local,
                        rate(before, e.delivered), e.delivered, extra});
    }
    top_section(out, "#endpoints (delivered)", rows, max);
    rows.clear();
    for (const core::CounterGroup& g : b.groups)
        for (const core::NamedCounter& n : g.counters) {
            uint64_t before = 0;
            for (const core::CounterGroup& p : a.groups)
                if (p.device == g.device && p.source == g.source && p.queue == g.queue)
                    for (const core::NamedCounter& m : p.counters)
                        if (m.name == n.name) before = m.value;
            rows.push_back({g.device + " " + g.source +
                                (g.queue >= 0 ? "[" + std::to_string(g.queue) + "]" : "") + " " +
                                n.name,
                            rate(before, n.value), n.value, ""});
        }
    top_section(out, "#backends", rows, max);
    return out;
}

int cmd_top(Conn& c, double interval, long count, std::size_t max) {
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_stop = 1; };
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    const bool tty = isatty(STDOUT_FILENO);
    TopView prev = fetch_top(c);
    for (long n = 0; !g_stop && (count <= 0 || n < count); ++n) {
        timespec d{static_cast<time_t>(interval),
                   static_cast<long>(
                       (interval - static_cast<double>(static_cast<time_t>(interval))) * 1e9)};
        while (!g_stop && nanosleep(&d, &d) != 0 && errno == EINTR) {
        }
        if (g_stop) break;
        TopView cur = fetch_top(c);
        // On a terminal: home, the screen, then clear what an older, longer screen left.
        std::string out = tty ? (n ? "\033[H" : "\033[H\033[2J") : (n ? "\n" : "");
        std::string body = format_top(prev, cur, max);
        if (tty) {
            std::string cleared;
            for (std::size_t p = 0, e; p < body.size(); p = e + 1) {
                e = body.find('\n', p);
                cleared += body.substr(p, e - p) + "\033[K\n";
            }
            body = cleared + "\033[J";
        }
        std::fputs((out + body).c_str(), stdout);
        std::fflush(stdout);
        prev = std::move(cur);
    }
    return 0;
}

const char* scope_name(uint8_t s) {
    switch (s) {
        case 0:
            return "global";  // RT_SCOPE_UNIVERSE, as iproute2 prints it
        case 253:
            return "link";
        case 254:
            return "host";
        case 255:
            return "nowhere";
    }
    return "?";
}

int cmd_routes(Conn& c) {
    auto frames = c.list(ctl::MsgType::kRoutes, "routes", [](const ctl::Message&) {});
    struct Row {
        uint32_t table;
        uint32_t prefix;
        uint8_t len;
        std::string type, scope, dev;
    };
    std::vector<Row> rows;
    for (const ctl::Attrs& r : items(frames, ctl::Attr::kRoute, "routes"))
        rows.push_back({r.u32(ctl::Attr::kTableId).value_or(r.u8(ctl::Attr::kTable).value_or(0)),
                        r.u32(ctl::Attr::kPrefix).value_or(0),
                        r.u8(ctl::Attr::kPrefixLen).value_or(0),
                        std::string(ipv4::route_type_name(
                            ipv4::route_type_of(r.u8(ctl::Attr::kRouteType).value_or(0)))),
                        scope_name(r.u8(ctl::Attr::kScope).value_or(0)),
                        std::string(r.str(ctl::Attr::kIfname).value_or("-"))});
    // Every table: local, main and default first (the default rules' order), then the
    // others by id; by prefix within each.
    auto rank = [](uint32_t t) -> uint64_t {
        return t >= ipv4::kTableDefault && t <= ipv4::kTableLocal ? 255 - t : uint64_t{t} + 3;
    };
    std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
        if (a.table != b.table) return rank(a.table) < rank(b.table);
        if (a.prefix != b.prefix) return a.prefix < b.prefix;
        return a.len < b.len;
    });
    std::printf("%-6s %-12s %-20s %-8s %s\n", "Table", "Type", "Prefix", "Scope", "Dev");
    for (const Row& r : rows)
        std::printf("%-6s %-12s %-20s %-8s %s\n", ipv4::table_name(r.table).c_str(), r.type.c_str(),
                    (wire::ipv4_str(r.prefix) + "/" + std::to_string(r.len)).c_str(),
                    r.scope.c_str(), r.dev.c_str());
    // The policy rules, as `ip rule show` prints them (in the first reply).
    std::vector<std::string> rules;
    for (const auto& f : frames)
        if (ctl::ParseResult pr = ctl::parse(f); pr.msg)
            for (std::string_view l : pr.msg->all_str(ctl::Attr::kRuleLine)) rules.emplace_back(l);
    if (!rules.empty()) {
        std::printf("\nRules\n");
        for (const std::string& l : rules) std::printf("%s\n", l.c_str());
    }
    return 0;
}

// The PMTU exceptions, as `ip route get DST` shows one ("cache expires 599sec mtu 1400"),
// one line per destination.
int cmd_pmtu(Conn& c) {
    auto frames = c.list(ctl::MsgType::kPmtu, "pmtu", [](const ctl::Message&) {});
    std::printf("%-16s %-6s %-8s %s\n", "Destination", "MTU", "Expires", "Locked");
    for (const ctl::Attrs& r : items(frames, ctl::Attr::kPmtuEntry, "pmtu"))
        std::printf("%-16s %-6u %-8s %s\n",
                    wire::ipv4_str(r.u32(ctl::Attr::kPmtuDst).value_or(0)).c_str(),
                    r.u32(ctl::Attr::kPmtuMtu).value_or(0),
                    (std::to_string(r.u32(ctl::Attr::kPmtuExpires).value_or(0)) + "sec").c_str(),
                    r.u8(ctl::Attr::kPmtuLocked).value_or(0) ? "lock" : "-");
    return 0;
}

// A refused request: "ingressctl: WHAT: the daemon's message"; true when refused.
bool refused(const ctl::Message& m, const char* what) {
    if (!m.u32(ctl::Attr::kError).value_or(0)) return false;
    const std::string_view msg = m.str(ctl::Attr::kMessage).value_or("");
    std::fprintf(stderr, "ingressctl: %s: %.*s\n", what, static_cast<int>(msg.size()), msg.data());
    return true;
}

int cmd_host(Conn& c) {
    const ctl::Message& m =
        c.call(ctl::Builder(ctl::MsgType::kHost, c.next_seq()).finish(), "host");
    if (refused(m, "host")) return 1;
    const std::string_view src = m.str(ctl::Attr::kHostSource).value_or("?");
    std::printf("source         %.*s\n", static_cast<int>(src.size()), src.data());
    const uint64_t ns = m.u64(ctl::Attr::kHostSyncNs).value_or(0);
    char when[64] = "never";
    if (ns) {
        const time_t secs = static_cast<time_t>(ns / 1'000'000'000u);
        tm t{};
        gmtime_r(&secs, &t);
        std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &t);
    }
    std::printf("last sync      %s\n", when);
    std::printf(
        "interfaces     %u\naddresses      %u\nroutes         %u\ntables         %u\n"
        "rules          %u\n",
        m.u32(ctl::Attr::kHostLinks).value_or(0), m.u32(ctl::Attr::kHostAddrs).value_or(0),
        m.u32(ctl::Attr::kHostRoutes).value_or(0), m.u32(ctl::Attr::kHostTables).value_or(0),
        m.u32(ctl::Attr::kHostRules).value_or(0));
    if (src == "kernel")
        std::printf(
            "dumps          %llu\nnotifications  %llu\noverflows      %llu\n"
            "failed dumps   %llu\n",
            static_cast<unsigned long long>(m.u64(ctl::Attr::kHostDumps).value_or(0)),
            static_cast<unsigned long long>(m.u64(ctl::Attr::kHostEvents).value_or(0)),
            static_cast<unsigned long long>(m.u64(ctl::Attr::kHostOverflows).value_or(0)),
            static_cast<unsigned long long>(m.u64(ctl::Attr::kHostFailures).value_or(0)));
    for (std::string_view s : m.all_str(ctl::Attr::kHostSkipped))
        std::printf("left to kernel %.*s\n", static_cast<int>(s.size()), s.data());
    // The net.ipv4.* knobs the workers and the bind checks use now (host: kernel: the
    // kernel's, read every second).
    for (std::string_view s : m.all_str(ctl::Attr::kHostKnob))
        std::printf("knob           %.*s\n", static_cast<int>(s.size()), s.data());
    return 0;
}

// bindings: tubectl's list, bind and unbind. A binding is PREFIX [PORTS] LABEL|drop.
bool parse_binding_args(const std::vector<std::string>& a, bool want_target, demux::Binding* out) {
    std::size_t i = 0;
    if (i >= a.size()) return false;
    std::string pre = a[i++];
    if (pre.find('/') == std::string::npos) pre += "/32";
    if (!ipv4::parse_prefix(pre, out->prefix, out->prefix_len)) return false;
    // PORTS: a number, LO-HI or all (absent: all).
    if (i < a.size() && (a[i] == "all" || std::isdigit(static_cast<unsigned char>(a[i][0])))) {
        const std::string p = a[i++];
        if (p != "all") {
            char* end = nullptr;
            const unsigned long lo = std::strtoul(p.c_str(), &end, 10);
            unsigned long hi = lo;
            if (*end == '-') hi = std::strtoul(end + 1, &end, 10);
            if (*end || lo > hi || hi > 65535) return false;
            out->port_lo = static_cast<uint16_t>(lo);
            out->port_hi = static_cast<uint16_t>(hi);
        }
    }
    if (want_target) {
        if (i >= a.size()) return false;
        if (a[i] == "drop")
            out->drop = true;
        else
            out->label = a[i];
        ++i;
        if (i < a.size() && a[i] == "--no-reuseport") out->no_reuseport = true, ++i;
    }
    return i == a.size();
}

std::string ports_str(const demux::Binding& b) {
    if (b.port_lo == 0 && b.port_hi == 65535) return "all";
    if (b.port_lo == b.port_hi) return std::to_string(b.port_lo);
    return std::to_string(b.port_lo) + "-" + std::to_string(b.port_hi);
}

int cmd_bindings(const std::string& sock, const std::vector<std::string>& args) {
    const std::string sub = args.empty() ? "list" : args[0];
    const std::vector<std::string> rest(args.begin() + (args.empty() ? 0 : 1), args.end());
    if (sub == "add" || sub == "remove") {
        ctl::BindingChange bc;
        bc.remove = sub == "remove";
        if (!parse_binding_args(rest, !bc.remove, &bc.binding)) return 2;
        Conn c(sock);
        const ctl::Message& m = c.call(ctl::encode(c.next_seq(), bc), "binding-change");
        return refused(m, sub == "add" ? "bindings add" : "bindings remove") ? 1 : 0;
    }
    if (sub != "list" || !rest.empty()) return 2;
    Conn c(sock);
    // What each endpoint id is (address, owner), to show what a label resolves to.
    std::map<uint32_t, std::string> eps;
    for (const ctl::Attrs& e :
         items(c.list(ctl::MsgType::kEndpoints, "endpoints", [](const ctl::Message&) {}),
               ctl::Attr::kEndpoint, "endpoints")) {
        std::string d = local_of(e, e.u8(ctl::Attr::kKind).value_or(0));
        if (auto pid = e.u32(ctl::Attr::kPid))
            d += " pid " + std::to_string(*pid) + " (" +
                 std::string(e.str(ctl::Attr::kComm).value_or("")) + ")";
        eps[e.u32(ctl::Attr::kEndpointId).value_or(0)] = d;
    }
    auto frames = c.list(ctl::MsgType::kBindings, "bindings", [](const ctl::Message&) {});
    std::printf("%-20s %-12s %-16s %-8s %s\n", "Prefix", "Ports", "Label", "From", "Endpoints");
    for (const ctl::Attrs& a : items(frames, ctl::Attr::kBinding, "bindings")) {
        demux::Binding b;
        if (ctl::decode_binding(a, &b)) continue;
        std::string label = b.drop ? "(drop)" : b.label;
        if (b.no_reuseport) label += " [no_reuseport]";
        const bool from_file = a.u8(ctl::Attr::kBindingConfig).value_or(0) != 0;
        const std::string from =
            from_file ? "config" : "uid " + std::to_string(a.u32(ctl::Attr::kUid).value_or(0));
        std::string to;
        for (uint32_t id : a.all_u32(ctl::Attr::kEndpointId)) {
            auto it = eps.find(id);
            to += (to.empty() ? "" : ", ") + ("ep" + std::to_string(id)) +
                  (it != eps.end() ? " " + it->second : "");
        }
        if (to.empty()) to = b.drop ? "-" : "(none: the normal lookup)";
        std::printf("%-20s %-12s %-16s %-8s %s\n",
                    (wire::ipv4_str(b.prefix) + "/" + std::to_string(b.prefix_len)).c_str(),
                    ports_str(b).c_str(), label.c_str(), from.c_str(), to.c_str());
    }
    return 0;
}

int cmd_reload(Conn& c) {
    const ctl::Message& m =
        c.call(ctl::Builder(ctl::MsgType::kReload, c.next_seq()).finish(), "reload");
    if (refused(m, "reload refused, running configuration kept")) return 1;
    if (m.u8(ctl::Attr::kApplied).value_or(0)) {
        std::printf("reloaded: configuration applied\n");
        return 0;
    }
    std::printf("reload not applied; these need a restart:\n");
    for (std::string_view r : m.all_str(ctl::Attr::kRestart))
        std::printf("  %.*s\n", static_cast<int>(r.size()), r.data());
    return 3;
}

// wait-ready: ingressd serves its control socket only once every worker polls (and the
// socket listens), so the first answered hello is readiness; before that the socket is
// missing, refuses, or holds the request unanswered. Its own connection (not Conn, which
// exits on the first failure).
// Its own bounded exchange rather than ingress::Client::connect, whose hello waits without
// a limit: a daemon that listens but does not serve yet must not hang wait-ready.
bool hello_answered(const std::string& path, int timeout_ms) {
    int fd = -1;
    try {
        fd = ctl::connect_unix(path);
    } catch (const std::exception&) {
        return false;
    }
    bool ok = false;
    std::vector<uint8_t> in;
    pollfd p{fd, POLLIN, 0};
    if (ctl::send_with_fds(fd, ctl::Builder(ctl::MsgType::kHello, 1).finish(), {}) == 0) {
        while (poll(&p, 1, timeout_ms) == 1) {
            uint8_t buf[4096];
            std::vector<int> fds;
            ssize_t n = ctl::recv_with_fds(fd, buf, sizeof buf, &fds);
            for (int f : fds) close(f);
            if (n <= 0) break;
            in.insert(in.end(), buf, buf + n);
            auto need = ctl::message_size(in);
            if (!need || in.size() < *need) continue;
            ctl::ParseResult pr = ctl::parse(std::span<const uint8_t>(in.data(), *need));
            ok = pr.msg && pr.msg->u32(ctl::Attr::kError).value_or(EPROTO) == 0;
            break;
        }
    }
    close(fd);
    return ok;
}

int cmd_wait_ready(const std::string& sock, double timeout_s) {
    timespec t0{}, now{};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        const double left = timeout_s - (static_cast<double>(now.tv_sec - t0.tv_sec) +
                                         static_cast<double>(now.tv_nsec - t0.tv_nsec) / 1e9);
        if (hello_answered(sock, left > 0 ? static_cast<int>(left * 1000) : 0)) return 0;
        if (left <= 0) {
            std::fprintf(stderr, "ingressctl: %s: ingressd not ready after %gs\n", sock.c_str(),
                         timeout_s);
            return 1;
        }
        usleep(100000);
    }
}

[[noreturn]] void usage(int code) {
    std::fprintf(
        code ? stderr : stdout,
        "usage: ingressctl [--socket PATH] COMMAND\n"
        "  stats [-a] [--json | --openmetrics] [--watch [SECONDS]] [--count N]\n"
        "        every counter, total and per worker (nstat names); --watch redraws with\n"
        "        per-second rates until Ctrl-C\n"
        "  top [--interval SECONDS] [--rows N] [--count N]\n"
        "                  rates per worker, drop reason, counter, endpoint and backend\n"
        "                  counter, busiest first, redrawn in place (default 1 s, 20 rows)\n"
        "  drops [-a]      drops per reason (kernel drop-reason names), per worker\n"
        "  runtime [--json | --openmetrics]\n"
        "                  per worker: polls, empty polls, frames per burst, cycles per\n"
        "                  frame of each stage (TSC), idle share\n"
        "  endpoints       the apps' endpoints, like ss -uapn\n"
        "  routes          every route table the workers use, and the policy rules\n"
        "  host            where the tables come from (kernel or config), when, what was left out\n"
        "  pmtu            path MTUs learned from ICMP fragmentation needed (ip route get's\n"
        "                  cache mtu), with their expiry\n"
        "  bindings [list] every binding (prefix, ports -> label or drop) and the endpoints\n"
        "                  each label resolves to now (as tubectl list)\n"
        "  bindings add PREFIX [PORT | LO-HI | all] (LABEL | drop) [--no-reuseport]\n"
        "  bindings remove PREFIX [PORT | LO-HI | all]\n"
        "                  change the bindings (CAP_NET_ADMIN or policy.bindings)\n"
        "  reload          re-read ingressd's configuration file (as SIGHUP)\n"
        "  wait-ready [--timeout SECONDS]\n"
        "                  wait until ingressd's workers poll and it answers (default 30 s)\n"
        "  trace [--count N] [--filter EXPR] [--drops-only] [--worker W] [--json]\n"
        "        [--timeout SECONDS] [--ring N]\n"
        "                  the next N frames that match (default 10), every stage each went\n"
        "                  through and its fate with the kernel's drop reason\n"
        "  capture (--drops [REASON...] | --iface IF) [--filter EXPR] -w FILE [--count N]\n"
        "          [--worker W] [--timeout SECONDS] [--ring N]\n"
        "                  dropped frames (all or these reasons) or one interface's frames\n"
        "                  into a pcapng file, until N frames, the timeout or Ctrl-C\n"
        "default socket: %s\n",
        config::Config{}.control_socket.c_str());
    std::exit(code);
}

bool is_number(const char* s) {
    char* end = nullptr;
    std::strtod(s, &end);
    return *s && end && *end == '\0';
}

}  // namespace

int main(int argc, char** argv) {
    std::string sock = config::Config{}.control_socket;
    std::string cmd;
    bool all = false, json = false, openmetrics = false;
    double watch = 0;
    long count = 0;
    double timeout = 30, interval = 1;
    long rows = 20;
    // trace and capture parse their own options (tools/ingressctl_observe.cc).
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if ((a == "--socket" || a == "-s") && i + 1 < argc) {
            sock = argv[++i];
            continue;
        }
        if (a != "trace" && a != "capture" && a != "bindings") break;
        std::vector<std::string> rest(argv + i + 1, argv + argc);
        for (const std::string& r : rest)
            if (r == "-h" || r == "--help") usage(0);
        const int rc = a == "bindings" ? cmd_bindings(sock, rest)
                       : a == "trace"  ? ctl_tool::cmd_trace(sock, rest)
                                       : ctl_tool::cmd_capture(sock, rest);
        if (rc == 2) usage(2);
        return rc;
    }
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage(2);
            return argv[++i];
        };
        if (a == "--socket" || a == "-s")
            sock = value();
        else if (a == "-a" || a == "--all")
            all = true;
        else if (a == "--json")
            json = true;
        else if (a == "--openmetrics")
            openmetrics = true;
        else if (a == "--watch" || a == "-w")
            watch = i + 1 < argc && is_number(argv[i + 1]) ? std::atof(argv[++i]) : 1.0;
        else if (a == "--count" || a == "-c")
            count = std::atol(value());
        else if (a == "--timeout" || a == "-t")
            timeout = std::atof(value());
        else if (a == "--interval" || a == "-i")
            interval = std::atof(value());
        else if (a == "--rows" || a == "-n")
            rows = std::atol(value());
        else if (a == "-h" || a == "--help")
            usage(0);
        else if (a[0] != '-' && cmd.empty())
            cmd = a;
        else
            usage(2);
    }
    if (cmd.empty() || (json && openmetrics) || watch < 0 || (watch > 0 && (json || openmetrics)) ||
        (cmd != "stats" && watch > 0) ||
        (cmd != "stats" && cmd != "runtime" && (json || openmetrics)))
        usage(2);
    if (cmd == "wait-ready") return cmd_wait_ready(sock, timeout);
    if (cmd != "stats" && cmd != "drops" && cmd != "endpoints" && cmd != "routes" &&
        cmd != "host" && cmd != "reload" && cmd != "top" && cmd != "runtime" && cmd != "pmtu")
        usage(2);
    if (interval <= 0 || rows <= 0) usage(2);
    Conn c(sock);
    if (cmd == "stats") return cmd_stats(c, all, json, openmetrics, watch, count);
    if (cmd == "drops") return cmd_drops(c, all);
    if (cmd == "top") return cmd_top(c, interval, count, static_cast<std::size_t>(rows));
    if (cmd == "runtime") return cmd_runtime(c, json, openmetrics);
    if (cmd == "endpoints") return cmd_endpoints(c);
    if (cmd == "routes") return cmd_routes(c);
    if (cmd == "host") return cmd_host(c);
    if (cmd == "pmtu") return cmd_pmtu(c);
    return cmd_reload(c);
}
