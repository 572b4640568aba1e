/* IP_RECVERR and MSG_ERRQUEUE as an app sees them, printed line by line, for
 * tests/check-preload.sh to run once on the kernel socket (no ingressd) and once under
 * libingress-preload (ingressd receives the ICMP errors and queues them on the endpoint):
 * the two outputs must be identical. Pinned (kernel behaviour): a send that does not fit the
 * path MTU under IP_PMTUDISC_DO queues a local error (ip_local_error: SO_EE_ORIGIN_LOCAL, the
 * MTU in ee_info, no address) on the socket's own queue; a port unreachable for a datagram it
 * sent queues an ICMP entry (ip_icmp_error) and sets the pending error; poll and epoll report
 * POLLERR/EPOLLERR (not POLLIN) while either is there (datagram_poll); recv fails once with
 * ECONNREFUSED, and so does a send (which
 * sends nothing); recvmsg(MSG_ERRQUEUE) returns the quoted payload (MSG_TRUNC when the buffer
 * is short, and the bytes copied), msg_name the errored datagram's destination, the ICMP
 * message's IP_PKTINFO / IP_TTL / IP_TOS / IP_ORIGDSTADDR (ports read from the payload), its
 * SO_TIMESTAMPNS and SCM_TIMESTAMPING (ts[0] the software stamp; ts[2], the raw hardware
 * one, absent on veth: __sock_recv_timestamp, the error queue ignoring OPT_RX_FILTER) and
 * the IP_RECVERR message (sock_extended_err and the offender); each dequeue leaves the next
 * ICMP entry's errno pending (sock_dequeue_err_skb); an empty queue is EAGAIN; turning
 * IP_RECVERR off purges the queue and leaves the pending error.
 * Usage: preload_errqueue PORT PEER   (PEER: an address whose port 9 is closed, one hop) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void on(int fd, int level, int name, int v) {
    if (setsockopt(fd, level, name, &v, sizeof v) < 0) { perror("setsockopt"); exit(2); }
}

static const char *err_name(int e) {
    switch (e) {
        case 0: return "0";
        case EAGAIN: return "EAGAIN";
        case ECONNREFUSED: return "ECONNREFUSED";
        case EMSGSIZE: return "EMSGSIZE";
        case EHOSTUNREACH: return "EHOSTUNREACH";
        default: return "other";
    }
}

static void poll_line(int fd, const char *what) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, 0);
    printf("poll %s: %d revents%s%s%s\n", what, n, p.revents & POLLIN ? " POLLIN" : "",
           p.revents & POLLERR ? " POLLERR" : "", p.revents ? "" : " none");
}

static void recv_line(int fd, const char *what) {
    char b[64];
    ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);
    printf("recv %s: %zd %s\n", what, n, n < 0 ? err_name(errno) : "data");
}

/* One recvmsg(MSG_ERRQUEUE) with a payload buffer of `room` bytes; 0 when the queue was
 * empty. */
static int errqueue_line(int fd, size_t room) {
    char buf[2048], ctl[512];
    struct sockaddr_in name;
    memset(&name, 0xa5, sizeof name);
    struct iovec iov = {buf, room};
    struct msghdr m = {.msg_name = &name, .msg_namelen = sizeof name, .msg_iov = &iov,
                       .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    ssize_t n = recvmsg(fd, &m, MSG_ERRQUEUE);
    if (n < 0) {
        printf("errqueue: -1 %s\n", err_name(errno));
        return 0;
    }
    printf("errqueue: %zd bytes \"%.*s\" flags%s%s%s namelen %u", n, (int)n, buf,
           m.msg_flags & MSG_ERRQUEUE ? " ERRQUEUE" : "", m.msg_flags & MSG_TRUNC ? " TRUNC" : "",
           m.msg_flags & MSG_CTRUNC ? " CTRUNC" : "", m.msg_namelen);
    if (m.msg_namelen >= sizeof name)
        printf(" name %s:%u", inet_ntoa(name.sin_addr), ntohs(name.sin_port));
    printf("\n");
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        size_t len = c->cmsg_len - CMSG_LEN(0);
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
            struct timespec ts, now;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            clock_gettime(CLOCK_REALTIME, &now);
            printf("  SO_TIMESTAMPNS len %zu %s\n", len,
                   now.tv_sec - ts.tv_sec >= 0 && now.tv_sec - ts.tv_sec < 10 ? "recent" : "wrong");
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPING) {
            /* scm_timestamping: ts[0] software, ts[2] raw hardware (none on veth) */
            struct timespec ts[3], now;
            memcpy(ts, CMSG_DATA(c), sizeof ts);
            clock_gettime(CLOCK_REALTIME, &now);
            printf("  SCM_TIMESTAMPING len %zu ts0 %s ts1 %s ts2 %s\n", len,
                   ts[0].tv_sec == 0 && ts[0].tv_nsec == 0             ? "zero"
                   : now.tv_sec - ts[0].tv_sec >= 0 && now.tv_sec - ts[0].tv_sec < 10 ? "recent"
                                                                          : "wrong",
                   ts[1].tv_sec || ts[1].tv_nsec ? "set" : "zero",
                   ts[2].tv_sec || ts[2].tv_nsec ? "set" : "zero");
        } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof pi);
            printf("  IP_PKTINFO ifindex %s spec_dst %s", pi.ipi_ifindex > 1 ? "iface" : "?",
                   inet_ntoa(pi.ipi_spec_dst));
            printf(" addr %s\n", inet_ntoa(pi.ipi_addr));
        } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) {
            int ttl;
            memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
            printf("  IP_TTL %d\n", ttl);
        } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
            printf("  IP_TOS 0x%02x len %zu\n", *(unsigned char *)CMSG_DATA(c), len);
        } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_ORIGDSTADDR) {
            struct sockaddr_in o;
            memcpy(&o, CMSG_DATA(c), sizeof o);
            printf("  IP_ORIGDSTADDR %s:%u\n", inet_ntoa(o.sin_addr), ntohs(o.sin_port));
        } else if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) {
            struct {
                struct sock_extended_err ee;
                struct sockaddr_in off;
            } e;
            memcpy(&e, CMSG_DATA(c), sizeof e);
            printf("  IP_RECVERR len %zu errno %s origin %u type %u code %u pad %u info %u data %u",
                   len, err_name((int)e.ee.ee_errno), e.ee.ee_origin, e.ee.ee_type, e.ee.ee_code,
                   e.ee.ee_pad, e.ee.ee_info, e.ee.ee_data);
            printf(" offender family %u %s:%u\n", e.off.sin_family, inet_ntoa(e.off.sin_addr),
                   ntohs(e.off.sin_port));
        } else {
            printf("  cmsg level %d type %d len %zu\n", c->cmsg_level, c->cmsg_type, len);
        }
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    on(fd, IPPROTO_IP, IP_RECVERR, 1);
    on(fd, IPPROTO_IP, IP_PKTINFO, 1);
    on(fd, IPPROTO_IP, IP_RECVTTL, 1);
    on(fd, IPPROTO_IP, IP_RECVTOS, 1);
    on(fd, IPPROTO_IP, IP_RECVORIGDSTADDR, 1);
    on(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1);
    /* SO_TIMESTAMPING: the software stamp and the raw hardware one (none on veth). */
    on(fd, SOL_SOCKET, SO_TIMESTAMPING,
       SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_RX_HARDWARE |
           SOF_TIMESTAMPING_RAW_HARDWARE);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 2; }
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(9)};
    inet_pton(AF_INET, argv[2], &peer.sin_addr);
    fprintf(stderr, "ready\n");
    poll_line(fd, "fresh");

    /* A local error: too big for the interface's MTU, with DF. */
    on(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
    static char big[3000];
    ssize_t n = sendto(fd, big, sizeof big, 0, (struct sockaddr *)&peer, sizeof peer);
    printf("sendto 3000 bytes with DF: %zd %s\n", n, n < 0 ? err_name(errno) : "sent");
    poll_line(fd, "after the local error");

    /* ICMP errors: port unreachable for datagrams to the closed port. The second send fails
     * with the first one's pending error and sends nothing (sock_alloc_send_pskb's
     * sock_error), the third goes. */
    const char *probes[] = {"probe-one-0123456789", "refused", "pr"};
    for (int i = 0; i < 3; ++i) {
        n = sendto(fd, probes[i], strlen(probes[i]), 0, (struct sockaddr *)&peer,
                   sizeof peer);
        printf("sendto probe %d: %zd %s\n", i, n, n < 0 ? err_name(errno) : "sent");
        usleep(200000);
    }
    poll_line(fd, "after two port unreachables");
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7}, out[2];
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    int k = epoll_wait(ep, out, 2, 0);
    printf("epoll: %d events%s%s data %u\n", k, k > 0 && (out[0].events & EPOLLIN) ? " EPOLLIN" : "",
           k > 0 && (out[0].events & EPOLLERR) ? " EPOLLERR" : "", k > 0 ? out[0].data.u32 : 0);
    recv_line(fd, "with the pending error");
    recv_line(fd, "again");
    /* The queue: the second entry into 4 bytes, the others whole; after each, the pending
     * error. */
    for (int i = 0; errqueue_line(fd, i == 1 ? 4 : 64); ++i) recv_line(fd, "after a dequeue");
    poll_line(fd, "with the queue empty");

    /* IP_RECVERR off purges the queue; the pending error stays. */
    sendto(fd, probes[0], strlen(probes[0]), 0, (struct sockaddr *)&peer, sizeof peer);
    usleep(200000);
    poll_line(fd, "after a third port unreachable");
    on(fd, IPPROTO_IP, IP_RECVERR, 0);
    errqueue_line(fd, 64);
    recv_line(fd, "after IP_RECVERR off");
    poll_line(fd, "at the end");
    fflush(stdout);
    fprintf(stderr, "done\n");
    usleep(1500000); /* the test reads the endpoint's counters meanwhile */
    return 0;
}
