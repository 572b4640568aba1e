#include "ingressctl_observe.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "ctl/cap_proof.h"
#include "ctl/observe_codec.h"
#include "ctl/unix_socket.h"
#include "io/pcapng.h"

namespace ingress::ctl_tool {

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) {
    g_stop = 1;
}

[[noreturn]] void fail(const std::string& msg) {
    std::fprintf(stderr, "ingressctl: %s\n", msg.c_str());
    std::exit(1);
}

// The daemon's name for the interface (it may run in another network namespace), else
// "ifN".
std::string ifname_or(const std::string& name, uint32_t ifindex) {
    return name.empty() ? "if" + std::to_string(ifindex) : name;
}

// Receive times in ns since the epoch: the AF_XDP backend stamps CLOCK_REALTIME already; a
// backend stamping CLOCK_MONOTONIC (far from the epoch's now) is shifted by the offset.
uint64_t epoch_ns(uint64_t rx_ns) {
    timespec mono{}, real{};
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    const int64_t real_ns = real.tv_sec * 1000000000LL + real.tv_nsec;
    const int64_t mono_ns = mono.tv_sec * 1000000000LL + mono.tv_nsec;
    const int64_t day = 86400LL * 1000000000LL;
    const auto t = static_cast<int64_t>(rx_ns);
    if (t > real_ns - day && t < real_ns + day) return rx_ns;
    return static_cast<uint64_t>(t + (real_ns - mono_ns));
}

// The options both commands share.
struct Common {
    ctl::ObserveRequest req;
    std::string filter;
    bool json = false;
    std::string out;  // capture -w
    bool ok = true;
};

// A streaming session: the request, then replies until the end (or Ctrl-C).
class Session {
public:
    Session(const std::string& sock, const ctl::ObserveRequest& req) {
        try {
            fd_ = ctl::connect_unix(sock);
        } catch (const std::exception& e) {
            fail(e.what());
        }
        fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
        std::vector<uint8_t> bytes = ctl::encode(1, req);
        // The privilege to watch traffic: a socket only CAP_NET_RAW could make, when this
        // process can (root's ingressctl and the control group need none).
        std::vector<int> proofs;
        if (const int p = ctl::make_proof(ctl::kCapNetRaw); p >= 0) {
            proofs.push_back(p);
            bytes = ctl::Builder(std::move(bytes))
                        .u8(ctl::Attr::kProof, static_cast<uint8_t>(ctl::kCapNetRaw))
                        .finish();
        }
        if (bytes.size() > ctl::kHeaderLen + ctl::kMaxPayload)
            fail("filter too long for one request");
        // With SCM_CREDENTIALS: privilege is the sender's (docs/control-protocol.md).
        const int e = ctl::send_with_fds(fd_, bytes, proofs, true);
        for (int p : proofs) close(p);
        if (e != 0) fail(sock + ": " + std::strerror(e));
        struct sigaction sa {};
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, nullptr);
        sigaction(SIGTERM, &sa, nullptr);
        const ctl::Message* first = next();
        if (!first) fail(sock + ": no reply");
        if (uint32_t err = first->u32(ctl::Attr::kError).value_or(EPROTO))
            fail(std::string(ctl::msg_type_name(req.spec.mode == worker::ObserveMode::kTrace
                                                    ? ctl::MsgType::kTrace
                                                    : ctl::MsgType::kCapture)) +
                 ": " + std::strerror(static_cast<int>(err)) + ": " +
                 std::string(first->str(ctl::Attr::kMessage).value_or("")));
        // The workers see the session from their next burst on (scripts wait for this line).
        std::fprintf(stderr, "%s: session started on %u workers\n",
                     req.spec.mode == worker::ObserveMode::kTrace ? "trace" : "capture",
                     first->u32(ctl::Attr::kWorkers).value_or(0));
    }
    ~Session() { close(fd_); }

    // The next message; nullptr on Ctrl-C or when the daemon hung up.
    const ctl::Message* next() {
        for (;;) {
            if (buf_off_) {
                buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(buf_off_));
                buf_off_ = 0;
            }
            if (auto need = ctl::message_size(buf_); need && buf_.size() >= *need) {
                ctl::ParseResult pr = ctl::parse({buf_.data(), *need});
                if (!pr.msg) fail(std::string("bad reply: ") + ctl::parse_error_str(pr.error));
                frame_.assign(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(*need));
                buf_off_ = *need;
                pr = ctl::parse(frame_);  // views into frame_, which stays put
                msg_ = std::move(*pr.msg);
                return &msg_;
            }
            if (g_stop) return nullptr;
            pollfd p{fd_, POLLIN, 0};
            if (poll(&p, 1, 200) <= 0) continue;
            uint8_t b[65536];
            ssize_t n = read(fd_, b, sizeof b);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return nullptr;
            buf_.insert(buf_.end(), b, b + n);
        }
    }

private:
    int fd_ = -1;
    std::vector<uint8_t> buf_, frame_;
    std::size_t buf_off_ = 0;
    ctl::Message msg_;
};

std::string json_str(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

const char* kind_name(core::Verdict::Kind k) {
    switch (k) {
        case core::Verdict::Kind::kDrop:
            return "drop";
        case core::Verdict::Kind::kDelivered:
            return "delivered";
        case core::Verdict::Kind::kHeld:
            return "held";
        case core::Verdict::Kind::kPass:
            return "pass";
        case core::Verdict::Kind::kContinue:
            break;
    }
    return "continue";
}

void print_trace(const worker::TraceRecord& r, const std::string& ifname, uint64_t n, bool json) {
    if (json) {
        std::string o =
            "{\"frame\":" + std::to_string(n) + ",\"worker\":" + std::to_string(r.worker) +
            ",\"queue\":" + std::to_string(r.queue) + ",\"ifindex\":" + std::to_string(r.ifindex) +
            ",\"ifname\":" + json_str(ifname_or(ifname, r.ifindex)) +
            ",\"len\":" + std::to_string(r.len) + ",\"rx_ns\":" + std::to_string(r.rx_ns) +
            ",\"steps\":[";
        for (uint8_t i = 0; i < r.nsteps; ++i) {
            const worker::TraceStep& s = r.steps[i];
            if (i) o += ",";
            o += "{\"stage\":" + json_str(worker::trace_stage_name(s.stage)) +
                 ",\"verdict\":" + json_str(kind_name(s.kind));
            if (s.kind == core::Verdict::Kind::kDrop)
                o += ",\"reason\":" +
                     json_str("SKB_DROP_REASON_" + std::string(core::drop_reason_name(s.reason)));
            o += ",\"values\":[";
            for (std::size_t k = 0; k < s.v.size(); ++k)
                o += (k ? "," : "") + std::to_string(s.v[k]);
            o += "],\"text\":" + json_str(worker::format_step(s)) + "}";
        }
        o += "],\"fate\":" + json_str(r.closed ? kind_name(r.fate) : "handed-off");
        if (r.closed && r.fate == core::Verdict::Kind::kDrop)
            o += ",\"reason\":" +
                 json_str("SKB_DROP_REASON_" + std::string(core::drop_reason_name(r.reason)));
        std::printf("%s}\n", o.c_str());
    } else {
        std::printf("frame %llu: worker %u queue %u dev %s, %u bytes\n",
                    static_cast<unsigned long long>(n), r.worker, r.queue,
                    ifname_or(ifname, r.ifindex).c_str(), r.len);
        for (uint8_t i = 0; i < r.nsteps; ++i)
            std::printf("  %s\n", worker::format_step(r.steps[i]).c_str());
        std::printf("  fate: %s\n", worker::format_fate(r.fate, r.reason, r.closed).c_str());
    }
    std::fflush(stdout);
}

// Parses the shared options; `extra` takes the command's own (returns false: unknown).
template <class Extra>
Common parse(const std::vector<std::string>& args, Extra&& extra) {
    Common c;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> const std::string& {
            if (i + 1 >= args.size()) {
                c.ok = false;
                return a;
            }
            return args[++i];
        };
        if (a == "--count" || a == "-c")
            c.req.spec.count = std::strtoull(value().c_str(), nullptr, 10);
        else if (a == "--filter" || a == "-f")
            c.filter = value();
        else if (a == "--worker")
            c.req.spec.worker = std::atoi(value().c_str());
        else if (a == "--timeout" || a == "-t")
            c.req.timeout_ms = static_cast<uint32_t>(std::atof(value().c_str()) * 1000);
        else if (a == "--ring")
            c.req.spec.ring_slots = static_cast<uint32_t>(std::atol(value().c_str()));
        else if (!extra(args, i))
            c.ok = false;
    }
    if (!c.filter.empty()) {
        std::string err;
        auto prog = worker::compile_filter(c.filter, &err);
        if (!prog) fail("filter: " + err);
        c.req.spec.filter = std::move(*prog);
    }
    return c;
}

}  // namespace

int cmd_trace(const std::string& sock, const std::vector<std::string>& args) {
    bool json = false;
    Common c = parse(args, [&](const std::vector<std::string>& a, std::size_t& i) {
        if (a[i] == "--drops-only") return true;
        if (a[i] == "--json") return json = true;
        return false;
    });
    for (const std::string& a : args)
        if (a == "--drops-only") c.req.spec.drops_only = true;
    if (!c.ok) return 2;
    c.req.spec.mode = worker::ObserveMode::kTrace;
    if (c.req.spec.count == 0) c.req.spec.count = 10;
    Session s(sock, c.req);
    uint64_t n = 0;
    std::optional<ctl::ObserveEnd> end;
    while (const ctl::Message* m = s.next()) {
        if (m->u32(ctl::Attr::kError).value_or(0)) fail("trace: refused");
        if ((end = ctl::decode_end(*m))) break;
        auto recs = m->all_nested(ctl::Attr::kTraceRecord);
        if (!recs) fail("trace: bad record");
        for (const ctl::Attrs& a : *recs) {
            std::string name;
            auto r = ctl::decode_trace_record(a, &name);
            if (!r) fail("trace: bad record");
            print_trace(*r, name, ++n, json);
        }
    }
    if (end && (end->lost || end->skipped))
        std::fprintf(stderr, "trace: %llu records lost (ring full), %llu frames not traced\n",
                     static_cast<unsigned long long>(end->lost),
                     static_cast<unsigned long long>(end->skipped));
    return 0;
}

int cmd_capture(const std::string& sock, const std::vector<std::string>& args) {
    bool drops = false;
    std::string iface, out;
    Common c = parse(args, [&](const std::vector<std::string>& a, std::size_t& i) {
        if (a[i] == "--drops") {
            drops = true;
            return true;
        }
        if ((a[i] == "--iface" || a[i] == "-i") && i + 1 < a.size()) {
            iface = a[++i];
            return true;
        }
        if (a[i] == "-w" && i + 1 < a.size()) {
            out = a[++i];
            return true;
        }
        if (drops && a[i][0] != '-') return true;  // a reason, read below
        return false;
    });
    if (!c.ok || out.empty() || drops == !iface.empty()) return 2;
    worker::ObserveSpec& spec = c.req.spec;
    if (drops) {
        spec.mode = worker::ObserveMode::kCaptureDrops;
        bool in_drops = false;
        for (std::size_t i = 0; i < args.size(); ++i) {
            const std::string& a = args[i];
            if (a == "--drops") {
                in_drops = true;
                continue;
            }
            if (a[0] == '-') {
                in_drops = false;
                if (a != "--drops-only" && a != "--json") ++i;  // skips the option's value
                continue;
            }
            if (!in_drops) continue;
            std::string name = a.rfind("SKB_DROP_REASON_", 0) == 0 ? a.substr(16) : a;
            auto r = core::drop_reason_from_name(name);
            if (!r) fail("unknown drop reason " + a + " (ingressctl drops -a lists them)");
            spec.reasons.set(static_cast<std::size_t>(*r));
        }
    } else {
        spec.mode = worker::ObserveMode::kCaptureIface;
        c.req.ifname = iface;  // the daemon's namespace names it
    }
    std::FILE* f = out == "-" ? stdout : std::fopen(out.c_str(), "wb");
    if (!f) fail(out + ": " + std::strerror(errno));
    io::PcapngWriter w(f);
    Session s(sock, c.req);
    uint64_t written = 0, lost = 0;
    std::optional<ctl::ObserveEnd> end;
    while (const ctl::Message* m = s.next()) {
        if (m->u32(ctl::Attr::kError).value_or(0)) fail("capture: refused");
        if ((end = ctl::decode_end(*m))) break;
        lost = m->u64(ctl::Attr::kObsLost).value_or(lost);
        auto recs = m->all_nested(ctl::Attr::kCaptureRecord);
        if (!recs) fail("capture: bad record");
        for (const ctl::Attrs& a : *recs) {
            std::string daemon_name;
            auto r = ctl::decode_capture_record(a, &daemon_name);
            if (!r) fail("capture: bad record");
            const std::string name = ifname_or(daemon_name, r->ifindex);
            const uint32_t id = w.interface(r->ifindex, name, worker::kCaptureSnap);
            std::string comment = r->dropped
                                      ? "drop reason SKB_DROP_REASON_" +
                                            std::string(core::drop_reason_name(r->reason)) + ", "
                                      : std::string();
            comment += "worker " + std::to_string(r->worker) + ", queue " +
                       std::to_string(r->queue) + ", interface " + name;
            w.packet(id, epoch_ns(r->rx_ns), {r->bytes.data(), r->caplen}, r->orig_len, comment);
            ++written;
        }
        w.flush();
    }
    if (end) lost = end->lost;
    w.flush();
    if (f != stdout) std::fclose(f);
    std::fprintf(stderr, "capture: %llu frames written to %s, %llu copies lost (ring full)%s\n",
                 static_cast<unsigned long long>(written), out.c_str(),
                 static_cast<unsigned long long>(lost),
                 end ? (", " + end->why).c_str() : ", interrupted");
    return w.ok() ? 0 : 1;
}

}  // namespace ingress::ctl_tool
