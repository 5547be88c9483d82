/* test_scan.c — SipHash-2-4 against the paper's reference vectors, SYN cookies
 * (what is accepted and what is not), the packets a scan sends, the keyed
 * permutation (every index exactly once), the token bucket on a fake clock,
 * and the target/port spec parsers (valid tables, error tables, state intact
 * on failure). No privileges, no network.
 */
#include "../harness.h"
#include <sysnet/scan.h>
#include <sysnet/siphash.h>
#include <sysnet/sock.h>
#include <sysnet/wire.h>

#include <errno.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd64(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void key_seq(struct sn_scan_key *k, uint8_t start)
{
    for (int i = 0; i < 16; i++)
        k->k[i] = (uint8_t)(start + i);
}

/* ======================================================================
 * SipHash-2-4
 * ====================================================================== */

/* veorq/SipHash vectors.h, vectors_sip64: key 00 01 .. 0f, message i is the
 * i bytes 00 01 .. (i-1); each output as the reference's 8 bytes. */
static const char *const sip64[64] = {
    "310e0edd47db6f72", "fd67dc93c539f874", "5a4fa9d909806c0d", "2d7efbd796666785",
    "b7877127e09427cf", "8da699cd64557618", "cee3fe586e46c9cb", "37d1018bf50002ab",
    "6224939a79f5f593", "b0e4a90bdf82009e", "f3b9dd94c5bb5d7a", "a7ad6b22462fb3f4",
    "fbe50e86bc8f1e75", "903d84c02756ea14", "eef27a8e90ca23f7", "e545be4961ca29a1",
    "db9bc2577fcc2a3f", "9447be2cf5e99a69", "9cd38d96f0b3c14b", "bd6179a71dc96dbb",
    "98eea21af25cd6be", "c7673b2eb0cbf2d0", "883ea3e395675393", "c8ce5ccd8c030ca8",
    "94af49f6c650adb8", "eab8858ade92e1bc", "f315bb5bb835d817", "adcf6b0763612e2f",
    "a5c91da7acaa4dde", "716595876650a2a6", "28ef495c53a387ad", "42c341d8fa92d832",
    "ce7cf2722f512771", "e37859f94623f3a7", "381205bb1ab0e012", "ae97a10fd434e015",
    "b4a31508beff4d31", "81396229f0907902", "4d0cf49ee5d4dcca", "5c73336a76d8bf9a",
    "d0a704536ba93e0e", "925958fcd6420cad", "a915c29bc8067318", "952b79f3bc0aa6d4",
    "f21df2e41d4535f9", "87577519048f53a9", "10a56cf5dfcd9adb", "eb75095ccd986cd0",
    "51a9cb9ecba312e6", "96afadfc2ce666c7", "72fe52975a4364ee", "5a1645b276d592a1",
    "b274cb8ebf87870a", "6f9bb4203de7b381", "eaecb2a30b22a87f", "9924a43cc1315724",
    "bd838d3aafbf8db7", "0b1a2a3265d51aea", "135079a3231ce660", "932b2846e4d70666",
    "e1915f5cb1eca46c", "f325965ca16d629f", "575ff28e60381be5", "724506eb4c328a95",
};

static void hex8(const char *h, uint8_t out[8])
{
    for (int i = 0; i < 8; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

SN_TEST(siphash_reference_vectors)
{
    struct sn_scan_key k;
    key_seq(&k, 0);
    uint8_t msg[64], want[8], got[8];
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    for (int len = 0; len < 64; len++) {
        hex8(sip64[len], want);
        sn_store_le64(got, sn_siphash24(k.k, msg, (size_t)len));
        if (memcmp(got, want, 8)) {
            char m[64];
            snprintf(m, sizeof(m), "vector %d", len);
            sn_test_fail(__FILE__, __LINE__, m);
            return;
        }
    }
}

/* The paper's worked example (Appendix A): 15 bytes 00..0e -> a129ca6149be45e5. */
SN_TEST(siphash_paper_example)
{
    struct sn_scan_key k;
    key_seq(&k, 0);
    uint8_t msg[15];
    for (int i = 0; i < 15; i++)
        msg[i] = (uint8_t)i;
    CHECK(sn_siphash24(k.k, msg, 15) == 0xa129ca6149be45e5ULL);
}

SN_TEST(siphash_u64_is_the_8_byte_hash)
{
    struct sn_scan_key k;
    key_seq(&k, 0x40);
    for (int i = 0; i < 1000; i++) {
        uint64_t v = rnd64();
        uint8_t b[8];
        sn_store_le64(b, v);
        CHECK(sn_siphash24_u64(k.k, v) == sn_siphash24(k.k, b, 8));
    }
    /* Unaligned input reads the same. */
    uint8_t buf[80];
    for (int i = 0; i < 80; i++)
        buf[i] = (uint8_t)rnd64();
    CHECK(sn_siphash24(k.k, buf + 1, 37) == sn_siphash24(k.k, memcpy(buf + 40, buf + 1, 37), 37));
}

/* ======================================================================
 * Cookies and packets
 * ====================================================================== */

static const uint8_t US[4] = {198, 18, 5, 1}, THEM[4] = {198, 18, 5, 2};

/* A reply from THEM:dport to US:sport, IPv4 + TCP, checksums right. */
static size_t mk_reply(uint8_t *p, uint16_t flags, uint32_t seq, uint32_t ack, uint16_t tport,
                       uint16_t uport, const uint8_t from[4])
{
    struct sn_ipaddrs ip = {4, from, US};
    struct sn_tcp_repr t = {.sport = tport, .dport = uport, .seq = seq, .ack = ack,
                            .flags = flags, .window = 64240, .has_mss = !!(flags & SN_TCP_SYN),
                            .mss = 1460};
    int tl = sn_tcp_emit(&t, &ip, p + 20, 100);
    struct sn_ipv4_repr h = {.payload_len = (uint16_t)tl, .ttl = 64, .proto = SN_IPPROTO_TCP,
                             .df = 1};
    memcpy(h.src, from, 4);
    memcpy(h.dst, US, 4);
    int hl = sn_ipv4_emit(&h, p, 20);
    return (size_t)(hl + tl);
}

SN_TEST(cookie_syn_parses_back)
{
    struct sn_scan_key k;
    key_seq(&k, 7);
    struct sn_scan_probe pr = {.sport = 40123, .dport = 80};
    memcpy(pr.src, US, 4);
    memcpy(pr.dst, THEM, 4);
    uint8_t p[64];
    CHECK_EQ(sn_scan_syn_emit(&k, &pr, p, sizeof(p)), SN_SCAN_SYN_LEN);
    CHECK_EQ(sn_scan_syn_emit(&k, &pr, p, SN_SCAN_SYN_LEN - 1), -ENOSPC);
    struct sn_ipv4_repr ip;
    CHECK_EQ(sn_ipv4_parse(p, SN_SCAN_SYN_LEN, SN_WIRE_CSUM, &ip), 20);
    CHECK_EQ(ip.ttl, 255);
    CHECK_EQ(ip.proto, SN_IPPROTO_TCP);
    CHECK_MEM(ip.src, US, 4);
    CHECK_MEM(ip.dst, THEM, 4);
    struct sn_ipaddrs a = {4, p + 12, p + 16};
    struct sn_tcp_repr t;
    CHECK_EQ(sn_tcp_parse(p + 20, 24, &a, &t), 24);
    CHECK_EQ(t.flags, SN_TCP_SYN);
    CHECK_EQ(t.sport, 40123);
    CHECK_EQ(t.dport, 80);
    CHECK_EQ(t.ack, 0);
    CHECK_EQ(t.window, 1024);
    CHECK(t.has_mss && t.mss == 1460);
    struct sn_ipaddrs probe = {4, US, THEM};
    CHECK_EQ(t.seq, sn_scan_cookie(&k, &probe, 40123, 80));
    /* The id varies with the cookie. */
    CHECK_EQ(ip.id, t.seq >> 16);
}

SN_TEST(cookie_depends_on_every_input)
{
    struct sn_scan_key k, k2;
    key_seq(&k, 1);
    key_seq(&k2, 2);
    uint8_t other[4] = {198, 18, 5, 3};
    struct sn_ipaddrs p = {4, US, THEM}, q = {4, US, other}, r = {4, other, THEM},
                      s = {4, THEM, US};
    uint32_t c = sn_scan_cookie(&k, &p, 1000, 80);
    CHECK(c != sn_scan_cookie(&k2, &p, 1000, 80));
    CHECK(c != sn_scan_cookie(&k, &q, 1000, 80));
    CHECK(c != sn_scan_cookie(&k, &r, 1000, 80));
    CHECK(c != sn_scan_cookie(&k, &s, 1000, 80));
    CHECK(c != sn_scan_cookie(&k, &p, 1001, 80));
    CHECK(c != sn_scan_cookie(&k, &p, 1000, 81));
    CHECK(c != sn_scan_cookie(&k, &p, 80, 1000));
    CHECK(c == sn_scan_cookie(&k, &p, 1000, 80));
    /* IPv6: 36 bytes hashed. */
    uint8_t a6[16] = {0x20, 0x01, 0, 2}, b6[16] = {0x20, 0x01, 0, 2};
    a6[15] = 1;
    b6[15] = 2;
    struct sn_ipaddrs v6 = {6, a6, b6}, v6b = {6, b6, a6};
    CHECK(sn_scan_cookie(&k, &v6, 1000, 80) != sn_scan_cookie(&k, &v6b, 1000, 80));
    /* The key is the cookie's low 32 bits of SipHash over src|dst|sport|dport. */
    uint8_t m[12];
    memcpy(m, US, 4);
    memcpy(m + 4, THEM, 4);
    sn_store_be16(m + 8, 1000);
    sn_store_be16(m + 10, 80);
    CHECK_EQ(c, (uint32_t)sn_siphash24(k.k, m, 12));
}

SN_TEST(cookie_accepts_our_answers)
{
    struct sn_scan_key k;
    key_seq(&k, 9);
    struct sn_ipaddrs probe = {4, US, THEM};
    uint32_t c = sn_scan_cookie(&k, &probe, 50000, 443);
    uint8_t p[100];
    struct sn_scan_reply r;
    size_t n = mk_reply(p, SN_TCP_SYN | SN_TCP_ACK, 0x12345678, c + 1, 443, 50000, THEM);
    CHECK_EQ(sn_scan_reply_parse(&k, p, n, 50000, SN_SCAN_TCP_CSUM, &r), 1);
    CHECK_EQ(r.status, SN_SCAN_OPEN);
    CHECK_EQ(r.port, 443);
    CHECK_EQ(r.sport, 50000);
    CHECK_MEM(r.target, THEM, 4);
    CHECK_MEM(r.local, US, 4);
    CHECK_EQ(r.seq, 0x12345678);
    CHECK_EQ(r.ack, c + 1);
    CHECK_EQ(r.mss, 1460);
    CHECK_EQ(r.ttl, 64);
    /* sport 0: any destination port. */
    CHECK_EQ(sn_scan_reply_parse(&k, p, n, 0, 0, &r), 1);
    /* RST|ACK as RFC 9293 §3.10.7.1 sends it: seq 0, ack = cookie + 1. */
    n = mk_reply(p, SN_TCP_RST | SN_TCP_ACK, 0, c + 1, 443, 50000, THEM);
    CHECK_EQ(sn_scan_reply_parse(&k, p, n, 50000, SN_SCAN_TCP_CSUM, &r), 1);
    CHECK_EQ(r.status, SN_SCAN_CLOSED);
    /* An RST with the ACK bit forgotten but the field echoed (masscan reads it too). */
    n = mk_reply(p, SN_TCP_RST, 0, c + 1, 443, 50000, THEM);
    CHECK_EQ(sn_scan_reply_parse(&k, p, n, 50000, 0, &r), 1);
    CHECK_EQ(r.status, SN_SCAN_CLOSED);
    /* The cookie wraps: c = 0xffffffff answers with ack 0. */
    struct sn_tcp_repr t = {.sport = 443, .dport = 50000, .flags = SN_TCP_SYN | SN_TCP_ACK,
                            .ack = c + 1};
    CHECK_EQ(sn_scan_match(&k, &(struct sn_ipaddrs){4, THEM, US}, &t), SN_SCAN_OPEN);
}

SN_TEST(cookie_rejects_everything_else)
{
    struct sn_scan_key k, k2;
    key_seq(&k, 9);
    key_seq(&k2, 10);
    struct sn_ipaddrs probe = {4, US, THEM};
    uint32_t c = sn_scan_cookie(&k, &probe, 50000, 443);
    uint8_t p[100], other[4] = {198, 18, 5, 77};
    struct sn_scan_reply r;
    memset(&r, 0xaa, sizeof(r));
    struct sn_scan_reply before = r;
    const struct {
        const char *what;
        uint16_t flags;
        uint32_t ack;
        uint16_t tport, uport;
        const uint8_t *from;
    } bad[] = {
        {"ack == cookie", SN_TCP_SYN | SN_TCP_ACK, c, 443, 50000, THEM},
        {"ack == cookie + 2", SN_TCP_SYN | SN_TCP_ACK, c + 2, 443, 50000, THEM},
        {"rst ack == cookie", SN_TCP_RST | SN_TCP_ACK, c, 443, 50000, THEM},
        {"other port answers", SN_TCP_SYN | SN_TCP_ACK, c + 1, 444, 50000, THEM},
        {"other host answers", SN_TCP_SYN | SN_TCP_ACK, c + 1, 443, 50000, other},
        {"to another of our ports", SN_TCP_SYN | SN_TCP_ACK, c + 1, 443, 50001, THEM},
        {"syn without ack", SN_TCP_SYN, c + 1, 443, 50000, THEM},
        {"bare ack", SN_TCP_ACK, c + 1, 443, 50000, THEM},
        {"fin ack", SN_TCP_FIN | SN_TCP_ACK, c + 1, 443, 50000, THEM},
        {"syn+rst", SN_TCP_SYN | SN_TCP_ACK | SN_TCP_RST, c + 1, 443, 50000, THEM},
    };
    for (size_t i = 0; i < SN_COUNTOF(bad); i++) {
        size_t n = mk_reply(p, bad[i].flags, 1, bad[i].ack, bad[i].tport, bad[i].uport, bad[i].from);
        if (sn_scan_reply_parse(&k, p, n, 0, SN_SCAN_TCP_CSUM, &r) != 0) {
            sn_test_fail(__FILE__, __LINE__, bad[i].what);
            return;
        }
    }
    CHECK_MEM(&r, &before, sizeof(r));
    /* Right packet, wrong key. */
    size_t n = mk_reply(p, SN_TCP_SYN | SN_TCP_ACK, 1, c + 1, 443, 50000, THEM);
    CHECK_EQ(sn_scan_reply_parse(&k2, p, n, 50000, 0, &r), 0);
    /* Right packet, another scan's source port. */
    CHECK_EQ(sn_scan_reply_parse(&k, p, n, 50001, 0, &r), 0);
    /* A bad TCP checksum: only refused when asked to verify. */
    p[n - 1] ^= 0x40;
    CHECK_EQ(sn_scan_reply_parse(&k, p, n, 50000, SN_SCAN_TCP_CSUM, &r), -EILSEQ);
    CHECK_EQ(sn_scan_reply_parse(&k, p, n, 50000, 0, &r), 1);
    p[n - 1] ^= 0x40;
    /* A bad IP header checksum is always refused. */
    p[8] ^= 1;
    CHECK_EQ(sn_scan_reply_parse(&k, p, n, 50000, 0, &r), -EILSEQ);
    p[8] ^= 1;
    /* Truncated: every shorter length fails cleanly. */
    for (size_t cut = 0; cut < n; cut++)
        CHECK(sn_scan_reply_parse(&k, p, cut, 50000, 0, &r) < 0);
    /* Not TCP. */
    p[9] = SN_IPPROTO_UDP;
    sn_store_be16(p + 10, 0);
    sn_store_be16(p + 10, sn_csum(p, 20));
    CHECK_EQ(sn_scan_reply_parse(&k, p, n, 50000, 0, &r), 0);
    /* A fragment. */
    n = mk_reply(p, SN_TCP_SYN | SN_TCP_ACK, 1, c + 1, 443, 50000, THEM);
    p[6] |= 0x20; /* MF */
    sn_store_be16(p + 10, 0);
    sn_store_be16(p + 10, sn_csum(p, 20));
    CHECK_EQ(sn_scan_reply_parse(&k, p, n, 50000, 0, &r), 0);
}

SN_TEST(cookie_rst_answers_the_synack)
{
    struct sn_scan_key k;
    key_seq(&k, 3);
    struct sn_ipaddrs probe = {4, US, THEM};
    uint32_t c = sn_scan_cookie(&k, &probe, 50000, 22);
    uint8_t p[100];
    struct sn_scan_reply r;
    size_t n = mk_reply(p, SN_TCP_SYN | SN_TCP_ACK, 777, c + 1, 22, 50000, THEM);
    CHECK_EQ(sn_scan_reply_parse(&k, p, n, 50000, 0, &r), 1);
    uint8_t q[64];
    CHECK_EQ(sn_scan_rst_emit(&r, q, SN_SCAN_RST_LEN - 1), -ENOSPC);
    CHECK_EQ(sn_scan_rst_emit(&r, q, sizeof(q)), SN_SCAN_RST_LEN);
    struct sn_ipv4_repr ip;
    CHECK_EQ(sn_ipv4_parse(q, SN_SCAN_RST_LEN, SN_WIRE_CSUM, &ip), 20);
    CHECK_MEM(ip.src, US, 4);
    CHECK_MEM(ip.dst, THEM, 4);
    struct sn_ipaddrs a = {4, q + 12, q + 16};
    struct sn_tcp_repr t;
    CHECK_EQ(sn_tcp_parse(q + 20, 20, &a, &t), 20);
    CHECK_EQ(t.flags, SN_TCP_RST);
    CHECK_EQ(t.sport, 50000);
    CHECK_EQ(t.dport, 22);
    CHECK_EQ(t.seq, c + 1); /* exactly what the target expects next */
}

/* ======================================================================
 * The permutation
 * ====================================================================== */

static int perm_is_bijection(uint64_t n, const struct sn_scan_key *k, uint64_t *fixed)
{
    struct sn_scan_perm p;
    if (sn_scan_perm_init(&p, n, k) < 0)
        return 0;
    size_t words = (size_t)(n + 63) / 64;
    uint64_t *seen = calloc(words, 8);
    int ok = 1;
    *fixed = 0;
    for (uint64_t i = 0; i < n && ok; i++) {
        uint64_t x = sn_scan_perm_at(&p, i);
        if (x >= n || (seen[x / 64] >> (x % 64) & 1))
            ok = 0;
        else
            seen[x / 64] |= 1ULL << (x % 64);
        *fixed += x == i;
    }
    free(seen);
    return ok;
}

SN_TEST(perm_visits_each_index_once)
{
    static const uint64_t sizes[] = {
        1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13, 15, 16, 17, 31, 32, 33, 61, 63, 64, 65, 97, 127,
        128, 129, 251, 255, 256, 257, 1000, 1021, 1023, 1024, 1025, 2124, 4093, 4096, 4097,
        10007, 16384, 65521, 65535, 65536, 65537, 100003, 262144,
    };
    for (int kk = 0; kk < 3; kk++) {
        struct sn_scan_key k;
        key_seq(&k, (uint8_t)(kk * 31));
        for (size_t s = 0; s < SN_COUNTOF(sizes); s++) {
            uint64_t fixed;
            if (!perm_is_bijection(sizes[s], &k, &fixed)) {
                char m[80];
                snprintf(m, sizeof(m), "not a bijection for n = %" PRIu64, sizes[s]);
                sn_test_fail(__FILE__, __LINE__, m);
                return;
            }
            /* A random permutation has about one fixed point; allow plenty. */
            if (sizes[s] >= 1000)
                CHECK(fixed < sizes[s] / 100);
        }
    }
}

SN_TEST(perm_random_sizes_and_keys)
{
    for (int round = 0; round < 40; round++) {
        struct sn_scan_key k;
        for (int i = 0; i < 16; i++)
            k.k[i] = (uint8_t)rnd64();
        uint64_t n = 1 + rnd64() % 20000, fixed;
        CHECK(perm_is_bijection(n, &k, &fixed));
    }
}

SN_TEST(perm_depends_on_key_and_bounds)
{
    struct sn_scan_key a, b;
    key_seq(&a, 0);
    key_seq(&b, 1);
    struct sn_scan_perm pa, pb;
    CHECK_EQ(sn_scan_perm_init(&pa, 1000, &a), 0);
    CHECK_EQ(sn_scan_perm_init(&pb, 1000, &b), 0);
    int same = 0, adjacent = 0;
    for (uint64_t i = 0; i < 1000; i++) {
        same += sn_scan_perm_at(&pa, i) == sn_scan_perm_at(&pb, i);
        if (i && sn_scan_perm_at(&pa, i) == sn_scan_perm_at(&pa, i - 1) + 1)
            adjacent++;
    }
    CHECK(same < 20);
    CHECK(adjacent < 50); /* consecutive probes go to unrelated targets */
    CHECK_EQ(sn_scan_perm_at(&pa, 1000), 1000);
    CHECK_EQ(sn_scan_perm_at(&pa, UINT64_MAX), UINT64_MAX);
    CHECK_EQ(sn_scan_perm_init(&pa, 0, &a), -EINVAL);
    CHECK_EQ(sn_scan_perm_init(&pa, SN_SCAN_PERM_MAX + 1, &a), -EINVAL);
    /* The largest domains work (sample: results in range, deterministic). */
    CHECK_EQ(sn_scan_perm_init(&pa, SN_SCAN_PERM_MAX, &a), 0);
    for (int i = 0; i < 100; i++) {
        uint64_t x = rnd64() % SN_SCAN_PERM_MAX;
        CHECK(sn_scan_perm_at(&pa, x) < SN_SCAN_PERM_MAX);
        CHECK(sn_scan_perm_at(&pa, x) == sn_scan_perm_at(&pa, x));
    }
    CHECK_EQ(sn_scan_perm_init(&pa, (1ULL << 48) + 12345, &a), 0);
    CHECK(sn_scan_perm_at(&pa, 99) < (1ULL << 48) + 12345);
}

/* ======================================================================
 * The token bucket (fake clock)
 * ====================================================================== */

/* Take greedily at steps of `step` ns (plus jitter) for `secs` seconds. */
static uint64_t run_bucket(uint64_t pps, uint64_t burst, uint64_t step, int secs, int jitter)
{
    struct sn_scan_rate r;
    uint64_t t = 1000000000ULL, end = t + (uint64_t)secs * 1000000000ULL, total = 0;
    if (sn_scan_rate_init(&r, pps, burst, t) < 0)
        return 0;
    while (t < end) {
        total += sn_scan_rate_take(&r, t, 1000000);
        t += step + (jitter ? rnd64() % step : 0);
    }
    return total;
}

static int within(uint64_t got, uint64_t want, double frac)
{
    double d = (double)got - (double)want;
    return (d < 0 ? -d : d) <= frac * (double)want + 2;
}

SN_TEST(rate_long_run_is_exact)
{
    CHECK(within(run_bucket(1000, 0, 37000, 10, 0), 10000, 0.01));
    CHECK(within(run_bucket(1000, 0, 1000000, 10, 0), 10000, 0.01));
    CHECK(within(run_bucket(5000, 0, 999, 10, 1), 50000, 0.01));
    CHECK(within(run_bucket(1000000, 0, 20000, 5, 1), 5000000, 0.01)); /* steps < 64 us burst */
    CHECK(within(run_bucket(7, 1, 1000000, 100, 0), 700, 0.02));
    /* Steps longer than the bucket holds lose credit (by design: bursts are bounded). */
    uint64_t slow = run_bucket(1000, 4, 10000000, 10, 0);
    CHECK(slow <= 10 * 100 * 4 + 4);
}

SN_TEST(rate_bursts_are_bounded)
{
    struct sn_scan_rate r;
    CHECK_EQ(sn_scan_rate_init(&r, 5000, 0, 0), 0);
    CHECK_EQ(sn_scan_rate_take(&r, 0, 100), 1);          /* one token at start */
    CHECK_EQ(sn_scan_rate_take(&r, 0, 100), 0);
    CHECK_EQ(sn_scan_rate_delay(&r, 0), 200000);         /* 1/5000 s */
    CHECK_EQ(sn_scan_rate_delay(&r, 150000), 50000);
    CHECK_EQ(sn_scan_rate_take(&r, 199999, 100), 0);
    CHECK_EQ(sn_scan_rate_take(&r, 200000, 100), 1);
    /* After a long idle spell: at most the burst (5000/100 = 50). */
    CHECK_EQ(sn_scan_rate_take(&r, 60ULL * 1000000000ULL, 1000), 50);
    CHECK_EQ(sn_scan_rate_take(&r, 60ULL * 1000000000ULL, 1000), 0);
    /* A clock that steps back grants nothing new. */
    CHECK_EQ(sn_scan_rate_take(&r, 1000, 1000), 0);
    CHECK_EQ(sn_scan_rate_delay(&r, 1000), 200000);
    /* Explicit burst; limits. */
    CHECK_EQ(sn_scan_rate_init(&r, 100, 3, 0), 0);
    CHECK_EQ(sn_scan_rate_take(&r, 10ULL * 1000000000ULL, 100), 3);
    CHECK_EQ(sn_scan_rate_init(&r, 0, 0, 0), -EINVAL);
    CHECK_EQ(sn_scan_rate_init(&r, SN_SCAN_RATE_MAX + 1, 0, 0), -EINVAL);
    CHECK_EQ(sn_scan_rate_init(&r, 10, SN_SCAN_BURST_MAX + 1, 0), -EINVAL);
    CHECK_EQ(sn_scan_rate_init(&r, SN_SCAN_RATE_MAX, SN_SCAN_BURST_MAX, 0), 0);
    CHECK_EQ(sn_scan_rate_take(&r, UINT64_MAX, UINT64_MAX), SN_SCAN_BURST_MAX);
    /* Small default burst for slow rates: 1. */
    CHECK_EQ(sn_scan_rate_init(&r, 10, 0, 0), 0);
    CHECK_EQ(sn_scan_rate_take(&r, 100ULL * 1000000000ULL, 100), 1);
}

/* ======================================================================
 * Targets and ports
 * ====================================================================== */

static struct sn_scan_targets T, T2;

static int parse4(const char *s, uint8_t out[4])
{
    return sn_parse_ipv4(s, strlen(s), out);
}

static int add_a(struct sn_scan_targets *t, const char *s, const char **why)
{
    return sn_scan_targets_add_addrs(t, s, strlen(s), why);
}
static int add_p(struct sn_scan_targets *t, const char *s, const char **why)
{
    return sn_scan_targets_add_ports(t, s, strlen(s), why);
}

SN_TEST(targets_valid_specs)
{
    static const struct {
        const char *spec;
        uint64_t naddrs;
        uint32_t nranges;
        const char *first, *last;
    } ok[] = {
        {"198.18.0.1", 1, 1, "198.18.0.1", "198.18.0.1"},
        {"198.18.0.0/24", 256, 1, "198.18.0.0", "198.18.0.255"},
        {"198.18.0.77/24", 256, 1, "198.18.0.0", "198.18.0.255"},
        {"198.18.0.1/32", 1, 1, "198.18.0.1", "198.18.0.1"},
        {"198.18.0.0/31", 2, 1, "198.18.0.0", "198.18.0.1"},
        {"198.18.0.0/15", 131072, 1, "198.18.0.0", "198.19.255.255"},
        {"0.0.0.0/0", 1ULL << 32, 1, "0.0.0.0", "255.255.255.255"},
        {"198.18.0.1-198.18.0.9", 9, 1, "198.18.0.1", "198.18.0.9"},
        {"198.18.0.5-198.18.0.5", 1, 1, "198.18.0.5", "198.18.0.5"},
        {"198.18.0.1,198.18.0.3,198.18.0.2", 3, 1, "198.18.0.1", "198.18.0.3"},
        {"198.18.0.1,198.18.0.1", 1, 1, "198.18.0.1", "198.18.0.1"},
        {"198.18.1.0/24,198.18.0.0/24", 512, 1, "198.18.0.0", "198.18.1.255"},
        {"198.18.0.0/24,198.18.0.10-198.18.1.3", 260, 1, "198.18.0.0", "198.18.1.3"},
        {"198.18.0.9,198.18.0.1", 2, 2, "198.18.0.1", "198.18.0.9"},
        {"255.255.255.255,255.255.255.254", 2, 1, "255.255.255.254", "255.255.255.255"},
        {"0.0.0.0,255.255.255.255", 2, 2, "0.0.0.0", "255.255.255.255"},
    };
    for (size_t i = 0; i < SN_COUNTOF(ok); i++) {
        const char *why = "x";
        sn_scan_targets_init(&T);
        if (add_a(&T, ok[i].spec, &why) != 0 || why != NULL || T.naddrs != ok[i].naddrs ||
            T.nranges != ok[i].nranges) {
            char m[200];
            snprintf(m, sizeof(m), "'%s': naddrs %" PRIu64 " nranges %u", ok[i].spec, T.naddrs,
                     T.nranges);
            sn_test_fail(__FILE__, __LINE__, m);
            return;
        }
        uint8_t a[4], w[4];
        CHECK_EQ(sn_scan_targets_addr_at(&T, 0, a), 0);
        CHECK_EQ(parse4(ok[i].first, w), 0);
        CHECK_MEM(a, w, 4);
        CHECK_EQ(sn_scan_targets_addr_at(&T, T.naddrs - 1, a), 0);
        CHECK_EQ(parse4(ok[i].last, w), 0);
        CHECK_MEM(a, w, 4);
        CHECK_EQ(sn_scan_targets_addr_at(&T, T.naddrs, a), -ERANGE);
    }
    /* Several calls add up. */
    sn_scan_targets_init(&T);
    CHECK_EQ(add_a(&T, "198.18.0.1", NULL), 0);
    CHECK_EQ(add_a(&T, "198.18.0.2-198.18.0.4,198.18.2.0/30", NULL), 0);
    CHECK_EQ(T.naddrs, 8);
    CHECK_EQ(T.nranges, 2);
    /* No NUL needed: the length decides. */
    CHECK_EQ(sn_scan_targets_add_addrs(&T, "198.18.9.9XXXX", 10, NULL), 0);
    CHECK_EQ(T.naddrs, 9);
}

SN_TEST(targets_errors_leave_state_intact)
{
    static const struct {
        const char *spec;
        int err;
        const char *why;
    } bad[] = {
        {"", -EINVAL, "empty target list"},
        {",", -EINVAL, "empty item"},
        {"198.18.0.1,", -EINVAL, "empty item"},
        {",198.18.0.1", -EINVAL, "empty item"},
        {"198.18.0.1,,198.18.0.2", -EINVAL, "empty item"},
        {"198.18.0", -EINVAL, "not an IPv4 address"},
        {"198.18.0.256", -EINVAL, "not an IPv4 address"},
        {"198.18.0.01", -EINVAL, "not an IPv4 address"},
        {" 198.18.0.1", -EINVAL, "not an IPv4 address"},
        {"198.18.0.1 ", -EINVAL, "not an IPv4 address"},
        {"example.com", -EINVAL, "names are not resolved"},
        {"localhost", -EINVAL, "names are not resolved"},
        {"2001:2::1", -EINVAL, "IPv6"},
        {"2001:2::/48", -EINVAL, "IPv6"},
        {"198.18.0.0/33", -EINVAL, "CIDR prefix"},
        {"198.18.0.0/", -EINVAL, "CIDR prefix"},
        {"198.18.0.0/-1", -EINVAL, "CIDR prefix"},
        {"198.18.0.0/024", -EINVAL, "CIDR prefix"},
        {"198.18.0.0/2a", -EINVAL, "CIDR prefix"},
        {"/24", -EINVAL, "not an IPv4 address"},
        {"198.18.0.0/24/24", -EINVAL, "CIDR prefix"},
        {"198.18.0.9-198.18.0.1", -EINVAL, "lower address"},
        {"198.18.0.1-9", -EINVAL, "two full addresses"},
        {"198.18.0.1-", -EINVAL, "not an IPv4 address"},
        {"-198.18.0.1", -EINVAL, "not an IPv4 address"},
        {"198.18.0.1-198.18.0.2-198.18.0.3", -EINVAL, "not an IPv4 address"},
        {"198.18.0.1,bogus", -EINVAL, "names are not resolved"},
    };
    sn_scan_targets_init(&T);
    CHECK_EQ(add_a(&T, "198.18.7.0/24,198.18.9.1", NULL), 0);
    CHECK_EQ(add_p(&T, "80,443", NULL), 0);
    memcpy(&T2, &T, sizeof(T));
    for (size_t i = 0; i < SN_COUNTOF(bad); i++) {
        const char *why = NULL;
        int rc = add_a(&T, bad[i].spec, &why);
        if (rc != bad[i].err || !why || !strstr(why, bad[i].why) || strchr(why, '\n')) {
            char m[300];
            snprintf(m, sizeof(m), "'%s': rc %d why '%s'", bad[i].spec, rc, why ? why : "(null)");
            sn_test_fail(__FILE__, __LINE__, m);
            return;
        }
        /* The set is unchanged (entries past nranges are scratch space). */
        CHECK(T.nranges == T2.nranges && T.naddrs == T2.naddrs);
        CHECK_MEM(T.range, T2.range, T.nranges * sizeof(T.range[0]));
    }
    /* An embedded NUL; NULL why is fine. */
    CHECK_EQ(sn_scan_targets_add_addrs(&T, "198.18.0.1\0", 11, NULL), -EINVAL);
    /* Too long. */
    static char big[SN_SCAN_SPEC_MAX + 2];
    memset(big, '1', sizeof(big) - 1);
    CHECK_EQ(sn_scan_targets_add_addrs(&T, big, SN_SCAN_SPEC_MAX + 1, NULL), -E2BIG);
    CHECK_EQ(T.naddrs, T2.naddrs);
}

SN_TEST(targets_range_limit)
{
    /* 1025 separate addresses: too many ranges; 2000 adjacent ones merge into one. */
    static char spec[40000];
    size_t n = 0;
    for (int i = 0; i < 1025; i++)
        n += (size_t)snprintf(spec + n, sizeof(spec) - n, "%s198.18.%d.%d", i ? "," : "",
                              (2 * i) / 256, (2 * i) % 256);
    const char *why;
    sn_scan_targets_init(&T);
    CHECK_EQ(add_a(&T, "198.19.0.1", NULL), 0);
    CHECK_EQ(sn_scan_targets_add_addrs(&T, spec, n, &why), -E2BIG);
    CHECK(strstr(why, "1024"));
    CHECK_EQ(T.nranges, 1);
    CHECK_EQ(T.naddrs, 1);
    n = 0;
    for (int i = 0; i < 2000; i++)
        n += (size_t)snprintf(spec + n, sizeof(spec) - n, "%s198.18.%d.%d", i ? "," : "",
                              i / 256, i % 256);
    CHECK_EQ(sn_scan_targets_add_addrs(&T, spec, n, &why), 0);
    CHECK_EQ(T.nranges, 2);
    CHECK_EQ(T.naddrs, 2001);
    /* 1023 separate + the existing one: exactly at the limit. */
    sn_scan_targets_init(&T);
    CHECK_EQ(add_a(&T, "198.19.0.1", NULL), 0);
    n = 0;
    for (int i = 0; i < 1023; i++)
        n += (size_t)snprintf(spec + n, sizeof(spec) - n, "%s198.18.%d.%d", i ? "," : "",
                              (2 * i) / 256, (2 * i) % 256);
    CHECK_EQ(sn_scan_targets_add_addrs(&T, spec, n, &why), 0);
    CHECK_EQ(T.nranges, 1024);
    CHECK_EQ(add_a(&T, "198.19.0.9", &why), -E2BIG);
    CHECK_EQ(add_a(&T, "198.18.0.1", &why), -E2BIG); /* would merge, but we do not look */
    CHECK_EQ(T.nranges, 1024);
}

SN_TEST(ports_valid_and_invalid)
{
    static const struct {
        const char *spec;
        uint32_t n;
    } ok[] = {
        {"80", 1}, {"1-65535", 65535}, {"22,80,8000-8100", 103}, {"80,80,80", 1},
        {"1-1024,8000-9100", 2125}, {"65535", 1}, {"1", 1}, {"100-100", 1},
        {"8080,80", 2}, {"1-100,50-150", 150}, {"080", 1},
    };
    for (size_t i = 0; i < SN_COUNTOF(ok); i++) {
        sn_scan_targets_init(&T);
        const char *why = "x";
        CHECK_EQ(add_p(&T, ok[i].spec, &why), 0);
        CHECK(why == NULL);
        CHECK_EQ(T.nports, ok[i].n);
    }
    static const struct {
        const char *spec;
        const char *why;
    } bad[] = {
        {"", "empty port list"}, {"0", "1 to 65535"}, {"65536", "1 to 65535"},
        {"100000", "1 to 65535"}, {"80,", "empty item"}, {",80", "empty item"},
        {"80,,81", "empty item"}, {"http", "1 to 65535"}, {"-80", "1 to 65535"},
        {"80-", "1 to 65535"}, {"100-90", "low to high"}, {"1-2-3", "1 to 65535"},
        {" 80", "1 to 65535"}, {"+80", "1 to 65535"}, {"0-10", "1 to 65535"},
        {"80,0x50", "1 to 65535"},
    };
    sn_scan_targets_init(&T);
    CHECK_EQ(add_p(&T, "22,443", NULL), 0);
    memcpy(&T2, &T, sizeof(T));
    for (size_t i = 0; i < SN_COUNTOF(bad); i++) {
        const char *why = NULL;
        int rc = add_p(&T, bad[i].spec, &why);
        if (rc != -EINVAL || !why || !strstr(why, bad[i].why)) {
            char m[300];
            snprintf(m, sizeof(m), "'%s': rc %d why '%s'", bad[i].spec, rc, why ? why : "(null)");
            sn_test_fail(__FILE__, __LINE__, m);
            return;
        }
        CHECK_MEM(&T, &T2, sizeof(T));
    }
}

SN_TEST(targets_index_roundtrip)
{
    sn_scan_targets_init(&T);
    CHECK_EQ(add_a(&T, "198.18.5.0/30,198.18.9.7,198.18.200.250-198.18.201.3", NULL), 0);
    CHECK_EQ(add_p(&T, "22,80,443,8000-8003,65535,1", NULL), 0);
    CHECK_EQ(T.naddrs, 4 + 1 + 10);
    CHECK_EQ(T.nports, 9);
    uint64_t n = sn_scan_targets_count(&T);
    CHECK_EQ(n, 15 * 9);
    uint16_t prev_port = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t a[4];
        uint16_t port;
        uint64_t j;
        CHECK_EQ(sn_scan_targets_at(&T, i, a, &port), 0);
        CHECK_EQ(sn_scan_targets_index(&T, a, port, &j), 0);
        CHECK_EQ(j, i);
        if (i % T.naddrs == 0) { /* ports ascend, one per block of naddrs */
            CHECK(port > prev_port || i == 0);
            prev_port = port;
        }
    }
    uint8_t a[4];
    uint16_t port;
    CHECK_EQ(sn_scan_targets_at(&T, n, a, &port), -ERANGE);
    CHECK_EQ(sn_scan_targets_port_at(&T, 0, &port), 0);
    CHECK_EQ(port, 1);
    CHECK_EQ(sn_scan_targets_port_at(&T, 8, &port), 0);
    CHECK_EQ(port, 65535);
    CHECK_EQ(sn_scan_targets_port_at(&T, 9, &port), -ERANGE);
    uint64_t j;
    const uint8_t out1[4] = {198, 18, 5, 4}, out2[4] = {198, 18, 9, 6}, in[4] = {198, 18, 201, 0};
    CHECK_EQ(sn_scan_targets_index(&T, out1, 80, &j), -ENOENT);
    CHECK_EQ(sn_scan_targets_index(&T, out2, 80, &j), -ENOENT);
    CHECK_EQ(sn_scan_targets_index(&T, in, 81, &j), -ENOENT);
    CHECK_EQ(sn_scan_targets_index(&T, in, 0, &j), -ENOENT);
    CHECK_EQ(sn_scan_targets_index(&T, in, 8003, &j), 0);
    /* Empty sets. */
    sn_scan_targets_init(&T);
    CHECK_EQ(sn_scan_targets_count(&T), 0);
    CHECK_EQ(sn_scan_targets_index(&T, in, 80, &j), -ENOENT);
    CHECK_EQ(add_p(&T, "1-65535", NULL), 0);
    CHECK_EQ(sn_scan_targets_index(&T, in, 80, &j), -ENOENT);
    CHECK_EQ(add_a(&T, "0.0.0.0/0", NULL), 0);
    CHECK_EQ(sn_scan_targets_count(&T), 65535ULL << 32);
    const uint8_t top[4] = {255, 255, 255, 255};
    CHECK_EQ(sn_scan_targets_index(&T, top, 65535, &j), 0);
    CHECK_EQ(j, (65535ULL << 32) - 1);
}

SN_TEST(states_first_answer_wins)
{
    uint8_t st[3];
    CHECK_EQ(sn_scan_states_size(10), 3);
    memset(st, 0, sizeof(st));
    CHECK_EQ(sn_scan_state_set(st, 5, SN_SCAN_OPEN), SN_SCAN_NONE);
    CHECK_EQ(sn_scan_state_set(st, 5, SN_SCAN_CLOSED), SN_SCAN_OPEN);
    CHECK_EQ(sn_scan_state_get(st, 5), SN_SCAN_OPEN);
    CHECK_EQ(sn_scan_state_set(st, 9, SN_SCAN_CLOSED), SN_SCAN_NONE);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(sn_scan_state_get(st, (uint64_t)i), i == 5 ? SN_SCAN_OPEN : i == 9 ? SN_SCAN_CLOSED : 0);
    CHECK_STR(sn_scan_status_name(SN_SCAN_OPEN), "open");
    CHECK_STR(sn_scan_status_name(SN_SCAN_CLOSED), "closed");
    CHECK_STR(sn_scan_status_name(SN_SCAN_FILTERED), "filtered");
}

SN_TEST(key_random_differs)
{
    struct sn_scan_key a, b;
    CHECK_EQ(sn_scan_key_random(&a), 0);
    CHECK_EQ(sn_scan_key_random(&b), 0);
    CHECK(memcmp(&a, &b, sizeof(a)) != 0);
}

SN_TEST(run_refuses_bad_configs)
{
    /* Bad configs are refused before any socket is opened. */
    struct sn_scan_key k;
    key_seq(&k, 0);
    sn_scan_targets_init(&T);
    uint8_t st[4] = {0};
    struct sn_scan_config c = {.targets = &T, .key = &k, .sport = 40000, .rate = 100, .states = st};
    struct sn_scan_stats s;
    CHECK_EQ(sn_scan_run(&c, &s), -EINVAL); /* empty target set */
    CHECK_EQ(add_a(&T, "127.0.0.1", NULL), 0);
    CHECK_EQ(add_p(&T, "9", NULL), 0);
    c.sport = 0;
    CHECK_EQ(sn_scan_run(&c, &s), -EINVAL);
    c.sport = 40000;
    c.rate = 0;
    CHECK_EQ(sn_scan_run(&c, &s), -EINVAL);
    c.rate = SN_SCAN_RATE_MAX + 1;
    CHECK_EQ(sn_scan_run(&c, &s), -EINVAL);
    c.rate = 100;
    c.states = NULL;
    CHECK_EQ(sn_scan_run(&c, &s), -EINVAL);
    CHECK_EQ(s.sent, 0);
}
