/* tests/cross/ctx_check.c — a standalone check of the context switch
 * (src/task/ctx_<arch>.S) and the stacks (src/task/stack.c), with nothing else
 * from the library: tests/cli/test_ctx_aarch64.sh builds it for AArch64 (static,
 * run under qemu-aarch64) and for the host, and tests/unit/test_coro.c covers the
 * same ground inside the library build.
 *
 *   cc -std=c11 -D_GNU_SOURCE -Iinclude -O2 tests/cross/ctx_check.c \
 *      src/task/ctx_<arch>.S src/task/stack.c -lpthread -lm
 *
 * Checks, one line each ("ok   NAME" / "FAIL NAME: why"), exit status 1 if any
 * failed:
 *   pingpong     a coroutine and main switch 2 x 200000 times; a counter on each
 *                side sees every turn; several coroutines round-robin as well
 *   regs         every callee-saved register (x86-64: rbx rbp r12-r15; AArch64:
 *                x19-x29 and d8-d15) set to a pattern in assembly just before
 *                sn_ctx_switch and read back just after, on both sides, for many
 *                round trips (the other side sets different patterns in between)
 *   fpctl        (x86-64) MXCSR and the x87 control word: each side keeps its own
 *                rounding mode across switches
 *   align        the stack pointer on entry to the context's function is what the
 *                ABI promises for a called function (x86-64: rsp+8 16-aligned;
 *                AArch64: sp 16-aligned), for any lo/size, aligned or not
 *   recursion    a recursion using most of a 32 KiB stack completes with the right
 *                result (and the guard page below it is not touched)
 *   guard        the page below the stack is PROT_NONE (/proc/self/maps)
 *   overflow     unbounded recursion on a 16 KiB stack, in a child process: the
 *                child dies of SIGSEGV after printing "sysnet: coroutine stack
 *                overflow (stack of 16384 bytes ..."
 *
 * With CTX_CHECK_EMBED defined before including it, only the assembly helpers
 * (regs_switch, align_probe, regs_ok, NREGS, entry_sp) are compiled, for
 * tests/unit/test_coro.c, which then defines align_entry itself. */
#include <sysnet/coro.h>

#include <errno.h>
#include <fenv.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- register check, in assembly --------------------------------------------
 * (The asm functions are global, hidden: C takes their address, and a GOT
 * reference to a local symbol defined in top-level asm loses its offset on
 * AArch64 — it would point at the start of .text.)
 * void regs_switch(struct sn_ctx *from, struct sn_ctx *to, uint64_t *buf):
 * saves the callee-saved registers it is about to overwrite (it must preserve
 * them itself), loads register i with buf[0] + i * 0x0101010101010101 (the
 * floating-point ones: the same bit patterns, as doubles), calls
 * sn_ctx_switch(from, to), and when that returns stores every register in
 * buf[1 + i], then restores and returns. */
#if defined(__x86_64__)
#define NREGS 6
__asm__(".text\n"
        ".p2align 4\n"
        ".globl regs_switch\n.hidden regs_switch\n.type regs_switch, @function\n"
        "regs_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  pushq %rdx\n"                      /* buf; also makes rsp 16-aligned for the call */
        "  movq (%rdx), %rax\n"
        "  movabsq $0x0101010101010101, %rcx\n"
        "  movq %rax, %rbx\n  addq %rcx, %rax\n"
        "  movq %rax, %rbp\n  addq %rcx, %rax\n"
        "  movq %rax, %r12\n  addq %rcx, %rax\n"
        "  movq %rax, %r13\n  addq %rcx, %rax\n"
        "  movq %rax, %r14\n  addq %rcx, %rax\n"
        "  movq %rax, %r15\n"
        "  call sn_ctx_switch\n"
        "  popq %rax\n"
        "  movq %rbx, 8(%rax)\n  movq %rbp, 16(%rax)\n  movq %r12, 24(%rax)\n"
        "  movq %r13, 32(%rax)\n  movq %r14, 40(%rax)\n  movq %r15, 48(%rax)\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size regs_switch, .-regs_switch\n");
/* Entry probe: record rsp as the context's function sees it, then go on to the
 * C function (a tail jump, so the C function gets exactly that rsp). */
__asm__(".text\n"
        ".p2align 4\n"
        ".globl align_probe\n.hidden align_probe\n.type align_probe, @function\n"
        "align_probe:\n"
        "  movq %rsp, entry_sp(%rip)\n"
        "  jmp align_entry\n"
        ".size align_probe, .-align_probe\n");
#elif defined(__aarch64__)
#define NREGS 19 /* x19-x29, d8-d15 */
__asm__(".text\n"
        ".p2align 4\n"
        ".globl regs_switch\n.hidden regs_switch\n.type regs_switch, %function\n"
        "regs_switch:\n"
        "  stp x29, x30, [sp, #-176]!\n"
        "  stp x19, x20, [sp, #16]\n  stp x21, x22, [sp, #32]\n  stp x23, x24, [sp, #48]\n"
        "  stp x25, x26, [sp, #64]\n  stp x27, x28, [sp, #80]\n"
        "  stp d8, d9, [sp, #96]\n  stp d10, d11, [sp, #112]\n  stp d12, d13, [sp, #128]\n"
        "  stp d14, d15, [sp, #144]\n  str x2, [sp, #160]\n"
        "  ldr x9, [x2]\n"
        "  mov x10, #0x0101010101010101\n"
        "  mov x19, x9\n  add x9, x9, x10\n  mov x20, x9\n  add x9, x9, x10\n"
        "  mov x21, x9\n  add x9, x9, x10\n  mov x22, x9\n  add x9, x9, x10\n"
        "  mov x23, x9\n  add x9, x9, x10\n  mov x24, x9\n  add x9, x9, x10\n"
        "  mov x25, x9\n  add x9, x9, x10\n  mov x26, x9\n  add x9, x9, x10\n"
        "  mov x27, x9\n  add x9, x9, x10\n  mov x28, x9\n  add x9, x9, x10\n"
        "  mov x29, x9\n  add x9, x9, x10\n"
        "  fmov d8, x9\n  add x9, x9, x10\n  fmov d9, x9\n  add x9, x9, x10\n"
        "  fmov d10, x9\n  add x9, x9, x10\n  fmov d11, x9\n  add x9, x9, x10\n"
        "  fmov d12, x9\n  add x9, x9, x10\n  fmov d13, x9\n  add x9, x9, x10\n"
        "  fmov d14, x9\n  add x9, x9, x10\n  fmov d15, x9\n"
        "  bl sn_ctx_switch\n"
        "  ldr x9, [sp, #160]\n"
        "  stp x19, x20, [x9, #8]\n  stp x21, x22, [x9, #24]\n  stp x23, x24, [x9, #40]\n"
        "  stp x25, x26, [x9, #56]\n  stp x27, x28, [x9, #72]\n  str x29, [x9, #88]\n"
        "  stp d8, d9, [x9, #96]\n  stp d10, d11, [x9, #112]\n  stp d12, d13, [x9, #128]\n"
        "  stp d14, d15, [x9, #144]\n"
        "  ldp x19, x20, [sp, #16]\n  ldp x21, x22, [sp, #32]\n  ldp x23, x24, [sp, #48]\n"
        "  ldp x25, x26, [sp, #64]\n  ldp x27, x28, [sp, #80]\n"
        "  ldp d8, d9, [sp, #96]\n  ldp d10, d11, [sp, #112]\n  ldp d12, d13, [sp, #128]\n"
        "  ldp d14, d15, [sp, #144]\n"
        "  ldp x29, x30, [sp], #176\n"
        "  ret\n"
        ".size regs_switch, .-regs_switch\n");
__asm__(".text\n"
        ".p2align 4\n"
        ".globl align_probe\n.hidden align_probe\n.type align_probe, %function\n"
        "align_probe:\n"
        "  mov x9, sp\n"
        "  adrp x10, entry_sp\n"
        "  str x9, [x10, :lo12:entry_sp]\n"
        "  b align_entry\n"
        ".size align_probe, .-align_probe\n");
#else
#error "ctx_check: x86-64 or AArch64 only"
#endif

void regs_switch(struct sn_ctx *from, struct sn_ctx *to, uint64_t *buf);
void align_probe(void *arg);
void align_entry(void *arg);
uintptr_t entry_sp;   /* written by align_probe (not static: the asm names it) */

/* Did regs_switch give back, in buf[1..NREGS], the pattern it loaded? */
static int regs_ok(const uint64_t *buf)
{
    for (int i = 0; i < NREGS; i++)
        if (buf[1 + i] != buf[0] + (uint64_t)i * 0x0101010101010101ull)
            return 0;
    return 1;
}

#ifndef CTX_CHECK_EMBED
static int failed;

static void report(const char *name, const char *why)
{
    if (why) {
        printf("FAIL %s: %s\n", name, why);
        failed = 1;
    } else {
        printf("ok   %s\n", name);
    }
    fflush(stdout);
}

/* ---- ping-pong ------------------------------------------------------------- */
static struct sn_ctx main_ctx, co_ctx[4];
static long turns[4];

static void pong(void *arg)
{
    int i = (int)(intptr_t)arg;
    for (;;) {
        turns[i]++;
        sn_ctx_switch(&co_ctx[i], &main_ctx);
    }
}

static void check_pingpong(void)
{
    struct sn_stack st[4];
    for (int i = 0; i < 4; i++) {
        if (sn_stack_alloc(&st[i], 16384) < 0) {
            report("pingpong", "sn_stack_alloc failed");
            return;
        }
        sn_ctx_make(&co_ctx[i], st[i].lo, st[i].size, pong, (void *)(intptr_t)i);
        turns[i] = 0;
    }
    const long n = 200000;
    for (long k = 0; k < n; k++) {
        sn_ctx_switch(&main_ctx, &co_ctx[0]);
        if (turns[0] != k + 1) {
            report("pingpong", "a turn was lost");
            return;
        }
    }
    for (long k = 0; k < 1000; k++)        /* round-robin over the others */
        for (int i = 1; i < 4; i++)
            sn_ctx_switch(&main_ctx, &co_ctx[i]);
    for (int i = 0; i < 4; i++)
        sn_stack_free(&st[i]);
    report("pingpong", turns[0] == n && turns[1] == 1000 && turns[2] == 1000 && turns[3] == 1000
                           ? NULL
                           : "wrong turn counts");
}

/* ---- registers --------------------------------------------------------------- */
static uint64_t co_buf[1 + NREGS + 2];
static int co_bad;

static void regs_co(void *arg)
{
    (void)arg;
    for (uint64_t k = 0;; k++) {
        co_buf[0] = 0xc0c0c0c000000000ull ^ (k * 0x9e3779b97f4a7c15ull);
        regs_switch(&co_ctx[0], &main_ctx, co_buf);
        if (!regs_ok(co_buf))
            co_bad++;
    }
}

static void check_regs(void)
{
    struct sn_stack st;
    if (sn_stack_alloc(&st, 16384) < 0) {
        report("regs", "sn_stack_alloc failed");
        return;
    }
    sn_ctx_make(&co_ctx[0], st.lo, st.size, regs_co, NULL);
    uint64_t buf[1 + NREGS + 2];
    int bad = 0;
    co_bad = 0;
    for (uint64_t k = 0; k < 10000; k++) {
        buf[0] = 0x5151515100000000ull + k * 0x123456789ull;
        regs_switch(&main_ctx, &co_ctx[0], buf);
        if (!regs_ok(buf))
            bad++;
    }
    sn_stack_free(&st);
    char why[128];
    snprintf(why, sizeof why, "callee-saved registers lost: %d times on the main side, %d in the coroutine", bad,
             co_bad);
    report("regs", bad || co_bad ? why : NULL);
}

/* ---- floating-point control (x86-64: MXCSR and the x87 control word) ----------- */
#if defined(__x86_64__)
static int fp_bad;
static void fp_co(void *arg)
{
    (void)arg;
    fesetround(FE_DOWNWARD);
    for (;;) {
        sn_ctx_switch(&co_ctx[0], &main_ctx);
        unsigned mx;
        unsigned short cw;
        __asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mx), "=m"(cw));
        if (fegetround() != FE_DOWNWARD || ((mx >> 13) & 3) != 1 || ((cw >> 10) & 3) != 1)
            fp_bad++;
    }
}

static void check_fpctl(void)
{
    struct sn_stack st;
    if (sn_stack_alloc(&st, 16384) < 0) {
        report("fpctl", "sn_stack_alloc failed");
        return;
    }
    int saved = fegetround();
    fesetround(FE_UPWARD);
    sn_ctx_make(&co_ctx[0], st.lo, st.size, fp_co, NULL);
    int bad = 0;
    fp_bad = 0;
    for (int k = 0; k < 1000; k++) {
        sn_ctx_switch(&main_ctx, &co_ctx[0]);
        unsigned mx;
        unsigned short cw;
        __asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mx), "=m"(cw));
        if (fegetround() != FE_UPWARD || ((mx >> 13) & 3) != 2 || ((cw >> 10) & 3) != 2)
            bad++;
    }
    fesetround(saved);
    sn_stack_free(&st);
    report("fpctl", bad || fp_bad ? "a rounding mode leaked across a switch" : NULL);
}
#endif

/* ---- alignment at entry ------------------------------------------------------- */
static uintptr_t seen_sp;
void align_entry(void *arg)
{
    (void)arg;
    seen_sp = entry_sp;
    for (;;)
        sn_ctx_switch(&co_ctx[0], &main_ctx);
}

static void check_align(void)
{
    struct sn_stack st;
    if (sn_stack_alloc(&st, 16384) < 0) {
        report("align", "sn_stack_alloc failed");
        return;
    }
    char why[160] = "";
    for (size_t off = 0; off < 16 && !why[0]; off += 3) {
        for (size_t cut = 0; cut < 16 && !why[0]; cut += 5) {
            entry_sp = 0;
            void *lo = (char *)st.lo + off;
            size_t size = st.size - off - cut;
            sn_ctx_make(&co_ctx[0], lo, size, align_probe, NULL);
            sn_ctx_switch(&main_ctx, &co_ctx[0]);
#if defined(__x86_64__)
            int good = seen_sp % 16 == 8;   /* as after a call from a 16-aligned rsp */
#else
            int good = seen_sp % 16 == 0;
#endif
            if (!good || seen_sp >= (uintptr_t)lo + size || seen_sp < (uintptr_t)lo + size - 128)
                snprintf(why, sizeof why, "lo+%zu size-%zu: sp at entry %#" PRIxPTR " (top %#" PRIxPTR ")", off,
                         off + cut, seen_sp, (uintptr_t)lo + size);
        }
    }
    sn_stack_free(&st);
    report("align", why[0] ? why : NULL);
}

/* ---- recursion on a small stack --------------------------------------------------- */
static uintptr_t deepest;
static uint64_t rec(int depth, uint64_t acc)
{
    volatile char pad[96];
    pad[depth % 96] = (char)depth;
    if ((uintptr_t)pad < deepest || !deepest)
        deepest = (uintptr_t)pad;
    if (depth == 0)
        return acc + (uint64_t)pad[0];
    return rec(depth - 1, acc * 31 + (uint64_t)depth) + (uint64_t)pad[depth % 96];
}

static uint64_t rec_result;
static int rec_depth;
static void rec_co(void *arg)
{
    (void)arg;
    rec_result = rec(rec_depth, 1);
    for (;;)
        sn_ctx_switch(&co_ctx[0], &main_ctx);
}

static void check_recursion(void)
{
    struct sn_stack st;
    if (sn_stack_alloc(&st, 32 * 1024) < 0) {
        report("recursion", "sn_stack_alloc failed");
        return;
    }
    sn_co_guard_install();
    const struct sn_stack *prev = sn_stack_guard_set(&st);
    /* First 64 levels on the coroutine, to measure the frame size; then the
     * depth that uses about 24 KiB of the 32; the expected value comes from the
     * same recursion on main's stack. */
    rec_depth = 64;
    sn_ctx_make(&co_ctx[0], st.lo, st.size, rec_co, NULL);
    deepest = 0;
    sn_ctx_switch(&main_ctx, &co_ctx[0]);
    size_t per = ((uintptr_t)st.lo + st.size - deepest) / 64 + 1;
    rec_depth = (int)(24 * 1024 / per);
    uint64_t want = rec(rec_depth, 1);
    sn_ctx_make(&co_ctx[0], st.lo, st.size, rec_co, NULL);
    deepest = 0;
    sn_ctx_switch(&main_ctx, &co_ctx[0]);
    sn_stack_guard_set(prev);
    size_t used = (uintptr_t)st.lo + st.size - deepest;
    char why[160];
    snprintf(why, sizeof why, "depth %d: result %" PRIu64 ", wanted %" PRIu64 "; %zu of %zu bytes used",
             rec_depth, rec_result, want, used, st.size);
    int good = rec_result == want && used > 16 * 1024 && used < st.size;
    sn_stack_free(&st);
    report("recursion", good ? NULL : why);
}

/* ---- the guard page ------------------------------------------------------------------ */
static void check_guard(void)
{
    struct sn_stack st;
    if (sn_stack_alloc(&st, 10000) < 0) {
        report("guard", "sn_stack_alloc failed");
        return;
    }
    long pg = sysconf(_SC_PAGESIZE);
    char why[200] = "";
    if (st.size != (size_t)((10000 + pg - 1) / pg * pg) || st.maplen != st.size + (size_t)pg ||
        (char *)st.lo != (char *)st.map + pg)
        snprintf(why, sizeof why, "layout: size %zu maplen %zu", st.size, st.maplen);
    FILE *f = fopen("/proc/self/maps", "r");
    int found_guard = 0, found_rw = 0;
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        unsigned long a, b;
        char perm[8];
        if (sscanf(line, "%lx-%lx %7s", &a, &b, perm) != 3)
            continue;
        if (a == (uintptr_t)st.map && b == (uintptr_t)st.lo && strncmp(perm, "---p", 4) == 0)
            found_guard = 1;
        if (a <= (uintptr_t)st.lo && b >= (uintptr_t)st.lo + st.size && strncmp(perm, "rw-p", 4) == 0)
            found_rw = 1;
    }
    if (f)
        fclose(f);
    if (!why[0] && (!found_guard || !found_rw))
        snprintf(why, sizeof why, "/proc/self/maps: guard page ---p %s, stack rw-p %s", found_guard ? "yes" : "no",
                 found_rw ? "yes" : "no");
    sn_stack_free(&st);
    report("guard", why[0] ? why : NULL);
}

/* ---- overflow, in a child --------------------------------------------------------------- */
static volatile int boom_limit = 1 << 30;   /* volatile: the compiler cannot see the end */
static int boom(int n)
{
    volatile char pad[200];
    pad[0] = (char)n;
    if (n >= boom_limit)
        return 0;
    return boom(n + 1) + pad[0];
}

static void boom_co(void *arg)
{
    (void)arg;
    boom(0);
    for (;;)
        sn_ctx_switch(&co_ctx[0], &main_ctx);
}

static void check_overflow(void)
{
    int p[2];
    if (pipe(p) < 0) {
        report("overflow", "pipe failed");
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        struct sn_stack st;
        if (sn_stack_alloc(&st, 16384) < 0 || sn_co_guard_install() < 0)
            _exit(3);
        sn_stack_guard_set(&st);
        sn_ctx_make(&co_ctx[0], st.lo, st.size, boom_co, NULL);
        sn_ctx_switch(&main_ctx, &co_ctx[0]);
        _exit(4);
    }
    close(p[1]);
    char out[1024];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof out - 1 && (r = read(p[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    char why[1200];
    int good = WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV &&
               strstr(out, "sysnet: coroutine stack overflow (stack of 16384 bytes at 0x") &&
               strstr(out, "raise --stack-size or use less stack");
    snprintf(why, sizeof why, "status %#x, stderr: %s", status, out);
    report("overflow", good ? NULL : why);
}

int main(void)
{
    check_pingpong();
    check_regs();
#if defined(__x86_64__)
    check_fpctl();
#endif
    check_align();
    check_recursion();
    check_guard();
    check_overflow();
    return failed;
}
#endif /* CTX_CHECK_EMBED */
