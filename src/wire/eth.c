/* eth.c — Ethernet II framing (the DIX header of IEEE 802.3 §3.2.6) and the
 * 4-byte VLAN tags of IEEE 802.1Q (C-tag) and 802.1ad (S-tag, QinQ).
 * A tag is parsed one at a time: p points just after the ethertype that
 * announced it, so QinQ is two calls in a row. */
#include <sysnet/wire.h>

/* IEEE 802.1Q §9.6: TCI = PCP(3) DEI(1) VID(12), then the next ethertype. */
enum {
    VLAN_TCI = 0, VLAN_TYPE = 2,
    VLAN_PCP_SHIFT = 13, VLAN_DEI_SHIFT = 12,
    VLAN_PCP_MAX = 7, VLAN_VID_MAX = 0xfff,
};
/* The S-tag ethertype used before 802.1ad was assigned; still seen in the wild. */
#define ETHERTYPE_QINQ_OLD 0x9100

int sn_eth_parse(const uint8_t *p, size_t len, struct sn_eth_repr *r)
{
    if (len < SN_ETH_HLEN)
        return SN_WIRE_ETRUNC;
    memcpy(r->dst, p + SN_ETH_DST, 6);
    memcpy(r->src, p + SN_ETH_SRC, 6);
    r->type = sn_load_be16(p + SN_ETH_TYPE);
    return SN_ETH_HLEN;
}

int sn_eth_emit(const struct sn_eth_repr *r, uint8_t *p, size_t cap)
{
    if (cap < SN_ETH_HLEN)
        return -ENOSPC;
    memmove(p + SN_ETH_DST, r->dst, 6);
    memmove(p + SN_ETH_SRC, r->src, 6);
    sn_store_be16(p + SN_ETH_TYPE, r->type);
    return SN_ETH_HLEN;
}

int sn_eth_is_vlan(uint16_t type)
{
    return type == SN_ETHERTYPE_VLAN || type == SN_ETHERTYPE_QINQ || type == ETHERTYPE_QINQ_OLD;
}

int sn_vlan_parse(const uint8_t *p, size_t len, struct sn_vlan_repr *r)
{
    if (len < SN_VLAN_HLEN)
        return SN_WIRE_ETRUNC;
    uint16_t tci = sn_load_be16(p + VLAN_TCI);
    r->pcp = (uint8_t)(tci >> VLAN_PCP_SHIFT);
    r->dei = (uint8_t)((tci >> VLAN_DEI_SHIFT) & 1);
    r->vid = tci & VLAN_VID_MAX;
    r->type = sn_load_be16(p + VLAN_TYPE);
    return SN_VLAN_HLEN;
}

int sn_vlan_emit(const struct sn_vlan_repr *r, uint8_t *p, size_t cap)
{
    if (r->vid > VLAN_VID_MAX || r->pcp > VLAN_PCP_MAX || r->dei > 1)
        return -EINVAL;
    if (cap < SN_VLAN_HLEN)
        return -ENOSPC;
    uint16_t tci = (uint16_t)(r->pcp << VLAN_PCP_SHIFT | r->dei << VLAN_DEI_SHIFT | r->vid);
    sn_store_be16(p + VLAN_TCI, tci);
    sn_store_be16(p + VLAN_TYPE, r->type);
    return SN_VLAN_HLEN;
}
