/* itch.c — NASDAQ TotalView-ITCH 5.0: decoding and encoding of every message type.
 * One field walker per type serves both directions, so the decoder and the encoder
 * cannot disagree on a layout. Layouts: "Nasdaq TotalView-ITCH 5.0" specification,
 * section 4 (message formats); sizes in sizes[] below. */
#include <sysnet/itch.h>

#include <errno.h>
#include <string.h>

/* A cursor over one message: reads from r (decode) or writes to w (encode). */
struct cur {
    const uint8_t *r;
    uint8_t *w;
    size_t off;
};

static void f_char(struct cur *c, char *v)
{
    if (c->w)
        c->w[c->off] = (uint8_t)*v;
    else
        *v = (char)c->r[c->off];
    c->off += 1;
}

static void f_alpha(struct cur *c, char *v, size_t n)
{
    if (c->w)
        memcpy(c->w + c->off, v, n);
    else
        memcpy(v, c->r + c->off, n);
    c->off += n;
}

static void f_u16(struct cur *c, uint16_t *v)
{
    if (c->w)
        sn_store_be16(c->w + c->off, *v);
    else
        *v = sn_load_be16(c->r + c->off);
    c->off += 2;
}

static void f_u32(struct cur *c, uint32_t *v)
{
    if (c->w)
        sn_store_be32(c->w + c->off, *v);
    else
        *v = sn_load_be32(c->r + c->off);
    c->off += 4;
}

static void f_u48(struct cur *c, uint64_t *v)
{
    if (c->w)
        sn_store_be48(c->w + c->off, *v);
    else
        *v = sn_load_be48(c->r + c->off);
    c->off += 6;
}

static void f_u64(struct cur *c, uint64_t *v)
{
    if (c->w)
        sn_store_be64(c->w + c->off, *v);
    else
        *v = sn_load_be64(c->r + c->off);
    c->off += 8;
}

#define STOCK(c, v) f_alpha((c), (v), 8)

/* The body of each type, after the 11-byte common header. */
static void walk(struct cur *c, struct sn_itch_msg *m)
{
    switch (m->type) {
    case 'S':
        f_char(c, &m->u.S.event_code);
        break;
    case 'R': {
        struct sn_itch_stock_directory *r = &m->u.R;
        STOCK(c, r->stock);
        f_char(c, &r->market_category);
        f_char(c, &r->financial_status);
        f_u32(c, &r->round_lot_size);
        f_char(c, &r->round_lots_only);
        f_char(c, &r->issue_classification);
        f_alpha(c, r->issue_sub_type, 2);
        f_char(c, &r->authenticity);
        f_char(c, &r->short_sale_threshold);
        f_char(c, &r->ipo_flag);
        f_char(c, &r->luld_ref_price_tier);
        f_char(c, &r->etp_flag);
        f_u32(c, &r->etp_leverage_factor);
        f_char(c, &r->inverse_indicator);
        break;
    }
    case 'H':
        STOCK(c, m->u.H.stock);
        f_char(c, &m->u.H.trading_state);
        f_char(c, &m->u.H.reserved);
        f_alpha(c, m->u.H.reason, 4);
        break;
    case 'Y':
        STOCK(c, m->u.Y.stock);
        f_char(c, &m->u.Y.action);
        break;
    case 'L':
        f_alpha(c, m->u.L.mpid, 4);
        STOCK(c, m->u.L.stock);
        f_char(c, &m->u.L.primary_market_maker);
        f_char(c, &m->u.L.market_maker_mode);
        f_char(c, &m->u.L.participant_state);
        break;
    case 'V':
        f_u64(c, &m->u.V.level1);
        f_u64(c, &m->u.V.level2);
        f_u64(c, &m->u.V.level3);
        break;
    case 'W':
        f_char(c, &m->u.W.breached_level);
        break;
    case 'K':
        STOCK(c, m->u.K.stock);
        f_u32(c, &m->u.K.release_time);
        f_char(c, &m->u.K.release_qualifier);
        f_u32(c, &m->u.K.ipo_price);
        break;
    case 'J':
        STOCK(c, m->u.J.stock);
        f_u32(c, &m->u.J.ref_price);
        f_u32(c, &m->u.J.upper_price);
        f_u32(c, &m->u.J.lower_price);
        f_u32(c, &m->u.J.extension);
        break;
    case 'h':
        STOCK(c, m->u.h.stock);
        f_char(c, &m->u.h.market_code);
        f_char(c, &m->u.h.action);
        break;
    case 'A':
    case 'F':
        f_u64(c, &m->u.A.order_ref);
        f_char(c, &m->u.A.side);
        f_u32(c, &m->u.A.shares);
        STOCK(c, m->u.A.stock);
        f_u32(c, &m->u.A.price);
        if (m->type == 'F')
            f_alpha(c, m->u.A.attribution, 4);
        break;
    case 'E':
        f_u64(c, &m->u.E.order_ref);
        f_u32(c, &m->u.E.shares);
        f_u64(c, &m->u.E.match);
        break;
    case 'C':
        f_u64(c, &m->u.C.order_ref);
        f_u32(c, &m->u.C.shares);
        f_u64(c, &m->u.C.match);
        f_char(c, &m->u.C.printable);
        f_u32(c, &m->u.C.price);
        break;
    case 'X':
        f_u64(c, &m->u.X.order_ref);
        f_u32(c, &m->u.X.shares);
        break;
    case 'D':
        f_u64(c, &m->u.D.order_ref);
        break;
    case 'U':
        f_u64(c, &m->u.U.orig_ref);
        f_u64(c, &m->u.U.new_ref);
        f_u32(c, &m->u.U.shares);
        f_u32(c, &m->u.U.price);
        break;
    case 'P':
        f_u64(c, &m->u.P.order_ref);
        f_char(c, &m->u.P.side);
        f_u32(c, &m->u.P.shares);
        STOCK(c, m->u.P.stock);
        f_u32(c, &m->u.P.price);
        f_u64(c, &m->u.P.match);
        break;
    case 'Q':
        f_u64(c, &m->u.Q.shares);
        STOCK(c, m->u.Q.stock);
        f_u32(c, &m->u.Q.price);
        f_u64(c, &m->u.Q.match);
        f_char(c, &m->u.Q.cross_type);
        break;
    case 'B':
        f_u64(c, &m->u.B.match);
        break;
    case 'I':
        f_u64(c, &m->u.I.paired_shares);
        f_u64(c, &m->u.I.imbalance_shares);
        f_char(c, &m->u.I.imbalance_direction);
        STOCK(c, m->u.I.stock);
        f_u32(c, &m->u.I.far_price);
        f_u32(c, &m->u.I.near_price);
        f_u32(c, &m->u.I.ref_price);
        f_char(c, &m->u.I.cross_type);
        f_char(c, &m->u.I.price_variation);
        break;
    case 'N':
        STOCK(c, m->u.N.stock);
        f_char(c, &m->u.N.interest_flag);
        break;
    case 'O':
        STOCK(c, m->u.O.stock);
        f_char(c, &m->u.O.open_eligibility);
        f_u32(c, &m->u.O.min_price);
        f_u32(c, &m->u.O.max_price);
        f_u32(c, &m->u.O.near_price);
        f_u64(c, &m->u.O.near_time);
        f_u32(c, &m->u.O.lower_collar);
        f_u32(c, &m->u.O.upper_collar);
        break;
    default:
        break;
    }
}

static const struct {
    char type;
    uint8_t size;
    const char *name;
} types[] = {
    {'S', 12, "System Event"},
    {'R', 39, "Stock Directory"},
    {'H', 25, "Stock Trading Action"},
    {'Y', 20, "Reg SHO Restriction"},
    {'L', 26, "Market Participant Position"},
    {'V', 35, "MWCB Decline Level"},
    {'W', 12, "MWCB Status"},
    {'K', 28, "IPO Quoting Period Update"},
    {'J', 35, "LULD Auction Collar"},
    {'h', 21, "Operational Halt"},
    {'A', 36, "Add Order"},
    {'F', 40, "Add Order with MPID Attribution"},
    {'E', 31, "Order Executed"},
    {'C', 36, "Order Executed with Price"},
    {'X', 23, "Order Cancel"},
    {'D', 19, "Order Delete"},
    {'U', 35, "Order Replace"},
    {'P', 44, "Trade (non-cross)"},
    {'Q', 40, "Cross Trade"},
    {'B', 19, "Broken Trade"},
    {'I', 50, "Net Order Imbalance Indicator"},
    {'N', 20, "Retail Price Improvement Indicator"},
    {'O', 48, "Direct Listing with Capital Raise Price Discovery"},
};

static int find(char type)
{
    for (size_t i = 0; i < SN_COUNTOF(types); i++)
        if (types[i].type == type)
            return (int)i;
    return -1;
}

int sn_itch_size(char type)
{
    int i = find(type);
    return i < 0 ? -EPROTONOSUPPORT : types[i].size;
}

const char *sn_itch_type_name(char type)
{
    int i = find(type);
    return i < 0 ? "?" : types[i].name;
}

static void header(struct cur *c, struct sn_itch_msg *m)
{
    f_char(c, &m->type);
    f_u16(c, &m->locate);
    f_u16(c, &m->tracking);
    f_u48(c, &m->ts_ns);
}

int sn_itch_decode(const uint8_t *p, size_t len, struct sn_itch_msg *out)
{
    if (!p || len == 0)
        return -EBADMSG;
    int size = sn_itch_size((char)p[0]);
    if (size < 0)
        return size;
    if (len != (size_t)size)
        return -EBADMSG;
    memset(out, 0, sizeof(*out));
    struct cur c = {.r = p};
    header(&c, out);
    walk(&c, out);
    return 0;
}

ssize_t sn_itch_encode(const struct sn_itch_msg *m, void *out, size_t cap)
{
    int size = sn_itch_size(m->type);
    if (size < 0)
        return size;
    if (m->ts_ns >> 48)
        return -EINVAL;
    if (cap < (size_t)size)
        return -ENOBUFS;
    struct sn_itch_msg tmp = *m; /* the walker takes a mutable message; it only reads it here */
    struct cur c = {.w = out};
    header(&c, &tmp);
    walk(&c, &tmp);
    return (ssize_t)c.off;
}

void sn_itch_stock_set(char stock[8], const char *s)
{
    size_t n = s ? strnlen(s, 8) : 0;
    memset(stock, ' ', 8);
    if (n)
        memcpy(stock, s, n);
}

char *sn_itch_stock_str(const char stock[8], char out[9])
{
    size_t n = 8;
    while (n && (stock[n - 1] == ' ' || stock[n - 1] == 0))
        n--;
    memcpy(out, stock, n);
    out[n] = 0;
    return out;
}
