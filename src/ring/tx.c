/* tx.c — the PACKET_TX_RING transmit ring (TPACKET_V2 frames): frames filled in
 * place, handed to the kernel with a release store of TP_STATUS_SEND_REQUEST,
 * sent by one send(2) per batch, and reclaimed in order when the kernel has set
 * them back to TP_STATUS_AVAILABLE.
 * Sources: Documentation/networking/packet_mmap.rst ("Transmission process"),
 * net/packet/af_packet.c (tpacket_snd, tpacket_parse_header, tpacket_destruct_skb).
 */
#include "ring_int.h"

#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* With TPACKET_V2 and no PACKET_TX_HAS_OFF, the kernel takes the frame data right
 * after the aligned header: tp_hdrlen - sizeof(struct sockaddr_ll) (tpacket_parse_header). */
#define TX_DATA_OFF (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))
_Static_assert(TX_DATA_OFF == SN_TXRING_HDRLEN, "SN_TXRING_HDRLEN out of date");

static void tx_reset(struct sn_txring *t)
{
    memset(t, 0, sizeof(*t));
    t->fd = -1;
}

static inline struct tpacket2_hdr *frame_at(const struct sn_txring *t, uint32_t i)
{
    /* Frames never straddle blocks; blocks sit back to back in the mapping. */
    return (struct tpacket2_hdr *)(void *)(t->map + (size_t)(i / t->frames_per_block) * t->block_size +
                                           (size_t)(i % t->frames_per_block) * t->frame_size);
}

static inline uint32_t next_idx(const struct sn_txring *t, uint32_t i)
{
    return i + 1 == t->frame_count ? 0 : i + 1;
}

/* ---- open / close -------------------------------------------------------- */

static int check_opts(const struct sn_txring_opts *o, uint32_t *fs, uint32_t *fc, uint32_t *bs)
{
    long page = sysconf(_SC_PAGESIZE);
    if (!o->ifname || page <= 0 || (o->flags & ~SN_TXRING_QDISC_BYPASS))
        return -EINVAL;
    *fs = o->frame_size ? o->frame_size : SN_TXRING_DEF_FRAME_SIZE;
    *fc = o->frame_count ? o->frame_count : SN_TXRING_DEF_FRAME_COUNT;
    if (*fs % TPACKET_ALIGNMENT || *fs < TPACKET_ALIGN(TPACKET2_HDRLEN) || *fs > (1u << 28))
        return -EINVAL;
    if (o->block_size) {
        *bs = o->block_size;
        if (*bs % (uint32_t)page || *bs < *fs)
            return -EINVAL;
    } else { /* eight frames a block, rounded up to whole pages */
        uint64_t b = ((uint64_t)*fs * 8 + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page;
        *bs = (uint32_t)b;
    }
    uint32_t fpb = *bs / *fs;
    uint64_t blocks = ((uint64_t)*fc + fpb - 1) / fpb;
    if (blocks * *bs >= (1ull << 31))
        return -EINVAL;
    *fc = (uint32_t)(blocks * fpb); /* whole blocks: tp_frame_nr must match exactly */
    return 0;
}

int sn_txring_open(struct sn_txring *t, const struct sn_txring_opts *o)
{
    uint32_t fs, fc, bs;
    struct ifreq ifr;
    int rc, fd, ifindex;
    uint16_t hatype;
    uint8_t *map;
    if (!t)
        return -EINVAL;
    tx_reset(t);
    if (!o)
        return -EINVAL;
    if ((rc = check_opts(o, &fs, &fc, &bs)) < 0)
        return rc;
    if ((fd = ring_socket(o->ifname, &ifindex, &hatype)) < 0) /* protocol 0: never receives */
        return fd;
    if ((rc = ring_if_ioctl(fd, o->ifname, SIOCGIFMTU, &ifr)) < 0)
        goto fail_fd;
    uint32_t mtu = (uint32_t)ifr.ifr_mtu;
    if ((rc = ring_if_ioctl(fd, o->ifname, SIOCGIFFLAGS, &ifr)) < 0)
        goto fail_fd;
    if (!(ifr.ifr_flags & IFF_UP)) { /* tpacket_snd() would say -ENETDOWN at each flush */
        rc = -ENETDOWN;
        goto fail_fd;
    }

    int ver = TPACKET_V2, one = 1;
    if ((rc = ring_setsock(fd, SOL_PACKET, PACKET_VERSION, &ver, sizeof(ver))) < 0)
        goto fail_fd;
    /* Without PACKET_LOSS a frame the kernel refuses is marked TP_STATUS_WRONG_FORMAT
     * and the kernel stops at it on every later send: the ring is wedged. With it,
     * the frame is dropped and set back to AVAILABLE (tpacket_snd, tpacket_error). */
    if ((rc = ring_setsock(fd, SOL_PACKET, PACKET_LOSS, &one, sizeof(one))) < 0)
        goto fail_fd;
    if ((o->flags & SN_TXRING_QDISC_BYPASS) &&
        (rc = ring_setsock(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one))) < 0)
        goto fail_fd;
    struct tpacket_req req = {
        .tp_block_size = bs, .tp_block_nr = fc / (bs / fs), .tp_frame_size = fs, .tp_frame_nr = fc};
    if ((rc = ring_setsock(fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req))) < 0)
        goto fail_fd;
    size_t len = (size_t)bs * req.tp_block_nr;
    /* protocol 0: no receive hook; skb->protocol is parsed from the frame */
    if ((rc = ring_map_bind(fd, len, ifindex, 0, &map)) < 0)
        goto fail_fd;

    /* Link header length the kernel expects (dev->hard_header_len): Ethernet and
     * loopback have 14, header-less devices 0. */
    uint32_t hh = (hatype == ARPHRD_ETHER || hatype == ARPHRD_LOOPBACK) ? ETH_HLEN : 0;
    uint32_t room = fs - (uint32_t)TX_DATA_OFF;
    uint64_t lim = (uint64_t)mtu + hh + (hatype == ARPHRD_ETHER ? 4u : 0u);
    t->fd = fd;
    t->ifindex = ifindex;
    t->map = map;
    t->map_len = len;
    t->frame_size = fs;
    t->frame_count = fc;
    t->block_size = bs;
    t->frames_per_block = bs / fs;
    t->max_len = lim < room ? (uint32_t)lim : room;
    t->min_len = hh;
    t->batch = o->batch;
    t->hatype = hatype;
    t->mtu = mtu;
    return 0;

fail_fd:
    close(fd);
    tx_reset(t);
    return rc;
}

void sn_txring_close(struct sn_txring *t)
{
    if (!t)
        return;
    if (t->map) {
        if (t->unflushed)
            (void)send(t->fd, NULL, 0, MSG_DONTWAIT); /* best effort */
        munmap(t->map, t->map_len);
        close(t->fd);
    }
    tx_reset(t);
}

int sn_txring_fd(const struct sn_txring *t)
{
    return t && t->map ? t->fd : -EBADF;
}

/* ---- filling, flushing, reclaiming ----------------------------------------
 * Ordering (packet_mmap.rst; af_packet.c __packet_get_status/__packet_set_status):
 * we write the frame, then store TP_STATUS_SEND_REQUEST with release semantics so
 * the kernel, which reads the status then smp_rmb() then the data, never sends a
 * half-written frame. The kernel stores TP_STATUS_AVAILABLE from the skb destructor
 * once done with the frame; our acquire load of it orders that before our next
 * writes to the frame, so we never scribble over bytes still being transmitted. */

int sn_txring_reclaim(struct sn_txring *t)
{
    if (!t || !t->map)
        return -EBADF;
    while (t->inflight) {
        const struct tpacket2_hdr *h = frame_at(t, t->tail);
        if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE)
            break; /* SEND_REQUEST (not flushed yet) or SENDING: in order, so stop here */
        t->tail = next_idx(t, t->tail);
        t->inflight--;
        t->st.completed++;
    }
    return (int)t->inflight;
}

/* Is the newest committed frame still waiting for a send()? tpacket_snd() walks the
 * ring in order and stops early when the socket's send buffer fills (it then
 * returns success for what it did send), leaving the rest SEND_REQUEST with
 * nobody to send them. The newest frame tells: if it is still SEND_REQUEST after
 * its flush, frames are stranded and need another send(). */
static int stranded(const struct sn_txring *t)
{
    if (!t->inflight)
        return 0;
    uint32_t newest = t->head ? t->head - 1 : t->frame_count - 1;
    return __atomic_load_n(&frame_at(t, newest)->tp_status, __ATOMIC_ACQUIRE) == TP_STATUS_SEND_REQUEST;
}

int sn_txring_flush(struct sn_txring *t)
{
    if (!t || !t->map)
        return -EBADF;
    if (!t->unflushed && !stranded(t))
        return 0;
    t->st.flushes++;
    /* tpacket_snd() walks the ring from its own head and sends every frame marked
     * SEND_REQUEST, stopping at the first that is not. MSG_DONTWAIT: do not wait
     * for the frames to complete. */
    if (send(t->fd, NULL, 0, MSG_DONTWAIT) < 0) {
        int e = errno;
        t->st.send_errors++;
        return -e; /* frames not taken stay SEND_REQUEST: the next send retries them */
    }
    t->unflushed = 0;
    return 0;
}

/* Sleep a little, doubling from 20 us to 1 ms. poll(2) cannot wait for a frame:
 * packet_poll() reports POLLOUT whenever the send buffer has room (datagram_poll),
 * which is almost always. -EINTR on a signal. */
static int nap(uint32_t *us)
{
    struct timespec ts = {0, (long)*us * 1000};
    if (*us < 1000)
        *us *= 2;
    return nanosleep(&ts, NULL) < 0 ? -errno : 0;
}

static uint64_t deadline_of(int timeout_ms)
{
    return timeout_ms < 0 ? UINT64_MAX : sn_now_ns() + (uint64_t)timeout_ms * 1000000u;
}

int sn_txring_frame(struct sn_txring *t, uint8_t **data, int timeout_ms)
{
    if (!t || !t->map || !data)
        return t && t->map ? -EINVAL : -EBADF;
    if (t->taken) {
        *data = t->taken + TX_DATA_OFF;
        return (int)t->max_len;
    }
    /* inflight counts committed frames from tail to head; once it reaches the ring
     * size, head == tail and the frame we want is still the kernel's. */
    if (SN_UNLIKELY(t->inflight == t->frame_count) && sn_txring_reclaim(t) == (int)t->frame_count) {
        uint64_t deadline = 0;
        uint32_t us = 20;
        t->st.ring_full++;
        for (;;) {
            /* Committed but not sent (never flushed, or stranded by a partial
             * flush): they will not come back alone. */
            int frc = sn_txring_flush(t);
            if (frc < 0 && frc != -EAGAIN && frc != -ENOBUFS)
                return frc;
            if (sn_txring_reclaim(t) < (int)t->frame_count)
                break;
            if (timeout_ms == 0)
                return 0;
            if (!deadline)
                deadline = deadline_of(timeout_ms);
            else if (sn_now_ns() >= deadline)
                return 0;
            int rc = nap(&us);
            if (rc < 0)
                return rc;
        }
    }
    t->taken = (uint8_t *)frame_at(t, t->head);
    *data = t->taken + TX_DATA_OFF;
    return (int)t->max_len;
}

int sn_txring_commit(struct sn_txring *t, size_t len)
{
    if (!t || !t->map || !t->taken)
        return -EINVAL;
    if (len < t->min_len || len == 0)
        return -EINVAL;
    if (len > t->max_len)
        return -EMSGSIZE;
    /* tpacket_snd(): above MTU + link header only an 802.1Q-tagged Ethernet frame
     * may be 4 bytes longer (packet_extra_vlan_len_allowed). */
    uint8_t *data = t->taken + TX_DATA_OFF;
    if (len > (size_t)t->mtu + t->min_len && !(t->hatype == ARPHRD_ETHER && sn_load_be16(data + 12) == ETH_P_8021Q))
        return -EMSGSIZE;
    struct tpacket2_hdr *h = (struct tpacket2_hdr *)(void *)t->taken;
    h->tp_len = (uint32_t)len;
    h->tp_snaplen = (uint32_t)len;
    __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
    t->taken = NULL;
    t->head = next_idx(t, t->head);
    t->inflight++;
    t->unflushed++;
    t->st.frames++;
    t->st.bytes += len;
    if (t->batch && t->unflushed >= t->batch) {
        int rc = sn_txring_flush(t);
        if (rc < 0 && rc != -EAGAIN && rc != -ENOBUFS)
            return rc;
    }
    return 0;
}

int sn_txring_send(struct sn_txring *t, const void *frame, size_t len, int timeout_ms)
{
    uint8_t *p;
    if (!frame && len)
        return -EINVAL;
    int cap = sn_txring_frame(t, &p, timeout_ms);
    if (cap < 0)
        return cap;
    if (cap == 0)
        return -EAGAIN;
    if (len > (size_t)cap)
        return -EMSGSIZE; /* the frame stays taken; the next call reuses it */
    memcpy(p, frame, len);
    return sn_txring_commit(t, len);
}

int sn_txring_drain(struct sn_txring *t, int timeout_ms)
{
    uint64_t deadline = deadline_of(timeout_ms);
    uint32_t us = 20;
    if (!t || !t->map)
        return -EBADF;
    for (;;) {
        int rc = sn_txring_flush(t);
        if (rc < 0 && rc != -EAGAIN && rc != -ENOBUFS)
            return rc;
        if (sn_txring_reclaim(t) == 0)
            return 0;
        if (timeout_ms == 0 || sn_now_ns() >= deadline)
            return -ETIMEDOUT;
        if ((rc = nap(&us)) < 0)
            return rc;
    }
}

int sn_txring_stats(struct sn_txring *t, struct sn_txring_stats *out)
{
    if (!t || !t->map)
        return -EBADF;
    (void)sn_txring_reclaim(t);
    if (out)
        *out = t->st;
    return 0;
}
