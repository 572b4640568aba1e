// libingress-preload: `LD_PRELOAD=libingress-preload.so APP` runs an unmodified UDP app on
// ingressd's rings (README, "Running an existing app unmodified"; docs/man/
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
// Fallback: no daemon, or a refused open (policy, port taken): a plain kernel socket. The
// daemon exiting: the endpoint's rings are read out, then the socket receives from the kernel
// socket (the XDP program passes the traffic to the kernel while no ingressd runs).
#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <ingress/client.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
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
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
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

// INGRESS_PRELOAD_LOG=1: every open and fallback; unset: the first fallback of the process,
// once; 0: nothing.
int log_level() {
    static const int level = [] {
        const char* v = getenv("INGRESS_PRELOAD_LOG");
        if (!v || !*v) return 1;
        return atoi(v) > 0 ? 2 : 0;
    }();
    return level;
}

std::atomic<bool> g_said_fallback{false};

void say(bool fallback, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void say(bool fallback, const char* fmt, ...) {
    const int level = log_level();
    if (level == 0) return;
    if (level == 1 && (!fallback || g_said_fallback.exchange(true))) return;
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

// The endpoint, with what the shim needs beyond the library's calls: a receive that leaves
// the datagram in the ring (MSG_PEEK: after a fork, the datagram a parent peeked is the one
// the child reads, as with a socket's queue), and the shared consumer index taken again
// (after a fork, the other process may have consumed).
class ShimEndpoint : public ingress::UdpEndpoint {
public:
    explicit ShimEndpoint(ingress::UdpEndpoint&& e) : ingress::UdpEndpoint(std::move(e)) {}

    void resync() noexcept {
        for (std::vector<Ring>* v : {&stale_, &rings_})
            for (Ring& r : *v)
                if (!r.held) r.cons = ingress::shm::RingConsumer(r.region.data());
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

struct Sock {
    int refs = 0;  // this process's fds naming it
    ingress::UdpOptions opts;
    std::vector<McOp> mc;  // memberships set before the endpoint opened, replayed at open
    uint32_t cmsgs = 0;
    bool nonblock = false;
    int rcvtimeo_ms = -1;
    bool tried = false;   // an open was attempted (refused: a kernel socket for good)
    bool hup = false;     // the control connection hung up: read out, then the kernel socket
    bool armed = false;   // prepare_sleep armed the rings and no doorbell was seen since
    bool shared = false;  // a fork happened: another process may consume from the rings
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
    kev.events = (rings && !s->hup) ? (r.events & ~in) : r.events;
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

void fall_back(Sock* s, int fd, const char* why) {
    say(true, "fd %d (UDP port %u): %s; receiving on the kernel socket from now on", fd,
        s->opts.port, why);
    drop_endpoint(s);
    sync_regs(s);
}

const char* ctl_path() {
    const char* p = getenv("INGRESS_PRELOAD_SOCKET");
    return p && *p ? p : ingress::kDefaultCtlPath;
}

void replay(ingress::UdpEndpoint& ep, const McOp& m) {
    if (m.join)
        ep.join(m.group, m.ifindex, m.sources, m.include);
    else
        ep.leave(m.group, m.ifindex, m.sources);
}

// The socket got its local port: open the endpoint (g_mu held). Once per socket, except
// that connect() reopens with the peer. Returns 0 or the errno of the refusal (`quiet`: not
// said, the caller tries again).
int open_endpoint(Sock* s, int fd, bool quiet = false) {
    sockaddr_in sin{};
    socklen_t len = sizeof sin;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) < 0 || sin.sin_port == 0)
        return EINVAL;
    s->opts.addr = ntohl(sin.sin_addr.s_addr);
    s->opts.port = ntohs(sin.sin_port);
    s->tried = true;
    Inside in;
    try {
        auto c = std::make_unique<ingress::Client>(ingress::Client::connect(ctl_path()));
        c->set_reconnect(false);
        auto ep = std::make_unique<ShimEndpoint>(c->open_udp(s->opts));
        for (const McOp& m : s->mc) replay(*ep, m);
        s->client = std::move(c);
        s->ep = std::move(ep);
        s->mc.clear();
        say(false, "fd %d: UDP %s:%u on ingressd's rings (endpoint %u)", fd,
            inet_ntoa(sin.sin_addr), s->opts.port, s->ep->id());
    } catch (const std::exception& e) {
        const auto* ie = dynamic_cast<const ingress::Error*>(&e);
        const int err = ie && ie->code() > 0 ? ie->code() : EIO;
        if (quiet) return err;
        say(true,
            "fd %d (UDP port %u): no ingressd endpoint (%s); a plain kernel socket, which "
            "receives only what ingressd does not steer",
            fd, s->opts.port, e.what());
        return err;
    }
    sync_regs(s);
    return 0;
}

void maybe_open(Sock* s, int fd) {
    if (!s->tried && !s->ep) open_endpoint(s, fd);
}

// --- Receiving from the rings -------------------------------------------------------------

constexpr ssize_t kKernel = -100000;  // not served here: the kernel socket's call

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

// udp_recvmsg's order: sock_recv_cmsgs (timestamp, drops), then ip_cmsg_recv (PKTINFO,
// TTL, TOS, RECVOPTS, RETOPTS, ORIGDSTADDR).
void fill_msg(const Sock* s, const ingress::Message& m, msghdr* msg) {
    if (msg->msg_name && msg->msg_namelen > 0) {
        std::memcpy(msg->msg_name, &m.src, std::min<std::size_t>(msg->msg_namelen, sizeof m.src));
        msg->msg_namelen = sizeof m.src;
    } else {
        msg->msg_namelen = 0;
    }
    std::size_t used = 0;
    const ingress_meta& md = m.meta;
    if (s->cmsgs & kTimestampNs) {
        timespec ts{static_cast<time_t>(md.rx_ns / 1000000000ull),
                    static_cast<long>(md.rx_ns % 1000000000ull)};
        put_cmsg(msg, used, SOL_SOCKET, SO_TIMESTAMPNS, &ts, sizeof ts);
    } else if (s->cmsgs & kTimestamp) {
        timeval tv{static_cast<time_t>(md.rx_ns / 1000000000ull),
                   static_cast<suseconds_t>(md.rx_ns % 1000000000ull / 1000)};
        put_cmsg(msg, used, SOL_SOCKET, SO_TIMESTAMP, &tv, sizeof tv);
    }
    if (s->cmsgs & kRxqOvfl) {
        const uint32_t drops = md.drops;
        if (drops) put_cmsg(msg, used, SOL_SOCKET, SO_RXQ_OVFL, &drops, sizeof drops);
    }
    if (s->cmsgs & kPktinfo) {
        in_pktinfo pi{};
        pi.ipi_ifindex = static_cast<int>(md.ifindex);
        pi.ipi_spec_dst.s_addr = htonl(md.dst_addr);
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
    // ip_cmsg_recv_opts / ip_cmsg_recv_retopts: only for a datagram that had options.
    if ((s->cmsgs & kRecvOpts) && md.ip_optlen)
        put_cmsg(msg, used, IPPROTO_IP, IP_RECVOPTS, m.ip_opts, md.ip_optlen);
    if ((s->cmsgs & kRetOpts) && md.ip_optlen) {
        if (md.flags & INGRESS_F_RETOPTS_CTRUNC)
            msg->msg_flags |= MSG_CTRUNC;
        else
            put_cmsg(msg, used, IPPROTO_IP, IP_RETOPTS, m.ip_opts + md.ip_optlen, md.ip_retoptlen);
    }
    if (s->cmsgs & kOrigDst) {
        sockaddr_in o{};
        o.sin_family = AF_INET;
        o.sin_addr.s_addr = htonl(md.dst_addr);
        o.sin_port = htons(md.dst_port);
        put_cmsg(msg, used, IPPROTO_IP, IP_ORIGDSTADDR, &o, sizeof o);
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
    const ingress_meta* md = nullptr;
    const uint8_t* data = nullptr;
    uint32_t have = 0;
    if (!ep.peek_next(&md, &data, &have)) {
        // Empty. After the daemon's hangup nothing more will come: the kernel socket's turn
        // (what the exited daemon delivered has been read).
        if (hung_up(s)) {
            fall_back(s, fd, "ingressd exited");
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
        fill_msg(s, m, msg);
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
        fall_back(s, fd, e.code() == ECONNRESET ? "ingressd exited" : e.what());
        return kKernel;
    }
    if (n == 0) return -EAGAIN;
    fill_msg(s, m, msg);
    const uint32_t copied = std::min(m.meta.len, m.buf_len);
    if (direct) {
        if (m.len > copied) msg->msg_flags |= MSG_TRUNC;
        return (flags & MSG_TRUNC) ? m.len : copied;
    }
    return scatter(s->scratch.data(), copied, m.len, msg, flags);
}

uint64_t now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

constexpr int kWaitSliceMs = 200;

// recvmsg on a shim socket: from the rings, with the socket's blocking mode, SO_RCVTIMEO and
// the call's flags. kKernel: the caller makes the kernel's call.
ssize_t ring_recvmsg(Sock* s, int fd, msghdr* msg, int flags) {
    if (flags & MSG_ERRQUEUE) return kKernel;  // ICMP errors reach the kernel socket
    std::unique_lock lk(g_mu);
    if (sock_of(fd) != s) return kKernel;
    maybe_open(s, fd);
    const bool wait = !(flags & MSG_DONTWAIT) && !s->nonblock;
    const int timeout = s->rcvtimeo_ms;
    const uint64_t deadline = timeout > 0 ? now_ms() + static_cast<uint64_t>(timeout) : 0;
    for (;;) {
        if (!ring_mode(s)) return kKernel;
        const ssize_t r = take_one(s, fd, msg, flags);
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
        int left = kWaitSliceMs;
        if (deadline) {
            const uint64_t now = now_ms();
            if (now >= deadline) return -EAGAIN;
            left = static_cast<int>(std::min<uint64_t>(deadline - now, kWaitSliceMs));
        }
        lk.unlock();
        REAL(poll);
        const int rc = real_poll(p, 2, left);
        const int err = errno;
        lk.lock();
        if (sock_of(fd) != s) return -EBADF;
        if (rc < 0 && err == EINTR) return -EINTR;
        if (rc > 0 && (p[1].revents & (POLLHUP | POLLERR | POLLRDHUP))) s->hup = true;
    }
}

// --- Readiness ----------------------------------------------------------------------------

// Data (or an event that a receive reports) waiting; arms the rings when there is none
// (g_mu held).
bool ring_ready(Sock* s) {
    if (s->hup) return true;
    Inside in;
    if (s->shared) s->ep->resync();
    if (s->ep->readable()) return true;
    if (s->armed) return false;
    if (!s->ep->prepare_sleep()) return true;
    s->armed = true;
    return false;
}

int poll_impl(pollfd* fds, nfds_t n, const timespec* tmo, const sigset_t* mask) {
    REAL(ppoll);
    std::unique_lock lk(g_mu);
    bool any = false;
    for (nfds_t i = 0; i < n && !any; ++i) {
        Sock* s = sock_of(fds[i].fd);
        any = s && ring_mode(s) && (fds[i].events & (POLLIN | POLLRDNORM));
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
            const short in = fds[i].events & (POLLIN | POLLRDNORM);
            if (!s || !ring_mode(s) || !in) continue;
            if (!s->hup) ext[i].events &= static_cast<short>(~(POLLIN | POLLRDNORM));
            if (ring_ready(s)) {
                pre[i] = in;
                ready = true;
                continue;
            }
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
                if (ring_ready(s)) pre[i] = fds[i].events & (POLLIN | POLLRDNORM);
            }
        }
        for (nfds_t i = 0; i < n; ++i) {
            fds[i].revents |= pre[i];
            if (fds[i].revents) ++count;
        }
        if (count || ready || (tmo && rc == 0)) return count;
        // Only doorbells that found nothing new: wait again for what is left of the time.
    }
}

// --- epoll_wait ---------------------------------------------------------------------------

int epoll_impl(int epfd, epoll_event* evs, int max, int timeout, const sigset_t* mask) {
    REAL(epoll_pwait);
    std::unique_lock lk(g_mu);
    bool any = false;
    for (auto& r : g_regs) any = any || (r->epfd == epfd && ring_mode(r->s));
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
        auto report = [&](EpReg& r) {
            if (r.disabled) return;
            const bool et = r.events & EPOLLET;
            if (et && r.et_reported) return;
            if (!emit(r.data, r.events & (EPOLLIN | EPOLLRDNORM))) return;
            if (et) r.et_reported = true;
            if (r.events & EPOLLONESHOT) r.disabled = true;
        };
        for (auto& r : g_regs) {
            if (r->epfd != epfd || !ring_mode(r->s) || !(r->events & EPOLLIN) || r->disabled)
                continue;
            if (ring_ready(r->s))
                report(*r);
            else
                r->et_reported = false;
        }
        int wait = out ? 0 : timeout;
        if (!out && deadline) {
            const uint64_t now = now_ms();
            wait = now >= deadline ? 0 : static_cast<int>(deadline - now);
        }
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
                report(*r);
                continue;
            }
            r->s->armed = false;
            r->et_reported = false;
            if (ring_ready(r->s)) {
                report(*r);
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
                    if (s->ep)
                        s->ep->set_rcvbuf(static_cast<uint32_t>(std::max(int_val(v, len), 0)));
                    break;
                case SO_BINDTODEVICE: {
                    char name_buf[IFNAMSIZ + 1] = {};
                    if (v) std::memcpy(name_buf, v, std::min<std::size_t>(len, IFNAMSIZ));
                    const uint32_t idx = name_buf[0] ? if_nametoindex(name_buf) : 0;
                    s->opts.ifindex = idx;
                    if (s->ep) s->ep->bind_to_device(idx);
                    break;
                }
                case SO_BINDTOIFINDEX:
                    s->opts.ifindex = static_cast<uint32_t>(int_val(v, len));
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
                    s->opts.multicast_all = int_val(v, len) != 0;
                    if (s->ep) s->ep->set_multicast_all(s->opts.multicast_all);
                    break;
                default:
                    break;
            }
        }
    } catch (const ingress::Error& e) {
        say(false, "setsockopt(%d, %d) refused by ingressd: %s", level, name, e.what());
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
        const std::pair<int, uint32_t> bits[] = {
            {IP_PKTINFO, kPktinfo},         {IP_RECVTOS, kTos},       {IP_RECVTTL, kTtl},
            {IP_RECVORIGDSTADDR, kOrigDst}, {IP_RECVOPTS, kRecvOpts}, {IP_RETOPTS, kRetOpts}};
        for (auto [name, bit] : bits)
            if (sockopt_int(fd, IPPROTO_IP, name)) s->cmsgs |= bit;
        if (sockopt_int(fd, SOL_SOCKET, SO_TIMESTAMP)) s->cmsgs |= kTimestamp;
        if (sockopt_int(fd, SOL_SOCKET, SO_TIMESTAMPNS)) s->cmsgs |= kTimestampNs;
        if (sockopt_int(fd, SOL_SOCKET, SO_RXQ_OVFL)) s->cmsgs |= kRxqOvfl;
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
    const int fd = real_socket(domain, type, protocol);
    if (fd < 0 || t_inside || fd >= kMaxFd) return fd;
    std::lock_guard lk(g_mu);
    unref(fd);  // a number closed behind the shim's back
    if (domain == AF_INET && (type & 0xf) == SOCK_DGRAM &&
        (protocol == 0 || protocol == IPPROTO_UDP)) {
        auto* s = new Sock;
        s->refs = 1;
        s->nonblock = type & SOCK_NONBLOCK;
        set_fd(fd, s);
    }
    return fd;
}

int bind(int fd, const sockaddr* addr, socklen_t len) {
    REAL(bind);
    const int rc = real_bind(fd, addr, len);
    Sock* s = sock_of(fd);
    if (rc < 0 || !s) return rc;
    const int err = errno;
    std::lock_guard lk(g_mu);
    maybe_open(s, fd);
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

int setsockopt(int fd, int level, int name, const void* v, socklen_t len) {
    REAL(setsockopt);
    const int rc = real_setsockopt(fd, level, name, v, len);
    Sock* s = sock_of(fd);
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
        if (ring_mode(s)) {
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
    const ssize_t rc = real_sendto(fd, buf, len, flags, to, tl);
    after_send(fd, rc);
    return rc;
}

ssize_t send(int fd, const void* buf, size_t len, int flags) {
    return sendto(fd, buf, len, flags, nullptr, 0);
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
    REAL(sendmsg);
    const ssize_t rc = real_sendmsg(fd, msg, flags);
    after_send(fd, rc);
    return rc;
}

int sendmmsg(int fd, mmsghdr* v, unsigned int n, int flags) {
    REAL(sendmmsg);
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
