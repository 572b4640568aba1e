#include "io/iface_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <utility>

namespace ingress::io {
namespace {

std::string errstr(int err) {
    return std::strerror(err);
}

// The pid the owner wrote, or "" when the file holds none.
std::string owner_pid(int fd) {
    char buf[32] = {};
    const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return "";
    std::string s(buf, static_cast<std::size_t>(n));
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
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
            const std::string me = std::to_string(getpid()) + "\n";
            if (ftruncate(fd, 0) != 0 || pwrite(fd, me.data(), me.size(), 0) < 0) {
                // The pid is only for the loser's message; the lock itself holds.
            }
            l.fd_ = fd;
            return l;
        }
        close(fd);  // the previous owner removed the file between our open and our lock
    }
    throw std::runtime_error(ifname + ": the interface lock " + l.path_ + " keeps changing owner");
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
    : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)) {}

InterfaceLock& InterfaceLock::operator=(InterfaceLock&& o) noexcept {
    if (this != &o) {
        release();
        fd_ = std::exchange(o.fd_, -1);
        path_ = std::move(o.path_);
    }
    return *this;
}

}  // namespace ingress::io
