/* serve.c — `sysnet serve`: a minimal HTTP/1.1 responder on the loop module,
 * enough for wrk: every request gets the same 200 response, keep-alive (HTTP/1.1
 * by default, 1.0 when asked), pipelining (the requests a read brings are answered
 * in order with as few writes as may be; a client that pipelines faster than it
 * reads has the rest of its requests held at the high-water mark until the queue
 * drains), bodies with Content-Length skipped, malformed heads answered
 * 400/431/501/505 and the connection closed — lingering, so the client gets to
 * read the error. Timeouts against slow clients (slowloris): a request head must
 * be complete within --header-timeout of its first byte (or of the connection's
 * opening), else 408; a connection with no request in progress is closed after
 * --idle-timeout. tools/srv.c does the serving. */
#include "srv.h"
#include "tool.h"

#include <sysnet/http.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY (1u << 20)
#define MAX_TIMEOUT_S 86400.0
#define FLUSH_BYTES (256u << 10) /* write the responses of a read in pieces of about this much */
/* Lingering close: after the last response, how long to keep reading (and dropping)
 * what the client still sends before closing. Closing a socket with unread bytes
 * sends an RST, and an RST can make the client's kernel drop our response before
 * the client has read it — the 400, 408, 431 it should see. (nginx's
 * lingering_close, Apache's lingering close.) */
#define LINGER_NS (2 * SN_SEC)

/* What the connection's one timer is counting (one timer, not one per kind: a heap
 * entry per connection, not three). */
enum {
    T_HEAD,  /* waiting for a request head to complete: 408 at --header-timeout */
    T_BODY,  /* skipping a body: 408 when no byte came for --idle-timeout */
    T_IDLE,  /* between requests: closed after --idle-timeout without a request */
    T_LINGER,/* the last response is sent (FIN after it): discard what the client still sends */
};

struct http_conn {
    struct srv_conn base;
    char *in;            /* a partial request head kept between reads (SN_HTTP_MAX_HEAD bytes), or NULL:
                          * allocated when a read ends inside a head, freed once it completes */
    size_t have;         /* bytes in `in` */
    char *pend;          /* requests read but not parsed while the write queue is above high water */
    size_t pend_len;
    uint64_t body_left;  /* bytes of a request body still to skip */
    struct sn_timer timer;
    int phase;           /* T_* */
    uint64_t last;       /* T_BODY/T_IDLE: loop time of the last read; the timer is re-armed lazily from it */
    size_t qmark;        /* T_IDLE: the write queue at the last read or check, to see a slow reader progress */
};

/* The responses, built once: the keep-alive one (HTTP/1.1's default), the one that
 * announces the close, and HTTP/1.0's keep-alive one, which must say so (RFC 9112
 * 9.3: a 1.0 client keeps the connection only when the response says keep-alive). */
enum { R_KEEP, R_CLOSE, R_KEEP10, R_COUNT };
static char *g_resp[R_COUNT];
static size_t g_resp_len[R_COUNT], g_head_len[R_COUNT];
static uint64_t g_header_ns = 10 * SN_SEC, g_idle_ns = 60 * SN_SEC;

static void help(void)
{
    printf("usage: sysnet serve --listen ADDR:PORT [options]\n"
           "A minimal HTTP/1.1 server on the sysnet loop: every request gets 200 and the same\n"
           "body; keep-alive and pipelining, as wrk and ab expect. Request bodies (Content-Length)\n"
           "are read and dropped; chunked requests get 501, malformed ones 400, heads over %u\n"
           "bytes 431, HTTP versions other than 1.0/1.1 505, each closing the connection; HEAD\n"
           "gets the head of the response only.\n\n" SRV_HELP
           "      --body TEXT         the response body (default \"Hello, World!\\n\")\n"
           "      --size BYTES        a body of BYTES 'x' instead (0..%u)\n"
           "      --header-timeout SECS\n"
           "                          a request head must be complete this long after its\n"
           "                          first byte (or after the connection opened), else 408\n"
           "                          Request Timeout and close: slow clients (slowloris) cannot\n"
           "                          hold connections (default 10; 0: no limit; decimals allowed)\n"
           "      --idle-timeout SECS\n"
           "                          close a connection that has no request in progress for this\n"
           "                          long, or that sends no byte of a request body for this long\n"
           "                          (408), or that reads none of its responses for this long\n"
           "                          (default 60; 0: no limit)\n"
           "  -h, --help              this text\n\n"
           "Stops on SIGINT or SIGTERM, closing every connection gracefully, and prints totals.\n"
           "Exit status: 0 ok, 1 could not listen, 2 bad usage.\n",
           SN_HTTP_MAX_HEAD, MAX_BODY);
}

/* ---- timeouts ---- */

static void on_timeout(struct sn_timer *t);
static void on_read(struct sn_stream *s, const uint8_t *data, ssize_t n);

static int arm(struct http_conn *c, uint64_t ns)
{
    if (!ns) {
        sn_timer_stop(&c->timer);
        return 0;
    }
    return sn_timer_start(c->base.s.loop, &c->timer, on_timeout, ns, 0);
}

/* What the timer counts after a read: a head in progress keeps the deadline it got
 * when the head began (bytes trickling in do not extend it: that is the slowloris
 * defence); a body or an idle connection only notes the time of this read, and the
 * timer, already running, finds out when it expires (no heap operation per read). */
static int set_phase(struct http_conn *c, int phase)
{
    if (phase == T_HEAD) {
        if (c->phase == T_HEAD && sn_timer_active(&c->timer))
            return 0;
        c->phase = T_HEAD;
        return arm(c, g_header_ns);
    }
    c->last = sn_loop_now(c->base.s.loop);
    c->qmark = sn_stream_queued(&c->base.s);
    int was = c->phase;
    c->phase = phase;
    if (was != T_HEAD && sn_timer_active(&c->timer))
        return 0;
    return arm(c, g_idle_ns);
}

static void conn_close(struct http_conn *c)
{
    sn_timer_stop(&c->timer);
    srv_conn_close(&c->base);
}

static void conn_abort(struct http_conn *c)
{
    sn_timer_stop(&c->timer);
    srv_conn_abort(&c->base);
}

static const char *status_line(int err)
{
    switch (err) {
    case -EMSGSIZE:
    case -E2BIG: return "431 Request Header Fields Too Large";
    case -EPROTONOSUPPORT: return "505 HTTP Version Not Supported";
    case -ENOSYS: return "501 Not Implemented";
    case -ETIMEDOUT: return "408 Request Timeout";
    default: return "400 Bad Request";
    }
}

/* The server ends the connection after its last response: FIN once the write queue
 * has drained, then read and drop whatever the client still sends until it closes
 * too (or for LINGER_NS at most), and only then close (see LINGER_NS). */
static void close_lingering(struct http_conn *c)
{
    struct sn_stream *s = &c->base.s;
    c->phase = T_LINGER;
    if (sn_stream_shutdown(s) < 0 || sn_stream_read_start(s, on_read) < 0 || arm(c, LINGER_NS) < 0)
        conn_close(c);
}

/* An error response (after the responses already queued), then close. */
static void refuse(struct http_conn *c, int err)
{
    char msg[160];
    int n = snprintf(msg, sizeof(msg), "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                     status_line(err));
    if (sn_stream_write(&c->base.s, msg, (size_t)n) >= 0)
        srv_counters(&c->base)->bytes_out += (uint64_t)n;
    close_lingering(c);
}

static void on_timeout(struct sn_timer *t)
{
    struct http_conn *c = t->data;
    if (c->base.closing)
        return;
    if (c->phase == T_LINGER) {
        conn_close(c); /* the client had its time to read the last response */
        return;
    }
    if (c->phase == T_HEAD) {
        refuse(c, -ETIMEDOUT);
        return;
    }
    uint64_t now = sn_loop_now(c->base.s.loop), quiet = now - c->last;
    if (quiet < g_idle_ns) { /* a read came since the timer was set: wait for the rest */
        if (arm(c, g_idle_ns - quiet) < 0)
            conn_abort(c);
        return;
    }
    if (c->phase == T_BODY) {
        refuse(c, -ETIMEDOUT);
        return;
    }
    size_t q = sn_stream_queued(&c->base.s);
    if (!q) {
        conn_close(c);
    } else if (q < c->qmark) { /* a slow reader, but reading: give it another period */
        c->qmark = q;
        c->last = now;
        if (arm(c, g_idle_ns) < 0)
            conn_abort(c);
    } else {
        conn_abort(c); /* has read nothing of its responses for a whole period */
    }
}

/* ---- requests ---- */

/* The responses of one read, written together. */
struct batch {
    struct iovec iov[64];
    int n;
    int full;            /* a write returned 1: the queue is above high water */
    size_t bytes;
};

static int flush(struct http_conn *c, struct batch *b)
{
    if (!b->n)
        return 0;
    int rc = sn_stream_writev(&c->base.s, b->iov, b->n);
    if (rc < 0)
        return rc;
    srv_counters(&c->base)->bytes_out += b->bytes;
    b->full |= rc == 1;
    b->n = 0;
    b->bytes = 0;
    return 0;
}

/* A complete head: add its response to the batch. 1 if the connection closes after
 * it, 0 to go on, -ENOSYS for a request this server does not take (chunked). */
static int answer(struct http_conn *c, const struct sn_http_req *req, struct batch *b)
{
    if (req->chunked)
        return -ENOSYS;
    srv_counters(&c->base)->requests++;
    c->body_left = req->content_length > 0 ? (uint64_t)req->content_length : 0;
    int r = !req->keep_alive ? R_CLOSE : req->minor == 0 ? R_KEEP10 : R_KEEP;
    int head = req->method.n == 4 && !memcmp(req->method.p, "HEAD", 4); /* the head only (RFC 9110 9.3.2) */
    size_t len = head ? g_head_len[r] : g_resp_len[r];
    b->iov[b->n++] = (struct iovec){g_resp[r], len};
    b->bytes += len;
    return !req->keep_alive;
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

/* The rest of a head an earlier read cut: append what fits to c->in and parse it
 * there. Returns how many bytes of data it took (> 0, the head is complete and
 * *req describes it), 0 when all of data was taken and the head is still
 * incomplete, or -errno. Only the part of data up to the end of the head is taken,
 * so the pipelined requests behind it are parsed in place afterwards. */
static ssize_t complete_head(struct http_conn *c, const char *data, size_t len, struct sn_http_req *req)
{
    size_t old = c->have, room = SN_HTTP_MAX_HEAD - old, k = len < room ? len : room;
    memcpy(c->in + old, data, k);
    c->have += k;
    int h = sn_http_parse_request(c->in, c->have, req);
    if (h < 0)
        return h;
    if (h == 0)
        return k < len || c->have == SN_HTTP_MAX_HEAD ? -EMSGSIZE : 0;
    /* The old bytes alone were incomplete, so the head ends in the new ones. The
     * slices of *req point into c->in, which stays until the next read. */
    c->have = 0;
    return (ssize_t)((size_t)h - old);
}

/* Save buf[0..n) — requests read but not parsed yet — until the write queue drains. */
static int hold(struct http_conn *c, const char *buf, size_t n)
{
    char *p = malloc(n);
    if (!p)
        return -ENOMEM;
    memcpy(p, buf, n);
    c->pend = p;
    c->pend_len = n;
    return 0;
}

enum { GO_ON, STALLED, ENDED }; /* what consume() leaves: read on, wait for on_drain, closing */

/* The requests in buf[0..len): answer each, in order, with as few writes as may be.
 * When the write queue reaches high water (a client that pipelines faster than it
 * reads), the requests not parsed yet are held (c->pend) and the rest waits for
 * on_drain: the queue stays near high water, whatever the client sends. */
static int consume(struct http_conn *c, const char *buf, size_t len)
{
    size_t off = 0;
    struct batch b = {.n = 0};
    struct sn_http_req req;
    int rc = 0;   /* 1: close after these responses; < 0: refuse (the status to answer) */
    int werr = 0; /* a write failed */
    if (c->have) {
        ssize_t k = complete_head(c, buf, len, &req);
        if (k == 0)
            goto wait; /* still incomplete: the head's deadline runs on */
        if (k < 0) {
            rc = (int)k;
        } else {
            rc = answer(c, &req, &b);
            off = (size_t)k;
        }
    }
    while (rc == 0 && off < len) {
        if (c->body_left) {
            size_t k = len - off < c->body_left ? len - off : (size_t)c->body_left;
            off += k;
            c->body_left -= k;
            continue;
        }
        if (b.full) {
            rc = hold(c, buf + off, len - off);
            break;
        }
        int h = sn_http_parse_request(buf + off, len - off, &req);
        if (h == 0) {
            rc = keep(c, buf + off, len - off);
            break;
        }
        if (h < 0) {
            rc = h;
            break;
        }
        off += (size_t)h;
        rc = answer(c, &req, &b);
        if ((b.n == (int)SN_COUNTOF(b.iov) || b.bytes >= FLUSH_BYTES) && (werr = flush(c, &b)) < 0)
            break;
    }
    if (!c->have && c->in) { /* no head kept: the 16 KiB go back (idle connections hold none) */
        free(c->in);
        c->in = NULL;
    }
    if (!werr)
        werr = flush(c, &b);
    if (werr < 0 || rc == -ENOMEM) {
        conn_abort(c); /* the socket failed, or out of memory */
        return ENDED;
    }
    if (rc < 0) {
        refuse(c, rc); /* after the responses to the requests before it */
        return ENDED;
    }
    if (rc == 1) {
        close_lingering(c); /* Connection: close, or HTTP/1.0: bytes after that request are dropped */
        return ENDED;
    }
wait:
    if (set_phase(c, c->have ? T_HEAD : c->body_left ? T_BODY : T_IDLE) < 0) {
        conn_abort(c);
        return ENDED;
    }
    return b.full ? STALLED : GO_ON;
}

static void on_read(struct sn_stream *s, const uint8_t *data, ssize_t n)
{
    struct http_conn *c = s->data;
    if (n <= 0) {
        if (n == 0)
            conn_close(c); /* the client is done: flush the responses, FIN */
        else
            conn_abort(c);
        return;
    }
    srv_counters(&c->base)->bytes_in += (uint64_t)n;
    if (c->phase == T_LINGER)
        return; /* after the last response: dropped */
    if (consume(c, (const char *)data, (size_t)n) == STALLED)
        sn_stream_read_stop(s); /* until on_drain */
}

/* The write queue fell to low water: the held requests first, then read again. */
static void on_drain(struct sn_stream *s)
{
    struct http_conn *c = s->data;
    if (c->base.closing)
        return;
    if (c->pend && c->phase != T_LINGER) {
        char *p = c->pend;
        size_t n = c->pend_len;
        c->pend = NULL;
        c->pend_len = 0;
        int st = consume(c, p, n);
        free(p);
        if (st != GO_ON)
            return;
    }
    sn_stream_read_start(s, on_read);
}

/* ---- the connection's life ---- */

static int open_conn(struct srv_conn *base)
{
    struct http_conn *c = (struct http_conn *)base;
    c->base.s.on_drain = on_drain;
    c->timer.data = c;
    c->phase = T_HEAD; /* the first request's head: due --header-timeout after the connection opened */
    return arm(c, g_header_ns);
}

/* srv calls this once the stream has closed, before it frees the connection. */
static void free_conn(struct srv_conn *base)
{
    struct http_conn *c = (struct http_conn *)base;
    sn_timer_stop(&c->timer);
    free(c->in);
    free(c->pend);
}

static int build_response(int r, const char *body, size_t body_len)
{
    static const char *const conn_hdr[R_COUNT] = {"", "Connection: close\r\n", "Connection: keep-alive\r\n"};
    char head[200];
    int h = snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nServer: sysnet\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n",
                     body_len, conn_hdr[r]);
    g_resp[r] = malloc((size_t)h + body_len + 1);
    if (!g_resp[r])
        return -ENOMEM;
    memcpy(g_resp[r], head, (size_t)h);
    if (body)
        memcpy(g_resp[r] + h, body, body_len);
    else
        memset(g_resp[r] + h, 'x', body_len);
    g_head_len[r] = (size_t)h;
    g_resp_len[r] = (size_t)h + body_len;
    return 0;
}

static int parse_timeout(const char *opt, const char *arg, uint64_t *ns)
{
    int64_t v;
    if (tool_parse_seconds(arg, 0, MAX_TIMEOUT_S, &v) < 0)
        return tool_usage("serve", "%s wants seconds, 0..%.0f (0: no limit), not '%s'", opt, MAX_TIMEOUT_S, arg);
    *ns = (uint64_t)v;
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    enum { O_BODY = 400, O_SIZE, O_HEADER_TIMEOUT, O_IDLE_TIMEOUT };
    static const struct option lo[] = {
        SRV_LONGOPTS,
        {"body", required_argument, NULL, O_BODY},
        {"size", required_argument, NULL, O_SIZE},
        {"header-timeout", required_argument, NULL, O_HEADER_TIMEOUT},
        {"idle-timeout", required_argument, NULL, O_IDLE_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct srv_opts o = {.name = "serve", .conn_size = sizeof(struct http_conn), .on_read = on_read,
                         .on_open = open_conn, .on_free = free_conn};
    const char *listen_at = NULL, *body = "Hello, World!\n";
    uint64_t size = 0;
    int c, rc, sized = 0;
    g_header_ns = 10 * SN_SEC;
    g_idle_ns = 60 * SN_SEC;
    opterr = 0;
    optind = 1;
    while ((c = srv_getopt(&o, &listen_at, argc, argv, ":" SRV_SHORTOPTS "h", lo, &rc)) >= 0) {
        switch (c) {
        case 'h': help(); return 0;
        case O_BODY: body = optarg; break;
        case O_SIZE:
            if (tool_parse_u64(optarg, 0, MAX_BODY, &size) < 0)
                return tool_usage("serve", "--size wants 0..%u bytes, not '%s'", MAX_BODY, optarg);
            sized = 1;
            break;
        case O_HEADER_TIMEOUT:
            if ((rc = parse_timeout("--header-timeout", optarg, &g_header_ns)) != 0)
                return rc;
            break;
        case O_IDLE_TIMEOUT:
            if ((rc = parse_timeout("--idle-timeout", optarg, &g_idle_ns)) != 0)
                return rc;
            break;
        }
    }
    if (c == -2)
        return rc;
    if ((rc = srv_check(&o, listen_at)) >= 0)
        return rc;
    rc = 0;
    for (int r = 0; r < R_COUNT && rc == 0; r++)
        rc = build_response(r, sized ? NULL : body, sized ? (size_t)size : strlen(body));
    if (rc == 0) {
        /* A write is checked whole against the hard limit: room above high water for
         * one batch of responses (FLUSH_BYTES and one more response) and an error. */
        size_t hw = o.high_water ? o.high_water : (1u << 20), need = hw + FLUSH_BYTES + 2 * g_resp_len[R_KEEP10] + 4096;
        o.hard_limit = 16 * hw > need ? 16 * hw : need;
        rc = srv_run(&o);
    }
    else
        rc = tool_err("serve", "out of memory");
    for (int r = 0; r < R_COUNT; r++) {
        free(g_resp[r]);
        g_resp[r] = NULL;
    }
    return rc;
}
