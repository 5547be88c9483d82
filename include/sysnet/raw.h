/* sysnet/raw.h — layer 3, raw I/O: SOCK_RAW sockets for IPv4 (with IP_HDRINCL,
 * where we write the IPv4 header, or per protocol, where the kernel does) and
 * IPv6 (the kernel always writes the IPv6 header), AF_PACKET SOCK_RAW sockets
 * bound to one interface (whole Ethernet frames), batched sends over sendmmsg,
 * receives with the kernel timestamp and the source address, plus the helpers
 * every ping/traceroute/scanner needs: ICMP echo crafting, ICMP message
 * classification (the probe quoted inside an error), the route's source
 * address, iputils-style RTT statistics and ICMP error texts.
 *
 * What the kernel gives a raw socket (raw(7), ipv6(7), packet(7)):
 *   AF_INET,  SOCK_RAW, proto:  receive: the whole IPv4 datagram, header first.
 *                               send: the payload after the IPv4 header (the kernel
 *                               writes the header), or with SN_RAW_HDRINCL the whole
 *                               datagram (the kernel always rewrites the total
 *                               length and the header checksum, and fills the id
 *                               and the source address only when they are zero).
 *   AF_INET6, SOCK_RAW, proto:  receive and send start AFTER the IPv6 header. (Linux
 *                               4.5+ has IPV6_HDRINCL for sending whole datagrams; we
 *                               do not use it — sn_raw_open refuses SN_RAW_HDRINCL on
 *                               IPv6 — so that the kernel keeps choosing the source
 *                               and the flow label.) The source, hop limit and
 *                               destination come as ancillary data.
 *                               For IPPROTO_ICMPV6 the kernel always computes the
 *                               checksum (RFC 3542 §3.1); for others ask for it with
 *                               SN_RAW_V6CSUM (IPV6_CHECKSUM).
 *   AF_PACKET, SOCK_RAW:        receive and send whole link-layer frames (Ethernet
 *                               header first) on the bound interface.
 *
 * Errors: every call returns >= 0 or a negative errno (base.h).
 *
 * Privileges: opening any socket here needs CAP_NET_RAW (in the socket's network
 * namespace). Without it the open returns -EPERM; sn_raw_hint() turns that into a
 * one-line advice a tool can print. SO_BINDTODEVICE needs CAP_NET_RAW as well.
 * Everything that does not open a socket (crafting, parsing, stats) is pure.
 *
 * Memory: nothing here allocates. Sockets are plain fds owned by the caller
 * (sn_raw_close() or close(2)). Buffers are caller memory.
 *
 * Thread rules: every function is thread-safe; struct sn_raw_rtt is used by one
 * thread at a time.
 *
 * Batched receive of IP raw sockets can also use struct sn_batch (sock.h):
 * sn_batch_recv() works on these fds as on UDP ones.
 */
#ifndef SYSNET_RAW_H
#define SYSNET_RAW_H

#if !defined(_GNU_SOURCE)
#error "sysnet/raw.h needs _GNU_SOURCE defined before any include (struct mmsghdr, sendmmsg)"
#endif

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sysnet/base.h>
#include <sysnet/sock.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================
 * Opening
 * ====================================================================== */

/* Flags for struct sn_raw_opts. SOCK_CLOEXEC is always set. */
#define SN_RAW_HDRINCL      0x001u /* AF_INET: IP_HDRINCL, we write the IPv4 header (implied by
                                      proto IPPROTO_RAW); -EINVAL for AF_INET6 */
#define SN_RAW_NONBLOCK     0x002u /* O_NONBLOCK */
#define SN_RAW_TIMESTAMPNS  0x004u /* SO_TIMESTAMPNS: rx->ts_ns on every receive */
#define SN_RAW_RECVHOPLIMIT 0x008u /* AF_INET6: IPV6_RECVHOPLIMIT, rx->hop_limit
                                      (AF_INET reads the TTL from the header it receives anyway) */
#define SN_RAW_RECVPKTINFO  0x010u /* IP_PKTINFO / IPV6_RECVPKTINFO: rx->dst and rx->ifindex */
#define SN_RAW_V6CSUM       0x020u /* AF_INET6 with IPPROTO_TCP or IPPROTO_UDP: IPV6_CHECKSUM at
                                      the protocol's checksum offset (16 / 6), so the kernel fills
                                      the checksum on send and verifies it on receive */
#define SN_RAW_NO_OUTGOING  0x040u /* AF_PACKET: PACKET_IGNORE_OUTGOING, do not see our own sends */

struct sn_raw_opts {
    int family;                 /* AF_INET or AF_INET6 */
    int proto;                  /* IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP,
                                   IPPROTO_RAW (AF_INET only: send-only, header included) ... */
    unsigned flags;             /* SN_RAW_* above */
    int ttl;                    /* IP_TTL / IPV6_UNICAST_HOPS for every send; 0 = kernel default
                                   (1..255; ignored with SN_RAW_HDRINCL, the header carries it) */
    int rcvbuf;                 /* SO_RCVBUF bytes (the kernel doubles it); 0 = default */
    int sndbuf;                 /* SO_SNDBUF bytes; 0 = default */
    const char *device;         /* SO_BINDTODEVICE interface name; NULL = any */
    const struct sn_addr *bind; /* bind(2) to this local address (port ignored); NULL = none */
};

/* Open an IP raw socket as *o says: socket(SOCK_RAW | SOCK_CLOEXEC [| SOCK_NONBLOCK]),
 * then the options in the order of the struct, then bind. Returns the fd or -errno;
 * -EPERM without CAP_NET_RAW; -EINVAL for an impossible request (family not AF_INET/
 * AF_INET6, HDRINCL on IPv6, NO_OUTGOING (AF_PACKET only), V6CSUM on IPv4 or on a
 * protocol other than TCP/UDP,
 * ttl out of 0..255, a bind address of another family). Nothing is left open on failure. */
int sn_raw_open(const struct sn_raw_opts *o);

/* The two common cases in one call: an ICMP (AF_INET) or ICMPv6 (AF_INET6) socket
 * with SN_RAW_TIMESTAMPNS | SN_RAW_RECVHOPLIMIT (v6) and extra `flags` ORed in. */
int sn_raw_open_icmp(int family, unsigned flags);

/* An AF_PACKET SOCK_RAW socket bound to interface `ifname` for ethertype
 * `ethertype` (host order: SN_RAW_ETH_ALL for every protocol, SN_ETHERTYPE_IPV4 ...).
 * flags: SN_RAW_NONBLOCK, SN_RAW_TIMESTAMPNS, SN_RAW_NO_OUTGOING. Returns the fd or
 * -errno (-ENODEV for no such interface, -EPERM without CAP_NET_RAW). */
#define SN_RAW_ETH_ALL 0x0003 /* ETH_P_ALL */
int sn_raw_packet_open(const char *ifname, uint16_t ethertype, unsigned flags);

/* close(2): 0 or -errno. */
int sn_raw_close(int fd);

/* "raw sockets need CAP_NET_RAW: run as root or `setcap cap_net_raw+ep build/sysnet`"
 * for -EPERM / -EACCES (either sign); sn_strerror(err) for anything else. Never NULL. */
const char *sn_raw_hint(int err);

/* ======================================================================
 * Per-socket options (0 or -errno; getters the value or -errno)
 * ====================================================================== */
/* IP_TTL or IPV6_UNICAST_HOPS (by the socket's family), 1..255; for IPv6 also
 * IPV6_MULTICAST_HOPS is left alone. -EINVAL out of range. */
int sn_raw_set_ttl(int fd, int ttl);
int sn_raw_get_ttl(int fd);
/* SO_BINDTODEVICE; NULL or "" unbinds. -ENODEV for an unknown interface. */
int sn_raw_bind_device(int fd, const char *ifname);
/* The socket's family (SO_DOMAIN): AF_INET, AF_INET6, AF_PACKET, or -errno. */
int sn_raw_family(int fd);
/* ICMPv6 type filter (ICMP6_FILTER, RFC 3542 §3.2): pass only the n types listed,
 * block every other (n = 0 with types NULL: pass everything again). AF_INET6
 * IPPROTO_ICMPV6 sockets only. */
int sn_raw_icmp6_filter(int fd, const uint8_t *types, size_t n);
/* Wait up to timeout_ms (-1 = no limit, 0 = just look) for the fd to be readable:
 * 1 readable, 0 timed out, -EINTR when a signal came, or -errno. */
int sn_raw_wait(int fd, int timeout_ms);
/* The same with a nanosecond timeout (ppoll(2); < 0 = no limit). */
int sn_raw_wait_ns(int fd, int64_t timeout_ns);
/* Wait for any of fds[0..n) (1 <= n <= SN_RAW_WAIT_MAX) until the monotonic clock
 * (sn_now_ns()) reaches deadline_ns (UINT64_MAX = no limit; a deadline already
 * past just looks): a loop that sleeps toward one end time calls this as often as
 * it likes. Returns a mask with bit i set when fds[i] is readable (or has an error
 * waiting, which the next receive returns), 0 when the deadline came, -EINTR when
 * a signal came, or -errno (-EINVAL for n out of range). */
#define SN_RAW_WAIT_MAX 16
int sn_raw_wait_until(const int *fds, unsigned n, uint64_t deadline_ns);

/* ======================================================================
 * Sending
 * ====================================================================== */

/* Send one packet of len bytes:
 *   IP sockets: to = the destination (port ignored; family must match the
 *     socket's); ttl = -1 for the socket's TTL, or 1..255 (IPv6: 0..255) for this
 *     packet only (an IP_TTL / IPV6_HOPLIMIT control message; ignored with HDRINCL).
 *   AF_PACKET: to = NULL (the bound interface; the frame carries its addresses),
 *     ttl ignored.
 * Returns the bytes sent or -errno (-EAGAIN on a full non-blocking socket,
 * -EMSGSIZE above the MTU, -EHOSTUNREACH/-ENETUNREACH without a route). */
ssize_t sn_raw_send(int fd, const void *pkt, size_t len, const struct sn_addr *to, int ttl);

/* One packet of a batch. */
struct sn_raw_pkt {
    const void *data;   /* the packet (caller memory) */
    size_t len;         /* its length */
    struct sn_addr to;  /* destination; family AF_UNSPEC for AF_PACKET (bound interface) */
    int ttl;            /* -1 = socket default, else 1..255 for this packet (not with HDRINCL) */
};
/* Send pkts[0..n) with sendmmsg(2), up to 64 per system call, until all went or the
 * kernel takes fewer. Returns how many were sent (from pkts[0]; call again from
 * there to send the rest), or -errno if the first could not go (-EAGAIN ...).
 * flags: MSG_* (MSG_DONTWAIT). Nothing allocates: headers live on the stack. */
int sn_raw_send_many(int fd, const struct sn_raw_pkt *pkts, unsigned n, int flags);

/* ======================================================================
 * Receiving
 * ====================================================================== */
struct sn_raw_rx {
    size_t len;            /* bytes of the packet that are in the buffer */
    size_t wire_len;       /* its length before any truncation (> len: the buffer was short) */
    struct sn_addr from;   /* IP sockets: the source (port 0); AF_PACKET: family AF_UNSPEC */
    uint64_t ts_ns;        /* kernel receive time, ns since the epoch (SO_TIMESTAMPNS); 0 if off */
    int hop_limit;         /* IPv6: IPV6_HOPLIMIT (with SN_RAW_RECVHOPLIMIT); IPv4: the header's
                              TTL; -1 when unknown */
    uint32_t ifindex;      /* arrival interface (PKTINFO, or AF_PACKET sll_ifindex); 0 if unknown */
    uint8_t dst[16];       /* PKTINFO destination address (4 or 16 bytes as the family says) */
    /* AF_PACKET only (sockaddr_ll) */
    uint16_t ethertype;    /* sll_protocol, host order */
    uint8_t pkttype;       /* PACKET_HOST, PACKET_BROADCAST, PACKET_OUTGOING ... */
    uint8_t halen;         /* bytes of lladdr */
    uint8_t lladdr[8];     /* the link-layer source address */
};
/* Receive one packet into buf[0..cap): its metadata in *rx (may be NULL). flags:
 * MSG_DONTWAIT, MSG_PEEK ... Returns rx->len (bytes in buf) or -errno (-EAGAIN when
 * nothing waits on a non-blocking call). IPv4 raw sockets deliver the IPv4 header
 * first; IPv6 ones start at the upper-layer header. */
ssize_t sn_raw_recv(int fd, void *buf, size_t cap, struct sn_raw_rx *rx, int flags);

/* ======================================================================
 * Routes
 * ====================================================================== */
/* The local address the kernel would use to reach dst (optionally out of
 * interface `device`): a UDP socket connect(2)ed to dst, then getsockname(2). No
 * packet leaves. Returns 0 (out->port = 0) or -errno (-ENETUNREACH ...).
 * Needs no privilege (SO_BINDTODEVICE aside). */
int sn_raw_route_src(const struct sn_addr *dst, const char *device, struct sn_addr *out);

/* ======================================================================
 * ICMP echo (RFC 792 / RFC 4443 §4) and ICMP message classification
 * ====================================================================== */

/* Bytes of the echo payload that hold the send timestamp (big-endian u64 ns). */
#define SN_RAW_ECHO_TS_LEN 8

/* Write an ICMP (family AF_INET) or ICMPv6 (AF_INET6) echo request with identifier
 * id, sequence seq and payload_len bytes of data: the first 8 carry ts_ns when
 * payload_len >= 8, the rest is the byte pattern iputils uses (i & 0xff at data
 * offset i). The ICMPv4 checksum is computed; the ICMPv6 one is left 0 for the
 * kernel (raw ICMPv6 sockets always fill it). Returns 8 + payload_len, or -ENOSPC. */
int sn_raw_echo_emit(int family, uint16_t id, uint16_t seq, uint64_t ts_ns, size_t payload_len,
                     uint8_t *p, size_t cap);

/* A received ICMP/ICMPv6 message, classified. For an error, the packet it quotes
 * (RFC 792: IP header + at least 8 bytes; RFC 4443 §2.4: as much as fits) is
 * looked into so a prober can match the error to its probe. */
struct sn_raw_quote {
    uint8_t ok;            /* 1 if the quoted IP header parsed (the fields below are valid) */
    uint8_t proto;         /* its upper-layer protocol (after IPv6 extension headers) */
    uint8_t have_l4;       /* 1 if the first 8 bytes of the upper layer were quoted */
    uint8_t ttl;           /* quoted TTL / hop limit (as it arrived at the reporter) */
    uint16_t ip_id;        /* quoted IPv4 identification (0 for IPv6) */
    uint8_t src[16];       /* quoted source (4 or 16 bytes) */
    uint8_t dst[16];       /* quoted destination: the probe's target */
    uint16_t sport, dport; /* UDP / TCP ports */
    uint32_t tcp_seq;      /* TCP sequence number */
    uint16_t icmp_id;      /* quoted ICMP/ICMPv6 echo identifier */
    uint16_t icmp_seq;     /* quoted echo sequence */
};
/* Kinds of message (the abstraction over ICMPv4/ICMPv6 numbering). */
enum sn_raw_icmp_kind {
    SN_RAW_ICMP_OTHER = 0,    /* anything else (router advertisement, neighbour discovery ...) */
    SN_RAW_ICMP_ECHO_REPLY,   /* type 0 / 129 */
    SN_RAW_ICMP_ECHO_REQUEST, /* type 8 / 128 (loopback shows our own requests) */
    SN_RAW_ICMP_UNREACH,      /* type 3 / 1 */
    SN_RAW_ICMP_TIME_EXCEEDED,/* type 11 / 3 */
    SN_RAW_ICMP_TOO_BIG,      /* IPv6 type 2 (IPv4: unreachable code 4 stays UNREACH, mtu set) */
    SN_RAW_ICMP_PARAM,        /* type 12 / 4 */
};
struct sn_raw_icmp {
    int family;            /* AF_INET or AF_INET6 */
    uint8_t kind;          /* enum sn_raw_icmp_kind */
    uint8_t type, code;    /* as on the wire */
    uint8_t ttl;           /* IPv4: TTL of the received datagram; IPv6: 0 (see sn_raw_rx.hop_limit) */
    uint8_t csum_ok;       /* IPv4: 1 if the ICMP checksum verified; IPv6: 1 (the kernel checks) */
    uint16_t id, seq;      /* echo request/reply identifier and sequence */
    uint32_t mtu;          /* next-hop MTU (v4 unreach code 4, v6 too big), or 0 */
    uint8_t src[16];       /* IPv4: source from the header (IPv6: take sn_raw_rx.from) */
    const uint8_t *data;   /* echo: the payload; errors: the quoted packet (zero copy) */
    size_t data_len;
    struct sn_raw_quote q; /* errors: what the quoted packet says */
};
/* Classify p[0..len) as received on a raw socket of `family`: for AF_INET p starts
 * at the IPv4 header (the protocol must be ICMP), for AF_INET6 at the ICMPv6 header.
 * Returns 0 with *out filled, -EPROTONOSUPPORT if the IPv4 datagram is not ICMP,
 * -ENODATA / -EBADMSG for a truncated or malformed message. Never reads past len. */
int sn_raw_icmp_parse(int family, const uint8_t *p, size_t len, struct sn_raw_icmp *out);

/* 1 when ic answers an echo request of ours (identifier id, sent to dst): an echo
 * reply with that identifier from dst (`from`: the sender, sn_raw_rx.from), or an
 * ICMP error (unreachable, time exceeded, too big, parameter problem) quoting such
 * a request. 0 for anything else. The answered sequence number is ic->seq for a
 * reply, ic->q.icmp_seq for an error. */
int sn_raw_echo_match(const struct sn_raw_icmp *ic, const struct sn_addr *from,
                      const struct sn_addr *dst, uint16_t id);

/* The payload timestamp sn_raw_echo_emit() wrote: 0 with *ts_ns set, -ENODATA if
 * the echo data is shorter than SN_RAW_ECHO_TS_LEN. */
int sn_raw_echo_ts(const struct sn_raw_icmp *ic, uint64_t *ts_ns);

/* What ping(8) of iputils prints for an ICMP error, e.g. "Time to live exceeded",
 * "Destination Host Unreachable", "Destination unreachable: Address unreachable",
 * "Time exceeded: Hop limit", "Packet too big: mtu=1280" (type/code from the wire,
 * mtu for the too-big forms). Writes into out (NUL-terminated), returns the length
 * (truncated like snprintf). */
int sn_raw_icmp_text(int family, uint8_t type, uint8_t code, uint32_t mtu, char *out, size_t cap);

/* What traceroute(8) appends after an RTT for an unreachable: "!H" host, "!N" net,
 * "!P" protocol, "!X" administratively prohibited, "!F" fragmentation needed,
 * "!S" source route failed, "!<code>" other codes; "" for a port unreachable
 * (the normal end of a UDP trace) and for non-errors. Static string. */
const char *sn_raw_icmp_trace_flag(int family, uint8_t type, uint8_t code);

/* ======================================================================
 * Round-trip statistics, computed as iputils ping does (integer microseconds):
 *   avg = sum / n,  mdev = isqrt((sum2 - sum*sum/n) / n)   (sqrt(mean(x^2) - mean(x)^2))
 * ====================================================================== */
struct sn_raw_rtt {
    uint64_t n;        /* samples */
    int64_t min_us;    /* smallest (valid when n > 0) */
    int64_t max_us;    /* largest */
    int64_t sum_us;    /* sum of samples */
    int64_t sum2_us;   /* sum of squares (us^2) */
};
void sn_raw_rtt_init(struct sn_raw_rtt *s);
/* Add one sample (negative ones, from a clock step, count as 0 like iputils). */
void sn_raw_rtt_add(struct sn_raw_rtt *s, int64_t rtt_us);
/* avg and mdev in microseconds (0 for n == 0). */
int64_t sn_raw_rtt_avg(const struct sn_raw_rtt *s);
int64_t sn_raw_rtt_mdev(const struct sn_raw_rtt *s);

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_RAW_H */
