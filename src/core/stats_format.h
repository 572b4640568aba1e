// Printing a counter snapshot the way nstat does, so `ingress-replay` and `ingressctl stats`
// read like `nstat -a` beside them. Generated entirely from the counter table.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/counters.h"

namespace ingress::core {

// Counters kept outside the workers' table, under the names their source gives them, per
// interface (and queue): a backend's own (io::BackendStats), the kernel's for an AF_XDP socket
// (getsockopt XDP_STATISTICS, struct xdp_statistics), DPDK's for a port (rte_eth_stats),
// the XDP program's per-action counters. The daemon reads them per request on the control
// thread; they answer "what was lost before a worker saw it".
struct NamedCounter {
    std::string name;  // the source's own field name: rx_ring_full, imissed, pass_dropped
    std::string help;
    uint64_t value = 0;
};
struct CounterGroup {
    std::string device;   // the interface ("eth0")
    std::string backend;  // "af_xdp", "dpdk"
    std::string source;   // "backend", "xdp_statistics", "rte_eth_stats", "xdp_program"
    int32_t queue = -1;   // -1: the whole interface
    std::vector<NamedCounter> counters;
};

// One app endpoint's figures (its rings' headers summed over workers), as `ingressctl
// endpoints` shows them.
struct EndpointFigures {
    uint32_t id = 0;
    std::string kind;   // "udp", "raw", "tap"
    std::string local;  // "0.0.0.0:5000", "0.0.0.0:proto1", "*:ETH_P_ALL"
    uint64_t delivered = 0, dropped = 0, truncated = 0;
    uint64_t ring_used = 0;  // slots filled now (a gauge)
};

struct FormatOptions {
    bool zeros = false;  // also print counters that are 0 (nstat -z)
    bool json = false;
};

// Text form:
//   #kernel
//   IpInReceives                    10
//   ...
//   #drop reasons
//   OTHERHOST                       3
//   #fates
//   IngressRx                       20
//   IngressDelivered / IngressHeld / IngressPassed / IngressDropped
//   #conservation rx 20 = delivered 0 + held 0 + passed 17 + dropped 3: ok
std::string format_stats(const Snapshot& s, const FormatOptions& opt = {});

// The two halves of what reached the ports. The conservation line accounts for every frame
// a worker received (rx); the frames lost before a worker saw them are the backends'
// rx_missed (AF_XDP: XDP_STATISTICS rx_dropped + rx_ring_full; DPDK: imissed + ierrors +
// rx_nombuf); the frames a previous instance's orphaned XDP program passed to the kernel
// while no ingressd ran (SIGKILL) are the `xdp_leftover` group's no_xsk, read from its
// per-action map at the next start. One line adds them up:
//   #arrived 1801 = rx 1234 + missed before ingressd 567 (+ passed by the orphaned program 0)
std::string arrival_line(const Snapshot& total, const std::vector<CounterGroup>& groups);

// The same counters with one column per worker after the total (`ingressctl stats`):
//   #kernel                                 total     worker0     worker1
//   IpInReceives                             2400        1200        1200
// A row is printed when its total is non-zero (or always, with opt.zeros).
std::string format_stats_table(const Snapshot& total, const std::vector<Snapshot>& workers,
                               const FormatOptions& opt = {});

// One JSON object for a snapshot (every counter, zeros included, so keys are stable):
//   {"mib":{"IpInReceives":10,...},"drops":{...},"fates":{...},"conserved":true}
std::string json_snapshot(const Snapshot& s);

// `ingressctl stats --watch`: every counter with its value and its rate over the interval
// (delta / secs) like nstat's second column; zero counters only with opt.zeros.
//   IpInReceives                    2400      1000.0/s
std::string format_rates(const Snapshot& prev, const Snapshot& cur, double secs,
                         const FormatOptions& opt = {});

// OpenMetrics text exposition (what Prometheus scrapes), one sample per worker:
//   # TYPE ingress_netstat_Ip_InReceives counter
//   # HELP ingress_netstat_Ip_InReceives IPv4 datagrams received (...)
//   ingress_netstat_Ip_InReceives_total{worker="0"} 1200
//   # TYPE ingress_drops counter
//   ingress_drops_total{worker="0",reason="NO_SOCKET"} 100
//   ... fates (ingress_rx_frames_total, ingress_delivered_frames_total,
//   ingress_passed_frames_total; ingress_held_frames is a gauge) ...
//   # EOF
// MIB families keep the /proc/net/snmp group and field, as node_exporter's netstat collector
// names them (node_netstat_Ip_InReceives), so a dashboard reads both the same way.
//
// Then each CounterGroup counter as its own family, named by source and field, labelled with
// the interface as node_exporter labels it (`device`), and the queue where there is one:
//   # TYPE ingress_xdp_statistics_rx_ring_full counter
//   ingress_xdp_statistics_rx_ring_full_total{device="eth0",queue="0"} 512
//   ingress_backend_rx_missed_total{device="eth0",backend="af_xdp"} 512
//
// Then per endpoint, labelled by its id, kind and local binding:
//   ingress_endpoint_delivered_datagrams_total{endpoint="1",kind="udp",local="0.0.0.0:5000"} 2000
//   (dropped_datagrams: its ring was full, SOCKET_RCVBUFF; truncated_datagrams; ring_used, a
//   gauge)
std::string format_openmetrics(const std::vector<Snapshot>& workers,
                               const std::vector<CounterGroup>& groups = {},
                               const std::vector<EndpointFigures>& endpoints = {});

// `ingressctl stats`: one section per group, zero counters only with opt.zeros:
//   #backend eth0 (af_xdp)
//   rx_missed                       512
//   #xdp_statistics eth0 queue 0 (af_xdp)
//   rx_ring_full                    512
std::string format_counter_groups(const std::vector<CounterGroup>& groups,
                                  const FormatOptions& opt = {});
// JSON array, every counter (zeros included):
//   [{"device":"eth0","backend":"af_xdp","source":"backend","queue":null,"counters":{...}}]
std::string json_counter_groups(const std::vector<CounterGroup>& groups);
// OpenMetrics escaping: in HELP text `\` and newline; in a label value also `"`.
std::string openmetrics_escape(std::string_view s, bool label_value);

// One line of live counters between two snapshots `secs` apart:
//   rx    50600/s  delivered    33734  passed      0  dropped  16866 NO_SOCKET=16866
std::string format_live_line(const Snapshot& prev, const Snapshot& cur, double secs);

}  // namespace ingress::core
