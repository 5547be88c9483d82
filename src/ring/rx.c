/* rx.c — the TPACKET_V3 receive ring: open (socket, version, filter, ring, mmap,
 * bind, promiscuous mode, fanout), the block and packet walk with its memory
 * ordering, statistics, and replacing the filter of a running ring with a drain.
 * Sources: Documentation/networking/packet_mmap.rst, net/packet/af_packet.c
 * (tpacket_rcv, prb_* block functions), libpcap pcap-linux.c.
 */
#include "ring_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* Offset of struct sockaddr_ll after a tpacket3_hdr in each packet (packet_mmap.rst:
 * "Frame structure"); tp_mac counts from the header's first byte. */
#define HDR3_LEN TPACKET_ALIGN(sizeof(struct tpacket3_hdr))
/* The kernel's tp_retire_blk_tov when we pass 0: DEFAULT_PRB_RETIRE_TOV in
 * af_packet.c. (Its link-speed rule needs po->ifindex, which is still 0 when the
 * ring is made before bind, as here.) */
#define KERNEL_RETIRE_MS 8u
/* A fanout group delivers through its own hook, so PACKET_IGNORE_OUTGOING on a
 * member does nothing; the group needs this flag instead (recent kernels). */
#ifndef PACKET_FANOUT_FLAG_IGNORE_OUTGOING
#define PACKET_FANOUT_FLAG_IGNORE_OUTGOING 0x4000
#endif

static inline struct tpacket_block_desc *block_at(const struct sn_ring *r, uint32_t i)
{
    return (struct tpacket_block_desc *)(void *)(r->map + (size_t)i * r->block_size);
}

static void ring_reset(struct sn_ring *r)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
}

/* ---- filters ------------------------------------------------------------- */

static int detach_filter(int fd)
{
    int one = 1;
    int rc = ring_setsock(fd, SOL_SOCKET, SO_DETACH_FILTER, &one, sizeof(one));
    return rc == -ENOENT ? 0 : rc; /* no filter attached: nothing to do */
}

/* A filter that accepts nothing: "ret #0". */
static int attach_reject_all(int fd)
{
    struct sock_filter ret0 = BPF_STMT(BPF_RET | BPF_K, 0);
    struct sock_fprog fp = {.len = 1, .filter = &ret0};
    return ring_setsock(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp));
}

/* Attach prog with its accept values clamped to snaplen, so that the kernel copies
 * at most snaplen bytes into the ring: tpacket_rcv() cuts the packet to the value
 * the filter returns (libpcap does the same by compiling "ret #snaplen").
 *   ret #k (k > snaplen)  -> ret #snaplen
 *   ret a                 -> ja tail;  tail: jgt #snaplen ? ret #snaplen : ret a
 * No program and no snaplen: detach. No program but a snaplen: "ret #snaplen". */
static int attach_filter(int fd, const struct sock_filter *prog, unsigned len, uint32_t snaplen)
{
    struct sock_filter one = BPF_STMT(BPF_RET | BPF_K, snaplen);
    struct sock_fprog fp;
    struct sock_filter *copy = NULL;
    if (!prog || !len) {
        if (!snaplen)
            return detach_filter(fd);
        fp.len = 1;
        fp.filter = &one;
    } else if (!snaplen) {
        fp.len = (unsigned short)len;
        fp.filter = (struct sock_filter *)(uintptr_t)prog; /* the kernel copies it */
    } else {
        unsigned reta = 0, n = len;
        for (unsigned i = 0; i < len; i++)
            if (BPF_CLASS(prog[i].code) == BPF_RET && BPF_RVAL(prog[i].code) == BPF_A)
                reta++;
        if (reta && len + 3 <= SN_RING_MAX_FILTER_LEN)
            n = len + 3;
        copy = malloc(n * sizeof(*copy));
        if (!copy)
            return -ENOMEM;
        memcpy(copy, prog, len * sizeof(*copy));
        for (unsigned i = 0; i < len; i++) {
            struct sock_filter *f = &copy[i];
            if (BPF_CLASS(f->code) != BPF_RET)
                continue;
            if (BPF_RVAL(f->code) == BPF_K && f->k > snaplen)
                f->k = snaplen;
            else if (BPF_RVAL(f->code) == BPF_A && n > len)
                *f = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, len - i - 1);
        }
        if (n > len) {
            copy[len] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, snaplen, 0, 1);
            copy[len + 1] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, snaplen);
            copy[len + 2] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_A, 0);
        }
        fp.len = (unsigned short)n;
        fp.filter = copy;
    }
    int rc = ring_setsock(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp));
    free(copy);
    return rc;
}

static int check_filter_args(const struct sock_filter *prog, unsigned len)
{
    if ((prog == NULL) != (len == 0) || len > SN_RING_MAX_FILTER_LEN)
        return -EINVAL;
    return 0;
}

/* ---- open / close -------------------------------------------------------- */

static int check_opts(const struct sn_ring_opts *o, uint32_t *bs, uint32_t *bc, uint32_t *fs)
{
    long page = sysconf(_SC_PAGESIZE);
    if (!o->ifname || page <= 0)
        return -EINVAL;
    *bs = o->block_size ? o->block_size : SN_RING_DEF_BLOCK_SIZE;
    *bc = o->block_count ? o->block_count : SN_RING_DEF_BLOCK_COUNT;
    *fs = o->frame_size ? o->frame_size : SN_RING_DEF_FRAME_SIZE;
    /* packet_set_ring(): block size page-aligned, frame size a multiple of
     * TPACKET_ALIGNMENT holding at least a header, at least one frame a block. */
    if (*bs % (uint32_t)page || *fs % TPACKET_ALIGNMENT ||
        *fs < TPACKET_ALIGN(TPACKET3_HDRLEN) || *fs > *bs)
        return -EINVAL;
    if ((uint64_t)*bs * *bc >= (1ull << 31))
        return -EINVAL;
    if (o->flags & ~(SN_RING_PROMISC | SN_RING_RXHASH | SN_RING_NO_OUTGOING))
        return -EINVAL;
    if (o->fanout_mode > SN_RING_FANOUT_QM ||
        (o->fanout_flags & ~(SN_RING_FANOUT_FLAG_ROLLOVER | SN_RING_FANOUT_FLAG_DEFRAG)) ||
        (o->fanout_mode == SN_RING_FANOUT_NONE && o->fanout_flags))
        return -EINVAL;
    return check_filter_args(o->filter, o->filter_len);
}

static int sock_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return errno;
    return err;
}

int sn_ring_open(struct sn_ring *r, const struct sn_ring_opts *o)
{
    uint32_t bs, bc, fs;
    int rc, fd, ifindex;
    uint8_t *map;
    if (!r)
        return -EINVAL;
    ring_reset(r);
    if (!o)
        return -EINVAL;
    if ((rc = check_opts(o, &bs, &bc, &fs)) < 0)
        return rc;
    /* protocol 0 until bind: nothing arrives before the filter and the ring */
    if ((fd = ring_socket(o->ifname, &ifindex, &r->hatype)) < 0)
        return fd;

    int ver = TPACKET_V3;
    if ((rc = ring_setsock(fd, SOL_PACKET, PACKET_VERSION, &ver, sizeof(ver))) < 0)
        goto fail_fd;
    if (o->flags & SN_RING_NO_OUTGOING) {
        int one = 1;
        if ((rc = ring_setsock(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one))) < 0)
            goto fail_fd;
    }
    /* The filter goes on before bind, so the first packet is filtered already. A
     * fanout member rejects everything until it has joined its group: between bind
     * and PACKET_FANOUT it would otherwise hear the interface on its own, and
     * packets would reach both it and the group. */
    if (o->fanout_mode != SN_RING_FANOUT_NONE)
        rc = attach_reject_all(fd);
    else
        rc = attach_filter(fd, o->filter, o->filter_len, o->snaplen);
    if (rc < 0)
        goto fail_fd;

    struct tpacket_req3 req = {
        .tp_block_size = bs,
        .tp_block_nr = bc,
        .tp_frame_size = fs,
        .tp_frame_nr = (bs / fs) * bc,
        .tp_retire_blk_tov = o->retire_ms,
        .tp_sizeof_priv = 0,
        .tp_feature_req_word = (o->flags & SN_RING_RXHASH) ? TP_FT_REQ_FILL_RXHASH : 0,
    };
    if ((rc = ring_setsock(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req))) < 0)
        goto fail_fd;
    size_t len = (size_t)bs * bc;
    if ((rc = ring_map_bind(fd, len, ifindex, htons(ETH_P_ALL), &map)) < 0)
        goto fail_fd;
    /* packet_do_bind() on an interface that is down succeeds but sets sk_err. */
    if ((rc = sock_error(fd)) != 0) {
        rc = -rc;
        goto fail_map;
    }
    if (o->flags & SN_RING_PROMISC) {
        struct packet_mreq mr;
        memset(&mr, 0, sizeof(mr));
        mr.mr_ifindex = ifindex;
        mr.mr_type = PACKET_MR_PROMISC;
        if ((rc = ring_setsock(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr))) < 0)
            goto fail_map;
    }
    if (o->fanout_mode != SN_RING_FANOUT_NONE) {
        /* PACKET_FANOUT takes group id | (type | flags) << 16 (packet(7)). */
        uint16_t hi = (uint16_t)((o->fanout_mode - 1u) | o->fanout_flags);
        if (o->flags & SN_RING_NO_OUTGOING)
            hi |= PACKET_FANOUT_FLAG_IGNORE_OUTGOING;
        int arg = (int)((uint32_t)o->fanout_group | ((uint32_t)hi << 16));
        if ((rc = ring_setsock(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg))) < 0)
            goto fail_map;
        if ((rc = attach_filter(fd, o->filter, o->filter_len, o->snaplen)) < 0)
            goto fail_map;
        r->fanout_arg_hi = hi;
    }

    r->fd = fd;
    r->ifindex = ifindex;
    r->map = map;
    r->map_len = len;
    r->block_size = bs;
    r->block_count = bc;
    r->frame_size = fs;
    r->snaplen = o->snaplen;
    r->retire_ms = o->retire_ms;
    return 0;

fail_map:
    munmap(map, len);
fail_fd:
    close(fd);
    ring_reset(r);
    return rc;
}

void sn_ring_close(struct sn_ring *r)
{
    if (!r)
        return;
    if (r->map) { /* only an open ring has a mapping: a zeroed struct's fd 0 is not ours */
        munmap(r->map, r->map_len);
        if (r->fd >= 0)
            close(r->fd);
    }
    ring_reset(r);
}

int sn_ring_fd(const struct sn_ring *r)
{
    return r && r->map ? r->fd : -EBADF;
}

/* ---- the block walk ------------------------------------------------------
 * Ownership of a block passes through block_status (packet_mmap.rst, "TPACKET_V3"):
 * the kernel writes the packets, then (prb_close_block: smp_wmb(); status =
 * TP_STATUS_USER) publishes the block. Our acquire load of block_status pairs with
 * that barrier: once we see TP_STATUS_USER, every packet byte and header the kernel
 * wrote before is visible, and no read of the block can be hoisted above the load.
 * Handing back is the mirror: a release store of TP_STATUS_KERNEL orders all our
 * reads of the block before it, so the kernel (which reads the status, then
 * prb_open_block: smp_rmb(), then overwrites) never changes bytes we still read. */

static inline uint32_t status_acquire(const struct tpacket_block_desc *bd)
{
    return __atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE);
}

static inline void release_block(struct sn_ring *r)
{
    struct tpacket_block_desc *bd = (struct tpacket_block_desc *)(void *)r->blk;
    __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    r->blk = NULL;
    r->pkt = NULL;
    r->left = 0;
    r->cur = r->cur + 1 == r->block_count ? 0 : r->cur + 1;
}

void sn_ring_release(struct sn_ring *r)
{
    if (r && r->blk)
        release_block(r);
}

/* Take the block at cur if the kernel has retired it: 1 (it may hold 0 packets),
 * 0 if it is still the kernel's. */
static inline int take_block(struct sn_ring *r)
{
    struct tpacket_block_desc *bd = block_at(r, r->cur);
    uint32_t st = status_acquire(bd);
    if (!(st & TP_STATUS_USER))
        return 0;
    const struct tpacket_hdr_v1 *h = &bd->hdr.bh1;
    r->blk = (uint8_t *)bd;
    r->left = h->num_pkts;
    r->pkt = r->blk + h->offset_to_first_pkt;
    if (SN_UNLIKELY(h->offset_to_first_pkt >= r->block_size))
        r->left = 0; /* never from a sane kernel; do not walk off the block */
    r->last_seq = h->seq_num;
    r->acc.blocks++;
    if (st & TP_STATUS_BLK_TMO)
        r->acc.blocks_timeout++;
    return 1;
}

/* Fill *p from the packet at r->pkt and step to the next one. */
static inline void take_pkt(struct sn_ring *r, struct sn_ring_pkt *p)
{
    const struct tpacket3_hdr *h = (const struct tpacket3_hdr *)(const void *)r->pkt;
    const struct sockaddr_ll *sll = (const struct sockaddr_ll *)(const void *)(r->pkt + HDR3_LEN);
    uint32_t st = h->tp_status;
    uint32_t cap = h->tp_snaplen;
    if (r->snaplen && cap > r->snaplen)
        cap = r->snaplen;
    p->data = r->pkt + h->tp_mac;
    p->caplen = cap;
    p->wirelen = h->tp_len;
    p->ts_ns = (uint64_t)h->tp_sec * 1000000000u + h->tp_nsec; /* V3 stamps are always ns */
    p->ifindex = (uint32_t)sll->sll_ifindex;
    p->rxhash = h->hv1.tp_rxhash;
    p->status = st;
    /* libpcap's VLAN_VALID(): older kernels set no TP_STATUS_VLAN_VALID, only a TCI. */
    p->vlan_valid = (st & TP_STATUS_VLAN_VALID) || h->hv1.tp_vlan_tci;
    p->vlan_tci = (uint16_t)h->hv1.tp_vlan_tci;
    p->vlan_tpid = p->vlan_valid ? ((st & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid
                                                                       : ETH_P_8021Q)
                                 : 0;
    p->pkttype = sll->sll_pkttype;
    p->protocol = ntohs(sll->sll_protocol);
    p->hatype = sll->sll_hatype;
    r->acc.delivered++;
    r->acc.bytes += cap;
    if (--r->left) {
        uint32_t off = h->tp_next_offset;
        if (SN_UNLIKELY(off == 0 || (size_t)(r->pkt - r->blk) + off >= r->block_size))
            r->left = 0;
        else
            r->pkt += off;
    }
}

/* Wait until a block with packets is ours (the held one, if any, is handed back
 * first). 1, 0 on timeout, or -errno. */
static int wait_block(struct sn_ring *r, int timeout_ms)
{
    uint64_t deadline = 0;
    if (SN_UNLIKELY(!r->map))
        return -EBADF;
    if (r->blk)
        release_block(r);
    for (;;) {
        if (take_block(r)) {
            if (r->left)
                return 1;
            release_block(r); /* an empty block retired by the timer */
            continue;
        }
        if (timeout_ms == 0)
            return 0;
        int wait = -1;
        if (timeout_ms > 0) {
            uint64_t now = sn_now_ns();
            if (!deadline)
                deadline = now + (uint64_t)timeout_ms * 1000000u;
            else if (now >= deadline)
                return 0;
            wait = (int)((deadline - now + 999999u) / 1000000u);
        }
        /* packet_poll(): POLLIN when the block before the one the kernel fills is
         * retired. The status check above is the truth; poll only sleeps. */
        struct pollfd pfd = {.fd = r->fd, .events = POLLIN | POLLRDNORM};
        int n = poll(&pfd, 1, wait);
        if (n < 0)
            return -errno; /* -EINTR: a signal; the caller decides */
        if (n > 0 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))) {
            if (pfd.revents & POLLNVAL)
                return -EBADF;
            int err = sock_error(r->fd); /* -ENETDOWN when the interface went down */
            if (err)
                return -err;
        }
    }
}

int sn_ring_next(struct sn_ring *r, struct sn_ring_pkt *pkt, int timeout_ms)
{
    if (SN_LIKELY(r->left)) {
        take_pkt(r, pkt);
        return 1;
    }
    int rc = wait_block(r, timeout_ms);
    if (rc <= 0)
        return rc;
    take_pkt(r, pkt);
    return 1;
}

int sn_ring_next_burst(struct sn_ring *r, struct sn_ring_pkt *pkts, unsigned max, int timeout_ms)
{
    if (max == 0)
        return -EINVAL;
    if (!r->left) {
        int rc = wait_block(r, timeout_ms);
        if (rc <= 0)
            return rc;
    }
    unsigned n = 0;
    while (n < max && r->left)
        take_pkt(r, &pkts[n++]);
    return (int)n;
}

/* ---- statistics ------------------------------------------------------------ */

int sn_ring_stats(struct sn_ring *r, struct sn_ring_stats *out)
{
    if (!r || !r->map)
        return -EBADF;
    struct tpacket_stats_v3 st;
    socklen_t len = sizeof(st);
    memset(&st, 0, sizeof(st));
    /* packet_getsockopt(PACKET_STATISTICS) returns the counts since the last read
     * and zeroes them; its tp_packets already includes tp_drops. */
    if (getsockopt(r->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) < 0)
        return -errno;
    r->acc.packets += st.tp_packets;
    r->acc.drops += st.tp_drops;
    r->acc.freezes += st.tp_freeze_q_cnt;
    if (out)
        *out = r->acc;
    return 0;
}

/* ---- replacing the filter of a running ring ------------------------------ */

/* Hand back every block the kernel has retired, then the one it is filling if that
 * holds packets: those may have passed the old filter. That block is retired by the
 * kernel when full or by its timer (retire_ms); we wait for it, bounded. Blocks
 * opened after it hold only packets of the new filter and are left alone. */
static int drain(struct sn_ring *r)
{
    uint32_t retire = r->retire_ms ? r->retire_ms : KERNEL_RETIRE_MS;
    uint64_t deadline = sn_now_ns() + ((uint64_t)retire + 50u) * 1000000u;
    uint64_t target = 0; /* sequence number of the block open at attach time */
    if (r->blk)
        release_block(r);
    for (;;) {
        if (take_block(r)) {
            uint64_t seq = r->last_seq;
            release_block(r);
            if (target && seq >= target)
                return 0;
            continue;
        }
        if (!target) {
            /* The block at cur is the kernel's. prb_open_block() numbers blocks as it
             * opens them: a number newer than the last block we took means it is the
             * open one; an older number is the stale header of a block we handed
             * back and the kernel has not reopened (then nothing is pending). */
            struct tpacket_block_desc *bd = block_at(r, r->cur);
            uint32_t npkts = __atomic_load_n(&bd->hdr.bh1.num_pkts, __ATOMIC_RELAXED);
            uint64_t seq = __atomic_load_n(&bd->hdr.bh1.seq_num, __ATOMIC_RELAXED);
            if (npkts == 0 || seq <= r->last_seq)
                return 0;
            target = seq;
        }
        uint64_t now = sn_now_ns();
        if (now >= deadline)
            return 0; /* give up: a bounded call beats a perfect drain */
        struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
        int wait = (int)((deadline - now + 999999u) / 1000000u);
        if (poll(&pfd, 1, wait > 5 ? 5 : wait) < 0 && errno != EINTR)
            return -errno;
    }
}

int sn_ring_set_filter(struct sn_ring *r, const struct sock_filter *prog, unsigned len)
{
    int rc;
    if (!r)
        return -EINVAL;
    if ((rc = check_filter_args(prog, len)) < 0)
        return rc;
    if (!r->map)
        return -EBADF;
    /* Attach first: a program the kernel refuses (-EINVAL) leaves the old one in
     * place. Then drain, as libpcap does after changing a kernel filter. */
    if ((rc = attach_filter(r->fd, prog, len, r->snaplen)) < 0)
        return rc;
    return drain(r);
}
