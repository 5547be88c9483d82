/* sock.c — typed socket open (TCP/UDP over IPv4/IPv6) with its options, bind,
 * listen, connect (blocking or not), accept, and the option setters/getters.
 * Every failure is returned as -errno; sn_sock_open never leaves an fd behind.
 */
#include <sysnet/sock.h>

#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

/* ---- options ------------------------------------------------------------- */

int sn_sock_setopt_int(int fd, int level, int name, int val)
{
    return setsockopt(fd, level, name, &val, sizeof(val)) < 0 ? -errno : 0;
}

int sn_sock_getopt_int(int fd, int level, int name)
{
    int val = 0;
    socklen_t len = sizeof(val);
    if (getsockopt(fd, level, name, &val, &len) < 0)
        return -errno;
    return val < 0 ? -EOVERFLOW : val;
}

int sn_sock_set_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    int nfl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
    if (nfl != fl && fcntl(fd, F_SETFL, nfl) < 0)
        return -errno;
    return 0;
}

int sn_sock_get_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -errno : (fl & O_NONBLOCK) != 0;
}

/* Booleans read back as 0/1 whatever non-zero value the kernel keeps. */
static int getbool(int fd, int level, int name)
{
    int v = sn_sock_getopt_int(fd, level, name);
    return v < 0 ? v : v != 0;
}

int sn_sock_set_nodelay(int fd, int on) { return sn_sock_setopt_int(fd, IPPROTO_TCP, TCP_NODELAY, !!on); }
int sn_sock_get_nodelay(int fd) { return getbool(fd, IPPROTO_TCP, TCP_NODELAY); }
int sn_sock_set_reuseaddr(int fd, int on) { return sn_sock_setopt_int(fd, SOL_SOCKET, SO_REUSEADDR, !!on); }
int sn_sock_get_reuseaddr(int fd) { return getbool(fd, SOL_SOCKET, SO_REUSEADDR); }
int sn_sock_set_reuseport(int fd, int on) { return sn_sock_setopt_int(fd, SOL_SOCKET, SO_REUSEPORT, !!on); }
int sn_sock_get_reuseport(int fd) { return getbool(fd, SOL_SOCKET, SO_REUSEPORT); }
int sn_sock_set_rcvbuf(int fd, int bytes) { return sn_sock_setopt_int(fd, SOL_SOCKET, SO_RCVBUF, bytes); }
int sn_sock_get_rcvbuf(int fd) { return sn_sock_getopt_int(fd, SOL_SOCKET, SO_RCVBUF); }
int sn_sock_set_sndbuf(int fd, int bytes) { return sn_sock_setopt_int(fd, SOL_SOCKET, SO_SNDBUF, bytes); }
int sn_sock_get_sndbuf(int fd) { return sn_sock_getopt_int(fd, SOL_SOCKET, SO_SNDBUF); }
int sn_sock_set_busy_poll(int fd, int usec) { return sn_sock_setopt_int(fd, SOL_SOCKET, SO_BUSY_POLL, usec); }
int sn_sock_get_busy_poll(int fd) { return sn_sock_getopt_int(fd, SOL_SOCKET, SO_BUSY_POLL); }
int sn_sock_set_timestampns(int fd, int on)
{
    return sn_sock_setopt_int(fd, SOL_SOCKET, SO_TIMESTAMPNS, !!on);
}
int sn_sock_get_timestampns(int fd) { return getbool(fd, SOL_SOCKET, SO_TIMESTAMPNS); }
int sn_sock_set_v6only(int fd, int on) { return sn_sock_setopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, !!on); }
int sn_sock_get_v6only(int fd) { return getbool(fd, IPPROTO_IPV6, IPV6_V6ONLY); }

int sn_sock_error(int fd)
{
    int v = sn_sock_getopt_int(fd, SOL_SOCKET, SO_ERROR);
    return v > 0 ? -v : v;
}

/* ---- addresses of a socket ----------------------------------------------- */

int sn_sock_local_addr(int fd, struct sn_addr *out)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    return sn_addr_from_sockaddr((struct sockaddr *)&ss, len, out);
}

int sn_sock_peer_addr(int fd, struct sn_addr *out)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    return sn_addr_from_sockaddr((struct sockaddr *)&ss, len, out);
}

/* ---- bind, connect, accept ----------------------------------------------- */

int sn_sock_bind(int fd, const struct sn_addr *a)
{
    struct sockaddr_storage ss;
    int len = sn_addr_to_sockaddr(a, &ss);
    if (len < 0)
        return len;
    return bind(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0 ? -errno : 0;
}

int sn_sock_connect(int fd, const struct sn_addr *to)
{
    struct sockaddr_storage ss;
    int len = sn_addr_to_sockaddr(to, &ss);
    if (len < 0)
        return len;
    /* connect(2) interrupted by a signal goes on in the background, like a
     * non-blocking one: report it as in progress. */
    if (connect(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0)
        return errno == EINTR ? -EINPROGRESS : -errno;
    return 0;
}

int sn_sock_connect_finish(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int n = poll(&p, 1, timeout_ms);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -EINPROGRESS;
    int err = sn_sock_error(fd); /* why it failed, or 0 */
    if (err < 0)
        return err;
    /* SO_ERROR is 0 too for a socket that never connected (or whose error
     * was read already): only a peer name proves the connection. */
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    return getpeername(fd, (struct sockaddr *)&ss, &len) < 0 ? -errno : 0;
}

int sn_sock_accept(int fd, struct sn_addr *peer, unsigned flags)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int fl = SOCK_CLOEXEC | ((flags & SN_SOCK_NONBLOCK) ? SOCK_NONBLOCK : 0);
    int cfd = accept4(fd, (struct sockaddr *)&ss, &len, fl);
    if (cfd < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    if (peer && sn_addr_from_sockaddr((struct sockaddr *)&ss, len, peer) < 0)
        memset(peer, 0, sizeof(*peer));
    return cfd;
}

/* ---- open ---------------------------------------------------------------- */

/* The family to use, or -EINVAL when none can be found or they disagree. */
static int pick_family(const struct sn_sock_opts *o)
{
    int family = o->family;
    if (!family)
        family = o->bind ? o->bind->family : o->connect ? o->connect->family : 0;
    if (family != AF_INET && family != AF_INET6)
        return -EINVAL;
    if ((o->bind && o->bind->family != family) || (o->connect && o->connect->family != family))
        return -EINVAL;
    return family;
}

static int set_options(int fd, int family, const struct sn_sock_opts *o)
{
    unsigned f = o->flags;
    int err = 0;
    if ((f & SN_SOCK_REUSEADDR) && (err = sn_sock_set_reuseaddr(fd, 1)) < 0)
        return err;
    if ((f & SN_SOCK_REUSEPORT) && (err = sn_sock_set_reuseport(fd, 1)) < 0)
        return err;
    if ((f & SN_SOCK_NODELAY) && (err = sn_sock_set_nodelay(fd, 1)) < 0)
        return err;
    if ((f & SN_SOCK_TIMESTAMPNS) && (err = sn_sock_set_timestampns(fd, 1)) < 0)
        return err;
    if (family == AF_INET6 && (f & (SN_SOCK_V6ONLY | SN_SOCK_DUALSTACK)) &&
        (err = sn_sock_set_v6only(fd, (f & SN_SOCK_V6ONLY) != 0)) < 0)
        return err;
    if (o->rcvbuf > 0 && (err = sn_sock_set_rcvbuf(fd, o->rcvbuf)) < 0)
        return err;
    if (o->sndbuf > 0 && (err = sn_sock_set_sndbuf(fd, o->sndbuf)) < 0)
        return err;
    if (o->busy_poll_us > 0 && (err = sn_sock_set_busy_poll(fd, o->busy_poll_us)) < 0) {
        /* Optional on request: a kernel without CONFIG_NET_RX_BUSY_POLL says
         * ENOPROTOOPT, raising above net.core.busy_read unprivileged EPERM. */
        if (!(f & SN_SOCK_BUSY_POLL_TRY) || (err != -EPERM && err != -ENOPROTOOPT))
            return err;
    }
    return 0;
}

int sn_sock_open(const struct sn_sock_opts *o)
{
    int family = pick_family(o);
    int proto, fd, err;

    if (family < 0)
        return family;
    if (o->type == SOCK_STREAM)
        proto = IPPROTO_TCP;
    else if (o->type == SOCK_DGRAM)
        proto = IPPROTO_UDP;
    else
        return -EINVAL;
    if ((o->flags & SN_SOCK_V6ONLY) && (o->flags & SN_SOCK_DUALSTACK))
        return -EINVAL;
    if (o->backlog < 0 || (o->backlog > 0 && o->type != SOCK_STREAM))
        return -EINVAL;

    int type = o->type | SOCK_CLOEXEC | ((o->flags & SN_SOCK_NONBLOCK) ? SOCK_NONBLOCK : 0);
    fd = socket(family, type, proto);
    if (fd < 0)
        return -errno;
    if ((err = set_options(fd, family, o)) < 0)
        goto fail;
    if (o->bind && (err = sn_sock_bind(fd, o->bind)) < 0)
        goto fail;
    if (o->backlog > 0 && listen(fd, o->backlog) < 0) {
        err = -errno;
        goto fail;
    }
    if (o->connect && (err = sn_sock_connect(fd, o->connect)) < 0 && err != -EINPROGRESS)
        goto fail;
    return fd;
fail:
    close(fd);
    return err;
}
