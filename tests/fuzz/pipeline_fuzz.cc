// libFuzzer: the whole pipeline on one burst of arbitrary frames (L2 -> route -> defrag ->
// UDP/raw/taps), with endpoints of every kind. The input is split into frames by a 2-byte
// length prefix; a final byte moves the clock (reassembly timeouts, ICMP rate limits).
// After every input: the conservation identity holds and no buffer leaked or was freed
// twice (held fragments are flushed by advancing the clock past ipfrag_time).
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "demux/endpoint_table.h"
#include "io/memory.h"
#include "ipv4/route_tables.h"
#include "worker/pipeline.h"

using namespace ingress;

namespace {

struct World {
    World() {
        port.ifindex = 1;
        port.mac = wire::Mac{{0x02, 0, 0, 0, 0, 1}};
        port.vlans.push_back({10, 10, port.mac});
        ipv4::RouteConfig rc;
        rc.ifaces.push_back({.ifindex = 1, .name = "f0", .addrs = {{.addr = wire::ipv4(198, 18, 0, 1), .prefix_len = 24}}});
        rc.ifaces.push_back({.ifindex = 10, .name = "f0.10", .addrs = {{.addr = wire::ipv4(198, 18, 10, 1), .prefix_len = 24}}});
        rc.mc.join(1, wire::ipv4(239, 1, 1, 1), ipv4::McFilterMode::kExclude, {});
        routes = std::make_unique<ipv4::RoutePublisher>(rc);
        udp.bind(0, 5000).mc().join(wire::ipv4(239, 1, 1, 1), 1);
        raw.set_icmp_filter(1u << 8);
        demux::EndpointTable::Builder b;
        b.add(udp).add(raw).add(tap);
        table = b.build();
    }
    l2::Port port;
    std::unique_ptr<ipv4::RoutePublisher> routes;
    demux::UdpEndpoint udp{"udp", 64};
    demux::RawEndpoint raw{1, "raw", 64};
    demux::TapEndpoint tap{demux::TapType::kRaw, demux::kEthPAll, "tap", 64};
    std::unique_ptr<const demux::EndpointTable> table;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static World w;
    io::MemoryBackend backend(1, 1, 256, 2048);
    core::CounterBlock counters;
    {
        worker::Pipeline pipe(backend, counters,
                              {.port = &w.port, .routes = w.routes.get(), .endpoints = w.table.get()});
        uint64_t now = 1'000'000'000;
        std::size_t off = 0;
        while (off + 2 <= size) {
            std::size_t len = (data[off] << 8 | data[off + 1]) % 1600;
            off += 2;
            if (len > size - off) len = size - off;
            (void)backend.inject({data + off, len});
            off += len;
        }
        core::PacketBatch batch;
        while ((batch.count = backend.rx_burst(0, batch.pkts.data(), core::kBurst)) > 0) {
            pipe.process(batch, now);
            now += 1'000'000;
        }
        // Let every reassembly queue expire: nothing may stay held.
        batch.count = 0;
        pipe.process(batch, now + 31'000'000'000ull);
        core::Snapshot s = counters.snapshot();
        if (!s.conserved() || s.held != 0) std::abort();
    }
    for (auto* q : {&w.udp.queue(), &w.raw.queue(), &w.tap.queue()}) q->clear();
    if (backend.pool().outstanding() != 0 || backend.pool().double_frees() != 0) std::abort();
    return 0;
}
