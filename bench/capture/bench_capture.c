/* bench_capture.c — the capture benchmark's traffic generator: Ethernet/IPv4/UDP
 * frames sent through our TX ring (sn_txring, TPACKET_V2) at a fixed offered load,
 * and the same frames written as a trafgen configuration, so that bench/capture/
 * run.sh can flood a veth pair for `sysnet sniff`, tcpdump and netsniff-ng and race
 * our generator against trafgen on the very same bytes.
 *
 *   bench_capture tx IFNAME --count N [--rate PPS] [--size BYTES] [--bypass] ...
 *   bench_capture trafgen-conf [--size BYTES] ...     the same frames for trafgen -i
 *
 * The frame: Ethernet II, IPv4 (DF, TTL 64, id 0, no options) from --src-ip to
 * --dst-ip (198.18.0.1 -> 198.19.0.1, RFC 2544's benchmarking range), UDP to port
 * 9 (discard) from a source port that cycles through --flows values from 1024 (in
 * trafgen's order, which steps its counter before the first packet: 1025, 1026, ...,
 * 1024 + flows - 1, 1024, 1025, ...), so a flow hash (PACKET_FANOUT_HASH, RPS)
 * spreads the packets; --size bytes in all
 * (without the FCS; 60 = the Ethernet minimum), the payload a fixed ASCII pattern.
 * Both checksums are valid: the IPv4 one never changes, the UDP one is patched per
 * packet with the incremental update of RFC 1624.
 *
 * tx sends exactly N frames, then waits until the kernel is done with every one of
 * them (sn_txring_drain; see kick() for a guard), and prints one line on stdout:
 *   tx frames=N seconds=S pps=P bytes=B flushes=F ring_full=R send_errors=E
 * seconds run from the first frame taken to the end of the drain. With --rate the
 * sender is paced against the clock once per batch: frame i is due at
 * start + i / rate; ahead of time it sleeps (clock_nanosleep, absolute, timer slack
 * 1 ns) or, under 20 us, spins. Being late is caught up at once, so the average rate
 * is the one asked for. The batch (frames per send(2)) defaults to what is due in
 * 100 us (1..64), so paced traffic leaves in small bursts; 64 unpaced.
 *
 * Errors print one line on stderr (sn_strerror, and sn_ring_hint when it has one)
 * and exit with 1; bad usage exits with 2. Needs CAP_NET_RAW (tx only). */
#include <sysnet/base.h>
#include <sysnet/ring.h>
#include <sysnet/sock.h>
#include <sysnet/wire.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>

#define PROG "bench_capture"

enum {
    MIN_SIZE = SN_ETH_HLEN + SN_IPV4_HLEN + SN_UDP_HLEN, /* 42: headers, no payload */
    DEF_SIZE = 60,                                     /* Ethernet minimum without FCS */
    MAX_SIZE = 9000 + SN_ETH_HLEN,
    SPORT_BASE = 1024,
    DPORT = 9,
    /* where the per-packet fields sit in the frame */
    OFF_IP = SN_ETH_HLEN,
    OFF_UDP = SN_ETH_HLEN + SN_IPV4_HLEN,
    OFF_SPORT = OFF_UDP + 0,
    OFF_UCSUM = OFF_UDP + 6,
};

struct opts {
    const char *ifname;
    uint64_t count;
    uint64_t rate;       /* packets/s, 0 = as fast as possible */
    unsigned size;       /* frame bytes without FCS */
    unsigned flows;      /* distinct UDP source ports, 1..256 */
    unsigned batch;      /* 0 = automatic */
    unsigned frames;     /* TX ring frames */
    unsigned sndbuf;     /* SO_SNDBUFFORCE bytes, 0 = the kernel's default */
    int bypass;
    uint8_t src_mac[6], dst_mac[6];
    uint8_t src_ip[4], dst_ip[4];
};

static int usage(FILE *f, int rc)
{
    fprintf(f,
            "usage: " PROG " tx IFNAME --count N [options]\n"
            "       " PROG " trafgen-conf [options]\n"
            "tx: send exactly N Ethernet/IPv4/UDP frames on IFNAME through the TX ring,\n"
            "wait until all are sent and print\n"
            "  tx frames=N seconds=S pps=P bytes=B flushes=F ring_full=R send_errors=E\n"
            "trafgen-conf: print the same frames as a trafgen(8) configuration (stdout).\n"
            "\n"
            "  -n, --count N        frames to send (required for tx)\n"
            "  -r, --rate PPS       offered load in packets/s (0 = as fast as possible; default)\n"
            "  -s, --size BYTES     frame length without the FCS, %d..%d (default %d)\n"
            "      --flows K        UDP source ports %d..%d+K-1 in turn, 1..256 (default 256)\n"
            "  -b, --batch K        frames per send(2) (default: what is due in 100 us, 1..64;\n"
            "                       64 when unpaced)\n"
            "      --frames K       frames in the TX ring (default 1024)\n"
            "      --sndbuf BYTES   SO_SNDBUFFORCE on the ring's socket (default: kernel's)\n"
            "  -q, --bypass         PACKET_QDISC_BYPASS: straight to the driver, no qdisc\n"
            "      --src-mac MAC    default 02:00:00:00:00:01\n"
            "      --dst-mac MAC    default 02:00:00:00:00:02\n"
            "      --src-ip ADDR    default 198.18.0.1\n"
            "      --dst-ip ADDR    default 198.19.0.1\n"
            "  -h, --help           this text\n"
            "Exit status: 0 ok, 1 error (one line on stderr), 2 bad usage. tx needs CAP_NET_RAW.\n",
            MIN_SIZE, MAX_SIZE, DEF_SIZE, SPORT_BASE, SPORT_BASE);
    return rc;
}

static int bad(const char *what, const char *arg)
{
    fprintf(stderr, PROG ": bad %s: '%s' (--help)\n", what, arg);
    return 2;
}

/* A decimal number in [lo, hi]; accepts a k/M suffix (x1000, x1000000). */
static int num(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        return -EINVAL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -EINVAL;
    uint64_t mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1000, end++;
    else if (*end == 'M')
        mul = 1000000, end++;
    if (*end || (v && mul > UINT64_MAX / v))
        return -EINVAL;
    v *= mul;
    if (v < lo || v > hi)
        return -ERANGE;
    *out = v;
    return 0;
}


/* Options after the subcommand (argv[0] is the subcommand). GNU getopt permutes, so
 * IFNAME may come before or after the options. 0 ok, 1 help printed, 2 bad usage. */
static int parse(int argc, char **argv, int tx, struct opts *o)
{
    static const struct option lo[] = {
        {"count", required_argument, NULL, 'n'},   {"rate", required_argument, NULL, 'r'},
        {"size", required_argument, NULL, 's'},    {"flows", required_argument, NULL, 'F'},
        {"batch", required_argument, NULL, 'b'},   {"frames", required_argument, NULL, 'R'},
        {"sndbuf", required_argument, NULL, 'S'},  {"bypass", no_argument, NULL, 'q'},
        {"src-mac", required_argument, NULL, 'm'}, {"dst-mac", required_argument, NULL, 'M'},
        {"src-ip", required_argument, NULL, 'i'},  {"dst-ip", required_argument, NULL, 'I'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    static const uint8_t smac[6] = {2, 0, 0, 0, 0, 1}, dmac[6] = {2, 0, 0, 0, 0, 2};
    static const uint8_t sip[4] = {198, 18, 0, 1}, dip[4] = {198, 19, 0, 1};
    memset(o, 0, sizeof(*o));
    o->size = DEF_SIZE;
    o->flows = 256;
    o->frames = 1024;
    memcpy(o->src_mac, smac, 6);
    memcpy(o->dst_mac, dmac, 6);
    memcpy(o->src_ip, sip, 4);
    memcpy(o->dst_ip, dip, 4);
    int have_count = 0, c;
    uint64_t v;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":n:r:s:b:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (num(optarg, 1, UINT64_MAX / 4, &o->count))
                return bad("--count", optarg);
            have_count = 1;
            break;
        case 'r':
            if (num(optarg, 0, 1000000000, &o->rate))
                return bad("--rate", optarg);
            break;
        case 's':
            if (num(optarg, MIN_SIZE, MAX_SIZE, &v))
                return bad("--size", optarg);
            o->size = (unsigned)v;
            break;
        case 'F':
            if (num(optarg, 1, 256, &v))
                return bad("--flows", optarg);
            o->flows = (unsigned)v;
            break;
        case 'b':
            if (num(optarg, 1, 4096, &v))
                return bad("--batch", optarg);
            o->batch = (unsigned)v;
            break;
        case 'R':
            if (num(optarg, 8, 1u << 20, &v))
                return bad("--frames", optarg);
            o->frames = (unsigned)v;
            break;
        case 'S':
            if (num(optarg, 0, 1u << 30, &v))
                return bad("--sndbuf", optarg);
            o->sndbuf = (unsigned)v;
            break;
        case 'q': o->bypass = 1; break;
        case 'm':
            if (sn_parse_mac(optarg, strlen(optarg), o->src_mac))
                return bad("--src-mac", optarg);
            break;
        case 'M':
            if (sn_parse_mac(optarg, strlen(optarg), o->dst_mac))
                return bad("--dst-mac", optarg);
            break;
        case 'i':
            if (sn_parse_ipv4(optarg, strlen(optarg), o->src_ip))
                return bad("--src-ip", optarg);
            break;
        case 'I':
            if (sn_parse_ipv4(optarg, strlen(optarg), o->dst_ip))
                return bad("--dst-ip", optarg);
            break;
        case 'h': usage(stdout, 0); return 1;
        case ':':
            fprintf(stderr, PROG ": option '%s' needs a value (--help)\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, PROG ": unknown option '%s' (--help)\n", argv[optind - 1]);
            return 2;
        }
    }
    if (tx) {
        if (optind >= argc) {
            fprintf(stderr, PROG ": tx needs an interface (--help)\n");
            return 2;
        }
        o->ifname = argv[optind++];
        if (!have_count) {
            fprintf(stderr, PROG ": tx needs --count N (--help)\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s' (--help)\n", argv[optind]);
        return 2;
    }
    return 0;
}

/* The frame with source port SPORT_BASE into f (o->size bytes), and the UDP
 * checksum of each of the o->flows source ports into csums[]. */
static int build(const struct opts *o, uint8_t *f, uint16_t *csums)
{
    static const char pat[] = "sysnet bench/capture ";
    static uint8_t payload[MAX_SIZE];
    size_t plen = o->size - MIN_SIZE;
    for (size_t i = 0; i < plen; i++)
        payload[i] = (uint8_t)pat[i % (sizeof(pat) - 1)];

    struct sn_eth_repr e;
    memcpy(e.dst, o->dst_mac, 6);
    memcpy(e.src, o->src_mac, 6);
    e.type = SN_ETHERTYPE_IPV4;
    struct sn_ipv4_repr ip;
    memset(&ip, 0, sizeof(ip));
    ip.payload_len = (uint16_t)(SN_UDP_HLEN + plen);
    ip.df = 1;
    ip.ttl = 64;
    ip.proto = SN_IPPROTO_UDP;
    memcpy(ip.src, o->src_ip, 4);
    memcpy(ip.dst, o->dst_ip, 4);
    struct sn_ipaddrs a = {4, o->src_ip, o->dst_ip};
    struct sn_udp_repr u;
    memset(&u, 0, sizeof(u));
    u.dport = DPORT;
    u.payload = payload;
    u.payload_len = plen;

    int rc = sn_eth_emit(&e, f, o->size);
    if (rc >= 0)
        rc = sn_ipv4_emit(&ip, f + OFF_IP, o->size - OFF_IP);
    for (unsigned k = o->flows; rc >= 0 && k-- > 0;) { /* k = 0 last: f keeps SPORT_BASE */
        u.sport = (uint16_t)(SPORT_BASE + k);
        rc = sn_udp_emit(&u, &a, f + OFF_UDP, o->size - OFF_UDP);
        csums[k] = sn_load_be16(f + OFF_UCSUM);
    }
    if (rc < 0) {
        fprintf(stderr, PROG ": cannot build the frame: %s\n", sn_strerror(rc));
        return -1;
    }
    return 0;
}

/* The same frames for trafgen -i FILE: the bytes of the frame, the low byte of the
 * UDP source port a run-time counter over the flows (dinc), the UDP checksum
 * recomputed by trafgen for each packet (csumudp). */
static int trafgen_conf(const struct opts *o)
{
    uint8_t f[MAX_SIZE];
    uint16_t csums[256];
    if (build(o, f, csums))
        return 1;
    printf("/* bench_capture trafgen-conf: %u-byte Ethernet/IPv4/UDP frames, UDP source\n"
           " * ports %u..%u in turn, valid checksums: the frames of `bench_capture tx`. */\n{",
           o->size, SPORT_BASE, SPORT_BASE + o->flows - 1);
    for (unsigned i = 0; i < o->size; i++) {
        if (i == OFF_UCSUM + 1)
            continue; /* the second byte of csumudp() */
        printf("%s", i % 12 ? " " : "\n  ");
        if (i == OFF_SPORT + 1)
            printf("dinc(%u, %u, 1),", SPORT_BASE & 0xff, (SPORT_BASE & 0xff) + o->flows - 1);
        else if (i == OFF_UCSUM)
            printf("csumudp(%d, %d),", OFF_IP, OFF_UDP);
        else
            printf("0x%02x,", f[i]);
    }
    printf("\n}\n");
    return fflush(stdout) ? 1 : 0;
}

static int fail(const char *what, int err)
{
    const char *h = sn_ring_hint(err);
    fprintf(stderr, PROG ": %s: %s%s%s\n", what, sn_strerror(err), h ? ": " : "", h ? h : "");
    return 1;
}

/* Wait until the monotonic clock reads `due`: sleep while more than 20 us remain,
 * spin for the rest. */
static void pace(uint64_t due)
{
    for (;;) {
        uint64_t now = sn_now_ns();
        if (now >= due)
            return;
        if (due - now > 20000) {
            struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
    }
}

/* A send(2) of our own on the ring's socket, a guard against stranded frames: when
 * the socket's send buffer fills in the middle of a flush, the kernel's
 * tpacket_snd() sends the frames it could and returns their byte count — success —
 * leaving the rest SEND_REQUEST, and only another send(2) sends them. Older
 * sn_txring_flush() (src/ring/tx.c) did not know, so neither sn_txring_frame() (ring
 * full) nor sn_txring_drain() sent again and drain timed out; the library now
 * re-sends such frames itself. Either way this is harmless: the kernel walks the
 * ring for SEND_REQUEST frames by itself, and with none it returns 0 at once. Called
 * only while waiting (ring full, drain not done), so it costs nothing otherwise. */
static void kick(const struct sn_txring *t)
{
    (void)send(sn_txring_fd(t), NULL, 0, MSG_DONTWAIT);
}

static void nap_us(unsigned us)
{
    struct timespec ts = {0, (long)us * 1000};
    nanosleep(&ts, NULL);
}

static int tx(const struct opts *o)
{
    static uint8_t tmpl[MAX_SIZE];
    uint16_t csums[256];
    if (build(o, tmpl, csums))
        return 1;
    unsigned batch = o->batch;
    if (!batch) { /* what is due in 100 us, 1..64 */
        uint64_t b = o->rate ? o->rate / 10000 : 64;
        batch = b < 1 ? 1 : b > 64 ? 64 : (unsigned)b;
    }
    struct sn_txring_opts to;
    memset(&to, 0, sizeof(to));
    to.ifname = o->ifname;
    to.frame_size = (SN_TXRING_HDRLEN + o->size + 15) & ~15u;
    if (to.frame_size < 64)
        to.frame_size = 64;
    to.frame_count = o->frames;
    to.batch = batch;
    to.flags = o->bypass ? SN_TXRING_QDISC_BYPASS : 0;

    struct sn_txring t;
    int rc = sn_txring_open(&t, &to);
    if (rc < 0)
        return fail(o->ifname, rc);
    if (o->sndbuf) {
        int v = (int)o->sndbuf;
        if (setsockopt(sn_txring_fd(&t), SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0) {
            rc = -errno;
            sn_txring_close(&t);
            return fail("SO_SNDBUFFORCE", rc);
        }
    }
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); /* precise sleeps for the pacing */

    const char *what = "TX ring";
    unsigned k = 1 % o->flows; /* trafgen's order: its counter steps before the first packet */
    uint64_t t0 = sn_now_ns();
    for (uint64_t i = 0; i < o->count; i++) {
        if (o->rate && i && i % batch == 0)
            pace(t0 + (uint64_t)((double)i * 1e9 / (double)o->rate));
        uint8_t *f;
        rc = sn_txring_frame(&t, &f, 0);
        if (rc == 0) { /* ring full: kick (see above), wait, for up to 2 s */
            uint64_t deadline = sn_now_ns() + 2000000000u;
            while ((rc = sn_txring_frame(&t, &f, 0)) == 0 && sn_now_ns() < deadline) {
                kick(&t);
                nap_us(20);
            }
            if (rc == 0)
                rc = -ETIMEDOUT, what = "no TX frame came free within 2 s";
        }
        if (rc < 0)
            goto out;
        if ((unsigned)rc < o->size) {
            rc = -EMSGSIZE, what = "frame larger than a ring frame";
            goto out;
        }
        memcpy(f, tmpl, o->size);
        sn_store_be16(f + OFF_SPORT, (uint16_t)(SPORT_BASE + k));
        sn_store_be16(f + OFF_UCSUM, csums[k]);
        if (++k == o->flows)
            k = 0;
        rc = sn_txring_commit(&t, o->size);
        if (rc < 0) {
            what = rc == -EMSGSIZE ? "frame larger than the interface's MTU" : "commit";
            goto out;
        }
    }
    uint64_t deadline = sn_now_ns() + 10000000000u;
    while ((rc = sn_txring_drain(&t, 0)) == -ETIMEDOUT && sn_now_ns() < deadline) {
        kick(&t);
        nap_us(20);
    }
    if (rc < 0)
        what = "drain (frames still in flight after 10 s)";
out:;
    uint64_t t1 = sn_now_ns();
    struct sn_txring_stats st;
    memset(&st, 0, sizeof(st));
    sn_txring_stats(&t, &st);
    sn_txring_close(&t);
    if (rc < 0)
        return fail(what, rc);
    double s = (double)(t1 - t0) / 1e9;
    printf("tx frames=%" PRIu64 " seconds=%.6f pps=%.0f bytes=%" PRIu64 " flushes=%" PRIu64
           " ring_full=%" PRIu64 " send_errors=%" PRIu64 "\n",
           st.frames, s, s > 0 ? (double)st.frames / s : 0.0, st.bytes, st.flushes, st.ring_full,
           st.send_errors);
    return fflush(stdout) ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (argc >= 2 && (!strcmp(argv[1], "tx") || !strcmp(argv[1], "trafgen-conf"))) {
        int is_tx = !strcmp(argv[1], "tx");
        int rc = parse(argc - 1, argv + 1, is_tx, &o);
        if (rc)
            return rc == 1 ? 0 : rc;
        return is_tx ? tx(&o) : trafgen_conf(&o);
    }
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
        return usage(stdout, 0);
    return usage(stderr, 2);
}
