// The wakeup doorbell (src/shm/region.h): nothing the app does to the end it holds can block
// the daemon's ring or queue data on the daemon's end.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "shm/region.h"

namespace ingress::shm {
namespace {

bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

TEST(Doorbell, ARingIsSeenOnTheAppsEndAndDrainedByWait) {
    Doorbell bell = Doorbell::create();
    Doorbell app(::dup(bell.app_fd()));  // what SCM_RIGHTS gives the app
    EXPECT_FALSE(readable(app.fd()));
    bell.ring();
    bell.ring();
    EXPECT_TRUE(readable(app.fd()));
    EXPECT_TRUE(app.wait(0));
    EXPECT_FALSE(readable(app.fd())) << "wait() consumed every pending ring";
    EXPECT_FALSE(app.wait(0));
}

// The eventfd attack, replayed on the doorbell: the app clears O_NONBLOCK on its end, shrinks
// its buffer and never reads. Every ring still returns (with an eventfd shared with the app,
// the daemon's write blocked here forever), the end stays readable, and the daemon's own
// end keeps its O_NONBLOCK: it is another open file description.
TEST(Doorbell, AnAppThatMakesItsEndBlockingAndNeverReadsCannotBlockTheRing) {
    Doorbell bell = Doorbell::create();
    Doorbell app(::dup(bell.app_fd()));
    ASSERT_EQ(fcntl(app.fd(), F_SETFL, fcntl(app.fd(), F_GETFL) & ~O_NONBLOCK), 0);
    const int tiny = 1;
    ASSERT_EQ(setsockopt(app.fd(), SOL_SOCKET, SO_RCVBUF, &tiny, sizeof tiny), 0);
    for (int i = 0; i < 100000; ++i) bell.ring();
    EXPECT_TRUE(fcntl(bell.fd(), F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(readable(app.fd()));
    app.drain();
    EXPECT_FALSE(readable(app.fd()));
    bell.ring();
    EXPECT_TRUE(readable(app.fd())) << "a ring after a full queue is not lost";
}

// The app cannot write to the daemon's end (it is shut for reading): nothing it sends is
// queued in the daemon, and the eventfd trick (write a near-overflow count) has no target.
TEST(Doorbell, TheAppCannotQueueDataOnTheDaemonsEnd) {
    Doorbell bell = Doorbell::create();
    Doorbell app(::dup(bell.app_fd()));
    const uint64_t saturate = 0xfffffffffffffffeull;
    errno = 0;
    EXPECT_EQ(send(app.fd(), &saturate, sizeof saturate, MSG_NOSIGNAL | MSG_DONTWAIT), -1);
    EXPECT_EQ(errno, EPIPE);
}

// The app shuts its end down: the daemon's ring fails quietly (no SIGPIPE kills the test).
TEST(Doorbell, AnAppThatShutsItsEndCostsTheRingNothing) {
    Doorbell bell = Doorbell::create();
    Doorbell app(::dup(bell.app_fd()));
    ASSERT_EQ(shutdown(app.fd(), SHUT_RDWR), 0);
    for (int i = 0; i < 100; ++i) bell.ring();
    SUCCEED() << "no SIGPIPE, no block";
}

}  // namespace
}  // namespace ingress::shm
