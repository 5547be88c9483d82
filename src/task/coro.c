/* src/task/coro.c — stackful coroutines as tasks (include/sysnet/coro.h).
 *
 * A coroutine is a future (struct co, copied into its task by sn_spawn and never
 * moved after) that owns a stack and two saved contexts: the coroutine's own and
 * the poller's. Polling the task switches onto the coroutine's stack; inside,
 * sn_co_await(f) polls f with the poll's cx and, while f is pending, switches
 * back, so the task's poll returns SN_PENDING with f's waker stored wherever f
 * put it. When that waker fires, the executor polls the task again, which
 * switches in again, and the await polls f again. When the coroutine's function
 * returns, its value is the future's out and the poll returns SN_READY.
 *
 *   executor ──poll──▶ co_poll ──switch──▶ fn() … sn_co_await(f): poll f
 *            ◀─PENDING─ co_poll ◀─switch── (f pending)
 *   waker fires; executor ──poll──▶ co_poll ──switch──▶ … poll f: READY, go on
 *
 * Pinning. The first poll calls sn_cx_loop(cx), which pins the task to the
 * worker polling it: a coroutine's stack holds what C code keeps about its
 * thread — the address of errno and of every other thread-local, locks it took —
 * so it must always resume on the thread it started on. (Tasks that are plain
 * futures may migrate; coroutines never do.)
 *
 * Cancellation. Dropping the future of a coroutine that has started and not
 * finished (sn_task_abort, sn_rt_close) resumes it one last time with
 * `cancelled` set: the await it is parked in drops its future and returns
 * -ECANCELED, and so does every later await, sn_co_read/…, sn_co_yield, at once
 * and without switching, so the coroutine runs its own error paths — closes its
 * fds, frees its memory — and returns, all inside the drop. A coroutine that
 * ignores -ECANCELED and keeps awaiting would spin there forever, so after
 * CO_CANCEL_LIMIT cancelled calls we print why and abort(): a loud bug beats a
 * silent hang in sn_rt_close. A coroutine cancelled before its first run never
 * runs. Its stack is freed when the drop returns.
 *
 * Stacks come from sn_stack_alloc (stack.c) through a small per-thread cache
 * (CACHE_MAX stacks and CACHE_MAX_BYTES at most, exact size match, the newest
 * searched first, an old one evicted when full): mmap + mprotect + munmap cost microseconds and three system calls, a
 * cache hit a few nanoseconds. A cached stack keeps the pages its last coroutine
 * touched (RSS: up to CACHE_MAX_BYTES per thread), which is the point.
 *
 * I/O. sn_co_read/write/accept/connect use the reactor's readiness futures on a
 * struct sn_afd per fd, kept in a table per loop (the worker's reactor): an fd is
 * registered once, on first use, and forgotten by sn_co_close. The table is found
 * through the loop, not the thread, because the drop of a cancelled coroutine may
 * run on the thread that closes the runtime (after its workers have exited) and
 * must find, and close, the same registrations. Tables are never freed (one small
 * header per loop address ever used; the array is freed when it empties), so a
 * thread's cached pointer to one can never dangle.
 *
 * Sanitizers. ASan must be told which stack is current, or it takes the
 * coroutine's frames for a stack overflow / use-after-return:
 * __sanitizer_start_switch_fiber before each switch, __sanitizer_finish_switch_fiber
 * after (common_interface_defs.h; NULL for the last switch out of a finished
 * coroutine, so its fake stack is freed). TSan keeps a shadow stack and clock per
 * thread; a coroutine gets its own "fiber" (__tsan_create_fiber), switched to
 * before each switch. TSan fibers count against its thread limit, so a fiber
 * lives only from the first run to the end of the coroutine. */
#include "task_int.h"

#include <sysnet/coro.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SN_CO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SN_CO_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SN_CO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SN_CO_TSAN 1
#endif
#endif
#ifdef SN_CO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef SN_CO_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#define CO_CANCEL_LIMIT 1000u
#define CACHE_MAX 64u                  /* stacks per thread */
#define CACHE_MAX_BYTES (4u << 20)     /* and at most this much of them per thread */

enum { CO_NEW, CO_SUSPENDED, CO_DONE };

struct co {
    struct sn_future base;      /* first: the task polls this */
    sn_co_fn fn;
    void *arg;
    struct sn_rt *rt;
    struct sn_stack stack;
    int fresh;                  /* unmap the stack at the end (no cache) */
    int state;                  /* CO_* */
    int cancelled;              /* set by the drop: awaits return -ECANCELED */
    unsigned cancel_calls;      /* awaits etc. since cancellation */
    struct sn_ctx ctx;          /* the coroutine, while it is switched out */
    struct sn_ctx back;         /* the poller, while the coroutine runs */
    struct sn_cx *cx;           /* the poll in progress; NULL in the cancelling drop */
    struct sn_loop *loop;       /* the pinned worker's reactor */
    int64_t result;
#ifdef SN_CO_ASAN
    const void *back_bottom;    /* the poller's stack, for the switch back */
    size_t back_size;
#endif
#ifdef SN_CO_TSAN
    void *fiber, *back_fiber;
#endif
};

/* The coroutine running on this thread (NULL on the thread's own stack). */
static _Thread_local struct co *tls_co;
/* sn_co_guard_install has run on this thread (its alternate signal stack exists). */
static _Thread_local int tls_guarded;

static atomic_uint_fast64_t st_spawned, st_live, st_mapped, st_reuses;

/* ---- the stack cache ---------------------------------------------------------- */

static _Thread_local struct {
    struct sn_stack s[CACHE_MAX];
    unsigned n;
    int keyed;
    size_t bytes;
} tls_cache;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static pthread_key_t cache_key;
static int cache_key_ok;

/* Unmap a stack that is not in the cache. */
static void stack_unmap(struct sn_stack *s)
{
    sn_stack_free(s);
    atomic_fetch_sub_explicit(&st_mapped, 1, memory_order_relaxed);
}

/* Take the cache's slot i out and unmap its stack; the last slot fills the hole. */
static void cache_evict(unsigned i)
{
    tls_cache.bytes -= tls_cache.s[i].size;
    stack_unmap(&tls_cache.s[i]);
    tls_cache.s[i] = tls_cache.s[--tls_cache.n];
}

/* Thread exit. keyed goes back to 0 so that a stack released later in the exit
 * (by another key's destructor) registers again, and glibc runs us once more. */
static void cache_dtor(void *unused)
{
    (void)unused;
    while (tls_cache.n)
        cache_evict(tls_cache.n - 1);
    tls_cache.keyed = 0;
}

static void cache_init(void)
{
    cache_key_ok = pthread_key_create(&cache_key, cache_dtor) == 0;
}

static int stack_get(struct sn_stack *s, size_t size, int fresh)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t p = pg > 0 ? (size_t)pg : 4096;
    if (size > SIZE_MAX / 2)
        return -ENOMEM;
    size = size ? (size + p - 1) & ~(p - 1) : p;
    if (!fresh) {
        for (unsigned i = tls_cache.n; i-- > 0;) {
            if (tls_cache.s[i].size == size) {
                *s = tls_cache.s[i];
                tls_cache.s[i] = tls_cache.s[--tls_cache.n];
                tls_cache.bytes -= size;
                atomic_fetch_add_explicit(&st_reuses, 1, memory_order_relaxed);
                return 0;
            }
        }
    }
    int e = sn_stack_alloc(s, size);
    if (e < 0)
        return e;
    atomic_fetch_add_explicit(&st_mapped, 1, memory_order_relaxed);
    return 0;
}

static void stack_put(struct sn_stack *s, int fresh)
{
    if (!s->map)
        return;
#ifdef SN_CO_ASAN
    /* The coroutine's last frames (co_main's never returns) leave their redzones
     * poisoned; the next user of these pages — a coroutine, or any mapping that
     * gets the address — must start clean. */
    ASAN_UNPOISON_MEMORY_REGION(s->lo, s->size);
#endif
    if (!fresh && s->size <= CACHE_MAX_BYTES) {
        if (!tls_cache.keyed) {
            /* Unmap the cache at thread exit (a worker's). */
            pthread_once(&cache_once, cache_init);
            if (cache_key_ok && pthread_setspecific(cache_key, &tls_cache) == 0)
                tls_cache.keyed = 1;
        }
        if (tls_cache.keyed) {
            /* Full: the stack freed now is the likelier to be wanted next (the
             * same kind of coroutine again) — make room by evicting the slot 0
             * entry, so a cache full of one size cannot lock out another. */
            while (tls_cache.n && (tls_cache.n == CACHE_MAX || tls_cache.bytes + s->size > CACHE_MAX_BYTES))
                cache_evict(0);
            tls_cache.s[tls_cache.n++] = *s;
            tls_cache.bytes += s->size;
            memset(s, 0, sizeof(*s));
            return;
        }
    }
    stack_unmap(s);
}

/* ---- switching ------------------------------------------------------------------ */

/* From the poller (the executor's stack) into the coroutine, until it switches
 * back. Saves and restores what describes "the current coroutine" of this thread,
 * so a poll may nest inside another coroutine (a coroutine polling a future that
 * polls a coroutine task by hand would be unusual, but harmless). */
static void co_resume(struct co *co)
{
    struct co *prev = tls_co;
    tls_co = co;
    if (!tls_guarded)       /* once per process, and per thread: the alternate stack */
        tls_guarded = sn_co_guard_install() == 0;
    const struct sn_stack *pguard = sn_stack_guard_set(&co->stack);
#ifdef SN_CO_TSAN
    co->back_fiber = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(co->fiber, 0);
#endif
#ifdef SN_CO_ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(&fake, co->stack.lo, co->stack.size);
#endif
    sn_ctx_switch(&co->back, &co->ctx);
#ifdef SN_CO_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
    sn_stack_guard_set(pguard);
    tls_co = prev;
}

/* From the coroutine back to its poller; returns when polled (or dropped) again.
 * final: the coroutine has finished and this switch is its last. */
static void co_suspend(struct co *co, int final)
{
#ifdef SN_CO_ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(final ? NULL : &fake, co->back_bottom, co->back_size);
#else
    (void)final;
#endif
#ifdef SN_CO_TSAN
    __tsan_switch_to_fiber(co->back_fiber, 0);
#endif
    sn_ctx_switch(&co->ctx, &co->back);
#ifdef SN_CO_ASAN
    __sanitizer_finish_switch_fiber(fake, &co->back_bottom, &co->back_size);
#endif
}

/* The coroutine's first frame (sn_ctx_make's fn). Never returns: the last
 * switch leaves it suspended forever, and its stack is then reused or unmapped. */
static void co_main(void *p)
{
    struct co *co = p;
#ifdef SN_CO_ASAN
    __sanitizer_finish_switch_fiber(NULL, &co->back_bottom, &co->back_size);
#endif
    co->result = co->fn(co->arg);
    co->state = CO_DONE;
    co_suspend(co, 1);
    abort();   /* unreachable: nothing switches to a finished coroutine */
}

/* ---- the future ------------------------------------------------------------------- */

/* The coroutine has finished: its TSan fiber goes (fibers count against TSan's
 * thread limit). */
static void co_fiber_end(struct co *co)
{
#ifdef SN_CO_TSAN
    __tsan_destroy_fiber(co->fiber);
    co->fiber = NULL;
#else
    (void)co;
#endif
}

static int co_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct co *co = (struct co *)f;
    if (co->state == CO_NEW) {
        sn_ctx_make(&co->ctx, co->stack.lo, co->stack.size, co_main, co);
#ifdef SN_CO_TSAN
        co->fiber = __tsan_create_fiber(0);
#endif
        co->state = CO_SUSPENDED;
    }
    if (co->state == CO_SUSPENDED) {
        co->loop = sn_cx_loop(cx);   /* pins the task to this worker */
        co->cx = cx;
        co_resume(co);
        co->cx = NULL;
        if (co->state != CO_DONE)
            return SN_PENDING;
        co_fiber_end(co);
    }
    f->out = co->result;
    return SN_READY;
}

static void co_drop(struct sn_future *f)
{
    struct co *co = (struct co *)f;
    if (co->state == CO_SUSPENDED) {
        /* Started, parked in an await: let it unwind (see the top of the file). */
        co->cancelled = 1;
        co->cx = NULL;
        co_resume(co);
        /* Awaits no longer switch, so the only way back is the end. */
        co_fiber_end(co);
    }
    stack_put(&co->stack, co->fresh);
    atomic_fetch_sub_explicit(&st_live, 1, memory_order_relaxed);
}

static const struct sn_future_vt co_vt = {co_poll, co_drop, "coroutine"};

int sn_co_spawn(struct sn_rt *rt, sn_co_fn fn, void *arg, const struct sn_co_opts *opts, struct sn_task **join)
{
    if (join)
        *join = NULL;
    if (!rt || !fn)
        return -EINVAL;
    struct co c;
    memset(&c, 0, sizeof(c));
    c.base.vt = &co_vt;
    c.fn = fn;
    c.arg = arg;
    c.rt = rt;
    c.fresh = opts && opts->fresh_stack;
    size_t size = opts && opts->stack_size ? opts->stack_size : SN_CO_STACK_DEFAULT;
    int e = stack_get(&c.stack, size, c.fresh);
    if (e < 0)
        return e;
    /* Counted before the task exists: a worker may run and drop it at once. */
    atomic_fetch_add_explicit(&st_live, 1, memory_order_relaxed);
    e = sn_spawn(rt, &c.base, sizeof(c), join);
    if (e < 0) {
        atomic_fetch_sub_explicit(&st_live, 1, memory_order_relaxed);
        stack_put(&c.stack, c.fresh);
        return e;
    }
    atomic_fetch_add_explicit(&st_spawned, 1, memory_order_relaxed);
    return 0;
}

void sn_co_stats(struct sn_co_stats *st)
{
    st->spawned = atomic_load_explicit(&st_spawned, memory_order_relaxed);
    st->live = atomic_load_explicit(&st_live, memory_order_relaxed);
    st->stacks_mapped = atomic_load_explicit(&st_mapped, memory_order_relaxed);
    st->stack_reuses = atomic_load_explicit(&st_reuses, memory_order_relaxed);
}

int sn_co_in(void)
{
    return tls_co != NULL;
}

struct sn_rt *sn_co_rt(void)
{
    return tls_co ? tls_co->rt : NULL;
}

/* A call after cancellation: -ECANCELED, and a bound on how long a coroutine
 * may go on ignoring it (see the top of the file). */
static int64_t cancelled_call(struct co *co)
{
    if (++co->cancel_calls >= CO_CANCEL_LIMIT) {
        static const char msg[] = "sysnet: a cancelled coroutine ignored -ECANCELED 1000 times instead of "
                                  "returning; aborting\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)w;
        abort();
    }
    return -ECANCELED;
}

int64_t sn_co_await(struct sn_future *f)
{
    struct co *co = tls_co;
    if (!co)
        return -EPERM;
    for (;;) {
        if (co->cancelled) {
            sn_drop(f);
            return cancelled_call(co);
        }
        if (sn_poll(f, co->cx) == SN_READY) {
            int64_t v = f->out;
            sn_drop(f);
            return v;
        }
        co_suspend(co, 0);
    }
}

int sn_co_yield(void)
{
    struct co *co = tls_co;
    if (!co)
        return -EPERM;
    if (co->cancelled)
        return (int)cancelled_call(co);
    /* sn_yield's poll without the future: ask to be polled again (after the
     * others: a wake while RUNNING requeues at the back) and switch out. */
    sn_waker_wake_by_ref(&co->cx->waker);
    co_suspend(co, 0);
    return co->cancelled ? (int)cancelled_call(co) : 0;
}

/* ---- I/O: the per-loop fd table --------------------------------------------------- */

/* An fd's registration. users: I/O calls in progress on it (their futures point
 * here); sn_co_close while one is parked — another coroutine closing the fd —
 * takes it out of the table and leaves the freeing to the last user, which wakes
 * with -EBADF (sn_afd_close wakes it). */
struct co_afd {
    struct sn_afd a;
    unsigned users;
    int orphan;
};

struct afd_table {
    struct sn_loop *loop;        /* set once; the key */
    struct co_afd **v;           /* indexed by fd; entries malloc'd (the loop points into them) */
    size_t cap, n;
    struct afd_table *next;
};
static pthread_mutex_t tables_mu = PTHREAD_MUTEX_INITIALIZER;
static struct afd_table *tables;
static _Thread_local struct afd_table *tls_table;   /* the last one this thread used */

static struct afd_table *table_for(struct sn_loop *l, int create)
{
    struct afd_table *t = tls_table;
    if (t && t->loop == l)
        return t;
    pthread_mutex_lock(&tables_mu);
    for (t = tables; t && t->loop != l; t = t->next)
        ;
    if (!t && create && (t = calloc(1, sizeof(*t)))) {
        t->loop = l;
        t->next = tables;
        tables = t;
    }
    pthread_mutex_unlock(&tables_mu);
    if (t)
        tls_table = t;
    return t;
}

static int afd_get(struct co *co, int fd, struct co_afd **out)
{
    if (fd < 0)
        return -EBADF;
    if (!co->loop)
        return -EINVAL;
    struct afd_table *t = table_for(co->loop, 1);
    if (!t)
        return -ENOMEM;
    if ((size_t)fd >= t->cap) {
        size_t cap = t->cap ? t->cap : 64;
        while (cap <= (size_t)fd)
            cap *= 2;
        struct co_afd **v = realloc(t->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        memset(v + t->cap, 0, (cap - t->cap) * sizeof(*v));
        t->v = v;
        t->cap = cap;
    }
    struct co_afd *a = t->v[fd];
    if (!a) {
        if (!(a = malloc(sizeof(*a))))
            return -ENOMEM;
        sn_afd_init(&a->a, fd);
        a->users = 0;
        a->orphan = 0;
        t->v[fd] = a;
        t->n++;
    }
    *out = a;
    return 0;
}

/* Await f, an operation on a's fd. */
static int64_t afd_await(struct co_afd *a, struct sn_future *f)
{
    a->users++;
    int64_t r = sn_co_await(f);
    if (--a->users == 0 && a->orphan)
        free(a);
    return r;
}

/* Common head of the I/O calls: in a coroutine, not cancelled, fd's afd. */
#define CO_IO_ENTER(co, fd, a)                                                           \
    struct co *co = tls_co;                                                              \
    if (!co)                                                                             \
        return -EPERM;                                                                   \
    if (co->cancelled)                                                                   \
        return cancelled_call(co);                                                       \
    struct co_afd *a;                                                                    \
    {                                                                                    \
        int e_ = afd_get(co, fd, &a);                                                    \
        if (e_ < 0)                                                                      \
            return e_;                                                                   \
    }

ssize_t sn_co_read(int fd, void *buf, size_t len)
{
    CO_IO_ENTER(co, fd, a)
    struct sn_read_fut f;
    sn_read_init(&f, &a->a, buf, len);
    return (ssize_t)afd_await(a, &f.base);
}

ssize_t sn_co_write(int fd, const void *buf, size_t len)
{
    CO_IO_ENTER(co, fd, a)
    struct sn_write_fut f;
    sn_write_init(&f, &a->a, buf, len, 1);
    return (ssize_t)afd_await(a, &f.base);
}

int sn_co_accept(int lfd, struct sockaddr *sa, socklen_t *salen)
{
    CO_IO_ENTER(co, lfd, a)
    struct sn_accept_fut f;
    sn_accept_init(&f, &a->a, SOCK_CLOEXEC);
    int fd = (int)afd_await(a, &f.base);
    if (fd >= 0 && sa && salen && getpeername(fd, sa, salen) < 0)
        *salen = 0;   /* the peer is already gone; the fd still reads its EOF/reset */
    return fd;
}

int sn_co_connect(int fd, const struct sockaddr *sa, socklen_t salen)
{
    CO_IO_ENTER(co, fd, a)
    struct sn_connect_fut f;
    sn_connect_init(&f, &a->a, sa, salen);
    return (int)afd_await(a, &f.base);
}

int sn_co_sleep(uint64_t ns)
{
    struct co *co = tls_co;
    if (!co)
        return -EPERM;
    struct sn_sleep_fut f;
    sn_sleep_init(&f, ns);
    return (int)sn_co_await(&f.base);
}

int sn_co_close(int fd)
{
    if (fd < 0)
        return -EBADF;
    struct co *co = tls_co;
    struct afd_table *t = co && co->loop ? table_for(co->loop, 0) : NULL;
    if (t && (size_t)fd < t->cap && t->v[fd]) {
        struct co_afd *a = t->v[fd];
        sn_afd_close(&a->a);
        if (a->users)
            a->orphan = 1;   /* a parked coroutine wakes to -EBADF and frees it */
        else
            free(a);
        t->v[fd] = NULL;
        if (--t->n == 0) {
            free(t->v);
            t->v = NULL;
            t->cap = 0;
        }
    }
    return close(fd) < 0 ? -errno : 0;
}
