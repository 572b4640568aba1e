// Seeds for the libFuzzer targets, made by the project's FrameBuilder: well-formed UDP,
// VLAN, multicast, broadcast, ICMP, IP-options frames and fragment sequences, each encoded
// in the input format of the target that reads it (see each *_fuzz.cc and FuzzInput).
// run-all.sh writes them into its scratch corpus next to the ones kept in git, so the seeds
// follow the builder and the targets' formats without binary files in the tree.
//   fuzz_make_seeds OUTDIR   (creates OUTDIR/<target>/seed-*)
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ctl/protocol.h"
#include "wire/frame_builder.h"
#include "wire/icmp.h"

using namespace ingress;
using Bytes = std::vector<uint8_t>;
using wire::FrameBuilder;
using wire::ipv4;

namespace {

const wire::Mac kPeer{{0x02, 0, 0, 0, 0, 2}}, kUs{{0x02, 0, 0, 0, 0, 1}};

FrameBuilder udp_to(wire::Ipv4Addr dst, wire::Mac mac = kUs) {
    return FrameBuilder()
        .eth(kPeer, mac)
        .ipv4(ipv4(198, 18, 0, 2), dst)
        .udp(4000, 5000)
        .payload_size(32);
}

std::vector<Bytes> sample_frames() {
    return {
        udp_to(ipv4(198, 18, 0, 1)).build(),
        udp_to(ipv4(198, 18, 10, 1)).vlan(10).build(),
        udp_to(ipv4(239, 1, 1, 1), wire::Mac::for_ipv4_multicast(ipv4(239, 1, 1, 1))).build(),
        udp_to(ipv4(198, 18, 0, 255), wire::Mac::broadcast()).build(),
        udp_to(ipv4(198, 18, 0, 1)).ip_options({0x07, 0x07, 0x04, 0, 0, 0, 0, 0}).build(),  // RR
        FrameBuilder()
            .eth(kPeer, kUs)
            .ipv4(ipv4(198, 18, 0, 2), ipv4(198, 18, 0, 1))
            .icmp(wire::kIcmpEcho, 0)
            .payload_size(16)
            .build(),
        FrameBuilder()
            .eth(kPeer, kUs)
            .ipv4(ipv4(198, 18, 0, 2), ipv4(198, 18, 0, 1))
            .protocol(253)
            .payload_size(8)
            .build(),
    };
}

// A datagram in three fragments: in order, reversed, and with an overlap.
std::vector<std::vector<Bytes>> fragment_runs() {
    FrameBuilder d = udp_to(ipv4(198, 18, 0, 1)).ip_id(7).payload_size(2000);
    auto in_order = d.build_fragments(1000);
    std::vector<Bytes> reversed(in_order.rbegin(), in_order.rend());
    std::vector<Bytes> overlap = {d.build_fragment(0, 1000, true),
                                  d.build_fragment(992, 1016, false)};
    return {in_order, reversed, overlap};
}

void put16(Bytes& b, std::size_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
}
// FuzzInput::frame(): a 2-byte length, the bytes.
void put_frame(Bytes& b, const Bytes& f) {
    put16(b, f.size());
    b.insert(b.end(), f.begin(), f.end());
}
// fuzz::built_frame() with selector 0: a raw frame.
void put_raw(Bytes& b, const Bytes& f) {
    b.push_back(0);
    put_frame(b, f);
}

class Writer {
public:
    explicit Writer(std::filesystem::path root) : root_(std::move(root)) {}
    void operator()(const std::string& target, const Bytes& b) {
        auto dir = root_ / target;
        std::filesystem::create_directories(dir);
        std::ofstream(dir / ("seed-" + std::to_string(n_++)), std::ios::binary)
            .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    }

private:
    std::filesystem::path root_;
    unsigned n_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    Writer put(argv[1]);
    const auto frames = sample_frames();
    const auto runs = fragment_runs();
    // Configuration prefixes, all-default decisions: route_fuzz's knobs and interfaces;
    // demux_fuzz's one UDP endpoint on 0.0.0.0:5000 with IP_MULTICAST_ALL, no raw, no tap.
    const Bytes route_cfg(10, 0);
    const Bytes demux_cfg = {0, 0, 1, 1, 0, 1, 1, 0, 0, 0};
    Bytes all_route = route_cfg, all_demux = demux_cfg, all_pipeline;
    for (const Bytes& f : frames) {
        put("wire_views", Bytes(f.begin() + 14, f.end()));
        Bytes rc = {14 << 2};  // rcv_core_fuzz: PACKET_HOST, network header at 14
        rc.insert(rc.end(), f.begin(), f.end());
        put("rcv_core", rc);
        Bytes p;
        put_frame(p, f);
        put("pipeline", p);
        put_frame(all_pipeline, f);
        put_raw(all_route, f);
        put_raw(all_demux, f);
    }
    put("wire_views", frames[0]);
    for (const auto& run : runs) {
        Bytes p, r = route_cfg, d = demux_cfg;
        for (const Bytes& f : run) {
            put_frame(p, f);
            put_raw(r, f);
            put_raw(d, f);
        }
        put("pipeline", p);
        put("route", r);
        put("demux", d);
    }
    put("pipeline", all_pipeline);
    put("route", all_route);
    put("demux", all_demux);
    // defrag_fuzz: limits (default memory, ipfrag_time 30, max_dist 64, the largest pools),
    // then per fragment: op (UDP, source .2, id 0), offset in 8-byte units, MF, payload
    // length; the overlap run then a clock step past ipfrag_time (0xff).
    for (int order = 0; order < 3; ++order) {
        Bytes b = {0, 29, 1, 7, 63, 3};
        const uint16_t offs[3] = {0, 125, 250};
        for (int i = 0; i < 3; ++i) {
            const int k = order == 1 ? 2 - i : i;
            b.push_back(0x10);
            put16(b, offs[k] - (order == 2 && k == 1 ? 1 : 0));
            b.push_back(k < 2 ? 1 : 0);
            put16(b, 1000);
        }
        if (order == 2) b.push_back(0xff);
        put("defrag", b);
    }
    // ctl_server_fuzz: hello, open, join, stats, close as one stream, cut into chunks of up
    // to 96 bytes (each prefixed by its length - 1), and the same stream one byte at a time.
    using ctl::Attr;
    using ctl::Builder;
    using ctl::MsgType;
    const std::vector<Bytes> requests = {
        Builder(MsgType::kHello, 1).u16(Attr::kVersion, ctl::kVersion).finish(),
        Builder(MsgType::kOpenUdp, 2).u16(Attr::kLocalPort, 5000).finish(),
        Builder(MsgType::kJoin, 3)
            .u32(Attr::kEndpointId, 1)
            .u32(Attr::kGroup, ipv4(239, 1, 1, 1))
            .finish(),
        Builder(MsgType::kStats, 4).finish(),
        Builder(MsgType::kClose, 5).u32(Attr::kEndpointId, 1).finish(),
    };
    Bytes stream;
    for (const Bytes& r : requests) stream.insert(stream.end(), r.begin(), r.end());
    for (std::size_t chunk : {std::size_t{96}, std::size_t{1}}) {
        Bytes b;
        for (std::size_t off = 0; off < stream.size(); off += chunk) {
            const std::size_t n = std::min(chunk, stream.size() - off);
            b.push_back(static_cast<uint8_t>(n - 1));
            b.insert(b.end(), stream.begin() + static_cast<std::ptrdiff_t>(off),
                     stream.begin() + static_cast<std::ptrdiff_t>(off + n));
        }
        put("ctl_server", b);
    }
    return 0;
}
