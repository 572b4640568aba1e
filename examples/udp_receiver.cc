// Receive UDP datagrams on a port through ingressd (README: "Applications").
// Build: c++ -std=c++20 udp_receiver.cc $(pkg-config --cflags --libs libingress)
// Run:   ./udp_receiver [SOCKET] [PORT] [COUNT]
#include <ingress/client.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
    const char* path = argc > 1 ? argv[1] : ingress::kDefaultCtlPath;
    const auto port = static_cast<uint16_t>(argc > 2 ? std::atoi(argv[2]) : 5000);
    const long want = argc > 3 ? std::atol(argv[3]) : 10;
    try {
        ingress::Client client = ingress::Client::connect(path);
        ingress::UdpEndpoint ep = client.open_udp({.port = port});
        ingress::Datagram batch[32];
        long got = 0;
        while (got < want) {
            std::size_t n = ep.recv(batch, 32, 5000);  // busy-poll, then sleep up to 5 s
            if (n == 0) break;                         // timed out
            for (std::size_t i = 0; i < n; ++i) {
                const ingress::Datagram& d = batch[i];  // d.meta: the ring slot's record
                std::printf("%u bytes from %08x:%u%s\n", d.len, d.meta->src_addr, d.meta->src_port,
                            (d.meta->flags & INGRESS_F_TRUNCATED) ? " (truncated)" : "");
            }
            got += static_cast<long>(n);
        }
        std::printf("received %ld\n", got);
        return got == want ? 0 : 1;
    } catch (const ingress::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
}
