#include "support/netns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace ingress::test {

int sh(const std::string& cmd) {
    int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

namespace {
void must(const std::string& cmd) {
    if (sh(cmd) != 0) throw std::runtime_error("command failed: " + cmd);
}
}  // namespace

VethPair::VethPair(const std::string& tag, unsigned rx_queues)
    : mac_a_{{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}}, mac_b_{{0x02, 0x00, 0x5e, 0x10, 0x00, 0x02}} {
    static int serial = 0;
    std::string id = std::to_string(getpid()) + std::to_string(serial++);
    ns_a_ = tag + "-a-" + id;
    ns_b_ = tag + "-b-" + id;
    if_a_ = (tag + "a" + id).substr(0, 15);
    if_b_ = (tag + "b" + id).substr(0, 15);
    home_fd_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    try {
        must("ip netns add " + ns_a_);
        must("ip netns add " + ns_b_);
        std::string q = " numrxqueues " + std::to_string(rx_queues) + " numtxqueues " +
                        std::to_string(rx_queues);
        must("ip link add " + if_a_ + q + " netns " + ns_a_ + " address " + mac_a_.str() +
             " type veth peer name " + if_b_ + q + " netns " + ns_b_ + " address " + mac_b_.str());
        must("ip -n " + ns_a_ + " link set " + if_a_ + " up");
        must("ip -n " + ns_b_ + " link set " + if_b_ + " up");
    } catch (...) {
        sh("ip netns del " + ns_a_);
        sh("ip netns del " + ns_b_);
        if (home_fd_ >= 0) close(home_fd_);
        throw;
    }
}

VethPair::~VethPair() {
    leave();
    sh("ip netns del " + ns_a_);
    sh("ip netns del " + ns_b_);
    if (home_fd_ >= 0) close(home_fd_);
}

void VethPair::enter(const std::string& ns) const {
    int fd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        if (fd >= 0) close(fd);
        throw std::runtime_error("cannot enter network namespace " + ns);
    }
    close(fd);
}
void VethPair::enter_a() const {
    enter(ns_a_);
}
void VethPair::enter_b() const {
    enter(ns_b_);
}
void VethPair::leave() const {
    if (home_fd_ >= 0) setns(home_fd_, CLONE_NEWNET);
}

int send_frames(const std::string& ifname, const std::vector<std::vector<uint8_t>>& frames) {
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    sll.sll_halen = 6;
    int sent = 0;
    for (const auto& f : frames) {
        std::memcpy(sll.sll_addr, f.data(), 6);
        if (sendto(fd, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&sll), sizeof sll) ==
            static_cast<ssize_t>(f.size()))
            ++sent;
    }
    close(fd);
    return sent;
}

}  // namespace ingress::test
