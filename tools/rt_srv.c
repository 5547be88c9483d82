/* rt_srv.c — the server scaffolding of the tools on the task runtime (rt_srv.h). */
#include "rt_srv.h"
#include "tool.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the registry of open connections ------------------------------------------ */

void rt_srv_counts(struct rt_srv *s, uint64_t *open, uint64_t *peak)
{
    pthread_mutex_lock(&s->mu);
    *open = s->open;
    *peak = s->peak;
    pthread_mutex_unlock(&s->mu);
}

/* A connection is about to be spawned: count it, unless the server is stopping. */
static int conn_opening(struct rt_srv *s)
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

int rt_srv_link(struct rt_srv *s, struct rt_conn *n, int fd)
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

/* Under s->mu. */
static void conn_unlink(struct rt_srv *s, struct rt_conn *n)
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

void rt_srv_unlink(struct rt_srv *s, struct rt_conn *n)
{
    pthread_mutex_lock(&s->mu);
    conn_unlink(s, n);
    pthread_mutex_unlock(&s->mu);
}

void rt_srv_closed(struct rt_srv *s, struct rt_conn *n, int fd, struct sn_waker *w)
{
    struct sn_waker idle = {0, 0};
    pthread_mutex_lock(&s->mu);
    if (n)
        conn_unlink(s, n);
    if (fd >= 0)
        close(fd);
    s->open--;
    atomic_fetch_add_explicit(&s->closed, 1, memory_order_relaxed);
    if (s->open == 0 && atomic_load(&s->stopping)) {
        idle = s->idle;
        s->idle.vt = NULL;
        s->idle.data = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    if (w)
        *w = idle;
    else
        sn_waker_wake(&idle);
}

void rt_srv_stop(struct rt_srv *s)
{
    pthread_mutex_lock(&s->mu);
    if (!atomic_load(&s->stopping)) {
        atomic_store(&s->stopping, 1);
        if (s->lfd >= 0)
            shutdown(s->lfd, SHUT_RDWR); /* wakes an accept parked on it (Linux: EINVAL after) */
        for (struct rt_conn *n = s->conns; n; n = n->next)
            shutdown(n->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&s->mu);
}

int rt_srv_accept_failed(struct rt_srv *s, int err)
{
    if (err == -EAGAIN || err == -ECONNABORTED || err == -EINTR || err == -EPROTO || err == -EPERM)
        return 0;
    atomic_fetch_add_explicit(&s->accept_errors, 1, memory_order_relaxed);
    if (s->accept_msg && atomic_load_explicit(&s->accept_errors, memory_order_relaxed) == 1)
        fprintf(stderr, "sysnet %s: accept: %s (pausing %d ms; counted from now on)\n", s->tag, sn_strerror(err),
                (int)(RT_SRV_PAUSE_NS / SN_MS));
    return 1;
}

int rt_srv_accepted(struct rt_srv *s, struct sn_rt *rt, int fd)
{
    sn_sock_set_nodelay(fd, 1);
    if (conn_opening(s) < 0) {
        close(fd);
        return -ESHUTDOWN;
    }
    if (s->ops->spawn(s, rt, fd) < 0)
        rt_srv_closed(s, NULL, fd, NULL);
    return 0;
}

/* ---- futures: the drain, the statistics, the accept loop --------------------------- */

static int idle_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct rt_srv *s = ((struct rt_srv_idle_fut *)f)->s;
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

static const struct sn_future_vt idle_vt = {idle_poll, NULL, "rt_srv_idle"};

void rt_srv_idle_init(struct rt_srv_idle_fut *f, struct rt_srv *s)
{
    *f = (struct rt_srv_idle_fut){.base = {&idle_vt, 0}, .s = s};
}

/* Statistics every second until the stop (or until the runtime cancels it). */
struct stats_fut {
    struct sn_future base;
    struct rt_srv *s;
    struct sn_sleep_fut sl;
    int armed;
};

static int stats_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct stats_fut *t = (struct stats_fut *)f;
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
        t->s->ops->print_stats(t->s, "stats");
    }
}

static void stats_drop(struct sn_future *f)
{
    struct stats_fut *t = (struct stats_fut *)f;
    if (t->armed)
        sn_drop(&t->sl.base);
    t->armed = 0;
}

static const struct sn_future_vt stats_vt = {stats_poll, stats_drop, "rt_srv_stats"};

void rt_srv_spawn_stats(struct rt_srv *s, struct sn_rt *rt)
{
    struct stats_fut st = {.base = {&stats_vt, 0}, .s = s};
    int rc = sn_spawn(rt, &st.base, sizeof(st), NULL);
    if (rc < 0)
        fprintf(stderr, "sysnet %s: no --stats: %s\n", s->tag, sn_strerror(rc));
}

/* The accept loop, the signal watch and the drain, as one future. */
enum { A_INIT, A_RUN, A_PAUSE, A_DRAIN, A_DONE };

struct acc_fut {
    struct sn_future base;
    struct rt_srv *s;
    int state;
    struct sn_afd lafd, safd;
    struct sn_accept_fut acc;
    struct sn_read_fut sig;
    struct sn_sleep_fut pause;
    struct rt_srv_idle_fut idle;
    struct signalfd_siginfo si;
};

/* The signal came (or the future is dropped while it runs): the signal watch and the
 * listener closed, then the stop. */
static void acc_stop(struct acc_fut *a)
{
    struct rt_srv *s = a->s;
    sn_drop(&a->sig.base);
    sn_afd_close(&a->safd);
    if (a->state == A_PAUSE)
        sn_drop(&a->pause.base);
    sn_drop(&a->acc.base);
    sn_afd_close(&a->lafd);
    pthread_mutex_lock(&s->mu);
    close(s->lfd);
    s->lfd = -1;
    pthread_mutex_unlock(&s->mu);
    rt_srv_stop(s);
}

static int acc_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct acc_fut *a = (struct acc_fut *)f;
    struct rt_srv *s = a->s;
    if (a->state == A_INIT) {
        sn_afd_init(&a->lafd, s->lfd);
        sn_afd_init(&a->safd, s->sigfd);
        sn_accept_init(&a->acc, &a->lafd, SOCK_CLOEXEC);
        sn_read_init(&a->sig, &a->safd, &a->si, sizeof(a->si));
        a->state = A_RUN;
        if (s->stats)
            rt_srv_spawn_stats(s, cx->rt);
    }
    if ((a->state == A_RUN || a->state == A_PAUSE) && sn_poll(&a->sig.base, cx) == SN_READY) {
        acc_stop(a);
        rt_srv_idle_init(&a->idle, s);
        a->state = A_DRAIN;
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
            if (rt_srv_accept_failed(s, fd)) { /* out of descriptors or memory: wait a little */
                sn_sleep_init(&a->pause, RT_SRV_PAUSE_NS);
                a->state = A_PAUSE;
                if (sn_poll(&a->pause.base, cx) == SN_PENDING)
                    return SN_PENDING;
                sn_drop(&a->pause.base);
                a->state = A_RUN;
            }
            continue;
        }
        rt_srv_accepted(s, cx->rt, fd);
    }
    if (a->state == A_DRAIN) {
        if (sn_poll(&a->idle.base, cx) == SN_PENDING)
            return SN_PENDING;
        a->state = A_DONE;
    }
    f->out = 0;
    return SN_READY;
}

static void acc_drop(struct sn_future *f)
{
    struct acc_fut *a = (struct acc_fut *)f;
    if (a->state == A_RUN || a->state == A_PAUSE) {
        acc_stop(a);
        a->state = A_DONE;
    }
}

static const struct sn_future_vt acc_vt = {acc_poll, acc_drop, "rt_srv_accept"};

/* Which backend the runtime's reactor runs (and whether it runs at all). */
static int backend_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct sn_loop *l = sn_cx_loop(cx);
    f->out = l ? sn_poller_backend(sn_loop_poller(l)) : -ENOSYS;
    return SN_READY;
}

static const struct sn_future_vt backend_vt = {backend_poll, NULL, "rt_srv_backend"};

/* ---- the server ----------------------------------------------------------------------- */

int rt_srv_run(struct rt_srv *s)
{
    if (s->worker >= 0)
        snprintf(s->tag, sizeof(s->tag), "%s[%d]", s->name, s->worker);
    else
        snprintf(s->tag, sizeof(s->tag), "%s", s->name);
    s->rt = NULL;
    s->lfd = s->sigfd = -1;
    pthread_mutex_init(&s->mu, NULL);
    int ex = 0, rc;
    char text[SN_ADDR_STRLEN];
    sn_addr_fmt(s->addr, text, sizeof(text));

    /* The stop signals: blocked here, before the runtime's threads exist (they inherit
     * the mask), and read from a signalfd by a task. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    if ((s->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
        ex = tool_err(s->name, "signalfd: %s", sn_strerror(-errno));
        goto out;
    }
    struct sn_sock_opts lo = {.type = SOCK_STREAM,
                              .flags = SN_SOCK_NONBLOCK | SN_SOCK_REUSEADDR | (s->reuseport ? SN_SOCK_REUSEPORT : 0),
                              .bind = s->addr,
                              .backlog = s->backlog};
    if ((s->lfd = sn_sock_open(&lo)) < 0) {
        ex = tool_err(s->name, "cannot listen on %s: %s", text, sn_strerror(s->lfd));
        goto out;
    }
    const char *bname = s->backend ? sn_backend_name(s->backend) : "default";
    struct sn_rt_opts ro = {.workers = s->threads, .backend = s->backend};
    if ((rc = sn_rt_open(&s->rt, &ro)) < 0) {
        s->rt = NULL;
        ex = tool_err(s->name, "cannot open the %s runtime: %s", bname, sn_strerror(rc));
        goto out;
    }
    struct sn_future probe = {&backend_vt, 0};
    int64_t backend = sn_rt_block_on(s->rt, &probe);
    if (backend < 0) {
        ex = tool_err(s->name, "cannot open the %s runtime: %s", bname, sn_strerror((int)backend));
        goto out;
    }
    if (!s->quiet) {
        struct sn_addr bound;
        sn_sock_local_addr(s->lfd, &bound);
        sn_addr_fmt(&bound, text, sizeof(text));
        printf("sysnet %s: listening on %s (tcp, %s, %s)\n", s->tag, text, sn_backend_name((int)backend), s->detail);
        fflush(stdout);
    }
    int64_t res;
    if (s->ops->run) {
        res = s->ops->run(s);
    } else {
        struct acc_fut a = {.base = {&acc_vt, 0}, .s = s, .state = A_INIT};
        res = sn_rt_block_on(s->rt, &a.base);
        sn_drop(&a.base);
    }
    if (res < 0)
        ex = tool_err(s->name, "the %s%sruntime failed: %s", s->runtime ? s->runtime : "", s->runtime ? " " : "",
                      sn_strerror((int)res));
    else if (!s->quiet)
        s->ops->print_stats(s, "stopped");
out:
    if (s->rt && (rc = sn_rt_close(s->rt)) < 0 && !ex)
        ex = tool_err(s->name, "runtime still busy at exit: %s", sn_strerror(rc));
    s->rt = NULL;
    if (s->lfd >= 0)
        close(s->lfd);
    if (s->sigfd >= 0)
        close(s->sigfd);
    sn_waker_drop(&s->idle);
    pthread_mutex_destroy(&s->mu);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return ex;
}
