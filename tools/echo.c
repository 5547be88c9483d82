/* echo.c — `sysnet echo`: a TCP (or UDP) echo server on the loop module: every
 * byte read is written back (tools/srv.c does the serving). Backpressure: a client
 * that sends without reading fills its connection's write queue to the high-water
 * mark; the server then stops reading from it until the queue drains, so memory
 * per connection stays bounded. --runtime future|coro serves the same protocol on the
 * task runtime instead (tools/echo_task.c), where a connection simply does not read
 * while its write is pending. */
#include "echo_task.h"
#include "srv.h"
#include "tool.h"

#include <sysnet/coro.h>

#include <stdio.h>
#include <string.h>

static void help(void)
{
    printf("usage: sysnet echo --listen ADDR:PORT [options]\n"
           "An echo server: every byte read is written back. Written three ways (--runtime):\n"
           "callbacks on the sysnet loop, futures or coroutines on the task runtime.\n\n" SRV_HELP
           "  -u, --udp               echo UDP datagrams instead (recvmmsg/sendmmsg; loop runtime)\n"
           "      --runtime R         how the server is written (the same protocol, for comparison):\n"
           "                          loop (default): callbacks on the event loop (srv.c);\n"
           "                          future: a hand-written future per connection on the task\n"
           "                          runtime; coro: a stackful coroutine per connection\n"
           "      --threads N         future/coro: runtime worker threads (0..64; default 0 = the\n"
           "                          current-thread runtime)\n"
           "      --stack-size BYTES  coro: stack per coroutine (32768..67108864; default %u)\n"
           "                          (--high-water is the loop's: a future or coroutine\n"
           "                          connection does not read while its write is pending)\n"
           "  -h, --help              this text\n\n"
           "Stops on SIGINT or SIGTERM, closing every connection gracefully, and prints totals.\n"
           "Exit status: 0 ok, 1 could not listen, 2 bad usage.\n",
           SN_CO_STACK_DEFAULT);
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

enum { O_RUNTIME = 400, O_THREADS, O_STACK };

int cmd_echo(int argc, char **argv)
{
    static const struct option lo[] = {
        SRV_LONGOPTS,
        {"udp", no_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {"runtime", required_argument, NULL, O_RUNTIME},
        {"threads", required_argument, NULL, O_THREADS},
        {"stack-size", required_argument, NULL, O_STACK},
        {NULL, 0, NULL, 0},
    };
    struct echo_task_opts to = {.runtime = ECHO_RT_LOOP};
    int threads_set = 0, stack_set = 0;
    uint64_t v;
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
        case O_RUNTIME:
            if ((to.runtime = echo_runtime_parse(optarg)) < 0)
                return tool_usage("echo", "--runtime wants loop, future or coro, not '%s'", optarg);
            break;
        case O_THREADS:
            if (tool_parse_u64(optarg, 0, 64, &v) < 0)
                return tool_usage("echo", "--threads wants 0..64, not '%s'", optarg);
            to.threads = (unsigned)v;
            threads_set = 1;
            break;
        case O_STACK:
            if (tool_parse_u64(optarg, 32768, 64u << 20, &v) < 0)
                return tool_usage("echo", "--stack-size wants bytes, 32768..67108864, not '%s'", optarg);
            to.stack_size = (size_t)v;
            stack_set = 1;
            break;
        }
    }
    if (c == -2)
        return rc;
    if ((rc = srv_check(&o, listen_at)) >= 0)
        return rc;
    if (to.runtime == ECHO_RT_LOOP) {
        if (threads_set)
            return tool_usage("echo", "--threads is for --runtime future or coro (the loop server: --workers)");
        if (stack_set)
            return tool_usage("echo", "--stack-size is for --runtime coro");
        return srv_run(&o);
    }
    if (o.udp)
        return tool_usage("echo", "--udp is served by the loop runtime only");
    if (stack_set && to.runtime != ECHO_RT_CORO)
        return tool_usage("echo", "--stack-size is for --runtime coro");
    to.srv = &o;
    return echo_task_run(&to);
}
