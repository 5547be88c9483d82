/* tests/chan_common.h — what tests/unit/test_chan.c and bench/task/bench_chan.c
 * both need to drive channel futures: a parking waker with block_on (futures polled
 * by hand on any thread), and fut_step for tasks that keep one channel future
 * across their polls. Static; include after <sysnet/task.h>.
 *
 * Two flavours of the parker. The tests' (the default) counts its waker's clones
 * (refs: 0 once every future let go of it) and forgets older wakes before each
 * poll. A benchmark defines CHAN_PARKER_LEAN before the include: no counting (an
 * atomic on a line both threads write, in every wait), and the flag is cleared
 * only when a wake ended a sleep, so the fast path (ready at once) does nothing
 * but the poll — the cost of the channel, not of the harness. */
#ifndef SN_TESTS_CHAN_COMMON_H
#define SN_TESTS_CHAN_COMMON_H

#include <sysnet/task.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* A thread's parker: a mutex and a condvar, as a runtime's futex park would be. It
 * must live longer than any channel it waits on, so a waker left in a channel after
 * its poll returned never points to freed memory. refs: clones of its waker not yet
 * consumed or dropped (0 once every future is done with it). */
struct parker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic int notified;       /* woken since the last poll (set under mu) */
    _Atomic int refs;           /* not kept with CHAN_PARKER_LEAN */
};
#ifdef CHAN_PARKER_LEAN
#define PK_COUNT(d, op) ((void)(d))
#else
#define PK_COUNT(d, op) ((void)atomic_fetch_##op(&((struct parker *)(d))->refs, 1))
#endif
static const struct sn_waker_vt pk_vt;
static struct sn_waker pk_clone(const void *d)
{
    PK_COUNT(d, add);
    return (struct sn_waker){d, &pk_vt};
}
static void pk_wake_by_ref(const void *d)
{
    struct parker *p = (struct parker *)d;
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->notified, 1, memory_order_relaxed);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}
static void pk_wake(const void *d)
{
    pk_wake_by_ref(d);
    PK_COUNT(d, sub);
}
static void pk_drop(const void *d)
{
    PK_COUNT(d, sub);
}
static const struct sn_waker_vt pk_vt = {pk_clone, pk_wake, pk_wake_by_ref, pk_drop};

static inline void parker_init(struct parker *p)
{
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_init(&p->notified, 0);
    atomic_init(&p->refs, 0);
}
static inline void parker_fini(struct parker *p)
{
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
}

/* A context whose waker is p's. */
static inline struct sn_cx pk_cx(struct parker *p)
{
    struct sn_cx cx;
    memset(&cx, 0, sizeof(cx));
    cx.waker = (struct sn_waker){p, &pk_vt};
    return cx;
}

/* Poll f on this thread until it is ready, sleeping on the parker in between.
 * Default: older wakes are forgotten before each poll, so only a wake of the waker
 * this poll left ends the sleep — a future that forgets to wake hangs here instead
 * of riding on a stale wake. The clear takes no lock: it is ordered before the
 * poll's publication of the waker (a release in the channel), so a wake that comes
 * during the poll is stored after it and kept. CHAN_PARKER_LEAN: cleared after a
 * sleep instead (a wake during the poll is kept too; a stale one costs a poll). */
static inline int64_t block_on(struct parker *p, struct sn_future *f)
{
    struct sn_cx cx = pk_cx(p);
    for (;;) {
#ifndef CHAN_PARKER_LEAN
        atomic_store_explicit(&p->notified, 0, memory_order_relaxed);
#endif
        if (sn_poll(f, &cx) == SN_READY)
            return f->out;
        pthread_mutex_lock(&p->mu);
        while (!atomic_load_explicit(&p->notified, memory_order_relaxed))
            pthread_cond_wait(&p->cv, &p->mu);
#ifdef CHAN_PARKER_LEAN
        atomic_store_explicit(&p->notified, 0, memory_order_relaxed);
#endif
        pthread_mutex_unlock(&p->mu);
    }
}

/* A task that keeps one future across its polls (a send or recv in a loop): the
 * caller inits f when *active is 0; fut_step polls it and, once ready (its result
 * in f->out), drops it and clears *active. fut_step_drop: the task's drop. */
static inline int fut_step(struct sn_future *f, int *active, struct sn_cx *cx)
{
    *active = 1;
    if (sn_poll(f, cx) == SN_PENDING)
        return SN_PENDING;
    sn_drop(f);
    *active = 0;
    return SN_READY;
}
static inline void fut_step_drop(struct sn_future *f, int *active)
{
    if (*active)
        sn_drop(f);
    *active = 0;
}

#endif
