/* ipv4.c — the IPv4 header (RFC 791 §3.1): parse with options and an optional
 * header-checksum check, emit with options padded to 32 bits; and the
 * kind/length option walker that TCP (RFC 9293 §3.1) shares with IPv4. */
#include <sysnet/wire.h>

enum {
    IPV4_VERSION = 4,
    IPV4_FLAG_RF = 0x8000, IPV4_FLAG_DF = 0x4000, IPV4_FLAG_MF = 0x2000,
    IPV4_FRAG_MASK = 0x1fff,
    IPV4_MAX_OPTS = SN_IPV4_MAX_HLEN - SN_IPV4_HLEN,
    IPV4_MAX_TOTAL = 0xffff,
    OPT_EOL = 0, OPT_NOP = 1,
    OPT_KIND = 0, OPT_LEN = 1, OPT_DATA = 2,
};

int sn_opt_next(const uint8_t *opts, size_t len, size_t *off, struct sn_opt *o)
{
    size_t i = *off;
    /* RFC 791 §3.1: End of Option List ends the list; what follows is padding. */
    if (i >= len || opts[i] == OPT_EOL)
        return 0;
    if (opts[i] == OPT_NOP) {
        *o = (struct sn_opt){.kind = OPT_NOP, .len = 1, .data = NULL};
        *off = i + 1;
        return 1;
    }
    /* "Case 2": kind, length (counting kind and length octets), value. */
    const uint8_t *q = opts + i;
    if (len - i < OPT_DATA || q[OPT_LEN] < OPT_DATA || q[OPT_LEN] > len - i)
        return SN_WIRE_EBAD;
    *o = (struct sn_opt){.kind = q[OPT_KIND], .len = q[OPT_LEN], .data = q + OPT_DATA};
    *off = i + q[OPT_LEN];
    return 1;
}

static int ipv4_opts_check(const uint8_t *opts, size_t len)
{
    size_t off = 0;
    struct sn_opt o;
    int rc;
    while ((rc = sn_opt_next(opts, len, &off, &o)) > 0)
        ;
    return rc;
}

/* Every structural check, before anything is written to the repr. With
 * SN_WIRE_PARTIAL the buffer may end before total_len, never inside the header. */
static int ipv4_check(const uint8_t *p, size_t len, unsigned flags)
{
    if (len < SN_IPV4_HLEN)
        return SN_WIRE_ETRUNC;
    if (p[SN_IPV4_VER_IHL] >> 4 != IPV4_VERSION)
        return SN_WIRE_EBAD;
    size_t hlen = (p[SN_IPV4_VER_IHL] & 0xfu) * 4u; /* IHL counts 32-bit words, at least 5 */
    if (hlen < SN_IPV4_HLEN)
        return SN_WIRE_EBAD;
    if (hlen > len)
        return SN_WIRE_ETRUNC;
    size_t tlen = sn_load_be16(p + SN_IPV4_LEN);
    if (tlen < hlen)
        return SN_WIRE_EBAD;
    if (tlen > len && !(flags & SN_WIRE_PARTIAL))
        return SN_WIRE_ETRUNC;
    return ipv4_opts_check(p + SN_IPV4_HLEN, hlen - SN_IPV4_HLEN);
}

static void ipv4_fill(const uint8_t *p, struct sn_ipv4_repr *r)
{
    uint8_t hlen = (uint8_t)((p[SN_IPV4_VER_IHL] & 0xfu) * 4u);
    uint16_t frag = sn_load_be16(p + SN_IPV4_FRAG);
    r->hdr_len = hlen;
    r->tos = p[SN_IPV4_TOS];
    r->total_len = sn_load_be16(p + SN_IPV4_LEN);
    r->payload_len = (uint16_t)(r->total_len - hlen);
    r->id = sn_load_be16(p + SN_IPV4_ID);
    r->rf = !!(frag & IPV4_FLAG_RF);
    r->df = !!(frag & IPV4_FLAG_DF);
    r->mf = !!(frag & IPV4_FLAG_MF);
    r->frag_off = frag & IPV4_FRAG_MASK;
    r->ttl = p[SN_IPV4_TTL];
    r->proto = p[SN_IPV4_PROTO];
    r->checksum = sn_load_be16(p + SN_IPV4_CSUM);
    memcpy(r->src, p + SN_IPV4_SRC, 4);
    memcpy(r->dst, p + SN_IPV4_DST, 4);
    r->opts_len = (uint8_t)(hlen - SN_IPV4_HLEN);
    r->opts = r->opts_len ? p + SN_IPV4_HLEN : NULL;
}

int sn_ipv4_parse(const uint8_t *p, size_t len, unsigned flags, struct sn_ipv4_repr *r)
{
    int rc = ipv4_check(p, len, flags);
    if (rc < 0)
        return rc;
    ipv4_fill(p, r); /* total_len and payload_len as declared, even when PARTIAL */
    /* RFC 791 §3.1 "Header Checksum": the header, options included, sums to zero.
     * It covers only the header, which is whole even with SN_WIRE_PARTIAL. */
    if ((flags & SN_WIRE_CSUM) && sn_csum(p, r->hdr_len) != 0)
        return SN_WIRE_ECSUM;
    return r->hdr_len;
}

static int ipv4_emit_check(const struct sn_ipv4_repr *r, size_t hlen)
{
    if (r->opts_len > IPV4_MAX_OPTS || (r->opts_len && !r->opts))
        return -EINVAL;
    if (r->frag_off > IPV4_FRAG_MASK || hlen + r->payload_len > IPV4_MAX_TOTAL)
        return -EINVAL;
    return 0;
}

int sn_ipv4_emit(const struct sn_ipv4_repr *r, uint8_t *p, size_t cap)
{
    /* Options are padded with EOL (zero) to a 32-bit boundary (RFC 791 §3.1 "Padding"). */
    size_t hlen = SN_IPV4_HLEN + (((size_t)r->opts_len + 3u) & ~(size_t)3u);
    int rc = ipv4_emit_check(r, hlen);
    if (rc < 0)
        return rc;
    if (cap < hlen)
        return -ENOSPC;
    if (r->opts_len)
        memmove(p + SN_IPV4_HLEN, r->opts, r->opts_len);
    memset(p + SN_IPV4_HLEN + r->opts_len, OPT_EOL, hlen - SN_IPV4_HLEN - r->opts_len);
    uint16_t frag = (uint16_t)((r->rf ? IPV4_FLAG_RF : 0) | (r->df ? IPV4_FLAG_DF : 0) |
                               (r->mf ? IPV4_FLAG_MF : 0) | r->frag_off);
    p[SN_IPV4_VER_IHL] = (uint8_t)(IPV4_VERSION << 4 | hlen / 4);
    p[SN_IPV4_TOS] = r->tos;
    sn_store_be16(p + SN_IPV4_LEN, (uint16_t)(hlen + r->payload_len));
    sn_store_be16(p + SN_IPV4_ID, r->id);
    sn_store_be16(p + SN_IPV4_FRAG, frag);
    p[SN_IPV4_TTL] = r->ttl;
    p[SN_IPV4_PROTO] = r->proto;
    memmove(p + SN_IPV4_SRC, r->src, 4);
    memmove(p + SN_IPV4_DST, r->dst, 4);
    sn_store_be16(p + SN_IPV4_CSUM, 0);
    sn_store_be16(p + SN_IPV4_CSUM, sn_csum(p, hlen));
    return (int)hlen;
}
