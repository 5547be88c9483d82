/* sysnet/ring.h — layer 3, capture: AF_PACKET PACKET_MMAP rings (our libpcap's
 * live half, netsniff-ng's engine). A TPACKET_V3 receive ring read in place
 * (zero copy), with classic BPF filters, fanout across worker sockets, kernel
 * statistics and 802.1Q tag rebuilding; and a TPACKET_V2 transmit ring filled in
 * place and flushed with one send(2) per batch.
 *
 * Receiving:
 *
 *   struct sn_ring r;
 *   struct sock_filter prog[SN_FILTER_MAXINSNS];           // optional: filter.h
 *   int n = sn_filter_compile("udp port 53", sn_ring_linktype_of("eth0"), 0,
 *                             prog, SN_FILTER_MAXINSNS, NULL);
 *   struct sn_ring_opts o = { .ifname = "eth0", .flags = SN_RING_PROMISC,
 *                             .filter = prog, .filter_len = (unsigned)n };
 *   int rc = sn_ring_open(&r, &o);
 *   if (rc < 0) { fprintf(stderr, "%s%s%s\n", sn_strerror(rc),
 *                         sn_ring_hint(rc) ? ": " : "", sn_ring_hint(rc) ? sn_ring_hint(rc) : ""); }
 *   struct sn_ring_pkt p;
 *   while ((rc = sn_ring_next(&r, &p, 1000)) >= 0)
 *       if (rc == 1) handle(p.data, p.caplen, p.wirelen, p.ts_ns);
 *   sn_ring_close(&r);                                  // rc == -EINTR: a signal
 *
 * How the ring works (Documentation/networking/packet_mmap.rst): the kernel and we
 * share block_count blocks of block_size bytes. The kernel fills one block at a
 * time with packets (struct tpacket3_hdr + the frame), and "retires" it to us
 * (block_status = TP_STATUS_USER) when it is full or when retire_ms have passed
 * since it was opened, whichever comes first. We read the packets of the oldest
 * retired block in place, then hand the block back (TP_STATUS_KERNEL). When all
 * blocks are ours the kernel drops packets (counted in drops) until one is back.
 * So: retire_ms bounds the latency of a quiet link; block_size * block_count is
 * how long a burst can outrun the reader.
 *
 * Zero copy: sn_ring_pkt.data points into the shared mapping. It (and every packet
 * of the same block) stays valid until the next sn_ring_next(), sn_ring_next_burst(),
 * sn_ring_release(), sn_ring_set_filter() or sn_ring_close() on that ring — the
 * block is handed back to the kernel then and is overwritten at once. Copy what
 * must live longer (sn_pcap_write copies).
 *
 * Timeouts (timeout_ms): -1 waits forever, 0 only looks, > 0 waits up to that many
 * milliseconds (poll(2) on the socket). 0 is returned on a timeout. A signal
 * interrupts the wait: -EINTR (whatever SA_RESTART says, as poll(2) does), so a
 * SIGINT handler that sets a flag stops a capture loop.
 *
 * Privileges: opening either ring needs CAP_NET_RAW (promiscuous mode needs no more
 * than that on Linux). Without it sn_ring_open/sn_txring_open return -EPERM, and
 * sn_ring_hint(-EPERM) is the line to show the user. Everything the options can
 * get wrong is checked before any system call (-EINVAL), and a bad interface name
 * is -ENODEV, so those two need no privileges.
 *
 * Errors: >= 0 or a negative errno (base.h). Besides the kernel's own: -EINVAL bad
 * options or ring geometry, -ENODEV no such interface, -ENETDOWN the interface is
 * down (at open, or went down while capturing: sn_ring_next reports it once, from
 * SO_ERROR), -EPERM no CAP_NET_RAW, -ENOMEM the kernel could not allocate the ring.
 * A failed open leaves nothing behind (no fd, no mapping) and needs no close.
 *
 * Memory: the caller owns struct sn_ring / sn_txring (stack, heap, static). The
 * rings themselves are kernel memory mapped into the process (munmap at close).
 * Nothing here calls malloc, except sn_ring_open/sn_ring_set_filter when both a
 * filter and a snaplen are given (a temporary copy of the program, freed before
 * they return). sn_ring_next/next_burst never allocate and make no system call
 * while packets are ready (poll(2) only to wait); sn_txring_frame/commit neither,
 * except the send(2) of a flush every `batch` frames or when the ring is full.
 *
 * Thread rules: a ring is used by one thread at a time. To use several cores,
 * open one ring per thread on the same interface with the same fanout_group: the
 * kernel splits packets between them (PACKET_FANOUT; see fanout_mode). Distinct
 * rings are independent. No global state.
 */
#ifndef SYSNET_RING_H
#define SYSNET_RING_H

#include <stddef.h>
#include <stdint.h>
#include <linux/filter.h> /* struct sock_filter: a classic BPF instruction */
#include <sysnet/base.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================
 * Receive ring (TPACKET_V3)
 * ====================================================================== */

/* Defaults used for zero fields of struct sn_ring_opts. */
#define SN_RING_DEF_BLOCK_SIZE  (256u * 1024) /* bytes per block */
#define SN_RING_DEF_BLOCK_COUNT 16u           /* blocks: 4 MiB in all */
#define SN_RING_DEF_FRAME_SIZE  2048u         /* see frame_size below */
#define SN_RING_MAX_FILTER_LEN  4096u         /* BPF_MAXINSNS: the kernel's limit */

/* sn_ring_opts.flags */
#define SN_RING_PROMISC     0x1u /* PACKET_ADD_MEMBERSHIP PACKET_MR_PROMISC (undone at close) */
#define SN_RING_RXHASH      0x2u /* tp_feature_req_word TP_FT_REQ_FILL_RXHASH: fill pkt.rxhash */
#define SN_RING_NO_OUTGOING 0x4u /* PACKET_IGNORE_OUTGOING (Linux 4.20): skip packets this host
                                    sends (on lo each packet is otherwise seen twice). In a
                                    fanout group it becomes PACKET_FANOUT_FLAG_IGNORE_OUTGOING
                                    (Linux 6.x): older kernels refuse it or ignore it */

/* sn_ring_opts.fanout_mode. The kernel's PACKET_FANOUT_* values plus one, so that
 * 0 means "no fanout". Rings join a group when they share ifname, fanout_group and
 * fanout_mode (and flags); each packet goes to exactly one member. */
enum sn_ring_fanout {
    SN_RING_FANOUT_NONE = 0,     /* not in a fanout group */
    SN_RING_FANOUT_HASH = 1,     /* by flow hash (symmetric 5-tuple): a flow stays on one ring */
    SN_RING_FANOUT_LB = 2,       /* round robin, packet by packet */
    SN_RING_FANOUT_CPU = 3,      /* by the CPU that received the packet (pairs with RSS/RPS) */
    SN_RING_FANOUT_ROLLOVER = 4, /* fill one ring, move to the next when it is full */
    SN_RING_FANOUT_RND = 5,      /* random */
    SN_RING_FANOUT_QM = 6,       /* by the NIC's receive queue (skb queue mapping) */
};
/* sn_ring_opts.fanout_flags (the kernel's PACKET_FANOUT_FLAG_* values) */
#define SN_RING_FANOUT_FLAG_ROLLOVER 0x1000u /* a full ring passes the packet on instead of dropping */
#define SN_RING_FANOUT_FLAG_DEFRAG   0x8000u /* reassemble IPv4 fragments first, so hash mode
                                                 sends all fragments to one ring */

struct sn_ring_opts {
    const char *ifname;         /* interface to capture on (required; "lo", "veth0") */
    uint32_t block_size;        /* bytes per block: a multiple of the page size;
                                   0 = SN_RING_DEF_BLOCK_SIZE. A packet must fit in one block
                                   (longer ones are cut to it: caplen < wirelen) */
    uint32_t block_count;       /* blocks in the ring, 0 = SN_RING_DEF_BLOCK_COUNT;
                                   block_size * block_count must stay below 2^31 */
    uint32_t frame_size;        /* the kernel's frame accounting unit (tp_frame_size): a
                                   multiple of 16, >= 80 and <= block_size; V3 packs packets
                                   of any size, so this barely matters. 0 = 2048 */
    uint32_t retire_ms;         /* hand a partly filled block over after this many ms
                                   (tp_retire_blk_tov); 0 = the kernel's default, 8 ms */
    uint32_t snaplen;           /* keep at most this many bytes of each packet (0 = all).
                                   Done in the kernel through the BPF return value, as
                                   libpcap does, so the ring holds only what is kept */
    unsigned flags;             /* SN_RING_PROMISC | SN_RING_RXHASH | SN_RING_NO_OUTGOING */
    uint16_t fanout_group;      /* fanout group id (any; per network namespace) */
    uint16_t fanout_mode;       /* enum sn_ring_fanout; SN_RING_FANOUT_NONE = no group */
    uint16_t fanout_flags;      /* SN_RING_FANOUT_FLAG_* */
    const struct sock_filter *filter; /* classic BPF program, or NULL for every packet. Copied
                                   into the kernel at open (SO_ATTACH_FILTER) before the
                                   socket is bound, so no unfiltered packet gets in */
    unsigned filter_len;        /* instructions in filter, 1..SN_RING_MAX_FILTER_LEN */
};

/* One packet, read in place. See "Zero copy" above for how long data lives. */
struct sn_ring_pkt {
    const uint8_t *data;        /* caplen bytes from the link-layer header on (zero copy) */
    uint32_t caplen;            /* bytes at data: min(wirelen, snaplen, block room) */
    uint32_t wirelen;           /* the packet's length as the interface saw it (tp_len) */
    uint64_t ts_ns;             /* kernel time stamp, ns since the Unix epoch (CLOCK_REALTIME) */
    uint32_t ifindex;           /* interface it came from */
    uint32_t rxhash;            /* the kernel's flow hash (SN_RING_RXHASH), else 0 */
    uint32_t status;            /* tp_status bits: TP_STATUS_CSUMNOTREADY (outgoing packet whose
                                   checksum the NIC will fill: do not verify it),
                                   TP_STATUS_CSUM_VALID, TP_STATUS_TS_RAW_HARDWARE, ... */
    uint16_t vlan_tci;          /* the 802.1Q tag the kernel stripped (PCP/DEI/VID), else 0 */
    uint16_t vlan_tpid;         /* its TPID (0x8100, 0x88a8), else 0 */
    uint8_t vlan_valid;         /* 1: the frame carried a tag that is not in data (the kernel
                                   strips it on receive); sn_ring_vlan_rebuild() puts it back */
    uint8_t pkttype;            /* PACKET_HOST, _BROADCAST, _MULTICAST, _OTHERHOST, _OUTGOING
                                   (<linux/if_packet.h>): OUTGOING = sent by this host */
    uint16_t protocol;          /* ethertype, host byte order (sll_protocol; 0x0800 IPv4) */
    uint16_t hatype;            /* ARPHRD_* of the interface (1 Ethernet, 772 loopback) */
};

/* Counters since open (the kernel's are read and cleared by each PACKET_STATISTICS
 * call, so sn_ring_stats() adds them up here). */
struct sn_ring_stats {
    uint64_t packets;           /* passed the filter, ring drops included (tp_packets) */
    uint64_t drops;             /* lost because no block was free (tp_drops) */
    uint64_t freezes;           /* times the kernel found the ring full (tp_freeze_q_cnt) */
    uint64_t delivered;         /* packets returned by sn_ring_next / next_burst */
    uint64_t bytes;             /* sum of their caplen */
    uint64_t blocks;            /* blocks read and handed back */
    uint64_t blocks_timeout;    /* ... of which retired by the timer, not full (TP_STATUS_BLK_TMO) */
};

/* The ring. Caller-owned; all fields are private (read them only for debugging). */
struct sn_ring {
    int fd;                     /* the AF_PACKET socket; -1 when closed */
    int ifindex;                /* bound interface */
    uint16_t hatype;            /* ARPHRD_* of the interface */
    uint8_t *map;               /* the mapped ring, block_count * block_size bytes */
    size_t map_len;
    uint32_t block_size, block_count, frame_size;
    uint32_t snaplen;           /* reported caplen cut (0 = none) */
    uint32_t retire_ms;         /* as asked (0 = kernel default) */
    uint32_t cur;               /* index of the block we read or wait for next */
    uint8_t *blk;               /* that block while we own it, NULL otherwise */
    uint8_t *pkt;               /* next tpacket3_hdr in blk */
    uint32_t left;              /* packets of blk not yet returned */
    uint64_t last_seq;          /* seq_num of the last block we took */
    uint16_t fanout_arg_hi;     /* (mode | flags) as passed to PACKET_FANOUT, 0 = none */
    struct sn_ring_stats acc;   /* running totals */
};

/* Open a receive ring on opts->ifname and start capturing. Order (each step undone
 * on failure): socket(AF_PACKET, SOCK_RAW, 0) — protocol 0 so that it hears nothing
 * until bound, unlike htons(ETH_P_ALL), which would capture on every interface
 * right away — PACKET_VERSION V3, the filter, PACKET_RX_RING, mmap, bind to the
 * interface for ETH_P_ALL, promiscuous mode, fanout. A fanout ring holds a
 * reject-all filter from before bind until it has joined its group, so a packet is
 * never seen both by it and by its group. Returns 0 or -errno (see top). */
int sn_ring_open(struct sn_ring *r, const struct sn_ring_opts *opts);

/* The next packet: 1 with *pkt filled, 0 if none came within timeout_ms, -EINTR on
 * a signal, -ENETDOWN if the interface went down, or another -errno. Hands the
 * previous block back to the kernel when its last packet has been returned. */
int sn_ring_next(struct sn_ring *r, struct sn_ring_pkt *pkt, int timeout_ms);

/* Up to max packets at once, all from one block: the count (>= 1), 0 on timeout,
 * or -errno, as sn_ring_next. All of them stay valid until the next call. */
int sn_ring_next_burst(struct sn_ring *r, struct sn_ring_pkt *pkts, unsigned max, int timeout_ms);

/* Hand the block being read back to the kernel now, packets not yet returned
 * included (they are skipped: counted nowhere). Call it before a long pause between
 * sn_ring_next() calls so the kernel can use the block. Never fails. */
void sn_ring_release(struct sn_ring *r);

/* Add the kernel's counters (PACKET_STATISTICS, tpacket_stats_v3; the read clears
 * them) to the running totals and copy those to *out. 0 or -errno. */
int sn_ring_stats(struct sn_ring *r, struct sn_ring_stats *out);

/* Replace the filter on an open ring (prog NULL / len 0: take every packet; the
 * snaplen of the opts still applies). The new program is attached first (if the
 * kernel refuses it, -EINVAL, the old one stays). Then, so that no packet passed
 * by the old filter is returned after this call, the ring is drained: every block
 * the kernel has retired is handed back unread, and the block it was filling is
 * waited for (it is retired when full or after retire_ms — 8 ms by default; the
 * wait is bounded by retire_ms + 50 ms) and handed back too — as libpcap drains
 * after changing a kernel filter. Packets in those blocks are lost; packets
 * returned before the call become invalid. -EINVAL also for len > 4096. */
int sn_ring_set_filter(struct sn_ring *r, const struct sock_filter *prog, unsigned len);

/* The socket, for poll/epoll (POLLIN: a block is ready; POLLERR: read it with
 * sn_ring_next, which reports the error). Do not read from it. -EBADF if closed. */
int sn_ring_fd(const struct sn_ring *r);

/* The pcap LINKTYPE of what the ring returns: SN_LINKTYPE_ETHERNET (1, wire.h) for
 * Ethernet and loopback interfaces, SN_LINKTYPE_RAW (101) for interfaces without a
 * link header (tun, ARPHRD_NONE, IP tunnels), -EPROTONOSUPPORT for others. */
int sn_ring_linktype(const struct sn_ring *r);
/* The same for an interface by name, before any ring exists (so that a filter can
 * be compiled for it and given to sn_ring_open): one ioctl(SIOCGIFHWADDR), no
 * privileges. -ENODEV, -EINVAL (bad name), -EPROTONOSUPPORT. */
int sn_ring_linktype_of(const char *ifname);

/* Stop capturing: leave the fanout group, unmap, close (promiscuous mode is undone
 * by the kernel). Packet pointers become invalid. Safe on a closed ring, twice, after
 * a failed open, and on a zeroed struct (a ring is open iff it has a mapping). */
void sn_ring_close(struct sn_ring *r);

/* Write pkt's frame into out with its 802.1Q tag put back after the two MAC
 * addresses, as tcpdump writes it (libpcap's VLAN re-insertion): TPID from
 * pkt->vlan_tpid (0x8100 when the kernel did not say), then the TCI. Without a
 * stripped tag (vlan_valid 0), or a frame shorter than 12 bytes, it is copied as is.
 * Returns the bytes written (caplen or caplen + 4) and sets *wirelen (if not NULL)
 * to the matching wire length; -ENOSPC if cap is too small (nothing written). */
int sn_ring_vlan_rebuild(const struct sn_ring_pkt *pkt, uint8_t *out, size_t cap, uint32_t *wirelen);

/* A one-line hint for the user for some errors of this module, or NULL:
 *   -EPERM/-EACCES: "capturing needs CAP_NET_RAW: run as root or
 *                    `setcap cap_net_raw+ep build/sysnet`"
 *   -ENODEV, -ENETDOWN, -ENOMEM (ring too large), -EAFNOSUPPORT (no AF_PACKET). */
const char *sn_ring_hint(int err);

/* ======================================================================
 * Transmit ring (TPACKET_V2 frames)
 * ======================================================================
 * Why V2 and not V3: TX with V3 exists since Linux 4.11 but is frame-based, with
 * exactly the V2 semantics (fixed frames, tp_next_offset must be 0): it gains
 * nothing, is missing on older kernels, and its header is larger. The TX ring is
 * its own socket, so its version is independent of the receive ring's.
 *
 *   struct sn_txring t;
 *   struct sn_txring_opts o = { .ifname = "veth0", .batch = 64 };
 *   sn_txring_open(&t, &o);
 *   uint8_t *f; int cap = sn_txring_frame(&t, &f, -1);   // room for cap bytes at f
 *   size_t n = build_frame(f, cap);                       // the whole frame, MACs first
 *   sn_txring_commit(&t, n);                              // flushes every 64 commits
 *   ...
 *   sn_txring_flush(&t);  sn_txring_drain(&t, 1000);  sn_txring_close(&t);
 *
 * Frames go out in the order they are committed. A frame is ours to fill when its
 * status is TP_STATUS_AVAILABLE; commit marks it TP_STATUS_SEND_REQUEST; a flush is
 * one send(fd, NULL, 0, MSG_DONTWAIT), which makes the kernel transmit every
 * requested frame; the kernel sets each back to AVAILABLE once the NIC (or the
 * peer of a veth, or lo) is done with it. The socket is bound with protocol 0, so
 * it never receives. PACKET_LOSS is set: a frame the kernel refuses is skipped
 * instead of stopping the ring (commit already refuses what it can see is wrong).
 */

#define SN_TXRING_DEF_FRAME_SIZE  2048u /* bytes per frame, header included */
#define SN_TXRING_DEF_FRAME_COUNT 512u
#define SN_TXRING_HDRLEN          32u   /* frame bytes before the data: TPACKET_ALIGN(tpacket2_hdr) */

/* sn_txring_opts.flags */
#define SN_TXRING_QDISC_BYPASS 0x1u /* PACKET_QDISC_BYPASS (3.14): straight to the driver, no
                                       qdisc; faster, but no traffic shaping and the frames are
                                       not seen by packet sockets listening for outgoing traffic */

struct sn_txring_opts {
    const char *ifname;         /* interface to send on (required) */
    uint32_t frame_size;        /* bytes per frame, header included: multiple of 16, >= 64;
                                   0 = 2048 (room for a 1514-byte frame + 32) */
    uint32_t frame_count;       /* 0 = 512; rounded up to fill whole blocks */
    uint32_t block_size;        /* 0 = eight frames a block, rounded up to whole pages;
                                   else a multiple of the page size >= frame_size */
    unsigned batch;             /* commit flushes by itself every `batch` frames; 0 = only
                                   sn_txring_flush() and a full ring flush */
    unsigned flags;             /* SN_TXRING_* */
};

struct sn_txring_stats {
    uint64_t frames;            /* frames committed */
    uint64_t bytes;             /* their lengths */
    uint64_t flushes;           /* send(2) calls */
    uint64_t ring_full;         /* sn_txring_frame() found no free frame (it then flushes/waits) */
    uint64_t send_errors;       /* send(2) failures (-EAGAIN/-ENOBUFS: kept for the next flush) */
    uint64_t completed;         /* frames the kernel handed back (seen by the reclaim cursor) */
};

/* The transmit ring. Caller-owned; all fields are private. */
struct sn_txring {
    int fd;                     /* -1 when closed */
    int ifindex;
    uint8_t *map;
    size_t map_len;
    uint32_t frame_size, frame_count, block_size, frames_per_block;
    uint32_t max_len;           /* longest frame commit accepts: min(frame room, MTU + link header) */
    uint32_t min_len;           /* shortest: the link header (14 on Ethernet) */
    uint32_t mtu;               /* interface MTU at open */
    uint16_t hatype;            /* ARPHRD_* of the interface */
    uint32_t head;              /* next frame to fill */
    uint32_t tail;              /* oldest frame not yet seen completed */
    uint32_t inflight;          /* frames between tail and head */
    uint32_t unflushed;         /* committed since the last successful send */
    unsigned batch;
    uint8_t *taken;             /* frame handed out by sn_txring_frame, not yet committed */
    struct sn_txring_stats st;
};

/* Open a TX ring on opts->ifname: socket(AF_PACKET, SOCK_RAW, 0), PACKET_VERSION
 * V2, PACKET_LOSS, PACKET_QDISC_BYPASS if asked, PACKET_TX_RING, mmap, bind. 0 or
 * -errno (-EINVAL bad geometry, -ENODEV, -EPERM: see sn_ring_hint). */
int sn_txring_open(struct sn_txring *t, const struct sn_txring_opts *opts);

/* A free frame to fill: sets *data and returns its room in bytes (> 0, the most
 * commit accepts). When the ring is full it reclaims completed frames, flushes what
 * is committed and waits up to timeout_ms (-1 forever, 0 not at all): 0 if no frame
 * came free, -EINTR on a signal, or -errno. The wait is short sleeps (20 us doubling
 * to 1 ms): poll(2) cannot wait for a TX frame, the socket polls writable whenever
 * its send buffer has room. Asking twice without a commit returns the same frame. */
int sn_txring_frame(struct sn_txring *t, uint8_t **data, int timeout_ms);

/* Queue the frame taken by sn_txring_frame() with its first len bytes (a complete
 * link-layer frame). Flushes if `batch` frames are waiting. 0 when queued (a flush
 * that met a full queue, -EAGAIN/-ENOBUFS, is retried by the next one), -EINVAL if
 * no frame is taken or len is below the link header, -EMSGSIZE if len is above the
 * room or the MTU + link header (+ 4 for an 802.1Q-tagged Ethernet frame): then the
 * frame stays taken. Another flush error is returned with the frame queued. */
int sn_txring_commit(struct sn_txring *t, size_t len);

/* Copy len bytes into a frame and commit it: sn_txring_frame(timeout_ms) + memcpy +
 * sn_txring_commit. 0, -EAGAIN if the ring stayed full for timeout_ms, or -errno. */
int sn_txring_send(struct sn_txring *t, const void *frame, size_t len, int timeout_ms);

/* Ask the kernel to send every committed frame: one send(fd, NULL, 0, MSG_DONTWAIT),
 * none if nothing is waiting. 0 or -errno; on -EAGAIN / -ENOBUFS (socket or device
 * queue full) the frames stay queued and the next flush sends them. */
int sn_txring_flush(struct sn_txring *t);

/* Walk the reclaim cursor over frames the kernel has handed back and return how
 * many are still in flight (committed, not yet done). Never blocks. */
int sn_txring_reclaim(struct sn_txring *t);

/* Flush, then wait up to timeout_ms until every committed frame is done: 0, or
 * -ETIMEDOUT, -EINTR, -errno. */
int sn_txring_drain(struct sn_txring *t, int timeout_ms);

/* Copy the counters (after a reclaim). 0, or -EBADF on a closed ring. */
int sn_txring_stats(struct sn_txring *t, struct sn_txring_stats *out);

/* The socket (for SO_* options or to watch errors); -EBADF if closed. */
int sn_txring_fd(const struct sn_txring *t);

/* Flush what is committed (best effort, no wait), unmap and close. Frames already
 * handed to the kernel still go out. Safe twice and on a closed ring. */
void sn_txring_close(struct sn_txring *t);

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_RING_H */
