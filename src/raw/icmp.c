/* icmp.c — what probers need from ICMP: echo requests with a send timestamp
 * (RFC 792 "Echo or Echo Reply Message", RFC 4443 §4.1), the classification of
 * received messages with the quoted probe of an error (RFC 792: IP header + 64
 * bits; RFC 1812 §4.3.2.3 and RFC 4443 §2.4: as much as fits), and the texts
 * ping(8) and traceroute(8) print for errors.
 */
#include <sysnet/raw.h>
#include <sysnet/wire.h>

#include <stdio.h>

int sn_raw_echo_emit(int family, uint16_t id, uint16_t seq, uint64_t ts_ns, size_t payload_len,
                     uint8_t *p, size_t cap)
{
    if (family != AF_INET && family != AF_INET6)
        return -EINVAL;
    if (payload_len > 65507 - SN_ICMP4_HLEN)
        return -EMSGSIZE;
    if (cap < SN_ICMP4_HLEN + payload_len)
        return -ENOSPC;
    uint8_t *d = p + SN_ICMP4_HLEN;
    size_t i = 0;
    if (payload_len >= SN_RAW_ECHO_TS_LEN) {
        sn_store_be64(d, ts_ns);
        i = SN_RAW_ECHO_TS_LEN;
    }
    for (; i < payload_len; i++)
        d[i] = (uint8_t)i; /* iputils' fill: byte i of the data is i */
    if (family == AF_INET) {
        struct sn_icmp4_repr r = {.type = SN_ICMP_ECHO, .id = id, .seq = seq, .data = d,
                                  .data_len = payload_len};
        return sn_icmp4_emit(&r, p, cap);
    }
    /* RFC 3542 §3.1: the kernel computes the ICMPv6 checksum of a raw socket
     * (it needs the source address it picks), so it is left 0 here. */
    struct sn_icmp6_repr r = {.type = SN_ICMP6_ECHO, .id = id, .seq = seq, .data = d,
                              .data_len = payload_len};
    return sn_icmp6_emit(&r, NULL, p, cap);
}

int sn_raw_echo_ts(const struct sn_raw_icmp *ic, uint64_t *ts_ns)
{
    if (ic->data_len < SN_RAW_ECHO_TS_LEN || !ic->data)
        return -ENODATA;
    *ts_ns = sn_load_be64(ic->data);
    return 0;
}

/* ---- the packet quoted in an error ----------------------------------------- */

/* The first 8 bytes of the quoted upper layer: ports, TCP seq, echo id/seq. */
static void quote_l4(struct sn_raw_quote *q, const uint8_t *l4, size_t avail)
{
    if (avail < 8)
        return;
    q->have_l4 = 1;
    switch (q->proto) {
    case SN_IPPROTO_UDP:
    case SN_IPPROTO_TCP:
        q->sport = sn_load_be16(l4);
        q->dport = sn_load_be16(l4 + 2);
        if (q->proto == SN_IPPROTO_TCP)
            q->tcp_seq = sn_load_be32(l4 + 4);
        break;
    case SN_IPPROTO_ICMP:
    case SN_IPPROTO_ICMPV6:
        q->icmp_id = sn_load_be16(l4 + 4);
        q->icmp_seq = sn_load_be16(l4 + 6);
        break;
    default:
        break;
    }
}

static void quote4(struct sn_raw_quote *q, const uint8_t *p, size_t len)
{
    struct sn_ipv4_repr ip;
    if (sn_ipv4_parse(p, len, SN_WIRE_PARTIAL, &ip) < 0)
        return;
    q->ok = 1;
    q->proto = ip.proto;
    q->ttl = ip.ttl;
    q->ip_id = ip.id;
    memcpy(q->src, ip.src, 4);
    memcpy(q->dst, ip.dst, 4);
    if (ip.frag_off == 0) /* only a first fragment starts with the upper header */
        quote_l4(q, p + ip.hdr_len, len - ip.hdr_len);
}

static void quote6(struct sn_raw_quote *q, const uint8_t *p, size_t len)
{
    struct sn_ipv6_repr ip;
    struct sn_ipv6_chain c;
    if (sn_ipv6_parse(p, len, SN_WIRE_PARTIAL, &ip) < 0)
        return;
    q->ok = 1;
    q->ttl = ip.hop_limit;
    memcpy(q->src, ip.src, 16);
    memcpy(q->dst, ip.dst, 16);
    q->proto = ip.next_header;
    if (sn_ipv6_walk(p, len, &c) < 0)
        return; /* the chain was cut: the protocol stays the first next header */
    q->proto = c.upper;
    if (!(c.has_frag && c.frag_off) && c.upper_off <= len)
        quote_l4(q, p + c.upper_off, len - c.upper_off);
}

/* ---- classification ---------------------------------------------------------- */

static int parse4(const uint8_t *p, size_t len, struct sn_raw_icmp *out)
{
    struct sn_ipv4_repr ip;
    int rc = sn_ipv4_parse(p, len, SN_WIRE_PARTIAL, &ip);
    if (rc < 0)
        return rc;
    if (ip.proto != SN_IPPROTO_ICMP)
        return -EPROTONOSUPPORT;
    if (ip.frag_off || ip.mf)
        return -EPROTONOSUPPORT; /* a fragment: the kernel reassembles before raw delivery */
    size_t end = SN_MIN((size_t)ip.total_len, len);
    const uint8_t *ic = p + ip.hdr_len;
    size_t ilen = end - ip.hdr_len;
    struct sn_icmp4_repr r;
    rc = sn_icmp4_parse(ic, ilen, SN_WIRE_CSUM, &r);
    if (rc < 0 && rc != SN_WIRE_ECSUM)
        return rc;
    out->csum_ok = rc != SN_WIRE_ECSUM && end == ip.total_len;
    out->ttl = ip.ttl;
    memcpy(out->src, ip.src, 4);
    out->type = r.type;
    out->code = r.code;
    out->id = r.id;
    out->seq = r.seq;
    out->data = r.data;
    out->data_len = r.data_len;
    switch (r.type) {
    case SN_ICMP_ECHOREPLY: out->kind = SN_RAW_ICMP_ECHO_REPLY; break;
    case SN_ICMP_ECHO: out->kind = SN_RAW_ICMP_ECHO_REQUEST; break;
    case SN_ICMP_UNREACH:
        out->kind = SN_RAW_ICMP_UNREACH;
        if (r.code == 4) /* RFC 1191 §4: next-hop MTU in the low 16 bits */
            out->mtu = sn_load_be16(ic + 6);
        break;
    case SN_ICMP_TIMXCEED: out->kind = SN_RAW_ICMP_TIME_EXCEEDED; break;
    case 12: out->kind = SN_RAW_ICMP_PARAM; out->mtu = ic[4]; break; /* pointer */
    default: out->kind = SN_RAW_ICMP_OTHER; break;
    }
    if (out->kind >= SN_RAW_ICMP_UNREACH)
        quote4(&out->q, r.data, r.data_len);
    return 0;
}

static int parse6(const uint8_t *p, size_t len, struct sn_raw_icmp *out)
{
    struct sn_icmp6_repr r;
    int rc = sn_icmp6_parse(p, len, NULL, &r);
    if (rc < 0)
        return rc;
    out->csum_ok = 1; /* the kernel drops ICMPv6 with a bad checksum */
    out->type = r.type;
    out->code = r.code;
    out->id = r.id;
    out->seq = r.seq;
    out->data = r.data;
    out->data_len = r.data_len;
    switch (r.type) {
    case SN_ICMP6_ECHOREPLY: out->kind = SN_RAW_ICMP_ECHO_REPLY; break;
    case SN_ICMP6_ECHO: out->kind = SN_RAW_ICMP_ECHO_REQUEST; break;
    case SN_ICMP6_UNREACH: out->kind = SN_RAW_ICMP_UNREACH; break;
    case SN_ICMP6_TOOBIG: out->kind = SN_RAW_ICMP_TOO_BIG; out->mtu = r.mtu; break;
    case SN_ICMP6_TIMXCEED: out->kind = SN_RAW_ICMP_TIME_EXCEEDED; break;
    case 4: out->kind = SN_RAW_ICMP_PARAM; out->mtu = r.mtu; break; /* pointer */
    default: out->kind = SN_RAW_ICMP_OTHER; break;
    }
    if (out->kind >= SN_RAW_ICMP_UNREACH)
        quote6(&out->q, r.data, r.data_len);
    return 0;
}

int sn_raw_icmp_parse(int family, const uint8_t *p, size_t len, struct sn_raw_icmp *out)
{
    struct sn_raw_icmp r;
    memset(&r, 0, sizeof(r));
    r.family = family;
    int rc;
    if (family == AF_INET)
        rc = parse4(p, len, &r);
    else if (family == AF_INET6)
        rc = parse6(p, len, &r);
    else
        return -EAFNOSUPPORT;
    if (rc < 0)
        return rc;
    *out = r;
    return 0;
}

int sn_raw_echo_match(const struct sn_raw_icmp *ic, const struct sn_addr *from,
                      const struct sn_addr *dst, uint16_t id)
{
    size_t alen = dst->family == AF_INET ? 4 : 16;
    uint8_t echo = dst->family == AF_INET ? SN_IPPROTO_ICMP : SN_IPPROTO_ICMPV6;
    if (ic->family != dst->family)
        return 0;
    if (ic->kind == SN_RAW_ICMP_ECHO_REPLY)
        return ic->id == id && from->family == dst->family && !memcmp(from->ip, dst->ip, alen);
    return ic->kind >= SN_RAW_ICMP_UNREACH && ic->q.ok && ic->q.have_l4 && ic->q.proto == echo &&
           ic->q.icmp_id == id && !memcmp(ic->q.dst, dst->ip, alen);
}

/* ---- texts ---------------------------------------------------------------------- */

/* iputils ping/ping_common.c pr_icmph() (IPv4) and ping6 print_icmp() (IPv6). */
static const char *const unreach4[] = {
    "Destination Net Unreachable", "Destination Host Unreachable",
    "Destination Protocol Unreachable", "Destination Port Unreachable",
    NULL, "Source Route Failed", "Destination Net Unknown", "Destination Host Unknown",
    "Source Host Isolated", "Destination Net Prohibited", "Destination Host Prohibited",
    "Destination Net Unreachable for Type of Service",
    "Destination Host Unreachable for Type of Service", "Packet filtered",
    "Precedence Violation", "Precedence Cutoff",
};
static const char *const unreach6[] = {
    "No route", "Administratively prohibited", "Beyond scope of source address",
    "Address unreachable", "Port unreachable",
};

static int text4(uint8_t type, uint8_t code, uint32_t mtu, char *out, size_t cap)
{
    switch (type) {
    case SN_ICMP_UNREACH:
        if (code == 4)
            return snprintf(out, cap, "Frag needed and DF set (mtu = %u)", (unsigned)mtu);
        if (code < SN_COUNTOF(unreach4))
            return snprintf(out, cap, "%s", unreach4[code]);
        return snprintf(out, cap, "Dest Unreachable, Bad Code: %d", code);
    case SN_ICMP_TIMXCEED:
        if (code == 0)
            return snprintf(out, cap, "Time to live exceeded");
        if (code == 1)
            return snprintf(out, cap, "Frag reassembly time exceeded");
        return snprintf(out, cap, "Time exceeded, Bad Code: %d", code);
    case 4: return snprintf(out, cap, "Source Quench");
    case 5: return snprintf(out, cap, "Redirect, Bad Code: %d", code);
    case 12: return snprintf(out, cap, "Parameter problem: pointer = %u", (unsigned)mtu);
    case SN_ICMP_ECHOREPLY: return snprintf(out, cap, "Echo Reply");
    case SN_ICMP_ECHO: return snprintf(out, cap, "Echo Request");
    default: return snprintf(out, cap, "Bad ICMP type: %d", type);
    }
}

static int text6(uint8_t type, uint8_t code, uint32_t mtu, char *out, size_t cap)
{
    switch (type) {
    case SN_ICMP6_UNREACH:
        if (code < SN_COUNTOF(unreach6))
            return snprintf(out, cap, "Destination unreachable: %s", unreach6[code]);
        return snprintf(out, cap, "Destination unreachable: Unknown code %d", code);
    case SN_ICMP6_TOOBIG: return snprintf(out, cap, "Packet too big: mtu=%u", (unsigned)mtu);
    case SN_ICMP6_TIMXCEED:
        if (code == 0)
            return snprintf(out, cap, "Time exceeded: Hop limit");
        if (code == 1)
            return snprintf(out, cap, "Time exceeded: Defragmentation failure");
        return snprintf(out, cap, "Time exceeded: code %d", code);
    case 4: {
        static const char *const pp[] = {"Wrong header field ", "Unknown header ", "Unknown option "};
        if (code < SN_COUNTOF(pp))
            return snprintf(out, cap, "Parameter problem: %sat %u", pp[code], (unsigned)mtu);
        return snprintf(out, cap, "Parameter problem: code %d at %u", code, (unsigned)mtu);
    }
    case SN_ICMP6_ECHO: return snprintf(out, cap, "Echo request");
    case SN_ICMP6_ECHOREPLY: return snprintf(out, cap, "Echo reply");
    default: return snprintf(out, cap, "unknown icmp type: %u", type);
    }
}

int sn_raw_icmp_text(int family, uint8_t type, uint8_t code, uint32_t mtu, char *out, size_t cap)
{
    int n = family == AF_INET6 ? text6(type, code, mtu, out, cap) : text4(type, code, mtu, out, cap);
    if (n < 0) {
        if (cap)
            out[0] = 0;
        return 0;
    }
    return (size_t)n >= cap ? (int)(cap ? cap - 1 : 0) : n;
}

/* traceroute(8) (the modern one by Dmitry Butskoy): the flag after the RTT. */
const char *sn_raw_icmp_trace_flag(int family, uint8_t type, uint8_t code)
{
    static const char *const num[] = {"!<0>", "!<1>", "!<2>", "!<3>", "!<4>", "!<5>", "!<6>",
                                      "!<7>", "!<8>", "!<9>", "!<10>", "!<11>", "!<12>",
                                      "!<13>", "!<14>", "!<15>"};
    if (family == AF_INET6) {
        if (type != SN_ICMP6_UNREACH)
            return "";
        switch (code) {
        case 0: return "!N";
        case 1: return "!X";
        case 2: return "!S";
        case 3: return "!H";
        case 4: return "";
        default: return code < SN_COUNTOF(num) ? num[code] : "!<?>";
        }
    }
    if (type != SN_ICMP_UNREACH)
        return "";
    switch (code) {
    case 0: case 6: case 8: case 11: return "!N";
    case 1: case 7: case 12: return "!H";
    case 2: return "!P";
    case 3: return "";
    case 4: return "!F";
    case 5: return "!S";
    case 9: case 10: case 13: return "!X";
    case 14: return "!V";
    case 15: return "!C";
    default: return code < SN_COUNTOF(num) ? num[code] : "!<?>";
    }
}
