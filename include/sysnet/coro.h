/* sysnet/coro.h — layer 6, async: stackful coroutines on the task runtime.
 *
 * A coroutine is a task (task.h) whose future owns a stack: polling the task
 * switches onto that stack (sn_ctx_switch, hand-written assembly for x86-64 and
 * aarch64: callee-saved registers and the stack pointer, nothing else, no
 * syscall — glibc's swapcontext also saves the signal mask with a syscall), and
 * sn_co_await(f) polls f there, switching back to the executor while f is
 * pending. So sequential code parks on the same reactor as futures:
 *
 *   static int64_t conn(void *arg) {
 *       int fd = (int)(intptr_t)arg; char b[4096]; ssize_t n;
 *       while ((n = sn_co_read(fd, b, sizeof b)) > 0)
 *           if (sn_co_write(fd, b, (size_t)n) < 0) break;
 *       sn_co_close(fd);
 *       return 0;
 *   }
 *   sn_co_spawn(rt, conn, (void *)(intptr_t)fd, NULL, NULL);
 *
 * Stacks: mmap'd, rounded up to pages, with a PROT_NONE guard page below; a
 * stack overflow faults on the guard page and sn_co_guard_install()'s SIGSEGV
 * handler (on its own alternate stack) prints "sysnet: coroutine stack overflow
 * ..." with the stack's size and address, then dies with SIGSEGV.
 *
 * Stacks are reused through a small per-thread cache (up to 64 stacks / 4 MiB
 * per thread; sn_co_opts.fresh_stack bypasses it). Size them for the deepest
 * call chain the coroutine makes, libc included (printf wants a few KiB; ASan
 * builds need several times more).
 *
 * Threads: a coroutine is pinned to the worker that first ran it (its stack
 * holds pointers to thread-local data such as errno). Cancellation
 * (sn_task_abort, sn_rt_close) resumes the coroutine: the await it is parked in,
 * and every later await / sn_co_* call, returns -ECANCELED at once, so its own
 * error paths run and release what it holds; the coroutine must then return. A
 * coroutine cancelled before its first run never runs. One that keeps awaiting
 * after 1000 -ECANCELED results is a bug that would hang the cancelling thread:
 * the library prints why and calls abort(). During that last run there is no
 * poll context: blocking system calls block the thread that cancels.
 *
 * File descriptors: sn_co_read/write/accept/connect register an fd with the
 * worker's reactor on first use and keep it registered; close such an fd with
 * sn_co_close, never close(2) alone (a new fd with the same number would
 * inherit a stale registration and never wake). An fd is used from coroutines
 * of one runtime; one reader and one writer coroutine at a time (task.h's
 * sn_afd). The fd table allocates (one small block per fd, once).
 *
 * Sanitizers: switches are annotated for ASan (fake stacks, stack bounds) and
 * TSan (one TSan fiber per running coroutine; TSan limits how many exist).
 *
 * Errors: >= 0 or -errno (base.h); calls that need a coroutine return -EPERM
 * outside one.
 */
#ifndef SYSNET_CORO_H
#define SYSNET_CORO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sysnet/task.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the context switch (usable on its own) ----------------------------- */
struct sn_ctx { void *sp; };
/* Save the current context in from, resume to. Returns when something switches
 * back to from. Saves only what a function call must preserve (x86-64: rbx, rbp,
 * r12-r15, MXCSR control bits and the x87 control word; AArch64: x19-x29, lr,
 * d8-d15) — a few ns, no system call. Not for CET shadow-stack builds. Under
 * ASan/TSan, annotate switches yourself (coroutines do). */
void sn_ctx_switch(struct sn_ctx *from, struct sn_ctx *to);
/* Prepare c to run fn(arg) on the stack [lo, lo + size) the first time it is
 * switched to, with the ABI's stack alignment whatever lo and size are; the
 * frame-pointer chain and the unwind info end there. fn must never return
 * (switch away at its end). */
void sn_ctx_make(struct sn_ctx *c, void *lo, size_t size, void (*fn)(void *), void *arg);

/* ---- stacks -------------------------------------------------------------- */
struct sn_stack {
    void *map;      /* the mapping, guard page first */
    size_t maplen;
    void *lo;       /* usable stack: [lo, lo + size) */
    size_t size;
};
#define SN_CO_STACK_DEFAULT (64u * 1024u)
/* mmap size (rounded up to pages, at least one page) plus a guard page. -ENOMEM. */
int sn_stack_alloc(struct sn_stack *s, size_t size);
void sn_stack_free(struct sn_stack *s);
/* Install the overflow reporter once per process (idempotent, thread-safe) and
 * give the calling thread an alternate signal stack if it has none (unmapped at
 * thread exit). A coroutine's first run on a thread calls it; sn_ctx users call
 * it on each thread that switches stacks. */
int sn_co_guard_install(void);
/* (Added for sn_ctx users; coroutines do it themselves.) Tell the overflow
 * reporter which stack this thread is about to run on — s, or NULL for the
 * thread's own stack — and get the previous value back to restore after
 * switching back. A fault in s's guard page is reported as an overflow. */
const struct sn_stack *sn_stack_guard_set(const struct sn_stack *s);

/* ---- coroutines ----------------------------------------------------------- */
typedef int64_t (*sn_co_fn)(void *arg);
struct sn_co_opts {
    size_t stack_size;   /* 0 = SN_CO_STACK_DEFAULT; rounded up to pages */
    int fresh_stack;     /* (added) 1: always mmap a new stack and unmap it at the
                            end, bypassing the per-thread stack cache */
};
/* Spawn fn(arg) as a coroutine task; its return value is the task's result.
 * join as in sn_spawn. The stack is taken now (from this thread's cache or
 * mmap); the task (sn_spawn) is malloc'd. -EINVAL, -ENOMEM, -ESHUTDOWN. */
int sn_co_spawn(struct sn_rt *rt, sn_co_fn fn, void *arg, const struct sn_co_opts *opts, struct sn_task **join);
/* (Added) Counters, process-wide (relaxed; for tests and benchmarks): coroutines
 * spawned; live (spawned, future not yet dropped: each holds a stack); stack
 * mappings that exist (live ones plus the per-thread caches); spawns served
 * from a cache. */
struct sn_co_stats {
    uint64_t spawned, live, stacks_mapped, stack_reuses;
};
void sn_co_stats(struct sn_co_stats *st);
/* Inside a coroutine? */
int sn_co_in(void);
/* The runtime the current coroutine runs on (NULL outside). */
struct sn_rt *sn_co_rt(void);
/* Poll f until ready, parking the coroutine in between; returns f->out and drops
 * f. -ECANCELED once the task is aborted (f is dropped). -EPERM outside (f is
 * left alone). */
int64_t sn_co_await(struct sn_future *f);
/* Let other tasks run once (0). */
int sn_co_yield(void);

/* Sequential I/O on non-blocking fds, parked on the worker's reactor (readiness:
 * the fd is registered once, edge-triggered, on first use). */
ssize_t sn_co_read(int fd, void *buf, size_t len);          /* one read; 0 at EOF */
ssize_t sn_co_write(int fd, const void *buf, size_t len);   /* all of it, or -errno */
int sn_co_accept(int lfd, struct sockaddr *sa, socklen_t *salen); /* new fd, non-blocking, close-on-exec */
int sn_co_connect(int fd, const struct sockaddr *sa, socklen_t salen);
int sn_co_sleep(uint64_t ns);
/* Forget fd's registration (waking a coroutine parked on it with -EBADF) and
 * close it. Outside a coroutine: close(2) only. 0 or -errno from close. */
int sn_co_close(int fd);

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_CORO_H */
