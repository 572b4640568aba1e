// libFuzzer: the whole pipeline on one burst of arbitrary frames (L2 -> route -> defrag ->
// UDP/raw/taps), with endpoints of every kind. The input is split into frames by a 2-byte
// length prefix; bursts are 1 ms apart (reassembly timeouts, ICMP rate limits).
// After every input: the conservation identity holds and no buffer leaked or was freed
// twice (held fragments are flushed by advancing the clock past ipfrag_time).
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "demux/endpoint_table.h"
#include "fuzz_input.h"
#include "io/memory.h"
#include "support/rings.h"
#include "worker/pipeline.h"

using namespace ingress;

namespace {

struct World : fuzz::Host {
    World() {
        udp.bind(0, 5000).mc().join(wire::ipv4(239, 1, 1, 1), 1);
        raw.set_icmp_filter(1u << 8);
        demux::EndpointTable::Builder b;
        b.add(udp).add(raw).add(tap);
        table = b.build();
    }
    demux::UdpEndpoint udp{test::rings(64), "udp"};
    demux::RawEndpoint raw{test::rings(64), 1, "raw"};
    demux::TapEndpoint tap{test::rings(64), demux::TapType::kRaw, demux::kEthPAll, "tap"};
    std::unique_ptr<const demux::EndpointTable> table;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static World w;
    fuzz::FuzzInput in(data, size);
    std::vector<std::span<const uint8_t>> frames;
    while (in.remaining() >= 2) frames.push_back(in.frame());
    io::MemoryBackend backend(1, 1, 256, 2048);
    fuzz::run_and_check(backend,
                        {.port = &w.port,
                         .defrag = fuzz::kSmallDefrag,
                         .routes = w.routes.get(),
                         .endpoints = w.table.get()},
                        frames, [] {
                            for (auto* r : {&w.udp.rings(), &w.raw.rings(), &w.tap.rings()})
                                test::take(*r);
                        });
    return 0;
}
