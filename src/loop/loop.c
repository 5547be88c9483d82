/* loop.c — the callback loop of include/sysnet/loop.h: open/close/run, io watchers,
 * completion ops, idle handles, deferred callbacks, async wakes and signals. The
 * timers are in timer.c, the work pool in pool.c; the waiting is the poller's.
 * How poller tokens map back to handles is explained at the top of loop_int.h. */
#include "loop_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_EVENTS 1024u
#define LIMIT_MAX_EVENTS 65536u
#define DEFAULT_POOL_THREADS 4u
#define LIMIT_POOL_THREADS 256u
#define IO_INTEREST_ALL (SN_READ | SN_WRITE | SN_EDGE | SN_ONESHOT | SN_EXCLUSIVE)

/* The token's pointer bits would be clobbered by the kind tag otherwise. */
_Static_assert(_Alignof(struct sn_op) > SNL_TOK_MASK, "sn_op must be 8-aligned");

/* ======================================================================
 * open, close, time
 * ====================================================================== */

static unsigned pool_threads(const struct sn_loop_opts *o)
{
    unsigned n = o->pool_threads;
    if (!n) {
        const char *env = getenv("SN_POOL_THREADS");
        if (env && *env) {
            char *end;
            unsigned long v = strtoul(env, &end, 10);
            if (*end == 0 && v > 0)
                n = v > LIMIT_POOL_THREADS ? LIMIT_POOL_THREADS : (unsigned)v;
        }
    }
    if (!n)
        n = DEFAULT_POOL_THREADS;
    return n > LIMIT_POOL_THREADS ? LIMIT_POOL_THREADS : n;
}

int sn_loop_open(struct sn_loop **out, const struct sn_loop_opts *opts)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    struct sn_loop_opts o = {0};
    if (opts)
        o = *opts;
    struct sn_loop *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->sigfd = -1;
    sigemptyset(&l->sigmask);
    sigemptyset(&l->sigunblock);
    l->max_events = o.max_events ? SN_MIN(o.max_events, LIMIT_MAX_EVENTS) : DEFAULT_MAX_EVENTS;
    int err = -ENOMEM;
    l->events = calloc(l->max_events, sizeof(*l->events));
    if (!l->events)
        goto fail_events;
    struct sn_poller_opts po = {.backend = o.backend, .entries = o.entries};
    err = sn_poller_open(&l->poller, &po);
    if (err)
        goto fail_poller;
    err = snl_pool_init(l, pool_threads(&o));
    if (err)
        goto fail_pool;
    l->now = sn_now_ns();
    *out = l;
    return 0;
fail_pool:
    sn_poller_close(l->poller);
fail_poller:
    free(l->events);
fail_events:
    free(l);
    return err;
}

int sn_loop_close(struct sn_loop *l)
{
    if (!l)
        return 0;
    if (l->nactive || l->pool.pending || l->running)
        return -EBUSY;
    /* The pool first: a thread may still be inside sn_async_send, i.e. in the
     * poller's wake, right after handing back its last result. */
    snl_pool_fini(l);
    sn_bufgroup_close(l->rgroup); /* every recv on it has completed: nothing is active */
    snl_stream_cache_flush(l);
    if (l->sigfd >= 0) {
        sn_poller_del(l->poller, l->sigfd);
        close(l->sigfd);
    }
    sn_poller_close(l->poller);
    snl_timers_fini(l);
    free(l->fdmap);
    free(l->events);
    free(l);
    return 0;
}

uint64_t sn_loop_now(const struct sn_loop *l)
{
    return l->now;
}

void sn_loop_update_time(struct sn_loop *l)
{
    l->now = sn_now_ns();
}

struct sn_poller *sn_loop_poller(struct sn_loop *l)
{
    return l ? l->poller : NULL;
}

struct sn_bufgroup *sn_loop_bufgroup(struct sn_loop *l)
{
    if (l && !l->rgroup && sn_bufgroup_open(l->poller, &l->rgroup, SN_LOOP_RGROUP_COUNT, SN_LOOP_RGROUP_SIZE) < 0)
        l->rgroup = NULL;
    return l ? l->rgroup : NULL;
}

unsigned sn_loop_alive(const struct sn_loop *l)
{
    return l ? l->nactive : 0;
}

void sn_loop_stop(struct sn_loop *l)
{
    if (l)
        l->stop = 1;
}

/* ======================================================================
 * io watchers
 * ====================================================================== */

static uint64_t io_token(int fd, uint32_t gen)
{
    return ((uint64_t)gen << 35) | ((uint64_t)(uint32_t)fd << 3) | SNL_TOK_IO;
}

/* io is started on l. Checked through l's table, not through io's own fields
 * alone, so a caller's struct that was never started (any bytes) reads as stopped. */
static int io_live(const struct sn_loop *l, const struct sn_io *io)
{
    return io->loop == l && io->fd >= 0 && (unsigned)io->fd < l->fdcap && l->fdmap[io->fd] == io;
}

static int fdmap_reserve(struct sn_loop *l, int fd)
{
    if ((unsigned)fd < l->fdcap)
        return 0;
    unsigned cap = l->fdcap ? l->fdcap : 64;
    while (cap <= (unsigned)fd) {
        if (cap > UINT_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    struct sn_io **m = realloc(l->fdmap, (size_t)cap * sizeof(*m));
    if (!m)
        return -ENOMEM;
    memset(m + l->fdcap, 0, (size_t)(cap - l->fdcap) * sizeof(*m));
    l->fdmap = m;
    l->fdcap = cap;
    return 0;
}

/* Interest with neither SN_READ nor SN_WRITE asks for nothing. The poller refuses
 * such a registration, and an fd registered for nothing would still report HUP and
 * ERR (epoll always does) and spin a level-triggered loop; so a watcher that
 * watches nothing stays in the loop's table, active, but out of the poller. */
static int io_watches(unsigned interest)
{
    return (interest & (SN_READ | SN_WRITE)) != 0;
}

int sn_io_start(struct sn_loop *l, struct sn_io *io, int fd, unsigned interest, sn_io_cb cb)
{
    if (!l || !io || !cb || fd < 0 || (interest & ~IO_INTEREST_ALL))
        return -EINVAL;
    if (io_live(l, io))
        return -EBUSY;
    if ((unsigned)fd < l->fdcap && l->fdmap[fd])
        return -EEXIST; /* one watcher per fd: the poller has one token per fd */
    int err = fdmap_reserve(l, fd);
    if (err)
        return err;
    uint32_t gen = (l->io_gen + 1) & SNL_IO_GEN_MASK;
    if (!gen)
        gen = 1;
    if (io_watches(interest)) {
        err = sn_poller_add(l->poller, fd, io_token(fd, gen), interest);
        if (err)
            return err;
    }
    l->io_gen = gen;
    io->cb = cb;
    io->loop = l;
    io->fd = fd;
    io->interest = interest;
    io->gen = gen;
    io->active = 1;
    l->fdmap[fd] = io;
    l->nactive++;
    return 0;
}

int sn_io_set(struct sn_io *io, unsigned interest)
{
    if (!io || !io->active || !io->loop || (interest & ~IO_INTEREST_ALL))
        return -EINVAL;
    struct sn_loop *l = io->loop;
    uint64_t tok = io_token(io->fd, io->gen);
    unsigned old = io->interest;
    int err = 0;
    if (!io_watches(interest)) {
        if (io_watches(old))
            sn_poller_del(l->poller, io->fd);
    } else if (!io_watches(old)) {
        err = sn_poller_add(l->poller, io->fd, tok, interest);
    } else if ((old | interest) & SN_EXCLUSIVE) {
        /* epoll refuses EPOLL_CTL_MOD on an EPOLLEXCLUSIVE registration (and the
         * poller refuses SN_EXCLUSIVE in mod): register the fd again instead. */
        sn_poller_del(l->poller, io->fd);
        err = sn_poller_add(l->poller, io->fd, tok, interest);
        if (err && sn_poller_add(l->poller, io->fd, tok, old) != 0)
            old = 0; /* not even the old registration is back: watching nothing */
    } else {
        err = sn_poller_mod(l->poller, io->fd, tok, interest);
    }
    io->interest = err ? old : interest;
    return err;
}

void sn_io_stop(struct sn_io *io)
{
    if (!io || !io->active)
        return;
    struct sn_loop *l = io->loop;
    io->active = 0;
    if (!io_live(l, io))
        return;
    if (io_watches(io->interest))
        sn_poller_del(l->poller, io->fd);
    /* Clearing the slot is what drops events of this fd already fetched in the
     * current batch (see dispatch_io). */
    l->fdmap[io->fd] = NULL;
    l->nactive--;
}

static void dispatch_io(struct sn_loop *l, const struct sn_event *ev)
{
    uint32_t fd = (uint32_t)(ev->token >> 3);
    uint32_t gen = (uint32_t)(ev->token >> 35);
    if (fd >= l->fdcap)
        return;
    struct sn_io *io = l->fdmap[fd];
    if (!io || io->gen != gen)
        return; /* stopped (and maybe replaced) since the wait fetched it */
    /* Deliver what is asked for now: an sn_io_set from an earlier callback of this
     * batch may have dropped SN_READ or SN_WRITE. Conditions (HUP, ERR, RDHUP) go
     * to any watcher that still wants something. */
    unsigned want = io->interest & (SN_READ | SN_WRITE);
    if (!want)
        return;
    unsigned evs = ev->events & (want | SN_HUP | SN_RDHUP | SN_ERR);
    if (evs)
        io->cb(io, evs);
}

/* ======================================================================
 * completion ops
 * ====================================================================== */

static uint64_t op_token(struct sn_op *op)
{
    return (uint64_t)(uintptr_t)op | SNL_TOK_OP;
}

static int op_check(struct sn_loop *l, struct sn_op *op, sn_op_cb cb)
{
    if (!l || !op || !cb)
        return -EINVAL;
    if (op->loop == l && op->id >= 0)
        return -EBUSY; /* in flight: its memory is the poller's until the last cb */
    return 0;
}

static int op_started(struct sn_loop *l, struct sn_op *op, sn_op_cb cb, enum sn_op_kind kind, int64_t id)
{
    if (id < 0)
        return (int)id;
    op->cb = cb;
    op->loop = l;
    op->id = id;
    op->kind = (uint8_t)kind;
    l->nactive++;
    return 0;
}

int sn_op_accept(struct sn_loop *l, struct sn_op *op, int fd, unsigned flags, sn_op_cb cb)
{
    int err = op_check(l, op, cb);
    if (err)
        return err;
    return op_started(l, op, cb, SN_OP_ACCEPT, sn_poller_accept(l->poller, fd, op_token(op), flags));
}

int sn_op_recv(struct sn_loop *l, struct sn_op *op, int fd, void *buf, size_t len, sn_op_cb cb)
{
    int err = op_check(l, op, cb);
    if (err)
        return err;
    return op_started(l, op, cb, SN_OP_RECV, sn_poller_recv(l->poller, fd, op_token(op), buf, len));
}

int sn_op_recv_group(struct sn_loop *l, struct sn_op *op, int fd, struct sn_bufgroup *g, unsigned flags,
                     sn_op_cb cb)
{
    int err = op_check(l, op, cb);
    if (err)
        return err;
    return op_started(l, op, cb, SN_OP_RECV,
                      sn_poller_recv_group(l->poller, fd, op_token(op), g, flags));
}

int sn_op_send(struct sn_loop *l, struct sn_op *op, int fd, const void *buf, size_t len, sn_op_cb cb)
{
    int err = op_check(l, op, cb);
    if (err)
        return err;
    return op_started(l, op, cb, SN_OP_SEND, sn_poller_send(l->poller, fd, op_token(op), buf, len, 0));
}

int sn_op_connect(struct sn_loop *l, struct sn_op *op, int fd, const struct sockaddr *sa, socklen_t salen,
                  sn_op_cb cb)
{
    int err = op_check(l, op, cb);
    if (err)
        return err;
    return op_started(l, op, cb, SN_OP_CONNECT,
                      sn_poller_connect(l->poller, fd, op_token(op), sa, salen));
}

int sn_op_cancel(struct sn_op *op)
{
    if (!op || op->id < 0 || !op->loop)
        return -ENOENT;
    return sn_poller_cancel(op->loop->poller, op->id);
}

static void dispatch_op(struct sn_loop *l, const struct sn_event *ev)
{
    struct sn_op *op = (struct sn_op *)(uintptr_t)(ev->token & ~(uint64_t)SNL_TOK_MASK);
    if (op->id != ev->id)
        return; /* not the operation in flight on this struct (cannot happen; cheap) */
    if (!(ev->flags & SN_EV_MORE)) {
        /* The final completion: the op is the caller's again, and cb may free it
         * or start the next operation on it. */
        op->id = -1;
        l->nactive--;
    }
    op->cb(op, ev->res, ev->flags, ev->buf);
}

/* ======================================================================
 * idle
 * ====================================================================== */

int sn_idle_start(struct sn_loop *l, struct sn_idle *h, sn_idle_cb cb)
{
    if (!l || !h || !cb)
        return -EINVAL;
    if (h->loop == l && h->active)
        return -EBUSY;
    h->cb = cb;
    h->loop = l;
    h->active = 1;
    h->next = NULL;
    h->prev = l->idle_tail;
    if (l->idle_tail)
        l->idle_tail->next = h;
    else
        l->idle_head = h;
    l->idle_tail = h;
    l->nactive++;
    return 0;
}

void sn_idle_stop(struct sn_idle *h)
{
    if (!h || !h->active)
        return;
    struct sn_loop *l = h->loop;
    /* h is in the active list or, during an idle pass, in the part not run yet. */
    if (h->prev)
        h->prev->next = h->next;
    else if (l->idle_head == h)
        l->idle_head = h->next;
    else if (l->idle_run == h)
        l->idle_run = h->next;
    if (h->next)
        h->next->prev = h->prev;
    else if (l->idle_tail == h)
        l->idle_tail = h->prev;
    h->prev = h->next = NULL;
    h->active = 0;
    l->nactive--;
}

/* One pass: the whole list is moved aside and each handle goes back to the active
 * list just before its callback, so a handle stopped and restarted by a callback
 * (or started by one) waits for the next pass instead of running twice or forever. */
static void idle_run(struct sn_loop *l)
{
    l->idle_run = l->idle_head;
    l->idle_head = l->idle_tail = NULL;
    struct sn_idle *h;
    while ((h = l->idle_run)) {
        l->idle_run = h->next;
        if (l->idle_run)
            l->idle_run->prev = NULL;
        h->next = NULL;
        h->prev = l->idle_tail;
        if (l->idle_tail)
            l->idle_tail->next = h;
        else
            l->idle_head = h;
        l->idle_tail = h;
        h->cb(h);
    }
}

/* ======================================================================
 * deferred callbacks
 * ====================================================================== */

int sn_defer(struct sn_loop *l, struct sn_defer *d, sn_defer_cb cb)
{
    if (!l || !d || !cb)
        return -EINVAL;
    if (d->loop == l && d->active)
        return -EBUSY;
    d->cb = cb;
    d->loop = l;
    d->active = 1;
    d->next = NULL;
    if (l->defer_tail)
        l->defer_tail->next = d;
    else
        l->defer_head = d;
    l->defer_tail = d;
    l->ndefer++;
    l->nactive++;
    return 0;
}

void sn_defer_cancel(struct sn_defer *d)
{
    if (!d || !d->active)
        return;
    struct sn_loop *l = d->loop;
    struct sn_defer **pp = &l->defer_head, *prev = NULL;
    unsigned pos = 0;
    while (*pp && *pp != d) {
        prev = *pp;
        pp = &prev->next;
        pos++;
    }
    d->active = 0;
    if (!*pp)
        return;
    *pp = d->next;
    if (l->defer_tail == d)
        l->defer_tail = prev;
    d->next = NULL;
    if (pos < l->defer_left)
        l->defer_left--; /* it belonged to the pass in progress */
    l->ndefer--;
    l->nactive--;
}

/* Run what was queued before the pass began, in order; what the callbacks queue
 * waits for the next iteration (else a callback that re-queues itself would never
 * let the loop wait again). */
static void defer_run(struct sn_loop *l)
{
    l->defer_left = l->ndefer;
    while (l->defer_left) {
        struct sn_defer *d = l->defer_head;
        l->defer_head = d->next;
        if (!l->defer_head)
            l->defer_tail = NULL;
        d->next = NULL;
        d->active = 0;
        l->defer_left--;
        l->ndefer--;
        l->nactive--;
        d->cb(d);
    }
}

/* ======================================================================
 * async
 * ====================================================================== */

int snl_async_start_internal(struct sn_loop *l, struct sn_async *a, sn_async_cb cb)
{
    /* Not in the list and not counted as active: the loop checks it by name
     * (after the user's asyncs) and it must not keep sn_loop_run going. */
    a->cb = cb;
    a->loop = l;
    a->next = NULL;
    atomic_store(&a->pending, 0);
    a->active = 1;
    return 0;
}

void snl_async_stop_internal(struct sn_async *a)
{
    a->active = 0;
}

int sn_async_start(struct sn_loop *l, struct sn_async *a, sn_async_cb cb)
{
    if (!l || !a || !cb)
        return -EINVAL;
    if (a->loop == l && a->active)
        for (struct sn_async *x = l->async_head; x; x = x->next)
            if (x == a)
                return -EBUSY;
    a->cb = cb;
    a->loop = l;
    atomic_store(&a->pending, 0);
    a->active = 1;
    /* At the head: one started by an async callback is not reached by the pass in
     * progress (the cursor is past the head). */
    a->next = l->async_head;
    l->async_head = a;
    l->nactive++;
    return 0;
}

/* Any thread, or a signal handler: two atomic exchanges and the poller's wake
 * (an eventfd write, async-signal-safe). The first send after a callback wakes
 * the loop; the ones after it, until the loop takes the flag, only find it set. */
int sn_async_send(struct sn_async *a)
{
    if (!a || !a->loop)
        return -EINVAL;
    if (atomic_exchange(&a->pending, 1))
        return 0;
    atomic_store(&a->loop->async_pending, 1);
    return sn_poller_wake(a->loop->poller);
}

void sn_async_stop(struct sn_async *a)
{
    if (!a || !a->active)
        return;
    struct sn_loop *l = a->loop;
    for (struct sn_async **pp = &l->async_head; *pp; pp = &(*pp)->next) {
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    }
    if (l->async_next == a)
        l->async_next = a->next;
    a->next = NULL;
    a->active = 0;
    l->nactive--;
}

/* The flags are taken before the callbacks run (exchange, sequentially consistent),
 * so a send racing with this pass either is seen here or sets async_pending again
 * and wakes the next wait: no send is lost, and the data a thread wrote before
 * its send is visible to the callback that follows it. */
static void async_run(struct sn_loop *l)
{
    if (!atomic_exchange(&l->async_pending, 0))
        return;
    for (struct sn_async *a = l->async_head; a; a = l->async_next) {
        l->async_next = a->next;
        if (atomic_exchange(&a->pending, 0))
            a->cb(a);
    }
    l->async_next = NULL;
    struct sn_async *pa = &l->pool.async; /* finished pool work: last */
    if (pa->active && atomic_exchange(&pa->pending, 0))
        pa->cb(pa);
}

/* ======================================================================
 * signals: one signalfd per loop
 * ====================================================================== */

static int signal_fd_open(struct sn_loop *l)
{
    if (l->sigfd >= 0)
        return 0;
    sigset_t none;
    sigemptyset(&none);
    int fd = signalfd(-1, &none, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    int err = sn_poller_add(l->poller, fd, SNL_TOK_SIGNAL, SN_READ);
    if (err) {
        close(fd);
        return err;
    }
    l->sigfd = fd;
    return 0;
}

/* The first watcher of signum: block it in this thread, then add it to the
 * signalfd's mask. Blocked first, so an instance arriving in between stays
 * pending (and is read) instead of running its default action. */
static int signal_take(struct sn_loop *l, int signum)
{
    sigset_t one, old, mask = l->sigmask;
    sigemptyset(&one);
    sigaddset(&one, signum);
    sigaddset(&mask, signum);
    int err = pthread_sigmask(SIG_BLOCK, &one, &old);
    if (err)
        return -err;
    if (signalfd(l->sigfd, &mask, 0) < 0) {
        err = -errno;
        if (!sigismember(&old, signum))
            pthread_sigmask(SIG_UNBLOCK, &one, NULL);
        return err;
    }
    l->sigmask = mask;
    if (!sigismember(&old, signum))
        sigaddset(&l->sigunblock, signum);
    return 0;
}

/* The last watcher of signum stopped: take it out of the signalfd's mask and, if
 * it was not blocked before we blocked it, unblock it. An instance still pending
 * belongs to the watchers that are gone: it is consumed (sigtimedwait, no wait)
 * rather than let the unblocking run its default action, often to terminate. */
static void signal_release(struct sn_loop *l, int signum)
{
    sigdelset(&l->sigmask, signum);
    signalfd(l->sigfd, &l->sigmask, 0);
    if (!sigismember(&l->sigunblock, signum))
        return;
    sigdelset(&l->sigunblock, signum);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signum);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&one, NULL, &zero) > 0) {
    }
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
}

int sn_signal_start(struct sn_loop *l, struct sn_signal *s, int signum, sn_signal_cb cb)
{
    if (!l || !s || !cb || signum < 1 || signum >= SNL_NSIG || signum == SIGKILL || signum == SIGSTOP)
        return -EINVAL;
    if (s->loop == l && s->active && s->signum > 0 && s->signum < SNL_NSIG)
        for (struct sn_signal *x = l->sigs[s->signum]; x; x = x->next)
            if (x == s)
                return -EBUSY;
    int err = signal_fd_open(l);
    if (err)
        return err;
    if (!l->sigs[signum]) {
        err = signal_take(l, signum);
        if (err)
            return err;
    }
    s->cb = cb;
    s->loop = l;
    s->signum = signum;
    s->next = NULL;
    /* 2 = started during the signal pass: it waits for signals read after it. */
    s->active = l->sig_dispatching ? 2 : 1;
    if (l->sig_dispatching)
        l->sig_fresh = 1;
    struct sn_signal **pp = &l->sigs[signum];
    while (*pp)
        pp = &(*pp)->next;
    *pp = s;
    l->nactive++;
    return 0;
}

void sn_signal_stop(struct sn_signal *s)
{
    if (!s || !s->active)
        return;
    struct sn_loop *l = s->loop;
    for (struct sn_signal **pp = &l->sigs[s->signum]; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    if (l->sig_next == s)
        l->sig_next = s->next;
    s->next = NULL;
    s->active = 0;
    l->nactive--;
    if (!l->sigs[s->signum])
        signal_release(l, s->signum);
}

static void signals_dispatch(struct sn_loop *l)
{
    struct signalfd_siginfo si[16];
    l->sig_dispatching = 1;
    for (;;) {
        ssize_t n = read(l->sigfd, si, sizeof(si));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* EAGAIN: all read */
        size_t cnt = (size_t)n / sizeof(si[0]);
        for (size_t i = 0; i < cnt; i++) {
            uint32_t signo = si[i].ssi_signo;
            if (signo == 0 || signo >= SNL_NSIG)
                continue;
            for (struct sn_signal *s = l->sigs[signo]; s; s = l->sig_next) {
                l->sig_next = s->next;
                if (s->active == 1)
                    s->cb(s, (int)signo);
            }
            l->sig_next = NULL;
        }
        if (cnt < SN_COUNTOF(si))
            break;
    }
    l->sig_dispatching = 0;
    if (l->sig_fresh) {
        l->sig_fresh = 0;
        for (int sig = 1; sig < SNL_NSIG; sig++)
            for (struct sn_signal *s = l->sigs[sig]; s; s = s->next)
                s->active = 1;
    }
}

/* ======================================================================
 * run
 * ====================================================================== */

static int64_t wait_timeout(const struct sn_loop *l, int mode)
{
    /* Not at all when there is nothing to wait for, when stopping, or when idle
     * handles or deferred callbacks want the next iteration at once. */
    if (mode == SN_RUN_NOWAIT || l->stop || !l->nactive || l->idle_head || l->defer_head)
        return 0;
    return snl_timers_timeout(l);
}

/* Wait and dispatch in the documented order: I/O events and completions as the
 * poller returned them, then signals, async wakes and finished pool work. */
static int poll_once(struct sn_loop *l, int mode)
{
    int n;
    for (;;) {
        n = sn_poller_wait(l->poller, l->events, l->max_events, wait_timeout(l, mode));
        if (n != -EINTR)
            break;
        /* A signal handler ran, or nothing the process can see: waits here have
         * ended with EINTR while strace showed no signal (kernel task work, as
         * io_uring queues it, interrupts a wait the same way). DEFAULT goes round
         * again anyway; ONCE, which promises to wait for something, resumes the
         * wait for the time left. */
        n = 0;
        if (mode != SN_RUN_ONCE)
            break;
        sn_loop_update_time(l);
        if (wait_timeout(l, mode) == 0)
            break;
    }
    if (n < 0)
        return n;
    /* Time moved during the wait: a timer started by one of the callbacks below
     * must count its delay from now, not from before the wait. */
    sn_loop_update_time(l);
    int sig = 0;
    for (int i = 0; i < n; i++) {
        const struct sn_event *ev = &l->events[i];
        switch (ev->token & SNL_TOK_MASK) {
        case SNL_TOK_IO:
            dispatch_io(l, ev);
            break;
        case SNL_TOK_OP:
            dispatch_op(l, ev);
            break;
        case SNL_TOK_SIGNAL:
            sig = 1;
            break;
        default:
            break;
        }
    }
    if (sig)
        signals_dispatch(l);
    async_run(l);
    return 0;
}

int sn_loop_run(struct sn_loop *l, int mode)
{
    if (!l || mode < SN_RUN_DEFAULT || mode > SN_RUN_NOWAIT)
        return -EINVAL;
    if (l->running)
        return -EBUSY; /* not re-entrant: the event batch belongs to the outer run */
    l->running = 1;
    int err = 0;
    if (!l->nactive)
        sn_loop_update_time(l);
    while (l->nactive && !l->stop) {
        sn_loop_update_time(l);
        snl_timers_run(l);
        idle_run(l);
        err = poll_once(l, mode);
        if (err < 0)
            break;
        /* ONCE promises progress: if it waited for the nearest timer, that timer
         * runs now rather than at the start of a next call. */
        if (mode == SN_RUN_ONCE)
            snl_timers_run(l);
        defer_run(l);
        if (mode != SN_RUN_DEFAULT)
            break;
    }
    l->stop = 0;
    l->running = 0;
    if (err < 0)
        return err;
    return l->nactive ? 1 : 0;
}
