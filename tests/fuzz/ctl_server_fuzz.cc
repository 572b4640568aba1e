// libFuzzer: the control server's stream framing and request handling, over a real UNIX
// socket, as a hostile app drives it. The input is cut into chunks (its own bytes decide
// where), each written to one connection and followed by one round of the server's loop, so
// frames arrive split anywhere and several at a time. Asserted: the server survives, every
// reply it sends is a well-formed control message, and once the connection closes the
// server drops it and the registry holds nothing of it, whatever the app sent.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "ctl/protocol.h"
#include "ctl/registry.h"
#include "ctl/server.h"
#include "ctl/unix_socket.h"
#include "demux/endpoint_publisher.h"
#include "fuzz_input.h"

using namespace ingress;

namespace {

struct World {
    World() {
        signal(SIGPIPE, SIG_IGN);
        ctl::ServerConfig sc;
        sc.path = "/tmp/ingress-ctl-fuzz-" + std::to_string(getpid()) + ".sock";
        sc.mode = 0600;
        sc.log_refusals = false;
        server = std::make_unique<ctl::Server>(sc, reg);
    }
    ~World() { ::unlink(server->path().c_str()); }
    demux::EndpointPublisher pub;
    // No endpoint may be opened: each open and close publishes a table and waits an RCU
    // grace period (hundreds of milliseconds here), which would leave the fuzzer a few runs
    // a second. Opens are checked in full and refused at the per-app limit instead; the
    // endpoint life cycle is the apps suite's and the server unit tests'.
    ctl::Registry reg{
        {.geometry = {8, 128}, .max_ring_slots = 64, .max_endpoints_per_owner = 0}, pub, nullptr};
    std::unique_ptr<ctl::Server> server;
};

// Reads whatever the server sent so far; every complete frame must parse. Passed fds are
// closed at once (ring memfds, eventfds).
void check_replies(int fd, std::vector<uint8_t>& in) {
    uint8_t buf[4096];
    std::vector<int> fds;
    ssize_t n;
    while ((n = ctl::recv_with_fds(fd, buf, sizeof buf, &fds)) > 0) {
        for (int f : fds) ::close(f);
        fds.clear();
        in.insert(in.end(), buf, buf + n);
    }
    for (;;) {
        auto need = ctl::message_size(in);
        if (!need) {
            if (in.size() >= 16) std::abort();  // a header the server wrote is broken
            return;
        }
        if (in.size() < *need) return;
        std::vector<uint8_t> frame(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(*need));
        if (!ctl::parse(frame).msg) std::abort();
        in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(*need));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static World w;
    fuzz::FuzzInput in(data, size);
    int fd = ctl::connect_unix(w.server->path());
    if (fd < 0) std::abort();
    fcntl(fd, F_SETFL, O_NONBLOCK);  // replies are read as far as they have arrived
    std::vector<uint8_t> replies;
    (void)w.server->run_once(0);  // accept
    while (!in.empty()) {
        auto chunk = in.bytes(1 + in.u8() % 96);
        if (ctl::send_with_fds(fd, chunk, {}) != 0) break;  // the server hung up (EPROTO)
        (void)w.server->run_once(0);
        check_replies(fd, replies);
    }
    ::close(fd);
    for (int i = 0; i < 100 && w.server->connections() > 0; ++i) (void)w.server->run_once(0);
    if (w.server->connections() != 0 || w.reg.size() != 0) std::abort();
    return 0;
}
