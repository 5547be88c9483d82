/* bench_frame.c — the streaming frame decoder (include/sysnet/frame.h) over a
 * large stream cut at random points, beside a plain memcpy of the same bytes
 * through the same cuts (bench/README.md, "frame", explains every number).
 *
 *   bench_frame [MIB]     stream size in MiB (default $BENCH_FRAME_MIB or 256)
 *
 * For each framing (2-byte big-endian length, LEB128 varint length, COBS with a 0
 * delimiter, fixed-size records) and each payload size class (ITCH-like: 20..50
 * bytes, 36 for fixed records; 1 KiB), a stream of MIB MiB is built once and cut
 * into reads of 1..64 KiB (uniform, the same cuts for both methods, as a socket
 * would deliver them). Timed, in turns within each of BENCH_MICRO_RUNS runs (default
 * 7, at least 5): the framer fed read by read, each frame's first byte summed (so
 * no frame can be skipped), and memcpy of each read into a 64 KiB receive buffer
 * (what recv() costs at least, the physical limit of touching the bytes). Medians.
 * Prints a table, then "frame.*" key=value lines for bench/run.sh's summary. */
#include "../common.h"

#include <sysnet/frame.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RUNS 64
#define RX_CAP (64u * 1024u)

static volatile uint64_t sink;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    /* xorshift64*: fast, deterministic, good enough for sizes and cut points */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

struct stream {
    uint8_t *p;
    size_t len;
    uint64_t frames;
    uint32_t *cuts; /* read lengths */
    size_t ncuts;
};

/* Fill s with frames of options o until about `bytes`; payload sizes from lo..hi. */
static int build(struct stream *s, const struct sn_frame_opts *o, size_t bytes, size_t lo, size_t hi)
{
    s->p = malloc(bytes + 4096);
    if (!s->p)
        return -1;
    s->len = 0;
    s->frames = 0;
    uint8_t payload[2048];
    for (;;) {
        size_t n = lo + (hi > lo ? (size_t)(rnd() % (hi - lo + 1)) : 0);
        for (size_t i = 0; i < n; i++)
            payload[i] = (uint8_t)rnd();
        if (s->len + n + 64 > bytes)
            break;
        ssize_t w = sn_frame_encode(o, payload, n, s->p + s->len, bytes + 4096 - s->len);
        if (w < 0) {
            fprintf(stderr, "bench_frame: encode: %s\n", sn_strerror((int)w));
            return -1;
        }
        s->len += (size_t)w;
        s->frames++;
    }
    /* the cuts: 1..64 KiB each */
    s->ncuts = 0;
    s->cuts = malloc((s->len / 1024 + 2) * sizeof(*s->cuts));
    if (!s->cuts)
        return -1;
    for (size_t off = 0; off < s->len;) {
        size_t c = 1024 + (size_t)(rnd() % (RX_CAP - 1024 + 1));
        if (c > s->len - off)
            c = s->len - off;
        s->cuts[s->ncuts++] = (uint32_t)c;
        off += c;
    }
    return 0;
}

static double now_s(void)
{
    return (double)sn_now_ns() / 1e9;
}

/* The framer over the whole stream: seconds, or < 0 on an error or a wrong count. */
static double run_framer(const struct stream *s, const struct sn_frame_opts *o, uint8_t *fbuf, size_t fcap)
{
    struct sn_framer f;
    if (sn_framer_init(&f, o, fbuf, fcap) < 0)
        return -1;
    uint64_t sum = 0, n = 0;
    const uint8_t *p = s->p;
    double t0 = now_s();
    for (size_t i = 0; i < s->ncuts; i++) {
        sn_framer_push(&f, p, s->cuts[i]);
        p += s->cuts[i];
        const uint8_t *fp;
        size_t fl;
        int rc;
        while ((rc = sn_framer_next(&f, &fp, &fl)) == 1) {
            sum += fp[0];
            n++;
        }
        if (rc < 0) {
            fprintf(stderr, "bench_frame: decode: %s\n", sn_strerror(rc));
            return -1;
        }
    }
    double t = now_s() - t0;
    sink += sum;
    if (n != s->frames) {
        fprintf(stderr, "bench_frame: decoded %" PRIu64 " frames, built %" PRIu64 "\n", n, s->frames);
        return -1;
    }
    return t;
}

static double run_memcpy(const struct stream *s, uint8_t *rx)
{
    uint64_t sum = 0;
    const uint8_t *p = s->p;
    double t0 = now_s();
    for (size_t i = 0; i < s->ncuts; i++) {
        memcpy(rx, p, s->cuts[i]);
        __asm__ __volatile__("" : : "r"(rx) : "memory"); /* the copy must happen */
        sum += rx[0];
        p += s->cuts[i];
    }
    double t = now_s() - t0;
    sink += sum;
    return t;
}

struct cfg {
    const char *name;  /* framing */
    const char *size;  /* size class */
    struct sn_frame_opts o;
    size_t lo, hi;     /* payload sizes */
};

int main(int argc, char **argv)
{
    const char *env = getenv("BENCH_FRAME_MIB");
    long mib = argc > 1 ? atol(argv[1]) : env ? atol(env) : 256;
    env = getenv("BENCH_MICRO_RUNS");
    int runs = env ? atoi(env) : 7;
    if (mib < 1 || mib > 4096) {
        fprintf(stderr, "usage: bench_frame [MIB]   (1..4096; default 256)\n");
        return 2;
    }
    if (runs < 5)
        runs = 5;
    if (runs > MAX_RUNS)
        runs = MAX_RUNS;
    size_t bytes = (size_t)mib << 20;

    struct sn_frame_opts len2 = {.kind = SN_FRAME_LEN, .len_bytes = 2, .big_endian = 1, .max_frame = 65535};
    struct sn_frame_opts var = {.kind = SN_FRAME_VARINT, .max_frame = 65535};
    struct sn_frame_opts cobs = {.kind = SN_FRAME_DELIM, .delim = 0, .cobs = 1, .max_frame = 65535};
    struct sn_frame_opts fix36 = {.kind = SN_FRAME_FIXED, .record_size = 36};
    struct sn_frame_opts fix1k = {.kind = SN_FRAME_FIXED, .record_size = 1024};
    const struct cfg cfgs[] = {
        {"len2be", "itch", len2, 20, 50},  {"len2be", "1k", len2, 1024, 1024},
        {"varint", "itch", var, 20, 50},   {"varint", "1k", var, 1024, 1024},
        {"cobs", "itch", cobs, 20, 50},    {"cobs", "1k", cobs, 1024, 1024},
        {"fixed", "itch", fix36, 36, 36},  {"fixed", "1k", fix1k, 1024, 1024},
    };

    size_t fcap = 2 * 65536 + 1024;
    uint8_t *fbuf = malloc(fcap), *rx = malloc(RX_CAP);
    if (!fbuf || !rx)
        return 1;
    printf("stream of %ld MiB per row, cut into reads of 1..64 KiB; median of %d runs\n", mib, runs);
    printf("payloads: itch = 20..50 bytes (fixed: 36), 1k = 1024 bytes; GB/s = stream bytes (headers included) / s\n");
    printf("  %-7s %-5s %10s %9s %10s %8s %12s %14s\n", "framing", "size", "frames", "avg B", "Mframes/s",
           "GB/s", "memcpy GB/s", "framer/memcpy");
    int fail = 0;
    char out[8192];
    size_t ol = 0;
    for (size_t ci = 0; ci < SN_COUNTOF(cfgs); ci++) {
        const struct cfg *c = &cfgs[ci];
        struct stream s;
        if (build(&s, &c->o, bytes, c->lo, c->hi) < 0) {
            fail = 1;
            continue;
        }
        double tf[MAX_RUNS], tm[MAX_RUNS];
        int ok = 1;
        for (int r = 0; r < runs && ok; r++) {
            tf[r] = run_framer(&s, &c->o, fbuf, fcap);
            tm[r] = run_memcpy(&s, rx);
            if (tf[r] <= 0)
                ok = 0;
        }
        if (!ok) {
            printf("  %-7s %-5s FAILED\n", c->name, c->size);
            fail = 1;
        } else {
            double f = median(tf, runs), m = median(tm, runs);
            double fps = (double)s.frames / f, gbps = (double)s.len / f / 1e9, mg = (double)s.len / m / 1e9;
            printf("  %-7s %-5s %10" PRIu64 " %9.1f %10.1f %8.2f %12.2f %14.2f\n", c->name, c->size, s.frames,
                   (double)s.len / (double)s.frames, fps / 1e6, gbps, mg, gbps / mg);
            ol += (size_t)snprintf(out + ol, sizeof(out) - ol,
                                   "frame.%s.%s.mframes_per_s=%.1f\nframe.%s.%s.gbps=%.2f\n"
                                   "frame.%s.%s.memcpy_gbps=%.2f\nframe.%s.%s.per_memcpy=%.2f\n",
                                   c->name, c->size, fps / 1e6, c->name, c->size, gbps, c->name, c->size, mg,
                                   c->name, c->size, gbps / mg);
        }
        fflush(stdout);
        free(s.p);
        free(s.cuts);
    }
    printf("  (framer/memcpy: the decoder's GB/s over memcpy's through the same reads; 1.0 = the copy's speed)\n");
    printf("--- summary\n%sframe.stream_mib=%ld\n", out, mib);
    free(fbuf);
    free(rx);
    return fail;
}
