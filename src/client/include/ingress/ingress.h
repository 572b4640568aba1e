/* libingress, C interface: receive what ingressd delivers to your endpoints.
 * Build with `pkg-config --cflags --libs libingress`; link as C++ (the library is C++).
 *
 *   struct ingress_client *c = ingress_client_connect(NULL);   // default socket
 *   struct ingress_udp_opts o = {0}; o.port = 5000; o.multicast_all = 1;
 *   struct ingress_endpoint *ep = ingress_udp_open(c, &o);
 *   struct ingress_datagram d[32];
 *   int n = ingress_recv(ep, d, 32, 1000);                       // up to 1 s
 *
 * Functions returning a pointer return NULL on error; those returning int return a
 * negative errno. ingress_last_error() gives the daemon's (or the library's) message for the
 * calling thread's last failure. Addresses and ports are host byte order.
 *
 *   for (int i = 0; i < n; i++)
 *       if (d[i].meta->flags & INGRESS_F_TRUNCATED) ...            // orig_len > len */
#ifndef INGRESS_H
#define INGRESS_H

#include <stddef.h>
#include <stdint.h>

#include "shm/record.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ingress_client;
struct ingress_endpoint;

/* One received datagram, a view of one ring slot (valid until the next ingress_recv on the
 * endpoint). meta is the record the daemon wrote into the slot (shm/record.h: addresses,
 * ports, ifindex, rx_ns, vlan, pkt_type, protocol, ethertype, orig_len and the INGRESS_F_*
 * flags); nothing is copied out of it. */
struct ingress_datagram {
    const uint8_t* data;             /* payload */
    const struct ingress_meta* meta; /* the slot's record */
    uint32_t len;                    /* bytes at data (meta->len, bounded by the slot) */
    uint16_t worker;                 /* the ring (daemon worker) it came from */
};

struct ingress_udp_opts {
    uint32_t addr;
    uint16_t port;
    uint32_t remote_addr;
    uint16_t remote_port;
    uint32_t ifindex;
    int reuseport, reuseaddr, multicast_all;
    uint32_t ring_slots;
};

struct ingress_raw_opts {
    uint8_t protocol;
    uint32_t addr, remote_addr, ifindex, icmp_filter;
    int multicast_all;
    uint32_t ring_slots;
};

struct ingress_tap_opts {
    uint16_t ethertype; /* 0x0003 = ETH_P_ALL */
    uint32_t ifindex;
    int dgram;
    const char* filter; /* pcap expression or NULL */
    uint32_t ring_slots;
};

struct ingress_endpoint_stats {
    uint64_t delivered, dropped_full, truncated, wakeups;
};

struct ingress_client* ingress_client_connect(const char* path);
void ingress_client_close(struct ingress_client* c);
/* Daemon counters as text (nstat form); free() the result. NULL on error. */
char* ingress_client_stats(struct ingress_client* c);

struct ingress_endpoint* ingress_udp_open(struct ingress_client* c,
                                          const struct ingress_udp_opts* o);
struct ingress_endpoint* ingress_raw_open(struct ingress_client* c,
                                          const struct ingress_raw_opts* o);
struct ingress_endpoint* ingress_tap_open(struct ingress_client* c,
                                          const struct ingress_tap_opts* o);
void ingress_endpoint_close(struct ingress_endpoint* ep);

uint32_t ingress_endpoint_id(const struct ingress_endpoint* ep);
/* The wakeup doorbell (a socket fd), for poll/epoll; arm it with ingress_prepare_sleep
   first (which also consumes earlier rings). */
int ingress_endpoint_fd(const struct ingress_endpoint* ep);
/* 1: armed, sleep on the fd; 0: data is waiting. */
int ingress_prepare_sleep(struct ingress_endpoint* ep);
/* Up to max datagrams, waiting up to timeout_ms (0 none, -1 forever). */
int ingress_recv(struct ingress_endpoint* ep, struct ingress_datagram* out, size_t max,
                 int timeout_ms);
/* Keep polling the rings this long before sleeping in ingress_recv (default 0). */
void ingress_set_busy_poll_us(struct ingress_endpoint* ep, uint32_t us);
void ingress_endpoint_stats(const struct ingress_endpoint* ep, struct ingress_endpoint_stats* out);

/* include != 0 with sources: only those sources; include == 0: all but them. */
int ingress_join(struct ingress_endpoint* ep, uint32_t group, uint32_t ifindex,
                 const uint32_t* sources, size_t nsources, int include);
int ingress_leave(struct ingress_endpoint* ep, uint32_t group, uint32_t ifindex,
                  const uint32_t* sources, size_t nsources);

const char* ingress_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* INGRESS_H */
