// The endpoint registry: every endpoint the apps opened, per owner (one control connection),
// and the publication of each change to the workers.
//
// Kernel-equivalent: socket(), bind() (inet_bind / __inet_bind, udp_lib_get_port with
// udp_lib_lport_inuse), setsockopt() (IP_ADD_MEMBERSHIP and friends, IP_MULTICAST_ALL,
// ICMP_FILTER, SO_BINDTODEVICE), close(); and the privilege checks of inet_create /
// packet_create / inet_port_requires_bind_service.
//
// Every change builds a new demux::EndpointTable from the live endpoints and publishes it
// (EndpointPublisher: RCU pointer swap). Endpoints are never changed in place: an option
// change builds a new endpoint object over the same shared-memory rings, and the previous
// object (and, for a close, the rings with their memfds and eventfd) is freed only after the
// grace period, when no worker can still hold a snapshot naming it. Multicast joins and
// leaves also update the interface-level memberships (ipv4::McGroups) the route stage
// checks, by publishing new route tables.
//
// Control-plane only: one thread, allocates freely; never touched by workers.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ctl/policy.h"
#include "ctl/protocol.h"
#include "demux/endpoint.h"
#include "demux/endpoint_publisher.h"
#include "demux/sk_lookup.h"
#include "ipv4/route_tables.h"
#include "shm/ring.h"

namespace ingress::ctl {

enum class EndpointKind : uint8_t { kUdp, kRaw, kTap };
const char* endpoint_kind_name(EndpointKind k) noexcept;

// UdpOpen, RawOpen and TapOpen (what the open requests carry) are in ctl/protocol.h.

struct Result {
    int err = 0;  // 0 or the errno the socket call would have returned
    std::string message;
    uint32_t id = 0;
    bool ok() const noexcept { return err == 0; }
};

// Opens refused by the per-uid quotas.
struct QuotaStats {
    uint64_t endpoints = 0;   // EMFILE: max_endpoints_per_uid
    uint64_t ring_bytes = 0;  // ENOBUFS: max_ring_bytes_per_uid
};

// One endpoint as `ingressctl endpoints` shows it (pointers valid until the next change).
struct EndpointView {
    uint32_t id = 0;
    uint64_t owner = 0;
    uid_t uid = 0;
    EndpointKind kind = EndpointKind::kUdp;
    const UdpOpen* udp = nullptr;  // the one of the three that matches `kind`
    const RawOpen* raw = nullptr;
    const TapOpen* tap = nullptr;
    const std::vector<demux::McMembership>* mc = nullptr;
    const demux::ShmRings* rings = nullptr;
    uint32_t rcvbuf = 0;  // UDP: the sk_rcvbuf in effect (bytes)
};

// One binding as `ingressctl bindings` shows it: where it came from and what its label
// resolves to now.
struct BindingView {
    demux::Binding binding;
    bool from_config = false;         // the file's `bindings:` (else added over the control socket)
    uid_t uid = 0;                    // who added it (control socket)
    std::vector<uint32_t> endpoints;  // the label's live endpoints, in registration order
};

struct RegistryConfig {
    uint16_t workers = 1;
    shm::RingGeometry geometry{1024, 2048};  // default rings; ring-slots may ask otherwise
    uint32_t max_ring_slots = 1u << 14;      // 32 MiB per ring at 2 KiB slots
    // Per connection: no cap of the daemon's own. As for sockets, the app's RLIMIT_NOFILE
    // bounds it (each endpoint holds fds in the app: the doorbell and a ring per worker; an
    // open whose fds do not fit fails with EMFILE in libingress, and the daemon closes the
    // endpoint again), and the per-uid quotas below bound what the daemon holds.
    uint32_t max_endpoints_per_owner = UINT32_MAX;
    // Per uid, over all its connections (control.max_endpoints_per_uid and
    // control.max_ring_bytes_per_uid): RLIMIT_NOFILE / RLIMIT_MEMLOCK-style bounds on what one
    // user may pin. 256 MiB is 128 endpoints of the default rings (1024 slots of 2 KiB) on one
    // worker; the default geometry on W workers costs W times that per endpoint.
    uint32_t max_endpoints_per_uid = 256;
    uint64_t max_ring_bytes_per_uid = 256ull << 20;
    bool ip_nonlocal_bind = false;      // net.ipv4.ip_nonlocal_bind
    uint16_t ip_local_port_lo = 32768;  // net.ipv4.ip_local_port_range
    uint16_t ip_local_port_hi = 60999;
    uint32_t rmem_default = demux::kRmemDefault;  // net.core.rmem_default: a new socket's sk_rcvbuf
    uint32_t rmem_max = demux::kRmemMax;          // net.core.rmem_max: SO_RCVBUF's ceiling
    uint32_t hash_seed = 0;  // udp_ehash_secret / fanout seed (random in the daemon)
    Policy policy;
};

class Registry {
public:
    // `routes` may be null (no local-address check beyond 0/multicast/broadcast, no
    // interface-level memberships). The bind checks ask the current route tables
    // (RouteTables::addr_type), which this thread alone publishes.
    Registry(RegistryConfig cfg, demux::EndpointPublisher& pub, ipv4::RoutePublisher* routes);
    ~Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    Result open_udp(uint64_t owner, const PeerCred& peer, const UdpOpen& o);
    Result open_raw(uint64_t owner, const PeerCred& peer, const RawOpen& o);
    Result open_tap(uint64_t owner, const PeerCred& peer, const TapOpen& o);
    // IP_ADD_MEMBERSHIP (no sources), IP_ADD_SOURCE_MEMBERSHIP (include, sources) or
    // IP_ADD_MEMBERSHIP + IP_BLOCK_SOURCE (exclude, sources).
    Result join(uint64_t owner, uint32_t id, wire::Ipv4Addr group, uint32_t ifindex,
                demux::McFilterMode mode, const std::vector<wire::Ipv4Addr>& sources);
    // IP_DROP_MEMBERSHIP (no sources) or IP_DROP_SOURCE_MEMBERSHIP / IP_UNBLOCK_SOURCE.
    Result leave(uint64_t owner, uint32_t id, wire::Ipv4Addr group, uint32_t ifindex,
                 const std::vector<wire::Ipv4Addr>& sources);
    // kMulticastAll (u8), kIcmpFilter (u32, raw), kIfindex (u32: SO_BINDTODEVICE).
    Result set_option(uint64_t owner, uint32_t id, Attr option, uint32_t value);
    Result close(uint64_t owner, uint32_t id);
    // The owner's connection closed: every endpoint it had is removed (one publication).
    std::size_t close_owner(uint64_t owner);

    // Bindings (demux/sk_lookup.h). add_binding: a binding with the same prefix and port
    // range is replaced (as tubular's bind). Needs Privilege::kBindings; a label's prefix
    // must be this host's (check_binding_prefix).
    Result add_binding(const PeerCred& peer, const demux::Binding& b);
    Result remove_binding(const PeerCred& peer, const demux::Binding& b);
    // A (re)load of the file's `bindings:`: they replace the previous file's, those added
    // over the control socket stay. Nothing changes when one is refused (`*bad`: its index).
    // `tables`: the route tables to check the prefixes against (null: the current ones);
    // `check` false: installed unchecked (the caller checked, and chose to go on).
    Result set_config_bindings(const std::vector<demux::Binding>& bs,
                               const ipv4::RouteTables* tables, std::size_t* bad,
                               bool check = true);
    // The prefix check alone (a reload checks before it applies anything).
    Result check_bindings(const std::vector<demux::Binding>& bs, const ipv4::RouteTables* tables,
                          std::size_t* bad) const;
    // The owner's UDP endpoint `id` under `label` (Privilege::kRegister); unregister removes
    // it (closing the endpoint removes it from every label).
    Result register_label(uint64_t owner, const PeerCred& peer, uint32_t id,
                          const std::string& label);
    Result unregister_label(uint64_t owner, uint32_t id, const std::string& label);
    std::vector<BindingView> bindings() const;
    // Every label with a registered endpoint and the endpoints, in registration order.
    std::vector<std::pair<std::string, std::vector<uint32_t>>> labels() const;

    // The endpoint's rings (fds to pass), if `owner` owns it.
    const demux::ShmRings* rings(uint64_t owner, uint32_t id) const noexcept;
    std::size_t size() const noexcept { return eps_.size(); }
    std::size_t count(uint64_t owner) const noexcept;
    bool exists(uint32_t id) const noexcept { return eps_.count(id) != 0; }
    std::vector<uint32_t> ids() const {
        std::vector<uint32_t> v;
        for (const auto& [id, e] : eps_) v.push_back(id);
        return v;
    }
    // Whether every ring of every endpoint is empty (its app consumed all delivered).
    bool all_drained() const noexcept;
    // Per-endpoint counters (ring headers summed over workers), for stats.
    std::string describe() const;
    // What the apps' reads counted on one worker's rings (ShmRings::read_counts: udp_recvmsg's
    // read-time checksum) over every endpoint, the closed ones included (the kernel's MIB
    // never goes back).
    demux::ShmRings::ReadCounts read_counts(uint16_t worker) const noexcept;
    // Endpoints with id >= first_id, in id order.
    std::vector<EndpointView> endpoints(uint32_t first_id = 0) const;
    const RegistryConfig& config() const noexcept { return cfg_; }
    const QuotaStats& quota_stats() const noexcept { return quota_stats_; }
    // A reload: the privilege policy and ip_nonlocal_bind apply from the next request, as a
    // sysctl or a grant applies to the next bind() or socket(); open endpoints stay (the
    // kernel never closes a socket whose privilege was revoked).
    void set_policy(const Policy& policy, bool ip_nonlocal_bind) {
        cfg_.policy = policy;
        cfg_.ip_nonlocal_bind = ip_nonlocal_bind;
    }
    // A reload: the per-uid quotas apply to the next open; endpoints over a lowered quota
    // stay open.
    void set_quotas(uint32_t max_endpoints_per_uid, uint64_t max_ring_bytes_per_uid) {
        cfg_.max_endpoints_per_uid = max_endpoints_per_uid;
        cfg_.max_ring_bytes_per_uid = max_ring_bytes_per_uid;
    }
    // net.core.rmem_default / rmem_max changed (the daemon re-reads them every second). As
    // the kernel reads them: rmem_default when a socket is made (sock_init_data()), rmem_max
    // when SO_RCVBUF is set (__sock_set_rcvbuf()); an open endpoint keeps the sk_rcvbuf it
    // has.
    void set_rmem(uint32_t rmem_default, uint32_t rmem_max) {
        cfg_.rmem_default = rmem_default;
        cfg_.rmem_max = rmem_max;
    }
    // setsockopt(SO_RCVBUFFORCE) on a UDP endpoint: SO_RCVBUF without the rmem_max clamp
    // (still at most INT_MAX / 2 before doubling), for a caller holding CAP_NET_ADMIN (a
    // proof with the request, ctl/cap_proof.h); EPERM otherwise, as sk_setsockopt() refuses;
    // ENOPROTOOPT on raw and tap endpoints (no byte budget for them yet).
    Result set_rcvbuf_force(uint64_t owner, const PeerCred& peer, uint32_t id, uint32_t value);

private:
    struct Entry;
    Result check_owner(uint64_t owner, uint32_t id, Entry** out);
    // The owner's and the uid's limits, and the rings' geometry.
    Result admit(uint64_t owner, uid_t uid, uint32_t ring_slots, shm::RingGeometry* g);
    // The admitted, checked endpoint `e` (kind and options set) joins the tables.
    Result insert(std::unique_ptr<Entry> e, uint64_t owner, const PeerCred& peer,
                  const shm::RingGeometry& g);
    // EADDRNOTAVAIL, naming the cause, when inet_bind() would refuse `a`.
    Result check_bind_addr(wire::Ipv4Addr a) const;
    // EADDRNOTAVAIL unless every address of the prefix is LOCAL in `t`'s local table (an
    // interface address, a `local` route, an AnyIP prefix), as check_bind_addr() asks of
    // one address; ip_nonlocal_bind lets any prefix through, as it does bind().
    Result check_binding_prefix(const demux::Binding& b, const ipv4::RouteTables* t) const;
    // SO_BINDTODEVICE / a packet socket's bind(): 0 or an interface the host has.
    bool device_ok(uint32_t ifindex) const;
    wire::Ipv4Addr connect_source(wire::Ipv4Addr peer) const;
    // connect() on raw endpoint `e` (0: connect(AF_UNSPEC)), as ip4_datagram_connect().
    void raw_connect(Entry& e, wire::Ipv4Addr peer) const;
    bool udp_port_in_use(const UdpOpen& o, uid_t uid) const;
    void rebuild(Entry& e);
    // The sk_rcvbuf a UDP endpoint's open request gives under the sysctls now (rmem_default,
    // or SO_RCVBUF's rules); kept in the entry from then on.
    uint32_t rcvbuf_of(const UdpOpen& o) const noexcept;
    // (No default arguments: a defaulted vector<unique_ptr<Entry>> would need Entry complete
    // wherever this header is included.)
    void publish();
    void publish(std::vector<std::unique_ptr<Entry>> dead);
    void publish(std::vector<std::unique_ptr<Entry>> dead,
                 std::vector<std::shared_ptr<void>> old_objects);
    uint32_t mc_ifindex(uint32_t ifindex) const;
    void mc_apply(ipv4::McGroups& mc, const Entry& e, bool add) const;
    // Replaces the interface-level contribution `before` with e's memberships.
    void mc_update(const std::vector<demux::McMembership>& before, const Entry& e);

    RegistryConfig cfg_;
    demux::EndpointPublisher& pub_;
    ipv4::RoutePublisher* routes_;
    std::map<uint32_t, std::unique_ptr<Entry>> eps_;  // by id: a stable add order
    uint32_t next_id_ = 1;
    struct BindingSlot {
        demux::Binding b;
        bool from_config;
        uid_t uid;
    };
    std::vector<BindingSlot> bindings_;                     // in add order
    std::vector<std::pair<std::string, uint32_t>> labels_;  // (label, id) in registration order
    QuotaStats quota_stats_;
    // read_counts() of the endpoints closed so far, per worker.
    std::vector<demux::ShmRings::ReadCounts> closed_reads_;
    void retire_reads(const demux::ShmRings& rings);
};

}  // namespace ingress::ctl
