/* rate.c — a token bucket with a nanosecond clock: integer credit in units of
 * 10^-9 token, so the long-run rate is exact (no floating point drift) and a
 * burst is bounded by the bucket's capacity. */
#include <sysnet/scan.h>

#include <errno.h>

#define UNIT 1000000000ULL /* credit units per token */

int sn_scan_rate_init(struct sn_scan_rate *r, uint64_t pps, uint64_t burst, uint64_t now_ns)
{
    if (pps == 0 || pps > SN_SCAN_RATE_MAX || burst > SN_SCAN_BURST_MAX)
        return -EINVAL;
    if (burst == 0)
        burst = SN_MIN(SN_MAX(pps / 100, 1), 64);
    r->pps = pps;
    r->cap = burst * UNIT;
    r->credit = UNIT;
    r->last_ns = now_ns;
    return 0;
}

static void refill(struct sn_scan_rate *r, uint64_t now_ns)
{
    if (now_ns <= r->last_ns)
        return;
    uint64_t dt = now_ns - r->last_ns;
    r->last_ns = now_ns;
    /* Past the time to fill the bucket from empty the multiply could overflow. */
    if (dt >= r->cap / r->pps + 1) {
        r->credit = r->cap;
        return;
    }
    r->credit = SN_MIN(r->credit + dt * r->pps, r->cap);
}

uint64_t sn_scan_rate_take(struct sn_scan_rate *r, uint64_t now_ns, uint64_t want)
{
    refill(r, now_ns);
    uint64_t n = SN_MIN(want, r->credit / UNIT);
    r->credit -= n * UNIT;
    return n;
}

uint64_t sn_scan_rate_delay(const struct sn_scan_rate *r, uint64_t now_ns)
{
    struct sn_scan_rate c = *r;
    refill(&c, now_ns);
    if (c.credit >= UNIT)
        return 0;
    return (UNIT - c.credit + c.pps - 1) / c.pps;
}
