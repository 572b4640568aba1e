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
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ctl/registry.h"
#include "ctl/unix_socket.h"

namespace ingress::ctl {

struct ServerConfig {
    std::string path = "/run/ingressd/ctl.sock";
    unsigned mode = 0660;
    int gid = -1;  // chown the socket to this group (-1: leave)
    std::size_t max_connections = 256;
    uint32_t requests_per_sec = 2000;  // token bucket refill per connection
    uint32_t request_burst = 500;      // bucket size
    bool log_refusals = true;          // to stderr, at most 10 per second
};

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
    // Listens at cfg.path (throws std::system_error). `stats_text` gives the stats reply.
    Server(ServerConfig cfg, Registry& reg, std::function<std::string()> stats_text = {});
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Waits up to timeout_ms for activity and handles all of it. Returns events handled.
    int run_once(int timeout_ms);

    std::size_t connections() const noexcept { return conns_.size(); }
    const ServerStats& stats() const noexcept { return stats_; }
    const std::string& path() const noexcept { return cfg_.path; }

private:
    struct Conn {
        int fd = -1;
        uint64_t owner = 0;
        PeerCred cred;
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
    void log_refusal(const Conn& c, const char* what, const std::string& msg);

    ServerConfig cfg_;
    Registry& reg_;
    std::function<std::string()> stats_text_;
    int listen_fd_ = -1;
    int ep_fd_ = -1;
    std::map<int, Conn> conns_;
    uint64_t next_owner_ = 1;
    ServerStats stats_;
    uint64_t log_window_ns_ = 0;
    uint32_t log_count_ = 0;
};

}  // namespace ingress::ctl
