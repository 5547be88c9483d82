/* srv.c — the server scaffolding of `sysnet echo` and `sysnet serve` (srv.h). */
#include "srv.h"
#include "tool.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_WORKERS 64
#define SRV_DEF_HIGH_WATER (1u << 20) /* the stream's default too (stream.h) */

struct srv {
    const struct srv_opts *o;
    struct sn_loop *loop;
    struct sn_listener ls;
    struct sn_udp udp;
    struct sn_signal sigint, sigterm;
    struct sn_timer stats_timer;
    struct srv_counters ctr;
    struct srv_conn *conns;      /* every open connection, to close them at the end */
    unsigned worker;
    int stopping;
};

struct srv_counters *srv_counters(struct srv_conn *c)
{
    return &c->srv->ctr;
}

long srv_rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void print_stats(struct srv *srv, const char *what)
{
    const struct srv_counters *c = &srv->ctr;
    fprintf(stderr,
            "sysnet %s[%u]: %s: %" PRIu64 " connections open, %" PRIu64 " peak, %" PRIu64 " closed, %" PRIu64
            " bytes in, %" PRIu64 " bytes out, %" PRIu64 " %s, rss %ld KiB\n",
            srv->o->name, srv->worker, what, c->conns, c->peak, c->closed, c->bytes_in, c->bytes_out,
            srv->o->udp ? c->datagrams : c->requests, srv->o->udp ? "datagrams" : "requests", srv_rss_kib());
}

static void on_stats(struct sn_timer *t)
{
    print_stats(t->data, "stats");
}

static void on_closed(struct sn_stream *s)
{
    struct srv_conn *c = s->data;
    struct srv *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->ctr.conns--;
    srv->ctr.closed++;
    if (srv->o->on_free)
        srv->o->on_free(c);
    free(c);
}

void srv_conn_close(struct srv_conn *c)
{
    c->closing = 1;
    sn_stream_close(&c->s, on_closed);
}

void srv_conn_abort(struct srv_conn *c)
{
    c->closing = 1;
    sn_stream_abort(&c->s, on_closed);
}

static void on_drain(struct sn_stream *s)
{
    struct srv_conn *c = s->data;
    sn_stream_read_start(s, c->srv->o->on_read);
}

static void on_accept(struct sn_listener *ls, int fd)
{
    struct srv *srv = ls->data;
    struct srv_conn *c = calloc(1, srv->o->conn_size);
    size_t hw = srv->o->high_water ? srv->o->high_water : SRV_DEF_HIGH_WATER;
    size_t hard = srv->o->hard_limit;
    if (!hard)
        hard = 16 * hw > hw + (256u << 10) ? 16 * hw : hw + (256u << 10);
    struct sn_stream_opts so = {.high_water = hw, .hard_limit = hard, .nodelay = 1};
    if (!c) {
        close(fd);
        return;
    }
    c->srv = srv;
    c->s.data = c;
    if (sn_stream_open(srv->loop, &c->s, fd, &so) < 0) {
        close(fd);
        free(c);
        return;
    }
    c->s.on_drain = on_drain;
    sn_stream_read_start(&c->s, srv->o->on_read);
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    if (++srv->ctr.conns > srv->ctr.peak)
        srv->ctr.peak = srv->ctr.conns;
    if (srv->o->on_open && srv->o->on_open(c) < 0)
        srv_conn_abort(c); /* on_closed (and on_free) follow from the loop */
}

static void on_datagrams(struct sn_udp *u, struct sn_batch *b, int n)
{
    struct srv *srv = u->data;
    srv->o->on_datagrams(u, b, n, &srv->ctr);
}

/* SIGINT/SIGTERM: stop accepting, close every connection gracefully; the loop ends
 * when the last close is done. */
static void on_signal(struct sn_signal *s, int signum)
{
    (void)signum;
    struct srv *srv = s->data;
    if (srv->stopping)
        return;
    srv->stopping = 1;
    sn_listener_close(&srv->ls);
    sn_udp_close(&srv->udp);
    sn_signal_stop(&srv->sigint);
    sn_signal_stop(&srv->sigterm);
    sn_timer_stop(&srv->stats_timer);
    for (struct srv_conn *c = srv->conns; c; c = c->next)
        srv_conn_close(c); /* on_closed runs deferred: the list stays intact while we walk it */
}

static int serve_one(const void *arg, unsigned worker)
{
    const struct srv_opts *o = arg;
    struct srv srv;
    memset(&srv, 0, sizeof(srv));
    srv.o = o;
    srv.worker = worker;
    srv.ls.fd = srv.udp.fd = -1;
    struct sn_loop_opts lo = {.backend = o->backend};
    int rc = sn_loop_open(&srv.loop, &lo);
    if (rc < 0)
        return tool_err(o->name, "cannot open the %s loop: %s", o->backend ? sn_backend_name(o->backend) : "default",
                        sn_strerror(rc));
    srv.sigint.data = srv.sigterm.data = srv.stats_timer.data = srv.ls.data = srv.udp.data = &srv;
    sn_signal_start(srv.loop, &srv.sigint, SIGINT, on_signal);
    sn_signal_start(srv.loop, &srv.sigterm, SIGTERM, on_signal);
    if (o->udp) {
        rc = sn_udp_open(srv.loop, &srv.udp, &o->addr, 65536);
        if (rc == 0)
            rc = sn_udp_recv_start(&srv.udp, on_datagrams);
    } else {
        rc = sn_tcp_listen(srv.loop, &srv.ls, &o->addr, o->workers > 1 ? SN_LISTEN_REUSEPORT : 0, 4096, on_accept);
    }
    char text[SN_ADDR_STRLEN];
    int ex = 0;
    if (rc < 0) {
        sn_addr_fmt(&o->addr, text, sizeof(text));
        ex = tool_err(o->name, "cannot listen on %s: %s", text, sn_strerror(rc));
        on_signal(&srv.sigint, 0);
    } else {
        struct sn_addr bound;
        sn_sock_local_addr(o->udp ? srv.udp.fd : srv.ls.fd, &bound);
        sn_addr_fmt(&bound, text, sizeof(text));
        if (!o->quiet) {
            printf("sysnet %s[%u]: listening on %s (%s, %s)\n", o->name, worker, text, o->udp ? "udp" : "tcp",
                   sn_backend_name(sn_poller_backend(sn_loop_poller(srv.loop))));
            fflush(stdout);
        }
        if (o->stats)
            sn_timer_start(srv.loop, &srv.stats_timer, on_stats, SN_SEC, SN_SEC);
    }
    rc = sn_loop_run(srv.loop, SN_RUN_DEFAULT);
    if (!ex && !o->quiet)
        print_stats(&srv, "stopped");
    int crc = sn_loop_close(srv.loop);
    if (!ex && rc < 0)
        ex = tool_err(o->name, "loop failed: %s", sn_strerror(rc));
    if (!ex && crc < 0)
        ex = tool_err(o->name, "loop still busy at exit: %s", sn_strerror(crc));
    return ex;
}

int srv_option(struct srv_opts *o, const char **listen_at, int c, const char *arg)
{
    uint64_t v;
    switch (c) {
    case 'l': *listen_at = arg; return 0;
    case 'b':
        if ((o->backend = sn_backend_parse(arg)) < 0)
            return tool_usage(o->name, "--backend wants epoll, uring or poll, not '%s'", arg);
        return 0;
    case 'w':
        if (tool_parse_u64(arg, 1, MAX_WORKERS, &v) < 0)
            return tool_usage(o->name, "--workers wants 1..%d, not '%s'", MAX_WORKERS, arg);
        o->workers = (unsigned)v;
        return 0;
    case 'q': o->quiet = 1; return 0;
    case SRV_O_STATS: o->stats = 1; return 0;
    case SRV_O_HIGH:
        if (tool_parse_u64(arg, 4096, 1ull << 30, &v) < 0)
            return tool_usage(o->name, "--high-water wants bytes, 4096..2^30, not '%s'", arg);
        o->high_water = (size_t)v;
        return 0;
    default: return 1;
    }
}

int srv_getopt(struct srv_opts *o, const char **listen_at, int argc, char **argv, const char *shortopts,
               const struct option *lo, int *rc)
{
    int c;
    while ((c = getopt_long(argc, argv, shortopts, lo, NULL)) != -1) {
        if ((*rc = srv_option(o, listen_at, c, optarg)) != 1) {
            if (*rc)
                return -2;
            continue;
        }
        switch (c) {
        case ':': *rc = tool_usage(o->name, "option %s needs a value", argv[optind - 1]); return -2;
        case '?': *rc = tool_usage(o->name, "unknown option '%s'", argv[optind - 1]); return -2;
        default: return c;
        }
    }
    if (optind < argc) {
        *rc = tool_usage(o->name, "unexpected argument '%s'", argv[optind]);
        return -2;
    }
    return -1;
}

int srv_check(struct srv_opts *o, const char *listen_at)
{
    if (!listen_at)
        return tool_usage(o->name, "give the address to listen on: --listen 127.0.0.1:7000");
    const char *why = NULL;
    if (sn_addr_parse_len(listen_at, strlen(listen_at), &o->addr, &why) < 0)
        return tool_usage(o->name, "--listen '%s': %s", listen_at, why ? why : "not an address");
    if (!o->workers)
        o->workers = 1;
    if (o->workers > 1 && o->addr.port == 0)
        return tool_usage(o->name, "--workers needs a fixed port: the workers share it (SO_REUSEPORT)");
    return -1;
}

/* One fd per connection: take all the process may have. The limit is per process,
 * so each --workers process gets it whole (srv.h). A write to a connection the peer
 * closed is an error (EPIPE), not a signal. */
void srv_process_init(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
}

int srv_processes(const struct srv_opts *o, int (*serve)(const void *arg, unsigned worker), const void *arg)
{
    srv_process_init();
    if (o->workers <= 1)
        return serve(arg, 0);
    /* Workers: block the stop signals before fork so that every child inherits them
     * blocked (its loop or runtime reads them from a signalfd); the parent waits for
     * one with sigwait and passes it on. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, &old);
    pid_t pids[MAX_WORKERS];
    unsigned started = 0;
    fflush(stdout);
    for (; started < o->workers && started < MAX_WORKERS; started++) {
        pid_t pid = fork();
        if (pid < 0) {
            tool_err(o->name, "fork: %s", sn_strerror(-errno));
            break;
        }
        if (pid == 0) {
            int ex = serve(arg, started);
            fflush(stdout);
            _exit(ex);
        }
        pids[started] = pid;
    }
    int ex = started == o->workers ? 0 : 1, sig = SIGTERM;
    if (!ex && sigwait(&set, &sig) != 0)
        sig = SIGTERM;
    for (unsigned i = 0; i < started; i++)
        kill(pids[i], sig);
    for (unsigned i = 0; i < started; i++) {
        int st;
        if (waitpid(pids[i], &st, 0) > 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
            ex = 1;
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return ex;
}

int srv_run(const struct srv_opts *o)
{
    return srv_processes(o, serve_one, o);
}
