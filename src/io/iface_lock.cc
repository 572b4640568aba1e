#include "io/iface_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <utility>

namespace ingress::io {
namespace {

std::string errstr(int err) {
    return std::strerror(err);
}

constexpr char kProgIdKey[] = "xdp_prog_id ";

std::string contents(int fd) {
    char buf[64] = {};
    const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
}

// The pid the owner wrote (the first line), or "" when the file holds none.
std::string owner_pid(int fd) {
    std::string s = contents(fd);
    s = s.substr(0, s.find('\n'));
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
}

// The program id a previous owner recorded, 0 when none.
uint32_t recorded_prog_id(int fd) {
    const std::string s = contents(fd);
    const auto at = s.find(kProgIdKey);
    if (at == std::string::npos) return 0;
    return static_cast<uint32_t>(std::strtoul(s.c_str() + at + sizeof kProgIdKey - 1, nullptr, 10));
}

void write_owner(int fd, uint32_t prog_id) noexcept {
    std::string me = std::to_string(getpid()) + "\n";
    if (prog_id) me += kProgIdKey + std::to_string(prog_id) + "\n";
    if (ftruncate(fd, 0) != 0 || pwrite(fd, me.data(), me.size(), 0) < 0) {
        // The contents are only for the loser's message and the next owner; the lock holds.
    }
}

}  // namespace

InterfaceLock InterfaceLock::acquire(const std::string& ifname, uint32_t ifindex,
                                     const std::string& dir) {
    struct stat ns {};
    if (stat("/proc/self/ns/net", &ns) != 0)
        throw std::runtime_error(ifname +
                                 ": cannot identify the network namespace: " + errstr(errno));
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
        throw std::runtime_error(ifname + ": cannot create " + dir +
                                 " for the interface lock: " + ec.message());
    InterfaceLock l;
    l.path_ = dir + "/net" + std::to_string(ns.st_ino) + "-if" + std::to_string(ifindex) + ".lock";
    // The owner removes the file when it lets go; a contender that opened the file just
    // before may then hold a lock on an unlinked inode, so it checks that what it locked is
    // still the file at the path, and tries again if not.
    for (int attempt = 0; attempt < 16; ++attempt) {
        const int fd = open(l.path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            throw std::runtime_error(ifname + ": cannot open the interface lock " + l.path_ + ": " +
                                     errstr(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            const int err = errno;
            const std::string pid = owner_pid(fd);
            close(fd);
            if (err == EWOULDBLOCK)
                throw std::runtime_error(ifname + ": already driven by another ingressd" +
                                         (pid.empty() ? "" : " (pid " + pid + ")") +
                                         ", which holds " + l.path_ +
                                         "; this instance touches nothing and exits");
            throw std::runtime_error(ifname + ": cannot lock " + l.path_ + ": " + errstr(err));
        }
        struct stat held {
        }, now{};
        if (fstat(fd, &held) == 0 && stat(l.path_.c_str(), &now) == 0 &&
            held.st_ino == now.st_ino && held.st_dev == now.st_dev) {
            l.previous_prog_id_ = recorded_prog_id(fd);
            write_owner(fd, 0);
            l.fd_ = fd;
            return l;
        }
        close(fd);  // the previous owner removed the file between our open and our lock
    }
    throw std::runtime_error(ifname + ": the interface lock " + l.path_ + " keeps changing owner");
}

void InterfaceLock::record_prog_id(uint32_t id) noexcept {
    if (fd_ >= 0) write_owner(fd_, id);
}

void InterfaceLock::release() noexcept {
    if (fd_ < 0) return;
    // Unlinked while still locked, so no one can lock this inode and believe it current.
    unlink(path_.c_str());
    close(fd_);
    fd_ = -1;
}

InterfaceLock::~InterfaceLock() {
    release();
}

InterfaceLock::InterfaceLock(InterfaceLock&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      path_(std::move(o.path_)),
      previous_prog_id_(o.previous_prog_id_) {}

InterfaceLock& InterfaceLock::operator=(InterfaceLock&& o) noexcept {
    if (this != &o) {
        release();
        fd_ = std::exchange(o.fd_, -1);
        path_ = std::move(o.path_);
        previous_prog_id_ = o.previous_prog_id_;
    }
    return *this;
}

}  // namespace ingress::io
