/* pb.c — protobuf wire primitives: varints, tags, fixed32/64, length-delimited
 * values, skipping unknown fields, packed counts, UTF-8 checks, the writer and the
 * arena. The rules quoted are from https://protobuf.dev/programming-guides/encoding/. */
#include <sysnet/codec.h>

int sn_pb_varint_decode(const uint8_t *p, size_t len, uint64_t *v)
{
    uint64_t x = 0;
    size_t n = SN_MIN(len, (size_t)SN_PB_MAX_VARINT);
    for (size_t i = 0; i < n; i++) {
        uint8_t b = p[i];
        if (i == SN_PB_MAX_VARINT - 1) {
            /* The 10th byte holds bit 63 only: 0 or 1, and it must end the varint. */
            if (b > 1)
                return -EBADMSG;
            *v = x | ((uint64_t)b << 63);
            return SN_PB_MAX_VARINT;
        }
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = x;
            return (int)i + 1;
        }
    }
    return -ENODATA;
}

int sn_pb_varint_encode(uint64_t v, uint8_t *p, size_t cap)
{
    size_t n = sn_pb_varint_size(v);
    if (cap < n)
        return -ENOSPC;
    for (size_t i = 0; i + 1 < n; i++) {
        p[i] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n - 1] = (uint8_t)v;
    return (int)n;
}

/* ---- reader ---------------------------------------------------------------- */

int sn_pb_next_field(struct sn_pb_reader *r, uint32_t *field_no, unsigned *wire_type)
{
    uint64_t t;
    if (r->p == r->end)
        return 0;
    int n = sn_pb_varint_decode(r->p, sn_pb_reader_left(r), &t);
    if (n < 0)
        return n;
    /* A tag is a uint32: field numbers stop at 2^29-1. */
    if (t > UINT32_MAX || (t >> 3) == 0)
        return -EBADMSG;
    unsigned wt = (unsigned)(t & 7);
    if (wt == SN_PB_SGROUP || wt == SN_PB_EGROUP)
        return -EPROTONOSUPPORT;
    if (wt > SN_PB_I32)
        return -EBADMSG;
    r->p += n;
    *field_no = (uint32_t)(t >> 3);
    *wire_type = wt;
    return 1;
}

int sn_pb_read_varint(struct sn_pb_reader *r, uint64_t *v)
{
    int n = sn_pb_varint_decode(r->p, sn_pb_reader_left(r), v);
    if (n < 0)
        return n;
    r->p += n;
    return 0;
}

int sn_pb_read_fixed32(struct sn_pb_reader *r, uint32_t *v)
{
    if (sn_pb_reader_left(r) < 4)
        return -ENODATA;
    *v = sn_load_le32(r->p);
    r->p += 4;
    return 0;
}

int sn_pb_read_fixed64(struct sn_pb_reader *r, uint64_t *v)
{
    if (sn_pb_reader_left(r) < 8)
        return -ENODATA;
    *v = sn_load_le64(r->p);
    r->p += 8;
    return 0;
}

int sn_pb_read_bytes(struct sn_pb_reader *r, const uint8_t **p, size_t *len)
{
    uint64_t l;
    int n = sn_pb_varint_decode(r->p, sn_pb_reader_left(r), &l);
    if (n < 0)
        return n;
    /* Compare against what is left, never add to a pointer first: no overflow. */
    if (l > sn_pb_reader_left(r) - (size_t)n)
        return -EBADMSG;
    *p = r->p + n;
    *len = (size_t)l;
    r->p += (size_t)n + (size_t)l;
    return 0;
}

int sn_pb_read_sub(struct sn_pb_reader *r, struct sn_pb_reader *sub)
{
    if (r->depth >= SN_PB_MAX_DEPTH)
        return -ELOOP;
    const uint8_t *p;
    size_t len;
    int rc = sn_pb_read_bytes(r, &p, &len);
    if (rc < 0)
        return rc;
    sub->p = p;
    sub->end = p + len;
    sub->depth = r->depth + 1;
    return 0;
}

int sn_pb_skip(struct sn_pb_reader *r, unsigned wire_type)
{
    uint64_t v;
    const uint8_t *p;
    size_t len;
    switch (wire_type) {
    case SN_PB_VARINT:
        return sn_pb_read_varint(r, &v);
    case SN_PB_I64:
        return sn_pb_read_fixed64(r, &v);
    case SN_PB_LEN:
        return sn_pb_read_bytes(r, &p, &len); /* content not parsed: O(1), no recursion */
    case SN_PB_I32:
        if (sn_pb_reader_left(r) < 4)
            return -ENODATA;
        r->p += 4;
        return 0;
    case SN_PB_SGROUP:
    case SN_PB_EGROUP:
        return -EPROTONOSUPPORT; /* would mean scanning for the matching end tag */
    default:
        return -EBADMSG;
    }
}

int sn_pb_packed_count(const uint8_t *p, size_t len, unsigned wire_type, size_t *count)
{
    size_t n = 0;
    switch (wire_type) {
    case SN_PB_VARINT:
        /* One element per byte without the continuation bit; each varint is then
         * checked (length, 10th byte) when it is read. */
        for (size_t i = 0; i < len; i++)
            n += !(p[i] & 0x80);
        if (len && (p[len - 1] & 0x80))
            return -ENODATA;
        break;
    case SN_PB_I32:
        if (len % 4)
            return -EBADMSG;
        n = len / 4;
        break;
    case SN_PB_I64:
        if (len % 8)
            return -EBADMSG;
        n = len / 8;
        break;
    default:
        return -EINVAL;
    }
    *count = n;
    return 0;
}

int sn_pb_utf8_check(const uint8_t *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) {
            n = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return -EILSEQ;
        }
        if (len - i < n)
            return -EILSEQ;
        for (size_t k = 1; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return -EILSEQ;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        /* RFC 3629 §3: no overlong forms, no surrogates, nothing past U+10FFFF. */
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return -EILSEQ;
        i += n;
    }
    return 0;
}

/* ---- writer ---------------------------------------------------------------- */

static size_t room(const struct sn_pb_writer *w) { return (size_t)(w->end - w->p); }

int sn_pb_write_varint(struct sn_pb_writer *w, uint64_t v)
{
    int n = sn_pb_varint_encode(v, w->p, room(w));
    if (n < 0)
        return n;
    w->p += n;
    return 0;
}

int sn_pb_write_tag(struct sn_pb_writer *w, uint32_t field_no, unsigned wire_type)
{
    if (field_no == 0 || field_no > SN_PB_MAX_FIELD || wire_type > SN_PB_I32 ||
        wire_type == SN_PB_SGROUP || wire_type == SN_PB_EGROUP) /* we never write groups */
        return -EINVAL;
    return sn_pb_write_varint(w, (uint64_t)field_no << 3 | wire_type);
}

int sn_pb_write_fixed32(struct sn_pb_writer *w, uint32_t v)
{
    if (room(w) < 4)
        return -ENOSPC;
    sn_store_le32(w->p, v);
    w->p += 4;
    return 0;
}

int sn_pb_write_fixed64(struct sn_pb_writer *w, uint64_t v)
{
    if (room(w) < 8)
        return -ENOSPC;
    sn_store_le64(w->p, v);
    w->p += 8;
    return 0;
}

int sn_pb_write_raw(struct sn_pb_writer *w, const void *p, size_t n)
{
    if (room(w) < n)
        return -ENOSPC;
    if (n)
        memcpy(w->p, p, n);
    w->p += n;
    return 0;
}

int sn_pb_write_bytes(struct sn_pb_writer *w, uint32_t field_no, const void *p, size_t n)
{
    if (field_no == 0 || field_no > SN_PB_MAX_FIELD)
        return -EINVAL;
    size_t need = sn_pb_tag_size(field_no) + sn_pb_len_size(n);
    if (n > room(w) || room(w) < need) /* all or nothing */
        return -ENOSPC;
    sn_pb_write_tag(w, field_no, SN_PB_LEN);
    sn_pb_write_varint(w, n);
    return sn_pb_write_raw(w, p, n);
}

/* ---- arena ----------------------------------------------------------------- */

void *sn_pb_arena_alloc(struct sn_pb_arena *a, size_t count, size_t size, size_t align)
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
    void *p = a->base + off;
    memset(p, 0, n);
    return p;
}

const char *sn_pb_strerror(int err)
{
    switch (err < 0 ? -err : err) {
    case 0: return "ok";
    case ENODATA: return "truncated protobuf (input ends inside a tag or value)";
    case EBADMSG: return "malformed protobuf (bad varint, tag, length or packed list)";
    case EPROTONOSUPPORT: return "protobuf groups (wire types 3/4) are not supported";
    case ELOOP: return "protobuf messages nested too deeply";
    case EILSEQ: return "string field is not valid UTF-8";
    case ENOSPC: return "output buffer too small";
    case ENOMEM: return "decode arena too small";
    default: return sn_strerror(err);
    }
}
