#include "daemon/dataplane.h"

#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>
#include <set>
#include <stdexcept>

#include "core/clock.h"
#include "core/stats_format.h"
#include "daemon/kernel_memberships.h"
#include "daemon/netlink_mirror.h"
#include "daemon/sandbox.h"
#include "daemon/steering.h"
#include "io/afxdp/backend.h"
#include "io/afxdp/tap_ring.h"
#include "io/afxdp/xdp_program.h"
#include "io/dpdk/backend.h"
#include "io/netdev.h"
#include "l2/port.h"
#include "worker/worker.h"

namespace ingress::daemon {

uint32_t kernel_ifindex(const std::string& name) {
    return io::netdev_ifindex(name);
}

config::LoadOptions load_options() {
    config::LoadOptions o;
    o.interface_exists = [](const std::string& n) { return kernel_ifindex(n) != 0; };
    return o;
}

namespace {

uint32_t vlan_ifindex(const std::string& parent, uint32_t parent_ifindex, uint16_t vid,
                      const IfindexOf& ifindex_of) {
    if (uint32_t k = ifindex_of(parent + "." + std::to_string(vid))) return k;
    return 0x40000000u | (parent_ifindex << 12) | vid;
}

core::MonotonicClock g_clock;
constexpr uint32_t kHandoffRing = 1024;  // fragments in flight per pair of workers

// The exception TAP is the port's face in the kernel: it answers ARP for the interface's
// addresses and terminates what the dataplane passes (TCP, ICMP echo). VLAN addresses are
// not mirrored (docs/dpdk.md).
void mirror_addresses(const config::InterfaceConfig& ic, uint32_t tap_ifindex) {
    for (const auto& a : ic.addresses)
        if (int err = io::netdev_add_ipv4(tap_ifindex, a.addr, a.prefix_len); err && err != EEXIST)
            throw std::runtime_error(ic.exception + ": cannot add " + wire::ipv4_str(a.addr) + "/" +
                                     std::to_string(a.prefix_len) + ": " + std::strerror(err));
}

io::dpdk::PortOptions dpdk_options(const config::InterfaceConfig& ic, const config::DpdkConfig& d) {
    return {.name = ic.name,
            .device = ic.device,
            .exception = ic.exception,
            .queues = static_cast<uint16_t>(ic.queues.size()),
            .mbufs = d.mbufs,
            .mbuf_cache = d.mbuf_cache,
            .rx_descriptors = d.rx_descriptors,
            .tx_descriptors = d.tx_descriptors,
            .exception_poll = d.exception_poll,
            .rss = ic.rss == config::Rss::kIpUdp ? io::dpdk::RssFields::kIpUdp
                                                 : io::dpdk::RssFields::kIp,
            .rx_interrupts = ic.poll_mode != config::PollMode::kBusy,
            .micro_sleep = worker::micro_sleep_text(ic.idle)};
}

const char* poll_mode_name(worker::PollMode m) {
    switch (m) {
        case worker::PollMode::kBusy:
            return "busy";
        case worker::PollMode::kAdaptive:
            return "adaptive";
        case worker::PollMode::kInterrupt:
            return "interrupt";
    }
    return "?";
}

// net.core.NAME (rmem_default, rmem_max): the kernel's value, or `dflt` when unreadable.
uint32_t read_core_sysctl(const char* name, uint32_t dflt) {
    std::FILE* f = std::fopen((std::string("/proc/sys/net/core/") + name).c_str(), "r");
    if (!f) return dflt;
    unsigned long v = 0;
    const bool ok = std::fscanf(f, "%lu", &v) == 1;
    std::fclose(f);
    return ok && v > 0 && v <= 0x7fffffff ? static_cast<uint32_t>(v) : dflt;
}

}  // namespace

ipv4::RouteConfig route_config(const config::Config& cfg, const IfindexOf& ifindex_of) {
    ipv4::RouteConfig rc;
    rc.all = cfg.all;
    auto index_of = [&](const std::string& dev) -> uint32_t {
        if (dev == "lo") return ifindex_of(dev);
        for (const auto& i : cfg.interfaces) {
            if (i.name == dev) return ifindex_of(i.name);
            for (const auto& v : i.vlans)
                if (dev == i.name + "." + std::to_string(v.id))
                    return vlan_ifindex(i.name, ifindex_of(i.name), v.id, ifindex_of);
        }
        return 0;
    };
    for (const auto& i : cfg.interfaces) {
        const uint32_t idx = ifindex_of(i.name);
        if (!idx) throw std::runtime_error(i.name + ": no such interface");
        rc.ifaces.push_back({.ifindex = idx, .name = i.name, .addrs = i.addresses, .conf = i.conf});
        for (const auto& v : i.vlans)
            rc.ifaces.push_back({.ifindex = vlan_ifindex(i.name, idx, v.id, ifindex_of),
                                 .name = i.name + "." + std::to_string(v.id),
                                 .addrs = v.addresses,
                                 .conf = v.conf});
    }
    // The kernel's lo: 127.0.0.1/8 and the configured loopback addresses, local wherever
    // they arrive (weak host), and what an AnyIP route (`local ... dev lo`) names.
    if (const uint32_t lo = ifindex_of("lo")) {
        ipv4::IfConfig l = ipv4::RouteConfig::loopback(lo);
        l.addrs.insert(l.addrs.end(), cfg.loopback_addresses.begin(), cfg.loopback_addresses.end());
        rc.ifaces.push_back(std::move(l));
    }
    for (const auto& r : cfg.routes)
        rc.routes.push_back({.prefix = r.prefix,
                             .prefix_len = r.prefix_len,
                             .type = r.type,
                             .oif = r.dev.empty() ? 0 : index_of(r.dev),
                             .via_gateway = r.via_gateway,
                             .table = r.table});
    // Rules name interfaces; one that does not exist leaves the rule detached (matching
    // nothing), as the kernel keeps it.
    rc.rules = cfg.rules;
    for (ipv4::FibRule& f : rc.rules) {
        auto resolve = [&](const std::string& name, uint32_t& ifindex) {
            if (name.empty()) return;
            ifindex = index_of(name);
            if (!ifindex) ifindex = ifindex_of(name);
            if (!ifindex) ifindex = ipv4::kIfDetached;
        };
        resolve(f.iifname, f.iif);
        resolve(f.oifname, f.oif);
    }
    return rc;
}

struct Dataplane::Port {
    config::InterfaceConfig ic;
    l2::Port l2;
    std::unique_ptr<io::afxdp::XdpProgram> prog;
    std::unique_ptr<io::afxdp::AfXdpBackend> backend;
    std::unique_ptr<io::afxdp::TapRing> tap_ring;  // prog's copies for taps (first worker)
    std::unique_ptr<io::dpdk::DpdkBackend> dpdk;   // instead of prog + backend
    io::Backend* io = nullptr;                     // backend or dpdk
    std::unique_ptr<SteeringSync> steering;        // through prog or dpdk
    KernelMemberships kernel_mc;                   // the apps' joins, mirrored into the kernel

    // Steers what the route tables say is ours on the port or one of its VLANs (the
    // registry records the apps' joins in the tables' memberships), and mirrors the joins
    // into the kernel.
    void sync(const ipv4::RouteTables& t) {
        steering->sync_dsts(port_dsts(t, l2));
        kernel_mc.sync(memberships(t.mc()));
    }
    // The kernel's membership for each group joined on the port or one of its VLANs; a VLAN
    // without a kernel device of its own joins on the port (the same MAC filter). 224.0.0.1
    // is the kernel's own (ip_mc_up).
    std::set<Membership> memberships(const ipv4::McGroups& mc) const {
        std::set<Membership> m;
        for (wire::Ipv4Addr g : mc.groups_on(l2.ifindex))
            if (g != ipv4::kAllHostsGroup) m.insert({l2.ifindex, g});
        for (const auto& v : l2.vlans)
            for (wire::Ipv4Addr g : mc.groups_on(v.ifindex))
                if (g != ipv4::kAllHostsGroup)
                    m.insert({v.ifindex < 0x40000000u ? v.ifindex : l2.ifindex, g});
        return m;
    }
    std::string describe(uint16_t queue) const {
        if (dpdk) return dpdk->describe();
        return backend->zero_copy(queue) ? "zero-copy" : "copy mode";
    }
};

struct Dataplane::WorkerSlot {
    core::CounterBlock counters;
    std::unique_ptr<worker::Worker> worker;
    std::thread thread;
    std::string desc;
    bool dpdk = false;  // the thread registers as a DPDK lcore (mempool caches)
};

uint32_t Dataplane::ifindex_of(const std::string& name) const {
    for (const auto& p : ports_)
        if (p->dpdk && p->ic.name == name) return p->dpdk->ifindex();
    return kernel_ifindex(name);
}

Dataplane::Dataplane(const config::Config& cfg, const std::string& xdp_object) : cfg_(cfg) {
    // An unknown privileges.user or .group refuses the start before anything is touched.
    std::optional<Identity> id;
    if (!cfg.privileges_user.empty()) id = resolve_identity(cfg);
    init_eal();
    for (const auto& ic : cfg.interfaces)
        ports_.push_back(ic.driver == config::Driver::kDpdk ? open_dpdk_port(ic)
                                                            : open_afxdp_port(ic, xdp_object));
    // Routes name interfaces by ifindex: a DPDK port's is known once its TAP exists. The
    // ports steer what the tables say is ours.
    endpoint_pub_ = std::make_unique<demux::EndpointPublisher>();
    // host: kernel subscribes before the first dump, so no change falls between the two.
    if (cfg.host_kernel) watch_ = std::make_unique<NetlinkWatch>();
    // The net.ipv4.* knobs: the kernel's (host: kernel) or the file's, published to the
    // workers and followed live (ipv4/knobs.h).
    if (cfg.host_kernel) {
        kglobals_ = read_kernel_globals(globals_of(cfg_));
        overlay_kernel_globals(cfg_, kglobals_);
    }
    knobs_ = std::make_unique<ipv4::KnobPublisher>(knobs_of(cfg_));
    routes_ = std::make_unique<ipv4::RoutePublisher>(wanted_routes(cfg));
    if (watch_) routes_->prepare_edits();  // route notifications are applied as edits
    for (auto& p : ports_) p->sync(*routes_->read());
    synced_generation_ = routes_->read()->generation();
    create_workers();
    start_control();
    start_metrics();
    // Setup is done: nothing below needs root (docs/security.md).
    if (id) {
        // The daemon owns its socket, so a reload may change its mode.
        if (chown(cfg_.control_socket.c_str(), id->uid, static_cast<gid_t>(-1)) != 0)
            throw std::runtime_error("chown " + cfg_.control_socket + ": " + std::strerror(errno));
        bool dispatcher = false;
        for (const auto& p : ports_) dispatcher |= p->prog && !p->prog->attached_alone();
        drop_privileges(*id, caps_after_setup(cfg_, dispatcher));
    }
    // Onto every thread there is (this one, the metrics thread, DPDK's); the workers inherit
    // it and add their own.
    install_seccomp(SandboxRole::kControl, cfg_.seccomp);
    if (cfg_.seccomp != config::Seccomp::kOff)
        std::fprintf(stderr, "ingressd: seccomp: %s: control and worker allowlists\n",
                     cfg_.seccomp == config::Seccomp::kLog ? "log (nothing refused)" : "on");
    start_workers();
    // After the workers and the metrics thread: they would inherit the control core.
    if (cfg_.control_core >= 0) pin_control_thread(cfg_.control_core);
}

void Dataplane::pin_control_thread(int core) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (core >= 0)
        CPU_SET(core, &set);
    else
        for (int c = 0; c < get_nprocs_conf() && c < CPU_SETSIZE; ++c) CPU_SET(c, &set);
    if (int e = pthread_setaffinity_np(pthread_self(), sizeof set, &set); e != 0)
        std::fprintf(stderr, "ingressd: control thread: cannot pin to core %d: %s\n", core,
                     std::strerror(e));
    else if (core >= 0)
        std::fprintf(stderr, "ingressd: control thread pinned to core %d\n", core);
    else
        std::fprintf(stderr, "ingressd: control thread not pinned\n");
}

namespace {

// The control.* quotas, reserves and timeouts: at start and on every reload.
void control_limits(const config::Config& c, ctl::ServerConfig& sc) {
    sc.max_connections = c.control_max_connections;
    sc.max_connections_per_uid = c.control_max_connections_per_uid;
    sc.reserved_connections = c.control_reserved_connections;
    sc.reserved_fds = c.control_reserved_fds;
    sc.idle_timeout_ms = c.control_idle_timeout_ms;
    sc.frame_timeout_ms = c.control_frame_timeout_ms;
}

// control.group's gid, -1 when none is set (the socket keeps the daemon's group).
int control_gid(const config::Config& c) {
    if (c.control_group.empty()) return -1;
    if (group* g = getgrnam(c.control_group.c_str())) return static_cast<int>(g->gr_gid);
    throw std::runtime_error("control.group: no group '" + c.control_group + "'");
}

}  // namespace

void Dataplane::start_metrics() {
    if (!cfg_.metrics_port) return;
    refresh_endpoint_figures();
    metrics_ = std::make_unique<MetricsHttp>(cfg_.metrics_addr, cfg_.metrics_port,
                                             [this] { return render_metrics(); });
}

std::string Dataplane::render_metrics() const {
    // What `ingressctl stats --openmetrics` prints, read the same way: each worker's snapshot
    // (a sequence lock the worker never waits on), the backends' counters (getsockopt,
    // rte_eth_stats, relaxed loads), the endpoints as the control thread last copied them.
    std::vector<core::Snapshot> workers;
    for (std::size_t n = 0; n < workers_.size(); ++n) workers.push_back(worker_snapshot(n));
    std::vector<core::EndpointFigures> eps;
    {
        std::lock_guard<std::mutex> lock(endpoint_figures_mu_);
        eps = endpoint_figures_;
    }
    return core::format_openmetrics(workers, counter_groups(), eps);
}

void Dataplane::refresh_endpoint_figures() {
    std::vector<core::EndpointFigures> v;
    if (registry_)
        for (const ctl::EndpointView& e : registry_->endpoints()) {
            core::EndpointFigures f;
            f.id = e.id;
            if (e.udp) {
                f.kind = "udp";
                f.local = wire::ipv4_str(e.udp->addr) + ":" + std::to_string(e.udp->port);
            } else if (e.raw) {
                f.kind = "raw";
                f.local = wire::ipv4_str(e.raw->addr) + ":proto" + std::to_string(e.raw->protocol);
            } else if (e.tap) {
                char et[16];
                std::snprintf(et, sizeof et, "*:0x%04x", e.tap->ethertype);
                f.kind = "tap";
                f.local = e.tap->ethertype == 0x0003 ? "*:ETH_P_ALL" : et;
            }
            f.delivered = e.rings->delivered();
            f.dropped = e.rings->dropped() + e.rings->read_counts().csum_errors;
            f.truncated = e.rings->truncated();
            f.ring_used = e.rings->used();
            v.push_back(std::move(f));
        }
    std::lock_guard<std::mutex> lock(endpoint_figures_mu_);
    endpoint_figures_ = std::move(v);
}

void Dataplane::init_eal() {
    std::vector<std::string> pci;
    bool any_dpdk = false;
    for (const auto& ic : cfg_.interfaces) {
        if (ic.driver != config::Driver::kDpdk) continue;
        any_dpdk = true;
        if (io::dpdk::is_pci_address(ic.device)) pci.push_back(ic.device);
    }
    if (any_dpdk) io::dpdk::eal_init(cfg_.dpdk.eal_args, pci);
}

std::unique_ptr<Dataplane::Port> Dataplane::open_dpdk_port(const config::InterfaceConfig& ic) {
    auto p = std::make_unique<Port>();
    p->ic = ic;
    p->l2.name = ic.name;
    p->dpdk = std::make_unique<io::dpdk::DpdkBackend>(dpdk_options(ic, cfg_.dpdk));
    p->dpdk->set_capture_all(ic.capture_all);
    p->io = p->dpdk.get();
    p->steering = std::make_unique<SteeringSync>(*p->dpdk, ic.name);
    p->l2.ifindex = p->dpdk->ifindex();
    p->l2.mac = p->dpdk->mac();
    mirror_addresses(ic, p->l2.ifindex);
    for (const auto& v : ic.vlans)
        p->l2.vlans.push_back(
            {v.id, vlan_ifindex(ic.exception, p->l2.ifindex, v.id, &kernel_ifindex), p->l2.mac});
    return p;
}

std::unique_ptr<Dataplane::Port> Dataplane::open_afxdp_port(const config::InterfaceConfig& ic,
                                                            const std::string& xdp_object) {
    auto p = std::make_unique<Port>();
    p->ic = ic;
    p->l2.name = ic.name;
    p->l2.ifindex = kernel_ifindex(ic.name);
    auto mac = io::netdev_mac(ic.name);
    if (!p->l2.ifindex || !mac) throw std::runtime_error(ic.name + ": no such interface");
    p->l2.mac = *mac;
    for (const auto& v : ic.vlans)
        p->l2.vlans.push_back(
            {v.id, vlan_ifindex(ic.name, p->l2.ifindex, v.id, &kernel_ifindex), *mac});
    p->prog = std::make_unique<io::afxdp::XdpProgram>(
        xdp_object, ic.name,
        ic.xdp_mode == config::XdpMode::kSkb ? io::afxdp::XdpMode::kSkb
                                             : io::afxdp::XdpMode::kNative,
        ic.hw_timestamps == config::HwTimestamps::kAuto);
    p->prog->set_capture_all(ic.capture_all);
    p->steering = std::make_unique<SteeringSync>(*p->prog, ic.name);
    io::afxdp::XskOptions xo;
    xo.ifname = ic.name;
    xo.queues = ic.queues;
    xo.zero_copy = ic.zero_copy == config::ZeroCopy::kOn ? io::afxdp::XskOptions::ZeroCopy::kOn
                   : ic.zero_copy == config::ZeroCopy::kOff
                       ? io::afxdp::XskOptions::ZeroCopy::kOff
                       : io::afxdp::XskOptions::ZeroCopy::kAuto;
    xo.busy_poll = ic.busy_poll;
    p->backend = std::make_unique<io::afxdp::AfXdpBackend>(xo, *p->prog);
    p->io = p->backend.get();
    p->tap_ring = std::make_unique<io::afxdp::TapRing>(p->prog->tap_ring_fd(), ic.name);
    return p;
}

void Dataplane::create_workers() {
    // One worker per (interface, queue). Every worker of every interface shares one handoff
    // mesh, so the fragments of a datagram meet at its owner whichever queues, and whichever
    // interfaces, they arrived on (the kernel's reassembly key has no interface,
    // src/ipv4/defrag.md). A buffer goes home through its backend between the workers of one
    // interface (AF_XDP's return rings, src/io/afxdp/backend.h; DPDK's mempool), through the
    // mesh's return rings between interfaces (src/worker/handoff.h).
    std::vector<uint16_t> backend_of;
    for (std::size_t i = 0; i < ports_.size(); ++i)
        backend_of.insert(backend_of.end(), ports_[i]->ic.queues.size(), static_cast<uint16_t>(i));
    if (backend_of.size() > 1)
        // A worker holds at most a full handoff ring, its held fragments and two bursts of
        // another's buffers before that one drains its return ring (handoff.h).
        mesh_ = std::make_unique<worker::HandoffMesh>(
            static_cast<uint16_t>(backend_of.size()), kHandoffRing, backend_of,
            kHandoffRing + cfg_.defrag.max_frags + 2 * core::kBurst);
    std::size_t n = 0;
    for (auto& p : ports_) {
        uint16_t in_port = 0;
        for (uint16_t q : p->ic.queues) {
            auto w = std::make_unique<WorkerSlot>();
            const bool first_of_port = in_port++ == 0;
            worker::PipelineTables t{.port = &p->l2,
                                     .icmp = cfg_.icmp,
                                     .pmtu = cfg_.pmtu,
                                     .defrag = cfg_.defrag,
                                     .knobs = knobs_.get(),
                                     .handoff = mesh_.get(),
                                     .worker = static_cast<uint16_t>(n),
                                     .mesh_worker = static_cast<uint16_t>(n),
                                     .routes = routes_.get(),
                                     .endpoint_pub = endpoint_pub_.get(),
                                     .early_demux = {cfg_.ip_early_demux, cfg_.udp_early_demux},
                                     .observe = &observe_,
                                     // The tap ring buffer has one consumer: the port's first.
                                     .kernel_frames = p->dpdk         ? p->dpdk->kernel_frames(q)
                                                      : first_of_port ? p->tap_ring.get()
                                                                      : nullptr};
            w->worker = std::make_unique<worker::Worker>(
                *p->io, w->counters, t, g_clock,
                worker::WorkerOptions{.queue = q,
                                      .poll_mode = p->ic.poll_mode,
                                      .idle = p->ic.idle,
                                      .profile = cfg_.runtime_profile});
            const int core =
                n < cfg_.worker_cores.size() ? static_cast<int>(cfg_.worker_cores[n]) : -1;
            w->dpdk = p->dpdk != nullptr;
            w->desc = "worker " + std::to_string(n) + ": " + p->ic.name + " queue " +
                      std::to_string(q) +
                      (core >= 0 ? ", core " + std::to_string(core) : ", not pinned") + ", " +
                      p->describe(q) + ", poll " + poll_mode_name(p->ic.poll_mode);
            workers_.push_back(std::move(w));
            ++n;
        }
    }
}

void Dataplane::start_control() {
    // The control plane: apps' endpoints, one ring per worker.
    ctl::RegistryConfig rc;
    rc.workers = static_cast<uint16_t>(workers_.size());
    rc.geometry = shm::RingGeometry{cfg_.ring_slots, cfg_.ring_slot_size};
    rc.ip_nonlocal_bind = cfg_.ip_nonlocal_bind;
    // SO_RCVBUF's sysctls, the kernel's own; re-read every second while running
    // (housekeeping).
    rc.rmem_default = read_core_sysctl("rmem_default", rc.rmem_default);
    rc.rmem_max = read_core_sysctl("rmem_max", rc.rmem_max);
    rc.policy = cfg_.policy;
    rc.max_endpoints_per_uid = cfg_.control_max_endpoints_per_uid;
    rc.max_ring_bytes_per_uid = cfg_.control_max_ring_bytes_per_uid;
    rc.hash_seed = static_cast<uint32_t>(g_clock.now_ns() ^ reinterpret_cast<uintptr_t>(this));
    registry_ = std::make_unique<ctl::Registry>(rc, *endpoint_pub_, routes_.get());
    apply_bindings(cfg_, nullptr, true);
    ctl::ServerConfig sc;
    sc.path = cfg_.control_socket;
    sc.mode = cfg_.control_mode;
    control_limits(cfg_, sc);
    sc.gid = control_gid_ = control_gid(cfg_);
    std::filesystem::create_directories(std::filesystem::path(sc.path).parent_path());
    ctl::ServerHooks hooks;
    hooks.stats_text = [this] {
        refresh_reads();
        return core::format_stats(counters());
    };
    hooks.host = [this] {
        ctl::HostMirror h;
        h.source = cfg_.host_kernel ? "kernel" : "config";
        const ipv4::RouteTables& t = *routes_->read();
        const ipv4::RouteConfig& rc = routes_->config();
        h.links = static_cast<uint32_t>(rc.ifaces.size());
        for (const auto& i : rc.ifaces) h.addrs += static_cast<uint32_t>(i.addrs.size());
        h.routes = static_cast<uint32_t>(rc.routes.size());
        h.rules = static_cast<uint32_t>(t.rules().size());
        std::vector<uint32_t> ids;
        for (const ipv4::Route& r : t.all_routes())
            if (std::find(ids.begin(), ids.end(), r.table) == ids.end()) ids.push_back(r.table);
        h.tables = static_cast<uint32_t>(ids.size());
        h.sync_realtime_ns = host_sync_ns_;
        h.dumps = host_dumps_;
        h.failures = host_failures_;
        if (watch_) {
            h.events = watch_->events();
            h.overflows = watch_->overflows();
        }
        const HostSkipped& s = skipped_;
        for (const auto& [name, n] : {std::pair{"multipath-routes", s.multipath},
                                      {"nexthop-object-routes", s.nexthop},
                                      {"tos-routes", s.tos},
                                      {"other-type-routes", s.other_type},
                                      {"unsupported-rules", s.unsupported_rules}})
            if (n) h.skipped.push_back(std::string(name) + " " + std::to_string(n));
        h.knobs = describe_globals(globals_of(cfg_));
        return h;
    };
    hooks.worker_counters = [this] {
        std::vector<ctl::WorkerCounters> v;
        refresh_reads();
        for (std::size_t n = 0; n < workers_.size(); ++n)
            v.push_back({workers_[n]->desc, worker_snapshot(n)});
        return v;
    };
    hooks.worker_runtime = [this] {
        std::vector<ctl::WorkerRuntime> v;
        for (const auto& w : workers_) v.push_back({w->desc, w->worker->runtime().snapshot()});
        return v;
    };
    hooks.pmtu = [this] {
        std::vector<ipv4::PmtuEntry> all;
        const uint64_t now = g_clock.now_ns();
        for (const auto& w : workers_) w->worker->pipeline().pmtu().snapshot(now, all);
        std::vector<ctl::PmtuRow> rows;
        for (const ipv4::PmtuEntry& e : ipv4::pmtu_merge(std::move(all)))
            rows.push_back({e.daddr, e.mtu,
                            static_cast<uint32_t>((e.expires_ns - now) / 1'000'000'000), e.locked});
        return rows;
    };
    ctl::set_route_hooks(hooks, *routes_);  // this thread publishes the route tables
    hooks.counter_groups = [this] { return counter_groups(); };
    hooks.observe = &observe_;
    hooks.ifindex = [this](const std::string& name) { return ifindex_of(name); };
    hooks.reload = [this] {
        return reload_request_
                   ? reload_request_()
                   : ctl::ReloadOutcome{EOPNOTSUPP, "no configuration file to reload", {}};
    };
    server_ = std::make_unique<ctl::Server>(sc, *registry_, std::move(hooks));
    // host: kernel: a notification wakes the control thread at once (control_step).
    if (watch_) server_->watch(watch_->fd());
}

void Dataplane::start_workers() {
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        WorkerSlot& w = *workers_[i];
        w.thread = std::thread([this, &w, i] {
            // Named, so top -H and /proc/PID/task/*/comm show which thread is which worker.
            const std::string name = "ingress-w" + std::to_string(i);
            pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
            std::optional<io::dpdk::ThreadRegistration> lcore;
            if (w.dpdk) lcore.emplace();
            try {
                if (!cfg_.privileges_user.empty()) drop_thread_capabilities();
                install_seccomp(SandboxRole::kWorker, cfg_.seccomp);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "ingressd: %s: %s\n", name.c_str(), e.what());
                std::abort();
            }
            if (i == 0 && selftest_requested(SandboxRole::kWorker))
                selftest_forbidden_call("worker 0");
            polling_.fetch_add(1, std::memory_order_release);
            w.worker->run(stop_);
        });
        if (i < cfg_.worker_cores.size()) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(cfg_.worker_cores[i], &set);
            pthread_setaffinity_np(w.thread.native_handle(), sizeof set, &set);
        }
    }
}

void Dataplane::stop() {
    // The scrape endpoint first (it reads the workers and the registry's copy), then the
    // apps: closing their connections unpublishes their endpoints while the workers still
    // run (and pass the grace periods that free them).
    metrics_.reset();
    server_.reset();
    registry_.reset();
    stop_ = true;
    bool joined = false;
    for (auto& w : workers_)
        if (w->thread.joinable()) {
            w->thread.join();
            joined = true;
        }
    // Buffers handed back across interfaces after their home worker had stopped.
    if (joined)
        for (auto& w : workers_) w->worker->pipeline().take_back();
}

Dataplane::~Dataplane() {
    stop();
    workers_.clear();
    ports_.clear();  // sockets, UMEMs, then the programs are detached
}

core::Snapshot Dataplane::worker_snapshot(std::size_t n) const {
    core::Snapshot s = workers_[n]->counters.snapshot();
    std::lock_guard<std::mutex> lock(endpoint_figures_mu_);
    if (n < reads_.size()) reads_[n].add_to(s);
    return s;
}

void Dataplane::refresh_reads() {
    std::vector<demux::ShmRings::ReadCounts> v(workers_.size());
    if (registry_)
        for (std::size_t n = 0; n < v.size(); ++n)
            v[n] = registry_->read_counts(static_cast<uint16_t>(n));
    std::lock_guard<std::mutex> lock(endpoint_figures_mu_);
    reads_ = std::move(v);
}

core::Snapshot Dataplane::counters() const {
    core::Snapshot total;
    for (std::size_t n = 0; n < workers_.size(); ++n) total += worker_snapshot(n);
    return total;
}

ipv4::RouteConfig Dataplane::wanted_routes(const config::Config& cfg) {
    ipv4::RouteConfig rc =
        route_config(cfg, [this](const std::string& n) { return ifindex_of(n); });
    auto stamp = [this] {
        timespec now{};
        clock_gettime(CLOCK_REALTIME, &now);
        host_sync_ns_ =
            static_cast<uint64_t>(now.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(now.tv_nsec);
    };
    if (!cfg.host_kernel) {
        stamp();  // `ingressctl host`: when the file was (re)read
        return rc;
    }
    HostSkipped sk;
    rc = overlay_kernel_host(std::move(rc), dump_kernel_host(), &sk);
    ++host_dumps_;
    stamp();
    if (sk != skipped_ && sk.total())
        std::fprintf(stderr,
                     "ingressd: host: kernel: left to the kernel, not mirrored: %u multipath "
                     "route(s), %u nexthop-object route(s), %u route(s) with a tos, %u of "
                     "other types; %u rule(s) the dataplane cannot evaluate (their lookups "
                     "are passed to the kernel)\n",
                     sk.multipath, sk.nexthop, sk.tos, sk.other_type, sk.unsupported_rules);
    skipped_ = sk;
    // The knobs (sysctl), after the interfaces, so each one's own directory is read.
    kconf_ = read_kernel_conf(conf_names(rc));
    kconf_read_ns_ = g_clock.now_ns();
    overlay_kernel_conf(rc, kconf_);
    return rc;
}

void Dataplane::follow_kernel(bool notified) {
    const uint64_t t0 = g_clock.now_ns();
    ipv4::RouteConfig rc;
    // Only route notifications (`ip route add/del/replace`): applied from them, no dump; the
    // publisher edits its route list in place (no copy, no comparison of the whole list)
    // and changes the FIB in place when they are few (route_tables.h).
    if (std::vector<RouteEvent> ev; notified && !resync_pending_ && watch_->routes_only(ev)) {
        if (std::vector<ipv4::RouteEdit> edits; route_edits(ev, edits) && routes_->apply(edits)) {
            timespec now{};
            clock_gettime(CLOCK_REALTIME, &now);
            host_sync_ns_ = static_cast<uint64_t>(now.tv_sec) * 1'000'000'000u +
                            static_cast<uint64_t>(now.tv_nsec);
            std::fprintf(stderr,
                         "ingressd: host: kernel: %zu route notification(s) applied in %llu us "
                         "(%s, no dump)\n",
                         ev.size(), static_cast<unsigned long long>((g_clock.now_ns() - t0) / 1000),
                         routes_->last_incremental() ? "incremental" : "full build");
            return;
        }
    }
    try {
        rc = wanted_routes(cfg_);
        resync_pending_ = false;
    } catch (const std::exception& e) {
        // The running state stays; the next control step dumps again.
        std::fprintf(stderr, "ingressd: host: kernel: %s; keeping the current state, retrying\n",
                     e.what());
        resync_pending_ = true;
        ++host_failures_;
        return;
    }
    rc.mc = routes_->config().mc;  // the apps' memberships carry over
    std::size_t addrs = 0;
    for (const auto& i : rc.ifaces) addrs += i.addrs.size();
    const std::size_t links = rc.ifaces.size(), routes = rc.routes.size();
    routes_->update(std::move(rc));
    std::fprintf(stderr,
                 "ingressd: host: kernel: %zu interface(s), %zu address(es), %zu route(s) "
                 "applied in %llu us (%llu notification(s), %llu overflow(s) so far)\n",
                 links, addrs, routes,
                 static_cast<unsigned long long>((g_clock.now_ns() - t0) / 1000),
                 static_cast<unsigned long long>(watch_->events()),
                 static_cast<unsigned long long>(watch_->overflows()));
}

void Dataplane::control_step(int timeout_ms) {
    server_->run_once(timeout_ms);
    {
        // A copy for the readers on other threads (/metrics).
        core::CounterGroup g = server_->counter_group();
        std::lock_guard<std::mutex> lock(endpoint_figures_mu_);
        control_group_ = std::move(g);
    }
    // host: kernel: `ip addr` / `ip route` changes apply as a reload would.
    if (watch_ && (watch_->drain() || resync_pending_)) follow_kernel(true);
    // host: kernel: most net.ipv4.conf knobs change with no notification (only rp_filter
    // and forwarding raise RTM_NEWNETCONF): re-read them every second.
    if (watch_ && g_clock.now_ns() - kconf_read_ns_ >= 1'000'000'000) {
        kconf_read_ns_ = g_clock.now_ns();
        std::vector<std::string> names;
        for (const auto& [n, c] : kconf_.ifaces) names.push_back(n);
        if (read_kernel_conf(names) != kconf_) {
            std::fprintf(stderr, "ingressd: host: kernel: net.ipv4.conf knobs changed\n");
            follow_kernel();
        }
        follow_kernel_globals(read_kernel_globals(kglobals_));
    }
    // net.core.rmem_default / rmem_max: the kernel's (as the daemon's namespace shows them)
    // under any `host:`, with no notification: re-read every second; the registry applies them as
    // the kernel does, to the next open and the next SO_RCVBUF (Registry::set_rmem).
    if (g_clock.now_ns() - rmem_read_ns_ >= 1'000'000'000) {
        rmem_read_ns_ = g_clock.now_ns();
        const ctl::RegistryConfig& rc = registry_->config();
        const uint32_t def = read_core_sysctl("rmem_default", rc.rmem_default);
        const uint32_t max = read_core_sysctl("rmem_max", rc.rmem_max);
        if (def != rc.rmem_default || max != rc.rmem_max) {
            std::fprintf(stderr, "ingressd: net.core.rmem_default %u rmem_max %u (were %u %u)\n",
                         def, max, rc.rmem_default, rc.rmem_max);
            registry_->set_rmem(def, max);
        }
    }
    if (metrics_) refresh_endpoint_figures();
    refresh_reads();
    // App joins and leaves change the memberships in the route tables: let the ports steer
    // exactly the joined groups.
    const ipv4::RouteTables* t = routes_->read();
    if (t->generation() != synced_generation_) {
        for (auto& port : ports_) port->sync(*t);
        synced_generation_ = t->generation();
    }
    // Opened and closed raw endpoints change which protocols the programs redirect (UDP and
    // ICMP always: the dataplane runs udp_rcv and icmp_rcv for its destinations). This
    // thread publishes the endpoint tables, so the current one stays valid while it reads.
    if (endpoint_pub_->generation() != synced_endpoints_) {
        std::set<uint8_t> want{wire::kIpProtoUdp, wire::kIpProtoIcmp};
        const demux::EndpointTable* et = endpoint_pub_->read();
        for (unsigned p = 0; p < 256; ++p)
            if (!et->raw(static_cast<uint8_t>(p)).empty()) want.insert(static_cast<uint8_t>(p));
        for (auto& port : ports_) port->steering->sync_protocols(want);
        // The XDP programs copy what they pass to the kernel for the taps only while one is
        // open (xdp/ingress_xdp.h tap_copy).
        for (auto& port : ports_) {
            if (port->prog) port->prog->set_tap_copy(et->has_taps());
            if (port->dpdk) port->dpdk->set_tap_copy(et->has_taps());
        }
        synced_endpoints_ = endpoint_pub_->generation();
    }
}

void Dataplane::follow_kernel_globals(const KernelGlobals& g) {
    if (g == kglobals_) return;
    const std::vector<std::string> was = describe_globals(kglobals_), now = describe_globals(g);
    for (std::size_t i = 0; i < now.size(); ++i)
        if (now[i] != was[i])
            std::fprintf(stderr, "ingressd: host: kernel: %s (was %s)\n", now[i].c_str(),
                         was[i].substr(was[i].rfind(' ') + 1).c_str());
    kglobals_ = g;
    overlay_kernel_globals(cfg_, g);
    knobs_->publish(knobs_of(cfg_));
    registry_->set_policy(cfg_.policy, cfg_.ip_nonlocal_bind);
}

std::vector<uint64_t> Dataplane::worker_beats() const {
    std::vector<uint64_t> v;
    for (const auto& w : workers_) v.push_back(w->worker->runtime().beats());
    return v;
}

worker::LoopPhase Dataplane::worker_phase(std::size_t i) const {
    return workers_.at(i)->worker->runtime().phase();
}

std::size_t Dataplane::workers() const noexcept {
    return workers_.size();
}

std::vector<std::string> Dataplane::backend_stats() const {
    std::vector<std::string> out;
    for (const auto& p : ports_) {
        const io::BackendStats s = p->io->stats();
        std::string line = p->ic.name + " (" + p->io->name() + "):";
        for (const auto& [k, v] : {std::pair<const char*, uint64_t>{"rx", s.rx},
                                   {"tx", s.tx},
                                   {"passed", s.passed},
                                   {"freed", s.freed},
                                   {"rx_oversize", s.rx_oversize},
                                   {"rx_missed", s.rx_missed},
                                   {"alloc_fail", s.alloc_fail},
                                   {"steered", s.steered},
                                   {"pass_dropped", s.pass_dropped},
                                   {"from_kernel", s.from_kernel},
                                   {"from_kernel_dropped", s.from_kernel_dropped}})
            line += std::string(" ") + k + " " + std::to_string(v);
        out.push_back(line);
    }
    return out;
}

std::vector<core::CounterGroup> Dataplane::counter_groups() const {
    std::vector<core::CounterGroup> out;
    for (const auto& p : ports_) {
        // l2.name, not ic.name: a reload rewrites ic on the control thread while the HTTP
        // thread may read here; the name itself never changes without a restart.
        for (core::CounterGroup& g : p->io->counter_groups()) {
            g.device = p->l2.name;
            out.push_back(std::move(g));
        }
        if (!p->prog) continue;
        // The XDP program's per-action counters (xdp/ingress_xdp.h), summed over CPUs.
        const io::afxdp::XdpStats x = p->prog->stats();
        out.push_back(
            {.device = p->l2.name,
             .backend = p->io->name(),
             .source = "xdp_program",
             .queue = -1,
             .counters = {
                 {"seen", "frames the XDP program looked at", x.seen},
                 {"pass", "frames it left to the kernel (XDP_PASS)", x.pass},
                 {"redirect",
                  "frames it redirected to the queue's AF_XDP socket (the socket's "
                  "xdp_statistics count those it could not take)",
                  x.redirect},
                 {"no_xsk", "frames for the dataplane with no socket on their queue (passed)",
                  x.no_xsk},
                 {"kernel_proto", "frames for our addresses of an IP protocol the kernel keeps",
                  x.kernel_proto},
                 {"tap_copied",
                  "frames it left to the kernel copied into its tap ring buffer for the packet "
                  "taps (while a tap is open)",
                  x.tap_copied},
                 {"tap_lost",
                  "frames it left to the kernel whose tap copy was lost: the tap ring buffer "
                  "was full (ingress-specific; the kernel's own taps would have seen them)",
                  x.tap_lost},
             }});
        // A previous instance's program, SIGKILLed with it and removed at this start: what
        // it did after its ingressd died (its pinned per-action map, read before removal).
        const io::afxdp::XdpStats l = p->prog->leftover_stats();
        if (l.seen)
            out.push_back(
                {.device = p->l2.name,
                 .backend = p->io->name(),
                 .source = "xdp_leftover",
                 .queue = -1,
                 .counters = {
                     {"seen", "frames the previous instance's orphaned program looked at", l.seen},
                     {"pass", "frames it left to the kernel (XDP_PASS)", l.pass},
                     {"redirect", "frames it redirected to a socket", l.redirect},
                     {"no_xsk", "frames for the dataplane it passed to the kernel: no ingressd ran",
                      l.no_xsk},
                 }});
    }
    std::lock_guard<std::mutex> lock(endpoint_figures_mu_);
    if (!control_group_.counters.empty()) out.push_back(control_group_);
    return out;
}

std::vector<std::string> Dataplane::describe() const {
    std::vector<std::string> out;
    for (const auto& w : workers_) out.push_back(w->desc);
    return out;
}

std::vector<std::string> Dataplane::reload(const config::Config& file) {
    std::vector<std::string> restart;
    // host: kernel: the net.ipv4.* knobs are read again (the file has none); host: config:
    // the file's. Either way they apply live (ipv4/knobs.h).
    config::Config next = file;
    KernelGlobals globals = kglobals_;
    if (next.host_kernel) {
        globals = read_kernel_globals(kglobals_);
        overlay_kernel_globals(next, globals);
    }
    auto same_ports = next.interfaces.size() == cfg_.interfaces.size();
    for (std::size_t i = 0; same_ports && i < next.interfaces.size(); ++i) {
        const auto& a = cfg_.interfaces[i];
        const auto& b = next.interfaces[i];
        if (a.name != b.name || a.queues != b.queues || a.driver != b.driver ||
            a.xdp_mode != b.xdp_mode || a.zero_copy != b.zero_copy ||
            a.hw_timestamps != b.hw_timestamps || a.busy_poll != b.busy_poll ||
            a.poll_mode != b.poll_mode || a.idle != b.idle || a.device != b.device ||
            a.exception != b.exception || a.rss != b.rss)
            restart.push_back("interfaces[" + std::to_string(i) + "] (" + b.name +
                              "): name, driver, queues, xdp_mode, zero_copy, hw_timestamps, "
                              "busy_poll, poll_mode, idle, device, exception, rss");
    }
    if (!same_ports) restart.push_back("interfaces: added or removed");
    // Who the daemon is and its filters are set once, after setup (docs/security.md). A new
    // control.group needs a group lookup (nss) and the membership the daemon took then.
    if (next.privileges_user != cfg_.privileges_user ||
        next.privileges_group != cfg_.privileges_group || next.seccomp != cfg_.seccomp)
        restart.push_back("privileges");
    const bool sandboxed = !cfg_.privileges_user.empty() || cfg_.seccomp != config::Seccomp::kOff;
    if (sandboxed && next.control_group != cfg_.control_group)
        restart.push_back("control.group (under privileges)");
    if (next.worker_cores != cfg_.worker_cores) restart.push_back("workers.cores");
    if (next.runtime_profile != cfg_.runtime_profile) restart.push_back("workers.runtime_profile");
    if (next.ring_slots != cfg_.ring_slots || next.ring_slot_size != cfg_.ring_slot_size)
        restart.push_back("rings");
    if (next.control_socket != cfg_.control_socket) restart.push_back("control.socket");
    if (next.metrics_addr != cfg_.metrics_addr || next.metrics_port != cfg_.metrics_port)
        restart.push_back("metrics.listen");
    if (next.dpdk.eal_args != cfg_.dpdk.eal_args || next.dpdk.mbufs != cfg_.dpdk.mbufs ||
        next.dpdk.mbuf_cache != cfg_.dpdk.mbuf_cache ||
        next.dpdk.rx_descriptors != cfg_.dpdk.rx_descriptors ||
        next.dpdk.tx_descriptors != cfg_.dpdk.tx_descriptors ||
        next.dpdk.exception_poll != cfg_.dpdk.exception_poll)
        restart.push_back("dpdk");
    if (!restart.empty()) return restart;  // nothing applied: the running state stays whole
    // An unknown group refuses the reload here; under privileges the group is the one
    // resolved at start (unchanged, as checked above).
    const int gid = sandboxed ? control_gid_ : control_gid(next);
    // Live: addresses, knobs, routes (published; workers pick them up at their next burst)
    // and what the XDP programs redirect.
    // The interface-level memberships belong to the apps' endpoints (the registry), not to
    // the file: they carry over.
    // The TAPs first: a refused address leaves the running state whole (added addresses are
    // mirrored; removed ones stay on the TAP until the restart, docs/dpdk.md).
    for (std::size_t i = 0; i < ports_.size(); ++i)
        if (ports_[i]->dpdk) mirror_addresses(next.interfaces[i], ports_[i]->dpdk->ifindex());
    if (next.host_kernel != cfg_.host_kernel) restart.push_back("host");
    if (!restart.empty()) return restart;
    // The file's bindings against the tables this reload leaves (host: config builds them
    // from the file; the kernel's stay what they are): a refused one refuses the reload
    // before anything is applied.
    {
        std::optional<ipv4::RouteTables> next_tables;
        if (!next.host_kernel) next_tables.emplace(wanted_routes(next));
        std::vector<demux::Binding> bs;
        for (const config::BindingEntry& e : next.bindings) bs.push_back(e.binding);
        std::size_t bad = 0;
        ctl::Result r = registry_->check_bindings(bs, next_tables ? &*next_tables : nullptr, &bad);
        if (!r.ok())
            throw config::Error(next.path, next.bindings[bad].line, next.bindings[bad].column,
                                next.bindings[bad].key + ".prefix", r.message);
    }
    // Who may do what: from the next request on (docs/control-protocol.md, Privilege).
    server_->set_access(next.control_mode, gid);
    registry_->set_policy(next.policy, next.ip_nonlocal_bind);
    ctl::ServerConfig limits;
    control_limits(next, limits);
    server_->set_limits(limits);
    registry_->set_quotas(next.control_max_endpoints_per_uid, next.control_max_ring_bytes_per_uid);
    if (next.control_core != cfg_.control_core) pin_control_thread(next.control_core);
    ipv4::RouteConfig rc = wanted_routes(next);
    rc.mc = routes_->config().mc;
    routes_->update(std::move(rc));
    for (std::size_t i = 0; i < ports_.size(); ++i) {
        ports_[i]->steering->steering().set_capture_all(next.interfaces[i].capture_all);
        ports_[i]->sync(*routes_->read());
        ports_[i]->ic = next.interfaces[i];
    }
    synced_generation_ = routes_->read()->generation();
    apply_bindings(next, nullptr);  // checked above against these tables
    knobs_->publish(knobs_of(next));
    if (next.host_kernel) kglobals_ = globals;
    cfg_ = next;
    return restart;
}

void Dataplane::apply_bindings(const config::Config& cfg, const ipv4::RouteTables* tables,
                               bool at_start) {
    // `bindings:` (demux/sk_lookup.h): a label's prefix must be the host's; the refusal
    // names the entry's place in the file.
    std::vector<demux::Binding> bs;
    for (const config::BindingEntry& e : cfg.bindings) bs.push_back(e.binding);
    std::size_t bad = 0;
    ctl::Result r = registry_->check_bindings(bs, tables, &bad);
    // Except at start under host: kernel with a DPDK port: the port's kernel side is the TAP
    // this start just created, which the operator configures afterwards (docs/dpdk.md), so
    // its addresses cannot be there yet. Such a binding is kept, said once; it captures
    // nothing until the address is the host's (as the kernel's sk_lookup only sees traffic
    // routed local), and a reload checks it again.
    const bool tap_pending = at_start && cfg.host_kernel &&
                             std::any_of(cfg.interfaces.begin(), cfg.interfaces.end(),
                                         [](const config::InterfaceConfig& i) {
                                             return i.driver == config::Driver::kDpdk;
                                         });
    if (!r.ok() && tap_pending) {
        for (std::size_t i = 0; i < bs.size(); ++i) {
            std::size_t one = 0;
            const ctl::Result ri = registry_->check_bindings({bs[i]}, tables, &one);
            if (ri.ok()) continue;
            const config::BindingEntry& e = cfg.bindings[i];
            std::fprintf(stderr,
                         "ingressd: %s:%d: %s.prefix: kept, not yet the host's: %s (a DPDK "
                         "port's TAP gets its addresses once ingressd made it; a reload "
                         "checks again)\n",
                         cfg.path.c_str(), e.line, e.key.c_str(), ri.message.c_str());
        }
        r = {};
    } else if (!r.ok()) {
        const config::BindingEntry& e = cfg.bindings[bad];
        throw config::Error(cfg.path, e.line, e.column, e.key + ".prefix", r.message);
    }
    // Checked above: installed as they are (set_config_bindings refuses nothing unchecked).
    (void)registry_->set_config_bindings(bs, tables, &bad, false);
}

ctl::ReloadOutcome reload_from_file(Dataplane& dp, const std::string& path) {
    ctl::ReloadOutcome o;
    try {
        o.restart = dp.reload(config::load(path, load_options()));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ingressd: reload refused, running configuration kept: %s\n",
                     e.what());
        return ctl::ReloadOutcome{EINVAL, e.what(), {}};
    }
    if (o.restart.empty()) {
        std::fprintf(stderr, "ingressd: reloaded %s\n", path.c_str());
    } else {
        std::fprintf(stderr, "ingressd: reload not applied; these need a restart:\n");
        for (const auto& r : o.restart) std::fprintf(stderr, "ingressd:   %s\n", r.c_str());
    }
    return o;
}

}  // namespace ingress::daemon
