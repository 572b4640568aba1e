// `host: kernel`: the per-interface IPv4 knobs read from the kernel's sysctl tree
// (net.ipv4.conf.{all,IFACE}.*, /proc/sys/net/ipv4/conf/), so an operator's
// `sysctl -w net.ipv4.conf.eth1.rp_filter=1` decides for ingressd as it does for the kernel.
//
// When a change is seen: rp_filter and forwarding changes raise an RTM_NEWNETCONF
// notification (the watch subscribes to RTNLGRP_IPV4_NETCONF) and apply at once; the other
// knobs have no notification in the kernel and are re-read on the control thread's timer
// (every second) and on `ingressctl reload`. conf/default is not read: it only seeds the
// conf of interfaces created later, which the kernel then shows in their own directories.
//
// The global net.ipv4.* knobs the pipeline and the bind checks read (icmp_*, ipfrag_*,
// ip_default_ttl, ip_early_demux, udp_early_demux, route.min_pmtu, route.mtu_expires,
// ip_unprivileged_port_start, ip_nonlocal_bind) have no notification either:
// read at start and on the same timer, published to the workers live (ipv4/knobs.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "ipv4/devconf.h"
#include "ipv4/knobs.h"
#include "ipv4/route_tables.h"

namespace ingress::daemon {

// What one read found: conf/all and each interface's conf, by name (the kernel's names:
// a DPDK port's TAP twin, lo, every other link).
struct KernelConf {
    ipv4::DevConf all = ipv4::DevConf::all_defaults();
    std::vector<std::pair<std::string, ipv4::DevConf>> ifaces;
    uint32_t unreadable = 0;  // files missing or out of range (left at the default)
    friend bool operator==(const KernelConf&, const KernelConf&) = default;
};

// Reads conf/all and conf/NAME for each name under `root` (normally /proc/sys/net/ipv4;
// tests pass a directory of their own). An interface whose directory is missing (a VLAN
// with no kernel device) keeps the defaults and counts as unreadable.
KernelConf read_kernel_conf(const std::vector<std::string>& names,
                            const std::string& root = "/proc/sys/net/ipv4");

// The global knobs, /proc/sys/net/ipv4/NAME.
struct KernelGlobals {
    ipv4::NetKnobs knobs;  // icmp_*, ip_default_ttl, ipfrag_*
    uint16_t ip_unprivileged_port_start = 1024;
    bool ip_nonlocal_bind = false;
    uint32_t unreadable = 0;  // files missing or out of range (left at the default)
    friend bool operator==(const KernelGlobals&, const KernelGlobals&) = default;
};

// Reads every global knob under `root`; `base` gives the values of those it cannot read.
KernelGlobals read_kernel_globals(const KernelGlobals& base = {},
                                  const std::string& root = "/proc/sys/net/ipv4");
// "net.ipv4.NAME VALUE", one per knob, in a fixed order (ingressctl host, the change log).
std::vector<std::string> describe_globals(const KernelGlobals& g);
// The configuration's values of the same knobs (host: config: the file's `ipv4:`), and
// back: the kernel's written over the configuration's.
KernelGlobals globals_of(const config::Config& c);
// What the workers take of the configuration (published by ipv4::KnobPublisher).
ipv4::NetKnobs knobs_of(const config::Config& c);
void overlay_kernel_globals(config::Config& c, const KernelGlobals& g);

// Writes what was read into the route stage's configuration, by interface name.
void overlay_kernel_conf(ipv4::RouteConfig& rc, const KernelConf& k);

// The names of rc's interfaces, for read_kernel_conf().
std::vector<std::string> conf_names(const ipv4::RouteConfig& rc);

}  // namespace ingress::daemon
