/* tests/task_common.h — helpers for the runtime's unit tests (test_reactor,
 * test_chan): a counting waker that polls futures by hand. Static, included after
 * harness.h and <sysnet/task.h>.
 *
 *   struct twaker tw = {0, 0};
 *   struct sn_cx cx = tw_cx(&tw);    poll with it; tw.wakes counts wakes, tw.refs
 *                                    the clones not yet consumed or dropped (0 at
 *                                    the end of a test: no waker leaked) */
#ifndef SN_TESTS_TASK_COMMON_H
#define SN_TESTS_TASK_COMMON_H

#include <sysnet/task.h>

#include <stdatomic.h>
#include <string.h>

struct twaker {
    _Atomic int wakes; /* wake + wake_by_ref calls */
    _Atomic int refs;  /* clones not yet consumed (wake) or dropped */
};

static const struct sn_waker_vt tw_vt;
static struct sn_waker tw_clone(const void *d)
{
    atomic_fetch_add(&((struct twaker *)d)->refs, 1);
    return (struct sn_waker){d, &tw_vt};
}
static void tw_wake(const void *d)
{
    struct twaker *t = (struct twaker *)d;
    atomic_fetch_add(&t->wakes, 1);
    atomic_fetch_sub(&t->refs, 1);
}
static void tw_wake_by_ref(const void *d)
{
    atomic_fetch_add(&((struct twaker *)d)->wakes, 1);
}
static void tw_drop(const void *d)
{
    atomic_fetch_sub(&((struct twaker *)d)->refs, 1);
}
static const struct sn_waker_vt tw_vt = {tw_clone, tw_wake, tw_wake_by_ref, tw_drop};

/* A context whose waker is t (no runtime, no loop). */
static inline struct sn_cx tw_cx(struct twaker *t)
{
    struct sn_cx cx;
    memset(&cx, 0, sizeof(cx));
    cx.waker = (struct sn_waker){t, &tw_vt};
    return cx;
}

#endif
