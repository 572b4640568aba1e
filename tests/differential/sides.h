// The two sides of a differential run. Each builds a fresh pair of namespaces (the receiving
// host "a", the peer "b" that injects frames at L2 and captures what comes back), configures
// the host from the scenario, opens the scenario's sockets, injects its frames and reports
// what it observed.
#pragma once

#include <string>

#include "scenario.h"

namespace ingress::diff {

// The Linux kernel: addresses, routes and sysctls in namespace a, real UDP / raw / AF_PACKET
// sockets, counter deltas from the namespace's /proc/net/snmp and /proc/net/netstat.
Observed run_kernel(const Scenario& sc);

// ingressd (capture_all) on the same layout with the equivalent configuration, endpoints
// opened through libingress, counter deltas from its kStats reply. `driver`: "af_xdp" (the
// XDP program and AF_XDP sockets) or "dpdk" (DPDK's net_af_xdp vdev on the same veth, with
// its TAP exception interface). `host`: "config" (the scenario's host written into the file,
// namespace a's kernel left bare) or "kernel" (namespace a configured with `ip` and `sysctl` as
// the kernel side is, and ingressd mirroring it: `host: kernel`, AF_XDP only).
Observed run_ingressd(const Scenario& sc, const std::string& ingressd_path,
                      const std::string& driver = "af_xdp", const std::string& host = "config");

}  // namespace ingress::diff
