// UNIX stream socket helpers for the control socket: messages with file descriptors
// (SCM_RIGHTS) and the peer's credentials (SO_PEERCRED).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ingress::ctl {

struct PeerCred {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
};

// SO_PEERCRED of a connected UNIX socket; false on error.
bool peer_cred(int fd, PeerCred* out) noexcept;

// Sends all of `bytes`, with `fds` attached to the first sendmsg. Returns 0 or an errno.
int send_with_fds(int fd, std::span<const uint8_t> bytes, std::span<const int> fds) noexcept;

// Receives up to `max` bytes and any fds sent with them (appended to *fds, close-on-exec).
// Returns bytes read (0 at EOF) or -errno.
ssize_t recv_with_fds(int fd, uint8_t* buf, std::size_t max, std::vector<int>* fds);

// A listening socket at `path` (unlinking a stale socket file first), with `mode` applied to
// the file. Throws std::system_error naming the path.
int listen_unix(const std::string& path, unsigned mode, int backlog = 64);
// Connects to `path`. Throws std::system_error naming the path.
int connect_unix(const std::string& path);

}  // namespace ingress::ctl
