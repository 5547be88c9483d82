/* arp.c — the Address Resolution Protocol (RFC 826) for the one pairing that
 * matters: Ethernet hardware addresses (6 bytes) and IPv4 addresses (4 bytes).
 * Other hardware or protocol sizes are reported as unsupported, not malformed. */
#include <sysnet/wire.h>

/* RFC 826 "Packet format": ar$hrd, ar$pro, ar$hln, ar$pln, ar$op, then
 * ar$sha, ar$spa, ar$tha, ar$tpa, whose sizes come from ar$hln and ar$pln. */
enum {
    ARP_HTYPE = 0, ARP_PTYPE = 2, ARP_HLEN = 4, ARP_PLEN = 5, ARP_OP = 6,
    ARP_SHA = 8, ARP_SPA = 14, ARP_THA = 18, ARP_TPA = 24,
    ARP_FIXED = 8, /* the part before the addresses */
    ARP_HRD_ETHER = 1, ARP_ETH_ALEN = 6, ARP_IPV4_ALEN = 4,
};

int sn_arp_parse(const uint8_t *p, size_t len, struct sn_arp_repr *r)
{
    /* Sizes first: a well-formed ARP over another link can be shorter than 28. */
    if (len < ARP_FIXED)
        return SN_WIRE_ETRUNC;
    if (sn_load_be16(p + ARP_HTYPE) != ARP_HRD_ETHER || sn_load_be16(p + ARP_PTYPE) != SN_ETHERTYPE_IPV4 ||
        p[ARP_HLEN] != ARP_ETH_ALEN || p[ARP_PLEN] != ARP_IPV4_ALEN)
        return SN_WIRE_EUNSUP;
    if (len < SN_ARP_LEN)
        return SN_WIRE_ETRUNC;
    r->op = sn_load_be16(p + ARP_OP);
    memcpy(r->sha, p + ARP_SHA, 6);
    memcpy(r->spa, p + ARP_SPA, 4);
    memcpy(r->tha, p + ARP_THA, 6);
    memcpy(r->tpa, p + ARP_TPA, 4);
    return SN_ARP_LEN;
}

int sn_arp_emit(const struct sn_arp_repr *r, uint8_t *p, size_t cap)
{
    if (cap < SN_ARP_LEN)
        return -ENOSPC;
    sn_store_be16(p + ARP_HTYPE, ARP_HRD_ETHER);
    sn_store_be16(p + ARP_PTYPE, SN_ETHERTYPE_IPV4);
    p[ARP_HLEN] = ARP_ETH_ALEN;
    p[ARP_PLEN] = ARP_IPV4_ALEN;
    sn_store_be16(p + ARP_OP, r->op);
    memmove(p + ARP_SHA, r->sha, 6);
    memmove(p + ARP_SPA, r->spa, 4);
    memmove(p + ARP_THA, r->tha, 6);
    memmove(p + ARP_TPA, r->tpa, 4);
    return SN_ARP_LEN;
}
