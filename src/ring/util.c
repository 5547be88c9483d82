/* util.c — the ring module's helpers: the AF_PACKET socket set-up both rings share
 * (ring_int.h), 802.1Q tag re-insertion for frames whose tag the kernel stripped,
 * the pcap link type of a ring, and the one-line hints a tool prints next to an
 * error.
 */
#include "ring_int.h"

#include <sysnet/sock.h>
#include <sysnet/wire.h>

#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef ARPHRD_RAWIP
#define ARPHRD_RAWIP 519
#endif

/* ---- socket set-up shared by rx.c and tx.c ---------------------------------- */

int ring_setsock(int fd, int level, int name, const void *v, socklen_t len)
{
    return setsockopt(fd, level, name, v, len) < 0 ? -errno : 0;
}

int ring_if_ioctl(int fd, const char *ifname, unsigned long req, struct ifreq *ifr)
{
    memset(ifr, 0, sizeof(*ifr));
    strncpy(ifr->ifr_name, ifname, IFNAMSIZ - 1);
    return ioctl(fd, req, ifr) < 0 ? -errno : 0;
}

int ring_socket(const char *ifname, int *ifindex, uint16_t *hatype)
{
    struct ifreq ifr;
    int idx = sn_sock_ifindex(ifname);
    if (idx < 0)
        return idx;
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = ring_if_ioctl(fd, ifname, SIOCGIFHWADDR, &ifr);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *ifindex = idx;
    *hatype = ifr.ifr_hwaddr.sa_family;
    return fd;
}

int ring_map_bind(int fd, size_t len, int ifindex, uint16_t proto, uint8_t **map)
{
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return -errno;
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = proto;
    sll.sll_ifindex = ifindex;
    if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        int rc = -errno;
        munmap(m, len);
        return rc;
    }
    *map = m;
    return 0;
}

/* ---- frames, link types, hints ---------------------------------------------- */

/* The kernel moves a received 802.1Q/802.1ad tag out of the frame into skb
 * metadata before packet sockets see it (__netif_receive_skb_core() calls
 * skb_vlan_untag() before the ptype_all taps), and TPACKET_V3 reports it in
 * tp_vlan_tci/tp_vlan_tpid. libpcap (pcap-linux.c, "VLAN_TAG_LEN") puts it back
 * after the destination and source MAC addresses; so do we. */
int sn_ring_vlan_rebuild(const struct sn_ring_pkt *pkt, uint8_t *out, size_t cap, uint32_t *wirelen)
{
    const size_t macs = 12; /* 2 * ETH_ALEN */
    if (!pkt || (!out && cap))
        return -EINVAL;
    if (!pkt->vlan_valid || pkt->caplen < macs) {
        if (cap < pkt->caplen)
            return -ENOSPC;
        if (pkt->caplen)
            memcpy(out, pkt->data, pkt->caplen);
        if (wirelen)
            *wirelen = pkt->wirelen;
        return (int)pkt->caplen;
    }
    if (cap < (size_t)pkt->caplen + 4)
        return -ENOSPC;
    memcpy(out, pkt->data, macs);
    sn_store_be16(out + macs, pkt->vlan_tpid ? pkt->vlan_tpid : 0x8100);
    sn_store_be16(out + macs + 2, pkt->vlan_tci);
    memcpy(out + macs + 4, pkt->data + macs, pkt->caplen - macs);
    if (wirelen)
        *wirelen = pkt->wirelen + 4;
    return (int)pkt->caplen + 4;
}

static int linktype_of_hatype(unsigned hatype)
{
    switch (hatype) {
    case ARPHRD_ETHER:
    case ARPHRD_LOOPBACK:            /* lo has a 14-byte Ethernet header of zeros */
        return SN_LINKTYPE_ETHERNET;
    case ARPHRD_NONE:                /* tun, wireguard: the frame starts with the IP header */
    case ARPHRD_RAWIP:
    case ARPHRD_TUNNEL:
    case ARPHRD_TUNNEL6:
    case ARPHRD_SIT:
        return SN_LINKTYPE_RAW;
    default:
        return -EPROTONOSUPPORT;
    }
}

int sn_ring_linktype(const struct sn_ring *r)
{
    if (!r || !r->map)
        return -EBADF;
    return linktype_of_hatype(r->hatype);
}

int sn_ring_linktype_of(const char *ifname)
{
    struct ifreq ifr;
    if (!ifname)
        return -EINVAL;
    size_t n = strnlen(ifname, IFNAMSIZ);
    if (n == 0 || n >= IFNAMSIZ)
        return -EINVAL;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); /* any socket answers; no privilege */
    if (fd < 0)
        return -errno;
    int rc = ring_if_ioctl(fd, ifname, SIOCGIFHWADDR, &ifr);
    close(fd);
    return rc < 0 ? rc : linktype_of_hatype(ifr.ifr_hwaddr.sa_family);
}

const char *sn_ring_hint(int err)
{
    switch (err < 0 ? -err : err) {
    case EPERM:
    case EACCES:
        return "capturing needs CAP_NET_RAW: run as root or "
               "`setcap cap_net_raw+ep build/sysnet`";
    case ENODEV:
        return "no such interface: `ip link` lists them (names are per network namespace)";
    case ENETDOWN:
        return "the interface is down: `ip link set dev IFNAME up`";
    case ENOMEM:
        return "the kernel could not allocate the ring: use fewer or smaller blocks";
    case EAFNOSUPPORT:
        return "this kernel has no AF_PACKET sockets (CONFIG_PACKET)";
    case EINVAL:
        return "invalid options: block size must be a multiple of the page size, frame size "
               "a multiple of 16 no larger than a block; or the kernel refused the filter";
    default:
        return NULL;
    }
}
