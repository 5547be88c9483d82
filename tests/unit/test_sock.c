/* test_sock.c — address text (against glibc's inet_ntop/inet_pton), struct
 * sn_addr, typed sockets and options, non-blocking connect, and batched UDP
 * with kernel timestamps. Network traffic: loopback only (127.0.0.1, ::1).
 */
#include "../harness.h"
#include <sysnet/sock.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/tcp.h>

/* ---- helpers ------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* The lowest free descriptor number: unchanged across a call = nothing leaked. */
static int lowest_free_fd(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
        close(fd);
    return fd;
}

/* 1 if ::1 can be bound here (some containers have no IPv6). */
static int have_ipv6(void)
{
    struct sn_addr lo;
    sn_addr_loopback(&lo, AF_INET6, 0);
    struct sn_sock_opts o = {.type = SOCK_DGRAM, .bind = &lo};
    int fd = sn_sock_open(&o);
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

/* ---- MAC / IPv4 formatting ----------------------------------------------- */

SN_TEST(fmt_mac_lowercase_and_enospc)
{
    const uint8_t m[6] = {0xAA, 0x0b, 0xc0, 0x00, 0xee, 0xFF};
    char out[SN_MAC_STRLEN];
    CHECK_EQ(sn_fmt_mac(m, out, sizeof(out)), 17);
    CHECK_STR(out, "aa:0b:c0:00:ee:ff");
    for (size_t cap = 0; cap < 18; cap++) {
        char small[18];
        memset(small, 'x', sizeof(small));
        CHECK_EQ(sn_fmt_mac(m, small, cap), -ENOSPC);
        if (cap)
            CHECK_EQ(small[0], '\0');
    }
}

SN_TEST(fmt_ipv4_matches_inet_ntop)
{
    static const uint8_t fixed[][4] = {{0, 0, 0, 0}, {255, 255, 255, 255}, {127, 0, 0, 1},
                                       {198, 18, 0, 1}, {10, 100, 9, 99}, {1, 20, 100, 200}};
    char a[SN_IPV4_STRLEN], b[INET_ADDRSTRLEN];
    for (size_t i = 0; i < SN_COUNTOF(fixed); i++) {
        CHECK(sn_fmt_ipv4(fixed[i], a, sizeof(a)) > 0);
        CHECK_STR(a, inet_ntop(AF_INET, fixed[i], b, sizeof(b)));
    }
    for (int i = 0; i < 10000; i++) {
        uint8_t ip[4];
        uint32_t r = rnd();
        memcpy(ip, &r, 4);
        int n = sn_fmt_ipv4(ip, a, sizeof(a));
        CHECK_STR(a, inet_ntop(AF_INET, ip, b, sizeof(b)));
        CHECK_EQ(n, (long long)strlen(b));
    }
    const uint8_t wide[4] = {255, 255, 255, 255};
    CHECK_EQ(sn_fmt_ipv4(wide, a, 15), -ENOSPC);
    CHECK_EQ(sn_fmt_ipv4(wide, a, 16), 15);
    CHECK_EQ(sn_fmt_ipv4(wide, a, 0), -ENOSPC);
}

/* ---- IPv6 formatting (RFC 5952) ------------------------------------------ */

static int check_v6_fmt(const uint8_t ip[16], char *mine, char *theirs)
{
    char a[SN_IPV6_STRLEN], b[INET6_ADDRSTRLEN];
    int n = sn_fmt_ipv6(ip, a, sizeof(a));
    inet_ntop(AF_INET6, ip, b, sizeof(b));
    strcpy(mine, a);
    strcpy(theirs, b);
    return n == (int)strlen(b) && strcmp(a, b) == 0;
}

SN_TEST(fmt_ipv6_rfc5952_examples)
{
    static const struct {
        const char *in, *want;
    } t[] = {
        {"2001:db8:0:0:0:0:2:1", "2001:db8::2:1"},          /* §4.2.1 */
        {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},   /* §4.2.2: one group stays */
        {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},            /* §4.2.3: the longest run */
        {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},      /* §4.2.3: the first on a tie */
        {"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},            /* §4.3: lowercase */
        {"0:0:0:0:0:0:0:0", "::"},
        {"0:0:0:0:0:0:0:1", "::1"},
        {"1:0:0:0:0:0:0:0", "1::"},
        {"0:0:0:0:0:ffff:c612:1", "::ffff:198.18.0.1"},     /* §5: mapped */
        {"0:0:0:0:0:0:c612:1", "::198.18.0.1"},             /* compatible, as inet_ntop */
        {"0:0:0:0:0:ffff:0:0", "::ffff:0.0.0.0"},
        {"0:0:0:0:0:fffe:c612:1", "::fffe:c612:1"},
        {"2001:2:0:0:0:0:0:1", "2001:2::1"},
        {"fe80:0:0:0:0:0:0:1", "fe80::1"},
        {"0001:0020:0300:4000:0:0:0:8", "1:20:300:4000::8"}, /* §4.1: no leading zeros */
    };
    for (size_t i = 0; i < SN_COUNTOF(t); i++) {
        uint8_t ip[16];
        char a[SN_IPV6_STRLEN];
        CHECK_EQ(sn_parse_ipv6(t[i].in, strlen(t[i].in), ip), 0);
        CHECK(sn_fmt_ipv6(ip, a, sizeof(a)) > 0);
        CHECK_STR(a, t[i].want);
    }
}

SN_TEST(fmt_ipv6_random_matches_inet_ntop)
{
    char a[64], b[64];
    for (int i = 0; i < 10000; i++) {
        uint8_t ip[16];
        for (int k = 0; k < 16; k += 4) {
            uint32_t r = rnd();
            memcpy(ip + k, &r, 4);
        }
        /* Random addresses rarely have zero groups: zero some, make some tiny. */
        unsigned zmask = rnd() & 0xff, smask = rnd() & 0xff;
        for (int g = 0; g < 8; g++) {
            if (i % 3 && (zmask >> g & 1))
                ip[2 * g] = ip[2 * g + 1] = 0;
            else if (smask >> g & 1)
                ip[2 * g] = 0;
        }
        if (!check_v6_fmt(ip, a, b)) {
            fprintf(stderr, "mine %s, inet_ntop %s\n", a, b);
            CHECK(0);
        }
    }
}

SN_TEST(fmt_ipv6_every_zero_run_pattern_matches_inet_ntop)
{
    static const uint16_t fills[] = {1, 0xf, 0xab, 0x100, 0xffff, 0x1234};
    char a[64], b[64];
    for (unsigned mask = 0; mask < 256; mask++) {
        for (size_t f = 0; f < SN_COUNTOF(fills); f++) {
            uint8_t ip[16];
            for (int g = 0; g < 8; g++) {
                uint16_t v = (mask >> g & 1) ? 0 : (uint16_t)(fills[f] + g * (f & 1));
                sn_store_be16(ip + 2 * g, v);
            }
            if (!check_v6_fmt(ip, a, b)) {
                fprintf(stderr, "mine %s, inet_ntop %s\n", a, b);
                CHECK(0);
            }
            /* The same with group 5 = ffff: the IPv4-mapped neighbourhood. */
            sn_store_be16(ip + 10, 0xffff);
            if (!check_v6_fmt(ip, a, b)) {
                fprintf(stderr, "mine %s, inet_ntop %s\n", a, b);
                CHECK(0);
            }
        }
    }
}

SN_TEST(fmt_ipv6_enospc_at_every_short_cap)
{
    uint8_t ip[16];
    CHECK_EQ(sn_parse_ipv6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 39, ip), 0);
    char out[SN_IPV6_STRLEN];
    for (size_t cap = 0; cap <= 39; cap++) {
        memset(out, 'x', sizeof(out));
        CHECK_EQ(sn_fmt_ipv6(ip, out, cap), -ENOSPC);
        if (cap)
            CHECK_EQ(out[0], '\0');
    }
    CHECK_EQ(sn_fmt_ipv6(ip, out, 40), 39);
    /* The longest form there is fits SN_IPV6_STRLEN. */
    CHECK_EQ(sn_parse_ipv6("::ffff:255.255.255.255", 22, ip), 0);
    CHECK_EQ(sn_fmt_ipv6(ip, out, sizeof(out)), 22);
    memset(ip, 0x11, 16);
    CHECK_EQ(sn_fmt_ipv6(ip, out, sizeof(out)), 39);
}

/* ---- parsers ------------------------------------------------------------- */

SN_TEST(parse_ipv4_table)
{
    static const struct {
        const char *s;
        int ok;
        uint8_t ip[4];
    } t[] = {
        {"0.0.0.0", 1, {0, 0, 0, 0}},       {"255.255.255.255", 1, {255, 255, 255, 255}},
        {"127.0.0.1", 1, {127, 0, 0, 1}},   {"198.18.0.1", 1, {198, 18, 0, 1}},
        {"1.20.100.200", 1, {1, 20, 100, 200}},
        {"", 0, {0}},            {"1.2.3", 0, {0}},         {"1.2.3.4.5", 0, {0}},
        {"256.1.1.1", 0, {0}},   {"1.2.3.256", 0, {0}},     {"01.2.3.4", 0, {0}},
        {"1.2.3.04", 0, {0}},    {"1.2.3.00", 0, {0}},      {"0x1.2.3.4", 0, {0}},
        {"1..3.4", 0, {0}},      {".1.2.3.4", 0, {0}},      {"1.2.3.4.", 0, {0}},
        {" 1.2.3.4", 0, {0}},    {"1.2.3.4 ", 0, {0}},      {"+1.2.3.4", 0, {0}},
        {"1.2.3.-4", 0, {0}},    {"1234.1.1.1", 0, {0}},    {"1.2.3.1000", 0, {0}},
        {"16909060", 0, {0}},    {"1.2.3.4:80", 0, {0}},    {"a.b.c.d", 0, {0}},
    };
    for (size_t i = 0; i < SN_COUNTOF(t); i++) {
        uint8_t ip[4] = {9, 9, 9, 9};
        int r = sn_parse_ipv4(t[i].s, strlen(t[i].s), ip);
        if (t[i].ok) {
            CHECK_EQ(r, 0);
            CHECK_MEM(ip, t[i].ip, 4);
        } else {
            CHECK_EQ(r, -EINVAL);
            CHECK(ip[0] == 9 && ip[3] == 9); /* untouched on failure */
        }
    }
}

SN_TEST(parse_ipv6_table)
{
    static const char *const good[] = {
        "::", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
        "2001:DB8::A", "2001:db8:0:0:0:0:2:1", "fe80::1", "::ffff:198.18.0.1", "::198.18.0.1",
        "1:2:3:4:5:6:1.2.3.4", "1::1.2.3.4", "0000:0000::0001", "abcd:ef01:2345:6789:ABCD:EF01:2345:6789",
        "2001:2::1", "1:2::7:8",
    };
    static const char *const bad[] = {
        "", ":", ":::", "1:", ":1", ":1::", "1:::2", "1::2::3", "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7", "12345::", "g::1",
        "1.2.3.4", "::1.2.3", "::1.2.3.4.5", "::01.2.3.4", "::256.1.1.1", "1:2:3:4:5:6:7:1.2.3.4",
        "1:2:3:4:5:6::1.2.3.4", "::1.2.3.4:1", "fe80::1%lo", "[::1]", " ::1", "::1 ", "1::2:",
        "::ffff:1.2.3.4x", "::-1", "::+1",
    };
    for (size_t i = 0; i < SN_COUNTOF(good); i++) {
        uint8_t a[16], b[16];
        CHECK_EQ(sn_parse_ipv6(good[i], strlen(good[i]), a), 0);
        CHECK_EQ(inet_pton(AF_INET6, good[i], b), 1);
        CHECK_MEM(a, b, 16);
    }
    for (size_t i = 0; i < SN_COUNTOF(bad); i++) {
        uint8_t a[16], b[16];
        memset(a, 0x5a, 16);
        if (sn_parse_ipv6(bad[i], strlen(bad[i]), a) != -EINVAL) {
            fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
            CHECK(0);
        }
        CHECK(a[0] == 0x5a && a[15] == 0x5a);
        CHECK_EQ(inet_pton(AF_INET6, bad[i], b), 0); /* glibc agrees */
    }
}

/* Mutate valid text one edit at a time; our parsers must accept exactly what
 * glibc's inet_pton accepts, and to the same bytes. */
static void mutate(char *s, size_t *len, size_t cap)
{
    static const char alpha[] = "0123456789abcdefABCDEFg:.:.%x ";
    size_t n = *len, pos = n ? rnd() % (n + 1) : 0;
    char c = alpha[rnd() % (sizeof(alpha) - 1)];
    switch (rnd() % 3) {
    case 0: /* replace */
        if (pos < n)
            s[pos] = c;
        break;
    case 1: /* insert */
        if (n + 1 < cap) {
            memmove(s + pos + 1, s + pos, n - pos);
            s[pos] = c;
            n++;
        }
        break;
    default: /* delete */
        if (pos < n) {
            memmove(s + pos, s + pos + 1, n - pos - 1);
            n--;
        }
    }
    s[n] = '\0';
    *len = n;
}

SN_TEST(parse_ipv6_differential_vs_inet_pton)
{
    int accepted = 0;
    for (int i = 0; i < 20000; i++) {
        uint8_t ip[16];
        char s[80];
        for (int k = 0; k < 16; k++)
            ip[k] = (rnd() & 3) ? 0 : (uint8_t)rnd();
        if (i & 1)
            ip[10] = ip[11] = 0xff;
        sn_fmt_ipv6(ip, s, sizeof(s));
        size_t len = strlen(s);
        for (unsigned m = rnd() % 4; m; m--)
            mutate(s, &len, sizeof(s));
        uint8_t a[16], b[16];
        int r = sn_parse_ipv6(s, len, a);
        int g = inet_pton(AF_INET6, s, b);
        if ((r == 0) != (g == 1) || (r == 0 && memcmp(a, b, 16) != 0)) {
            fprintf(stderr, "\"%s\": sn %d, inet_pton %d\n", s, r, g);
            CHECK(0);
        }
        accepted += r == 0;
    }
    CHECK(accepted > 5000); /* the test exercised both sides */
}

SN_TEST(parse_ipv4_differential_vs_inet_pton)
{
    int accepted = 0;
    for (int i = 0; i < 20000; i++) {
        uint8_t ip[4];
        char s[40];
        for (int k = 0; k < 4; k++)
            ip[k] = (rnd() & 1) ? (uint8_t)(rnd() % 12) : (uint8_t)rnd();
        sn_fmt_ipv4(ip, s, sizeof(s));
        size_t len = strlen(s);
        for (unsigned m = rnd() % 3; m; m--)
            mutate(s, &len, sizeof(s));
        uint8_t a[4], b[4];
        int r = sn_parse_ipv4(s, len, a);
        int g = inet_pton(AF_INET, s, b);
        if ((r == 0) != (g == 1) || (r == 0 && memcmp(a, b, 4) != 0)) {
            fprintf(stderr, "\"%s\": sn %d, inet_pton %d\n", s, r, g);
            CHECK(0);
        }
        accepted += r == 0;
    }
    CHECK(accepted > 5000);
}

SN_TEST(parse_mac_table)
{
    uint8_t m[6];
    const uint8_t want[6] = {0xaa, 0xbb, 0x0c, 0xdd, 0xee, 0xff};
    CHECK_EQ(sn_parse_mac("aa:bb:0c:dd:ee:ff", 17, m), 0);
    CHECK_MEM(m, want, 6);
    CHECK_EQ(sn_parse_mac("AA-BB-0C-DD-EE-FF", 17, m), 0);
    CHECK_MEM(m, want, 6);
    static const char *const bad[] = {
        "", "aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:f", "aa:bb:cc:dd:ee:fff", "aa:bb:cc:dd:ee:ff:",
        "aa-bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee-ff", "a:bb:cc:dd:ee:fff", "gg:bb:cc:dd:ee:ff",
        "aa.bb.cc.dd.ee.ff", "aabb.ccdd.eeff", "aa:bb:cc:dd:ee: f", "aabbccddeeff",
    };
    for (size_t i = 0; i < SN_COUNTOF(bad); i++) {
        memset(m, 0x77, 6);
        CHECK_EQ(sn_parse_mac(bad[i], strlen(bad[i]), m), -EINVAL);
        CHECK(m[0] == 0x77);
    }
    char out[SN_MAC_STRLEN];
    CHECK_EQ(sn_parse_mac("AA-BB-0C-DD-EE-FF", 17, m), 0);
    sn_fmt_mac(m, out, sizeof(out));
    CHECK_STR(out, "aa:bb:0c:dd:ee:ff");
}

SN_TEST(parsers_never_read_past_len)
{
    /* Text placed at the very end of a heap block: ASan catches a read past it. */
    static const char *const texts[] = {"1.2.3.4", "::1", "fe80::1", "aa:bb:cc:dd:ee:ff", "1:2:3:4:5:6:7:8",
                                        "::ffff:1.2.3.4", "1.2.3.4:80", "[::1]:80", "[::1%lo]"};
    for (size_t i = 0; i < SN_COUNTOF(texts); i++) {
        size_t n = strlen(texts[i]);
        for (size_t len = 0; len <= n; len++) {
            char *p = malloc(len ? len : 1);
            CHECK(p != NULL);
            memcpy(p, texts[i], len);
            uint8_t b[16];
            struct sn_addr a;
            sn_parse_ipv4(p, len, b);
            sn_parse_ipv6(p, len, b);
            sn_parse_mac(p, len, b);
            sn_addr_parse_len(p, len, &a, NULL);
            free(p);
        }
    }
    /* A prefix of valid text is judged on its own. */
    uint8_t b[16];
    CHECK_EQ(sn_parse_ipv4("1.2.3.45", 7, b), 0);
    CHECK_EQ(b[3], 4);
    CHECK_EQ(sn_parse_ipv6("::1234", 5, b), 0);
    CHECK_EQ(b[15], 0x23);
    /* An embedded NUL is malformed, not an end. */
    CHECK_EQ(sn_parse_ipv4("1.2.3.4\0", 8, b), -EINVAL);
}

/* ---- struct sn_addr: text ------------------------------------------------ */

SN_TEST(addr_parse_valid_table)
{
    static const struct {
        const char *in;
        int family;
        const char *ip;
        int port;
        const char *fmt; /* canonical form */
    } t[] = {
        {"198.18.0.1:80", AF_INET, "198.18.0.1", 80, "198.18.0.1:80"},
        {"198.18.0.1", AF_INET, "198.18.0.1", 0, "198.18.0.1"},
        {"127.0.0.1:65535", AF_INET, "127.0.0.1", 65535, "127.0.0.1:65535"},
        {"127.0.0.1:0", AF_INET, "127.0.0.1", 0, "127.0.0.1"},
        {"0.0.0.0:00080", AF_INET, "0.0.0.0", 80, "0.0.0.0:80"},
        {"[2001:2::1]:80", AF_INET6, "2001:2::1", 80, "[2001:2::1]:80"},
        {"[2001:2::1]", AF_INET6, "2001:2::1", 0, "2001:2::1"},
        {"2001:2::1", AF_INET6, "2001:2::1", 0, "2001:2::1"},
        {"[2001:2:0:0:0:0:0:1]:443", AF_INET6, "2001:2::1", 443, "[2001:2::1]:443"},
        {"::1", AF_INET6, "::1", 0, "::1"},
        {"::1:2:80", AF_INET6, "::1:2:80", 0, "::1:2:80"}, /* bare: no port, ever */
        {"::1:80", AF_INET6, "::1:80", 0, "::0.1.0.128"}, /* IPv4-compatible, as inet_ntop */
        {"[::ffff:198.18.0.1]:9", AF_INET6, "::ffff:198.18.0.1", 9, "[::ffff:198.18.0.1]:9"},
        {"[::]:1", AF_INET6, "::", 1, "[::]:1"},
    };
    for (size_t i = 0; i < SN_COUNTOF(t); i++) {
        struct sn_addr a;
        const char *why = "unset";
        CHECK_EQ(sn_addr_parse_len(t[i].in, strlen(t[i].in), &a, &why), 0);
        CHECK(why == NULL);
        CHECK_EQ(a.family, t[i].family);
        CHECK_EQ(a.port, t[i].port);
        CHECK_EQ(a.scope_id, 0);
        uint8_t ip[16] = {0};
        CHECK_EQ(inet_pton(t[i].family, t[i].ip, ip), 1);
        CHECK_MEM(a.ip, ip, 16);
        char out[SN_ADDR_STRLEN];
        CHECK_EQ(sn_addr_fmt(&a, out, sizeof(out)), (long long)strlen(t[i].fmt));
        CHECK_STR(out, t[i].fmt);
        struct sn_addr b;
        CHECK_EQ(sn_addr_parse(out, &b), 0);
        CHECK(sn_addr_eq(&a, &b));
    }
}

SN_TEST(addr_parse_invalid_table_with_reasons)
{
    static const struct {
        const char *in;
        int err;
        const char *why_has; /* a word the reason must contain */
    } t[] = {
        {"", -EINVAL, "empty"},
        {"localhost", -EINVAL, "names are not resolved"},
        {"localhost:80", -EINVAL, "names are not resolved"},
        {"example.com", -EINVAL, "names are not resolved"},
        {"example.com:443", -EINVAL, "names are not resolved"},
        {"[localhost]:80", -EINVAL, "names are not resolved"},
        {"198.18.0.1:65536", -EINVAL, "range"},
        {"198.18.0.1:99999999", -EINVAL, "range"},
        {"198.18.0.1:", -EINVAL, "empty port"},
        {"[2001:2::1]:", -EINVAL, "empty port"},
        {"198.18.0.1:80x", -EINVAL, "junk after the port"},
        {"198.18.0.1:80 ", -EINVAL, "junk after the port"},
        {"[2001:2::1]:80:81", -EINVAL, "junk after the port"},
        {"198.18.0.1:x", -EINVAL, "not a number"},
        {"198.18.0.1:-1", -EINVAL, "not a number"},
        {"[2001:2::1]x", -EINVAL, "junk after the address"},
        {"[2001:2::1]80", -EINVAL, "junk after the address"},
        {"[2001:2::1:80", -EINVAL, "missing ']'"},
        {"[198.18.0.1]:80", -EINVAL, "IPv6"},
        {"198.18.0.1%lo", -EINVAL, "zone"},
        {"198.18.0", -EINVAL, "bad IPv4"},
        {"198.18.0.01", -EINVAL, "bad IPv4"},
        {"1.2.3.4.5:80", -EINVAL, "bad IPv4"},
        {"[2001:2::1::2]:80", -EINVAL, "bad IPv6"},
        {"2001:2::g", -EINVAL, "bad IPv6"},
        {"[fe80::1%]:80", -EINVAL, "empty zone"},
        {"[fe80::1%4294967296]:80", -EINVAL, "range"},
        {"[fe80::1%abcdefghijklmnop]:80", -EINVAL, "too long"},
        {"[fe80::1%a/b]:80", -EINVAL, "bad character"},
        {"[fe80::1%sn-nosuchif0]:80", -ENODEV, "no such interface"},
        {"fe80::1%sn-nosuchif0", -ENODEV, "no such interface"},
    };
    for (size_t i = 0; i < SN_COUNTOF(t); i++) {
        struct sn_addr a;
        memset(&a, 0xa5, sizeof(a));
        const char *why = NULL;
        int r = sn_addr_parse_len(t[i].in, strlen(t[i].in), &a, &why);
        if (r != t[i].err || !why || !strstr(why, t[i].why_has)) {
            fprintf(stderr, "\"%s\": %d (%s), want %d (%s)\n", t[i].in, r, why ? why : "-", t[i].err,
                    t[i].why_has);
            CHECK(0);
        }
        CHECK_EQ(a.family, 0xa5a5); /* untouched */
        CHECK_EQ(sn_addr_parse(t[i].in, &a), t[i].err);
    }
}

SN_TEST(addr_parse_zones_names_and_numbers)
{
    int lo = sn_sock_ifindex("lo");
    if (lo < 0)
        SKIP("no loopback interface named lo");
    struct sn_addr a;
    char out[SN_ADDR_STRLEN];
    CHECK_EQ(sn_addr_parse("[fe80::1%lo]:80", &a), 0);
    CHECK_EQ(a.scope_id, lo);
    CHECK_EQ(a.port, 80);
    CHECK_EQ(sn_addr_fmt(&a, out, sizeof(out)), 15);
    CHECK_STR(out, "[fe80::1%lo]:80");

    char num[40];
    snprintf(num, sizeof(num), "[fe80::1%%%d]:80", lo);
    CHECK_EQ(sn_addr_parse(num, &a), 0);
    CHECK_EQ(a.scope_id, lo);
    sn_addr_fmt(&a, out, sizeof(out));
    CHECK_STR(out, "[fe80::1%lo]:80"); /* a resolvable index prints as its name */

    CHECK_EQ(sn_addr_parse("fe80::1%lo", &a), 0);
    CHECK_EQ(a.scope_id, lo);
    CHECK_EQ(a.port, 0);
    sn_addr_fmt(&a, out, sizeof(out));
    CHECK_STR(out, "fe80::1%lo");

    /* An index with no interface stays a number, and parses back. */
    CHECK_EQ(sn_addr_parse("[fe80::1%4000000000]:7", &a), 0);
    CHECK_EQ(a.scope_id, 4000000000u);
    sn_addr_fmt(&a, out, sizeof(out));
    CHECK_STR(out, "[fe80::1%4000000000]:7");
}

SN_TEST(addr_fmt_enospc_and_bad_family)
{
    struct sn_addr a;
    char out[SN_ADDR_STRLEN];
    CHECK_EQ(sn_addr_parse("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535", &a), 0);
    int n = sn_addr_fmt(&a, out, sizeof(out));
    CHECK(n > 0 && n < SN_ADDR_STRLEN);
    for (size_t cap = 0; cap <= (size_t)n; cap++)
        CHECK_EQ(sn_addr_fmt(&a, out, cap), -ENOSPC);
    CHECK_EQ(sn_addr_fmt(&a, out, (size_t)n + 1), n);
    memset(&a, 0, sizeof(a));
    CHECK_EQ(sn_addr_fmt(&a, out, sizeof(out)), -EAFNOSUPPORT);
    CHECK_STR(out, "");
}

/* ---- struct sn_addr: sockaddr -------------------------------------------- */

SN_TEST(addr_sockaddr_roundtrip)
{
    struct sn_addr a, b;
    struct sockaddr_storage ss;
    CHECK_EQ(sn_addr_parse("198.18.0.1:8080", &a), 0);
    CHECK_EQ(sn_addr_to_sockaddr(&a, &ss), (long long)sizeof(struct sockaddr_in));
    CHECK_EQ(sn_addr_socklen(&a), (long long)sizeof(struct sockaddr_in));
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
    CHECK_EQ(sin->sin_family, AF_INET);
    CHECK_EQ(ntohs(sin->sin_port), 8080);
    CHECK_EQ(ntohl(sin->sin_addr.s_addr), 0xc6120001u);
    CHECK_EQ(sn_addr_from_sockaddr((const struct sockaddr *)&ss, sizeof(*sin), &b), 0);
    CHECK(sn_addr_eq(&a, &b));
    CHECK_MEM(&a, &b, sizeof(a)); /* padding-free and fully written */

    CHECK_EQ(sn_addr_parse("[2001:2::1%7]:443", &a), 0);
    a.flowinfo = 0x12345;
    CHECK_EQ(sn_addr_to_sockaddr(&a, &ss), (long long)sizeof(struct sockaddr_in6));
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
    CHECK_EQ(sin6->sin6_family, AF_INET6);
    CHECK_EQ(ntohs(sin6->sin6_port), 443);
    CHECK_EQ(sin6->sin6_scope_id, 7);
    CHECK_EQ(ntohl(sin6->sin6_flowinfo), 0x12345);
    CHECK_EQ(sin6->sin6_addr.s6_addr[0], 0x20);
    CHECK_EQ(sin6->sin6_addr.s6_addr[15], 1);
    CHECK_EQ(sn_addr_from_sockaddr((const struct sockaddr *)&ss, sizeof(ss), &b), 0);
    CHECK(sn_addr_eq(&a, &b));

    /* Short lengths and foreign families. */
    memset(&b, 0x33, sizeof(b));
    CHECK_EQ(sn_addr_from_sockaddr((const struct sockaddr *)&ss, sizeof(*sin6) - 1, &b), -EINVAL);
    CHECK_EQ(sn_addr_from_sockaddr((const struct sockaddr *)&ss, 1, &b), -EINVAL);
    CHECK_EQ(b.port, 0x3333);
    ss.ss_family = AF_UNIX;
    CHECK_EQ(sn_addr_from_sockaddr((const struct sockaddr *)&ss, sizeof(ss), &b), -EAFNOSUPPORT);
    memset(&a, 0, sizeof(a));
    CHECK_EQ(sn_addr_to_sockaddr(&a, &ss), -EAFNOSUPPORT);
    CHECK_EQ(sn_addr_socklen(&a), -EAFNOSUPPORT);
}

SN_TEST(addr_helpers_loopback_any_eq)
{
    struct sn_addr a, b;
    char out[SN_ADDR_STRLEN];
    CHECK_EQ(sn_addr_loopback(&a, AF_INET, 9), 0);
    sn_addr_fmt(&a, out, sizeof(out));
    CHECK_STR(out, "127.0.0.1:9");
    CHECK(sn_addr_is_loopback(&a));
    CHECK_EQ(sn_addr_loopback(&a, AF_INET6, 9), 0);
    sn_addr_fmt(&a, out, sizeof(out));
    CHECK_STR(out, "[::1]:9");
    CHECK(sn_addr_is_loopback(&a));
    CHECK_EQ(sn_addr_any(&b, AF_INET6, 9), 0);
    sn_addr_fmt(&b, out, sizeof(out));
    CHECK_STR(out, "[::]:9");
    CHECK(!sn_addr_is_loopback(&b));
    CHECK(!sn_addr_eq(&a, &b));
    CHECK_EQ(sn_addr_loopback(&a, AF_UNIX, 9), -EAFNOSUPPORT);
    CHECK_EQ(sn_addr_any(&a, 12345, 9), -EAFNOSUPPORT);
    CHECK_EQ(sn_addr_parse("127.255.0.3", &a), 0);
    CHECK(sn_addr_is_loopback(&a));
    CHECK_EQ(sn_addr_parse("::ffff:127.0.0.1", &a), 0);
    CHECK(sn_addr_is_loopback(&a));
    CHECK_EQ(sn_addr_parse("198.18.0.1", &a), 0);
    CHECK(!sn_addr_is_loopback(&a));
}

SN_TEST(ifindex_ifname_roundtrip)
{
    int lo = sn_sock_ifindex("lo");
    if (lo < 0)
        SKIP("no loopback interface named lo");
    CHECK(lo > 0);
    char name[IFNAMSIZ];
    CHECK_EQ(sn_sock_ifname((uint32_t)lo, name, sizeof(name)), 2);
    CHECK_STR(name, "lo");
    CHECK_EQ(sn_sock_ifname((uint32_t)lo, name, 2), -ENOSPC);
    CHECK_EQ(sn_sock_ifname(0, name, sizeof(name)), -ENODEV);
    CHECK_EQ(sn_sock_ifname(4000000000u, name, sizeof(name)), -ENODEV);
    CHECK_EQ(sn_sock_ifindex(""), -EINVAL);
    CHECK_EQ(sn_sock_ifindex("0123456789abcdef"), -EINVAL);
    CHECK_EQ(sn_sock_ifindex("sn-nosuchif0"), -ENODEV);
}

/* ---- sockets ------------------------------------------------------------- */

/* Listen on loopback:0, connect, accept; check every address agrees. */
static void tcp_roundtrip(int family)
{
    struct sn_addr lo, bound, peer, local, seen;
    int fd0 = lowest_free_fd();
    sn_addr_loopback(&lo, family, 0);
    struct sn_sock_opts lo_opts = {
        .type = SOCK_STREAM, .flags = SN_SOCK_REUSEADDR, .bind = &lo, .backlog = 8};
    int l = sn_sock_open(&lo_opts);
    CHECK(l >= 0);
    CHECK_EQ(sn_sock_local_addr(l, &bound), 0);
    CHECK_EQ(bound.family, family);
    CHECK(bound.port != 0);
    CHECK_MEM(bound.ip, lo.ip, 16);
    CHECK_EQ(sn_sock_peer_addr(l, &peer), -ENOTCONN);

    struct sn_sock_opts c_opts = {.type = SOCK_STREAM, .flags = SN_SOCK_NODELAY, .connect = &bound};
    int c = sn_sock_open(&c_opts);
    CHECK(c >= 0);
    CHECK_EQ(sn_sock_peer_addr(c, &peer), 0);
    CHECK(sn_addr_eq(&peer, &bound));
    CHECK_EQ(sn_sock_local_addr(c, &local), 0);

    int s = sn_sock_accept(l, &seen, 0);
    CHECK(s >= 0);
    CHECK(sn_addr_eq(&seen, &local));
    CHECK_EQ(write(c, "ping", 4), 4);
    char buf[8];
    CHECK_EQ(read(s, buf, sizeof(buf)), 4);
    CHECK_MEM(buf, "ping", 4);
    CHECK_EQ(sn_sock_get_nodelay(c), 1);
    CHECK_EQ(sn_sock_get_nonblock(s), 0);
    close(s);
    close(c);
    close(l);
    CHECK_EQ(lowest_free_fd(), fd0);
}

SN_TEST(tcp_listen_connect_accept_ipv4)
{
    tcp_roundtrip(AF_INET);
}

SN_TEST(tcp_listen_connect_accept_ipv6)
{
    if (!have_ipv6())
        SKIP("no IPv6 loopback");
    tcp_roundtrip(AF_INET6);
}

SN_TEST(sock_options_read_back)
{
    struct sn_addr lo;
    sn_addr_loopback(&lo, AF_INET, 0);
    struct sn_sock_opts o = {
        .type = SOCK_STREAM,
        .flags = SN_SOCK_NONBLOCK | SN_SOCK_REUSEADDR | SN_SOCK_REUSEPORT | SN_SOCK_NODELAY |
                 SN_SOCK_TIMESTAMPNS,
        .rcvbuf = 65536,
        .sndbuf = 32768,
        .bind = &lo,
    };
    int fd = sn_sock_open(&o);
    CHECK(fd >= 0);
    CHECK_EQ(sn_sock_get_nonblock(fd), 1);
    CHECK_EQ(sn_sock_get_reuseaddr(fd), 1);
    CHECK_EQ(sn_sock_get_reuseport(fd), 1);
    CHECK_EQ(sn_sock_get_nodelay(fd), 1);
    CHECK_EQ(sn_sock_get_timestampns(fd), 1);
    CHECK_EQ(sn_sock_get_rcvbuf(fd), 2 * 65536); /* the kernel doubles (socket(7)) */
    CHECK_EQ(sn_sock_get_sndbuf(fd), 2 * 32768);
    int cloexec = fcntl(fd, F_GETFD);
    CHECK(cloexec >= 0 && (cloexec & FD_CLOEXEC));

    /* And every setter turns its option off again. */
    CHECK_EQ(sn_sock_set_nonblock(fd, 0), 0);
    CHECK_EQ(sn_sock_get_nonblock(fd), 0);
    CHECK_EQ(sn_sock_set_reuseaddr(fd, 0), 0);
    CHECK_EQ(sn_sock_get_reuseaddr(fd), 0);
    CHECK_EQ(sn_sock_set_reuseport(fd, 0), 0);
    CHECK_EQ(sn_sock_get_reuseport(fd), 0);
    CHECK_EQ(sn_sock_set_nodelay(fd, 0), 0);
    CHECK_EQ(sn_sock_get_nodelay(fd), 0);
    CHECK_EQ(sn_sock_set_timestampns(fd, 0), 0);
    CHECK_EQ(sn_sock_get_timestampns(fd), 0);
    CHECK_EQ(sn_sock_set_rcvbuf(fd, 8192), 0);
    CHECK_EQ(sn_sock_get_rcvbuf(fd), 16384);
    CHECK_EQ(sn_sock_error(fd), 0);
    CHECK(sn_sock_get_v6only(fd) < 0); /* an IPv4 socket: the kernel's -EOPNOTSUPP */
    close(fd);
    CHECK_EQ(sn_sock_get_nodelay(fd), -EBADF);
    CHECK_EQ(sn_sock_error(fd), -EBADF);
}

SN_TEST(sock_v6only_and_dualstack)
{
    if (!have_ipv6())
        SKIP("no IPv6 loopback");
    struct sn_sock_opts o = {.family = AF_INET6, .type = SOCK_DGRAM, .flags = SN_SOCK_V6ONLY};
    int fd = sn_sock_open(&o);
    CHECK(fd >= 0);
    CHECK_EQ(sn_sock_get_v6only(fd), 1);
    close(fd);
    o.flags = SN_SOCK_DUALSTACK;
    fd = sn_sock_open(&o);
    CHECK(fd >= 0);
    CHECK_EQ(sn_sock_get_v6only(fd), 0);
    close(fd);
    o.flags = SN_SOCK_DUALSTACK | SN_SOCK_V6ONLY;
    CHECK_EQ(sn_sock_open(&o), -EINVAL);
}

SN_TEST(sock_busy_poll_strict_or_optional)
{
    struct sn_sock_opts o = {.family = AF_INET, .type = SOCK_DGRAM, .busy_poll_us = 50};
    int fd = sn_sock_open(&o);
    /* Strict: the kernel's answer (root may, others get -EPERM above busy_read). */
    CHECK(fd >= 0 || fd == -EPERM || fd == -ENOPROTOOPT);
    if (fd >= 0) {
        CHECK_EQ(sn_sock_get_busy_poll(fd), 50);
        close(fd);
    }
    o.flags = SN_SOCK_BUSY_POLL_TRY;
    fd = sn_sock_open(&o);
    CHECK(fd >= 0); /* best effort never fails the open */
    int v = sn_sock_get_busy_poll(fd);
    CHECK(v == 50 || v == 0 || v == -ENOPROTOOPT);
    close(fd);
}

SN_TEST(sock_open_rejects_and_leaks_nothing)
{
    int fd0 = lowest_free_fd();
    struct sn_addr v4, v6;
    sn_addr_loopback(&v4, AF_INET, 0);
    sn_addr_loopback(&v6, AF_INET6, 0);
    struct sn_sock_opts o;

    o = (struct sn_sock_opts){.type = SOCK_STREAM}; /* no family anywhere */
    CHECK_EQ(sn_sock_open(&o), -EINVAL);
    o = (struct sn_sock_opts){.family = AF_INET6, .type = SOCK_STREAM, .bind = &v4};
    CHECK_EQ(sn_sock_open(&o), -EINVAL);
    o = (struct sn_sock_opts){.type = SOCK_STREAM, .bind = &v4, .connect = &v6};
    CHECK_EQ(sn_sock_open(&o), -EINVAL);
    o = (struct sn_sock_opts){.family = AF_INET, .type = SOCK_RAW};
    CHECK_EQ(sn_sock_open(&o), -EINVAL);
    o = (struct sn_sock_opts){.family = AF_INET, .type = SOCK_DGRAM, .bind = &v4, .backlog = 4};
    CHECK_EQ(sn_sock_open(&o), -EINVAL);
    o = (struct sn_sock_opts){.family = AF_UNIX, .type = SOCK_STREAM};
    CHECK_EQ(sn_sock_open(&o), -EINVAL);

    /* Kernel failures after socket(): the fd is closed, the error returned. */
    o = (struct sn_sock_opts){.family = AF_INET, .type = SOCK_DGRAM, .flags = SN_SOCK_NODELAY};
    CHECK_EQ(sn_sock_open(&o), -ENOPROTOOPT);
    o = (struct sn_sock_opts){.type = SOCK_STREAM, .bind = &v4, .backlog = 4};
    int l = sn_sock_open(&o);
    CHECK(l >= 0);
    struct sn_addr taken;
    CHECK_EQ(sn_sock_local_addr(l, &taken), 0);
    o = (struct sn_sock_opts){.type = SOCK_STREAM, .bind = &taken};
    CHECK_EQ(sn_sock_open(&o), -EADDRINUSE);
    close(l);
    CHECK_EQ(lowest_free_fd(), fd0);
}

SN_TEST(tcp_nonblocking_connect_path)
{
    struct sn_addr lo, bound, peer;
    sn_addr_loopback(&lo, AF_INET, 0);
    struct sn_sock_opts lopts = {.type = SOCK_STREAM, .flags = SN_SOCK_NONBLOCK, .bind = &lo, .backlog = 4};
    int l = sn_sock_open(&lopts);
    CHECK(l >= 0);
    CHECK_EQ(sn_sock_accept(l, NULL, 0), -EAGAIN); /* nothing pending yet */
    CHECK_EQ(sn_sock_local_addr(l, &bound), 0);

    struct sn_sock_opts copts = {.family = AF_INET, .type = SOCK_STREAM, .flags = SN_SOCK_NONBLOCK};
    int c = sn_sock_open(&copts);
    CHECK(c >= 0);
    int r = sn_sock_connect(c, &bound);
    CHECK(r == 0 || r == -EINPROGRESS);
    CHECK_EQ(sn_sock_connect_finish(c, 2000), 0);
    CHECK_EQ(sn_sock_peer_addr(c, &peer), 0);
    CHECK(sn_addr_eq(&peer, &bound));
    int s = -1;
    for (int i = 0; i < 200 && s < 0; i++) {
        s = sn_sock_accept(l, NULL, SN_SOCK_NONBLOCK);
        if (s == -EAGAIN)
            usleep(5000);
    }
    CHECK(s >= 0);
    CHECK_EQ(sn_sock_get_nonblock(s), 1);
    close(s);
    close(c);
    close(l);
}

SN_TEST(tcp_nonblocking_connect_refused)
{
    /* A port bound but not listening refuses connections (loopback only). */
    struct sn_addr lo, dead;
    sn_addr_loopback(&lo, AF_INET, 0);
    struct sn_sock_opts bopts = {.type = SOCK_STREAM, .bind = &lo};
    int b = sn_sock_open(&bopts);
    CHECK(b >= 0);
    CHECK_EQ(sn_sock_local_addr(b, &dead), 0);
    struct sn_sock_opts copts = {.type = SOCK_STREAM, .flags = SN_SOCK_NONBLOCK, .connect = &dead};
    int c = sn_sock_open(&copts);
    CHECK(c >= 0);
    int r = sn_sock_connect_finish(c, 2000);
    CHECK_EQ(r, -ECONNREFUSED);
    CHECK_EQ(sn_sock_connect_finish(c, 0), -ENOTCONN); /* the error was read once */
    close(c);
    /* A socket that never connected is not "connected" either. */
    struct sn_sock_opts fopts = {.family = AF_INET, .type = SOCK_STREAM};
    c = sn_sock_open(&fopts);
    CHECK(c >= 0);
    CHECK_EQ(sn_sock_connect_finish(c, 0), -ENOTCONN);
    close(c);
    /* Blocking: the error comes straight from the open, with nothing left open. */
    int fd0 = lowest_free_fd();
    copts.flags = 0;
    CHECK_EQ(sn_sock_open(&copts), -ECONNREFUSED);
    CHECK_EQ(lowest_free_fd(), fd0);
    close(b);
}

/* ---- batched UDP ---------------------------------------------------------- */

static struct sn_batch sbatch, rbatch;
static uint8_t payload[SN_BATCH_MAX][600];
static uint8_t rxmem[SN_BATCH_MAX * 2048];

/* Send 64 datagrams of distinct lengths with one sendmmsg; receive them all
 * with recvmmsg; check lengths, bytes, sources and kernel timestamps. */
static void udp_batch(int family)
{
    struct sn_addr lo, to, from_addr, src;
    sn_addr_loopback(&lo, family, 0);
    struct sn_sock_opts ropts = {
        .type = SOCK_DGRAM, .flags = SN_SOCK_TIMESTAMPNS, .rcvbuf = 1 << 20, .bind = &lo};
    int r = sn_sock_open(&ropts);
    CHECK(r >= 0);
    CHECK_EQ(sn_sock_local_addr(r, &to), 0);
    struct sn_sock_opts sopts = {.type = SOCK_DGRAM, .bind = &lo};
    int s = sn_sock_open(&sopts);
    CHECK(s >= 0);
    CHECK_EQ(sn_sock_local_addr(s, &from_addr), 0);

    uint64_t t0 = sn_realtime_ns();
    sn_batch_init(&sbatch);
    for (unsigned i = 0; i < SN_BATCH_MAX; i++) {
        size_t len = 1 + i * 9;
        for (size_t k = 0; k < len; k++)
            payload[i][k] = (uint8_t)(i ^ k);
        CHECK_EQ(sn_batch_add(&sbatch, payload[i], len, &to), (long long)i);
    }
    CHECK_EQ(sn_batch_add(&sbatch, payload[0], 1, &to), -ENOSPC);
    unsigned sent = 0;
    while (sent < sbatch.n) {
        int n = sn_batch_send(s, &sbatch, sent, 0);
        CHECK(n > 0);
        sent += (unsigned)n;
    }
    CHECK_EQ(sent, SN_BATCH_MAX);
    CHECK_EQ(sn_batch_len(&sbatch, 63), 1 + 63 * 9);

    sn_batch_init(&rbatch);
    CHECK_EQ(sn_batch_recv_bufs(&rbatch, rxmem, 2048, SN_BATCH_MAX), 0);
    unsigned got = 0, calls = 0;
    while (got < SN_BATCH_MAX && calls < 200) {
        int n = sn_batch_recv(r, &rbatch, MSG_DONTWAIT);
        calls++;
        if (n == -EAGAIN) {
            usleep(2000);
            continue;
        }
        CHECK(n > 0);
        for (int j = 0; j < n; j++, got++) {
            size_t want = 1 + got * 9;
            CHECK_EQ(sn_batch_len(&rbatch, (unsigned)j), (long long)want);
            CHECK(!sn_batch_truncated(&rbatch, (unsigned)j));
            CHECK_MEM(rbatch.iov[j].iov_base, payload[got], want);
            CHECK_EQ(sn_batch_from(&rbatch, (unsigned)j, &src), 0);
            CHECK(sn_addr_eq(&src, &from_addr));
            CHECK(rbatch.ts_ns[j] != 0);
            CHECK(rbatch.ts_ns[j] + 1000000000ull >= t0); /* within a second of the send */
            CHECK(rbatch.ts_ns[j] <= sn_realtime_ns());
        }
    }
    CHECK_EQ(got, SN_BATCH_MAX);
    CHECK_EQ(sn_batch_recv(r, &rbatch, MSG_DONTWAIT), -EAGAIN);
    close(s);
    close(r);
}

SN_TEST(udp_sendmmsg_recvmmsg_64_ipv4)
{
    udp_batch(AF_INET);
}

SN_TEST(udp_sendmmsg_recvmmsg_64_ipv6)
{
    if (!have_ipv6())
        SKIP("no IPv6 loopback");
    udp_batch(AF_INET6);
}

SN_TEST(udp_batch_connected_truncation_and_no_timestamps)
{
    struct sn_addr lo, raddr;
    sn_addr_loopback(&lo, AF_INET, 0);
    struct sn_sock_opts ropts = {.type = SOCK_DGRAM, .bind = &lo};
    int r = sn_sock_open(&ropts);
    CHECK(r >= 0);
    CHECK_EQ(sn_sock_local_addr(r, &raddr), 0);
    struct sn_sock_opts sopts = {.type = SOCK_DGRAM, .connect = &raddr};
    int s = sn_sock_open(&sopts);
    CHECK(s >= 0);

    static const char msg[] = "0123456789";
    sn_batch_init(&sbatch);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(sn_batch_add(&sbatch, msg, sizeof(msg) - 1, NULL), i);
    CHECK_EQ(sn_batch_send(s, &sbatch, 0, 0), 3);
    CHECK_EQ(sn_batch_send(s, &sbatch, 3, 0), 0);
    CHECK_EQ(sn_batch_send(s, &sbatch, 4, 0), -EINVAL);
    struct sn_addr none;
    CHECK_EQ(sn_batch_from(&sbatch, 0, &none), -EAFNOSUPPORT); /* sent with no name */
    CHECK_EQ(sn_batch_from(&sbatch, SN_BATCH_MAX, &none), -EINVAL);

    uint8_t small[4], big[2][32];
    sn_batch_init(&rbatch);
    CHECK_EQ(sn_batch_recv(r, &rbatch, MSG_DONTWAIT), -EINVAL); /* no buffers yet */
    CHECK_EQ(sn_batch_recv_buf(&rbatch, 0, small, sizeof(small)), 0);
    CHECK_EQ(sn_batch_recv_buf(&rbatch, 2, big[1], sizeof(big[1])), 0);
    CHECK_EQ(sn_batch_recv_buf(&rbatch, 1, big[0], sizeof(big[0])), 0);
    CHECK_EQ(sn_batch_recv_buf(&rbatch, SN_BATCH_MAX, big[0], 1), -EINVAL);
    CHECK_EQ(rbatch.nbufs, 3);
    int n = sn_batch_recv(r, &rbatch, MSG_WAITFORONE);
    CHECK(n >= 1);
    CHECK(sn_batch_truncated(&rbatch, 0));
    CHECK_MEM(small, "0123", 4);
    CHECK_EQ(rbatch.ts_ns[0], 0); /* SO_TIMESTAMPNS was off */
    CHECK_EQ(sn_batch_recv_bufs(&rbatch, rxmem, 64, SN_BATCH_MAX + 1), -EINVAL);
    close(s);
    close(r);
}
