#include "daemon/sysctl_mirror.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

namespace ingress::daemon {
namespace {

// One knob file: a decimal number and a newline. False when missing or malformed.
bool read_number(const std::string& path, unsigned& v) {
    FILE* f = std::fopen(path.c_str(), "re");
    if (!f) return false;
    const bool ok = std::fscanf(f, "%u", &v) == 1;
    std::fclose(f);
    return ok;
}

uint32_t read_dir(const std::string& dir, ipv4::DevConf& c) {
    uint32_t bad = 0;
    for (const char* knob : ipv4::kDevConfKnobs) {
        unsigned v = 0;
        if (!read_number(dir + "/" + knob, v) || !c.set(knob, v)) ++bad;
    }
    return bad;
}

// The global knobs: name, the kernel's accepted range, and where each lives.
struct GlobalKnob {
    const char* name;
    uint64_t min, max;
    void (*set)(KernelGlobals&, uint64_t);
    uint64_t (*get)(const KernelGlobals&);
};

constexpr GlobalKnob kGlobalKnobs[] = {
    {"icmp_ratelimit", 0, UINT32_MAX,
     [](KernelGlobals& g, uint64_t v) {
         g.knobs.icmp.icmp_ratelimit_ms = static_cast<uint32_t>(v);
     },
     [](const KernelGlobals& g) -> uint64_t { return g.knobs.icmp.icmp_ratelimit_ms; }},
    {"icmp_ratemask", 0, UINT32_MAX,
     [](KernelGlobals& g, uint64_t v) { g.knobs.icmp.icmp_ratemask = static_cast<uint32_t>(v); },
     [](const KernelGlobals& g) -> uint64_t { return g.knobs.icmp.icmp_ratemask; }},
    {"icmp_msgs_per_sec", 0, UINT32_MAX,
     [](KernelGlobals& g, uint64_t v) {
         g.knobs.icmp.icmp_msgs_per_sec = static_cast<uint32_t>(v);
     },
     [](const KernelGlobals& g) -> uint64_t { return g.knobs.icmp.icmp_msgs_per_sec; }},
    {"icmp_msgs_burst", 0, UINT32_MAX,
     [](KernelGlobals& g, uint64_t v) { g.knobs.icmp.icmp_msgs_burst = static_cast<uint32_t>(v); },
     [](const KernelGlobals& g) -> uint64_t { return g.knobs.icmp.icmp_msgs_burst; }},
    {"icmp_echo_ignore_all", 0, 1,
     [](KernelGlobals& g, uint64_t v) { g.knobs.icmp.icmp_echo_ignore_all = v != 0; },
     [](const KernelGlobals& g) -> uint64_t { return g.knobs.icmp.icmp_echo_ignore_all; }},
    {"icmp_echo_ignore_broadcasts", 0, 1,
     [](KernelGlobals& g, uint64_t v) { g.knobs.icmp.icmp_echo_ignore_broadcasts = v != 0; },
     [](const KernelGlobals& g) -> uint64_t { return g.knobs.icmp.icmp_echo_ignore_broadcasts; }},
    {"icmp_ignore_bogus_error_responses", 0, 1,
     [](KernelGlobals& g, uint64_t v) { g.knobs.icmp.icmp_ignore_bogus_error_responses = v != 0; },
     [](const KernelGlobals& g) -> uint64_t {
         return g.knobs.icmp.icmp_ignore_bogus_error_responses;
     }},
    {"ip_default_ttl", 1, 255,
     [](KernelGlobals& g, uint64_t v) { g.knobs.icmp.ip_default_ttl = static_cast<uint8_t>(v); },
     [](const KernelGlobals& g) -> uint64_t { return g.knobs.icmp.ip_default_ttl; }},
    {"ipfrag_high_thresh", 0, INT64_MAX,
     [](KernelGlobals& g, uint64_t v) { g.knobs.defrag.ipfrag_high_thresh = v; },
     [](const KernelGlobals& g) -> uint64_t { return g.knobs.defrag.ipfrag_high_thresh; }},
    {"ipfrag_low_thresh", 0, INT64_MAX,
     [](KernelGlobals& g, uint64_t v) { g.knobs.defrag.ipfrag_low_thresh = v; },
     [](const KernelGlobals& g) -> uint64_t { return g.knobs.defrag.ipfrag_low_thresh; }},
    {"ipfrag_time", 0, INT32_MAX,
     [](KernelGlobals& g, uint64_t v) { g.knobs.defrag.ipfrag_time = static_cast<uint32_t>(v); },
     [](const KernelGlobals& g) -> uint64_t { return g.knobs.defrag.ipfrag_time; }},
    {"ipfrag_max_dist", 0, INT32_MAX,
     [](KernelGlobals& g, uint64_t v) {
         g.knobs.defrag.ipfrag_max_dist = static_cast<uint32_t>(v);
     },
     [](const KernelGlobals& g) -> uint64_t { return g.knobs.defrag.ipfrag_max_dist; }},
    {"ip_early_demux", 0, 1, [](KernelGlobals& g, uint64_t v) { g.knobs.ip_early_demux = v != 0; },
     [](const KernelGlobals& g) -> uint64_t { return g.knobs.ip_early_demux; }},
    {"udp_early_demux", 0, 1,
     [](KernelGlobals& g, uint64_t v) { g.knobs.udp_early_demux = v != 0; },
     [](const KernelGlobals& g) -> uint64_t { return g.knobs.udp_early_demux; }},
    // net.ipv4.route.*: min_pmtu at least IPV4_MIN_MTU (ip_min_valid_pmtu), mtu_expires in
    // seconds (proc_dointvec_jiffies).
    {"route/min_pmtu", 68, 65535,
     [](KernelGlobals& g, uint64_t v) { g.knobs.pmtu.min_pmtu = static_cast<uint32_t>(v); },
     [](const KernelGlobals& g) -> uint64_t { return g.knobs.pmtu.min_pmtu; }},
    {"route/mtu_expires", 0, INT32_MAX,
     [](KernelGlobals& g, uint64_t v) { g.knobs.pmtu.mtu_expires_s = static_cast<uint32_t>(v); },
     [](const KernelGlobals& g) -> uint64_t { return g.knobs.pmtu.mtu_expires_s; }},
    {"ip_unprivileged_port_start", 0, 65535,
     [](KernelGlobals& g, uint64_t v) { g.ip_unprivileged_port_start = static_cast<uint16_t>(v); },
     [](const KernelGlobals& g) -> uint64_t { return g.ip_unprivileged_port_start; }},
    {"ip_nonlocal_bind", 0, 1, [](KernelGlobals& g, uint64_t v) { g.ip_nonlocal_bind = v != 0; },
     [](const KernelGlobals& g) -> uint64_t { return g.ip_nonlocal_bind; }},
};

}  // namespace

KernelGlobals read_kernel_globals(const KernelGlobals& base, const std::string& root) {
    KernelGlobals g = base;
    g.unreadable = 0;
    for (const GlobalKnob& k : kGlobalKnobs) {
        FILE* f = std::fopen((root + "/" + k.name).c_str(), "re");
        unsigned long long v = 0;
        const bool ok = f && std::fscanf(f, "%llu", &v) == 1 && v >= k.min && v <= k.max;
        if (f) std::fclose(f);
        if (ok)
            k.set(g, v);
        else
            ++g.unreadable;
    }
    return g;
}

std::vector<std::string> describe_globals(const KernelGlobals& g) {
    std::vector<std::string> out;
    for (const GlobalKnob& k : kGlobalKnobs) {
        std::string name = k.name;
        std::replace(name.begin(), name.end(), '/',
                     '.');  // route/min_pmtu: net.ipv4.route.min_pmtu
        out.push_back("net.ipv4." + name + " " + std::to_string(k.get(g)));
    }
    return out;
}

ipv4::NetKnobs knobs_of(const config::Config& c) {
    return {c.icmp, c.defrag, c.ip_early_demux, c.udp_early_demux, c.pmtu};
}

KernelGlobals globals_of(const config::Config& c) {
    KernelGlobals g;
    g.knobs = knobs_of(c);
    g.ip_unprivileged_port_start = c.policy.ip_unprivileged_port_start;
    g.ip_nonlocal_bind = c.ip_nonlocal_bind;
    return g;
}

void overlay_kernel_globals(config::Config& c, const KernelGlobals& g) {
    // Every knob of the table: the fields besides them (the MTU, the pools) stay the file's.
    KernelGlobals mine = globals_of(c);
    for (const GlobalKnob& k : kGlobalKnobs) k.set(mine, k.get(g));
    c.icmp = mine.knobs.icmp;
    c.defrag = mine.knobs.defrag;
    c.ip_early_demux = mine.knobs.ip_early_demux;
    c.udp_early_demux = mine.knobs.udp_early_demux;
    c.pmtu = mine.knobs.pmtu;
    c.policy.ip_unprivileged_port_start = mine.ip_unprivileged_port_start;
    c.ip_nonlocal_bind = mine.ip_nonlocal_bind;
}

KernelConf read_kernel_conf(const std::vector<std::string>& names, const std::string& root) {
    KernelConf k;
    k.unreadable += read_dir(root + "/conf/all", k.all);
    for (const std::string& n : names) {
        // The kernel's own defaults for an interface (ipv4_devconf_dflt), should its
        // directory be unreadable.
        ipv4::DevConf c;
        k.unreadable += read_dir(root + "/conf/" + n, c);
        k.ifaces.emplace_back(n, c);
    }
    return k;
}

void overlay_kernel_conf(ipv4::RouteConfig& rc, const KernelConf& k) {
    rc.all = k.all;
    for (ipv4::IfConfig& i : rc.ifaces)
        for (const auto& [name, conf] : k.ifaces)
            if (name == i.name) i.conf = conf;
}

std::vector<std::string> conf_names(const ipv4::RouteConfig& rc) {
    std::vector<std::string> v;
    for (const ipv4::IfConfig& i : rc.ifaces) v.push_back(i.name);
    return v;
}

}  // namespace ingress::daemon
