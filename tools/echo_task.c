/* echo_task.c — `sysnet echo --runtime future|coro`: the echo protocol of echo.c
 * served by the task runtime instead of the callback loop, so that the three ways
 * of writing a server (callbacks, hand-written futures, stackful coroutines) can be
 * driven by the same `sysnet load` and compared (bench/task/run.sh).
 *
 *   future  one task per connection: a hand-written state machine (struct fconn,
 *           struct sn_future first) over an sn_afd: a read future, then a write-all
 *           future of what was read, again. The accept loop is a future too (struct
 *           facc), the one the main thread blocks on; it also watches a signalfd for
 *           SIGINT/SIGTERM, so stopping is one of its states.
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
 * the totals are printed as srv.c prints them. --workers N forks N such processes
 * sharing the port (SO_REUSEPORT), as srv.c does. */
#include "echo_task.h"
#include "tool.h"

#include <sysnet/coro.h>
#include <sysnet/sock.h>
#include <sysnet/task.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define ECHO_BUF 16384        /* bytes read (and echoed) at a time, per connection */
#define MAX_WORKERS 64
#define PAUSE_NS (50 * SN_MS) /* accept failed for lack of descriptors or memory: wait */

static const char *const rt_names[] = {"loop", "future", "coro"};

int echo_runtime_parse(const char *s)
{
    for (int i = 0; i < (int)SN_COUNTOF(rt_names); i++)
        if (!strcmp(s, rt_names[i]))
            return i;
    return -1;
}

/* ---- the server: counters and the registry of open connections ------------- */

struct node {
    int fd;
    struct node *prev, *next;
    int linked;
};

struct esrv {
    const struct echo_task_opts *o;
    unsigned worker;
    struct sn_rt *rt;
    int lfd, sigfd;
    pthread_mutex_t mu;
    struct node *conns;       /* under mu: the connections to shut down at the stop */
    uint64_t open, peak;      /* under mu */
    struct sn_waker idle;     /* under mu: wakes the main task when open drops to 0 */
    _Atomic int stopping;     /* written under mu */
    _Atomic uint64_t closed, bytes_in, bytes_out, accept_errors;
};

static long rss_kib(void)
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

static void print_stats(struct esrv *s, const char *what)
{
    pthread_mutex_lock(&s->mu);
    uint64_t open = s->open, peak = s->peak;
    pthread_mutex_unlock(&s->mu);
    struct sn_rt_stats st;
    memset(&st, 0, sizeof(st));
    if (s->rt)
        sn_rt_stats(s->rt, &st);
    fprintf(stderr,
            "sysnet %s[%u]: %s: %" PRIu64 " connections open, %" PRIu64 " peak, %" PRIu64 " closed, %" PRIu64
            " bytes in, %" PRIu64 " bytes out, %" PRIu64 " tasks spawned, %" PRIu64 " polls, rss %ld KiB\n",
            s->o->srv->name, s->worker, what, open, peak, atomic_load(&s->closed), atomic_load(&s->bytes_in),
            atomic_load(&s->bytes_out), st.spawned, st.polls, rss_kib());
}

/* A connection is about to be spawned: count it, unless the server is stopping. */
static int conn_opening(struct esrv *s)
{
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    if (atomic_load(&s->stopping))
        rc = -ESHUTDOWN;
    else if (++s->open > s->peak)
        s->peak = s->open;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* The connection's task runs: put it where the stop can find it. -ESHUTDOWN if the
 * stop came first (the task then closes at once). */
static int conn_link(struct esrv *s, struct node *n, int fd)
{
    int rc = 0;
    n->fd = fd;
    pthread_mutex_lock(&s->mu);
    if (atomic_load(&s->stopping)) {
        rc = -ESHUTDOWN;
    } else {
        n->prev = NULL;
        n->next = s->conns;
        if (s->conns)
            s->conns->prev = n;
        s->conns = n;
        n->linked = 1;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void conn_unlink(struct esrv *s, struct node *n)
{
    if (!n->linked)
        return;
    if (n->prev)
        n->prev->next = n->next;
    else
        s->conns = n->next;
    if (n->next)
        n->next->prev = n->prev;
    n->linked = 0;
}

/* The connection is done: out of the registry, its fd closed (under the lock, so
 * the stop never shuts down a number that was reused), uncounted. n NULL: not
 * linked; fd < 0: closed already. */
static void conn_closed(struct esrv *s, struct node *n, int fd)
{
    struct sn_waker w = {0, 0};
    pthread_mutex_lock(&s->mu);
    if (n)
        conn_unlink(s, n);
    if (fd >= 0)
        close(fd);
    s->open--;
    atomic_fetch_add_explicit(&s->closed, 1, memory_order_relaxed);
    if (s->open == 0 && atomic_load(&s->stopping)) {
        w = s->idle;
        s->idle.vt = NULL;
        s->idle.data = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    sn_waker_wake(&w);
}

/* Stop: no more connections, and every open one sees EOF (then closes itself). */
static void server_stop(struct esrv *s)
{
    pthread_mutex_lock(&s->mu);
    if (!atomic_load(&s->stopping)) {
        atomic_store(&s->stopping, 1);
        if (s->lfd >= 0)
            shutdown(s->lfd, SHUT_RDWR); /* wakes an accept parked on it (Linux: EINVAL after) */
        for (struct node *n = s->conns; n; n = n->next)
            shutdown(n->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&s->mu);
}

/* Ready once the server is stopping and every connection has closed. */
struct idle_fut {
    struct sn_future base;
    struct esrv *s;
};

static int idle_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct esrv *s = ((struct idle_fut *)f)->s;
    int ready;
    pthread_mutex_lock(&s->mu);
    ready = s->open == 0;
    if (ready)
        sn_waker_drop(&s->idle);
    else
        sn_waker_store(&s->idle, &cx->waker);
    pthread_mutex_unlock(&s->mu);
    f->out = 0;
    return ready ? SN_READY : SN_PENDING;
}

static const struct sn_future_vt idle_vt = {idle_poll, NULL, "echo_idle"};

static void tune_conn(int fd)
{
    sn_sock_set_nodelay(fd, 1);
}

/* An accept error: the ones that are about this connection only are ignored;
 * running out of descriptors or memory asks for a pause. 1: pause, 0: go on. */
static int accept_failed(struct esrv *s, int err)
{
    if (err == -EAGAIN || err == -ECONNABORTED || err == -EINTR || err == -EPROTO || err == -EPERM)
        return 0;
    atomic_fetch_add_explicit(&s->accept_errors, 1, memory_order_relaxed);
    if (atomic_load_explicit(&s->accept_errors, memory_order_relaxed) == 1)
        fprintf(stderr, "sysnet %s[%u]: accept: %s (pausing %d ms; counted from now on)\n", s->o->srv->name,
                s->worker, sn_strerror(err), (int)(PAUSE_NS / SN_MS));
    return 1;
}

/* ---- the future runtime ----------------------------------------------------- */

enum { F_INIT, F_READ, F_WRITE, F_DONE };

struct fconn {
    struct sn_future base;
    struct esrv *s;
    int fd, state, afd_on;
    struct sn_afd afd;
    struct node node;
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
        if (conn_link(s, &c->node, c->fd) < 0) {
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
    conn_closed(c->s, &c->node, c->fd);
}

static const struct sn_future_vt fconn_vt = {fconn_poll, fconn_drop, "echo_conn"};

/* Statistics every second until the stop (or until the runtime cancels it). */
struct fstats {
    struct sn_future base;
    struct esrv *s;
    struct sn_sleep_fut sl;
    int armed;
};

static int fstats_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct fstats *t = (struct fstats *)f;
    for (;;) {
        if (!t->armed) {
            sn_sleep_init(&t->sl, SN_SEC);
            t->armed = 1;
        }
        if (sn_poll(&t->sl.base, cx) == SN_PENDING)
            return SN_PENDING;
        sn_drop(&t->sl.base);
        t->armed = 0;
        if (atomic_load(&t->s->stopping)) {
            f->out = 0;
            return SN_READY;
        }
        print_stats(t->s, "stats");
    }
}

static void fstats_drop(struct sn_future *f)
{
    struct fstats *t = (struct fstats *)f;
    if (t->armed)
        sn_drop(&t->sl.base);
    t->armed = 0;
}

static const struct sn_future_vt fstats_vt = {fstats_poll, fstats_drop, "echo_stats"};

/* The accept loop, the signal watch and the drain, as one future. */
enum { A_INIT, A_RUN, A_PAUSE, A_DRAIN, A_DONE };

struct facc {
    struct sn_future base;
    struct esrv *s;
    int state;
    struct sn_afd lafd, safd;
    struct sn_accept_fut acc;
    struct sn_read_fut sig;
    struct sn_sleep_fut pause;
    struct idle_fut idle;
    struct signalfd_siginfo si;
};

static void facc_close_listener(struct facc *a)
{
    struct esrv *s = a->s;
    sn_drop(&a->acc.base);
    sn_afd_close(&a->lafd);
    pthread_mutex_lock(&s->mu);
    close(s->lfd);
    s->lfd = -1;
    pthread_mutex_unlock(&s->mu);
}

static int facc_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct facc *a = (struct facc *)f;
    struct esrv *s = a->s;
    if (a->state == A_INIT) {
        sn_afd_init(&a->lafd, s->lfd);
        sn_afd_init(&a->safd, s->sigfd);
        sn_accept_init(&a->acc, &a->lafd, SOCK_CLOEXEC);
        sn_read_init(&a->sig, &a->safd, &a->si, sizeof(a->si));
        a->state = A_RUN;
        if (s->o->srv->stats) {
            struct fstats st = {.base = {&fstats_vt, 0}, .s = s};
            int rc = sn_spawn(cx->rt, &st.base, sizeof(st), NULL);
            if (rc < 0)
                fprintf(stderr, "sysnet %s[%u]: no --stats: %s\n", s->o->srv->name, s->worker, sn_strerror(rc));
        }
    }
    if (a->state == A_RUN || a->state == A_PAUSE) {
        if (sn_poll(&a->sig.base, cx) == SN_READY) {
            sn_drop(&a->sig.base);
            sn_afd_close(&a->safd);
            if (a->state == A_PAUSE)
                sn_drop(&a->pause.base);
            facc_close_listener(a);
            server_stop(s);
            a->idle = (struct idle_fut){.base = {&idle_vt, 0}, .s = s};
            a->state = A_DRAIN;
        }
    }
    if (a->state == A_PAUSE) {
        if (sn_poll(&a->pause.base, cx) == SN_PENDING)
            return SN_PENDING;
        sn_drop(&a->pause.base);
        a->state = A_RUN;
    }
    while (a->state == A_RUN) {
        if (sn_poll(&a->acc.base, cx) == SN_PENDING)
            return SN_PENDING;
        int fd = (int)a->acc.base.out;
        sn_drop(&a->acc.base);
        sn_accept_init(&a->acc, &a->lafd, SOCK_CLOEXEC);
        if (fd < 0) {
            if (accept_failed(s, fd)) {
                sn_sleep_init(&a->pause, PAUSE_NS);
                a->state = A_PAUSE;
                if (sn_poll(&a->pause.base, cx) == SN_PENDING)
                    return SN_PENDING;
                sn_drop(&a->pause.base);
                a->state = A_RUN;
            }
            continue;
        }
        tune_conn(fd);
        if (conn_opening(s) < 0) {
            close(fd);
            continue;
        }
        struct fconn *init = malloc(sizeof(*init)); /* the template sn_spawn copies (16 KiB: not on the stack) */
        int rc = -ENOMEM;
        if (init) {
            memset(init, 0, offsetof(struct fconn, buf));
            init->base.vt = &fconn_vt;
            init->s = s;
            init->fd = fd;
            init->state = F_INIT;
            rc = sn_spawn(cx->rt, &init->base, sizeof(*init), NULL);
            free(init);
        }
        if (rc < 0)
            conn_closed(s, NULL, fd);
    }
    if (a->state == A_DRAIN) {
        if (sn_poll(&a->idle.base, cx) == SN_PENDING)
            return SN_PENDING;
        a->state = A_DONE;
    }
    f->out = 0;
    return SN_READY;
}

static void facc_drop(struct sn_future *f)
{
    struct facc *a = (struct facc *)f;
    if (a->state == A_RUN || a->state == A_PAUSE) {
        sn_drop(&a->sig.base);
        sn_afd_close(&a->safd);
        if (a->state == A_PAUSE)
            sn_drop(&a->pause.base);
        facc_close_listener(a);
    }
}

static const struct sn_future_vt facc_vt = {facc_poll, facc_drop, "echo_accept"};

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
    struct node n = {0};
    uint8_t buf[ECHO_BUF];
    ssize_t r = -ESHUTDOWN;
    if (conn_link(s, &n, fd) == 0) {
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
    /* Out of the registry before the number is closed (and may be reused). */
    pthread_mutex_lock(&s->mu);
    conn_unlink(s, &n);
    pthread_mutex_unlock(&s->mu);
    sn_co_close(fd);
    conn_closed(s, NULL, -1);
    return r < 0 ? r : 0;
}

static int64_t co_accept(void *arg)
{
    struct esrv *s = arg;
    struct sn_co_opts co = {.stack_size = s->o->stack_size};
    while (!atomic_load(&s->stopping)) {
        int fd = sn_co_accept(s->lfd, NULL, NULL);
        if (fd < 0) {
            if (atomic_load(&s->stopping) || fd == -ECANCELED)
                break;
            if (accept_failed(s, fd) && sn_co_sleep(PAUSE_NS) == -ECANCELED)
                break;
            continue;
        }
        tune_conn(fd);
        if (conn_opening(s) < 0) {
            close(fd);
            break;
        }
        struct cconn *cc = malloc(sizeof(*cc));
        int rc = -ENOMEM;
        if (cc) {
            cc->s = s;
            cc->fd = fd;
            rc = sn_co_spawn(sn_co_rt(), co_conn, cc, &co, NULL);
            if (rc < 0)
                free(cc);
        }
        if (rc < 0)
            conn_closed(s, NULL, fd);
    }
    /* The listener was registered on this coroutine's worker: close it here. */
    pthread_mutex_lock(&s->mu);
    int lfd = s->lfd;
    s->lfd = -1;
    pthread_mutex_unlock(&s->mu);
    sn_co_close(lfd);
    return 0;
}

static int64_t co_stats(void *arg)
{
    struct esrv *s = arg;
    while (!atomic_load(&s->stopping)) {
        if (sn_co_sleep(SN_SEC) < 0 || atomic_load(&s->stopping))
            break;
        print_stats(s, "stats");
    }
    return 0;
}

/* The main coroutine: start the accept loop, wait for a stop signal, stop, drain. */
static int64_t co_main(void *arg)
{
    struct esrv *s = arg;
    struct sn_task *acc = NULL;
    int rc = sn_co_spawn(sn_co_rt(), co_accept, s, NULL, &acc);
    if (rc < 0)
        return rc;
    if (s->o->srv->stats && (rc = sn_co_spawn(sn_co_rt(), co_stats, s, NULL, NULL)) < 0)
        fprintf(stderr, "sysnet %s[%u]: no --stats: %s\n", s->o->srv->name, s->worker, sn_strerror(rc));
    struct signalfd_siginfo si;
    ssize_t r;
    do
        r = sn_co_read(s->sigfd, &si, sizeof(si));
    while (r == -EINTR || r == -EAGAIN);
    sn_co_close(s->sigfd);
    s->sigfd = -1;
    server_stop(s);
    struct sn_join j;
    sn_join_init(&j, acc); /* the join future owns the handle now */
    sn_co_await(&j.base);
    struct idle_fut idle = {.base = {&idle_vt, 0}, .s = s};
    sn_co_await(&idle.base);
    return 0;
}

/* ---- one process ------------------------------------------------------------------ */

struct bfut { /* which backend the runtime's reactor runs */
    struct sn_future base;
};

static int backend_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct sn_loop *l = sn_cx_loop(cx);
    f->out = l ? sn_poller_backend(sn_loop_poller(l)) : -ENOSYS;
    return SN_READY;
}

static const struct sn_future_vt backend_vt = {backend_poll, NULL, "echo_backend"};

static int serve_one(const struct echo_task_opts *o, unsigned worker)
{
    const struct srv_opts *so = o->srv;
    struct esrv s;
    memset(&s, 0, sizeof(s));
    s.o = o;
    s.worker = worker;
    s.lfd = s.sigfd = -1;
    pthread_mutex_init(&s.mu, NULL);
    int ex = 0, rc;
    char text[SN_ADDR_STRLEN];
    sn_addr_fmt(&so->addr, text, sizeof(text));

    /* The stop signals: blocked here, before the runtime's threads exist (they inherit
     * the mask), and read from a signalfd by a task. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    s.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s.sigfd < 0) {
        ex = tool_err(so->name, "signalfd: %s", sn_strerror(-errno));
        goto out;
    }
    struct sn_sock_opts lo = {.type = SOCK_STREAM,
                              .flags = SN_SOCK_NONBLOCK | SN_SOCK_REUSEADDR | (so->workers > 1 ? SN_SOCK_REUSEPORT : 0),
                              .bind = &so->addr,
                              .backlog = 4096};
    if ((s.lfd = sn_sock_open(&lo)) < 0) {
        ex = tool_err(so->name, "cannot listen on %s: %s", text, sn_strerror(s.lfd));
        goto out;
    }
    struct sn_rt_opts ro = {.workers = o->threads, .backend = so->backend};
    if ((rc = sn_rt_open(&s.rt, &ro)) < 0) {
        s.rt = NULL;
        ex = tool_err(so->name, "cannot open the %s runtime: %s",
                      so->backend ? sn_backend_name(so->backend) : "default", sn_strerror(rc));
        goto out;
    }
    struct bfut bf = {.base = {&backend_vt, 0}};
    int64_t backend = sn_rt_block_on(s.rt, &bf.base);
    if (backend < 0) {
        ex = tool_err(so->name, "cannot open the %s runtime: %s",
                      so->backend ? sn_backend_name(so->backend) : "default", sn_strerror((int)backend));
        goto out;
    }
    if (!so->quiet) {
        struct sn_addr bound;
        sn_sock_local_addr(s.lfd, &bound);
        sn_addr_fmt(&bound, text, sizeof(text));
        char thr[32];
        if (o->threads)
            snprintf(thr, sizeof(thr), "%u threads", o->threads);
        else
            snprintf(thr, sizeof(thr), "current thread");
        printf("sysnet %s[%u]: listening on %s (tcp, %s, %s runtime, %s)\n", so->name, worker, text,
               sn_backend_name((int)backend), rt_names[o->runtime], thr);
        fflush(stdout);
    }
    int64_t res;
    if (o->runtime == ECHO_RT_FUTURE) {
        struct facc a = {.base = {&facc_vt, 0}, .s = &s, .state = A_INIT};
        res = sn_rt_block_on(s.rt, &a.base);
        sn_drop(&a.base);
    } else {
        struct sn_task *t = NULL;
        res = sn_co_spawn(s.rt, co_main, &s, NULL, &t);
        if (res >= 0) {
            struct sn_join j;
            sn_join_init(&j, t);
            res = sn_rt_block_on(s.rt, &j.base);
            sn_drop(&j.base);
        }
    }
    if (res < 0)
        ex = tool_err(so->name, "the %s runtime failed: %s", rt_names[o->runtime], sn_strerror((int)res));
    else if (!so->quiet)
        print_stats(&s, "stopped");
out:
    if (s.rt && (rc = sn_rt_close(s.rt)) < 0 && !ex)
        ex = tool_err(so->name, "runtime still busy at exit: %s", sn_strerror(rc));
    s.rt = NULL;
    if (s.lfd >= 0)
        close(s.lfd);
    if (s.sigfd >= 0)
        close(s.sigfd);
    sn_waker_drop(&s.idle);
    pthread_mutex_destroy(&s.mu);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return ex;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int echo_task_run(const struct echo_task_opts *o)
{
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    if (o->srv->workers <= 1)
        return serve_one(o, 0);
    /* Worker processes, as srv.c: the stop signals are blocked before fork; the parent
     * waits for one and passes it on. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, &old);
    pid_t pids[MAX_WORKERS];
    unsigned started = 0;
    fflush(stdout);
    for (; started < o->srv->workers && started < MAX_WORKERS; started++) {
        pid_t pid = fork();
        if (pid < 0) {
            tool_err(o->srv->name, "fork: %s", sn_strerror(-errno));
            break;
        }
        if (pid == 0) {
            int ex = serve_one(o, started);
            fflush(stdout);
            _exit(ex);
        }
        pids[started] = pid;
    }
    int ex = started == o->srv->workers ? 0 : 1, sig = SIGTERM;
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
