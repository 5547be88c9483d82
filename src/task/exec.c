/* exec.c — the executors of include/sysnet/task.h: one code path for the
 * current-thread runtime (one worker, run by sn_rt_block_on's caller) and the
 * multi-thread one (N worker threads with work stealing). Tokio's scheduler
 * (runtime/scheduler/multi_thread/{worker,queue,idle}.rs) is the model.
 *
 * A worker owns: a loop (its reactor) and an sn_async on it (the remote wake-up
 * while it parks inside the loop); a bounded local run queue that others may
 * steal from; a LIFO slot (the task it woke last runs next); a FIFO of tasks
 * pinned to it (by sn_cx_loop) and a locked "remote" queue where other threads
 * put its pinned tasks; a futex word to park on. The runtime has the global
 * injection queue (spawns from outside, local-queue overflow), the idle count,
 * and the registry of live tasks, sharded per worker, that sn_rt_close empties.
 *
 * Where a task goes (snt_schedule): woken on a worker of its runtime that may run
 * it, the LIFO slot (message passing: the receiver runs next, in cache); pinned to
 * another worker, that worker's remote queue; woken from outside, the global
 * queue. Spawns from a worker and yields (woken while running) go to the back of
 * the local queue (pinned ones: the pinned FIFO). Only unpinned tasks are ever in
 * a local or the global queue, so stealing never moves a pinned task (and a task
 * found pinned elsewhere when popped is forwarded to its home: run_task).
 *
 * Pop order (next_task): every event_interval ticks, the loop without waiting (I/O
 * while busy) and the global queue first; else the LIFO slot (at most LIFO_MAX in
 * a row), the remote queue moved into the pinned FIFO, pinned FIFO and local queue
 * (alternating which is first), the global queue (a batch), stealing (half of a
 * random victim's queue), and parking.
 *
 * The local queue: a ring of 2^k pointers, head and tail 32-bit counters. The
 * owner alone writes tail and the slots; head moves by CAS, one by the owner's
 * pop, a batch by a stealer, who copies the entries first and then CASes head: the
 * owner overwrites a slot only after head has passed it, so a successful CAS
 * proves the copies were still the queue's. See local_push/local_pop/steal_from.
 *
 * Parking (park/unpark): announce (parked = 1, idle count + 1), full fence,
 * re-check every queue this worker could take from, then sleep: on the futex
 * word, or inside the loop (SN_RUN_ONCE) when it has reactor handles besides its
 * async. A pusher writes its queue, full fence, then reads the idle count (one
 * load on the fast path) or the worker's parked word: of the two fenced sides one
 * sees the other, so no wake-up is lost. The unparker wins a CAS parked 1 -> 0
 * and then futex-wakes or sn_async_sends, as the worker sleeps.
 *
 * The task's own state machine is task.c and exec_int.h; here are the worker's
 * transitions: to running, to idle, to complete. */
#include "exec_int.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define DEF_QUEUE 256u
#define MAX_QUEUE (1u << 20)
#define DEF_BUDGET 128u
#define DEF_INTERVAL 61u
#define MAX_WORKERS 1024u
#define LIFO_MAX 3u          /* LIFO polls in a row before the queue gets a turn */
#define STEAL_MAX 128u       /* tasks moved per steal, at most */

enum { PARK_FUTEX = 0, PARK_LOOP = 1 };

/* Counters the owning thread alone writes: load + store, relaxed (no locked
 * instruction), read by sn_rt_stats from anywhere. */
struct wstats {
    _Atomic uint64_t spawned, completed, cancelled, polls, steals, stolen_tasks, parks, lifo_hits,
        global_pops, overflows;
};
#define WSTAT_ADD(w, f, n)                                                                       \
    atomic_store_explicit(&(w)->st.f, atomic_load_explicit(&(w)->st.f, memory_order_relaxed) + (n), \
                          memory_order_relaxed)

/* The live-task registry's lock. Every spawn and every completion takes it once,
 * for a few pointer writes, and it is nearly never contended (a shard is its
 * worker's, other threads touch it only for stolen or outside-spawned tasks): a
 * test-and-test-and-set lock costs one atomic exchange and a plain release store,
 * against the two locked instructions and the calls of a pthread mutex — about
 * 15 ns of the spawn+complete path (bench/task/bench_task). A waiter that spins
 * long (the holder was preempted, or sn_rt_close is walking a long list) yields. */
struct spin { _Atomic int v; };
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
static inline void spin_lock(struct spin *l)
{
    unsigned n = 0;
    while (atomic_exchange_explicit(&l->v, 1, memory_order_acquire)) {
        while (atomic_load_explicit(&l->v, memory_order_relaxed)) {
            if (++n < 64)
                cpu_relax();
            else
                sched_yield();
        }
    }
}
static inline void spin_unlock(struct spin *l) { atomic_store_explicit(&l->v, 0, memory_order_release); }

struct bo;

struct sn_worker {
    struct sn_rt *rt;
    unsigned idx;
    struct sn_loop *loop;
    struct sn_async async;
    int async_on;

    /* Local queue: a ring of 2^k task pointers. tail is written by the owner only;
     * head moves by CAS, by the owner (pop) and by stealers (a batch). */
    _Atomic uint32_t head;
    _Atomic uint32_t tail;
    uint32_t mask;
    struct sn_task *_Atomic *buf;

    struct sn_task *lifo;            /* owner only */
    unsigned lifo_run;               /* LIFO polls in a row */
    struct sn_task *pin_head, *pin_tail; /* owner only: pinned tasks ready to run */
    uint32_t tick, rng;
    struct bo *bo;                   /* current-thread block_on in progress (owner only) */
    int in_loop_park;                /* inside park's sn_loop_run (owner only) */

    /* Remote queue: pinned tasks woken by other threads. */
    pthread_mutex_t rmu;
    struct sn_task *r_head, *r_tail;
    _Atomic uint32_t r_len;
    int r_closed;

    /* Parking: 1 while announced parked; the unparker CASes it to 0. */
    _Atomic uint32_t parked;
    _Atomic int park_mode;

    /* This worker's shard of the live-task registry. */
    struct spin lmu;                 /* held for a few pointer writes (spawn, complete) */
    struct sn_task *live;
    int l_closed;

    pthread_t thr;
    int thr_started;
    struct wstats st;
} __attribute__((aligned(64)));

struct sn_rt {
    unsigned nworkers;               /* >= 1 */
    unsigned threaded;               /* workers were asked for (multi-thread runtime) */
    unsigned budget, interval, qcap;
    struct sn_worker *w;

    pthread_mutex_t gmu;             /* the global injection queue */
    struct sn_task *g_head, *g_tail;
    _Atomic uint32_t g_len;
    int g_closed;

    _Atomic uint32_t nidle;          /* workers announced parked */
    _Atomic int shutdown;
    _Atomic uint32_t phase, nack;    /* sn_rt_close's steps, and the workers' acks (futex words) */
    _Atomic int bo_busy;             /* current-thread: a block_on is running */
    _Atomic uint32_t ext_shard, unpark_next;
    _Atomic uint64_t ext_spawned, unparks, close_cancelled;
};

/* The worker this thread is running (NULL outside any runtime). */
static _Thread_local struct sn_worker *tl_w;

/* Work for worker w was made on w's own thread. If that happened inside park's
 * sn_loop_run (a timer or I/O callback woke a task), the loop must not go on to
 * block in the poller: one ONCE iteration runs expired timers first and then
 * waits, and with no timer left it would wait for ever. Stopping the loop makes
 * that wait non-blocking. */
static inline void self_wake(struct sn_worker *w)
{
    if (w->in_loop_park)
        sn_loop_stop(w->loop);
}

/* ======================================================================
 * task blocks: malloc, with a small per-thread cache
 * ====================================================================== */

/* A per-thread free list of task blocks of common sizes. Blocks freed on one
 * thread may be reused by another (malloc's own rule); the cache is bounded and
 * emptied when the thread exits. Size classes: total block of 128, 192, 256 B. */
#define CACHE_CLASSES 3
#define CACHE_MAX 256
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CACHE_ON 0      /* let the sanitizers see every malloc and free */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CACHE_ON 0
#endif
#endif
#ifndef CACHE_ON
#define CACHE_ON 1
#endif
struct tcache {
    void *head[CACHE_CLASSES];
    unsigned n[CACHE_CLASSES];
    int registered;
};
static _Thread_local struct tcache tl_cache;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_flush(void *p)
{
    struct tcache *c = p;
    for (int k = 0; k < CACHE_CLASSES; k++) {
        while (c->head[k]) {
            void *b = c->head[k];
            c->head[k] = *(void **)b;
            free(b);
        }
        c->n[k] = 0;
    }
    c->registered = 0;  /* a block freed later in the thread's exit registers again */
}

static void cache_key_make(void) { (void)pthread_key_create(&cache_key, cache_flush); }

static unsigned size_class(size_t total)
{
    if (total <= 128)
        return 1;
    if (total <= 192)
        return 2;
    if (total <= 256)
        return 3;
    return 0;
}

static struct sn_task *task_alloc(size_t size)
{
    size_t total = sizeof(struct sn_task) + size;
    unsigned k = size_class(total);
    struct tcache *c = &tl_cache;
    if (k && c->head[k - 1]) {
        void *b = c->head[k - 1];
        c->head[k - 1] = *(void **)b;
        c->n[k - 1]--;
        struct sn_task *t = b;
        t->cache = k;
        return t;
    }
    static const size_t class_size[CACHE_CLASSES + 1] = {0, 128, 192, 256};
    struct sn_task *t = malloc(k ? class_size[k] : total);
    if (t)
        t->cache = k;
    return t;
}

void snt_free(struct sn_task *t)
{
    unsigned k = t->cache;
    struct tcache *c = &tl_cache;
    if (CACHE_ON && k && c->n[k - 1] < CACHE_MAX) {
        if (!c->registered) {
            /* Register the flush at thread exit once per thread. */
            pthread_once(&cache_once, cache_key_make);
            pthread_setspecific(cache_key, c);
            c->registered = 1;
        }
        *(void **)t = c->head[k - 1];
        c->head[k - 1] = t;
        c->n[k - 1]++;
        return;
    }
    free(t);
}

/* ======================================================================
 * futex
 * ====================================================================== */

static void futex_wait(_Atomic uint32_t *addr, uint32_t val)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *addr, int n)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* ======================================================================
 * the live-task registry
 * ====================================================================== */

static int live_add(struct sn_rt *rt, struct sn_task *t, unsigned shard)
{
    struct sn_worker *w = &rt->w[shard];
    t->shard = shard;
    t->live_prev = NULL;
    spin_lock(&w->lmu);
    if (w->l_closed) {
        spin_unlock(&w->lmu);
        return -ESHUTDOWN;
    }
    t->live_next = w->live;
    if (w->live)
        w->live->live_prev = t;
    w->live = t;
    spin_unlock(&w->lmu);
    return 0;
}

static void live_unlink_locked(struct sn_worker *w, struct sn_task *t)
{
    if (t->live_prev)
        t->live_prev->live_next = t->live_next;
    else
        w->live = t->live_next;
    if (t->live_next)
        t->live_next->live_prev = t->live_prev;
    t->live_prev = t->live_next = NULL;
}

#define SHARD_NONE UINT32_MAX   /* taken out of the registry by sn_rt_close */

static void live_remove(struct sn_rt *rt, struct sn_task *t)
{
    if (t->shard == SHARD_NONE)
        return;
    struct sn_worker *w = &rt->w[t->shard];
    spin_lock(&w->lmu);
    live_unlink_locked(w, t);
    spin_unlock(&w->lmu);
}

/* ======================================================================
 * parking
 * ====================================================================== */

/* Make a parked worker run: its park word goes 1 -> 0 (whoever wins that CAS
 * takes it out of the idle count), then the wake matching how it sleeps. The CAS
 * (acquire) sees park_mode, which the worker stored before announcing. */
static int unpark(struct sn_worker *w)
{
    uint32_t one = 1;
    if (atomic_load_explicit(&w->parked, memory_order_relaxed) != 1 ||
        !atomic_compare_exchange_strong_explicit(&w->parked, &one, 0, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return 0;
    atomic_fetch_sub_explicit(&w->rt->nidle, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->rt->unparks, 1, memory_order_relaxed);
    if (atomic_load_explicit(&w->park_mode, memory_order_relaxed) == PARK_LOOP)
        sn_async_send(&w->async);
    else
        futex_wake(&w->parked, 1);
    return 1;
}

/* After pushing to a queue that worker w watches: the classic Dekker pairing with
 * park(): we wrote the queue then read parked, it wrote parked then reads the
 * queues; a seq_cst fence on both sides means one of us sees the other. */
static void unpark_worker(struct sn_worker *w)
{
    atomic_thread_fence(memory_order_seq_cst);
    unpark(w);
}

/* Stealable work was pushed (global or a local queue): wake one parked worker, if
 * any. The fast path is the fence and one load of the idle count. */
static void notify_one(struct sn_rt *rt)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&rt->nidle, memory_order_relaxed) == 0)
        return;
    unsigned n = rt->nworkers;
    unsigned start = atomic_fetch_add_explicit(&rt->unpark_next, 1, memory_order_relaxed);
    for (unsigned i = 0; i < n; i++)
        if (unpark(&rt->w[(start + i) % n]))
            return;
}

/* ======================================================================
 * queues
 * ====================================================================== */

static void global_push_chain(struct sn_rt *rt, struct sn_task *first, struct sn_task *last, uint32_t n)
{
    atomic_store_explicit(&last->next, NULL, memory_order_relaxed);
    pthread_mutex_lock(&rt->gmu);
    if (rt->g_closed) {
        pthread_mutex_unlock(&rt->gmu);
        /* Shutting down: the queue reference goes; sn_rt_close cancels the task
         * through the registry (the owner reference keeps it alive until then). */
        for (struct sn_task *t = first, *nx; t; t = nx) {
            nx = atomic_load_explicit(&t->next, memory_order_relaxed);
            snt_ref_dec(t);
        }
        return;
    }
    if (rt->g_tail)
        atomic_store_explicit(&rt->g_tail->next, first, memory_order_relaxed);
    else
        rt->g_head = first;
    rt->g_tail = last;
    atomic_store_explicit(&rt->g_len, atomic_load_explicit(&rt->g_len, memory_order_relaxed) + n,
                          memory_order_relaxed);
    pthread_mutex_unlock(&rt->gmu);
}

static void remote_push(struct sn_worker *w, struct sn_task *t)
{
    atomic_store_explicit(&t->next, NULL, memory_order_relaxed);
    pthread_mutex_lock(&w->rmu);
    if (w->r_closed) {
        pthread_mutex_unlock(&w->rmu);
        snt_ref_dec(t);
        return;
    }
    if (w->r_tail)
        atomic_store_explicit(&w->r_tail->next, t, memory_order_relaxed);
    else
        w->r_head = t;
    w->r_tail = t;
    atomic_store_explicit(&w->r_len, atomic_load_explicit(&w->r_len, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    pthread_mutex_unlock(&w->rmu);
    unpark_worker(w);
}

static void pin_push(struct sn_worker *w, struct sn_task *t)
{
    atomic_store_explicit(&t->next, NULL, memory_order_relaxed);
    if (w->pin_tail)
        atomic_store_explicit(&w->pin_tail->next, t, memory_order_relaxed);
    else
        w->pin_head = t;
    w->pin_tail = t;
}

static struct sn_task *pin_pop(struct sn_worker *w)
{
    struct sn_task *t = w->pin_head;
    if (t) {
        w->pin_head = atomic_load_explicit(&t->next, memory_order_relaxed);
        if (!w->pin_head)
            w->pin_tail = NULL;
    }
    return t;
}

/* Move the remote queue to the pinned FIFO (the mutex orders the pushers' writes
 * before our reads). */
static void remote_drain(struct sn_worker *w)
{
    if (atomic_load_explicit(&w->r_len, memory_order_relaxed) == 0)
        return;
    pthread_mutex_lock(&w->rmu);
    struct sn_task *h = w->r_head, *tl = w->r_tail;
    w->r_head = w->r_tail = NULL;
    atomic_store_explicit(&w->r_len, 0, memory_order_relaxed);
    pthread_mutex_unlock(&w->rmu);
    if (!h)
        return;
    if (w->pin_tail)
        atomic_store_explicit(&w->pin_tail->next, h, memory_order_relaxed);
    else
        w->pin_head = h;
    w->pin_tail = tl;
}

/* Local queue overflow: move half of it (and t) to the global queue in one lock.
 * First claim the entries by moving head with a CAS (as a stealer does); 0 if a
 * stealer moved head first (retry the push: there is room now). Only then read
 * and link them: before the CAS a stealer may take (and run, and free) them, so
 * their next fields are not ours to write; after it, the slots are still intact
 * (only the owner, we, overwrites slots, and we do not push meanwhile). */
static int local_overflow(struct sn_worker *w, struct sn_task *t, uint32_t head)
{
    uint32_t half = (w->mask + 1) / 2;
    if (!atomic_compare_exchange_strong_explicit(&w->head, &head, head + half, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return 0;
    struct sn_task *first = atomic_load_explicit(&w->buf[head & w->mask], memory_order_relaxed);
    struct sn_task *last = first;
    for (uint32_t i = 1; i < half; i++) {
        struct sn_task *x = atomic_load_explicit(&w->buf[(head + i) & w->mask], memory_order_relaxed);
        atomic_store_explicit(&last->next, x, memory_order_relaxed);
        last = x;
    }
    atomic_store_explicit(&last->next, t, memory_order_relaxed);
    global_push_chain(w->rt, first, t, half + 1);
    WSTAT_ADD(w, overflows, 1);
    return 1;
}

/* Owner: push at the tail. Acquire on head: a stealer's reads of the slots it
 * claimed happen before its CAS (release); seeing its new head, we overwrite
 * those slots only after its reads. Release on tail: the slot's content (and the
 * task's) is visible to whoever reads the new tail. */
static void local_push(struct sn_worker *w, struct sn_task *t)
{
    for (;;) {
        uint32_t tail = atomic_load_explicit(&w->tail, memory_order_relaxed);
        uint32_t head = atomic_load_explicit(&w->head, memory_order_acquire);
        if (tail - head <= w->mask) {
            atomic_store_explicit(&w->buf[tail & w->mask], t, memory_order_relaxed);
            atomic_store_explicit(&w->tail, tail + 1, memory_order_release);
            return;
        }
        if (local_overflow(w, t, head))
            return;
    }
}

/* After a push to w's own local queue: wake a parked worker to steal, but only
 * when there is more than the one task w will run next itself (Tokio's
 * should_notify_others): a lone task is no reason for a futex wake, and a parked
 * worker's re-check would see it anyway (no wake-up can be lost by skipping: w is
 * awake and will run it). */
static void notify_local(struct sn_worker *w)
{
    if (w->rt->nworkers < 2)
        return;
    uint32_t len = atomic_load_explicit(&w->tail, memory_order_relaxed) -
                   atomic_load_explicit(&w->head, memory_order_relaxed);
    if (len + (w->lifo != NULL) > 1)
        notify_one(w->rt);
}

/* Owner: pop at the head, racing stealers with a CAS. The slot is read before the
 * CAS; only the owner overwrites slots, and it is here, so the value is valid if
 * the CAS wins. */
static struct sn_task *local_pop(struct sn_worker *w)
{
    uint32_t head = atomic_load_explicit(&w->head, memory_order_acquire);
    for (;;) {
        uint32_t tail = atomic_load_explicit(&w->tail, memory_order_relaxed);
        if (head == tail)
            return NULL;
        struct sn_task *t = atomic_load_explicit(&w->buf[head & w->mask], memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&w->head, &head, head + 1, memory_order_acq_rel,
                                                  memory_order_acquire))
            return t;
    }
}

static int local_empty(struct sn_worker *w)
{
    return atomic_load_explicit(&w->head, memory_order_acquire) ==
           atomic_load_explicit(&w->tail, memory_order_acquire);
}

/* Thief: copy up to half of victim v's queue, then claim it with a CAS on head.
 * Acquire on tail: the slots below it were written before the owner released it.
 * The owner overwrites a slot only after head has passed it (local_push), so if
 * our CAS from h succeeds, no slot in [h, h+n) was overwritten while we copied.
 * The first task is returned to run, the rest go into our (empty) local queue. */
static struct sn_task *steal_from(struct sn_worker *w, struct sn_worker *v)
{
    struct sn_task *tmp[STEAL_MAX];
    uint32_t n;
    for (;;) {
        uint32_t head = atomic_load_explicit(&v->head, memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&v->tail, memory_order_acquire);
        uint32_t avail = tail - head;
        if (avail == 0)
            return NULL;
        if (avail > v->mask + 1)
            continue;   /* head moved between our two loads: read again */
        n = avail - avail / 2;
        if (n > STEAL_MAX)
            n = STEAL_MAX;
        for (uint32_t i = 0; i < n; i++)
            tmp[i] = atomic_load_explicit(&v->buf[(head + i) & v->mask], memory_order_relaxed);
        if (atomic_compare_exchange_strong_explicit(&v->head, &head, head + n, memory_order_acq_rel,
                                                    memory_order_relaxed))
            break;
    }
    for (uint32_t i = 1; i < n; i++)
        local_push(w, tmp[i]);
    WSTAT_ADD(w, steals, 1);
    WSTAT_ADD(w, stolen_tasks, n);
    return tmp[0];
}

static struct sn_task *steal(struct sn_worker *w)
{
    unsigned n = w->rt->nworkers;
    if (n < 2)
        return NULL;
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 17;
    w->rng ^= w->rng << 5;
    unsigned start = w->rng % n;
    for (unsigned i = 0; i < n; i++) {
        struct sn_worker *v = &w->rt->w[(start + i) % n];
        if (v == w)
            continue;
        struct sn_task *t = steal_from(w, v);
        if (t)
            return t;
    }
    return NULL;
}

/* Take a batch from the global queue: run the first, queue the rest locally (a
 * fair share: len / workers + 1, at most half our queue). */
static struct sn_task *global_pop(struct sn_worker *w)
{
    struct sn_rt *rt = w->rt;
    if (atomic_load_explicit(&rt->g_len, memory_order_relaxed) == 0)
        return NULL;
    pthread_mutex_lock(&rt->gmu);
    uint32_t len = atomic_load_explicit(&rt->g_len, memory_order_relaxed);
    uint32_t n = len / rt->nworkers + 1;
    uint32_t used = atomic_load_explicit(&w->tail, memory_order_relaxed) -
                    atomic_load_explicit(&w->head, memory_order_relaxed);
    uint32_t room = (w->mask + 1) / 2;
    if (room > w->mask + 1 - used)
        room = w->mask + 1 - used;
    if (n > room + 1)
        n = room + 1;   /* one runs now, the rest fit */
    if (n > len)
        n = len;
    struct sn_task *first = rt->g_head, *t = first;
    for (uint32_t i = 1; i < n; i++)
        t = atomic_load_explicit(&t->next, memory_order_relaxed);
    if (n) {
        rt->g_head = atomic_load_explicit(&t->next, memory_order_relaxed);
        if (!rt->g_head)
            rt->g_tail = NULL;
        atomic_store_explicit(&rt->g_len, len - n, memory_order_relaxed);
    }
    pthread_mutex_unlock(&rt->gmu);
    if (!n)
        return NULL;
    WSTAT_ADD(w, global_pops, n);
    t = atomic_load_explicit(&first->next, memory_order_relaxed);
    for (uint32_t i = 1; i < n; i++) {
        struct sn_task *nx = atomic_load_explicit(&t->next, memory_order_relaxed);
        local_push(w, t);
        t = nx;
    }
    return first;
}

/* ======================================================================
 * scheduling
 * ====================================================================== */

static int is_pinned_to(struct sn_task *t, struct sn_worker *w)
{
    return atomic_load_explicit(&t->home, memory_order_relaxed) == (int32_t)w->idx;
}

/* Back of this worker's queues (a yield, a displaced LIFO task, a new spawn). */
static void push_back(struct sn_worker *w, struct sn_task *t)
{
    if (is_pinned_to(t, w)) {
        pin_push(w, t);
        return;
    }
    local_push(w, t);
    notify_local(w);
}

/* Where a task goes when woken (its NOTIFIED bit and queue reference are set):
 *   on one of this runtime's workers, and the task may run here: the LIFO slot
 *     (the previous occupant moves to the back of the queue);
 *   pinned to another worker: that worker's remote queue, and unpark it;
 *   from outside the runtime: the global queue, and unpark some worker.
 * The home read is relaxed: the pin was stored in a poll that ended with the
 * release of the idle transition, which our wake's CAS acquired. */
void snt_schedule(struct sn_task *t)
{
    struct sn_rt *rt = t->rt;
    struct sn_worker *w = tl_w;
    if (atomic_load_explicit(&rt->shutdown, memory_order_relaxed)) {
        /* Closing: nothing runs any more. The task stays in the registry (only
         * completion takes it out), which cancels it; the queue reference goes. */
        snt_ref_dec(t);
        return;
    }
    int32_t home = atomic_load_explicit(&t->home, memory_order_relaxed);
    if (w && w->rt == rt) {
        if (home == SN_TASK_NO_HOME || home == (int32_t)w->idx) {
            struct sn_task *prev = w->lifo;
            w->lifo = t;
            if (prev)
                push_back(w, prev);
            self_wake(w);
            return;
        }
        remote_push(&rt->w[home], t);
        return;
    }
    if (home != SN_TASK_NO_HOME) {
        remote_push(&rt->w[home], t);
        return;
    }
    global_push_chain(rt, t, t, 1);
    notify_one(rt);
}

/* ======================================================================
 * spawn
 * ====================================================================== */

int sn_spawn(struct sn_rt *rt, const struct sn_future *init, size_t size, struct sn_task **join)
{
    if (join)
        *join = NULL;
    if (!rt || !init || !init->vt || !init->vt->poll || size < sizeof(struct sn_future) || size > UINT32_MAX / 2)
        return -EINVAL;
    if (atomic_load_explicit(&rt->shutdown, memory_order_relaxed))
        return -ESHUTDOWN;
    struct sn_task *t = task_alloc(size);
    if (!t)
        return -ENOMEM;
    memcpy(t->fut, init, size);
    /* The owner reference, the queue's, and the join handle's. */
    uint64_t st = SN_TASK_NOTIFIED | 2 * SNT_REF_ONE;
    if (join)
        st += SN_TASK_JOIN_INTEREST + SNT_REF_ONE;
    atomic_init(&t->state, st);
    t->rt = rt;
    atomic_init(&t->next, NULL);
    atomic_init(&t->home, SN_TASK_NO_HOME);
    t->size = (uint32_t)size;
    t->result = 0;
    t->join_waker.data = NULL;
    t->join_waker.vt = NULL;
    struct sn_worker *w = tl_w;
    int local = w && w->rt == rt;
    unsigned shard = local ? w->idx
                           : atomic_fetch_add_explicit(&rt->ext_shard, 1, memory_order_relaxed) % rt->nworkers;
    if (live_add(rt, t, shard) < 0) {
        snt_free(t);
        return -ESHUTDOWN;
    }
    if (join)
        *join = t;
    if (local) {
        WSTAT_ADD(w, spawned, 1);
        local_push(w, t);
        self_wake(w);
        notify_local(w);
    } else {
        atomic_fetch_add_explicit(&rt->ext_spawned, 1, memory_order_relaxed);
        global_push_chain(rt, t, t, 1);
        notify_one(rt);
    }
    return 0;
}

/* ======================================================================
 * running a task
 * ====================================================================== */

/* The future is dropped, the result stored, the task taken out of the registry,
 * then COMPLETE published (release): who sees COMPLETE sees the result and knows
 * the drop has run. Then the join waker (task.c's protocol), then the worker's
 * two references go: the run's (queue) one and the owner one. A detached task
 * (no JOIN_INTEREST, so no join waker either) gives them up in the same CAS; the
 * task must not be touched after it, another thread's waker drop may free it. */
static void complete(struct sn_worker *w, struct sn_task *t, int64_t res, int cancelled)
{
    struct sn_rt *rt = t->rt;
    sn_drop((struct sn_future *)t->fut);
    t->result = res;
    if (w) {
        if (cancelled)
            WSTAT_ADD(w, cancelled, 1);
        else
            WSTAT_ADD(w, completed, 1);
    } else {
        atomic_fetch_add_explicit(&rt->close_cancelled, 1, memory_order_relaxed);
    }
    live_remove(rt, t);
    uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
    uint64_t add = SN_TASK_COMPLETE | (cancelled ? SN_TASK_CANCELLED : 0), n;
    for (;;) {
        n = (s & ~(uint64_t)(SN_TASK_RUNNING | SN_TASK_NOTIFIED)) | add;
        if (!(s & SN_TASK_JOIN_INTEREST))
            n -= 2 * SNT_REF_ONE;
        if (atomic_compare_exchange_weak_explicit(&t->state, &s, n, memory_order_acq_rel,
                                                  memory_order_relaxed))
            break;
    }
    if (!(s & SN_TASK_JOIN_INTEREST)) {
        if (SNT_REFS(n) == 0)
            snt_free(t);
        return;
    }
    if (s & SN_TASK_JOIN_WAKER) {
        sn_waker_wake_by_ref(&t->join_waker);
        uint64_t p = atomic_fetch_and_explicit(&t->state, ~(uint64_t)SN_TASK_JOIN_WAKER, memory_order_acq_rel);
        if (!(p & SN_TASK_JOIN_INTEREST))
            sn_waker_drop(&t->join_waker);  /* the handle went meanwhile: the slot is ours */
    }
    snt_ref_dec_n(t, 2);
}

static void run_task(struct sn_worker *w, struct sn_task *t)
{
    /* Acquire: the home a previous poll stored is visible before we test it. */
    uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
    int32_t home = atomic_load_explicit(&t->home, memory_order_relaxed);
    if (home != SN_TASK_NO_HOME && home != (int32_t)w->idx) {
        /* Pinned elsewhere after it was queued here: hand it to its worker. */
        remote_push(&w->rt->w[home], t);
        return;
    }
    /* To running: NOTIFIED off, RUNNING on. Acquire: this poll sees everything
     * the previous poll (on any worker) wrote; it released at its idle transition. */
    for (;;) {
        uint64_t n = (s & ~(uint64_t)SN_TASK_NOTIFIED) | SN_TASK_RUNNING;
        if (atomic_compare_exchange_weak_explicit(&t->state, &s, n, memory_order_acquire,
                                                  memory_order_relaxed))
            break;
    }
    if (s & SN_TASK_CANCELLED) {
        complete(w, t, -ECANCELED, 1);
        return;
    }
    struct sn_cx cx;
    cx.waker.data = t;
    cx.waker.vt = &snt_waker_vt;
    cx.rt = w->rt;
    cx.loop = w->loop;
    cx.task = t;
    cx.budget = w->rt->budget;
    cx.worker = w->idx;
    struct sn_future *f = (struct sn_future *)t->fut;
    WSTAT_ADD(w, polls, 1);
    if (f->vt->poll(f, &cx) == SN_READY) {
        complete(w, t, f->out, 0);
        return;
    }
    /* To idle: RUNNING off; if nobody notified us, the run's reference goes too.
     * Release: the next poll (maybe on another worker) sees this poll's writes. */
    s = atomic_load_explicit(&t->state, memory_order_relaxed);
    for (;;) {
        if (s & SN_TASK_CANCELLED) {
            complete(w, t, -ECANCELED, 1);
            return;
        }
        uint64_t n = s & ~(uint64_t)SN_TASK_RUNNING;
        if (!(s & SN_TASK_NOTIFIED))
            n -= SNT_REF_ONE;   /* the owner reference remains: never the last */
        if (atomic_compare_exchange_weak_explicit(&t->state, &s, n, memory_order_acq_rel,
                                                  memory_order_relaxed))
            break;
    }
    if (s & SN_TASK_NOTIFIED)
        push_back(w, t);        /* woken while running (a yield): after the others */
}

/* ======================================================================
 * the worker's loop
 * ====================================================================== */

static struct sn_task *next_task(struct sn_worker *w)
{
    struct sn_rt *rt = w->rt;
    struct sn_task *t;
    if (++w->tick % rt->interval == 0) {
        /* Maintenance: I/O events even when busy, and the global queue first so
         * tasks spawned from outside are not starved by local ones. */
        if (sn_loop_alive(w->loop) > (unsigned)w->async_on)
            sn_loop_run(w->loop, SN_RUN_NOWAIT);
        if ((t = global_pop(w))) {
            w->lifo_run = 0;
            return t;
        }
    }
    if (w->lifo) {
        t = w->lifo;
        w->lifo = NULL;
        if (w->lifo_run < LIFO_MAX) {
            w->lifo_run++;
            WSTAT_ADD(w, lifo_hits, 1);
            return t;
        }
        push_back(w, t);        /* bounded: the queue gets a turn */
    }
    w->lifo_run = 0;
    remote_drain(w);
    /* Alternate which of pinned / local goes first so neither starves the other. */
    if (w->tick & 1) {
        if ((t = local_pop(w)) || (t = pin_pop(w)))
            return t;
    } else {
        if ((t = pin_pop(w)) || (t = local_pop(w)))
            return t;
    }
    if ((t = global_pop(w)))
        return t;
    return steal(w);
}

/* The block_on state, on the heap and reference-counted: its waker may outlive
 * the call (a resource may keep it). flag: the future wants a poll. */
struct bo {
    _Atomic uint64_t refs;
    _Atomic uint32_t flag;
    pthread_mutex_t mu;
    struct sn_worker *w;     /* current-thread: the worker to unpark; NULL after block_on */
};

static int has_work(struct sn_worker *w)
{
    struct sn_rt *rt = w->rt;
    if (w->lifo || w->pin_head || atomic_load_explicit(&w->r_len, memory_order_relaxed) ||
        !local_empty(w) || atomic_load_explicit(&rt->g_len, memory_order_relaxed) ||
        atomic_load_explicit(&rt->shutdown, memory_order_relaxed))
        return 1;
    if (w->bo && atomic_load_explicit(&w->bo->flag, memory_order_relaxed))
        return 1;
    for (unsigned i = 0; i < rt->nworkers; i++)
        if (&rt->w[i] != w && !local_empty(&rt->w[i]))
            return 1;
    return 0;
}

/* Announce, fence, re-check everything, then sleep: a push made before our
 * announcement is seen by the re-check; one made after it sees the announcement
 * (its fence, our fence) and unparks us. A worker with reactor handles other than
 * its own async sleeps in its loop (events and the async wake it); else on the
 * futex word. */
static void park(struct sn_worker *w)
{
    struct sn_rt *rt = w->rt;
    int mode = sn_loop_alive(w->loop) > (unsigned)w->async_on ? PARK_LOOP : PARK_FUTEX;
    atomic_store_explicit(&w->park_mode, mode, memory_order_relaxed);
    atomic_store_explicit(&w->parked, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&rt->nidle, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    if (!has_work(w)) {
        WSTAT_ADD(w, parks, 1);
        if (mode == PARK_LOOP) {
            w->in_loop_park = 1;
            sn_loop_run(w->loop, SN_RUN_ONCE);
            w->in_loop_park = 0;
        }
        else
            futex_wait(&w->parked, 1);
    }
    /* Still announced (a spurious wake, our own events, or work found by the
     * re-check): take ourselves out; else the unparker already did. */
    if (atomic_exchange_explicit(&w->parked, 0, memory_order_acq_rel) == 1)
        atomic_fetch_sub_explicit(&rt->nidle, 1, memory_order_relaxed);
}

/* ---- shutdown (sn_rt_close), in steps the closer and the workers take together.
 * Loop objects are touched only from their worker's thread (an io_uring ring is
 * single-issuer: another thread's io_uring_enter fails), so each worker drops the
 * futures pinned to it and drains and closes its own loop. */
enum { PH_RUN = 0, PH_CANCEL = 1, PH_CLOSE = 2 };

static void phase_ack(struct sn_rt *rt)
{
    atomic_fetch_add_explicit(&rt->nack, 1, memory_order_acq_rel);
    futex_wake(&rt->nack, INT_MAX);
}

static void phase_wait(struct sn_rt *rt, uint32_t ph)
{
    uint32_t v;
    while ((v = atomic_load_explicit(&rt->phase, memory_order_acquire)) < ph)
        futex_wait(&rt->phase, v);
}

static void phase_set(struct sn_rt *rt, uint32_t ph)
{
    atomic_store_explicit(&rt->phase, ph, memory_order_release);
    futex_wake(&rt->phase, INT_MAX);
}

static void acks_wait(struct sn_rt *rt, uint32_t n)
{
    uint32_t v;
    while ((v = atomic_load_explicit(&rt->nack, memory_order_acquire)) < n)
        futex_wait(&rt->nack, v);
}

/* Cancel a task that sn_rt_close took out of the registry: complete() drops two
 * references, the owner's and a queue's, which we lend here (the queues were
 * emptied before, their references dropped). */
static void cancel_taken(struct sn_task *t)
{
    snt_ref_inc(t);
    atomic_fetch_or_explicit(&t->state, SN_TASK_RUNNING, memory_order_acquire);
    complete(NULL, t, -ECANCELED, 1);
}

/* Take out of every shard the tasks that pick() accepts (all, or those pinned to
 * worker `home`), then cancel them outside the locks: a drop may release or wake
 * other tasks, which takes locks too. */
static void cancel_live(struct sn_rt *rt, int32_t home, int close_shards)
{
    for (unsigned i = 0; i < rt->nworkers; i++) {
        struct sn_worker *sh = &rt->w[i];
        struct sn_task *mine = NULL;
        spin_lock(&sh->lmu);
        for (struct sn_task *t = sh->live, *nx; t; t = nx) {
            nx = t->live_next;
            if (home != SN_TASK_NO_HOME && atomic_load_explicit(&t->home, memory_order_relaxed) != home)
                continue;
            live_unlink_locked(sh, t);
            t->shard = SHARD_NONE;
            t->live_next = mine;
            mine = t;
        }
        if (close_shards)
            sh->l_closed = 1;
        spin_unlock(&sh->lmu);
        while (mine) {
            struct sn_task *nx = mine->live_next;
            mine->live_next = NULL;
            cancel_taken(mine);
            mine = nx;
        }
    }
}

/* Give the loop's remaining handles (operations a dropped future cancelled, whose
 * completions the kernel still owes) time to finish, then close it. */
static void loop_finish(struct sn_worker *w)
{
    if (!w->loop)
        return;
    if (w->async_on)
        sn_async_stop(&w->async);
    w->async_on = 0;
    for (int i = 0; i < 1000 && sn_loop_alive(w->loop) > 0; i++) {
        sn_loop_run(w->loop, SN_RUN_NOWAIT);
        if (sn_loop_alive(w->loop) > 0) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    if (sn_loop_close(w->loop) == 0)
        w->loop = NULL;
}

static void *worker_main(void *arg)
{
    struct sn_worker *w = arg;
    struct sn_rt *rt = w->rt;
    tl_w = w;
    while (!atomic_load_explicit(&rt->shutdown, memory_order_acquire)) {
        struct sn_task *t = next_task(w);
        if (t)
            run_task(w, t);
        else
            park(w);
    }
    /* Stopped: the closer empties the queues, then we drop the futures pinned to
     * us (they may hold handles of our loop), then close our loop. */
    phase_ack(rt);
    phase_wait(rt, PH_CANCEL);
    cancel_live(rt, (int32_t)w->idx, 0);
    phase_ack(rt);
    phase_wait(rt, PH_CLOSE);
    loop_finish(w);
    tl_w = NULL;
    return NULL;
}

static void async_noop(struct sn_async *a) { (void)a; }

/* ======================================================================
 * block_on
 * ====================================================================== */

static void bo_put(struct bo *b)
{
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) {
        pthread_mutex_destroy(&b->mu);
        free(b);
    }
}

static const struct sn_waker_vt snt_bo_vt;

static struct sn_waker bo_clone(const void *data)
{
    struct bo *b = (struct bo *)data;
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    struct sn_waker w = {b, &snt_bo_vt};
    return w;
}

static void bo_wake_by_ref(const void *data)
{
    struct bo *b = (struct bo *)data;
    atomic_store_explicit(&b->flag, 1, memory_order_seq_cst);
    struct sn_worker *w = tl_w;
    if (w && w->bo == b) {
        self_wake(w);       /* the block_on thread itself: it looks at the flag next */
        return;
    }
    pthread_mutex_lock(&b->mu);
    if (b->w)
        unpark_worker(b->w);
    else
        futex_wake(&b->flag, 1);  /* multi-thread: the caller sleeps on the flag */
    pthread_mutex_unlock(&b->mu);
}

static void bo_wake(const void *data)
{
    bo_wake_by_ref(data);
    bo_put((struct bo *)data);
}

static void bo_drop(const void *data) { bo_put((struct bo *)data); }

static const struct sn_waker_vt snt_bo_vt = {bo_clone, bo_wake, bo_wake_by_ref, bo_drop};

static struct bo *bo_new(struct sn_worker *w)
{
    struct bo *b = malloc(sizeof(*b));
    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    atomic_init(&b->flag, 1);
    pthread_mutex_init(&b->mu, NULL);
    b->w = w;
    return b;
}

static int64_t block_on_current(struct sn_rt *rt, struct sn_future *f)
{
    int busy = 0;
    if (!atomic_compare_exchange_strong_explicit(&rt->bo_busy, &busy, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        return -EBUSY;
    struct sn_worker *w = &rt->w[0];
    struct bo *b = bo_new(w);
    if (!b) {
        atomic_store_explicit(&rt->bo_busy, 0, memory_order_release);
        return -ENOMEM;
    }
    tl_w = w;
    w->bo = b;
    struct sn_cx cx;
    for (;;) {
        if (atomic_exchange_explicit(&b->flag, 0, memory_order_acquire)) {
            cx.waker.data = b;
            cx.waker.vt = &snt_bo_vt;
            cx.rt = rt;
            cx.loop = w->loop;
            cx.task = NULL;
            cx.budget = rt->budget;
            cx.worker = 0;
            if (f->vt->poll(f, &cx) == SN_READY)
                break;
        }
        /* The tasks get a turn between two polls of f: up to an event interval's
         * worth (Tokio's current-thread block_on does the same), so an f that wakes
         * itself (a yield, a spent budget) cannot starve them, nor they f. */
        unsigned ran = 0;
        struct sn_task *t;
        while (ran < rt->interval && (t = next_task(w))) {
            run_task(w, t);
            ran++;
        }
        if (!ran && !atomic_load_explicit(&b->flag, memory_order_relaxed))
            park(w);
    }
    w->bo = NULL;
    tl_w = NULL;
    pthread_mutex_lock(&b->mu);
    b->w = NULL;
    pthread_mutex_unlock(&b->mu);
    bo_put(b);
    atomic_store_explicit(&rt->bo_busy, 0, memory_order_release);
    return f->out;
}

/* Multi-thread: f runs inside a small task that polls it by pointer; the caller
 * waits for the task with the join protocol, its waker raising a futex flag. */
struct bo_task {
    struct sn_future base;
    struct sn_future *f;
};

static int bo_task_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct bo_task *bt = (struct bo_task *)f;
    if (sn_poll(bt->f, cx) != SN_READY)
        return SN_PENDING;
    f->out = bt->f->out;
    return SN_READY;
}

static const struct sn_future_vt bo_task_vt = {bo_task_poll, NULL, "block_on"};

static int64_t block_on_threads(struct sn_rt *rt, struct sn_future *f)
{
    struct bo_task bt = {{&bo_task_vt, 0}, f};
    struct sn_task *t;
    int err = sn_spawn(rt, &bt.base, sizeof(bt), &t);
    if (err < 0)
        return err;
    struct bo *b = bo_new(NULL);
    if (!b) {
        /* Cannot wait without the flag; let it run detached. */
        sn_task_release(t);
        return -ENOMEM;
    }
    struct sn_join j;
    sn_join_init(&j, t);
    struct sn_cx cx = {{b, &snt_bo_vt}, rt, NULL, NULL, 0, 0};
    for (;;) {
        atomic_store_explicit(&b->flag, 0, memory_order_relaxed);
        if (sn_poll(&j.base, &cx) == SN_READY)
            break;
        /* The wake sets flag (seq_cst) then futex-wakes; FUTEX_WAIT re-checks
         * flag == 0 atomically, so a wake between poll and wait is not lost. */
        while (!atomic_load_explicit(&b->flag, memory_order_acquire))
            futex_wait(&b->flag, 0);
    }
    int64_t res = j.base.out;
    sn_drop(&j.base);
    bo_put(b);
    return res;
}

int64_t sn_rt_block_on(struct sn_rt *rt, struct sn_future *f)
{
    if (!rt || !f || !f->vt || !f->vt->poll)
        return -EINVAL;
    if (tl_w)
        return -EBUSY;       /* inside a runtime (this one or another): would deadlock */
    if (atomic_load_explicit(&rt->shutdown, memory_order_relaxed))
        return -ESHUTDOWN;
    return rt->threaded ? block_on_threads(rt, f) : block_on_current(rt, f);
}

/* ======================================================================
 * open, close, stats
 * ====================================================================== */

static void worker_fini(struct sn_worker *w)
{
    loop_finish(w);   /* no-op if the worker thread closed it */
    free((void *)w->buf);
    w->buf = NULL;
    pthread_mutex_destroy(&w->rmu);
}

int sn_rt_open(struct sn_rt **out, const struct sn_rt_opts *opts)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    struct sn_rt_opts o = {0};
    if (opts)
        o = *opts;
    if (!o.queue_size)
        o.queue_size = DEF_QUEUE;
    if (o.queue_size < 4 || o.queue_size > MAX_QUEUE || (o.queue_size & (o.queue_size - 1)))
        return -EINVAL;
    if (o.workers > MAX_WORKERS)
        return -EINVAL;
    struct sn_rt *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return -ENOMEM;
    rt->threaded = o.workers > 0;
    rt->nworkers = o.workers ? o.workers : 1;
    rt->budget = o.budget ? o.budget : DEF_BUDGET;
    rt->interval = o.event_interval ? o.event_interval : DEF_INTERVAL;
    rt->qcap = o.queue_size;
    pthread_mutex_init(&rt->gmu, NULL);
    int err = -ENOMEM;
    rt->w = aligned_alloc(64, sizeof(struct sn_worker) * rt->nworkers);
    if (!rt->w)
        goto fail_rt;
    memset(rt->w, 0, sizeof(struct sn_worker) * rt->nworkers);
    unsigned made = 0;
    for (; made < rt->nworkers; made++) {
        struct sn_worker *w = &rt->w[made];
        w->rt = rt;
        w->idx = made;
        w->mask = o.queue_size - 1;
        w->rng = 0x9e3779b9u * (made + 1);
        pthread_mutex_init(&w->rmu, NULL);
        atomic_init(&w->lmu.v, 0);
        w->buf = calloc(o.queue_size, sizeof(*w->buf));
        if (!w->buf) {
            err = -ENOMEM;
            made++;
            goto fail;
        }
        struct sn_loop_opts lo = {.backend = o.backend};
        if ((err = sn_loop_open(&w->loop, &lo)) < 0) {
            w->loop = NULL;
            made++;
            goto fail;
        }
        if ((err = sn_async_start(w->loop, &w->async, async_noop)) < 0) {
            made++;
            goto fail;
        }
        w->async_on = 1;
    }
    if (rt->threaded) {
        for (unsigned i = 0; i < rt->nworkers; i++) {
            struct sn_worker *w = &rt->w[i];
            if ((err = -pthread_create(&w->thr, NULL, worker_main, w)) < 0) {
                atomic_store(&rt->shutdown, 1);
                phase_set(rt, PH_CLOSE);   /* nothing to cancel: straight to closing */
                for (unsigned k = 0; k < i; k++)
                    unpark_worker(&rt->w[k]);
                for (unsigned k = 0; k < i; k++)
                    pthread_join(rt->w[k].thr, NULL);
                goto fail;
            }
            w->thr_started = 1;
        }
    }
    *out = rt;
    return 0;
fail:
    for (unsigned i = 0; i < made; i++)
        worker_fini(&rt->w[i]);
    free(rt->w);
fail_rt:
    pthread_mutex_destroy(&rt->gmu);
    free(rt);
    return err;
}

unsigned sn_rt_workers(const struct sn_rt *rt)
{
    return rt ? (rt->threaded ? rt->nworkers : 0) : 0;
}

/* Drop the queue reference of every task in a chain (sn_rt_close). */
static void drop_chain(struct sn_task *t)
{
    while (t) {
        struct sn_task *nx = atomic_load_explicit(&t->next, memory_order_relaxed);
        snt_ref_dec(t);
        t = nx;
    }
}

int sn_rt_close(struct sn_rt *rt)
{
    if (!rt)
        return 0;
    if (tl_w && tl_w->rt == rt)
        return -EBUSY;
    if (!rt->threaded && atomic_load_explicit(&rt->bo_busy, memory_order_acquire))
        return -EBUSY;
    uint32_t n = rt->nworkers;
    /* 1. Stop the workers. seq_cst store, then each unpark's fence: a worker about
     * to sleep either sees shutdown in its re-check or is woken. From now on a
     * wake only drops its queue reference (snt_schedule). */
    atomic_store_explicit(&rt->shutdown, 1, memory_order_seq_cst);
    for (unsigned i = 0; i < n; i++)
        unpark_worker(&rt->w[i]);
    if (rt->threaded)
        acks_wait(rt, n);   /* acquire: their queues, LIFO slots and stats are ours to read */
    /* 2. Close the queues other threads push to (a late push then just drops its
     * reference), and empty every queue: each entry's reference goes. The owner
     * reference keeps every unfinished task for step 3. */
    pthread_mutex_lock(&rt->gmu);
    rt->g_closed = 1;
    struct sn_task *g = rt->g_head;
    rt->g_head = rt->g_tail = NULL;
    atomic_store_explicit(&rt->g_len, 0, memory_order_relaxed);
    pthread_mutex_unlock(&rt->gmu);
    drop_chain(g);
    for (unsigned i = 0; i < n; i++) {
        struct sn_worker *w = &rt->w[i];
        pthread_mutex_lock(&w->rmu);
        w->r_closed = 1;
        struct sn_task *r = w->r_head;
        w->r_head = w->r_tail = NULL;
        atomic_store_explicit(&w->r_len, 0, memory_order_relaxed);
        pthread_mutex_unlock(&w->rmu);
        drop_chain(r);
        drop_chain(w->pin_head);
        w->pin_head = w->pin_tail = NULL;
        if (w->lifo)
            snt_ref_dec(w->lifo);
        w->lifo = NULL;
        struct sn_task *t;
        while ((t = local_pop(w)))
            snt_ref_dec(t);
    }
    /* 3. Cancel what is still alive: the future's drop runs, the result is
     * -ECANCELED, join handles stay valid until released. Tasks pinned to a worker
     * are dropped on its thread (their futures hold its loop's handles); the rest
     * here. Current-thread: all here, the thread that runs block_on. */
    if (rt->threaded) {
        phase_set(rt, PH_CANCEL);
        acks_wait(rt, 2 * n);
    }
    cancel_live(rt, SN_TASK_NO_HOME, 1);
    /* 4. Close the loops: each worker its own, then the threads end. */
    if (rt->threaded)
        phase_set(rt, PH_CLOSE);
    for (unsigned i = 0; i < n; i++)
        if (rt->w[i].thr_started)
            pthread_join(rt->w[i].thr, NULL);
    int err = 0;
    for (unsigned i = 0; i < n; i++) {
        worker_fini(&rt->w[i]);
        if (rt->w[i].loop)
            err = -EBUSY;   /* a handle is still active: the loop is leaked, not freed under it */
    }
    free(rt->w);
    pthread_mutex_destroy(&rt->gmu);
    free(rt);
    return err;
}

void sn_rt_stats(const struct sn_rt *rtc, struct sn_rt_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (!rtc)
        return;
    struct sn_rt *rt = (struct sn_rt *)rtc;
    st->spawned = atomic_load_explicit(&rt->ext_spawned, memory_order_relaxed);
    st->cancelled = atomic_load_explicit(&rt->close_cancelled, memory_order_relaxed);
    st->unparks = atomic_load_explicit(&rt->unparks, memory_order_relaxed);
    for (unsigned i = 0; i < rt->nworkers; i++) {
        struct wstats *s = &rt->w[i].st;
#define RD(f) atomic_load_explicit(&s->f, memory_order_relaxed)
        st->spawned += RD(spawned);
        st->completed += RD(completed);
        st->cancelled += RD(cancelled);
        st->polls += RD(polls);
        st->steals += RD(steals);
        st->stolen_tasks += RD(stolen_tasks);
        st->parks += RD(parks);
        st->lifo_hits += RD(lifo_hits);
        st->global_pops += RD(global_pops);
        st->overflows += RD(overflows);
#undef RD
    }
}
