/* sock.c — raw sockets: IPv4/IPv6 SOCK_RAW and AF_PACKET SOCK_RAW open with their
 * options, per-packet TTL on send (IP_TTL / IPV6_HOPLIMIT control messages),
 * batched sends over sendmmsg, receives with timestamp, source and packet info,
 * and the route's source address. See raw(7), ipv6(7), packet(7), RFC 3542.
 */
#include <sysnet/raw.h>

#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

static int setint(int fd, int level, int name, int val)
{
    return setsockopt(fd, level, name, &val, sizeof(val)) < 0 ? -errno : 0;
}

const char *sn_raw_hint(int err)
{
    if (err == -EPERM || err == EPERM || err == -EACCES || err == EACCES)
        return "raw sockets need CAP_NET_RAW: run as root or `setcap cap_net_raw+ep build/sysnet`";
    return sn_strerror(err);
}

int sn_raw_close(int fd)
{
    return close(fd) < 0 ? -errno : 0;
}

int sn_raw_family(int fd)
{
    return sn_sock_getopt_int(fd, SOL_SOCKET, SO_DOMAIN);
}

int sn_raw_set_ttl(int fd, int ttl)
{
    if (ttl < 1 || ttl > 255)
        return -EINVAL;
    int fam = sn_raw_family(fd);
    if (fam < 0)
        return fam;
    if (fam == AF_INET)
        return setint(fd, IPPROTO_IP, IP_TTL, ttl);
    if (fam == AF_INET6)
        return setint(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl);
    return -EAFNOSUPPORT;
}

int sn_raw_get_ttl(int fd)
{
    int fam = sn_raw_family(fd);
    if (fam < 0)
        return fam;
    if (fam == AF_INET)
        return sn_sock_getopt_int(fd, IPPROTO_IP, IP_TTL);
    if (fam == AF_INET6)
        return sn_sock_getopt_int(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS);
    return -EAFNOSUPPORT;
}

int sn_raw_bind_device(int fd, const char *ifname)
{
    size_t n = ifname ? strnlen(ifname, IFNAMSIZ) : 0;
    if (n >= IFNAMSIZ)
        return -ENODEV;
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, n ? ifname : "", (socklen_t)n) < 0)
        return -errno;
    return 0;
}

int sn_raw_icmp6_filter(int fd, const uint8_t *types, size_t n)
{
    struct icmp6_filter f;
    if (n && !types)
        return -EINVAL;
    /* In the kernel's filter a set bit blocks the type (RFC 3542 §3.2 macros). */
    memset(&f, n ? 0xff : 0x00, sizeof(f));
    for (size_t i = 0; i < n; i++)
        f.icmp6_filt[types[i] >> 5] &= ~(UINT32_C(1) << (types[i] & 31));
    return setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f)) < 0 ? -errno : 0;
}

/* ppoll(2) on fds[0..n) for POLLIN: a mask of the fds with events (bit i for
 * fds[i]: readable, or an error the next receive reports), 0 on timeout, -errno. */
static int wait_fds(const int *fds, unsigned n, const struct timespec *ts)
{
    struct pollfd p[SN_RAW_WAIT_MAX];
    if (!fds || n == 0 || n > SN_RAW_WAIT_MAX)
        return -EINVAL;
    for (unsigned i = 0; i < n; i++)
        p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
    if (ppoll(p, n, ts, NULL) < 0)
        return -errno;
    int mask = 0;
    for (unsigned i = 0; i < n; i++)
        if (p[i].revents)
            mask |= 1 << i;
    return mask;
}

static struct timespec ns_to_ts(uint64_t ns)
{
    return (struct timespec){.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
}

int sn_raw_wait(int fd, int timeout_ms)
{
    return sn_raw_wait_ns(fd, timeout_ms < 0 ? -1 : (int64_t)timeout_ms * 1000000);
}

int sn_raw_wait_ns(int fd, int64_t timeout_ns)
{
    struct timespec ts = ns_to_ts(timeout_ns < 0 ? 0 : (uint64_t)timeout_ns);
    return wait_fds(&fd, 1, timeout_ns < 0 ? NULL : &ts);
}

int sn_raw_wait_until(const int *fds, unsigned n, uint64_t deadline_ns)
{
    if (deadline_ns == UINT64_MAX)
        return wait_fds(fds, n, NULL);
    uint64_t now = sn_now_ns();
    struct timespec ts = ns_to_ts(deadline_ns > now ? deadline_ns - now : 0);
    return wait_fds(fds, n, &ts);
}

/* ---- open ------------------------------------------------------------------ */

static int check_opts(const struct sn_raw_opts *o)
{
    if (o->family != AF_INET && o->family != AF_INET6)
        return -EINVAL;
    if (o->ttl < 0 || o->ttl > 255 || o->proto < 0 || o->proto > 255)
        return -EINVAL;
    if (o->family == AF_INET6 && (o->flags & SN_RAW_HDRINCL))
        return -EINVAL;
    if (o->flags & SN_RAW_NO_OUTGOING)
        return -EINVAL;
    if ((o->flags & SN_RAW_V6CSUM) &&
        (o->family != AF_INET6 || (o->proto != IPPROTO_TCP && o->proto != IPPROTO_UDP)))
        return -EINVAL;
    if (o->bind && o->bind->family != o->family)
        return -EINVAL;
    return 0;
}

/* The options of *o, in the order of the struct. */
static int apply_opts(int fd, const struct sn_raw_opts *o)
{
    int rc = 0;
    int v6 = o->family == AF_INET6;
    if ((o->flags & SN_RAW_HDRINCL) && (rc = setint(fd, IPPROTO_IP, IP_HDRINCL, 1)) < 0)
        return rc;
    if ((o->flags & SN_RAW_TIMESTAMPNS) && (rc = setint(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1)) < 0)
        return rc;
    if ((o->flags & SN_RAW_RECVHOPLIMIT) && v6 &&
        (rc = setint(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)) < 0)
        return rc;
    if (o->flags & SN_RAW_RECVPKTINFO) {
        rc = v6 ? setint(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1) : setint(fd, IPPROTO_IP, IP_PKTINFO, 1);
        if (rc < 0)
            return rc;
    }
    /* RFC 3542 §3.1: IPV6_CHECKSUM is the offset of the checksum field in the
     * upper-layer header (TCP: 16, UDP: 6); the kernel computes and verifies it. */
    if ((o->flags & SN_RAW_V6CSUM) &&
        (rc = setint(fd, IPPROTO_IPV6, IPV6_CHECKSUM, o->proto == IPPROTO_TCP ? 16 : 6)) < 0)
        return rc;
    if (o->ttl && !(o->flags & SN_RAW_HDRINCL) && (rc = sn_raw_set_ttl(fd, o->ttl)) < 0)
        return rc;
    if (o->rcvbuf && (rc = setint(fd, SOL_SOCKET, SO_RCVBUF, o->rcvbuf)) < 0)
        return rc;
    if (o->sndbuf && (rc = setint(fd, SOL_SOCKET, SO_SNDBUF, o->sndbuf)) < 0)
        return rc;
    if (o->device && (rc = sn_raw_bind_device(fd, o->device)) < 0)
        return rc;
    if (o->bind) {
        struct sn_addr a = *o->bind;
        a.port = 0; /* raw sockets have no ports; sin6_port must be 0 or the protocol */
        rc = sn_sock_bind(fd, &a);
    }
    return rc;
}

int sn_raw_open(const struct sn_raw_opts *o)
{
    int rc = check_opts(o);
    if (rc < 0)
        return rc;
    int type = SOCK_RAW | SOCK_CLOEXEC | ((o->flags & SN_RAW_NONBLOCK) ? SOCK_NONBLOCK : 0);
    int fd = socket(o->family, type, o->proto);
    if (fd < 0)
        return -errno;
    if ((rc = apply_opts(fd, o)) < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

int sn_raw_open_icmp(int family, unsigned flags)
{
    struct sn_raw_opts o = {.family = family, .flags = flags | SN_RAW_TIMESTAMPNS};
    if (family == AF_INET) {
        o.proto = IPPROTO_ICMP;
    } else if (family == AF_INET6) {
        o.proto = IPPROTO_ICMPV6;
        o.flags |= SN_RAW_RECVHOPLIMIT;
    } else {
        return -EINVAL;
    }
    return sn_raw_open(&o);
}

int sn_raw_packet_open(const char *ifname, uint16_t ethertype, unsigned flags)
{
    if (!ifname || (flags & ~(SN_RAW_NONBLOCK | SN_RAW_TIMESTAMPNS | SN_RAW_NO_OUTGOING)))
        return -EINVAL;
    int idx = sn_sock_ifindex(ifname);
    if (idx < 0)
        return idx == -EINVAL ? -ENODEV : idx;
    /* Protocol 0 at creation: the socket sees nothing until bind(2) names the
     * interface, so no frame of another interface is ever queued (packet(7)). */
    int type = SOCK_RAW | SOCK_CLOEXEC | ((flags & SN_RAW_NONBLOCK) ? SOCK_NONBLOCK : 0);
    int fd = socket(AF_PACKET, type, 0);
    if (fd < 0)
        return -errno;
    int rc = 0;
    if ((flags & SN_RAW_TIMESTAMPNS) && (rc = setint(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1)) < 0)
        goto fail;
    if ((flags & SN_RAW_NO_OUTGOING) && (rc = setint(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)) < 0)
        goto fail;
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = SN_HOST_BE16(ethertype); /* network order */
    sll.sll_ifindex = idx;
    if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        rc = -errno;
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return rc;
}

/* ---- send ------------------------------------------------------------------- */

/* Control buffer for one int (a TTL / hop limit), aligned for cmsghdr. */
union ttl_ctl {
    struct cmsghdr align;
    unsigned char buf[CMSG_SPACE(sizeof(int))];
};

/* Fill msg's control with an IP_TTL (v4) or IPV6_HOPLIMIT (v6) message. */
static void put_ttl(struct msghdr *m, union ttl_ctl *c, int family, int ttl)
{
    memset(c, 0, sizeof(*c));
    m->msg_control = c->buf;
    m->msg_controllen = sizeof(c->buf);
    struct cmsghdr *cm = CMSG_FIRSTHDR(m);
    cm->cmsg_level = family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
    cm->cmsg_type = family == AF_INET6 ? IPV6_HOPLIMIT : IP_TTL;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &ttl, sizeof(int));
}

/* Prepare one message: name from `to` (may be NULL or AF_UNSPEC), TTL control. */
static int prep_msg(struct msghdr *m, struct iovec *iov, struct sockaddr_storage *ss,
                    union ttl_ctl *ctl, const void *pkt, size_t len, const struct sn_addr *to, int ttl)
{
    if (ttl > 255)
        return -EINVAL;
    memset(m, 0, sizeof(*m));
    iov->iov_base = (void *)(uintptr_t)pkt;
    iov->iov_len = len;
    m->msg_iov = iov;
    m->msg_iovlen = 1;
    if (to && to->family != AF_UNSPEC) {
        int sl = sn_addr_to_sockaddr(to, ss);
        if (sl < 0)
            return sl;
        if (to->family == AF_INET)
            ((struct sockaddr_in *)ss)->sin_port = 0;
        else
            ((struct sockaddr_in6 *)ss)->sin6_port = 0;
        m->msg_name = ss;
        m->msg_namelen = (socklen_t)sl;
        if (ttl >= 0)
            put_ttl(m, ctl, to->family, ttl);
    }
    return 0;
}

ssize_t sn_raw_send(int fd, const void *pkt, size_t len, const struct sn_addr *to, int ttl)
{
    struct msghdr m;
    struct iovec iov;
    struct sockaddr_storage ss;
    union ttl_ctl ctl;
    int rc = prep_msg(&m, &iov, &ss, &ctl, pkt, len, to, ttl);
    if (rc < 0)
        return rc;
    ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);
    return n < 0 ? -errno : n;
}

#define RAW_BATCH 64

int sn_raw_send_many(int fd, const struct sn_raw_pkt *pkts, unsigned n, int flags)
{
    struct mmsghdr mm[RAW_BATCH];
    struct iovec iov[RAW_BATCH];
    struct sockaddr_storage ss[RAW_BATCH];
    union ttl_ctl ctl[RAW_BATCH];
    unsigned done = 0;
    while (done < n) {
        unsigned k = SN_MIN(n - done, RAW_BATCH);
        for (unsigned i = 0; i < k; i++) {
            const struct sn_raw_pkt *p = &pkts[done + i];
            int rc = prep_msg(&mm[i].msg_hdr, &iov[i], &ss[i], &ctl[i], p->data, p->len, &p->to, p->ttl);
            if (rc < 0) {
                if (done + i == 0)
                    return rc;
                k = i; /* send what came before the bad one */
                break;
            }
            mm[i].msg_len = 0;
        }
        if (k == 0)
            break;
        int r = sendmmsg(fd, mm, k, flags | MSG_NOSIGNAL);
        if (r < 0) {
            if (done == 0)
                return -errno;
            break;
        }
        done += (unsigned)r;
        if ((unsigned)r < k)
            break;
    }
    return (int)done;
}

/* ---- receive ---------------------------------------------------------------- */

static void rx_cmsgs(struct msghdr *m, struct sn_raw_rx *rx)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        const unsigned char *d = CMSG_DATA(c);
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS &&
            c->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
            struct timespec ts;
            memcpy(&ts, d, sizeof(ts));
            rx->ts_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT &&
                   c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int h;
            memcpy(&h, d, sizeof(h));
            rx->hop_limit = h;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
                   c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
            struct in6_pktinfo pi;
            memcpy(&pi, d, sizeof(pi));
            memcpy(rx->dst, &pi.ipi6_addr, 16);
            rx->ifindex = pi.ipi6_ifindex;
        } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
                   c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
            struct in_pktinfo pi;
            memcpy(&pi, d, sizeof(pi));
            memcpy(rx->dst, &pi.ipi_addr, 4); /* the header's destination */
            rx->ifindex = (uint32_t)pi.ipi_ifindex;
        }
    }
}

ssize_t sn_raw_recv(int fd, void *buf, size_t cap, struct sn_raw_rx *rx, int flags)
{
    struct sn_raw_rx tmp;
    if (!rx)
        rx = &tmp;
    union {
        struct cmsghdr align;
        unsigned char buf[256];
    } ctl;
    struct sockaddr_storage ss;
    struct iovec iov = {.iov_base = buf, .iov_len = cap};
    struct msghdr m = {.msg_name = &ss, .msg_namelen = sizeof(ss), .msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
    memset(&ss, 0, sizeof(ss));
    /* MSG_TRUNC: raw and packet sockets then return the real length (raw(7), packet(7)). */
    ssize_t n = recvmsg(fd, &m, flags | MSG_TRUNC);
    if (n < 0)
        return -errno;
    memset(rx, 0, sizeof(*rx));
    rx->hop_limit = -1;
    rx->wire_len = (size_t)n;
    rx->len = SN_MIN((size_t)n, cap);
    if (ss.ss_family == AF_PACKET) {
        const struct sockaddr_ll *sll = (const struct sockaddr_ll *)&ss;
        rx->ethertype = sn_load_be16(&sll->sll_protocol);
        rx->pkttype = sll->sll_pkttype;
        rx->halen = SN_MIN(sll->sll_halen, (uint8_t)sizeof(rx->lladdr));
        memcpy(rx->lladdr, sll->sll_addr, rx->halen);
        rx->ifindex = (uint32_t)sll->sll_ifindex;
    } else if (m.msg_namelen && sn_addr_from_sockaddr((struct sockaddr *)&ss, m.msg_namelen, &rx->from) == 0) {
        rx->from.port = 0;
    }
    rx_cmsgs(&m, rx);
    /* IPv4 raw sockets deliver the header: the TTL is byte 8 (RFC 791 §3.1). */
    if (rx->from.family == AF_INET && rx->hop_limit < 0 && rx->len >= 20 &&
        (((const uint8_t *)buf)[0] >> 4) == 4)
        rx->hop_limit = ((const uint8_t *)buf)[8];
    return (ssize_t)rx->len;
}

/* ---- routes ----------------------------------------------------------------- */

int sn_raw_route_src(const struct sn_addr *dst, const char *device, struct sn_addr *out)
{
    if (!dst || (dst->family != AF_INET && dst->family != AF_INET6))
        return -EINVAL;
    int fd = socket(dst->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = 0;
    struct sn_addr to = *dst, me;
    if (!to.port)
        to.port = 9; /* a UDP connect only picks a route; no datagram is sent */
    if (device && *device && (rc = sn_raw_bind_device(fd, device)) < 0)
        goto out;
    if ((rc = sn_sock_connect(fd, &to)) < 0)
        goto out;
    if ((rc = sn_sock_local_addr(fd, &me)) < 0)
        goto out;
    me.port = 0;
    *out = me;
out:
    close(fd);
    return rc;
}
