// Every backend keeps io/backend.h's promises. The same test for memory, pcap, AF_XDP (on a
// veth pair in a namespace, the XDP program steering our destination to the socket) and
// DPDK (net_af_packet on a veth, --no-huge --no-pci, no exception TAP): frames arrive on
// queue 0, and for each received Packet
//   - data/len are the frame as sent, queue and ifindex the backend's;
//   - rx_ns is from the backend's clock (memory: what was injected; pcap: the capture's
//     timestamps; AF_XDP and DPDK: CLOCK_REALTIME, between the send and the receive) and
//     never decreases;
//   - every other field is at its default, whatever the array held before;
// and every buffer comes back exactly once through free_bulk, tx_burst or pass_burst
// (memory, pcap: the buffer pool's ownership checks; all: the backend's own counts).
#include <gtest/gtest.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>

#include "ingress_xdp.h"
#include "io/afxdp/backend.h"
#include "io/afxdp/xdp_program.h"
#include "io/dpdk/backend.h"
#include "io/memory.h"
#include "io/pcap.h"
#include "io/rx_packet.h"
#include "support/backend_fixture.h"
#include "wire/frame_builder.h"

namespace ingress::io {
namespace {

const wire::Ipv4Addr kUs = wire::ipv4(198, 18, 0, 1);
const wire::Ipv4Addr kPeer = wire::ipv4(198, 18, 0, 2);
constexpr int kFrames = 24;
constexpr uint32_t kIfindex = 7;  // the memory and pcap backends' interface

std::vector<std::vector<uint8_t>> test_frames(const wire::Mac& src, const wire::Mac& dst) {
    std::vector<std::vector<uint8_t>> f;
    for (int i = 0; i < kFrames; ++i)
        f.push_back(wire::FrameBuilder()
                        .eth(src, dst)
                        .ipv4(kPeer, kUs)
                        .ip_id(static_cast<uint16_t>(0x4000 + i))
                        .udp(1000, 2000)
                        .payload_size(static_cast<std::size_t>(10 + i))
                        .build());
    return f;
}

// A backend under test and a way to make frames arrive on its queue 0.
struct Rig {
    virtual ~Rig() = default;
    virtual Backend& backend() = 0;
    virtual void arrive(const std::vector<std::vector<uint8_t>>& frames) = 0;
    // The rx_ns the i-th frame must carry, if the test knows it exactly (memory, pcap);
    // otherwise it must be CLOCK_REALTIME between arrive() and the end of the receive.
    virtual std::optional<uint64_t> exact_rx_ns(int /*i*/) const { return std::nullopt; }
    virtual uint32_t ifindex() const = 0;
    // Buffers lent out and buffers given back twice, where the backend can tell.
    virtual std::optional<uint32_t> outstanding() const { return std::nullopt; }
    virtual uint64_t double_frees() const { return 0; }
    wire::Mac src{{0x02, 0, 0, 0, 0, 0x02}}, dst{{0x02, 0, 0, 0, 0, 0x01}};
};

struct MemoryRig : Rig {
    MemoryBackend be{kIfindex};
    Backend& backend() override { return be; }
    void arrive(const std::vector<std::vector<uint8_t>>& frames) override {
        for (std::size_t i = 0; i < frames.size(); ++i)
            ASSERT_TRUE(be.inject(frames[i], 0, *exact_rx_ns(static_cast<int>(i))));
    }
    std::optional<uint64_t> exact_rx_ns(int i) const override {
        return 1'000'000'000ull + 1000ull * (i / 4);
    }
    uint32_t ifindex() const override { return kIfindex; }
    std::optional<uint32_t> outstanding() const override { return be.pool().outstanding(); }
    uint64_t double_frees() const override { return be.pool().double_frees(); }
};

struct PcapRig : Rig {
    std::string dir = "/tmp/ingress-conformance-" + std::to_string(getpid());
    std::unique_ptr<PcapBackend> be;
    PcapRig() { std::filesystem::create_directories(dir); }
    ~PcapRig() override {
        be.reset();
        std::filesystem::remove_all(dir);
    }
    Backend& backend() override { return *be; }
    void arrive(const std::vector<std::vector<uint8_t>>& frames) override {
        {
            PcapWriter w(dir + "/rx.pcap");
            for (std::size_t i = 0; i < frames.size(); ++i)
                w.write(frames[i], *exact_rx_ns(static_cast<int>(i)));
        }
        be = std::make_unique<PcapBackend>(PcapBackend::Options{.rx_path = dir + "/rx.pcap",
                                                                .ifindex = kIfindex,
                                                                .tx_path = dir + "/tx.pcap",
                                                                .pass_path = dir + "/pass.pcap"});
    }
    std::optional<uint64_t> exact_rx_ns(int i) const override {
        return 1'700'000'000'000'000'000ull + 1'234'567ull * static_cast<uint64_t>(i);
    }
    uint32_t ifindex() const override { return kIfindex; }
    std::optional<uint32_t> outstanding() const override { return be->pool().outstanding(); }
    uint64_t double_frees() const override { return be->pool().double_frees(); }
};

struct AfXdpRig : Rig {
    const test::VethPair& veth;
    std::unique_ptr<afxdp::XdpProgram> prog;
    std::unique_ptr<afxdp::AfXdpBackend> be;
    explicit AfXdpRig(const test::VethPair& v) : veth(v) {
        src = v.mac_b();
        dst = v.mac_a();
        prog = std::make_unique<afxdp::XdpProgram>(test::xdp_object(), v.if_a(),
                                                   afxdp::XdpMode::kNative);
        prog->add_dst(kUs, INGRESS_XDP_DST_LOCAL);
        afxdp::XskOptions opt;
        opt.ifname = v.if_a();
        opt.frames = 1024;
        opt.ring_size = 512;
        be = std::make_unique<afxdp::AfXdpBackend>(opt, *prog);
    }
    Backend& backend() override { return *be; }
    void arrive(const std::vector<std::vector<uint8_t>>& frames) override {
        test::send_from_b(veth, frames);
    }
    uint32_t ifindex() const override { return prog->ifindex(); }
};

struct DpdkRig : Rig {
    const test::VethPair& veth;
    std::unique_ptr<dpdk::DpdkBackend> be;
    explicit DpdkRig(const test::VethPair& v) : veth(v) {
        src = v.mac_b();
        dst = v.mac_a();
        dpdk::eal_init(test::test_eal_args("iconf"), {});
        dpdk::PortOptions o;
        o.name = "port0";
        o.device = "net_af_packet0,iface=" + v.if_a();
        o.mbufs = 4095;
        o.rx_descriptors = 512;
        o.tx_descriptors = 512;
        be = std::make_unique<dpdk::DpdkBackend>(o);
    }
    Backend& backend() override { return *be; }
    void arrive(const std::vector<std::vector<uint8_t>>& frames) override {
        test::send_from_b(veth, frames);
    }
    uint32_t ifindex() const override { return 0; }  // no exception TAP
};

uint64_t realtime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

class BackendConformance : public test::VethTest,
                           public ::testing::WithParamInterface<const char*> {
protected:
    std::string tag() const override { return "iconf"; }
    void SetUp() override {
        const std::string kind = GetParam();
        if (kind == "memory") rig = std::make_unique<MemoryRig>();
        if (kind == "pcap") rig = std::make_unique<PcapRig>();
        if (kind == "memory" || kind == "pcap") return;
        VethTest::SetUp();  // AF_XDP and DPDK: a veth pair, root
        if (IsSkipped()) return;
        if (kind == "af_xdp") rig = std::make_unique<AfXdpRig>(*veth);
        if (kind == "dpdk") rig = std::make_unique<DpdkRig>(*veth);
    }
    void TearDown() override {
        rig.reset();
        VethTest::TearDown();
    }
    std::unique_ptr<Rig> rig;
};

// The fields rx_burst sets; everything else must be at its default.
void expect_other_fields_default(const core::Packet& p) {
    const core::Packet d;
    EXPECT_EQ(p.l3_off, d.l3_off);
    EXPECT_EQ(p.l4_off, d.l4_off);
    EXPECT_EQ(p.ethertype, d.ethertype);
    EXPECT_EQ(p.vlan_tci, d.vlan_tci);
    EXPECT_EQ(p.vlan_tpid, d.vlan_tpid);
    EXPECT_EQ(p.pkt_type, d.pkt_type);
    EXPECT_EQ(p.ip_proto, d.ip_proto);
    EXPECT_EQ(p.flags, d.flags);
    EXPECT_EQ(p.route_type, d.route_type);
    EXPECT_EQ(p.frames, d.frames);
    EXPECT_EQ(p.saddr, d.saddr);
    EXPECT_EQ(p.daddr, d.daddr);
    EXPECT_EQ(p.ip_id, d.ip_id);
    EXPECT_EQ(p.frag_off, d.frag_off);
    EXPECT_EQ(p.tos, d.tos);
    EXPECT_EQ(p.ttl, d.ttl);
}

TEST_P(BackendConformance, RxSetsWhatTheInterfacePromisesAndEveryBufferComesBackOnce) {
    const auto frames = test_frames(rig->src, rig->dst);
    const uint64_t t0 = realtime_ns();
    rig->arrive(frames);
    Backend& be = rig->backend();  // pcap: opened on the capture arrive() wrote

    // Receive into an array full of garbage: rx_burst must reset what it does not set.
    std::vector<core::Packet> got;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::vector<uint64_t> foreign;  // the kernel's own frames (IPv6 DAD ...) on a veth
    while (got.size() < frames.size() && std::chrono::steady_clock::now() < until) {
        std::array<core::Packet, core::kBurst> pkts;
        std::memset(static_cast<void*>(pkts.data()), 0xa5, sizeof pkts);
        const uint16_t n = be.rx_burst(0, pkts.data(), 8);  // several bursts
        for (uint16_t i = 0; i < n; ++i) {
            const core::Packet& p = pkts[i];
            const bool ours = p.len >= 14 && std::memcmp(p.data, rig->dst.b.data(), 6) == 0 &&
                              std::memcmp(p.data + 6, rig->src.b.data(), 6) == 0 && p.len > 34 &&
                              p.data[23] == wire::kIpProtoUdp;
            if (ours)
                got.push_back(p);
            else
                be.free_bulk(&p.buf, 1);
        }
    }
    const uint64_t t1 = realtime_ns();
    ASSERT_EQ(got.size(), frames.size()) << be.name();

    uint64_t last_ns = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        SCOPED_TRACE(be.name() + " frame " + std::to_string(i));
        const core::Packet& p = got[i];
        ASSERT_EQ(p.len, frames[i].size()) << "frames arrive in order, each whole";
        EXPECT_TRUE(std::equal(frames[i].begin(), frames[i].end(), p.data));
        EXPECT_EQ(p.queue, 0);
        EXPECT_EQ(p.ifindex, rig->ifindex());
        if (auto want = rig->exact_rx_ns(static_cast<int>(i))) {
            EXPECT_EQ(p.rx_ns, *want);
        } else {
            EXPECT_GE(p.rx_ns, t0) << "CLOCK_REALTIME, after the send";
            EXPECT_LE(p.rx_ns, t1) << "CLOCK_REALTIME, before the receive returned";
        }
        EXPECT_GE(p.rx_ns, last_ns) << "rx_ns never decreases";
        last_ns = p.rx_ns;
        expect_other_fields_default(p);
    }
    std::set<uint64_t> bufs;
    for (const auto& p : got) EXPECT_TRUE(bufs.insert(p.buf).second) << "a buffer handed out twice";

    // A third of the buffers back through free_bulk, a third through pass_burst, a third
    // through tx_burst (what it refuses, through free_bulk).
    const BackendStats before = be.stats();
    const uint16_t third = kFrames / 3;
    std::vector<uint64_t> to_free;
    for (uint16_t i = 0; i < third; ++i) to_free.push_back(got[i].buf);
    be.free_bulk(to_free.data(), third);
    be.pass_burst(0, got.data() + third, third);
    const uint16_t sent = be.tx_burst(0, got.data() + 2 * third, third);
    for (uint16_t i = sent; i < third; ++i) be.free_bulk(&got[2 * third + i].buf, 1);
    const BackendStats after = be.stats();
    EXPECT_EQ(after.freed - before.freed, 2u * third - sent);
    // Handed to the kernel (passed) where the backend can, else counted as pass_dropped
    // (AF_XDP): never lost without a count.
    EXPECT_EQ(after.passed - before.passed + after.pass_dropped - before.pass_dropped, third);
    EXPECT_EQ(after.tx - before.tx, sent);
    if (auto out = rig->outstanding()) {
        EXPECT_EQ(*out, 0u) << "every buffer back";
    }
    EXPECT_EQ(rig->double_frees(), 0u) << "none back twice";

    // try_alloc: the same promises for a frame the dataplane builds (rx_ns 0: not received).
    core::Packet built;
    std::memset(static_cast<void*>(&built), 0xa5, sizeof built);
    built.queue = 0;
    ASSERT_TRUE(be.try_alloc(built, 60));
    EXPECT_EQ(built.len, 60u);
    EXPECT_EQ(built.queue, 0);
    EXPECT_EQ(built.ifindex, rig->ifindex());
    EXPECT_EQ(built.rx_ns, 0u);
    expect_other_fields_default(built);
    be.free_bulk(&built.buf, 1);
    if (auto out = rig->outstanding()) {
        EXPECT_EQ(*out, 0u);
    }
    EXPECT_EQ(rig->double_frees(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendConformance,
                         ::testing::Values("memory", "pcap", "af_xdp", "dpdk"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace ingress::io
