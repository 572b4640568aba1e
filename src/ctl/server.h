// The control server: the UNIX stream socket apps connect to (docs/control-protocol.md).
//
// One epoll loop over the listening socket and the connections, run by the daemon's control
// thread (or a test daemon) through run_once(). Each connection has its peer's SO_PEERCRED
// credentials, an input buffer framed with ctl::message_size, a request budget (token
// bucket) and, through the Registry, its endpoints. Replies carry the endpoint's ring memfds
// and eventfd with SCM_RIGHTS, described by kFdRole attributes.
//
// Hostile input: a frame whose header cannot be trusted (bad magic, version, a length over
// kMaxPayload) gets an EPROTO reply and the connection is closed; a well-framed but invalid
// request gets an error reply and the connection stays. Limits: connections, endpoints per
// connection (Registry), requests per second per connection. Refusals are logged, rate
// limited. When a connection closes (app exit, crash, kill) its endpoints are removed and
// the change published; their memory is reclaimed after the grace period.
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
#include <string>
#include <vector>

#include "core/counters.h"
#include "ctl/registry.h"
#include "ctl/unix_socket.h"
#include "ipv4/fib.h"
#include "ipv4/route_tables.h"
#include "worker/runtime.h"

namespace ingress::ctl {

struct ServerConfig {
    std::string path = "/run/ingressd/ctl.sock";
    unsigned mode = 0660;
    int gid = -1;  // chown the socket to this group (-1: leave)
    std::size_t max_connections = 256;
    uint32_t requests_per_sec = 2000;  // token bucket refill per connection
    uint32_t request_burst = 500;      // bucket size
    bool log_refusals = true;          // to stderr, at most 10 per second
    int owner_uid = -1;                // may reload (-1: this process's euid)
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
    std::function<HostMirror()> host;                                 // host
};

// Fills hooks.routes (the FIB of the current snapshot) and hooks.ifname (the configured
// interface names) from `routes`. To be used by the thread that publishes route tables
// (the control thread), for which the current snapshot cannot be freed while it reads.
void set_route_hooks(ServerHooks& hooks, const ipv4::RoutePublisher& routes);

struct ServerStats {
    uint64_t accepted = 0;
    uint64_t closed = 0;
    uint64_t refused_connections = 0;  // over max_connections
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
    const std::string& path() const noexcept { return cfg_.path; }

private:
    struct Conn {
        int fd = -1;
        uint64_t owner = 0;
        PeerCred cred;
        std::string comm;  // /proc/PID/comm at connect
        std::vector<uint8_t> in;
        double tokens = 0;
        uint64_t last_ns = 0;
    };
    void accept_all();
    // false: the connection must be closed.
    bool on_readable(Conn& c);
    bool handle(Conn& c, std::span<const uint8_t> frame);
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
    bool host(Conn& c, const Message& m);
    bool reload(Conn& c, const Message& m);
    bool backend_stats(Conn& c, const Message& m);
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
    uint64_t log_window_ns_ = 0;
    uint32_t log_count_ = 0;
};

}  // namespace ingress::ctl
