/* icmp6.c — ICMPv6 (RFC 4443): echo, the error messages, and neighbour
 * solicitation / advertisement (RFC 4861 §4.3, §4.4) with the Ethernet
 * link-layer address option (§4.6.1). The checksum always covers the IPv6
 * pseudo-header (RFC 4443 §2.3); parse checks it when given the addresses.
 *
 * Bytes 4-7: the MTU of "packet too big", the pointer of "parameter problem"
 * (both in repr.mtu), the NA flags, unused for the other errors and for NS;
 * for every other type (echo, RS, RA ...) the two 16-bit words id and seq. */
#include <sysnet/wire.h>

enum {
    ICMP6_TYPE = 0, ICMP6_CODE = 1, ICMP6_CSUM = 2, ICMP6_ID = 4, ICMP6_SEQ = 6,
    ICMP6_MTU = 4, ICMP6_UNUSED = 4,
    ICMP6_PARAMPROB = 4,
    ICMP6_MAX_LEN = 0xffff,
    ND_FLAGS = 4, ND_TARGET = 8, ND_HLEN = 24,
    ND_NA_FLAGS_MASK = 0xe0,              /* router, solicited, override */
    ND_OPT_TYPE = 0, ND_OPT_LEN = 1, ND_OPT_DATA = 2,
    ND_OPT_HLEN = 2, ND_OPT_UNIT = 8,     /* the length counts units of 8 octets */
    ND_LLADDR_LEN = 8,                    /* type, length, 6-byte Ethernet address */
};

static int is_nd(uint8_t type)
{
    return type == SN_ICMP6_NS || type == SN_ICMP6_NA;
}

/* RFC 4861 §4.3/§4.4: NS carries the source's address, NA the target's. */
static uint8_t nd_lladdr_type(uint8_t type)
{
    return type == SN_ICMP6_NS ? SN_ND_OPT_SLLA : SN_ND_OPT_TLLA;
}

static int ip6_check(const struct sn_ipaddrs *ip)
{
    return (ip->family == 6 && ip->src && ip->dst) ? 0 : -EINVAL;
}

/* RFC 4443 §2.3: the sum over the pseudo-header (next header 58) and the message. */
static uint16_t icmp6_sum(const struct sn_ipaddrs *ip, const uint8_t *p, size_t len)
{
    uint32_t s = sn_csum_pseudo6(ip->src, ip->dst, SN_IPPROTO_ICMPV6, (uint32_t)len);
    return sn_csum_fold(sn_csum_add(s, p, len));
}

/* Walk the ND options (RFC 4861 §4.6): type, length in 8-octet units, value.
 * A length of 0 is invalid (§4.6: "Nodes MUST silently discard an ND packet that
 * contains an option with length zero"); an option running past the end is
 * truncated. The first link-layer address option of the message's kind with an
 * Ethernet length (one unit) fills lladdr; others (other link types) are skipped. */
static int nd_opts(const uint8_t *o, size_t len, uint8_t want, struct sn_icmp6_repr *t)
{
    size_t off = 0;
    while (off < len) {
        if (len - off < ND_OPT_HLEN)
            return SN_WIRE_ETRUNC;
        size_t olen = (size_t)o[off + ND_OPT_LEN] * ND_OPT_UNIT;
        if (olen == 0)
            return SN_WIRE_EBAD;
        if (olen > len - off)
            return SN_WIRE_ETRUNC;
        if (o[off + ND_OPT_TYPE] == want && olen == ND_LLADDR_LEN && !t->has_lladdr) {
            t->has_lladdr = 1;
            memcpy(t->lladdr, o + off + ND_OPT_DATA, 6);
        }
        off += olen;
    }
    return 0;
}

static void icmp6_rest_parse(const uint8_t *p, struct sn_icmp6_repr *t)
{
    switch (t->type) {
    case SN_ICMP6_UNREACH:  /* RFC 4443 §3.1: unused */
    case SN_ICMP6_TIMXCEED: /* RFC 4443 §3.3: unused */
    case SN_ICMP6_NS:       /* RFC 4861 §4.3: reserved */
        break;
    case SN_ICMP6_TOOBIG:   /* RFC 4443 §3.2: MTU */
    case ICMP6_PARAMPROB:   /* RFC 4443 §3.4: pointer */
        t->mtu = sn_load_be32(p + ICMP6_MTU);
        break;
    case SN_ICMP6_NA:       /* RFC 4861 §4.4: R, S, O then 29 reserved bits */
        t->na_flags = p[ND_FLAGS] & ND_NA_FLAGS_MASK;
        break;
    default:                /* RFC 4443 §4.1, §4.2: identifier, sequence number */
        t->id = sn_load_be16(p + ICMP6_ID);
        t->seq = sn_load_be16(p + ICMP6_SEQ);
        break;
    }
}

int sn_icmp6_parse(const uint8_t *p, size_t len, const struct sn_ipaddrs *ip,
                   struct sn_icmp6_repr *r)
{
    if (ip && ip6_check(ip) < 0)
        return -EINVAL;
    if (len < SN_ICMP6_HLEN)
        return SN_WIRE_ETRUNC;
    uint8_t type = p[ICMP6_TYPE];
    size_t hlen = is_nd(type) ? ND_HLEN : SN_ICMP6_HLEN;
    /* RFC 4861 §7.1.1, §7.1.2: "ICMP length (derived from the IP length) is 24
     * or more octets" — a shorter NS/NA is invalid, not merely cut short. */
    if (len < hlen)
        return SN_WIRE_EBAD;
    struct sn_icmp6_repr t = {
        .type = type,
        .code = p[ICMP6_CODE],
        .checksum = sn_load_be16(p + ICMP6_CSUM),
        .data = p + hlen,
        .data_len = len - hlen,
    };
    icmp6_rest_parse(p, &t);
    if (is_nd(type)) {
        memcpy(t.target, p + ND_TARGET, 16);
        int rc = nd_opts(p + ND_HLEN, len - ND_HLEN, nd_lladdr_type(type), &t);
        if (rc < 0)
            return rc;
    }
    *r = t;
    if (ip && icmp6_sum(ip, p, len) != 0)
        return SN_WIRE_ECSUM;
    return (int)hlen;
}

static void icmp6_rest_emit(const struct sn_icmp6_repr *r, uint8_t *p)
{
    switch (r->type) {
    case SN_ICMP6_UNREACH:
    case SN_ICMP6_TIMXCEED:
    case SN_ICMP6_NS:
        sn_store_be32(p + ICMP6_UNUSED, 0);
        break;
    case SN_ICMP6_TOOBIG:
    case ICMP6_PARAMPROB:
        sn_store_be32(p + ICMP6_MTU, r->mtu);
        break;
    case SN_ICMP6_NA:
        sn_store_be32(p + ICMP6_UNUSED, 0);
        p[ND_FLAGS] = r->na_flags & ND_NA_FLAGS_MASK;
        break;
    default:
        sn_store_be16(p + ICMP6_ID, r->id);
        sn_store_be16(p + ICMP6_SEQ, r->seq);
        break;
    }
}

int sn_icmp6_emit(const struct sn_icmp6_repr *r, const struct sn_ipaddrs *ip, uint8_t *p, size_t cap)
{
    if ((ip && ip6_check(ip) < 0) || (r->data_len && !r->data))
        return -EINVAL;
    int nd = is_nd(r->type);
    size_t hlen = nd ? ND_HLEN + (r->has_lladdr ? ND_LLADDR_LEN : 0) : SN_ICMP6_HLEN;
    if (r->data_len > ICMP6_MAX_LEN - hlen)
        return -EMSGSIZE;
    size_t n = hlen + r->data_len;
    if (cap < n)
        return -ENOSPC;
    /* memmove first: the data may already sit in p (a reply built in place). */
    if (r->data_len)
        memmove(p + hlen, r->data, r->data_len);
    p[ICMP6_TYPE] = r->type;
    p[ICMP6_CODE] = r->code;
    icmp6_rest_emit(r, p);
    if (nd) {
        memcpy(p + ND_TARGET, r->target, 16);
        if (r->has_lladdr) {
            uint8_t *o = p + ND_HLEN;
            o[ND_OPT_TYPE] = nd_lladdr_type(r->type);
            o[ND_OPT_LEN] = ND_LLADDR_LEN / ND_OPT_UNIT;
            memcpy(o + ND_OPT_DATA, r->lladdr, 6);
        }
    }
    sn_store_be16(p + ICMP6_CSUM, 0);
    if (ip)
        sn_store_be16(p + ICMP6_CSUM, icmp6_sum(ip, p, n));
    return (int)n;
}
