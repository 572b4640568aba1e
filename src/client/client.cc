#include <ingress/client.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

#include "ctl/protocol.h"
#include "ctl/unix_socket.h"

namespace ingress {

namespace {

ctl::Message parse_reply(const std::vector<uint8_t>& bytes) {
    ctl::ParseResult pr = ctl::parse(bytes);
    if (!pr.msg) throw Error(EPROTO, std::string("bad reply: ") + ctl::parse_error_str(pr.error));
    return *pr.msg;
}

void close_all(std::vector<int>& fds) {
    for (int f : fds)
        if (f >= 0) ::close(f);
    fds.clear();
}

}  // namespace

// --- Client -------------------------------------------------------------------------------

Client Client::connect(const std::string& path) {
    Client c;
    try {
        c.fd_ = ctl::connect_unix(path);
    } catch (const std::system_error& e) {
        throw Error(e.code().value(), e.what());
    }
    Reply r = c.call(ctl::Builder(ctl::MsgType::kHello, c.next_seq())
                         .u16(ctl::Attr::kVersion, ctl::kVersion)
                         .finish());
    close_all(r.fds);
    ctl::Message m = parse_reply(r.bytes);
    c.version_ = m.u16(ctl::Attr::kVersion).value_or(0);
    c.workers_ = static_cast<uint16_t>(m.u32(ctl::Attr::kWorkers).value_or(0));
    if (c.version_ != ctl::kVersion)
        throw Error(EPROTO, "daemon speaks control protocol " + std::to_string(c.version_) +
                                ", this library " + std::to_string(ctl::kVersion));
    return c;
}

Client::Client(Client&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      seq_(o.seq_),
      workers_(o.workers_),
      version_(o.version_),
      in_(std::move(o.in_)) {}

Client& Client::operator=(Client&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(o.fd_, -1);
        seq_ = o.seq_;
        workers_ = o.workers_;
        version_ = o.version_;
        in_ = std::move(o.in_);
    }
    return *this;
}

Client::~Client() {
    if (fd_ >= 0) ::close(fd_);
}

Client::Reply Client::call(std::vector<uint8_t> request, bool throw_on_error) {
    if (fd_ < 0) throw Error(ENOTCONN, "client is not connected");
    if (int e = ctl::send_with_fds(fd_, request, {}); e != 0)
        throw Error(e, std::string("control socket send: ") + std::strerror(e));
    const uint32_t seq = ctl::header_seq(request);
    Reply r;
    for (;;) {
        auto need = ctl::message_size(in_);
        if (need && in_.size() >= *need) {
            std::vector<uint8_t> msg(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(*need));
            in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(*need));
            ctl::Message m = parse_reply(msg);
            if (m.seq != seq && m.seq != 0) {  // a stale reply: not ours
                close_all(r.fds);
                continue;
            }
            const uint32_t err = m.u32(ctl::Attr::kError).value_or(EPROTO);
            if (err && throw_on_error) {
                close_all(r.fds);
                std::string text(
                    m.str(ctl::Attr::kMessage).value_or(std::strerror(static_cast<int>(err))));
                throw Error(static_cast<int>(err), text);
            }
            r.bytes = std::move(msg);
            return r;
        }
        uint8_t buf[16384];
        ssize_t n = ctl::recv_with_fds(fd_, buf, sizeof buf, &r.fds);
        if (n == -EINTR) continue;
        if (n <= 0) {
            close_all(r.fds);
            throw Error(n == 0 ? ECONNRESET : static_cast<int>(-n),
                        "control connection closed by ingressd");
        }
        in_.insert(in_.end(), buf, buf + n);
    }
}

void Client::open_into(Endpoint& ep, std::vector<uint8_t> request) {
    Reply r = call(std::move(request));
    ctl::Message m = parse_reply(r.bytes);
    std::vector<uint32_t> roles;
    for (const ctl::AttrView& a : m.attrs)
        if (a.type == ctl::Attr::kFdRole && a.value.size() == 1) roles.push_back(a.value[0]);
    if (roles.size() != r.fds.size() || r.fds.empty()) {
        close_all(r.fds);
        throw Error(EPROTO, "reply's fd roles do not match the fds passed");
    }
    ep.client_ = this;
    ep.id_ = m.u32(ctl::Attr::kEndpointId).value_or(0);
    try {
        for (std::size_t i = 0; i < r.fds.size(); ++i) {
            const int fd = std::exchange(r.fds[i], -1);
            if (roles[i] == 1) {
                ep.bell_ = shm::Doorbell(fd);
                continue;
            }
            Endpoint::Ring ring;
            ring.region = shm::Region::map(fd);
            shm::RingCheck chk = shm::ring_check(ring.region.data(), ring.region.size());
            if (chk != shm::RingCheck::kOk) throw Error(EPROTO, shm::ring_check_str(chk));
            ring.cons = shm::RingConsumer(ring.region.data());
            ep.rings_.push_back(std::move(ring));
        }
    } catch (const std::system_error& e) {
        close_all(r.fds);
        throw Error(e.code().value(), e.what());
    } catch (...) {
        close_all(r.fds);
        throw;
    }
    if (ep.rings_.empty() || ep.bell_.fd() < 0)
        throw Error(EPROTO, "reply without rings or doorbell");
}

UdpEndpoint Client::open_udp(const UdpOptions& o) {
    UdpEndpoint ep;
    open_into(ep, ctl::encode(next_seq(), o));
    return ep;
}

RawEndpoint Client::open_raw(const RawOptions& o) {
    RawEndpoint ep;
    open_into(ep, ctl::encode(next_seq(), o));
    return ep;
}

PacketTap Client::open_tap(const TapOptions& o) {
    PacketTap ep;
    open_into(ep, ctl::encode(next_seq(), o));
    return ep;
}

std::string Client::stats() {
    Reply r = call(ctl::Builder(ctl::MsgType::kStats, next_seq()).finish());
    close_all(r.fds);
    ctl::Message m = parse_reply(r.bytes);
    return std::string(m.str(ctl::Attr::kStatsText).value_or(""));
}

// --- Endpoint -----------------------------------------------------------------------------

Endpoint::~Endpoint() {
    if (client_ && id_) {
        try {
            close();
        } catch (...) {
            // The daemon is gone or refused: the connection's end reclaims it anyway.
        }
    }
}

Endpoint::Endpoint(Endpoint&& o) noexcept
    : client_(std::exchange(o.client_, nullptr)),
      id_(std::exchange(o.id_, 0)),
      rings_(std::move(o.rings_)),
      bell_(std::move(o.bell_)),
      next_ring_(o.next_ring_) {}

Endpoint& Endpoint::operator=(Endpoint&& o) noexcept {
    if (this != &o) {
        if (client_ && id_) {
            try {
                close();
            } catch (...) {
            }
        }
        client_ = std::exchange(o.client_, nullptr);
        id_ = std::exchange(o.id_, 0);
        rings_ = std::move(o.rings_);
        bell_ = std::move(o.bell_);
        next_ring_ = o.next_ring_;
    }
    return *this;
}

void Endpoint::release() noexcept {
    for (Ring& r : rings_) {
        if (r.held) r.cons.release(r.held);
        r.held = 0;
    }
}

bool Endpoint::prepare_sleep() noexcept {
    // Rings from before this arming are stale: consumed here, so a level-triggered epoll on
    // fd() does not fire again for them (data that came with them is seen just below).
    bell_.drain();
    bool empty = true;
    for (Ring& r : rings_) {
        if (!r.cons.prepare_sleep()) {
            empty = false;
            break;
        }
    }
    if (!empty)
        for (Ring& r : rings_) r.cons.cancel_sleep();
    return empty;
}

std::size_t Endpoint::recv(Datagram* out, std::size_t max, int timeout_ms) {
    release();
    if (rings_.empty() || max == 0) return 0;
    uint64_t spin_until = 0;
    bool hung_up = false;
    for (;;) {
        std::size_t n = 0;
        const std::size_t nr = rings_.size();
        for (std::size_t k = 0; k < nr && n < max; ++k) {
            const std::size_t w = (next_ring_ + k) % nr;
            Ring& r = rings_[w];
            uint32_t idx;
            const uint32_t got = r.cons.peek(static_cast<uint32_t>(max - n), &idx);
            for (uint32_t i = 0; i < got; ++i) {
                const shm::SlotMeta& m = r.cons.meta(idx + i);
                auto p = r.cons.payload(idx + i);
                out[n++] = Datagram{p.data(), &m, static_cast<uint32_t>(p.size()),
                                    static_cast<uint16_t>(w)};
            }
            r.held = got;
        }
        next_ring_ = static_cast<uint16_t>((next_ring_ + 1) % nr);
        if (n) return n;
        if (hung_up)
            throw Error(ECONNRESET, "ingressd closed the control connection (the daemon exited)");
        if (timeout_ms == 0) return 0;
        if (busy_poll_ns_) {
            timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            const uint64_t now = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull +
                                 static_cast<uint64_t>(ts.tv_nsec);
            if (spin_until == 0) spin_until = now + busy_poll_ns_;
            if (now < spin_until) continue;
        }
        // Nothing waiting: ask the workers for a wakeup, then sleep on the doorbell.
        // The control connection is watched too: when the daemon exits it hangs up, and
        // no worker will ever ring again.
        if (!prepare_sleep()) continue;
        pollfd pfd[2] = {{bell_.fd(), POLLIN, 0}, {client_ ? client_->fd() : -1, 0, 0}};
        int rc = ::poll(pfd, 2, timeout_ms);
        for (Ring& r : rings_) r.cons.cancel_sleep();
        if (rc > 0 && (pfd[1].revents & (POLLHUP | POLLERR))) {
            hung_up = true;  // one more look: a last datagram may have come before it
            continue;
        }
        if (rc > 0) {
            bell_.drain();
            continue;
        }
        if (rc < 0 && errno == EINTR) return 0;
        // Timed out: one last look, then report nothing.
        timeout_ms = 0;
    }
}

EndpointStats Endpoint::stats() const noexcept {
    EndpointStats s;
    for (const Ring& r : rings_) {
        const shm::RingHeader* h = r.cons.header();
        s.delivered += h->delivered.load(std::memory_order_relaxed);
        s.dropped_full += h->dropped_full.load(std::memory_order_relaxed);
        s.truncated += h->truncated.load(std::memory_order_relaxed);
        s.wakeups += h->wakeups.load(std::memory_order_relaxed);
        s.sleeping += h->needs_wakeup.load(std::memory_order_relaxed) != 0;
    }
    return s;
}

void Endpoint::join(uint32_t group, uint32_t ifindex, std::span<const uint32_t> sources,
                    bool include) {
    if (!client_) throw Error(EBADF, "endpoint is closed");
    client_->call(
        ctl::encode_join(client_->next_seq(), {.id = id_,
                                               .group = group,
                                               .ifindex = ifindex,
                                               .include = include,
                                               .sources = {sources.begin(), sources.end()}}));
}

void Endpoint::leave(uint32_t group, uint32_t ifindex, std::span<const uint32_t> sources) {
    if (!client_) throw Error(EBADF, "endpoint is closed");
    client_->call(
        ctl::encode_leave(client_->next_seq(), {.id = id_,
                                                .group = group,
                                                .ifindex = ifindex,
                                                .sources = {sources.begin(), sources.end()}}));
}

void Endpoint::set_multicast_all(bool on) {
    if (!client_) throw Error(EBADF, "endpoint is closed");
    client_->call(
        ctl::encode(client_->next_seq(), ctl::SetOption{id_, ctl::Attr::kMulticastAll, on}));
}

void Endpoint::set_icmp_filter(uint32_t mask) {
    if (!client_) throw Error(EBADF, "endpoint is closed");
    client_->call(
        ctl::encode(client_->next_seq(), ctl::SetOption{id_, ctl::Attr::kIcmpFilter, mask}));
}

void Endpoint::bind_to_device(uint32_t ifindex) {
    if (!client_) throw Error(EBADF, "endpoint is closed");
    client_->call(
        ctl::encode(client_->next_seq(), ctl::SetOption{id_, ctl::Attr::kIfindex, ifindex}));
}

void Endpoint::close() {
    if (!client_ || !id_) return;
    release();
    Client* c = std::exchange(client_, nullptr);
    const uint32_t id = std::exchange(id_, 0);
    rings_.clear();
    bell_ = shm::Doorbell();
    c->call(ctl::encode_close(c->next_seq(), id));
}

}  // namespace ingress
