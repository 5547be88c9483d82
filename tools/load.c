/* load.c — `sysnet load`: a load generator for echo servers on the loop module.
 * CONNS connections (split over -t threads, each with its own loop) send
 * fixed-size messages and time the echo of each one.
 *
 * Closed loop (default): each connection keeps --pipeline messages in flight and
 * sends the next when one comes back; latency = echo time - send time. This is
 * what "messages per second" benchmarks measure, and it hides stalls: while the
 * server stalls, nobody sends, so the stall is one slow sample (coordinated
 * omission).
 * Open loop (--rate R): messages are due at fixed times (R per second over all
 * connections, round robin), sent when due whatever came back; latency = echo time
 * - the time the message was DUE (wrk2's correction), so a stall shows up in every
 * message that should have gone out during it.
 * Latencies go into per-thread log-linear histograms (include/sysnet/hist.h),
 * merged at the end: p50/p90/p99/p99.9/max. A progress line each second. */
#include "tool.h"

#include <sysnet/hist.h>
#include <sysnet/loop.h>
#include <sysnet/stream.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
#define MAX_CONNS 1000000u
#define MAX_SIZE (1u << 20)
#define OPEN_RING 1024u          /* open loop: messages in flight per connection at most */
#define TICK_NS (50 * SN_US)     /* open loop: how often due messages are sent */
#define HIST_MAX (60 * SN_SEC)   /* latencies above 60 s are clamped */

struct load_opts {
    struct sn_addr to;
    unsigned conns, threads, pipeline;
    unsigned src_lo, src_hi;     /* source addresses 127.0.0.src_lo .. src_hi; 0 = the kernel's choice */
    uint64_t duration_ns, connect_timeout_ns;
    uint64_t rate;               /* messages/s over all connections; 0 = closed loop */
    size_t size;
    int backend, quiet, json;
};

struct worker;

struct lconn {
    struct sn_connector cn;
    struct sn_stream s;
    struct worker *w;
    uint64_t *due;               /* ring of send (closed) or due (open) times */
    unsigned head, count, cap;
    size_t rx;                   /* bytes of the current message received so far */
    int open;                    /* stream open */
};

enum { PH_CONNECT, PH_RUN, PH_STOP };

struct worker {
    const struct load_opts *o;
    unsigned index;
    pthread_t th;
    struct sn_loop *loop;
    struct lconn *c;
    unsigned n;                  /* connections of this worker */
    unsigned connected, failed, pending;
    struct sn_async go, stop;
    struct sn_timer tick;
    struct sn_hist hist;
    int phase;
    uint64_t start, interval;    /* open loop: this worker's schedule */
    uint64_t issued, rr;         /* open loop: messages issued so far; next connection */
    uint64_t skipped;            /* open loop: due while the connection had OPEN_RING in flight */
    _Atomic uint64_t msgs, errors, bytes_out, bytes_in;
    int err;                     /* setup error */
};

static const uint8_t *g_msg;     /* the message: size bytes of a pattern */
static pthread_barrier_t g_connected;
static _Atomic int g_interrupted;

static void help(void)
{
    printf("usage: sysnet load ADDR:PORT -c CONNS -d SECS [options]\n"
           "Drive an echo server (sysnet echo, or any TCP echo) and measure message latency.\n\n"
           "  -c, --connections N   concurrent connections (1..%u; default 10)\n"
           "  -d, --duration SECS   measuring time after every connection is up (default 10;\n"
           "                        decimals allowed: 0.5)\n"
           "  -r, --rate R          open loop: R messages/s over all connections, latency from the\n"
           "                        time each was due (coordinated omission corrected);\n"
           "                        default: closed loop (send the next when one comes back)\n"
           "  -s, --size B          bytes per message (1..%u; default 64)\n"
           "  -p, --pipeline N      closed loop: messages in flight per connection (default 1)\n"
           "  -t, --threads N       threads, each with its own loop (1..%d; default 1)\n"
           "      --sources N|A-B   source addresses 127.0.0.1..N (or 127.0.0.A..B), round robin:\n"
           "                        ~28k connections per source and server port; default: as\n"
           "                        many as CONNS needs for a loopback server\n"
           "      --connect-timeout SECS  give up on a connection after this (default 10)\n"
           "  -b, --backend B       epoll (default), uring or poll\n"
           "      --json            the result as one JSON object on stdout\n"
           "  -q                    no progress lines\n"
           "  -h, --help            this text\n\n"
           "Prints a progress line on stderr every second, then the totals and the latency\n"
           "percentiles, and a machine-readable line starting with \"result\".\n"
           "Exit status: 0 ok, 1 no connection could be made or the run failed, 2 bad usage.\n",
           MAX_CONNS, MAX_SIZE, MAX_THREADS);
}

/* ---- one connection ---- */

static void conn_closed(struct sn_stream *s)
{
    (void)s; /* the connection's memory is the worker's array, freed at the end */
}

static void conn_fail(struct lconn *c)
{
    if (!c->open)
        return;
    c->open = 0;
    atomic_fetch_add_explicit(&c->w->errors, 1, memory_order_relaxed);
    sn_stream_abort(&c->s, conn_closed);
}

static int conn_send(struct lconn *c, uint64_t stamp)
{
    struct worker *w = c->w;
    if (c->count == c->cap)
        return -ENOBUFS;
    int rc = sn_stream_write(&c->s, g_msg, w->o->size);
    if (rc < 0) {
        conn_fail(c);
        return rc;
    }
    c->due[(c->head + c->count++) % c->cap] = stamp;
    atomic_fetch_add_explicit(&w->bytes_out, w->o->size, memory_order_relaxed);
    return 0;
}

static void conn_read(struct sn_stream *s, const uint8_t *data, ssize_t n)
{
    (void)data;
    struct lconn *c = s->data;
    struct worker *w = c->w;
    if (n <= 0) {
        if (w->phase != PH_STOP)
            conn_fail(c); /* the server closed or reset during the run */
        return;
    }
    atomic_fetch_add_explicit(&w->bytes_in, (uint64_t)n, memory_order_relaxed);
    c->rx += (size_t)n;
    if (c->rx < w->o->size)
        return;
    uint64_t now = sn_now_ns();
    while (c->rx >= w->o->size && c->count) {
        c->rx -= w->o->size;
        uint64_t t0 = c->due[c->head];
        c->head = (c->head + 1) % c->cap;
        c->count--;
        if (w->phase != PH_RUN)
            continue;
        uint64_t lat = now > t0 ? now - t0 : 0;
        sn_hist_record(&w->hist, lat < HIST_MAX ? lat : HIST_MAX);
        atomic_fetch_add_explicit(&w->msgs, 1, memory_order_relaxed);
        if (!w->o->rate)
            conn_send(c, now); /* closed loop: the next one */
    }
}

static void conn_connected(struct sn_connector *cn, int fd)
{
    struct lconn *c = cn->data;
    struct worker *w = c->w;
    if (w->phase == PH_STOP) { /* cancelled by on_stop, or too late */
        if (fd >= 0)
            close(fd);
        return;
    }
    if (fd < 0) {
        w->failed++;
        w->pending--;
    } else {
        c->s.data = c;
        struct sn_stream_opts so = {.nodelay = 1, .high_water = 64u << 20, .hard_limit = 256u << 20};
        if (sn_stream_open(w->loop, &c->s, fd, &so) < 0) {
            close(fd);
            w->failed++;
            w->pending--;
        } else {
            c->open = 1;
            w->connected++;
            sn_stream_read_start(&c->s, conn_read);
        }
    }
    if (w->connected + w->failed == w->n) {
        /* All attempts are done: wait for the other threads, then for "go". */
        pthread_barrier_wait(&g_connected);
    }
}

/* ---- the worker ---- */

static void on_tick(struct sn_timer *t)
{
    struct worker *w = t->data;
    uint64_t now = sn_now_ns();
    if (now < w->start)
        return;
    uint64_t due = (now - w->start) / w->interval + 1; /* messages due by now, the first at start */
    for (; w->issued < due; w->issued++) {
        uint64_t when = w->start + w->issued * w->interval;
        for (unsigned tries = 0; tries < w->n; tries++) {
            struct lconn *c = &w->c[w->rr++ % w->n];
            if (!c->open)
                continue;
            if (conn_send(c, when) == -ENOBUFS) {
                w->skipped++;
            }
            break;
        }
    }
}

static void on_go(struct sn_async *a)
{
    struct worker *w = a->data;
    w->phase = PH_RUN;
    uint64_t now = sn_now_ns();
    if (w->o->rate) {
        /* This worker's share of the rate, its first message offset so the workers
         * interleave rather than send in step. */
        double per = (double)w->o->rate / w->o->threads;
        w->interval = (uint64_t)(1e9 / per);
        if (!w->interval)
            w->interval = 1;
        w->start = now + w->interval * w->index / w->o->threads;
        sn_timer_start(w->loop, &w->tick, on_tick, 0, TICK_NS);
    } else {
        for (unsigned i = 0; i < w->n; i++)
            for (unsigned k = 0; k < w->o->pipeline && w->c[i].open; k++)
                conn_send(&w->c[i], now);
    }
}

static void on_stop(struct sn_async *a)
{
    struct worker *w = a->data;
    w->phase = PH_STOP;
    sn_timer_stop(&w->tick);
    for (unsigned i = 0; i < w->n; i++) {
        struct lconn *c = &w->c[i];
        if (c->open) {
            c->open = 0;
            sn_stream_abort(&c->s, conn_closed); /* RST: no TIME_WAIT left behind by thousands */
        } else if (c->cn.fd >= 0) {
            sn_connect_cancel(&c->cn); /* still connecting (the run was cut short) */
        }
    }
    sn_async_stop(&w->go);
    sn_async_stop(&w->stop);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    if (!w->pending) /* every connect failed at once: no callback will reach the barrier */
        pthread_barrier_wait(&g_connected);
    sn_loop_run(w->loop, SN_RUN_DEFAULT);
    return NULL;
}

/* Connection i's source address: 127.0.0.(src_lo + i % count), or none. */
static const struct sn_addr *source_of(const struct load_opts *o, unsigned i, struct sn_addr *buf)
{
    if (!o->src_lo)
        return NULL;
    uint8_t ip[4] = {127, 0, 0, (uint8_t)(o->src_lo + i % (o->src_hi - o->src_lo + 1))};
    sn_addr_ipv4(buf, ip, 0);
    return buf;
}

/* --sources N (127.0.0.1 .. N) or A-B (127.0.0.A .. B), 1 <= A <= B <= 254. */
static int parse_sources(const char *s, struct load_opts *o)
{
    uint64_t a, b;
    const char *dash = strchr(s, '-');
    if (!dash)
        return tool_parse_u64(s, 1, 254, &b) < 0 ? -EINVAL : (o->src_lo = 1, o->src_hi = (unsigned)b, 0);
    char lo[8];
    if ((size_t)(dash - s) >= sizeof(lo))
        return -EINVAL;
    memcpy(lo, s, (size_t)(dash - s));
    lo[dash - s] = 0;
    if (tool_parse_u64(lo, 1, 254, &a) < 0 || tool_parse_u64(dash + 1, a, 254, &b) < 0)
        return -EINVAL;
    o->src_lo = (unsigned)a;
    o->src_hi = (unsigned)b;
    return 0;
}

static int worker_setup(struct worker *w, const struct load_opts *o, unsigned index)
{
    w->o = o;
    w->index = index;
    w->n = o->conns / o->threads + (index < o->conns % o->threads);
    struct sn_loop_opts lo = {.backend = o->backend};
    int rc = sn_loop_open(&w->loop, &lo);
    if (rc < 0)
        return rc;
    if ((rc = sn_hist_init(&w->hist, HIST_MAX, 3)) < 0)
        return rc;
    unsigned cap = o->rate ? OPEN_RING : o->pipeline;
    w->c = calloc(w->n, sizeof(*w->c));
    uint64_t *due = calloc((size_t)w->n * cap, sizeof(uint64_t));
    if (!w->c || !due) {
        free(due);
        return -ENOMEM;
    }
    w->go.data = w->stop.data = w->tick.data = w;
    sn_async_start(w->loop, &w->go, on_go);
    sn_async_start(w->loop, &w->stop, on_stop);
    for (unsigned i = 0; i < w->n; i++) {
        struct lconn *c = &w->c[i];
        c->w = w;
        c->due = due + (size_t)i * cap;
        c->cap = cap;
        c->cn.data = c;
        c->cn.fd = -1;
    }
    return 0;
}

static int worker_connect(struct worker *w)
{
    const struct load_opts *o = w->o;
    for (unsigned i = 0; i < w->n; i++) {
        struct sn_addr src;
        unsigned global = i * o->threads + w->index;
        int rc = sn_tcp_connect(w->loop, &w->c[i].cn, &o->to, source_of(o, global, &src), o->connect_timeout_ns,
                                conn_connected);
        if (rc < 0) {
            if (!w->err)
                w->err = rc;
            w->failed++;
        } else {
            w->pending++;
        }
    }
    return 0;
}

static void worker_free(struct worker *w)
{
    if (w->c) {
        free(w->c[0].due);
        free(w->c);
    }
    sn_hist_fini(&w->hist);
    if (w->loop)
        sn_loop_close(w->loop);
}

/* ---- options, the run, the report ---- */

static int parse_secs(const char *s, uint64_t *ns)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v <= 0 || v > 86400)
        return -EINVAL;
    *ns = (uint64_t)(v * 1e9);
    return 0;
}

static void on_sigint(int sig)
{
    (void)sig;
    atomic_store(&g_interrupted, 1);
}

static uint64_t sum(struct worker *ws, unsigned n, size_t field)
{
    uint64_t t = 0;
    for (unsigned i = 0; i < n; i++)
        t += atomic_load((_Atomic uint64_t *)((char *)&ws[i] + field));
    return t;
}

int cmd_load(int argc, char **argv)
{
    enum { O_SOURCES = 256, O_CTIMEOUT, O_JSON };
    static const struct option lo[] = {
        {"connections", required_argument, NULL, 'c'}, {"duration", required_argument, NULL, 'd'},
        {"rate", required_argument, NULL, 'r'},        {"size", required_argument, NULL, 's'},
        {"pipeline", required_argument, NULL, 'p'},    {"threads", required_argument, NULL, 't'},
        {"sources", required_argument, NULL, O_SOURCES}, {"connect-timeout", required_argument, NULL, O_CTIMEOUT},
        {"backend", required_argument, NULL, 'b'},     {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0},
    };
    struct load_opts o = {.conns = 10, .threads = 1, .pipeline = 1, .size = 64,
                          .duration_ns = 10 * SN_SEC, .connect_timeout_ns = 10 * SN_SEC};
    uint64_t v;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":c:d:r:s:p:t:b:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return 0;
        case 'c':
            if (tool_parse_u64(optarg, 1, MAX_CONNS, &v) < 0)
                return tool_usage("load", "-c wants 1..%u connections, not '%s'", MAX_CONNS, optarg);
            o.conns = (unsigned)v;
            break;
        case 'd':
            if (parse_secs(optarg, &o.duration_ns) < 0)
                return tool_usage("load", "-d wants seconds (0 < d <= 86400), not '%s'", optarg);
            break;
        case 'r':
            if (tool_parse_u64(optarg, 1, 100000000, &o.rate) < 0)
                return tool_usage("load", "--rate wants 1..100000000 messages/s, not '%s'", optarg);
            break;
        case 's':
            if (tool_parse_u64(optarg, 1, MAX_SIZE, &v) < 0)
                return tool_usage("load", "--size wants 1..%u bytes, not '%s'", MAX_SIZE, optarg);
            o.size = (size_t)v;
            break;
        case 'p':
            if (tool_parse_u64(optarg, 1, 1024, &v) < 0)
                return tool_usage("load", "--pipeline wants 1..1024, not '%s'", optarg);
            o.pipeline = (unsigned)v;
            break;
        case 't':
            if (tool_parse_u64(optarg, 1, MAX_THREADS, &v) < 0)
                return tool_usage("load", "--threads wants 1..%d, not '%s'", MAX_THREADS, optarg);
            o.threads = (unsigned)v;
            break;
        case O_SOURCES:
            if (parse_sources(optarg, &o) < 0)
                return tool_usage("load", "--sources wants N or A-B within 1..254, not '%s'", optarg);
            break;
        case O_CTIMEOUT:
            if (parse_secs(optarg, &o.connect_timeout_ns) < 0)
                return tool_usage("load", "--connect-timeout wants seconds, not '%s'", optarg);
            break;
        case 'b':
            if ((o.backend = sn_backend_parse(optarg)) < 0)
                return tool_usage("load", "--backend wants epoll, uring or poll, not '%s'", optarg);
            break;
        case 'q': o.quiet = 1; break;
        case O_JSON: o.json = 1; break;
        default: return tool_bad_option("load", c, argv);
        }
    }
    if (optind != argc - 1)
        return tool_usage("load", optind >= argc ? "give the server's address: sysnet load 127.0.0.1:7000 -c 100 -d 5"
                                                 : "one address only");
    const char *why = NULL;
    if (sn_addr_parse_len(argv[optind], strlen(argv[optind]), &o.to, &why) < 0 || !o.to.port)
        return tool_usage("load", "'%s': %s", argv[optind], why ? why : "the address needs a port");
    if (o.threads > o.conns)
        o.threads = o.conns;
    int loopback4 = o.to.family == AF_INET && o.to.ip[0] == 127;
    if (o.src_lo && !loopback4)
        return tool_usage("load", "--sources is for a 127.x.x.x server (the sources are 127.0.0.N)");
    if (!o.src_lo && loopback4 && o.conns > 25000) { /* ~28k ephemeral ports per source address */
        o.src_lo = 1;
        o.src_hi = (o.conns + 24999) / 25000;
    }

    /* One fd per connection: raise the soft limit to the hard one. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur != RLIM_INFINITY && o.conns + 64 > rl.rlim_cur)
            return tool_err("load", "%u connections need %u file descriptors; this process may have %llu "
                            "(ulimit -n): run several load processes",
                            o.conns, o.conns + 64, (unsigned long long)rl.rlim_cur);
    }
    signal(SIGPIPE, SIG_IGN);
    uint8_t *msg = malloc(o.size);
    struct worker *ws = calloc(o.threads, sizeof(*ws));
    if (!msg || !ws) {
        free(msg);
        free(ws);
        return tool_err("load", "out of memory");
    }
    for (size_t i = 0; i < o.size; i++)
        msg[i] = (uint8_t)('a' + i % 26);
    g_msg = msg;
    pthread_barrier_init(&g_connected, NULL, o.threads + 1);
    int ex = 0;
    unsigned started = 0;
    for (unsigned i = 0; i < o.threads && !ex; i++) {
        int rc = worker_setup(&ws[i], &o, i);
        if (rc < 0)
            ex = tool_err("load", "thread %u: %s", i, sn_strerror(rc));
    }
    uint64_t t_connect = sn_now_ns();
    for (; started < o.threads && !ex; started++) {
        worker_connect(&ws[started]);
        if (pthread_create(&ws[started].th, NULL, worker_main, &ws[started]) != 0)
            ex = tool_err("load", "cannot start thread %u", started);
    }
    if (ex) { /* threads already running wait at the barrier forever: nothing to salvage */
        fflush(stdout);
        _exit(ex);
    }
    pthread_barrier_wait(&g_connected);
    uint64_t connect_ns = sn_now_ns() - t_connect;
    unsigned connected = 0, failed = 0;
    for (unsigned i = 0; i < o.threads; i++) {
        connected += ws[i].connected;
        failed += ws[i].failed;
    }
    char text[SN_ADDR_STRLEN];
    sn_addr_fmt(&o.to, text, sizeof(text));
    if (!o.quiet)
        fprintf(stderr, "sysnet load: %u of %u connections to %s up in %.1f ms (%u failed)\n", connected, o.conns,
                text, (double)connect_ns / 1e6, failed);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    uint64_t t0 = sn_now_ns(), elapsed = 0;
    if (connected) {
        for (unsigned i = 0; i < o.threads; i++)
            sn_async_send(&ws[i].go);
        uint64_t last_msgs = 0, next = t0 + SN_SEC;
        while (!atomic_load(&g_interrupted)) {
            uint64_t now = sn_now_ns();
            if (now - t0 >= o.duration_ns)
                break;
            uint64_t until = t0 + o.duration_ns < next ? t0 + o.duration_ns : next;
            struct timespec ts = {(time_t)((until - now) / SN_SEC), (long)((until - now) % SN_SEC)};
            nanosleep(&ts, NULL);
            if (sn_now_ns() >= next) {
                uint64_t m = sum(ws, o.threads, offsetof(struct worker, msgs));
                if (!o.quiet)
                    fprintf(stderr, "sysnet load: %3.0f s: %" PRIu64 " msgs/s, %" PRIu64 " errors\n",
                            (double)(next - t0) / 1e9, m - last_msgs, sum(ws, o.threads, offsetof(struct worker, errors)));
                last_msgs = m;
                next += SN_SEC;
            }
        }
    }
    elapsed = sn_now_ns() - t0;
    for (unsigned i = 0; i < o.threads; i++)
        sn_async_send(&ws[i].stop);
    for (unsigned i = 0; i < started; i++)
        pthread_join(ws[i].th, NULL);

    if (!connected) {
        for (unsigned i = 0; i < o.threads; i++)
            worker_free(&ws[i]);
        pthread_barrier_destroy(&g_connected);
        free(ws);
        free(msg);
        return tool_err("load", "no connection to %s could be made%s", text, failed ? " (refused or timed out)" : "");
    }

    /* The report. */
    struct sn_hist all;
    sn_hist_init(&all, HIST_MAX, 3);
    uint64_t skipped = 0;
    for (unsigned i = 0; i < o.threads; i++) {
        sn_hist_merge(&all, &ws[i].hist);
        skipped += ws[i].skipped;
    }
    uint64_t msgs = sum(ws, o.threads, offsetof(struct worker, msgs));
    uint64_t errors = sum(ws, o.threads, offsetof(struct worker, errors));
    uint64_t bout = sum(ws, o.threads, offsetof(struct worker, bytes_out));
    uint64_t bin = sum(ws, o.threads, offsetof(struct worker, bytes_in));
    double secs = (double)elapsed / 1e9, rate = secs > 0 ? (double)msgs / secs : 0;
    static const double ps[] = {50, 90, 99, 99.9, 100};
    uint64_t pv[5];
    sn_hist_values_at(&all, ps, pv, 5);
    char line[512];
    sn_hist_format(&all, line, sizeof(line));
    if (o.json) {
        printf("{\"server\":\"%s\",\"connections\":%u,\"connected\":%u,\"threads\":%u,\"seconds\":%.3f,"
               "\"mode\":\"%s\",\"rate\":%" PRIu64 ",\"size\":%zu,\"pipeline\":%u,\"messages\":%" PRIu64
               ",\"msgs_per_s\":%.0f,\"errors\":%" PRIu64 ",\"skipped\":%" PRIu64 ",\"p50_ns\":%" PRIu64
               ",\"p90_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64 ",\"p999_ns\":%" PRIu64 ",\"max_ns\":%" PRIu64 "}\n",
               text, o.conns, connected, o.threads, secs, o.rate ? "open" : "closed", o.rate, o.size, o.pipeline,
               msgs, rate, errors, skipped, pv[0], pv[1], pv[2], pv[3], pv[4]);
    } else {
        printf("sysnet load: %s, %u connections (%u threads, %s), %.2f s, %s, %zu-byte messages",
               text, connected, o.threads,
               sn_backend_name(sn_poller_backend(sn_loop_poller(ws[0].loop))), secs,
               o.rate ? "open loop" : "closed loop", o.size);
        if (o.rate)
            printf(", %" PRIu64 " msgs/s offered\n", o.rate);
        else
            printf(", pipeline %u\n", o.pipeline);
        printf("  messages %" PRIu64 " (%.0f/s), %.1f MB out, %.1f MB in, %" PRIu64 " errors", msgs, rate,
               (double)bout / 1e6, (double)bin / 1e6, errors);
        if (skipped)
            printf(", %" PRIu64 " not sent (%u in flight on a connection)", skipped, OPEN_RING);
        printf("\n  latency%s: %s\n", o.rate ? " (from the time each message was due)" : "", line);
        printf("result conns=%u msgs=%" PRIu64 " msgs_per_s=%.0f p50_ns=%" PRIu64 " p90_ns=%" PRIu64
               " p99_ns=%" PRIu64 " p999_ns=%" PRIu64 " max_ns=%" PRIu64 " errors=%" PRIu64 "\n",
               connected, msgs, rate, pv[0], pv[1], pv[2], pv[3], pv[4], errors);
    }
    fflush(stdout);
    sn_hist_fini(&all);
    for (unsigned i = 0; i < o.threads; i++)
        worker_free(&ws[i]);
    pthread_barrier_destroy(&g_connected);
    free(ws);
    free(msg);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return errors && !msgs ? 1 : ex;
}
