/* sysnet.c — the `sysnet` command: one binary, one subcommand per tool. */
#include "tool.h"

#include <sysnet/base.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *what;
} cmds[] = {
    {"sniff", cmd_sniff, "read a capture file and print packets (tcpdump/tshark-style)"},
    {"ping", cmd_ping, "ICMP/ICMPv6 echo over raw sockets, RTT statistics like ping"},
    {"trace", cmd_trace, "TTL-limited probes (UDP, ICMP, TCP SYN), per-hop RTTs"},
    {"scan", cmd_scan, "stateless SYN scanner with SipHash cookies (masscan-style)"},
    {"lab", cmd_lab, "the guided demo: craft packets of every kind, write a pcap, dissect it"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: sysnet COMMAND [OPTIONS]   (sysnet COMMAND --help for its options)\n\n"
               "networking built from the syscall up (libsysnet %s)\n\ncommands:\n",
            sn_version());
    for (size_t i = 0; i < SN_COUNTOF(cmds); i++)
        fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].what);
}

int tool_err(const char *sub, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sysnet %s: ", sub);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int tool_usage(const char *sub, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sysnet %s: ", sub);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see sysnet %s --help)\n", sub);
    va_end(ap);
    return 2;
}

int tool_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return -EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("sysnet %s\n", sn_version());
        return 0;
    }
    for (size_t i = 0; i < SN_COUNTOF(cmds); i++)
        if (!strcmp(argv[1], cmds[i].name))
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "sysnet: unknown command '%s' (sysnet --help lists them)\n", argv[1]);
    return 2;
}
