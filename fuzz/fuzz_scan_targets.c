/* fuzz_scan_targets.c — libFuzzer target for the scan spec parsers of scan.h:
 * sn_scan_targets_add_addrs and sn_scan_targets_add_ports. The input is
 * "ADDRS\nPORTS" (no newline: the whole input is tried as both). Failures must
 * leave the set byte for byte as it was and give a one-line reason; successes
 * must give sorted, disjoint, non-adjacent ranges with consistent counts, an
 * index <-> (address, port) mapping that round-trips, and adding the same spec
 * again must change nothing. Any difference abort()s.
 */
#include <sysnet/scan.h>

#include <errno.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sn_scan_targets t, before;

static void check_why(int rc, const char *why)
{
    if (rc == 0) {
        if (why)
            abort();
        return;
    }
    if ((rc != -EINVAL && rc != -E2BIG) || !why || !*why || strchr(why, '\n'))
        abort();
}

static void check_invariants(void)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < t.nranges; i++) {
        if (t.range[i].first > t.range[i].last || t.range[i].before != sum)
            abort();
        if (i && (uint64_t)t.range[i - 1].last + 1 >= t.range[i].first)
            abort();
        sum += (uint64_t)t.range[i].last - t.range[i].first + 1;
    }
    if (sum != t.naddrs || t.nranges > SN_SCAN_MAX_RANGES)
        abort();
    uint32_t np = 0;
    for (unsigned w = 0; w < 1024; w++) {
        if (t.portrank[w] != np)
            abort();
        np += (uint32_t)__builtin_popcountll(t.portmap[w]);
    }
    if (np != t.nports || (t.portmap[0] & 1))
        abort();
    uint64_t n = sn_scan_targets_count(&t);
    uint64_t probe[4] = {0, n - 1, n / 2, n / 3};
    for (int k = 0; k < 4 && n; k++) {
        uint8_t a[4];
        uint16_t port;
        uint64_t j;
        if (sn_scan_targets_at(&t, probe[k], a, &port) != 0 ||
            sn_scan_targets_index(&t, a, port, &j) != 0 || j != probe[k])
            abort();
    }
}

static void try_addrs(const char *s, size_t len)
{
    const char *why = "unset";
    memcpy(&before, &t, sizeof(t));
    int rc = sn_scan_targets_add_addrs(&t, s, len, &why);
    check_why(rc, why);
    if (rc < 0) {
        if (t.nranges != before.nranges || t.naddrs != before.naddrs ||
            memcmp(t.range, before.range, t.nranges * sizeof(t.range[0])) ||
            memcmp(t.portmap, before.portmap, sizeof(t.portmap)))
            abort();
        return;
    }
    check_invariants();
    /* Idempotent: the same addresses again change nothing. */
    memcpy(&before, &t, sizeof(t));
    if (sn_scan_targets_add_addrs(&t, s, len, NULL) == 0 &&
        (t.nranges != before.nranges || t.naddrs != before.naddrs ||
         memcmp(t.range, before.range, t.nranges * sizeof(t.range[0]))))
        abort();
}

static void try_ports(const char *s, size_t len)
{
    const char *why = "unset";
    memcpy(&before, &t, sizeof(t));
    int rc = sn_scan_targets_add_ports(&t, s, len, &why);
    check_why(rc, why);
    if (rc < 0) {
        if (memcmp(&t, &before, sizeof(t)))
            abort();
        return;
    }
    check_invariants();
    memcpy(&before, &t, sizeof(t));
    if (sn_scan_targets_add_ports(&t, s, len, NULL) != 0 || memcmp(&t, &before, sizeof(t)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nl = memchr(s, '\n', size);
    sn_scan_targets_init(&t);
    if (nl) {
        try_addrs(s, (size_t)(nl - s));
        try_ports(nl + 1, size - (size_t)(nl - s) - 1);
    } else {
        try_addrs(s, size);
        try_ports(s, size);
    }
    return 0;
}
