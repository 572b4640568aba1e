// Per-interface IPv4 knobs: /proc/sys/net/ipv4/conf/{all,IFACE}/*, with the kernel's names,
// defaults and the rule each one uses to combine conf/all with conf/IFACE
// (include/linux/inetdevice.h IN_DEV_* macros).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ingress::ipv4 {

struct DevConf {
    uint8_t rp_filter = 0;                      // IN_DEV_RPFILTER: max(all, dev)
    bool accept_local = false;                  // IN_DEV_ACCEPT_LOCAL: all || dev
    bool accept_source_route = true;            // IN_DEV_SOURCE_ROUTE: all && dev
    bool forwarding = false;                    // IN_DEV_FORWARD: dev only
    bool route_localnet = false;                // IN_DEV_NET_ROUTE_LOCALNET: all || dev
    bool drop_unicast_in_l2_multicast = false;  // IN_DEV_ORCONF: all || dev
    bool bc_forwarding = false;                 // IN_DEV_BFORWARD: all && dev
    bool send_redirects = true;                 // IN_DEV_TX_REDIRECTS: all || dev
    bool log_martians = false;                  // IN_DEV_LOG_MARTIANS: all || dev (no logging here)

    // conf/all starts from the same values except accept_source_route, which the kernel
    // leaves 0 in ipv4_devconf (all) and sets to 1 in ipv4_devconf_dflt (default, and so
    // every new interface): the effective value is 0 until all is set.
    static DevConf all_defaults() noexcept {
        DevConf c;
        c.accept_source_route = false;
        return c;
    }

    // Sets one knob by its sysctl name; false for an unknown name or a value out of range.
    bool set(std::string_view name, unsigned value) noexcept;

    friend bool operator==(const DevConf&, const DevConf&) = default;
};

// Every knob DevConf::set() takes, by its sysctl name (the file's `conf:` keys, the files of
// /proc/sys/net/ipv4/conf/IFACE/ the host: kernel mirror reads).
inline constexpr const char* kDevConfKnobs[] = {
    "rp_filter",     "accept_local",   "accept_source_route",
    "forwarding",    "route_localnet", "drop_unicast_in_l2_multicast",
    "bc_forwarding", "send_redirects", "log_martians",
};

// What the route stage reads: each knob already combined as the kernel combines it.
struct EffectiveConf {
    uint8_t rp_filter = 0;
    bool accept_local = false;
    bool source_route = false;
    bool forward = false;
    bool route_localnet = false;
    bool drop_unicast_in_l2_multicast = false;
    bool bforward = false;
    bool tx_redirects = true;

    static EffectiveConf of(const DevConf& all, const DevConf& dev) noexcept {
        EffectiveConf e;
        e.rp_filter = std::max(all.rp_filter, dev.rp_filter);
        e.accept_local = all.accept_local || dev.accept_local;
        e.source_route = all.accept_source_route && dev.accept_source_route;
        e.forward = dev.forwarding;
        e.route_localnet = all.route_localnet || dev.route_localnet;
        e.drop_unicast_in_l2_multicast =
            all.drop_unicast_in_l2_multicast || dev.drop_unicast_in_l2_multicast;
        e.bforward = all.bc_forwarding && dev.bc_forwarding;
        e.tx_redirects = all.send_redirects || dev.send_redirects;
        return e;
    }
};

inline bool DevConf::set(std::string_view name, unsigned v) noexcept {
    const bool b = v != 0;
    if (name == "rp_filter") {
        if (v > 2) return false;
        rp_filter = static_cast<uint8_t>(v);
        return true;
    }
    if (v > 1) return false;
    if (name == "accept_local")
        accept_local = b;
    else if (name == "accept_source_route")
        accept_source_route = b;
    else if (name == "forwarding")
        forwarding = b;
    else if (name == "route_localnet")
        route_localnet = b;
    else if (name == "drop_unicast_in_l2_multicast")
        drop_unicast_in_l2_multicast = b;
    else if (name == "bc_forwarding")
        bc_forwarding = b;
    else if (name == "send_redirects")
        send_redirects = b;
    else if (name == "log_martians")
        log_martians = b;
    else
        return false;
    return true;
}

}  // namespace ingress::ipv4
