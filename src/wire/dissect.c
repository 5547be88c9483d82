/* dissect.c — a whole frame, layer by layer, as far as its captured bytes go.
 *
 * The walk mirrors what a protocol analyser does (and what tshark does with
 * ip.defragment off): link layer, VLAN tags, ARP or IP, the IPv6 extension
 * chain, then ICMP/UDP/TCP; inside an ICMP error the quoted packet is walked
 * again as "inner" layers. Checksums are verified only where every byte they
 * cover was captured and the datagram is not a fragment, so a capture cut at
 * snaplen reports "unverified" rather than "bad". */
#include <sysnet/wire.h>

struct walk {
    struct sn_dissect *d;
    const uint8_t *f;
};

/* A header cut by the capture: its checksum cannot be checked. */
static void stop(struct sn_layer *l, int rc)
{
    l->err = rc;
    if (rc == SN_WIRE_ETRUNC && l->csum != SN_CSUM_NONE)
        l->csum = SN_CSUM_UNVERIFIED;
}

static struct sn_layer *push(struct walk *w, int kind, uint32_t off, uint32_t end, int inner)
{
    struct sn_dissect *d = w->d;
    if (d->n >= SN_DISSECT_MAX_LAYERS || off >= end)
        return NULL;
    struct sn_layer *l = &d->l[d->n++];
    memset(l, 0, sizeof(*l));
    l->kind = (uint8_t)kind;
    l->csum = SN_CSUM_NONE;
    l->inner = (uint8_t)inner;
    l->off = off;
    l->avail = end - off;
    return l;
}

static void walk_l3(struct walk *w, uint16_t type, uint32_t off, uint32_t end, int inner);

/* ---- transport ---------------------------------------------------------- */

/* What the transport dissectors need to know about the IP datagram around them. */
struct l4ctx {
    struct sn_ipaddrs ip;  /* pseudo-header addresses */
    uint32_t len;          /* transport bytes the IP header declares */
    int frag;              /* a fragment: checksums cannot be verified */
    int inner;             /* inside an ICMP error */
};

/* Bytes [off, off+len) all captured and not a fragment: a checksum can be checked. */
static int verifiable(const struct l4ctx *c, uint32_t avail)
{
    return !c->frag && avail >= c->len;
}

/* The checksum status of a transport header, from its raw bytes: computed even
 * when the header does not parse (tshark checks it all the same), unverified when
 * bytes are missing (an ICMP error quoting only 8 bytes) or it is a fragment. */
static uint8_t l4_status(const struct walk *w, const struct sn_layer *l, const struct l4ctx *c, uint8_t proto)
{
    if (!verifiable(c, l->avail))
        return SN_CSUM_UNVERIFIED;
    const uint8_t *p = w->f + l->off;
    uint32_t s = 0;
    if (proto != SN_IPPROTO_ICMP)
        s = c->ip.family == 4 ? sn_csum_pseudo4(c->ip.src, c->ip.dst, proto, (uint16_t)c->len)
                              : sn_csum_pseudo6(c->ip.src, c->ip.dst, proto, c->len);
    return sn_csum_fold(sn_csum_add(s, p, c->len)) == 0 ? SN_CSUM_GOOD : SN_CSUM_BAD;
}

static void walk_icmp4(struct walk *w, uint32_t off, uint32_t end, const struct l4ctx *c)
{
    struct sn_layer *l = push(w, SN_LAYER_ICMP4, off, end, c->inner);
    if (!l)
        return;
    struct sn_icmp4_repr *r = &l->u.icmp4;
    l->csum = l4_status(w, l, c, SN_IPPROTO_ICMP);
    int rc = sn_icmp4_parse(w->f + off, SN_MIN(l->avail, c->len), 0, r);
    if (rc < 0) {
        stop(l, rc);
        return;
    }
    l->complete = 1;
    l->hdr_len = SN_ICMP4_HLEN;
    /* RFC 792: errors quote the offending IP header and its first 8 payload bytes. */
    if (!c->inner && (r->type == SN_ICMP_UNREACH || r->type == SN_ICMP_TIMXCEED || r->type == 4 ||
                      r->type == 5 || r->type == 12))
        walk_l3(w, SN_ETHERTYPE_IPV4, off + SN_ICMP4_HLEN, end, 1);
}

static void walk_icmp6(struct walk *w, uint32_t off, uint32_t end, const struct l4ctx *c)
{
    struct sn_layer *l = push(w, SN_LAYER_ICMP6, off, end, c->inner);
    if (!l)
        return;
    struct sn_icmp6_repr *r = &l->u.icmp6;
    l->csum = l4_status(w, l, c, SN_IPPROTO_ICMPV6);
    int rc = sn_icmp6_parse(w->f + off, SN_MIN(l->avail, c->len), NULL, r);
    if (rc < 0) {
        stop(l, rc);
        return;
    }
    l->complete = 1;
    l->hdr_len = SN_ICMP6_HLEN;
    /* RFC 4443 §3: error messages carry as much of the invoking packet as fits. */
    if (!c->inner && r->type >= 1 && r->type <= 4)
        walk_l3(w, SN_ETHERTYPE_IPV6, off + SN_ICMP6_HLEN, end, 1);
}

static void walk_udp(struct walk *w, uint32_t off, uint32_t end, const struct l4ctx *c)
{
    struct sn_layer *l = push(w, SN_LAYER_UDP, off, end, c->inner);
    if (!l)
        return;
    struct sn_udp_repr *r = &l->u.udp;
    const uint8_t *p = w->f + off;
    if (l->avail >= SN_UDP_HLEN && sn_load_be16(p + 6) == 0)
        l->csum = c->ip.family == 4 ? SN_CSUM_NOT_PRESENT : SN_CSUM_ILLEGAL;
    else
        l->csum = l4_status(w, l, c, SN_IPPROTO_UDP);
    int rc = sn_udp_parse(p, SN_MIN(l->avail, c->len), SN_WIRE_PARTIAL, NULL, r);
    if (rc < 0) {
        stop(l, rc);
        return;
    }
    l->complete = 1;
    l->hdr_len = SN_UDP_HLEN;
}

static void walk_tcp(struct walk *w, uint32_t off, uint32_t end, const struct l4ctx *c)
{
    struct sn_layer *l = push(w, SN_LAYER_TCP, off, end, c->inner);
    if (!l)
        return;
    struct sn_tcp_repr *r = &l->u.tcp;
    l->csum = l4_status(w, l, c, SN_IPPROTO_TCP);
    int rc = sn_tcp_parse(w->f + off, SN_MIN(l->avail, c->len), NULL, r);
    if (rc < 0) {
        stop(l, rc);
        return;
    }
    l->complete = 1;
    l->hdr_len = r->hdr_len;
}

static void walk_l4(struct walk *w, uint8_t proto, uint32_t off, uint32_t end, const struct l4ctx *c)
{
    switch (proto) {
    case SN_IPPROTO_ICMP:
        if (c->ip.family == 4)
            walk_icmp4(w, off, end, c);
        break;
    case SN_IPPROTO_ICMPV6:
        if (c->ip.family == 6)
            walk_icmp6(w, off, end, c);
        break;
    case SN_IPPROTO_UDP:
        walk_udp(w, off, end, c);
        break;
    case SN_IPPROTO_TCP:
        walk_tcp(w, off, end, c);
        break;
    default:
        break;
    }
}

/* ---- network ------------------------------------------------------------ */

static void walk_ipv4(struct walk *w, uint32_t off, uint32_t end, int inner)
{
    struct sn_layer *l = push(w, SN_LAYER_IPV4, off, end, inner);
    if (!l)
        return;
    struct sn_ipv4_repr *r = &l->u.ipv4;
    uint32_t ihl = (w->f[off] & 0x0fu) * 4u;
    if (ihl >= SN_IPV4_HLEN && l->avail >= ihl)
        l->csum = sn_csum(w->f + off, ihl) == 0 ? SN_CSUM_GOOD : SN_CSUM_BAD;
    else
        l->csum = SN_CSUM_UNVERIFIED;
    int rc = sn_ipv4_parse(w->f + off, l->avail, SN_WIRE_PARTIAL, r);
    if (rc < 0) {
        stop(l, rc);
        return;
    }
    l->complete = 1;
    l->hdr_len = r->hdr_len;
    /* Only the first fragment carries the transport header (RFC 791 §2.3). */
    if (r->frag_off != 0)
        return;
    struct l4ctx c = {
        .ip = {4, w->f + off + SN_IPV4_SRC, w->f + off + SN_IPV4_DST},
        .len = r->payload_len,
        .frag = r->mf,
        .inner = inner,
    };
    /* Bytes past the IP total length (Ethernet padding) are not the datagram's. */
    uint32_t dend = SN_MIN(end, off + (uint32_t)r->total_len);
    walk_l4(w, r->proto, off + r->hdr_len, dend, &c);
}

/* The destination the upper-layer checksum covers (RFC 8200 §8.1): the header's,
 * unless a routing header still has segments left; then the final one — the last
 * address of a type 0 header, the home address of type 2, segment 0 of an SRH
 * (RFC 8754 §2, which lists segments in reverse). */
static const uint8_t *final_dst(const uint8_t *ip6, const struct sn_ipv6_chain *ch)
{
    for (int i = 0; i < ch->n; i++) {
        const struct sn_ipv6_ext *e = &ch->ext[i];
        const uint8_t *h = ip6 + e->off;
        if (e->type != SN_IPPROTO_ROUTING || e->len < 24 || h[3] == 0)
            continue;
        uint32_t at = 8;
        if (h[2] == 0)
            at = 8 + (uint32_t)(e->len - 8) / 16 * 16 - 16;
        else if (h[2] != 2 && h[2] != 4)
            continue;
        if (at + 16 <= e->len)
            return h + at;
    }
    return ip6 + SN_IPV6_DST;
}

static void walk_ipv6(struct walk *w, uint32_t off, uint32_t end, int inner)
{
    struct sn_layer *l = push(w, SN_LAYER_IPV6, off, end, inner);
    if (!l)
        return;
    struct sn_ipv6_repr *r = &l->u.ipv6.ip;
    struct sn_ipv6_chain *ch = &l->u.ipv6.chain;
    int rc = sn_ipv6_parse(w->f + off, l->avail, SN_WIRE_PARTIAL, r);
    if (rc < 0) {
        stop(l, rc);
        return;
    }
    l->complete = 1;
    l->hdr_len = SN_IPV6_HLEN;
    uint32_t dend = SN_MIN(end, off + SN_IPV6_HLEN + (uint32_t)r->payload_len);
    rc = sn_ipv6_walk(w->f + off, dend - off, ch);
    if (rc < 0) {
        stop(l, rc);
        return;
    }
    /* A fragment that is not the whole datagram: the upper layer is not dissected. */
    if (ch->has_frag && (ch->frag_off != 0 || ch->frag_more))
        return;
    if (ch->upper_off > SN_IPV6_HLEN + r->payload_len)
        return;
    struct l4ctx c = {
        .ip = {6, w->f + off + SN_IPV6_SRC, final_dst(w->f + off, ch)},
        .len = (uint32_t)SN_IPV6_HLEN + r->payload_len - ch->upper_off,
        .frag = 0,
        .inner = inner,
    };
    walk_l4(w, ch->upper, off + ch->upper_off, dend, &c);
}

static void walk_arp(struct walk *w, uint32_t off, uint32_t end)
{
    struct sn_layer *l = push(w, SN_LAYER_ARP, off, end, 0);
    if (!l)
        return;
    int rc = sn_arp_parse(w->f + off, l->avail, &l->u.arp);
    if (rc < 0) {
        stop(l, rc);
        return;
    }
    l->complete = 1;
    l->hdr_len = SN_ARP_LEN;
}

static void walk_l3(struct walk *w, uint16_t type, uint32_t off, uint32_t end, int inner)
{
    switch (type) {
    case SN_ETHERTYPE_IPV4:
        walk_ipv4(w, off, end, inner);
        break;
    case SN_ETHERTYPE_IPV6:
        walk_ipv6(w, off, end, inner);
        break;
    case SN_ETHERTYPE_ARP:
        if (!inner)
            walk_arp(w, off, end);
        break;
    default:
        break;
    }
}

/* ---- link --------------------------------------------------------------- */

static void walk_eth(struct walk *w, uint32_t end)
{
    struct sn_layer *l = push(w, SN_LAYER_ETH, 0, end, 0);
    if (!l)
        return;
    if (sn_eth_parse(w->f, l->avail, &l->u.eth) < 0) {
        l->err = SN_WIRE_ETRUNC;
        return;
    }
    l->complete = 1;
    l->hdr_len = SN_ETH_HLEN;
    uint16_t type = l->u.eth.type;
    uint32_t off = SN_ETH_HLEN;
    /* 802.1Q / 802.1ad: each tag is TCI + the next ethertype. */
    while (sn_eth_is_vlan(type)) {
        int kind = type == SN_ETHERTYPE_QINQ ? SN_LAYER_QINQ : SN_LAYER_VLAN;
        struct sn_layer *v = push(w, kind, off, end, 0);
        if (!v)
            return;
        if (sn_vlan_parse(w->f + off, v->avail, &v->u.vlan) < 0) {
            v->err = SN_WIRE_ETRUNC;
            return;
        }
        v->complete = 1;
        v->hdr_len = SN_VLAN_HLEN;
        type = v->u.vlan.type;
        off += SN_VLAN_HLEN;
    }
    walk_l3(w, type, off, end, 0);
}

int sn_dissect(const uint8_t *frame, uint32_t caplen, uint32_t wirelen, uint32_t linktype,
               struct sn_dissect *d)
{
    struct walk w = {d, frame};
    d->frame = frame;
    d->caplen = caplen;
    d->wirelen = wirelen;
    d->linktype = linktype;
    d->n = 0;
    switch (linktype) {
    case SN_LINKTYPE_ETHERNET:
        walk_eth(&w, caplen);
        break;
    case SN_LINKTYPE_RAW:
        if (caplen >= 1)
            walk_l3(&w, (frame[0] >> 4) == 6 ? SN_ETHERTYPE_IPV6 : SN_ETHERTYPE_IPV4, 0, caplen, 0);
        break;
    case SN_LINKTYPE_LINUX_SLL:
        /* Linux cooked capture v1: 16-byte header, protocol type in the last two. */
        if (caplen >= 16)
            walk_l3(&w, sn_load_be16(frame + 14), 16, caplen, 0);
        break;
    default:
        return -EPROTONOSUPPORT;
    }
    return d->n;
}

const struct sn_layer *sn_dissect_find(const struct sn_dissect *d, int kind, const struct sn_layer *after)
{
    int i = after ? (int)(after - d->l) + 1 : 0;
    for (; i < d->n; i++)
        if (d->l[i].kind == kind)
            return &d->l[i];
    return NULL;
}
