#include "daemon/kernel_memberships.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ingress::daemon {

KernelMemberships::~KernelMemberships() {
    for (auto& [m, fd] : socks_) ::close(fd);
}

void KernelMemberships::sync(const std::set<Membership>& want) {
    for (auto it = socks_.begin(); it != socks_.end();) {
        if (want.count(it->first)) {
            ++it;
            continue;
        }
        ::close(it->second);  // ip_mc_drop_socket: the kernel leaves (IGMP leave, MAC filter)
        it = socks_.erase(it);
    }
    for (const Membership& m : want) {
        if (socks_.count(m)) continue;
        int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ip_mreqn mr{};
        mr.imr_multiaddr.s_addr = htonl(m.second);
        mr.imr_ifindex = static_cast<int>(m.first);
        int off = 0;
        if (fd >= 0 && ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &off, sizeof off) == 0 &&
            ::setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr) == 0) {
            socks_.emplace(m, fd);
            refused_.erase(m);
            continue;
        }
        const int err = errno;
        if (fd >= 0) ::close(fd);
        if (refused_.insert(m).second)
            std::fprintf(stderr,
                         "ingressd: the kernel refused to join %s on ifindex %u (%s): the NIC's "
                         "multicast filter and IGMP reports will not cover it\n",
                         wire::ipv4_str(m.second).c_str(), m.first, std::strerror(err));
    }
}

std::set<Membership> KernelMemberships::joined() const {
    std::set<Membership> s;
    for (const auto& [m, fd] : socks_) s.insert(m);
    return s;
}

}  // namespace ingress::daemon
