// ingress-sink: an example consumer of ingressd endpoints (libingress). Opens one UDP, raw
// or tap endpoint, receives until --duration / --packets / SIGINT, and counts, prints,
// hexdumps or writes a pcap. A rate line per second on stderr, a summary at the end.
//
//   ingress-sink --udp 0.0.0.0:5000 [--reuseport] [--join 239.1.1.1[,SRC...]] [--print]
//                [--label NAME]   (registered under a label: bindings, README)
//   ingress-sink --raw 1 --hexdump
//   ingress-sink --tap all --pcap out.pcap --duration 10
#include <arpa/inet.h>
#include <ingress/client.h>
#include <poll.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "wire/ipv4.h"

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) {
    g_stop = 1;
}

enum class Mode { kCount, kPrint, kHexdump, kPcap };
enum class Kind { kNone, kUdp, kRaw, kTap };

struct Args {
    std::string socket = ingress::kDefaultCtlPath;
    Kind kind = Kind::kNone;
    ingress::UdpOptions udp;
    ingress::RawOptions raw;
    ingress::TapOptions tap;
    uint32_t ifindex = 0;
    std::vector<std::pair<uint32_t, std::vector<uint32_t>>> joins;
    Mode mode = Mode::kCount;
    std::string pcap;
    double duration = 0;
    uint64_t packets = 0;
    bool json = false;
    bool quiet = false;
    uint32_t ring_slots = 0;
    uint32_t busy_poll_us = 0;
    std::vector<std::string> labels;  // --label: registered under (bindings)
};

// why == nullptr: --help, on stdout with status 0; else the reason and status 2.
[[noreturn]] void usage(const char* why) {
    if (why) std::fprintf(stderr, "ingress-sink: %s\n", why);
    std::fprintf(why ? stderr : stdout,
                 "usage: ingress-sink [--socket PATH] (--udp ADDR:PORT | --raw PROTO | --tap "
                 "ETHERTYPE|all)\n"
                 "         [--ifindex N] [--join GROUP[,SRC...]] [--reuseport] [--ring-slots N]\n"
                 "         [--busy-poll US]\n"
                 "         [--label NAME]\n"
                 "         [--rcvbuf BYTES]\n"
                 "         [--count | --print | --hexdump | --pcap FILE]\n"
                 "         [--duration S] [--packets N] [--json] [--quiet]\n");
    std::exit(why ? 2 : 0);
}

uint32_t parse_addr(const std::string& s) {
    in_addr a{};
    if (inet_pton(AF_INET, s.c_str(), &a) != 1) usage(("bad IPv4 address: " + s).c_str());
    return ntohl(a.s_addr);
}

uint64_t parse_num(const std::string& s, uint64_t max, const char* what) {
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s.c_str(), &end, 0);
    if (errno || end == s.c_str() || *end || v > max)
        usage((std::string("bad ") + what + ": " + s).c_str());
    return v;
}

Args parse_args(int argc, char** argv) {
    Args a;
    auto next = [&](int& i) -> std::string {
        if (i + 1 >= argc) usage((std::string(argv[i]) + " needs a value").c_str());
        return argv[++i];
    };
    for (int i = 1; i < argc; ++i) {
        std::string o = argv[i];
        if (o == "--socket")
            a.socket = next(i);
        else if (o == "--udp") {
            std::string v = next(i);
            auto c = v.rfind(':');
            if (c == std::string::npos) usage("--udp wants ADDR:PORT");
            a.kind = Kind::kUdp;
            a.udp.addr = parse_addr(v.substr(0, c));
            a.udp.port = static_cast<uint16_t>(parse_num(v.substr(c + 1), 65535, "port"));
        } else if (o == "--raw") {
            a.kind = Kind::kRaw;
            a.raw.protocol = static_cast<uint8_t>(parse_num(next(i), 255, "protocol"));
        } else if (o == "--tap") {
            std::string v = next(i);
            a.kind = Kind::kTap;
            a.tap.ethertype =
                v == "all" ? 0x0003 : static_cast<uint16_t>(parse_num(v, 0xffff, "ethertype"));
        } else if (o == "--ifindex")
            a.ifindex = static_cast<uint32_t>(parse_num(next(i), UINT32_MAX, "ifindex"));
        else if (o == "--join") {
            std::string v = next(i);
            std::vector<uint32_t> srcs;
            std::size_t p = v.find(',');
            uint32_t g = parse_addr(v.substr(0, p));
            while (p != std::string::npos) {
                std::size_t q = v.find(',', p + 1);
                srcs.push_back(parse_addr(v.substr(p + 1, q == std::string::npos ? q : q - p - 1)));
                p = q;
            }
            a.joins.emplace_back(g, srcs);
        } else if (o == "--reuseport")
            a.udp.reuseport = true;
        else if (o == "--label")
            a.labels.emplace_back(next(i));
        else if (o == "--ring-slots")
            a.ring_slots = static_cast<uint32_t>(
                parse_num(next(i), ingress::shm::RingGeometry::kMaxSlots, "ring slots"));
        else if (o == "--busy-poll")
            a.busy_poll_us =
                static_cast<uint32_t>(parse_num(next(i), 10'000'000, "busy-poll microseconds"));
        else if (o == "--rcvbuf")  // SO_RCVBUF; 0 is spelled 1 in the options (0: unset)
            a.udp.rcvbuf = std::max<uint32_t>(
                1, static_cast<uint32_t>(parse_num(next(i), 0x7fffffff, "rcvbuf bytes")));
        else if (o == "--count")
            a.mode = Mode::kCount;
        else if (o == "--print")
            a.mode = Mode::kPrint;
        else if (o == "--hexdump")
            a.mode = Mode::kHexdump;
        else if (o == "--pcap") {
            a.mode = Mode::kPcap;
            a.pcap = next(i);
        } else if (o == "--duration") {
            char* end = nullptr;
            std::string v = next(i);
            a.duration = std::strtod(v.c_str(), &end);
            if (*end || a.duration < 0) usage("bad --duration");
        } else if (o == "--packets")
            a.packets = parse_num(next(i), UINT64_MAX, "packet count");
        else if (o == "--json")
            a.json = true;
        else if (o == "--quiet")
            a.quiet = true;
        else if (o == "-h" || o == "--help")
            usage(nullptr);
        else
            usage(("unknown option " + o).c_str());
    }
    if (a.kind == Kind::kNone) usage("one of --udp, --raw, --tap is required");
    if (!a.joins.empty() && a.kind == Kind::kTap) usage("--join needs --udp or --raw");
    return a;
}

double mono() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

void put32(FILE* f, uint32_t v) {
    std::fwrite(&v, 4, 1, f);
}
void put16(FILE* f, uint16_t v) {
    std::fwrite(&v, 2, 1, f);
}

}  // namespace

int main(int argc, char** argv) {
    Args a = parse_args(argc, argv);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    FILE* pcap = nullptr;
    if (a.mode == Mode::kPcap) {
        pcap = std::fopen(a.pcap.c_str(), "wb");
        if (!pcap) {
            std::fprintf(stderr, "ingress-sink: %s: %s\n", a.pcap.c_str(), std::strerror(errno));
            return 1;
        }
        // Taps: Ethernet (or raw IP for SOCK_DGRAM); UDP and raw endpoints: raw IPv4.
        put32(pcap, 0xa1b23c4d);  // nanosecond timestamps
        put16(pcap, 2);
        put16(pcap, 4);
        put32(pcap, 0);
        put32(pcap, 0);
        put32(pcap, 65535);
        put32(pcap, a.kind == Kind::kTap && !a.tap.dgram ? 1 : 101);
    }

    try {
        ingress::Client c = ingress::Client::connect(a.socket);
        ingress::Endpoint ep;
        if (a.kind == Kind::kUdp) {
            a.udp.ifindex = a.ifindex;
            a.udp.ring_slots = a.ring_slots;
            ep = c.open_udp(a.udp);
        } else if (a.kind == Kind::kRaw) {
            a.raw.ifindex = a.ifindex;
            a.raw.ring_slots = a.ring_slots;
            ep = c.open_raw(a.raw);
        } else {
            a.tap.ifindex = a.ifindex;
            a.tap.ring_slots = a.ring_slots;
            ep = c.open_tap(a.tap);
        }
        for (auto& [g, srcs] : a.joins) ep.join(g, a.ifindex, srcs, true);
        ep.set_busy_poll_us(a.busy_poll_us);
        for (const std::string& l : a.labels) ep.register_label(l);
        if (!a.quiet)
            std::fprintf(stderr, "ingress-sink: endpoint %u open (%u rings)\n", ep.id(),
                         ep.workers());

        uint64_t received = 0, bytes = 0, truncated = 0;
        uint64_t sec_pkts = 0, sec_bytes = 0;
        const double start = mono();
        double last = start;
        ingress::Datagram d[64];
        while (!g_stop) {
            const double now = mono();
            if (a.duration > 0 && now - start >= a.duration) break;
            if (a.packets && received >= a.packets) break;
            std::size_t max = 64;
            if (a.packets && a.packets - received < max)
                max = static_cast<std::size_t>(a.packets - received);
            const std::size_t n = ep.recv(d, max, 100);
            for (std::size_t i = 0; i < n; ++i) {
                const ingress::Datagram& x = d[i];
                ++received;
                bytes += x.meta->orig_len;
                truncated += (x.meta->flags & INGRESS_F_TRUNCATED) != 0;
                if (a.mode == Mode::kPrint || a.mode == Mode::kHexdump) {
                    std::printf("%" PRIu64 " %s:%u -> %s:%u if %u len %u%s\n", x.meta->rx_ns,
                                ingress::wire::ipv4_str(x.meta->src_addr).c_str(), x.meta->src_port,
                                ingress::wire::ipv4_str(x.meta->dst_addr).c_str(), x.meta->dst_port,
                                x.meta->ifindex, x.meta->orig_len,
                                (x.meta->flags & INGRESS_F_TRUNCATED) ? " (truncated)" : "");
                }
                if (a.mode == Mode::kHexdump) {
                    for (uint32_t o = 0; o < x.len; o += 16) {
                        std::printf("  %04x ", o);
                        for (uint32_t k = o; k < o + 16 && k < x.len; ++k)
                            std::printf(" %02x", x.data[k]);
                        std::printf("\n");
                    }
                }
                if (pcap) {
                    uint8_t hdr[28] = {};
                    uint32_t hl = 0;
                    if (a.kind == Kind::kUdp) {
                        // Rebuild the IPv4 + UDP header recvmsg's metadata describes.
                        hl = 28;
                        const uint32_t tot = 28 + x.len;
                        hdr[0] = 0x45;
                        hdr[2] = static_cast<uint8_t>(tot >> 8);
                        hdr[3] = static_cast<uint8_t>(tot);
                        hdr[8] = 64;
                        hdr[9] = 17;
                        for (int k = 0; k < 4; ++k) {
                            hdr[12 + k] = static_cast<uint8_t>(x.meta->src_addr >> (24 - 8 * k));
                            hdr[16 + k] = static_cast<uint8_t>(x.meta->dst_addr >> (24 - 8 * k));
                        }
                        hdr[20] = static_cast<uint8_t>(x.meta->src_port >> 8);
                        hdr[21] = static_cast<uint8_t>(x.meta->src_port);
                        hdr[22] = static_cast<uint8_t>(x.meta->dst_port >> 8);
                        hdr[23] = static_cast<uint8_t>(x.meta->dst_port);
                        hdr[24] = static_cast<uint8_t>((8 + x.len) >> 8);
                        hdr[25] = static_cast<uint8_t>(8 + x.len);
                    }
                    put32(pcap, static_cast<uint32_t>(x.meta->rx_ns / 1000000000ull));
                    put32(pcap, static_cast<uint32_t>(x.meta->rx_ns % 1000000000ull));
                    put32(pcap, hl + x.len);
                    put32(pcap, hl + x.meta->orig_len);
                    std::fwrite(hdr, 1, hl, pcap);
                    std::fwrite(x.data, 1, x.len, pcap);
                }
                ++sec_pkts;
                sec_bytes += x.meta->orig_len;
            }
            const double t = mono();
            if (t - last >= 1.0) {
                if (!a.quiet)
                    std::fprintf(stderr,
                                 "ingress-sink: %.0f pkt/s %.3f Mbit/s (total %" PRIu64 ")\n",
                                 sec_pkts / (t - last), sec_bytes * 8 / (t - last) / 1e6, received);
                sec_pkts = sec_bytes = 0;
                last = t;
            }
        }
        ep.release();
        ingress::EndpointStats s = ep.stats();
        const double secs = mono() - start;
        if (a.json)
            std::printf("{\"endpoint\":%u,\"received\":%" PRIu64 ",\"bytes\":%" PRIu64
                        ",\"truncated\":%" PRIu64 ",\"delivered\":%" PRIu64
                        ",\"dropped_full\":%" PRIu64 ",\"reconnects\":%" PRIu64
                        ",\"seconds\":%.3f}\n",
                        ep.id(), received, bytes, truncated, s.delivered, s.dropped_full,
                        s.reconnects, secs);
        else
            std::printf("received %" PRIu64 " datagrams, %" PRIu64 " bytes, %" PRIu64
                        " truncated, %" PRIu64 " dropped (ring full), %" PRIu64
                        " reconnects in %.3f s\n",
                        received, bytes, truncated, s.dropped_full, s.reconnects, secs);
        std::fflush(stdout);
        if (pcap) std::fclose(pcap);
        ep.close();
        return 0;
    } catch (const ingress::Error& e) {
        std::fprintf(stderr, "ingress-sink: %s (%s)\n", e.what(), std::strerror(e.code()));
        if (pcap) std::fclose(pcap);
        // Exit status: the errno, so scripts and tests can tell refusals apart.
        return e.code() > 0 && e.code() < 125 ? e.code() : 125;
    }
}
