#include "ctl/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "ctl/protocol.h"

namespace ingress::ctl {

bool peer_cred(int fd, PeerCred* out) {
    ucred c{};
    socklen_t len = sizeof c;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0) return false;
    out->pid = c.pid;
    out->uid = c.uid;
    out->gid = c.gid;
    // SO_PEERGROUPS answers ERANGE with the size it needs when the buffer is short.
    std::vector<gid_t> groups(64);
    for (int tries = 0; tries < 3; ++tries) {
        len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
            groups.resize(len / sizeof(gid_t));
            out->groups = std::move(groups);
            return true;
        }
        if (errno != ERANGE) return false;
        groups.resize(len / sizeof(gid_t) + 1);
    }
    return false;
}

int send_with_fds(int fd, std::span<const uint8_t> bytes, std::span<const int> fds,
                  bool creds) noexcept {
    if (fds.size() > kMaxFds) return EINVAL;
    const ucred self{getpid(), geteuid(), getegid()};
    std::size_t off = 0;
    bool fds_sent = fds.empty();
    while (off < bytes.size() || !fds_sent) {
        iovec iov{const_cast<uint8_t*>(bytes.data() + off), bytes.size() - off};
        msghdr mh{};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int) * kMaxFds) + CMSG_SPACE(sizeof(ucred))];
        std::memset(ctrl, 0, sizeof ctrl);
        mh.msg_control = ctrl;
        mh.msg_controllen = (fds_sent ? 0 : CMSG_SPACE(sizeof(int) * fds.size())) +
                            (creds ? CMSG_SPACE(sizeof(ucred)) : 0);
        cmsghdr* c = mh.msg_controllen ? CMSG_FIRSTHDR(&mh) : nullptr;
        if (!fds_sent) {
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
            std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
            c = CMSG_NXTHDR(&mh, c);
        }
        if (creds) {
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_CREDENTIALS;
            c->cmsg_len = CMSG_LEN(sizeof(ucred));
            std::memcpy(CMSG_DATA(c), &self, sizeof self);
        }
        if (!mh.msg_controllen) mh.msg_control = nullptr;
        ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        fds_sent = true;
        off += static_cast<std::size_t>(n);
    }
    return 0;
}

ssize_t recv_with_fds(int fd, uint8_t* buf, std::size_t max, std::vector<int>* fds,
                      SenderCred* sender, bool* ctrunc) {
    iovec iov{buf, max};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int) * kMaxFds) + CMSG_SPACE(sizeof(ucred))];
    mh.msg_control = ctrl;
    mh.msg_controllen = sizeof ctrl;
    ssize_t n;
    do {
        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    if (sender) *sender = SenderCred{};
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
            c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
            ucred u;
            std::memcpy(&u, CMSG_DATA(c), sizeof u);
            if (sender) *sender = SenderCred{true, u.pid, u.uid, u.gid};
            continue;
        }
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int f;
            std::memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
            if (fds)
                fds->push_back(f);
            else
                close(f);
        }
    }
    // Truncated control data means fds were dropped by the kernel (scm_detach_fds stops at
    // the first fd it cannot install): unusable, unless the caller handles it.
    if (ctrunc) *ctrunc = (mh.msg_flags & MSG_CTRUNC) != 0;
    if ((mh.msg_flags & MSG_CTRUNC) && !ctrunc) return -EMSGSIZE;
    return n;
}

namespace {
sockaddr_un unix_addr(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path)
        throw std::system_error(ENAMETOOLONG, std::generic_category(), path);
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    return a;
}
}  // namespace

int listen_unix(const std::string& path, unsigned mode, int backlog) {
    sockaddr_un a = unix_addr(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket " + path);
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path.c_str());
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        chmod(path.c_str(), mode) != 0 || listen(fd, backlog) != 0) {
        int e = errno;
        close(fd);
        throw std::system_error(e, std::generic_category(), path);
    }
    return fd;
}

int connect_unix(const std::string& path) {
    sockaddr_un a = unix_addr(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket " + path);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        int e = errno;
        close(fd);
        throw std::system_error(e, std::generic_category(), path);
    }
    return fd;
}

}  // namespace ingress::ctl
