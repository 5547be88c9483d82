/* text.c — address text primitives: format and strictly parse MAC, IPv4 and
 * IPv6 addresses (RFC 4291 §2.2 input, RFC 5952 §4 output, byte for byte what
 * glibc's inet_ntop/inet_pton produce and accept). No libc address calls.
 */
#include <sysnet/sock.h>

static const char hexdig[] = "0123456789abcdef";

/* Copy the len bytes in tmp out as a string, or -ENOSPC. */
static int put(const char *tmp, size_t len, char *out, size_t cap)
{
    if (len >= cap) {
        if (cap > 0)
            out[0] = '\0';
        return -ENOSPC;
    }
    memcpy(out, tmp, len);
    out[len] = '\0';
    return (int)len;
}

static size_t dec8(unsigned v, char *p)
{
    size_t n = 0;
    if (v >= 100)
        p[n++] = (char)('0' + v / 100);
    if (v >= 10)
        p[n++] = (char)('0' + v / 10 % 10);
    p[n++] = (char)('0' + v % 10);
    return n;
}

static size_t quad(const uint8_t a[4], char *p)
{
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        if (i)
            p[n++] = '.';
        n += dec8(a[i], p + n);
    }
    return n;
}

int sn_fmt_mac(const uint8_t mac[6], char *out, size_t cap)
{
    char tmp[SN_MAC_STRLEN];
    size_t n = 0;
    for (int i = 0; i < 6; i++) {
        if (i)
            tmp[n++] = ':';
        tmp[n++] = hexdig[mac[i] >> 4];
        tmp[n++] = hexdig[mac[i] & 15];
    }
    return put(tmp, n, out, cap);
}

int sn_fmt_ipv4(const uint8_t a[4], char *out, size_t cap)
{
    char tmp[SN_IPV4_STRLEN];
    return put(tmp, quad(a, tmp), out, cap);
}

int sn_fmt_ipv6(const uint8_t a[16], char *out, size_t cap)
{
    char tmp[SN_IPV6_STRLEN];
    unsigned w[8];
    int best = -1, bestlen = 0, cur = -1, curlen = 0;
    size_t n = 0;

    for (int i = 0; i < 8; i++)
        w[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    /* RFC 5952 §4.2.3: the longest run of zero groups; the first on a tie. */
    for (int i = 0; i < 8; i++) {
        if (w[i] == 0) {
            if (cur < 0)
                cur = i, curlen = 0;
            if (++curlen > bestlen)
                best = cur, bestlen = curlen;
        } else {
            cur = -1;
        }
    }
    if (bestlen < 2) /* §4.2.2: "::" never stands for a single group */
        best = -1;

    for (int i = 0; i < 8; i++) {
        if (i == best) {
            tmp[n++] = ':';
            if (best + bestlen == 8)
                tmp[n++] = ':';
            i += bestlen - 1;
            continue;
        }
        if (i)
            tmp[n++] = ':';
        /* §5 and inet_ntop: mapped ::ffff:a.b.c.d and compatible ::a.b.c.d. */
        if (i == 6 && best == 0 && (bestlen == 6 || (bestlen == 5 && w[5] == 0xffff))) {
            n += quad(a + 12, tmp + n);
            break;
        }
        int started = 0;
        for (int s = 12; s >= 0; s -= 4) {
            unsigned d = (w[i] >> s) & 15;
            if (d || started || s == 0) {
                tmp[n++] = hexdig[d];
                started = 1;
            }
        }
    }
    return put(tmp, n, out, cap);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sn_parse_ipv4(const char *s, size_t len, uint8_t out[4])
{
    uint8_t a[4];
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part) {
            if (i >= len || s[i] != '.')
                return -EINVAL;
            i++;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 3)
            v = v * 10 + (unsigned)(s[i++] - '0');
        if (i == start || v > 255)
            return -EINVAL;
        if (s[start] == '0' && i - start > 1) /* no leading zeros: "010" is octal to some */
            return -EINVAL;
        a[part] = (uint8_t)v;
    }
    if (i != len) /* a fourth digit, a fifth part, junk */
        return -EINVAL;
    memcpy(out, a, 4);
    return 0;
}

int sn_parse_ipv6(const char *s, size_t len, uint8_t out[16])
{
    uint8_t a[16];
    int ng = 0;   /* groups written to a[] so far, counted in 16-bit units */
    int gap = -1; /* group index where "::" stands, or -1 */
    size_t i = 0;

    if (len == 0)
        return -EINVAL;
    if (s[0] == ':') { /* only "::" may start an address */
        if (len < 2 || s[1] != ':')
            return -EINVAL;
        gap = 0;
        i = 2;
    }
    while (i < len) {
        size_t start = i;
        unsigned v = 0;
        while (i < len && i - start < 5 && hexval(s[i]) >= 0)
            v = v << 4 | (unsigned)hexval(s[i++]);
        if (i < len && s[i] == '.') { /* a dotted-quad tail: the last 32 bits */
            if (ng > 6 || sn_parse_ipv4(s + start, len - start, a + 2 * ng) < 0)
                return -EINVAL;
            ng += 2;
            i = len;
            break;
        }
        if (i == start || i - start > 4 || ng == 8)
            return -EINVAL;
        a[2 * ng] = (uint8_t)(v >> 8);
        a[2 * ng + 1] = (uint8_t)v;
        ng++;
        if (i == len)
            break;
        if (s[i] != ':' || ++i == len) /* junk, or a lone trailing ':' */
            return -EINVAL;
        if (s[i] == ':') {
            if (gap >= 0)
                return -EINVAL; /* a second "::" */
            gap = ng;
            i++;
        }
    }
    if (gap < 0 ? ng != 8 : ng > 7) /* "::" stands for at least one group */
        return -EINVAL;
    if (gap >= 0) {
        int tail = ng - gap, fill = 8 - ng;
        memmove(a + 2 * (gap + fill), a + 2 * gap, (size_t)(2 * tail));
        memset(a + 2 * gap, 0, (size_t)(2 * fill));
    }
    memcpy(out, a, 16);
    return 0;
}

int sn_parse_mac(const char *s, size_t len, uint8_t out[6])
{
    uint8_t m[6];
    if (len != 17)
        return -EINVAL;
    char sep = s[2];
    if (sep != ':' && sep != '-')
        return -EINVAL;
    for (int i = 0; i < 6; i++) {
        const char *p = s + 3 * i;
        int hi = hexval(p[0]), lo = hexval(p[1]);
        if (hi < 0 || lo < 0 || (i < 5 && p[2] != sep))
            return -EINVAL;
        m[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(out, m, 6);
    return 0;
}
