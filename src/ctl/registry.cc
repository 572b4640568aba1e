#include "ctl/registry.h"

#include <net/if.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <system_error>

#include "demux/endpoint_table.h"

namespace ingress::ctl {

namespace {

constexpr std::size_t kMaxMemberships = 20;  // net.ipv4.igmp_max_memberships
constexpr std::size_t kMaxSources = 10;      // net.ipv4.igmp_max_msf

Result fail(int err, std::string msg) {
    return Result{err, std::move(msg), 0};
}

}  // namespace

const char* endpoint_kind_name(EndpointKind k) noexcept {
    switch (k) {
        case EndpointKind::kUdp:
            return "udp";
        case EndpointKind::kRaw:
            return "raw";
        case EndpointKind::kTap:
            return "tap";
    }
    return "?";
}

struct Registry::Entry {
    uint32_t id = 0;
    uint64_t owner = 0;
    uid_t uid = 0;
    EndpointKind kind = EndpointKind::kUdp;
    UdpOpen udp;
    uint32_t sk_rcvbuf = 0;  // UDP: fixed at open and by SO_RCVBUF(FORCE), never by the sysctls
    RawOpen raw;
    bool raw_addr_by_connect = false;  // raw.addr came from connect(), not bind()
    TapOpen tap;
    std::vector<demux::McMembership> mc;  // the socket's ip_mc_socklist
    std::shared_ptr<demux::ShmRings> rings;
    // The endpoint object the current snapshot names (rebuilt on every option change).
    std::shared_ptr<demux::UdpEndpoint> u;
    std::shared_ptr<demux::RawEndpoint> r;
    std::shared_ptr<demux::TapEndpoint> t;
};

Registry::Registry(RegistryConfig cfg, demux::EndpointPublisher& pub, ipv4::RoutePublisher* routes)
    : cfg_(std::move(cfg)), pub_(pub), routes_(routes) {}

Registry::~Registry() {
    // Unpublish everything before the endpoints go away.
    if (!eps_.empty()) {
        std::vector<std::unique_ptr<Entry>> dead;
        for (auto& [id, e] : eps_) dead.push_back(std::move(e));
        eps_.clear();
        publish(std::move(dead));
    }
}

// --- helpers --------------------------------------------------------------------------------

Result Registry::admit(uint64_t owner, uid_t uid, uint32_t ring_slots, shm::RingGeometry* g) {
    if (count(owner) >= cfg_.max_endpoints_per_owner)
        return fail(EMFILE, "too many endpoints on this connection (limit " +
                                std::to_string(cfg_.max_endpoints_per_owner) + ")");
    *g = cfg_.geometry;
    if (ring_slots) {
        if (ring_slots > cfg_.max_ring_slots)
            return fail(EINVAL, "ring-slots " + std::to_string(ring_slots) + " above the limit " +
                                    std::to_string(cfg_.max_ring_slots));
        g->slot_count = shm::RingGeometry::round_slots(ring_slots);
    }
    // The uid's quotas, over all its connections (as RLIMIT_MEMLOCK is the user's, not the
    // socket's): what it holds plus what this endpoint would add.
    std::size_t n = 0;
    uint64_t bytes = 0;
    for (const auto& [id, e] : eps_)
        if (e->uid == uid) {
            ++n;
            bytes += uint64_t{e->rings->workers()} * e->rings->geometry().region_size();
        }
    if (n >= cfg_.max_endpoints_per_uid) {
        ++quota_stats_.endpoints;
        return fail(EMFILE, "uid " + std::to_string(uid) + " holds " + std::to_string(n) +
                                " endpoints (control.max_endpoints_per_uid " +
                                std::to_string(cfg_.max_endpoints_per_uid) + ")");
    }
    const uint64_t want = uint64_t{cfg_.workers} * g->region_size();
    if (bytes + want > cfg_.max_ring_bytes_per_uid) {
        ++quota_stats_.ring_bytes;
        return fail(ENOBUFS, "ring memory quota: uid " + std::to_string(uid) + " holds " +
                                 std::to_string(bytes) + " bytes of rings, this endpoint's " +
                                 std::to_string(want) + " more would pass " +
                                 std::to_string(cfg_.max_ring_bytes_per_uid) +
                                 " (control.max_ring_bytes_per_uid; ask for fewer ring-slots)");
    }
    return {};
}

Result Registry::check_bind_addr(wire::Ipv4Addr a) const {
    // inet_bind() -> inet_addr_valid_or_nonlocal(): ip_nonlocal_bind, INADDR_ANY, or an
    // address whose inet_addr_type() is LOCAL, MULTICAST or BROADCAST (an AnyIP prefix's
    // addresses are LOCAL: the local table's route covers them).
    if (cfg_.ip_nonlocal_bind || a == 0) return {};
    using ipv4::RouteType;
    const RouteType t =
        routes_ ? routes_->read()->addr_type(a) : ipv4::RouteTables::inet_addr_type({}, a);
    if (t == RouteType::kLocal || t == RouteType::kMulticast || t == RouteType::kBroadcast)
        return {};
    // The cause: no address and no local route of the host covers it (the local table's
    // answer is `t`); ip_nonlocal_bind is only what would have let it through.
    return fail(
        EADDRNOTAVAIL,
        "cannot bind to " + wire::ipv4_str(a) + ": not an address of this host (" +
            (t == RouteType::kUnicast
                 ? std::string("no interface address or local route covers it")
                 : "the local table routes it as type " + std::to_string(static_cast<int>(t))) +
            "; net.ipv4.ip_nonlocal_bind=1 would allow it)");
}

Result Registry::check_binding_prefix(const demux::Binding& b, const ipv4::RouteTables* t) const {
    if (b.drop || cfg_.ip_nonlocal_bind) return {};
    if (!t && routes_) t = routes_->read();
    // The local table's type is constant between the starts and ends of the routes that
    // overlap the prefix: asking at the prefix's start and at each such boundary inside it
    // covers every address.
    const uint64_t first = b.prefix;
    const uint64_t last = first + (uint64_t{1} << (32 - b.prefix_len)) - 1;
    std::vector<uint64_t> points{first};
    std::vector<ipv4::Route> local;
    if (t)
        for (const ipv4::Route& r : t->all_routes())
            if (r.local_table()) local.push_back(r);
    for (const ipv4::Route& r : local) {
        const uint64_t lo = r.prefix, hi = lo + (uint64_t{1} << (32 - r.prefix_len)) - 1;
        if (lo > first && lo <= last) points.push_back(lo);
        if (hi >= first && hi < last) points.push_back(hi + 1);
    }
    for (uint64_t p : points) {
        const auto a = static_cast<wire::Ipv4Addr>(p);
        const ipv4::RouteType type = ipv4::RouteTables::inet_addr_type(local, a);
        if (type == ipv4::RouteType::kLocal) continue;
        return fail(EADDRNOTAVAIL,
                    "binding " + wire::ipv4_str(b.prefix) + "/" + std::to_string(b.prefix_len) +
                        " -> " + b.label + ": " + wire::ipv4_str(a) +
                        " is not an address of this host (a label may only capture traffic for "
                        "the host's addresses: add them, or a local route such as `ip route "
                        "add local " +
                        wire::ipv4_str(b.prefix) + "/" + std::to_string(b.prefix_len) +
                        " dev lo`; net.ipv4.ip_nonlocal_bind=1 would allow it)");
    }
    return {};
}

bool Registry::device_ok(uint32_t ifindex) const {
    // sock_bindtoindex() / packet_do_bind(): dev_get_by_index() must find the interface:
    // one the route tables know (ports, VLAN sub-interfaces) or any other of the host's.
    if (ifindex == 0) return true;
    if (routes_)
        for (const ipv4::IfConfig& i : routes_->config().ifaces)
            if (i.ifindex == ifindex) return true;
    char name[IF_NAMESIZE];
    return if_indextoname(ifindex, name) != nullptr;
}

void Registry::raw_connect(Entry& e, wire::Ipv4Addr peer) const {
    if (peer == 0) {
        // connect(AF_UNSPEC): __udp_disconnect() (raw's disconnect): inet_daddr = 0, and a
        // local address connect() chose goes too (inet_reset_saddr() unless bind() set it,
        // SOCK_BINDADDR_LOCK).
        e.raw.remote_addr = 0;
        if (e.raw_addr_by_connect) e.raw.addr = 0;
        e.raw_addr_by_connect = false;
        return;
    }
    // ip4_datagram_connect(): inet_daddr = the peer (raw_v4_match() then takes only its
    // datagrams); an unbound socket's inet_rcv_saddr becomes the route's source, once (a
    // later connect keeps it), as for UDP at open.
    e.raw.remote_addr = peer;
    if (e.raw.addr == 0 && !wire::ipv4_is_multicast(peer)) {
        e.raw.addr = connect_source(peer);
        e.raw_addr_by_connect = e.raw.addr != 0;
    }
}

wire::Ipv4Addr Registry::connect_source(wire::Ipv4Addr peer) const {
    // ip4_datagram_connect() on a socket bound to INADDR_ANY: inet_rcv_saddr becomes the
    // source the route to the peer picks (fl4->saddr). That is the route's preferred source:
    // the peer itself when it is local, the address whose prefix route covers the peer
    // (fib_add_ifaddr() sets it as prefsrc), or the primary address of the interface a
    // static route leaves by (inet_select_addr). 0 when no route leads to the peer.
    if (!routes_) return 0;
    const ipv4::RouteConfig& rc = routes_->config();
    auto mask = [](uint8_t len) { return len ? ~uint32_t{0} << (32 - len) : 0; };
    wire::Ipv4Addr src = 0;
    int best = -1;
    for (const ipv4::IfConfig& i : rc.ifaces)
        for (const ipv4::IfAddr& ia : i.addrs) {
            if (ia.addr == peer) return peer;
            if (!ia.secondary && ((ia.addr ^ peer) & mask(ia.prefix_len)) == 0 &&
                ia.prefix_len > best) {
                best = ia.prefix_len;
                src = ia.addr;
            }
        }
    for (const ipv4::StaticRoute& r : rc.routes) {
        if (((r.prefix ^ peer) & mask(r.prefix_len)) != 0 || r.prefix_len <= best) continue;
        for (const ipv4::IfConfig& i : rc.ifaces)
            if (i.ifindex == r.oif && !i.addrs.empty()) {
                best = r.prefix_len;
                src = i.addrs.front().addr;
            }
    }
    return src;
}

bool Registry::udp_port_in_use(const UdpOpen& o, uid_t uid) const {
    // udp_lib_lport_inuse(): same port, overlapping addresses (either wildcard or equal),
    // overlapping devices, and neither both SO_REUSEADDR nor both SO_REUSEPORT with the
    // same owner uid.
    for (const auto& [id, e] : eps_) {
        if (e->kind != EndpointKind::kUdp || e->udp.port != o.port) continue;
        const UdpOpen& x = e->udp;
        if (x.addr && o.addr && x.addr != o.addr) continue;
        if (x.ifindex && o.ifindex && x.ifindex != o.ifindex) continue;
        if (x.reuseaddr && o.reuseaddr) continue;
        if (x.reuseport && o.reuseport && e->uid == uid) continue;
        return true;
    }
    return false;
}

Result Registry::check_owner(uint64_t owner, uint32_t id, Entry** out) {
    auto it = eps_.find(id);
    if (it == eps_.end()) return fail(ENOENT, "no endpoint " + std::to_string(id));
    if (it->second->owner != owner)
        return fail(EPERM, "endpoint " + std::to_string(id) + " belongs to another client");
    *out = it->second.get();
    return {};
}

void Registry::rebuild(Entry& e) {
    // A fresh endpoint object from the entry's configuration, on the same rings.
    switch (e.kind) {
        case EndpointKind::kUdp: {
            auto u = std::make_shared<demux::UdpEndpoint>(e.rings, "ep" + std::to_string(e.id));
            u->bind(e.udp.addr, e.udp.port);
            if (e.udp.remote_addr || e.udp.remote_port)
                u->connect(e.udp.remote_addr, e.udp.remote_port);
            u->bind_to_device(e.udp.ifindex).set_reuseport(e.udp.reuseport);
            u->set_multicast_all(e.udp.multicast_all).set_rcvbuf(e.sk_rcvbuf);
            u->set_recverr(e.udp.recverr);
            u->mc().list = e.mc;
            e.u = std::move(u);
            break;
        }
        case EndpointKind::kRaw: {
            auto r = std::make_shared<demux::RawEndpoint>(e.rings, e.raw.protocol,
                                                          "ep" + std::to_string(e.id));
            r->bind(e.raw.addr).connect(e.raw.remote_addr).bind_to_device(e.raw.ifindex);
            r->set_icmp_filter(e.raw.icmp_filter).set_multicast_all(e.raw.multicast_all);
            r->set_recverr(e.raw.recverr);
            r->mc().list = e.mc;
            e.r = std::move(r);
            break;
        }
        case EndpointKind::kTap: {
            auto t = std::make_shared<demux::TapEndpoint>(
                e.rings, e.tap.dgram ? demux::TapType::kDgram : demux::TapType::kRaw,
                e.tap.ethertype, "ep" + std::to_string(e.id));
            t->bind(e.tap.ifindex).set_auxdata(true).set_ignore_outgoing(e.tap.ignore_outgoing);
            if (!e.tap.filter.empty()) {
                std::string err;
                auto f = demux::TapFilter::compile(e.tap.filter, !e.tap.dgram, &err);
                if (!f) throw std::system_error(EINVAL, std::generic_category(), err);
                t->attach_filter(std::move(f));
            }
            if (e.tap.fanout)
                t->join_fanout(e.tap.fanout_group, e.tap.fanout_mode
                                                       ? demux::FanoutMode::kLoadBalance
                                                       : demux::FanoutMode::kHash);
            e.t = std::move(t);
            break;
        }
    }
}

void Registry::publish() {
    publish({}, {});
}

void Registry::publish(std::vector<std::unique_ptr<Entry>> dead) {
    publish(std::move(dead), {});
}

void Registry::publish(std::vector<std::unique_ptr<Entry>> dead,
                       std::vector<std::shared_ptr<void>> old_objects) {
    demux::EndpointTable::Builder b;
    b.set_hash_seed(cfg_.hash_seed);
    for (auto& [id, e] : eps_) {
        if (e->u) b.add(*e->u);
        if (e->r) b.add(*e->r);
        if (e->t) b.add(*e->t);
    }
    // Bindings and label registrations; a closed endpoint leaves every label.
    std::erase_if(labels_, [this](const auto& l) { return eps_.count(l.second) == 0; });
    for (const BindingSlot& s : bindings_) b.add_binding(s.b);
    for (const auto& [label, id] : labels_)
        if (const Entry& e = *eps_.at(id); e.u) b.add_label_member(label, *e.u);
    // The dead entries and replaced objects are freed after the grace period (the lambda
    // owns them until then).
    auto keep = std::make_shared<
        std::pair<std::vector<std::unique_ptr<Entry>>, std::vector<std::shared_ptr<void>>>>(
        std::move(dead), std::move(old_objects));
    pub_.publish(b.build(), [keep]() mutable {
        keep->first.clear();
        keep->second.clear();
    });
}

uint32_t Registry::mc_ifindex(uint32_t ifindex) const {
    // ip_mc_find_dev(): imr_ifindex 0 is resolved once, at the join, and the membership
    // records the device (so ip_mc_sf_allow matches it against the arriving interface). The
    // kernel routes the group; with no multicast routes here that is the first interface.
    if (ifindex || !routes_) return ifindex;
    for (const ipv4::IfConfig& i : routes_->config().ifaces)
        if (!i.loopback) return i.ifindex;
    return 0;
}

void Registry::mc_apply(ipv4::McGroups& mc, const Entry& e, bool add) const {
    for (const demux::McMembership& m : e.mc) {
        // join() resolved imr_ifindex 0 already (mc_ifindex); 0 is left only when this host
        // has no interface to join on.
        const uint32_t ifindex = m.ifindex;
        if (ifindex == 0) continue;
        const auto mode = m.mode == demux::McFilterMode::kInclude ? ipv4::McFilterMode::kInclude
                                                                  : ipv4::McFilterMode::kExclude;
        if (add)
            mc.join(ifindex, m.group, mode, m.sources);
        else
            (void)mc.leave(ifindex, m.group, mode, m.sources);
    }
}

void Registry::mc_update(const std::vector<demux::McMembership>& before, const Entry& e) {
    // One route publication for the whole change: the interface never loses a membership
    // that both the old and the new socket state have. Only the memberships are copied and
    // republished (RoutePublisher::set_mc()), not the routes.
    if (!routes_ || (before.empty() && e.mc.empty())) return;
    ipv4::McGroups mc = routes_->config().mc;
    Entry old;
    old.mc = before;
    mc_apply(mc, old, false);
    mc_apply(mc, e, true);
    routes_->set_mc(std::move(mc));
}

// --- requests -------------------------------------------------------------------------------

Result Registry::insert(std::unique_ptr<Entry> e, uint64_t owner, const PeerCred& peer,
                        const shm::RingGeometry& g) {
    // The socket exists now: its id, its owner, its rings, and the tables that name it.
    e->id = next_id_++;
    e->owner = owner;
    e->uid = peer.uid;
    // The error queue holds what the largest budget SO_RCVBUF can give now fits (rmem_max,
    // doubled), or the budget the endpoint opens with if larger; taps have none to fill.
    uint32_t budget = demux::so_rcvbuf(cfg_.rmem_max, cfg_.rmem_max);
    if (e->kind == EndpointKind::kUdp) budget = std::max(budget, e->sk_rcvbuf);
    const uint32_t err_slots = e->kind == EndpointKind::kTap ? shm::RingGeometry::kMinSlots
                                                             : demux::err_queue_slots(budget);
    // The slots in use follow the receive budget the endpoint opens with (and grow with it):
    // a UDP endpoint's data rings and error queues its sk_rcvbuf; a raw endpoint's error
    // queues rmem_default (icmp_err.cc), its data rings have no budget and use every slot.
    demux::RingBudgets budgets;
    if (e->kind == EndpointKind::kUdp) budgets = {e->sk_rcvbuf, e->sk_rcvbuf};
    if (e->kind == EndpointKind::kRaw) budgets.err = demux::kRmemDefault;
    try {
        e->rings = std::make_shared<demux::ShmRings>(e->id, cfg_.workers, g, err_slots, budgets);
        rebuild(*e);
    } catch (const std::system_error& ex) {
        return fail(ex.code().value() ? ex.code().value() : ENOMEM,
                    std::string("cannot create the endpoint's rings: ") + ex.what());
    }
    const uint32_t id = e->id;
    eps_.emplace(id, std::move(e));
    publish();
    return Result{0, {}, id};
}

Result Registry::open_udp(uint64_t owner, const PeerCred& peer, const UdpOpen& req) {
    UdpOpen o = req;
    shm::RingGeometry g;
    if (Result r = admit(owner, peer.uid, o.ring_slots, &g); !r.ok()) return r;
    // SO_BINDTODEVICE (set before bind), then inet_bind(): the address first, then the
    // port's privilege, then the port itself.
    if (!device_ok(o.ifindex))
        return fail(ENODEV, "no interface with index " + std::to_string(o.ifindex));
    if (Result r = check_bind_addr(o.addr); !r.ok()) return r;
    if (o.port && o.port < cfg_.policy.ip_unprivileged_port_start &&
        !has_privilege(cfg_.policy, peer, Privilege::kNetBindService))
        return fail(EACCES, "port " + std::to_string(o.port) + " is below " +
                                std::to_string(cfg_.policy.ip_unprivileged_port_start) +
                                " and needs CAP_NET_BIND_SERVICE");
    if (o.port == 0) {
        // udp_lib_get_port() with snum 0: the first free port of ip_local_port_range.
        for (uint32_t p = cfg_.ip_local_port_lo; p <= cfg_.ip_local_port_hi; ++p) {
            o.port = static_cast<uint16_t>(p);
            if (!udp_port_in_use(o, peer.uid)) break;
            o.port = 0;
        }
        if (o.port == 0) return fail(EADDRINUSE, "no free ephemeral port");
    } else if (udp_port_in_use(o, peer.uid)) {
        return fail(EADDRINUSE, "address " + wire::ipv4_str(o.addr) + ":" + std::to_string(o.port) +
                                    " already in use");
    }
    // bind() is done; connect() then narrows a wildcard local address (ip4_datagram_connect).
    if (o.addr == 0 && o.remote_addr != 0 && !wire::ipv4_is_multicast(o.remote_addr))
        o.addr = connect_source(o.remote_addr);
    auto e = std::make_unique<Entry>();
    e->kind = EndpointKind::kUdp;
    e->udp = o;
    e->sk_rcvbuf = rcvbuf_of(o);
    return insert(std::move(e), owner, peer, g);
}

Result Registry::open_raw(uint64_t owner, const PeerCred& peer, const RawOpen& o) {
    shm::RingGeometry g;
    if (Result r = admit(owner, peer.uid, o.ring_slots, &g); !r.ok()) return r;
    // inet_create(): SOCK_RAW needs CAP_NET_RAW.
    if (!has_privilege(cfg_.policy, peer, Privilege::kNetRaw))
        return fail(EPERM, "raw endpoints need CAP_NET_RAW");
    if (o.protocol == 0 || o.protocol == 255)
        return fail(EPROTONOSUPPORT, "raw protocol must be 1..254");  // IPPROTO_IP / _RAW
    if (!device_ok(o.ifindex))
        return fail(ENODEV, "no interface with index " + std::to_string(o.ifindex));
    if (Result r = check_bind_addr(o.addr); !r.ok()) return r;
    auto e = std::make_unique<Entry>();
    e->kind = EndpointKind::kRaw;
    e->raw = o;
    raw_connect(*e, o.remote_addr);
    return insert(std::move(e), owner, peer, g);
}

Result Registry::open_tap(uint64_t owner, const PeerCred& peer, const TapOpen& o) {
    shm::RingGeometry g;
    if (Result r = admit(owner, peer.uid, o.ring_slots, &g); !r.ok()) return r;
    // packet_create(): CAP_NET_RAW, whatever the protocol.
    if (!has_privilege(cfg_.policy, peer, Privilege::kNetRaw))
        return fail(EPERM, "packet taps need CAP_NET_RAW");
    if (!device_ok(o.ifindex))
        return fail(ENODEV, "no interface with index " + std::to_string(o.ifindex));
    if (o.fanout && o.fanout_mode > 1) return fail(EINVAL, "fanout mode must be 0 or 1");
    auto e = std::make_unique<Entry>();
    e->kind = EndpointKind::kTap;
    e->tap = o;
    return insert(std::move(e), owner, peer, g);
}

Result Registry::join(uint64_t owner, uint32_t id, wire::Ipv4Addr group, uint32_t ifindex,
                      demux::McFilterMode mode, const std::vector<wire::Ipv4Addr>& sources) {
    Entry* e;
    if (Result r = check_owner(owner, id, &e); !r.ok()) return r;
    if (e->kind == EndpointKind::kTap) return fail(EOPNOTSUPP, "taps have no IP memberships");
    if (!wire::ipv4_is_multicast(group))
        return fail(EINVAL, wire::ipv4_str(group) + " is not a multicast group");
    if (sources.size() > kMaxSources) return fail(ENOBUFS, "more than 10 sources (igmp_max_msf)");
    ifindex = mc_ifindex(ifindex);
    auto it = std::find_if(e->mc.begin(), e->mc.end(), [&](const demux::McMembership& m) {
        return m.group == group && m.ifindex == ifindex;
    });
    std::vector<demux::McMembership> next = e->mc;
    demux::McMembership* m = nullptr;
    if (it == e->mc.end()) {
        if (e->mc.size() >= kMaxMemberships)
            return fail(ENOBUFS, "more than 20 memberships (igmp_max_memberships)");
        next.push_back({group, ifindex, mode, {}});
        m = &next.back();
    } else {
        m = &next[static_cast<std::size_t>(it - e->mc.begin())];
        if (sources.empty()) return fail(EADDRINUSE, wire::ipv4_str(group) + " already joined");
        // ip_mc_source(): the mode of an existing membership cannot be changed this way.
        if (m->mode != mode)
            return fail(EINVAL,
                        "membership of " + wire::ipv4_str(group) + " is in the other filter mode");
    }
    for (wire::Ipv4Addr s : sources)
        if (std::find(m->sources.begin(), m->sources.end(), s) == m->sources.end())
            m->sources.push_back(s);
    if (m->sources.size() > kMaxSources)
        return fail(ENOBUFS, "more than 10 sources (igmp_max_msf)");
    std::vector<demux::McMembership> before = std::move(e->mc);
    e->mc = std::move(next);
    std::vector<std::shared_ptr<void>> old{e->u, e->r};
    rebuild(*e);
    mc_update(before, *e);
    publish({}, std::move(old));
    return Result{0, {}, id};
}

Result Registry::leave(uint64_t owner, uint32_t id, wire::Ipv4Addr group, uint32_t ifindex,
                       const std::vector<wire::Ipv4Addr>& sources) {
    Entry* e;
    if (Result r = check_owner(owner, id, &e); !r.ok()) return r;
    ifindex = mc_ifindex(ifindex);
    auto it = std::find_if(e->mc.begin(), e->mc.end(), [&](const demux::McMembership& m) {
        return m.group == group && m.ifindex == ifindex;
    });
    if (it == e->mc.end()) return fail(EADDRNOTAVAIL, wire::ipv4_str(group) + " is not joined");
    std::vector<demux::McMembership> next = e->mc;
    auto& m = next[static_cast<std::size_t>(it - e->mc.begin())];
    if (sources.empty()) {
        next.erase(next.begin() + (it - e->mc.begin()));
    } else {
        for (wire::Ipv4Addr s : sources) {
            auto si = std::find(m.sources.begin(), m.sources.end(), s);
            if (si == m.sources.end())
                return fail(EADDRNOTAVAIL, "source " + wire::ipv4_str(s) + " is not in the filter");
            m.sources.erase(si);
        }
        // An INCLUDE membership with no source left is dropped (ip_mc_leave_src).
        if (m.mode == demux::McFilterMode::kInclude && m.sources.empty())
            next.erase(next.begin() + (it - e->mc.begin()));
    }
    std::vector<demux::McMembership> before = std::move(e->mc);
    e->mc = std::move(next);
    std::vector<std::shared_ptr<void>> old{e->u, e->r};
    rebuild(*e);
    mc_update(before, *e);
    publish({}, std::move(old));
    return Result{0, {}, id};
}

Result Registry::set_option(uint64_t owner, uint32_t id, Attr option, uint32_t value) {
    Entry* e;
    if (Result r = check_owner(owner, id, &e); !r.ok()) return r;
    switch (option) {
        case Attr::kMulticastAll:
            if (e->kind == EndpointKind::kUdp)
                e->udp.multicast_all = value != 0;
            else if (e->kind == EndpointKind::kRaw)
                e->raw.multicast_all = value != 0;
            else
                return fail(ENOPROTOOPT, "IP_MULTICAST_ALL is not a tap option");
            break;
        case Attr::kRecverr:  // IP_RECVERR
            if (e->kind == EndpointKind::kUdp)
                e->udp.recverr = value != 0;
            else if (e->kind == EndpointKind::kRaw)
                e->raw.recverr = value != 0;
            else
                return fail(ENOPROTOOPT, "IP_RECVERR is not a tap option");
            break;
        case Attr::kRcvbuf:
            // SO_RCVBUF (UDP; raw and tap endpoints have no byte budget yet, docs/rcvbuf.md).
            // A value of 0 is a real request (SOCK_MIN_RCVBUF), kept apart from "never set".
            if (e->kind != EndpointKind::kUdp)
                return fail(ENOPROTOOPT, "SO_RCVBUF is only a UDP endpoint option here");
            e->udp.rcvbuf = value ? value : 1;
            e->sk_rcvbuf = demux::so_rcvbuf(value, cfg_.rmem_max);  // rmem_max as it is now
            break;
        case Attr::kRemoteAddr:
            if (e->kind != EndpointKind::kRaw)
                return fail(EOPNOTSUPP, "connect on an open endpoint: raw endpoints only");
            raw_connect(*e, value);
            break;
        case Attr::kIcmpFilter:
            if (e->kind != EndpointKind::kRaw || e->raw.protocol != 1)
                return fail(EOPNOTSUPP, "ICMP_FILTER needs a raw ICMP endpoint");
            e->raw.icmp_filter = value;
            break;
        case Attr::kIgnoreOutgoing:
            if (e->kind != EndpointKind::kTap)
                return fail(ENOPROTOOPT, "PACKET_IGNORE_OUTGOING is a tap option");
            e->tap.ignore_outgoing = value != 0;
            break;
        case Attr::kIfindex:
            if (e->kind == EndpointKind::kUdp) {
                UdpOpen want = e->udp;
                want.ifindex = value;
                UdpOpen saved = e->udp;
                e->udp.port = 0;  // not in conflict with itself
                const bool busy = udp_port_in_use(want, e->uid);
                e->udp = saved;
                if (busy) return fail(EADDRINUSE, "address in use on that device");
                e->udp.ifindex = value;
            } else if (e->kind == EndpointKind::kRaw) {
                e->raw.ifindex = value;
            } else {
                e->tap.ifindex = value;
            }
            break;
        default:
            return fail(ENOPROTOOPT, "option " + std::to_string(static_cast<unsigned>(option)) +
                                         " cannot be set on an open endpoint");
    }
    std::vector<std::shared_ptr<void>> old{e->u, e->r, e->t};
    rebuild(*e);
    publish({}, std::move(old));
    return Result{0, {}, id};
}

Result Registry::set_rcvbuf_force(uint64_t owner, const PeerCred& peer, uint32_t id,
                                  uint32_t value) {
    Entry* e;
    if (Result r = check_owner(owner, id, &e); !r.ok()) return r;
    if (e->kind != EndpointKind::kUdp)
        return fail(ENOPROTOOPT, "SO_RCVBUFFORCE is only a UDP endpoint option here");
    // sk_setsockopt(): sockopt_ns_capable(net->user_ns, CAP_NET_ADMIN), else -EPERM.
    if (!has_privilege(cfg_.policy, peer, Privilege::kNetAdmin))
        return fail(EPERM, "SO_RCVBUFFORCE needs CAP_NET_ADMIN");
    e->udp.rcvbuf = value ? value : 1;
    e->sk_rcvbuf = demux::so_rcvbuf(value, UINT32_MAX);  // no rmem_max
    std::vector<std::shared_ptr<void>> old{e->u};
    rebuild(*e);
    publish({}, std::move(old));
    return Result{0, {}, id};
}

Result Registry::close(uint64_t owner, uint32_t id) {
    Entry* e;
    if (Result r = check_owner(owner, id, &e); !r.ok()) return r;
    auto node = eps_.extract(id);
    retire_reads(*node.mapped()->rings);
    mc_update(node.mapped()->mc, Entry{});
    std::vector<std::unique_ptr<Entry>> dead;
    dead.push_back(std::move(node.mapped()));
    publish(std::move(dead));
    return Result{0, {}, id};
}

std::size_t Registry::close_owner(uint64_t owner) {
    std::vector<std::unique_ptr<Entry>> dead;
    for (auto it = eps_.begin(); it != eps_.end();) {
        if (it->second->owner == owner) {
            retire_reads(*it->second->rings);
            mc_update(it->second->mc, Entry{});
            dead.push_back(std::move(it->second));
            it = eps_.erase(it);
        } else {
            ++it;
        }
    }
    const std::size_t n = dead.size();
    if (n) publish(std::move(dead));
    return n;
}

// --- bindings -------------------------------------------------------------------------------

namespace {

bool same_key(const demux::Binding& a, const demux::Binding& b) {
    return a.prefix == b.prefix && a.prefix_len == b.prefix_len && a.port_lo == b.port_lo &&
           a.port_hi == b.port_hi;
}

std::string binding_str(const demux::Binding& b) {
    return wire::ipv4_str(b.prefix) + "/" + std::to_string(b.prefix_len) + " ports " +
           std::to_string(b.port_lo) + "-" + std::to_string(b.port_hi);
}

}  // namespace

Result Registry::add_binding(const PeerCred& peer, const demux::Binding& b) {
    if (!has_privilege(cfg_.policy, peer, Privilege::kBindings))
        return fail(EPERM,
                    "adding a binding needs " + std::string(privilege_name(Privilege::kBindings)));
    if (b.prefix_len > 32 || b.port_lo > b.port_hi || (b.drop != b.label.empty()) ||
        b.label.size() > 64 || (b.prefix_len < 32 && (b.prefix & (0xffffffffu >> b.prefix_len))))
        return fail(EINVAL, "malformed binding " + binding_str(b));
    if (Result r = check_binding_prefix(b, nullptr); !r.ok()) return r;
    auto it = std::find_if(bindings_.begin(), bindings_.end(),
                           [&](const BindingSlot& s) { return same_key(s.b, b); });
    if (it != bindings_.end())
        *it = {b, false, peer.uid};
    else
        bindings_.push_back({b, false, peer.uid});
    publish();
    return {};
}

Result Registry::remove_binding(const PeerCred& peer, const demux::Binding& b) {
    if (!has_privilege(cfg_.policy, peer, Privilege::kBindings))
        return fail(
            EPERM, "removing a binding needs " + std::string(privilege_name(Privilege::kBindings)));
    auto it = std::find_if(bindings_.begin(), bindings_.end(),
                           [&](const BindingSlot& s) { return same_key(s.b, b); });
    if (it == bindings_.end()) return fail(ENOENT, "no binding " + binding_str(b));
    bindings_.erase(it);
    publish();
    return {};
}

Result Registry::check_bindings(const std::vector<demux::Binding>& bs,
                                const ipv4::RouteTables* tables, std::size_t* bad) const {
    for (std::size_t i = 0; i < bs.size(); ++i)
        if (Result r = check_binding_prefix(bs[i], tables); !r.ok()) {
            if (bad) *bad = i;
            return r;
        }
    return {};
}

Result Registry::set_config_bindings(const std::vector<demux::Binding>& bs,
                                     const ipv4::RouteTables* tables, std::size_t* bad,
                                     bool check) {
    if (check)
        if (Result r = check_bindings(bs, tables, bad); !r.ok()) return r;
    std::vector<BindingSlot> next;
    for (const demux::Binding& b : bs) next.push_back({b, true, 0});
    // Those added over the control socket stay, unless the file now names the same key.
    for (const BindingSlot& s : bindings_)
        if (!s.from_config && std::none_of(bs.begin(), bs.end(), [&](const demux::Binding& b) {
                return same_key(b, s.b);
            }))
            next.push_back(s);
    bindings_ = std::move(next);
    publish();
    return {};
}

Result Registry::register_label(uint64_t owner, const PeerCred& peer, uint32_t id,
                                const std::string& label) {
    Entry* e;
    if (Result r = check_owner(owner, id, &e); !r.ok()) return r;
    if (e->kind != EndpointKind::kUdp)
        return fail(EPROTOTYPE,
                    "only UDP endpoints can be registered under a label (sk_lookup "
                    "runs in the TCP and UDP lookups only)");
    if (label.empty() || label.size() > 64) return fail(EINVAL, "a label is 1..64 characters");
    if (!has_privilege(cfg_.policy, peer, Privilege::kRegister))
        return fail(EPERM, "registering under a label needs " +
                               std::string(privilege_name(Privilege::kRegister)));
    for (const auto& [l, i] : labels_)
        if (l == label && i == id)
            return fail(EEXIST, "endpoint " + std::to_string(id) + " is already under " + label);
    labels_.emplace_back(label, id);
    publish();
    return Result{0, {}, id};
}

Result Registry::unregister_label(uint64_t owner, uint32_t id, const std::string& label) {
    Entry* e;
    if (Result r = check_owner(owner, id, &e); !r.ok()) return r;
    auto it =
        std::find(labels_.begin(), labels_.end(), std::pair<std::string, uint32_t>{label, id});
    if (it == labels_.end())
        return fail(ENOENT, "endpoint " + std::to_string(id) + " is not under " + label);
    labels_.erase(it);
    publish();
    return Result{0, {}, id};
}

std::vector<BindingView> Registry::bindings() const {
    std::vector<BindingView> out;
    for (const BindingSlot& s : bindings_) {
        BindingView v{s.b, s.from_config, s.uid, {}};
        if (!s.b.drop)
            for (const auto& [l, id] : labels_)
                if (l == s.b.label && eps_.count(id)) v.endpoints.push_back(id);
        out.push_back(std::move(v));
    }
    return out;
}

std::vector<std::pair<std::string, std::vector<uint32_t>>> Registry::labels() const {
    std::vector<std::pair<std::string, std::vector<uint32_t>>> out;
    for (const auto& entry : labels_) {
        // Not a structured binding: clang before 16 (the fuzz build) cannot capture one.
        const std::string& l = entry.first;
        if (!eps_.count(entry.second)) continue;
        auto it = std::find_if(out.begin(), out.end(), [&](const auto& p) { return p.first == l; });
        if (it == out.end()) it = out.insert(out.end(), {l, {}});
        it->second.push_back(entry.second);
    }
    return out;
}

const demux::ShmRings* Registry::rings(uint64_t owner, uint32_t id) const noexcept {
    auto it = eps_.find(id);
    if (it == eps_.end() || it->second->owner != owner) return nullptr;
    return it->second->rings.get();
}

std::size_t Registry::count(uint64_t owner) const noexcept {
    std::size_t n = 0;
    for (const auto& [id, e] : eps_) n += e->owner == owner;
    return n;
}

bool Registry::all_drained() const noexcept {
    for (const auto& [id, e] : eps_) {
        for (uint16_t w = 0; w < e->rings->workers(); ++w) {
            auto* h = static_cast<const shm::RingHeader*>(e->rings->region(w).data());
            if (h->cons.load(std::memory_order_acquire) != h->prod.load(std::memory_order_acquire))
                return false;
        }
    }
    return true;
}

void Registry::retire_reads(const demux::ShmRings& rings) {
    if (closed_reads_.size() < rings.workers()) closed_reads_.resize(rings.workers());
    for (uint16_t w = 0; w < rings.workers(); ++w) closed_reads_[w] += rings.read_counts(w);
}

demux::ShmRings::ReadCounts Registry::read_counts(uint16_t worker) const noexcept {
    demux::ShmRings::ReadCounts n;
    if (worker < closed_reads_.size()) n = closed_reads_[worker];
    for (const auto& [id, e] : eps_) n += e->rings->read_counts(worker);
    return n;
}

std::string Registry::describe() const {
    std::string s = "#endpoints\n";
    char line[200];
    for (const auto& [id, e] : eps_) {
        std::snprintf(line, sizeof line,
                      "ep%-6u %-4s uid %-6u delivered %llu dropped %llu truncated %llu\n", id,
                      endpoint_kind_name(e->kind), static_cast<unsigned>(e->uid),
                      static_cast<unsigned long long>(e->rings->delivered()),
                      static_cast<unsigned long long>(e->rings->dropped() +
                                                      e->rings->read_counts().csum_errors),
                      static_cast<unsigned long long>(e->rings->truncated()));
        s += line;
    }
    return s;
}

uint32_t Registry::rcvbuf_of(const UdpOpen& o) const noexcept {
    // sock_init_data(): rmem_default; SO_RCVBUF: clamped to rmem_max, doubled.
    return o.rcvbuf ? demux::so_rcvbuf(o.rcvbuf, cfg_.rmem_max) : cfg_.rmem_default;
}

std::vector<EndpointView> Registry::endpoints(uint32_t first_id) const {
    std::vector<EndpointView> out;
    for (auto it = eps_.lower_bound(first_id); it != eps_.end(); ++it) {
        const Entry& e = *it->second;
        EndpointView v{.id = e.id,
                       .owner = e.owner,
                       .uid = e.uid,
                       .kind = e.kind,
                       .mc = &e.mc,
                       .rings = e.rings.get()};
        if (e.kind == EndpointKind::kUdp) v.udp = &e.udp, v.rcvbuf = e.sk_rcvbuf;
        if (e.kind == EndpointKind::kRaw) v.raw = &e.raw;
        if (e.kind == EndpointKind::kTap) v.tap = &e.tap;
        out.push_back(v);
    }
    return out;
}

}  // namespace ingress::ctl
