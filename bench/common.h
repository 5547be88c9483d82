/* bench/common.h — small helpers the C benchmarks share (static inline, so a
 * program that leaves one unused gets no warning):
 *   micro_runs()  BENCH_MICRO_RUNS (default 7, clamped to 5..101): timed runs per figure;
 *   median(v, n)  the median of v[0..n) (sorts v); for an even n, the mean of the two
 *                 middle values;
 *   summary(fmt)  one key=value line appended to the file BENCH_SUMMARY names, if set
 *                 (the machine-readable summary that bench/run.sh prints last). */
#ifndef SNB_BENCH_COMMON_H
#define SNB_BENCH_COMMON_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static inline int micro_runs(void)
{
    const char *s = getenv("BENCH_MICRO_RUNS");
    int n = s && *s ? atoi(s) : 7;
    return n < 5 ? 5 : n > 101 ? 101 : n;
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v). For an even n, the mean of the two middle values. */
static inline double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One key=value line for the summary block, if BENCH_SUMMARY is set. */
static inline void summary(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void summary(const char *fmt, ...)
{
    const char *path = getenv("BENCH_SUMMARY");
    if (!path || !*path)
        return;
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

#endif
