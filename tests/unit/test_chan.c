/* test_chan.c — channels of include/sysnet/task.h (src/task/chan.c): the lock-free
 * oneshot and the bounded mpsc, polled by hand with counting wakers (task_common.h),
 * across threads with a parking waker (block_on of chan_common.h: a mutex and a
 * condvar per thread), and
 * inside the runtime (rt_* tests). ASan checks each channel is freed exactly when
 * both sides are released; ThreadSanitizer (build/tsan/test_chan) checks the
 * cross-thread protocols. Every test ends with every waker reference released. */
#include "../harness.h"
#include <sysnet/task.h>

#include "../chan_common.h"
#include "../task_common.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

/* ======================================================================
 * oneshot
 * ====================================================================== */

/* A new oneshot whose receiver has polled once and waits (cx's waker stored). */
static int oneshot_waiting(struct sn_oneshot **c, struct sn_oneshot_recv *r, struct sn_cx *cx)
{
    int e = sn_oneshot_new(c);
    if (e)
        return e;
    sn_oneshot_recv_init(r, *c);
    return sn_poll(&r->base, cx) == SN_PENDING ? 0 : -EPROTO;
}

SN_TEST(oneshot_send_then_recv)
{
    struct twaker tw = {0, 0};
    struct sn_cx cx = tw_cx(&tw);
    struct sn_oneshot *c;
    CHECK_EQ(sn_oneshot_new(&c), 0);
    int x;
    CHECK_EQ(sn_oneshot_send(c, 42, &x), 0);
    struct sn_oneshot_recv r;
    sn_oneshot_recv_init(&r, c);
    CHECK_EQ(sn_poll(&r.base, &cx), SN_READY);
    CHECK_EQ(r.base.out, 42);
    CHECK(r.p == &x);
    sn_drop(&r.base); /* frees the channel (ASan) */
    CHECK_EQ(atomic_load(&tw.refs), 0);
    CHECK_EQ(atomic_load(&tw.wakes), 0);
}

SN_TEST(oneshot_recv_waits_then_send_wakes)
{
    struct twaker tw = {0, 0}, tw2 = {0, 0};
    struct sn_cx cx = tw_cx(&tw), cx2 = tw_cx(&tw2);
    struct sn_oneshot *c;
    struct sn_oneshot_recv r;
    CHECK_EQ(oneshot_waiting(&c, &r, &cx), 0);
    CHECK_EQ(sn_poll(&r.base, &cx), SN_PENDING); /* same waker: kept */
    CHECK_EQ(atomic_load(&tw.refs), 1);
    CHECK_EQ(sn_poll(&r.base, &cx2), SN_PENDING); /* another task: replaced */
    CHECK_EQ(atomic_load(&tw.refs), 0);
    CHECK_EQ(atomic_load(&tw2.refs), 1);
    CHECK_EQ(sn_oneshot_send(c, -7, NULL), 0);
    CHECK_EQ(atomic_load(&tw2.wakes), 1);
    CHECK_EQ(atomic_load(&tw2.refs), 0);
    CHECK_EQ(sn_poll(&r.base, &cx2), SN_READY);
    CHECK_EQ(r.base.out, -7);
    sn_drop(&r.base);
}

SN_TEST(oneshot_close_tx_gives_epipe)
{
    struct twaker tw = {0, 0};
    struct sn_cx cx = tw_cx(&tw);
    struct sn_oneshot *c;
    struct sn_oneshot_recv r;
    CHECK_EQ(oneshot_waiting(&c, &r, &cx), 0);
    sn_oneshot_close_tx(c);
    CHECK_EQ(atomic_load(&tw.wakes), 1);
    CHECK_EQ(sn_poll(&r.base, &cx), SN_READY);
    CHECK_EQ(r.base.out, -EPIPE);
    sn_drop(&r.base);
    CHECK_EQ(atomic_load(&tw.refs), 0);

    /* closed before the receiver ever looks */
    CHECK_EQ(sn_oneshot_new(&c), 0);
    sn_oneshot_close_tx(c);
    sn_oneshot_recv_init(&r, c);
    CHECK_EQ(sn_poll(&r.base, &cx), SN_READY);
    CHECK_EQ(r.base.out, -EPIPE);
    sn_drop(&r.base);
}

SN_TEST(oneshot_close_rx)
{
    struct twaker tw = {0, 0};
    struct sn_cx cx = tw_cx(&tw);
    struct sn_oneshot *c;
    struct sn_oneshot_recv r;
    CHECK_EQ(oneshot_waiting(&c, &r, &cx), 0);
    sn_drop(&r.base); /* takes its waker back, releases */
    CHECK_EQ(atomic_load(&tw.refs), 0);
    CHECK_EQ(sn_oneshot_send(c, 1, NULL), -EPIPE); /* frees */
    CHECK_EQ(atomic_load(&tw.wakes), 0);

    /* receiver released without a recv future, sender gives up: freed once */
    CHECK_EQ(sn_oneshot_new(&c), 0);
    sn_oneshot_close_rx(c);
    sn_oneshot_close_tx(c);
    /* sent, never received */
    CHECK_EQ(sn_oneshot_new(&c), 0);
    CHECK_EQ(sn_oneshot_send(c, 5, NULL), 0);
    sn_oneshot_close_rx(c);
}

struct os_pair {
    struct sn_oneshot *c;
    int mode; /* 0 send, 1 close_tx */
    int64_t v;
};
static void *os_sender(void *arg)
{
    struct os_pair *p = arg;
    if (p->mode == 0)
        (void)sn_oneshot_send(p->c, p->v, p);
    else
        sn_oneshot_close_tx(p->c);
    return NULL;
}
struct os_bulk {
    struct os_pair *pairs;
    int n;
};
static void *os_senders(void *arg)
{
    struct os_bulk *b = arg;
    for (int i = 0; i < b->n; i++)
        os_sender(&b->pairs[i]);
    return NULL;
}

/* Across threads: one thread sends (or gives up) on n channels in order while this
 * one receives on each with a parking waker — every race between the receiver
 * publishing its waker and the sender finishing gets exercised. Then half the
 * receivers are dropped early, racing the sends. */
SN_TEST(oneshot_across_threads)
{
    int n = UNDER_TSAN ? 2000 : 20000;
    struct os_pair *pairs = calloc((size_t)n, sizeof(*pairs));
    CHECK(pairs);
    for (int i = 0; i < n; i++) {
        CHECK_EQ(sn_oneshot_new(&pairs[i].c), 0);
        pairs[i].mode = i % 7 == 3;
        pairs[i].v = i;
    }
    struct parker pk;
    parker_init(&pk);
    struct os_bulk b = {pairs, n};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, os_senders, &b), 0);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        struct sn_oneshot_recv r;
        sn_oneshot_recv_init(&r, pairs[i].c);
        /* Two polls in a row first: the second compares its waker with the one
         * published (read) while the sender may be consuming it. */
        struct sn_cx pcx = pk_cx(&pk);
        int64_t v;
        if (sn_poll(&r.base, &pcx) == SN_READY || sn_poll(&r.base, &pcx) == SN_READY)
            v = r.base.out;
        else
            v = block_on(&pk, &r.base);
        if (pairs[i].mode ? v != -EPIPE : (v != i || r.p != &pairs[i]))
            bad++;
        sn_drop(&r.base);
    }
    pthread_join(th, NULL);
    CHECK_EQ(bad, 0);
    CHECK_EQ(atomic_load(&pk.refs), 0);

    /* receivers dropped while the sender runs: each channel still freed once */
    for (int i = 0; i < n; i++) {
        CHECK_EQ(sn_oneshot_new(&pairs[i].c), 0);
        pairs[i].mode = 0;
    }
    CHECK_EQ(pthread_create(&th, NULL, os_senders, &b), 0);
    struct twaker tw = {0, 0};
    struct sn_cx cx = tw_cx(&tw);
    for (int i = 0; i < n; i++) {
        struct sn_oneshot_recv r;
        sn_oneshot_recv_init(&r, pairs[i].c);
        if (i % 2)
            (void)sn_poll(&r.base, &cx);
        sn_drop(&r.base);
    }
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&tw.refs), 0);
    parker_fini(&pk);
    free(pairs);
}

/* ======================================================================
 * mpsc
 * ====================================================================== */

SN_TEST(mpsc_try_fifo)
{
    struct sn_mpsc *c;
    CHECK_EQ(sn_mpsc_new(&c, 0, 8), -EINVAL);
    CHECK_EQ(sn_mpsc_new(&c, 4, 0), -EINVAL);
    CHECK_EQ(sn_mpsc_new(&c, 4, sizeof(uint64_t)), 0);
    uint64_t v;
    CHECK_EQ(sn_mpsc_try_recv(c, &v), -EAGAIN);
    /* wrap around the ring several times */
    uint64_t next_in = 0, next_out = 0;
    for (int round = 0; round < 10; round++) {
        while (sn_mpsc_try_send(c, &next_in) == 0)
            next_in++;
        CHECK_EQ(sn_mpsc_len(c), 4);
        CHECK_EQ(sn_mpsc_try_send(c, &next_in), -EAGAIN);
        int k = round % 4 + 1;
        for (int i = 0; i < k; i++) {
            CHECK_EQ(sn_mpsc_try_recv(c, &v), 0);
            CHECK_EQ(v, next_out);
            next_out++;
        }
    }
    while (sn_mpsc_try_recv(c, &v) == 0) {
        CHECK_EQ(v, next_out);
        next_out++;
    }
    CHECK_EQ(next_out, next_in);
    CHECK_EQ(sn_mpsc_len(c), 0);
    sn_mpsc_sender_release(c);
    CHECK_EQ(sn_mpsc_try_recv(c, &v), -EPIPE);
    sn_mpsc_receiver_release(c);
}

/* The recv future waits and is woken by a send. */
SN_TEST(mpsc_recv_waits)
{
    struct twaker tw = {0, 0};
    struct sn_cx cx = tw_cx(&tw);
    struct sn_mpsc *c;
    CHECK_EQ(sn_mpsc_new(&c, 2, sizeof(int)), 0);
    int got = 0, m = 9;
    struct sn_mpsc_recv r;
    sn_mpsc_recv_init(&r, c, &got);
    CHECK_EQ(sn_poll(&r.base, &cx), SN_PENDING);
    CHECK_EQ(atomic_load(&tw.refs), 1);
    CHECK_EQ(sn_mpsc_try_send(c, &m), 0);
    CHECK_EQ(atomic_load(&tw.wakes), 1);
    CHECK_EQ(sn_poll(&r.base, &cx), SN_READY);
    CHECK_EQ(r.base.out, 0);
    CHECK_EQ(got, 9);
    sn_drop(&r.base);
    /* a recv dropped while waiting takes its waker out */
    sn_mpsc_recv_init(&r, c, &got);
    CHECK_EQ(sn_poll(&r.base, &cx), SN_PENDING);
    sn_drop(&r.base);
    CHECK_EQ(atomic_load(&tw.refs), 0);
    sn_mpsc_sender_release(c);
    sn_mpsc_receiver_release(c);
}

/* Capacity 2, full; three senders wait in order s1, s2, s3. Each slot the receiver
 * frees is reserved for the first waiter and only that one is woken; a try_send
 * cannot take the reserved slot; messages come out in the order m0 m1 s1 s2 s3. */
SN_TEST(mpsc_backpressure_fifo)
{
    struct twaker tw[3] = {{0, 0}, {0, 0}, {0, 0}}, trx = {0, 0};
    struct sn_cx cx[3] = {tw_cx(&tw[0]), tw_cx(&tw[1]), tw_cx(&tw[2])}, crx = tw_cx(&trx);
    struct sn_mpsc *c;
    CHECK_EQ(sn_mpsc_new(&c, 2, sizeof(int)), 0);
    int m0 = 100, m1 = 101, ms[3] = {1, 2, 3}, x = 999, got;
    CHECK_EQ(sn_mpsc_try_send(c, &m0), 0);
    CHECK_EQ(sn_mpsc_try_send(c, &m1), 0);
    struct sn_mpsc_send s[3];
    for (int i = 0; i < 3; i++) {
        sn_mpsc_send_init(&s[i], c, &ms[i]);
        CHECK_EQ(sn_poll(&s[i].base, &cx[i]), SN_PENDING);
    }
    struct sn_mpsc_recv r;
    sn_mpsc_recv_init(&r, c, &got);
    CHECK_EQ(sn_poll(&r.base, &crx), SN_READY);
    CHECK_EQ(got, 100);
    CHECK_EQ(atomic_load(&tw[0].wakes), 1); /* s1 got the slot */
    CHECK_EQ(atomic_load(&tw[1].wakes), 0);
    CHECK_EQ(sn_mpsc_try_send(c, &x), -EAGAIN); /* reserved for s1 */
    CHECK_EQ(sn_poll(&s[1].base, &cx[1]), SN_PENDING); /* s2 still waits */
    CHECK_EQ(sn_poll(&s[0].base, &cx[0]), SN_READY);
    CHECK_EQ(s[0].base.out, 0);
    sn_mpsc_recv_init(&r, c, &got);
    CHECK_EQ(sn_poll(&r.base, &crx), SN_READY);
    CHECK_EQ(got, 101);
    CHECK_EQ(atomic_load(&tw[1].wakes), 1);
    CHECK_EQ(sn_poll(&s[1].base, &cx[1]), SN_READY);
    sn_mpsc_recv_init(&r, c, &got);
    CHECK_EQ(sn_poll(&r.base, &crx), SN_READY);
    CHECK_EQ(got, 1);
    CHECK_EQ(atomic_load(&tw[2].wakes), 1);
    CHECK_EQ(sn_poll(&s[2].base, &cx[2]), SN_READY);
    for (int i = 0; i < 2; i++) {
        sn_mpsc_recv_init(&r, c, &got);
        CHECK_EQ(sn_poll(&r.base, &crx), SN_READY);
        CHECK_EQ(got, 2 + i);
    }
    for (int i = 0; i < 3; i++) {
        sn_drop(&s[i].base);
        CHECK_EQ(atomic_load(&tw[i].refs), 0);
    }
    sn_mpsc_sender_release(c);
    sn_mpsc_recv_init(&r, c, &got);
    CHECK_EQ(sn_poll(&r.base, &crx), SN_READY);
    CHECK_EQ(r.base.out, -EPIPE); /* drained and no sender left */
    sn_mpsc_receiver_release(c);
    CHECK_EQ(atomic_load(&trx.refs), 0);
}

/* Dropping waiting senders: one still queued (unlinked: the next slot skips it)
 * and one that had been granted a slot (the slot passes to the next waiter). */
SN_TEST(mpsc_dropped_send_keeps_queue)
{
    struct twaker tw[4] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
    struct sn_cx cx[4] = {tw_cx(&tw[0]), tw_cx(&tw[1]), tw_cx(&tw[2]), tw_cx(&tw[3])};
    struct sn_mpsc *c;
    CHECK_EQ(sn_mpsc_new(&c, 1, sizeof(int)), 0);
    int m = 0, ms[4] = {10, 11, 12, 13}, got;
    CHECK_EQ(sn_mpsc_try_send(c, &m), 0);
    struct sn_mpsc_send s[4];
    for (int i = 0; i < 4; i++) {
        sn_mpsc_send_init(&s[i], c, &ms[i]);
        CHECK_EQ(sn_poll(&s[i].base, &cx[i]), SN_PENDING);
    }
    sn_drop(&s[1].base); /* queued: unlinked */
    CHECK_EQ(atomic_load(&tw[1].refs), 0);
    CHECK_EQ(sn_mpsc_try_recv(c, &got), 0);   /* frees a slot: granted to s0 */
    CHECK_EQ(atomic_load(&tw[0].wakes), 1);
    sn_drop(&s[0].base);                      /* granted, dropped: passes to s2 */
    CHECK_EQ(atomic_load(&tw[2].wakes), 1);
    CHECK_EQ(atomic_load(&tw[1].wakes), 0);
    CHECK_EQ(sn_mpsc_try_send(c, &m), -EAGAIN);
    CHECK_EQ(sn_poll(&s[2].base, &cx[2]), SN_READY);
    CHECK_EQ(sn_mpsc_try_recv(c, &got), 0);
    CHECK_EQ(got, 12);
    CHECK_EQ(atomic_load(&tw[3].wakes), 1);
    CHECK_EQ(sn_poll(&s[3].base, &cx[3]), SN_READY);
    CHECK_EQ(sn_mpsc_try_recv(c, &got), 0);
    CHECK_EQ(got, 13);
    CHECK_EQ(sn_mpsc_try_recv(c, &got), -EAGAIN);
    CHECK_EQ(sn_mpsc_try_send(c, &m), 0); /* nothing reserved is left behind */
    for (int i = 0; i < 4; i++) {
        sn_drop(&s[i].base);
        CHECK_EQ(atomic_load(&tw[i].refs), 0);
    }
    sn_mpsc_receiver_release(c);
    sn_mpsc_sender_release(c);
}

/* Receiver released: waiting senders are woken and get -EPIPE, so do new sends.
 * Senders released: a waiting recv is woken, drains, then -EPIPE. */
SN_TEST(mpsc_close_semantics)
{
    struct twaker tw = {0, 0}, trx = {0, 0};
    struct sn_cx cx = tw_cx(&tw), crx = tw_cx(&trx);
    struct sn_mpsc *c;
    CHECK_EQ(sn_mpsc_new(&c, 1, sizeof(int)), 0);
    int m = 1, got;
    CHECK_EQ(sn_mpsc_try_send(c, &m), 0);
    struct sn_mpsc_send s;
    sn_mpsc_send_init(&s, c, &m);
    CHECK_EQ(sn_poll(&s.base, &cx), SN_PENDING);
    sn_mpsc_receiver_release(c);
    CHECK_EQ(atomic_load(&tw.wakes), 1);
    CHECK_EQ(sn_poll(&s.base, &cx), SN_READY);
    CHECK_EQ(s.base.out, -EPIPE);
    CHECK_EQ(sn_mpsc_try_send(c, &m), -EPIPE);
    sn_mpsc_send_init(&s, c, &m);
    CHECK_EQ(sn_poll(&s.base, &cx), SN_READY);
    CHECK_EQ(s.base.out, -EPIPE);
    sn_drop(&s.base);
    sn_mpsc_sender_release(c); /* frees */
    CHECK_EQ(atomic_load(&tw.refs), 0);

    CHECK_EQ(sn_mpsc_new(&c, 4, sizeof(int)), 0);
    sn_mpsc_sender_clone(c); /* two senders */
    m = 5;
    CHECK_EQ(sn_mpsc_try_send(c, &m), 0);
    struct sn_mpsc_recv r;
    sn_mpsc_recv_init(&r, c, &got);
    CHECK_EQ(sn_poll(&r.base, &crx), SN_READY);
    CHECK_EQ(got, 5);
    sn_mpsc_recv_init(&r, c, &got);
    CHECK_EQ(sn_poll(&r.base, &crx), SN_PENDING);
    m = 6;
    CHECK_EQ(sn_mpsc_try_send(c, &m), 0);
    sn_mpsc_sender_release(c);
    sn_mpsc_sender_release(c); /* the last: wakes the receiver */
    CHECK_EQ(sn_poll(&r.base, &crx), SN_READY);
    CHECK_EQ(r.base.out, 0); /* drains first */
    CHECK_EQ(got, 6);
    sn_mpsc_recv_init(&r, c, &got);
    CHECK_EQ(sn_poll(&r.base, &crx), SN_READY);
    CHECK_EQ(r.base.out, -EPIPE);
    CHECK_EQ(sn_mpsc_try_recv(c, &got), -EPIPE);
    sn_mpsc_receiver_release(c);

    /* a recv waiting when the last sender goes is woken */
    CHECK_EQ(sn_mpsc_new(&c, 4, sizeof(int)), 0);
    sn_mpsc_recv_init(&r, c, &got);
    CHECK_EQ(sn_poll(&r.base, &crx), SN_PENDING);
    int w0 = atomic_load(&trx.wakes);
    sn_mpsc_sender_release(c);
    CHECK_EQ(atomic_load(&trx.wakes), w0 + 1);
    CHECK_EQ(sn_poll(&r.base, &crx), SN_READY);
    CHECK_EQ(r.base.out, -EPIPE);
    sn_mpsc_receiver_release(c);
    CHECK_EQ(atomic_load(&trx.refs), 0);
}

/* 4 producer threads × N messages through a small channel with send futures (and
 * some try_send), one consumer with recv futures: every message arrives, each
 * producer's in order, and the sum is exact. */
#define NPROD 4
struct msg {
    uint32_t producer;
    uint32_t seq;
    uint64_t payload;
};
struct prod {
    struct sn_mpsc *c;
    struct parker pk;
    uint32_t id, n;
};
static void *producer(void *arg)
{
    struct prod *p = arg;
    for (uint32_t i = 0; i < p->n; i++) {
        struct msg m = {p->id, i, (uint64_t)p->id * 1000003u + i};
        if (i % 3 == 0 && sn_mpsc_try_send(p->c, &m) == 0)
            continue;
        struct sn_mpsc_send s;
        sn_mpsc_send_init(&s, p->c, &m);
        int64_t r = block_on(&p->pk, &s.base);
        sn_drop(&s.base);
        if (r != 0)
            abort();
    }
    sn_mpsc_sender_release(p->c);
    return NULL;
}

SN_TEST(mpsc_stress_4_producers)
{
    uint32_t n = 100000; /* 4 x 100k: ~2.5 s under TSan on 2 shared CPUs */
    struct sn_mpsc *c;
    CHECK_EQ(sn_mpsc_new(&c, 64, sizeof(struct msg)), 0);
    struct prod p[NPROD];
    pthread_t th[NPROD];
    for (uint32_t i = 0; i < NPROD; i++) {
        if (i)
            sn_mpsc_sender_clone(c);
        p[i].c = c;
        p[i].id = i;
        p[i].n = n;
        parker_init(&p[i].pk);
    }
    for (int i = 0; i < NPROD; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, producer, &p[i]), 0);
    struct parker rx;
    parker_init(&rx);
    uint32_t next[NPROD] = {0};
    uint64_t sum = 0, count = 0;
    int bad = 0;
    for (;;) {
        struct msg m;
        struct sn_mpsc_recv r;
        sn_mpsc_recv_init(&r, c, &m);
        int64_t rc = block_on(&rx, &r.base);
        sn_drop(&r.base);
        if (rc == -EPIPE)
            break;
        if (rc != 0 || m.producer >= NPROD || m.seq != next[m.producer] ||
            m.payload != (uint64_t)m.producer * 1000003u + m.seq)
            bad++;
        else
            next[m.producer]++;
        sum += m.payload;
        count++;
    }
    for (int i = 0; i < NPROD; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(bad, 0);
    CHECK_EQ(count, (uint64_t)NPROD * n);
    uint64_t want = 0;
    for (uint64_t i = 0; i < NPROD; i++)
        want += i * 1000003u * n + (uint64_t)n * (n - 1) / 2;
    CHECK_EQ(sum, want);
    for (int i = 0; i < NPROD; i++)
        CHECK_EQ(next[i], n);
    sn_mpsc_receiver_release(c); /* frees */
    for (int i = 0; i < NPROD; i++) {
        CHECK_EQ(atomic_load(&p[i].pk.refs), 0);
        parker_fini(&p[i].pk);
    }
    CHECK_EQ(atomic_load(&rx.refs), 0);
    parker_fini(&rx);
}

/* ======================================================================
 * inside the runtime: tasks on the current thread and on 2 workers
 * ====================================================================== */

/* A producer task: n messages through send futures (backpressure: capacity 8). */
struct ptask {
    struct sn_future base;
    struct sn_mpsc *c;
    uint32_t id, i, n;
    int active;
    struct msg m;
    struct sn_mpsc_send s;
};
static int ptask_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct ptask *p = (struct ptask *)f;
    for (;;) {
        if (!p->active) {
            if (p->i == p->n) {
                sn_mpsc_sender_release(p->c);
                f->out = 0;
                return SN_READY;
            }
            p->m = (struct msg){p->id, p->i, (uint64_t)p->id * 1000003u + p->i};
            sn_mpsc_send_init(&p->s, p->c, &p->m);
        }
        if (fut_step(&p->s.base, &p->active, cx) == SN_PENDING)
            return SN_PENDING;
        if (p->s.base.out)
            return f->out = p->s.base.out, SN_READY;
        p->i++;
    }
}
static void ptask_drop(struct sn_future *f)
{
    struct ptask *p = (struct ptask *)f;
    fut_step_drop(&p->s.base, &p->active);
}
static const struct sn_future_vt ptask_vt = {ptask_poll, ptask_drop, "producer"};

/* The consumer (block_on): until -EPIPE; checks per-producer order. out: count, or
 * -EPROTO on a message out of order. */
struct ctask {
    struct sn_future base;
    struct sn_mpsc *c;
    uint32_t next[NPROD];
    int64_t count;
    int active;
    struct msg m;
    struct sn_mpsc_recv r;
};
static int ctask_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct ctask *k = (struct ctask *)f;
    for (;;) {
        if (!k->active)
            sn_mpsc_recv_init(&k->r, k->c, &k->m);
        if (fut_step(&k->r.base, &k->active, cx) == SN_PENDING)
            return SN_PENDING;
        if (k->r.base.out == -EPIPE)
            return f->out = k->count, SN_READY;
        if (k->m.producer >= NPROD || k->m.seq != k->next[k->m.producer])
            return f->out = -EPROTO, SN_READY;
        k->next[k->m.producer]++;
        k->count++;
    }
}
static const struct sn_future_vt ctask_vt = {ctask_poll, NULL, "consumer"};

/* The fixture of RT_TEST(x): x_current and x_2workers run the body on a runtime
 * of 0 (current-thread) and 2 workers, closed after it. */
static void on_rt(unsigned workers, void (*fn)(struct sn_rt *rt))
{
    struct sn_rt *rt;
    struct sn_rt_opts o = {.workers = workers};
    CHECK_EQ(sn_rt_open(&rt, &o), 0);
    fn(rt);
    if (sn_cur_failed)
        return;
    CHECK_EQ(sn_rt_close(rt), 0);
}
#define RT_TEST(name)                                                                    \
    static void name(struct sn_rt *rt);                                                  \
    SN_TEST(name##_current) { on_rt(0, name); }                                          \
    SN_TEST(name##_2workers) { on_rt(2, name); }                                         \
    static void name(struct sn_rt *rt)

RT_TEST(rt_mpsc_tasks)
{
    uint32_t n = UNDER_TSAN ? 5000 : 50000;
    struct sn_mpsc *c;
    CHECK_EQ(sn_mpsc_new(&c, 8, sizeof(struct msg)), 0);
    for (uint32_t i = 0; i < NPROD; i++) {
        if (i)
            sn_mpsc_sender_clone(c);
        struct ptask p;
        memset(&p, 0, sizeof(p));
        p.base.vt = &ptask_vt;
        p.c = c;
        p.id = i;
        p.n = n;
        CHECK_EQ(sn_spawn(rt, &p.base, sizeof(p), NULL), 0);
    }
    struct ctask k;
    memset(&k, 0, sizeof(k));
    k.base.vt = &ctask_vt;
    k.c = c;
    CHECK_EQ(sn_rt_block_on(rt, &k.base), (int64_t)NPROD * n);
    for (int i = 0; i < NPROD; i++)
        CHECK_EQ(k.next[i], n);
    sn_mpsc_receiver_release(c);
}

/* oneshot between tasks: a spawned task sends after a short sleep; block_on
 * receives. And a task that gives up: the receiver gets -EPIPE. */
struct os_task {
    struct sn_future base;
    struct sn_oneshot *c;
    int st, give_up;
    struct sn_sleep_fut sl;
};
static int os_task_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct os_task *t = (struct os_task *)f;
    if (t->st == 0) {
        sn_sleep_init(&t->sl, 2 * SN_MS);
        t->st = 1;
    }
    if (sn_poll(&t->sl.base, cx) == SN_PENDING)
        return SN_PENDING;
    if (t->give_up)
        sn_oneshot_close_tx(t->c);
    else
        (void)sn_oneshot_send(t->c, 4242, t);
    t->st = 2;
    f->out = 0;
    return SN_READY;
}
static void os_task_drop(struct sn_future *f)
{
    struct os_task *t = (struct os_task *)f;
    if (t->st == 1)
        sn_drop(&t->sl.base);
}
static const struct sn_future_vt os_task_vt = {os_task_poll, os_task_drop, "oneshot_sender"};

RT_TEST(rt_oneshot_tasks)
{
    for (int round = 0; round < 20; round++) {
        struct sn_oneshot *c;
        CHECK_EQ(sn_oneshot_new(&c), 0);
        struct os_task t;
        memset(&t, 0, sizeof(t));
        t.base.vt = &os_task_vt;
        t.c = c;
        t.give_up = round % 4 == 3;
        CHECK_EQ(sn_spawn(rt, &t.base, sizeof(t), NULL), 0);
        struct sn_oneshot_recv r;
        sn_oneshot_recv_init(&r, c);
        int64_t v = sn_rt_block_on(rt, &r.base);
        CHECK_EQ(v, t.give_up ? -EPIPE : 4242);
        sn_drop(&r.base);
    }
}

/* Cooperative budget: a receiver draining 64 queued messages with budget 8 must
 * yield (recv returns PENDING once the budget is spent) and still get them all. */
struct drain {
    struct sn_future base;
    struct sn_mpsc *c;
    int got, polls;
    int v;
    struct sn_mpsc_recv r;
    int active;
};
static int drain_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct drain *d = (struct drain *)f;
    d->polls++;
    for (;;) {
        if (!d->active) {
            sn_mpsc_recv_init(&d->r, d->c, &d->v);
            d->active = 1;
        }
        if (sn_poll(&d->r.base, cx) == SN_PENDING)
            return SN_PENDING;
        d->active = 0;
        if (d->r.base.out || d->v != d->got)
            return f->out = -EPROTO, SN_READY;
        if (++d->got == 64)
            return f->out = d->polls, SN_READY;
    }
}
static const struct sn_future_vt drain_vt = {drain_poll, NULL, "drain"};

SN_TEST(rt_mpsc_coop_budget)
{
    struct sn_rt *rt;
    struct sn_rt_opts o = {.workers = 0, .budget = 8};
    CHECK_EQ(sn_rt_open(&rt, &o), 0);
    struct sn_mpsc *c;
    CHECK_EQ(sn_mpsc_new(&c, 64, sizeof(int)), 0);
    for (int i = 0; i < 64; i++)
        CHECK_EQ(sn_mpsc_try_send(c, &i), 0);
    struct drain d;
    memset(&d, 0, sizeof(d));
    d.base.vt = &drain_vt;
    d.c = c;
    int64_t polls = sn_rt_block_on(rt, &d.base);
    CHECK(polls >= 64 / 8);
    sn_mpsc_sender_release(c);
    sn_mpsc_receiver_release(c);
    CHECK_EQ(sn_rt_close(rt), 0);
}

/* The receiver goes away while 4 threads wait to send on a full channel: each is
 * woken with -EPIPE, drops its future and releases its sender handle — possibly
 * while receiver_release is still waking the others. The channel is freed exactly
 * once, by whoever is last (ASan, TSan). */
struct closer_arg {
    struct sn_mpsc *c;
    struct parker pk;
    _Atomic int *waiting;
    int64_t rc;
};
static void *blocked_sender(void *arg)
{
    struct closer_arg *a = arg;
    int v = 1;
    struct sn_mpsc_send s;
    sn_mpsc_send_init(&s, a->c, &v);
    struct sn_cx cx = pk_cx(&a->pk);
    if (sn_poll(&s.base, &cx) == SN_READY) {
        a->rc = s.base.out;
    } else {
        atomic_fetch_add(a->waiting, 1);
        a->rc = block_on(&a->pk, &s.base);
    }
    sn_drop(&s.base);
    sn_mpsc_sender_release(a->c);
    return NULL;
}

SN_TEST(mpsc_receiver_release_races_senders)
{
    int rounds = UNDER_TSAN ? 50 : 300;
    for (int round = 0; round < rounds; round++) {
        struct sn_mpsc *c;
        CHECK_EQ(sn_mpsc_new(&c, 1, sizeof(int)), 0);
        int v = 0;
        CHECK_EQ(sn_mpsc_try_send(c, &v), 0); /* full */
        _Atomic int waiting = 0;
        struct closer_arg a[NPROD];
        pthread_t th[NPROD];
        for (int i = 0; i < NPROD; i++) {
            if (i)
                sn_mpsc_sender_clone(c);
            a[i].c = c;
            a[i].waiting = &waiting;
            a[i].rc = 1;
            parker_init(&a[i].pk);
        }
        for (int i = 0; i < NPROD; i++)
            CHECK_EQ(pthread_create(&th[i], NULL, blocked_sender, &a[i]), 0);
        while (atomic_load(&waiting) < NPROD / 2)
            sched_yield();
        sn_mpsc_receiver_release(c);
        for (int i = 0; i < NPROD; i++) {
            pthread_join(th[i], NULL);
            CHECK_EQ(a[i].rc, -EPIPE);
            CHECK_EQ(atomic_load(&a[i].pk.refs), 0);
            parker_fini(&a[i].pk);
        }
    }
}
