/* sysnet/task.h — layer 6, async: Tokio's building blocks in C.
 *
 *   future   a struct whose first member is struct sn_future: a poll function
 *            that returns SN_READY (the result is in f->out) or SN_PENDING (and
 *            has arranged for cx->waker to be woken when progress is possible).
 *   waker    {data, vtable of clone, wake, wake_by_ref, drop}: how a resource
 *            (the reactor, a channel, another thread) says "poll that task again".
 *   task     one allocation: a header (an atomic state word packing a reference
 *            count with RUNNING, NOTIFIED, COMPLETE, CANCELLED and join bits) and
 *            the future inline after it. A task pointer is also its join handle.
 *   runtime  the executor (one thread, or N workers with bounded local queues, a
 *            global injection queue, work stealing and futex parking) plus one
 *            reactor per worker: a struct sn_loop (loop.h) on epoll or io_uring.
 *
 *   static int hello_poll(struct sn_future *f, struct sn_cx *cx) {
 *       struct hello *h = (struct hello *)f;         // first member: struct sn_future
 *       ...                                          // return SN_PENDING after arranging a wake
 *       f->out = 42; return SN_READY;
 *   }
 *   static const struct sn_future_vt hello_vt = { hello_poll, NULL, "hello" };
 *   struct hello h = { .base = { &hello_vt, 0 } };
 *   struct sn_rt *rt; sn_rt_open(&rt, NULL);
 *   int64_t r = sn_rt_block_on(rt, &h.base);        // 42
 *   sn_rt_close(rt);
 *
 * Ownership: a spawned future is copied into its task (size bytes) and lives
 * there until the task completes or is cancelled; then its drop function runs
 * (exactly once, on a worker thread, whether it completed or not) and the memory
 * is freed when the last reference (the executor's, the join handle's, wakers')
 * goes. A future must not be moved after its first poll if it holds pointers
 * into itself; futures in a task never move.
 *
 * Threads: one reactor (loop) per worker; a future that registers with the
 * reactor (sn_cx_loop) pins its task to that worker for the rest of its life, so
 * loop objects stay on their thread (loop.h's rule). Tasks that never touch the
 * reactor may be stolen by other workers. Wakers, join handles, sn_task_abort,
 * sn_spawn, channels: thread-safe.
 *
 * Errors: >= 0 or -errno (base.h); a cancelled task's result is -ECANCELED.
 */
#ifndef SYSNET_TASK_H
#define SYSNET_TASK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sysnet/base.h>
#include <sysnet/loop.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- wakers ---------------------------------------------------------------
 * Rust's RawWaker: data plus a vtable. clone returns a new waker (a new
 * reference); wake consumes the waker; wake_by_ref does not; drop releases it.
 * A waker may be woken from any thread, any number of times; waking a task that
 * is already queued, or completed, does nothing. */
struct sn_waker;
struct sn_waker_vt {
    struct sn_waker (*clone)(const void *data);
    void (*wake)(const void *data);
    void (*wake_by_ref)(const void *data);
    void (*drop)(const void *data);
};
struct sn_waker {
    const void *data;
    const struct sn_waker_vt *vt;   /* NULL: the empty waker (no-ops) */
};
static inline struct sn_waker sn_waker_clone(const struct sn_waker *w) {
    if (!w->vt) { struct sn_waker e = {0, 0}; return e; }
    return w->vt->clone(w->data);
}
static inline void sn_waker_wake(struct sn_waker *w) {
    if (w->vt) w->vt->wake(w->data);
    w->vt = NULL; w->data = NULL;
}
static inline void sn_waker_wake_by_ref(const struct sn_waker *w) { if (w->vt) w->vt->wake_by_ref(w->data); }
static inline void sn_waker_drop(struct sn_waker *w) {
    if (w->vt) w->vt->drop(w->data);
    w->vt = NULL; w->data = NULL;
}
/* Same task (Rust's will_wake): lets a resource keep its stored waker. */
static inline int sn_waker_same(const struct sn_waker *a, const struct sn_waker *b) {
    return a->vt == b->vt && a->data == b->data;
}
/* Replace *slot with a clone of cx's waker unless it already wakes the same task. */
static inline void sn_waker_store(struct sn_waker *slot, const struct sn_waker *w) {
    if (sn_waker_same(slot, w)) return;
    sn_waker_drop(slot);
    *slot = sn_waker_clone(w);
}

/* ---- futures --------------------------------------------------------------- */
#define SN_PENDING 0
#define SN_READY   1
struct sn_future;
struct sn_cx;
typedef int (*sn_poll_fn)(struct sn_future *f, struct sn_cx *cx);
typedef void (*sn_drop_fn)(struct sn_future *f);
struct sn_future_vt {
    sn_poll_fn poll;      /* SN_READY (result in f->out) or SN_PENDING */
    sn_drop_fn drop;      /* release what the future holds; may be NULL */
    const char *name;     /* for debugging and docs */
};
struct sn_future {
    const struct sn_future_vt *vt;
    int64_t out;          /* the result once ready: >= 0 or -errno by convention */
};
static inline int sn_poll(struct sn_future *f, struct sn_cx *cx) { return f->vt->poll(f, cx); }
static inline void sn_drop(struct sn_future *f) { if (f->vt && f->vt->drop) f->vt->drop(f); }

/* The context a poll gets (Rust's Context, plus what our reactor needs). */
struct sn_rt;
struct sn_task;
struct sn_cx {
    struct sn_waker waker;     /* wakes the task being polled */
    struct sn_rt *rt;          /* NULL when polled by hand (tests) */
    struct sn_loop *loop;      /* this worker's reactor; use sn_cx_loop() */
    struct sn_task *task;      /* the task being polled, or NULL */
    unsigned budget;           /* cooperative budget left in this poll (sn_coop) */
    unsigned worker;           /* index of the worker polling */
};
/* The reactor of the worker polling; pins the task to that worker (see Threads). */
struct sn_loop *sn_cx_loop(struct sn_cx *cx);
/* Cooperative budget (Tokio's coop): every reactor/channel operation that is ready
 * spends one unit; when the budget is spent it wakes the task and returns 0, and
 * the operation returns SN_PENDING so the task yields to others. 1 = proceed. */
int sn_coop(struct sn_cx *cx);

/* ---- runtime and tasks ------------------------------------------------------ */
struct sn_rt_opts {
    unsigned workers;     /* 0: current-thread runtime (runs inside sn_rt_block_on);
                             N >= 1: N worker threads */
    int backend;          /* reactor backend (enum sn_backend); 0 = $SN_LOOP_BACKEND or epoll */
    unsigned queue_size;  /* local run queue per worker, power of two; 0 = 256 */
    unsigned budget;      /* cooperative budget per poll; 0 = 128 */
    unsigned event_interval; /* ticks between looks at the global queue and reactor; 0 = 61 */
};
int sn_rt_open(struct sn_rt **out, const struct sn_rt_opts *opts);
/* Run f to completion (f lives in the caller's memory; it is not copied) and
 * return f->out. Current-thread runtime: polls tasks on the calling thread until f
 * is ready. Multi-thread: f runs as a task on the workers; the caller sleeps on a
 * futex. -EBUSY if called from inside the runtime. Other spawned tasks keep
 * running (or, current-thread, wait for the next block_on). */
int64_t sn_rt_block_on(struct sn_rt *rt, struct sn_future *f);
/* Stop the workers, cancel every task still alive (drop runs), free. */
int sn_rt_close(struct sn_rt *rt);
unsigned sn_rt_workers(const struct sn_rt *rt);

/* Spawn: copy size bytes of the future at init into a new task and schedule it.
 * join: NULL to detach, else receives the join handle (one reference; release it
 * with sn_task_release). From inside a task prefer the worker-local path:
 * sn_spawn(cx->rt, ...) from a worker thread pushes to that worker's queue.
 * -ENOMEM; -ESHUTDOWN after sn_rt_close began. Allocates the task (malloc). */
int sn_spawn(struct sn_rt *rt, const struct sn_future *init, size_t size, struct sn_task **join);
/* Join handle as a future: init j with a task; poll returns SN_READY with the
 * task's result (-ECANCELED if aborted) in j->base.out. Dropping it does not
 * cancel the task (as in Tokio); it releases the handle. */
struct sn_join {
    struct sn_future base;
    struct sn_task *task;       /* owned reference; released by the join's drop */
};
void sn_join_init(struct sn_join *j, struct sn_task *t);
/* Ask the task to stop: if it has not completed, it is not polled again; its
 * future is dropped on its worker and its result is -ECANCELED. Thread-safe.
 * Returns 0, or -EALREADY if it had already completed. */
int sn_task_abort(struct sn_task *t);
/* Completed? (result stored in *out if so) 1/0. Thread-safe. */
int sn_task_done(struct sn_task *t, int64_t *out);
/* Release a join handle reference. */
void sn_task_release(struct sn_task *t);
/* Internal state word of a task, for tests and docs: bits below. */
uint64_t sn_task_state(const struct sn_task *t);
#define SN_TASK_RUNNING     0x01u
#define SN_TASK_NOTIFIED    0x02u
#define SN_TASK_COMPLETE    0x04u
#define SN_TASK_CANCELLED   0x08u
#define SN_TASK_JOIN_INTEREST 0x10u
#define SN_TASK_JOIN_WAKER  0x20u
#define SN_TASK_REF_SHIFT   8
#define SN_TASK_REF_ONE     (1ull << SN_TASK_REF_SHIFT)

/* A future that is ready on the next poll after yielding once (Tokio's
 * yield_now): out = 0. */
struct sn_yield { struct sn_future base; int yielded; };
void sn_yield_init(struct sn_yield *y);

/* Counters (relaxed; for tests, benchmarks and the lab). */
struct sn_rt_stats {
    uint64_t spawned, completed, cancelled, polls;
    uint64_t steals, stolen_tasks, parks, unparks, lifo_hits, global_pops, overflows;
};
void sn_rt_stats(const struct sn_rt *rt, struct sn_rt_stats *st);

/* ---- the reactor: readiness sources ------------------------------------------
 * struct sn_afd wraps a non-blocking fd for readiness-based futures: the first
 * poll registers it (edge-triggered, read and write) with the worker's loop and
 * pins the task; readiness wakes the stored reader/writer wakers. One reader and
 * one writer task at a time (like Tokio's PollEvented), both on the worker it was
 * registered with (a poll from another worker's loop: -EXDEV). Close it (on its
 * worker) with sn_afd_close before close(fd): a task still waiting on it is woken
 * and gets -EBADF. The afd must not move after its first poll. */
struct sn_afd {
    int fd;
    /* private */
    struct sn_io io;
    struct sn_waker rw, ww;     /* reader and writer wakers */
    unsigned ready;             /* SN_READ|SN_WRITE|SN_HUP|SN_ERR seen and not yet cleared */
    int registered;             /* 0 not yet, 1 with the loop of io.loop, -1 closed */
    unsigned flags;             /* reactor.c's (the fd is not a socket: write(2), not send(2)) */
};
void sn_afd_init(struct sn_afd *a, int fd);
/* SN_READY if (interest & ready) is set, else store the waker, SN_PENDING.
 * Negative -errno if registration failed. */
int sn_afd_poll(struct sn_afd *a, struct sn_cx *cx, unsigned interest);
/* The operation got -EAGAIN: forget the readiness for interest. */
void sn_afd_clear(struct sn_afd *a, unsigned interest);
void sn_afd_close(struct sn_afd *a);

/* Readiness futures over an sn_afd (out: bytes, the new fd, 0, or -errno).
 * Cancellation safety (dropping the future before it is ready):
 *   read, accept: safe — nothing was consumed (the syscall only runs when ready
 *     and its result is returned by the same poll).
 *   write: safe — out counts what was written; a dropped write wrote nothing
 *     or a prefix that the caller cannot see (write_all is not cancel-safe).
 *   connect: not resumable — the socket is left connecting; close it.
 * A dropped pending future leaves its waker in the afd until the next readiness
 * edge or sn_afd_close (one spurious wake; nothing leaks). Once READY, none of the
 * reactor futures below holds loop state, so a finished future may be dropped on
 * any thread (e.g. after sn_rt_block_on returns); a pending one only on its worker. */
struct sn_read_fut  { struct sn_future base; struct sn_afd *a; void *buf; size_t len; };
struct sn_write_fut { struct sn_future base; struct sn_afd *a; const void *buf; size_t len; size_t done; int all; };
struct sn_accept_fut { struct sn_future base; struct sn_afd *a; int flags; };
struct sn_connect_fut { struct sn_future base; struct sn_afd *a; struct sockaddr_storage sa; socklen_t salen; int started; };
void sn_read_init(struct sn_read_fut *f, struct sn_afd *a, void *buf, size_t len);
/* all = 0: one write, out = bytes written; all = 1: until len bytes (out = len) or error. */
void sn_write_init(struct sn_write_fut *f, struct sn_afd *a, const void *buf, size_t len, int all);
/* flags: SOCK_NONBLOCK|SOCK_CLOEXEC for accept4 (SOCK_NONBLOCK is always added). */
void sn_accept_init(struct sn_accept_fut *f, struct sn_afd *a, int flags);
void sn_connect_init(struct sn_connect_fut *f, struct sn_afd *a, const struct sockaddr *sa, socklen_t len);

/* ---- the reactor: completion sources ------------------------------------------
 * One loop operation (loop.h's sn_op: native on io_uring, emulated on epoll/poll)
 * per future. The first poll submits; the completion wakes the task. Dropping
 * the future while the operation is in flight cancels it; the operation's state
 * lives in a small heap block that outlives the future until the kernel is done
 * with it, so the buffer must stay valid until then too: cancellation is NOT
 * safe for recv (bytes may have been received into buf and are lost) and send
 * (bytes may have been sent). accept is safe: a connection accepted after the drop
 * is closed by the completion. connect: not resumable. The loop must keep running
 * until that completion (sn_loop_alive counts the op; the runtime's close drains
 * it). out: as the syscall. Allocates the small state block (malloc) at first poll. */
struct sn_opfut_state;
struct sn_op_fut {
    struct sn_future base;
    struct sn_opfut_state *st;
    int kind, fd;
    void *buf;
    size_t len;
    struct sockaddr_storage sa;
    socklen_t salen;
};
void sn_op_recv_init(struct sn_op_fut *f, int fd, void *buf, size_t len);
void sn_op_send_init(struct sn_op_fut *f, int fd, const void *buf, size_t len);
void sn_op_accept_init(struct sn_op_fut *f, int fd);
void sn_op_connect_init(struct sn_op_fut *f, int fd, const struct sockaddr *sa, socklen_t len);

/* ---- time ----------------------------------------------------------------------
 * sleep: ready (out 0) once ns have passed since its first poll (a timer on the
 * worker's loop; never early: the deadline is CLOCK_MONOTONIC at the first poll
 * + ns, not the loop's cached time). 0 ns: ready at the first poll. Cancel-safe. */
struct sn_sleep_fut { struct sn_future base; uint64_t ns; struct sn_timer t; struct sn_waker w; int state;
                      uint64_t deadline; /* private: CLOCK_MONOTONIC ns, set by the first poll */ };
void sn_sleep_init(struct sn_sleep_fut *f, uint64_t ns);
/* timeout: inner's result if it is ready within ns, else -ETIMEDOUT (and inner is
 * dropped: cancellation safety is inner's). The caller keeps inner's memory. inner
 * is polled first, so a 0 ns timeout around a ready inner gives inner's result, and
 * inner wins when both are ready in the same poll. */
struct sn_timeout_fut { struct sn_future base; struct sn_future *inner; struct sn_sleep_fut sleep; int done; };
void sn_timeout_init(struct sn_timeout_fut *f, struct sn_future *inner, uint64_t ns);

/* ---- combinators -----------------------------------------------------------------
 * Children live in the caller's memory (pointers); the combinator polls them in
 * order and drops them when it is dropped (or, for select, as soon as one wins).
 * select: ready with the first child to be ready; out = its result, *winner = its
 * index; the others are dropped (their cancellation safety applies).
 * join: ready when every child is; out = 0, each child's result in child->out. */
#define SN_COMB_MAX 16
struct sn_select_fut { struct sn_future base; struct sn_future *f[SN_COMB_MAX]; unsigned n; int winner; unsigned done_mask; };
struct sn_join_all_fut { struct sn_future base; struct sn_future *f[SN_COMB_MAX]; unsigned n; unsigned done_mask; };
/* -EINVAL if n is 0 or > SN_COMB_MAX. */
int sn_select_init(struct sn_select_fut *s, struct sn_future *const *fs, unsigned n);
int sn_join_all_init(struct sn_join_all_fut *j, struct sn_future *const *fs, unsigned n);

/* ---- channels ----------------------------------------------------------------------
 * oneshot: one value (int64 + pointer) from one sender to one receiver. Either
 * side may close; the receiver's future gets -EPIPE if the sender closed without
 * sending. Thread-safe, lock-free. Allocated (sn_oneshot_new), freed when both
 * sides have released it. */
struct sn_oneshot;
int sn_oneshot_new(struct sn_oneshot **out);         /* two references: sender and receiver */
int sn_oneshot_send(struct sn_oneshot *c, int64_t v, void *p); /* -EPIPE if the receiver is gone; releases the sender ref */
void sn_oneshot_close_tx(struct sn_oneshot *c);      /* sender gives up without sending; releases */
void sn_oneshot_close_rx(struct sn_oneshot *c);      /* receiver gives up; releases */
struct sn_oneshot_recv { struct sn_future base; struct sn_oneshot *c; void *p; };
/* out = v, p = the pointer; or -EPIPE. Dropping it releases the receiver ref. Cancel-safe
 * only in the sense that an unreceived value is lost with the channel. */
void sn_oneshot_recv_init(struct sn_oneshot_recv *r, struct sn_oneshot *c);

/* mpsc: bounded, many senders, one receiver, messages of a fixed size (set at
 * creation, copied in and out). Backpressure: send waits while the channel is
 * full; senders are woken in FIFO order as room appears. Closing: when every
 * sender is released, the receiver gets -EPIPE after draining; when the receiver
 * is released, sends fail with -EPIPE. Thread-safe. */
struct sn_mpsc;
int sn_mpsc_new(struct sn_mpsc **out, size_t capacity, size_t msg_size);  /* one sender ref + the receiver */
void sn_mpsc_sender_clone(struct sn_mpsc *c);
void sn_mpsc_sender_release(struct sn_mpsc *c);
void sn_mpsc_receiver_release(struct sn_mpsc *c);
/* Non-waiting forms: 0, -EAGAIN (full / empty), -EPIPE (closed). */
int sn_mpsc_try_send(struct sn_mpsc *c, const void *msg);
int sn_mpsc_try_recv(struct sn_mpsc *c, void *msg);
size_t sn_mpsc_len(struct sn_mpsc *c);
/* send future: out 0 or -EPIPE. Cancel-safe: a dropped send sent nothing and
 * gives up its place in the wait queue (a slot already reserved for it passes to
 * the next waiter). msg is copied in the poll that returns READY, so it must stay
 * valid until then. A send future uses the caller's sender reference: release it
 * only after the future is dropped (likewise the receiver and its recv future). */
struct sn_mpsc_waiter { struct sn_waker w; struct sn_mpsc_waiter *next, *prev;
                         int queued; /* 0 idle, 1 in the wait queue, 2 granted a reserved slot */ };
struct sn_mpsc_send { struct sn_future base; struct sn_mpsc *c; const void *msg; struct sn_mpsc_waiter wt; };
void sn_mpsc_send_init(struct sn_mpsc_send *s, struct sn_mpsc *c, const void *msg);
/* recv future: out 0 with the message copied to msg, or -EPIPE when closed and
 * empty. Cancel-safe: a dropped recv received nothing. */
struct sn_mpsc_recv { struct sn_future base; struct sn_mpsc *c; void *msg; };
void sn_mpsc_recv_init(struct sn_mpsc_recv *r, struct sn_mpsc *c, void *msg);

/* ---- the blocking pool -------------------------------------------------------------
 * Run fn(arg) on the loop's work pool (loop.h) of the polling worker, off the
 * executor threads; ready with its return value. Dropping the future before the
 * work starts cancels it; after, the work runs to the end and its result is
 * discarded (the state outlives the future; the loop must keep running until the
 * pool's done callback frees it — sn_loop_close says -EBUSY until then). */
typedef int64_t (*sn_blocking_fn)(void *arg);
struct sn_blocking_state;
struct sn_blocking_fut { struct sn_future base; sn_blocking_fn fn; void *arg; struct sn_blocking_state *st; };
void sn_blocking_init(struct sn_blocking_fut *f, sn_blocking_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_TASK_H */
