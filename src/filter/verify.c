/* verify.c — the kernel's checker for classic BPF, rule for rule
 * (net/core/filter.c: bpf_check_basics_ok, bpf_check_classic, chk_code_allowed,
 * bpf_anc_helper and check_load_and_stores), so a program we accept is one
 * setsockopt(SO_ATTACH_FILTER) accepts too. No allocation: the per-instruction
 * masks of the scratch-memory analysis live on the stack (8 KiB). */
#include <sysnet/filter.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

static int fail(struct sn_filter_err *err, int pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct sn_filter_err *err, int pos, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->pos = pos;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* chk_code_allowed(): the opcodes the kernel knows. */
static int code_allowed(uint16_t code)
{
    switch (code) {
    case BPF_ALU | BPF_ADD | BPF_K: case BPF_ALU | BPF_ADD | BPF_X:
    case BPF_ALU | BPF_SUB | BPF_K: case BPF_ALU | BPF_SUB | BPF_X:
    case BPF_ALU | BPF_MUL | BPF_K: case BPF_ALU | BPF_MUL | BPF_X:
    case BPF_ALU | BPF_DIV | BPF_K: case BPF_ALU | BPF_DIV | BPF_X:
    case BPF_ALU | BPF_MOD | BPF_K: case BPF_ALU | BPF_MOD | BPF_X:
    case BPF_ALU | BPF_AND | BPF_K: case BPF_ALU | BPF_AND | BPF_X:
    case BPF_ALU | BPF_OR | BPF_K:  case BPF_ALU | BPF_OR | BPF_X:
    case BPF_ALU | BPF_XOR | BPF_K: case BPF_ALU | BPF_XOR | BPF_X:
    case BPF_ALU | BPF_LSH | BPF_K: case BPF_ALU | BPF_LSH | BPF_X:
    case BPF_ALU | BPF_RSH | BPF_K: case BPF_ALU | BPF_RSH | BPF_X:
    case BPF_ALU | BPF_NEG:
    case BPF_LD | BPF_W | BPF_ABS: case BPF_LD | BPF_H | BPF_ABS: case BPF_LD | BPF_B | BPF_ABS:
    case BPF_LD | BPF_W | BPF_LEN:
    case BPF_LD | BPF_W | BPF_IND: case BPF_LD | BPF_H | BPF_IND: case BPF_LD | BPF_B | BPF_IND:
    case BPF_LD | BPF_IMM: case BPF_LD | BPF_MEM:
    case BPF_LDX | BPF_W | BPF_LEN: case BPF_LDX | BPF_B | BPF_MSH:
    case BPF_LDX | BPF_IMM: case BPF_LDX | BPF_MEM:
    case BPF_ST: case BPF_STX:
    case BPF_MISC | BPF_TAX: case BPF_MISC | BPF_TXA:
    case BPF_RET | BPF_K: case BPF_RET | BPF_A:
    case BPF_JMP | BPF_JA:
    case BPF_JMP | BPF_JEQ | BPF_K: case BPF_JMP | BPF_JEQ | BPF_X:
    case BPF_JMP | BPF_JGE | BPF_K: case BPF_JMP | BPF_JGE | BPF_X:
    case BPF_JMP | BPF_JGT | BPF_K: case BPF_JMP | BPF_JGT | BPF_X:
    case BPF_JMP | BPF_JSET | BPF_K: case BPF_JMP | BPF_JSET | BPF_X:
        return 1;
    }
    return 0;
}

/* bpf_anc_helper(): the ancillary loads (SKF_AD_OFF + n) the kernel implements.
 * Any other absolute load at k >= SKF_AD_OFF is refused. */
static int anc_known(uint32_t k)
{
    switch (k) {
    case SKF_AD_OFF + SKF_AD_PROTOCOL: case SKF_AD_OFF + SKF_AD_PKTTYPE:
    case SKF_AD_OFF + SKF_AD_IFINDEX: case SKF_AD_OFF + SKF_AD_NLATTR:
    case SKF_AD_OFF + SKF_AD_NLATTR_NEST: case SKF_AD_OFF + SKF_AD_MARK:
    case SKF_AD_OFF + SKF_AD_QUEUE: case SKF_AD_OFF + SKF_AD_HATYPE:
    case SKF_AD_OFF + SKF_AD_RXHASH: case SKF_AD_OFF + SKF_AD_CPU:
    case SKF_AD_OFF + SKF_AD_ALU_XOR_X: case SKF_AD_OFF + SKF_AD_VLAN_TAG:
    case SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT: case SKF_AD_OFF + SKF_AD_PAY_OFFSET:
    case SKF_AD_OFF + SKF_AD_RANDOM: case SKF_AD_OFF + SKF_AD_VLAN_TPID:
        return 1;
    }
    return 0;
}

/* check_load_and_stores(): every M[i] read must have been written on every path
 * to the read. One bit per cell; a jump ANDs what is valid into its targets and
 * the instruction after a jump starts from "all valid" ANDed with what reaches
 * it. (The kernel lets the state of a RET flow into the next instruction; so
 * do we, to accept and refuse exactly the same programs.) */
static int check_mem(const struct sock_filter *p, unsigned n, struct sn_filter_err *err)
{
    uint16_t masks[SN_FILTER_MAXINSNS];
    uint16_t valid = 0;

    for (unsigned i = 0; i < n; i++)
        masks[i] = 0xffff;
    for (unsigned pc = 0; pc < n; pc++) {
        const struct sock_filter *f = &p[pc];
        valid &= masks[pc];
        switch (f->code) {
        case BPF_ST:
        case BPF_STX:
            valid |= (uint16_t)(1u << f->k);
            break;
        case BPF_LD | BPF_MEM:
        case BPF_LDX | BPF_MEM:
            if (!(valid & (1u << f->k)))
                return fail(err, (int)pc, "M[%u] is read before it is written on some path", f->k);
            break;
        case BPF_JMP | BPF_JA:
            masks[pc + 1 + f->k] &= valid;
            valid = 0xffff;
            break;
        case BPF_JMP | BPF_JEQ | BPF_K: case BPF_JMP | BPF_JEQ | BPF_X:
        case BPF_JMP | BPF_JGE | BPF_K: case BPF_JMP | BPF_JGE | BPF_X:
        case BPF_JMP | BPF_JGT | BPF_K: case BPF_JMP | BPF_JGT | BPF_X:
        case BPF_JMP | BPF_JSET | BPF_K: case BPF_JMP | BPF_JSET | BPF_X:
            masks[pc + 1 + f->jt] &= valid;
            masks[pc + 1 + f->jf] &= valid;
            valid = 0xffff;
            break;
        }
    }
    return 0;
}

int sn_filter_verify(const struct sock_filter *p, unsigned n, struct sn_filter_err *err)
{
    if (err) {
        err->pos = -1;
        err->msg[0] = 0;
    }
    /* bpf_check_basics_ok() */
    if (!p)
        return fail(err, -1, "no program");
    if (n == 0 || n > SN_FILTER_MAXINSNS)
        return fail(err, -1, "%u instructions: a program has 1 to %d", n, SN_FILTER_MAXINSNS);

    for (unsigned pc = 0; pc < n; pc++) {
        const struct sock_filter *f = &p[pc];
        if (!code_allowed(f->code))
            return fail(err, (int)pc, "unknown opcode 0x%x", f->code);
        switch (f->code) {
        case BPF_ALU | BPF_DIV | BPF_K:
        case BPF_ALU | BPF_MOD | BPF_K:
            if (f->k == 0)
                return fail(err, (int)pc, "division by the constant 0");
            break;
        case BPF_ALU | BPF_LSH | BPF_K:
        case BPF_ALU | BPF_RSH | BPF_K:
            if (f->k >= 32)
                return fail(err, (int)pc, "shift by %u (at most 31)", f->k);
            break;
        case BPF_LD | BPF_MEM:
        case BPF_LDX | BPF_MEM:
        case BPF_ST:
        case BPF_STX:
            if (f->k >= SN_FILTER_MEMWORDS)
                return fail(err, (int)pc, "M[%u] does not exist (M[0..15])", f->k);
            break;
        case BPF_JMP | BPF_JA:
            if (f->k >= n - pc - 1)
                return fail(err, (int)pc, "ja %u jumps past the end", f->k);
            break;
        case BPF_JMP | BPF_JEQ | BPF_K: case BPF_JMP | BPF_JEQ | BPF_X:
        case BPF_JMP | BPF_JGE | BPF_K: case BPF_JMP | BPF_JGE | BPF_X:
        case BPF_JMP | BPF_JGT | BPF_K: case BPF_JMP | BPF_JGT | BPF_X:
        case BPF_JMP | BPF_JSET | BPF_K: case BPF_JMP | BPF_JSET | BPF_X:
            if (pc + f->jt + 1 >= n || pc + f->jf + 1 >= n)
                return fail(err, (int)pc, "a branch (jt %u, jf %u) jumps past the end", f->jt, f->jf);
            break;
        case BPF_LD | BPF_W | BPF_ABS:
        case BPF_LD | BPF_H | BPF_ABS:
        case BPF_LD | BPF_B | BPF_ABS:
            if (f->k >= (uint32_t)SKF_AD_OFF && !anc_known(f->k))
                return fail(err, (int)pc, "unknown ancillary load at %d", (int32_t)f->k);
            break;
        }
    }
    if (p[n - 1].code != (BPF_RET | BPF_K) && p[n - 1].code != (BPF_RET | BPF_A))
        return fail(err, (int)n - 1, "the last instruction is not a ret");
    return check_mem(p, n, err);
}
