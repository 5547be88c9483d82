/* udp.c — UDP (RFC 768): the 8-byte header, its length field and the checksum
 * over the IPv4 or IPv6 pseudo-header. A zero checksum means "none" over IPv4
 * (RFC 768) and is invalid over IPv6 (RFC 8200 §8.1); a computed zero is sent
 * as 0xffff so that it is not mistaken for "none". */
#include <sysnet/wire.h>

enum {
    UDP_SPORT = 0, UDP_DPORT = 2, UDP_LEN = 4, UDP_CSUM = 6,
    UDP_MAX_LEN = 0xffff,
    UDP_CSUM_NONE = 0, UDP_CSUM_ZERO = 0xffff,
};

static int ip_check(const struct sn_ipaddrs *ip)
{
    return ((ip->family == 4 || ip->family == 6) && ip->src && ip->dst) ? 0 : -EINVAL;
}

/* RFC 768 "Checksum" (IPv4) and RFC 8200 §8.1 (IPv6): the pseudo-header carries
 * the UDP length; the sum covers it, the header and the data. len <= 0xffff. */
static uint16_t udp_sum(const struct sn_ipaddrs *ip, const uint8_t *p, size_t len)
{
    uint32_t s = ip->family == 4 ? sn_csum_pseudo4(ip->src, ip->dst, SN_IPPROTO_UDP, (uint16_t)len)
                                 : sn_csum_pseudo6(ip->src, ip->dst, SN_IPPROTO_UDP, (uint32_t)len);
    return sn_csum_fold(sn_csum_add(s, p, len));
}

int sn_udp_parse(const uint8_t *p, size_t len, unsigned flags, const struct sn_ipaddrs *ip,
                 struct sn_udp_repr *r)
{
    if (ip && ip_check(ip) < 0)
        return -EINVAL;
    if (len < SN_UDP_HLEN)
        return SN_WIRE_ETRUNC;
    size_t ulen = sn_load_be16(p + UDP_LEN);
    /* RFC 768: "the minimum value of the length is eight". */
    if (ulen < SN_UDP_HLEN)
        return SN_WIRE_EBAD;
    if (ulen > len && !(flags & SN_WIRE_PARTIAL))
        return SN_WIRE_ETRUNC;
    /* Bytes past the UDP length (padding) are not part of the datagram; a capture
     * cut short (SN_WIRE_PARTIAL) keeps what it has. */
    size_t have = SN_MIN(ulen, len);
    *r = (struct sn_udp_repr){
        .sport = sn_load_be16(p + UDP_SPORT),
        .dport = sn_load_be16(p + UDP_DPORT),
        .length = (uint16_t)ulen,
        .checksum = sn_load_be16(p + UDP_CSUM),
        .payload = p + SN_UDP_HLEN,
        .payload_len = have - SN_UDP_HLEN,
    };
    if (!ip || have < ulen) /* the checksum covers bytes we do not have */
        return SN_UDP_HLEN;
    if (r->checksum == UDP_CSUM_NONE)
        return ip->family == 4 ? SN_UDP_HLEN : SN_WIRE_ECSUM;
    if (udp_sum(ip, p, ulen) != 0)
        return SN_WIRE_ECSUM;
    return SN_UDP_HLEN;
}

int sn_udp_emit(const struct sn_udp_repr *r, const struct sn_ipaddrs *ip, uint8_t *p, size_t cap)
{
    if ((ip && ip_check(ip) < 0) || (r->payload_len && !r->payload))
        return -EINVAL;
    if (r->payload_len > UDP_MAX_LEN - SN_UDP_HLEN)
        return -EMSGSIZE;
    size_t n = SN_UDP_HLEN + r->payload_len;
    if (cap < n)
        return -ENOSPC;
    if (r->payload_len)
        memmove(p + SN_UDP_HLEN, r->payload, r->payload_len);
    sn_store_be16(p + UDP_SPORT, r->sport);
    sn_store_be16(p + UDP_DPORT, r->dport);
    sn_store_be16(p + UDP_LEN, (uint16_t)n);
    sn_store_be16(p + UDP_CSUM, UDP_CSUM_NONE);
    if (ip) {
        uint16_t c = udp_sum(ip, p, n);
        /* RFC 768: "If the computed checksum is zero, it is transmitted as all ones". */
        sn_store_be16(p + UDP_CSUM, c == 0 ? UDP_CSUM_ZERO : c);
    }
    return (int)n;
}
