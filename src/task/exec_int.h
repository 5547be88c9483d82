/* src/task/exec_int.h — what task.c (the task's state machine, wakers, join) and
 * exec.c (the executors) share. Private to task.c and exec.c.
 *
 * The state word (Tokio's runtime/task/state.rs): the SN_TASK_* flags in the low
 * byte and a reference count above SN_TASK_REF_SHIFT. Who holds a reference:
 *   - the runtime, from spawn until the task completes or is cancelled (the "owner"
 *     reference: the live-task registry), so an idle task nobody can wake still
 *     has its future dropped by sn_rt_close;
 *   - a run queue: NOTIFIED set means exactly one queue entry exists (or will, the
 *     scheduler is pushing it) and that entry owns one reference; while RUNNING,
 *     the worker polling holds that reference;
 *   - the join handle (JOIN_INTEREST), and every waker clone.
 * NOTIFIED while RUNNING carries no extra reference: the worker re-queues the
 * task after the poll with the reference it already holds. */
#ifndef SN_EXEC_INT_H
#define SN_EXEC_INT_H

#include "task_int.h"

#define SNT_REF_ONE SN_TASK_REF_ONE
#define SNT_REFS(s) ((s) >> SN_TASK_REF_SHIFT)

/* exec.c: push t, whose NOTIFIED bit and queue reference the caller has just
 * set, onto the right run queue (see exec.c: LIFO slot, home worker, global). */
void snt_schedule(struct sn_task *t);
/* exec.c: give the block back (free list or free). Last reference only. */
void snt_free(struct sn_task *t);

extern const struct sn_waker_vt snt_waker_vt;

static inline void snt_ref_inc(struct sn_task *t)
{
    /* Relaxed, as Arc::clone: a new reference is made from an existing one, so
     * the count cannot be zero and nothing is published by the increment. */
    atomic_fetch_add_explicit(&t->state, SNT_REF_ONE, memory_order_relaxed);
}

static inline void snt_ref_dec_n(struct sn_task *t, uint64_t n)
{
    /* Release: our uses of the task happen before the free; acquire (on the
     * last one): the free happens after everybody else's uses. */
    uint64_t prev = atomic_fetch_sub_explicit(&t->state, n * SNT_REF_ONE, memory_order_acq_rel);
    if (SNT_REFS(prev) == n)
        snt_free(t);
}

static inline void snt_ref_dec(struct sn_task *t) { snt_ref_dec_n(t, 1); }

/* Wake by reference: idle -> NOTIFIED with a new queue reference, and push.
 * Running: only NOTIFIED (the worker re-queues it). Notified or complete: nothing.
 * acq_rel on success: the push must see the last poll's writes (its idle
 * transition released them) and publish ours to the next poller. */
static inline void snt_wake_by_ref(struct sn_task *t)
{
    uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
    for (;;) {
        if (s & (SN_TASK_COMPLETE | SN_TASK_NOTIFIED))
            return;
        uint64_t n = s | SN_TASK_NOTIFIED;
        int submit = !(s & SN_TASK_RUNNING);
        if (submit)
            n += SNT_REF_ONE;
        if (atomic_compare_exchange_weak_explicit(&t->state, &s, n, memory_order_acq_rel,
                                                  memory_order_relaxed)) {
            if (submit)
                snt_schedule(t);
            return;
        }
    }
}

#endif
