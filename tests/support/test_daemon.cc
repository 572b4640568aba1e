#include "support/test_daemon.h"

#include <dirent.h>
#include <pthread.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "core/stats_format.h"
#include "support/pipeline_harness.h"

namespace ingress::test {

namespace {
std::atomic<int> g_seq{0};
uint64_t now_ns() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}
}  // namespace

TestDaemon::TestDaemon(TestDaemonOptions o) {
    path_ = o.path.empty() ? "/tmp/ingress-testd-" + std::to_string(getpid()) + "-" +
                                 std::to_string(g_seq++) + ".sock"
                           : o.path;
    port_.ifindex = 1;
    port_.name = "test0";
    port_.mac = kPortMac;
    routes_ = std::make_unique<ipv4::RoutePublisher>(default_route_config());
    eps_ = std::make_unique<demux::EndpointPublisher>();
    ctl::RegistryConfig rc;
    rc.workers = o.workers;
    rc.geometry = shm::RingGeometry{o.ring_slots, o.slot_size};
    rc.policy = o.policy;
    rc.max_endpoints_per_owner = o.max_endpoints_per_owner;
    rc.rmem_default = o.rmem_default;
    rc.rmem_max = o.rmem_max;
    ctl::ServerConfig sc;
    sc.path = path_;
    sc.mode = 0666;
    sc.requests_per_sec = o.requests_per_sec;
    sc.request_burst = o.request_burst;
    sc.log_refusals = o.log_refusals;
    sc.owner_uid = o.owner_uid;
    if (o.limits) o.limits(sc, rc);
    reg_ = std::make_unique<ctl::Registry>(rc, *eps_, routes_.get());
    ctl::ServerHooks hooks;
    hooks.stats_text = [this] { return core::format_stats(counters()); };
    hooks.worker_counters = [this] {
        std::vector<ctl::WorkerCounters> v;
        for (std::size_t i = 0; i < workers_.size(); ++i)
            v.push_back({"worker " + std::to_string(i) + ": test0 (memory)",
                         workers_[i]->counters.snapshot()});
        return v;
    };
    ctl::set_route_hooks(hooks, *routes_);  // this thread publishes the route tables
    hooks.reload = o.reload;
    hooks.counter_groups = o.counter_groups;
    hooks.observe = &observe_;
    server_ = std::make_unique<ctl::Server>(sc, *reg_, std::move(hooks));
    for (uint16_t i = 0; i < o.workers; ++i) {
        auto w = std::make_unique<Worker>();
        w->backend = std::make_unique<io::MemoryBackend>(1, 1, 4096);
        worker::PipelineTables t;
        t.port = &port_;
        t.routes = routes_.get();
        t.endpoint_pub = eps_.get();
        t.observe = &observe_;
        t.worker = i;
        w->pipeline = std::make_unique<worker::Pipeline>(*w->backend, w->counters, t);
        workers_.push_back(std::move(w));
    }
    for (auto& w : workers_) w->thread = std::thread([this, p = w.get()] { worker_loop(*p); });
    control_ = std::thread([this] { control_loop(); });
}

TestDaemon::~TestDaemon() {
    stop_ = true;
    control_.join();
    server_.reset();  // closes every connection: endpoints unpublished (workers still run)
    reg_.reset();
    workers_stop_ = true;
    for (auto& w : workers_) w->thread.join();
}

void TestDaemon::worker_loop(Worker& w) {
    ipv4::rcu_reader_register();
    core::PacketBatch batch;
    while (!workers_stop_.load(std::memory_order_relaxed)) {
        std::deque<std::vector<uint8_t>> take;
        {
            std::lock_guard l(w.mu);
            take.swap(w.staged);
        }
        uint64_t n = 0;
        for (auto& f : take) {
            // The backend may be out of buffers: run what it holds first.
            while (!w.backend->inject(f)) {
                batch.count = w.backend->rx_burst(0, batch.pkts.data(), core::kBurst);
                w.pipeline->process(batch, now_ns());
            }
            ++n;
        }
        bool idle = true;
        while ((batch.count = w.backend->rx_burst(0, batch.pkts.data(), core::kBurst)) > 0) {
            w.pipeline->process(batch, now_ns());
            idle = false;
        }
        processed_ += n;
        ipv4::rcu_reader_quiescent();
        if (idle && n == 0) std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    ipv4::rcu_reader_unregister();
}

void TestDaemon::control_loop() {
    pthread_setname_np(pthread_self(), kControlThreadName);
    while (!stop_.load()) {
        std::lock_guard l(control_mu_);
        server_->run_once(5);
    }
}

void TestDaemon::inject(std::vector<uint8_t> frame, uint16_t worker) {
    Worker& w = *workers_.at(worker);
    ++injected_;
    std::lock_guard l(w.mu);
    w.staged.push_back(std::move(frame));
}

bool TestDaemon::wait_processed(int timeout_ms) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (processed_.load() < injected_.load()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

void TestDaemon::with_control(const std::function<void(ctl::Registry&, ctl::Server&)>& f) {
    std::lock_guard l(control_mu_);
    f(*reg_, *server_);
}

bool TestDaemon::wait_for(const std::function<bool(ctl::Registry&, ctl::Server&)>& pred,
                          int timeout_ms) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        bool ok = false;
        with_control([&](ctl::Registry& r, ctl::Server& s) { ok = pred(r, s); });
        if (ok) return true;
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

core::Snapshot TestDaemon::counters() const {
    core::Snapshot s;
    for (const auto& w : workers_) s += w->counters.snapshot();
    return s;
}

int TestDaemon::count_region_fds(uint32_t id) {
    const std::string want = "/memfd:ingress-ep" + std::to_string(id) + "-w";
    int n = 0;
    DIR* d = opendir("/proc/self/fd");
    if (!d) return -1;
    while (dirent* e = readdir(d)) {
        char link[256];
        const std::string p = std::string("/proc/self/fd/") + e->d_name;
        ssize_t len = readlink(p.c_str(), link, sizeof link - 1);
        if (len <= 0) continue;
        link[len] = 0;
        if (std::strncmp(link, want.c_str(), want.size()) == 0) ++n;
    }
    closedir(d);
    return n;
}

}  // namespace ingress::test
