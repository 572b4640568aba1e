// A worker pipeline over the memory backend, for tests that push frames through the whole
// implemented path: inject, run, then look at the counters, at what was passed or sent, and
// at the buffer pool (nothing leaked, nothing freed twice).
#pragma once

#include <gtest/gtest.h>

#include <span>
#include <vector>

#include "core/counters.h"
#include "io/memory.h"
#include "l2/port.h"
#include "worker/pipeline.h"

namespace ingress::test {

inline const wire::Mac kPortMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
inline const wire::Mac kPeerMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};

class PipelineHarness {
public:
    PipelineHarness() {
        port.ifindex = 1;
        port.name = "test0";
        port.mac = kPortMac;
    }

    // Injects the frames and runs them through in bursts of up to kBurst.
    void run(const std::vector<std::vector<uint8_t>>& frames) {
        for (const auto& f : frames) EXPECT_TRUE(backend.inject(f));
        drain();
    }
    void run_one(const std::vector<uint8_t>& f) { run({f}); }
    void drain() {
        worker::Pipeline pipeline(backend, counters,
                                  {.port = &port, .endpoints = endpoints,
                                   .temp_subnet_broadcast = subnet_broadcast});
        core::PacketBatch batch;
        while ((batch.count = backend.rx_burst(0, batch.pkts.data(), core::kBurst)) > 0)
            pipeline.process(batch, now_ns);
    }
    core::Snapshot snap() const { return counters.snapshot(); }
    // Every buffer the backend lent out came back exactly once.
    void expect_buffers_conserved() const {
        EXPECT_EQ(backend.pool().outstanding(), 0u) << "buffers leaked";
        EXPECT_EQ(backend.pool().double_frees(), 0u) << "buffers freed twice";
    }

    l2::Port port;
    // Local delivery (demux): the endpoint snapshot, the burst time, the subnet broadcast
    // the temporary route stand-in uses.
    const demux::EndpointTable* endpoints = nullptr;
    uint64_t now_ns = 0;
    wire::Ipv4Addr subnet_broadcast = 0;
    io::MemoryBackend backend{1};
    core::CounterBlock counters;
};

}  // namespace ingress::test
