// A small ingressd for process tests (until the daemon issue lands): the control server and
// its registry on a control thread, and N worker pipelines over memory backends on their own
// threads, publishing endpoint and route tables to them with RCU exactly as ingressd will.
// The test injects frames (FrameBuilder) into a worker; apps are real processes that
// connect to `path()` with libingress.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/counters.h"
#include "ctl/registry.h"
#include "ctl/server.h"
#include "demux/endpoint_publisher.h"
#include "io/memory.h"
#include "ipv4/route_tables.h"
#include "l2/port.h"
#include "worker/pipeline.h"

namespace ingress::test {

struct TestDaemonOptions {
    std::string path;  // control socket; empty: a fresh path under /tmp
    uint16_t workers = 1;
    uint32_t ring_slots = 1024;
    uint32_t slot_size = 2048;
    ctl::Policy policy;
    uint32_t max_endpoints_per_owner = UINT32_MAX;
    // net.core.rmem_default / rmem_max of the host this daemon stands for: raised, as on a
    // host tuned for bursts, because the apps tests inject thousands of datagrams at once
    // into sinks that drain them a moment later (their point is the rings, not the byte
    // budget; the budget's tests set SO_RCVBUF themselves).
    uint32_t rmem_default = 64u << 20;
    uint32_t rmem_max = 64u << 20;
    uint32_t requests_per_sec = 2000;
    uint32_t request_burst = 500;
    bool log_refusals = false;  // the server's refusal log, to stderr (rate limited)
    int owner_uid = -1;         // ServerConfig::owner_uid
    std::function<ctl::ReloadOutcome()> reload;  // the reload hook (empty: EOPNOTSUPP)
    // The backend-stats hook (empty: EOPNOTSUPP; the memory backends count for one thread).
    std::function<std::vector<core::CounterGroup>()> counter_groups;
    // Changes the server's and the registry's limits (quotas, reserves, timeouts) before start.
    std::function<void(ctl::ServerConfig&, ctl::RegistryConfig&)> limits;
};

class TestDaemon {
public:
    // The control thread's name (/proc/self/task/*/comm).
    static constexpr const char* kControlThreadName = "testd-control";

    explicit TestDaemon(TestDaemonOptions o = {});
    ~TestDaemon();
    TestDaemon(const TestDaemon&) = delete;
    TestDaemon& operator=(const TestDaemon&) = delete;

    const std::string& path() const noexcept { return path_; }
    // Queues a frame for `worker` (thread-safe; the worker injects it into its backend).
    void inject(std::vector<uint8_t> frame, uint16_t worker = 0);
    // Blocks until every injected frame went through its pipeline.
    bool wait_processed(int timeout_ms = 5000);
    // Runs `f` on the registry and server with the control thread paused.
    void with_control(const std::function<void(ctl::Registry&, ctl::Server&)>& f);
    // Polls `pred` (with the control thread paused) until true or timeout.
    bool wait_for(const std::function<bool(ctl::Registry&, ctl::Server&)>& pred,
                  int timeout_ms = 5000);
    // Counters summed over the workers (a consistent snapshot of each).
    core::Snapshot counters() const;
    // The daemon's open fds whose target names one of endpoint `id`'s memfds.
    static int count_region_fds(uint32_t id);

private:
    struct Worker {
        std::unique_ptr<io::MemoryBackend> backend;
        core::CounterBlock counters;
        std::unique_ptr<worker::Pipeline> pipeline;
        std::mutex mu;
        std::deque<std::vector<uint8_t>> staged;
        std::thread thread;
    };
    void worker_loop(Worker& w);
    void control_loop();

    std::string path_;
    l2::Port port_;
    std::unique_ptr<ipv4::RoutePublisher> routes_;
    std::unique_ptr<demux::EndpointPublisher> eps_;
    std::unique_ptr<ctl::Registry> reg_;
    worker::ObserveHub observe_;  // trace / capture sessions (outlives the server)
    std::unique_ptr<ctl::Server> server_;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::atomic<uint64_t> injected_{0}, processed_{0};
    std::atomic<bool> stop_{false}, workers_stop_{false};
    std::mutex control_mu_;
    std::thread control_;
};

}  // namespace ingress::test
