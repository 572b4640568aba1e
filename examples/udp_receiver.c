/* Receive UDP datagrams on a port through ingressd, from C (README: "Applications").
 * Build: cc udp_receiver.c $(pkg-config --cflags --libs libingress)
 * Run:   ./udp_receiver_c [SOCKET] [PORT] [COUNT] */
#include <stdio.h>
#include <stdlib.h>

#include <ingress/ingress.h>

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : NULL;
    struct ingress_udp_opts o = INGRESS_UDP_OPTS_INIT; /* a new socket's defaults */
    o.port = (uint16_t)(argc > 2 ? atoi(argv[2]) : 5000);
    long want = argc > 3 ? atol(argv[3]) : 10, got = 0;

    struct ingress_client *c = ingress_client_connect(path);
    if (!c) { fprintf(stderr, "connect: %s\n", ingress_last_error()); return 2; }
    struct ingress_endpoint *ep = ingress_udp_open(c, &o);
    if (!ep) { /* errno: EADDRINUSE, EADDRNOTAVAIL, EACCES ... as bind() would say */
        fprintf(stderr, "open: %s\n", ingress_last_error());
        return 2;
    }
    struct ingress_datagram d[32];
    while (got < want) {
        int n = ingress_recv(ep, d, 32, 5000);
        if (n <= 0) break;
        for (int i = 0; i < n; i++) /* d[i].meta: the ring slot's record */
            printf("%u bytes from %08x:%u%s\n", d[i].len, d[i].meta->src_addr, d[i].meta->src_port,
                   (d[i].meta->flags & INGRESS_F_TRUNCATED) ? " (truncated)" : "");
        got += n;
    }
    printf("received %ld\n", got);
    ingress_endpoint_close(ep);
    ingress_client_close(c);
    return got == want ? 0 : 1;
}
