#include "ctl/cap_proof.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71  // Linux 5.14; asm-generic/socket.h
#endif

namespace ingress::ctl {

const char* proof_check_str(ProofCheck c) noexcept {
    switch (c) {
        case ProofCheck::kOk:
            return "ok";
        case ProofCheck::kNotASocket:
            return "not a socket";
        case ProofCheck::kUnknownCapability:
            return "no proof is defined for that capability";
        case ProofCheck::kWrongKind:
            return "not the kind of socket that needs the capability";
        case ProofCheck::kForeignNamespace:
            return "made in a network namespace owned by another user namespace";
        case ProofCheck::kUnprivilegedPort:
            return "not bound to a port below ip_unprivileged_port_start";
        case ProofCheck::kNotRepairing:
            return "not in TCP_REPAIR mode";
    }
    return "?";
}

namespace {

int sockopt_int(int fd, int level, int name) {
    int v = -1;
    socklen_t len = sizeof v;
    if (getsockopt(fd, level, name, &v, &len) != 0) return -1;
    return v;
}

std::pair<dev_t, ino_t> ident(int fd) {
    struct stat st {};
    if (fstat(fd, &st) != 0) return {0, 0};
    return {st.st_dev, st.st_ino};
}

uint64_t netns_cookie(int fd) {
    uint64_t c = 0;
    socklen_t len = sizeof c;
    return getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &c, &len) == 0 ? c : 0;
}

// The kernel's net.ipv4.ip_unprivileged_port_start in this process's network namespace.
int kernel_unprivileged_port_start() {
    std::ifstream in("/proc/sys/net/ipv4/ip_unprivileged_port_start");
    int v = 1024;
    in >> v;
    return in ? v : 1024;
}

}  // namespace

ProofVerifier::ProofVerifier() {
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s >= 0) {
        netns_cookie_ = netns_cookie(s);
        close(s);
    }
    int net = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (net < 0) return;
    netns_ = ident(net);
    // NS_GET_PARENT answers EPERM at the edge of what this process may see.
    int user = ioctl(net, NS_GET_USERNS);
    close(net);
    while (user >= 0) {
        owners_.push_back(ident(user));
        int parent = ioctl(user, NS_GET_PARENT);
        close(user);
        user = parent;
    }
}

bool ProofVerifier::same_or_ancestor_owner(int fd) const {
    // SIOCGSKNS needs CAP_NET_ADMIN over the socket's namespace; without it only our own
    // namespace can be recognised (by cookie).
    int net = ioctl(fd, SIOCGSKNS);
    if (net < 0) return netns_cookie_ && netns_cookie(fd) == netns_cookie_;
    bool ok = ident(net) == netns_;
    if (!ok) {
        int user = ioctl(net, NS_GET_USERNS);
        if (user >= 0) {
            ok = std::find(owners_.begin(), owners_.end(), ident(user)) != owners_.end();
            close(user);
        }
    }
    close(net);
    return ok;
}

ProofCheck ProofVerifier::check(int fd, int cap) const {
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return ProofCheck::kNotASocket;
    const int domain = sockopt_int(fd, SOL_SOCKET, SO_DOMAIN);
    const int type = sockopt_int(fd, SOL_SOCKET, SO_TYPE);
    const int protocol = sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL);
    switch (cap) {
        case kCapNetRaw:
            if (!(((domain == AF_INET || domain == AF_INET6) && type == SOCK_RAW) ||
                  domain == AF_PACKET))
                return ProofCheck::kWrongKind;
            break;
        case kCapNetBindService:
            // A raw socket reports its protocol as its port: only UDP and TCP bind ports.
            if (domain != AF_INET || !((type == SOCK_DGRAM && protocol == IPPROTO_UDP) ||
                                       (type == SOCK_STREAM && protocol == IPPROTO_TCP)))
                return ProofCheck::kWrongKind;
            break;
        case kCapNetAdmin:
            if ((domain != AF_INET && domain != AF_INET6) || type != SOCK_STREAM ||
                protocol != IPPROTO_TCP)
                return ProofCheck::kWrongKind;
            break;
        default:
            return ProofCheck::kUnknownCapability;
    }
    if (!same_or_ancestor_owner(fd)) return ProofCheck::kForeignNamespace;
    if (cap == kCapNetBindService) {
        sockaddr_in a{};
        socklen_t len = sizeof a;
        if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
            return ProofCheck::kUnprivilegedPort;
        // Port 0 is unbound; an automatic port comes from ip_local_port_range, which the
        // kernel keeps above ip_unprivileged_port_start.
        const int port = ntohs(a.sin_port);
        if (port == 0 || port >= kernel_unprivileged_port_start())
            return ProofCheck::kUnprivilegedPort;
    }
    if (cap == kCapNetAdmin && sockopt_int(fd, IPPROTO_TCP, TCP_REPAIR) != 1)
        return ProofCheck::kNotRepairing;
    return ProofCheck::kOk;
}

int make_proof(int cap, uint16_t port) noexcept {
    if (cap == kCapNetRaw)  // IPPROTO_RAW: send-only, it never receives a copy of anything
        return socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    if (cap == kCapNetAdmin) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
        const int on = 1;
        if (s >= 0 && setsockopt(s, IPPROTO_TCP, TCP_REPAIR, &on, sizeof on) != 0) {
            close(s);
            return -1;
        }
        return s;
    }
    if (cap != kCapNetBindService) return -1;
    // A random 127/8 address (IP_FREEBIND: lo need not be up) with SO_REUSEADDR: it collides
    // only with a socket on that port bound to the wildcard without SO_REUSEADDR; then
    // another port below 1024.
    uint16_t p = port && port < 1024 ? port : 1023;
    for (int attempt = 0; attempt < 8; ++attempt) {
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
        if (s < 0) return -1;
        const int on = 1;
        setsockopt(s, IPPROTO_IP, IP_FREEBIND, &on, sizeof on);
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        uint32_t r = 0;
        if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r) r = static_cast<uint32_t>(getpid());
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(p);
        a.sin_addr.s_addr = htonl((127u << 24) | (r & 0xfffffeu) | 1u);
        if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return s;
        const int e = errno;
        close(s);
        if (e != EADDRINUSE) return -1;  // EACCES: the capability is not ours
        p = static_cast<uint16_t>(512 + (r >> 24) % 512);
    }
    return -1;
}

}  // namespace ingress::ctl
