// ingressd's Prometheus endpoint: GET /metrics over HTTP, served by libmicrohttpd on a thread
// of its own (`metrics: {listen: ADDR:PORT}` in the configuration).
//
// It answers GET (and HEAD) /metrics with what `render` returns, the OpenMetrics text
// `ingressctl stats --openmetrics` prints (core::format_openmetrics, the one formatter),
// as `application/openmetrics-text; version=1.0.0`; any other method is refused with 405
// and `Allow: GET, HEAD`, any other path with 404. `render` runs on the HTTP thread: it must
// read what it shows the way the control socket does (worker snapshots, the backends'
// getsockopt / rte_eth_stats, a copy the control thread keeps), never stop a worker.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

struct MHD_Daemon;

namespace ingress::daemon {

class MetricsHttp {
public:
    // Listens on addr:port (host order) at once; throws std::runtime_error naming the
    // address when it cannot.
    MetricsHttp(uint32_t addr, uint16_t port, std::function<std::string()> render);
    ~MetricsHttp();  // stops the thread, closes the socket
    MetricsHttp(const MetricsHttp&) = delete;
    MetricsHttp& operator=(const MetricsHttp&) = delete;

    const std::function<std::string()>& render() const noexcept { return render_; }

private:
    std::function<std::string()> render_;
    MHD_Daemon* d_ = nullptr;
};

}  // namespace ingress::daemon
