// libingress: the app side of ingressd. Connect to the control socket, open endpoints, and
// receive datagrams from the endpoint's shared-memory rings (one per worker) with the
// metadata recvmsg would give. `pkg-config --cflags --libs libingress`.
//
//   ingress::Client c = ingress::Client::connect();          // /run/ingressd/ctl.sock
//   ingress::UdpEndpoint ep = c.open_udp({.port = 5000});
//   ingress::Datagram d[32];
//   std::size_t n = ep.recv(d, 32, 1000);                    // up to 1 s
//
// Errors (a refused request, a dead daemon, a ring layout this library does not know) are
// thrown as ingress::Error: the errno the socket call would have returned and the daemon's
// message. Not thread-safe: one thread per Client and per endpoint.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "ingress.h"
#include "options.h"
#include "shm/region.h"
#include "shm/ring.h"

namespace ingress {

inline constexpr const char* kDefaultCtlPath = "/run/ingressd/ctl.sock";

class Error : public std::runtime_error {
public:
    Error(int err, const std::string& what) : std::runtime_error(what), err_(err) {}
    int code() const noexcept { return err_; }  // an errno value

private:
    int err_;
};

// What a receive call fails with when the endpoint has a pending error (sk_err: an ICMP
// error about what it sent, README "Errors and IP_RECVERR"), once, as recvmsg does:
// ECONNREFUSED, EHOSTUNREACH, EMSGSIZE, EPROTO, ... The endpoint stays usable.
class SocketError : public Error {
public:
    using Error::Error;
};

// One received datagram (UDP payload, raw IP packet, or tap frame): the C API's
// ingress_datagram, a view of one ring slot. `data` and `meta` point into the ring: valid
// until the next recv() or release() on the same endpoint. `meta` is the slot's record as
// the daemon wrote it (src/shm/record.h: addresses, ports, ifindex, timestamps, vlan, and
// the INGRESS_F_* flags: `d.meta->flags & INGRESS_F_TRUNCATED`, as MSG_TRUNC).
using Datagram = ::ingress_datagram;

// Ring-header counters summed over workers.
struct EndpointStats {
    uint64_t delivered = 0;
    uint64_t dropped_full = 0;  // the ring was full (RcvbufErrors)
    uint64_t truncated = 0;
    uint64_t wakeups = 0;
    uint64_t csum_errors = 0;  // bad UDP checksums this app's reads dropped (UdpInCsumErrors)
    uint64_t sleeping = 0;     // rings whose consumer announced it sleeps (needs-wakeup set)
    uint64_t reconnects = 0;   // reopened on a restarted daemon (the counters above restart)
};

// One message of Endpoint::recvmmsg: the C API's ingress_mmsg (a buffer the caller owns,
// filled with a copy of the datagram, its source, MSG_TRUNC and the slot's record).
using Message = ::ingress_mmsg;

// One error-queue entry of Endpoint::recv_error: the C API's ingress_errmsg
// (sock_extended_err + SO_EE_OFFENDER, msg_name, MSG_TRUNC, the ICMP message's record).
using ErrorMessage = ::ingress_errmsg;

// IP_RECVOPTS and IP_RETOPTS of a UDP datagram (ingress.h: ingress_ip_recvopts,
// ingress_ip_retopts): the received options as the host's receive path wrote them, and the
// options an answer would carry, reversed as ip_cmsg_recv_retopts() gives them. Empty when
// the datagram had none (or, for IP_RETOPTS, when meta->flags has
// INGRESS_F_RETOPTS_CTRUNC: the echo failed, recvmsg's MSG_CTRUNC).
inline std::span<const uint8_t> ip_recvopts(const Datagram& d) noexcept {
    std::size_t n = 0;
    const uint8_t* p = ingress_ip_recvopts(&d, &n);
    return {p, n};
}
inline std::span<const uint8_t> ip_retopts(const Datagram& d) noexcept {
    std::size_t n = 0;
    const uint8_t* p = ingress_ip_retopts(&d, &n);
    return {p, n};
}
inline std::span<const uint8_t> ip_recvopts(const Message& m) noexcept {
    return {m.ip_opts, m.meta.ip_optlen};
}
inline std::span<const uint8_t> ip_retopts(const Message& m) noexcept {
    return {m.ip_opts + m.meta.ip_optlen, m.meta.ip_retoptlen};
}

// SO_TIMESTAMPING's raw hardware stamp (ingress.h: ingress_hw_timestamp): the NIC's receive
// time in nanoseconds of its own clock (scm_timestamping.ts[2]), when the driver gave one
// (INGRESS_F_HW_TSTAMP); nullopt otherwise. The software stamp is meta.rx_ns.
inline std::optional<uint64_t> hw_timestamp(const ingress_meta& m) noexcept {
    uint64_t ns = 0;
    return ingress_hw_timestamp(&m, &ns) ? std::optional<uint64_t>(ns) : std::nullopt;
}
inline std::optional<uint64_t> hw_timestamp(const Datagram& d) noexcept {
    return hw_timestamp(*d.meta);
}
inline std::optional<uint64_t> hw_timestamp(const Message& m) noexcept {
    return hw_timestamp(m.meta);
}

class Client;
class EndpointSet;

class Endpoint {
public:
    Endpoint() = default;
    ~Endpoint();
    Endpoint(Endpoint&&) noexcept;
    Endpoint& operator=(Endpoint&&) noexcept;

    uint32_t id() const noexcept { return id_; }
    // Receives up to `max` datagrams: busy-polls every worker ring, then, if none, sleeps on
    // the doorbell up to timeout_ms (0: never sleeps; -1: forever). Releases what the
    // previous call returned first. Returns the number filled in. When the daemon has gone
    // (its end of the control connection hung up) and the rings are drained, recv tries to
    // reconnect within its timeout (Client::set_reconnect) and reopens the client's
    // endpoints; the first datagram after that carries INGRESS_D_AFTER_GAP. With reconnection
    // off it throws Error(ECONNRESET) instead; a reopen the new daemon refused is thrown
    // with its errno.
    // A pending ICMP error (ingress.h, ingress_errmsg: sk_err) is thrown once as
    // SocketError(errno) before any datagram, as recvmsg fails with it (ECONNREFUSED, ...).
    std::size_t recv(Datagram* out, std::size_t max, int timeout_ms);
    // recvmsg(MSG_ERRQUEUE): the oldest error-queue entry (IP_RECVERR), its payload copied
    // into buf (out.len bytes, MSG_TRUNC in out.msg_flags when cut). False when the queue is
    // empty (EAGAIN); never waits. The pending error becomes the next entry's errno, or none.
    bool recv_error(ErrorMessage& out, void* buf, std::size_t buf_len);
    // setsockopt(IP_RECVERR) (UDP and raw; Error(ENOPROTOOPT) on a tap).
    void set_recverr(bool on);
    // recvmmsg(2): copies up to vlen datagrams into msgs[i].buf (see ingress_recvmmsg in
    // ingress.h for flags, the timeout and how it differs from the kernel's quirk). Returns
    // the number filled; 0 when none came (MSG_DONTWAIT, or the timeout expired).
    std::size_t recvmmsg(Message* msgs, std::size_t vlen, int flags, timespec* timeout);
    // Whether a recv(.., 0) would return something now (data, or the daemon's hangup or an
    // error to report). No syscall.
    bool readable() noexcept;
    // How long recv() keeps polling the rings before it sleeps on the doorbell (default 0:
    // one pass, then sleep). A few tens of microseconds trade CPU for wakeup latency.
    void set_busy_poll_us(uint32_t us) noexcept { busy_poll_ns_ = uint64_t{us} * 1000; }
    // Gives back the slots the last recv() returned (recv does it itself).
    void release() noexcept;
    // The wakeup doorbell (a socket), for the app's own poll/epoll: readable when data may
    // be waiting after prepare_sleep() returned true. Call recv(.., 0) when it fires;
    // prepare_sleep() consumes the rings it saw before arming again.
    int fd() const noexcept { return bell_.fd(); }
    // Arms the wakeup on every ring; false if data is already waiting (do not sleep).
    bool prepare_sleep() noexcept;
    // FIONREAD / SIOCINQ on a UDP socket: the payload length (orig_len, the whole datagram)
    // of the datagram the next recv() returns first; 0 when none is waiting.
    uint32_t next_len() noexcept;
    // SO_MEMINFO's SK_MEMINFO_RMEM_ALLOC (/proc/net/udp rx_queue): the bytes charged to the
    // receive budget for what waits unread, datagrams and error-queue entries of every
    // worker's ring (RingConsumer::rmem(), from the ring headers: no walk, no daemon call).
    uint64_t rmem_alloc() const noexcept;
    EndpointStats stats() const noexcept;
    uint16_t workers() const noexcept { return static_cast<uint16_t>(rings_.size()); }

    // Multicast (UDP and raw): join a group (any source), or with a source filter:
    // include = only these sources (IP_ADD_SOURCE_MEMBERSHIP), else all but them
    // (IP_BLOCK_SOURCE).
    void join(uint32_t group, uint32_t ifindex = 0, std::span<const uint32_t> sources = {},
              bool include = true);
    void leave(uint32_t group, uint32_t ifindex = 0, std::span<const uint32_t> sources = {});
    // kMulticastAll / kIcmpFilter / kIfindex equivalents.
    void set_multicast_all(bool on);
    void set_icmp_filter(uint32_t mask);
    // PACKET_IGNORE_OUTGOING (taps): Error(ENOPROTOOPT) on UDP and raw endpoints.
    void set_ignore_outgoing(bool on);
    // SO_RCVBUF (UDP): bytes as given to setsockopt; the daemon doubles and clamps them.
    void set_rcvbuf(uint32_t bytes);
    // SO_RCVBUFFORCE (UDP): as set_rcvbuf without the net.core.rmem_max clamp; needs
    // CAP_NET_ADMIN (this process proves it with a socket only such a process can make,
    // ctl/cap_proof.h), Error EPERM otherwise, as the kernel's setsockopt.
    void set_rcvbuf_force(uint32_t bytes);
    void bind_to_device(uint32_t ifindex);
    // connect() on a raw endpoint (ip4_datagram_connect): only datagrams from `remote` reach
    // it from now on, and an endpoint bound to no address takes the source the route to
    // `remote` picks as its local address; 0 is connect(AF_UNSPEC), which undoes both.
    // Error(EOPNOTSUPP) on UDP (connected at open) and tap endpoints.
    void connect(uint32_t remote);
    // Bindings (tubular's sk_lookup model, README "Bindings"): registers this UDP endpoint
    // under `label`, so datagrams a binding gives that label reach it before the bound and
    // wildcard endpoints; several under one label share its flows by the reuseport hash.
    // Needs CAP_NET_ADMIN or the daemon's policy.register grant: Error(EPERM); a raw or tap
    // endpoint Error(EPROTOTYPE); already under it Error(EEXIST). Kept across a daemon
    // restart like the memberships. unregister_label: Error(ENOENT) when not under it.
    void register_label(const std::string& label);
    void unregister_label(const std::string& label);
    // Closes it in the daemon (the destructor does too, quietly, while the client lives).
    void close();

protected:
    friend class Client;
    friend class EndpointSet;
    struct Ring {
        shm::Region region;
        shm::RingConsumer cons;
        uint32_t held = 0;       // returned by the last recv, not yet released
        shm::RingConsumer errq;  // the error queue (IP_RECVERR), when the daemon has one
        bool has_errq = false;
        // The slot of the datagram recv() would return next from this ring (after the held
        // ones; bad checksums at the head dropped, as first_packet_length() and a MSG_PEEK
        // udp_recvmsg() drop them): false when none. Not a read (counts no InDatagrams).
        bool next(uint32_t* idx) noexcept;
    };
    // sock_error(): the first pending error of the rings, cleared (0: none).
    int take_sk_err() noexcept;
    bool sk_err_pending() const noexcept;
    // What the app asked for, to ask again after a daemon restart: the open, with the
    // options set since, and the join/leave calls in order (a full leave forgets the group).
    enum class Kind : uint8_t { kNone, kUdp, kRaw, kTap };
    struct McCall {
        bool join;
        uint32_t group, ifindex;
        std::vector<uint32_t> sources;
        bool include;
    };
    std::vector<uint8_t> open_request(uint32_t seq) const;
    void reopen() noexcept;  // on the client's new connection; failures kept in error_
    std::size_t peek(std::vector<Ring>& rings, Datagram* out, std::size_t max);
    void take_from(Endpoint& o) noexcept;

    Client* client_ = nullptr;
    uint32_t id_ = 0;
    std::vector<Ring> rings_;
    std::vector<Ring> stale_;  // the exited daemon's rings, read out before the new ones
    shm::Doorbell bell_;
    uint16_t next_ring_ = 0;  // round-robin start, so no worker ring starves another
    uint64_t busy_poll_ns_ = 0;
    Kind kind_ = Kind::kNone;
    UdpOptions udp_;
    RawOptions raw_;
    TapOptions tap_;
    std::vector<McCall> mc_;
    std::vector<std::string> labels_;  // registered under, to register again after a restart
    bool rcvbuf_forced_ = false;       // udp_.rcvbuf came by SO_RCVBUFFORCE: set so again
    bool gap_ = false;                 // the next datagram is the first after a reopen
    uint64_t reconnects_ = 0;
    int error_ = 0;  // a reopen the new daemon refused: thrown by the next recv
    std::string error_text_;
    EndpointSet* set_ = nullptr;  // the set it is a member of
    uint32_t set_index_ = 0;      // its slot there
};

// Many endpoints behind one fd for poll/epoll (the C API's ingress_set: its comment in
// ingress.h says exactly when the fd is readable, level- and edge-triggered). An epoll
// instance over the members' doorbells and their client's control connection, plus an
// eventfd that keeps the fd readable while listed members may still hold data. Members may
// belong to several clients. Not
// thread-safe; not movable (members point at it). Members stay open when it is destroyed.
class EndpointSet {
public:
    EndpointSet();  // throws Error (epoll_create1 / eventfd's errno)
    ~EndpointSet();
    EndpointSet(const EndpointSet&) = delete;
    EndpointSet& operator=(const EndpointSet&) = delete;

    int fd() const noexcept { return epfd_; }
    // Error(EEXIST) already a member, Error(EBUSY) in another set, Error(EBADF) closed.
    void add(Endpoint& ep, void* data = nullptr);
    // Error(ENOENT): not a member.
    void remove(Endpoint& ep);
    struct Event {
        Endpoint* ep;
        void* data;
    };
    // The members with data waiting (level-triggered), at most max, without waiting; 0 when
    // none: then every member is armed.
    std::size_t ready(Event* out, std::size_t max);
    // ready(), waiting up to timeout_ms (-1 forever) on fd() when it has nothing.
    std::size_t wait(Event* out, std::size_t max, int timeout_ms);
    std::size_t size() const noexcept { return members_.size() - free_.size(); }

private:
    friend class Endpoint;
    struct Member {
        Endpoint* ep = nullptr;  // nullptr: a free slot
        void* data = nullptr;
        int fd = -1;  // the doorbell registered in epfd_ (changes when the endpoint reopens)
        bool pending = false;
    };
    // epoll tags: members are their index; these are above any index.
    static constexpr uint64_t kMoreTag = ~uint64_t{0};
    static constexpr uint64_t kClientTag = uint64_t{1} << 62;  // | Watched::id
    static constexpr uint64_t kRetryTag = ~uint64_t{0} - 1;
    // A client whose members are in the set: its control connection, watched for hangup.
    struct Watched {
        Client* c = nullptr;
        uint64_t id = 0;
        int fd = -1;        // registered in epfd_ (-1: none)
        bool hung = false;  // hung up: not watched until the client has a new connection
        bool live = false;  // still has members (sync_fds' mark)
    };
    void detach(Endpoint& ep) noexcept;                 // the endpoint closes
    void moved(Endpoint& from, Endpoint& to) noexcept;  // the endpoint object moved
    void mark_pending(uint32_t idx);
    void sync_fds();
    void take_events();
    bool arm(Endpoint& ep) noexcept;  // true: armed (empty); false: data is waiting
    void set_more(bool on) noexcept;

    std::vector<Member> members_;
    std::vector<uint32_t> free_;
    std::vector<uint32_t> pending_;  // members told about and not yet found empty
    std::vector<uint32_t> scratch_;  // ready()'s next pending_
    std::size_t cursor_ = 0;         // where the next ready() starts in pending_
    int epfd_ = -1;
    int more_fd_ = -1;  // eventfd: readable while the last ready() listed members
    bool more_ = false;
    std::vector<Watched> clients_;
    uint64_t next_client_id_ = 0;
    // timerfd, every 100 ms while a member's client has no connection (the daemon is away):
    // lists that client's members so their recv tries to reconnect, without a busy loop.
    int retry_fd_ = -1;
    bool retry_armed_ = false;
    bool retry_due_ = false;
};

class UdpEndpoint : public Endpoint {};
class RawEndpoint : public Endpoint {};
class PacketTap : public Endpoint {};

class Client {
public:
    // Connects and says hello (version check). Throws ingress::Error.
    static Client connect(const std::string& path = kDefaultCtlPath);
    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;
    ~Client();

    UdpEndpoint open_udp(const UdpOptions& o);
    RawEndpoint open_raw(const RawOptions& o);
    PacketTap open_tap(const TapOptions& o);
    // The daemon's counters in nstat form, and one line per endpoint.
    std::string stats();

    uint16_t workers() const noexcept { return workers_; }
    uint16_t version() const noexcept { return version_; }
    // The control connection, for an event loop: it reports POLLHUP when the daemon exits.
    // It changes when the client reconnects.
    int fd() const noexcept { return fd_; }
    // Whether recv() reconnects after the daemon exited (default) or throws ECONNRESET.
    void set_reconnect(bool on) noexcept { reconnect_ = on; }
    // One attempt (at most one per 100 ms): connect to the same path, say hello, reopen
    // every endpoint of this client. False while no daemon answers.
    bool reconnect();

    // Low level: sends a request and waits for its reply (used by the endpoints). Returns
    // the reply bytes and the fds that came with it; throws on a non-zero error. A request
    // that needs a capability (open-raw, open-tap, open-udp on a low port, reload) goes with
    // a socket proving it when this process holds it (docs/control-protocol.md, Privilege).
    struct Reply {
        std::vector<uint8_t> bytes;
        std::vector<int> fds;
        bool fds_lost = false;  // the kernel could not install every fd (MSG_CTRUNC)
    };
    Reply call(std::vector<uint8_t> request, bool throw_on_error = true);
    uint32_t next_seq() noexcept { return ++seq_; }

private:
    friend class Endpoint;
    friend class EndpointSet;
    Client() = default;
    void open_into(Endpoint& ep, std::vector<uint8_t> request);
    // After a send failed with EPIPE/ECONNRESET: throws the refusal ingressd queued before
    // closing, if any; returns when nothing was queued (the caller reports the send error).
    void refused_at_connect(int send_err);
    Reply receive(uint32_t seq);  // the reply with `seq` (or 0), skipping stale ones
    void hello();
    void forget(Endpoint* ep) noexcept;
    void hung_up() noexcept;  // the daemon exited: close the connection
    std::string path_;
    std::vector<Endpoint*> eps_;  // open endpoints, reopened by reconnect()
    bool reconnect_ = true;
    uint64_t last_attempt_ns_ = 0;
    int fd_ = -1;
    uint32_t seq_ = 0;
    uint16_t workers_ = 0;
    uint16_t version_ = 0;
    std::vector<uint8_t> in_;
    // An endpoint set saw the connection hang up: the next recv that finds its rings empty
    // closes it (and reconnects or reports ECONNRESET), even with timeout 0.
    bool hup_seen_ = false;
};

}  // namespace ingress
