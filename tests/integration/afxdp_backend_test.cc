// The AF_XDP backend and the XDP program on a real veth pair in two test namespaces: frames
// for our address reach the pipeline through the XSK, everything else stays with the
// kernel, and the counters of both sides agree.
#include <gtest/gtest.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "ingress_xdp.h"
#include "io/afxdp/backend.h"
#include "io/afxdp/xdp_program.h"
#include "io/afxdp/xsk_tx.h"
#include "pktgen/traffic.h"
#include "support/backend_fixture.h"
#include "support/counters.h"
#include "wire/frame_builder.h"
#include "worker/pipeline.h"

namespace ingress::io::afxdp {
namespace {

const wire::Ipv4Addr kUs = wire::ipv4(198, 18, 0, 1);
const wire::Ipv4Addr kPeer = wire::ipv4(198, 18, 0, 2);
const wire::Ipv4Addr kOther = wire::ipv4(198, 18, 0, 9);

using test::send_from_b;
using test::xdp_object;

class AfXdp : public test::VethTest {
protected:
    void SetUp() override {
        VethTest::SetUp();
        if (IsSkipped()) return;
        port.mac = veth->mac_a();
    }
    std::string tag() const override { return "ixdp"; }
};

// Both programs (hw_timestamps off: ingress.bpf.o; on: the device-bound ingress_hwts.bpf.o)
// make the same decisions with the same counters.
//
// Hardware receive stamps (src/io/afxdp/hw_timestamps.md): the device-bound variant loads on
// veth, which implements bpf_xdp_metadata_rx_timestamp (drivers/net/veth.c
// veth_xdp_rx_timestamp(): the skb's hardware stamp, -ENODATA without one; a frame a socket
// sends has none), so every redirected frame carries the program's metadata with a zero
// stamp, and no frame gets kFlagHwTstamp. On a kernel before 6.3 (no device-bound programs)
// the fallback line says so and the rest holds.
class AfXdpPrograms : public AfXdp, public testing::WithParamInterface<bool> {};

TEST_P(AfXdpPrograms, OurDestinationsRedirectedTheRestPassedToTheKernel) {
    const bool hw = GetParam();
    testing::internal::CaptureStderr();
    XdpProgram prog(xdp_object(), veth->if_a(), XdpMode::kNative, hw);
    const std::string said = testing::internal::GetCapturedStderr();
    utsname u{};
    uname(&u);
    unsigned major = 0, minor = 0;
    std::sscanf(u.release, "%u.%u", &major, &minor);
    if (hw && (major > 6 || (major == 6 && minor >= 3))) {
        EXPECT_TRUE(prog.hw_timestamps()) << u.release << ": veth has the kfunc; " << said;
    }
    const bool fallback_line = said.find("no hardware receive timestamps") != std::string::npos;
    EXPECT_EQ(fallback_line, hw && !prog.hw_timestamps()) << said;
    prog.add_dst(kUs, INGRESS_XDP_DST_LOCAL);
    port.ifindex = prog.ifindex();
    XskOptions opt;
    opt.ifname = veth->if_a();
    opt.queues = {0};
    opt.frames = 1024;
    opt.ring_size = 512;
    AfXdpBackend be(opt, prog);
    worker::Pipeline pipe(be, counters, tables(kUs));

    const auto ours = test::ours_from_b(*veth, kPeer, kUs);
    std::vector<std::vector<uint8_t>> frames = test::forty_good_five_bad(ours);
    for (int i = 0; i < 7; ++i)  // not ours: the kernel's business
        frames.push_back(wire::FrameBuilder(ours).ipv4(kPeer, kOther).build());
    send_from_b(*veth, frames);
    core::PacketBatch batch;
    uint64_t stamped = 0, with_meta = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (counters.snapshot().rx < 45 && std::chrono::steady_clock::now() < until) {
        batch.count = be.rx_burst(0, batch.pkts.data(), core::kBurst);
        for (const core::Packet& p : batch) {
            if (p.flags & core::kFlagHwTstamp) ++stamped;
            // What the device-bound program wrote (ingress_xdp_meta): len its own, the magic
            // cleared by the backend as it read it, no stamp.
            ingress_xdp_meta m;
            std::memcpy(&m, p.data - sizeof m, sizeof m);
            if (m.len == p.len && m.magic == 0 && m.hw_ns == 0) ++with_meta;
        }
        if (batch.count) pipe.process(batch);
    }

    EXPECT_EQ(stamped, 0u) << "veth has no hardware stamp for a frame a socket sent";
    EXPECT_EQ(with_meta, prog.hw_timestamps() ? 45u : 0u);
    EXPECT_TRUE(test::counters_are(counters.snapshot(), test::forty_good_five_bad_no_socket()));
    XdpStats xs = prog.stats();
    EXPECT_EQ(xs.redirect, 45u);
    EXPECT_GE(xs.pass, 7u);  // plus whatever the kernel itself sent (e.g. IPv6 DAD)
    EXPECT_EQ(xs.no_xsk, 0u);
    BackendStats bs = be.stats();
    EXPECT_EQ(bs.rx, 45u);
    EXPECT_EQ(bs.passed, 0u) << "nothing reaches the kernel from an XSK";
    EXPECT_EQ(bs.pass_dropped, 0u) << "the dataplane owns UDP to its addresses";
    EXPECT_EQ(bs.tx, 6u) << "the port unreachables leave through the XSK";
    EXPECT_EQ(bs.freed, 45u) << "every buffer came back";
    RecordProperty("zero_copy", be.zero_copy(0) ? "yes" : "no");
    RecordProperty("dev_bound", prog.hw_timestamps() ? "yes" : "no");
}

INSTANTIATE_TEST_SUITE_P(HwTimestamps, AfXdpPrograms, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& i) {
                             return i.param ? "DeviceBound" : "Plain";
                         });

// Where the device-bound variant cannot be had (here: its object missing beside the plain
// one, as an old install would have it; elsewhere a kernel before 6.3 or skb mode), one line
// says so and the plain program is attached, with nothing else printed about the variant.
TEST_F(AfXdp, NoDeviceBoundVariantOneLineAndThePlainProgram) {
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("hd-xdp-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::filesystem::copy_file(xdp_object(), dir / "ingress.bpf.o",
                               std::filesystem::copy_options::overwrite_existing);
    set_library_logging(false);  // as ingressd sets it
    testing::internal::CaptureStderr();
    {
        XdpProgram prog((dir / "ingress.bpf.o").string(), veth->if_a(), XdpMode::kNative, true);
        EXPECT_FALSE(prog.hw_timestamps());
        prog.add_dst(kUs, INGRESS_XDP_DST_LOCAL);
    }
    const std::string said = testing::internal::GetCapturedStderr();
    std::filesystem::remove_all(dir);
    const std::string line = veth->if_a() + ": no hardware receive timestamps: cannot open " +
                             (dir / "ingress_hwts.bpf.o").string();
    EXPECT_EQ(said.rfind(line, 0), 0u) << said;
    EXPECT_EQ(said.find("ingress_hwts", line.size()), std::string::npos)
        << said << "libbpf's own message about the missing object held back";
}

class AfXdpTwoQueues : public AfXdp {
    unsigned queues() const override { return 2; }
};

TEST_F(AfXdpTwoQueues, BothQueuesReceiveAndCaptureAllTakesEverything) {
    XdpProgram prog(xdp_object(), veth->if_a(), XdpMode::kNative);
    prog.set_capture_all(true);
    port.ifindex = prog.ifindex();
    XskOptions opt;
    opt.ifname = veth->if_a();
    opt.queues = {0, 1};
    opt.frames = 1024;
    opt.ring_size = 512;
    AfXdpBackend be(opt, prog);
    worker::Pipeline pipe(be, counters, tables(kUs));

    // Different flows so the veth's RX queue selection spreads them; the ARP-like frame is
    // not IPv4 and must come through too in full-capture mode.
    std::vector<std::vector<uint8_t>> frames;
    for (uint16_t i = 0; i < 64; ++i)
        frames.push_back(wire::FrameBuilder()
                             .eth(veth->mac_b(), veth->mac_a())
                             .ipv4(kPeer, kUs)
                             .udp(static_cast<uint16_t>(1000 + i), 2000)
                             .build());
    frames.push_back(wire::FrameBuilder()
                         .eth(veth->mac_b(), veth->mac_a())
                         .ethertype(0x0806)
                         .payload_size(28)
                         .build());
    send_from_b(*veth, frames);
    poll_rx(be, pipe, 65);

    core::Snapshot s = counters.snapshot();
    EXPECT_GE(s.rx, 65u);  // the kernel may send its own frames too (IPv6 DAD, ...)
    EXPECT_TRUE(s.conserved());
    EXPECT_EQ(s.mib_value(core::Mib::kIpInReceives), 64u);
    EXPECT_GE(s.mib_value(core::Mib::kIngressL2NonIpv4), 1u);
    XdpStats xs = prog.stats();
    EXPECT_EQ(xs.no_xsk, 0u);
    EXPECT_EQ(xs.redirect, s.rx);
    EXPECT_GT(be.stats().rx, 0u);
}

// The generator's AF_XDP transmit path into the dataplane's AF_XDP receive path: every
// frame sent arrives, exactly once, and the pipeline accounts for each.
TEST_F(AfXdp, GeneratorToReceiverNothingLost) {
    XdpProgram prog(xdp_object(), veth->if_a(), XdpMode::kNative);
    prog.add_dst(kUs, INGRESS_XDP_DST_LOCAL);
    port.ifindex = prog.ifindex();
    XskOptions opt;
    opt.ifname = veth->if_a();
    opt.frames = 4096;
    opt.ring_size = 2048;
    AfXdpBackend be(opt, prog);
    worker::Pipeline pipe(be, counters, tables(kUs));

    gen::TrafficSpec spec;
    spec.src_mac = veth->mac_b();
    spec.dst_mac = veth->mac_a();
    spec.dst_mac_given = true;
    spec.dst_port = *gen::parse_port_range("5000-5099");
    spec.malformed_pct = 10;
    std::vector<std::vector<uint8_t>> frames;
    for (auto& t : gen::build_templates(spec)) frames.push_back(t.bytes);
    constexpr uint64_t kFrames = 20000;

    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        veth->enter_b();
        XskTx tx(veth->if_b(), 0, frames);
        uint64_t sent = 0;
        // Paced to stay below what one receive poll loop drains on a busy shared machine.
        auto t0 = std::chrono::steady_clock::now();
        while (sent < kFrames) {
            double el =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (sent > el * 50000) continue;
            sent += tx.send(static_cast<uint32_t>(std::min<uint64_t>(32, kFrames - sent)));
        }
        _exit(tx.drain(2000) ? 0 : 1);
    }
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    core::PacketBatch batch;
    // Every frame is either received or counted by the socket as dropped (XDP_STATISTICS:
    // on a loaded machine this loop can fall behind and the fill ring run empty, rx_dropped,
    // or the RX ring fill up, rx_ring_full: the backend's rx_missed is their sum); nothing
    // is lost without a count.
    auto socket_missed = [&] {
        const auto x = be.xsk_counters(0);
        return x.rx_dropped + x.rx_ring_full;
    };
    while (counters.snapshot().rx + socket_missed() < kFrames &&
           std::chrono::steady_clock::now() < until) {
        batch.count = be.rx_burst(0, batch.pkts.data(), core::kBurst);
        if (batch.count) pipe.process(batch);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    core::Snapshot s = counters.snapshot();
    EXPECT_EQ(s.rx + socket_missed(), kFrames) << be.xsk_stats(0);
    EXPECT_GT(s.rx, 0u) << be.xsk_stats(0);
    EXPECT_TRUE(s.conserved());
    // 10% malformed: one of bad IP checksum, ihl 4, truncated, bad UDP checksum (the last is
    // valid IPv4 as far as ip_rcv_core goes).
    EXPECT_EQ(s.passed + s.dropped_total(), s.rx);
    EXPECT_GT(s.dropped_total(), 0u);
    EXPECT_EQ(prog.stats().redirect, kFrames);
}

}  // namespace
}  // namespace ingress::io::afxdp
