/* task.c — the task as seen from outside its worker: its waker vtable, the join
 * handle (and its waker protocol), abort, and yield_now. The state word and who
 * holds which reference are described in exec_int.h; the worker's side (run,
 * complete, cancel) is in exec.c. Tokio's runtime/task/{state,harness}.rs is the
 * model; the comments say where we differ. */
#include "exec_int.h"

#include <errno.h>
#include <stdlib.h>

/* ---- the task's waker ------------------------------------------------------------ */

static struct sn_waker waker_clone(const void *data)
{
    struct sn_task *t = (struct sn_task *)data;
    snt_ref_inc(t);
    struct sn_waker w = {t, &snt_waker_vt};
    return w;
}

/* Wake by value: the waker's reference becomes the queue's when the task was idle
 * (no count change at all), and is dropped otherwise. */
static void waker_wake(const void *data)
{
    struct sn_task *t = (struct sn_task *)data;
    uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
    for (;;) {
        uint64_t n;
        int submit = 0;
        if (s & (SN_TASK_COMPLETE | SN_TASK_NOTIFIED)) {
            n = s - SNT_REF_ONE;
        } else if (s & SN_TASK_RUNNING) {
            n = (s | SN_TASK_NOTIFIED) - SNT_REF_ONE;
        } else {
            n = s | SN_TASK_NOTIFIED;
            submit = 1;
        }
        if (atomic_compare_exchange_weak_explicit(&t->state, &s, n, memory_order_acq_rel,
                                                  memory_order_relaxed)) {
            if (submit)
                snt_schedule(t);
            else if (SNT_REFS(n) == 0)
                snt_free(t);
            return;
        }
    }
}

static void waker_wake_by_ref(const void *data) { snt_wake_by_ref((struct sn_task *)data); }

static void waker_drop(const void *data) { snt_ref_dec((struct sn_task *)data); }

const struct sn_waker_vt snt_waker_vt = {waker_clone, waker_wake, waker_wake_by_ref, waker_drop};

/* ---- state, done, abort --------------------------------------------------------- */

uint64_t sn_task_state(const struct sn_task *t)
{
    return atomic_load_explicit(&((struct sn_task *)t)->state, memory_order_acquire);
}

int sn_task_done(struct sn_task *t, int64_t *out)
{
    /* Acquire: pairs with the completing worker's release of COMPLETE, after it
     * stored the result (and ran the future's drop). */
    uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
    if (!(s & SN_TASK_COMPLETE))
        return 0;
    if (out)
        *out = t->result;
    return 1;
}

/* Tokio's transition_to_notified_and_cancel: mark CANCELLED; a queued or running
 * task is cancelled by its worker when it next looks at it (transition_to_running
 * or the end of the poll); an idle one is queued (with a new reference) so that
 * its worker, the home worker for a pinned task, drops the future. */
int sn_task_abort(struct sn_task *t)
{
    if (!t)
        return -EINVAL;
    uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
    for (;;) {
        if (s & SN_TASK_COMPLETE)
            return -EALREADY;
        if (s & SN_TASK_CANCELLED)
            return 0;
        uint64_t n = s | SN_TASK_CANCELLED;
        int submit = 0;
        if (s & SN_TASK_RUNNING) {
            n |= SN_TASK_NOTIFIED;
        } else if (!(s & SN_TASK_NOTIFIED)) {
            n = (n | SN_TASK_NOTIFIED) + SNT_REF_ONE;
            submit = 1;
        }
        if (atomic_compare_exchange_weak_explicit(&t->state, &s, n, memory_order_acq_rel,
                                                  memory_order_relaxed)) {
            if (submit)
                snt_schedule(t);
            return 0;
        }
    }
}

/* ---- the join handle -----------------------------------------------------------------
 * The waker slot t->join_waker has one owner at a time, decided by JOIN_WAKER:
 *   clear: the join side may write it (nobody else reads it);
 *   set:   the completing worker may read it (to wake) and the join side may not
 *          touch it, until it clears the bit with a CAS that fails if the task
 *          completed in between (then the worker owns the slot until it clears
 *          the bit after waking, see exec.c's complete()).
 * So the join side stores its waker, then sets JOIN_WAKER with a CAS that fails
 * when COMPLETE appeared meanwhile: either the worker sees the bit (and wakes),
 * or the join side sees COMPLETE (and reads the result). Nothing is lost. */

/* Set JOIN_WAKER; 0 on success, -1 when the task completed (the slot stays ours). */
static int join_set_waker_bit(struct sn_task *t)
{
    uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
    for (;;) {
        if (s & SN_TASK_COMPLETE)
            return -1;
        /* Release: the waker we just wrote is visible to the worker that sees the bit. */
        if (atomic_compare_exchange_weak_explicit(&t->state, &s, s | SN_TASK_JOIN_WAKER,
                                                  memory_order_acq_rel, memory_order_acquire))
            return 0;
    }
}

/* Clear JOIN_WAKER to take the slot back; -1 when the task completed (the worker
 * owns the slot and is about to wake it, or has). */
static int join_unset_waker_bit(struct sn_task *t)
{
    uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
    for (;;) {
        if (s & SN_TASK_COMPLETE)
            return -1;
        if (atomic_compare_exchange_weak_explicit(&t->state, &s, s & ~(uint64_t)SN_TASK_JOIN_WAKER,
                                                  memory_order_acq_rel, memory_order_acquire))
            return 0;
    }
}

static int join_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct sn_join *j = (struct sn_join *)f;
    struct sn_task *t = j->task;
    if (!t) {
        f->out = -EINVAL;
        return SN_READY;
    }
    uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
    if (!(s & SN_TASK_COMPLETE)) {
        if (s & SN_TASK_JOIN_WAKER) {
            if (sn_waker_same(&t->join_waker, &cx->waker))
                return SN_PENDING;
            if (join_unset_waker_bit(t) < 0)
                goto ready;
        }
        /* The slot is ours: replace its waker, then publish it. */
        sn_waker_drop(&t->join_waker);
        t->join_waker = sn_waker_clone(&cx->waker);
        if (join_set_waker_bit(t) == 0)
            return SN_PENDING;
        /* Completed meanwhile: the slot is still ours; empty it. */
        sn_waker_drop(&t->join_waker);
    }
ready:
    f->out = t->result;
    return SN_READY;
}

static void join_drop(struct sn_future *f)
{
    struct sn_join *j = (struct sn_join *)f;
    if (j->task)
        sn_task_release(j->task);
    j->task = NULL;
}

static const struct sn_future_vt join_vt = {join_poll, join_drop, "join"};

void sn_join_init(struct sn_join *j, struct sn_task *t)
{
    j->base.vt = &join_vt;
    j->base.out = 0;
    j->task = t;
}

/* Tokio's drop_join_handle_slow: clear JOIN_INTEREST, and JOIN_WAKER too if the
 * task has not completed (the slot is then ours to empty). If it has completed
 * with JOIN_WAKER still set, the worker is inside its wake and owns the slot: it
 * sees JOIN_INTEREST gone when it clears the bit and drops the waker itself. */
void sn_task_release(struct sn_task *t)
{
    if (!t)
        return;
    uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
    uint64_t n;
    for (;;) {
        n = s & ~(uint64_t)SN_TASK_JOIN_INTEREST;
        if (!(s & SN_TASK_COMPLETE))
            n &= ~(uint64_t)SN_TASK_JOIN_WAKER;
        if (atomic_compare_exchange_weak_explicit(&t->state, &s, n, memory_order_acq_rel,
                                                  memory_order_acquire))
            break;
    }
    if (!(n & SN_TASK_JOIN_WAKER))
        sn_waker_drop(&t->join_waker);
    snt_ref_dec(t);
}

/* ---- yield_now ------------------------------------------------------------------------ */

static int yield_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct sn_yield *y = (struct sn_yield *)f;
    if (y->yielded) {
        f->out = 0;
        return SN_READY;
    }
    y->yielded = 1;
    /* While RUNNING this only sets NOTIFIED: the worker puts the task at the back
     * of its queue after the poll, never in the LIFO slot, so others run first. */
    sn_waker_wake_by_ref(&cx->waker);
    return SN_PENDING;
}

static const struct sn_future_vt yield_vt = {yield_poll, NULL, "yield"};

void sn_yield_init(struct sn_yield *y)
{
    y->base.vt = &yield_vt;
    y->base.out = 0;
    y->yielded = 0;
}
