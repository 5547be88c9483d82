/* ping.c — `sysnet ping`: ICMP echo (RFC 792) / ICMPv6 echo (RFC 4443 §4) over raw
 * sockets with iputils ping's flags and output. Requests carry our identifier
 * and the send time; replies are matched by identifier, sequence (duplicates and
 * reordering tolerated) and that time; ICMP errors quoting our requests are
 * printed like ping does. The raw module (raw.h) does the sockets, crafting,
 * parsing and statistics; this file parses flags, paces and prints. */
#include "tool.h"

#include <sysnet/raw.h>
#include <sysnet/sock.h>
#include <sysnet/wire.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NS_PER_S 1000000000ll

struct opts {
    struct sn_addr dst;
    const char *host;
    int family;            /* from -4/-6, 0 = from the address */
    uint64_t count;        /* -c, 0 = until interrupted */
    int64_t interval_ns;   /* -i */
    int64_t wait_ns;       /* -W: how long to wait for replies after the last request */
    size_t size;           /* -s */
    int ttl;               /* -t, 0 = default */
    int quiet;             /* -q */
    const char *iface;     /* -I name */
    struct sn_addr bind;   /* -I address */
    int have_bind;
};

struct state {
    const struct opts *o;
    int fd;
    uint16_t id;
    uint64_t sent, received, repeats, errors, corrupted;
    struct sn_raw_rtt rtt;
    int timing;              /* the payload holds a timestamp (size >= 8) */
    uint8_t seen[65536 / 8]; /* seq -> answered (reply or error) */
    uint8_t replied[65536 / 8];
    uint64_t start_ns;       /* monotonic, first request */
    uint64_t start_real;     /* realtime, first request: older timestamps are not ours */
};

static void help(void)
{
    printf("usage: sysnet ping [options] HOST\n"
           "ICMP echo (IPv4) or ICMPv6 echo (IPv6) over raw sockets, printed like iputils ping.\n\n"
           "  HOST          a numeric IPv4 or IPv6 address (names are not resolved)\n"
           "  -c COUNT      stop after COUNT requests (default: until interrupted)\n"
           "  -i INTERVAL   seconds between requests, fractional (default 1; below 0.2 only\n"
           "                as root; at least 0.001)\n"
           "  -s SIZE       bytes of ICMP data (default 56; the first 8 carry the send time)\n"
           "  -t TTL        IPv4 time to live / IPv6 hop limit (1..255)\n"
           "  -W TIMEOUT    seconds to wait for replies after the last request (default 10)\n"
           "  -4, -6        the address must be IPv4 / IPv6\n"
           "  -q            quiet: only the first line and the statistics\n"
           "  -I IFACE      send from this interface (SO_BINDTODEVICE) or source address\n"
           "  -h, --help    this text\n\n"
           "Needs CAP_NET_RAW. Ctrl-C prints the statistics. Exit status: 0 if any reply\n"
           "came, 1 if none (or a failure), 2 bad usage.\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    uint64_t v;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":c:i:s:t:W:I:46qhn", lo, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return 0;
        case 'c':
            if (tool_parse_u64(optarg, 1, UINT32_MAX, &v) < 0)
                return tool_usage("ping", "-c wants a request count >= 1, not '%s'", optarg);
            o->count = v;
            break;
        case 'i':
            if (tool_parse_seconds(optarg, 0.001, 3600, &o->interval_ns) < 0)
                return tool_usage("ping", "-i wants seconds between 0.001 and 3600, not '%s'", optarg);
            if (o->interval_ns < 200000000 && geteuid() != 0)
                return tool_usage("ping", "an interval below 0.2 s needs root (like ping)");
            break;
        case 's':
            if (tool_parse_u64(optarg, 0, 65507, &v) < 0)
                return tool_usage("ping", "-s wants a data size 0..65507, not '%s'", optarg);
            o->size = (size_t)v;
            break;
        case 't':
            if (tool_parse_u64(optarg, 1, 255, &v) < 0)
                return tool_usage("ping", "-t wants a TTL 1..255, not '%s'", optarg);
            o->ttl = (int)v;
            break;
        case 'W':
            if (tool_parse_seconds(optarg, 0.001, 3600, &o->wait_ns) < 0)
                return tool_usage("ping", "-W wants seconds between 0.001 and 3600, not '%s'", optarg);
            break;
        case 'I':
            if (sn_addr_parse(optarg, &o->bind) == 0)
                o->have_bind = 1;
            else
                o->iface = optarg;
            break;
        case '4': o->family = AF_INET; break;
        case '6': o->family = AF_INET6; break;
        case 'q': o->quiet = 1; break;
        case 'n': break; /* always numeric */
        case ':':
        default: return tool_bad_option("ping", c, argv);
        }
    }
    int rc = probe_host("ping", argc, argv, o->family, "ping takes an address without a port",
                        &o->host, &o->dst);
    if (rc)
        return rc;
    if (o->have_bind && o->bind.family != o->dst.family)
        return tool_usage("ping", "-I address and host are of different families");
    if (o->dst.family == AF_INET6 && o->size > 65527)
        return tool_usage("ping", "-s too large");
    return -1;
}

/* ---- bookkeeping ------------------------------------------------------------- */

static int bit_get(const uint8_t *m, uint16_t i) { return (m[i >> 3] >> (i & 7)) & 1; }
static void bit_set(uint8_t *m, uint16_t i) { m[i >> 3] = (uint8_t)(m[i >> 3] | (1u << (i & 7))); }
static void bit_clr(uint8_t *m, uint16_t i) { m[i >> 3] = (uint8_t)(m[i >> 3] & ~(1u << (i & 7))); }

/* iputils' per-reply time: 3 significant decimals below 1 ms, fewer above. */
static void fmt_time(int64_t us, char *out, size_t cap)
{
    if (us >= 100000 - 50)
        snprintf(out, cap, "%" PRId64, (us + 500) / 1000);
    else if (us >= 10000 - 5)
        snprintf(out, cap, "%" PRId64 ".%01" PRId64, (us + 50) / 1000, ((us + 50) % 1000) / 100);
    else if (us >= 1000)
        snprintf(out, cap, "%" PRId64 ".%02" PRId64, (us + 5) / 1000, ((us + 5) % 1000) / 10);
    else
        snprintf(out, cap, "%" PRId64 ".%03" PRId64, us / 1000, us % 1000);
}

static int send_one(const struct opts *o, struct state *st)
{
    static uint8_t pkt[65536];
    uint16_t seq = (uint16_t)(st->sent + 1); /* icmp_seq starts at 1, like ping */
    uint64_t now_real = sn_realtime_ns();
    if (st->sent == 0) {
        st->start_ns = sn_now_ns();
        st->start_real = now_real;
    }
    int n = sn_raw_echo_emit(o->dst.family, st->id, seq, now_real, o->size, pkt, sizeof(pkt));
    if (n < 0)
        return n;
    bit_clr(st->seen, seq);
    bit_clr(st->replied, seq);
    st->sent++;
    ssize_t r = sn_raw_send(st->fd, pkt, (size_t)n, &o->dst, -1);
    if (r < 0) {
        /* like ping: the request counts as sent, with an error, and is not waited for */
        fprintf(stderr, "sysnet ping: send: %s\n", sn_strerror((int)r));
        st->errors++;
        bit_set(st->seen, seq);
        return (int)r;
    }
    return 0;
}

static void on_packet(void *arg, int fd, const uint8_t *buf, size_t len, const struct sn_raw_rx *rx)
{
    struct state *st = arg;
    const struct opts *o = st->o;
    struct sn_raw_icmp ic;
    char from[SN_ADDR_STRLEN], text[128];
    (void)fd;
    if (sn_raw_icmp_parse(o->dst.family, buf, len, &ic) < 0)
        return;
    sn_addr_fmt(&rx->from, from, sizeof(from));
    if (!sn_raw_echo_match(&ic, &rx->from, &o->dst, st->id))
        return;
    if (ic.kind == SN_RAW_ICMP_ECHO_REPLY) {
        uint64_t ts = 0;
        int64_t us = -1;
        if (st->timing) {
            /* the timestamp we wrote identifies our requests; anything else is not ours */
            if (sn_raw_echo_ts(&ic, &ts) < 0 || ts < st->start_real - NS_PER_S)
                return;
            uint64_t at = rx->ts_ns ? rx->ts_ns : sn_realtime_ns();
            us = (int64_t)(at - ts) / 1000;
        }
        if (!ic.csum_ok) {
            st->corrupted++;
            if (!o->quiet)
                printf("%zu bytes from %s: icmp_seq=%u (BAD CHECKSUM!)\n", ic.data_len + 8, from, ic.seq);
            return;
        }
        int dup = bit_get(st->replied, ic.seq);
        if (dup) {
            st->repeats++;
        } else {
            st->received++;
            bit_set(st->replied, ic.seq);
            bit_set(st->seen, ic.seq);
        }
        if (st->timing)
            sn_raw_rtt_add(&st->rtt, us);
        if (o->quiet)
            return;
        printf("%zu bytes from %s: icmp_seq=%u", ic.data_len + 8, from, ic.seq);
        if (rx->hop_limit >= 0)
            printf(" ttl=%d", rx->hop_limit);
        if (st->timing) {
            char t[32];
            fmt_time(us < 0 ? 0 : us, t, sizeof(t));
            printf(" time=%s ms", t);
        }
        printf("%s\n", dup ? " (DUP!)" : "");
        return;
    }
    st->errors++; /* an error quoting one of our requests */
    bit_set(st->seen, ic.q.icmp_seq);
    if (o->quiet)
        return;
    sn_raw_icmp_text(o->dst.family, ic.type, ic.code, ic.mtu, text, sizeof(text));
    printf("From %s icmp_seq=%u %s\n", from, ic.q.icmp_seq, text);
}

/* All requests sent so far are answered (by a reply or an error). */
static int all_answered(const struct state *st)
{
    uint64_t first = st->sent > 65535 ? st->sent - 65535 : 1;
    for (uint64_t s = first; s <= st->sent; s++)
        if (!bit_get(st->seen, (uint16_t)s))
            return 0;
    return 1;
}

static void summary(const struct opts *o, const struct state *st)
{
    uint64_t ms = st->sent ? (sn_now_ns() - st->start_ns + 500000) / 1000000 : 0;
    printf("\n--- %s ping statistics ---\n", o->host);
    printf("%" PRIu64 " packets transmitted, %" PRIu64 " received", st->sent, st->received);
    if (st->repeats)
        printf(", +%" PRIu64 " duplicates", st->repeats);
    if (st->corrupted)
        printf(", +%" PRIu64 " corrupted", st->corrupted);
    if (st->errors)
        printf(", +%" PRIu64 " errors", st->errors);
    if (st->sent) {
        double loss = (double)(st->sent - SN_MIN(st->received, st->sent)) * 100.0 / (double)st->sent;
        printf(", %g%% packet loss, time %" PRIu64 "ms", loss, ms);
    }
    printf("\n");
    if (st->received && st->timing && st->rtt.n) {
        int64_t mn = st->rtt.min_us, avg = sn_raw_rtt_avg(&st->rtt), mx = st->rtt.max_us,
                md = sn_raw_rtt_mdev(&st->rtt);
        printf("rtt min/avg/max/mdev = %" PRId64 ".%03" PRId64 "/%" PRId64 ".%03" PRId64 "/%" PRId64
               ".%03" PRId64 "/%" PRId64 ".%03" PRId64 " ms\n",
               mn / 1000, mn % 1000, avg / 1000, avg % 1000, mx / 1000, mx % 1000, md / 1000, md % 1000);
    }
}

static int open_socket(const struct opts *o)
{
    struct sn_raw_opts ro = {.family = o->dst.family, .ttl = o->ttl, .device = o->iface,
                             .flags = SN_RAW_TIMESTAMPNS | SN_RAW_NONBLOCK,
                             .bind = o->have_bind ? &o->bind : NULL};
    ro.proto = o->dst.family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
    if (o->dst.family == AF_INET6)
        ro.flags |= SN_RAW_RECVHOPLIMIT;
    int fd = sn_raw_open(&ro);
    if (fd < 0)
        return fd;
    if (o->dst.family == AF_INET6) {
        int rc = probe_icmp6_filter(fd);
        if (rc < 0) {
            sn_raw_close(fd);
            return rc;
        }
    }
    return fd;
}

int cmd_ping(int argc, char **argv)
{
    struct opts o = {.interval_ns = NS_PER_S, .wait_ns = 10 * NS_PER_S, .size = 56};
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    /* No route: say so at once (ping's "connect: Network is unreachable"). */
    struct sn_addr src;
    rc = sn_raw_route_src(&o.dst, o.iface, &src);
    if (rc == -ENODEV && o.iface)
        return tool_err("ping", "-I %s: no such interface", o.iface);
    if (rc < 0)
        return tool_err("ping", "%s: %s", o.host, sn_strerror(rc));
    static struct state st;
    memset(&st, 0, sizeof(st));
    st.o = &o;
    st.id = (uint16_t)getpid();
    st.timing = o.size >= SN_RAW_ECHO_TS_LEN;
    sn_raw_rtt_init(&st.rtt);
    st.fd = open_socket(&o);
    if (st.fd < 0)
        return probe_open_err("ping", "-I", o.iface, st.fd, "cannot open a raw socket");
    setvbuf(stdout, NULL, _IOLBF, 0);
    tool_stop_on(SIGINT, SIGTERM, SIGALRM, 0); /* the wait returns -EINTR */

    char dst[SN_ADDR_STRLEN];
    sn_addr_fmt(&o.dst, dst, sizeof(dst));
    if (o.dst.family == AF_INET)
        printf("PING %s (%s) %zu(%zu) bytes of data.\n", o.host, dst, o.size, o.size + 28);
    else
        printf("PING %s(%s) %zu data bytes\n", o.host, dst, o.size); /* sic: iputils' spacing */

    uint64_t next = sn_now_ns(), last_sent = 0;
    while (!tool_stop) {
        uint64_t now = sn_now_ns();
        int more = !o.count || st.sent < o.count;
        if (more && now >= next) {
            send_one(&o, &st);
            last_sent = now;
            next = now + (uint64_t)o.interval_ns;
            more = !o.count || st.sent < o.count;
        }
        if (!more && all_answered(&st))
            break;
        uint64_t wake = more ? next : last_sent + (uint64_t)o.wait_ns;
        if (!more && now >= wake)
            break;
        int w = sn_raw_wait_until(&st.fd, 1, wake);
        if (w > 0)
            probe_drain(st.fd, on_packet, &st);
        else if (w < 0 && w != -EINTR)
            break;
    }
    summary(&o, &st);
    sn_raw_close(st.fd);
    return st.received ? 0 : 1;
}
