// Shared memory regions (memfd) and wakeup eventfds, as the daemon hands them to apps.
//
// A region is a sealed memfd: F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, so the app that
// receives the fd can neither truncate it (which would make the daemon's next write fault
// with SIGBUS) nor resize it. Only the daemon and the app it was passed to over SCM_RIGHTS
// hold the fd; there is no name in any filesystem.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ingress::shm {

class Region {
public:
    Region() = default;
    // Creates, sizes, seals and maps a new memfd. Throws std::system_error naming `name`.
    static Region create(const std::string& name, std::size_t size);
    // Maps a region received from the daemon (size from fstat). Takes ownership of fd.
    // Throws std::system_error.
    static Region map(int fd);

    ~Region();
    Region(Region&& o) noexcept;
    Region& operator=(Region&& o) noexcept;
    Region(const Region&) = delete;
    Region& operator=(const Region&) = delete;

    void* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    int fd() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return data_ != nullptr; }

private:
    void reset() noexcept;
    int fd_ = -1;
    void* data_ = nullptr;
    std::size_t size_ = 0;
};

// An eventfd for "data is waiting" wakeups. Non-blocking, close-on-exec.
class EventFd {
public:
    EventFd();  // throws std::system_error
    explicit EventFd(int fd) noexcept : fd_(fd) {}  // adopts a received fd
    ~EventFd();
    EventFd(EventFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    EventFd& operator=(EventFd&& o) noexcept;
    EventFd(const EventFd&) = delete;
    EventFd& operator=(const EventFd&) = delete;

    int fd() const noexcept { return fd_; }
    void signal() const noexcept;  // write(1); a full counter is fine (the reader drains)
    // Blocks up to timeout_ms (-1: forever) for a signal and drains it. True if signalled.
    bool wait(int timeout_ms) const noexcept;

private:
    int fd_ = -1;
};

}  // namespace ingress::shm
