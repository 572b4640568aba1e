// Hardware receive timestamps through DPDK (SO_TIMESTAMPING's raw stamp, record.h hw_ns):
// a capture file with known record times replayed by the net_pcap vdev, whose RX timestamp
// offload stamps each mbuf with its record's time (eth_pcap_rx: microseconds since the epoch,
// which the backend turns into nanoseconds), into a UDP endpoint. The app's record carries the
// file's times as hw_ns with INGRESS_F_HW_TSTAMP, and the backend's software clock as rx_ns.
// The file is the wire; a test namespace holds the port's exception TAP.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "demux/delivery.h"
#include "demux/endpoint.h"
#include "demux/endpoint_table.h"
#include "io/dpdk/backend.h"
#include "io/pcap.h"
#include "io/rx_packet.h"
#include "ipv4/route_tables.h"
#include "l2/port.h"
#include "shm/ring.h"
#include "support/backend_fixture.h"
#include "support/counters.h"
#include "wire/frame_builder.h"
#include "worker/pipeline.h"

namespace ingress::io::dpdk {
namespace {

const wire::Ipv4Addr kUs = wire::ipv4(198, 18, 0, 1);
const wire::Ipv4Addr kPeer = wire::ipv4(198, 18, 0, 2);
const wire::Mac kUsMac{{0x02, 0x00, 0x00, 0x00, 0xa0, 0x01}};
const wire::Mac kPeerMac{{0x02, 0x00, 0x00, 0x00, 0xa0, 0x02}};
constexpr int kFrames = 20;
constexpr uint16_t kPort = 5000;
// Whole microseconds (net_pcap reads the file at microsecond precision).
constexpr uint64_t kFirstNs = 1'700'000'000'123'456'000ull;
constexpr uint64_t kStepNs = 1'001'000ull;

// The test's own namespace (VethTest: skipped unless root), where the port's exception TAP
// lives: its ifindex is the one the frames arrive on (Packet.ifindex), as in ingressd.
class DpdkPcapTimestamps : public test::VethTest {
protected:
    std::string tag() const override { return "hAts"; }
};

TEST_F(DpdkPcapTimestamps, CaptureRecordTimesArriveAsHardwareStampsBesideTheSoftwareClock) {
    eal_init(test::test_eal_args("ipcap"), {});
    const auto dir = std::filesystem::temp_directory_path();
    const std::string rx = (dir / ("hA-tstamp-rx-" + std::to_string(getpid()) + ".pcap")).string();
    const std::string tx = (dir / ("hA-tstamp-tx-" + std::to_string(getpid()) + ".pcap")).string();
    struct Remove {  // the files go whatever the test's outcome
        std::string a, b;
        ~Remove() {
            std::error_code ec;
            std::filesystem::remove(a, ec);
            std::filesystem::remove(b, ec);
        }
    } remove{rx, tx};
    {
        PcapWriter w(rx);
        for (int i = 0; i < kFrames; ++i)
            w.write(wire::FrameBuilder()
                        .eth(kPeerMac, kUsMac)
                        .ipv4(kPeer, kUs)
                        .udp(4321, kPort)
                        .payload_size(18)
                        .build(),
                    kFirstNs + i * kStepNs);
    }

    PortOptions o;
    o.name = "port0";
    o.device = "net_pcap_ha0,rx_pcap=" + rx + ",tx_pcap=" + tx;
    o.mbufs = 1023;
    o.mbuf_cache = 32;
    o.rx_descriptors = 128;
    o.tx_descriptors = 128;
    o.exception = "hAtx" + std::to_string(getpid());
    const uint64_t before = rx_clock_ns();
    auto be = std::make_unique<DpdkBackend>(o);
    EXPECT_NE(be->describe().find("hardware rx timestamps"), std::string::npos) << be->describe();

    be->set_capture_all(true);  // every frame of the file to the pipeline, none to the TAP
    port.ifindex = be->ifindex();
    port.name = "port0";
    port.mac = kUsMac;
    ipv4::RouteConfig cfg;
    ipv4::IfConfig ifc;
    ifc.ifindex = port.ifindex;
    ifc.name = port.name;
    ifc.addrs.push_back({.addr = kUs, .prefix_len = 24});
    cfg.ifaces.push_back(ifc);
    ipv4::RoutePublisher routes_(std::move(cfg));
    auto rings = std::make_shared<demux::ShmRings>(9, 1, shm::RingGeometry{64, 256});
    demux::UdpEndpoint ep(rings, "tstamp");
    ep.bind(0, kPort);
    auto endpoints = demux::EndpointTable::Builder().add(ep).build();
    worker::Pipeline pipe(*be, counters,
                          {.port = &port, .routes = &routes_, .endpoints = endpoints.get()});

    core::PacketBatch batch;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (counters.snapshot().rx < kFrames && std::chrono::steady_clock::now() < until) {
        batch.count = be->rx_burst(0, batch.pkts.data(), core::kBurst);
        if (batch.count) pipe.process(batch);
    }
    const uint64_t after = rx_clock_ns();

    EXPECT_TRUE(test::counters_are(counters.snapshot(), {{"rx", kFrames},
                                                         {"delivered", kFrames},
                                                         {"IpInReceives", kFrames},
                                                         {"IpExtInOctets", kFrames * 46},
                                                         {"IpExtInNoECTPkts", kFrames},
                                                         {"IpInDelivers", kFrames},
                                                         {"UdpInDatagrams", kFrames}}));
    shm::RingConsumer cons(rings->region(0).data());
    uint32_t idx;
    ASSERT_EQ(cons.peek(kFrames, &idx), static_cast<uint32_t>(kFrames));
    for (int i = 0; i < kFrames; ++i) {
        const shm::SlotMeta& m = cons.meta(idx + i);
        EXPECT_EQ(m.flags & INGRESS_F_HW_TSTAMP, INGRESS_F_HW_TSTAMP) << i;
        EXPECT_EQ(m.hw_ns, kFirstNs + i * kStepNs) << "the file's record time, " << i;
        EXPECT_GE(m.rx_ns, before) << "the software clock, " << i;
        EXPECT_LE(m.rx_ns, after) << i;
        EXPECT_EQ(m.src_port, 4321);
    }
    cons.release(kFrames);
    EXPECT_EQ(cons.header()->delivered.load(), static_cast<uint64_t>(kFrames));
    const BackendStats bs = be->stats();
    EXPECT_EQ(bs.rx, static_cast<uint64_t>(kFrames));
}

}  // namespace
}  // namespace ingress::io::dpdk
