// The control server: the UNIX stream socket apps connect to (docs/control-protocol.md).
//
// One epoll loop over the listening socket and the connections, run by the daemon's control
// thread (or a test daemon) through run_once(). Each connection has its peer's credentials
// fixed at connect() (SO_PEERCRED, SO_PEERGROUPS), an input buffer framed with
// ctl::message_size, a request budget (token bucket) and, through the Registry, its
// endpoints. Each request is judged (ctl/policy.h) as the connection's peer with the
// capabilities the sockets it passed prove (ctl/cap_proof.h), and as no one privileged when
// its sender (SCM_CREDENTIALS, SO_PASSCRED on the socket) is not that peer. Replies carry the
// endpoint's ring memfds and eventfd with SCM_RIGHTS, described by kFdRole attributes.
//
// Hostile input: a frame whose header cannot be trusted (bad magic, version, a length over
// kMaxPayload) gets an EPROTO reply and the connection is closed; a well-framed but invalid
// request gets an error reply and the connection stays. Limits: connections (in all and per
// uid, with the last `reserved_connections` kept for administrators: root, the daemon's uid,
// the control group), endpoints per uid (none per connection by default) and ring bytes per uid
// (Registry), requests per second per connection, a bound on how long a frame may stay half
// written and on how long a connection with no endpoints may stay silent. Out of fds (EMFILE,
// ENFILE at accept), a spare fd kept for the purpose accepts the waiting peer, tells it and
// closes it, so the listening socket never stays readable with nothing done (no spinning);
// unprivileged peers are refused before the last `reserved_fds` of RLIMIT_NOFILE. A refused
// connection gets one error reply (seq 0: EMFILE for the per-uid quota, ENFILE for the global
// limit or the fd limit) before it is closed. Refusals are logged with the peer's uid and the
// cause, rate limited, and counted (ServerStats, shown as the `control` counter group). When a
// connection closes (app exit, crash, kill) its endpoints are removed and the change
// published; their memory is reclaimed after the grace period.
//
// The operator's requests (ingressctl: stats-query, backend-stats, endpoints, routes, reload)
// are answered through ServerHooks the daemon gives: the server knows the registry, not the
// workers, the backends, the route tables or the config file. Reading is open to anyone who can
// connect; reload needs ctl::may_administer (root, the socket's owner, CAP_NET_ADMIN or the control
// group).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/counters.h"
#include "core/stats_format.h"
#include "ctl/cap_proof.h"
#include "ctl/registry.h"
#include "ctl/unix_socket.h"
#include "ipv4/fib.h"
#include "ipv4/route_tables.h"
#include "worker/observe.h"
#include "worker/runtime.h"

namespace ingress::ctl {

struct ServerConfig {
    std::string path = "/run/ingressd/ctl.sock";
    unsigned mode = 0660;
    int gid = -1;  // chown the socket to this group (-1: leave)
    std::size_t max_connections = 256;
    // control.max_connections_per_uid: for anyone but an administrator (who may use the
    // reserve), as RLIMIT_NOFILE bounds one process's sockets.
    std::size_t max_connections_per_uid = 64;
    std::size_t reserved_connections = 16;  // of max_connections, for administrators only
    std::size_t reserved_fds = 64;          // of RLIMIT_NOFILE, for administrators only
    uint32_t idle_timeout_ms = 300000;      // a connection with no endpoints, silent: closed
    uint32_t frame_timeout_ms = 5000;       // a frame begun but not finished: closed
    uint32_t requests_per_sec = 2000;       // token bucket refill per connection
    uint32_t request_burst = 500;           // bucket size
    bool log_refusals = true;               // to stderr, at most 10 per second
    int owner_uid = -1;                     // may reload (-1: this process's euid)
};

struct WorkerCounters {
    std::string desc;  // "worker 0: eth0 queue 0, core 2, zero-copy"
    core::Snapshot counters;
};

struct WorkerRuntime {
    std::string desc;
    worker::RuntimeSnapshot runtime;
};

// What a reload did: err 0 and an empty `restart` list: applied; err 0 and `restart`
// non-empty: nothing applied, these changes need a restart; err != 0: refused (a
// configuration error, `message` says file:line:column: key: what).
struct ReloadOutcome {
    int err = 0;
    std::string message;
    std::vector<std::string> restart;
};

// `ingressctl host`: where the route tables come from and how the mirror fares.
struct HostMirror {
    std::string source;  // "kernel" or "config"
    uint32_t links = 0, addrs = 0, routes = 0, rules = 0, tables = 0;
    uint64_t sync_realtime_ns = 0;  // the last dump applied (kernel) or configuration read
    uint64_t dumps = 0, events = 0, overflows = 0, failures = 0;
    std::vector<std::string> skipped;  // "multipath-routes 2", ...
    std::vector<std::string> knobs;    // "net.ipv4.icmp_ratelimit 1000", ...: what is in use
};

// One PMTU exception as `ingressctl pmtu` shows it (`ip route get`'s "cache expires Ns mtu M").
struct PmtuRow {
    uint32_t daddr = 0;
    uint32_t mtu = 0;
    uint32_t expires_s = 0;
    bool locked = false;
};

// The daemon's side of the requests the registry cannot answer; an absent hook makes its
// request EOPNOTSUPP.
struct ServerHooks {
    std::function<std::string()> stats_text;                          // stats: nstat text
    std::function<std::vector<WorkerCounters>()> worker_counters;     // stats-query
    std::function<std::vector<WorkerRuntime>()> worker_runtime;       // runtime
    std::function<std::vector<ipv4::Route>()> routes;                 // routes: the live FIB
    std::function<std::vector<std::string>()> rules;                  // routes: `ip rule` lines
    std::function<std::string(uint32_t ifindex)> ifname;              // names in replies
    std::function<ReloadOutcome()> reload;                            // reload (SIGHUP's path)
    std::function<std::vector<core::CounterGroup>()> counter_groups;  // backend-stats
    // trace / capture: where sessions are published to the workers (one live at a time),
    // and `capture --iface NAME`'s name in the daemon's namespace (0: unknown).
    worker::ObserveHub* observe = nullptr;
    std::function<uint32_t(const std::string& name)> ifindex;
    std::function<HostMirror()> host;  // host
    // pmtu: the workers' PMTU exceptions, merged (ipv4/pmtu.h), with seconds left.
    std::function<std::vector<PmtuRow>()> pmtu;
};

// Fills hooks.routes (the FIB of the current snapshot) and hooks.ifname (the configured
// interface names) from `routes`. To be used by the thread that publishes route tables
// (the control thread), for which the current snapshot cannot be freed while it reads.
void set_route_hooks(ServerHooks& hooks, const ipv4::RoutePublisher& routes);

struct ServerStats {
    uint64_t accepted = 0;
    uint64_t closed = 0;
    uint64_t refused_connections = 0;  // all refused connections, whatever the cause
    uint64_t refused_uid_quota = 0;    // over max_connections_per_uid
    uint64_t refused_reserve = 0;      // the unreserved connections (or fds) were all taken
    uint64_t refused_fd_limit = 0;     // accept() failed with EMFILE/ENFILE
    uint64_t accept_paused = 0;        // times accepting paused (no spare fd either)
    uint64_t idle_timeouts = 0;        // connections closed for idle_timeout_ms
    uint64_t frame_timeouts = 0;       // connections closed with a half-written frame
    uint64_t requests = 0;
    uint64_t errors = 0;           // replies with a non-zero error
    uint64_t protocol_errors = 0;  // broken frames (connection closed)
    uint64_t rate_limited = 0;
};

class Server {
public:
    // Listens at cfg.path (throws std::system_error).
    Server(ServerConfig cfg, Registry& reg, ServerHooks hooks = {});
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Waits up to timeout_ms for activity and handles all of it. Returns events handled.
    int run_once(int timeout_ms);
    // Also wakes run_once() when `fd` is readable (the daemon's netlink subscription); the
    // caller reads it after run_once() returns. The server does not own or read it.
    void watch(int fd);

    std::size_t connections() const noexcept { return conns_.size(); }
    const ServerStats& stats() const noexcept { return stats_; }
    // The server's and the registry's quota counters, named for `ingressctl stats` and
    // /metrics (the `control` counter group).
    core::CounterGroup counter_group() const;
    const std::string& path() const noexcept { return cfg_.path; }
    // A reload: the socket file's mode and group (chmod, chown), and the control group that
    // may reload and see other users' apps. The kernel checks a socket file's permissions
    // at connect(): connections already open stay. Throws std::system_error naming the path.
    void set_access(unsigned mode, int gid);
    // A reload: the connection quotas, reserves and timeouts (control.*) apply from the next
    // connection and the next sweep; connections already over a lowered quota stay, as a
    // lowered RLIMIT_NOFILE leaves open files open.
    void set_limits(const ServerConfig& limits);

private:
    struct Conn {
        int fd = -1;
        uint64_t owner = 0;
        PeerCred cred;
        std::string comm;  // /proc/PID/comm at connect
        std::vector<uint8_t> in;
        std::vector<int> passed;  // fds received, not yet claimed by a request's kProof
        SenderCred in_sender;     // who sent the partial frame left in `in`
        bool in_mixed = false;    // ... and whether two senders wrote it
        SenderCred frame_sender;  // who sent the frame being handled
        bool frame_mixed = false;
        PeerCred req;          // who the request being handled is judged as (judge())
        std::string req_note;  // why it holds less than it asked for, for a refusal
        double tokens = 0;
        uint64_t last_ns = 0;
        uint64_t active_ns = 0;   // the last byte received (or the connect)
        uint64_t partial_ns = 0;  // when `in` began holding an unfinished frame (0: none)
        bool admin = false;       // may use the reserves (ctl::may_administer at connect)
    };
    void accept_all();
    // Accepts one waiting peer with the spare fd and refuses it: EMFILE/ENFILE at accept.
    void refuse_out_of_fds(int err);
    // Whether `c` (connected, credentials read) may stay; a refusal is sent, logged, counted.
    bool admit(Conn& c);
    // Closes connections past their idle or frame timeout; resumes a paused accept.
    void sweep(uint64_t now);
    // false: the connection must be closed.
    bool on_readable(Conn& c);
    bool handle(Conn& c, std::span<const uint8_t> frame);
    // Sets c.req and c.req_note for the request `m`; claims the fds its kProof attributes
    // announce (false: it announced more than were passed).
    bool judge(Conn& c, const Message& m);
    static void close_passed(Conn& c);
    bool reply(Conn& c, uint32_t seq, const Result& r, const std::vector<int>& fds = {},
               const std::function<void(Builder&)>& extra = {});
    void close_conn(int fd);
    // The operator's requests (list replies are paged with kCursor).
    // handle()'s steps: the request's type decides (decoders in ctl/protocol.h).
    bool dispatch(Conn& c, const Message& m);
    // A reply with only the result (a refusal is logged).
    bool answer(Conn& c, const Message& m, const Result& r);
    bool hello(Conn& c, const Message& m);
    template <typename Open>
    bool open_endpoint(Conn& c, const Message& m,
                       Result (Registry::*open)(uint64_t, const PeerCred&, const Open&));
    bool send_endpoint(Conn& c, const Message& m, const Result& r);
    bool membership(Conn& c, const Message& m, bool join);
    bool stats_text(Conn& c, const Message& m);
    bool stats_query(Conn& c, const Message& m);
    bool runtime(Conn& c, const Message& m);
    bool endpoints(Conn& c, const Message& m);
    bool routes(Conn& c, const Message& m);
    bool pmtu(Conn& c, const Message& m);
    bool bindings(Conn& c, const Message& m);
    bool host(Conn& c, const Message& m);
    bool reload(Conn& c, const Message& m);
    bool backend_stats(Conn& c, const Message& m);
    // trace / capture: starts the session (one at a time), whose records pump_observe()
    // streams to the connection on every pass; it ends when `count` records went out, at its
    // timeout, or when the connection goes.
    bool observe(Conn& c, const Message& m);
    void pump_observe();
    void end_observe(const char* why, bool tell);
    std::string ifname(uint32_t ifindex) const;
    void log_refusal(const Conn& c, const char* what, const std::string& msg);

    ServerConfig cfg_;
    Registry& reg_;
    ServerHooks hooks_;
    int listen_fd_ = -1;
    int ep_fd_ = -1;
    std::map<int, Conn> conns_;
    uint64_t next_owner_ = 1;
    ServerStats stats_;
    ProofVerifier proofs_;
    uint64_t log_window_ns_ = 0;
    uint32_t log_count_ = 0;
    int spare_fd_ = -1;              // /dev/null, given up to accept a peer when out of fds
    uint64_t accept_paused_ns_ = 0;  // accepting paused until this time (0: not paused)
    uint64_t last_sweep_ns_ = 0;
    std::size_t fd_limit_ = 0;  // RLIMIT_NOFILE's soft limit at start
    struct ObserveState {
        ObserveState() {}  // user-provided: clang cannot use the member initializers from
                           // std::optional inside Server
        int fd = -1;
        uint32_t seq = 0;
        std::unique_ptr<worker::ObserveSession> session;
        uint64_t sent = 0;             // records delivered to the client
        uint64_t deadline_ns = 0;      // 0: none
        std::vector<uint8_t> pending;  // a message the socket did not take yet
        std::size_t pending_off = 0;
        uint32_t spent_empty = 0;  // passes that found the budget spent and the rings empty
    };
    std::optional<ObserveState> obs_;
};

}  // namespace ingress::ctl
