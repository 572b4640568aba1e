// Who may open what: the kernel's privilege rules for sockets, applied to apps on the
// control socket.
//
//   - a UDP port below net.ipv4.ip_unprivileged_port_start (1024) needs CAP_NET_BIND_SERVICE
//     (inet_bind -> inet_port_requires_bind_service);
//   - a raw endpoint needs CAP_NET_RAW (inet_create: SOCK_RAW);
//   - a packet tap needs CAP_NET_RAW (packet_create), whatever its ethertype;
//   - adding or removing a binding (demux/sk_lookup.h) needs CAP_NET_ADMIN, as attaching
//     and changing a netns's BPF sk_lookup program does (policy.bindings grants it);
//   - registering an endpoint under a label needs CAP_NET_ADMIN too, as writing the
//     program's SOCKMAP does (policy.register grants it, as tubular's group-writable maps);
//   - SO_RCVBUFFORCE needs CAP_NET_ADMIN (sk_setsockopt); no grant, only a proof.
//
// Judged, as the kernel judges a socket call, for the caller at the time of the call, from
// credentials the kernel vouches for and nothing read later from /proc (docs/control-protocol.md,
// "Privilege"):
//   - a capability counts when the request itself came with a socket proving it
//     (ctl/cap_proof.h: PeerCred::proven);
//   - the config can grant each privilege to listed uids and gids, matched against the
//     peer's effective uid, gid and supplementary groups at connect() (SO_PEERCRED,
//     SO_PEERGROUPS), so an unprivileged service account can be allowed without the
//     capability itself;
//   - nothing is granted to a request whose sender (SCM_CREDENTIALS) is not the connection's
//     peer (PeerCred::sender_mismatch): the connection keeps the lesser of the two.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ctl/unix_socket.h"

namespace ingress::ctl {

enum class Privilege : uint8_t {
    kNetBindService,  // CAP_NET_BIND_SERVICE (10)
    kNetRaw,          // CAP_NET_RAW (13)
    kBindings,        // CAP_NET_ADMIN (12): add and remove bindings
    kRegister,        // CAP_NET_ADMIN (12): register endpoints under labels
    kNetAdmin,        // CAP_NET_ADMIN (12): SO_RCVBUFFORCE (no grant: a proof only)
};
const char* privilege_name(Privilege p) noexcept;

struct Grant {
    std::vector<uid_t> uids;
    std::vector<gid_t> gids;
};

struct Policy {
    uint16_t ip_unprivileged_port_start = 1024;  // net.ipv4.ip_unprivileged_port_start
    Grant bind_service;                          // extra grants of kNetBindService
    Grant net_raw;                               // extra grants of kNetRaw
    Grant bindings;                              // extra grants of kBindings
    Grant register_label;                        // extra grants of kRegister (`register:`)
    std::string proc_root = "/proc";             // for display only (comm); injected for tests
};

// Whether `peer` holds `p`, by a proof passed with the request or by the policy's grants.
bool has_privilege(const Policy& policy, const PeerCred& peer, Privilege p);

// Who may change the daemon itself (`ingressctl reload`, as SIGHUP): root; the daemon's own
// uid, which owns the control socket (`owner_uid`); a request proving CAP_NET_ADMIN (what
// `ip route` and `sysctl -w net.*` need); or a member of the control group (`control_gid`,
// -1: none), as primary group or as a supplementary group at connect(). Never a request
// whose sender is not the connection's peer. Reading counters, endpoints and routes needs no
// more than being able to connect.
bool may_administer(const Policy& policy, const PeerCred& peer, uid_t owner_uid, int control_gid);

}  // namespace ingress::ctl
