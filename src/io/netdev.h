// Facts about kernel network devices the dataplane needs at start-up.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "wire/ethernet.h"

namespace ingress::io {

// The device's ifindex, 0 when there is none by that name.
uint32_t netdev_ifindex(const std::string& name) noexcept;
// The device's MAC address (SIOCGIFHWADDR); nullopt when it cannot be read.
std::optional<wire::Mac> netdev_mac(const std::string& name) noexcept;
// `ip addr add ADDR/PREFIX dev IFINDEX` (RTM_NEWADDR over rtnetlink; `addr` in host order).
// Returns 0 or the errno the kernel answered (EEXIST when the address is already there).
int netdev_add_ipv4(uint32_t ifindex, uint32_t addr, uint8_t prefix_len) noexcept;

}  // namespace ingress::io
