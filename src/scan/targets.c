/* targets.c — what a scan covers: IPv4 address specs (addresses, CIDR blocks,
 * ranges) merged into sorted disjoint ranges, port specs into a 65536-bit map
 * with per-word ranks, and the mapping between a scan index and its
 * (address, port) pair in both directions. */
#include <sysnet/scan.h>
#include <sysnet/sock.h>

#include <errno.h>
#include <stdlib.h>

static int fail(const char **why, const char *reason, int err)
{
    if (why)
        *why = reason;
    return err;
}

/* ---- addresses ------------------------------------------------------- */

static int is_digits(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static const char *find(const char *s, size_t n, char c)
{
    return memchr(s, c, n);
}

static int addr_of(const char *s, size_t n, uint32_t *out, const char **why)
{
    uint8_t a[4];
    if (sn_parse_ipv4(s, n, a) < 0) {
        for (size_t i = 0; i < n; i++)
            if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z'))
                return fail(why, "names are not resolved; give a numeric IPv4 address", -EINVAL);
        return fail(why, "not an IPv4 address (four numbers 0-255: 198.18.0.1)", -EINVAL);
    }
    *out = sn_load_be32(a);
    return 0;
}

/* One item: "A", "A/N" or "A-B". */
static int parse_item(const char *s, size_t n, struct sn_scan_range *r, const char **why)
{
    if (n == 0)
        return fail(why, "empty item in the target list (two commas, or one at an end)", -EINVAL);
    if (find(s, n, ':'))
        return fail(why, "IPv6 targets are not supported yet", -EINVAL);
    const char *slash = find(s, n, '/'), *dash = find(s, n, '-');
    uint32_t a, b;
    int rc;
    if (slash) {
        size_t an = (size_t)(slash - s), pn = n - an - 1;
        if ((rc = addr_of(s, an, &a, why)) < 0)
            return rc;
        if (!is_digits(slash + 1, pn) || pn > 2)
            return fail(why, "a CIDR prefix is /0 to /32", -EINVAL);
        unsigned bits = (unsigned)(slash[1] - '0');
        if (pn == 2)
            bits = bits * 10 + (unsigned)(slash[2] - '0');
        if (bits > 32)
            return fail(why, "a CIDR prefix is /0 to /32", -EINVAL);
        /* Host bits are ignored, as nmap and masscan do: 198.18.0.7/24 is the /24. */
        uint32_t host = bits == 0 ? UINT32_MAX : (uint32_t)((1ULL << (32 - bits)) - 1);
        r->first = a & ~host;
        r->last = r->first | host;
        return 0;
    }
    if (dash) {
        size_t an = (size_t)(dash - s), bn = n - an - 1;
        if ((rc = addr_of(s, an, &a, why)) < 0)
            return rc;
        if (is_digits(dash + 1, bn))
            return fail(why, "a range wants two full addresses (198.18.0.1-198.18.0.9)", -EINVAL);
        if ((rc = addr_of(dash + 1, bn, &b, why)) < 0)
            return rc;
        if (a > b)
            return fail(why, "a range runs from the lower address to the higher", -EINVAL);
        r->first = a;
        r->last = b;
        return 0;
    }
    if ((rc = addr_of(s, n, &a, why)) < 0)
        return rc;
    r->first = r->last = a;
    return 0;
}

static int cmp_range(const void *x, const void *y)
{
    const struct sn_scan_range *a = x, *b = y;
    return a->first < b->first ? -1 : a->first > b->first;
}

/* Sort r[0..n) and merge overlapping or adjacent ranges; returns the new count. */
static uint32_t merge(struct sn_scan_range *r, uint32_t n)
{
    if (n == 0)
        return 0;
    qsort(r, n, sizeof(*r), cmp_range);
    uint32_t out = 0;
    for (uint32_t i = 1; i < n; i++) {
        if ((uint64_t)r[i].first <= (uint64_t)r[out].last + 1) {
            if (r[i].last > r[out].last)
                r[out].last = r[i].last;
        } else {
            r[++out] = r[i];
        }
    }
    return out + 1;
}

void sn_scan_targets_init(struct sn_scan_targets *t)
{
    memset(t, 0, sizeof(*t));
}

int sn_scan_targets_add_addrs(struct sn_scan_targets *t, const char *spec, size_t len,
                              const char **why)
{
    if (len > SN_SCAN_SPEC_MAX)
        return fail(why, "target list longer than 64 KiB", -E2BIG);
    if (len == 0)
        return fail(why, "empty target list", -EINVAL);
    if (memchr(spec, 0, len))
        return fail(why, "NUL byte in the target list", -EINVAL);
    /* New items go to the free tail; [0, nranges) is untouched until all parse. */
    uint32_t base = t->nranges, n = base;
    size_t pos = 0;
    for (;;) {
        const char *comma = find(spec + pos, len - pos, ',');
        size_t ilen = comma ? (size_t)(comma - (spec + pos)) : len - pos;
        struct sn_scan_range r;
        int rc = parse_item(spec + pos, ilen, &r, why);
        if (rc < 0)
            return rc;
        if (n == SN_SCAN_MAX_RANGES) {
            n = base + merge(t->range + base, n - base);
            if (n == SN_SCAN_MAX_RANGES)
                return fail(why, "more than 1024 separate address ranges", -E2BIG);
        }
        t->range[n++] = r;
        if (!comma)
            break;
        pos += ilen + 1;
    }
    /* Merging the old ranges with the new can only shrink the list, but the
     * total must still fit (it does: n <= SN_SCAN_MAX_RANGES). */
    t->nranges = merge(t->range, n);
    uint64_t before = 0;
    for (uint32_t i = 0; i < t->nranges; i++) {
        t->range[i].before = before;
        before += (uint64_t)t->range[i].last - t->range[i].first + 1;
    }
    t->naddrs = before;
    if (why)
        *why = NULL;
    return 0;
}

/* ---- ports ----------------------------------------------------------- */

static int port_of(const char *s, size_t n, uint32_t *out, const char **why)
{
    if (!is_digits(s, n) || n > 5)
        return fail(why, "ports are numbers 1 to 65535 (22,80,8000-8100)", -EINVAL);
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (uint32_t)(s[i] - '0');
    if (v < 1 || v > 65535)
        return fail(why, "ports are numbers 1 to 65535 (22,80,8000-8100)", -EINVAL);
    *out = v;
    return 0;
}

/* Walk the spec; with set != NULL also mark each port (second pass). */
static int ports_walk(const char *spec, size_t len, uint64_t *set, const char **why)
{
    size_t pos = 0;
    for (;;) {
        const char *comma = find(spec + pos, len - pos, ',');
        size_t n = comma ? (size_t)(comma - (spec + pos)) : len - pos;
        const char *s = spec + pos;
        if (n == 0)
            return fail(why, "empty item in the port list (two commas, or one at an end)", -EINVAL);
        const char *dash = find(s, n, '-');
        uint32_t a, b;
        int rc;
        if (dash) {
            size_t an = (size_t)(dash - s);
            if ((rc = port_of(s, an, &a, why)) < 0 || (rc = port_of(dash + 1, n - an - 1, &b, why)) < 0)
                return rc;
            if (a > b)
                return fail(why, "a port range runs low to high (8000-8100)", -EINVAL);
        } else {
            if ((rc = port_of(s, n, &a, why)) < 0)
                return rc;
            b = a;
        }
        if (set)
            for (uint32_t p = a; p <= b; p++)
                set[p / 64] |= 1ULL << (p % 64);
        if (!comma)
            return 0;
        pos += n + 1;
    }
}

int sn_scan_targets_add_ports(struct sn_scan_targets *t, const char *spec, size_t len,
                              const char **why)
{
    if (len > SN_SCAN_SPEC_MAX)
        return fail(why, "port list longer than 64 KiB", -E2BIG);
    if (len == 0)
        return fail(why, "empty port list", -EINVAL);
    if (memchr(spec, 0, len))
        return fail(why, "NUL byte in the port list", -EINVAL);
    int rc = ports_walk(spec, len, NULL, why);
    if (rc < 0)
        return rc;
    ports_walk(spec, len, t->portmap, NULL);
    uint32_t rank = 0;
    for (unsigned w = 0; w < SN_COUNTOF(t->portmap); w++) {
        t->portrank[w] = rank;
        rank += (uint32_t)__builtin_popcountll(t->portmap[w]);
    }
    t->nports = rank;
    if (why)
        *why = NULL;
    return 0;
}

/* ---- index <-> (address, port) --------------------------------------- */

uint64_t sn_scan_targets_count(const struct sn_scan_targets *t)
{
    return t->naddrs * t->nports;
}

int sn_scan_targets_addr_at(const struct sn_scan_targets *t, uint64_t ai, uint8_t addr[4])
{
    if (ai >= t->naddrs)
        return -ERANGE;
    /* The last range whose `before` is <= ai. */
    uint32_t lo = 0, hi = t->nranges - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if (t->range[mid].before <= ai)
            lo = mid;
        else
            hi = mid - 1;
    }
    sn_store_be32(addr, (uint32_t)(t->range[lo].first + (ai - t->range[lo].before)));
    return 0;
}

int sn_scan_targets_port_at(const struct sn_scan_targets *t, uint32_t pi, uint16_t *port)
{
    if (pi >= t->nports)
        return -ERANGE;
    /* The last word whose rank is <= pi, then the (pi - rank)-th set bit in it. */
    unsigned lo = 0, hi = SN_COUNTOF(t->portmap) - 1;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo + 1) / 2;
        if (t->portrank[mid] <= pi)
            lo = mid;
        else
            hi = mid - 1;
    }
    uint64_t w = t->portmap[lo];
    for (uint32_t k = pi - t->portrank[lo]; k; k--)
        w &= w - 1;
    *port = (uint16_t)(lo * 64 + (unsigned)__builtin_ctzll(w));
    return 0;
}

int sn_scan_targets_at(const struct sn_scan_targets *t, uint64_t i, uint8_t addr[4],
                       uint16_t *port)
{
    if (i >= sn_scan_targets_count(t))
        return -ERANGE;
    sn_scan_targets_addr_at(t, i % t->naddrs, addr);
    sn_scan_targets_port_at(t, (uint32_t)(i / t->naddrs), port);
    return 0;
}

int sn_scan_targets_index(const struct sn_scan_targets *t, const uint8_t addr[4], uint16_t port,
                          uint64_t *i)
{
    uint32_t a = sn_load_be32(addr);
    if (t->nranges == 0 || !(t->portmap[port / 64] >> (port % 64) & 1))
        return -ENOENT;
    /* The last range whose first is <= a. */
    uint32_t lo = 0, hi = t->nranges - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if (t->range[mid].first <= a)
            lo = mid;
        else
            hi = mid - 1;
    }
    const struct sn_scan_range *r = &t->range[lo];
    if (a < r->first || a > r->last)
        return -ENOENT;
    uint64_t ai = r->before + (a - r->first);
    uint64_t below = t->portmap[port / 64] & ((1ULL << (port % 64)) - 1);
    uint64_t pi = t->portrank[port / 64] + (uint64_t)__builtin_popcountll(below);
    *i = pi * t->naddrs + ai;
    return 0;
}
