/* sysnet/hist.h — layer 0: a latency histogram with HdrHistogram's idea (Gil Tene's
 * log-linear buckets): values 0 .. highest (at most 2^63) with a relative precision
 * chosen at init, in memory allocated once, and recording in O(1) without allocation.
 * `sysnet load` keeps one per thread and merges them; the unit is the caller's
 * (nanoseconds everywhere in sysnet).
 *
 *   struct sn_hist h;
 *   sn_hist_init(&h, 60000000000ull, 3);       // up to 60 s in ns, 3 significant digits
 *   sn_hist_record(&h, t1 - t0);               // O(1), no allocation
 *   sn_hist_value_at(&h, 99.9);                // p99.9
 *   char line[256]; sn_hist_format(&h, line, sizeof(line));
 *   sn_hist_fini(&h);
 *
 * Layout (exactly HdrHistogram's, lowest discernible value 1): with d significant
 * digits, S = 2^ceil(log2(2 * 10^d)) sub-buckets (d = 3: S = 2048). Values below S
 * are counted exactly; above, bucket b >= 1 covers [S/2 * 2^b, S * 2^b) in S/2 slots
 * of width 2^b. So a slot's width is at most value / (S/2) <= value / 10^d: every
 * value comes back within a relative error of 10^-d (d = 2: 1%, d = 3: 0.1%). Finding
 * the slot is a count-leading-zeros, a shift and an add. Memory: 8 bytes per slot,
 * (buckets + 1) * S/2 slots — for highest 2^63: 58 KiB at d = 2, 440 KiB at d = 3;
 * for highest 60 s in ns: 30 KiB at d = 2, 216 KiB at d = 3 (sn_hist_slots).
 *
 * Reported values follow HdrHistogram: sn_hist_value_at(p) is the highest value
 * equivalent to (in the same slot as) the smallest recorded value at or below
 * which p percent of the recorded values fall; max is the highest equivalent value
 * of the largest value recorded (= value_at(100)); min the lowest equivalent value of
 * the smallest; mean and stddev use each slot's middle value.
 *
 * Allocation: sn_hist_init allocates the counts (calloc), once; sn_hist_init_mem uses
 * caller memory instead. Nothing else allocates. Thread rules: none — one histogram
 * per thread, merged (sn_hist_merge) by whoever owns both.
 * Errors: >= 0 or -errno (base.h).
 */
#ifndef SYSNET_HIST_H
#define SYSNET_HIST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SN_HIST_MAX_VALUE (1ull << 63) /* the largest `highest` accepted */
#define SN_HIST_MIN_DIGITS 1
#define SN_HIST_MAX_DIGITS 5

struct sn_hist {
    uint64_t *counts;       /* counts_len slots (private from here on) */
    uint32_t counts_len;    /* number of slots */
    uint32_t bucket_count;  /* log buckets, bucket 0 included */
    uint32_t sub_half;      /* S/2: slots per bucket above bucket 0 */
    uint8_t half_mag;       /* log2(S/2) */
    uint8_t digits;         /* significant digits asked for at init */
    uint8_t owns;           /* counts came from calloc */
    uint64_t highest;       /* the largest value accepted */
    uint64_t total;         /* values recorded */
    uint64_t min_value;     /* smallest recorded, UINT64_MAX when empty */
    uint64_t max_value;     /* largest recorded, 0 when empty */
};

/* Slots needed for (highest, digits), 0 if the arguments are out of range
 * (digits 1..5, highest 1..2^63). */
size_t sn_hist_slots(uint64_t highest, int digits);
/* Set up h for values 0..highest with `digits` significant decimal digits (1..5),
 * allocating its counts: -EINVAL for bad arguments, -ENOMEM. */
int sn_hist_init(struct sn_hist *h, uint64_t highest, int digits);
/* The same over caller memory: counts must hold sn_hist_slots(highest, digits)
 * uint64_t (it is zeroed), else -EINVAL. sn_hist_fini then frees nothing. */
int sn_hist_init_mem(struct sn_hist *h, uint64_t highest, int digits, uint64_t *counts, size_t n);
/* Free what sn_hist_init allocated; h can be init'ed again. Safe on a zeroed h. */
void sn_hist_fini(struct sn_hist *h);
/* Forget every value (keeps the settings and the memory). */
void sn_hist_reset(struct sn_hist *h);

/* Record value (n times). O(1), no allocation. -ERANGE (nothing recorded) for a
 * value above h->highest. */
int sn_hist_record(struct sn_hist *h, uint64_t value);
int sn_hist_record_n(struct sn_hist *h, uint64_t value, uint64_t n);
/* Record value, corrected for coordinated omission as HdrHistogram's
 * recordValueWithExpectedInterval does: when a measurement that should have started
 * every `interval` took `value`, the requests that a stalled load generator failed
 * to send would have seen value - interval, value - 2*interval, ... down to the last
 * one still >= interval; those are recorded too. interval 0 records value alone.
 * Cost O(min(value / interval, slots)): long stalls are added slot by slot, not one
 * back-filled value at a time. -ERANGE for a value above highest. */
int sn_hist_record_corrected(struct sn_hist *h, uint64_t value, uint64_t interval);
/* Add every count of src to dst; -EINVAL unless both have the same highest and
 * digits. */
int sn_hist_merge(struct sn_hist *dst, const struct sn_hist *src);

/* Number of values recorded. */
uint64_t sn_hist_count(const struct sn_hist *h);
/* Lowest equivalent value of the smallest recorded value; 0 when empty. */
uint64_t sn_hist_min(const struct sn_hist *h);
/* Highest equivalent value of the largest recorded value; 0 when empty. */
uint64_t sn_hist_max(const struct sn_hist *h);
/* Mean and standard deviation (population) over slot middles; 0 when empty. */
double sn_hist_mean(const struct sn_hist *h);
double sn_hist_stddev(const struct sn_hist *h);
/* The value at percentile p (0..100, clamped): see above. p = 0 gives min; 0 when
 * empty. */
uint64_t sn_hist_value_at(const struct sn_hist *h, double p);
/* Several percentiles: out[i] = sn_hist_value_at(h, ps[i]). */
void sn_hist_values_at(const struct sn_hist *h, const double *ps, uint64_t *out, size_t n);

/* The slot arithmetic, for tests and for readers: the range of values that share
 * value's slot, [lowest, highest] equivalent. value must be <= h->highest. */
uint64_t sn_hist_lowest_equiv(const struct sn_hist *h, uint64_t value);
uint64_t sn_hist_highest_equiv(const struct sn_hist *h, uint64_t value);

/* One line, as `sysnet load` prints it (values in ns, printed with a unit):
 *   "n=120000 min=10.1us p50=20.3us p90=25.1us p99=40.9us p99.9=120us max=1.05ms mean=21.0us sd=4.51us"
 * snprintf's contract: returns the length it needed, writes at most cap bytes
 * including the NUL. */
int sn_hist_format(const struct sn_hist *h, char *buf, size_t cap);
/* A duration in ns with 3 significant digits and a unit: "850ns", "12.3us", "1.05ms",
 * "2.00s". snprintf's contract. */
int sn_hist_format_ns(uint64_t ns, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_HIST_H */
