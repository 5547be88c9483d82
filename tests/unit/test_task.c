/* test_task.c — the task core and the executors (src/task/task.c, exec.c): the
 * state word and its references, wakers from many threads, join handles, abort,
 * yield and the cooperative budget, the LIFO slot's bound, work stealing, global
 * queue overflow, parking without lost wake-ups, sn_rt_close with live tasks, a
 * million tasks, and a timer future that proves the workers drive their reactor.
 * Runs under ASan+UBSan (build/asan/test_task) and TSan (build/tsan/test_task);
 * under TSan the big counts are divided by 4 (TASK_SCALE). A watchdog thread
 * turns a hang (a lost wake-up) into a failure with the test's name. */
#include "../harness.h"

#include <sysnet/base.h>
#include <sysnet/loop.h>
#include <sysnet/poller.h>
#include <sysnet/task.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#if defined(__SANITIZE_THREAD__)
#define TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN 1
#endif
#endif
#ifndef TSAN
#define TSAN 0
#endif
#define TASK_SCALE (TSAN ? 4 : 1)

/* ---- helpers ------------------------------------------------------------------------ */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Watchdog: a test arms it with a deadline; if the deadline passes, the process
 * prints a FAIL line naming the test and aborts (a hang is a failure, not a stall). */
static _Atomic uint64_t wd_deadline;
static const char *_Atomic wd_name;
static pthread_once_t wd_once = PTHREAD_ONCE_INIT;

static void *wd_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        uint64_t d = atomic_load(&wd_deadline);
        if (d && now_ms() > d) {
            printf("FAIL %s: watchdog: no progress in time (a lost wake-up?)\n", atomic_load(&wd_name));
            fflush(stdout);
            abort();
        }
    }
    return NULL;
}

static void wd_start(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, wd_main, NULL) == 0)
        pthread_detach(t);
}

static void wd_arm(const char *name, unsigned secs)
{
    pthread_once(&wd_once, wd_start);
    atomic_store(&wd_name, name);
    atomic_store(&wd_deadline, now_ms() + secs * 1000ull * (TSAN ? 3 : 1));
}

static void wd_disarm(void) { atomic_store(&wd_deadline, 0); }

static struct sn_rt *rt_make(unsigned workers, unsigned qsize)
{
    struct sn_rt *rt = NULL;
    struct sn_rt_opts o = {.workers = workers, .queue_size = qsize};
    if (sn_rt_open(&rt, &o) < 0)
        return NULL;
    return rt;
}

#define REFS(s) ((s) >> SN_TASK_REF_SHIFT)
#define FLAGS(s) ((s) & 0xffu)

/* A latch: tasks arrive; its future is ready once `target` have. The waker slot is
 * under a mutex; the count is atomic so arrive can test it cheaply. */
struct latch {
    _Atomic long n;
    long target;
    pthread_mutex_t mu;
    struct sn_waker w;
};
static void latch_init(struct latch *l, long target)
{
    atomic_init(&l->n, 0);
    l->target = target;
    pthread_mutex_init(&l->mu, NULL);
    l->w.vt = NULL;
    l->w.data = NULL;
}
static void latch_fini(struct latch *l)
{
    sn_waker_drop(&l->w);
    pthread_mutex_destroy(&l->mu);
}
static void latch_arrive(struct latch *l)
{
    if (atomic_fetch_add(&l->n, 1) + 1 == l->target) {
        pthread_mutex_lock(&l->mu);
        sn_waker_wake(&l->w);
        pthread_mutex_unlock(&l->mu);
    }
}
struct latch_fut {
    struct sn_future base;
    struct latch *l;
};
static int latch_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct latch *l = ((struct latch_fut *)f)->l;
    pthread_mutex_lock(&l->mu);
    int ready = atomic_load(&l->n) >= l->target;
    if (!ready)
        sn_waker_store(&l->w, &cx->waker);
    pthread_mutex_unlock(&l->mu);
    if (ready)
        f->out = atomic_load(&l->n);
    return ready ? SN_READY : SN_PENDING;
}
static const struct sn_future_vt latch_vt = {latch_poll, NULL, "latch"};
static int64_t latch_wait(struct sn_rt *rt, struct latch *l)
{
    struct latch_fut lf = {{&latch_vt, 0}, l};
    return sn_rt_block_on(rt, &lf.base);
}

/* A trivial task: count, arrive, return its value. */
struct triv {
    struct sn_future base;
    _Atomic long *count;
    struct latch *l;
    int64_t val;
};
static int triv_poll(struct sn_future *f, struct sn_cx *cx)
{
    (void)cx;
    struct triv *t = (struct triv *)f;
    if (t->count)
        atomic_fetch_add_explicit(t->count, 1, memory_order_relaxed);
    if (t->l)
        latch_arrive(t->l);
    f->out = t->val;
    return SN_READY;
}
static const struct sn_future_vt triv_vt = {triv_poll, NULL, "triv"};

/* A future that is pending forever (never arranges a wake), counting polls and
 * drops; optionally keeps a clone of its waker in *stash on the first poll. */
struct pend {
    struct sn_future base;
    _Atomic int *polls, *drops;
    struct sn_waker *stash;
};
static int pend_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct pend *p = (struct pend *)f;
    if (p->polls)
        atomic_fetch_add(p->polls, 1);
    if (p->stash && !p->stash->vt)
        *p->stash = sn_waker_clone(&cx->waker);
    return SN_PENDING;
}
static void pend_drop(struct sn_future *f)
{
    struct pend *p = (struct pend *)f;
    if (p->drops)
        atomic_fetch_add(p->drops, 1);
}
static const struct sn_future_vt pend_vt = {pend_poll, pend_drop, "pend"};

/* block_on a yield: gives the spawned tasks of a current-thread runtime a turn. */
static int64_t run_a_turn(struct sn_rt *rt)
{
    struct sn_yield y;
    sn_yield_init(&y);
    return sn_rt_block_on(rt, &y.base);
}

/* ---- the state word ---------------------------------------------------------------------- */

SN_TEST(state_machine_and_refs)
{
    struct sn_rt *rt = rt_make(0, 0);
    CHECK(rt);
    _Atomic int polls = 0, drops = 0;
    struct sn_waker w = {0, 0};
    struct pend p = {{&pend_vt, 0}, &polls, &drops, &w};
    struct sn_task *t;
    CHECK_EQ(sn_spawn(rt, &p.base, sizeof(p), &t), 0);
    uint64_t s = sn_task_state(t);
    /* queued: NOTIFIED + JOIN_INTEREST; refs: owner, queue, join */
    CHECK_EQ(FLAGS(s), SN_TASK_NOTIFIED | SN_TASK_JOIN_INTEREST);
    CHECK_EQ(REFS(s), 3);
    CHECK_EQ(run_a_turn(rt), 0);
    CHECK_EQ(atomic_load(&polls), 1);
    s = sn_task_state(t);
    /* idle after one poll; the stashed waker holds one more */
    CHECK_EQ(FLAGS(s), SN_TASK_JOIN_INTEREST);
    CHECK_EQ(REFS(s), 3);
    struct sn_waker w2 = sn_waker_clone(&w);
    CHECK_EQ(REFS(sn_task_state(t)), 4);
    sn_waker_wake_by_ref(&w2);  /* idle -> notified, a queue ref */
    s = sn_task_state(t);
    CHECK_EQ(FLAGS(s), SN_TASK_NOTIFIED | SN_TASK_JOIN_INTEREST);
    CHECK_EQ(REFS(s), 5);
    sn_waker_wake_by_ref(&w2);  /* already notified: nothing */
    CHECK_EQ(REFS(sn_task_state(t)), 5);
    sn_waker_wake(&w2);         /* by value on a notified task: just the ref goes */
    CHECK_EQ(REFS(sn_task_state(t)), 4);
    CHECK(w2.vt == NULL);
    CHECK_EQ(run_a_turn(rt), 0);
    CHECK_EQ(atomic_load(&polls), 2);
    CHECK_EQ(REFS(sn_task_state(t)), 3);
    w2 = sn_waker_clone(&w);
    sn_waker_wake(&w2);         /* by value on an idle task: its ref becomes the queue's */
    CHECK_EQ(REFS(sn_task_state(t)), 4);
    CHECK_EQ(sn_task_abort(t), 0);
    s = sn_task_state(t);
    CHECK(s & SN_TASK_CANCELLED);
    CHECK_EQ(sn_task_abort(t), 0);  /* again: still 0, not complete yet */
    CHECK_EQ(run_a_turn(rt), 0);
    s = sn_task_state(t);
    CHECK_EQ(FLAGS(s), SN_TASK_COMPLETE | SN_TASK_CANCELLED | SN_TASK_JOIN_INTEREST);
    CHECK_EQ(REFS(s), 2);       /* join + stashed waker */
    CHECK_EQ(atomic_load(&polls), 2);
    CHECK_EQ(atomic_load(&drops), 1);
    int64_t out = 0;
    CHECK_EQ(sn_task_done(t, &out), 1);
    CHECK_EQ(out, -ECANCELED);
    CHECK_EQ(sn_task_abort(t), -EALREADY);
    sn_waker_wake_by_ref(&w);   /* complete: nothing */
    CHECK_EQ(REFS(sn_task_state(t)), 2);
    sn_waker_drop(&w);
    CHECK_EQ(REFS(sn_task_state(t)), 1);
    sn_task_release(t);         /* the last ref: freed (ASan would see a leak otherwise) */
    struct sn_rt_stats st;
    sn_rt_stats(rt, &st);
    CHECK_EQ(st.spawned, 1);
    CHECK_EQ(st.cancelled, 1);
    CHECK_EQ(st.polls, 2);
    CHECK_EQ(sn_rt_close(rt), 0);
    CHECK_EQ(atomic_load(&drops), 1);
}

SN_TEST(spawn_args)
{
    struct sn_rt *rt = rt_make(0, 0);
    CHECK(rt);
    struct triv tv = {{&triv_vt, 0}, NULL, NULL, 1};
    struct sn_task *t = (struct sn_task *)1;
    CHECK_EQ(sn_spawn(rt, &tv.base, 4, &t), -EINVAL);
    CHECK(t == NULL);
    CHECK_EQ(sn_spawn(NULL, &tv.base, sizeof(tv), NULL), -EINVAL);
    struct sn_rt_opts o = {.queue_size = 100};
    struct sn_rt *bad;
    CHECK_EQ(sn_rt_open(&bad, &o), -EINVAL);
    CHECK_EQ(sn_rt_workers(rt), 0);
    CHECK_EQ(sn_rt_close(rt), 0);
    rt = rt_make(2, 0);
    CHECK(rt);
    CHECK_EQ(sn_rt_workers(rt), 2);
    CHECK_EQ(sn_rt_close(rt), 0);
}

/* ---- join ---------------------------------------------------------------------------------- */

/* A future that spawns n trivial tasks and joins each (by polling join futures in turn). */
struct joiner {
    struct sn_future base;
    int n, i, err;
    struct sn_join j;
    int joining;
};
static int joiner_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct joiner *jn = (struct joiner *)f;
    for (;;) {
        if (!jn->joining) {
            if (jn->i == jn->n) {
                f->out = jn->err ? -EPROTO : jn->n;
                return SN_READY;
            }
            struct triv tv = {{&triv_vt, 0}, NULL, NULL, 1000 + jn->i};
            struct sn_task *t;
            if (sn_spawn(cx->rt, &tv.base, sizeof(tv), &t) < 0) {
                f->out = -ENOMEM;
                return SN_READY;
            }
            sn_join_init(&jn->j, t);
            jn->joining = 1;
        }
        if (sn_poll(&jn->j.base, cx) == SN_PENDING)
            return SN_PENDING;
        if (jn->j.base.out != 1000 + jn->i)
            jn->err = 1;
        sn_drop(&jn->j.base);
        jn->joining = 0;
        jn->i++;
    }
}
static void joiner_drop(struct sn_future *f)
{
    struct joiner *jn = (struct joiner *)f;
    if (jn->joining)
        sn_drop(&jn->j.base);
    jn->joining = 0;
}
static const struct sn_future_vt joiner_vt = {joiner_poll, joiner_drop, "joiner"};

SN_TEST(join_results)
{
    wd_arm("join_results", 10);
    static const unsigned ws[] = {0, 1, 2};
    for (unsigned k = 0; k < 3; k++) {
        struct sn_rt *rt = rt_make(ws[k], 0);
        CHECK(rt);
        /* from outside: spawn, then block_on the join */
        struct triv tv = {{&triv_vt, 0}, NULL, NULL, 42};
        struct sn_task *t;
        CHECK_EQ(sn_spawn(rt, &tv.base, sizeof(tv), &t), 0);
        struct sn_join j;
        sn_join_init(&j, t);
        CHECK_EQ(sn_rt_block_on(rt, &j.base), 42);
        sn_drop(&j.base);
        /* from inside: a task joining tasks it spawned */
        struct joiner jn = {{&joiner_vt, 0}, 500, 0, 0, {{0, 0}, 0}, 0};
        CHECK_EQ(sn_rt_block_on(rt, &jn.base), 500);
        sn_drop(&jn.base);
        /* the joiner as a spawned task, joined from outside */
        struct joiner jn2 = {{&joiner_vt, 0}, 100, 0, 0, {{0, 0}, 0}, 0};
        CHECK_EQ(sn_spawn(rt, &jn2.base, sizeof(jn2), &t), 0);
        sn_join_init(&j, t);
        CHECK_EQ(sn_rt_block_on(rt, &j.base), 100);
        sn_drop(&j.base);
        CHECK_EQ(sn_rt_close(rt), 0);
    }
    wd_disarm();
}

SN_TEST(join_release_before_and_after)
{
    wd_arm("join_release_before_and_after", 10);
    for (unsigned workers = 0; workers <= 2; workers += 2) {
        struct sn_rt *rt = rt_make(workers, 0);
        CHECK(rt);
        _Atomic long count = 0;
        struct latch l;
        latch_init(&l, 200);
        for (int i = 0; i < 100; i++) {
            struct triv tv = {{&triv_vt, 0}, &count, &l, i};
            struct sn_task *t;
            CHECK_EQ(sn_spawn(rt, &tv.base, sizeof(tv), &t), 0);
            sn_task_release(t); /* before completion (most of them, on the workers) */
        }
        struct sn_task *ts[100];
        for (int i = 0; i < 100; i++) {
            struct triv tv = {{&triv_vt, 0}, &count, &l, i};
            CHECK_EQ(sn_spawn(rt, &tv.base, sizeof(tv), &ts[i]), 0);
        }
        CHECK_EQ(latch_wait(rt, &l), 200);
        for (int i = 0; i < 100; i++) {
            int64_t out = -1;
            /* the latch arrives inside the poll, before completion: wait for done */
            while (!sn_task_done(ts[i], &out))
                sched_yield();
            CHECK_EQ(out, i);
            sn_task_release(ts[i]); /* after completion */
        }
        CHECK_EQ(atomic_load(&count), 200);
        CHECK_EQ(sn_rt_close(rt), 0);
        latch_fini(&l);
    }
    wd_disarm();
}

/* The join waker protocol: a task waiting on a join (its waker stored, JOIN_WAKER
 * set) is woken by the completion; and a join handle dropped while its waker is
 * stored and the task still running releases the slot (no leak, no double drop). */
struct join_once {
    struct sn_future base;
    struct sn_join j;
    int polled, drop_now, have;
};
static int join_once_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct join_once *jo = (struct join_once *)f;
    int first = !jo->polled;
    jo->polled = 1;
    if (sn_poll(&jo->j.base, cx) == SN_READY) {
        f->out = first ? 1000 : jo->j.base.out;
        return SN_READY;
    }
    if (jo->drop_now) {
        sn_drop(&jo->j.base);
        jo->have = 0;
        f->out = 0;
        return SN_READY;
    }
    return SN_PENDING;
}
static void join_once_drop(struct sn_future *f)
{
    struct join_once *jo = (struct join_once *)f;
    if (jo->have)
        sn_drop(&jo->j.base);
    jo->have = 0;
}
static const struct sn_future_vt join_once_vt = {join_once_poll, join_once_drop, "join_once"};

SN_TEST(join_waker_protocol)
{
    for (int drop_now = 0; drop_now < 2; drop_now++) {
        struct sn_rt *rt = rt_make(0, 0);
        CHECK(rt);
        _Atomic int polls = 0, drops = 0;
        struct pend p = {{&pend_vt, 0}, &polls, &drops, NULL};
        struct sn_task *t, *jt;
        CHECK_EQ(sn_spawn(rt, &p.base, sizeof(p), &t), 0);
        CHECK_EQ(run_a_turn(rt), 0);
        struct join_once jo = {{&join_once_vt, 0}, {{0, 0}, 0}, 0, drop_now, 1};
        sn_join_init(&jo.j, t);
        CHECK_EQ(sn_spawn(rt, &jo.base, sizeof(jo), &jt), 0);
        CHECK_EQ(run_a_turn(rt), 0);
        int64_t out = -1;
        if (drop_now) {
            /* the handle is gone, the task still pending: JOIN_INTEREST and JOIN_WAKER off */
            CHECK_EQ(sn_task_done(jt, &out), 1);
            CHECK_EQ(out, 0);
            CHECK_EQ(sn_task_state(t) & (SN_TASK_JOIN_INTEREST | SN_TASK_JOIN_WAKER), 0);
            CHECK_EQ(REFS(sn_task_state(t)), 1);  /* the owner's only */
        } else {
            CHECK_EQ(sn_task_state(t) & (SN_TASK_JOIN_INTEREST | SN_TASK_JOIN_WAKER),
                     SN_TASK_JOIN_INTEREST | SN_TASK_JOIN_WAKER);
            CHECK_EQ(sn_task_done(jt, &out), 0);
        }
        CHECK_EQ(sn_task_abort(t), 0);   /* completes t; wakes the joiner if it waits */
        CHECK_EQ(run_a_turn(rt), 0);
        CHECK_EQ(run_a_turn(rt), 0);
        CHECK_EQ(sn_task_done(jt, &out), 1);
        CHECK_EQ(out, drop_now ? 0 : -ECANCELED);
        sn_task_release(jt);
        CHECK_EQ(atomic_load(&drops), 1);
        CHECK_EQ(sn_rt_close(rt), 0);
    }
}

/* ---- wakers from many threads ------------------------------------------------------------ */

struct hammer {
    _Atomic int inpoll, bad, done, ready;
    _Atomic long polls, target;
    _Atomic int drops;
    struct sn_waker w;
};
struct hammer_fut {
    struct sn_future base;
    struct hammer *h;
};
static int hammer_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct hammer *h = ((struct hammer_fut *)f)->h;
    if (atomic_exchange(&h->inpoll, 1))
        atomic_store(&h->bad, 1);            /* polled concurrently */
    if (atomic_load(&h->done))
        atomic_store(&h->bad, 2);            /* polled after completion */
    if (!atomic_load(&h->ready)) {
        h->w = sn_waker_clone(&cx->waker);
        atomic_store(&h->ready, 1);
    }
    long n = atomic_fetch_add(&h->polls, 1) + 1;
    int r = SN_PENDING;
    if (n >= atomic_load(&h->target)) {
        atomic_store(&h->done, 1);
        f->out = n;
        r = SN_READY;
    }
    atomic_store(&h->inpoll, 0);
    return r;
}
static void hammer_drop(struct sn_future *f) { atomic_fetch_add(&((struct hammer_fut *)f)->h->drops, 1); }
static const struct sn_future_vt hammer_vt = {hammer_poll, hammer_drop, "hammer"};

static void *hammer_thread(void *arg)
{
    struct hammer *h = arg;
    while (!atomic_load(&h->ready))
        sched_yield();
    long extra = 0;
    while (extra < 200) {
        struct sn_waker c = sn_waker_clone(&h->w);
        sn_waker_wake_by_ref(&c);
        struct sn_waker c2 = sn_waker_clone(&c);
        sn_waker_wake(&c2);
        sn_waker_drop(&c);
        if (atomic_load(&h->done))
            extra++;                          /* keep waking a completed task a while */
    }
    return NULL;
}

SN_TEST(wake_hammer_threads)
{
    wd_arm("wake_hammer_threads", 15);
    static const unsigned ws[] = {0, 2};
    for (unsigned k = 0; k < 2; k++) {
        struct sn_rt *rt = rt_make(ws[k], 0);
        CHECK(rt);
        struct hammer h;
        memset(&h, 0, sizeof(h));
        atomic_store(&h.target, 20000 / TASK_SCALE);
        struct hammer_fut hf = {{&hammer_vt, 0}, &h};
        struct sn_task *t;
        CHECK_EQ(sn_spawn(rt, &hf.base, sizeof(hf), &t), 0);
        pthread_t th[4];
        for (int i = 0; i < 4; i++)
            CHECK_EQ(pthread_create(&th[i], NULL, hammer_thread, &h), 0);
        struct sn_join j;
        sn_join_init(&j, t);
        int64_t r = sn_rt_block_on(rt, &j.base);
        sn_drop(&j.base);
        for (int i = 0; i < 4; i++)
            pthread_join(th[i], NULL);
        CHECK_EQ(r, atomic_load(&h.target));
        CHECK_EQ(atomic_load(&h.bad), 0);
        CHECK_EQ(atomic_load(&h.polls), atomic_load(&h.target));
        CHECK_EQ(atomic_load(&h.drops), 1);
        sn_waker_drop(&h.w);             /* the last reference: the task is freed */
        CHECK_EQ(sn_rt_close(rt), 0);
    }
    wd_disarm();
}

/* ---- drop and close ------------------------------------------------------------------------ */

SN_TEST(close_drops_idle_tasks)
{
    static const unsigned ws[] = {0, 1, 2};
    for (unsigned k = 0; k < 3; k++) {
        struct sn_rt *rt = rt_make(ws[k], 0);
        CHECK(rt);
        _Atomic int polls = 0, drops = 0;
        struct sn_task *keep[10];
        struct sn_waker w[10];
        for (int i = 0; i < 100; i++) {
            struct pend p = {{&pend_vt, 0}, &polls, &drops, i < 10 ? &w[i] : NULL};
            if (i < 10)
                w[i].vt = NULL, w[i].data = NULL;
            CHECK_EQ(sn_spawn(rt, &p.base, sizeof(p), i < 10 ? &keep[i] : NULL), 0);
        }
        /* let them be polled once (some may still be queued: close handles both) */
        if (ws[k] == 0)
            CHECK_EQ(run_a_turn(rt), 0);
        CHECK_EQ(sn_rt_close(rt), 0);
        CHECK_EQ(atomic_load(&drops), 100);
        for (int i = 0; i < 10; i++) {
            int64_t out = 0;
            CHECK_EQ(sn_task_done(keep[i], &out), 1);
            CHECK_EQ(out, -ECANCELED);
            CHECK_EQ(sn_task_abort(keep[i]), -EALREADY);
            sn_waker_wake_by_ref(&w[i]);   /* after close: a no-op on a completed task */
            sn_waker_drop(&w[i]);
            sn_task_release(keep[i]);
        }
    }
}

/* ---- abort ------------------------------------------------------------------------------------ */

SN_TEST(abort_cases)
{
    wd_arm("abort_cases", 10);
    static const unsigned ws[] = {0, 2};
    for (unsigned k = 0; k < 2; k++) {
        struct sn_rt *rt = rt_make(ws[k], 0);
        CHECK(rt);
        _Atomic int polls = 0, drops = 0;
        struct sn_join j;
        int64_t out;
        /* before the first poll (multi-thread: it may have been polled already) */
        struct pend p = {{&pend_vt, 0}, &polls, &drops, NULL};
        struct sn_task *t;
        CHECK_EQ(sn_spawn(rt, &p.base, sizeof(p), &t), 0);
        CHECK_EQ(sn_task_abort(t), 0);
        sn_join_init(&j, t);
        CHECK_EQ(sn_rt_block_on(rt, &j.base), -ECANCELED);
        sn_drop(&j.base);
        if (ws[k] == 0)
            CHECK_EQ(atomic_load(&polls), 0);
        CHECK_EQ(atomic_load(&drops), 1);
        /* while pending (after a poll) */
        atomic_store(&polls, 0);
        struct sn_waker w = {0, 0};
        struct pend p2 = {{&pend_vt, 0}, &polls, &drops, &w};
        CHECK_EQ(sn_spawn(rt, &p2.base, sizeof(p2), &t), 0);
        if (ws[k] == 0)
            run_a_turn(rt);
        else
            while (!atomic_load(&polls))
                sched_yield();
        while (sn_task_state(t) & SN_TASK_RUNNING)
            sched_yield();
        CHECK_EQ(sn_task_abort(t), 0);
        sn_join_init(&j, t);
        CHECK_EQ(sn_rt_block_on(rt, &j.base), -ECANCELED);
        sn_drop(&j.base);
        CHECK_EQ(atomic_load(&polls), 1);
        CHECK_EQ(atomic_load(&drops), 2);
        sn_waker_drop(&w);
        /* racing the workers: either result, and then it is complete */
        struct triv tv = {{&triv_vt, 0}, NULL, NULL, 7};
        CHECK_EQ(sn_spawn(rt, &tv.base, sizeof(tv), &t), 0);
        int ar = sn_task_abort(t);
        sn_join_init(&j, t);
        out = sn_rt_block_on(rt, &j.base);
        CHECK(ar == 0 || ar == -EALREADY);
        CHECK(out == 7 || out == -ECANCELED);
        CHECK_EQ(sn_task_abort(t), -EALREADY);
        sn_drop(&j.base);
        /* after completion */
        CHECK_EQ(sn_spawn(rt, &tv.base, sizeof(tv), &t), 0);
        sn_join_init(&j, t);
        CHECK_EQ(sn_rt_block_on(rt, &j.base), 7);
        CHECK_EQ(sn_task_abort(t), -EALREADY);
        CHECK_EQ(sn_task_done(t, &out), 1);
        CHECK_EQ(out, 7);
        sn_drop(&j.base);
        CHECK_EQ(sn_rt_close(rt), 0);
    }
    wd_disarm();
}

/* ---- yield, budget, LIFO --------------------------------------------------------------------- */

/* Yields forever (counting polls), until *stop. */
struct spinner {
    struct sn_future base;
    _Atomic int *stop;
    _Atomic long *polls;
};
static int spinner_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct spinner *s = (struct spinner *)f;
    atomic_fetch_add(s->polls, 1);
    if (atomic_load(s->stop))
        return SN_READY;
    sn_waker_wake_by_ref(&cx->waker);
    return SN_PENDING;
}
static const struct sn_future_vt spinner_vt = {spinner_poll, NULL, "spinner"};

/* Yields k times with sn_yield, then is ready. */
struct yielder {
    struct sn_future base;
    struct sn_yield y;
    int k, i;
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
    f->out = y->i;
    return SN_READY;
}
static const struct sn_future_vt yielder_vt = {yielder_poll, NULL, "yielder"};

/* Spends its budget with sn_coop, counting units, recording per-poll runs. */
struct coop_fut {
    struct sn_future base;
    long units, polls, max_run;
};
static int coop_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct coop_fut *c = (struct coop_fut *)f;
    c->polls++;
    long run = 0;
    while (sn_coop(cx)) {
        run++;
        if (++c->units == 1000) {
            f->out = c->units;
            return SN_READY;
        }
    }
    if (run > c->max_run)
        c->max_run = run;
    return SN_PENDING;
}
static const struct sn_future_vt coop_vt = {coop_poll, NULL, "coop"};

SN_TEST(yield_fairness_and_budget)
{
    wd_arm("yield_fairness_and_budget", 10);
    static const unsigned ws[] = {0, 1, 2};
    for (unsigned k = 0; k < 3; k++) {
        struct sn_rt *rt = rt_make(ws[k], 0);
        CHECK(rt);
        _Atomic int stop = 0;
        _Atomic long polls = 0;
        /* two spinners that never stop by themselves */
        for (int i = 0; i < 2; i++) {
            struct spinner sp = {{&spinner_vt, 0}, &stop, &polls};
            CHECK_EQ(sn_spawn(rt, &sp.base, sizeof(sp), NULL), 0);
        }
        struct yielder y = {{&yielder_vt, 0}, {{0, 0}, 0}, 100, 0};
        sn_yield_init(&y.y);
        struct sn_task *t;
        CHECK_EQ(sn_spawn(rt, &y.base, sizeof(y), &t), 0);
        struct sn_join j;
        sn_join_init(&j, t);
        CHECK_EQ(sn_rt_block_on(rt, &j.base), 100);
        sn_drop(&j.base);
        CHECK(atomic_load(&polls) > 0);
        /* budget: at most `budget` units per poll */
        struct coop_fut c = {{&coop_vt, 0}, 0, 0, 0};
        CHECK_EQ(sn_spawn(rt, &c.base, sizeof(c), &t), 0);
        sn_join_init(&j, t);
        CHECK_EQ(sn_rt_block_on(rt, &j.base), 1000);
        sn_drop(&j.base);
        atomic_store(&stop, 1);
        CHECK_EQ(sn_rt_close(rt), 0);
    }
    /* the budget itself, in a block_on future polled by the current-thread runtime */
    struct sn_rt_opts o = {.budget = 16};
    struct sn_rt *rt;
    CHECK_EQ(sn_rt_open(&rt, &o), 0);
    struct coop_fut c = {{&coop_vt, 0}, 0, 0, 0};
    CHECK_EQ(sn_rt_block_on(rt, &c.base), 1000);
    CHECK_EQ(c.max_run, 16);
    CHECK(c.polls >= 1000 / 16);
    CHECK_EQ(sn_rt_close(rt), 0);
    wd_disarm();
}

/* Two tasks that wake each other forever (each wake goes to the LIFO slot), and a
 * third, queued behind them, that stops them: without the LIFO bound it would
 * never run. */
struct pingpong_lifo {
    struct sn_waker w[2];
    _Atomic int stop;
};
struct pl_fut {
    struct sn_future base;
    struct pingpong_lifo *p;
    int side;
};
static int pl_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct pl_fut *pf = (struct pl_fut *)f;
    struct pingpong_lifo *p = pf->p;
    if (atomic_load(&p->stop))
        return SN_READY;
    sn_waker_store(&p->w[pf->side], &cx->waker);
    sn_waker_wake_by_ref(&p->w[!pf->side]);
    return SN_PENDING;
}
static const struct sn_future_vt pl_vt = {pl_poll, NULL, "pl"};
struct stopper {
    struct sn_future base;
    _Atomic int *stop;
};
static int stopper_poll(struct sn_future *f, struct sn_cx *cx)
{
    (void)cx;
    atomic_store(((struct stopper *)f)->stop, 1);
    return SN_READY;
}
static const struct sn_future_vt stopper_vt = {stopper_poll, NULL, "stopper"};

SN_TEST(lifo_slot_bound)
{
    wd_arm("lifo_slot_bound", 10);
    struct sn_rt *rt = rt_make(0, 0);
    CHECK(rt);
    struct pingpong_lifo p;
    memset(&p, 0, sizeof(p));
    struct pl_fut a = {{&pl_vt, 0}, &p, 0}, b = {{&pl_vt, 0}, &p, 1};
    struct sn_task *ta, *tb, *tc;
    CHECK_EQ(sn_spawn(rt, &a.base, sizeof(a), &ta), 0);
    CHECK_EQ(sn_spawn(rt, &b.base, sizeof(b), &tb), 0);
    struct stopper s = {{&stopper_vt, 0}, &p.stop};
    CHECK_EQ(sn_spawn(rt, &s.base, sizeof(s), &tc), 0);
    /* the block_on future waits for all three */
    struct sn_join j;
    sn_join_init(&j, tc);
    CHECK_EQ(sn_rt_block_on(rt, &j.base), 0);
    sn_drop(&j.base);
    sn_waker_wake_by_ref(&p.w[0]);
    sn_waker_wake_by_ref(&p.w[1]);
    sn_join_init(&j, ta);
    CHECK_EQ(sn_rt_block_on(rt, &j.base), 0);
    sn_drop(&j.base);
    sn_join_init(&j, tb);
    CHECK_EQ(sn_rt_block_on(rt, &j.base), 0);
    sn_drop(&j.base);
    struct sn_rt_stats st;
    sn_rt_stats(rt, &st);
    CHECK(st.lifo_hits > 0);
    sn_waker_drop(&p.w[0]);
    sn_waker_drop(&p.w[1]);
    CHECK_EQ(sn_rt_close(rt), 0);
    wd_disarm();
}

/* ---- stealing, overflow, a million tasks ----------------------------------------------------- */

/* Spawns n trivial tasks (in chunks of `chunk`, yielding between chunks so the
 * tasks can run), then waits for all on the latch. */
struct producer {
    struct sn_future base;
    long n, i, chunk;
    _Atomic long *count;
    struct latch *l;
    struct sn_yield y;
    int yielding, waiting, err;
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
        long end = p->i + p->chunk < p->n ? p->i + p->chunk : p->n;
        for (; p->i < end; p->i++) {
            struct triv tv = {{&triv_vt, 0}, p->count, p->l, 0};
            if (sn_spawn(cx->rt, &tv.base, sizeof(tv), NULL) < 0)
                p->err = 1;
        }
        if (p->i < p->n) {
            sn_yield_init(&p->y);
            p->yielding = 1;
        }
    }
    struct latch_fut lf = {{&latch_vt, 0}, p->l};
    if (latch_poll(&lf.base, cx) == SN_PENDING)
        return SN_PENDING;
    f->out = p->err ? -ENOMEM : lf.base.out;
    return SN_READY;
}
static const struct sn_future_vt producer_vt = {producer_poll, NULL, "producer"};

static int64_t produce(struct sn_rt *rt, long n, long chunk, _Atomic long *count)
{
    struct latch l;
    latch_init(&l, n);
    struct producer p = {{&producer_vt, 0}, n, 0, chunk, count, &l, {{0, 0}, 0}, 0, 0, 0};
    struct sn_task *t;
    int64_t r = sn_spawn(rt, &p.base, sizeof(p), &t);
    if (r == 0) {
        struct sn_join j;
        sn_join_init(&j, t);
        r = sn_rt_block_on(rt, &j.base);
        sn_drop(&j.base);
    }
    latch_fini(&l);
    return r;
}

SN_TEST(steal_2_and_4_workers)
{
    wd_arm("steal_2_and_4_workers", 20);
    static const unsigned ws[] = {2, 4};
    long n = 100000 / TASK_SCALE;
    for (unsigned k = 0; k < 2; k++) {
        /* a queue big enough for all: nothing overflows, the others must steal */
        struct sn_rt *rt = rt_make(ws[k], 1u << 17);
        CHECK(rt);
        _Atomic long count = 0;
        CHECK_EQ(produce(rt, n, n, &count), n);
        CHECK_EQ(atomic_load(&count), n);
        struct sn_rt_stats st;
        sn_rt_stats(rt, &st);
        if (st.steals == 0)
            printf("# %u workers: no steal (polls %llu)\n", ws[k], (unsigned long long)st.polls);
        CHECK(st.steals > 0);
        CHECK(st.stolen_tasks >= st.steals);
        /* n tasks + the producer + block_on's wrapper; a task arrives at the latch
         * in its poll, so up to one per worker may still be completing */
        CHECK_EQ(st.spawned, (uint64_t)n + 2);
        CHECK(st.completed + ws[k] >= (uint64_t)n + 2);
        CHECK_EQ(sn_rt_close(rt), 0);
    }
    wd_disarm();
}

SN_TEST(global_queue_overflow)
{
    wd_arm("global_queue_overflow", 10);
    static const unsigned ws[] = {0, 2};
    for (unsigned k = 0; k < 2; k++) {
        struct sn_rt *rt = rt_make(ws[k], 8);
        CHECK(rt);
        _Atomic long count = 0;
        CHECK_EQ(produce(rt, 5000, 1000, &count), 5000);
        CHECK_EQ(atomic_load(&count), 5000);
        struct sn_rt_stats st;
        sn_rt_stats(rt, &st);
        CHECK(st.overflows > 0);
        CHECK(st.global_pops > 0);
        CHECK_EQ(sn_rt_close(rt), 0);
    }
    wd_disarm();
}

SN_TEST(million_tasks)
{
    wd_arm("million_tasks", 30);
    long n = 1000000 / TASK_SCALE;
    static const unsigned ws[] = {0, 2};
    for (unsigned k = 0; k < 2; k++) {
        struct sn_rt *rt = rt_make(ws[k], 0);
        CHECK(rt);
        _Atomic long count = 0;
        CHECK_EQ(produce(rt, n, 10000, &count), n);
        CHECK_EQ(atomic_load(&count), n);
        struct sn_rt_stats st;
        sn_rt_stats(rt, &st);
        unsigned wrap = ws[k] ? 1 : 0;    /* multi-thread block_on's wrapper task */
        CHECK_EQ(st.spawned, (uint64_t)n + 1 + wrap);
        CHECK(st.completed + ws[k] >= (uint64_t)n + 1 + wrap);
        CHECK_EQ(sn_rt_close(rt), 0);
    }
    wd_disarm();
}

/* Spawns from several plain threads at once (the global queue under contention),
 * counted exactly. */
struct spawner_arg {
    struct sn_rt *rt;
    _Atomic long *count;
    struct latch *l;
    long n;
    _Atomic int *err;
};
static void *spawner_thread(void *arg)
{
    struct spawner_arg *a = arg;
    for (long i = 0; i < a->n; i++) {
        struct triv tv = {{&triv_vt, 0}, a->count, a->l, 0};
        if (sn_spawn(a->rt, &tv.base, sizeof(tv), NULL) < 0)
            atomic_store(a->err, 1);
    }
    return NULL;
}

SN_TEST(spawn_from_threads)
{
    wd_arm("spawn_from_threads", 15);
    static const unsigned ws[] = {0, 2};
    long per = 20000 / TASK_SCALE;
    for (unsigned k = 0; k < 2; k++) {
        struct sn_rt *rt = rt_make(ws[k], 0);
        CHECK(rt);
        _Atomic long count = 0;
        _Atomic int err = 0;
        struct latch l;
        latch_init(&l, 4 * per);
        struct spawner_arg a = {rt, &count, &l, per, &err};
        pthread_t th[4];
        for (int i = 0; i < 4; i++)
            CHECK_EQ(pthread_create(&th[i], NULL, spawner_thread, &a), 0);
        CHECK_EQ(latch_wait(rt, &l), 4 * per);  /* current-thread: runs them meanwhile */
        for (int i = 0; i < 4; i++)
            pthread_join(th[i], NULL);
        CHECK_EQ(atomic_load(&err), 0);
        CHECK_EQ(atomic_load(&count), 4 * per);
        CHECK_EQ(sn_rt_close(rt), 0);
        latch_fini(&l);
    }
    wd_disarm();
}

/* A task pinned by sn_cx_loop, woken many times from a plain thread (through its
 * worker's remote queue): every poll runs on its home worker's thread. */
struct pinned {
    _Atomic int armed, moved, done;
    _Atomic long polls;
    long target;
    pthread_t home;
    struct sn_waker w;
};
struct pinned_fut {
    struct sn_future base;
    struct pinned *p;
};
static int pinned_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct pinned *p = ((struct pinned_fut *)f)->p;
    long n = atomic_fetch_add(&p->polls, 1);
    if (n == 0) {
        (void)sn_cx_loop(cx);
        p->home = pthread_self();
    } else if (!pthread_equal(p->home, pthread_self())) {
        atomic_store(&p->moved, 1);
    }
    if (n + 1 >= p->target) {
        atomic_store(&p->done, 1);
        return SN_READY;
    }
    if (!p->w.vt)
        p->w = sn_waker_clone(&cx->waker);
    atomic_store(&p->armed, 1);
    return SN_PENDING;
}
static const struct sn_future_vt pinned_vt = {pinned_poll, NULL, "pinned"};

static void *pinned_waker(void *arg)
{
    struct pinned *p = arg;
    while (!atomic_load(&p->done)) {
        if (atomic_exchange(&p->armed, 0))
            sn_waker_wake_by_ref(&p->w);
        else
            sched_yield();
    }
    return NULL;
}

SN_TEST(pinned_wakes_from_other_threads)
{
    wd_arm("pinned_wakes_from_other_threads", 15);
    static const unsigned ws[] = {0, 2, 4};
    for (unsigned k = 0; k < 3; k++) {
        struct sn_rt *rt = rt_make(ws[k], 0);
        CHECK(rt);
        /* keep the other workers busy with stealable work meanwhile */
        _Atomic int stop = 0;
        _Atomic long spins = 0;
        struct spinner sp = {{&spinner_vt, 0}, &stop, &spins};
        CHECK_EQ(sn_spawn(rt, &sp.base, sizeof(sp), NULL), 0);
        struct pinned p;
        memset(&p, 0, sizeof(p));
        p.target = 5000 / TASK_SCALE;
        struct pinned_fut pf = {{&pinned_vt, 0}, &p};
        struct sn_task *t;
        CHECK_EQ(sn_spawn(rt, &pf.base, sizeof(pf), &t), 0);
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, pinned_waker, &p), 0);
        struct sn_join j;
        sn_join_init(&j, t);
        CHECK_EQ(sn_rt_block_on(rt, &j.base), 0);
        sn_drop(&j.base);
        pthread_join(th, NULL);
        atomic_store(&stop, 1);
        CHECK_EQ(atomic_load(&p.moved), 0);
        CHECK_EQ(atomic_load(&p.polls), p.target);
        sn_waker_drop(&p.w);
        CHECK_EQ(sn_rt_close(rt), 0);
    }
    wd_disarm();
}

/* ---- parking: ping-pong across workers and threads --------------------------------------------- */

struct pp {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int turn;              /* whose turn: 0, 1 */
    long round, rounds;
    struct sn_waker w[2];  /* task sides */
};
struct pp_fut {
    struct sn_future base;
    struct pp *p;
    int side;
    int is_thread_peer;    /* the other side is a plain thread */
};
static int pp_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct pp_fut *pf = (struct pp_fut *)f;
    struct pp *p = pf->p;
    pthread_mutex_lock(&p->mu);
    while (p->turn == pf->side && p->round < p->rounds) {
        p->round++;
        p->turn = !pf->side;
        if (pf->is_thread_peer) {
            pthread_cond_signal(&p->cv);
        } else {
            struct sn_waker o = p->w[!pf->side];
            p->w[!pf->side].vt = NULL;
            p->w[!pf->side].data = NULL;
            pthread_mutex_unlock(&p->mu);
            sn_waker_wake(&o);       /* outside the lock: the wake may run the peer */
            pthread_mutex_lock(&p->mu);
        }
    }
    if (p->round >= p->rounds) {
        if (pf->is_thread_peer)
            pthread_cond_signal(&p->cv);
        else
            sn_waker_wake(&p->w[!pf->side]);
        pthread_mutex_unlock(&p->mu);
        f->out = p->round;
        return SN_READY;
    }
    sn_waker_store(&p->w[pf->side], &cx->waker);
    pthread_mutex_unlock(&p->mu);
    return SN_PENDING;
}
static void pp_drop(struct sn_future *f)
{
    struct pp_fut *pf = (struct pp_fut *)f;
    pthread_mutex_lock(&pf->p->mu);
    sn_waker_drop(&pf->p->w[pf->side]);
    pthread_mutex_unlock(&pf->p->mu);
}
static const struct sn_future_vt pp_vt = {pp_poll, pp_drop, "pingpong"};

static void pp_init(struct pp *p, long rounds)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->rounds = rounds;
}
static void pp_fini(struct pp *p)
{
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
}

/* The plain-thread side: waits for its turn on the condvar, then wakes the task. */
static void *pp_thread(void *arg)
{
    struct pp *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->turn != 1 && p->round < p->rounds)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->round >= p->rounds)
            break;
        p->round++;
        p->turn = 0;
        struct sn_waker o = p->w[0];
        p->w[0].vt = NULL;
        p->w[0].data = NULL;
        pthread_mutex_unlock(&p->mu);
        sn_waker_wake(&o);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

SN_TEST(park_unpark_pingpong)
{
    wd_arm("park_unpark_pingpong", 25);
    long rounds = TSAN ? 2000 : 20000;
    static const unsigned ws[] = {0, 1, 2, 4};
    for (unsigned k = 0; k < 4; k++) {
        struct sn_rt *rt = rt_make(ws[k], 0);
        CHECK(rt);
        if (ws[k] >= 2) {
            /* task <-> task: on two workers they wake each other across threads */
            struct pp p;
            pp_init(&p, rounds);
            struct pp_fut a = {{&pp_vt, 0}, &p, 0, 0}, b = {{&pp_vt, 0}, &p, 1, 0};
            struct sn_task *ta, *tb;
            CHECK_EQ(sn_spawn(rt, &a.base, sizeof(a), &ta), 0);
            CHECK_EQ(sn_spawn(rt, &b.base, sizeof(b), &tb), 0);
            struct sn_join j;
            sn_join_init(&j, ta);
            CHECK_EQ(sn_rt_block_on(rt, &j.base), rounds);
            sn_drop(&j.base);
            sn_join_init(&j, tb);
            CHECK_EQ(sn_rt_block_on(rt, &j.base), rounds);
            sn_drop(&j.base);
            pp_fini(&p);
        }
        /* task <-> plain thread: every wake comes from outside the runtime */
        struct pp p;
        pp_init(&p, rounds / 4);
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, pp_thread, &p), 0);
        struct pp_fut a = {{&pp_vt, 0}, &p, 0, 1};
        struct sn_task *ta;
        CHECK_EQ(sn_spawn(rt, &a.base, sizeof(a), &ta), 0);
        struct sn_join j;
        sn_join_init(&j, ta);
        CHECK_EQ(sn_rt_block_on(rt, &j.base), rounds / 4);
        sn_drop(&j.base);
        pthread_join(th, NULL);
        pp_fini(&p);
        struct sn_rt_stats st;
        sn_rt_stats(rt, &st);
        if (ws[k] >= 1)
            CHECK(st.parks > 0);
        CHECK_EQ(sn_rt_close(rt), 0);
    }
    wd_disarm();
}

/* ---- inside the runtime: block_on and close are refused ------------------------------------- */

struct inside {
    struct sn_future base;
};
static int inside_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct sn_yield y;
    sn_yield_init(&y);
    int64_t r1 = sn_rt_block_on(cx->rt, &y.base);
    int r2 = sn_rt_close(cx->rt);
    f->out = (r1 == -EBUSY && r2 == -EBUSY) ? 1 : 0;
    return SN_READY;
}
static const struct sn_future_vt inside_vt = {inside_poll, NULL, "inside"};

SN_TEST(block_on_inside_is_ebusy)
{
    wd_arm("block_on_inside_is_ebusy", 10);
    static const unsigned ws[] = {0, 1, 2};
    for (unsigned k = 0; k < 3; k++) {
        struct sn_rt *rt = rt_make(ws[k], 0);
        CHECK(rt);
        struct inside in = {{&inside_vt, 0}};
        CHECK_EQ(sn_rt_block_on(rt, &in.base), 1);     /* the block_on future itself */
        struct sn_task *t;
        CHECK_EQ(sn_spawn(rt, &in.base, sizeof(in), &t), 0);
        struct sn_join j;
        sn_join_init(&j, t);
        CHECK_EQ(sn_rt_block_on(rt, &j.base), 1);      /* a spawned task */
        sn_drop(&j.base);
        CHECK_EQ(sn_rt_close(rt), 0);
    }
    wd_disarm();
}

/* ---- the reactor: a timer future written here ------------------------------------------------ */

struct tfut {
    struct sn_future base;
    struct sn_timer t;
    struct sn_waker w;
    int state;             /* 0 new, 1 armed, 2 fired */
    pthread_t home;
    _Atomic int *moved;
    struct latch *l;
    uint64_t ns;
    _Atomic int *armed;    /* counts first polls (the timer started) */
};
static void tfut_cb(struct sn_timer *t)
{
    struct tfut *f = t->data;
    f->state = 2;
    sn_waker_wake(&f->w);
}
static int tfut_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct tfut *tf = (struct tfut *)f;
    if (tf->state == 0) {
        struct sn_loop *l = sn_cx_loop(cx);   /* pins this task to this worker */
        tf->home = pthread_self();
        tf->w = sn_waker_clone(&cx->waker);
        tf->t.data = tf;
        if (sn_timer_start(l, &tf->t, tfut_cb, tf->ns, 0) < 0) {
            f->out = -ENOMEM;
            return SN_READY;
        }
        tf->state = 1;
        if (tf->armed)
            atomic_fetch_add(tf->armed, 1);
        return SN_PENDING;
    }
    if (!pthread_equal(tf->home, pthread_self()))
        atomic_fetch_add(tf->moved, 1);
    if (tf->state == 1)
        return SN_PENDING;   /* a spurious poll */
    if (tf->l)
        latch_arrive(tf->l);
    f->out = 0;
    return SN_READY;
}
static void tfut_drop(struct sn_future *f)
{
    struct tfut *tf = (struct tfut *)f;
    if (tf->state == 1)
        sn_timer_stop(&tf->t);
    sn_waker_drop(&tf->w);
}
static const struct sn_future_vt tfut_vt = {tfut_poll, tfut_drop, "timer"};

SN_TEST(timer_future_drives_reactor)
{
    wd_arm("timer_future_drives_reactor", 20);
    static const int be[] = {SN_BACKEND_EPOLL, SN_BACKEND_URING};
    static const unsigned ws[] = {0, 2};
    int ran_uring = 0;
    for (unsigned b = 0; b < 2; b++) {
        for (unsigned k = 0; k < 2; k++) {
            struct sn_rt *rt = NULL;
            struct sn_rt_opts o = {.workers = ws[k], .backend = be[b]};
            int rc = sn_rt_open(&rt, &o);
            if (be[b] == SN_BACKEND_URING && (rc == -ENOSYS || rc == -EPERM || rc == -EOPNOTSUPP))
                continue;
            CHECK_EQ(rc, 0);
            if (be[b] == SN_BACKEND_URING)
                ran_uring = 1;
            atomic_store(&wd_name, be[b] == SN_BACKEND_URING ? (ws[k] ? "timer_future_drives_reactor (uring, 2 workers)"
                                                                       : "timer_future_drives_reactor (uring, current thread)")
                                                            : (ws[k] ? "timer_future_drives_reactor (epoll, 2 workers)"
                                                                       : "timer_future_drives_reactor (epoll, current thread)"));
            _Atomic int moved = 0;
            struct latch l;
            latch_init(&l, 50);
            for (int i = 0; i < 50; i++) {
                struct tfut tf;
                memset(&tf, 0, sizeof(tf));
                tf.base.vt = &tfut_vt;
                tf.moved = &moved;
                tf.l = &l;
                tf.ns = (uint64_t)(i % 5 + 1) * SN_MS;
                CHECK_EQ(sn_spawn(rt, &tf.base, sizeof(tf), NULL), 0);
            }
            /* and a block_on future that is itself a timer */
            struct tfut mine;
            memset(&mine, 0, sizeof(mine));
            mine.base.vt = &tfut_vt;
            mine.moved = &moved;
            mine.ns = 2 * SN_MS;
            CHECK_EQ(sn_rt_block_on(rt, &mine.base), 0);
            sn_drop(&mine.base);
            CHECK_EQ(latch_wait(rt, &l), 50);
            CHECK_EQ(atomic_load(&moved), 0);   /* pinned tasks stay on their worker */
            /* a timer task still pending at close: its drop stops the timer */
            struct tfut late;
            memset(&late, 0, sizeof(late));
            late.base.vt = &tfut_vt;
            late.moved = &moved;
            late.ns = 10 * SN_SEC;
            _Atomic int armed = 0;
            late.armed = &armed;
            CHECK_EQ(sn_spawn(rt, &late.base, sizeof(late), NULL), 0);
            if (ws[k] == 0)
                run_a_turn(rt);   /* current-thread: let it arm */
            while (!atomic_load(&armed))
                sched_yield();
            /* close: the worker that owns the timer drops the future (stopping it)
             * and closes its loop (io_uring: only its thread may enter the ring) */
            CHECK_EQ(sn_rt_close(rt), 0);
            latch_fini(&l);
        }
    }
    wd_disarm();
    if (!ran_uring)
        SKIP("io_uring unavailable here (epoll ran)");
}

/* A worker that never runs out of local work (spinners that yield forever, spawned
 * from inside so they live in its local queue) must still look at the global
 * queue and run its reactor every event_interval ticks: a task spawned from a
 * plain thread (global queue) and a timer (the loop, never parked in) both get
 * their turn. Without that rule this test hangs (the watchdog fails it). */
struct spin_spawner {
    struct sn_future base;
    _Atomic int *stop;
    _Atomic long *polls;
    struct latch *l;
    _Atomic int *moved;
    int phase;
    struct sn_join j;
};
static int spin_spawner_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct spin_spawner *ss = (struct spin_spawner *)f;
    if (ss->phase == 0) {
        for (int i = 0; i < 4; i++) {
            struct spinner sp = {{&spinner_vt, 0}, ss->stop, ss->polls};
            if (sn_spawn(cx->rt, &sp.base, sizeof(sp), NULL) < 0)
                return f->out = -1, SN_READY;
        }
        struct tfut tf;
        memset(&tf, 0, sizeof(tf));
        tf.base.vt = &tfut_vt;
        tf.moved = ss->moved;
        tf.l = ss->l;
        tf.ns = 1 * SN_MS;
        struct sn_task *t;
        if (sn_spawn(cx->rt, &tf.base, sizeof(tf), &t) < 0)
            return f->out = -1, SN_READY;
        sn_join_init(&ss->j, t);
        ss->phase = 1;
    }
    if (sn_poll(&ss->j.base, cx) == SN_PENDING)
        return SN_PENDING;
    sn_drop(&ss->j.base);
    f->out = 0;
    return SN_READY;
}
static const struct sn_future_vt spin_spawner_vt = {spin_spawner_poll, NULL, "spin_spawner"};

struct ext_spawn {
    struct sn_rt *rt;
    _Atomic int *flag;
    struct latch *l;
};
static void *ext_spawn_thread(void *arg)
{
    struct ext_spawn *e = arg;
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, NULL);   /* after the spinners started */
    struct triv tv = {{&triv_vt, 0}, NULL, e->l, 0};
    sn_spawn(e->rt, &tv.base, sizeof(tv), NULL);
    return NULL;
}

SN_TEST(busy_worker_sees_global_and_reactor)
{
    wd_arm("busy_worker_sees_global_and_reactor", 15);
    static const unsigned ws[] = {0, 1};
    for (unsigned k = 0; k < 2; k++) {
        struct sn_rt *rt = rt_make(ws[k], 0);
        CHECK(rt);
        _Atomic int stop = 0, moved = 0, flag = 0;
        _Atomic long polls = 0;
        struct latch tl, gl;
        latch_init(&tl, 1);
        latch_init(&gl, 1);
        /* the spawner is itself a task: its spinners go to its worker's local queue */
        struct spin_spawner ss;
        memset(&ss, 0, sizeof(ss));
        ss.base.vt = &spin_spawner_vt;
        ss.stop = &stop;
        ss.polls = &polls;
        ss.l = &tl;
        ss.moved = &moved;
        struct sn_task *t;
        CHECK_EQ(sn_spawn(rt, &ss.base, sizeof(ss), &t), 0);
        struct ext_spawn e = {rt, &flag, &gl};
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, ext_spawn_thread, &e), 0);
        struct sn_join j;
        sn_join_init(&j, t);
        CHECK_EQ(sn_rt_block_on(rt, &j.base), 0);   /* the timer fired while busy */
        sn_drop(&j.base);
        CHECK_EQ(latch_wait(rt, &gl), 1);           /* the global task ran while busy */
        pthread_join(th, NULL);
        CHECK(atomic_load(&polls) > 0);
        atomic_store(&stop, 1);
        CHECK_EQ(sn_rt_close(rt), 0);
        latch_fini(&tl);
        latch_fini(&gl);
    }
    wd_disarm();
}
