#include "io/netdev.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace ingress::io {

uint32_t netdev_ifindex(const std::string& name) noexcept { return if_nametoindex(name.c_str()); }

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

}  // namespace ingress::io
