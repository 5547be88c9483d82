/* chat.c — `sysnet chat`: a line-based chat (publish/subscribe) server on the task
 * runtime and its channels.
 *
 * Every client is one task (a hand-written future, struct client) with a bounded
 * mpsc inbox. Its poll drives two independent halves each time it runs:
 *   reader  socket -> lines; each complete line is published: "<name>: text\n"
 *           is put (sn_mpsc_try_send) into the inbox of every other client;
 *   writer  inbox -> socket: one message at a time (an sn_mpsc_recv future, then
 *           a write-all future of its text).
 * Why futures and not coroutines: a client waits for two things at once (its
 * socket and its inbox). One future polls both halves without cancelling either;
 * a coroutine would need a select that drops and restarts the read whenever a
 * message arrives, or two coroutines sharing one fd (its reactor registration
 * pinned to one worker).
 *
 * Messages: a published line is one reference-counted allocation (struct line);
 * the channels carry pointers to it (8-byte messages), one reference per inbox.
 * Backpressure: publishing never waits. If a subscriber's inbox is full (it reads
 * slower than others talk) the message is dropped for that subscriber only and
 * counted; a client that never reads therefore costs at most its inbox and its
 * socket buffers, and does not slow anyone down.
 * Stop: SIGINT/SIGTERM (a signalfd watched by the accept task): stop accepting,
 * shutdown(2) every client's socket so that each task ends on its own path, wait
 * for the last one, print the totals. The accept task, the registry of clients, the
 * stop and the statistics task are rt_srv.c's, as for `sysnet echo --runtime future`. */
#include "echo_task.h"
#include "rt_srv.h"
#include "tool.h"

#include <sysnet/frame.h>
#include <sysnet/sock.h>
#include <sysnet/task.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096   /* text per line, without the newline */
#define NAME_MAX_BYTES 31
#define READ_CHUNK 4096
#define DEF_QUEUE 256

/* One published line, shared by the inboxes it was put in. */
struct line {
    _Atomic uint32_t refs;
    uint32_t len;
    char text[];
};

static struct line *line_new(size_t len)
{
    struct line *l = malloc(sizeof(*l) + len);
    if (l) {
        atomic_init(&l->refs, 1);
        l->len = (uint32_t)len;
    }
    return l;
}

static void line_unref(struct line *l)
{
    if (l && atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) == 1)
        free(l);
}

/* A client as the registry sees it (inside the client's task). */
struct member {
    struct rt_conn node;       /* first: the registry's list is of members */
    struct sn_mpsc *inbox;
    _Atomic uint64_t dropped;
};

struct chat {
    struct rt_srv srv;         /* first: the server's hooks get &srv */
    struct sn_addr addr;
    unsigned queue;
    _Atomic unsigned next_id;
    _Atomic uint64_t lines, deliveries, dropped, overlong;
};

static void print_stats(struct rt_srv *s, const char *what)
{
    struct chat *ch = (struct chat *)s;
    uint64_t open, peak;
    rt_srv_counts(s, &open, &peak);
    fprintf(stderr,
            "sysnet chat: %s: %" PRIu64 " clients, %" PRIu64 " peak, %" PRIu64 " left, %" PRIu64
            " lines published, %" PRIu64 " delivered, %" PRIu64 " dropped (inbox full), %" PRIu64
            " overlong, rss %ld KiB\n",
            what, open, peak, atomic_load(&s->closed), atomic_load(&ch->lines), atomic_load(&ch->deliveries),
            atomic_load(&ch->dropped), atomic_load(&ch->overlong), srv_rss_kib());
}

/* Put l in one inbox (a reference of its own), or drop it there and count. */
static void deliver(struct chat *ch, struct member *m, struct line *l)
{
    atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
    if (sn_mpsc_try_send(m->inbox, &l) == 0) {
        atomic_fetch_add_explicit(&ch->deliveries, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_sub_explicit(&l->refs, 1, memory_order_relaxed); /* we still hold one: never the last */
    atomic_fetch_add_explicit(&m->dropped, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&ch->dropped, 1, memory_order_relaxed);
}

/* To every member but `except` (NULL: everyone); consumes the caller's reference. */
static void publish(struct chat *ch, struct member *except, struct line *l)
{
    pthread_mutex_lock(&ch->srv.mu);
    for (struct rt_conn *n = ch->srv.conns; n; n = n->next)
        if ((struct member *)n != except)
            deliver(ch, (struct member *)n, l);
    pthread_mutex_unlock(&ch->srv.mu);
    line_unref(l);
}

static struct line *line_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct line *line_fmt(const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    if ((size_t)n >= sizeof(tmp))
        n = sizeof(tmp) - 1;
    struct line *l = line_new((size_t)n);
    if (l)
        memcpy(l->text, tmp, (size_t)n);
    return l;
}

/* ---- a client -------------------------------------------------------------------- */

struct client {
    struct sn_future base;
    struct chat *ch;
    int fd, started, afd_on, done, quit;
    unsigned id;
    char name[NAME_MAX_BYTES + 1];
    struct sn_afd afd;
    struct member m;
    /* reader */
    int rd_on;
    struct sn_read_fut rd;
    struct sn_framer lines;            /* '\n'-delimited, at most LINE_MAX_BYTES + 1 (a '\r') */
    uint8_t lbuf[LINE_MAX_BYTES + 2];  /* the framer's buffer for a line split across reads */
    char chunk[READ_CHUNK];
    /* writer */
    int rv_on, wr_on;
    struct sn_mpsc_recv rv;
    struct line *in;      /* received by rv */
    struct line *cur;     /* being written */
    struct sn_write_fut wr;
};

/* A line for this client only (errors, the welcome): into its own inbox. */
static void tell(struct client *c, struct line *l)
{
    if (!l)
        return;
    deliver(c->ch, &c->m, l);
    line_unref(l);
}

static int nick_ok(const char *s, size_t n)
{
    if (n == 0 || n > NAME_MAX_BYTES)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char k = s[i];
        if (!((k >= 'a' && k <= 'z') || (k >= 'A' && k <= 'Z') || (k >= '0' && k <= '9') || k == '_' || k == '-'))
            return 0;
    }
    return 1;
}

static void on_line(struct client *c, const char *s, size_t n)
{
    struct chat *ch = c->ch;
    if (n >= 6 && !memcmp(s, "/nick ", 6)) {
        if (!nick_ok(s + 6, n - 6)) {
            tell(c, line_fmt("* error: a nick is 1..%d of A-Z a-z 0-9 _ -\n", NAME_MAX_BYTES));
            return;
        }
        char old[sizeof(c->name)];
        memcpy(old, c->name, sizeof(old));
        memcpy(c->name, s + 6, n - 6);
        c->name[n - 6] = 0;
        publish(ch, NULL, line_fmt("* %s is now %s\n", old, c->name));
        return;
    }
    if (n == 5 && !memcmp(s, "/quit", 5)) {
        c->quit = 1;
        return;
    }
    size_t nl = strlen(c->name);
    struct line *l = line_new(nl + 2 + n + 1);
    if (!l)
        return;
    memcpy(l->text, c->name, nl);
    memcpy(l->text + nl, ": ", 2);
    memcpy(l->text + nl + 2, s, n);
    l->text[nl + 2 + n] = '\n';
    atomic_fetch_add_explicit(&ch->lines, 1, memory_order_relaxed);
    publish(ch, &c->m, l);
}

static void overlong(struct client *c)
{
    atomic_fetch_add_explicit(&c->ch->overlong, 1, memory_order_relaxed);
    tell(c, line_fmt("* error: line longer than %d bytes: dropped\n", LINE_MAX_BYTES));
}

/* Bytes from the socket, cut into lines by the frame module's delimited framer (the
 * one fuzz_framing exercises): a line ends at '\n' ("\r\n" too); one longer than
 * LINE_MAX_BYTES is refused as soon as it is too long (-EMSGSIZE), dropped up to its
 * newline, and its sender told once. */
static void on_bytes(struct client *c, const char *p, size_t n)
{
    const uint8_t *line;
    size_t len;
    int rc;
    if (sn_framer_push(&c->lines, p, n) < 0)
        return; /* cannot happen: every push is consumed before the next read */
    while (!c->quit && (rc = sn_framer_next(&c->lines, &line, &len)) != 0) {
        if (rc == -EMSGSIZE) {
            overlong(c);
            continue;
        }
        if (rc < 0)
            break;
        if (len && line[len - 1] == '\r')
            len--;
        if (len > LINE_MAX_BYTES)
            overlong(c);
        else
            on_line(c, (const char *)line, len);
    }
    if (c->quit)
        sn_framer_reset(&c->lines); /* the rest is not read */
}

static int client_start(struct client *c)
{
    struct chat *ch = c->ch;
    int rc = sn_mpsc_new(&c->m.inbox, ch->queue, sizeof(struct line *));
    if (rc < 0)
        return rc;
    snprintf(c->name, sizeof(c->name), "%u", c->id);
    if ((rc = rt_srv_link(&ch->srv, &c->m.node, c->fd)) < 0)
        return rc;
    static const struct sn_frame_opts lo = {.kind = SN_FRAME_DELIM, .delim = '\n', .max_frame = LINE_MAX_BYTES + 1};
    if ((rc = sn_framer_init(&c->lines, &lo, c->lbuf, sizeof c->lbuf)) < 0)
        return rc;
    sn_afd_init(&c->afd, c->fd);
    c->afd_on = 1;
    tell(c, line_fmt("* welcome: you are %s (/nick NAME, /quit)\n", c->name));
    publish(ch, &c->m, line_fmt("* %s joined\n", c->name));
    return 0;
}

static int client_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct client *c = (struct client *)f;
    if (!c->started) {
        c->started = 1;
        int rc = client_start(c);
        if (rc < 0) {
            c->done = 1;
            f->out = rc;
            return SN_READY;
        }
    }
    for (int progress = 1; progress;) {
        progress = 0;
        /* reader */
        if (!c->rd_on) {
            sn_read_init(&c->rd, &c->afd, c->chunk, sizeof(c->chunk));
            c->rd_on = 1;
        }
        if (sn_poll(&c->rd.base, cx) == SN_READY) {
            int64_t n = c->rd.base.out;
            sn_drop(&c->rd.base);
            c->rd_on = 0;
            if (n <= 0) { /* EOF, the stop's shutdown, or an error: the client leaves */
                c->done = 1;
                f->out = n < 0 ? n : 0;
                return SN_READY;
            }
            if ((size_t)n < sizeof(c->chunk)) /* a short read emptied the socket: no EAGAIN read needed */
                sn_afd_clear(&c->afd, SN_READ);
            on_bytes(c, c->chunk, (size_t)n);
            if (c->quit) {
                c->done = 1;
                f->out = 0;
                return SN_READY;
            }
            progress = 1;
        }
        /* writer */
        if (!c->cur) {
            if (!c->rv_on) {
                sn_mpsc_recv_init(&c->rv, c->m.inbox, &c->in);
                c->rv_on = 1;
            }
            if (sn_poll(&c->rv.base, cx) == SN_READY) {
                int64_t r = c->rv.base.out;
                sn_drop(&c->rv.base);
                c->rv_on = 0;
                if (r < 0) { /* cannot be: we hold a sender */
                    c->done = 1;
                    f->out = r;
                    return SN_READY;
                }
                c->cur = c->in;
                sn_write_init(&c->wr, &c->afd, c->cur->text, c->cur->len, 1);
                c->wr_on = 1;
            }
        }
        if (c->cur) {
            if (sn_poll(&c->wr.base, cx) == SN_READY) {
                int64_t r = c->wr.base.out;
                sn_drop(&c->wr.base);
                c->wr_on = 0;
                line_unref(c->cur);
                c->cur = NULL;
                if (r < 0) {
                    c->done = 1;
                    f->out = r;
                    return SN_READY;
                }
                progress = 1;
            }
        }
    }
    return SN_PENDING;
}

static void client_drop(struct sn_future *f)
{
    struct client *c = (struct client *)f;
    struct chat *ch = c->ch;
    if (c->rd_on)
        sn_drop(&c->rd.base);
    if (c->rv_on)
        sn_drop(&c->rv.base);
    if (c->wr_on)
        sn_drop(&c->wr.base);
    line_unref(c->cur);
    if (c->afd_on)
        sn_afd_close(&c->afd);
    struct sn_waker w;
    int was = c->m.node.linked;
    rt_srv_closed(&ch->srv, &c->m.node, c->fd, &w); /* unlinked: nobody can deliver to us after this */
    if (c->m.inbox) { /* what is still queued for us */
        sn_mpsc_sender_release(c->m.inbox);
        struct line *l;
        while (sn_mpsc_try_recv(c->m.inbox, &l) == 0)
            line_unref(l);
        sn_mpsc_receiver_release(c->m.inbox);
    }
    if (was && !atomic_load(&ch->srv.stopping))
        publish(ch, NULL, line_fmt("* %s left\n", c->name));
    sn_waker_wake(&w);
}

static const struct sn_future_vt client_vt = {client_poll, client_drop, "chat_client"};

/* An accepted connection (counted open): a client task. */
static int spawn_client(struct rt_srv *s, struct sn_rt *rt, int fd)
{
    struct chat *ch = (struct chat *)s;
    struct client *init = calloc(1, sizeof(*init)); /* the template sn_spawn copies (8 KiB+) */
    int rc = -ENOMEM;
    if (init) {
        init->base.vt = &client_vt;
        init->ch = ch;
        init->fd = fd;
        init->id = atomic_fetch_add(&ch->next_id, 1) + 1;
        rc = sn_spawn(rt, &init->base, sizeof(*init), NULL);
        free(init);
    }
    return rc;
}

static const struct rt_srv_ops chat_ops = {spawn_client, print_stats, NULL};

/* ---- the command -------------------------------------------------------------------- */

static void help(void)
{
    printf("usage: sysnet chat --listen ADDR:PORT [options]\n"
           "A line-based chat server on the task runtime: every line a client sends is\n"
           "published to every other client as \"NAME: text\" (NAME is the client's number\n"
           "until it says /nick). Each client is a task with a bounded inbox (an mpsc channel).\n\n"
           "  -l, --listen ADDR:PORT  address to listen on (127.0.0.1:7000; port 0: any)\n"
           "  -t, --threads N         runtime worker threads (0..64; default 0 = one thread,\n"
           "                          the current-thread runtime)\n"
           "  -Q, --queue N           messages an inbox holds (1..65536; default %d): the burst\n"
           "                          a client absorbs (one read of many short lines is\n"
           "                          published at once)\n"
           "  -b, --backend B         epoll (default) or uring\n"
           "      --stats             a line on stderr every second (clients, lines, drops)\n"
           "  -q                      no start/stop lines\n"
           "  -h, --help              this text\n\n"
           "Lines: at most %d bytes before the newline; a longer line is dropped up to its\n"
           "newline and its sender gets \"* error: ...\". Commands: /nick NAME, /quit.\n"
           "Joins, leaves and nick changes are announced with lines starting \"* \".\n"
           "Slow readers: publishing never waits. When a client's inbox is full (it reads\n"
           "slower than the others talk), the message is DROPPED for that client only and\n"
           "counted (\"dropped\" in the statistics): one client that never reads cannot\n"
           "block or slow the others, and costs at most its inbox and socket buffers.\n"
           "Stops on SIGINT or SIGTERM, closing every connection, and prints totals.\n"
           "Exit status: 0 ok, 1 could not listen, 2 bad usage.\n",
           DEF_QUEUE, LINE_MAX_BYTES);
}

int cmd_chat(int argc, char **argv)
{
    static const struct option lo[] = {
        {"listen", required_argument, NULL, 'l'}, {"threads", required_argument, NULL, 't'},
        {"queue", required_argument, NULL, 'Q'},  {"backend", required_argument, NULL, 'b'},
        {"stats", no_argument, NULL, 'S'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static struct chat ch; /* static: the runtime's tasks point at it */
    memset(&ch, 0, sizeof(ch));
    ch.queue = DEF_QUEUE;
    const char *listen_at = NULL;
    uint64_t v;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":l:t:Q:b:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return 0;
        case 'l': listen_at = optarg; break;
        case 't':
            if (tool_parse_u64(optarg, 0, 64, &v) < 0)
                return tool_usage("chat", "--threads wants 0..64, not '%s'", optarg);
            ch.srv.threads = (unsigned)v;
            break;
        case 'Q':
            if (tool_parse_u64(optarg, 1, 65536, &v) < 0)
                return tool_usage("chat", "--queue wants 1..65536, not '%s'", optarg);
            ch.queue = (unsigned)v;
            break;
        case 'b':
            if ((ch.srv.backend = sn_backend_parse(optarg)) < 0)
                return tool_usage("chat", "--backend wants epoll or uring, not '%s'", optarg);
            break;
        case 'S': ch.srv.stats = 1; break;
        case 'q': ch.srv.quiet = 1; break;
        default: return tool_bad_option("chat", c, argv);
        }
    }
    if (optind < argc)
        return tool_usage("chat", "unexpected argument '%s'", argv[optind]);
    if (!listen_at)
        return tool_usage("chat", "give the address to listen on: --listen 127.0.0.1:7000");
    const char *why = NULL;
    if (sn_addr_parse_len(listen_at, strlen(listen_at), &ch.addr, &why) < 0)
        return tool_usage("chat", "--listen '%s': %s", listen_at, why ? why : "not an address");

    srv_process_init();
    char detail[80];
    if (ch.srv.threads)
        snprintf(detail, sizeof(detail), "%u runtime threads, inbox %u messages", ch.srv.threads, ch.queue);
    else
        snprintf(detail, sizeof(detail), "current-thread runtime, inbox %u messages", ch.queue);
    ch.srv.ops = &chat_ops;
    ch.srv.name = "chat";
    ch.srv.worker = -1;
    ch.srv.detail = detail;
    ch.srv.addr = &ch.addr;
    ch.srv.backlog = 1024;
    return rt_srv_run(&ch.srv);
}
