/* fuzz_addr.c — libFuzzer target for the address text parsers of sock.h:
 * sn_parse_ipv4/ipv6/mac and sn_addr_parse_len. Every success is formatted,
 * parsed again and must give the same value (and the same text a second
 * time); the first 16 bytes are also formatted as raw IPv6/IPv4/MAC bytes and
 * must parse back. Any difference abort()s.
 */
#include <sysnet/sock.h>

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void raw_roundtrip(const uint8_t *data, size_t size)
{
    uint8_t b[16] = {0}, back[16];
    char s[SN_IPV6_STRLEN];
    memcpy(b, data, size < 16 ? size : 16);
    int n = sn_fmt_ipv6(b, s, sizeof(s));
    if (n <= 0 || sn_parse_ipv6(s, (size_t)n, back) != 0 || memcmp(b, back, 16) != 0)
        abort();
    n = sn_fmt_ipv4(b, s, sizeof(s));
    if (n <= 0 || sn_parse_ipv4(s, (size_t)n, back) != 0 || memcmp(b, back, 4) != 0)
        abort();
    n = sn_fmt_mac(b, s, sizeof(s));
    if (n != 17 || sn_parse_mac(s, (size_t)n, back) != 0 || memcmp(b, back, 6) != 0)
        abort();
}

static void text_roundtrip(const char *t, size_t len)
{
    uint8_t a[16], b[16];
    char s[SN_ADDR_STRLEN], s2[SN_ADDR_STRLEN];
    int n;

    if (sn_parse_ipv4(t, len, a) == 0) {
        n = sn_fmt_ipv4(a, s, sizeof(s));
        if (n <= 0 || sn_parse_ipv4(s, (size_t)n, b) != 0 || memcmp(a, b, 4) != 0)
            abort();
        if (n != (int)len || memcmp(s, t, len) != 0) /* the IPv4 text form is unique */
            abort();
    }
    if (sn_parse_ipv6(t, len, a) == 0) {
        n = sn_fmt_ipv6(a, s, sizeof(s));
        if (n <= 0 || sn_parse_ipv6(s, (size_t)n, b) != 0 || memcmp(a, b, 16) != 0)
            abort();
    }
    if (sn_parse_mac(t, len, a) == 0) {
        n = sn_fmt_mac(a, s, sizeof(s));
        if (n != 17 || sn_parse_mac(s, (size_t)n, b) != 0 || memcmp(a, b, 6) != 0)
            abort();
    }

    struct sn_addr x, y;
    const char *why = NULL;
    if (sn_addr_parse_len(t, len, &x, &why) == 0) {
        if (why != NULL)
            abort();
        n = sn_addr_fmt(&x, s, sizeof(s));
        if (n <= 0 || sn_addr_parse_len(s, (size_t)n, &y, &why) != 0 || !sn_addr_eq(&x, &y))
            abort();
        int n2 = sn_addr_fmt(&y, s2, sizeof(s2));
        if (n2 != n || memcmp(s, s2, (size_t)n) != 0)
            abort();
    } else if (why == NULL) {
        abort(); /* every failure has a reason */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    raw_roundtrip(data, size);
    /* Exactly size bytes: no NUL terminator, so ASan sees any read past len. */
    text_roundtrip((const char *)data, size);
    return 0;
}
