/* bench_wire.c — the wire benchmark's measuring half: Internet checksum throughput
 * beside memcpy and a naive RFC 1071 loop on the same buffers, the cost per packet
 * of sn_dissect (alone, with 10 formatted fields, with a summary line) over a mix of
 * packets, and the generator of the large capture that bench/wire/run.sh gives to
 * `sysnet sniff`, tcpdump and tshark.
 *
 *   bench_wire csum                 checksum GB/s table
 *   bench_wire dissect FILE         ns/packet table over the packets of FILE
 *   bench_wire mkpcap IN OUT N      OUT: N packets cycling those of IN, stamps increasing
 *                                   (each cycle moves ports and ids: see edit_apply)
 *
 * Every figure is the median of BENCH_MICRO_RUNS timed runs (default 7, at least 5).
 * When BENCH_SUMMARY names a file, key=value lines are appended to it for the
 * machine-readable summary that bench/run.sh prints last. Reads files only. */
#include "../common.h"

#include <sysnet/base.h>
#include <sysnet/pcap.h>
#include <sysnet/wire.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Results the compiler must treat as used, and memory it must treat as read and
 * written: without them it may hoist a pure loop out of the timing loop or drop a
 * memcpy whose destination nobody reads. */
static volatile uint64_t sink;
#define BARRIER(p) __asm__ volatile("" : : "r"(p) : "memory")

/* ---- small helpers -------------------------------------------------------------- */

static void *xalloc(size_t n)
{
    /* 64-byte aligned, like a NIC's receive buffers; the size rounded up as C11 asks. */
    void *p = aligned_alloc(64, (n + 63) & ~(size_t)63);
    if (!p) {
        fprintf(stderr, "bench_wire: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

/* ---- 1. checksum vs memcpy vs naive ---------------------------------------------- */

/* RFC 1071 §4.1's reference loop: one native 16-bit word per iteration, carries
 * folded at the end (a 64-bit accumulator so 64 MiB cannot overflow it). Kept
 * scalar on purpose: it is the textbook baseline, not a second contender. */
#if defined(__clang__)
#define NO_VECTORIZE
#define NO_VECTORIZE_LOOP _Pragma("clang loop vectorize(disable) interleave(disable)")
#elif defined(__GNUC__)
#define NO_VECTORIZE __attribute__((optimize("no-tree-vectorize")))
#define NO_VECTORIZE_LOOP
#else
#define NO_VECTORIZE
#define NO_VECTORIZE_LOOP
#endif

__attribute__((noinline)) NO_VECTORIZE static uint16_t naive_csum(const uint8_t *p, size_t len)
{
    uint64_t sum = 0;
    NO_VECTORIZE_LOOP
    while (len > 1) {
        uint16_t w;
        memcpy(&w, p, 2);
        sum += w;
        p += 2;
        len -= 2;
    }
    if (len) {
        uint8_t t[2] = {p[0], 0};
        uint16_t w;
        memcpy(&w, t, 2);
        sum += w;
    }
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

enum meth { M_SYSNET, M_MEMCPY, M_NAIVE, M_COUNT };

/* iters passes of one method over len bytes; returns the elapsed ns. */
__attribute__((noinline)) static uint64_t csum_pass(enum meth m, const uint8_t *src, uint8_t *dst, size_t len,
                                                    uint64_t iters)
{
    uint64_t acc = 0;
    uint64_t t0 = sn_now_ns();
    switch (m) {
    case M_SYSNET:
        for (uint64_t i = 0; i < iters; i++) {
            acc += sn_csum(src, len);
            BARRIER(src);
        }
        break;
    case M_MEMCPY:
        for (uint64_t i = 0; i < iters; i++) {
            memcpy(dst, src, len);
            BARRIER(dst);
        }
        acc = dst[len - 1];
        break;
    case M_NAIVE:
        for (uint64_t i = 0; i < iters; i++) {
            acc += naive_csum(src, len);
            BARRIER(src);
        }
        break;
    default: break;
    }
    uint64_t dt = sn_now_ns() - t0;
    sink += acc;
    return dt ? dt : 1;
}

/* Passes per timed run so that a run lasts about target_ns (at least one pass). */
static uint64_t calibrate(enum meth m, const uint8_t *src, uint8_t *dst, size_t len, uint64_t target_ns)
{
    uint64_t iters = 1, dt;
    while ((dt = csum_pass(m, src, dst, len, iters)) < target_ns / 8 && iters < (1ull << 40))
        iters *= 2;
    double want = (double)iters * (double)target_ns / (double)dt;
    return want < 1 ? 1 : (uint64_t)want;
}

struct csum_size {
    const char *name;  /* for the table and the summary keys */
    size_t len;
    const char *what;
};

static int bench_csum(void)
{
    static const struct csum_size sizes[] = {
        {"64", 64, "min Ethernet"},   {"576", 576, "IPv4 min MTU"},   {"1500", 1500, "Ethernet MTU"},
        {"9000", 9000, "jumbo"},      {"64K", 65536, "GSO/LRO, in cache"}, {"64M", 64u << 20, "memory-bound"},
    };
    static const char *const mname[M_COUNT] = {"sysnet", "memcpy", "naive"};
    const int runs = micro_runs();
    size_t big = 64u << 20;
    uint8_t *src = xalloc(big), *dst = xalloc(big);
    /* Touch every page (no page faults in the timing) with bytes that exercise carries. */
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < big; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        src[i] = (uint8_t)x;
    }
    memset(dst, 0x5a, big);

    printf("checksum: sn_csum vs memcpy vs a naive RFC 1071 loop, same buffers (64-byte aligned), "
           "median of %d runs\n", runs);
    printf("  %-6s %-18s %12s %12s %12s %14s %13s\n", "size", "", "sysnet GB/s", "memcpy GB/s", "naive GB/s",
           "sysnet/memcpy", "sysnet/naive");
    int bad = 0;
    for (size_t s = 0; s < SN_COUNTOF(sizes); s++) {
        size_t len = sizes[s].len;
        /* The two checksums must agree (RFC 1071 §2(B): the sum is byte-order independent,
         * so the native-order naive result is the big-endian one, byte-swapped). */
        uint16_t a = sn_csum(src, len), b = naive_csum(src, len);
        if (SN_HOST_BE16(a) != b) {
            fprintf(stderr, "bench_wire: sn_csum and the naive loop disagree at %zu bytes: %04x vs %04x\n", len,
                    SN_HOST_BE16(a), b);
            bad = 1;
        }
        /* Warm in cache: ~20 ms a run; 64 MiB: ~60 ms, so a few passes each. */
        uint64_t target = len > (8u << 20) ? 60000000u : 20000000u;
        uint64_t iters[M_COUNT];
        double gbps[M_COUNT][101], med[M_COUNT];
        for (int m = 0; m < M_COUNT; m++)
            iters[m] = calibrate((enum meth)m, src, dst, len, target);
        /* Methods interleaved within each run, so a noisy neighbour hits all three. */
        for (int r = 0; r < runs; r++)
            for (int m = 0; m < M_COUNT; m++) {
                uint64_t dt = csum_pass((enum meth)m, src, dst, len, iters[m]);
                gbps[m][r] = (double)len * (double)iters[m] / (double)dt; /* bytes/ns = GB/s */
            }
        for (int m = 0; m < M_COUNT; m++)
            med[m] = median(gbps[m], runs);
        printf("  %-6s %-18s %12.2f %12.2f %12.2f %14.2f %13.2f\n", sizes[s].name, sizes[s].what, med[M_SYSNET],
               med[M_MEMCPY], med[M_NAIVE], med[M_SYSNET] / med[M_MEMCPY], med[M_SYSNET] / med[M_NAIVE]);
        fflush(stdout);
        for (int m = 0; m < M_COUNT; m++)
            summary("wire.csum.%s.%s_gbps=%.3f", sizes[s].name, mname[m], med[m]);
        summary("wire.csum.%s.sysnet_per_memcpy=%.3f", sizes[s].name, med[M_SYSNET] / med[M_MEMCPY]);
        summary("wire.csum.%s.sysnet_per_naive=%.3f", sizes[s].name, med[M_SYSNET] / med[M_NAIVE]);
    }
    printf("  (GB = 1e9 bytes; memcpy counts the bytes copied; goal sysnet/memcpy >= 0.5)\n");
    free(src);
    free(dst);
    return bad;
}

/* ---- packets in memory ------------------------------------------------------------ */

struct pk {
    size_t off;          /* into the arena */
    int64_t ts_ns;
    uint32_t caplen, wirelen, linktype;
};

struct pkts {
    uint8_t *arena;
    size_t used, cap;
    struct pk *v;
    size_t n, vcap;
};

static void pkts_free(struct pkts *P)
{
    free(P->arena);
    free(P->v);
    memset(P, 0, sizeof(*P));
}

/* Read every packet of path into memory (copied: the timing then touches no file). */
static int pkts_load(const char *path, struct pkts *P)
{
    struct sn_pcap_reader r;
    struct sn_pcap_pkt pkt;
    int rc = sn_pcap_open(&r, path);
    memset(P, 0, sizeof(*P));
    if (rc < 0) {
        fprintf(stderr, "bench_wire: %s: %s\n", path,
                rc == -ENOENT || rc == -EACCES ? sn_strerror(rc) : sn_pcap_errmsg(&r));
        sn_pcap_close(&r);
        return rc;
    }
    while ((rc = sn_pcap_next(&r, &pkt)) > 0) {
        size_t need = (P->used + pkt.caplen + 7) & ~(size_t)7; /* each packet 8-byte aligned */
        if (need > P->cap || P->n == P->vcap) {
            size_t ncap = P->cap ? P->cap : 1u << 16, nv = P->vcap ? P->vcap : 256;
            while (ncap < need)
                ncap *= 2;
            if (P->n == P->vcap)
                nv *= 2;
            uint8_t *a = realloc(P->arena, ncap);
            if (a)
                P->arena = a, P->cap = ncap;
            struct pk *v = realloc(P->v, nv * sizeof(*v));
            if (v)
                P->v = v, P->vcap = nv;
            if (!a || !v) {
                rc = -ENOMEM;
                break;
            }
        }
        memcpy(P->arena + P->used, pkt.data, pkt.caplen);
        P->v[P->n++] = (struct pk){P->used, pkt.ts_ns, pkt.caplen, pkt.wirelen, pkt.linktype};
        P->used = need;
    }
    if (rc < 0)
        fprintf(stderr, "bench_wire: %s: %s\n", path, rc == -ENOMEM ? sn_strerror(rc) : sn_pcap_errmsg(&r));
    else if (P->n == 0) {
        fprintf(stderr, "bench_wire: %s: no packets\n", path);
        rc = -ENODATA;
    }
    sn_pcap_close(&r);
    if (rc < 0)
        pkts_free(P);
    return rc < 0 ? rc : 0;
}

/* ---- 2. dissection ---------------------------------------------------------------- */

/* Ten fields a user typically asks `sniff -T fields` (or tshark) for. */
static const char *const typical_fields[10] = {
    "frame.time_epoch", "frame.len", "eth.src", "ip.src", "ip.dst",
    "ip.proto", "tcp.srcport", "tcp.dstport", "tcp.flags", "udp.dstport",
};

enum dmode { D_DISSECT, D_FIELDS, D_SUMMARY, D_COUNT };

/* reps passes over every packet; returns the elapsed ns. */
__attribute__((noinline)) static uint64_t dissect_pass(enum dmode mode, const struct pkts *P, const int *ids,
                                                       uint64_t reps)
{
    static struct sn_dissect d;
    char out[512];
    uint64_t acc = 0;
    uint64_t t0 = sn_now_ns();
    for (uint64_t rep = 0; rep < reps; rep++) {
        for (size_t i = 0; i < P->n; i++) {
            const struct pk *k = &P->v[i];
            int rc = sn_dissect(P->arena + k->off, k->caplen, k->wirelen, k->linktype, &d);
            acc += (uint64_t)rc + d.n;
            if (mode == D_FIELDS) {
                struct sn_frame_meta m = {i + 1, k->ts_ns};
                for (int f = 0; f < 10; f++)
                    acc += (uint64_t)sn_dissect_field(&d, &m, ids[f], out, sizeof(out)) + (uint8_t)out[0];
            } else if (mode == D_SUMMARY) {
                acc += (uint64_t)sn_dissect_summary(&d, out, sizeof(out)) + (uint8_t)out[0];
            }
            BARRIER(&d);
        }
    }
    uint64_t dt = sn_now_ns() - t0;
    sink += acc;
    return dt ? dt : 1;
}

/* One line on what the mix holds: packets by their outermost transport (ARP, ICMP,
 * ICMPv6, UDP, TCP; an ICMP error's quoted packet does not count twice), "other" for
 * those with none (fragments after the first, unknown protocols). */
static void describe_mix(const char *path, const struct pkts *P)
{
    static const struct { int kind; const char *name; } tr[] = {
        {SN_LAYER_ARP, "arp"}, {SN_LAYER_ICMP4, "icmp"}, {SN_LAYER_ICMP6, "icmpv6"},
        {SN_LAYER_UDP, "udp"}, {SN_LAYER_TCP, "tcp"},    {0, "other"},
    };
    static struct sn_dissect d;
    unsigned count[SN_COUNTOF(tr)] = {0};
    uint64_t bytes = 0, layers = 0;
    for (size_t i = 0; i < P->n; i++) {
        const struct pk *k = &P->v[i];
        size_t t = SN_COUNTOF(tr) - 1;
        bytes += k->caplen;
        if (sn_dissect(P->arena + k->off, k->caplen, k->wirelen, k->linktype, &d) >= 0) {
            layers += d.n;
            for (int l = 0; l < d.n && t == SN_COUNTOF(tr) - 1; l++)
                for (size_t j = 0; j + 1 < SN_COUNTOF(tr); j++)
                    if (!d.l[l].inner && d.l[l].kind == tr[j].kind)
                        t = j;
        }
        count[t]++;
    }
    printf("mix: %zu packets from %s, %.0f bytes and %.1f layers on average:", P->n, path,
           (double)bytes / (double)P->n, (double)layers / (double)P->n);
    for (size_t j = 0; j < SN_COUNTOF(tr); j++)
        if (count[j])
            printf(" %s %u", tr[j].name, count[j]);
    printf("\n");
}

static int bench_dissect(const char *path)
{
    static const char *const label[D_COUNT] = {"sn_dissect", "sn_dissect + 10 fields", "sn_dissect + summary line"};
    static const char *const key[D_COUNT] = {"dissect", "dissect_fields10", "dissect_summary"};
    struct pkts P;
    int ids[10];
    const int runs = micro_runs();
    if (pkts_load(path, &P) < 0)
        return 1;
    for (int f = 0; f < 10; f++)
        if ((ids[f] = sn_dissect_field_id(typical_fields[f])) < 0) {
            fprintf(stderr, "bench_wire: unknown field %s\n", typical_fields[f]);
            pkts_free(&P);
            return 1;
        }
    describe_mix(path, &P);

    uint64_t reps[D_COUNT];
    double ns[D_COUNT][101], med[D_COUNT];
    for (int m = 0; m < D_COUNT; m++) {
        uint64_t r = 1, dt;
        while ((dt = dissect_pass((enum dmode)m, &P, ids, r)) < 2500000 && r < (1ull << 40))
            r *= 2;
        reps[m] = (uint64_t)((double)r * 20e6 / (double)dt) + 1; /* ~20 ms a run */
    }
    for (int r = 0; r < runs; r++)
        for (int m = 0; m < D_COUNT; m++)
            ns[m][r] = (double)dissect_pass((enum dmode)m, &P, ids, reps[m]) / ((double)reps[m] * (double)P.n);
    for (int m = 0; m < D_COUNT; m++)
        med[m] = median(ns[m], runs);

    printf("dissect: ns per packet over the mix (in memory, warm), median of %d runs\n", runs);
    printf("  %-28s %10s %10s\n", "", "ns/packet", "Mpkt/s");
    for (int m = 0; m < D_COUNT; m++) {
        printf("  %-28s %10.1f %10.2f\n", label[m], med[m], 1e3 / med[m]);
        summary("wire.%s.ns_per_pkt=%.2f", key[m], med[m]);
    }
    printf("  (the 10 fields: ");
    for (int f = 0; f < 10; f++)
        printf("%s%s", f ? " " : "", typical_fields[f]);
    printf(";\n   formatting them costs %.1f ns/packet over sn_dissect alone)\n", med[D_FIELDS] - med[D_DISSECT]);
    pkts_free(&P);
    return 0;
}

/* ---- 3. the big capture ------------------------------------------------------------- */

/* Repeating the mix verbatim would not look like traffic: the same TCP segments over
 * and over in one connection are retransmissions to a stateful reader (tshark's TCP
 * analysis then costs several times more per packet), the same fragment id reassembles
 * fragments of different datagrams. So cycle c > 0 moves every transport port >= 1024
 * (the client side; both directions alike, so each cycle is a new set of
 * conversations), the id of IPv4 and IPv6 fragments and the sequence number of ICMP
 * echoes, and patches the checksums that cover them incrementally (RFC 1624). */
struct edit {
    int ip4frag;  /* frame offset of the IPv4 header of a fragment, or -1 */
    int frag6;    /* frame offset of an IPv6 fragment header, or -1 */
    int l4;       /* frame offset of the outer TCP/UDP header, or -1 */
    int l4csum;   /* offset of its checksum field within that header (16 TCP, 6 UDP) */
    int udp;      /* l4 is UDP: a zero checksum means none (IPv4) */
    int echo;     /* frame offset of an outer ICMP/ICMPv6 echo header, or -1 */
};

static void edit_find(const uint8_t *frame, const struct pk *k, struct edit *e)
{
    static struct sn_dissect d;
    *e = (struct edit){-1, -1, -1, 0, 0, -1};
    if (sn_dissect(frame, k->caplen, k->wirelen, k->linktype, &d) < 0)
        return;
    for (int i = 0; i < d.n; i++) {
        const struct sn_layer *l = &d.l[i];
        if (!l->complete || l->inner)
            continue;
        switch (l->kind) {
        case SN_LAYER_IPV4:
            if (l->u.ipv4.mf || l->u.ipv4.frag_off)
                e->ip4frag = (int)l->off;
            break;
        case SN_LAYER_IPV6: {
            const struct sn_ipv6_chain *ch = &l->u.ipv6.chain;
            for (int j = 0; j < ch->n; j++)
                if (ch->ext[j].type == SN_IPPROTO_FRAGMENT && l->off + ch->ext[j].off + 8u <= k->caplen)
                    e->frag6 = (int)(l->off + ch->ext[j].off);
            break;
        }
        case SN_LAYER_TCP:
        case SN_LAYER_UDP:
            if (e->l4 < 0) {
                e->l4 = (int)l->off;
                e->udp = l->kind == SN_LAYER_UDP;
                e->l4csum = e->udp ? 6 : 16;
            }
            break;
        case SN_LAYER_ICMP4:
            if (l->u.icmp4.type == SN_ICMP_ECHO || l->u.icmp4.type == SN_ICMP_ECHOREPLY)
                e->echo = (int)l->off;
            break;
        case SN_LAYER_ICMP6:
            if (l->u.icmp6.type == SN_ICMP6_ECHO || l->u.icmp6.type == SN_ICMP6_ECHOREPLY)
                e->echo = (int)l->off;
            break;
        default: break;
        }
    }
}

/* Store v in the 16-bit field at f + at and patch the checksum at f + csum (RFC 1624). */
static void set16(uint8_t *f, int at, int csum, uint16_t v, int udp)
{
    uint16_t old = sn_load_be16(f + at), c = sn_load_be16(f + csum);
    sn_store_be16(f + at, v);
    if (udp && c == 0)
        return; /* UDP over IPv4 without a checksum stays without */
    c = sn_csum_update16(c, old, v);
    if (udp && c == 0)
        c = 0xffff; /* RFC 768: a computed zero is sent as all ones */
    sn_store_be16(f + csum, c);
}

static void edit_apply(uint8_t *f, const struct edit *e, uint32_t c)
{
    if (e->ip4frag >= 0)
        set16(f, e->ip4frag + 4, e->ip4frag + 10, (uint16_t)(sn_load_be16(f + e->ip4frag + 4) + c), 0);
    if (e->frag6 >= 0)
        sn_store_be32(f + e->frag6 + 4, sn_load_be32(f + e->frag6 + 4) + c);
    if (e->l4 >= 0)
        for (int at = e->l4; at <= e->l4 + 2; at += 2) {
            uint32_t port = sn_load_be16(f + at);
            if (port >= 1024) /* 7919 is prime to 64512: 64512 cycles before a port repeats */
                set16(f, at, e->l4 + e->l4csum, (uint16_t)(1024 + (port - 1024 + c * 7919u) % 64512u), e->udp);
        }
    if (e->echo >= 0)
        set16(f, e->echo + 6, e->echo + 2, (uint16_t)(sn_load_be16(f + e->echo + 6) + c), 0);
}

static int mkpcap(const char *in, const char *out, const char *count)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(count, &end, 10);
    if (errno || *end || !*count || n == 0) {
        fprintf(stderr, "bench_wire: mkpcap wants a packet count >= 1, not '%s'\n", count);
        return 2;
    }
    struct pkts P;
    if (pkts_load(in, &P) < 0)
        return 1;
    struct edit *ed = calloc(P.n, sizeof(*ed));
    uint8_t *scratch = malloc(SN_PCAP_MAX_CAPLEN);
    if (!ed || !scratch) {
        fprintf(stderr, "bench_wire: out of memory\n");
        goto fail;
    }
    for (size_t i = 0; i < P.n; i++) {
        if (P.v[i].linktype != P.v[0].linktype) {
            fprintf(stderr, "bench_wire: %s mixes link types (%u, %u); a pcap has one\n", in, P.v[0].linktype,
                    P.v[i].linktype);
            goto fail;
        }
        edit_find(P.arena + P.v[i].off, &P.v[i], &ed[i]);
    }
    /* Classic pcap with microsecond stamps: what tcpdump writes and every reader reads.
     * One packet every 10 us from the first stamp of the mix (100 kpps). */
    struct sn_pcap_writer w;
    struct sn_pcap_writer_opts o = {.format = SN_PCAP_US, .linktype = P.v[0].linktype};
    int rc = sn_pcap_writer_open(&w, out, &o);
    if (rc < 0) {
        fprintf(stderr, "bench_wire: %s: %s\n", out, sn_strerror(rc));
        goto fail;
    }
    int64_t t0 = P.v[0].ts_ns > 0 ? P.v[0].ts_ns : 1700000000LL * 1000000000LL;
    for (unsigned long long i = 0; i < n && rc >= 0; i++) {
        size_t j = (size_t)(i % P.n);
        uint32_t cycle = (uint32_t)(i / P.n);
        const struct pk *k = &P.v[j];
        const uint8_t *data = P.arena + k->off;
        if (cycle) {
            memcpy(scratch, data, k->caplen);
            edit_apply(scratch, &ed[j], cycle);
            data = scratch;
        }
        rc = sn_pcap_write(&w, t0 + (int64_t)i * 10000, data, k->caplen, k->wirelen);
    }
    int rc2 = sn_pcap_writer_close(&w);
    if (rc < 0 || rc2 < 0) {
        fprintf(stderr, "bench_wire: %s: %s\n", out, sn_strerror(rc < 0 ? rc : rc2));
        goto fail;
    }
    struct stat st;
    if (stat(out, &st) == 0)
        printf("mkpcap: %llu packets (the %zu of the mix, %llu times, ports and ids moved each time), "
               "%.1f MB pcap -> %s\n", n, P.n, (n + P.n - 1) / P.n, (double)st.st_size / 1e6, out);
    free(ed);
    free(scratch);
    pkts_free(&P);
    return 0;
fail:
    free(ed);
    free(scratch);
    pkts_free(&P);
    return 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_wire csum\n"
                    "       bench_wire dissect FILE\n"
                    "       bench_wire mkpcap IN OUT N\n"
                    "Medians of BENCH_MICRO_RUNS runs (default 7, at least 5); key=value lines\n"
                    "are appended to $BENCH_SUMMARY when it is set.\n");
    return 2;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && !strcmp(argv[1], "csum"))
        return bench_csum();
    if (argc == 3 && !strcmp(argv[1], "dissect"))
        return bench_dissect(argv[2]);
    if (argc == 5 && !strcmp(argv[1], "mkpcap"))
        return mkpcap(argv[2], argv[3], argv[4]);
    return usage();
}
