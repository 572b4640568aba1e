#include "ctl/server.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <system_error>

#include "ctl/observe_codec.h"

namespace ingress::ctl {

namespace {

uint64_t mono_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

constexpr std::size_t kMaxFrame = kHeaderLen + kMaxPayload;
// A list reply stops adding items once this close to kMaxPayload: the largest item always
// fits in what is left (a tap with a 4 KiB filter expression, or an endpoint with 20
// memberships of 10 sources, about 2.6 KiB: strings are cut at 4 KiB by Builder::str, and
// memberships are limited by igmp_max_memberships and igmp_max_msf).
constexpr std::size_t kItemRoom = 8192;

std::string read_comm(const std::string& proc_root, pid_t pid) {
    std::ifstream in(proc_root + "/" + std::to_string(pid) + "/comm");
    std::string comm;
    std::getline(in, comm);
    return comm;
}

}  // namespace

void set_route_hooks(ServerHooks& hooks, const ipv4::RoutePublisher& routes) {
    hooks.routes = [&routes] { return routes.read()->all_routes(); };
    hooks.rules = [&routes] {
        std::vector<std::string> lines;
        for (const ipv4::FibRule& r : routes.read()->rules()) lines.push_back(ipv4::format_rule(r));
        return lines;
    };
    hooks.ifname = [&routes](uint32_t ifindex) {
        for (const ipv4::IfConfig& i : routes.config().ifaces)
            if (i.ifindex == ifindex) return i.name;
        return std::to_string(ifindex);
    };
}

Server::Server(ServerConfig cfg, Registry& reg, ServerHooks hooks)
    : cfg_(std::move(cfg)), reg_(reg), hooks_(std::move(hooks)) {
    if (cfg_.owner_uid < 0) cfg_.owner_uid = static_cast<int>(geteuid());
    listen_fd_ = listen_unix(cfg_.path, cfg_.mode);
    // Every byte an app sends carries its sender's credentials (SCM_CREDENTIALS); accepted
    // sockets inherit the option (unix_sock_inherit_flags), and bytes queued before accept()
    // carry them anyway (the kernel adds them while the socket has no owner).
    const int on = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
    if (cfg_.gid >= 0 &&
        chown(cfg_.path.c_str(), static_cast<uid_t>(-1), static_cast<gid_t>(cfg_.gid)) != 0) {
        int e = errno;
        ::close(listen_fd_);
        throw std::system_error(e, std::generic_category(), "chown " + cfg_.path);
    }
    ep_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_fd_ < 0) {
        int e = errno;
        ::close(listen_fd_);
        throw std::system_error(e, std::generic_category(), "epoll_create1");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listen_fd_;
    epoll_ctl(ep_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
    spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        fd_limit_ = static_cast<std::size_t>(rl.rlim_cur);
}

Server::~Server() {
    while (!conns_.empty()) close_conn(conns_.begin()->first);
    if (spare_fd_ >= 0) ::close(spare_fd_);
    if (ep_fd_ >= 0) ::close(ep_fd_);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    unlink(cfg_.path.c_str());
}

void Server::set_access(unsigned mode, int gid) {
    if (chmod(cfg_.path.c_str(), mode) != 0)
        throw std::system_error(errno, std::generic_category(), "chmod " + cfg_.path);
    // No group configured: the daemon's own, as when the socket was made.
    const gid_t g = gid >= 0 ? static_cast<gid_t>(gid) : getegid();
    if (chown(cfg_.path.c_str(), static_cast<uid_t>(-1), g) != 0)
        throw std::system_error(errno, std::generic_category(), "chown " + cfg_.path);
    cfg_.mode = mode;
    cfg_.gid = gid;
}

void Server::set_limits(const ServerConfig& l) {
    cfg_.max_connections = l.max_connections;
    cfg_.max_connections_per_uid = l.max_connections_per_uid;
    cfg_.reserved_connections = l.reserved_connections;
    cfg_.reserved_fds = l.reserved_fds;
    cfg_.idle_timeout_ms = l.idle_timeout_ms;
    cfg_.frame_timeout_ms = l.frame_timeout_ms;
}

void Server::watch(int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(ep_fd_, EPOLL_CTL_ADD, fd, &ev) != 0)
        throw std::system_error(errno, std::generic_category(), "epoll_ctl");
}

int Server::run_once(int timeout_ms) {
    // The timeouts are checked at least every 100 ms.
    constexpr int kSweepMs = 100;
    epoll_event evs[64];
    // A live trace or capture is drained every few milliseconds.
    if (obs_ && (timeout_ms < 0 || timeout_ms > 5)) timeout_ms = 5;
    int n = epoll_wait(ep_fd_, evs, 64, timeout_ms < 0 ? kSweepMs : std::min(timeout_ms, kSweepMs));
    pump_observe();
    const uint64_t now = mono_ns();
    if (now - last_sweep_ns_ >= kSweepMs * 1000000ull) {
        last_sweep_ns_ = now;
        sweep(now);
    }
    if (n <= 0) return 0;
    for (int i = 0; i < n; ++i) {
        const int fd = evs[i].data.fd;
        if (fd == listen_fd_) {
            accept_all();
            continue;
        }
        auto it = conns_.find(fd);
        if (it == conns_.end()) continue;
        bool keep = true;
        if (evs[i].events & EPOLLIN)
            keep = on_readable(it->second);
        else if (evs[i].events & (EPOLLHUP | EPOLLERR))
            keep = false;
        if (!keep) close_conn(fd);
    }
    return n;
}

void Server::accept_all() {
    for (;;) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            // Out of fds the peer stays queued and the listening socket readable: left so,
            // epoll would wake this thread at once, for ever.
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                refuse_out_of_fds(errno);
            return;
        }
        Conn c;
        c.fd = fd;
        if (!peer_cred(fd, &c.cred)) {
            ++stats_.refused_connections;
            ::close(fd);
            continue;
        }
        c.owner = next_owner_++;
        c.comm = read_comm(reg_.config().policy.proc_root, c.cred.pid);
        c.tokens = cfg_.request_burst;
        c.last_ns = c.active_ns = mono_ns();
        if (!admit(c)) {
            ::close(fd);
            continue;
        }
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.fd = fd;
        if (epoll_ctl(ep_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
            ::close(fd);
            continue;
        }
        ++stats_.accepted;
        conns_.emplace(fd, std::move(c));
    }
}

bool Server::admit(Conn& c) {
    // The administrators (ingressctl as root or the control group) may use the reserves: an
    // app, or many, holding every other connection or fd cannot lock them out.
    c.admin =
        may_administer(reg_.config().policy, c.cred, static_cast<uid_t>(cfg_.owner_uid), cfg_.gid);
    int err = 0;
    std::string why;
    uint64_t* cause = nullptr;
    const std::size_t open_limit =
        c.admin ? cfg_.max_connections
                : cfg_.max_connections - std::min(cfg_.reserved_connections, cfg_.max_connections);
    // Fds are handed out lowest first: fd number N means N fds are in use.
    const std::size_t fd_limit =
        fd_limit_ == 0 || c.admin ? SIZE_MAX : fd_limit_ - std::min(cfg_.reserved_fds, fd_limit_);
    std::size_t of_uid = 0;
    for (const auto& [fd, o] : conns_) of_uid += o.cred.uid == c.cred.uid;
    if (conns_.size() >= open_limit || static_cast<std::size_t>(c.fd) >= fd_limit) {
        err = ENFILE;
        cause = &stats_.refused_reserve;
        why = conns_.size() >= open_limit
                  ? "connection limit reached (" + std::to_string(conns_.size()) + " of " +
                        std::to_string(cfg_.max_connections) + ", " +
                        std::to_string(cfg_.reserved_connections) +
                        " reserved for administrators; control.max_connections)"
                  : "file descriptors nearly exhausted (the last " +
                        std::to_string(cfg_.reserved_fds) + " of RLIMIT_NOFILE " +
                        std::to_string(fd_limit_) + " are reserved for administrators)";
    } else if (!c.admin && of_uid >= cfg_.max_connections_per_uid) {
        err = EMFILE;
        cause = &stats_.refused_uid_quota;
        why = "uid " + std::to_string(c.cred.uid) + " holds " + std::to_string(of_uid) +
              " connections (control.max_connections_per_uid " +
              std::to_string(cfg_.max_connections_per_uid) + ")";
    }
    if (!err) return true;
    ++stats_.refused_connections;
    ++*cause;
    log_refusal(c, "connection", why);
    reply(c, 0, Result{err, why, 0});
    return false;
}

void Server::refuse_out_of_fds(int err) {
    ++stats_.refused_connections;
    ++stats_.refused_fd_limit;
    const std::string why = std::string("ingressd is out of file descriptors (") +
                            std::strerror(err) + "); try again later";
    // The spare fd makes room for one accept(): the peer gets an answer instead of a hang.
    if (spare_fd_ >= 0) {
        ::close(spare_fd_);
        spare_fd_ = -1;
        const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
            Conn c;
            c.fd = fd;
            peer_cred(fd, &c.cred);
            log_refusal(c, "connection", why);
            reply(c, 0, Result{ENFILE, why, 0});
            ::close(fd);
        }
        spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0 && spare_fd_ >= 0) return;
    }
    // Not even that: stop watching the listening socket for a while (the peers wait in the
    // backlog); sweep() resumes.
    ++stats_.accept_paused;
    epoll_event ev{};
    ev.data.fd = listen_fd_;
    epoll_ctl(ep_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
    accept_paused_ns_ = mono_ns() + 100000000ull;
}

void Server::sweep(uint64_t now) {
    if (accept_paused_ns_ && now >= accept_paused_ns_) {
        accept_paused_ns_ = 0;
        if (spare_fd_ < 0) spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = listen_fd_;
        epoll_ctl(ep_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
    }
    std::vector<int> expired;
    for (auto& [fd, c] : conns_) {
        const char* why = nullptr;
        if (c.partial_ns && now - c.partial_ns > cfg_.frame_timeout_ms * 1000000ull) {
            ++stats_.frame_timeouts;
            why = "a frame left half written longer than control.frame_timeout_ms";
        } else if (cfg_.idle_timeout_ms && now - c.active_ns > cfg_.idle_timeout_ms * 1000000ull &&
                   reg_.count(c.owner) == 0) {
            ++stats_.idle_timeouts;
            why = "no endpoint and no request for control.idle_timeout_ms";
        }
        if (!why) continue;
        log_refusal(c, "connection", why);
        reply(c, 0, Result{ETIMEDOUT, why, 0});
        expired.push_back(fd);
    }
    for (int fd : expired) close_conn(fd);
}

core::CounterGroup Server::counter_group() const {
    const QuotaStats& q = reg_.quota_stats();
    return {
        .device = "control",
        .backend = "server",
        .source = "control",
        .queue = -1,
        .counters = {
            {"accepted", "control connections accepted", stats_.accepted},
            {"refused", "control connections refused, whatever the cause",
             stats_.refused_connections},
            {"refused_uid_quota", "refused: the uid held max_connections_per_uid",
             stats_.refused_uid_quota},
            {"refused_reserve",
             "refused: only the administrators' reserve of connections or fds was left",
             stats_.refused_reserve},
            {"refused_fd_limit", "refused: accept() failed with EMFILE/ENFILE",
             stats_.refused_fd_limit},
            {"accept_paused", "times accepting paused, not even a spare fd left",
             stats_.accept_paused},
            {"idle_timeouts", "connections with no endpoint closed after idle_timeout_ms",
             stats_.idle_timeouts},
            {"frame_timeouts", "connections closed with a frame half written",
             stats_.frame_timeouts},
            {"rate_limited", "requests refused by the per-connection rate limit",
             stats_.rate_limited},
            {"protocol_errors", "broken frames (their connection closed)", stats_.protocol_errors},
            {"refused_endpoint_quota", "opens refused: the uid held max_endpoints_per_uid",
             q.endpoints},
            {"refused_ring_quota", "opens refused: the rings would pass max_ring_bytes_per_uid",
             q.ring_bytes},
        }};
}

void Server::close_passed(Conn& c) {
    for (int f : c.passed) ::close(f);
    c.passed.clear();
}

void Server::close_conn(int fd) {
    auto it = conns_.find(fd);
    if (it == conns_.end()) return;
    if (obs_ && obs_->fd == fd) end_observe("client gone", false);
    const uint64_t owner = it->second.owner;
    close_passed(it->second);
    epoll_ctl(ep_fd_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    conns_.erase(it);
    ++stats_.closed;
    // The app is gone: its endpoints leave the tables; rings are freed after the grace period.
    reg_.close_owner(owner);
}

void Server::log_refusal(const Conn& c, const char* what, const std::string& msg) {
    if (!cfg_.log_refusals) return;
    const uint64_t now = mono_ns();
    if (now - log_window_ns_ > 1000000000ull) {
        log_window_ns_ = now;
        log_count_ = 0;
    }
    if (++log_count_ > 10) return;
    std::fprintf(stderr, "ingressd: refused %s from pid %d uid %u: %s\n", what,
                 static_cast<int>(c.cred.pid), static_cast<unsigned>(c.cred.uid), msg.c_str());
}

bool Server::on_readable(Conn& c) {
    uint8_t buf[4096];
    for (;;) {
        SenderCred sender;
        ssize_t n = recv_with_fds(c.fd, buf, sizeof buf, &c.passed, &sender);
        if (n == -EAGAIN || n == -EWOULDBLOCK) break;
        if (n == -EINTR) continue;
        if (n <= 0) return false;  // EOF or error: the app is gone
        // Fds travel with the request that claims them (kProof); more than one request's
        // worth waiting is a broken client.
        if (c.passed.size() > kMaxFds) {
            ++stats_.protocol_errors;
            log_refusal(c, "frame", "more descriptors passed than requests claimed");
            reply(c, 0, Result{EPROTO, "more descriptors passed than requests claimed", 0});
            return false;
        }
        // The kernel never returns two senders' bytes in one read, but a frame can start in
        // an earlier read: its sender is this one only if that earlier part was too.
        const std::size_t carried = c.in.size();
        const bool carried_mixed = carried && (c.in_mixed || !(c.in_sender == sender));
        c.in.insert(c.in.end(), buf, buf + n);
        c.active_ns = mono_ns();
        // Frame and handle every complete message.
        std::size_t off = 0;
        bool keep = true;
        while (keep) {
            std::span<const uint8_t> rest{c.in.data() + off, c.in.size() - off};
            c.frame_sender = off < carried ? c.in_sender : sender;
            c.frame_mixed = off < carried && carried_mixed;
            auto need = message_size(rest);
            if (!need) break;
            if (*need > kMaxFrame) {
                // The framing cannot be trusted any more: answer and hang up.
                ParseResult pr = parse(rest);
                ++stats_.protocol_errors;
                const char* why = pr.msg ? "message larger than 16 KiB" : parse_error_str(pr.error);
                log_refusal(c, "frame", why);
                reply(c, 0, Result{EPROTO, why, 0});
                return false;
            }
            if (rest.size() < *need) break;
            try {
                keep = handle(c, rest.first(*need));
            } catch (const std::exception& e) {
                // Out of memory or a bug: refuse this request and drop the connection (its
                // endpoints go with it), the daemon and other apps carry on.
                log_refusal(c, "request", e.what());
                reply(c, 0, Result{ENOMEM, std::string("internal error: ") + e.what(), 0});
                keep = false;
            }
            off += *need;
        }
        if (!keep) return false;
        c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(off));
        // The frame timeout runs from when the unfinished frame began, not from its last byte:
        // a peer trickling one byte a second is as stuck as one that stopped.
        if (c.in.empty())
            c.partial_ns = 0;
        else if (off || !c.partial_ns)
            c.partial_ns = c.active_ns;
        c.in_sender = c.frame_sender;
        c.in_mixed = c.frame_mixed;
        // Fds no complete request claimed, with no partial request left to claim them:
        // an app has no business sending us other descriptors.
        if (c.in.empty()) close_passed(c);
    }
    return true;
}

bool Server::reply(Conn& c, uint32_t seq, const Result& r, const std::vector<int>& fds,
                   const std::function<void(Builder&)>& extra) {
    Builder b(MsgType::kReply, seq);
    b.u32(Attr::kError, static_cast<uint32_t>(r.err));
    if (r.err) {
        ++stats_.errors;
        b.str(Attr::kMessage, r.message.substr(0, 1024));
    }
    if (r.id) b.u32(Attr::kEndpointId, r.id);
    if (extra) extra(b);
    std::vector<uint8_t> bytes = b.finish();
    // A reply the app does not read (its socket buffer full) ends the connection.
    return send_with_fds(c.fd, bytes, fds) == 0;
}

bool Server::handle(Conn& c, std::span<const uint8_t> frame) {
    ++stats_.requests;
    // Request budget: refill, then spend one token.
    const uint64_t now = mono_ns();
    c.tokens = std::min<double>(cfg_.request_burst,
                                c.tokens + (now - c.last_ns) * 1e-9 * cfg_.requests_per_sec);
    c.last_ns = now;
    ParseResult pr = parse(frame);
    if (!pr.msg) {
        ++stats_.protocol_errors;
        log_refusal(c, "message", parse_error_str(pr.error));
        const bool framing =
            pr.error == ParseError::kBadMagic || pr.error == ParseError::kBadVersion ||
            pr.error == ParseError::kShortHeader || pr.error == ParseError::kTooLarge;
        bool ok = reply(c, header_seq(frame), Result{EPROTO, parse_error_str(pr.error), 0});
        return ok && !framing;
    }
    const Message& m = *pr.msg;
    if (!judge(c, m)) {
        ++stats_.protocol_errors;
        log_refusal(c, msg_type_name(m.type), "proof attributes without their descriptors");
        reply(c, m.seq, Result{EPROTO, "proof attributes without their descriptors", 0});
        return false;
    }
    if (c.tokens < 1) {
        ++stats_.rate_limited;
        log_refusal(c, msg_type_name(m.type), "request rate limit");
        return reply(c, m.seq, Result{EAGAIN, "request rate limit exceeded", 0});
    }
    c.tokens -= 1;
    if (!is_request(static_cast<uint16_t>(m.type)))
        return reply(c, m.seq, Result{EINVAL, "not a request", 0});
    return dispatch(c, m);
}

bool Server::judge(Conn& c, const Message& m) {
    c.req = c.cred;
    c.req_note.clear();
    const SenderCred& s = c.frame_sender;
    if (c.frame_mixed || !s.present || s.uid != c.cred.uid || s.gid != c.cred.gid) {
        c.req.sender_mismatch = true;
        if (c.frame_mixed || !s.present)
            c.req_note = "the request's bytes do not come from one sender";
        else
            c.req_note = "the request's sender (pid " + std::to_string(s.pid) + " uid " +
                         std::to_string(s.uid) + " gid " + std::to_string(s.gid) +
                         ") is not the connection's peer (uid " + std::to_string(c.cred.uid) +
                         " gid " + std::to_string(c.cred.gid) + ")";
        // The sender's own ids own what it opens (the kernel's socket uid is its maker's).
        if (s.present) c.req.uid = s.uid, c.req.gid = s.gid, c.req.groups.clear();
    }
    for (const AttrView& a : m.attrs) {
        if (a.type != Attr::kProof) continue;
        if (c.passed.empty()) return false;
        const int fd = c.passed.front();
        c.passed.erase(c.passed.begin());
        const int cap = a.value[0];
        const ProofCheck pc = proofs_.check(fd, cap);
        ::close(fd);
        if (pc == ProofCheck::kOk && cap < 64)
            c.req.proven |= uint64_t{1} << cap;
        else
            c.req_note = "the socket passed to prove capability " + std::to_string(cap) +
                         " was refused: " + proof_check_str(pc);
    }
    return true;
}

bool Server::dispatch(Conn& c, const Message& m) {
    switch (m.type) {
        case MsgType::kHello:
            return hello(c, m);
        case MsgType::kOpenUdp:
            return open_endpoint<UdpOpen>(c, m, &Registry::open_udp);
        case MsgType::kOpenRaw:
            return open_endpoint<RawOpen>(c, m, &Registry::open_raw);
        case MsgType::kOpenTap:
            return open_endpoint<TapOpen>(c, m, &Registry::open_tap);
        case MsgType::kJoin:
            return membership(c, m, true);
        case MsgType::kLeave:
            return membership(c, m, false);
        case MsgType::kSetOption: {
            SetOption o;
            if (auto e = decode(m, &o)) return answer(c, m, Result{e->err, e->message, 0});
            if (o.option == Attr::kRcvbufForce)
                return answer(c, m, reg_.set_rcvbuf_force(c.owner, c.req, o.id, o.value));
            return answer(c, m, reg_.set_option(c.owner, o.id, o.option, o.value));
        }
        case MsgType::kClose: {
            uint32_t id = 0;
            if (auto e = decode_close(m, &id)) return answer(c, m, Result{e->err, e->message, 0});
            return answer(c, m, reg_.close(c.owner, id));
        }
        case MsgType::kStats:
            return stats_text(c, m);
        case MsgType::kStatsQuery:
            return stats_query(c, m);
        case MsgType::kEndpoints:
            return endpoints(c, m);
        case MsgType::kRoutes:
            return routes(c, m);
        case MsgType::kPmtu:
            return pmtu(c, m);
        case MsgType::kHost:
            return host(c, m);
        case MsgType::kBindings:
            return bindings(c, m);
        case MsgType::kBindingChange: {
            BindingChange bc;
            if (auto e = decode(m, &bc)) return answer(c, m, Result{e->err, e->message, 0});
            return answer(c, m,
                          bc.remove ? reg_.remove_binding(c.req, bc.binding)
                                    : reg_.add_binding(c.req, bc.binding));
        }
        case MsgType::kRegisterLabel: {
            LabelChange lc;
            if (auto e = decode(m, &lc)) return answer(c, m, Result{e->err, e->message, 0});
            return answer(c, m,
                          lc.remove ? reg_.unregister_label(c.owner, lc.id, lc.label)
                                    : reg_.register_label(c.owner, c.req, lc.id, lc.label));
        }
        case MsgType::kReload:
            return reload(c, m);
        case MsgType::kBackendStats:
            return backend_stats(c, m);
        case MsgType::kRuntime:
            return runtime(c, m);
        case MsgType::kTrace:
        case MsgType::kCapture:
            return observe(c, m);
        case MsgType::kReply:
            break;
    }
    return answer(c, m, Result{EINVAL, "not a request", 0});
}

bool Server::answer(Conn& c, const Message& m, const Result& r) {
    if (r.ok()) return reply(c, m.seq, r);
    Result out = r;
    if ((r.err == EPERM || r.err == EACCES) && !c.req_note.empty())
        out.message += " (" + c.req_note + ")";
    log_refusal(c, msg_type_name(m.type), out.message);
    return reply(c, m.seq, out);
}

bool Server::hello(Conn& c, const Message& m) {
    const RegistryConfig& rc = reg_.config();
    return reply(c, m.seq, Result{}, {}, [&](Builder& b) {
        b.u16(Attr::kVersion, kVersion);
        b.u32(Attr::kWorkers, rc.workers);
        b.u32(Attr::kRingSlots, rc.geometry.slot_count);
        b.u32(Attr::kSlotSize, rc.geometry.slot_size);
    });
}

template <typename Open>
bool Server::open_endpoint(Conn& c, const Message& m,
                           Result (Registry::*open)(uint64_t, const PeerCred&, const Open&)) {
    Open o;
    if (auto e = decode(m, &o)) return answer(c, m, Result{e->err, e->message, 0});
    return send_endpoint(c, m, (reg_.*open)(c.owner, c.req, o));
}

// The reply to an open: the endpoint's id, its ring geometry, and its fds (one ring region
// per worker, then the doorbell) with their roles.
bool Server::send_endpoint(Conn& c, const Message& m, const Result& r) {
    if (!r.ok()) return answer(c, m, r);
    const demux::ShmRings* rings = reg_.rings(c.owner, r.id);
    std::vector<int> fds;
    for (uint16_t w = 0; w < rings->workers(); ++w) fds.push_back(rings->region(w).fd());
    fds.push_back(rings->doorbell().app_fd());
    return reply(c, m.seq, r, fds, [&](Builder& b) {
        b.u32(Attr::kWorkers, rings->workers());
        b.u32(Attr::kRingSlots, rings->geometry().slot_count);
        b.u32(Attr::kSlotSize, rings->geometry().slot_size);
        for (uint16_t w = 0; w < rings->workers(); ++w) b.u8(Attr::kFdRole, 0);
        b.u8(Attr::kFdRole, 1);
    });
}

bool Server::membership(Conn& c, const Message& m, bool join) {
    McRequest r;
    if (auto e = join ? decode_join(m, &r) : decode_leave(m, &r))
        return answer(c, m, Result{e->err, e->message, 0});
    if (!join) return answer(c, m, reg_.leave(c.owner, r.id, r.group, r.ifindex, r.sources));
    const auto mode = r.include ? demux::McFilterMode::kInclude : demux::McFilterMode::kExclude;
    return answer(c, m, reg_.join(c.owner, r.id, r.group, r.ifindex, mode, r.sources));
}

bool Server::stats_text(Conn& c, const Message& m) {
    std::string text = hooks_.stats_text ? hooks_.stats_text() : std::string();
    text += reg_.describe();
    if (text.size() > kMaxPayload - 64) text.resize(kMaxPayload - 64);
    return reply(c, m.seq, Result{}, {}, [&](Builder& b) { b.str(Attr::kStatsText, text); });
}

std::string Server::ifname(uint32_t ifindex) const {
    return ifindex && hooks_.ifname ? hooks_.ifname(ifindex) : std::string();
}

namespace {

// A per-worker list reply (stats-query, runtime): the header attributes, then one nested
// `item` per worker from the cursor on (worker, worker-desc, `array` of values) while they
// fit, and the cursor of the next when they do not.
template <class W, class Values>
void worker_items(Builder& b, uint32_t first, const std::vector<W>& ws, Attr item, Attr array,
                  Values values) {
    b.u32(Attr::kWorkers, static_cast<uint32_t>(ws.size()));
    for (uint32_t w = first; w < ws.size(); ++w) {
        if (w > first && b.size() > kMaxPayload - kItemRoom) {
            b.u32(Attr::kCursor, w);
            break;
        }
        const auto v = values(ws[w]);
        const std::size_t mark = b.begin_nested(item);
        b.u32(Attr::kWorker, w).str(Attr::kWorkerDesc, ws[w].desc);
        b.u64_array(array, v);
        b.end_nested(mark);
    }
}

// A paged list reply: one nested `item` per element from the cursor on, filled by `fill`,
// while they fit, and the cursor of the next when they do not.
template <class T, class Fill>
void paged_items(Builder& b, uint32_t first, const std::vector<T>& xs, Attr item, Fill fill) {
    for (uint32_t i = first; i < xs.size(); ++i) {
        if (i > first && b.size() > kMaxPayload - kItemRoom) {
            b.u32(Attr::kCursor, i);
            break;
        }
        const std::size_t mark = b.begin_nested(item);
        fill(xs[i]);
        b.end_nested(mark);
    }
}

}  // namespace

bool Server::stats_query(Conn& c, const Message& m) {
    if (!hooks_.worker_counters)
        return reply(c, m.seq, Result{EOPNOTSUPP, "no worker counters here", 0});
    const std::vector<WorkerCounters> ws = hooks_.worker_counters();
    return reply(c, m.seq, Result{}, {}, [&](Builder& b) {
        b.u32(Attr::kCounterHash, core::counter_table_hash());
        b.u32(Attr::kMibCount, static_cast<uint32_t>(core::kMibCount));
        b.u32(Attr::kDropCount, static_cast<uint32_t>(core::kDropReasonCount));
        worker_items(b, m.u32(Attr::kCursor).value_or(0), ws, Attr::kWorkerCounters,
                     Attr::kCounters,
                     [](const WorkerCounters& w) { return core::counter_array(w.counters); });
    });
}

bool Server::runtime(Conn& c, const Message& m) {
    if (!hooks_.worker_runtime)
        return reply(c, m.seq, Result{EOPNOTSUPP, "no runtime profile here", 0});
    const std::vector<WorkerRuntime> ws = hooks_.worker_runtime();
    return reply(c, m.seq, Result{}, {}, [&](Builder& b) {
        b.u64(Attr::kTscHz, static_cast<uint64_t>(core::tsc_hz()));
        b.u32(Attr::kStageCount, static_cast<uint32_t>(worker::kStageCount));
        worker_items(b, m.u32(Attr::kCursor).value_or(0), ws, Attr::kWorkerRuntime,
                     Attr::kRuntimeValues,
                     [](const WorkerRuntime& w) { return worker::runtime_array(w.runtime); });
    });
}

bool Server::backend_stats(Conn& c, const Message& m) {
    if (!hooks_.counter_groups)
        return reply(c, m.seq, Result{EOPNOTSUPP, "no backend counters here", 0});
    const std::vector<core::CounterGroup> groups = hooks_.counter_groups();
    const uint32_t first = m.u32(Attr::kCursor).value_or(0);
    return reply(c, m.seq, Result{}, {}, [&](Builder& b) {
        for (uint32_t i = first; i < groups.size(); ++i) {
            if (i > first && b.size() > kMaxPayload - kItemRoom) {
                b.u32(Attr::kCursor, i);
                break;
            }
            encode_counter_group(b, groups[i]);
        }
    });
}

bool Server::endpoints(Conn& c, const Message& m) {
    const std::vector<EndpointView> eps = reg_.endpoints(m.u32(Attr::kCursor).value_or(0));
    // Owner connection -> its peer, for pid and comm. As `ss -p` (which reads /proc/PID/fd):
    // other users' processes are shown only to root, the daemon's uid, CAP_NET_ADMIN or the
    // control group; the uid is shown to all, as /proc/net/udp and `ss -e` show it.
    std::map<uint64_t, const Conn*> by_owner;
    for (const auto& [fd, conn] : conns_) by_owner[conn.owner] = &conn;
    const bool see_all =
        may_administer(reg_.config().policy, c.req, static_cast<uid_t>(cfg_.owner_uid), cfg_.gid);
    return reply(c, m.seq, Result{}, {}, [&](Builder& b) {
        for (std::size_t i = 0; i < eps.size(); ++i) {
            const EndpointView& e = eps[i];
            if (i > 0 && b.size() > kMaxPayload - kItemRoom) {
                b.u32(Attr::kCursor, e.id);
                break;
            }
            const std::size_t mark = b.begin_nested(Attr::kEndpoint);
            b.u32(Attr::kEndpointId, e.id).u8(Attr::kKind, static_cast<uint8_t>(e.kind));
            b.u32(Attr::kUid, static_cast<uint32_t>(e.uid));
            if (auto it = by_owner.find(e.owner);
                it != by_owner.end() && (see_all || e.uid == c.req.uid))
                b.u32(Attr::kPid, static_cast<uint32_t>(it->second->cred.pid))
                    .str(Attr::kComm, it->second->comm);
            uint32_t ifindex = 0;
            if (e.udp) {
                b.u32(Attr::kLocalAddr, e.udp->addr).u16(Attr::kLocalPort, e.udp->port);
                b.u32(Attr::kRemoteAddr, e.udp->remote_addr)
                    .u16(Attr::kRemotePort, e.udp->remote_port);
                b.u8(Attr::kReuseport, e.udp->reuseport).u8(Attr::kReuseaddr, e.udp->reuseaddr);
                ifindex = e.udp->ifindex;
            } else if (e.raw) {
                b.u8(Attr::kProtocol, e.raw->protocol).u32(Attr::kLocalAddr, e.raw->addr);
                b.u32(Attr::kRemoteAddr, e.raw->remote_addr);
                ifindex = e.raw->ifindex;
            } else if (e.tap) {
                b.u16(Attr::kEthertype, e.tap->ethertype).u8(Attr::kTapDgram, e.tap->dgram);
                if (!e.tap->filter.empty()) b.str(Attr::kFilterExpr, e.tap->filter);
                if (e.tap->fanout) b.u16(Attr::kFanoutGroup, e.tap->fanout_group);
                if (e.tap->ignore_outgoing) b.u8(Attr::kIgnoreOutgoing, 1);
                ifindex = e.tap->ifindex;
            }
            if (ifindex) b.u32(Attr::kIfindex, ifindex).str(Attr::kIfname, ifname(ifindex));
            for (const demux::McMembership& g : *e.mc) {
                const std::size_t gm = b.begin_nested(Attr::kMembership);
                b.u32(Attr::kGroup, g.group).u32(Attr::kIfindex, g.ifindex);
                if (g.ifindex) b.str(Attr::kIfname, ifname(g.ifindex));
                b.u8(Attr::kFilterMode, g.mode == demux::McFilterMode::kInclude);
                for (wire::Ipv4Addr src : g.sources) b.u32(Attr::kSource, src);
                b.end_nested(gm);
            }
            b.u32(Attr::kRingUsed, static_cast<uint32_t>(e.rings->used()));
            // The active slots (they follow the endpoint's receive budget, shm/ring.h).
            b.u32(Attr::kRingCapacity, static_cast<uint32_t>(e.rings->active_slots()));
            b.u64(Attr::kDelivered, e.rings->delivered());
            // sk_drops: the full queue's, and the bad checksums the app's reads dropped.
            b.u64(Attr::kDropped, e.rings->dropped() + e.rings->read_counts().csum_errors);
            b.u64(Attr::kTruncated, e.rings->truncated());
            if (e.rcvbuf) b.u32(Attr::kRcvbuf, e.rcvbuf).u64(Attr::kRmemAlloc, e.rings->rmem());
            if (const uint64_t q = e.rings->err_queued(), d = e.rings->err_dropped(); q || d)
                b.u64(Attr::kErrQueued, q).u64(Attr::kErrDropped, d);
            // Ring-full drops the raised budget admitted (shm/ring.h: the grow waited for
            // the queued slots; docs/rcvbuf.md), once there are any.
            if (const uint64_t g = e.rings->grow_dropped() + e.rings->err_grow_dropped())
                b.u64(Attr::kGrowDropped, g);
            b.end_nested(mark);
        }
    });
}

bool Server::routes(Conn& c, const Message& m) {
    if (!hooks_.routes) return reply(c, m.seq, Result{EOPNOTSUPP, "no route tables here", 0});
    const std::vector<ipv4::Route> rs = hooks_.routes();
    const uint32_t first = m.u32(Attr::kCursor).value_or(0);
    return reply(c, m.seq, Result{}, {}, [&](Builder& b) {
        paged_items(b, first, rs, Attr::kRoute, [&](const ipv4::Route& r) {
            b.u32(Attr::kPrefix, r.prefix).u8(Attr::kPrefixLen, r.prefix_len);
            b.u8(Attr::kRouteType, static_cast<uint8_t>(r.type));
            b.u8(Attr::kScope, static_cast<uint8_t>(r.scope));
            // rtm_table's u8 (RT_TABLE_COMPAT beyond 255), and the whole id.
            b.u8(Attr::kTable, r.table > 255 ? 252 : static_cast<uint8_t>(r.table));
            b.u32(Attr::kTableId, r.table);
            if (r.oif) b.u32(Attr::kIfindex, r.oif).str(Attr::kIfname, ifname(r.oif));
        });
        // The rules (`ip rule` lines) with the first page.
        if (first == 0 && hooks_.rules)
            for (const std::string& line : hooks_.rules()) b.str(Attr::kRuleLine, line);
    });
}

bool Server::pmtu(Conn& c, const Message& m) {
    if (!hooks_.pmtu) return reply(c, m.seq, Result{EOPNOTSUPP, "no PMTU table here", 0});
    const std::vector<PmtuRow> rs = hooks_.pmtu();
    const uint32_t first = m.u32(Attr::kCursor).value_or(0);
    return reply(c, m.seq, Result{}, {}, [&](Builder& b) {
        paged_items(b, first, rs, Attr::kPmtuEntry, [&](const PmtuRow& r) {
            b.u32(Attr::kPmtuDst, r.daddr).u32(Attr::kPmtuMtu, r.mtu);
            b.u32(Attr::kPmtuExpires, r.expires_s).u8(Attr::kPmtuLocked, r.locked);
        });
    });
}

bool Server::host(Conn& c, const Message& m) {
    if (!hooks_.host) return reply(c, m.seq, Result{EOPNOTSUPP, "no host state here", 0});
    const HostMirror h = hooks_.host();
    return reply(c, m.seq, Result{}, {}, [&](Builder& b) {
        b.str(Attr::kHostSource, h.source);
        b.u32(Attr::kHostLinks, h.links).u32(Attr::kHostAddrs, h.addrs);
        b.u32(Attr::kHostRoutes, h.routes).u32(Attr::kHostRules, h.rules);
        b.u32(Attr::kHostTables, h.tables);
        b.u64(Attr::kHostSyncNs, h.sync_realtime_ns).u64(Attr::kHostDumps, h.dumps);
        b.u64(Attr::kHostEvents, h.events).u64(Attr::kHostOverflows, h.overflows);
        b.u64(Attr::kHostFailures, h.failures);
        for (const std::string& s : h.skipped) b.str(Attr::kHostSkipped, s);
        for (const std::string& s : h.knobs) b.str(Attr::kHostKnob, s);
    });
}

bool Server::bindings(Conn& c, const Message& m) {
    // Every binding, in add order, with the endpoints its label resolves to now (as tubectl
    // list shows bindings and sockets).
    const std::vector<BindingView> bs = reg_.bindings();
    const uint32_t first = m.u32(Attr::kCursor).value_or(0);
    return reply(c, m.seq, Result{}, {}, [&](Builder& b) {
        for (uint32_t i = first; i < bs.size(); ++i) {
            if (i > first && b.size() > kMaxPayload - kItemRoom) {
                b.u32(Attr::kCursor, i);
                break;
            }
            const std::size_t mark = b.begin_nested(Attr::kBinding);
            encode_binding(b, bs[i].binding);
            b.u8(Attr::kBindingConfig, bs[i].from_config ? 1 : 0);
            if (!bs[i].from_config) b.u32(Attr::kUid, bs[i].uid);
            // At most 64 ids per binding keep an item within kItemRoom.
            for (std::size_t k = 0; k < bs[i].endpoints.size() && k < 64; ++k)
                b.u32(Attr::kEndpointId, bs[i].endpoints[k]);
            b.end_nested(mark);
        }
    });
}

bool Server::reload(Conn& c, const Message& m) {
    const RegistryConfig& rc = reg_.config();
    if (!may_administer(rc.policy, c.req, static_cast<uid_t>(cfg_.owner_uid), cfg_.gid))
        return answer(c, m,
                      Result{EPERM,
                             "reload needs root, the daemon's uid, CAP_NET_ADMIN "
                             "or membership of the control group",
                             0});
    if (!hooks_.reload)
        return reply(c, m.seq, Result{EOPNOTSUPP, "no configuration file to reload", 0});
    const ReloadOutcome o = hooks_.reload();
    return reply(c, m.seq, Result{o.err, o.message, 0}, {}, [&](Builder& b) {
        if (o.err) return;
        b.u8(Attr::kApplied, o.restart.empty());
        for (const std::string& r : o.restart) b.str(Attr::kRestart, r);
    });
}

}  // namespace ingress::ctl

namespace ingress::ctl {

bool Server::observe(Conn& c, const Message& m) {
    if (!hooks_.observe) return answer(c, m, Result{EOPNOTSUPP, "no dataplane to observe", 0});
    // Every frame's headers (trace) or bytes (capture): what an AF_PACKET socket shows, so
    // what tcpdump needs, CAP_NET_RAW (or a grant of it), or an administrator.
    if (!may_administer(reg_.config().policy, c.req, static_cast<uid_t>(cfg_.owner_uid),
                        cfg_.gid) &&
        !has_privilege(reg_.config().policy, c.req, Privilege::kNetRaw))
        return answer(c, m,
                      Result{EPERM,
                             "trace and capture need CAP_NET_RAW (as tcpdump), root, the "
                             "daemon's uid, CAP_NET_ADMIN or the control group",
                             0});
    if (obs_) return answer(c, m, Result{EBUSY, "a trace or capture is already running", 0});
    ObserveRequest req;
    if (auto e = decode(m, &req)) return answer(c, m, Result{e->err, e->message, 0});
    const uint16_t workers = static_cast<uint16_t>(reg_.config().workers);
    if (req.spec.worker >= static_cast<int>(workers))
        return answer(c, m, Result{EINVAL, "no such worker", 0});
    if (!req.ifname.empty()) {
        req.spec.ifindex = hooks_.ifindex ? hooks_.ifindex(req.ifname) : 0;
        if (!req.spec.ifindex) return answer(c, m, Result{ENODEV, "no interface " + req.ifname, 0});
    }
    auto session = std::make_unique<worker::ObserveSession>(std::move(req.spec), workers);
    if (!reply(c, m.seq, Result{}, {}, [&](Builder& b) { b.u32(Attr::kWorkers, workers); }))
        return false;
    hooks_.observe->start(session.get());
    obs_.emplace();
    obs_->fd = c.fd;
    obs_->seq = m.seq;
    obs_->session = std::move(session);
    if (req.timeout_ms) obs_->deadline_ns = mono_ns() + uint64_t{req.timeout_ms} * 1000000;
    return true;
}

// Sends what the workers' rings hold, as many records per message as fit; a socket that
// takes nothing more keeps the message pending and leaves the rest in the rings (which
// then fill, and lose records, counted: the workers never wait).
void Server::pump_observe() {
    if (!obs_) return;
    ObserveState& o = *obs_;
    worker::ObserveSession& s = *o.session;
    const uint64_t count = s.spec().count;
    for (;;) {
        while (o.pending_off < o.pending.size()) {
            ssize_t n = ::send(o.fd, o.pending.data() + o.pending_off,
                               o.pending.size() - o.pending_off, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            if (n <= 0) {
                const int fd = o.fd;
                close_conn(fd);  // ends the session
                return;
            }
            o.pending_off += static_cast<std::size_t>(n);
        }
        if (count && o.sent >= count) return end_observe("count reached", true);
        if (o.deadline_ns && mono_ns() >= o.deadline_ns) return end_observe("timeout", true);
        Builder b(MsgType::kReply, o.seq);
        b.u32(Attr::kError, 0);
        b.u64(Attr::kObsLost, s.lost()).u64(Attr::kObsSkipped, s.skipped());
        const bool trace = s.spec().mode == worker::ObserveMode::kTrace;
        const std::size_t room = trace ? 2048 : worker::kCaptureSnap + 128;
        uint32_t added = 0;
        for (uint16_t w = 0; w < s.workers(); ++w) {
            while ((!count || o.sent < count) && b.size() + room < kMaxPayload) {
                if (trace) {
                    worker::TraceRecord r;
                    if (s.drain(w, &r, 1) == 0) break;
                    encode_record(b, r, ifname(r.ifindex));
                } else {
                    worker::CaptureRecord r;
                    if (s.drain(w, &r, 1) == 0) break;
                    encode_record(b, r, ifname(r.ifindex));
                }
                ++o.sent;
                ++added;
            }
        }
        if (!added) {
            // The budget is spent and the rings were empty on two passes (a worker pushes
            // right after it claims): the records the count allowed were sent or lost (a
            // full ring), none is coming.
            if (count && s.spent() && o.spent_empty++) return end_observe("count reached", true);
            return;
        }
        o.pending = b.finish();
        o.pending_off = 0;
    }
}

void Server::end_observe(const char* why, bool tell) {
    ObserveState& o = *obs_;
    hooks_.observe->stop();  // after this no worker touches the session
    if (tell) {
        Builder b(MsgType::kReply, o.seq);
        b.u32(Attr::kError, 0);
        encode_end(b, ObserveEnd{o.sent, o.session->lost(), o.session->skipped(), why});
        std::vector<uint8_t> bytes = b.finish();
        // The end is small; a client that cannot take it has its session end anyway.
        (void)send_with_fds(o.fd, bytes, {});
    }
    obs_.reset();
}

}  // namespace ingress::ctl
