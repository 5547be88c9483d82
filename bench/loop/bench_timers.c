/* bench_timers.c — the timer benchmark behind the loop's choice of a 4-ary heap:
 * start N timers with random delays, stop half of them in random order, expire the
 * rest, and report ns per start / stop / expiry for
 *
 *   sysnet      sn_timer_start / sn_timer_stop / sn_loop_run (4-ary heap, ns deadlines)
 *   libuv       uv_timer_start / uv_timer_stop / uv_run      (binary heap of nodes, ms)
 *   libev       ev_timer_start / ev_timer_stop / ev_run      (4-ary heap, cached deadlines)
 *   wheel_1ms   a hierarchical timing wheel written here (Varghese & Lauck, laid out as
 *   wheel_1us   tokio's: 6 levels of 64 slots, occupancy bitmaps, cascading), 1 ms and
 *               1 us ticks: O(1) start and stop, deadlines rounded up to a tick
 *
 *   bench_timers [N ...]        default: 1000 100000 1000000
 *
 * Each run, for each implementation in turn, on the same delays and the same stop
 * order: one untimed warm-up pass (start all N, stop all N: every heap array has
 * grown, so the timed passes measure the steady state without allocation, and the
 * timer structs are in memory), then
 *   start:  all N timers, delays uniform in [1 ms, BENCH_TIMER_SPAN_MS] (default 100);
 *   stop:   N/2 of them, in a random order;
 *   expire: the other N/2. The three event loops read the real clock, so the
 *           benchmark waits (untimed, spinning: a sleep would leave the caches cold
 *           and the CPU clocked down) until every deadline has passed and times one
 *           non-blocking loop iteration (sn_loop_run SN_RUN_NOWAIT, uv_run
 *           UV_RUN_NOWAIT, ev_run EVRUN_NOWAIT), which updates the clock, runs all the
 *           N/2 callbacks (each counts itself) and polls once with a zero timeout (a
 *           syscall, < 1 ns per expiry even at N = 1000); the wheels use a clock of
 *           their own and advance to the last deadline.
 * Every figure is the median of BENCH_MICRO_RUNS runs (default 7, at least 5). The
 * ratio sysnet/peer is, as in every bench table, the peer's time over sysnet's: how
 * many times faster sysnet is (above 1, it is).
 * Built by the Makefile's generic bench rule, with libuv and libev when their -dev
 * packages are installed (bench/loop/peers.sh); a missing one prints "peer missing".
 * When BENCH_SUMMARY names a file, key=value lines are appended to it. */
#include "../common.h"

#include <sysnet/base.h>
#include <sysnet/loop.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef SN_HAVE_UV
#include <uv.h>
#endif
#ifdef SN_HAVE_EV
#include <ev.h>
#endif

/* ---- helpers ---------------------------------------------------------------------- */

static void *xalloc(size_t n)
{
    void *p = aligned_alloc(64, (n + 63) & ~(size_t)63);
    if (!p) {
        fprintf(stderr, "bench_timers: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    memset(p, 0, n); /* touch every page now, not inside a timed pass */
    return p;
}

static uint64_t rng_state;
static uint64_t rng(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* Wait for the clock to pass t_ns by spinning, not sleeping: after a sleep the CPU
 * would come back from an idle state with cold caches and a low clock, and the
 * expiry that follows would pay for it (the wheels, on their own clock, would not). */
static void spin_until(uint64_t t_ns)
{
    while (sn_now_ns() < t_ns)
        __asm__ volatile("" ::: "memory");
}

/* The workload shared by every implementation. */
struct work {
    size_t n;
    uint64_t *delay;   /* ns, uniform in [1 ms, span] */
    uint32_t *stop;    /* stop[0 .. n/2) are stopped, in that order; the rest expire */
    uint64_t max_delay;
};

static size_t fired; /* every callback adds one */

/* A run's result: ns per start, per stop, per expiry; or missing. */
enum { OP_START, OP_STOP, OP_EXPIRE, OPS };
static const char *const op_name[OPS] = {"start", "stop", "expire"};

static int check_fired(const char *who, size_t want)
{
    if (fired == want)
        return 0;
    fprintf(stderr, "bench_timers: %s: %zu of %zu timers expired\n", who, fired, want);
    return -1;
}

/* ---- sysnet ---------------------------------------------------------------------- */

static void on_sn_timer(struct sn_timer *t)
{
    (void)t;
    fired++;
}

static int run_sysnet(const struct work *w, double out[OPS])
{
    struct sn_loop *l;
    int err = sn_loop_open(&l, NULL);
    if (err < 0) {
        fprintf(stderr, "bench_timers: sn_loop_open: %s\n", sn_strerror(err));
        return -1;
    }
    size_t n = w->n, half = n / 2;
    struct sn_timer *t = xalloc(n * sizeof(*t));
    for (size_t i = 0; i < n; i++) /* warm-up: the heap grows to n once */
        sn_timer_start(l, &t[i], on_sn_timer, w->delay[i], 0);
    for (size_t i = 0; i < n; i++)
        sn_timer_stop(&t[i]);
    sn_loop_update_time(l);
    uint64_t base = sn_now_ns();

    uint64_t t0 = sn_now_ns();
    for (size_t i = 0; i < n; i++)
        sn_timer_start(l, &t[i], on_sn_timer, w->delay[i], 0);
    uint64_t t1 = sn_now_ns();
    for (size_t i = 0; i < half; i++)
        sn_timer_stop(&t[w->stop[i]]);
    uint64_t t2 = sn_now_ns();
    spin_until(base + w->max_delay + 2 * SN_MS);
    fired = 0;
    uint64_t t3 = sn_now_ns();
    sn_loop_run(l, SN_RUN_NOWAIT);
    uint64_t t4 = sn_now_ns();

    out[OP_START] = (double)(t1 - t0) / (double)n;
    out[OP_STOP] = (double)(t2 - t1) / (double)half;
    out[OP_EXPIRE] = (double)(t4 - t3) / (double)(n - half);
    int rc = check_fired("sysnet", n - half);
    for (size_t i = 0; i < n; i++)
        sn_timer_stop(&t[i]);
    sn_loop_close(l);
    free(t);
    return rc;
}

/* ---- libuv ----------------------------------------------------------------------- */

#ifdef SN_HAVE_UV
static void on_uv_timer(uv_timer_t *h)
{
    (void)h;
    fired++;
}

static int run_uv(const struct work *w, double out[OPS])
{
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        return -1;
    size_t n = w->n, half = n / 2;
    uv_timer_t *t = xalloc(n * sizeof(*t));
    uint64_t *ms = xalloc(n * sizeof(*ms)); /* libuv counts in ms: rounded up */
    for (size_t i = 0; i < n; i++) {
        uv_timer_init(&loop, &t[i]);
        ms[i] = (w->delay[i] + SN_MS - 1) / SN_MS;
    }
    for (size_t i = 0; i < n; i++)
        uv_timer_start(&t[i], on_uv_timer, ms[i], 0);
    for (size_t i = 0; i < n; i++)
        uv_timer_stop(&t[i]);
    uv_update_time(&loop);
    uint64_t base = sn_now_ns();

    uint64_t t0 = sn_now_ns();
    for (size_t i = 0; i < n; i++)
        uv_timer_start(&t[i], on_uv_timer, ms[i], 0);
    uint64_t t1 = sn_now_ns();
    for (size_t i = 0; i < half; i++)
        uv_timer_stop(&t[w->stop[i]]);
    uint64_t t2 = sn_now_ns();
    spin_until(base + w->max_delay + 3 * SN_MS); /* loop time is ms, truncated */
    fired = 0;
    uint64_t t3 = sn_now_ns();
    uv_run(&loop, UV_RUN_NOWAIT);
    uint64_t t4 = sn_now_ns();

    out[OP_START] = (double)(t1 - t0) / (double)n;
    out[OP_STOP] = (double)(t2 - t1) / (double)half;
    out[OP_EXPIRE] = (double)(t4 - t3) / (double)(n - half);
    int rc = check_fired("libuv", n - half);
    for (size_t i = 0; i < n; i++)
        uv_close((uv_handle_t *)&t[i], NULL);
    uv_run(&loop, UV_RUN_DEFAULT); /* runs the close callbacks */
    uv_loop_close(&loop);
    free(ms);
    free(t);
    return rc;
}
#endif

/* ---- libev ----------------------------------------------------------------------- */

#ifdef SN_HAVE_EV
static void on_ev_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)t;
    (void)revents;
    fired++;
}

static int run_ev(const struct work *w, double out[OPS])
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    if (!loop)
        return -1;
    size_t n = w->n, half = n / 2;
    ev_timer *t = xalloc(n * sizeof(*t));
    for (size_t i = 0; i < n; i++)
        ev_timer_init(&t[i], on_ev_timer, (double)w->delay[i] * 1e-9, 0.);
    /* ev_timer_stop leaves the delay in the watcher, so it can be started again. */
    for (size_t i = 0; i < n; i++)
        ev_timer_start(loop, &t[i]);
    for (size_t i = 0; i < n; i++)
        ev_timer_stop(loop, &t[i]);
    ev_now_update(loop);
    uint64_t base = sn_now_ns();

    uint64_t t0 = sn_now_ns();
    for (size_t i = 0; i < n; i++)
        ev_timer_start(loop, &t[i]);
    uint64_t t1 = sn_now_ns();
    for (size_t i = 0; i < half; i++)
        ev_timer_stop(loop, &t[w->stop[i]]);
    uint64_t t2 = sn_now_ns();
    spin_until(base + w->max_delay + 2 * SN_MS);
    fired = 0;
    uint64_t t3 = sn_now_ns();
    ev_run(loop, EVRUN_NOWAIT);
    uint64_t t4 = sn_now_ns();

    out[OP_START] = (double)(t1 - t0) / (double)n;
    out[OP_STOP] = (double)(t2 - t1) / (double)half;
    out[OP_EXPIRE] = (double)(t4 - t3) / (double)(n - half);
    int rc = check_fired("libev", n - half);
    for (size_t i = 0; i < n; i++)
        ev_timer_stop(loop, &t[i]);
    ev_loop_destroy(loop);
    free(t);
    return rc;
}
#endif

/* ---- the reference hierarchical timing wheel ----------------------------------------
 * Varghese & Lauck's hierarchical wheel as tokio lays it out: LEVELS levels of 64
 * slots; a slot of level L spans 64^L ticks. A timer goes to the level of the highest
 * 6-bit digit in which its deadline differs from the wheel's `elapsed` tick (so the
 * slots ahead of `elapsed` on each level hold exactly the timers due within that
 * level's range), into a doubly linked list: start and stop are O(1). Advancing finds
 * the next non-empty slot with one rotate + count-trailing-zeros per level; a level-0
 * slot fires, a higher slot is re-distributed ("cascaded") to lower levels. Deadlines
 * are rounded up to a tick, so a timer fires up to one tick late, never early. */
#define WHEEL_LEVELS 6
#define WHEEL_BITS 6
#define WHEEL_SLOTS 64u
#define WHEEL_RANGE (1ull << (WHEEL_LEVELS * WHEEL_BITS)) /* ticks */
#define WHEEL_IDLE 0xffffu

struct wtimer {
    struct wtimer *next, *prev;
    uint64_t when; /* deadline, in ticks */
    void (*cb)(struct wtimer *t);
    void *data;
    uint16_t where; /* level * 64 + slot while started, WHEEL_IDLE otherwise */
};

struct wheel {
    uint64_t tick_ns;
    uint64_t elapsed; /* ticks */
    uint64_t occupied[WHEEL_LEVELS];
    struct wtimer *slot[WHEEL_LEVELS][WHEEL_SLOTS];
};

static void wheel_link(struct wheel *w, struct wtimer *t)
{
    if (t->when < w->elapsed)
        t->when = w->elapsed;
    uint64_t masked = (w->elapsed ^ t->when) | (WHEEL_SLOTS - 1);
    if (masked >= WHEEL_RANGE)
        masked = WHEEL_RANGE - 1;
    unsigned level = (unsigned)(63 - __builtin_clzll(masked)) / WHEEL_BITS;
    unsigned s = (unsigned)(t->when >> (level * WHEEL_BITS)) & (WHEEL_SLOTS - 1);
    struct wtimer **head = &w->slot[level][s];
    t->prev = NULL;
    t->next = *head;
    if (*head)
        (*head)->prev = t;
    *head = t;
    w->occupied[level] |= 1ull << s;
    t->where = (uint16_t)(level * WHEEL_SLOTS + s);
}

static void wheel_start(struct wheel *w, struct wtimer *t, void (*cb)(struct wtimer *), uint64_t now_ns,
                        uint64_t delay_ns)
{
    t->cb = cb;
    t->when = (now_ns + delay_ns + w->tick_ns - 1) / w->tick_ns; /* rounded up */
    wheel_link(w, t);
}

static void wheel_stop(struct wheel *w, struct wtimer *t)
{
    if (t->where == WHEEL_IDLE)
        return;
    unsigned level = t->where / WHEEL_SLOTS, s = t->where % WHEEL_SLOTS;
    if (t->prev)
        t->prev->next = t->next;
    else
        w->slot[level][s] = t->next;
    if (t->next)
        t->next->prev = t->prev;
    if (!w->slot[level][s])
        w->occupied[level] &= ~(1ull << s);
    t->where = WHEEL_IDLE;
}

/* The first non-empty slot at or after `elapsed` on the lowest non-empty level, and
 * the tick at which it starts; 0 if the wheel is empty. */
static int wheel_next(const struct wheel *w, unsigned *level, unsigned *slot, uint64_t *at)
{
    for (unsigned l = 0; l < WHEEL_LEVELS; l++) {
        uint64_t occ = w->occupied[l];
        if (!occ)
            continue;
        unsigned shift = l * WHEEL_BITS;
        unsigned now = (unsigned)(w->elapsed >> shift) & (WHEEL_SLOTS - 1);
        uint64_t rot = now ? (occ >> now) | (occ << (64 - now)) : occ;
        unsigned s = ((unsigned)__builtin_ctzll(rot) + now) & (WHEEL_SLOTS - 1);
        uint64_t level_range = 1ull << (shift + WHEEL_BITS);
        uint64_t start = (w->elapsed & ~(level_range - 1)) + ((uint64_t)s << shift);
        if (s < now) /* only on the top level, for deadlines past its range */
            start += level_range;
        *level = l;
        *slot = s;
        *at = start;
        return 1;
    }
    return 0;
}

/* Fire every timer due at or before tick `now`. */
static void wheel_advance(struct wheel *w, uint64_t now)
{
    unsigned l, s;
    uint64_t at;
    while (wheel_next(w, &l, &s, &at) && at <= now) {
        w->elapsed = at;
        struct wtimer *list = w->slot[l][s];
        w->slot[l][s] = NULL;
        w->occupied[l] &= ~(1ull << s);
        while (list) {
            struct wtimer *t = list;
            list = t->next;
            if (t->when <= at) {
                t->where = WHEEL_IDLE;
                t->cb(t);
            } else {
                wheel_link(w, t); /* cascade to a lower level */
            }
        }
    }
    if (now > w->elapsed)
        w->elapsed = now;
}

static void on_wheel_timer(struct wtimer *t)
{
    (void)t;
    fired++;
}

static int run_wheel(const struct work *w, double out[OPS], uint64_t tick_ns, const char *name)
{
    struct wheel *wh = xalloc(sizeof(*wh));
    wh->tick_ns = tick_ns;
    size_t n = w->n, half = n / 2;
    struct wtimer *t = xalloc(n * sizeof(*t));
    for (size_t i = 0; i < n; i++)
        t[i].where = WHEEL_IDLE;
    uint64_t now_ns = 0; /* the wheel's own clock */
    for (size_t i = 0; i < n; i++)
        wheel_start(wh, &t[i], on_wheel_timer, now_ns, w->delay[i]);
    for (size_t i = 0; i < n; i++)
        wheel_stop(wh, &t[i]);

    uint64_t t0 = sn_now_ns();
    for (size_t i = 0; i < n; i++)
        wheel_start(wh, &t[i], on_wheel_timer, now_ns, w->delay[i]);
    uint64_t t1 = sn_now_ns();
    for (size_t i = 0; i < half; i++)
        wheel_stop(wh, &t[w->stop[i]]);
    uint64_t t2 = sn_now_ns();
    fired = 0;
    uint64_t last = (now_ns + w->max_delay + tick_ns - 1) / tick_ns;
    uint64_t t3 = sn_now_ns();
    wheel_advance(wh, last);
    uint64_t t4 = sn_now_ns();

    out[OP_START] = (double)(t1 - t0) / (double)n;
    out[OP_STOP] = (double)(t2 - t1) / (double)half;
    out[OP_EXPIRE] = (double)(t4 - t3) / (double)(n - half);
    int rc = check_fired(name, n - half);
    free(t);
    free(wh);
    return rc;
}

static int run_wheel_1ms(const struct work *w, double out[OPS])
{
    return run_wheel(w, out, SN_MS, "wheel_1ms");
}

static int run_wheel_1us(const struct work *w, double out[OPS])
{
    return run_wheel(w, out, SN_US, "wheel_1us");
}

/* The wheel checks itself before it is timed: every timer fires in the advance that
 * passes its deadline tick (not before, not later), stopped ones never, over deadlines
 * spanning three levels and advances of random length. */
static uint64_t check_lo, check_hi;
static size_t check_bad;
static void on_check_timer(struct wtimer *t)
{
    fired++;
    if (t->when <= check_lo || t->when > check_hi || t->data)
        check_bad++;
}

static int wheel_selftest(void)
{
    enum { NT = 20000 };
    static struct wheel wh;
    static struct wtimer t[NT];
    wh.tick_ns = 1;
    rng_state = 12345;
    size_t live = 0;
    for (size_t i = 0; i < NT; i++) {
        t[i].where = WHEEL_IDLE;
        wheel_start(&wh, &t[i], on_check_timer, 0, 1 + rng() % 300000);
        t[i].data = NULL;
    }
    for (size_t i = 0; i < NT; i++) {
        if (rng() % 3 == 0) {
            wheel_stop(&wh, &t[i]);
            t[i].data = &wh; /* marks "must not fire" */
        } else {
            live++;
        }
    }
    fired = 0;
    check_lo = 0;
    while (check_lo < 300000) {
        check_hi = check_lo + 1 + rng() % 5000;
        wheel_advance(&wh, check_hi);
        check_lo = check_hi;
    }
    if (fired != live || check_bad) {
        fprintf(stderr, "bench_timers: the reference wheel is wrong: %zu of %zu fired, %zu at the wrong time\n",
                fired, live, check_bad);
        return -1;
    }
    return 0;
}

/* ---- the table -------------------------------------------------------------------- */

struct impl {
    const char *key;   /* summary key and column */
    const char *what;  /* the data structure */
    int (*run)(const struct work *w, double out[OPS]); /* NULL: peer missing */
};

static const struct impl impls[] = {
    {"sysnet", "4-ary heap, ns", run_sysnet},
#ifdef SN_HAVE_UV
    {"libuv", "binary heap, ms", run_uv},
#else
    {"libuv", "binary heap, ms", NULL},
#endif
#ifdef SN_HAVE_EV
    {"libev", "4-ary heap, s (double)", run_ev},
#else
    {"libev", "4-ary heap, s (double)", NULL},
#endif
    {"wheel_1ms", "wheel 6x64, 1 ms tick", run_wheel_1ms},
    {"wheel_1us", "wheel 6x64, 1 us tick", run_wheel_1us},
};
#define NIMPL (sizeof(impls) / sizeof(impls[0]))

static void make_work(struct work *w, size_t n, uint64_t span_ns)
{
    rng_state = 0x9e3779b97f4a7c15ull ^ n;
    w->n = n;
    w->delay = xalloc(n * sizeof(*w->delay));
    w->stop = xalloc(n * sizeof(*w->stop));
    w->max_delay = 0;
    for (size_t i = 0; i < n; i++) {
        w->delay[i] = SN_MS + rng() % (span_ns - SN_MS + 1);
        if (w->delay[i] > w->max_delay)
            w->max_delay = w->delay[i];
        w->stop[i] = (uint32_t)i;
    }
    for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        size_t j = (size_t)(rng() % (i + 1));
        uint32_t x = w->stop[i];
        w->stop[i] = w->stop[j];
        w->stop[j] = x;
    }
}

static int bench_n(size_t n, uint64_t span_ns, int runs)
{
    struct work w;
    make_work(&w, n, span_ns);
    static double res[NIMPL][OPS][101];
    int ok[NIMPL], fail = 0;
    for (size_t k = 0; k < NIMPL; k++)
        ok[k] = impls[k].run != NULL;
    for (int r = 0; r < runs; r++) {
        for (size_t k = 0; k < NIMPL; k++) { /* in turns: a noisy neighbour hits all */
            if (!ok[k])
                continue;
            double out[OPS];
            if (impls[k].run(&w, out) < 0) {
                ok[k] = 0;
                fail = 1;
                continue;
            }
            for (int o = 0; o < OPS; o++)
                res[k][o][r] = out[o];
        }
    }
    double med[NIMPL][OPS];
    for (size_t k = 0; k < NIMPL; k++)
        for (int o = 0; o < OPS; o++)
            med[k][o] = ok[k] ? median(res[k][o], runs) : 0;

    for (size_t k = 0; k < NIMPL; k++) {
        printf("  %8zu  %-10s %-24s", n, impls[k].key, impls[k].what);
        if (!ok[k]) {
            printf(" %8s\n", impls[k].run ? "failed" : "peer missing");
            summary("loop.timers.%zu.%s=%s", n, impls[k].key, impls[k].run ? "failed" : "peer_missing");
            continue;
        }
        for (int o = 0; o < OPS; o++) {
            printf(" %8.1f", med[k][o]);
            summary("loop.timers.%zu.%s.%s_ns=%.1f", n, impls[k].key, op_name[o], med[k][o]);
        }
        if (k == 0 || !ok[0]) {
            printf("\n");
            continue;
        }
        printf("   ");
        for (int o = 0; o < OPS; o++) {
            double ratio = med[k][o] / med[0][o];
            printf(" %6.2f", ratio);
            summary("loop.timers.%zu.sysnet_per_%s.%s=%.2f", n, impls[k].key, op_name[o], ratio);
        }
        printf("\n");
    }
    free(w.delay);
    free(w.stop);
    return fail;
}

int main(int argc, char **argv)
{
    size_t ns[16];
    int nn = 0;
    for (int i = 1; i < argc; i++) {
        char *end;
        unsigned long long v = strtoull(argv[i], &end, 10);
        if (*end || v < 2 || v > 10000000 || nn == (int)(sizeof(ns) / sizeof(ns[0]))) {
            fprintf(stderr,
                    "usage: bench_timers [N ...]   (2 <= N <= 10000000; default 1000 100000 1000000)\n"
                    "  ns per timer start / stop / expiry for sysnet, libuv, libev and a reference\n"
                    "  timing wheel; BENCH_MICRO_RUNS runs (default 7), delays uniform in\n"
                    "  [1 ms, BENCH_TIMER_SPAN_MS] (default 100); key=value lines to $BENCH_SUMMARY.\n");
            return 2;
        }
        ns[nn++] = (size_t)v;
    }
    if (nn == 0) {
        ns[nn++] = 1000;
        ns[nn++] = 100000;
        ns[nn++] = 1000000;
    }
    const char *sp = getenv("BENCH_TIMER_SPAN_MS");
    uint64_t span_ms = sp && *sp ? strtoull(sp, NULL, 10) : 100;
    if (span_ms < 2 || span_ms > 100000)
        span_ms = 100;
    int runs = micro_runs();
    if (wheel_selftest() < 0)
        return 1;

    printf("timers: N timers started with random delays in [1 ms, %llu ms], N/2 stopped in random\n"
           "order, N/2 expired in one loop iteration; ns per operation, median of %d runs\n",
           (unsigned long long)span_ms, runs);
    printf("  %8s  %-10s %-24s %8s %8s %8s    %s\n", "N", "impl", "structure", "start", "stop", "expire",
           "sysnet/peer: start stop expire");
    int fail = 0;
    for (int i = 0; i < nn; i++)
        fail |= bench_n(ns[i], span_ms * SN_MS, runs);
    printf("  (sysnet/peer = the row's ns / sysnet's ns: how many times faster sysnet is, above 1 it is;\n"
           "   the wheels round deadlines up to their tick: a 1 ms wheel fires up to 1 ms late)\n");
    summary("loop.timers.span_ms=%llu", (unsigned long long)span_ms);
    return fail;
}
