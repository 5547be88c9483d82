/* sysnet/sock.h — layer 1, sockets (our socket2): address text (parse and
 * format IPv4, IPv6, MAC), struct sn_addr and its sockaddr conversions, typed
 * TCP/UDP socket open with options, option setters and getters, and batched
 * datagram I/O over sendmmsg/recvmmsg with kernel receive timestamps.
 *
 * Errors: every call returns >= 0 on success or a negative errno (base.h).
 * Text parsers return -EINVAL for malformed text and leave *out untouched.
 * Formatters return the length written (the string is NUL-terminated) or
 * -ENOSPC when cap is too small; then out[0] is set to NUL if cap > 0.
 *
 * No DNS, ever: a host name is refused with -EINVAL ("names are not resolved").
 * IPv6 scope names ("%eth0") are looked up with ioctl(SIOCGIFINDEX/SIOCGIFNAME)
 * on a short-lived socket; that is the only system call the text functions make.
 *
 * Memory: nothing here allocates. Sockets are plain file descriptors owned by
 * the caller, who closes them with close(2). The batch structure is caller
 * memory (about 18 KiB: put it in a static, on the heap, or on a large stack).
 *
 * Privileges: none, except raising SO_BUSY_POLL above net.core.busy_read,
 * which needs CAP_NET_ADMIN (-EPERM otherwise; see SN_SOCK_BUSY_POLL_TRY).
 *
 * Thread rules: all functions are thread-safe; a struct sn_batch is used by
 * one thread at a time.
 */
#ifndef SYSNET_SOCK_H
#define SYSNET_SOCK_H

#if !defined(_GNU_SOURCE)
#error "sysnet/sock.h needs _GNU_SOURCE defined before any include (struct mmsghdr, sendmmsg)"
#endif

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <sysnet/base.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================
 * Address text primitives (used by the packet dissector too)
 * ====================================================================== */

/* Buffer sizes that always suffice, NUL included. */
#define SN_MAC_STRLEN  18 /* "aa:bb:cc:dd:ee:ff" */
#define SN_IPV4_STRLEN 16 /* "255.255.255.255" */
#define SN_IPV6_STRLEN 46 /* "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" */
#define SN_ADDR_STRLEN 72 /* "[" v6 "%" ifname-or-u32 "]:65535" */

/* "aa:bb:cc:dd:ee:ff", lowercase. */
int sn_fmt_mac(const uint8_t mac[6], char *out, size_t cap);
/* Dotted quad, decimal without leading zeros. */
int sn_fmt_ipv4(const uint8_t a[4], char *out, size_t cap);
/* RFC 5952 §4: lowercase hex without leading zeros, the longest run of two or
 * more zero groups written "::" (the first one on a tie). Like glibc's
 * inet_ntop, byte for byte: an IPv4-mapped (::ffff:a.b.c.d) or IPv4-compatible
 * (::a.b.c.d, first 96 bits zero and the address not :: or ::x) address gets
 * a dotted tail. */
int sn_fmt_ipv6(const uint8_t a[16], char *out, size_t cap);

/* Parsers of exactly s[0..len) (no NUL needed; an embedded NUL is malformed).
 * Strict, the same language as glibc's inet_pton:
 *   IPv4: four decimal parts 0..255 separated by '.', no leading zeros ("01"
 *         would be octal elsewhere), no sign, no spaces, no shorthand ("1.2.3").
 *   IPv6: RFC 4291 §2.2: eight groups of 1-4 hex digits (either case), at most
 *         one "::" standing for one or more zero groups, an optional dotted-quad
 *         tail in place of the last two groups. No zone ("%eth0"): see sn_addr.
 *   MAC:  six groups of exactly two hex digits separated by ':' or by '-' (the
 *         same separator throughout).
 * 0 on success, -EINVAL on malformed text (out is not written then). */
int sn_parse_ipv4(const char *s, size_t len, uint8_t out[4]);
int sn_parse_ipv6(const char *s, size_t len, uint8_t out[16]);
int sn_parse_mac(const char *s, size_t len, uint8_t out[6]);

/* Interface name -> index by ioctl(SIOCGIFINDEX): the index (> 0), -ENODEV for
 * no such interface, -EINVAL for a name that cannot be one (empty, >= 16 bytes). */
int sn_sock_ifindex(const char *name);
/* Interface index -> name by ioctl(SIOCGIFNAME): the length written, -ENODEV
 * for no such interface, -ENOSPC if cap is too small (IFNAMSIZ always suffices). */
int sn_sock_ifname(uint32_t index, char *out, size_t cap);

/* ======================================================================
 * struct sn_addr: an IPv4 or IPv6 socket address
 * ====================================================================== */
struct sn_addr {
    uint16_t family;   /* AF_INET or AF_INET6; AF_UNSPEC (0) for "no address" */
    uint16_t port;     /* port, host byte order; 0 = any / unspecified */
    uint32_t scope_id; /* IPv6 zone: interface index (sin6_scope_id), 0 = none; 0 for IPv4 */
    uint32_t flowinfo; /* IPv6 sin6_flowinfo, host byte order; 0 for IPv4 and from text */
    uint8_t ip[16];    /* address, network byte order: IPv4 in ip[0..3] (rest zero), IPv6 all 16 */
};

/* Fill an address (every byte of *a is written, so memcmp compares). */
void sn_addr_ipv4(struct sn_addr *a, const uint8_t ip[4], uint16_t port);
void sn_addr_ipv6(struct sn_addr *a, const uint8_t ip[16], uint16_t port, uint32_t scope_id);
/* 127.0.0.1 or ::1, or the wildcard 0.0.0.0 or ::, with a port. -EAFNOSUPPORT
 * for a family other than AF_INET/AF_INET6 (*a is not written then). */
int sn_addr_loopback(struct sn_addr *a, int family, uint16_t port);
int sn_addr_any(struct sn_addr *a, int family, uint16_t port);
/* 1 if equal (family, ip, port, scope, flowinfo), else 0. */
int sn_addr_eq(const struct sn_addr *a, const struct sn_addr *b);
/* 1 for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104, else 0. */
int sn_addr_is_loopback(const struct sn_addr *a);

/* Parse the text of a socket address:
 *   "198.18.0.1:80"  "198.18.0.1" (port 0)
 *   "[2001:2::1]:80" "[2001:2::1]" "2001:2::1" (bare: no port)
 *   "[fe80::1%veth0]:80" "[fe80::1%3]:80" "fe80::1%lo" (zone: interface name or index)
 * Ports are 1-5 decimal digits, at most 65535. Host names are refused (-EINVAL),
 * an unknown interface name is -ENODEV; everything malformed is -EINVAL. On
 * failure *out is untouched. The _len form parses text[0..len) (no NUL needed)
 * and, when why != NULL, sets *why to a static one-line reason a tool can print
 * ("names are not resolved; give a numeric address") on failure, NULL on success. */
int sn_addr_parse(const char *text, struct sn_addr *out);
int sn_addr_parse_len(const char *text, size_t len, struct sn_addr *out, const char **why);

/* The canonical text form: "1.2.3.4:80", "[2001:2::1]:80", "[fe80::1%lo]:80";
 * with port 0 the port is left out ("1.2.3.4", "2001:2::1", "fe80::1%lo").
 * The zone is written as the interface name when it resolves (and could not
 * be mistaken for a number), else as the index. Parsing the result gives
 * back the same address (flowinfo aside, which text does not carry).
 * Returns the length or -ENOSPC (SN_ADDR_STRLEN always suffices), -EAFNOSUPPORT
 * for a family other than AF_INET/AF_INET6. */
int sn_addr_fmt(const struct sn_addr *a, char *out, size_t cap);

/* To a sockaddr_in / sockaddr_in6 in *ss (zeroed first): returns its length
 * (sizeof(struct sockaddr_in) or sizeof(struct sockaddr_in6)), or -EAFNOSUPPORT. */
int sn_addr_to_sockaddr(const struct sn_addr *a, struct sockaddr_storage *ss);
/* The length sn_addr_to_sockaddr() would return. */
int sn_addr_socklen(const struct sn_addr *a);
/* From a sockaddr of len bytes (sockaddr_in, sockaddr_in6 or a storage holding
 * one): 0, -EAFNOSUPPORT for another family, -EINVAL if len is too short. */
int sn_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct sn_addr *out);

/* ======================================================================
 * Sockets: typed open, connect, accept
 * ====================================================================== */

/* Flags for struct sn_sock_opts. SOCK_CLOEXEC is always set. */
#define SN_SOCK_NONBLOCK       0x001u /* O_NONBLOCK (SOCK_NONBLOCK at creation) */
#define SN_SOCK_REUSEADDR      0x002u /* SO_REUSEADDR */
#define SN_SOCK_REUSEPORT      0x004u /* SO_REUSEPORT (load-balance across sockets on one port) */
#define SN_SOCK_NODELAY        0x008u /* TCP_NODELAY (TCP only: -ENOPROTOOPT on UDP, from the kernel) */
#define SN_SOCK_TIMESTAMPNS    0x010u /* SO_TIMESTAMPNS: kernel receive time on each datagram */
#define SN_SOCK_V6ONLY         0x020u /* IPV6_V6ONLY = 1: an AF_INET6 socket only talks IPv6 */
#define SN_SOCK_DUALSTACK      0x040u /* IPV6_V6ONLY = 0 whatever net.ipv6.bindv6only says */
#define SN_SOCK_BUSY_POLL_TRY  0x080u /* SO_BUSY_POLL is best effort: -EPERM/-ENOPROTOOPT ignored */

struct sn_sock_opts {
    int family;                    /* AF_INET / AF_INET6; 0 = the family of bind, else of connect */
    int type;                      /* SOCK_STREAM (TCP) or SOCK_DGRAM (UDP) */
    unsigned flags;                /* SN_SOCK_* above */
    int rcvbuf;                    /* SO_RCVBUF in bytes (the kernel doubles it); 0 = default */
    int sndbuf;                    /* SO_SNDBUF in bytes (the kernel doubles it); 0 = default */
    int busy_poll_us;              /* SO_BUSY_POLL in microseconds; 0 = leave off */
    const struct sn_addr *bind;    /* bind to this address (port 0 = any); NULL = no bind */
    int backlog;                   /* > 0: listen(backlog) after bind (SOCK_STREAM only); 0 = no */
    const struct sn_addr *connect; /* connect to this address after bind; NULL = no connect */
};

/* Open a socket as *o says: socket(SOCK_CLOEXEC [| SOCK_NONBLOCK]), the options
 * in the order they appear above, bind, listen, connect. Returns the fd (owned
 * by the caller, close(2) it) or -errno; on failure nothing is left open.
 * -EINVAL for an impossible request (no family to be found, a bind/connect
 * address of another family, V6ONLY with DUALSTACK, a backlog on UDP, a type
 * other than stream/dgram). With SN_SOCK_NONBLOCK a TCP connect may still be
 * in progress when the fd is returned: finish it with sn_sock_connect_finish(). */
int sn_sock_open(const struct sn_sock_opts *o);

/* bind(2) / connect(2) to an sn_addr. Connect returns 0 when connected,
 * -EINPROGRESS for a non-blocking TCP socket still connecting (also for a
 * blocking connect interrupted by a signal: it goes on in the background),
 * else -errno. */
int sn_sock_bind(int fd, const struct sn_addr *a);
int sn_sock_connect(int fd, const struct sn_addr *to);
/* Finish a non-blocking connect: wait up to timeout_ms (0 = just look, -1 =
 * no limit) for the socket to become writable, then read SO_ERROR. 0 when
 * connected, -EINPROGRESS if still connecting, else the connect's error
 * (-ECONNREFUSED, -ETIMEDOUT, ...; -ENOTCONN if the socket was never
 * connecting or its error was read already). */
int sn_sock_connect_finish(int fd, int timeout_ms);
/* accept4(2): the new fd (CLOEXEC, plus O_NONBLOCK if flags has SN_SOCK_NONBLOCK),
 * the peer's address in *peer if not NULL. -EAGAIN when nothing is pending on a
 * non-blocking listener. */
int sn_sock_accept(int fd, struct sn_addr *peer, unsigned flags);

/* getsockname / getpeername into an sn_addr (-ENOTCONN for an unconnected peer). */
int sn_sock_local_addr(int fd, struct sn_addr *out);
int sn_sock_peer_addr(int fd, struct sn_addr *out);

/* ---- options -------------------------------------------------------------
 * Setters return 0 or -errno (as the kernel reports it). Getters return the
 * value (>= 0) or -errno. Buffer sizes read back as the kernel keeps them:
 * twice what was set, clamped to net.core.{r,w}mem_max. */
int sn_sock_setopt_int(int fd, int level, int name, int val);
/* An int option's value; a negative value reads as -EOVERFLOW. */
int sn_sock_getopt_int(int fd, int level, int name);

int sn_sock_set_nonblock(int fd, int on); /* fcntl O_NONBLOCK */
int sn_sock_get_nonblock(int fd);
int sn_sock_set_nodelay(int fd, int on);
int sn_sock_get_nodelay(int fd);
int sn_sock_set_reuseaddr(int fd, int on);
int sn_sock_get_reuseaddr(int fd);
int sn_sock_set_reuseport(int fd, int on);
int sn_sock_get_reuseport(int fd);
int sn_sock_set_rcvbuf(int fd, int bytes);
int sn_sock_get_rcvbuf(int fd);
int sn_sock_set_sndbuf(int fd, int bytes);
int sn_sock_get_sndbuf(int fd);
int sn_sock_set_busy_poll(int fd, int usec); /* -EPERM above net.core.busy_read without CAP_NET_ADMIN */
int sn_sock_get_busy_poll(int fd);
int sn_sock_set_timestampns(int fd, int on);
int sn_sock_get_timestampns(int fd);
int sn_sock_set_v6only(int fd, int on);
int sn_sock_get_v6only(int fd);
/* SO_ERROR: 0 or the pending error as -errno (reading it clears it). The
 * return is -errno too if getsockopt itself fails (-EBADF, -ENOTSOCK). */
int sn_sock_error(int fd);

/* ======================================================================
 * Batched datagrams: sendmmsg / recvmmsg
 * ======================================================================
 * One struct sn_batch holds up to SN_BATCH_MAX messages, each with one data
 * buffer (caller memory), an address and a control buffer; one system call
 * sends or receives them all. Nothing allocates on these paths.
 *
 *   send:  sn_batch_init(b); sn_batch_add(b, data, len, &to) ...; sn_batch_send(fd, b, 0, 0);
 *   recv:  sn_batch_init(b); sn_batch_recv_bufs(b, mem, 2048, 64);
 *          n = sn_batch_recv(fd, b, MSG_WAITFORONE); then for i < n: sn_batch_len(b, i),
 *          sn_batch_from(b, i, &addr), b->ts_ns[i] (with SO_TIMESTAMPNS on).
 */
#define SN_BATCH_MAX 64
#define SN_BATCH_CTL 64 /* control bytes per message: room for a timestamp and more */

struct sn_batch {
    unsigned n;                                 /* send: messages added; recv: messages received */
    unsigned nbufs;                             /* recv: messages with a buffer (at most this many come) */
    struct mmsghdr msg[SN_BATCH_MAX];           /* the kernel's headers; .msg_len = bytes sent/received */
    struct iovec iov[SN_BATCH_MAX];             /* one data buffer per message (caller memory) */
    struct sockaddr_storage name[SN_BATCH_MAX]; /* send: destination; recv: source */
    uint64_t ts_ns[SN_BATCH_MAX];               /* recv: kernel receive time, ns since the epoch; 0 if none */
    union {
        size_t align;                           /* (cmsghdr alignment, as CMSG_ALIGN assumes) */
        unsigned char buf[SN_BATCH_CTL];        /* recv: ancillary data (SCM_TIMESTAMPNS ...) */
    } ctl[SN_BATCH_MAX];                        /* per-message control buffer */
};

/* Reset to empty (n = nbufs = 0) and wire each msg[i] to its iov, name and ctl. */
void sn_batch_init(struct sn_batch *b);
/* Send side: queue one datagram of len bytes at data (not copied: it must live
 * until the send) for `to` (copied), or for the connected peer when to is NULL.
 * Returns its index, -ENOSPC if the batch is full, -EAFNOSUPPORT for a bad `to`. */
int sn_batch_add(struct sn_batch *b, const void *data, size_t len, const struct sn_addr *to);
/* sendmmsg(2) of messages [first, n) in one call: returns how many went (from
 * first; fewer than asked when the socket buffer fills: call again from
 * first + ret), -EAGAIN if none could go on a non-blocking socket, or -errno.
 * flags: MSG_* (MSG_DONTWAIT ...). */
int sn_batch_send(int fd, struct sn_batch *b, unsigned first, int flags);

/* Receive side: message i receives into buf[0..len). Sets nbufs to i + 1 if larger.
 * -EINVAL for i >= SN_BATCH_MAX. */
int sn_batch_recv_buf(struct sn_batch *b, unsigned i, void *buf, size_t len);
/* Cut mem into count slots of slot bytes and give slot i to message i (count
 * <= SN_BATCH_MAX, else -EINVAL); nbufs = count. */
int sn_batch_recv_bufs(struct sn_batch *b, void *mem, size_t slot, unsigned count);
/* recvmmsg(2) of up to nbufs datagrams in one call; flags MSG_DONTWAIT,
 * MSG_WAITFORONE ... Returns the number received (also in b->n) with lengths,
 * sources and timestamps filled in; -EAGAIN if none was waiting on a non-blocking
 * call; -EINVAL if no buffer was set; else -errno.
 * Beware (recvmmsg(2)): on a blocking socket with flags 0 the call waits until
 * all nbufs datagrams have arrived; pass MSG_WAITFORONE to return as soon as
 * one has, or MSG_DONTWAIT to take only what is queued. */
int sn_batch_recv(int fd, struct sn_batch *b, int flags);

/* Bytes of message i (sent or received). */
static inline size_t sn_batch_len(const struct sn_batch *b, unsigned i) { return b->msg[i].msg_len; }
/* 1 if received message i was longer than its buffer (MSG_TRUNC: the rest is lost). */
static inline int sn_batch_truncated(const struct sn_batch *b, unsigned i)
{
    return (b->msg[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
}
/* The source of received message i: 0, -EAFNOSUPPORT when the kernel gave no
 * IPv4/IPv6 source name, -EINVAL for i >= SN_BATCH_MAX. */
int sn_batch_from(const struct sn_batch *b, unsigned i, struct sn_addr *out);

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_SOCK_H */
