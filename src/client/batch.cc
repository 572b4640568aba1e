// Endpoint::recvmmsg: recvmmsg(2) over the endpoint's rings (ingress.h, ingress_recvmmsg,
// says what differs from the kernel: the timeout bounds every wait).
//
// Kernel-equivalent: net/socket.c do_recvmmsg(): one ___sys_recvmsg per datagram, the first
// with the caller's flags, the next with MSG_DONTWAIT when MSG_WAITFORONE was given; the
// timeout is checked after each datagram ("if (timeout) { ... if (timeout->tv_sec < 0) ...
// break; }") and the time left is written back. Here the datagrams already waiting are taken
// in batches of views (Endpoint::recv) and copied out; the clock is read once per batch.
#include <arpa/inet.h>
#include <ingress/client.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ingress {

namespace {

constexpr std::size_t kViews = 64;

uint64_t now_ns() noexcept {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// One view copied into the caller's message, as ___sys_recvmsg fills a mmsghdr.
void copy_out(const Datagram& d, Message& m, bool real_len) noexcept {
    const uint32_t c = std::min(d.len, m.buf_len);
    if (c) std::memcpy(m.buf, d.data, c);
    m.meta = *d.meta;
    // IP_RECVOPTS / IP_RETOPTS: the option bytes after the payload, copied too (the slot
    // goes back to the daemon).
    std::size_t ol = 0, rl = 0;
    const uint8_t* o = ingress_ip_recvopts(&d, &ol);
    const uint8_t* r = ingress_ip_retopts(&d, &rl);
    if (ol + rl > sizeof m.ip_opts) ol = rl = 0;  // cannot come from the daemon
    if (ol) [[unlikely]]
        std::memcpy(m.ip_opts, o, ol);
    if (rl) [[unlikely]]
        std::memcpy(m.ip_opts + ol, r, rl);
    m.meta.ip_optlen = static_cast<uint8_t>(ol);
    m.meta.ip_retoptlen = static_cast<uint8_t>(rl);
    // udp_recvmsg: MSG_TRUNC in msg_flags when the datagram was longer than what was
    // copied; with MSG_TRUNC in the call's flags it returns the datagram's real length.
    const uint32_t orig = std::max(d.meta->orig_len, d.len);
    m.len = real_len ? orig : c;
    m.msg_flags = orig > c ? MSG_TRUNC : 0;
    m.src = sockaddr_in{};
    if (d.meta->ethertype == 0) {  // UDP and raw: msg_name (raw_recvmsg leaves the port 0)
        m.src.sin_family = AF_INET;
        m.src.sin_addr.s_addr = htonl(d.meta->src_addr);
        m.src.sin_port = htons(d.meta->src_port);
    }
    m.worker = d.worker;
    m.dflags = d.flags;
}

}  // namespace

std::size_t Endpoint::recvmmsg(Message* msgs, std::size_t vlen, int flags, timespec* timeout) {
    // do_recvmmsg: an invalid timeout is EINVAL before anything is received.
    if (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000))
        throw Error(EINVAL, "recvmmsg: invalid timeout");
    const bool dontwait = flags & MSG_DONTWAIT;
    const bool waitforone = flags & MSG_WAITFORONE;
    const bool real_len = flags & MSG_TRUNC;
    const uint64_t deadline = timeout ? now_ns() +
                                            static_cast<uint64_t>(timeout->tv_sec) * 1000000000ull +
                                            static_cast<uint64_t>(timeout->tv_nsec)
                                      : 0;
    Datagram views[kViews];
    std::size_t n = 0;
    bool expired = false;
    while (n < vlen && !expired) {
        int wait_ms = -1;
        if (dontwait || (waitforone && n > 0)) {
            wait_ms = 0;
        } else if (timeout) {
            const uint64_t now = now_ns();
            // Rounded up: never return before the deadline for want of a millisecond.
            wait_ms = now >= deadline ? 0 : static_cast<int>((deadline - now + 999999) / 1000000);
        }
        // do_recvmmsg: an error after some datagrams ends the call with them; the error is
        // left for the next call (the kernel puts it back in sk_err).
        if (n > 0 && sk_err_pending()) break;
        const std::size_t k = recv(views, std::min(kViews, vlen - n), wait_ms);
        for (std::size_t i = 0; i < k; ++i) copy_out(views[i], msgs[n + i], real_len);
        n += k;
        if (k == 0) {
            if (wait_ms == -1 && n == 0) throw Error(EINTR, "recvmmsg: interrupted");
            break;  // nothing more now (MSG_DONTWAIT), the time is up, or a signal
        }
        // The kernel's check after each datagram: here after each batch.
        if (timeout) expired = now_ns() >= deadline;
    }
    // Everything was copied: the slots go back to the workers now, not at the next call.
    release();
    if (timeout) {
        const uint64_t now = now_ns();
        const uint64_t left = now >= deadline ? 0 : deadline - now;
        timeout->tv_sec = static_cast<time_t>(left / 1000000000ull);
        timeout->tv_nsec = static_cast<long>(left % 1000000000ull);
    }
    return n;
}

}  // namespace ingress
