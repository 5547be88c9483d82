/* src/loop/loop_int.h — private to the callback loop (include/sysnet/loop.h): the
 * loop struct and what loop.c (core, io, ops, idle, defer, async, signals),
 * timer.c (the 4-ary heap) and pool.c (the blocking-work pool) share.
 *
 * Poller tokens. The loop registers everything with one uint64_t token whose low
 * 3 bits say what it is (the rest depends on the kind):
 *
 *   SNL_TOK_IO      bits 3..34 the fd, bits 35..63 the watcher's generation. The
 *                   loop maps fd -> struct sn_io (fdmap); an event is delivered only
 *                   if fdmap[fd] is still there with the same generation, so a
 *                   watcher stopped (and perhaps freed, or replaced by a new one on a
 *                   reused fd number) earlier in the same iteration never sees an
 *                   event fetched for its predecessor. O(1), no scan of the batch and
 *                   no read of a handle the caller may already have freed.
 *   SNL_TOK_OP      the struct sn_op pointer (8-aligned) | kind. An op cannot be
 *                   stopped, only cancelled, and stays alive until its final
 *                   completion, so the pointer is always valid; ev.id == op->id is
 *                   still checked, cheaply, against a stale completion.
 *   SNL_TOK_SIGNAL  the loop's signalfd (one per loop, opened on first use).
 *
 * Cross-thread wakes need no fd of ours: sn_async_send sets flags and calls
 * sn_poller_wake (the poller's own eventfd / ring wake), and the loop checks the
 * flags after every wait.
 */
#ifndef SN_LOOP_INT_H
#define SN_LOOP_INT_H

#include <sysnet/loop.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

enum {
    SNL_TOK_IO = 1,
    SNL_TOK_OP = 2,
    SNL_TOK_SIGNAL = 3,
    SNL_TOK_MASK = 7,
};
#define SNL_IO_GEN_BITS 29u
#define SNL_IO_GEN_MASK ((1u << SNL_IO_GEN_BITS) - 1u)

/* Signals 1.._NSIG-1 (64 on Linux); the array is indexed by signal number. */
#define SNL_NSIG 65

/* sn_work.state */
enum {
    SNL_WORK_IDLE = 0,      /* never queued, or done has run */
    SNL_WORK_QUEUED,        /* in the queue, no thread has it: cancellable */
    SNL_WORK_RUNNING,       /* a pool thread runs work() */
    SNL_WORK_DONE,          /* work() returned; done() waits for the loop */
    SNL_WORK_CANCELLED,     /* cancelled while queued; done(-ECANCELED) waits for the loop */
};

/* One timer heap entry: 16 bytes, so four siblings fill one 64-byte line. */
struct snl_hent {
    uint64_t deadline;        /* a copy of t->deadline */
    struct sn_timer *t;
};

struct snl_pool {
    pthread_mutex_t mu;       /* guards everything below except pending and async */
    pthread_cond_t cv;        /* signalled when work is queued or stopping is set */
    pthread_t *threads;
    unsigned want;            /* threads to start on first use */
    unsigned nthreads;        /* threads running */
    int stopping;             /* sn_loop_close: threads exit once the queue is empty */
    struct sn_work *qhead, *qtail;  /* queued, not taken yet (FIFO) */
    struct sn_work *dhead, *dtail;  /* finished or cancelled, for the loop (FIFO) */
    unsigned pending;         /* loop thread only: queued and not yet given to done() */
    struct sn_async async;    /* internal (not counted as active): "dhead is not empty" */
};

struct sn_loop {
    struct sn_poller *poller;
    struct sn_bufgroup *rgroup;   /* sn_loop_bufgroup: made on first use, closed with the loop */
    struct sn_stream_chunk *chunk_cache; /* stream.c: spare write-queue chunks */
    unsigned chunk_cached;
    uint64_t now;             /* cached CLOCK_MONOTONIC, ns */
    int stop;                 /* sn_loop_stop was called */
    int running;              /* inside sn_loop_run (which is not re-entrant) */
    unsigned nactive;         /* active user handles: what sn_loop_alive reports */

    struct sn_event *events;  /* one wait's batch */
    unsigned max_events;

    /* io watchers: fd -> watcher, grown by doubling */
    struct sn_io **fdmap;
    unsigned fdcap;
    uint32_t io_gen;          /* last generation handed out (SNL_IO_GEN_MASK bits) */

    /* timers (timer.c): 4-ary min-heap on (deadline, seq); entries carry their
     * deadline so sifting reads the array, not the timers. The root is at index
     * SNL_HEAP0 (see timer.c), tlen entries follow; tcap counts array slots. */
    struct snl_hent *theap;
    uint32_t tlen, tcap;
    uint64_t tseq;            /* next start-order number */

    /* idle: the active list, and the part not yet run in the current idle pass */
    struct sn_idle *idle_head, *idle_tail, *idle_run;

    /* deferred callbacks, FIFO; defer_left: how many of the head still belong to
     * the pass in progress (those queued during it wait for the next iteration) */
    struct sn_defer *defer_head, *defer_tail;
    unsigned ndefer, defer_left;

    /* async handles; async_next: the iteration cursor, moved on by sn_async_stop */
    struct sn_async *async_head, *async_next;
    _Atomic int async_pending; /* some sn_async has pending set */

    /* signals: one signalfd for all the loop's signals */
    int sigfd;                /* -1 until the first sn_signal_start */
    sigset_t sigmask;         /* signals with a watcher (the signalfd's mask) */
    sigset_t sigunblock;      /* those that were not blocked before we blocked them */
    struct sn_signal *sigs[SNL_NSIG]; /* watchers per signal, in start order */
    struct sn_signal *sig_next;       /* the dispatch cursor, moved on by sn_signal_stop */
    int sig_dispatching;      /* in the signal pass: watchers started now are marked fresh */
    int sig_fresh;            /* some watcher was started during the pass */

    struct snl_pool pool;
};

/* loop.c */
int snl_async_start_internal(struct sn_loop *l, struct sn_async *a, sn_async_cb cb);
void snl_async_stop_internal(struct sn_async *a);

/* timer.c */
void snl_timers_run(struct sn_loop *l);
/* The wait timeout for the nearest timer: -1 with none, else ns until it is due
 * (0 if it is), measured from the cached now, so the wait can only end late. */
int64_t snl_timers_timeout(const struct sn_loop *l);
void snl_timers_fini(struct sn_loop *l);

/* pool.c */
int snl_pool_init(struct sn_loop *l, unsigned threads); /* mutex and condvar; no thread yet */
void snl_pool_fini(struct sn_loop *l);   /* joins the threads; nothing may be pending */

/* stream.c: give the per-thread write-chunk cache back to malloc (sn_loop_close). */
void snl_stream_cache_flush(struct sn_loop *l);

#endif
