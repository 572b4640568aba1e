// libingress-preload: `LD_PRELOAD=libingress-preload.so APP` runs an unmodified UDP (raw IP,
// packet socket) app on ingressd's rings (README, "Running an existing app unmodified"; docs/man/
// libingress-preload.7.scd).
//
// Design. socket(AF_INET, SOCK_DGRAM, 0) still makes the kernel socket, and its fd number is
// the app's fd for everything: bind conflicts, getsockname, sending, getsockopt and close
// keep their kernel behaviour, and every setsockopt reaches the kernel first (which
// validates it). When the socket gets a local port (bind, connect, or the autobind of a
// first send) the shim opens a UDP endpoint with the same address, port, peer and options
// through libingress, on a control connection of its own, and from then on serves the
// receive calls from the endpoint's rings with the control messages the app asked for.
// Readiness: in poll/select the app's fd is polled for everything but POLLIN, and the
// endpoint's doorbell (armed with prepare_sleep) and control connection stand for POLLIN;
// in epoll the kernel fd is registered without EPOLLIN and the doorbell and the control
// connection are registered beside it under a tag that epoll_wait translates back to the
// app's data. A ring that already holds data is reported without waiting (level-triggered:
// at every epoll_wait; edge-triggered: once, until a receive finds the ring empty).
//
// Process life: one control connection per socket, closed (never an explicit close
// request) when the last fd of the socket closes: the daemon drops the endpoint when the
// last process holding the connection lets go, as the kernel frees a socket when its last
// file reference goes, so fork (parent and child share it), dup/dup2/dup3/F_DUPFD and close
// behave as a socket's. The connection, rings and doorbell are close-on-exec; after exec the
// new image's shim finds the inherited bound UDP sockets and opens their endpoints again.
//
// Raw and packet sockets: socket(AF_INET, SOCK_RAW, proto) gets a raw endpoint at once (a
// raw socket receives from its creation), socket(AF_PACKET, ...) a tap, the kernel packet
// socket being made and bound with protocol 0 so that it is hooked nowhere; options the
// endpoints have no equivalent for (socket filters, fanout, mapped rings) leave the socket
// to the kernel (give_up).
//
// ICMP errors: ingressd steers ICMP and hands the errors about what the app sent to the
// endpoint; the shim serves IP_RECVERR, MSG_ERRQUEUE, the pending error (receives and sends)
// and POLLERR from it, the kernel socket's own error queue read first (errqueue_recvmsg).
//
// Fallback: no daemon, or a refused open (policy, port taken): a plain kernel socket. The
// daemon exiting: the endpoint's rings are read out, then the socket receives from the kernel
// socket (the XDP program passes the traffic to the kernel while no ingressd runs), and a
// watcher thread reopens the endpoint when a daemon answers again (watch()).
#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <ingress/client.h>
#include <linux/errqueue.h>
#include <linux/if_packet.h>
#include <linux/net_tstamp.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <span>
#include <vector>

namespace {

// --- The real calls -----------------------------------------------------------------------

template <typename F>
F next_symbol(const char* name) {
    return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}
#define REAL(name)                                                   \
    static auto real_##name = next_symbol<decltype(&::name)>(#name); \
    if (!real_##name) real_##name = next_symbol<decltype(&::name)>(#name)

// Inside the shim or libingress (whose own close/poll/recvmsg come back here): straight
// through to libc.
thread_local int t_inside = 0;
struct Inside {
    Inside() { ++t_inside; }
    ~Inside() { --t_inside; }
};

// --- Log ----------------------------------------------------------------------------------

// INGRESS_PRELOAD_LOG=1: every open, fallback and return; unset: the first fallback and the
// first return of the process, once each; 0: nothing.
int log_level() {
    static const int level = [] {
        const char* v = getenv("INGRESS_PRELOAD_LOG");
        if (!v || !*v) return 1;
        return atoi(v) > 0 ? 2 : 0;
    }();
    return level;
}

std::atomic<bool> g_said_fallback{false};
std::atomic<bool> g_said_return{false};

// What a log line says: an endpoint opened (INGRESS_PRELOAD_LOG=1 only), a fallback to the
// kernel socket, a return to a restarted ingressd (each said once when the variable is unset).
enum class Say : uint8_t { kInfo, kFallback, kReturn };

void say(Say kind, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void say(Say kind, const char* fmt, ...) {
    const int level = log_level();
    if (level == 0) return;
    if (level == 1) {
        if (kind == Say::kInfo) return;
        if ((kind == Say::kFallback ? g_said_fallback : g_said_return).exchange(true)) return;
    }
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    char out[560];
    const int n = snprintf(out, sizeof out, "ingress-preload[%d]: %s\n", getpid(), line);
    Inside in;
    if (n > 0)
        (void)!::write(2, out, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof out));
}

// --- Sockets ------------------------------------------------------------------------------

enum CmsgBits : uint32_t {
    kPktinfo = 1u << 0,
    kTos = 1u << 1,
    kTtl = 1u << 2,
    kOrigDst = 1u << 3,
    kTimestamp = 1u << 4,
    kTimestampNs = 1u << 5,
    kRxqOvfl = 1u << 6,
    kRecvOpts = 1u << 7,
    kRetOpts = 1u << 8,
};

struct McOp {
    bool join;
    uint32_t group, ifindex;
    std::vector<uint32_t> sources;
    bool include;
};

constexpr std::size_t kMaxDatagram = 65536;
// SOL_RAW's ICMP_FILTER (linux/icmp.h, whose linux/if.h conflicts with net/if.h).
constexpr int kIcmpFilter = 1;

// The endpoint (UDP, raw or tap), with what the shim needs beyond the library's calls: a receive
// that leaves the datagram in the ring (MSG_PEEK: after a fork, the datagram a parent peeked is the
// one the child reads, as with a socket's queue), and the shared consumer index taken again (after
// a fork, the other process may have consumed).
class ShimEndpoint : public ingress::Endpoint {
public:
    explicit ShimEndpoint(ingress::Endpoint&& e) : ingress::Endpoint(std::move(e)) {}

    void resync() noexcept {
        for (std::vector<Ring>* v : {&stale_, &rings_})
            for (Ring& r : *v)
                if (!r.held) {
                    r.cons = ingress::shm::RingConsumer(r.region.data());
                    if (r.has_errq)
                        r.errq = ingress::shm::RingConsumer(
                            ingress::shm::err_queue_of(r.region.data(), r.region.size()));
                }
    }

    // Datagrams waiting (or the exited daemon's rings, or a reopen's refusal to report):
    // what makes a socket readable (POLLIN). readable() minus the pending error.
    bool data_ready() noexcept {
        if (error_ || !stale_.empty()) return true;
        for (Ring& r : rings_) {
            uint32_t idx;
            if (r.cons.peek(r.held + 1, &idx) > r.held) return true;
        }
        return false;
    }

    // A pending error or an error-queue entry: datagram_poll()'s EPOLLERR (sk->sk_err or a
    // non-empty sk_error_queue).
    bool err_ready() noexcept {
        if (sk_err_pending()) return true;
        for (Ring& r : rings_) {
            uint32_t idx;
            if (r.has_errq && r.errq.peek(1, &idx) > 0) return true;
        }
        return false;
    }

    // sock_error(): the pending error, taken (0: none).
    int take_pending_error() noexcept { return take_sk_err(); }

    // The errno of the error-queue entry recv_error() would return next (0: none).
    uint32_t errq_head_errno() noexcept {
        for (Ring& r : rings_) {
            uint32_t idx;
            if (!r.has_errq || r.errq.peek(1, &idx) == 0) continue;
            const auto p = r.errq.payload(idx);
            ingress_sock_err ee{};
            if (p.size() >= sizeof ee) std::memcpy(&ee, p.data(), sizeof ee);
            return ee.ee_errno;
        }
        return 0;
    }

    // sock_dequeue_err_skb()'s sk->sk_err = the next entry's errno, for an entry the kernel
    // socket's queue gave before this one's (the two queues read as one, kernel first).
    void set_pending_error(uint32_t err) noexcept {
        if (!rings_.empty()) rings_[0].cons.set_sk_err(err);
    }

    // setsockopt(IP_RECVERR, 0): skb_errqueue_purge(), the pending error left alone.
    void purge_errq() noexcept {
        for (Ring& r : rings_) {
            uint32_t idx;
            while (r.has_errq) {
                const uint32_t n = r.errq.peek(64, &idx);
                if (n == 0) break;
                r.errq.release(n);
            }
        }
    }

    // The datagram recv() would return first (Endpoint::next_len's order), not consumed.
    bool peek_next(const ingress_meta** meta, const uint8_t** data, uint32_t* len) noexcept {
        for (std::vector<Ring>* v : {&stale_, &rings_}) {
            const std::size_t nr = v->size();
            for (std::size_t k = 0; k < nr; ++k) {
                Ring& r = (*v)[(next_ring_ + k) % nr];
                // MSG_PEEK: a bad checksum is dropped and counted all the same (udp_recvmsg).
                uint32_t idx;
                if (!r.next(&idx)) continue;
                *meta = &r.cons.meta(idx);
                const auto p = r.cons.payload(idx);
                *data = p.data();
                *len = static_cast<uint32_t>(p.size());
                return true;
            }
        }
        return false;
    }
};

// What the app's socket is, and so which endpoint stands for it.
enum class Kind : uint8_t {
    kUdp,     // socket(AF_INET, SOCK_DGRAM, 0 | IPPROTO_UDP): a UDP endpoint at bind/connect
    kRaw,     // socket(AF_INET, SOCK_RAW, proto): a raw endpoint from the start
    kPacket,  // socket(AF_PACKET, SOCK_RAW | SOCK_DGRAM, proto): a tap once it has a protocol
};

struct Sock {
    int refs = 0;  // this process's fds naming it
    Kind kind = Kind::kUdp;
    ingress::UdpOptions opts;
    ingress::RawOptions raw;
    // The tap's options. The kernel packet socket is made (and bound) with protocol 0, which
    // hooks it nowhere (packet_create/packet_do_bind), so it receives nothing while the tap
    // stands for it; a fallback binds it with the app's protocol (kernel_hook()).
    ingress::TapOptions tap;
    bool auxdata = false;  // PACKET_AUXDATA
    std::vector<McOp> mc;  // memberships set before the endpoint opened, replayed at open
    uint32_t cmsgs = 0;
    uint32_t tsflags = 0;  // SO_TIMESTAMPING's SOF_TIMESTAMPING_* (sk_tsflags)
    bool ts_new = false;   // set through SO_TIMESTAMPING_NEW (SOCK_TSTAMP_NEW)
    bool nonblock = false;
    int rcvtimeo_ms = -1;
    bool tried = false;  // an open was attempted (refused: a kernel socket for good)
    bool hup = false;    // the control connection hung up: read out, then the kernel socket
    // ingressd exited: the kernel socket receives until the watcher finds a daemon again and
    // reopens the endpoint (UDP and raw; a packet socket, once hooked, stays the kernel's).
    bool away = false;
    bool draining = false;  // back on the rings: the kernel socket's queue is read out first
    bool armed = false;     // prepare_sleep armed the rings and no doorbell was seen since
    bool shared = false;    // a fork happened: another process may consume from the rings
    bool select_err_queue = false;  // SO_SELECT_ERR_QUEUE: POLLPRI with POLLERR
    std::unique_ptr<ingress::Client> client;
    std::unique_ptr<ShimEndpoint> ep;
    std::vector<uint8_t> scratch;  // a datagram on its way to several iovecs
};

// One lock for the shim's state; every wait happens outside it.
std::recursive_mutex g_mu;
constexpr int kMaxFd = 1 << 16;
Sock* g_fds[kMaxFd];

Sock* sock_of(int fd) {
    if (t_inside || fd < 0 || fd >= kMaxFd) return nullptr;
    return __atomic_load_n(&g_fds[fd], __ATOMIC_ACQUIRE);
}

void set_fd(int fd, Sock* s) {
    if (fd >= 0 && fd < kMaxFd) __atomic_store_n(&g_fds[fd], s, __ATOMIC_RELEASE);
}

// --- epoll registrations ------------------------------------------------------------------

// A shim socket in an app's epoll set: its kernel fd under the app's data, and (while an
// endpoint is open) the doorbell and the control connection under a tag.
struct EpReg {
    uint32_t id;
    int epfd, fd;
    Sock* s;
    uint32_t events;
    epoll_data_t data;
    bool disabled = false;     // EPOLLONESHOT fired; EPOLL_CTL_MOD re-arms
    bool et_reported = false;  // EPOLLET: readiness reported, not yet found empty
    int bell = -1, cfd = -1;   // registered in epfd
    pid_t pid;                 // the process that registered them (a forked child shares
                               // the epoll set and leaves the parent's entries alone)
};
std::vector<std::unique_ptr<EpReg>> g_regs;
uint32_t g_next_reg = 1;
constexpr uint64_t kTagMask = 0xffffff0000000000ull;
constexpr uint64_t kTagMagic = 0x1a9e550000000000ull;
constexpr uint64_t kTagClient = 1ull << 32;

EpReg* reg_by_id(uint32_t id) {
    for (auto& r : g_regs)
        if (r->id == id) return r.get();
    return nullptr;
}

int real_epoll_ctl(int epfd, int op, int fd, epoll_event* ev) {
    REAL(epoll_ctl);
    return real_epoll_ctl(epfd, op, fd, ev);
}

bool ring_mode(const Sock* s) {
    return s->ep != nullptr;
}

// Makes the kernel's registrations match the socket's state (g_mu held).
void sync_reg(EpReg& r) {
    Sock* s = r.s;
    const bool rings = ring_mode(s);
    const uint32_t in = EPOLLIN | EPOLLRDNORM;
    const uint32_t mode = r.events & (EPOLLET | EPOLLONESHOT);
    epoll_event kev{};
    kev.events = (rings && !s->hup && !s->draining) ? (r.events & ~in) : r.events;
    kev.data = r.data;
    real_epoll_ctl(r.epfd, EPOLL_CTL_MOD, r.fd, &kev);
    const int bell = (rings && (r.events & in)) ? s->ep->fd() : -1;
    if (r.bell >= 0 && r.bell != bell) {
        real_epoll_ctl(r.epfd, EPOLL_CTL_DEL, r.bell, nullptr);
        r.bell = -1;
    }
    if (bell >= 0) {
        epoll_event ev{};
        ev.events = EPOLLIN | mode;
        ev.data.u64 = kTagMagic | r.id;
        if (real_epoll_ctl(r.epfd, r.bell == bell ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, bell, &ev) == 0)
            r.bell = bell;
    }
    const int cfd = (rings && !s->hup && (r.events & in)) ? s->client->fd() : -1;
    if (r.cfd >= 0 && r.cfd != cfd) {
        real_epoll_ctl(r.epfd, EPOLL_CTL_DEL, r.cfd, nullptr);
        r.cfd = -1;
    }
    if (cfd >= 0) {
        epoll_event ev{};
        ev.events = EPOLLRDHUP | mode;
        ev.data.u64 = kTagMagic | kTagClient | r.id;
        if (real_epoll_ctl(r.epfd, r.cfd == cfd ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, cfd, &ev) == 0)
            r.cfd = cfd;
    }
}

void sync_regs(Sock* s) {
    for (auto& r : g_regs)
        if (r->s == s) sync_reg(*r);
}

// Removes the tagged registrations before their fds close: a forked child may hold copies
// of them, which would keep them in the set.
void drop_regs(Sock* s) {
    for (auto& r : g_regs) {
        if (r->s != s) continue;
        if (r->pid != getpid()) {
            r->bell = r->cfd = -1;
            continue;
        }
        if (r->bell >= 0) real_epoll_ctl(r->epfd, EPOLL_CTL_DEL, r->bell, nullptr);
        if (r->cfd >= 0) real_epoll_ctl(r->epfd, EPOLL_CTL_DEL, r->cfd, nullptr);
        r->bell = r->cfd = -1;
    }
}

// --- Endpoint life ------------------------------------------------------------------------

// Closes the connection first: the endpoint then closes without a request, and the daemon
// drops it when the last process holding the connection closes it (g_mu held).
void drop_endpoint(Sock* s) {
    drop_regs(s);
    Inside in;
    s->client.reset();
    s->ep.reset();
    s->hup = false;
    s->armed = false;
}

// The socket in the log's words: "UDP port 5000", "raw IP protocol 1", "packet socket
// (ethertype 0x0800, ifindex 3, SOCK_DGRAM)".
const char* describe(const Sock* s, char* buf, std::size_t len) {
    switch (s->kind) {
        case Kind::kUdp:
            snprintf(buf, len, "UDP port %u", s->opts.port);
            break;
        case Kind::kRaw:
            snprintf(buf, len, "raw IP protocol %u", s->raw.protocol);
            break;
        case Kind::kPacket:
            snprintf(buf, len, "packet socket (ethertype 0x%04x, ifindex %u, %s)", s->tap.ethertype,
                     s->tap.ifindex, s->tap.dgram ? "SOCK_DGRAM" : "SOCK_RAW");
            break;
    }
    return buf;
}

// A packet socket leaving the tap: bound with the app's protocol (and interface), the
// kernel socket receives as the app asked from now on.
void kernel_hook(Sock* s, int fd) {
    if (s->kind != Kind::kPacket || s->tap.ethertype == 0) return;
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(s->tap.ethertype);
    sll.sll_ifindex = static_cast<int>(s->tap.ifindex);
    REAL(bind);
    const int err = errno;
    real_bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll);
    errno = err;
}

// Sockets away or draining (Sock::away, Sock::draining): while there are any, poll and
// epoll waits are cut in slices, so that a socket the watcher moved back to the rings is
// looked at again (the kernel fd they wait on gets nothing from then on).
std::atomic<int> g_returning{0};

void set_away(Sock* s, bool on) {
    if (s->away != on) g_returning += on ? 1 : -1;
    s->away = on;
}

void set_draining(Sock* s, bool on) {
    if (s->draining != on) g_returning += on ? 1 : -1;
    s->draining = on;
}

void start_watcher();

// `away`: ingressd exited, and the watcher reopens the endpoint when a daemon answers again.
void fall_back(Sock* s, int fd, const char* why, bool away = false) {
    char d[96];
    away = away && s->kind != Kind::kPacket;  // a hooked packet socket cannot be unhooked
    say(Say::kFallback, "fd %d (%s): %s; receiving on the kernel socket %s", fd,
        describe(s, d, sizeof d), why, away ? "until ingressd returns" : "from now on");
    drop_endpoint(s);
    set_draining(s, false);
    kernel_hook(s, fd);
    sync_regs(s);
    if (away) {
        set_away(s, true);
        start_watcher();
    }
}

// A socket the shim cannot serve (an option it cannot mirror): the kernel's for good.
void give_up(Sock* s, int fd, const char* why) {
    s->tried = true;
    if (s->ep) {
        fall_back(s, fd, why);
        return;
    }
    char d[96];
    say(Say::kFallback, "fd %d (%s): %s; a plain kernel socket", fd, describe(s, d, sizeof d), why);
    kernel_hook(s, fd);
}

const char* ctl_path() {
    const char* p = getenv("INGRESS_PRELOAD_SOCKET");
    return p && *p ? p : ingress::kDefaultCtlPath;
}

void replay(ingress::Endpoint& ep, const McOp& m) {
    if (m.join)
        ep.join(m.group, m.ifindex, m.sources, m.include);
    else
        ep.leave(m.group, m.ifindex, m.sources);
}

// Opens the endpoint that stands for the socket (g_mu held): a UDP socket once it has its
// local port (connect() reopens with the peer), a raw socket at once (it receives from its
// creation; bind reopens with the address), a packet socket once it has a protocol (bind
// reopens with the interface). Returns 0 or the errno of the refusal (`quiet`: not said, the
// caller tries again).
int open_endpoint(Sock* s, int fd, bool quiet = false) {
    sockaddr_in sin{};
    if (s->kind == Kind::kUdp) {
        socklen_t len = sizeof sin;
        if (getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) < 0 || sin.sin_port == 0)
            return EINVAL;
        s->opts.addr = ntohl(sin.sin_addr.s_addr);
        s->opts.port = ntohs(sin.sin_port);
    } else if (s->kind == Kind::kPacket && s->tap.ethertype == 0) {
        return EINVAL;  // protocol 0: the kernel socket receives nothing either
    }
    s->tried = true;
    char d[96];
    Inside in;
    try {
        auto c = std::make_unique<ingress::Client>(ingress::Client::connect(ctl_path()));
        c->set_reconnect(false);
        std::unique_ptr<ShimEndpoint> ep;
        switch (s->kind) {
            case Kind::kUdp:
                ep = std::make_unique<ShimEndpoint>(c->open_udp(s->opts));
                break;
            case Kind::kRaw:
                ep = std::make_unique<ShimEndpoint>(c->open_raw(s->raw));
                break;
            case Kind::kPacket:
                ep = std::make_unique<ShimEndpoint>(c->open_tap(s->tap));
                break;
        }
        for (const McOp& m : s->mc) replay(*ep, m);
        s->client = std::move(c);
        s->ep = std::move(ep);
        s->mc.clear();
        if (s->kind == Kind::kUdp)
            say(Say::kInfo, "fd %d: UDP %s:%u on ingressd's rings (endpoint %u)", fd,
                inet_ntoa(sin.sin_addr), s->opts.port, s->ep->id());
        else
            say(Say::kInfo, "fd %d: %s on ingressd's rings (endpoint %u)", fd,
                describe(s, d, sizeof d), s->ep->id());
    } catch (const std::exception& e) {
        const auto* ie = dynamic_cast<const ingress::Error*>(&e);
        const int err = ie && ie->code() > 0 ? ie->code() : EIO;
        if (quiet) return err;
        say(Say::kFallback,
            "fd %d (%s): no ingressd endpoint (%s); a plain kernel socket, which "
            "receives only what ingressd does not steer",
            fd, describe(s, d, sizeof d), e.what());
        kernel_hook(s, fd);
        return err;
    }
    sync_regs(s);
    return 0;
}

// The endpoint again, with what changed (bind, connect): what the old rings held is lost.
void reopen_endpoint(Sock* s, int fd) {
    if (s->ep) {
        drop_endpoint(s);
        sync_regs(s);
    }
    s->tried = false;
    open_endpoint(s, fd);
}

// --- Back to a restarted ingressd -----------------------------------------------------

std::atomic<bool> g_watching{false};
// How often the watcher tries: a connect to an absent socket path costs a failed syscall.
constexpr int kWatchEveryMs = 20;

// Whether an open failed because no daemon answers yet (try again) rather than a refusal.
bool daemon_absent(int err) {
    return err == ENOENT || err == ECONNREFUSED || err == ECONNRESET || err == EPIPE ||
           err == ENOTCONN || err == EIO;
}

// The watcher: every kWatchEveryMs while sockets are away, an open for each; the first that a
// daemon grants puts the socket back on the rings, draining first: ingressd steers the port
// again from its start, so the kernel socket gets nothing new, and what it queued while no
// daemon ran is read before the rings (ring_recvmsg). Datagrams that reach the new daemon
// before the open are answered as to a closed port (UdpNoPorts): the gap.
void* watch(void*) {
    for (;;) {
        {
            REAL(poll);
            real_poll(nullptr, 0, kWatchEveryMs);
        }
        std::lock_guard lk(g_mu);
        int left = 0;
        for (int fd = 0; fd < kMaxFd; ++fd) {
            Sock* s = __atomic_load_n(&g_fds[fd], __ATOMIC_ACQUIRE);
            if (!s || !s->away) continue;
            const int err = open_endpoint(s, fd, true);
            char d[96];
            if (err == 0) {
                set_away(s, false);
                set_draining(s, true);
                sync_regs(s);
                say(Say::kReturn,
                    "fd %d (%s): ingressd is back; on its rings again (endpoint %u) once the "
                    "kernel socket's queue is read",
                    fd, describe(s, d, sizeof d), s->ep->id());
            } else if (!daemon_absent(err)) {
                set_away(s, false);
                say(Say::kFallback, "fd %d (%s): ingressd is back but refused the endpoint (%s)",
                    fd, describe(s, d, sizeof d), std::strerror(err));
            } else {
                ++left;
            }
        }
        if (left == 0) {
            g_watching = false;
            return nullptr;
        }
    }
}

// Starts the watcher if it does not run (in this process: a forked child starts its own),
// with every signal blocked (the app's handlers run in its own threads).
void start_watcher() {
    static pid_t owner = 0;
    if (g_watching && owner == getpid()) return;
    g_watching = true;
    owner = getpid();
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    if (pthread_create(&t, nullptr, watch, nullptr) == 0)
        pthread_detach(t);
    else
        g_watching = false;
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void maybe_open(Sock* s, int fd) {
    if (!s->tried && !s->ep) open_endpoint(s, fd);
}

// --- Receiving from the rings -------------------------------------------------------------

constexpr ssize_t kKernel = -100000;  // not served here: the kernel socket's call
// Newer than some uapi headers: SOF_TIMESTAMPING_OPT_RX_FILTER (linux/net_tstamp.h, 6.2)
// and SO_TIMESTAMPING_NEW (asm-generic/socket.h).
constexpr uint32_t kSofOptRxFilter = 1u << 17;
constexpr int kScmTimestampingNew = 65;

void put_cmsg(msghdr* msg, std::size_t& used, int level, int type, const void* data,
              std::size_t len) {
    if (!msg->msg_control) return;
    const std::size_t space = CMSG_SPACE(len);
    if (used + CMSG_LEN(len) > msg->msg_controllen) {
        msg->msg_flags |= MSG_CTRUNC;
        return;
    }
    auto* c = reinterpret_cast<cmsghdr*>(static_cast<uint8_t*>(msg->msg_control) + used);
    c->cmsg_level = level;
    c->cmsg_type = type;
    c->cmsg_len = CMSG_LEN(len);
    std::memcpy(CMSG_DATA(c), data, len);
    used = std::min<std::size_t>(used + space, msg->msg_controllen);
}

timespec ns_timespec(uint64_t ns) {
    return {static_cast<time_t>(ns / 1000000000ull), static_cast<long>(ns % 1000000000ull)};
}

// __sock_recv_timestamp(): SO_TIMESTAMPNS, else SO_TIMESTAMP; then SO_TIMESTAMPING's
// scm_timestamping: ts[0] the software stamp when SOF_TIMESTAMPING_SOFTWARE reports it (and
// RX_SOFTWARE asks for it, or OPT_RX_FILTER is off, or it is the error queue), ts[2] the raw
// hardware stamp when RAW_HARDWARE reports it (the same rule with RX_HARDWARE) and the
// datagram has one (INGRESS_F_HW_TSTAMP, as skb_hwtstamps()); no message when both are zero.
// The daemon stamps every datagram (rx_ns), as a kernel with net_enable_timestamp() on.
void put_timestamp(const Sock* s, const ingress_meta& md, bool errq, msghdr* msg,
                   std::size_t& used) {
    const uint64_t rx_ns = md.rx_ns;
    if (s->cmsgs & kTimestampNs) {
        const timespec ts = ns_timespec(rx_ns);
        put_cmsg(msg, used, SOL_SOCKET, SO_TIMESTAMPNS, &ts, sizeof ts);
    } else if (s->cmsgs & kTimestamp) {
        timeval tv{static_cast<time_t>(rx_ns / 1000000000ull),
                   static_cast<suseconds_t>(rx_ns % 1000000000ull / 1000)};
        put_cmsg(msg, used, SOL_SOCKET, SO_TIMESTAMP, &tv, sizeof tv);
    }
    const uint32_t f = s->tsflags;
    if (!(f & (SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_RAW_HARDWARE))) return;
    const bool unfiltered = errq || !(f & kSofOptRxFilter);
    timespec tss[3] = {};
    bool any = false;
    if ((f & SOF_TIMESTAMPING_SOFTWARE) && ((f & SOF_TIMESTAMPING_RX_SOFTWARE) || unfiltered) &&
        rx_ns) {
        tss[0] = ns_timespec(rx_ns);
        any = true;
    }
    uint64_t hw = 0;
    if ((f & SOF_TIMESTAMPING_RAW_HARDWARE) && ((f & SOF_TIMESTAMPING_RX_HARDWARE) || unfiltered) &&
        ingress_hw_timestamp(&md, &hw) && hw) {
        tss[2] = ns_timespec(hw);
        any = true;
    }
    // scm_timestamping and scm_timestamping64 are the same three timespecs on 64-bit hosts.
    if (any)
        put_cmsg(msg, used, SOL_SOCKET, s->ts_new ? kScmTimestampingNew : SO_TIMESTAMPING, tss,
                 sizeof tss);
}

// ip_cmsg_recv(): PKTINFO, TTL, TOS, RECVOPTS, RETOPTS, ORIGDSTADDR in that order. `spec_dst`
// is ipi_spec_dst; `orig_port` the ORIGDSTADDR port (nullptr: no ORIGDSTADDR message).
void put_ip_cmsgs(const Sock* s, const ingress_meta& md, uint32_t spec_dst,
                  const uint16_t* orig_port, const uint8_t* opts, msghdr* msg, std::size_t& used) {
    if (s->cmsgs & kPktinfo) {
        in_pktinfo pi{};
        pi.ipi_ifindex = static_cast<int>(md.ifindex);
        pi.ipi_spec_dst.s_addr = htonl(spec_dst);
        pi.ipi_addr.s_addr = htonl(md.dst_addr);
        put_cmsg(msg, used, IPPROTO_IP, IP_PKTINFO, &pi, sizeof pi);
    }
    if (s->cmsgs & kTtl) {
        const int ttl = md.ttl;
        put_cmsg(msg, used, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
    }
    if (s->cmsgs & kTos) {
        const uint8_t tos = md.tos;
        put_cmsg(msg, used, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
    }
    // ip_cmsg_recv_opts / ip_cmsg_recv_retopts: only for a datagram that had options
    // (`opts`: the options, then their echo, after the payload; none for an error entry).
    if ((s->cmsgs & kRecvOpts) && opts && md.ip_optlen)
        put_cmsg(msg, used, IPPROTO_IP, IP_RECVOPTS, opts, md.ip_optlen);
    if ((s->cmsgs & kRetOpts) && opts && md.ip_optlen) {
        if (md.flags & INGRESS_F_RETOPTS_CTRUNC)
            msg->msg_flags |= MSG_CTRUNC;
        else
            put_cmsg(msg, used, IPPROTO_IP, IP_RETOPTS, opts + md.ip_optlen, md.ip_retoptlen);
    }
    if ((s->cmsgs & kOrigDst) && orig_port) {
        sockaddr_in o{};
        o.sin_family = AF_INET;
        o.sin_addr.s_addr = htonl(md.dst_addr);
        o.sin_port = htons(*orig_port);
        put_cmsg(msg, used, IPPROTO_IP, IP_ORIGDSTADDR, &o, sizeof o);
    }
}

// packet_recvmsg()'s msg_name: a sockaddr_ll from the tap's record; msg_namelen is
// offsetof(sll_addr) + sll_halen, raised to sizeof(sockaddr_ll).
sockaddr_ll ll_name(const ingress_meta& md) {
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(md.ethertype);
    sll.sll_ifindex = static_cast<int>(md.ifindex);
    sll.sll_hatype = ARPHRD_ETHER;
    sll.sll_pkttype = md.pkt_type;
    sll.sll_halen = ETH_ALEN;
    std::memcpy(sll.sll_addr, md.src_mac, ETH_ALEN);
    return sll;
}

void put_name(msghdr* msg, const void* name, socklen_t len) {
    if (msg->msg_name && msg->msg_namelen > 0) {
        std::memcpy(msg->msg_name, name, std::min<std::size_t>(msg->msg_namelen, len));
        msg->msg_namelen = len;
    } else {
        msg->msg_namelen = 0;
    }
}

// The receive's msg_name and control messages, in the order of udp_recvmsg / raw_recvmsg
// (sock_recv_cmsgs: timestamp, drops; then ip_cmsg_recv: PKTINFO, TTL, TOS, RECVOPTS,
// RETOPTS, ORIGDSTADDR)
// or packet_recvmsg (sock_recv_cmsgs, then PACKET_AUXDATA). `head`: the first bytes of the
// datagram (raw: the IP header, where ORIGDSTADDR's ports are read after it).
void fill_msg(const Sock* s, const ingress::Message& m, std::span<const uint8_t> head,
              msghdr* msg) {
    const ingress_meta& md = m.meta;
    if (s->kind == Kind::kPacket) {
        const sockaddr_ll sll = ll_name(md);
        put_name(msg, &sll, sizeof sll);
    } else {
        sockaddr_in sin = m.src;
        if (s->kind == Kind::kRaw) sin.sin_port = 0;
        put_name(msg, &sin, sizeof sin);
    }
    std::size_t used = 0;
    put_timestamp(s, md, false, msg, used);
    if (s->cmsgs & kRxqOvfl) {
        const uint32_t drops = md.drops;
        if (drops) put_cmsg(msg, used, SOL_SOCKET, SO_RXQ_OVFL, &drops, sizeof drops);
    }
    if (s->kind == Kind::kPacket) {
        if (s->auxdata) {
            tpacket_auxdata aux{};
            aux.tp_status = ingress_tp_status(&md);
            aux.tp_len = md.orig_len;
            aux.tp_snaplen = md.len;
            aux.tp_mac = 0;
            aux.tp_net = s->tap.dgram ? 0 : md.l3_off;
            aux.tp_vlan_tci = md.vlan_tci;
            aux.tp_vlan_tpid = md.vlan_tpid;
            put_cmsg(msg, used, SOL_PACKET, PACKET_AUXDATA, &aux, sizeof aux);
        }
    } else if (s->kind == Kind::kRaw) {
        // ip_cmsg_recv_dstaddr(): the ports at the transport header, when it has four bytes.
        const std::size_t l4 = head.empty() ? 0 : (head[0] & 0x0f) * 4u;
        uint16_t port = 0;
        if (l4 && head.size() >= l4 + 4)
            port = static_cast<uint16_t>(head[l4 + 2] << 8 | head[l4 + 3]);
        put_ip_cmsgs(s, md, md.dst_addr, head.size() >= l4 + 4 ? &port : nullptr, m.ip_opts, msg,
                     used);
    } else {
        // ipi_spec_dst: fib_compute_spec_dst() gives the destination for every local route.
        put_ip_cmsgs(s, md, md.dst_addr, &md.dst_port, m.ip_opts, msg, used);
    }
    msg->msg_controllen = used;
}

// Copies a datagram held in a buffer of the shim into the app's iovecs.
// `have` bytes are in data; the datagram had `len` (more when its ring slot truncated it).
ssize_t scatter(const uint8_t* data, uint32_t have, uint32_t len, msghdr* msg, int flags) {
    std::size_t off = 0;
    for (std::size_t i = 0; i < msg->msg_iovlen && off < have; ++i) {
        const std::size_t c = std::min<std::size_t>(msg->msg_iov[i].iov_len, have - off);
        std::memcpy(msg->msg_iov[i].iov_base, data + off, c);
        off += c;
    }
    if (off < len) msg->msg_flags |= MSG_TRUNC;
    return (flags & MSG_TRUNC) ? len : static_cast<ssize_t>(off);
}

bool hung_up(Sock* s) {
    if (s->hup) return true;
    pollfd p{s->client->fd(), 0, 0};
    REAL(poll);
    if (real_poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLRDHUP))) s->hup = true;
    return s->hup;
}

// One datagram from the rings into msg, without waiting: its length, -EAGAIN, or kKernel
// when the socket has just fallen back (g_mu held).
ssize_t take_one(Sock* s, int fd, msghdr* msg, int flags) {
    msg->msg_flags = 0;
    ShimEndpoint& ep = *s->ep;
    if (s->shared) ep.resync();
    // __skb_recv_udp(): sock_error() before the queue, queued datagrams or not.
    if (const int err = ep.take_pending_error()) return -err;
    const ingress_meta* md = nullptr;
    const uint8_t* data = nullptr;
    uint32_t have = 0;
    if (!ep.peek_next(&md, &data, &have)) {
        // Empty. After the daemon's hangup nothing more will come: the kernel socket's turn
        // (what the exited daemon delivered has been read).
        if (hung_up(s)) {
            fall_back(s, fd, "ingressd exited", true);
            return kKernel;
        }
        return -EAGAIN;
    }
    ingress::Message m{};
    if (flags & MSG_PEEK) {
        m.meta = *md;
        // The options lie after the payload in the slot (record.h).
        if (md->ip_optlen + md->ip_retoptlen <= sizeof m.ip_opts && have == md->len)
            std::memcpy(m.ip_opts, data + have, md->ip_optlen + md->ip_retoptlen);
        else
            m.meta.ip_optlen = m.meta.ip_retoptlen = 0;
        m.len = std::max(md->orig_len, have);
        m.src.sin_family = AF_INET;
        m.src.sin_addr.s_addr = htonl(md->src_addr);
        m.src.sin_port = htons(md->src_port);
        fill_msg(s, m, {data, have}, msg);
        return scatter(data, have, m.len, msg, flags);
    }
    const bool direct = msg->msg_iovlen == 1;
    if (direct) {
        m.buf = msg->msg_iov[0].iov_base;
        m.buf_len =
            static_cast<uint32_t>(std::min<std::size_t>(msg->msg_iov[0].iov_len, UINT32_MAX));
    } else {
        s->scratch.resize(kMaxDatagram);
        m.buf = s->scratch.data();
        m.buf_len = kMaxDatagram;
    }
    std::size_t n = 0;
    try {
        Inside in;
        n = ep.recvmmsg(&m, 1, MSG_DONTWAIT | MSG_TRUNC, nullptr);
    } catch (const ingress::SocketError& e) {
        return -e.code();  // the pending ICMP error, once, as the kernel socket's recvmsg
    } catch (const ingress::Error& e) {
        const bool exited = e.code() == ECONNRESET;
        fall_back(s, fd, exited ? "ingressd exited" : e.what(), exited);
        return kKernel;
    }
    if (n == 0) return -EAGAIN;
    const uint32_t copied = std::min(m.meta.len, m.buf_len);
    fill_msg(s, m, {static_cast<const uint8_t*>(m.buf), copied}, msg);
    if (direct) {
        if (m.len > copied) msg->msg_flags |= MSG_TRUNC;
        return (flags & MSG_TRUNC) ? m.len : copied;
    }
    return scatter(s->scratch.data(), copied, m.len, msg, flags);
}

// recvmsg(MSG_ERRQUEUE) on a socket on the rings (g_mu held), as ip_recv_error(): never
// waits. Two queues are read as one, the kernel socket's first: its own entries are real
// (ip_local_error()'s EMSGSIZE of a send that did not fit the path MTU, ...) while ICMP
// errors from the network come to ingressd, which steers ICMP, and from it to the
// endpoint's queue (__udp4_lib_err() -> ip_icmp_error()). The kernel's queue is looked at
// again at every call, so an entry queued there later still comes before the endpoint's.
ssize_t errqueue_recvmsg(Sock* s, int fd, msghdr* msg, int flags) {
    REAL(recvmsg);
    REAL(poll);
    const msghdr saved = *msg;
    const ssize_t k = real_recvmsg(fd, msg, flags | MSG_DONTWAIT);
    if (k >= 0) {
        // sock_dequeue_err_skb(): the kernel's queue now empty, the merged queue's next
        // entry is the endpoint's, whose errno (an ICMP error's) becomes the pending error.
        pollfd p{fd, 0, 0};
        if (real_poll(&p, 1, 0) == 0)
            if (const uint32_t e = s->ep->errq_head_errno()) s->ep->set_pending_error(e);
        return k;
    }
    if (errno != EAGAIN) return -errno;
    *msg = saved;
    ingress::ErrorMessage em{};
    s->scratch.resize(kMaxDatagram);
    {
        Inside in;
        if (s->shared) s->ep->resync();
        if (!s->ep->recv_error(em, s->scratch.data(), kMaxDatagram)) {
            for (auto& reg : g_regs)
                if (reg->s == s) reg->et_reported = false;
            return -EAGAIN;
        }
    }
    msg->msg_flags = MSG_ERRQUEUE | (em.msg_flags & MSG_TRUNC);
    // msg_name: the errored datagram's destination (serr->addr_offset, serr->port).
    if (msg->msg_name) {
        sockaddr_in sin = em.addr;
        std::memset(sin.sin_zero, 0, sizeof sin.sin_zero);
        std::memcpy(msg->msg_name, &sin, std::min<std::size_t>(msg->msg_namelen, sizeof sin));
        msg->msg_namelen = sizeof sin;
    } else {
        msg->msg_namelen = 0;
    }
    std::size_t used = 0;
    put_timestamp(s, em.meta, true, msg, used);
    struct {
        sock_extended_err ee;
        sockaddr_in offender;
    } eh{};
    eh.ee.ee_errno = em.ee.ee_errno;
    eh.ee.ee_origin = em.ee.ee_origin;
    eh.ee.ee_type = em.ee.ee_type;
    eh.ee.ee_code = em.ee.ee_code;
    eh.ee.ee_info = em.ee.ee_info;
    eh.ee.ee_data = em.ee.ee_data;
    if (em.ee.ee_origin == SO_EE_ORIGIN_ICMP) {
        // ipv4_datagram_support_cmsg(): the offender and the ICMP message's own IP_* control
        // messages. Its skb->cb is still the IPCB ip_rcv() filled: ipi_ifindex is the iif and
        // ipi_spec_dst the (empty) options' first word. ORIGDSTADDR reads the ports at the
        // transport header, which ip_icmp_error() reset to the quoted payload: its bytes 2-3,
        // when it has four.
        eh.offender.sin_family = AF_INET;
        eh.offender.sin_addr.s_addr = htonl(em.ee.offender);
        uint16_t port = 0;
        if (em.len >= 4) port = static_cast<uint16_t>(s->scratch[2] << 8 | s->scratch[3]);
        put_ip_cmsgs(s, em.meta, 0, em.len >= 4 ? &port : nullptr, nullptr, msg, used);
    }
    put_cmsg(msg, used, SOL_IP, IP_RECVERR, &eh, sizeof eh);
    msg->msg_controllen = used;
    // The quoted payload; MSG_TRUNC when the buffer is shorter, and the bytes copied
    // returned even with MSG_TRUNC in flags (ip_recv_error returns `copied`).
    return scatter(s->scratch.data(), em.len, em.len, msg, 0);
}

uint64_t now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

constexpr int kWaitSliceMs = 200;

// The kernel socket's next datagram without waiting: its length, or -errno.
ssize_t kernel_take(int fd, msghdr* msg, int flags) {
    REAL(recvmsg);
    const ssize_t n = real_recvmsg(fd, msg, flags | MSG_DONTWAIT);
    return n >= 0 ? n : -errno;
}

// recvmsg on a shim socket: from the rings, with the socket's blocking mode, SO_RCVTIMEO and
// the call's flags. kKernel: the caller makes the kernel's call.
ssize_t ring_recvmsg(Sock* s, int fd, msghdr* msg, int flags) {
    std::unique_lock lk(g_mu);
    if (sock_of(fd) != s) return kKernel;
    maybe_open(s, fd);
    if (flags & MSG_ERRQUEUE) return ring_mode(s) ? errqueue_recvmsg(s, fd, msg, flags) : kKernel;
    const bool wait = !(flags & MSG_DONTWAIT) && !s->nonblock;
    const int timeout = s->rcvtimeo_ms;
    const uint64_t deadline = timeout > 0 ? now_ms() + static_cast<uint64_t>(timeout) : 0;
    // The next sleep: at most kWaitSliceMs, and what is left of SO_RCVTIMEO (-1: none left).
    auto slice = [&] {
        if (!deadline) return kWaitSliceMs;
        const uint64_t now = now_ms();
        if (now >= deadline) return -1;
        return static_cast<int>(std::min<uint64_t>(deadline - now, kWaitSliceMs));
    };
    REAL(poll);
    for (;;) {
        if (!ring_mode(s)) {
            if (!s->away) return kKernel;
            // ingressd away: the kernel socket, waited on in slices, so that the watcher's
            // return to the rings is seen (a forked child starts a watcher of its own).
            start_watcher();
            const ssize_t k = kernel_take(fd, msg, flags);
            if (k != -EAGAIN || !wait) return k;
            const int left = slice();
            if (left < 0) return -EAGAIN;
            pollfd p{fd, POLLIN, 0};
            lk.unlock();
            const int rc = real_poll(&p, 1, left);
            const int err = errno;
            lk.lock();
            if (sock_of(fd) != s) return -EBADF;
            if (rc < 0 && err == EINTR) return -EINTR;
            continue;
        }
        if (s->draining) {
            // Back on the rings: what the kernel socket queued while no daemon ran is older
            // than anything in them.
            const ssize_t k = kernel_take(fd, msg, flags);
            if (k != -EAGAIN) return k;
            set_draining(s, false);
            sync_regs(s);
        }
        const ssize_t r = take_one(s, fd, msg, flags);
        if (r == kKernel) continue;  // fell back: the kernel socket from here
        if (r != -EAGAIN) return r;
        for (auto& reg : g_regs)
            if (reg->s == s) reg->et_reported = false;
        if (!wait) return -EAGAIN;
        bool armed;
        {
            Inside in;
            armed = s->ep->prepare_sleep();
        }
        if (!armed) continue;
        pollfd p[2] = {{s->ep->fd(), POLLIN, 0}, {s->client->fd(), 0, 0}};
        // Sleeps of at most kWaitSliceMs: another thread (or, after a fork, process) waiting
        // on or polling the same doorbell may take its ring; the ring is looked at again.
        const int left = slice();
        if (left < 0) return -EAGAIN;
        lk.unlock();
        const int rc = real_poll(p, 2, left);
        const int err = errno;
        lk.lock();
        if (sock_of(fd) != s) return -EBADF;
        if (rc < 0 && err == EINTR) return -EINTR;
        if (rc > 0 && (p[1].revents & (POLLHUP | POLLERR | POLLRDHUP))) s->hup = true;
    }
}

// --- Readiness ----------------------------------------------------------------------------

// What the rings have for poll and epoll (g_mu held): POLLIN for a datagram (or the
// daemon's hangup, which the next receive reports by falling back), POLLERR for a pending
// error or an error-queue entry (datagram_poll(): sk->sk_err or a non-empty
// sk_error_queue; an error alone does not make the socket readable). When there is
// neither and `arm`, arms the rings: the doorbell rings for the next datagram or error.
short ring_revents(Sock* s, bool arm) {
    if (s->hup) return POLLIN;
    Inside in;
    if (s->shared) s->ep->resync();
    short ev = 0;
    if (s->ep->data_ready()) ev |= POLLIN;
    if (s->ep->err_ready()) ev |= POLLERR;
    if (ev || s->armed || !arm) return ev;
    if (!s->ep->prepare_sleep()) return POLLIN;
    s->armed = true;
    // An error queued while the rings were being armed may have found no sleeper to wake.
    return s->ep->err_ready() ? POLLERR : 0;
}

// The app's view of ring_revents for the events it asked: POLLIN as POLLIN/POLLRDNORM, POLLERR
// always, with POLLPRI under SO_SELECT_ERR_QUEUE (sock_flag(SOCK_SELECT_ERR_QUEUE)).
uint32_t app_events(const Sock* s, short ev, uint32_t asked) {
    uint32_t out = 0;
    if (ev & POLLIN) out |= asked & (POLLIN | POLLRDNORM);
    if (ev & POLLERR) out |= POLLERR | (s->select_err_queue ? asked & POLLPRI : 0);
    return out;
}

int poll_impl(pollfd* fds, nfds_t n, const timespec* tmo, const sigset_t* mask) {
    REAL(ppoll);
    std::unique_lock lk(g_mu);
    bool any = false;
    for (nfds_t i = 0; i < n && !any; ++i) {
        Sock* s = sock_of(fds[i].fd);
        any = s && (ring_mode(s) || s->away);
    }
    if (!any) {
        lk.unlock();
        return real_ppoll(fds, n, tmo, mask);
    }
    const uint64_t deadline_ns = [&] {
        timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return tmo ? static_cast<uint64_t>(t.tv_sec + tmo->tv_sec) * 1000000000ull +
                         static_cast<uint64_t>(t.tv_nsec + tmo->tv_nsec)
                   : 0;
    }();
    // Kept per thread: no allocation per call once they have grown.
    thread_local std::vector<pollfd> ext;
    thread_local std::vector<nfds_t> owner;  // extra entries: the app's index they stand for
    thread_local std::vector<short> pre;     // readiness found without waiting
    thread_local std::vector<uint8_t> kind;  // extra entries: 0 doorbell, 1 control connection
    pre.resize(n);
    for (;;) {
        ext.assign(fds, fds + n);
        owner.clear();
        kind.clear();
        std::fill(pre.begin(), pre.end(), 0);
        bool ready = false;
        for (nfds_t i = 0; i < n; ++i) {
            Sock* s = sock_of(fds[i].fd);
            if (!s || !ring_mode(s)) continue;
            const short in = fds[i].events & (POLLIN | POLLRDNORM);
            if (in && !s->hup && !s->draining)
                ext[i].events &= static_cast<short>(~(POLLIN | POLLRDNORM));
            // Errors are looked at for every events mask (POLLERR is always reported); only
            // a POLLIN waits on the doorbell.
            if (const uint32_t e = app_events(s, ring_revents(s, in != 0), fds[i].events)) {
                pre[i] = static_cast<short>(e);
                ready = true;
                continue;
            }
            if (!in) continue;
            ext.push_back({s->ep->fd(), POLLIN, 0});
            owner.push_back(i);
            kind.push_back(0);
            ext.push_back({s->client->fd(), 0, 0});
            owner.push_back(i);
            kind.push_back(1);
        }
        timespec zero{0, 0}, left{};
        const timespec* t = ready ? &zero : nullptr;
        if (!ready && tmo) {
            timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            const uint64_t ns = static_cast<uint64_t>(now.tv_sec) * 1000000000ull +
                                static_cast<uint64_t>(now.tv_nsec);
            const uint64_t l = ns >= deadline_ns ? 0 : deadline_ns - ns;
            left = {static_cast<time_t>(l / 1000000000ull), static_cast<long>(l % 1000000000ull)};
            t = &left;
        }
        // Sockets away or draining: sleeps of at most kWaitSliceMs (g_returning).
        bool capped = false;
        const timespec slice{0, kWaitSliceMs * 1000000L};
        if (!ready && g_returning > 0 && (!t || t->tv_sec > 0 || t->tv_nsec > slice.tv_nsec)) {
            t = &slice;
            capped = true;
        }
        lk.unlock();
        const int rc = real_ppoll(ext.data(), ext.size(), t, mask);
        const int err = errno;
        lk.lock();
        if (rc < 0 && !ready) {
            errno = err;
            return rc;
        }
        int count = 0;
        for (nfds_t i = 0; i < n; ++i) fds[i].revents = rc > 0 ? ext[i].revents : 0;
        for (std::size_t k = 0; rc > 0 && k < owner.size(); ++k) {
            const pollfd& e = ext[n + k];
            if (!e.revents) continue;
            const nfds_t i = owner[k];
            Sock* s = sock_of(fds[i].fd);
            if (!s || !ring_mode(s)) continue;
            if (kind[k] == 1) {
                s->hup = true;
                pre[i] = fds[i].events & (POLLIN | POLLRDNORM);
            } else {
                s->armed = false;
                pre[i] = static_cast<short>(pre[i] |
                                            app_events(s, ring_revents(s, true), fds[i].events));
            }
        }
        for (nfds_t i = 0; i < n; ++i) {
            fds[i].revents |= pre[i];
            if (fds[i].revents) ++count;
        }
        if (count || ready || (tmo && rc == 0 && !capped)) return count;
        // Only doorbells that found nothing new: wait again for what is left of the time.
    }
}

// --- epoll_wait ---------------------------------------------------------------------------

int epoll_impl(int epfd, epoll_event* evs, int max, int timeout, const sigset_t* mask) {
    REAL(epoll_pwait);
    std::unique_lock lk(g_mu);
    bool any = false;
    for (auto& r : g_regs) any = any || (r->epfd == epfd && (ring_mode(r->s) || r->s->away));
    if (!any || max <= 0) {
        lk.unlock();
        return real_epoll_pwait(epfd, evs, max, timeout, mask);
    }
    const uint64_t deadline = timeout > 0 ? now_ms() + static_cast<uint64_t>(timeout) : 0;
    thread_local std::vector<epoll_event> got;  // kept per thread, as poll_impl's
    if (got.size() < static_cast<std::size_t>(max)) got.resize(static_cast<std::size_t>(max));
    for (;;) {
        int out = 0;
        auto emit = [&](const epoll_data_t& data, uint32_t e) {
            for (int k = 0; k < out; ++k)
                if (evs[k].data.u64 == data.u64) {
                    evs[k].events |= e;
                    return true;
                }
            if (out >= max) return false;
            evs[out].events = e;
            evs[out].data = data;
            ++out;
            return true;
        };
        auto report = [&](EpReg& r, uint32_t e) {
            if (r.disabled || !e) return;
            const bool et = r.events & EPOLLET;
            if (et && r.et_reported) return;
            if (!emit(r.data, e)) return;
            if (et) r.et_reported = true;
            if (r.events & EPOLLONESHOT) r.disabled = true;
        };
        // The rings' events (EPOLLERR for every registration, as ep_item_poll() adds it;
        // only an EPOLLIN one has the doorbell in the set and arms the rings).
        auto ring_events = [&](EpReg& r) {
            return app_events(r.s, ring_revents(r.s, r.events & EPOLLIN), r.events);
        };
        for (auto& r : g_regs) {
            if (r->epfd != epfd || !ring_mode(r->s) || r->disabled) continue;
            if (const uint32_t e = ring_events(*r))
                report(*r, e);
            else
                r->et_reported = false;
        }
        int wait = out ? 0 : timeout;
        if (!out && deadline) {
            const uint64_t now = now_ms();
            wait = now >= deadline ? 0 : static_cast<int>(deadline - now);
        }
        // Sockets away or draining: sleeps of at most kWaitSliceMs (g_returning).
        if (g_returning > 0 && (wait < 0 || wait > kWaitSliceMs)) wait = kWaitSliceMs;
        lk.unlock();
        const int rc = real_epoll_pwait(epfd, got.data(), max, wait, mask);
        const int err = errno;
        lk.lock();
        if (rc < 0) {
            if (out) return out;
            errno = err;
            return rc;
        }
        for (int k = 0; k < rc; ++k) {
            const epoll_event& e = got[static_cast<std::size_t>(k)];
            if ((e.data.u64 & kTagMask) != kTagMagic) {
                emit(e.data, e.events);
                continue;
            }
            EpReg* r = reg_by_id(static_cast<uint32_t>(e.data.u64));
            if (!r || !ring_mode(r->s)) continue;
            if (e.data.u64 & kTagClient) {
                r->s->hup = true;
                r->et_reported = false;
                sync_regs(r->s);  // the kernel fd takes EPOLLIN; the connection leaves the set
                report(*r, r->events & (EPOLLIN | EPOLLRDNORM));
                continue;
            }
            r->s->armed = false;
            r->et_reported = false;
            if (const uint32_t ev = ring_events(*r)) {
                report(*r, ev);
            } else if ((r->events & EPOLLONESHOT) && !r->disabled) {
                sync_reg(*r);  // the doorbell's one shot went on nothing: re-arm it
            }
        }
        if (out || wait == 0) return out;
    }
}

// --- Socket options -----------------------------------------------------------------------

uint32_t ifindex_of_addr(in_addr a) {
    if (a.s_addr == INADDR_ANY) return 0;
    ifaddrs* list = nullptr;
    uint32_t idx = 0;
    Inside in;
    if (getifaddrs(&list) < 0) return 0;
    for (ifaddrs* i = list; i && !idx; i = i->ifa_next)
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
            reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr == a.s_addr)
            idx = if_nametoindex(i->ifa_name);
    freeifaddrs(list);
    return idx;
}

uint32_t group_of(const sockaddr_storage& ss) {
    return ss.ss_family == AF_INET
               ? ntohl(reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr.s_addr)
               : 0;
}

// What a membership option asks: join or leave, a source or the whole group, and with a
// source, include mode (ADD_SOURCE / JOIN_SOURCE) or exclude mode (BLOCK).
struct McKind {
    bool known, join, include, source;
};

McKind mc_kind(int name) {
    switch (name) {
        case IP_ADD_MEMBERSHIP:
        case MCAST_JOIN_GROUP:
            return {true, true, true, false};
        case IP_DROP_MEMBERSHIP:
        case MCAST_LEAVE_GROUP:
            return {true, false, false, false};
        case IP_ADD_SOURCE_MEMBERSHIP:
        case MCAST_JOIN_SOURCE_GROUP:
            return {true, true, true, true};
        case IP_BLOCK_SOURCE:
        case MCAST_BLOCK_SOURCE:
            return {true, true, false, true};
        case IP_DROP_SOURCE_MEMBERSHIP:
        case IP_UNBLOCK_SOURCE:
        case MCAST_LEAVE_SOURCE_GROUP:
        case MCAST_UNBLOCK_SOURCE:
            return {true, false, false, true};
        default:
            return {};
    }
}

// The multicast request an IPPROTO_IP membership option stands for; false: not one (or too
// short: the kernel refused it already).
bool mc_op(int name, const void* v, socklen_t len, McOp& op) {
    const McKind k = mc_kind(name);
    if (!k.known || !v) return false;
    op = McOp{k.join, 0, 0, {}, k.include};
    const bool mcast = name >= MCAST_JOIN_GROUP;  // the protocol-independent group_req forms
    if (mcast && !k.source && len >= sizeof(group_req)) {
        group_req gr;
        std::memcpy(&gr, v, sizeof gr);
        op.group = group_of(gr.gr_group);
        op.ifindex = gr.gr_interface;
    } else if (mcast && len >= sizeof(group_source_req)) {
        group_source_req gr;
        std::memcpy(&gr, v, sizeof gr);
        op.group = group_of(gr.gsr_group);
        op.ifindex = gr.gsr_interface;
        op.sources = {group_of(gr.gsr_source)};
    } else if (!mcast && !k.source && len >= sizeof(ip_mreq)) {
        ip_mreqn mr{};
        std::memcpy(&mr, v, std::min<std::size_t>(len, sizeof mr));
        op.group = ntohl(mr.imr_multiaddr.s_addr);
        op.ifindex = len >= sizeof(ip_mreqn) && mr.imr_ifindex
                         ? static_cast<uint32_t>(mr.imr_ifindex)
                         : ifindex_of_addr(mr.imr_address);
    } else if (!mcast && len >= sizeof(ip_mreq_source)) {
        ip_mreq_source mr;
        std::memcpy(&mr, v, sizeof mr);
        op.group = ntohl(mr.imr_multiaddr.s_addr);
        op.ifindex = ifindex_of_addr(mr.imr_interface);
        op.sources = {ntohl(mr.imr_sourceaddr.s_addr)};
    } else {
        return false;
    }
    return true;
}

int int_val(const void* v, socklen_t len) {
    if (!v) return 0;
    if (len >= sizeof(int)) {
        int x;
        std::memcpy(&x, v, sizeof x);
        return x;
    }
    return len >= 1 ? *static_cast<const uint8_t*>(v) : 0;
}

// Raw and packet options the endpoint has no equivalent for: a socket filter (classic BPF
// or eBPF; taps take pcap expressions), a fanout group joined after the open, a mapped
// receive ring (the app reads the ring, not recv).
bool unmirrorable(const Sock* s, int level, int name) {
    if (level == SOL_SOCKET)
        return name == SO_ATTACH_FILTER || name == SO_ATTACH_BPF ||
               name == SO_ATTACH_REUSEPORT_CBPF || name == SO_ATTACH_REUSEPORT_EBPF;
    return s->kind == Kind::kPacket && level == SOL_PACKET &&
           (name == PACKET_FANOUT || name == PACKET_RX_RING || name == PACKET_FANOUT_DATA);
}

// Mirrors an option the kernel accepted into the endpoint (or the options of its open).
// Returns 0, or the errno the endpoint refused it with (g_mu held).
int mirror_option(Sock* s, int level, int name, const void* v, socklen_t len) {
    McOp op;
    const bool is_mc = level == IPPROTO_IP && mc_op(name, v, len, op);
    Inside in;
    try {
        if (is_mc) {
            if (s->ep)
                replay(*s->ep, op);
            else
                s->mc.push_back(std::move(op));
            return 0;
        }
        if (level == SOL_RAW && name == kIcmpFilter && s->kind == Kind::kRaw) {
            uint32_t mask = 0;
            if (v) std::memcpy(&mask, v, std::min<std::size_t>(len, sizeof mask));
            s->raw.icmp_filter = mask;
            if (s->ep) s->ep->set_icmp_filter(mask);
            return 0;
        }
        if (s->kind == Kind::kPacket) {
            if (level == SOL_PACKET && name == PACKET_IGNORE_OUTGOING) {
                s->tap.ignore_outgoing = int_val(v, len) != 0;
                if (s->ep) s->ep->set_ignore_outgoing(s->tap.ignore_outgoing);
            } else if (level == SOL_PACKET && name == PACKET_AUXDATA) {
                s->auxdata = int_val(v, len) != 0;
            }
            // PACKET_ADD_MEMBERSHIP (promiscuous, all-multicast, a multicast address) acts on
            // the device, which the kernel has done; the tap sees what the device receives.
            if (level != SOL_SOCKET || name == SO_BINDTODEVICE || name == SO_BINDTOIFINDEX)
                return 0;
        }
        if (level == SOL_SOCKET) {
            switch (name) {
                case SO_REUSEADDR:
                    s->opts.reuseaddr = int_val(v, len) != 0;
                    break;
                case SO_REUSEPORT:
                    s->opts.reuseport = int_val(v, len) != 0;
                    break;
                case SO_RCVBUF:
                    s->opts.rcvbuf = static_cast<uint32_t>(std::max(int_val(v, len), 1));
                    if (s->ep && s->kind == Kind::kUdp)
                        s->ep->set_rcvbuf(static_cast<uint32_t>(std::max(int_val(v, len), 0)));
                    break;
                case SO_BINDTODEVICE: {
                    char name_buf[IFNAMSIZ + 1] = {};
                    if (v) std::memcpy(name_buf, v, std::min<std::size_t>(len, IFNAMSIZ));
                    const uint32_t idx = name_buf[0] ? if_nametoindex(name_buf) : 0;
                    s->opts.ifindex = s->raw.ifindex = idx;
                    if (s->ep) s->ep->bind_to_device(idx);
                    break;
                }
                case SO_BINDTOIFINDEX:
                    s->opts.ifindex = s->raw.ifindex = static_cast<uint32_t>(int_val(v, len));
                    if (s->ep) s->ep->bind_to_device(s->opts.ifindex);
                    break;
                case SO_RCVTIMEO: {
                    timeval tv{};
                    if (v) std::memcpy(&tv, v, std::min<std::size_t>(len, sizeof tv));
                    const long ms = tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
                    s->rcvtimeo_ms = ms > 0 ? static_cast<int>(std::min<long>(ms, INT32_MAX)) : -1;
                    break;
                }
                case SO_TIMESTAMP:
                    s->cmsgs = int_val(v, len) ? (s->cmsgs | kTimestamp) : (s->cmsgs & ~kTimestamp);
                    break;
                case SO_TIMESTAMPNS:
                    s->cmsgs =
                        int_val(v, len) ? (s->cmsgs | kTimestampNs) : (s->cmsgs & ~kTimestampNs);
                    break;
                case SO_RXQ_OVFL:
                    s->cmsgs = int_val(v, len) ? (s->cmsgs | kRxqOvfl) : (s->cmsgs & ~kRxqOvfl);
                    break;
                case SO_TIMESTAMPING:  // an int, or so_timestamping whose first member it is
                case kScmTimestampingNew:
                    s->tsflags = static_cast<uint32_t>(int_val(v, len));
                    s->ts_new = name == kScmTimestampingNew;
                    break;
                case SO_SELECT_ERR_QUEUE:
                    s->select_err_queue = int_val(v, len) != 0;
                    break;
                default:
                    break;
            }
            return 0;
        }
        if (level == IPPROTO_IP) {
            auto bit = [&](uint32_t b) {
                s->cmsgs = int_val(v, len) ? (s->cmsgs | b) : (s->cmsgs & ~b);
            };
            switch (name) {
                case IP_PKTINFO:
                    bit(kPktinfo);
                    break;
                case IP_RECVTOS:
                    bit(kTos);
                    break;
                case IP_RECVTTL:
                    bit(kTtl);
                    break;
                case IP_RECVORIGDSTADDR:
                    bit(kOrigDst);
                    break;
                case IP_RECVOPTS:
                    bit(kRecvOpts);
                    break;
                case IP_RETOPTS:
                    bit(kRetOpts);
                    break;
                case IP_MULTICAST_ALL:
                    s->opts.multicast_all = s->raw.multicast_all = int_val(v, len) != 0;
                    if (s->ep) s->ep->set_multicast_all(s->opts.multicast_all);
                    break;
                case IP_RECVERR:
                    // Turned off, the kernel purges the socket's error queue: the
                    // endpoint's too (the pending error stays, as sk_err does).
                    s->opts.recverr = s->raw.recverr = int_val(v, len) != 0;
                    if (s->ep) {
                        s->ep->set_recverr(s->opts.recverr);
                        if (!s->opts.recverr) s->ep->purge_errq();
                    }
                    break;
                default:
                    break;
            }
        }
    } catch (const ingress::Error& e) {
        say(Say::kInfo, "setsockopt(%d, %d) refused by ingressd: %s", level, name, e.what());
        return e.code() > 0 ? e.code() : EINVAL;
    }
    return 0;
}

// --- fd bookkeeping -----------------------------------------------------------------------

void unref(int fd) {
    Sock* s = sock_of(fd);
    if (!s) return;
    set_fd(fd, nullptr);
    std::erase_if(g_regs,
                  [&](const std::unique_ptr<EpReg>& r) { return r->fd == fd && r->s == s; });
    if (--s->refs > 0) return;
    drop_endpoint(s);
    set_away(s, false);
    set_draining(s, false);
    std::erase_if(g_regs, [&](const std::unique_ptr<EpReg>& r) { return r->s == s; });
    delete s;
}

void adopt_dup(int from, int to) {
    Sock* s = sock_of(from);
    if (!s || to < 0 || to >= kMaxFd || to == from) return;
    unref(to);
    ++s->refs;
    set_fd(to, s);
}

// fork: the child holds the parent's sockets (and their connections, rings and doorbells);
// both take the shared ring indices before each receive from then on. The lock is held
// across the fork so the child does not inherit it taken.
void fork_prepare() {
    g_mu.lock();
}

void mark_shared() {
    for (Sock*& s : g_fds)
        if (s) s->shared = true;
}

void fork_parent() {
    mark_shared();
    g_mu.unlock();
}

// The child's thread has another id than the one that took the lock: a fresh lock.
void fork_child() {
    mark_shared();
    new (&g_mu) std::recursive_mutex();
}

int sockopt_int(int fd, int level, int name) {
    int v = 0;
    socklen_t len = sizeof v;
    return getsockopt(fd, level, name, &v, &len) == 0 ? v : 0;
}

// exec: the new image's inherited UDP sockets (the old image's endpoints went with its
// close-on-exec connections). Each bound one gets an endpoint again, with the options the
// kernel socket reports; memberships are not read back (README).
void adopt_inherited() {
    for (int fd = 0; fd < 1024; ++fd) {
        if (sockopt_int(fd, SOL_SOCKET, SO_DOMAIN) != AF_INET ||
            sockopt_int(fd, SOL_SOCKET, SO_TYPE) != SOCK_DGRAM ||
            sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL) != IPPROTO_UDP)
            continue;
        auto* s = new Sock;
        s->refs = 1;
        REAL(fcntl);
        s->nonblock = real_fcntl(fd, F_GETFL) & O_NONBLOCK;
        s->opts.reuseaddr = sockopt_int(fd, SOL_SOCKET, SO_REUSEADDR) != 0;
        s->opts.reuseport = sockopt_int(fd, SOL_SOCKET, SO_REUSEPORT) != 0;
        s->opts.ifindex = static_cast<uint32_t>(sockopt_int(fd, SOL_SOCKET, SO_BINDTOIFINDEX));
        s->opts.multicast_all = sockopt_int(fd, IPPROTO_IP, IP_MULTICAST_ALL) != 0;
        s->opts.recverr = sockopt_int(fd, IPPROTO_IP, IP_RECVERR) != 0;
        s->select_err_queue = sockopt_int(fd, SOL_SOCKET, SO_SELECT_ERR_QUEUE) != 0;
        const std::pair<int, uint32_t> bits[] = {
            {IP_PKTINFO, kPktinfo},         {IP_RECVTOS, kTos},       {IP_RECVTTL, kTtl},
            {IP_RECVORIGDSTADDR, kOrigDst}, {IP_RECVOPTS, kRecvOpts}, {IP_RETOPTS, kRetOpts}};
        for (auto [name, bit] : bits)
            if (sockopt_int(fd, IPPROTO_IP, name)) s->cmsgs |= bit;
        if (sockopt_int(fd, SOL_SOCKET, SO_TIMESTAMP)) s->cmsgs |= kTimestamp;
        if (sockopt_int(fd, SOL_SOCKET, SO_TIMESTAMPNS)) s->cmsgs |= kTimestampNs;
        if (sockopt_int(fd, SOL_SOCKET, SO_RXQ_OVFL)) s->cmsgs |= kRxqOvfl;
        s->tsflags = static_cast<uint32_t>(sockopt_int(fd, SOL_SOCKET, SO_TIMESTAMPING));
        sockaddr_in peer{};
        socklen_t plen = sizeof peer;
        if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) == 0) {
            s->opts.remote_addr = ntohl(peer.sin_addr.s_addr);
            s->opts.remote_port = ntohs(peer.sin_port);
        }
        set_fd(fd, s);
        // The old image's endpoint may not be gone yet when its connection closed at exec
        // (the daemon drops it when it reads the hangup): a port still taken is asked again
        // for up to 300 ms.
        int err = 0;
        for (int tries = 0; tries < 30; ++tries) {
            s->tried = false;
            err = open_endpoint(s, fd, true);
            if (err != EADDRINUSE) break;
            REAL(poll);
            real_poll(nullptr, 0, 10);
        }
        if (err && err != EINVAL) {
            s->tried = false;
            open_endpoint(s, fd);  // says why
        }
    }
}

__attribute__((constructor)) void preload_init() {
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    std::lock_guard lk(g_mu);
    adopt_inherited();
}

}  // namespace

// --- Interposed calls ---------------------------------------------------------------------

extern "C" {

int socket(int domain, int type, int protocol) {
    REAL(socket);
    const int base = type & 0xf;
    const bool udp =
        domain == AF_INET && base == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP);
    // IPPROTO_RAW (255) sockets only send; protocol 0 is refused by the kernel.
    const bool raw =
        domain == AF_INET && base == SOCK_RAW && protocol > 0 && protocol < IPPROTO_RAW;
    const bool packet = domain == AF_PACKET && (base == SOCK_RAW || base == SOCK_DGRAM);
    // A packet socket is made with protocol 0 (hooked nowhere: the tap receives for it) and
    // bound with the app's protocol if the tap cannot be had.
    const int fd = real_socket(domain, type, packet && !t_inside ? 0 : protocol);
    if (fd < 0 || t_inside || fd >= kMaxFd) return fd;
    std::lock_guard lk(g_mu);
    unref(fd);  // a number closed behind the shim's back
    if (!udp && !raw && !packet) return fd;
    const int err = errno;
    auto* s = new Sock;
    s->refs = 1;
    s->nonblock = type & SOCK_NONBLOCK;
    set_fd(fd, s);
    if (raw) {
        s->kind = Kind::kRaw;
        s->raw.protocol = static_cast<uint8_t>(protocol);
        open_endpoint(s, fd);  // a raw socket receives from its creation
    } else if (packet) {
        s->kind = Kind::kPacket;
        s->tap.ethertype = ntohs(static_cast<uint16_t>(protocol));
        s->tap.dgram = base == SOCK_DGRAM;
        open_endpoint(s, fd);  // receives from its creation when it has a protocol
    }
    errno = err;
    return fd;
}

int bind(int fd, const sockaddr* addr, socklen_t len) {
    REAL(bind);
    Sock* s = sock_of(fd);
    if (s && s->kind == Kind::kPacket && addr && addr->sa_family == AF_PACKET &&
        len >= sizeof(sockaddr_ll)) {
        std::lock_guard lk(g_mu);
        if (s->tried && !s->ep) return real_bind(fd, addr, len);  // the kernel's
        // The kernel checks the interface with protocol 0 (the socket stays hooked nowhere);
        // the tap takes the protocol (0: the one it has, as packet_bind) and the interface.
        sockaddr_ll sll;
        std::memcpy(&sll, addr, sizeof sll);
        const uint16_t proto = sll.sll_protocol ? ntohs(sll.sll_protocol) : s->tap.ethertype;
        sll.sll_protocol = 0;
        const int rc = real_bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll);
        if (rc < 0) return rc;
        const int err = errno;
        s->tap.ethertype = proto;
        s->tap.ifindex = static_cast<uint32_t>(sll.sll_ifindex);
        reopen_endpoint(s, fd);
        errno = err;
        return rc;
    }
    const int rc = real_bind(fd, addr, len);
    if (rc < 0 || !s) return rc;
    const int err = errno;
    std::lock_guard lk(g_mu);
    if (s->kind == Kind::kRaw) {
        // raw_bind(): the local address datagrams must be sent to.
        if (addr && len >= sizeof(sockaddr_in)) {
            s->raw.addr = ntohl(reinterpret_cast<const sockaddr_in*>(addr)->sin_addr.s_addr);
            if (s->ep || !s->tried) reopen_endpoint(s, fd);
        }
    } else {
        maybe_open(s, fd);
    }
    errno = err;
    return rc;
}

int connect(int fd, const sockaddr* addr, socklen_t len) {
    REAL(connect);
    const int rc = real_connect(fd, addr, len);
    Sock* s = sock_of(fd);
    if (rc < 0 || !s || !addr) return rc;
    const int err = errno;
    std::lock_guard lk(g_mu);
    if (s->kind == Kind::kPacket) {
        errno = err;
        return rc;
    }
    if (s->kind == Kind::kRaw) {
        // ip4_datagram_connect(): only the peer's datagrams from now on (AF_UNSPEC: any).
        const uint32_t remote =
            addr->sa_family == AF_INET && len >= sizeof(sockaddr_in)
                ? ntohl(reinterpret_cast<const sockaddr_in*>(addr)->sin_addr.s_addr)
                : 0;
        s->raw.remote_addr = remote;
        if (s->ep) {
            Inside in;
            try {
                s->ep->connect(remote);
            } catch (const ingress::Error& e) {
                fall_back(s, fd, e.what());
            }
        }
        errno = err;
        return rc;
    }
    if (addr->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(addr);
        s->opts.remote_addr = ntohl(sin->sin_addr.s_addr);
        s->opts.remote_port = ntohs(sin->sin_port);
    } else if (addr->sa_family == AF_UNSPEC) {
        s->opts.remote_addr = 0;
        s->opts.remote_port = 0;
    }
    // The endpoint's peer is fixed at its open: open it again with the new one.
    if (s->ep) {
        drop_endpoint(s);
        sync_regs(s);
        s->tried = false;
    }
    maybe_open(s, fd);
    errno = err;
    return rc;
}

// A packet socket on a tap is bound with protocol 0 in the kernel: its name shows the app's.
int getsockname(int fd, sockaddr* addr, socklen_t* len) {
    REAL(getsockname);
    const socklen_t room = len ? *len : 0;
    const int rc = real_getsockname(fd, addr, len);
    Sock* s = sock_of(fd);
    if (rc < 0 || !s || s->kind != Kind::kPacket || !addr ||
        room < offsetof(sockaddr_ll, sll_protocol) + sizeof(uint16_t))
        return rc;
    std::lock_guard lk(g_mu);
    if (s->ep || !s->tried) {
        const uint16_t proto = htons(s->tap.ethertype);
        std::memcpy(reinterpret_cast<uint8_t*>(addr) + offsetof(sockaddr_ll, sll_protocol), &proto,
                    sizeof proto);
    }
    return rc;
}

int setsockopt(int fd, int level, int name, const void* v, socklen_t len) {
    REAL(setsockopt);
    Sock* s = sock_of(fd);
    if (s && s->kind != Kind::kUdp && unmirrorable(s, level, name)) {
        // The kernel socket takes the socket back first (a packet socket is hooked with its
        // protocol: PACKET_FANOUT needs a running socket), then the option is the kernel's.
        std::lock_guard lk(g_mu);
        if (s->ep || !s->tried) give_up(s, fd, "an option the shim cannot mirror");
    }
    const int rc = real_setsockopt(fd, level, name, v, len);
    if (rc < 0 || !s) return rc;
    std::lock_guard lk(g_mu);
    if (const int e = mirror_option(s, level, name, v, len)) {
        errno = e;
        return -1;
    }
    return rc;
}

int close(int fd) {
    REAL(close);
    if (sock_of(fd)) {
        std::lock_guard lk(g_mu);
        unref(fd);
    } else if (!t_inside && fd >= 0) {
        std::lock_guard lk(g_mu);
        if (!g_regs.empty())
            std::erase_if(g_regs, [&](const std::unique_ptr<EpReg>& r) { return r->epfd == fd; });
    }
    return real_close(fd);
}

int dup(int fd) {
    REAL(dup);
    const int n = real_dup(fd);
    if (n >= 0 && sock_of(fd)) {
        std::lock_guard lk(g_mu);
        adopt_dup(fd, n);
    }
    return n;
}

int dup2(int fd, int to) {
    REAL(dup2);
    const int n = real_dup2(fd, to);
    if (n >= 0 && fd != to && !t_inside) {
        std::lock_guard lk(g_mu);
        unref(to);
        adopt_dup(fd, n);
    }
    return n;
}

int dup3(int fd, int to, int flags) {
    REAL(dup3);
    const int n = real_dup3(fd, to, flags);
    if (n >= 0 && !t_inside) {
        std::lock_guard lk(g_mu);
        unref(to);
        adopt_dup(fd, n);
    }
    return n;
}

static int fcntl_impl(int fd, int cmd, void* arg) {
    using Fcntl = int (*)(int, int, ...);
    static Fcntl real_fcntl = next_symbol<Fcntl>("fcntl");
    const int rc = real_fcntl(fd, cmd, arg);
    Sock* s = sock_of(fd);
    if (rc < 0 || !s) return rc;
    std::lock_guard lk(g_mu);
    if (cmd == F_SETFL) s->nonblock = reinterpret_cast<intptr_t>(arg) & O_NONBLOCK;
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) adopt_dup(fd, rc);
    return rc;
}

// With _FILE_OFFSET_BITS=64 the header names fcntl fcntl64: both symbols, by their names.
int preload_fcntl(int fd, int cmd, ...) __asm__("fcntl");
int preload_fcntl64(int fd, int cmd, ...) __asm__("fcntl64");

int preload_fcntl(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void* arg = va_arg(ap, void*);
    va_end(ap);
    return fcntl_impl(fd, cmd, arg);
}

int preload_fcntl64(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void* arg = va_arg(ap, void*);
    va_end(ap);
    return fcntl_impl(fd, cmd, arg);
}

int ioctl(int fd, unsigned long req, ...) {
    REAL(ioctl);
    va_list ap;
    va_start(ap, req);
    void* arg = va_arg(ap, void*);
    va_end(ap);
    Sock* s = sock_of(fd);
    if (s && (req == FIONREAD) && arg) {
        std::lock_guard lk(g_mu);
        maybe_open(s, fd);
        if (ring_mode(s) && !s->draining) {
            Inside in;
            if (s->shared) s->ep->resync();
            *static_cast<int*>(arg) = static_cast<int>(s->ep->next_len());
            return 0;
        }
    }
    const int rc = real_ioctl(fd, req, arg);
    if (rc == 0 && s && req == FIONBIO && arg) {
        std::lock_guard lk(g_mu);
        s->nonblock = *static_cast<int*>(arg) != 0;
    }
    return rc;
}

// sock_alloc_send_pskb(): a send fails with the socket's pending error, which it takes,
// before anything is sent. The kernel socket's own is the kernel's; the endpoint's (an ICMP
// error ingressd handed it) is taken here. Returns it, or 0.
static int send_error(int fd) {
    Sock* s = sock_of(fd);
    if (!s || !s->ep) return 0;
    std::lock_guard lk(g_mu);
    if (!ring_mode(s) || s->hup) return 0;
    return s->ep->take_pending_error();
}

// The sends autobind an unbound socket: its endpoint opens then (the replies come to it).
static void after_send(int fd, ssize_t rc) {
    Sock* s = sock_of(fd);
    if (rc < 0 || !s || s->tried || s->ep) return;
    const int err = errno;
    std::lock_guard lk(g_mu);
    maybe_open(s, fd);
    errno = err;
}

ssize_t sendto(int fd, const void* buf, size_t len, int flags, const sockaddr* to, socklen_t tl) {
    REAL(sendto);
    if (const int err = send_error(fd)) {
        errno = err;
        return -1;
    }
    const ssize_t rc = real_sendto(fd, buf, len, flags, to, tl);
    after_send(fd, rc);
    return rc;
}

ssize_t send(int fd, const void* buf, size_t len, int flags) {
    return sendto(fd, buf, len, flags, nullptr, 0);
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
    REAL(sendmsg);
    if (const int err = send_error(fd)) {
        errno = err;
        return -1;
    }
    const ssize_t rc = real_sendmsg(fd, msg, flags);
    after_send(fd, rc);
    return rc;
}

int sendmmsg(int fd, mmsghdr* v, unsigned int n, int flags) {
    REAL(sendmmsg);
    if (const int err = send_error(fd)) {
        errno = err;
        return -1;
    }
    const int rc = real_sendmmsg(fd, v, n, flags);
    after_send(fd, rc);
    return rc;
}

ssize_t recvmsg(int fd, msghdr* msg, int flags) {
    Sock* s = sock_of(fd);
    if (s && msg) {
        const ssize_t r = ring_recvmsg(s, fd, msg, flags);
        if (r != kKernel) {
            if (r >= 0) return r;
            errno = static_cast<int>(-r);
            return -1;
        }
    }
    REAL(recvmsg);
    return real_recvmsg(fd, msg, flags);
}

ssize_t recvfrom(int fd, void* buf, size_t len, int flags, sockaddr* from, socklen_t* fl) {
    Sock* s = sock_of(fd);
    if (s) {
        iovec iov{buf, len};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_name = from;
        m.msg_namelen = from && fl ? *fl : 0;
        const ssize_t r = ring_recvmsg(s, fd, &m, flags);
        if (r != kKernel) {
            if (r < 0) {
                errno = static_cast<int>(-r);
                return -1;
            }
            if (from && fl) *fl = m.msg_namelen;
            return r;
        }
    }
    REAL(recvfrom);
    return real_recvfrom(fd, buf, len, flags, from, fl);
}

ssize_t recv(int fd, void* buf, size_t len, int flags) {
    return recvfrom(fd, buf, len, flags, nullptr, nullptr);
}

ssize_t __recv_chk(int fd, void* buf, size_t len, size_t, int flags) {
    return recvfrom(fd, buf, len, flags, nullptr, nullptr);
}

ssize_t __recvfrom_chk(int fd, void* buf, size_t len, size_t, int flags, sockaddr* from,
                       socklen_t* fl) {
    return recvfrom(fd, buf, len, flags, from, fl);
}

int recvmmsg(int fd, mmsghdr* v, unsigned int n, int flags, timespec* tmo) {
    Sock* s = sock_of(fd);
    if (s && v && n > 0) {
        unsigned int got = 0;
        int err = 0;
        bool kernel = false;
        for (; got < n; ++got) {
            int f = flags & ~MSG_WAITFORONE;
            if (got > 0 && (flags & MSG_WAITFORONE)) f |= MSG_DONTWAIT;
            if (got > 0 && tmo) f |= MSG_DONTWAIT;  // the timeout: what is there after the first
            const ssize_t r = ring_recvmsg(s, fd, &v[got].msg_hdr, f);
            if (r == kKernel) {
                kernel = got == 0;
                break;
            }
            if (r < 0) {
                err = static_cast<int>(-r);
                break;
            }
            v[got].msg_len = static_cast<unsigned int>(r);
        }
        if (!kernel) {
            if (got > 0) return static_cast<int>(got);
            errno = err ? err : EAGAIN;
            return -1;
        }
    }
    REAL(recvmmsg);
    return real_recvmmsg(fd, v, n, flags, tmo);
}

ssize_t read(int fd, void* buf, size_t len) {
    Sock* s = sock_of(fd);
    if (s) return recvfrom(fd, buf, len, 0, nullptr, nullptr);
    REAL(read);
    return real_read(fd, buf, len);
}

ssize_t __read_chk(int fd, void* buf, size_t len, size_t) {
    return read(fd, buf, len);
}

ssize_t readv(int fd, const iovec* iov, int n) {
    Sock* s = sock_of(fd);
    if (s) {
        msghdr m{};
        m.msg_iov = const_cast<iovec*>(iov);
        m.msg_iovlen = static_cast<std::size_t>(n);
        return recvmsg(fd, &m, 0);
    }
    REAL(readv);
    return real_readv(fd, iov, n);
}

int poll(pollfd* fds, nfds_t n, int timeout) {
    if (t_inside) {
        REAL(poll);
        return real_poll(fds, n, timeout);
    }
    timespec t{timeout / 1000, (timeout % 1000) * 1000000L};
    return poll_impl(fds, n, timeout < 0 ? nullptr : &t, nullptr);
}

int __poll_chk(pollfd* fds, nfds_t n, int timeout, size_t) {
    return poll(fds, n, timeout);
}

int ppoll(pollfd* fds, nfds_t n, const timespec* t, const sigset_t* mask) {
    if (t_inside) {
        REAL(ppoll);
        return real_ppoll(fds, n, t, mask);
    }
    return poll_impl(fds, n, t, mask);
}

int __ppoll_chk(pollfd* fds, nfds_t n, const timespec* t, const sigset_t* mask, size_t) {
    return ppoll(fds, n, t, mask);
}

static int select_impl(int nfds, fd_set* r, fd_set* w, fd_set* e, const timespec* t,
                       const sigset_t* mask, bool* handled) {
    *handled = false;
    bool any = false;
    for (int fd = 0; r && fd < nfds && fd < FD_SETSIZE && !any; ++fd) {
        Sock* s = FD_ISSET(fd, r) ? sock_of(fd) : nullptr;
        any = s && ring_mode(s);
    }
    if (!any) return 0;
    *handled = true;
    thread_local std::vector<pollfd> p;  // kept per thread (poll_impl's own are others)
    p.clear();
    for (int fd = 0; fd < nfds && fd < FD_SETSIZE; ++fd) {
        short ev = 0;
        if (r && FD_ISSET(fd, r)) ev |= POLLIN;
        if (w && FD_ISSET(fd, w)) ev |= POLLOUT;
        if (e && FD_ISSET(fd, e)) ev |= POLLPRI;
        if (ev) p.push_back({fd, ev, 0});
    }
    const int rc = poll_impl(p.data(), p.size(), t, mask);
    if (rc < 0) return rc;
    if (r) FD_ZERO(r);
    if (w) FD_ZERO(w);
    if (e) FD_ZERO(e);
    int count = 0;
    for (const pollfd& q : p) {
        if (r && (q.events & POLLIN) && (q.revents & (POLLIN | POLLHUP | POLLERR))) {
            FD_SET(q.fd, r);
            ++count;
        }
        if (w && (q.events & POLLOUT) && (q.revents & (POLLOUT | POLLERR))) {
            FD_SET(q.fd, w);
            ++count;
        }
        if (e && (q.events & POLLPRI) && (q.revents & POLLPRI)) {
            FD_SET(q.fd, e);
            ++count;
        }
        if (q.revents & POLLNVAL) {
            errno = EBADF;
            return -1;
        }
    }
    return count;
}

int select(int nfds, fd_set* r, fd_set* w, fd_set* e, timeval* tv) {
    if (!t_inside) {
        timespec t{}, *tp = nullptr;
        if (tv) {
            t = {tv->tv_sec, tv->tv_usec * 1000L};
            tp = &t;
        }
        const uint64_t start = now_ms();
        bool handled;
        const int rc = select_impl(nfds, r, w, e, tp, nullptr, &handled);
        if (handled) {
            if (tv) {  // Linux writes back the time left
                const uint64_t spent = now_ms() - start;
                const uint64_t total = static_cast<uint64_t>(tv->tv_sec) * 1000 +
                                       static_cast<uint64_t>(tv->tv_usec) / 1000;
                const uint64_t left = spent >= total ? 0 : total - spent;
                tv->tv_sec = static_cast<time_t>(left / 1000);
                tv->tv_usec = static_cast<suseconds_t>(left % 1000 * 1000);
            }
            return rc;
        }
    }
    REAL(select);
    return real_select(nfds, r, w, e, tv);
}

int pselect(int nfds, fd_set* r, fd_set* w, fd_set* e, const timespec* t, const sigset_t* mask) {
    if (!t_inside) {
        bool handled;
        const int rc = select_impl(nfds, r, w, e, t, mask, &handled);
        if (handled) return rc;
    }
    REAL(pselect);
    return real_pselect(nfds, r, w, e, t, mask);
}

int epoll_ctl(int epfd, int op, int fd, epoll_event* ev) {
    Sock* s = sock_of(fd);
    if (!s) return real_epoll_ctl(epfd, op, fd, ev);
    std::lock_guard lk(g_mu);
    EpReg* r = nullptr;
    for (auto& x : g_regs)
        if (x->epfd == epfd && x->fd == fd) r = x.get();
    if (op == EPOLL_CTL_DEL) {
        const int rc = real_epoll_ctl(epfd, op, fd, ev);
        if (r) {
            if (r->bell >= 0) real_epoll_ctl(epfd, EPOLL_CTL_DEL, r->bell, nullptr);
            if (r->cfd >= 0) real_epoll_ctl(epfd, EPOLL_CTL_DEL, r->cfd, nullptr);
            std::erase_if(g_regs, [&](const std::unique_ptr<EpReg>& x) { return x.get() == r; });
        }
        return rc;
    }
    if (!ev) return real_epoll_ctl(epfd, op, fd, ev);
    // The kernel's answer first (EEXIST, ENOENT, EINVAL...), with the app's events; sync_reg
    // then takes EPOLLIN over to the doorbell.
    const int rc = real_epoll_ctl(epfd, op, fd, ev);
    if (rc < 0) return rc;
    if (op == EPOLL_CTL_ADD || !r) {
        auto n = std::make_unique<EpReg>();
        n->id = g_next_reg++;
        n->epfd = epfd;
        n->fd = fd;
        n->s = s;
        n->pid = getpid();
        r = n.get();
        g_regs.push_back(std::move(n));
    }
    r->events = ev->events;
    r->data = ev->data;
    r->disabled = false;
    r->et_reported = false;
    const int err = errno;
    sync_reg(*r);
    errno = err;
    return rc;
}

int epoll_wait(int epfd, epoll_event* evs, int max, int timeout) {
    if (t_inside) {
        REAL(epoll_wait);
        return real_epoll_wait(epfd, evs, max, timeout);
    }
    return epoll_impl(epfd, evs, max, timeout, nullptr);
}

int epoll_pwait(int epfd, epoll_event* evs, int max, int timeout, const sigset_t* mask) {
    if (t_inside) {
        REAL(epoll_pwait);
        return real_epoll_pwait(epfd, evs, max, timeout, mask);
    }
    return epoll_impl(epfd, evs, max, timeout, mask);
}

}  // extern "C"
