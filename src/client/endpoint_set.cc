// EndpointSet: many endpoints behind one fd (ingress.h, "Endpoint sets", says what the app
// sees). Who writes what:
//   - the worker, as for a lone endpoint: sees a ring's needs-wakeup flag after a burst,
//     clears it and rings the endpoint's doorbell once (src/shm/ring.h, demux/delivery.cc);
//   - the kernel: the doorbell turning readable makes epfd_ readable (epoll over epoll);
//   - this library, in the app's thread only: takes the events (drains the rung doorbells,
//     clears the rings' other flags), keeps pending_ (members it listed and has not seen
//     empty since), and arms a member (sets its rings' flags, then checks the rings again:
//     the store/fence/load pair of RingConsumer::prepare_sleep) only when it finds it empty.
// A member with data is therefore always either in pending_ or armed with its doorbell
// about to ring: no wakeup is lost, and none comes for a member the app is still reading
// (its flags are clear). more_fd_ keeps epfd_ readable while pending_ may hold data.
#include <ingress/client.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace ingress {

namespace {

[[noreturn]] void throw_errno(int err, const char* what) {
    throw Error(err, std::string(what) + ": " + std::strerror(err));
}

}  // namespace

bool Endpoint::readable() noexcept {
    if (error_ || !stale_.empty() || sk_err_pending()) return true;
    // The hangup: recv reads what is left, then reconnects or reports it. (Without a
    // connection, the set's retry timer lists the member instead.)
    if (client_ && client_->hup_seen_) return true;
    for (Ring& r : rings_) {
        uint32_t idx;
        // Slots the last recv returned are still held (not released): only more counts.
        if (r.cons.peek(r.held + 1, &idx) > r.held) return true;
    }
    return false;
}

EndpointSet::EndpointSet() {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) throw_errno(errno, "epoll_create1");
    more_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (more_fd_ < 0) {
        const int e = errno;
        ::close(epfd_);
        throw_errno(e, "eventfd");
    }
    retry_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kMoreTag;
    epoll_event rev{};
    rev.events = EPOLLIN;
    rev.data.u64 = kRetryTag;
    if (retry_fd_ < 0 || ::epoll_ctl(epfd_, EPOLL_CTL_ADD, more_fd_, &ev) < 0 ||
        ::epoll_ctl(epfd_, EPOLL_CTL_ADD, retry_fd_, &rev) < 0) {
        const int e = errno;
        if (retry_fd_ >= 0) ::close(retry_fd_);
        ::close(more_fd_);
        ::close(epfd_);
        throw_errno(e, "timerfd / epoll_ctl");
    }
}

EndpointSet::~EndpointSet() {
    for (Member& m : members_)
        if (m.ep) m.ep->set_ = nullptr;
    ::close(retry_fd_);
    ::close(more_fd_);
    ::close(epfd_);
}

void EndpointSet::add(Endpoint& ep, void* data) {
    if (ep.set_ == this) throw Error(EEXIST, "already a member of this set");
    if (ep.set_) throw Error(EBUSY, "a member of another set");
    if (!ep.client_ || ep.fd() < 0) throw Error(EBADF, "endpoint is closed");
    uint32_t idx;
    if (!free_.empty()) {
        idx = free_.back();
        free_.pop_back();
    } else {
        idx = static_cast<uint32_t>(members_.size());
        members_.emplace_back();
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = idx;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, ep.fd(), &ev) < 0) {
        free_.push_back(idx);
        throw_errno(errno, "epoll_ctl");
    }
    members_[idx] = Member{&ep, data, ep.fd(), false};
    ep.set_ = this;
    ep.set_index_ = idx;
    sync_fds();
    // Listed by the next ready(), which arms it if it is empty.
    mark_pending(idx);
}

void EndpointSet::detach(Endpoint& ep) noexcept {
    Member& m = members_[ep.set_index_];
    // A closed doorbell left the epoll instance by itself; an open one is taken out here.
    if (m.fd >= 0) ::epoll_ctl(epfd_, EPOLL_CTL_DEL, m.fd, nullptr);
    for (Endpoint::Ring& r : ep.rings_) r.cons.cancel_sleep();
    m = Member{};
    free_.push_back(ep.set_index_);
    ep.set_ = nullptr;
}

void EndpointSet::remove(Endpoint& ep) {
    if (ep.set_ != this) throw Error(ENOENT, "not a member of this set");
    detach(ep);
}

void EndpointSet::moved(Endpoint& from, Endpoint& to) noexcept {
    Member& m = members_[to.set_index_];
    if (m.ep == &from) m.ep = &to;
}

void EndpointSet::mark_pending(uint32_t idx) {
    Member& m = members_[idx];
    if (m.pending || !m.ep) return;
    m.pending = true;
    pending_.push_back(idx);
}

void EndpointSet::set_more(bool on) noexcept {
    if (on == more_) return;
    more_ = on;
    if (on) {
        const uint64_t one = 1;
        [[maybe_unused]] ssize_t r = ::write(more_fd_, &one, sizeof one);
    } else {
        uint64_t v;
        [[maybe_unused]] ssize_t r = ::read(more_fd_, &v, sizeof v);
    }
}

void EndpointSet::sync_fds() {
    // A reopen on a restarted daemon gives the endpoint a new doorbell and the client a new
    // connection: registered again here (the old files left epoll when they were closed).
    for (uint32_t i = 0; i < members_.size(); ++i) {
        Member& m = members_[i];
        if (!m.ep || m.ep->fd() == m.fd) continue;
        m.fd = m.ep->fd();
        if (m.fd >= 0) {
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = i;
            if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, m.fd, &ev) < 0 && errno != EEXIST)
                throw_errno(errno, "epoll_ctl");
        }
        mark_pending(i);
    }
    // The members' clients: each one's control connection is watched for the daemon's
    // hangup; a client with no member left (or destroyed) is forgotten.
    for (Watched& w : clients_) w.live = false;
    for (const Member& m : members_) {
        if (!m.ep || !m.ep->client_) continue;
        auto it = std::find_if(clients_.begin(), clients_.end(),
                               [&](const Watched& w) { return w.c == m.ep->client_; });
        if (it == clients_.end()) {
            clients_.push_back(Watched{m.ep->client_, next_client_id_++});
            it = clients_.end() - 1;
        }
        it->live = true;
    }
    std::erase_if(clients_, [&](const Watched& w) {
        if (!w.live && w.fd >= 0) ::epoll_ctl(epfd_, EPOLL_CTL_DEL, w.fd, nullptr);
        return !w.live;
    });
    bool away = false;
    for (Watched& w : clients_) {
        const int cfd = w.c->fd();
        away |= cfd < 0;
        if (cfd == w.fd) continue;  // the same connection (hung: until it is replaced)
        if (w.fd >= 0 && !w.hung) ::epoll_ctl(epfd_, EPOLL_CTL_DEL, w.fd, nullptr);
        w.fd = cfd;
        w.hung = false;
        if (cfd < 0) continue;
        epoll_event ev{};
        ev.events = EPOLLRDHUP;  // EPOLLHUP and EPOLLERR are always reported
        ev.data.u64 = kClientTag | w.id;
        if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, cfd, &ev) < 0 && errno != EEXIST)
            throw_errno(errno, "epoll_ctl");
    }
    if (away != retry_armed_) {
        retry_armed_ = away;
        itimerspec t{};
        if (away) t.it_value = t.it_interval = {0, 100'000'000};  // Client's kReconnectEveryNs
        ::timerfd_settime(retry_fd_, 0, &t, nullptr);
    }
}

void EndpointSet::take_events() {
    epoll_event evs[64];
    for (;;) {
        const int n = ::epoll_wait(epfd_, evs, 64, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_errno(errno, "epoll_wait");
        for (int i = 0; i < n; ++i) {
            const uint64_t tag = evs[i].data.u64;
            if (tag == kMoreTag) continue;  // ours: ready() decides it below
            if (tag == kRetryTag) {
                uint64_t ticks;
                [[maybe_unused]] ssize_t r = ::read(retry_fd_, &ticks, sizeof ticks);
                retry_due_ = true;
                continue;
            }
            if (tag & kClientTag) {
                // The daemon hung up: every member of that client has something to say in
                // its recv. Taken out of epoll (it stays hung up) until the client has a
                // new connection.
                for (Watched& w : clients_) {
                    if (w.id != (tag & ~kClientTag) || w.hung) continue;
                    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, w.fd, nullptr);
                    w.hung = true;
                    w.c->hup_seen_ = true;
                    for (uint32_t k = 0; k < members_.size(); ++k)
                        if (members_[k].ep && members_[k].ep->client_ == w.c) mark_pending(k);
                }
                continue;
            }
            if (tag >= members_.size() || !members_[tag].ep) continue;
            Endpoint& ep = *members_[tag].ep;
            // Its worker cleared the flag of the ring it rang for; the others are cleared
            // here, so no more rings come while the app reads it.
            ep.bell_.drain();
            for (Endpoint::Ring& r : ep.rings_) r.cons.cancel_sleep();
            mark_pending(static_cast<uint32_t>(tag));
        }
        if (n < 64) return;
    }
}

bool EndpointSet::arm(Endpoint& ep) noexcept {
    if (!ep.stale_.empty() || ep.error_) return false;
    bool empty = true;
    // Slots the last recv returned (views the app may still read) are not new data.
    for (Endpoint::Ring& r : ep.rings_) {
        if (!r.cons.prepare_sleep(r.held)) {
            empty = false;
            break;
        }
    }
    if (!empty)
        for (Endpoint::Ring& r : ep.rings_) r.cons.cancel_sleep();
    return empty;
}

std::size_t EndpointSet::ready(Event* out, std::size_t max) {
    sync_fds();
    take_events();
    if (retry_due_)  // the disconnected clients' members, whether or not they were pending
        for (uint32_t k = 0; k < members_.size(); ++k)
            if (members_[k].ep && members_[k].ep->client_ && members_[k].ep->client_->fd() < 0)
                mark_pending(k);
    std::size_t n = 0;
    std::size_t keep = 0;
    const std::size_t np = pending_.size();
    // In turn from cursor_, so that max below the number ready starves nobody.
    if (cursor_ >= np) cursor_ = 0;
    std::vector<uint32_t>& order = scratch_;
    order.clear();
    for (std::size_t k = 0; k < np; ++k) order.push_back(pending_[(cursor_ + k) % np]);
    std::size_t listed_upto = 0;
    for (std::size_t k = 0; k < np; ++k) {
        const uint32_t idx = order[k];
        Member& m = members_[idx];
        if (!m.ep) continue;  // removed meanwhile
        if (n == max) {       // not looked at: stays pending
            order[keep++] = idx;
            continue;
        }
        if (retry_due_ && m.ep->client_ && m.ep->client_->fd() < 0) {
            out[n++] = Event{m.ep, m.data};  // its recv tries to reconnect
            m.pending = false;
            continue;
        }
        if (m.ep->readable() || !arm(*m.ep)) {
            out[n++] = Event{m.ep, m.data};
            order[keep++] = idx;
            listed_upto = keep;
            continue;
        }
        m.pending = false;  // armed: its doorbell says when it has data again
    }
    order.resize(keep);
    retry_due_ = false;
    pending_.swap(order);
    // The next call starts after the last member listed here.
    cursor_ = pending_.empty() ? 0 : listed_upto % pending_.size();
    set_more(n > 0);
    return n;
}

std::size_t EndpointSet::wait(Event* out, std::size_t max, int timeout_ms) {
    for (;;) {
        if (std::size_t n = ready(out, max)) return n;
        if (timeout_ms == 0) return 0;
        pollfd p{epfd_, POLLIN, 0};
        const int rc = ::poll(&p, 1, timeout_ms);
        if (rc < 0 && errno != EINTR) throw_errno(errno, "poll");
        if (rc <= 0) return ready(out, max);
    }
}

}  // namespace ingress
