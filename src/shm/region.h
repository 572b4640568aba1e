// Shared memory regions (memfd) and wakeup doorbells, as the daemon hands them to apps.
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
    // Closes the fd and keeps the mapping (fd() is -1 afterwards: nothing more to hand out).
    void close_fd() noexcept;

private:
    void reset() noexcept;
    int fd_ = -1;
    void* data_ = nullptr;
    std::size_t size_ = 0;
};

// A doorbell: how a worker wakes an app that sleeps on its rings, such that nothing the app
// does to the object it holds can block or slow the worker.
//
// An eventfd cannot promise that: the app receives the same open file description the
// daemon writes to, so it can clear O_NONBLOCK and saturate the counter, and the worker's
// next write() blocks. The doorbell is a connected pair of AF_UNIX datagram sockets
// instead. The daemon keeps both ends, rings only on its own end with
// MSG_DONTWAIT | MSG_NOSIGNAL (per call: no file flag the app could change is consulted),
// and has shut its own end for reading (an app cannot queue data the daemon would hold).
// The app is handed the other end. Whatever the app does with it (blocking mode, a tiny
// SO_RCVBUF, never reading, shutdown), a ring is one non-blocking send that at worst fails
// with EAGAIN or EPIPE: a full queue already means "readable", so no wakeup is lost.
class Doorbell {
public:
    Doorbell() = default;
    static Doorbell create();                        // throws std::system_error
    explicit Doorbell(int fd) noexcept : fd_(fd) {}  // the app's side: adopts a received end
    ~Doorbell();
    Doorbell(Doorbell&& o) noexcept : fd_(o.fd_), app_fd_(o.app_fd_) { o.fd_ = o.app_fd_ = -1; }
    Doorbell& operator=(Doorbell&& o) noexcept;
    Doorbell(const Doorbell&) = delete;
    Doorbell& operator=(const Doorbell&) = delete;

    // The daemon's side: the end to hand to the app over SCM_RIGHTS.
    int app_fd() const noexcept { return app_fd_; }
    // The daemon's side: one wakeup; never blocks, never raises SIGPIPE.
    void ring() const noexcept;

    // The app's side (the end it was given): poll()/epoll on this fd.
    int fd() const noexcept { return fd_; }
    // Blocks up to timeout_ms (-1: forever) for a ring and drains. True if it rang.
    bool wait(int timeout_ms) const noexcept;
    // Consumes every pending ring without blocking (after poll/epoll said readable).
    void drain() const noexcept;

private:
    void reset() noexcept;
    int fd_ = -1;      // daemon: the ringing end; app: the received end
    int app_fd_ = -1;  // daemon only: the app's end
};

}  // namespace ingress::shm
