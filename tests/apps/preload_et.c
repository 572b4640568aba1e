/* A plain-socket UDP sink (no libingress in it) for tests/check-preload.sh: edge-triggered
 * epoll and recvmmsg with MSG_DONTWAIT until EAGAIN, as event loops read. Run under
 * LD_PRELOAD=libingress-preload.so it receives through ingressd.
 * Usage: preload_et PORT COUNT  -> prints "received N wakeups W empty E". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const int port = atoi(argv[1]);
    const long want = atol(argv[2]);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 2; }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = 0xfeed};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) { perror("epoll_ctl"); return 2; }
    fprintf(stderr, "ready\n");
    enum { kVlen = 16 };
    static char bufs[kVlen][2048];
    struct mmsghdr m[kVlen];
    struct iovec iov[kVlen];
    long got = 0, wakeups = 0, empty = 0;
    while (got < want) {
        struct epoll_event out[4];
        int n = epoll_wait(ep, out, 4, 5000);
        if (n <= 0) break; /* 5 s of nothing: give up */
        if (out[0].data.u64 != 0xfeed || !(out[0].events & EPOLLIN)) { fprintf(stderr, "bad event\n"); return 1; }
        wakeups++;
        long before = got;
        for (;;) { /* edge-triggered: until EAGAIN */
            for (int i = 0; i < kVlen; i++) {
                iov[i].iov_base = bufs[i];
                iov[i].iov_len = sizeof bufs[i];
                memset(&m[i].msg_hdr, 0, sizeof m[i].msg_hdr);
                m[i].msg_hdr.msg_iov = &iov[i];
                m[i].msg_hdr.msg_iovlen = 1;
            }
            int r = recvmmsg(fd, m, kVlen, MSG_DONTWAIT, NULL);
            if (r < 0) {
                if (errno == EAGAIN) break;
                perror("recvmmsg");
                return 1;
            }
            got += r;
        }
        if (got == before) empty++;
    }
    printf("received %ld wakeups %ld empty %ld\n", got, wakeups, empty);
    return got == want ? 0 : 1;
}
