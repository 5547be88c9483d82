/* sysnet/pcap.h — capture files: read and write classic pcap (microsecond and
 * nanosecond timestamps, either byte order) and pcapng, without libpcap.
 *
 * Reading. One reader for every format, chosen by the file's magic number:
 *
 *   struct sn_pcap_reader r;
 *   struct sn_pcap_pkt pkt;
 *   int rc = sn_pcap_open(&r, "trace.pcapng");       // or open_mem / open_fd; "-" = stdin
 *   if (rc < 0) { fprintf(stderr, "%s\n", sn_pcap_errmsg(&r)); return rc; }
 *   while ((rc = sn_pcap_next(&r, &pkt)) > 0)
 *       use(pkt.data, pkt.caplen, pkt.ts_ns);         // zero copy, valid until the next call
 *   if (rc < 0) fprintf(stderr, "%s\n", sn_pcap_errmsg(&r));
 *   sn_pcap_close(&r);
 *
 *   - Regular files are mmap(2)ed and packets point into the mapping: no copy, no
 *     read(2) per packet. Pipes, sockets and terminals (and SN_PCAP_STREAM) are read
 *     with large read(2)s into a growable buffer that the reader allocates. A mapped
 *     file must not be truncated while it is read (the kernel would raise SIGBUS).
 *   - pcapng: SHB, IDB, EPB, SPB and the obsolete Packet Block are read; every other
 *     block type (NRB, ISB, DSB, custom...) is checked for a sane length and skipped.
 *     Several sections may follow each other, each with its own byte order and its
 *     own interfaces. if_tsresol (10^-n and 2^-n) and if_tsoffset are honoured.
 *
 * Errors (sn_pcap_next and the open functions):
 *   -EBADMSG          not a capture file (bad magic), or an impossible value: caplen
 *                     above SN_PCAP_MAX_CAPLEN, a pcapng block length that is not a
 *                     multiple of 4, below its type's minimum or above SN_PCAP_MAX_BLOCK,
 *                     a trailing length not equal to the leading one, a bad byte-order
 *                     magic, a packet larger than its block, an interface id that no IDB
 *                     of the section defined, an option running past its block.
 *   -ENODATA          truncated: the input ends inside a header or a record (an empty
 *                     input, or one shorter than its file header, is also -ENODATA).
 *                     An input that ends exactly between two records is a clean end: 0.
 *   -EPROTONOSUPPORT  a version we do not read (pcap major != 2, pcapng major != 1),
 *                     the "modified" pcap magic 0xa1b2cd34, or an if_tsresol finer
 *                     than 10^-19 or 2^-63.
 *   -EAGAIN           (streams on a non-blocking fd only) not enough bytes yet; nothing
 *                     was consumed and the call can be repeated. Not sticky.
 *   other -errno      from open(2), fstat(2), mmap(2), read(2), malloc (-ENOMEM).
 * Every other error is sticky: later sn_pcap_next() calls return it again, and the
 * packets returned before it stay valid. After an error, sn_pcap_errmsg() says why in
 * one line with the byte offset of the record at fault, for example
 * "pcapng: block at offset 1234 has length 7 (not a multiple of 4)". Offsets count
 * from the start of the file (for a pipe: from the first byte the reader read).
 * Accepted as found (lenient): SPB data past the snaplen or shorter than orig_len,
 * options we do not know, caplen above the snaplen, wirelen below caplen.
 *
 * Writing. Buffered in a 1 MiB block that the writer allocates at open and hands to
 * write(2) when full, on flush and on close: one syscall per MiB, not per packet.
 *
 *   struct sn_pcap_writer w;
 *   struct sn_pcap_writer_opts o = { .format = SN_PCAP_NG, .linktype = 1 };
 *   sn_pcap_writer_open(&w, "out.pcapng", &o);        // "-" = stdout
 *   sn_pcap_write(&w, ts_ns, frame, caplen, wirelen);
 *   rc = sn_pcap_writer_close(&w);                    // the first error seen, or 0
 *
 * Ownership: the caller owns the reader and writer structs (stack or heap) and any
 * buffer passed to sn_pcap_open_mem(), which must outlive the reader. The reader
 * allocates (malloc) only its stream buffer and its pcapng interface table; the
 * writer only its output buffer; all are freed by close. Packet data pointers are
 * valid until the next sn_pcap_next() or sn_pcap_close() on the same reader.
 *
 * Thread rules: a reader or writer is used by one thread at a time; distinct readers
 * and writers are independent. No global state. SIGPIPE: writing to a pipe whose
 * reader is gone raises SIGPIPE unless the caller ignores it (then -EPIPE).
 */
#ifndef SYSNET_PCAP_H
#define SYSNET_PCAP_H

#include <stddef.h>
#include <stdint.h>
#include <sysnet/base.h>

#ifdef __cplusplus
extern "C" {
#endif

/* File formats. */
enum sn_pcap_format {
    SN_PCAP_NONE = 0, /* not opened */
    SN_PCAP_US = 1,   /* classic pcap, microsecond timestamps (magic 0xa1b2c3d4) */
    SN_PCAP_NS = 2,   /* classic pcap, nanosecond timestamps (magic 0xa1b23c4d) */
    SN_PCAP_NG = 3,   /* pcapng (first block 0x0a0d0d0a) */
};

/* The largest caplen we accept or write: libpcap's MAXIMUM_SNAPLEN (256 KiB). */
#define SN_PCAP_MAX_CAPLEN 262144u
/* The largest pcapng block we accept (options included): 16 MiB. */
#define SN_PCAP_MAX_BLOCK (16u << 20)
/* info.linktype before a pcapng file has defined any interface. */
#define SN_PCAP_LINKTYPE_NONE 0xffffffffu

/* pcapng block types (pcapng spec, draft-ietf-opsawg-pcapng §4). */
#define SN_PCAPNG_SHB 0x0a0d0d0au /* Section Header Block */
#define SN_PCAPNG_IDB 0x00000001u /* Interface Description Block */
#define SN_PCAPNG_PB  0x00000002u /* Packet Block (obsolete; read only) */
#define SN_PCAPNG_SPB 0x00000003u /* Simple Packet Block */
#define SN_PCAPNG_NRB 0x00000004u /* Name Resolution Block (skipped) */
#define SN_PCAPNG_ISB 0x00000005u /* Interface Statistics Block (skipped) */
#define SN_PCAPNG_EPB 0x00000006u /* Enhanced Packet Block */

/* One packet, as sn_pcap_next() returns it. */
struct sn_pcap_pkt {
    int64_t ts_ns;       /* time stamp, ns since the Unix epoch (SPB: 0, it has none);
                            saturates at INT64_MAX for a pcapng stamp beyond year 2262 */
    uint32_t caplen;     /* bytes captured, at data */
    uint32_t wirelen;    /* length of the packet on the wire (orig_len) */
    uint32_t linktype;   /* LINKTYPE_* of its interface (SN_LINKTYPE_ETHERNET ...) */
    uint32_t ifindex;    /* pcapng interface id in its section; 0 for pcap */
    const uint8_t *data; /* caplen bytes, zero copy: valid until the next call */
};

/* A pcapng interface (classic pcap has one, described by its file header). */
struct sn_pcap_iface {
    uint32_t linktype;   /* LINKTYPE_* */
    uint32_t snaplen;    /* 0 = no limit */
    uint64_t tsunits;    /* timestamp ticks per second: 10^n or 2^n (if_tsresol) */
    int64_t tsoffset;    /* seconds added to every timestamp (if_tsoffset), usually 0 */
    uint8_t tsresol;     /* the if_tsresol byte as found (6 when absent) */
};

/* What the file header says, for printing. For pcapng: the first section, and the
 * first interface of the file (the open functions read blocks up to the first IDB,
 * stopping before any packet). A pcapng without IDB before its first packet keeps
 * linktype SN_PCAP_LINKTYPE_NONE and snaplen 0. */
struct sn_pcap_info {
    enum sn_pcap_format format; /* SN_PCAP_US, SN_PCAP_NS or SN_PCAP_NG */
    uint8_t big_endian;         /* 1 if the file (first section) is big-endian */
    uint8_t swapped;            /* 1 if that differs from this host's byte order */
    uint16_t version_major;     /* pcap: 2; pcapng: 1 */
    uint16_t version_minor;     /* pcap: 4; pcapng: 0 */
    uint32_t snaplen;           /* pcap header / first IDB (0 = none) */
    uint32_t linktype;          /* pcap header (its low 26 bits: the rest is FCS info) /
                                   first IDB, else SN_PCAP_LINKTYPE_NONE */
    uint8_t tsdigits;           /* fraction digits the stamps carry, 0..9: 6 for pcap, 9 for
                                   pcap-ns, from if_tsresol for pcapng (2^-20 needs 7) */
};

/* Open flags for sn_pcap_open_fd(). */
#define SN_PCAP_STREAM 0x1u /* never mmap: read(2) into a buffer, even a regular file */
#define SN_PCAP_OWNFD  0x2u /* sn_pcap_close() closes the fd */

/* The reader. Caller-owned; everything below info is private. */
struct sn_pcap_reader {
    struct sn_pcap_info info;   /* filled by open */
    /* private */
    const uint8_t *base;        /* the bytes we can see: the mapping, the buffer or the caller's */
    size_t len;                 /* bytes valid at base */
    size_t pos;                 /* next unread byte at base */
    uint64_t off;               /* file offset of base[0] (stream mode moves it) */
    uint8_t *buf;               /* stream buffer (malloc) */
    size_t cap;                 /* its size */
    void *map;                  /* mmap(2)ed file, or NULL */
    size_t maplen;              /* its length */
    int fd;                     /* -1 in memory mode and once a mapped file's fd is closed */
    uint8_t own_fd;             /* close fd in sn_pcap_close() */
    uint8_t stream;             /* 1: refill buf with read(2) */
    uint8_t eof;                /* stream mode: read(2) returned 0 */
    uint8_t swap;               /* current section's order differs from the host's */
    uint8_t nsec;               /* classic pcap with nanosecond stamps */
    uint8_t ng;                 /* pcapng */
    int err;                    /* sticky error, 0 if none */
    uint32_t linktype, snaplen; /* classic pcap: from the file header */
    struct sn_pcap_iface pif;   /* classic pcap: its one interface */
    struct sn_pcap_iface *ifs;  /* pcapng interfaces of the current section (malloc) */
    uint32_t nif, ifcap;        /* interfaces defined / room in ifs */
    uint64_t nsections;         /* pcapng sections seen */
    char errmsg[192];           /* the last error, one line */
};

/* Open over a caller-owned buffer holding a whole file image (zero copy; the buffer
 * must outlive the reader). Reads the file header (for pcapng: the SHB and the blocks
 * up to the first IDB or packet). Returns 0 or a negative errno (see above); on error
 * sn_pcap_errmsg() says why, sn_pcap_next() returns the same error, and nothing needs
 * closing (closing is harmless). The same holds for the two functions below. */
int sn_pcap_open_mem(struct sn_pcap_reader *r, const void *data, size_t len);
/* Open a file by path ("-" = standard input). Regular files are mapped and the fd is
 * closed at once; anything else is read as a stream. -ENOENT & co. from open(2). */
int sn_pcap_open(struct sn_pcap_reader *r, const char *path);
/* Open over an fd from its current offset. The fd is not closed unless flags has
 * SN_PCAP_OWNFD (then also on a failed open). A mapped fd's offset is not moved. */
int sn_pcap_open_fd(struct sn_pcap_reader *r, int fd, unsigned flags);
/* The next packet: 1 with *pkt filled, 0 at a clean end of the input, or a negative
 * errno (sticky, see above). Non-packet blocks are consumed silently. */
int sn_pcap_next(struct sn_pcap_reader *r, struct sn_pcap_pkt *pkt);
/* One line on the last error ("no error" if none). Valid until the reader is reused. */
const char *sn_pcap_errmsg(const struct sn_pcap_reader *r);
/* Interface `id` of the current pcapng section (classic pcap: id 0, from the file
 * header), or NULL if not (yet) defined. Valid until the next sn_pcap_next(). */
const struct sn_pcap_iface *sn_pcap_iface(const struct sn_pcap_reader *r, uint32_t id);
/* Byte offset in the file of the next record (for progress and error reports). */
uint64_t sn_pcap_offset(const struct sn_pcap_reader *r);
/* Unmap, free and (if owned) close. Safe on a reader whose open failed, and twice. */
void sn_pcap_close(struct sn_pcap_reader *r);

/* Writer options. A zeroed struct means: pcap-us, linktype 0 (NULL), snaplen 262144,
 * native byte order. */
struct sn_pcap_writer_opts {
    enum sn_pcap_format format; /* SN_PCAP_US (0 means this too), SN_PCAP_NS, SN_PCAP_NG */
    uint32_t linktype;          /* LINKTYPE_* of the (only) interface */
    uint32_t snaplen;           /* 0 = SN_PCAP_MAX_CAPLEN; larger is clamped to it */
    int swapped;                /* 1: write the byte order opposite to this host's (tests) */
};

/* The writer. Caller-owned; all fields private. */
struct sn_pcap_writer {
    int fd;                     /* where flushes go; -1 once closed */
    uint8_t own_fd;             /* we opened it: close it in sn_pcap_writer_close() */
    uint8_t swap;               /* write the byte order opposite to the host's */
    enum sn_pcap_format format; /* SN_PCAP_US, SN_PCAP_NS or SN_PCAP_NG */
    uint32_t snaplen;           /* caplen is cut to this */
    int err;                    /* first I/O error, sticky */
    uint8_t *buf;               /* output buffer (malloc, SN_PCAP_WBUF bytes) */
    size_t len;                 /* bytes waiting in buf */
    uint64_t npkts;             /* packets accepted so far */
};
#define SN_PCAP_WBUF (1u << 20)

/* Create/truncate path (mode 0644; "-" = standard output) and buffer the file header
 * (pcapng: an SHB with shb_userappl "sysnet" and one IDB with if_tsresol 9, so stamps
 * keep their nanoseconds). opts may be NULL. -EINVAL for an unknown format or a pcapng
 * linktype above 0xffff (the IDB field is 16 bits), -ENOMEM, or open(2)'s error; nothing
 * to close on failure. Nothing reaches the fd before the first flush. */
int sn_pcap_writer_open(struct sn_pcap_writer *w, const char *path,
                        const struct sn_pcap_writer_opts *opts);
/* The same over an fd that stays the caller's (not closed by sn_pcap_writer_close);
 * -EBADF for fd < 0. */
int sn_pcap_writer_open_fd(struct sn_pcap_writer *w, int fd, const struct sn_pcap_writer_opts *opts);
/* Append one packet (copied into the buffer; data may be reused at once). wirelen is
 * raised to caplen if smaller, then caplen is cut to the snaplen. pcap-us truncates
 * the stamp to the microsecond (as editcap does). Returns 0; -ERANGE for a stamp the
 * format cannot hold (negative; pcap from 2106 on) or -EINVAL for data NULL with
 * caplen > 0 — neither sticky, nothing written; or the sticky I/O error of a flush
 * (-EBADF after close). */
int sn_pcap_write(struct sn_pcap_writer *w, int64_t ts_ns, const void *data, uint32_t caplen,
                  uint32_t wirelen);
/* write(2) what is buffered. 0 or the sticky error (-EBADF, -EPIPE, -ENOSPC...). */
int sn_pcap_writer_flush(struct sn_pcap_writer *w);
/* Flush, close the fd if we opened it, free. Returns the first error seen (a failed
 * write or close), 0 if the whole file made it to the kernel. Safe twice. */
int sn_pcap_writer_close(struct sn_pcap_writer *w);

/* "pcap", "pcap-ns", "pcapng" (or "none"). */
const char *sn_pcap_format_name(enum sn_pcap_format f);
/* The inverse, also accepting "pcap-us", "nsecpcap" and "ng": the format or -EINVAL. */
int sn_pcap_format_parse(const char *name);

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_PCAP_H */
