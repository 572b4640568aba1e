#include "io/netdev.h"

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ingress::io {

uint32_t netdev_ifindex(const std::string& name) noexcept {
    return if_nametoindex(name.c_str());
}

std::optional<wire::Mac> netdev_mac(const std::string& name) noexcept {
    if (name.size() >= IFNAMSIZ) return std::nullopt;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::nullopt;
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, name.c_str(), name.size());
    const bool ok = ioctl(fd, SIOCGIFHWADDR, &ifr) == 0;
    close(fd);
    if (!ok) return std::nullopt;
    wire::Mac m;
    std::memcpy(m.b.data(), ifr.ifr_hwaddr.sa_data, 6);
    return m;
}

int netdev_add_ipv4(uint32_t ifindex, uint32_t addr, uint8_t prefix_len) noexcept {
    struct {
        nlmsghdr nh;
        ifaddrmsg ifa;
        char attrs[2 * RTA_SPACE(sizeof(uint32_t))];
    } req{};
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
    req.nh.nlmsg_type = RTM_NEWADDR;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    req.ifa.ifa_family = AF_INET;
    req.ifa.ifa_prefixlen = prefix_len;
    req.ifa.ifa_index = ifindex;
    req.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
    const uint32_t be = htonl(addr);
    // IFA_LOCAL and IFA_ADDRESS both: what `ip addr add` sends for a non-point-to-point link.
    for (unsigned short type : {IFA_LOCAL, IFA_ADDRESS}) {
        auto* rta = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&req) +
                                              NLMSG_ALIGN(req.nh.nlmsg_len));
        rta->rta_type = type;
        rta->rta_len = RTA_LENGTH(sizeof be);
        std::memcpy(RTA_DATA(rta), &be, sizeof be);
        req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_SPACE(sizeof be);
    }
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return errno;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    int err = 0;
    if (sendto(fd, &req, req.nh.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) <
        0) {
        err = errno;
    } else {
        char buf[512];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        const auto* ack = reinterpret_cast<const nlmsghdr*>(buf);
        if (n < 0)
            err = errno;
        else if (n >= static_cast<ssize_t>(NLMSG_LENGTH(sizeof(nlmsgerr))) &&
                 ack->nlmsg_type == NLMSG_ERROR)
            err = -static_cast<const nlmsgerr*>(NLMSG_DATA(ack))->error;
        else
            err = EPROTO;
    }
    close(fd);
    return err;
}

}  // namespace ingress::io
