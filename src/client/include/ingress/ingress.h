/* libingress, C interface: receive what ingressd delivers to your endpoints.
 * Build with `pkg-config --cflags --libs libingress`; link as C++ (the library is C++).
 *
 *   struct ingress_client *c = ingress_client_connect(NULL);   // default socket
 *   struct ingress_udp_opts o = INGRESS_UDP_OPTS_INIT;          // a fresh socket's options
 *   o.port = 5000;
 *   struct ingress_endpoint *ep = ingress_udp_open(c, &o);
 *   struct ingress_datagram d[32];
 *   int n = ingress_recv(ep, d, 32, 1000);                       // up to 1 s
 *
 * Options: start every options struct from its INGRESS_*_OPTS_INIT (or ingress_*_opts_init()),
 * which holds the kernel's defaults for a new socket; a zeroed struct is not the same (it
 * turns IP_MULTICAST_ALL off, and a zero tap ethertype receives nothing, as protocol 0 does).
 *
 * Errors: functions returning a pointer return NULL and set errno; those returning int
 * return a negative errno and set errno. The values are those the kernel's call would give
 * (listed per call below); ingress_last_error() gives the daemon's (or the library's)
 * message for the calling thread's last failure. Addresses and ports are host byte order.
 *
 *   for (int i = 0; i < n; i++)
 *       if (d[i].meta->flags & INGRESS_F_TRUNCATED) ...            // orig_len > len */
#ifndef INGRESS_H
#define INGRESS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "shm/record.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ingress_client;
struct ingress_endpoint;

/* One received datagram, a view of one ring slot (valid until the next ingress_recv on the
 * endpoint). meta is the record the daemon wrote into the slot (shm/record.h: addresses,
 * ports, ifindex, rx_ns, hw_ns, vlan, pkt_type, protocol, ethertype, orig_len and the
 * INGRESS_F_* flags); nothing is copied out of it. */
struct ingress_datagram {
    const uint8_t* data;             /* payload */
    const struct ingress_meta* meta; /* the slot's record */
    uint32_t len;                    /* bytes at data (meta->len, bounded by the slot) */
    uint16_t worker;                 /* the ring (daemon worker) it came from */
    uint16_t flags;                  /* INGRESS_D_*: what the library saw, not the daemon */
};
/* The first datagram after a gap: the daemon exited and the library reopened the endpoint
 * on the restarted daemon; what arrived in between went elsewhere (the kernel). */
#define INGRESS_D_AFTER_GAP 0x1u

/* SO_TIMESTAMPING (Documentation/networking/timestamping.rst) with
 * SOF_TIMESTAMPING_RAW_HARDWARE: the NIC's receive stamp, scm_timestamping.ts[2], in
 * nanoseconds of the NIC's clock (the PHC's, not CLOCK_REALTIME). 1 and *ns set when the
 * driver gave one (meta->flags & INGRESS_F_HW_TSTAMP); 0 and *ns = 0 otherwise (the kernel
 * then gives ts[2] zero, or no SCM_TIMESTAMPING at all). The software stamp, ts[0] with
 * SOF_TIMESTAMPING_SOFTWARE (and SO_TIMESTAMPNS), is meta->rx_ns. Works on a datagram's
 * meta, an ingress_mmsg's and an ingress_errmsg's (the ICMP message's stamp). */
static inline int ingress_hw_timestamp(const struct ingress_meta* m, uint64_t* ns) {
    const int ok = (m->flags & INGRESS_F_HW_TSTAMP) != 0;
    *ns = ok ? m->hw_ns : 0;
    return ok;
}

/* IP_RECVOPTS (ip(7)) of a UDP datagram: its IP options as the host's receive path left
 * them (record route and timestamp entries written, as a kernel socket's cmsg shows them),
 * meta->ip_optlen bytes (the whole ihl * 4 - 20, padding included). NULL, *len 0: the
 * datagram had no options (the kernel gives no cmsg then). They lie in the slot after the
 * payload, so a datagram that carries them has that much less payload room. */
static inline const uint8_t* ingress_ip_recvopts(const struct ingress_datagram* d, size_t* len) {
    *len = d->meta->ip_optlen;
    return *len && d->len == d->meta->len ? d->data + d->len : (*len = 0, (const uint8_t*)0);
}
/* IP_RETOPTS (ip(7)): the options an answer to the datagram carries, as
 * ip_cmsg_recv_retopts() gives them (the source route reversed, ready for setsockopt
 * IP_OPTIONS), meta->ip_retoptlen bytes. NULL, *len 0: no options, or the echo failed
 * (meta->flags & INGRESS_F_RETOPTS_CTRUNC: recvmsg's MSG_CTRUNC). */
static inline const uint8_t* ingress_ip_retopts(const struct ingress_datagram* d, size_t* len) {
    *len = d->meta->ip_retoptlen;
    return *len && d->len == d->meta->len ? d->data + d->len + d->meta->ip_optlen
                                          : (*len = 0, (const uint8_t*)0);
}

/* A UDP socket: socket(AF_INET, SOCK_DGRAM, 0), its options, bind() and connect(). */
struct ingress_udp_opts {
    uint32_t addr;        /* bind() address; 0 = INADDR_ANY */
    uint16_t port;        /* bind() port; 0 = an ephemeral port (ip_local_port_range) */
    uint32_t remote_addr; /* connect() address; 0 = not connected */
    uint16_t remote_port; /* connect() port */
    uint32_t ifindex;     /* SO_BINDTODEVICE; 0 = any interface */
    int reuseport;        /* SO_REUSEPORT (default 0) */
    int reuseaddr;        /* SO_REUSEADDR (default 0) */
    int multicast_all;    /* IP_MULTICAST_ALL (default 1, as the kernel's) */
    uint32_t ring_slots;  /* datagrams the endpoint's ring holds; 0 = the daemon's default */
    uint32_t rcvbuf;      /* SO_RCVBUF in bytes, as given to setsockopt: the daemon clamps it
                           * to net.core.rmem_max and doubles it (at least SOCK_MIN_RCVBUF).
                           * 0 (default) = never set: net.core.rmem_default, as a new socket.
                           * Datagrams are charged their skb truesize against it, and one
                           * over it is dropped (SOCKET_RCVBUFF) as the kernel's socket would
                           * drop it; the ring's slots are a second, separate limit. */
    int recverr;          /* IP_RECVERR (default 0, as the kernel's): ICMP errors about what
                           * this socket sent are queued for ingress_recv_error() and each is
                           * reported once by the next receive; 0: only a connected socket is
                           * told, and only of hard errors (ECONNREFUSED, EMSGSIZE, EPROTO..) */
};
#define INGRESS_UDP_OPTS_INIT \
    { 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 }
void ingress_udp_opts_init(struct ingress_udp_opts* o);

/* A raw socket: socket(AF_INET, SOCK_RAW, protocol), bind(), connect(). */
struct ingress_raw_opts {
    uint8_t protocol;     /* IPPROTO_*; required (0 fails with EPROTONOSUPPORT, as socket()) */
    uint32_t addr;        /* bind() address; 0 = any */
    uint32_t remote_addr; /* connect() address; 0 = not connected */
    uint32_t ifindex;     /* SO_BINDTODEVICE; 0 = any interface */
    uint32_t icmp_filter; /* ICMP_FILTER: bit N set drops ICMP type N (raw ICMP only) */
    int multicast_all;    /* IP_MULTICAST_ALL (default 1, as the kernel's) */
    uint32_t ring_slots;  /* 0 = the daemon's default */
    int recverr;          /* IP_RECVERR (default 0), as for UDP */
};
#define INGRESS_RAW_OPTS_INIT \
    { 0, 0, 0, 0, 0, 1, 0, 0 }
void ingress_raw_opts_init(struct ingress_raw_opts* o);

/* A packet socket: socket(AF_PACKET, SOCK_RAW or SOCK_DGRAM, htons(ethertype)), bind() to
 * an interface, SO_ATTACH_FILTER. */
struct ingress_tap_opts {
    uint16_t ethertype;  /* protocol, host order (default 0x0003 = ETH_P_ALL) */
    uint32_t ifindex;    /* sll_ifindex of bind(); 0 = every interface */
    int dgram;           /* SOCK_DGRAM (frames from the network header) instead of SOCK_RAW */
    const char* filter;  /* a pcap expression compiled to the socket filter; NULL = none */
    uint32_t ring_slots; /* 0 = the daemon's default */
    int ignore_outgoing; /* PACKET_IGNORE_OUTGOING: no copies of the frames the dataplane
                            sends (PACKET_OUTGOING); default 0, as a fresh packet socket */
};
#define INGRESS_TAP_OPTS_INIT \
    { 0x0003, 0, 0, NULL, 0, 0 }
void ingress_tap_opts_init(struct ingress_tap_opts* o);

struct ingress_endpoint_stats {
    uint64_t delivered, dropped_full, truncated, wakeups; /* since the last (re)open */
    uint64_t reconnects; /* times the endpoint was reopened on a restarted daemon */
};

/* Connects to ingressd's control socket (NULL: the default path). errno as connect(2) on
 * an AF_UNIX socket: ENOENT (no such socket: ingressd is not running), ECONNREFUSED
 * (nobody listens), EACCES (the socket's permissions); EPROTO: the daemon speaks another
 * protocol version. */
struct ingress_client* ingress_client_connect(const char* path);
void ingress_client_close(struct ingress_client* c);
/* The control connection's fd, for poll/epoll: POLLHUP when the daemon exits. It changes
 * when the library reconnects. */
int ingress_client_fd(const struct ingress_client* c);
/* on != 0 (the default): when the daemon exits, ingress_recv keeps trying to reconnect
 * (every 100 ms, within its timeout) and reopens every endpoint of the client with its
 * options and memberships; the next datagram carries INGRESS_D_AFTER_GAP. on == 0:
 * ingress_recv fails with -ECONNRESET instead. */
void ingress_client_set_reconnect(struct ingress_client* c, int on);
/* Daemon counters as text (nstat form); free() the result. NULL on error. */
char* ingress_client_stats(struct ingress_client* c);

/* errno as socket()/setsockopt()/bind()/connect() would give: EADDRINUSE (the address and
 * port are taken and the reuse options do not allow sharing), EADDRNOTAVAIL (not a local
 * address; ip_nonlocal_bind is off), EACCES (a port below ip_unprivileged_port_start
 * without CAP_NET_BIND_SERVICE), ENODEV (no such interface), EINVAL (bad options, e.g.
 * ring_slots above the daemon's limit), EMFILE (the endpoint's fds, its doorbell and one
 * ring per daemon worker, would pass this process's RLIMIT_NOFILE, as socket()'s would; or
 * the daemon's per-uid endpoint quota, control.max_endpoints_per_uid), ENOMEM, and
 * ECONNRESET/ENOTCONN when the daemon went away. */
struct ingress_endpoint* ingress_udp_open(struct ingress_client* c,
                                          const struct ingress_udp_opts* o);
/* As ingress_udp_open, plus EPERM (no CAP_NET_RAW and no policy grant) and
 * EPROTONOSUPPORT (protocol 0 or one raw sockets cannot take). */
struct ingress_endpoint* ingress_raw_open(struct ingress_client* c,
                                          const struct ingress_raw_opts* o);
/* EPERM (no CAP_NET_RAW and no policy grant), ENODEV, EINVAL (a filter that does not
 * compile), EMFILE, ENOMEM. */
struct ingress_endpoint* ingress_tap_open(struct ingress_client* c,
                                          const struct ingress_tap_opts* o);
void ingress_endpoint_close(struct ingress_endpoint* ep);

uint32_t ingress_endpoint_id(const struct ingress_endpoint* ep);
/* The wakeup doorbell (a socket fd), for poll/epoll; arm it with ingress_prepare_sleep
   first (which also consumes earlier rings). */
int ingress_endpoint_fd(const struct ingress_endpoint* ep);
/* 1: armed, sleep on the fd; 0: data is waiting. */
int ingress_prepare_sleep(struct ingress_endpoint* ep);
/* Up to max datagrams, waiting up to timeout_ms (0 none, -1 forever); 0 when none came.
 * A pending ICMP error (see ingress_errmsg) fails the call once with its errno first.
 * When the daemon exits, what it delivered is still read; then the library reconnects (see
 * ingress_client_set_reconnect) or, with reconnection off, fails with -ECONNRESET. The
 * errno of a reopen the restarted daemon refused (e.g. -EADDRINUSE: the port was taken
 * meanwhile); -EBADF: the endpoint is closed. */
int ingress_recv(struct ingress_endpoint* ep, struct ingress_datagram* out, size_t max,
                 int timeout_ms);
/* ICMP errors (README "Errors and IP_RECVERR"). An ICMP error about a datagram an endpoint
 * sent reaches it as the kernel's __udp4_lib_err / raw_err hand it to a socket:
 *   - the pending error (sk_err): ingress_recv and ingress_recvmmsg fail once with it
 *     (-ECONNREFUSED, -EHOSTUNREACH, -EMSGSIZE, -EPROTO, ...) before any queued datagram, as
 *     recvmsg does; without IP_RECVERR only a connected endpoint gets it, and only for hard
 *     errors (port and protocol unreachable, frag needed, parameter problem, ...);
 *   - with IP_RECVERR (ingress_udp_opts.recverr, ingress_set_recverr) every error (source
 *     quench excepted) also goes on the endpoint's error queue, read with
 *     ingress_recv_error as recvmsg(MSG_ERRQUEUE) reads it. Each entry is charged to the
 *     endpoint's receive budget (SO_RCVBUF) like a datagram until it is read, and an entry
 *     that would reach the budget is lost, as the kernel's sock_queue_err_skb loses it.
 * The doorbell rings for an error as for a datagram (poll's POLLERR). */
struct ingress_errmsg {
    struct ingress_sock_err ee; /* the IP_RECVERR control message: sock_extended_err and
                                   SO_EE_OFFENDER (shm/record.h) */
    struct sockaddr_in addr;    /* msg_name: the errored datagram's destination and port
                                   (network byte order; port 0 on raw endpoints) */
    uint32_t len;               /* bytes of the errored datagram's payload copied into buf */
    uint32_t msg_flags;         /* MSG_ERRQUEUE, plus MSG_TRUNC when buf (or the queue's
                                   slot) held less than the ICMP message quoted */
    uint16_t worker;            /* the ring (daemon worker) it came from */
    struct ingress_meta meta;   /* the entry's record: the ICMP message's IP_PKTINFO
                                   (dst_addr, ifindex), TOS, TTL and timestamps */
};
/* recvmsg(MSG_ERRQUEUE): the oldest error-queue entry, its payload copied into buf. Returns
 * the bytes copied (>= 0), or -EAGAIN when the queue is empty (it never waits, as the
 * kernel's). Afterwards the pending error is the next entry's errno, or none. -EBADF: the
 * endpoint is closed. */
int ingress_recv_error(struct ingress_endpoint* ep, struct ingress_errmsg* out, void* buf,
                       size_t buf_len);
/* setsockopt(IP_RECVERR) on an open UDP or raw endpoint; -ENOPROTOOPT on a tap. Turning it
 * off does not empty the queue (as the kernel, which purges it then: a difference). */
int ingress_set_recverr(struct ingress_endpoint* ep, int on);

/* One message of ingress_recvmmsg, as struct mmsghdr is one of recvmmsg(2): the caller
 * gives a buffer, the call copies the datagram into it and fills the rest. */
struct ingress_mmsg {
    void* buf;                /* in: where the payload goes (msg_iov) */
    uint32_t buf_len;         /* in: its size */
    uint32_t len;             /* out: msg_len: bytes copied (with MSG_TRUNC in flags: the
                                 datagram's real length, as recvmsg returns then) */
    struct sockaddr_in src;   /* out: msg_name (network byte order, as recvmsg's); taps:
                                 zero (AF_UNSPEC), the sockaddr_ll facts are in meta */
    uint32_t msg_flags;       /* out: MSG_TRUNC when the datagram was longer than what was
                                 copied (buf_len, or the slot: INGRESS_F_TRUNCATED) */
    uint16_t worker;          /* out: the ring (daemon worker) it came from */
    uint16_t dflags;          /* out: INGRESS_D_* (INGRESS_D_AFTER_GAP) */
    struct ingress_meta meta; /* out: a copy of the slot's record, the same bytes
                                 ingress_recv's d.meta points at (IP_PKTINFO, TOS, TTL,
                                 ORIGDSTADDR, SO_TIMESTAMPNS: meta.rx_ns, SO_TIMESTAMPING's
                                 hardware stamp: meta.hw_ns with INGRESS_F_HW_TSTAMP, see
                                 ingress_hw_timestamp, SO_RXQ_OVFL, taps' sll) */
    uint8_t ip_opts[80];      /* out: IP_RECVOPTS (meta.ip_optlen bytes), then IP_RETOPTS
                                 (meta.ip_retoptlen bytes): see ingress_ip_recvopts */
};

/* recvmmsg(2) for an endpoint: up to vlen datagrams copied into msgs[i].buf, each with its
 * source address, truncation flag and record. flags: MSG_DONTWAIT (do not wait for the
 * first), MSG_WAITFORONE (MSG_DONTWAIT after the first), MSG_TRUNC (len is the real length).
 * timeout: NULL waits without bound; otherwise the call returns what it has when the time
 * is up, and *timeout is set to the time left (as the kernel writes it back).
 *
 * Without MSG_WAITFORONE a blocking call waits until vlen datagrams came, as recvmmsg does.
 * The kernel's quirk (recvmmsg(2), BUGS): its timeout is only checked after each datagram,
 * so a call that got fewer than vlen and then nothing more blocks past the timeout (until
 * SO_RCVTIMEO, or forever). Here every wait is bounded by the time left: the timeout works
 * as the manual intends. The deadline is checked after each batch taken from the rings
 * (datagrams already waiting are taken without looking at the clock per datagram).
 *
 * Returns the number of messages filled (>= 1), or -EAGAIN (errno EAGAIN) when none came
 * (MSG_DONTWAIT, or the timeout expired), as recvmmsg; other errors as ingress_recv.
 * Works with the slots of ingress_recv: the views the last ingress_recv returned are given
 * back first. */
int ingress_recvmmsg(struct ingress_endpoint* ep, struct ingress_mmsg* msgs, unsigned int vlen,
                     int flags, struct timespec* timeout);

/* Endpoint sets: one fd for poll/epoll that covers many endpoints (epoll's own model: a
 * set is an epoll instance over the members' doorbells, kept by the library; members keep
 * their own fds). The set's fd is readable exactly while ingress_set_ready would return
 * something it has not yet returned as empty, that is:
 *   - after a member that the set had armed received data (its doorbell rang), until the
 *     next ingress_set_ready call takes that;
 *   - after an ingress_set_ready that returned at least one member, until a later call
 *     returns 0 (the listed members may still hold data: level-triggered, as a socket is
 *     readable until it is drained).
 * Level-triggered epoll (the default) therefore reports the set fd on every epoll_wait
 * until ingress_set_ready returns 0; handling a few members per wakeup is fine.
 * EPOLLET reports it once per change: when an armed member receives data, and when an
 * ingress_set_ready call finds members with data after one that found none (the set fd
 * turns readable). An EPOLLET user must call ingress_set_ready until it returns 0,
 * receiving from what it lists (ingress_recv / ingress_recvmmsg with timeout 0 until they
 * return nothing), as with a socket read until EAGAIN; stopping earlier may leave data
 * no later edge announces.
 * ingress_set_ready returning 0 arms every member: the set fd turns readable at the next
 * datagram to any of them. The worker rings each sleeping member's doorbell once per burst
 * (its own needs-wakeup flag), not per datagram. A member read by a blocking ingress_recv
 * (timeout != 0) stays covered: the set lists it again afterwards. The members' clients'
 * control connections are in the set too: when the daemon exits, the set fd turns readable
 * and those members are listed, so their ingress_recv (timeout 0 is enough) reports the
 * hangup or reconnects; while no daemon runs they are listed every 100 ms (a timer in the
 * set), so reconnection is retried without a busy loop. Members may belong to several
 * clients. */
struct ingress_set;
struct ingress_set_event {
    struct ingress_endpoint* ep; /* a member with data waiting */
    void* data;                  /* what ingress_set_add was given */
};
/* NULL with errno (EMFILE, ENFILE, ENOMEM) as epoll_create1. */
struct ingress_set* ingress_set_create(void);
/* Removes every member (they stay open) and closes the set's fd. */
void ingress_set_close(struct ingress_set* s);
int ingress_set_fd(const struct ingress_set* s);
/* -EEXIST (already a member), -EBUSY (a member of another set), -ENOSPC/-ENOMEM as
 * epoll_ctl(EPOLL_CTL_ADD); -EBADF (the endpoint is closed). A member that has data when
 * added is listed by the next ingress_set_ready. Closing an endpoint removes it. */
int ingress_set_add(struct ingress_set* s, struct ingress_endpoint* ep, void* data);
/* -ENOENT: not a member (as EPOLL_CTL_DEL). */
int ingress_set_remove(struct ingress_set* s, struct ingress_endpoint* ep);
/* The members with data waiting, at most max (no wait): the next max of them in turn, so
 * none starves. 0 when none has: every member is armed. Negative errno on failure. */
int ingress_set_ready(struct ingress_set* s, struct ingress_set_event* out, size_t max);
/* ingress_set_ready, waiting up to timeout_ms (0 none, -1 forever) for the first member. */
int ingress_set_wait(struct ingress_set* s, struct ingress_set_event* out, size_t max,
                     int timeout_ms);

/* ioctl(FIONREAD) / ioctl(SIOCINQ) on a UDP socket: *bytes = the payload length of the
 * datagram the next ingress_recv returns first (its whole length, even when the slot holds
 * less: INGRESS_F_TRUNCATED), 0 when none is waiting. -EBADF: the endpoint is closed. */
int ingress_fionread(struct ingress_endpoint* ep, int* bytes);
/* getsockopt(SO_MEMINFO)[SK_MEMINFO_RMEM_ALLOC] (/proc/net/udp rx_queue): *bytes = what the
 * unread datagrams and error-queue entries are charged to the endpoint's receive budget
 * (their skb truesizes, docs/rcvbuf.md), read from the rings' headers without a walk or a
 * daemon call. -EBADF: the endpoint is closed. */
int ingress_rmem_alloc(struct ingress_endpoint* ep, uint64_t* bytes);
/* setsockopt(SO_RCVBUF) on an open UDP endpoint: bytes as for ingress_udp_opts.rcvbuf (0
 * is SOCK_MIN_RCVBUF here, as the kernel's). -ENOPROTOOPT on raw and tap endpoints. */
int ingress_set_rcvbuf(struct ingress_endpoint* ep, uint32_t bytes);
/* setsockopt(SO_RCVBUFFORCE): as ingress_set_rcvbuf without the net.core.rmem_max clamp
 * (bytes at most INT_MAX / 2 count, then doubled). -EPERM unless the process holds
 * CAP_NET_ADMIN (libingress proves it to the daemon with a socket only such a process can
 * make); -ENOPROTOOPT on raw and tap endpoints. The sysctls: rmem_max counts when
 * ingress_set_rcvbuf is called, rmem_default when an endpoint is opened; a later change of
 * either leaves open endpoints as they are, as the kernel does. */
int ingress_set_rcvbufforce(struct ingress_endpoint* ep, uint32_t bytes);
/* setsockopt(PACKET_IGNORE_OUTGOING) on an open tap. -ENOPROTOOPT on UDP and raw endpoints. */
int ingress_set_ignore_outgoing(struct ingress_endpoint* ep, int on);
/* connect() on an open raw endpoint (ip4_datagram_connect): from now on only datagrams from
 * `remote` (host order) reach it, and an endpoint bound to no address takes the source the
 * route to `remote` picks as its local address; 0 is connect(AF_UNSPEC), undoing both.
 * -EOPNOTSUPP on UDP (connected at open: ingress_udp_opts.remote_addr) and tap endpoints. */
int ingress_raw_connect(struct ingress_endpoint* ep, uint32_t remote);
/* Bindings (tubular's model of BPF sk_lookup; README "Bindings"): register the UDP endpoint
 * under a label, so unicast datagrams a binding gives that label reach it before the bound
 * and wildcard endpoints (several endpoints under a label share its flows by the reuseport
 * hash). Registered again by itself after a daemon restart. 0, or -EPERM (needs
 * CAP_NET_ADMIN or the daemon's policy.register grant), -EPROTOTYPE (not UDP), -EEXIST
 * (already under it), -EINVAL (a label is 1..64 bytes); unregister: -ENOENT. */
int ingress_register(struct ingress_endpoint* ep, const char* label);
int ingress_unregister(struct ingress_endpoint* ep, const char* label);
/* Keep polling the rings this long before sleeping in ingress_recv (default 0). */
void ingress_set_busy_poll_us(struct ingress_endpoint* ep, uint32_t us);
void ingress_endpoint_stats(const struct ingress_endpoint* ep, struct ingress_endpoint_stats* out);

/* IP_ADD_MEMBERSHIP / IP_ADD_SOURCE_MEMBERSHIP / IP_BLOCK_SOURCE (and their DROP
 * counterparts in ingress_leave). include != 0 with sources: only those sources;
 * include == 0: all but them. -EINVAL (not a multicast group, or a filter mode that
 * contradicts the membership's), -ENOBUFS (igmp_max_memberships or igmp_max_msf reached),
 * -EADDRNOTAVAIL (leaving a group or source not joined), -EOPNOTSUPP (a tap). */
int ingress_join(struct ingress_endpoint* ep, uint32_t group, uint32_t ifindex,
                 const uint32_t* sources, size_t nsources, int include);
int ingress_leave(struct ingress_endpoint* ep, uint32_t group, uint32_t ifindex,
                  const uint32_t* sources, size_t nsources);

const char* ingress_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* INGRESS_H */
