/* sysnet/itch.h — layer 4, NASDAQ's market-data framings, part of the frame module:
 *
 *   SoupBinTCP 3.0   a session over TCP: 2-byte big-endian length framing, login,
 *                    sequenced and unsequenced data, heartbeats, logout
 *   MoldUDP64 1.00   sequenced message blocks over UDP multicast, gap re-requests
 *   TotalView-ITCH 5.0  the order-book messages those two carry
 *
 * Everything here is parsing and building bytes plus one pure state machine: no
 * I/O, no clock reads (you pass now_ns), no allocation, thread-safe on distinct
 * objects. Parsers never read past the length they are given.
 *
 * Errors: -EBADMSG malformed (wrong size for its type, bad numeric field, blocks that
 * overrun the packet), -EPROTONOSUPPORT unknown message/packet type, -ENOBUFS an
 * output buffer too small, -EPROTO a packet not allowed in the session's state,
 * -ETIMEDOUT the peer went silent, -EINVAL bad arguments.
 *
 * ---- SoupBinTCP 3.0 ----
 * On the wire: Packet Length (2, big endian, counts the type byte and payload), Packet
 * Type (1), payload. Cut the stream with sn_soup_frame_opts() and sn_framer (frame.h);
 * each frame is then "type + payload", given to sn_soup_parse(). Alpha fields are
 * space padded; sequence numbers are ASCII decimal, left padded with spaces.
 *
 *   type  who     payload
 *   '+'   both    Debug: free text
 *   'A'   server  Login Accepted: Session (10, left padded), Sequence Number (20)
 *   'J'   server  Login Rejected: Reject Reason Code (1): 'A' not authorized, 'S' no session
 *   'S'   server  Sequenced Data: one message (e.g. ITCH)
 *   'H'   server  Server Heartbeat: empty
 *   'Z'   server  End of Session: empty
 *   'L'   client  Login Request: Username (6), Password (10) (right padded),
 *                 Requested Session (10, blank = the current one), Requested Sequence
 *                 Number (20; 0 = start from the most recent message)
 *   'U'   client  Unsequenced Data: one message
 *   'R'   client  Client Heartbeat: empty
 *   'O'   client  Logout Request: empty
 *
 * The session state machine (struct sn_soup_sess) follows one side of a connection:
 * tell it what you receive (sn_soup_on_recv) and what you send (sn_soup_on_send), and
 * call sn_soup_tick at or after sn_soup_deadline(): it says when to send a heartbeat
 * (after 1 s without sending anything) and when the peer is lost (15 s without
 * receiving anything: -ETIMEDOUT). Client: IDLE --send L--> LOGIN_SENT --recv A-->
 * ACTIVE (recv S advances next_seq) --send O / recv Z--> CLOSED; recv J --> CLOSED.
 * Server: AWAIT_LOGIN --recv L--> LOGIN_RECEIVED (you decide) --send A--> ACTIVE, or
 * --send J--> CLOSED; ACTIVE --recv O / send Z--> CLOSED.
 *
 * ---- MoldUDP64 ----
 * A packet: Session (10), Sequence Number (8, big endian: the sequence number of its
 * first message), Message Count (2), then Count message blocks of Message Length (2) +
 * message. Count 0 is a heartbeat, 0xFFFF the end of the session (both carry the next
 * expected sequence number and no blocks). A re-request (to the retransmission server)
 * is the same 20-byte header: Session, first Sequence Number wanted, Count wanted.
 * sn_mold_track() compares packets to the expected sequence number and reports
 * duplicates and gaps. It does not hold messages back: a packet past a gap is
 * delivered, expected moves past it, and the gap is returned for you to re-request
 * and handle (recovered packets are parsed with sn_mold_parse, not tracked).
 *
 * ---- TotalView-ITCH 5.0 ----
 * Every message starts with Message Type (1), Stock Locate (2), Tracking Number (2),
 * Timestamp (6: ns since midnight), all big endian, and has a fixed size per type
 * (sn_itch_size). sn_itch_decode() checks the size (-EBADMSG) and the type
 * (-EPROTONOSUPPORT) and fills a struct sn_itch_msg; sn_itch_encode() writes one.
 * Prices are uint32 with 4 implied decimals (Price(4)), except the MWCB levels
 * (uint64, 8 implied decimals). Stock and other alpha fields are kept as on the wire:
 * fixed-size, space padded, NOT NUL terminated (sn_itch_stock_str gives a C string).
 */
#ifndef SYSNET_ITCH_H
#define SYSNET_ITCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <sysnet/base.h>
#include <sysnet/frame.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ============================ SoupBinTCP 3.0 ============================ */

#define SN_SOUP_MAX_PACKET 65535u   /* the length field is 16 bits */
#define SN_SOUP_HEARTBEAT_NS 1000000000ull  /* send a heartbeat after 1 s of silence */
#define SN_SOUP_TIMEOUT_NS 15000000000ull   /* the peer is lost after 15 s of silence */

enum sn_soup_type {
    SN_SOUP_DEBUG = '+',
    SN_SOUP_LOGIN_ACCEPTED = 'A',
    SN_SOUP_LOGIN_REJECTED = 'J',
    SN_SOUP_SEQUENCED = 'S',
    SN_SOUP_SERVER_HEARTBEAT = 'H',
    SN_SOUP_END_OF_SESSION = 'Z',
    SN_SOUP_LOGIN_REQUEST = 'L',
    SN_SOUP_UNSEQUENCED = 'U',
    SN_SOUP_CLIENT_HEARTBEAT = 'R',
    SN_SOUP_LOGOUT_REQUEST = 'O',
};

struct sn_soup_pkt {
    char type;              /* enum sn_soup_type */
    const uint8_t *payload; /* the bytes after the type (into the caller's buffer) */
    size_t len;             /* their number */
    char session[10];       /* A: the session; L: the requested session (space padded) */
    uint64_t seq;           /* A: next sequence number; L: requested sequence number */
    char username[6];       /* L (space padded) */
    char password[10];      /* L (space padded) */
    char reason;            /* J: 'A' not authorized, 'S' session not available */
};

/* The framing of a SoupBinTCP stream: SN_FRAME_LEN, 2 bytes, big endian, 65535 max. */
void sn_soup_frame_opts(struct sn_frame_opts *o);
/* One packet body (type + payload, the length prefix removed): 0, -EBADMSG (empty,
 * wrong payload size for A/J/L/H/Z/R/O, bad sequence number), -EPROTONOSUPPORT. */
int sn_soup_parse(const uint8_t *p, size_t len, struct sn_soup_pkt *out);
/* Writes length + type + payload: the bytes written, -ENOBUFS, -EMSGSIZE (> 65534). */
ssize_t sn_soup_emit(char type, const void *payload, size_t len, void *out, size_t cap);
/* Login Request: username/password right padded (longer ones: -EINVAL); session
 * NULL or "" = blank (the current session), left padded. */
ssize_t sn_soup_emit_login_request(const char *username, const char *password, const char *session,
                                   uint64_t seq, void *out, size_t cap);
/* Login Accepted: session (up to 10 chars, left padded) and the next sequence number. */
ssize_t sn_soup_emit_login_accepted(const char *session, uint64_t seq, void *out, size_t cap);
ssize_t sn_soup_emit_login_rejected(char reason, void *out, size_t cap);
/* A readable name of a packet type ("Login Accepted"), "?" if unknown. */
const char *sn_soup_type_name(char type);

enum sn_soup_role { SN_SOUP_CLIENT = 1, SN_SOUP_SERVER = 2 };

enum sn_soup_state {
    SN_SOUP_IDLE = 1,       /* client: nothing sent yet */
    SN_SOUP_LOGIN_SENT,     /* client: waiting for A or J */
    SN_SOUP_AWAIT_LOGIN,    /* server: waiting for L */
    SN_SOUP_LOGIN_RECEIVED, /* server: L received, answer with A or J */
    SN_SOUP_ACTIVE,         /* logged in */
    SN_SOUP_CLOSED,         /* over: see sess.close_reason */
};

/* What sn_soup_on_recv says about a packet. */
enum sn_soup_event {
    SN_SOUP_EV_NONE = 0,     /* heartbeat or debug: nothing to do */
    SN_SOUP_EV_LOGGED_IN,    /* client: A received (session, next_seq set) */
    SN_SOUP_EV_REJECTED,     /* client: J received, closed */
    SN_SOUP_EV_DATA,         /* S (client) or U (server): a message; for S, its number is
                              * next_seq - 1 after the call */
    SN_SOUP_EV_LOGIN,        /* server: L received: answer A or J */
    SN_SOUP_EV_END,          /* client: Z, end of session, closed */
    SN_SOUP_EV_LOGOUT,       /* server: O received, closed */
};

struct sn_soup_sess {
    int role;                /* enum sn_soup_role */
    int state;               /* enum sn_soup_state */
    int close_reason;        /* CLOSED: one of the events above, or -ETIMEDOUT */
    char session[10];        /* the session (from A, sent or received) */
    uint64_t next_seq;       /* the sequence number of the next S */
    uint64_t last_rx_ns;     /* when we last received anything */
    uint64_t last_tx_ns;     /* when we last sent anything */
    uint64_t heartbeat_ns;   /* send interval, SN_SOUP_HEARTBEAT_NS by default */
    uint64_t timeout_ns;     /* receive timeout, SN_SOUP_TIMEOUT_NS by default */
};

/* Sets up one side of a connection at time now_ns (the connection just opened). */
void sn_soup_sess_init(struct sn_soup_sess *s, int role, uint64_t now_ns);
/* A packet was received: an enum sn_soup_event, or -EPROTO if this packet is not
 * allowed from the peer in this state (the state is left unchanged; drop the
 * connection). Every received packet, valid or not, counts as a sign of life. */
int sn_soup_on_recv(struct sn_soup_sess *s, const struct sn_soup_pkt *p, uint64_t now_ns);
/* We sent a packet of this type: 0, or -EPROTO if it may not be sent now (e.g. S
 * before login, L twice); a refused send does not change the state. */
int sn_soup_on_send(struct sn_soup_sess *s, char type, uint64_t now_ns);
/* Timers: 0 nothing to do, 1 send a heartbeat now (H server, R client, then
 * sn_soup_on_send), -ETIMEDOUT the peer is silent (state becomes CLOSED). */
int sn_soup_tick(struct sn_soup_sess *s, uint64_t now_ns);
/* When sn_soup_tick next has something to do (UINT64_MAX when CLOSED). */
uint64_t sn_soup_deadline(const struct sn_soup_sess *s);

/* ============================== MoldUDP64 ============================== */

#define SN_MOLD_HDR_LEN 20
#define SN_MOLD_HEARTBEAT 0u       /* message count of a heartbeat */
#define SN_MOLD_END 0xFFFFu        /* message count of end of session */
#define SN_MOLD_MAX_PACKET 65507u  /* largest UDP payload over IPv4 */

struct sn_mold_pkt {
    char session[10];      /* space padded */
    uint64_t seq;          /* sequence number of the first message (or the next one) */
    uint16_t count;        /* messages; 0 heartbeat, 0xFFFF end of session */
    const uint8_t *blocks; /* the message blocks (into the caller's buffer) */
    size_t blocks_len;
};

/* A downstream packet: checks the header and that the count blocks fill the packet
 * exactly (heartbeat and end of session: no blocks). 0, -EBADMSG. */
int sn_mold_parse(const uint8_t *p, size_t len, struct sn_mold_pkt *out);
/* Walks the blocks: set *off = 0 first; 1 and *msg and *len per message, 0 at the end,
 * -EBADMSG if a block overruns (cannot happen after sn_mold_parse). */
int sn_mold_next(const struct sn_mold_pkt *pk, size_t *off, const uint8_t **msg, size_t *len);
/* Builds a packet of n messages (n < 0xFFFF, each < 65536 bytes): bytes written,
 * -ENOBUFS, -EMSGSIZE, -EINVAL. session: up to 10 chars, right padded. */
ssize_t sn_mold_emit(const char *session, uint64_t seq, const struct iovec *msgs, unsigned n,
                     void *out, size_t cap);
/* A heartbeat (count 0) or end of session (count 0xFFFF) carrying next_seq. */
ssize_t sn_mold_emit_heartbeat(const char *session, uint64_t next_seq, void *out, size_t cap);
ssize_t sn_mold_emit_end(const char *session, uint64_t next_seq, void *out, size_t cap);
/* A re-request: session, first sequence number, count (>= 1). 20 or -ENOBUFS/-EINVAL. */
ssize_t sn_mold_emit_request(const char session[10], uint64_t seq, uint16_t count, void *out,
                             size_t cap);
/* Parses a re-request (exactly 20 bytes; count 0 or 0xFFFF: -EBADMSG). */
int sn_mold_parse_request(const uint8_t *p, size_t len, char session[10], uint64_t *seq,
                          uint16_t *count);

struct sn_mold_tracker {
    char session[10]; /* the session followed (set by the first packet) */
    int have_session; /* session is set */
    uint64_t expected;/* the next sequence number expected; 0 = take the first packet's */
    int ended;        /* end of session seen */
};

struct sn_mold_track {
    unsigned skip;      /* deliver the packet's messages from this index on (the ones
                         * before were seen already) */
    unsigned fresh;     /* how many are new (also the return value) */
    uint64_t gap_seq;   /* a gap: first missing sequence number ... */
    uint64_t gap_count; /* ... and how many are missing (0: no gap) */
    int end;            /* the packet is an end of session */
};

/* first_seq: the first sequence number expected (1 from the start of a session), or
 * 0 to join a session in progress at whatever comes first. */
void sn_mold_tracker_init(struct sn_mold_tracker *t, uint64_t first_seq);
/* Classifies a parsed packet: the number of new messages (>= 0) and *r, or -EPROTO
 * if it belongs to another session (the tracker is unchanged). Heartbeats and end of
 * session also reveal gaps (their seq is the next sequence number). */
int sn_mold_track(struct sn_mold_tracker *t, const struct sn_mold_pkt *pk, struct sn_mold_track *r);

/* =========================== TotalView-ITCH 5.0 =========================== */

#define SN_ITCH_MAX_SIZE 50 /* the largest message, I (NOII) */

struct sn_itch_system_event {      /* 'S', 12 bytes */
    char event_code;               /* O S Q M E C */
};
struct sn_itch_stock_directory {   /* 'R', 39 bytes */
    char stock[8];
    char market_category;
    char financial_status;
    uint32_t round_lot_size;
    char round_lots_only;
    char issue_classification;
    char issue_sub_type[2];
    char authenticity;
    char short_sale_threshold;
    char ipo_flag;
    char luld_ref_price_tier;
    char etp_flag;
    uint32_t etp_leverage_factor;
    char inverse_indicator;
};
struct sn_itch_trading_action {    /* 'H', 25 bytes */
    char stock[8];
    char trading_state;            /* H halted, P paused, Q quotation only, T trading */
    char reserved;
    char reason[4];
};
struct sn_itch_reg_sho {           /* 'Y', 20 bytes */
    char stock[8];
    char action;                   /* '0' '1' '2' */
};
struct sn_itch_mpp {               /* 'L', 26 bytes: market participant position */
    char mpid[4];
    char stock[8];
    char primary_market_maker;
    char market_maker_mode;
    char participant_state;
};
struct sn_itch_mwcb_decline {      /* 'V', 35 bytes: Price(8), 8 implied decimals */
    uint64_t level1, level2, level3;
};
struct sn_itch_mwcb_status {       /* 'W', 12 bytes */
    char breached_level;           /* '1' '2' '3' */
};
struct sn_itch_ipo_quoting {       /* 'K', 28 bytes */
    char stock[8];
    uint32_t release_time;         /* seconds since midnight */
    char release_qualifier;        /* A anticipated, C cancelled/postponed */
    uint32_t ipo_price;
};
struct sn_itch_luld_collar {       /* 'J', 35 bytes */
    char stock[8];
    uint32_t ref_price;
    uint32_t upper_price;
    uint32_t lower_price;
    uint32_t extension;            /* number of extensions */
};
struct sn_itch_operational_halt {  /* 'h', 21 bytes */
    char stock[8];
    char market_code;              /* Q Nasdaq, B BX, X PSX */
    char action;                   /* H halted, T resumed */
};
struct sn_itch_add_order {         /* 'A', 36 bytes; 'F', 40 bytes (with attribution) */
    uint64_t order_ref;
    char side;                     /* B buy, S sell */
    uint32_t shares;
    char stock[8];
    uint32_t price;
    char attribution[4];           /* F only (A: not on the wire, left as is) */
};
struct sn_itch_order_executed {    /* 'E', 31 bytes */
    uint64_t order_ref;
    uint32_t shares;
    uint64_t match;
};
struct sn_itch_order_executed_price { /* 'C', 36 bytes */
    uint64_t order_ref;
    uint32_t shares;
    uint64_t match;
    char printable;                /* Y N */
    uint32_t price;
};
struct sn_itch_order_cancel {      /* 'X', 23 bytes */
    uint64_t order_ref;
    uint32_t shares;               /* cancelled */
};
struct sn_itch_order_delete {      /* 'D', 19 bytes */
    uint64_t order_ref;
};
struct sn_itch_order_replace {     /* 'U', 35 bytes */
    uint64_t orig_ref;
    uint64_t new_ref;
    uint32_t shares;
    uint32_t price;
};
struct sn_itch_trade {             /* 'P', 44 bytes: non-cross trade */
    uint64_t order_ref;
    char side;
    uint32_t shares;
    char stock[8];
    uint32_t price;
    uint64_t match;
};
struct sn_itch_cross_trade {       /* 'Q', 40 bytes */
    uint64_t shares;
    char stock[8];
    uint32_t price;
    uint64_t match;
    char cross_type;               /* O open, C close, H halt/IPO, I intraday */
};
struct sn_itch_broken_trade {      /* 'B', 19 bytes */
    uint64_t match;
};
struct sn_itch_noii {              /* 'I', 50 bytes: net order imbalance indicator */
    uint64_t paired_shares;
    uint64_t imbalance_shares;
    char imbalance_direction;      /* B S N O P */
    char stock[8];
    uint32_t far_price;
    uint32_t near_price;
    uint32_t ref_price;
    char cross_type;
    char price_variation;
};
struct sn_itch_rpii {              /* 'N', 20 bytes: retail price improvement */
    char stock[8];
    char interest_flag;            /* B S A N */
};
struct sn_itch_dlcr {              /* 'O', 48 bytes: direct listing with capital raise */
    char stock[8];
    char open_eligibility;         /* N Y */
    uint32_t min_price;
    uint32_t max_price;
    uint32_t near_price;
    uint64_t near_time;            /* ns since midnight */
    uint32_t lower_collar;
    uint32_t upper_collar;
};

struct sn_itch_msg {
    char type;             /* the message type letter */
    uint16_t locate;       /* Stock Locate */
    uint16_t tracking;     /* Tracking Number */
    uint64_t ts_ns;        /* Timestamp: ns since midnight (48 bits) */
    union {
        struct sn_itch_system_event S;
        struct sn_itch_stock_directory R;
        struct sn_itch_trading_action H;
        struct sn_itch_reg_sho Y;
        struct sn_itch_mpp L;
        struct sn_itch_mwcb_decline V;
        struct sn_itch_mwcb_status W;
        struct sn_itch_ipo_quoting K;
        struct sn_itch_luld_collar J;
        struct sn_itch_operational_halt h;
        struct sn_itch_add_order A;   /* also F */
        struct sn_itch_order_executed E;
        struct sn_itch_order_executed_price C;
        struct sn_itch_order_cancel X;
        struct sn_itch_order_delete D;
        struct sn_itch_order_replace U;
        struct sn_itch_trade P;
        struct sn_itch_cross_trade Q;
        struct sn_itch_broken_trade B;
        struct sn_itch_noii I;
        struct sn_itch_rpii N;
        struct sn_itch_dlcr O;
    } u;
};

/* The wire size of a message type, or -EPROTONOSUPPORT. */
int sn_itch_size(char type);
/* A readable name ("Add Order"), "?" if unknown. */
const char *sn_itch_type_name(char type);
/* Decodes one message of exactly len bytes: 0, -EBADMSG (empty, or len differs from
 * the type's size), -EPROTONOSUPPORT (unknown type). */
int sn_itch_decode(const uint8_t *p, size_t len, struct sn_itch_msg *out);
/* Encodes m (m->type picks the layout; ts_ns above 2^48-1: -EINVAL): the size
 * written, -ENOBUFS, -EPROTONOSUPPORT. */
ssize_t sn_itch_encode(const struct sn_itch_msg *m, void *out, size_t cap);
/* Fills an 8-byte stock field from a C string (space padded; longer: truncated). */
void sn_itch_stock_set(char stock[8], const char *s);
/* The stock as a C string without its padding; out must hold 9 bytes. Returns out. */
char *sn_itch_stock_str(const char stock[8], char out[9]);

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_ITCH_H */

