/* src/task/ctx_aarch64.S — the coroutine context switch for AArch64 (AAPCS64).
 *
 * As on x86-64 (ctx_x86_64.S) a context is a saved stack pointer and the
 * callee-saved state lives on the stack being left. What the Procedure Call
 * Standard for the Arm 64-bit Architecture makes callee-saved (§6.1.1
 * "General-purpose registers", §6.1.2 "SIMD and Floating-Point registers"):
 *   x19-x28                       callee-saved
 *   x29 (fp), x30 (lr)            the frame record; lr is where we return to
 *   sp                            kept in the context itself
 *   d8-d15                        only the low 64 bits of v8-v15
 * Everything else (x0-x18, the rest of v0-v31, NZCV) is caller-saved, so we
 * leave it alone. FPCR/FPSR are not saved: AAPCS64 treats them as
 * thread-global state (§6.1.3), not per-call state. No signal mask, no
 * syscall.
 *
 * Frame on a suspended stack, from the saved sp upwards (160 bytes, a
 * multiple of 16 as sp must always be, §6.4.5.1):
 *   sp+0   x19 x20 | +16 x21 x22 | +32 x23 x24 | +48 x25 x26 | +64 x27 x28
 *   sp+80  x29 x30 | +96 d8 d9  | +112 d10 d11 | +128 d12 d13 | +144 d14 d15
 *
 * Branch protection: with -mbranch-protection=bti the global entry points
 * start with BTI c (a hint, a no-op on cores without BTI). sn_ctx_entry is
 * reached by RET, which BTI does not check. Return addresses are not signed
 * here (PAC): the lr we save is the caller's, already in whatever form it
 * wanted, and we return to it with a plain RET. */

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define SN_BTI_C hint #34
#else
#define SN_BTI_C
#endif

    .text

/* void sn_ctx_switch(struct sn_ctx *from (x0), struct sn_ctx *to (x1)) */
    .globl  sn_ctx_switch
    .type   sn_ctx_switch, %function
    .p2align 4
sn_ctx_switch:
    .cfi_startproc
    SN_BTI_C
    sub     sp, sp, #160
    .cfi_def_cfa_offset 160
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    .cfi_offset x29, -80
    .cfi_offset x30, -72
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]

    mov     x9, sp
    str     x9, [x0]            /* from->sp */
    ldr     x9, [x1]            /* to->sp */
    mov     sp, x9

    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #160
    .cfi_def_cfa_offset 0
    .cfi_restore x29
    .cfi_restore x30
    /* RET, although the return-address predictor will guess the other side's
     * caller wrong (ctx_x86_64.S ends in an indirect jmp for that reason):
     * a BR to a return address would need a BTI landing pad there, and
     * return sites have none. */
    ret
    .cfi_endproc
    .size   sn_ctx_switch, .-sn_ctx_switch

/* void sn_ctx_make(struct sn_ctx *c (x0), void *lo (x1), size_t size (x2),
 *                  void (*fn)(void *) (x3), void *arg (x4))
 *
 * At the 16-byte aligned top of [lo, lo + size): a zero frame record (fp = 0,
 * lr = 0: the end of the frame chain, §6.4.6) and below it a switch frame with
 * x19 = fn, x20 = arg, x29 = 0, x30 = sn_ctx_entry and every other saved
 * register zero. The first sn_ctx_switch to c pops it and RETs into
 * sn_ctx_entry with sp = top - 16, 16-byte aligned. */
    .globl  sn_ctx_make
    .type   sn_ctx_make, %function
    .p2align 4
sn_ctx_make:
    .cfi_startproc
    SN_BTI_C
    add     x9, x1, x2
    and     x9, x9, #~15
    stp     xzr, xzr, [x9, #-16]        /* the terminating frame record */
    sub     x9, x9, #176                /* 16 + the 160-byte switch frame */
    stp     x3, x4, [x9, #0]            /* x19 = fn, x20 = arg */
    stp     xzr, xzr, [x9, #16]
    stp     xzr, xzr, [x9, #32]
    stp     xzr, xzr, [x9, #48]
    stp     xzr, xzr, [x9, #64]
    adrp    x10, sn_ctx_entry
    add     x10, x10, :lo12:sn_ctx_entry
    stp     xzr, x10, [x9, #80]         /* x29 = 0, x30 = sn_ctx_entry */
    stp     xzr, xzr, [x9, #96]
    stp     xzr, xzr, [x9, #112]
    stp     xzr, xzr, [x9, #128]
    stp     xzr, xzr, [x9, #144]
    str     x9, [x0]
    ret
    .cfi_endproc
    .size   sn_ctx_make, .-sn_ctx_make

/* Where a new context starts. x30 is marked undefined in its CFI (DWARF for
 * "outermost frame") so unwinders and gdb stop here. fn must not return; if
 * it does, BRK traps at a place a debugger can show. */
    .type   sn_ctx_entry, %function
    .p2align 4
sn_ctx_entry:
    .cfi_startproc
    .cfi_undefined x30
    mov     x0, x20
    blr     x19
    brk     #0x3e8
    .cfi_endproc
    .size   sn_ctx_entry, .-sn_ctx_entry

    .section .note.GNU-stack, "", %progbits

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
/* GNU property note: GNU_PROPERTY_AARCH64_FEATURE_1_AND = BTI (PAC is not
 * used here, so the note does not claim it). */
    .section .note.gnu.property, "a"
    .p2align 3
    .long   4
    .long   16
    .long   5                   /* NT_GNU_PROPERTY_TYPE_0 */
    .asciz  "GNU"
    .long   0xc0000000          /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
    .long   4
    .long   1                   /* GNU_PROPERTY_AARCH64_FEATURE_1_BTI */
    .p2align 3
#endif
