/* timer.c — the loop's timers: a 4-ary min-heap keyed by (deadline, seq), each
 * timer holding its own index (heap_idx) so that stop is O(log n) without a
 * search. The layout is libev's: a heap entry is {deadline, timer pointer}, 16
 * bytes, and the root sits at index 3 so that the four children of any node
 * (4k-8 .. 4k-5 for node k) start on a multiple of 4, i.e. share one 64-byte cache
 * line of a 64-byte aligned array. Sifting then costs one line per level, and the
 * timer itself is read only on a deadline tie (its seq) and written for its index,
 * where an array of plain pointers would read four timers per level. (The ns per
 * start/stop/expiry of a million timers: build/asan/test_loop timer_million.)
 * Deadlines are in loop time (sn_loop_now). */
#include "loop_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HEAP_D 4u
#define HEAP0 (HEAP_D - 1) /* the root's index */
#define HEAP_MIN_CAP 64u   /* array slots, a power of two */
#define HEAP_ALIGN 64u

_Static_assert(sizeof(struct snl_hent) * HEAP_D == HEAP_ALIGN, "four siblings per cache line");

static uint32_t parent(uint32_t k)
{
    return (k - HEAP0 - 1) / HEAP_D + HEAP0;
}

/* Heap order: earlier deadline first; equal deadlines in start order (seq), so
 * timers due in the same iteration run in a defined, documented order. */
static int before(const struct snl_hent *a, const struct snl_hent *b)
{
    if (a->deadline != b->deadline)
        return a->deadline < b->deadline;
    return a->t->seq < b->t->seq;
}

static void place(struct sn_loop *l, uint32_t k, struct snl_hent e)
{
    l->theap[k] = e;
    e.t->heap_idx = k;
}

static void sift_up(struct sn_loop *l, uint32_t k)
{
    struct snl_hent e = l->theap[k];
    while (k > HEAP0) {
        uint32_t p = parent(k);
        if (!before(&e, &l->theap[p]))
            break;
        place(l, k, l->theap[p]);
        k = p;
    }
    place(l, k, e);
}

static void sift_down(struct sn_loop *l, uint32_t k)
{
    struct snl_hent e = l->theap[k];
    uint64_t end = (uint64_t)HEAP0 + l->tlen; /* 64-bit: the child index must not wrap */
    for (;;) {
        uint64_t c = (uint64_t)HEAP_D * (k - HEAP0) + HEAP0 + 1;
        if (c >= end)
            break;
        uint64_t last = c + HEAP_D < end ? c + HEAP_D : end, best = c;
        for (uint64_t j = c + 1; j < last; j++)
            if (before(&l->theap[j], &l->theap[best]))
                best = j;
        if (!before(&l->theap[best], &e))
            break;
        place(l, k, l->theap[best]);
        k = (uint32_t)best;
    }
    place(l, k, e);
}

/* t is in l's heap. Only what the heap says is trusted, which is also what makes
 * sn_timer_start safe on a struct that was never started (any bytes). */
static int in_heap(const struct sn_loop *l, const struct sn_timer *t)
{
    uint32_t k = t->heap_idx;
    return k >= HEAP0 && k - HEAP0 < l->tlen && l->theap[k].t == t;
}

static void heap_remove(struct sn_loop *l, uint32_t k)
{
    struct sn_timer *gone = l->theap[k].t;
    uint32_t last = HEAP0 + --l->tlen;
    gone->heap_idx = UINT32_MAX;
    if (k == last)
        return;
    place(l, k, l->theap[last]);
    if (k > HEAP0 && before(&l->theap[k], &l->theap[parent(k)]))
        sift_up(l, k);
    else
        sift_down(l, k);
}

/* Room for one more; the heap only grows (by doubling), so a program that has
 * reached its peak number of timers never allocates again. aligned_alloc, not
 * realloc: the sibling groups must stay on cache-line boundaries. */
static int heap_reserve(struct sn_loop *l)
{
    if (HEAP0 + l->tlen < l->tcap)
        return 0;
    if (l->tcap >= UINT32_MAX / 4) /* UINT32_MAX is the "stopped" index */
        return -ENOMEM;
    uint32_t cap = l->tcap ? l->tcap * 2 : HEAP_MIN_CAP;
    struct snl_hent *h = aligned_alloc(HEAP_ALIGN, (size_t)cap * sizeof(*h));
    if (!h)
        return -ENOMEM;
    if (l->theap)
        memcpy(h, l->theap, (size_t)(HEAP0 + l->tlen) * sizeof(*h));
    free(l->theap);
    l->theap = h;
    l->tcap = cap;
    return 0;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* The next deadline of a repeating timer that has just expired: one period after
 * the old deadline (not after now: no drift). If the loop fell behind by more than
 * a period, the missed periods are skipped rather than run in a burst, and the
 * phase is kept: the result is the first deadline + k * repeat after now. */
static uint64_t next_deadline(const struct sn_timer *t, uint64_t now)
{
    uint64_t d = t->deadline, r = t->repeat;
    uint64_t next = add_sat(d, r);
    if (next > now || next == UINT64_MAX)
        return next;
    uint64_t k = (now - d) / r + 1; /* now - d = q*r + rem, rem < r: d + (q+1)*r > now */
    if (k > (UINT64_MAX - d) / r)
        return UINT64_MAX;
    return d + k * r;
}

int sn_timer_start(struct sn_loop *l, struct sn_timer *t, sn_timer_cb cb, uint64_t delay_ns,
                   uint64_t repeat_ns)
{
    if (!l || !t || !cb)
        return -EINVAL;
    if (t->loop == l && in_heap(l, t)) {
        /* Restart: taking it out first frees a slot, so this cannot fail. */
        heap_remove(l, t->heap_idx);
        l->nactive--;
    } else {
        t->loop = l;
        t->heap_idx = UINT32_MAX; /* stopped, whatever happens next */
        int err = heap_reserve(l);
        if (err)
            return err;
    }
    t->cb = cb;
    t->deadline = add_sat(l->now, delay_ns);
    t->repeat = repeat_ns;
    t->seq = l->tseq++;
    uint32_t k = HEAP0 + l->tlen++;
    place(l, k, (struct snl_hent){t->deadline, t});
    sift_up(l, k);
    l->nactive++;
    return 0;
}

void sn_timer_stop(struct sn_timer *t)
{
    if (!t || !t->loop || t->heap_idx == UINT32_MAX)
        return;
    if (!in_heap(t->loop, t)) {
        t->heap_idx = UINT32_MAX;
        return;
    }
    heap_remove(t->loop, t->heap_idx);
    t->loop->nactive--;
}

int sn_timer_active(const struct sn_timer *t)
{
    return t && t->loop && t->heap_idx != UINT32_MAX && in_heap(t->loop, t);
}

/* Run the timers due at the cached now, in (deadline, seq) order. A timer started
 * (or re-armed) by a callback of this pass gets a seq >= limit and waits for the
 * next iteration, even with delay 0: a callback restarting itself with delay 0
 * cannot starve the rest of the loop. Such a timer has a deadline >= now, so it
 * sorts after every timer that was due when the pass began: stopping at the first
 * one loses nothing. */
void snl_timers_run(struct sn_loop *l)
{
    uint64_t limit = l->tseq;
    while (l->tlen) {
        struct snl_hent *top = &l->theap[HEAP0];
        struct sn_timer *t = top->t;
        if (top->deadline > l->now || t->seq >= limit)
            break;
        if (t->repeat) {
            /* Re-armed before cb, so cb may stop or restart it like any timer. */
            t->deadline = next_deadline(t, l->now);
            t->seq = l->tseq++;
            top->deadline = t->deadline;
            sift_down(l, HEAP0);
        } else {
            heap_remove(l, HEAP0);
            l->nactive--;
        }
        t->cb(t);
    }
}

int64_t snl_timers_timeout(const struct sn_loop *l)
{
    if (!l->tlen)
        return -1;
    uint64_t d = l->theap[HEAP0].deadline;
    if (d <= l->now)
        return 0;
    uint64_t dt = d - l->now;
    return dt > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)dt;
}

void snl_timers_fini(struct sn_loop *l)
{
    free(l->theap);
    l->theap = NULL;
    l->tlen = l->tcap = 0;
}
