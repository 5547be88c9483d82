/* tests/unit/test_coro.c — stackful coroutines (include/sysnet/coro.h), bottom-up:
 *
 *   ctx_*     the context switch on this machine: ping-pong and round-robin, every
 *             callee-saved register across switches (the assembly helpers of
 *             tests/cross/ctx_check.c, which tests/cli/test_ctx_aarch64.sh runs for
 *             AArch64 under qemu), MXCSR / x87 control word (x86-64), stack
 *             alignment on entry. Switches are annotated for ASan and TSan here as
 *             coro.c does.
 *   stack_*   sn_stack_alloc's rounding and layout, the PROT_NONE guard page
 *             (/proc/self/maps), the overflow message — in a child process that
 *             overflows a 16 KiB coroutine stack on a current-thread runtime and on
 *             a worker thread, and for a frame that jumps over the guard page —
 *             and that other faults still die as SIGSEGV without it.
 *   co_*      coroutines as tasks: results and joins; the -EPERM calls outside;
 *             many coroutines sleeping and yielding on a current-thread and a
 *             2-worker runtime, each staying on its thread (pinning); awaiting
 *             channel futures and other coroutines' joins; echo over a socketpair
 *             and over 127.0.0.1 TCP with sn_co_read/write/accept/connect;
 *             sn_task_abort of a coroutine parked in a read (its await returns
 *             -ECANCELED, so do later ones, it cleans up, its stack is freed, no
 *             leak); sn_co_close by one coroutine of the fd another is parked on
 *             (-EBADF, no use after free); cancellation before the first run;
 *             sn_rt_close cancelling parked coroutines on two workers; the abort()
 *             of a coroutine that ignores cancellation; 10 000 coroutines on 16 KiB
 *             stacks (1 000 under TSan, whose fibers count against its thread
 *             limit); stack sizes (the mapping a coroutine runs on has the size
 *             asked for); the stack cache.
 * The overflow children need no sanitizer options: our SIGSEGV handler is
 * installed after ASan's / TSan's (at the first coroutine run) and chains to
 * theirs for faults that are not overflows.
 * Nothing depends on timing beyond "a sleep is never early"; loopback only. */
#include "../harness.h"

#include <sysnet/coro.h>
#include <sysnet/task.h>

#define CTX_CHECK_EMBED 1
#include "../cross/ctx_check.c"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fenv.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define T_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define T_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define T_TSAN 1
#endif
#endif
#ifdef T_ASAN
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#endif
#ifdef T_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* ======================================================================
 * Raw contexts, annotated for the sanitizers
 * ====================================================================== */

/* A context plus what ASan and TSan need to know about its stack. The main
 * side (st == NULL) learns its own stack bounds from the first switch back. */
struct fib {
    struct sn_ctx ctx;
    struct sn_stack st;
    void *fake;
    const void *bottom;
    size_t size;
    void *tsan;
};
static struct fib f_main, f_co[3];

static void fib_before(struct fib *from, struct fib *to)
{
#ifdef T_TSAN
    __tsan_switch_to_fiber(to->tsan, 0);
#endif
#ifdef T_ASAN
    __sanitizer_start_switch_fiber(&from->fake, to->st.map ? to->st.lo : to->bottom,
                                   to->st.map ? to->st.size : to->size);
#else
    (void)from;
    (void)to;
#endif
}

/* After a switch landed in `self`; prev is where it came from. */
static void fib_after(struct fib *self, struct fib *prev)
{
#ifdef T_ASAN
    const void *b;
    size_t sz;
    __sanitizer_finish_switch_fiber(self->fake, &b, &sz);
    if (!prev->st.map) {   /* we came from main: remember main's stack */
        prev->bottom = b;
        prev->size = sz;
    }
#else
    (void)self;
    (void)prev;
#endif
}

static void fib_switch(struct fib *from, struct fib *to)
{
    fib_before(from, to);
    sn_ctx_switch(&from->ctx, &to->ctx);
    fib_after(from, to);
}

static int fib_make(struct fib *f, size_t size, void (*fn)(void *), void *arg)
{
    memset(f, 0, sizeof(*f));
    if (sn_stack_alloc(&f->st, size) < 0)
        return -1;
    sn_ctx_make(&f->ctx, f->st.lo, f->st.size, fn, arg);
#ifdef T_TSAN
    f->tsan = __tsan_create_fiber(0);
#endif
    return 0;
}

static void fib_free(struct fib *f)
{
#ifdef T_TSAN
    if (f->tsan)
        __tsan_destroy_fiber(f->tsan);
#endif
    sn_stack_free(&f->st);
    memset(f, 0, sizeof(*f));
}

static void fib_main_init(void)
{
    memset(&f_main, 0, sizeof(f_main));
#ifdef T_TSAN
    f_main.tsan = __tsan_get_current_fiber();
#endif
}

/* First thing on a new context: complete the switch that started it. */
static void fib_enter(struct fib *self)
{
#ifdef T_ASAN
    __sanitizer_finish_switch_fiber(NULL, &f_main.bottom, &f_main.size);
#endif
    (void)self;
}

/* ---- ping-pong ---- */
static long co_turns[3];
static void pp_fn(void *arg)
{
    int i = (int)(intptr_t)arg;
    fib_enter(&f_co[i]);
    for (;;) {
        co_turns[i]++;
        fib_switch(&f_co[i], &f_main);
    }
}

SN_TEST(ctx_pingpong)
{
    fib_main_init();
    for (int i = 0; i < 3; i++) {
        CHECK(fib_make(&f_co[i], 16384, pp_fn, (void *)(intptr_t)i) == 0);
        co_turns[i] = 0;
    }
    long n = 100000;
    for (long k = 0; k < n; k++) {
        fib_switch(&f_main, &f_co[0]);
        if (co_turns[0] != k + 1)
            break;
    }
    CHECK_EQ(co_turns[0], n);
    for (int k = 0; k < 500; k++)
        for (int i = 1; i < 3; i++)
            fib_switch(&f_main, &f_co[i]);
    CHECK_EQ(co_turns[1], 500);
    CHECK_EQ(co_turns[2], 500);
    for (int i = 0; i < 3; i++)
        fib_free(&f_co[i]);
}

/* ---- callee-saved registers: regs_switch (ctx_check.c) on both sides ---- */
static uint64_t rbuf_co[1 + NREGS + 2];
static int regs_bad_co;
static void regs_fn(void *arg)
{
    (void)arg;
    fib_enter(&f_co[0]);
    for (uint64_t k = 0;; k++) {
        rbuf_co[0] = 0xa5a5a5a500000000ull ^ (k * 0x9e3779b97f4a7c15ull);
        fib_before(&f_co[0], &f_main);
        regs_switch(&f_co[0].ctx, &f_main.ctx, rbuf_co);
        fib_after(&f_co[0], &f_main);
        if (!regs_ok(rbuf_co))
            regs_bad_co++;
    }
}

SN_TEST(ctx_callee_saved_registers)
{
    fib_main_init();
    CHECK(fib_make(&f_co[0], 16384, regs_fn, NULL) == 0);
    uint64_t buf[1 + NREGS + 2];
    int bad = 0;
    regs_bad_co = 0;
    for (uint64_t k = 0; k < 5000; k++) {
        buf[0] = 0x3c3c3c3c00000000ull + k * 0x1234567ull;
        fib_before(&f_main, &f_co[0]);
        regs_switch(&f_main.ctx, &f_co[0].ctx, buf);
        fib_after(&f_main, &f_co[0]);
        if (!regs_ok(buf))
            bad++;
    }
    fib_free(&f_co[0]);
    CHECK_EQ(bad, 0);
    CHECK_EQ(regs_bad_co, 0);
}

/* ---- 16-byte stack alignment at entry (align_probe records sp) ---- */
static uintptr_t probe_sp;
void align_entry(void *arg)
{
    (void)arg;
    fib_enter(&f_co[0]);
    probe_sp = entry_sp;
    for (;;)
        fib_switch(&f_co[0], &f_main);
}

SN_TEST(ctx_entry_alignment)
{
    fib_main_init();
    CHECK(fib_make(&f_co[0], 16384, align_entry, NULL) == 0);
    for (size_t off = 0; off < 16; off += 5) {
        for (size_t cut = 0; cut < 16; cut += 7) {
            void *lo = (char *)f_co[0].st.lo + off;
            size_t size = f_co[0].st.size - off - cut;
            sn_ctx_make(&f_co[0].ctx, lo, size, align_probe, NULL);
            probe_sp = 0;
            fib_switch(&f_main, &f_co[0]);
#if defined(__x86_64__)
            CHECK_EQ(probe_sp % 16, 8);   /* like a function entered by call from an aligned rsp */
#else
            CHECK_EQ(probe_sp % 16, 0);
#endif
            CHECK(probe_sp < (uintptr_t)lo + size && probe_sp > (uintptr_t)lo + size - 128);
        }
    }
    fib_free(&f_co[0]);   /* (the re-made contexts shared one TSan fiber: one ran at a time) */
}

#if defined(__x86_64__)
/* ---- MXCSR and x87 control word are per context ---- */
static int fp_bad_co;
static void fp_fn(void *arg)
{
    (void)arg;
    fib_enter(&f_co[0]);
    fesetround(FE_TOWARDZERO);
    for (;;) {
        fib_switch(&f_co[0], &f_main);
        if (fegetround() != FE_TOWARDZERO)
            fp_bad_co++;
    }
}

SN_TEST(ctx_fp_control_preserved)
{
    fib_main_init();
    int saved = fegetround();
    fesetround(FE_UPWARD);
    CHECK(fib_make(&f_co[0], 16384, fp_fn, NULL) == 0);
    int bad = 0;
    fp_bad_co = 0;
    for (int k = 0; k < 200; k++) {
        fib_switch(&f_main, &f_co[0]);
        if (fegetround() != FE_UPWARD)
            bad++;
    }
    fesetround(saved);
    fib_free(&f_co[0]);
    CHECK_EQ(bad, 0);
    CHECK_EQ(fp_bad_co, 0);
}
#endif

/* ======================================================================
 * Stacks
 * ====================================================================== */

/* The permissions of the mapping that contains [a, b) exactly, from /proc/self/maps;
 * "" if there is none. */
static void map_perm(uintptr_t a, uintptr_t b, char perm[8])
{
    perm[0] = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        unsigned long x, y;
        char p[8];
        if (sscanf(line, "%lx-%lx %7s", &x, &y, p) == 3 && x <= a && y >= b) {
            snprintf(perm, 8, "%s", p);
            break;
        }
    }
    if (f)
        fclose(f);
}

SN_TEST(stack_alloc_layout_and_guard)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    static const size_t sizes[] = {0, 1, 4096, 4097, 10000, 65536, 1 << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct sn_stack s;
        CHECK_EQ(sn_stack_alloc(&s, sizes[i]), 0);
        size_t want = sizes[i] ? (sizes[i] + pg - 1) / pg * pg : pg;
        CHECK_EQ(s.size, want);
        CHECK_EQ(s.maplen, want + pg);
        CHECK((char *)s.lo == (char *)s.map + pg);
        CHECK_EQ((uintptr_t)s.lo % pg, 0);
        char perm[8];
        map_perm((uintptr_t)s.map, (uintptr_t)s.lo, perm);
        CHECK_STR(perm, "---p");                 /* the guard page */
        map_perm((uintptr_t)s.lo, (uintptr_t)s.lo + s.size, perm);
        CHECK_STR(perm, "rw-p");
        memset(s.lo, 0x5a, s.size);              /* all of it usable */
        sn_stack_free(&s);
        CHECK(s.map == NULL && s.lo == NULL && s.size == 0);
        sn_stack_free(&s);                       /* harmless twice */
    }
    struct sn_stack s;
    CHECK_EQ(sn_stack_alloc(&s, SIZE_MAX - 100), -ENOMEM);
    CHECK(s.map == NULL);
}

/* ---- the overflow message, in a child ----
 * fork(): the child runs a coroutine that recurses without end on a 16 KiB stack
 * (mode 0: current-thread runtime; mode 1: on a worker of a 2-worker runtime;
 * mode 2: a plain NULL dereference in a coroutine, which must NOT be reported as
 * an overflow). The parent reads the child's stderr and how it died. Under ASan
 * and TSan the sanitizer installed its SIGSEGV handler first; ours is installed
 * later (at the first coroutine run) and chains to it for faults that are not
 * ours, so the child's stderr is ours for an overflow and the sanitizer's
 * "SEGV on unknown address" for the NULL. */
static volatile int boom_stop = 1 << 30;
static int64_t t_boom(int n)
{
    volatile char pad[256];
    pad[n & 255] = (char)n;
    if (n >= boom_stop)
        return 0;
    return t_boom(n + 1) + pad[n & 255];
}

static volatile uintptr_t bad_addr = 16;   /* not NULL: UBSan would report a NULL load itself */
static int64_t overflow_co(void *arg)
{
    if ((intptr_t)arg == 2)
        return *(volatile int *)bad_addr;
    return t_boom(0);
}

static int64_t join_on(struct sn_rt *rt, struct sn_task *t)
{
    struct sn_join j;
    sn_join_init(&j, t);
    int64_t r = sn_rt_block_on(rt, &j.base);
    sn_drop(&j.base);
    return r;
}

/* Run child(arg) in a forked child whose stderr goes to a pipe (it ends with
 * _exit(5) if child returns); returns its wait status (-1 if there is none) and
 * its stderr, NUL-terminated, in out. */
static int run_child(void (*child)(int), int arg, char *out, size_t cap)
{
    int p[2];
    if (pipe(p) < 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        child(arg);
        _exit(5);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = read(p[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(p[0]);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return status;
}

/* The child of the overflow tests: overflow_co(mode) on a 16 KiB stack. */
static void overflow_child_main(int mode)
{
    struct sn_rt *rt;
    struct sn_rt_opts o = {.workers = mode == 1 ? 2u : 0u};
    if (sn_rt_open(&rt, &o) < 0)
        _exit(3);
    struct sn_co_opts co = {.stack_size = 16384};
    struct sn_task *t;
    if (sn_co_spawn(rt, overflow_co, (void *)(intptr_t)mode, &co, &t) < 0)
        _exit(4);
    join_on(rt, t);
}

static int overflow_child(int mode, char *out, size_t cap)
{
    return run_child(overflow_child_main, mode, out, cap);
}

SN_TEST(stack_overflow_reported_current_thread)
{
    char out[4096];
    int st = overflow_child(0, out, sizeof out);
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV))
        printf("  child status %#x, stderr: %.600s\n", st, out);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    CHECK(strstr(out, "sysnet: coroutine stack overflow (stack of 16384 bytes at 0x") != NULL);
    CHECK(strstr(out, "; fault at 0x") != NULL);
    CHECK(strstr(out, "): raise --stack-size or use less stack\n") != NULL);
}

SN_TEST(stack_overflow_reported_on_worker)
{
    char out[4096];
    int st = overflow_child(1, out, sizeof out);
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV))
        printf("  child status %#x, stderr: %.600s\n", st, out);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    CHECK(strstr(out, "sysnet: coroutine stack overflow (stack of 16384 bytes at 0x") != NULL);
}

SN_TEST(stack_other_faults_not_reported)
{
    char out[4096];
    int st = overflow_child(2, out, sizeof out);
    CHECK(strstr(out, "coroutine stack overflow") == NULL);
#if defined(T_ASAN) || defined(T_TSAN)
    /* The sanitizer's own handler got it (we chained) and exits with its code. */
    CHECK(strstr(out, "SEGV") != NULL);
    CHECK(WIFEXITED(st) || (WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV));
#else
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
#endif
}

/* A frame bigger than the guard page jumps over it (compilers probe big frames
 * page by page only with -fstack-clash-protection, which Debian's gcc does not
 * turn on): the fault lands below the guard page, but the stack pointer has left
 * the stack, and that is reported as an overflow too. To make sure the jump hits
 * unmapped memory and not a neighbouring mapping, the child builds the stack by
 * hand inside a PROT_NONE moat and runs it with sn_ctx + sn_stack_guard_set. */
static volatile size_t bigframe_size;
static void bigframe_fn(void *arg)
{
    (void)arg;
    fib_enter(&f_co[0]);
    volatile char *p = __builtin_alloca(bigframe_size);
    p[0] = 1;   /* 16 KiB under the bottom of the stack, in the moat */
    for (;;)
        fib_switch(&f_co[0], &f_main);
}

static void bigframe_child_main(int unused)
{
    (void)unused;
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), size = 65536, moat = 1u << 20;
    char *r = mmap(NULL, moat + pg + size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED || mprotect(r + moat + pg, size, PROT_READ | PROT_WRITE) < 0)
        _exit(3);
    fib_main_init();
    memset(&f_co[0], 0, sizeof(f_co[0]));
    f_co[0].st.map = r + moat;
    f_co[0].st.maplen = pg + size;
    f_co[0].st.lo = r + moat + pg;
    f_co[0].st.size = size;
    sn_ctx_make(&f_co[0].ctx, f_co[0].st.lo, size, bigframe_fn, NULL);
#ifdef T_TSAN
    f_co[0].tsan = __tsan_create_fiber(0);
#endif
    bigframe_size = size + 16384;
    if (sn_co_guard_install() < 0)
        _exit(4);
    sn_stack_guard_set(&f_co[0].st);
    fib_switch(&f_main, &f_co[0]);
}

SN_TEST(stack_overflow_big_frame_reported)
{
    char out[4096];
    int st = run_child(bigframe_child_main, 0, out, sizeof out);
    CHECK(st != -1);
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV))
        printf("  child status %#x, stderr: %.600s\n", st, out);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    CHECK(strstr(out, "sysnet: coroutine stack overflow (stack of 65536 bytes at 0x") != NULL);
}

/* ======================================================================
 * Coroutines
 * ====================================================================== */

/* Checks inside coroutines: the first failure is kept, the coroutine returns -1. */
static _Atomic int co_fails;
static char co_msg[256];
#define CO_CHECK(cond)                                                                   \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            if (atomic_fetch_add(&co_fails, 1) == 0)                                     \
                snprintf(co_msg, sizeof co_msg, "%s:%d: CO_CHECK(%s)", __FILE__, __LINE__, \
                         #cond);                                                         \
            return -1;                                                                   \
        }                                                                                \
    } while (0)
#define CHECK_CO_OK()                                                                    \
    do {                                                                                 \
        if (atomic_load(&co_fails)) {                                                    \
            sn_test_fail(__FILE__, __LINE__, co_msg);                                    \
            atomic_store(&co_fails, 0);                                                  \
            return;                                                                      \
        }                                                                                \
    } while (0)

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct sn_co_stats stats(void)
{
    struct sn_co_stats s;
    sn_co_stats(&s);
    return s;
}

/* ---- basics ---- */
static struct sn_rt *basic_rt;
static int64_t basic_co(void *arg)
{
    CO_CHECK(sn_co_in());
    CO_CHECK(sn_co_rt() == basic_rt);
    CO_CHECK(sn_co_yield() == 0);
    return (int64_t)(intptr_t)arg * 2;
}

SN_TEST(co_result_and_join_current_thread)
{
    struct sn_co_stats s0 = stats();
    CHECK(!sn_co_in());
    CHECK(sn_co_rt() == NULL);
    CHECK_EQ(sn_co_yield(), -EPERM);
    CHECK_EQ(sn_co_sleep(1), -EPERM);
    char b[4];
    CHECK_EQ(sn_co_read(0, b, 1), -EPERM);
    CHECK_EQ(sn_co_write(1, b, 1), -EPERM);
    CHECK_EQ(sn_co_accept(0, NULL, NULL), -EPERM);
    struct sn_yield y;
    sn_yield_init(&y);
    CHECK_EQ(sn_co_await(&y.base), -EPERM);
    CHECK_EQ(sn_co_spawn(NULL, basic_co, NULL, NULL, NULL), -EINVAL);

    struct sn_rt *rt;
    CHECK_EQ(sn_rt_open(&rt, NULL), 0);
    basic_rt = rt;
    struct sn_task *t;
    CHECK_EQ(sn_co_spawn(rt, basic_co, (void *)21, NULL, &t), 0);
    CHECK_EQ(join_on(rt, t), 42);
    CHECK_CO_OK();
    CHECK_EQ(sn_rt_close(rt), 0);
    struct sn_co_stats s1 = stats();
    CHECK_EQ(s1.spawned - s0.spawned, 1);
    CHECK_EQ(s1.live, s0.live);
}

/* ---- sleeping and yielding, many at once ---- */
struct sy_arg {
    int i;
    _Atomic int *done;
};
static int64_t sleep_yield_co(void *p)
{
    struct sy_arg *a = p;
    pthread_t self = pthread_self();
    int *eaddr = &errno;
    for (int k = 0; k < 4; k++) {
        uint64_t ns = (uint64_t)((a->i + k) % 5) * 300000u;   /* 0 .. 1.2 ms */
        uint64_t t0 = now_ns();
        CO_CHECK(sn_co_sleep(ns) == 0);
        CO_CHECK(now_ns() - t0 >= ns);                         /* never early */
        CO_CHECK(sn_co_yield() == 0);
        /* Pinned: always resumed on the thread it started on. */
        CO_CHECK(pthread_equal(self, pthread_self()));
        CO_CHECK(eaddr == &errno);
    }
    atomic_fetch_add(a->done, 1);
    return a->i;
}

static void sleep_yield_on(unsigned workers, int n)
{
    struct sn_rt *rt;
    struct sn_rt_opts o = {.workers = workers};
    CHECK_EQ(sn_rt_open(&rt, &o), 0);
    struct sy_arg *args = calloc((size_t)n, sizeof(*args));
    struct sn_task **ts = calloc((size_t)n, sizeof(*ts));
    CHECK(args && ts);
    _Atomic int done = 0;
    for (int i = 0; i < n; i++) {
        args[i].i = i;
        args[i].done = &done;
        struct sn_co_opts co = {.stack_size = 32768};
        CHECK_EQ(sn_co_spawn(rt, sleep_yield_co, &args[i], &co, &ts[i]), 0);
    }
    int64_t sum = 0;
    for (int i = 0; i < n; i++)
        sum += join_on(rt, ts[i]);
    CHECK_EQ(sum, (int64_t)n * (n - 1) / 2);
    CHECK_EQ(atomic_load(&done), n);
    CHECK_CO_OK();
    CHECK_EQ(sn_rt_close(rt), 0);
    free(args);
    free(ts);
}

SN_TEST(co_sleep_yield_current_thread)
{
    sleep_yield_on(0, 200);
}

SN_TEST(co_sleep_yield_two_workers)
{
    sleep_yield_on(2, 200);
}

/* ---- awaiting channels and other coroutines ---- */
struct chan_arg {
    struct sn_mpsc *q;
    struct sn_oneshot *os;
    int n;
};
static int64_t producer_co(void *p)
{
    struct chan_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        struct sn_mpsc_send s;
        int64_t v = i;
        sn_mpsc_send_init(&s, a->q, &v);
        CO_CHECK(sn_co_await(&s.base) == 0);
        if (i % 7 == 0)
            sn_co_yield();
    }
    sn_mpsc_sender_release(a->q);
    /* Then wait for the consumer's total on the oneshot. */
    struct sn_oneshot_recv r;
    sn_oneshot_recv_init(&r, a->os);
    return sn_co_await(&r.base);
}

static int64_t consumer_co(void *p)
{
    struct chan_arg *a = p;
    int64_t sum = 0, v, r;
    int got = 0;
    for (;;) {
        struct sn_mpsc_recv rv;
        sn_mpsc_recv_init(&rv, a->q, &v);
        if ((r = sn_co_await(&rv.base)) < 0)
            break;
        CO_CHECK(v == got);   /* one producer: in order */
        got++;
        sum += v;
    }
    CO_CHECK(r == -EPIPE);
    CO_CHECK(got == a->n);
    sn_mpsc_receiver_release(a->q);
    CO_CHECK(sn_oneshot_send(a->os, sum, NULL) == 0);
    return sum;
}

/* A coroutine awaiting other coroutines' join handles. */
static int64_t parent_co(void *p)
{
    struct chan_arg *a = p;
    struct sn_task *tp, *tc;
    CO_CHECK(sn_co_spawn(sn_co_rt(), producer_co, a, NULL, &tp) == 0);
    CO_CHECK(sn_co_spawn(sn_co_rt(), consumer_co, a, NULL, &tc) == 0);
    struct sn_join jc, jp;
    sn_join_init(&jc, tc);
    int64_t c = sn_co_await(&jc.base);      /* drops (releases) the join */
    sn_join_init(&jp, tp);
    int64_t pr = sn_co_await(&jp.base);
    CO_CHECK(c == pr);
    return c;
}

static void channels_on(unsigned workers)
{
    struct sn_rt *rt;
    struct sn_rt_opts o = {.workers = workers};
    CHECK_EQ(sn_rt_open(&rt, &o), 0);
    struct chan_arg a = {.n = 500};
    CHECK_EQ(sn_mpsc_new(&a.q, 4, sizeof(int64_t)), 0);   /* small: backpressure */
    CHECK_EQ(sn_oneshot_new(&a.os), 0);
    struct sn_task *t;
    CHECK_EQ(sn_co_spawn(rt, parent_co, &a, NULL, &t), 0);
    CHECK_EQ(join_on(rt, t), 499 * 500 / 2);
    CHECK_CO_OK();
    CHECK_EQ(sn_rt_close(rt), 0);
}

SN_TEST(co_await_channels_and_joins_current_thread)
{
    channels_on(0);
}

SN_TEST(co_await_channels_and_joins_two_workers)
{
    channels_on(2);
}

/* ---- echo over a socketpair ---- */
#define ECHO_BYTES (1u << 20)
static int64_t echo_server_co(void *p)
{
    int fd = (int)(intptr_t)p;
    char b[4096];
    ssize_t n;
    int64_t total = 0;
    while ((n = sn_co_read(fd, b, sizeof b)) > 0) {
        CO_CHECK(sn_co_write(fd, b, (size_t)n) == n);
        total += n;
    }
    CO_CHECK(n == 0);
    CO_CHECK(sn_co_close(fd) == 0);
    return total;
}

/* Writes ECHO_BYTES in uneven chunks, reading back as it goes (from a second
 * coroutine, so neither side blocks the other when buffers fill). */
struct echo_cl {
    int fd;
    _Atomic int64_t got;
    int bad;
};
static int64_t echo_reader_co(void *p)
{
    struct echo_cl *c = p;
    char b[8192];
    int64_t got = 0;
    while (got < ECHO_BYTES) {
        ssize_t n = sn_co_read(c->fd, b, sizeof b);
        CO_CHECK(n > 0);
        for (ssize_t i = 0; i < n; i++)
            if ((unsigned char)b[i] != (unsigned char)((got + i) * 7))
                c->bad++;
        got += n;
    }
    atomic_store(&c->got, got);
    return got;
}

static int64_t echo_client_co(void *p)
{
    struct echo_cl *c = p;
    struct sn_task *rd;
    CO_CHECK(sn_co_spawn(sn_co_rt(), echo_reader_co, c, NULL, &rd) == 0);
    static unsigned char buf[ECHO_BYTES];
    for (size_t i = 0; i < ECHO_BYTES; i++)
        buf[i] = (unsigned char)(i * 7);
    size_t off = 0, step = 1;
    while (off < ECHO_BYTES) {
        size_t len = step < ECHO_BYTES - off ? step : ECHO_BYTES - off;
        CO_CHECK(sn_co_write(c->fd, buf + off, len) == (ssize_t)len);
        off += len;
        step = step * 3 + 1;
        if (step > 100000)
            step = 1;
    }
    struct sn_join j;
    sn_join_init(&j, rd);
    CO_CHECK(sn_co_await(&j.base) == ECHO_BYTES);
    CO_CHECK(shutdown(c->fd, SHUT_WR) == 0);
    char x;
    CO_CHECK(sn_co_read(c->fd, &x, 1) == 0);   /* the server saw EOF and closed */
    CO_CHECK(sn_co_close(c->fd) == 0);
    return 0;
}

SN_TEST(co_echo_socketpair)
{
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    struct sn_rt *rt;
    CHECK_EQ(sn_rt_open(&rt, NULL), 0);
    struct echo_cl c = {.fd = sv[1]};
    struct sn_task *ts, *tc;
    CHECK_EQ(sn_co_spawn(rt, echo_server_co, (void *)(intptr_t)sv[0], NULL, &ts), 0);
    CHECK_EQ(sn_co_spawn(rt, echo_client_co, &c, NULL, &tc), 0);
    CHECK_EQ(join_on(rt, tc), 0);
    CHECK_EQ(join_on(rt, ts), ECHO_BYTES);
    CHECK_CO_OK();
    CHECK_EQ(atomic_load(&c.got), ECHO_BYTES);
    CHECK_EQ(c.bad, 0);
    CHECK_EQ(sn_rt_close(rt), 0);
}

/* ---- echo over 127.0.0.1 TCP, two workers ---- */
#define TCP_CLIENTS 16
#define TCP_BYTES 65536
struct tcp_srv {
    int lfd;
    int n;
    _Atomic int served;
};

struct conn_arg {
    struct tcp_srv *s;
    int fd;
};
static int64_t tcp_echo_co(void *p)
{
    struct conn_arg *c = p;
    int fd = c->fd;
    struct tcp_srv *s = c->s;
    free(c);
    char b[4096];
    ssize_t n;
    while ((n = sn_co_read(fd, b, sizeof b)) > 0)
        if (sn_co_write(fd, b, (size_t)n) < 0)
            break;
    sn_co_close(fd);
    atomic_fetch_add(&s->served, 1);
    return 0;
}

static int64_t tcp_acceptor_co(void *p)
{
    struct tcp_srv *s = p;
    for (int i = 0; i < s->n; i++) {
        struct sockaddr_in peer;
        socklen_t plen = sizeof peer;
        int fd = sn_co_accept(s->lfd, (struct sockaddr *)&peer, &plen);
        CO_CHECK(fd >= 0);
        CO_CHECK(plen == sizeof peer && peer.sin_family == AF_INET &&
                 peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
        struct conn_arg *c = malloc(sizeof *c);
        CO_CHECK(c != NULL);
        c->s = s;
        c->fd = fd;
        CO_CHECK(sn_co_spawn(sn_co_rt(), tcp_echo_co, c, NULL, NULL) == 0);
    }
    CO_CHECK(sn_co_close(s->lfd) == 0);
    return s->n;
}

struct tcp_cl {
    struct sockaddr_in addr;
    int id;
};
static int64_t tcp_client_co(void *p)
{
    struct tcp_cl *c = p;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CO_CHECK(fd >= 0);
    CO_CHECK(sn_co_connect(fd, (struct sockaddr *)&c->addr, sizeof c->addr) == 0);
    unsigned char *out = malloc(TCP_BYTES), *in = malloc(TCP_BYTES);
    CO_CHECK(out && in);
    for (int i = 0; i < TCP_BYTES; i++)
        out[i] = (unsigned char)(i * 13 + c->id);
    /* Write and read in slices small enough for the socket buffers, so one
     * coroutine can do both without deadlocking against the echo. */
    size_t done = 0;
    while (done < TCP_BYTES) {
        size_t len = TCP_BYTES - done < 8192 ? TCP_BYTES - done : 8192;
        CO_CHECK(sn_co_write(fd, out + done, len) == (ssize_t)len);
        size_t got = 0;
        while (got < len) {
            ssize_t n = sn_co_read(fd, in + done + got, len - got);
            CO_CHECK(n > 0);
            got += (size_t)n;
        }
        done += len;
    }
    int same = memcmp(in, out, TCP_BYTES) == 0;
    free(out);
    free(in);
    CO_CHECK(same);
    CO_CHECK(sn_co_close(fd) == 0);
    return TCP_BYTES;
}

SN_TEST(co_echo_tcp_two_workers)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CHECK(lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ(listen(lfd, 64), 0);
    socklen_t alen = sizeof a;
    CHECK_EQ(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);

    struct sn_rt *rt;
    struct sn_rt_opts o = {.workers = 2};
    CHECK_EQ(sn_rt_open(&rt, &o), 0);
    struct tcp_srv s = {.lfd = lfd, .n = TCP_CLIENTS};
    struct sn_task *ta, *tc[TCP_CLIENTS];
    struct tcp_cl cl[TCP_CLIENTS];
    CHECK_EQ(sn_co_spawn(rt, tcp_acceptor_co, &s, NULL, &ta), 0);
    for (int i = 0; i < TCP_CLIENTS; i++) {
        cl[i].addr = a;
        cl[i].id = i;
        CHECK_EQ(sn_co_spawn(rt, tcp_client_co, &cl[i], NULL, &tc[i]), 0);
    }
    int64_t total = 0;
    for (int i = 0; i < TCP_CLIENTS; i++)
        total += join_on(rt, tc[i]);
    CHECK_EQ(join_on(rt, ta), TCP_CLIENTS);
    CHECK_CO_OK();
    CHECK_EQ(total, (int64_t)TCP_CLIENTS * TCP_BYTES);
    /* The echo coroutines finish when they read the clients' EOF. */
    for (int i = 0; i < 2000 && atomic_load(&s.served) < TCP_CLIENTS; i++) {
        struct sn_sleep_fut sl;
        sn_sleep_init(&sl, 1000000);
        sn_rt_block_on(rt, &sl.base);
        sn_drop(&sl.base);
    }
    CHECK_EQ(atomic_load(&s.served), TCP_CLIENTS);
    CHECK_EQ(sn_rt_close(rt), 0);
}

/* ---- cancellation ---- */
struct park {
    int fd;
    _Atomic int parked;
    int64_t read_ret, sleep_ret, yield_ret, close_ret;
    _Atomic int cleaned;
};
static int64_t parked_reader_co(void *p)
{
    struct park *k = p;
    char *mem = malloc(1000);   /* released on the error path: the leak check sees it */
    char b[16];
    atomic_store(&k->parked, 1);
    k->read_ret = sn_co_read(k->fd, b, sizeof b);   /* nothing ever comes */
    k->sleep_ret = sn_co_sleep(1);                  /* cancelled: at once */
    k->yield_ret = sn_co_yield();
    k->close_ret = sn_co_close(k->fd);
    free(mem);
    atomic_store(&k->cleaned, 1);
    return 7;   /* ignored: the task's result is -ECANCELED */
}

SN_TEST(co_abort_parked_in_read)
{
    struct sn_co_stats s0 = stats();
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    struct sn_rt *rt;
    CHECK_EQ(sn_rt_open(&rt, NULL), 0);
    struct park k = {.fd = sv[0]};
    struct sn_task *t;
    CHECK_EQ(sn_co_spawn(rt, parked_reader_co, &k, NULL, &t), 0);
    struct sn_yield y;   /* one turn of the runtime: the coroutine runs and parks */
    sn_yield_init(&y);
    sn_rt_block_on(rt, &y.base);
    CHECK_EQ(atomic_load(&k.parked), 1);
    CHECK_EQ(atomic_load(&k.cleaned), 0);
    CHECK_EQ(stats().live, s0.live + 1);
    CHECK_EQ(sn_task_abort(t), 0);
    CHECK_EQ(join_on(rt, t), -ECANCELED);
    CHECK_EQ(atomic_load(&k.cleaned), 1);
    CHECK_EQ(k.read_ret, -ECANCELED);
    CHECK_EQ(k.sleep_ret, -ECANCELED);
    CHECK_EQ(k.yield_ret, -ECANCELED);
    CHECK_EQ(k.close_ret, 0);
    CHECK_EQ(stats().live, s0.live);    /* the stack is released */
    CHECK_EQ(sn_rt_close(rt), 0);       /* 0: the fd's registration is gone too */
    CHECK(fcntl(sv[0], F_GETFD) < 0);   /* sn_co_close closed it */
    close(sv[1]);
#ifdef T_ASAN
    CHECK_EQ(__lsan_do_recoverable_leak_check(), 0);
#endif
}

/* One coroutine closes (sn_co_close) the fd another is parked reading: the
 * reader wakes with -EBADF, and the registration it still points to is freed
 * only after it has let go (ASan would see a use after free otherwise). */
struct closer {
    int fd;
    _Atomic int parked;
    int64_t read_ret;
};
static int64_t closed_reader_co(void *p)
{
    struct closer *c = p;
    char b[8];
    atomic_store(&c->parked, 1);
    c->read_ret = sn_co_read(c->fd, b, sizeof b);
    return 0;
}

static int64_t closer_co(void *p)
{
    struct closer *c = p;
    while (!atomic_load(&c->parked))
        CO_CHECK(sn_co_yield() == 0);
    CO_CHECK(sn_co_yield() == 0);   /* the reader is inside its await now */
    CO_CHECK(sn_co_close(c->fd) == 0);
    return 0;
}

SN_TEST(co_close_wakes_parked_reader)
{
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    struct sn_rt *rt;
    CHECK_EQ(sn_rt_open(&rt, NULL), 0);
    struct closer c = {.fd = sv[0], .read_ret = 1};
    struct sn_task *tr, *tc;
    CHECK_EQ(sn_co_spawn(rt, closed_reader_co, &c, NULL, &tr), 0);
    CHECK_EQ(sn_co_spawn(rt, closer_co, &c, NULL, &tc), 0);
    CHECK_EQ(join_on(rt, tc), 0);
    CHECK_EQ(join_on(rt, tr), 0);
    CHECK_CO_OK();
    CHECK_EQ(c.read_ret, -EBADF);
    CHECK_EQ(sn_rt_close(rt), 0);
    close(sv[1]);
}

static _Atomic int never_ran;
static int64_t never_co(void *p)
{
    (void)p;
    atomic_store(&never_ran, 1);
    return 0;
}

SN_TEST(co_abort_before_first_run)
{
    struct sn_co_stats s0 = stats();
    struct sn_rt *rt;
    CHECK_EQ(sn_rt_open(&rt, NULL), 0);
    struct sn_task *t;
    CHECK_EQ(sn_co_spawn(rt, never_co, NULL, NULL, &t), 0);
    CHECK_EQ(sn_task_abort(t), 0);
    CHECK_EQ(join_on(rt, t), -ECANCELED);
    CHECK_EQ(atomic_load(&never_ran), 0);
    CHECK_EQ(stats().live, s0.live);
    CHECK_EQ(sn_rt_close(rt), 0);
}

/* sn_rt_close with coroutines parked in reads and sleeps on two workers: each is
 * resumed with -ECANCELED, cleans up (closing its fd: the loops then close with
 * nothing registered), and its stack is released. */
static _Atomic int close_parked, close_cleaned;
static int64_t close_victim_co(void *p)
{
    int fd = (int)(intptr_t)p;
    char *mem = malloc(100);
    char b[8];
    atomic_fetch_add(&close_parked, 1);
    ssize_t r = fd >= 0 ? sn_co_read(fd, b, sizeof b) : sn_co_sleep(60ull * 1000000000ull);
    if (r == -ECANCELED) {
        if (fd >= 0)
            sn_co_close(fd);
        atomic_fetch_add(&close_cleaned, 1);
    }
    free(mem);
    return 0;
}

SN_TEST(co_rt_close_cancels_parked)
{
    struct sn_co_stats s0 = stats();
    atomic_store(&close_parked, 0);
    atomic_store(&close_cleaned, 0);
    struct sn_rt *rt;
    struct sn_rt_opts o = {.workers = 2};
    CHECK_EQ(sn_rt_open(&rt, &o), 0);
    enum { N = 16 };
    int peers[N];
    for (int i = 0; i < N; i++) {
        int sv[2] = {-1, -1};
        if (i % 2 == 0)
            CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        peers[i] = sv[1];
        CHECK_EQ(sn_co_spawn(rt, close_victim_co, (void *)(intptr_t)sv[0], NULL, NULL), 0);
    }
    for (int i = 0; i < 5000 && atomic_load(&close_parked) < N; i++)
        usleep(1000);
    CHECK_EQ(atomic_load(&close_parked), N);
    usleep(5000);   /* let the last ones reach their await (not needed for correctness) */
    CHECK_EQ(sn_rt_close(rt), 0);
    CHECK_EQ(atomic_load(&close_cleaned), N);
    CHECK_EQ(stats().live, s0.live);
    for (int i = 0; i < N; i++)
        if (peers[i] >= 0)
            close(peers[i]);
#ifdef T_ASAN
    CHECK_EQ(__lsan_do_recoverable_leak_check(), 0);
#endif
}

/* A coroutine that keeps awaiting after cancellation: abort() with a message,
 * in a child. */
static int64_t stubborn_co(void *p)
{
    (void)p;
    for (;;)
        sn_co_sleep(1000000000ull);   /* ignores -ECANCELED */
    return 0;
}

static void stubborn_child_main(int unused)
{
    (void)unused;
    struct sn_rt *rt;
    if (sn_rt_open(&rt, NULL) < 0)
        _exit(3);
    struct sn_task *t;
    if (sn_co_spawn(rt, stubborn_co, NULL, NULL, &t) < 0)
        _exit(4);
    struct sn_yield y;
    sn_yield_init(&y);
    sn_rt_block_on(rt, &y.base);
    sn_task_abort(t);
    join_on(rt, t);
}

SN_TEST(co_ignoring_cancellation_aborts)
{
    char out[2048];
    int st = run_child(stubborn_child_main, 0, out, sizeof out);
    CHECK(st != -1);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    CHECK(strstr(out, "sysnet: a cancelled coroutine ignored -ECANCELED 1000 times") != NULL);
}

/* ---- many coroutines on small stacks ---- */
#ifdef T_TSAN
#define MANY 1000   /* TSan: each running coroutine is a TSan fiber, and those are limited */
#else
#define MANY 10000
#endif
static _Atomic long many_done;
static int64_t many_co(void *p)
{
    intptr_t i = (intptr_t)p;
    char local[512];
    memset(local, (int)i, sizeof local);
    CO_CHECK(sn_co_yield() == 0);
    CO_CHECK(sn_co_sleep((uint64_t)(i % 3) * 100000u) == 0);
    CO_CHECK(sn_co_yield() == 0);
    CO_CHECK(local[i % 512] == (char)i);
    atomic_fetch_add(&many_done, 1);
    return i;
}

static int64_t many_parent_co(void *p)
{
    (void)p;
    struct sn_task **ts = calloc(MANY, sizeof(*ts));
    CO_CHECK(ts != NULL);
    struct sn_co_opts o = {.stack_size = 16384};
    for (intptr_t i = 0; i < MANY; i++)
        CO_CHECK(sn_co_spawn(sn_co_rt(), many_co, (void *)i, &o, &ts[i]) == 0);
    int64_t sum = 0;
    for (int i = 0; i < MANY; i++) {
        struct sn_join j;
        sn_join_init(&j, ts[i]);
        sum += sn_co_await(&j.base);
    }
    free(ts);
    return sum;
}

SN_TEST(co_ten_thousand_small_stacks)
{
    struct sn_co_stats s0 = stats();
    atomic_store(&many_done, 0);
    struct sn_rt *rt;
    CHECK_EQ(sn_rt_open(&rt, NULL), 0);
    struct sn_task *t;
    CHECK_EQ(sn_co_spawn(rt, many_parent_co, NULL, NULL, &t), 0);
    CHECK_EQ(join_on(rt, t), (int64_t)MANY * (MANY - 1) / 2);
    CHECK_CO_OK();
    CHECK_EQ(atomic_load(&many_done), MANY);
    CHECK_EQ(sn_rt_close(rt), 0);
    struct sn_co_stats s1 = stats();
    CHECK_EQ(s1.live, s0.live);
    CHECK_EQ(s1.spawned - s0.spawned, MANY + 1);
    /* All MANY were alive at once (each sleeps after its first yield), so that
     * many stacks were mapped; now only the per-thread cache keeps some (coro.c:
     * at most 64 stacks and 4 MiB per thread). */
    CHECK(s1.stacks_mapped <= s0.stacks_mapped + 64 + 1);
}

/* ---- stack sizes ---- */
/* The rw mapping that holds a local of the coroutine: its size. */
static size_t mapping_size_of(const void *p)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    size_t sz = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long x, y;
        if (sscanf(line, "%lx-%lx", &x, &y) == 2 && x <= (uintptr_t)p && (uintptr_t)p < y) {
            sz = y - x;
            break;
        }
    }
    if (f)
        fclose(f);
    return sz;
}

static int64_t size_co(void *p)
{
    size_t want = (size_t)(uintptr_t)p;
    volatile char probe = 1;
    /* The frame address, not a local's: with ASan's use-after-return detection
     * locals live on a "fake stack" on the heap. */
    size_t got = mapping_size_of(__builtin_frame_address(0));
    /* Use most of the stack: a big stack really is that big. */
    if (want >= (256u << 10)) {
        char *big = __builtin_alloca(want / 2);
        memset(big, 0x11, want / 2);
        CO_CHECK(big[want / 4] == 0x11);
    }
    return (int64_t)got + probe - 1;
}

SN_TEST(co_stack_sizes)
{
    struct sn_rt *rt;
    CHECK_EQ(sn_rt_open(&rt, NULL), 0);
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    static const size_t sizes[] = {0, 10000, 16384, 65536, 300000, 1u << 20, 4u << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t want = sizes[i] ? (sizes[i] + pg - 1) / pg * pg : SN_CO_STACK_DEFAULT;
        struct sn_co_opts o = {.stack_size = sizes[i], .fresh_stack = (int)(i & 1)};
        struct sn_task *t;
        CHECK_EQ(sn_co_spawn(rt, size_co, (void *)(uintptr_t)want, &o, &t), 0);
        CHECK_EQ(join_on(rt, t), (int64_t)want);
    }
    CHECK_CO_OK();
    CHECK_EQ(sn_rt_close(rt), 0);
}

/* ---- the stack cache ---- */
static int64_t nop_co(void *p)
{
    return (int64_t)(intptr_t)p;
}

SN_TEST(co_stack_cache)
{
    struct sn_rt *rt;
    CHECK_EQ(sn_rt_open(&rt, NULL), 0);
    /* First fill this thread's cache with another size (80 of 8 KiB, alive at
     * once): it must not lock the default size out. */
    struct sn_co_opts small = {.stack_size = 8192};
    struct sn_task *ts[80];
    for (int i = 0; i < 80; i++)
        CHECK_EQ(sn_co_spawn(rt, nop_co, (void *)(intptr_t)i, &small, &ts[i]), 0);
    for (int i = 0; i < 80; i++)
        CHECK_EQ(join_on(rt, ts[i]), i);
    struct sn_co_stats s0 = stats();
    for (int i = 0; i < 100; i++) {
        struct sn_task *t;
        CHECK_EQ(sn_co_spawn(rt, nop_co, (void *)(intptr_t)i, NULL, &t), 0);
        CHECK_EQ(join_on(rt, t), i);
    }
    struct sn_co_stats s1 = stats();
    CHECK(s1.stack_reuses - s0.stack_reuses >= 99);   /* all but (at most) the first */
    CHECK(s1.stacks_mapped <= s0.stacks_mapped + 1);
    struct sn_co_opts fresh = {.fresh_stack = 1};
    for (int i = 0; i < 20; i++) {
        struct sn_task *t;
        CHECK_EQ(sn_co_spawn(rt, nop_co, (void *)(intptr_t)i, &fresh, &t), 0);
        CHECK_EQ(join_on(rt, t), i);
    }
    struct sn_co_stats s2 = stats();
    CHECK_EQ(s2.stack_reuses, s1.stack_reuses);
    CHECK_EQ(s2.stacks_mapped, s1.stacks_mapped);
    CHECK_EQ(sn_rt_close(rt), 0);
}
