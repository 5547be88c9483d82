/* bench_task.c — the async runtime's executors (src/task/exec.c), figure by figure:
 *
 *   spawn          ns per spawn + poll + complete of a trivial detached task, spawned
 *                  by a task (the worker-local path) in batches of 64 with a yield
 *                  between batches: current-thread, multi-thread 1 and 2 workers
 *   wake_xthread   ns from a wake on another thread to the task's poll (multi-thread,
 *                  1 worker, parked on its futex between wakes: includes the unpark)
 *   wake_lifo      ns per hop of two tasks waking each other on one thread (the LIFO
 *                  slot: wake, then the woken task is the next polled)
 *   yield          ns per sn_yield round trip (wake_by_ref while running, back of the
 *                  queue, polled again), current-thread
 *   scale          tasks/s for CPU-bound small tasks (~2 us of arithmetic each) on 1
 *                  and 2 workers, and the ratio 2w/1w (2 shared CPUs: at most ~2)
 *
 * Baselines (no peer library is needed): a pthread created and joined per task, and
 * a mutex + condvar queue handed to one consumer thread, against the multi-thread
 * runtime's figure (spawn from outside = global queue). The ratio is the baseline's
 * ns over sysnet's: how many times faster sysnet is.
 *
 *   bench_task [N]      N: tasks per spawn run (default 200000)
 *
 * Every figure is the median of BENCH_MICRO_RUNS runs (default 7, at least 5).
 * With BENCH_SUMMARY set, key=value lines go to that file. */
#include "../common.h"

#include <sysnet/base.h>
#include <sysnet/task.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct sn_rt *rt_open(unsigned workers)
{
    struct sn_rt *rt;
    struct sn_rt_opts o = {.workers = workers};
    int err = sn_rt_open(&rt, &o);
    if (err < 0) {
        fprintf(stderr, "bench_task: sn_rt_open: %s\n", sn_strerror(err));
        exit(1);
    }
    return rt;
}

/* ---- a latch: the producer waits for the tasks ------------------------------------ */

struct latch {
    _Atomic long n;
    long target;
    pthread_mutex_t mu;
    struct sn_waker w;
};
static void latch_arrive(struct latch *l)
{
    if (atomic_fetch_add_explicit(&l->n, 1, memory_order_acq_rel) + 1 == l->target) {
        pthread_mutex_lock(&l->mu);
        sn_waker_wake(&l->w);
        pthread_mutex_unlock(&l->mu);
    }
}
static int latch_ready(struct latch *l, struct sn_cx *cx)
{
    pthread_mutex_lock(&l->mu);
    int ready = atomic_load(&l->n) >= l->target;
    if (!ready)
        sn_waker_store(&l->w, &cx->waker);
    pthread_mutex_unlock(&l->mu);
    return ready;
}

/* ---- trivial and CPU-bound tasks -------------------------------------------------------- */

struct triv {
    struct sn_future base;
    struct latch *l;
    unsigned work;     /* iterations of arithmetic */
};
static int triv_poll(struct sn_future *f, struct sn_cx *cx)
{
    (void)cx;
    struct triv *t = (struct triv *)f;
    if (t->work) {
        uint64_t x = (uint64_t)(uintptr_t)t | 1;
        for (unsigned i = 0; i < t->work; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        f->out = (int64_t)(x & 1);   /* into the task's own memory: no shared line */
    } else {
        f->out = 0;
    }
    latch_arrive(t->l);
    return SN_READY;
}
static const struct sn_future_vt triv_vt = {triv_poll, NULL, "triv"};

/* Spawns n tasks in batches of `batch`, yielding between batches, then waits. */
struct producer {
    struct sn_future base;
    long n, i, batch;
    unsigned work;
    struct latch *l;
    struct sn_yield y;
    int yielding;
};
static int producer_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct producer *p = (struct producer *)f;
    while (p->i < p->n) {
        if (p->yielding) {
            if (sn_poll(&p->y.base, cx) == SN_PENDING)
                return SN_PENDING;
            p->yielding = 0;
        }
        long end = p->i + p->batch < p->n ? p->i + p->batch : p->n;
        struct triv tv = {{&triv_vt, 0}, p->l, p->work};
        for (; p->i < end; p->i++)
            if (sn_spawn(cx->rt, &tv.base, sizeof(tv), NULL) < 0) {
                fprintf(stderr, "bench_task: sn_spawn failed\n");
                exit(1);
            }
        sn_yield_init(&p->y);
        p->yielding = 1;
    }
    if (!latch_ready(p->l, cx))
        return SN_PENDING;
    f->out = 0;
    return SN_READY;
}
static const struct sn_future_vt producer_vt = {producer_poll, NULL, "producer"};

/* ns per task for n tasks spawned from inside the runtime. */
static double run_spawn(struct sn_rt *rt, long n, long batch, unsigned work)
{
    struct latch l = {0, n, PTHREAD_MUTEX_INITIALIZER, {0, 0}};
    struct producer p = {{&producer_vt, 0}, n, 0, batch, work, &l, {{0, 0}, 0}, 0};
    struct sn_task *t;
    uint64_t t0 = now_ns();
    sn_spawn(rt, &p.base, sizeof(p), &t);   /* a task: its yield goes behind its batch */
    struct sn_join j;
    sn_join_init(&j, t);
    sn_rt_block_on(rt, &j.base);
    sn_drop(&j.base);
    uint64_t t1 = now_ns();
    sn_waker_drop(&l.w);
    return (double)(t1 - t0) / (double)n;
}

/* ns per task for n tasks spawned from outside (the global queue), waited for. */
struct waitfut {
    struct sn_future base;
    struct latch *l;
};
static int wait_poll(struct sn_future *f, struct sn_cx *cx)
{
    if (!latch_ready(((struct waitfut *)f)->l, cx))
        return SN_PENDING;
    f->out = 0;
    return SN_READY;
}
static const struct sn_future_vt wait_vt = {wait_poll, NULL, "wait"};

static double run_spawn_outside(struct sn_rt *rt, long n)
{
    struct latch l = {0, n, PTHREAD_MUTEX_INITIALIZER, {0, 0}};
    struct triv tv = {{&triv_vt, 0}, &l, 0};
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++)
        sn_spawn(rt, &tv.base, sizeof(tv), NULL);
    struct waitfut wf = {{&wait_vt, 0}, &l};
    sn_rt_block_on(rt, &wf.base);
    uint64_t t1 = now_ns();
    sn_waker_drop(&l.w);
    return (double)(t1 - t0) / (double)n;
}

/* ---- wake latency across threads ---------------------------------------------------------- */

struct xwake {
    _Atomic uint64_t t_wake;     /* set by the waking thread just before the wake */
    _Atomic int armed;           /* the task is pending with its waker stored */
    _Atomic long polls;
    long rounds;
    struct sn_waker w;           /* written by the task while armed == 0 */
    double *lat;                 /* per-round ns */
};
struct xwake_fut {
    struct sn_future base;
    struct xwake *x;
};
static int xwake_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct xwake *x = ((struct xwake_fut *)f)->x;
    uint64_t now = now_ns();
    long k = atomic_load_explicit(&x->polls, memory_order_relaxed);
    uint64_t tw = atomic_load_explicit(&x->t_wake, memory_order_acquire);
    if (k > 0 && tw)
        x->lat[k - 1] = (double)(now - tw);
    atomic_store_explicit(&x->polls, k + 1, memory_order_relaxed);
    if (k >= x->rounds) {
        f->out = 0;
        return SN_READY;
    }
    sn_waker_store(&x->w, &cx->waker);
    atomic_store_explicit(&x->armed, 1, memory_order_release);
    return SN_PENDING;
}
static void xwake_drop(struct sn_future *f) { sn_waker_drop(&((struct xwake_fut *)f)->x->w); }
static const struct sn_future_vt xwake_vt = {xwake_poll, xwake_drop, "xwake"};

static void *xwake_thread(void *arg)
{
    struct xwake *x = arg;
    for (long r = 0; r < x->rounds; r++) {
        while (!atomic_load_explicit(&x->armed, memory_order_acquire))
            ;
        atomic_store_explicit(&x->armed, 0, memory_order_relaxed);
        /* let the worker go to sleep: the figure includes the unpark */
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
        atomic_store_explicit(&x->t_wake, now_ns(), memory_order_release);
        sn_waker_wake_by_ref(&x->w);
    }
    return NULL;
}

static double run_xwake(long rounds)
{
    struct sn_rt *rt = rt_open(1);
    double *lat = calloc((size_t)rounds, sizeof(double));
    struct xwake x = {0, 0, 0, rounds, {0, 0}, lat};
    struct xwake_fut xf = {{&xwake_vt, 0}, &x};
    struct sn_task *t;
    sn_spawn(rt, &xf.base, sizeof(xf), &t);
    pthread_t th;
    pthread_create(&th, NULL, xwake_thread, &x);
    struct sn_join j;
    sn_join_init(&j, t);
    sn_rt_block_on(rt, &j.base);
    sn_drop(&j.base);
    pthread_join(th, NULL);
    sn_rt_close(rt);
    double m = median(lat, (int)rounds);
    free(lat);
    return m;
}

/* ---- LIFO ping-pong and yield on one thread --------------------------------------------------- */

struct pp {
    struct sn_waker w[2];
    long hops, target;
};
struct pp_fut {
    struct sn_future base;
    struct pp *p;
    int side;
};
static int pp_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct pp_fut *pf = (struct pp_fut *)f;
    struct pp *p = pf->p;
    if (p->hops >= p->target) {
        sn_waker_wake_by_ref(&p->w[!pf->side]);   /* let the other finish too */
        f->out = 0;
        return SN_READY;
    }
    p->hops++;
    sn_waker_store(&p->w[pf->side], &cx->waker);
    sn_waker_wake_by_ref(&p->w[!pf->side]);
    return SN_PENDING;
}
static void pp_drop(struct sn_future *f)
{
    struct pp_fut *pf = (struct pp_fut *)f;
    sn_waker_drop(&pf->p->w[pf->side]);
}
static const struct sn_future_vt pp_vt = {pp_poll, pp_drop, "pingpong"};

static double run_lifo(struct sn_rt *rt, long hops)
{
    struct pp p = {{{0, 0}, {0, 0}}, 0, hops};
    struct pp_fut a = {{&pp_vt, 0}, &p, 0}, b = {{&pp_vt, 0}, &p, 1};
    struct sn_task *ta, *tb;
    uint64_t t0 = now_ns();
    sn_spawn(rt, &a.base, sizeof(a), &ta);
    sn_spawn(rt, &b.base, sizeof(b), &tb);
    struct sn_join j;
    sn_join_init(&j, ta);
    sn_rt_block_on(rt, &j.base);
    sn_drop(&j.base);
    sn_join_init(&j, tb);
    sn_rt_block_on(rt, &j.base);
    sn_drop(&j.base);
    uint64_t t1 = now_ns();
    return (double)(t1 - t0) / (double)hops;
}

struct yielder {
    struct sn_future base;
    struct sn_yield y;
    long k, i;
};
static int yielder_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct yielder *y = (struct yielder *)f;
    while (y->i < y->k) {
        if (sn_poll(&y->y.base, cx) == SN_PENDING)
            return SN_PENDING;
        y->i++;
        sn_yield_init(&y->y);
    }
    f->out = 0;
    return SN_READY;
}
static const struct sn_future_vt yielder_vt = {yielder_poll, NULL, "yielder"};

static double run_yield(struct sn_rt *rt, long n)
{
    struct yielder y = {{&yielder_vt, 0}, {{0, 0}, 0}, n, 0};
    sn_yield_init(&y.y);
    struct sn_task *t;
    uint64_t t0 = now_ns();
    sn_spawn(rt, &y.base, sizeof(y), &t);
    struct sn_join j;
    sn_join_init(&j, t);
    sn_rt_block_on(rt, &j.base);
    sn_drop(&j.base);
    uint64_t t1 = now_ns();
    return (double)(t1 - t0) / (double)n;
}

/* ---- baselines ---------------------------------------------------------------------------- */

static void *nop_thread(void *arg) { return arg; }

static double run_pthread(long n)
{
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        pthread_t th;
        if (pthread_create(&th, NULL, nop_thread, NULL) == 0)
            pthread_join(th, NULL);
    }
    return (double)(now_ns() - t0) / (double)n;
}

struct cvq {
    pthread_mutex_t mu;
    pthread_cond_t cv, done_cv;
    long head, tail, done, n;
    long *items;
};
static void *cvq_consumer(void *arg)
{
    struct cvq *q = arg;
    pthread_mutex_lock(&q->mu);
    while (q->done < q->n) {
        while (q->head == q->tail)
            pthread_cond_wait(&q->cv, &q->mu);
        while (q->head != q->tail) {
            q->head++;
            q->done++;
        }
    }
    pthread_cond_signal(&q->done_cv);
    pthread_mutex_unlock(&q->mu);
    return NULL;
}
static double run_cvq(long n)
{
    struct cvq q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, n,
                    NULL};
    pthread_t th;
    pthread_create(&th, NULL, cvq_consumer, &q);
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&q.mu);
        q.tail++;
        pthread_cond_signal(&q.cv);
        pthread_mutex_unlock(&q.mu);
    }
    pthread_mutex_lock(&q.mu);
    while (q.done < q.n)
        pthread_cond_wait(&q.done_cv, &q.mu);
    pthread_mutex_unlock(&q.mu);
    uint64_t t1 = now_ns();
    pthread_join(th, NULL);
    return (double)(t1 - t0) / (double)n;
}

/* ---- main ------------------------------------------------------------------------------------ */

#define MAXR 101

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    if (n < 1000)
        n = 1000;
    int runs = micro_runs();
    double v[MAXR];

    printf("task: the executors (src/task/exec.c), medians of %d runs, N = %ld\n", runs, n);

    struct sn_rt *ct = rt_open(0), *m1 = rt_open(1), *m2 = rt_open(2);
    run_spawn(ct, n / 10, 64, 0); /* warm-up: the allocator and the caches */

#define FIG(dst, expr)                                                                     \
    do {                                                                                   \
        for (int r_ = 0; r_ < runs; r_++)                                                  \
            v[r_] = (expr);                                                                \
        dst = median(v, runs);                                                             \
    } while (0)
    double sp_ct;
    FIG(sp_ct, run_spawn(ct, n, 64, 0));
    double sp_m1;
    FIG(sp_m1, run_spawn(m1, n, 64, 0));
    double sp_m2;
    FIG(sp_m2, run_spawn(m2, n, 64, 0));
    double sp_out;
    FIG(sp_out, run_spawn_outside(m1, n));
    printf("  spawn+complete, current-thread       %8.1f ns/task\n", sp_ct);
    printf("  spawn+complete, 1 worker             %8.1f ns/task\n", sp_m1);
    printf("  spawn+complete, 2 workers            %8.1f ns/task\n", sp_m2);
    printf("  spawn+complete, from outside, 1 w    %8.1f ns/task (global queue)\n", sp_out);
    summary("task.spawn.current_thread_ns=%.1f", sp_ct);
    summary("task.spawn.workers1_ns=%.1f", sp_m1);
    summary("task.spawn.workers2_ns=%.1f", sp_m2);
    summary("task.spawn.outside_workers1_ns=%.1f", sp_out);

    long rounds = 2000;
    double xw;
    FIG(xw, run_xwake(rounds));
    printf("  wake -> poll, other thread, parked   %8.1f ns (futex unpark included)\n", xw);
    summary("task.wake.cross_thread_ns=%.1f", xw);
    double lifo;
    FIG(lifo, run_lifo(ct, n));
    printf("  wake -> poll, same thread (LIFO)     %8.1f ns/hop\n", lifo);
    summary("task.wake.lifo_hop_ns=%.1f", lifo);
    double yl;
    FIG(yl, run_yield(ct, n));
    printf("  yield round trip, current-thread     %8.1f ns\n", yl);
    summary("task.yield_ns=%.1f", yl);

    long nc = n / 4;
    double c1;
    FIG(c1, run_spawn(m1, nc, 64, 1000));
    double c2;
    FIG(c2, run_spawn(m2, nc, 64, 1000));
    double tps1 = 1e9 / c1, tps2 = 1e9 / c2;
    printf("  CPU-bound tasks, 1 worker            %8.0f tasks/s (%.0f ns each)\n", tps1, c1);
    printf("  CPU-bound tasks, 2 workers           %8.0f tasks/s (%.0f ns each)\n", tps2, c2);
    printf("  scaling 2w/1w                        %8.2f\n", tps2 / tps1);
    summary("task.scale.workers1_tps=%.0f", tps1);
    summary("task.scale.workers2_tps=%.0f", tps2);
    summary("task.scale.ratio_2w_1w=%.2f", tps2 / tps1);

    long np = n / 20 < 20000 ? n / 20 : 20000;
    double pt;
    FIG(pt, run_pthread(np));
    double cq;
    FIG(cq, run_cvq(n));
    printf("  baseline: pthread create+join/task   %8.1f ns  (sysnet 1 w, outside: %.1fx faster)\n", pt,
           pt / sp_out);
    printf("  baseline: mutex+condvar handoff      %8.1f ns  (sysnet 1 w, outside: %.2fx)\n", cq, cq / sp_out);
    summary("task.baseline.pthread_ns=%.1f", pt);
    summary("task.baseline.condvar_ns=%.1f", cq);
    summary("task.sysnet_per_pthread=%.2f", pt / sp_out);
    summary("task.sysnet_per_condvar=%.2f", cq / sp_out);

    struct sn_rt_stats st;
    sn_rt_stats(m2, &st);
    printf("  (2-worker runtime: %llu steals of %llu tasks, %llu parks, %llu unparks, %llu overflows)\n",
           (unsigned long long)st.steals, (unsigned long long)st.stolen_tasks, (unsigned long long)st.parks,
           (unsigned long long)st.unparks, (unsigned long long)st.overflows);
    printf("summary: spawn %.1f ns (current-thread), %.1f / %.1f ns (1 / 2 workers); wake %.0f ns cross-thread, "
           "%.1f ns LIFO; yield %.1f ns; scaling 2w/1w %.2f\n",
           sp_ct, sp_m1, sp_m2, xw, lifo, yl, tps2 / tps1);
    sn_rt_close(ct);
    sn_rt_close(m1);
    sn_rt_close(m2);
    return 0;
}
