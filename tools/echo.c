/* echo.c — `sysnet echo`: a TCP (or UDP) echo server on the loop module: every
 * byte read is written back (tools/srv.c does the serving). Backpressure: a client
 * that sends without reading fills its connection's write queue to the high-water
 * mark; the server then stops reading from it until the queue drains, so memory
 * per connection stays bounded. */
#include "srv.h"
#include "tool.h"

#include <stdio.h>
#include <string.h>

static void help(void)
{
    printf("usage: sysnet echo --listen ADDR:PORT [options]\n"
           "An echo server on the sysnet loop: every byte read is written back.\n\n" SRV_HELP
           "  -u, --udp               echo UDP datagrams instead (recvmmsg/sendmmsg)\n"
           "  -h, --help              this text\n\n"
           "Stops on SIGINT or SIGTERM, closing every connection gracefully, and prints totals.\n"
           "Exit status: 0 ok, 1 could not listen, 2 bad usage.\n");
}

static void on_read(struct sn_stream *s, const uint8_t *data, ssize_t n)
{
    struct srv_conn *c = s->data;
    if (n > 0) {
        struct srv_counters *ctr = srv_counters(c);
        ctr->bytes_in += (uint64_t)n;
        int rc = sn_stream_write(s, data, (size_t)n);
        if (rc >= 0)
            ctr->bytes_out += (uint64_t)n;
        if (rc == 1)
            sn_stream_read_stop(s); /* backpressure: srv's on_drain resumes reading */
        else if (rc < 0)
            srv_conn_abort(c);
    } else if (n == 0) {
        srv_conn_close(c); /* the client is done sending: flush what is queued, FIN, close */
    } else {
        srv_conn_abort(c);
    }
}

/* Answer each datagram to its source, in place: the same buffers, one sendmmsg. */
static void on_datagrams(struct sn_udp *u, struct sn_batch *b, int n, struct srv_counters *ctr)
{
    for (int i = 0; i < n; i++) {
        size_t len = sn_batch_len(b, (unsigned)i);
        b->iov[i].iov_len = len;
        b->msg[i].msg_hdr.msg_controllen = 0;
        ctr->bytes_in += len;
    }
    b->n = (unsigned)n;
    ctr->datagrams += (unsigned)n;
    int sent = sn_udp_send(u, b); /* a full socket buffer drops replies, as UDP may */
    for (int i = 0; i < sent; i++)
        ctr->bytes_out += b->iov[i].iov_len;
}

int cmd_echo(int argc, char **argv)
{
    static const struct option lo[] = {
        SRV_LONGOPTS, {"udp", no_argument, NULL, 'u'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    struct srv_opts o = {.name = "echo", .conn_size = sizeof(struct srv_conn), .on_read = on_read,
                         .on_datagrams = on_datagrams};
    const char *listen_at = NULL;
    int c, rc;
    opterr = 0;
    optind = 1;
    while ((c = srv_getopt(&o, &listen_at, argc, argv, ":" SRV_SHORTOPTS "uh", lo, &rc)) >= 0) {
        switch (c) {
        case 'h': help(); return 0;
        case 'u': o.udp = 1; break;
        }
    }
    if (c == -2)
        return rc;
    if ((rc = srv_check(&o, listen_at)) >= 0)
        return rc;
    return srv_run(&o);
}
