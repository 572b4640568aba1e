// UNIX stream socket helpers for the control socket: messages with file descriptors
// (SCM_RIGHTS), the peer's credentials fixed at connect() (SO_PEERCRED, SO_PEERGROUPS) and
// each sender's credentials (SCM_CREDENTIALS).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ingress::ctl {

// Who a request is judged as (ctl/policy.h): the credentials the kernel recorded, never
// anything read later from /proc.
struct PeerCred {
    pid_t pid = 0;
    uid_t uid = 0;  // effective uid at connect() (SO_PEERCRED)
    gid_t gid = 0;  // effective gid at connect()
    // Supplementary groups at connect() (SO_PEERGROUPS).
    std::vector<gid_t> groups = {};
    // Capabilities (bit = CAP_* number) the request proved with sockets it passed
    // (ctl/cap_proof.h); the server sets them per request, the connection holds none.
    uint64_t proven = 0;
    // The request was not sent by the connection's peer (SCM_CREDENTIALS uid or gid differ
    // from SO_PEERCRED's, or the frame mixes two senders' bytes): no privilege is granted.
    bool sender_mismatch = false;
};

// SO_PEERCRED and SO_PEERGROUPS of a connected UNIX socket: fixed by the kernel when the
// peer called connect(); false on error.
bool peer_cred(int fd, PeerCred* out);

// The credentials the kernel attached to received bytes (SCM_CREDENTIALS, with SO_PASSCRED
// on the receiving socket): the sending process's pid and the uid and gid it chose among
// its real, effective and saved ids (the kernel refuses anything else, scm_check_creds()).
struct SenderCred {
    bool present = false;
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    bool operator==(const SenderCred&) const = default;
};

// Sends all of `bytes`, with `fds` attached to the first sendmsg. With `creds`, every
// sendmsg carries SCM_CREDENTIALS {getpid(), geteuid(), getegid()}: the receiver judges a
// setuid program by its effective ids, as the kernel does (without, the kernel attaches the
// real ids). Returns 0 or an errno.
int send_with_fds(int fd, std::span<const uint8_t> bytes, std::span<const int> fds,
                  bool creds = false) noexcept;

// Receives up to `max` bytes and any fds sent with them (appended to *fds, close-on-exec).
// With `sender`, the bytes' SCM_CREDENTIALS (the kernel never returns bytes of two senders
// in one read). Returns bytes read (0 at EOF) or -errno; -EMSGSIZE when the kernel dropped
// fds (MSG_CTRUNC: the receiver's RLIMIT_NOFILE, or no room), unless `ctrunc` is given: then
// *ctrunc says so and the bytes are returned with the fds that did arrive.
ssize_t recv_with_fds(int fd, uint8_t* buf, std::size_t max, std::vector<int>* fds,
                      SenderCred* sender = nullptr, bool* ctrunc = nullptr);

// A listening socket at `path` (unlinking a stale socket file first), with `mode` applied to
// the file. Throws std::system_error naming the path.
int listen_unix(const std::string& path, unsigned mode, int backlog = 64);
// Connects to `path`. Throws std::system_error naming the path.
int connect_unix(const std::string& path);

}  // namespace ingress::ctl
