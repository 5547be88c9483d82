/* echo_task.c — `sysnet echo --runtime future|coro`: the echo protocol of echo.c
 * served by the task runtime instead of the callback loop, so that the three ways
 * of writing a server (callbacks, hand-written futures, stackful coroutines) can be
 * driven by the same `sysnet load` and compared (bench/task/run.sh).
 *
 *   future  one task per connection: a hand-written state machine (struct fconn,
 *           struct sn_future first) over an sn_afd: a read future, then a write-all
 *           future of what was read, again. The accept loop is a future too
 *           (rt_srv.c's), the one the main thread blocks on; it also watches a
 *           signalfd for SIGINT/SIGTERM, so stopping is one of its states.
 *   coro    one coroutine per connection (sn_co_read / sn_co_write: sequential
 *           code); the accept loop is a coroutine (sn_co_accept); the main coroutine
 *           waits on the signalfd (sn_co_read) and then stops the others.
 *
 * Stopping (both): the stop signals are blocked before the runtime starts its
 * threads and read from a signalfd by a task. Then: stop accepting, and
 * shutdown(SHUT_RDWR) every open connection (a registry under a mutex: the
 * connections may live on several workers), which ends each connection task's
 * read with EOF so that it closes its socket on its own path; the main task waits
 * until the count of open connections is 0 (a waker stored in the registry), and
 * the totals are printed as srv.c prints them. All of that, the listener and the
 * future accept loop are rt_srv.c's (shared with `sysnet chat`). --workers N forks N
 * such processes sharing the port (SO_REUSEPORT): srv.c's srv_processes. */
#include "echo_task.h"
#include "rt_srv.h"
#include "tool.h"

#include <sysnet/coro.h>
#include <sysnet/sock.h>
#include <sysnet/task.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define ECHO_BUF 16384        /* bytes read (and echoed) at a time, per connection */

static const char *const rt_names[] = {"loop", "future", "coro"};

int echo_runtime_parse(const char *s)
{
    for (int i = 0; i < (int)SN_COUNTOF(rt_names); i++)
        if (!strcmp(s, rt_names[i]))
            return i;
    return -1;
}

/* ---- the server: rt_srv's, and the bytes echoed ------------------------------------- */

struct esrv {
    struct rt_srv srv;        /* first: rt_srv's hooks get &srv */
    const struct echo_task_opts *o;
    _Atomic uint64_t bytes_in, bytes_out;
};

static void print_stats(struct rt_srv *srv, const char *what)
{
    struct esrv *s = (struct esrv *)srv;
    uint64_t open, peak;
    rt_srv_counts(srv, &open, &peak);
    struct sn_rt_stats st;
    memset(&st, 0, sizeof(st));
    if (srv->rt)
        sn_rt_stats(srv->rt, &st);
    fprintf(stderr,
            "sysnet %s: %s: %" PRIu64 " connections open, %" PRIu64 " peak, %" PRIu64 " closed, %" PRIu64
            " bytes in, %" PRIu64 " bytes out, %" PRIu64 " tasks spawned, %" PRIu64 " polls, rss %ld KiB\n",
            srv->tag, what, open, peak, atomic_load(&srv->closed), atomic_load(&s->bytes_in),
            atomic_load(&s->bytes_out), st.spawned, st.polls, srv_rss_kib());
}

/* ---- the future runtime ----------------------------------------------------- */

enum { F_INIT, F_READ, F_WRITE, F_DONE };

struct fconn {
    struct sn_future base;
    struct esrv *s;
    int fd, state, afd_on;
    struct sn_afd afd;
    struct rt_conn node;
    union {
        struct sn_read_fut rd;
        struct sn_write_fut wr;
    } op;
    uint8_t buf[ECHO_BUF];
};

static int fconn_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct fconn *c = (struct fconn *)f;
    struct esrv *s = c->s;
    if (c->state == F_INIT) {
        if (rt_srv_link(&s->srv, &c->node, c->fd) < 0) {
            c->state = F_DONE;
            f->out = -ESHUTDOWN;
            return SN_READY;
        }
        sn_afd_init(&c->afd, c->fd);
        c->afd_on = 1;
        sn_read_init(&c->op.rd, &c->afd, c->buf, sizeof(c->buf));
        c->state = F_READ;
    }
    for (;;) {
        if (c->state == F_READ) {
            if (sn_poll(&c->op.rd.base, cx) == SN_PENDING)
                return SN_PENDING;
            int64_t n = c->op.rd.base.out;
            sn_drop(&c->op.rd.base);
            if (n <= 0) { /* EOF (the client is done, or the stop shut it) or an error */
                c->state = F_DONE;
                f->out = n;
                return SN_READY;
            }
            /* A short read emptied the socket: forget its readiness now (edge-triggered:
             * new bytes bring a new edge) rather than learn it from one more read's
             * EAGAIN, a system call per message (the loop's stream does the same). */
            if ((size_t)n < sizeof(c->buf))
                sn_afd_clear(&c->afd, SN_READ);
            atomic_fetch_add_explicit(&s->bytes_in, (uint64_t)n, memory_order_relaxed);
            sn_write_init(&c->op.wr, &c->afd, c->buf, (size_t)n, 1);
            c->state = F_WRITE;
        }
        if (sn_poll(&c->op.wr.base, cx) == SN_PENDING)
            return SN_PENDING;
        int64_t n = c->op.wr.base.out;
        sn_drop(&c->op.wr.base);
        if (n < 0) {
            c->state = F_DONE;
            f->out = n;
            return SN_READY;
        }
        atomic_fetch_add_explicit(&s->bytes_out, (uint64_t)n, memory_order_relaxed);
        sn_read_init(&c->op.rd, &c->afd, c->buf, sizeof(c->buf));
        c->state = F_READ;
    }
}

/* Runs once, completed or cancelled, on the connection's worker. */
static void fconn_drop(struct sn_future *f)
{
    struct fconn *c = (struct fconn *)f;
    if (c->state == F_READ)
        sn_drop(&c->op.rd.base);
    else if (c->state == F_WRITE)
        sn_drop(&c->op.wr.base);
    if (c->afd_on)
        sn_afd_close(&c->afd);
    rt_srv_closed(&c->s->srv, &c->node, c->fd, NULL);
}

static const struct sn_future_vt fconn_vt = {fconn_poll, fconn_drop, "echo_conn"};

/* An accepted connection (counted open): its future, as a task. */
static int spawn_fconn(struct rt_srv *srv, struct sn_rt *rt, int fd)
{
    struct fconn *init = malloc(sizeof(*init)); /* the template sn_spawn copies (16 KiB: not on the stack) */
    int rc = -ENOMEM;
    if (init) {
        memset(init, 0, offsetof(struct fconn, buf));
        init->base.vt = &fconn_vt;
        init->s = (struct esrv *)srv;
        init->fd = fd;
        init->state = F_INIT;
        rc = sn_spawn(rt, &init->base, sizeof(*init), NULL);
        free(init);
    }
    return rc;
}

/* ---- the coroutine runtime ---------------------------------------------------- */

struct cconn {
    struct esrv *s;
    int fd;
};

static int64_t co_conn(void *arg)
{
    struct cconn *cc = arg;
    struct esrv *s = cc->s;
    int fd = cc->fd;
    free(cc);
    struct rt_conn n = {0};
    uint8_t buf[ECHO_BUF];
    ssize_t r = -ESHUTDOWN;
    if (rt_srv_link(&s->srv, &n, fd) == 0) {
        while ((r = sn_co_read(fd, buf, sizeof(buf))) > 0) {
            atomic_fetch_add_explicit(&s->bytes_in, (uint64_t)r, memory_order_relaxed);
            ssize_t w = sn_co_write(fd, buf, (size_t)r);
            if (w < 0) {
                r = w;
                break;
            }
            atomic_fetch_add_explicit(&s->bytes_out, (uint64_t)r, memory_order_relaxed);
        }
    }
    rt_srv_unlink(&s->srv, &n); /* out of the registry before the number is closed (and may be reused) */
    sn_co_close(fd);
    rt_srv_closed(&s->srv, NULL, -1, NULL);
    return r < 0 ? r : 0;
}

/* An accepted connection (counted open): its coroutine. */
static int spawn_cconn(struct rt_srv *srv, struct sn_rt *rt, int fd)
{
    struct esrv *s = (struct esrv *)srv;
    struct sn_co_opts co = {.stack_size = s->o->stack_size};
    struct cconn *cc = malloc(sizeof(*cc));
    int rc = -ENOMEM;
    if (cc) {
        cc->s = s;
        cc->fd = fd;
        rc = sn_co_spawn(rt, co_conn, cc, &co, NULL);
        if (rc < 0)
            free(cc);
    }
    return rc;
}

static int64_t co_accept(void *arg)
{
    struct rt_srv *s = arg;
    while (!atomic_load(&s->stopping)) {
        int fd = sn_co_accept(s->lfd, NULL, NULL);
        if (fd < 0) {
            if (atomic_load(&s->stopping) || fd == -ECANCELED)
                break;
            if (rt_srv_accept_failed(s, fd) && sn_co_sleep(RT_SRV_PAUSE_NS) == -ECANCELED)
                break;
            continue;
        }
        if (rt_srv_accepted(s, sn_co_rt(), fd) < 0)
            break;
    }
    /* The listener was registered on this coroutine's worker: close it here. */
    pthread_mutex_lock(&s->mu);
    int lfd = s->lfd;
    s->lfd = -1;
    pthread_mutex_unlock(&s->mu);
    sn_co_close(lfd);
    return 0;
}

/* The main coroutine: start the accept loop, wait for a stop signal, stop, drain. */
static int64_t co_main(void *arg)
{
    struct rt_srv *s = arg;
    struct sn_task *acc = NULL;
    int rc = sn_co_spawn(sn_co_rt(), co_accept, s, NULL, &acc);
    if (rc < 0)
        return rc;
    if (s->stats)
        rt_srv_spawn_stats(s, sn_co_rt());
    struct signalfd_siginfo si;
    ssize_t r;
    do
        r = sn_co_read(s->sigfd, &si, sizeof(si));
    while (r == -EINTR || r == -EAGAIN);
    sn_co_close(s->sigfd);
    s->sigfd = -1;
    rt_srv_stop(s);
    struct sn_join j;
    sn_join_init(&j, acc); /* the join future owns the handle now */
    sn_co_await(&j.base);
    struct rt_srv_idle_fut idle;
    rt_srv_idle_init(&idle, s);
    sn_co_await(&idle.base);
    return 0;
}

/* Serve: the main coroutine, joined. */
static int64_t run_coro(struct rt_srv *s)
{
    struct sn_task *t = NULL;
    int64_t res = sn_co_spawn(s->rt, co_main, s, NULL, &t);
    if (res >= 0) {
        struct sn_join j;
        sn_join_init(&j, t);
        res = sn_rt_block_on(s->rt, &j.base);
        sn_drop(&j.base);
    }
    return res;
}

/* ---- one process ------------------------------------------------------------------ */

static const struct rt_srv_ops future_ops = {spawn_fconn, print_stats, NULL};
static const struct rt_srv_ops coro_ops = {spawn_cconn, print_stats, run_coro};

static int serve_one(const void *arg, unsigned worker)
{
    const struct echo_task_opts *o = arg;
    const struct srv_opts *so = o->srv;
    char detail[64];
    if (o->threads)
        snprintf(detail, sizeof(detail), "%s runtime, %u threads", rt_names[o->runtime], o->threads);
    else
        snprintf(detail, sizeof(detail), "%s runtime, current thread", rt_names[o->runtime]);
    struct esrv s;
    memset(&s, 0, sizeof(s));
    s.o = o;
    s.srv.ops = o->runtime == ECHO_RT_FUTURE ? &future_ops : &coro_ops;
    s.srv.name = so->name;
    s.srv.worker = (int)worker;
    s.srv.runtime = rt_names[o->runtime];
    s.srv.detail = detail;
    s.srv.addr = &so->addr;
    s.srv.threads = o->threads;
    s.srv.backend = so->backend;
    s.srv.quiet = so->quiet;
    s.srv.stats = so->stats;
    s.srv.reuseport = so->workers > 1;
    s.srv.backlog = 4096;
    s.srv.accept_msg = 1;
    return rt_srv_run(&s.srv);
}

int echo_task_run(const struct echo_task_opts *o)
{
    return srv_processes(o->srv, serve_one, o);
}
