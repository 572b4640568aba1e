#include "daemon/sandbox.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace ingress::daemon {

namespace {

[[noreturn]] void fail(const std::string& what, int err) {
    throw std::runtime_error("privileges: " + what + ": " + std::strerror(err));
}

gid_t group_id(const std::string& name, const char* key) {
    if (group* g = getgrnam(name.c_str())) return g->gr_gid;
    throw std::runtime_error(std::string(key) + ": no group '" + name + "'");
}

const char* cap_name(int cap) {
    switch (cap) {
        case CAP_NET_ADMIN:
            return "cap_net_admin";
        case CAP_SYS_ADMIN:
            return "cap_sys_admin";
        case CAP_NET_RAW:
            return "cap_net_raw";
    }
    return "cap_?";
}

int last_cap() {
    std::ifstream in("/proc/sys/kernel/cap_last_cap");
    int n = CAP_LAST_CAP;
    in >> n;
    return n;
}

}  // namespace

Identity resolve_identity(const config::Config& cfg) {
    Identity id;
    id.user = cfg.privileges_user;
    passwd* pw = getpwnam(cfg.privileges_user.c_str());
    if (!pw) throw std::runtime_error("privileges.user: no user '" + cfg.privileges_user + "'");
    id.uid = pw->pw_uid;
    id.gid = pw->pw_gid;
    if (!cfg.privileges_group.empty()) id.gid = group_id(cfg.privileges_group, "privileges.group");
    if (group* g = getgrgid(id.gid)) id.group = g->gr_name;
    id.groups.push_back(id.gid);
    // The daemon stays a member of control.group, so a reload may chown the socket to it.
    if (!cfg.control_group.empty())
        if (gid_t cg = group_id(cfg.control_group, "control.group"); cg != id.gid)
            id.groups.push_back(cg);
    return id;
}

KeptCaps caps_after_setup(const config::Config& cfg, bool xdp_dispatcher) {
    KeptCaps k;
    bool afxdp = false, dpdk = false;
    for (const auto& ic : cfg.interfaces)
        (ic.driver == config::Driver::kDpdk ? dpdk : afxdp) = true;
    auto keep = [&](int cap, const char* why) {
        if (k.mask & (1ull << cap)) return;
        k.mask |= 1ull << cap;
        k.why.push_back(std::string(cap_name(cap)) + " (" + why + ")");
    };
    // Measured (docs/security.md): steering map updates through the open map fds, the
    // netlink mirror's dumps and notifications, the rings' memfds, AF_XDP wakeups and the
    // kernel multicast joins need none.
    // The XDP program's detach at exit is a netlink request (CAP_NET_ADMIN); behind libxdp's
    // dispatcher libxdp first looks the dispatcher up by id (BPF_PROG_GET_FD_BY_ID:
    // CAP_SYS_ADMIN). Without them the program stays attached after ingressd exits.
    if (afxdp) keep(CAP_NET_ADMIN, "XDP detach at exit");
    if (xdp_dispatcher) keep(CAP_SYS_ADMIN, "libxdp's dispatcher lookup by id at exit");
    // A reload mirrors added addresses onto the exception TAP (RTM_NEWADDR).
    if (dpdk) keep(CAP_NET_ADMIN, "addresses onto the DPDK exception TAP on reload");
    return k;
}

void drop_privileges(const Identity& id, KeptCaps keep) {
    // Only what the process holds can be kept (the unit's bounding set may lack one).
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (syscall(SYS_capget, &hdr, data) != 0) fail("capget", errno);
    const uint64_t held = data[0].permitted | (uint64_t{data[1].permitted} << 32);
    std::vector<std::string> why;
    for (const auto& w : keep.why)
        for (int cap = 0; cap < 64; ++cap)
            if ((keep.mask & (1ull << cap)) && w.starts_with(cap_name(cap)) &&
                (held & (1ull << cap)))
                why.push_back(w);
    keep.mask &= held;
    keep.why = std::move(why);
    // The bounding set first (it needs CAP_SETPCAP, which goes with the uid).
    for (int cap = 0; cap <= last_cap(); ++cap)
        if (!(keep.mask & (1ull << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 &&
            errno != EINVAL)
            fail("PR_CAPBSET_DROP", errno);
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail("PR_SET_KEEPCAPS", errno);
    if (setgroups(id.groups.size(), id.groups.data()) != 0) fail("setgroups", errno);
    if (setresgid(id.gid, id.gid, id.gid) != 0) fail("setresgid", errno);
    if (setresuid(id.uid, id.uid, id.uid) != 0) fail("setresuid", errno);
    hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    for (int i = 0; i < 2; ++i)
        data[i].permitted = data[i].effective = static_cast<uint32_t>(keep.mask >> (32 * i));
    if (syscall(SYS_capset, &hdr, data) != 0) fail("capset", errno);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) fail("PR_SET_KEEPCAPS", errno);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        fail("PR_CAP_AMBIENT_CLEAR_ALL", errno);
    if (id.uid != 0 && setresuid(0, 0, 0) == 0) fail("root could be taken back", EPERM);
    std::string kept;
    for (const auto& w : keep.why) kept += (kept.empty() ? "" : ", ") + w;
    std::fprintf(stderr, "ingressd: privileges: running as %s:%s (uid %u, gid %u), kept %s\n",
                 id.user.c_str(), id.group.c_str(), id.uid, id.gid,
                 kept.empty() ? "no capabilities" : kept.c_str());
}

void drop_thread_capabilities() {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (syscall(SYS_capset, &hdr, data) != 0) fail("capset (thread)", errno);
}

namespace {

// The allowlists, by class (docs/security.md has the table). Measured with strace -f on a
// running daemon (AF_XDP adaptive and busy, DPDK net_af_packet with its TAP, host: kernel,
// metrics, trace, capture, reload, stats, SIGTERM; the soak with --sandbox, AF_XDP and
// memif, whose client's arrival makes DPDK's interrupt thread call epoll_create, the
// legacy call, as its per-thread epoll does); what a worker calls is also what every
// other thread calls, so the worker list is the common part.
constexpr int kWorker[] = {
    // memory (mmap and mprotect only without PROT_EXEC: added below), thread exit
    SCMP_SYS(munmap), SCMP_SYS(madvise), SCMP_SYS(brk), SCMP_SYS(exit), SCMP_SYS(exit_group),
    // sleeping between polls, futexes (liburcu, the grace periods), signal mask at exit
    SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep), SCMP_SYS(futex),
    SCMP_SYS(sched_yield), SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(restart_syscall),
    SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn), SCMP_SYS(tgkill),
    // the queue: AF_XDP wakeups (sendto, recvfrom), poll(2) for interrupt mode, the DPDK
    // exception TAP (readv, writev), DPDK rx interrupts (epoll, eventfd read), stderr
    SCMP_SYS(sendto), SCMP_SYS(recvfrom), SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(read),
    SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(epoll_create),
    SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait),
    SCMP_SYS(close)};

// The control thread and the threads it shares the filter with (the metrics HTTP thread,
// DPDK's interrupt and telemetry threads): the control socket and the apps' fds, reload
// (the file, YAML), netlink (the host mirror, TAP addresses, XDP detach at exit), BPF maps,
// the rings' memfds, sd_notify.
constexpr int kControl[] = {
    // files: the config, /proc and /sys reads, the rings' memfds, the socket's mode
    SCMP_SYS(openat), SCMP_SYS(open), SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(statx),
    SCMP_SYS(stat), SCMP_SYS(lstat), SCMP_SYS(lseek), SCMP_SYS(pread64), SCMP_SYS(pwrite64),
    SCMP_SYS(fcntl), SCMP_SYS(dup), SCMP_SYS(dup3), SCMP_SYS(pipe2), SCMP_SYS(getdents64),
    SCMP_SYS(readlink), SCMP_SYS(readlinkat), SCMP_SYS(access), SCMP_SYS(faccessat),
    SCMP_SYS(faccessat2), SCMP_SYS(unlink), SCMP_SYS(unlinkat), SCMP_SYS(rmdir), SCMP_SYS(chmod),
    SCMP_SYS(fchmod), SCMP_SYS(fchmodat), SCMP_SYS(chown), SCMP_SYS(fchown), SCMP_SYS(fchownat),
    SCMP_SYS(ftruncate), SCMP_SYS(flock), SCMP_SYS(statfs), SCMP_SYS(fstatfs), SCMP_SYS(getcwd),
    SCMP_SYS(memfd_create), SCMP_SYS(eventfd2), SCMP_SYS(timerfd_create), SCMP_SYS(timerfd_settime),
    SCMP_SYS(timerfd_gettime), SCMP_SYS(mremap), SCMP_SYS(ioctl),
    // sockets: the control socket (SCM_RIGHTS, SO_PEERCRED), HTTP, netlink, sd_notify,
    // XDP_STATISTICS
    SCMP_SYS(socket), SCMP_SYS(socketpair), SCMP_SYS(bind), SCMP_SYS(connect), SCMP_SYS(listen),
    SCMP_SYS(accept), SCMP_SYS(accept4), SCMP_SYS(sendmsg), SCMP_SYS(recvmsg), SCMP_SYS(sendmmsg),
    SCMP_SYS(recvmmsg), SCMP_SYS(getsockopt), SCMP_SYS(setsockopt), SCMP_SYS(getsockname),
    SCMP_SYS(getpeername), SCMP_SYS(shutdown),
    // BPF maps through their fds (steering, statistics, libxdp's detach at exit)
    SCMP_SYS(bpf),
    // memory policy (DPDK's mempools), membarrier (liburcu)
    SCMP_SYS(get_mempolicy), SCMP_SYS(set_mempolicy), SCMP_SYS(mbind), SCMP_SYS(membarrier),
    // threads: the workers (clone with CLONE_THREAD only: added below), affinity, the
    // workers' own filters (prctl NO_NEW_PRIVS, seccomp), a worker dropping the capabilities
    // it inherited (capset can only lower them)
    SCMP_SYS(capset), SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(sched_getaffinity),
    SCMP_SYS(sched_setaffinity), SCMP_SYS(prctl), SCMP_SYS(seccomp), SCMP_SYS(getcpu),
    // signals: SIGHUP/TERM/INT/USR1 taken synchronously
    SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigtimedwait), SCMP_SYS(sigaltstack),
    // who it is, limits, randomness (the registry's hash seed, the control server's cookies)
    SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid), SCMP_SYS(getgroups),
    SCMP_SYS(getresuid), SCMP_SYS(getresgid), SCMP_SYS(getppid), SCMP_SYS(capget), SCMP_SYS(uname),
    SCMP_SYS(sysinfo), SCMP_SYS(getrlimit), SCMP_SYS(prlimit64), SCMP_SYS(getrandom),
    SCMP_SYS(gettimeofday)};

void check(int rc, const char* what) {
    if (rc < 0) fail(std::string("seccomp: ") + what, -rc);
}

}  // namespace

void install_seccomp(SandboxRole role, config::Seccomp mode) {
    if (mode == config::Seccomp::kOff) return;
    // kill the process, not the thread: a worker that dies alone would leave its queue
    // unserved behind a live daemon; the whole process dying is what systemd restarts.
    const uint32_t deny = mode == config::Seccomp::kLog ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS;
    scmp_filter_ctx ctx = seccomp_init(deny);
    if (!ctx) fail("seccomp_init", ENOMEM);
    struct Release {
        scmp_filter_ctx c;
        ~Release() { seccomp_release(c); }
    } release{ctx};
    for (int sc : kWorker) check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sc, 0), "rule");
    // W^X: no executable mapping made after setup.
    for (int sc : {SCMP_SYS(mmap), SCMP_SYS(mprotect)})
        check(
            seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sc, 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)),
            "rule");
    if (role == SandboxRole::kControl) {
        for (int sc : kControl) check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sc, 0), "rule");
        // Threads, never processes: clone needs CLONE_THREAD; clone3 (whose flags a filter
        // cannot read) answers ENOSYS, so glibc falls back to clone.
        check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                               SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)),
              "rule");
        check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "rule");
        check(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1), "TSYNC");
    } else {
        // The worker's timer slack for its naps (worker.cc), nothing else of prctl's.
        check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                               SCMP_A0(SCMP_CMP_EQ, PR_SET_TIMERSLACK)),
              "rule");
    }
    check(seccomp_load(ctx), role == SandboxRole::kControl ? "load (control)" : "load (worker)");
}

bool selftest_requested(SandboxRole role) {
    const char* v = std::getenv("INGRESSD_SECCOMP_SELFTEST");
    if (!v) return false;
    return std::strcmp(v, role == SandboxRole::kWorker ? "worker" : "control") == 0;
}

void selftest_forbidden_call(const char* who) {
    std::fprintf(stderr,
                 "ingressd: INGRESSD_SECCOMP_SELFTEST: %s calls personality(0xffffffff), which "
                 "no allowlist has\n",
                 who);
    std::fflush(stderr);
    // A query that changes nothing, so under seccomp: log (or off) the daemon runs on.
    const long rc = syscall(SYS_personality, 0xffffffffUL);
    std::fprintf(stderr, "ingressd: INGRESSD_SECCOMP_SELFTEST: personality returned %ld (%s)\n", rc,
                 rc < 0 ? std::strerror(errno) : "allowed");
}

}  // namespace ingress::daemon
