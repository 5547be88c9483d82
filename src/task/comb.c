/* src/task/comb.c — the combinators of include/sysnet/task.h: select (the first of
 * n children to be ready) and join_all (all of them).
 *
 * Children are futures in the caller's memory, held by pointer; the combinator owns
 * their drops: every child is dropped exactly once — select drops the losers the
 * moment one child wins and the winner with itself; join_all drops them all with
 * itself (their results stay readable in child->out until then, and after: a drop
 * releases resources, it does not clear out).
 *
 * Every child is polled with the combinator's own context, i.e. the task's waker:
 * any child's wake makes the task poll the combinator again, which polls every
 * child still pending. That costs O(n) polls per wake (n <= SN_COMB_MAX = 16),
 * where per-child wakers (Tokio's FuturesUnordered) would cost an allocation or
 * n wakers per combinator; at 16 children the extra polls are cheaper. A child
 * polled without a reason just finds nothing to do and keeps its registration.
 *
 * Order: children are polled in index order on every poll, so when several are
 * ready at once the lowest index wins a select (deterministic, and what tests and
 * timeouts want; a child that is always ready starves the later ones — put it
 * last, or use sn_timeout_fut for the one case that matters most).
 *
 * Cancellation safety: that of the children. A select that is dropped before a
 * winner drops every child; so does a join_all (children that completed lose
 * nothing, the others lose what their own cancellation safety says). */
#include "task_int.h"

#include <errno.h>
#include <string.h>

/* done_mask of a select: the children already dropped (the losers, once there is a
 * winner, and everything after its own drop). */
static int select_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct sn_select_fut *s = (struct sn_select_fut *)f;
    if (s->winner >= 0)
        return SN_READY; /* polled again after READY: same answer */
    for (unsigned i = 0; i < s->n; i++) {
        if (s->done_mask & (1u << i))
            continue;
        if (sn_poll(s->f[i], cx) != SN_READY)
            continue;
        s->winner = (int)i;
        f->out = s->f[i]->out;
        for (unsigned j = 0; j < s->n; j++) {
            if (j != i && !(s->done_mask & (1u << j))) {
                s->done_mask |= 1u << j;
                sn_drop(s->f[j]);
            }
        }
        return SN_READY;
    }
    return SN_PENDING;
}

static void select_drop(struct sn_future *f)
{
    struct sn_select_fut *s = (struct sn_select_fut *)f;
    for (unsigned i = 0; i < s->n; i++) {
        if (!(s->done_mask & (1u << i))) {
            s->done_mask |= 1u << i;
            sn_drop(s->f[i]);
        }
    }
}

static const struct sn_future_vt select_vt = {select_poll, select_drop, "select"};

int sn_select_init(struct sn_select_fut *s, struct sn_future *const *fs, unsigned n)
{
    if (!s || !fs || n == 0 || n > SN_COMB_MAX)
        return -EINVAL;
    memset(s, 0, sizeof(*s));
    s->base.vt = &select_vt;
    for (unsigned i = 0; i < n; i++)
        s->f[i] = fs[i];
    s->n = n;
    s->winner = -1;
    return 0;
}

/* done_mask of a join: the children that are ready (not polled again: a future
 * need not tolerate a poll after READY). */
static int join_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct sn_join_all_fut *j = (struct sn_join_all_fut *)f;
    unsigned all = j->n == 32 ? ~0u : (1u << j->n) - 1;
    for (unsigned i = 0; i < j->n; i++) {
        if (j->done_mask & (1u << i))
            continue;
        if (sn_poll(j->f[i], cx) == SN_READY)
            j->done_mask |= 1u << i;
    }
    if (j->done_mask != all)
        return SN_PENDING;
    f->out = 0;
    return SN_READY;
}

static void join_drop(struct sn_future *f)
{
    struct sn_join_all_fut *j = (struct sn_join_all_fut *)f;
    for (unsigned i = 0; i < j->n; i++)
        sn_drop(j->f[i]);
    j->n = 0; /* a second drop is a no-op */
}

static const struct sn_future_vt join_vt = {join_poll, join_drop, "join_all"};

int sn_join_all_init(struct sn_join_all_fut *j, struct sn_future *const *fs, unsigned n)
{
    if (!j || !fs || n == 0 || n > SN_COMB_MAX)
        return -EINVAL;
    memset(j, 0, sizeof(*j));
    j->base.vt = &join_vt;
    for (unsigned i = 0; i < n; i++)
        j->f[i] = fs[i];
    j->n = n;
    return 0;
}
