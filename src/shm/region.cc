#include "shm/region.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <system_error>
#include <utility>

namespace ingress::shm {
namespace {
[[noreturn]] void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

// A refused mmap of a ring: every ring is one mapping in the daemon and one in the app, so
// a process with many endpoints and workers meets vm.max_map_count (the kernel's ENOMEM
// for a process past it, mm/mmap.c do_mmap()) long before it runs out of memory. Says so
// with the limit, which the operator can raise.
[[noreturn]] void throw_mmap_errno(const std::string& what) {
    const int e = errno;
    std::string msg = what;
    if (e == ENOMEM) {
        std::ifstream f("/proc/sys/vm/max_map_count");
        long limit = 0;
        if (f >> limit)
            msg +=
                " (every ring is a mapping, one per endpoint and worker: a process holding "
                "vm.max_map_count = " +
                std::to_string(limit) + " mappings gets no more)";
    }
    throw std::system_error(e, std::generic_category(), msg);
}
}  // namespace

Region Region::create(const std::string& name, std::size_t size) {
    int fd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) throw_errno("memfd_create " + name);
    if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        throw_errno("ftruncate " + name);
    }
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        throw_errno("seal " + name);
    }
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        close(fd);
        errno = e;
        throw_mmap_errno("mmap " + name);
    }
    Region r;
    r.fd_ = fd;
    r.data_ = p;
    r.size_ = size;
    return r;
}

Region Region::map(int fd) {
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        throw_errno("fstat region fd");
    }
    // Only accept a sealed memfd: otherwise the other side could shrink it under us.
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
        close(fd);
        throw std::system_error(EPERM, std::generic_category(), "region fd is not a sealed memfd");
    }
    auto size = static_cast<std::size_t>(st.st_size);
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        close(fd);
        errno = e;
        throw_mmap_errno("mmap region fd");
    }
    Region r;
    r.fd_ = fd;
    r.data_ = p;
    r.size_ = size;
    return r;
}

void Region::reset() noexcept {
    if (data_) munmap(data_, size_);
    if (fd_ >= 0) close(fd_);
    data_ = nullptr;
    fd_ = -1;
    size_ = 0;
}

void Region::close_fd() noexcept {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
}

Region::~Region() {
    reset();
}

Region::Region(Region&& o) noexcept : fd_(o.fd_), data_(o.data_), size_(o.size_) {
    o.fd_ = -1;
    o.data_ = nullptr;
    o.size_ = 0;
}

Region& Region::operator=(Region&& o) noexcept {
    if (this != &o) {
        reset();
        fd_ = o.fd_;
        data_ = o.data_;
        size_ = o.size_;
        o.fd_ = -1;
        o.data_ = nullptr;
        o.size_ = 0;
    }
    return *this;
}

Doorbell Doorbell::create() {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
        throw_errno("socketpair (doorbell)");
    Doorbell d;
    d.fd_ = sv[0];
    d.app_fd_ = sv[1];
    // The app's sends to our end now fail (EPIPE): nothing it sends is queued here.
    if (shutdown(d.fd_, SHUT_RD) < 0) throw_errno("shutdown (doorbell)");
    return d;
}

void Doorbell::reset() noexcept {
    if (fd_ >= 0) close(fd_);
    if (app_fd_ >= 0) close(app_fd_);
    fd_ = app_fd_ = -1;
}

Doorbell::~Doorbell() {
    reset();
}

Doorbell& Doorbell::operator=(Doorbell&& o) noexcept {
    if (this != &o) {
        reset();
        fd_ = std::exchange(o.fd_, -1);
        app_fd_ = std::exchange(o.app_fd_, -1);
    }
    return *this;
}

void Doorbell::ring() const noexcept {
    const uint8_t one = 1;
    // EAGAIN: the app's queue is full, so a ring is already pending; EPIPE: the app shut its
    // end. Neither is an error the worker can act on.
    [[maybe_unused]] ssize_t r = send(fd_, &one, sizeof one, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void Doorbell::drain() const noexcept {
    uint8_t buf[64];
    while (recv(fd_, buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
}

bool Doorbell::wait(int timeout_ms) const noexcept {
    pollfd p{fd_, POLLIN, 0};
    int r;
    do {
        r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) return false;
    drain();
    return true;
}

}  // namespace ingress::shm
