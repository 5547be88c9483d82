/* run.c — the classic BPF interpreter for packets read from files, with the
 * semantics of libpcap's bpf_filter() (bpf_filter.c): a load past the captured
 * bytes or a division by X == 0 ends the program with 0 (drop), BPF_LEN is the
 * length on the wire. It also refuses, with 0, what the verifier would refuse
 * (jumps out of the program, M[] indexes >= 16, unknown opcodes, falling off the
 * end), so an unverified program cannot fault or loop: jumps only go forward. */
#include <sysnet/filter.h>

uint32_t sn_filter_run(const struct sock_filter *p, unsigned n, const uint8_t *pkt,
                       uint32_t wirelen, uint32_t caplen)
{
    uint32_t a = 0, x = 0, k;
    uint32_t mem[SN_FILTER_MEMWORDS] = {0};
    unsigned pc = 0;

    if (!p || (!pkt && caplen))
        return 0;
    while (pc < n) {
        const struct sock_filter *f = &p[pc++];
        k = f->k;
        switch (f->code) {
        case BPF_RET | BPF_K:
            return k;
        case BPF_RET | BPF_A:
            return a;

        /* Absolute loads: k and k + size must both lie inside the capture
         * (written so that nothing can overflow, as bpf_filter.c does). */
        case BPF_LD | BPF_W | BPF_ABS:
            if (k > caplen || 4 > caplen - k)
                return 0;
            a = sn_load_be32(pkt + k);
            break;
        case BPF_LD | BPF_H | BPF_ABS:
            if (k > caplen || 2 > caplen - k)
                return 0;
            a = sn_load_be16(pkt + k);
            break;
        case BPF_LD | BPF_B | BPF_ABS:
            if (k >= caplen)
                return 0;
            a = pkt[k];
            break;
        case BPF_LD | BPF_W | BPF_IND:
            if (k > caplen || x > caplen - k || 4 > caplen - k - x)
                return 0;
            a = sn_load_be32(pkt + k + x);
            break;
        case BPF_LD | BPF_H | BPF_IND:
            if (k > caplen || x > caplen - k || 2 > caplen - k - x)
                return 0;
            a = sn_load_be16(pkt + k + x);
            break;
        case BPF_LD | BPF_B | BPF_IND:
            if (k >= caplen || x >= caplen - k)
                return 0;
            a = pkt[k + x];
            break;
        case BPF_LDX | BPF_B | BPF_MSH:
            if (k >= caplen)
                return 0;
            x = (uint32_t)(pkt[k] & 0xf) << 2;
            break;
        case BPF_LD | BPF_W | BPF_LEN:
            a = wirelen;
            break;
        case BPF_LDX | BPF_W | BPF_LEN:
            x = wirelen;
            break;
        case BPF_LD | BPF_IMM:
            a = k;
            break;
        case BPF_LDX | BPF_W | BPF_IMM:
            x = k;
            break;
        case BPF_LD | BPF_MEM:
            if (k >= SN_FILTER_MEMWORDS)
                return 0;
            a = mem[k];
            break;
        case BPF_LDX | BPF_W | BPF_MEM:
            if (k >= SN_FILTER_MEMWORDS)
                return 0;
            x = mem[k];
            break;
        case BPF_ST:
            if (k >= SN_FILTER_MEMWORDS)
                return 0;
            mem[k] = a;
            break;
        case BPF_STX:
            if (k >= SN_FILTER_MEMWORDS)
                return 0;
            mem[k] = x;
            break;

        /* Jumps are relative to the next instruction and only go forward. */
        case BPF_JMP | BPF_JA:
            if (k >= n - pc)
                return 0;
            pc += k;
            break;
        case BPF_JMP | BPF_JGT | BPF_K: pc += a > k ? f->jt : f->jf; break;
        case BPF_JMP | BPF_JGE | BPF_K: pc += a >= k ? f->jt : f->jf; break;
        case BPF_JMP | BPF_JEQ | BPF_K: pc += a == k ? f->jt : f->jf; break;
        case BPF_JMP | BPF_JSET | BPF_K: pc += (a & k) ? f->jt : f->jf; break;
        case BPF_JMP | BPF_JGT | BPF_X: pc += a > x ? f->jt : f->jf; break;
        case BPF_JMP | BPF_JGE | BPF_X: pc += a >= x ? f->jt : f->jf; break;
        case BPF_JMP | BPF_JEQ | BPF_X: pc += a == x ? f->jt : f->jf; break;
        case BPF_JMP | BPF_JSET | BPF_X: pc += (a & x) ? f->jt : f->jf; break;

        case BPF_ALU | BPF_ADD | BPF_X: a += x; break;
        case BPF_ALU | BPF_SUB | BPF_X: a -= x; break;
        case BPF_ALU | BPF_MUL | BPF_X: a *= x; break;
        case BPF_ALU | BPF_DIV | BPF_X:
            if (x == 0)
                return 0;
            a /= x;
            break;
        case BPF_ALU | BPF_MOD | BPF_X:
            if (x == 0)
                return 0;
            a %= x;
            break;
        case BPF_ALU | BPF_AND | BPF_X: a &= x; break;
        case BPF_ALU | BPF_OR | BPF_X: a |= x; break;
        case BPF_ALU | BPF_XOR | BPF_X: a ^= x; break;
        /* bpf_filter.c: a shift by 32 or more gives 0 (C leaves it undefined). */
        case BPF_ALU | BPF_LSH | BPF_X: a = x < 32 ? a << x : 0; break;
        case BPF_ALU | BPF_RSH | BPF_X: a = x < 32 ? a >> x : 0; break;
        case BPF_ALU | BPF_ADD | BPF_K: a += k; break;
        case BPF_ALU | BPF_SUB | BPF_K: a -= k; break;
        case BPF_ALU | BPF_MUL | BPF_K: a *= k; break;
        case BPF_ALU | BPF_DIV | BPF_K:
            if (k == 0)
                return 0;
            a /= k;
            break;
        case BPF_ALU | BPF_MOD | BPF_K:
            if (k == 0)
                return 0;
            a %= k;
            break;
        case BPF_ALU | BPF_AND | BPF_K: a &= k; break;
        case BPF_ALU | BPF_OR | BPF_K: a |= k; break;
        case BPF_ALU | BPF_XOR | BPF_K: a ^= k; break;
        case BPF_ALU | BPF_LSH | BPF_K: a = k < 32 ? a << k : 0; break;
        case BPF_ALU | BPF_RSH | BPF_K: a = k < 32 ? a >> k : 0; break;
        case BPF_ALU | BPF_NEG: a = 0u - a; break;
        case BPF_MISC | BPF_TAX: x = a; break;
        case BPF_MISC | BPF_TXA: a = x; break;
        default:
            return 0; /* an opcode the verifier refuses */
        }
        /* A conditional jump past the end is caught by the loop condition. */
    }
    return 0;
}
