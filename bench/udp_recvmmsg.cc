// The kernel's receive path as the end-to-end benchmark's baseline (bench/e2e.sh, (a)): one
// UDP socket, recvmmsg() in batches of 64, counting datagrams and bytes. Nothing else.
//
//   bench_udp_recvmmsg --port P [--addr A] [--rcvbuf BYTES]
//
// Prints "ready" on stderr once bound; on SIGINT/SIGTERM prints
// {"received":N,"bytes":B} on stdout and exits.
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;
constexpr int kBatch = 64;
constexpr int kSlot = 2048;

}  // namespace

int main(int argc, char** argv) {
    int port = 0, rcvbuf = 8 << 20;
    const char* addr = "0.0.0.0";
    static const option opts[] = {{"port", required_argument, nullptr, 'p'},
                                  {"addr", required_argument, nullptr, 'a'},
                                  {"rcvbuf", required_argument, nullptr, 'r'},
                                  {nullptr, 0, nullptr, 0}};
    for (int ch; (ch = getopt_long(argc, argv, "", opts, nullptr)) != -1;) {
        if (ch == 'p')
            port = std::atoi(optarg);
        else if (ch == 'a')
            addr = optarg;
        else if (ch == 'r')
            rcvbuf = std::atoi(optarg);
        else
            return 2;
    }
    if (port <= 0 || port > 65535) {
        std::fprintf(stderr, "usage: bench_udp_recvmmsg --port P [--addr A] [--rcvbuf BYTES]\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    // SO_RCVBUFFORCE passes net.core.rmem_max (we run as root); plain SO_RCVBUF otherwise.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, addr, &sa.sin_addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
        std::fprintf(stderr, "bench_udp_recvmmsg: bind %s:%d: %s\n", addr, port,
                     std::strerror(errno));
        return 1;
    }
    // No SA_RESTART: the signal interrupts recvmmsg.
    struct sigaction act {};
    act.sa_handler = [](int) { g_stop = 1; };
    sigaction(SIGINT, &act, nullptr);
    sigaction(SIGTERM, &act, nullptr);

    std::vector<char> buf(kBatch * kSlot);
    mmsghdr msgs[kBatch];
    iovec iov[kBatch];
    for (int i = 0; i < kBatch; ++i) {
        iov[i] = {buf.data() + i * kSlot, kSlot};
        msgs[i] = {};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    std::fprintf(stderr, "ready\n");
    unsigned long long received = 0, bytes = 0;
    while (!g_stop) {
        int n = recvmmsg(fd, msgs, kBatch, MSG_WAITFORONE, nullptr);
        for (int i = 0; i < n; ++i) bytes += msgs[i].msg_len;
        if (n > 0) received += static_cast<unsigned>(n);
    }
    std::printf("{\"received\":%llu,\"bytes\":%llu}\n", received, bytes);
    return 0;
}
