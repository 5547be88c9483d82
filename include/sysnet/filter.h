/* sysnet/filter.h — classic BPF (cBPF): an instruction builder, a verifier with the
 * kernel's rules, an interpreter with libpcap's semantics, a compiler from tcpdump's
 * expression language (pcap-filter(7)) and a printer in `tcpdump -d` format.
 * The equivalent of libpcap's filter half (gencode.c, bpf_filter.c, bpf_image.c).
 *
 * Instructions are the kernel's own struct sock_filter (<linux/filter.h>), so a
 * program goes straight to setsockopt(SO_ATTACH_FILTER) or a PACKET_MMAP ring:
 *
 *   struct sock_filter prog[SN_FILTER_MAXINSNS];
 *   struct sn_filter_err err;
 *   int n = sn_filter_compile("tcp port 80 and host 198.18.0.1", SN_LINKTYPE_ETHERNET,
 *                             0, prog, SN_COUNTOF(prog), &err);
 *   if (n < 0) { fprintf(stderr, "at byte %d: %s\n", err.pos, err.msg); return n; }
 *   for (each packet)
 *       if (sn_filter_run(prog, n, pkt, wirelen, caplen)) keep(pkt);
 *   for (unsigned i = 0; i < (unsigned)n; i++) {            // what `tcpdump -d` prints
 *       char line[96]; sn_filter_fmt(&prog[i], i, line, sizeof line); puts(line);
 *   }
 *
 * What the compiler accepts (linktypes SN_LINKTYPE_ETHERNET and SN_LINKTYPE_RAW):
 *   ether host|src|dst MAC · [ip|arp|rarp|ip6] [src|dst|src or dst|src and dst]
 *   host A (IPv4 or IPv6; a bare IPv4 host also matches ARP and RARP) · net A/LEN,
 *   net A mask M, net A (1 to 3 dotted parts, or a number) · [tcp|udp|sctp]
 *   [src|dst] port N · portrange A-B · ip ip6 arp rarp tcp udp sctp icmp icmp6
 *   igmp igrp pim vrrp carp ah esp · ip proto N · ip6 proto N · proto N ·
 *   ether proto N · vlan [ID] · len OP N · greater N · less N · byte N OP V ·
 *   [ether|ip|ip6] broadcast/multicast · PROTO[expr] and PROTO[expr:size] (ether
 *   ip ip6 arp rarp tcp udp sctp icmp icmp6 igmp igrp pim vrrp carp; size 1 2 4)
 *   with + - * / % & | ^ << >> and unary minus, relations = == != < <= > >=,
 *   and/&& or/|| not/!, parentheses, tcpdump's abbreviations ("host A or B",
 *   "tcp port 80 or 443", "port 53 and not host X"), named constants (tcpflags,
 *   tcp-fin .. tcp-cwr, icmptype, icmpcode, icmp-echo .., icmp6type, icmp6code,
 *   icmp6-echo ..). Numbers are decimal, 0x hex or leading-0 octal.
 * The grammar is libpcap's, quirks included: "and" and "or" have the same
 * precedence and group left to right; in arithmetic | < & < << >> < + - < * /
 * < unary minus, and % and ^ have no precedence at all (yacc shifts on them:
 * "1 + 2 % 3 ^ 4" is 1 + (2 % (3 ^ 4))); each "vlan" moves the offsets of
 * everything after it by 4 bytes.
 * The generated code is libpcap 1.10's: the same loads in the same order, then
 * libpcap's optimizer, pass for pass, so a program selects exactly the packets
 * tcpdump selects, truncated ones included (a load past the capture drops a
 * packet, and the optimizer removes loads that no path needs).
 * Not supported (a clear error naming the word): host and network names (no
 * resolver), gateway, protochain, decnet, iso/osi/atalk/ipx/netbeui/stp, mpls,
 * pppoed/pppoes, geneve, llc, 802.11 and ATM/SS7 keywords, inbound/outbound/
 * ifindex (they need a live capture), "host 1.2.3" (tcpdump reads it as
 * 1.2.3.0/24: write "net 1.2.3"). Limits: 65536 bytes of expression, nesting 128
 * deep (parentheses, not, arithmetic), 8192 blocks of code before optimizing.
 *
 * Ownership and allocation: the caller owns every program array. sn_filter_compile
 * allocates temporary memory (malloc) while it works and frees it before returning;
 * nothing else here allocates. sn_filter_run is the per-packet hot path: no
 * allocation, no state, at most n instructions executed (jumps only go forward).
 *
 * Errors: negative errno; -EINVAL for a program the verifier rejects or an
 * expression that does not compile (err says where and why), -EMSGSIZE when the
 * output array is too small or the program would exceed SN_FILTER_MAXINSNS,
 * -EPROTONOSUPPORT for a linktype the compiler does not know, -ENOMEM.
 *
 * Thread rules: every function is pure and thread-safe. Attaching needs no
 * privilege (any socket may carry a filter).
 */
#ifndef SYSNET_FILTER_H
#define SYSNET_FILTER_H

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>
#include <sysnet/base.h>
#include <sysnet/wire.h> /* SN_LINKTYPE_ETHERNET, SN_LINKTYPE_RAW */

#ifdef __cplusplus
extern "C" {
#endif

#define SN_FILTER_MAXINSNS 4096   /* BPF_MAXINSNS: the kernel's limit */
#define SN_FILTER_MEMWORDS 16     /* BPF_MEMWORDS: scratch memory M[0..15] */
#define SN_FILTER_SNAPLEN 262144u /* what an accepting compiled program returns by default
                                     (libpcap's MAXIMUM_SNAPLEN, as `tcpdump -d` prints) */

/* ---- building instructions ------------------------------------------------
 * The kernel's BPF_STMT/BPF_JUMP as expressions you can put in an array or
 * assign, plus short names for the common shapes. */
#define SN_BPF_STMT(code, k) \
    ((struct sock_filter){ (uint16_t)(code), 0, 0, (uint32_t)(k) })
#define SN_BPF_JUMP(code, k, jt, jf) \
    ((struct sock_filter){ (uint16_t)(code), (uint8_t)(jt), (uint8_t)(jf), (uint32_t)(k) })

#define SN_BPF_LDB_ABS(k)   SN_BPF_STMT(BPF_LD | BPF_B | BPF_ABS, k)  /* A = P[k:1] */
#define SN_BPF_LDH_ABS(k)   SN_BPF_STMT(BPF_LD | BPF_H | BPF_ABS, k)  /* A = P[k:2] */
#define SN_BPF_LDW_ABS(k)   SN_BPF_STMT(BPF_LD | BPF_W | BPF_ABS, k)  /* A = P[k:4] */
#define SN_BPF_LDB_IND(k)   SN_BPF_STMT(BPF_LD | BPF_B | BPF_IND, k)  /* A = P[X+k:1] */
#define SN_BPF_LDH_IND(k)   SN_BPF_STMT(BPF_LD | BPF_H | BPF_IND, k)  /* A = P[X+k:2] */
#define SN_BPF_LDW_IND(k)   SN_BPF_STMT(BPF_LD | BPF_W | BPF_IND, k)  /* A = P[X+k:4] */
#define SN_BPF_LD_IMM(k)    SN_BPF_STMT(BPF_LD | BPF_IMM, k)          /* A = k */
#define SN_BPF_LD_LEN()     SN_BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0)  /* A = wire length */
#define SN_BPF_LD_MEM(i)    SN_BPF_STMT(BPF_LD | BPF_MEM, i)          /* A = M[i] */
#define SN_BPF_LDX_IMM(k)   SN_BPF_STMT(BPF_LDX | BPF_W | BPF_IMM, k) /* X = k */
#define SN_BPF_LDX_MEM(i)   SN_BPF_STMT(BPF_LDX | BPF_W | BPF_MEM, i) /* X = M[i] */
#define SN_BPF_LDX_MSH(k)   SN_BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, k) /* X = 4*(P[k]&0xf) */
#define SN_BPF_ST(i)        SN_BPF_STMT(BPF_ST, i)                    /* M[i] = A */
#define SN_BPF_STX(i)       SN_BPF_STMT(BPF_STX, i)                   /* M[i] = X */
#define SN_BPF_ALU_K(op, k) SN_BPF_STMT(BPF_ALU | (op) | BPF_K, k)    /* A = A op k */
#define SN_BPF_ALU_X(op)    SN_BPF_STMT(BPF_ALU | (op) | BPF_X, 0)    /* A = A op X */
#define SN_BPF_NEG()        SN_BPF_STMT(BPF_ALU | BPF_NEG, 0)         /* A = -A */
#define SN_BPF_TAX()        SN_BPF_STMT(BPF_MISC | BPF_TAX, 0)        /* X = A */
#define SN_BPF_TXA()        SN_BPF_STMT(BPF_MISC | BPF_TXA, 0)        /* A = X */
#define SN_BPF_JA(k)        SN_BPF_STMT(BPF_JMP | BPF_JA, k)          /* skip k */
#define SN_BPF_JEQ(k, t, f) SN_BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k, t, f)
#define SN_BPF_JGT(k, t, f) SN_BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, k, t, f)
#define SN_BPF_JGE(k, t, f) SN_BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, k, t, f)
#define SN_BPF_JSET(k, t, f) SN_BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, k, t, f)
#define SN_BPF_RET(k)       SN_BPF_STMT(BPF_RET | BPF_K, k)           /* accept k bytes (0 drop) */
#define SN_BPF_RET_A()      SN_BPF_STMT(BPF_RET | BPF_A, 0)           /* accept A bytes */

/* Where and why something was rejected. */
struct sn_filter_err {
    int pos;       /* compile: byte offset in the expression (its length = at the end);
                      verify: index of the offending instruction; -1 if not tied to one */
    char msg[160]; /* one line, e.g. "expected a port number after 'port'" */
};

/* ---- verifier ---------------------------------------------------------------
 * The kernel's rules (net/core/filter.c: bpf_check_classic + check_load_and_stores):
 * 1 <= n <= SN_FILTER_MAXINSNS; every opcode one the kernel knows; no division or
 * modulo by a constant 0; M[] indexes < 16 and every M[i] written on every path
 * before it is read; jumps land inside the program (forward only, by construction
 * of the encoding: ja's 32-bit k included); the last instruction a RET.
 * Returns 0 or -EINVAL (err, if not NULL, names the instruction and the rule). */
int sn_filter_verify(const struct sock_filter *p, unsigned n, struct sn_filter_err *err);

/* ---- interpreter (libpcap's bpf_filter) --------------------------------------
 * Runs p over one packet: pkt holds caplen bytes; wirelen is what BPF_LEN loads.
 * Returns the accept length (0 = drop). A load beyond caplen returns 0 at once, and
 * so does a division or modulo by X == 0; so do things the verifier rejects
 * (a jump out of the program, an M[] index >= 16, an unknown opcode, running off
 * the end), so an unverified program cannot fault — but only verified programs
 * mean what libpcap would make of them. M[] starts zeroed. */
uint32_t sn_filter_run(const struct sock_filter *p, unsigned n, const uint8_t *pkt,
                       uint32_t wirelen, uint32_t caplen);

/* ---- compiler ----------------------------------------------------------------
 * Compile a pcap-filter(7) expression for a capture of the given linktype
 * (SN_LINKTYPE_ETHERNET or SN_LINKTYPE_RAW) into out[0..cap), optimized as
 * libpcap optimizes (tcpdump's default, so the program is the one `tcpdump -d`
 * prints). An empty expression (or only blanks) accepts every packet, as tcpdump
 * does; an expression that can select nothing gives "ret #0" (tcpdump refuses it
 * with "expression rejects all packets"). Accepting paths return snaplen
 * (0 = SN_FILTER_SNAPLEN). Returns the number of instructions (>= 1), or -EINVAL
 * with err filled (pos = byte offset of the offending token, -1 when no token is
 * to blame, msg says what was expected), -EPROTONOSUPPORT for another linktype,
 * -EMSGSIZE when cap is too small, the program exceeds SN_FILTER_MAXINSNS or the
 * expression is too complex to optimize, -ENOMEM. err may be NULL. The result
 * always passes sn_filter_verify() and the kernel's checker. Port, port-range and
 * protocol names (port http, ip proto \tcp) are looked up in /etc/services and
 * /etc/protocols as libpcap does; host and network names are not resolved.
 * Allocates temporary memory, freed before return. */
int sn_filter_compile(const char *expr, uint32_t linktype, uint32_t snaplen,
                      struct sock_filter *out, unsigned cap, struct sn_filter_err *err);

#define SN_FILTER_NO_OPTIMIZE 0x1u /* skip the optimizer: what `tcpdump -O -d` prints */
/* The same with flags (SN_FILTER_NO_OPTIMIZE). */
int sn_filter_compile_flags(const char *expr, uint32_t linktype, uint32_t snaplen, unsigned flags,
                            struct sock_filter *out, unsigned cap, struct sn_filter_err *err);

/* ---- printer (libpcap's bpf_image, what `tcpdump -d` prints) -------------------
 * One instruction, numbered idx: "(000) ldh      [12]",
 * "(001) jeq      #0x800           jt 2\tjf 5", "(004) ret      #262144".
 * Writes at most cap bytes including the NUL; returns the length the whole line
 * needs (as snprintf), so a result >= cap means it was cut. */
int sn_filter_fmt(const struct sock_filter *insn, unsigned idx, char *out, size_t cap);

/* ---- kernel -------------------------------------------------------------------
 * setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER / SO_DETACH_FILTER). No privilege
 * needed. Returns 0 or -errno from the kernel (-EINVAL: its checker refused). */
int sn_filter_attach(int fd, const struct sock_filter *p, unsigned n);
int sn_filter_detach(int fd);

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_FILTER_H */
