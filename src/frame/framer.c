/* framer.c — the streaming frame decoder (length-prefixed, varint, delimited,
 * fixed records), the frame encoders, COBS and LEB128 varints. See frame.h for
 * the contract: zero copy when a frame is inside one push, the maximum checked on
 * the header, sticky errors for length framings, resync for delimited ones. */
#include <sysnet/frame.h>

#include <errno.h>
#include <string.h>

/* ---- varint --------------------------------------------------------------- */

int sn_frame_varint_put(uint8_t out[10], uint64_t v)
{
    int n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

int sn_frame_varint_get(const uint8_t *p, size_t len, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < 10; i++) {
        if (i == len)
            return 0;
        uint8_t b = p[i];
        /* The 10th byte carries bit 63 only: anything more overflows 64 bits. */
        if (i == 9 && b > 1)
            return -EBADMSG;
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = x;
            return (int)i + 1;
        }
    }
    return -EBADMSG;
}

/* ---- COBS ----------------------------------------------------------------- */

ssize_t sn_cobs_encode(const void *src, size_t n, void *dst, size_t cap)
{
    const uint8_t *s = src;
    uint8_t *d = dst;
    if (cap < sn_cobs_max(n))
        return -ENOBUFS;
    size_t code_at = 0, o = 1;
    uint8_t code = 1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == 0) {
            d[code_at] = code;
            code_at = o++;
            code = 1;
            continue;
        }
        d[o++] = s[i];
        /* A full block of 254: a new code byte, unless the input ends here. */
        if (++code == 0xff && i + 1 < n) {
            d[code_at] = code;
            code_at = o++;
            code = 1;
        }
    }
    d[code_at] = code;
    return (ssize_t)o;
}

ssize_t sn_cobs_decode(const void *src, size_t n, void *dst, size_t cap)
{
    const uint8_t *s = src;
    uint8_t *d = dst;
    size_t i = 0, o = 0;
    while (i < n) {
        uint8_t code = s[i++];
        if (code == 0)
            return -EBADMSG;
        size_t run = (size_t)code - 1;
        if (run > n - i)
            return -EBADMSG;
        if (memchr(s + i, 0, run))
            return -EBADMSG;
        if (run > cap - o)
            return -ENOBUFS;
        memmove(d + o, s + i, run); /* o <= i - 1: in place is safe */
        o += run;
        i += run;
        if (code != 0xff && i < n) {
            if (o == cap)
                return -ENOBUFS;
            d[o++] = 0;
        }
    }
    return (ssize_t)o;
}

/* ---- options -------------------------------------------------------------- */

int sn_frame_opts_check(const struct sn_frame_opts *o)
{
    if (!o)
        return -EINVAL;
    switch (o->kind) {
    case SN_FRAME_LEN:
        if (o->len_bytes != 1 && o->len_bytes != 2 && o->len_bytes != 4 && o->len_bytes != 8)
            return -EINVAL;
        /* fall through */
    case SN_FRAME_VARINT:
    case SN_FRAME_DELIM:
        if (o->max_frame == 0 || o->max_frame > (SIZE_MAX / 2))
            return -EINVAL;
        if (o->kind == SN_FRAME_DELIM && o->cobs && o->delim != 0)
            return -EINVAL;
        return 0;
    case SN_FRAME_FIXED:
        return o->record_size ? 0 : -EINVAL;
    default:
        return -EINVAL;
    }
}

/* Encoded bytes a delimited frame may have before its delimiter. */
static size_t delim_limit(const struct sn_frame_opts *o)
{
    return o->cobs ? sn_cobs_max(o->max_frame) : o->max_frame;
}

ssize_t sn_frame_bufsize(const struct sn_frame_opts *o)
{
    int rc = sn_frame_opts_check(o);
    if (rc < 0)
        return rc;
    switch (o->kind) {
    case SN_FRAME_DELIM:
        return (ssize_t)delim_limit(o);
    case SN_FRAME_FIXED:
        return (ssize_t)o->record_size;
    default:
        return (ssize_t)o->max_frame;
    }
}

/* ---- decoder -------------------------------------------------------------- */

int sn_framer_init(struct sn_framer *f, const struct sn_frame_opts *o, void *buf, size_t cap)
{
    ssize_t need = sn_frame_bufsize(o);
    if (need < 0)
        return (int)need;
    if (cap < (size_t)need || !buf)
        return -EINVAL;
    memset(f, 0, sizeof(*f));
    f->o = *o;
    f->buf = buf;
    f->cap = cap;
    if (o->kind == SN_FRAME_FIXED)
        f->need = o->record_size;
    return 0;
}

void sn_framer_reset(struct sn_framer *f)
{
    f->have = 0;
    f->in = NULL;
    f->in_len = f->in_off = 0;
    f->hdr_have = 0;
    f->in_body = 0;
    f->skipping = 0;
    f->err = 0;
    f->need = f->o.kind == SN_FRAME_FIXED ? f->o.record_size : 0;
}

int sn_framer_push(struct sn_framer *f, const void *data, size_t len)
{
    if (f->err)
        return f->err;
    if (f->in_off < f->in_len)
        return -EBUSY;
    f->in = data;
    f->in_len = data ? len : 0;
    f->in_off = 0;
    return 0;
}

size_t sn_framer_buffered(const struct sn_framer *f)
{
    return f->have + f->hdr_have + (f->in_len - f->in_off);
}

static int fail(struct sn_framer *f, int err, int sticky)
{
    f->errors++;
    if (sticky)
        f->err = err;
    return err;
}

static int emit(struct sn_framer *f, const uint8_t *p, size_t n, const uint8_t **frame, size_t *len)
{
    f->frames++;
    if (p == f->buf)
        f->copied++;
    *frame = p;
    *len = n;
    return 1;
}

/* The payload of `need` bytes, from the pushed data if it is all there and nothing
 * is buffered, otherwise accumulated in buf. 1 frame, 0 need more. */
static int body(struct sn_framer *f, const uint8_t **frame, size_t *len)
{
    size_t avail = f->in_len - f->in_off;
    size_t need = (size_t)f->need;
    if (f->have == 0 && avail >= need) {
        const uint8_t *p = f->in ? f->in + f->in_off : f->buf;
        f->in_off += need;
        return emit(f, p, need, frame, len);
    }
    size_t take = SN_MIN(need - f->have, avail);
    if (take) {
        memcpy(f->buf + f->have, f->in + f->in_off, take);
        f->have += take;
        f->in_off += take;
    }
    if (f->have < need)
        return 0;
    f->have = 0;
    return emit(f, f->buf, need, frame, len);
}

/* Parses the header, byte by byte across pushes. 1 done (f->need set), 0 need more. */
static int header(struct sn_framer *f)
{
    const struct sn_frame_opts *o = &f->o;
    uint64_t v;
    unsigned hlen;
    if (o->kind == SN_FRAME_LEN) {
        hlen = o->len_bytes;
        size_t take = SN_MIN((size_t)(hlen - f->hdr_have), f->in_len - f->in_off);
        if (take)
            memcpy(f->hdr + f->hdr_have, f->in + f->in_off, take);
        f->hdr_have += (unsigned)take;
        f->in_off += take;
        if (f->hdr_have < hlen)
            return 0;
        const uint8_t *h = f->hdr;
        switch (hlen) {
        case 1: v = h[0]; break;
        case 2: v = o->big_endian ? sn_load_be16(h) : sn_load_le16(h); break;
        case 4: v = o->big_endian ? sn_load_be32(h) : sn_load_le32(h); break;
        default: v = o->big_endian ? sn_load_be64(h) : sn_load_le64(h); break;
        }
    } else {
        int rc = 0;
        while (f->in_off < f->in_len) {
            f->hdr[f->hdr_have++] = f->in[f->in_off++];
            rc = sn_frame_varint_get(f->hdr, f->hdr_have, &v);
            if (rc != 0)
                break;
        }
        if (rc < 0)
            return fail(f, rc, 1);
        if (rc == 0)
            return 0;
        hlen = (unsigned)rc;
    }
    f->hdr_have = 0;
    if (o->len_includes_header) {
        if (v < hlen)
            return fail(f, -EBADMSG, 1);
        v -= hlen;
    }
    /* The maximum is enforced here, before a byte of the payload is buffered. */
    if (v > o->max_frame)
        return fail(f, -EMSGSIZE, 1);
    f->need = v;
    f->in_body = 1;
    return 1;
}

static int next_len(struct sn_framer *f, const uint8_t **frame, size_t *len)
{
    if (!f->in_body) {
        int rc = header(f);
        if (rc <= 0)
            return rc;
    }
    int rc = body(f, frame, len);
    if (rc == 1)
        f->in_body = 0;
    return rc;
}

static int next_delim(struct sn_framer *f, const uint8_t **frame, size_t *len)
{
    const struct sn_frame_opts *o = &f->o;
    size_t limit = delim_limit(o);
    for (;;) {
        size_t avail = f->in_len - f->in_off;
        if (avail == 0)
            return 0;
        const uint8_t *p = f->in + f->in_off;
        const uint8_t *q = memchr(p, o->delim, avail);
        if (f->skipping) {
            if (!q) {
                f->in_off = f->in_len;
                return 0;
            }
            f->in_off += (size_t)(q - p) + 1;
            f->skipping = 0;
            continue;
        }
        if (!q) {
            if (avail > limit - f->have) {
                /* Overlong with no delimiter in sight: drop it up to its delimiter. */
                f->have = 0;
                f->in_off = f->in_len;
                f->skipping = 1;
                return fail(f, -EMSGSIZE, 0);
            }
            memcpy(f->buf + f->have, p, avail);
            f->have += avail;
            f->in_off = f->in_len;
            return 0;
        }
        size_t n = (size_t)(q - p);
        f->in_off += n + 1;
        if (n > limit - f->have) {
            f->have = 0;
            return fail(f, -EMSGSIZE, 0);
        }
        const uint8_t *src = p;
        if (f->have) {
            memcpy(f->buf + f->have, p, n);
            n += f->have;
            f->have = 0;
            src = f->buf;
        }
        if (!o->cobs)
            return emit(f, src, n, frame, len);
        if (n == 0)
            continue; /* COBS: an empty frame (00 00) is only a resync marker */
        ssize_t d = sn_cobs_decode(src, n, f->buf, f->cap);
        if (d < 0)
            return fail(f, -EBADMSG, 0);
        if ((size_t)d > o->max_frame)
            return fail(f, -EMSGSIZE, 0);
        return emit(f, f->buf, (size_t)d, frame, len);
    }
}

int sn_framer_next(struct sn_framer *f, const uint8_t **frame, size_t *len)
{
    if (f->err)
        return f->err;
    switch (f->o.kind) {
    case SN_FRAME_LEN:
    case SN_FRAME_VARINT:
        return next_len(f, frame, len);
    case SN_FRAME_DELIM:
        return next_delim(f, frame, len);
    default:
        return body(f, frame, len);
    }
}

int sn_framer_feed(struct sn_framer *f, const void *data, size_t len, sn_frame_cb cb, void *arg)
{
    int rc = 0, n = 0;
    if (data) {
        rc = sn_framer_push(f, data, len);
        if (rc < 0)
            return rc;
    }
    const uint8_t *p;
    size_t plen;
    while ((rc = sn_framer_next(f, &p, &plen)) == 1) {
        cb(arg, p, plen);
        n++;
    }
    return rc < 0 ? rc : n;
}

/* ---- encoder -------------------------------------------------------------- */

int sn_frame_header(const struct sn_frame_opts *o, size_t len, uint8_t hdr[SN_FRAME_HDR_MAX])
{
    int rc = sn_frame_opts_check(o);
    if (rc < 0)
        return rc;
    switch (o->kind) {
    case SN_FRAME_FIXED:
        return len == o->record_size ? 0 : -EINVAL;
    case SN_FRAME_DELIM:
        if (o->cobs)
            return -EOPNOTSUPP;
        if (len > o->max_frame)
            return -EMSGSIZE;
        hdr[0] = o->delim;
        return 1;
    case SN_FRAME_VARINT: {
        if (len > o->max_frame)
            return -EMSGSIZE;
        uint64_t v = len;
        if (o->len_includes_header) {
            /* The header's length depends on the value it holds: find the fixpoint. */
            uint8_t tmp[10];
            int h = 1;
            while (sn_frame_varint_put(tmp, v + (uint64_t)h) != h)
                h++;
            v += (uint64_t)h;
        }
        return sn_frame_varint_put(hdr, v);
    }
    default: {
        if (len > o->max_frame)
            return -EMSGSIZE;
        uint64_t v = (uint64_t)len + (o->len_includes_header ? o->len_bytes : 0);
        if (o->len_bytes < 8 && v >> (8 * o->len_bytes))
            return -EMSGSIZE;
        switch (o->len_bytes) {
        case 1: hdr[0] = (uint8_t)v; break;
        case 2: o->big_endian ? sn_store_be16(hdr, (uint16_t)v) : sn_store_le16(hdr, (uint16_t)v); break;
        case 4: o->big_endian ? sn_store_be32(hdr, (uint32_t)v) : sn_store_le32(hdr, (uint32_t)v); break;
        default: o->big_endian ? sn_store_be64(hdr, v) : sn_store_le64(hdr, v); break;
        }
        return (int)o->len_bytes;
    }
    }
}

int sn_frame_encode_iov(const struct sn_frame_opts *o, const void *payload, size_t len,
                        uint8_t hdr[SN_FRAME_HDR_MAX], struct iovec iov[2])
{
    int h = sn_frame_header(o, len, hdr);
    if (h < 0)
        return h;
    if (o->kind == SN_FRAME_FIXED) {
        iov[0] = (struct iovec){.iov_base = (void *)(uintptr_t)payload, .iov_len = len};
        return 1;
    }
    if (o->kind == SN_FRAME_DELIM) {
        if (len && memchr(payload, o->delim, len))
            return -EINVAL;
        iov[0] = (struct iovec){.iov_base = (void *)(uintptr_t)payload, .iov_len = len};
        iov[1] = (struct iovec){.iov_base = hdr, .iov_len = 1};
        return 2;
    }
    iov[0] = (struct iovec){.iov_base = hdr, .iov_len = (size_t)h};
    iov[1] = (struct iovec){.iov_base = (void *)(uintptr_t)payload, .iov_len = len};
    return 2;
}

ssize_t sn_frame_encode(const struct sn_frame_opts *o, const void *payload, size_t len,
                        void *out, size_t cap)
{
    uint8_t *d = out;
    if (o && o->kind == SN_FRAME_DELIM && o->cobs) {
        int rc = sn_frame_opts_check(o);
        if (rc < 0)
            return rc;
        if (len > o->max_frame)
            return -EMSGSIZE;
        if (cap < 1)
            return -ENOBUFS;
        ssize_t n = sn_cobs_encode(payload, len, d, cap - 1);
        if (n < 0)
            return n;
        d[n] = 0;
        return n + 1;
    }
    uint8_t hdr[SN_FRAME_HDR_MAX];
    struct iovec iov[2];
    int n = sn_frame_encode_iov(o, payload, len, hdr, iov);
    if (n < 0)
        return n;
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    if (total > cap)
        return -ENOBUFS;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        if (iov[i].iov_len)
            memcpy(d + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    return (ssize_t)total;
}
