/* fuzz_wire.c — libFuzzer target for each wire parser on its own, with
 * parse -> emit round trips: what parses must re-emit to the same bytes
 * (checksums aside), and no parser may read past its buffer. Byte 0 picks the
 * pseudo-header family for the transport parsers. */
#include <sysnet/wire.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t SRC[16] = {0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t DST[16] = {0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

static void l2l3(const uint8_t *p, size_t size)
{
    uint8_t out[128];
    struct sn_eth_repr e;
    struct sn_vlan_repr v;
    struct sn_arp_repr a;
    struct sn_ipv4_repr r4;
    struct sn_ipv6_repr r6;
    struct sn_ipv6_chain c;
    if (sn_eth_parse(p, size, &e) == 14 && (sn_eth_emit(&e, out, sizeof(out)) != 14 || memcmp(out, p, 14)))
        abort();
    if (sn_vlan_parse(p, size, &v) == 4 && (sn_vlan_emit(&v, out, sizeof(out)) != 4 || memcmp(out, p, 4)))
        abort();
    if (sn_arp_parse(p, size, &a) == 28 && (sn_arp_emit(&a, out, sizeof(out)) != 28 || memcmp(out, p, 28)))
        abort();
    for (unsigned fl = 0; fl < 4; fl++) {
        int rc = sn_ipv4_parse(p, size, fl, &r4);
        if (rc >= 0 && !(fl & SN_WIRE_PARTIAL)) {
            int n = sn_ipv4_emit(&r4, out, sizeof(out));
            if (n != rc)
                abort();
            memcpy(out + SN_IPV4_CSUM, p + SN_IPV4_CSUM, 2);
            if (memcmp(out, p, (size_t)n))
                abort();
        }
        if (rc == SN_WIRE_ECSUM && !(fl & SN_WIRE_CSUM))
            abort();
    }
    if (sn_ipv6_parse(p, size, 0, &r6) == 40 && (sn_ipv6_emit(&r6, out, sizeof(out)) != 40 || memcmp(out, p, 40)))
        abort();
    int rc = sn_ipv6_walk(p, size, &c);
    if (rc >= 0 && ((size_t)rc > size || rc != c.upper_off))
        abort();
    size_t off = 0;
    struct sn_opt o;
    while (sn_opt_next(p, size, &off, &o) > 0)
        if (off > size || (o.data && o.data + o.len - 2 > p + size))
            abort();
}

static void l4(const uint8_t *p, size_t size, const struct sn_ipaddrs *ip)
{
    static uint8_t out[70000];
    struct sn_udp_repr u;
    struct sn_tcp_repr t;
    struct sn_icmp4_repr i4;
    struct sn_icmp6_repr i6;
    int rc = sn_udp_parse(p, size, 0, ip, &u);
    if (rc >= 0 && (u.payload < p || u.payload + u.payload_len > p + size))
        abort();
    (void)sn_udp_parse(p, size, SN_WIRE_PARTIAL, NULL, &u);
    rc = sn_tcp_parse(p, size, ip, &t);
    if (rc >= 0) {
        if (t.payload + t.payload_len > p + size)
            abort();
        int n = sn_tcp_emit(&t, ip, out, sizeof(out));
        struct sn_tcp_repr t2;
        if (n >= 0 && sn_tcp_parse(out, (size_t)n, ip, &t2) < 0)
            abort(); /* what we emit must parse, checksum included */
    }
    rc = sn_icmp4_parse(p, size, SN_WIRE_CSUM, &i4);
    if (rc >= 0 && i4.data + i4.data_len > p + size)
        abort();
    if (ip->family == 6) {
        rc = sn_icmp6_parse(p, size, ip, &i6);
        if (rc >= 0 && i6.data + i6.data_len > p + size)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct sn_ipaddrs ip = {(data[0] & 1) ? 6 : 4, SRC, DST};
    data++, size--;
    uint8_t *p = malloc(size ? size : 1); /* exact size: ASan sees any overread */
    if (!p)
        return 0;
    memcpy(p, data, size);
    l2l3(p, size);
    l4(p, size, &ip);
    free(p);
    return 0;
}
