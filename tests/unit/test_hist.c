/* test_hist.c — the log-linear histogram: layout and memory, the relative error
 * bound on every value, percentiles of a known distribution, merge, coordinated
 * omission correction against hand counts and against a naive back-fill, edges,
 * and no allocation while recording. */
#include "../harness.h"
#include <sysnet/base.h>
#include <sysnet/hist.h>
#include <errno.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static uint64_t pow10u(int d)
{
    uint64_t p = 1;
    while (d-- > 0)
        p *= 10;
    return p;
}

SN_TEST(hist_layout_and_memory)
{
    /* d = 2: S = 256; d = 3: S = 2048 (HdrHistogram's subBucketCount). */
    CHECK_EQ(sn_hist_slots(255, 2), 256);
    CHECK_EQ(sn_hist_slots(256, 2), 384);
    CHECK_EQ(sn_hist_slots(2047, 3), 2048);
    CHECK_EQ(sn_hist_slots(2048, 3), 3072);
    /* 2^63 at d = 2: bucket 56, 58 * 128 slots; at d = 3: bucket 53, 55 * 1024. */
    CHECK_EQ(sn_hist_slots(1ull << 63, 2), 58 * 128);
    CHECK_EQ(sn_hist_slots(1ull << 63, 3), 55 * 1024);
    /* 60 s in ns (< 2^36): bucket 28 at d = 2, 25 at d = 3. */
    CHECK_EQ(sn_hist_slots(60000000000ull, 2), 30 * 128);
    CHECK_EQ(sn_hist_slots(60000000000ull, 3), 27 * 1024);
    CHECK_EQ(sn_hist_slots(0, 3), 0);
    CHECK_EQ(sn_hist_slots((1ull << 63) + 1, 3), 0);
    CHECK_EQ(sn_hist_slots(1000, 0), 0);
    CHECK_EQ(sn_hist_slots(1000, 6), 0);

    struct sn_hist h;
    CHECK_EQ(sn_hist_init(&h, 0, 3), -EINVAL);
    CHECK_EQ(sn_hist_init(&h, 1000, 9), -EINVAL);
    CHECK_EQ(sn_hist_init(&h, 1ull << 63, 3), 0);
    CHECK_EQ(h.counts_len, 55 * 1024);
    CHECK_EQ(sn_hist_count(&h), 0);
    CHECK_EQ(sn_hist_min(&h), 0);
    CHECK_EQ(sn_hist_max(&h), 0);
    CHECK_EQ(sn_hist_value_at(&h, 99), 0);
    CHECK(sn_hist_mean(&h) == 0 && sn_hist_stddev(&h) == 0);
    sn_hist_fini(&h);
    sn_hist_fini(&h); /* safe on a zeroed h */

    static uint64_t mem[3072];
    CHECK_EQ(sn_hist_init_mem(&h, 2048, 3, mem, 3071), -EINVAL);
    mem[5] = 7;
    CHECK_EQ(sn_hist_init_mem(&h, 2048, 3, mem, 3072), 0);
    CHECK_EQ(mem[5], 0); /* zeroed */
    CHECK_EQ(sn_hist_record(&h, 2048), 0);
    CHECK_EQ(sn_hist_record(&h, 2049), -ERANGE);
    sn_hist_fini(&h);
}

/* Every value v comes back as [lowest, highest] equivalent with lowest <= v <= highest
 * and a width within v / 10^d; a histogram holding v alone reports it as such. */
static int check_value(struct sn_hist *h, uint64_t v, int d)
{
    uint64_t lo = sn_hist_lowest_equiv(h, v), hi = sn_hist_highest_equiv(h, v);
    if (lo > v || hi < v)
        return 0;
    if (v < 2 * pow10u(d) && lo != hi) /* exact up to 2 * 10^d */
        return 0;
    /* width - 1 <= v / 10^d, i.e. (hi - v) / v <= 10^-d: HdrHistogram's guarantee. */
    if ((hi - lo) > v / pow10u(d))
        return 0;
    sn_hist_reset(h);
    if (sn_hist_record(h, v) != 0 || sn_hist_count(h) != 1)
        return 0;
    return sn_hist_value_at(h, 50) == hi && sn_hist_max(h) == hi && sn_hist_min(h) == lo &&
           sn_hist_value_at(h, 0) == lo && sn_hist_value_at(h, 100) == hi;
}

SN_TEST(hist_every_value_within_relative_error)
{
    for (int d = 1; d <= 4; d++) {
        struct sn_hist h;
        CHECK_EQ(sn_hist_init(&h, 1ull << 63, d), 0);
        uint64_t bad = 0; /* 0 passes check_value, so 0 means none failed */
        /* All small values, exhaustively (bucket 0 and the first few buckets). */
        for (uint64_t v = 0; v < 200000 && !bad; v++)
            if (!check_value(&h, v, d))
                bad = v;
        /* Log-uniform random values up to 2^63, and every power of two +-1. */
        for (int i = 0; i < 200000 && !bad; i++) {
            uint64_t v = rng() >> (rng() % 63 + 1);
            if (!check_value(&h, v, d))
                bad = v;
        }
        for (int s = 1; s <= 63 && !bad; s++) {
            uint64_t p = 1ull << s;
            for (uint64_t v = p - 1; v <= p + (s < 63); v++)
                if (!check_value(&h, v, d))
                    bad = v;
        }
        sn_hist_fini(&h);
        CHECK_EQ(bad, 0);
    }
}

SN_TEST(hist_uniform_percentiles_mean_stddev)
{
    struct sn_hist h;
    CHECK_EQ(sn_hist_init(&h, 3600000000000ull, 3), 0);
    const uint64_t n = 1000000;
    for (uint64_t v = 1; v <= n; v++)
        CHECK_EQ(sn_hist_record(&h, v), 0);
    CHECK_EQ(sn_hist_count(&h), n);
    /* The p-th percentile of 1..n is the value p/100 * n; reported as the highest
     * value of its slot, so within 0.1% above it. */
    static const double ps[] = {50, 90, 99, 99.9, 99.99, 100};
    for (size_t i = 0; i < SN_COUNTOF(ps); i++) {
        uint64_t exact = (uint64_t)(ps[i] / 100 * (double)n + 0.5);
        uint64_t got = sn_hist_value_at(&h, ps[i]);
        CHECK_EQ(got, sn_hist_highest_equiv(&h, exact));
        CHECK(got >= exact && got - exact <= exact / 1000);
    }
    CHECK_EQ(sn_hist_value_at(&h, 100), sn_hist_max(&h));
    CHECK_EQ(sn_hist_value_at(&h, 250), sn_hist_max(&h)); /* clamped */
    CHECK_EQ(sn_hist_value_at(&h, 0), 1);
    CHECK_EQ(sn_hist_min(&h), 1);
    CHECK_EQ(sn_hist_value_at(&h, 0.0001), 1); /* rank 1 */
    uint64_t out[3];
    const double three[] = {99, 50, 90};
    sn_hist_values_at(&h, three, out, 3);
    CHECK(out[0] == sn_hist_value_at(&h, 99) && out[1] == sn_hist_value_at(&h, 50) &&
          out[2] == sn_hist_value_at(&h, 90));
    /* Mean (n+1)/2 and stddev sqrt((n^2-1)/12), to 0.1%. */
    double mean = sn_hist_mean(&h), sd = sn_hist_stddev(&h);
    CHECK(mean > 500000.5 * 0.999 && mean < 500000.5 * 1.001);
    CHECK(sd > 288675.13 * 0.999 && sd < 288675.13 * 1.001);
    char line[256];
    int len = sn_hist_format(&h, line, sizeof(line));
    CHECK(len > 0 && (size_t)len < sizeof(line));
    CHECK_STR(line, "n=1000000 min=1ns p50=500us p90=900us p99=990us p99.9=999us max=1.00ms mean=500us sd=289us");
    sn_hist_fini(&h);
}

SN_TEST(hist_format_ns_units)
{
    char b[32];
    struct {
        uint64_t ns;
        const char *s;
    } t[] = {{0, "0ns"},          {999, "999ns"},       {1000, "1.00us"},     {1234, "1.23us"},
             {12345, "12.3us"},   {123456, "123us"},    {999499, "999us"},    {999500, "1.00ms"},
             {1050000, "1.05ms"}, {2000000000, "2.00s"}, {3600000000000ull, "3600s"}};
    for (size_t i = 0; i < SN_COUNTOF(t); i++) {
        sn_hist_format_ns(t[i].ns, b, sizeof(b));
        CHECK_STR(b, t[i].s);
    }
    CHECK_EQ(sn_hist_format_ns(1234, b, 3), 6); /* snprintf's contract: truncated, full length */
    CHECK_STR(b, "1.");
}

SN_TEST(hist_merge)
{
    struct sn_hist a, b, all, other;
    CHECK_EQ(sn_hist_init(&a, 1ull << 40, 3), 0);
    CHECK_EQ(sn_hist_init(&b, 1ull << 40, 3), 0);
    CHECK_EQ(sn_hist_init(&all, 1ull << 40, 3), 0);
    CHECK_EQ(sn_hist_init(&other, 1ull << 40, 2), 0);
    for (int i = 0; i < 100000; i++) {
        uint64_t v = rng() >> (rng() % 40 + 24);
        CHECK_EQ(sn_hist_record(i & 1 ? &a : &b, v), 0);
        CHECK_EQ(sn_hist_record(&all, v), 0);
    }
    CHECK_EQ(sn_hist_record_n(&b, 123456789, 1000), 0);
    CHECK_EQ(sn_hist_record_n(&all, 123456789, 1000), 0);
    CHECK_EQ(sn_hist_merge(&a, &b), 0);
    CHECK_EQ(sn_hist_count(&a), 101000);
    CHECK_MEM(a.counts, all.counts, a.counts_len * sizeof(uint64_t));
    CHECK_EQ(sn_hist_min(&a), sn_hist_min(&all));
    CHECK_EQ(sn_hist_max(&a), sn_hist_max(&all));
    CHECK_EQ(sn_hist_value_at(&a, 99.9), sn_hist_value_at(&all, 99.9));
    CHECK_EQ(sn_hist_merge(&a, &other), -EINVAL);
    sn_hist_reset(&b);
    CHECK_EQ(sn_hist_merge(&a, &b), 0); /* merging an empty one changes nothing */
    CHECK_EQ(sn_hist_min(&a), sn_hist_min(&all));
    CHECK_EQ(sn_hist_merge(&b, &a), 0); /* into an empty one: a copy */
    CHECK_MEM(b.counts, all.counts, b.counts_len * sizeof(uint64_t));
    CHECK_EQ(sn_hist_min(&b), sn_hist_min(&all));
    CHECK_EQ(sn_hist_max(&b), sn_hist_max(&all));
    sn_hist_fini(&a);
    sn_hist_fini(&b);
    sn_hist_fini(&all);
    sn_hist_fini(&other);
}

SN_TEST(hist_corrected_hand_counts)
{
    struct sn_hist h;
    CHECK_EQ(sn_hist_init(&h, 1ull << 40, 3), 0);
    /* 100 with interval 10: 100, then 90, 80, ..., 10 (the last >= interval): 10 values. */
    CHECK_EQ(sn_hist_record_corrected(&h, 100, 10), 0);
    CHECK_EQ(sn_hist_count(&h), 10);
    for (uint64_t v = 0; v <= 100; v++)
        CHECK_EQ(h.counts[v], v >= 10 && v % 10 == 0);
    CHECK_EQ(sn_hist_min(&h), 10);
    /* 105 / 10: 105, 95, ..., 15 (5 < 10 is not back-filled): 10 more. */
    CHECK_EQ(sn_hist_record_corrected(&h, 105, 10), 0);
    CHECK_EQ(sn_hist_count(&h), 20);
    CHECK_EQ(h.counts[15] + h.counts[105] + h.counts[5], 2);
    /* 19 / 10: nothing to back-fill (9 < 10); 20 / 10: 20 and 10. */
    CHECK_EQ(sn_hist_record_corrected(&h, 19, 10), 0);
    CHECK_EQ(sn_hist_count(&h), 21);
    CHECK_EQ(sn_hist_record_corrected(&h, 20, 10), 0);
    CHECK_EQ(sn_hist_count(&h), 23);
    CHECK_EQ(h.counts[10], 2);
    CHECK_EQ(h.counts[20], 2);
    /* At or below the interval, and interval 0: the value alone. */
    CHECK_EQ(sn_hist_record_corrected(&h, 7, 10), 0);
    CHECK_EQ(sn_hist_record_corrected(&h, 10, 10), 0);
    CHECK_EQ(sn_hist_record_corrected(&h, 1000, 0), 0);
    CHECK_EQ(sn_hist_count(&h), 26);
    /* Out of range: nothing recorded. */
    CHECK_EQ(sn_hist_record_corrected(&h, (1ull << 40) + 1, 1), -ERANGE);
    CHECK_EQ(sn_hist_count(&h), 26);

    /* HdrHistogram's own example (its README): a 100 s stall while sampling every 10 ms,
     * 10,000 samples of 1 ms before it. Uncorrected p99 stays at 1 ms; corrected,
     * the 100 s stall adds 9,999 back-filled values from 99.99 s down to 10 ms and
     * half of all the values are 10 ms or more: p50 is above 10 ms. */
    sn_hist_reset(&h);
    for (int i = 0; i < 10000; i++)
        CHECK_EQ(sn_hist_record_corrected(&h, 1000000, 10000000), 0);
    CHECK_EQ(sn_hist_record_corrected(&h, 100000000000ull, 10000000), 0);
    CHECK_EQ(sn_hist_count(&h), 20000);
    CHECK(sn_hist_value_at(&h, 40) < 1001000);
    CHECK(sn_hist_value_at(&h, 75) >= 49990000000ull * 999 / 1000);
    sn_hist_fini(&h);
}

/* The slot-by-slot back-fill must equal the naive loop of HdrHistogram exactly. */
static void naive_corrected(struct sn_hist *h, uint64_t value, uint64_t interval)
{
    sn_hist_record(h, value);
    if (interval == 0 || value < interval)
        return;
    for (uint64_t m = value - interval; m >= interval; m -= interval)
        sn_hist_record(h, m);
}

SN_TEST(hist_corrected_equals_naive_backfill)
{
    struct sn_hist fast, slow;
    for (int d = 2; d <= 3; d++) {
        CHECK_EQ(sn_hist_init(&fast, 1ull << 50, d), 0);
        CHECK_EQ(sn_hist_init(&slow, 1ull << 50, d), 0);
        for (int i = 0; i < 300; i++) {
            /* Stalls of a few intervals, and (one in ten) of up to two million. */
            uint64_t interval = 1 + (rng() >> (rng() % 20 + 44));
            uint64_t k = rng() % (i % 10 == 0 ? 2000000 : 3000);
            uint64_t value = interval * k + rng() % interval;
            CHECK_EQ(sn_hist_record_corrected(&fast, value, interval), 0);
            naive_corrected(&slow, value, interval);
            CHECK_EQ(sn_hist_count(&fast), sn_hist_count(&slow));
        }
        CHECK_MEM(fast.counts, slow.counts, fast.counts_len * sizeof(uint64_t));
        CHECK_EQ(sn_hist_min(&fast), sn_hist_min(&slow));
        CHECK_EQ(sn_hist_max(&fast), sn_hist_max(&slow));
        sn_hist_fini(&fast);
        sn_hist_fini(&slow);
    }
}

SN_TEST(hist_edge_values)
{
    struct sn_hist h;
    CHECK_EQ(sn_hist_init(&h, 1ull << 63, 3), 0);
    CHECK_EQ(sn_hist_record(&h, 0), 0);
    CHECK_EQ(sn_hist_min(&h), 0);
    CHECK_EQ(sn_hist_max(&h), 0);
    CHECK_EQ(sn_hist_value_at(&h, 99.9), 0);
    CHECK_EQ(sn_hist_record(&h, 1), 0);
    CHECK_EQ(sn_hist_value_at(&h, 100), 1);
    CHECK_EQ(sn_hist_record(&h, 1ull << 62), 0);
    CHECK_EQ(sn_hist_count(&h), 3);
    /* 2^62 sits at the bottom of bucket 52, slots 2^52 wide. */
    CHECK(sn_hist_max(&h) == (1ull << 62) + (1ull << 52) - 1);
    CHECK(sn_hist_value_at(&h, 100) == sn_hist_max(&h));
    CHECK_EQ(sn_hist_value_at(&h, 50), 1);
    CHECK_EQ(sn_hist_value_at(&h, 30), 0);
    CHECK_EQ(sn_hist_record(&h, 1ull << 63), 0);
    CHECK(sn_hist_max(&h) == (1ull << 63) + (1ull << 53) - 1);
    CHECK_EQ(sn_hist_record(&h, (1ull << 63) + 1), -ERANGE);
    CHECK_EQ(sn_hist_record(&h, UINT64_MAX), -ERANGE);
    CHECK_EQ(sn_hist_count(&h), 4);
    CHECK(sn_hist_mean(&h) > 3.4e18 && sn_hist_mean(&h) < 3.5e18); /* (2^62 + 2^63) / 4 */
    char line[256];
    CHECK(sn_hist_format(&h, line, sizeof(line)) > 0);
    CHECK_EQ(sn_hist_record_n(&h, 5, 0), 0); /* n = 0 records nothing */
    CHECK_EQ(sn_hist_count(&h), 4);
    CHECK_EQ(sn_hist_record_n(&h, 5, 1ull << 40), 0);
    CHECK(sn_hist_count(&h) == (1ull << 40) + 4);
    CHECK_EQ(sn_hist_value_at(&h, 50), 5);
    sn_hist_reset(&h);
    CHECK_EQ(sn_hist_count(&h), 0);
    CHECK_EQ(sn_hist_max(&h), 0);
    CHECK_EQ(sn_hist_value_at(&h, 50), 0);
    /* A small highest: one bucket. */
    sn_hist_fini(&h);
    CHECK_EQ(sn_hist_init(&h, 1, 1), 0);
    CHECK_EQ(h.counts_len, 32); /* d = 1: S = 32 */
    CHECK_EQ(sn_hist_record(&h, 1), 0);
    CHECK_EQ(sn_hist_record(&h, 2), -ERANGE);
    sn_hist_fini(&h);
}

/* Allocation hooks of the sanitizer runtime (make test builds with ASan). */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SN_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SN_TEST_ASAN 1
#endif

#ifdef SN_TEST_ASAN
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
static volatile int n_allocs;
static void on_malloc(const volatile void *p, size_t n)
{
    (void)p;
    (void)n;
    n_allocs++;
}
static void on_free(const volatile void *p)
{
    (void)p;
}
#endif

SN_TEST(hist_record_does_not_allocate)
{
#ifdef SN_TEST_ASAN
    struct sn_hist h;
    CHECK_EQ(sn_hist_init(&h, 1ull << 63, 3), 0);
    static int installed;
    if (!installed)
        installed = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
    if (!installed)
        sn_hist_fini(&h);
    CHECK(installed);
    int before = n_allocs;
    void *volatile probe = malloc(16); /* the hook sees allocations */
    free(probe);
    int seen = n_allocs - before;
    before = n_allocs;
    for (int i = 0; i < 100000; i++) {
        sn_hist_record(&h, rng() >> (rng() % 63 + 1));
        sn_hist_record_n(&h, rng() >> 40, 3);
        sn_hist_record_corrected(&h, rng() >> 30, 1 + (rng() >> 40));
    }
    uint64_t p = sn_hist_value_at(&h, 99.9);
    double m = sn_hist_mean(&h) + sn_hist_stddev(&h);
    int during = n_allocs - before;
    sn_hist_fini(&h);
    CHECK_EQ(seen, 1);
    CHECK_EQ(during, 0);
    CHECK(p > 0 && m > 0);
#else
    SKIP("needs the ASan runtime's allocation hooks (make test builds with ASan)");
#endif
}
