// What the libFuzzer targets share: reading decisions out of the input (FuzzInput), and the
// check every pipeline target ends with (run_and_check: the frames through a pipeline, the
// reassembly timers past ipfrag_time, then the conservation identity and the buffer pool).
// A failed check aborts, which libFuzzer reports with the input that caused it.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "io/memory.h"
#include "ipv4/route_tables.h"
#include "l2/port.h"
#include "wire/frame_builder.h"
#include "worker/pipeline.h"

namespace ingress::fuzz {

// Decisions taken from the front of the input; once it runs out every read returns 0, so any
// input is a valid program.
class FuzzInput {
public:
    FuzzInput(const uint8_t* data, std::size_t size) : b_(data, size) {}
    bool empty() const noexcept { return b_.empty(); }
    std::size_t remaining() const noexcept { return b_.size(); }
    uint8_t u8() noexcept {
        if (b_.empty()) return 0;
        uint8_t v = b_[0];
        b_ = b_.subspan(1);
        return v;
    }
    uint16_t u16() noexcept { return static_cast<uint16_t>(u8() << 8 | u8()); }
    uint32_t u32() noexcept { return uint32_t{u16()} << 16 | u16(); }
    bool flag() noexcept { return u8() & 1; }
    // One of n choices (n > 0).
    uint32_t pick(uint32_t n) noexcept { return u8() % n; }
    // Up to n bytes.
    std::span<const uint8_t> bytes(std::size_t n) noexcept {
        if (n > b_.size()) n = b_.size();
        auto s = b_.first(n);
        b_ = b_.subspan(n);
        return s;
    }
    // A frame: a 2-byte length (mod 1600), then that many bytes (or what is left).
    std::span<const uint8_t> frame() noexcept { return bytes(u16() % 1600); }

private:
    std::span<const uint8_t> b_;
};

// The addresses the fuzz targets' hosts are configured with, and the ones the route stage
// treats specially: a well-formed frame built from these reaches the decisions deep in the
// path far more often than random bytes (which rarely pass the header checksum).
inline constexpr wire::Ipv4Addr kAddrs[] = {
    wire::ipv4(198, 18, 0, 1),   wire::ipv4(198, 18, 0, 2), wire::ipv4(198, 18, 0, 255),
    wire::ipv4(198, 18, 10, 1),  wire::ipv4(198, 19, 0, 7), wire::ipv4(239, 1, 1, 1),
    wire::ipv4(239, 1, 1, 2),    wire::ipv4(224, 0, 0, 1),  wire::ipv4(255, 255, 255, 255),
    wire::ipv4(127, 0, 0, 1),    wire::ipv4(0, 0, 0, 0),    wire::ipv4(0, 1, 2, 3),
    wire::ipv4(240, 0, 0, 1),    wire::ipv4(198, 18, 0, 0), wire::ipv4(10, 0, 0, 1),
    wire::ipv4(198, 18, 10, 255)};
inline wire::Ipv4Addr pick_addr(FuzzInput& in) noexcept {
    return kAddrs[in.pick(std::size(kAddrs))];
}

// A frame the input describes through FrameBuilder: MACs, an optional VLAN tag, addresses
// from kAddrs, UDP / ICMP / another protocol, TTL, IP options, a fragment of the datagram,
// and at most one deliberate corruption. Or, for a selector of 0, raw bytes.
inline std::vector<uint8_t> built_frame(FuzzInput& in) {
    const uint8_t sel = in.u8();
    if (sel == 0) {
        auto b = in.frame();
        return {b.begin(), b.end()};
    }
    static const wire::Mac kMacs[] = {{{0x02, 0, 0, 0, 0, 1}},
                                      wire::Mac::broadcast(),
                                      wire::Mac::for_ipv4_multicast(wire::ipv4(239, 1, 1, 1)),
                                      {{0x02, 0, 0, 0, 0, 9}}};
    wire::FrameBuilder f;
    f.eth({{0x02, 0, 0, 0, 0, 2}}, kMacs[in.pick(4)]);
    if (sel & 0x02) f.vlan(in.pick(3) * 10);
    f.ipv4(pick_addr(in), pick_addr(in)).ttl(in.pick(3)).ip_id(in.pick(4));
    switch (in.pick(4)) {
        case 0:
            f.icmp(in.pick(16), in.pick(4));
            break;
        case 1:
            f.protocol(in.u8());
            break;
        default:
            f.udp(in.pick(3) + 4999, in.pick(3) + 4999);
            break;
    }
    if (sel & 0x04) {
        auto o = in.bytes(in.pick(41));
        f.ip_options({o.begin(), o.end()});
    }
    f.payload_size(in.u16() % 3000);
    switch (in.pick(8)) {
        case 0:
            f.bad_ip_checksum();
            break;
        case 1:
            f.bad_udp_checksum();
            break;
        case 2:
            f.ip_tot_len(in.u16());
            break;
        case 3:
            f.truncate(in.u16() % 1600);
            break;
        case 4:
            f.udp_length(in.u16());
            break;
        default:
            break;
    }
    if (sel & 0x08) {
        const uint32_t off = (in.u16() % 400) * 8;
        return f.build_fragment(off, in.u16() % 1500, in.flag());
    }
    auto b = f.build();
    if (b.size() > 1600) b.resize(1600);
    return b;
}

// The host the pipeline targets receive on: port f0 (ifindex 1, 198.18.0.1/24) with the
// VLAN 10 sub-interface f0.10 (198.18.10.1/24), both joined to 239.1.1.1 and 239.1.1.2.
struct Host {
    Host() {
        port.ifindex = 1;
        port.mac = wire::Mac{{0x02, 0, 0, 0, 0, 1}};
        port.vlans.push_back({10, 10, port.mac});
        ipv4::RouteConfig rc;
        rc.ifaces.push_back({.ifindex = 1,
                             .name = "f0",
                             .addrs = {{.addr = wire::ipv4(198, 18, 0, 1), .prefix_len = 24}}});
        rc.ifaces.push_back({.ifindex = 10,
                             .name = "f0.10",
                             .addrs = {{.addr = wire::ipv4(198, 18, 10, 1), .prefix_len = 24}}});
        for (uint32_t ifindex : {1u, 10u})
            for (auto g : {wire::ipv4(239, 1, 1, 1), wire::ipv4(239, 1, 1, 2)})
                rc.mc.join(ifindex, g, ipv4::McFilterMode::kExclude, {});
        routes = std::make_unique<ipv4::RoutePublisher>(rc);
    }
    l2::Port port;
    std::unique_ptr<ipv4::RoutePublisher> routes;
};

// Reassembly pools sized for one input (the defaults preallocate 4 MiB of 64 KiB buffers,
// which would dominate the time of every run).
inline constexpr ipv4::DefragConfig kSmallDefrag{
    .max_queues = 64, .max_frags = 256, .reasm_buffers = 4};

// Every frame through a pipeline over `backend` in bursts 1 ms apart, then an empty burst
// after ipfrag_time so that every reassembly queue expires. Aborts unless
// rx == delivered + held + passed + dropped with nothing held, and (after the pipeline is
// gone and `drain_queues` has emptied the endpoint queues) every buffer came back exactly
// once.
template <class Drain>
void run_and_check(io::MemoryBackend& backend, const worker::PipelineTables& tables,
                   const std::vector<std::span<const uint8_t>>& frames, Drain drain_queues) {
    core::CounterBlock counters;
    {
        worker::Pipeline pipe(backend, counters, tables);
        uint64_t now = 1'000'000'000;
        for (auto f : frames) (void)backend.inject(f);
        core::PacketBatch batch;
        while ((batch.count = backend.rx_burst(0, batch.pkts.data(), core::kBurst)) > 0) {
            pipe.process(batch, now);
            now += 1'000'000;
        }
        batch.count = 0;
        pipe.process(batch, now + (uint64_t{tables.defrag.ipfrag_time} + 1) * 1'000'000'000);
        core::Snapshot s = counters.snapshot();
        if (!s.conserved() || s.held != 0) std::abort();
        if (pipe.defrag().mem() != 0 || pipe.defrag().queues() != 0) std::abort();
    }
    drain_queues();
    if (backend.pool().outstanding() != 0 || backend.pool().double_frees() != 0) std::abort();
}

}  // namespace ingress::fuzz
