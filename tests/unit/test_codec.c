/* test_codec.c — protobuf wire primitives: varint boundaries, zigzag, tags,
 * fixed32/64, length-delimited values, skipping, packed counts, UTF-8, the writer
 * and the arena; hostile inputs (overlong varints, length overflow, groups,
 * truncation at every byte). */
#include <sysnet/codec.h>

#include "../harness.h"

struct vcase {
    uint64_t v;
    size_t len;
    uint8_t bytes[10];
};

static const struct vcase vcases[] = {
    {0, 1, {0x00}},
    {1, 1, {0x01}},
    {127, 1, {0x7f}},
    {128, 2, {0x80, 0x01}},
    {300, 2, {0xac, 0x02}},
    {16383, 2, {0xff, 0x7f}},
    {16384, 3, {0x80, 0x80, 0x01}},
    {UINT32_MAX, 5, {0xff, 0xff, 0xff, 0xff, 0x0f}},
    {(uint64_t)1 << 63, 10, {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}},
    {UINT64_MAX, 10, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
    /* int32 -1 is sign-extended to 64 bits: 10 bytes */
    {(uint64_t)(int64_t)-1, 10, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
    {(uint64_t)(int64_t)INT32_MIN, 10, {0x80, 0x80, 0x80, 0x80, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x01}},
};

SN_TEST(varint_boundaries)
{
    for (size_t i = 0; i < SN_COUNTOF(vcases); i++) {
        const struct vcase *c = &vcases[i];
        uint8_t buf[16];
        uint64_t v = 0;
        CHECK_EQ(sn_pb_varint_size(c->v), c->len);
        CHECK_EQ(sn_pb_varint_encode(c->v, buf, sizeof(buf)), (int)c->len);
        CHECK_MEM(buf, c->bytes, c->len);
        CHECK_EQ(sn_pb_varint_decode(c->bytes, c->len, &v), (int)c->len);
        CHECK(v == c->v);
        /* too small a buffer: -ENOSPC, truncated input: -ENODATA, at every length */
        for (size_t k = 0; k < c->len; k++) {
            CHECK_EQ(sn_pb_varint_encode(c->v, buf, k), -ENOSPC);
            CHECK_EQ(sn_pb_varint_decode(c->bytes, k, &v), -ENODATA);
        }
    }
}

SN_TEST(varint_hostile)
{
    uint64_t v = 7;
    uint8_t b[16];
    /* 11 bytes: overlong */
    memset(b, 0xff, sizeof(b));
    CHECK_EQ(sn_pb_varint_decode(b, sizeof(b), &v), -EBADMSG);
    /* the 10th byte may only be 0 or 1 */
    memset(b, 0x80, 9);
    for (int last = 0; last < 256; last++) {
        b[9] = (uint8_t)last;
        int rc = sn_pb_varint_decode(b, 10, &v);
        if (last <= 1) {
            CHECK_EQ(rc, 10);
            CHECK(v == ((uint64_t)last << 63));
        } else {
            CHECK_EQ(rc, -EBADMSG);
        }
    }
    /* non-minimal but within 10 bytes: accepted, as protobuf does */
    const uint8_t pad[] = {0x80, 0x80, 0x00};
    CHECK_EQ(sn_pb_varint_decode(pad, sizeof(pad), &v), 3);
    CHECK(v == 0);
    CHECK_EQ(sn_pb_varint_decode(b, 0, &v), -ENODATA);
}

SN_TEST(zigzag)
{
    CHECK_EQ(sn_pb_zigzag32(0), 0);
    CHECK_EQ(sn_pb_zigzag32(-1), 1);
    CHECK_EQ(sn_pb_zigzag32(1), 2);
    CHECK_EQ(sn_pb_zigzag32(-2), 3);
    CHECK(sn_pb_zigzag32(INT32_MAX) == 0xfffffffeu);
    CHECK(sn_pb_zigzag32(INT32_MIN) == 0xffffffffu);
    CHECK(sn_pb_zigzag64(INT64_MAX) == UINT64_MAX - 1);
    CHECK(sn_pb_zigzag64(INT64_MIN) == UINT64_MAX);
    const int64_t vals[] = {0, 1, -1, 63, -64, 64, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < SN_COUNTOF(vals); i++) {
        CHECK(sn_pb_unzigzag64(sn_pb_zigzag64(vals[i])) == vals[i]);
        int32_t v32 = (int32_t)vals[i];
        CHECK(sn_pb_unzigzag32(sn_pb_zigzag32(v32)) == v32);
    }
}

SN_TEST(tags)
{
    struct sn_pb_reader r;
    uint32_t fn;
    unsigned wt;
    uint8_t buf[16];
    struct sn_pb_writer w;
    const uint32_t fields[] = {1, 15, 16, 2047, 2048, SN_PB_MAX_FIELD};
    const unsigned wts[] = {SN_PB_VARINT, SN_PB_I64, SN_PB_LEN, SN_PB_I32};
    for (size_t i = 0; i < SN_COUNTOF(fields); i++)
        for (size_t k = 0; k < SN_COUNTOF(wts); k++) {
            sn_pb_writer_init(&w, buf, sizeof(buf));
            CHECK_EQ(sn_pb_write_tag(&w, fields[i], wts[k]), 0);
            CHECK_EQ(sn_pb_writer_len(&w), sn_pb_tag_size(fields[i]));
            sn_pb_reader_init(&r, buf, sn_pb_writer_len(&w));
            CHECK_EQ(sn_pb_next_field(&r, &fn, &wt), 1);
            CHECK_EQ(fn, fields[i]);
            CHECK_EQ(wt, wts[k]);
            CHECK_EQ(sn_pb_next_field(&r, &fn, &wt), 0);
        }
    sn_pb_writer_init(&w, buf, sizeof(buf));
    CHECK_EQ(sn_pb_write_tag(&w, 0, 0), -EINVAL);
    CHECK_EQ(sn_pb_write_tag(&w, SN_PB_MAX_FIELD + 1, 0), -EINVAL);
    CHECK_EQ(sn_pb_write_tag(&w, 1, 3), -EINVAL);
    CHECK_EQ(sn_pb_tag_size(15), 1);
    CHECK_EQ(sn_pb_tag_size(16), 2);
    CHECK_EQ(sn_pb_tag_size(SN_PB_MAX_FIELD), 5);

    static const struct {
        uint8_t b[8];
        size_t n;
        int rc;
    } bad[] = {
        {{0x00}, 1, -EBADMSG},                             /* field 0 */
        {{0x07}, 1, -EBADMSG},                             /* field 0, wire type 7 */
        {{0x0e}, 1, -EBADMSG},                             /* wire type 6 */
        {{0x0f}, 1, -EBADMSG},                             /* wire type 7 */
        {{0x0b}, 1, -EPROTONOSUPPORT},                     /* group start */
        {{0x0c}, 1, -EPROTONOSUPPORT},                     /* group end */
        {{0x80}, 1, -ENODATA},                             /* truncated tag */
        {{0x80, 0x80, 0x80, 0x80, 0x10}, 5, -EBADMSG},     /* 2^32: not a uint32 */
    };
    for (size_t i = 0; i < SN_COUNTOF(bad); i++) {
        sn_pb_reader_init(&r, bad[i].b, bad[i].n);
        CHECK_EQ(sn_pb_next_field(&r, &fn, &wt), bad[i].rc);
        CHECK(r.p == bad[i].b); /* not advanced */
    }
}

SN_TEST(fixed_little_endian)
{
    uint8_t buf[12];
    struct sn_pb_writer w;
    sn_pb_writer_init(&w, buf, sizeof(buf));
    CHECK_EQ(sn_pb_write_fixed32(&w, 0x01020304u), 0);
    CHECK_EQ(sn_pb_write_fixed64(&w, 0x0102030405060708ull), 0);
    CHECK_EQ(sn_pb_write_fixed32(&w, 1), -ENOSPC);
    const uint8_t want[] = {4, 3, 2, 1, 8, 7, 6, 5, 4, 3, 2, 1};
    CHECK_MEM(buf, want, 12);
    struct sn_pb_reader r;
    uint32_t a;
    uint64_t b;
    sn_pb_reader_init(&r, buf, sizeof(buf));
    CHECK_EQ(sn_pb_read_fixed32(&r, &a), 0);
    CHECK(a == 0x01020304u);
    CHECK_EQ(sn_pb_read_fixed64(&r, &b), 0);
    CHECK(b == 0x0102030405060708ull);
    CHECK_EQ(sn_pb_read_fixed32(&r, &a), -ENODATA);
    for (size_t k = 0; k < 8; k++) {
        sn_pb_reader_init(&r, buf, k);
        CHECK_EQ(sn_pb_read_fixed64(&r, &b), -ENODATA);
        if (k < 4)
            CHECK_EQ(sn_pb_read_fixed32(&r, &a), -ENODATA);
    }
    CHECK(sn_pb_f32_bits(-0.0f) == 0x80000000u);
    CHECK(sn_pb_f64_from(sn_pb_f64_bits(1.5)) == 1.5);
}

SN_TEST(length_delimited)
{
    struct sn_pb_reader r;
    const uint8_t *p;
    size_t len;
    const uint8_t ok[] = {0x03, 'a', 'b', 'c', 0x00};
    sn_pb_reader_init(&r, ok, sizeof(ok));
    CHECK_EQ(sn_pb_read_bytes(&r, &p, &len), 0);
    CHECK(p == ok + 1 && len == 3); /* zero copy */
    CHECK_EQ(sn_pb_read_bytes(&r, &p, &len), 0);
    CHECK_EQ(len, 0);
    CHECK_EQ(sn_pb_reader_left(&r), 0);
    /* length one more than what is left */
    const uint8_t over[] = {0x04, 'a', 'b', 'c'};
    sn_pb_reader_init(&r, over, sizeof(over));
    CHECK_EQ(sn_pb_read_bytes(&r, &p, &len), -EBADMSG);
    CHECK(r.p == over);
    /* 2^64-1 as a length: no pointer overflow */
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 'x'};
    sn_pb_reader_init(&r, huge, sizeof(huge));
    CHECK_EQ(sn_pb_read_bytes(&r, &p, &len), -EBADMSG);
    const uint8_t cut[] = {0x80};
    sn_pb_reader_init(&r, cut, sizeof(cut));
    CHECK_EQ(sn_pb_read_bytes(&r, &p, &len), -ENODATA);
}

SN_TEST(depth_limit)
{
    /* A LEN value containing a LEN value ... SN_PB_MAX_DEPTH + 1 levels. */
    enum { LEVELS = SN_PB_MAX_DEPTH + 1 };
    uint8_t buf[LEVELS];
    for (int i = 0; i < LEVELS; i++)
        buf[i] = (uint8_t)(LEVELS - 1 - i); /* each length covers the rest */
    struct sn_pb_reader r, sub;
    sn_pb_reader_init(&r, buf, sizeof(buf));
    int levels = 0, rc;
    while ((rc = sn_pb_read_sub(&r, &sub)) == 0 && sn_pb_reader_left(&sub)) {
        r = sub;
        levels++;
    }
    CHECK_EQ(rc, -ELOOP);
    CHECK_EQ(levels, SN_PB_MAX_DEPTH);
}

SN_TEST(skip)
{
    /* varint, fixed64, LEN (whose content is garbage: not parsed), fixed32, then a group */
    const uint8_t msg[] = {0x08, 0x96, 0x01, 0x11, 1, 2, 3, 4, 5, 6, 7, 8, 0x1a, 0x03, 0xff, 0xff, 0xff,
                           0x25, 1, 2, 3, 4, 0x2b};
    struct sn_pb_reader r;
    uint32_t fn;
    unsigned wt;
    int n = 0;
    sn_pb_reader_init(&r, msg, sizeof(msg));
    int rc;
    while ((rc = sn_pb_next_field(&r, &fn, &wt)) > 0) {
        CHECK_EQ(sn_pb_skip(&r, wt), 0);
        n++;
    }
    CHECK_EQ(n, 4);
    CHECK_EQ(rc, -EPROTONOSUPPORT);
    CHECK_EQ(sn_pb_skip(&r, SN_PB_SGROUP), -EPROTONOSUPPORT);
    CHECK_EQ(sn_pb_skip(&r, SN_PB_EGROUP), -EPROTONOSUPPORT);
    CHECK_EQ(sn_pb_skip(&r, 6), -EBADMSG);
    /* truncation at every byte of the first 4 fields: an error or a clean stop, never a read past */
    for (size_t k = 0; k < 22; k++) {
        uint8_t *copy = malloc(k ? k : 1); /* exact size: ASan sees any overread */
        memcpy(copy, msg, k);
        sn_pb_reader_init(&r, copy, k);
        while ((rc = sn_pb_next_field(&r, &fn, &wt)) > 0 && (rc = sn_pb_skip(&r, wt)) == 0)
            ;
        free(copy);
        int boundary = k == 0 || k == 3 || k == 12 || k == 17;
        if (boundary)
            CHECK_EQ(rc, 0);
        else
            CHECK(rc == -ENODATA || rc == -EBADMSG);
    }
}

SN_TEST(packed_count)
{
    size_t n = 99;
    const uint8_t v[] = {0x01, 0x96, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f};
    CHECK_EQ(sn_pb_packed_count(v, sizeof(v), SN_PB_VARINT, &n), 0);
    CHECK_EQ(n, 3);
    CHECK_EQ(sn_pb_packed_count(v, 2, SN_PB_VARINT, &n), -ENODATA);
    CHECK_EQ(sn_pb_packed_count(v, 0, SN_PB_VARINT, &n), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(sn_pb_packed_count(v, 8, SN_PB_I32, &n), 0);
    CHECK_EQ(n, 2);
    CHECK_EQ(sn_pb_packed_count(v, 7, SN_PB_I32, &n), -EBADMSG);
    CHECK_EQ(sn_pb_packed_count(v, 8, SN_PB_I64, &n), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(sn_pb_packed_count(v, 4, SN_PB_I64, &n), -EBADMSG);
    CHECK_EQ(sn_pb_packed_count(v, 4, SN_PB_LEN, &n), -EINVAL);
}

/* Packed and unpacked encodings of the same list read alike. */
static int read_int32s(const uint8_t *p, size_t len, int32_t *out, size_t max)
{
    struct sn_pb_reader r;
    uint32_t fn;
    unsigned wt;
    size_t n = 0;
    int rc;
    sn_pb_reader_init(&r, p, len);
    while ((rc = sn_pb_next_field(&r, &fn, &wt)) > 0) {
        uint64_t v;
        if (fn == 4 && wt == SN_PB_LEN) {
            struct sn_pb_reader s;
            if ((rc = sn_pb_read_sub(&r, &s)) < 0)
                return rc;
            while (sn_pb_reader_left(&s)) {
                if ((rc = sn_pb_read_varint(&s, &v)) < 0)
                    return rc;
                if (n < max)
                    out[n++] = (int32_t)(uint32_t)v;
            }
        } else if (fn == 4 && wt == SN_PB_VARINT) {
            if ((rc = sn_pb_read_varint(&r, &v)) < 0)
                return rc;
            if (n < max)
                out[n++] = (int32_t)(uint32_t)v;
        } else if ((rc = sn_pb_skip(&r, wt)) < 0) {
            return rc;
        }
    }
    return rc < 0 ? rc : (int)n;
}

SN_TEST(packed_and_unpacked_alike)
{
    const int32_t vals[] = {3, 270, -1, 86942};
    uint8_t packed[64], unpacked[64];
    struct sn_pb_writer w;
    size_t body = 0;
    for (size_t i = 0; i < 4; i++)
        body += sn_pb_varint_size((uint64_t)(int64_t)vals[i]);
    sn_pb_writer_init(&w, packed, sizeof(packed));
    CHECK_EQ(sn_pb_write_tag(&w, 4, SN_PB_LEN), 0);
    CHECK_EQ(sn_pb_write_varint(&w, body), 0);
    for (size_t i = 0; i < 4; i++)
        CHECK_EQ(sn_pb_write_varint(&w, (uint64_t)(int64_t)vals[i]), 0);
    size_t plen = sn_pb_writer_len(&w);
    CHECK_EQ(plen, sn_pb_tag_size(4) + sn_pb_len_size(body)); /* size first == written */
    /* the example of the protobuf encoding guide: 22 06 03 8E 02 9E A7 05, with -1 in it */
    const uint8_t head[] = {0x22, 0x10, 0x03, 0x8e, 0x02};
    CHECK_MEM(packed, head, 5);
    sn_pb_writer_init(&w, unpacked, sizeof(unpacked));
    for (size_t i = 0; i < 4; i++) {
        CHECK_EQ(sn_pb_write_tag(&w, 4, SN_PB_VARINT), 0);
        CHECK_EQ(sn_pb_write_varint(&w, (uint64_t)(int64_t)vals[i]), 0);
    }
    int32_t a[8], b[8];
    CHECK_EQ(read_int32s(packed, plen, a, 8), 4);
    CHECK_EQ(read_int32s(unpacked, sn_pb_writer_len(&w), b, 8), 4);
    CHECK_MEM(a, vals, sizeof(vals));
    CHECK_MEM(b, vals, sizeof(vals));
}

SN_TEST(writer_all_or_nothing)
{
    uint8_t buf[8];
    struct sn_pb_writer w;
    sn_pb_writer_init(&w, buf, 5);
    CHECK_EQ(sn_pb_write_bytes(&w, 1, "abcd", 4), -ENOSPC); /* 6 bytes needed */
    CHECK_EQ(sn_pb_writer_len(&w), 0);
    CHECK_EQ(sn_pb_write_bytes(&w, 1, "abc", 3), 0);
    const uint8_t want[] = {0x0a, 0x03, 'a', 'b', 'c'};
    CHECK_MEM(buf, want, 5);
    CHECK_EQ(sn_pb_write_varint(&w, 0), -ENOSPC);
    CHECK_EQ(sn_pb_write_raw(&w, "", 0), 0);
    CHECK_EQ(sn_pb_write_bytes(&w, 0, "", 0), -EINVAL);
}

SN_TEST(utf8)
{
    static const struct {
        const char *s;
        int ok;
    } c[] = {
        {"", 1}, {"ascii", 1}, {"h\xc3\xa9llo", 1}, {"\xe2\x9c\x93", 1}, {"\xf0\x9f\x8e\x89", 1},
        {"\xf4\x8f\xbf\xbf", 1},                  /* U+10FFFF */
        {"\xf4\x90\x80\x80", 0},                  /* U+110000 */
        {"\xc0\xaf", 0}, {"\xe0\x80\xaf", 0},     /* overlong '/' */
        {"\xed\xa0\x80", 0},                      /* surrogate D800 */
        {"\xc3", 0}, {"\xc3\x28", 0}, {"\x80", 0}, {"\xff", 0}, {"\xf8\x88\x80\x80\x80", 0},
    };
    for (size_t i = 0; i < SN_COUNTOF(c); i++)
        CHECK_EQ(sn_pb_utf8_check((const uint8_t *)c[i].s, strlen(c[i].s)), c[i].ok ? 0 : -EILSEQ);
}

SN_TEST(arena)
{
    _Alignas(16) uint8_t mem[64];
    struct sn_pb_arena a;
    sn_pb_arena_init(&a, mem, sizeof(mem));
    uint8_t *p1 = sn_pb_arena_alloc(&a, 3, 1, 1);
    CHECK(p1 == mem);
    uint64_t *p2 = sn_pb_arena_alloc(&a, 2, 8, 8);
    CHECK(p2 == (uint64_t *)(mem + 8));
    CHECK_EQ(a.used, 24);
    CHECK(sn_pb_arena_alloc(&a, 41, 1, 1) == NULL); /* 24 + 41 > 64 */
    CHECK_EQ(a.used, 24);
    CHECK(sn_pb_arena_alloc(&a, 40, 1, 1) != NULL);
    CHECK(sn_pb_arena_alloc(&a, 1, 1, 1) == NULL);
    sn_pb_arena_init(&a, mem, sizeof(mem));
    CHECK(sn_pb_arena_alloc(&a, SIZE_MAX / 2, 4, 4) == NULL); /* count * size overflows */
    CHECK(sn_pb_arena_alloc(&a, 0, 4, 4) == NULL);
    CHECK(sn_pb_arena_alloc(&a, 1, 4, 3) == NULL);           /* not a power of two */
    CHECK(sn_pb_arena_alloc(NULL, 1, 4, 4) == NULL);
    CHECK_STR(sn_pb_strerror(-ELOOP), "protobuf messages nested too deeply");
}
