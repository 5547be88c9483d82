/* icmp.c — ICMPv4 (RFC 792): the 8-byte header and the data after it. Parse
 * with an optional checksum check, emit with the checksum filled in. The
 * checksum covers the ICMP message alone: ICMPv4 has no pseudo-header.
 *
 * Bytes 4-7 ("rest of header") are the echo identifier and sequence for every
 * type except the errors 3 and 11, where they are unused (zero) or carry the
 * next-hop MTU of "fragmentation needed" (RFC 1191 §4). */
#include <sysnet/wire.h>

enum {
    ICMP4_TYPE = 0, ICMP4_CODE = 1, ICMP4_CSUM = 2, ICMP4_ID = 4, ICMP4_SEQ = 6,
    ICMP4_UNUSED = 4, ICMP4_MTU = 6,
    ICMP4_CODE_FRAG_NEEDED = 4,
    ICMP4_MAX_LEN = 0xffff,
};

/* RFC 792: destination unreachable and time exceeded leave bytes 4-7 unused. */
static int icmp4_is_error(uint8_t type)
{
    return type == SN_ICMP_UNREACH || type == SN_ICMP_TIMXCEED;
}

/* RFC 1191 §4: type 3 code 4 puts the next-hop MTU in the low-order 16 bits. */
static int icmp4_has_mtu(uint8_t type, uint8_t code)
{
    return type == SN_ICMP_UNREACH && code == ICMP4_CODE_FRAG_NEEDED;
}

int sn_icmp4_parse(const uint8_t *p, size_t len, unsigned flags, struct sn_icmp4_repr *r)
{
    if (len < SN_ICMP4_HLEN)
        return SN_WIRE_ETRUNC;
    uint8_t type = p[ICMP4_TYPE], code = p[ICMP4_CODE];
    struct sn_icmp4_repr t = {
        .type = type,
        .code = code,
        .checksum = sn_load_be16(p + ICMP4_CSUM),
        .data = p + SN_ICMP4_HLEN,
        .data_len = len - SN_ICMP4_HLEN,
    };
    if (!icmp4_is_error(type)) {
        t.id = sn_load_be16(p + ICMP4_ID);
        t.seq = sn_load_be16(p + ICMP4_SEQ);
    } else if (icmp4_has_mtu(type, code)) {
        t.mtu = sn_load_be16(p + ICMP4_MTU);
    }
    *r = t;
    /* RFC 792 "Checksum": the one's complement sum of the whole ICMP message. */
    if ((flags & SN_WIRE_CSUM) && sn_csum(p, len) != 0)
        return SN_WIRE_ECSUM;
    return SN_ICMP4_HLEN;
}

int sn_icmp4_emit(const struct sn_icmp4_repr *r, uint8_t *p, size_t cap)
{
    if (r->data_len && !r->data)
        return -EINVAL;
    if (r->data_len > ICMP4_MAX_LEN - SN_ICMP4_HLEN)
        return -EMSGSIZE;
    size_t n = SN_ICMP4_HLEN + r->data_len;
    if (cap < n)
        return -ENOSPC;
    /* memmove: an echo reply is often built in place over the request's data. */
    if (r->data_len)
        memmove(p + SN_ICMP4_HLEN, r->data, r->data_len);
    p[ICMP4_TYPE] = r->type;
    p[ICMP4_CODE] = r->code;
    if (icmp4_is_error(r->type)) {
        sn_store_be16(p + ICMP4_UNUSED, 0);
        sn_store_be16(p + ICMP4_MTU, icmp4_has_mtu(r->type, r->code) ? r->mtu : 0);
    } else {
        sn_store_be16(p + ICMP4_ID, r->id);
        sn_store_be16(p + ICMP4_SEQ, r->seq);
    }
    sn_store_be16(p + ICMP4_CSUM, 0);
    sn_store_be16(p + ICMP4_CSUM, sn_csum(p, n));
    return (int)n;
}
