/* trace.c — `sysnet trace`: traceroute over raw sockets. Probes leave with a
 * growing TTL / hop limit (RFC 1393's idea, traceroute's practice) in three
 * kinds: UDP to port 33434 and up (default), ICMP echo (-I) and TCP SYN (-T,
 * IPv4 header ours on an IP_HDRINCL socket, IPv6 header the kernel's). Routers
 * answer with ICMP time exceeded (RFC 792, RFC 4443 §3.3) quoting the probe;
 * the destination with port unreachable, echo reply, or SYN-ACK / RST. Each
 * answer is matched to its probe by the quoted ports, identifier or sequence.
 * Output as traceroute(8) with -n. */
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

#define MAX_PROBES 10 /* per hop */
#define DATA_LEN   32 /* UDP/ICMP data bytes: 60-byte IPv4 probes, 80-byte IPv6 ones, like traceroute */

enum mode { M_UDP, M_ICMP, M_TCP };

struct opts {
    struct sn_addr dst;
    const char *host;
    int family;
    enum mode mode;
    unsigned nq, first, max;
    int64_t wait_ns;
    uint16_t port;           /* UDP: first destination port; TCP: the port */
    int have_port;
    const char *iface;
};

struct probe {
    uint64_t sent_ns;        /* realtime at send */
    int done, final;
    int64_t rtt_ns;
    struct sn_addr from;
    const char *flag;
};

struct ctx {
    const struct opts *o;
    struct sn_addr src;
    int tx, icmp;            /* tx: UDP/TCP raw socket (ICMP mode: icmp itself) */
    int tcp_rx;              /* TCP mode: the tx socket also receives TCP */
    uint16_t id;             /* ICMP id; UDP source port */
    uint16_t sport_base;     /* TCP: source port of probe 0 */
    uint32_t isn;            /* TCP: sequence number of probe 0 */
    uint32_t base_idx;       /* global index of probes[0] of the current hop */
    struct probe probes[MAX_PROBES];
};

static void help(void)
{
    printf("usage: sysnet trace [options] HOST\n"
           "Print the route to HOST: probes with a growing TTL (hop limit), the routers'\n"
           "ICMP time-exceeded answers and the destination's reply, like traceroute -n.\n\n"
           "  HOST          a numeric IPv4 or IPv6 address (names are not resolved)\n"
           "  -U            UDP probes to port 33434 and up, one more per probe (default)\n"
           "  -I            ICMP / ICMPv6 echo probes\n"
           "  -T            TCP SYN probes to port 80 (see -p)\n"
           "  -p PORT       UDP: the first destination port; TCP: the destination port\n"
           "  -q N          probes per hop (default 3, at most %d)\n"
           "  -m MAX_TTL    the largest TTL (default 30)\n"
           "  -f FIRST_TTL  the TTL to start with (default 1)\n"
           "  -w WAIT       seconds to wait for the answers of a hop (default 5, fractional)\n"
           "  -i IFACE      send out of this interface (SO_BINDTODEVICE)\n"
           "  -n            numeric output (always so; accepted for traceroute habits)\n"
           "  -4, -6        the address must be IPv4 / IPv6\n"
           "  -h, --help    this text\n\n"
           "Per hop: \"TTL  ADDRESS  RTT ms ...\", \"*\" for a probe without an answer, and\n"
           "traceroute's !H !N !P !X !S !F marks after unreachable answers. Needs CAP_NET_RAW.\n"
           "Exit status: 0 the destination answered, 1 it did not (or a failure), 2 bad usage.\n",
           MAX_PROBES);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    uint64_t v;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":UITp:q:m:f:w:i:n46h", lo, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return 0;
        case 'U': o->mode = M_UDP; break;
        case 'I': o->mode = M_ICMP; break;
        case 'T': o->mode = M_TCP; break;
        case 'p':
            if (tool_parse_u64(optarg, 1, 65535, &v) < 0)
                return tool_usage("trace", "-p wants a port 1..65535, not '%s'", optarg);
            o->port = (uint16_t)v;
            o->have_port = 1;
            break;
        case 'q':
            if (tool_parse_u64(optarg, 1, MAX_PROBES, &v) < 0)
                return tool_usage("trace", "-q wants 1..%d probes per hop, not '%s'", MAX_PROBES, optarg);
            o->nq = (unsigned)v;
            break;
        case 'm':
            if (tool_parse_u64(optarg, 1, 255, &v) < 0)
                return tool_usage("trace", "-m wants a TTL 1..255, not '%s'", optarg);
            o->max = (unsigned)v;
            break;
        case 'f':
            if (tool_parse_u64(optarg, 1, 255, &v) < 0)
                return tool_usage("trace", "-f wants a TTL 1..255, not '%s'", optarg);
            o->first = (unsigned)v;
            break;
        case 'w':
            if (tool_parse_seconds(optarg, 0.001, 3600, &o->wait_ns) < 0)
                return tool_usage("trace", "-w wants seconds between 0.001 and 3600, not '%s'", optarg);
            break;
        case 'i': o->iface = optarg; break;
        case 'n': break;
        case '4': o->family = AF_INET; break;
        case '6': o->family = AF_INET6; break;
        case ':':
        default: return tool_bad_option("trace", c, argv);
        }
    }
    int rc = probe_host("trace", argc, argv, o->family, "give the port with -p, not in the address",
                        &o->host, &o->dst);
    if (rc)
        return rc;
    if (o->first > o->max)
        return tool_usage("trace", "-f %u is beyond -m %u", o->first, o->max);
    if (!o->have_port)
        o->port = o->mode == M_TCP ? 80 : 33434;
    if (o->mode == M_UDP && (uint32_t)o->port + (o->max - o->first + 1) * o->nq > 65535)
        return tool_usage("trace", "-p %u leaves too few ports for -m and -q", o->port);
    return -1;
}

/* ---- sockets ------------------------------------------------------------------ */

static int v4(const struct ctx *c) { return c->o->dst.family == AF_INET; }

static int open_sockets(struct ctx *c)
{
    const struct opts *o = c->o;
    int fam = o->dst.family;
    c->tx = c->icmp = -1;
    int fd = sn_raw_open_icmp(fam, SN_RAW_NONBLOCK);
    if (fd < 0)
        return fd;
    c->icmp = fd;
    if (o->iface && (fd = sn_raw_bind_device(c->icmp, o->iface)) < 0)
        return fd;
    if (fam == AF_INET6 && (fd = probe_icmp6_filter(c->icmp)) < 0)
        return fd;
    if (o->mode == M_ICMP) {
        c->tx = c->icmp;
        return 0;
    }
    struct sn_raw_opts ro = {.family = fam, .flags = SN_RAW_NONBLOCK | SN_RAW_TIMESTAMPNS,
                             .device = o->iface, .bind = &c->src};
    if (fam == AF_INET) {
        /* we write the IPv4 header: the TTL of each probe is in it */
        ro.flags |= SN_RAW_HDRINCL;
        ro.proto = o->mode == M_TCP ? IPPROTO_TCP : IPPROTO_RAW; /* IPPROTO_RAW receives nothing */
    } else {
        /* the kernel writes the IPv6 header and the checksum (IPV6_CHECKSUM) */
        ro.flags |= SN_RAW_V6CSUM;
        ro.proto = o->mode == M_TCP ? IPPROTO_TCP : IPPROTO_UDP;
        if (o->mode == M_UDP)
            ro.rcvbuf = 1; /* never read: let the kernel keep as little as it may */
    }
    if ((fd = sn_raw_open(&ro)) < 0)
        return fd;
    c->tx = fd;
    c->tcp_rx = o->mode == M_TCP;
    return 0;
}

static void close_sockets(struct ctx *c)
{
    if (c->tx >= 0 && c->tx != c->icmp)
        sn_raw_close(c->tx);
    if (c->icmp >= 0)
        sn_raw_close(c->icmp);
}

/* ---- probes --------------------------------------------------------------------- */

/* An IPv4 header for a HDRINCL probe of `plen` payload bytes in front of it. */
static int ip4_header(const struct ctx *c, uint8_t proto, unsigned ttl, uint32_t idx, size_t plen,
                      uint8_t *p, size_t cap)
{
    struct sn_ipv4_repr h = {.ttl = (uint8_t)ttl, .proto = proto, .id = (uint16_t)(c->id + idx),
                             .payload_len = (uint16_t)plen};
    memcpy(h.src, c->src.ip, 4);
    memcpy(h.dst, c->o->dst.ip, 4);
    return sn_ipv4_emit(&h, p, cap);
}

static int send_probe(struct ctx *c, unsigned ttl, uint32_t idx)
{
    const struct opts *o = c->o;
    uint8_t pkt[128], data[DATA_LEN];
    struct sn_ipaddrs ipa = {.family = 4, .src = c->src.ip, .dst = o->dst.ip};
    size_t hl = v4(c) && o->mode != M_ICMP ? SN_IPV4_HLEN : 0; /* HDRINCL: room for our header */
    int n, ttl_cmsg = v4(c) && o->mode != M_ICMP ? -1 : (int)ttl;
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(0x40 + i);
    switch (o->mode) {
    case M_ICMP:
        n = sn_raw_echo_emit(o->dst.family, c->id, (uint16_t)(idx + 1), sn_realtime_ns(), DATA_LEN,
                             pkt, sizeof(pkt));
        break;
    case M_UDP: {
        struct sn_udp_repr u = {.sport = c->id, .dport = (uint16_t)(o->port + idx), .payload = data,
                                .payload_len = sizeof(data)};
        n = sn_udp_emit(&u, v4(c) ? &ipa : NULL, pkt + hl, sizeof(pkt) - hl);
        break;
    }
    default: {
        /* RFC 9293 §3.1: a bare SYN with an MSS option, as a connect would send */
        struct sn_tcp_repr t = {.sport = (uint16_t)(c->sport_base + idx), .dport = o->port,
                                .seq = c->isn + idx, .flags = SN_TCP_SYN, .window = 64240,
                                .has_mss = 1, .mss = 1460};
        n = sn_tcp_emit(&t, v4(c) ? &ipa : NULL, pkt + hl, sizeof(pkt) - hl);
        break;
    }
    }
    if (n < 0)
        return n;
    if (hl) {
        uint8_t proto = o->mode == M_TCP ? SN_IPPROTO_TCP : SN_IPPROTO_UDP;
        int r = ip4_header(c, proto, ttl, idx, (size_t)n, pkt, sizeof(pkt));
        if (r < 0)
            return r;
        n += r;
    }
    c->probes[idx - c->base_idx].sent_ns = sn_realtime_ns();
    ssize_t r = sn_raw_send(c->tx, pkt, (size_t)n, &o->dst, ttl_cmsg);
    return r < 0 ? (int)r : 0;
}

/* Probe index of the current hop from a global index, or -1. */
static int slot(const struct ctx *c, uint32_t idx)
{
    if (idx < c->base_idx || idx >= c->base_idx + c->o->nq)
        return -1;
    return (int)(idx - c->base_idx);
}

static void answer(struct ctx *c, int s, const struct sn_addr *from, uint64_t ts, const char *flag,
                   int final)
{
    struct probe *p = &c->probes[s];
    if (p->done)
        return;
    p->done = 1;
    p->final = final;
    p->from = *from;
    p->rtt_ns = (int64_t)((ts ? ts : sn_realtime_ns()) - p->sent_ns);
    p->flag = flag;
}

static int is_target(const struct ctx *c, const uint8_t *ip)
{
    return !memcmp(ip, c->o->dst.ip, v4(c) ? 4 : 16);
}

static void on_icmp(struct ctx *c, const uint8_t *buf, size_t len, const struct sn_raw_rx *rx)
{
    const struct opts *o = c->o;
    struct sn_raw_icmp ic;
    if (sn_raw_icmp_parse(o->dst.family, buf, len, &ic) < 0)
        return;
    if (ic.kind == SN_RAW_ICMP_ECHO_REPLY) {
        if (o->mode != M_ICMP || !sn_raw_echo_match(&ic, &rx->from, &o->dst, c->id))
            return;
        int s = slot(c, (uint32_t)ic.seq - 1);
        if (s >= 0)
            answer(c, s, &rx->from, rx->ts_ns, "", 1);
        return;
    }
    if (ic.kind < SN_RAW_ICMP_UNREACH || !ic.q.ok || !ic.q.have_l4 || !is_target(c, ic.q.dst))
        return;
    int s = -1;
    switch (o->mode) {
    case M_UDP:
        if (ic.q.proto == SN_IPPROTO_UDP && ic.q.sport == c->id && ic.q.dport >= o->port)
            s = slot(c, (uint32_t)(ic.q.dport - o->port));
        break;
    case M_ICMP:
        if (sn_raw_echo_match(&ic, &rx->from, &o->dst, c->id))
            s = slot(c, (uint32_t)ic.q.icmp_seq - 1);
        break;
    case M_TCP:
        if (ic.q.proto == SN_IPPROTO_TCP && ic.q.dport == o->port &&
            (uint16_t)(ic.q.sport - c->sport_base) == ic.q.tcp_seq - c->isn)
            s = slot(c, ic.q.tcp_seq - c->isn);
        break;
    }
    if (s < 0)
        return;
    /* an unreachable ends the trace (the destination's port unreachable is the
     * normal end of a UDP trace, and prints no mark); time exceeded goes on */
    int final = ic.kind == SN_RAW_ICMP_UNREACH;
    const char *flag = sn_raw_icmp_trace_flag(o->dst.family, ic.type, ic.code);
    if (ic.kind == SN_RAW_ICMP_TOO_BIG)
        flag = "!F";
    answer(c, s, &rx->from, rx->ts_ns, flag, final);
}

/* A TCP segment from the destination answering a SYN: SYN-ACK (open) or RST (closed). */
static void on_tcp(struct ctx *c, const uint8_t *buf, size_t len, const struct sn_raw_rx *rx)
{
    struct sn_tcp_repr t;
    const uint8_t *seg = buf;
    size_t slen = len;
    if (v4(c)) {
        struct sn_ipv4_repr ip;
        if (sn_ipv4_parse(buf, len, 0, &ip) < 0 || ip.proto != SN_IPPROTO_TCP)
            return;
        seg = buf + ip.hdr_len;
        slen = ip.total_len - ip.hdr_len;
    }
    if (!is_target(c, rx->from.ip) || sn_tcp_parse(seg, slen, NULL, &t) < 0)
        return;
    if (t.sport != c->o->port || !(t.flags & (SN_TCP_RST | SN_TCP_SYN)) || !(t.flags & SN_TCP_ACK))
        return;
    uint32_t idx = (uint16_t)(t.dport - c->sport_base);
    if (t.ack != c->isn + idx + 1) /* RFC 9293 §3.10.7.3: both acknowledge our SYN */
        return;
    int s = slot(c, idx);
    if (s >= 0)
        answer(c, s, &rx->from, rx->ts_ns, "", 1);
}

static void on_packet(void *arg, int fd, const uint8_t *buf, size_t len, const struct sn_raw_rx *rx)
{
    struct ctx *c = arg;
    if (fd == c->icmp)
        on_icmp(c, buf, len, rx);
    else
        on_tcp(c, buf, len, rx);
}

static int hop_done(const struct ctx *c)
{
    for (unsigned i = 0; i < c->o->nq; i++)
        if (!c->probes[i].done)
            return 0;
    return 1;
}

/* traceroute's line: the address when it differs from the last answered probe's. */
static void print_hop(const struct ctx *c, unsigned ttl)
{
    const struct sn_addr *last = NULL;
    printf("%2u ", ttl);
    for (unsigned i = 0; i < c->o->nq; i++) {
        const struct probe *p = &c->probes[i];
        if (!p->done) {
            printf(" *");
            continue;
        }
        if (!last || memcmp(last->ip, p->from.ip, 16)) {
            char a[SN_ADDR_STRLEN];
            sn_addr_fmt(&p->from, a, sizeof(a));
            printf(" %s", a);
        }
        last = &p->from;
        printf("  %.3f ms", (double)p->rtt_ns / 1e6);
        if (p->flag && *p->flag)
            printf(" %s", p->flag);
    }
    printf("\n");
}

static int run_hop(struct ctx *c, unsigned ttl)
{
    const struct opts *o = c->o;
    memset(c->probes, 0, sizeof(c->probes));
    for (unsigned i = 0; i < o->nq && !tool_stop; i++) {
        int rc = send_probe(c, ttl, c->base_idx + i);
        if (rc == -EPERM || rc == -EACCES)
            return rc;
        if (rc < 0) { /* no route, say: the probe stays unanswered, with the reason */
            c->probes[i].done = 0;
            fprintf(stderr, "sysnet trace: send: %s\n", sn_strerror(rc));
        }
    }
    uint64_t end = sn_now_ns() + (uint64_t)o->wait_ns;
    const int fds[2] = {c->icmp, c->tx};
    while (!tool_stop && !hop_done(c) && sn_now_ns() < end) {
        int w = sn_raw_wait_until(fds, c->tcp_rx ? 2 : 1, end);
        if (w < 0 && w != -EINTR)
            return w;
        if (w > 0 && (w & 1))
            probe_drain(c->icmp, on_packet, c);
        if (w > 0 && (w & 2))
            probe_drain(c->tx, on_packet, c);
    }
    return 0;
}

int cmd_trace(int argc, char **argv)
{
    struct opts o = {.mode = M_UDP, .nq = 3, .first = 1, .max = 30, .wait_ns = 5000000000ll};
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    static struct ctx c;
    memset(&c, 0, sizeof(c));
    c.o = &o;
    c.tx = c.icmp = -1;
    if ((rc = sn_raw_route_src(&o.dst, o.iface, &c.src)) < 0 && rc == -ENODEV && o.iface)
        return tool_err("trace", "-i %s: no such interface", o.iface);
    if (rc < 0)
        return tool_err("trace", "no route to %s: %s", o.host, sn_strerror(rc));
    pid_t pid = getpid();
    uint64_t r = sn_now_ns() ^ ((uint64_t)pid << 20);
    c.id = (uint16_t)(0x8000 | (pid & 0x7fff)); /* ICMP id; UDP source port */
    c.sport_base = (uint16_t)(33000 + (r % 20000));
    c.isn = (uint32_t)(r * 2654435761u);
    if ((rc = open_sockets(&c)) < 0) {
        close_sockets(&c);
        return probe_open_err("trace", "-i", o.iface, rc, "cannot open raw sockets");
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    tool_stop_on(SIGINT, SIGTERM, 0);

    size_t iph = v4(&c) ? SN_IPV4_HLEN : SN_IPV6_HLEN;
    size_t plen = iph + (o.mode == M_TCP ? SN_TCP_HLEN + 4 : 8 + DATA_LEN);
    char dst[SN_ADDR_STRLEN];
    sn_addr_fmt(&o.dst, dst, sizeof(dst));
    printf("traceroute to %s (%s), %u hops max, %zu byte packets\n", o.host, dst, o.max, plen);
    int reached = 0, ended = 0;
    for (unsigned ttl = o.first; ttl <= o.max && !tool_stop && !ended; ttl++) {
        c.base_idx = (ttl - o.first) * o.nq;
        if ((rc = run_hop(&c, ttl)) < 0) {
            close_sockets(&c);
            if (rc == -EPERM || rc == -EACCES)
                return tool_err("trace", "%s", sn_raw_hint(rc));
            return tool_err("trace", "%s", sn_strerror(rc));
        }
        print_hop(&c, ttl);
        for (unsigned i = 0; i < o.nq; i++) {
            const struct probe *p = &c.probes[i];
            ended |= p->done && p->final;
            reached |= p->done && p->final && is_target(&c, p->from.ip);
        }
    }
    close_sockets(&c);
    return reached ? 0 : 1;
}
