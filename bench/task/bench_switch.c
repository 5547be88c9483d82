/* bench_switch.c — the coroutine context switch (src/task/ctx_<arch>.S) next to glibc's
 * swapcontext, and what a coroutine costs on the runtime (include/sysnet/coro.h), in
 * the same run:
 *
 *   switch              sn_ctx_switch ping-pong between main and one context: ns per
 *                       switch (one direction; a round trip is two)
 *     peer: swapcontext the same ping-pong with ucontext.h (saves and restores the
 *                       signal mask: two rt_sigprocmask system calls per switch)
 *   co_lifecycle        sn_co_spawn + first run + return + join + stack release, on a
 *                       current-thread runtime, N at a time: ns per coroutine, with
 *                       the stack from the per-thread cache (cached) and from a fresh
 *                       mmap + mprotect + munmap each time (fresh)
 *     baseline: task    the same with a plain future (sn_spawn), no stack at all
 *   co_yield            one coroutine calling sn_co_yield in a loop on a current-thread
 *                       runtime: ns per yield (switch out, the executor requeues the
 *                       task and polls it again, switch in)
 *     baseline: future  a hand-written future awaiting sn_yield in a loop: the same
 *                       executor round trip without the two switches
 *
 *   bench_switch [N]    switches per run (default 4000000; swapcontext does N/20)
 *
 * Every figure is the median of BENCH_MICRO_RUNS runs (default 7). The ratio
 * sysnet/peer is the peer's ns over sysnet's, as in every bench table: above 1,
 * sysnet is faster. The goal from the issue: a switch in <= 10 ns and >= 20x
 * faster than swapcontext. key=value lines go to $BENCH_SUMMARY when set. */
#include "../common.h"

#include <sysnet/base.h>
#include <sysnet/coro.h>
#include <sysnet/task.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

static void die(const char *what, int err)
{
    fprintf(stderr, "bench_switch: %s: %s\n", what, sn_strerror(err));
    exit(1);
}

/* ---- sn_ctx_switch ping-pong ------------------------------------------------------ */
static struct sn_ctx m_ctx, c_ctx;
static volatile uint64_t c_count;

static void ctx_fn(void *arg)
{
    (void)arg;
    for (;;) {
        c_count++;
        sn_ctx_switch(&c_ctx, &m_ctx);
    }
}

static double run_ctx(struct sn_stack *st, uint64_t switches)
{
    uint64_t rounds = switches / 2;
    sn_ctx_make(&c_ctx, st->lo, st->size, ctx_fn, NULL);
    sn_ctx_switch(&m_ctx, &c_ctx);   /* warm: the first switch enters ctx_fn */
    c_count = 0;
    uint64_t t0 = sn_now_ns();
    for (uint64_t i = 0; i < rounds; i++)
        sn_ctx_switch(&m_ctx, &c_ctx);
    uint64_t t1 = sn_now_ns();
    if (c_count != rounds) {
        fprintf(stderr, "bench_switch: ctx: %llu of %llu round trips\n", (unsigned long long)c_count,
                (unsigned long long)rounds);
        exit(1);
    }
    return (double)(t1 - t0) / (double)(rounds * 2);
}

/* ---- swapcontext ping-pong --------------------------------------------------------- */
static ucontext_t m_uc, c_uc;
static volatile uint64_t u_count;

static void uc_fn(void)
{
    for (;;) {
        u_count++;
        swapcontext(&c_uc, &m_uc);
    }
}

static double run_uc(struct sn_stack *st, uint64_t switches)
{
    uint64_t rounds = switches / 2;
    if (getcontext(&c_uc) < 0)
        die("getcontext", -errno);
    c_uc.uc_stack.ss_sp = st->lo;
    c_uc.uc_stack.ss_size = st->size;
    c_uc.uc_link = NULL;
    makecontext(&c_uc, uc_fn, 0);
    swapcontext(&m_uc, &c_uc);
    u_count = 0;
    uint64_t t0 = sn_now_ns();
    for (uint64_t i = 0; i < rounds; i++)
        swapcontext(&m_uc, &c_uc);
    uint64_t t1 = sn_now_ns();
    if (u_count != rounds) {
        fprintf(stderr, "bench_switch: swapcontext: wrong count\n");
        exit(1);
    }
    return (double)(t1 - t0) / (double)(rounds * 2);
}

/* ---- coroutine lifecycle ------------------------------------------------------------- */
/* Waits (on the runtime) until *count reaches want. */
struct until_fut {
    struct sn_future base;
    volatile uint64_t *count;
    uint64_t want;
};
static int until_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct until_fut *u = (struct until_fut *)f;
    if (*u->count >= u->want)
        return SN_READY;
    sn_waker_wake_by_ref(&cx->waker);   /* the tasks get their turn, then we look again */
    return SN_PENDING;
}
static const struct sn_future_vt until_vt = {until_poll, NULL, "until"};

static volatile uint64_t done_count;
static int64_t counting_co(void *arg)
{
    (void)arg;
    done_count++;
    return 0;
}

struct cnt_fut {
    struct sn_future base;
};
static int cnt_poll(struct sn_future *f, struct sn_cx *cx)
{
    (void)cx;
    done_count++;
    f->out = 0;
    return SN_READY;
}
static const struct sn_future_vt cnt_vt = {cnt_poll, NULL, "count"};

/* kind: 0 coroutine with cached stacks, 1 coroutine with fresh stacks, 2 plain task.
 * Spawns n (detached) in batches of 64 and runs each batch to the end. */
static double run_lifecycle(struct sn_rt *rt, int kind, uint64_t n)
{
    struct sn_co_opts o = {.stack_size = SN_CO_STACK_DEFAULT, .fresh_stack = kind == 1};
    struct cnt_fut cf = {{&cnt_vt, 0}};
    done_count = 0;
    uint64_t t0 = sn_now_ns();
    for (uint64_t i = 0; i < n; i += 64) {
        uint64_t b = n - i < 64 ? n - i : 64;
        for (uint64_t k = 0; k < b; k++) {
            int err = kind == 2 ? sn_spawn(rt, &cf.base, sizeof(cf), NULL)
                                : sn_co_spawn(rt, counting_co, NULL, &o, NULL);
            if (err < 0)
                die("spawn", err);
        }
        struct until_fut u = {{&until_vt, 0}, &done_count, i + b};
        sn_rt_block_on(rt, &u.base);
    }
    uint64_t t1 = sn_now_ns();
    return (double)(t1 - t0) / (double)n;
}

/* ---- yield round trips ------------------------------------------------------------------ */
static uint64_t yields;
static int64_t yield_co(void *arg)
{
    (void)arg;
    for (uint64_t i = 0; i < yields; i++)
        sn_co_yield();
    return 0;
}

struct yloop {
    struct sn_future base;
    uint64_t left;
    struct sn_yield y;
    int armed;
};
static int yloop_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct yloop *l = (struct yloop *)f;
    for (;;) {
        if (!l->left) {
            f->out = 0;
            return SN_READY;
        }
        if (!l->armed) {
            sn_yield_init(&l->y);
            l->armed = 1;
        }
        if (sn_poll(&l->y.base, cx) == SN_PENDING)
            return SN_PENDING;
        l->armed = 0;
        l->left--;
    }
}
static const struct sn_future_vt yloop_vt = {yloop_poll, NULL, "yield loop"};

static int64_t join_on(struct sn_rt *rt, struct sn_task *t)
{
    struct sn_join j;
    sn_join_init(&j, t);
    int64_t r = sn_rt_block_on(rt, &j.base);
    sn_drop(&j.base);
    return r;
}

static double run_yield(struct sn_rt *rt, int coroutine, uint64_t n)
{
    struct sn_task *t;
    int err;
    yields = n;
    uint64_t t0 = sn_now_ns();
    if (coroutine) {
        err = sn_co_spawn(rt, yield_co, NULL, NULL, &t);
    } else {
        struct yloop l = {{&yloop_vt, 0}, n, {{0, 0}, 0}, 0};
        err = sn_spawn(rt, &l.base, sizeof(l), &t);
    }
    if (err < 0)
        die("spawn", err);
    join_on(rt, t);
    uint64_t t1 = sn_now_ns();
    return (double)(t1 - t0) / (double)n;
}

/* ---- output ------------------------------------------------------------------------------- */
static void row(const char *name, double ns, const char *unit)
{
    printf("  %-30s %9.1f ns/%s\n", name, ns, unit);
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 4000000;
    if (n < 1000)
        n = 1000;
    int runs = micro_runs();
    struct sn_stack st;
    int err = sn_stack_alloc(&st, 64 * 1024);
    if (err < 0)
        die("sn_stack_alloc", err);

    double *a = calloc((size_t)runs, sizeof(double)), *b = calloc((size_t)runs, sizeof(double)),
           *c = calloc((size_t)runs, sizeof(double));
    if (!a || !b || !c)
        die("calloc", -ENOMEM);

    /* Interleaved runs: both sides see the same machine state. */
    for (int r = 0; r < runs; r++) {
        a[r] = run_ctx(&st, n);
        b[r] = run_uc(&st, n / 20);
    }
    double ctx_ns = median(a, runs), uc_ns = median(b, runs);
    printf("switch: ping-pong between two stacks, %llu switches per run (swapcontext: %llu), median of %d runs\n",
           (unsigned long long)n, (unsigned long long)(n / 20), runs);
    row("sn_ctx_switch (sysnet)", ctx_ns, "switch");
    row("swapcontext (glibc)", uc_ns, "switch");
    printf("  %-30s %9.1f   (swapcontext ns over sn_ctx_switch ns; goal >= 20, and <= 10 ns)\n", "ratio", uc_ns / ctx_ns);
    summary("switch_ctx_ns=%.2f", ctx_ns);
    summary("switch_swapcontext_ns=%.1f", uc_ns);
    summary("switch_ratio=%.1f", uc_ns / ctx_ns);
    sn_stack_free(&st);

    struct sn_rt *rt;
    if ((err = sn_rt_open(&rt, NULL)) < 0) {
        printf("  coroutine rows: n/a (sn_rt_open: %s)\n", sn_strerror(err));
        return 0;
    }
    uint64_t nl = n / 40 > 1000 ? n / 40 : 1000;
    run_lifecycle(rt, 0, 256);   /* warm: the stack cache fills, the task allocator too */
    for (int r = 0; r < runs; r++) {
        a[r] = run_lifecycle(rt, 0, nl);
        b[r] = run_lifecycle(rt, 1, nl / 4);
        c[r] = run_lifecycle(rt, 2, nl);
    }
    double co_cached = median(a, runs), co_fresh = median(b, runs), task = median(c, runs);
    printf("\nco_lifecycle: spawn + run + return + free, current-thread runtime, 64 at a time, %llu per run "
           "(fresh: %llu)\n",
           (unsigned long long)nl, (unsigned long long)(nl / 4));
    row("coroutine, cached stack", co_cached, "coroutine");
    row("coroutine, fresh mmap'd stack", co_fresh, "coroutine");
    row("task (plain future, baseline)", task, "task");
    summary("switch_co_lifecycle_cached_ns=%.1f", co_cached);
    summary("switch_co_lifecycle_fresh_ns=%.1f", co_fresh);
    summary("switch_task_lifecycle_ns=%.1f", task);

    uint64_t ny = n / 8;
    for (int r = 0; r < runs; r++) {
        a[r] = run_yield(rt, 1, ny);
        b[r] = run_yield(rt, 0, ny);
    }
    double y_co = median(a, runs), y_fut = median(b, runs);
    printf("\nco_yield: one task yielding in a loop, current-thread runtime, %llu yields per run\n",
           (unsigned long long)ny);
    row("sn_co_yield (coroutine)", y_co, "yield");
    row("sn_yield future (baseline)", y_fut, "yield");
    printf("  %-30s %9.1f   ns (the two switches and the await around the executor's round trip)\n",
           "coroutine overhead", y_co - y_fut);
    summary("switch_co_yield_ns=%.1f", y_co);
    summary("switch_future_yield_ns=%.1f", y_fut);
    sn_rt_close(rt);
    free(a);
    free(b);
    free(c);
    return 0;
}
