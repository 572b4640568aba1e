#include "io/afxdp/xdp_program.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <linux/limits.h>
#include <net/if.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "ingress_xdp.h"

// Debian 12's uapi headers (Linux 6.1) predate device-bound XDP programs (Linux 6.3).
#ifndef BPF_F_XDP_DEV_BOUND_ONLY
#define BPF_F_XDP_DEV_BOUND_ONLY (1U << 6)
#endif

namespace ingress::io::afxdp {
namespace {

std::string errstr(int err) {
    char buf[256];
    libxdp_strerror(err, buf, sizeof buf);
    return buf;
}

xdp_attach_mode to_libxdp(XdpMode m) {
    return m == XdpMode::kNative ? XDP_MODE_NATIVE : XDP_MODE_SKB;
}

bool g_verbose = false;
bool g_trying = false;  // attach_dev_bound() at work: a refusal is expected, said in one line

// Known, expected messages that say nothing is wrong: libbpf's note about libxdp's metadata
// section; libxdp's fallback when there is no bpffs or the dispatcher is refused (and
// libbpf's lines about the refused xdp_dispatcher load, "Operation not permitted" among
// them: XdpProgram says it in one line); libbpf's "try raising 'ulimit -l'" hint, which
// ingressd replaces with its own line on the kernels where the limit applies. Matched on the
// formatted message, since the program's name is an argument.
bool benign(const char* msg) {
    // Without CAP_SYS_ADMIN (the packaged unit) libxdp cannot open the hook's program by id,
    // nor libbpf its BTF: ingressd then reads the hook over netlink (remove_leftover_by_id,
    // report_attach_kind), so the refusals say nothing wrong.
    static const char* const kBenign[] = {"unrecognized data section",
                                          "bpffs",
                                          "dispatcher",
                                          "single prog",
                                          "ulimit -l",
                                          "couldn't get program fd: Operation not permitted",
                                          "Failed to get BTF"};
    for (const char* b : kBenign)
        if (std::strstr(msg, b)) return true;
    return false;
}

int print_filtered(bool warn, const char* fmt, va_list ap) {
    if (!g_verbose && (!warn || g_trying)) return 0;
    char msg[1024];
    std::vsnprintf(msg, sizeof msg, fmt, ap);
    if (!g_verbose && benign(msg)) return 0;
    return std::fputs(msg, stderr);
}

int print_libbpf(libbpf_print_level level, const char* fmt, va_list ap) {
    return print_filtered(level == LIBBPF_WARN, fmt, ap);
}

int print_libxdp(libxdp_print_level level, const char* fmt, va_list ap) {
    return print_filtered(level == LIBXDP_WARN, fmt, ap);
}

}  // namespace

void set_library_logging(bool verbose) {
    g_verbose = verbose;
    libbpf_set_print(print_libbpf);
    libxdp_set_print(print_libxdp);
}

std::string default_object_path() {
    char self[PATH_MAX] = {};
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    std::filesystem::path exe = n > 0 ? std::string(self, static_cast<std::size_t>(n)) : "";
    const std::filesystem::path top = exe.parent_path().parent_path();
    for (const auto& p : {top / "xdp" / "ingress.bpf.o", top / "lib" / "ingress" / "ingress.bpf.o",
                          std::filesystem::path(INGRESS_XDP_OBJECT_INSTALLED)})
        if (std::filesystem::exists(p)) return p;
    return "ingress.bpf.o";
}

std::string dev_bound_object_path(const std::string& object_path) {
    return (std::filesystem::path(object_path).parent_path() / "ingress_hwts.bpf.o").string();
}

XdpProgram::XdpProgram(const std::string& object_path, const std::string& ifname, XdpMode mode,
                       bool hw_timestamps)
    : ifname_(ifname), mode_(mode) {
    ifindex_ = if_nametoindex(ifname.c_str());
    if (ifindex_ == 0) throw std::runtime_error(ifname + ": no such interface");
    lock_ = InterfaceLock::acquire(ifname, ifindex_);
    remove_leftover();
    hw_ = hw_timestamps && attach_dev_bound(object_path);
    if (!hw_) attach_plain(object_path);
    report_attach_kind();
    // For the next owner, should this one die without detaching (remove_leftover()).
    lock_.record_prog_id(prog_id_);
    bpf_object* obj = obj_ ? obj_ : xdp_program__bpf_obj(prog_);
    xsks_fd_ = bpf_object__find_map_fd_by_name(obj, INGRESS_XDP_XSKS_MAP);
    dst_fd_ = bpf_object__find_map_fd_by_name(obj, INGRESS_XDP_DST_MAP);
    config_fd_ = bpf_object__find_map_fd_by_name(obj, INGRESS_XDP_CONFIG_MAP);
    stats_fd_ = bpf_object__find_map_fd_by_name(obj, INGRESS_XDP_STATS_MAP);
    proto_fd_ = bpf_object__find_map_fd_by_name(obj, INGRESS_XDP_PROTO_MAP);
    prefix_fd_ = bpf_object__find_map_fd_by_name(obj, INGRESS_XDP_PREFIX_MAP);
    tap_ring_fd_ = bpf_object__find_map_fd_by_name(obj, INGRESS_XDP_TAP_RING);
    if (xsks_fd_ < 0 || dst_fd_ < 0 || config_fd_ < 0 || stats_fd_ < 0 || proto_fd_ < 0 ||
        prefix_fd_ < 0 || tap_ring_fd_ < 0) {
        detach();
        throw std::runtime_error(object_path + ": XDP object lacks the maps of ingress_xdp.h");
    }
    set_protocol(wire::kIpProtoUdp, true);
}

void XdpProgram::attach_plain(const std::string& object_path) {
    prog_ = xdp_program__open_file(object_path.c_str(), "xdp", nullptr);
    if (int err = libxdp_get_error(prog_); err) {
        prog_ = nullptr;
        throw std::runtime_error(object_path + ": cannot open XDP object: " + errstr(err));
    }
    if (int err = xdp_program__attach(prog_, static_cast<int>(ifindex_), to_libxdp(mode_), 0)) {
        xdp_program__close(prog_);
        prog_ = nullptr;
        throw std::runtime_error(ifname_ + ": cannot attach the XDP program (" +
                                 (mode_ == XdpMode::kNative ? "native" : "skb") +
                                 " mode): " + errstr(err));
    }
    prog_fd_ = xdp_program__fd(prog_);
    prog_id_ = xdp_program__id(prog_);
}

bool XdpProgram::attach_dev_bound(const std::string& object_path) {
    // The XDP RX metadata kfuncs (Documentation/networking/xdp-rx-metadata.rst) resolve to
    // the driver's implementation when the program is loaded bound to the device
    // (prog_ifindex with BPF_F_XDP_DEV_BOUND_ONLY, Linux 6.3). The kernel refuses the load
    // when the kernel has no such flag or kfunc, and the attach in generic (skb) mode
    // (dev_xdp_attach: "Can't attach device-bound programs in generic mode").
    //
    // libbpf loads it and attaches it alone (bpf_xdp_attach, as libxdp's single-program path
    // does), never behind libxdp's dispatcher: a dispatcher's slot is an freplace extension,
    // which inherits the dispatcher's device binding, and libxdp 1.3's dispatcher has none
    // (xdp-tools#495); nor through xdp_program__attach, which libxdp 1.3 cannot do for a
    // program it did not load (a null bpf_program in attach_multi: SIGSEGV without
    // CAP_SYS_ADMIN). XDP_FLAGS_UPDATE_IF_NOEXIST: where another program already holds the
    // hook (a dispatcher with others' programs), the plain program joins it instead.
    // libbpf's log of a refusal is held back (g_trying), the reason said in the one line
    // below.
    std::string why;
    if (mode_ == XdpMode::kSkb) {
        why = "xdp_mode skb: the kernel binds XDP programs to a device in native mode only";
    } else {
        const std::string path = dev_bound_object_path(object_path);
        g_trying = true;
        bpf_object* obj = bpf_object__open_file(path.c_str(), nullptr);
        int err = static_cast<int>(libbpf_get_error(obj));
        if (err) obj = nullptr;
        bpf_program* bp =
            obj ? bpf_object__find_program_by_name(obj, INGRESS_XDP_PROG_NAME) : nullptr;
        if (obj && !bp) err = -ENOENT;
        if (bp) {
            bpf_program__set_ifindex(bp, ifindex_);
            err = bpf_program__set_flags(bp, bpf_program__flags(bp) | BPF_F_XDP_DEV_BOUND_ONLY);
        }
        const bool opened = !err;
        if (!err) err = bpf_object__load(obj);
        const char* step = "load";
        if (!err) {
            step = "attach";
            err = bpf_xdp_attach(static_cast<int>(ifindex_), bpf_program__fd(bp),
                                 XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, nullptr);
        }
        g_trying = false;
        if (!err) {
            obj_ = obj;
            prog_fd_ = bpf_program__fd(bp);
            bpf_prog_info info{};
            uint32_t len = sizeof info;
            if (bpf_obj_get_info_by_fd(prog_fd_, &info, &len) == 0) prog_id_ = info.id;
            return true;
        }
        if (obj) bpf_object__close(obj);
        why = opened ? std::string(
                           "the kernel or the driver refused the device-bound XDP "
                           "program's ") +
                           step + " (" + errstr(err) + ")"
                     : "cannot open " + path + " (" + errstr(err) + ")";
    }
    std::fprintf(stderr, "%s: no hardware receive timestamps: %s; the plain XDP program instead\n",
                 ifname_.c_str(), why.c_str());
    return false;
}

void XdpProgram::report_attach_kind() {
    // libxdp falls back to attaching the program alone when the kernel refuses its
    // dispatcher (no freplace support, a restricted bpffs...): ingressd works the same, but
    // no other XDP program can share the interface. One plain line says so; libxdp's own
    // message about it is filtered out (benign()).
    xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(static_cast<int>(ifindex_));
    if (libxdp_get_error(mp) == -EPERM) {
        // Not allowed to open it by id: the hook holding our program's own id is alone.
        LIBBPF_OPTS(bpf_xdp_query_opts, q);
        alone_ = bpf_xdp_query(static_cast<int>(ifindex_), 0, &q) == 0 && q.prog_id == prog_id_;
        mp = nullptr;
    } else if (libxdp_get_error(mp) || !mp) {
        return;
    } else {
        alone_ = xdp_multiprog__is_legacy(mp);
    }
    if (alone_ && hw_)
        // The kernel binds no dispatcher's extension to a device (attach_dev_bound()).
        std::fprintf(stderr,
                     "%s: XDP program attached alone (device-bound, for the NIC's receive "
                     "stamps): no other XDP program can share this interface (hw_timestamps: "
                     "off lets libxdp's dispatcher share it where the kernel allows)\n",
                     ifname_.c_str());
    else if (alone_)
        std::fprintf(stderr,
                     "%s: XDP program attached alone (libxdp's dispatcher was refused): "
                     "no other XDP program can share this interface\n",
                     ifname_.c_str());
    if (mp) xdp_multiprog__close(mp);
}

namespace {

// The program's statistics map (per-CPU counters, summed), from its map fd.
XdpStats sum_stats(int stats_fd) {
    int ncpu = libbpf_num_possible_cpus();
    std::vector<uint64_t> v(static_cast<std::size_t>(ncpu > 0 ? ncpu : 1));
    uint64_t sums[INGRESS_XDP_STAT_MAX] = {};
    for (uint32_t k = 0; k < INGRESS_XDP_STAT_MAX; ++k) {
        if (bpf_map_lookup_elem(stats_fd, &k, v.data()) != 0) continue;
        for (uint64_t x : v) sums[k] += x;
    }
    return {sums[INGRESS_XDP_STAT_SEEN],         sums[INGRESS_XDP_STAT_PASS],
            sums[INGRESS_XDP_STAT_REDIRECT],     sums[INGRESS_XDP_STAT_NO_XSK],
            sums[INGRESS_XDP_STAT_KERNEL_PROTO], sums[INGRESS_XDP_STAT_TAP_COPIED],
            sums[INGRESS_XDP_STAT_TAP_LOST]};
}

// The statistics of a loaded program found on the interface (not ours to open by object):
// its maps by id, the one named INGRESS_XDP_STATS_MAP summed. Zero when it has none.
XdpStats loaded_program_stats(int prog_fd) {
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (prog_fd < 0 || bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return {};
    std::vector<uint32_t> ids(info.nr_map_ids);
    info = bpf_prog_info{};
    info.nr_map_ids = static_cast<uint32_t>(ids.size());
    info.map_ids = reinterpret_cast<uintptr_t>(ids.data());
    len = sizeof info;
    if (ids.empty() || bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return {};
    for (uint32_t id : ids) {
        const int fd = bpf_map_get_fd_by_id(id);
        if (fd < 0) continue;
        bpf_map_info mi{};
        uint32_t ml = sizeof mi;
        const bool stats = bpf_obj_get_info_by_fd(fd, &mi, &ml) == 0 &&
                           std::strncmp(mi.name, INGRESS_XDP_STATS_MAP, sizeof mi.name) == 0;
        XdpStats s = stats ? sum_stats(fd) : XdpStats{};
        ::close(fd);
        if (stats) return s;
    }
    return {};
}

}  // namespace

void XdpProgram::remove_leftover() {
    // A previous instance that died without detaching (SIGKILL, a crash) leaves its program
    // on the interface. We hold the interface's lock, so its owner is gone: ours (by name) is
    // removed with a message; anyone else's is left alone, and libxdp either loads beside it
    // (dispatcher) or the attach fails, saying so.
    xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(static_cast<int>(ifindex_));
    if (libxdp_get_error(mp) == -EPERM) return remove_leftover_by_id();
    if (libxdp_get_error(mp) || !mp) return;
    xdp_program* ours = nullptr;
    auto is_ours = [](xdp_program* p) {
        return p && std::strcmp(xdp_program__name(p), INGRESS_XDP_PROG_NAME) == 0;
    };
    if (xdp_multiprog__is_legacy(mp)) {
        if (is_ours(xdp_multiprog__main_prog(mp))) ours = xdp_multiprog__main_prog(mp);
    } else {
        for (xdp_program* p = xdp_multiprog__next_prog(nullptr, mp); p;
             p = xdp_multiprog__next_prog(p, mp))
            if (is_ours(p)) ours = p;
    }
    if (ours) {
        // What it passed to the kernel for want of a socket is the restart's gap: read it
        // before the program goes.
        leftover_ = loaded_program_stats(xdp_program__fd(ours));
        int err = xdp_multiprog__detach(mp);
        std::fprintf(stderr,
                     "%s: %s a leftover %s program of a previous instance (while no ingressd "
                     "ran, it passed %" PRIu64 " frames meant for the dataplane to the kernel)\n",
                     ifname_.c_str(), err ? "could not remove" : "removed", INGRESS_XDP_PROG_NAME,
                     leftover_.no_xsk);
    }
    xdp_multiprog__close(mp);
}

void XdpProgram::remove_leftover_by_id() {
    // libxdp could not open what is attached (BPF_PROG_GET_FD_BY_ID: CAP_SYS_ADMIN, which
    // the unit does not grant), so neither its name nor its counters can be read. The hook's
    // program id (netlink, no capability) is compared with the one the dead owner recorded
    // in the lock file: ids are not reused while a program lives, so an equal id is that
    // owner's program, attached alone (behind a dispatcher the hook holds the dispatcher's
    // id, and nothing is removed). Off over netlink: CAP_NET_ADMIN.
    const uint32_t recorded = lock_.previous_prog_id();
    LIBBPF_OPTS(bpf_xdp_query_opts, q);
    if (!recorded || bpf_xdp_query(static_cast<int>(ifindex_), 0, &q) != 0 || q.prog_id != recorded)
        return;
    const uint32_t flags = q.attach_mode == XDP_ATTACHED_SKB   ? XDP_FLAGS_SKB_MODE
                           : q.attach_mode == XDP_ATTACHED_DRV ? XDP_FLAGS_DRV_MODE
                                                               : 0;
    const int err = bpf_xdp_detach(static_cast<int>(ifindex_), flags, nullptr);
    std::fprintf(stderr,
                 "%s: %s a leftover %s program of a previous instance (id %u; what it passed to "
                 "the kernel meanwhile is not readable without CAP_SYS_ADMIN)%s%s\n",
                 ifname_.c_str(), err ? "could not remove" : "removed", INGRESS_XDP_PROG_NAME,
                 recorded, err ? ": " : "", err ? std::strerror(-err) : "");
}

XdpProgram::~XdpProgram() {
    detach();
}

void XdpProgram::detach() noexcept {
    if (prog_fd_ < 0) return;
    // Attached alone: off over netlink, naming our own program (XDP_FLAGS_REPLACE), which
    // needs only CAP_NET_ADMIN; libxdp's detach would look it up by id first (CAP_SYS_ADMIN,
    // which ingressd may not have: privileges: user, the unit's bounding set). Behind a
    // dispatcher the request fails (another program is attached) and libxdp detaches.
    LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = prog_fd_);
    const uint32_t flags = mode_ == XdpMode::kSkb ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
    if (bpf_xdp_detach(static_cast<int>(ifindex_), flags, &opts) != 0 && prog_)
        xdp_program__detach(prog_, static_cast<int>(ifindex_), to_libxdp(mode_), 0);
    if (prog_) xdp_program__close(prog_);
    if (obj_) bpf_object__close(obj_);
    prog_ = nullptr;
    obj_ = nullptr;
    prog_fd_ = -1;
}

void XdpProgram::add_dst(wire::Ipv4Addr addr, uint32_t kind) {
    uint32_t key = htonl(addr);
    if (bpf_map_update_elem(dst_fd_, &key, &kind, BPF_ANY) != 0)
        throw std::runtime_error(ifname_ + ": cannot add " + wire::ipv4_str(addr) +
                                 " to the XDP destination map: " + std::strerror(errno));
}

bool XdpProgram::add_dst(wire::Ipv4Addr addr, uint8_t prefix_len, ipv4::RouteType type) {
    uint32_t kind = type == ipv4::RouteType::kBroadcast   ? INGRESS_XDP_DST_BROADCAST
                    : type == ipv4::RouteType::kMulticast ? INGRESS_XDP_DST_GROUP
                                                          : INGRESS_XDP_DST_LOCAL;
    if (prefix_len >= 32) {
        add_dst(addr, kind);
        return true;
    }
    ingress_xdp_prefix_key key{prefix_len, htonl(addr)};
    if (bpf_map_update_elem(prefix_fd_, &key, &kind, BPF_ANY) == 0) return true;
    if (errno == ENOSPC || errno == E2BIG) return false;
    throw std::runtime_error(ifname_ + ": cannot add " + wire::ipv4_str(addr) + "/" +
                             std::to_string(prefix_len) +
                             " to the XDP prefix map: " + std::strerror(errno));
}

void XdpProgram::remove_dst(wire::Ipv4Addr addr, uint8_t prefix_len) {
    if (prefix_len >= 32) {
        uint32_t key = htonl(addr);
        bpf_map_delete_elem(dst_fd_, &key);
        return;
    }
    ingress_xdp_prefix_key key{prefix_len, htonl(addr)};
    bpf_map_delete_elem(prefix_fd_, &key);
}

void XdpProgram::write_config() {
    uint32_t key = 0;
    ingress_xdp_config cfg{capture_all_ ? 1u : 0u, tap_copy_ ? 1u : 0u};
    if (bpf_map_update_elem(config_fd_, &key, &cfg, BPF_ANY) != 0)
        throw std::runtime_error(
            ifname_ + ": cannot set the XDP program's configuration: " + std::strerror(errno));
}

void XdpProgram::set_capture_all(bool on) {
    capture_all_ = on;
    write_config();
}

void XdpProgram::set_tap_copy(bool on) {
    if (on == tap_copy_) return;
    tap_copy_ = on;
    write_config();
}

void XdpProgram::set_protocol(uint8_t protocol, bool take) {
    uint32_t key = protocol, value = take ? 1 : 0;
    if (bpf_map_update_elem(proto_fd_, &key, &value, BPF_ANY) != 0)
        throw std::runtime_error(ifname_ + ": cannot set protocol " + std::to_string(protocol) +
                                 " in the XDP protocol map: " + std::strerror(errno));
}

XdpStats XdpProgram::stats() const {
    return sum_stats(stats_fd_);
}

}  // namespace ingress::io::afxdp
