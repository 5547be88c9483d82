/* serve.c — `sysnet serve`: a minimal HTTP/1.1 responder on the loop module,
 * enough for wrk: every request gets the same 200 response, keep-alive (HTTP/1.1
 * by default, 1.0 when asked), pipelining (all the requests a read brings are
 * answered with one write), bodies with Content-Length skipped, malformed heads
 * answered 400/431/505 and the connection closed. tools/srv.c does the serving. */
#include "srv.h"
#include "tool.h"

#include <sysnet/http.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY (1u << 20)

struct http_conn {
    struct srv_conn base;
    char *in;            /* a partial request head kept between reads, or NULL */
    size_t have;
    uint64_t body_left;  /* bytes of a request body still to skip */
};

/* The response, built once. */
static char *g_resp;
static size_t g_resp_len;

static void help(void)
{
    printf("usage: sysnet serve --listen ADDR:PORT [options]\n"
           "A minimal HTTP/1.1 server on the sysnet loop: every request gets 200 and the same\n"
           "body; keep-alive and pipelining, as wrk and ab expect.\n\n" SRV_HELP
           "      --body TEXT         the response body (default \"Hello, World!\\n\")\n"
           "      --size BYTES        a body of BYTES 'x' instead (0..%u)\n"
           "  -h, --help              this text\n\n"
           "Stops on SIGINT or SIGTERM, closing every connection gracefully, and prints totals.\n"
           "Exit status: 0 ok, 1 could not listen, 2 bad usage.\n",
           MAX_BODY);
}

static const char *status_line(int err)
{
    switch (err) {
    case -EMSGSIZE:
    case -E2BIG: return "431 Request Header Fields Too Large";
    case -EPROTONOSUPPORT: return "505 HTTP Version Not Supported";
    case -ENOSYS: return "501 Not Implemented";
    default: return "400 Bad Request";
    }
}

static void refuse(struct http_conn *c, int err)
{
    char msg[160];
    int n = snprintf(msg, sizeof(msg), "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                     status_line(err));
    sn_stream_write(&c->base.s, msg, (size_t)n);
    srv_conn_close(&c->base);
}

/* Keep buf[0..n) for the next read: a request head cut by the read boundary. */
static int keep(struct http_conn *c, const char *buf, size_t n)
{
    if (n > SN_HTTP_MAX_HEAD)
        return -EMSGSIZE;
    if (!c->in && !(c->in = malloc(SN_HTTP_MAX_HEAD)))
        return -ENOMEM;
    memmove(c->in, buf, n);
    c->have = n;
    return 0;
}

static void on_read(struct sn_stream *s, const uint8_t *data, ssize_t n)
{
    struct http_conn *c = s->data;
    struct srv_counters *ctr = srv_counters(&c->base);
    if (n <= 0) {
        if (n == 0)
            srv_conn_close(&c->base);
        else
            srv_conn_abort(&c->base);
        return;
    }
    ctr->bytes_in += (uint64_t)n;
    const char *buf = (const char *)data;
    size_t len = (size_t)n;
    if (c->have) { /* the rest of a head: append to what was kept */
        size_t room = SN_HTTP_MAX_HEAD - c->have, k = len < room ? len : room;
        memcpy(c->in + c->have, data, k);
        if (k < len) { /* longer than any head may be: the parser will say so */
            refuse(c, -EMSGSIZE);
            return;
        }
        c->have += k;
        buf = c->in;
        len = c->have;
        c->have = 0;
    }
    struct iovec iov[64];
    int niov = 0, closing = 0;
    size_t off = 0;
    struct sn_http_req req;
    while (off < len && !closing) {
        if (c->body_left) {
            size_t k = len - off < c->body_left ? len - off : (size_t)c->body_left;
            off += k;
            c->body_left -= k;
            continue;
        }
        int h = sn_http_parse_request(buf + off, len - off, &req);
        if (h == 0) {
            int rc = keep(c, buf + off, len - off);
            if (rc < 0) {
                refuse(c, rc);
                return;
            }
            break;
        }
        if (h < 0 || req.chunked) {
            if (niov)
                sn_stream_writev(s, iov, niov);
            refuse(c, h < 0 ? h : -ENOSYS);
            return;
        }
        off += (size_t)h;
        c->body_left = req.content_length > 0 ? (uint64_t)req.content_length : 0;
        ctr->requests++;
        iov[niov++] = (struct iovec){g_resp, g_resp_len};
        closing = !req.keep_alive;
        if (niov == (int)SN_COUNTOF(iov)) {
            if (sn_stream_writev(s, iov, niov) < 0) {
                srv_conn_abort(&c->base);
                return;
            }
            ctr->bytes_out += (uint64_t)niov * g_resp_len;
            niov = 0;
        }
    }
    if (niov) {
        int rc = sn_stream_writev(s, iov, niov);
        if (rc < 0) {
            srv_conn_abort(&c->base);
            return;
        }
        ctr->bytes_out += (uint64_t)niov * g_resp_len;
        if (rc == 1)
            sn_stream_read_stop(s); /* a client that pipelines without reading: wait for on_drain */
    }
    if (closing)
        srv_conn_close(&c->base);
}

/* srv frees the connection; the kept head goes with it. */
static void free_conn_extra(struct srv_conn *c)
{
    free(((struct http_conn *)c)->in);
}

static int build_response(const char *body, size_t body_len)
{
    char head[160];
    int h = snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nServer: sysnet\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
                     body_len);
    g_resp = malloc((size_t)h + body_len);
    if (!g_resp)
        return -ENOMEM;
    memcpy(g_resp, head, (size_t)h);
    if (body)
        memcpy(g_resp + h, body, body_len);
    else
        memset(g_resp + h, 'x', body_len);
    g_resp_len = (size_t)h + body_len;
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    enum { O_BODY = 400, O_SIZE };
    static const struct option lo[] = {
        SRV_LONGOPTS,
        {"body", required_argument, NULL, O_BODY},
        {"size", required_argument, NULL, O_SIZE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct srv_opts o = {.name = "serve", .conn_size = sizeof(struct http_conn), .on_read = on_read,
                         .on_free = free_conn_extra};
    const char *listen_at = NULL, *body = "Hello, World!\n";
    uint64_t size = 0;
    int c, rc, sized = 0;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":" SRV_SHORTOPTS "h", lo, NULL)) != -1) {
        if ((rc = srv_option(&o, &listen_at, c, optarg)) != 1) {
            if (rc)
                return rc;
            continue;
        }
        switch (c) {
        case 'h': help(); return 0;
        case O_BODY: body = optarg; break;
        case O_SIZE:
            if (tool_parse_u64(optarg, 0, MAX_BODY, &size) < 0)
                return tool_usage("serve", "--size wants 0..%u bytes, not '%s'", MAX_BODY, optarg);
            sized = 1;
            break;
        case ':': return tool_usage("serve", "option -%c needs a value", optopt);
        default: return tool_usage("serve", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return tool_usage("serve", "unexpected argument '%s'", argv[optind]);
    if ((rc = srv_check(&o, listen_at)) >= 0)
        return rc;
    if (build_response(sized ? NULL : body, sized ? (size_t)size : strlen(body)) < 0)
        return tool_err("serve", "out of memory");
    rc = srv_run(&o);
    free(g_resp);
    return rc;
}
