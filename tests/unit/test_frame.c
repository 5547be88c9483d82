/* tests/unit/test_frame.c — the frame module's streaming decoder and encoders:
 * every framing kind under every split of small streams and random splits of large
 * ones, zero copy, the maximum checked on the header, every error and the state it
 * leaves, COBS vectors, varints and the iovec encoder. */
#include "../harness.h"

#include <errno.h>
#include <sysnet/base.h>
#include <sysnet/frame.h>

/* ---- helpers --------------------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* Decoded frames, concatenated, with their lengths. */
struct got {
    uint8_t data[1 << 20];
    size_t len[8192];
    size_t n, bytes;
    int err;
};
static struct got got;

static void got_reset(void)
{
    got.n = got.bytes = 0;
    got.err = 0;
}

static void collect(void *arg, const uint8_t *p, size_t n)
{
    (void)arg;
    if (got.n < SN_COUNTOF(got.len) && got.bytes + n <= sizeof(got.data)) {
        if (n)
            memcpy(got.data + got.bytes, p, n);
        got.bytes += n;
        got.len[got.n++] = n;
    }
}

static uint8_t fbuf[1 << 17];

/* Decode stream[0..n) pushed in pieces cut at cuts[0..ncuts) (ascending). Every piece
 * is a private heap copy so ASan sees reads past its end. */
static int decode_split(const struct sn_frame_opts *o, const uint8_t *s, size_t n, const size_t *cuts,
                        size_t ncuts)
{
    struct sn_framer f;
    int rc = sn_framer_init(&f, o, fbuf, sizeof(fbuf));
    if (rc < 0)
        return rc;
    got_reset();
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        size_t len = end - at;
        uint8_t *piece = malloc(len ? len : 1);
        memcpy(piece, s + at, len);
        rc = sn_framer_feed(&f, piece, len, collect, NULL);
        free(piece);
        if (rc < 0)
            return rc;
        at = end;
    }
    return sn_framer_buffered(&f) == 0 ? 0 : 1; /* 1: a partial frame left over */
}

/* The stream for a list of payloads, and the expected concatenation. */
struct stream {
    uint8_t s[1 << 20];
    size_t n;
    uint8_t want[1 << 20];
    size_t wlen[8192];
    size_t nf, wbytes;
};
static struct stream st;

static int build(const struct sn_frame_opts *o, const uint8_t *const *pl, const size_t *pn, size_t k)
{
    st.n = st.nf = st.wbytes = 0;
    for (size_t i = 0; i < k; i++) {
        ssize_t w = sn_frame_encode(o, pl[i], pn[i], st.s + st.n, sizeof(st.s) - st.n);
        if (w < 0)
            return (int)w;
        st.n += (size_t)w;
        memcpy(st.want + st.wbytes, pl[i], pn[i]);
        st.wbytes += pn[i];
        st.wlen[st.nf++] = pn[i];
    }
    return 0;
}

static int same_as_wanted(void)
{
    if (got.n != st.nf || got.bytes != st.wbytes)
        return 0;
    for (size_t i = 0; i < got.n; i++)
        if (got.len[i] != st.wlen[i])
            return 0;
    return memcmp(got.data, st.want, st.wbytes) == 0;
}

/* Every framing we test. */
static struct sn_frame_opts kinds[] = {
    {.kind = SN_FRAME_LEN, .len_bytes = 1, .max_frame = 255},
    {.kind = SN_FRAME_LEN, .len_bytes = 2, .big_endian = 1, .max_frame = 4096},
    {.kind = SN_FRAME_LEN, .len_bytes = 2, .big_endian = 0, .max_frame = 4096},
    {.kind = SN_FRAME_LEN, .len_bytes = 4, .big_endian = 1, .max_frame = 4096, .len_includes_header = 1},
    {.kind = SN_FRAME_LEN, .len_bytes = 4, .big_endian = 0, .max_frame = 4096},
    {.kind = SN_FRAME_LEN, .len_bytes = 8, .big_endian = 1, .max_frame = 4096},
    {.kind = SN_FRAME_LEN, .len_bytes = 8, .big_endian = 0, .max_frame = 4096, .len_includes_header = 1},
    {.kind = SN_FRAME_VARINT, .max_frame = 4096},
    {.kind = SN_FRAME_VARINT, .max_frame = 4096, .len_includes_header = 1},
    {.kind = SN_FRAME_DELIM, .delim = '\n', .max_frame = 4096},
    {.kind = SN_FRAME_DELIM, .delim = 0, .cobs = 1, .max_frame = 4096},
    {.kind = SN_FRAME_FIXED, .record_size = 3},
};

/* Payloads for a kind: small and varied (zeros, delimiters excluded for plain DELIM). */
static size_t small_payloads(const struct sn_frame_opts *o, const uint8_t **pl, size_t *pn)
{
    static const uint8_t a[] = {'a', 'b', 'c'}, z[] = {0, 0, 7}, e[] = {0};
    if (o->kind == SN_FRAME_FIXED) {
        pl[0] = a; pn[0] = 3;
        pl[1] = z; pn[1] = 3;
        return 2;
    }
    if (o->kind == SN_FRAME_DELIM && !o->cobs) {
        pl[0] = a; pn[0] = 3;
        pl[1] = e; pn[1] = 0;
        pl[2] = a; pn[2] = 1;
        return 3;
    }
    pl[0] = z; pn[0] = 3;
    pl[1] = e; pn[1] = 0;
    pl[2] = a; pn[2] = 2;
    return 3;
}

/* Every way to cut n bytes into pieces: the 2^(n-1) subsets of the n-1 cut points. */
static int all_compositions(const struct sn_frame_opts *o)
{
    size_t cuts[64];
    size_t n = st.n;
    if (n > 18)
        return -1;
    for (uint32_t mask = 0; mask < (1u << (n - 1)); mask++) {
        size_t nc = 0;
        for (size_t i = 0; i + 1 < n; i++)
            if (mask & (1u << i))
                cuts[nc++] = i + 1;
        if (decode_split(o, st.s, n, cuts, nc) != 0 || !same_as_wanted())
            return (int)mask + 1;
    }
    return 0;
}

SN_TEST(frame_every_split_of_small_streams)
{
    for (size_t k = 0; k < SN_COUNTOF(kinds); k++) {
        const uint8_t *pl[8];
        size_t pn[8];
        size_t np = small_payloads(&kinds[k], pl, pn);
        CHECK_EQ(build(&kinds[k], pl, pn, np), 0);
        if (st.n <= 18) {
            int bad = all_compositions(&kinds[k]);
            if (bad) {
                char m[64];
                snprintf(m, sizeof m, "kind %zu split mask %d", k, bad - 1);
                sn_test_fail(__FILE__, __LINE__, m);
                return;
            }
        }
    }
}

/* Streams too long for all compositions: every pair of cut points, plus byte by byte. */
SN_TEST(frame_every_pair_of_cuts)
{
    static uint8_t big[300];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i % 9 == 0 ? 0 : 'A' + i % 26);
    for (size_t k = 0; k < SN_COUNTOF(kinds); k++) {
        const struct sn_frame_opts *o = &kinds[k];
        const uint8_t *pl[8];
        size_t pn[8];
        size_t np = small_payloads(o, pl, pn);
        if (o->kind != SN_FRAME_FIXED && !(o->kind == SN_FRAME_DELIM && !o->cobs) &&
            !(o->kind == SN_FRAME_LEN && o->len_bytes == 1)) {
            pl[np] = big; pn[np] = sizeof(big); np++; /* a 2-byte varint, a COBS 0xFF block */
        }
        CHECK_EQ(build(o, pl, pn, np), 0);
        size_t n = st.n;
        for (size_t a = 0; a <= n; a++)
            for (size_t b = a; b <= n; b++) {
                size_t cuts[2] = {a, b};
                CHECK_EQ(decode_split(o, st.s, n, cuts, 2), 0);
                CHECK(same_as_wanted());
            }
        size_t cuts[2048];
        for (size_t i = 0; i + 1 < n; i++)
            cuts[i] = i + 1;
        CHECK_EQ(decode_split(o, st.s, n, cuts, n - 1), 0);
        CHECK(same_as_wanted());
    }
}

SN_TEST(frame_random_splits_of_large_streams)
{
    static uint8_t pool[5000];
    for (size_t i = 0; i < sizeof(pool); i++)
        pool[i] = (uint8_t)rnd();
    static const uint8_t *pl[3000];
    static size_t pn[3000];
    static size_t cuts[100000];
    for (size_t k = 0; k < SN_COUNTOF(kinds); k++) {
        const struct sn_frame_opts *o = &kinds[k];
        size_t np = 0;
        for (; np < 2000; np++) {
            size_t len = o->kind == SN_FRAME_FIXED ? o->record_size : rnd() % (o->max_frame < 600 ? o->max_frame + 1 : 600);
            size_t off = rnd() % (sizeof(pool) - len);
            if (o->kind == SN_FRAME_DELIM && !o->cobs) {
                const uint8_t *nl = memchr(pool + off, '\n', len);
                if (nl)
                    len = (size_t)(nl - (pool + off));
            }
            pl[np] = pool + off;
            pn[np] = len;
        }
        CHECK_EQ(build(o, pl, pn, np), 0);
        for (int round = 0; round < 5; round++) {
            size_t nc = 0, at = 0;
            size_t step = round == 0 ? 1 : (size_t)1 << (round * 3);
            while (nc < SN_COUNTOF(cuts)) {
                at += 1 + rnd() % (2 * step);
                if (at >= st.n)
                    break;
                cuts[nc++] = at;
            }
            CHECK_EQ(decode_split(o, st.s, st.n, cuts, nc), 0);
            CHECK(same_as_wanted());
        }
    }
}

/* ---- zero copy -------------------------------------------------------------- */

SN_TEST(frame_zero_copy_when_whole)
{
    struct sn_frame_opts o = {.kind = SN_FRAME_LEN, .len_bytes = 2, .big_endian = 1, .max_frame = 100};
    uint8_t s[64];
    ssize_t a = sn_frame_encode(&o, "hello", 5, s, sizeof s);
    ssize_t b = sn_frame_encode(&o, "world!", 6, s + a, sizeof s - (size_t)a);
    CHECK_EQ(a, 7);
    CHECK_EQ(b, 8);
    CHECK_MEM(s, "\x00\x05hello\x00\x06world!", 15);
    uint8_t buf[100];
    struct sn_framer f;
    CHECK_EQ(sn_framer_init(&f, &o, buf, sizeof buf), 0);
    const uint8_t *p;
    size_t n;
    /* Whole frames in one push: pointers into the pushed data. */
    CHECK_EQ(sn_framer_push(&f, s, 15), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 1);
    CHECK(p == s + 2 && n == 5);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 1);
    CHECK(p == s + 9 && n == 6);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 0);
    CHECK_EQ(f.copied, 0);
    /* A header split from its payload: the payload still comes from the push. */
    CHECK_EQ(sn_framer_push(&f, s, 1), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 0);
    CHECK_EQ(sn_framer_push(&f, s + 1, 6), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 1);
    CHECK(p == s + 2 && n == 5);
    /* A payload split: copied into the buffer, only then. */
    CHECK_EQ(sn_framer_push(&f, s + 7, 4), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 0);
    CHECK_EQ(sn_framer_buffered(&f), 2u);
    CHECK_EQ(sn_framer_push(&f, s + 11, 4), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 1);
    CHECK(p == buf && n == 6);
    CHECK_MEM(p, "world!", 6);
    CHECK_EQ(f.copied, 1);
    CHECK_EQ(f.frames, 4);
}

SN_TEST(frame_zero_copy_delimited_and_fixed)
{
    struct sn_frame_opts o = {.kind = SN_FRAME_DELIM, .delim = '\n', .max_frame = 100};
    uint8_t buf[100];
    struct sn_framer f;
    CHECK_EQ(sn_framer_init(&f, &o, buf, sizeof buf), 0);
    const char *s = "ab\ncd\n";
    const uint8_t *p;
    size_t n;
    CHECK_EQ(sn_framer_push(&f, s, 6), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 1);
    CHECK(p == (const uint8_t *)s && n == 2);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 1);
    CHECK(p == (const uint8_t *)s + 3 && n == 2);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 0);

    struct sn_frame_opts r = {.kind = SN_FRAME_FIXED, .record_size = 4};
    CHECK_EQ(sn_framer_init(&f, &r, buf, 4), 0);
    CHECK_EQ(sn_framer_push(&f, "abcdefghij", 10), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 1);
    CHECK_EQ(n, 4u);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 1);
    CHECK_MEM(p, "efgh", 4);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 0);
    CHECK_EQ(sn_framer_buffered(&f), 2u);
    CHECK_EQ(sn_framer_push(&f, "kl", 2), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 1);
    CHECK(p == buf);
    CHECK_MEM(p, "ijkl", 4);
}

SN_TEST(frame_push_refuses_while_unconsumed)
{
    struct sn_frame_opts o = {.kind = SN_FRAME_LEN, .len_bytes = 1, .max_frame = 10};
    uint8_t buf[10];
    struct sn_framer f;
    CHECK_EQ(sn_framer_init(&f, &o, buf, sizeof buf), 0);
    const uint8_t *p;
    size_t n;
    CHECK_EQ(sn_framer_push(&f, "\x01" "a\x01" "b", 4), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 1);
    CHECK_EQ(sn_framer_push(&f, "\x01" "c", 2), -EBUSY);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 1);
    CHECK_MEM(p, "b", 1);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 0);
    CHECK_EQ(sn_framer_push(&f, "\x01" "c", 2), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 1);
    CHECK_MEM(p, "c", 1);
}

SN_TEST(frame_init_checks_options)
{
    uint8_t buf[16];
    struct sn_framer f;
    struct sn_frame_opts o = {.kind = SN_FRAME_LEN, .len_bytes = 3, .max_frame = 10};
    CHECK_EQ(sn_framer_init(&f, &o, buf, sizeof buf), -EINVAL);
    o.len_bytes = 2;
    o.max_frame = 0;
    CHECK_EQ(sn_framer_init(&f, &o, buf, sizeof buf), -EINVAL);
    o.max_frame = 17;
    CHECK_EQ(sn_framer_init(&f, &o, buf, sizeof buf), -EINVAL); /* buffer too small */
    o.max_frame = 16;
    CHECK_EQ(sn_framer_init(&f, &o, buf, sizeof buf), 0);
    struct sn_frame_opts c = {.kind = SN_FRAME_DELIM, .delim = '\n', .cobs = 1, .max_frame = 8};
    CHECK_EQ(sn_frame_opts_check(&c), -EINVAL);
    c.delim = 0;
    CHECK_EQ(sn_frame_bufsize(&c), 9);
    struct sn_frame_opts x = {.kind = 99};
    CHECK_EQ(sn_frame_bufsize(&x), -EINVAL);
    struct sn_frame_opts r = {.kind = SN_FRAME_FIXED};
    CHECK_EQ(sn_frame_opts_check(&r), -EINVAL);
}

/* ---- errors ----------------------------------------------------------------- */

SN_TEST(frame_oversize_refused_on_the_header)
{
    struct sn_frame_opts o = {.kind = SN_FRAME_LEN, .len_bytes = 4, .big_endian = 1, .max_frame = 100};
    uint8_t buf[100];
    struct sn_framer f;
    CHECK_EQ(sn_framer_init(&f, &o, buf, sizeof buf), 0);
    const uint8_t *p;
    size_t n;
    /* Only the header is pushed: the error comes before any payload arrives. */
    CHECK_EQ(sn_framer_push(&f, "\x00\x00\x00\x65", 4), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), -EMSGSIZE);
    /* Sticky until reset. */
    CHECK_EQ(sn_framer_next(&f, &p, &n), -EMSGSIZE);
    CHECK_EQ(sn_framer_push(&f, "x", 1), -EMSGSIZE);
    CHECK_EQ(f.errors, 1);
    sn_framer_reset(&f);
    CHECK_EQ(sn_framer_push(&f, "\x00\x00\x00\x64", 4), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 0);
    CHECK_EQ(sn_framer_buffered(&f), 0u);
    /* Hostile 8-byte lengths, with and without counting the header. */
    struct sn_frame_opts h = {.kind = SN_FRAME_LEN, .len_bytes = 8, .big_endian = 1, .max_frame = 100};
    CHECK_EQ(sn_framer_init(&f, &h, buf, sizeof buf), 0);
    CHECK_EQ(sn_framer_push(&f, "\xff\xff\xff\xff\xff\xff\xff\xff", 8), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), -EMSGSIZE);
    h.len_includes_header = 1;
    CHECK_EQ(sn_framer_init(&f, &h, buf, sizeof buf), 0);
    CHECK_EQ(sn_framer_push(&f, "\xff\xff\xff\xff\xff\xff\xff\xff", 8), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), -EMSGSIZE);
    /* A length smaller than the header it counts. */
    CHECK_EQ(sn_framer_init(&f, &h, buf, sizeof buf), 0);
    CHECK_EQ(sn_framer_push(&f, "\x00\x00\x00\x00\x00\x00\x00\x07", 8), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), -EBADMSG);
    CHECK_EQ(sn_framer_init(&f, &h, buf, sizeof buf), 0);
    CHECK_EQ(sn_framer_push(&f, "\x00\x00\x00\x00\x00\x00\x00\x08", 8), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 1);
    CHECK_EQ(n, 0u);
}

SN_TEST(frame_bad_varints)
{
    struct sn_frame_opts o = {.kind = SN_FRAME_VARINT, .max_frame = 100};
    uint8_t buf[100];
    struct sn_framer f;
    const uint8_t *p;
    size_t n;
    static const uint8_t eleven[11] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    static const uint8_t over[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    static const uint8_t max64[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    /* Fed one byte at a time, the 11th byte is never needed: the 10th decides. */
    CHECK_EQ(sn_framer_init(&f, &o, buf, sizeof buf), 0);
    int rc = 0;
    for (size_t i = 0; i < sizeof eleven && rc == 0; i++) {
        CHECK_EQ(sn_framer_push(&f, eleven + i, 1), 0);
        rc = sn_framer_next(&f, &p, &n);
    }
    CHECK_EQ(rc, -EBADMSG);
    CHECK_EQ(sn_framer_init(&f, &o, buf, sizeof buf), 0);
    CHECK_EQ(sn_framer_push(&f, over, 10), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), -EBADMSG);
    CHECK_EQ(sn_framer_init(&f, &o, buf, sizeof buf), 0);
    CHECK_EQ(sn_framer_push(&f, max64, 10), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), -EMSGSIZE);
    uint64_t v;
    CHECK_EQ(sn_frame_varint_get(max64, 10, &v), 10);
    CHECK(v == UINT64_MAX);
    CHECK_EQ(sn_frame_varint_get(over, 10, &v), -EBADMSG);
    CHECK_EQ(sn_frame_varint_get(eleven, 11, &v), -EBADMSG);
    CHECK_EQ(sn_frame_varint_get(max64, 9, &v), 0);
    uint8_t vb[10];
    CHECK_EQ(sn_frame_varint_put(vb, 300), 2);
    CHECK_MEM(vb, "\xac\x02", 2);
    CHECK_EQ(sn_frame_varint_put(vb, UINT64_MAX), 10);
    CHECK_MEM(vb, max64, 10);
    /* A non-minimal varint (0x80 0x00 = 0) is accepted, as protobuf does. */
    CHECK_EQ(sn_framer_init(&f, &o, buf, sizeof buf), 0);
    CHECK_EQ(sn_framer_push(&f, "\x80\x00", 2), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 1);
    CHECK_EQ(n, 0u);
}

SN_TEST(frame_delimited_overlong_resyncs)
{
    struct sn_frame_opts o = {.kind = SN_FRAME_DELIM, .delim = '\n', .max_frame = 4};
    uint8_t buf[4];
    struct sn_framer f;
    const uint8_t *p;
    size_t n;
    CHECK_EQ(sn_framer_init(&f, &o, buf, sizeof buf), 0);
    /* Overlong with its delimiter in the same push. */
    CHECK_EQ(sn_framer_push(&f, "abcde\nok\n", 9), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), -EMSGSIZE);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 1);
    CHECK(n == 2 && !memcmp(p, "ok", 2));
    CHECK_EQ(sn_framer_next(&f, &p, &n), 0);
    /* Overlong with no delimiter: refused at once, skipped over later pushes. */
    CHECK_EQ(sn_framer_push(&f, "abc", 3), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 0);
    CHECK_EQ(sn_framer_push(&f, "de", 2), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), -EMSGSIZE);
    CHECK_EQ(sn_framer_push(&f, "fghijklmnop", 11), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 0);
    CHECK_EQ(sn_framer_push(&f, "q\nwxyz\n", 7), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 1);
    CHECK(n == 4 && !memcmp(p, "wxyz", 4));
    CHECK_EQ(f.errors, 2);
    /* Exactly max_frame, split: fits. */
    CHECK_EQ(sn_framer_push(&f, "ab", 2), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 0);
    CHECK_EQ(sn_framer_push(&f, "cd\n", 3), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 1);
    CHECK(n == 4 && p == buf);
}

SN_TEST(frame_cobs_errors_resync)
{
    struct sn_frame_opts o = {.kind = SN_FRAME_DELIM, .cobs = 1, .max_frame = 8};
    uint8_t buf[16];
    struct sn_framer f;
    const uint8_t *p;
    size_t n;
    CHECK_EQ(sn_framer_init(&f, &o, buf, sizeof buf), 0);
    /* 05 11 22: the code says 4 bytes follow, only 2 do. Then a good frame, then an
     * empty one (skipped), then a frame decoding to more than max_frame. */
    static const uint8_t s[] = {0x05, 0x11, 0x22, 0x00, 0x03, 0x11, 0x22, 0x02, 0x33, 0x00, 0x00,
                                0x0a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x00, 0x02, 0x44, 0x00};
    CHECK_EQ(sn_framer_push(&f, s, sizeof s), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), -EBADMSG);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 1);
    CHECK(n == 4 && !memcmp(p, "\x11\x22\x00\x33", 4));
    CHECK_EQ(sn_framer_next(&f, &p, &n), -EMSGSIZE);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 1);
    CHECK(n == 1 && p[0] == 0x44);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 0);
    /* An encoded frame longer than sn_cobs_max(max_frame): refused before buffering. */
    static const uint8_t lng[12] = {0x0c, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    CHECK_EQ(sn_framer_push(&f, lng, sizeof lng), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), -EMSGSIZE);
    CHECK_EQ(sn_framer_push(&f, "\x00\x02\x55\x00", 4), 0);
    CHECK_EQ(sn_framer_next(&f, &p, &n), 1);
    CHECK(n == 1 && p[0] == 0x55);
}

/* ---- COBS ------------------------------------------------------------------- */

static int cobs_is(const uint8_t *in, size_t n, const uint8_t *want, size_t wn)
{
    uint8_t enc[600], dec[600];
    ssize_t e = sn_cobs_encode(in, n, enc, sizeof enc);
    if (e != (ssize_t)wn || memcmp(enc, want, wn))
        return 0;
    if (memchr(enc, 0, (size_t)e))
        return 0;
    ssize_t d = sn_cobs_decode(enc, (size_t)e, dec, sizeof dec);
    if (d != (ssize_t)n || memcmp(dec, in, n))
        return 0;
    /* in place */
    d = sn_cobs_decode(enc, (size_t)e, enc, sizeof enc);
    return d == (ssize_t)n && !memcmp(enc, in, n);
}

SN_TEST(frame_cobs_vectors)
{
    /* Cheshire & Baker's examples, as listed on Wikipedia's COBS page. */
    CHECK(cobs_is((const uint8_t *)"", 0, (const uint8_t *)"\x01", 1));
    CHECK(cobs_is((const uint8_t *)"\x00", 1, (const uint8_t *)"\x01\x01", 2));
    CHECK(cobs_is((const uint8_t *)"\x00\x00", 2, (const uint8_t *)"\x01\x01\x01", 3));
    CHECK(cobs_is((const uint8_t *)"\x00\x11\x00", 3, (const uint8_t *)"\x01\x02\x11\x01", 4));
    CHECK(cobs_is((const uint8_t *)"\x11\x22\x00\x33", 4, (const uint8_t *)"\x03\x11\x22\x02\x33", 5));
    CHECK(cobs_is((const uint8_t *)"\x11\x22\x33\x44", 4, (const uint8_t *)"\x05\x11\x22\x33\x44", 5));
    CHECK(cobs_is((const uint8_t *)"\x11\x00\x00\x00", 4, (const uint8_t *)"\x02\x11\x01\x01\x01", 5));
    uint8_t in[256], want[260];
    /* 01..FE (254 bytes) -> FF 01..FE */
    for (int i = 0; i < 254; i++)
        in[i] = (uint8_t)(i + 1);
    want[0] = 0xff;
    memcpy(want + 1, in, 254);
    CHECK(cobs_is(in, 254, want, 255));
    /* 00 01..FE (255 bytes) -> 01 FF 01..FE */
    in[0] = 0;
    for (int i = 1; i < 255; i++)
        in[i] = (uint8_t)i;
    want[0] = 0x01;
    want[1] = 0xff;
    memcpy(want + 2, in + 1, 254);
    CHECK(cobs_is(in, 255, want, 256));
    /* 01..FF (255 bytes) -> FF 01..FE 02 FF */
    for (int i = 0; i < 255; i++)
        in[i] = (uint8_t)(i + 1);
    want[0] = 0xff;
    memcpy(want + 1, in, 254);
    want[255] = 0x02;
    want[256] = 0xff;
    CHECK(cobs_is(in, 255, want, 257));
    /* errors */
    uint8_t out[8];
    CHECK_EQ(sn_cobs_decode("\x03\x11", 2, out, sizeof out), -EBADMSG);
    CHECK_EQ(sn_cobs_decode("\x03\x11\x00", 3, out, sizeof out), -EBADMSG);
    CHECK_EQ(sn_cobs_decode("\x00", 1, out, sizeof out), -EBADMSG);
    CHECK_EQ(sn_cobs_decode("\x05\x11\x22\x33\x44", 5, out, 3), -ENOBUFS);
    CHECK_EQ(sn_cobs_encode("\x11\x22", 2, out, 2), -ENOBUFS);
}

SN_TEST(frame_cobs_random_round_trip)
{
    static uint8_t in[3000], enc[3100], dec[3000];
    for (int round = 0; round < 300; round++) {
        size_t n = rnd() % sizeof in;
        uint32_t zeros = rnd() % 4;
        for (size_t i = 0; i < n; i++)
            in[i] = (rnd() % 4) < zeros ? 0 : (uint8_t)(1 + rnd() % 255);
        ssize_t e = sn_cobs_encode(in, n, enc, sizeof enc);
        CHECK(e > 0 && (size_t)e <= sn_cobs_max(n));
        CHECK(!memchr(enc, 0, (size_t)e));
        CHECK_EQ(sn_cobs_decode(enc, (size_t)e, dec, sizeof dec), (ssize_t)n);
        CHECK_MEM(dec, in, n);
    }
}

/* ---- encoder ---------------------------------------------------------------- */

SN_TEST(frame_encode_iov)
{
    uint8_t hdr[SN_FRAME_HDR_MAX];
    struct iovec iov[2];
    const char *pl = "payload";
    struct sn_frame_opts o = {.kind = SN_FRAME_LEN, .len_bytes = 4, .big_endian = 0, .max_frame = 1000,
                              .len_includes_header = 1};
    CHECK_EQ(sn_frame_encode_iov(&o, pl, 7, hdr, iov), 2);
    CHECK(iov[0].iov_base == hdr && iov[0].iov_len == 4);
    CHECK_MEM(hdr, "\x0b\x00\x00\x00", 4);
    CHECK(iov[1].iov_base == pl && iov[1].iov_len == 7); /* the payload is not copied */
    struct sn_frame_opts v = {.kind = SN_FRAME_VARINT, .max_frame = 1000, .len_includes_header = 1};
    /* 126 + 1 = 127 fits one byte; 127 + 2 = 129 needs two. */
    CHECK_EQ(sn_frame_header(&v, 126, hdr), 1);
    CHECK_EQ(hdr[0], 127);
    CHECK_EQ(sn_frame_header(&v, 127, hdr), 2);
    CHECK_MEM(hdr, "\x81\x01", 2);
    struct sn_frame_opts b = {.kind = SN_FRAME_LEN, .len_bytes = 1, .max_frame = 1000};
    CHECK_EQ(sn_frame_header(&b, 255, hdr), 1);
    CHECK_EQ(sn_frame_header(&b, 256, hdr), -EMSGSIZE);
    b.len_includes_header = 1;
    CHECK_EQ(sn_frame_header(&b, 255, hdr), -EMSGSIZE);
    CHECK_EQ(sn_frame_header(&b, 1001, hdr), -EMSGSIZE);
    struct sn_frame_opts d = {.kind = SN_FRAME_DELIM, .delim = '\n', .max_frame = 100};
    CHECK_EQ(sn_frame_encode_iov(&d, "a\nb", 3, hdr, iov), -EINVAL);
    CHECK_EQ(sn_frame_encode_iov(&d, "ab", 2, hdr, iov), 2);
    CHECK(iov[1].iov_len == 1 && ((uint8_t *)iov[1].iov_base)[0] == '\n');
    d.cobs = 1;
    d.delim = 0;
    CHECK_EQ(sn_frame_encode_iov(&d, "ab", 2, hdr, iov), -EOPNOTSUPP);
    uint8_t out[8];
    CHECK_EQ(sn_frame_encode(&d, "\x00\x01", 2, out, sizeof out), 4);
    CHECK_MEM(out, "\x01\x02\x01\x00", 4);
    CHECK_EQ(sn_frame_encode(&d, "\x00\x01", 2, out, 3), -ENOBUFS);
    struct sn_frame_opts r = {.kind = SN_FRAME_FIXED, .record_size = 3};
    CHECK_EQ(sn_frame_encode_iov(&r, "abcd", 4, hdr, iov), -EINVAL);
    CHECK_EQ(sn_frame_encode_iov(&r, "abc", 3, hdr, iov), 1);
    CHECK_EQ(sn_frame_encode(&o, pl, 7, out, sizeof out), -ENOBUFS);
}

SN_TEST(frame_feed_callback_and_errors)
{
    struct sn_frame_opts o = {.kind = SN_FRAME_DELIM, .delim = ';', .max_frame = 3};
    uint8_t buf[3];
    struct sn_framer f;
    CHECK_EQ(sn_framer_init(&f, &o, buf, sizeof buf), 0);
    got_reset();
    CHECK_EQ(sn_framer_feed(&f, "a;bb;toolong;c;", 15, collect, NULL), -EMSGSIZE);
    CHECK_EQ(got.n, 2u);
    CHECK_EQ(sn_framer_feed(&f, NULL, 0, collect, NULL), 1); /* continue after the drop */
    CHECK_EQ(got.n, 3u);
    CHECK_MEM(got.data, "abbc", 4);
}
