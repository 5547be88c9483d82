/* test_filter.c — the filter module: the verifier's rules one by one (and the
 * kernel's verdict on the same programs, through SO_ATTACH_FILTER on an
 * unprivileged UDP socket), the interpreter's libpcap semantics (bounds, len,
 * division by zero), the printer against `tcpdump -d` text, the compiler on
 * packets built with the wire module's emit functions, programs byte for byte
 * as `tcpdump -O -d` prints them, and errors with their byte positions. */
#include "../harness.h"
#include <sysnet/filter.h>
#include <sysnet/wire.h>

#include <errno.h>
#include <sys/socket.h>

#define NOPS(a) ((unsigned)SN_COUNTOF(a))

static int udp_socket(void) { return socket(AF_INET, SOCK_DGRAM, 0); }

/* ======================================================================
 * builder
 * ====================================================================== */

SN_TEST(filter_builder_macros)
{
    struct sock_filter a = SN_BPF_JEQ(0x800, 1, 2), b = SN_BPF_LDH_ABS(12), c = SN_BPF_RET(262144);
    CHECK_EQ(a.code, BPF_JMP | BPF_JEQ | BPF_K);
    CHECK_EQ(a.k, 0x800);
    CHECK_EQ(a.jt, 1);
    CHECK_EQ(a.jf, 2);
    CHECK_EQ(b.code, BPF_LD | BPF_H | BPF_ABS);
    CHECK_EQ(b.k, 12);
    CHECK_EQ(c.code, BPF_RET | BPF_K);
    CHECK_EQ(c.k, 262144);
    struct sock_filter prog[] = {SN_BPF_LDH_ABS(12), SN_BPF_JEQ(0x800, 0, 1), SN_BPF_RET(~0u), SN_BPF_RET(0)};
    CHECK_EQ(sn_filter_verify(prog, NOPS(prog), NULL), 0);
    CHECK_EQ(SN_BPF_LDX_MSH(14).code, BPF_LDX | BPF_B | BPF_MSH);
    CHECK_EQ(SN_BPF_ALU_K(BPF_AND, 0xf).code, BPF_ALU | BPF_AND | BPF_K);
    CHECK_EQ(SN_BPF_ALU_X(BPF_ADD).code, BPF_ALU | BPF_ADD | BPF_X);
    CHECK_EQ(SN_BPF_LD_LEN().code, BPF_LD | BPF_W | BPF_LEN);
}

/* ======================================================================
 * verifier: one rule per test, each verdict checked against the kernel too
 * ====================================================================== */

/* Our verdict (0 or -EINVAL) must be the kernel's. Returns ours. */
static int verdict(const struct sock_filter *p, unsigned n, struct sn_filter_err *err, int *kernel)
{
    int ours = sn_filter_verify(p, n, err);
    int fd = udp_socket();
    *kernel = 1; /* unknown */
    if (fd >= 0) {
        *kernel = sn_filter_attach(fd, p, n);
        close(fd);
    }
    return ours;
}

#define CHECK_VERDICT(prog, want)                                                        \
    do {                                                                                 \
        struct sn_filter_err e_;                                                         \
        int k_, o_ = verdict(prog, NOPS(prog), &e_, &k_);                                \
        CHECK_EQ(o_, want);                                                              \
        if (k_ != 1)                                                                     \
            CHECK_EQ(k_, want);                                                          \
    } while (0)

SN_TEST(filter_verify_accepts_valid)
{
    struct sock_filter ret0[] = {SN_BPF_RET(0)};
    struct sock_filter reta[] = {SN_BPF_LD_IMM(5), SN_BPF_RET_A()};
    struct sock_filter mem[] = {SN_BPF_LD_IMM(7), SN_BPF_ST(15), SN_BPF_LDX_MEM(15), SN_BPF_TXA(), SN_BPF_RET_A()};
    struct sock_filter anc[] = {SN_BPF_LDH_ABS(SKF_AD_OFF + SKF_AD_PROTOCOL), SN_BPF_RET_A()};
    struct sock_filter ja[] = {SN_BPF_JA(1), SN_BPF_RET(1), SN_BPF_RET(2)};
    struct sock_filter net[] = {SN_BPF_LDB_ABS((uint32_t)SKF_NET_OFF), SN_BPF_RET_A()};
    CHECK_VERDICT(ret0, 0);
    CHECK_VERDICT(reta, 0);
    CHECK_VERDICT(mem, 0);
    CHECK_VERDICT(anc, 0);
    CHECK_VERDICT(ja, 0);
    CHECK_VERDICT(net, 0);
}

SN_TEST(filter_verify_length)
{
    static struct sock_filter big[SN_FILTER_MAXINSNS + 1];
    struct sn_filter_err e;
    int k;
    for (unsigned i = 0; i <= SN_FILTER_MAXINSNS; i++)
        big[i] = SN_BPF_RET(0);
    CHECK_EQ(sn_filter_verify(big, 0, &e), -EINVAL);
    CHECK_EQ(sn_filter_verify(NULL, 1, &e), -EINVAL);
    CHECK_EQ(verdict(big, SN_FILTER_MAXINSNS, &e, &k), 0);
    if (k != 1)
        CHECK_EQ(k, 0);
    CHECK_EQ(verdict(big, SN_FILTER_MAXINSNS + 1, &e, &k), -EINVAL);
    if (k != 1)
        CHECK_EQ(k, -EINVAL);
}

SN_TEST(filter_verify_unknown_opcodes)
{
    static const uint16_t bad[] = {
        0xff, BPF_LD | BPF_H | BPF_IMM, BPF_RET | BPF_X, BPF_LD | BPF_B | BPF_MSH,
        BPF_ALU | BPF_NEG | BPF_X, BPF_LDX | BPF_H | BPF_IMM, BPF_JMP | 0xe0, BPF_MISC | 0x10,
    };
    for (size_t i = 0; i < SN_COUNTOF(bad); i++) {
        struct sock_filter p[] = {SN_BPF_STMT(bad[i], 0), SN_BPF_RET(0)};
        struct sn_filter_err e;
        int k;
        CHECK_EQ(verdict(p, NOPS(p), &e, &k), -EINVAL);
        CHECK_EQ(e.pos, 0);
        CHECK(strstr(e.msg, "opcode") != NULL);
        if (k != 1)
            CHECK_EQ(k, -EINVAL);
    }
}

SN_TEST(filter_verify_division_by_constant_zero)
{
    struct sock_filter div0[] = {SN_BPF_LD_IMM(1), SN_BPF_ALU_K(BPF_DIV, 0), SN_BPF_RET_A()};
    struct sock_filter mod0[] = {SN_BPF_LD_IMM(1), SN_BPF_ALU_K(BPF_MOD, 0), SN_BPF_RET_A()};
    struct sock_filter div2[] = {SN_BPF_LD_IMM(4), SN_BPF_ALU_K(BPF_DIV, 2), SN_BPF_RET_A()};
    struct sock_filter divx[] = {SN_BPF_LDX_IMM(0), SN_BPF_ALU_X(BPF_DIV), SN_BPF_RET_A()}; /* run time */
    struct sn_filter_err e;
    CHECK_VERDICT(div0, -EINVAL);
    CHECK_VERDICT(mod0, -EINVAL);
    CHECK_VERDICT(div2, 0);
    CHECK_VERDICT(divx, 0);
    sn_filter_verify(div0, NOPS(div0), &e);
    CHECK_EQ(e.pos, 1);
    CHECK(strstr(e.msg, "division") != NULL);
}

SN_TEST(filter_verify_shift_by_32)
{
    struct sock_filter lsh[] = {SN_BPF_LD_IMM(1), SN_BPF_ALU_K(BPF_LSH, 32), SN_BPF_RET_A()};
    struct sock_filter rsh[] = {SN_BPF_LD_IMM(1), SN_BPF_ALU_K(BPF_RSH, 40), SN_BPF_RET_A()};
    struct sock_filter ok[] = {SN_BPF_LD_IMM(1), SN_BPF_ALU_K(BPF_LSH, 31), SN_BPF_RET_A()};
    CHECK_VERDICT(lsh, -EINVAL);
    CHECK_VERDICT(rsh, -EINVAL);
    CHECK_VERDICT(ok, 0);
}

SN_TEST(filter_verify_memory_index)
{
    struct sock_filter st16[] = {SN_BPF_ST(16), SN_BPF_RET(0)};
    struct sock_filter stx16[] = {SN_BPF_STX(16), SN_BPF_RET(0)};
    struct sock_filter ld16[] = {SN_BPF_ST(0), SN_BPF_LD_MEM(16), SN_BPF_RET(0)};
    struct sock_filter ldx99[] = {SN_BPF_ST(0), SN_BPF_LDX_MEM(99), SN_BPF_RET(0)};
    CHECK_VERDICT(st16, -EINVAL);
    CHECK_VERDICT(stx16, -EINVAL);
    CHECK_VERDICT(ld16, -EINVAL);
    CHECK_VERDICT(ldx99, -EINVAL);
}

SN_TEST(filter_verify_memory_read_before_write)
{
    /* never written */
    struct sock_filter none[] = {SN_BPF_LD_MEM(3), SN_BPF_RET_A()};
    /* written on the true path only, read where both paths meet */
    struct sock_filter one_path[] = {
        SN_BPF_LD_IMM(1), SN_BPF_JEQ(1, 0, 1), SN_BPF_ST(2), SN_BPF_LD_MEM(2), SN_BPF_RET_A(),
    };
    /* written on both paths */
    struct sock_filter both[] = {
        SN_BPF_LD_IMM(1), SN_BPF_JEQ(1, 0, 2), SN_BPF_ST(2), SN_BPF_JA(1), SN_BPF_STX(2),
        SN_BPF_LD_MEM(2), SN_BPF_RET_A(),
    };
    /* a different cell written */
    struct sock_filter other[] = {SN_BPF_ST(1), SN_BPF_LDX_MEM(2), SN_BPF_RET(0)};
    struct sn_filter_err e;
    CHECK_VERDICT(none, -EINVAL);
    CHECK_VERDICT(one_path, -EINVAL);
    CHECK_VERDICT(both, 0);
    CHECK_VERDICT(other, -EINVAL);
    sn_filter_verify(one_path, NOPS(one_path), &e);
    CHECK_EQ(e.pos, 3);
    CHECK(strstr(e.msg, "M[2]") != NULL);
}

SN_TEST(filter_verify_jumps_in_range)
{
    struct sock_filter jt_out[] = {SN_BPF_JEQ(0, 1, 0), SN_BPF_RET(0)};
    struct sock_filter jf_out[] = {SN_BPF_JEQ(0, 0, 5), SN_BPF_RET(0)};
    struct sock_filter ja_out[] = {SN_BPF_JA(1), SN_BPF_RET(0)};
    struct sock_filter ja_huge[] = {SN_BPF_JA(0xffffffff), SN_BPF_RET(0)}; /* a backward jump as u32 */
    struct sock_filter to_last[] = {SN_BPF_JEQ(0, 1, 0), SN_BPF_RET(1), SN_BPF_RET(0)};
    struct sn_filter_err e;
    CHECK_VERDICT(jt_out, -EINVAL);
    CHECK_VERDICT(jf_out, -EINVAL);
    CHECK_VERDICT(ja_out, -EINVAL);
    CHECK_VERDICT(ja_huge, -EINVAL);
    CHECK_VERDICT(to_last, 0);
    sn_filter_verify(jf_out, NOPS(jf_out), &e);
    CHECK_EQ(e.pos, 0);
}

SN_TEST(filter_verify_last_is_ret)
{
    struct sock_filter noret[] = {SN_BPF_LD_IMM(1)};
    struct sock_filter jmp_last[] = {SN_BPF_RET(0), SN_BPF_LD_IMM(0)};
    struct sn_filter_err e;
    CHECK_VERDICT(noret, -EINVAL);
    CHECK_VERDICT(jmp_last, -EINVAL);
    sn_filter_verify(jmp_last, NOPS(jmp_last), &e);
    CHECK_EQ(e.pos, 1);
    CHECK(strstr(e.msg, "ret") != NULL);
}

SN_TEST(filter_verify_ancillary)
{
    struct sock_filter unknown[] = {SN_BPF_LDW_ABS(SKF_AD_OFF + 1000), SN_BPF_RET_A()};
    struct sock_filter vlan[] = {SN_BPF_LDB_ABS(SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT), SN_BPF_RET_A()};
    CHECK_VERDICT(unknown, -EINVAL);
    CHECK_VERDICT(vlan, 0);
}

/* ======================================================================
 * interpreter (libpcap's bpf_filter semantics)
 * ====================================================================== */

static const uint8_t bytes16[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                    0x08, 0x09, 0x0a, 0x0b, 0x4c, 0x0d, 0x0e, 0xff};

static uint32_t run1(const struct sock_filter *p, unsigned n)
{
    return sn_filter_run(p, n, bytes16, 100, sizeof bytes16);
}

SN_TEST(filter_run_loads_and_bounds)
{
    struct sock_filter w[] = {SN_BPF_LDW_ABS(12), SN_BPF_RET_A()};
    struct sock_filter w_oob[] = {SN_BPF_LDW_ABS(13), SN_BPF_RET(1)};
    struct sock_filter h[] = {SN_BPF_LDH_ABS(14), SN_BPF_RET_A()};
    struct sock_filter h_oob[] = {SN_BPF_LDH_ABS(15), SN_BPF_RET(1)};
    struct sock_filter b[] = {SN_BPF_LDB_ABS(15), SN_BPF_RET_A()};
    struct sock_filter b_oob[] = {SN_BPF_LDB_ABS(16), SN_BPF_RET(1)};
    struct sock_filter k_huge[] = {SN_BPF_LDW_ABS(0xfffffffe), SN_BPF_RET(1)};
    CHECK_EQ(run1(w, 2), 0x4c0d0eff);
    CHECK_EQ(run1(w_oob, 2), 0);
    CHECK_EQ(run1(h, 2), 0x0eff);
    CHECK_EQ(run1(h_oob, 2), 0);
    CHECK_EQ(run1(b, 2), 0xff);
    CHECK_EQ(run1(b_oob, 2), 0);
    CHECK_EQ(run1(k_huge, 2), 0);
}

SN_TEST(filter_run_indirect_and_msh)
{
    /* X = 4 * (p[12] & 0xf) = 4 * 0xc = 48 */
    struct sock_filter msh[] = {SN_BPF_LDX_MSH(12), SN_BPF_TXA(), SN_BPF_RET_A()};
    struct sock_filter ind[] = {SN_BPF_LDX_IMM(10), SN_BPF_LDH_IND(2), SN_BPF_RET_A()};
    struct sock_filter ind_oob[] = {SN_BPF_LDX_IMM(10), SN_BPF_LDW_IND(3), SN_BPF_RET(1)};
    struct sock_filter x_wrap[] = {SN_BPF_LDX_IMM(0xffffffff), SN_BPF_LDB_IND(2), SN_BPF_RET(1)};
    struct sock_filter k_wrap[] = {SN_BPF_LDX_IMM(2), SN_BPF_LDH_IND(0xffffffff), SN_BPF_RET(1)};
    struct sock_filter msh_oob[] = {SN_BPF_LDX_MSH(16), SN_BPF_RET(1)};
    CHECK_EQ(run1(msh, 3), 48);
    CHECK_EQ(run1(ind, 3), 0x4c0d);
    CHECK_EQ(run1(ind_oob, 3), 0);
    CHECK_EQ(run1(x_wrap, 3), 0);
    CHECK_EQ(run1(k_wrap, 3), 0);
    CHECK_EQ(run1(msh_oob, 2), 0);
}

SN_TEST(filter_run_len_is_wirelen)
{
    struct sock_filter len[] = {SN_BPF_LD_LEN(), SN_BPF_RET_A()};
    struct sock_filter lenx[] = {SN_BPF_STMT(BPF_LDX | BPF_W | BPF_LEN, 0), SN_BPF_TXA(), SN_BPF_RET_A()};
    CHECK_EQ(sn_filter_run(len, 2, bytes16, 1500, 16), 1500);
    CHECK_EQ(sn_filter_run(lenx, 3, bytes16, 1514, 16), 1514);
}

SN_TEST(filter_run_alu)
{
    struct { uint16_t op; uint32_t a, x, want; } t[] = {
        {BPF_ADD, 7, 5, 12}, {BPF_SUB, 5, 7, 0xfffffffe}, {BPF_MUL, 0x10000, 0x10000, 0},
        {BPF_DIV, 17, 5, 3}, {BPF_MOD, 17, 5, 2}, {BPF_AND, 0xf0f0, 0xff00, 0xf000},
        {BPF_OR, 0xf0, 0x0f, 0xff}, {BPF_XOR, 0xff, 0x0f, 0xf0}, {BPF_LSH, 1, 31, 0x80000000},
        {BPF_RSH, 0x80000000, 31, 1}, {BPF_LSH, 1, 32, 0}, {BPF_RSH, 1, 40, 0},
    };
    for (size_t i = 0; i < SN_COUNTOF(t); i++) {
        struct sock_filter px[] = {SN_BPF_LD_IMM(t[i].a), SN_BPF_LDX_IMM(t[i].x), SN_BPF_ALU_X(t[i].op),
                                   SN_BPF_RET_A()};
        CHECK_EQ(run1(px, 4), t[i].want);
        if (t[i].x < 32 || (t[i].op != BPF_LSH && t[i].op != BPF_RSH)) {
            struct sock_filter pk[] = {SN_BPF_LD_IMM(t[i].a), SN_BPF_ALU_K(t[i].op, t[i].x), SN_BPF_RET_A()};
            CHECK_EQ(run1(pk, 3), t[i].want);
        }
    }
    struct sock_filter neg[] = {SN_BPF_LD_IMM(1), SN_BPF_NEG(), SN_BPF_RET_A()};
    CHECK_EQ(run1(neg, 3), 0xffffffff);
}

SN_TEST(filter_run_division_by_x_zero_drops)
{
    struct sock_filter div[] = {SN_BPF_LD_IMM(9), SN_BPF_LDX_IMM(0), SN_BPF_ALU_X(BPF_DIV), SN_BPF_RET(77)};
    struct sock_filter mod[] = {SN_BPF_LD_IMM(9), SN_BPF_LDX_IMM(0), SN_BPF_ALU_X(BPF_MOD), SN_BPF_RET(77)};
    CHECK_EQ(run1(div, 4), 0);
    CHECK_EQ(run1(mod, 4), 0);
}

SN_TEST(filter_run_jumps)
{
    /* ret 1 if A (= p[1] = 1) relation k else ret 2 */
    struct { uint16_t op; uint32_t k; uint32_t want; } t[] = {
        {BPF_JEQ, 1, 1}, {BPF_JEQ, 2, 2}, {BPF_JGT, 0, 1}, {BPF_JGT, 1, 2}, {BPF_JGE, 1, 1},
        {BPF_JGE, 2, 2}, {BPF_JSET, 3, 1}, {BPF_JSET, 2, 2},
    };
    for (size_t i = 0; i < SN_COUNTOF(t); i++) {
        struct sock_filter pk[] = {SN_BPF_LDB_ABS(1), SN_BPF_JUMP(BPF_JMP | t[i].op | BPF_K, t[i].k, 0, 1),
                                   SN_BPF_RET(1), SN_BPF_RET(2)};
        struct sock_filter px[] = {SN_BPF_LDB_ABS(1), SN_BPF_LDX_IMM(t[i].k),
                                   SN_BPF_JUMP(BPF_JMP | t[i].op | BPF_X, 0, 0, 1), SN_BPF_RET(1), SN_BPF_RET(2)};
        CHECK_EQ(run1(pk, 4), t[i].want);
        CHECK_EQ(run1(px, 5), t[i].want);
    }
    struct sock_filter ja[] = {SN_BPF_JA(1), SN_BPF_RET(1), SN_BPF_RET(2)};
    CHECK_EQ(run1(ja, 3), 2);
}

SN_TEST(filter_run_memory)
{
    struct sock_filter p[] = {SN_BPF_LD_IMM(42), SN_BPF_ST(5), SN_BPF_LDX_IMM(7), SN_BPF_STX(6),
                              SN_BPF_LD_MEM(6), SN_BPF_LDX_MEM(5), SN_BPF_ALU_X(BPF_ADD), SN_BPF_RET_A()};
    CHECK_EQ(run1(p, NOPS(p)), 49);
}

SN_TEST(filter_run_unverified_programs_cannot_fault)
{
    struct sock_filter jump_out[] = {SN_BPF_JEQ(0, 200, 200)};
    struct sock_filter ja_out[] = {SN_BPF_JA(0xffffffff), SN_BPF_RET(1)};
    struct sock_filter bad_op[] = {SN_BPF_STMT(0xff, 0), SN_BPF_RET(1)};
    struct sock_filter mem_oob[] = {SN_BPF_ST(1000), SN_BPF_RET(1)};
    struct sock_filter falls_off[] = {SN_BPF_LD_IMM(1)};
    struct sock_filter divk0[] = {SN_BPF_ALU_K(BPF_DIV, 0), SN_BPF_RET(1)};
    struct sock_filter lsh99[] = {SN_BPF_LD_IMM(1), SN_BPF_ALU_K(BPF_LSH, 99), SN_BPF_RET_A()};
    CHECK_EQ(run1(jump_out, 1), 0);
    CHECK_EQ(run1(ja_out, 2), 0);
    CHECK_EQ(run1(bad_op, 2), 0);
    CHECK_EQ(run1(mem_oob, 2), 0);
    CHECK_EQ(run1(falls_off, 1), 0);
    CHECK_EQ(run1(divk0, 2), 0);
    CHECK_EQ(run1(lsh99, 3), 0);
    CHECK_EQ(sn_filter_run(NULL, 1, bytes16, 16, 16), 0);
    struct sock_filter r[] = {SN_BPF_RET(5)};
    CHECK_EQ(sn_filter_run(r, 1, NULL, 0, 0), 5); /* an empty packet is fine */
}

/* ======================================================================
 * printer: libpcap's bpf_image
 * ====================================================================== */

static const char *fmt1(struct sock_filter f, unsigned idx)
{
    static char line[128];
    sn_filter_fmt(&f, idx, line, sizeof line);
    return line;
}

SN_TEST(filter_fmt_like_tcpdump)
{
    CHECK_STR(fmt1(SN_BPF_LDH_ABS(12), 0), "(000) ldh      [12]");
    CHECK_STR(fmt1(SN_BPF_JEQ(0x800, 0, 3), 1), "(001) jeq      #0x800           jt 2\tjf 5");
    CHECK_STR(fmt1(SN_BPF_RET(262144), 4), "(004) ret      #262144");
    CHECK_STR(fmt1(SN_BPF_LDX_MSH(14), 14), "(014) ldxb     4*([14]&0xf)");
    CHECK_STR(fmt1(SN_BPF_LDH_IND(14), 15), "(015) ldh      [x + 14]");
    CHECK_STR(fmt1(SN_BPF_JSET(0x1fff, 8, 0), 13), "(013) jset     #0x1fff          jt 22\tjf 14");
    CHECK_STR(fmt1(SN_BPF_TAX(), 21), "(021) tax      ");
    CHECK_STR(fmt1(SN_BPF_NEG(), 9), "(009) neg      ");
    CHECK_STR(fmt1(SN_BPF_LD_LEN(), 0), "(000) ld       #pktlen");
    CHECK_STR(fmt1(SN_BPF_LD_IMM(2), 2), "(002) ld       #0x2");
    CHECK_STR(fmt1(SN_BPF_ST(0), 3), "(003) st       M[0]");
    CHECK_STR(fmt1(SN_BPF_LDX_MEM(2), 11), "(011) ldx      M[2]");
    CHECK_STR(fmt1(SN_BPF_JUMP(BPF_JMP | BPF_JGT | BPF_X, 0, 0, 1), 11), "(011) jgt      x                jt 12\tjf 13");
    CHECK_STR(fmt1(SN_BPF_ALU_X(BPF_SUB), 13), "(013) sub      x");
    CHECK_STR(fmt1(SN_BPF_ALU_X(BPF_MOD), 26), "(026) mod      x");
    CHECK_STR(fmt1(SN_BPF_ALU_K(BPF_AND, 0xf0), 1), "(001) and      #0xf0");
    CHECK_STR(fmt1(SN_BPF_ALU_K(BPF_ADD, 3), 1), "(001) add      #3");
    CHECK_STR(fmt1(SN_BPF_JA(3), 10), "(010) ja       14");
    CHECK_STR(fmt1(SN_BPF_LDB_ABS((uint32_t)(SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT)), 0), "(000) ldb      [-4048]");
    CHECK_STR(fmt1(SN_BPF_STMT(0xff, 0), 7), "(007) unimp    0xff");
    char small[8];
    struct sock_filter ldh = SN_BPF_LDH_ABS(12);
    int need = sn_filter_fmt(&ldh, 0, small, sizeof small);
    CHECK_EQ(need, 19);
    CHECK_STR(small, "(000) l");
}

/* ======================================================================
 * compiler: programs as `tcpdump -O -d` prints them (captured from
 * tcpdump 4.99.3 / libpcap 1.10.3)
 * ====================================================================== */

static const char *dump_flags(const char *expr, uint32_t lt, unsigned flags)
{
    static char text[16384];
    static struct sock_filter prog[SN_FILTER_MAXINSNS];
    struct sn_filter_err e;
    int n = sn_filter_compile_flags(expr, lt, 0, flags, prog, SN_COUNTOF(prog), &e);
    size_t off = 0;
    if (n < 0) {
        snprintf(text, sizeof text, "error %d at %d: %s", n, e.pos, e.msg);
        return text;
    }
    for (int i = 0; i < n && off < sizeof text - 100; i++) {
        off += (size_t)sn_filter_fmt(&prog[i], (unsigned)i, text + off, sizeof text - off);
        text[off++] = '\n';
        text[off] = 0;
    }
    return text;
}

/* Compare program texts; on a difference name the first line that differs. */
#define CHECK_TEXT(got, want)                                                            \
    do {                                                                                 \
        const char *g_ = (got), *w_ = (want);                                            \
        if (strcmp(g_, w_) != 0) {                                                       \
            char m_[300];                                                                \
            size_t i_ = 0, l_ = 0;                                                       \
            while (g_[i_] && g_[i_] == w_[i_]) {                                         \
                if (g_[i_] == '\n')                                                      \
                    l_ = i_ + 1;                                                         \
                i_++;                                                                    \
            }                                                                            \
            snprintf(m_, sizeof m_, "line differs: got \"%.60s\" want \"%.60s\"",         \
                     g_ + l_, w_ + l_);                                                  \
            sn_test_fail(__FILE__, __LINE__, m_);                                        \
            return;                                                                      \
        }                                                                                \
    } while (0)

/* unoptimized: what `tcpdump -O -d` prints */
static const char *dump(const char *expr, uint32_t lt) { return dump_flags(expr, lt, SN_FILTER_NO_OPTIMIZE); }
/* optimized: what `tcpdump -d` prints */
static const char *dumpo(const char *expr, uint32_t lt) { return dump_flags(expr, lt, 0); }

SN_TEST(filter_compile_matches_tcpdump_text)
{
    CHECK_TEXT(dump("ip", SN_LINKTYPE_ETHERNET),
              "(000) ldh      [12]\n"
              "(001) jeq      #0x800           jt 2\tjf 3\n"
              "(002) ret      #262144\n"
              "(003) ret      #0\n");
    CHECK_TEXT(dump("tcp port 80", SN_LINKTYPE_ETHERNET),
              "(000) ldh      [12]\n"
              "(001) jeq      #0x86dd          jt 2\tjf 8\n"
              "(002) ldb      [20]\n"
              "(003) jeq      #0x6             jt 4\tjf 8\n"
              "(004) ldh      [54]\n"
              "(005) jeq      #0x50            jt 20\tjf 6\n"
              "(006) ldh      [56]\n"
              "(007) jeq      #0x50            jt 20\tjf 8\n"
              "(008) ldh      [12]\n"
              "(009) jeq      #0x800           jt 10\tjf 21\n"
              "(010) ldb      [23]\n"
              "(011) jeq      #0x6             jt 12\tjf 21\n"
              "(012) ldh      [20]\n"
              "(013) jset     #0x1fff          jt 21\tjf 14\n"
              "(014) ldxb     4*([14]&0xf)\n"
              "(015) ldh      [x + 14]\n"
              "(016) jeq      #0x50            jt 20\tjf 17\n"
              "(017) ldxb     4*([14]&0xf)\n"
              "(018) ldh      [x + 16]\n"
              "(019) jeq      #0x50            jt 20\tjf 21\n"
              "(020) ret      #262144\n"
              "(021) ret      #0\n");
    CHECK_TEXT(dump("tcp", SN_LINKTYPE_ETHERNET),
              "(000) ldh      [12]\n"
              "(001) jeq      #0x800           jt 2\tjf 4\n"
              "(002) ldb      [23]\n"
              "(003) jeq      #0x6             jt 12\tjf 4\n"
              "(004) ldh      [12]\n"
              "(005) jeq      #0x86dd          jt 6\tjf 13\n"
              "(006) ldb      [20]\n"
              "(007) jeq      #0x6             jt 12\tjf 8\n"
              "(008) ldb      [20]\n"
              "(009) jeq      #0x2c            jt 10\tjf 13\n"
              "(010) ldb      [54]\n"
              "(011) jeq      #0x6             jt 12\tjf 13\n"
              "(012) ret      #262144\n"
              "(013) ret      #0\n");
    CHECK_TEXT(dump("vlan 100 and ip", SN_LINKTYPE_ETHERNET),
              "(000) ldh      [12]\n"
              "(001) jeq      #0x8100          jt 6\tjf 2\n"
              "(002) ldh      [12]\n"
              "(003) jeq      #0x88a8          jt 6\tjf 4\n"
              "(004) ldh      [12]\n"
              "(005) jeq      #0x9100          jt 6\tjf 12\n"
              "(006) ldh      [14]\n"
              "(007) and      #0xfff\n"
              "(008) jeq      #0x64            jt 9\tjf 12\n"
              "(009) ldh      [16]\n"
              "(010) jeq      #0x800           jt 11\tjf 12\n"
              "(011) ret      #262144\n"
              "(012) ret      #0\n");
    CHECK_TEXT(dump("ip[2:2] > 100", SN_LINKTYPE_ETHERNET),
              "(000) ldh      [12]\n"
              "(001) jeq      #0x800           jt 2\tjf 13\n"
              "(002) ld       #0x2\n"
              "(003) st       M[0]\n"
              "(004) ldx      M[0]\n"
              "(005) ldh      [x + 14]\n"
              "(006) st       M[1]\n"
              "(007) ld       #0x64\n"
              "(008) st       M[2]\n"
              "(009) ldx      M[2]\n"
              "(010) ld       M[1]\n"
              "(011) jgt      x                jt 12\tjf 13\n"
              "(012) ret      #262144\n"
              "(013) ret      #0\n");
    CHECK_TEXT(dump("less 100", SN_LINKTYPE_ETHERNET),
              "(000) ld       #pktlen\n"
              "(001) jgt      #0x64            jt 2\tjf 3\n"
              "(002) ret      #0\n"
              "(003) ret      #262144\n");
    CHECK_TEXT(dump("ip", SN_LINKTYPE_RAW),
              "(000) ldb      [0]\n"
              "(001) and      #0xf0\n"
              "(002) jeq      #0x40            jt 3\tjf 4\n"
              "(003) ret      #262144\n"
              "(004) ret      #0\n");
    CHECK_TEXT(dump("arp", SN_LINKTYPE_RAW),
              "(000) ld       #0x1\n"
              "(001) jeq      #0x0             jt 2\tjf 3\n"
              "(002) ret      #262144\n"
              "(003) ret      #0\n");
    CHECK_TEXT(dump("", SN_LINKTYPE_ETHERNET), "(000) ret      #262144\n");
    CHECK_TEXT(dump("  \t", SN_LINKTYPE_RAW), "(000) ret      #262144\n");
}

/* The optimizer (libpcap's, pass for pass): what `tcpdump -d` prints. */
SN_TEST(filter_compile_optimized_matches_tcpdump_text)
{
    CHECK_TEXT(dumpo("tcp port 80", SN_LINKTYPE_ETHERNET),
               "(000) ldh      [12]\n"
               "(001) jeq      #0x86dd          jt 2\tjf 8\n"
               "(002) ldb      [20]\n"
               "(003) jeq      #0x6             jt 4\tjf 19\n"
               "(004) ldh      [54]\n"
               "(005) jeq      #0x50            jt 18\tjf 6\n"
               "(006) ldh      [56]\n"
               "(007) jeq      #0x50            jt 18\tjf 19\n"
               "(008) jeq      #0x800           jt 9\tjf 19\n"
               "(009) ldb      [23]\n"
               "(010) jeq      #0x6             jt 11\tjf 19\n"
               "(011) ldh      [20]\n"
               "(012) jset     #0x1fff          jt 19\tjf 13\n"
               "(013) ldxb     4*([14]&0xf)\n"
               "(014) ldh      [x + 14]\n"
               "(015) jeq      #0x50            jt 18\tjf 16\n"
               "(016) ldh      [x + 16]\n"
               "(017) jeq      #0x50            jt 18\tjf 19\n"
               "(018) ret      #262144\n"
               "(019) ret      #0\n");
    CHECK_TEXT(dumpo("host 1.2.3.4", SN_LINKTYPE_ETHERNET),
               "(000) ldh      [12]\n"
               "(001) jeq      #0x800           jt 2\tjf 6\n"
               "(002) ld       [26]\n"
               "(003) jeq      #0x1020304       jt 12\tjf 4\n"
               "(004) ld       [30]\n"
               "(005) jeq      #0x1020304       jt 12\tjf 13\n"
               "(006) jeq      #0x806           jt 8\tjf 7\n"
               "(007) jeq      #0x8035          jt 8\tjf 13\n"
               "(008) ld       [28]\n"
               "(009) jeq      #0x1020304       jt 12\tjf 10\n"
               "(010) ld       [38]\n"
               "(011) jeq      #0x1020304       jt 12\tjf 13\n"
               "(012) ret      #262144\n"
               "(013) ret      #0\n");
    /* constants folded into the load: ip[2:2] */
    CHECK_TEXT(dumpo("ip[2:2] > 100", SN_LINKTYPE_ETHERNET),
               "(000) ldh      [12]\n"
               "(001) jeq      #0x800           jt 2\tjf 5\n"
               "(002) ldh      [16]\n"
               "(003) jgt      #0x64            jt 4\tjf 5\n"
               "(004) ret      #262144\n"
               "(005) ret      #0\n");
    /* tcp[13]: the constant moved into the indexed load, "and; jeq #0" become jset */
    CHECK_TEXT(dumpo("tcp[13] & 2 != 0", SN_LINKTYPE_ETHERNET),
               "(000) ldh      [12]\n"
               "(001) jeq      #0x800           jt 2\tjf 10\n"
               "(002) ldb      [23]\n"
               "(003) jeq      #0x6             jt 4\tjf 10\n"
               "(004) ldh      [20]\n"
               "(005) jset     #0x1fff          jt 10\tjf 6\n"
               "(006) ldxb     4*([14]&0xf)\n"
               "(007) ldb      [x + 27]\n"
               "(008) jset     #0x2             jt 9\tjf 10\n"
               "(009) ret      #262144\n"
               "(010) ret      #0\n");
    CHECK_TEXT(dumpo("vlan 100 and ip", SN_LINKTYPE_ETHERNET),
               "(000) ldh      [12]\n"
               "(001) jeq      #0x8100          jt 4\tjf 2\n"
               "(002) jeq      #0x88a8          jt 4\tjf 3\n"
               "(003) jeq      #0x9100          jt 4\tjf 10\n"
               "(004) ldh      [14]\n"
               "(005) and      #0xfff\n"
               "(006) jeq      #0x64            jt 7\tjf 10\n"
               "(007) ldh      [16]\n"
               "(008) jeq      #0x800           jt 9\tjf 10\n"
               "(009) ret      #262144\n"
               "(010) ret      #0\n");
    /* tcpdump: "expression rejects all packets"; we give the program that does so */
    CHECK_TEXT(dumpo("tcp and udp", SN_LINKTYPE_ETHERNET), "(000) ret      #0\n");
}

/* The optimizer changes which packets a program keeps when they are cut short:
 * "tcp or not arp" is true for every IPv4 packet, so the optimized program never
 * loads the protocol byte, and a frame cut before it is kept (tcpdump keeps it
 * too); the unoptimized program loads it and drops the frame. */
SN_TEST(filter_compile_optimizer_and_truncation)
{
    static const uint8_t frame[] = {
        0x02, 0x00, 0x5e, 0x10, 0x00, 0x02, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x01, 0x08, 0x00,
        0x45, 0x00, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, /* cut here: 22 bytes */
    };
    struct sock_filter opt[64], raw[64];
    int no = sn_filter_compile("tcp or not arp", SN_LINKTYPE_ETHERNET, 0, opt, 64, NULL);
    int nr = sn_filter_compile_flags("tcp or not arp", SN_LINKTYPE_ETHERNET, 0, SN_FILTER_NO_OPTIMIZE, raw, 64,
                                     NULL);
    CHECK(no > 0 && nr > no);
    CHECK(sn_filter_run(opt, (unsigned)no, frame, 54, sizeof frame) != 0);
    CHECK_EQ(sn_filter_run(raw, (unsigned)nr, frame, 54, sizeof frame), 0);
}

/* ether[-13]: the optimizer folds the index into a load at 0xfffffff3, which
 * libpcap's interpreter treats as past the packet (drop) and the kernel would
 * refuse as an unknown ancillary load: the compiler writes the drop itself. */
SN_TEST(filter_compile_negative_offsets)
{
    struct sock_filter prog[64];
    uint8_t pkt[64] = {0};
    int n = sn_filter_compile("ether[-tcpflags] = 0 or ip", SN_LINKTYPE_ETHERNET, 0, prog, 64, NULL);
    CHECK(n > 0);
    CHECK_EQ(sn_filter_verify(prog, (unsigned)n, NULL), 0);
    CHECK_EQ(prog[0].code, BPF_RET | BPF_K);
    CHECK_EQ(prog[0].k, 0);
    CHECK_EQ(sn_filter_run(prog, (unsigned)n, pkt, sizeof pkt, sizeof pkt), 0);
    int fd = udp_socket();
    if (fd >= 0) {
        CHECK_EQ(sn_filter_attach(fd, prog, (unsigned)n), 0);
        close(fd);
    }
    /* unoptimized, the offset stays in X and libpcap's bounds check drops it too */
    n = sn_filter_compile_flags("ether[-tcpflags] = 0", SN_LINKTYPE_ETHERNET, 0, SN_FILTER_NO_OPTIMIZE, prog, 64,
                                NULL);
    CHECK(n > 0);
    CHECK_EQ(sn_filter_run(prog, (unsigned)n, pkt, sizeof pkt, sizeof pkt), 0);
}

/* "1 + 2 % 3 ^ 4 | 5 & 6 > 0": % and ^ have no precedence in grammar.y, so it is
 * 1 + (2 % (3 ^ (4 | (5 & 6)))), registers M[0..6] as libpcap hands them out. */
SN_TEST(filter_compile_arith_precedence_as_yacc)
{
    const char *t = dump("1 + 2 % 3 ^ 4 | 5 & 6 > 0", SN_LINKTYPE_ETHERNET);
    CHECK(strstr(t, "(014) and      x\n") != NULL);
    CHECK(strstr(t, "(018) or       x\n") != NULL);
    CHECK(strstr(t, "(022) xor      x\n") != NULL);
    CHECK(strstr(t, "(026) mod      x\n") != NULL);
    CHECK(strstr(t, "(030) add      x\n") != NULL);
    CHECK(strstr(t, "(036) jgt      x                jt 37\tjf 38\n") != NULL);
    /* -1 % 2 is -(1 % 2); -1 + 2 is (-1) + 2 */
    t = dump("-1 % 2 = 0", SN_LINKTYPE_ETHERNET);
    CHECK(strstr(t, "(006) mod      x\n(007) st       M[1]\n(008) ld       M[1]\n(009) neg") != NULL);
    t = dump("-1 + 2 = 0", SN_LINKTYPE_ETHERNET);
    CHECK(strstr(t, "(002) ld       M[0]\n(003) neg      \n") != NULL);
}

/* ======================================================================
 * compiler on packets built with the wire module
 * ====================================================================== */

static const uint8_t mac1[6] = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x01};
static const uint8_t mac2[6] = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x02};
static const uint8_t a1[4] = {198, 18, 0, 1}, a2[4] = {198, 18, 0, 2};
static const uint8_t v1[4] = {198, 18, 100, 1}, v2[4] = {198, 18, 100, 2};
static const uint8_t s1[16] = {0x20, 0x01, 0, 2, [15] = 1}, s2[16] = {0x20, 0x01, 0, 2, [15] = 2};

struct tpkt {
    uint8_t b[200];
    uint32_t caplen, wirelen;
};
enum { P_ARP, P_ICMP, P_TCP, P_UDP, P_TCP6, P_ICMP6, P_FRAG6, P_VLAN, P_FRAG4, P_OPTS, P_CUT, P_QINQ, NPKT };
static struct tpkt pk[NPKT];

static size_t put_eth(uint8_t *p, uint16_t type)
{
    struct sn_eth_repr e = {.type = type};
    memcpy(e.dst, mac2, 6);
    memcpy(e.src, mac1, 6);
    return (size_t)sn_eth_emit(&e, p, 14);
}

static size_t put_vlan(uint8_t *p, uint16_t vid, uint16_t type)
{
    struct sn_vlan_repr v = {.vid = vid, .type = type};
    return (size_t)sn_vlan_emit(&v, p, 4);
}

/* IPv4 header then an L4 emitted by fn; returns the bytes written. */
static size_t put_ipv4(uint8_t *p, const uint8_t *src, const uint8_t *dst, uint8_t proto, const uint8_t *l4,
                       size_t l4len, uint16_t frag_off, const uint8_t *opts, uint8_t optlen)
{
    struct sn_ipv4_repr ip = {.ttl = 64, .proto = proto, .payload_len = (uint16_t)l4len, .frag_off = frag_off,
                              .opts = opts, .opts_len = optlen};
    memcpy(ip.src, src, 4);
    memcpy(ip.dst, dst, 4);
    int h = sn_ipv4_emit(&ip, p, 60);
    memcpy(p + h, l4, l4len);
    return (size_t)h + l4len;
}

static size_t put_ipv6(uint8_t *p, uint8_t nxt, const uint8_t *l4, size_t l4len)
{
    struct sn_ipv6_repr ip = {.next_header = nxt, .hop_limit = 64, .payload_len = (uint16_t)l4len};
    memcpy(ip.src, s1, 16);
    memcpy(ip.dst, s2, 16);
    sn_ipv6_emit(&ip, p, 40);
    memcpy(p + 40, l4, l4len);
    return 40 + l4len;
}

static size_t mk_tcp(uint8_t *p, uint16_t sport, uint16_t dport, uint16_t flags, int v6)
{
    struct sn_tcp_repr t = {.sport = sport, .dport = dport, .seq = 1, .flags = flags, .window = 1000};
    struct sn_ipaddrs ip4 = {4, a1, a2}, ip6 = {6, s1, s2};
    return (size_t)sn_tcp_emit(&t, v6 ? &ip6 : &ip4, p, 60);
}

static size_t mk_udp(uint8_t *p, uint16_t sport, uint16_t dport)
{
    static const uint8_t pay[4] = {1, 2, 3, 4};
    struct sn_udp_repr u = {.sport = sport, .dport = dport, .payload = pay, .payload_len = 4};
    return (size_t)sn_udp_emit(&u, NULL, p, 40);
}

static size_t mk_icmp(uint8_t *p)
{
    static const uint8_t data[8] = {0};
    struct sn_icmp4_repr r = {.type = SN_ICMP_ECHO, .id = 1, .seq = 1, .data = data, .data_len = 8};
    return (size_t)sn_icmp4_emit(&r, p, 40);
}

static void build_packets(void)
{
    uint8_t l4[100];
    size_t n, h;
    struct tpkt *t;

    /* ARP request: who has 198.18.0.2, tell 198.18.0.1 */
    t = &pk[P_ARP];
    h = put_eth(t->b, SN_ETHERTYPE_ARP);
    struct sn_arp_repr arp = {.op = SN_ARP_REQUEST};
    memcpy(arp.sha, mac1, 6);
    memcpy(arp.spa, a1, 4);
    memcpy(arp.tpa, a2, 4);
    h += (size_t)sn_arp_emit(&arp, t->b + h, 28);
    t->caplen = t->wirelen = (uint32_t)h;

    t = &pk[P_ICMP]; /* 198.18.0.1 > 198.18.0.2 echo request */
    h = put_eth(t->b, SN_ETHERTYPE_IPV4);
    n = mk_icmp(l4);
    h += put_ipv4(t->b + h, a1, a2, SN_IPPROTO_ICMP, l4, n, 0, NULL, 0);
    t->caplen = t->wirelen = (uint32_t)h;

    t = &pk[P_TCP]; /* 198.18.0.1.40000 > 198.18.0.2.80 SYN */
    h = put_eth(t->b, SN_ETHERTYPE_IPV4);
    n = mk_tcp(l4, 40000, 80, SN_TCP_SYN, 0);
    h += put_ipv4(t->b + h, a1, a2, SN_IPPROTO_TCP, l4, n, 0, NULL, 0);
    t->caplen = t->wirelen = (uint32_t)h;

    t = &pk[P_UDP]; /* 198.18.0.1.5353 > 198.18.0.2.53 */
    h = put_eth(t->b, SN_ETHERTYPE_IPV4);
    n = mk_udp(l4, 5353, 53);
    h += put_ipv4(t->b + h, a1, a2, SN_IPPROTO_UDP, l4, n, 0, NULL, 0);
    t->caplen = t->wirelen = (uint32_t)h;

    t = &pk[P_TCP6]; /* 2001:2::1.40000 > 2001:2::2.443 ACK */
    h = put_eth(t->b, SN_ETHERTYPE_IPV6);
    n = mk_tcp(l4, 40000, 443, SN_TCP_ACK, 1);
    h += put_ipv6(t->b + h, SN_IPPROTO_TCP, l4, n);
    t->caplen = t->wirelen = (uint32_t)h;

    t = &pk[P_ICMP6]; /* echo request with 64 bytes of data: 126 bytes on the wire */
    h = put_eth(t->b, SN_ETHERTYPE_IPV6);
    {
        static const uint8_t data[64] = {0};
        struct sn_icmp6_repr r = {.type = SN_ICMP6_ECHO, .id = 1, .seq = 1, .data = data, .data_len = 64};
        struct sn_ipaddrs ip6 = {6, s1, s2};
        n = (size_t)sn_icmp6_emit(&r, &ip6, l4, sizeof l4);
    }
    h += put_ipv6(t->b + h, SN_IPPROTO_ICMPV6, l4, n);
    t->caplen = t->wirelen = (uint32_t)h;

    t = &pk[P_FRAG6]; /* IPv6, fragment header (first fragment), TCP to port 80 */
    h = put_eth(t->b, SN_ETHERTYPE_IPV6);
    sn_ipv6_frag_emit(SN_IPPROTO_TCP, 0, 1, 7, l4, 8);
    n = 8 + mk_tcp(l4 + 8, 40000, 80, SN_TCP_SYN, 1);
    h += put_ipv6(t->b + h, SN_IPPROTO_FRAGMENT, l4, n);
    t->caplen = t->wirelen = (uint32_t)h;

    t = &pk[P_VLAN]; /* vlan 100, 198.18.100.1.5000 > 198.18.100.2.9999 */
    h = put_eth(t->b, SN_ETHERTYPE_VLAN);
    h += put_vlan(t->b + h, 100, SN_ETHERTYPE_IPV4);
    n = mk_udp(l4, 5000, 9999);
    h += put_ipv4(t->b + h, v1, v2, SN_IPPROTO_UDP, l4, n, 0, NULL, 0);
    t->caplen = t->wirelen = (uint32_t)h;

    t = &pk[P_FRAG4]; /* a non-first IPv4 fragment of TCP whose bytes look like port 80 */
    h = put_eth(t->b, SN_ETHERTYPE_IPV4);
    n = mk_tcp(l4, 80, 80, SN_TCP_SYN, 0);
    h += put_ipv4(t->b + h, a1, a2, SN_IPPROTO_TCP, l4, n, 185, NULL, 0);
    t->caplen = t->wirelen = (uint32_t)h;

    t = &pk[P_OPTS]; /* IHL 6 (4 bytes of options), 40001 > 8080 SYN */
    h = put_eth(t->b, SN_ETHERTYPE_IPV4);
    n = mk_tcp(l4, 40001, 8080, SN_TCP_SYN, 0);
    {
        static const uint8_t opts[4] = {1, 1, 1, 0};
        h += put_ipv4(t->b + h, a1, a2, SN_IPPROTO_TCP, l4, n, 0, opts, 4);
    }
    t->caplen = t->wirelen = (uint32_t)h;

    t = &pk[P_CUT]; /* TCP 40000 > 80 captured up to the source port only */
    h = put_eth(t->b, SN_ETHERTYPE_IPV4);
    n = mk_tcp(l4, 40000, 80, SN_TCP_SYN, 0);
    h += put_ipv4(t->b + h, a1, a2, SN_IPPROTO_TCP, l4, n, 0, NULL, 0);
    t->wirelen = (uint32_t)h;
    t->caplen = 14 + 20 + 2;

    t = &pk[P_QINQ]; /* 802.1ad 200, 802.1Q 100, ICMP echo */
    h = put_eth(t->b, SN_ETHERTYPE_QINQ);
    h += put_vlan(t->b + h, 200, SN_ETHERTYPE_VLAN);
    h += put_vlan(t->b + h, 100, SN_ETHERTYPE_IPV4);
    n = mk_icmp(l4);
    h += put_ipv4(t->b + h, a1, a2, SN_IPPROTO_ICMP, l4, n, 0, NULL, 0);
    t->caplen = t->wirelen = (uint32_t)h;
}

/* The set of packets an expression selects, one bit per packet. */
static int selects(const char *expr, uint32_t *mask)
{
    static struct sock_filter prog[SN_FILTER_MAXINSNS];
    struct sn_filter_err e;
    int n = sn_filter_compile(expr, SN_LINKTYPE_ETHERNET, 0, prog, SN_COUNTOF(prog), &e);
    if (n < 0) {
        fprintf(stderr, "compile '%s': %s\n", expr, e.msg);
        return n;
    }
    *mask = 0;
    for (int i = 0; i < NPKT; i++)
        if (sn_filter_run(prog, (unsigned)n, pk[i].b, pk[i].wirelen, pk[i].caplen))
            *mask |= 1u << i;
    return 0;
}

#define B(x) (1u << (x))

SN_TEST(filter_compile_selects_packets)
{
    static const struct { const char *expr; uint32_t want; } t[] = {
        {"ip", B(P_ICMP) | B(P_TCP) | B(P_UDP) | B(P_FRAG4) | B(P_OPTS) | B(P_CUT)},
        {"ip6", B(P_TCP6) | B(P_ICMP6) | B(P_FRAG6)},
        {"arp", B(P_ARP)},
        {"not ip and not ip6", B(P_ARP) | B(P_VLAN) | B(P_QINQ)},
        /* "tcp" checks the protocol field only: fragments count; IPv6 after a fragment header too */
        {"tcp", B(P_TCP) | B(P_TCP6) | B(P_FRAG6) | B(P_FRAG4) | B(P_OPTS) | B(P_CUT)},
        {"ip6 and tcp", B(P_TCP6) | B(P_FRAG6)},
        {"udp", B(P_UDP)},
        {"icmp", B(P_ICMP)},
        {"icmp6", B(P_ICMP6)},
        /* ports: not in non-first fragments, not behind IPv6 extension headers, 4*IHL honoured,
         * and a load past the capture drops the packet */
        {"tcp port 80", B(P_TCP)},
        {"tcp dst port 80", B(P_TCP)},
        {"tcp src port 40000", B(P_TCP) | B(P_TCP6) | B(P_CUT)},
        {"tcp port 8080", B(P_OPTS)},
        {"port 53", B(P_UDP)},
        {"tcp port 443", B(P_TCP6)},
        {"portrange 40000-40010", B(P_TCP) | B(P_TCP6) | B(P_OPTS) | B(P_CUT)},
        {"port 53 or port 443", B(P_UDP) | B(P_TCP6)},
        {"port 53 or 443", B(P_UDP) | B(P_TCP6)},
        {"vlan 100 and udp port 9999", B(P_VLAN)},
        {"vlan and vlan 100 and icmp", B(P_QINQ)},
        {"vlan 200", B(P_QINQ)},
        {"vlan and net 198.18.100.0/24", B(P_VLAN)},
        /* host: IPv4 source/destination and ARP sender/target */
        {"host 198.18.0.1", B(P_ARP) | B(P_ICMP) | B(P_TCP) | B(P_UDP) | B(P_FRAG4) | B(P_OPTS) | B(P_CUT)},
        {"src host 198.18.0.2", 0},
        {"dst host 198.18.0.2", B(P_ARP) | B(P_ICMP) | B(P_TCP) | B(P_UDP) | B(P_FRAG4) | B(P_OPTS) | B(P_CUT)},
        {"host 2001:2::2", B(P_TCP6) | B(P_ICMP6) | B(P_FRAG6)},
        {"net 2001:2::/48", B(P_TCP6) | B(P_ICMP6) | B(P_FRAG6)},
        {"net 198.18.0.0/16 and not arp", B(P_ICMP) | B(P_TCP) | B(P_UDP) | B(P_FRAG4) | B(P_OPTS) | B(P_CUT)},
        {"ether src 02:00:5e:10:00:01", (1u << NPKT) - 1},
        {"ether host 02:00:5e:10:00:02 and ether dst 02:00:5e:10:00:01", 0},
        {"tcp[tcpflags] & tcp-syn != 0", B(P_TCP) | B(P_OPTS)},
        {"tcp[13] = 0x10", 0},
        {"ip6[6] = 6 and ip6[53] & 0x10 = 0x10", B(P_TCP6)},
        {"icmp[icmptype] = icmp-echo", B(P_ICMP)},
        {"icmp6[icmp6type] = icmp6-echo", B(P_ICMP6)},
        {"ip proto 6 and ip[6:2] & 0x1fff != 0", B(P_FRAG4)},
        {"ip proto 17", B(P_UDP)},
        {"proto 58", B(P_ICMP6)},
        {"ip6 proto 6", B(P_TCP6) | B(P_FRAG6)},
        {"arp[6:2] = 1", B(P_ARP)},
        {"ether proto 0x88a8", B(P_QINQ)},
        {"greater 100", B(P_ICMP6)},
        {"len > 100", B(P_ICMP6)},
        {"less 60", ((1u << NPKT) - 1) & ~(B(P_TCP6) | B(P_ICMP6) | B(P_FRAG6))}, /* wire lengths <= 60 */
        {"less 53", B(P_ARP) | B(P_ICMP) | B(P_UDP) | B(P_VLAN)},
        {"ip[0] & 0xf = 6", B(P_OPTS)},
        {"ip[2:2] - ((ip[0] & 0xf) << 2) = 20", B(P_TCP) | B(P_FRAG4) | B(P_CUT) | B(P_OPTS)},
        {"broadcast", 0},
        {"ether multicast", 0},
    };
    build_packets();
    for (size_t i = 0; i < SN_COUNTOF(t); i++) {
        uint32_t got;
        CHECK_EQ(selects(t[i].expr, &got), 0);
        if (got != t[i].want) {
            char m[200];
            snprintf(m, sizeof m, "'%s' selects 0x%x, want 0x%x", t[i].expr, got, t[i].want);
            sn_test_fail(__FILE__, __LINE__, m);
            return;
        }
    }
}

SN_TEST(filter_compile_raw_ip)
{
    static struct sock_filter prog[SN_FILTER_MAXINSNS];
    build_packets();
    /* The same packets without their 14-byte Ethernet header. */
    int n = sn_filter_compile("tcp port 80 or icmp6", SN_LINKTYPE_RAW, 0, prog, SN_COUNTOF(prog), NULL);
    CHECK(n > 0);
    CHECK(sn_filter_run(prog, (unsigned)n, pk[P_TCP].b + 14, pk[P_TCP].wirelen - 14, pk[P_TCP].caplen - 14));
    CHECK(sn_filter_run(prog, (unsigned)n, pk[P_ICMP6].b + 14, pk[P_ICMP6].wirelen - 14, pk[P_ICMP6].caplen - 14));
    CHECK(!sn_filter_run(prog, (unsigned)n, pk[P_UDP].b + 14, pk[P_UDP].wirelen - 14, pk[P_UDP].caplen - 14));
    n = sn_filter_compile("host 198.18.0.2", SN_LINKTYPE_RAW, 0, prog, SN_COUNTOF(prog), NULL);
    CHECK(n > 0);
    CHECK(sn_filter_run(prog, (unsigned)n, pk[P_UDP].b + 14, pk[P_UDP].wirelen - 14, pk[P_UDP].caplen - 14));
    n = sn_filter_compile("arp", SN_LINKTYPE_RAW, 0, prog, SN_COUNTOF(prog), NULL);
    CHECK(n > 0);
    CHECK(!sn_filter_run(prog, (unsigned)n, pk[P_UDP].b + 14, pk[P_UDP].wirelen - 14, pk[P_UDP].caplen - 14));
    CHECK_EQ(sn_filter_compile("vlan", SN_LINKTYPE_RAW, 0, prog, SN_COUNTOF(prog), NULL), -EINVAL);
    CHECK_EQ(sn_filter_compile("ether host 1:2:3:4:5:6", SN_LINKTYPE_RAW, 0, prog, SN_COUNTOF(prog), NULL),
             -EINVAL);
}

SN_TEST(filter_compile_accept_length_is_snaplen)
{
    struct sock_filter prog[64];
    int n = sn_filter_compile("ip", SN_LINKTYPE_ETHERNET, 96, prog, 64, NULL);
    CHECK_EQ(n, 4);
    CHECK_EQ(prog[2].k, 96);
    build_packets();
    CHECK_EQ(sn_filter_run(prog, 4, pk[P_TCP].b, pk[P_TCP].wirelen, pk[P_TCP].caplen), 96);
    CHECK_EQ(sn_filter_run(prog, 4, pk[P_ARP].b, pk[P_ARP].wirelen, pk[P_ARP].caplen), 0);
}

SN_TEST(filter_compile_long_jumps)
{
    /* Branches further than 255 instructions go through an added ja, as in libpcap:
     * 41 hosts unoptimized, and 150 byte tests that stay long after optimizing
     * (tcpdump -d prints 22 ja for it). */
    static struct sock_filter prog[SN_FILTER_MAXINSNS];
    static char expr[4096];
    size_t off = 0;
    int n, nja = 0;
    for (int i = 1; i <= 40; i++)
        off += (size_t)snprintf(expr + off, sizeof expr - off, "%shost 10.0.0.%d", i > 1 ? " or " : "", i);
    off += (size_t)snprintf(expr + off, sizeof expr - off, " or host 198.18.0.2");
    n = sn_filter_compile_flags(expr, SN_LINKTYPE_ETHERNET, 0, SN_FILTER_NO_OPTIMIZE, prog, SN_COUNTOF(prog), NULL);
    CHECK(n > 256);
    CHECK_EQ(sn_filter_verify(prog, (unsigned)n, NULL), 0);
    for (int i = 0; i < n; i++)
        nja += prog[i].code == (BPF_JMP | BPF_JA);
    CHECK(nja > 0);
    build_packets();
    CHECK(sn_filter_run(prog, (unsigned)n, pk[P_TCP].b, pk[P_TCP].wirelen, pk[P_TCP].caplen));
    CHECK(!sn_filter_run(prog, (unsigned)n, pk[P_TCP6].b, pk[P_TCP6].wirelen, pk[P_TCP6].caplen));

    off = 0;
    for (int i = 1; i <= 150; i++)
        off += (size_t)snprintf(expr + off, sizeof expr - off, "%sether[%d:2] = %d", i > 1 ? " or " : "", 2 * i, i);
    n = sn_filter_compile(expr, SN_LINKTYPE_ETHERNET, 0, prog, SN_COUNTOF(prog), NULL);
    CHECK_EQ(n, 324);
    nja = 0;
    for (int i = 0; i < n; i++)
        nja += prog[i].code == (BPF_JMP | BPF_JA);
    CHECK_EQ(nja, 22);
    uint8_t pkt[400] = {0};
    pkt[2] = 0;
    pkt[3] = 1; /* ether[2:2] = 1: the first test */
    CHECK(sn_filter_run(prog, (unsigned)n, pkt, sizeof pkt, sizeof pkt));
    pkt[3] = 0;
    pkt[300] = 0;
    pkt[301] = 150; /* ether[300:2] = 150: the last */
    CHECK(sn_filter_run(prog, (unsigned)n, pkt, sizeof pkt, sizeof pkt));
    pkt[301] = 151;
    CHECK(!sn_filter_run(prog, (unsigned)n, pkt, sizeof pkt, sizeof pkt));
    int fd = udp_socket();
    if (fd >= 0) {
        CHECK_EQ(sn_filter_attach(fd, prog, (unsigned)n), 0);
        close(fd);
    }
}

SN_TEST(filter_compile_too_big)
{
    static struct sock_filter prog[SN_FILTER_MAXINSNS];
    static char expr[16384];
    size_t off = 0;
    struct sn_filter_err e;
    for (int i = 1; i <= 100; i++)
        off += (size_t)snprintf(expr + off, sizeof expr - off, "%sport %d", i > 1 ? " or " : "", i);
    /* unoptimized: about 8000 instructions; optimized: 378 */
    CHECK_EQ(sn_filter_compile_flags(expr, SN_LINKTYPE_ETHERNET, 0, SN_FILTER_NO_OPTIMIZE, prog, SN_COUNTOF(prog),
                                     &e), -EMSGSIZE);
    CHECK(strstr(e.msg, "4096") != NULL);
    CHECK_EQ(sn_filter_compile(expr, SN_LINKTYPE_ETHERNET, 0, prog, SN_COUNTOF(prog), &e), 378);
    /* 1000 ports: 23000 blocks before optimizing, more than the optimizer takes */
    for (int i = 101; i <= 1000; i++)
        off += (size_t)snprintf(expr + off, sizeof expr - off, " or port %d", i);
    CHECK_EQ(sn_filter_compile(expr, SN_LINKTYPE_ETHERNET, 0, prog, SN_COUNTOF(prog), &e), -EMSGSIZE);
    CHECK(strstr(e.msg, "complex") != NULL);
    CHECK_EQ(sn_filter_compile("tcp port 80", SN_LINKTYPE_ETHERNET, 0, prog, 10, &e), -EMSGSIZE);
    CHECK_EQ(sn_filter_compile("ip", 12345, 0, prog, 10, &e), -EPROTONOSUPPORT);
}

/* Every program the compiler makes passes our verifier and the kernel's. */
SN_TEST(filter_compile_kernel_accepts)
{
    static const char *exprs[] = {
        "ip", "tcp port 80", "host 198.18.0.1 or 198.18.0.2", "vlan 100 and tcp", "tcp[tcpflags] & tcp-syn != 0",
        "ip[2:2] / 4 > 10 and len % 7 = 1", "icmp6[0] = 128", "net 2001:2::/48 and not udp",
        "ether host 02:00:5e:10:00:01", "portrange 1-1024", "-len + 5 * (ip[0] ^ 3) >> 2 != tcp[0]",
        "byte 1 & 2", "ip multicast or ip6 multicast or broadcast", "",
    };
    static struct sock_filter prog[SN_FILTER_MAXINSNS];
    int fd = udp_socket();
    if (fd < 0)
        SKIP("no UDP socket");
    for (size_t i = 0; i < SN_COUNTOF(exprs); i++) {
        for (unsigned fl = 0; fl <= SN_FILTER_NO_OPTIMIZE; fl++) {
            int n = sn_filter_compile_flags(exprs[i], SN_LINKTYPE_ETHERNET, 0, fl, prog, SN_COUNTOF(prog), NULL);
            CHECK(n > 0);
            CHECK_EQ(sn_filter_verify(prog, (unsigned)n, NULL), 0);
            CHECK_EQ(sn_filter_attach(fd, prog, (unsigned)n), 0);
        }
    }
    CHECK_EQ(sn_filter_detach(fd), 0);
    close(fd);
}

/* ======================================================================
 * errors: position and what was expected
 * ====================================================================== */

static int cerr(const char *expr, struct sn_filter_err *e)
{
    struct sock_filter prog[SN_FILTER_MAXINSNS];
    return sn_filter_compile(expr, SN_LINKTYPE_ETHERNET, 0, prog, SN_COUNTOF(prog), e);
}

#define CHECK_ERR(expr, pos_, word)                                                      \
    do {                                                                                 \
        struct sn_filter_err e_;                                                         \
        CHECK_EQ(cerr(expr, &e_), -EINVAL);                                              \
        CHECK_EQ(e_.pos, pos_);                                                          \
        if (!strstr(e_.msg, word)) {                                                     \
            char m_[300];                                                                \
            snprintf(m_, sizeof m_, "'%s': \"%s\" lacks \"%s\"", expr, e_.msg, word);     \
            sn_test_fail(__FILE__, __LINE__, m_);                                        \
            return;                                                                      \
        }                                                                                \
    } while (0)

SN_TEST(filter_errors_positions)
{
    CHECK_ERR("tcp port", 8, "port number");
    CHECK_ERR("host 1.2.3", 5, "net 1.2.3");
    CHECK_ERR("port 99999", 5, "99999 > 65535");
    CHECK_ERR("ip[", 3, "expected");
    CHECK_ERR("foo", 0, "foo");
    CHECK_ERR("tcp and", 7, "after 'and'");
    CHECK_ERR("(tcp", 4, "')'");
    CHECK_ERR("tcp)", 3, "')'");
    CHECK_ERR("ip[0:3] = 1", 5, "size must be 1, 2, or 4");
    CHECK_ERR("ip[0] / 0 = 1", 6, "division by zero");
    CHECK_ERR("ip[0] % 0 = 1", 6, "modulus by zero");
    CHECK_ERR("ip[0] << 32 = 1", 6, "shift by more than 31");
    CHECK_ERR("vlan 5000", 5, "4095");
    CHECK_ERR("len > 5-3", 6, "5-3");
    CHECK_ERR("1.2.3.4", 0, "qualifier");
    CHECK_ERR("net 1.2.3.4/24", 4, "non-network bits");
    CHECK_ERR("host 2001::/16", 5, "networks only");
    CHECK_ERR("ip6 host 1.2.3.4", 9, "'ip6' modifier");
    CHECK_ERR("tcp host 1.2.3.4", 9, "'tcp' modifier");
    CHECK_ERR("host 00:11:22:33:44:55", 5, "non-ether");
    CHECK_ERR("tcp 80", 4, "expected 'and', 'or'");
    CHECK_ERR("ip and 10", 7, "qualifier");
    CHECK_ERR("mpls", 0, "not supported");
    CHECK_ERR("host example.com", 5, "host names");
    CHECK_ERR("ip[0] = 09", 8, "octal");
    CHECK_ERR("ip[0] = 4294967296", 8, "32 bits");
    CHECK_ERR("ip $ 1", 3, "unexpected character");
    CHECK_ERR("src or 1.2.3.4", 7, "'dst'");
    CHECK_ERR("port 1.2.3.4", 5, "'port' modifier");
    CHECK_ERR("ah[0] = 1", 0, "index");
}

SN_TEST(filter_errors_never_crash_and_nest_bounded)
{
    static char deep[4096];
    struct sn_filter_err e;
    memset(deep, '(', 1000);
    strcpy(deep + 1000, "tcp");
    CHECK_EQ(cerr(deep, &e), -EINVAL);
    CHECK(strstr(e.msg, "nested") != NULL);
    memset(deep, '!', 3000);
    strcpy(deep + 3000, " tcp");
    CHECK_EQ(cerr(deep, &e), -EINVAL);
    size_t off = 0;
    for (int i = 0; i < 300; i++)
        off += (size_t)snprintf(deep + off, sizeof deep - off, "1 %% ");
    snprintf(deep + off, sizeof deep - off, "1 = 1");
    CHECK_EQ(cerr(deep, &e), -EINVAL);
    /* the empty expression accepts all; NULL too */
    struct sock_filter prog[4];
    CHECK_EQ(sn_filter_compile(NULL, SN_LINKTYPE_ETHERNET, 0, prog, 4, NULL), 1);
}
