/* test_pcap.c — capture files: round trips through the writer and the reader for
 * every format and byte order, hand-built files (swapped order, pcapng sections,
 * SPB, PB, if_tsresol, unknown blocks), malformed and truncated input, pipes,
 * standard input, and writer errors. */
#include "../harness.h"
#include <sysnet/base.h>
#include <sysnet/pcap.h>
#include <sysnet/wire.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* ---- fixtures ------------------------------------------------------------- */

#define NPKT 60

/* Packet i: a length that runs through 0, odd and even sizes up to 1514, and a
 * stamp with all nine fractional digits used. */
static uint32_t pkt_len(int i)
{
    return (uint32_t)(i * 97 % 1515);
}
static int64_t pkt_ts(int i)
{
    return 1700000000123456789LL + (int64_t)i * 1000000007LL;
}
static void pkt_fill(int i, uint8_t *buf, uint32_t len)
{
    for (uint32_t j = 0; j < len; j++)
        buf[j] = (uint8_t)(i * 31 + j * 7);
}

static int memfd(void)
{
    return memfd_create("test_pcap", MFD_CLOEXEC);
}

/* The whole content of fd (from offset 0) in a malloc'ed buffer. */
static uint8_t *slurp(int fd, size_t *n)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return NULL;
    uint8_t *p = malloc((size_t)st.st_size + 1);
    if (p && pread(fd, p, (size_t)st.st_size, 0) != st.st_size) {
        free(p);
        return NULL;
    }
    *n = (size_t)st.st_size;
    return p;
}

/* Write NPKT packets (plus `extra` bytes of one packet of that size if > 0) into fd. */
static int write_file(int fd, enum sn_pcap_format fmt, int swapped, uint32_t snaplen, int extra)
{
    struct sn_pcap_writer w;
    struct sn_pcap_writer_opts o = {.format = fmt, .linktype = SN_LINKTYPE_ETHERNET,
                                    .snaplen = snaplen, .swapped = swapped};
    static uint8_t buf[SN_PCAP_MAX_CAPLEN];
    int rc = sn_pcap_writer_open_fd(&w, fd, &o);
    if (rc < 0)
        return rc;
    for (int i = 0; i < NPKT && rc == 0; i++) {
        pkt_fill(i, buf, pkt_len(i));
        rc = sn_pcap_write(&w, pkt_ts(i), buf, pkt_len(i), pkt_len(i) + (uint32_t)(i % 3));
        if (rc == 0 && extra && i == NPKT / 2) {
            pkt_fill(1000, buf, (uint32_t)extra);
            rc = sn_pcap_write(&w, pkt_ts(1000), buf, (uint32_t)extra, (uint32_t)extra);
        }
    }
    int rc2 = sn_pcap_writer_close(&w);
    return rc ? rc : rc2;
}

static int64_t expect_ts(enum sn_pcap_format fmt, int64_t ts)
{
    return fmt == SN_PCAP_US ? ts / 1000 * 1000 : ts;
}

/* Read back what write_file wrote; CHECK failures end the calling test. */
static void check_packets(struct sn_pcap_reader *r, enum sn_pcap_format fmt, int extra)
{
    static uint8_t want[SN_PCAP_MAX_CAPLEN];
    struct sn_pcap_pkt pkt;
    for (int i = 0; i < NPKT; i++) {
        CHECK_EQ(sn_pcap_next(r, &pkt), 1);
        CHECK_EQ(pkt.ts_ns, expect_ts(fmt, pkt_ts(i)));
        CHECK_EQ(pkt.caplen, pkt_len(i));
        CHECK_EQ(pkt.wirelen, pkt_len(i) + (uint32_t)(i % 3));
        CHECK_EQ(pkt.linktype, SN_LINKTYPE_ETHERNET);
        CHECK_EQ(pkt.ifindex, 0);
        pkt_fill(i, want, pkt_len(i));
        CHECK_MEM(pkt.data, want, pkt.caplen);
        if (extra && i == NPKT / 2) {
            CHECK_EQ(sn_pcap_next(r, &pkt), 1);
            CHECK_EQ(pkt.caplen, (uint32_t)extra);
            pkt_fill(1000, want, (uint32_t)extra);
            CHECK_MEM(pkt.data, want, pkt.caplen);
        }
    }
    CHECK_EQ(sn_pcap_next(r, &pkt), 0);
    CHECK_EQ(sn_pcap_next(r, &pkt), 0);
}

static void roundtrip(enum sn_pcap_format fmt, int swapped)
{
    int fd = memfd();
    CHECK(fd >= 0);
    CHECK_EQ(write_file(fd, fmt, swapped, 0, 0), 0);

    /* The magic is in the order asked for. */
    uint8_t head[4];
    CHECK_EQ(pread(fd, head, 4, 0), 4);
    uint32_t magic = fmt == SN_PCAP_NG ? SN_PCAPNG_SHB : fmt == SN_PCAP_NS ? 0xa1b23c4du : 0xa1b2c3d4u;
    int file_be = swapped ^ SN_BIG_ENDIAN_HOST;
    CHECK_EQ(file_be ? sn_load_be32(head) : sn_load_le32(head), magic);

    unsigned modes[] = {0, SN_PCAP_STREAM};
    for (size_t m = 0; m < SN_COUNTOF(modes); m++) {
        struct sn_pcap_reader r;
        CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
        CHECK_EQ(sn_pcap_open_fd(&r, fd, modes[m]), 0);
        CHECK_EQ(r.info.format, fmt);
        CHECK_EQ(r.info.swapped, swapped);
        CHECK_EQ(r.info.big_endian, file_be);
        CHECK_EQ(r.info.version_major, fmt == SN_PCAP_NG ? 1 : 2);
        CHECK_EQ(r.info.version_minor, fmt == SN_PCAP_NG ? 0 : 4);
        CHECK_EQ(r.info.snaplen, SN_PCAP_MAX_CAPLEN);
        CHECK_EQ(r.info.linktype, SN_LINKTYPE_ETHERNET);
        CHECK_EQ(r.info.tsdigits, fmt == SN_PCAP_US ? 6 : 9);
        check_packets(&r, fmt, 0);
        if (sn_cur_failed)
            return;
        sn_pcap_close(&r);
    }
    close(fd);
}

SN_TEST(roundtrip_pcap_us_native) { roundtrip(SN_PCAP_US, 0); }
SN_TEST(roundtrip_pcap_us_swapped) { roundtrip(SN_PCAP_US, 1); }
SN_TEST(roundtrip_pcap_ns_native) { roundtrip(SN_PCAP_NS, 0); }
SN_TEST(roundtrip_pcap_ns_swapped) { roundtrip(SN_PCAP_NS, 1); }
SN_TEST(roundtrip_pcapng_native) { roundtrip(SN_PCAP_NG, 0); }
SN_TEST(roundtrip_pcapng_swapped) { roundtrip(SN_PCAP_NG, 1); }

/* ---- a byte builder for hand-made files ------------------------------------ */

struct bb {
    uint8_t b[16384];
    size_t n;
    int be;
    size_t bounds[64]; /* offsets where a record/block ends */
    int nb;
};
static void p8(struct bb *b, uint8_t v) { b->b[b->n++] = v; }
static void p16(struct bb *b, uint16_t v)
{
    if (b->be)
        sn_store_be16(b->b + b->n, v);
    else
        sn_store_le16(b->b + b->n, v);
    b->n += 2;
}
static void p32at(struct bb *b, size_t at, uint32_t v)
{
    if (b->be)
        sn_store_be32(b->b + at, v);
    else
        sn_store_le32(b->b + at, v);
}
static void p32(struct bb *b, uint32_t v)
{
    p32at(b, b->n, v);
    b->n += 4;
}
static void p64(struct bb *b, uint64_t v)
{
    if (b->be)
        sn_store_be64(b->b + b->n, v);
    else
        sn_store_le64(b->b + b->n, v);
    b->n += 8;
}
static void pbytes(struct bb *b, const void *d, size_t n)
{
    memcpy(b->b + b->n, d, n);
    b->n += n;
}
static void ppad(struct bb *b)
{
    while (b->n % 4)
        p8(b, 0);
}
static void mark(struct bb *b)
{
    b->bounds[b->nb++] = b->n;
}
static size_t blk_begin(struct bb *b, uint32_t type)
{
    size_t at = b->n;
    p32(b, type);
    p32(b, 0);
    return at;
}
static void blk_end(struct bb *b, size_t at)
{
    ppad(b);
    uint32_t len = (uint32_t)(b->n - at + 4);
    p32(b, len);
    p32at(b, at + 4, len);
    mark(b);
}
static void ng_shb(struct bb *b, int be)
{
    b->be = be;
    size_t at = blk_begin(b, SN_PCAPNG_SHB);
    p32(b, 0x1a2b3c4d);
    p16(b, 1);
    p16(b, 0);
    p64(b, UINT64_MAX);
    blk_end(b, at);
}
/* tsresol < 0: no if_tsresol option; tsoff != 0: an if_tsoffset option. */
static void ng_idb(struct bb *b, uint16_t lt, uint32_t snap, int tsresol, int64_t tsoff)
{
    size_t at = blk_begin(b, SN_PCAPNG_IDB);
    p16(b, lt);
    p16(b, 0);
    p32(b, snap);
    p16(b, 2); /* if_name, to be skipped */
    p16(b, 3);
    pbytes(b, "lo0", 3);
    ppad(b);
    if (tsresol >= 0) {
        p16(b, 9);
        p16(b, 1);
        p8(b, (uint8_t)tsresol);
        ppad(b);
    }
    if (tsoff) {
        p16(b, 14);
        p16(b, 8);
        p64(b, (uint64_t)tsoff);
    }
    p32(b, 0); /* opt_endofopt */
    blk_end(b, at);
}
static void ng_epb(struct bb *b, uint32_t ifid, uint64_t ticks, const void *d, uint32_t caplen,
                   uint32_t wirelen)
{
    size_t at = blk_begin(b, SN_PCAPNG_EPB);
    p32(b, ifid);
    p32(b, (uint32_t)(ticks >> 32));
    p32(b, (uint32_t)ticks);
    p32(b, caplen);
    p32(b, wirelen);
    pbytes(b, d, caplen);
    ppad(b);
    p16(b, 1); /* opt_comment, skipped */
    p16(b, 2);
    pbytes(b, "hi", 2);
    ppad(b);
    blk_end(b, at);
}
static void ng_pb(struct bb *b, uint16_t ifid, uint64_t ticks, const void *d, uint32_t caplen,
                  uint32_t wirelen)
{
    size_t at = blk_begin(b, SN_PCAPNG_PB);
    p16(b, ifid);
    p16(b, 0); /* drops */
    p32(b, (uint32_t)(ticks >> 32));
    p32(b, (uint32_t)ticks);
    p32(b, caplen);
    p32(b, wirelen);
    pbytes(b, d, caplen);
    blk_end(b, at);
}
static void ng_spb(struct bb *b, uint32_t wirelen, const void *d, uint32_t n)
{
    size_t at = blk_begin(b, SN_PCAPNG_SPB);
    p32(b, wirelen);
    pbytes(b, d, n);
    blk_end(b, at);
}
static void ng_other(struct bb *b, uint32_t type, size_t bodylen)
{
    size_t at = blk_begin(b, type);
    for (size_t i = 0; i < bodylen; i++)
        p8(b, (uint8_t)(0xa0 + i));
    blk_end(b, at);
}
static void pc_hdr(struct bb *b, int be, uint32_t magic, uint16_t major, uint32_t snap, uint32_t lt)
{
    b->be = be;
    p32(b, magic);
    p16(b, major);
    p16(b, 4);
    p32(b, 0);
    p32(b, 0);
    p32(b, snap);
    p32(b, lt);
    mark(b);
}
static void pc_rec(struct bb *b, uint32_t sec, uint32_t frac, const void *d, uint32_t caplen,
                   uint32_t wirelen)
{
    p32(b, sec);
    p32(b, frac);
    p32(b, caplen);
    p32(b, wirelen);
    pbytes(b, d, caplen);
    mark(b);
}

static const uint8_t P1[] = {0xde, 0xad, 0xbe, 0xef, 0x01};
static const uint8_t P2[] = {0x45, 0x00, 0x00, 0x14, 0x00, 0x00, 0x40, 0x00,
                             0x40, 0x11, 0x00, 0x00, 0x7f, 0x00, 0x00, 0x01};

/* The reader's error line contains `what`. */
#define CHECK_MSG(r, what) CHECK(strstr(sn_pcap_errmsg(r), (what)) != NULL)

/* ---- hand-built classic pcap ------------------------------------------------ */

SN_TEST(pcap_big_endian_by_hand)
{
    static struct bb b;
    memset(&b, 0, sizeof(b));
    pc_hdr(&b, 1, 0xa1b2c3d4, 2, 65535, SN_LINKTYPE_RAW);
    pc_rec(&b, 1600000000, 999999, P2, sizeof(P2), 60);
    pc_rec(&b, 1600000001, 5, P1, 3, 5);
    CHECK(b.b[0] == 0xa1 && b.b[3] == 0xd4);
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
    CHECK_EQ(r.info.big_endian, 1);
    CHECK_EQ(r.info.swapped, !SN_BIG_ENDIAN_HOST);
    CHECK_EQ(r.info.snaplen, 65535);
    CHECK_EQ(r.info.linktype, SN_LINKTYPE_RAW);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.ts_ns, 1600000000999999000LL);
    CHECK_EQ(pkt.caplen, sizeof(P2));
    CHECK_EQ(pkt.wirelen, 60);
    CHECK_EQ(pkt.linktype, SN_LINKTYPE_RAW);
    CHECK_MEM(pkt.data, P2, sizeof(P2));
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.ts_ns, 1600000001000005000LL);
    CHECK_EQ(pkt.caplen, 3);
    CHECK_EQ(pkt.wirelen, 5);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 0);
    CHECK_EQ(sn_pcap_offset(&r), b.n);
    sn_pcap_close(&r);
}

SN_TEST(pcap_ns_little_endian_by_hand)
{
    static struct bb b;
    memset(&b, 0, sizeof(b));
    pc_hdr(&b, 0, 0xa1b23c4d, 2, 262144, SN_LINKTYPE_ETHERNET | 0x14000000u); /* FCS bits */
    pc_rec(&b, 4294967295u, 999999999, P1, sizeof(P1), sizeof(P1));
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
    CHECK_EQ(r.info.format, SN_PCAP_NS);
    CHECK_EQ(r.info.big_endian, 0);
    CHECK_EQ(r.info.linktype, SN_LINKTYPE_ETHERNET);
    CHECK_EQ(sn_pcap_iface(&r, 0)->tsunits, 1000000000);
    CHECK(sn_pcap_iface(&r, 1) == NULL);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.ts_ns, 4294967295999999999LL); /* the last second of 2106, exact */
    CHECK_MEM(pkt.data, P1, sizeof(P1));
    CHECK_EQ(sn_pcap_next(&r, &pkt), 0);
    sn_pcap_close(&r);
}

SN_TEST(pcap_unsupported_versions)
{
    static struct bb b;
    struct sn_pcap_reader r;
    memset(&b, 0, sizeof(b));
    pc_hdr(&b, 0, 0xa1b2c3d4, 3, 65535, 1);
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), -EPROTONOSUPPORT);
    CHECK_MSG(&r, "version 3.4");
    memset(&b, 0, sizeof(b));
    pc_hdr(&b, 1, 0xa1b2cd34, 2, 65535, 1);
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), -EPROTONOSUPPORT);
    CHECK_MSG(&r, "modified");
    sn_pcap_close(&r);
}

SN_TEST(garbage_magic)
{
    static const char junk[] = "GET / HTTP/1.1\r\nHost: example\r\n\r\n";
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(sn_pcap_open_mem(&r, junk, sizeof(junk) - 1), -EBADMSG);
    CHECK_MSG(&r, "not a pcap or pcapng file (magic 0x47455420 at offset 0)");
    CHECK_EQ(sn_pcap_next(&r, &pkt), -EBADMSG); /* defined state after a failed open */
    sn_pcap_close(&r);
    sn_pcap_close(&r);
    CHECK_EQ(sn_pcap_next(&r, &pkt), -EBADMSG);
}

SN_TEST(zero_length_and_short_files)
{
    struct sn_pcap_reader r;
    CHECK_EQ(sn_pcap_open_mem(&r, "", 0), -ENODATA);
    CHECK_MSG(&r, "empty file");
    CHECK_EQ(sn_pcap_open_mem(&r, NULL, 0), -ENODATA);
    CHECK_EQ(sn_pcap_open_mem(&r, "\xd4\xc3", 2), -ENODATA);
    CHECK_EQ(sn_pcap_open_mem(&r, "\xd4\xc3\xb2\xa1\x02\x00", 6), -ENODATA);
    CHECK_MSG(&r, "file header at offset 0 cut short: 6 of 24 bytes");

    char path[] = "/tmp/test_pcap_emptyXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK_EQ(sn_pcap_open(&r, path), -ENODATA);
    CHECK_MSG(&r, "empty file");
    unlink(path);
    CHECK_EQ(sn_pcap_open(&r, path), -ENOENT);
    CHECK_MSG(&r, path);
    sn_pcap_close(&r);
}

SN_TEST(pcap_caplen_huge_is_sticky)
{
    static struct bb b;
    memset(&b, 0, sizeof(b));
    pc_hdr(&b, 0, 0xa1b2c3d4, 2, 65535, 1);
    pc_rec(&b, 1, 2, P1, sizeof(P1), sizeof(P1));
    size_t bad = b.n;
    pc_rec(&b, 1, 2, P1, sizeof(P1), sizeof(P1));
    sn_store_le32(b.b + bad + 8, SN_PCAP_MAX_CAPLEN + 1);
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(sn_pcap_next(&r, &pkt), -EBADMSG);
    char want[96];
    snprintf(want, sizeof(want), "record at offset %zu has caplen 262145", bad);
    CHECK_MSG(&r, want);
    CHECK_EQ(sn_pcap_next(&r, &pkt), -EBADMSG);
    CHECK_EQ(sn_pcap_next(&r, &pkt), -EBADMSG);
    CHECK_EQ(sn_pcap_offset(&r), bad);
    sn_pcap_close(&r);

    /* The largest legal caplen with its data missing is a truncation, not garbage. */
    sn_store_le32(b.b + bad + 8, SN_PCAP_MAX_CAPLEN);
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(sn_pcap_next(&r, &pkt), -ENODATA);
    CHECK_MSG(&r, "cut short: caplen 262144, only 5 bytes");
    sn_pcap_close(&r);
}

/* ---- hand-built pcapng ------------------------------------------------------- */

SN_TEST(pcapng_unknown_blocks_skipped)
{
    static struct bb b;
    memset(&b, 0, sizeof(b));
    ng_shb(&b, 0);
    ng_other(&b, 0x00000bad, 5);      /* custom (PEN + 1 byte), before the IDB */
    ng_idb(&b, SN_LINKTYPE_ETHERNET, 0, -1, 0);
    ng_epb(&b, 0, 1000001, P1, sizeof(P1), 64);
    ng_other(&b, SN_PCAPNG_NRB, 16);  /* name resolution */
    ng_other(&b, SN_PCAPNG_ISB, 24);  /* interface statistics */
    ng_other(&b, 0x0badcafe, 0);      /* unknown, empty */
    ng_other(&b, 0x40000bad, 4);      /* custom, "do not copy" */
    ng_epb(&b, 0, 2000002, P2, sizeof(P2), sizeof(P2));
    ng_other(&b, 0x0000000a, 8);      /* decryption secrets, last */
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
    CHECK_EQ(r.info.format, SN_PCAP_NG);
    CHECK_EQ(r.info.linktype, SN_LINKTYPE_ETHERNET);
    CHECK_EQ(r.info.tsdigits, 6);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.ts_ns, 1000001000LL);
    CHECK_EQ(pkt.caplen, sizeof(P1));
    CHECK_EQ(pkt.wirelen, 64);
    CHECK_MEM(pkt.data, P1, sizeof(P1));
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.ts_ns, 2000002000LL);
    CHECK_MEM(pkt.data, P2, sizeof(P2));
    CHECK_EQ(sn_pcap_next(&r, &pkt), 0);
    CHECK_EQ(sn_pcap_offset(&r), b.n);
    sn_pcap_close(&r);
}

SN_TEST(pcapng_sections_with_both_byte_orders)
{
    static struct bb b;
    memset(&b, 0, sizeof(b));
    ng_shb(&b, 0);
    ng_idb(&b, SN_LINKTYPE_ETHERNET, 1514, 9, 0);
    ng_idb(&b, SN_LINKTYPE_LINUX_SLL, 0, 6, 0);
    ng_epb(&b, 1, 7, P1, sizeof(P1), sizeof(P1));
    ng_epb(&b, 0, 8, P1, sizeof(P1), sizeof(P1));
    ng_shb(&b, 1); /* big-endian from here on */
    ng_idb(&b, SN_LINKTYPE_RAW, 0, 3, 0);
    ng_epb(&b, 0, 1234567, P2, sizeof(P2), sizeof(P2));
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
    CHECK_EQ(r.info.big_endian, 0);
    CHECK_EQ(r.info.linktype, SN_LINKTYPE_ETHERNET);
    CHECK_EQ(r.info.snaplen, 1514);
    CHECK_EQ(r.info.tsdigits, 9);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.ifindex, 1);
    CHECK_EQ(pkt.linktype, SN_LINKTYPE_LINUX_SLL);
    CHECK_EQ(pkt.ts_ns, 7000);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.ifindex, 0);
    CHECK_EQ(pkt.linktype, SN_LINKTYPE_ETHERNET);
    CHECK_EQ(pkt.ts_ns, 8);
    CHECK(sn_pcap_iface(&r, 1) != NULL);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.ifindex, 0);
    CHECK_EQ(pkt.linktype, SN_LINKTYPE_RAW);
    CHECK_EQ(pkt.ts_ns, 1234567000000LL); /* 10^-3 */
    CHECK_MEM(pkt.data, P2, sizeof(P2));
    CHECK(sn_pcap_iface(&r, 1) == NULL); /* the new section has one interface */
    CHECK_EQ(sn_pcap_iface(&r, 0)->tsunits, 1000);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 0);
    CHECK_EQ(r.info.big_endian, 0); /* info stays the first section's */
    sn_pcap_close(&r);
}

SN_TEST(pcapng_new_section_forgets_interfaces)
{
    static struct bb b;
    memset(&b, 0, sizeof(b));
    ng_shb(&b, 1);
    ng_idb(&b, 1, 0, -1, 0);
    ng_idb(&b, 1, 0, -1, 0);
    ng_shb(&b, 0);
    ng_idb(&b, 1, 0, -1, 0);
    size_t bad = b.n;
    ng_epb(&b, 1, 0, P1, sizeof(P1), sizeof(P1));
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
    CHECK_EQ(r.info.big_endian, 1);
    CHECK_EQ(sn_pcap_next(&r, &pkt), -EBADMSG);
    char want[128];
    snprintf(want, sizeof(want), "enhanced packet block at offset %zu refers to interface 1, but 1 defined", bad);
    CHECK_MSG(&r, want);
    sn_pcap_close(&r);
}

SN_TEST(pcapng_packet_before_any_interface)
{
    static struct bb b;
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    memset(&b, 0, sizeof(b));
    ng_shb(&b, 0);
    ng_epb(&b, 0, 0, P1, sizeof(P1), sizeof(P1));
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
    CHECK_EQ(r.info.linktype, SN_PCAP_LINKTYPE_NONE);
    CHECK_EQ(sn_pcap_next(&r, &pkt), -EBADMSG);
    CHECK_MSG(&r, "but 0 defined");
    sn_pcap_close(&r);

    memset(&b, 0, sizeof(b));
    ng_shb(&b, 0);
    ng_spb(&b, sizeof(P1), P1, sizeof(P1));
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
    CHECK_EQ(sn_pcap_next(&r, &pkt), -EBADMSG);
    CHECK_MSG(&r, "simple packet block");
    sn_pcap_close(&r);
}

SN_TEST(pcapng_simple_packet_block)
{
    static struct bb b;
    uint8_t big[100];
    pkt_fill(3, big, sizeof(big));
    memset(&b, 0, sizeof(b));
    ng_shb(&b, 1);
    ng_idb(&b, SN_LINKTYPE_ETHERNET, 64, -1, 0);
    ng_spb(&b, 100, big, 100);         /* snaplen 64 cuts it */
    ng_spb(&b, 10, big, 10);           /* padded to 12: caplen is orig_len */
    ng_spb(&b, 1500, big, 40);         /* body shorter than orig_len */
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.caplen, 64);
    CHECK_EQ(pkt.wirelen, 100);
    CHECK_EQ(pkt.ts_ns, 0);
    CHECK_EQ(pkt.linktype, SN_LINKTYPE_ETHERNET);
    CHECK_MEM(pkt.data, big, 64);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.caplen, 10);
    CHECK_EQ(pkt.wirelen, 10);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.caplen, 40);
    CHECK_EQ(pkt.wirelen, 1500);
    CHECK_MEM(pkt.data, big, 40);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 0);
    sn_pcap_close(&r);
}

SN_TEST(pcapng_obsolete_packet_block)
{
    static struct bb b;
    memset(&b, 0, sizeof(b));
    ng_shb(&b, 0);
    ng_idb(&b, SN_LINKTYPE_RAW, 0, -1, 0);
    ng_idb(&b, SN_LINKTYPE_ETHERNET, 0, 9, 0);
    ng_pb(&b, 1, 42, P2, sizeof(P2), 100);
    ng_pb(&b, 2, 42, P2, sizeof(P2), 100);
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
    CHECK_EQ(r.info.linktype, SN_LINKTYPE_RAW);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.ifindex, 1);
    CHECK_EQ(pkt.linktype, SN_LINKTYPE_ETHERNET);
    CHECK_EQ(pkt.ts_ns, 42);
    CHECK_EQ(pkt.caplen, sizeof(P2));
    CHECK_EQ(pkt.wirelen, 100);
    CHECK_MEM(pkt.data, P2, sizeof(P2));
    CHECK_EQ(sn_pcap_next(&r, &pkt), -EBADMSG);
    CHECK_MSG(&r, "packet block at offset");
    sn_pcap_close(&r);
}

SN_TEST(pcapng_tsresol_power_of_two)
{
    static struct bb b;
    memset(&b, 0, sizeof(b));
    ng_shb(&b, 0);
    ng_idb(&b, 1, 0, 0x80 | 20, 0); /* 2^-20 s */
    ng_epb(&b, 0, (1700000000ull << 20) | (1u << 19), P1, 1, 1);       /* + 0.5 s */
    ng_epb(&b, 0, (1700000000ull << 20) | 1, P1, 1, 1);               /* + 953.67... ns */
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
    CHECK_EQ(sn_pcap_iface(&r, 0)->tsunits, 1u << 20);
    CHECK_EQ(sn_pcap_iface(&r, 0)->tsresol, 0x94);
    CHECK_EQ(r.info.tsdigits, 7);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.ts_ns, 1700000000500000000LL);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.ts_ns, 1700000000000000953LL); /* 10^9 / 2^20, rounded down */
    sn_pcap_close(&r);
}

SN_TEST(pcapng_tsresol_millis_and_picos)
{
    static struct bb b;
    memset(&b, 0, sizeof(b));
    ng_shb(&b, 0);
    ng_idb(&b, 1, 0, 3, 0);  /* 10^-3 */
    ng_idb(&b, 1, 0, 12, 0); /* 10^-12 */
    ng_idb(&b, 1, 0, 0, 0);  /* 10^0: whole seconds */
    ng_epb(&b, 0, 1700000000123ull, P1, 1, 1);
    ng_epb(&b, 1, 12345678901234567890ull, P1, 1, 1); /* u64 ps reach only 213 days */
    ng_epb(&b, 2, 1700000000ull, P1, 1, 1);
    ng_epb(&b, 0, UINT64_MAX, P1, 1, 1); /* beyond 2262: saturates */
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
    CHECK_EQ(r.info.tsdigits, 3);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.ts_ns, 1700000000123000000LL);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.ts_ns, 12345678901234567LL); /* ps truncated to ns */
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.ts_ns, 1700000000000000000LL);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK(pkt.ts_ns == INT64_MAX);
    sn_pcap_close(&r);
}

SN_TEST(pcapng_tsoffset)
{
    static struct bb b;
    memset(&b, 0, sizeof(b));
    ng_shb(&b, 1);
    ng_idb(&b, 1, 0, 9, 1600000000);
    ng_idb(&b, 1, 0, -1, -5);
    ng_epb(&b, 0, 123456789, P1, 1, 1);
    ng_epb(&b, 1, 7000000, P1, 1, 1);
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.ts_ns, 1600000000123456789LL);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.ts_ns, 2000000000LL);
    sn_pcap_close(&r);
}

SN_TEST(pcapng_tsresol_too_fine)
{
    static struct bb b;
    struct sn_pcap_reader r;
    memset(&b, 0, sizeof(b));
    ng_shb(&b, 0);
    ng_idb(&b, 1, 0, 20, 0);
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), -EPROTONOSUPPORT);
    CHECK_MSG(&r, "10^-20");
    memset(&b, 0, sizeof(b));
    ng_shb(&b, 0);
    ng_idb(&b, 1, 0, 0x80 | 64, 0);
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), -EPROTONOSUPPORT);
    CHECK_MSG(&r, "2^-64");
    sn_pcap_close(&r);
}

SN_TEST(pcapng_bad_section_headers)
{
    static struct bb b;
    struct sn_pcap_reader r;
    memset(&b, 0, sizeof(b));
    ng_shb(&b, 0);
    sn_store_le16(b.b + 12, 2); /* version 2.0 */
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), -EPROTONOSUPPORT);
    CHECK_MSG(&r, "version 2.0");
    memset(&b, 0, sizeof(b));
    ng_shb(&b, 0);
    b.b[8] ^= 0xff; /* byte-order magic */
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), -EBADMSG);
    CHECK_MSG(&r, "byte-order magic");
    /* A bad second section is found by next(), with its offset. */
    memset(&b, 0, sizeof(b));
    ng_shb(&b, 0);
    ng_idb(&b, 1, 0, -1, 0);
    size_t second = b.n;
    ng_shb(&b, 1);
    sn_store_be32(b.b + second + 4, 24);
    struct sn_pcap_pkt pkt;
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
    CHECK_EQ(sn_pcap_next(&r, &pkt), -EBADMSG);
    char want[128];
    snprintf(want, sizeof(want), "section header block (type 0xa0d0d0a) at offset %zu has length 24", second);
    CHECK_MSG(&r, want);
    sn_pcap_close(&r);
}

/* A file whose third block (after SHB and IDB) gets a bad length field. Returns
 * what next() says (twice the same: sticky), the reader closed, its message kept. */
static int bad_block_len(uint32_t type, uint32_t len, int at_trailer, struct sn_pcap_reader *r,
                         size_t *where)
{
    static struct bb b;
    struct sn_pcap_pkt pkt;
    int rc;
    memset(&b, 0, sizeof(b));
    ng_shb(&b, 0);
    ng_idb(&b, 1, 0, -1, 0);
    *where = b.n;
    if (type == SN_PCAPNG_EPB)
        ng_epb(&b, 0, 1, P2, sizeof(P2), sizeof(P2));
    else
        ng_other(&b, type, 8);
    ng_epb(&b, 0, 1, P2, sizeof(P2), sizeof(P2));
    sn_store_le32(b.b + (at_trailer ? b.bounds[2] - 4 : *where + 4), len);
    if ((rc = sn_pcap_open_mem(r, b.b, b.n)) < 0)
        return 1000 + rc;
    rc = sn_pcap_next(r, &pkt);
    if (rc != sn_pcap_next(r, &pkt)) /* sticky */
        rc = 2000;
    sn_pcap_close(r);
    return rc;
}

SN_TEST(pcapng_block_length_zero)
{
    struct sn_pcap_reader r;
    size_t at;
    CHECK_EQ(bad_block_len(0x0badcafe, 0, 0, &r, &at), -EBADMSG);
    CHECK_MSG(&r, "has length 0, less than the minimum 12");
    CHECK_EQ(bad_block_len(0x0bad, 0, 0, &r, &at), -EBADMSG);
    CHECK_EQ(bad_block_len(SN_PCAPNG_EPB, 0, 0, &r, &at), -EBADMSG);
    sn_pcap_close(&r);
}

SN_TEST(pcapng_block_length_not_multiple_of_4)
{
    struct sn_pcap_reader r;
    size_t at;
    CHECK_EQ(bad_block_len(SN_PCAPNG_EPB, 61, 0, &r, &at), -EBADMSG);
    char want[96];
    snprintf(want, sizeof(want), "pcapng: block at offset %zu has length 61 (not a multiple of 4)", at);
    CHECK_STR(sn_pcap_errmsg(&r), want);
    CHECK_EQ(bad_block_len(0x0badcafe, 7, 0, &r, &at), -EBADMSG);
    CHECK_MSG(&r, "has length 7 (not a multiple of 4)");
    sn_pcap_close(&r);
}

SN_TEST(pcapng_block_length_below_header)
{
    struct sn_pcap_reader r;
    size_t at;
    CHECK_EQ(bad_block_len(0x0badcafe, 8, 0, &r, &at), -EBADMSG);
    CHECK_EQ(bad_block_len(0x0bad, 12, 0, &r, &at), -EBADMSG); /* a custom block needs its PEN */
    CHECK_MSG(&r, "custom block (type 0xbad)");
    CHECK_EQ(bad_block_len(SN_PCAPNG_ISB, 20, 0, &r, &at), -EBADMSG);
    CHECK_EQ(bad_block_len(SN_PCAPNG_EPB, 28, 0, &r, &at), -EBADMSG);
    CHECK_MSG(&r, "enhanced packet block (type 0x6)");
    CHECK_MSG(&r, "has length 28, less than the minimum 32");
    CHECK_EQ(bad_block_len(SN_PCAPNG_SPB, 12, 0, &r, &at), -EBADMSG);
    CHECK_EQ(bad_block_len(SN_PCAPNG_IDB, 16, 0, &r, &at), -EBADMSG);
    sn_pcap_close(&r);
}

SN_TEST(pcapng_block_length_huge_or_mismatched)
{
    struct sn_pcap_reader r;
    size_t at;
    CHECK_EQ(bad_block_len(0x0badcafe, 0xfffffffc, 0, &r, &at), -EBADMSG);
    CHECK_MSG(&r, "more than 16777216");
    /* Longer than the file but legal: a truncation. */
    CHECK_EQ(bad_block_len(0x0badcafe, 4096, 0, &r, &at), -ENODATA);
    CHECK_MSG(&r, "cut short: length 4096");
    CHECK_EQ(bad_block_len(SN_PCAPNG_EPB, 48, 1, &r, &at), -EBADMSG);
    CHECK_MSG(&r, "trailing length 48");
    /* A shorter leading length puts the trailer elsewhere. */
    CHECK_EQ(bad_block_len(SN_PCAPNG_EPB, 36, 0, &r, &at), -EBADMSG);
    sn_pcap_close(&r);
}

SN_TEST(pcapng_epb_caplen_beyond_block)
{
    static struct bb b;
    memset(&b, 0, sizeof(b));
    ng_shb(&b, 0);
    ng_idb(&b, 1, 0, -1, 0);
    size_t at = b.n;
    ng_epb(&b, 0, 1, P2, sizeof(P2), sizeof(P2));
    size_t room = b.bounds[2] - at - 32;
    sn_store_le32(b.b + at + 20, (uint32_t)room + 1);
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
    CHECK_EQ(sn_pcap_next(&r, &pkt), -EBADMSG);
    CHECK_MSG(&r, "more than its");
    sn_pcap_close(&r);
    sn_store_le32(b.b + at + 20, (uint32_t)room); /* exactly the room: fine */
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.caplen, room);
    sn_pcap_close(&r);
}

SN_TEST(pcapng_option_past_block)
{
    static struct bb b;
    memset(&b, 0, sizeof(b));
    ng_shb(&b, 0);
    size_t at = b.n;
    ng_idb(&b, 1, 0, 6, 0);
    sn_store_le16(b.b + at + 16 + 2, 200); /* if_name claims 200 bytes */
    struct sn_pcap_reader r;
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), -EBADMSG);
    CHECK_MSG(&r, "option 2 (length 200)");
    sn_pcap_close(&r);
}

SN_TEST(pcapng_timestamp_overflow_saturates)
{
    static struct bb b;
    memset(&b, 0, sizeof(b));
    ng_shb(&b, 0);
    ng_idb(&b, 1, 0, 0x80 | 20, 0);            /* 2^-20: the general path */
    ng_idb(&b, 1, 0, 9, INT64_MIN / 2);        /* an offset no int64 of ns can hold */
    ng_idb(&b, 1, 0, 9, INT64_MAX / 2);
    ng_epb(&b, 0, UINT64_MAX, P1, 1, 1);
    ng_epb(&b, 1, 5, P1, 1, 1);
    ng_epb(&b, 2, 5, P1, 1, 1);
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK(pkt.ts_ns == INT64_MAX);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK(pkt.ts_ns == INT64_MIN);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK(pkt.ts_ns == INT64_MAX);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 0);
    sn_pcap_close(&r);
}

/* An IDB with no options at all (not even opt_endofopt) is fine. */
SN_TEST(pcapng_idb_without_options)
{
    static struct bb b;
    memset(&b, 0, sizeof(b));
    ng_shb(&b, 1);
    size_t at = blk_begin(&b, SN_PCAPNG_IDB);
    p16(&b, SN_LINKTYPE_RAW);
    p16(&b, 0);
    p32(&b, 96);
    blk_end(&b, at);
    ng_epb(&b, 0, 1, P2, sizeof(P2), sizeof(P2));
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
    CHECK_EQ(r.info.linktype, SN_LINKTYPE_RAW);
    CHECK_EQ(r.info.snaplen, 96);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.ts_ns, 1000);
    sn_pcap_close(&r);
}

/* Packets above 256 KiB in well-formed blocks: EPB and SPB alike are refused. */
SN_TEST(pcapng_caplen_above_max)
{
    static struct bb b;
    enum { BIG = SN_PCAP_MAX_CAPLEN + 4 };
    for (int spb = 0; spb < 2; spb++) {
        memset(&b, 0, sizeof(b));
        ng_shb(&b, 0);
        ng_idb(&b, 1, 0, -1, 0);
        size_t n = b.n + 32 + BIG, at = b.n;
        uint8_t *img = calloc(1, n);
        CHECK(img != NULL);
        memcpy(img, b.b, b.n);
        uint32_t blen = spb ? 16 + BIG : 32 + BIG;
        sn_store_le32(img + at, spb ? SN_PCAPNG_SPB : SN_PCAPNG_EPB);
        sn_store_le32(img + at + 4, blen);
        if (spb) {
            sn_store_le32(img + at + 8, BIG);
        } else {
            sn_store_le32(img + at + 20, BIG);
            sn_store_le32(img + at + 24, BIG);
        }
        sn_store_le32(img + at + blen - 4, blen);
        struct sn_pcap_reader r;
        struct sn_pcap_pkt pkt;
        int rc = sn_pcap_open_mem(&r, img, at + blen);
        if (rc == 0)
            rc = sn_pcap_next(&r, &pkt);
        char msg[200];
        snprintf(msg, sizeof(msg), "%s", sn_pcap_errmsg(&r));
        sn_pcap_close(&r);
        free(img);
        CHECK_EQ(rc, -EBADMSG);
        CHECK(strstr(msg, "has caplen 262148 (more than 262144)") != NULL);
    }
}

/* ---- truncation at every offset -------------------------------------------- */

struct walk {
    int rc;        /* open's error, or the last next() */
    int n;         /* packets */
    int64_t ts[64];
    uint32_t caplen[64];
    uint64_t sum[64];
    char msg[192];
};

static void walk(struct sn_pcap_reader *r, int open_rc, struct walk *w)
{
    struct sn_pcap_pkt pkt;
    memset(w, 0, sizeof(*w));
    w->rc = open_rc;
    if (open_rc == 0) {
        while ((w->rc = sn_pcap_next(r, &pkt)) > 0 && w->n < 64) {
            w->ts[w->n] = pkt.ts_ns;
            w->caplen[w->n] = pkt.caplen;
            for (uint32_t i = 0; i < pkt.caplen; i++)
                w->sum[w->n] = w->sum[w->n] * 31 + pkt.data[i];
            w->n++;
        }
    }
    snprintf(w->msg, sizeof(w->msg), "%s", sn_pcap_errmsg(r));
    sn_pcap_close(r);
}

static int is_bound(const struct bb *b, size_t n)
{
    for (int i = 0; i < b->nb; i++)
        if (b->bounds[i] == n)
            return 1;
    return 0;
}

/* Every prefix of b: a clean error or a clean end at a boundary, never anything
 * else; the packets seen are a prefix of the whole file's; mmap, stream and memory
 * modes agree to the byte and to the message. */
static void truncate_everywhere(const struct bb *b)
{
    static struct walk full, part, part2;
    struct sn_pcap_reader r;
    walk(&r, sn_pcap_open_mem(&r, b->b, b->n), &full);
    CHECK_EQ(full.rc, 0);
    CHECK(full.n > 0);
    int fd = memfd();
    CHECK(fd >= 0);
    for (size_t len = 0; len <= b->n; len++) {
        uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees any overread */
        CHECK(copy != NULL);
        memcpy(copy, b->b, len);
        walk(&r, sn_pcap_open_mem(&r, copy, len), &part);
        free(copy);
        if (part.rc != 0 && part.rc != -ENODATA) {
            fprintf(stderr, "len %zu: %d %s\n", len, part.rc, part.msg);
            CHECK(0);
        }
        if (part.rc == 0)
            CHECK(is_bound(b, len));
        else
            CHECK(!is_bound(b, len) || len < b->bounds[0]);
        CHECK(part.n <= full.n);
        for (int i = 0; i < part.n; i++) {
            CHECK_EQ(part.ts[i], full.ts[i]);
            CHECK_EQ(part.caplen[i], full.caplen[i]);
            CHECK(part.sum[i] == full.sum[i]);
        }
        /* The same prefix through a file, mapped and streamed. */
        CHECK_EQ(ftruncate(fd, 0), 0);
        CHECK_EQ(pwrite(fd, b->b, len, 0), (ssize_t)len);
        for (unsigned flags = 0; flags <= SN_PCAP_STREAM; flags += SN_PCAP_STREAM) {
            CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
            walk(&r, sn_pcap_open_fd(&r, fd, flags), &part2);
            CHECK_EQ(part2.rc, part.rc);
            CHECK_EQ(part2.n, part.n);
            CHECK(memcmp(part2.sum, part.sum, sizeof(part.sum)) == 0);
            CHECK_STR(part2.msg, part.msg);
        }
    }
    close(fd);
}

SN_TEST(truncated_at_every_offset_pcap)
{
    static struct bb b;
    memset(&b, 0, sizeof(b));
    pc_hdr(&b, 1, 0xa1b23c4d, 2, 65535, 1);
    pc_rec(&b, 1, 2, P1, sizeof(P1), sizeof(P1));
    pc_rec(&b, 3, 4, P2, 0, 0);
    pc_rec(&b, 5, 6, P2, sizeof(P2), 99);
    truncate_everywhere(&b);
}

SN_TEST(truncated_at_every_offset_pcapng)
{
    static struct bb b;
    memset(&b, 0, sizeof(b));
    ng_shb(&b, 0);
    ng_idb(&b, 1, 0, 9, 0);
    ng_epb(&b, 0, 5, P1, sizeof(P1), sizeof(P1));
    ng_other(&b, 0x0bad, 6);
    ng_spb(&b, sizeof(P2), P2, sizeof(P2));
    ng_shb(&b, 1);
    ng_idb(&b, 101, 0, 0x80 | 10, 0);
    ng_pb(&b, 0, 1025, P2, 3, 3);
    ng_epb(&b, 0, 1ull << 40, P2, 0, 0);
    truncate_everywhere(&b);
}

SN_TEST(truncated_at_every_offset_writer_output)
{
    enum sn_pcap_format fmts[] = {SN_PCAP_US, SN_PCAP_NS, SN_PCAP_NG};
    for (size_t f = 0; f < SN_COUNTOF(fmts); f++) {
        static struct bb b;
        memset(&b, 0, sizeof(b));
        int fd = memfd();
        struct sn_pcap_writer w;
        struct sn_pcap_writer_opts o = {.format = fmts[f], .linktype = 1};
        CHECK_EQ(sn_pcap_writer_open_fd(&w, fd, &o), 0);
        for (int i = 0; i < 4; i++)
            CHECK_EQ(sn_pcap_write(&w, pkt_ts(i), P2, (uint32_t)(i * 5), 50), 0);
        CHECK_EQ(sn_pcap_writer_close(&w), 0);
        size_t n;
        uint8_t *img = slurp(fd, &n);
        close(fd);
        CHECK(img != NULL && n < sizeof(b.b));
        memcpy(b.b, img, n);
        b.n = n;
        free(img);
        /* The boundaries come from reading the whole file. */
        struct sn_pcap_reader r;
        struct sn_pcap_pkt pkt;
        if (fmts[f] == SN_PCAP_NG)
            b.bounds[b.nb++] = 44; /* after the SHB, before the IDB */
        CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
        b.bounds[b.nb++] = sn_pcap_offset(&r);
        while (sn_pcap_next(&r, &pkt) > 0)
            b.bounds[b.nb++] = sn_pcap_offset(&r);
        sn_pcap_close(&r);
        CHECK_EQ(b.nb, fmts[f] == SN_PCAP_NG ? 6 : 5);
        truncate_everywhere(&b);
        if (sn_cur_failed)
            return;
    }
}

/* ---- the writer ---------------------------------------------------------------- */

SN_TEST(writer_snaplen_and_wirelen)
{
    int fd = memfd();
    struct sn_pcap_writer w;
    struct sn_pcap_writer_opts o = {.format = SN_PCAP_NG, .linktype = 1, .snaplen = 64};
    uint8_t big[200];
    pkt_fill(9, big, sizeof(big));
    CHECK_EQ(sn_pcap_writer_open_fd(&w, fd, &o), 0);
    CHECK_EQ(sn_pcap_write(&w, 1, big, 100, 0), 0);
    CHECK_EQ(sn_pcap_write(&w, 2, big, 10, 1500), 0);
    CHECK_EQ(sn_pcap_write(&w, 3, NULL, 0, 60), 0);
    CHECK_EQ(sn_pcap_writer_close(&w), 0);
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    CHECK_EQ(sn_pcap_open_fd(&r, fd, 0), 0);
    CHECK_EQ(r.info.snaplen, 64);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.caplen, 64);
    CHECK_EQ(pkt.wirelen, 100);
    CHECK_MEM(pkt.data, big, 64);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.caplen, 10);
    CHECK_EQ(pkt.wirelen, 1500);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.caplen, 0);
    CHECK_EQ(pkt.wirelen, 60);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 0);
    sn_pcap_close(&r);
    close(fd);
}

SN_TEST(writer_timestamp_range_and_rounding)
{
    int fd = memfd();
    struct sn_pcap_writer w;
    struct sn_pcap_writer_opts o = {.format = SN_PCAP_US, .linktype = 1};
    CHECK_EQ(sn_pcap_writer_open_fd(&w, fd, &o), 0);
    CHECK_EQ(sn_pcap_write(&w, -1, P1, 1, 1), -ERANGE);
    CHECK_EQ(sn_pcap_write(&w, 4294967296LL * 1000000000LL, P1, 1, 1), -ERANGE);
    CHECK_EQ(sn_pcap_write(&w, 1999999999, P1, 1, 1), 0); /* not sticky */
    CHECK_EQ(sn_pcap_write(&w, 4294967295999999999LL, P1, 1, 1), 0);
    CHECK_EQ(sn_pcap_writer_close(&w), 0);
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    CHECK_EQ(sn_pcap_open_fd(&r, fd, 0), 0);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.ts_ns, 1999999000); /* truncated to the microsecond */
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.ts_ns, 4294967295999999000LL);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 0);
    sn_pcap_close(&r);
    close(fd);

    /* pcapng keeps stamps past 2106, exact. */
    fd = memfd();
    o.format = SN_PCAP_NG;
    CHECK_EQ(sn_pcap_writer_open_fd(&w, fd, &o), 0);
    CHECK_EQ(sn_pcap_write(&w, INT64_MAX, P1, 1, 1), 0);
    CHECK_EQ(sn_pcap_writer_close(&w), 0);
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    CHECK_EQ(sn_pcap_open_fd(&r, fd, 0), 0);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK(pkt.ts_ns == INT64_MAX);
    sn_pcap_close(&r);
    close(fd);
}

SN_TEST(writer_pcapng_header_blocks)
{
    int fd = memfd();
    struct sn_pcap_writer w;
    struct sn_pcap_writer_opts o = {.format = SN_PCAP_NG, .linktype = SN_LINKTYPE_RAW, .swapped = 1};
    CHECK_EQ(sn_pcap_writer_open_fd(&w, fd, &o), 0);
    CHECK_EQ(sn_pcap_writer_close(&w), 0);
    size_t n;
    uint8_t *img = slurp(fd, &n);
    close(fd);
    CHECK(img != NULL);
    CHECK_EQ(n, 44 + 32);
    CHECK(memmem(img, n, "sysnet", 6) != NULL); /* shb_userappl */
    int be = !SN_BIG_ENDIAN_HOST;
    CHECK_EQ(be ? sn_load_be32(img + 8) : sn_load_le32(img + 8), 0x1a2b3c4d);
    CHECK_EQ(img[44 + 20], 9); /* if_tsresol = 10^-9 */
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(sn_pcap_open_mem(&r, img, n), 0);
    CHECK_EQ(r.info.linktype, SN_LINKTYPE_RAW);
    CHECK_EQ(sn_pcap_iface(&r, 0)->tsunits, 1000000000);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 0);
    sn_pcap_close(&r);
    free(img);
}

SN_TEST(writer_bad_options)
{
    struct sn_pcap_writer w;
    struct sn_pcap_writer_opts o = {.format = (enum sn_pcap_format)7};
    CHECK_EQ(sn_pcap_writer_open_fd(&w, 1, &o), -EINVAL);
    o = (struct sn_pcap_writer_opts){.format = SN_PCAP_NG, .linktype = 70000};
    CHECK_EQ(sn_pcap_writer_open_fd(&w, 1, &o), -EINVAL);
    CHECK_EQ(sn_pcap_writer_open(&w, "/nonexistent/dir/x.pcap", NULL), -ENOENT);
    CHECK_EQ(sn_pcap_writer_open_fd(&w, -1, NULL), -EBADF);
    CHECK_EQ(sn_pcap_writer_close(&w), 0); /* nothing to close, harmless */
}

SN_TEST(writer_error_on_closed_fd)
{
    int p[2];
    CHECK_EQ(pipe(p), 0);
    struct sn_pcap_writer w;
    CHECK_EQ(sn_pcap_writer_open_fd(&w, p[1], NULL), 0);
    close(p[1]);
    close(p[0]);
    CHECK_EQ(sn_pcap_write(&w, 0, P1, sizeof(P1), sizeof(P1)), 0); /* buffered */
    CHECK_EQ(sn_pcap_writer_flush(&w), -EBADF);
    CHECK_EQ(sn_pcap_write(&w, 0, P1, sizeof(P1), sizeof(P1)), -EBADF); /* sticky */
    CHECK_EQ(sn_pcap_writer_close(&w), -EBADF);
    CHECK_EQ(sn_pcap_writer_close(&w), -EBADF);
    CHECK_EQ(sn_pcap_write(&w, 0, P1, 1, 1), -EBADF);
}

SN_TEST(writer_disk_full_and_broken_pipe)
{
    struct sn_pcap_writer w;
    if (access("/dev/full", W_OK) == 0) {
        CHECK_EQ(sn_pcap_writer_open(&w, "/dev/full", NULL), 0);
        CHECK_EQ(sn_pcap_write(&w, 0, P1, 1, 1), 0);
        CHECK_EQ(sn_pcap_writer_close(&w), -ENOSPC);
    }
    int p[2];
    CHECK_EQ(pipe(p), 0);
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    close(p[0]);
    CHECK_EQ(sn_pcap_writer_open_fd(&w, p[1], NULL), 0);
    int rc = sn_pcap_writer_close(&w);
    signal(SIGPIPE, old);
    close(p[1]);
    CHECK_EQ(rc, -EPIPE);
}

SN_TEST(writer_buffers_many_packets_per_write)
{
    int p[2];
    CHECK_EQ(pipe2(p, O_NONBLOCK), 0);
    struct sn_pcap_writer w;
    CHECK_EQ(sn_pcap_writer_open_fd(&w, p[1], NULL), 0);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(sn_pcap_write(&w, i, P2, sizeof(P2), sizeof(P2)), 0);
    char c;
    CHECK_EQ(read(p[0], &c, 1), -1); /* nothing reached the pipe yet */
    CHECK_EQ(errno, EAGAIN);
    CHECK_EQ(sn_pcap_writer_flush(&w), 0);
    static uint8_t got[8192];
    CHECK_EQ(read(p[0], got, sizeof(got)), 24 + 100 * (16 + (ssize_t)sizeof(P2)));
    CHECK_EQ(sn_pcap_writer_close(&w), 0);
    close(p[0]);
    close(p[1]);
}

/* Far more than the 1 MiB buffer: flushes happen as it fills, nothing is lost. */
SN_TEST(writer_many_buffers)
{
    int fd = memfd();
    CHECK(fd >= 0);
    struct sn_pcap_writer w;
    struct sn_pcap_writer_opts o = {.format = SN_PCAP_NG, .linktype = 1};
    static uint8_t buf[1514];
    enum { N = 5000 };
    CHECK_EQ(sn_pcap_writer_open_fd(&w, fd, &o), 0);
    for (int i = 0; i < N; i++) {
        uint32_t len = 1000 + (uint32_t)(i % 515);
        pkt_fill(i, buf, len);
        CHECK_EQ(sn_pcap_write(&w, pkt_ts(i), buf, len, len), 0);
    }
    CHECK_EQ(sn_pcap_writer_close(&w), 0);
    CHECK_EQ(w.npkts, N);
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    CHECK_EQ(sn_pcap_open_fd(&r, fd, SN_PCAP_STREAM), 0);
    for (int i = 0; i < N; i++) {
        uint32_t len = 1000 + (uint32_t)(i % 515);
        CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
        CHECK_EQ(pkt.caplen, len);
        CHECK_EQ(pkt.ts_ns, pkt_ts(i));
        pkt_fill(i, buf, len);
        CHECK_MEM(pkt.data, buf, len);
    }
    CHECK_EQ(sn_pcap_next(&r, &pkt), 0);
    CHECK(sn_pcap_offset(&r) > 3 * SN_PCAP_WBUF);
    sn_pcap_close(&r);
    close(fd);
}

SN_TEST(writer_to_stdout_dash)
{
    int fd = memfd();
    CHECK(fd >= 0);
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct sn_pcap_writer w;
        dup2(fd, 1);
        if (sn_pcap_writer_open(&w, "-", NULL) != 0 || w.fd != 1 || w.own_fd)
            _exit(1);
        if (sn_pcap_write(&w, 5, P1, sizeof(P1), sizeof(P1)) != 0 || sn_pcap_writer_close(&w) != 0)
            _exit(2);
        _exit(fcntl(1, F_GETFD) < 0 ? 3 : 0); /* stdout stays open */
    }
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    CHECK_EQ(sn_pcap_open_fd(&r, fd, SN_PCAP_OWNFD), 0);
    CHECK_EQ(r.fd, -1); /* mapped, and owned: closed at once */
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_EQ(pkt.ts_ns, 0); /* pcap-us: 5 ns truncate to 0 */
    CHECK_MEM(pkt.data, P1, sizeof(P1));
    CHECK_EQ(sn_pcap_next(&r, &pkt), 0);
    sn_pcap_close(&r);
}

SN_TEST(writer_and_reader_by_path)
{
    char path[] = "/tmp/test_pcap_pathXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    struct sn_pcap_writer w;
    struct sn_pcap_writer_opts o = {.format = SN_PCAP_NS, .linktype = 1};
    CHECK_EQ(sn_pcap_writer_open(&w, path, &o), 0);
    static uint8_t buf[2000];
    for (int i = 0; i < NPKT; i++) {
        pkt_fill(i, buf, pkt_len(i));
        CHECK_EQ(sn_pcap_write(&w, pkt_ts(i), buf, pkt_len(i), pkt_len(i) + (uint32_t)(i % 3)), 0);
    }
    CHECK_EQ(sn_pcap_writer_close(&w), 0);
    struct sn_pcap_reader r;
    CHECK_EQ(sn_pcap_open(&r, path), 0);
    CHECK(r.map != NULL);
    CHECK_EQ(r.fd, -1); /* mapped: the fd is closed already */
    check_packets(&r, SN_PCAP_NS, 0);
    sn_pcap_close(&r);
    unlink(path);
}

/* ---- streams: pipes, stdin, an fd at an offset, non-blocking ---------------------- */

struct feeder {
    int fd;
    const uint8_t *p;
    size_t n;
};

static void *feed(void *arg)
{
    struct feeder *f = arg;
    size_t off = 0, step = 1;
    while (off < f->n) {
        size_t k = SN_MIN(step, f->n - off);
        ssize_t w = write(f->fd, f->p + off, k);
        if (w <= 0)
            break;
        off += (size_t)w;
        step = step * 7 % 65521 + 1; /* odd sizes: records straddle reads */
        if (step % 5 == 0)
            sched_yield();
    }
    close(f->fd);
    return NULL;
}

static void read_through_pipe(enum sn_pcap_format fmt)
{
    int fd = memfd();
    CHECK(fd >= 0);
    /* A maximum-size packet in the middle makes the stream buffer grow. */
    CHECK_EQ(write_file(fd, fmt, fmt == SN_PCAP_NG, 0, SN_PCAP_MAX_CAPLEN), 0);
    size_t n;
    uint8_t *img = slurp(fd, &n);
    close(fd);
    CHECK(img != NULL);
    int p[2];
    CHECK_EQ(pipe(p), 0);
    struct feeder f = {p[1], img, n};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, feed, &f), 0);
    struct sn_pcap_reader r;
    int rc = sn_pcap_open_fd(&r, p[0], SN_PCAP_OWNFD);
    if (rc == 0) {
        CHECK_EQ(r.stream, 1);
        check_packets(&r, fmt, SN_PCAP_MAX_CAPLEN);
        CHECK_EQ(sn_pcap_offset(&r), n);
    }
    sn_pcap_close(&r); /* closes p[0]: the feeder ends even if a check failed */
    pthread_join(t, NULL);
    free(img);
    CHECK_EQ(rc, 0);
}

SN_TEST(read_pcap_from_pipe) { read_through_pipe(SN_PCAP_US); }
SN_TEST(read_pcapng_from_pipe) { read_through_pipe(SN_PCAP_NG); }

SN_TEST(read_from_stdin_dash)
{
    int fd = memfd();
    CHECK(fd >= 0);
    CHECK_EQ(write_file(fd, SN_PCAP_NG, 0, 0, 0), 0);
    int p[2];
    CHECK_EQ(pipe(p), 0);
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* stdin: first the mapped memfd, then the pipe (a stream). */
        struct sn_pcap_reader r;
        struct sn_pcap_pkt pkt;
        int got = 0;
        for (int round = 0; round < 2; round++) {
            dup2(round == 0 ? fd : p[0], 0);
            if (round == 1) {
                uint8_t buf[65536];
                ssize_t k = pread(fd, buf, sizeof(buf), 0);
                if (k <= 0 || write(p[1], buf, (size_t)k) != k)
                    _exit(100);
                close(p[1]);
            }
            lseek(0, 0, SEEK_SET);
            if (sn_pcap_open(&r, "-") != 0)
                _exit(101);
            if (r.fd != 0 || (round == 0) != (r.map != NULL))
                _exit(102);
            while (sn_pcap_next(&r, &pkt) > 0)
                got++;
            sn_pcap_close(&r);
        }
        _exit(got);
    }
    close(p[0]);
    close(p[1]);
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 2 * NPKT);
    close(fd);
}

SN_TEST(open_fd_at_current_offset)
{
    static struct bb b;
    memset(&b, 0, sizeof(b));
    pbytes(&b, "0123456789", 10); /* not ours: the caller has read it */
    pc_hdr(&b, 0, 0xa1b2c3d4, 2, 65535, 1);
    pc_rec(&b, 1, 2, P1, sizeof(P1), sizeof(P1));
    size_t bad = b.n;
    pc_rec(&b, 1, 2, P1, sizeof(P1), sizeof(P1));
    b.n -= 2;
    int fd = memfd();
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, b.b, b.n), (ssize_t)b.n);
    for (unsigned flags = 0; flags <= SN_PCAP_STREAM; flags += SN_PCAP_STREAM) {
        struct sn_pcap_reader r;
        struct sn_pcap_pkt pkt;
        CHECK_EQ(lseek(fd, 10, SEEK_SET), 10);
        CHECK_EQ(sn_pcap_open_fd(&r, fd, flags), 0);
        CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
        CHECK_MEM(pkt.data, P1, sizeof(P1));
        CHECK_EQ(sn_pcap_next(&r, &pkt), -ENODATA);
        char want[96];
        snprintf(want, sizeof(want), "pcap: record at offset %zu cut short", bad);
        CHECK_MSG(&r, want);
        sn_pcap_close(&r);
    }
    close(fd);
}

SN_TEST(nonblocking_stream_eagain_is_not_sticky)
{
    static struct bb b;
    memset(&b, 0, sizeof(b));
    pc_hdr(&b, 0, 0xa1b2c3d4, 2, 65535, 1);
    pc_rec(&b, 1, 2, P2, sizeof(P2), sizeof(P2));
    int p[2];
    CHECK_EQ(pipe2(p, O_NONBLOCK), 0);
    CHECK_EQ(write(p[1], b.b, 30), 30);
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(sn_pcap_open_fd(&r, p[0], 0), 0);
    CHECK_EQ(sn_pcap_next(&r, &pkt), -EAGAIN);
    CHECK_EQ(sn_pcap_next(&r, &pkt), -EAGAIN);
    CHECK_EQ(write(p[1], b.b + 30, b.n - 30), (ssize_t)(b.n - 30));
    close(p[1]);
    CHECK_EQ(sn_pcap_next(&r, &pkt), 1);
    CHECK_MEM(pkt.data, P2, sizeof(P2));
    CHECK_EQ(sn_pcap_next(&r, &pkt), 0);
    sn_pcap_close(&r);
    close(p[0]);
}

SN_TEST(close_is_idempotent_and_final)
{
    static struct bb b;
    memset(&b, 0, sizeof(b));
    pc_hdr(&b, 0, 0xa1b2c3d4, 2, 65535, 1);
    pc_rec(&b, 1, 2, P2, sizeof(P2), sizeof(P2));
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    CHECK_EQ(sn_pcap_open_mem(&r, b.b, b.n), 0);
    CHECK_STR(sn_pcap_errmsg(&r), "no error");
    sn_pcap_close(&r);
    sn_pcap_close(&r);
    CHECK_EQ(sn_pcap_next(&r, &pkt), -EBADF);
    CHECK_EQ(sn_pcap_open_fd(&r, -1, 0), -EBADF);
    sn_pcap_close(&r);
}

SN_TEST(format_names)
{
    CHECK_STR(sn_pcap_format_name(SN_PCAP_US), "pcap");
    CHECK_STR(sn_pcap_format_name(SN_PCAP_NS), "pcap-ns");
    CHECK_STR(sn_pcap_format_name(SN_PCAP_NG), "pcapng");
    CHECK_STR(sn_pcap_format_name(SN_PCAP_NONE), "none");
    CHECK_EQ(sn_pcap_format_parse("pcap"), SN_PCAP_US);
    CHECK_EQ(sn_pcap_format_parse("pcap-us"), SN_PCAP_US);
    CHECK_EQ(sn_pcap_format_parse("nsecpcap"), SN_PCAP_NS);
    CHECK_EQ(sn_pcap_format_parse("pcap-ns"), SN_PCAP_NS);
    CHECK_EQ(sn_pcap_format_parse("pcapng"), SN_PCAP_NG);
    CHECK_EQ(sn_pcap_format_parse("erf"), -EINVAL);
}
