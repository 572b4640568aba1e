#include "ctl/policy.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "ctl/cap_proof.h"
#include "ctl/unix_socket.h"
#include "shm/region.h"

namespace ingress::ctl {
namespace {

constexpr uint64_t kBind = uint64_t{1} << kCapNetBindService;
constexpr uint64_t kRaw = uint64_t{1} << kCapNetRaw;
constexpr uint64_t kAdmin = uint64_t{1} << kCapNetAdmin;

PeerCred peer(uid_t uid, gid_t gid, uint64_t proven = 0, std::vector<gid_t> groups = {}) {
    PeerCred p;
    p.pid = 100;
    p.uid = uid;
    p.gid = gid;
    p.groups = std::move(groups);
    p.proven = proven;
    return p;
}

PeerCred mismatched(PeerCred p) {
    p.sender_mismatch = true;
    return p;
}

// A capability counts when the request proved it (a socket the kernel let it make), never
// because of the uid: root without the proof is no one special (the kernel checks
// capabilities, not uid 0).
TEST(Policy, CapabilitiesCountWhenTheRequestProvedThem) {
    Policy policy;
    EXPECT_FALSE(has_privilege(policy, peer(1000, 1000), Privilege::kNetBindService));
    EXPECT_FALSE(has_privilege(policy, peer(1000, 1000), Privilege::kNetRaw));
    EXPECT_TRUE(has_privilege(policy, peer(1000, 1000, kBind), Privilege::kNetBindService));
    EXPECT_FALSE(has_privilege(policy, peer(1000, 1000, kBind), Privilege::kNetRaw));
    EXPECT_TRUE(has_privilege(policy, peer(1000, 1000, kRaw), Privilege::kNetRaw));
    EXPECT_FALSE(has_privilege(policy, peer(0, 0), Privilege::kNetRaw)) << "uid 0, no proof";
    EXPECT_TRUE(has_privilege(policy, peer(0, 0, kRaw | kBind), Privilege::kNetRaw));
}

// A request whose sender is not the connection's peer gets nothing, whatever it proves or
// the config grants: the connection keeps the lesser of the two.
TEST(Policy, ASenderThatIsNotThePeerGetsNoPrivilege) {
    Policy policy;
    policy.net_raw.uids = {1000};
    EXPECT_TRUE(has_privilege(policy, peer(1000, 1000), Privilege::kNetRaw));
    EXPECT_FALSE(has_privilege(policy, mismatched(peer(1000, 1000)), Privilege::kNetRaw));
    EXPECT_FALSE(has_privilege(policy, mismatched(peer(0, 0, kRaw)), Privilege::kNetRaw));
    EXPECT_FALSE(may_administer(policy, mismatched(peer(0, 0, kAdmin)), 0, -1));
}

// Grants by uid, by gid, or by a supplementary group the peer had at connect()
// (SO_PEERGROUPS), as in_group_p() matches a socket's group.
TEST(Policy, ConfigGrantsByUidGidOrSupplementaryGroup) {
    Policy policy;
    policy.net_raw.uids = {1234};
    policy.bind_service.gids = {50};
    EXPECT_TRUE(has_privilege(policy, peer(1234, 1000), Privilege::kNetRaw));
    EXPECT_FALSE(has_privilege(policy, peer(1234, 1000), Privilege::kNetBindService));
    EXPECT_TRUE(has_privilege(policy, peer(1000, 50), Privilege::kNetBindService));
    EXPECT_TRUE(has_privilege(policy, peer(1000, 1000, 0, {7, 50}), Privilege::kNetBindService));
    EXPECT_FALSE(has_privilege(policy, peer(1000, 1000, 0, {7, 51}), Privilege::kNetBindService));
}

// Who may reload: root, the socket's owner, a proof of CAP_NET_ADMIN, the control group
// (primary or supplementary at connect()); nobody else, whatever other capability it proves.
TEST(Policy, AdministerNeedsRootOwnerNetAdminOrTheControlGroup) {
    Policy policy;
    const uid_t owner = 990;
    EXPECT_TRUE(may_administer(policy, peer(0, 0), owner, -1)) << "root";
    EXPECT_TRUE(may_administer(policy, peer(owner, 1000), owner, -1)) << "the socket's owner";
    EXPECT_TRUE(may_administer(policy, peer(1000, 1000, kAdmin), owner, -1)) << "CAP_NET_ADMIN";
    EXPECT_FALSE(may_administer(policy, peer(1000, 1000, kRaw | kBind), owner, -1))
        << "CAP_NET_RAW is not enough";
    EXPECT_FALSE(may_administer(policy, peer(1000, 1000), owner, -1));
    EXPECT_TRUE(may_administer(policy, peer(1000, 77), owner, 77)) << "primary group";
    EXPECT_TRUE(may_administer(policy, peer(1000, 1000, 0, {24, 77}), owner, 77))
        << "supplementary group";
    EXPECT_FALSE(may_administer(policy, peer(1000, 1000, 0, {24, 77}), owner, 7)) << "7 is not 77";
}

TEST(UnixSocket, FdsAndCredentialsCrossTheSocket) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    PeerCred c;
    ASSERT_TRUE(peer_cred(sv[0], &c));
    EXPECT_EQ(c.pid, getpid());
    EXPECT_EQ(c.uid, getuid());

    shm::Region r = shm::Region::create("fd-pass", 4096);
    static_cast<uint8_t*>(r.data())[7] = 99;
    shm::Doorbell bell = shm::Doorbell::create();
    int fds[2] = {r.fd(), bell.app_fd()};
    const uint8_t msg[5] = {1, 2, 3, 4, 5};
    ASSERT_EQ(send_with_fds(sv[0], msg, fds), 0);

    uint8_t buf[16];
    std::vector<int> got;
    ASSERT_EQ(recv_with_fds(sv[1], buf, sizeof buf, &got), 5);
    ASSERT_EQ(got.size(), 2u);
    shm::Region mapped = shm::Region::map(got[0]);
    EXPECT_EQ(static_cast<uint8_t*>(mapped.data())[7], 99);
    shm::Doorbell their(got[1]);
    bell.ring();
    EXPECT_TRUE(their.wait(1000)) << "the received end is the doorbell's other end";
    close(sv[0]);
    close(sv[1]);
}

TEST(UnixSocket, ListenReplacesStaleSocketFileAndSetsMode) {
    std::string path = std::filesystem::temp_directory_path() /
                       ("ingress-ctl-" + std::to_string(getpid()) + ".sock");
    int l1 = listen_unix(path, 0660);
    close(l1);  // a crashed daemon leaves the file behind
    int l2 = listen_unix(path, 0600);
    EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    int c = connect_unix(path);
    EXPECT_GE(c, 0);
    close(c);
    close(l2);
    std::filesystem::remove(path);
    EXPECT_THROW(connect_unix(path), std::system_error);
}

}  // namespace
}  // namespace ingress::ctl
