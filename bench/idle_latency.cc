// The idle benchmark's two ends (bench/idle.sh): how long a datagram takes from its sender
// to ingressd's worker and to the app, at a low rate, whatever the worker's poll_mode.
//
//   bench_idle_latency send DST PORT RATE COUNT   (or ingress-pktgen --stamp over memif)
//       a kernel UDP socket (in the peer namespace) sends COUNT datagrams at RATE per
//       second, each carrying its send time (CLOCK_REALTIME ns) in its first 8 bytes.
//   bench_idle_latency recv SOCKET PORT COUNT TIMEOUT_S
//       a libingress endpoint takes them (blocking recv: the app sleeps too, after
//       APP_POLL_US microseconds of polling if set) until COUNT came, TIMEOUT_S passed or
//       a second passed without one (what was lost is in ingressd's counters), and prints, in
//       microseconds, p50 / p99 / max of worker = rx_ns - sent (the worker's receive
//       timestamp: its wakeup and rx) and app = the app's receive time - sent.
#include <arpa/inet.h>
#include <ingress/client.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

uint64_t realtime_ns() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

int send_main(const char* dst, int port, double rate, long count) {
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    if (fd < 0 || inet_pton(AF_INET, dst, &to.sin_addr) != 1) {
        std::perror("send: socket");
        return 1;
    }
    // No UDP checksum (0 is valid in IPv4): over veth the kernel would leave it to an
    // offload (CHECKSUM_PARTIAL) that never happens for a frame XDP takes, and ingressd
    // would drop every datagram as UDP_CSUM.
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_NO_CHECK, &one, sizeof one);
    const uint64_t gap = static_cast<uint64_t>(1e9 / rate);
    timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    uint8_t payload[32] = {};
    for (long i = 0; i < count; ++i) {
        // Absolute deadlines: the sender sleeps between datagrams and does not drift.
        const uint64_t ns = static_cast<uint64_t>(next.tv_nsec) + gap;
        next.tv_sec += static_cast<time_t>(ns / 1'000'000'000);
        next.tv_nsec = static_cast<long>(ns % 1'000'000'000);
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
        const uint64_t now = realtime_ns();
        std::memcpy(payload, &now, sizeof now);
        sendto(fd, payload, sizeof payload, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    }
    close(fd);
    return 0;
}

double pct(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p / 100.0 * v.size()))];
}

int recv_main(const char* socket_path, int port, long count, int timeout_s) {
    ingress::Client c = ingress::Client::connect(socket_path);
    ingress::UdpEndpoint ep = c.open_udp({.port = static_cast<uint16_t>(port)});
    // APP_POLL_US: the app polls its rings this long before sleeping (default 0: sleeps).
    if (const char* us = std::getenv("APP_POLL_US"))
        ep.set_busy_poll_us(static_cast<uint32_t>(std::atoi(us)));
    std::fprintf(stderr, "recv: open\n");
    std::vector<double> worker, app;
    ingress::Datagram d[64];
    const uint64_t end = realtime_ns() + uint64_t(timeout_s) * 1'000'000'000ull;
    uint64_t last = 0;  // the last datagram's arrival: a second without one after it ends
    worker.reserve(static_cast<std::size_t>(count));
    app.reserve(static_cast<std::size_t>(count));
    while (static_cast<long>(app.size()) < count && realtime_ns() < end) {
        const std::size_t n = ep.recv(d, 64, 100);
        const uint64_t now = realtime_ns();
        if (n) last = now;
        if (last && now - last > 1'000'000'000) break;  // the rest was lost (counted drops)
        for (std::size_t i = 0; i < n; ++i) {
            if (d[i].len < 8) continue;
            uint64_t sent;
            std::memcpy(&sent, d[i].data, sizeof sent);
            worker.push_back(static_cast<double>(d[i].meta->rx_ns - sent) / 1e3);
            app.push_back(static_cast<double>(now - sent) / 1e3);
        }
    }
    const std::size_t got = app.size();
    std::printf(
        "received %zu/%ld worker_us p50 %.1f p99 %.1f max %.1f app_us p50 %.1f p99 %.1f "
        "max %.1f\n",
        got, count, pct(worker, 50), pct(worker, 99), pct(worker, 100), pct(app, 50), pct(app, 99),
        pct(app, 100));
    return got == static_cast<std::size_t>(count) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 6 && std::string(argv[1]) == "send")
        return send_main(argv[2], std::atoi(argv[3]), std::atof(argv[4]), std::atol(argv[5]));
    if (argc == 6 && std::string(argv[1]) == "recv")
        return recv_main(argv[2], std::atoi(argv[3]), std::atol(argv[4]), std::atoi(argv[5]));
    std::fprintf(stderr,
                 "usage: bench_idle_latency send DST PORT RATE COUNT\n"
                 "       bench_idle_latency recv SOCKET PORT COUNT TIMEOUT_S\n");
    return 2;
}
