/* src/loop/emul.c — completions on a readiness interface (epoll, poll): the
 * poller makes the non-blocking calls itself when the kernel reports the fd
 * ready. Also what those backends share: the fd table, the eventfd wake, the
 * wait loop and its timeout heap.
 *
 * The life of an operation:
 *  submit  It gets a slot and an id. A timeout goes into the min-heap. Any other
 *          operation with nothing queued ahead of it on its fd is tried once at
 *          once (a send with room, data already there): if that finishes it, the
 *          result is stored in the slot and the slot goes on the done list.
 *          Otherwise it joins its fd's read or write queue, and the backend is
 *          told what the queue heads wait for (hooks->watch; level-triggered).
 *  wait    Hands out the done list, then the expired timeouts, then waits in the
 *          kernel (not at all when it already has something) for at most the
 *          time to the nearest timeout. For a ready fd, sn_emul_io makes the
 *          calls of the queue heads and writes their completions straight into
 *          the caller's array while there is room; a fd left ready is reported
 *          again by the next kernel wait.
 *  cancel  A queued operation or a pending timeout leaves its queue or the heap
 *          and completes with -ECANCELED through the done list.
 * A completion is written once: either stored (done list) and the slot freed when
 * a wait hands it out, or written to the caller's array and the slot freed there.
 * Multishot operations are never tried at submit, so a queued operation never has
 * a stored completion: their results always go straight to a wait's array.
 */
#include "emul.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

enum { OP_FREE, OP_QUEUED, OP_TIMER, OP_DONE };

struct sn_emul_op {
    int64_t id;              /* (generation << 32) | slot; kept when freed */
    uint64_t token;
    void *buf;               /* recv / send */
    size_t len;
    struct sn_bufgroup *group;
    uint64_t deadline;       /* timeout: CLOCK_MONOTONIC ns */
    int fd;
    int msg_flags;           /* send */
    uint32_t next;           /* fd queue, done list or free list */
    uint32_t hidx;           /* timeout: index in the heap */
    int32_t res;             /* OP_DONE: the stored completion */
    uint16_t bufid;
    uint8_t cflags;
    uint8_t op, flags, state;
};

static int is_read_op(int op) { return op == SN_OP_ACCEPT || op == SN_OP_RECV; }

static uint64_t add_sat(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

/* ---- setup ------------------------------------------------------------------ */

int sn_emul_init(struct sn_emul *e, const struct sn_backend_vt *vt,
                 const struct sn_emul_hooks *hooks)
{
    e->base.vt = vt;
    e->hooks = hooks;
    e->free_op = e->done = e->done_tail = SN_EMUL_NIL;
    atomic_init(&e->wake_pending, 0);
    e->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return e->wakefd < 0 ? -errno : 0;
}

void sn_emul_fini(struct sn_emul *e)
{
    /* A connection accepted at submit whose completion nobody collected would
     * otherwise be an fd that nobody knows about. */
    for (uint32_t s = 0; s < e->nops; s++) {
        struct sn_emul_op *o = &e->ops[s];
        if (o->state == OP_DONE && o->op == SN_OP_ACCEPT && o->res >= 0)
            close(o->res);
    }
    /* Groups the caller has not closed yet stay valid memory; they no longer
     * belong to a poller (poller.c's sn_bufgroup_close then only unmaps). */
    for (unsigned i = 0; i < e->ngroups; i++) {
        free(e->groups[i]->free_ids);
        e->groups[i]->free_ids = NULL;
        e->groups[i]->nfree = 0;
        e->groups[i]->p = NULL;
    }
    free(e->groups);
    free(e->ops);
    free(e->heap);
    free(e->fds);
    if (e->wakefd >= 0)
        close(e->wakefd);
}

/* ---- the fd table ----------------------------------------------------------- */

struct sn_emul_fd *sn_emul_fd(struct sn_emul *e, int fd)
{
    return fd >= 0 && fd < e->nfds ? &e->fds[fd] : NULL;
}

int sn_emul_fd_get(struct sn_emul *e, int fd, struct sn_emul_fd **out)
{
    if (fd < 0)
        return -EBADF;
    if (fd >= e->nfds) {
        /* Only an open fd may grow the table: fd 1<<30 is -EBADF, not -ENOMEM. */
        if (fcntl(fd, F_GETFD) < 0)
            return -errno;
        size_t n = e->nfds ? (size_t)e->nfds : 64;
        while (n <= (size_t)fd)
            n *= 2;
        struct sn_emul_fd *fds = realloc(e->fds, n * sizeof(*fds));
        if (!fds)
            return -ENOMEM;
        for (size_t i = (size_t)e->nfds; i < n; i++)
            fds[i] = (struct sn_emul_fd){.slot = -1,
                                         .rq = {SN_EMUL_NIL, SN_EMUL_NIL},
                                         .wq = {SN_EMUL_NIL, SN_EMUL_NIL}};
        e->fds = fds;
        e->nfds = n > INT32_MAX ? INT32_MAX : (int)n;
    }
    *out = &e->fds[fd];
    return 0;
}

int sn_emul_fd_busy(const struct sn_emul_fd *f)
{
    return f->rq.head != SN_EMUL_NIL || f->wq.head != SN_EMUL_NIL;
}

/* ---- operation slots, queues, the done list ---------------------------------- */

static int64_t op_alloc(struct sn_emul *e, uint32_t *slot)
{
    if (e->free_op == SN_EMUL_NIL) {
        uint32_t n = e->nops ? e->nops * 2 : 64;
        if (n <= e->nops || n >= SN_EMUL_NIL)
            return -ENOMEM;
        struct sn_emul_op *ops = realloc(e->ops, n * sizeof(*ops));
        if (!ops)
            return -ENOMEM;
        for (uint32_t i = e->nops; i < n; i++)
            ops[i] = (struct sn_emul_op){.id = i, .next = i + 1 < n ? i + 1 : SN_EMUL_NIL};
        e->free_op = e->nops;
        e->ops = ops;
        e->nops = n;
    }
    uint32_t s = e->free_op;
    struct sn_emul_op *o = &e->ops[s];
    e->free_op = o->next;
    /* A new generation per use of the slot: an old id never names the new op. */
    int64_t gen = ((o->id >> 32) + 1) & 0x7fffffff;
    *o = (struct sn_emul_op){.id = (gen << 32) | s, .next = SN_EMUL_NIL};
    *slot = s;
    return o->id;
}

static void op_free(struct sn_emul *e, uint32_t s)
{
    e->ops[s].state = OP_FREE;
    e->ops[s].next = e->free_op;
    e->free_op = s;
}

static void q_push(struct sn_emul *e, struct sn_emul_q *q, uint32_t s)
{
    e->ops[s].next = SN_EMUL_NIL;
    if (q->tail == SN_EMUL_NIL)
        q->head = s;
    else
        e->ops[q->tail].next = s;
    q->tail = s;
}

static void q_unlink(struct sn_emul *e, struct sn_emul_q *q, uint32_t s)
{
    uint32_t prev = SN_EMUL_NIL;
    for (uint32_t i = q->head; i != s; i = e->ops[i].next)
        prev = i;
    uint32_t next = e->ops[s].next;
    if (prev == SN_EMUL_NIL)
        q->head = next;
    else
        e->ops[prev].next = next;
    if (q->tail == s)
        q->tail = prev;
}

static struct sn_emul_q *op_queue(struct sn_emul *e, const struct sn_emul_op *o)
{
    struct sn_emul_fd *f = &e->fds[o->fd];
    return is_read_op(o->op) ? &f->rq : &f->wq;
}

/* Store o's final completion for the next wait. */
static void complete(struct sn_emul *e, uint32_t s, int32_t res, uint8_t cflags, uint16_t bufid)
{
    struct sn_emul_op *o = &e->ops[s];
    o->res = res;
    o->cflags = cflags;
    o->bufid = bufid;
    o->state = OP_DONE;
    o->next = SN_EMUL_NIL;
    if (e->done_tail == SN_EMUL_NIL)
        e->done = s;
    else
        e->ops[e->done_tail].next = s;
    e->done_tail = s;
}

static unsigned drain_done(struct sn_emul *e, struct sn_event *ev, unsigned max)
{
    unsigned n = 0;
    while (n < max && e->done != SN_EMUL_NIL) {
        uint32_t s = e->done;
        struct sn_emul_op *o = &e->ops[s];
        e->done = o->next;
        if (e->done == SN_EMUL_NIL)
            e->done_tail = SN_EMUL_NIL;
        ev[n++] = (struct sn_event){.token = o->token, .id = o->id, .res = o->res, .op = o->op,
                                    .flags = o->cflags, .buf = o->bufid};
        op_free(e, s);
    }
    return n;
}

/* Tell the backend what fd's queue heads wait for now. Only more to watch can
 * fail (at submit); less never does (see hooks->watch). */
static int rewatch(struct sn_emul *e, int fd, struct sn_emul_fd *f)
{
    unsigned want = (f->rq.head != SN_EMUL_NIL ? SN_READ : 0) |
                    (f->wq.head != SN_EMUL_NIL ? SN_WRITE : 0);
    if (want == f->want)
        return 0;
    int r = e->hooks->watch(e, fd, want);
    if (r == 0)
        f->want = want;
    return r;
}

/* ---- the timeout heap (a binary min-heap of slots by deadline) -------------- */

static void heap_set(struct sn_emul *e, uint32_t i, uint32_t s)
{
    e->heap[i] = s;
    e->ops[s].hidx = i;
}

static void heap_up(struct sn_emul *e, uint32_t i)
{
    uint32_t s = e->heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (e->ops[e->heap[parent]].deadline <= e->ops[s].deadline)
            break;
        heap_set(e, i, e->heap[parent]);
        i = parent;
    }
    heap_set(e, i, s);
}

static void heap_down(struct sn_emul *e, uint32_t i)
{
    uint32_t s = e->heap[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= e->nheap)
            break;
        if (c + 1 < e->nheap && e->ops[e->heap[c + 1]].deadline < e->ops[e->heap[c]].deadline)
            c++;
        if (e->ops[s].deadline <= e->ops[e->heap[c]].deadline)
            break;
        heap_set(e, i, e->heap[c]);
        i = c;
    }
    heap_set(e, i, s);
}

static int heap_push(struct sn_emul *e, uint32_t s)
{
    if (e->nheap == e->heapcap) {
        uint32_t n = e->heapcap ? e->heapcap * 2 : 64;
        uint32_t *h = realloc(e->heap, n * sizeof(*h));
        if (!h)
            return -ENOMEM;
        e->heap = h;
        e->heapcap = n;
    }
    heap_set(e, e->nheap++, s);
    heap_up(e, e->nheap - 1);
    return 0;
}

static void heap_remove(struct sn_emul *e, uint32_t i)
{
    uint32_t last = e->heap[--e->nheap];
    if (i == e->nheap)
        return;
    heap_set(e, i, last);
    heap_up(e, i);
    heap_down(e, e->ops[last].hidx);
}

static unsigned expire(struct sn_emul *e, uint64_t now, struct sn_event *ev, unsigned max)
{
    unsigned n = 0;
    while (n < max && e->nheap && e->ops[e->heap[0]].deadline <= now) {
        uint32_t s = e->heap[0];
        struct sn_emul_op *o = &e->ops[s];
        heap_remove(e, 0);
        ev[n++] = (struct sn_event){.token = o->token, .id = o->id, .res = -ETIME,
                                    .op = SN_OP_TIMEOUT};
        op_free(e, s);
    }
    return n;
}

/* ---- the calls ---------------------------------------------------------------- */

/* The calls are all non-blocking (MSG_DONTWAIT, SOCK_NONBLOCK listeners), so they
 * never sleep and a signal cannot interrupt them: no EINTR loops. */
static ssize_t sys(ssize_t r) { return r < 0 ? -errno : r; }

/* A recv into a provided buffer. As on io_uring, a buffer is taken only when data
 * is there, and -ENOBUFS means "data, but no buffer": with none free, peek. */
static ssize_t recv_group(struct sn_emul_op *o, struct sn_event *ev)
{
    struct sn_bufgroup *g = o->group;
    if (g->nfree == 0) {
        char c;
        ssize_t r = sys(recv(o->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT));
        return r > 0 ? -ENOBUFS : r;
    }
    uint16_t id = g->free_ids[--g->nfree];
    ssize_t r = sys(recv(o->fd, g->mem + (size_t)id * g->size, g->size, MSG_DONTWAIT));
    if (r > 0) {
        ev->flags |= SN_EV_BUF;
        ev->buf = id;
    } else {
        g->free_ids[g->nfree++] = id;
    }
    return r;
}

/* One non-blocking attempt at o's call: 0 if it would block (o stays queued), else
 * 1 with its completion in *ev (SN_EV_MORE: a multishot operation goes on). */
static int op_try(struct sn_emul_op *o, unsigned revents, struct sn_event *ev)
{
    ssize_t r;
    *ev = (struct sn_event){.token = o->token, .id = o->id, .op = o->op};
    switch (o->op) {
    case SN_OP_ACCEPT:
        r = sys(accept4(o->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
        break;
    case SN_OP_RECV:
        r = o->group ? recv_group(o, ev) : sys(recv(o->fd, o->buf, o->len, MSG_DONTWAIT));
        break;
    case SN_OP_SEND:
        r = sys(send(o->fd, o->buf, o->len, o->msg_flags | MSG_DONTWAIT));
        break;
    default: { /* SN_OP_CONNECT in progress: over once the socket is writable (or failed) */
        if (!(revents & (SN_WRITE | SN_ERR | SN_HUP)))
            return 0;
        int err = 0;
        socklen_t len = sizeof(err);
        r = getsockopt(o->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 ? -errno : -err;
        break;
    }
    }
    if (r == -EAGAIN) /* == -EWOULDBLOCK on Linux */
        return 0;
    ev->res = (int32_t)r;
    /* Multishot goes on after a connection, or after data in a buffer; EOF, an
     * error, -ENOBUFS or a cancel end it. */
    if ((o->flags & SN_MULTISHOT) && (o->op == SN_OP_ACCEPT ? r >= 0 : r > 0))
        ev->flags |= SN_EV_MORE;
    return 1;
}

unsigned sn_emul_io(struct sn_emul *e, int fd, unsigned revents, struct sn_event *ev, unsigned max)
{
    struct sn_emul_fd *f = sn_emul_fd(e, fd);
    unsigned n = 0;
    if (!f)
        return 0;
    /* HUP/ERR are reported whatever was asked for: let both queues see them (the
     * calls then return the error or EOF). */
    struct sn_emul_q *qs[2] = {revents & (SN_READ | SN_RDHUP | SN_HUP | SN_ERR) ? &f->rq : NULL,
                               revents & (SN_WRITE | SN_HUP | SN_ERR) ? &f->wq : NULL};
    for (int k = 0; k < 2; k++) {
        struct sn_emul_q *q = qs[k];
        while (q && n < max && q->head != SN_EMUL_NIL) {
            uint32_t s = q->head;
            if (!op_try(&e->ops[s], revents, &ev[n]))
                break;
            if (!(ev[n].flags & SN_EV_MORE)) {
                q->head = e->ops[s].next;
                if (q->head == SN_EMUL_NIL)
                    q->tail = SN_EMUL_NIL;
                op_free(e, s);
            }
            n++;
        }
    }
    rewatch(e, fd, f);
    return n;
}

/* connect(2) at submit: 1 with *res when it is over already, 0 when in progress. */
static int connect_start(const struct sn_opreq *req, int32_t *res)
{
    if (connect(req->fd, (const struct sockaddr *)&req->sa, req->salen) == 0) {
        *res = 0;
        return 1;
    }
    /* EINTR: the connection goes on asynchronously (POSIX), as with EINPROGRESS. */
    if (errno == EINPROGRESS || errno == EINTR)
        return 0;
    *res = -errno;
    return 1;
}

int64_t sn_emul_op(struct sn_poller *p, const struct sn_opreq *req)
{
    struct sn_emul *e = (struct sn_emul *)p;
    uint32_t s;
    int64_t id = op_alloc(e, &s);
    if (id < 0)
        return id;
    struct sn_emul_op *o = &e->ops[s];
    o->token = req->token;
    o->op = req->op;
    o->flags = (uint8_t)req->flags;
    o->fd = req->fd;
    o->buf = req->buf;
    o->len = req->len;
    o->msg_flags = req->msg_flags;
    o->group = req->group;
    if (req->op == SN_OP_TIMEOUT) {
        o->deadline = add_sat(sn_now_ns(), (uint64_t)req->ns);
        o->state = OP_TIMER;
        int r = heap_push(e, s);
        if (r < 0)
            op_free(e, s);
        return r < 0 ? r : id;
    }

    struct sn_emul_fd *f;
    int r = sn_emul_fd_get(e, req->fd, &f);
    if (r < 0) { /* a bad fd is the operation's result, as on io_uring */
        complete(e, s, r, 0, 0);
        return id;
    }
    if (f->interest) {
        op_free(e, s);
        return -EBUSY;
    }
    /* A blocking listening socket would block accept4() whenever another process
     * (or thread) took the connection between the readiness report and the call. */
    if (req->op == SN_OP_ACCEPT) {
        int fl = fcntl(req->fd, F_GETFL);
        if (fl >= 0 && !(fl & O_NONBLOCK))
            fcntl(req->fd, F_SETFL, fl | O_NONBLOCK);
    }

    struct sn_emul_q *q = op_queue(e, o);
    int32_t res;
    struct sn_event done;
    if (req->op == SN_OP_CONNECT) {
        if (connect_start(req, &res)) {
            complete(e, s, res, 0, 0);
            return id;
        }
    } else if (q->head == SN_EMUL_NIL && !(o->flags & SN_MULTISHOT) && op_try(o, 0, &done)) {
        complete(e, s, done.res, done.flags, done.buf);
        return id;
    }
    o->state = OP_QUEUED;
    q_push(e, q, s);
    r = rewatch(e, req->fd, f);
    if (r < 0) {
        q_unlink(e, q, s);
        complete(e, s, r, 0, 0);
    }
    return id;
}

int sn_emul_cancel(struct sn_poller *p, int64_t id)
{
    struct sn_emul *e = (struct sn_emul *)p;
    uint32_t s = (uint32_t)id;
    if (id < 0 || s >= e->nops || e->ops[s].id != id)
        return -ENOENT;
    struct sn_emul_op *o = &e->ops[s];
    if (o->state == OP_TIMER) {
        heap_remove(e, o->hidx);
    } else if (o->state == OP_QUEUED) {
        q_unlink(e, op_queue(e, o), s);
        rewatch(e, o->fd, &e->fds[o->fd]);
    } else {
        return -ENOENT; /* free, or finished with its completion already posted */
    }
    complete(e, s, -ECANCELED, 0, 0);
    return 0;
}

int sn_emul_submit(struct sn_poller *p)
{
    (void)p;
    return 0; /* every call is made at submit or in wait */
}

/* ---- waiting ------------------------------------------------------------------ */

void sn_emul_woke(struct sn_emul *e)
{
    /* Clear the flag before draining: a wake in between writes again and at worst
     * ends the next wait early; the other order could lose it. */
    atomic_store(&e->wake_pending, 0);
    uint64_t v;
    while (read(e->wakefd, &v, sizeof(v)) < 0 && errno == EINTR) {
    }
    e->woken = 1;
}

int sn_emul_wake(struct sn_poller *p)
{
    struct sn_emul *e = (struct sn_emul *)p;
    if (atomic_exchange(&e->wake_pending, 1))
        return 0; /* a write is pending already: coalesce */
    int saved = errno, r = 0; /* async-signal-safe: leave errno as it was */
    uint64_t one = 1;
    if (write(e->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        r = -errno;
        atomic_store(&e->wake_pending, 0);
    }
    errno = saved;
    return r;
}

static int64_t until(uint64_t deadline, uint64_t now)
{
    return deadline > now ? (int64_t)SN_MIN(deadline - now, (uint64_t)INT64_MAX) : 0;
}

/* How long the kernel may wait: what is left of the caller's timeout (-1: forever),
 * clipped to the nearest timeout operation. */
static int64_t kernel_timeout(struct sn_emul *e, int64_t timeout_ns, uint64_t deadline)
{
    uint64_t now = sn_now_ns();
    int64_t t = timeout_ns < 0 ? -1 : until(deadline, now);
    if (e->nheap) {
        int64_t td = until(e->ops[e->heap[0]].deadline, now);
        if (t < 0 || td < t)
            t = td;
    }
    return t;
}

int sn_emul_wait(struct sn_poller *p, struct sn_event *ev, unsigned max, int64_t timeout_ns)
{
    struct sn_emul *e = (struct sn_emul *)p;
    uint64_t deadline = timeout_ns > 0 ? add_sat(sn_now_ns(), (uint64_t)timeout_ns) : 0;
    e->woken = 0;
    for (;;) {
        unsigned n = drain_done(e, ev, max);
        n += expire(e, sn_now_ns(), ev + n, max - n);
        if (n == max)
            return (int)n;
        /* Something to return already: only look at the kernel (it may have more,
         * and readiness must not starve behind operations done at submit). */
        int64_t t = n > 0 || timeout_ns == 0 ? 0 : kernel_timeout(e, timeout_ns, deadline);
        int r = e->hooks->poll(e, ev + n, max - n, t);
        if (r < 0) /* -EINTR: what was taken off the done list is returned, not lost */
            return n > 0 ? (int)n : r;
        n += (unsigned)r;
        n += expire(e, sn_now_ns(), ev + n, max - n);
        if (n > 0 || e->woken || timeout_ns == 0)
            return (int)n;
        /* Woken by a fd whose call would still block, or a timer rounded to the
         * kernel's resolution: never return before the caller's time is up. */
        if (timeout_ns > 0 && sn_now_ns() >= deadline)
            return 0;
    }
}

/* ---- provided buffers ------------------------------------------------------------ */

int sn_emul_bufgroup_open(struct sn_poller *p, struct sn_bufgroup *g)
{
    struct sn_emul *e = (struct sn_emul *)p;
    if (e->ngroups == e->groupcap) {
        unsigned n = e->groupcap ? e->groupcap * 2 : 8;
        struct sn_bufgroup **gs = realloc(e->groups, n * sizeof(*gs));
        if (!gs)
            return -ENOMEM;
        e->groups = gs;
        e->groupcap = n;
    }
    g->free_ids = malloc(g->count * sizeof(*g->free_ids));
    if (!g->free_ids)
        return -ENOMEM;
    for (unsigned i = 0; i < g->count; i++) /* a stack: buffer 0 is taken first */
        g->free_ids[i] = (uint16_t)(g->count - 1 - i);
    g->nfree = g->count;
    e->groups[e->ngroups++] = g;
    return 0;
}

void sn_emul_bufgroup_close(struct sn_poller *p, struct sn_bufgroup *g)
{
    struct sn_emul *e = (struct sn_emul *)p;
    /* A recv still queued on g (the caller was meant to wait for it) would write
     * into freed memory: it ends with -ECANCELED instead. */
    for (uint32_t s = 0; s < e->nops; s++)
        if (e->ops[s].state == OP_QUEUED && e->ops[s].group == g)
            sn_emul_cancel(p, e->ops[s].id);
    for (unsigned i = 0; i < e->ngroups; i++)
        if (e->groups[i] == g)
            e->groups[i] = e->groups[--e->ngroups];
    free(g->free_ids);
    g->free_ids = NULL;
}

void sn_emul_bufgroup_put(struct sn_poller *p, struct sn_bufgroup *g, uint16_t id)
{
    (void)p;
    if (g->nfree < g->count) /* a buffer put twice must not overrun the stack */
        g->free_ids[g->nfree++] = id;
}
