/* sysnet/scan.h — stateless TCP SYN scanning in masscan's style: what to scan
 * (target and port specs), in which order (a keyed permutation of the index
 * range), how fast (a token bucket), how to recognise the answers without
 * remembering the questions (SipHash SYN cookies), the packets themselves, and
 * an engine that runs a whole scan over raw sockets.
 *
 * The design (Robert Graham, masscan, "doc/algorithm.js" and "src/main.c"):
 *   - Every (address, port) pair is an index i in [0, N). Index i is address
 *     i mod A and port i div A, A = the number of addresses (so one round over
 *     a few ports touches every host once per port before the next port).
 *   - The transmit side walks j = 0..N-1 and sends a SYN to target perm(j),
 *     perm a keyed pseudo-random permutation: no list of targets is built, and
 *     consecutive probes go to unrelated hosts (no burst on one subnet).
 *   - A SYN's sequence number is a cookie: SipHash-2-4 of the four-tuple under
 *     a random 128-bit key. The receive side recognises a SYN-ACK or RST as an
 *     answer to one of our probes from the cookie alone: no per-probe state.
 *   - Retries (our choice, see sn_scan_run): a 2-bit state per index records
 *     the first answer, so a retry round re-sends only unanswered probes and,
 *     at the end, unanswered = filtered.
 *
 * Errors: functions return >= 0 or a negative errno (base.h). The spec parsers
 * return -EINVAL (malformed) or -E2BIG (over a limit) and, when why != NULL,
 * set *why to a static one-line reason a tool can print; on failure the
 * target set is left exactly as it was.
 *
 * Memory: nothing here allocates. struct sn_scan_targets is about 28 KiB of
 * caller memory (static or heap); the engine's state table is caller memory
 * of sn_scan_states_size(N) bytes.
 *
 * Privileges: only sn_scan_run (raw sockets: CAP_NET_RAW; -EPERM otherwise).
 *
 * Thread rules: everything but sn_scan_run is pure or works on caller memory
 * used by one thread at a time. sn_scan_key_random reads getrandom(2).
 */
#ifndef SYSNET_SCAN_H
#define SYSNET_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <sysnet/base.h>
#include <sysnet/siphash.h>
#include <sysnet/wire.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================
 * The key: one random 128-bit secret per scan, for cookies and order
 * ====================================================================== */
struct sn_scan_key {
    uint8_t k[SN_SIPHASH_KEYLEN]; /* SipHash key: cookies and the permutation */
};

/* Fill *key from getrandom(2) (blocks only until the kernel's pool is first
 * seeded, at boot). 0 or -errno. */
int sn_scan_key_random(struct sn_scan_key *key);

/* ======================================================================
 * SYN cookies
 * ======================================================================
 * cookie = low 32 bits of SipHash-2-4(key, src ip | dst ip | sport | dport),
 * the four-tuple *of the probe* (src = us, dst = the target), addresses as on
 * the wire (4 or 16 bytes), ports big-endian: 12 bytes for IPv4, 36 for IPv6.
 * The probe carries seq = cookie, ack = 0, flags SYN.
 *
 * A reply (src = the target, dst = us) is ours when, with the cookie computed
 * from the reply's tuple turned around:
 *   SYN-ACK (SYN and ACK set, RST clear): ack - 1 == cookie -> open.
 *     RFC 9293 §3.10.7.3: the SYN-ACK acknowledges our SYN, which took one
 *     sequence number, so ack = seq + 1.
 *   RST (RST set, SYN clear): ack - 1 == cookie -> closed.
 *     RFC 9293 §3.10.7.1 (CLOSED state): a segment without ACK (our SYN) is
 *     answered <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, SEG.LEN = 1 for a
 *     SYN. Like masscan we read the ack field whether or not the ACK bit is
 *     set (a few middleboxes forget it); the RST's own seq is not checked (it
 *     is 0 from RFC stacks and arbitrary from some firewalls).
 *   Anything else (a bare ACK, SYN without ACK, wrong cookie) is not ours.
 * A forger who does not know the key passes with probability 2^-32 per packet.
 * ICMP errors are not used: an unanswered probe counts as filtered.
 */
uint32_t sn_scan_cookie(const struct sn_scan_key *key, const struct sn_ipaddrs *probe,
                        uint16_t sport, uint16_t dport);

/* The status of one (address, port), 2 bits. */
enum sn_scan_status {
    SN_SCAN_NONE = 0,     /* no answer (yet); after the last round: filtered */
    SN_SCAN_OPEN = 1,     /* answered SYN-ACK */
    SN_SCAN_CLOSED = 2,   /* answered RST */
    SN_SCAN_FILTERED = 3, /* reported only: no answer after every retry and the wait */
};
/* "open", "closed", "filtered", "none". */
const char *sn_scan_status_name(int status);

/* Classify a received TCP segment: `reply` holds its IP addresses as received
 * (src = the target), `tcp` its parsed header. SN_SCAN_OPEN or SN_SCAN_CLOSED
 * for an answer to one of our probes by the rules above, SN_SCAN_NONE for
 * anything else. */
int sn_scan_match(const struct sn_scan_key *key, const struct sn_ipaddrs *reply,
                  const struct sn_tcp_repr *tcp);

/* ======================================================================
 * The packets (IPv4): the SYN we send, the reply we parse, the RST we answer
 * ====================================================================== */
/* Options of the SYN. masscan sends window 1024, MSS 1460 and TTL 255; a SYN
 * without options stands out to IDSes, one with MSS only looks like an old stack. */
#define SN_SCAN_SYN_WINDOW 1024
#define SN_SCAN_SYN_MSS    1460
#define SN_SCAN_SYN_TTL    255
#define SN_SCAN_SYN_LEN    44 /* IPv4 20 + TCP 20 + MSS option 4 */
#define SN_SCAN_RST_LEN    40 /* IPv4 20 + TCP 20 */

struct sn_scan_probe {
    uint8_t src[4];   /* our address */
    uint8_t dst[4];   /* the target */
    uint16_t sport;   /* our source port */
    uint16_t dport;   /* the port probed */
    uint8_t ttl;      /* 0 = SN_SCAN_SYN_TTL */
};

/* Write the whole IPv4 packet (header, TCP SYN with the MSS option, both
 * checksums) for an IP_HDRINCL raw socket or after an Ethernet header:
 * seq = the cookie, IP id = the cookie's top 16 bits (as masscan varies its
 * id per probe), DF clear. Returns SN_SCAN_SYN_LEN or -ENOSPC. */
int sn_scan_syn_emit(const struct sn_scan_key *key, const struct sn_scan_probe *pr,
                     uint8_t *p, size_t cap);

/* One answer, as sn_scan_reply_parse finds it. */
struct sn_scan_reply {
    int status;         /* SN_SCAN_OPEN or SN_SCAN_CLOSED */
    uint8_t target[4];  /* the address scanned (the reply's source) */
    uint16_t port;      /* the port scanned (the reply's source port) */
    uint8_t local[4];   /* our address (the reply's destination) */
    uint16_t sport;     /* our source port (the reply's destination port) */
    uint32_t seq, ack;  /* the reply's sequence and acknowledgment numbers */
    uint8_t ttl;        /* the reply's IP TTL (a hint of the target's distance) */
    uint16_t window;    /* the reply's window field */
    uint16_t mss;       /* the MSS option of a SYN-ACK, 0 if none */
};

/* Flags of sn_scan_reply_parse. */
#define SN_SCAN_TCP_CSUM 0x1u /* verify the TCP checksum too. Off by default: a raw
                                 socket on a veth or with receive offload may hand us
                                 segments whose checksum the sender left to hardware
                                 (CHECKSUM_PARTIAL); the cookie already authenticates */

/* Parse an IPv4 packet starting at its IP header (what a raw IPPROTO_TCP socket
 * delivers) and check it against the cookie. The IP header checksum is always
 * verified. Returns 1 and fills *out for an answer to one of our probes; 0 for
 * a well-formed packet that is not (not TCP, a fragment, other flags, a wrong
 * cookie, sport != 0 and not the reply's destination port); a negative errno
 * from the wire parsers for a malformed one (-ENODATA, -EBADMSG, -EILSEQ).
 * Never reads past len. */
int sn_scan_reply_parse(const struct sn_scan_key *key, const uint8_t *p, size_t len,
                        uint16_t sport, unsigned flags, struct sn_scan_reply *out);

/* The RST that tears down the half-open connection an open reply created on
 * the target: seq = the SYN-ACK's ack (RFC 9293 §3.5.2: an RST is accepted
 * when its seq is in the window, here exactly the next expected), flags RST,
 * from us to the target. Returns SN_SCAN_RST_LEN or -ENOSPC. */
int sn_scan_rst_emit(const struct sn_scan_reply *r, uint8_t *p, size_t cap);

/* ======================================================================
 * The order: a keyed permutation of [0, n)
 * ======================================================================
 * A Feistel network on b bits (2^b >= n > 2^(b-1), b >= 2; halves of
 * floor(b/2) and ceil(b/2) bits whose widths swap each round) with
 * SN_SCAN_PERM_ROUNDS rounds, round function SipHash-2-4 of (round, half)
 * under the scan key; cycle walking (Black & Rogaway, "Ciphers with arbitrary
 * finite domains", 2002) re-encrypts until the result falls inside [0, n). A
 * Feistel network is a bijection of [0, 2^b) whatever its round function, and
 * walking the cycle of a bijection from a point inside [0, n) returns inside
 * it, so perm is a bijection of [0, n): every index is visited exactly once.
 * 2^b < 2n, so fewer than 2 encryptions on average. masscan's "blackrock" is
 * the same idea over an a x b grid.
 * Not a cipher for secrets: 4 rounds scatter the order, the key makes it
 * differ per scan. */
#define SN_SCAN_PERM_ROUNDS 4 /* even: the halves end as they started */
#define SN_SCAN_PERM_MAX    (1ULL << 62)

struct sn_scan_perm {
    uint64_t n;                     /* domain size */
    unsigned bits;                  /* b: the Feistel network works on [0, 2^b) */
    uint8_t key[SN_SIPHASH_KEYLEN]; /* a copy of the scan key */
};

/* 0, or -EINVAL for n == 0 or n > SN_SCAN_PERM_MAX. */
int sn_scan_perm_init(struct sn_scan_perm *p, uint64_t n, const struct sn_scan_key *key);
/* The image of i (i < n) in [0, n). i >= n returns i unchanged. */
uint64_t sn_scan_perm_at(const struct sn_scan_perm *p, uint64_t i);

/* ======================================================================
 * The pace: a token bucket in nanoseconds
 * ======================================================================
 * Credit accrues at `pps` tokens a second and is capped at `burst` tokens, so
 * after an idle spell at most `burst` packets leave back to back; over any
 * interval T the packets taken are at most burst + pps*T. Time is passed in
 * (sn_now_ns() in a program, a fake clock in tests). Integer arithmetic: a
 * token is 10^9 units, credit grows by elapsed_ns * pps units. */
#define SN_SCAN_RATE_MAX  10000000ULL /* pps */
#define SN_SCAN_BURST_MAX 4096ULL

struct sn_scan_rate {
    uint64_t pps;     /* tokens per second */
    uint64_t cap;     /* burst * 10^9 */
    uint64_t credit;  /* current credit, units of 10^-9 token */
    uint64_t last_ns; /* time credit was last brought up to date */
};

/* Start with one token (the first packet leaves at once). burst 0 picks
 * pps/100 (10 ms worth) clamped to [1, 64]. -EINVAL for pps 0 or above
 * SN_SCAN_RATE_MAX, burst above SN_SCAN_BURST_MAX. */
int sn_scan_rate_init(struct sn_scan_rate *r, uint64_t pps, uint64_t burst, uint64_t now_ns);
/* Take up to `want` tokens at time now_ns: returns how many were granted
 * (0..want). A clock that steps back grants nothing new. */
uint64_t sn_scan_rate_take(struct sn_scan_rate *r, uint64_t now_ns, uint64_t want);
/* Nanoseconds from now_ns until one token is available (0 if one is). */
uint64_t sn_scan_rate_delay(const struct sn_scan_rate *r, uint64_t now_ns);

/* ======================================================================
 * What to scan: IPv4 addresses x TCP ports
 * ======================================================================
 * Address specs, comma-separated items, any number of calls (they add up):
 *   198.18.0.1                 one address
 *   198.18.0.0/24              a CIDR block (host bits are ignored: .7/24 is the /24)
 *   198.18.0.1-198.18.0.9      an inclusive range of two full addresses
 * Port specs: "22,80,8000-8100", ports 1..65535, ranges inclusive.
 * Overlaps are merged: every (address, port) is counted once. No names (no
 * DNS), no IPv6 yet (-EINVAL with a reason), no spaces, no empty items.
 * Limits: SN_SCAN_MAX_RANGES disjoint address ranges after merging (-E2BIG).
 *
 * Index layout: i = port_index * naddrs + addr_index, addresses and ports in
 * ascending order. count = naddrs * nports (at most 2^48). */
#define SN_SCAN_MAX_RANGES 1024
#define SN_SCAN_SPEC_MAX   65536 /* bytes of one spec string */

struct sn_scan_range {
    uint32_t first, last; /* inclusive, host byte order */
    uint64_t before;      /* addresses in the ranges before this one */
};

struct sn_scan_targets {
    uint32_t nranges;                              /* address ranges, sorted, disjoint, not adjacent */
    uint32_t nports;                               /* distinct ports */
    uint64_t naddrs;                               /* distinct addresses */
    struct sn_scan_range range[SN_SCAN_MAX_RANGES];
    uint64_t portmap[1024];                        /* bit p (word p/64, bit p%64): port p is in */
    uint32_t portrank[1024];                       /* ports in the words before word w */
};

/* Empty set. */
void sn_scan_targets_init(struct sn_scan_targets *t);
/* Add the addresses / ports of spec[0..len) (no NUL needed). 0, -EINVAL or
 * -E2BIG (see above); on failure the set is unchanged (range[] entries past
 * nranges are scratch space and may be written). */
int sn_scan_targets_add_addrs(struct sn_scan_targets *t, const char *spec, size_t len,
                              const char **why);
int sn_scan_targets_add_ports(struct sn_scan_targets *t, const char *spec, size_t len,
                              const char **why);
/* naddrs * nports: the number of probes in one round. */
uint64_t sn_scan_targets_count(const struct sn_scan_targets *t);
/* Index -> (address, port): 0, or -ERANGE for i >= count. */
int sn_scan_targets_at(const struct sn_scan_targets *t, uint64_t i, uint8_t addr[4],
                       uint16_t *port);
/* (address, port) -> index: 0, or -ENOENT if the pair is not in the set. */
int sn_scan_targets_index(const struct sn_scan_targets *t, const uint8_t addr[4], uint16_t port,
                          uint64_t *i);
/* The ai-th address (ai < naddrs) / the pi-th port (pi < nports): 0 or -ERANGE. */
int sn_scan_targets_addr_at(const struct sn_scan_targets *t, uint64_t ai, uint8_t addr[4]);
int sn_scan_targets_port_at(const struct sn_scan_targets *t, uint32_t pi, uint16_t *port);

/* ======================================================================
 * Per-index results: 2 bits each (enum sn_scan_status), caller memory
 * ====================================================================== */
/* Bytes for n indexes (n/4 rounded up). */
static inline size_t sn_scan_states_size(uint64_t n) { return (size_t)((n + 3) / 4); }
static inline int sn_scan_state_get(const uint8_t *st, uint64_t i)
{
    return (st[i / 4] >> (2 * (i % 4))) & 3;
}
/* Record s for index i if none is recorded yet: the first answer wins (a port
 * that starts listening mid-scan, a late duplicate). Returns the state before. */
static inline int sn_scan_state_set(uint8_t *st, uint64_t i, int s)
{
    int old = sn_scan_state_get(st, i);
    if (old == SN_SCAN_NONE)
        st[i / 4] = (uint8_t)(st[i / 4] | (s & 3) << (2 * (i % 4)));
    return old;
}

/* ======================================================================
 * The engine: a whole scan over raw sockets
 * ======================================================================
 * One thread, one loop: SYNs leave in sendmmsg batches of up to 64
 * (sn_raw_send_many) as the token bucket allows; between batches, and while
 * waiting for tokens (ppoll with a nanosecond timeout), answers are drained
 * from the receive socket with recvmmsg (sn_batch_recv). Sockets (raw.h): an
 * IP_HDRINCL raw socket sends (the SYNs and our RSTs are whole IPv4 packets
 * built by sn_scan_syn_emit / sn_scan_rst_emit); a raw IPPROTO_TCP socket
 * receives a copy of every TCP segment the host receives, narrowed in the
 * kernel by a 7-instruction classic BPF filter (destination port == our source
 * port, SYN or RST set) and then checked against the cookie.
 *
 * Rounds and retries: round 0 sends every index in permuted order; rounds
 * 1..retries walk the same permutation again and send only the indexes whose
 * state is still SN_SCAN_NONE. A retry round starts wait_ns after the previous
 * round's last probe, so answers still in flight are not asked for twice. Why
 * a state table rather than masscan's blind re-walk (which re-sends every probe
 * retries+1 times, answered or not): 2 bits per index (4 MiB for 2^24 probes)
 * buys fewer packets on the target, one result per (address, port) instead of
 * duplicates, and the "filtered" verdict, which needs to know what never
 * answered. After the last round the engine waits wait_ns more, draining.
 * Rounds end early when every index has an answer.
 *
 * Open ports: every valid SYN-ACK (duplicates too: the target retransmits while
 * its half-open connection lives) is answered with an RST from us, so the
 * target's SYN queue is freed at once rather than after its SYN-ACK retries.
 * Our own kernel will ALSO answer each SYN-ACK with an RST: the SYN never went
 * through its TCP stack, so it knows no such connection (RFC 9293 §3.10.7.1).
 * That is harmless here (a second RST for the same tuple). masscan avoids it
 * because it receives with libpcap, i.e. AF_PACKET, which sees frames before
 * the IP stack: it can scan from an address the kernel does not own
 * (--source-ip, masscan answering ARP itself) or keep the kernel away from its
 * source port with a firewall rule (iptables -A INPUT -p tcp --dport SPORT -j
 * DROP). Neither works for us: a raw IP socket gets its copy in
 * ip_local_deliver, after netfilter's INPUT hook and only for local addresses,
 * so that rule would hide the answers from us too. We accept the kernel's RST.
 *
 * The source port is fixed for a whole scan (config.sport): one port lets the
 * kernel filter our answers cheaply (the BPF filter above) and is one line of
 * firewall or capture filter for whoever watches; the cookie covers address
 * and port of the target, so one port loses nothing.
 *
 * Privileges: CAP_NET_RAW (-EPERM otherwise; sn_raw_hint(-EPERM), raw.h, says
 * what to do). The source address for config.src: sn_raw_route_src (raw.h).
 * Memory: sn_scan_run allocates its working memory (about 170 KiB: packet
 * buffers and batches) once at the start and frees it before returning; the
 * per-index states are the caller's (config.states). Callbacks run on the
 * calling thread, inside sn_scan_run.
 */
struct sn_scan_result {
    uint64_t index;    /* the (address, port) index (sn_scan_targets_at) */
    int status;        /* SN_SCAN_OPEN or SN_SCAN_CLOSED */
    uint8_t addr[4];   /* the target */
    uint16_t port;     /* the port */
    uint8_t ttl;       /* the answer's IP TTL */
    uint16_t window;   /* the answer's TCP window */
    uint16_t mss;      /* the MSS option of a SYN-ACK, else 0 */
    uint64_t ts_ns;    /* kernel receive time, ns since the epoch (0 if none) */
};

struct sn_scan_stats {
    uint64_t count;        /* (address, port) pairs in one round */
    uint64_t sent;         /* SYNs the kernel took, retries included */
    uint64_t retried;      /* of which in rounds >= 1 */
    uint64_t open, closed; /* distinct answers so far */
    uint64_t filtered;     /* at the end: count - open - closed */
    uint64_t replies;      /* valid answers received, duplicates included */
    uint64_t rsts;         /* RSTs we sent for SYN-ACKs */
    uint64_t ignored;      /* TCP segments past the kernel filter that were not ours */
    uint64_t malformed;    /* segments the wire parsers refused */
    uint64_t send_errors;  /* SYNs the kernel refused (EPERM: netfilter dropped it) */
    int first_send_error;  /* the first such error, -errno; 0 if none */
    unsigned round;        /* the round under way (0 .. retries) */
    uint64_t round_pos;    /* permutation position reached in that round */
    uint64_t start_ns;     /* sn_now_ns() at the first probe */
    uint64_t last_tx_ns;   /* sn_now_ns() at the last probe */
    uint64_t elapsed_ns;   /* from the first probe to now / to the end */
    uint64_t tx_ns;        /* time spent sending: each round's first to last probe
                              (the achieved rate is sent / tx_ns) */
    int stopped;           /* 1 if *config.stop ended the scan early */
};

struct sn_scan_config {
    const struct sn_scan_targets *targets; /* what to scan (count >= 1) */
    const struct sn_scan_key *key;         /* cookies and order */
    uint8_t src[4];                        /* our address (sn_raw_route_src, raw.h) */
    uint16_t sport;                        /* our source port, 1..65535 */
    uint8_t ttl;                           /* SYN TTL; 0 = SN_SCAN_SYN_TTL */
    uint64_t rate;                         /* probes a second, 1..SN_SCAN_RATE_MAX */
    unsigned retries;                      /* extra rounds for unanswered probes, <= 100 */
    uint64_t wait_ns;                      /* after each round's last probe */
    const char *ifname;                    /* SO_BINDTODEVICE both sockets; NULL = any */
    uint8_t *states;                       /* sn_scan_states_size(count) bytes, zeroed */
    /* Each first answer of an (address, port), as it arrives. May be NULL. */
    void (*on_result)(void *ctx, const struct sn_scan_result *r);
    /* About every progress_ns (0 = 1 s) while the scan runs. May be NULL. */
    void (*on_progress)(void *ctx, const struct sn_scan_stats *s);
    uint64_t progress_ns;
    void *ctx;                             /* passed to the callbacks */
    volatile int *stop;                    /* non-NULL: the scan ends soon after *stop != 0 */
};

/* Run a scan. 0 when it ran (stopped early or not; see stats->stopped), or
 * -errno: -EINVAL for a bad config, -EPERM without CAP_NET_RAW, -ENODEV for an
 * unknown ifname, -ENOMEM. stats (may not be NULL) is filled either way.
 * Results: config.states holds every index's status at the end. */
int sn_scan_run(const struct sn_scan_config *config, struct sn_scan_stats *stats);

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_SCAN_H */
