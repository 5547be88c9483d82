/* scan.c — `sysnet scan`: a stateless TCP SYN scanner in masscan's style. Flags
 * in, sn_scan_run() (scan.h) does the work, results out: a line per answer as
 * it arrives, a table and a summary at the end, or one JSON object per
 * (address, port). */
#include "tool.h"

#include <sysnet/raw.h>
#include <sysnet/scan.h>
#include <sysnet/sock.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_RATE  1000
#define MAX_RATE      1000000
#define MAX_RETRIES   10
#define MAX_WAIT      300
#define LIMIT         (1ULL << 24) /* probes per round without --force */
#define LIMIT_FORCED  (1ULL << 28) /* with --force: 64 MiB of state */

enum out_mode { OUT_TEXT, OUT_JSON };

struct opts {
    struct sn_scan_targets *t;
    int have_ports, have_src, quiet, all, force;
    enum out_mode mode;
    uint64_t rate, wait_s;
    unsigned retries;
    uint16_t sport;
    uint8_t ttl;
    uint8_t src[4];
    const char *ifname;
};

static volatile sig_atomic_t stop_flag; /* sig_atomic_t is int on Linux: it is the config's volatile int */

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void help(void)
{
    printf("usage: sysnet scan TARGETS... -p PORTS [options]\n"
           "Stateless TCP SYN scan (masscan-style): SYNs in a keyed pseudo-random order at a\n"
           "fixed rate, answers recognised by a SipHash cookie in the sequence number.\n\n"
           "  TARGETS            IPv4 addresses: 198.18.0.1, 198.18.0.0/24, 198.18.0.1-198.18.0.9,\n"
           "                     comma lists; several arguments add up\n"
           "  -p PORTS           TCP ports: 22,80,8000-8100 (required)\n"
           "      --rate PPS     probes per second (default %d, at most %d)\n"
           "      --retries N    re-send unanswered probes N more times (default 0, at most %d)\n"
           "      --wait SECONDS wait for answers after the last probe of each round (default 1)\n"
           "  -S ADDR            source address (default: the route to the first target)\n"
           "  -e IF              send and receive on interface IF only\n"
           "      --source-port N  source port of every probe (default: random 40000-59999)\n"
           "      --ttl N        TTL of the SYNs (default 255)\n"
           "  -T text|json       output: lines and a table (default), or one JSON object per\n"
           "                     (address, port) on stdout (the summary goes to stderr)\n"
           "      --all          text: print closed (as found) and filtered (at the end) too\n"
           "      --force        allow more than 2^24 probes a round (up to 2^28)\n"
           "  -q                 no progress or start lines on stderr\n"
           "  -h, --help         this text\n\n"
           "Results: open = SYN-ACK (answered with an RST), closed = RST, filtered = no answer\n"
           "after every retry and the wait. Needs root or CAP_NET_RAW. The local kernel also\n"
           "resets the SYN-ACKs it sees (it never made those connections); that is harmless.\n"
           "Exit status: 0 scan done, 1 error, 2 bad usage, 130 stopped by a signal.\n",
           DEFAULT_RATE, MAX_RATE, MAX_RETRIES);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    enum { O_RATE = 256, O_RETRIES, O_WAIT, O_SPORT, O_TTL, O_ALL, O_FORCE };
    static const struct option lo[] = {
        {"help", no_argument, NULL, 'h'},        {"rate", required_argument, NULL, O_RATE},
        {"retries", required_argument, NULL, O_RETRIES}, {"wait", required_argument, NULL, O_WAIT},
        {"source-port", required_argument, NULL, O_SPORT}, {"ttl", required_argument, NULL, O_TTL},
        {"all", no_argument, NULL, O_ALL},       {"force", no_argument, NULL, O_FORCE},
        {"ports", required_argument, NULL, 'p'}, {NULL, 0, NULL, 0},
    };
    int c;
    uint64_t v;
    const char *why;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":p:S:e:T:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return 0;
        case 'p':
            if (sn_scan_targets_add_ports(o->t, optarg, strlen(optarg), &why) < 0)
                return tool_usage("scan", "-p '%s': %s", optarg, why);
            o->have_ports = 1;
            break;
        case 'S':
            if (sn_parse_ipv4(optarg, strlen(optarg), o->src) < 0)
                return tool_usage("scan", "-S wants an IPv4 address, not '%s'", optarg);
            o->have_src = 1;
            break;
        case 'e':
            if (sn_sock_ifindex(optarg) < 0)
                return tool_err("scan", "-e %s: no such interface", optarg);
            o->ifname = optarg;
            break;
        case 'T':
            if (!strcmp(optarg, "text"))
                o->mode = OUT_TEXT;
            else if (!strcmp(optarg, "json"))
                o->mode = OUT_JSON;
            else
                return tool_usage("scan", "-T wants text or json, not '%s'", optarg);
            break;
        case 'q': o->quiet = 1; break;
        case O_ALL: o->all = 1; break;
        case O_FORCE: o->force = 1; break;
        case O_RATE:
            if (tool_parse_u64(optarg, 1, MAX_RATE, &v) < 0)
                return tool_usage("scan", "--rate wants packets a second, 1 to %d, not '%s'", MAX_RATE, optarg);
            o->rate = v;
            break;
        case O_RETRIES:
            if (tool_parse_u64(optarg, 0, MAX_RETRIES, &v) < 0)
                return tool_usage("scan", "--retries wants 0 to %d, not '%s'", MAX_RETRIES, optarg);
            o->retries = (unsigned)v;
            break;
        case O_WAIT:
            if (tool_parse_u64(optarg, 0, MAX_WAIT, &v) < 0)
                return tool_usage("scan", "--wait wants whole seconds, 0 to %d, not '%s'", MAX_WAIT, optarg);
            o->wait_s = v;
            break;
        case O_SPORT:
            if (tool_parse_u64(optarg, 1, 65535, &v) < 0)
                return tool_usage("scan", "--source-port wants 1 to 65535, not '%s'", optarg);
            o->sport = (uint16_t)v;
            break;
        case O_TTL:
            if (tool_parse_u64(optarg, 1, 255, &v) < 0)
                return tool_usage("scan", "--ttl wants 1 to 255, not '%s'", optarg);
            o->ttl = (uint8_t)v;
            break;
        case ':': return tool_usage("scan", "option %s needs a value", argv[optind - 1]);
        default:
            if (optopt)
                return tool_usage("scan", "unknown option -%c", optopt);
            return tool_usage("scan", "unknown option '%s'", argv[optind - 1]);
        }
    }
    for (int i = optind; i < argc; i++)
        if (sn_scan_targets_add_addrs(o->t, argv[i], strlen(argv[i]), &why) < 0)
            return tool_usage("scan", "'%s': %s", argv[i], why);
    if (o->t->naddrs == 0)
        return tool_usage("scan", "no targets (addresses, CIDR blocks or ranges)");
    if (!o->have_ports)
        return tool_usage("scan", "no ports: -p PORTS (22,80,8000-8100)");
    uint64_t n = sn_scan_targets_count(o->t);
    if (n > LIMIT_FORCED)
        return tool_usage("scan", "%" PRIu64 " addresses x %u ports = %" PRIu64
                          " probes a round, more than 2^28: narrow the scan", o->t->naddrs, o->t->nports, n);
    if (n > LIMIT && !o->force)
        return tool_usage("scan", "%" PRIu64 " addresses x %u ports = %" PRIu64
                          " probes a round, more than 2^24: add --force to mean it", o->t->naddrs, o->t->nports, n);
    return -1; /* go on */
}

/* ---- output ------------------------------------------------------------- */

struct out {
    const struct opts *o;
    int progress_shown;
};

static void print_result(const struct opts *o, const uint8_t addr[4], uint16_t port, int status,
                         const struct sn_scan_result *r)
{
    char ip[SN_IPV4_STRLEN];
    sn_fmt_ipv4(addr, ip, sizeof(ip));
    const char *name = sn_scan_status_name(status);
    if (o->mode == OUT_JSON) {
        printf("{\"ip\":\"%s\",\"port\":%u,\"proto\":\"tcp\",\"status\":\"%s\"", ip, port, name);
        if (r)
            printf(",\"ttl\":%u,\"window\":%u,\"mss\":%u,\"ts\":%" PRIu64 ".%09" PRIu64, r->ttl,
                   r->window, r->mss, r->ts_ns / 1000000000u, r->ts_ns % 1000000000u);
        printf("}\n");
    } else {
        printf("%s tcp %u %s\n", name, port, ip);
    }
}

static void on_result(void *ctx, const struct sn_scan_result *r)
{
    struct out *out = ctx;
    if (out->o->mode == OUT_JSON || r->status == SN_SCAN_OPEN || out->o->all)
        print_result(out->o, r->addr, r->port, r->status, r);
}

static void on_progress(void *ctx, const struct sn_scan_stats *s)
{
    struct out *out = ctx;
    if (out->o->quiet)
        return;
    double secs = (double)s->elapsed_ns / 1e9;
    double done = s->count ? 100.0 * (double)s->round_pos / (double)s->count : 100.0;
    double tx = (double)s->tx_ns / 1e9;
    char what[48];
    if (s->round_pos >= s->count)
        snprintf(what, sizeof(what), "round %u/%u sent, waiting", s->round + 1, out->o->retries + 1);
    else
        snprintf(what, sizeof(what), "%5.1f%% of round %u/%u", done, s->round + 1, out->o->retries + 1);
    fprintf(stderr, "sysnet scan: %s: %" PRIu64 " sent at %.0f pps, %" PRIu64 " open, %" PRIu64
            " closed, %.1f s\n", what, s->sent, tx > 0 ? (double)s->sent / tx : 0.0, s->open,
            s->closed, secs);
    out->progress_shown = 1;
}

/* "22,80,8000-8100" from a sorted list of ports, into buf (cut with "..."). */
static void port_list(const uint16_t *p, size_t n, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j + 1 < n && p[j + 1] == p[j] + 1)
            j++;
        char item[16];
        int k = j > i ? snprintf(item, sizeof(item), "%s%u-%u", len ? "," : "", p[i], p[j])
                      : snprintf(item, sizeof(item), "%s%u", len ? "," : "", p[i]);
        if (len + (size_t)k + 4 >= cap) {
            memcpy(buf + len, ",...", 5);
            return;
        }
        memcpy(buf + len, item, (size_t)k + 1);
        len += (size_t)k;
        i = j;
    }
}

/* The filtered (address, port) pairs, for --all and -T json, in address order. */
static void print_filtered(const struct opts *o, const uint8_t *states)
{
    const struct sn_scan_targets *t = o->t;
    for (uint64_t ai = 0; ai < t->naddrs; ai++) {
        uint8_t a[4];
        sn_scan_targets_addr_at(t, ai, a);
        for (uint32_t pi = 0; pi < t->nports; pi++) {
            uint16_t port;
            sn_scan_targets_port_at(t, pi, &port);
            if (sn_scan_state_get(states, (uint64_t)pi * t->naddrs + ai) == SN_SCAN_NONE)
                print_result(o, a, port, SN_SCAN_FILTERED, NULL);
        }
    }
}

/* The table of hosts that answered (text mode), and how many did not. */
static void print_table(const struct opts *o, const uint8_t *states, FILE *f, int table)
{
    const struct sn_scan_targets *t = o->t;
    uint16_t *open = malloc(sizeof(uint16_t) * t->nports);
    uint64_t silent = 0, shown = 0;
    for (uint64_t ai = 0; ai < t->naddrs; ai++) {
        uint64_t no = 0, nc = 0, nf = 0;
        for (uint32_t pi = 0; pi < t->nports; pi++) {
            int s = sn_scan_state_get(states, (uint64_t)pi * t->naddrs + ai);
            if (s == SN_SCAN_OPEN && open)
                sn_scan_targets_port_at(t, pi, &open[no]);
            no += s == SN_SCAN_OPEN;
            nc += s == SN_SCAN_CLOSED;
            nf += s == SN_SCAN_NONE;
        }
        if (no + nc == 0) {
            silent++;
            continue;
        }
        if (!table)
            continue;
        if (!shown++)
            fprintf(f, "%-15s %6s %7s %9s  %s\n", "HOST", "OPEN", "CLOSED", "FILTERED", "OPEN PORTS");
        uint8_t a[4];
        char ip[SN_IPV4_STRLEN], list[200];
        sn_scan_targets_addr_at(t, ai, a);
        sn_fmt_ipv4(a, ip, sizeof(ip));
        port_list(open, open ? no : 0, list, sizeof(list));
        fprintf(f, "%-15s %6" PRIu64 " %7" PRIu64 " %9" PRIu64 "  %s\n", ip, no, nc, nf, list);
    }
    if (silent)
        fprintf(f, "%" PRIu64 " host%s sent no answer (every port filtered)\n", silent,
                silent == 1 ? "" : "s");
    free(open);
}

/* What a sendmsg error on a raw socket usually means. */
static const char *send_error(int err)
{
    switch (err) {
    case -EPERM: return "EPERM: a local firewall rule dropped it";
    case -EACCES: return "EACCES: a broadcast address (SO_BROADCAST is not set)";
    case -EHOSTUNREACH: return "EHOSTUNREACH: no neighbour answered ARP";
    case -ENETUNREACH: return "ENETUNREACH: no route";
    default: return sn_strerror(err);
    }
}

static int run(struct opts *o)
{
    uint8_t first[4];
    sn_scan_targets_addr_at(o->t, 0, first);
    if (!o->have_src) {
        struct sn_addr dst, me;
        sn_addr_ipv4(&dst, first, 0);
        int rc = sn_raw_route_src(&dst, o->ifname, &me);
        memcpy(o->src, me.ip, 4);
        if (rc < 0)
            return tool_err("scan", "no source address for %u.%u.%u.%u: %s (give one with -S)",
                            first[0], first[1], first[2], first[3], sn_strerror(rc));
    }
    struct sn_scan_key key, r2;
    int rc = sn_scan_key_random(&key);
    if (rc < 0 || (rc = sn_scan_key_random(&r2)) < 0)
        return tool_err("scan", "getrandom: %s", sn_strerror(rc));
    if (!o->sport)
        o->sport = (uint16_t)(40000 + sn_load_le16(r2.k) % 20000);
    uint64_t n = sn_scan_targets_count(o->t);
    uint8_t *states = calloc(1, sn_scan_states_size(n));
    if (!states)
        return tool_err("scan", "no memory for %" PRIu64 " results", n);

    struct out out = {.o = o};
    struct sn_scan_config c = {
        .targets = o->t, .key = &key, .sport = o->sport, .ttl = o->ttl, .rate = o->rate,
        .retries = o->retries, .wait_ns = o->wait_s * 1000000000ULL, .ifname = o->ifname,
        .states = states, .on_result = on_result, .on_progress = on_progress, .ctx = &out,
        .stop = &stop_flag,
    };
    memcpy(c.src, o->src, 4);
    char src[SN_IPV4_STRLEN];
    sn_fmt_ipv4(o->src, src, sizeof(src));
    if (!o->quiet)
        fprintf(stderr, "sysnet scan: %" PRIu64 " host%s x %u port%s = %" PRIu64 " probes from %s:%u"
                " at %" PRIu64 " pps, %u retr%s, %" PRIu64 " s wait\n", o->t->naddrs,
                o->t->naddrs == 1 ? "" : "s", o->t->nports, o->t->nports == 1 ? "" : "s", n, src,
                o->sport, o->rate, o->retries, o->retries == 1 ? "y" : "ies", o->wait_s);

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    struct sigaction old_int, old_term;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    struct sn_scan_stats st;
    rc = sn_scan_run(&c, &st);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (rc < 0) {
        free(states);
        if (rc == -EPERM || rc == -EACCES)
            return tool_err("scan", "%s", sn_raw_hint(rc));
        return tool_err("scan", "%s", sn_strerror(rc));
    }

    /* Text: the summary follows the results on stdout. JSON: stdout holds only
     * results; the summary goes to stderr (not at all with -q). */
    FILE *sum = o->mode == OUT_JSON ? (o->quiet ? NULL : stderr) : stdout;
    if (o->mode == OUT_JSON || o->all)
        print_filtered(o, states);
    if (sum)
        print_table(o, states, sum, o->mode == OUT_TEXT);
    if (sum) {
        double secs = (double)st.elapsed_ns / 1e9;
        double tx_secs = (double)st.tx_ns / 1e9;
        fprintf(sum, "scanned %" PRIu64 " host%s x %u port%s: %" PRIu64 " open, %" PRIu64 " closed, %" PRIu64
                " filtered%s\n", o->t->naddrs, o->t->naddrs == 1 ? "" : "s", o->t->nports,
                o->t->nports == 1 ? "" : "s", st.open, st.closed, st.filtered,
                st.stopped ? " (stopped early: the rest were not all asked)" : "");
        fprintf(sum, "sent %" PRIu64 " SYNs (%" PRIu64 " retries) and %" PRIu64 " RSTs at %.0f pps; %" PRIu64
                " answers, %" PRIu64 " ignored; %.2f s\n", st.sent, st.retried, st.rsts,
                tx_secs > 0 ? (double)st.sent / tx_secs : (double)st.sent, st.replies, st.ignored, secs);
        if (st.send_errors)
            fprintf(sum, "%" PRIu64 " packets were refused by the kernel (first: %s)\n", st.send_errors,
                    send_error(st.first_send_error));
    }
    free(states);
    return st.stopped ? 130 : 0;
}

int cmd_scan(int argc, char **argv)
{
    struct opts o = {.rate = DEFAULT_RATE, .wait_s = 1, .mode = OUT_TEXT};
    o.t = malloc(sizeof(*o.t));
    if (!o.t)
        return tool_err("scan", "out of memory");
    sn_scan_targets_init(o.t);
    setvbuf(stdout, NULL, _IOLBF, 0); /* results as they come, also into a pipe */
    int rc = parse_args(argc, argv, &o);
    if (rc < 0)
        rc = run(&o);
    free(o.t);
    return rc;
}
