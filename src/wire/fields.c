/* fields.c — field values of a dissected frame under tshark's names and in
 * tshark's formats (`tshark -T fields -e NAME`), so that the output of
 * `sysnet sniff -T fields` can be compared with tshark's byte for byte.
 *
 * Most fields are raw header bits: (layer, byte offset, width, mask) and a
 * format. A field is printed only when its bytes were captured, which is what
 * tshark does for a truncated header (it stops at the first missing byte).
 * The rest (checksum status, lengths, options) are small functions. */
#include <sysnet/sock.h>
#include <sysnet/wire.h>

#include <inttypes.h>
#include <stdio.h>

enum fmt { F_DEC, F_HEX, F_BOOL, F_IPV4, F_IPV6, F_MAC, F_FN, F_PAIR_IPV4, F_PAIR_IPV6, F_PAIR_PORT };
#define ANY_IP 255 /* tshark's IPv6 dissector fills ip.version too */

struct ctx {
    const struct sn_dissect *d;
    const struct sn_layer *l;
    const struct sn_frame_meta *m;
};
/* Writes the value; returns its length, or -1 when this layer has no such value. */
typedef int (*field_fn)(const struct ctx *c, char *out, size_t cap);

struct field {
    const char *name;
    uint8_t layer;  /* enum sn_layer_kind; 0 = the frame itself; ANY_IP = IPv4 or IPv6 */
    uint8_t fmt;    /* enum fmt */
    uint8_t off;    /* byte offset in the header */
    uint8_t len;    /* bytes read (1, 2, 4) or address size */
    uint32_t mask;  /* applied to the big-endian value; 0 = all bits */
    uint8_t width;  /* hex digits for F_HEX; for F_PAIR_*, the offset of the second value */
    field_fn fn;    /* for F_FN */
    uint8_t need;   /* captured header bytes the dissector needs before it shows any field */
};

static const uint8_t *hdr(const struct ctx *c)
{
    return c->d->frame + c->l->off;
}

/* ---- functions for computed fields ---------------------------------------- */

static int f_frame_number(const struct ctx *c, char *o, size_t n)
{
    return snprintf(o, n, "%" PRIu64, c->m->number);
}
static int f_frame_len(const struct ctx *c, char *o, size_t n)
{
    return snprintf(o, n, "%" PRIu32, c->d->wirelen);
}
static int f_frame_caplen(const struct ctx *c, char *o, size_t n)
{
    return snprintf(o, n, "%" PRIu32, c->d->caplen);
}
static int f_frame_epoch(const struct ctx *c, char *o, size_t n)
{
    int64_t t = c->m->ts_ns;
    const char *sign = "";
    if (t < 0) {
        sign = "-";
        t = -t;
    }
    return snprintf(o, n, "%s%" PRId64 ".%09" PRId64, sign, t / 1000000000, t % 1000000000);
}

/* Offset of the checksum field in each header: the status is shown once those
 * two bytes were captured (tshark computes it when it reaches the field). */
static int csum_off(uint8_t kind)
{
    switch (kind) {
    case SN_LAYER_IPV4: return SN_IPV4_CSUM;
    case SN_LAYER_ICMP4:
    case SN_LAYER_ICMP6: return 2;
    case SN_LAYER_UDP: return 6;
    case SN_LAYER_TCP: return 16;
    default: return -1;
    }
}

static int csum_status(const struct ctx *c, char *o, size_t n)
{
    int off = csum_off(c->l->kind);
    if (off < 0 || c->l->csum == SN_CSUM_NONE || c->l->avail < (uint32_t)off + 2)
        return -1;
    return snprintf(o, n, "%u", c->l->csum);
}

static int f_ip_hdr_len(const struct ctx *c, char *o, size_t n)
{
    return snprintf(o, n, "%u", (hdr(c)[0] & 0x0f) * 4u);
}
static int f_ip_flags(const struct ctx *c, char *o, size_t n)
{
    if (c->l->avail < 7)
        return -1;
    return snprintf(o, n, "0x%02x", hdr(c)[6] >> 5);
}
static int f_ipv6_tclass(const struct ctx *c, char *o, size_t n)
{
    if (c->l->avail < 2)
        return -1;
    return snprintf(o, n, "0x%08x", (sn_load_be16(hdr(c)) >> 4) & 0xffu);
}

/* ICMP types whose bytes 4-7 are identifier and sequence (RFC 792). */
static int icmp_has_id(uint8_t type)
{
    return type == 0 || type == 8 || (type >= 13 && type <= 18);
}
static int f_icmp_ident(const struct ctx *c, char *o, size_t n)
{
    if (c->l->avail < 6 || !icmp_has_id(hdr(c)[0]))
        return -1;
    return snprintf(o, n, "%u", sn_load_be16(hdr(c) + 4));
}
static int f_icmp_seq(const struct ctx *c, char *o, size_t n)
{
    if (c->l->avail < 8 || !icmp_has_id(hdr(c)[0]))
        return -1;
    return snprintf(o, n, "%u", sn_load_be16(hdr(c) + 6));
}
static int f_icmp6_echo_id(const struct ctx *c, char *o, size_t n)
{
    if (c->l->avail < 6 || (hdr(c)[0] != SN_ICMP6_ECHO && hdr(c)[0] != SN_ICMP6_ECHOREPLY))
        return -1;
    return snprintf(o, n, "0x%04x", sn_load_be16(hdr(c) + 4));
}
static int f_icmp6_echo_seq(const struct ctx *c, char *o, size_t n)
{
    if (c->l->avail < 8 || (hdr(c)[0] != SN_ICMP6_ECHO && hdr(c)[0] != SN_ICMP6_ECHOREPLY))
        return -1;
    return snprintf(o, n, "%u", sn_load_be16(hdr(c) + 6));
}
static int nd_target(const struct ctx *c, uint8_t type, char *o, size_t n)
{
    if (c->l->avail < 24 || hdr(c)[0] != type || n < 46)
        return -1;
    return sn_fmt_ipv6(hdr(c) + 8, o, n);
}
static int f_ns_target(const struct ctx *c, char *o, size_t n) { return nd_target(c, SN_ICMP6_NS, o, n); }
static int f_na_target(const struct ctx *c, char *o, size_t n) { return nd_target(c, SN_ICMP6_NA, o, n); }

/* Every link-layer address option of an NS/NA/RS/RA, as tshark lists them. */
static int f_nd_linkaddr(const struct ctx *c, char *o, size_t n)
{
    const uint8_t *p = hdr(c);
    uint32_t start;
    switch (p[0]) {
    case SN_ICMP6_RS: start = 8; break;
    case SN_ICMP6_RA: start = 16; break;
    case SN_ICMP6_NS:
    case SN_ICMP6_NA: start = 24; break;
    default: return -1;
    }
    int k = 0;
    for (uint32_t off = start; off + 2 <= c->l->avail;) {
        uint32_t olen = p[off + 1] * 8u;
        if (olen == 0 || off + olen > c->l->avail)
            break;
        if ((p[off] == SN_ND_OPT_SLLA || p[off] == SN_ND_OPT_TLLA) && olen >= 8 && (size_t)k + 20 < n) {
            if (k)
                o[k++] = ',';
            k += sn_fmt_mac(p + off + 2, o + k, n - (size_t)k);
        }
        off += olen;
    }
    return k ? k : -1;
}


static int f_tcp_hdr_len(const struct ctx *c, char *o, size_t n)
{
    if (c->l->avail < 13)
        return -1;
    return snprintf(o, n, "%u", (hdr(c)[12] >> 4) * 4u);
}
static int f_tcp_flags(const struct ctx *c, char *o, size_t n)
{
    if (c->l->avail < 14)
        return -1;
    return snprintf(o, n, "0x%04x", sn_load_be16(hdr(c) + 12) & 0x0fffu);
}
/* Segment length: what the IP header says is left after the TCP header. */
static int f_tcp_len(const struct ctx *c, char *o, size_t n)
{
    const struct sn_layer *l = c->l;
    if (l->avail < 13 || l->inner || l == c->d->l)
        return -1;
    const struct sn_layer *ip = l - 1;
    uint32_t seg, hl = (hdr(c)[12] >> 4) * 4u;
    if (ip->kind == SN_LAYER_IPV4 && ip->complete)
        seg = ip->u.ipv4.payload_len;
    else if (ip->kind == SN_LAYER_IPV6 && ip->complete)
        seg = (uint32_t)SN_IPV6_HLEN + ip->u.ipv6.ip.payload_len - ip->u.ipv6.chain.upper_off;
    else
        return -1;
    return snprintf(o, n, "%u", seg >= hl ? seg - hl : 0);
}

/* Find a TCP option of a kind and exact length among the captured option bytes,
 * walking them as tshark does: an option cut by the capture ends the walk. */
static const uint8_t *tcp_opt(const struct ctx *c, uint8_t kind, uint8_t len)
{
    if (c->l->avail < 13)
        return NULL;
    uint32_t hl = (hdr(c)[12] >> 4) * 4u;
    if (hl <= SN_TCP_HLEN)
        return NULL;
    uint32_t end = SN_MIN(hl, c->l->avail);
    const uint8_t *opts = hdr(c) + SN_TCP_HLEN;
    size_t off = 0;
    struct sn_opt op;
    while (sn_opt_next(opts, end - SN_TCP_HLEN, &off, &op) > 0)
        if (op.kind == kind && op.len == len)
            return op.data;
    return NULL;
}
static int f_tcp_mss(const struct ctx *c, char *o, size_t n)
{
    const uint8_t *v = tcp_opt(c, SN_TCPOPT_MSS, 4);
    return v ? snprintf(o, n, "%u", sn_load_be16(v)) : -1;
}
static int f_tcp_wscale(const struct ctx *c, char *o, size_t n)
{
    const uint8_t *v = tcp_opt(c, SN_TCPOPT_WSCALE, 3);
    return v ? snprintf(o, n, "%u", v[0]) : -1;
}
static int f_tcp_tsval(const struct ctx *c, char *o, size_t n)
{
    const uint8_t *v = tcp_opt(c, SN_TCPOPT_TIMESTAMP, 10);
    return v ? snprintf(o, n, "%u", sn_load_be32(v)) : -1;
}
static int f_tcp_tsecr(const struct ctx *c, char *o, size_t n)
{
    const uint8_t *v = tcp_opt(c, SN_TCPOPT_TIMESTAMP, 10);
    return v ? snprintf(o, n, "%u", sn_load_be32(v + 4)) : -1;
}

/* ---- the table ------------------------------------------------------------ */

/* tshark shows nothing of an Ethernet header shorter than 14 bytes, and only the
 * ports of a TCP header shorter than 20 (e.g. the 8 bytes an ICMP error quotes).
 * Of an IPv6 header it shows the first word (version, class, flow) as soon as it is
 * there, length, next header and hop limit once the first 8 bytes are. */
#define NEED(kind, off)                                                                            \
    ((kind) == SN_LAYER_ETH   ? SN_ETH_HLEN                                                        \
     : (kind) == SN_LAYER_TCP ? SN_TCP_HLEN                                                        \
     : (kind) == SN_LAYER_IPV6 && (off) >= 4 ? 8 : 0)
#define FN(name, layer, fn) {name, layer, F_FN, 0, 0, 0, 0, fn, NEED(layer, 0)}
#define DEC(name, layer, off, len, mask) {name, layer, F_DEC, off, len, mask, 0, NULL, NEED(layer, off)}
#define HEX(name, layer, off, len, mask, w) {name, layer, F_HEX, off, len, mask, w, NULL, NEED(layer, off)}
#define BOOL(name, layer, off, len, mask) {name, layer, F_BOOL, off, len, mask, 0, NULL, NEED(layer, off)}
#define ADDR(name, layer, fmt, off, len) {name, layer, fmt, off, len, 0, 0, NULL, NEED(layer, off)}
#define PAIR(name, layer, fmt, off, len, off2) {name, layer, fmt, off, len, 0, off2, NULL, NEED(layer, off)}
#define PORT(name, layer, off) {name, layer, F_DEC, off, 2, 0, 0, NULL, 0}
#define PAIRPORT(name, layer) {name, layer, F_PAIR_PORT, 0, 2, 0, 2, NULL, 0}

static const struct field fields[] = {
    FN("frame.number", 0, f_frame_number),
    FN("frame.len", 0, f_frame_len),
    FN("frame.cap_len", 0, f_frame_caplen),
    FN("frame.time_epoch", 0, f_frame_epoch),
    ADDR("eth.dst", SN_LAYER_ETH, F_MAC, 0, 6),
    ADDR("eth.src", SN_LAYER_ETH, F_MAC, 6, 6),
    HEX("eth.type", SN_LAYER_ETH, 12, 2, 0, 4),
    DEC("ieee8021ad.priority", SN_LAYER_QINQ, 0, 2, 0xe000),
    DEC("ieee8021ad.dei", SN_LAYER_QINQ, 0, 2, 0x1000),
    DEC("ieee8021ad.id", SN_LAYER_QINQ, 0, 2, 0x0fff),
    DEC("vlan.priority", SN_LAYER_VLAN, 0, 2, 0xe000),
    BOOL("vlan.dei", SN_LAYER_VLAN, 0, 2, 0x1000),
    DEC("vlan.id", SN_LAYER_VLAN, 0, 2, 0x0fff),
    HEX("vlan.etype", SN_LAYER_VLAN, 2, 2, 0, 4),
    DEC("arp.hw.type", SN_LAYER_ARP, 0, 2, 0),
    HEX("arp.proto.type", SN_LAYER_ARP, 2, 2, 0, 4),
    DEC("arp.hw.size", SN_LAYER_ARP, 4, 1, 0),
    DEC("arp.proto.size", SN_LAYER_ARP, 5, 1, 0),
    DEC("arp.opcode", SN_LAYER_ARP, 6, 2, 0),
    ADDR("arp.src.hw_mac", SN_LAYER_ARP, F_MAC, 8, 6),
    ADDR("arp.src.proto_ipv4", SN_LAYER_ARP, F_IPV4, 14, 4),
    ADDR("arp.dst.hw_mac", SN_LAYER_ARP, F_MAC, 18, 6),
    ADDR("arp.dst.proto_ipv4", SN_LAYER_ARP, F_IPV4, 24, 4),
    DEC("ip.version", ANY_IP, 0, 1, 0xf0),
    FN("ip.hdr_len", SN_LAYER_IPV4, f_ip_hdr_len),
    HEX("ip.dsfield", SN_LAYER_IPV4, 1, 1, 0, 2),
    DEC("ip.dsfield.dscp", SN_LAYER_IPV4, 1, 1, 0xfc),
    DEC("ip.dsfield.ecn", SN_LAYER_IPV4, 1, 1, 0x03),
    DEC("ip.len", SN_LAYER_IPV4, 2, 2, 0),
    HEX("ip.id", SN_LAYER_IPV4, 4, 2, 0, 4),
    FN("ip.flags", SN_LAYER_IPV4, f_ip_flags),
    BOOL("ip.flags.rb", SN_LAYER_IPV4, 6, 1, 0x80),
    BOOL("ip.flags.df", SN_LAYER_IPV4, 6, 1, 0x40),
    BOOL("ip.flags.mf", SN_LAYER_IPV4, 6, 1, 0x20),
    DEC("ip.frag_offset", SN_LAYER_IPV4, 6, 2, 0x1fff),
    DEC("ip.ttl", SN_LAYER_IPV4, 8, 1, 0),
    DEC("ip.proto", SN_LAYER_IPV4, 9, 1, 0),
    HEX("ip.checksum", SN_LAYER_IPV4, 10, 2, 0, 4),
    FN("ip.checksum.status", SN_LAYER_IPV4, csum_status),
    ADDR("ip.src", SN_LAYER_IPV4, F_IPV4, 12, 4),
    ADDR("ip.dst", SN_LAYER_IPV4, F_IPV4, 16, 4),
    PAIR("ip.addr", SN_LAYER_IPV4, F_PAIR_IPV4, 12, 4, 16),
    DEC("ipv6.version", SN_LAYER_IPV6, 0, 1, 0xf0),
    FN("ipv6.tclass", SN_LAYER_IPV6, f_ipv6_tclass),
    HEX("ipv6.flow", SN_LAYER_IPV6, 0, 4, 0x000fffff, 6),
    DEC("ipv6.plen", SN_LAYER_IPV6, 4, 2, 0),
    DEC("ipv6.nxt", SN_LAYER_IPV6, 6, 1, 0),
    DEC("ipv6.hlim", SN_LAYER_IPV6, 7, 1, 0),
    ADDR("ipv6.src", SN_LAYER_IPV6, F_IPV6, 8, 16),
    ADDR("ipv6.dst", SN_LAYER_IPV6, F_IPV6, 24, 16),
    PAIR("ipv6.addr", SN_LAYER_IPV6, F_PAIR_IPV6, 8, 16, 24),
    DEC("icmp.type", SN_LAYER_ICMP4, 0, 1, 0),
    DEC("icmp.code", SN_LAYER_ICMP4, 1, 1, 0),
    HEX("icmp.checksum", SN_LAYER_ICMP4, 2, 2, 0, 4),
    FN("icmp.checksum.status", SN_LAYER_ICMP4, csum_status),
    FN("icmp.ident", SN_LAYER_ICMP4, f_icmp_ident),
    FN("icmp.seq", SN_LAYER_ICMP4, f_icmp_seq),
    DEC("icmpv6.type", SN_LAYER_ICMP6, 0, 1, 0),
    DEC("icmpv6.code", SN_LAYER_ICMP6, 1, 1, 0),
    HEX("icmpv6.checksum", SN_LAYER_ICMP6, 2, 2, 0, 4),
    FN("icmpv6.checksum.status", SN_LAYER_ICMP6, csum_status),
    FN("icmpv6.echo.identifier", SN_LAYER_ICMP6, f_icmp6_echo_id),
    FN("icmpv6.echo.sequence_number", SN_LAYER_ICMP6, f_icmp6_echo_seq),
    FN("icmpv6.nd.ns.target_address", SN_LAYER_ICMP6, f_ns_target),
    FN("icmpv6.nd.na.target_address", SN_LAYER_ICMP6, f_na_target),
    FN("icmpv6.opt.linkaddr", SN_LAYER_ICMP6, f_nd_linkaddr),
    DEC("udp.srcport", SN_LAYER_UDP, 0, 2, 0),
    DEC("udp.dstport", SN_LAYER_UDP, 2, 2, 0),
    PAIRPORT("udp.port", SN_LAYER_UDP),
    DEC("udp.length", SN_LAYER_UDP, 4, 2, 0),
    HEX("udp.checksum", SN_LAYER_UDP, 6, 2, 0, 4),
    FN("udp.checksum.status", SN_LAYER_UDP, csum_status),
    PORT("tcp.srcport", SN_LAYER_TCP, 0),
    PORT("tcp.dstport", SN_LAYER_TCP, 2),
    PAIRPORT("tcp.port", SN_LAYER_TCP),
    DEC("tcp.seq_raw", SN_LAYER_TCP, 4, 4, 0),
    DEC("tcp.ack_raw", SN_LAYER_TCP, 8, 4, 0),
    FN("tcp.hdr_len", SN_LAYER_TCP, f_tcp_hdr_len),
    FN("tcp.flags", SN_LAYER_TCP, f_tcp_flags),
    BOOL("tcp.flags.fin", SN_LAYER_TCP, 13, 1, 0x01),
    BOOL("tcp.flags.syn", SN_LAYER_TCP, 13, 1, 0x02),
    BOOL("tcp.flags.reset", SN_LAYER_TCP, 13, 1, 0x04),
    BOOL("tcp.flags.push", SN_LAYER_TCP, 13, 1, 0x08),
    BOOL("tcp.flags.ack", SN_LAYER_TCP, 13, 1, 0x10),
    BOOL("tcp.flags.urg", SN_LAYER_TCP, 13, 1, 0x20),
    BOOL("tcp.flags.ece", SN_LAYER_TCP, 13, 1, 0x40),
    BOOL("tcp.flags.cwr", SN_LAYER_TCP, 13, 1, 0x80),
    DEC("tcp.window_size_value", SN_LAYER_TCP, 14, 2, 0),
    HEX("tcp.checksum", SN_LAYER_TCP, 16, 2, 0, 4),
    FN("tcp.checksum.status", SN_LAYER_TCP, csum_status),
    DEC("tcp.urgent_pointer", SN_LAYER_TCP, 18, 2, 0),
    FN("tcp.len", SN_LAYER_TCP, f_tcp_len),
    FN("tcp.options.mss_val", SN_LAYER_TCP, f_tcp_mss),
    FN("tcp.options.wscale.shift", SN_LAYER_TCP, f_tcp_wscale),
    FN("tcp.options.timestamp.tsval", SN_LAYER_TCP, f_tcp_tsval),
    FN("tcp.options.timestamp.tsecr", SN_LAYER_TCP, f_tcp_tsecr),
};
#define NFIELDS ((int)SN_COUNTOF(fields))

static const char *names[NFIELDS + 1];

const char *const *sn_dissect_field_names(void)
{
    /* Filled on first use; the writes are idempotent, so racing threads agree. */
    if (!names[0])
        for (int i = NFIELDS - 1; i >= 0; i--)
            names[i] = fields[i].name;
    return names;
}

int sn_dissect_field_id(const char *name)
{
    for (int i = 0; i < NFIELDS; i++)
        if (strcmp(fields[i].name, name) == 0)
            return i;
    return -ENOENT;
}

static uint32_t load_be(const uint8_t *p, unsigned len)
{
    switch (len) {
    case 1: return p[0];
    case 2: return sn_load_be16(p);
    default: return sn_load_be32(p);
    }
}

/* The value of a raw field; mask then shift down to its lowest set bit. */
static uint32_t raw_value(const struct field *f, const uint8_t *p)
{
    uint32_t v = load_be(p + f->off, f->len);
    if (f->mask) {
        v &= f->mask;
        v >>= __builtin_ctz(f->mask);
    }
    return v;
}

/* The value at offset off of the header, if its bytes were captured. */
static int raw_at(const struct field *f, const struct ctx *c, unsigned off, char *o, size_t n)
{
    if (off + f->len > c->l->avail)
        return -1;
    const uint8_t *p = hdr(c);
    switch (f->fmt) {
    case F_DEC: return snprintf(o, n, "%" PRIu32, raw_value(f, p));
    case F_HEX: return snprintf(o, n, "0x%0*" PRIx32, f->width, raw_value(f, p));
    case F_BOOL: return snprintf(o, n, "%d", (load_be(p + f->off, f->len) & f->mask) != 0);
    case F_IPV4: return n >= 16 ? sn_fmt_ipv4(p + f->off, o, n) : -1;
    case F_IPV6: return n >= 46 ? sn_fmt_ipv6(p + f->off, o, n) : -1;
    case F_MAC: return n >= 18 ? sn_fmt_mac(p + f->off, o, n) : -1;
    case F_PAIR_IPV4: return n >= 16 ? sn_fmt_ipv4(p + off, o, n) : -1;
    case F_PAIR_IPV6: return n >= 46 ? sn_fmt_ipv6(p + off, o, n) : -1;
    case F_PAIR_PORT: return snprintf(o, n, "%u", sn_load_be16(p + off));
    }
    return -1;
}

/* Appends one occurrence to out ("a" then "a,b"); -ENOSPC if it does not fit. */
struct acc {
    char *out;
    size_t cap, len;
    int count;
};
static int acc_add(struct acc *a, const char *v, int r)
{
    if (r < 0)
        return 0;
    if (a->len + (a->count ? 1 : 0) + (size_t)r + 1 > a->cap)
        return -ENOSPC;
    if (a->count)
        a->out[a->len++] = ',';
    memcpy(a->out + a->len, v, (size_t)r);
    a->len += (size_t)r;
    a->out[a->len] = 0;
    a->count++;
    return 0;
}

static int layer_values(const struct field *f, const struct ctx *c, struct acc *a)
{
    char tmp[256];
    if (c->l->avail < f->need)
        return 0;
    switch (f->fmt) {
    case F_FN:
        return acc_add(a, tmp, f->fn(c, tmp, sizeof(tmp)));
    case F_PAIR_IPV4:
    case F_PAIR_IPV6:
    case F_PAIR_PORT: {
        int rc = acc_add(a, tmp, raw_at(f, c, f->off, tmp, sizeof(tmp)));
        return rc < 0 ? rc : acc_add(a, tmp, raw_at(f, c, f->width, tmp, sizeof(tmp)));
    }
    default:
        return acc_add(a, tmp, raw_at(f, c, f->off, tmp, sizeof(tmp)));
    }
}

int sn_dissect_field(const struct sn_dissect *d, const struct sn_frame_meta *m, int id, char *out,
                     size_t cap)
{
    if (id < 0 || id >= NFIELDS)
        return -ENOENT;
    if (cap == 0)
        return -ENOSPC;
    const struct field *f = &fields[id];
    struct sn_frame_meta none = {0, 0};
    struct ctx c = {d, d->n ? &d->l[0] : NULL, m ? m : &none};
    struct acc a = {out, cap, 0, 0};
    out[0] = 0;
    if (f->layer == 0) {
        char tmp[64];
        int rc = acc_add(&a, tmp, f->fn(&c, tmp, sizeof(tmp)));
        return rc < 0 ? rc : a.count;
    }
    for (int i = 0; i < d->n; i++) {
        uint8_t kind = d->l[i].kind;
        if (kind != f->layer && !(f->layer == ANY_IP && (kind == SN_LAYER_IPV4 || kind == SN_LAYER_IPV6)))
            continue;
        c.l = &d->l[i];
        int rc = layer_values(f, &c, &a);
        if (rc < 0)
            return rc;
    }
    return a.count;
}
