/* fmt.c — one instruction as `tcpdump -d` prints it (libpcap's bpf_image():
 * "(%03d) %-8s %s", conditional jumps with "%-16s jt %d\tjf %d", constants as
 * libpcap formats them, k printed signed where libpcap uses %d), and attaching a
 * program to a socket. */
#include <sysnet/filter.h>

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>

int sn_filter_fmt(const struct sock_filter *insn, unsigned idx, char *out, size_t cap)
{
    char operand[64];
    const char *op;
    int k = (int)insn->k; /* libpcap prints k with %d */

    operand[0] = 0;
    switch (insn->code) {
    case BPF_RET | BPF_K: op = "ret"; snprintf(operand, sizeof operand, "#%d", k); break;
    case BPF_RET | BPF_A: op = "ret"; break;
    case BPF_LD | BPF_W | BPF_ABS: op = "ld"; snprintf(operand, sizeof operand, "[%d]", k); break;
    case BPF_LD | BPF_H | BPF_ABS: op = "ldh"; snprintf(operand, sizeof operand, "[%d]", k); break;
    case BPF_LD | BPF_B | BPF_ABS: op = "ldb"; snprintf(operand, sizeof operand, "[%d]", k); break;
    case BPF_LD | BPF_W | BPF_LEN: op = "ld"; snprintf(operand, sizeof operand, "#pktlen"); break;
    case BPF_LDX | BPF_W | BPF_LEN: op = "ldx"; snprintf(operand, sizeof operand, "#pktlen"); break;
    case BPF_LD | BPF_W | BPF_IND: op = "ld"; snprintf(operand, sizeof operand, "[x + %d]", k); break;
    case BPF_LD | BPF_H | BPF_IND: op = "ldh"; snprintf(operand, sizeof operand, "[x + %d]", k); break;
    case BPF_LD | BPF_B | BPF_IND: op = "ldb"; snprintf(operand, sizeof operand, "[x + %d]", k); break;
    case BPF_LD | BPF_IMM: op = "ld"; snprintf(operand, sizeof operand, "#0x%x", insn->k); break;
    case BPF_LDX | BPF_IMM: op = "ldx"; snprintf(operand, sizeof operand, "#0x%x", insn->k); break;
    case BPF_LDX | BPF_MSH | BPF_B: op = "ldxb"; snprintf(operand, sizeof operand, "4*([%d]&0xf)", k); break;
    case BPF_LD | BPF_MEM: op = "ld"; snprintf(operand, sizeof operand, "M[%d]", k); break;
    case BPF_LDX | BPF_MEM: op = "ldx"; snprintf(operand, sizeof operand, "M[%d]", k); break;
    case BPF_ST: op = "st"; snprintf(operand, sizeof operand, "M[%d]", k); break;
    case BPF_STX: op = "stx"; snprintf(operand, sizeof operand, "M[%d]", k); break;
    case BPF_JMP | BPF_JA: op = "ja"; snprintf(operand, sizeof operand, "%d", (int)(idx + 1 + insn->k)); break;
    case BPF_JMP | BPF_JGT | BPF_K: op = "jgt"; snprintf(operand, sizeof operand, "#0x%x", insn->k); break;
    case BPF_JMP | BPF_JGE | BPF_K: op = "jge"; snprintf(operand, sizeof operand, "#0x%x", insn->k); break;
    case BPF_JMP | BPF_JEQ | BPF_K: op = "jeq"; snprintf(operand, sizeof operand, "#0x%x", insn->k); break;
    case BPF_JMP | BPF_JSET | BPF_K: op = "jset"; snprintf(operand, sizeof operand, "#0x%x", insn->k); break;
    case BPF_JMP | BPF_JGT | BPF_X: op = "jgt"; snprintf(operand, sizeof operand, "x"); break;
    case BPF_JMP | BPF_JGE | BPF_X: op = "jge"; snprintf(operand, sizeof operand, "x"); break;
    case BPF_JMP | BPF_JEQ | BPF_X: op = "jeq"; snprintf(operand, sizeof operand, "x"); break;
    case BPF_JMP | BPF_JSET | BPF_X: op = "jset"; snprintf(operand, sizeof operand, "x"); break;
    case BPF_ALU | BPF_ADD | BPF_X: op = "add"; snprintf(operand, sizeof operand, "x"); break;
    case BPF_ALU | BPF_SUB | BPF_X: op = "sub"; snprintf(operand, sizeof operand, "x"); break;
    case BPF_ALU | BPF_MUL | BPF_X: op = "mul"; snprintf(operand, sizeof operand, "x"); break;
    case BPF_ALU | BPF_DIV | BPF_X: op = "div"; snprintf(operand, sizeof operand, "x"); break;
    case BPF_ALU | BPF_MOD | BPF_X: op = "mod"; snprintf(operand, sizeof operand, "x"); break;
    case BPF_ALU | BPF_AND | BPF_X: op = "and"; snprintf(operand, sizeof operand, "x"); break;
    case BPF_ALU | BPF_OR | BPF_X: op = "or"; snprintf(operand, sizeof operand, "x"); break;
    case BPF_ALU | BPF_XOR | BPF_X: op = "xor"; snprintf(operand, sizeof operand, "x"); break;
    case BPF_ALU | BPF_LSH | BPF_X: op = "lsh"; snprintf(operand, sizeof operand, "x"); break;
    case BPF_ALU | BPF_RSH | BPF_X: op = "rsh"; snprintf(operand, sizeof operand, "x"); break;
    case BPF_ALU | BPF_ADD | BPF_K: op = "add"; snprintf(operand, sizeof operand, "#%d", k); break;
    case BPF_ALU | BPF_SUB | BPF_K: op = "sub"; snprintf(operand, sizeof operand, "#%d", k); break;
    case BPF_ALU | BPF_MUL | BPF_K: op = "mul"; snprintf(operand, sizeof operand, "#%d", k); break;
    case BPF_ALU | BPF_DIV | BPF_K: op = "div"; snprintf(operand, sizeof operand, "#%d", k); break;
    case BPF_ALU | BPF_MOD | BPF_K: op = "mod"; snprintf(operand, sizeof operand, "#%d", k); break;
    case BPF_ALU | BPF_AND | BPF_K: op = "and"; snprintf(operand, sizeof operand, "#0x%x", insn->k); break;
    case BPF_ALU | BPF_OR | BPF_K: op = "or"; snprintf(operand, sizeof operand, "#0x%x", insn->k); break;
    case BPF_ALU | BPF_XOR | BPF_K: op = "xor"; snprintf(operand, sizeof operand, "#0x%x", insn->k); break;
    case BPF_ALU | BPF_LSH | BPF_K: op = "lsh"; snprintf(operand, sizeof operand, "#%d", k); break;
    case BPF_ALU | BPF_RSH | BPF_K: op = "rsh"; snprintf(operand, sizeof operand, "#%d", k); break;
    case BPF_ALU | BPF_NEG: op = "neg"; break;
    case BPF_MISC | BPF_TAX: op = "tax"; break;
    case BPF_MISC | BPF_TXA: op = "txa"; break;
    default: op = "unimp"; snprintf(operand, sizeof operand, "0x%x", insn->code); break;
    }
    if (BPF_CLASS(insn->code) == BPF_JMP && BPF_OP(insn->code) != BPF_JA)
        return snprintf(out, cap, "(%03u) %-8s %-16s jt %u\tjf %u", idx, op, operand,
                        idx + 1 + insn->jt, idx + 1 + insn->jf);
    return snprintf(out, cap, "(%03u) %-8s %s", idx, op, operand);
}

int sn_filter_attach(int fd, const struct sock_filter *p, unsigned n)
{
    struct sock_fprog prog = { .len = (unsigned short)n, .filter = (struct sock_filter *)p };

    if (n == 0 || n > SN_FILTER_MAXINSNS)
        return -EINVAL;
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
        return -errno;
    return 0;
}

int sn_filter_detach(int fd)
{
    int dummy = 0;

    if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &dummy, sizeof(dummy)) < 0)
        return -errno;
    return 0;
}
