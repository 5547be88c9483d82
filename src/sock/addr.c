/* addr.c — struct sn_addr: socket-address text ("1.2.3.4:80", "[v6%zone]:80"),
 * sockaddr conversions, and interface name <-> index by ioctl. Numeric only:
 * nothing here resolves a name through DNS or /etc/hosts.
 */
#include <sysnet/sock.h>

#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* ---- interfaces ---------------------------------------------------------- */

/* Any socket reaches the device ioctls; AF_UNIX works where IPv4 is missing. */
static int ioctl_sock(void)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

int sn_sock_ifindex(const char *name)
{
    struct ifreq ifr;
    size_t n = strnlen(name, IFNAMSIZ);
    if (n == 0 || n >= IFNAMSIZ)
        return -EINVAL;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, name, n);
    int fd = ioctl_sock();
    if (fd < 0)
        return fd;
    int err = ioctl(fd, SIOCGIFINDEX, &ifr) < 0 ? -errno : ifr.ifr_ifindex;
    close(fd);
    return err;
}

int sn_sock_ifname(uint32_t index, char *out, size_t cap)
{
    struct ifreq ifr;
    if (index == 0 || index > INT32_MAX)
        return -ENODEV;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_ifindex = (int)index;
    int fd = ioctl_sock();
    if (fd < 0)
        return fd;
    int err = ioctl(fd, SIOCGIFNAME, &ifr) < 0 ? -errno : 0;
    close(fd);
    if (err < 0)
        return err;
    size_t n = strnlen(ifr.ifr_name, IFNAMSIZ - 1);
    if (n >= cap) {
        if (cap > 0)
            out[0] = '\0';
        return -ENOSPC;
    }
    memcpy(out, ifr.ifr_name, n);
    out[n] = '\0';
    return (int)n;
}

/* ---- constructors -------------------------------------------------------- */

void sn_addr_ipv4(struct sn_addr *a, const uint8_t ip[4], uint16_t port)
{
    memset(a, 0, sizeof(*a));
    a->family = AF_INET;
    a->port = port;
    memcpy(a->ip, ip, 4);
}

void sn_addr_ipv6(struct sn_addr *a, const uint8_t ip[16], uint16_t port, uint32_t scope_id)
{
    memset(a, 0, sizeof(*a));
    a->family = AF_INET6;
    a->port = port;
    a->scope_id = scope_id;
    memcpy(a->ip, ip, 16);
}

int sn_addr_any(struct sn_addr *a, int family, uint16_t port)
{
    static const uint8_t zero[16];
    if (family == AF_INET)
        sn_addr_ipv4(a, zero, port);
    else if (family == AF_INET6)
        sn_addr_ipv6(a, zero, port, 0);
    else
        return -EAFNOSUPPORT;
    return 0;
}

int sn_addr_loopback(struct sn_addr *a, int family, uint16_t port)
{
    int err = sn_addr_any(a, family, port);
    if (err < 0)
        return err;
    if (family == AF_INET)
        a->ip[0] = 127, a->ip[3] = 1;
    else
        a->ip[15] = 1;
    return 0;
}

int sn_addr_eq(const struct sn_addr *a, const struct sn_addr *b)
{
    return a->family == b->family && a->port == b->port && a->scope_id == b->scope_id &&
           a->flowinfo == b->flowinfo && memcmp(a->ip, b->ip, 16) == 0;
}

int sn_addr_is_loopback(const struct sn_addr *a)
{
    static const uint8_t v6lo[16] = {[15] = 1};
    static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
    if (a->family == AF_INET)
        return a->ip[0] == 127;
    if (a->family == AF_INET6)
        return memcmp(a->ip, v6lo, 16) == 0 ||
               (memcmp(a->ip, mapped, 12) == 0 && a->ip[12] == 127);
    return 0;
}

/* ---- sockaddr ------------------------------------------------------------ */

int sn_addr_socklen(const struct sn_addr *a)
{
    if (a->family == AF_INET)
        return (int)sizeof(struct sockaddr_in);
    if (a->family == AF_INET6)
        return (int)sizeof(struct sockaddr_in6);
    return -EAFNOSUPPORT;
}

int sn_addr_to_sockaddr(const struct sn_addr *a, struct sockaddr_storage *ss)
{
    int len = sn_addr_socklen(a);
    if (len < 0)
        return len;
    memset(ss, 0, sizeof(*ss));
    if (a->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(a->port);
        memcpy(&sin->sin_addr, a->ip, 4);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(a->port);
        sin6->sin6_flowinfo = htonl(a->flowinfo);
        sin6->sin6_scope_id = a->scope_id;
        memcpy(&sin6->sin6_addr, a->ip, 16);
    }
    return len;
}

int sn_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct sn_addr *out)
{
    sa_family_t family;
    if (len < (socklen_t)sizeof(family))
        return -EINVAL;
    memcpy(&family, &sa->sa_family, sizeof(family));
    if (family == AF_INET) {
        struct sockaddr_in sin;
        if (len < (socklen_t)sizeof(sin))
            return -EINVAL;
        memcpy(&sin, sa, sizeof(sin));
        sn_addr_ipv4(out, (const uint8_t *)&sin.sin_addr, ntohs(sin.sin_port));
        return 0;
    }
    if (family == AF_INET6) {
        struct sockaddr_in6 sin6;
        if (len < (socklen_t)sizeof(sin6))
            return -EINVAL;
        memcpy(&sin6, sa, sizeof(sin6));
        sn_addr_ipv6(out, sin6.sin6_addr.s6_addr, ntohs(sin6.sin6_port), sin6.sin6_scope_id);
        out->flowinfo = ntohl(sin6.sin6_flowinfo);
        return 0;
    }
    return -EAFNOSUPPORT;
}

/* ---- text ---------------------------------------------------------------- */

/* The bytes a zone name may hold here: what Linux allows in an interface name
 * (no '/', ':' or white space) minus our own delimiters. */
static int zone_char(char c)
{
    return c > ' ' && c < 0x7f && c != '/' && c != ':' && c != '%' && c != '[' && c != ']';
}

static int all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return len > 0;
}

/* Looks like something a resolver would take: letters, digits, '.', '-', '_'
 * with at least one letter. Only used to give a better reason. */
static int looks_like_name(const char *s, size_t len)
{
    int letter = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            letter = 1;
        else if (!(c >= '0' && c <= '9') && c != '.' && c != '-' && c != '_')
            return 0;
    }
    return letter;
}

static int fail(const char **why, const char *reason, int err)
{
    if (why)
        *why = reason;
    return err;
}

static const char NAME_REASON[] = "names are not resolved; give a numeric address";

/* The zone after '%': an index (decimal, fits 32 bits) or an interface name. */
static int parse_zone(const char *s, size_t len, uint32_t *scope, const char **why)
{
    if (len == 0)
        return fail(why, "empty zone after '%'", -EINVAL);
    if (all_digits(s, len)) {
        uint64_t v = 0;
        for (size_t i = 0; i < len; i++) {
            v = v * 10 + (uint64_t)(s[i] - '0');
            if (v > UINT32_MAX)
                return fail(why, "zone index out of range", -EINVAL);
        }
        *scope = (uint32_t)v;
        return 0;
    }
    char name[IFNAMSIZ];
    if (len >= IFNAMSIZ)
        return fail(why, "interface name too long", -EINVAL);
    for (size_t i = 0; i < len; i++)
        if (!zone_char(s[i]))
            return fail(why, "bad character in the interface name", -EINVAL);
    memcpy(name, s, len);
    name[len] = '\0';
    int idx = sn_sock_ifindex(name);
    if (idx == -ENODEV)
        return fail(why, "no such interface", -ENODEV);
    if (idx < 0)
        return fail(why, "cannot look up the interface", idx);
    *scope = (uint32_t)idx;
    return 0;
}

/* An IPv6 address with an optional "%zone". */
static int parse_v6_zone(const char *s, size_t len, struct sn_addr *a, const char **why)
{
    const char *pct = memchr(s, '%', len);
    size_t alen = pct ? (size_t)(pct - s) : len;
    uint8_t ip[16];
    uint32_t scope = 0;
    if (sn_parse_ipv6(s, alen, ip) < 0) {
        if (looks_like_name(s, alen))
            return fail(why, NAME_REASON, -EINVAL);
        return fail(why, "bad IPv6 address", -EINVAL);
    }
    if (pct) {
        int err = parse_zone(pct + 1, len - alen - 1, &scope, why);
        if (err < 0)
            return err;
    }
    sn_addr_ipv6(a, ip, 0, scope);
    return 0;
}

/* ":PORT" at s[0..len): 1-5 digits, <= 65535, nothing after. */
static int parse_port(const char *s, size_t len, uint16_t *port, const char **why)
{
    if (len == 0)
        return 0; /* no port at all */
    if (s[0] != ':')
        return fail(why, "junk after the address (expected ':port')", -EINVAL);
    s++, len--;
    if (len == 0)
        return fail(why, "empty port after ':'", -EINVAL);
    size_t i = 0;
    uint32_t v = 0;
    while (i < len && i < 6 && s[i] >= '0' && s[i] <= '9')
        v = v * 10 + (uint32_t)(s[i++] - '0');
    if (i == 0)
        return fail(why, "the port is not a number", -EINVAL);
    if (i < len && (s[i] < '0' || s[i] > '9'))
        return fail(why, "junk after the port", -EINVAL);
    if (i < len || v > 65535)
        return fail(why, "port out of range (0-65535)", -EINVAL);
    *port = (uint16_t)v;
    return 0;
}

int sn_addr_parse_len(const char *text, size_t len, struct sn_addr *out, const char **why)
{
    struct sn_addr a;
    uint16_t port = 0;
    int err;

    if (why)
        *why = NULL;
    if (len == 0)
        return fail(why, "empty address", -EINVAL);

    if (text[0] == '[') { /* "[v6%zone]:port" */
        const char *end = memchr(text, ']', len);
        if (!end)
            return fail(why, "missing ']' after an IPv6 address", -EINVAL);
        size_t inner = (size_t)(end - text) - 1;
        if (sn_parse_ipv4(text + 1, inner, a.ip) == 0)
            return fail(why, "brackets are for IPv6 addresses only", -EINVAL);
        if ((err = parse_v6_zone(text + 1, inner, &a, why)) < 0)
            return err;
        if ((err = parse_port(end + 1, len - inner - 2, &port, why)) < 0)
            return err;
    } else {
        const char *c1 = memchr(text, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - text)) : NULL;
        if (c2) { /* two colons or more: a bare IPv6 address, no port */
            if ((err = parse_v6_zone(text, len, &a, why)) < 0)
                return err;
        } else { /* "v4" or "v4:port" */
            size_t hlen = c1 ? (size_t)(c1 - text) : len;
            uint8_t ip[4];
            if (sn_parse_ipv4(text, hlen, ip) < 0) {
                if (looks_like_name(text, hlen))
                    return fail(why, NAME_REASON, -EINVAL);
                if (memchr(text, '%', hlen))
                    return fail(why, "a zone ('%') needs an IPv6 address", -EINVAL);
                return fail(why, "bad IPv4 address", -EINVAL);
            }
            if ((err = parse_port(text + hlen, len - hlen, &port, why)) < 0)
                return err;
            sn_addr_ipv4(&a, ip, 0);
        }
    }
    a.port = port;
    *out = a;
    return 0;
}

int sn_addr_parse(const char *text, struct sn_addr *out)
{
    return sn_addr_parse_len(text, strlen(text), out, NULL);
}

/* Decimal of v into p; returns the length. */
static size_t dec32(uint32_t v, char *p)
{
    char t[10];
    size_t n = 0, k = 0;
    do
        t[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n)
        p[k++] = t[--n];
    return k;
}

/* "%zone": the interface name if it resolves and parses back to the same
 * index (not all digits, only zone characters), else the index. */
static size_t fmt_zone(uint32_t scope, char *p)
{
    char name[IFNAMSIZ];
    int n = sn_sock_ifname(scope, name, sizeof(name));
    p[0] = '%';
    if (n > 0 && !all_digits(name, (size_t)n)) {
        int ok = 1;
        for (int i = 0; i < n; i++)
            ok &= zone_char(name[i]);
        if (ok) {
            memcpy(p + 1, name, (size_t)n);
            return 1 + (size_t)n;
        }
    }
    return 1 + dec32(scope, p + 1);
}

int sn_addr_fmt(const struct sn_addr *a, char *out, size_t cap)
{
    char tmp[SN_ADDR_STRLEN];
    size_t n = 0;
    int bracket = a->family == AF_INET6 && a->port != 0;

    if (a->family != AF_INET && a->family != AF_INET6) {
        if (cap > 0)
            out[0] = '\0';
        return -EAFNOSUPPORT;
    }
    if (bracket)
        tmp[n++] = '[';
    if (a->family == AF_INET)
        n += (size_t)sn_fmt_ipv4(a->ip, tmp + n, sizeof(tmp) - n);
    else
        n += (size_t)sn_fmt_ipv6(a->ip, tmp + n, sizeof(tmp) - n);
    if (a->family == AF_INET6 && a->scope_id)
        n += fmt_zone(a->scope_id, tmp + n);
    if (bracket)
        tmp[n++] = ']';
    if (a->port) {
        tmp[n++] = ':';
        n += dec32(a->port, tmp + n);
    }
    if (n >= cap) {
        if (cap > 0)
            out[0] = '\0';
        return -ENOSPC;
    }
    memcpy(out, tmp, n);
    out[n] = '\0';
    return (int)n;
}
