/* src/task/ctx_x86_64.S — the coroutine context switch for x86-64 (System V ABI).
 *
 * A context is only a saved stack pointer: everything else the callee must
 * preserve is pushed on the stack being left, so switching is "push the
 * callee-saved state, swap rsp, pop the other side's, ret". What the SysV
 * psABI (x86-64 supplement, §3.2.1 "Registers", figure 3.4) makes
 * callee-saved, and so what a call to sn_ctx_switch must appear to preserve:
 *   rbx, rbp, r12, r13, r14, r15           the integer registers
 *   rsp                                     kept in the context itself
 *   MXCSR control bits, x87 control word    "callee-saved" control state
 * Everything else (rax, rcx, rdx, rsi, rdi, r8-r11, every xmm/ymm register,
 * the x87 stack, the flags) is caller-saved: the C compiler calling us has
 * already assumed those are clobbered, so we never touch them. No signal mask
 * and no syscall: that is the difference from glibc's swapcontext, which calls
 * rt_sigprocmask twice per switch.
 *
 * rax, rcx and rdx are used as scratch (caller-saved).
 *
 * Frame on a suspended stack, from the saved sp upwards (64 bytes):
 *   sp+0   MXCSR (4 bytes), x87 control word (2), 2 bytes unused
 *   sp+8   r15   sp+16 r14   sp+24 r13   sp+32 r12   sp+40 rbx   sp+48 rbp
 *   sp+56  return address (where sn_ctx_switch was called from)
 *
 * CET: with -fcf-protection (__CET__ bit 0) the two global entry points start
 * with endbr64 and the object is marked IBT-compatible. Shadow stacks (bit 1)
 * are NOT supported — a switch would need to swap the shadow stack pointer as
 * well — so this object never claims SHSTK and a program linking it runs with
 * shadow stacks off (the switch also ends in a jmp, not a ret, which a shadow
 * stack would reject). */

#if defined(__CET__) && (__CET__ & 1)
#define SN_ENDBR endbr64
#else
#define SN_ENDBR
#endif

    .text

/* void sn_ctx_switch(struct sn_ctx *from (rdi), struct sn_ctx *to (rsi)) */
    .globl  sn_ctx_switch
    .type   sn_ctx_switch, @function
    .p2align 4
sn_ctx_switch:
    .cfi_startproc
    SN_ENDBR
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbp, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbx, 0
    pushq   %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r12, 0
    pushq   %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r13, 0
    pushq   %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r14, 0
    pushq   %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r15, 0
    subq    $8, %rsp
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movl    (%rsp), %eax        /* the same sizes as the stores: forwarded, no stall */
    movzwl  4(%rsp), %edx

    movq    %rsp, (%rdi)        /* from->sp */
    movq    (%rsi), %rsp        /* to->sp: from here on we are on the other stack */

    /* The CFI below describes the frame of whoever we resumed, which has the
     * same layout, so a debugger stepping through still unwinds correctly.
     *
     * Restore the control state only if it differs from what is live now.
     * ldmxcsr and above all fldcw are slow (fldcw drains the x87 pipeline; the
     * pair costs more than the rest of the switch), and nearly every program
     * runs all its contexts with the same rounding and masks. MXCSR bits 0-5
     * are the sticky exception flags — status, which the ABI makes
     * caller-saved — so only bits 6-31 are compared. */
    xorl    (%rsp), %eax
    andl    $-64, %eax
    jnz     2f
    cmpw    4(%rsp), %dx
    jne     2f
1:
    .cfi_remember_state
    addq    $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq    %r15
    .cfi_adjust_cfa_offset -8
    .cfi_restore r15
    popq    %r14
    .cfi_adjust_cfa_offset -8
    .cfi_restore r14
    popq    %r13
    .cfi_adjust_cfa_offset -8
    .cfi_restore r13
    popq    %r12
    .cfi_adjust_cfa_offset -8
    .cfi_restore r12
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbx
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbp
    /* Not `ret`: a ret here is predicted from the return stack buffer, which
     * holds the call that entered *this* switch, on the stack we just left, so
     * it would mispredict on every switch (about 10 ns on the machines we
     * measured: bench/task/bench_switch). An indirect jmp is predicted from
     * its own history and mostly hits. Boost.Context's jump_fcontext does the
     * same. (With CET shadow stacks this would not do; see the top.) */
    popq    %rcx
    .cfi_adjust_cfa_offset -8
    .cfi_register rip, rcx
    jmpq    *%rcx
2:
    .cfi_restore_state
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    jmp     1b
    .cfi_endproc
    .size   sn_ctx_switch, .-sn_ctx_switch

/* void sn_ctx_make(struct sn_ctx *c (rdi), void *lo (rsi), size_t size (rdx),
 *                  void (*fn)(void *) (rcx), void *arg (r8))
 *
 * Writes, at the 16-byte aligned top of [lo, lo + size), a frame that
 * sn_ctx_switch pops as if the context had suspended itself: r12 = fn,
 * r13 = arg, rbp = 0 (the end of the frame-pointer chain), MXCSR and the x87
 * control word copied from the caller (the same thread-wide rounding and
 * exception masks the rest of the program runs with, as a new thread would
 * inherit them), and a return address of sn_ctx_entry. Above that, two zero
 * quadwords: a NULL return address for anything that walks past the entry.
 *
 *   top-8, top-16  0
 *   top-24         &sn_ctx_entry        <- popped by ret: rsp = top-16 after it
 *   top-32 rbp=0  top-40 rbx=0  top-48 r12=fn  top-56 r13=arg
 *   top-64 r14=0  top-72 r15=0  top-80 MXCSR/FPU CW   <- c->sp
 *
 * After the ret, rsp = top-16 ≡ 0 (mod 16), which is what the ABI requires
 * just before a call (§3.2.2: "the end of the input argument area shall be
 * aligned on a 16 byte boundary"), so fn starts with rsp ≡ 8 (mod 16) like
 * any function called normally. */
    .globl  sn_ctx_make
    .type   sn_ctx_make, @function
    .p2align 4
sn_ctx_make:
    .cfi_startproc
    SN_ENDBR
    leaq    (%rsi,%rdx), %rax
    andq    $-16, %rax
    xorl    %r9d, %r9d
    movq    %r9, -8(%rax)
    movq    %r9, -16(%rax)
    leaq    sn_ctx_entry(%rip), %r10
    movq    %r10, -24(%rax)
    movq    %r9, -32(%rax)      /* rbp */
    movq    %r9, -40(%rax)      /* rbx */
    movq    %rcx, -48(%rax)     /* r12 = fn */
    movq    %r8, -56(%rax)      /* r13 = arg */
    movq    %r9, -64(%rax)      /* r14 */
    movq    %r9, -72(%rax)      /* r15 */
    movq    %r9, -80(%rax)
    stmxcsr -80(%rax)
    fnstcw  -76(%rax)
    subq    $80, %rax
    movq    %rax, (%rdi)
    ret
    .cfi_endproc
    .size   sn_ctx_make, .-sn_ctx_make

/* The first instruction a new context runs (reached by sn_ctx_switch's ret,
 * never called). rip is marked undefined in its CFI, which is DWARF's way of
 * saying "outermost frame": gdb's backtrace and libgcc's unwinder stop here
 * instead of walking into the zeros above. fn must not return; if it does,
 * ud2 stops the program where a debugger shows why. */
    .type   sn_ctx_entry, @function
    .p2align 4
sn_ctx_entry:
    .cfi_startproc
    .cfi_undefined rip
    movq    %r13, %rdi
    callq   *%r12
    ud2
    .cfi_endproc
    .size   sn_ctx_entry, .-sn_ctx_entry

    .section .note.GNU-stack, "", @progbits

#if defined(__CET__) && (__CET__ & 1)
/* GNU property note: GNU_PROPERTY_X86_FEATURE_1_AND = IBT only (see above). */
    .section .note.gnu.property, "a"
    .p2align 3
    .long   4                   /* name size: "GNU\0" */
    .long   16                  /* descriptor size */
    .long   5                   /* NT_GNU_PROPERTY_TYPE_0 */
    .asciz  "GNU"
    .long   0xc0000002          /* GNU_PROPERTY_X86_FEATURE_1_AND */
    .long   4
    .long   1                   /* GNU_PROPERTY_X86_FEATURE_1_IBT */
    .p2align 3
#endif
