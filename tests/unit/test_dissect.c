/* test_dissect.c — whole-frame dissection, tshark-format fields, summaries. */
#include "../harness.h"
#include <sysnet/wire.h>

static const uint8_t A4[4] = {198, 18, 0, 1}, B4[4] = {198, 18, 0, 2};

/* Ethernet + IPv4 + TCP SYN with options, built with the emit functions. */
static uint32_t syn_frame(uint8_t *f, size_t cap)
{
    struct sn_eth_repr e = {{2, 0, 0, 0, 0, 2}, {2, 0, 0, 0, 0, 1}, SN_ETHERTYPE_IPV4};
    sn_eth_emit(&e, f, cap);
    struct sn_ipv4_repr ip;
    memset(&ip, 0, sizeof(ip));
    ip.ttl = 64, ip.id = 0x1234, ip.df = 1, ip.proto = SN_IPPROTO_TCP;
    memcpy(ip.src, A4, 4), memcpy(ip.dst, B4, 4);
    struct sn_tcp_repr t;
    memset(&t, 0, sizeof(t));
    t.sport = 40000, t.dport = 80, t.seq = 123456789, t.flags = SN_TCP_SYN, t.window = 64240;
    t.has_mss = 1, t.mss = 1460, t.has_wscale = 1, t.wscale = 7, t.sack_perm = 1;
    t.has_ts = 1, t.ts_val = 11, t.ts_ecr = 0;
    struct sn_ipaddrs a = {4, ip.src, ip.dst};
    int n = sn_tcp_emit(&t, &a, f + 34, cap - 34);
    ip.payload_len = (uint16_t)n;
    sn_ipv4_emit(&ip, f + 14, cap - 14);
    return 34u + (uint32_t)n;
}

static int field(const struct sn_dissect *d, const char *name, char *out, size_t cap)
{
    struct sn_frame_meta m = {7, 1700000000123456789LL};
    return sn_dissect_field(d, &m, sn_dissect_field_id(name), out, cap);
}

SN_TEST(dissect_tcp_syn_layers_and_fields)
{
    uint8_t f[256];
    uint32_t len = syn_frame(f, sizeof(f));
    struct sn_dissect d;
    CHECK_EQ(sn_dissect(f, len, len, SN_LINKTYPE_ETHERNET, &d), 3);
    CHECK_EQ(d.l[0].kind, SN_LAYER_ETH);
    CHECK_EQ(d.l[1].kind, SN_LAYER_IPV4);
    CHECK_EQ(d.l[2].kind, SN_LAYER_TCP);
    CHECK_EQ(d.l[1].csum, SN_CSUM_GOOD);
    CHECK_EQ(d.l[2].csum, SN_CSUM_GOOD);
    char v[128];
    CHECK_EQ(field(&d, "tcp.flags", v, sizeof(v)), 1);
    CHECK_STR(v, "0x0002");
    field(&d, "tcp.options.mss_val", v, sizeof(v));
    CHECK_STR(v, "1460");
    field(&d, "tcp.options.wscale.shift", v, sizeof(v));
    CHECK_STR(v, "7");
    field(&d, "ip.id", v, sizeof(v));
    CHECK_STR(v, "0x1234");
    field(&d, "ip.flags.df", v, sizeof(v));
    CHECK_STR(v, "1");
    field(&d, "eth.src", v, sizeof(v));
    CHECK_STR(v, "02:00:00:00:00:01");
    field(&d, "frame.time_epoch", v, sizeof(v));
    CHECK_STR(v, "1700000000.123456789");
    field(&d, "frame.number", v, sizeof(v));
    CHECK_STR(v, "7");
    CHECK_EQ(field(&d, "udp.srcport", v, sizeof(v)), 0);
    CHECK_STR(v, "");
    field(&d, "tcp.checksum.status", v, sizeof(v));
    CHECK_STR(v, "1");
    field(&d, "ip.addr", v, sizeof(v));
    CHECK_STR(v, "198.18.0.1,198.18.0.2");
}

SN_TEST(dissect_bad_checksum_reported_not_fatal)
{
    uint8_t f[256];
    uint32_t len = syn_frame(f, sizeof(f));
    f[len - 1] ^= 1; /* last option byte: TCP checksum now wrong */
    struct sn_dissect d;
    CHECK_EQ(sn_dissect(f, len, len, SN_LINKTYPE_ETHERNET, &d), 3);
    CHECK_EQ(d.l[2].csum, SN_CSUM_BAD);
    f[14 + 10] ^= 0xff; /* IP header checksum */
    CHECK_EQ(sn_dissect(f, len, len, SN_LINKTYPE_ETHERNET, &d), 3);
    CHECK_EQ(d.l[1].csum, SN_CSUM_BAD);
}

SN_TEST(dissect_truncation_sweep_never_past_caplen)
{
    uint8_t f[256];
    uint32_t len = syn_frame(f, sizeof(f));
    for (uint32_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, f, cut);
        struct sn_dissect d;
        int n = sn_dissect(copy, cut, len, SN_LINKTYPE_ETHERNET, &d);
        CHECK(n >= 0 && n <= 3);
        if (cut >= 34 + 20)
            CHECK_EQ(d.l[2].csum, SN_CSUM_UNVERIFIED);
        char v[4096];
        for (int id = 0; sn_dissect_field_names()[id]; id++)
            CHECK(sn_dissect_field(&d, NULL, id, v, sizeof(v)) >= 0);
        sn_dissect_summary(&d, v, sizeof(v));
        free(copy);
    }
}

SN_TEST(dissect_truncated_ip_header_prints_fields_that_fit)
{
    uint8_t f[256];
    uint32_t len = syn_frame(f, sizeof(f));
    struct sn_dissect d;
    CHECK_EQ(sn_dissect(f, 24, len, SN_LINKTYPE_ETHERNET, &d), 2);
    CHECK(!d.l[1].complete);
    char v[64];
    CHECK_EQ(field(&d, "ip.len", v, sizeof(v)), 1); /* bytes 2-3 were captured */
    CHECK_EQ(field(&d, "ip.src", v, sizeof(v)), 0); /* bytes 12-15 were not */
    CHECK_EQ(field(&d, "ip.checksum.status", v, sizeof(v)), 0);
}

SN_TEST(dissect_qinq_vlan_ids_comma_separated)
{
    uint8_t f[128] = {0};
    struct sn_eth_repr e = {{2, 0, 0, 0, 0, 2}, {2, 0, 0, 0, 0, 1}, SN_ETHERTYPE_QINQ};
    sn_eth_emit(&e, f, sizeof(f));
    struct sn_vlan_repr o = {.vid = 200, .type = SN_ETHERTYPE_VLAN}, i = {.vid = 100, .type = 0x88b5};
    sn_vlan_emit(&o, f + 14, 4);
    sn_vlan_emit(&i, f + 18, 4);
    struct sn_dissect d;
    CHECK_EQ(sn_dissect(f, 64, 64, SN_LINKTYPE_ETHERNET, &d), 3);
    CHECK_EQ(d.l[1].kind, SN_LAYER_QINQ); /* 802.1ad S-tag: tshark's ieee8021ad.* */
    CHECK_EQ(d.l[2].kind, SN_LAYER_VLAN);
    char v[64];
    CHECK_EQ(field(&d, "ieee8021ad.id", v, sizeof(v)), 1);
    CHECK_STR(v, "200");
    CHECK_EQ(field(&d, "vlan.id", v, sizeof(v)), 1);
    CHECK_STR(v, "100");
    field(&d, "eth.type", v, sizeof(v));
    CHECK_STR(v, "0x88a8");
    /* Two stacked 802.1Q tags: vlan.id occurs twice. */
    e.type = SN_ETHERTYPE_VLAN;
    sn_eth_emit(&e, f, sizeof(f));
    CHECK_EQ(sn_dissect(f, 64, 64, SN_LINKTYPE_ETHERNET, &d), 3);
    CHECK_EQ(field(&d, "vlan.id", v, sizeof(v)), 2);
    CHECK_STR(v, "200,100");
}

SN_TEST(dissect_icmp_error_has_inner_layers)
{
    uint8_t quote[64], f[256];
    struct sn_ipv4_repr ip;
    memset(&ip, 0, sizeof(ip));
    ip.ttl = 1, ip.proto = SN_IPPROTO_UDP;
    memcpy(ip.src, A4, 4), memcpy(ip.dst, B4, 4);
    struct sn_udp_repr u = {.sport = 5000, .dport = 33434, .payload = (const uint8_t *)"probe", .payload_len = 5};
    struct sn_ipaddrs a = {4, ip.src, ip.dst};
    int n = sn_udp_emit(&u, &a, quote + 20, sizeof(quote) - 20);
    ip.payload_len = (uint16_t)n;
    sn_ipv4_emit(&ip, quote, sizeof(quote));
    struct sn_icmp4_repr ic = {.type = SN_ICMP_UNREACH, .code = 3, .data = quote, .data_len = 20u + (size_t)n};
    struct sn_eth_repr e = {{2, 0, 0, 0, 0, 1}, {2, 0, 0, 0, 0, 2}, SN_ETHERTYPE_IPV4};
    sn_eth_emit(&e, f, sizeof(f));
    int k = sn_icmp4_emit(&ic, f + 34, sizeof(f) - 34);
    struct sn_ipv4_repr outer = ip;
    memcpy(outer.src, B4, 4), memcpy(outer.dst, A4, 4);
    outer.proto = SN_IPPROTO_ICMP, outer.ttl = 64, outer.payload_len = (uint16_t)k;
    sn_ipv4_emit(&outer, f + 14, sizeof(f) - 14);
    struct sn_dissect d;
    CHECK_EQ(sn_dissect(f, 34u + (uint32_t)k, 34u + (uint32_t)k, SN_LINKTYPE_ETHERNET, &d), 5);
    CHECK(d.l[3].inner && d.l[4].inner);
    char v[128];
    CHECK_EQ(field(&d, "ip.src", v, sizeof(v)), 2);
    CHECK_STR(v, "198.18.0.2,198.18.0.1");
    field(&d, "udp.dstport", v, sizeof(v));
    CHECK_STR(v, "33434");
    field(&d, "icmp.checksum.status", v, sizeof(v));
    CHECK_STR(v, "1");
}

SN_TEST(dissect_field_errors)
{
    uint8_t f[256];
    uint32_t len = syn_frame(f, sizeof(f));
    struct sn_dissect d;
    sn_dissect(f, len, len, SN_LINKTYPE_ETHERNET, &d);
    char v[4];
    CHECK_EQ(sn_dissect_field_id("no.such.field"), -ENOENT);
    CHECK_EQ(sn_dissect_field(&d, NULL, 100000, v, sizeof(v)), -ENOENT);
    CHECK_EQ(field(&d, "ip.src", v, sizeof(v)), -ENOSPC);
    CHECK_EQ(sn_dissect(f, len, len, 9999, &d), -EPROTONOSUPPORT);
}

SN_TEST(dissect_summary_like_tcpdump)
{
    uint8_t f[256];
    uint32_t len = syn_frame(f, sizeof(f));
    struct sn_dissect d;
    sn_dissect(f, len, len, SN_LINKTYPE_ETHERNET, &d);
    char s[256];
    sn_dissect_summary(&d, s, sizeof(s));
    CHECK(strstr(s, "IP 198.18.0.1.40000 > 198.18.0.2.80: Flags [S], seq 123456789") == s);
    CHECK(strstr(s, "length 0") != NULL);
    char tiny[10];
    CHECK_EQ(sn_dissect_summary(&d, tiny, sizeof(tiny)), 9);
    CHECK_EQ(strlen(tiny), 9);
}

SN_TEST(dissect_raw_ip_linktype)
{
    uint8_t f[256];
    uint32_t len = syn_frame(f, sizeof(f));
    struct sn_dissect d;
    CHECK_EQ(sn_dissect(f + 14, len - 14, len - 14, SN_LINKTYPE_RAW, &d), 2);
    CHECK_EQ(d.l[0].kind, SN_LAYER_IPV4);
    CHECK_EQ(d.l[1].csum, SN_CSUM_GOOD);
}
