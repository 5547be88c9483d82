/* sysnet/loop.h — layer 5, events: the callback event loop on the poller
 * (libuv's uv_loop, libev, Redis's ae). One loop per thread; everything attached
 * to a loop is touched only from that thread, except sn_async_send() and the
 * work pool's queue, which are thread-safe.
 *
 *   struct sn_loop *l;
 *   sn_loop_open(&l, NULL);                         // backend: $SN_LOOP_BACKEND or epoll
 *   struct sn_timer t;
 *   sn_timer_start(l, &t, on_tick, 10 * SN_MS, 10 * SN_MS);  // every 10 ms
 *   struct sn_io io;
 *   sn_io_start(l, &io, fd, SN_READ, on_readable);
 *   sn_loop_run(l, SN_RUN_DEFAULT);                 // until nothing is active or sn_loop_stop
 *   sn_loop_close(l);
 *
 * One iteration (sn_loop_run): update the cached time; run expired timers; run
 * idle callbacks; wait in the poller — not at all if idle callbacks or deferred
 * work are pending, else until the nearest timer (rounded UP: a timer never fires
 * early); dispatch I/O events, completions, signals, async wakes and finished
 * pool work; then run deferred callbacks (queued during this iteration, in order).
 *
 * Handles (struct sn_io, sn_timer, sn_signal, sn_async, sn_idle, sn_op, sn_work,
 * sn_defer) are caller-owned structs: the loop never allocates them and keeps
 * pointers to them while they are active. Stopping a handle from inside any
 * callback — its own or another's — is allowed and takes effect at once: an event
 * already fetched for a handle stopped in the same iteration is not delivered.
 * `data` is the caller's.
 *
 * Errors: >= 0 or -errno (base.h).
 */
#ifndef SYSNET_LOOP_H
#define SYSNET_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sysnet/base.h>
#include <sysnet/poller.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SN_US 1000ull
#define SN_MS 1000000ull
#define SN_SEC 1000000000ull

struct sn_loop;

struct sn_loop_opts {
    int backend;          /* enum sn_backend (poller.h); 0 = $SN_LOOP_BACKEND, else epoll */
    unsigned entries;     /* io_uring queue size; 0 = default */
    unsigned pool_threads;/* work pool threads, started on first use; 0 = 4 ($SN_POOL_THREADS) */
    unsigned max_events;  /* events fetched per wait; 0 = 1024 */
};

int sn_loop_open(struct sn_loop **out, const struct sn_loop_opts *opts);
/* Free the loop: -EBUSY (and nothing freed) while handles are active or pool work
 * is pending; stop them first (sn_loop_run returns 0 once nothing is active). */
int sn_loop_close(struct sn_loop *l);

enum sn_run_mode {
    SN_RUN_DEFAULT = 0,   /* until no active handle is left or sn_loop_stop */
    SN_RUN_ONCE,          /* one iteration, waiting for events if there is something to wait for */
    SN_RUN_NOWAIT,        /* one iteration without waiting */
};
/* Run. Returns 0 when no handle is active any more, 1 when some are (stopped, or
 * ONCE/NOWAIT), or -errno if the poller failed (not -EINTR: a signal only ends
 * the wait early). */
int sn_loop_run(struct sn_loop *l, int mode);
/* Make sn_loop_run return after the current iteration (from a callback of this
 * loop; from another thread use an sn_async whose callback calls this). */
void sn_loop_stop(struct sn_loop *l);
/* The loop's idea of now: CLOCK_MONOTONIC ns cached at the start of the iteration and
 * again after the wait (so a timer started by an I/O callback counts from then). */
uint64_t sn_loop_now(const struct sn_loop *l);
void sn_loop_update_time(struct sn_loop *l);
/* The poller underneath (to register fds the loop does not know about is an error:
 * use sn_io). The backend in use: sn_poller_backend(sn_loop_poller(l)). */
struct sn_poller *sn_loop_poller(struct sn_loop *l);
/* The loop's shared receive buffers: a group of SN_LOOP_RGROUP_COUNT buffers of
 * SN_LOOP_RGROUP_SIZE bytes (poller.h's provided buffers), made on first use and
 * closed with the loop; streams on io_uring receive into it, so an idle connection
 * holds no buffer. NULL if it cannot be made (-ENOMEM, a kernel without buffer rings). */
#define SN_LOOP_RGROUP_COUNT 2048u
#define SN_LOOP_RGROUP_SIZE  16384u
struct sn_bufgroup *sn_loop_bufgroup(struct sn_loop *l);
/* Active handles (a handle counts while started; sn_handle_unref-like: none). */
unsigned sn_loop_alive(const struct sn_loop *l);

/* ---- I/O watchers: readiness of an fd ---- */
struct sn_io;
typedef void (*sn_io_cb)(struct sn_io *io, unsigned events); /* SN_READ|SN_WRITE|SN_HUP|... */
struct sn_io {
    sn_io_cb cb;
    void *data;
    /* private */
    struct sn_loop *loop;
    int fd;
    unsigned interest;
    int active;
    uint32_t gen;
};
/* Watch fd for interest (SN_READ|SN_WRITE, optionally SN_EDGE/SN_ONESHOT). */
int sn_io_start(struct sn_loop *l, struct sn_io *io, int fd, unsigned interest, sn_io_cb cb);
/* Change the interest (re-arms a oneshot); 0 stops watching but keeps the fd registered
 * and the handle active. */
int sn_io_set(struct sn_io *io, unsigned interest);
/* Stop and forget the fd (call it before close(fd)). Safe on a stopped watcher. */
void sn_io_stop(struct sn_io *io);

/* ---- completion operations (poller.h's, with a callback) ---- */
struct sn_op;
typedef void (*sn_op_cb)(struct sn_op *op, int res, unsigned flags, uint16_t buf); /* flags: SN_EV_* */
struct sn_op {
    sn_op_cb cb;
    void *data;
    /* private */
    struct sn_loop *loop;
    int64_t id;           /* poller op id while in flight, -1 otherwise */
    uint8_t kind;
};
/* Each starts an operation whose completion calls cb (multishot ones: every result,
 * the last one without SN_EV_MORE). The op is active until its final completion.
 * Buffer ownership: as in poller.h — the buffer is the kernel's until cb runs. */
int sn_op_accept(struct sn_loop *l, struct sn_op *op, int fd, unsigned flags, sn_op_cb cb);
int sn_op_recv(struct sn_loop *l, struct sn_op *op, int fd, void *buf, size_t len, sn_op_cb cb);
int sn_op_recv_group(struct sn_loop *l, struct sn_op *op, int fd, struct sn_bufgroup *g, unsigned flags,
                     sn_op_cb cb);
int sn_op_send(struct sn_loop *l, struct sn_op *op, int fd, const void *buf, size_t len, sn_op_cb cb);
int sn_op_connect(struct sn_loop *l, struct sn_op *op, int fd, const struct sockaddr *sa, socklen_t salen,
                  sn_op_cb cb);
/* Ask for cancellation; cb still runs once (res -ECANCELED, or the result if the
 * operation finished first). 0, or -ENOENT if the op is not in flight. */
int sn_op_cancel(struct sn_op *op);

/* ---- timers ----
 * A 4-ary min-heap of deadlines, each timer holding its heap index: start and stop
 * are O(log n) with no allocation after the heap has grown; expiring k timers costs
 * O(k log n). (Why a heap and not a wheel: bench/loop's timer benchmark.) Timers
 * that expire in the same iteration run in deadline order, ties in start order. */
struct sn_timer;
typedef void (*sn_timer_cb)(struct sn_timer *t);
struct sn_timer {
    sn_timer_cb cb;
    void *data;
    /* private */
    struct sn_loop *loop;
    uint64_t deadline;    /* loop time, ns */
    uint64_t repeat;      /* ns; 0 = one shot */
    uint64_t seq;         /* start order, for ties */
    uint32_t heap_idx;    /* UINT32_MAX when stopped */
};
/* Start (or restart) t: cb after delay_ns, then every repeat_ns if that is not 0.
 * A repeating timer is re-armed from its deadline, not from when cb ran, so it does
 * not drift; if the loop fell more than one period behind, it runs once and skips
 * the missed periods. -ENOMEM if the heap could not grow. */
int sn_timer_start(struct sn_loop *l, struct sn_timer *t, sn_timer_cb cb, uint64_t delay_ns, uint64_t repeat_ns);
void sn_timer_stop(struct sn_timer *t);
int sn_timer_active(const struct sn_timer *t);

/* ---- signals (signalfd) ----
 * The signal is blocked in the calling thread by sn_signal_start (and unblocked when
 * the last watcher of it stops); for a signal sent to the process, block it in every
 * thread — start the watcher before creating threads, or block it yourself. A
 * standard signal sent several times before the loop reads it is merged by the
 * kernel (it is not queued), so cb runs once for it; real-time signals queue. */
struct sn_signal;
typedef void (*sn_signal_cb)(struct sn_signal *s, int signum);
struct sn_signal {
    sn_signal_cb cb;
    void *data;
    /* private */
    struct sn_loop *loop;
    int signum;
    int active;
    struct sn_signal *next;
};
int sn_signal_start(struct sn_loop *l, struct sn_signal *s, int signum, sn_signal_cb cb);
void sn_signal_stop(struct sn_signal *s);

/* ---- async: a thread-safe wake-up (eventfd), coalescing ----
 * sn_async_send from any thread (and from a signal handler) makes cb run on the
 * loop's thread; several sends before cb runs give one call. */
struct sn_async;
typedef void (*sn_async_cb)(struct sn_async *a);
struct sn_async {
    sn_async_cb cb;
    void *data;
    /* private */
    struct sn_loop *loop;
    _Atomic int pending;
    int active;
    struct sn_async *next;
};
int sn_async_start(struct sn_loop *l, struct sn_async *a, sn_async_cb cb);
int sn_async_send(struct sn_async *a);
void sn_async_stop(struct sn_async *a);

/* ---- idle and deferred callbacks ----
 * An idle handle runs once per iteration while started, and keeps the loop from
 * blocking. A deferred callback runs once, at the end of the current iteration
 * (or of the next one when queued outside a callback), in queue order. */
struct sn_idle;
typedef void (*sn_idle_cb)(struct sn_idle *h);
struct sn_idle {
    sn_idle_cb cb;
    void *data;
    /* private */
    struct sn_loop *loop;
    int active;
    struct sn_idle *prev, *next;
};
int sn_idle_start(struct sn_loop *l, struct sn_idle *h, sn_idle_cb cb);
void sn_idle_stop(struct sn_idle *h);

struct sn_defer;
typedef void (*sn_defer_cb)(struct sn_defer *d);
struct sn_defer {
    sn_defer_cb cb;
    void *data;
    /* private */
    struct sn_loop *loop;
    int active;
    struct sn_defer *next;
};
/* Queue d (-EBUSY if it is already queued). */
int sn_defer(struct sn_loop *l, struct sn_defer *d, sn_defer_cb cb);
/* Unqueue d if it has not run yet. */
void sn_defer_cancel(struct sn_defer *d);

/* ---- the blocking-work pool ----
 * work runs on a pool thread (blocking calls: getaddrinfo, disk, compression);
 * done runs on the loop's thread afterwards with status 0, or -ECANCELED when
 * sn_work_cancel won before a thread took it. The pool is the loop's (threads
 * started on first use, joined at sn_loop_close); queue and cancel are called
 * from the loop's thread. */
struct sn_work;
typedef void (*sn_work_fn)(struct sn_work *w);
typedef void (*sn_work_done_cb)(struct sn_work *w, int status);
struct sn_work {
    sn_work_fn work;
    sn_work_done_cb done;
    void *data;
    /* private */
    struct sn_loop *loop;
    _Atomic int state;
    struct sn_work *next;
};
int sn_work_queue(struct sn_loop *l, struct sn_work *w, sn_work_fn work, sn_work_done_cb done);
/* 0 if cancelled (done will run with -ECANCELED), -EBUSY if already running or done. */
int sn_work_cancel(struct sn_work *w);

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_LOOP_H */
