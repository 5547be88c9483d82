/* lab.c — `sysnet lab`: the guided demo. It crafts packets of every kind with
 * the wire module's emit functions (Ethernet, VLAN/QinQ, ARP, IPv4 with options
 * and fragments, IPv6 with an extension-header chain, ICMP/ICMPv6 including
 * errors and neighbour discovery, UDP, TCP with every option), writes them to a
 * pcap, reads the file back and dissects every frame (no privileges). Then, with
 * CAP_NET_RAW, it captures its own UDP datagrams on lo through a TPACKET_V3 ring
 * with a kernel BPF filter and checks each one; without, it says why it skips.
 * Later steps (echo/load, codecs, runtime) join as their modules land. */
#include "echo_task.h"
#include "tool.h"

#include <sysnet/filter.h>
#include <sysnet/pcap.h>
#include <sysnet/ring.h>
#include <sysnet/sock.h>
#include <sysnet/wire.h>

#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXF 64

struct frame {
    uint8_t b[1600];
    uint32_t len;     /* bytes built (and captured) */
    uint32_t wirelen; /* 0 = len */
    const char *what;
};

struct lab {
    struct frame f[MAXF];
    int n;
};

static const uint8_t MAC_A[6] = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x01};
static const uint8_t MAC_B[6] = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x02};
static const uint8_t MAC_BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t IP4_A[4] = {198, 18, 0, 1};
static const uint8_t IP4_B[4] = {198, 18, 0, 2};
static const uint8_t IP4_R[4] = {198, 18, 1, 254};
static const uint8_t IP6_A[16] = {0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t IP6_B[16] = {0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
static const uint8_t PAYLOAD[64] = "sysnet: networking built from the syscall up. 0123456789abcdef";

/* Link layer: Ethernet, then 0, 1 or 2 VLAN tags (outer first). Returns the offset after it. */
static uint32_t link_hdr(uint8_t *p, const uint8_t *dst, const uint8_t *src, uint16_t type,
                         const uint16_t *vids, int nv)
{
    struct sn_eth_repr e;
    memcpy(e.dst, dst, 6);
    memcpy(e.src, src, 6);
    /* nv == 2: 802.1ad S-tag then C-tag; nv == -2: two stacked 802.1Q tags. */
    e.type = nv == 2 ? SN_ETHERTYPE_QINQ : nv != 0 ? SN_ETHERTYPE_VLAN : type;
    if (nv < 0)
        nv = -nv;
    uint32_t off = (uint32_t)sn_eth_emit(&e, p, SN_ETH_HLEN);
    for (int i = 0; i < nv; i++) {
        struct sn_vlan_repr v = {.pcp = (uint8_t)(i ? 0 : 3), .vid = vids[i],
                                 .type = i + 1 < nv ? SN_ETHERTYPE_VLAN : type};
        off += (uint32_t)sn_vlan_emit(&v, p + off, SN_VLAN_HLEN);
    }
    return off;
}

/* The transport part of a packet, emitted at p with the pseudo-header of ip. */
struct l4 {
    uint8_t proto;
    union {
        struct sn_udp_repr udp;
        struct sn_tcp_repr tcp;
        struct sn_icmp4_repr icmp4;
        struct sn_icmp6_repr icmp6;
    } u;
    const uint8_t *raw; /* proto with no emitter: raw bytes */
    size_t rawlen;
};

static int emit_l4(const struct l4 *t, const struct sn_ipaddrs *ip, uint8_t *p, size_t cap)
{
    switch (t->proto) {
    case SN_IPPROTO_UDP: return sn_udp_emit(&t->u.udp, ip, p, cap);
    case SN_IPPROTO_TCP: return sn_tcp_emit(&t->u.tcp, ip, p, cap);
    case SN_IPPROTO_ICMP: return sn_icmp4_emit(&t->u.icmp4, p, cap);
    case SN_IPPROTO_ICMPV6: return sn_icmp6_emit(&t->u.icmp6, ip, p, cap);
    default:
        if (t->rawlen > cap)
            return -ENOSPC;
        memcpy(p, t->raw, t->rawlen);
        return (int)t->rawlen;
    }
}

/* An IPv4 packet at p: transport first (its length sets the IP total length). */
static int ip4_pkt(uint8_t *p, size_t cap, struct sn_ipv4_repr *ip, const struct l4 *t)
{
    uint32_t hl = SN_IPV4_HLEN + ((ip->opts_len + 3u) & ~3u);
    struct sn_ipaddrs a = {4, ip->src, ip->dst};
    int n = emit_l4(t, &a, p + hl, cap - hl);
    if (n < 0)
        return n;
    ip->proto = t->proto;
    ip->payload_len = (uint16_t)n;
    int h = sn_ipv4_emit(ip, p, cap);
    return h < 0 ? h : h + n;
}

/* An IPv6 packet: the fixed header, an optional extension chain (already laid out
 * in ext[0..extlen), first next-header in ext_first), then the transport. */
static int ip6_pkt(uint8_t *p, size_t cap, struct sn_ipv6_repr *ip, const uint8_t *ext, size_t extlen,
                   uint8_t ext_first, const struct l4 *t)
{
    struct sn_ipaddrs a = {6, ip->src, ip->dst};
    size_t off = SN_IPV6_HLEN + extlen;
    int n = emit_l4(t, &a, p + off, cap - off);
    if (n < 0)
        return n;
    if (extlen)
        memcpy(p + SN_IPV6_HLEN, ext, extlen);
    ip->next_header = extlen ? ext_first : t->proto;
    ip->payload_len = (uint16_t)(extlen + (size_t)n);
    int h = sn_ipv6_emit(ip, p, cap);
    return h < 0 ? h : h + (int)extlen + n;
}

static struct frame *add(struct lab *L, const char *what)
{
    struct frame *f = &L->f[L->n++];
    memset(f, 0, sizeof(*f));
    f->what = what;
    return f;
}

static struct sn_ipv4_repr v4(const uint8_t *src, const uint8_t *dst, uint16_t id)
{
    struct sn_ipv4_repr r;
    memset(&r, 0, sizeof(r));
    r.ttl = 64;
    r.id = id;
    r.df = 1;
    memcpy(r.src, src, 4);
    memcpy(r.dst, dst, 4);
    return r;
}

static struct sn_ipv6_repr v6(const uint8_t *src, const uint8_t *dst)
{
    struct sn_ipv6_repr r;
    memset(&r, 0, sizeof(r));
    r.hop_limit = 64;
    r.flow = 0x12345;
    memcpy(r.src, src, 16);
    memcpy(r.dst, dst, 16);
    return r;
}

static struct l4 udp(uint16_t sp, uint16_t dp, size_t plen)
{
    struct l4 t = {.proto = SN_IPPROTO_UDP};
    t.u.udp.sport = sp;
    t.u.udp.dport = dp;
    t.u.udp.payload = PAYLOAD;
    t.u.udp.payload_len = plen;
    return t;
}

static struct l4 tcp(uint16_t flags, uint32_t seq, uint32_t ack, size_t plen)
{
    struct l4 t = {.proto = SN_IPPROTO_TCP};
    struct sn_tcp_repr *r = &t.u.tcp;
    r->sport = 40000;
    r->dport = 80;
    r->seq = seq;
    r->ack = ack;
    r->flags = flags;
    r->window = flags & SN_TCP_SYN ? 64240 : 502;
    r->payload = PAYLOAD;
    r->payload_len = plen;
    if (flags & SN_TCP_SYN) {
        r->has_mss = 1, r->mss = 1460;
        r->sack_perm = 1;
        r->has_ts = 1, r->ts_val = 1000, r->ts_ecr = flags & SN_TCP_ACK ? 1000 : 0;
        r->has_wscale = 1, r->wscale = 7;
    } else {
        r->has_ts = 1, r->ts_val = 1010, r->ts_ecr = 1005;
    }
    return t;
}

static struct l4 icmp4(uint8_t type, uint8_t code, const uint8_t *data, size_t dlen)
{
    struct l4 t = {.proto = SN_IPPROTO_ICMP};
    t.u.icmp4.type = type;
    t.u.icmp4.code = code;
    t.u.icmp4.id = 0x1234;
    t.u.icmp4.seq = 1;
    t.u.icmp4.data = data;
    t.u.icmp4.data_len = dlen;
    return t;
}

static struct l4 icmp6(uint8_t type, uint8_t code, const uint8_t *data, size_t dlen)
{
    struct l4 t = {.proto = SN_IPPROTO_ICMPV6};
    t.u.icmp6.type = type;
    t.u.icmp6.code = code;
    t.u.icmp6.id = 0x4321;
    t.u.icmp6.seq = 7;
    t.u.icmp6.data = data;
    t.u.icmp6.data_len = dlen;
    return t;
}

/* Build an IPv4 frame; quoted (for ICMP errors) receives a copy of the IP packet. */
static int frame4(struct lab *L, const char *what, const uint8_t *dmac, const uint8_t *smac,
                  const uint16_t *vids, int nv, struct sn_ipv4_repr ip, const struct l4 *t)
{
    struct frame *f = add(L, what);
    uint32_t off = link_hdr(f->b, dmac, smac, SN_ETHERTYPE_IPV4, vids, nv);
    int n = ip4_pkt(f->b + off, sizeof(f->b) - off, &ip, t);
    if (n < 0)
        return n;
    f->len = off + (uint32_t)n;
    return 0;
}

static int frame6(struct lab *L, const char *what, const uint16_t *vids, int nv, struct sn_ipv6_repr ip,
                  const uint8_t *ext, size_t extlen, uint8_t first, const struct l4 *t, const uint8_t *dmac)
{
    struct frame *f = add(L, what);
    uint32_t off = link_hdr(f->b, dmac ? dmac : MAC_B, MAC_A, SN_ETHERTYPE_IPV6, vids, nv);
    int n = ip6_pkt(f->b + off, sizeof(f->b) - off, &ip, ext, extlen, first, t);
    if (n < 0)
        return n;
    f->len = off + (uint32_t)n;
    return 0;
}

static int arp_frame(struct lab *L, const char *what, uint16_t op)
{
    struct frame *f = add(L, what);
    struct sn_arp_repr a = {.op = op};
    memcpy(a.sha, op == SN_ARP_REQUEST ? MAC_A : MAC_B, 6);
    memcpy(a.spa, op == SN_ARP_REQUEST ? IP4_A : IP4_B, 4);
    memcpy(a.tha, op == SN_ARP_REQUEST ? (const uint8_t[6]){0} : MAC_A, 6);
    memcpy(a.tpa, op == SN_ARP_REQUEST ? IP4_B : IP4_A, 4);
    uint32_t off = link_hdr(f->b, op == SN_ARP_REQUEST ? MAC_BCAST : MAC_A, a.sha, SN_ETHERTYPE_ARP, NULL, 0);
    int n = sn_arp_emit(&a, f->b + off, sizeof(f->b) - off);
    if (n < 0)
        return n;
    f->len = off + (uint32_t)n;
    /* Ethernet minimum frame: 60 bytes before the FCS, padded with zeros. */
    if (f->len < 60)
        f->len = 60;
    return 0;
}

/* The demo set: every kind of packet, every checksum correct. */
static int build_demo(struct lab *L)
{
    int rc = 0;
    const uint16_t vlan1[1] = {100}, qinq[2] = {200, 100};
    struct l4 t;
    uint8_t quote[128];

    rc |= arp_frame(L, "ARP request", SN_ARP_REQUEST);
    rc |= arp_frame(L, "ARP reply", SN_ARP_REPLY);
    t = icmp4(SN_ICMP_ECHO, 0, PAYLOAD, 56);
    rc |= frame4(L, "ICMP echo request", MAC_B, MAC_A, NULL, 0, v4(IP4_A, IP4_B, 0x0101), &t);
    t = icmp4(SN_ICMP_ECHOREPLY, 0, PAYLOAD, 56);
    rc |= frame4(L, "ICMP echo reply", MAC_A, MAC_B, NULL, 0, v4(IP4_B, IP4_A, 0x0202), &t);
    t = udp(53000, 9, 32);
    rc |= frame4(L, "UDP datagram", MAC_B, MAC_A, NULL, 0, v4(IP4_A, IP4_B, 0x0303), &t);
    t = tcp(SN_TCP_SYN, 1000000, 0, 0);
    rc |= frame4(L, "TCP SYN (MSS, SACK-perm, TS, WS)", MAC_B, MAC_A, NULL, 0, v4(IP4_A, IP4_B, 0x0404), &t);
    t = tcp(SN_TCP_SYN | SN_TCP_ACK, 5000000, 1000001, 0);
    t.u.tcp.sport = 80, t.u.tcp.dport = 40000;
    rc |= frame4(L, "TCP SYN-ACK", MAC_A, MAC_B, NULL, 0, v4(IP4_B, IP4_A, 0), &t);
    t = tcp(SN_TCP_ACK | SN_TCP_PSH, 1000001, 5000001, 48);
    rc |= frame4(L, "TCP data", MAC_B, MAC_A, NULL, 0, v4(IP4_A, IP4_B, 0x0405), &t);
    t = tcp(SN_TCP_ACK, 5000001, 1000049, 0);
    t.u.tcp.sport = 80, t.u.tcp.dport = 40000;
    t.u.tcp.nsack = 2;
    t.u.tcp.sack[0][0] = 1000100, t.u.tcp.sack[0][1] = 1000200;
    t.u.tcp.sack[1][0] = 1000300, t.u.tcp.sack[1][1] = 1000400;
    rc |= frame4(L, "TCP ACK with SACK blocks", MAC_A, MAC_B, NULL, 0, v4(IP4_B, IP4_A, 0), &t);
    t = tcp(SN_TCP_FIN | SN_TCP_ACK, 1000049, 5000001, 0);
    rc |= frame4(L, "TCP FIN", MAC_B, MAC_A, NULL, 0, v4(IP4_A, IP4_B, 0x0406), &t);
    {
        /* IPv4 options: Router Alert (RFC 2113) and a NOP, padded by EOL. */
        static const uint8_t opts[] = {0x94, 0x04, 0x00, 0x00, 0x01};
        struct sn_ipv4_repr ip = v4(IP4_A, IP4_B, 0x0505);
        ip.opts = opts, ip.opts_len = sizeof(opts);
        ip.tos = 0xb8; /* DSCP EF */
        t = udp(40300, 33004, 20);
        rc |= frame4(L, "IPv4 with options (RA, NOP)", MAC_B, MAC_A, NULL, 0, ip, &t);
    }
    {
        /* A UDP datagram in two fragments (RFC 791 §2.3): MF on the first, offset on the second. */
        struct sn_ipv4_repr ip = v4(IP4_A, IP4_B, 0x0606);
        ip.df = 0, ip.mf = 1;
        t = udp(7000, 7001, 40); /* fragment 1 carries the UDP header + 40 bytes */
        rc |= frame4(L, "IPv4 first fragment (UDP)", MAC_B, MAC_A, NULL, 0, ip, &t);
        ip.mf = 0, ip.frag_off = 6; /* 48 bytes later */
        struct l4 raw = {.proto = SN_IPPROTO_UDP, .raw = PAYLOAD, .rawlen = 16};
        struct frame *f = add(L, "IPv4 last fragment");
        uint32_t off = link_hdr(f->b, MAC_B, MAC_A, SN_ETHERTYPE_IPV4, NULL, 0);
        memcpy(f->b + off + SN_IPV4_HLEN, raw.raw, raw.rawlen);
        ip.proto = SN_IPPROTO_UDP, ip.payload_len = 16;
        int n = sn_ipv4_emit(&ip, f->b + off, sizeof(f->b) - off);
        rc |= n < 0;
        f->len = off + SN_IPV4_HLEN + 16;
    }
    {
        /* ICMP errors quote the offending header + 8 bytes (RFC 792). */
        struct sn_ipv4_repr ip = v4(IP4_A, IP4_B, 0x0707);
        t = udp(53001, 33434, 12);
        int n = ip4_pkt(quote, sizeof(quote), &ip, &t);
        t = icmp4(SN_ICMP_UNREACH, 3, quote, (size_t)n);
        rc |= n < 0 || frame4(L, "ICMP port unreachable (quotes UDP)", MAC_A, MAC_B, NULL, 0,
                              v4(IP4_B, IP4_A, 0x0808), &t);
        ip = v4(IP4_A, IP4_B, 0x0909);
        ip.ttl = 1;
        t = tcp(SN_TCP_SYN, 777, 0, 0);
        n = ip4_pkt(quote, sizeof(quote), &ip, &t);
        t = icmp4(SN_ICMP_TIMXCEED, 0, quote, SN_IPV4_HLEN + 8u);
        rc |= n < 0 || frame4(L, "ICMP time exceeded (quotes TCP SYN)", MAC_A, MAC_B, NULL, 0,
                              v4(IP4_R, IP4_A, 0x0a0a), &t);
    }
    t = udp(40100, 33001, 24);
    rc |= frame4(L, "802.1Q VLAN 100, UDP", MAC_B, MAC_A, vlan1, 1, v4(IP4_A, IP4_B, 0x0b0b), &t);
    t = icmp4(SN_ICMP_ECHO, 0, PAYLOAD, 24);
    rc |= frame4(L, "QinQ 802.1ad 200 / 802.1Q 100, ICMP echo", MAC_B, MAC_A, qinq, 2, v4(IP4_A, IP4_B, 0x0c0c),
                 &t);
    t = udp(40400, 33005, 16);
    rc |= frame4(L, "double 802.1Q tag 300/301, UDP", MAC_B, MAC_A, (const uint16_t[]){300, 301}, -2,
                 v4(IP4_A, IP4_B, 0x0d0d), &t);

    /* IPv6 */
    t = icmp6(SN_ICMP6_ECHO, 0, PAYLOAD, 56);
    rc |= frame6(L, "ICMPv6 echo request", NULL, 0, v6(IP6_A, IP6_B), NULL, 0, 0, &t, NULL);
    t = icmp6(SN_ICMP6_ECHOREPLY, 0, PAYLOAD, 56);
    {
        struct sn_ipv6_repr ip = v6(IP6_B, IP6_A);
        rc |= frame6(L, "ICMPv6 echo reply", NULL, 0, ip, NULL, 0, 0, &t, NULL);
    }
    {
        /* Neighbour solicitation to the solicited-node group (RFC 4861 §4.3). */
        static const uint8_t snm[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2};
        static const uint8_t snm_mac[6] = {0x33, 0x33, 0xff, 0, 0, 2};
        struct sn_ipv6_repr ip = v6(IP6_A, snm);
        ip.hop_limit = 255, ip.flow = 0;
        t = icmp6(SN_ICMP6_NS, 0, NULL, 0);
        memcpy(t.u.icmp6.target, IP6_B, 16);
        t.u.icmp6.has_lladdr = 1;
        memcpy(t.u.icmp6.lladdr, MAC_A, 6);
        rc |= frame6(L, "ICMPv6 neighbour solicitation", NULL, 0, ip, NULL, 0, 0, &t, snm_mac);
        ip = v6(IP6_B, IP6_A);
        ip.hop_limit = 255, ip.flow = 0;
        t = icmp6(SN_ICMP6_NA, 0, NULL, 0);
        memcpy(t.u.icmp6.target, IP6_B, 16);
        t.u.icmp6.na_flags = 0x60; /* solicited, override */
        t.u.icmp6.has_lladdr = 1;
        memcpy(t.u.icmp6.lladdr, MAC_B, 6);
        rc |= frame6(L, "ICMPv6 neighbour advertisement", NULL, 0, ip, NULL, 0, 0, &t, MAC_A);
    }
    t = udp(53002, 33002, 28);
    rc |= frame6(L, "IPv6 UDP", NULL, 0, v6(IP6_A, IP6_B), NULL, 0, 0, &t, NULL);
    t = tcp(SN_TCP_SYN, 42, 0, 0);
    rc |= frame6(L, "IPv6 TCP SYN", NULL, 0, v6(IP6_A, IP6_B), NULL, 0, 0, &t, NULL);
    {
        /* Hop-by-hop (router alert) -> routing (type 0 with no segment left) ->
         * destination options -> UDP (RFC 8200 §4.1 order). */
        uint8_t ext[96];
        size_t k = 0;
        static const uint8_t ra[] = {0x05, 0x02, 0x00, 0x00};
        int n = sn_ipv6_opts_emit(SN_IPPROTO_HOPOPTS, SN_IPPROTO_ROUTING, ra, sizeof(ra), ext, sizeof(ext));
        rc |= n < 0, k += (size_t)(n > 0 ? n : 0);
        uint8_t rdata[20] = {0};
        memcpy(rdata + 4, IP6_B, 16);
        n = sn_ipv6_rh_emit(SN_IPPROTO_DSTOPTS, 0, 0, rdata, sizeof(rdata), ext + k, sizeof(ext) - k);
        rc |= n < 0, k += (size_t)(n > 0 ? n : 0);
        n = sn_ipv6_opts_emit(SN_IPPROTO_DSTOPTS, SN_IPPROTO_UDP, NULL, 0, ext + k, sizeof(ext) - k);
        rc |= n < 0, k += (size_t)(n > 0 ? n : 0);
        t = udp(53003, 9, 16);
        rc |= frame6(L, "IPv6 ext chain (HBH, RH, DST) + UDP", NULL, 0, v6(IP6_A, IP6_B), ext, k,
                     SN_IPPROTO_HOPOPTS, &t, NULL);
    }
    {
        /* The first of several IPv6 fragments: its transport stays unparsed. */
        uint8_t ext[8];
        int n = sn_ipv6_frag_emit(SN_IPPROTO_UDP, 0, 1, 0xabcdef01u, ext, sizeof(ext));
        t = udp(53004, 9, 40);
        rc |= n < 0 || frame6(L, "IPv6 first fragment", NULL, 0, v6(IP6_A, IP6_B), ext, 8,
                              SN_IPPROTO_FRAGMENT, &t, NULL);
    }
    {
        struct sn_ipv6_repr ip = v6(IP6_A, IP6_B);
        t = udp(53005, 33434, 8);
        int n = ip6_pkt(quote, sizeof(quote), &ip, NULL, 0, 0, &t);
        t = icmp6(SN_ICMP6_UNREACH, 4, quote, (size_t)n);
        rc |= n < 0 || frame6(L, "ICMPv6 port unreachable (quotes UDP)", NULL, 0, v6(IP6_B, IP6_A), NULL, 0,
                              0, &t, MAC_A);
    }
    t = udp(40200, 33003, 20);
    rc |= frame6(L, "802.1Q VLAN 302, IPv6 UDP", (const uint16_t[]){300}, 1, v6(IP6_A, IP6_B), NULL, 0, 0, &t,
                 NULL);
    return rc ? -EINVAL : 0;
}

/* The edge set: bad checksums, zero checksums, truncation, padding, unknown types. */
static int build_edge(struct lab *L)
{
    int rc = build_demo(L);
    struct l4 t;
    int first = L->n;
    t = udp(1111, 2222, 10);
    rc |= frame4(L, "bad IPv4 header checksum", MAC_B, MAC_A, NULL, 0, v4(IP4_A, IP4_B, 0x1001), &t);
    L->f[L->n - 1].b[SN_ETH_HLEN + SN_IPV4_CSUM] ^= 0x5a;
    t = tcp(SN_TCP_ACK, 1, 2, 20);
    rc |= frame4(L, "bad TCP checksum", MAC_B, MAC_A, NULL, 0, v4(IP4_A, IP4_B, 0x1002), &t);
    L->f[L->n - 1].b[L->f[L->n - 1].len - 1] ^= 0x01;
    t = udp(1111, 2222, 10);
    rc |= frame4(L, "bad UDP checksum", MAC_B, MAC_A, NULL, 0, v4(IP4_A, IP4_B, 0x1003), &t);
    L->f[L->n - 1].b[L->f[L->n - 1].len - 1] ^= 0x80;
    t = icmp6(SN_ICMP6_ECHO, 0, PAYLOAD, 8);
    rc |= frame6(L, "bad ICMPv6 checksum", NULL, 0, v6(IP6_A, IP6_B), NULL, 0, 0, &t, NULL);
    L->f[L->n - 1].b[L->f[L->n - 1].len - 1] ^= 0x01;
    t = udp(1111, 2222, 10);
    rc |= frame4(L, "UDP over IPv4, no checksum", MAC_B, MAC_A, NULL, 0, v4(IP4_A, IP4_B, 0x1004), &t);
    {
        struct frame *f = &L->f[L->n - 1];
        f->b[SN_ETH_HLEN + SN_IPV4_HLEN + 6] = 0, f->b[SN_ETH_HLEN + SN_IPV4_HLEN + 7] = 0;
    }
    t = udp(1111, 2222, 10);
    rc |= frame6(L, "UDP over IPv6, zero checksum", NULL, 0, v6(IP6_A, IP6_B), NULL, 0, 0, &t, NULL);
    {
        struct frame *f = &L->f[L->n - 1];
        f->b[SN_ETH_HLEN + SN_IPV6_HLEN + 6] = 0, f->b[SN_ETH_HLEN + SN_IPV6_HLEN + 7] = 0;
    }
    t = icmp4(SN_ICMP_ECHO, 0, PAYLOAD, 4);
    rc |= frame4(L, "short ICMP, Ethernet padding to 60", MAC_B, MAC_A, NULL, 0, v4(IP4_A, IP4_B, 0x1005), &t);
    L->f[L->n - 1].len = 60;
    {
        struct l4 raw = {.proto = 47, .raw = PAYLOAD, .rawlen = 24};
        rc |= frame4(L, "IPv4 GRE (no dissector)", MAC_B, MAC_A, NULL, 0, v4(IP4_A, IP4_B, 0x1006), &raw);
        struct frame *f = add(L, "unknown ethertype 0x88b5");
        uint32_t off = link_hdr(f->b, MAC_B, MAC_A, 0x88b5, NULL, 0);
        memcpy(f->b + off, PAYLOAD, 46);
        f->len = off + 46;
    }
    {
        /* A routing header with a segment left: the UDP checksum covers the final
         * destination, not the header's (RFC 8200 §8.1). */
        static const uint8_t via[16] = {0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99};
        uint8_t ext[24], rdata[20] = {0};
        memcpy(rdata + 4, IP6_B, 16);
        int n = sn_ipv6_rh_emit(SN_IPPROTO_UDP, 0, 1, rdata, sizeof(rdata), ext, sizeof(ext));
        t = udp(53006, 33006, 12);
        rc |= n < 0 || frame6(L, "IPv6 routing header, segment left (checksum to final dst)", NULL, 0,
                              v6(IP6_A, IP6_B), ext, (size_t)n, SN_IPPROTO_ROUTING, &t, NULL);
        memcpy(L->f[L->n - 1].b + SN_ETH_HLEN + SN_IPV6_DST, via, 16);
    }
    /* Truncated captures of full-size packets: caplen < wirelen. */
    static const uint32_t cuts[] = {10, 14, 20, 30, 34, 40, 48, 54, 60, 70};
    for (size_t i = 0; i < SN_COUNTOF(cuts); i++) {
        t = tcp(SN_TCP_SYN, 99, 0, 0);
        rc |= frame4(L, "truncated TCP SYN", MAC_B, MAC_A, NULL, 0, v4(IP4_A, IP4_B, (uint16_t)(0x2000 + i)), &t);
        struct frame *f = &L->f[L->n - 1];
        f->wirelen = f->len;
        f->len = SN_MIN(cuts[i], f->len);
    }
    static const uint32_t cuts6[] = {20, 54, 60, 70};
    for (size_t i = 0; i < SN_COUNTOF(cuts6); i++) {
        t = udp(3000, 3001, 30);
        rc |= frame6(L, "truncated IPv6 UDP", NULL, 0, v6(IP6_A, IP6_B), NULL, 0, 0, &t, NULL);
        struct frame *f = &L->f[L->n - 1];
        f->wirelen = f->len;
        f->len = SN_MIN(cuts6[i], f->len);
    }
    (void)first;
    return rc ? -EINVAL : 0;
}

/* ---- step 5: live capture on lo ------------------------------------------------
 * Two UDP sockets of ours on 127.0.0.1 (ports picked by the kernel: P, the target,
 * and Q, the decoy) receive what we send, so nothing answers with ICMP and no
 * other program sees a byte. A TPACKET_V3 ring on lo carries the kernel filter
 * "udp and dst port P", with PACKET_IGNORE_OUTGOING: lo shows each packet twice,
 * once leaving and once arriving, and we want it once. Every captured frame is
 * dissected in place and checked: addresses, ports, payload, sequence number. */

#define CAP_COUNT 1000u       /* datagrams to P, each captured once */
#define CAP_DECOY_EVERY 10u   /* one datagram to Q after every tenth: 100 decoys */
#define CAP_WAIT_MS 2000      /* read for at most this long after the last send */
#define CAP_TAG "sysnet lab capture #"
#define CAP_PLEN (sizeof(CAP_TAG) - 1 + 7) /* the tag and a 7-digit sequence number */

struct cap {
    int rx, decoy, tx;        /* our UDP sockets: receiver on P, receiver on Q, sender */
    struct sn_addr to, to_decoy, from;
    unsigned sent, decoys, send_errors; /* sends that worked / failed */
    unsigned captured, wrong, dups, decoys_seen, csum_good, csum_not_ready, csum_bad;
    char first_wrong[160];
    uint8_t seen[CAP_COUNT];
};

static int udp_on_loopback(struct sn_addr *bound)
{
    struct sn_addr any;
    sn_addr_loopback(&any, AF_INET, 0); /* port 0: the kernel picks a free ephemeral port */
    struct sn_sock_opts o = {.family = AF_INET, .type = SOCK_DGRAM, .bind = &any};
    int fd = sn_sock_open(&o);
    if (fd < 0)
        return fd;
    int rc = sn_sock_local_addr(fd, bound);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

static int send_to(int fd, const struct sn_addr *to, const void *p, size_t len)
{
    struct sockaddr_storage ss;
    int sl = sn_addr_to_sockaddr(to, &ss);
    if (sl < 0)
        return sl;
    return sendto(fd, p, len, 0, (const struct sockaddr *)&ss, (socklen_t)sl) < 0 ? -errno : 0;
}

static void cap_wrong(struct cap *c, const char *why, unsigned long v)
{
    if (!c->wrong++)
        snprintf(c->first_wrong, sizeof(c->first_wrong), "%s (%lu)", why, v);
}

/* Check one captured frame against what we sent. */
static void cap_check(struct cap *c, const struct sn_ring_pkt *p, int linktype)
{
    static const uint8_t lo4[4] = {127, 0, 0, 1};
    struct sn_dissect d;
    c->captured++;
    sn_dissect(p->data, p->caplen, p->wirelen, (uint32_t)linktype, &d);
    const struct sn_layer *ip = sn_dissect_find(&d, SN_LAYER_IPV4, NULL);
    const struct sn_layer *u = sn_dissect_find(&d, SN_LAYER_UDP, NULL);
    if (!ip || !u || !ip->complete || !u->complete) {
        cap_wrong(c, "not a whole IPv4/UDP packet, caplen", p->caplen);
        return;
    }
    const struct sn_udp_repr *udp = &u->u.udp;
    if (udp->dport == c->to_decoy.port) {
        c->decoys_seen++; /* the filter should have refused it */
        return;
    }
    if (udp->dport != c->to.port) {
        cap_wrong(c, "wrong destination port", udp->dport);
        return;
    }
    if (udp->sport != c->from.port) {
        cap_wrong(c, "wrong source port", udp->sport);
        return;
    }
    if (memcmp(ip->u.ipv4.src, lo4, 4) || memcmp(ip->u.ipv4.dst, lo4, 4)) {
        cap_wrong(c, "not 127.0.0.1 to 127.0.0.1, packet", c->captured);
        return;
    }
    /* The sequence number: the 7 digits after the tag (read within the payload only). */
    char want[CAP_PLEN + 1];
    unsigned long seq = 0;
    if (udp->payload_len == CAP_PLEN)
        for (size_t i = sizeof(CAP_TAG) - 1; i < CAP_PLEN; i++)
            seq = seq * 10 + (unsigned long)(udp->payload[i] - '0') % 10u;
    snprintf(want, sizeof(want), CAP_TAG "%07lu", seq);
    if (udp->payload_len != CAP_PLEN || memcmp(udp->payload, want, CAP_PLEN) || seq >= CAP_COUNT) {
        cap_wrong(c, "payload not what we sent, length", (unsigned long)udp->payload_len);
        return;
    }
    if (c->seen[seq]++) {
        c->dups++;
        return;
    }
    /* lo leaves the UDP checksum to "hardware" that does not exist: the frame still
     * holds the partial sum (CHECKSUM_PARTIAL), and the ring says so. */
    if (u->csum == SN_CSUM_GOOD)
        c->csum_good++;
    else if (p->status & TP_STATUS_CSUMNOTREADY)
        c->csum_not_ready++;
    else
        c->csum_bad++;
}

/* "capture step skipped: WHY[: ERROR] [(HINT)]": one line, and the demo goes on. */
static int capture_skip(int quiet, const char *why, int err)
{
    const char *hint = err ? sn_ring_hint(err) : NULL;
    int perm = err == -EPERM || err == -EACCES; /* the hint says it all */
    printf("%scapture step skipped: %s%s%s%s%s%s\n", quiet ? "  " : "\n", why, err && !perm ? ": " : "",
           err && !perm ? sn_strerror(err) : "", hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
    return 0;
}

static int step_capture(int quiet)
{
    static struct cap c;
    struct sn_ring r;
    struct sock_filter prog[SN_FILTER_MAXINSNS];
    struct sn_filter_err ferr;
    char expr[64];
    int rc, ret = 0;

    memset(&c, 0, sizeof(c));
    c.rx = c.decoy = c.tx = -1;
    memset(&r, 0, sizeof(r));
    r.fd = -1;
    int linktype = sn_ring_linktype_of("lo");
    if (linktype < 0)
        return capture_skip(quiet, "no usable loopback interface", linktype);
    if ((c.rx = udp_on_loopback(&c.to)) < 0 || (c.decoy = udp_on_loopback(&c.to_decoy)) < 0 ||
        (c.tx = udp_on_loopback(&c.from)) < 0) {
        rc = c.rx < 0 ? c.rx : c.decoy < 0 ? c.decoy : c.tx;
        ret = capture_skip(quiet, "no UDP socket on 127.0.0.1", rc);
        goto out;
    }
    snprintf(expr, sizeof(expr), "udp and dst port %u", c.to.port);
    int n = sn_filter_compile(expr, (uint32_t)linktype, 0, prog, SN_COUNTOF(prog), &ferr);
    if (n < 0) {
        ret = tool_err("lab", "filter '%s': %s", expr, ferr.msg);
        goto out;
    }
    struct sn_ring_opts o = {.ifname = "lo", .block_size = 64u * 1024, .block_count = 16,
                             .flags = SN_RING_NO_OUTGOING, .filter = prog, .filter_len = (unsigned)n};
    if ((rc = sn_ring_open(&r, &o)) < 0) {
        ret = capture_skip(quiet, geteuid() && (rc == -EPERM || rc == -EACCES) ? "not root"
                                                                              : "cannot open a ring on lo",
                           rc);
        goto out;
    }
    if (!quiet) {
        printf("\n== step 5: capture live on lo: a TPACKET_V3 ring and a kernel BPF filter\n");
        printf("  ring on lo: 16 blocks of 64 KiB read in place, outgoing copies ignored (each packet once)\n");
        printf("  kernel filter '%s': %d classic BPF instructions\n", expr, n);
    }

    /* Send everything first: 1000 small frames take about 150 KB of the 1 MiB ring. */
    uint8_t payload[CAP_PLEN + 1];
    for (unsigned i = 0; i < CAP_COUNT; i++) {
        snprintf((char *)payload, sizeof(payload), CAP_TAG "%07u", i);
        if (send_to(c.tx, &c.to, payload, CAP_PLEN) < 0) {
            c.send_errors++; /* its sequence number is then simply never seen */
            continue;
        }
        c.sent++;
        if ((i + 1) % CAP_DECOY_EVERY == 0 && send_to(c.tx, &c.to_decoy, payload, CAP_PLEN) == 0)
            c.decoys++;
    }
    uint64_t deadline = sn_now_ns() + (uint64_t)CAP_WAIT_MS * 1000000u;
    unsigned want = c.sent;
    struct sn_ring_pkt p;
    while (c.captured - c.wrong - c.dups - c.decoys_seen < want) {
        uint64_t now = sn_now_ns();
        if (now >= deadline)
            break;
        int wait = (int)SN_MIN((deadline - now) / 1000000u + 1, 100u);
        rc = sn_ring_next(&r, &p, wait);
        if (rc == -EINTR || rc == 0)
            continue;
        if (rc < 0) {
            ret = tool_err("lab", "capture on lo: %s", sn_strerror(rc));
            goto out;
        }
        cap_check(&c, &p, linktype);
    }
    sn_ring_release(&r);
    struct sn_ring_stats st;
    if ((rc = sn_ring_stats(&r, &st)) < 0) {
        ret = tool_err("lab", "PACKET_STATISTICS: %s", sn_strerror(rc));
        goto out;
    }
    unsigned ok = c.captured - c.wrong - c.dups - c.decoys_seen;
    if (quiet) {
        printf("  capture on lo: %u sent, %u captured and checked, %llu kernel drops, %u of %u decoys "
               "passed the filter\n",
               want, ok, (unsigned long long)st.drops, c.decoys_seen, c.decoys);
    } else {
        printf("  sent %u datagrams to 127.0.0.1:%u and %u decoys to 127.0.0.1:%u (sockets of ours)\n", want,
               c.to.port, c.decoys, c.to_decoy.port);
        printf("  captured %u of %u; each dissected in place: addresses, ports, payload, sequence right\n", ok,
               want);
        printf("  UDP checksums: %u verified, %u not filled in yet (lo offloads them: TP_STATUS_CSUMNOTREADY)\n",
               c.csum_good, c.csum_not_ready);
        printf("  PACKET_STATISTICS: %llu passed the filter, %llu dropped for want of a free block\n",
               (unsigned long long)st.packets, (unsigned long long)st.drops);
        printf("  blocks handed back: %llu (%llu of them retired by the timer before they were full)\n",
               (unsigned long long)st.blocks, (unsigned long long)st.blocks_timeout);
        printf("  filtered out in the kernel: the %u decoys and all other traffic on lo (%u reached the ring)\n",
               c.decoys, c.decoys_seen);
        printf("  the filter, instruction by instruction: sysnet sniff -d '%s'\n", expr);
    }
    if (c.wrong)
        ret = tool_err("lab", "capture: %u frames are not what we sent; the first: %s", c.wrong, c.first_wrong);
    else if (c.dups || c.decoys_seen || c.csum_bad)
        ret = tool_err("lab", "capture: %u duplicates, %u decoys passed the filter, %u bad checksums", c.dups,
                       c.decoys_seen, c.csum_bad);
    else if (ok < want)
        printf("  note: %u datagrams not captured within %d ms (%llu counted as ring drops)\n", want - ok,
               CAP_WAIT_MS, (unsigned long long)st.drops);
    if (c.send_errors)
        printf("  note: %u sends failed\n", c.send_errors);
out:
    sn_ring_close(&r);
    if (c.rx >= 0)
        close(c.rx);
    if (c.decoy >= 0)
        close(c.decoy);
    if (c.tx >= 0)
        close(c.tx);
    return ret;
}

static void help(void)
{
    printf("usage: sysnet lab [-w FILE] [--set demo|edge] [-q] [--no-capture] [--no-echo] [--no-feed]\n"
           "                  [--no-runtime] [--tasks N]\n"
           "The guided demo of the packet layer. Steps 1-4 need no privileges:\n"
           "  1. craft packets of every kind with the wire module's emit functions\n"
           "  2. write them to a pcap file (nanosecond stamps)\n"
           "  3. read the file back and dissect every frame (tcpdump-like lines)\n"
           "  4. verify every checksum with the dissector\n"
           "Step 5 needs CAP_NET_RAW (root), and is skipped with one line without it:\n"
           "  5. send 1000 UDP datagrams to a socket of ours on 127.0.0.1 (and 100 to a\n"
           "     second port as decoys), capture them on lo through a TPACKET_V3 ring\n"
           "     with the kernel filter 'udp and dst port P', check each one, and print\n"
           "     the ring's counters. Only lo is touched.\n"
           "Steps 6-7 need no privileges (127.0.0.1 only):\n"
           "  6. an echo server and 50 clients on one event loop: a closed-loop ping-pong for\n"
           "     0.5 s, messages/s and latency percentiles (the loop module)\n"
           "  7. a SoupBinTCP session of 20000 ITCH 5.0 Add Orders, server and client on one\n"
           "     loop, every message decoded and checked (the frame module)\n"
           "Step 8 needs no privileges (127.0.0.1 only): the task runtime\n"
           "  8. a million futures sleeping 300 ms at once on one thread (memory per task,\n"
           "     under 1 GiB in all); a coroutine echo server and 50 coroutine clients on one\n"
           "     runtime (msgs/s); select, timeout and join_all\n\n"
           "  -w FILE        the pcap to write (default: $TMPDIR/sysnet-lab.pcap)\n"
           "      --set S    demo (default): every kind, all checksums good;\n"
           "                 edge: adds bad/zero checksums, padding, truncated captures\n"
           "  -q             only write the file and print the totals\n"
           "      --no-capture  skip step 5\n"
           "      --no-echo  skip step 6\n"
           "      --no-feed  skip step 7\n"
           "      --no-runtime  skip step 8\n"
           "      --tasks N  step 8: how many sleeping tasks (1..3000000; default 1000000)\n"
           "  -h, --help     this text\n");
}

int cmd_lab(int argc, char **argv)
{
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'},
                                       {"set", required_argument, NULL, 's'},
                                       {"no-capture", no_argument, NULL, 'C'},
                                       {"no-echo", no_argument, NULL, 'E'},
                                       {"no-feed", no_argument, NULL, 'F'},
                                       {"no-runtime", no_argument, NULL, 'R'},
                                       {"tasks", required_argument, NULL, 'T'},
                                       {NULL, 0, NULL, 0}};
    const char *path = NULL, *set = "demo";
    int quiet = 0, capture = 1, echo = 1, feed = 1, runtime = 1, c;
    unsigned tasks = 0;
    uint64_t v;
    char defpath[512];
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":w:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return 0;
        case 'w': path = optarg; break;
        case 'q': quiet = 1; break;
        case 's': set = optarg; break;
        case 'C': capture = 0; break;
        case 'E': echo = 0; break;
        case 'F': feed = 0; break;
        case 'R': runtime = 0; break;
        case 'T':
            if (tool_parse_u64(optarg, 1, 3000000, &v) < 0)
                return tool_usage("lab", "--tasks wants 1..3000000, not '%s'", optarg);
            tasks = (unsigned)v;
            break;
        case ':': return tool_usage("lab", "option -%c needs a value", optopt);
        default: return tool_usage("lab", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (strcmp(set, "demo") && strcmp(set, "edge"))
        return tool_usage("lab", "--set wants demo or edge, not '%s'", set);
    if (!path) {
        const char *tmp = getenv("TMPDIR");
        snprintf(defpath, sizeof(defpath), "%s/sysnet-lab.pcap", tmp && *tmp ? tmp : "/tmp");
        path = defpath;
    }

    static struct lab L;
    L.n = 0;
    if (!quiet)
        printf("== step 1: craft packets with the wire module (emit fills lengths and checksums)\n");
    int rc = !strcmp(set, "edge") ? build_edge(&L) : build_demo(&L);
    if (rc < 0)
        return tool_err("lab", "crafting failed: %s", sn_strerror(rc));
    if (!quiet)
        for (int i = 0; i < L.n; i++)
            printf("  %2d  %4u bytes  %s\n", i + 1, L.f[i].len, L.f[i].what);

    struct sn_pcap_writer w;
    struct sn_pcap_writer_opts wo = {.format = SN_PCAP_NS, .linktype = SN_LINKTYPE_ETHERNET};
    if ((rc = sn_pcap_writer_open(&w, path, &wo)) < 0)
        return tool_err("lab", "%s: %s", path, sn_strerror(rc));
    const int64_t t0 = 1700000000LL * 1000000000LL;
    for (int i = 0; i < L.n && rc >= 0; i++) {
        const struct frame *f = &L.f[i];
        rc = sn_pcap_write(&w, t0 + i * 1000123LL, f->b, f->len, f->wirelen ? f->wirelen : f->len);
    }
    int rc2 = sn_pcap_writer_close(&w);
    if (rc < 0 || rc2 < 0)
        return tool_err("lab", "%s: %s", path, sn_strerror(rc < 0 ? rc : rc2));
    if (!quiet)
        printf("\n== step 2: wrote %d packets to %s (pcap, nanosecond stamps)\n", L.n, path);

    struct sn_pcap_reader r;
    if ((rc = sn_pcap_open(&r, path)) < 0)
        return tool_err("lab", "%s: %s", path, sn_pcap_errmsg(&r));
    if (!quiet)
        printf("\n== step 3: read it back and dissect (sysnet sniff -r %s does the same)\n", path);
    struct sn_pcap_pkt pkt;
    struct sn_dissect d;
    int n = 0, good = 0, bad = 0, unverified = 0;
    char line[512];
    while ((rc = sn_pcap_next(&r, &pkt)) > 0) {
        n++;
        sn_dissect(pkt.data, pkt.caplen, pkt.wirelen, pkt.linktype, &d);
        for (int i = 0; i < d.n; i++) {
            good += d.l[i].csum == SN_CSUM_GOOD;
            bad += d.l[i].csum == SN_CSUM_BAD;
            unverified += d.l[i].csum == SN_CSUM_UNVERIFIED;
        }
        if (!quiet) {
            sn_dissect_summary(&d, line, sizeof(line));
            printf("  %2d  %s\n", n, line);
        }
    }
    int rerr = rc;
    const char *emsg = rc < 0 ? sn_pcap_errmsg(&r) : NULL;
    if (rerr < 0) {
        int ex = tool_err("lab", "%s: %s", path, emsg);
        sn_pcap_close(&r);
        return ex;
    }
    sn_pcap_close(&r);
    if (!quiet)
        printf("\n== step 4: checksums verified by the dissector\n");
    printf("  %d packets: %d checksums good, %d bad, %d unverified (fragments, quoted or cut packets)\n", n, good,
           bad, unverified);
    if (!strcmp(set, "demo") && bad)
        return tool_err("lab", "%d bad checksums in packets we emitted", bad);
    if (capture && (rc = step_capture(quiet)) != 0)
        return rc;
    if (echo && (rc = lab_step_echo(quiet)) != 0)
        return rc;
    if (feed && (rc = lab_step_feed(quiet)) != 0)
        return rc;
    if (runtime && (rc = lab_step_runtime(quiet, tasks)) != 0)
        return rc;
    if (!quiet)
        printf("\nNext: tshark -r %s   or   sysnet sniff -r %s -T fields -e ip.src -e tcp.flags\n", path, path);
    return 0;
}
