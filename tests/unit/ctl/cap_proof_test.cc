// Capabilities proved by sockets (ctl/cap_proof.h), against the kernel's own checks: the
// socket exists only if the kernel let its maker have the capability, in a network namespace
// whose owner is ours or above. Needs root (the unit suite runs as root in CI); the
// unprivileged and user-namespace cases run in children that give root up.
#include "ctl/cap_proof.h"

#include <arpa/inet.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <vector>

#include "ctl/unix_socket.h"

namespace ingress::ctl {
namespace {

#define NEED_ROOT() \
    if (geteuid() != 0) GTEST_SKIP() << "needs root (as CI runs the unit suite)"

int udp_bound(uint16_t port) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ADD_FAILURE() << "bind " << port;
    return s;
}

// Runs `make` in a child (after `setup`, which drops privileges or changes namespaces) and
// returns the socket it made, passed back over a socketpair; -1 if it made none.
int made_in_child(const std::function<bool()>& setup, const std::function<int()>& make) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return -1;
    pid_t child = fork();
    if (child == 0) {
        close(sv[0]);
        const uint8_t ok = setup() ? 1 : 0;
        const int fd = ok ? make() : -1;
        std::vector<int> fds;
        if (fd >= 0) fds.push_back(fd);
        _exit(send_with_fds(sv[1], std::span(&ok, 1), fds) == 0 ? 0 : 1);
    }
    close(sv[1]);
    uint8_t ok = 0;
    std::vector<int> fds;
    EXPECT_EQ(recv_with_fds(sv[0], &ok, 1, &fds), 1);
    close(sv[0]);
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_EQ(ok, 1) << "the child's setup failed";
    return fds.empty() ? -1 : fds[0];
}

bool become_nobody() {
    return setgroups(0, nullptr) == 0 && setgid(65534) == 0 && setuid(65534) == 0;
}

ProofCheck check_and_close(const ProofVerifier& v, int fd, int cap) {
    ProofCheck c = v.check(fd, cap);
    close(fd);
    return c;
}

// inet_create(): SOCK_RAW needs CAP_NET_RAW; packet_create() too. A raw socket proves that
// and only that.
TEST(CapProof, ARawSocketProvesNetRawAndNothingElse) {
    NEED_ROOT();
    ProofVerifier v;
    int raw = make_proof(kCapNetRaw);
    ASSERT_GE(raw, 0);
    EXPECT_EQ(v.check(raw, kCapNetRaw), ProofCheck::kOk);
    EXPECT_EQ(v.check(raw, kCapNetBindService), ProofCheck::kWrongKind)
        << "a raw socket's 'port' is its protocol";
    EXPECT_EQ(v.check(raw, kCapNetAdmin), ProofCheck::kWrongKind);
    close(raw);
    int packet = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    ASSERT_GE(packet, 0);
    EXPECT_EQ(check_and_close(v, packet, kCapNetRaw), ProofCheck::kOk);
    int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(check_and_close(v, udp, kCapNetRaw), ProofCheck::kWrongKind);
    // An unprivileged ICMP "ping" socket is SOCK_DGRAM: no proof.
    int pipefd[2];
    ASSERT_EQ(pipe(pipefd), 0);
    EXPECT_EQ(check_and_close(v, pipefd[0], kCapNetRaw), ProofCheck::kNotASocket);
    close(pipefd[1]);
    int any = make_proof(kCapNetRaw);
    EXPECT_EQ(check_and_close(v, any, 21), ProofCheck::kUnknownCapability) << "CAP_SYS_ADMIN";
}

// __inet_bind(): a port below ip_unprivileged_port_start needs CAP_NET_BIND_SERVICE; port 0
// and automatic ports (ip_local_port_range, kept above it by the kernel) prove nothing.
TEST(CapProof, ASocketBoundToAPrivilegedPortProvesBindService) {
    NEED_ROOT();
    ProofVerifier v;
    int low = make_proof(kCapNetBindService, 80);
    ASSERT_GE(low, 0);
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ASSERT_EQ(getsockname(low, reinterpret_cast<sockaddr*>(&a), &len), 0);
    EXPECT_EQ(ntohs(a.sin_port), 80);
    EXPECT_EQ(ntohl(a.sin_addr.s_addr) >> 24, 127u) << "a loopback address";
    EXPECT_EQ(check_and_close(v, low, kCapNetBindService), ProofCheck::kOk);
    EXPECT_EQ(check_and_close(v, make_proof(kCapNetBindService, 8080), kCapNetBindService),
              ProofCheck::kOk)
        << "a high port asked for: 1023 is bound";
    EXPECT_EQ(check_and_close(v, udp_bound(0), kCapNetBindService), ProofCheck::kUnprivilegedPort);
    EXPECT_EQ(check_and_close(v, udp_bound(40999), kCapNetBindService),
              ProofCheck::kUnprivilegedPort);
    int unbound = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(check_and_close(v, unbound, kCapNetBindService), ProofCheck::kUnprivilegedPort);
}

// TCP_REPAIR: tcp_can_repair_sock() needs CAP_NET_ADMIN over the socket's namespace.
TEST(CapProof, ATcpSocketInRepairModeProvesNetAdmin) {
    NEED_ROOT();
    ProofVerifier v;
    EXPECT_EQ(check_and_close(v, make_proof(kCapNetAdmin), kCapNetAdmin), ProofCheck::kOk);
    int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(check_and_close(v, tcp, kCapNetAdmin), ProofCheck::kNotRepairing);
}

// Without the capabilities the kernel refuses every proof: nobody cannot make one.
TEST(CapProof, AnUnprivilegedProcessCannotMakeAProof) {
    NEED_ROOT();
    for (int cap : {kCapNetRaw, kCapNetBindService, kCapNetAdmin}) {
        int fd = made_in_child(become_nobody, [cap] { return make_proof(cap, 80); });
        EXPECT_LT(fd, 0) << "capability " << cap;
        if (fd >= 0) close(fd);
    }
}

// A user namespace's root holds every capability over its own network namespace, and the
// kernel lets it make raw sockets and bind port 80 there: that proves nothing about ours.
TEST(CapProof, ProofsFromAnUnprivilegedUsersOwnNamespacesAreRefused) {
    NEED_ROOT();
    ProofVerifier v;
    auto own_namespaces = [] {
        return become_nobody() && unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0;
    };
    int raw = made_in_child(own_namespaces, [] { return make_proof(kCapNetRaw); });
    ASSERT_GE(raw, 0) << "the kernel lets a user namespace's root make raw sockets";
    EXPECT_EQ(check_and_close(v, raw, kCapNetRaw), ProofCheck::kForeignNamespace);
    int low = made_in_child(own_namespaces, [] { return make_proof(kCapNetBindService, 80); });
    ASSERT_GE(low, 0);
    EXPECT_EQ(check_and_close(v, low, kCapNetBindService), ProofCheck::kForeignNamespace);
    int admin = made_in_child(own_namespaces, [] { return make_proof(kCapNetAdmin); });
    ASSERT_GE(admin, 0);
    EXPECT_EQ(check_and_close(v, admin, kCapNetAdmin), ProofCheck::kForeignNamespace);
}

// Another network namespace owned by our user namespace (`ip netns add`): its maker held the
// capability in our user namespace, so over our network namespace too.
TEST(CapProof, ProofsFromANamespaceOurUserNamespaceOwnsCount) {
    NEED_ROOT();
    ProofVerifier v;
    auto other_netns = [] { return unshare(CLONE_NEWNET) == 0; };
    EXPECT_EQ(check_and_close(v, made_in_child(other_netns, [] { return make_proof(kCapNetRaw); }),
                              kCapNetRaw),
              ProofCheck::kOk);
}

// The kernel's side of the credentials the server judges by: SO_PEERCRED and SO_PEERGROUPS
// are fixed at connect(); SCM_CREDENTIALS name each sender, and a forked child that gave up
// root is seen as itself on the connection its parent made.
TEST(UnixSocketCredentials, PeerGroupsAreFixedAtConnectAndEachSenderIsNamed) {
    NEED_ROOT();
    std::string path = "/tmp/ingress-cred-" + std::to_string(getpid()) + ".sock";
    int l = listen_unix(path, 0666);
    const int on = 1;
    ASSERT_EQ(setsockopt(l, SOL_SOCKET, SO_PASSCRED, &on, sizeof on), 0);
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    pid_t child = fork();
    if (child == 0) {
        const gid_t groups[] = {24, 77};
        if (setgroups(2, groups) != 0) _exit(10);
        int c = connect_unix(path);
        if (setgroups(0, nullptr) != 0) _exit(11);  // after connect(): not seen
        const uint8_t one = 1;
        if (send_with_fds(c, std::span(&one, 1), {}, true) != 0) _exit(12);
        pid_t grandchild = fork();
        if (grandchild == 0) {
            if (!become_nobody()) _exit(13);
            _exit(send_with_fds(c, std::span(&one, 1), {}) == 0 ? 0 : 14);
        }
        int st = 0;
        waitpid(grandchild, &st, 0);
        char x;
        (void)!read(ready[0], &x, 1);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 15);
    }
    // The child waits for this before it exits (a sender's pid reads 0 once it is gone), on
    // every path out of this test.
    struct Release {
        int fd;
        ~Release() { (void)!write(fd, "x", 1); }
    } release{ready[1]};
    pollfd pfd{l, POLLIN, 0};
    ASSERT_EQ(poll(&pfd, 1, 5000), 1);
    int s = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(s, 0);
    PeerCred peer;
    ASSERT_TRUE(peer_cred(s, &peer));
    EXPECT_EQ(peer.pid, child);
    EXPECT_EQ(peer.uid, 0u);
    EXPECT_EQ(peer.groups, (std::vector<gid_t>{24, 77}));
    uint8_t b[4];
    SenderCred first, second;
    ASSERT_EQ(recv_with_fds(s, b, sizeof b, nullptr, &first), 1) << "two senders: two reads";
    ASSERT_EQ(recv_with_fds(s, b, sizeof b, nullptr, &second), 1);
    EXPECT_TRUE(first.present);
    EXPECT_EQ(first.pid, child);
    EXPECT_EQ(first.uid, 0u);
    EXPECT_TRUE(second.present) << "accepted sockets inherit SO_PASSCRED";
    EXPECT_NE(second.pid, child);
    EXPECT_EQ(second.uid, 65534u);
    EXPECT_EQ(second.gid, 65534u);
    (void)!write(ready[1], "x", 1);
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_EQ(WEXITSTATUS(status), 0);
    close(s);
    close(l);
    close(ready[0]);
    close(ready[1]);
    unlink(path.c_str());
}

}  // namespace
}  // namespace ingress::ctl
