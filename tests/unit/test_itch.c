/* tests/unit/test_itch.c — NASDAQ framings: every ITCH 5.0 type decoded from known
 * bytes and re-encoded byte for byte, wrong sizes and unknown types; SoupBinTCP
 * packets and the session state machine (login, data, heartbeats, timeout, logout);
 * MoldUDP64 packets, gaps, duplicates, re-requests and hostile block lengths. */
#include "../harness.h"

#include <errno.h>
#include <sysnet/base.h>
#include <sysnet/frame.h>
#include <sysnet/itch.h>

static const char all_types[] = "SRHYLVWKJhAFECXDUPQBINO";

/* ---- ITCH ------------------------------------------------------------------- */

SN_TEST(itch_sizes_match_the_spec)
{
    static const struct { char t; int n; } want[] = {
        {'S', 12}, {'R', 39}, {'H', 25}, {'Y', 20}, {'L', 26}, {'V', 35}, {'W', 12}, {'K', 28},
        {'J', 35}, {'h', 21}, {'A', 36}, {'F', 40}, {'E', 31}, {'C', 36}, {'X', 23}, {'D', 19},
        {'U', 35}, {'P', 44}, {'Q', 40}, {'B', 19}, {'I', 50}, {'N', 20}, {'O', 48},
    };
    for (size_t i = 0; i < SN_COUNTOF(want); i++) {
        CHECK_EQ(sn_itch_size(want[i].t), want[i].n);
        CHECK(strcmp(sn_itch_type_name(want[i].t), "?") != 0);
    }
    for (int c = 0; c < 256; c++)
        if (!memchr(all_types, c, sizeof(all_types) - 1) || c == 0)
            CHECK_EQ(sn_itch_size((char)c), -EPROTONOSUPPORT);
}

/* Every type: patterned bytes decode, and encode back to exactly the same bytes
 * (into a buffer pre-filled with another pattern, so a field the walker skipped
 * would show). Wrong sizes and a truncated copy are refused. */
SN_TEST(itch_every_type_round_trips_byte_for_byte)
{
    for (const char *t = all_types; *t; t++) {
        int n = sn_itch_size(*t);
        uint8_t raw[64], out[64];
        raw[0] = (uint8_t)*t;
        for (int i = 1; i < n; i++)
            raw[i] = (uint8_t)(i * 7 + *t);
        struct sn_itch_msg m;
        CHECK_EQ(sn_itch_decode(raw, (size_t)n, &m), 0);
        CHECK_EQ(m.type, *t);
        CHECK_EQ(m.locate, sn_load_be16(raw + 1));
        CHECK_EQ(m.tracking, sn_load_be16(raw + 3));
        CHECK(m.ts_ns == sn_load_be48(raw + 5));
        memset(out, 0xEE, sizeof out);
        CHECK_EQ(sn_itch_encode(&m, out, sizeof out), n);
        CHECK_MEM(out, raw, (size_t)n);
        CHECK_EQ(out[n], 0xEE);
        CHECK_EQ(sn_itch_decode(raw, (size_t)n - 1, &m), -EBADMSG);
        CHECK_EQ(sn_itch_decode(raw, (size_t)n + 1, &m), -EBADMSG);
        CHECK_EQ(sn_itch_encode(&m, out, (size_t)n - 1), -ENOBUFS);
        /* A private copy of exactly n - 1 bytes: ASan checks nothing reads past it. */
        uint8_t *cut = malloc((size_t)n - 1);
        memcpy(cut, raw, (size_t)n - 1);
        CHECK_EQ(sn_itch_decode(cut, (size_t)n - 1, &m), -EBADMSG);
        free(cut);
    }
    struct sn_itch_msg m;
    CHECK_EQ(sn_itch_decode((const uint8_t *)"", 0, &m), -EBADMSG);
    CHECK_EQ(sn_itch_decode((const uint8_t *)"Z123456789012", 12, &m), -EPROTONOSUPPORT);
    m.type = 'a';
    uint8_t out[64];
    CHECK_EQ(sn_itch_encode(&m, out, sizeof out), -EPROTONOSUPPORT);
    m.type = 'D';
    m.ts_ns = 1ull << 48;
    CHECK_EQ(sn_itch_encode(&m, out, sizeof out), -EINVAL);
}

/* Add Order from bytes written out by hand from the spec's field table. */
SN_TEST(itch_add_order_known_bytes)
{
    static const uint8_t a[36] = {
        'A', 0x00, 0x2a,                         /* stock locate 42 */
        0x00, 0x00,                              /* tracking 0 */
        0x00, 0x00, 0x1c, 0x8f, 0x2f, 0x3b,      /* timestamp 0x1c8f2f3b ns */
        0, 0, 0, 0, 0, 0, 0x30, 0x39,            /* order ref 12345 */
        'B',                                     /* buy */
        0x00, 0x00, 0x00, 0x64,                  /* 100 shares */
        'A', 'A', 'P', 'L', ' ', ' ', ' ', ' ',  /* stock */
        0x00, 0x1b, 0x77, 0x40,                  /* price 180.0000 -> 1800000 */
    };
    struct sn_itch_msg m;
    CHECK_EQ(sn_itch_decode(a, sizeof a, &m), 0);
    CHECK_EQ(m.locate, 42);
    CHECK(m.ts_ns == 0x1c8f2f3bull);
    CHECK(m.u.A.order_ref == 12345);
    CHECK_EQ(m.u.A.side, 'B');
    CHECK_EQ(m.u.A.shares, 100u);
    CHECK_EQ(m.u.A.price, 1800000u);
    char s[9];
    CHECK_STR(sn_itch_stock_str(m.u.A.stock, s), "AAPL");

    struct sn_itch_msg b = {.type = 'A', .locate = 42, .ts_ns = 0x1c8f2f3bull};
    b.u.A.order_ref = 12345;
    b.u.A.side = 'B';
    b.u.A.shares = 100;
    sn_itch_stock_set(b.u.A.stock, "AAPL");
    b.u.A.price = 1800000;
    uint8_t out[36];
    CHECK_EQ(sn_itch_encode(&b, out, sizeof out), 36);
    CHECK_MEM(out, a, 36);
}

/* Fields of the less common layouts at their spec offsets. */
SN_TEST(itch_field_offsets)
{
    uint8_t raw[64];
    struct sn_itch_msg m;
    /* I (NOII): paired 11, imbalance 19, direction 27, stock 28, far 36, near 40,
     * ref 44, cross type 48, price variation 49. */
    memset(raw, 0, sizeof raw);
    raw[0] = 'I';
    sn_store_be64(raw + 11, 1000);
    sn_store_be64(raw + 19, 250);
    raw[27] = 'B';
    memcpy(raw + 28, "MSFT    ", 8);
    sn_store_be32(raw + 36, 4000000);
    sn_store_be32(raw + 40, 4010000);
    sn_store_be32(raw + 44, 4005000);
    raw[48] = 'C';
    raw[49] = '1';
    CHECK_EQ(sn_itch_decode(raw, 50, &m), 0);
    CHECK(m.u.I.paired_shares == 1000 && m.u.I.imbalance_shares == 250);
    CHECK(m.u.I.imbalance_direction == 'B' && !memcmp(m.u.I.stock, "MSFT    ", 8));
    CHECK(m.u.I.far_price == 4000000 && m.u.I.near_price == 4010000 && m.u.I.ref_price == 4005000);
    CHECK(m.u.I.cross_type == 'C' && m.u.I.price_variation == '1');
    /* O (DLCR): stock 11, eligibility 19, min 20, max 24, near 28, near time 32,
     * lower collar 40, upper collar 44. */
    memset(raw, 0, sizeof raw);
    raw[0] = 'O';
    raw[19] = 'Y';
    sn_store_be32(raw + 20, 100000);
    sn_store_be32(raw + 24, 200000);
    sn_store_be32(raw + 28, 150000);
    sn_store_be64(raw + 32, 36000000000000ull);
    sn_store_be32(raw + 40, 140000);
    sn_store_be32(raw + 44, 160000);
    CHECK_EQ(sn_itch_decode(raw, 48, &m), 0);
    CHECK(m.u.O.open_eligibility == 'Y' && m.u.O.min_price == 100000 && m.u.O.max_price == 200000);
    CHECK(m.u.O.near_price == 150000 && m.u.O.near_time == 36000000000000ull);
    CHECK(m.u.O.lower_collar == 140000 && m.u.O.upper_collar == 160000);
    /* Q (cross): shares 11 (8 bytes), stock 19, price 27, match 31, type 39. */
    memset(raw, 0, sizeof raw);
    raw[0] = 'Q';
    sn_store_be64(raw + 11, 5000000000ull);
    sn_store_be32(raw + 27, 99);
    sn_store_be64(raw + 31, 77);
    raw[39] = 'O';
    CHECK_EQ(sn_itch_decode(raw, 40, &m), 0);
    CHECK(m.u.Q.shares == 5000000000ull && m.u.Q.price == 99 && m.u.Q.match == 77 && m.u.Q.cross_type == 'O');
    /* R: round lot 21, etp leverage 34, inverse 38. */
    memset(raw, ' ', sizeof raw);
    raw[0] = 'R';
    sn_store_be32(raw + 21, 100);
    sn_store_be32(raw + 34, 3);
    raw[38] = 'Y';
    CHECK_EQ(sn_itch_decode(raw, 39, &m), 0);
    CHECK(m.u.R.round_lot_size == 100 && m.u.R.etp_leverage_factor == 3 && m.u.R.inverse_indicator == 'Y');
    /* V: three 8-byte levels at 11, 19, 27. */
    memset(raw, 0, sizeof raw);
    raw[0] = 'V';
    sn_store_be64(raw + 27, 123456789012ull);
    CHECK_EQ(sn_itch_decode(raw, 35, &m), 0);
    CHECK(m.u.V.level3 == 123456789012ull && m.u.V.level1 == 0);
    /* F: attribution at 36. */
    memset(raw, 0, sizeof raw);
    raw[0] = 'F';
    memcpy(raw + 36, "GSCO", 4);
    CHECK_EQ(sn_itch_decode(raw, 40, &m), 0);
    CHECK_MEM(m.u.A.attribution, "GSCO", 4);
}

/* ---- SoupBinTCP --------------------------------------------------------------- */

SN_TEST(soup_packets_parse_and_emit)
{
    uint8_t b[128];
    struct sn_soup_pkt p;
    ssize_t n = sn_soup_emit_login_request("user", "secret", "", 1, b, sizeof b);
    CHECK_EQ(n, 49);
    CHECK_MEM(b, "\x00\x2fLuser  secret              "
                 "                   1", 49);
    CHECK_EQ(sn_soup_parse(b + 2, (size_t)n - 2, &p), 0);
    CHECK_EQ(p.type, 'L');
    CHECK_MEM(p.username, "user  ", 6);
    CHECK_MEM(p.password, "secret    ", 10);
    CHECK_MEM(p.session, "          ", 10);
    CHECK(p.seq == 1);
    n = sn_soup_emit_login_accepted("SESS1", 12345678901234567890ull, b, sizeof b);
    CHECK_EQ(n, 33);
    CHECK_MEM(b, "\x00\x1f" "A     SESS112345678901234567890", 33);
    CHECK_EQ(sn_soup_parse(b + 2, 31, &p), 0);
    CHECK(p.seq == 12345678901234567890ull);
    CHECK_MEM(p.session, "     SESS1", 10);
    n = sn_soup_emit_login_rejected('A', b, sizeof b);
    CHECK_EQ(n, 4);
    CHECK_EQ(sn_soup_parse(b + 2, 2, &p), 0);
    CHECK_EQ(p.reason, 'A');
    CHECK_EQ(sn_soup_emit('S', "hello", 5, b, sizeof b), 8);
    CHECK_MEM(b, "\x00\x06Shello", 8);
    CHECK_EQ(sn_soup_parse(b + 2, 6, &p), 0);
    CHECK(p.len == 5 && !memcmp(p.payload, "hello", 5));
    static const char empty[] = "HZRO";
    for (const char *t = empty; *t; t++) {
        uint8_t pk[2] = {(uint8_t)*t, 'x'};
        CHECK_EQ(sn_soup_parse(pk, 1, &p), 0);
        CHECK_EQ(sn_soup_parse(pk, 2, &p), -EBADMSG);
    }
    CHECK_EQ(sn_soup_parse((const uint8_t *)"+debug", 6, &p), 0);
    CHECK_EQ(sn_soup_parse((const uint8_t *)"U", 1, &p), 0);
    CHECK_EQ(sn_soup_parse((const uint8_t *)"", 0, &p), -EBADMSG);
    CHECK_EQ(sn_soup_parse((const uint8_t *)"Q", 1, &p), -EPROTONOSUPPORT);
    CHECK_EQ(sn_soup_parse((const uint8_t *)"J", 1, &p), -EBADMSG);
    /* Bad sequence numbers: a letter, an overflow (2^64 = 18446744073709551616). */
    CHECK_EQ(sn_soup_parse((const uint8_t *)"A     SESS1        1234x6789012", 31, &p), -EBADMSG);
    CHECK_EQ(sn_soup_parse((const uint8_t *)"A     SESS118446744073709551616", 31, &p), -EBADMSG);
    CHECK_EQ(sn_soup_parse((const uint8_t *)"A     SESS118446744073709551615", 31, &p), 0);
    CHECK_EQ(sn_soup_emit_login_request("toolong", "x", "", 0, b, sizeof b), -EINVAL);
    CHECK_EQ(sn_soup_emit('S', b, 65535, b, sizeof b), -EMSGSIZE);
    CHECK_EQ(sn_soup_emit('S', "hello", 5, b, 7), -ENOBUFS);
    CHECK_STR(sn_soup_type_name('Z'), "End of Session");
}

/* A SoupBinTCP byte stream through the framer, cut at every pair of points. */
SN_TEST(soup_stream_every_split)
{
    uint8_t s[256];
    size_t n = 0;
    n += (size_t)sn_soup_emit_login_accepted("S1", 7, s + n, sizeof s - n);
    n += (size_t)sn_soup_emit('S', "abc", 3, s + n, sizeof s - n);
    n += (size_t)sn_soup_emit('H', NULL, 0, s + n, sizeof s - n);
    n += (size_t)sn_soup_emit('S', "", 0, s + n, sizeof s - n);
    n += (size_t)sn_soup_emit('Z', NULL, 0, s + n, sizeof s - n);
    static const char want[] = "ASHSZ";
    struct sn_frame_opts o;
    sn_soup_frame_opts(&o);
    static uint8_t buf[65535];
    for (size_t a = 0; a <= n; a++)
        for (size_t b = a; b <= n; b++) {
            struct sn_framer f;
            CHECK_EQ(sn_framer_init(&f, &o, buf, sizeof buf), 0);
            size_t cuts[4] = {0, a, b, n}, k = 0;
            for (int i = 0; i < 3; i++) {
                CHECK_EQ(sn_framer_push(&f, s + cuts[i], cuts[i + 1] - cuts[i]), 0);
                const uint8_t *p;
                size_t len;
                int rc;
                while ((rc = sn_framer_next(&f, &p, &len)) == 1) {
                    struct sn_soup_pkt pk;
                    CHECK_EQ(sn_soup_parse(p, len, &pk), 0);
                    CHECK(k < 5 && pk.type == want[k]);
                    k++;
                }
                CHECK_EQ(rc, 0);
            }
            CHECK_EQ(k, 5u);
        }
}

static struct sn_soup_pkt pkt(char type)
{
    struct sn_soup_pkt p;
    memset(&p, 0, sizeof p);
    p.type = type;
    return p;
}

#define S_NS 1000000000ull

SN_TEST(soup_client_login_data_heartbeat_logout)
{
    struct sn_soup_sess s;
    uint64_t t = 1000 * S_NS;
    sn_soup_sess_init(&s, SN_SOUP_CLIENT, t);
    CHECK_EQ(s.state, SN_SOUP_IDLE);
    struct sn_soup_pkt sq = pkt('S');
    CHECK_EQ(sn_soup_on_recv(&s, &sq, t), -EPROTO); /* data before login */
    CHECK_EQ(sn_soup_on_send(&s, 'U', t), -EPROTO);
    CHECK_EQ(sn_soup_on_send(&s, 'L', t), 0);
    CHECK_EQ(s.state, SN_SOUP_LOGIN_SENT);
    CHECK_EQ(sn_soup_on_send(&s, 'L', t), -EPROTO); /* L twice */
    CHECK_EQ(sn_soup_tick(&s, t + 2 * S_NS), 0);    /* no heartbeats before login */
    struct sn_soup_pkt acc = pkt('A');
    memcpy(acc.session, "     SESS1", 10);
    acc.seq = 41;
    CHECK_EQ(sn_soup_on_recv(&s, &acc, t + 2 * S_NS), SN_SOUP_EV_LOGGED_IN);
    CHECK_EQ(s.state, SN_SOUP_ACTIVE);
    CHECK(s.next_seq == 41);
    CHECK_MEM(s.session, "     SESS1", 10);
    CHECK_EQ(sn_soup_on_recv(&s, &acc, t + 2 * S_NS), -EPROTO); /* A twice */
    CHECK_EQ(sn_soup_on_recv(&s, &sq, t + 2 * S_NS), SN_SOUP_EV_DATA);
    CHECK(s.next_seq == 42);
    /* We last sent at t (the L): a heartbeat is due at t + 1 s already. */
    CHECK_EQ(sn_soup_tick(&s, t + 2 * S_NS), 1);
    CHECK_EQ(sn_soup_on_send(&s, 'R', t + 2 * S_NS), 0);
    CHECK_EQ(sn_soup_tick(&s, t + 2 * S_NS + S_NS - 1), 0);
    CHECK(sn_soup_deadline(&s) == t + 3 * S_NS);
    CHECK_EQ(sn_soup_tick(&s, t + 3 * S_NS), 1);
    CHECK_EQ(sn_soup_on_send(&s, 'U', t + 3 * S_NS), 0); /* any packet resets the timer */
    CHECK_EQ(sn_soup_tick(&s, t + 3 * S_NS + 10), 0);
    struct sn_soup_pkt hb = pkt('H');
    CHECK_EQ(sn_soup_on_recv(&s, &hb, t + 4 * S_NS), SN_SOUP_EV_NONE);
    struct sn_soup_pkt bad = pkt('L');
    CHECK_EQ(sn_soup_on_recv(&s, &bad, t + 4 * S_NS), -EPROTO); /* a client packet from the server */
    CHECK_EQ(s.state, SN_SOUP_ACTIVE);
    CHECK_EQ(sn_soup_on_send(&s, 'O', t + 5 * S_NS), 0);
    CHECK_EQ(s.state, SN_SOUP_CLOSED);
    CHECK_EQ(s.close_reason, SN_SOUP_EV_LOGOUT);
    CHECK(sn_soup_deadline(&s) == UINT64_MAX);
    CHECK_EQ(sn_soup_on_send(&s, 'R', t + 6 * S_NS), -EPROTO);
}

SN_TEST(soup_heartbeat_timeout)
{
    struct sn_soup_sess s;
    sn_soup_sess_init(&s, SN_SOUP_CLIENT, 0);
    CHECK_EQ(sn_soup_on_send(&s, 'L', 0), 0);
    struct sn_soup_pkt acc = pkt('A');
    CHECK_EQ(sn_soup_on_recv(&s, &acc, S_NS / 2), SN_SOUP_EV_LOGGED_IN);
    /* Heartbeat every second, and nothing comes back. */
    uint64_t t = S_NS;
    int rc;
    while ((rc = sn_soup_tick(&s, t)) >= 0) {
        if (rc == 1)
            CHECK_EQ(sn_soup_on_send(&s, 'R', t), 0);
        t += S_NS / 4;
        CHECK(t < 100 * S_NS);
    }
    CHECK_EQ(rc, -ETIMEDOUT);
    CHECK(t == S_NS / 2 + 15 * S_NS);
    CHECK_EQ(s.state, SN_SOUP_CLOSED);
    CHECK_EQ(s.close_reason, -ETIMEDOUT);
    /* A login that is never answered times out too. */
    sn_soup_sess_init(&s, SN_SOUP_CLIENT, 0);
    CHECK_EQ(sn_soup_on_send(&s, 'L', 0), 0);
    CHECK(sn_soup_deadline(&s) == 15 * S_NS);
    CHECK_EQ(sn_soup_tick(&s, 15 * S_NS - 1), 0);
    CHECK_EQ(sn_soup_tick(&s, 15 * S_NS), -ETIMEDOUT);
}

SN_TEST(soup_client_rejected_and_end_of_session)
{
    struct sn_soup_sess s;
    sn_soup_sess_init(&s, SN_SOUP_CLIENT, 0);
    CHECK_EQ(sn_soup_on_send(&s, 'L', 0), 0);
    struct sn_soup_pkt rej = pkt('J');
    rej.reason = 'A';
    CHECK_EQ(sn_soup_on_recv(&s, &rej, 1), SN_SOUP_EV_REJECTED);
    CHECK_EQ(s.state, SN_SOUP_CLOSED);
    sn_soup_sess_init(&s, SN_SOUP_CLIENT, 0);
    CHECK_EQ(sn_soup_on_send(&s, 'L', 0), 0);
    struct sn_soup_pkt acc = pkt('A'), z = pkt('Z');
    CHECK_EQ(sn_soup_on_recv(&s, &z, 1), -EPROTO);
    CHECK_EQ(sn_soup_on_recv(&s, &acc, 1), SN_SOUP_EV_LOGGED_IN);
    CHECK_EQ(sn_soup_on_recv(&s, &z, 2), SN_SOUP_EV_END);
    CHECK_EQ(s.state, SN_SOUP_CLOSED);
    CHECK_EQ(s.close_reason, SN_SOUP_EV_END);
}

SN_TEST(soup_server_side)
{
    struct sn_soup_sess s;
    sn_soup_sess_init(&s, SN_SOUP_SERVER, 0);
    CHECK_EQ(s.state, SN_SOUP_AWAIT_LOGIN);
    struct sn_soup_pkt u = pkt('U'), l = pkt('L'), r = pkt('R'), o = pkt('O');
    CHECK_EQ(sn_soup_on_recv(&s, &u, 1), -EPROTO);
    CHECK_EQ(sn_soup_on_send(&s, 'A', 1), -EPROTO);
    CHECK_EQ(sn_soup_on_recv(&s, &l, 1), SN_SOUP_EV_LOGIN);
    CHECK_EQ(s.state, SN_SOUP_LOGIN_RECEIVED);
    CHECK_EQ(sn_soup_on_send(&s, 'S', 1), -EPROTO);
    CHECK_EQ(sn_soup_on_send(&s, 'A', 2), 0);
    CHECK_EQ(s.state, SN_SOUP_ACTIVE);
    s.next_seq = 1;
    CHECK_EQ(sn_soup_on_send(&s, 'S', 3), 0);
    CHECK(s.next_seq == 2);
    CHECK_EQ(sn_soup_on_recv(&s, &u, 4), SN_SOUP_EV_DATA);
    CHECK_EQ(sn_soup_on_recv(&s, &r, 5), SN_SOUP_EV_NONE);
    CHECK_EQ(sn_soup_on_recv(&s, &l, 5), -EPROTO);
    CHECK_EQ(sn_soup_tick(&s, 3 + S_NS), 1);
    CHECK_EQ(sn_soup_on_send(&s, 'H', 3 + S_NS), 0);
    CHECK_EQ(sn_soup_on_send(&s, 'R', 3 + S_NS), -EPROTO); /* a client heartbeat from a server */
    CHECK_EQ(sn_soup_on_recv(&s, &o, 6 + S_NS), SN_SOUP_EV_LOGOUT);
    CHECK_EQ(s.state, SN_SOUP_CLOSED);
    /* Rejecting. */
    sn_soup_sess_init(&s, SN_SOUP_SERVER, 0);
    CHECK_EQ(sn_soup_on_recv(&s, &l, 1), SN_SOUP_EV_LOGIN);
    CHECK_EQ(sn_soup_on_send(&s, 'J', 1), 0);
    CHECK_EQ(s.state, SN_SOUP_CLOSED);
    /* A client that never logs in. */
    sn_soup_sess_init(&s, SN_SOUP_SERVER, 0);
    CHECK_EQ(sn_soup_tick(&s, 15 * S_NS), -ETIMEDOUT);
}

/* ---- MoldUDP64 ---------------------------------------------------------------- */

SN_TEST(mold_packet_emit_parse_iterate)
{
    uint8_t b[256];
    struct iovec m[3] = {{(void *)"abc", 3}, {(void *)"", 0}, {(void *)"hello", 5}};
    ssize_t n = sn_mold_emit("SESSION01", 100, m, 3, b, sizeof b);
    CHECK_EQ(n, 20 + 2 + 3 + 2 + 2 + 5);
    CHECK_MEM(b, "SESSION01 \x00\x00\x00\x00\x00\x00\x00\x64\x00\x03\x00\x03" "abc\x00\x00\x00\x05hello", 34);
    struct sn_mold_pkt pk;
    CHECK_EQ(sn_mold_parse(b, (size_t)n, &pk), 0);
    CHECK(pk.seq == 100 && pk.count == 3);
    size_t off = 0, len;
    const uint8_t *p;
    CHECK_EQ(sn_mold_next(&pk, &off, &p, &len), 1);
    CHECK(len == 3 && !memcmp(p, "abc", 3));
    CHECK_EQ(sn_mold_next(&pk, &off, &p, &len), 1);
    CHECK_EQ(len, 0u);
    CHECK_EQ(sn_mold_next(&pk, &off, &p, &len), 1);
    CHECK(len == 5 && !memcmp(p, "hello", 5));
    CHECK_EQ(sn_mold_next(&pk, &off, &p, &len), 0);
    CHECK_EQ(sn_mold_emit("S", 1, m, 3, b, 20), -ENOBUFS);
    CHECK_EQ(sn_mold_emit("S", 1, m, 0, b, sizeof b), -EINVAL);
    CHECK_EQ(sn_mold_emit("SESSION0123", 1, m, 3, b, sizeof b), -EINVAL);
}

SN_TEST(mold_hostile_packets)
{
    uint8_t b[64];
    struct sn_mold_pkt pk;
    struct iovec m[1] = {{(void *)"abc", 3}};
    ssize_t n = sn_mold_emit("S", 5, m, 1, b, sizeof b);
    CHECK_EQ(sn_mold_parse(b, (size_t)n, &pk), 0);
    CHECK_EQ(sn_mold_parse(b, 19, &pk), -EBADMSG);              /* short header */
    CHECK_EQ(sn_mold_parse(b, (size_t)n - 1, &pk), -EBADMSG);   /* block overruns */
    b[n] = 0;
    CHECK_EQ(sn_mold_parse(b, (size_t)n + 1, &pk), -EBADMSG);   /* trailing byte */
    sn_store_be16(b + 18, 2);
    CHECK_EQ(sn_mold_parse(b, (size_t)n, &pk), -EBADMSG);       /* count above the blocks */
    sn_store_be16(b + 18, 1);
    sn_store_be16(b + 20, 0xffff);
    CHECK_EQ(sn_mold_parse(b, (size_t)n, &pk), -EBADMSG);       /* hostile block length */
    sn_store_be16(b + 20, 3);
    sn_store_be64(b + 10, UINT64_MAX);
    CHECK_EQ(sn_mold_parse(b, (size_t)n, &pk), -EBADMSG);       /* sequence wraps */
    /* Heartbeat and end of session carry no blocks. */
    CHECK_EQ(sn_mold_emit_heartbeat("S", 9, b, sizeof b), 20);
    CHECK_EQ(sn_mold_parse(b, 20, &pk), 0);
    CHECK(pk.count == SN_MOLD_HEARTBEAT && pk.seq == 9);
    CHECK_EQ(sn_mold_parse(b, 22, &pk), -EBADMSG);
    CHECK_EQ(sn_mold_emit_end("S", 9, b, sizeof b), 20);
    CHECK_EQ(sn_mold_parse(b, 20, &pk), 0);
    CHECK_EQ(pk.count, SN_MOLD_END);
    /* A huge count with no blocks at all. */
    sn_store_be16(b + 18, 0xfffe);
    CHECK_EQ(sn_mold_parse(b, 20, &pk), -EBADMSG);
}

static struct sn_mold_pkt mk(uint64_t seq, uint16_t count)
{
    struct sn_mold_pkt p;
    memset(&p, 0, sizeof p);
    memcpy(p.session, "SESSION01 ", 10);
    p.seq = seq;
    p.count = count;
    return p;
}

SN_TEST(mold_gaps_duplicates_and_rerequests)
{
    struct sn_mold_tracker t;
    struct sn_mold_track r;
    sn_mold_tracker_init(&t, 1);
    struct sn_mold_pkt p = mk(1, 3);
    CHECK_EQ(sn_mold_track(&t, &p, &r), 3);
    CHECK(r.skip == 0 && r.gap_count == 0 && t.expected == 4);
    p = mk(1, 3); /* a duplicate */
    CHECK_EQ(sn_mold_track(&t, &p, &r), 0);
    CHECK(r.gap_count == 0 && t.expected == 4);
    p = mk(3, 3); /* overlaps: 3 seen, 4 and 5 new */
    CHECK_EQ(sn_mold_track(&t, &p, &r), 2);
    CHECK(r.skip == 1 && t.expected == 6);
    p = mk(10, 2); /* 6..9 lost */
    CHECK_EQ(sn_mold_track(&t, &p, &r), 2);
    CHECK(r.gap_seq == 6 && r.gap_count == 4 && r.skip == 0 && t.expected == 12);
    /* The re-request for the gap. */
    uint8_t req[20];
    CHECK_EQ(sn_mold_emit_request(t.session, r.gap_seq, (uint16_t)r.gap_count, req, sizeof req), 20);
    CHECK_MEM(req, "SESSION01 \x00\x00\x00\x00\x00\x00\x00\x06\x00\x04", 20);
    char sess[10];
    uint64_t seq;
    uint16_t cnt;
    CHECK_EQ(sn_mold_parse_request(req, 20, sess, &seq, &cnt), 0);
    CHECK(seq == 6 && cnt == 4 && !memcmp(sess, "SESSION01 ", 10));
    CHECK_EQ(sn_mold_parse_request(req, 21, sess, &seq, &cnt), -EBADMSG);
    CHECK_EQ(sn_mold_emit_request(t.session, 6, 0, req, sizeof req), -EINVAL);
    /* A heartbeat announcing 14: 12 and 13 were lost. */
    p = mk(14, SN_MOLD_HEARTBEAT);
    CHECK_EQ(sn_mold_track(&t, &p, &r), 0);
    CHECK(r.gap_seq == 12 && r.gap_count == 2 && t.expected == 14);
    p = mk(14, SN_MOLD_HEARTBEAT); /* and a second one: no new gap */
    CHECK_EQ(sn_mold_track(&t, &p, &r), 0);
    CHECK_EQ(r.gap_count, 0u);
    /* Another session's packet is refused and changes nothing. */
    p = mk(14, 1);
    memcpy(p.session, "OTHER     ", 10);
    CHECK_EQ(sn_mold_track(&t, &p, &r), -EPROTO);
    CHECK(t.expected == 14);
    p = mk(14, SN_MOLD_END);
    CHECK_EQ(sn_mold_track(&t, &p, &r), 0);
    CHECK(r.end && t.ended);
    /* Joining a session in progress. */
    sn_mold_tracker_init(&t, 0);
    p = mk(5000, 2);
    CHECK_EQ(sn_mold_track(&t, &p, &r), 2);
    CHECK(r.gap_count == 0 && t.expected == 5002);
}

/* ITCH inside MoldUDP64: a packet of every message type decodes back. */
SN_TEST(mold_carrying_itch)
{
    static uint8_t msgs[23][64], pkt_buf[2048];
    struct iovec iov[23];
    size_t k = 0;
    for (const char *t = all_types; *t; t++, k++) {
        struct sn_itch_msg m;
        memset(&m, 0, sizeof m);
        m.type = *t;
        m.locate = (uint16_t)k;
        m.ts_ns = 34200000000000ull + k;
        ssize_t n = sn_itch_encode(&m, msgs[k], sizeof msgs[k]);
        CHECK(n > 0);
        iov[k] = (struct iovec){msgs[k], (size_t)n};
    }
    ssize_t n = sn_mold_emit("ITCH", 1, iov, 23, pkt_buf, sizeof pkt_buf);
    CHECK(n > 0);
    struct sn_mold_pkt pk;
    CHECK_EQ(sn_mold_parse(pkt_buf, (size_t)n, &pk), 0);
    size_t off = 0, len;
    const uint8_t *p;
    k = 0;
    while (sn_mold_next(&pk, &off, &p, &len) == 1) {
        struct sn_itch_msg m;
        CHECK_EQ(sn_itch_decode(p, len, &m), 0);
        CHECK(m.type == all_types[k] && m.locate == k && m.ts_ns == 34200000000000ull + k);
        k++;
    }
    CHECK_EQ(k, 23u);
}
