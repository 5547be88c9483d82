/* gen.c — the syntax tree to blocks of BPF code, with the code shapes of
 * libpcap 1.10's gencode.c: the same loads in the same order and the same
 * protocol checks, so a program selects exactly the packets tcpdump selects,
 * truncated ones included (a load past the capture ends a program with 0, so
 * the order of loads is part of the meaning). Shapes worth knowing:
 *   - "host A" tests IPv4 source, IPv4 destination, ARP sender and target,
 *     RARP sender and target, in that order;
 *   - "port N" tests IPv6 first (next header == proto, no extension headers),
 *     then IPv4 (protocol, not a non-first fragment, the port at 4*IHL) for
 *     SCTP, TCP and UDP; "tcp" alone also takes IPv6 with a fragment header;
 *   - tcp[...] etc. load at X + k with X = 4*([14]&0xf) and are guarded by
 *     "ip and tcp and not a non-first fragment"; ip[...] is relative to the
 *     network header; icmp6[...] to the fixed IPv6 header + 40;
 *   - each "vlan" moves the link-layer payload and type offsets by 4 for the
 *     rest of the expression;
 *   - arithmetic keeps every intermediate value in M[], registers handed out
 *     round robin; "a op b" drops b's protocol checks (as gencode.c does).
 * Errors (with the byte position of the term) longjmp out through fs_error. */
#include "filter_int.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JMP(c) ((c) | BPF_JMP | BPF_K)
#define ETHERMTU 1500
#define ETHERTYPE_IP 0x0800
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_REVARP 0x8035
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_8021Q 0x8100
#define ETHERTYPE_8021AD 0x88a8
#define ETHERTYPE_8021QINQ 0x9100
#define ETHERTYPE_ATALK 0x809b
#define ETHERTYPE_AARP 0x80f3
#define ETHERTYPE_IPX 0x8137
#define LLCSAP_IP 0x06
#define LLCSAP_ISONS 0xfe
#define LLCSAP_NETBEUI 0xf0
#define LLCSAP_IPX 0xe0
#define LLCSAP_SNAP 0xaa
#define PROTO_UNDEF (-1)
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_SCTP_ 132
#define IPPROTO_FRAGMENT_ 44

enum offrel { OR_LINKHDR, OR_LLC, OR_LINKPL, OR_LINKTYPE, OR_TRAN_IPV4, OR_TRAN_IPV6 };

/* ---- blocks and statements ---------------------------------------------------- */

static struct fstmt *new_stmt(struct fstate *fs, int code, uint32_t k)
{
    struct fstmt *s = fs_alloc(fs, sizeof *s);
    s->code = code;
    s->k = k;
    return s;
}

static struct fblock *new_block(struct fstate *fs, int code, uint32_t k)
{
    struct fblock *b = fs_alloc(fs, sizeof *b);
    b->s.code = code;
    b->s.k = k;
    b->head = b;
    return b;
}

struct fblock *fs_retblk(struct fstate *fs, uint32_t k)
{
    return new_block(fs, BPF_RET | BPF_K, k);
}

void fs_sappend(struct fstmt *s0, struct fstmt *s1)
{
    while (s0->next)
        s0 = s0->next;
    s0->next = s1;
}

/* The exits of an expression not yet joined to anything form lists threaded
 * through jt or jf; `sense` says which field of a block is the link. The
 * "true" list starts at the expression's last block, the "false" list too
 * once its sense is flipped. This is gencode.c's scheme (backpatch/merge). */
void fs_backpatch(struct fblock *list, struct fblock *target)
{
    while (list) {
        struct fblock *next;
        if (!list->sense) {
            next = JT(list);
            JT(list) = target;
        } else {
            next = JF(list);
            JF(list) = target;
        }
        list = next;
    }
}

static void merge(struct fblock *b0, struct fblock *b1)
{
    struct fblock **p = &b0;
    while (*p)
        p = !(*p)->sense ? &JT(*p) : &JF(*p);
    *p = b1;
}

/* b0 and b1: b0's true exits go to b1; the result is b1 (its head b0's). */
static void gen_and(struct fblock *b0, struct fblock *b1)
{
    fs_backpatch(b0, b1->head);
    b0->sense = !b0->sense;
    b1->sense = !b1->sense;
    merge(b1, b0);
    b1->sense = !b1->sense;
    b1->head = b0->head;
}

static void gen_or(struct fblock *b0, struct fblock *b1)
{
    b0->sense = !b0->sense;
    fs_backpatch(b0, b1->head);
    b0->sense = !b0->sense;
    merge(b1, b0);
    b1->head = b0->head;
}

static void gen_not(struct fblock *b) { b->sense = !b->sense; }

/* ---- loads and comparisons ----------------------------------------------------------- */

static struct fstmt *gen_loadx_iphdrlen(struct fstate *fs)
{
    return new_stmt(fs, BPF_LDX | BPF_MSH | BPF_B, fs->off_linkpl + fs->off_nl);
}

static struct fstmt *gen_load_a(struct fstate *fs, enum offrel rel, uint32_t off, int size)
{
    struct fstmt *s;
    switch (rel) {
    case OR_LINKHDR: return new_stmt(fs, BPF_LD | BPF_ABS | size, off);
    case OR_LLC: return new_stmt(fs, BPF_LD | BPF_ABS | size, fs->off_linkpl + off);
    case OR_LINKPL: return new_stmt(fs, BPF_LD | BPF_ABS | size, fs->off_linkpl + fs->off_nl + off);
    case OR_LINKTYPE: return new_stmt(fs, BPF_LD | BPF_ABS | size, fs->off_linktype + off);
    case OR_TRAN_IPV4:
        s = gen_loadx_iphdrlen(fs);
        fs_sappend(s, new_stmt(fs, BPF_LD | BPF_IND | size, fs->off_linkpl + fs->off_nl + off));
        return s;
    case OR_TRAN_IPV6:
        return new_stmt(fs, BPF_LD | BPF_ABS | size, fs->off_linkpl + fs->off_nl + 40 + off);
    }
    return NULL;
}

/* (field & mask) jtype v; reverse negates JGT/JGE (that is how < and <= are made) */
static struct fblock *gen_ncmp(struct fstate *fs, enum offrel rel, uint32_t off, int size,
                               uint32_t mask, int jtype, int reverse, uint32_t v)
{
    struct fstmt *s = gen_load_a(fs, rel, off, size);
    struct fblock *b;
    if (mask != 0xffffffffu)
        fs_sappend(s, new_stmt(fs, BPF_ALU | BPF_AND | BPF_K, mask));
    b = new_block(fs, JMP(jtype), v);
    b->stmts = s;
    if (reverse && (jtype == BPF_JGT || jtype == BPF_JGE))
        gen_not(b);
    return b;
}

static struct fblock *gen_cmp(struct fstate *fs, enum offrel rel, uint32_t off, int size, uint32_t v)
{
    return gen_ncmp(fs, rel, off, size, 0xffffffffu, BPF_JEQ, 0, v);
}
static struct fblock *gen_cmp_gt(struct fstate *fs, enum offrel rel, uint32_t off, int size, uint32_t v)
{
    return gen_ncmp(fs, rel, off, size, 0xffffffffu, BPF_JGT, 0, v);
}
static struct fblock *gen_cmp_ge(struct fstate *fs, enum offrel rel, uint32_t off, int size, uint32_t v)
{
    return gen_ncmp(fs, rel, off, size, 0xffffffffu, BPF_JGE, 0, v);
}
static struct fblock *gen_cmp_lt(struct fstate *fs, enum offrel rel, uint32_t off, int size, uint32_t v)
{
    return gen_ncmp(fs, rel, off, size, 0xffffffffu, BPF_JGE, 1, v);
}
static struct fblock *gen_cmp_le(struct fstate *fs, enum offrel rel, uint32_t off, int size, uint32_t v)
{
    return gen_ncmp(fs, rel, off, size, 0xffffffffu, BPF_JGT, 1, v);
}
static struct fblock *gen_mcmp(struct fstate *fs, enum offrel rel, uint32_t off, int size, uint32_t v,
                               uint32_t mask)
{
    return gen_ncmp(fs, rel, off, size, mask, BPF_JEQ, 0, v);
}

/* Compare `size` bytes: the last 4 first, then 2, then 1 (gencode.c's gen_bcmp). */
static struct fblock *gen_bcmp(struct fstate *fs, enum offrel rel, uint32_t off, uint32_t size,
                               const uint8_t *v)
{
    struct fblock *b = NULL, *tmp;
    while (size >= 4) {
        tmp = gen_cmp(fs, rel, off + size - 4, BPF_W, sn_load_be32(v + size - 4));
        if (b)
            gen_and(b, tmp);
        b = tmp;
        size -= 4;
    }
    while (size >= 2) {
        tmp = gen_cmp(fs, rel, off + size - 2, BPF_H, sn_load_be16(v + size - 2));
        if (b)
            gen_and(b, tmp);
        b = tmp;
        size -= 2;
    }
    if (size > 0) {
        tmp = gen_cmp(fs, rel, off, BPF_B, v[0]);
        if (b)
            gen_and(b, tmp);
        b = tmp;
    }
    return b;
}

/* Always true (rsense 1) or always false: ld #!rsense; jeq #0. */
static struct fblock *gen_uncond(struct fstate *fs, int rsense)
{
    struct fblock *b = new_block(fs, JMP(BPF_JEQ), 0);
    b->stmts = new_stmt(fs, BPF_LD | BPF_IMM, !rsense);
    return b;
}
static struct fblock *gen_false(struct fstate *fs) { return gen_uncond(fs, 0); }

/* ---- link layer ------------------------------------------------------------------------ */

static struct fblock *gen_snap(struct fstate *fs, uint32_t orgcode, uint32_t ptype)
{
    uint8_t snap[8] = {LLCSAP_SNAP, LLCSAP_SNAP, 0x03, (uint8_t)(orgcode >> 16), (uint8_t)(orgcode >> 8),
                       (uint8_t)orgcode, (uint8_t)(ptype >> 8), (uint8_t)ptype};
    return gen_bcmp(fs, OR_LLC, 0, 8, snap);
}

/* An Ethernet type (> 1500) or an 802.2 LLC SAP (<= 1500). */
static struct fblock *gen_ether_linktype(struct fstate *fs, uint32_t p)
{
    struct fblock *b0, *b1;
    switch (p) {
    case LLCSAP_ISONS:
    case LLCSAP_IP:
    case LLCSAP_NETBEUI:
        b0 = gen_cmp_gt(fs, OR_LINKTYPE, 0, BPF_H, ETHERMTU);
        gen_not(b0);
        b1 = gen_cmp(fs, OR_LLC, 0, BPF_H, (p << 8) | p);
        gen_and(b0, b1);
        return b1;
    case LLCSAP_IPX:
        b0 = gen_cmp(fs, OR_LLC, 0, BPF_B, LLCSAP_IPX);
        b1 = gen_cmp(fs, OR_LLC, 0, BPF_H, 0xffff);
        gen_or(b0, b1);
        b0 = gen_snap(fs, 0x000000, ETHERTYPE_IPX);
        gen_or(b0, b1);
        b0 = gen_cmp_gt(fs, OR_LINKTYPE, 0, BPF_H, ETHERMTU);
        gen_not(b0);
        gen_and(b0, b1);
        b0 = gen_cmp(fs, OR_LINKTYPE, 0, BPF_H, ETHERTYPE_IPX);
        gen_or(b0, b1);
        return b1;
    case ETHERTYPE_ATALK:
    case ETHERTYPE_AARP:
        b0 = gen_cmp_gt(fs, OR_LINKTYPE, 0, BPF_H, ETHERMTU);
        gen_not(b0);
        b1 = p == ETHERTYPE_ATALK ? gen_snap(fs, 0x080007, ETHERTYPE_ATALK) : gen_snap(fs, 0, ETHERTYPE_AARP);
        gen_and(b0, b1);
        b0 = gen_cmp(fs, OR_LINKTYPE, 0, BPF_H, p);
        gen_or(b0, b1);
        return b1;
    }
    if (p <= ETHERMTU) {
        b0 = gen_cmp_gt(fs, OR_LINKTYPE, 0, BPF_H, ETHERMTU);
        gen_not(b0);
        b1 = gen_cmp(fs, OR_LINKTYPE, 2, BPF_B, p);
        gen_and(b0, b1);
        return b1;
    }
    return gen_cmp(fs, OR_LINKTYPE, 0, BPF_H, p);
}

/* Raw IP has no type field: IPv4 and IPv6 are told by the version nibble. */
static struct fblock *gen_linktype(struct fstate *fs, uint32_t p)
{
    if (fs->linktype == SN_LINKTYPE_RAW) {
        if (p == ETHERTYPE_IP)
            return gen_mcmp(fs, OR_LINKHDR, 0, BPF_B, 0x40, 0xf0);
        if (p == ETHERTYPE_IPV6)
            return gen_mcmp(fs, OR_LINKHDR, 0, BPF_B, 0x60, 0xf0);
        return gen_false(fs);
    }
    return gen_ether_linktype(fs, p);
}

static const char *pname_str(int proto)
{
    switch (proto) {
    case K_LINK: return "link";
    case K_IP: return "ip";
    case K_IP6: return "ip6";
    case K_ARP: return "arp";
    case K_RARP: return "rarp";
    case K_SCTP: return "sctp";
    case K_TCP: return "tcp";
    case K_UDP: return "udp";
    case K_ICMP: return "icmp";
    case K_ICMP6: return "icmp6";
    case K_IGMP: return "igmp";
    case K_IGRP: return "igrp";
    case K_PIM: return "pim";
    case K_VRRP: return "vrrp";
    case K_CARP: return "carp";
    case K_AH: return "ah";
    case K_ESP: return "esp";
    }
    return "?";
}

/* ---- protocols ---------------------------------------------------------------------------- */

static struct fblock *gen_proto(struct fstate *fs, int pos, uint32_t v, int proto, int dir)
{
    struct fblock *b0, *b1, *b2;
    if (dir != Q_DEFAULT)
        fs_error(fs, pos, "direction applied to 'proto'");
    switch (proto) {
    case Q_DEFAULT:
        b0 = gen_proto(fs, pos, v, K_IP, dir);
        b1 = gen_proto(fs, pos, v, K_IP6, dir);
        gen_or(b0, b1);
        return b1;
    case K_LINK:
        return gen_linktype(fs, v);
    case K_IP:
        b0 = gen_linktype(fs, ETHERTYPE_IP);
        b1 = gen_cmp(fs, OR_LINKPL, 9, BPF_B, v);
        gen_and(b0, b1);
        return b1;
    case K_IP6:
        /* the next header, or the one after a fragment header */
        b0 = gen_linktype(fs, ETHERTYPE_IPV6);
        b2 = gen_cmp(fs, OR_LINKPL, 6, BPF_B, IPPROTO_FRAGMENT_);
        b1 = gen_cmp(fs, OR_LINKPL, 40, BPF_B, v);
        gen_and(b2, b1);
        b2 = gen_cmp(fs, OR_LINKPL, 6, BPF_B, v);
        gen_or(b2, b1);
        gen_and(b0, b1);
        return b1;
    case K_ARP:
    case K_RARP:
        fs_error(fs, pos, "%s does not encapsulate another protocol", pname_str(proto));
    }
    fs_error(fs, pos, "'%s proto' is bogus", pname_str(proto));
}

static struct fblock *gen_proto_abbrev(struct fstate *fs, int pos, int proto)
{
    switch (proto) {
    case K_SCTP: return gen_proto(fs, pos, 132, Q_DEFAULT, Q_DEFAULT);
    case K_TCP: return gen_proto(fs, pos, 6, Q_DEFAULT, Q_DEFAULT);
    case K_UDP: return gen_proto(fs, pos, 17, Q_DEFAULT, Q_DEFAULT);
    case K_ICMP: return gen_proto(fs, pos, 1, K_IP, Q_DEFAULT);
    case K_IGMP: return gen_proto(fs, pos, 2, K_IP, Q_DEFAULT);
    case K_IGRP: return gen_proto(fs, pos, 9, K_IP, Q_DEFAULT);
    case K_PIM: return gen_proto(fs, pos, 103, Q_DEFAULT, Q_DEFAULT);
    case K_VRRP: return gen_proto(fs, pos, 112, K_IP, Q_DEFAULT);
    case K_CARP: return gen_proto(fs, pos, 112, K_IP, Q_DEFAULT);
    case K_AH: return gen_proto(fs, pos, 51, Q_DEFAULT, Q_DEFAULT);
    case K_ESP: return gen_proto(fs, pos, 50, Q_DEFAULT, Q_DEFAULT);
    case K_ICMP6: return gen_proto(fs, pos, 58, K_IP6, Q_DEFAULT);
    case K_IP: return gen_linktype(fs, ETHERTYPE_IP);
    case K_ARP: return gen_linktype(fs, ETHERTYPE_ARP);
    case K_RARP: return gen_linktype(fs, ETHERTYPE_REVARP);
    case K_IP6: return gen_linktype(fs, ETHERTYPE_IPV6);
    }
    fs_error(fs, pos, "link layer applied in wrong context");
}

/* Not an IPv4 fragment other than the first: !(ip[6:2] & 0x1fff). */
static struct fblock *gen_ipfrag(struct fstate *fs)
{
    struct fblock *b = new_block(fs, JMP(BPF_JSET), 0x1fff);
    b->stmts = gen_load_a(fs, OR_LINKPL, 6, BPF_H);
    gen_not(b);
    return b;
}

/* ---- hosts and nets -------------------------------------------------------------------------- */

static struct fblock *gen_hostop(struct fstate *fs, uint32_t addr, uint32_t mask, int dir, uint32_t ll,
                                 uint32_t src_off, uint32_t dst_off)
{
    struct fblock *b0, *b1;
    uint32_t off;
    switch (dir) {
    case Q_SRC: off = src_off; break;
    case Q_DST: off = dst_off; break;
    case Q_AND:
        b0 = gen_hostop(fs, addr, mask, Q_SRC, ll, src_off, dst_off);
        b1 = gen_hostop(fs, addr, mask, Q_DST, ll, src_off, dst_off);
        gen_and(b0, b1);
        return b1;
    default:
        b0 = gen_hostop(fs, addr, mask, Q_SRC, ll, src_off, dst_off);
        b1 = gen_hostop(fs, addr, mask, Q_DST, ll, src_off, dst_off);
        gen_or(b0, b1);
        return b1;
    }
    b0 = gen_linktype(fs, ll);
    b1 = gen_mcmp(fs, OR_LINKPL, off, BPF_W, addr, mask);
    gen_and(b0, b1);
    return b1;
}

static struct fblock *gen_host(struct fstate *fs, int pos, uint32_t addr, uint32_t mask, int proto, int dir,
                               int type)
{
    struct fblock *b0, *b1;
    const char *typestr = type == Q_NET ? "net" : "host";
    switch (proto) {
    case Q_DEFAULT:
        b0 = gen_host(fs, pos, addr, mask, K_IP, dir, type);
        b1 = gen_host(fs, pos, addr, mask, K_ARP, dir, type);
        gen_or(b0, b1);
        b0 = gen_host(fs, pos, addr, mask, K_RARP, dir, type);
        gen_or(b1, b0);
        return b0;
    case K_LINK: fs_error(fs, pos, "link-layer modifier applied to %s", typestr);
    case K_IP: return gen_hostop(fs, addr, mask, dir, ETHERTYPE_IP, 12, 16);
    case K_RARP: return gen_hostop(fs, addr, mask, dir, ETHERTYPE_REVARP, 14, 24);
    case K_ARP: return gen_hostop(fs, addr, mask, dir, ETHERTYPE_ARP, 14, 24);
    case K_IP6: fs_error(fs, pos, "'ip6' modifier applied to ip host");
    }
    fs_error(fs, pos, "'%s' modifier applied to %s", pname_str(proto), typestr);
}

static struct fblock *gen_hostop6(struct fstate *fs, const uint8_t *a, const uint8_t *m, int dir,
                                  uint32_t src_off, uint32_t dst_off)
{
    struct fblock *b0, *b1;
    uint32_t off;
    switch (dir) {
    case Q_SRC: off = src_off; break;
    case Q_DST: off = dst_off; break;
    case Q_AND:
        b0 = gen_hostop6(fs, a, m, Q_SRC, src_off, dst_off);
        b1 = gen_hostop6(fs, a, m, Q_DST, src_off, dst_off);
        gen_and(b0, b1);
        return b1;
    default:
        b0 = gen_hostop6(fs, a, m, Q_SRC, src_off, dst_off);
        b1 = gen_hostop6(fs, a, m, Q_DST, src_off, dst_off);
        gen_or(b0, b1);
        return b1;
    }
    /* gencode.c: "this order is important" - the last word first */
    b1 = gen_mcmp(fs, OR_LINKPL, off + 12, BPF_W, sn_load_be32(a + 12), sn_load_be32(m + 12));
    b0 = gen_mcmp(fs, OR_LINKPL, off + 8, BPF_W, sn_load_be32(a + 8), sn_load_be32(m + 8));
    gen_and(b0, b1);
    b0 = gen_mcmp(fs, OR_LINKPL, off + 4, BPF_W, sn_load_be32(a + 4), sn_load_be32(m + 4));
    gen_and(b0, b1);
    b0 = gen_mcmp(fs, OR_LINKPL, off + 0, BPF_W, sn_load_be32(a), sn_load_be32(m));
    gen_and(b0, b1);
    b0 = gen_linktype(fs, ETHERTYPE_IPV6);
    gen_and(b0, b1);
    return b1;
}

static struct fblock *gen_host6(struct fstate *fs, int pos, const uint8_t *a, const uint8_t *m, int proto,
                                int dir, int type)
{
    const char *typestr = type == Q_NET ? "net" : "host";
    switch (proto) {
    case Q_DEFAULT:
    case K_IP6:
        return gen_hostop6(fs, a, m, dir, 8, 24);
    case K_LINK: fs_error(fs, pos, "link-layer modifier applied to ip6 %s", typestr);
    }
    fs_error(fs, pos, "'%s' modifier applied to ip6 %s", pname_str(proto), typestr);
}

static struct fblock *gen_ehostop(struct fstate *fs, const uint8_t *e, int dir)
{
    struct fblock *b0, *b1;
    switch (dir) {
    case Q_SRC: return gen_bcmp(fs, OR_LINKHDR, 6, 6, e);
    case Q_DST: return gen_bcmp(fs, OR_LINKHDR, 0, 6, e);
    case Q_AND:
        b0 = gen_ehostop(fs, e, Q_SRC);
        b1 = gen_ehostop(fs, e, Q_DST);
        gen_and(b0, b1);
        return b1;
    default:
        b0 = gen_ehostop(fs, e, Q_SRC);
        b1 = gen_ehostop(fs, e, Q_DST);
        gen_or(b0, b1);
        return b1;
    }
}

/* ---- ports ------------------------------------------------------------------------------------ */

static struct fblock *gen_portatom(struct fstate *fs, uint32_t off, uint32_t v)
{
    return gen_cmp(fs, OR_TRAN_IPV4, off, BPF_H, v);
}
static struct fblock *gen_portatom6(struct fstate *fs, uint32_t off, uint32_t v)
{
    return gen_cmp(fs, OR_TRAN_IPV6, off, BPF_H, v);
}

static struct fblock *gen_portrangeatom(struct fstate *fs, int v6, uint32_t off, uint32_t v1, uint32_t v2)
{
    struct fblock *b1, *b2;
    if (v1 > v2) {
        uint32_t t = v1;
        v1 = v2;
        v2 = t;
    }
    b1 = gen_cmp_ge(fs, v6 ? OR_TRAN_IPV6 : OR_TRAN_IPV4, off, BPF_H, v1);
    b2 = gen_cmp_le(fs, v6 ? OR_TRAN_IPV6 : OR_TRAN_IPV4, off, BPF_H, v2);
    gen_and(b1, b2);
    return b2;
}

/* One port (lo == hi, range 0) or a range, for one protocol, IPv4 or IPv6. */
static struct fblock *gen_portop(struct fstate *fs, int v6, int range, uint32_t lo, uint32_t hi,
                                 uint32_t proto, int dir)
{
    struct fblock *b0, *b1, *tmp;
    if (v6) {
        b0 = gen_cmp(fs, OR_LINKPL, 6, BPF_B, proto);
    } else {
        tmp = gen_cmp(fs, OR_LINKPL, 9, BPF_B, proto);
        b0 = gen_ipfrag(fs);
        gen_and(tmp, b0);
    }
#define ATOM(off) (range ? gen_portrangeatom(fs, v6, (off), lo, hi) \
                         : v6 ? gen_portatom6(fs, (off), lo) : gen_portatom(fs, (off), lo))
    switch (dir) {
    case Q_SRC: b1 = ATOM(0); break;
    case Q_DST: b1 = ATOM(2); break;
    case Q_AND:
        tmp = ATOM(0);
        b1 = ATOM(2);
        gen_and(tmp, b1);
        break;
    default:
        tmp = ATOM(0);
        b1 = ATOM(2);
        gen_or(tmp, b1);
        break;
    }
#undef ATOM
    gen_and(b0, b1);
    return b1;
}

static struct fblock *gen_port(struct fstate *fs, int v6, int range, uint32_t lo, uint32_t hi, int ip_proto,
                               int dir)
{
    struct fblock *b0, *b1, *tmp;
    b0 = gen_linktype(fs, v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IP);
    if (ip_proto == PROTO_UNDEF) {
        tmp = gen_portop(fs, v6, range, lo, hi, IPPROTO_TCP_, dir);
        b1 = gen_portop(fs, v6, range, lo, hi, IPPROTO_UDP_, dir);
        gen_or(tmp, b1);
        tmp = gen_portop(fs, v6, range, lo, hi, IPPROTO_SCTP_, dir);
        gen_or(tmp, b1);
    } else {
        b1 = gen_portop(fs, v6, range, lo, hi, (uint32_t)ip_proto, dir);
    }
    gen_and(b0, b1);
    return b1;
}

/* "port" and "portrange": IPv4, then IPv6 ORed in front of it. */
static struct fblock *gen_ports(struct fstate *fs, int range, uint32_t lo, uint32_t hi, int ip_proto, int dir)
{
    struct fblock *b = gen_port(fs, 0, range, lo, hi, ip_proto, dir);
    gen_or(gen_port(fs, 1, range, lo, hi, ip_proto, dir), b);
    return b;
}

/* ---- names: /etc/services and /etc/protocols, as libpcap looks them up ------------------------ */

static int nametoport(const char *name, int *port, int *proto)
{
    struct servent se, *res;
    char buf[1024];
    int tcp = -1, udp = -1;
    if (getservbyname_r(name, "tcp", &se, buf, sizeof buf, &res) == 0 && res)
        tcp = ntohs((uint16_t)res->s_port);
    if (getservbyname_r(name, "udp", &se, buf, sizeof buf, &res) == 0 && res)
        udp = ntohs((uint16_t)res->s_port);
    if (tcp >= 0) {
        *port = tcp;
        *proto = udp == tcp ? PROTO_UNDEF : IPPROTO_TCP_;
        return 1;
    }
    if (udp >= 0) {
        *port = udp;
        *proto = IPPROTO_UDP_;
        return 1;
    }
    return 0;
}

/* "N-M" (sscanf "%d-%d", as libpcap), else "name-name". */
static int nametoportrange(const char *name, int *p1, int *p2, int *proto)
{
    char *end;
    long a = strtol(name, &end, 10);
    if (end != name && *end == '-') {
        char *end2;
        long b = strtol(end + 1, &end2, 10);
        if (end2 != end + 1) {
            *p1 = a < -1 ? -1 : a > 0x7fffffff ? 0x7fffffff : (int)a;
            *p2 = b < -1 ? -1 : b > 0x7fffffff ? 0x7fffffff : (int)b;
            *proto = PROTO_UNDEF;
            return 1;
        }
    }
    char cpy[256];
    snprintf(cpy, sizeof cpy, "%s", name);
    char *dash = strchr(cpy, '-');
    int save;
    if (!dash)
        return 0;
    *dash = 0;
    if (!nametoport(cpy, p1, proto))
        return 0;
    save = *proto;
    if (!nametoport(dash + 1, p2, proto))
        return 0;
    if (*proto != save)
        *proto = PROTO_UNDEF;
    return 1;
}

static int lookup_proto(struct fstate *fs, int pos, const char *name, int proto)
{
    static const struct { const char *s; uint32_t v; } eproto[] = {
        {"aarp", 0x80f3}, {"arp", 0x0806}, {"atalk", 0x809b}, {"decnet", 0x6003}, {"ip", 0x0800},
        {"ip6", 0x86dd}, {"lat", 0x6004}, {"loopback", 0x9000}, {"mopdl", 0x6001}, {"moprc", 0x6002},
        {"rarp", 0x8035}, {"sca", 0x6007},
        /* LLC SAPs (pcap_nametollc) */
        {"iso", 0xfe}, {"stp", 0x42}, {"ipx", 0xe0}, {"netbeui", 0xf0},
    };
    switch (proto) {
    case Q_DEFAULT:
    case K_IP:
    case K_IP6: {
        struct protoent pe, *res;
        char buf[1024];
        if (getprotobyname_r(name, &pe, buf, sizeof buf, &res) == 0 && res)
            return res->p_proto;
        fs_error(fs, pos, "unknown ip proto '%s'", name);
    }
    case K_LINK:
        for (size_t i = 0; i < SN_COUNTOF(eproto); i++)
            if (!strcmp(eproto[i].s, name))
                return (int)eproto[i].v;
        fs_error(fs, pos, "unknown ether proto '%s'", name);
    }
    fs_error(fs, pos, "unknown protocol: %s", name);
}

/* ---- ids: what gen_ncode/gen_scode/gen_mcode/gen_mcode6/gen_ecode do ----------------------------- */

/* __pcap_atoin(): dotted decimal, 1 to 4 parts; the number of bits given. */
static int atoin(struct fstate *fs, const struct ftok *t, uint32_t *addr)
{
    uint32_t a = 0;
    int len = 0, i = 0;
    for (;;) {
        uint32_t n = 0;
        int digits = 0;
        while (i < t->text_len && t->text[i] != '.') {
            char c = t->text[i++];
            if (c < '0' || c > '9' || n > 25)
                fs_error(fs, t->pos, "invalid IPv4 address '%.*s'", t->text_len, t->text);
            n = n * 10 + (uint32_t)(c - '0');
            digits++;
        }
        if (n > 255 || !digits)
            fs_error(fs, t->pos, "invalid IPv4 address '%.*s'", t->text_len, t->text);
        a = a << 8 | n;
        len += 8;
        if (i >= t->text_len)
            break;
        i++;
    }
    *addr = a;
    return len;
}

static int port_proto(struct fstate *fs, int pos, int proto, const char *what)
{
    switch (proto) {
    case K_UDP: return IPPROTO_UDP_;
    case K_TCP: return IPPROTO_TCP_;
    case K_SCTP: return IPPROTO_SCTP_;
    case Q_DEFAULT: return PROTO_UNDEF;
    }
    fs_error(fs, pos, "illegal qualifier of '%s'", what);
}

_Noreturn static void syntax_noqual(struct fstate *fs, const struct fnode *n)
{
    fs_error(fs, n->pos,
             "'%.*s' needs a qualifier ('host', 'net', 'port' ...): the term before it gives none",
             n->t1 ? n->t1->len : 1, n->t1 ? fs->expr + n->t1->pos : "?");
}

static struct fblock *gen_ncode(struct fstate *fs, const struct fnode *n, const struct ftok *hid, uint32_t v)
{
    struct fqual q = n->q;
    int vlen = 32;
    uint32_t mask = 0xffffffffu;

    if (hid)
        vlen = atoin(fs, hid, &v);
    switch (q.addr) {
    case Q_DEFAULT:
    case Q_HOST:
    case Q_NET:
        if (q.proto == K_LINK)
            fs_error(fs, n->pos, "illegal link layer address");
        if (!hid && q.addr == Q_NET) {
            /* "net 10" is 10.0.0.0/8: promote a short network number */
            while (v && (v & 0xff000000u) == 0) {
                v <<= 8;
                mask <<= 8;
            }
        } else {
            if (hid && vlen < 32 && q.addr != Q_NET)
                fs_error(fs, n->pos,
                         "'%.*s' is not a whole IPv4 address (tcpdump reads it as the network "
                         "%.*s.0/%d; write 'net %.*s')",
                         hid->text_len, hid->text, hid->text_len, hid->text, vlen, hid->text_len, hid->text);
            if (vlen < 32) {
                v <<= 32 - vlen;
                mask <<= 32 - vlen;
            }
        }
        return gen_host(fs, n->pos, v, mask, q.proto, q.dir, q.addr);
    case Q_PORT:
    case Q_PORTRANGE: {
        int proto = port_proto(fs, n->pos, q.proto, q.addr == Q_PORT ? "port" : "portrange");
        if (v > 65535)
            fs_error(fs, n->pos, "illegal port number %u > 65535", v);
        return gen_ports(fs, q.addr == Q_PORTRANGE, v, v, proto, q.dir);
    }
    case Q_PROTO:
        return gen_proto(fs, n->pos, v, q.proto, q.dir);
    }
    syntax_noqual(fs, n);
}

static struct fblock *gen_mcode(struct fstate *fs, const struct fnode *n)
{
    uint32_t a, m;
    int alen = atoin(fs, n->t1, &a);
    if (alen < 32)
        a <<= 32 - alen;
    if (n->idkind == ID_HID_MASK) {
        int mlen = atoin(fs, n->t2, &m);
        if (mlen < 32)
            m <<= 32 - mlen;
        if (a & ~m)
            fs_error(fs, n->pos, "non-network bits set in \"%.*s mask %.*s\"", n->t1->text_len, n->t1->text,
                     n->t2->text_len, n->t2->text);
    } else {
        if (n->num2 > 32)
            fs_error(fs, n->t2->pos, "mask length must be <= 32");
        m = n->num2 == 0 ? 0 : 0xffffffffu << (32 - n->num2);
        if (a & ~m)
            fs_error(fs, n->pos, "non-network bits set in \"%.*s/%u\"", n->t1->text_len, n->t1->text, n->num2);
    }
    if (n->q.addr != Q_NET)
        fs_error(fs, n->pos, "Mask syntax for networks only");
    return gen_host(fs, n->pos, a, m, n->q.proto, n->q.dir, Q_NET);
}

static struct fblock *gen_mcode6(struct fstate *fs, const struct fnode *n)
{
    uint8_t m[16] = {0};
    const uint8_t *a = n->t1->addr6;
    uint32_t len = n->num2;
    if (len > 128)
        fs_error(fs, n->t2 ? n->t2->pos : n->pos, "mask length must be <= 128");
    memset(m, 0xff, len / 8);
    if (len % 8)
        m[len / 8] = (uint8_t)(0xff << (8 - len % 8));
    for (int i = 0; i < 16; i++)
        if (a[i] & ~m[i])
            fs_error(fs, n->pos, "non-network bits set in \"%.*s/%u\"", n->t1->len, fs->expr + n->t1->pos, len);
    switch (n->q.addr) {
    case Q_DEFAULT:
    case Q_HOST:
        if (len != 128)
            fs_error(fs, n->pos, "Mask syntax for networks only");
        /* fall through */
    case Q_NET:
        return gen_host6(fs, n->pos, a, m, n->q.proto, n->q.dir, n->q.addr);
    }
    fs_error(fs, n->pos, "invalid qualifier against IPv6 address");
}

static struct fblock *gen_scode(struct fstate *fs, const struct fnode *n)
{
    struct fqual q = n->q;
    char name[256];
    int port, port2, real;

    snprintf(name, sizeof name, "%.*s", n->t1->text_len, n->t1->text);
    switch (q.addr) {
    case Q_NET:
        fs_error(fs, n->pos, "network names are not supported ('%s'): write the number", name);
    case Q_DEFAULT:
    case Q_HOST:
        if (q.proto == K_LINK)
            fs_error(fs, n->pos, "ethernet host names are not supported ('%s'): write the MAC address", name);
        fs_error(fs, n->pos, "host names are not supported ('%s'): write the address", name);
    case Q_PORT:
    case Q_PORTRANGE: {
        const char *what = q.addr == Q_PORT ? "port" : "port in range";
        int want = port_proto(fs, n->pos, q.proto, q.addr == Q_PORT ? "port" : "portrange");
        int ok = q.addr == Q_PORT ? nametoport(name, &port, &real) : nametoportrange(name, &port, &port2, &real);
        if (!ok)
            fs_error(fs, n->pos, "unknown %s '%s'", what, name);
        if (want != PROTO_UNDEF) {
            if (real != PROTO_UNDEF && real != want)
                fs_error(fs, n->pos, "%s '%s' is %s", what, name,
                         real == IPPROTO_TCP_ ? "tcp" : real == IPPROTO_UDP_ ? "udp" : "sctp");
            real = want;
        }
        if (q.addr == Q_PORT)
            port2 = port;
        if (port < 0 || port2 < 0)
            fs_error(fs, n->pos, "illegal port number %d < 0", port < 0 ? port : port2);
        if (port > 65535 || port2 > 65535)
            fs_error(fs, n->pos, "illegal port number %d > 65535", port > 65535 ? port : port2);
        return gen_ports(fs, q.addr == Q_PORTRANGE, (uint32_t)port, (uint32_t)port2, real, q.dir);
    }
    case Q_PROTO:
        real = lookup_proto(fs, n->pos, name, q.proto);
        return gen_proto(fs, n->pos, (uint32_t)real, q.proto, q.dir);
    }
    syntax_noqual(fs, n);
}

static struct fblock *gen_id(struct fstate *fs, const struct fnode *n)
{
    switch (n->idkind) {
    case ID_NUM:
        return gen_ncode(fs, n, NULL, n->num);
    case ID_HID:
        if (n->q.addr == Q_PORT || n->q.addr == Q_PORTRANGE || n->q.addr == Q_PROTO)
            fs_error(fs, n->pos, "'%s' modifier applied to ip host",
                     n->q.addr == Q_PORT ? "port" : n->q.addr == Q_PORTRANGE ? "portrange" : "proto");
        return gen_ncode(fs, n, n->t1, 0);
    case ID_HID_LEN:
    case ID_HID_MASK:
        return gen_mcode(fs, n);
    case ID_HID6:
    case ID_HID6_LEN:
        return gen_mcode6(fs, n);
    case ID_EID:
        if ((n->q.addr == Q_HOST || n->q.addr == Q_DEFAULT) && n->q.proto == K_LINK) {
            if (fs->linktype != SN_LINKTYPE_ETHERNET)
                fs_error(fs, n->pos, "ethernet addresses supported only on ethernet");
            return gen_ehostop(fs, n->t1->mac, n->q.dir);
        }
        fs_error(fs, n->pos, "ethernet address used in non-ether expression");
    default:
        return gen_scode(fs, n);
    }
}

/* ---- arithmetic: every value lives in a scratch register --------------------------------------------- */

static int alloc_reg(struct fstate *fs, int pos)
{
    for (int n = 0; n < SN_FILTER_MEMWORDS; n++) {
        if (!fs->regused[fs->curreg]) {
            fs->regused[fs->curreg] = 1;
            return fs->curreg;
        }
        fs->curreg = (fs->curreg + 1) % SN_FILTER_MEMWORDS;
    }
    fs_error(fs, pos, "too many registers needed to evaluate expression");
}

static void free_reg(struct fstate *fs, int r) { fs->regused[r] = 0; }

static struct fstmt *xfer_to_x(struct fstate *fs, const struct farth *a)
{
    return new_stmt(fs, BPF_LDX | BPF_MEM, (uint32_t)a->regno);
}
static struct fstmt *xfer_to_a(struct fstate *fs, const struct farth *a)
{
    return new_stmt(fs, BPF_LD | BPF_MEM, (uint32_t)a->regno);
}

static struct farth *gen_arth_node(struct fstate *fs, const struct fnode *n);

static struct farth *gen_loadi(struct fstate *fs, int pos, uint32_t v)
{
    struct farth *a = fs_alloc(fs, sizeof *a);
    a->regno = alloc_reg(fs, pos);
    a->s = new_stmt(fs, BPF_LD | BPF_IMM, v);
    a->s->next = new_stmt(fs, BPF_ST, (uint32_t)a->regno);
    return a;
}

static struct farth *gen_loadlen(struct fstate *fs, int pos)
{
    struct farth *a = fs_alloc(fs, sizeof *a);
    a->regno = alloc_reg(fs, pos);
    a->s = new_stmt(fs, BPF_LD | BPF_W | BPF_LEN, 0);
    a->s->next = new_stmt(fs, BPF_ST, (uint32_t)a->regno);
    return a;
}

static struct farth *gen_load(struct fstate *fs, const struct fnode *n)
{
    struct farth *inst = gen_arth_node(fs, n->a);
    struct fstmt *s;
    struct fblock *b;
    int size, regno = alloc_reg(fs, n->pos);

    free_reg(fs, inst->regno);
    switch (n->num) {
    case 1: size = BPF_B; break;
    case 2: size = BPF_H; break;
    case 4: size = BPF_W; break;
    default: fs_error(fs, n->num2 ? (int)n->num2 : n->pos, "data size must be 1, 2, or 4");
    }
    switch (n->proto) {
    case K_LINK:
        s = xfer_to_x(fs, inst);
        fs_sappend(s, new_stmt(fs, BPF_LD | BPF_IND | size, 0));
        fs_sappend(inst->s, s);
        break;
    case K_IP:
    case K_ARP:
    case K_RARP:
    case K_IP6:
        /* relative to the network header */
        s = xfer_to_x(fs, inst);
        fs_sappend(s, new_stmt(fs, BPF_LD | BPF_IND | size, fs->off_linkpl + fs->off_nl));
        fs_sappend(inst->s, s);
        b = gen_proto_abbrev(fs, n->pos, n->proto);
        if (inst->b)
            gen_and(inst->b, b);
        inst->b = b;
        break;
    case K_SCTP:
    case K_TCP:
    case K_UDP:
    case K_ICMP:
    case K_IGMP:
    case K_IGRP:
    case K_PIM:
    case K_VRRP:
    case K_CARP: {
        /* relative to the transport header after the IPv4 header (4*IHL) */
        struct fblock *pb;
        s = gen_loadx_iphdrlen(fs);
        fs_sappend(s, xfer_to_a(fs, inst));
        fs_sappend(s, new_stmt(fs, BPF_ALU | BPF_ADD | BPF_X, 0));
        fs_sappend(s, new_stmt(fs, BPF_MISC | BPF_TAX, 0));
        fs_sappend(s, new_stmt(fs, BPF_LD | BPF_IND | size, fs->off_linkpl + fs->off_nl));
        fs_sappend(inst->s, s);
        pb = gen_proto_abbrev(fs, n->pos, n->proto);
        b = gen_ipfrag(fs);
        gen_and(pb, b);
        if (inst->b)
            gen_and(inst->b, b);
        gen_and(gen_proto_abbrev(fs, n->pos, K_IP), b);
        inst->b = b;
        break;
    }
    case K_ICMP6:
        /* IPv6 with next header 58, relative to the end of the fixed header */
        b = gen_proto_abbrev(fs, n->pos, K_IP6);
        if (inst->b)
            gen_and(inst->b, b);
        inst->b = b;
        b = gen_cmp(fs, OR_LINKPL, 6, BPF_B, 58);
        gen_and(inst->b, b);
        inst->b = b;
        s = xfer_to_x(fs, inst);
        fs_sappend(s, new_stmt(fs, BPF_LD | BPF_IND | size, fs->off_linkpl + fs->off_nl + 40));
        fs_sappend(inst->s, s);
        break;
    default:
        fs_error(fs, n->pos, "unsupported index operation");
    }
    inst->regno = regno;
    fs_sappend(inst->s, new_stmt(fs, BPF_ST, (uint32_t)regno));
    return inst;
}

static struct farth *gen_arth(struct fstate *fs, const struct fnode *n, int code, struct farth *a0,
                              struct farth *a1)
{
    struct fstmt *s0, *s1;
    /* gencode.c refuses these when the right operand's code starts with a constant */
    if (a1->s->code == (BPF_LD | BPF_IMM)) {
        if (code == BPF_DIV && a1->s->k == 0)
            fs_error(fs, n->pos, "division by zero");
        if (code == BPF_MOD && a1->s->k == 0)
            fs_error(fs, n->pos, "modulus by zero");
        if ((code == BPF_LSH || code == BPF_RSH) && a1->s->k > 31)
            fs_error(fs, n->pos, "shift by more than 31 bits");
    }
    s0 = xfer_to_x(fs, a1);
    s1 = xfer_to_a(fs, a0);
    fs_sappend(s1, new_stmt(fs, BPF_ALU | BPF_X | code, 0));
    fs_sappend(s0, s1);
    fs_sappend(a1->s, s0);
    fs_sappend(a0->s, a1->s);
    free_reg(fs, a0->regno);
    free_reg(fs, a1->regno);
    a0->regno = alloc_reg(fs, n->pos);
    fs_sappend(a0->s, new_stmt(fs, BPF_ST, (uint32_t)a0->regno));
    return a0;
}

static struct farth *gen_arth_node(struct fstate *fs, const struct fnode *n)
{
    struct farth *a, *b;
    switch (n->kind) {
    case A_NUM:
        return gen_loadi(fs, n->pos, n->num);
    case A_LEN:
        return gen_loadlen(fs, n->pos);
    case A_LOAD:
        return gen_load(fs, n);
    case A_NEG:
        a = gen_arth_node(fs, n->a);
        fs_sappend(a->s, xfer_to_a(fs, a));
        fs_sappend(a->s, new_stmt(fs, BPF_ALU | BPF_NEG, 0));
        fs_sappend(a->s, new_stmt(fs, BPF_ST, (uint32_t)a->regno));
        return a;
    default: /* A_BIN */
        a = gen_arth_node(fs, n->a);
        b = gen_arth_node(fs, n->b);
        return gen_arth(fs, n, n->op, a, b);
    }
}

static struct fblock *gen_relation(struct fstate *fs, const struct fnode *n)
{
    struct farth *a0 = gen_arth_node(fs, n->a);
    struct farth *a1 = gen_arth_node(fs, n->b);
    struct fstmt *s0 = xfer_to_x(fs, a1), *s1 = xfer_to_a(fs, a0);
    struct fblock *b, *tmp;

    if (n->op == BPF_JEQ) {
        fs_sappend(s1, new_stmt(fs, BPF_ALU | BPF_SUB | BPF_X, 0));
        b = new_block(fs, JMP(BPF_JEQ), 0);
    } else {
        b = new_block(fs, BPF_JMP | n->op | BPF_X, 0);
    }
    if (n->reversed)
        gen_not(b);
    fs_sappend(s0, s1);
    fs_sappend(a1->s, s0);
    fs_sappend(a0->s, a1->s);
    b->stmts = a0->s;
    free_reg(fs, a0->regno);
    free_reg(fs, a1->regno);
    /* the protocol checks of both sides come first */
    if (a0->b) {
        if (a1->b) {
            gen_and(a0->b, a1->b);
            tmp = a1->b;
        } else {
            tmp = a0->b;
        }
    } else {
        tmp = a1->b;
    }
    if (tmp)
        gen_and(tmp, b);
    return b;
}

/* ---- the rest -------------------------------------------------------------------------------- */

static struct fblock *gen_vlan(struct fstate *fs, const struct fnode *n)
{
    struct fblock *b0, *b1;
    if (fs->linktype != SN_LINKTYPE_ETHERNET)
        fs_error(fs, n->pos, "no VLAN support for Raw IP");
    if (n->has_num && n->num > 0x0fff)
        fs_error(fs, (int)n->num2, "VLAN tag %u greater than maximum %u", n->num, 0x0fff);
    /* 802.1Q, 802.1ad and the old QinQ 0x9100 */
    b0 = gen_linktype(fs, ETHERTYPE_8021Q);
    b1 = gen_linktype(fs, ETHERTYPE_8021AD);
    gen_or(b0, b1);
    b0 = b1;
    b1 = gen_linktype(fs, ETHERTYPE_8021QINQ);
    gen_or(b0, b1);
    b0 = b1;
    if (n->has_num) {
        b1 = gen_mcmp(fs, OR_LINKPL, 0, BPF_H, n->num, 0x0fff);
        gen_and(b0, b1);
        b0 = b1;
    }
    /* everything after this looks behind the tag */
    fs->off_linkpl += 4;
    fs->off_linktype += 4;
    fs->vlan_depth++;
    return b0;
}

static const uint8_t ebroadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static struct fblock *gen_broadcast(struct fstate *fs, const struct fnode *n)
{
    struct fblock *b0, *b1, *b2;
    switch (n->proto) {
    case Q_DEFAULT:
    case K_LINK:
        if (fs->linktype != SN_LINKTYPE_ETHERNET)
            fs_error(fs, n->pos, "not a broadcast link");
        return gen_ehostop(fs, ebroadcast, Q_DST);
    case K_IP:
        /* tcpdump -r compiles with netmask 0: 0.0.0.0 or 255.255.255.255 */
        b0 = gen_linktype(fs, ETHERTYPE_IP);
        b1 = gen_mcmp(fs, OR_LINKPL, 16, BPF_W, 0, 0xffffffffu);
        b2 = gen_mcmp(fs, OR_LINKPL, 16, BPF_W, 0xffffffffu, 0xffffffffu);
        gen_or(b1, b2);
        gen_and(b0, b2);
        return b2;
    }
    fs_error(fs, n->pos, "only link-layer/IP broadcast filters supported");
}

static struct fblock *gen_multicast(struct fstate *fs, const struct fnode *n)
{
    struct fblock *b0, *b1;
    switch (n->proto) {
    case Q_DEFAULT:
    case K_LINK:
        if (fs->linktype == SN_LINKTYPE_ETHERNET) {
            /* ether[0] & 1 != 0 */
            b0 = new_block(fs, JMP(BPF_JSET), 1);
            b0->stmts = gen_load_a(fs, OR_LINKHDR, 0, BPF_B);
            return b0;
        }
        break;
    case K_IP:
        b0 = gen_linktype(fs, ETHERTYPE_IP);
        b1 = gen_cmp_ge(fs, OR_LINKPL, 16, BPF_B, 224);
        gen_and(b0, b1);
        return b1;
    case K_IP6:
        b0 = gen_linktype(fs, ETHERTYPE_IPV6);
        b1 = gen_cmp(fs, OR_LINKPL, 24, BPF_B, 255);
        gen_and(b0, b1);
        return b1;
    }
    fs_error(fs, n->pos, "link-layer multicast filters supported only on ethernet");
}

/* "byte N op V", with gencode.c's shapes (for & and | it tests A without loading). */
static struct fblock *gen_byteop(struct fstate *fs, const struct fnode *n)
{
    struct fblock *b;
    switch (n->op) {
    case '=': return gen_cmp(fs, OR_LINKHDR, n->num, BPF_B, n->num2);
    case '<': return gen_cmp_lt(fs, OR_LINKHDR, n->num, BPF_B, n->num2);
    case '>': return gen_cmp_gt(fs, OR_LINKHDR, n->num, BPF_B, n->num2);
    }
    b = new_block(fs, JMP(BPF_JEQ), 0);
    b->stmts = new_stmt(fs, BPF_ALU | (n->op == '|' ? BPF_OR : BPF_AND) | BPF_K, n->num2);
    gen_not(b);
    return b;
}

static struct fblock *gen_node(struct fstate *fs, const struct fnode *n)
{
    struct fblock *b, *acc;
    switch (n->kind) {
    case N_CHAIN:
        acc = gen_node(fs, n->a);
        for (const struct fnode *k = n->a->next; k; k = k->next) {
            b = gen_node(fs, k);
            if (k->join == K_AND)
                gen_and(acc, b);
            else
                gen_or(acc, b);
            acc = b;
        }
        return acc;
    case N_NOT:
        b = gen_node(fs, n->a);
        gen_not(b);
        return b;
    case N_PNAME:
        return gen_proto_abbrev(fs, n->pos, n->proto);
    case N_ID:
        return gen_id(fs, n);
    case N_REL:
        return gen_relation(fs, n);
    case N_LESS:
        b = new_block(fs, JMP(BPF_JGT), n->num);
        b->stmts = new_stmt(fs, BPF_LD | BPF_W | BPF_LEN, 0);
        gen_not(b);
        return b;
    case N_GREATER:
        b = new_block(fs, JMP(BPF_JGE), n->num);
        b->stmts = new_stmt(fs, BPF_LD | BPF_W | BPF_LEN, 0);
        return b;
    case N_VLAN:
        return gen_vlan(fs, n);
    case N_BCAST:
        return gen_broadcast(fs, n);
    case N_MCAST:
        return gen_multicast(fs, n);
    case N_BYTE:
        return gen_byteop(fs, n);
    }
    fs_error(fs, n->pos, "internal error: node kind %d", n->kind);
}

struct fblock *fs_gen(struct fstate *fs, struct fnode *root)
{
    return root ? gen_node(fs, root) : NULL;
}
