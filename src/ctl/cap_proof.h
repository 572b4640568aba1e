// Capabilities proved by sockets: with a privileged request, an app passes (SCM_RIGHTS) a
// socket that only a holder of the capability could have made, because the kernel checked
// the capability when the socket was made. The daemon never reads /proc to decide privilege:
// a pid's credentials can change (exec of a setuid program) between any check and its use.
//
//   CAP_NET_RAW           an AF_INET/AF_INET6 SOCK_RAW or an AF_PACKET socket
//                         (inet_create(), packet_create(): ns_capable(net->user_ns,
//                         CAP_NET_RAW));
//   CAP_NET_BIND_SERVICE  an AF_INET UDP or TCP socket bound to a port below the kernel's
//                         ip_unprivileged_port_start (__inet_bind():
//                         inet_port_requires_bind_service());
//   CAP_NET_ADMIN         a TCP socket in repair mode (TCP_REPAIR: tcp_can_repair_sock(),
//                         ns_capable(net->user_ns, CAP_NET_ADMIN)).
//
// The kernel checked the capability against the user namespace that owns the socket's network
// namespace. A proof counts only when that user namespace owns the daemon's network namespace
// or is an ancestor of its owner: then the maker holds the capability over the daemon's
// namespace too (cap_capable()). Root of a user namespace an unprivileged user made
// (`unshare -Urn`) proves nothing here.
//
// Deliberately not checked: who holds the socket now. An fd is a capability in the kernel's
// model too (a raw socket passed to another process keeps working); a privileged process that
// hands such a socket to another delegates the privilege, as it would for the socket itself.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ingress::ctl {

inline constexpr int kCapNetBindService = 10;
inline constexpr int kCapNetAdmin = 12;
inline constexpr int kCapNetRaw = 13;

enum class ProofCheck : uint8_t {
    kOk,
    kNotASocket,
    kUnknownCapability,  // not one of the three above
    kWrongKind,          // not the socket family, type or protocol the capability needs
    kForeignNamespace,   // made in a network namespace whose owner is not ours or above
    kUnprivilegedPort,   // bound to a port anyone may bind (or not bound)
    kNotRepairing,       // a TCP socket not in repair mode
};
const char* proof_check_str(ProofCheck c) noexcept;

// The daemon's side: which namespaces count, read once at start.
class ProofVerifier {
public:
    // The daemon's network namespace and the chain of user namespaces that own it.
    ProofVerifier();
    // Whether `fd` proves `cap` (a CAP_* number).
    ProofCheck check(int fd, int cap) const;

private:
    bool same_or_ancestor_owner(int fd) const;
    uint64_t netns_cookie_ = 0;
    std::vector<std::pair<dev_t, ino_t>> owners_;  // our netns's owner, then its ancestors
    std::pair<dev_t, ino_t> netns_{};
};

// The app's side: a socket proving `cap` if this process holds it, else -1. For
// CAP_NET_BIND_SERVICE, `port` is the port the app asks for (a port below 1024 is bound
// as is; else 1023), bound on a loopback address nobody uses.
int make_proof(int cap, uint16_t port = 0) noexcept;

}  // namespace ingress::ctl
