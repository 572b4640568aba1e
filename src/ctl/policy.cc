#include "ctl/policy.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace ingress::ctl {

const char* privilege_name(Privilege p) noexcept {
    return p == Privilege::kNetRaw ? "CAP_NET_RAW" : "CAP_NET_BIND_SERVICE";
}

namespace {

// The value of one "Key:" line of /proc/PID/status; empty if absent or unreadable.
std::string status_field(const Policy& policy, pid_t pid, std::string_view key) {
    std::ifstream in(policy.proc_root + "/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 &&
            line[key.size()] == ':')
            return line.substr(key.size() + 1);
    return {};
}

}  // namespace

uint64_t peer_capabilities(const Policy& policy, pid_t pid) {
    std::istringstream v(status_field(policy, pid, "CapEff"));
    uint64_t caps = 0;
    v >> std::hex >> caps;
    return v ? caps : 0;
}

bool may_administer(const Policy& policy, const PeerCred& peer, uid_t owner_uid, int control_gid) {
    if (peer.uid == 0 || peer.uid == owner_uid) return true;
    if ((peer_capabilities(policy, peer.pid) >> 12) & 1) return true;  // CAP_NET_ADMIN
    if (control_gid < 0) return false;
    if (peer.gid == static_cast<gid_t>(control_gid)) return true;
    std::istringstream groups(status_field(policy, peer.pid, "Groups"));
    for (long g; groups >> g;)
        if (g == control_gid) return true;
    return false;
}

bool has_privilege(const Policy& policy, const PeerCred& peer, Privilege p) {
    const Grant& g = p == Privilege::kNetRaw ? policy.net_raw : policy.bind_service;
    if (std::find(g.uids.begin(), g.uids.end(), peer.uid) != g.uids.end()) return true;
    if (std::find(g.gids.begin(), g.gids.end(), peer.gid) != g.gids.end()) return true;
    const int bit = p == Privilege::kNetRaw ? 13 : 10;
    return (peer_capabilities(policy, peer.pid) >> bit) & 1;
}

}  // namespace ingress::ctl
