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

}  // namespace ingress::io
