/* write.c — the capture-file writer: classic pcap (µs or ns) or pcapng (one SHB,
 * one IDB with if_tsresol 9, then EPBs), in native or swapped byte order,
 * buffered in one large block handed to write(2).
 */
#include <sysnet/pcap.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define NS_PER_S 1000000000ull

enum {
    PCAP_HDR_LEN = 24,
    PCAP_REC_LEN = 16,
    NG_SHB_LEN = 44, /* 28 fixed + shb_userappl "sysnet" (4 + 8) + opt_endofopt (4) */
    NG_IDB_LEN = 32, /* 20 fixed + if_tsresol (4 + 4) + opt_endofopt (4) */
    NG_EPB_LEN = 32, /* without the padded data */
    NG_OPT_SHB_USERAPPL = 4,
    NG_OPT_IF_TSRESOL = 9,
};

static void put16(const struct sn_pcap_writer *w, uint8_t *p, uint16_t v)
{
    if (w->swap)
        v = sn_bswap16(v);
    memcpy(p, &v, 2);
}
static void put32(const struct sn_pcap_writer *w, uint8_t *p, uint32_t v)
{
    if (w->swap)
        v = sn_bswap32(v);
    memcpy(p, &v, 4);
}

/* The file header into the (empty) buffer. */
static void put_header(struct sn_pcap_writer *w, uint32_t linktype)
{
    uint8_t *p = w->buf;
    if (w->format != SN_PCAP_NG) {
        put32(w, p, w->format == SN_PCAP_NS ? 0xa1b23c4du : 0xa1b2c3d4u);
        put16(w, p + 4, 2);
        put16(w, p + 6, 4);
        put32(w, p + 8, 0);  /* thiszone: always 0 (UTC) */
        put32(w, p + 12, 0); /* sigfigs */
        put32(w, p + 16, w->snaplen);
        put32(w, p + 20, linktype);
        w->len = PCAP_HDR_LEN;
        return;
    }
    memset(p, 0, NG_SHB_LEN + NG_IDB_LEN);
    put32(w, p, SN_PCAPNG_SHB);
    put32(w, p + 4, NG_SHB_LEN);
    put32(w, p + 8, 0x1a2b3c4du);
    put16(w, p + 12, 1);
    put16(w, p + 14, 0);
    put32(w, p + 16, 0xffffffffu); /* section length: -1, not known */
    put32(w, p + 20, 0xffffffffu);
    put16(w, p + 24, NG_OPT_SHB_USERAPPL);
    put16(w, p + 26, 6);
    memcpy(p + 28, "sysnet", 6);
    /* p + 36: opt_endofopt, zero */
    put32(w, p + 40, NG_SHB_LEN);
    p += NG_SHB_LEN;
    put32(w, p, SN_PCAPNG_IDB);
    put32(w, p + 4, NG_IDB_LEN);
    put16(w, p + 8, (uint16_t)linktype);
    put32(w, p + 12, w->snaplen);
    put16(w, p + 16, NG_OPT_IF_TSRESOL);
    put16(w, p + 18, 1);
    p[20] = 9; /* 10^-9: nanoseconds */
    put32(w, p + 28, NG_IDB_LEN);
    w->len = NG_SHB_LEN + NG_IDB_LEN;
}

static int check_opts(const struct sn_pcap_writer_opts *o, enum sn_pcap_format *fmt)
{
    *fmt = o && o->format ? o->format : SN_PCAP_US;
    if (*fmt != SN_PCAP_US && *fmt != SN_PCAP_NS && *fmt != SN_PCAP_NG)
        return -EINVAL;
    if (*fmt == SN_PCAP_NG && o && o->linktype > 0xffff) /* the IDB field is 16 bits */
        return -EINVAL;
    return 0;
}

int sn_pcap_writer_open_fd(struct sn_pcap_writer *w, int fd, const struct sn_pcap_writer_opts *o)
{
    enum sn_pcap_format fmt;
    memset(w, 0, sizeof(*w));
    w->fd = -1;
    int rc = check_opts(o, &fmt);
    if (rc < 0)
        return rc;
    if (fd < 0)
        return -EBADF;
    w->buf = malloc(SN_PCAP_WBUF);
    if (!w->buf)
        return -ENOMEM;
    w->fd = fd;
    w->format = fmt;
    w->swap = o && o->swapped;
    w->snaplen = o && o->snaplen ? SN_MIN(o->snaplen, SN_PCAP_MAX_CAPLEN) : SN_PCAP_MAX_CAPLEN;
    put_header(w, o ? o->linktype : 0);
    return 0;
}

int sn_pcap_writer_open(struct sn_pcap_writer *w, const char *path,
                        const struct sn_pcap_writer_opts *o)
{
    enum sn_pcap_format fmt;
    memset(w, 0, sizeof(*w));
    w->fd = -1;
    int rc = check_opts(o, &fmt);
    if (rc < 0)
        return rc;
    if (strcmp(path, "-") == 0)
        return sn_pcap_writer_open_fd(w, 1, o);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    rc = sn_pcap_writer_open_fd(w, fd, o);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    w->own_fd = 1;
    return 0;
}

int sn_pcap_writer_flush(struct sn_pcap_writer *w)
{
    size_t done = 0;
    if (w->err)
        return w->err;
    if (!w->buf)
        return -EBADF;
    while (done < w->len) {
        ssize_t k = write(w->fd, w->buf + done, w->len - done);
        if (k > 0) {
            done += (size_t)k;
        } else if (k == 0 || errno != EINTR) {
            w->err = k == 0 ? -EIO : -errno;
            break;
        }
    }
    w->len = 0;
    return w->err;
}

int sn_pcap_write(struct sn_pcap_writer *w, int64_t ts_ns, const void *data, uint32_t caplen,
                  uint32_t wirelen)
{
    if (SN_UNLIKELY(w->err))
        return w->err;
    if (SN_UNLIKELY(!w->buf))
        return -EBADF;
    if (ts_ns < 0)
        return -ERANGE;
    if (caplen && !data)
        return -EINVAL;
    uint64_t ts = (uint64_t)ts_ns, sec = ts / NS_PER_S, frac = ts % NS_PER_S;
    if (w->format != SN_PCAP_NG && sec > UINT32_MAX)
        return -ERANGE;
    wirelen = SN_MAX(wirelen, caplen);
    caplen = SN_MIN(caplen, w->snaplen);
    size_t pad = (4 - caplen % 4) % 4;
    size_t rec = w->format == SN_PCAP_NG ? NG_EPB_LEN + caplen + pad : PCAP_REC_LEN + caplen;
    if (w->len + rec > SN_PCAP_WBUF) {
        int rc = sn_pcap_writer_flush(w);
        if (rc < 0)
            return rc;
    }
    uint8_t *p = w->buf + w->len;
    if (w->format == SN_PCAP_NG) {
        put32(w, p, SN_PCAPNG_EPB);
        put32(w, p + 4, (uint32_t)rec);
        put32(w, p + 8, 0); /* interface 0 */
        put32(w, p + 12, (uint32_t)(ts >> 32));
        put32(w, p + 16, (uint32_t)ts);
        put32(w, p + 20, caplen);
        put32(w, p + 24, wirelen);
        if (caplen)
            memcpy(p + 28, data, caplen);
        memset(p + 28 + caplen, 0, pad);
        put32(w, p + rec - 4, (uint32_t)rec);
    } else {
        put32(w, p, (uint32_t)sec);
        put32(w, p + 4, (uint32_t)(w->format == SN_PCAP_NS ? frac : frac / 1000));
        put32(w, p + 8, caplen);
        put32(w, p + 12, wirelen);
        if (caplen)
            memcpy(p + 16, data, caplen);
    }
    w->len += rec;
    w->npkts++;
    return 0;
}

int sn_pcap_writer_close(struct sn_pcap_writer *w)
{
    if (w->buf) {
        sn_pcap_writer_flush(w);
        free(w->buf);
        w->buf = NULL;
        w->len = 0;
    }
    if (w->own_fd && w->fd >= 0 && close(w->fd) < 0 && !w->err)
        w->err = -errno;
    w->own_fd = 0;
    w->fd = -1;
    return w->err;
}

const char *sn_pcap_format_name(enum sn_pcap_format f)
{
    switch (f) {
    case SN_PCAP_US: return "pcap";
    case SN_PCAP_NS: return "pcap-ns";
    case SN_PCAP_NG: return "pcapng";
    default: return "none";
    }
}

int sn_pcap_format_parse(const char *name)
{
    static const struct {
        const char *name;
        enum sn_pcap_format f;
    } tab[] = {
        {"pcap", SN_PCAP_US},    {"pcap-us", SN_PCAP_US},  {"pcap-ns", SN_PCAP_NS},
        {"nsecpcap", SN_PCAP_NS}, {"pcapng", SN_PCAP_NG},  {"ng", SN_PCAP_NG},
    };
    for (size_t i = 0; i < SN_COUNTOF(tab); i++)
        if (strcmp(name, tab[i].name) == 0)
            return (int)tab[i].f;
    return -EINVAL;
}
