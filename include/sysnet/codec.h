/* sysnet/codec.h — the protobuf wire format, byte by byte: varints, zigzag, tags,
 * little-endian fixed32/64, length-delimited fields, a reader over a byte slice,
 * a writer into a caller buffer, and a bump arena for decoders. `snc` (tools/snc)
 * compiles a .proto (proto3 subset) into C structs whose encode/size/decode
 * functions are written with the same rules, through the inline fast paths below
 * ("inline fast paths": a cursor and an end pointer in registers, no call per field).
 *
 * The wire format (https://protobuf.dev/programming-guides/encoding/):
 *   message := field*            field := tag value        tag := varint(field_no << 3 | wire_type)
 *   wire type 0 VARINT  int32 int64 uint32 uint64 sint32 sint64 bool enum
 *             1 I64     fixed64 sfixed64 double           (8 bytes, little endian)
 *             2 LEN     string bytes message packed-repeated  (varint length, then bytes)
 *             3/4 SGROUP/EGROUP (deprecated groups: refused, -EPROTONOSUPPORT)
 *             5 I32     fixed32 sfixed32 float            (4 bytes, little endian)
 *   A varint is 1..10 bytes, 7 bits each, least significant group first, the top
 *   bit set on every byte but the last. Negative int32/int64 are sign-extended to
 *   64 bits and always take 10 bytes; sint32/sint64 use zigzag to stay short.
 *
 * Errors (every decoding call; the reader is not advanced on failure):
 *   -ENODATA          the input ends inside a varint, a tag or a fixed32/64
 *   -EBADMSG          malformed: a varint longer than 10 bytes or whose 10th byte
 *                     is not 0 or 1 (more than 64 bits), a length larger than the
 *                     bytes left, field number 0 or > 2^29-1, wire type 6 or 7,
 *                     a packed fixed32/64 list whose length is not a multiple of 4/8
 *   -EPROTONOSUPPORT  wire type 3 or 4 (a group): never skipped, refused
 *   -ELOOP            messages nested deeper than SN_PB_MAX_DEPTH (sn_pb_read_sub)
 *   -EILSEQ           a string field that is not valid UTF-8 (sn_pb_utf8_check)
 *   -ENOSPC           writer: the caller's buffer is too small
 *   -ENOMEM           decoder: the caller's arena is too small
 * Non-minimal varints of at most 10 bytes (0x80 0x00 for 0) are accepted, as
 * protobuf's own parsers accept them; the writer always emits the minimal form.
 *
 * Skipping unknown fields (sn_pb_skip) is O(1) per field: a LEN field is jumped
 * over by its length, its content is NOT parsed (so an unknown field's garbage or
 * nesting costs nothing and cannot recurse); a group (3/4) is refused rather than
 * scanned for its end tag. The depth limit therefore applies to the messages a
 * decoder actually descends into: every sn_pb_read_sub() adds one level.
 *
 * Ownership: a reader borrows the caller's bytes; sn_pb_read_bytes() returns a
 * slice INTO them (zero copy), valid as long as the input buffer is. A writer
 * writes into the caller's buffer. The arena is caller memory handed out by bumping
 * a pointer. Nothing here allocates; every function is pure or touches only the
 * struct it is given, so any number of threads may use distinct readers/writers.
 *
 * Size first: sn_pb_*_size() compute encoded sizes without writing (as protobuf-c's
 * get_packed_size), so an encoder sizes a nested message, writes its length, then
 * the message; and a caller can size its buffer exactly before encoding.
 */
#ifndef SYSNET_CODEC_H
#define SYSNET_CODEC_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sysnet/base.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    SN_PB_VARINT = 0, /* wire types */
    SN_PB_I64 = 1,
    SN_PB_LEN = 2,
    SN_PB_SGROUP = 3,
    SN_PB_EGROUP = 4,
    SN_PB_I32 = 5,
};
#define SN_PB_MAX_VARINT 10                 /* bytes in the longest varint (64 bits) */
#define SN_PB_MAX_FIELD  ((1u << 29) - 1)   /* largest field number */
#define SN_PB_MAX_DEPTH  100                /* nesting limit, protobuf's default recursion limit */

/* A borrowed byte slice: strings and bytes fields, zero copy. */
struct sn_pb_slice {
    const uint8_t *ptr; /* into the decoded input (or the caller's data, to encode) */
    size_t len;         /* bytes; a string is UTF-8 and NOT NUL-terminated */
};

/* ---- varints and zigzag ---------------------------------------------- */

/* Decode one varint from p[0..len). Returns the bytes consumed (1..10) with *v set,
 * -ENODATA if p ends inside it, -EBADMSG if longer than 10 bytes or over 64 bits. */
int sn_pb_varint_decode(const uint8_t *p, size_t len, uint64_t *v);
/* Encode v minimally. Returns the bytes written (1..10) or -ENOSPC. */
int sn_pb_varint_encode(uint64_t v, uint8_t *p, size_t cap);
/* Bytes the minimal varint of v takes (1..10). */
static inline size_t sn_pb_varint_size(uint64_t v)
{
    /* 1 + floor(log2(v|1)) / 7, without a loop: (bits * 9 + 73) / 64 == ceil(bits / 7). */
    return (size_t)(((unsigned)(63 - __builtin_clzll(v | 1)) * 9 + 73) / 64);
}
/* ZigZag (sint32/sint64): 0,-1,1,-2,... -> 0,1,2,3,... */
static inline uint32_t sn_pb_zigzag32(int32_t v) { return ((uint32_t)v << 1) ^ (uint32_t)-(int32_t)((uint32_t)v >> 31); }
static inline uint64_t sn_pb_zigzag64(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)-(int64_t)((uint64_t)v >> 63); }
static inline int32_t sn_pb_unzigzag32(uint32_t v) { return (int32_t)((v >> 1) ^ (uint32_t)-(int32_t)(v & 1)); }
static inline int64_t sn_pb_unzigzag64(uint64_t v) { return (int64_t)((v >> 1) ^ (uint64_t)-(int64_t)(v & 1)); }
/* The bits of a float/double (proto3 emits a float unless all its bits are 0: -0.0 is sent). */
static inline uint32_t sn_pb_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline uint64_t sn_pb_f64_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static inline float sn_pb_f32_from(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline double sn_pb_f64_from(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

/* ---- sizes (nothing written) ------------------------------------------- */

/* Bytes of the tag of field_no (1..5). */
static inline size_t sn_pb_tag_size(uint32_t field_no) { return sn_pb_varint_size((uint64_t)field_no << 3); }
/* Bytes of a length prefix plus n bytes of content. */
static inline size_t sn_pb_len_size(size_t n) { return sn_pb_varint_size(n) + n; }

/* ---- reader -------------------------------------------------------------- */

struct sn_pb_reader {
    const uint8_t *p;   /* next byte to read */
    const uint8_t *end; /* one past the last byte of this message */
    int depth;          /* nesting level: 0 for the outermost message */
};

static inline void sn_pb_reader_init(struct sn_pb_reader *r, const void *buf, size_t len)
{
    r->p = (const uint8_t *)buf;
    r->end = r->p + len;
    r->depth = 0;
}
/* Bytes left in the message. */
static inline size_t sn_pb_reader_left(const struct sn_pb_reader *r) { return (size_t)(r->end - r->p); }

/* Read the next tag. Returns 1 with *field_no (1..2^29-1) and *wire_type set, 0 at the
 * end of the message, or -ENODATA / -EBADMSG / -EPROTONOSUPPORT (a group). */
int sn_pb_next_field(struct sn_pb_reader *r, uint32_t *field_no, unsigned *wire_type);
/* Values, after a tag of the matching wire type. Return 0 or a negative errno. */
int sn_pb_read_varint(struct sn_pb_reader *r, uint64_t *v);
int sn_pb_read_fixed32(struct sn_pb_reader *r, uint32_t *v);
int sn_pb_read_fixed64(struct sn_pb_reader *r, uint64_t *v);
/* A LEN value: *p points into the input (zero copy), *len bytes. -EBADMSG when the
 * length is larger than what is left. */
int sn_pb_read_bytes(struct sn_pb_reader *r, const uint8_t **p, size_t *len);
/* A LEN value read as a nested message: *sub reads its bytes one level deeper;
 * -ELOOP past SN_PB_MAX_DEPTH. */
int sn_pb_read_sub(struct sn_pb_reader *r, struct sn_pb_reader *sub);
/* Skip the value of an unknown field (see "Skipping" above). -EPROTONOSUPPORT for
 * a group, -EBADMSG for wire types 6 and 7. */
int sn_pb_skip(struct sn_pb_reader *r, unsigned wire_type);
/* Count the elements of a packed repeated field's content: varints (wire_type 0:
 * -ENODATA if it ends inside one), or fixed 4/8-byte values (5/1: -EBADMSG when
 * len is not a multiple). The decoder sizes its arrays with this before filling. */
int sn_pb_packed_count(const uint8_t *p, size_t len, unsigned wire_type, size_t *count);
/* 0 if p[0..len) is valid UTF-8 (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF), else -EILSEQ. proto3 requires it of string fields. */
int sn_pb_utf8_check(const uint8_t *p, size_t len);

/* ---- writer -------------------------------------------------------------- */

struct sn_pb_writer {
    uint8_t *start; /* the caller's buffer */
    uint8_t *p;     /* next byte to write */
    uint8_t *end;   /* one past the buffer */
};

static inline void sn_pb_writer_init(struct sn_pb_writer *w, void *buf, size_t cap)
{
    w->start = w->p = (uint8_t *)buf;
    w->end = w->p + cap;
}
/* Bytes written so far. */
static inline size_t sn_pb_writer_len(const struct sn_pb_writer *w) { return (size_t)(w->p - w->start); }

/* Each returns 0, or -ENOSPC when the value does not fit (nothing is written then),
 * or -EINVAL for a field number or wire type out of range (groups, 3/4, included). */
int sn_pb_write_varint(struct sn_pb_writer *w, uint64_t v);
int sn_pb_write_tag(struct sn_pb_writer *w, uint32_t field_no, unsigned wire_type);
int sn_pb_write_fixed32(struct sn_pb_writer *w, uint32_t v);
int sn_pb_write_fixed64(struct sn_pb_writer *w, uint64_t v);
int sn_pb_write_raw(struct sn_pb_writer *w, const void *p, size_t n);
/* A whole LEN field: tag, length, the n bytes. */
int sn_pb_write_bytes(struct sn_pb_writer *w, uint32_t field_no, const void *p, size_t n);

/* ---- inline fast paths (what snc's generated code calls) ------------------------
 * The same rules and error codes as the functions above, written for a cursor p
 * and an end pointer kept in registers; the rare and long cases fall back to the
 * out-of-line functions. The writers are UNCHECKED: the caller has made sure the
 * bytes fit (the generated encoders size the whole message once, then write). */

/* Decode one varint at p (p <= end). Returns the bytes consumed (1..10) with *v set,
 * or -ENODATA / -EBADMSG as sn_pb_varint_decode(). */
static inline int sn_pb_varint_get(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    if (SN_LIKELY(p < end) && !(p[0] & 0x80)) {
        *v = p[0];
        return 1;
    }
    if (SN_LIKELY((size_t)(end - p) >= SN_PB_MAX_VARINT)) {
        uint64_t x = p[0] & 0x7f;
        for (int i = 1; i < SN_PB_MAX_VARINT - 1; i++) {
            uint64_t b = p[i];
            x |= (b & 0x7f) << (7 * i);
            if (!(b & 0x80)) {
                *v = x;
                return i + 1;
            }
        }
        if (p[SN_PB_MAX_VARINT - 1] > 1) /* the 10th byte holds bit 63 only */
            return -EBADMSG;
        *v = x | ((uint64_t)p[SN_PB_MAX_VARINT - 1] << 63);
        return SN_PB_MAX_VARINT;
    }
    /* Fewer than 10 bytes left: the same loop, bounded by the end. */
    uint64_t x = 0;
    size_t left = (size_t)(end - p);
    for (size_t i = 0; i < left; i++) {
        uint64_t b = p[i];
        x |= (b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = x;
            return (int)i + 1;
        }
    }
    return -ENODATA;
}

/* Skip the value of a field whose tag t (a full varint value, field_no << 3 | wire
 * type) was just read, *pp at its value: the tag is checked as sn_pb_next_field()
 * does (-EBADMSG for field 0, over 32 bits, wire type 6/7; -EPROTONOSUPPORT for a
 * group), then the value is skipped as sn_pb_skip() does (a LEN value by its length,
 * unparsed). */
static inline int sn_pb_skip_tagged(uint64_t t, const uint8_t **pp, const uint8_t *end)
{
    const uint8_t *p = *pp;
    uint64_t v;
    int n;
    if (t > UINT32_MAX || (t >> 3) == 0)
        return -EBADMSG;
    switch (t & 7) {
    case SN_PB_VARINT:
        n = sn_pb_varint_get(p, end, &v);
        if (n < 0)
            return n;
        p += n;
        break;
    case SN_PB_I64:
        if (end - p < 8)
            return -ENODATA;
        p += 8;
        break;
    case SN_PB_LEN:
        n = sn_pb_varint_get(p, end, &v);
        if (n < 0)
            return n;
        p += n;
        if (v > (uint64_t)(end - p))
            return -EBADMSG;
        p += v;
        break;
    case SN_PB_I32:
        if (end - p < 4)
            return -ENODATA;
        p += 4;
        break;
    case SN_PB_SGROUP:
    case SN_PB_EGROUP:
        return -EPROTONOSUPPORT;
    default:
        return -EBADMSG;
    }
    *pp = p;
    return 0;
}

/* sn_pb_utf8_check() with an ASCII fast path. */
static inline int sn_pb_utf8_ok(const uint8_t *p, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        if (x & 0x8080808080808080ULL)
            break;
    }
    for (; i < len; i++)
        if (p[i] & 0x80)
            return sn_pb_utf8_check(p + i, len - i);
    return 0;
}

/* Write v as a minimal varint at p; returns the end. Unchecked. */
static inline uint8_t *sn_pb_put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}
/* Little-endian fixed32/64 at p; return the end. Unchecked. */
static inline uint8_t *sn_pb_put_fixed32(uint8_t *p, uint32_t v)
{
    sn_store_le32(p, v);
    return p + 4;
}
static inline uint8_t *sn_pb_put_fixed64(uint8_t *p, uint64_t v)
{
    sn_store_le64(p, v);
    return p + 8;
}
/* n bytes at p (src may be NULL when n is 0); returns the end. Unchecked. */
static inline uint8_t *sn_pb_put_raw(uint8_t *p, const void *src, size_t n)
{
    if (n)
        memcpy(p, src, n);
    return p + n;
}

/* ---- arena: where decoders put arrays and nested messages --------------------- */

struct sn_pb_arena {
    uint8_t *base; /* the caller's buffer */
    size_t cap;    /* its size */
    size_t used;   /* bytes handed out; reset to 0 (or a saved value) to reuse */
};

static inline void sn_pb_arena_init(struct sn_pb_arena *a, void *buf, size_t cap)
{
    a->base = (uint8_t *)buf;
    a->cap = cap;
    a->used = 0;
}
/* count * size bytes aligned to align (a power of two), zeroed; NULL when the arena is
 * too small (or NULL) or count * size overflows. count 0 returns NULL too (nothing to hold). */
void *sn_pb_arena_alloc(struct sn_pb_arena *a, size_t count, size_t size, size_t align);

/* sn_pb_arena_alloc() inline, WITHOUT zeroing: for decoders that write every byte
 * they take (or give the block back on failure). Same checks, same NULL cases. */
static inline void *sn_pb_arena_take(struct sn_pb_arena *a, size_t count, size_t size, size_t align)
{
    if (!a || count == 0 || size == 0 || align == 0 || (align & (align - 1)))
        return NULL;
    if (count > SIZE_MAX / size)
        return NULL;
    size_t n = count * size;
    uintptr_t base = (uintptr_t)a->base;
    size_t off = (size_t)(((base + a->used + align - 1) & ~(uintptr_t)(align - 1)) - base);
    if (off > a->cap || n > a->cap - off)
        return NULL;
    a->used = off + n;
    return a->base + off;
}

/* A one-line reason for an error of this module ("truncated protobuf (...)"); other
 * codes fall back to sn_strerror(). Static strings, never NULL. */
const char *sn_pb_strerror(int err);

/* ---- the flat layout (snc --flat): generic pieces of every generated verifier ----
 *
 * A flat buffer (SBE's idea; FlatBuffers' verifier) is read in place, no decoding:
 *
 *   header (16 bytes, little endian)      root table           variable data
 *   +-------+--------+-------+--------+   +-----------------+  +------------------ ...
 *   | magic | layout | total | 0      |   | fixed fields at |  | strings, arrays,
 *   | SNFL  | hash   | size  | (rsvd) |   | fixed offsets   |  | nested tables
 *   +-------+--------+-------+--------+   +-----------------+  +------------------ ...
 *
 * A TABLE is the fixed part of one message: every field at an offset known at
 * compile time, little endian, naturally aligned (8-byte fields first, then 4, then
 * 1; tables and arrays are placed at their alignment; padding is zero). Readers use
 * byte loads (sn_load_le32), so alignment is a speed matter, never a safety one.
 * A variable field holds a u32 OFFSET relative to the start of the table that owns
 * it (0: none) and a u32 length/count: a string or bytes (off, len); a nested
 * message (off) to its table; repeated scalars (off, count) to packed elements;
 * repeated strings (off, count) to count (off, len) entries; repeated messages
 * (off, count) to count tables side by side (an SBE repeating group). Offsets point
 * FORWARD, and regions come in one canonical order (depth first, fields in schema
 * order) without overlap: the verifier walks them with one cursor that only moves
 * forward, so verification is linear in the buffer size, cycles and shared regions
 * are impossible, and a count can never exceed the bytes it claims (a table is at
 * least 1 byte). Nesting is limited to SN_FLAT_MAX_DEPTH levels below the root.
 *
 * Errors: -ENODATA the buffer is shorter than its header says (truncated);
 * -EBADMSG anything else (magic, layout hash, an offset or length out of bounds,
 * backwards or overlapping, a bool that is not 0/1, bad UTF-8, too deep).
 */
#define SN_FLAT_MAGIC     0x4c464e53u /* "SNFL" as stored (little endian) */
#define SN_FLAT_HDR_SIZE  16
#define SN_FLAT_MAX_DEPTH SN_PB_MAX_DEPTH
#define SN_FLAT_MAX_SIZE  ((size_t)INT32_MAX) /* offsets are u32; returns are int */

/* pos rounded up to align (a power of two). */
static inline size_t sn_flat_align(size_t pos, size_t align) { return (pos + align - 1) & ~(align - 1); }
/* Writers: place size bytes at the next multiple of align after *cur; returns where. */
static inline size_t sn_flat_reserve(size_t *cur, size_t size, size_t align)
{
    size_t at = sn_flat_align(*cur, align);
    *cur = at + size;
    return at;
}
/* Check the header of b[0..len): -ENODATA if len < 16 or the total size it states is
 * larger than len; -EBADMSG for a wrong magic or layout hash, a non-zero reserved word,
 * or a total smaller than header + root_size. Sets *total (bytes the buffer uses). */
int sn_flat_header_check(const uint8_t *b, size_t len, uint32_t hash, size_t root_size, size_t *total);
/* Write the 16-byte header. */
void sn_flat_header_write(uint8_t *b, uint32_t hash, uint32_t total);
/* One region of `count` elements of `elem_size` bytes, referenced from the table at
 * absolute position t by relative offset off: off 0 means none and needs count 0;
 * otherwise t + off must be at or after *cur and the region must end by total. On
 * success *cur moves to its end. -EBADMSG otherwise. */
int sn_flat_region(size_t t, uint32_t off, uint32_t count, size_t elem_size, size_t total, size_t *cur);
/* 0 if each of p[0..n) is 0 or 1 (bools, presence bytes), else -EBADMSG. */
int sn_flat_bools_check(const uint8_t *p, size_t n);
/* A one-line reason for a flat-layout error code. */
const char *sn_flat_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_CODEC_H */
