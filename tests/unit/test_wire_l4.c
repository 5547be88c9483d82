/* test_wire_l4.c — transport layers of wire: ICMPv4, ICMPv6 (echo, errors,
 * NS/NA), UDP and TCP (+ options). Known-good bytes captured from Linux (on
 * loopback and across a veth pair in two sn- namespaces), emit->parse round
 * trips over IPv4 and IPv6 pseudo-headers checked against an independent
 * reference checksum, one test per distinct error, truncation sweeps on
 * exact-size heap copies (so ASan sees any read past len), and a random-bytes
 * robustness loop. */
#include "../harness.h"
#include <sysnet/wire.h>
#include <errno.h>

/* ---- packets captured from Linux 6.x ------------------------------------
 * tcpdump -i lo, then the transport bytes only. Loopback leaves TCP and UDP
 * checksums as CHECKSUM_PARTIAL (only the pseudo-header sum is in the field);
 * the correct values, as tcpdump computes them, are in the *_CSUM constants. */

/* 127.0.0.1.41184 > 127.0.0.1.47123: Flags [S], seq 826974666, win 65495,
 * options [mss 65495,sackOK,TS val 233714326 ecr 0,nop,wscale 10] */
static const uint8_t pkt_tcp_syn[40] = {
    0xa0, 0xe0, 0xb8, 0x13, 0x31, 0x4a, 0xa1, 0xca, 0x00, 0x00, 0x00, 0x00,
    0xa0, 0x02, 0xff, 0xd7, 0xfe, 0x30, 0x00, 0x00, 0x02, 0x04, 0xff, 0xd7,
    0x04, 0x02, 0x08, 0x0a, 0x0d, 0xee, 0x32, 0x96, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x03, 0x03, 0x0a,
};
#define TCP_SYN_CSUM 0xe371
/* The SYN-ACK: seq 216684053, ack 826974667, win 65483, TS val 141339352 ecr 233714326 */
static const uint8_t pkt_tcp_synack[40] = {
    0xb8, 0x13, 0xa0, 0xe0, 0x0c, 0xea, 0x56, 0x15, 0x31, 0x4a, 0xa1, 0xcb,
    0xa0, 0x12, 0xff, 0xcb, 0xfe, 0x30, 0x00, 0x00, 0x02, 0x04, 0xff, 0xd7,
    0x04, 0x02, 0x08, 0x0a, 0x08, 0x6c, 0xaa, 0xd8, 0x0d, 0xee, 0x32, 0x96,
    0x01, 0x03, 0x03, 0x0a,
};
#define TCP_SYNACK_CSUM 0xcd28
/* Flags [P.], seq 1:6, ack 1, win 64, options [nop,nop,TS ...], "hello" */
static const uint8_t pkt_tcp_psh[37] = {
    0xa0, 0xe0, 0xb8, 0x13, 0x31, 0x4a, 0xa1, 0xcb, 0x0c, 0xea, 0x56, 0x16,
    0x80, 0x18, 0x00, 0x40, 0xfe, 0x2d, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a,
    0x0d, 0xee, 0x32, 0x96, 0x08, 0x6c, 0xaa, 0xd8, 0x68, 0x65, 0x6c, 0x6c,
    0x6f,
};
#define TCP_PSH_CSUM 0xb1c8
/* 127.0.0.1.58053 > 127.0.0.1.47124: UDP, length 16, "sysnet udp test\n" */
static const uint8_t pkt_udp4[24] = {
    0xe2, 0xc5, 0xb8, 0x14, 0x00, 0x18, 0xfe, 0x2b, 0x73, 0x79, 0x73, 0x6e,
    0x65, 0x74, 0x20, 0x75, 0x64, 0x70, 0x20, 0x74, 0x65, 0x73, 0x74, 0x0a,
};
#define UDP4_CSUM 0x9bad
/* ::1.33867 > ::1.47124: UDP, length 6, "v6 udp" */
static const uint8_t pkt_udp6[14] = {
    0x84, 0x4b, 0xb8, 0x14, 0x00, 0x0e, 0x00, 0x21, 0x76, 0x36, 0x20, 0x75,
    0x64, 0x70,
};
#define UDP6_CSUM 0xc854
/* ping -c1 127.0.0.1: ICMP echo request, id 9462, seq 1, length 64 (checksum as sent) */
static const uint8_t pkt_icmp4_echo[64] = {
    0x08, 0x00, 0xfd, 0xcc, 0x24, 0xf6, 0x00, 0x01, 0xfa, 0xcc, 0x08, 0x6b,
    0x00, 0x00, 0x00, 0x00, 0x0f, 0x31, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b,
    0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27,
    0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33,
    0x34, 0x35, 0x36, 0x37,
};
/* ICMP 127.0.0.1 udp port 47124 unreachable, quoting the datagram above */
static const uint8_t pkt_icmp4_unreach[52] = {
    0x03, 0x03, 0x98, 0xaa, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x2c,
    0xe9, 0x9a, 0x40, 0x00, 0x40, 0x11, 0x53, 0x24, 0x7f, 0x00, 0x00, 0x01,
    0x7f, 0x00, 0x00, 0x01, 0xe2, 0xc5, 0xb8, 0x14, 0x00, 0x18, 0xfe, 0x2b,
    0x73, 0x79, 0x73, 0x6e, 0x65, 0x74, 0x20, 0x75, 0x64, 0x70, 0x20, 0x74,
    0x65, 0x73, 0x74, 0x0a,
};
/* ping -6 -s 24 -p 73797300 ::1: echo request and reply, id 9605, seq 1 */
static const uint8_t pkt_icmp6_echo[32] = {
    0x80, 0x00, 0x36, 0x3e, 0x25, 0x85, 0x00, 0x01, 0x08, 0xcd, 0x08, 0x6b,
    0x00, 0x00, 0x00, 0x00, 0x3e, 0xb3, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x73, 0x79, 0x73, 0x00, 0x73, 0x79, 0x73, 0x00,
};
static const uint8_t pkt_icmp6_echoreply[32] = {
    0x81, 0x00, 0x35, 0x3e, 0x25, 0x85, 0x00, 0x01, 0x08, 0xcd, 0x08, 0x6b,
    0x00, 0x00, 0x00, 0x00, 0x3e, 0xb3, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x73, 0x79, 0x73, 0x00, 0x73, 0x79, 0x73, 0x00,
};
/* ::1 > ::1: destination unreachable, unreachable port, quoting the UDP above */
static const uint8_t pkt_icmp6_unreach[62] = {
    0x01, 0x04, 0x2c, 0x41, 0x00, 0x00, 0x00, 0x00, 0x60, 0x0a, 0x29, 0x3b,
    0x00, 0x0e, 0x11, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x84, 0x4b, 0xb8, 0x14, 0x00, 0x0e, 0x00, 0x21, 0x76, 0x36, 0x20, 0x75,
    0x64, 0x70,
};
/* veth between namespaces sn-l4a (02:00:00:00:00:0a, 2001:2::1) and sn-l4b
 * (02:00:00:00:00:0b, 2001:2::2). DAD: :: > ff02::1:ff00:1, NS who has
 * 2001:2::1, no lladdr, a nonce option (type 14, RFC 7527). */
static const uint8_t pkt_ns_dad[32] = {
    0x87, 0x00, 0xb6, 0x82, 0x00, 0x00, 0x00, 0x00, 0x20, 0x01, 0x00, 0x02,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x0e, 0x01, 0x57, 0xf2, 0xfc, 0x6b, 0x41, 0xb9,
};
/* 2001:2::1 > ff02::1:ff00:2: NS who has 2001:2::2, source lladdr 02:00:00:00:00:0a */
static const uint8_t pkt_ns[32] = {
    0x87, 0x00, 0x37, 0x8a, 0x00, 0x00, 0x00, 0x00, 0x20, 0x01, 0x00, 0x02,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a,
};
/* 2001:2::2 > 2001:2::1: NA tgt 2001:2::2, Flags [solicited, override],
 * target lladdr 02:00:00:00:00:0b */
static const uint8_t pkt_na[32] = {
    0x88, 0x00, 0xb3, 0x8a, 0x60, 0x00, 0x00, 0x00, 0x20, 0x01, 0x00, 0x02,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0b,
};

/* ---- addresses ------------------------------------------------------------ */

static const uint8_t a_lo4[4] = {127, 0, 0, 1};
static const uint8_t a_lo6[16] = {[15] = 1};
static const uint8_t a_unspec6[16] = {0};
static const uint8_t a_h1[16] = {0x20, 0x01, 0, 2, [15] = 1};                   /* 2001:2::1 */
static const uint8_t a_h2[16] = {0x20, 0x01, 0, 2, [15] = 2};                   /* 2001:2::2 */
static const uint8_t a_snm1[16] = {0xff, 0x02, [11] = 1, 0xff, 0, 0, 1};         /* ff02::1:ff00:1 */
static const uint8_t a_snm2[16] = {0xff, 0x02, [11] = 1, 0xff, 0, 0, 2};         /* ff02::1:ff00:2 */
static const uint8_t a_b1[4] = {198, 18, 0, 1}, a_b2[4] = {198, 19, 255, 254}; /* RFC 2544 range */

static const struct sn_ipaddrs ip_lo4 = {4, a_lo4, a_lo4};
static const struct sn_ipaddrs ip_lo6 = {6, a_lo6, a_lo6};
static const struct sn_ipaddrs ip_v4 = {4, a_b1, a_b2};
static const struct sn_ipaddrs ip_v6 = {6, a_h1, a_h2};

/* ---- helpers -------------------------------------------------------------- */

/* A heap copy of exactly n bytes: ASan reports any read at p[n] (also for n = 0). */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
    uint8_t *q = calloc(n, 1);
    if (n)
        memcpy(q, p, n);
    return q;
}

/* The reference checksum: the pseudo-header built as bytes (RFC 768 / RFC 8200
 * §8.1), then a plain 16-bit loop (RFC 1071). 0 over a message whose checksum
 * field is right. ip == NULL: no pseudo-header (ICMPv4). */
static uint16_t ref_sum(const struct sn_ipaddrs *ip, uint8_t proto, const uint8_t *p, size_t len)
{
    uint8_t ph[40] = {0};
    size_t n = 0;
    if (ip && ip->family == 4) {
        memcpy(ph, ip->src, 4);
        memcpy(ph + 4, ip->dst, 4);
        ph[9] = proto;
        ph[10] = (uint8_t)(len >> 8);
        ph[11] = (uint8_t)len;
        n = 12;
    } else if (ip) {
        memcpy(ph, ip->src, 16);
        memcpy(ph + 16, ip->dst, 16);
        ph[34] = (uint8_t)(len >> 8);
        ph[35] = (uint8_t)len;
        ph[39] = proto;
        n = 40;
    }
    uint32_t s = 0;
    for (size_t i = 0; i < n; i += 2)
        s += (uint32_t)(ph[i] << 8 | ph[i + 1]);
    for (size_t i = 0; i + 1 < len; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        s += (uint32_t)p[len - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* A copy of a captured packet with its checksum field (at off) set to csum. */
static void with_csum(uint8_t *dst, const uint8_t *src, size_t n, size_t off, uint16_t csum)
{
    memcpy(dst, src, n);
    sn_store_be16(dst + off, csum);
}

/* Parsers with a common shape for the sweeps and the robustness loop. */
typedef int (*parse_fn)(const uint8_t *p, size_t len, const struct sn_ipaddrs *ip);

static int p_icmp4(const uint8_t *p, size_t len, const struct sn_ipaddrs *ip)
{
    struct sn_icmp4_repr r;
    return sn_icmp4_parse(p, len, ip ? SN_WIRE_CSUM : 0, &r);
}
static int p_icmp6(const uint8_t *p, size_t len, const struct sn_ipaddrs *ip)
{
    struct sn_icmp6_repr r;
    return sn_icmp6_parse(p, len, ip, &r);
}
static int p_udp(const uint8_t *p, size_t len, const struct sn_ipaddrs *ip)
{
    struct sn_udp_repr r;
    return sn_udp_parse(p, len, 0, ip, &r);
}
static int p_tcp(const uint8_t *p, size_t len, const struct sn_ipaddrs *ip)
{
    struct sn_tcp_repr r;
    return sn_tcp_parse(p, len, ip, &r);
}

/* f on an exact-size heap copy of pkt[0..l) for every l < n. Returns the first
 * l whose result differs from expect(l), or -1. */
static long sweep(parse_fn f, const uint8_t *pkt, size_t n, const struct sn_ipaddrs *ip,
                  size_t ebad_from, size_t ebad_to)
{
    for (size_t l = 0; l < n; l++) {
        uint8_t *b = dup_exact(pkt, l);
        int rc = f(b, l, ip);
        free(b);
        int want = (l >= ebad_from && l < ebad_to) ? SN_WIRE_EBAD : SN_WIRE_ETRUNC;
        if (rc != want)
            return (long)l;
    }
    return -1;
}

/* A TCP header with these option bytes (olen a multiple of 4) into h; returns its length. */
static size_t mk_tcp(uint8_t *h, const uint8_t *opts, size_t olen)
{
    static const uint8_t base[20] = {0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0,
                                     0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0};
    memcpy(h, base, 20);
    memcpy(h + 20, opts, olen);
    h[12] = (uint8_t)((20 + olen) / 4 << 4);
    return 20 + olen;
}

/* ======================================================================
 * ICMPv4
 * ====================================================================== */

SN_TEST(icmp4_echo_real_ping)
{
    struct sn_icmp4_repr r;
    CHECK_EQ(ref_sum(NULL, 0, pkt_icmp4_echo, sizeof(pkt_icmp4_echo)), 0);
    uint8_t *b = dup_exact(pkt_icmp4_echo, sizeof(pkt_icmp4_echo));
    int rc = sn_icmp4_parse(b, sizeof(pkt_icmp4_echo), SN_WIRE_CSUM, &r);
    CHECK_EQ(rc, SN_ICMP4_HLEN);
    CHECK_EQ(r.type, SN_ICMP_ECHO);
    CHECK_EQ(r.code, 0);
    CHECK_EQ(r.checksum, 0xfdcc);
    CHECK_EQ(r.id, 9462);
    CHECK_EQ(r.seq, 1);
    CHECK_EQ(r.mtu, 0);
    CHECK(r.data == b + 8);
    CHECK_EQ(r.data_len, 56);
    uint8_t out[64];
    CHECK_EQ(sn_icmp4_emit(&r, out, sizeof(out)), 64);
    CHECK_MEM(out, pkt_icmp4_echo, 64);
    free(b);
}

SN_TEST(icmp4_unreach_real_quotes_datagram)
{
    struct sn_icmp4_repr r;
    int rc = sn_icmp4_parse(pkt_icmp4_unreach, sizeof(pkt_icmp4_unreach), SN_WIRE_CSUM, &r);
    CHECK_EQ(rc, 8);
    CHECK_EQ(r.type, SN_ICMP_UNREACH);
    CHECK_EQ(r.code, 3);
    CHECK_EQ(r.id, 0);
    CHECK_EQ(r.seq, 0);
    CHECK_EQ(r.mtu, 0);
    CHECK_EQ(r.data_len, 44);
    CHECK_EQ(r.data[0], 0x45);
    CHECK_EQ(r.data[9], SN_IPPROTO_UDP);
    CHECK_EQ(sn_csum(r.data, 20), 0); /* the quoted IPv4 header is whole */
    uint8_t out[52];
    CHECK_EQ(sn_icmp4_emit(&r, out, sizeof(out)), 52);
    CHECK_MEM(out, pkt_icmp4_unreach, 52);
}

SN_TEST(icmp4_frag_needed_carries_mtu)
{
    /* RFC 1191 §4: bytes 4-5 unused, 6-7 next-hop MTU; id/seq are not written. */
    static const uint8_t quoted[28] = {0x45, 0, 0, 28};
    struct sn_icmp4_repr r = {.type = SN_ICMP_UNREACH, .code = 4, .id = 0x1111, .seq = 0x2222,
                              .mtu = 1400, .data = quoted, .data_len = sizeof(quoted)};
    uint8_t out[36];
    CHECK_EQ(sn_icmp4_emit(&r, out, sizeof(out)), 36);
    CHECK(out[4] == 0 && out[5] == 0 && out[6] == 0x05 && out[7] == 0x78);
    CHECK_EQ(ref_sum(NULL, 0, out, 36), 0);
    struct sn_icmp4_repr q;
    CHECK_EQ(sn_icmp4_parse(out, 36, SN_WIRE_CSUM, &q), 8);
    CHECK_EQ(q.mtu, 1400);
    CHECK_EQ(q.id, 0);
    CHECK_EQ(q.seq, 0);
    CHECK_MEM(q.data, quoted, 28);
    /* Time exceeded and other unreachable codes: bytes 4-7 all zero, no MTU. */
    r.code = 1;
    CHECK_EQ(sn_icmp4_emit(&r, out, sizeof(out)), 36);
    CHECK_EQ(sn_load_be32(out + 4), 0);
    CHECK_EQ(sn_icmp4_parse(out, 36, SN_WIRE_CSUM, &q), 8);
    CHECK_EQ(q.mtu, 0);
    r.type = SN_ICMP_TIMXCEED;
    r.code = 0;
    CHECK_EQ(sn_icmp4_emit(&r, out, sizeof(out)), 36);
    CHECK_EQ(sn_load_be32(out + 4), 0);
    CHECK_EQ(ref_sum(NULL, 0, out, 36), 0);
}

SN_TEST(icmp4_csum_only_with_flag_and_repr_filled)
{
    uint8_t b[64];
    memcpy(b, pkt_icmp4_echo, 64);
    b[40] ^= 0x10;
    struct sn_icmp4_repr r;
    CHECK_EQ(sn_icmp4_parse(b, 64, 0, &r), 8); /* offload: not checked */
    memset(&r, 0, sizeof(r));
    CHECK_EQ(sn_icmp4_parse(b, 64, SN_WIRE_CSUM, &r), SN_WIRE_ECSUM);
    CHECK_EQ(r.type, SN_ICMP_ECHO);
    CHECK_EQ(r.id, 9462);
    CHECK_EQ(r.seq, 1);
    CHECK_EQ(r.data_len, 56);
    /* Every single-bit flip anywhere is caught. */
    for (size_t bit = 0; bit < 64 * 8; bit++) {
        memcpy(b, pkt_icmp4_echo, 64);
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        CHECK_EQ(sn_icmp4_parse(b, 64, SN_WIRE_CSUM, &r), SN_WIRE_ECSUM);
    }
}

SN_TEST(icmp4_truncation_sweep)
{
    CHECK_EQ(sweep(p_icmp4, pkt_icmp4_echo, SN_ICMP4_HLEN, NULL, 0, 0), -1);
    CHECK_EQ(sweep(p_icmp4, pkt_icmp4_echo, SN_ICMP4_HLEN, &ip_lo4, 0, 0), -1);
    /* Past the header a short message is well formed; only its checksum can tell. */
    for (size_t l = SN_ICMP4_HLEN; l <= sizeof(pkt_icmp4_echo); l++) {
        uint8_t *b = dup_exact(pkt_icmp4_echo, l);
        struct sn_icmp4_repr r;
        int rc = sn_icmp4_parse(b, l, 0, &r);
        free(b);
        CHECK_EQ(rc, 8);
        CHECK_EQ(r.data_len, l - 8);
    }
}

SN_TEST(icmp4_emit_in_place_reply_and_nospc)
{
    /* An echo reply built over the request, its data not moved. */
    uint8_t b[64];
    memcpy(b, pkt_icmp4_echo, 64);
    struct sn_icmp4_repr r;
    CHECK_EQ(sn_icmp4_parse(b, 64, SN_WIRE_CSUM, &r), 8);
    r.type = SN_ICMP_ECHOREPLY;
    CHECK_EQ(sn_icmp4_emit(&r, b, sizeof(b)), 64);
    CHECK_MEM(b + 8, pkt_icmp4_echo + 8, 56);
    CHECK_EQ(b[0], 0);
    CHECK_EQ(ref_sum(NULL, 0, b, 64), 0);
    /* RFC 1624 eqn. 3 gives the same: ~(~0xfdcc + ~0x0800 + 0x0000) = 0x05cd. */
    CHECK_EQ(sn_load_be16(b + 2), sn_csum_update16(0xfdcc, 0x0800, 0x0000));
    CHECK_EQ(sn_load_be16(b + 2), 0x05cd);
    /* Too small a buffer: -ENOSPC, nothing written. */
    uint8_t small[63];
    memset(small, 0xee, sizeof(small));
    CHECK_EQ(sn_icmp4_emit(&r, small, sizeof(small)), -ENOSPC);
    for (size_t i = 0; i < sizeof(small); i++)
        CHECK_EQ(small[i], 0xee);
    struct sn_icmp4_repr bad = {.type = 8, .data = NULL, .data_len = 4};
    CHECK_EQ(sn_icmp4_emit(&bad, small, sizeof(small)), -EINVAL);
    bad.data = small;
    bad.data_len = 0xffff;
    CHECK_EQ(sn_icmp4_emit(&bad, small, sizeof(small)), -EMSGSIZE);
    struct sn_icmp4_repr empty = {.type = SN_ICMP_ECHO, .id = 7, .seq = 9};
    CHECK_EQ(sn_icmp4_emit(&empty, small, 8), 8);
    CHECK_EQ(sn_icmp4_parse(small, 8, SN_WIRE_CSUM, &r), 8);
    CHECK_EQ(r.data_len, 0);
    CHECK_EQ(r.seq, 9);
}

/* ======================================================================
 * ICMPv6
 * ====================================================================== */

SN_TEST(icmp6_echo_real_request_and_reply)
{
    struct sn_icmp6_repr r;
    uint8_t *b = dup_exact(pkt_icmp6_echo, 32);
    CHECK_EQ(ref_sum(&ip_lo6, SN_IPPROTO_ICMPV6, b, 32), 0);
    CHECK_EQ(sn_icmp6_parse(b, 32, &ip_lo6, &r), 8);
    CHECK_EQ(r.type, SN_ICMP6_ECHO);
    CHECK_EQ(r.id, 9605);
    CHECK_EQ(r.seq, 1);
    CHECK_EQ(r.checksum, 0x363e);
    CHECK(r.data == b + 8);
    CHECK_EQ(r.data_len, 24);
    CHECK_MEM(r.data + 16, "sys\0sys\0", 8);
    uint8_t out[32];
    CHECK_EQ(sn_icmp6_emit(&r, &ip_lo6, out, sizeof(out)), 32);
    CHECK_MEM(out, pkt_icmp6_echo, 32);
    /* The kernel's reply: same data, type 129. */
    r.type = SN_ICMP6_ECHOREPLY;
    CHECK_EQ(sn_icmp6_emit(&r, &ip_lo6, out, sizeof(out)), 32);
    CHECK_MEM(out, pkt_icmp6_echoreply, 32);
    CHECK_EQ(sn_icmp6_parse(pkt_icmp6_echoreply, 32, &ip_lo6, &r), 8);
    free(b);
}

SN_TEST(icmp6_unreach_real_quotes_packet)
{
    struct sn_icmp6_repr r;
    CHECK_EQ(sn_icmp6_parse(pkt_icmp6_unreach, sizeof(pkt_icmp6_unreach), &ip_lo6, &r), 8);
    CHECK_EQ(r.type, SN_ICMP6_UNREACH);
    CHECK_EQ(r.code, 4);
    CHECK_EQ(r.data_len, 54);
    CHECK_EQ(r.data[0] >> 4, 6);
    CHECK_EQ(r.data[6], SN_IPPROTO_UDP);
    CHECK_EQ(40 + sn_load_be16(r.data + 4), r.data_len);
    uint8_t out[62];
    CHECK_EQ(sn_icmp6_emit(&r, &ip_lo6, out, sizeof(out)), 62);
    CHECK_MEM(out, pkt_icmp6_unreach, 62);
}

SN_TEST(icmp6_toobig_paramprob_timxceed_rest_of_header)
{
    static const uint8_t quoted[48] = {0x60};
    struct sn_icmp6_repr r = {.type = SN_ICMP6_TOOBIG, .mtu = 1280, .id = 5, .seq = 6,
                              .data = quoted, .data_len = sizeof(quoted)};
    uint8_t out[56];
    struct sn_icmp6_repr q;
    CHECK_EQ(sn_icmp6_emit(&r, &ip_v6, out, sizeof(out)), 56);
    CHECK_EQ(sn_load_be32(out + 4), 1280);
    CHECK_EQ(sn_icmp6_parse(out, 56, &ip_v6, &q), 8);
    CHECK_EQ(q.mtu, 1280);
    CHECK_EQ(q.id, 0);
    r.type = 4; /* parameter problem: the pointer rides in mtu (RFC 4443 §3.4) */
    r.mtu = 40;
    CHECK_EQ(sn_icmp6_emit(&r, &ip_v6, out, sizeof(out)), 56);
    CHECK_EQ(sn_icmp6_parse(out, 56, &ip_v6, &q), 8);
    CHECK_EQ(q.mtu, 40);
    r.type = SN_ICMP6_TIMXCEED;
    CHECK_EQ(sn_icmp6_emit(&r, &ip_v6, out, sizeof(out)), 56);
    CHECK_EQ(sn_load_be32(out + 4), 0);
    CHECK_EQ(sn_icmp6_parse(out, 56, &ip_v6, &q), 8);
    CHECK_EQ(q.mtu, 0);
    CHECK_EQ(ref_sum(&ip_v6, SN_IPPROTO_ICMPV6, out, 56), 0);
}

SN_TEST(icmp6_ns_dad_real_without_lladdr)
{
    const struct sn_ipaddrs ip = {6, a_unspec6, a_snm1};
    struct sn_icmp6_repr r;
    CHECK_EQ(sn_icmp6_parse(pkt_ns_dad, 32, &ip, &r), 24);
    CHECK_EQ(r.type, SN_ICMP6_NS);
    CHECK_MEM(r.target, a_h1, 16);
    CHECK_EQ(r.has_lladdr, 0);
    CHECK_EQ(r.na_flags, 0);
    CHECK(r.data == pkt_ns_dad + 24);
    CHECK_EQ(r.data_len, 8);
    CHECK_EQ(r.data[0], 14); /* the nonce option */
    uint8_t out[32];
    CHECK_EQ(sn_icmp6_emit(&r, &ip, out, sizeof(out)), 32);
    CHECK_MEM(out, pkt_ns_dad, 32);
}

SN_TEST(icmp6_ns_real_with_source_lladdr)
{
    const struct sn_ipaddrs ip = {6, a_h1, a_snm2};
    static const uint8_t mac[6] = {2, 0, 0, 0, 0, 0x0a};
    struct sn_icmp6_repr r;
    CHECK_EQ(sn_icmp6_parse(pkt_ns, 32, &ip, &r), 24);
    CHECK_MEM(r.target, a_h2, 16);
    CHECK_EQ(r.has_lladdr, 1);
    CHECK_MEM(r.lladdr, mac, 6);
    /* data is every option after the target, the lladdr option included. */
    CHECK_EQ(r.data_len, 8);
    CHECK_EQ(r.data[0], SN_ND_OPT_SLLA);
    /* Built from scratch the way a stack would: the same bytes as Linux. */
    struct sn_icmp6_repr s = {.type = SN_ICMP6_NS, .has_lladdr = 1};
    memcpy(s.target, a_h2, 16);
    memcpy(s.lladdr, mac, 6);
    uint8_t out[32];
    CHECK_EQ(sn_icmp6_emit(&s, &ip, out, sizeof(out)), 32);
    CHECK_MEM(out, pkt_ns, 32);
    /* Re-emitting a parsed NS verbatim: its data already holds the option. */
    r.has_lladdr = 0;
    CHECK_EQ(sn_icmp6_emit(&r, &ip, out, sizeof(out)), 32);
    CHECK_MEM(out, pkt_ns, 32);
}

SN_TEST(icmp6_na_real_flags_and_target_lladdr)
{
    const struct sn_ipaddrs ip = {6, a_h2, a_h1};
    static const uint8_t mac[6] = {2, 0, 0, 0, 0, 0x0b};
    struct sn_icmp6_repr r;
    CHECK_EQ(sn_icmp6_parse(pkt_na, 32, &ip, &r), 24);
    CHECK_EQ(r.type, SN_ICMP6_NA);
    CHECK_EQ(r.na_flags, 0x60); /* solicited, override */
    CHECK_MEM(r.target, a_h2, 16);
    CHECK_EQ(r.has_lladdr, 1);
    CHECK_MEM(r.lladdr, mac, 6);
    struct sn_icmp6_repr s = {.type = SN_ICMP6_NA, .na_flags = 0x60, .has_lladdr = 1};
    memcpy(s.target, a_h2, 16);
    memcpy(s.lladdr, mac, 6);
    uint8_t out[32];
    CHECK_EQ(sn_icmp6_emit(&s, &ip, out, sizeof(out)), 32);
    CHECK_MEM(out, pkt_na, 32);
    /* A source lladdr option in an NA is not its target lladdr. */
    uint8_t b[32];
    memcpy(b, pkt_na, 32);
    b[24] = SN_ND_OPT_SLLA;
    CHECK_EQ(sn_icmp6_parse(b, 32, NULL, &r), 24);
    CHECK_EQ(r.has_lladdr, 0);
}

SN_TEST(icmp6_na_flags_roundtrip_without_lladdr)
{
    static const uint8_t flags[] = {0, 0x80, 0x40, 0x20, 0xe0, 0xa0};
    for (size_t i = 0; i < SN_COUNTOF(flags); i++) {
        struct sn_icmp6_repr s = {.type = SN_ICMP6_NA, .na_flags = flags[i]};
        memcpy(s.target, a_h1, 16);
        uint8_t out[24];
        CHECK_EQ(sn_icmp6_emit(&s, &ip_v6, out, sizeof(out)), 24);
        CHECK_EQ(out[4], flags[i]);
        CHECK_EQ(sn_load_be32(out + 4) & 0x1fffffffu, 0);
        struct sn_icmp6_repr r;
        CHECK_EQ(sn_icmp6_parse(out, 24, &ip_v6, &r), 24);
        CHECK_EQ(r.na_flags, flags[i]);
        CHECK_EQ(r.has_lladdr, 0);
        CHECK_EQ(r.data_len, 0);
        CHECK_MEM(r.target, a_h1, 16);
    }
    /* Reserved bits are not flags: masked on emit, ignored on parse. */
    struct sn_icmp6_repr s = {.type = SN_ICMP6_NA, .na_flags = 0xff};
    uint8_t out[24];
    CHECK_EQ(sn_icmp6_emit(&s, NULL, out, sizeof(out)), 24);
    CHECK_EQ(out[4], 0xe0);
    out[5] = 0x55;
    struct sn_icmp6_repr r;
    CHECK_EQ(sn_icmp6_parse(out, 24, NULL, &r), 24);
    CHECK_EQ(r.na_flags, 0xe0);
    /* NS without options, and with a following option left in data. */
    struct sn_icmp6_repr ns = {.type = SN_ICMP6_NS, .has_lladdr = 1, .lladdr = {1, 2, 3, 4, 5, 6}};
    static const uint8_t nonce[8] = {14, 1, 9, 9, 9, 9, 9, 9};
    ns.data = nonce;
    ns.data_len = 8;
    uint8_t o2[40];
    CHECK_EQ(sn_icmp6_emit(&ns, &ip_v6, o2, sizeof(o2)), 40);
    CHECK_EQ(sn_icmp6_parse(o2, 40, &ip_v6, &r), 24);
    CHECK_EQ(r.has_lladdr, 1);
    CHECK_EQ(r.lladdr[5], 6);
    CHECK_EQ(r.data_len, 16);
    CHECK_MEM(r.data + 8, nonce, 8);
}

SN_TEST(icmp6_nd_short_is_ebad_options_checked)
{
    /* RFC 4861 §7.1: NS/NA under 24 bytes is invalid (EBAD); under 8 is ETRUNC. */
    CHECK_EQ(sweep(p_icmp6, pkt_ns, 24, NULL, 8, 24), -1);
    CHECK_EQ(sweep(p_icmp6, pkt_na, 24, &ip_v6, 8, 24), -1);
    struct sn_icmp6_repr r;
    uint8_t b[40];
    /* Cutting into the options: the option header or its body is missing. */
    for (size_t l = 25; l < 32; l++) {
        uint8_t *c = dup_exact(pkt_ns, l);
        int rc = sn_icmp6_parse(c, l, NULL, &r);
        free(c);
        CHECK_EQ(rc, SN_WIRE_ETRUNC);
    }
    /* An option of length 0 (RFC 4861 §4.6). */
    memcpy(b, pkt_ns, 32);
    b[25] = 0;
    CHECK_EQ(sn_icmp6_parse(b, 32, NULL, &r), SN_WIRE_EBAD);
    /* A length 0 after a good option, with a bad checksum too: EBAD first. */
    memcpy(b, pkt_ns, 32);
    memset(b + 32, 0, 8);
    b[32] = 14;
    CHECK_EQ(sn_icmp6_parse(b, 40, &ip_v6, &r), SN_WIRE_EBAD);
    /* An option claiming more than is there. */
    memcpy(b, pkt_ns, 32);
    b[25] = 2;
    CHECK_EQ(sn_icmp6_parse(b, 32, NULL, &r), SN_WIRE_ETRUNC);
    /* A 16-byte lladdr option is not Ethernet: skipped, not an error. */
    memcpy(b, pkt_ns, 32);
    b[25] = 2;
    memset(b + 32, 0, 8);
    CHECK_EQ(sn_icmp6_parse(b, 40, NULL, &r), 24);
    CHECK_EQ(r.has_lladdr, 0);
    /* Non-ND types are not held to 24 bytes. */
    static const uint8_t rs[8] = {SN_ICMP6_RS, 0, 0, 0, 0, 0, 0, 0};
    CHECK_EQ(sn_icmp6_parse(rs, 8, NULL, &r), 8);
}

SN_TEST(icmp6_first_lladdr_option_wins)
{
    /* NS: a nonce, a target lladdr (not the NS's kind), then two source lladdrs. */
    uint8_t b[56];
    memcpy(b, pkt_ns, 24);
    static const uint8_t opts[32] = {
        14, 1, 1, 2, 3, 4, 5, 6,
        SN_ND_OPT_TLLA, 1, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
        SN_ND_OPT_SLLA, 1, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55,
        SN_ND_OPT_SLLA, 1, 0x02, 0x99, 0x99, 0x99, 0x99, 0x99,
    };
    memcpy(b + 24, opts, 32);
    struct sn_icmp6_repr r;
    CHECK_EQ(sn_icmp6_parse(b, 56, NULL, &r), 24);
    CHECK_EQ(r.has_lladdr, 1);
    CHECK_MEM(r.lladdr, "\x02\x11\x22\x33\x44\x55", 6);
    CHECK_EQ(r.data_len, 32);
    /* The same options in an NA: its kind is the target lladdr. */
    b[0] = SN_ICMP6_NA;
    CHECK_EQ(sn_icmp6_parse(b, 56, NULL, &r), 24);
    CHECK_MEM(r.lladdr, "\xaa\xaa\xaa\xaa\xaa\xaa", 6);
}

SN_TEST(icmp6_csum_always_pseudo_header)
{
    struct sn_icmp6_repr r;
    uint8_t b[32];
    memcpy(b, pkt_na, 32);
    /* The same bytes between other addresses fail: the pseudo-header counts. */
    CHECK_EQ(sn_icmp6_parse(b, 32, &ip_lo6, &r), SN_WIRE_ECSUM);
    const struct sn_ipaddrs ip = {6, a_h2, a_h1};
    for (size_t bit = 0; bit < 32 * 8; bit++) {
        memcpy(b, pkt_na, 32);
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        memset(&r, 0, sizeof(r));
        int rc = sn_icmp6_parse(b, 32, &ip, &r);
        /* Flipping the type or an option length changes the structure. */
        CHECK(rc == SN_WIRE_ECSUM || rc == SN_WIRE_EBAD || rc == SN_WIRE_ETRUNC);
        if (bit / 8 >= 2 && bit / 8 < 24) {
            CHECK_EQ(rc, SN_WIRE_ECSUM);
            CHECK_EQ(r.type, SN_ICMP6_NA); /* filled despite the bad checksum */
        }
    }
    /* ip == NULL skips the check; a v4 family is a caller error. */
    memcpy(b, pkt_na, 32);
    b[31] ^= 1;
    CHECK_EQ(sn_icmp6_parse(b, 32, NULL, &r), 24);
    CHECK_EQ(sn_icmp6_parse(b, 32, &ip_v4, &r), -EINVAL);
    CHECK_EQ(sn_icmp6_emit(&r, &ip_v4, b, sizeof(b)), -EINVAL);
    /* Emit without addresses leaves the checksum 0. */
    struct sn_icmp6_repr e = {.type = SN_ICMP6_ECHO, .id = 1, .seq = 2};
    CHECK_EQ(sn_icmp6_emit(&e, NULL, b, sizeof(b)), 8);
    CHECK_EQ(sn_load_be16(b + 2), 0);
    CHECK_EQ(sn_icmp6_emit(&e, &ip_v6, b, 7), -ENOSPC);
}

SN_TEST(icmp6_truncation_sweep)
{
    CHECK_EQ(sweep(p_icmp6, pkt_icmp6_echo, 8, &ip_lo6, 0, 0), -1);
    CHECK_EQ(sweep(p_icmp6, pkt_icmp6_unreach, 8, NULL, 0, 0), -1);
}

/* ======================================================================
 * UDP
 * ====================================================================== */

SN_TEST(udp4_real_datagram)
{
    uint8_t b[24];
    with_csum(b, pkt_udp4, 24, 6, UDP4_CSUM);
    CHECK_EQ(ref_sum(&ip_lo4, SN_IPPROTO_UDP, b, 24), 0);
    struct sn_udp_repr r;
    CHECK_EQ(sn_udp_parse(b, 24, 0, &ip_lo4, &r), 8);
    CHECK_EQ(r.sport, 58053);
    CHECK_EQ(r.dport, 47124);
    CHECK_EQ(r.length, 24);
    CHECK_EQ(r.checksum, UDP4_CSUM);
    CHECK(r.payload == b + 8);
    CHECK_EQ(r.payload_len, 16);
    CHECK_MEM(r.payload, "sysnet udp test\n", 16);
    uint8_t out[24];
    CHECK_EQ(sn_udp_emit(&r, &ip_lo4, out, sizeof(out)), 24);
    CHECK_MEM(out, b, 24);
    /* As captured on loopback (CHECKSUM_PARTIAL): does not verify, repr filled. */
    memset(&r, 0, sizeof(r));
    CHECK_EQ(sn_udp_parse(pkt_udp4, 24, 0, &ip_lo4, &r), SN_WIRE_ECSUM);
    CHECK_EQ(r.length, 24);
    CHECK_EQ(r.sport, 58053);
    CHECK_EQ(r.payload_len, 16);
    CHECK_EQ(sn_udp_parse(pkt_udp4, 24, 0, NULL, &r), 8);
}

SN_TEST(udp6_real_datagram)
{
    uint8_t b[14];
    with_csum(b, pkt_udp6, 14, 6, UDP6_CSUM);
    CHECK_EQ(ref_sum(&ip_lo6, SN_IPPROTO_UDP, b, 14), 0);
    struct sn_udp_repr r;
    CHECK_EQ(sn_udp_parse(b, 14, 0, &ip_lo6, &r), 8);
    CHECK_EQ(r.sport, 33867);
    CHECK_EQ(r.payload_len, 6);
    uint8_t out[14];
    CHECK_EQ(sn_udp_emit(&r, &ip_lo6, out, sizeof(out)), 14);
    CHECK_MEM(out, b, 14);
    CHECK_EQ(sn_udp_parse(pkt_udp6, 14, 0, &ip_lo6, &r), SN_WIRE_ECSUM);
    /* The quoted copy inside the ICMPv6 error is the same datagram. */
    CHECK_MEM(pkt_icmp6_unreach + 48, pkt_udp6, 14);
}

SN_TEST(udp_zero_checksum_v4_none_v6_invalid)
{
    static const uint8_t pl[5] = "hello";
    struct sn_udp_repr s = {.sport = 1000, .dport = 2000, .payload = pl, .payload_len = 5};
    uint8_t b[13];
    CHECK_EQ(sn_udp_emit(&s, NULL, b, sizeof(b)), 13);
    CHECK_EQ(sn_load_be16(b + 6), 0);
    struct sn_udp_repr r;
    /* RFC 768: zero = the sender computed none; over IPv4 that passes. */
    CHECK_EQ(sn_udp_parse(b, 13, 0, &ip_v4, &r), 8);
    CHECK_EQ(r.checksum, 0);
    CHECK_EQ(r.length, 13);
    /* RFC 8200 §8.1: over IPv6 a zero checksum is invalid. */
    memset(&r, 0, sizeof(r));
    CHECK_EQ(sn_udp_parse(b, 13, 0, &ip_v6, &r), SN_WIRE_ECSUM);
    CHECK_EQ(r.dport, 2000);
    CHECK_EQ(sn_udp_parse(b, 13, 0, NULL, &r), 8);
}

/* A payload whose last word makes the computed checksum 0. */
static void udp_zero_sum_payload(const struct sn_ipaddrs *ip, uint8_t *pl, size_t n)
{
    struct sn_udp_repr s = {.sport = 53, .dport = 5353, .payload = pl, .payload_len = n};
    uint8_t b[64];
    sn_store_be16(pl + n - 2, 0);
    sn_udp_emit(&s, ip, b, sizeof(b));
    /* With the last word w = checksum C, the sum becomes S + ~S = 0xffff: C' = 0. */
    sn_store_be16(pl + n - 2, sn_load_be16(b + 6));
}

SN_TEST(udp_computed_zero_sent_as_ffff)
{
    const struct sn_ipaddrs *ips[] = {&ip_v4, &ip_v6, &ip_lo4, &ip_lo6};
    for (size_t i = 0; i < SN_COUNTOF(ips); i++) {
        uint8_t pl[10] = {1, 2, 3, 4, 5, 6, 7, 8};
        udp_zero_sum_payload(ips[i], pl, sizeof(pl));
        CHECK(sn_load_be16(pl + 8) != 0);
        struct sn_udp_repr s = {.sport = 53, .dport = 5353, .payload = pl, .payload_len = 10};
        uint8_t b[18];
        CHECK_EQ(sn_udp_emit(&s, ips[i], b, sizeof(b)), 18);
        /* RFC 768: "If the computed checksum is zero, it is transmitted as all ones". */
        CHECK_EQ(sn_load_be16(b + 6), 0xffff);
        CHECK_EQ(ref_sum(ips[i], SN_IPPROTO_UDP, b, 18), 0);
        struct sn_udp_repr r;
        CHECK_EQ(sn_udp_parse(b, 18, 0, ips[i], &r), 8);
        CHECK_EQ(r.checksum, 0xffff);
    }
}

SN_TEST(udp_length_field_errors_and_padding)
{
    uint8_t b[32];
    struct sn_udp_repr r;
    with_csum(b, pkt_udp4, 24, 6, UDP4_CSUM);
    /* RFC 768: length < 8 is impossible. */
    for (uint16_t l = 0; l < 8; l++) {
        sn_store_be16(b + 4, l);
        CHECK_EQ(sn_udp_parse(b, 24, 0, NULL, &r), SN_WIRE_EBAD);
    }
    /* length > the bytes there: truncated. */
    sn_store_be16(b + 4, 25);
    CHECK_EQ(sn_udp_parse(b, 24, 0, NULL, &r), SN_WIRE_ETRUNC);
    sn_store_be16(b + 4, 0xffff);
    CHECK_EQ(sn_udp_parse(b, 24, 0, &ip_lo4, &r), SN_WIRE_ETRUNC);
    /* Bytes past the length (Ethernet padding) are not the datagram's, and
     * the checksum covers only the length. */
    with_csum(b, pkt_udp4, 24, 6, UDP4_CSUM);
    memset(b + 24, 0xab, 8);
    CHECK_EQ(sn_udp_parse(b, 32, 0, &ip_lo4, &r), 8);
    CHECK_EQ(r.payload_len, 16);
    CHECK_EQ(r.length, 24);
    /* Truncation: every shorter buffer. */
    CHECK_EQ(sweep(p_udp, b, 24, NULL, 0, 0), -1);
    CHECK_EQ(sweep(p_udp, b, 24, &ip_lo4, 0, 0), -1);
}

SN_TEST(udp_partial_capture_clipped)
{
    uint8_t b[24];
    with_csum(b, pkt_udp4, 24, 6, UDP4_CSUM);
    struct sn_udp_repr r;
    for (size_t l = 8; l < 24; l++) {
        CHECK_EQ(sn_udp_parse(b, l, 0, &ip_lo4, &r), SN_WIRE_ETRUNC);
        CHECK_EQ(sn_udp_parse(b, l, SN_WIRE_PARTIAL, &ip_lo4, &r), 8);
        CHECK_EQ(r.length, 24);
        CHECK_EQ(r.payload_len, l - 8);
    }
    CHECK_EQ(sn_udp_parse(b, 7, SN_WIRE_PARTIAL, NULL, &r), SN_WIRE_ETRUNC);
    sn_store_be16(b + 4, 7);
    CHECK_EQ(sn_udp_parse(b, 24, SN_WIRE_PARTIAL, NULL, &r), SN_WIRE_EBAD);
    /* Whole: the checksum is still verified. */
    with_csum(b, pkt_udp4, 24, 6, UDP4_CSUM ^ 1);
    CHECK_EQ(sn_udp_parse(b, 24, SN_WIRE_PARTIAL, &ip_lo4, &r), SN_WIRE_ECSUM);
}

SN_TEST(udp_roundtrip_v4_v6_and_emit_errors)
{
    uint8_t pl[301];
    for (size_t i = 0; i < sizeof(pl); i++)
        pl[i] = (uint8_t)(i * 7 + 3);
    const struct sn_ipaddrs *ips[] = {&ip_v4, &ip_v6};
    for (size_t i = 0; i < 2; i++) {
        for (size_t n = 0; n <= sizeof(pl); n += 37) {
            struct sn_udp_repr s = {.sport = 4242, .dport = 53, .payload = pl, .payload_len = n};
            uint8_t b[320];
            int rc = sn_udp_emit(&s, ips[i], b, sizeof(b));
            CHECK_EQ(rc, (int)(8 + n));
            CHECK_EQ(ref_sum(ips[i], SN_IPPROTO_UDP, b, 8 + n), 0);
            struct sn_udp_repr r;
            CHECK_EQ(sn_udp_parse(b, 8 + n, 0, ips[i], &r), 8);
            CHECK_EQ(r.sport, 4242);
            CHECK_EQ(r.dport, 53);
            CHECK_EQ(r.length, 8 + n);
            CHECK_EQ(r.payload_len, n);
            CHECK(n == 0 || memcmp(r.payload, pl, n) == 0);
            /* Wrong pseudo-header: the other family's addresses. */
            CHECK_EQ(sn_udp_parse(b, 8 + n, 0, ips[1 - i], &r), SN_WIRE_ECSUM);
        }
    }
    struct sn_udp_repr s = {.payload = pl, .payload_len = 10};
    uint8_t b[20];
    memset(b, 0xee, sizeof(b));
    CHECK_EQ(sn_udp_emit(&s, &ip_v4, b, 17), -ENOSPC);
    CHECK_EQ(b[0], 0xee);
    s.payload_len = 0xffff - 7;
    CHECK_EQ(sn_udp_emit(&s, &ip_v4, b, sizeof(b)), -EMSGSIZE);
    s.payload = NULL;
    s.payload_len = 1;
    CHECK_EQ(sn_udp_emit(&s, &ip_v4, b, sizeof(b)), -EINVAL);
    const struct sn_ipaddrs bad = {5, a_b1, a_b2};
    s.payload_len = 0;
    CHECK_EQ(sn_udp_emit(&s, &bad, b, sizeof(b)), -EINVAL);
    struct sn_udp_repr r;
    CHECK_EQ(sn_udp_parse(b, 8, 0, &bad, &r), -EINVAL);
}

/* ======================================================================
 * TCP
 * ====================================================================== */

SN_TEST(tcp_linux_syn_real)
{
    uint8_t b[40];
    with_csum(b, pkt_tcp_syn, 40, 16, TCP_SYN_CSUM);
    CHECK_EQ(ref_sum(&ip_lo4, SN_IPPROTO_TCP, b, 40), 0);
    uint8_t *c = dup_exact(b, 40);
    struct sn_tcp_repr r;
    CHECK_EQ(sn_tcp_parse(c, 40, &ip_lo4, &r), 40);
    CHECK_EQ(r.sport, 41184);
    CHECK_EQ(r.dport, 47123);
    CHECK_EQ(r.seq, 826974666u);
    CHECK_EQ(r.ack, 0);
    CHECK_EQ(r.hdr_len, 40);
    CHECK_EQ(r.flags, SN_TCP_SYN);
    CHECK_EQ(r.window, 65495);
    CHECK_EQ(r.checksum, TCP_SYN_CSUM);
    CHECK_EQ(r.urgent, 0);
    CHECK(r.has_mss && r.sack_perm && r.has_ts && r.has_wscale);
    CHECK_EQ(r.mss, 65495);
    CHECK_EQ(r.ts_val, 233714326u);
    CHECK_EQ(r.ts_ecr, 0);
    CHECK_EQ(r.wscale, 10);
    CHECK_EQ(r.nsack, 0);
    CHECK(r.opts == c + 20);
    CHECK_EQ(r.opts_len, 20);
    CHECK(r.payload == c + 40);
    CHECK_EQ(r.payload_len, 0);
    free(c);
    /* The repr emits exactly what the kernel sent: Linux's option layout. */
    uint8_t out[40];
    CHECK_EQ(sn_tcp_emit(&r, &ip_lo4, out, sizeof(out)), 40);
    CHECK_MEM(out, b, 40);
    /* Built from scratch: MSS, SACK_PERM+TS, NOP WS. */
    struct sn_tcp_repr s = {.sport = 41184, .dport = 47123, .seq = 826974666u, .flags = SN_TCP_SYN,
                            .window = 65495, .has_mss = 1, .mss = 65495, .sack_perm = 1,
                            .has_ts = 1, .ts_val = 233714326u, .has_wscale = 1, .wscale = 10};
    memset(out, 0xee, sizeof(out));
    CHECK_EQ(sn_tcp_emit(&s, &ip_lo4, out, sizeof(out)), 40);
    CHECK_MEM(out, b, 40);
    /* WS 7 (the common case off loopback) changes just that byte and the sum. */
    s.wscale = 7;
    CHECK_EQ(sn_tcp_emit(&s, &ip_lo4, out, sizeof(out)), 40);
    CHECK_MEM(out + 20, "\x02\x04\xff\xd7\x04\x02\x08\x0a\x0d\xee\x32\x96\0\0\0\0\x01\x03\x03\x07", 20);
    CHECK_EQ(ref_sum(&ip_lo4, SN_IPPROTO_TCP, out, 40), 0);
}

SN_TEST(tcp_loopback_partial_csum_is_ecsum_repr_filled)
{
    struct sn_tcp_repr r;
    memset(&r, 0, sizeof(r));
    CHECK_EQ(sn_tcp_parse(pkt_tcp_syn, 40, &ip_lo4, &r), SN_WIRE_ECSUM);
    CHECK_EQ(r.sport, 41184);
    CHECK_EQ(r.checksum, 0xfe30);
    CHECK_EQ(r.mss, 65495);
    CHECK_EQ(r.wscale, 10);
    CHECK_EQ(sn_tcp_parse(pkt_tcp_syn, 40, NULL, &r), 40);
    /* CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum. */
    CHECK_EQ(r.checksum, (uint16_t)~sn_csum_fold(sn_csum_pseudo4(a_lo4, a_lo4, SN_IPPROTO_TCP, 40)));
}

SN_TEST(tcp_synack_and_data_real)
{
    uint8_t b[40];
    struct sn_tcp_repr r;
    uint8_t out[40];
    with_csum(b, pkt_tcp_synack, 40, 16, TCP_SYNACK_CSUM);
    CHECK_EQ(sn_tcp_parse(b, 40, &ip_lo4, &r), 40);
    CHECK_EQ(r.flags, SN_TCP_SYN | SN_TCP_ACK);
    CHECK_EQ(r.ack, 826974667u);
    CHECK_EQ(r.ts_ecr, 233714326u);
    CHECK_EQ(sn_tcp_emit(&r, &ip_lo4, out, sizeof(out)), 40);
    CHECK_MEM(out, b, 40);
    /* PSH|ACK with NOP NOP TS and 5 bytes of data. */
    with_csum(b, pkt_tcp_psh, 37, 16, TCP_PSH_CSUM);
    CHECK_EQ(sn_tcp_parse(b, 37, &ip_lo4, &r), 32);
    CHECK_EQ(r.flags, SN_TCP_PSH | SN_TCP_ACK);
    CHECK_EQ(r.window, 64);
    CHECK(!r.has_mss && !r.sack_perm && !r.has_wscale && r.has_ts);
    CHECK_EQ(r.payload_len, 5);
    CHECK_MEM(r.payload, "hello", 5);
    CHECK_EQ(sn_tcp_emit(&r, &ip_lo4, out, sizeof(out)), 37);
    CHECK_MEM(out, b, 37);
    CHECK_EQ(sweep(p_tcp, b, 32, &ip_lo4, 0, 0), -1);
}

SN_TEST(tcp_option_layouts_like_linux)
{
    uint8_t out[60];
    struct sn_tcp_repr s = {.flags = SN_TCP_ACK, .has_ts = 1, .ts_val = 0x01020304, .ts_ecr = 0x0a0b0c0d};
    CHECK_EQ(sn_tcp_emit(&s, NULL, out, sizeof(out)), 32);
    CHECK_MEM(out + 20, "\x01\x01\x08\x0a\x01\x02\x03\x04\x0a\x0b\x0c\x0d", 12);
    CHECK_EQ(out[12], 8 << 4);
    CHECK_EQ(sn_load_be16(out + 16), 0); /* no addresses: checksum 0 */
    struct sn_tcp_repr p = {.flags = SN_TCP_SYN, .sack_perm = 1};
    CHECK_EQ(sn_tcp_emit(&p, NULL, out, sizeof(out)), 24);
    CHECK_MEM(out + 20, "\x01\x01\x04\x02", 4);
    struct sn_tcp_repr w = {.flags = SN_TCP_SYN, .has_wscale = 1, .wscale = 14};
    CHECK_EQ(sn_tcp_emit(&w, NULL, out, sizeof(out)), 24);
    CHECK_MEM(out + 20, "\x01\x03\x03\x0e", 4);
    struct sn_tcp_repr m = {.flags = SN_TCP_SYN, .has_mss = 1, .mss = 1460, .has_wscale = 1,
                            .wscale = 7, .sack_perm = 1};
    CHECK_EQ(sn_tcp_emit(&m, NULL, out, sizeof(out)), 32);
    CHECK_MEM(out + 20, "\x02\x04\x05\xb4\x01\x01\x04\x02\x01\x03\x03\x07", 12);
    struct sn_tcp_repr none = {.flags = SN_TCP_RST};
    CHECK_EQ(sn_tcp_emit(&none, NULL, out, sizeof(out)), 20);
    CHECK_EQ(out[12], 5 << 4);
    struct sn_tcp_repr r;
    CHECK_EQ(sn_tcp_parse(out, 20, NULL, &r), 20);
    CHECK(r.opts == NULL && r.opts_len == 0);
    CHECK(!r.has_mss && !r.has_wscale && !r.sack_perm && !r.has_ts && r.nsack == 0);
}

SN_TEST(tcp_sack_blocks_1_to_4)
{
    for (uint8_t n = 1; n <= SN_TCP_MAX_SACK; n++) {
        struct sn_tcp_repr s = {.sport = 80, .dport = 1234, .seq = 1, .ack = 1000, .flags = SN_TCP_ACK,
                                .window = 512, .nsack = n};
        for (uint8_t i = 0; i < n; i++) {
            s.sack[i][0] = 0x10000000u * (i + 1) + 1;
            s.sack[i][1] = 0x10000000u * (i + 1) + 1449;
        }
        uint8_t out[60];
        int hl = 20 + 4 + 8 * n;
        CHECK_EQ(sn_tcp_emit(&s, &ip_v4, out, sizeof(out)), hl);
        CHECK(out[20] == 1 && out[21] == 1 && out[22] == SN_TCPOPT_SACK && out[23] == 2 + 8 * n);
        CHECK_EQ(sn_load_be32(out + 24), s.sack[0][0]);
        struct sn_tcp_repr r;
        CHECK_EQ(sn_tcp_parse(out, (size_t)hl, &ip_v4, &r), hl);
        CHECK_EQ(r.nsack, n);
        for (uint8_t i = 0; i < n; i++) {
            CHECK_EQ(r.sack[i][0], s.sack[i][0]);
            CHECK_EQ(r.sack[i][1], s.sack[i][1]);
        }
        /* With timestamps (as Linux sends on every segment): 3 blocks fit, 4 do not. */
        s.has_ts = 1;
        s.ts_val = 77;
        s.ts_ecr = 66;
        int rc = sn_tcp_emit(&s, &ip_v6, out, sizeof(out));
        if (n <= 3) {
            CHECK_EQ(rc, hl + 12);
            CHECK_MEM(out + 20, "\x01\x01\x08\x0a", 4);
            CHECK_MEM(out + 32, "\x01\x01\x05", 3);
            CHECK_EQ(sn_tcp_parse(out, (size_t)rc, &ip_v6, &r), rc);
            CHECK_EQ(r.nsack, n);
            CHECK_EQ(r.ts_val, 77);
            CHECK_EQ(r.sack[n - 1][1], s.sack[n - 1][1]);
        } else {
            CHECK_EQ(rc, -EINVAL);
        }
    }
}

SN_TEST(tcp_roundtrip_all_options_v4_v6)
{
    uint8_t pl[1000];
    for (size_t i = 0; i < sizeof(pl); i++)
        pl[i] = (uint8_t)(i ^ 0x5a);
    const struct sn_ipaddrs *ips[] = {&ip_v4, &ip_v6, &ip_lo4, &ip_lo6};
    for (size_t k = 0; k < SN_COUNTOF(ips); k++) {
        for (size_t n = 0; n <= sizeof(pl); n += 111) {
            struct sn_tcp_repr s = {
                .sport = 443, .dport = 50000, .seq = 0xfffffff0u, .ack = 0x80000001u,
                .flags = SN_TCP_ACK | SN_TCP_PSH | SN_TCP_ECE | SN_TCP_CWR | SN_TCP_AE | SN_TCP_URG,
                .window = 0xabcd, .urgent = 3, .has_mss = 1, .mss = 1220, .sack_perm = 1,
                .has_ts = 1, .ts_val = 0xdeadbeefu, .ts_ecr = 0x01234567u, .has_wscale = 1,
                .wscale = 14, .nsack = 1, .sack = {{100, 200}}, .payload = pl, .payload_len = n,
            };
            uint8_t b[1100];
            int rc = sn_tcp_emit(&s, ips[k], b, sizeof(b));
            CHECK_EQ(rc, (int)(52 + n)); /* MSS 4, SACK_PERM+TS 12, WS 4, SACK 12 */
            CHECK_EQ(ref_sum(ips[k], SN_IPPROTO_TCP, b, (size_t)rc), 0);
            struct sn_tcp_repr r;
            CHECK_EQ(sn_tcp_parse(b, (size_t)rc, ips[k], &r), 52);
            CHECK_EQ(r.sport, 443);
            CHECK_EQ(r.seq, 0xfffffff0u);
            CHECK_EQ(r.ack, 0x80000001u);
            CHECK_EQ(r.flags, s.flags);
            CHECK_EQ(r.window, 0xabcd);
            CHECK_EQ(r.urgent, 3);
            CHECK(r.has_mss && r.sack_perm && r.has_ts && r.has_wscale);
            CHECK_EQ(r.mss, 1220);
            CHECK_EQ(r.wscale, 14);
            CHECK_EQ(r.ts_val, 0xdeadbeefu);
            CHECK_EQ(r.ts_ecr, 0x01234567u);
            CHECK_EQ(r.nsack, 1);
            CHECK_EQ(r.sack[0][1], 200);
            CHECK_EQ(r.payload_len, n);
            CHECK(n == 0 || memcmp(r.payload, pl, n) == 0);
            CHECK_EQ(sn_tcp_parse(b, (size_t)rc, ips[k ^ 1], &r), SN_WIRE_ECSUM);
            /* Re-emit from the parsed repr: identical. */
            uint8_t b2[1100];
            CHECK_EQ(sn_tcp_emit(&r, ips[k], b2, sizeof(b2)), rc);
            CHECK_MEM(b2, b, (size_t)rc);
        }
    }
}

SN_TEST(tcp_malformed_options_are_ebad)
{
    static const struct {
        uint8_t opts[12];
        uint8_t len;
        int want;
    } cases[] = {
        {{2, 3, 0xff, 0}, 4, SN_WIRE_EBAD},                       /* MSS len 3 */
        {{2, 5, 0xff, 0xff, 0, 1, 1, 1}, 8, SN_WIRE_EBAD},       /* MSS len 5 */
        {{3, 2, 1, 1}, 4, SN_WIRE_EBAD},                          /* WS len 2 */
        {{3, 4, 7, 0}, 4, SN_WIRE_EBAD},                          /* WS len 4 */
        {{4, 3, 0, 0}, 4, SN_WIRE_EBAD},                          /* SACK-perm len 3 */
        {{4, 4, 0, 0}, 4, SN_WIRE_EBAD},                          /* SACK-perm len 4 */
        {{8, 8, 1, 2, 3, 4, 5, 6}, 8, SN_WIRE_EBAD},              /* TS len 8 */
        {{8, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 12, SN_WIRE_EBAD}, /* TS len 12 */
        {{5, 2, 0, 0}, 4, SN_WIRE_EBAD},                          /* SACK, no blocks */
        {{5, 9, 1, 2, 3, 4, 5, 6, 7, 0}, 12, SN_WIRE_EBAD},       /* SACK len 9 */
        {{5, 11, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0}, 12, SN_WIRE_EBAD}, /* SACK len 11 */
        {{1, 1, 1, 2}, 4, SN_WIRE_EBAD},                          /* kind, no length byte */
        {{2, 8, 0, 0}, 4, SN_WIRE_EBAD},                          /* length past the end */
        {{0xfe, 0, 0, 0}, 4, SN_WIRE_EBAD},                       /* length 0 */
        {{0xfe, 1, 0, 0}, 4, SN_WIRE_EBAD},                       /* length 1 */
        {{0xfe, 4, 0, 0}, 4, 0},                                  /* unknown kind: skipped */
        {{0, 0xff, 2, 3}, 4, 0},                                  /* after EOL: padding */
        {{1, 1, 1, 1}, 4, 0},                                     /* NOPs */
        {{1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2}, 12, 0},           /* SACK, one block */
        {{2, 4, 0x05, 0xb4, 2, 4, 0x02, 0x18}, 8, 0},             /* MSS twice: last wins */
    };
    for (size_t i = 0; i < SN_COUNTOF(cases); i++) {
        uint8_t h[60];
        size_t n = mk_tcp(h, cases[i].opts, cases[i].len);
        struct sn_tcp_repr r;
        memset(&r, 0xa5, sizeof(r));
        int rc = sn_tcp_parse(h, n, NULL, &r);
        if (cases[i].want < 0) {
            CHECK_EQ(rc, cases[i].want);
            /* Bad input leaves the caller's repr untouched. */
            struct sn_tcp_repr untouched;
            memset(&untouched, 0xa5, sizeof(untouched));
            CHECK_MEM(&r, &untouched, sizeof(r));
            /* A malformed option is reported before a checksum mismatch. */
            CHECK_EQ(sn_tcp_parse(h, n, &ip_v4, &r), cases[i].want);
        } else {
            CHECK_EQ(rc, (int)n);
        }
    }
    uint8_t h[60];
    struct sn_tcp_repr r;
    size_t n = mk_tcp(h, cases[19].opts, 8);
    CHECK_EQ(sn_tcp_parse(h, n, NULL, &r), 28);
    CHECK_EQ(r.mss, 536);
    /* A window scale above 14 is kept as sent (RFC 7323 §2.3 caps it on use). */
    n = mk_tcp(h, (const uint8_t *)"\x01\x03\x03\x0f", 4);
    CHECK_EQ(sn_tcp_parse(h, n, NULL, &r), 24);
    CHECK_EQ(r.wscale, 15);
}

SN_TEST(tcp_data_offset_errors_and_truncation)
{
    uint8_t b[40];
    struct sn_tcp_repr r;
    with_csum(b, pkt_tcp_syn, 40, 16, TCP_SYN_CSUM);
    /* RFC 9293 §3.1: data offset below 5 words is impossible. */
    for (uint8_t doff = 0; doff < 5; doff++) {
        b[12] = (uint8_t)(doff << 4 | (b[12] & 0x0f));
        CHECK_EQ(sn_tcp_parse(b, 40, NULL, &r), SN_WIRE_EBAD);
    }
    /* A data offset past the bytes there: truncated. */
    b[12] = 0xb0;
    CHECK_EQ(sn_tcp_parse(b, 40, NULL, &r), SN_WIRE_ETRUNC);
    b[12] = 0xf0;
    CHECK_EQ(sn_tcp_parse(b, 40, &ip_lo4, &r), SN_WIRE_ETRUNC);
    with_csum(b, pkt_tcp_syn, 40, 16, TCP_SYN_CSUM);
    CHECK_EQ(sweep(p_tcp, b, 40, NULL, 0, 0), -1);
    CHECK_EQ(sweep(p_tcp, b, 40, &ip_lo4, 0, 0), -1);
    /* Reserved and AE bits are flags; bytes 12-13 keep 12 of them. */
    b[12] = 0xaf;
    CHECK_EQ(sn_tcp_parse(b, 40, NULL, &r), 40);
    CHECK_EQ(r.flags, 0xf02);
    CHECK(r.flags & SN_TCP_AE);
}

SN_TEST(tcp_csum_bit_flips_and_arguments)
{
    uint8_t b[37];
    struct sn_tcp_repr r;
    for (size_t bit = 0; bit < 37 * 8; bit++) {
        with_csum(b, pkt_tcp_psh, 37, 16, TCP_PSH_CSUM);
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        memset(&r, 0, sizeof(r));
        int rc = sn_tcp_parse(b, 37, &ip_lo4, &r);
        if (bit / 8 == 12 && bit % 8 >= 4) { /* the data offset: structure changes */
            CHECK(rc == SN_WIRE_ETRUNC || rc == SN_WIRE_EBAD || rc == SN_WIRE_ECSUM);
            continue;
        }
        if (bit / 8 >= 20 && bit / 8 < 24) { /* NOP NOP kind len: may become malformed */
            CHECK(rc == SN_WIRE_EBAD || rc == SN_WIRE_ECSUM);
            continue;
        }
        CHECK_EQ(rc, SN_WIRE_ECSUM);
        CHECK_EQ(r.hdr_len, 32);
        CHECK_EQ(r.payload_len, 5);
    }
    /* Arguments: an unknown family; an IPv4 segment longer than 16 bits can say. */
    const struct sn_ipaddrs bad = {0, a_b1, a_b2};
    CHECK_EQ(sn_tcp_parse(b, 37, &bad, &r), -EINVAL);
    uint8_t *big = calloc(70000, 1);
    mk_tcp(big, (const uint8_t *)"", 0);
    CHECK_EQ(sn_tcp_parse(big, 70000, NULL, &r), 20);
    CHECK_EQ(r.payload_len, 70000 - 20);
    CHECK_EQ(sn_tcp_parse(big, 70000, &ip_v4, &r), -EINVAL);
    free(big);
}

SN_TEST(tcp_emit_errors_and_in_place)
{
    uint8_t out[60];
    memset(out, 0xee, sizeof(out));
    struct sn_tcp_repr s = {.flags = SN_TCP_SYN, .has_wscale = 1, .wscale = 15};
    CHECK_EQ(sn_tcp_emit(&s, NULL, out, sizeof(out)), -EINVAL); /* RFC 7323 §2.3 */
    s.wscale = 14;
    s.flags = 0x1000;
    CHECK_EQ(sn_tcp_emit(&s, NULL, out, sizeof(out)), -EINVAL);
    s.flags = SN_TCP_ACK;
    s.nsack = 5;
    CHECK_EQ(sn_tcp_emit(&s, NULL, out, sizeof(out)), -EINVAL);
    s.nsack = 4; /* 4 + 4 + 32 = 40: fits exactly */
    CHECK_EQ(sn_tcp_emit(&s, NULL, out, sizeof(out)), 60);
    CHECK_EQ(out[12], 15 << 4);
    s.has_mss = 1; /* 44 bytes of options */
    CHECK_EQ(sn_tcp_emit(&s, NULL, out, sizeof(out)), -EINVAL);
    s.has_mss = 0;
    CHECK_EQ(sn_tcp_emit(&s, NULL, out, 59), -ENOSPC);
    s.payload_len = 1;
    CHECK_EQ(sn_tcp_emit(&s, NULL, out, sizeof(out)), -EINVAL);
    s.payload = out;
    s.payload_len = 0xffff - 59;
    CHECK_EQ(sn_tcp_emit(&s, NULL, out, sizeof(out)), -EMSGSIZE);
    const struct sn_ipaddrs bad = {6, NULL, a_h2};
    s.payload_len = 0;
    CHECK_EQ(sn_tcp_emit(&s, &bad, out, sizeof(out)), -EINVAL);
    uint8_t small[19];
    memset(small, 0xee, sizeof(small));
    struct sn_tcp_repr z = {.flags = SN_TCP_RST};
    CHECK_EQ(sn_tcp_emit(&z, NULL, small, sizeof(small)), -ENOSPC);
    for (size_t i = 0; i < sizeof(small); i++)
        CHECK_EQ(small[i], 0xee);
    /* In place: re-emit the parsed PSH with fewer options; the data moves down. */
    uint8_t b[37];
    with_csum(b, pkt_tcp_psh, 37, 16, TCP_PSH_CSUM);
    struct sn_tcp_repr r;
    CHECK_EQ(sn_tcp_parse(b, 37, &ip_lo4, &r), 32);
    r.has_ts = 0;
    CHECK_EQ(sn_tcp_emit(&r, &ip_lo4, b, sizeof(b)), 25);
    CHECK_MEM(b + 20, "hello", 5);
    CHECK_EQ(sn_tcp_parse(b, 25, &ip_lo4, &r), 20);
}

/* ======================================================================
 * Robustness: random and mutated buffers through every parser
 * ====================================================================== */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    uint64_t x = rng_state; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* The invariants a successful parse must keep, per protocol: 2 parsed and
 * consistent, 1 one of the wire errors, 0 anything else. */
static int check_icmp4(const uint8_t *p, size_t len, const struct sn_ipaddrs *ip)
{
    struct sn_icmp4_repr r;
    int rc = sn_icmp4_parse(p, len, ip ? SN_WIRE_CSUM : 0, &r);
    if (rc == SN_WIRE_ETRUNC || rc == SN_WIRE_ECSUM)
        return 1;
    return (rc == 8 && r.data == p + 8 && r.data_len == len - 8) ? 2 : 0;
}
static int check_icmp6(const uint8_t *p, size_t len, const struct sn_ipaddrs *ip)
{
    struct sn_icmp6_repr r;
    int rc = sn_icmp6_parse(p, len, ip, &r);
    if (rc == SN_WIRE_ETRUNC || rc == SN_WIRE_EBAD || rc == SN_WIRE_ECSUM)
        return 1;
    return ((rc == 8 || rc == 24) && r.data == p + rc && r.data_len == len - (size_t)rc &&
            r.has_lladdr <= 1 && (r.na_flags & 0x1f) == 0) ? 2 : 0;
}
static int check_udp(const uint8_t *p, size_t len, const struct sn_ipaddrs *ip)
{
    struct sn_udp_repr r;
    int rc = sn_udp_parse(p, len, 0, ip, &r);
    if (rc == SN_WIRE_ETRUNC || rc == SN_WIRE_EBAD || rc == SN_WIRE_ECSUM)
        return 1;
    return (rc == 8 && r.length >= 8 && r.length <= len && r.payload == p + 8 &&
            r.payload_len == (size_t)r.length - 8) ? 2 : 0;
}
static int check_tcp(const uint8_t *p, size_t len, const struct sn_ipaddrs *ip)
{
    struct sn_tcp_repr r;
    int rc = sn_tcp_parse(p, len, ip, &r);
    if (rc == SN_WIRE_ETRUNC || rc == SN_WIRE_EBAD || rc == SN_WIRE_ECSUM)
        return 1;
    return (rc == r.hdr_len && r.hdr_len >= 20 && r.hdr_len <= 60 && r.hdr_len % 4 == 0 &&
            r.hdr_len <= len && r.opts_len == r.hdr_len - 20 && r.payload == p + r.hdr_len &&
            r.payload_len == len - r.hdr_len && r.nsack <= SN_TCP_MAX_SACK && r.flags <= 0xfff)
               ? 2 : 0;
}

SN_TEST(random_bytes_robustness_100k)
{
    static const struct {
        const uint8_t *p;
        size_t n;
    } seeds[] = {
        {pkt_tcp_syn, 40}, {pkt_tcp_psh, 37}, {pkt_udp4, 24}, {pkt_udp6, 14},
        {pkt_icmp4_echo, 64}, {pkt_icmp6_unreach, 62}, {pkt_ns, 32}, {pkt_na, 32},
    };
    typedef int (*check_fn)(const uint8_t *, size_t, const struct sn_ipaddrs *);
    static const check_fn checks[] = {check_icmp4, check_icmp6, check_udp, check_tcp};
    const struct sn_ipaddrs *ips[] = {NULL, &ip_v4, &ip_v6};
    uint8_t src[96];
    long parsed[SN_COUNTOF(checks)] = {0};
    for (int it = 0; it < 100000; it++) {
        size_t len;
        if (it & 1) { /* pure random bytes */
            len = rnd() % sizeof(src);
            for (size_t i = 0; i < len; i++)
                src[i] = (uint8_t)rnd();
        } else { /* a real packet with a few bytes mutated, maybe cut or extended */
            size_t k = rnd() % SN_COUNTOF(seeds);
            memcpy(src, seeds[k].p, seeds[k].n);
            len = seeds[k].n;
            for (int m = (int)(rnd() % 4); m >= 0; m--)
                src[rnd() % len] = (uint8_t)rnd();
            if (rnd() % 4 == 0)
                len = rnd() % (len + 1);
        }
        uint8_t *b = dup_exact(src, len);
        for (size_t c = 0; c < SN_COUNTOF(checks); c++) {
            for (size_t i = 0; i < SN_COUNTOF(ips); i++) {
                const struct sn_ipaddrs *ip = ips[i];
                if (c == 1 && ip && ip->family == 4)
                    continue; /* ICMPv6 over IPv4 is a caller error */
                int ok = checks[c](b, len, ip);
                if (!ok) {
                    free(b);
                    CHECK(!"invariant broken");
                }
                parsed[c] += ok == 2;
            }
        }
        free(b);
    }
    /* The mutated real packets reach the option walkers, not just the length checks. */
    for (size_t c = 0; c < SN_COUNTOF(checks); c++)
        CHECK(parsed[c] > 5000);
}
