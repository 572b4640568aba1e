// Who may open what: the kernel's privilege rules for sockets, applied to apps on the
// control socket.
//
//   - a UDP port below net.ipv4.ip_unprivileged_port_start (1024) needs CAP_NET_BIND_SERVICE
//     (inet_bind -> inet_port_requires_bind_service);
//   - a raw endpoint needs CAP_NET_RAW (inet_create: SOCK_RAW);
//   - a packet tap needs CAP_NET_RAW (packet_create), whatever its ethertype.
//
// The peer's capabilities are read from /proc/PID/status (CapEff) of the pid SO_PEERCRED
// reported; the config can also grant each privilege to listed uids and gids, so an
// unprivileged service account can be allowed without giving it the capability itself.
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
    std::string proc_root = "/proc";             // injected for tests
};

// The peer's effective capability bits (CapEff), or 0 if /proc/PID/status is unreadable.
uint64_t peer_capabilities(const Policy& policy, pid_t pid);

// Whether `peer` holds `p`, by capability or by the policy's grants.
bool has_privilege(const Policy& policy, const PeerCred& peer, Privilege p);

// Who may change the daemon itself (`ingressctl reload`, as SIGHUP): root; the daemon's own
// uid, which owns the control socket (`owner_uid`); a holder of CAP_NET_ADMIN (what
// `ip route` and `sysctl -w net.*` need); or a member of the control group (`control_gid`,
// -1: none), as primary group or as a supplementary group (Groups: in /proc/PID/status).
// Reading counters, endpoints and routes needs no more than being able to connect.
bool may_administer(const Policy& policy, const PeerCred& peer, uid_t owner_uid, int control_gid);

}  // namespace ingress::ctl
