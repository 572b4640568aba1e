#include "daemon/sysctl_mirror.h"

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

}  // namespace

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
