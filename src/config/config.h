// ingressd's configuration: a YAML file (yaml-cpp), validated completely before anything
// starts. Every error names the file, line, column and key path:
//
//   /etc/ingressd.yaml:12:7: interfaces[0].conf.rp_filtr: unknown key (did you mean
//   'rp_filter'?)
//
// The schema is documented in config/default.yaml (the embedded default, the demo's veth
// pair) and config/examples/. Kernel knobs keep their sysctl names and defaults:
// `all` and `interfaces[].conf` are net.ipv4.conf.{all,IFACE}.*, `ipv4` is net.ipv4.*.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ctl/policy.h"
#include "demux/sk_lookup.h"
#include "ipv4/defrag.h"
#include "ipv4/devconf.h"
#include "ipv4/icmp_send.h"
#include "ipv4/pmtu.h"
#include "ipv4/route_tables.h"
#include "ipv4/route_type.h"
#include "worker/poll_mode.h"

namespace ingress::config {

// A validation error: where, which key, what.
class Error : public std::runtime_error {
public:
    Error(const std::string& file, int line, int column, const std::string& key,
          const std::string& what);
    const std::string& file() const noexcept { return file_; }
    int line() const noexcept { return line_; }  // 1-based; 0 when not known
    int column() const noexcept { return column_; }
    const std::string& key() const noexcept { return key_; }

private:
    std::string file_, key_;
    int line_, column_;
};

enum class Driver : uint8_t { kAfXdp, kDpdk };
enum class XdpMode : uint8_t { kNative, kSkb };
// privileges.seccomp: the per-thread syscall allowlists (docs/security.md). kLog logs what
// the allowlist would refuse and lets it run (for finding a missing call).
enum class Seccomp : uint8_t { kOff, kOn, kLog };
enum class ZeroCopy : uint8_t { kAuto, kOn, kOff };
// AF_XDP ports: whether the device-bound XDP program is tried for the NIC's receive stamps
// (src/io/afxdp/hw_timestamps.md).
enum class HwTimestamps : uint8_t { kAuto, kOff };
// How a worker waits on an idle queue (README "Idle workers").
using PollMode = worker::PollMode;
// interfaces[].idle's bounds: the micro-sleep caps lie between the first micro-sleep and the
// idle timer tick (no sleep outlasts the tick: the reassembly timers); the spin up to a
// second, deep idle after an hour at the latest.
inline constexpr uint64_t kIdleSleepMinUs = worker::kBackoffMinNs / 1000;
inline constexpr uint64_t kIdleSleepMaxUs = worker::kTimerPeriodNs / 1000;
inline constexpr uint64_t kIdleSpinMaxUs = 1'000'000;
inline constexpr uint64_t kIdleDeepAfterMaxMs = 3'600'000;
// Which header fields the NIC's RSS hash covers (DPDK ports; docs/dpdk.md).
enum class Rss : uint8_t {
    kIp,     // IPv4 source and destination only: every fragment of a datagram on one queue
    kIpUdp,  // plus UDP ports for unfragmented datagrams: better spread, see docs/dpdk.md
};

struct VlanConfig {
    uint16_t id = 0;
    std::vector<ipv4::IfAddr> addresses;
    ipv4::DevConf conf;
};

struct InterfaceConfig {
    std::string name;
    Driver driver = Driver::kAfXdp;
    std::vector<uint16_t> queues{0};
    XdpMode xdp_mode = XdpMode::kNative;
    ZeroCopy zero_copy = ZeroCopy::kAuto;
    HwTimestamps hw_timestamps = HwTimestamps::kAuto;
    bool busy_poll = false;
    PollMode poll_mode = PollMode::kAdaptive;
    // `idle:` (README "Idle workers"): spin_us (adaptive), and the micro-sleep's caps and
    // deep-idle threshold (dpdk ports: a PMD without rx interrupts), in ns here.
    worker::IdleTimes idle;
    bool capture_all = false;  // redirect every frame to the dataplane (full capture)
    // DPDK ports: the device (a PCI address, or a vdev string such as
    // "net_af_xdp0,iface=eth1"), the kernel's TAP exception interface, the RSS fields.
    std::string device;
    std::string exception;
    Rss rss = Rss::kIpUdp;
    std::vector<ipv4::IfAddr> addresses;
    ipv4::DevConf conf;
    std::vector<VlanConfig> vlans;
};

// The `dpdk:` section: the EAL's arguments and the per-port buffer sizes (docs/dpdk.md).
struct DpdkConfig {
    std::vector<std::string> eal_args;  // as on a DPDK application's command line
    uint32_t mbufs = 16383;             // per port (RX rings + in flight + held fragments)
    uint32_t mbuf_cache = 256;          // per-lcore mempool cache
    uint16_t rx_descriptors = 1024;     // per RX queue
    uint16_t tx_descriptors = 1024;     // per TX queue
    uint32_t exception_poll = 16;       // the TAP is read once every this many RX polls
};

struct RouteEntry {
    wire::Ipv4Addr prefix = 0;
    uint8_t prefix_len = 0;
    ipv4::RouteType type = ipv4::RouteType::kUnicast;
    std::string dev;  // output interface name (unicast routes); "lo" for the loopback
    bool via_gateway = false;
    uint32_t table = 0;  // `table:`; 0: iproute2's default (local for local routes, else main)
};

// `bindings:` (README "One service on many addresses and ports"): tubular's bindings over
// the socket lookup (demux/sk_lookup.h), with where each was written, for the errors the
// daemon finds only when it applies them (an address the host does not own).
struct BindingEntry {
    demux::Binding binding;
    int line = 0, column = 0;  // of the entry in the file
    std::string key;           // "bindings[N]"
};

// The daemon's limits on `rings:`, within shm::RingGeometry's rules: a million slots per
// ring, and a slot for the largest datagram with its metadata.
inline constexpr uint32_t kMaxRingSlots = 1u << 20;
inline constexpr uint32_t kMaxRingSlotSize = 65536 + 64;

struct Config {
    std::string path;
    std::vector<InterfaceConfig> interfaces;
    ipv4::DevConf all = ipv4::DevConf::all_defaults();
    std::vector<RouteEntry> routes;
    // `rules:`: the policy rules, as `ip rule add` would leave them: the default three
    // (0 local, 32766 main, 32767 default) with the configured ones inserted by priority;
    // empty when the file has none. iif/oif are names here (iifname/oifname), resolved to
    // ifindexes by the daemon.
    std::vector<ipv4::FibRule> rules;
    // `loopback: {addresses: [...]}`: the addresses of the kernel's `lo` besides
    // 127.0.0.1/8, which is always there. lo is not a port (nothing arrives on it), but its
    // addresses and local routes (AnyIP) are the host's: local wherever they arrive.
    std::vector<ipv4::IfAddr> loopback_addresses;
    // `host: kernel` (default): addresses, routes and net.ipv4.conf knobs are the kernel's,
    // read and followed through netlink and /proc (src/daemon/netlink_mirror.h,
    // sysctl_mirror.h); the file then holds none. `host: config`: they are this file's.
    bool host_kernel = true;
    // No `host:` key, but the file writes addresses, routes or knobs: host: config is
    // implied; this names the first such key (ingressd logs it). Empty otherwise.
    std::string host_implied;
    ipv4::DefragConfig defrag;
    ipv4::IcmpConfig icmp;
    bool ip_nonlocal_bind = false;  // net.ipv4.ip_nonlocal_bind
    bool ip_early_demux = true;     // net.ipv4.ip_early_demux
    bool udp_early_demux = true;    // net.ipv4.udp_early_demux
    // net.ipv4.route.min_pmtu, mtu_expires: the kernel's under host: kernel, else these
    // defaults (not keys of the file).
    ipv4::PmtuConfig pmtu;
    std::vector<unsigned> worker_cores;  // one per (interface, queue), in order; empty: any
    int control_core = -1;               // -1: not pinned
    bool runtime_profile = true;         // workers stamp their stages (ingressctl runtime)
    uint32_t ring_slots = 1024;          // per (endpoint, worker) ring
    uint32_t ring_slot_size = 2048;      // bytes per slot, metadata included
    std::string control_socket = "/run/ingressd/ctl.sock";
    unsigned control_mode = 0660;
    std::string control_group;  // empty: the daemon's group
    // control: the per-uid quotas, reserves and timeouts (ctl::ServerConfig, RegistryConfig).
    uint32_t control_max_connections = 256;
    uint32_t control_max_connections_per_uid = 64;
    uint32_t control_reserved_connections = 16;
    uint32_t control_reserved_fds = 64;
    uint32_t control_idle_timeout_ms = 300000;
    uint32_t control_frame_timeout_ms = 5000;
    uint32_t control_max_endpoints_per_uid = 256;
    uint64_t control_max_ring_bytes_per_uid = 256ull << 20;
    // metrics.listen: serve GET /metrics (OpenMetrics) over HTTP on this IPv4 address and
    // port (src/daemon/metrics_http.h); port 0: off.
    uint32_t metrics_addr = 0;  // host order
    uint16_t metrics_port = 0;
    ctl::Policy policy;
    std::vector<BindingEntry> bindings;
    DpdkConfig dpdk;
    // privileges: {user, group, seccomp}: after setup ingressd runs as `user` (and `group`,
    // default the user's) keeping only the capabilities it still needs; empty: stays root.
    // seccomp: each worker and the control thread under its own allowlist.
    std::string privileges_user;
    std::string privileges_group;
    Seccomp seccomp = Seccomp::kOff;

    // Number of workers: one per (interface, queue).
    std::size_t workers() const noexcept;
};

struct LoadOptions {
    // Whether an interface name exists on this host (the daemon checks; tests inject).
    std::function<bool(const std::string&)> interface_exists;
    unsigned cpus = 0;  // 0: std::thread::hardware_concurrency()
};

// Parses and validates; throws config::Error. `text` is the file's content, `path` its name
// in messages.
Config parse(const std::string& text, const std::string& path, const LoadOptions& opt = {});
// Reads `path` and parses it; a file that cannot be read is an Error too.
Config load(const std::string& path, const LoadOptions& opt = {});

}  // namespace ingress::config
