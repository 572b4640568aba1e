#include <arpa/inet.h>
#include <ingress/client.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

#include "ctl/cap_proof.h"
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

uint64_t mono_ns() noexcept {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// How often a client whose daemon exited tries to connect again.
constexpr uint64_t kReconnectEveryNs = 100'000'000;

// The privileged requests carry a socket proving the capability the kernel would check
// (ctl/cap_proof.h), when this process can make one: open-raw and open-tap CAP_NET_RAW,
// open-udp on a port below 1024 (or, `force`, any: the daemon's ip_unprivileged_port_start
// may be higher) CAP_NET_BIND_SERVICE, reload and endpoints CAP_NET_ADMIN. Appends one kProof
// attribute per socket to `request` and returns the sockets.
std::vector<int> attach_proofs(std::vector<uint8_t>& request, bool force) {
    ctl::ParseResult pr = ctl::parse(request);
    if (!pr.msg) return {};
    int cap = -1;
    uint16_t port = 0;
    switch (pr.msg->type) {
        case ctl::MsgType::kOpenRaw:
        case ctl::MsgType::kOpenTap:
            cap = ctl::kCapNetRaw;
            break;
        case ctl::MsgType::kOpenUdp:
            port = pr.msg->u16(ctl::Attr::kLocalPort).value_or(0);
            if (port && (port < 1024 || force)) cap = ctl::kCapNetBindService;
            break;
        case ctl::MsgType::kSetOption:  // SO_RCVBUFFORCE
            if (pr.msg->u16(ctl::Attr::kOption) == static_cast<uint16_t>(ctl::Attr::kRcvbufForce))
                cap = ctl::kCapNetAdmin;
            break;
        case ctl::MsgType::kReload:
        case ctl::MsgType::kEndpoints:      // other users' pids and commands
        case ctl::MsgType::kBindingChange:  // as attaching an sk_lookup program
        case ctl::MsgType::kRegisterLabel:  // as writing its SOCKMAP
            cap = ctl::kCapNetAdmin;
            break;
        default:
            break;
    }
    if (cap < 0) return {};
    const int fd = ctl::make_proof(cap, port);
    if (fd < 0) return {};
    request =
        ctl::Builder(std::move(request)).u8(ctl::Attr::kProof, static_cast<uint8_t>(cap)).finish();
    return {fd};
}

}  // namespace

// --- Client -------------------------------------------------------------------------------

Client Client::connect(const std::string& path) {
    Client c;
    c.path_ = path;
    try {
        c.fd_ = ctl::connect_unix(path);
    } catch (const std::system_error& e) {
        throw Error(e.code().value(), e.what());
    }
    c.hello();
    return c;
}

void Client::hello() {
    Reply r = call(ctl::Builder(ctl::MsgType::kHello, next_seq())
                       .u16(ctl::Attr::kVersion, ctl::kVersion)
                       .finish());
    close_all(r.fds);
    ctl::Message m = parse_reply(r.bytes);
    version_ = m.u16(ctl::Attr::kVersion).value_or(0);
    workers_ = static_cast<uint16_t>(m.u32(ctl::Attr::kWorkers).value_or(0));
    if (version_ != ctl::kVersion)
        throw Error(EPROTO, "daemon speaks control protocol " + std::to_string(version_) +
                                ", this library " + std::to_string(ctl::kVersion));
}

Client::Client(Client&& o) noexcept {
    *this = std::move(o);
}

Client& Client::operator=(Client&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        for (Endpoint* ep : eps_) ep->client_ = nullptr;
        path_ = std::move(o.path_);
        eps_ = std::move(o.eps_);
        o.eps_.clear();
        for (Endpoint* ep : eps_) ep->client_ = this;
        reconnect_ = o.reconnect_;
        last_attempt_ns_ = o.last_attempt_ns_;
        fd_ = std::exchange(o.fd_, -1);
        seq_ = o.seq_;
        workers_ = o.workers_;
        version_ = o.version_;
        in_ = std::move(o.in_);
    }
    return *this;
}

Client::~Client() {
    // Endpoints that outlive their client can still read what is in their rings.
    for (Endpoint* ep : eps_) ep->client_ = nullptr;
    if (fd_ >= 0) ::close(fd_);
}

void Client::forget(Endpoint* ep) noexcept {
    std::erase(eps_, ep);
}

void Client::hung_up() noexcept {
    hup_seen_ = false;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    in_.clear();
}

bool Client::reconnect() {
    const uint64_t now = mono_ns();
    if (fd_ >= 0) return true;
    if (last_attempt_ns_ && now - last_attempt_ns_ < kReconnectEveryNs) return false;
    last_attempt_ns_ = now;
    try {
        fd_ = ctl::connect_unix(path_);
        hello();
    } catch (const std::exception&) {
        hung_up();
        return false;
    }
    // A copy: a reopen that fails leaves the endpoint registered, but nothing is added.
    for (Endpoint* ep : std::vector<Endpoint*>(eps_)) ep->reopen();
    return true;
}

Client::Reply Client::call(std::vector<uint8_t> request, bool throw_on_error) {
    if (fd_ < 0) throw Error(ENOTCONN, "not connected to ingressd (it exited; not yet back)");
    const uint32_t seq = ctl::header_seq(request);
    std::vector<uint8_t> sent = request;
    std::vector<int> proofs = attach_proofs(sent, false);
    for (;;) {
        // Explicit SCM_CREDENTIALS: the effective ids, which SO_PEERCRED reported at connect().
        const int e = ctl::send_with_fds(fd_, sent, proofs, true);
        const bool proved = !proofs.empty();
        close_all(proofs);
        if (e == EPIPE || e == ECONNRESET) refused_at_connect(e);
        if (e != 0) throw Error(e, std::string("control socket send: ") + std::strerror(e));
        Reply r = receive(seq);
        ctl::Message m = parse_reply(r.bytes);
        const uint32_t err = m.u32(ctl::Attr::kError).value_or(EPROTO);
        // A port at or above 1024 but below the daemon's ip_unprivileged_port_start: once
        // more, with a proof if this process can make one.
        if (err == EACCES && !proved) {
            sent = request;
            proofs = attach_proofs(sent, true);
            if (!proofs.empty()) {
                close_all(r.fds);
                continue;
            }
        }
        if (err && throw_on_error) {
            close_all(r.fds);
            std::string text(
                m.str(ctl::Attr::kMessage).value_or(std::strerror(static_cast<int>(err))));
            throw Error(static_cast<int>(err), text);
        }
        return r;
    }
}

void Client::refused_at_connect(int send_err) {
    // ingressd refuses a connection (a quota, the administrators' reserve, a timeout) with a
    // reply of sequence 0, then closes: that reply, still queued, says why.
    std::string why;
    int err = send_err;
    try {
        Reply r = receive(0);
        ctl::Message m = parse_reply(r.bytes);
        close_all(r.fds);
        err = static_cast<int>(m.u32(ctl::Attr::kError).value_or(static_cast<uint32_t>(send_err)));
        why = m.str(ctl::Attr::kMessage).value_or(std::strerror(err));
    } catch (const Error&) {
        hung_up();
        return;  // nothing queued: the caller reports the send error
    }
    hung_up();
    throw Error(err, "refused by ingressd: " + why);
}

Client::Reply Client::receive(uint32_t seq) {
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
            r.bytes = std::move(msg);
            return r;
        }
        uint8_t buf[16384];
        bool lost = false;
        ssize_t n = ctl::recv_with_fds(fd_, buf, sizeof buf, &r.fds, nullptr, &lost);
        r.fds_lost |= lost;
        if (n == -EINTR) continue;
        if (n <= 0) {
            close_all(r.fds);
            hung_up();
            throw Error(n == 0 ? ECONNRESET : static_cast<int>(-n),
                        "control connection closed by ingressd");
        }
        in_.insert(in_.end(), buf, buf + n);
    }
}

void Client::open_into(Endpoint& ep, std::vector<uint8_t> request) {
    Reply r = call(std::move(request));
    if (r.fds_lost) {
        // The endpoint's fds did not fit in this process's RLIMIT_NOFILE: socket()'s EMFILE.
        // The daemon made the endpoint; it is closed again, since nobody can use it.
        close_all(r.fds);
        const ctl::Message m = parse_reply(r.bytes);
        if (const auto id = m.u32(ctl::Attr::kEndpointId))
            (void)call(ctl::encode_close(next_seq(), *id), false);
        throw Error(EMFILE, "too many open files: the endpoint's fds did not fit (RLIMIT_NOFILE)");
    }
    ctl::Message m = parse_reply(r.bytes);
    std::vector<uint32_t> roles;
    for (const ctl::AttrView& a : m.attrs)
        if (a.type == ctl::Attr::kFdRole && a.value.size() == 1) roles.push_back(a.value[0]);
    if (roles.size() != r.fds.size() || r.fds.empty()) {
        close_all(r.fds);
        throw Error(EPROTO, "reply's fd roles do not match the fds passed");
    }
    if (ep.client_ != this) {
        if (ep.client_) ep.client_->forget(&ep);
        ep.client_ = this;
        eps_.push_back(&ep);
    }
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
            if (void* q = shm::err_queue_of(ring.region.data(), ring.region.size())) {
                ring.errq = shm::RingConsumer(q);
                ring.has_errq = true;
            }
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
    ep.kind_ = Endpoint::Kind::kUdp;
    ep.udp_ = o;
    open_into(ep, ctl::encode(next_seq(), o));
    return ep;
}

RawEndpoint Client::open_raw(const RawOptions& o) {
    RawEndpoint ep;
    ep.kind_ = Endpoint::Kind::kRaw;
    ep.raw_ = o;
    open_into(ep, ctl::encode(next_seq(), o));
    return ep;
}

PacketTap Client::open_tap(const TapOptions& o) {
    PacketTap ep;
    ep.kind_ = Endpoint::Kind::kTap;
    ep.tap_ = o;
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
    if (set_) set_->detach(*this);
    if (client_) client_->forget(this);
}

void Endpoint::take_from(Endpoint& o) noexcept {
    client_ = std::exchange(o.client_, nullptr);
    if (client_) std::replace(client_->eps_.begin(), client_->eps_.end(), &o, this);
    id_ = std::exchange(o.id_, 0);
    rings_ = std::move(o.rings_);
    stale_ = std::move(o.stale_);
    bell_ = std::move(o.bell_);
    next_ring_ = o.next_ring_;
    busy_poll_ns_ = o.busy_poll_ns_;
    kind_ = o.kind_;
    udp_ = std::move(o.udp_);
    raw_ = std::move(o.raw_);
    tap_ = std::move(o.tap_);
    mc_ = std::move(o.mc_);
    labels_ = std::move(o.labels_);
    gap_ = o.gap_;
    reconnects_ = o.reconnects_;
    error_ = std::exchange(o.error_, 0);
    error_text_ = std::move(o.error_text_);
    set_ = std::exchange(o.set_, nullptr);
    set_index_ = o.set_index_;
    if (set_) set_->moved(o, *this);
}

Endpoint::Endpoint(Endpoint&& o) noexcept {
    take_from(o);
}

Endpoint& Endpoint::operator=(Endpoint&& o) noexcept {
    if (this != &o) {
        if (client_ && id_) {
            try {
                close();
            } catch (...) {
            }
        }
        if (set_) set_->detach(*this);
        if (client_) client_->forget(this);
        take_from(o);
    }
    return *this;
}

void Endpoint::release() noexcept {
    for (std::vector<Ring>* v : {&stale_, &rings_})
        for (Ring& r : *v) {
            if (r.held) r.cons.release(r.held);
            r.held = 0;
        }
}

std::vector<uint8_t> Endpoint::open_request(uint32_t seq) const {
    switch (kind_) {
        case Kind::kUdp:
            return ctl::encode(seq, udp_);
        case Kind::kRaw:
            return ctl::encode(seq, raw_);
        case Kind::kTap:
            return ctl::encode(seq, tap_);
        case Kind::kNone:
            break;
    }
    throw Error(EBADF, "endpoint was never opened");
}

void Endpoint::reopen() noexcept {
    // The exited daemon's rings stay mapped until the app has read them (recv reads them
    // first); the new daemon gets the same open, options and memberships.
    release();
    for (Ring& r : rings_) stale_.push_back(std::move(r));
    rings_.clear();
    bell_ = shm::Doorbell();
    id_ = 0;
    try {
        client_->open_into(*this, open_request(client_->next_seq()));
        for (const McCall& c : mc_) {
            const ctl::McRequest r{.id = id_,
                                   .group = c.group,
                                   .ifindex = c.ifindex,
                                   .include = c.include,
                                   .sources = c.sources};
            client_->call(c.join ? ctl::encode_join(client_->next_seq(), r)
                                 : ctl::encode_leave(client_->next_seq(), r));
        }
        for (const std::string& l : labels_)
            client_->call(ctl::encode(client_->next_seq(), ctl::LabelChange{false, id_, l}));
        if (rcvbuf_forced_)
            client_->call(ctl::encode(client_->next_seq(),
                                      ctl::SetOption{id_, ctl::Attr::kRcvbufForce, udp_.rcvbuf}));
        gap_ = true;
        ++reconnects_;
    } catch (const Error& e) {
        error_ = e.code() > 0 ? e.code() : EIO;
        error_text_ = std::string("reopening on the restarted ingressd: ") + e.what();
    } catch (const std::exception& e) {
        error_ = EIO;
        error_text_ = std::string("reopening on the restarted ingressd: ") + e.what();
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

uint64_t Endpoint::rmem_alloc() const noexcept {
    uint64_t n = 0;
    for (const Ring& r : rings_) n += r.cons.rmem(r.held) + (r.has_errq ? r.errq.rmem() : 0);
    return n;
}

uint32_t Endpoint::next_len() noexcept {
    // What recv() would return first: the exited daemon's rings, then from next_ring_ on,
    // each ring past the slots the last recv() still holds.
    for (std::vector<Ring>* v : {&stale_, &rings_}) {
        const std::size_t nr = v->size();
        for (std::size_t k = 0; k < nr; ++k) {
            Ring& r = (*v)[(next_ring_ + k) % nr];
            uint32_t idx;
            if (r.next(&idx)) return r.cons.meta(idx).orig_len;
        }
    }
    return 0;
}

bool Endpoint::Ring::next(uint32_t* idx) noexcept {
    // Bad datagrams at the head go as udp_recvmsg / first_packet_length drop them; behind
    // slots the app still holds, the next one is shown as it is (recv verifies it).
    if (held == 0) return cons.peek_verified(1, idx, false) == 1;
    if (cons.peek(held + 1, idx) <= held) return false;
    *idx += held;
    return true;
}

std::size_t Endpoint::peek(std::vector<Ring>& rings, Datagram* out, std::size_t max) {
    std::size_t n = 0;
    const std::size_t nr = rings.size();
    if (nr == 0) return 0;
    for (std::size_t k = 0; k < nr && n < max; ++k) {
        const std::size_t w = (next_ring_ + k) % nr;
        Ring& r = rings[w];
        uint32_t idx;
        // udp_recvmsg(): a datagram whose checksum was left for the reader is verified
        // here; bad ones are dropped and counted (the ring header's csum_errors).
        const uint32_t got = r.cons.peek_verified(static_cast<uint32_t>(max - n), &idx, true);
        for (uint32_t i = 0; i < got; ++i) {
            const shm::SlotMeta& m = r.cons.meta(idx + i);
            auto p = r.cons.payload(idx + i);
            out[n++] = Datagram{p.data(), &m, static_cast<uint32_t>(p.size()),
                                static_cast<uint16_t>(w), 0};
        }
        r.held = got;
    }
    next_ring_ = static_cast<uint16_t>((next_ring_ + 1) % nr);
    return n;
}

std::size_t Endpoint::recv(Datagram* out, std::size_t max, int timeout_ms) {
    release();
    if (error_) throw Error(std::exchange(error_, 0), error_text_);
    if (max == 0) return 0;
    if (!stale_.empty()) {  // what the exited daemon delivered comes first
        if (std::size_t n = peek(stale_, out, max)) return n;
        stale_.clear();
    }
    const uint64_t deadline = timeout_ms > 0 ? mono_ns() + uint64_t(timeout_ms) * 1'000'000 : 0;
    uint64_t spin_until = 0;
    bool hung_up = false;
    for (;;) {
        if (client_ && client_->fd() < 0) {
            // The daemon exited: connect again within the timeout, then read the new rings
            // (reopen() filled them, or left the error it got).
            if (!client_->reconnect_) throw Error(ECONNRESET, "ingressd exited");
            if (client_->reconnect()) {
                if (error_) throw Error(std::exchange(error_, 0), error_text_);
                hung_up = false;
                continue;
            }
            if (timeout_ms == 0 || (deadline && mono_ns() >= deadline)) return 0;
            ::poll(nullptr, 0, 10);
            continue;
        }
        // __skb_recv_udp / __skb_recv_datagram: sock_error() before the queue.
        if (const int err = take_sk_err()) throw SocketError(err, std::strerror(err));
        std::size_t n = peek(rings_, out, max);
        if (n) {
            if (gap_) out[0].flags |= INGRESS_D_AFTER_GAP;
            gap_ = false;
            return n;
        }
        if (hung_up || (client_ && client_->hup_seen_)) {  // the last look found nothing more
            client_->hung_up();
            continue;
        }
        if (rings_.empty() || timeout_ms == 0) return 0;
        if (busy_poll_ns_) {
            const uint64_t now = mono_ns();
            if (spin_until == 0) spin_until = now + busy_poll_ns_;
            if (now < spin_until) continue;
        }
        // Nothing waiting: ask the workers for a wakeup, then sleep on the doorbell. The
        // control connection is watched too: when the daemon exits it hangs up, and no
        // worker will ever ring again.
        if (!prepare_sleep()) continue;
        pollfd pfd[2] = {{bell_.fd(), POLLIN, 0}, {client_ ? client_->fd() : -1, 0, 0}};
        int rc = ::poll(pfd, 2, timeout_ms);
        for (Ring& r : rings_) r.cons.cancel_sleep();
        // The sleep consumed the arming a set relies on: the set lists it again instead.
        if (set_) set_->mark_pending(set_index_);
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
        s.csum_errors += h->csum_errors.load(std::memory_order_relaxed);
        s.sleeping += h->needs_wakeup.load(std::memory_order_relaxed) != 0;
    }
    s.reconnects = reconnects_;
    return s;
}

void Endpoint::join(uint32_t group, uint32_t ifindex, std::span<const uint32_t> sources,
                    bool include) {
    if (!client_) throw Error(EBADF, "endpoint is closed");
    McCall c{true, group, ifindex, {sources.begin(), sources.end()}, include};
    client_->call(ctl::encode_join(
        client_->next_seq(),
        {.id = id_, .group = group, .ifindex = ifindex, .include = include, .sources = c.sources}));
    mc_.push_back(std::move(c));
}

void Endpoint::leave(uint32_t group, uint32_t ifindex, std::span<const uint32_t> sources) {
    if (!client_) throw Error(EBADF, "endpoint is closed");
    McCall c{false, group, ifindex, {sources.begin(), sources.end()}, false};
    client_->call(
        ctl::encode_leave(client_->next_seq(),
                          {.id = id_, .group = group, .ifindex = ifindex, .sources = c.sources}));
    if (sources.empty())  // the whole membership is gone: so is its history
        std::erase_if(mc_,
                      [&](const McCall& m) { return m.group == group && m.ifindex == ifindex; });
    else
        mc_.push_back(std::move(c));
}

void Endpoint::set_multicast_all(bool on) {
    if (!client_) throw Error(EBADF, "endpoint is closed");
    client_->call(
        ctl::encode(client_->next_seq(), ctl::SetOption{id_, ctl::Attr::kMulticastAll, on}));
    udp_.multicast_all = raw_.multicast_all = on;
}

int Endpoint::take_sk_err() noexcept {
    for (Ring& r : rings_)
        if (const uint32_t e = r.cons.take_sk_err()) return static_cast<int>(e);
    return 0;
}

bool Endpoint::sk_err_pending() const noexcept {
    for (const Ring& r : rings_)
        if (r.cons.sk_err() != 0) return true;
    return false;
}

bool Endpoint::recv_error(ErrorMessage& out, void* buf, std::size_t buf_len) {
    if (!client_) throw Error(EBADF, "endpoint is closed");
    const std::size_t nr = rings_.size();
    for (std::size_t k = 0; k < nr; ++k) {
        Ring& r = rings_[k];
        if (!r.has_errq) continue;
        uint32_t idx;
        if (r.errq.peek(2, &idx) == 0) continue;
        const shm::SlotMeta& m = r.errq.meta(idx);
        const auto p = r.errq.payload(idx);
        out = ErrorMessage{};
        out.meta = m;
        out.worker = static_cast<uint16_t>(k);
        if (p.size() >= sizeof out.ee) std::memcpy(&out.ee, p.data(), sizeof out.ee);
        const auto data =
            p.size() > sizeof out.ee ? p.subspan(sizeof out.ee) : std::span<const uint8_t>{};
        const std::size_t copy = std::min(data.size(), buf_len);
        if (copy) std::memcpy(buf, data.data(), copy);
        out.len = static_cast<uint32_t>(copy);
        out.msg_flags = MSG_ERRQUEUE;
        if (copy < data.size() || (m.flags & INGRESS_F_TRUNCATED)) out.msg_flags |= MSG_TRUNC;
        out.addr.sin_family = AF_INET;
        out.addr.sin_addr.s_addr = htonl(m.src_addr);
        out.addr.sin_port = htons(m.src_port);
        // sock_dequeue_err_skb(): the pending error becomes the next entry's, or none.
        uint32_t next = 0;
        if (r.errq.peek(2, &idx) == 2) {
            const auto np = r.errq.payload(idx + 1);
            ingress_sock_err ee{};
            if (np.size() >= sizeof ee) std::memcpy(&ee, np.data(), sizeof ee);
            next = ee.ee_errno;
        }
        r.errq.release(1);
        r.cons.set_sk_err(next);
        return true;
    }
    return false;
}

void Endpoint::set_recverr(bool on) {
    if (!client_) throw Error(EBADF, "endpoint is closed");
    client_->call(ctl::encode(client_->next_seq(), ctl::SetOption{id_, ctl::Attr::kRecverr, on}));
    udp_.recverr = raw_.recverr = on;
}

void Endpoint::set_rcvbuf(uint32_t bytes) {
    if (!client_) throw Error(EBADF, "endpoint is closed");
    client_->call(ctl::encode(client_->next_seq(), ctl::SetOption{id_, ctl::Attr::kRcvbuf, bytes}));
    udp_.rcvbuf = bytes ? bytes : 1;  // reopened with the same sk_rcvbuf (so_rcvbuf(0) == (1))
    rcvbuf_forced_ = false;
}

void Endpoint::set_rcvbuf_force(uint32_t bytes) {
    if (!client_) throw Error(EBADF, "endpoint is closed");
    client_->call(
        ctl::encode(client_->next_seq(), ctl::SetOption{id_, ctl::Attr::kRcvbufForce, bytes}));
    udp_.rcvbuf = bytes ? bytes : 1;
    rcvbuf_forced_ = true;
}

void Endpoint::set_icmp_filter(uint32_t mask) {
    if (!client_) throw Error(EBADF, "endpoint is closed");
    client_->call(
        ctl::encode(client_->next_seq(), ctl::SetOption{id_, ctl::Attr::kIcmpFilter, mask}));
    raw_.icmp_filter = mask;
}

void Endpoint::set_ignore_outgoing(bool on) {
    if (!client_) throw Error(EBADF, "endpoint is closed");
    client_->call(
        ctl::encode(client_->next_seq(), ctl::SetOption{id_, ctl::Attr::kIgnoreOutgoing, on}));
    tap_.ignore_outgoing = on;
}

void Endpoint::bind_to_device(uint32_t ifindex) {
    if (!client_) throw Error(EBADF, "endpoint is closed");
    client_->call(
        ctl::encode(client_->next_seq(), ctl::SetOption{id_, ctl::Attr::kIfindex, ifindex}));
    udp_.ifindex = raw_.ifindex = tap_.ifindex = ifindex;
}

void Endpoint::connect(uint32_t remote) {
    if (!client_) throw Error(EBADF, "endpoint is closed");
    client_->call(
        ctl::encode(client_->next_seq(), ctl::SetOption{id_, ctl::Attr::kRemoteAddr, remote}));
    raw_.remote_addr = remote;  // reopened connected to it after a daemon restart
}

void Endpoint::register_label(const std::string& label) {
    if (!client_) throw Error(EBADF, "endpoint is closed");
    client_->call(ctl::encode(client_->next_seq(), ctl::LabelChange{false, id_, label}));
    labels_.push_back(label);
}

void Endpoint::unregister_label(const std::string& label) {
    if (!client_) throw Error(EBADF, "endpoint is closed");
    client_->call(ctl::encode(client_->next_seq(), ctl::LabelChange{true, id_, label}));
    std::erase(labels_, label);
}

void Endpoint::close() {
    if (set_) set_->detach(*this);
    if (!client_) return;
    release();
    Client* c = std::exchange(client_, nullptr);
    c->forget(this);
    const uint32_t id = std::exchange(id_, 0);
    rings_.clear();
    stale_.clear();
    bell_ = shm::Doorbell();
    if (id && c->fd() >= 0) c->call(ctl::encode_close(c->next_seq(), id));
}

}  // namespace ingress
