/* test_ring.c — the ring module: TPACKET_V3 receive ring (counts, bytes, time
 * stamps, block retirement, ownership cycling, drops, filters, snaplen, fanout,
 * VLAN tags, errors) and the TPACKET_V2 transmit ring.
 *
 * Network safety: every test that opens a ring runs in a forked child that first
 * enters a network namespace of its own (unshare(CLONE_NEWNET)), where only `lo`
 * and veth pairs the test creates exist; traffic goes to 127.0.0.1 or between the
 * two ends of such a veth pair (Ethernet type 0x88b5, "local experimental"). The
 * host's interfaces are never opened. Without root those tests say skip, and the
 * -EPERM path is tested instead.
 */
#include "../harness.h"
#include "../netns.h"
#include <sysnet/ring.h>
#include <sysnet/sock.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

/* ---- helpers: descriptors (namespaces and veth pairs: ../netns.h) ------------- */

static int lowest_free_fd(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
        close(fd);
    return fd;
}

/* ---- helpers: UDP on 127.0.0.1 ------------------------------------------------ */

/* A UDP socket bound to 127.0.0.1:port (0 = any). Receivers exist so that no ICMP
 * port-unreachable adds packets to what the ring sees. */
static int udp_on(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int big = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Send one datagram of len bytes (>= 4) to 127.0.0.1:dport; the payload starts
 * with seq (big-endian) and goes on with a pattern derived from it. */
static int udp_send(int fd, uint16_t dport, uint32_t seq, size_t len)
{
    uint8_t buf[2048];
    if (len < 4 || len > sizeof(buf))
        return -1;
    sn_store_be32(buf, seq);
    for (size_t i = 4; i < len; i++)
        buf[i] = (uint8_t)(seq * 7 + i);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(dport)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sendto(fd, buf, len, 0, (struct sockaddr *)&a, sizeof(a)) == (ssize_t)len ? 0 : -1;
}

/* Ethernet/IPv4/UDP fields of a captured lo frame (lo has a zeroed 14-byte
 * Ethernet header). 0 if the frame is that, else -1. */
struct udp_view {
    uint16_t sport, dport;
    uint32_t seq;            /* first 4 payload bytes, if present */
    const uint8_t *payload;
    uint32_t paylen;         /* from the UDP length field */
};

static int udp_parse(const uint8_t *f, uint32_t caplen, struct udp_view *u)
{
    if (caplen < 14 + 20 + 8 || sn_load_be16(f + 12) != ETH_P_IP || f[14 + 9] != 17)
        return -1;
    uint32_t ihl = (f[14] & 0xfu) * 4u;
    if (caplen < 14 + ihl + 8)
        return -1;
    const uint8_t *udp = f + 14 + ihl;
    u->sport = sn_load_be16(udp);
    u->dport = sn_load_be16(udp + 2);
    u->paylen = sn_load_be16(udp + 4) - 8u;
    u->payload = udp + 8;
    u->seq = caplen >= 14 + ihl + 12 ? sn_load_be32(udp + 8) : 0xffffffffu;
    return 0;
}

/* The ring options most tests use: lo, small blocks, a short retire timer. */
static struct sn_ring_opts lo_opts(void)
{
    struct sn_ring_opts o = {.ifname = "lo", .block_size = 64 * 1024, .block_count = 16,
                             .retire_ms = 10};
    return o;
}

/* Classic BPF "udp dst port X" over Ethernet (what `tcpdump -d 'udp dst port X'`
 * prints, minus IPv6), hand-written: IPv4, protocol 17, not a later fragment. */
#define UDP_DPORT_FILTER(port)                                                               \
    {                                                                                        \
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),              /* 0: ethertype */              \
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 8), /* 1: IPv4 ? : drop */          \
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23),              /* 2: IP protocol */            \
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 6),       /* 3: UDP ? : drop */           \
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 20),              /* 4: flags + frag offset */    \
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 4, 0),  /* 5: a later fragment: drop */ \
        BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14),             /* 6: x = IP header length */   \
        BPF_STMT(BPF_LD | BPF_H | BPF_IND, 16),              /* 7: UDP destination port */   \
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (port), 0, 1),   /* 8 */                         \
        BPF_STMT(BPF_RET | BPF_K, 262144),                   /* 9: accept */                 \
        BPF_STMT(BPF_RET | BPF_K, 0),                        /* 10: drop */                  \
    }

/* "ether proto 0x88b5" */
static const struct sock_filter eth_88b5_filter[] = {
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x88b5, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, 262144),
    BPF_STMT(BPF_RET | BPF_K, 0),
};

/* Per-test tallies of what a ring returned for our UDP traffic. */
struct tally {
    uint32_t out, in;            /* PACKET_OUTGOING / the rest */
    uint64_t bytes_out, bytes_in;
    uint32_t other;              /* packets that are not ours */
};

/* Read r until it stays idle for idle_ms; count packets to dport; fn (if any)
 * sees each of them. Returns the number of packets read, or -errno. */
static int drain_ring(struct sn_ring *r, int idle_ms, uint16_t dport, struct tally *t,
                      void (*fn)(const struct sn_ring_pkt *, const struct udp_view *, void *), void *arg)
{
    struct sn_ring_pkt p;
    int n = 0, rc;
    while ((rc = sn_ring_next(r, &p, idle_ms)) == 1) {
        struct udp_view u;
        n++;
        if (udp_parse(p.data, p.caplen, &u) < 0 || (dport && u.dport != dport)) {
            if (t)
                t->other++;
            continue;
        }
        if (t) {
            if (p.pkttype == PACKET_OUTGOING) {
                t->out++;
                t->bytes_out += p.wirelen;
            } else {
                t->in++;
                t->bytes_in += p.wirelen;
            }
        }
        if (fn)
            fn(&p, &u, arg);
    }
    return rc < 0 ? rc : n;
}

/* ======================================================================
 * Tests without privileges: options, errors, helpers
 * ====================================================================== */

SN_TEST(ring_open_invalid_geometry_einval)
{
    struct sn_ring r;
    struct sock_filter f1[1] = {BPF_STMT(BPF_RET | BPF_K, 0)};
    struct {
        struct sn_ring_opts o;
    } bad[] = {
        {{.ifname = "lo", .block_size = 1000}},                       /* not a page multiple */
        {{.ifname = "lo", .block_size = 4096 + 512}},                 /* not a page multiple */
        {{.ifname = "lo", .frame_size = 100}},                        /* not a multiple of 16 */
        {{.ifname = "lo", .frame_size = 64}},                         /* below the V3 header */
        {{.ifname = "lo", .block_size = 4096, .frame_size = 8192}},   /* frame > block */
        {{.ifname = "lo", .block_size = 1u << 30, .block_count = 4}}, /* 4 GiB */
        {{.ifname = "lo", .flags = 0x80}},                            /* unknown flag */
        {{.ifname = "lo", .fanout_mode = 99}},
        {{.ifname = "lo", .fanout_flags = SN_RING_FANOUT_FLAG_DEFRAG}}, /* flags, no mode */
        {{.ifname = "lo", .fanout_mode = SN_RING_FANOUT_HASH, .fanout_flags = 0x2000}},
        {{.ifname = "lo", .filter = NULL, .filter_len = 3}},
        {{.ifname = "lo", .filter = f1, .filter_len = 0}},
        {{.ifname = "lo", .filter = f1, .filter_len = 5000}},
        {{.ifname = NULL}},
    };
    int fd0 = lowest_free_fd();
    for (size_t i = 0; i < SN_COUNTOF(bad); i++) {
        memset(&r, 0x5a, sizeof(r));
        CHECK_EQ(sn_ring_open(&r, &bad[i].o) * 100 + (int)i, -EINVAL * 100 + (int)i);
        CHECK_EQ(r.fd, -1);
        CHECK(r.map == NULL);
        sn_ring_close(&r); /* harmless after a failed open */
    }
    CHECK_EQ(sn_ring_open(&r, NULL), -EINVAL);
    CHECK_EQ(sn_ring_open(NULL, &bad[0].o), -EINVAL);
    CHECK_EQ(lowest_free_fd(), fd0);
}

SN_TEST(txring_open_invalid_geometry_einval)
{
    struct sn_txring t;
    struct sn_txring_opts bad[] = {
        {.ifname = "lo", .frame_size = 100},                     /* not a multiple of 16 */
        {.ifname = "lo", .frame_size = 48},                      /* below the V2 header */
        {.ifname = "lo", .block_size = 1000},                    /* not a page multiple */
        {.ifname = "lo", .frame_size = 8192, .block_size = 4096}, /* frame > block */
        {.ifname = "lo", .frame_size = 65536, .frame_count = 1u << 16}, /* 4 GiB */
        {.ifname = "lo", .flags = 0x10},
        {.ifname = NULL},
    };
    for (size_t i = 0; i < SN_COUNTOF(bad); i++) {
        CHECK_EQ(sn_txring_open(&t, &bad[i]) * 100 + (int)i, -EINVAL * 100 + (int)i);
        CHECK_EQ(t.fd, -1);
        sn_txring_close(&t);
    }
}

SN_TEST(ring_open_bad_ifname_enodev)
{
    struct sn_ring r;
    struct sn_txring t;
    struct sn_ring_opts o = {.ifname = "sn-nosuch0"};
    CHECK_EQ(sn_ring_open(&r, &o), -ENODEV);
    CHECK_EQ(r.fd, -1);
    struct sn_txring_opts to = {.ifname = "sn-nosuch0"};
    CHECK_EQ(sn_txring_open(&t, &to), -ENODEV);
    o.ifname = "a-name-far-too-long-for-ifnamsiz";
    CHECK_EQ(sn_ring_open(&r, &o), -EINVAL);
    o.ifname = "";
    CHECK_EQ(sn_ring_open(&r, &o), -EINVAL);
    CHECK(sn_ring_hint(-ENODEV) != NULL);
    CHECK_EQ(sn_ring_linktype_of("sn-nosuch0"), -ENODEV);
    CHECK_EQ(sn_ring_linktype_of(""), -EINVAL);
    CHECK_EQ(sn_ring_linktype_of(NULL), -EINVAL);
    CHECK_EQ(sn_ring_linktype_of("lo"), 1); /* an ioctl only: nothing is opened */
}

SN_TEST(ring_hint_lines)
{
    const char *h = sn_ring_hint(-EPERM);
    CHECK(h != NULL);
    CHECK_STR(h, "capturing needs CAP_NET_RAW: run as root or "
                 "`setcap cap_net_raw+ep build/sysnet`");
    CHECK(sn_ring_hint(EPERM) == h);
    CHECK(sn_ring_hint(-EACCES) == h);
    CHECK(strchr(h, '\n') == NULL);
    CHECK(sn_ring_hint(-ENETDOWN) != NULL);
    CHECK(sn_ring_hint(-ENOMEM) != NULL);
    CHECK(sn_ring_hint(0) == NULL);
    CHECK(sn_ring_hint(-EBADMSG) == NULL);
}

/* Run the unprivileged half: opens on lo must fail at socket() with -EPERM. */
static void eperm_body(void)
{
    struct sn_ring r;
    struct sn_txring t;
    struct sn_ring_opts o = {.ifname = "lo"};
    struct sn_txring_opts to = {.ifname = "lo"};
    int fd0 = lowest_free_fd();
    CHECK_EQ(sn_ring_open(&r, &o), -EPERM);
    CHECK_EQ(r.fd, -1);
    CHECK_EQ(sn_txring_open(&t, &to), -EPERM);
    CHECK(strstr(sn_ring_hint(-EPERM), "CAP_NET_RAW") != NULL);
    CHECK_EQ(lowest_free_fd(), fd0);
}

static void eperm_dropped_body(void)
{
    if (drop_to_nobody() < 0) {
        sn_test_fail(__FILE__, __LINE__, "cannot drop to uid 65534");
        return;
    }
    eperm_body();
}

SN_TEST(ring_open_without_cap_net_raw_eperm)
{
    if (geteuid() != 0) {
        eperm_body(); /* we are unprivileged already */
        return;
    }
    in_netns(eperm_dropped_body, 20);
}

SN_TEST(ring_vlan_rebuild_inserts_tag)
{
    uint8_t frame[64], out[80];
    for (size_t i = 0; i < sizeof(frame); i++)
        frame[i] = (uint8_t)i;
    struct sn_ring_pkt p;
    memset(&p, 0, sizeof(p));
    p.data = frame;
    p.caplen = 60;
    p.wirelen = 60;
    uint32_t wl = 0;
    /* untagged: copied as is */
    CHECK_EQ(sn_ring_vlan_rebuild(&p, out, sizeof(out), &wl), 60);
    CHECK_MEM(out, frame, 60);
    CHECK_EQ(wl, 60);
    /* tagged: MACs, TPID, TCI, then the rest */
    p.vlan_valid = 1;
    p.vlan_tci = 0x2005;
    p.vlan_tpid = 0x88a8;
    CHECK_EQ(sn_ring_vlan_rebuild(&p, out, sizeof(out), &wl), 64);
    CHECK_EQ(wl, 64);
    CHECK_MEM(out, frame, 12);
    CHECK_EQ(sn_load_be16(out + 12), 0x88a8);
    CHECK_EQ(sn_load_be16(out + 14), 0x2005);
    CHECK_MEM(out + 16, frame + 12, 48);
    /* TPID unknown: 802.1Q */
    p.vlan_tpid = 0;
    CHECK_EQ(sn_ring_vlan_rebuild(&p, out, sizeof(out), NULL), 64);
    CHECK_EQ(sn_load_be16(out + 12), 0x8100);
    /* no room: nothing written */
    memset(out, 0xee, sizeof(out));
    CHECK_EQ(sn_ring_vlan_rebuild(&p, out, 63, NULL), -ENOSPC);
    CHECK_EQ(out[0], 0xee);
    /* shorter than the two MAC addresses: copied as is */
    p.caplen = 10;
    CHECK_EQ(sn_ring_vlan_rebuild(&p, out, sizeof(out), &wl), 10);
    CHECK_EQ(wl, 60);
}

SN_TEST(ring_close_zeroed_and_twice_is_safe)
{
    struct sn_ring r;
    struct sn_txring t;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    memset(&r, 0, sizeof(r));
    r.fd = fd; /* not open (no mapping): close must not touch this fd */
    sn_ring_close(&r);
    sn_ring_close(&r);
    memset(&t, 0, sizeof(t));
    t.fd = fd;
    sn_txring_close(&t);
    CHECK(fcntl(fd, F_GETFD) >= 0);
    close(fd);
    CHECK_EQ(r.fd, -1);
    CHECK_EQ(sn_ring_fd(&r), -EBADF);
    CHECK_EQ(sn_ring_stats(&r, NULL), -EBADF);
    CHECK_EQ(sn_ring_linktype(&r), -EBADF);
    struct sn_ring_pkt p;
    CHECK_EQ(sn_ring_next(&r, &p, 0), -EBADF);
    CHECK_EQ(sn_ring_set_filter(&r, NULL, 0), -EBADF);
    uint8_t *d;
    CHECK_EQ(sn_txring_frame(&t, &d, 0), -EBADF);
    CHECK_EQ(sn_txring_flush(&t), -EBADF);
    CHECK_EQ(sn_txring_commit(&t, 60), -EINVAL);
}

/* ======================================================================
 * Receive ring on lo, in a private namespace
 * ====================================================================== */

enum { N_COUNT = 100, PORT_A = 5555, PORT_B = 6666 };

struct seen_map {
    uint8_t out[N_COUNT], in[N_COUNT];
    int bad;
};

static void mark_seen(const struct sn_ring_pkt *p, const struct udp_view *u, void *arg)
{
    struct seen_map *m = arg;
    if (u->seq >= N_COUNT) {
        m->bad++;
        return;
    }
    /* the payload made it intact */
    for (uint32_t i = 4; i < u->paylen && (size_t)(u->payload - p->data) + i < p->caplen; i++)
        if (u->payload[i] != (uint8_t)(u->seq * 7 + i)) {
            m->bad++;
            return;
        }
    if (p->pkttype == PACKET_OUTGOING)
        m->out[u->seq]++;
    else
        m->in[u->seq]++;
}

static void rx_counts_body(void)
{
    struct sn_ring r;
    struct sn_ring_opts o = lo_opts();
    int fd0 = lowest_free_fd();
    CHECK_EQ(sn_ring_open(&r, &o), 0);
    CHECK_EQ(sn_ring_linktype(&r), 1);
    CHECK_EQ(sn_ring_linktype_of("lo"), 1);
    int rx = udp_on(PORT_A), tx = udp_on(0);
    CHECK(rx >= 0 && tx >= 0);
    uint64_t want = 0;
    for (uint32_t i = 0; i < N_COUNT; i++) {
        size_t len = 4 + (i * 13) % 1000;
        CHECK_EQ(udp_send(tx, PORT_A, i, len), 0);
        want += 14 + 20 + 8 + len; /* Ethernet (zeroed on lo) + IPv4 + UDP + payload */
    }
    struct tally t = {0};
    struct seen_map m;
    memset(&m, 0, sizeof(m));
    CHECK(drain_ring(&r, 200, PORT_A, &t, mark_seen, &m) >= 2 * N_COUNT);
    /* lo shows each datagram twice: leaving (PACKET_OUTGOING) and arriving (PACKET_HOST) */
    CHECK_EQ(t.out, N_COUNT);
    CHECK_EQ(t.in, N_COUNT);
    CHECK_EQ(t.bytes_out, want);
    CHECK_EQ(t.bytes_in, want);
    CHECK_EQ(m.bad, 0);
    for (int i = 0; i < N_COUNT; i++) {
        CHECK_EQ(m.out[i], 1);
        CHECK_EQ(m.in[i], 1);
    }
    struct sn_ring_stats st;
    CHECK_EQ(sn_ring_stats(&r, &st), 0);
    CHECK_EQ(st.drops, 0);
    CHECK(st.packets >= 2 * N_COUNT);
    CHECK_EQ(st.delivered, st.packets); /* nothing else, nothing lost */
    CHECK(st.blocks >= 1);
    CHECK(st.bytes >= 2 * want);
    close(rx);
    close(tx);
    sn_ring_close(&r);
    sn_ring_close(&r);
    CHECK_EQ(lowest_free_fd(), fd0);
}
SN_TEST(rx_catches_exactly_n_udp_on_lo) { in_netns(rx_counts_body, 30); }

static void rx_no_outgoing_body(void)
{
    struct sn_ring r;
    struct sn_ring_opts o = lo_opts();
    o.flags = SN_RING_NO_OUTGOING;
    CHECK_EQ(sn_ring_open(&r, &o), 0);
    int rx = udp_on(PORT_A), tx = udp_on(0);
    CHECK(rx >= 0 && tx >= 0);
    for (uint32_t i = 0; i < N_COUNT; i++)
        CHECK_EQ(udp_send(tx, PORT_A, i, 32), 0);
    struct tally t = {0};
    CHECK(drain_ring(&r, 200, PORT_A, &t, NULL, NULL) >= 0);
    CHECK_EQ(t.out, 0);
    CHECK_EQ(t.in, N_COUNT);
    close(rx);
    close(tx);
    sn_ring_close(&r);
}
SN_TEST(rx_ignore_outgoing_sees_each_once) { in_netns(rx_no_outgoing_body, 30); }

static void rx_fields_body(void)
{
    struct sn_ring r;
    struct sn_ring_opts o = lo_opts();
    o.flags = SN_RING_NO_OUTGOING;
    CHECK_EQ(sn_ring_open(&r, &o), 0);
    int rx = udp_on(PORT_A), tx = udp_on(0);
    CHECK(rx >= 0 && tx >= 0);
    uint64_t t0 = sn_realtime_ns();
    for (uint32_t i = 0; i < 50; i++)
        CHECK_EQ(udp_send(tx, PORT_A, i, 100), 0);
    uint64_t t1 = sn_realtime_ns();
    struct sn_ring_pkt p;
    uint64_t last = 0;
    int n = 0;
    while (sn_ring_next(&r, &p, 200) == 1) {
        struct udp_view u;
        if (udp_parse(p.data, p.caplen, &u) < 0 || u.dport != PORT_A)
            continue;
        CHECK(p.ts_ns >= t0 && p.ts_ns <= t1);  /* stamped while we sent */
        CHECK(p.ts_ns >= last);                 /* in order */
        last = p.ts_ns;
        CHECK_EQ(p.ifindex, (uint32_t)sn_sock_ifindex("lo"));
        CHECK_EQ(p.hatype, ARPHRD_LOOPBACK);
        CHECK_EQ(p.protocol, ETH_P_IP);
        CHECK_EQ(p.pkttype, PACKET_HOST);
        CHECK_EQ(p.caplen, p.wirelen);
        CHECK_EQ(p.wirelen, 14 + 20 + 8 + 100);
        CHECK_EQ(p.vlan_valid, 0);
        CHECK_EQ(p.rxhash, 0); /* not asked for */
        n++;
    }
    CHECK_EQ(n, 50);
    close(rx);
    close(tx);
    sn_ring_close(&r);
}
SN_TEST(rx_timestamps_and_fields) { in_netns(rx_fields_body, 30); }

static void rx_rxhash_body(void)
{
    struct sn_ring r;
    struct sn_ring_opts o = lo_opts();
    o.flags = SN_RING_NO_OUTGOING | SN_RING_RXHASH;
    CHECK_EQ(sn_ring_open(&r, &o), 0);
    int rx = udp_on(PORT_A), tx1 = udp_on(0), tx2 = udp_on(0);
    CHECK(rx >= 0 && tx1 >= 0 && tx2 >= 0);
    for (uint32_t i = 0; i < 5; i++) {
        CHECK_EQ(udp_send(tx1, PORT_A, i, 20), 0);
        CHECK_EQ(udp_send(tx2, PORT_A, i, 20), 0);
    }
    struct sn_ring_pkt p;
    uint32_t h[2] = {0, 0};
    uint16_t sp[2] = {0, 0};
    int n = 0;
    while (sn_ring_next(&r, &p, 200) == 1) {
        struct udp_view u;
        if (udp_parse(p.data, p.caplen, &u) < 0 || u.dport != PORT_A)
            continue;
        CHECK(p.rxhash != 0);
        int k = (!sp[0] || sp[0] == u.sport) ? 0 : 1;
        if (!sp[k]) {
            sp[k] = u.sport;
            h[k] = p.rxhash;
        }
        CHECK_EQ(p.rxhash, h[k]); /* one flow, one hash */
        n++;
    }
    CHECK_EQ(n, 10);
    CHECK(h[0] != h[1]);
    close(rx);
    close(tx1);
    close(tx2);
    sn_ring_close(&r);
}
SN_TEST(rx_rxhash_per_flow) { in_netns(rx_rxhash_body, 30); }

static void rx_retire_body(void)
{
    struct sn_ring r;
    struct sn_ring_opts o = {.ifname = "lo", .block_size = 1u << 20, .block_count = 4,
                             .retire_ms = 100, .flags = SN_RING_NO_OUTGOING};
    CHECK_EQ(sn_ring_open(&r, &o), 0);
    int rx = udp_on(PORT_A), tx = udp_on(0);
    CHECK(rx >= 0 && tx >= 0);
    uint64_t t0 = sn_now_ns();
    CHECK_EQ(udp_send(tx, PORT_A, 1, 64), 0); /* one packet: far from filling 1 MiB */
    struct sn_ring_pkt p;
    CHECK_EQ(sn_ring_next(&r, &p, 3000), 1);
    uint64_t ms = (sn_now_ns() - t0) / 1000000u;
    CHECK(ms <= 100 + 200); /* handed over by the retire timer, within ~retire_ms */
    struct sn_ring_stats st;
    CHECK_EQ(sn_ring_stats(&r, &st), 0);
    CHECK(st.blocks_timeout >= 1);
    sn_ring_close(&r);

    /* A long timer really holds the packet back: not there after 100 ms, there by
     * about retire_ms after the ring (and its first block, and the timer) opened. */
    o.retire_ms = 700;
    CHECK_EQ(sn_ring_open(&r, &o), 0);
    t0 = sn_now_ns();
    CHECK_EQ(udp_send(tx, PORT_A, 2, 64), 0);
    CHECK_EQ(sn_ring_next(&r, &p, 100), 0);
    CHECK_EQ(sn_ring_next(&r, &p, 3000), 1);
    ms = (sn_now_ns() - t0) / 1000000u;
    CHECK(ms >= 300 && ms <= 700 + 500);
    close(rx);
    close(tx);
    sn_ring_close(&r);
}
SN_TEST(rx_retire_timeout_delivers_partial_block) { in_netns(rx_retire_body, 30); }

/* Ownership cycling: a sender thread keeps at most WINDOW datagrams ahead of the
 * reader, the ring holds about 100: the reader hands blocks back, the kernel
 * refills them, many times around the ring, and nothing is lost. */
enum { CYC_N = 3000, CYC_WINDOW = 40 };
struct cyc {
    int fd;
    unsigned sent;
    unsigned seen; /* written by the reader, read by the sender */
    int err;
};

static void *cyc_sender(void *arg)
{
    struct cyc *c = arg;
    for (unsigned i = 0; i < CYC_N; i++) {
        uint64_t give_up = sn_now_ns() + 5000000000ull;
        while (i - __atomic_load_n(&c->seen, __ATOMIC_ACQUIRE) >= CYC_WINDOW) {
            if (sn_now_ns() > give_up) {
                c->err = 1;
                return NULL;
            }
            sched_yield();
        }
        if (udp_send(c->fd, PORT_A, i, 32) < 0) {
            c->err = 2;
            return NULL;
        }
    }
    return NULL;
}

static void rx_cycle_body(void)
{
    struct sn_ring r;
    struct sn_ring_opts o = {.ifname = "lo", .block_size = 4096, .block_count = 4,
                             .frame_size = 128, .retire_ms = 2, .flags = SN_RING_NO_OUTGOING};
    CHECK_EQ(sn_ring_open(&r, &o), 0);
    int rx = udp_on(PORT_A);
    struct cyc c = {.fd = udp_on(0)};
    CHECK(rx >= 0 && c.fd >= 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, cyc_sender, &c), 0);
    struct sn_ring_pkt p;
    unsigned expect = 0, bad = 0;
    uint64_t deadline = sn_now_ns() + 15000000000ull;
    while (expect < CYC_N && sn_now_ns() < deadline) {
        int rc = sn_ring_next(&r, &p, 100);
        if (rc < 0)
            break;
        struct udp_view u;
        if (rc == 0 || udp_parse(p.data, p.caplen, &u) < 0 || u.dport != PORT_A)
            continue;
        if (u.seq != expect)
            bad++;
        expect = u.seq + 1;
        __atomic_store_n(&c.seen, expect, __ATOMIC_RELEASE);
    }
    pthread_join(th, NULL);
    CHECK_EQ(c.err, 0);
    CHECK_EQ(bad, 0);
    CHECK_EQ(expect, CYC_N);
    struct sn_ring_stats st;
    CHECK_EQ(sn_ring_stats(&r, &st), 0);
    CHECK_EQ(st.drops, 0);
    CHECK(st.blocks >= 10 * o.block_count); /* went around the ring many times */
    close(rx);
    close(c.fd);
    sn_ring_close(&r);
}
SN_TEST(rx_ownership_cycles_over_many_blocks) { in_netns(rx_cycle_body, 40); }

static void rx_drops_body(void)
{
    struct sn_ring r;
    struct sn_ring_opts o = {.ifname = "lo", .block_size = 4096, .block_count = 2,
                             .frame_size = 128, .retire_ms = 5, .flags = SN_RING_NO_OUTGOING};
    CHECK_EQ(sn_ring_open(&r, &o), 0);
    int rx = udp_on(PORT_A), tx = udp_on(0);
    CHECK(rx >= 0 && tx >= 0);
    for (uint32_t i = 0; i < 500; i++) /* ~50 fit in 8 KiB; nobody reads */
        CHECK_EQ(udp_send(tx, PORT_A, i, 32), 0);
    struct timespec ts = {0, 50 * 1000000};
    nanosleep(&ts, NULL);
    struct sn_ring_stats a, b;
    CHECK_EQ(sn_ring_stats(&r, &a), 0);
    CHECK(a.drops > 0);
    CHECK(a.freezes >= 1);
    CHECK_EQ(a.packets, 500); /* tp_packets counts the dropped ones too */
    /* the kernel zeroed its counters; ours keep the totals */
    CHECK_EQ(sn_ring_stats(&r, &b), 0);
    CHECK_EQ(b.packets, a.packets);
    CHECK_EQ(b.drops, a.drops);
    /* what the ring kept is still there, and it is all that was not dropped */
    int n = drain_ring(&r, 100, PORT_A, NULL, NULL, NULL);
    CHECK(n > 0);
    CHECK_EQ(sn_ring_stats(&r, &b), 0);
    CHECK_EQ((uint64_t)n, b.packets - b.drops);
    CHECK_EQ(b.delivered, (uint64_t)n);
    close(rx);
    close(tx);
    sn_ring_close(&r);
}
SN_TEST(rx_stalled_reader_counts_drops) { in_netns(rx_drops_body, 30); }

struct port_count {
    unsigned a, b;
};
static void count_ports(const struct sn_ring_pkt *p, const struct udp_view *u, void *arg)
{
    struct port_count *c = arg;
    (void)p;
    if (u->dport == PORT_A)
        c->a++;
    else if (u->dport == PORT_B)
        c->b++;
}

static void rx_filter_body(void)
{
    struct sock_filter prog[] = UDP_DPORT_FILTER(PORT_A);
    struct sn_ring r;
    struct sn_ring_opts o = lo_opts();
    o.filter = prog;
    o.filter_len = SN_COUNTOF(prog);
    CHECK_EQ(sn_ring_open(&r, &o), 0);
    int ra = udp_on(PORT_A), rb = udp_on(PORT_B), tx = udp_on(0);
    CHECK(ra >= 0 && rb >= 0 && tx >= 0);
    for (uint32_t i = 0; i < N_COUNT; i++) {
        CHECK_EQ(udp_send(tx, PORT_A, i, 40), 0);
        CHECK_EQ(udp_send(tx, PORT_B, i, 40), 0);
    }
    struct tally t = {0};
    struct port_count c = {0, 0};
    CHECK(drain_ring(&r, 200, 0, &t, count_ports, &c) >= 0);
    CHECK_EQ(c.a, 2 * N_COUNT);
    CHECK_EQ(c.b, 0);
    CHECK_EQ(t.other, 0); /* nothing else passed either */
    struct sn_ring_stats st;
    CHECK_EQ(sn_ring_stats(&r, &st), 0);
    CHECK_EQ(st.packets, 2 * N_COUNT); /* the kernel counts only what the filter passed */
    close(ra);
    close(rb);
    close(tx);
    sn_ring_close(&r);
}
SN_TEST(rx_filter_passes_only_udp_dst_port) { in_netns(rx_filter_body, 30); }

static void rx_set_filter_body(void)
{
    struct sock_filter prog[] = UDP_DPORT_FILTER(PORT_A);
    struct sn_ring r;
    struct sn_ring_opts o = lo_opts();
    o.retire_ms = 30;
    CHECK_EQ(sn_ring_open(&r, &o), 0);
    int ra = udp_on(PORT_A), rb = udp_on(PORT_B), tx = udp_on(0);
    CHECK(ra >= 0 && rb >= 0 && tx >= 0);
    /* Unfiltered packets, some retired, some still in the block being filled. */
    for (uint32_t i = 0; i < 2000; i++)
        CHECK_EQ(udp_send(tx, PORT_B, i, 200), 0);
    struct sn_ring_pkt p;
    CHECK_EQ(sn_ring_next(&r, &p, 1000), 1); /* hold a block: set_filter must let it go */
    CHECK_EQ(sn_ring_set_filter(&r, prog, SN_COUNTOF(prog)), 0);
    for (uint32_t i = 0; i < N_COUNT; i++) {
        CHECK_EQ(udp_send(tx, PORT_A, i, 40), 0);
        CHECK_EQ(udp_send(tx, PORT_B, i, 40), 0);
    }
    struct port_count c = {0, 0};
    struct tally t = {0};
    CHECK(drain_ring(&r, 200, 0, &t, count_ports, &c) >= 0);
    CHECK_EQ(c.b, 0); /* not one packet of the old, unfiltered ring */
    CHECK_EQ(c.a, 2 * N_COUNT);
    CHECK_EQ(t.other, 0);

    /* A program the kernel refuses (no return at the end): -EINVAL, old one stays. */
    struct sock_filter bad[] = {BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12)};
    CHECK_EQ(sn_ring_set_filter(&r, bad, 1), -EINVAL);
    CHECK_EQ(sn_ring_set_filter(&r, prog, 5000), -EINVAL);
    CHECK_EQ(sn_ring_set_filter(&r, NULL, 3), -EINVAL);
    for (uint32_t i = 0; i < 10; i++) {
        CHECK_EQ(udp_send(tx, PORT_A, i, 40), 0);
        CHECK_EQ(udp_send(tx, PORT_B, i, 40), 0);
    }
    memset(&c, 0, sizeof(c));
    CHECK(drain_ring(&r, 200, 0, NULL, count_ports, &c) >= 0);
    CHECK_EQ(c.a, 20);
    CHECK_EQ(c.b, 0);

    /* Removing the filter: everything again. */
    CHECK_EQ(sn_ring_set_filter(&r, NULL, 0), 0);
    for (uint32_t i = 0; i < 10; i++)
        CHECK_EQ(udp_send(tx, PORT_B, i, 40), 0);
    memset(&c, 0, sizeof(c));
    CHECK(drain_ring(&r, 200, 0, NULL, count_ports, &c) >= 0);
    CHECK_EQ(c.b, 20);
    close(ra);
    close(rb);
    close(tx);
    sn_ring_close(&r);
}
SN_TEST(rx_set_filter_drains_unfiltered_packets) { in_netns(rx_set_filter_body, 30); }

/* snaplen is applied by the kernel: with 1000-byte datagrams a 4 KiB block holds
 * three whole packets, but many cut to 64 bytes. Also through a user filter that
 * ends in "ret a", which open rewrites. */
static void rx_snaplen_body(void)
{
    struct sock_filter reta[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0), /* a = packet length */
        BPF_STMT(BPF_RET | BPF_A, 0),
    };
    for (int pass = 0; pass < 3; pass++) {
        struct sock_filter prog[] = UDP_DPORT_FILTER(PORT_A);
        struct sn_ring r;
        struct sn_ring_opts o = {.ifname = "lo", .block_size = 4096, .block_count = 8,
                                 .frame_size = 128, .retire_ms = 20, .snaplen = 64,
                                 .flags = SN_RING_NO_OUTGOING};
        if (pass == 1) {
            o.filter = reta;
            o.filter_len = SN_COUNTOF(reta);
        } else if (pass == 2) {
            o.filter = prog;
            o.filter_len = SN_COUNTOF(prog);
        }
        CHECK_EQ(sn_ring_open(&r, &o), 0);
        int rx = udp_on(PORT_A), tx = udp_on(0);
        CHECK(rx >= 0 && tx >= 0);
        for (uint32_t i = 0; i < 20; i++)
            CHECK_EQ(udp_send(tx, PORT_A, i, 1000), 0);
        struct sn_ring_pkt pk[64];
        int n = sn_ring_next_burst(&r, pk, SN_COUNTOF(pk), 1000);
        CHECK(n > 3); /* more per block than whole packets would allow */
        int total = 0;
        while (n > 0) {
            for (int i = 0; i < n; i++) {
                CHECK_EQ(pk[i].caplen, 64);
                CHECK_EQ(pk[i].wirelen, 14 + 20 + 8 + 1000);
            }
            total += n;
            n = sn_ring_next_burst(&r, pk, SN_COUNTOF(pk), 200);
        }
        CHECK_EQ(n, 0);
        CHECK_EQ(total, 20);
        close(rx);
        close(tx);
        sn_ring_close(&r);
    }
}
SN_TEST(rx_snaplen_cut_in_kernel) { in_netns(rx_snaplen_body, 30); }

static void rx_burst_release_body(void)
{
    struct sn_ring r;
    struct sn_ring_opts o = lo_opts();
    o.flags = SN_RING_NO_OUTGOING;
    o.retire_ms = 50;
    CHECK_EQ(sn_ring_open(&r, &o), 0);
    int rx = udp_on(PORT_A), tx = udp_on(0);
    CHECK(rx >= 0 && tx >= 0);
    for (uint32_t i = 0; i < 20; i++)
        CHECK_EQ(udp_send(tx, PORT_A, i, 50), 0);
    struct sn_ring_pkt pk[8];
    uint32_t next = 0;
    int n;
    while ((n = sn_ring_next_burst(&r, pk, SN_COUNTOF(pk), 300)) > 0) {
        /* every packet of a burst is valid at once */
        for (int i = 0; i < n; i++) {
            struct udp_view u;
            CHECK_EQ(udp_parse(pk[i].data, pk[i].caplen, &u), 0);
            CHECK_EQ(u.seq, next);
            next++;
        }
    }
    CHECK_EQ(n, 0);
    CHECK_EQ(next, 20);
    CHECK_EQ(sn_ring_next_burst(&r, pk, 0, 0), -EINVAL);

    /* release: the rest of the block is skipped */
    for (uint32_t i = 0; i < 20; i++)
        CHECK_EQ(udp_send(tx, PORT_A, i, 50), 0);
    struct sn_ring_pkt p;
    CHECK_EQ(sn_ring_next(&r, &p, 1000), 1);
    sn_ring_release(&r);
    sn_ring_release(&r); /* nothing held: no-op */
    int more = drain_ring(&r, 200, PORT_A, NULL, NULL, NULL);
    CHECK(more >= 0 && more < 19);
    close(rx);
    close(tx);
    sn_ring_close(&r);
}
SN_TEST(rx_burst_and_release) { in_netns(rx_burst_release_body, 30); }

static volatile sig_atomic_t got_usr1;
static void on_usr1(int sig)
{
    (void)sig;
    got_usr1 = 1;
}
static void *kick_later(void *arg)
{
    struct timespec ts = {0, 50 * 1000000};
    nanosleep(&ts, NULL);
    pthread_kill(*(pthread_t *)arg, SIGUSR1);
    return NULL;
}

static void rx_eintr_body(void)
{
    struct sn_ring r;
    struct sn_ring_opts o = lo_opts();
    CHECK_EQ(sn_ring_open(&r, &o), 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART; /* poll(2) is never restarted: -EINTR all the same */
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t self = pthread_self(), th;
    CHECK_EQ(pthread_create(&th, NULL, kick_later, &self), 0);
    struct sn_ring_pkt p;
    int rc = sn_ring_next(&r, &p, -1); /* nothing on lo: only the signal ends this */
    pthread_join(th, NULL);
    CHECK_EQ(rc, -EINTR);
    CHECK_EQ(got_usr1, 1);
    CHECK_EQ(sn_ring_next(&r, &p, 0), 0);
    sn_ring_close(&r);
}
SN_TEST(rx_next_returns_eintr_on_signal) { in_netns(rx_eintr_body, 20); }

/* ======================================================================
 * Fanout
 * ====================================================================== */

enum { FLOWS = 16, PER_FLOW = 10, SPORT0 = 40000 };
struct fan_seen {
    uint8_t n[FLOWS][PER_FLOW][2];   /* per flow, seq, direction: how many times */
    uint8_t ring_of[FLOWS][2];       /* which ring (1 or 2) got this flow+direction */
    int split;                       /* a flow+direction seen on two rings */
    int bad;
    int cur;                         /* ring being drained: 1 or 2 */
    unsigned count[3];
};

static void fan_mark(const struct sn_ring_pkt *p, const struct udp_view *u, void *arg)
{
    struct fan_seen *f = arg;
    int flow = (int)u->sport - SPORT0, dir = p->pkttype == PACKET_OUTGOING;
    if (flow < 0 || flow >= FLOWS || u->seq >= PER_FLOW) {
        f->bad++;
        return;
    }
    f->n[flow][u->seq][dir]++;
    if (f->ring_of[flow][dir] && f->ring_of[flow][dir] != f->cur)
        f->split++;
    f->ring_of[flow][dir] = (uint8_t)f->cur;
    f->count[f->cur]++;
}

static void fanout_send(int *ok)
{
    int rx = udp_on(PORT_A);
    *ok = rx >= 0;
    for (int fl = 0; fl < FLOWS && *ok; fl++) {
        int tx = udp_on((uint16_t)(SPORT0 + fl));
        if (tx < 0) {
            *ok = 0;
            break;
        }
        for (uint32_t s = 0; s < PER_FLOW; s++)
            if (udp_send(tx, PORT_A, s, 30) < 0)
                *ok = 0;
        close(tx);
    }
    if (rx >= 0)
        close(rx);
}

/* The ring options of a fanout member on lo. */
static struct sn_ring_opts fanout_opts(uint16_t group, uint16_t mode)
{
    struct sn_ring_opts o = lo_opts();
    o.fanout_group = group;
    o.fanout_mode = mode;
    return o;
}

/* Open a with *oa and b with *ob (two members of one group: a joins first), send
 * our flows (fanout_send) and read what each got into *f (ring a counts as 1,
 * ring b as 2), each until idle for idle_ms. The caller closes a and b. */
static void fanout_run(struct sn_ring *a, const struct sn_ring_opts *oa, struct sn_ring *b,
                       const struct sn_ring_opts *ob, int idle_ms, struct fan_seen *f)
{
    int ok;
    CHECK_EQ(sn_ring_open(a, oa), 0);
    CHECK_EQ(sn_ring_open(b, ob), 0);
    fanout_send(&ok);
    CHECK(ok);
    memset(f, 0, sizeof(*f));
    f->cur = 1;
    CHECK(drain_ring(a, idle_ms, PORT_A, NULL, fan_mark, f) >= 0);
    f->cur = 2;
    CHECK(drain_ring(b, idle_ms, PORT_A, NULL, fan_mark, f) >= 0);
}

/* The fewest and the most times one of our packets was seen, over both rings. */
static void fan_times_seen(const struct fan_seen *f, unsigned *least, unsigned *most)
{
    *least = UINT32_MAX;
    *most = 0;
    for (int fl = 0; fl < FLOWS; fl++)
        for (int s = 0; s < PER_FLOW; s++)
            for (int d = 0; d < 2; d++) {
                *least = SN_MIN(*least, f->n[fl][s][d]);
                *most = SN_MAX(*most, f->n[fl][s][d]);
            }
}

static void rx_fanout_hash_body(void)
{
    struct sn_ring a, b;
    struct sn_ring_opts o = fanout_opts(42, SN_RING_FANOUT_HASH);
    static struct fan_seen f;
    fanout_run(&a, &o, &b, &o, 150, &f);
    if (sn_cur_failed)
        return;
    CHECK_EQ(f.bad, 0);
    unsigned least, most;
    fan_times_seen(&f, &least, &most);
    CHECK_EQ(least, 1); /* together: every packet exactly once */
    CHECK_EQ(most, 1);
    CHECK_EQ(f.split, 0);                   /* a flow stays on one ring */
    CHECK(f.count[1] > 0 && f.count[2] > 0); /* and the flows are spread */
    CHECK_EQ(f.count[1] + f.count[2], 2 * FLOWS * PER_FLOW);
    sn_ring_close(&a);
    sn_ring_close(&b);
}
SN_TEST(rx_fanout_hash_splits_flows_exactly_once) { in_netns(rx_fanout_hash_body, 30); }

static void rx_fanout_lb_body(void)
{
    struct sn_ring a, b;
    struct sn_ring_opts o = fanout_opts(7, SN_RING_FANOUT_LB);
    static struct fan_seen f;
    fanout_run(&a, &o, &b, &o, 150, &f);
    if (sn_cur_failed)
        return;
    CHECK_EQ(f.count[1] + f.count[2], 2 * FLOWS * PER_FLOW);
    /* round robin: half each */
    CHECK(f.count[1] >= FLOWS * PER_FLOW - 2 && f.count[1] <= FLOWS * PER_FLOW + 2);
    sn_ring_close(&a);
    sn_ring_close(&b);
}
SN_TEST(rx_fanout_lb_alternates) { in_netns(rx_fanout_lb_body, 30); }

static void rx_fanout_rollover_body(void)
{
    struct sn_ring a, b;
    struct sn_ring_opts small = {.ifname = "lo", .block_size = 4096, .block_count = 2,
                                 .frame_size = 128, .retire_ms = 5, .fanout_group = 9,
                                 .fanout_mode = SN_RING_FANOUT_ROLLOVER};
    struct sn_ring_opts big = small;
    big.block_size = 64 * 1024;
    big.block_count = 8;
    static struct fan_seen f;
    /* a, the first member, is filled first: it holds ~50 of the 320 packets */
    fanout_run(&a, &small, &b, &big, 100, &f);
    if (sn_cur_failed)
        return;
    struct sn_ring_stats sa, sb;
    CHECK_EQ(sn_ring_stats(&a, &sa), 0);
    CHECK_EQ(sn_ring_stats(&b, &sb), 0);
    CHECK(f.count[1] > 0);
    CHECK(f.count[2] > 0); /* a full: the rest rolled over to b */
    unsigned least, most;
    fan_times_seen(&f, &least, &most);
    CHECK(most <= 1); /* never twice */
    CHECK_EQ(f.count[1] + f.count[2] + sa.drops + sb.drops, 2 * FLOWS * PER_FLOW);
    sn_ring_close(&a);
    sn_ring_close(&b);
}
SN_TEST(rx_fanout_rollover_moves_on) { in_netns(rx_fanout_rollover_body, 30); }

static void rx_fanout_modes_body(void)
{
    static const struct {
        uint16_t mode, flags;
    } m[] = {
        {SN_RING_FANOUT_CPU, 0},
        {SN_RING_FANOUT_RND, 0},
        {SN_RING_FANOUT_QM, 0},
        {SN_RING_FANOUT_HASH, SN_RING_FANOUT_FLAG_DEFRAG},
        {SN_RING_FANOUT_HASH, SN_RING_FANOUT_FLAG_ROLLOVER},
        {SN_RING_FANOUT_LB, SN_RING_FANOUT_FLAG_DEFRAG | SN_RING_FANOUT_FLAG_ROLLOVER},
    };
    int fd0 = lowest_free_fd();
    for (size_t i = 0; i < SN_COUNTOF(m); i++) {
        struct sn_ring r;
        struct sn_ring_opts o = fanout_opts((uint16_t)(100 + i), m[i].mode);
        o.fanout_flags = m[i].flags;
        CHECK_EQ(sn_ring_open(&r, &o) * 100 + (int)i, 0 * 100 + (int)i);
        sn_ring_close(&r);
    }
    /* one group, two modes: the kernel refuses the second, which leaves nothing behind */
    struct sn_ring a, b;
    struct sn_ring_opts o = fanout_opts(200, SN_RING_FANOUT_HASH);
    CHECK_EQ(sn_ring_open(&a, &o), 0);
    o.fanout_mode = SN_RING_FANOUT_LB;
    CHECK_EQ(sn_ring_open(&b, &o), -EINVAL);
    CHECK_EQ(b.fd, -1);
    sn_ring_close(&a);
    CHECK_EQ(lowest_free_fd(), fd0);
}
SN_TEST(rx_fanout_modes_and_flags_open) { in_netns(rx_fanout_modes_body, 30); }

/* In a group the member's PACKET_IGNORE_OUTGOING does nothing; open turns
 * SN_RING_NO_OUTGOING into the group flag. */
static void rx_fanout_no_outgoing_body(void)
{
    struct sn_ring a, b;
    struct sn_ring_opts o = fanout_opts(11, SN_RING_FANOUT_HASH);
    o.flags = SN_RING_NO_OUTGOING;
    int rc = sn_ring_open(&a, &o);
    if (rc == -EINVAL)
        SKIP("kernel without PACKET_FANOUT_FLAG_IGNORE_OUTGOING");
    CHECK_EQ(rc, 0);
    CHECK_EQ(sn_ring_open(&b, &o), 0);
    int ok;
    fanout_send(&ok);
    CHECK(ok);
    struct tally t = {0};
    CHECK(drain_ring(&a, 150, PORT_A, &t, NULL, NULL) >= 0);
    CHECK(drain_ring(&b, 150, PORT_A, &t, NULL, NULL) >= 0);
    CHECK_EQ(t.out, 0);
    CHECK_EQ(t.in, FLOWS * PER_FLOW);
    sn_ring_close(&a);
    sn_ring_close(&b);
}
SN_TEST(rx_fanout_ignore_outgoing) { in_netns(rx_fanout_no_outgoing_body, 30); }

/* ======================================================================
 * veth pairs: TX ring, VLAN tags, interface state
 * ====================================================================== */

#define VA "sn-va"
#define VB "sn-vb"

/* An Ethernet frame of len bytes from VA to VB: type 0x88b5, seq, a pattern. */
static size_t make_frame(uint8_t *f, size_t len, const uint8_t dst[6], uint32_t seq)
{
    static const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x01};
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    sn_store_be16(f + 12, 0x88b5);
    sn_store_be32(f + 14, seq);
    for (size_t i = 18; i < len; i++)
        f[i] = (uint8_t)(seq + i * 3);
    return len;
}

static size_t frame_len_of(uint32_t seq)
{
    return 60 + (seq * 37) % (1514 - 60 + 1);
}

enum { TX_N = 1000 };

static void tx_body_common(unsigned flags)
{
    uint8_t dst[6];
    if (make_veth(VA, VB) < 0)
        SKIP("needs iproute2 (`ip link add ... type veth`)");
    CHECK_EQ(mac_of(VB, dst), 0);
    struct sn_ring r;
    struct sn_ring_opts ro = {.ifname = VB, .block_size = 128 * 1024, .block_count = 32,
                              .retire_ms = 10, .filter = eth_88b5_filter,
                              .filter_len = SN_COUNTOF(eth_88b5_filter)};
    CHECK_EQ(sn_ring_open(&r, &ro), 0);
    struct sn_txring t;
    struct sn_txring_opts to = {.ifname = VA, .frame_count = 256, .batch = 16, .flags = flags};
    int fd0 = lowest_free_fd();
    CHECK_EQ(sn_txring_open(&t, &to), 0);
    CHECK(sn_txring_fd(&t) >= 0);
    CHECK_EQ(t.frame_count, 256);
    for (uint32_t i = 0; i < TX_N; i++) {
        uint8_t *d;
        int cap = sn_txring_frame(&t, &d, 1000);
        CHECK(cap >= 1514);
        size_t len = make_frame(d, frame_len_of(i), dst, i);
        CHECK_EQ(sn_txring_commit(&t, len), 0);
    }
    CHECK_EQ(sn_txring_drain(&t, 2000), 0);
    CHECK_EQ(sn_txring_reclaim(&t), 0);
    struct sn_txring_stats ts;
    CHECK_EQ(sn_txring_stats(&t, &ts), 0);
    CHECK_EQ(ts.frames, TX_N);
    CHECK_EQ(ts.completed, TX_N);
    CHECK(ts.flushes >= TX_N / 16 && ts.flushes <= TX_N / 16 + 20); /* one send per batch */

    static uint8_t seen[TX_N];
    memset(seen, 0, sizeof(seen));
    struct sn_ring_pkt p;
    int n = 0, bad = 0;
    uint8_t want[1514];
    while (sn_ring_next(&r, &p, 200) == 1) {
        uint32_t seq = sn_load_be32(p.data + 14);
        if (seq >= TX_N) {
            bad++;
            continue;
        }
        size_t len = make_frame(want, frame_len_of(seq), dst, seq);
        if (p.caplen != len || p.wirelen != len || memcmp(p.data, want, len) != 0)
            bad++;
        seen[seq]++;
        n++;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(n, TX_N);
    for (int i = 0; i < TX_N; i++)
        CHECK_EQ(seen[i], 1);
    sn_txring_close(&t);
    sn_txring_close(&t);
    CHECK_EQ(lowest_free_fd(), fd0);
    sn_ring_close(&r);
}

static void tx_body(void) { tx_body_common(0); }
static void tx_bypass_body(void) { tx_body_common(SN_TXRING_QDISC_BYPASS); }
SN_TEST(tx_ring_sends_frames_over_veth) { in_netns(tx_body, 40); }
SN_TEST(tx_ring_qdisc_bypass_sends_frames) { in_netns(tx_bypass_body, 40); }

static void tx_full_body(void)
{
    uint8_t dst[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    if (make_veth(VA, VB) < 0)
        SKIP("needs iproute2 (`ip link add ... type veth`)");
    struct sn_txring t;
    struct sn_txring_opts to = {.ifname = VA, .frame_count = 8, .block_size = 4096};
    CHECK_EQ(sn_txring_open(&t, &to), 0);
    CHECK_EQ(t.frame_count, 8);
    uint8_t *d, *d2;
    for (uint32_t i = 0; i < 8; i++) {
        CHECK(sn_txring_frame(&t, &d, 0) > 0);
        CHECK(sn_txring_frame(&t, &d2, 0) > 0); /* asked twice: the same frame */
        CHECK(d == d2);
        CHECK_EQ(sn_txring_commit(&t, make_frame(d, 100, dst, i)), 0);
    }
    struct sn_txring_stats ts;
    CHECK_EQ(sn_txring_stats(&t, &ts), 0);
    CHECK_EQ(ts.flushes, 0);       /* batch 0: nothing sent yet */
    CHECK_EQ(ts.ring_full, 0);
    CHECK_EQ(sn_txring_reclaim(&t), 8);
    /* full: flushes the 8 by itself, then waits for one to come back */
    CHECK(sn_txring_frame(&t, &d, 1000) > 0);
    CHECK_EQ(sn_txring_stats(&t, &ts), 0);
    CHECK_EQ(ts.ring_full, 1);
    CHECK_EQ(ts.flushes, 1);
    CHECK_EQ(sn_txring_commit(&t, make_frame(d, 100, dst, 8)), 0);
    CHECK_EQ(sn_txring_drain(&t, 1000), 0);
    CHECK_EQ(sn_txring_stats(&t, &ts), 0);
    CHECK_EQ(ts.frames, 9);
    CHECK_EQ(ts.completed, 9);
    CHECK_EQ(ts.bytes, 900);
    /* the copy form */
    uint8_t f[100];
    make_frame(f, sizeof(f), dst, 9);
    CHECK_EQ(sn_txring_send(&t, f, sizeof(f), 100), 0);
    CHECK_EQ(sn_txring_flush(&t), 0);
    CHECK_EQ(sn_txring_flush(&t), 0); /* nothing waiting: no send */
    CHECK_EQ(sn_txring_drain(&t, 1000), 0);
    sn_txring_close(&t);
}
SN_TEST(tx_ring_full_flushes_and_waits) { in_netns(tx_full_body, 20); }

/* A flush that fills the socket's send buffer part way: the kernel sends what fits,
 * returns success, and leaves the other frames SEND_REQUEST. A slow qdisc (tbf at
 * 8 Mbit/s) holds the sent ones, so one send() cannot take all 400; drain must
 * send again until every frame is out (it used to time out with frames stranded). */
static void tx_partial_flush_body(void)
{
    uint8_t dst[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    if (make_veth(VA, VB) < 0)
        SKIP("needs iproute2 (`ip link add ... type veth`)");
    if (system("tc qdisc add dev " VA " root tbf rate 8mbit burst 16kb latency 2s 2>/dev/null") != 0)
        SKIP("no tbf qdisc here (tc qdisc add ... tbf)");
    struct sn_txring t;
    struct sn_txring_opts to = {.ifname = VA, .frame_count = 512};
    CHECK_EQ(sn_txring_open(&t, &to), 0);
    int small = 64 * 1024; /* a small send buffer: the partial flush happens sooner */
    setsockopt(sn_txring_fd(&t), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    for (uint32_t i = 0; i < 400; i++) {
        uint8_t *d;
        CHECK(sn_txring_frame(&t, &d, 0) > 0);
        CHECK_EQ(sn_txring_commit(&t, make_frame(d, 1000, dst, i)), 0);
    }
    CHECK_EQ(sn_txring_flush(&t), 0);
    CHECK_EQ(sn_txring_drain(&t, 10000), 0); /* 400 kB at 8 Mbit/s: about 0.4 s */
    struct sn_txring_stats ts;
    CHECK_EQ(sn_txring_stats(&t, &ts), 0);
    CHECK_EQ(ts.completed, 400);
    CHECK(ts.flushes >= 2); /* it did take more than one send() */
    sn_txring_close(&t);
}
SN_TEST(tx_ring_partial_flush_is_resent) { in_netns(tx_partial_flush_body, 30); }

static void tx_len_body(void)
{
    uint8_t dst[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    if (make_veth(VA, VB) < 0)
        SKIP("needs iproute2 (`ip link add ... type veth`)");
    if (system("ip link set " VA " mtu 1000 >/dev/null 2>&1") != 0)
        SKIP("cannot set the MTU");
    struct sn_txring t;
    struct sn_txring_opts to = {.ifname = VA, .frame_count = 16};
    CHECK_EQ(sn_txring_open(&t, &to), 0);
    CHECK_EQ(sn_txring_commit(&t, 60), -EINVAL); /* no frame taken */
    uint8_t *d;
    int cap = sn_txring_frame(&t, &d, 0);
    CHECK_EQ(cap, 1000 + 14 + 4); /* MTU + Ethernet header + a VLAN tag's room */
    make_frame(d, 1018, dst, 1);
    CHECK_EQ(sn_txring_commit(&t, 10), -EINVAL);    /* shorter than an Ethernet header */
    CHECK_EQ(sn_txring_commit(&t, 1019), -EMSGSIZE); /* above the room */
    CHECK_EQ(sn_txring_commit(&t, 1015), -EMSGSIZE); /* untagged: MTU + 14 at most */
    CHECK_EQ(sn_txring_commit(&t, 1014), 0);
    CHECK(sn_txring_frame(&t, &d, 0) > 0);
    make_frame(d, 1018, dst, 2);
    sn_store_be16(d + 12, 0x8100); /* tagged: 4 more are fine */
    CHECK_EQ(sn_txring_commit(&t, 1018), 0);
    CHECK_EQ(sn_txring_drain(&t, 1000), 0);
    uint8_t big[2000];
    CHECK_EQ(sn_txring_send(&t, big, sizeof(big), 0), -EMSGSIZE);
    sn_txring_close(&t);
}
SN_TEST(tx_commit_checks_lengths) { in_netns(tx_len_body, 20); }

static void vlan_body(void)
{
    uint8_t dst[6];
    if (make_veth(VA, VB) < 0)
        SKIP("needs iproute2 (`ip link add ... type veth`)");
    CHECK_EQ(mac_of(VB, dst), 0);
    struct sn_ring r;
    struct sn_ring_opts ro = {.ifname = VB, .retire_ms = 10, .filter = eth_88b5_filter,
                              .filter_len = SN_COUNTOF(eth_88b5_filter)};
    CHECK_EQ(sn_ring_open(&r, &ro), 0);
    struct sn_txring t;
    struct sn_txring_opts to = {.ifname = VA, .frame_count = 16};
    CHECK_EQ(sn_txring_open(&t, &to), 0);
    /* Two tagged frames: 802.1Q PCP 1 VID 5, and 802.1ad VID 100. */
    uint8_t f[2][200];
    static const uint16_t tpid[2] = {0x8100, 0x88a8}, tci[2] = {0x2005, 0x0064};
    for (int k = 0; k < 2; k++) {
        make_frame(f[k], 200, dst, (uint32_t)k); /* the untagged frame ... */
        memmove(f[k] + 16, f[k] + 12, 200 - 16); /* ... opened after the MACs */
        sn_store_be16(f[k] + 12, tpid[k]);
        sn_store_be16(f[k] + 14, tci[k]);
        CHECK_EQ(sn_txring_send(&t, f[k], 200, 100), 0);
    }
    CHECK_EQ(sn_txring_drain(&t, 1000), 0);
    struct sn_ring_pkt p;
    uint8_t out[300];
    for (int k = 0; k < 2; k++) {
        CHECK_EQ(sn_ring_next(&r, &p, 1000), 1);
        /* the kernel stripped the tag (skb_vlan_untag) and reports it aside */
        CHECK_EQ(p.vlan_valid, 1);
        CHECK_EQ(p.vlan_tci, tci[k]);
        CHECK_EQ(p.vlan_tpid, tpid[k]);
        CHECK_EQ(p.caplen, 196);
        CHECK_EQ(p.wirelen, 196);
        CHECK_EQ(sn_load_be16(p.data + 12), 0x88b5);
        uint32_t wl = 0;
        CHECK_EQ(sn_ring_vlan_rebuild(&p, out, sizeof(out), &wl), 200);
        CHECK_EQ(wl, 200);
        CHECK_MEM(out, f[k], 200); /* byte for byte what was sent */
    }
    sn_txring_close(&t);
    sn_ring_close(&r);
}
SN_TEST(rx_vlan_tag_stripped_and_rebuilt) { in_netns(vlan_body, 20); }

static void down_body(void)
{
    if (make_veth(VA, VB) < 0)
        SKIP("needs iproute2 (`ip link add ... type veth`)");
    int fd0 = lowest_free_fd();
    CHECK(if_flags(VB, 0, IFF_UP) >= 0);
    struct sn_ring r;
    struct sn_ring_opts ro = {.ifname = VB, .retire_ms = 10};
    CHECK_EQ(sn_ring_open(&r, &ro), -ENETDOWN);
    CHECK_EQ(r.fd, -1);
    struct sn_txring t;
    struct sn_txring_opts to = {.ifname = VB};
    CHECK_EQ(sn_txring_open(&t, &to), -ENETDOWN);
    CHECK_EQ(lowest_free_fd(), fd0); /* the failed opens left nothing open */
    CHECK(sn_ring_hint(-ENETDOWN) != NULL);

    /* up, capturing, then down: the next read says so, once */
    CHECK(if_flags(VB, IFF_UP, 0) >= 0);
    CHECK_EQ(sn_ring_open(&r, &ro), 0);
    CHECK(if_flags(VB, 0, IFF_UP) >= 0);
    struct sn_ring_pkt p;
    CHECK_EQ(sn_ring_next(&r, &p, 1000), -ENETDOWN);
    CHECK_EQ(sn_ring_next(&r, &p, 50), 0);
    sn_ring_close(&r);
    CHECK_EQ(lowest_free_fd(), fd0);
}
SN_TEST(ring_interface_down_enetdown) { in_netns(down_body, 20); }

/* The promiscuity counter (what PACKET_MR_PROMISC raises), from `ip -d link`:
 * SIOCGIFFLAGS only shows IFF_PROMISC set by hand (dev->gflags), not this. */
static int promiscuity(const char *ifname)
{
    char cmd[128], line[512];
    snprintf(cmd, sizeof(cmd), "ip -d link show %s 2>/dev/null", ifname);
    FILE *f = popen(cmd, "r");
    int v = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, "promiscuity ");
        if (p)
            v = atoi(p + 12);
    }
    pclose(f);
    return v;
}

static void promisc_body(void)
{
    if (make_veth(VA, VB) < 0)
        SKIP("needs iproute2 (`ip link add ... type veth`)");
    if (promiscuity(VB) < 0)
        SKIP("`ip -d link` prints no promiscuity");
    CHECK_EQ(promiscuity(VB), 0);
    struct sn_ring r, r2;
    struct sn_ring_opts ro = {.ifname = VB, .flags = SN_RING_PROMISC};
    CHECK_EQ(sn_ring_open(&r, &ro), 0);
    CHECK_EQ(promiscuity(VB), 1);
    CHECK_EQ(sn_ring_open(&r2, &ro), 0);
    CHECK_EQ(promiscuity(VB), 2);
    sn_ring_close(&r);
    sn_ring_close(&r2);
    CHECK_EQ(promiscuity(VB), 0); /* undone by the kernel at close */
    ro.flags = 0;
    CHECK_EQ(sn_ring_open(&r, &ro), 0);
    CHECK_EQ(promiscuity(VB), 0);
    sn_ring_close(&r);
}
SN_TEST(rx_promisc_on_and_off) { in_netns(promisc_body, 20); }

/* ======================================================================
 * Set-up windows: traffic flows while rings open
 * ====================================================================== */

struct blaster {
    int fd;
    uint16_t sport;
    unsigned stop;     /* set by the main thread */
    unsigned seq;      /* datagrams sent so far */
    unsigned limit;    /* never more than this */
};

static void *blast(void *arg)
{
    struct blaster *b = arg;
    while (!__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE) && b->seq < b->limit) {
        if (udp_send(b->fd, PORT_A, b->seq, 16) < 0)
            break;
        __atomic_store_n(&b->seq, b->seq + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void wait_seq(struct blaster *b, unsigned n)
{
    uint64_t give_up = sn_now_ns() + 2000000000ull;
    while (__atomic_load_n(&b->seq, __ATOMIC_ACQUIRE) < n && sn_now_ns() < give_up)
        sched_yield();
}

/* A ring bound to one interface never holds a packet of another, not even one
 * that arrived while it was being set up (socket protocol 0 until bind). */
static void only_its_interface_body(void)
{
    if (make_veth(VA, VB) < 0)
        SKIP("needs iproute2 (`ip link add ... type veth`)");
    int rx = udp_on(PORT_A);
    struct blaster b = {.fd = udp_on(0), .limit = 2000000};
    CHECK(rx >= 0 && b.fd >= 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, blast, &b), 0);
    wait_seq(&b, 100);
    int leaked = 0;
    for (int i = 0; i < 30 && !leaked; i++) { /* lo is busy; VB is silent */
        struct sn_ring r;
        struct sn_ring_opts o = {.ifname = VB, .block_size = 64 * 1024, .block_count = 8,
                                 .retire_ms = 2};
        if (sn_ring_open(&r, &o) < 0) {
            leaked = -1;
            break;
        }
        struct sn_ring_pkt p;
        while (sn_ring_next(&r, &p, 10) == 1)
            leaked++;
        sn_ring_close(&r);
    }
    __atomic_store_n(&b.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    CHECK_EQ(leaked, 0);
    CHECK(b.seq > 100);
    close(rx);
    close(b.fd);
}
SN_TEST(rx_hears_only_its_interface_even_while_opening) { in_netns(only_its_interface_body, 30); }

/* A ring joining a fanout group while packets flow: no packet reaches both it
 * and the group (it rejects everything until it has joined). */
enum { DUP_MAX = 1u << 20 };
static void fanout_join_body(void)
{
    static uint8_t seen[DUP_MAX][2];
    int rx = udp_on(PORT_A);
    CHECK(rx >= 0);
    int dups = 0, total = 0;
    for (int round = 0; round < 20 && !dups; round++) {
        struct sn_ring a, c;
        struct sn_ring_opts o = fanout_opts((uint16_t)(300 + round), SN_RING_FANOUT_LB);
        CHECK_EQ(sn_ring_open(&a, &o), 0);
        struct blaster b = {.fd = udp_on(0), .limit = 20000};
        CHECK(b.fd >= 0);
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, blast, &b), 0);
        wait_seq(&b, 50);
        int rc = sn_ring_open(&c, &o); /* joins while the blaster runs */
        unsigned at = __atomic_load_n(&b.seq, __ATOMIC_ACQUIRE);
        wait_seq(&b, at + 50);
        __atomic_store_n(&b.stop, 1, __ATOMIC_RELEASE);
        pthread_join(th, NULL);
        close(b.fd);
        CHECK_EQ(rc, 0);
        memset(seen, 0, sizeof(seen));
        struct sn_ring *rings[2] = {&a, &c};
        for (int k = 0; k < 2; k++) {
            struct sn_ring_pkt p;
            while (sn_ring_next(rings[k], &p, 50) == 1) {
                struct udp_view u;
                if (udp_parse(p.data, p.caplen, &u) < 0 || u.dport != PORT_A || u.seq >= DUP_MAX)
                    continue;
                if (++seen[u.seq][p.pkttype == PACKET_OUTGOING] > 1)
                    dups++;
                total++;
            }
        }
        sn_ring_close(&a);
        sn_ring_close(&c);
    }
    close(rx);
    CHECK(total > 0);
    CHECK_EQ(dups, 0);
}
SN_TEST(rx_fanout_join_while_busy_no_duplicates) { in_netns(fanout_join_body, 40); }
