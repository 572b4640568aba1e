// A worker pipeline over the memory backend, for tests that push frames through the whole
// implemented path: inject, run, then look at the counters, at what was passed or sent, and
// at the buffer pool (nothing leaked, nothing freed twice).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <span>
#include <vector>

#include "core/counters.h"
#include "demux/endpoint_table.h"
#include "io/memory.h"
#include "ipv4/route_tables.h"
#include "l2/port.h"
#include "support/fake_clock.h"
#include "worker/pipeline.h"

namespace ingress::test {

inline const wire::Mac kPortMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
inline const wire::Mac kPeerMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};

// The port's IPv4 configuration in the harness: 198.18.0.1/24 on ifindex 1, kernel defaults.
inline ipv4::RouteConfig default_route_config() {
    ipv4::RouteConfig cfg;
    ipv4::IfConfig port;
    port.ifindex = 1;
    port.name = "test0";
    port.addrs.push_back({.addr = wire::ipv4(198, 18, 0, 1), .prefix_len = 24});
    cfg.ifaces.push_back(port);
    return cfg;
}

class PipelineHarness {
public:
    PipelineHarness() {
        port.ifindex = 1;
        port.name = "test0";
        port.mac = kPortMac;
    }

    // Injects the frames and runs them through in bursts of up to kBurst, at clock's time.
    void run(const std::vector<std::vector<uint8_t>>& frames) {
        for (const auto& f : frames) EXPECT_TRUE(backend.inject(f));
        drain();
    }
    void run_one(const std::vector<uint8_t>& f) { run({f}); }
    void drain() {
        core::PacketBatch batch;
        while ((batch.count = backend.rx_burst(0, batch.pkts.data(), core::kBurst)) > 0)
            pipeline().process(batch, clock.now_ns());
    }
    // An empty burst: runs the timers (reassembly expiry) at clock's time.
    void tick() {
        core::PacketBatch batch;
        batch.count = 0;
        pipeline().process(batch, clock.now_ns());
    }
    // The pipeline is built on first use, so a test can set `tables` (e.g. tables.defrag)
    // first; it lives as long as the harness (reassembly queues persist across runs). A new
    // endpoint snapshot (`endpoints`) is handed to it as a new pipeline, as a publication is.
    worker::Pipeline& pipeline() {
        const demux::EndpointTable* eps = endpoints ? endpoints : no_endpoints_.get();
        if (!pipeline_ || tables.endpoints != eps) {
            tables.port = &port;
            if (!tables.routes) tables.routes = &routes;
            tables.endpoints = eps;
            pipeline_ = std::make_unique<worker::Pipeline>(backend, counters, tables);
        }
        return *pipeline_;
    }
    core::Snapshot snap() const { return counters.snapshot(); }
    // Every buffer the backend lent out came back exactly once.
    void expect_buffers_conserved() const {
        EXPECT_EQ(backend.pool().outstanding(), 0u) << "buffers leaked";
        EXPECT_EQ(backend.pool().double_frees(), 0u) << "buffers freed twice";
    }

    l2::Port port;
    // Local delivery (demux): the endpoint snapshot; nullptr: a host without endpoints (an
    // empty table).
    const demux::EndpointTable* endpoints = nullptr;
    io::MemoryBackend backend{1};
    ipv4::RoutePublisher routes{default_route_config()};
    core::CounterBlock counters;
    FakeClock clock;
    worker::PipelineTables tables;

private:
    std::unique_ptr<const demux::EndpointTable> no_endpoints_ =
        demux::EndpointTable::Builder().build();
    std::unique_ptr<worker::Pipeline> pipeline_;
};

}  // namespace ingress::test
