// The DPDK backend on a real veth pair in two test namespaces, through the net_af_xdp vdev
// (net_af_packet for two queues; --no-huge --no-pci): frames for our destinations reach the
// pipeline, the rest is steered to the kernel through the exception TAP, the kernel's ARP reply
// comes back out of the port, and every mbuf is accounted for. The same traffic and expectations as
// the AF_XDP backend's test where the two agree (afxdp_backend_test.cc).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <thread>

#include "io/dpdk/backend.h"
#include "io/netdev.h"
#include "support/backend_fixture.h"
#include "support/counters.h"
#include "wire/frame_builder.h"
#include "worker/pipeline.h"
#include "worker/worker.h"

namespace ingress::io::dpdk {
namespace {

const wire::Ipv4Addr kUs = wire::ipv4(198, 18, 0, 1);
const wire::Ipv4Addr kPeer = wire::ipv4(198, 18, 0, 2);
const wire::Ipv4Addr kOther = wire::ipv4(198, 18, 0, 9);

void eal() {
    eal_init(test::test_eal_args("idpdk"), {});
}

// An ARP request from the peer for `target`, as the peer's kernel would send it.
std::vector<uint8_t> arp_request(const wire::Mac& from, wire::Ipv4Addr sender,
                                 wire::Ipv4Addr target) {
    std::vector<uint8_t> arp(28);
    const uint8_t head[8] = {0, 1, 8, 0, 6, 4, 0, 1};  // Ethernet, IPv4, request
    std::copy(head, head + 8, arp.begin());
    std::copy(from.b.begin(), from.b.end(), arp.begin() + 8);
    const uint32_t s = htonl(sender), t = htonl(target);
    std::memcpy(&arp[14], &s, 4);
    std::memcpy(&arp[24], &t, 4);
    auto f = wire::FrameBuilder()
                 .eth(from, wire::Mac::broadcast())
                 .ethertype(0x0806)
                 .payload_size(28)
                 .build();
    std::copy(arp.begin(), arp.end(), f.begin() + 14);
    return f;
}

// In the peer's namespace: sends `frames`, then waits up to 5 s for an ARP reply saying
// `who` is at `mac`. Exit status 0: the reply came.
bool peer_gets_arp_reply(const test::VethPair& v, const std::vector<std::vector<uint8_t>>& frames,
                         wire::Ipv4Addr who, const wire::Mac& mac, pid_t& child) {
    child = fork();
    if (child != 0) return child > 0;
    v.enter_b();
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ARP));
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ARP);
    sll.sll_ifindex = static_cast<int>(if_nametoindex(v.if_b().c_str()));
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) _exit(2);
    if (test::send_frames(v.if_b(), frames) != static_cast<int>(frames.size())) _exit(3);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < until) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        uint8_t b[128];
        ssize_t n = recv(fd, b, sizeof b, 0);
        uint32_t spa;
        if (n < 42) continue;
        std::memcpy(&spa, b + 28, 4);
        if (b[20] == 0 && b[21] == 2 && ntohl(spa) == who &&
            std::equal(mac.b.begin(), mac.b.end(), b + 22))
            _exit(0);
    }
    _exit(1);
}

class Dpdk : public test::VethTest {
protected:
    void SetUp() override {
        VethTest::SetUp();
        if (IsSkipped()) return;
        eal();
    }
    std::string tag() const override { return "idpdk"; }
    virtual std::string device() const { return "net_af_xdp0,iface=" + veth->if_a(); }

    PortOptions options() const {
        PortOptions o;
        o.name = "port0";
        o.device = device();
        o.exception = "idx" + std::to_string(getpid());
        o.queues = static_cast<uint16_t>(queues());
        o.mbufs = 8191;
        o.rx_descriptors = 512;
        o.tx_descriptors = 512;
        return o;
    }
    // Polls every queue until `want` frames entered the pipeline and `child` (if any)
    // exited, or 10 s passed (then the child is killed).
    void poll_child(DpdkBackend& be, worker::Pipeline& pipe, uint64_t want, pid_t child,
                    int* child_status) {
        bool child_done = false;
        poll(
            be, pipe,
            [&] {
                if (!child_done && waitpid(child, child_status, WNOHANG) == child)
                    child_done = true;
                return child_done && counters.snapshot().rx >= want;
            },
            std::chrono::seconds(10));
        if (!child_done) {
            kill(child, SIGKILL);
            waitpid(child, child_status, 0);
        }
    }
};

TEST_F(Dpdk, OursToThePipelineTheRestToTheKernelWhoseArpReplyLeavesThroughThePort) {
    DpdkBackend be(options());
    ASSERT_TRUE(be.add_dst(kUs));
    port.ifindex = be.ifindex();
    port.mac = be.mac();
    EXPECT_EQ(port.mac, veth->mac_a()) << "net_af_xdp takes the interface's MAC";
    EXPECT_EQ(port.ifindex, io::netdev_ifindex("idx" + std::to_string(getpid()))) << "the TAP's";
    // The kernel answers ARP for the address on its TAP (ingressd mirrors the config's).
    ASSERT_EQ(io::netdev_add_ipv4(be.ifindex(), kUs, 24), 0);
    worker::Pipeline pipe(be, counters, tables(kUs));

    const auto ours = test::ours_from_b(*veth, kPeer, kUs);
    std::vector<std::vector<uint8_t>> frames = test::forty_good_five_bad(ours);
    for (int i = 0; i < 7; ++i)  // not ours: the kernel's business
        frames.push_back(wire::FrameBuilder(ours).ipv4(kPeer, kOther).build());
    frames.push_back(arp_request(veth->mac_b(), kPeer, kUs));
    pid_t child = 0;
    ASSERT_TRUE(peer_gets_arp_reply(*veth, frames, kUs, veth->mac_a(), child));
    int status = -1;
    poll_child(be, pipe, 45, child, &status);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "no ARP reply from the kernel through the TAP";

    EXPECT_TRUE(test::counters_are(counters.snapshot(), test::forty_good_five_bad_no_socket()));
    BackendStats bs = be.stats();
    EXPECT_EQ(bs.rx, 45u);
    EXPECT_EQ(bs.passed, 0u) << "the dataplane owns UDP to its addresses";
    EXPECT_EQ(bs.tx, 6u) << "the port unreachables leave through the worker's TX queue";
    EXPECT_GE(bs.steered, 8u) << "7 for another address and the ARP request, at least";
    EXPECT_EQ(bs.pass_dropped, 0u);
    EXPECT_GE(bs.from_kernel, 1u) << "the ARP reply";
    EXPECT_EQ(bs.from_kernel_dropped, 0u);
    EXPECT_EQ(bs.freed + bs.passed, 45u) << "every mbuf the pipeline got came back";
    EXPECT_EQ(bs.rx_oversize, 0u);
}

TEST_F(Dpdk, CaptureAllHandsEveryFrameToThePipeline) {
    DpdkBackend be(options());
    be.set_capture_all(true);
    port.ifindex = be.ifindex();
    port.mac = be.mac();
    worker::Pipeline pipe(be, counters, tables(kUs));
    std::vector<std::vector<uint8_t>> frames;
    auto other =
        wire::FrameBuilder().eth(veth->mac_b(), veth->mac_a()).ipv4(kPeer, kOther).udp(1000, 2000);
    for (int i = 0; i < 10; ++i) frames.push_back(other.build());
    frames.push_back(arp_request(veth->mac_b(), kPeer, kUs));
    const pid_t pid = test::send_from_b_async(*veth, frames);
    ASSERT_GT(pid, 0);
    int status = -1;
    poll_child(be, pipe, 11, pid, &status);
    core::Snapshot s = counters.snapshot();
    EXPECT_GE(s.rx, 11u);  // and whatever the kernel of namespace b sends on its own
    EXPECT_TRUE(s.conserved());
    EXPECT_EQ(s.mib_value(core::Mib::kIpInReceives), 10u);
    EXPECT_GE(s.mib_value(core::Mib::kIngressL2NonIpv4), 1u)
        << "the ARP request, passed by ptype_dispatch";
    EXPECT_EQ(be.stats().steered, 0u);
}

// net_af_xdp takes one queue on a veth (it asks for combined channels, which veth does not
// report); net_af_packet's queue pairs are sockets in one PACKET_FANOUT_HASH group.
class DpdkTwoQueues : public Dpdk {
    unsigned queues() const override { return 2; }
    std::string device() const override {
        return "net_af_packet0,iface=" + veth->if_a() + ",qpairs=2";
    }
};

// One RX queue per worker: both queues of the port are polled, frames of many flows spread
// over them (the fanout hash; a vdev has no RSS of its own), each is counted once.
TEST_F(DpdkTwoQueues, BothQueuesReceiveEveryFrameOnce) {
    DpdkBackend be(options());
    ASSERT_TRUE(be.add_dst(kUs));
    EXPECT_NE(be.describe().find("2 queue(s)"), std::string::npos) << be.describe();
    port.ifindex = be.ifindex();
    port.mac = be.mac();
    worker::Pipeline pipe(be, counters, tables(kUs));
    std::vector<std::vector<uint8_t>> frames;
    for (uint16_t i = 0; i < 64; ++i)
        frames.push_back(wire::FrameBuilder()
                             .eth(veth->mac_b(), veth->mac_a())
                             .ipv4(kPeer, kUs)
                             .udp(static_cast<uint16_t>(1000 + i), 2000)
                             .build());
    const pid_t pid = test::send_from_b_async(*veth, frames);
    ASSERT_GT(pid, 0);
    int status = -1;
    poll_child(be, pipe, 64, pid, &status);
    core::Snapshot s = counters.snapshot();
    EXPECT_EQ(s.rx, 64u);
    EXPECT_TRUE(s.conserved());
    EXPECT_EQ(s.mib_value(core::Mib::kIpInReceives), 64u);
    EXPECT_EQ(be.stats().rx, 64u);
    EXPECT_GT(per_queue[0], 0u);
    EXPECT_GT(per_queue[1], 0u);
    RecordProperty("queue0", std::to_string(per_queue[0]));
}

// Idle workers on DPDK (poll_mode adaptive / interrupt, README "Idle workers").
std::size_t occurrences(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

class DpdkAfPacketIdle : public Dpdk {
    std::string device() const override { return "net_af_packet0,iface=" + veth->if_a(); }
};

// A PMD without rx interrupts (net_af_packet has no interrupt vector; net_memif and
// net_af_xdp neither): the start-up probe says so in one line naming the driver, wait_rx()
// reports no wakeup (the worker micro-sleeps), and an interrupt-mode worker that slept in
// that micro-sleep before any frame came still takes every frame sent afterwards, with the
// kernel's counters (the same traffic and fates as the polling tests above), and sends the
// kernel's ARP reply from the exception TAP while it sleeps.
TEST_F(DpdkAfPacketIdle, NoRxInterruptsIsOneLineAndTheWorkerMicroSleepsAndDelivers) {
    PortOptions o = options();
    o.rx_interrupts = true;
    ::testing::internal::CaptureStderr();
    auto be = std::make_unique<DpdkBackend>(o);
    const std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(occurrences(log, "no rx interrupts"), 1u) << log;
    EXPECT_NE(log.find("port0 (net_af_packet)"), std::string::npos) << log;
    EXPECT_NE(log.find("micro-sleeps"), std::string::npos) << log;
    ASSERT_TRUE(be->add_dst(kUs));
    port.ifindex = be->ifindex();
    port.mac = be->mac();
    ASSERT_EQ(io::netdev_add_ipv4(be->ifindex(), kUs, 24), 0);
    core::MonotonicClock clock;
    worker::Worker w(*be, counters, tables(kUs), clock,
                     worker::WorkerOptions{.poll_mode = worker::PollMode::kInterrupt});
    std::atomic<bool> stop{false};
    std::thread t([&] { w.run(stop); });
    // It sleeps before the first frame (the backend has no wakeup: wait_rx says so).
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (w.runtime().snapshot().sleeps < 20 && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const uint64_t slept = w.runtime().snapshot().sleeps;
    EXPECT_GE(slept, 20u);
    EXPECT_EQ(counters.snapshot().rx, 0u);
    test::send_from_b(*veth, test::forty_good_five_bad(test::ours_from_b(*veth, kPeer, kUs)));
    while (counters.snapshot().rx < 45 && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    // The exception TAP is served while the worker sleeps: the kernel's ARP reply to the
    // peer's request (steered to the TAP) leaves through the port.
    pid_t child = 0;
    ASSERT_TRUE(peer_gets_arp_reply(*veth, {arp_request(veth->mac_b(), kPeer, kUs)}, kUs,
                                    veth->mac_a(), child));
    int status = -1;
    waitpid(child, &status, 0);
    stop = true;
    t.join();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "no ARP reply from the kernel through the TAP";
    EXPECT_GE(be->stats().from_kernel, 1u);
    EXPECT_TRUE(test::counters_are(counters.snapshot(), test::forty_good_five_bad_no_socket()));
    EXPECT_GT(w.runtime().snapshot().sleeps, slept) << "it slept again after the frames";
    EXPECT_EQ(be->stats().rx, 45u);
    EXPECT_EQ(be->stats().freed + be->stats().passed, 45u);
}

class DpdkTapIdle : public Dpdk {
protected:
    std::string tap_if() const { return "hgt" + std::to_string(getpid()); }
    std::string device() const override { return "net_tap_hg0,iface=" + tap_if(); }
};

// A PMD with rx interrupts (net_tap as the port): the probe finds them (no fallback line),
// and an idle worker's wait_rx() sleeps until a frame arrives: woken by the frame the
// kernel sends into the TAP 200 ms later, not by its 5 s timeout, and the frame is there.
TEST_F(DpdkTapIdle, RxInterruptWakesTheSleepingWorkerForTheFrame) {
    PortOptions o = options();
    o.exception.clear();
    o.rx_interrupts = true;
    ::testing::internal::CaptureStderr();
    DpdkBackend be(o);
    const std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(occurrences(log, "no rx interrupts"), 0u) << log;
    be.set_capture_all(true);
    be.attach_thread(0);
    core::Packet pkts[core::kBurst];
    // No IPv6 on the TAP: the kernel would send its own frames (router solicitations, MLD)
    // that wake the worker too. What it sent already is drained.
    std::ofstream("/proc/sys/net/ipv6/conf/" + tap_if() + "/disable_ipv6") << "1\n";
    for (int i = 0; i < 20; ++i) {
        const uint16_t n = be.rx_burst(0, pkts, core::kBurst);
        for (uint16_t k = 0; k < n; ++k) be.free_bulk(&pkts[k].buf, 1);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const auto frame = wire::FrameBuilder().ipv4(kPeer, kUs).udp(1000, 2000).build();
    const std::string tap = tap_if();  // the child's pid is not ours
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        _exit(test::send_frames(tap, {frame}) == 1 ? 0 : 1);
    }
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(be.wait_rx(0, 5'000'000'000)) << "the port has a wakeup";
    const auto slept = std::chrono::steady_clock::now() - t0;
    int status = -1;
    waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_LT(slept, std::chrono::seconds(4)) << "woken by the frame, not the timeout";
    bool found = false;
    for (int i = 0; i < 100 && !found; ++i) {
        const uint16_t n = be.rx_burst(0, pkts, core::kBurst);
        for (uint16_t k = 0; k < n; ++k) {
            found |=
                pkts[k].len == frame.size() && std::equal(frame.begin(), frame.end(), pkts[k].data);
            be.free_bulk(&pkts[k].buf, 1);
        }
        if (!found) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_TRUE(found) << "the frame the kernel sent";
}

// A `device:` that looks like a PCI address is handed to the EAL with -a (what lspci -D and
// dpdk-devbind.py print: [domain:]bus:slot.function); anything else is a vdev string.
TEST(DpdkDevice, PciAddressesAreToldFromVdevStrings) {
    EXPECT_TRUE(is_pci_address("0000:3b:00.0"));
    EXPECT_TRUE(is_pci_address("3b:00.1"));
    EXPECT_TRUE(is_pci_address("0000:AF:1f.7"));
    EXPECT_FALSE(is_pci_address("0000:3b:00.8"));  // functions are 0-7
    EXPECT_FALSE(is_pci_address("3b:00"));
    EXPECT_FALSE(is_pci_address("000:3b:00.0"));
    EXPECT_FALSE(is_pci_address("0000:3g:00.0"));
    EXPECT_FALSE(is_pci_address("net_af_xdp0,iface=eth0"));
    EXPECT_FALSE(is_pci_address(""));
}

}  // namespace
}  // namespace ingress::io::dpdk
