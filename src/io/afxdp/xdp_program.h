// The ingress XDP program on one interface: loaded and attached through libxdp (so it can
// sit beside other XDP programs behind libxdp's dispatcher where the kernel allows it, and
// falls back to a single attached program where it does not), and its maps, whose layout is
// xdp/ingress_xdp.h. Its device-bound variant (hardware receive stamps, hw_timestamps.md) is
// loaded and attached alone by libbpf: neither libxdp's dispatcher nor its attach can take it.
#pragma once

#include <cstdint>
#include <string>

#include "io/iface_lock.h"
#include "io/steering.h"
#include "wire/ipv4.h"

struct bpf_object;
struct xdp_program;

namespace ingress::io::afxdp {

enum class XdpMode : uint8_t { kNative, kSkb };

struct XdpStats {
    uint64_t seen = 0, pass = 0, redirect = 0, no_xsk = 0;
    uint64_t kernel_proto = 0;  // for one of our destinations, but a protocol the kernel keeps
    uint64_t tap_copied = 0;    // passed frames copied into the tap ring buffer (for taps)
    uint64_t tap_lost = 0;      // passed frames whose copy was lost: the tap ring buffer full
};

// libbpf and libxdp print their own diagnostics (e.g. "falling back to loading single prog
// without dispatcher"). Quiet: only their warnings about real failures reach stderr, and
// every failure reaches the caller as an exception anyway; verbose: everything.
void set_library_logging(bool verbose);

// Where ingress.bpf.o is, for a program started from the build tree (BUILD/xdp/) or from an
// install (PREFIX/lib/ingress/, or where `meson install` puts it: LIBDIR/ingress/, e.g.
// /usr/lib/x86_64-linux-gnu/ingress/ in the Debian package); "ingress.bpf.o" if none exists.
std::string default_object_path();
// The device-bound variant's object beside `object_path` (ingress_hwts.bpf.o in its directory).
std::string dev_bound_object_path(const std::string& object_path);

class XdpProgram final : public Steering {
public:
    // Takes the interface's ownership lock (io/iface_lock.h), opens `object_path`
    // (build/xdp/ingress.bpf.o or the installed copy) and attaches it to `ifname`. Throws
    // std::runtime_error saying what failed and on which interface; when another live
    // instance owns the interface, before touching anything. With `hw_timestamps`, the
    // device-bound variant beside it (ingress_hwts.bpf.o: the same program, plus the NIC's
    // receive stamp as XDP metadata) is tried first; where the kernel or the driver refuses
    // it (no rx_timestamp kfunc, skb mode, an old kernel), one line says so and the plain
    // program is attached (hw_timestamps() false).
    XdpProgram(const std::string& object_path, const std::string& ifname, XdpMode mode,
               bool hw_timestamps = false);
    ~XdpProgram() override;  // detaches
    XdpProgram(const XdpProgram&) = delete;
    XdpProgram& operator=(const XdpProgram&) = delete;

    int xsks_map_fd() const noexcept { return xsks_fd_; }
    uint32_t ifindex() const noexcept { return ifindex_; }
    const std::string& ifname() const noexcept { return ifname_; }

    // Which IPv4 destinations go to the dataplane (value: INGRESS_XDP_DST_*).
    void add_dst(wire::Ipv4Addr addr, uint32_t kind);
    // Steering: a /32 in ingress_dst, a wider prefix in ingress_prefix (false when that map
    // is full); the kind from the route type (kBroadcast, kMulticast, else LOCAL).
    bool add_dst(wire::Ipv4Addr addr, uint8_t prefix_len, ipv4::RouteType type) override;
    void remove_dst(wire::Ipv4Addr addr, uint8_t prefix_len) override;
    void set_capture_all(bool on) override;
    // Whether the program copies the frames it leaves to the kernel into its tap ring buffer
    // (ingress_tap_ring, read by TapRing): on while a packet tap is open, so it costs
    // nothing without one.
    void set_tap_copy(bool on);
    int tap_ring_fd() const noexcept { return tap_ring_fd_; }
    // Whether datagrams of IP protocol `protocol` for those destinations go to the dataplane
    // (the program starts with UDP only: TCP, ICMP, IGMP and the rest stay with the kernel).
    void set_protocol(uint8_t protocol, bool take) override;
    XdpStats stats() const;
    // The counters of a previous instance's program that this one removed at start (zero
    // if there was none): its no_xsk counts what it passed to the kernel while no ingressd
    // had a socket on the queue, i.e. the restart's gap.
    const XdpStats& leftover_stats() const noexcept { return leftover_; }
    // Attached alone (libxdp's dispatcher refused): the detach at exit is one netlink
    // request (CAP_NET_ADMIN); behind a dispatcher libxdp also looks it up by id
    // (BPF_PROG_GET_FD_BY_ID: CAP_SYS_ADMIN). ingressd's privilege drop keeps what it needs.
    bool attached_alone() const noexcept { return alone_; }
    // The device-bound variant is attached: every frame it redirects carries its metadata
    // (struct ingress_xdp_meta, read by the backend: rx_meta.h).
    bool hw_timestamps() const noexcept { return hw_; }

private:
    void remove_leftover();
    void remove_leftover_by_id();  // remove_leftover() without CAP_SYS_ADMIN
    XdpStats leftover_{};
    void report_attach_kind();  // one line when libxdp attached without its dispatcher
    bool attach_dev_bound(const std::string& object_path);
    void attach_plain(const std::string& object_path);
    bool alone_ = false;
    bool hw_ = false;
    std::string ifname_;
    uint32_t ifindex_ = 0;
    InterfaceLock lock_;  // held for the program's life: one owner per interface
    XdpMode mode_;
    // The plain program: libxdp's handle. The device-bound variant: libbpf's object (its
    // maps), attached alone without libxdp (attach_dev_bound()).
    xdp_program* prog_ = nullptr;
    bpf_object* obj_ = nullptr;
    int prog_fd_ = -1;  // the attached program's fd and id, either way
    uint32_t prog_id_ = 0;
    void detach() noexcept;
    void write_config();
    bool capture_all_ = false, tap_copy_ = false;
    int xsks_fd_ = -1, dst_fd_ = -1, config_fd_ = -1, stats_fd_ = -1, proto_fd_ = -1,
        prefix_fd_ = -1, tap_ring_fd_ = -1;
};

}  // namespace ingress::io::afxdp
