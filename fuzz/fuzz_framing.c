/* fuzz_framing.c — libFuzzer target for the streaming frame decoder: byte 0 picks
 * one of the framings, bytes 1-2 seed the split; the rest is the stream. The stream
 * is decoded in one push and again cut into random pieces (each an exact-size heap
 * copy, so ASan sees any read past a piece): both must give the same frames and the
 * same errors. Also: COBS and frame-encoder round trips of the same bytes. */
#include <sysnet/frame.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct sn_frame_opts kinds[] = {
    {.kind = SN_FRAME_LEN, .len_bytes = 1, .max_frame = 200},
    {.kind = SN_FRAME_LEN, .len_bytes = 2, .big_endian = 1, .max_frame = 300},
    {.kind = SN_FRAME_LEN, .len_bytes = 2, .big_endian = 0, .max_frame = 300, .len_includes_header = 1},
    {.kind = SN_FRAME_LEN, .len_bytes = 4, .big_endian = 1, .max_frame = 300, .len_includes_header = 1},
    {.kind = SN_FRAME_LEN, .len_bytes = 4, .big_endian = 0, .max_frame = 300},
    {.kind = SN_FRAME_LEN, .len_bytes = 8, .big_endian = 1, .max_frame = 300},
    {.kind = SN_FRAME_LEN, .len_bytes = 8, .big_endian = 0, .max_frame = 300, .len_includes_header = 1},
    {.kind = SN_FRAME_VARINT, .max_frame = 300},
    {.kind = SN_FRAME_VARINT, .max_frame = 300, .len_includes_header = 1},
    {.kind = SN_FRAME_DELIM, .delim = '\n', .max_frame = 16},
    {.kind = SN_FRAME_DELIM, .delim = 0, .cobs = 1, .max_frame = 16},
    {.kind = SN_FRAME_DELIM, .delim = 0, .cobs = 1, .max_frame = 600},
    {.kind = SN_FRAME_FIXED, .record_size = 5},
};

struct trace {
    uint64_t h;   /* FNV-1a over every event */
    size_t frames, errors;
};

static void mix(struct trace *t, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        t->h = (t->h ^ b[i]) * 0x100000001b3ull;
}

static uint8_t fbuf[1024];

/* Decodes data cut at random piece lengths (seed 0: one piece). */
static void run(const struct sn_frame_opts *o, const uint8_t *data, size_t size, uint32_t seed,
                struct trace *t)
{
    struct sn_framer f;
    memset(t, 0, sizeof(*t));
    t->h = 0xcbf29ce484222325ull;
    if (sn_framer_init(&f, o, fbuf, sizeof(fbuf)) != 0)
        abort();
    uint32_t x = seed | 1;
    size_t at = 0;
    int sticky = 0;
    while (at < size && !sticky) {
        size_t len = size - at;
        if (seed) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            len = SN_MIN(len, 1 + x % (1 + (seed >> 8) % 64));
        }
        uint8_t *piece = malloc(len);
        if (!piece)
            abort();
        memcpy(piece, data + at, len);
        if (sn_framer_push(&f, piece, len) != 0)
            abort();
        for (;;) {
            const uint8_t *p;
            size_t n;
            int rc = sn_framer_next(&f, &p, &n);
            if (rc == 0)
                break;
            if (rc == 1) {
                if ((ssize_t)n > sn_frame_bufsize(o))
                    abort();
                t->frames++;
                mix(t, &n, sizeof n);
                if (n)
                    mix(t, p, n);
                continue;
            }
            if (rc != -EMSGSIZE && rc != -EBADMSG)
                abort();
            t->errors++;
            mix(t, &rc, sizeof rc);
            if (o->kind != SN_FRAME_DELIM) { /* sticky: stays in error until reset */
                if (sn_framer_next(&f, &p, &n) != rc || sn_framer_push(&f, piece, 0) != rc)
                    abort();
                sticky = 1;
                break;
            }
        }
        free(piece);
        at += len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    const struct sn_frame_opts *o = &kinds[data[0] % SN_COUNTOF(kinds)];
    uint32_t seed = (uint32_t)data[1] << 8 | data[2];
    data += 3;
    size -= 3;
    struct trace whole, split;
    run(o, data, size, 0, &whole);
    run(o, data, size, seed ? seed : 1, &split);
    if (whole.h != split.h || whole.frames != split.frames || whole.errors != split.errors)
        abort();

    /* COBS round trip of the stream itself. */
    static uint8_t enc[70000], dec[70000];
    if (size <= 65536) {
        ssize_t e = sn_cobs_encode(data, size, enc, sizeof enc);
        if (e < 0 || (size_t)e > sn_cobs_max(size) || memchr(enc, 0, (size_t)e))
            abort();
        ssize_t d = sn_cobs_decode(enc, (size_t)e, dec, sizeof dec);
        if (d != (ssize_t)size || (size && memcmp(dec, data, size)))
            abort();
        /* And decoding the raw bytes must not crash (in place too). */
        memcpy(dec, data, size);
        (void)sn_cobs_decode(dec, size, dec, size);
    }

    /* Encode the bytes as one frame and decode it back. */
    if (size <= 300 && !(o->kind == SN_FRAME_DELIM && !o->cobs)) {
        ssize_t n = sn_frame_encode(o, data, size, enc, sizeof enc);
        if (n >= 0) {
            struct sn_framer f;
            const uint8_t *p;
            size_t len;
            if (sn_framer_init(&f, o, fbuf, sizeof fbuf) != 0 || sn_framer_push(&f, enc, (size_t)n) != 0)
                abort();
            int rc = sn_framer_next(&f, &p, &len);
            if (o->kind == SN_FRAME_DELIM && size > o->max_frame) {
                if (rc != -EMSGSIZE)
                    abort();
            } else if (rc != 1 || len != size || (size && memcmp(p, data, size)))
                abort();
        } else if (n != -EMSGSIZE && n != -EINVAL) {
            abort();
        }
    }
    return 0;
}
