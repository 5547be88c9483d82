/* fuzz_pb.c — libFuzzer target for the protobuf wire primitives. Any bytes are
 * read as a message, field by field, descending into every LEN value that itself
 * reads as a message (up to the depth limit); nothing may crash or read past the
 * input. What decodes is re-encoded (minimal varints), and the re-encoding must
 * decode to the same fields and re-encode to the same bytes: decode -> encode ->
 * decode is stable. Varints at every offset round-trip too. */
#include <sysnet/codec.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decode the message in r and write it canonically to w (if w is not NULL).
 * Returns 0 or the first error. */
static int copy_msg(struct sn_pb_reader *r, struct sn_pb_writer *w)
{
    uint32_t fn;
    unsigned wt;
    int rc;
    while ((rc = sn_pb_next_field(r, &fn, &wt)) > 0) {
        uint64_t v;
        uint32_t v32;
        const uint8_t *p;
        size_t len;
        if (w && sn_pb_write_tag(w, fn, wt) < 0)
            abort(); /* a tag we read must be writable */
        switch (wt) {
        case SN_PB_VARINT:
            if ((rc = sn_pb_read_varint(r, &v)) < 0)
                return rc;
            if (w && sn_pb_write_varint(w, v) < 0)
                abort();
            break;
        case SN_PB_I64:
            if ((rc = sn_pb_read_fixed64(r, &v)) < 0)
                return rc;
            if (w && sn_pb_write_fixed64(w, v) < 0)
                abort();
            break;
        case SN_PB_I32:
            if ((rc = sn_pb_read_fixed32(r, &v32)) < 0)
                return rc;
            if (w && sn_pb_write_fixed32(w, v32) < 0)
                abort();
            break;
        case SN_PB_LEN: {
            struct sn_pb_reader sub, probe;
            if ((rc = sn_pb_read_sub(r, &sub)) < 0) {
                if (rc != -ELOOP)
                    return rc;
                /* too deep to descend: keep it as opaque bytes */
                if ((rc = sn_pb_read_bytes(r, &p, &len)) < 0)
                    return rc;
                if (w && (sn_pb_write_varint(w, len) < 0 || sn_pb_write_raw(w, p, len) < 0))
                    abort();
                break;
            }
            p = sub.p;
            len = sn_pb_reader_left(&sub);
            probe = sub;
            /* A nested message only when it reads whole; otherwise opaque bytes,
             * which is what a schema-less reader must do. */
            if (copy_msg(&probe, NULL) == 0) {
                size_t mark;
                if (!w)
                    break;
                /* Length first: re-encode into the rest of the buffer after a
                 * maximal length prefix, then move it down. */
                uint8_t *start = w->p;
                if ((size_t)(w->end - w->p) < SN_PB_MAX_VARINT)
                    abort();
                struct sn_pb_writer inner;
                sn_pb_writer_init(&inner, w->p + SN_PB_MAX_VARINT, (size_t)(w->end - w->p) - SN_PB_MAX_VARINT);
                if (copy_msg(&sub, &inner) != 0)
                    abort();
                mark = sn_pb_writer_len(&inner);
                if (sn_pb_write_varint(w, mark) < 0)
                    abort();
                memmove(w->p, start + SN_PB_MAX_VARINT, mark);
                w->p += mark;
            } else if (w && (sn_pb_write_varint(w, len) < 0 || sn_pb_write_raw(w, p, len) < 0)) {
                abort();
            }
            break;
        }
        default:
            abort(); /* next_field never returns another wire type */
        }
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Varints and the 10-byte rule at every offset. */
    for (size_t i = 0; i < size; i++) {
        uint64_t v, v2;
        uint8_t b[SN_PB_MAX_VARINT];
        int n = sn_pb_varint_decode(data + i, size - i, &v);
        if (n > 0) {
            int m = sn_pb_varint_encode(v, b, sizeof(b));
            if (m <= 0 || m > n || (size_t)m != sn_pb_varint_size(v) ||
                sn_pb_varint_decode(b, (size_t)m, &v2) != m || v2 != v)
                abort();
        } else if (n != -ENODATA && n != -EBADMSG) {
            abort();
        }
    }
    size_t n;
    (void)sn_pb_packed_count(data, size, SN_PB_VARINT, &n);
    (void)sn_pb_utf8_check(data, size);

    /* The message: decode -> encode -> decode -> encode must be stable. Canonical
     * output is never longer than the input (varints only shrink; a nested message's
     * length prefix shrinks with it). */
    struct sn_pb_reader r;
    sn_pb_reader_init(&r, data, size);
    /* Slack: each nesting level borrows SN_PB_MAX_VARINT bytes for its length prefix
     * while its content is re-encoded. */
    size_t cap = size + (size_t)SN_PB_MAX_VARINT * (SN_PB_MAX_DEPTH + 2);
    uint8_t *out1 = malloc(cap), *out2 = malloc(cap);
    if (!out1 || !out2)
        abort();
    struct sn_pb_writer w1, w2;
    sn_pb_writer_init(&w1, out1, cap);
    if (copy_msg(&r, &w1) == 0) {
        size_t l1 = sn_pb_writer_len(&w1);
        if (l1 > size)
            abort();
        sn_pb_reader_init(&r, out1, l1);
        sn_pb_writer_init(&w2, out2, cap);
        if (copy_msg(&r, &w2) != 0 || sn_pb_writer_len(&w2) != l1 || memcmp(out1, out2, l1) != 0)
            abort();
    }
    free(out1);
    free(out2);
    return 0;
}
