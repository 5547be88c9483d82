/* tcp.c — the TCP header (RFC 9293 §3.1) and the options a stack uses: MSS
 * (RFC 9293 §3.2), window scale and timestamps (RFC 7323), SACK-permitted and
 * SACK blocks (RFC 2018). Parse validates the option list with sn_opt_next();
 * emit writes the options in the order and alignment Linux uses, so segments
 * we build look byte for byte like the kernel's. */
#include <sysnet/wire.h>

enum {
    TCP_SPORT = 0, TCP_DPORT = 2, TCP_SEQ = 4, TCP_ACK = 8, TCP_DOFF = 12, TCP_FLAGS = 12,
    TCP_WIN = 14, TCP_CSUM = 16, TCP_URP = 18,
    TCP_MAX_OPTS = SN_TCP_MAX_HLEN - SN_TCP_HLEN,
    TCP_FLAGS_MASK = 0x0fff,   /* low 12 bits of bytes 12-13: 3 reserved, AE, CWR ... FIN */
    TCP_MAX_SEG = 0xffff,      /* the pseudo-header length of IPv4, the payload length of IPv6 */
    TCP_MAX_WSCALE = 14,       /* RFC 7323 §2.3 */
    /* Whole option lengths, kind and length octets included. */
    TCPOLEN_MSS = 4, TCPOLEN_WSCALE = 3, TCPOLEN_SACK_PERM = 2, TCPOLEN_TIMESTAMP = 10,
    TCPOLEN_SACK_BASE = 2, TCPOLEN_SACK_BLOCK = 8,
    /* Bytes emit uses per option, each padded with NOPs to a 32-bit word. */
    TCPOLEN_MSS_ALIGNED = 4, TCPOLEN_TS_ALIGNED = 12, TCPOLEN_SACK_PERM_ALIGNED = 4,
    TCPOLEN_WSCALE_ALIGNED = 4, TCPOLEN_SACK_BASE_ALIGNED = 4,
};

static int ip_check(const struct sn_ipaddrs *ip)
{
    return ((ip->family == 4 || ip->family == 6) && ip->src && ip->dst) ? 0 : -EINVAL;
}

/* RFC 9293 §3.1 "Checksum": the pseudo-header (with the TCP length) and the
 * whole segment. len <= 0xffff. */
static uint16_t tcp_sum(const struct sn_ipaddrs *ip, const uint8_t *p, size_t len)
{
    uint32_t s = ip->family == 4 ? sn_csum_pseudo4(ip->src, ip->dst, SN_IPPROTO_TCP, (uint16_t)len)
                                 : sn_csum_pseudo6(ip->src, ip->dst, SN_IPPROTO_TCP, (uint32_t)len);
    return sn_csum_fold(sn_csum_add(s, p, len));
}

/* One option into the repr. A known kind with the wrong length is malformed
 * (RFC 9293 §3.1, MUST-7: be prepared for an illegal option length); an unknown
 * kind is skipped by its length (MUST-6: "ignore without error any TCP Option it
 * does not implement"). A repeated option overwrites the earlier one. */
static int tcp_opt(const struct sn_opt *o, struct sn_tcp_repr *t)
{
    switch (o->kind) {
    case SN_TCPOPT_MSS: /* RFC 9293 §3.2: kind 2, length 4, 16-bit MSS */
        if (o->len != TCPOLEN_MSS)
            return SN_WIRE_EBAD;
        t->has_mss = 1;
        t->mss = sn_load_be16(o->data);
        return 0;
    case SN_TCPOPT_WSCALE: /* RFC 7323 §2.2: kind 3, length 3, shift.cnt */
        if (o->len != TCPOLEN_WSCALE)
            return SN_WIRE_EBAD;
        /* Kept as sent; a receiver uses at most 14 (RFC 7323 §2.3). */
        t->has_wscale = 1;
        t->wscale = o->data[0];
        return 0;
    case SN_TCPOPT_SACK_PERM: /* RFC 2018 §2: kind 4, length 2 */
        if (o->len != TCPOLEN_SACK_PERM)
            return SN_WIRE_EBAD;
        t->sack_perm = 1;
        return 0;
    case SN_TCPOPT_SACK: { /* RFC 2018 §3: kind 5, length 8n + 2, n >= 1 */
        size_t body = (size_t)o->len - TCPOLEN_SACK_BASE;
        size_t n = body / TCPOLEN_SACK_BLOCK;
        if (n == 0 || n > SN_TCP_MAX_SACK || body % TCPOLEN_SACK_BLOCK)
            return SN_WIRE_EBAD;
        t->nsack = (uint8_t)n;
        for (size_t i = 0; i < n; i++) {
            t->sack[i][0] = sn_load_be32(o->data + i * TCPOLEN_SACK_BLOCK);
            t->sack[i][1] = sn_load_be32(o->data + i * TCPOLEN_SACK_BLOCK + 4);
        }
        return 0;
    }
    case SN_TCPOPT_TIMESTAMP: /* RFC 7323 §3.2: kind 8, length 10, TSval, TSecr */
        if (o->len != TCPOLEN_TIMESTAMP)
            return SN_WIRE_EBAD;
        t->has_ts = 1;
        t->ts_val = sn_load_be32(o->data);
        t->ts_ecr = sn_load_be32(o->data + 4);
        return 0;
    default: /* NOP and options we do not interpret */
        return 0;
    }
}

static int tcp_opts_parse(const uint8_t *opts, size_t len, struct sn_tcp_repr *t)
{
    size_t off = 0;
    struct sn_opt o;
    int rc;
    while ((rc = sn_opt_next(opts, len, &off, &o)) > 0) {
        if ((rc = tcp_opt(&o, t)) < 0)
            return rc;
    }
    return rc;
}

int sn_tcp_parse(const uint8_t *p, size_t len, const struct sn_ipaddrs *ip, struct sn_tcp_repr *r)
{
    if (ip && (ip_check(ip) < 0 || len > TCP_MAX_SEG))
        return -EINVAL;
    if (len < SN_TCP_HLEN)
        return SN_WIRE_ETRUNC;
    size_t hlen = (size_t)(p[TCP_DOFF] >> 4) * 4; /* data offset counts 32-bit words */
    if (hlen < SN_TCP_HLEN)
        return SN_WIRE_EBAD;
    if (hlen > len)
        return SN_WIRE_ETRUNC;
    struct sn_tcp_repr t = {
        .sport = sn_load_be16(p + TCP_SPORT),
        .dport = sn_load_be16(p + TCP_DPORT),
        .seq = sn_load_be32(p + TCP_SEQ),
        .ack = sn_load_be32(p + TCP_ACK),
        .hdr_len = (uint8_t)hlen,
        .flags = sn_load_be16(p + TCP_FLAGS) & TCP_FLAGS_MASK,
        .window = sn_load_be16(p + TCP_WIN),
        .checksum = sn_load_be16(p + TCP_CSUM),
        .urgent = sn_load_be16(p + TCP_URP),
        .opts = hlen > SN_TCP_HLEN ? p + SN_TCP_HLEN : NULL,
        .opts_len = (uint8_t)(hlen - SN_TCP_HLEN),
        .payload = p + hlen,
        .payload_len = len - hlen,
    };
    int rc = tcp_opts_parse(p + SN_TCP_HLEN, hlen - SN_TCP_HLEN, &t);
    if (rc < 0)
        return rc;
    *r = t;
    if (ip && tcp_sum(ip, p, len) != 0)
        return SN_WIRE_ECSUM;
    return (int)hlen;
}

/* The option bytes emit writes; every piece is a whole 32-bit word, so the list
 * needs no trailing padding (RFC 9293 §3.1 "Padding"). */
static size_t tcp_opts_len(const struct sn_tcp_repr *r)
{
    size_t n = 0;
    if (r->has_mss)
        n += TCPOLEN_MSS_ALIGNED;
    if (r->has_ts)
        n += TCPOLEN_TS_ALIGNED; /* SACK-permitted, if set, rides in its two leading bytes */
    else if (r->sack_perm)
        n += TCPOLEN_SACK_PERM_ALIGNED;
    if (r->has_wscale)
        n += TCPOLEN_WSCALE_ALIGNED;
    if (r->nsack)
        n += TCPOLEN_SACK_BASE_ALIGNED + (size_t)r->nsack * TCPOLEN_SACK_BLOCK;
    return n;
}

static uint32_t opt_word(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    return (uint32_t)a << 24 | (uint32_t)b << 16 | (uint32_t)c << 8 | d;
}

/* Linux's tcp_options_write() layout:
 *   MSS:            02 04 mss
 *   TS + SACK_PERM: 04 02 08 0a tsval tsecr     TS alone: 01 01 08 0a tsval tsecr
 *   SACK_PERM only: 01 01 04 02
 *   WS:             01 03 03 shift
 *   SACK blocks:    01 01 05 len (left right)... */
static void tcp_opts_write(const struct sn_tcp_repr *r, uint8_t *q)
{
    const uint8_t nop = SN_TCPOPT_NOP;
    if (r->has_mss) {
        sn_store_be32(q, opt_word(SN_TCPOPT_MSS, TCPOLEN_MSS, 0, 0) | r->mss);
        q += TCPOLEN_MSS_ALIGNED;
    }
    if (r->has_ts) {
        uint32_t w = r->sack_perm ? opt_word(SN_TCPOPT_SACK_PERM, TCPOLEN_SACK_PERM, 0, 0)
                                  : opt_word(nop, nop, 0, 0);
        sn_store_be32(q, w | opt_word(0, 0, SN_TCPOPT_TIMESTAMP, TCPOLEN_TIMESTAMP));
        sn_store_be32(q + 4, r->ts_val);
        sn_store_be32(q + 8, r->ts_ecr);
        q += TCPOLEN_TS_ALIGNED;
    } else if (r->sack_perm) {
        sn_store_be32(q, opt_word(nop, nop, SN_TCPOPT_SACK_PERM, TCPOLEN_SACK_PERM));
        q += TCPOLEN_SACK_PERM_ALIGNED;
    }
    if (r->has_wscale) {
        sn_store_be32(q, opt_word(nop, SN_TCPOPT_WSCALE, TCPOLEN_WSCALE, r->wscale));
        q += TCPOLEN_WSCALE_ALIGNED;
    }
    if (r->nsack) {
        uint8_t olen = (uint8_t)(TCPOLEN_SACK_BASE + r->nsack * TCPOLEN_SACK_BLOCK);
        sn_store_be32(q, opt_word(nop, nop, SN_TCPOPT_SACK, olen));
        q += TCPOLEN_SACK_BASE_ALIGNED;
        for (size_t i = 0; i < r->nsack; i++, q += TCPOLEN_SACK_BLOCK) {
            sn_store_be32(q, r->sack[i][0]);
            sn_store_be32(q + 4, r->sack[i][1]);
        }
    }
}

static int tcp_emit_check(const struct sn_tcp_repr *r, const struct sn_ipaddrs *ip)
{
    if (ip && ip_check(ip) < 0)
        return -EINVAL;
    if (r->flags & ~TCP_FLAGS_MASK || r->nsack > SN_TCP_MAX_SACK)
        return -EINVAL;
    if (r->has_wscale && r->wscale > TCP_MAX_WSCALE)
        return -EINVAL;
    if (r->payload_len && !r->payload)
        return -EINVAL;
    /* RFC 9293 §3.1: the data offset is 4 bits, so at most 40 bytes of options. */
    if (tcp_opts_len(r) > TCP_MAX_OPTS)
        return -EINVAL;
    return 0;
}

int sn_tcp_emit(const struct sn_tcp_repr *r, const struct sn_ipaddrs *ip, uint8_t *p, size_t cap)
{
    int rc = tcp_emit_check(r, ip);
    if (rc < 0)
        return rc;
    size_t hlen = SN_TCP_HLEN + tcp_opts_len(r);
    if (r->payload_len > TCP_MAX_SEG - hlen)
        return -EMSGSIZE;
    size_t n = hlen + r->payload_len;
    if (cap < n)
        return -ENOSPC;
    /* memmove first: the payload may already sit in p. */
    if (r->payload_len)
        memmove(p + hlen, r->payload, r->payload_len);
    sn_store_be16(p + TCP_SPORT, r->sport);
    sn_store_be16(p + TCP_DPORT, r->dport);
    sn_store_be32(p + TCP_SEQ, r->seq);
    sn_store_be32(p + TCP_ACK, r->ack);
    sn_store_be16(p + TCP_FLAGS, (uint16_t)(hlen / 4 << 12 | r->flags));
    sn_store_be16(p + TCP_WIN, r->window);
    sn_store_be16(p + TCP_CSUM, 0);
    sn_store_be16(p + TCP_URP, r->urgent);
    tcp_opts_write(r, p + SN_TCP_HLEN);
    if (ip)
        sn_store_be16(p + TCP_CSUM, tcp_sum(ip, p, n));
    return (int)n;
}
