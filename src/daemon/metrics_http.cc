#include "daemon/metrics_http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include <cstring>
#include <stdexcept>
#include <string_view>

#include "wire/ipv4.h"

namespace ingress::daemon {
namespace {

constexpr const char* kContentType = "application/openmetrics-text; version=1.0.0; charset=utf-8";

MHD_Result send(MHD_Connection* c, unsigned status, const std::string& body,
                const char* content_type, const char* allow = nullptr) {
    MHD_Response* r = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()),
                                                      MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    const MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

MHD_Result on_request(void* cls, MHD_Connection* c, const char* url, const char* method,
                      const char* /*version*/, const char* /*upload_data*/,
                      size_t* /*upload_data_size*/, void** /*con_cls*/) {
    const auto* self = static_cast<const MetricsHttp*>(cls);
    const std::string_view m(method);
    if (std::string_view(url) != "/metrics")
        return send(c, MHD_HTTP_NOT_FOUND, "not found: only /metrics is served\n", "text/plain");
    if (m != MHD_HTTP_METHOD_GET && m != MHD_HTTP_METHOD_HEAD)
        return send(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics\n", "text/plain",
                    "GET, HEAD");
    return send(c, MHD_HTTP_OK, self->render()(), kContentType);
}

}  // namespace

MetricsHttp::MetricsHttp(uint32_t addr, uint16_t port, std::function<std::string()> render)
    : render_(std::move(render)) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(addr);
    // One thread of libmicrohttpd's own polls the socket and answers, one request at a time:
    // a scrape is small and rare, and nothing here can make a worker wait.
    d_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, port, nullptr, nullptr,
                          &on_request, this, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_LIMIT,
                          16u, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!d_)
        throw std::runtime_error("metrics.listen: cannot serve HTTP on " + wire::ipv4_str(addr) +
                                 ":" + std::to_string(port) + " (in use, or not an address here?)");
}

MetricsHttp::~MetricsHttp() {
    if (d_) MHD_stop_daemon(d_);
}

}  // namespace ingress::daemon
