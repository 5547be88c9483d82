/* sysnet/frame.h — layer 4, framing: cutting a byte stream (TCP, a pipe, a file)
 * into messages, and writing messages so they can be cut again. Four framings:
 *
 *   SN_FRAME_LEN     a 1/2/4/8-byte length, big or little endian, then the payload
 *   SN_FRAME_VARINT  a LEB128 varint length (1..10 bytes, protobuf's), then the payload
 *   SN_FRAME_DELIM   the payload, then a delimiter byte ('\n', or 0 with COBS)
 *   SN_FRAME_FIXED   records of record_size bytes, no header
 *
 * len_includes_header says whether the length value counts the header's own bytes
 * (SoupBinTCP: no; some protocols: yes). With cobs, delimited payloads are COBS
 * encoded (Cheshire & Baker 1999), so any payload can be sent and 0 never appears
 * inside a frame.
 *
 * Decoding is a pull API over a streaming decoder, struct sn_framer:
 *
 *   struct sn_frame_opts o = { .kind = SN_FRAME_LEN, .len_bytes = 2, .big_endian = 1,
 *                              .max_frame = 65535 };
 *   uint8_t buf[65535];                          // >= sn_frame_bufsize(&o)
 *   struct sn_framer f;
 *   sn_framer_init(&f, &o, buf, sizeof buf);     // -EINVAL: bad options or buffer too small
 *   while ((n = read(fd, in, sizeof in)) > 0) {
 *       sn_framer_push(&f, in, n);
 *       const uint8_t *p; size_t len; int rc;
 *       while ((rc = sn_framer_next(&f, &p, &len)) == 1)
 *           handle(p, len);                      // the payload, without header or delimiter
 *       if (rc < 0) ...                          // see "Errors" below
 *   }
 *
 * Any split of the stream into pushes yields the same frames (tests/unit/test_frame.c
 * checks every split of small streams and random splits of large ones).
 *
 * Zero copy and buffer lifetimes: a frame that lies whole inside the pushed data is
 * returned as a pointer INTO that data (no copy; for LEN/VARINT this holds even when
 * the header straddled two pushes). Only a frame split across pushes is copied, into
 * the caller's buffer given to sn_framer_init, and only its partial bytes are kept
 * there. COBS frames are always decoded into that buffer. So:
 *   - the pushed data must stay valid and unchanged until sn_framer_next returns 0
 *     (all of it consumed) or an error;
 *   - a returned frame is valid until the next sn_framer_next/push/reset call on the
 *     framer (and, when it points into pushed data, as long as that data is).
 * Push the next read only after next() returned 0: sn_framer_push refuses with
 * -EBUSY while pushed bytes are unconsumed (nothing is lost).
 *
 * The maximum: max_frame bounds the payload. For LEN/VARINT it is checked on the
 * HEADER, before a byte of payload is buffered; a delimited frame is refused as
 * soon as more than max_frame bytes (COBS: sn_cobs_max(max_frame) encoded bytes)
 * arrive without a delimiter. The buffer never holds more than sn_frame_bufsize().
 *
 * Errors, and the state they leave (all are also counted in f.errors):
 *   LEN/VARINT: -EMSGSIZE length above max_frame; -EBADMSG a varint longer than 10
 *     bytes or above 2^64-1, or a length smaller than the header it counts. There is
 *     no way to find the next frame boundary in a length-prefixed stream, so the
 *     framer is then in an ERROR STATE: next() and push() return the same error until
 *     sn_framer_reset() (which drops buffered bytes and unconsumed input); the caller
 *     should close the connection.
 *   DELIM: -EMSGSIZE an overlong frame, -EBADMSG a malformed COBS frame. The framer
 *     RESYNCS: the bad frame is dropped (an overlong one up to and including its
 *     delimiter, which may come in later pushes), and the next call goes on with the
 *     frame after it. Errors are reported once, not sticky.
 *   FIXED: no errors are possible.
 * sn_framer_feed() is a push + next loop with a callback, for those who prefer that.
 *
 * Encoding: sn_frame_encode_iov() builds the header in a small caller buffer and
 * returns iovecs (header + payload, the payload not copied) for writev/sendmsg;
 * sn_frame_encode() writes header + payload into one buffer (needed for COBS).
 *
 * Memory: nothing here allocates. The framer and its buffer belong to the caller.
 * Thread rules: a framer is used by one thread at a time; the functions on opts
 * (encode, bufsize, cobs) are pure and thread-safe.
 */
#ifndef SYSNET_FRAME_H
#define SYSNET_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <sysnet/base.h>

#ifdef __cplusplus
extern "C" {
#endif

enum sn_frame_kind {
    SN_FRAME_LEN = 1,  /* fixed-width length prefix */
    SN_FRAME_VARINT,   /* LEB128 varint length prefix */
    SN_FRAME_DELIM,    /* payload + delimiter byte */
    SN_FRAME_FIXED,    /* fixed-size records */
};

/* The longest header we write: a 10-byte varint (an 8-byte length is shorter). */
#define SN_FRAME_HDR_MAX 10

struct sn_frame_opts {
    int kind;                /* enum sn_frame_kind */
    unsigned len_bytes;      /* LEN: 1, 2, 4 or 8 */
    int big_endian;          /* LEN: 1 big endian (network order), 0 little endian */
    int len_includes_header; /* LEN/VARINT: the length value counts the header bytes too */
    size_t max_frame;        /* LEN/VARINT/DELIM: largest payload accepted, > 0 */
    uint8_t delim;           /* DELIM: the delimiter byte (must be 0 with cobs) */
    int cobs;                /* DELIM: payloads are COBS encoded */
    size_t record_size;      /* FIXED: bytes per record, > 0 */
};

struct sn_framer {
    struct sn_frame_opts o; /* a copy of the options */
    uint8_t *buf;           /* caller's buffer for partial frames */
    size_t cap;             /* its size */
    size_t have;            /* bytes of a partial frame held in buf */
    const uint8_t *in;      /* pushed data */
    size_t in_len, in_off;  /* its length; how much is consumed */
    uint64_t need;          /* LEN/VARINT/FIXED: payload bytes of the current frame */
    uint8_t hdr[SN_FRAME_HDR_MAX]; /* LEN/VARINT: a header split across pushes */
    unsigned hdr_have;      /* its bytes so far */
    int in_body;            /* LEN/VARINT: header done, reading the payload */
    int skipping;           /* DELIM: dropping an overlong frame up to its delimiter */
    int err;                /* LEN/VARINT: the sticky error, 0 if none */
    uint64_t frames;        /* frames returned */
    uint64_t copied;        /* of which were copied into buf (not zero copy) */
    uint64_t errors;        /* errors reported */
};

/* Checks the options: 0 or -EINVAL. */
int sn_frame_opts_check(const struct sn_frame_opts *o);
/* The buffer size sn_framer_init needs for these options, or -EINVAL. */
ssize_t sn_frame_bufsize(const struct sn_frame_opts *o);

/* Sets up a framer over the caller's buffer (cap >= sn_frame_bufsize(o)).
 * -EINVAL for bad options or a buffer too small. */
int sn_framer_init(struct sn_framer *f, const struct sn_frame_opts *o, void *buf, size_t cap);
/* Forgets everything buffered and pushed, and clears the error state. Counters stay. */
void sn_framer_reset(struct sn_framer *f);
/* Hands the framer the next bytes of the stream (see lifetimes above). 0, -EBUSY if
 * earlier pushed bytes are not consumed yet, or the sticky error. */
int sn_framer_push(struct sn_framer *f, const void *data, size_t len);
/* The next complete frame: 1 and *frame and *len set, 0 when all pushed bytes are
 * consumed (need more), or a negative errno (see Errors above). */
int sn_framer_next(struct sn_framer *f, const uint8_t **frame, size_t *len);
/* push + next until 0, calling cb(arg, frame, len) per frame. Returns the number of
 * frames, or the first error (frames before it were delivered; for DELIM you may
 * call sn_framer_feed(f, NULL, 0, ...) to continue after the dropped frame). */
typedef void (*sn_frame_cb)(void *arg, const uint8_t *frame, size_t len);
int sn_framer_feed(struct sn_framer *f, const void *data, size_t len, sn_frame_cb cb, void *arg);
/* Bytes held in the framer's buffer (a partial frame), and unconsumed pushed bytes. */
size_t sn_framer_buffered(const struct sn_framer *f);

/* The header (LEN/VARINT) or trailing delimiter (DELIM without COBS) for a payload
 * of len bytes, written into hdr: its length, -EMSGSIZE above max_frame or what the
 * length field can hold, -EINVAL bad options. FIXED: 0 (no header), -EINVAL if
 * len != record_size. DELIM with COBS: -EOPNOTSUPP (use sn_frame_encode). */
int sn_frame_header(const struct sn_frame_opts *o, size_t len, uint8_t hdr[SN_FRAME_HDR_MAX]);
/* The iovecs to write one frame without copying the payload: iov[0..n) with n
 * returned (1 or 2): header + payload, or payload + delimiter, or the record.
 * Errors as sn_frame_header; DELIM: -EINVAL if the payload contains the delimiter. */
int sn_frame_encode_iov(const struct sn_frame_opts *o, const void *payload, size_t len,
                        uint8_t hdr[SN_FRAME_HDR_MAX], struct iovec iov[2]);
/* The whole frame into out: bytes written, -ENOBUFS if cap is too small, or the
 * errors above. The only way to write COBS frames (appends the 0 delimiter). */
ssize_t sn_frame_encode(const struct sn_frame_opts *o, const void *payload, size_t len,
                        void *out, size_t cap);

/* ---- COBS ----------------------------------------------------------------
 * Consistent Overhead Byte Stuffing: the output never contains 0; it costs at
 * most one byte per 254 plus one. Neither function writes a delimiter. */
static inline size_t sn_cobs_max(size_t n) { return n + n / 254 + 1; }
/* Encodes n bytes: the encoded length, or -ENOBUFS if cap < what is needed. */
ssize_t sn_cobs_encode(const void *src, size_t n, void *dst, size_t cap);
/* Decodes n bytes (no delimiter): the decoded length (< n, or 0 for n == 0), -EBADMSG
 * for a 0 byte inside or a code running past the end, -ENOBUFS if cap is too small.
 * dst may equal src (decoding in place). */
ssize_t sn_cobs_decode(const void *src, size_t n, void *dst, size_t cap);

/* ---- LEB128 varint, as used by SN_FRAME_VARINT -------------------------- */
/* Writes v (1..10 bytes): the length. */
int sn_frame_varint_put(uint8_t out[10], uint64_t v);
/* Reads a varint from p[0..len): its length, 0 if incomplete (len too short),
 * -EBADMSG if longer than 10 bytes or above 2^64-1. */
int sn_frame_varint_get(const uint8_t *p, size_t len, uint64_t *v);

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_FRAME_H */
