#include "shm/region.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace ingress::shm {
namespace {
[[noreturn]] void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
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
        throw_errno("mmap " + name);
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
        throw_errno("mmap region fd");
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

Region::~Region() { reset(); }

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

EventFd::EventFd() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd_ < 0) throw_errno("eventfd");
}

EventFd::~EventFd() {
    if (fd_ >= 0) close(fd_);
}

EventFd& EventFd::operator=(EventFd&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) close(fd_);
        fd_ = o.fd_;
        o.fd_ = -1;
    }
    return *this;
}

void EventFd::signal() const noexcept {
    uint64_t one = 1;
    // EAGAIN means the counter is saturated: a wakeup is already pending.
    [[maybe_unused]] ssize_t r = write(fd_, &one, sizeof one);
}

bool EventFd::wait(int timeout_ms) const noexcept {
    pollfd p{fd_, POLLIN, 0};
    int r;
    do {
        r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) return false;
    uint64_t v;
    [[maybe_unused]] ssize_t n = read(fd_, &v, sizeof v);
    return true;
}

}  // namespace ingress::shm
