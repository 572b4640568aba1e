// What the AF_XDP and DPDK integration tests share: a veth pair in two test namespaces with
// this process in namespace a, frames sent from namespace b by a child process, the XDP
// object's path, the EAL arguments of a test process, and a poll loop that runs a backend's
// queues through a pipeline until a condition holds or a deadline passes.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/counters.h"
#include "demux/endpoint_table.h"
#include "io/backend.h"
#include "ipv4/route.h"
#include "l2/port.h"
#include "support/counters.h"
#include "support/netns.h"
#include "wire/frame_builder.h"
#include "worker/pipeline.h"

namespace ingress::test {

// The XDP object: $INGRESS_XDP_OBJECT (meson test sets it) or the build tree's.
std::string xdp_object();

// EAL arguments for a test process: one lcore, no hugepages, no PCI scan, no shared config,
// a file prefix unique to this process (so concurrent test binaries never meet).
std::vector<std::string> test_eal_args(const std::string& tag);

// Forks a child that enters `v`'s namespace b and sends `frames` out of its end; returns the
// child's pid (exit status 0: every frame was sent).
pid_t send_from_b_async(const VethPair& v, const std::vector<std::vector<uint8_t>>& frames);
// The same, waiting for the child; a failed send fails the test.
void send_from_b(const VethPair& v, const std::vector<std::vector<uint8_t>>& frames);

// The frames of that traffic (below), from `v`'s end b to its end a, `peer` to `us`, UDP
// 1000 -> 2000; `ours` is their builder, for variants.
inline wire::FrameBuilder ours_from_b(const VethPair& v, wire::Ipv4Addr peer, wire::Ipv4Addr us) {
    return wire::FrameBuilder()
        .eth(v.mac_b(), v.mac_a())
        .ipv4(peer, us)
        .udp(1000, 2000)
        .payload_size(18);
}
inline std::vector<std::vector<uint8_t>> forty_good_five_bad(const wire::FrameBuilder& ours) {
    std::vector<std::vector<uint8_t>> frames;
    for (int i = 0; i < 40; ++i) frames.push_back(ours.build());
    for (int i = 0; i < 5; ++i)
        frames.push_back(wire::FrameBuilder(ours).bad_ip_checksum().build());
    return frames;
}

// The AF_XDP and DPDK backend tests' traffic to the port's address with no endpoint open:
// 40 good 46-byte datagrams and 5 with a bad IP checksum. The 40 find no socket, as in the
// kernel (__udp4_lib_rcv: UdpNoPorts, NO_SOCKET, port unreachable sent under the per-host
// limit: a burst of 6, the rest IcmpOutRateLimitHost).
inline Expected forty_good_five_bad_no_socket() {
    return {{"rx", 45},
            {"IP_CSUM", 5},
            {"IpInReceives", 45},
            {"IpExtInOctets", 45 * 46},
            {"IpExtInNoECTPkts", 45},
            {"IpInHdrErrors", 5},
            {"IpExtInCsumErrors", 5},
            {"IpInDelivers", 40},
            {"UdpNoPorts", 40},
            {"NO_SOCKET", 40},
            {"IcmpOutMsgs", 6},
            {"IcmpOutDestUnreachs", 6},
            {"IcmpMsgOutType3", 6},
            {"IcmpOutRateLimitHost", 34}};
}

// A veth pair per test ("<tag>" names it), this process in namespace a; skipped unless root.
// Subclasses that do more in SetUp() call VethTest::SetUp() first and return if IsSkipped().
class VethTest : public ::testing::Test {
protected:
    void SetUp() override;
    void TearDown() override { veth.reset(); }
    virtual std::string tag() const = 0;
    virtual unsigned queues() const { return 1; }

    // Polls queues 0..queues()-1 of `be` into `pipe` until `done()` holds or `timeout`
    // passed; counts what each queue gave in per_queue.
    void poll(io::Backend& be, worker::Pipeline& pipe, const std::function<bool()>& done,
              std::chrono::seconds timeout = std::chrono::seconds(5));
    // Until the pipeline counted `want` received frames.
    void poll_rx(io::Backend& be, worker::Pipeline& pipe, uint64_t want,
                 std::chrono::seconds timeout = std::chrono::seconds(5)) {
        poll(
            be, pipe, [&] { return counters.snapshot().rx >= want; }, timeout);
    }

    // Real tables for a pipeline on `port` (set port.ifindex first): `us`/24 configured on
    // the port, no endpoints (a host with no sockets open: what is local goes up to the
    // kernel's sockets, that is, is passed).
    worker::PipelineTables tables(wire::Ipv4Addr us);

    std::unique_ptr<VethPair> veth;
    l2::Port port;
    std::unique_ptr<ipv4::RoutePublisher> routes;
    std::unique_ptr<const demux::EndpointTable> no_endpoints =
        demux::EndpointTable::Builder().build();
    core::CounterBlock counters;
    std::array<uint64_t, 8> per_queue{};
};

}  // namespace ingress::test
