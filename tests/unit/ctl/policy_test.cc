#include "ctl/policy.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "ctl/unix_socket.h"
#include "shm/region.h"

namespace ingress::ctl {
namespace {

class PolicyTest : public ::testing::Test {
protected:
    PolicyTest() {
        root =
            std::filesystem::temp_directory_path() / ("ingress-proc-" + std::to_string(getpid()));
        policy.proc_root = root;
        write_status(100, "0000000000000000");  // no capabilities
        write_status(200, "0000000000000400");  // CAP_NET_BIND_SERVICE only
        write_status(300, "0000000000002000");  // CAP_NET_RAW only
        write_status(400, "000001ffffffffff");  // root
    }
    ~PolicyTest() override { std::filesystem::remove_all(root); }
    void write_status(pid_t pid, const char* capeff, const char* groups = "") {
        std::filesystem::create_directories(root / std::to_string(pid));
        std::ofstream(root / std::to_string(pid) / "status")
            << "Name:\tapp\nUid:\t1000\t1000\t1000\t1000\nGroups:\t" << groups
            << "\nCapInh:\t0000000000000000\n"
            << "CapEff:\t" << capeff << "\n";
    }
    std::filesystem::path root;
    Policy policy;
};

TEST_F(PolicyTest, CapabilitiesFromProcStatusAsTheKernelChecksThem) {
    EXPECT_FALSE(has_privilege(policy, {100, 1000, 1000}, Privilege::kNetBindService));
    EXPECT_FALSE(has_privilege(policy, {100, 1000, 1000}, Privilege::kNetRaw));
    EXPECT_TRUE(has_privilege(policy, {200, 1000, 1000}, Privilege::kNetBindService));
    EXPECT_FALSE(has_privilege(policy, {200, 1000, 1000}, Privilege::kNetRaw));
    EXPECT_TRUE(has_privilege(policy, {300, 1000, 1000}, Privilege::kNetRaw));
    EXPECT_TRUE(has_privilege(policy, {400, 0, 0}, Privilege::kNetRaw));
}

TEST_F(PolicyTest, UnreadableProcMeansNoCapability) {
    EXPECT_EQ(peer_capabilities(policy, 999), 0u);
    EXPECT_FALSE(has_privilege(policy, {999, 0, 0}, Privilege::kNetRaw));
}

TEST_F(PolicyTest, ConfigGrantsByUidOrGid) {
    policy.net_raw.uids = {1234};
    policy.bind_service.gids = {50};
    EXPECT_TRUE(has_privilege(policy, {100, 1234, 1000}, Privilege::kNetRaw));
    EXPECT_FALSE(has_privilege(policy, {100, 1234, 1000}, Privilege::kNetBindService));
    EXPECT_TRUE(has_privilege(policy, {100, 1000, 50}, Privilege::kNetBindService));
}

// Who may reload: root, the socket's owner, CAP_NET_ADMIN, the control group (primary or
// supplementary); nobody else, whatever other capability they hold.
TEST_F(PolicyTest, AdministerNeedsRootOwnerNetAdminOrTheControlGroup) {
    write_status(500, "0000000000001000");               // CAP_NET_ADMIN only
    write_status(600, "0000000000000000", "24 77 100");  // supplementary group 77
    const uid_t owner = 990;
    EXPECT_TRUE(may_administer(policy, {100, 0, 0}, owner, -1)) << "root";
    EXPECT_TRUE(may_administer(policy, {100, owner, 1000}, owner, -1)) << "the socket's owner";
    EXPECT_TRUE(may_administer(policy, {500, 1000, 1000}, owner, -1)) << "CAP_NET_ADMIN";
    EXPECT_FALSE(may_administer(policy, {300, 1000, 1000}, owner, -1))
        << "CAP_NET_RAW is not enough";
    EXPECT_FALSE(may_administer(policy, {100, 1000, 1000}, owner, -1));
    EXPECT_TRUE(may_administer(policy, {100, 1000, 77}, owner, 77)) << "primary group";
    EXPECT_TRUE(may_administer(policy, {600, 1000, 1000}, owner, 77)) << "supplementary group";
    EXPECT_FALSE(may_administer(policy, {600, 1000, 1000}, owner, 7)) << "7 is not 77";
    EXPECT_FALSE(may_administer(policy, {999, 1000, 1000}, owner, 77)) << "unreadable /proc";
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
