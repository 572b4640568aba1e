// One owner per interface: the lock an ingressd holds, for its whole life, on each kernel
// interface whose XDP hook it drives.
//
// Without it a second ingressd started on the same interface took the first one's program
// for a crashed instance's leftover, removed it and failed, and the first instance went on
// reporting healthy while the kernel got all its traffic. With it, a program found on the
// interface is a leftover only when its owner is gone: the lock is an flock(2) on a file
// named after the network namespace and the ifindex (ifindexes repeat across namespaces),
// under /run/ingressd/locks/; the kernel releases it when the owner exits, however it exits
// (SIGKILL included), so a crashed owner never blocks the next start. The owner writes its
// pid into the file so that the loser can name it.
#pragma once

#include <cstdint>
#include <string>

namespace ingress::io {

class InterfaceLock {
public:
    InterfaceLock() = default;
    // Takes the lock for (this network namespace, ifindex) or throws std::runtime_error
    // naming the interface, the owner's pid and the lock file. Never waits.
    static InterfaceLock acquire(const std::string& ifname, uint32_t ifindex,
                                 const std::string& dir = "/run/ingressd/locks");
    ~InterfaceLock();
    InterfaceLock(InterfaceLock&& o) noexcept;
    InterfaceLock& operator=(InterfaceLock&& o) noexcept;
    InterfaceLock(const InterfaceLock&) = delete;
    InterfaceLock& operator=(const InterfaceLock&) = delete;

    const std::string& path() const noexcept { return path_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }

private:
    void release() noexcept;
    int fd_ = -1;
    std::string path_;
};

}  // namespace ingress::io
