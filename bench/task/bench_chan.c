/* bench_chan.c — the runtime's channels (include/sysnet/task.h, src/task/chan.c)
 * next to the two things a C programmer would use instead, in the same run, with
 * the same message size (16 bytes) and capacity (256):
 *
 *   mpsc_same_thread   sn_mpsc_try_send + sn_mpsc_try_recv on one thread, in bursts of
 *                      64 (the lock and the copy, uncontended: the floor)
 *     peer: condvar_q  a pthread mutex + two condvars bounded ring, push + pop
 *   mpsc_2threads      one producer thread, one consumer thread, futures polled by
 *                      hand with a parking waker (a mutex + condvar per thread, as a
 *                      runtime's futex park would be): send/recv futures that wait
 *                      when the channel is full / empty
 *     peer: condvar_q  the same ring, blocking push / pop across the two threads
 *     peer: pipe       write(2) / read(2) of 16 bytes across the two threads
 *   mpsc_rt2           the same traffic inside the runtime with 2 workers: a producer
 *                      task (spawned) and a consumer task (block_on); only when the
 *                      runtime opens
 *   oneshot            sn_oneshot_new + send + recv future poll + drop, one thread
 *     peer: malloc_mx  malloc + a mutex-protected slot set, read, free (what a
 *                      hand-rolled one-shot costs without waking anybody)
 *
 *   bench_chan [N]      messages per run for the two-thread rows (default 1000000)
 *
 * Every figure is the median of BENCH_MICRO_RUNS runs (default 7) in ns per message
 * (per create+send+recv for oneshot). Ratio sysnet/peer = peer ns / sysnet ns, as in
 * every bench table: above 1, sysnet is faster. Two shared CPUs: the two-thread rows
 * vary from run to run by tens of percent; ratios are what to quote. */
#include "../common.h"

#include <sysnet/base.h>
#include <sysnet/task.h>

#define CHAN_PARKER_LEAN 1             /* the parker without the tests' bookkeeping */
#include "../../tests/chan_common.h"   /* the parking waker and block_on */

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MSG 16
#define CAP 256
#define BURST 64

struct msg {
    uint64_t seq;
    uint64_t pad;
};
_Static_assert(sizeof(struct msg) == MSG, "16-byte messages");

static void die(const char *what, int err)
{
    fprintf(stderr, "bench_chan: %s: %s\n", what, strerror(err < 0 ? -err : err));
    exit(1);
}

/* ---- the peer: a mutex + condvar bounded ring ---- */

struct cq {
    pthread_mutex_t mu;
    pthread_cond_t not_full, not_empty;
    unsigned head, len, wait_full, wait_empty;
    unsigned char slots[CAP][MSG];
};

static void cq_init(struct cq *q)
{
    memset(q, 0, sizeof(*q));
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_full, NULL);
    pthread_cond_init(&q->not_empty, NULL);
}

static void cq_push(struct cq *q, const void *m)
{
    pthread_mutex_lock(&q->mu);
    while (q->len == CAP) {
        q->wait_full++;
        pthread_cond_wait(&q->not_full, &q->mu);
        q->wait_full--;
    }
    memcpy(q->slots[(q->head + q->len) % CAP], m, MSG);
    q->len++;
    if (q->wait_empty) /* signal only when somebody waits: the usual optimisation */
        pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

static void cq_pop(struct cq *q, void *m)
{
    pthread_mutex_lock(&q->mu);
    while (q->len == 0) {
        q->wait_empty++;
        pthread_cond_wait(&q->not_empty, &q->mu);
        q->wait_empty--;
    }
    memcpy(m, q->slots[q->head], MSG);
    q->head = (q->head + 1) % CAP;
    q->len--;
    if (q->wait_full)
        pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->mu);
}

/* ---- same thread ---- */

static double run_mpsc_same(uint64_t n)
{
    struct sn_mpsc *c;
    int err = sn_mpsc_new(&c, CAP, MSG);
    if (err)
        die("sn_mpsc_new", err);
    struct msg m = {0, 0}, out;
    uint64_t sum = 0, t0 = sn_now_ns();
    for (uint64_t i = 0; i < n; i += BURST) {
        for (int k = 0; k < BURST; k++) {
            m.seq = i + (uint64_t)k;
            if (sn_mpsc_try_send(c, &m))
                abort();
        }
        for (int k = 0; k < BURST; k++) {
            if (sn_mpsc_try_recv(c, &out))
                abort();
            sum += out.seq;
        }
    }
    uint64_t t1 = sn_now_ns();
    if (sum == 1)
        puts("");
    sn_mpsc_sender_release(c);
    sn_mpsc_receiver_release(c);
    return (double)(t1 - t0) / (double)n;
}

static double run_cq_same(uint64_t n)
{
    struct cq *q = malloc(sizeof(*q));
    cq_init(q);
    struct msg m = {0, 0}, out;
    uint64_t sum = 0, t0 = sn_now_ns();
    for (uint64_t i = 0; i < n; i += BURST) {
        for (int k = 0; k < BURST; k++) {
            m.seq = i + (uint64_t)k;
            cq_push(q, &m);
        }
        for (int k = 0; k < BURST; k++) {
            cq_pop(q, &out);
            sum += out.seq;
        }
    }
    uint64_t t1 = sn_now_ns();
    if (sum == 1)
        puts("");
    free(q);
    return (double)(t1 - t0) / (double)n;
}

/* ---- two threads ---- */

struct xarg {
    struct sn_mpsc *c;
    struct cq *q;
    int fd[2];           /* the pipe: read end, write end */
    uint64_t n;
    struct parker *rx;   /* the consumer's, for mpsc */
};

static void check_sum(const char *who, uint64_t sum, uint64_t n)
{
    if (sum != n * (n - 1) / 2) {
        fprintf(stderr, "bench_chan: %s: wrong sum\n", who);
        exit(1);
    }
}

/* A producer thread running producer(x) while this thread consumes x->n messages
 * with consume(x), which returns the sum of their seqs (checked): ns per message,
 * from before the thread starts to after it is joined. */
static double run_2t(const char *who, struct xarg *x, void *(*producer)(void *), uint64_t (*consume)(struct xarg *))
{
    uint64_t t0 = sn_now_ns();
    pthread_t th;
    pthread_create(&th, NULL, producer, x);
    uint64_t sum = consume(x);
    pthread_join(th, NULL);
    uint64_t t1 = sn_now_ns();
    check_sum(who, sum, x->n);
    return (double)(t1 - t0) / (double)x->n;
}

static void *mpsc_producer(void *arg)
{
    struct xarg *x = arg;
    struct parker pk;
    parker_init(&pk);
    for (uint64_t i = 0; i < x->n; i++) {
        struct msg m = {i, 0};
        struct sn_mpsc_send s;
        sn_mpsc_send_init(&s, x->c, &m);
        if (block_on(&pk, &s.base) != 0)
            abort();
        sn_drop(&s.base);
    }
    sn_mpsc_sender_release(x->c);
    return NULL;
}

static uint64_t mpsc_consume(struct xarg *x)
{
    uint64_t sum = 0;
    for (;;) {
        struct msg m;
        struct sn_mpsc_recv r;
        sn_mpsc_recv_init(&r, x->c, &m);
        int64_t rc = block_on(x->rx, &r.base);
        sn_drop(&r.base);
        if (rc)
            return sum;
        sum += m.seq;
    }
}

static double run_mpsc_2t(uint64_t n)
{
    struct parker pk;
    parker_init(&pk);
    struct xarg x = {.n = n, .rx = &pk};
    int err = sn_mpsc_new(&x.c, CAP, MSG);
    if (err)
        die("sn_mpsc_new", err);
    double ns = run_2t("mpsc_2threads", &x, mpsc_producer, mpsc_consume);
    sn_mpsc_receiver_release(x.c);
    return ns;
}

static void *cq_producer(void *arg)
{
    struct xarg *x = arg;
    for (uint64_t i = 0; i < x->n; i++) {
        struct msg m = {i, 0};
        cq_push(x->q, &m);
    }
    return NULL;
}

static uint64_t cq_consume(struct xarg *x)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < x->n; i++) {
        struct msg m;
        cq_pop(x->q, &m);
        sum += m.seq;
    }
    return sum;
}

static double run_cq_2t(uint64_t n)
{
    struct xarg x = {.n = n};
    x.q = malloc(sizeof(*x.q));
    cq_init(x.q);
    double ns = run_2t("condvar_q", &x, cq_producer, cq_consume);
    free(x.q);
    return ns;
}

static void *pipe_producer(void *arg)
{
    struct xarg *x = arg;
    for (uint64_t i = 0; i < x->n; i++) {
        struct msg m = {i, 0};
        if (write(x->fd[1], &m, MSG) != MSG)
            abort();
    }
    return NULL;
}

static uint64_t pipe_consume(struct xarg *x)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < x->n; i++) {
        struct msg m;
        /* Writes of 16 bytes are atomic (<= PIPE_BUF) and the pipe only ever holds
         * whole messages, so a 16-byte read returns exactly one. */
        if (read(x->fd[0], &m, MSG) != MSG)
            abort();
        sum += m.seq;
    }
    return sum;
}

static double run_pipe_2t(uint64_t n)
{
    struct xarg x = {.n = n};
    if (pipe(x.fd) < 0)
        die("pipe", errno);
    double ns = run_2t("pipe", &x, pipe_producer, pipe_consume);
    close(x.fd[0]);
    close(x.fd[1]);
    return ns;
}

/* ---- the runtime, 2 workers: a producer task and a consumer (block_on) ---- */

struct prod_task {
    struct sn_future base;
    struct sn_mpsc *c;
    uint64_t i, n;
    int active;
    struct msg m;
    struct sn_mpsc_send s;
};
static int prod_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct prod_task *p = (struct prod_task *)f;
    for (;;) {
        if (!p->active) {
            if (p->i == p->n) {
                sn_mpsc_sender_release(p->c);
                f->out = 0;
                return SN_READY;
            }
            p->m.seq = p->i;
            sn_mpsc_send_init(&p->s, p->c, &p->m);
        }
        if (fut_step(&p->s.base, &p->active, cx) == SN_PENDING)
            return SN_PENDING;
        p->i++;
    }
}
static void prod_drop(struct sn_future *f)
{
    struct prod_task *p = (struct prod_task *)f;
    fut_step_drop(&p->s.base, &p->active);
}
static const struct sn_future_vt prod_vt = {prod_poll, prod_drop, "bench_producer"};

struct cons_task {
    struct sn_future base;
    struct sn_mpsc *c;
    uint64_t sum;
    int active;
    struct msg m;
    struct sn_mpsc_recv r;
};
static int cons_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct cons_task *k = (struct cons_task *)f;
    for (;;) {
        if (!k->active)
            sn_mpsc_recv_init(&k->r, k->c, &k->m);
        if (fut_step(&k->r.base, &k->active, cx) == SN_PENDING)
            return SN_PENDING;
        if (k->r.base.out) {
            f->out = 0;
            return SN_READY;
        }
        k->sum += k->m.seq;
    }
}
static void cons_drop(struct sn_future *f)
{
    struct cons_task *k = (struct cons_task *)f;
    fut_step_drop(&k->r.base, &k->active);
}
static const struct sn_future_vt cons_vt = {cons_poll, cons_drop, "bench_consumer"};

static double run_mpsc_rt(struct sn_rt *rt, uint64_t n)
{
    struct sn_mpsc *c;
    int err = sn_mpsc_new(&c, CAP, MSG);
    if (err)
        die("sn_mpsc_new", err);
    struct prod_task p;
    memset(&p, 0, sizeof(p));
    p.base.vt = &prod_vt;
    p.c = c;
    p.n = n;
    struct cons_task k;
    memset(&k, 0, sizeof(k));
    k.base.vt = &cons_vt;
    k.c = c;
    uint64_t t0 = sn_now_ns();
    struct sn_task *join;
    err = sn_spawn(rt, &p.base, sizeof(p), &join);
    if (err)
        die("sn_spawn", err);
    sn_rt_block_on(rt, &k.base);
    uint64_t t1 = sn_now_ns();
    struct sn_join j;
    sn_join_init(&j, join);
    sn_rt_block_on(rt, &j.base);
    sn_drop(&j.base);
    sn_drop(&k.base);
    check_sum("mpsc_rt2", k.sum, n);
    sn_mpsc_receiver_release(c);
    return (double)(t1 - t0) / (double)n;
}

/* ---- oneshot ---- */

static double run_oneshot(uint64_t n)
{
    struct sn_cx cx;
    memset(&cx, 0, sizeof(cx)); /* the empty waker: never needed, the value is there */
    int64_t sum = 0;
    uint64_t t0 = sn_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        struct sn_oneshot *c;
        if (sn_oneshot_new(&c))
            abort();
        sn_oneshot_send(c, (int64_t)i, NULL);
        struct sn_oneshot_recv r;
        sn_oneshot_recv_init(&r, c);
        if (sn_poll(&r.base, &cx) != SN_READY)
            abort();
        sum += r.base.out;
        sn_drop(&r.base);
    }
    uint64_t t1 = sn_now_ns();
    check_sum("oneshot", (uint64_t)sum, n);
    return (double)(t1 - t0) / (double)n;
}

struct mslot {
    pthread_mutex_t mu;
    int set;
    int64_t v;
};

static double run_malloc_mx(uint64_t n)
{
    int64_t sum = 0;
    uint64_t t0 = sn_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        struct mslot *s = malloc(sizeof(*s));
        pthread_mutex_init(&s->mu, NULL);
        s->set = 0;
        pthread_mutex_lock(&s->mu);
        s->v = (int64_t)i;
        s->set = 1;
        pthread_mutex_unlock(&s->mu);
        pthread_mutex_lock(&s->mu);
        if (s->set)
            sum += s->v;
        pthread_mutex_unlock(&s->mu);
        pthread_mutex_destroy(&s->mu);
        free(s);
    }
    uint64_t t1 = sn_now_ns();
    check_sum("malloc_mx", (uint64_t)sum, n);
    return (double)(t1 - t0) / (double)n;
}

/* ---- table ---- */

typedef double (*runner)(uint64_t n);

static double med_of(runner fn, uint64_t n, int runs)
{
    double v[101];
    fn(n / 10 + BURST); /* warm-up */
    for (int r = 0; r < runs; r++)
        v[r] = fn(n);
    return median(v, runs);
}

static void row(const char *name, double ns)
{
    printf("  %-26s %9.1f ns/msg\n", name, ns);
}

static void ratio(const char *key, const char *name, const char *peer, double sn, double pe)
{
    printf("  %-26s %9.2f   (%s/%s: %s ns over sysnet ns)\n", "ratio", pe / sn, name, peer, peer);
    summary("chan_%s_ratio=%.2f", key, pe / sn);
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    if (n < 1000)
        n = 1000;
    n = (n + BURST - 1) / BURST * BURST;
    int runs = micro_runs();
    printf("chan: %d-byte messages, capacity %d, %llu messages per run, median of %d runs\n", MSG, CAP,
           (unsigned long long)n, runs);

    double same = med_of(run_mpsc_same, n, runs), cqs = med_of(run_cq_same, n, runs);
    row("mpsc_same_thread (sysnet)", same);
    row("condvar_q same thread", cqs);
    ratio("same_thread", "mpsc", "condvar_q", same, cqs);
    summary("chan_mpsc_same_thread_ns=%.1f", same);

    double x2 = med_of(run_mpsc_2t, n, runs), cq2 = med_of(run_cq_2t, n, runs),
           pp2 = med_of(run_pipe_2t, n, runs);
    row("mpsc_2threads (sysnet)", x2);
    row("condvar_q 2 threads", cq2);
    row("pipe 2 threads", pp2);
    ratio("2threads_vs_condvar", "mpsc", "condvar_q", x2, cq2);
    ratio("2threads_vs_pipe", "mpsc", "pipe", x2, pp2);
    summary("chan_mpsc_2threads_ns=%.1f", x2);

    struct sn_rt *rt = NULL;
    struct sn_rt_opts ro = {.workers = 2};
    int err = sn_rt_open(&rt, &ro);
    if (err) {
        printf("  %-26s %9s (sn_rt_open: %s)\n", "mpsc_rt2 (sysnet)", "n/a", sn_strerror(err));
    } else {
        double v[101];
        run_mpsc_rt(rt, n / 10);
        for (int r = 0; r < runs; r++)
            v[r] = run_mpsc_rt(rt, n);
        double rt2 = median(v, runs);
        sn_rt_close(rt);
        row("mpsc_rt2 (sysnet, 2 workers)", rt2);
        ratio("rt2_vs_condvar", "mpsc_rt2", "condvar_q", rt2, cq2);
        ratio("rt2_vs_pipe", "mpsc_rt2", "pipe", rt2, pp2);
        summary("chan_mpsc_rt2_ns=%.1f", rt2);
    }

    double os = med_of(run_oneshot, n, runs), mm = med_of(run_malloc_mx, n, runs);
    row("oneshot new+send+recv", os);
    row("malloc+mutex slot", mm);
    ratio("oneshot", "oneshot", "malloc_mx", os, mm);
    summary("chan_oneshot_ns=%.1f", os);
    return 0;
}
