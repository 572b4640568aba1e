#include "ctl/policy.h"

#include <algorithm>

#include "ctl/cap_proof.h"

namespace ingress::ctl {

const char* privilege_name(Privilege p) noexcept {
    switch (p) {
        case Privilege::kNetBindService:
            return "CAP_NET_BIND_SERVICE";
        case Privilege::kNetRaw:
            return "CAP_NET_RAW";
        case Privilege::kBindings:
            return "CAP_NET_ADMIN (policy.bindings)";
        case Privilege::kRegister:
            return "CAP_NET_ADMIN (policy.register)";
        case Privilege::kNetAdmin:
            return "CAP_NET_ADMIN";
    }
    return "?";
}

namespace {

bool proven(const PeerCred& peer, int cap) {
    return (peer.proven >> cap) & 1;
}

// The peer's egid or one of its supplementary groups at connect() is `gid`.
bool in_group(const PeerCred& peer, gid_t gid) {
    return peer.gid == gid ||
           std::find(peer.groups.begin(), peer.groups.end(), gid) != peer.groups.end();
}

}  // namespace

bool may_administer(const Policy&, const PeerCred& peer, uid_t owner_uid, int control_gid) {
    if (peer.sender_mismatch) return false;
    if (peer.uid == 0 || peer.uid == owner_uid) return true;
    if (proven(peer, kCapNetAdmin)) return true;
    return control_gid >= 0 && in_group(peer, static_cast<gid_t>(control_gid));
}

bool has_privilege(const Policy& policy, const PeerCred& peer, Privilege p) {
    if (peer.sender_mismatch) return false;
    const Grant* g = &policy.bind_service;
    int cap = kCapNetBindService;
    switch (p) {
        case Privilege::kNetBindService:
            break;
        case Privilege::kNetRaw:
            g = &policy.net_raw, cap = kCapNetRaw;
            break;
        case Privilege::kBindings:
            g = &policy.bindings, cap = kCapNetAdmin;
            break;
        case Privilege::kRegister:
            g = &policy.register_label, cap = kCapNetAdmin;
            break;
        case Privilege::kNetAdmin:
            return proven(peer, kCapNetAdmin);
    }
    if (std::find(g->uids.begin(), g->uids.end(), peer.uid) != g->uids.end()) return true;
    if (std::any_of(g->gids.begin(), g->gids.end(), [&](gid_t gid) { return in_group(peer, gid); }))
        return true;
    return proven(peer, cap);
}

}  // namespace ingress::ctl
