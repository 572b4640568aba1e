#include "ctl/policy.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace ingress::ctl {

const char* privilege_name(Privilege p) noexcept {
    return p == Privilege::kNetRaw ? "CAP_NET_RAW" : "CAP_NET_BIND_SERVICE";
}

uint64_t peer_capabilities(const Policy& policy, pid_t pid) {
    std::ifstream in(policy.proc_root + "/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("CapEff:", 0) != 0) continue;
        std::istringstream v(line.substr(7));
        uint64_t caps = 0;
        v >> std::hex >> caps;
        return v ? caps : 0;
    }
    return 0;
}

bool has_privilege(const Policy& policy, const PeerCred& peer, Privilege p) {
    const Grant& g = p == Privilege::kNetRaw ? policy.net_raw : policy.bind_service;
    if (std::find(g.uids.begin(), g.uids.end(), peer.uid) != g.uids.end()) return true;
    if (std::find(g.gids.begin(), g.gids.end(), peer.gid) != g.gids.end()) return true;
    const int bit = p == Privilege::kNetRaw ? 13 : 10;
    return (peer_capabilities(policy, peer.pid) >> bit) & 1;
}

}  // namespace ingress::ctl
