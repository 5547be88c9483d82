/* ipv6.c — the IPv6 fixed header (RFC 8200 §3) and its extension-header chain
 * (RFC 8200 §4): walk the hop-by-hop, routing, fragment and destination-options
 * headers up to the upper-layer protocol, and emit each of them. */
#include <sysnet/wire.h>

enum {
    IPV6_VTF = 0, IPV6_PLEN = 4, IPV6_NXT = 6, IPV6_HLIM = 7,
    IPV6_VERSION = 6, IPV6_FLOW_MAX = 0xfffff,
    /* RFC 8200 §4.2-4.6: next header, length in 8-byte units not counting the first 8 */
    EXT_NEXT = 0, EXT_LEN = 1, EXT_UNIT = 8, EXT_MAX = 256 * EXT_UNIT,
    RH_TYPE = 2, RH_SEGLEFT = 3, RH_DATA = 4,
    FH_LEN = 8, FH_OFFM = 2, FH_ID = 4, FH_OFF_MAX = 0x1fff, FH_M = 1, /* §4.5 */
    OPT_PAD1 = 0, OPT_PADN = 1, OPT_DATA = 2,                     /* §4.2 */
};

/* The fixed header's checks. The packet ends at 40 + payload_len; with
 * SN_WIRE_PARTIAL the buffer may end before that (a capture cut at snaplen). */
static int ipv6_check(const uint8_t *p, size_t len, unsigned flags)
{
    if (len < SN_IPV6_HLEN)
        return SN_WIRE_ETRUNC;
    if (p[IPV6_VTF] >> 4 != IPV6_VERSION) /* version(4) traffic class(8) flow(20) */
        return SN_WIRE_EBAD;
    uint16_t plen = sn_load_be16(p + IPV6_PLEN);
    /* RFC 2675 §2: length 0 with hop-by-hop options is a jumbogram. */
    if (plen == 0 && p[IPV6_NXT] == SN_IPPROTO_HOPOPTS)
        return SN_WIRE_EUNSUP;
    if (SN_IPV6_HLEN + (size_t)plen > len && !(flags & SN_WIRE_PARTIAL))
        return SN_WIRE_ETRUNC;
    return 0;
}

int sn_ipv6_parse(const uint8_t *p, size_t len, unsigned flags, struct sn_ipv6_repr *r)
{
    int rc = ipv6_check(p, len, flags);
    if (rc < 0)
        return rc;
    uint32_t vtf = sn_load_be32(p + IPV6_VTF);
    r->tclass = (uint8_t)(vtf >> 20);
    r->flow = vtf & IPV6_FLOW_MAX;
    r->payload_len = sn_load_be16(p + IPV6_PLEN); /* as declared, even when PARTIAL */
    r->next_header = p[IPV6_NXT];
    r->hop_limit = p[IPV6_HLIM];
    memcpy(r->src, p + SN_IPV6_SRC, 16);
    memcpy(r->dst, p + SN_IPV6_DST, 16);
    return SN_IPV6_HLEN;
}


int sn_ipv6_emit(const struct sn_ipv6_repr *r, uint8_t *p, size_t cap)
{
    if (r->flow > IPV6_FLOW_MAX)
        return -EINVAL;
    if (cap < SN_IPV6_HLEN)
        return -ENOSPC;
    sn_store_be32(p + IPV6_VTF, (uint32_t)IPV6_VERSION << 28 | (uint32_t)r->tclass << 20 | r->flow);
    sn_store_be16(p + IPV6_PLEN, r->payload_len);
    p[IPV6_NXT] = r->next_header;
    p[IPV6_HLIM] = r->hop_limit;
    memmove(p + SN_IPV6_SRC, r->src, 16);
    memmove(p + SN_IPV6_DST, r->dst, 16);
    return SN_IPV6_HLEN;
}

static int ipv6_is_ext(uint8_t nh)
{
    return nh == SN_IPPROTO_HOPOPTS || nh == SN_IPPROTO_ROUTING || nh == SN_IPPROTO_FRAGMENT ||
           nh == SN_IPPROTO_DSTOPTS;
}

/* The length of the extension header of this type at p[off], which must end by `end`. */
static int ipv6_ext_len(const uint8_t *p, size_t off, size_t end, uint8_t type)
{
    if (end - off < EXT_UNIT)
        return SN_WIRE_ETRUNC;
    size_t n = type == SN_IPPROTO_FRAGMENT ? FH_LEN : (p[off + EXT_LEN] + 1u) * EXT_UNIT;
    if (n > end - off)
        return SN_WIRE_ETRUNC;
    return (int)n;
}

/* Record a fragment header (RFC 8200 §4.5); 1 if it is not the first fragment:
 * then what follows is a piece of payload, not a header, and the walk stops. */
static int ipv6_frag_record(const uint8_t *h, struct sn_ipv6_chain *c)
{
    uint16_t offm = sn_load_be16(h + FH_OFFM);
    c->has_frag = 1;
    c->frag_off = offm >> 3;
    c->frag_more = offm & FH_M;
    c->frag_id = sn_load_be32(h + FH_ID);
    return c->frag_off != 0;
}

int sn_ipv6_walk(const uint8_t *p, size_t len, struct sn_ipv6_chain *c)
{
    struct sn_ipv6_repr ip;
    memset(c, 0, sizeof(*c));
    /* The chain must lie in the buffer and in the packet: it ends at the
     * smaller of len and 40 + payload_len (bytes past that are link padding). */
    int rc = sn_ipv6_parse(p, len, SN_WIRE_PARTIAL, &ip);
    if (rc < 0)
        return rc;
    size_t end = SN_MIN(len, SN_IPV6_HLEN + (size_t)ip.payload_len), off = SN_IPV6_HLEN;
    uint8_t nh = ip.next_header;
    while (ipv6_is_ext(nh)) {
        /* RFC 8200 §4.1: hop-by-hop may appear only right after the IPv6 header. */
        if ((nh == SN_IPPROTO_HOPOPTS && c->n) || c->n == SN_IPV6_MAX_EXT)
            return SN_WIRE_EBAD;
        if ((rc = ipv6_ext_len(p, off, end, nh)) < 0)
            return rc;
        struct sn_ipv6_ext *e = &c->ext[c->n++];
        *e = (struct sn_ipv6_ext){.type = nh, .next = p[off + EXT_NEXT], .off = (uint16_t)off,
                                  .len = (uint16_t)rc};
        nh = e->next;
        off += (size_t)rc;
        if (e->type == SN_IPPROTO_FRAGMENT && ipv6_frag_record(p + e->off, c))
            break;
    }
    c->upper = nh;
    c->upper_off = (uint16_t)off; /* at most 40 + 8 * 2048: fits */
    return (int)off;
}

/* RFC 8200 §4.2: Pad1 is one zero byte, PadN is type 1, length, zeros. */
static void ipv6_pad(uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    if (n == 1) {
        p[0] = OPT_PAD1;
        return;
    }
    p[0] = OPT_PADN;
    p[1] = (uint8_t)(n - OPT_DATA);
    memset(p + OPT_DATA, 0, n - OPT_DATA);
}

int sn_ipv6_opts_emit(uint8_t type, uint8_t next, const uint8_t *opts, size_t optlen, uint8_t *p,
                      size_t cap)
{
    if (type != SN_IPPROTO_HOPOPTS && type != SN_IPPROTO_DSTOPTS)
        return -EINVAL;
    if ((optlen && !opts) || optlen > EXT_MAX - OPT_DATA)
        return -EINVAL;
    size_t n = (OPT_DATA + optlen + EXT_UNIT - 1) & ~(size_t)(EXT_UNIT - 1);
    if (cap < n)
        return -ENOSPC;
    if (optlen)
        memmove(p + OPT_DATA, opts, optlen);
    p[EXT_NEXT] = next;
    p[EXT_LEN] = (uint8_t)(n / EXT_UNIT - 1);
    ipv6_pad(p + OPT_DATA + optlen, n - OPT_DATA - optlen);
    return (int)n;
}

int sn_ipv6_rh_emit(uint8_t next, uint8_t rtype, uint8_t segleft, const uint8_t *data, size_t dlen,
                    uint8_t *p, size_t cap)
{
    /* RFC 8200 §4.4: the whole header is a multiple of 8 bytes, 4 of them fixed. */
    if (dlen % EXT_UNIT != EXT_UNIT - RH_DATA || dlen > EXT_MAX - RH_DATA || !data)
        return -EINVAL;
    size_t n = RH_DATA + dlen;
    if (cap < n)
        return -ENOSPC;
    memmove(p + RH_DATA, data, dlen);
    p[EXT_NEXT] = next;
    p[EXT_LEN] = (uint8_t)(n / EXT_UNIT - 1);
    p[RH_TYPE] = rtype;
    p[RH_SEGLEFT] = segleft;
    return (int)n;
}

int sn_ipv6_frag_emit(uint8_t next, uint16_t off, int more, uint32_t id, uint8_t *p, size_t cap)
{
    if (off > FH_OFF_MAX)
        return -EINVAL;
    if (cap < FH_LEN)
        return -ENOSPC;
    p[EXT_NEXT] = next;
    p[EXT_LEN] = 0; /* reserved in the fragment header */
    sn_store_be16(p + FH_OFFM, (uint16_t)(off << 3 | (more ? FH_M : 0)));
    sn_store_be32(p + FH_ID, id);
    return FH_LEN;
}
