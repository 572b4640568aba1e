// The C interface (ingress.h) over the C++ one.
#include <ingress/client.h>
#include <ingress/ingress.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <unordered_map>

struct ingress_client {
    ingress::Client c;
};
struct ingress_endpoint {
    ingress::Endpoint ep;
};
// The C++ set's member data is this wrapper's: the C handle and the caller's data.
struct ingress_set {
    ingress::EndpointSet s;
    struct Member {
        ingress_endpoint* ep;
        void* data;
    };
    std::unordered_map<ingress_endpoint*, std::unique_ptr<Member>> members;
};

namespace {

thread_local std::string g_error;

int failed(int err, const char* what) {
    g_error = what;
    errno = err;
    return -err;
}

// Runs f; a failure leaves its message for ingress_last_error(), sets errno and returns
// -errno (a call returning a pointer returns NULL with errno set).
template <class F>
int guard(F&& f) {
    try {
        const int r = f();
        if (r < 0) errno = -r;
        return r;
    } catch (const ingress::Error& e) {
        return failed(e.code() > 0 ? e.code() : EIO, e.what());
    } catch (const std::bad_alloc&) {
        return failed(ENOMEM, "out of memory");
    } catch (const std::exception& e) {
        return failed(EIO, e.what());
    }
}

}  // namespace

extern "C" {

const char* ingress_last_error(void) {
    return g_error.c_str();
}

// The defaults of a fresh socket, from the C++ options (ingress/options.h), so the two APIs
// cannot drift apart.
void ingress_udp_opts_init(ingress_udp_opts* o) {
    const ingress::UdpOptions d;
    *o = ingress_udp_opts{};
    o->addr = d.addr;
    o->port = d.port;
    o->remote_addr = d.remote_addr;
    o->remote_port = d.remote_port;
    o->ifindex = d.ifindex;
    o->reuseport = d.reuseport;
    o->reuseaddr = d.reuseaddr;
    o->multicast_all = d.multicast_all;
    o->ring_slots = d.ring_slots;
    o->rcvbuf = d.rcvbuf;
    o->recverr = d.recverr;
}

void ingress_raw_opts_init(ingress_raw_opts* o) {
    const ingress::RawOptions d;
    *o = ingress_raw_opts{};
    o->protocol = d.protocol;
    o->addr = d.addr;
    o->remote_addr = d.remote_addr;
    o->ifindex = d.ifindex;
    o->icmp_filter = d.icmp_filter;
    o->multicast_all = d.multicast_all;
    o->ring_slots = d.ring_slots;
    o->recverr = d.recverr;
}

void ingress_tap_opts_init(ingress_tap_opts* o) {
    const ingress::TapOptions d;
    *o = ingress_tap_opts{};
    o->ethertype = d.ethertype;
    o->ifindex = d.ifindex;
    o->dgram = d.dgram;
    o->filter = nullptr;
    o->ring_slots = d.ring_slots;
    o->ignore_outgoing = d.ignore_outgoing;
}

ingress_client* ingress_client_connect(const char* path) {
    ingress_client* out = nullptr;
    guard([&] {
        out = new ingress_client{ingress::Client::connect(path ? path : ingress::kDefaultCtlPath)};
        return 0;
    });
    return out;
}

void ingress_client_close(ingress_client* c) {
    delete c;
}

int ingress_client_fd(const ingress_client* c) {
    return c->c.fd();
}

void ingress_client_set_reconnect(ingress_client* c, int on) {
    c->c.set_reconnect(on != 0);
}

char* ingress_client_stats(ingress_client* c) {
    char* out = nullptr;
    guard([&] {
        std::string s = c->c.stats();
        out = static_cast<char*>(std::malloc(s.size() + 1));
        if (!out) return -ENOMEM;
        std::memcpy(out, s.c_str(), s.size() + 1);
        return 0;
    });
    return out;
}

ingress_endpoint* ingress_udp_open(ingress_client* c, const ingress_udp_opts* o) {
    ingress_endpoint* out = nullptr;
    guard([&] {
        ingress::UdpOptions u;
        u.addr = o->addr;
        u.port = o->port;
        u.remote_addr = o->remote_addr;
        u.remote_port = o->remote_port;
        u.ifindex = o->ifindex;
        u.reuseport = o->reuseport;
        u.reuseaddr = o->reuseaddr;
        u.multicast_all = o->multicast_all;
        u.ring_slots = o->ring_slots;
        u.rcvbuf = o->rcvbuf;
        u.recverr = o->recverr != 0;
        out = new ingress_endpoint{c->c.open_udp(u)};
        return 0;
    });
    return out;
}

ingress_endpoint* ingress_raw_open(ingress_client* c, const ingress_raw_opts* o) {
    ingress_endpoint* out = nullptr;
    guard([&] {
        ingress::RawOptions r;
        r.protocol = o->protocol;
        r.addr = o->addr;
        r.remote_addr = o->remote_addr;
        r.ifindex = o->ifindex;
        r.icmp_filter = o->icmp_filter;
        r.multicast_all = o->multicast_all;
        r.ring_slots = o->ring_slots;
        r.recverr = o->recverr != 0;
        out = new ingress_endpoint{c->c.open_raw(r)};
        return 0;
    });
    return out;
}

ingress_endpoint* ingress_tap_open(ingress_client* c, const ingress_tap_opts* o) {
    ingress_endpoint* out = nullptr;
    guard([&] {
        ingress::TapOptions t;
        t.ethertype = o->ethertype;
        t.ifindex = o->ifindex;
        t.dgram = o->dgram;
        if (o->filter) t.filter = o->filter;
        t.ring_slots = o->ring_slots;
        t.ignore_outgoing = o->ignore_outgoing != 0;
        out = new ingress_endpoint{c->c.open_tap(t)};
        return 0;
    });
    return out;
}

void ingress_endpoint_close(ingress_endpoint* ep) {
    delete ep;
}

uint32_t ingress_endpoint_id(const ingress_endpoint* ep) {
    return ep->ep.id();
}
int ingress_endpoint_fd(const ingress_endpoint* ep) {
    return ep->ep.fd();
}
int ingress_prepare_sleep(ingress_endpoint* ep) {
    return ep->ep.prepare_sleep() ? 1 : 0;
}

int ingress_recv(ingress_endpoint* ep, ingress_datagram* out, size_t max, int timeout_ms) {
    // ingress::Datagram is ingress_datagram: the C++ call fills the caller's array.
    return guard([&] { return static_cast<int>(ep->ep.recv(out, max, timeout_ms)); });
}

int ingress_recv_error(ingress_endpoint* ep, ingress_errmsg* out, void* buf, size_t buf_len) {
    return guard([&] {
        if (!ep->ep.recv_error(*out, buf, buf_len)) return failed(EAGAIN, "error queue empty");
        return static_cast<int>(out->len);
    });
}

int ingress_set_recverr(ingress_endpoint* ep, int on) {
    return guard([&] {
        ep->ep.set_recverr(on != 0);
        return 0;
    });
}

int ingress_recvmmsg(ingress_endpoint* ep, ingress_mmsg* msgs, unsigned int vlen, int flags,
                     struct timespec* timeout) {
    return guard([&] {
        const std::size_t n = ep->ep.recvmmsg(msgs, vlen, flags, timeout);
        if (n == 0 && vlen > 0) return failed(EAGAIN, "no datagram (MSG_DONTWAIT or timeout)");
        return static_cast<int>(n);
    });
}

ingress_set* ingress_set_create(void) {
    ingress_set* out = nullptr;
    guard([&] {
        out = new ingress_set{};
        return 0;
    });
    return out;
}

void ingress_set_close(ingress_set* s) {
    delete s;
}

int ingress_set_fd(const ingress_set* s) {
    return s->s.fd();
}

int ingress_set_add(ingress_set* s, ingress_endpoint* ep, void* data) {
    return guard([&] {
        auto m = std::make_unique<ingress_set::Member>(ingress_set::Member{ep, data});
        s->s.add(ep->ep, m.get());
        s->members[ep] = std::move(m);
        return 0;
    });
}

int ingress_fionread(ingress_endpoint* ep, int* bytes) {
    return guard([&] {
        if (ep->ep.id() == 0) return failed(EBADF, "endpoint is closed");
        *bytes = static_cast<int>(ep->ep.next_len());
        return 0;
    });
}

int ingress_rmem_alloc(ingress_endpoint* ep, uint64_t* bytes) {
    return guard([&] {
        if (ep->ep.id() == 0) return failed(EBADF, "endpoint is closed");
        *bytes = ep->ep.rmem_alloc();
        return 0;
    });
}

int ingress_set_remove(ingress_set* s, ingress_endpoint* ep) {
    return guard([&] {
        s->s.remove(ep->ep);
        s->members.erase(ep);
        return 0;
    });
}

int ingress_register(ingress_endpoint* ep, const char* label) {
    return guard([&] {
        ep->ep.register_label(label ? label : "");
        return 0;
    });
}

int ingress_unregister(ingress_endpoint* ep, const char* label) {
    return guard([&] {
        ep->ep.unregister_label(label ? label : "");
        return 0;
    });
}

int ingress_set_rcvbuf(ingress_endpoint* ep, uint32_t bytes) {
    return guard([&] {
        ep->ep.set_rcvbuf(bytes);
        return 0;
    });
}

int ingress_set_rcvbufforce(ingress_endpoint* ep, uint32_t bytes) {
    return guard([&] {
        ep->ep.set_rcvbuf_force(bytes);
        return 0;
    });
}

int ingress_set_ignore_outgoing(ingress_endpoint* ep, int on) {
    return guard([&] {
        ep->ep.set_ignore_outgoing(on != 0);
        return 0;
    });
}

int ingress_raw_connect(ingress_endpoint* ep, uint32_t remote) {
    return guard([&] {
        ep->ep.connect(remote);
        return 0;
    });
}

namespace {
int set_events(ingress_set* s, ingress_set_event* out, size_t max, int timeout_ms) {
    return guard([&] {
        ingress::EndpointSet::Event ev[64];
        const std::size_t n = s->s.wait(ev, std::min<std::size_t>(max, 64), timeout_ms);
        for (std::size_t i = 0; i < n; ++i) {
            auto* m = static_cast<ingress_set::Member*>(ev[i].data);
            out[i] = ingress_set_event{m->ep, m->data};
        }
        return static_cast<int>(n);
    });
}
}  // namespace

int ingress_set_ready(ingress_set* s, ingress_set_event* out, size_t max) {
    return set_events(s, out, max, 0);
}

int ingress_set_wait(ingress_set* s, ingress_set_event* out, size_t max, int timeout_ms) {
    return set_events(s, out, max, timeout_ms);
}

void ingress_set_busy_poll_us(ingress_endpoint* ep, uint32_t us) {
    ep->ep.set_busy_poll_us(us);
}

void ingress_endpoint_stats(const ingress_endpoint* ep, struct ingress_endpoint_stats* out) {
    ingress::EndpointStats s = ep->ep.stats();
    out->delivered = s.delivered;
    out->dropped_full = s.dropped_full;
    out->truncated = s.truncated;
    out->wakeups = s.wakeups;
    out->reconnects = s.reconnects;
}

int ingress_join(ingress_endpoint* ep, uint32_t group, uint32_t ifindex, const uint32_t* sources,
                 size_t nsources, int include) {
    return guard([&] {
        ep->ep.join(group, ifindex, {sources, nsources}, include != 0);
        return 0;
    });
}

int ingress_leave(ingress_endpoint* ep, uint32_t group, uint32_t ifindex, const uint32_t* sources,
                  size_t nsources) {
    return guard([&] {
        ep->ep.leave(group, ifindex, {sources, nsources});
        return 0;
    });
}

}  // extern "C"
