/* probe.c — what `sysnet ping` and `sysnet trace` have in common: the HOST
 * operand, the ICMPv6 types a prober listens to, draining a non-blocking raw
 * socket, and the message for raw sockets that would not open. */
#include "tool.h"

#include <sysnet/raw.h>
#include <sysnet/sock.h>
#include <sysnet/wire.h>

#include <errno.h>
#include <getopt.h>
#include <string.h>

int probe_host(const char *sub, int argc, char **argv, int family, const char *no_port,
               const char **host, struct sn_addr *dst)
{
    if (optind >= argc)
        return tool_usage(sub, "no host: give a numeric address");
    if (optind + 1 < argc)
        return tool_usage(sub, "one host only, not also '%s'", argv[optind + 1]);
    *host = argv[optind];
    const char *why = NULL;
    if (sn_addr_parse_len(*host, strlen(*host), dst, &why) < 0)
        return tool_usage(sub, "'%s': %s", *host, why ? why : "not an address");
    if (dst->port)
        return tool_usage(sub, "'%s': %s", *host, no_port);
    if (family && family != dst->family)
        return tool_usage(sub, "'%s' is not an IPv%d address", *host, family == AF_INET ? 4 : 6);
    return 0;
}

int probe_icmp6_filter(int fd)
{
    static const uint8_t pass[] = {SN_ICMP6_ECHOREPLY, SN_ICMP6_UNREACH, SN_ICMP6_TOOBIG,
                                   SN_ICMP6_TIMXCEED, 4 /* parameter problem */};
    return sn_raw_icmp6_filter(fd, pass, sizeof(pass));
}

void probe_drain(int fd, probe_rx_fn *fn, void *arg)
{
    static uint8_t buf[65536 + 128];
    for (;;) {
        struct sn_raw_rx rx;
        ssize_t n = sn_raw_recv(fd, buf, sizeof(buf), &rx, MSG_DONTWAIT);
        if (n < 0)
            return;
        fn(arg, fd, buf, (size_t)n, &rx);
    }
}

int probe_open_err(const char *sub, const char *ifopt, const char *iface, int err, const char *what)
{
    if (err == -EPERM || err == -EACCES)
        return tool_err(sub, "%s", sn_raw_hint(err));
    if (err == -ENODEV && iface)
        return tool_err(sub, "%s %s: no such interface", ifopt, iface);
    return tool_err(sub, "%s: %s", what, sn_strerror(err));
}
