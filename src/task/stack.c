/* src/task/stack.c — coroutine stacks and the stack-overflow reporter.
 *
 * A stack is one anonymous mapping: a PROT_NONE guard page at the low end (stacks
 * grow down on x86-64 and AArch64), then the usable pages. MAP_NORESERVE because
 * most of a 64 KiB stack is never touched and should not count against overcommit;
 * MAP_STACK is a hint (today a no-op on Linux, but it keeps THP off such mappings
 * on kernels that honour it). Pages are faulted in on first touch, so a coroutine
 * that uses 2 KiB of its stack costs one or two pages of memory.
 *
 * An overflow runs into the guard page and the kernel sends SIGSEGV. A handler
 * that runs on the overflowing stack would fault again at once, so the handler
 * runs on an alternate signal stack (sigaltstack, SA_ONSTACK), one per thread,
 * made on the first coroutine run on that thread and unmapped at thread exit (a
 * pthread key destructor). The handler compares the fault address with the guard
 * page of the stack this thread is running on (a thread-local pointer that the
 * coroutine layer sets around every switch, sn_stack_guard_set), and the
 * interrupted stack pointer with its bottom (a big frame can jump the guard page):
 * a hit prints one
 * line with write(2) — the only output call that is async-signal-safe — and dies
 * of SIGSEGV as it would have without us (default action, core dump and all).
 * Any other fault goes to the handler that was installed before ours (a
 * sanitizer's, the program's), or to the default action. */
#include <sysnet/coro.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

/* The handler reads these; initial-exec keeps the access a plain %fs/tpidr_el0
 * offset (a general-dynamic access may call __tls_get_addr, which can allocate:
 * not something to do inside a signal handler). */
#define SN_TLS_IE __attribute__((tls_model("initial-exec")))
static _Thread_local const struct sn_stack *tls_cur SN_TLS_IE;
static _Thread_local struct sn_stack tls_alt SN_TLS_IE;   /* ours, if we made one */
static _Thread_local int tls_alt_done SN_TLS_IE;          /* this thread has checked */

static atomic_size_t page_size;

static size_t pagesz(void)
{
    size_t p = atomic_load_explicit(&page_size, memory_order_relaxed);
    if (!p) {
        long v = sysconf(_SC_PAGESIZE);
        p = v > 0 ? (size_t)v : 4096;
        atomic_store_explicit(&page_size, p, memory_order_relaxed);
    }
    return p;
}

int sn_stack_alloc(struct sn_stack *s, size_t size)
{
    memset(s, 0, sizeof(*s));
    size_t pg = pagesz();
    if (size > SIZE_MAX / 2)
        return -ENOMEM;
    size = size ? (size + pg - 1) & ~(pg - 1) : pg;
    size_t len = size + pg;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                   -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    if (mprotect(p, pg, PROT_NONE) < 0) {
        int e = errno;
        munmap(p, len);
        return -e;
    }
    s->map = p;
    s->maplen = len;
    s->lo = (char *)p + pg;
    s->size = size;
    return 0;
}

void sn_stack_free(struct sn_stack *s)
{
    if (s->map)
        munmap(s->map, s->maplen);
    memset(s, 0, sizeof(*s));
}

const struct sn_stack *sn_stack_guard_set(const struct sn_stack *s)
{
    const struct sn_stack *old = tls_cur;
    tls_cur = s;
    return old;
}

/* ---- the SIGSEGV handler --------------------------------------------------- */

static struct sigaction old_segv;   /* written once, before our handler is installed */
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static pthread_key_t alt_key;
static int guard_err;

/* Async-signal-safe formatting: decimal and hex into a caller's buffer. */
static char *put_str(char *p, const char *s)
{
    while (*s)
        *p++ = *s++;
    return p;
}

static char *put_dec(char *p, uint64_t v)
{
    char t[24];
    int n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = t[--n];
    return p;
}

static char *put_hex(char *p, uint64_t v)
{
    char t[20];
    int n = 0;
    do {
        t[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    p = put_str(p, "0x");
    while (n)
        *p++ = t[--n];
    return p;
}

/* Back to the default action and let it happen: the signal is blocked while we
 * run (no SA_NODEFER), so raise() leaves it pending and it is delivered — and
 * kills — as soon as the handler returns; a hardware fault would also simply
 * repeat on return. Either way the process dies of SIGSEGV, with a core if
 * enabled, as if we had never been there. */
static void die_default(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
    raise(sig);
}

/* The interrupted stack pointer, from the signal frame's machine context. */
static uintptr_t fault_sp(void *uc)
{
    const ucontext_t *u = uc;
#if defined(__x86_64__)
    return (uintptr_t)u->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (uintptr_t)u->uc_mcontext.sp;
#else
    (void)u;
    return UINTPTR_MAX;
#endif
}

/* An overflow of s: the fault is in its guard page, or the stack pointer itself
 * has left the bottom of the stack — a frame bigger than a page can jump over
 * the guard page (compilers probe such frames page by page only with
 * -fstack-clash-protection), and then the fault lands further down. */
static int is_overflow(const struct sn_stack *s, uintptr_t a, uintptr_t sp)
{
    uintptr_t map = (uintptr_t)s->map, lo = (uintptr_t)s->lo;
    if (a >= map && a < lo)
        return 1;
    return sp < lo && sp + (1u << 20) >= lo && a < lo && a + (1u << 20) >= lo;
}

static void guard_handler(int sig, siginfo_t *si, void *uc)
{
    const struct sn_stack *s = tls_cur;
    uintptr_t a = (uintptr_t)si->si_addr;
    if (s && s->map && is_overflow(s, a, fault_sp(uc))) {
        char msg[256], *p = msg;
        p = put_str(p, "sysnet: coroutine stack overflow (stack of ");
        p = put_dec(p, s->size);
        p = put_str(p, " bytes at ");
        p = put_hex(p, (uintptr_t)s->lo);
        p = put_str(p, "; fault at ");
        p = put_hex(p, a);
        p = put_str(p, "): raise --stack-size or use less stack\n");
        ssize_t off = 0, len = p - msg;
        while (off < len) {
            ssize_t w = write(STDERR_FILENO, msg + off, (size_t)(len - off));
            if (w <= 0)
                break;
            off += w;
        }
        die_default(sig);
        return;
    }
    /* Not ours: whoever had SIGSEGV before. */
    if (old_segv.sa_flags & SA_SIGINFO) {
        if (old_segv.sa_sigaction) {
            old_segv.sa_sigaction(sig, si, uc);
            return;
        }
    } else if (old_segv.sa_handler != SIG_DFL && old_segv.sa_handler != SIG_IGN) {
        old_segv.sa_handler(sig);
        return;
    }
    die_default(sig);   /* SIG_IGN would loop forever on a fault: treat it as SIG_DFL */
}

/* Thread exit: take down our alternate stack. Three cases, by what is installed:
 *   ours, enabled   disable it, unmap it;
 *   another stack   someone replaced ours, which is not in use: unmap it;
 *   none            someone disabled it, and whoever does that unmaps what they
 *                   took down (ASan's thread teardown does exactly that, with
 *                   the size the kernel reports: the usable part, not our guard
 *                   page): unmap only the guard page, never memory that may
 *                   already belong to another mapping. */
static void alt_dtor(void *unused)
{
    (void)unused;
    if (!tls_alt.map)
        return;
    stack_t cur;
    if (sigaltstack(NULL, &cur) < 0)
        return;
    if (!(cur.ss_flags & SS_DISABLE) && cur.ss_sp == tls_alt.lo) {
        if (cur.ss_flags & SS_ONSTACK)
            return;
        stack_t off;
        memset(&off, 0, sizeof(off));
        off.ss_flags = SS_DISABLE;
        if (sigaltstack(&off, NULL) < 0)
            return;
        sn_stack_free(&tls_alt);
    } else if (!(cur.ss_flags & SS_DISABLE)) {
        sn_stack_free(&tls_alt);
    } else {
        munmap(tls_alt.map, (size_t)((char *)tls_alt.lo - (char *)tls_alt.map));
        memset(&tls_alt, 0, sizeof(tls_alt));
    }
}

static void guard_init(void)
{
    int e = pthread_key_create(&alt_key, alt_dtor);
    if (e) {
        guard_err = -e;
        return;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = guard_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, NULL, &old_segv) < 0 || sigaction(SIGSEGV, &sa, NULL) < 0)
        guard_err = -errno;
}

/* How big an alternate stack: the kernel's minimum for this CPU (AVX-512 state
 * makes signal frames large, hence _SC_SIGSTKSZ rather than the old constant)
 * with room for the handler, and for a sanitizer's handler should ours chain to
 * it. */
static size_t alt_size(void)
{
    size_t n = 64 * 1024;
#ifdef _SC_SIGSTKSZ
    long k = sysconf(_SC_SIGSTKSZ);
    if (k > 0 && (size_t)k * 4 > n)
        n = (size_t)k * 4;
#endif
    return n;
}

int sn_co_guard_install(void)
{
    pthread_once(&guard_once, guard_init);
    if (guard_err)
        return guard_err;
    if (tls_alt_done)
        return 0;
    tls_alt_done = 1;
    /* A thread that already has an alternate stack big enough (the program's, or
     * ASan's, which sets one on every thread when it handles SIGSEGV) keeps it:
     * replacing it would leave its owner unmapping ours at thread exit. */
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) && cur.ss_size >= alt_size() / 2)
        return 0;
    int e = sn_stack_alloc(&tls_alt, alt_size());
    if (e < 0) {
        tls_alt_done = 0;
        return e;
    }
    stack_t ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_sp = tls_alt.lo;
    ss.ss_size = tls_alt.size;
    if (sigaltstack(&ss, NULL) < 0) {
        e = -errno;
        sn_stack_free(&tls_alt);
        tls_alt_done = 0;
        return e;
    }
    pthread_setspecific(alt_key, &tls_alt);   /* any non-NULL value: runs alt_dtor at exit */
    return 0;
}
