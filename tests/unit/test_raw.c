/* test_raw.c — the raw module: option checking, the CAP_NET_RAW hint and the
 * -EPERM path (a forked child that drops to nobody), ICMP echo to 127.0.0.1 and
 * ::1 answered by the kernel, per-packet TTL / hop limit, batched sends, the
 * ICMPv6 type filter, AF_PACKET on lo, ICMP error classification (the quoted
 * probe), ping's texts and iputils' RTT arithmetic.
 *
 * Network safety: every test that opens a socket runs in a forked child that
 * first enters a network namespace of its own (unshare(CLONE_NEWNET)) where only
 * `lo` exists; traffic goes to 127.0.0.1 / ::1 only. Without root those tests
 * say skip.
 */
#include "../harness.h"
#include "../netns.h"
#include <sysnet/raw.h>
#include <sysnet/sock.h>
#include <sysnet/wire.h>

#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

static void addr_lo(struct sn_addr *a, int family)
{
    sn_addr_loopback(a, family, 0);
}

/* Receive until an ICMP message of `kind` with identifier id comes (or 2 s pass).
 * Returns the length, with *ic and *rx filled; -ETIMEDOUT otherwise. */
static int recv_kind(int fd, int family, int kind, uint16_t id, uint8_t *buf, size_t cap,
                     struct sn_raw_icmp *ic, struct sn_raw_rx *rx)
{
    uint64_t end = sn_now_ns() + 2000000000ull;
    while (sn_now_ns() < end) {
        int w = sn_raw_wait(fd, 100);
        if (w <= 0)
            continue;
        ssize_t n = sn_raw_recv(fd, buf, cap, rx, MSG_DONTWAIT);
        if (n < 0)
            continue;
        if (sn_raw_icmp_parse(family, buf, (size_t)n, ic) == 0 && ic->kind == kind && ic->id == id)
            return (int)n;
    }
    return -ETIMEDOUT;
}

/* ---- pure: options, hints, texts, stats ------------------------------------------ */

SN_TEST(raw_hint)
{
    const char *h = sn_raw_hint(-EPERM);
    CHECK(strstr(h, "CAP_NET_RAW") != NULL);
    CHECK(strstr(h, "setcap cap_net_raw+ep") != NULL);
    CHECK_STR(sn_raw_hint(EPERM), h);
    CHECK_STR(sn_raw_hint(-EACCES), h);
    CHECK(sn_raw_hint(-ENODEV) != NULL);
    CHECK(strstr(sn_raw_hint(-ENODEV), "CAP_NET_RAW") == NULL);
}

SN_TEST(raw_open_rejects_bad_options)
{
    struct sn_raw_opts o = {.family = AF_INET6, .proto = IPPROTO_ICMPV6, .flags = SN_RAW_HDRINCL};
    CHECK_EQ(sn_raw_open(&o), -EINVAL);
    o = (struct sn_raw_opts){.family = AF_UNIX, .proto = 1};
    CHECK_EQ(sn_raw_open(&o), -EINVAL);
    o = (struct sn_raw_opts){.family = AF_INET, .proto = IPPROTO_ICMP, .ttl = 256};
    CHECK_EQ(sn_raw_open(&o), -EINVAL);
    o = (struct sn_raw_opts){.family = AF_INET, .proto = IPPROTO_TCP, .flags = SN_RAW_V6CSUM};
    CHECK_EQ(sn_raw_open(&o), -EINVAL);
    o = (struct sn_raw_opts){.family = AF_INET6, .proto = IPPROTO_ICMPV6, .flags = SN_RAW_V6CSUM};
    CHECK_EQ(sn_raw_open(&o), -EINVAL);
    struct sn_addr a;
    addr_lo(&a, AF_INET);
    o = (struct sn_raw_opts){.family = AF_INET6, .proto = IPPROTO_ICMPV6, .bind = &a};
    CHECK_EQ(sn_raw_open(&o), -EINVAL);
    CHECK_EQ(sn_raw_open_icmp(AF_PACKET, 0), -EINVAL);
    CHECK_EQ(sn_raw_packet_open(NULL, SN_RAW_ETH_ALL, 0), -EINVAL);
    CHECK_EQ(sn_raw_packet_open("lo", SN_RAW_ETH_ALL, SN_RAW_HDRINCL), -EINVAL);
}

SN_TEST(raw_icmp_text_like_ping)
{
    char t[96];
    CHECK(sn_raw_icmp_text(AF_INET, 11, 0, 0, t, sizeof(t)) > 0);
    CHECK_STR(t, "Time to live exceeded");
    sn_raw_icmp_text(AF_INET, 3, 1, 0, t, sizeof(t));
    CHECK_STR(t, "Destination Host Unreachable");
    sn_raw_icmp_text(AF_INET, 3, 3, 0, t, sizeof(t));
    CHECK_STR(t, "Destination Port Unreachable");
    sn_raw_icmp_text(AF_INET, 3, 4, 1400, t, sizeof(t));
    CHECK_STR(t, "Frag needed and DF set (mtu = 1400)");
    sn_raw_icmp_text(AF_INET, 3, 99, 0, t, sizeof(t));
    CHECK_STR(t, "Dest Unreachable, Bad Code: 99");
    sn_raw_icmp_text(AF_INET6, 3, 0, 0, t, sizeof(t));
    CHECK_STR(t, "Time exceeded: Hop limit");
    sn_raw_icmp_text(AF_INET6, 1, 3, 0, t, sizeof(t));
    CHECK_STR(t, "Destination unreachable: Address unreachable");
    sn_raw_icmp_text(AF_INET6, 2, 0, 1280, t, sizeof(t));
    CHECK_STR(t, "Packet too big: mtu=1280");
    /* truncation like snprintf, never past cap */
    char s[5];
    CHECK_EQ(sn_raw_icmp_text(AF_INET, 11, 0, 0, s, sizeof(s)), 4);
    CHECK_STR(s, "Time");
    CHECK_STR(sn_raw_icmp_trace_flag(AF_INET, 3, 1), "!H");
    CHECK_STR(sn_raw_icmp_trace_flag(AF_INET, 3, 3), "");
    CHECK_STR(sn_raw_icmp_trace_flag(AF_INET, 3, 13), "!X");
    CHECK_STR(sn_raw_icmp_trace_flag(AF_INET, 11, 0), "");
    CHECK_STR(sn_raw_icmp_trace_flag(AF_INET6, 1, 3), "!H");
    CHECK_STR(sn_raw_icmp_trace_flag(AF_INET6, 1, 4), "");
}

SN_TEST(raw_rtt_like_iputils)
{
    struct sn_raw_rtt s;
    sn_raw_rtt_init(&s);
    CHECK_EQ(sn_raw_rtt_avg(&s), 0);
    CHECK_EQ(sn_raw_rtt_mdev(&s), 0);
    /* 45, 51, 60 us: avg 52, var = (8226 - 24336/3 (= 8112))/3 = 38, isqrt -> 6 */
    sn_raw_rtt_add(&s, 45);
    sn_raw_rtt_add(&s, 51);
    sn_raw_rtt_add(&s, 60);
    CHECK_EQ(s.n, 3);
    CHECK_EQ(s.min_us, 45);
    CHECK_EQ(s.max_us, 60);
    CHECK_EQ(sn_raw_rtt_avg(&s), 52);
    CHECK_EQ(sn_raw_rtt_mdev(&s), 6);
    /* a constant series has no deviation; a negative sample counts as 0 */
    sn_raw_rtt_init(&s);
    for (int i = 0; i < 10; i++)
        sn_raw_rtt_add(&s, 1000);
    CHECK_EQ(sn_raw_rtt_mdev(&s), 0);
    sn_raw_rtt_add(&s, -5);
    CHECK_EQ(s.min_us, 0);
    /* 1 s and 3 s: mean 2 s, deviation exactly 1 s (the sum is beyond INT_MAX? no: 4e6) */
    sn_raw_rtt_init(&s);
    sn_raw_rtt_add(&s, 1000000);
    sn_raw_rtt_add(&s, 3000000);
    CHECK_EQ(sn_raw_rtt_mdev(&s), 1000000);
    /* a sum beyond INT_MAX takes iputils' other formula: 1000 s and 1200 s, mdev 100 s */
    sn_raw_rtt_init(&s);
    sn_raw_rtt_add(&s, 1000000000ll);
    sn_raw_rtt_add(&s, 1200000000ll);
    CHECK_EQ(sn_raw_rtt_avg(&s), 1100000000ll);
    CHECK_EQ(sn_raw_rtt_mdev(&s), 100000000ll);
    /* samples are capped at INT32_MAX us, so squares never overflow */
    sn_raw_rtt_add(&s, INT64_MAX);
    CHECK_EQ(s.max_us, INT32_MAX);
}

SN_TEST(raw_echo_emit_and_parse)
{
    uint8_t pkt[128], ip[160];
    int n = sn_raw_echo_emit(AF_INET, 0x1234, 7, 0x0102030405060708ull, 56, pkt, sizeof(pkt));
    CHECK_EQ(n, 64);
    CHECK_EQ(sn_csum(pkt, 64), 0);
    CHECK_EQ(pkt[8 + 8], 8);   /* iputils' pattern after the timestamp */
    CHECK_EQ(pkt[8 + 55], 55);
    CHECK_EQ(sn_raw_echo_emit(AF_INET, 1, 1, 0, 56, pkt, 63), -ENOSPC);
    /* wrap it in an IPv4 header as a raw socket delivers it, then classify */
    struct sn_ipv4_repr h = {.ttl = 61, .proto = SN_IPPROTO_ICMP, .payload_len = 64,
                             .src = {198, 18, 0, 2}, .dst = {198, 18, 0, 1}};
    int hl = sn_ipv4_emit(&h, ip, sizeof(ip));
    CHECK_EQ(hl, 20);
    memcpy(ip + 20, pkt, 64);
    struct sn_raw_icmp ic;
    CHECK_EQ(sn_raw_icmp_parse(AF_INET, ip, 84, &ic), 0);
    CHECK_EQ(ic.kind, SN_RAW_ICMP_ECHO_REQUEST);
    CHECK_EQ(ic.id, 0x1234);
    CHECK_EQ(ic.seq, 7);
    CHECK_EQ(ic.ttl, 61);
    CHECK_EQ(ic.csum_ok, 1);
    CHECK_EQ(ic.src[3], 2);
    uint64_t ts;
    CHECK_EQ(sn_raw_echo_ts(&ic, &ts), 0);
    CHECK_EQ(ts, 0x0102030405060708ull);
    /* a corrupted checksum is reported, not hidden */
    ip[20 + 30] ^= 0xff;
    CHECK_EQ(sn_raw_icmp_parse(AF_INET, ip, 84, &ic), 0);
    CHECK_EQ(ic.csum_ok, 0);
    /* a short payload has no timestamp */
    n = sn_raw_echo_emit(AF_INET6, 9, 9, 5, 4, pkt, sizeof(pkt));
    CHECK_EQ(n, 12);
    CHECK_EQ(sn_raw_icmp_parse(AF_INET6, pkt, 12, &ic), 0);
    CHECK_EQ(ic.kind, SN_RAW_ICMP_ECHO_REQUEST);
    CHECK_EQ(sn_raw_echo_ts(&ic, &ts), -ENODATA);
    /* not ICMP */
    h.proto = SN_IPPROTO_UDP;
    sn_ipv4_emit(&h, ip, sizeof(ip));
    CHECK_EQ(sn_raw_icmp_parse(AF_INET, ip, 84, &ic), -EPROTONOSUPPORT);

    /* A router's time exceeded quoting the request (its IPv4 header and 8 bytes)
     * answers it for sn_raw_echo_match: our identifier, to our target. */
    uint8_t err[128];
    CHECK_EQ(sn_raw_echo_emit(AF_INET, 0x1234, 7, 0, 56, pkt, sizeof(pkt)), 64);
    h.proto = SN_IPPROTO_ICMP;
    sn_ipv4_emit(&h, ip, sizeof(ip));
    memcpy(ip + 20, pkt, 64);
    struct sn_icmp4_repr e = {.type = SN_ICMP_TIMXCEED, .data = ip, .data_len = 28};
    int el = sn_icmp4_emit(&e, err + 20, sizeof(err) - 20);
    CHECK_EQ(el, 36);
    struct sn_ipv4_repr eh = {.ttl = 64, .proto = SN_IPPROTO_ICMP, .payload_len = (uint16_t)el,
                              .src = {198, 18, 0, 254}, .dst = {198, 18, 0, 2}};
    CHECK_EQ(sn_ipv4_emit(&eh, err, sizeof(err)), 20);
    CHECK_EQ(sn_raw_icmp_parse(AF_INET, err, 20 + (size_t)el, &ic), 0);
    struct sn_addr target = {.family = AF_INET, .ip = {198, 18, 0, 1}};
    struct sn_addr router = {.family = AF_INET, .ip = {198, 18, 0, 254}};
    CHECK_EQ(sn_raw_echo_match(&ic, &router, &target, 0x1234), 1);
    CHECK_EQ(ic.q.icmp_seq, 7);
    CHECK_EQ(sn_raw_echo_match(&ic, &router, &target, 0x1235), 0); /* another prober's */
    target.ip[3] = 9;
    CHECK_EQ(sn_raw_echo_match(&ic, &router, &target, 0x1234), 0); /* to another host */
    target.family = AF_INET6;
    CHECK_EQ(sn_raw_echo_match(&ic, &router, &target, 0x1234), 0);
}

/* An ICMP time exceeded from 198.18.1.254 quoting a UDP probe 198.18.1.1:40000 ->
 * 198.19.2.2:33435 with TTL 1 (what the router sends a traceroute). */
static size_t build_timxceed4(uint8_t *out, size_t cap, size_t quote_l4)
{
    uint8_t probe[64];
    uint8_t srcp[4] = {198, 18, 1, 1}, dstp[4] = {198, 19, 2, 2};
    struct sn_ipaddrs ipa = {.family = 4, .src = srcp, .dst = dstp};
    uint8_t pl[12] = {0};
    struct sn_udp_repr u = {.sport = 40000, .dport = 33435, .payload = pl, .payload_len = sizeof(pl)};
    struct sn_ipv4_repr pi = {.ttl = 1, .proto = SN_IPPROTO_UDP, .id = 77, .payload_len = 20};
    memcpy(pi.src, srcp, 4);
    memcpy(pi.dst, dstp, 4);
    sn_ipv4_emit(&pi, probe, sizeof(probe));
    sn_udp_emit(&u, &ipa, probe + 20, sizeof(probe) - 20);
    uint8_t icmp[128];
    struct sn_icmp4_repr e = {.type = SN_ICMP_TIMXCEED, .code = 0, .data = probe,
                              .data_len = 20 + quote_l4};
    int il = sn_icmp4_emit(&e, icmp, sizeof(icmp));
    struct sn_ipv4_repr oh = {.ttl = 64, .proto = SN_IPPROTO_ICMP, .payload_len = (uint16_t)il,
                              .src = {198, 18, 1, 254}, .dst = {198, 18, 1, 1}};
    sn_ipv4_emit(&oh, out, cap);
    memcpy(out + 20, icmp, (size_t)il);
    return 20 + (size_t)il;
}

SN_TEST(raw_icmp_error_quote4)
{
    uint8_t pkt[200];
    size_t n = build_timxceed4(pkt, sizeof(pkt), 8);
    struct sn_raw_icmp ic;
    CHECK_EQ(sn_raw_icmp_parse(AF_INET, pkt, n, &ic), 0);
    CHECK_EQ(ic.kind, SN_RAW_ICMP_TIME_EXCEEDED);
    CHECK_EQ(ic.csum_ok, 1);
    CHECK_EQ(ic.src[3], 254);
    CHECK_EQ(ic.q.ok, 1);
    CHECK_EQ(ic.q.have_l4, 1);
    CHECK_EQ(ic.q.proto, SN_IPPROTO_UDP);
    CHECK_EQ(ic.q.sport, 40000);
    CHECK_EQ(ic.q.dport, 33435);
    CHECK_EQ(ic.q.ip_id, 77);
    CHECK_EQ(ic.q.ttl, 1);
    CHECK_EQ(ic.q.dst[0], 198);
    CHECK_EQ(ic.q.dst[1], 19);
    /* only 4 bytes of the probe's UDP header quoted: no ports, no crash */
    n = build_timxceed4(pkt, sizeof(pkt), 4);
    CHECK_EQ(sn_raw_icmp_parse(AF_INET, pkt, n, &ic), 0);
    CHECK_EQ(ic.q.ok, 1);
    CHECK_EQ(ic.q.have_l4, 0);
    /* every truncation of the datagram: an error or a parse, never a read past len */
    n = build_timxceed4(pkt, sizeof(pkt), 8);
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        CHECK(copy != NULL);
        memcpy(copy, pkt, cut);
        int rc = sn_raw_icmp_parse(AF_INET, copy, cut, &ic);
        free(copy);
        CHECK(rc == 0 || rc < 0);
    }
}

SN_TEST(raw_icmp_error_quote6)
{
    /* ICMPv6 time exceeded quoting a TCP SYN 2001:2:1::1 -> 2001:2:2::2 port 80 */
    uint8_t probe[80], icmp[160];
    struct sn_ipv6_repr pi = {.hop_limit = 1, .next_header = SN_IPPROTO_TCP, .payload_len = 20};
    sn_parse_ipv6("2001:2:1::1", 11, pi.src);
    sn_parse_ipv6("2001:2:2::2", 11, pi.dst);
    sn_ipv6_emit(&pi, probe, sizeof(probe));
    struct sn_tcp_repr t = {.sport = 50000, .dport = 80, .seq = 0xdeadbeef, .flags = SN_TCP_SYN,
                            .window = 1024};
    struct sn_ipaddrs ipa = {.family = 6, .src = pi.src, .dst = pi.dst};
    CHECK_EQ(sn_tcp_emit(&t, &ipa, probe + 40, sizeof(probe) - 40), 20);
    struct sn_icmp6_repr e = {.type = SN_ICMP6_TIMXCEED, .data = probe, .data_len = 60};
    int n = sn_icmp6_emit(&e, NULL, icmp, sizeof(icmp));
    CHECK_EQ(n, 68);
    struct sn_raw_icmp ic;
    CHECK_EQ(sn_raw_icmp_parse(AF_INET6, icmp, (size_t)n, &ic), 0);
    CHECK_EQ(ic.kind, SN_RAW_ICMP_TIME_EXCEEDED);
    CHECK_EQ(ic.q.ok, 1);
    CHECK_EQ(ic.q.proto, SN_IPPROTO_TCP);
    CHECK_EQ(ic.q.sport, 50000);
    CHECK_EQ(ic.q.dport, 80);
    CHECK_EQ(ic.q.tcp_seq, 0xdeadbeef);
    CHECK_EQ(ic.q.dst[15], 2);
    for (int cut = 0; cut < n; cut++)
        CHECK(sn_raw_icmp_parse(AF_INET6, icmp, (size_t)cut, &ic) <= 0);
    CHECK_EQ(sn_raw_icmp_parse(AF_INET6, icmp, 4, &ic), SN_WIRE_ETRUNC);
}

/* ---- privileges ------------------------------------------------------------------- */

static void eperm_body(void)
{
    int fd = sn_raw_open_icmp(AF_INET, 0);
    if (fd >= 0)
        close(fd);
    CHECK_EQ(fd, -EPERM);
    fd = sn_raw_open_icmp(AF_INET6, 0);
    if (fd >= 0)
        close(fd);
    CHECK_EQ(fd, -EPERM);
    fd = sn_raw_packet_open("lo", SN_RAW_ETH_ALL, 0);
    if (fd >= 0)
        close(fd);
    CHECK_EQ(fd, -EPERM);
    CHECK(strstr(sn_raw_hint(fd), "CAP_NET_RAW") != NULL);
    /* no privilege is needed to find a route */
    struct sn_addr lo, src;
    addr_lo(&lo, AF_INET);
    CHECK_EQ(sn_raw_route_src(&lo, NULL, &src), 0);
}

SN_TEST(raw_eperm_without_cap_net_raw)
{
    if (geteuid() != 0) { /* already without privileges: no child needed */
        eperm_body();
        return;
    }
    in_child(eperm_body, CHILD_NOBODY, 10);
}

/* ---- sockets in a private namespace ------------------------------------------------ */

static void open_close_body(void)
{
    struct sn_raw_opts o = {.family = AF_INET, .proto = IPPROTO_TCP, .flags = SN_RAW_HDRINCL |
                            SN_RAW_NONBLOCK | SN_RAW_RECVPKTINFO, .rcvbuf = 1 << 16, .sndbuf = 1 << 16,
                            .device = "lo"};
    int fd = sn_raw_open(&o);
    CHECK(fd >= 0);
    CHECK_EQ(sn_raw_family(fd), AF_INET);
    CHECK_EQ(sn_sock_get_nonblock(fd), 1);
    CHECK(sn_sock_get_rcvbuf(fd) >= 1 << 16);
    CHECK_EQ(sn_raw_set_ttl(fd, 17), 0);
    CHECK_EQ(sn_raw_get_ttl(fd), 17);
    CHECK_EQ(sn_raw_set_ttl(fd, 0), -EINVAL);
    CHECK_EQ(sn_raw_bind_device(fd, NULL), 0);
    CHECK_EQ(sn_raw_bind_device(fd, "sn-nosuch0"), -ENODEV);
    char buf[64];
    CHECK_EQ(sn_raw_recv(fd, buf, sizeof(buf), NULL, 0), -EAGAIN);
    CHECK_EQ(sn_raw_close(fd), 0);
    CHECK_EQ(sn_raw_close(fd), -EBADF);

    struct sn_addr b;
    addr_lo(&b, AF_INET6);
    o = (struct sn_raw_opts){.family = AF_INET6, .proto = IPPROTO_UDP, .ttl = 9,
                             .flags = SN_RAW_V6CSUM | SN_RAW_RECVHOPLIMIT, .bind = &b};
    fd = sn_raw_open(&o);
    CHECK(fd >= 0);
    CHECK_EQ(sn_raw_get_ttl(fd), 9);
    CHECK_EQ(sn_sock_getopt_int(fd, IPPROTO_IPV6, IPV6_CHECKSUM), 6);
    CHECK_EQ(sn_raw_close(fd), 0);
    CHECK_EQ(sn_raw_packet_open("sn-nosuch0", SN_RAW_ETH_ALL, 0), -ENODEV);
}

SN_TEST(raw_open_close_options)
{
    in_child(open_close_body, CHILD_NETNS, 10);
}

static void echo_body(int family)
{
    int fd = sn_raw_open_icmp(family, 0);
    CHECK(fd >= 0);
    struct sn_addr dst, src;
    addr_lo(&dst, family);
    CHECK_EQ(sn_raw_route_src(&dst, NULL, &src), 0);
    CHECK(sn_addr_is_loopback(&src));
    uint8_t pkt[128], buf[512];
    uint64_t t0 = sn_realtime_ns();
    int n = sn_raw_echo_emit(family, 0x4242, 1, t0, 56, pkt, sizeof(pkt));
    CHECK_EQ(n, 64);
    /* TTL 7 for this packet only: the request as lo delivers it back shows it */
    CHECK_EQ(sn_raw_send(fd, pkt, (size_t)n, &dst, 7), 64);
    struct sn_raw_icmp ic;
    struct sn_raw_rx rx;
    int r = recv_kind(fd, family, SN_RAW_ICMP_ECHO_REQUEST, 0x4242, buf, sizeof(buf), &ic, &rx);
    CHECK(r > 0);
    CHECK_EQ(rx.hop_limit, 7);
    CHECK_EQ(sn_raw_echo_match(&ic, &rx.from, &dst, 0x4242), 0); /* our own request is no answer */
    r = recv_kind(fd, family, SN_RAW_ICMP_ECHO_REPLY, 0x4242, buf, sizeof(buf), &ic, &rx);
    CHECK(r > 0);
    CHECK_EQ(r, family == AF_INET ? 84 : 64);
    CHECK_EQ(rx.wire_len, (size_t)r);
    CHECK_EQ(ic.seq, 1);
    CHECK_EQ(ic.csum_ok, 1);
    CHECK(sn_addr_is_loopback(&rx.from));
    CHECK_EQ(rx.hop_limit, 64); /* the kernel answers with its default TTL */
    CHECK_EQ(sn_raw_echo_match(&ic, &rx.from, &dst, 0x4242), 1);
    CHECK_EQ(sn_raw_echo_match(&ic, &rx.from, &dst, 0x4243), 0); /* another prober's */
    uint64_t ts;
    CHECK_EQ(sn_raw_echo_ts(&ic, &ts), 0);
    CHECK_EQ(ts, t0);
    CHECK(rx.ts_ns >= t0 && rx.ts_ns - t0 < 2000000000ull); /* SO_TIMESTAMPNS */
    /* a receive buffer too short: the wire length still says the truth */
    n = sn_raw_echo_emit(family, 0x4242, 2, t0, 56, pkt, sizeof(pkt));
    CHECK_EQ(sn_raw_send(fd, pkt, (size_t)n, &dst, -1), 64);
    r = recv_kind(fd, family, SN_RAW_ICMP_ECHO_REPLY, 0x4242, buf, sizeof(buf), &ic, &rx);
    CHECK(r > 0);
    CHECK_EQ(sn_raw_close(fd), 0);
}

static void echo4_body(void) { echo_body(AF_INET); }
static void echo6_body(void) { echo_body(AF_INET6); }

SN_TEST(raw_icmp_echo_v4_kernel_reply)
{
    in_child(echo4_body, CHILD_NETNS, 10);
}

SN_TEST(raw_icmp_echo_v6_kernel_reply)
{
    in_child(echo6_body, CHILD_NETNS, 10);
}

static void short_buffer_body(void)
{
    int fd = sn_raw_open_icmp(AF_INET, 0);
    CHECK(fd >= 0);
    struct sn_addr dst;
    addr_lo(&dst, AF_INET);
    uint8_t pkt[128], small[40];
    int n = sn_raw_echo_emit(AF_INET, 0x77, 1, 0, 56, pkt, sizeof(pkt));
    CHECK_EQ(sn_raw_send(fd, pkt, (size_t)n, &dst, -1), n);
    struct sn_raw_rx rx;
    CHECK_EQ(sn_raw_wait(fd, 2000), 1);
    CHECK_EQ(sn_raw_recv(fd, small, sizeof(small), &rx, 0), 40);
    CHECK_EQ(rx.len, 40);
    CHECK_EQ(rx.wire_len, 84);
    /* nothing else waits after the request and the reply */
    CHECK_EQ(sn_raw_wait(fd, 1000), 1);
    CHECK_EQ(sn_raw_recv(fd, small, sizeof(small), &rx, 0), 40);
    CHECK_EQ(sn_raw_wait(fd, 50), 0);

    /* sn_raw_wait_until: bit i for fds[i]; a deadline already past only looks */
    int p[2];
    CHECK_EQ(pipe(p), 0);
    int fds[2] = {p[0], fd};
    uint64_t t0 = sn_now_ns();
    CHECK_EQ(sn_raw_wait_until(fds, 2, t0 + 50000000), 0);
    CHECK(sn_now_ns() - t0 >= 40000000); /* it slept toward the deadline */
    CHECK_EQ(sn_raw_send(fd, pkt, (size_t)n, &dst, -1), n);
    CHECK_EQ(sn_raw_wait_until(fds, 2, sn_now_ns() + 2000000000), 2);
    CHECK_EQ(write(p[1], "x", 1), 1);
    CHECK_EQ(sn_raw_wait_until(fds, 2, 0), 3);
    CHECK_EQ(sn_raw_wait_until(fds, 1, UINT64_MAX), 1);
    CHECK_EQ(sn_raw_wait_until(fds, 0, 0), -EINVAL);
    CHECK_EQ(sn_raw_wait_until(fds, SN_RAW_WAIT_MAX + 1, 0), -EINVAL);
    close(p[0]);
    close(p[1]);
    close(fd);
}

SN_TEST(raw_recv_short_buffer_reports_wire_len)
{
    in_child(short_buffer_body, CHILD_NETNS, 10);
}

static void batch_body(void)
{
    int fd = sn_raw_open_icmp(AF_INET6, 0);
    CHECK(fd >= 0);
    /* only echo replies pass: our own requests (looped back) are filtered out */
    uint8_t pass[] = {SN_ICMP6_ECHOREPLY};
    CHECK_EQ(sn_raw_icmp6_filter(fd, pass, 1), 0);
    struct sn_addr dst;
    addr_lo(&dst, AF_INET6);
    enum { N = 70 }; /* more than one sendmmsg chunk */
    static uint8_t pkts[N][64];
    static struct sn_raw_pkt v[N];
    for (int i = 0; i < N; i++) {
        CHECK_EQ(sn_raw_echo_emit(AF_INET6, 0x5151, (uint16_t)i, 0, 56, pkts[i], 64), 64);
        v[i] = (struct sn_raw_pkt){.data = pkts[i], .len = 64, .to = dst, .ttl = i % 2 ? 5 : -1};
    }
    CHECK_EQ(sn_raw_send_many(fd, v, N, 0), N);
    uint8_t seen[N] = {0}, buf[256];
    int got = 0;
    while (got < N && sn_raw_wait(fd, 2000) == 1) {
        struct sn_raw_icmp ic;
        ssize_t n = sn_raw_recv(fd, buf, sizeof(buf), NULL, 0);
        CHECK(n > 0);
        CHECK_EQ(sn_raw_icmp_parse(AF_INET6, buf, (size_t)n, &ic), 0);
        CHECK_EQ(ic.kind, SN_RAW_ICMP_ECHO_REPLY);
        CHECK(ic.seq < N && !seen[ic.seq]);
        seen[ic.seq] = 1;
        got++;
    }
    CHECK_EQ(got, N);
    /* a bad destination family stops at the first packet */
    v[0].to.family = AF_UNIX;
    CHECK_EQ(sn_raw_send_many(fd, v, 2, 0), -EAFNOSUPPORT);
    CHECK_EQ(sn_raw_icmp6_filter(fd, NULL, 0), 0);
    close(fd);
}

SN_TEST(raw_send_many_and_icmp6_filter)
{
    in_child(batch_body, CHILD_NETNS, 10);
}

/* Count the frames of ethertype 0x88b5 waiting on fd (until 300 ms of quiet),
 * checking each against frame; by packet type in host / outgoing. */
static int drain_frames(int fd, const uint8_t *frame, size_t len, int *host, int *outgoing)
{
    uint8_t buf[256];
    int n = 0;
    *host = *outgoing = 0;
    while (sn_raw_wait(fd, 300) == 1) {
        struct sn_raw_rx rx;
        ssize_t r = sn_raw_recv(fd, buf, sizeof(buf), &rx, MSG_DONTWAIT);
        if (r < 0 || rx.ethertype != 0x88b5)
            continue;
        if ((size_t)r != len || memcmp(buf, frame, len) || rx.from.family != AF_UNSPEC ||
            rx.ts_ns == 0 || rx.ifindex != (uint32_t)sn_sock_ifindex("lo"))
            return -1;
        *host += rx.pkttype == PACKET_HOST;
        *outgoing += rx.pkttype == PACKET_OUTGOING;
        n++;
    }
    return n;
}

static void packet_body(void)
{
    int fd = sn_raw_packet_open("lo", 0x88b5, SN_RAW_TIMESTAMPNS);
    CHECK(fd >= 0);
    CHECK_EQ(sn_raw_family(fd), AF_PACKET);
    int spy = sn_raw_packet_open("lo", SN_RAW_ETH_ALL, SN_RAW_TIMESTAMPNS);
    CHECK(spy >= 0);
    int in_only = sn_raw_packet_open("lo", 0x88b5, SN_RAW_TIMESTAMPNS | SN_RAW_NO_OUTGOING |
                                                       SN_RAW_NONBLOCK);
    CHECK(in_only >= 0);
    uint8_t frame[64];
    memset(frame, 0, sizeof(frame));
    struct sn_eth_repr e = {.type = 0x88b5};
    CHECK_EQ(sn_eth_emit(&e, frame, sizeof(frame)), 14);
    for (int i = 14; i < 64; i++)
        frame[i] = (uint8_t)(i * 3);
    CHECK_EQ(sn_raw_send(fd, frame, sizeof(frame), NULL, -1), 64);
    int host, out;
    /* the sender sees the frame come back in on lo (never its own outgoing copy) */
    CHECK_EQ(drain_frames(fd, frame, sizeof(frame), &host, &out), 1);
    CHECK_EQ(host, 1);
    /* an ETH_P_ALL socket sees it going out and coming in */
    CHECK_EQ(drain_frames(spy, frame, sizeof(frame), &host, &out), 2);
    CHECK_EQ(host, 1);
    CHECK_EQ(out, 1);
    /* PACKET_IGNORE_OUTGOING: only the incoming copy */
    CHECK_EQ(drain_frames(in_only, frame, sizeof(frame), &host, &out), 1);
    CHECK_EQ(host, 1);
    /* batched sends */
    struct sn_raw_pkt v[3];
    for (int i = 0; i < 3; i++)
        v[i] = (struct sn_raw_pkt){.data = frame, .len = sizeof(frame), .ttl = -1};
    CHECK_EQ(sn_raw_send_many(fd, v, 3, 0), 3);
    CHECK_EQ(drain_frames(in_only, frame, sizeof(frame), &host, &out), 3);
    CHECK_EQ(host, 3);
    close(fd);
    close(spy);
    close(in_only);
}

SN_TEST(raw_packet_lo_send_receive)
{
    in_child(packet_body, CHILD_NETNS, 10);
}

static void hdrincl_body(void)
{
    /* An ICMP echo built whole (IPv4 header by us) on an IPPROTO_RAW socket, the
     * reply read on an ICMP socket: the kernel accepted our header. */
    struct sn_raw_opts o = {.family = AF_INET, .proto = IPPROTO_RAW, .flags = SN_RAW_HDRINCL};
    int tx = sn_raw_open(&o);
    CHECK(tx >= 0);
    int rxfd = sn_raw_open_icmp(AF_INET, 0);
    CHECK(rxfd >= 0);
    uint8_t pkt[128], buf[256];
    struct sn_ipv4_repr h = {.ttl = 33, .proto = SN_IPPROTO_ICMP, .id = 4321, .payload_len = 64,
                             .src = {127, 0, 0, 1}, .dst = {127, 0, 0, 1}};
    CHECK_EQ(sn_ipv4_emit(&h, pkt, sizeof(pkt)), 20);
    CHECK_EQ(sn_raw_echo_emit(AF_INET, 0x6363, 3, 0, 56, pkt + 20, sizeof(pkt) - 20), 64);
    struct sn_addr dst;
    addr_lo(&dst, AF_INET);
    CHECK_EQ(sn_raw_send(tx, pkt, 84, &dst, -1), 84);
    struct sn_raw_icmp ic;
    struct sn_raw_rx rx;
    CHECK(recv_kind(rxfd, AF_INET, SN_RAW_ICMP_ECHO_REQUEST, 0x6363, buf, sizeof(buf), &ic, &rx) > 0);
    CHECK_EQ(rx.hop_limit, 33);
    CHECK_EQ(sn_load_be16(buf + 4), 4321);
    CHECK(recv_kind(rxfd, AF_INET, SN_RAW_ICMP_ECHO_REPLY, 0x6363, buf, sizeof(buf), &ic, &rx) > 0);
    CHECK_EQ(ic.seq, 3);
    close(tx);
    close(rxfd);
}

SN_TEST(raw_hdrincl_ipv4_echo)
{
    in_child(hdrincl_body, CHILD_NETNS, 10);
}
