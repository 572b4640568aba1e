/* The receive semantics an app sees, printed line by line, for tests/check-preload.sh to run
 * once on the kernel socket (no ingressd) and once under libingress-preload: the two outputs
 * must be identical. The test sends three datagrams ("alpha-0123456789", "b", "gamma", TOS
 * 0x28, each with an 11-byte record route the sender's kernel put its own address in) once
 * this prints "ready" on stderr. Pinned (kernel behaviour, udp_recvmsg and
 * friends): poll stays readable until read (level), FIONREAD is the first datagram's length,
 * MSG_PEEK leaves it, EPOLLONESHOT fires once until EPOLL_CTL_MOD, a short buffer sets
 * MSG_TRUNC in msg_flags, MSG_TRUNC in flags returns the real length, the control messages
 * IP_PKTINFO / IP_TTL / IP_TOS / IP_RECVOPTS / IP_RETOPTS / IP_ORIGDSTADDR in that order
 * (IP_RECVOPTS: the record route with the receiver's address written by ip_rcv_options();
 * IP_RETOPTS: its echo as ip_cmsg_recv_retopts() gives it), MSG_DONTWAIT on an empty queue
 * is EAGAIN, SO_RCVTIMEO expires with EAGAIN, and an empty queue polls unreadable.
 * Usage: preload_semantics PORT */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void on(int fd, int level, int name) {
    int one = 1;
    if (setsockopt(fd, level, name, &one, sizeof one) < 0) { perror("setsockopt"); exit(2); }
}

static int readable(int fd, int ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, ms);
    return n > 0 && (p.revents & POLLIN);
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    on(fd, IPPROTO_IP, IP_PKTINFO);
    on(fd, IPPROTO_IP, IP_RECVTTL);
    on(fd, IPPROTO_IP, IP_RECVTOS);
    on(fd, IPPROTO_IP, IP_RECVOPTS);
    on(fd, IPPROTO_IP, IP_RETOPTS);
    on(fd, IPPROTO_IP, IP_RECVORIGDSTADDR);
    struct timeval tv = {0, 300000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 2; }
    fprintf(stderr, "ready\n");
    printf("poll readable: %d\n", readable(fd, 10000));
    usleep(300000); /* all three queued */
    int q = -1;
    ioctl(fd, FIONREAD, &q);
    printf("FIONREAD: %d\n", q);
    char buf[64];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_PEEK);
    printf("peek: %zd %.*s\n", n, (int)(n > 0 ? n : 0), buf);
    printf("poll readable again: %d\n", readable(fd, 0));

    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.u32 = 7}, out[2];
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    int e1 = epoll_wait(ep, out, 2, 0), e2 = epoll_wait(ep, out, 2, 0);
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    int e3 = epoll_wait(ep, out, 2, 0);
    printf("oneshot: %d %d, after MOD %d (data %u)\n", e1, e2, e3, out[0].data.u32);

    char small[8], ctl[256];
    struct sockaddr_in src;
    struct iovec iov = {small, sizeof small};
    struct msghdr m = {.msg_name = &src, .msg_namelen = sizeof src, .msg_iov = &iov,
                       .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    n = recvmsg(fd, &m, 0);
    printf("recvmsg: %zd %.*s trunc %d from %s namelen %u\n", n, (int)(n > 0 ? n : 0), small,
           !!(m.msg_flags & MSG_TRUNC), inet_ntoa(src.sin_addr), m.msg_namelen);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != IPPROTO_IP) continue;
        if (c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof pi);
            printf("  IP_PKTINFO ifindex %d spec_dst %s", pi.ipi_ifindex, inet_ntoa(pi.ipi_spec_dst));
            printf(" addr %s\n", inet_ntoa(pi.ipi_addr));
        } else if (c->cmsg_type == IP_TTL) {
            int ttl;
            memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
            printf("  IP_TTL %d\n", ttl);
        } else if (c->cmsg_type == IP_TOS) {
            printf("  IP_TOS 0x%02x len %zu\n", *(unsigned char *)CMSG_DATA(c), (size_t)(c->cmsg_len - CMSG_LEN(0)));
        } else if (c->cmsg_type == IP_RECVOPTS || c->cmsg_type == IP_RETOPTS) {
            printf("  %s", c->cmsg_type == IP_RECVOPTS ? "IP_RECVOPTS" : "IP_RETOPTS");
            for (size_t i = 0; i < c->cmsg_len - CMSG_LEN(0); i++)
                printf(" %02x", CMSG_DATA(c)[i]);
            printf("\n");
        } else if (c->cmsg_type == IP_ORIGDSTADDR) {
            struct sockaddr_in o;
            memcpy(&o, CMSG_DATA(c), sizeof o);
            printf("  IP_ORIGDSTADDR %s:%u\n", inet_ntoa(o.sin_addr), ntohs(o.sin_port));
        } else {
            printf("  cmsg type %d\n", c->cmsg_type);
        }
    }
    n = recv(fd, buf, 0, MSG_TRUNC);
    printf("recv MSG_TRUNC into 0 bytes: %zd\n", n);
    socklen_t sl = sizeof src;
    n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&src, &sl);
    printf("recvfrom: %zd %.*s\n", n, (int)(n > 0 ? n : 0), buf);
    n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    printf("empty, MSG_DONTWAIT: %zd %s\n", n, n < 0 && errno == EAGAIN ? "EAGAIN" : "?");
    double t0 = now_ms();
    n = recv(fd, buf, sizeof buf, 0);
    double waited = now_ms() - t0;
    printf("empty, SO_RCVTIMEO: %zd %s, waited %s\n", n, n < 0 && errno == EAGAIN ? "EAGAIN" : "?",
           waited >= 250 && waited < 2000 ? "about 300 ms" : "wrong");
    printf("poll readable when empty: %d\n", readable(fd, 0));
    ioctl(fd, FIONREAD, &q);
    printf("FIONREAD when empty: %d\n", q);
    return 0;
}
