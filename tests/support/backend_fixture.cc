#include "support/backend_fixture.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

namespace ingress::test {

std::string xdp_object() {
    const char* p = std::getenv("INGRESS_XDP_OBJECT");
    return p ? p : "build/xdp/ingress.bpf.o";
}

std::vector<std::string> test_eal_args(const std::string& tag) {
    return {"-l",
            "0",
            "--no-huge",
            "--no-pci",
            "-m",
            "256",
            "--no-shconf",
            "--file-prefix",
            tag + std::to_string(getpid()),
            "--log-level",
            "*:warning"};
}

pid_t send_from_b_async(const VethPair& v, const std::vector<std::vector<uint8_t>>& frames) {
    const pid_t pid = fork();
    if (pid == 0) {
        v.enter_b();
        _exit(send_frames(v.if_b(), frames) == static_cast<int>(frames.size()) ? 0 : 1);
    }
    return pid;
}

void send_from_b(const VethPair& v, const std::vector<std::vector<uint8_t>>& frames) {
    const pid_t pid = send_from_b_async(v, frames);
    ASSERT_GT(pid, 0);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "sender failed";
}

void VethTest::SetUp() {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (netns, XDP, AF_XDP, TAP)";
    veth = std::make_unique<VethPair>(tag(), queues());
    veth->enter_a();
    port.ifindex = 0;
}

worker::PipelineTables VethTest::tables(wire::Ipv4Addr us) {
    ipv4::RouteConfig cfg;
    ipv4::IfConfig ifc;
    ifc.ifindex = port.ifindex;
    ifc.name = port.name.empty() ? "port" : port.name;
    ifc.addrs.push_back({.addr = us, .prefix_len = 24});
    cfg.ifaces.push_back(ifc);
    routes = std::make_unique<ipv4::RoutePublisher>(std::move(cfg));
    return {.port = &port, .routes = routes.get(), .endpoints = no_endpoints.get()};
}

void VethTest::poll(io::Backend& be, worker::Pipeline& pipe, const std::function<bool()>& done,
                    std::chrono::seconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    core::PacketBatch batch;
    while (!done() && std::chrono::steady_clock::now() < until) {
        uint16_t got = 0;
        for (uint16_t q = 0; q < queues(); ++q) {
            batch.count = be.rx_burst(q, batch.pkts.data(), core::kBurst);
            got = static_cast<uint16_t>(got + batch.count);
            per_queue[q] += batch.count;
            if (batch.count) pipe.process(batch);
        }
        if (!got) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
}

}  // namespace ingress::test
