/* test_loop.c — the callback loop (include/sysnet/loop.h) on every backend that
 * opens here: each LOOP_TEST(x) runs as x_epoll, x_uring and x_poll (a backend the
 * kernel lacks, -ENOSYS/-EPERM/-EOPNOTSUPP, is skipped), so `test_loop _uring` runs
 * one backend. Timing is only ever checked as "not early" (against CLOCK_MONOTONIC)
 * and against generous upper bounds: these machines have 2 loaded cores.
 * Network traffic: loopback only (127.0.0.1) and socketpairs. */
#include "../harness.h"
#include <sysnet/loop.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

/* ======================================================================
 * helpers
 * ====================================================================== */

static int g_backend;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static int open_loop_opts(struct sn_loop **l, struct sn_loop_opts *o)
{
    o->backend = g_backend;
    return sn_loop_open(l, o);
}

static int open_loop(struct sn_loop **l)
{
    struct sn_loop_opts o = {0};
    return open_loop_opts(l, &o);
}

static void on_backend(int backend, void (*fn)(void))
{
    g_backend = backend;
    struct sn_loop *l;
    int err = open_loop(&l);
    if (err == -ENOSYS || err == -EPERM || err == -EOPNOTSUPP) {
        char why[96];
        snprintf(why, sizeof(why), "backend %s does not open here (%s)", sn_backend_name(backend),
                 sn_errname(err));
        SKIP(why);
    }
    CHECK_EQ(err, 0);
    CHECK_EQ(sn_poller_backend(sn_loop_poller(l)), backend);
    CHECK_EQ(sn_loop_close(l), 0);
    fn();
}

#define LOOP_TEST(name)                                                                  \
    static void lt_##name(void);                                                         \
    SN_TEST(name##_epoll) { on_backend(SN_BACKEND_EPOLL, lt_##name); }                   \
    SN_TEST(name##_uring) { on_backend(SN_BACKEND_URING, lt_##name); }                   \
    SN_TEST(name##_poll) { on_backend(SN_BACKEND_POLL, lt_##name); }                     \
    static void lt_##name(void)

/* A watchdog: a test whose chain of callbacks breaks ends instead of hanging. */
static int g_timed_out;
static void watchdog_cb(struct sn_timer *t)
{
    g_timed_out = 1;
    sn_loop_stop(t->loop);
}
static int watchdog(struct sn_loop *l, struct sn_timer *t)
{
    g_timed_out = 0;
    return sn_timer_start(l, t, watchdog_cb, 20 * SN_SEC, 0);
}

static int tcp_socket(void)
{
    return socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

/* A TCP socket bound to 127.0.0.1 on a free port, listening if backlog > 0. */
static int tcp_bound(struct sockaddr_in *sa, int backlog)
{
    int fd = tcp_socket();
    if (fd < 0)
        return -1;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(*sa);
    if (bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)sa, &len) < 0 || (backlog > 0 && listen(fd, backlog) < 0)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int sockpair(int sv[2])
{
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
}

/* ======================================================================
 * timers
 * ====================================================================== */

struct rec {
    int order[64];
    int n;
};
static struct rec g_rec;

struct ttimer {
    struct sn_timer t;
    int id;
    uint64_t due;      /* loop time at start + delay: CLOCK_MONOTONIC must be past it */
};

static void rec_cb(struct sn_timer *t)
{
    struct ttimer *x = (struct ttimer *)t->data;
    CHECK(sn_now_ns() >= x->due); /* never early */
    CHECK(!sn_timer_active(t));  /* a one-shot is stopped before its cb */
    if (g_rec.n < (int)SN_COUNTOF(g_rec.order))
        g_rec.order[g_rec.n++] = x->id;
}

static int tstart(struct sn_loop *l, struct ttimer *x, int id, uint64_t delay, sn_timer_cb cb)
{
    x->id = id;
    x->t.data = x;
    x->due = sn_loop_now(l) + delay;
    return sn_timer_start(l, &x->t, cb, delay, 0);
}

LOOP_TEST(timer_order)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    memset(&g_rec, 0, sizeof(g_rec));
    struct ttimer x[5];
    static const uint64_t ms[5] = {30, 10, 20, 0, 5};
    for (int i = 0; i < 5; i++)
        CHECK_EQ(tstart(l, &x[i], i, ms[i] * SN_MS, rec_cb), 0);
    CHECK_EQ(sn_loop_alive(l), 5);
    uint64_t t0 = sn_now_ns();
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    CHECK(sn_now_ns() - t0 < 10 * SN_SEC);
    CHECK_EQ(g_rec.n, 5);
    static const int want[5] = {3, 4, 1, 2, 0};
    for (int i = 0; i < 5; i++)
        CHECK_EQ(g_rec.order[i], want[i]);
    CHECK_EQ(sn_loop_alive(l), 0);
    CHECK_EQ(sn_loop_close(l), 0);
}

LOOP_TEST(timer_ties_in_start_order)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    memset(&g_rec, 0, sizeof(g_rec));
    struct ttimer x[8];
    /* Same loop time, same delay: equal deadlines, so start order decides. */
    for (int i = 0; i < 8; i++)
        CHECK_EQ(tstart(l, &x[i], i, 2 * SN_MS, rec_cb), 0);
    /* A restart is a new start: 3 goes after 7 (same deadline, later seq). */
    CHECK_EQ(tstart(l, &x[3], 3, 2 * SN_MS, rec_cb), 0);
    CHECK_EQ(sn_loop_alive(l), 8);
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    static const int want[8] = {0, 1, 2, 4, 5, 6, 7, 3};
    CHECK_EQ(g_rec.n, 8);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(g_rec.order[i], want[i]);
    CHECK_EQ(sn_loop_close(l), 0);
}

/* ---- repeat: re-armed from the deadline, missed periods skipped ---------------- */

struct rep {
    struct sn_timer t;
    uint64_t d0, period, due;
    int n, limit, sleep_at, bursts, misphase;
    int early;
};

static void rep_cb(struct sn_timer *t)
{
    struct rep *r = t->data;
    if (sn_now_ns() < r->due)
        r->early++;
    /* Re-armed before cb: the next deadline is in the future (no burst of missed
     * periods) and on the original phase (no drift). */
    if (t->deadline <= sn_loop_now(t->loop))
        r->bursts++;
    if ((t->deadline - r->d0) % r->period != 0)
        r->misphase++;
    r->due = t->deadline;
    if (++r->n == r->sleep_at) {
        struct timespec ts = {0, (long)(r->period * 7 / 2)}; /* fall 3.5 periods behind */
        nanosleep(&ts, NULL);
    }
    if (r->n == r->limit)
        sn_timer_stop(t);
}

LOOP_TEST(timer_repeat_no_drift_skips_missed)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    struct rep r = {.period = 5 * SN_MS, .limit = 12, .sleep_at = 4};
    r.t.data = &r;
    sn_loop_update_time(l);
    r.d0 = sn_loop_now(l) + 3 * SN_MS;
    r.due = r.d0;
    CHECK_EQ(sn_timer_start(l, &r.t, rep_cb, 3 * SN_MS, r.period), 0);
    CHECK_EQ(r.t.deadline, r.d0);
    uint64_t t0 = sn_now_ns();
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    CHECK_EQ(r.n, 12);
    CHECK_EQ(r.early, 0);
    CHECK_EQ(r.bursts, 0);
    CHECK_EQ(r.misphase, 0);
    /* 12 runs, one of which slept 3.5 periods: at least (11 + 3) periods passed. */
    CHECK(sn_now_ns() - t0 >= 3 * SN_MS + 14 * r.period);
    CHECK(r.t.deadline - r.d0 >= 14 * r.period); /* the missed periods were skipped */
    CHECK_EQ(sn_loop_close(l), 0);
}

/* ---- never early ------------------------------------------------------------- */

static struct ttimer g_ne[64];
static int g_ne_fired;
static void ne_cb(struct sn_timer *t)
{
    struct ttimer *x = t->data;
    CHECK(sn_now_ns() >= x->due);
    g_ne_fired++;
    /* Start another one from inside a callback (after the loop's time moved). */
    if (x->id < 32) {
        struct ttimer *y = &g_ne[x->id + 32];
        CHECK_EQ(tstart(t->loop, y, x->id + 32, (rnd() % 4000) * SN_US, ne_cb), 0);
    }
}

LOOP_TEST(timer_never_early)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    g_ne_fired = 0;
    for (int i = 0; i < 32; i++) {
        /* odd ns delays too: the poller must round up, not to the nearest ms */
        uint64_t d = (rnd() % 20) * SN_MS + rnd() % 1000;
        CHECK_EQ(tstart(l, &g_ne[i], i, d, ne_cb), 0);
        if (i % 8 == 0)
            sn_loop_update_time(l);
    }
    uint64_t t0 = sn_now_ns();
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    CHECK_EQ(g_ne_fired, 64);
    CHECK(sn_now_ns() - t0 < 10 * SN_SEC);
    CHECK_EQ(sn_loop_close(l), 0);
}

/* ---- stop and restart from callbacks ---------------------------------------- */

static struct ttimer g_sx[4];
static void stopper_cb(struct sn_timer *t)
{
    rec_cb(t);
    sn_timer_stop(&g_sx[1].t); /* due in this same iteration: must not run */
    sn_timer_stop(t);          /* itself (already stopped: a no-op) */
    sn_timer_stop(&g_sx[3].t); /* due later */
}

LOOP_TEST(timer_stop_inside_callbacks)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    memset(&g_rec, 0, sizeof(g_rec));
    CHECK_EQ(tstart(l, &g_sx[0], 0, 1 * SN_MS, stopper_cb), 0);
    CHECK_EQ(tstart(l, &g_sx[1], 1, 1 * SN_MS, rec_cb), 0);
    CHECK_EQ(tstart(l, &g_sx[2], 2, 1 * SN_MS, rec_cb), 0);
    CHECK_EQ(tstart(l, &g_sx[3], 3, 50 * SN_MS, rec_cb), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    CHECK_EQ(g_rec.n, 2);
    CHECK_EQ(g_rec.order[0], 0);
    CHECK_EQ(g_rec.order[1], 2);
    CHECK(!sn_timer_active(&g_sx[1].t) && !sn_timer_active(&g_sx[3].t));
    sn_timer_stop(&g_sx[1].t); /* stopping a stopped timer is fine */
    struct sn_timer z;
    memset(&z, 0, sizeof(z));
    sn_timer_stop(&z); /* and a zeroed one */
    CHECK(!sn_timer_active(&z));
    CHECK_EQ(sn_timer_start(l, NULL, rec_cb, 0, 0), -EINVAL);
    CHECK_EQ(sn_timer_start(l, &z, NULL, 0, 0), -EINVAL);
    CHECK_EQ(sn_loop_close(l), 0);
}

struct restarter {
    struct sn_timer t;
    int n, limit;
    uint64_t delay;
    int pass_runs;     /* runs within the current sn_loop_run(NOWAIT) */
};

static void restart_cb(struct sn_timer *t)
{
    struct restarter *r = t->data;
    r->n++;
    r->pass_runs++;
    if (r->n < r->limit)
        CHECK_EQ(sn_timer_start(t->loop, t, restart_cb, r->delay, 0), 0);
}

LOOP_TEST(timer_restart_in_own_callback)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    struct restarter r = {.limit = 5, .delay = 1 * SN_MS};
    r.t.data = &r;
    CHECK_EQ(sn_timer_start(l, &r.t, restart_cb, 1 * SN_MS, 0), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    CHECK_EQ(r.n, 5);
    /* Delay 0, restarted from its own callback: once per iteration, not forever. */
    struct restarter z = {.limit = 1000, .delay = 0};
    z.t.data = &z;
    CHECK_EQ(sn_timer_start(l, &z.t, restart_cb, 0, 0), 0);
    for (int i = 0; i < 10; i++) {
        z.pass_runs = 0;
        CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1);
        CHECK_EQ(z.pass_runs, 1);
    }
    /* Restart of an active timer from outside: still one timer. */
    CHECK_EQ(sn_timer_start(l, &z.t, restart_cb, 10 * SN_SEC, 0), 0);
    CHECK_EQ(sn_timer_start(l, &z.t, restart_cb, 10 * SN_SEC, 0), 0);
    CHECK_EQ(sn_loop_alive(l), 1);
    sn_timer_stop(&z.t);
    CHECK_EQ(sn_loop_alive(l), 0);
    CHECK_EQ(sn_loop_close(l), 0);
}

/* ---- 100k random starts and stops against a reference model ------------------ */

#define MODEL_N 512
struct mtimer {
    struct sn_timer t;
    int idx;
};
static struct mtimer g_mt[MODEL_N];
static int g_mfired[MODEL_N + 8], g_mnfired;

static int g_mstop_in_cb, g_mstopped[MODEL_N];
static void model_cb(struct sn_timer *t)
{
    struct mtimer *m = t->data;
    if (g_mnfired < (int)SN_COUNTOF(g_mfired))
        g_mfired[g_mnfired++] = m->idx;
    /* Some rounds: stop another timer from the callback (due in this same pass or
     * later); the model then expects it never to fire. */
    if (g_mstop_in_cb && rnd() % 4 == 0) {
        int j = (int)(rnd() % MODEL_N);
        if (sn_timer_active(&g_mt[j].t)) {
            sn_timer_stop(&g_mt[j].t);
            g_mstopped[j] = 1;
        }
    }
}

struct mstate {
    int active;
    uint64_t delay, seq;
};

static struct mstate *g_ms;
static int mcmp(const void *a, const void *b)
{
    const struct mstate *x = &g_ms[*(const int *)a], *y = &g_ms[*(const int *)b];
    if (x->delay != y->delay)
        return x->delay < y->delay ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

LOOP_TEST(timer_random_vs_model)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    static struct mstate ms[MODEL_N];
    g_ms = ms;
    uint64_t mseq = 0;
    for (int i = 0; i < MODEL_N; i++) {
        memset(&g_mt[i], 0, sizeof(g_mt[i]));
        g_mt[i].idx = i;
        g_mt[i].t.data = &g_mt[i];
        ms[i].active = 0;
    }
    for (int round = 0; round < 10; round++) {
        sn_loop_update_time(l);
        for (int op = 0; op < 10000; op++) {
            int i = (int)(rnd() % MODEL_N);
            if (rnd() % 4 != 0) {
                /* few distinct delays: many ties, so the seq order is exercised */
                uint64_t d = (rnd() % 16) * 50 * SN_US;
                CHECK_EQ(sn_timer_start(l, &g_mt[i].t, model_cb, d, 0), 0);
                ms[i] = (struct mstate){1, d, mseq++};
            } else {
                sn_timer_stop(&g_mt[i].t);
                ms[i].active = 0;
            }
            CHECK_EQ(sn_timer_active(&g_mt[i].t), ms[i].active);
        }
        int want[MODEL_N], nwant = 0;
        for (int i = 0; i < MODEL_N; i++)
            if (ms[i].active) {
                CHECK(sn_timer_active(&g_mt[i].t));
                CHECK_EQ(g_mt[i].t.deadline, sn_loop_now(l) + ms[i].delay);
                want[nwant++] = i;
            } else {
                CHECK(!sn_timer_active(&g_mt[i].t));
            }
        CHECK_EQ(sn_loop_alive(l), nwant);
        qsort(want, (size_t)nwant, sizeof(want[0]), mcmp);
        g_mnfired = 0;
        g_mstop_in_cb = round % 2;
        memset(g_mstopped, 0, sizeof(g_mstopped));
        CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
        int k = 0;
        for (int w = 0; w < nwant; w++) {
            if (g_mstopped[want[w]])
                continue; /* stopped by a callback before its turn */
            CHECK(k < g_mnfired);
            CHECK_EQ(g_mfired[k], want[w]);
            k++;
        }
        CHECK_EQ(g_mnfired, k);
        for (int i = 0; i < MODEL_N; i++)
            ms[i].active = 0;
    }
    CHECK_EQ(sn_loop_close(l), 0);
}

/* ---- a million timers ---------------------------------------------------------- */

static uint64_t g_last_deadline;
static int g_order_bad;
static long g_mil_fired;
static void mil_cb(struct sn_timer *t)
{
    if (t->deadline < g_last_deadline)
        g_order_bad++;
    g_last_deadline = t->deadline;
    g_mil_fired++;
}

LOOP_TEST(timer_million)
{
    enum { N = 1000000 };
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    struct sn_timer *ts = calloc(N, sizeof(*ts));
    uint32_t *perm = malloc(N * sizeof(*perm));
    CHECK(ts && perm);
    for (uint32_t i = 0; i < N; i++)
        perm[i] = i;
    for (uint32_t i = N - 1; i > 0; i--) {
        uint32_t j = rnd() % (i + 1), tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    /* Far deadlines (1..2 s) so nothing fires while we start and stop. */
    uint64_t t0 = sn_now_ns();
    for (uint32_t i = 0; i < N; i++)
        if (sn_timer_start(l, &ts[i], mil_cb, SN_SEC + (rnd() % 1000000) * SN_US, 0) != 0)
            break;
    uint64_t t1 = sn_now_ns();
    CHECK_EQ(sn_loop_alive(l), N);
    for (uint32_t i = 0; i < N; i++)
        sn_timer_stop(&ts[perm[i]]);
    uint64_t t2 = sn_now_ns();
    CHECK_EQ(sn_loop_alive(l), 0);
    /* Now expire a million (0..2 ms deadlines) in one go. */
    for (uint32_t i = 0; i < N; i++)
        CHECK_EQ(sn_timer_start(l, &ts[i], mil_cb, (rnd() % 2000) * SN_US, 0), 0);
    g_last_deadline = 0;
    g_order_bad = 0;
    g_mil_fired = 0;
    uint64_t t3 = sn_now_ns();
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    uint64_t t4 = sn_now_ns();
    CHECK_EQ(g_mil_fired, N);
    CHECK_EQ(g_order_bad, 0);
    printf("  timer_million_%s: start %.0f ns/op, stop (random order) %.0f ns/op, "
           "expire %.0f ns/op (ASan build)\n",
           sn_backend_name(g_backend), (double)(t1 - t0) / N, (double)(t2 - t1) / N,
           (double)(t4 - t3) / N);
    /* A sanity bound, not a speed assertion: minutes would mean O(n) somewhere. */
    CHECK(t4 - t0 < 120 * SN_SEC);
    free(ts);
    free(perm);
    CHECK_EQ(sn_loop_close(l), 0);
}

/* ======================================================================
 * io watchers
 * ====================================================================== */

struct tio {
    struct sn_io io;
    int calls;
    unsigned last;
    int read_it;   /* drain the fd in the callback */
};

static void tio_cb(struct sn_io *io, unsigned events)
{
    struct tio *t = io->data;
    t->calls++;
    t->last = events;
    if (t->read_it) {
        char buf[256];
        while (read(io->fd, buf, sizeof(buf)) > 0) {
        }
    }
}

LOOP_TEST(io_level_triggered)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    int sv[2];
    CHECK_EQ(sockpair(sv), 0);
    struct tio t = {0};
    t.io.data = &t;
    CHECK_EQ(sn_io_start(l, &t.io, sv[0], SN_READ, tio_cb), 0);
    CHECK_EQ(sn_loop_alive(l), 1);
    CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1);
    CHECK_EQ(t.calls, 0);
    CHECK_EQ(write(sv[1], "x", 1), 1);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(t.calls, 1);
    CHECK(t.last & SN_READ);
    /* Not read: level-triggered reports it again, every iteration. */
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1);
    CHECK_EQ(t.calls, 3);
    t.read_it = 1;
    CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1);
    CHECK_EQ(t.calls, 4);
    CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1);
    CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1);
    CHECK_EQ(t.calls, 4);
    /* The peer closes: readable (EOF) with a hang-up condition. */
    close(sv[1]);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(t.calls, 5);
    CHECK(t.last & SN_READ);
    CHECK(t.last & (SN_HUP | SN_RDHUP));
    sn_io_stop(&t.io);
    sn_io_stop(&t.io); /* twice is fine */
    CHECK_EQ(sn_loop_alive(l), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    close(sv[0]);
    CHECK_EQ(sn_loop_close(l), 0);
}

LOOP_TEST(io_edge_triggered)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    int sv[2];
    CHECK_EQ(sockpair(sv), 0);
    struct tio t = {0};
    t.io.data = &t;
    CHECK_EQ(sn_io_start(l, &t.io, sv[0], SN_READ | SN_EDGE, tio_cb), 0);
    CHECK_EQ(write(sv[1], "x", 1), 1);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(t.calls, 1);
    /* Not read, but no new data: an edge is reported once. poll(2) keeps no state
     * between calls and reports SN_EDGE like level (poll.c says why): there, only
     * "at least once per arrival" holds. */
    int exact = g_backend != SN_BACKEND_POLL;
    for (int i = 0; i < 3; i++)
        CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1);
    if (exact)
        CHECK_EQ(t.calls, 1);
    int before = t.calls;
    CHECK_EQ(write(sv[1], "y", 1), 1); /* a new edge */
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK(t.calls > before);
    if (exact)
        CHECK_EQ(t.calls, 2);
    sn_io_stop(&t.io);
    close(sv[0]);
    close(sv[1]);
    CHECK_EQ(sn_loop_close(l), 0);
}

LOOP_TEST(io_oneshot_rearm)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    int sv[2];
    CHECK_EQ(sockpair(sv), 0);
    struct tio t = {0};
    t.io.data = &t;
    CHECK_EQ(sn_io_start(l, &t.io, sv[0], SN_READ | SN_ONESHOT, tio_cb), 0);
    CHECK_EQ(write(sv[1], "x", 1), 1);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(t.calls, 1);
    /* Disarmed (still active: the handle counts, the loop is alive). */
    CHECK_EQ(write(sv[1], "y", 1), 1);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1);
    CHECK_EQ(t.calls, 1);
    CHECK_EQ(sn_loop_alive(l), 1);
    CHECK_EQ(sn_io_set(&t.io, SN_READ | SN_ONESHOT), 0); /* re-arm */
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(t.calls, 2);
    CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1);
    CHECK_EQ(t.calls, 2);
    sn_io_stop(&t.io);
    close(sv[0]);
    close(sv[1]);
    CHECK_EQ(sn_loop_close(l), 0);
}

LOOP_TEST(io_set_interest_and_errors)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    int sv[2];
    CHECK_EQ(sockpair(sv), 0);
    struct tio t = {0}, u = {0};
    t.io.data = &t;
    u.io.data = &u;
    CHECK_EQ(sn_io_start(l, &t.io, -1, SN_READ, tio_cb), -EINVAL);
    CHECK_EQ(sn_io_start(l, &t.io, sv[0], 0x10000, tio_cb), -EINVAL);
    CHECK_EQ(sn_io_start(l, &t.io, sv[0], SN_READ, NULL), -EINVAL);
    CHECK_EQ(sn_io_set(&t.io, SN_READ), -EINVAL); /* not started */
    CHECK_EQ(sn_io_start(l, &t.io, sv[0], SN_WRITE, tio_cb), 0);
    CHECK_EQ(sn_io_start(l, &t.io, sv[0], SN_WRITE, tio_cb), -EBUSY);
    CHECK_EQ(sn_io_start(l, &u.io, sv[0], SN_READ, tio_cb), -EEXIST);
    /* A socket with room in its buffer is writable at once. */
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(t.calls, 1);
    CHECK(t.last & SN_WRITE);
    CHECK(!(t.last & SN_READ));
    /* READ only: nothing to read, no event. */
    CHECK_EQ(sn_io_set(&t.io, SN_READ), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1);
    CHECK_EQ(t.calls, 1);
    CHECK_EQ(write(sv[1], "x", 1), 1);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(t.calls, 2);
    /* 0: watching nothing, still registered and active. */
    CHECK_EQ(sn_io_set(&t.io, 0), 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1);
    CHECK_EQ(t.calls, 2);
    CHECK_EQ(sn_loop_alive(l), 1);
    CHECK_EQ(sn_io_set(&t.io, SN_READ | SN_WRITE), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(t.calls, 3);
    CHECK_EQ(t.last & (SN_READ | SN_WRITE), SN_READ | SN_WRITE);
    sn_io_stop(&t.io);
    CHECK_EQ(sn_io_set(&t.io, SN_READ), -EINVAL);
    /* The fd is free for another watcher now. */
    CHECK_EQ(sn_io_start(l, &u.io, sv[0], SN_READ, tio_cb), 0);
    sn_io_stop(&u.io);
    CHECK_EQ(sn_loop_alive(l), 0);
    close(sv[0]);
    close(sv[1]);
    CHECK_EQ(sn_loop_close(l), 0);
}

/* epoll cannot modify an EPOLLEXCLUSIVE registration: sn_io_set registers the fd
 * again instead, to and from SN_EXCLUSIVE (backends without it ignore the flag). */
LOOP_TEST(io_set_exclusive)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    int sv[2];
    CHECK_EQ(sockpair(sv), 0);
    struct tio t = {0};
    t.io.data = &t;
    t.read_it = 1;
    CHECK_EQ(sn_io_start(l, &t.io, sv[0], SN_READ | SN_EXCLUSIVE, tio_cb), 0);
    CHECK_EQ(write(sv[1], "x", 1), 1);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(t.calls, 1);
    CHECK_EQ(sn_io_set(&t.io, SN_READ), 0);
    CHECK_EQ(write(sv[1], "x", 1), 1);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(t.calls, 2);
    CHECK_EQ(sn_io_set(&t.io, SN_READ | SN_EXCLUSIVE), 0);
    CHECK_EQ(write(sv[1], "x", 1), 1);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(t.calls, 3);
    /* EXCLUSIVE with ONESHOT is refused (by the poller), the old interest kept. */
    CHECK(sn_io_set(&t.io, SN_READ | SN_EXCLUSIVE | SN_ONESHOT) < 0);
    CHECK_EQ(t.io.interest, SN_READ | SN_EXCLUSIVE);
    CHECK_EQ(write(sv[1], "x", 1), 1);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(t.calls, 4);
    sn_io_stop(&t.io);
    close(sv[0]);
    close(sv[1]);
    CHECK_EQ(sn_loop_close(l), 0);
}

/* The cached time is refreshed after the wait: a callback woken by I/O sees a
 * "now" no older than the write that woke it, so the timers it starts count
 * their delay from then, not from before a long wait. */
static _Atomic uint64_t g_write_ns;
static uint64_t g_cb_loop_now;
static void *late_writer(void *arg)
{
    int fd = *(int *)arg;
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    atomic_store(&g_write_ns, sn_now_ns());
    if (write(fd, "x", 1) != 1)
        atomic_store(&g_write_ns, 0);
    return NULL;
}
static void time_io_cb(struct sn_io *io, unsigned events)
{
    (void)events;
    g_cb_loop_now = sn_loop_now(io->loop);
    sn_io_stop(io);
}

LOOP_TEST(loop_time_updated_after_wait)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    int sv[2];
    CHECK_EQ(sockpair(sv), 0);
    struct sn_io io;
    CHECK_EQ(sn_io_start(l, &io, sv[0], SN_READ, time_io_cb), 0);
    atomic_store(&g_write_ns, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, late_writer, &sv[1]), 0);
    int r = sn_loop_run(l, SN_RUN_DEFAULT);
    pthread_join(th, NULL);
    CHECK_EQ(r, 0);
    CHECK(atomic_load(&g_write_ns) != 0);
    CHECK(g_cb_loop_now >= atomic_load(&g_write_ns));
    close(sv[0]);
    close(sv[1]);
    CHECK_EQ(sn_loop_close(l), 0);
}

/* ---- a watcher stopped while an event for it waits in the same batch ---------- */

struct pairw {
    struct sn_io io;
    int sv[2];
    int calls;
    struct pairw *other;
};
static struct pairw *g_replacement, *g_survivor;
static int g_replacement_calls;

static void replacement_cb(struct sn_io *io, unsigned events)
{
    (void)io;
    (void)events;
    g_replacement_calls++;
}

static void pairw_cb(struct sn_io *io, unsigned events)
{
    (void)events;
    struct pairw *me = io->data, *o = me->other;
    me->calls++;
    if (!o)
        return;
    g_survivor = me;
    /* Stop the other (its event is already fetched: both were readable before the
     * wait), close its fd, free its struct, and put a new watcher on the same fd
     * number: neither the freed handle nor the new one may see the old event. */
    me->other = NULL;
    o->other = NULL;
    sn_io_stop(&o->io);
    int oldfd = o->sv[0];
    close(o->sv[0]);
    close(o->sv[1]);
    free(o);
    struct pairw *r = calloc(1, sizeof(*r));
    CHECK(r != NULL);
    CHECK_EQ(sockpair(r->sv), 0);
    if (r->sv[0] != oldfd) { /* make the new watcher's fd the reused number */
        int fd = dup2(r->sv[0], oldfd);
        CHECK_EQ(fd, oldfd);
        close(r->sv[0]);
        r->sv[0] = oldfd;
    }
    r->io.data = r;
    CHECK_EQ(sn_io_start(io->loop, &r->io, r->sv[0], SN_READ, replacement_cb), 0);
    g_replacement = r;
}

LOOP_TEST(io_stop_drops_fetched_event)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    struct pairw *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    CHECK(a && b);
    CHECK_EQ(sockpair(a->sv), 0);
    CHECK_EQ(sockpair(b->sv), 0);
    a->other = b;
    b->other = a;
    a->io.data = a;
    b->io.data = b;
    g_replacement = g_survivor = NULL;
    g_replacement_calls = 0;
    CHECK_EQ(sn_io_start(l, &a->io, a->sv[0], SN_READ, pairw_cb), 0);
    CHECK_EQ(sn_io_start(l, &b->io, b->sv[0], SN_READ, pairw_cb), 0);
    /* Let a first iteration register them (io_uring submits at the wait). */
    CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1);
    CHECK_EQ(write(a->sv[1], "x", 1), 1);
    CHECK_EQ(write(b->sv[1], "x", 1), 1);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK(g_replacement != NULL);
    /* Exactly one of a and b ran (the survivor: the other is freed). */
    struct pairw *s = g_survivor;
    CHECK(s == a || s == b);
    CHECK_EQ(s->calls, 1);
    CHECK_EQ(g_replacement_calls, 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1);
    CHECK_EQ(g_replacement_calls, 0);
    sn_io_stop(&g_replacement->io);
    sn_io_stop(&s->io);
    close(g_replacement->sv[0]);
    close(g_replacement->sv[1]);
    free(g_replacement);
    close(s->sv[0]);
    close(s->sv[1]);
    free(s);
    CHECK_EQ(sn_loop_alive(l), 0);
    CHECK_EQ(sn_loop_close(l), 0);
}

/* ======================================================================
 * completion operations over loopback TCP
 * ====================================================================== */

struct tcpctx {
    struct sn_loop *l;
    struct sn_op acc, conn[2], snd[2], rcv;
    struct sn_timer wd;
    struct sockaddr_in addr;
    int lfd, cfd[2], sfd[2], nacc;
    int connected, sent, recv_started, recvd, acc_final, acc_final_res, extra_fds;
    char rbuf[64];
};
static struct tcpctx g_tc;

static void tc_send_cb(struct sn_op *op, int res, unsigned flags, uint16_t buf)
{
    (void)op;
    (void)buf;
    CHECK_EQ(res, 5);
    CHECK(!(flags & SN_EV_MORE));
    g_tc.sent++;
}

static void tc_connect_cb(struct sn_op *op, int res, unsigned flags, uint16_t buf)
{
    (void)buf;
    CHECK_EQ(res, 0);
    CHECK(!(flags & SN_EV_MORE));
    int i = op == &g_tc.conn[0] ? 0 : 1;
    g_tc.connected++;
    /* Reusing the op struct of a finished operation is allowed: new op, new id. */
    CHECK_EQ(op->id, -1);
    CHECK_EQ(sn_op_send(g_tc.l, &g_tc.snd[i], g_tc.cfd[i], "hello", 5, tc_send_cb), 0);
}

static void tc_recv_cb(struct sn_op *op, int res, unsigned flags, uint16_t buf)
{
    (void)op;
    (void)buf;
    CHECK(!(flags & SN_EV_MORE));
    g_tc.recvd = res;
    CHECK_EQ(res, 5);
    CHECK_MEM(g_tc.rbuf, "hello", 5);
    /* Done: cancel the multishot accept; its final completion ends the test. */
    CHECK_EQ(sn_op_cancel(&g_tc.acc), 0);
}

static void tc_accept_cb(struct sn_op *op, int res, unsigned flags, uint16_t buf)
{
    (void)buf;
    if (!(flags & SN_EV_MORE)) {
        g_tc.acc_final = 1;
        g_tc.acc_final_res = res;
        if (res >= 0) /* the accept won the race with the cancel */
            close(res);
        CHECK_EQ(op->id, -1);
        sn_timer_stop(&g_tc.wd);
        return;
    }
    CHECK(res >= 0);
    CHECK_EQ(op->id >= 0, 1); /* still in flight between multishot results */
    if (g_tc.nacc < 2) {
        g_tc.sfd[g_tc.nacc++] = res;
    } else {
        g_tc.extra_fds++;
        close(res);
    }
    if (g_tc.nacc == 2 && !g_tc.recv_started) {
        g_tc.recv_started = 1;
        CHECK_EQ(sn_op_recv(g_tc.l, &g_tc.rcv, g_tc.sfd[0], g_tc.rbuf, sizeof(g_tc.rbuf), tc_recv_cb),
                 0);
    }
}

LOOP_TEST(op_accept_multishot_connect_send_recv_cancel)
{
    memset(&g_tc, 0, sizeof(g_tc));
    CHECK_EQ(open_loop(&g_tc.l), 0);
    struct sn_loop *l = g_tc.l;
    g_tc.lfd = tcp_bound(&g_tc.addr, 16);
    CHECK(g_tc.lfd >= 0);
    CHECK_EQ(watchdog(l, &g_tc.wd), 0);
    CHECK_EQ(sn_op_accept(l, &g_tc.acc, g_tc.lfd, SN_MULTISHOT, tc_accept_cb), 0);
    CHECK(g_tc.acc.id >= 0);
    CHECK_EQ(sn_op_accept(l, &g_tc.acc, g_tc.lfd, SN_MULTISHOT, tc_accept_cb), -EBUSY);
    for (int i = 0; i < 2; i++) {
        g_tc.cfd[i] = tcp_socket();
        CHECK(g_tc.cfd[i] >= 0);
        CHECK_EQ(sn_op_connect(l, &g_tc.conn[i], g_tc.cfd[i], (struct sockaddr *)&g_tc.addr,
                               sizeof(g_tc.addr), tc_connect_cb),
                 0);
    }
    CHECK_EQ(sn_loop_alive(l), 4); /* watchdog, accept, two connects */
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    CHECK(!g_timed_out);
    CHECK_EQ(g_tc.connected, 2);
    CHECK_EQ(g_tc.sent, 2);
    CHECK_EQ(g_tc.nacc, 2);
    CHECK_EQ(g_tc.extra_fds, 0);
    CHECK_EQ(g_tc.recvd, 5);
    CHECK_EQ(g_tc.acc_final, 1);
    CHECK_EQ(g_tc.acc_final_res, -ECANCELED);
    CHECK_EQ(sn_op_cancel(&g_tc.acc), -ENOENT); /* no longer in flight */
    for (int i = 0; i < 2; i++) {
        close(g_tc.cfd[i]);
        close(g_tc.sfd[i]);
    }
    close(g_tc.lfd);
    CHECK_EQ(sn_loop_close(l), 0);
}

struct opres {
    int calls, res;
    unsigned flags;
};
static void opres_cb(struct sn_op *op, int res, unsigned flags, uint16_t buf)
{
    (void)buf;
    struct opres *r = op->data;
    r->calls++;
    r->res = res;
    r->flags = flags;
}

/* A connected TCP pair on 127.0.0.1, both ends non-blocking. */
static int tcp_pair(int *a, int *b)
{
    struct sockaddr_in sa;
    int lfd = tcp_bound(&sa, 4), c = -1, s = -1;
    if (lfd < 0)
        return -1;
    c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* blocking connect: loopback */
    if (c >= 0 && connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        for (int i = 0; i < 2000 && s < 0; i++) {
            s = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (s < 0) {
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
            }
        }
    }
    close(lfd);
    if (s < 0) {
        if (c >= 0)
            close(c);
        return -1;
    }
    int fl = fcntl(c, F_GETFL);
    if (fl < 0 || fcntl(c, F_SETFL, fl | O_NONBLOCK) < 0) {
        close(c);
        close(s);
        return -1;
    }
    *a = c;
    *b = s;
    return 0;
}

static int run_until(struct sn_loop *l, const int *flag)
{
    uint64_t t0 = sn_now_ns();
    while (!*flag && sn_now_ns() - t0 < 20 * SN_SEC) {
        int r = sn_loop_run(l, SN_RUN_ONCE);
        if (r < 0)
            return r;
    }
    return *flag ? 0 : -ETIMEDOUT;
}

LOOP_TEST(op_recv_cancel_and_eof)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    int a, b;
    CHECK_EQ(tcp_pair(&a, &b), 0);
    struct sn_op op;
    memset(&op, 0, sizeof(op));
    struct opres r = {0};
    op.data = &r;
    CHECK_EQ(sn_op_cancel(&op), -ENOENT); /* never started (zeroed) */
    char buf[32];
    CHECK_EQ(sn_op_recv(l, &op, b, buf, sizeof(buf), opres_cb), 0);
    CHECK_EQ(sn_op_recv(l, &op, b, buf, sizeof(buf), opres_cb), -EBUSY);
    CHECK_EQ(sn_op_recv(l, NULL, b, buf, sizeof(buf), opres_cb), -EINVAL);
    CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1); /* in flight, nothing to read */
    CHECK_EQ(r.calls, 0);
    CHECK_EQ(sn_op_cancel(&op), 0);
    CHECK_EQ(run_until(l, &r.calls), 0);
    CHECK_EQ(r.calls, 1);
    CHECK_EQ(r.res, -ECANCELED);
    CHECK(!(r.flags & SN_EV_MORE));
    CHECK_EQ(sn_op_cancel(&op), -ENOENT);
    CHECK_EQ(sn_loop_alive(l), 0);
    /* Data, then EOF. */
    r.calls = 0;
    CHECK_EQ(write(a, "abc", 3), 3);
    CHECK_EQ(sn_op_recv(l, &op, b, buf, sizeof(buf), opres_cb), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    CHECK_EQ(r.calls, 1);
    CHECK_EQ(r.res, 3);
    CHECK_MEM(buf, "abc", 3);
    close(a);
    r.calls = 0;
    CHECK_EQ(sn_op_recv(l, &op, b, buf, sizeof(buf), opres_cb), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    CHECK_EQ(r.calls, 1);
    CHECK_EQ(r.res, 0);
    close(b);
    CHECK_EQ(sn_loop_close(l), 0);
}

LOOP_TEST(op_connect_refused)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    /* A port bound but not listening (kept bound, so nobody else takes it): the
     * kernel answers the SYN with a RST. */
    struct sockaddr_in sa;
    int hold = tcp_bound(&sa, 0);
    CHECK(hold >= 0);
    int c = tcp_socket();
    CHECK(c >= 0);
    struct sn_op op;
    memset(&op, 0, sizeof(op));
    struct opres r = {0};
    op.data = &r;
    CHECK_EQ(sn_op_connect(l, &op, c, (struct sockaddr *)&sa, sizeof(sa), opres_cb), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    CHECK_EQ(r.calls, 1);
    CHECK_EQ(r.res, -ECONNREFUSED);
    close(c);
    close(hold);
    CHECK_EQ(sn_loop_close(l), 0);
}

/* Multishot receive into provided buffers: each arrival is one callback with
 * SN_EV_BUF|SN_EV_MORE and a buffer id the caller gives back; cancel ends it. */
struct rgctx {
    struct sn_bufgroup *g;
    struct sn_op op;
    int calls, more, bytes, final_res, finals;
    char got[64];
};
static void rg_cb(struct sn_op *op, int res, unsigned flags, uint16_t buf)
{
    struct rgctx *c = op->data;
    c->calls++;
    if (!(flags & SN_EV_MORE)) {
        c->finals++;
        c->final_res = res;
    } else {
        c->more++;
    }
    if (res > 0) {
        CHECK(flags & SN_EV_BUF);
        if (c->bytes + res <= (int)sizeof(c->got))
            memcpy(c->got + c->bytes, sn_bufgroup_buf(c->g, buf), (size_t)res);
        c->bytes += res;
        sn_bufgroup_put(c->g, buf);
    }
}

LOOP_TEST(op_recv_group_multishot)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    int a, b;
    CHECK_EQ(tcp_pair(&a, &b), 0);
    struct rgctx c;
    memset(&c, 0, sizeof(c));
    c.op.data = &c;
    CHECK_EQ(sn_bufgroup_open(sn_loop_poller(l), &c.g, 4, 256), 0);
    CHECK_EQ(sn_op_recv_group(l, &c.op, b, c.g, SN_MULTISHOT, rg_cb), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1);
    CHECK_EQ(write(a, "abc", 3), 3);
    uint64_t t0 = sn_now_ns();
    while (c.bytes < 3 && sn_now_ns() - t0 < 20 * SN_SEC)
        CHECK(sn_loop_run(l, SN_RUN_ONCE) >= 0);
    CHECK_EQ(write(a, "defg", 4), 4);
    while (c.bytes < 7 && sn_now_ns() - t0 < 20 * SN_SEC)
        CHECK(sn_loop_run(l, SN_RUN_ONCE) >= 0);
    CHECK_EQ(c.bytes, 7);
    CHECK_MEM(c.got, "abcdefg", 7);
    CHECK(c.more >= 2);
    CHECK_EQ(c.finals, 0);
    CHECK_EQ(sn_loop_alive(l), 1); /* multishot: in flight until the final one */
    CHECK_EQ(sn_op_cancel(&c.op), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    CHECK_EQ(c.finals, 1);
    CHECK_EQ(c.final_res, -ECANCELED);
    sn_bufgroup_close(c.g);
    close(a);
    close(b);
    CHECK_EQ(sn_loop_close(l), 0);
}

/* ======================================================================
 * idle and deferred callbacks
 * ====================================================================== */

struct tidle {
    struct sn_idle h;
    int n, limit, restart_self;
    struct sn_timer *far;
};

static void idle_cb(struct sn_idle *h)
{
    struct tidle *t = h->data;
    t->n++;
    if (t->restart_self) {
        sn_idle_stop(h);
        CHECK_EQ(sn_idle_start(h->loop, h, idle_cb), 0);
    }
    if (t->n == t->limit) {
        sn_idle_stop(h);
        if (t->far)
            sn_timer_stop(t->far);
    }
}

static void never_cb(struct sn_timer *t)
{
    (void)t;
    sn_test_fail(__FILE__, __LINE__, "a timer that must not fire fired");
}

LOOP_TEST(idle_keeps_loop_spinning)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    struct sn_timer far;
    CHECK_EQ(sn_timer_start(l, &far, never_cb, 60 * SN_SEC, 0), 0);
    struct tidle t = {.limit = 1000, .far = &far};
    t.h.data = &t;
    CHECK_EQ(sn_idle_start(l, &t.h, idle_cb), 0);
    CHECK_EQ(sn_idle_start(l, &t.h, idle_cb), -EBUSY);
    /* ONCE does not block with an idle handle, although a timer is far away. */
    uint64_t t0 = sn_now_ns();
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(t.n, 1);
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    CHECK_EQ(t.n, 1000);
    CHECK(sn_now_ns() - t0 < 60 * SN_SEC); /* never waited for the timer */
    CHECK(!sn_timer_active(&far));
    /* An idle handle that stops and restarts itself runs once per iteration. */
    struct tidle u = {.limit = 50, .restart_self = 1};
    u.h.data = &u;
    CHECK_EQ(sn_idle_start(l, &u.h, idle_cb), 0);
    for (int i = 1; i <= 5; i++) {
        CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1);
        CHECK_EQ(u.n, i);
    }
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    CHECK_EQ(u.n, 50);
    sn_idle_stop(&u.h); /* stopped already: fine */
    CHECK_EQ(sn_loop_close(l), 0);
}

static char g_dlog[32];
static int g_dn;
struct tdefer {
    struct sn_defer d;
    char c;
    struct tdefer *queue, *cancel;
};
static void defer_cb(struct sn_defer *d)
{
    struct tdefer *t = d->data;
    if (g_dn < (int)sizeof(g_dlog) - 1)
        g_dlog[g_dn++] = t->c;
    if (t->queue)
        CHECK_EQ(sn_defer(d->loop, &t->queue->d, defer_cb), 0);
    if (t->cancel)
        sn_defer_cancel(&t->cancel->d);
}

static struct tdefer g_dfromtimer;
static void defer_timer_cb(struct sn_timer *t)
{
    CHECK_EQ(sn_defer(t->loop, &g_dfromtimer.d, defer_cb), 0);
}

LOOP_TEST(defer_order)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    memset(g_dlog, 0, sizeof(g_dlog));
    g_dn = 0;
    struct tdefer d[6];
    memset(d, 0, sizeof(d));
    for (int i = 0; i < 6; i++) {
        d[i].c = (char)('1' + i);
        d[i].d.data = &d[i];
    }
    d[0].queue = &d[3];  /* 1 queues 4: it waits for the next iteration */
    d[0].cancel = &d[2]; /* 1 cancels 3, which belongs to the pass in progress */
    CHECK_EQ(sn_defer(l, &d[0].d, defer_cb), 0);
    CHECK_EQ(sn_defer(l, &d[1].d, defer_cb), 0);
    CHECK_EQ(sn_defer(l, &d[2].d, defer_cb), 0);
    CHECK_EQ(sn_defer(l, &d[4].d, defer_cb), 0);
    CHECK_EQ(sn_defer(l, &d[5].d, defer_cb), 0);
    CHECK_EQ(sn_defer(l, &d[1].d, defer_cb), -EBUSY);
    sn_defer_cancel(&d[5].d); /* cancelled before the loop ran */
    sn_defer_cancel(&d[5].d);
    CHECK_EQ(sn_loop_alive(l), 4);
    CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1);
    CHECK_STR(g_dlog, "125");
    CHECK_EQ(sn_loop_alive(l), 1);
    CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 0);
    CHECK_STR(g_dlog, "1254");
    /* Queued by a timer callback: runs at the end of that same iteration. */
    memset(&g_dfromtimer, 0, sizeof(g_dfromtimer));
    g_dfromtimer.c = 'T';
    g_dfromtimer.d.data = &g_dfromtimer;
    struct sn_timer t;
    CHECK_EQ(sn_timer_start(l, &t, defer_timer_cb, 1 * SN_MS, 0), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 0);
    CHECK_STR(g_dlog, "1254T");
    CHECK_EQ(sn_loop_close(l), 0);
}

/* ======================================================================
 * async: cross-thread wakes
 * ====================================================================== */

#define ASYNC_THREADS 4
#define ASYNC_SENDS 10000
struct tasync {
    struct sn_async a;
    struct sn_timer wd;
    _Atomic long sent;
    _Atomic int errs;
    long calls;
    int seen_final;
};
static struct tasync g_as;

static void *async_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < ASYNC_SENDS; i++) {
        atomic_fetch_add(&g_as.sent, 1);
        if (sn_async_send(&g_as.a) != 0)
            atomic_fetch_add(&g_as.errs, 1);
    }
    return NULL;
}

static void async_cb(struct sn_async *a)
{
    g_as.calls++;
    if (atomic_load(&g_as.sent) == (long)ASYNC_THREADS * ASYNC_SENDS) {
        g_as.seen_final = 1;
        sn_async_stop(a);
        sn_timer_stop(&g_as.wd);
    }
}

LOOP_TEST(async_from_threads_coalesced)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    memset(&g_as, 0, sizeof(g_as));
    /* From the loop's own thread: several sends before the loop looks = one call. */
    CHECK_EQ(sn_async_start(l, &g_as.a, async_cb), 0);
    CHECK_EQ(sn_async_start(l, &g_as.a, async_cb), -EBUSY);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(sn_async_send(&g_as.a), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(g_as.calls, 1);
    CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1);
    CHECK_EQ(g_as.calls, 1);
    g_as.calls = 0;
    CHECK_EQ(watchdog(l, &g_as.wd), 0);
    pthread_t th[ASYNC_THREADS];
    for (int i = 0; i < ASYNC_THREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, async_thread, NULL), 0);
    int r = sn_loop_run(l, SN_RUN_DEFAULT);
    for (int i = 0; i < ASYNC_THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(r, 0);
    CHECK(!g_timed_out);
    CHECK_EQ(g_as.seen_final, 1);
    CHECK_EQ(atomic_load(&g_as.errs), 0);
    CHECK(g_as.calls >= 1 && g_as.calls <= (long)ASYNC_THREADS * ASYNC_SENDS);
    printf("  async_%s: %d sends from %d threads, %ld callbacks\n", sn_backend_name(g_backend),
           ASYNC_THREADS * ASYNC_SENDS, ASYNC_THREADS, g_as.calls);
    CHECK_EQ(sn_loop_close(l), 0);
}

/* sn_async_send from a signal handler (async-signal-safe): the handler only
 * sends, the callback runs on the loop. */
static struct sn_async g_hasync;
static int g_hasync_calls;
static void hasync_handler(int sig)
{
    (void)sig;
    sn_async_send(&g_hasync);
}
static void hasync_cb(struct sn_async *a)
{
    g_hasync_calls++;
    sn_async_stop(a);
}

LOOP_TEST(async_from_signal_handler)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    struct sigaction act, old;
    memset(&act, 0, sizeof(act));
    act.sa_handler = hasync_handler;
    sigemptyset(&act.sa_mask);
    CHECK_EQ(sigaction(SIGUSR2, &act, &old), 0);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, SIGUSR2);
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    g_hasync_calls = 0;
    memset(&g_hasync, 0, sizeof(g_hasync));
    CHECK_EQ(sn_async_start(l, &g_hasync, hasync_cb), 0);
    CHECK_EQ(raise(SIGUSR2), 0);
    CHECK_EQ(raise(SIGUSR2), 0);
    int r = sn_loop_run(l, SN_RUN_DEFAULT);
    sigaction(SIGUSR2, &old, NULL);
    CHECK_EQ(r, 0);
    CHECK_EQ(g_hasync_calls, 1);
    CHECK_EQ(sn_loop_close(l), 0);
}

/* ======================================================================
 * signals
 * ====================================================================== */

static int sig_blocked(int signum)
{
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    return sigismember(&cur, signum);
}

static int sig_pending(int signum)
{
    sigset_t p;
    sigpending(&p);
    return sigismember(&p, signum);
}

static void set_blocked(int signum, int block)
{
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signum);
    pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &one, NULL);
}

struct tsig {
    struct sn_signal s;
    int calls, last;
    struct tsig *stop;
    int order;
};
static int g_sig_order;

static void sig_cb(struct sn_signal *s, int signum)
{
    struct tsig *t = s->data;
    t->calls++;
    t->last = signum;
    t->order = ++g_sig_order;
    if (t->stop)
        sn_signal_stop(&t->stop->s);
}

LOOP_TEST(signal_blocked_raise_callback)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    set_blocked(SIGUSR1, 0);
    struct tsig t = {0};
    t.s.data = &t;
    CHECK_EQ(sn_signal_start(l, &t.s, 0, sig_cb), -EINVAL);
    CHECK_EQ(sn_signal_start(l, &t.s, 65, sig_cb), -EINVAL);
    CHECK_EQ(sn_signal_start(l, &t.s, SIGKILL, sig_cb), -EINVAL);
    CHECK_EQ(sn_signal_start(l, &t.s, SIGUSR1, sig_cb), 0);
    CHECK_EQ(sn_signal_start(l, &t.s, SIGUSR1, sig_cb), -EBUSY);
    CHECK(sig_blocked(SIGUSR1));
    CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1);
    CHECK_EQ(raise(SIGUSR1), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(t.calls, 1);
    CHECK_EQ(t.last, SIGUSR1);
    /* A standard signal raised three times before the loop reads it: merged. */
    for (int i = 0; i < 3; i++)
        CHECK_EQ(raise(SIGUSR1), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(t.calls, 2);
    CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1);
    CHECK_EQ(t.calls, 2);
    /* Raised, then the last watcher stops before the loop reads it: the instance
     * is dropped, the signal unblocked, and the process lives on. */
    CHECK_EQ(raise(SIGUSR1), 0);
    sn_signal_stop(&t.s);
    sn_signal_stop(&t.s);
    CHECK(!sig_blocked(SIGUSR1));
    CHECK(!sig_pending(SIGUSR1));
    CHECK_EQ(sn_loop_alive(l), 0);
    CHECK_EQ(sn_loop_close(l), 0);
}

LOOP_TEST(signal_two_watchers)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    set_blocked(SIGUSR1, 0);
    set_blocked(SIGUSR2, 1); /* blocked by us before: must stay blocked after */
    struct tsig a = {0}, b = {0}, c = {0};
    a.s.data = &a;
    b.s.data = &b;
    c.s.data = &c;
    g_sig_order = 0;
    CHECK_EQ(sn_signal_start(l, &a.s, SIGUSR1, sig_cb), 0);
    CHECK_EQ(sn_signal_start(l, &b.s, SIGUSR1, sig_cb), 0);
    CHECK_EQ(sn_signal_start(l, &c.s, SIGUSR2, sig_cb), 0);
    CHECK_EQ(raise(SIGUSR1), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(a.calls, 1);
    CHECK_EQ(b.calls, 1);
    CHECK_EQ(c.calls, 0);
    CHECK(a.order < b.order); /* start order */
    CHECK_EQ(raise(SIGUSR2), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(c.calls, 1);
    CHECK_EQ(c.last, SIGUSR2);
    CHECK_EQ(a.calls, 1);
    /* a stops b from its callback: b, next in line for the same signal, is not called. */
    a.stop = &b;
    CHECK_EQ(raise(SIGUSR1), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(a.calls, 2);
    CHECK_EQ(b.calls, 1);
    CHECK(sig_blocked(SIGUSR1)); /* a still watches it */
    sn_signal_stop(&a.s);
    CHECK(!sig_blocked(SIGUSR1));
    sn_signal_stop(&c.s);
    CHECK(sig_blocked(SIGUSR2));
    set_blocked(SIGUSR2, 0);
    CHECK_EQ(sn_loop_close(l), 0);
}

/* ======================================================================
 * the work pool
 * ====================================================================== */

static pthread_t g_loop_thread;
static _Atomic int g_release, g_started;
struct tjob {
    struct sn_work w;
    pthread_t ran_on;
    int ran, block, sigs_blocked;
    int done_calls, done_status, done_on_loop;
};

static void job_work(struct sn_work *w)
{
    struct tjob *j = w->data;
    j->ran_on = pthread_self();
    j->ran = 1;
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    j->sigs_blocked = sigismember(&cur, SIGUSR1) && sigismember(&cur, SIGINT) &&
                      sigismember(&cur, SIGTERM);
    if (j->block) {
        atomic_store(&g_started, 1);
        uint64_t t0 = sn_now_ns();
        while (!atomic_load(&g_release) && sn_now_ns() - t0 < 20 * SN_SEC) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
}

static void job_done(struct sn_work *w, int status)
{
    struct tjob *j = w->data;
    j->done_calls++;
    j->done_status = status;
    j->done_on_loop = pthread_equal(pthread_self(), g_loop_thread);
}

LOOP_TEST(pool_100_jobs_done_on_loop_thread)
{
    struct sn_loop *l;
    struct sn_loop_opts o = {.pool_threads = 3};
    CHECK_EQ(open_loop_opts(&l, &o), 0);
    g_loop_thread = pthread_self();
    static struct tjob j[100];
    memset(j, 0, sizeof(j));
    for (int i = 0; i < 100; i++) {
        j[i].w.data = &j[i];
        CHECK_EQ(sn_work_queue(l, &j[i].w, job_work, job_done), 0);
    }
    CHECK_EQ(sn_work_queue(l, &j[0].w, job_work, job_done), -EBUSY);
    CHECK_EQ(sn_work_queue(l, &j[0].w, NULL, job_done), -EINVAL);
    CHECK_EQ(sn_loop_alive(l), 100);
    CHECK_EQ(sn_loop_close(l), -EBUSY);
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    for (int i = 0; i < 100; i++) {
        CHECK_EQ(j[i].ran, 1);
        CHECK(!pthread_equal(j[i].ran_on, g_loop_thread));
        CHECK_EQ(j[i].sigs_blocked, 1); /* a process signal never lands on a pool thread */
        CHECK_EQ(j[i].done_calls, 1);
        CHECK_EQ(j[i].done_status, 0);
        CHECK_EQ(j[i].done_on_loop, 1);
    }
    /* A finished item can be queued again. */
    CHECK_EQ(sn_work_queue(l, &j[0].w, job_work, job_done), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    CHECK_EQ(j[0].done_calls, 2);
    CHECK_EQ(sn_loop_close(l), 0);
}

LOOP_TEST(pool_cancel_before_start)
{
    struct sn_loop *l;
    struct sn_loop_opts o = {.pool_threads = 1};
    CHECK_EQ(open_loop_opts(&l, &o), 0);
    g_loop_thread = pthread_self();
    atomic_store(&g_release, 0);
    atomic_store(&g_started, 0);
    struct tjob blocker = {.block = 1}, x = {0}, y = {0};
    blocker.w.data = &blocker;
    x.w.data = &x;
    y.w.data = &y;
    CHECK_EQ(sn_work_queue(l, &blocker.w, job_work, job_done), 0);
    uint64_t t0 = sn_now_ns();
    while (!atomic_load(&g_started) && sn_now_ns() - t0 < 20 * SN_SEC)
        sched_yield();
    CHECK(atomic_load(&g_started));
    /* The only thread is busy: x and y wait in the queue. */
    CHECK_EQ(sn_work_queue(l, &x.w, job_work, job_done), 0);
    CHECK_EQ(sn_work_queue(l, &y.w, job_work, job_done), 0);
    CHECK_EQ(sn_work_cancel(&x.w), 0);
    CHECK_EQ(sn_work_cancel(&x.w), -EBUSY);      /* already cancelled */
    CHECK_EQ(sn_work_cancel(&blocker.w), -EBUSY); /* running */
    CHECK_EQ(x.done_calls, 0); /* done runs from the loop, never from cancel */
    atomic_store(&g_release, 1);
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    CHECK_EQ(x.ran, 0);
    CHECK_EQ(x.done_calls, 1);
    CHECK_EQ(x.done_status, -ECANCELED);
    CHECK_EQ(x.done_on_loop, 1);
    CHECK_EQ(blocker.done_calls, 1);
    CHECK_EQ(blocker.done_status, 0);
    CHECK_EQ(y.ran, 1);
    CHECK_EQ(y.done_status, 0);
    CHECK_EQ(sn_work_cancel(&y.w), -EBUSY); /* done */
    CHECK_EQ(sn_loop_close(l), 0);
}

/* ======================================================================
 * run modes, stop, close, re-entrance, EINTR
 * ====================================================================== */

static int g_fired;
static void count_cb(struct sn_timer *t)
{
    (void)t;
    g_fired++;
}

LOOP_TEST(run_modes_and_return_values)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    CHECK_EQ(sn_loop_run(NULL, SN_RUN_DEFAULT), -EINVAL);
    CHECK_EQ(sn_loop_run(l, 7), -EINVAL);
    /* Nothing active: every mode returns 0 at once (ONCE does not block). */
    uint64_t t0 = sn_now_ns();
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 0);
    CHECK(sn_now_ns() - t0 < 10 * SN_SEC);
    /* NOWAIT with a far timer: 1, without waiting for it. */
    g_fired = 0;
    struct sn_timer far, t;
    CHECK_EQ(sn_timer_start(l, &far, never_cb, 60 * SN_SEC, 0), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 1);
    sn_timer_stop(&far);
    /* ONCE waits for the timer and runs it in the same call. */
    sn_loop_update_time(l);
    uint64_t due = sn_loop_now(l) + 20 * SN_MS;
    CHECK_EQ(sn_timer_start(l, &t, count_cb, 20 * SN_MS, 0), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 0);
    CHECK_EQ(g_fired, 1);
    CHECK(sn_now_ns() >= due);
    CHECK(sn_loop_now(l) >= due);
    /* A repeating timer: ONCE runs it and returns 1 (still active). */
    CHECK_EQ(sn_timer_start(l, &t, count_cb, 1 * SN_MS, 1 * SN_MS), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_ONCE), 1);
    CHECK_EQ(g_fired, 2);
    sn_timer_stop(&t);
    /* The cached time only moves when the loop (or the caller) updates it. */
    uint64_t n1 = sn_loop_now(l);
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    CHECK_EQ(sn_loop_now(l), n1);
    sn_loop_update_time(l);
    CHECK(sn_loop_now(l) >= n1 + 2 * SN_MS);
    CHECK_EQ(sn_loop_close(l), 0);
}

static int g_stop_at;
static void stopper_tick(struct sn_timer *t)
{
    g_fired++;
    if (g_fired == g_stop_at)
        sn_loop_stop(t->loop);
    if (g_fired == 8)
        sn_timer_stop(t);
}

LOOP_TEST(stop_from_callback)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    struct sn_timer t;
    g_fired = 0;
    g_stop_at = 3;
    CHECK_EQ(sn_timer_start(l, &t, stopper_tick, 1 * SN_MS, 1 * SN_MS), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 1); /* stopped with the timer active */
    CHECK_EQ(g_fired, 3);
    CHECK(sn_timer_active(&t));
    g_stop_at = 5;
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 1); /* the stop flag was reset */
    CHECK_EQ(g_fired, 5);
    g_stop_at = 0;
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0); /* the timer stops itself at 8 */
    CHECK_EQ(g_fired, 8);
    CHECK_EQ(sn_loop_close(l), 0);
}

static void noop_io(struct sn_io *io, unsigned ev)
{
    (void)io;
    (void)ev;
}
static void noop_idle(struct sn_idle *h)
{
    (void)h;
}
static void noop_defer(struct sn_defer *d)
{
    (void)d;
}
static void noop_async(struct sn_async *a)
{
    (void)a;
}
static void noop_signal(struct sn_signal *s, int signum)
{
    (void)s;
    (void)signum;
}

LOOP_TEST(close_busy_with_active_handles)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    CHECK_EQ(sn_loop_close(NULL), 0);
    int sv[2];
    CHECK_EQ(sockpair(sv), 0);
    struct sn_timer t;
    struct sn_io io;
    struct sn_idle h;
    struct sn_defer d;
    struct sn_async a;
    struct sn_signal s;
    struct sn_op op;
    memset(&op, 0, sizeof(op));
    struct opres r = {0};
    op.data = &r;
    char buf[8];

    CHECK_EQ(sn_timer_start(l, &t, never_cb, 60 * SN_SEC, 0), 0);
    CHECK_EQ(sn_loop_close(l), -EBUSY);
    sn_timer_stop(&t);
    CHECK_EQ(sn_io_start(l, &io, sv[0], SN_READ, noop_io), 0);
    CHECK_EQ(sn_loop_close(l), -EBUSY);
    sn_io_stop(&io);
    CHECK_EQ(sn_idle_start(l, &h, noop_idle), 0);
    CHECK_EQ(sn_loop_close(l), -EBUSY);
    sn_idle_stop(&h);
    CHECK_EQ(sn_defer(l, &d, noop_defer), 0);
    CHECK_EQ(sn_loop_close(l), -EBUSY);
    sn_defer_cancel(&d);
    CHECK_EQ(sn_async_start(l, &a, noop_async), 0);
    CHECK_EQ(sn_loop_close(l), -EBUSY);
    sn_async_stop(&a);
    set_blocked(SIGUSR1, 0);
    CHECK_EQ(sn_signal_start(l, &s, SIGUSR1, noop_signal), 0);
    CHECK_EQ(sn_loop_close(l), -EBUSY);
    sn_signal_stop(&s);
    CHECK_EQ(sn_op_recv(l, &op, sv[1], buf, sizeof(buf), opres_cb), 0);
    CHECK_EQ(sn_loop_close(l), -EBUSY);
    CHECK_EQ(sn_op_cancel(&op), 0);
    CHECK_EQ(sn_loop_close(l), -EBUSY); /* until its completion has run */
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    CHECK_EQ(r.calls, 1);
    CHECK_EQ(r.res, -ECANCELED);
    CHECK_EQ(sn_loop_alive(l), 0);
    close(sv[0]);
    close(sv[1]);
    CHECK_EQ(sn_loop_close(l), 0);
}

static int g_inner_run, g_inner_close;
static void reenter_cb(struct sn_timer *t)
{
    g_inner_run = sn_loop_run(t->loop, SN_RUN_NOWAIT);
    g_inner_close = sn_loop_close(t->loop);
}

LOOP_TEST(run_is_not_reentrant)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    struct sn_timer t;
    CHECK_EQ(sn_timer_start(l, &t, reenter_cb, 0, 0), 0);
    CHECK_EQ(sn_loop_run(l, SN_RUN_DEFAULT), 0);
    CHECK_EQ(g_inner_run, -EBUSY);
    CHECK_EQ(g_inner_close, -EBUSY);
    CHECK_EQ(sn_loop_close(l), 0);
}

static _Atomic int g_usr2;
static void usr2_handler(int sig)
{
    (void)sig;
    atomic_fetch_add(&g_usr2, 1);
}
static _Atomic int g_kill_stop;
static void *kill_thread(void *arg)
{
    pthread_t target = *(pthread_t *)arg;
    for (int i = 0; i < 20 && !atomic_load(&g_kill_stop); i++) {
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
        pthread_kill(target, SIGUSR2);
    }
    return NULL;
}

/* Signals (with a handler, no SA_RESTART) hit the loop thread during the wait of
 * a 150 ms timer: DEFAULT and ONCE both carry on and run the timer, on time. */
static void eintr_round(struct sn_loop *l, int mode)
{
    atomic_store(&g_usr2, 0);
    atomic_store(&g_kill_stop, 0);
    g_fired = 0;
    struct sn_timer t;
    sn_loop_update_time(l);
    uint64_t due = sn_loop_now(l) + 150 * SN_MS;
    CHECK_EQ(sn_timer_start(l, &t, count_cb, 150 * SN_MS, 0), 0);
    pthread_t self = pthread_self(), th;
    CHECK_EQ(pthread_create(&th, NULL, kill_thread, &self), 0);
    int r = sn_loop_run(l, mode);
    atomic_store(&g_kill_stop, 1);
    pthread_join(th, NULL);
    CHECK_EQ(r, 0);
    CHECK_EQ(g_fired, 1);
    CHECK(sn_now_ns() >= due);
    CHECK(atomic_load(&g_usr2) > 0);
}

LOOP_TEST(eintr_is_not_an_error)
{
    struct sn_loop *l;
    CHECK_EQ(open_loop(&l), 0);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = usr2_handler; /* no SA_RESTART: the wait returns EINTR */
    sigemptyset(&sa.sa_mask);
    CHECK_EQ(sigaction(SIGUSR2, &sa, &old), 0);
    set_blocked(SIGUSR2, 0);
    eintr_round(l, SN_RUN_DEFAULT);
    if (!sn_cur_failed)
        eintr_round(l, SN_RUN_ONCE);
    sigaction(SIGUSR2, &old, NULL);
    if (!sn_cur_failed)
        CHECK_EQ(sn_loop_close(l), 0);
}

/* ======================================================================
 * backend selection
 * ====================================================================== */

SN_TEST(loop_open_rejects_bad_args_and_env)
{
    CHECK_EQ(sn_loop_open(NULL, NULL), -EINVAL);
    struct sn_loop *l = (struct sn_loop *)&l;
    struct sn_loop_opts o = {.backend = 99};
    CHECK(sn_loop_open(&l, &o) < 0);
    CHECK(l == NULL);
    /* AUTO follows $SN_LOOP_BACKEND (poller.c reads it). */
    const char *prev = getenv("SN_LOOP_BACKEND");
    char *saved = prev ? strdup(prev) : NULL;
    setenv("SN_LOOP_BACKEND", "poll", 1);
    CHECK_EQ(sn_loop_open(&l, NULL), 0);
    CHECK_EQ(sn_poller_backend(sn_loop_poller(l)), SN_BACKEND_POLL);
    CHECK_EQ(sn_loop_close(l), 0);
    setenv("SN_LOOP_BACKEND", "nonsense", 1);
    CHECK_EQ(sn_loop_open(&l, NULL), -EINVAL);
    if (saved) {
        setenv("SN_LOOP_BACKEND", saved, 1);
        free(saved);
    } else {
        unsetenv("SN_LOOP_BACKEND");
    }
}
