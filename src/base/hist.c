/* hist.c — the log-linear latency histogram (HdrHistogram's layout, lowest
 * discernible value 1): slot arithmetic, recording (plain, n times, corrected for
 * coordinated omission), merge, percentiles, mean/stddev and the one-line format. */
#include <sysnet/hist.h>
#include <sysnet/base.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sub-buckets per bucket: S = 2^ceil(log2(2 * 10^digits)), so that S/2 >= 10^digits
 * (HdrHistogram: largestValueWithSingleUnitResolution = 2 * 10^digits). */
static unsigned sub_count_mag(int digits)
{
    uint64_t single = 2;
    for (int i = 0; i < digits; i++)
        single *= 10;
    unsigned mag = 0;
    while ((1ull << mag) < single)
        mag++;
    return mag;
}

/* The bucket of v: 0 below S, else b such that v in [S/2 << b, S << b). */
static inline unsigned bucket_of(unsigned half_mag, uint64_t v)
{
    uint64_t mask = (2ull << half_mag) - 1;
    return (unsigned)(64 - __builtin_clzll(v | mask)) - (half_mag + 1);
}

static inline size_t index_of(const struct sn_hist *h, uint64_t v)
{
    unsigned b = bucket_of(h->half_mag, v);
    uint64_t sub = v >> b; /* in [S/2, S) for b >= 1, [0, S) for b = 0 */
    return ((size_t)(b + 1) << h->half_mag) + (size_t)(sub - h->sub_half);
}

/* The lowest value of slot i, and its width (a power of two). */
static inline uint64_t index_value(const struct sn_hist *h, size_t i, unsigned *bucket)
{
    long b = (long)(i >> h->half_mag) - 1;
    uint64_t sub = (i & (h->sub_half - 1)) + h->sub_half;
    if (b < 0) {
        sub -= h->sub_half;
        b = 0;
    }
    *bucket = (unsigned)b;
    return sub << b;
}

static int check_args(uint64_t highest, int digits)
{
    return digits >= SN_HIST_MIN_DIGITS && digits <= SN_HIST_MAX_DIGITS && highest >= 1 &&
           highest <= SN_HIST_MAX_VALUE;
}

size_t sn_hist_slots(uint64_t highest, int digits)
{
    if (!check_args(highest, digits))
        return 0;
    unsigned half_mag = sub_count_mag(digits) - 1;
    size_t buckets = bucket_of(half_mag, highest) + 1;
    return (buckets + 1) << half_mag;
}

static void setup(struct sn_hist *h, uint64_t highest, int digits, uint64_t *counts, size_t n, int owns)
{
    unsigned half_mag = sub_count_mag(digits) - 1;
    h->counts = counts;
    h->counts_len = (uint32_t)n;
    h->bucket_count = bucket_of(half_mag, highest) + 1;
    h->sub_half = 1u << half_mag;
    h->half_mag = (uint8_t)half_mag;
    h->digits = (uint8_t)digits;
    h->owns = (uint8_t)owns;
    h->highest = highest;
    if (!owns) /* calloc'ed memory is zero already */
        memset(counts, 0, n * sizeof(*counts));
    h->total = 0;
    sn_hist_reset(h);
}

int sn_hist_init(struct sn_hist *h, uint64_t highest, int digits)
{
    size_t n = sn_hist_slots(highest, digits);
    if (n == 0)
        return -EINVAL;
    uint64_t *c = calloc(n, sizeof(*c));
    if (!c)
        return -ENOMEM;
    setup(h, highest, digits, c, n, 1);
    return 0;
}

int sn_hist_init_mem(struct sn_hist *h, uint64_t highest, int digits, uint64_t *counts, size_t n)
{
    size_t need = sn_hist_slots(highest, digits);
    if (need == 0 || !counts || n < need)
        return -EINVAL;
    setup(h, highest, digits, counts, need, 0);
    return 0;
}

void sn_hist_fini(struct sn_hist *h)
{
    if (h->owns)
        free(h->counts);
    memset(h, 0, sizeof(*h));
}

void sn_hist_reset(struct sn_hist *h)
{
    /* Only slots between min and max can be non-zero: clear just those. */
    if (h->counts && h->total) {
        size_t a = index_of(h, h->min_value), z = index_of(h, h->max_value);
        memset(h->counts + a, 0, (z - a + 1) * sizeof(*h->counts));
    }
    h->total = 0;
    h->min_value = UINT64_MAX;
    h->max_value = 0;
}

int sn_hist_record_n(struct sn_hist *h, uint64_t value, uint64_t n)
{
    if (SN_UNLIKELY(value > h->highest))
        return -ERANGE;
    if (n == 0)
        return 0;
    h->counts[index_of(h, value)] += n;
    h->total += n;
    if (value < h->min_value)
        h->min_value = value;
    if (value > h->max_value)
        h->max_value = value;
    return 0;
}

int sn_hist_record(struct sn_hist *h, uint64_t value)
{
    return sn_hist_record_n(h, value, 1);
}

/* How many x <= b with x = r (mod m). */
static inline uint64_t congruent_upto(uint64_t b, uint64_t r, uint64_t m)
{
    return b < r ? 0 : (b - r) / m + 1;
}

int sn_hist_record_corrected(struct sn_hist *h, uint64_t value, uint64_t interval)
{
    int rc = sn_hist_record_n(h, value, 1);
    if (rc < 0 || interval == 0 || value / interval < 2)
        return rc;
    /* The back-filled values are value - k*interval for k = 1..K, the last one still
     * >= interval: K = value/interval - 1. They are all congruent to value mod
     * interval, so the number of them that falls into one slot is a difference of
     * two counts. Loop over whichever is shorter: the values or the slots. */
    uint64_t k_max = value / interval - 1;
    uint64_t lo = value - k_max * interval, hi = value - interval;
    size_t i_lo = index_of(h, lo), i_hi = index_of(h, hi);
    if (k_max <= i_hi - i_lo + 1) {
        for (uint64_t v = hi;; v -= interval) {
            h->counts[index_of(h, v)]++;
            if (v == lo)
                break;
        }
    } else {
        uint64_t r = value % interval;
        for (size_t i = i_lo; i <= i_hi; i++) {
            unsigned b;
            uint64_t a = index_value(h, i, &b), z = a + ((1ull << b) - 1);
            if (a < lo)
                a = lo;
            if (z > hi)
                z = hi;
            h->counts[i] += congruent_upto(z, r, interval) - congruent_upto(a - 1, r, interval);
        }
    }
    h->total += k_max;
    if (lo < h->min_value)
        h->min_value = lo;
    return 0;
}

int sn_hist_merge(struct sn_hist *dst, const struct sn_hist *src)
{
    if (dst->highest != src->highest || dst->digits != src->digits || dst->counts_len != src->counts_len)
        return -EINVAL;
    if (src->total == 0)
        return 0;
    for (size_t i = 0; i < src->counts_len; i++)
        dst->counts[i] += src->counts[i];
    dst->total += src->total;
    if (src->min_value < dst->min_value)
        dst->min_value = src->min_value;
    if (src->max_value > dst->max_value)
        dst->max_value = src->max_value;
    return 0;
}

uint64_t sn_hist_count(const struct sn_hist *h)
{
    return h->total;
}

uint64_t sn_hist_lowest_equiv(const struct sn_hist *h, uint64_t value)
{
    unsigned b = bucket_of(h->half_mag, value);
    return (value >> b) << b;
}

uint64_t sn_hist_highest_equiv(const struct sn_hist *h, uint64_t value)
{
    unsigned b = bucket_of(h->half_mag, value);
    return ((value >> b) << b) + ((1ull << b) - 1);
}

uint64_t sn_hist_min(const struct sn_hist *h)
{
    return h->total ? sn_hist_lowest_equiv(h, h->min_value) : 0;
}

uint64_t sn_hist_max(const struct sn_hist *h)
{
    return h->total ? sn_hist_highest_equiv(h, h->max_value) : 0;
}

/* The slot middle: lowest + width/2 (HdrHistogram's medianEquivalentValue). */
static double slot_middle(const struct sn_hist *h, size_t i)
{
    unsigned b;
    uint64_t a = index_value(h, i, &b);
    return (double)(a + ((1ull << b) >> 1));
}

double sn_hist_mean(const struct sn_hist *h)
{
    if (h->total == 0)
        return 0;
    double sum = 0;
    size_t end = index_of(h, h->max_value);
    for (size_t i = index_of(h, h->min_value); i <= end; i++)
        if (h->counts[i])
            sum += slot_middle(h, i) * (double)h->counts[i];
    return sum / (double)h->total;
}

/* Newton's method; the library links no libm. x >= 0. */
static double sqrt_newton(double x)
{
    if (!(x > 0))
        return 0;
    double g = x > 1 ? x / 2 : 1;
    for (int i = 0; i < 200; i++) {
        double n = (g + x / g) / 2;
        if (n >= g)
            break;
        g = n;
    }
    return g;
}

double sn_hist_stddev(const struct sn_hist *h)
{
    if (h->total == 0)
        return 0;
    double mean = sn_hist_mean(h), sq = 0;
    size_t end = index_of(h, h->max_value);
    for (size_t i = index_of(h, h->min_value); i <= end; i++) {
        if (h->counts[i]) {
            double d = slot_middle(h, i) - mean;
            sq += d * d * (double)h->counts[i];
        }
    }
    return sqrt_newton(sq / (double)h->total);
}

uint64_t sn_hist_value_at(const struct sn_hist *h, double p)
{
    if (h->total == 0)
        return 0;
    if (!(p > 0)) /* also NaN */
        return sn_hist_min(h);
    if (p > 100)
        p = 100;
    /* HdrHistogram: countAtPercentile = (long)(p / 100 * total + 0.5), at least 1. */
    double want = p / 100 * (double)h->total + 0.5;
    uint64_t target = want >= (double)h->total ? h->total : (uint64_t)want;
    if (target < 1)
        target = 1;
    uint64_t seen = 0;
    size_t end = index_of(h, h->max_value);
    for (size_t i = index_of(h, h->min_value); i <= end; i++) {
        seen += h->counts[i];
        if (seen >= target) {
            unsigned b;
            uint64_t a = index_value(h, i, &b);
            return a + ((1ull << b) - 1);
        }
    }
    return sn_hist_max(h); /* not reached: the counts add up to total */
}

void sn_hist_values_at(const struct sn_hist *h, const double *ps, uint64_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = sn_hist_value_at(h, ps[i]);
}

int sn_hist_format_ns(uint64_t ns, char *buf, size_t cap)
{
    static const struct {
        double div;
        const char *unit;
    } u[] = {{1e3, "us"}, {1e6, "ms"}, {1e9, "s"}};
    if (ns < 1000)
        return snprintf(buf, cap, "%lluns", (unsigned long long)ns);
    for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
        double v = (double)ns / u[i].div;
        /* Three significant digits; 999.96us rounds to 1000: say 1.00ms instead. */
        if (v >= 999.5 && i + 1 < sizeof(u) / sizeof(u[0]))
            continue;
        int prec = v < 9.995 ? 2 : v < 99.95 ? 1 : 0;
        return snprintf(buf, cap, "%.*f%s", prec, v, u[i].unit);
    }
    return snprintf(buf, cap, "?"); /* not reached */
}

int sn_hist_format(const struct sn_hist *h, char *buf, size_t cap)
{
    static const double ps[] = {50, 90, 99, 99.9};
    static const char *const names[] = {"p50", "p90", "p99", "p99.9"};
    char v[9][32];
    uint64_t at[4];
    sn_hist_values_at(h, ps, at, 4);
    sn_hist_format_ns(sn_hist_min(h), v[0], sizeof(v[0]));
    for (int i = 0; i < 4; i++)
        sn_hist_format_ns(at[i], v[1 + i], sizeof(v[0]));
    sn_hist_format_ns(sn_hist_max(h), v[5], sizeof(v[0]));
    double mean = sn_hist_mean(h), sd = sn_hist_stddev(h);
    sn_hist_format_ns((uint64_t)(mean + 0.5), v[6], sizeof(v[0]));
    sn_hist_format_ns((uint64_t)(sd + 0.5), v[7], sizeof(v[0]));
    return snprintf(buf, cap, "n=%llu min=%s %s=%s %s=%s %s=%s %s=%s max=%s mean=%s sd=%s",
                    (unsigned long long)h->total, v[0], names[0], v[1], names[1], v[2], names[2], v[3],
                    names[3], v[4], v[5], v[6], v[7]);
}
