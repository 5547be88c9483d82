/* sysnet/wire.h — packets on the wire: zero-copy parse and emit for Ethernet II,
 * 802.1Q/QinQ, ARP, IPv4, IPv6 (+ extension headers), ICMPv4, ICMPv6, UDP, TCP
 * (+ options), the Internet checksum, and a whole-frame dissector.
 *
 * The model is smoltcp's wire module, in C:
 *   - a *repr* is a plain struct you build or inspect (struct sn_tcp_repr ...);
 *   - sn_X_parse(p, len, ..., &repr) validates every length against `len`, fills
 *     the repr and returns the number of header bytes consumed (>= 0), or a
 *     negative errno. It never reads past p[len-1] and never allocates. Pointers
 *     in a repr (options, payload) point into the caller's buffer: zero copy.
 *   - sn_X_emit(&repr, ..., p, cap) writes the header (and, where the repr
 *     carries it, the payload) into the caller's buffer, fills length and
 *     checksum fields, and returns the number of bytes written, or -ENOSPC when
 *     cap is too small (nothing useful is written then).
 * Multi-byte fields are read and written with sn_load_be16() & co. (base.h),
 * never with bit-fields or packed structs. Repr fields are in host order.
 *
 * Parse errors are distinct so a caller can tell why:
 *   SN_WIRE_ETRUNC  -ENODATA          fewer bytes than the header, or than a length field claims
 *   SN_WIRE_EBAD    -EBADMSG          a field has an impossible value (version, header length, option)
 *   SN_WIRE_ECSUM   -EILSEQ           the checksum does not verify (the repr IS filled in that case)
 *   SN_WIRE_EUNSUP  -EPROTONOSUPPORT  well-formed, but a variant we do not parse (ARP over non-Ethernet)
 * Checksums are verified only when the caller passes the SN_WIRE_CSUM flag (IPv4) or
 * the addresses of the pseudo-header (UDP, TCP, ICMPv6), so checksum offload can skip it.
 *
 * Thread rules: every function here is pure; no state, no allocation.
 */
#ifndef SYSNET_WIRE_H
#define SYSNET_WIRE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sysnet/base.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SN_WIRE_ETRUNC (-ENODATA)
#define SN_WIRE_EBAD   (-EBADMSG)
#define SN_WIRE_ECSUM  (-EILSEQ)
#define SN_WIRE_EUNSUP (-EPROTONOSUPPORT)

/* Flags for parse functions. */
#define SN_WIRE_CSUM 0x1u    /* verify the checksum (IPv4 header, ICMPv4) */
#define SN_WIRE_PARTIAL 0x2u /* accept a buffer that ends before the length field says
                                (a capture cut at snaplen): only the header must be
                                whole. IP reprs keep the lengths the header declares;
                                payload pointers/lengths (UDP) are clipped to the bytes
                                present; no checksum over missing bytes is verified
                                (IPv4, IPv6, UDP) */

/* ======================================================================
 * Checksums (RFC 1071, RFC 1624)
 * A "sum" is a 32-bit partial one's-complement sum of big-endian 16-bit words,
 * carries folded back in; chain sums over several pieces, every piece but the
 * last of even length. sn_csum_fold() folds to 16 bits and complements: the
 * value to store in a checksum field with sn_store_be16(). A received header
 * whose checksum is correct sums (fold without complement) to 0xffff, i.e.
 * sn_csum(p, len) == 0.
 * ====================================================================== */
uint32_t sn_csum_add(uint32_t sum, const void *p, size_t len); /* 8 bytes at a time */
uint16_t sn_csum_fold(uint32_t sum);
static inline uint16_t sn_csum(const void *p, size_t len) { return sn_csum_fold(sn_csum_add(0, p, len)); }
/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for a 16-bit field changing old -> new. */
uint16_t sn_csum_update16(uint16_t csum, uint16_t old16, uint16_t new16);
/* The same for a 32-bit field (an IPv4 address: NAT, load balancers). */
uint16_t sn_csum_update32(uint16_t csum, uint32_t old32, uint32_t new32);
/* Partial sums of the pseudo-headers (RFC 768/793 for IPv4, RFC 8200 §8.1 for IPv6). */
uint32_t sn_csum_pseudo4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto, uint16_t len);
uint32_t sn_csum_pseudo6(const uint8_t src[16], const uint8_t dst[16], uint8_t nxt, uint32_t len);

/* The addresses an upper layer needs for its pseudo-header. family is 4 or 6;
 * src/dst point at 4 or 16 bytes (usually straight into the IP header). */
struct sn_ipaddrs {
    uint8_t family;
    const uint8_t *src;
    const uint8_t *dst;
};

/* ======================================================================
 * Ethernet II and 802.1Q / 802.1ad (QinQ)
 * ====================================================================== */
enum {
    SN_ETH_HLEN = 14,
    SN_ETH_DST = 0, SN_ETH_SRC = 6, SN_ETH_TYPE = 12,
    SN_VLAN_HLEN = 4, /* TCI(2) + inner ethertype(2), after the outer ethertype */
};
#define SN_ETHERTYPE_IPV4 0x0800
#define SN_ETHERTYPE_ARP  0x0806
#define SN_ETHERTYPE_VLAN 0x8100 /* 802.1Q C-tag */
#define SN_ETHERTYPE_QINQ 0x88a8 /* 802.1ad S-tag */
#define SN_ETHERTYPE_IPV6 0x86dd

struct sn_eth_repr {
    uint8_t dst[6];
    uint8_t src[6];
    uint16_t type; /* ethertype (>= 0x0600); VLAN tags follow when 0x8100/0x88a8/0x9100 */
};
int sn_eth_parse(const uint8_t *p, size_t len, struct sn_eth_repr *r);           /* 14 */
int sn_eth_emit(const struct sn_eth_repr *r, uint8_t *p, size_t cap);            /* 14 */
/* 1 for the ethertypes that announce a VLAN tag (0x8100, 0x88a8, 0x9100). */
int sn_eth_is_vlan(uint16_t type);

struct sn_vlan_repr {
    uint8_t pcp;   /* priority code point, 3 bits */
    uint8_t dei;   /* drop eligible, 1 bit */
    uint16_t vid;  /* VLAN id, 12 bits */
    uint16_t type; /* the ethertype that follows this tag */
};
int sn_vlan_parse(const uint8_t *p, size_t len, struct sn_vlan_repr *r);         /* 4 */
int sn_vlan_emit(const struct sn_vlan_repr *r, uint8_t *p, size_t cap);          /* 4; -EINVAL if vid > 4095 */

/* ======================================================================
 * ARP (RFC 826), Ethernet + IPv4 only
 * ====================================================================== */
enum { SN_ARP_LEN = 28 };
#define SN_ARP_REQUEST 1
#define SN_ARP_REPLY   2
struct sn_arp_repr {
    uint16_t op;     /* 1 request, 2 reply */
    uint8_t sha[6];  /* sender hardware address */
    uint8_t spa[4];  /* sender protocol address */
    uint8_t tha[6];  /* target hardware address */
    uint8_t tpa[4];  /* target protocol address */
};
/* -EPROTONOSUPPORT if htype != 1, ptype != 0x0800, hlen != 6 or plen != 4. */
int sn_arp_parse(const uint8_t *p, size_t len, struct sn_arp_repr *r);           /* 28 */
int sn_arp_emit(const struct sn_arp_repr *r, uint8_t *p, size_t cap);            /* 28 */

/* ======================================================================
 * IPv4 (RFC 791)
 * ====================================================================== */
enum {
    SN_IPV4_HLEN = 20, SN_IPV4_MAX_HLEN = 60,
    SN_IPV4_VER_IHL = 0, SN_IPV4_TOS = 1, SN_IPV4_LEN = 2, SN_IPV4_ID = 4, SN_IPV4_FRAG = 6,
    SN_IPV4_TTL = 8, SN_IPV4_PROTO = 9, SN_IPV4_CSUM = 10, SN_IPV4_SRC = 12, SN_IPV4_DST = 16,
};
#define SN_IPPROTO_HOPOPTS 0
#define SN_IPPROTO_ICMP    1
#define SN_IPPROTO_TCP     6
#define SN_IPPROTO_UDP     17
#define SN_IPPROTO_ROUTING 43
#define SN_IPPROTO_FRAGMENT 44
#define SN_IPPROTO_ICMPV6  58
#define SN_IPPROTO_NONE    59
#define SN_IPPROTO_DSTOPTS 60

struct sn_ipv4_repr {
    uint8_t hdr_len;      /* parse: IHL*4 (20..60); emit: computed, 20 + opts_len rounded up to 4 */
    uint8_t tos;          /* DSCP (6 bits) and ECN (2 bits) */
    uint16_t total_len;   /* parse: the header's total length; emit: ignored (hdr_len + payload_len) */
    uint16_t payload_len; /* total_len - hdr_len */
    uint16_t id;
    uint8_t rf;           /* reserved ("evil") bit */
    uint8_t df;           /* don't fragment */
    uint8_t mf;           /* more fragments */
    uint16_t frag_off;    /* fragment offset in 8-byte units (13 bits) */
    uint8_t ttl;
    uint8_t proto;
    uint16_t checksum;    /* parse: as found; emit: computed */
    uint8_t src[4];
    uint8_t dst[4];
    const uint8_t *opts;  /* options (hdr_len - 20 bytes), zero copy; emit copies and pads with EOL */
    uint8_t opts_len;
};
/* Checks: len >= 20, version 4, hdr_len >= 20 and <= len, total_len >= hdr_len and
 * <= len (ETRUNC if the buffer is shorter than total_len), options well formed.
 * Bytes past total_len (Ethernet padding) are not part of the packet. */
int sn_ipv4_parse(const uint8_t *p, size_t len, unsigned flags, struct sn_ipv4_repr *r);
/* Writes the header only (the payload of payload_len bytes follows it). */
int sn_ipv4_emit(const struct sn_ipv4_repr *r, uint8_t *p, size_t cap);

/* One IPv4 or TCP option while walking an option list. */
struct sn_opt {
    uint8_t kind;
    uint8_t len;          /* whole option length including kind/len; 1 for EOL/NOP */
    const uint8_t *data;  /* len - 2 bytes of value (NULL for EOL/NOP) */
};
/* Walk IPv4 (RFC 791 §3.1) or TCP (RFC 9293 §3.1) options: kind 0 = EOL, 1 = NOP,
 * others kind,len,value. *off starts at 0. Returns 1 with *o filled, 0 at the end
 * (EOL or no bytes left), SN_WIRE_EBAD for a length < 2 or past the end. */
int sn_opt_next(const uint8_t *opts, size_t len, size_t *off, struct sn_opt *o);

/* ======================================================================
 * IPv6 (RFC 8200) and its extension-header chain
 * ====================================================================== */
enum { SN_IPV6_HLEN = 40, SN_IPV6_SRC = 8, SN_IPV6_DST = 24, SN_IPV6_MAX_EXT = 8 };

struct sn_ipv6_repr {
    uint8_t tclass;       /* traffic class */
    uint32_t flow;        /* flow label, 20 bits */
    uint16_t payload_len; /* bytes after the fixed 40-byte header, extensions included */
    uint8_t next_header;
    uint8_t hop_limit;
    uint8_t src[16];
    uint8_t dst[16];
};
/* Checks: len >= 40, version 6, 40 + payload_len <= len (ETRUNC otherwise).
 * A payload length of 0 with a hop-by-hop header (jumbogram) is EUNSUP. */
int sn_ipv6_parse(const uint8_t *p, size_t len, unsigned flags, struct sn_ipv6_repr *r); /* 40 */
int sn_ipv6_emit(const struct sn_ipv6_repr *r, uint8_t *p, size_t cap);          /* 40 */

/* One extension header found while walking the chain. */
struct sn_ipv6_ext {
    uint8_t type;         /* SN_IPPROTO_HOPOPTS / ROUTING / FRAGMENT / DSTOPTS */
    uint8_t next;         /* its next-header field */
    uint16_t off;         /* offset from the start of the IPv6 header */
    uint16_t len;         /* whole length of this extension header in bytes */
};
struct sn_ipv6_chain {
    uint8_t n;                              /* extension headers found */
    struct sn_ipv6_ext ext[SN_IPV6_MAX_EXT];
    uint8_t upper;                          /* the upper-layer protocol (6, 17, 58, 59 ...) */
    uint16_t upper_off;                     /* its offset from the start of the IPv6 header */
    uint8_t has_frag;                       /* a fragment header was seen */
    uint16_t frag_off;                      /* its offset in 8-byte units */
    uint8_t frag_more;                      /* M flag */
    uint32_t frag_id;                       /* identification */
};
/* Returns upper_off (>= 0). On an error, c->n counts the headers found before it.
 * Walk the extension headers of the packet p[0..len) (len counted from the IPv6
 * header; the walk never goes past 40 + payload_len). Hop-by-hop must come first
 * (EBAD otherwise); more than SN_IPV6_MAX_EXT headers is EBAD; a header that runs past
 * the end is ETRUNC. For a non-first fragment (offset != 0) the walk stops at the
 * fragment header: upper is the fragment's next header, upper_off the end of the chain. */
int sn_ipv6_walk(const uint8_t *p, size_t len, struct sn_ipv6_chain *c);
/* Emit a hop-by-hop or destination-options header holding opts[0..optlen), padded
 * with Pad1/PadN to a multiple of 8. Returns the bytes written. */
int sn_ipv6_opts_emit(uint8_t type, uint8_t next, const uint8_t *opts, size_t optlen, uint8_t *p,
                      size_t cap);
/* Emit a routing header: type, segments left, then data (len a multiple of 8, minus 4). */
int sn_ipv6_rh_emit(uint8_t next, uint8_t rtype, uint8_t segleft, const uint8_t *data, size_t dlen,
                    uint8_t *p, size_t cap);
/* Emit a fragment header (8 bytes). off in 8-byte units. */
int sn_ipv6_frag_emit(uint8_t next, uint16_t off, int more, uint32_t id, uint8_t *p, size_t cap);

/* ======================================================================
 * ICMPv4 (RFC 792)
 * ====================================================================== */
enum { SN_ICMP4_HLEN = 8 };
#define SN_ICMP_ECHOREPLY    0
#define SN_ICMP_UNREACH      3
#define SN_ICMP_ECHO         8
#define SN_ICMP_TIMXCEED     11
struct sn_icmp4_repr {
    uint8_t type;
    uint8_t code;
    uint16_t checksum;      /* parse: as found; emit: computed over header + data */
    uint16_t id;            /* echo: identifier (bytes 4-5); other types without a use for them: raw */
    uint16_t seq;           /* echo: sequence (bytes 6-7) */
    uint16_t mtu;           /* unreachable code 4: next-hop MTU (bytes 6-7) */
    const uint8_t *data;    /* bytes after the 8-byte header: echo data, or the
                               offending IP header + 8 bytes for errors */
    size_t data_len;
};
/* Checksum verified over all len bytes when flags has SN_WIRE_CSUM. For errors
 * (3, 11) the emit writes bytes 4-7 as zero (or the MTU for 3/4). */
int sn_icmp4_parse(const uint8_t *p, size_t len, unsigned flags, struct sn_icmp4_repr *r);
int sn_icmp4_emit(const struct sn_icmp4_repr *r, uint8_t *p, size_t cap);      /* 8 + data_len */

/* ======================================================================
 * ICMPv6 (RFC 4443) and neighbour discovery (RFC 4861)
 * ====================================================================== */
enum { SN_ICMP6_HLEN = 8 };
#define SN_ICMP6_UNREACH   1
#define SN_ICMP6_TOOBIG    2
#define SN_ICMP6_TIMXCEED  3
#define SN_ICMP6_ECHO      128
#define SN_ICMP6_ECHOREPLY 129
#define SN_ICMP6_RS        133
#define SN_ICMP6_RA        134
#define SN_ICMP6_NS        135
#define SN_ICMP6_NA        136
#define SN_ND_OPT_SLLA 1 /* source link-layer address */
#define SN_ND_OPT_TLLA 2 /* target link-layer address */
struct sn_icmp6_repr {
    uint8_t type;
    uint8_t code;
    uint16_t checksum;
    uint16_t id, seq;        /* echo; bytes 4-7 for types that give them no other meaning */
    uint32_t mtu;            /* packet too big: MTU; parameter problem: pointer */
    uint8_t target[16];      /* NS / NA target address */
    uint8_t na_flags;        /* NA: 0x80 router, 0x40 solicited, 0x20 override */
    uint8_t has_lladdr;      /* NS/NA carried a source/target link-layer address option */
    uint8_t lladdr[6];
    const uint8_t *data;     /* after the 8-byte header (echo data, invoking packet)
                                or, for NS/NA, the options after the target */
    size_t data_len;
};
/* ip (may be NULL to skip) gives the pseudo-header for the checksum. NS/NA shorter
 * than 24 bytes or with an option of length 0 is EBAD. */
int sn_icmp6_parse(const uint8_t *p, size_t len, const struct sn_ipaddrs *ip,
                   struct sn_icmp6_repr *r);
/* Emits header, the NS/NA target and lladdr option when has_lladdr, then data.
 * data from parse already holds the options (lladdr included): clear has_lladdr to
 * re-emit a parsed NS/NA verbatim. */
int sn_icmp6_emit(const struct sn_icmp6_repr *r, const struct sn_ipaddrs *ip, uint8_t *p, size_t cap);

/* ======================================================================
 * UDP (RFC 768)
 * ====================================================================== */
enum { SN_UDP_HLEN = 8 };
struct sn_udp_repr {
    uint16_t sport, dport;
    uint16_t length;         /* parse: as found (8 + payload); emit: computed */
    uint16_t checksum;       /* parse: as found (0 = none over IPv4); emit: computed */
    const uint8_t *payload;
    size_t payload_len;
};
/* length < 8 is EBAD, length > len is ETRUNC (with SN_WIRE_PARTIAL: accepted,
 * payload_len clipped to the bytes present, no checksum verified). ip != NULL: verify
 * the checksum (a zero checksum over IPv4 means "none" and passes; over IPv6 it is ECSUM). */
int sn_udp_parse(const uint8_t *p, size_t len, unsigned flags, const struct sn_ipaddrs *ip,
                 struct sn_udp_repr *r);
/* ip == NULL writes checksum 0 (IPv4 only). Copies the payload. */
int sn_udp_emit(const struct sn_udp_repr *r, const struct sn_ipaddrs *ip, uint8_t *p, size_t cap);

/* ======================================================================
 * TCP (RFC 9293) with options (RFC 7323 window scale/timestamps, RFC 2018 SACK)
 * ====================================================================== */
enum { SN_TCP_HLEN = 20, SN_TCP_MAX_HLEN = 60, SN_TCP_MAX_SACK = 4 };
#define SN_TCP_FIN 0x001
#define SN_TCP_SYN 0x002
#define SN_TCP_RST 0x004
#define SN_TCP_PSH 0x008
#define SN_TCP_ACK 0x010
#define SN_TCP_URG 0x020
#define SN_TCP_ECE 0x040
#define SN_TCP_CWR 0x080
#define SN_TCP_AE  0x100  /* formerly NS (RFC 3540), now AccECN */
#define SN_TCPOPT_EOL 0
#define SN_TCPOPT_NOP 1
#define SN_TCPOPT_MSS 2
#define SN_TCPOPT_WSCALE 3
#define SN_TCPOPT_SACK_PERM 4
#define SN_TCPOPT_SACK 5
#define SN_TCPOPT_TIMESTAMP 8
struct sn_tcp_repr {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t hdr_len;          /* parse: data offset * 4; emit: computed from the options */
    uint16_t flags;           /* SN_TCP_* (12 bits: 3 reserved + AE + 8 flags) */
    uint16_t window;          /* raw window field (unscaled) */
    uint16_t checksum;
    uint16_t urgent;
    /* options; parse fills the has_* flags, emit writes what is set */
    uint8_t has_mss, has_wscale, sack_perm, has_ts;
    uint16_t mss;
    uint8_t wscale;           /* shift count: parse as sent; emit 0..14 or -EINVAL */
    uint32_t ts_val, ts_ecr;
    uint8_t nsack;            /* SACK blocks, at most SN_TCP_MAX_SACK */
    uint32_t sack[SN_TCP_MAX_SACK][2]; /* left, right edges */
    const uint8_t *opts;      /* raw options (parse), zero copy */
    uint8_t opts_len;
    const uint8_t *payload;
    size_t payload_len;
};
/* Checks: len >= 20, 20 <= data offset*4 <= len, options well formed (a known option
 * with the wrong length is EBAD). ip != NULL: verify the checksum over all len bytes
 * (pass exactly the segment: IP total length minus IP header). */
int sn_tcp_parse(const uint8_t *p, size_t len, const struct sn_ipaddrs *ip, struct sn_tcp_repr *r);
/* Options are written in Linux's order (MSS, SACK-permitted, timestamps, NOP, window
 * scale; SACK blocks after NOP NOP), padded to 4 bytes. Copies the payload and fills
 * the checksum when ip != NULL (else 0). */
int sn_tcp_emit(const struct sn_tcp_repr *r, const struct sn_ipaddrs *ip, uint8_t *p, size_t cap);

/* ======================================================================
 * Dissection: a whole frame, layer by layer, as far as its bytes go.
 * ====================================================================== */
#define SN_LINKTYPE_ETHERNET 1   /* DLT_EN10MB */
#define SN_LINKTYPE_RAW      101 /* raw IPv4/IPv6 */
#define SN_LINKTYPE_LINUX_SLL 113

enum sn_layer_kind {
    SN_LAYER_ETH = 1, SN_LAYER_VLAN, SN_LAYER_ARP, SN_LAYER_IPV4, SN_LAYER_IPV6,
    SN_LAYER_IPV6_EXT, SN_LAYER_ICMP4, SN_LAYER_ICMP6, SN_LAYER_UDP, SN_LAYER_TCP,
    SN_LAYER_QINQ, /* an 802.1ad service tag (TPID 0x88a8); u.vlan like an 802.1Q tag */
};
enum sn_csum_status {
    SN_CSUM_BAD = 0,        /* as tshark's checksum.status: 0 bad */
    SN_CSUM_GOOD = 1,       /* 1 good */
    SN_CSUM_UNVERIFIED = 2, /* 2 not checked (truncated, fragment, zero UDP checksum) */
    SN_CSUM_NOT_PRESENT = 3,/* 3 the sender sent none (UDP over IPv4 with checksum 0) */
    SN_CSUM_ILLEGAL = 4,    /* 4 a zero UDP checksum over IPv6 (RFC 8200 §8.1) */
    SN_CSUM_NONE = 5,       /* the layer has no checksum field */
};
struct sn_layer {
    uint8_t kind;          /* enum sn_layer_kind */
    uint8_t csum;          /* enum sn_csum_status */
    uint8_t inner;         /* 1 inside an ICMP error (the quoted packet) */
    uint8_t complete;      /* 1 if the whole header was captured and parsed */
    int err;               /* 0, or the parse error that stopped the dissection here */
    uint32_t off;          /* offset of the header in the frame */
    uint32_t avail;        /* captured bytes from off to the end of the frame */
    uint32_t hdr_len;      /* header length (0 if unknown) */
    union {
        struct sn_eth_repr eth;
        struct sn_vlan_repr vlan;
        struct sn_arp_repr arp;
        struct sn_ipv4_repr ipv4;
        struct { struct sn_ipv6_repr ip; struct sn_ipv6_chain chain; } ipv6;
        struct sn_icmp4_repr icmp4;
        struct sn_icmp6_repr icmp6;
        struct sn_udp_repr udp;
        struct sn_tcp_repr tcp;
    } u;                   /* valid only if complete */
};
#define SN_DISSECT_MAX_LAYERS 12
struct sn_dissect {
    const uint8_t *frame;  /* the frame, not copied */
    uint32_t caplen;       /* captured bytes */
    uint32_t wirelen;      /* length on the wire */
    uint32_t linktype;
    uint8_t n;             /* layers found */
    struct sn_layer l[SN_DISSECT_MAX_LAYERS];
};
/* Dissect a frame: every layer it can, checksums verified where the bytes allow.
 * Returns the number of layers (>= 0), or -EPROTONOSUPPORT for an unknown linktype.
 * A truncated or malformed header ends the walk with that layer's err set: the
 * layers before it stay valid. Never reads past caplen. */
int sn_dissect(const uint8_t *frame, uint32_t caplen, uint32_t wirelen, uint32_t linktype,
               struct sn_dissect *d);
/* The first / next layer of a kind, or NULL. */
const struct sn_layer *sn_dissect_find(const struct sn_dissect *d, int kind, const struct sn_layer *after);

/* Field values with tshark's names and formats (for `sysnet sniff -T fields`):
 * `sn_dissect_field_id("ip.src")` resolves a name once (-ENOENT if unknown), then
 * sn_dissect_field() writes every occurrence of the field in the frame,
 * comma-separated, into out (NUL-terminated) and returns the number of occurrences
 * (0 = absent, out = ""), or -ENOSPC if out is too small. The frame.* fields come
 * from the caller's metadata (number, timestamp). */
struct sn_frame_meta {
    uint64_t number;  /* frame.number, 1-based */
    int64_t ts_ns;    /* frame.time_epoch, ns since the epoch */
};
int sn_dissect_field_id(const char *name);
int sn_dissect_field(const struct sn_dissect *d, const struct sn_frame_meta *m, int id, char *out,
                     size_t cap);
/* The field names, NULL-terminated; index i is field id i. */
const char *const *sn_dissect_field_names(void);

/* A tcpdump-style one-line summary of the frame ("IP 198.18.0.1.3412 > 198.18.0.2.80:
 * Flags [S], seq 1, win 64240, length 0"), without the timestamp. Returns the length
 * written (truncated to cap-1 like snprintf), never fails. */
int sn_dissect_summary(const struct sn_dissect *d, char *out, size_t cap);

/* Addresses are formatted with sn_fmt_mac / sn_fmt_ipv4 / sn_fmt_ipv6 (sock.h). */

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_WIRE_H */
