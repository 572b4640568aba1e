/* The endpoint-set app of tests/check-endpoint-set.sh, in C against <ingress/ingress.h>:
 * N UDP endpoints on ports BASE..BASE+N-1 (60 per client: ingressd allows 64 per control
 * connection), all in one ingress_set, whose fd sits in one epoll instance, level- or
 * edge-triggered. Each wakeup drains the set (ingress_set_ready until 0, ingress_recvmmsg
 * with MSG_DONTWAIT on each listed endpoint until EAGAIN). Each datagram's payload is a
 * decimal tag; the app counts tags seen twice and datagrams on the wrong port (the tag's
 * "port:" prefix). After EXPECT datagrams it stays one more second counting wakeups.
 *
 *   set_app SOCKET N BASE EXPECT lt|et
 *
 * Prints "ready" on stderr once every endpoint is open, then on stdout:
 *   received R unique U dups D wrong_port W wakeups K empty_wakeups E idle_wakeups I */
#include <errno.h>
#include <ingress/ingress.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#define PER_CLIENT 60
#define MAX_TAGS (1 << 20)
#define BATCH 16

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: set_app SOCKET N BASE EXPECT lt|et\n");
        return 2;
    }
    const char* path = argv[1];
    const int n = atoi(argv[2]), base = atoi(argv[3]);
    const long expect = atol(argv[4]);
    const int edge = strcmp(argv[5], "et") == 0;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    struct ingress_set* set = ingress_set_create();
    struct ingress_client** clients = calloc((size_t)n / PER_CLIENT + 1, sizeof *clients);
    struct ingress_endpoint** eps = calloc((size_t)n, sizeof *eps);
    unsigned char* seen = calloc(MAX_TAGS, 1);
    if (!set || !clients || !eps || !seen) return 1;
    for (int i = 0; i < n; i++) {
        if (i % PER_CLIENT == 0) {
            clients[i / PER_CLIENT] = ingress_client_connect(path);
            if (!clients[i / PER_CLIENT]) {
                fprintf(stderr, "connect: %s\n", ingress_last_error());
                return 1;
            }
        }
        struct ingress_udp_opts o = INGRESS_UDP_OPTS_INIT;
        o.port = (uint16_t)(base + i);
        o.ring_slots = 16;
        eps[i] = ingress_udp_open(clients[i / PER_CLIENT], &o);
        if (!eps[i] || ingress_set_add(set, eps[i], (void*)(long)(base + i)) != 0) {
            fprintf(stderr, "endpoint %d: %s\n", i, ingress_last_error());
            return 1;
        }
    }
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | (edge ? EPOLLET : 0)};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, ingress_set_fd(set), &ev) != 0) return 1;
    /* Members are listed once when added: drain, which arms them. */
    struct ingress_set_event ready[64];
    while (ingress_set_ready(set, ready, 64) > 0) {
    }
    fprintf(stderr, "ready\n");

    char bufs[BATCH][64];
    struct ingress_mmsg m[BATCH];
    for (int i = 0; i < BATCH; i++) {
        memset(&m[i], 0, sizeof m[i]);
        m[i].buf = bufs[i];
        m[i].buf_len = sizeof bufs[i] - 1;
    }
    long received = 0, unique = 0, dups = 0, wrong = 0, wakeups = 0, empty = 0, idle = 0;
    double done_at = 0, deadline = now_s() + 60;
    for (;;) {
        double t = now_s();
        if (done_at && t >= done_at + 1.0) break;
        if (t >= deadline) break;
        struct epoll_event out[4];
        int rc = epoll_wait(epfd, out, 4, 200);
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) continue;
        wakeups++;
        if (done_at) idle++;
        long before = received;
        int k;
        while ((k = ingress_set_ready(set, ready, 64)) > 0) {
            for (int j = 0; j < k; j++) {
                const long port = (long)ready[j].data;
                int got;
                while ((got = ingress_recvmmsg(ready[j].ep, m, BATCH, MSG_DONTWAIT, NULL)) > 0) {
                    for (int g = 0; g < got; g++) {
                        bufs[g][m[g].len] = 0;
                        long p = 0, tag = 0;
                        if (sscanf(bufs[g], "%ld:%ld", &p, &tag) != 2 || tag < 0 ||
                            tag >= MAX_TAGS) {
                            wrong++;
                            continue;
                        }
                        wrong += p != port || m[g].meta.dst_port != port;
                        if (seen[tag]++)
                            dups++;
                        else
                            unique++;
                        received++;
                    }
                }
                if (got != -EAGAIN) {
                    fprintf(stderr, "recvmmsg: %s\n", ingress_last_error());
                    return 1;
                }
            }
        }
        if (received == before) empty++;
        if (!done_at && received >= expect) done_at = now_s();
    }
    printf("received %ld unique %ld dups %ld wrong_port %ld wakeups %ld empty_wakeups %ld "
           "idle_wakeups %ld\n",
           received, unique, dups, wrong, wakeups, empty, idle);
    ingress_set_close(set);
    for (int i = 0; i < n; i++) ingress_endpoint_close(eps[i]);
    for (int i = 0; i <= n / PER_CLIENT; i++)
        if (clients[i]) ingress_client_close(clients[i]);
    return 0;
}
