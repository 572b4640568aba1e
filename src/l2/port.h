// What L2 needs to know about the interface a frame arrived on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "wire/ethernet.h"

namespace ingress::l2 {

// An 802.1Q sub-interface (ip link add link eth0 name eth0.10 type vlan id 10).
struct VlanIf {
    uint16_t vid = 0;
    uint32_t ifindex = 0;
    wire::Mac mac;  // usually the parent's
};

struct Port {
    uint32_t ifindex = 0;
    std::string name;
    wire::Mac mac;
    std::vector<VlanIf> vlans;

    const VlanIf* vlan(uint16_t vid) const noexcept {
        for (const VlanIf& v : vlans)
            if (v.vid == vid) return &v;
        return nullptr;
    }
};

}  // namespace ingress::l2
