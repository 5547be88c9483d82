/* src/task/blocking.c — sn_blocking_fut (include/sysnet/task.h): run a blocking
 * function on the work pool of the polling worker's loop (loop.h's sn_work) and be
 * ready with its return value — Tokio's spawn_blocking, on libuv's threadpool.
 *
 * The sn_work lives in a small heap block, not in the future, because the pool
 * keeps a pointer to it until done() has run on the loop's thread, and the future
 * may be dropped before that. Whoever is last frees the block: the future's poll
 * (or drop) once done() has run, or done() itself when the future is gone.
 *
 * Cancellation safety: dropping the future before a pool thread took the work
 * cancels it (fn never runs); after, fn runs to its end and its result is thrown
 * away — the side effects of fn happen either way, so it is "safe" only for
 * functions whose effects the caller does not need to observe. Either way done()
 * runs later on the loop (it is what frees the block), so the loop must keep
 * running until then: sn_loop_close says -EBUSY while pool work is pending. */
#include "task_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct sn_blocking_state {
    struct sn_work w;
    sn_blocking_fn fn;
    void *arg;
    int64_t res;            /* written by the pool thread; read after done() */
    struct sn_waker waker;  /* loop thread only */
    int done;               /* done() has run: res is final */
    int orphan;             /* the future is gone: done() frees */
};

/* On a pool thread. res is read by the loop thread only after done(), which the
 * pool hands over under its mutex: that is the synchronisation. */
static void blocking_work(struct sn_work *w)
{
    struct sn_blocking_state *st = w->data;
    st->res = st->fn(st->arg);
}

static void blocking_done(struct sn_work *w, int status)
{
    struct sn_blocking_state *st = w->data;
    if (st->orphan) {
        free(st);
        return;
    }
    if (status < 0)
        st->res = status; /* -ECANCELED: only a drop cancels, so this is not seen */
    st->done = 1;
    sn_waker_wake(&st->waker);
}

static int blocking_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct sn_blocking_fut *b = (struct sn_blocking_fut *)f;
    struct sn_blocking_state *st = b->st;
    if (!st) {
        if (!b->fn) {
            f->out = -EINVAL;
            return SN_READY;
        }
        struct sn_loop *l = sn_cx_loop(cx);
        if (!l) {
            f->out = -EINVAL;
            return SN_READY;
        }
        st = calloc(1, sizeof(*st));
        if (!st) {
            f->out = -ENOMEM;
            return SN_READY;
        }
        st->fn = b->fn;
        st->arg = b->arg;
        st->w.data = st;
        int err = sn_work_queue(l, &st->w, blocking_work, blocking_done);
        if (err) {
            free(st);
            f->out = err;
            return SN_READY;
        }
        b->st = st;
    }
    if (!st->done) {
        sn_waker_store(&st->waker, &cx->waker);
        return SN_PENDING;
    }
    if (!sn_coop(cx))
        return SN_PENDING;
    f->out = st->res;
    b->st = NULL;
    free(st);
    return SN_READY;
}

static void blocking_drop(struct sn_future *f)
{
    struct sn_blocking_fut *b = (struct sn_blocking_fut *)f;
    struct sn_blocking_state *st = b->st;
    if (!st)
        return;
    b->st = NULL;
    sn_waker_drop(&st->waker);
    if (st->done) {
        free(st);
        return;
    }
    st->orphan = 1;
    /* Queued: fn will not run, done(-ECANCELED) follows. Running: -EBUSY, done
     * follows when fn returns. Either way done frees. */
    (void)sn_work_cancel(&st->w);
}

static const struct sn_future_vt blocking_vt = {blocking_poll, blocking_drop, "blocking"};

void sn_blocking_init(struct sn_blocking_fut *f, sn_blocking_fn fn, void *arg)
{
    memset(f, 0, sizeof(*f));
    f->base.vt = &blocking_vt;
    f->fn = fn;
    f->arg = arg;
}
