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
// pid into the file so that the loser can name it, and the id of the XDP program it attached
// (record_prog_id), which a clean exit removes with the file: the id a new owner finds there
// (previous_prog_id) is a crashed owner's, which lets it recognise that owner's leftover
// program without opening it by id (BPF_PROG_GET_FD_BY_ID needs CAP_SYS_ADMIN; the unit does
// not grant it). The file looks like "1234\nxdp_prog_id 56\n".
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
    // The XDP program id the previous owner recorded and did not take away (it died without
    // releasing the lock), 0 when none.
    uint32_t previous_prog_id() const noexcept { return previous_prog_id_; }
    // Writes this owner's pid and `id` into the file (best effort: the lock holds either way).
    void record_prog_id(uint32_t id) noexcept;
    explicit operator bool() const noexcept { return fd_ >= 0; }

private:
    void release() noexcept;
    int fd_ = -1;
    std::string path_;
    uint32_t previous_prog_id_ = 0;
};

}  // namespace ingress::io
