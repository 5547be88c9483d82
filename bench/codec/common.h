/* bench/codec/common.h — what every bench/codec program shares (C and C++):
 *   - the message values (one Order with 3 fills), so all implementations encode the same;
 *   - a malloc counter: malloc/calloc/realloc/free defined in the program itself, so
 *     they interpose on glibc's for the program and for every shared library it loads
 *     (libprotobuf-c, libcapnp/libkj, libstdc++'s operator new); each counts a call and
 *     forwards to glibc's __libc_* entry points. Include this header in ONE file only.
 *   - the timer: snb_time(op, iters) runs the op iters times between two
 *     CLOCK_MONOTONIC reads and returns ns per op; each op feeds snb_sink (volatile)
 *     and is followed by a compiler barrier, so nothing is dropped or hoisted.
 *   - the output: one line per implementation and run, which bench/codec/run.sh reads:
 *       row NAME encode_ns decode_ns read_ns wire_bytes allocs_encode allocs_decode allocs_read
 *     (ns per op; allocations per op; "-" where an operation does not apply).
 * Definitions of the three operations (the same for every format):
 *   encode: from the program's in-memory values to wire bytes in a caller buffer
 *           (protobuf: size + encode; Cap'n Proto / FlatBuffers: build the message);
 *   decode: from wire bytes to every field read once (protobuf: parse into the struct,
 *           then read; zero-copy formats: open/verify, then every accessor);
 *   read:   from wire bytes to one field, price (protobuf must parse the whole message;
 *           zero-copy formats open the buffer and call one accessor). */
#ifndef SNB_CODEC_COMMON_H
#define SNB_CODEC_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __cplusplus
#define SNB_NOEXCEPT noexcept
#define SNB_EXTERN_C extern "C"
#else
#define SNB_NOEXCEPT
#define SNB_EXTERN_C
#endif

/* ---- the values ----------------------------------------------------------------- */
#define SNB_ID 9123456789012345ULL
#define SNB_SYMBOL "AAPL"
#define SNB_SIDE 2 /* SELL */
#define SNB_PRICE 1893450LL /* 189.3450 in 1e-4 units */
#define SNB_QTY 300u
#define SNB_TIMESTAMP 1717171717123456789ULL
#define SNB_ACCOUNT "ACCT-7731-PRIME"
#define SNB_FLAGS 0x15u
#define SNB_VENUE 7u
#define SNB_NFILLS 3
static const int64_t snb_fill_price[SNB_NFILLS] = {1893400, 1893425, 1893450};
static const uint32_t snb_fill_qty[SNB_NFILLS] = {100, 150, 50};
static const uint64_t snb_fill_ts[SNB_NFILLS] = {1717171717123460000ULL, 1717171717123471000ULL,
                                                 1717171717123499000ULL};

/* The checksum of the values as the decode op reads them: every program's decode must
 * reproduce it (strings count by length and first/last byte). */
static inline uint64_t snb_mix(uint64_t h, uint64_t v)
{
    return (h ^ v) * 0x100000001b3ULL;
}
static inline uint64_t snb_str_sum(uint64_t h, const char *p, size_t n)
{
    h = snb_mix(h, n);
    if (n)
        h = snb_mix(snb_mix(h, (uint8_t)p[0]), (uint8_t)p[n - 1]);
    return h;
}
static inline uint64_t snb_expected_sum(void)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = snb_mix(h, SNB_ID);
    h = snb_str_sum(h, SNB_SYMBOL, strlen(SNB_SYMBOL));
    h = snb_mix(h, SNB_SIDE);
    h = snb_mix(h, (uint64_t)SNB_PRICE);
    h = snb_mix(h, SNB_QTY);
    h = snb_mix(h, SNB_TIMESTAMP);
    h = snb_str_sum(h, SNB_ACCOUNT, strlen(SNB_ACCOUNT));
    h = snb_mix(h, SNB_FLAGS);
    h = snb_mix(h, SNB_VENUE);
    h = snb_mix(h, SNB_NFILLS);
    for (int i = 0; i < SNB_NFILLS; i++) {
        h = snb_mix(h, (uint64_t)snb_fill_price[i]);
        h = snb_mix(h, snb_fill_qty[i]);
        h = snb_mix(h, snb_fill_ts[i]);
    }
    return h;
}

/* ---- the malloc counter ------------------------------------------------------- */
static volatile uint64_t snb_allocs;
SNB_EXTERN_C void *__libc_malloc(size_t n);
SNB_EXTERN_C void *__libc_calloc(size_t k, size_t n);
SNB_EXTERN_C void *__libc_realloc(void *p, size_t n);
SNB_EXTERN_C void __libc_free(void *p);
SNB_EXTERN_C void *malloc(size_t n) SNB_NOEXCEPT
{
    snb_allocs = snb_allocs + 1;
    return __libc_malloc(n);
}
SNB_EXTERN_C void *calloc(size_t k, size_t n) SNB_NOEXCEPT
{
    snb_allocs = snb_allocs + 1;
    return __libc_calloc(k, n);
}
SNB_EXTERN_C void *realloc(void *p, size_t n) SNB_NOEXCEPT
{
    snb_allocs = snb_allocs + 1;
    return __libc_realloc(p, n);
}
SNB_EXTERN_C void free(void *p) SNB_NOEXCEPT
{
    __libc_free(p);
}

/* ---- timing ------------------------------------------------------------------- */
static volatile uint64_t snb_sink;
#define SNB_BARRIER() __asm__ __volatile__("" ::: "memory")

static inline uint64_t snb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* One op: returns a value that goes to the sink (a checksum, a length, a field). */
typedef uint64_t (*snb_op)(void *ctx);

struct snb_result {
    double ns;       /* per op */
    double allocs;   /* per op */
};

static inline struct snb_result snb_time(snb_op op, void *ctx, long iters)
{
    struct snb_result r;
    for (long i = 0; i < iters / 10 + 1; i++) { /* warm up */
        snb_sink = op(ctx);
        SNB_BARRIER();
    }
    uint64_t a0 = snb_allocs;
    uint64_t t0 = snb_now_ns();
    for (long i = 0; i < iters; i++) {
        snb_sink = op(ctx);
        SNB_BARRIER();
    }
    uint64_t t1 = snb_now_ns();
    r.ns = (double)(t1 - t0) / (double)iters;
    r.allocs = (double)(snb_allocs - a0) / (double)iters;
    return r;
}

/* The iteration count: argv[2] if given, else 1000000. */
static inline long snb_iters(int argc, char **argv)
{
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 1000000;
    return n > 0 ? n : 1000000;
}

static inline void snb_row(const char *name, struct snb_result e, struct snb_result d,
                           struct snb_result r, size_t wire)
{
    printf("row %s %.2f %.2f %.2f %zu %.2f %.2f %.2f\n", name, e.ns, d.ns, r.ns, wire, e.allocs,
           d.allocs, r.allocs);
}

/* Writes n bytes to path (the `dump` subcommand, for the cross-checks). */
static inline int snb_write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(p, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}
static inline long snb_read_file(const char *path, void *p, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t n = fread(p, 1, cap, f);
    fclose(f);
    return (long)n;
}

#endif
