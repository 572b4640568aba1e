// Which destinations and IP protocols a port steers to the dataplane, kept in step with the
// route tables and the raw endpoints through the port's io::Steering (its XDP program or
// its DPDK backend). The destinations come from RouteTables::local_dsts, the one answer to
// "which addresses are ours", so what is steered is what the route stage accepts locally.
// Control plane only: one thread, no per-packet work.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "io/steering.h"
#include "ipv4/route_tables.h"
#include "l2/port.h"

namespace ingress::daemon {

// The destinations to steer for `port`: local_dsts of the port and of each of its VLANs
// (every local address and prefix of the host, and the groups joined on each).
std::vector<ipv4::LocalDst> port_dsts(const ipv4::RouteTables& t, const l2::Port& port);

// Keeps one port's Steering equal to what is wanted, changing only the difference.
class SteeringSync {
public:
    // `s` (the port's backend) outlives this; `name` names the port in errors. Starts as
    // the backends do: UDP taken, no destination.
    SteeringSync(io::Steering& s, std::string name);

    // Steers exactly `want`; throws std::runtime_error when the backend has no room.
    void sync_dsts(const std::vector<ipv4::LocalDst>& want);
    // UDP always; another protocol while a raw endpoint asks for it (a raw endpoint for
    // TCP, ICMP or IGMP takes that protocol from the kernel on this port: docs/design.md).
    void sync_protocols(const std::set<uint8_t>& want);
    io::Steering& steering() noexcept { return *s_; }

private:
    io::Steering* s_;
    std::string name_;
    using Key = std::pair<wire::Ipv4Addr, uint8_t>;  // address, prefix length
    std::set<Key> dsts_;
    std::set<uint8_t> protocols_{wire::kIpProtoUdp};
};

}  // namespace ingress::daemon
