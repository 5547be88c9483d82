/* cookie.c — the scan key, SYN cookies (SipHash-2-4 of the probe's four-tuple)
 * and the three packets of a SYN scan: the SYN we send, the reply we parse and
 * check against the cookie, the RST that answers an open port. The rules for
 * what counts as an answer are in scan.h, with their RFC 9293 sections. */
#include <sysnet/scan.h>

#include <errno.h>
#include <sys/random.h>

int sn_scan_key_random(struct sn_scan_key *key)
{
    size_t got = 0;
    while (got < sizeof(key->k)) {
        ssize_t n = getrandom(key->k + got, sizeof(key->k) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)n;
    }
    return 0;
}

uint32_t sn_scan_cookie(const struct sn_scan_key *key, const struct sn_ipaddrs *probe,
                        uint16_t sport, uint16_t dport)
{
    uint8_t m[36];
    size_t alen = probe->family == 6 ? 16 : 4;
    memcpy(m, probe->src, alen);
    memcpy(m + alen, probe->dst, alen);
    sn_store_be16(m + 2 * alen, sport);
    sn_store_be16(m + 2 * alen + 2, dport);
    return (uint32_t)sn_siphash24(key->k, m, 2 * alen + 4);
}

const char *sn_scan_status_name(int status)
{
    switch (status) {
    case SN_SCAN_OPEN: return "open";
    case SN_SCAN_CLOSED: return "closed";
    case SN_SCAN_FILTERED: return "filtered";
    default: return "none";
    }
}

int sn_scan_match(const struct sn_scan_key *key, const struct sn_ipaddrs *reply,
                  const struct sn_tcp_repr *tcp)
{
    unsigned f = tcp->flags;
    int status;
    if ((f & (SN_TCP_SYN | SN_TCP_ACK | SN_TCP_RST)) == (SN_TCP_SYN | SN_TCP_ACK))
        status = SN_SCAN_OPEN;
    else if ((f & (SN_TCP_RST | SN_TCP_SYN)) == SN_TCP_RST)
        status = SN_SCAN_CLOSED;
    else
        return SN_SCAN_NONE;
    /* The probe's tuple is the reply's turned around. */
    struct sn_ipaddrs probe = {reply->family, reply->dst, reply->src};
    uint32_t cookie = sn_scan_cookie(key, &probe, tcp->dport, tcp->sport);
    return tcp->ack - 1u == cookie ? status : SN_SCAN_NONE;
}

int sn_scan_syn_emit(const struct sn_scan_key *key, const struct sn_scan_probe *pr,
                     uint8_t *p, size_t cap)
{
    if (cap < SN_SCAN_SYN_LEN)
        return -ENOSPC;
    struct sn_ipaddrs ip = {4, pr->src, pr->dst};
    uint32_t cookie = sn_scan_cookie(key, &ip, pr->sport, pr->dport);
    struct sn_tcp_repr t = {
        .sport = pr->sport, .dport = pr->dport, .seq = cookie, .ack = 0,
        .flags = SN_TCP_SYN, .window = SN_SCAN_SYN_WINDOW,
        .has_mss = 1, .mss = SN_SCAN_SYN_MSS,
    };
    int tl = sn_tcp_emit(&t, &ip, p + SN_IPV4_HLEN, cap - SN_IPV4_HLEN);
    if (tl < 0)
        return tl;
    struct sn_ipv4_repr h = {
        .payload_len = (uint16_t)tl, .id = (uint16_t)(cookie >> 16),
        .ttl = pr->ttl ? pr->ttl : SN_SCAN_SYN_TTL, .proto = SN_IPPROTO_TCP,
    };
    memcpy(h.src, pr->src, 4);
    memcpy(h.dst, pr->dst, 4);
    int hl = sn_ipv4_emit(&h, p, cap);
    if (hl < 0)
        return hl;
    return hl + tl;
}

int sn_scan_reply_parse(const struct sn_scan_key *key, const uint8_t *p, size_t len,
                        uint16_t sport, unsigned flags, struct sn_scan_reply *out)
{
    struct sn_ipv4_repr ip;
    int hl = sn_ipv4_parse(p, len, SN_WIRE_CSUM, &ip);
    if (hl < 0)
        return hl;
    /* Only whole, unfragmented TCP: a fragment has no (or a partial) TCP header. */
    if (ip.proto != SN_IPPROTO_TCP || ip.mf || ip.frag_off)
        return 0;
    struct sn_ipaddrs addrs = {4, p + SN_IPV4_SRC, p + SN_IPV4_DST};
    struct sn_tcp_repr t;
    int tl = sn_tcp_parse(p + hl, ip.payload_len, (flags & SN_SCAN_TCP_CSUM) ? &addrs : NULL, &t);
    if (tl < 0)
        return tl;
    if (sport && t.dport != sport)
        return 0;
    int status = sn_scan_match(key, &addrs, &t);
    if (status == SN_SCAN_NONE)
        return 0;
    *out = (struct sn_scan_reply){
        .status = status, .port = t.sport, .sport = t.dport, .seq = t.seq, .ack = t.ack,
        .ttl = ip.ttl, .window = t.window, .mss = t.has_mss ? t.mss : 0,
    };
    memcpy(out->target, ip.src, 4);
    memcpy(out->local, ip.dst, 4);
    return 1;
}

int sn_scan_rst_emit(const struct sn_scan_reply *r, uint8_t *p, size_t cap)
{
    if (cap < SN_SCAN_RST_LEN)
        return -ENOSPC;
    struct sn_ipaddrs ip = {4, r->local, r->target};
    struct sn_tcp_repr t = {
        .sport = r->sport, .dport = r->port, .seq = r->ack, .flags = SN_TCP_RST,
    };
    int tl = sn_tcp_emit(&t, &ip, p + SN_IPV4_HLEN, cap - SN_IPV4_HLEN);
    if (tl < 0)
        return tl;
    struct sn_ipv4_repr h = {
        .payload_len = (uint16_t)tl, .id = (uint16_t)r->ack, .ttl = SN_SCAN_SYN_TTL,
        .proto = SN_IPPROTO_TCP,
    };
    memcpy(h.src, r->local, 4);
    memcpy(h.dst, r->target, 4);
    int hl = sn_ipv4_emit(&h, p, cap);
    if (hl < 0)
        return hl;
    return hl + tl;
}
