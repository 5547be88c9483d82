/* summary.c — a tcpdump-style one-line summary of a dissected frame
 * ("IP 198.18.0.1.40000 > 198.18.0.2.80: Flags [S], seq 1, win 64240, length 0").
 * Numeric addresses only (tcpdump -n); never fails, truncates like snprintf. */
#include <sysnet/sock.h>
#include <sysnet/wire.h>

#include <stdarg.h>
#include <stdio.h>

struct out {
    char *p;
    size_t cap, len;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    int r = vsnprintf(o->p + (room ? o->len : 0), room, fmt, ap);
    va_end(ap);
    if (r > 0)
        o->len += (size_t)r;
}

static void tcp_flags(struct out *o, uint16_t f)
{
    static const struct { uint16_t bit; char c; } tab[] = {
        {SN_TCP_FIN, 'F'}, {SN_TCP_SYN, 'S'}, {SN_TCP_RST, 'R'}, {SN_TCP_PSH, 'P'},
        {SN_TCP_URG, 'U'}, {SN_TCP_ECE, 'E'}, {SN_TCP_CWR, 'W'},
    };
    char s[12];
    size_t k = 0;
    for (size_t i = 0; i < SN_COUNTOF(tab); i++)
        if (f & tab[i].bit)
            s[k++] = tab[i].c;
    if (f & SN_TCP_ACK)
        s[k++] = '.';
    if (!k)
        s[k++] = 'n', s[k++] = 'o', s[k++] = 'n', s[k++] = 'e';
    s[k] = 0;
    put(o, "Flags [%s]", s);
}

/* "a.port > b.port" or "a > b" for the IP layer under `l`. */
static void endpoints(struct out *o, const struct sn_dissect *d, const struct sn_layer *ip,
                      const struct sn_layer *l4, int ports)
{
    char a[48], b[48];
    const uint8_t *h = d->frame + ip->off;
    if (ip->kind == SN_LAYER_IPV4) {
        sn_fmt_ipv4(h + SN_IPV4_SRC, a, sizeof(a));
        sn_fmt_ipv4(h + SN_IPV4_DST, b, sizeof(b));
    } else {
        sn_fmt_ipv6(h + SN_IPV6_SRC, a, sizeof(a));
        sn_fmt_ipv6(h + SN_IPV6_DST, b, sizeof(b));
    }
    if (ports && l4) {
        const uint8_t *t = d->frame + l4->off;
        put(o, "%s.%u > %s.%u: ", a, sn_load_be16(t), b, sn_load_be16(t + 2));
    } else {
        put(o, "%s > %s: ", a, b);
    }
}

static void icmp4(struct out *o, const struct sn_icmp4_repr *r)
{
    switch (r->type) {
    case SN_ICMP_ECHO:
    case SN_ICMP_ECHOREPLY:
        put(o, "ICMP echo %s, id %u, seq %u, length %zu", r->type ? "request" : "reply", r->id, r->seq,
            r->data_len + SN_ICMP4_HLEN);
        break;
    case SN_ICMP_UNREACH:
        put(o, "ICMP unreachable, code %u", r->code);
        break;
    case SN_ICMP_TIMXCEED:
        put(o, "ICMP time exceeded in-transit, code %u", r->code);
        break;
    default:
        put(o, "ICMP type %u, code %u", r->type, r->code);
    }
}

static void icmp6(struct out *o, const struct sn_icmp6_repr *r)
{
    char t[48];
    switch (r->type) {
    case SN_ICMP6_ECHO:
    case SN_ICMP6_ECHOREPLY:
        put(o, "ICMP6, echo %s, id %u, seq %u, length %zu", r->type == SN_ICMP6_ECHO ? "request" : "reply",
            r->id, r->seq, r->data_len + SN_ICMP6_HLEN);
        break;
    case SN_ICMP6_NS:
        sn_fmt_ipv6(r->target, t, sizeof(t));
        put(o, "ICMP6, neighbor solicitation, who has %s", t);
        break;
    case SN_ICMP6_NA:
        sn_fmt_ipv6(r->target, t, sizeof(t));
        put(o, "ICMP6, neighbor advertisement, tgt is %s", t);
        break;
    case SN_ICMP6_UNREACH:
        put(o, "ICMP6, destination unreachable, code %u", r->code);
        break;
    case SN_ICMP6_TIMXCEED:
        put(o, "ICMP6, time exceeded in-transit, code %u", r->code);
        break;
    default:
        put(o, "ICMP6, type %u, code %u", r->type, r->code);
    }
}

static void transport(struct out *o, const struct sn_dissect *d, const struct sn_layer *ip,
                      const struct sn_layer *l4, uint32_t ip_payload)
{
    if (!l4 || l4->inner || !l4->complete) {
        endpoints(o, d, ip, NULL, 0);
        if (l4 && !l4->complete)
            put(o, "[|%s]", l4->kind == SN_LAYER_TCP ? "tcp" : l4->kind == SN_LAYER_UDP ? "udp" : "icmp");
        else
            put(o, "ip-proto-%u %u", ip->kind == SN_LAYER_IPV4 ? ip->u.ipv4.proto : ip->u.ipv6.chain.upper,
                ip_payload);
        return;
    }
    switch (l4->kind) {
    case SN_LAYER_TCP: {
        const struct sn_tcp_repr *t = &l4->u.tcp;
        endpoints(o, d, ip, l4, 1);
        tcp_flags(o, t->flags);
        uint32_t plen = ip_payload >= t->hdr_len ? ip_payload - t->hdr_len : 0;
        if (plen || (t->flags & (SN_TCP_SYN | SN_TCP_FIN | SN_TCP_RST)))
            put(o, ", seq %u", t->seq);
        if (plen)
            put(o, ":%u", t->seq + plen);
        if (t->flags & SN_TCP_ACK)
            put(o, ", ack %u", t->ack);
        put(o, ", win %u", t->window);
        if (t->has_mss || t->has_wscale || t->has_ts)
            put(o, ", options [%s%s%s]", t->has_mss ? "mss " : "", t->has_wscale ? "wscale " : "",
                t->has_ts ? "TS" : "");
        put(o, ", length %u", plen);
        break;
    }
    case SN_LAYER_UDP:
        endpoints(o, d, ip, l4, 1);
        put(o, "UDP, length %u", l4->u.udp.length >= 8 ? l4->u.udp.length - 8u : 0);
        break;
    case SN_LAYER_ICMP4:
        endpoints(o, d, ip, NULL, 0);
        icmp4(o, &l4->u.icmp4);
        break;
    case SN_LAYER_ICMP6:
        endpoints(o, d, ip, NULL, 0);
        icmp6(o, &l4->u.icmp6);
        break;
    }
}

static void arp(struct out *o, const struct sn_layer *l)
{
    char a[16], b[16], m[18];
    const struct sn_arp_repr *r = &l->u.arp;
    sn_fmt_ipv4(r->tpa, a, sizeof(a));
    sn_fmt_ipv4(r->spa, b, sizeof(b));
    if (r->op == SN_ARP_REQUEST) {
        put(o, "ARP, Request who-has %s tell %s, length 28", a, b);
    } else if (r->op == SN_ARP_REPLY) {
        sn_fmt_mac(r->sha, m, sizeof(m));
        put(o, "ARP, Reply %s is-at %s, length 28", b, m);
    } else {
        put(o, "ARP, opcode %u, length 28", r->op);
    }
}

int sn_dissect_summary(const struct sn_dissect *d, char *out, size_t cap)
{
    struct out o = {out, cap, 0};
    if (cap)
        out[0] = 0;
    for (int i = 0; i < d->n; i++) {
        const struct sn_layer *l = &d->l[i];
        if (l->inner)
            break;
        if ((l->kind == SN_LAYER_VLAN || l->kind == SN_LAYER_QINQ) && l->complete) {
            put(&o, "%s %u, ", l->kind == SN_LAYER_QINQ ? "qinq" : "vlan", l->u.vlan.vid);
            continue;
        }
        if (!l->complete) {
            static const char *nm[] = {"", "ether", "vlan", "arp", "ip", "ip6", "ip6", "icmp", "icmp6", "udp", "tcp", "qinq"};
            if (l->kind == SN_LAYER_TCP || l->kind == SN_LAYER_UDP || l->kind == SN_LAYER_ICMP4 ||
                l->kind == SN_LAYER_ICMP6)
                break; /* reported by transport() */
            put(&o, "[|%s]", l->kind < SN_COUNTOF(nm) ? nm[l->kind] : "?");
            return (int)SN_MIN(o.len, cap ? cap - 1 : 0);
        }
        const struct sn_layer *next = i + 1 < d->n ? &d->l[i + 1] : NULL;
        switch (l->kind) {
        case SN_LAYER_ARP:
            arp(&o, l);
            return (int)SN_MIN(o.len, cap ? cap - 1 : 0);
        case SN_LAYER_IPV4: {
            const struct sn_ipv4_repr *r = &l->u.ipv4;
            put(&o, "IP ");
            if (r->frag_off || r->mf) {
                endpoints(&o, d, l, NULL, 0);
                put(&o, "ip-proto-%u (frag %u:%u@%u%s)", r->proto, r->id, r->payload_len, r->frag_off * 8u,
                    r->mf ? "+" : "");
                if (!next || r->frag_off)
                    return (int)SN_MIN(o.len, cap ? cap - 1 : 0);
                o.len = 0;
                put(&o, "IP ");
            }
            transport(&o, d, l, next, r->payload_len);
            return (int)SN_MIN(o.len, cap ? cap - 1 : 0);
        }
        case SN_LAYER_IPV6: {
            put(&o, "IP6 ");
            const struct sn_ipv6_chain *c = &l->u.ipv6.chain;
            uint32_t pl = (uint32_t)SN_IPV6_HLEN + l->u.ipv6.ip.payload_len;
            if (c->has_frag && (c->frag_off || c->frag_more)) {
                endpoints(&o, d, l, NULL, 0);
                put(&o, "frag (%u|%u)", c->frag_off * 8u, pl - c->upper_off);
                return (int)SN_MIN(o.len, cap ? cap - 1 : 0);
            }
            transport(&o, d, l, next, pl >= c->upper_off ? pl - c->upper_off : 0);
            return (int)SN_MIN(o.len, cap ? cap - 1 : 0);
        }
        default:
            break;
        }
    }
    const struct sn_layer *last = d->n ? &d->l[d->n - 1] : NULL;
    if (last && (last->kind <= SN_LAYER_VLAN || last->kind == SN_LAYER_QINQ) && d->l[0].complete) {
        char s[18], t[18];
        sn_fmt_mac(d->l[0].u.eth.src, s, sizeof(s));
        sn_fmt_mac(d->l[0].u.eth.dst, t, sizeof(t));
        uint16_t type = last->kind == SN_LAYER_ETH ? d->l[0].u.eth.type : last->u.vlan.type;
        put(&o, "%s > %s, ethertype 0x%04x, length %u", s, t, type, d->wirelen);
    }
    return (int)SN_MIN(o.len, cap ? cap - 1 : 0);
}
