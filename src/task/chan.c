/* src/task/chan.c — channels of include/sysnet/task.h: a lock-free oneshot and a
 * bounded multi-producer single-consumer queue. Both are thread-safe: sender and
 * receiver may be polled (and dropped) on different threads at the same time.
 *
 * ---- oneshot --------------------------------------------------------------------
 * One atomic state word and no lock (Tokio's oneshot). Bits:
 *
 *   VALUE        the value (v, p) is written; set by send together with TX_DONE
 *   TX_DONE      the sender has sent or given up: the receiver stops waiting
 *   RX_WAKER     c->rxw holds the receiver's waker
 *   RX_CLOSED    the receiver is released
 *   TX_RELEASED  the sender is released
 *
 * Ownership of c->rxw is the subtle part: the receiver writes it only while
 * RX_WAKER is clear and publishes it by setting RX_WAKER; to replace or drop it,
 * it must first take it back by clearing RX_WAKER with a CAS that expects TX_DONE
 * clear. The sender, setting TX_DONE with fetch_or, sees whether RX_WAKER was set
 * at that instant; if so the waker is the sender's to consume (wake), and the
 * receiver's CAS can no longer succeed. Exactly one side touches it, without a lock.
 * The memory goes when both sides are released (the second of RX_CLOSED and
 * TX_RELEASED to be set frees); the sender releases only after it is done with
 * rxw, so a receiver that sees TX_DONE and leaves cannot free it under the waker.
 *
 * ---- mpsc ---------------------------------------------------------------------------
 * A ring of capacity fixed-size slots under one mutex; messages are copied in and
 * out (no allocation per message). Backpressure is a FIFO of waiting senders (the
 * intrusive sn_mpsc_waiter inside each send future) and permits, as in Tokio's
 * bounded channel (a fair semaphore): when the receiver frees a slot and senders
 * are waiting, the slot is reserved for the first of them (unlinked, queued = 2,
 * woken) so no later sender or try_send can take it first. A sender that is woken
 * with a reserved slot and then dropped passes the slot to the next waiter.
 * Invariant: len + reserved <= capacity, and senders wait only while it is equal.
 * Wakers are taken out of the channel under the lock and woken after it is released
 * (a wake may take the executor's own locks, or run a futex syscall).
 *
 * Lifetime: the channel is freed when the last sender handle and the receiver are
 * both released, by whichever goes last (decided under the lock; rx_busy keeps a
 * receiver_release that is still waking senders counted as alive). A send future uses the caller's sender handle (it takes no
 * reference of its own), so release the handle only after its send futures are
 * dropped; likewise the recv future and the receiver.
 *
 * Cancellation safety:
 *   sn_oneshot_recv   dropping it releases the receiver: a value sent is lost with
 *                     the channel (the sender's send returns -EPIPE if it comes later)
 *   sn_mpsc_send      safe: a dropped send sent nothing (the copy happens in the poll
 *                     that returns READY) and leaves the wait queue (passing on a slot
 *                     that was reserved for it)
 *   sn_mpsc_recv      safe: a dropped recv received nothing (likewise) */
#include "task_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void coop_refund(struct sn_cx *cx)
{
    if (cx->rt)
        cx->budget++;
}

/* ======================================================================
 * oneshot
 * ====================================================================== */

#define OS_VALUE 0x01u
#define OS_TX_DONE 0x02u
#define OS_RX_WAKER 0x04u
#define OS_RX_CLOSED 0x08u
#define OS_TX_RELEASED 0x10u

struct sn_oneshot {
    _Atomic unsigned state;
    int64_t v;
    void *p;
    struct sn_waker rxw;
};

int sn_oneshot_new(struct sn_oneshot **out)
{
    if (!out)
        return -EINVAL;
    struct sn_oneshot *c = calloc(1, sizeof(*c));
    *out = c;
    if (!c)
        return -ENOMEM;
    atomic_init(&c->state, 0u);
    return 0;
}

/* Release one side: bit is OS_TX_RELEASED or OS_RX_CLOSED; the second frees. */
static void oneshot_release(struct sn_oneshot *c, unsigned bit, unsigned other)
{
    unsigned prev = atomic_fetch_or_explicit(&c->state, bit, memory_order_acq_rel);
    if (prev & other)
        free(c);
}

/* The sender's end: mark TX_DONE (and VALUE when sending), wake the receiver's
 * waker if it was published at that instant, then release. Returns the state
 * before. */
static unsigned oneshot_tx_finish(struct sn_oneshot *c, unsigned bits)
{
    unsigned prev = atomic_fetch_or_explicit(&c->state, bits, memory_order_acq_rel);
    if ((prev & OS_RX_WAKER) && !(prev & OS_RX_CLOSED)) {
        /* Wake a copy: c->rxw is only read here, never written, because a receiver
         * that loaded the state before our TX_DONE may still be comparing its waker
         * with it (sn_waker_same) — a read that must not race with a write. */
        struct sn_waker w = c->rxw;
        sn_waker_wake(&w);
    }
    oneshot_release(c, OS_TX_RELEASED, OS_RX_CLOSED);
    return prev;
}

/* The fast path of the sender's end: with no waker published there is nothing to
 * wake, so finishing and releasing are one CAS instead of two read-modify-writes
 * (the common case: the value is sent before the receiver looks). 1 if done, with
 * the state before in *prev; 0 if a waker is published (the two-step path). */
static int oneshot_tx_fast(struct sn_oneshot *c, unsigned bits, unsigned *prev)
{
    unsigned s = atomic_load_explicit(&c->state, memory_order_relaxed);
    while (!(s & OS_RX_WAKER)) {
        if (atomic_compare_exchange_weak_explicit(&c->state, &s, s | bits | OS_TX_RELEASED,
                                                  memory_order_acq_rel, memory_order_relaxed)) {
            if (s & OS_RX_CLOSED)
                free(c); /* the receiver was gone already: we were the last */
            *prev = s;
            return 1;
        }
    }
    return 0;
}

int sn_oneshot_send(struct sn_oneshot *c, int64_t v, void *p)
{
    if (atomic_load_explicit(&c->state, memory_order_acquire) & OS_RX_CLOSED) {
        oneshot_release(c, OS_TX_RELEASED, OS_RX_CLOSED);
        return -EPIPE;
    }
    /* Only the sender writes these, and before VALUE is published (release). */
    c->v = v;
    c->p = p;
    unsigned prev;
    if (!oneshot_tx_fast(c, OS_VALUE | OS_TX_DONE, &prev))
        prev = oneshot_tx_finish(c, OS_VALUE | OS_TX_DONE);
    return (prev & OS_RX_CLOSED) ? -EPIPE : 0;
}

void sn_oneshot_close_tx(struct sn_oneshot *c)
{
    unsigned prev;
    if (c && !oneshot_tx_fast(c, OS_TX_DONE, &prev))
        (void)oneshot_tx_finish(c, OS_TX_DONE);
}

void sn_oneshot_close_rx(struct sn_oneshot *c)
{
    if (!c)
        return;
    unsigned s = atomic_load_explicit(&c->state, memory_order_acquire);
    /* The sender is released: it will never touch c again (and the acquire load
     * orders its writes before our free), so we are the only owner. */
    if (s & OS_TX_RELEASED) {
        free(c);
        return;
    }
    /* Take back a published waker, unless the sender already owns it (TX_DONE). */
    while ((s & OS_RX_WAKER) && !(s & OS_TX_DONE)) {
        if (atomic_compare_exchange_weak_explicit(&c->state, &s, s & ~OS_RX_WAKER, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            sn_waker_drop(&c->rxw);
            break;
        }
    }
    oneshot_release(c, OS_RX_CLOSED, OS_TX_RELEASED);
}

static int oneshot_recv_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct sn_oneshot_recv *r = (struct sn_oneshot_recv *)f;
    struct sn_oneshot *c = r->c;
    if (!c)
        return SN_READY; /* polled after READY and drop, or never given a channel */
    unsigned s = atomic_load_explicit(&c->state, memory_order_acquire);
    for (;;) {
        if (s & OS_TX_DONE) {
            if (!sn_coop(cx))
                return SN_PENDING;
            if (s & OS_VALUE) {
                r->p = c->p;
                f->out = c->v;
            } else {
                f->out = -EPIPE;
            }
            return SN_READY;
        }
        if (s & OS_RX_WAKER) {
            if (sn_waker_same(&c->rxw, &cx->waker))
                return SN_PENDING; /* reading our own published waker is fine */
            /* Take it back to replace it; fails if the sender got there first. */
            if (!atomic_compare_exchange_weak_explicit(&c->state, &s, s & ~OS_RX_WAKER, memory_order_acq_rel,
                                                       memory_order_acquire))
                continue;
            s &= ~OS_RX_WAKER;
            sn_waker_drop(&c->rxw);
        }
        /* RX_WAKER is clear: rxw is ours to write until we publish it. */
        c->rxw = sn_waker_clone(&cx->waker);
        unsigned want = s | OS_RX_WAKER;
        if (atomic_compare_exchange_strong_explicit(&c->state, &s, want, memory_order_acq_rel,
                                                    memory_order_acquire))
            return SN_PENDING;
        /* The state moved (the sender finished): rxw was never published. */
        sn_waker_drop(&c->rxw);
    }
}

static void oneshot_recv_drop(struct sn_future *f)
{
    struct sn_oneshot_recv *r = (struct sn_oneshot_recv *)f;
    if (r->c) {
        sn_oneshot_close_rx(r->c);
        r->c = NULL;
    }
}

static const struct sn_future_vt oneshot_recv_vt = {oneshot_recv_poll, oneshot_recv_drop, "oneshot_recv"};

void sn_oneshot_recv_init(struct sn_oneshot_recv *r, struct sn_oneshot *c)
{
    r->base.vt = &oneshot_recv_vt;
    r->base.out = 0;
    r->c = c;
    r->p = NULL;
}

/* ======================================================================
 * mpsc
 * ====================================================================== */

enum { W_IDLE = 0, W_QUEUED = 1, W_GRANTED = 2 }; /* sn_mpsc_waiter.queued */

struct sn_mpsc {
    pthread_mutex_t mu;
    size_t cap, msz;
    size_t head, len;          /* ring: messages at head .. head+len-1 (mod cap) */
    size_t reserved;           /* slots promised to woken senders (W_GRANTED) */
    unsigned senders;          /* sender handles alive */
    int rx_closed;             /* the receiver is released: sends fail with -EPIPE */
    int rx_busy;               /* receiver_release is still using the channel */
    struct sn_waker rxw;       /* the receiver waiting for a message */
    struct sn_mpsc_waiter *wq_head, *wq_tail; /* senders waiting for room, FIFO */
    _Alignas(16) unsigned char slots[];
};

int sn_mpsc_new(struct sn_mpsc **out, size_t capacity, size_t msg_size)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (capacity == 0 || msg_size == 0 || capacity > ((size_t)1 << 32) ||
        msg_size > (SIZE_MAX - sizeof(struct sn_mpsc)) / capacity)
        return -EINVAL;
    struct sn_mpsc *c = calloc(1, sizeof(*c) + capacity * msg_size);
    if (!c)
        return -ENOMEM;
    int err = pthread_mutex_init(&c->mu, NULL);
    if (err) {
        free(c);
        return -err;
    }
    c->cap = capacity;
    c->msz = msg_size;
    c->senders = 1;
    *out = c;
    return 0;
}

static void mpsc_free(struct sn_mpsc *c)
{
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void wq_unlink(struct sn_mpsc *c, struct sn_mpsc_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        c->wq_head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        c->wq_tail = w->prev;
    w->next = w->prev = NULL;
}

static void wq_push(struct sn_mpsc *c, struct sn_mpsc_waiter *w)
{
    w->next = NULL;
    w->prev = c->wq_tail;
    if (c->wq_tail)
        c->wq_tail->next = w;
    else
        c->wq_head = w;
    c->wq_tail = w;
}

/* Under the lock, with a slot free for a sender (len + reserved < cap): reserve
 * it for the first waiting sender, if any, and move its waker to *wake (woken by
 * the caller after unlocking). */
static void grant_first(struct sn_mpsc *c, struct sn_waker *wake)
{
    struct sn_mpsc_waiter *w = c->wq_head;
    if (!w)
        return;
    wq_unlink(c, w);
    w->queued = W_GRANTED;
    c->reserved++;
    *wake = w->w;
    w->w.vt = NULL;
    w->w.data = NULL;
}

/* Message copies with the common sizes known to the compiler (a few moves inline,
 * where a memcpy of a run-time length is a call: a tenth of a same-thread
 * send+recv). */
static inline void copy_msg(void *dst, const void *src, size_t n)
{
    switch (n) {
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    case 16: memcpy(dst, src, 16); break;
    case 32: memcpy(dst, src, 32); break;
    case 64: memcpy(dst, src, 64); break;
    default: memcpy(dst, src, n); break;
    }
}

/* Under the lock: copy msg into the tail slot and take the receiver's waker. */
static void push_locked(struct sn_mpsc *c, const void *msg, struct sn_waker *wake)
{
    size_t i = c->head + c->len;
    if (i >= c->cap)
        i -= c->cap;
    copy_msg(c->slots + i * c->msz, msg, c->msz);
    c->len++;
    *wake = c->rxw;
    c->rxw.vt = NULL;
    c->rxw.data = NULL;
}

/* Under the lock, len > 0: copy the head out; the slot it frees goes to the first
 * waiting sender. */
static void pop_locked(struct sn_mpsc *c, void *msg, struct sn_waker *wake)
{
    copy_msg(msg, c->slots + c->head * c->msz, c->msz);
    if (++c->head == c->cap)
        c->head = 0;
    c->len--;
    grant_first(c, wake);
}

void sn_mpsc_sender_clone(struct sn_mpsc *c)
{
    pthread_mutex_lock(&c->mu);
    c->senders++;
    pthread_mutex_unlock(&c->mu);
}

void sn_mpsc_sender_release(struct sn_mpsc *c)
{
    struct sn_waker wake = {0, 0};
    pthread_mutex_lock(&c->mu);
    int last = --c->senders == 0;
    if (last) { /* the receiver drains, then sees -EPIPE */
        wake = c->rxw;
        c->rxw.vt = NULL;
        c->rxw.data = NULL;
    }
    int gone = last && c->rx_closed && !c->rx_busy;
    pthread_mutex_unlock(&c->mu);
    sn_waker_wake(&wake);
    if (gone)
        mpsc_free(c);
}

void sn_mpsc_receiver_release(struct sn_mpsc *c)
{
    pthread_mutex_lock(&c->mu);
    c->rx_closed = 1;
    /* Busy until the end: the loop below drops the lock to wake each waiter, and a
     * woken sender may drop its future and release the last sender handle meanwhile;
     * that release must not free the channel under us. The last of the two frees. */
    c->rx_busy = 1;
    struct sn_waker rxw = c->rxw;
    c->rxw.vt = NULL;
    c->rxw.data = NULL;
    /* Every waiting sender must learn -EPIPE. Each is unlinked and its waker moved
     * out under the lock, then woken with the lock dropped (collecting them first
     * would need memory); the waiter itself is not touched once unlocked, so its
     * future may be dropped meanwhile. */
    struct sn_mpsc_waiter *w;
    while ((w = c->wq_head)) {
        wq_unlink(c, w);
        w->queued = W_IDLE;
        struct sn_waker wake = w->w;
        w->w.vt = NULL;
        w->w.data = NULL;
        pthread_mutex_unlock(&c->mu);
        sn_waker_wake(&wake);
        pthread_mutex_lock(&c->mu);
    }
    c->rx_busy = 0;
    int gone = c->senders == 0;
    pthread_mutex_unlock(&c->mu);
    sn_waker_drop(&rxw);
    if (gone)
        mpsc_free(c);
}

int sn_mpsc_try_send(struct sn_mpsc *c, const void *msg)
{
    struct sn_waker wake = {0, 0};
    pthread_mutex_lock(&c->mu);
    int rc;
    if (c->rx_closed)
        rc = -EPIPE;
    else if (c->len + c->reserved >= c->cap)
        rc = -EAGAIN; /* full, or every free slot is promised to a waiting sender */
    else {
        push_locked(c, msg, &wake);
        rc = 0;
    }
    pthread_mutex_unlock(&c->mu);
    sn_waker_wake(&wake);
    return rc;
}

int sn_mpsc_try_recv(struct sn_mpsc *c, void *msg)
{
    struct sn_waker wake = {0, 0};
    pthread_mutex_lock(&c->mu);
    int rc;
    if (c->len) {
        pop_locked(c, msg, &wake);
        rc = 0;
    } else {
        rc = c->senders == 0 && !c->reserved && !c->wq_head ? -EPIPE : -EAGAIN;
    }
    pthread_mutex_unlock(&c->mu);
    sn_waker_wake(&wake);
    return rc;
}

size_t sn_mpsc_len(struct sn_mpsc *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->len;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static int send_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct sn_mpsc_send *s = (struct sn_mpsc_send *)f;
    struct sn_mpsc *c = s->c;
    if (!c)
        return SN_READY; /* polled again after READY */
    if (!sn_coop(cx))
        return SN_PENDING;
    struct sn_waker wake = {0, 0};
    int rc = SN_READY;
    pthread_mutex_lock(&c->mu);
    if (c->rx_closed) {
        if (s->wt.queued == W_QUEUED)
            wq_unlink(c, &s->wt);
        else if (s->wt.queued == W_GRANTED)
            c->reserved--;
        s->wt.queued = W_IDLE;
        f->out = -EPIPE;
    } else if (s->wt.queued == W_GRANTED) {
        c->reserved--;
        s->wt.queued = W_IDLE;
        push_locked(c, s->msg, &wake);
        f->out = 0;
    } else if (s->wt.queued == W_QUEUED) {
        sn_waker_store(&s->wt.w, &cx->waker); /* the waker may have changed (moved task) */
        rc = SN_PENDING;
    } else if (c->len + c->reserved < c->cap) {
        push_locked(c, s->msg, &wake);
        f->out = 0;
    } else {
        s->wt.w = sn_waker_clone(&cx->waker);
        s->wt.queued = W_QUEUED;
        wq_push(c, &s->wt);
        rc = SN_PENDING;
    }
    pthread_mutex_unlock(&c->mu);
    if (rc == SN_PENDING) {
        coop_refund(cx);
        return SN_PENDING;
    }
    sn_waker_drop(&s->wt.w);
    sn_waker_wake(&wake);
    s->c = NULL; /* done: the drop has nothing to undo */
    return SN_READY;
}

static void send_drop(struct sn_future *f)
{
    struct sn_mpsc_send *s = (struct sn_mpsc_send *)f;
    struct sn_mpsc *c = s->c;
    if (!c)
        return;
    s->c = NULL;
    struct sn_waker wake = {0, 0};
    pthread_mutex_lock(&c->mu);
    if (s->wt.queued == W_QUEUED) {
        wq_unlink(c, &s->wt);
    } else if (s->wt.queued == W_GRANTED) {
        /* A slot was kept for us: hand it on rather than leave it unusable. */
        c->reserved--;
        if (!c->rx_closed)
            grant_first(c, &wake);
    }
    s->wt.queued = W_IDLE;
    struct sn_waker own = s->wt.w;
    s->wt.w.vt = NULL;
    s->wt.w.data = NULL;
    pthread_mutex_unlock(&c->mu);
    sn_waker_drop(&own);
    sn_waker_wake(&wake);
}

static const struct sn_future_vt send_vt = {send_poll, send_drop, "mpsc_send"};

void sn_mpsc_send_init(struct sn_mpsc_send *s, struct sn_mpsc *c, const void *msg)
{
    memset(s, 0, sizeof(*s));
    s->base.vt = &send_vt;
    s->c = c;
    s->msg = msg;
}

static int recv_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct sn_mpsc_recv *r = (struct sn_mpsc_recv *)f;
    struct sn_mpsc *c = r->c;
    if (!c)
        return SN_READY;
    if (!sn_coop(cx))
        return SN_PENDING;
    struct sn_waker wake = {0, 0};
    int rc = SN_READY;
    pthread_mutex_lock(&c->mu);
    if (c->len) {
        pop_locked(c, r->msg, &wake);
        f->out = 0;
    } else if (c->senders == 0 && !c->reserved && !c->wq_head) {
        f->out = -EPIPE;
    } else {
        sn_waker_store(&c->rxw, &cx->waker);
        rc = SN_PENDING;
    }
    pthread_mutex_unlock(&c->mu);
    if (rc == SN_PENDING) {
        coop_refund(cx);
        return SN_PENDING;
    }
    sn_waker_wake(&wake);
    r->c = NULL;
    return SN_READY;
}

/* A recv dropped while waiting takes its waker out of the channel: it holds a
 * reference to the task, which would otherwise live as long as the channel. (After
 * READY r->c is NULL and the drop costs nothing.) */
static void recv_drop(struct sn_future *f)
{
    struct sn_mpsc_recv *r = (struct sn_mpsc_recv *)f;
    struct sn_mpsc *c = r->c;
    if (!c)
        return;
    r->c = NULL;
    pthread_mutex_lock(&c->mu);
    struct sn_waker w = c->rxw;
    c->rxw.vt = NULL;
    c->rxw.data = NULL;
    pthread_mutex_unlock(&c->mu);
    sn_waker_drop(&w);
}

static const struct sn_future_vt recv_vt = {recv_poll, recv_drop, "mpsc_recv"};

void sn_mpsc_recv_init(struct sn_mpsc_recv *r, struct sn_mpsc *c, void *msg)
{
    r->base.vt = &recv_vt;
    r->base.out = 0;
    r->c = c;
    r->msg = msg;
}
