/* src/task/reactor.c — the reactor half of include/sysnet/task.h: futures whose
 * progress comes from the worker's callback loop (loop.h), and the wakers they
 * store there.
 *
 *   readiness   struct sn_afd: one sn_io watcher per fd, edge-triggered for read
 *               and write (SN_READ|SN_WRITE|SN_EDGE), registered at the first
 *               poll on sn_cx_loop(cx) (which pins the task to that worker). The
 *               io callback ORs the events into a->ready and wakes the stored
 *               reader and/or writer waker. The futures do the system call
 *               themselves when the readiness is there — optimistically right
 *               after registration, as mio does — and on EAGAIN clear the bit and
 *               wait for the next edge (a short read of a byte stream clears the
 *               read bit at once: the stream is drained, see read_op).
 *               Edge-triggered is what makes this cheap: the kernel reports a
 *               change once and we never re-arm or modify the registration; the
 *               price is that a readiness once reported stays in a->ready until an
 *               operation has seen EAGAIN (sn_afd_clear) or drained the stream.
 *   completion  struct sn_op_fut: one loop operation (sn_op: native on io_uring,
 *               emulated on epoll/poll) in a small heap block that the completion
 *               callback frees when the future is gone, because the kernel (or the
 *               emulation) owns the op and its buffer until that completion.
 *   time        sn_sleep_fut (an sn_timer), sn_timeout_fut (inner vs a sleep).
 *
 * Everything here runs on the loop's thread: the futures are polled by the task
 * pinned to the worker whose loop they registered with, and the loop's callbacks
 * run on the same thread, so none of this state needs atomics. (A future that is
 * moved to another worker's loop is refused with -EXDEV rather than corrupting
 * two loops.) Futures must not move after their first poll: the loop keeps
 * pointers into them (sn_io, sn_timer) — as task.h says for every future.
 *
 * Cancellation safety — what dropping a future before it is ready loses:
 *
 *   sn_read_fut     safe: read(2) runs only inside a poll that then returns READY
 *   sn_accept_fut   safe: likewise accept4(2)
 *   sn_write_fut    all=0 safe (nothing written, or the poll returned READY);
 *                   all=1 not safe: a prefix (f->done bytes) may have been written
 *   sn_connect_fut  not resumable: the socket is left connecting; close it
 *   sn_op_fut recv  NOT safe: bytes may land in buf after the drop and are lost;
 *                   buf must stay valid until the loop has run the completion
 *   sn_op_fut send  NOT safe: bytes may have been sent; buf stays the kernel's
 *                   until the completion (as recv)
 *   sn_op_fut accept safe: a connection accepted after the drop is closed by the
 *                   completion callback (the peer sees a reset or EOF)
 *   sn_op_fut connect not resumable (as sn_connect_fut)
 *   sn_sleep_fut    safe: the timer is stopped
 *   sn_timeout_fut  that of inner (which is dropped when the time is up)
 *
 * Dropping an sn_op_fut in flight calls sn_op_cancel and leaves the state block
 * to the completion, so the loop must go on running until that completion: the
 * loop counts the op as active (sn_loop_alive) and sn_loop_close says -EBUSY
 * until then. A dropped sleep leaves nothing behind; a dropped pending readiness
 * future leaves its waker in the afd (one slot per direction, no drop function:
 * the future cannot tell whether the stored waker is still its own), woken once at
 * the next edge or dropped by sn_afd_close — a spurious wake, never a leak.
 * Once READY, no future here holds loop state, so its drop may run on any thread
 * (block_on's caller drops the future it passed on its own thread). */
#include "task_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define AFD_NOTSOCK 0x1u   /* a->flags: send(2) said ENOTSOCK; use write(2) */

/* Readiness that lets each kind of operation make progress. A read after a hang-up
 * or an error returns at once (0 or the error), so those wake readers too; RDHUP
 * (the peer's FIN) means a read returns 0 but says nothing about writing. */
#define READ_READY (SN_READ | SN_RDHUP | SN_HUP | SN_ERR)
#define WRITE_READY (SN_WRITE | SN_HUP | SN_ERR)

/* sn_coop spends a unit before an operation that may still say EAGAIN; give it back
 * when it does, so only operations that made progress count (Tokio's
 * RestoreOnPending). Outside a runtime sn_coop keeps no budget. */
static void coop_refund(struct sn_cx *cx)
{
    if (cx->rt)
        cx->budget++;
}

/* ======================================================================
 * sn_afd: readiness of an fd
 * ====================================================================== */

void sn_afd_init(struct sn_afd *a, int fd)
{
    memset(a, 0, sizeof(*a));
    a->fd = fd;
    a->io.fd = -1;
}

static void afd_io_cb(struct sn_io *io, unsigned events)
{
    struct sn_afd *a = io->data;
    a->ready |= events;
    /* sn_waker_wake consumes the waker and empties the slot: the next poll that
     * finds nothing to do stores a fresh one. */
    if (events & READ_READY)
        sn_waker_wake(&a->rw);
    if (events & WRITE_READY)
        sn_waker_wake(&a->ww);
}

static int afd_register(struct sn_afd *a, struct sn_cx *cx)
{
    if (a->registered < 0)
        return -EBADF;
    struct sn_loop *l = sn_cx_loop(cx);
    if (!l)
        return -EINVAL;
    if (a->registered)
        return a->io.loop == l ? 0 : -EXDEV;
    a->io.data = a;
    int err = sn_io_start(l, &a->io, a->fd, SN_READ | SN_WRITE | SN_EDGE, afd_io_cb);
    if (err)
        return err;
    a->registered = 1;
    /* Optimistic: assume the fd can make progress until an operation says EAGAIN.
     * The registration's own first event (epoll and io_uring report the state at
     * add) would say the same one loop iteration later. */
    a->ready = SN_READ | SN_WRITE;
    return 0;
}

int sn_afd_poll(struct sn_afd *a, struct sn_cx *cx, unsigned interest)
{
    int err = afd_register(a, cx);
    if (err)
        return err;
    unsigned want = 0;
    if (interest & SN_READ)
        want |= READ_READY;
    if (interest & SN_WRITE)
        want |= WRITE_READY;
    if (a->ready & want)
        return SN_READY;
    if (interest & SN_READ)
        sn_waker_store(&a->rw, &cx->waker);
    if (interest & SN_WRITE)
        sn_waker_store(&a->ww, &cx->waker);
    return SN_PENDING;
}

/* After EAGAIN nothing that would let this operation proceed is pending, so the
 * conditions go too: an error already read (a UDP socket's ICMP error) or a stale
 * hang-up of a socket that was not connected yet would otherwise keep the bit set
 * and spin the operation on EAGAIN. The next edge sets them again if they hold. */
void sn_afd_clear(struct sn_afd *a, unsigned interest)
{
    unsigned drop = SN_ERR | SN_HUP;
    if (interest & SN_READ)
        drop |= SN_READ | SN_RDHUP;
    if (interest & SN_WRITE)
        drop |= SN_WRITE;
    a->ready &= ~drop;
}

void sn_afd_close(struct sn_afd *a)
{
    if (a->registered > 0)
        sn_io_stop(&a->io);
    a->registered = -1;
    a->ready = 0;
    /* Tasks still waiting are woken to find -EBADF, not left hanging. */
    sn_waker_wake(&a->rw);
    sn_waker_wake(&a->ww);
}

/* ======================================================================
 * readiness futures
 * ====================================================================== */

static int ready_with(struct sn_future *f, int64_t v)
{
    f->out = v;
    return SN_READY;
}

/* The readiness futures share one loop: wait until the afd has the interest's
 * readiness, spend a unit of the coop budget, try the operation; an operation that
 * says EAGAIN clears that readiness and waits for the next edge. An op makes one
 * attempt and says how it went: */
enum {
    OP_DONE,   /* *res is the future's result (>= 0, or -errno of a failed attempt) */
    OP_WAIT,   /* no progress possible (EAGAIN): clear the readiness, wait for an edge */
    OP_RETRY,  /* no progress, try again at once (EINTR, an aborted connection) */
    OP_MORE,   /* progress but not done (a short write_all): go on */
};
typedef int (*afd_op_fn)(struct sn_future *f, int64_t *res);

/* The usual errno of a failed attempt. */
static int op_errno(int e, int64_t *res)
{
    if (e == EAGAIN || e == EWOULDBLOCK)
        return OP_WAIT;
    if (e == EINTR)
        return OP_RETRY;
    *res = -e;
    return OP_DONE;
}

/* coop: the op counts against the task's budget (sn_coop), refunded when an attempt
 * fails: only operations that made progress count. */
static int afd_drive(struct sn_future *f, struct sn_cx *cx, struct sn_afd *a, unsigned interest, afd_op_fn op,
                     int coop)
{
    for (;;) {
        int rc = sn_afd_poll(a, cx, interest);
        if (rc < 0)
            return ready_with(f, rc);
        if (rc == SN_PENDING)
            return SN_PENDING;
        if (coop && !sn_coop(cx))
            return SN_PENDING;
        int64_t res = 0;
        int how = op(f, &res);
        if (how == OP_MORE)
            continue;
        if (coop && (how != OP_DONE || res < 0))
            coop_refund(cx);
        if (how == OP_DONE)
            return ready_with(f, res);
        if (how == OP_WAIT)
            sn_afd_clear(a, interest);
    }
}

#define AFD_TYPED 0x2u     /* a->flags: AFD_DRAINS below is known */
#define AFD_DRAINS 0x4u    /* a short read means the fd was empty: a stream socket or a pipe */

/* A read on a byte stream takes all there is up to len, so a short one (0 < n < len)
 * has drained the fd. Not so for messages: a datagram or SEQPACKET socket gives one
 * message a read, a packet-mode (O_DIRECT) pipe one packet, a tty one line, an
 * eventfd or inotify fd one record or what fits — more may wait. Asked once per afd,
 * at its first short read. (A stream read can also stop short at TCP urgent data
 * or where a unix socket's passed fds begin; like src/loop/stream.c and Tokio, we
 * do not treat those apart.) */
static int afd_drains(struct sn_afd *a)
{
    if (!(a->flags & AFD_TYPED)) {
        int type = 0;
        socklen_t len = sizeof(type);
        struct stat st;
        if (getsockopt(a->fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0) {
            if (type == SOCK_STREAM)
                a->flags |= AFD_DRAINS;
        } else if (errno == ENOTSOCK) {
            a->flags |= AFD_NOTSOCK;
            int fl = fcntl(a->fd, F_GETFL);
            if (fstat(a->fd, &st) == 0 && S_ISFIFO(st.st_mode) && fl >= 0 && !(fl & O_DIRECT))
                a->flags |= AFD_DRAINS;
        }
        a->flags |= AFD_TYPED;
    }
    return (a->flags & AFD_DRAINS) != 0;
}

static int read_op(struct sn_future *f, int64_t *res)
{
    struct sn_read_fut *r = (struct sn_read_fut *)f;
    ssize_t n = read(r->a->fd, r->buf, r->len);
    if (n < 0)
        return op_errno(errno, res);
    /* A short read drained the socket: the next read would say EAGAIN, so wait for
     * the next edge now instead of spending a system call to learn it (as
     * src/loop/stream.c does). No wake is lost: data that comes after this read
     * raises a new edge, whose callback runs after this poll and sets the bit again.
     * Only SN_READ goes: a hang-up or an error already reported (RDHUP, HUP, ERR)
     * stays, since its edge has passed and the next read must see it (EOF, -errno). */
    if (n > 0 && (size_t)n < r->len && afd_drains(r->a))
        r->a->ready &= ~SN_READ;
    *res = n;
    return OP_DONE;
}

static int read_poll(struct sn_future *f, struct sn_cx *cx)
{
    return afd_drive(f, cx, ((struct sn_read_fut *)f)->a, SN_READ, read_op, 1);
}

static const struct sn_future_vt read_vt = {read_poll, NULL, "read"};

void sn_read_init(struct sn_read_fut *f, struct sn_afd *a, void *buf, size_t len)
{
    f->base.vt = &read_vt;
    f->base.out = 0;
    f->a = a;
    f->buf = buf;
    f->len = len;
}

/* send(MSG_NOSIGNAL) on sockets so a peer that went away gives -EPIPE instead of
 * killing the process with SIGPIPE; write(2) for pipes and the like. */
static ssize_t afd_write(struct sn_afd *a, const void *buf, size_t len)
{
    if (!(a->flags & AFD_NOTSOCK)) {
        ssize_t n = send(a->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0 || errno != ENOTSOCK)
            return n;
        a->flags |= AFD_NOTSOCK;
    }
    return write(a->fd, buf, len);
}

static int write_op(struct sn_future *f, int64_t *res)
{
    struct sn_write_fut *w = (struct sn_write_fut *)f;
    ssize_t n = afd_write(w->a, (const char *)w->buf + w->done, w->len - w->done);
    if (n < 0)
        return op_errno(errno, res);
    w->done += (size_t)n;
    if (w->all && w->done < w->len)
        return OP_MORE; /* a short write: the socket buffer is full, EAGAIN comes next */
    *res = (int64_t)w->done;
    return OP_DONE;
}

static int write_poll(struct sn_future *f, struct sn_cx *cx)
{
    return afd_drive(f, cx, ((struct sn_write_fut *)f)->a, SN_WRITE, write_op, 1);
}

static const struct sn_future_vt write_vt = {write_poll, NULL, "write"};

void sn_write_init(struct sn_write_fut *f, struct sn_afd *a, const void *buf, size_t len, int all)
{
    f->base.vt = &write_vt;
    f->base.out = 0;
    f->a = a;
    f->buf = buf;
    f->len = len;
    f->done = 0;
    f->all = all;
}

static int accept_op(struct sn_future *f, int64_t *res)
{
    struct sn_accept_fut *ac = (struct sn_accept_fut *)f;
    int fd = accept4(ac->a->fd, NULL, NULL, ac->flags | SOCK_NONBLOCK);
    if (fd >= 0) {
        *res = fd;
        return OP_DONE;
    }
    /* A connection reset while in the backlog is not the listener's error: take
     * the next one (Linux reports it as ECONNABORTED). */
    if (errno == ECONNABORTED)
        return OP_RETRY;
    return op_errno(errno, res);
}

static int accept_poll(struct sn_future *f, struct sn_cx *cx)
{
    return afd_drive(f, cx, ((struct sn_accept_fut *)f)->a, SN_READ, accept_op, 1);
}

static const struct sn_future_vt accept_vt = {accept_poll, NULL, "accept"};

void sn_accept_init(struct sn_accept_fut *f, struct sn_afd *a, int flags)
{
    f->base.vt = &accept_vt;
    f->base.out = 0;
    f->a = a;
    f->flags = flags;
}

/* Once writable: connected (0), failed (SO_ERROR), or a stale edge (ENOTCONN). */
static int connect_check_op(struct sn_future *f, int64_t *res)
{
    struct sn_connect_fut *c = (struct sn_connect_fut *)f;
    int err = 0;
    socklen_t elen = sizeof(err);
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    if (getsockopt(c->a->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
        err = errno;
    else if (!err && getpeername(c->a->fd, (struct sockaddr *)&peer, &plen) < 0) {
        if (errno == ENOTCONN)
            return OP_WAIT;
        err = errno;
    }
    *res = -err;
    return OP_DONE;
}

/* A non-blocking connect says EINPROGRESS and then makes the socket writable when
 * it is done, either way: SO_ERROR tells which. A writable edge can also be stale
 * (epoll reports OUT|HUP for a TCP socket that was registered before it connected),
 * so "writable and no error" is confirmed with getpeername: ENOTCONN means keep
 * waiting. Not counted against the coop budget. */
static int connect_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct sn_connect_fut *c = (struct sn_connect_fut *)f;
    if (!c->started) {
        /* Register first: a registration failure is reported before the connect. */
        int rc = sn_afd_poll(c->a, cx, SN_WRITE);
        if (rc < 0)
            return ready_with(f, rc);
        c->started = 1;
        if (connect(c->a->fd, (const struct sockaddr *)&c->sa, c->salen) == 0)
            return ready_with(f, 0);
        int e = errno;
        /* EINTR: the connect goes on asynchronously, as with EINPROGRESS. EAGAIN
         * (unix sockets with a full backlog) does not: it is reported, a later
         * connect would have to retry — rare enough to leave to the caller. */
        if (e != EINPROGRESS && e != EINTR)
            return ready_with(f, -e);
        sn_afd_clear(c->a, SN_WRITE);
    }
    return afd_drive(f, cx, c->a, SN_WRITE, connect_check_op, 0);
}

static const struct sn_future_vt connect_vt = {connect_poll, NULL, "connect"};

void sn_connect_init(struct sn_connect_fut *f, struct sn_afd *a, const struct sockaddr *sa, socklen_t len)
{
    f->base.vt = &connect_vt;
    f->base.out = 0;
    f->a = a;
    memset(&f->sa, 0, sizeof(f->sa));
    if (len > sizeof(f->sa))
        len = sizeof(f->sa); /* connect then fails with EINVAL on the truncated length */
    memcpy(&f->sa, sa, len);
    f->salen = len;
    f->started = 0;
}

/* ======================================================================
 * completion futures: one sn_op each
 * ====================================================================== */

enum { OPK_RECV = 1, OPK_SEND, OPK_ACCEPT, OPK_CONNECT };

/* The part of an op future the loop points to. It is freed by whoever is last:
 * the future's poll or drop once the completion has run, or the completion itself
 * when the future was dropped first (orphan). */
struct sn_opfut_state {
    struct sn_op op;        /* first: the loop's token is this pointer */
    struct sn_waker w;
    int res;
    int kind;
    int done;               /* the completion has run; res is the result */
    int orphan;             /* the future is gone: the completion frees */
};

static void opfut_cb(struct sn_op *op, int res, unsigned flags, uint16_t buf)
{
    (void)flags;
    (void)buf;
    struct sn_opfut_state *st = op->data;
    if (st->orphan) {
        /* An accept that won its race with the cancel: nobody will see the fd. */
        if (st->kind == OPK_ACCEPT && res >= 0)
            close(res);
        free(st);
        return;
    }
    st->res = res;
    st->done = 1;
    sn_waker_wake(&st->w);
}

static int opfut_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct sn_op_fut *o = (struct sn_op_fut *)f;
    struct sn_opfut_state *st = o->st;
    if (!st) {
        struct sn_loop *l = sn_cx_loop(cx);
        if (!l)
            return ready_with(f, -EINVAL);
        st = calloc(1, sizeof(*st));
        if (!st)
            return ready_with(f, -ENOMEM);
        st->op.data = st;
        st->op.id = -1;
        st->kind = o->kind;
        int err;
        switch (o->kind) {
        case OPK_RECV: err = sn_op_recv(l, &st->op, o->fd, o->buf, o->len, opfut_cb); break;
        case OPK_SEND: err = sn_op_send(l, &st->op, o->fd, o->buf, o->len, opfut_cb); break;
        case OPK_ACCEPT: err = sn_op_accept(l, &st->op, o->fd, 0, opfut_cb); break;
        case OPK_CONNECT:
            err = sn_op_connect(l, &st->op, o->fd, (const struct sockaddr *)&o->sa, o->salen, opfut_cb);
            break;
        default: err = -EINVAL; break;
        }
        if (err) {
            free(st);
            return ready_with(f, err);
        }
        o->st = st;
        /* Even an operation the emulation could make at submit completes through
         * the loop's next wait: there is no result to take yet. */
        sn_waker_store(&st->w, &cx->waker);
        return SN_PENDING;
    }
    if (!st->done) {
        sn_waker_store(&st->w, &cx->waker);
        return SN_PENDING;
    }
    if (!sn_coop(cx))
        return SN_PENDING;
    o->st = NULL;
    f->out = st->res;
    free(st);
    return SN_READY;
}

static void opfut_drop(struct sn_future *f)
{
    struct sn_op_fut *o = (struct sn_op_fut *)f;
    struct sn_opfut_state *st = o->st;
    if (!st)
        return;
    o->st = NULL;
    sn_waker_drop(&st->w);
    if (st->done) {
        /* Completed but never collected: an accepted fd is ours to close. */
        if (st->kind == OPK_ACCEPT && st->res >= 0)
            close(st->res);
        free(st);
        return;
    }
    st->orphan = 1;
    (void)sn_op_cancel(&st->op); /* the completion comes (-ECANCELED or the result) and frees */
}

static const struct sn_future_vt opfut_vt = {opfut_poll, opfut_drop, "op"};

static void opfut_init(struct sn_op_fut *f, int kind, int fd, void *buf, size_t len)
{
    memset(f, 0, sizeof(*f));
    f->base.vt = &opfut_vt;
    f->kind = kind;
    f->fd = fd;
    f->buf = buf;
    f->len = len;
}

void sn_op_recv_init(struct sn_op_fut *f, int fd, void *buf, size_t len)
{
    opfut_init(f, OPK_RECV, fd, buf, len);
}

void sn_op_send_init(struct sn_op_fut *f, int fd, const void *buf, size_t len)
{
    opfut_init(f, OPK_SEND, fd, (void *)(uintptr_t)buf, len);
}

void sn_op_accept_init(struct sn_op_fut *f, int fd)
{
    opfut_init(f, OPK_ACCEPT, fd, NULL, 0);
}

void sn_op_connect_init(struct sn_op_fut *f, int fd, const struct sockaddr *sa, socklen_t len)
{
    opfut_init(f, OPK_CONNECT, fd, NULL, 0);
    if (len > sizeof(f->sa))
        len = sizeof(f->sa);
    memcpy(&f->sa, sa, len);
    f->salen = len;
}

/* ======================================================================
 * sleep and timeout
 * ====================================================================== */

enum { SLEEP_NEW = 0, SLEEP_ARMED, SLEEP_FIRED, SLEEP_DONE };

static void sleep_timer_cb(struct sn_timer *t)
{
    struct sn_sleep_fut *s = t->data;
    s->state = SLEEP_FIRED;
    sn_waker_wake(&s->w);
}

/* The timer is started on the loop's clock, which is cached at the start of the
 * iteration and so may lag the real time of this poll by a whole iteration (the
 * executor polls tasks between loop runs). Counting ns from the cached time would
 * fire early; so the deadline is taken from CLOCK_MONOTONIC now and the delay given
 * to the loop is measured to it from the loop's time. The loop fires a timer when
 * its cached time (never ahead of the real one) has reached the deadline, so a
 * fired timer means the real deadline has passed; poll still checks the clock, as
 * a wake can come from elsewhere (a select's other child). */
static int sleep_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct sn_sleep_fut *s = (struct sn_sleep_fut *)f;
    switch (s->state) {
    case SLEEP_NEW: {
        if (s->ns == 0)
            break; /* nothing to wait for */
        struct sn_loop *l = sn_cx_loop(cx);
        if (!l)
            return ready_with(f, -EINVAL);
        uint64_t now = sn_now_ns();
        s->deadline = now + s->ns < now ? UINT64_MAX : now + s->ns;
        uint64_t lnow = sn_loop_now(l);
        uint64_t delay = s->deadline > lnow ? s->deadline - lnow : 0;
        s->t.data = s;
        s->t.heap_idx = UINT32_MAX;
        int err = sn_timer_start(l, &s->t, sleep_timer_cb, delay, 0);
        if (err)
            return ready_with(f, err);
        s->state = SLEEP_ARMED;
        sn_waker_store(&s->w, &cx->waker);
        return SN_PENDING;
    }
    case SLEEP_ARMED:
    case SLEEP_FIRED:
        if (sn_now_ns() < s->deadline) {
            if (s->state == SLEEP_FIRED) { /* cannot happen (see above); never return early */
                struct sn_loop *l = s->t.loop;
                s->state = SLEEP_ARMED;
                sn_loop_update_time(l);
                int err = sn_timer_start(l, &s->t, sleep_timer_cb, s->deadline - sn_loop_now(l), 0);
                if (err)
                    return ready_with(f, err);
            }
            sn_waker_store(&s->w, &cx->waker);
            return SN_PENDING;
        }
        break;
    default:
        return SN_READY; /* polled again after READY: same answer */
    }
    if (!sn_coop(cx))
        return SN_PENDING;
    /* Done: polled late (the deadline passed before the timer ran) or fired. */
    if (s->state == SLEEP_ARMED)
        sn_timer_stop(&s->t);
    sn_waker_drop(&s->w);
    s->state = SLEEP_DONE;
    return ready_with(f, 0);
}

static void sleep_drop(struct sn_future *f)
{
    struct sn_sleep_fut *s = (struct sn_sleep_fut *)f;
    if (s->state == SLEEP_ARMED)
        sn_timer_stop(&s->t);
    sn_waker_drop(&s->w);
    s->state = SLEEP_DONE;
}

static const struct sn_future_vt sleep_vt = {sleep_poll, sleep_drop, "sleep"};

void sn_sleep_init(struct sn_sleep_fut *f, uint64_t ns)
{
    memset(f, 0, sizeof(*f));
    f->base.vt = &sleep_vt;
    f->ns = ns;
    f->t.heap_idx = UINT32_MAX;
    f->state = SLEEP_NEW;
}

/* done: bit 0 finished (out holds the result), bit 1 inner dropped. */
#define TO_FINISHED 0x1
#define TO_INNER_DROPPED 0x2

/* Inner first, always: a timeout of 0 ns around a future that is ready gives its
 * result, and when inner and the timer become ready in the same iteration inner
 * wins (its work is done; throwing it away would lose it). */
static int timeout_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct sn_timeout_fut *t = (struct sn_timeout_fut *)f;
    if (t->done & TO_FINISHED)
        return SN_READY;
    if (sn_poll(t->inner, cx) == SN_READY) {
        sn_drop(&t->sleep.base); /* stops the timer now rather than at our drop */
        t->done |= TO_FINISHED;
        return ready_with(f, t->inner->out);
    }
    if (sn_poll(&t->sleep.base, cx) == SN_PENDING)
        return SN_PENDING;
    if (t->sleep.base.out < 0) { /* the timer could not be started: fail, don't hang */
        t->done |= TO_FINISHED;
        return ready_with(f, t->sleep.base.out);
    }
    sn_drop(t->inner);
    t->done |= TO_FINISHED | TO_INNER_DROPPED;
    return ready_with(f, -ETIMEDOUT);
}

static void timeout_drop(struct sn_future *f)
{
    struct sn_timeout_fut *t = (struct sn_timeout_fut *)f;
    if (!(t->done & TO_INNER_DROPPED)) {
        t->done |= TO_INNER_DROPPED;
        sn_drop(t->inner);
    }
    sn_drop(&t->sleep.base);
}

static const struct sn_future_vt timeout_vt = {timeout_poll, timeout_drop, "timeout"};

void sn_timeout_init(struct sn_timeout_fut *f, struct sn_future *inner, uint64_t ns)
{
    f->base.vt = &timeout_vt;
    f->base.out = 0;
    f->inner = inner;
    f->done = 0;
    sn_sleep_init(&f->sleep, ns);
}
