/* rtt.c — round-trip statistics exactly as iputils ping keeps them: integer
 * microseconds, sums of samples and of their squares, and the mean deviation
 * mdev = sqrt(mean(x^2) - mean(x)^2) with iputils' integer square root and its
 * order of operations (ping_common.c finish()), so our summary line matches its.
 */
#include <sysnet/raw.h>

#include <limits.h>

void sn_raw_rtt_init(struct sn_raw_rtt *s)
{
    memset(s, 0, sizeof(*s));
}

void sn_raw_rtt_add(struct sn_raw_rtt *s, int64_t rtt_us)
{
    if (rtt_us < 0)
        rtt_us = 0; /* iputils: "time of day goes back", taken as 0 */
    if (rtt_us > INT32_MAX)
        rtt_us = INT32_MAX; /* 35 minutes: keeps the sum of squares far from overflow */
    if (s->n == 0 || rtt_us < s->min_us)
        s->min_us = rtt_us;
    if (s->n == 0 || rtt_us > s->max_us)
        s->max_us = rtt_us;
    s->n++;
    s->sum_us += rtt_us;
    s->sum2_us += rtt_us * rtt_us;
}

int64_t sn_raw_rtt_avg(const struct sn_raw_rtt *s)
{
    return s->n ? s->sum_us / (int64_t)s->n : 0;
}

/* Newton's method on integers, as iputils' llsqrt(). */
static int64_t isqrt(int64_t a)
{
    int64_t prev = INT64_MAX, x = a;
    if (x > 0) {
        while (x < prev) {
            prev = x;
            x = (x + a / x) / 2;
        }
    }
    return x;
}

int64_t sn_raw_rtt_mdev(const struct sn_raw_rtt *s)
{
    if (!s->n)
        return 0;
    int64_t total = (int64_t)s->n, var;
    /* iputils: this order avoids integer rounding errors for small times. */
    if (s->sum_us < INT_MAX)
        var = (s->sum2_us - (s->sum_us * s->sum_us) / total) / total;
    else
        var = s->sum2_us / total - sn_raw_rtt_avg(s) * sn_raw_rtt_avg(s);
    return isqrt(var);
}
