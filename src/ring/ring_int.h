/* ring_int.h — private to src/ring: the AF_PACKET socket set-up that rx.c (the
 * TPACKET_V3 receive ring) and tx.c (the TPACKET_V2 transmit ring) share. Both
 * opens go: ring_socket(), their own options and PACKET_*_RING, ring_map_bind(),
 * their own checks. The code is in util.c. */
#ifndef SN_RING_INT_H
#define SN_RING_INT_H

#include <sysnet/ring.h>

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* setsockopt(2): 0 or -errno. */
int ring_setsock(int fd, int level, int name, const void *v, socklen_t len);

/* ioctl(2) `req` (SIOCGIFHWADDR, SIOCGIFMTU, SIOCGIFFLAGS ...) on interface ifname
 * into *ifr, zeroed first. 0 or -errno. */
int ring_if_ioctl(int fd, const char *ifname, unsigned long req, struct ifreq *ifr);

/* The index of interface ifname in *ifindex (-ENODEV, -EINVAL as sn_sock_ifindex()),
 * then an AF_PACKET SOCK_RAW socket of protocol 0 and the interface's ARPHRD_* type
 * in *hatype. Protocol 0: the socket is hooked to no device until bind, so nothing
 * reaches it before its filter and ring are in place (packet_create() registers a
 * hook at once for a non-zero protocol, on every interface). Returns the fd or
 * -errno (-EPERM without CAP_NET_RAW); nothing stays open on failure. */
int ring_socket(const char *ifname, int *ifindex, uint16_t *hatype);

/* Map the len bytes of fd's ring (PACKET_RX_RING / PACKET_TX_RING set), then bind
 * fd to interface ifindex for protocol `proto` (network order; 0: no receive hook).
 * Returns 0 with *map, or -errno with nothing mapped (fd stays the caller's). */
int ring_map_bind(int fd, size_t len, int ifindex, uint16_t proto, uint8_t **map);

#endif
