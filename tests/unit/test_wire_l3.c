/* test_wire_l3.c — link and network layers of wire: Ethernet II, 802.1Q/QinQ,
 * ARP, IPv4 (+ options, sn_opt_next), IPv6 (+ extension-header chain).
 * Round trips, known-good bytes, truncation sweeps on exact-size heap copies
 * (so ASan sees any read past len), one test per distinct error, and a
 * random-bytes robustness loop. */
#include "../harness.h"
#include <sysnet/wire.h>
#include <errno.h>

/* ---- helpers ------------------------------------------------------------ */

typedef int (*parse_fn)(const uint8_t *p, size_t len);

static int p_eth(const uint8_t *p, size_t len) { struct sn_eth_repr r; return sn_eth_parse(p, len, &r); }
static int p_vlan(const uint8_t *p, size_t len) { struct sn_vlan_repr r; return sn_vlan_parse(p, len, &r); }
static int p_arp(const uint8_t *p, size_t len) { struct sn_arp_repr r; return sn_arp_parse(p, len, &r); }
static int p_ipv4(const uint8_t *p, size_t len)
{
    struct sn_ipv4_repr r;
    return sn_ipv4_parse(p, len, SN_WIRE_CSUM, &r);
}
static int p_ipv6(const uint8_t *p, size_t len) { struct sn_ipv6_repr r; return sn_ipv6_parse(p, len, 0, &r); }
static int p_walk(const uint8_t *p, size_t len) { struct sn_ipv6_chain c; return sn_ipv6_walk(p, len, &c); }

/* A heap copy of exactly n bytes: ASan reports any read at p[n]. */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
    uint8_t *q = malloc(n);
    if (n)
        memcpy(q, p, n);
    return q;
}

/* f on pkt[0..l) for every l < n; the first l that is not ETRUNC, or -1. */
static long sweep(parse_fn f, const uint8_t *pkt, size_t n)
{
    for (size_t l = 0; l < n; l++) {
        uint8_t *b = dup_exact(pkt, l);
        int rc = f(b, l);
        free(b);
        if (rc != SN_WIRE_ETRUNC)
            return (long)l;
    }
    return -1;
}

/* f on an exact-size heap copy of the whole of pkt. */
static int exact(parse_fn f, const uint8_t *pkt, size_t n)
{
    uint8_t *b = dup_exact(pkt, n);
    int rc = f(b, n);
    free(b);
    return rc;
}

/* An IPv4 header with these raw option bytes (olen a multiple of 4), a correct
 * checksum, and total length = header + payload. Returns the header length. */
static size_t mk_ipv4(uint8_t *h, const uint8_t *opts, size_t olen, size_t payload)
{
    static const uint8_t base[20] = {0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0,
                                     198, 18, 0, 1, 198, 18, 0, 2};
    size_t hlen = 20 + olen;
    memcpy(h, base, 20);
    memcpy(h + 20, opts, olen);
    h[0] = (uint8_t)(0x40 | hlen / 4);
    sn_store_be16(h + 2, (uint16_t)(hlen + payload));
    sn_store_be16(h + 10, sn_csum(h, hlen));
    return hlen;
}

static const uint8_t ip6_src[16] = {0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t ip6_dst[16] = {0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

/* A bare IPv6 header: payload_len and next header as given. */
static void mk_ipv6(uint8_t *p, uint16_t plen, uint8_t nxt)
{
    struct sn_ipv6_repr r = {.payload_len = plen, .next_header = nxt, .hop_limit = 64};
    memcpy(r.src, ip6_src, 16);
    memcpy(r.dst, ip6_dst, 16);
    sn_ipv6_emit(&r, p, 40);
}

/* ---- known-good bytes -------------------------------------------------- */

/* An ARP request from Wireshark's sample arp-storm.pcap: "Who has
 * 24.166.173.159? Tell 24.166.172.1", Ethernet header included. */
static const uint8_t arp_frame[42] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x07, 0x0d, 0xaf, 0xf4, 0x54, 0x08, 0x06, /* eth */
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,                                     /* ARP */
    0x00, 0x07, 0x0d, 0xaf, 0xf4, 0x54, 0x18, 0xa6, 0xac, 0x01,                         /* sha spa */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x18, 0xa6, 0xad, 0x9f,                         /* tha tpa */
};

/* The IPv4 header of Wikipedia's "IPv4 header checksum" example: UDP, 115 bytes,
 * 192.168.0.1 -> 192.168.0.199. Checksum by hand: 4500+0073+0000+4000+4011+c0a8
 * +0001+c0a8+00c7 = 0x2479c; fold 0x479c+0x2 = 0x479e; ~ = 0xb861. */
static const uint8_t ipv4_wiki[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                                      0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

/* An IGMPv2 general query as routers send it: IHL 6 with a Router Alert option
 * (RFC 2113), TOS 0xc0, TTL 1, 192.168.1.1 -> 224.0.0.1. Header checksum 0x426d,
 * IGMP checksum 0xee9b (~0x1164). */
static const uint8_t igmp_query[32] = {
    0x46, 0xc0, 0x00, 0x20, 0x00, 0x00, 0x40, 0x00, 0x01, 0x02, 0x42, 0x6d,
    0xc0, 0xa8, 0x01, 0x01, 0xe0, 0x00, 0x00, 0x01, 0x94, 0x04, 0x00, 0x00, /* RA option */
    0x11, 0x64, 0xee, 0x9b, 0x00, 0x00, 0x00, 0x00,                         /* IGMP */
};

/* An MLDv2 report as Linux sends it when joining ff02::1:ff33:4455: hop-by-hop
 * with Router Alert (MLD) + PadN, then ICMPv6 type 143 (checksum 0xc4e7). */
static const uint8_t mld_report[76] = {
    0x60, 0x00, 0x00, 0x00, 0x00, 0x24, 0x00, 0x01,
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55,
    0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16,
    0x3a, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00,                   /* hop-by-hop */
    0x8f, 0x00, 0xc4, 0xe7, 0x00, 0x00, 0x00, 0x01,                   /* MLDv2 report */
    0x04, 0x00, 0x00, 0x00, 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0x33, 0x44, 0x55,
};

/* An IPv6 packet with the full chain in RFC 8200 §4.1 order: hop-by-hop (Router
 * Alert), a segment routing header (type 4, one segment), the first fragment
 * (M=1, id 0x12345678), destination options (PadN), then UDP. */
static const uint8_t chain_pkt[96] = {
    0x60, 0x00, 0x00, 0x00, 0x00, 0x38, 0x00, 0x40,
    0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
    0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
    0x2b, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00,                   /* 40 HBH -> 43 */
    0x2c, 0x02, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,                   /* 48 RH -> 44 */
    0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
    0x3c, 0x00, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78,                   /* 72 frag -> 60 */
    0x11, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00,                   /* 80 dstopts -> 17 */
    0x30, 0x39, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00,                   /* 88 UDP */
};

/* ---- Ethernet and VLAN ------------------------------------------------- */

SN_TEST(eth_parse_real_header)
{
    struct sn_eth_repr e;
    CHECK_EQ(sn_eth_parse(arp_frame, sizeof(arp_frame), &e), 14);
    CHECK_MEM(e.dst, "\xff\xff\xff\xff\xff\xff", 6);
    CHECK_MEM(e.src, "\x00\x07\x0d\xaf\xf4\x54", 6);
    CHECK_EQ(e.type, SN_ETHERTYPE_ARP);
    CHECK(!sn_eth_is_vlan(e.type));
}

SN_TEST(eth_emit_parse_roundtrip)
{
    struct sn_eth_repr e = {.dst = {0x02, 0, 0x5e, 0x10, 0x20, 0x30}, .src = {0x0a, 0xbb, 0xcc, 0xdd, 0xee, 0xff},
                            .type = SN_ETHERTYPE_IPV6};
    uint8_t b[14], exp[14] = {0x02, 0, 0x5e, 0x10, 0x20, 0x30, 0x0a, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x86, 0xdd};
    CHECK_EQ(sn_eth_emit(&e, b, sizeof(b)), 14);
    CHECK_MEM(b, exp, 14);
    struct sn_eth_repr d;
    CHECK_EQ(sn_eth_parse(b, 14, &d), 14);
    CHECK_MEM(&d, &e, sizeof(e));
    CHECK_EQ(sn_eth_emit(&e, b, 13), -ENOSPC);
}

SN_TEST(eth_truncation_sweep)
{
    CHECK_EQ(sweep(p_eth, arp_frame, 14), -1);
    CHECK_EQ(exact(p_eth, arp_frame, 14), 14);
}

SN_TEST(eth_is_vlan_types)
{
    CHECK(sn_eth_is_vlan(0x8100));
    CHECK(sn_eth_is_vlan(0x88a8));
    CHECK(sn_eth_is_vlan(0x9100));
    CHECK(!sn_eth_is_vlan(0x0800));
    CHECK(!sn_eth_is_vlan(0x86dd));
    CHECK(!sn_eth_is_vlan(0x0806));
    CHECK(!sn_eth_is_vlan(0x8101));
}

SN_TEST(vlan_roundtrip_all_fields)
{
    const struct sn_vlan_repr cases[] = {
        {7, 1, 4095, 0x0800}, {0, 0, 0, 0x86dd}, {5, 0, 1234, 0x8100}, {3, 1, 1, 0x0806},
    };
    for (size_t i = 0; i < SN_COUNTOF(cases); i++) {
        uint8_t b[4];
        struct sn_vlan_repr v;
        CHECK_EQ(sn_vlan_emit(&cases[i], b, 4), 4);
        CHECK_EQ(sn_vlan_parse(b, 4, &v), 4);
        CHECK_EQ(v.pcp, cases[i].pcp);
        CHECK_EQ(v.dei, cases[i].dei);
        CHECK_EQ(v.vid, cases[i].vid);
        CHECK_EQ(v.type, cases[i].type);
    }
    uint8_t b[4];
    CHECK_EQ(sn_vlan_emit(&cases[0], b, 4), 4);
    CHECK_MEM(b, "\xff\xff\x08\x00", 4); /* PCP 7, DEI 1, VID 4095 */
}

SN_TEST(vlan_emit_rejects_unrepresentable)
{
    uint8_t b[4];
    struct sn_vlan_repr v = {.pcp = 0, .dei = 0, .vid = 4096, .type = 0x0800};
    CHECK_EQ(sn_vlan_emit(&v, b, 4), -EINVAL);
    v.vid = 0xffff;
    CHECK_EQ(sn_vlan_emit(&v, b, 4), -EINVAL);
    v.vid = 10;
    v.pcp = 8;
    CHECK_EQ(sn_vlan_emit(&v, b, 4), -EINVAL);
    v.pcp = 0;
    v.dei = 2;
    CHECK_EQ(sn_vlan_emit(&v, b, 4), -EINVAL);
    v.dei = 0;
    CHECK_EQ(sn_vlan_emit(&v, b, 3), -ENOSPC);
}

SN_TEST(vlan_truncation_sweep)
{
    static const uint8_t tag[4] = {0xa0, 0xc8, 0x08, 0x00};
    CHECK_EQ(sweep(p_vlan, tag, 4), -1);
    CHECK_EQ(exact(p_vlan, tag, 4), 4);
}

SN_TEST(qinq_parsed_tag_by_tag)
{
    /* S-tag (0x88a8) VID 100, then C-tag (0x8100) PCP 5 VID 200, then IPv4. */
    uint8_t f[22 + 32] = {0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x5e, 0x00, 0x1c, 0x23, 0x01, 0x02, 0x03,
                          0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0xa0, 0xc8, 0x08, 0x00};
    memcpy(f + 22, igmp_query, 32);
    struct sn_eth_repr e;
    struct sn_vlan_repr s, c;
    struct sn_ipv4_repr ip;
    size_t off = 0;
    CHECK_EQ(sn_eth_parse(f, sizeof(f), &e), 14);
    off += 14;
    CHECK_EQ(e.type, SN_ETHERTYPE_QINQ);
    CHECK(sn_eth_is_vlan(e.type));
    CHECK_EQ(sn_vlan_parse(f + off, sizeof(f) - off, &s), 4);
    off += 4;
    CHECK_EQ(s.pcp, 0);
    CHECK_EQ(s.dei, 0);
    CHECK_EQ(s.vid, 100);
    CHECK_EQ(s.type, SN_ETHERTYPE_VLAN);
    CHECK(sn_eth_is_vlan(s.type));
    CHECK_EQ(sn_vlan_parse(f + off, sizeof(f) - off, &c), 4);
    off += 4;
    CHECK_EQ(c.pcp, 5);
    CHECK_EQ(c.vid, 200);
    CHECK_EQ(c.type, SN_ETHERTYPE_IPV4);
    CHECK(!sn_eth_is_vlan(c.type));
    CHECK_EQ(sn_ipv4_parse(f + off, sizeof(f) - off, SN_WIRE_CSUM, &ip), 24);
    /* And the same frame built from reprs. */
    uint8_t g[22];
    CHECK_EQ(sn_eth_emit(&e, g, sizeof(g)), 14);
    CHECK_EQ(sn_vlan_emit(&s, g + 14, 8), 4);
    CHECK_EQ(sn_vlan_emit(&c, g + 18, 4), 4);
    CHECK_MEM(g, f, 22);
}

/* ---- ARP ---------------------------------------------------------------- */

SN_TEST(arp_parse_real_request)
{
    struct sn_arp_repr a;
    CHECK_EQ(sn_arp_parse(arp_frame + 14, 28, &a), 28);
    CHECK_EQ(a.op, SN_ARP_REQUEST);
    CHECK_MEM(a.sha, "\x00\x07\x0d\xaf\xf4\x54", 6);
    CHECK_MEM(a.spa, "\x18\xa6\xac\x01", 4);
    CHECK_MEM(a.tha, "\x00\x00\x00\x00\x00\x00", 6);
    CHECK_MEM(a.tpa, "\x18\xa6\xad\x9f", 4);
    /* Ethernet pads a 42-byte frame to 60: the padding is not ARP. */
    uint8_t padded[46] = {0};
    memcpy(padded, arp_frame + 14, 28);
    CHECK_EQ(sn_arp_parse(padded, sizeof(padded), &a), 28);
}

SN_TEST(arp_emit_parse_roundtrip_reply)
{
    struct sn_arp_repr a = {.op = SN_ARP_REPLY, .sha = {0x02, 0x42, 0xac, 0x11, 0x00, 0x02}, .spa = {198, 18, 0, 2},
                            .tha = {0x00, 0x07, 0x0d, 0xaf, 0xf4, 0x54}, .tpa = {198, 18, 0, 1}};
    uint8_t b[28];
    CHECK_EQ(sn_arp_emit(&a, b, sizeof(b)), 28);
    CHECK_MEM(b, "\x00\x01\x08\x00\x06\x04\x00\x02", 8);
    struct sn_arp_repr d;
    CHECK_EQ(sn_arp_parse(b, 28, &d), 28);
    CHECK_MEM(&d, &a, sizeof(a));
    CHECK_EQ(sn_arp_emit(&a, b, 27), -ENOSPC);
    /* The emitted request equals the captured one byte for byte. */
    CHECK_EQ(sn_arp_parse(arp_frame + 14, 28, &d), 28);
    CHECK_EQ(sn_arp_emit(&d, b, 28), 28);
    CHECK_MEM(b, arp_frame + 14, 28);
}

SN_TEST(arp_truncation_sweep)
{
    CHECK_EQ(sweep(p_arp, arp_frame + 14, 28), -1);
    CHECK_EQ(exact(p_arp, arp_frame + 14, 28), 28);
}

SN_TEST(arp_unsupported_sizes_are_eunsup)
{
    /* Each of htype, ptype, hlen, plen off by itself. */
    static const struct { size_t at; uint8_t v; } bad[] = {
        {1, 6},     /* htype 6 (IEEE 802) */
        {2, 0x86}, /* ptype 0x86dd-ish */
        {4, 8},     /* hlen 8 */
        {5, 16},    /* plen 16 */
    };
    for (size_t i = 0; i < SN_COUNTOF(bad); i++) {
        uint8_t b[28];
        memcpy(b, arp_frame + 14, 28);
        b[bad[i].at] = bad[i].v;
        CHECK_EQ(exact(p_arp, b, 28), SN_WIRE_EUNSUP);
    }
    /* A well-formed ARP over another link may be shorter than 28: still EUNSUP. */
    static const uint8_t ax25[8] = {0x00, 0x03, 0x08, 0x00, 0x07, 0x04, 0x00, 0x01};
    CHECK_EQ(exact(p_arp, ax25, 8), SN_WIRE_EUNSUP);
    CHECK_EQ(exact(p_arp, ax25, 7), SN_WIRE_ETRUNC);
}

/* ---- IPv4 -------------------------------------------------------------- */

SN_TEST(ipv4_parse_wikipedia_header)
{
    static uint8_t pkt[115];
    memcpy(pkt, ipv4_wiki, 20);
    CHECK_EQ(sn_csum(ipv4_wiki, 20), 0);
    struct sn_ipv4_repr r;
    CHECK_EQ(sn_ipv4_parse(pkt, sizeof(pkt), SN_WIRE_CSUM, &r), 20);
    CHECK_EQ(r.hdr_len, 20);
    CHECK_EQ(r.tos, 0);
    CHECK_EQ(r.total_len, 115);
    CHECK_EQ(r.payload_len, 95);
    CHECK_EQ(r.id, 0);
    CHECK(r.df && !r.mf && !r.rf);
    CHECK_EQ(r.frag_off, 0);
    CHECK_EQ(r.ttl, 64);
    CHECK_EQ(r.proto, SN_IPPROTO_UDP);
    CHECK_EQ(r.checksum, 0xb861);
    CHECK_MEM(r.src, "\xc0\xa8\x00\x01", 4);
    CHECK_MEM(r.dst, "\xc0\xa8\x00\xc7", 4);
    CHECK(r.opts == NULL && r.opts_len == 0);
    /* Re-emitting the repr reproduces the header, checksum included. */
    uint8_t b[20];
    CHECK_EQ(sn_ipv4_emit(&r, b, 20), 20);
    CHECK_MEM(b, ipv4_wiki, 20);
}

SN_TEST(ipv4_parse_real_igmp_router_alert)
{
    struct sn_ipv4_repr r;
    CHECK_EQ(exact(p_ipv4, igmp_query, sizeof(igmp_query)), 24);
    CHECK_EQ(sn_ipv4_parse(igmp_query, sizeof(igmp_query), SN_WIRE_CSUM, &r), 24);
    CHECK_EQ(r.tos, 0xc0);
    CHECK_EQ(r.ttl, 1);
    CHECK_EQ(r.proto, 2);
    CHECK_EQ(r.checksum, 0x426d);
    CHECK_EQ(r.payload_len, 8);
    CHECK_EQ(r.opts_len, 4);
    CHECK(r.opts == igmp_query + 20);
    size_t off = 0;
    struct sn_opt o;
    CHECK_EQ(sn_opt_next(r.opts, r.opts_len, &off, &o), 1);
    CHECK_EQ(o.kind, 148); /* Router Alert, RFC 2113 */
    CHECK_EQ(o.len, 4);
    CHECK(o.data == r.opts + 2);
    CHECK_EQ(sn_load_be16(o.data), 0);
    CHECK_EQ(sn_opt_next(r.opts, r.opts_len, &off, &o), 0);
    CHECK_EQ(sn_csum(igmp_query + 24, 8), 0); /* the IGMP checksum is right too */
    uint8_t b[24];
    CHECK_EQ(sn_ipv4_emit(&r, b, 24), 24);
    CHECK_MEM(b, igmp_query, 24);
}

SN_TEST(ipv4_truncation_sweep)
{
    /* 0..19 short of the header, 20..23 short of IHL, 24..31 short of total length. */
    CHECK_EQ(sweep(p_ipv4, igmp_query, sizeof(igmp_query)), -1);
    static uint8_t pkt[115];
    memcpy(pkt, ipv4_wiki, 20);
    CHECK_EQ(sweep(p_ipv4, pkt, sizeof(pkt)), -1);
    CHECK_EQ(exact(p_ipv4, pkt, sizeof(pkt)), 20);
}

SN_TEST(ipv4_bad_version_is_ebad)
{
    uint8_t h[20];
    memcpy(h, ipv4_wiki, 20);
    for (int v = 0; v < 16; v++) {
        if (v == 4)
            continue;
        h[0] = (uint8_t)(v << 4 | 5);
        CHECK_EQ(exact(p_ipv4, h, 20), SN_WIRE_EBAD);
    }
}

SN_TEST(ipv4_ihl_below_5_is_ebad)
{
    uint8_t h[20];
    memcpy(h, ipv4_wiki, 20);
    for (int ihl = 0; ihl < 5; ihl++) {
        h[0] = (uint8_t)(0x40 | ihl);
        CHECK_EQ(exact(p_ipv4, h, 20), SN_WIRE_EBAD);
    }
    h[0] = 0x4f; /* IHL 15 = 60 bytes, longer than the buffer */
    CHECK_EQ(exact(p_ipv4, h, 20), SN_WIRE_ETRUNC);
}

SN_TEST(ipv4_total_len_below_header_is_ebad)
{
    uint8_t h[24];
    mk_ipv4(h, (const uint8_t *)"\x01\x01\x01\x00", 4, 0);
    for (uint16_t t = 0; t < 24; t++) {
        sn_store_be16(h + 2, t);
        CHECK_EQ(exact(p_ipv4, h, 24), SN_WIRE_EBAD);
    }
    sn_store_be16(h + 2, 24);
    struct sn_ipv4_repr r;
    CHECK_EQ(sn_ipv4_parse(h, 24, 0, &r), 24);
    CHECK_EQ(r.payload_len, 0);
}

SN_TEST(ipv4_total_len_past_buffer_is_etrunc)
{
    uint8_t h[20];
    memcpy(h, ipv4_wiki, 20); /* says 115 bytes */
    CHECK_EQ(exact(p_ipv4, h, 20), SN_WIRE_ETRUNC);
    sn_store_be16(h + 2, 0xffff);
    CHECK_EQ(exact(p_ipv4, h, 20), SN_WIRE_ETRUNC);
}

SN_TEST(ipv4_bad_checksum_is_ecsum_with_repr_filled)
{
    uint8_t h[20];
    memcpy(h, ipv4_wiki, 20);
    sn_store_be16(h + 2, 20); /* header only, checksum updated (RFC 1624) */
    uint16_t sum = sn_csum_update16(0xb861, 0x0073, 0x0014);
    sn_store_be16(h + 10, sum);
    struct sn_ipv4_repr r;
    CHECK_EQ(sn_ipv4_parse(h, 20, SN_WIRE_CSUM, &r), 20);
    h[8] = 63; /* TTL changed, checksum not updated */
    memset(&r, 0, sizeof(r));
    CHECK_EQ(sn_ipv4_parse(h, 20, SN_WIRE_CSUM, &r), SN_WIRE_ECSUM);
    CHECK_EQ(r.ttl, 63);
    CHECK_EQ(r.checksum, sum);
    CHECK_EQ(r.hdr_len, 20);
    CHECK_EQ(r.total_len, 20);
    CHECK_MEM(r.dst, "\xc0\xa8\x00\xc7", 4);
    /* Without the flag (checksum offload) it passes. */
    CHECK_EQ(sn_ipv4_parse(h, 20, 0, &r), 20);
    /* The RFC 1624 update makes it verify again. */
    sn_store_be16(h + 10, sn_csum_update16(sum, 0x4011, 0x3f11));
    CHECK_EQ(sn_ipv4_parse(h, 20, SN_WIRE_CSUM, &r), 20);
}

SN_TEST(ipv4_ethernet_padding_not_part_of_packet)
{
    uint8_t f[46] = {0};
    memcpy(f, igmp_query, 32); /* 32-byte packet padded to Ethernet's 46 */
    f[40] = 0xee;
    struct sn_ipv4_repr r;
    CHECK_EQ(sn_ipv4_parse(f, sizeof(f), SN_WIRE_CSUM, &r), 24);
    CHECK_EQ(r.total_len, 32);
    CHECK_EQ(r.payload_len, 8);
}

SN_TEST(ipv4_partial_accepts_a_capture_cut_at_snaplen)
{
    struct sn_ipv4_repr r;
    static uint8_t pkt[115];
    memcpy(pkt, ipv4_wiki, 20);
    for (size_t l = 20; l <= sizeof(pkt); l++) {
        uint8_t *b = dup_exact(pkt, l);
        int rc = sn_ipv4_parse(b, l, SN_WIRE_PARTIAL | SN_WIRE_CSUM, &r);
        free(b);
        CHECK_EQ(rc, 20);
        CHECK_EQ(r.total_len, 115);
        CHECK_EQ(r.payload_len, 95); /* as declared: the caller knows what is missing */
    }
    /* The header itself must still be whole, and still well formed. */
    CHECK_EQ(sn_ipv4_parse(pkt, 19, SN_WIRE_PARTIAL, &r), SN_WIRE_ETRUNC);
    CHECK_EQ(sn_ipv4_parse(igmp_query, 23, SN_WIRE_PARTIAL, &r), SN_WIRE_ETRUNC);
    CHECK_EQ(sn_ipv4_parse(igmp_query, 24, SN_WIRE_PARTIAL, &r), 24);
    uint8_t h[20];
    memcpy(h, ipv4_wiki, 20);
    sn_store_be16(h + 2, 19);
    CHECK_EQ(sn_ipv4_parse(h, 20, SN_WIRE_PARTIAL, &r), SN_WIRE_EBAD);
    /* The header checksum covers only the (whole) header: still verified. */
    memcpy(h, ipv4_wiki, 20);
    h[8] = 1;
    CHECK_EQ(sn_ipv4_parse(h, 20, SN_WIRE_PARTIAL | SN_WIRE_CSUM, &r), SN_WIRE_ECSUM);
    CHECK_EQ(sn_ipv4_parse(h, 20, SN_WIRE_PARTIAL, &r), 20);
}

SN_TEST(ipv4_flags_and_fragment_offset_bits)
{
    static const struct { uint16_t field; uint8_t rf, df, mf; uint16_t off; } cases[] = {
        {0x4000, 0, 1, 0, 0},      {0x2000, 0, 0, 1, 0},   {0x20b9, 0, 0, 1, 185},
        {0x00b9, 0, 0, 0, 185},    {0x8000, 1, 0, 0, 0},   {0x1fff, 0, 0, 0, 8191},
        {0xffff, 1, 1, 1, 8191},   {0x0000, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < SN_COUNTOF(cases); i++) {
        uint8_t h[20];
        memcpy(h, ipv4_wiki, 20);
        sn_store_be16(h + 2, 20);
        sn_store_be16(h + 6, cases[i].field);
        struct sn_ipv4_repr r;
        CHECK_EQ(sn_ipv4_parse(h, 20, 0, &r), 20);
        CHECK_EQ(r.rf, cases[i].rf);
        CHECK_EQ(r.df, cases[i].df);
        CHECK_EQ(r.mf, cases[i].mf);
        CHECK_EQ(r.frag_off, cases[i].off);
        uint8_t b[20];
        CHECK_EQ(sn_ipv4_emit(&r, b, 20), 20);
        CHECK_EQ(sn_load_be16(b + 6), cases[i].field);
        CHECK_EQ(sn_csum(b, 20), 0);
    }
}

SN_TEST(ipv4_emit_parse_roundtrip_with_options)
{
    /* Record Route with one slot (7 bytes): padded with one EOL to 28 bytes. */
    static const uint8_t rr[7] = {0x07, 0x07, 0x04, 0, 0, 0, 0};
    struct sn_ipv4_repr r = {.hdr_len = 60, .tos = 0xb8, .total_len = 3, .payload_len = 1000, .id = 0xbeef,
                             .df = 1, .ttl = 1, .proto = SN_IPPROTO_UDP, .checksum = 0x1234,
                             .src = {198, 18, 0, 1}, .dst = {198, 19, 255, 254}, .opts = rr, .opts_len = 7};
    static uint8_t b[1028];
    memset(b, 0xaa, sizeof(b));
    CHECK_EQ(sn_ipv4_emit(&r, b, sizeof(b)), 28);
    CHECK_EQ(b[0], 0x47);
    CHECK_EQ(sn_load_be16(b + 2), 1028);
    CHECK_MEM(b + 20, rr, 7);
    CHECK_EQ(b[27], 0); /* EOL padding */
    CHECK_EQ(sn_csum(b, 28), 0);
    struct sn_ipv4_repr d;
    CHECK_EQ(sn_ipv4_parse(b, sizeof(b), SN_WIRE_CSUM, &d), 28);
    CHECK_EQ(d.hdr_len, 28);
    CHECK_EQ(d.tos, 0xb8);
    CHECK_EQ(d.total_len, 1028);
    CHECK_EQ(d.payload_len, 1000);
    CHECK_EQ(d.id, 0xbeef);
    CHECK(d.df && !d.mf && !d.rf);
    CHECK_EQ(d.ttl, 1);
    CHECK_EQ(d.proto, SN_IPPROTO_UDP);
    CHECK_EQ(d.checksum, sn_load_be16(b + 10));
    CHECK_MEM(d.src, r.src, 4);
    CHECK_MEM(d.dst, r.dst, 4);
    CHECK_EQ(d.opts_len, 8);
    CHECK(d.opts == b + 20);
    /* A fragment: MF, RF and the largest offset. */
    r.opts_len = 0;
    r.opts = NULL;
    r.mf = 1;
    r.rf = 1;
    r.df = 0;
    r.frag_off = 8191;
    CHECK_EQ(sn_ipv4_emit(&r, b, sizeof(b)), 20);
    CHECK_EQ(sn_ipv4_parse(b, 1020, SN_WIRE_CSUM, &d), 20);
    CHECK(d.mf && d.rf && !d.df);
    CHECK_EQ(d.frag_off, 8191);
    /* 40 bytes of options is the most: a 60-byte header. */
    uint8_t nops[40];
    memset(nops, 1, sizeof(nops));
    r.opts = nops;
    r.opts_len = 40;
    CHECK_EQ(sn_ipv4_emit(&r, b, sizeof(b)), 60);
    CHECK_EQ(sn_ipv4_parse(b, 1060 > sizeof(b) ? sizeof(b) : 1060, 0, &d), SN_WIRE_ETRUNC);
    r.payload_len = 0;
    CHECK_EQ(sn_ipv4_emit(&r, b, sizeof(b)), 60);
    CHECK_EQ(sn_ipv4_parse(b, 60, SN_WIRE_CSUM, &d), 60);
    CHECK_EQ(b[0], 0x4f);
}

SN_TEST(ipv4_emit_rejects)
{
    uint8_t opts[41] = {0};
    struct sn_ipv4_repr r = {.ttl = 64, .proto = 6, .opts = opts, .opts_len = 41};
    uint8_t b[64];
    CHECK_EQ(sn_ipv4_emit(&r, b, sizeof(b)), -EINVAL); /* options > 40 bytes */
    r.opts_len = 4;
    r.opts = NULL;
    CHECK_EQ(sn_ipv4_emit(&r, b, sizeof(b)), -EINVAL); /* options without bytes */
    r.opts = opts;
    r.frag_off = 8192;
    CHECK_EQ(sn_ipv4_emit(&r, b, sizeof(b)), -EINVAL); /* offset > 13 bits */
    r.frag_off = 0;
    r.payload_len = 65535 - 24 + 1;
    CHECK_EQ(sn_ipv4_emit(&r, b, sizeof(b)), -EINVAL); /* total length > 65535 */
    r.payload_len = 65535 - 24;
    CHECK_EQ(sn_ipv4_emit(&r, b, sizeof(b)), 24);
    CHECK_EQ(sn_load_be16(b + 2), 65535);
    CHECK_EQ(sn_ipv4_emit(&r, b, 23), -ENOSPC);
    r.opts_len = 0;
    CHECK_EQ(sn_ipv4_emit(&r, b, 19), -ENOSPC);
    CHECK_EQ(sn_ipv4_emit(&r, b, 20), 20);
}

SN_TEST(ipv4_options_nop_eol_record_route)
{
    /* NOP, Record Route with two slots (first filled), = 12 bytes. */
    static const uint8_t o1[12] = {0x01, 0x07, 0x0b, 0x08, 198, 18, 0, 9, 0, 0, 0, 0};
    uint8_t h[60];
    size_t hl = mk_ipv4(h, o1, sizeof(o1), 0);
    struct sn_ipv4_repr r;
    CHECK_EQ(sn_ipv4_parse(h, hl, SN_WIRE_CSUM, &r), 32);
    size_t off = 0;
    struct sn_opt o;
    CHECK_EQ(sn_opt_next(r.opts, r.opts_len, &off, &o), 1);
    CHECK(o.kind == 1 && o.len == 1 && o.data == NULL);
    CHECK_EQ(sn_opt_next(r.opts, r.opts_len, &off, &o), 1);
    CHECK(o.kind == 7 && o.len == 11);
    CHECK_EQ(o.data[0], 8); /* pointer: one slot used (RFC 791 §3.1 Record Route) */
    CHECK_MEM(o.data + 1, "\xc6\x12\x00\x09", 4);
    CHECK_EQ(off, 12);
    CHECK_EQ(sn_opt_next(r.opts, r.opts_len, &off, &o), 0);
    /* Record Route with one slot then EOL. */
    static const uint8_t o2[8] = {0x07, 0x07, 0x04, 0, 0, 0, 0, 0x00};
    hl = mk_ipv4(h, o2, sizeof(o2), 0);
    CHECK_EQ(sn_ipv4_parse(h, hl, SN_WIRE_CSUM, &r), 28);
    /* EOL first: whatever follows is padding and is not checked. */
    static const uint8_t o3[4] = {0x00, 0x07, 0x01, 0xff};
    hl = mk_ipv4(h, o3, sizeof(o3), 0);
    CHECK_EQ(sn_ipv4_parse(h, hl, SN_WIRE_CSUM, &r), 24);
    off = 0;
    CHECK_EQ(sn_opt_next(r.opts, r.opts_len, &off, &o), 0);
}

SN_TEST(ipv4_option_length_1_is_ebad)
{
    static const uint8_t o[4] = {0x07, 0x01, 0x00, 0x00};
    uint8_t h[24];
    size_t hl = mk_ipv4(h, o, sizeof(o), 0);
    CHECK_EQ(exact(p_ipv4, h, hl), SN_WIRE_EBAD);
    static const uint8_t z[4] = {0x44, 0x00, 0x00, 0x00}; /* timestamp, length 0 */
    hl = mk_ipv4(h, z, sizeof(z), 0);
    CHECK_EQ(exact(p_ipv4, h, hl), SN_WIRE_EBAD);
}

SN_TEST(ipv4_option_running_past_header_is_ebad)
{
    static const uint8_t o[8] = {0x01, 0x07, 0x0b, 0x04, 0, 0, 0, 0}; /* RR claims 11, 7 left */
    uint8_t h[28];
    size_t hl = mk_ipv4(h, o, sizeof(o), 0);
    CHECK_EQ(exact(p_ipv4, h, hl), SN_WIRE_EBAD);
    /* The option may not borrow bytes from the payload either. */
    uint8_t f[40] = {0};
    hl = mk_ipv4(f, o, sizeof(o), 12);
    CHECK_EQ(exact(p_ipv4, f, 40), SN_WIRE_EBAD);
    /* One byte too long is as bad as many. */
    static const uint8_t one[4] = {0x01, 0x07, 0x04, 0x04};
    hl = mk_ipv4(h, one, sizeof(one), 0);
    CHECK_EQ(exact(p_ipv4, h, hl), SN_WIRE_EBAD);
    /* A kind in the last byte with no room for its length. */
    static const uint8_t k[4] = {0x01, 0x01, 0x01, 0x07};
    hl = mk_ipv4(h, k, sizeof(k), 0);
    CHECK_EQ(exact(p_ipv4, h, hl), SN_WIRE_EBAD);
}

SN_TEST(opt_next_walks_tcp_syn_options)
{
    /* Linux SYN: MSS 1460, SACK-permitted, timestamps, NOP, window scale 7. */
    static const uint8_t o[20] = {0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x01,
                                  0x02, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07};
    static const uint8_t kinds[5] = {2, 4, 8, 1, 3}, lens[5] = {4, 2, 10, 1, 3};
    size_t off = 0;
    struct sn_opt opt;
    uint8_t *b = dup_exact(o, sizeof(o));
    for (int i = 0; i < 5; i++) {
        int rc = sn_opt_next(b, sizeof(o), &off, &opt);
        if (rc != 1)
            free(b);
        CHECK_EQ(rc, 1);
        CHECK_EQ(opt.kind, kinds[i]);
        CHECK_EQ(opt.len, lens[i]);
        if (i == 0)
            CHECK_EQ(sn_load_be16(opt.data), 1460);
        if (i == 2)
            CHECK_EQ(sn_load_be32(opt.data), 0x00010203);
        if (i == 4)
            CHECK_EQ(opt.data[0], 7);
    }
    int rc = sn_opt_next(b, sizeof(o), &off, &opt);
    free(b);
    CHECK_EQ(rc, 0);
    CHECK_EQ(off, 20);
}

SN_TEST(opt_next_errors_leave_offset_alone)
{
    static const uint8_t one[3] = {0x01, 0x05, 0x01};   /* SACK with length 1 */
    static const uint8_t past[4] = {0x01, 0x05, 0x0a, 0}; /* SACK claims 10 bytes */
    static const uint8_t lone[2] = {0x01, 0x02};         /* MSS with no length byte */
    struct sn_opt o;
    size_t off = 1;
    CHECK_EQ(sn_opt_next(one, 3, &off, &o), SN_WIRE_EBAD);
    CHECK_EQ(off, 1);
    CHECK_EQ(sn_opt_next(past, 4, &off, &o), SN_WIRE_EBAD);
    CHECK_EQ(off, 1);
    CHECK_EQ(sn_opt_next(lone, 2, &off, &o), SN_WIRE_EBAD);
    CHECK_EQ(off, 1);
    static const uint8_t over1[3] = {0x01, 0x05, 0x03}; /* claims 3, 2 left */
    CHECK_EQ(sn_opt_next(over1, 3, &off, &o), SN_WIRE_EBAD);
    CHECK_EQ(off, 1);
    /* A length of exactly what is left is fine, with an empty value for len 2. */
    static const uint8_t exact2[3] = {0x01, 0x04, 0x02};
    CHECK_EQ(sn_opt_next(exact2, 3, &off, &o), 1);
    CHECK(o.kind == 4 && o.len == 2 && o.data == exact2 + 3);
    CHECK_EQ(off, 3);
}

SN_TEST(opt_next_end_is_sticky)
{
    static const uint8_t o[4] = {0x01, 0x00, 0x07, 0x01}; /* NOP, EOL, then junk */
    struct sn_opt opt;
    size_t off = 0;
    CHECK_EQ(sn_opt_next(o, 4, &off, &opt), 1);
    CHECK_EQ(sn_opt_next(o, 4, &off, &opt), 0);
    CHECK_EQ(sn_opt_next(o, 4, &off, &opt), 0);
    CHECK_EQ(off, 1);
    off = 0;
    CHECK_EQ(sn_opt_next(NULL, 0, &off, &opt), 0);
    off = 9;
    CHECK_EQ(sn_opt_next(o, 4, &off, &opt), 0);
}

/* ---- IPv6 -------------------------------------------------------------- */

SN_TEST(ipv6_parse_real_mldv2_report)
{
    struct sn_ipv6_repr r;
    CHECK_EQ(exact(p_ipv6, mld_report, sizeof(mld_report)), 40);
    CHECK_EQ(sn_ipv6_parse(mld_report, sizeof(mld_report), 0, &r), 40);
    CHECK_EQ(r.tclass, 0);
    CHECK_EQ(r.flow, 0);
    CHECK_EQ(r.payload_len, 36);
    CHECK_EQ(r.next_header, SN_IPPROTO_HOPOPTS);
    CHECK_EQ(r.hop_limit, 1);
    CHECK_MEM(r.src, mld_report + 8, 16);
    CHECK_MEM(r.dst, mld_report + 24, 16);
    struct sn_ipv6_chain c;
    CHECK_EQ(sn_ipv6_walk(mld_report, sizeof(mld_report), &c), 48);
    CHECK_EQ(c.n, 1);
    CHECK(c.ext[0].type == SN_IPPROTO_HOPOPTS && c.ext[0].next == 58);
    CHECK(c.ext[0].off == 40 && c.ext[0].len == 8);
    CHECK_EQ(c.upper, SN_IPPROTO_ICMPV6);
    CHECK_EQ(c.upper_off, 48);
    CHECK(!c.has_frag);
    /* The MLD checksum over the pseudo-header (RFC 8200 §8.1) verifies. */
    uint32_t s = sn_csum_pseudo6(r.src, r.dst, 58, 28);
    CHECK_EQ(sn_csum_fold(sn_csum_add(s, mld_report + 48, 28)), 0);
}

SN_TEST(ipv6_emit_parse_roundtrip)
{
    struct sn_ipv6_repr r = {.tclass = 0xb8, .flow = 0xabcde, .payload_len = 1280,
                             .next_header = SN_IPPROTO_FRAGMENT, .hop_limit = 255};
    memcpy(r.src, ip6_src, 16);
    memcpy(r.dst, ip6_dst, 16);
    static uint8_t b[40 + 1280];
    CHECK_EQ(sn_ipv6_emit(&r, b, sizeof(b)), 40);
    CHECK_MEM(b, "\x6b\x8a\xbc\xde\x05\x00\x2c\xff", 8);
    struct sn_ipv6_repr d;
    CHECK_EQ(sn_ipv6_parse(b, sizeof(b), 0, &d), 40);
    CHECK_EQ(d.tclass, 0xb8);
    CHECK_EQ(d.flow, 0xabcde);
    CHECK_EQ(d.payload_len, 1280);
    CHECK_EQ(d.next_header, SN_IPPROTO_FRAGMENT);
    CHECK_EQ(d.hop_limit, 255);
    CHECK_MEM(d.src, ip6_src, 16);
    CHECK_MEM(d.dst, ip6_dst, 16);
    CHECK_EQ(sn_ipv6_parse(b, sizeof(b) - 1, 0, &d), SN_WIRE_ETRUNC);
    r.flow = 0xfffff;
    r.tclass = 0xff;
    CHECK_EQ(sn_ipv6_emit(&r, b, 40), 40);
    CHECK_MEM(b, "\x6f\xff\xff\xff", 4);
}

SN_TEST(ipv6_emit_rejects)
{
    struct sn_ipv6_repr r = {.flow = 0x100000};
    uint8_t b[40];
    CHECK_EQ(sn_ipv6_emit(&r, b, 40), -EINVAL);
    r.flow = 1;
    CHECK_EQ(sn_ipv6_emit(&r, b, 39), -ENOSPC);
}

SN_TEST(ipv6_bad_version_is_ebad)
{
    uint8_t b[96];
    memcpy(b, chain_pkt, sizeof(b));
    for (int v = 0; v < 16; v++) {
        if (v == 6)
            continue;
        b[0] = (uint8_t)(v << 4);
        CHECK_EQ(exact(p_ipv6, b, sizeof(b)), SN_WIRE_EBAD);
        CHECK_EQ(exact(p_walk, b, sizeof(b)), SN_WIRE_EBAD);
    }
}

SN_TEST(ipv6_jumbogram_is_eunsup)
{
    uint8_t b[48] = {0};
    mk_ipv6(b, 0, SN_IPPROTO_HOPOPTS);
    CHECK_EQ(exact(p_ipv6, b, sizeof(b)), SN_WIRE_EUNSUP);
    CHECK_EQ(exact(p_walk, b, sizeof(b)), SN_WIRE_EUNSUP);
    mk_ipv6(b, 0, SN_IPPROTO_NONE); /* an empty payload is fine otherwise */
    CHECK_EQ(exact(p_ipv6, b, 40), 40);
    CHECK_EQ(exact(p_walk, b, 40), 40);
}

SN_TEST(ipv6_truncation_sweep)
{
    CHECK_EQ(sweep(p_ipv6, chain_pkt, sizeof(chain_pkt)), -1);
    CHECK_EQ(sweep(p_ipv6, mld_report, sizeof(mld_report)), -1);
    /* The walk needs the chain, not the upper layer: a cut inside the chain is
     * ETRUNC, a cut in the upper layer (a capture at snaplen) still walks. */
    CHECK_EQ(sweep(p_walk, chain_pkt, 88), -1);
    CHECK_EQ(sweep(p_walk, mld_report, 48), -1);
    for (size_t l = 88; l <= sizeof(chain_pkt); l++)
        CHECK_EQ(exact(p_walk, chain_pkt, l), 88);
    for (size_t l = 48; l <= sizeof(mld_report); l++)
        CHECK_EQ(exact(p_walk, mld_report, l), 48);
}

SN_TEST(ipv6_walk_full_chain)
{
    struct sn_ipv6_chain c;
    uint8_t *b = dup_exact(chain_pkt, sizeof(chain_pkt));
    int rc = sn_ipv6_walk(b, sizeof(chain_pkt), &c);
    free(b);
    CHECK_EQ(rc, 88);
    CHECK_EQ(c.n, 4);
    static const struct sn_ipv6_ext exp[4] = {
        {SN_IPPROTO_HOPOPTS, SN_IPPROTO_ROUTING, 40, 8},
        {SN_IPPROTO_ROUTING, SN_IPPROTO_FRAGMENT, 48, 24},
        {SN_IPPROTO_FRAGMENT, SN_IPPROTO_DSTOPTS, 72, 8},
        {SN_IPPROTO_DSTOPTS, SN_IPPROTO_UDP, 80, 8},
    };
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(c.ext[i].type, exp[i].type);
        CHECK_EQ(c.ext[i].next, exp[i].next);
        CHECK_EQ(c.ext[i].off, exp[i].off);
        CHECK_EQ(c.ext[i].len, exp[i].len);
    }
    CHECK_EQ(c.upper, SN_IPPROTO_UDP);
    CHECK_EQ(c.upper_off, 88);
    CHECK_EQ(c.has_frag, 1);
    CHECK_EQ(c.frag_off, 0);
    CHECK_EQ(c.frag_more, 1);
    CHECK_EQ(c.frag_id, 0x12345678);
}

SN_TEST(ipv6_walk_chain_cut_by_payload_len_is_etrunc)
{
    /* The header claims only l - 40 bytes: every cut inside the chain is ETRUNC,
     * every cut in the upper layer leaves the chain whole. l = 40 would be a
     * jumbogram (length 0 with hop-by-hop), tested above. */
    for (size_t l = 41; l <= sizeof(chain_pkt); l++) {
        uint8_t *b = dup_exact(chain_pkt, l);
        sn_store_be16(b + 4, (uint16_t)(l - 40));
        struct sn_ipv6_chain c;
        int rc = sn_ipv6_walk(b, l, &c);
        free(b);
        CHECK_EQ(rc, l < 88 ? SN_WIRE_ETRUNC : 88);
    }
}

SN_TEST(ipv6_walk_respects_payload_len_not_len)
{
    /* dst opts -> dst opts, but the header's length ends after the first one:
     * the second lies in the buffer (link padding) and must not be walked. */
    uint8_t b[56];
    mk_ipv6(b, 8, SN_IPPROTO_DSTOPTS);
    memcpy(b + 40, "\x3c\x00\x01\x04\x00\x00\x00\x00", 8);
    memcpy(b + 48, "\x3b\x00\x01\x04\x00\x00\x00\x00", 8);
    CHECK_EQ(exact(p_walk, b, sizeof(b)), SN_WIRE_ETRUNC);
    sn_store_be16(b + 4, 16);
    CHECK_EQ(exact(p_walk, b, sizeof(b)), 56);
    /* Ends in "no next header" with trailing bytes past payload_len: ignored. */
    mk_ipv6(b, 8, SN_IPPROTO_DSTOPTS);
    b[40] = SN_IPPROTO_NONE;
    b[48] = SN_IPPROTO_DSTOPTS;
    struct sn_ipv6_chain c;
    CHECK_EQ(sn_ipv6_walk(b, sizeof(b), &c), 48);
    CHECK_EQ(c.n, 1);
    CHECK_EQ(c.upper, SN_IPPROTO_NONE);
    /* A header length that runs past payload_len (but not past len). */
    mk_ipv6(b, 8, SN_IPPROTO_ROUTING);
    memcpy(b + 40, "\x3b\x01\x00\x00\x00\x00\x00\x00", 8); /* claims 16 bytes */
    CHECK_EQ(exact(p_walk, b, sizeof(b)), SN_WIRE_ETRUNC);
}

SN_TEST(ipv6_walk_stops_at_the_buffer_too)
{
    /* payload_len says 56 but only 60 bytes were captured: the hop-by-hop header
     * fits, the routing header does not. */
    struct sn_ipv6_chain c;
    uint8_t *b = dup_exact(chain_pkt, 60);
    int rc = sn_ipv6_walk(b, 60, &c);
    free(b);
    CHECK_EQ(rc, SN_WIRE_ETRUNC);
    CHECK_EQ(c.n, 1);
    CHECK_EQ(c.ext[0].type, SN_IPPROTO_HOPOPTS);
    /* The strict parse wants the whole packet. */
    CHECK_EQ(exact(p_ipv6, chain_pkt, 95), SN_WIRE_ETRUNC);
    CHECK_EQ(exact(p_walk, chain_pkt, 95), 88);
}

SN_TEST(ipv6_walk_hop_by_hop_not_first_is_ebad)
{
    uint8_t b[56];
    mk_ipv6(b, 16, SN_IPPROTO_DSTOPTS);
    memcpy(b + 40, "\x00\x00\x01\x04\x00\x00\x00\x00", 8); /* -> hop-by-hop */
    memcpy(b + 48, "\x3b\x00\x01\x04\x00\x00\x00\x00", 8);
    struct sn_ipv6_chain c;
    CHECK_EQ(sn_ipv6_walk(b, sizeof(b), &c), SN_WIRE_EBAD);
    CHECK_EQ(c.n, 1); /* what was walked before the error stays visible */
    /* Two hop-by-hop headers in a row: the second is not first either. */
    mk_ipv6(b, 16, SN_IPPROTO_HOPOPTS);
    b[40] = SN_IPPROTO_HOPOPTS;
    CHECK_EQ(exact(p_walk, b, sizeof(b)), SN_WIRE_EBAD);
    b[40] = SN_IPPROTO_DSTOPTS;
    CHECK_EQ(exact(p_walk, b, sizeof(b)), 56);
}

/* n destination-options headers, each 8 bytes, ending in "no next header". */
static size_t mk_dstopts_chain(uint8_t *b, size_t cap, int n)
{
    mk_ipv6(b, (uint16_t)(8 * n), SN_IPPROTO_DSTOPTS);
    size_t off = 40;
    for (int i = 0; i < n; i++)
        off += (size_t)sn_ipv6_opts_emit(SN_IPPROTO_DSTOPTS, i == n - 1 ? SN_IPPROTO_NONE : SN_IPPROTO_DSTOPTS,
                                         NULL, 0, b + off, cap - off);
    return off;
}

SN_TEST(ipv6_walk_max_ext_then_one_more_is_ebad)
{
    uint8_t b[40 + 8 * (SN_IPV6_MAX_EXT + 1)];
    size_t n = mk_dstopts_chain(b, sizeof(b), SN_IPV6_MAX_EXT);
    struct sn_ipv6_chain c;
    CHECK_EQ(sn_ipv6_walk(b, n, &c), 40 + 8 * SN_IPV6_MAX_EXT);
    CHECK_EQ(c.n, SN_IPV6_MAX_EXT);
    CHECK_EQ(c.upper, SN_IPPROTO_NONE);
    CHECK_EQ(c.ext[SN_IPV6_MAX_EXT - 1].off, 40 + 8 * (SN_IPV6_MAX_EXT - 1));
    n = mk_dstopts_chain(b, sizeof(b), SN_IPV6_MAX_EXT + 1);
    CHECK_EQ(n, sizeof(b));
    CHECK_EQ(exact(p_walk, b, n), SN_WIRE_EBAD);
}

SN_TEST(ipv6_walk_nonfirst_fragment_stops)
{
    /* Fragment at offset 181 (1448 bytes), M=1, whose next header says dst opts:
     * what follows is the middle of a payload, with a header-like length of 255
     * that would be ETRUNC if walked. */
    uint8_t b[64] = {0};
    mk_ipv6(b, 24, SN_IPPROTO_FRAGMENT);
    memcpy(b + 40, "\x3c\x00\x05\xa9\xca\xfe\xf0\x0d", 8);
    memcpy(b + 48, "\x06\xff", 2);
    struct sn_ipv6_chain c;
    uint8_t *h = dup_exact(b, sizeof(b));
    int rc = sn_ipv6_walk(h, sizeof(b), &c);
    free(h);
    CHECK_EQ(rc, 48);
    CHECK_EQ(c.n, 1);
    CHECK_EQ(c.upper, SN_IPPROTO_DSTOPTS);
    CHECK_EQ(c.upper_off, 48);
    CHECK_EQ(c.has_frag, 1);
    CHECK_EQ(c.frag_off, 181);
    CHECK_EQ(c.frag_more, 1);
    CHECK_EQ(c.frag_id, 0xcafef00d);
    /* The last fragment (M=0) stops the same way. */
    b[43] = 0xa8;
    CHECK_EQ(sn_ipv6_walk(b, sizeof(b), &c), 48);
    CHECK_EQ(c.frag_more, 0);
    /* Offset 0 is the first fragment: the walk goes on (and here hits the junk). */
    b[42] = 0;
    b[43] = 1;
    CHECK_EQ(exact(p_walk, b, sizeof(b)), SN_WIRE_ETRUNC);
}

SN_TEST(ipv6_walk_without_extensions)
{
    uint8_t b[60] = {0};
    mk_ipv6(b, 20, SN_IPPROTO_TCP);
    struct sn_ipv6_chain c;
    memset(&c, 0x5a, sizeof(c));
    CHECK_EQ(sn_ipv6_walk(b, sizeof(b), &c), 40);
    CHECK_EQ(c.n, 0);
    CHECK_EQ(c.upper, SN_IPPROTO_TCP);
    CHECK_EQ(c.upper_off, 40);
    CHECK_EQ(c.has_frag, 0);
    CHECK_EQ(c.frag_id, 0);
}

SN_TEST(ipv6_ext_emitters_rebuild_the_chain)
{
    uint8_t b[96];
    memcpy(b, chain_pkt, 40);
    size_t off = 40;
    int rc = sn_ipv6_opts_emit(SN_IPPROTO_HOPOPTS, SN_IPPROTO_ROUTING, (const uint8_t *)"\x05\x02\x00\x00", 4,
                               b + off, sizeof(b) - off);
    CHECK_EQ(rc, 8);
    off += 8;
    uint8_t srh[20] = {0};
    memcpy(srh + 4, ip6_dst, 16);
    rc = sn_ipv6_rh_emit(SN_IPPROTO_FRAGMENT, 4, 0, srh, sizeof(srh), b + off, sizeof(b) - off);
    CHECK_EQ(rc, 24);
    off += 24;
    CHECK_EQ(sn_ipv6_frag_emit(SN_IPPROTO_DSTOPTS, 0, 1, 0x12345678, b + off, sizeof(b) - off), 8);
    off += 8;
    CHECK_EQ(sn_ipv6_opts_emit(SN_IPPROTO_DSTOPTS, SN_IPPROTO_UDP, (const uint8_t *)"\x01\x04\x00\x00\x00\x00", 6,
                               b + off, sizeof(b) - off), 8);
    off += 8;
    memcpy(b + off, chain_pkt + off, 8);
    CHECK_MEM(b, chain_pkt, sizeof(chain_pkt));
}

SN_TEST(ipv6_opts_emit_pads_with_pad1_and_padn)
{
    static const uint8_t o[7] = {0x3e, 0x05, 1, 2, 3, 4, 5}; /* an unknown option, 7 bytes */
    uint8_t b[16];
    CHECK_EQ(sn_ipv6_opts_emit(SN_IPPROTO_DSTOPTS, 6, NULL, 0, b, 8), 8);
    CHECK_MEM(b, "\x06\x00\x01\x04\x00\x00\x00\x00", 8);
    CHECK_EQ(sn_ipv6_opts_emit(SN_IPPROTO_DSTOPTS, 6, o, 5, b, 8), 8); /* 1 byte short: Pad1 */
    CHECK_EQ(b[7], 0);
    CHECK_MEM(b + 2, o, 5);
    CHECK_EQ(sn_ipv6_opts_emit(SN_IPPROTO_DSTOPTS, 6, o, 6, b, 8), 8); /* no padding */
    CHECK_MEM(b + 2, o, 6);
    memset(b, 0xaa, sizeof(b));
    CHECK_EQ(sn_ipv6_opts_emit(SN_IPPROTO_HOPOPTS, 17, o, 7, b, 16), 16); /* PadN of 7 */
    CHECK_MEM(b, "\x11\x01", 2);
    CHECK_MEM(b + 2, o, 7);
    CHECK_MEM(b + 9, "\x01\x05\x00\x00\x00\x00\x00", 7);
}

SN_TEST(ipv6_ext_emit_rejects)
{
    static uint8_t b[40 + 2048 + 8];
    static uint8_t big[2052];
    CHECK_EQ(sn_ipv6_opts_emit(SN_IPPROTO_ROUTING, 6, NULL, 0, b, 8), -EINVAL);
    CHECK_EQ(sn_ipv6_opts_emit(SN_IPPROTO_DSTOPTS, 6, NULL, 4, b, 8), -EINVAL);
    CHECK_EQ(sn_ipv6_opts_emit(SN_IPPROTO_DSTOPTS, 6, big, 2047, b + 40, 2048), -EINVAL);
    CHECK_EQ(sn_ipv6_opts_emit(SN_IPPROTO_DSTOPTS, 6, NULL, 0, b, 7), -ENOSPC);
    CHECK_EQ(sn_ipv6_rh_emit(6, 0, 0, big, 0, b, 8), -EINVAL);
    CHECK_EQ(sn_ipv6_rh_emit(6, 0, 0, big, 8, b, 16), -EINVAL);
    CHECK_EQ(sn_ipv6_rh_emit(6, 0, 0, big, 2052, b, sizeof(b)), -EINVAL);
    CHECK_EQ(sn_ipv6_rh_emit(6, 0, 0, NULL, 4, b, 8), -EINVAL);
    CHECK_EQ(sn_ipv6_rh_emit(6, 0, 0, big, 4, b, 7), -ENOSPC);
    CHECK_EQ(sn_ipv6_rh_emit(6, 0, 0, big, 4, b, 8), 8);
    CHECK_EQ(sn_ipv6_frag_emit(6, 8192, 0, 1, b, 8), -EINVAL);
    CHECK_EQ(sn_ipv6_frag_emit(6, 8191, 0, 1, b, 7), -ENOSPC);
    CHECK_EQ(sn_ipv6_frag_emit(6, 8191, 0, 1, b, 8), 8);
    CHECK_MEM(b, "\x06\x00\xff\xf8\x00\x00\x00\x01", 8);
    /* The largest extension headers (2048 bytes) emit and walk. */
    mk_ipv6(b, 2048, SN_IPPROTO_HOPOPTS);
    CHECK_EQ(sn_ipv6_opts_emit(SN_IPPROTO_HOPOPTS, SN_IPPROTO_NONE, big, 2046, b + 40, 2048), 2048);
    CHECK_EQ(b[41], 255);
    CHECK_EQ(exact(p_walk, b, 40 + 2048), 40 + 2048);
    mk_ipv6(b, 2048, SN_IPPROTO_ROUTING);
    CHECK_EQ(sn_ipv6_rh_emit(SN_IPPROTO_NONE, 0, 0, big, 2044, b + 40, 2048), 2048);
    CHECK_EQ(exact(p_walk, b, 40 + 2048), 40 + 2048);
}

/* ---- robustness ----------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13; /* xorshift64 */
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* Random bytes, nudged every other time toward the shapes the parsers accept
 * so the deep paths (options, chains) are reached too. */
static void fill_random(uint8_t *b, size_t n, unsigned mode)
{
    static const uint8_t ext[5] = {0, 43, 44, 60, 59};
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)rnd();
    if (mode == 1 && n >= 4) { /* IPv4 */
        b[0] = (uint8_t)(0x40 | (rnd() % 16));
        sn_store_be16(b + 2, (uint16_t)(rnd() % (n + 8)));
        for (size_t i = 20; i < n && i < 60; i++)
            b[i] = rnd() % 3 ? b[i] % 12 : b[i];
    } else if (mode == 2 && n >= 8) { /* IPv6 with an extension chain */
        b[0] = 0x60;
        sn_store_be16(b + 4, (uint16_t)(n >= 40 ? rnd() % (n - 40 + 4) : 0));
        b[6] = ext[rnd() % 5];
        for (size_t i = 40; i + 1 < n; i += 8) {
            b[i] = ext[rnd() % 5];
            b[i + 1] = (uint8_t)(rnd() % 3);
        }
    } else if (mode == 3 && n >= 8) { /* ARP */
        memcpy(b, "\x00\x01\x08\x00\x06\x04", 6);
    }
}

static int check_ipv4_invariants(const uint8_t *b, size_t n, unsigned flags)
{
    struct sn_ipv4_repr r;
    int rc = sn_ipv4_parse(b, n, flags, &r);
    if (rc == SN_WIRE_ETRUNC || rc == SN_WIRE_EBAD)
        return 1;
    if (rc != SN_WIRE_ECSUM && rc != r.hdr_len)
        return 0;
    if (r.hdr_len < 20 || r.hdr_len > r.total_len || r.hdr_len > n || r.opts_len != r.hdr_len - 20)
        return 0;
    if (r.total_len > n && !(flags & SN_WIRE_PARTIAL))
        return 0;
    size_t off = 0;
    struct sn_opt o;
    while ((rc = sn_opt_next(r.opts, r.opts_len, &off, &o)) > 0)
        ;
    return rc == 0 && off <= r.opts_len;
}

static int check_walk_invariants(const uint8_t *b, size_t n)
{
    struct sn_ipv6_chain c;
    int rc = sn_ipv6_walk(b, n, &c);
    if (rc == SN_WIRE_ETRUNC || rc == SN_WIRE_EBAD || rc == SN_WIRE_EUNSUP)
        return c.n <= SN_IPV6_MAX_EXT;
    if (rc < 0 || rc != c.upper_off || c.upper_off > 40u + sn_load_be16(b + 4) || c.upper_off > n ||
        c.n > SN_IPV6_MAX_EXT)
        return 0;
    size_t off = 40;
    for (int i = 0; i < c.n; i++) {
        if (c.ext[i].off != off || (i + 1 < c.n && c.ext[i].next != c.ext[i + 1].type))
            return 0;
        off += c.ext[i].len;
    }
    return off == c.upper_off && (c.n == 0 || c.upper == c.ext[c.n - 1].next);
}

static int check_opt_walk(const uint8_t *b, size_t n)
{
    size_t off = 0, steps = 0;
    struct sn_opt o;
    int rc;
    while ((rc = sn_opt_next(b, n, &off, &o)) > 0)
        if (++steps > n || off > n)
            return 0;
    return rc == 0 || rc == SN_WIRE_EBAD;
}

static int check_one(const uint8_t *b, size_t n)
{
    struct sn_eth_repr e;
    struct sn_vlan_repr v;
    struct sn_ipv6_repr r6;
    if (sn_eth_parse(b, n, &e) != (n >= 14 ? 14 : SN_WIRE_ETRUNC))
        return 0;
    if (sn_vlan_parse(b, n, &v) != (n >= 4 ? 4 : SN_WIRE_ETRUNC) || (n >= 4 && (v.vid > 4095 || v.pcp > 7)))
        return 0;
    int rc = p_arp(b, n);
    if (rc != 28 && rc != SN_WIRE_ETRUNC && rc != SN_WIRE_EUNSUP)
        return 0;
    rc = sn_ipv6_parse(b, n, 0, &r6);
    if (rc != 40 && rc != SN_WIRE_ETRUNC && rc != SN_WIRE_EBAD && rc != SN_WIRE_EUNSUP)
        return 0;
    return check_ipv4_invariants(b, n, SN_WIRE_CSUM) &&
           check_ipv4_invariants(b, n, SN_WIRE_CSUM | SN_WIRE_PARTIAL) && check_walk_invariants(b, n) &&
           check_opt_walk(b, n);
}

SN_TEST(random_bytes_robustness)
{
    uint8_t tmp[200];
    long ok4 = 0, ok6 = 0;
    for (int i = 0; i < 100000; i++) {
        size_t n = rnd() % sizeof(tmp);
        fill_random(tmp, n, (unsigned)i % 4);
        uint8_t *b = dup_exact(tmp, n);
        int good = check_one(b, n);
        struct sn_ipv4_repr r4;
        struct sn_ipv6_chain c;
        ok4 += sn_ipv4_parse(b, n, 0, &r4) >= 0;
        ok6 += sn_ipv6_walk(b, n, &c) > 40;
        free(b);
        if (!good) {
            char m[64];
            snprintf(m, sizeof(m), "iteration %d, %zu bytes", i, n);
            CHECK_STR(m, "");
        }
    }
    /* The nudging reaches the success paths, not only the early exits. */
    CHECK(ok4 > 100);
    CHECK(ok6 > 100);
}
