// ingressd's dataplane: everything the configuration asks for, brought up in order and torn
// down in reverse. Interfaces are resolved, the XDP program is attached and told which
// destinations are ours, one AF_XDP socket and one worker thread per (interface, queue),
// pinned where the config says, all reading the route tables published by pointer swap.
//
// Apps attach through the control socket (src/ctl/server.h): the registry creates their
// endpoints with one shared-memory ring per worker and publishes endpoint tables to the
// workers by pointer swap. With no app attached, datagrams for this host end as NO_SOCKET
// (with the kernel's rate-limited ICMP port unreachable), as on a host with no socket bound.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "core/counters.h"
#include "ctl/registry.h"
#include "ctl/server.h"
#include "daemon/host_state.h"
#include "daemon/metrics_http.h"
#include "daemon/sysctl_mirror.h"
#include "demux/endpoint_publisher.h"
#include "ipv4/knobs.h"
#include "ipv4/route_tables.h"
#include "worker/handoff.h"
#include "worker/observe.h"
#include "worker/runtime.h"

namespace ingress::daemon {

// The route configuration a Config describes, with interface names resolved to ifindexes
// (`ifindex_of` returns 0 for an unknown name). A VLAN sub-interface takes the ifindex of
// the kernel's device NAME.VID when there is one, else a synthetic ifindex
// (0x40000000 | parent << 12 | vid) that cannot collide with the kernel's. A DPDK port's
// ifindex is its exception TAP's (the port's face in the kernel). The kernel's `lo`
// (ifindex_of("lo")) is added with 127.0.0.1/8 and `loopback.addresses`.
using IfindexOf = std::function<uint32_t(const std::string& name)>;
ipv4::RouteConfig route_config(const config::Config& cfg, const IfindexOf& ifindex_of);
uint32_t kernel_ifindex(const std::string& name);
// How ingressd loads its file: interface names are checked against the kernel's.
config::LoadOptions load_options();

class NetlinkWatch;

class Dataplane {
public:
    // Brings everything up; throws std::runtime_error (naming what failed) with nothing left
    // attached. `xdp_object`: path of ingress.bpf.o.
    Dataplane(const config::Config& cfg, const std::string& xdp_object);
    ~Dataplane();  // stops workers, detaches programs, frees UMEMs
    Dataplane(const Dataplane&) = delete;
    Dataplane& operator=(const Dataplane&) = delete;

    // Closes the apps' connections, then stops and joins the workers (each drops the
    // fragments it still holds on the way out); counters() stays readable. Idempotent.
    void stop();
    // Counters summed over every worker (each snapshot consistent: the sum is too).
    core::Snapshot counters() const;
    std::size_t workers() const noexcept;
    // Each worker's loop count (it beats once per poll, asleep or not: an idle worker wakes
    // for its timer tick every 10 ms). The watchdog compares two readings.
    std::vector<uint64_t> worker_beats() const;
    // Where worker i's loop is now (the watchdog's message about a stalled worker).
    worker::LoopPhase worker_phase(std::size_t i) const;
    // Worker threads that are running their poll loop (each counts itself as it enters it;
    // its queue was bound by the constructor): workers() once every queue is polled.
    std::size_t workers_polling() const noexcept {
        return polling_.load(std::memory_order_acquire);
    }
    // A one-line description per worker (interface, queue, core, zero-copy or copy; DPDK:
    // driver, RSS fields, exception TAP).
    std::vector<std::string> describe() const;
    // A line per port with its backend's counters (io::BackendStats), for the final report.
    std::vector<std::string> backend_stats() const;
    // Per port: its backend's counters, the kernel's or the device's (XDP_STATISTICS per
    // socket, rte_eth_stats) and the XDP program's, under their own names. Read now, on the
    // calling thread (the control thread: `ingressctl stats`), never by a worker.
    std::vector<core::CounterGroup> counter_groups() const;

    // The control thread's step: serves the control socket for up to timeout_ms.
    void control_step(int timeout_ms);
    const std::string& control_path() const noexcept { return cfg_.control_socket; }

    // SIGHUP: applies what can change live (addresses' routes, static routes, knobs, the
    // net.ipv4.* knobs (the file's, or under host: kernel the kernel's, read again), the
    // privilege policy and ip_nonlocal_bind from the next request, the control socket's
    // mode and group, workers.control_core); returns what would need a restart (then
    // nothing is applied). Throws (nothing applied) on an unknown control.group.
    std::vector<std::string> reload(const config::Config& next);
    // What `ingressctl reload` runs (from control_step, in this thread): set by the owner of
    // the config file, which runs the same function on SIGHUP.
    void on_reload_request(std::function<ctl::ReloadOutcome()> f) {
        reload_request_ = std::move(f);
    }

private:
    struct Port;
    struct WorkerSlot;
    // The constructor's steps, in order.
    void init_eal();  // when a port is DPDK's
    std::unique_ptr<Port> open_dpdk_port(const config::InterfaceConfig& ic);
    std::unique_ptr<Port> open_afxdp_port(const config::InterfaceConfig& ic,
                                          const std::string& xdp_object);
    void create_workers();  // one per (interface, queue)
    void start_control();   // registry and control socket
    // The file's `bindings:` into the registry; config::Error naming the entry if refused.
    // `at_start`: see the definition (a DPDK port's TAP has no addresses yet).
    void apply_bindings(const config::Config& cfg, const ipv4::RouteTables* tables,
                        bool at_start = false);
    // Pins the calling thread (the control thread) to `core`, or unpins it (-1); logs it.
    void pin_control_thread(int core);
    void start_workers();                // threads, pinned where the config says
    void start_metrics();                // the HTTP endpoint, when metrics.listen is set
    std::string render_metrics() const;  // on the HTTP thread
    void refresh_endpoint_figures();     // on the control thread
    uint32_t ifindex_of(const std::string& name) const;
    // The route configuration to publish: the file's, or (host: kernel) the kernel's
    // interfaces, addresses and routes over the file's knobs (a fresh netlink dump).
    ipv4::RouteConfig wanted_routes(const config::Config& cfg);
    // host: kernel: a notification (or an overflow) arrived: dump and publish.
    // host: kernel: publish the kernel's state; `notified`: after drain() found
    // notifications (route-only ones apply without a dump).
    void follow_kernel(bool notified = false);
    // host: kernel: the net.ipv4.* knobs read `g`: a change is logged, published to the
    // workers and given to the bind checks.
    void follow_kernel_globals(const KernelGlobals& g);
    config::Config cfg_;
    std::unique_ptr<NetlinkWatch> watch_;  // host: kernel
    HostSkipped skipped_;                  // what the last dump could not represent
    KernelConf kconf_;                     // host: kernel: the knobs the tables were built with
    KernelGlobals kglobals_;               // host: kernel: the net.ipv4.* knobs last read
    std::unique_ptr<ipv4::KnobPublisher> knobs_;  // the workers' net.ipv4.* knobs, live
    uint64_t kconf_read_ns_ = 0;                  // when the knobs were last re-read (every second)
    uint64_t rmem_read_ns_ = 0;                   // net.core.rmem_* last re-read (every second)
    bool resync_pending_ = false;                 // the last dump failed: dump again
    // `ingressctl trace` / `capture` sessions, published to every worker (outlives them and
    // the control server).
    worker::ObserveHub observe_;
    uint64_t host_sync_ns_ = 0;  // CLOCK_REALTIME of the last dump applied
    uint64_t host_dumps_ = 0, host_failures_ = 0;
    std::unique_ptr<ipv4::RoutePublisher> routes_;
    std::unique_ptr<demux::EndpointPublisher> endpoint_pub_;
    std::unique_ptr<ctl::Registry> registry_;
    std::unique_ptr<ctl::Server> server_;
    std::vector<std::unique_ptr<Port>> ports_;
    // Fragments between every pair of workers, of any interface (null: one worker).
    std::unique_ptr<worker::HandoffMesh> mesh_;
    std::vector<std::unique_ptr<WorkerSlot>> workers_;
    std::atomic<bool> stop_{false};
    std::atomic<std::size_t> polling_{0};
    uint64_t synced_generation_ = 0;  // route tables the ports' steering reflects
    // The endpoint tables whose raw protocols it reflects (none yet: the first step syncs
    // UDP and ICMP even before any endpoint opens).
    uint64_t synced_endpoints_ = UINT64_MAX;
    std::function<ctl::ReloadOutcome()> reload_request_;
    int control_gid_ = -1;  // control.group's gid as resolved at start (-1: none)
    std::unique_ptr<MetricsHttp> metrics_;
    // The endpoints' figures for the HTTP thread: the registry is the control thread's, so
    // that thread copies them at each pass (at most 100 ms old when scraped).
    mutable std::mutex endpoint_figures_mu_;
    std::vector<core::EndpointFigures> endpoint_figures_;
    core::CounterGroup control_group_;  // the server's quota counters (endpoint_figures_mu_)
    // Worker n's snapshot plus what the apps' reads of its rings counted (udp_recvmsg's
    // read-time checksum, Registry::read_counts). On the control thread, fresh; elsewhere
    // the reads as the control thread last copied them (reads_, endpoint_figures_mu_).
    core::Snapshot worker_snapshot(std::size_t n) const;
    void refresh_reads();  // on the control thread
    std::vector<demux::ShmRings::ReadCounts> reads_;
};

// SIGHUP and `ingressctl reload`: re-reads `path` and applies it to `dp`; logs the outcome
// on stderr. A configuration error (file:line:column: key) leaves everything as it was.
ctl::ReloadOutcome reload_from_file(Dataplane& dp, const std::string& path);

}  // namespace ingress::daemon
