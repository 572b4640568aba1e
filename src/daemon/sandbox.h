// ingressd's least privilege (docs/security.md): after setup the daemon switches to the
// configured user and group (`privileges:` in the config) keeping only the capabilities the
// running daemon still uses, and each thread runs under a seccomp allowlist of the system
// calls its role makes (libseccomp).
//
// Order (Dataplane's constructor): everything that needs root is done (ports attached,
// sockets made, DPDK initialised, control socket bound, metrics listening); then
// drop_privileges() on the control thread; then install_seccomp(kControl) there, which
// synchronises the filter onto every thread that exists (the metrics thread, DPDK's own);
// then the workers start, each adding install_seccomp(kWorker) before its poll loop.
// With no `privileges:` section nothing here runs: the daemon stays root, unfiltered.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"

namespace ingress::daemon {

// Who to become, resolved from the names before anything is touched.
struct Identity {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary: the primary group, control.group if set
    std::string user, group;
};
// Throws std::runtime_error naming the key (privileges.user, .group, control.group) when a
// name is unknown.
Identity resolve_identity(const config::Config& cfg);

// The capabilities the daemon still uses after setup, for this configuration (a bit per
// CAP_* number), each with the reason it is kept (docs/security.md has the table).
// `xdp_dispatcher`: an XDP program went behind libxdp's dispatcher (not attached alone).
struct KeptCaps {
    uint64_t mask = 0;
    std::vector<std::string> why;  // "cap_net_admin (...)"
};
KeptCaps caps_after_setup(const config::Config& cfg, bool xdp_dispatcher);

// Switches the process to `id` keeping `keep` (those it holds: permitted and effective; nothing
// inheritable or ambient), drops every other capability from the bounding set, and checks that root
// cannot be taken back. Throws (naming the step) on failure. The other threads that exist
// follow glibc's set*id broadcast and end with no capabilities at all.
void drop_privileges(const Identity& id, KeptCaps keep);

// A worker's first step under privileges: the calling thread keeps no capability at all
// (capabilities are per thread; it inherited the control thread's).
void drop_thread_capabilities();

enum class SandboxRole : uint8_t { kWorker, kControl };
// Loads `role`'s allowlist. kControl: onto every thread of the process (TSYNC), so threads
// the daemon did not create itself (libmicrohttpd's, DPDK's) are filtered too; kWorker: onto
// the calling thread only, on top of the control filter it inherited. Anything else kills
// the whole process with SIGSYS (mode on) or is logged by the kernel and allowed (mode log,
// to find a missing call: journalctl -k, type=1326 audit records). Throws on failure.
void install_seccomp(SandboxRole role, config::Seccomp mode);

// The fault-injection knob: INGRESSD_SECCOMP_SELFTEST=worker makes worker 0 call a syscall
// no allowlist has (personality(0xffffffff), a query) once, after its filter is loaded; =control
// does the same on the control thread once it is ready. Returns what the variable asks for.
bool selftest_requested(SandboxRole role);
// Makes the forbidden call (logs first, so the test can tell the call was reached). Under
// seccomp: on the process dies here with SIGSYS; under log (or off) it returns.
void selftest_forbidden_call(const char* who);

}  // namespace ingress::daemon
