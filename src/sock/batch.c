/* batch.c — many datagrams per system call: sendmmsg(2) and recvmmsg(2) over
 * a caller-owned struct sn_batch, with the SO_TIMESTAMPNS receive time taken
 * from each message's control data. No allocation on either path.
 */
#include <sysnet/sock.h>

#include <time.h>

/* SO_TIMESTAMPNS_NEW (kernel 5.1) carries a 64-bit __kernel_timespec; the old
 * one a native struct timespec. Which one arrives depends on the libc's time_t. */
#ifndef SO_TIMESTAMPNS_OLD
#define SO_TIMESTAMPNS_OLD 35
#endif
#ifndef SO_TIMESTAMPNS_NEW
#define SO_TIMESTAMPNS_NEW 64
#endif

void sn_batch_init(struct sn_batch *b)
{
    b->n = 0;
    b->nbufs = 0;
    for (unsigned i = 0; i < SN_BATCH_MAX; i++) {
        struct msghdr *h = &b->msg[i].msg_hdr;
        memset(&b->msg[i], 0, sizeof(b->msg[i]));
        b->iov[i].iov_base = NULL;
        b->iov[i].iov_len = 0;
        h->msg_iov = &b->iov[i];
        h->msg_iovlen = 1;
        b->ts_ns[i] = 0;
    }
}

int sn_batch_add(struct sn_batch *b, const void *data, size_t len, const struct sn_addr *to)
{
    unsigned i = b->n;
    if (i >= SN_BATCH_MAX)
        return -ENOSPC;
    struct msghdr *h = &b->msg[i].msg_hdr;
    if (to) {
        int slen = sn_addr_to_sockaddr(to, &b->name[i]);
        if (slen < 0)
            return slen;
        h->msg_name = &b->name[i];
        h->msg_namelen = (socklen_t)slen;
    } else {
        h->msg_name = NULL;
        h->msg_namelen = 0;
    }
    b->iov[i].iov_base = (void *)(uintptr_t)data; /* sendmmsg only reads it */
    b->iov[i].iov_len = len;
    h->msg_iov = &b->iov[i];
    h->msg_iovlen = 1;
    h->msg_control = NULL;
    h->msg_controllen = 0;
    h->msg_flags = 0;
    b->msg[i].msg_len = 0;
    b->n = i + 1;
    return (int)i;
}

int sn_batch_send(int fd, struct sn_batch *b, unsigned first, int flags)
{
    if (first >= b->n)
        return first == b->n ? 0 : -EINVAL;
    int r = sendmmsg(fd, b->msg + first, b->n - first, flags);
    if (r < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    return r;
}

int sn_batch_recv_buf(struct sn_batch *b, unsigned i, void *buf, size_t len)
{
    if (i >= SN_BATCH_MAX)
        return -EINVAL;
    b->iov[i].iov_base = buf;
    b->iov[i].iov_len = len;
    if (i + 1 > b->nbufs)
        b->nbufs = i + 1;
    return 0;
}

int sn_batch_recv_bufs(struct sn_batch *b, void *mem, size_t slot, unsigned count)
{
    if (count > SN_BATCH_MAX)
        return -EINVAL;
    for (unsigned i = 0; i < count; i++) {
        b->iov[i].iov_base = (uint8_t *)mem + (size_t)i * slot;
        b->iov[i].iov_len = slot;
    }
    b->nbufs = count;
    return 0;
}

/* The receive time in the control data of h, or 0. */
static uint64_t cmsg_ts(struct msghdr *h)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level != SOL_SOCKET)
            continue;
        const unsigned char *d = CMSG_DATA(c);
        size_t dlen = c->cmsg_len - (size_t)(d - (const unsigned char *)c);
        if (c->cmsg_type == SO_TIMESTAMPNS_NEW && dlen >= 16) {
            int64_t ts[2]; /* struct __kernel_timespec */
            memcpy(ts, d, sizeof(ts));
            return (uint64_t)ts[0] * 1000000000u + (uint64_t)ts[1];
        }
        if (c->cmsg_type == SO_TIMESTAMPNS_OLD && dlen >= sizeof(struct timespec)) {
            struct timespec ts;
            memcpy(&ts, d, sizeof(ts));
            return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        }
    }
    return 0;
}

int sn_batch_recv(int fd, struct sn_batch *b, int flags)
{
    unsigned want = b->nbufs;
    if (want == 0 || want > SN_BATCH_MAX)
        return -EINVAL;
    /* recvmmsg writes back name and control lengths: reset them every call. */
    for (unsigned i = 0; i < want; i++) {
        struct msghdr *h = &b->msg[i].msg_hdr;
        h->msg_name = &b->name[i];
        h->msg_namelen = sizeof(b->name[i]);
        h->msg_iov = &b->iov[i];
        h->msg_iovlen = 1;
        h->msg_control = b->ctl[i].buf;
        h->msg_controllen = sizeof(b->ctl[i].buf);
        h->msg_flags = 0;
        b->msg[i].msg_len = 0;
    }
    int r = recvmmsg(fd, b->msg, want, flags, NULL);
    if (r < 0) {
        b->n = 0;
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
    for (int i = 0; i < r; i++)
        b->ts_ns[i] = cmsg_ts(&b->msg[i].msg_hdr);
    b->n = (unsigned)r;
    return r;
}

int sn_batch_from(const struct sn_batch *b, unsigned i, struct sn_addr *out)
{
    if (i >= SN_BATCH_MAX)
        return -EINVAL;
    const struct msghdr *h = &b->msg[i].msg_hdr;
    if (!h->msg_name || h->msg_namelen == 0)
        return -EAFNOSUPPORT;
    return sn_addr_from_sockaddr((const struct sockaddr *)&b->name[i], h->msg_namelen, out);
}
