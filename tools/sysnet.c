/* sysnet.c — the `sysnet` command: one binary, one subcommand per tool; and the
 * helpers of tool.h that every subcommand may use (errors, numbers, signals). */
#include "echo_task.h"
#include "tool.h"

#include <sysnet/base.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *what;
} cmds[] = {
    {"sniff", cmd_sniff, "capture live (ring + kernel BPF) or read a file; tcpdump/tshark-style output"},
    {"ping", cmd_ping, "ICMP/ICMPv6 echo over raw sockets, RTT statistics like ping"},
    {"trace", cmd_trace, "TTL-limited probes (UDP, ICMP, TCP SYN), per-hop RTTs"},
    {"scan", cmd_scan, "stateless SYN scanner with SipHash cookies (masscan-style)"},
    {"echo", cmd_echo, "TCP/UDP echo server: loop callbacks, futures or coroutines (--runtime)"},
    {"serve", cmd_serve, "minimal HTTP/1.1 server (keep-alive, pipelining) for wrk"},
    {"load", cmd_load, "load generator: closed or open loop, latency percentiles"},
    {"chat", cmd_chat, "chat server on the task runtime: a task and an mpsc inbox per client"},
    {"feed", cmd_feed, "SoupBinTCP 3.0 market-data session: serve N messages (ITCH) or log in and print"},
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

int tool_parse_seconds(const char *s, double min, double max, int64_t *ns)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !(v >= min) || v > max)
        return -EINVAL;
    *ns = (int64_t)(v * 1e9 + 0.5);
    return 0;
}

int tool_bad_option(const char *sub, int c, char **argv)
{
    /* optopt is the short option's letter, or a long option's code (>= 256 here,
     * or 0): then the option is best named as it was written. */
    int letter = optopt > ' ' && optopt < 127;
    if (c == ':')
        return letter ? tool_usage(sub, "option -%c needs a value", optopt)
                      : tool_usage(sub, "option '%s' needs a value", argv[optind - 1]);
    if (letter)
        return tool_usage(sub, "unknown option -%c", optopt);
    return tool_usage(sub, "unknown option '%s'", argv[optind - 1]);
}

volatile sig_atomic_t tool_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    tool_stop = 1;
}

void tool_stop_on(int sig, ...)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    va_list ap;
    va_start(ap, sig);
    for (; sig; sig = va_arg(ap, int))
        sigaction(sig, &sa, NULL);
    va_end(ap);
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
