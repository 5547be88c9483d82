/* read.c — the capture-file reader: its input (a caller's buffer, an mmap(2)ed
 * file, or read(2) into a growable buffer), classic pcap records, and pcapng
 * blocks (SHB, IDB, EPB, SPB, PB; the rest skipped).
 *
 * Formats: libpcap's pcap-savefile(5) and the pcapng draft
 * (draft-ietf-opsawg-pcapng, "PCAP Next Generation Dump File Format").
 */
#include <sysnet/pcap.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

enum {
    PCAP_HDR_LEN = 24, /* magic, version 2+2, thiszone, sigfigs, snaplen, linktype */
    PCAP_REC_LEN = 16, /* ts_sec, ts_frac, incl_len, orig_len */
    NG_BLK_MIN = 12,   /* type, total length, ..., total length */
    NG_SHB_MIN = 28,   /* + byte-order magic, version 2+2, section length 8 */
    NG_IDB_MIN = 20,   /* + linktype 2, reserved 2, snaplen 4 */
    NG_EPB_MIN = 32,   /* + if_id, ts_hi, ts_lo, caplen, orig_len */
    NG_PB_MIN = 32,    /* + if_id 2, drops 2, ts_hi, ts_lo, caplen, len */
    NG_SPB_MIN = 16,   /* + orig_len */
    NG_ISB_MIN = 24,   /* + if_id, ts_hi, ts_lo (skipped, but Wireshark checks it too) */
    NG_CB_MIN = 16,    /* + private enterprise number (custom blocks, skipped) */
    NG_OPT_ENDOFOPT = 0,
    NG_OPT_IF_TSRESOL = 9,
    NG_OPT_IF_TSOFFSET = 14,
};
#define PCAP_MAGIC_US  0xa1b2c3d4u
#define PCAP_MAGIC_NS  0xa1b23c4du
#define PCAP_MAGIC_MOD 0xa1b2cd34u /* Alexey Kuznetzov's patched libpcap */
#define NG_BOM         0x1a2b3c4du
#define NG_CB_COPY     0x00000badu /* custom block, may be copied */
#define NG_CB_NOCOPY   0x40000badu /* custom block, must not be copied */
#define LT_LINKTYPE_MASK 0x03ffffffu /* upper bits of the pcap linktype carry FCS info */
#define STREAM_BUF0    (256u << 10)
#define NS_PER_S       1000000000ull

__extension__ typedef unsigned __int128 u128;

/* ---- errors -------------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static int fail(struct sn_pcap_reader *r, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errmsg, sizeof(r->errmsg), fmt, ap);
    va_end(ap);
    if (err != -EAGAIN)
        r->err = err;
    return err;
}

static unsigned long long at(const struct sn_pcap_reader *r)
{
    return (unsigned long long)(r->off + r->pos);
}

static int io_fail(struct sn_pcap_reader *r, int err)
{
    return fail(r, err, "%s: read at offset %llu: %s", r->ng ? "pcapng" : "pcap", at(r),
                sn_strerror(err));
}

/* ---- loads in the file's byte order -------------------------------------- */

static inline uint16_t ld16(int swap, const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return swap ? sn_bswap16(v) : v;
}
static inline uint32_t ld32(int swap, const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swap ? sn_bswap32(v) : v;
}
static inline uint64_t ld64(int swap, const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return swap ? sn_bswap64(v) : v;
}

/* ---- input: a window of bytes [pos, len) at base --------------------------- */

/* Stream mode: move the unread bytes to the front, grow the buffer to hold n,
 * and read(2) until n bytes are there or the input ends. */
static ssize_t refill(struct sn_pcap_reader *r, size_t n)
{
    size_t have = r->len - r->pos;
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, have);
        r->off += r->pos;
        r->len = have;
        r->pos = 0;
    }
    if (n > r->cap) {
        size_t cap = SN_MAX(r->cap * 2, n);
        uint8_t *nb = realloc(r->buf, cap);
        if (!nb)
            return -ENOMEM;
        r->buf = nb;
        r->cap = cap;
    }
    r->base = r->buf;
    while (r->len < n && !r->eof) {
        ssize_t k = read(r->fd, r->buf + r->len, r->cap - r->len);
        if (k > 0)
            r->len += (size_t)k;
        else if (k == 0)
            r->eof = 1;
        else if (errno != EINTR)
            return -errno;
    }
    return (ssize_t)(r->len - r->pos);
}

/* Make n bytes at pos visible. Returns how many are (>= n, or fewer at the end of
 * the input), or a negative errno from read(2)/realloc. */
static inline ssize_t need(struct sn_pcap_reader *r, size_t n)
{
    size_t have = r->len - r->pos;
    if (SN_LIKELY(have >= n) || !r->stream || r->eof)
        return (ssize_t)have;
    return refill(r, n);
}

static inline const uint8_t *cur(const struct sn_pcap_reader *r)
{
    return r->base + r->pos;
}

/* ---- timestamps ------------------------------------------------------------ */

static uint8_t digits_for(uint64_t units)
{
    uint8_t d = 0;
    for (uint64_t x = 1; x < units && d < 9; x *= 10)
        d++;
    return d;
}

/* pcapng ticks of 1/tsunits s (plus if_tsoffset seconds) to ns, saturating. */
static int64_t ticks_to_ns(const struct sn_pcap_iface *f, uint64_t t)
{
    uint64_t u = f->tsunits, ns;
    if (u == NS_PER_S) {
        ns = t;
    } else if (u < NS_PER_S && NS_PER_S % u == 0) {
        if (__builtin_mul_overflow(t, NS_PER_S / u, &ns))
            return INT64_MAX;
    } else {
        uint64_t frac = (uint64_t)((u128)(t % u) * NS_PER_S / u);
        if (__builtin_mul_overflow(t / u, NS_PER_S, &ns) || __builtin_add_overflow(ns, frac, &ns))
            return INT64_MAX;
    }
    if (ns > (uint64_t)INT64_MAX)
        return INT64_MAX;
    int64_t ts = (int64_t)ns, off;
    if (SN_UNLIKELY(f->tsoffset)) {
        if (__builtin_mul_overflow(f->tsoffset, (int64_t)NS_PER_S, &off) ||
            __builtin_add_overflow(ts, off, &ts))
            return f->tsoffset > 0 ? INT64_MAX : INT64_MIN;
    }
    return ts;
}

/* ---- classic pcap ---------------------------------------------------------- */

static int pcap_start(struct sn_pcap_reader *r, uint32_t magic_host)
{
    ssize_t have = need(r, PCAP_HDR_LEN);
    if (have < 0)
        return io_fail(r, (int)have);
    if (have < PCAP_HDR_LEN)
        return fail(r, -ENODATA, "pcap: file header at offset %llu cut short: %zd of %d bytes",
                    at(r), have, PCAP_HDR_LEN);
    const uint8_t *p = cur(r);
    int swap = magic_host != PCAP_MAGIC_US && magic_host != PCAP_MAGIC_NS;
    uint32_t magic = ld32(swap, p);
    uint16_t major = ld16(swap, p + 4), minor = ld16(swap, p + 6);
    if (major != 2)
        return fail(r, -EPROTONOSUPPORT, "pcap: version %u.%u is not supported (only 2.x)", major,
                    minor);
    r->swap = (uint8_t)swap;
    r->nsec = magic == PCAP_MAGIC_NS;
    r->snaplen = ld32(swap, p + 16);
    r->linktype = ld32(swap, p + 20) & LT_LINKTYPE_MASK;
    r->pif = (struct sn_pcap_iface){
        .linktype = r->linktype,
        .snaplen = r->snaplen,
        .tsunits = r->nsec ? NS_PER_S : 1000000,
        .tsresol = r->nsec ? 9 : 6,
    };
    r->info = (struct sn_pcap_info){
        .format = r->nsec ? SN_PCAP_NS : SN_PCAP_US,
        .big_endian = (uint8_t)(swap ^ SN_BIG_ENDIAN_HOST),
        .swapped = (uint8_t)swap,
        .version_major = major,
        .version_minor = minor,
        .snaplen = r->snaplen,
        .linktype = r->linktype,
        .tsdigits = r->nsec ? 9 : 6,
    };
    r->pos += PCAP_HDR_LEN;
    return 0;
}

static int pcap_next(struct sn_pcap_reader *r, struct sn_pcap_pkt *pkt)
{
    ssize_t have = need(r, PCAP_REC_LEN);
    if (SN_UNLIKELY(have < PCAP_REC_LEN)) {
        if (have < 0)
            return io_fail(r, (int)have);
        if (have == 0)
            return 0;
        return fail(r, -ENODATA, "pcap: record header at offset %llu cut short: %zd of %d bytes",
                    at(r), have, PCAP_REC_LEN);
    }
    const uint8_t *p = cur(r);
    int swap = r->swap;
    uint32_t caplen = ld32(swap, p + 8);
    if (SN_UNLIKELY(caplen > SN_PCAP_MAX_CAPLEN))
        return fail(r, -EBADMSG, "pcap: record at offset %llu has caplen %u (more than %u)", at(r),
                    caplen, SN_PCAP_MAX_CAPLEN);
    size_t rec = PCAP_REC_LEN + (size_t)caplen;
    if (SN_UNLIKELY((size_t)have < rec)) {
        have = need(r, rec);
        if (have < 0)
            return io_fail(r, (int)have);
        if ((size_t)have < rec)
            return fail(r, -ENODATA,
                        "pcap: record at offset %llu cut short: caplen %u, only %zd bytes follow "
                        "its header",
                        at(r), caplen, have - PCAP_REC_LEN);
        p = cur(r);
    }
    uint64_t sec = ld32(swap, p), frac = ld32(swap, p + 4);
    pkt->ts_ns = (int64_t)(sec * NS_PER_S + (r->nsec ? frac : frac * 1000));
    pkt->caplen = caplen;
    pkt->wirelen = ld32(swap, p + 12);
    pkt->linktype = r->linktype;
    pkt->ifindex = 0;
    pkt->data = p + PCAP_REC_LEN;
    r->pos += rec;
    return 1;
}

/* ---- pcapng ---------------------------------------------------------------- */

static const char *blk_name(uint32_t type)
{
    switch (type) {
    case SN_PCAPNG_SHB: return "section header";
    case SN_PCAPNG_IDB: return "interface description";
    case SN_PCAPNG_PB: return "packet";
    case SN_PCAPNG_SPB: return "simple packet";
    case SN_PCAPNG_EPB: return "enhanced packet";
    case SN_PCAPNG_ISB: return "interface statistics";
    case NG_CB_COPY:
    case NG_CB_NOCOPY: return "custom";
    default: return "unknown";
    }
}

static uint32_t blk_min(uint32_t type)
{
    switch (type) {
    case SN_PCAPNG_SHB: return NG_SHB_MIN;
    case SN_PCAPNG_IDB: return NG_IDB_MIN;
    case SN_PCAPNG_PB: return NG_PB_MIN;
    case SN_PCAPNG_SPB: return NG_SPB_MIN;
    case SN_PCAPNG_EPB: return NG_EPB_MIN;
    case SN_PCAPNG_ISB: return NG_ISB_MIN;
    case NG_CB_COPY:
    case NG_CB_NOCOPY: return NG_CB_MIN;
    default: return NG_BLK_MIN;
    }
}

/* The checks a block length must pass before we trust it to read the block. */
static int ng_check_len(struct sn_pcap_reader *r, uint32_t type, uint32_t blen)
{
    if (blen % 4)
        return fail(r, -EBADMSG, "pcapng: block at offset %llu has length %u (not a multiple of 4)",
                    at(r), blen);
    if (blen < blk_min(type))
        return fail(r, -EBADMSG,
                    "pcapng: %s block (type 0x%x) at offset %llu has length %u, less than the "
                    "minimum %u",
                    blk_name(type), type, at(r), blen, blk_min(type));
    if (blen > SN_PCAP_MAX_BLOCK)
        return fail(r, -EBADMSG, "pcapng: block at offset %llu has length %u (more than %u)", at(r),
                    blen, SN_PCAP_MAX_BLOCK);
    return 0;
}

/* Bring a whole block of blen bytes into view and check its trailing length. */
static int ng_load_block(struct sn_pcap_reader *r, int swap, uint32_t type, uint32_t blen)
{
    ssize_t have = need(r, blen);
    if (have < 0)
        return io_fail(r, (int)have);
    if ((size_t)have < blen)
        return fail(r, -ENODATA,
                    "pcapng: %s block (type 0x%x) at offset %llu cut short: length %u, only %zd "
                    "bytes left",
                    blk_name(type), type, at(r), blen, have);
    uint32_t trail = ld32(swap, cur(r) + blen - 4);
    if (trail != blen)
        return fail(r, -EBADMSG,
                    "pcapng: block at offset %llu has trailing length %u, leading length %u", at(r),
                    trail, blen);
    return 0;
}

/* A Section Header Block: the byte order, version and a fresh interface table. */
static int ng_shb(struct sn_pcap_reader *r)
{
    ssize_t have = need(r, 12);
    if (have < 0)
        return io_fail(r, (int)have);
    if (have < 12)
        return fail(r, -ENODATA, "pcapng: section header at offset %llu cut short: %zd bytes left",
                    at(r), have);
    const uint8_t *p = cur(r);
    uint32_t bom;
    memcpy(&bom, p + 8, 4);
    int swap;
    if (bom == NG_BOM)
        swap = 0;
    else if (sn_bswap32(bom) == NG_BOM)
        swap = 1;
    else
        return fail(r, -EBADMSG,
                    "pcapng: section header at offset %llu has a bad byte-order magic 0x%08x",
                    at(r), sn_load_be32(p + 8));
    uint32_t blen = ld32(swap, p + 4);
    int rc = ng_check_len(r, SN_PCAPNG_SHB, blen);
    if (rc == 0)
        rc = ng_load_block(r, swap, SN_PCAPNG_SHB, blen);
    if (rc < 0)
        return rc;
    p = cur(r);
    uint16_t major = ld16(swap, p + 12), minor = ld16(swap, p + 14);
    if (major != 1)
        return fail(r, -EPROTONOSUPPORT,
                    "pcapng: section at offset %llu has version %u.%u (only 1.x is supported)",
                    at(r), major, minor);
    r->swap = (uint8_t)swap;
    r->nif = 0;
    if (r->nsections++ == 0) {
        r->info = (struct sn_pcap_info){
            .format = SN_PCAP_NG,
            .big_endian = (uint8_t)(swap ^ SN_BIG_ENDIAN_HOST),
            .swapped = (uint8_t)swap,
            .version_major = major,
            .version_minor = minor,
            .linktype = SN_PCAP_LINKTYPE_NONE,
            .tsdigits = 6,
        };
    }
    r->pos += blen;
    return 0;
}

/* One option of a block body (from body offset *o to len): 1 with code/olen/val,
 * 0 at opt_endofopt or the end, -EBADMSG if it runs past the block. */
static int ng_opt_next(struct sn_pcap_reader *r, const uint8_t *body, size_t len, size_t *o,
                       uint16_t *code, uint16_t *olen, const uint8_t **val)
{
    if (len - *o < 4)
        return 0;
    *code = ld16(r->swap, body + *o);
    *olen = ld16(r->swap, body + *o + 2);
    if (*code == NG_OPT_ENDOFOPT)
        return 0;
    size_t padded = ((size_t)*olen + 3) & ~(size_t)3;
    if (padded > len - *o - 4)
        return fail(r, -EBADMSG,
                    "pcapng: option %u (length %u) of the block at offset %llu runs past the block",
                    *code, *olen, at(r));
    *val = body + *o + 4;
    *o += 4 + padded;
    return 1;
}

/* An Interface Description Block: append to the section's interface table. */
static int ng_idb(struct sn_pcap_reader *r, const uint8_t *p, uint32_t blen)
{
    struct sn_pcap_iface f = {
        .linktype = ld16(r->swap, p + 8),
        .snaplen = ld32(r->swap, p + 12),
        .tsunits = 1000000,
        .tsresol = 6,
    };
    const uint8_t *opts = p + 16, *val = NULL;
    size_t olen_all = blen - 4 - 16, o = 0;
    uint16_t code = 0, olen = 0;
    int rc;
    while ((rc = ng_opt_next(r, opts, olen_all, &o, &code, &olen, &val)) > 0) {
        if (code == NG_OPT_IF_TSRESOL && olen == 1) {
            unsigned e = val[0] & 0x7f;
            if (val[0] & 0x80) {
                if (e > 63)
                    return fail(r, -EPROTONOSUPPORT,
                                "pcapng: interface at offset %llu has if_tsresol 2^-%u (finer "
                                "than 2^-63)",
                                at(r), e);
                f.tsunits = 1ull << e;
            } else {
                if (e > 19)
                    return fail(r, -EPROTONOSUPPORT,
                                "pcapng: interface at offset %llu has if_tsresol 10^-%u (finer "
                                "than 10^-19)",
                                at(r), e);
                f.tsunits = 1;
                for (unsigned i = 0; i < e; i++)
                    f.tsunits *= 10;
            }
            f.tsresol = val[0];
        } else if (code == NG_OPT_IF_TSOFFSET && olen == 8) {
            f.tsoffset = (int64_t)ld64(r->swap, val);
        }
    }
    if (rc < 0)
        return rc;
    if (r->nif == r->ifcap) {
        uint32_t cap = r->ifcap ? r->ifcap * 2 : 8;
        struct sn_pcap_iface *n = cap > r->ifcap ? realloc(r->ifs, cap * sizeof(*n)) : NULL;
        if (!n)
            return fail(r, -ENOMEM, "pcapng: out of memory for interface %u", r->nif);
        r->ifs = n;
        r->ifcap = cap;
    }
    r->ifs[r->nif++] = f;
    if (r->info.linktype == SN_PCAP_LINKTYPE_NONE) {
        r->info.linktype = f.linktype;
        r->info.snaplen = f.snaplen;
        r->info.tsdigits = digits_for(f.tsunits);
    }
    return 0;
}

static int ng_no_iface(struct sn_pcap_reader *r, uint32_t type, uint32_t ifid)
{
    return fail(r, -EBADMSG,
                "pcapng: %s block at offset %llu refers to interface %u, but %u defined in its "
                "section",
                blk_name(type), at(r), ifid, r->nif);
}

/* EPB and the obsolete PB share a layout, but for the width of the interface id. */
static int ng_epb(struct sn_pcap_reader *r, uint32_t type, const uint8_t *p, uint32_t blen,
                  struct sn_pcap_pkt *pkt)
{
    int swap = r->swap;
    uint32_t ifid = type == SN_PCAPNG_EPB ? ld32(swap, p + 8) : ld16(swap, p + 8);
    uint32_t caplen = ld32(swap, p + 20), room = blen - NG_EPB_MIN;
    if (caplen > room)
        return fail(r, -EBADMSG,
                    "pcapng: %s block at offset %llu has caplen %u, more than its %u bytes of room",
                    blk_name(type), at(r), caplen, room);
    if (caplen > SN_PCAP_MAX_CAPLEN)
        return fail(r, -EBADMSG, "pcapng: %s block at offset %llu has caplen %u (more than %u)",
                    blk_name(type), at(r), caplen, SN_PCAP_MAX_CAPLEN);
    if (ifid >= r->nif)
        return ng_no_iface(r, type, ifid);
    const struct sn_pcap_iface *f = &r->ifs[ifid];
    uint64_t ticks = (uint64_t)ld32(swap, p + 12) << 32 | ld32(swap, p + 16);
    pkt->ts_ns = ticks_to_ns(f, ticks);
    pkt->caplen = caplen;
    pkt->wirelen = ld32(swap, p + 24);
    pkt->linktype = f->linktype;
    pkt->ifindex = ifid;
    pkt->data = p + 28;
    return 1;
}

/* SPB: interface 0, no timestamp; caplen = min(orig_len, IDB 0's snaplen, body). */
static int ng_spb(struct sn_pcap_reader *r, const uint8_t *p, uint32_t blen, struct sn_pcap_pkt *pkt)
{
    if (r->nif == 0)
        return ng_no_iface(r, SN_PCAPNG_SPB, 0);
    const struct sn_pcap_iface *f = &r->ifs[0];
    uint32_t wirelen = ld32(r->swap, p + 8);
    uint32_t caplen = SN_MIN(wirelen, blen - NG_SPB_MIN);
    if (f->snaplen)
        caplen = SN_MIN(caplen, f->snaplen);
    if (caplen > SN_PCAP_MAX_CAPLEN)
        return fail(r, -EBADMSG,
                    "pcapng: simple packet block at offset %llu has caplen %u (more than %u)",
                    at(r), caplen, SN_PCAP_MAX_CAPLEN);
    pkt->ts_ns = 0;
    pkt->caplen = caplen;
    pkt->wirelen = wirelen;
    pkt->linktype = f->linktype;
    pkt->ifindex = 0;
    pkt->data = p + 12;
    return 1;
}

enum { NG_OTHER = 0, NG_PACKET = 1, NG_EOF = 2 };

/* The type of the next block, without consuming it: NG_OTHER with *type set,
 * NG_EOF at a clean end, or a negative errno (a partial block header). */
static int ng_peek(struct sn_pcap_reader *r, uint32_t *type)
{
    ssize_t have = need(r, 8);
    if (SN_UNLIKELY(have < 8)) {
        if (have < 0)
            return io_fail(r, (int)have);
        if (have == 0)
            return NG_EOF;
        return fail(r, -ENODATA, "pcapng: block header at offset %llu cut short: %zd of 8 bytes",
                    at(r), have);
    }
    *type = ld32(r->swap, cur(r));
    return NG_OTHER;
}

/* Read one block: NG_PACKET with *pkt filled, NG_OTHER for any other block,
 * NG_EOF, or a negative errno. The block is consumed only on success. */
static int ng_block(struct sn_pcap_reader *r, struct sn_pcap_pkt *pkt)
{
    uint32_t type = 0;
    int rc = ng_peek(r, &type);
    if (rc != NG_OTHER)
        return rc;
    if (type == SN_PCAPNG_SHB) /* a palindrome: the same in either byte order */
        return ng_shb(r);
    uint32_t blen = ld32(r->swap, cur(r) + 4);
    if ((rc = ng_check_len(r, type, blen)) < 0 || (rc = ng_load_block(r, r->swap, type, blen)) < 0)
        return rc;
    const uint8_t *p = cur(r);
    switch (type) {
    case SN_PCAPNG_EPB:
    case SN_PCAPNG_PB: rc = ng_epb(r, type, p, blen, pkt); break;
    case SN_PCAPNG_SPB: rc = ng_spb(r, p, blen, pkt); break;
    case SN_PCAPNG_IDB: rc = ng_idb(r, p, blen); break;
    default: rc = NG_OTHER; break; /* NRB, ISB, DSB, custom, unknown: skipped */
    }
    if (rc >= 0)
        r->pos += blen;
    return rc;
}

static int ng_next(struct sn_pcap_reader *r, struct sn_pcap_pkt *pkt)
{
    for (;;) {
        int rc = ng_block(r, pkt);
        if (rc == NG_PACKET)
            return 1;
        if (rc == NG_EOF)
            return 0;
        if (rc < 0)
            return rc;
    }
}

static int is_packet_block(uint32_t type)
{
    return type == SN_PCAPNG_EPB || type == SN_PCAPNG_SPB || type == SN_PCAPNG_PB;
}

/* The first SHB, then blocks up to the first IDB (for info.linktype), stopping
 * before any packet. */
static int ng_start(struct sn_pcap_reader *r)
{
    int rc = ng_shb(r);
    while (rc >= 0 && r->nif == 0) {
        uint32_t type = 0;
        rc = ng_peek(r, &type);
        if (rc == NG_EOF || (rc == NG_OTHER && is_packet_block(type)))
            return 0;
        if (rc >= 0)
            rc = ng_block(r, NULL);
    }
    return rc < 0 ? rc : 0;
}

/* ---- open / next / close ---------------------------------------------------- */

static void reset(struct sn_pcap_reader *r)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
    r->info.linktype = SN_PCAP_LINKTYPE_NONE;
}

static int start(struct sn_pcap_reader *r)
{
    ssize_t have = need(r, 4);
    int rc;
    if (have < 0) {
        rc = io_fail(r, (int)have);
    } else if (have < 4) {
        rc = have == 0 ? fail(r, -ENODATA, "pcap: empty file")
                       : fail(r, -ENODATA, "pcap: file too short for a magic number (%zd bytes)",
                              have);
    } else {
        uint32_t host;
        memcpy(&host, cur(r), 4);
        if (host == SN_PCAPNG_SHB) {
            r->ng = 1;
            rc = ng_start(r);
        } else if (host == PCAP_MAGIC_US || host == PCAP_MAGIC_NS ||
                   sn_bswap32(host) == PCAP_MAGIC_US || sn_bswap32(host) == PCAP_MAGIC_NS) {
            rc = pcap_start(r, host);
        } else if (host == PCAP_MAGIC_MOD || sn_bswap32(host) == PCAP_MAGIC_MOD) {
            rc = fail(r, -EPROTONOSUPPORT,
                      "pcap: the modified pcap format (magic 0xa1b2cd34) is not supported");
        } else {
            rc = fail(r, -EBADMSG,
                      "pcap: not a pcap or pcapng file (magic 0x%08x at offset %llu)",
                      sn_load_be32(cur(r)), at(r));
        }
    }
    if (rc < 0) {
        sn_pcap_close(r);
        r->err = rc;
    }
    return rc;
}

int sn_pcap_open_mem(struct sn_pcap_reader *r, const void *data, size_t len)
{
    reset(r);
    r->base = data;
    r->len = data ? len : 0;
    return start(r);
}

/* Map a regular file; 1 if mapped, 0 to read it as a stream instead. */
static int try_map(struct sn_pcap_reader *r, int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        (uint64_t)st.st_size > SIZE_MAX)
        return 0;
    off_t where = lseek(fd, 0, SEEK_CUR);
    if (where < 0 || where > st.st_size)
        return 0;
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED)
        return 0;
    madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
    r->map = m;
    r->maplen = (size_t)st.st_size;
    r->base = m;
    r->len = (size_t)st.st_size;
    r->pos = (size_t)where;
    return 1;
}

int sn_pcap_open_fd(struct sn_pcap_reader *r, int fd, unsigned flags)
{
    reset(r);
    if (fd < 0) {
        return fail(r, -EBADF, "pcap: bad file descriptor %d", fd);
    }
    r->fd = fd;
    r->own_fd = (flags & SN_PCAP_OWNFD) != 0;
    if ((flags & SN_PCAP_STREAM) || !try_map(r, fd)) {
        r->buf = malloc(STREAM_BUF0);
        if (!r->buf) {
            int rc = fail(r, -ENOMEM, "pcap: out of memory for the read buffer");
            sn_pcap_close(r);
            return rc;
        }
        off_t where = lseek(fd, 0, SEEK_CUR); /* fails on pipes: offsets count from 0 */
        r->off = where > 0 ? (uint64_t)where : 0;
        r->cap = STREAM_BUF0;
        r->base = r->buf;
        r->stream = 1;
    } else if (r->own_fd) {
        close(fd); /* the mapping outlives the fd */
        r->fd = -1;
        r->own_fd = 0;
    }
    return start(r);
}

int sn_pcap_open(struct sn_pcap_reader *r, const char *path)
{
    if (strcmp(path, "-") == 0)
        return sn_pcap_open_fd(r, 0, 0);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = -errno;
        reset(r);
        return fail(r, err, "pcap: %s: %s", path, sn_strerror(err));
    }
    return sn_pcap_open_fd(r, fd, SN_PCAP_OWNFD);
}

int sn_pcap_next(struct sn_pcap_reader *r, struct sn_pcap_pkt *pkt)
{
    if (SN_UNLIKELY(r->err))
        return r->err;
    return r->ng ? ng_next(r, pkt) : pcap_next(r, pkt);
}

const char *sn_pcap_errmsg(const struct sn_pcap_reader *r)
{
    return r->errmsg[0] ? r->errmsg : "no error";
}

const struct sn_pcap_iface *sn_pcap_iface(const struct sn_pcap_reader *r, uint32_t id)
{
    if (r->ng)
        return id < r->nif ? &r->ifs[id] : NULL;
    return id == 0 && r->info.format != SN_PCAP_NONE ? &r->pif : NULL;
}

uint64_t sn_pcap_offset(const struct sn_pcap_reader *r)
{
    return r->off + r->pos;
}

void sn_pcap_close(struct sn_pcap_reader *r)
{
    if (r->map)
        munmap(r->map, r->maplen);
    free(r->buf);
    free(r->ifs);
    if (r->own_fd && r->fd >= 0)
        close(r->fd);
    r->map = NULL;
    r->maplen = 0;
    r->buf = NULL;
    r->cap = 0;
    r->ifs = NULL;
    r->nif = r->ifcap = 0;
    r->fd = -1;
    r->own_fd = 0;
    r->stream = 0;
    r->base = NULL;
    r->len = r->pos = 0;
    if (!r->err)
        r->err = -EBADF;
    if (!r->errmsg[0])
        snprintf(r->errmsg, sizeof(r->errmsg), "pcap: the reader is closed");
}
