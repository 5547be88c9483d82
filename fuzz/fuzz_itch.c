/* fuzz_itch.c — libFuzzer target for the NASDAQ decoders. The input is read as: an
 * ITCH message (decoded; if valid, it must re-encode to the same bytes); a MoldUDP64
 * packet (parsed, walked, tracked, every block decoded as ITCH) and a re-request; and a
 * SoupBinTCP byte stream (framed, every packet parsed and fed to a client and a server
 * session with a clock that byte values advance). Nothing may crash or read past the
 * input, and the invariants below must hold. */
#include <sysnet/frame.h>
#include <sysnet/itch.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void itch(const uint8_t *p, size_t n)
{
    struct sn_itch_msg m;
    uint8_t out[SN_ITCH_MAX_SIZE];
    int rc = sn_itch_decode(p, n, &m);
    if (rc == 0) {
        ssize_t w = sn_itch_encode(&m, out, sizeof out);
        if (w != (ssize_t)n || memcmp(out, p, n))
            abort();
        char s[9];
        sn_itch_stock_str(m.u.A.stock, s);
    } else if (rc != -EBADMSG && rc != -EPROTONOSUPPORT) {
        abort();
    }
}

static void mold(const uint8_t *p, size_t n)
{
    struct sn_mold_pkt pk;
    if (sn_mold_parse(p, n, &pk) == 0) {
        size_t off = 0, len;
        const uint8_t *m;
        unsigned count = 0;
        int rc;
        while ((rc = sn_mold_next(&pk, &off, &m, &len)) == 1) {
            itch(m, len);
            count++;
        }
        if (rc != 0)
            abort();
        unsigned want = pk.count == SN_MOLD_END ? 0 : pk.count;
        if (count != want)
            abort();
        struct sn_mold_tracker t;
        struct sn_mold_track r;
        sn_mold_tracker_init(&t, n & 1 ? 0 : 1);
        rc = sn_mold_track(&t, &pk, &r);
        if (rc < 0 || (unsigned)rc > want || r.skip + (unsigned)rc > want)
            abort();
        rc = sn_mold_track(&t, &pk, &r); /* the same again: all duplicates */
        if (rc != 0)
            abort();
    }
    char sess[10];
    uint64_t seq;
    uint16_t cnt;
    (void)sn_mold_parse_request(p, n, sess, &seq, &cnt);
}

static uint8_t fbuf[SN_SOUP_MAX_PACKET];

static void soup(const uint8_t *p, size_t n)
{
    struct sn_frame_opts o;
    struct sn_framer f;
    sn_soup_frame_opts(&o);
    if (sn_framer_init(&f, &o, fbuf, sizeof fbuf) != 0 || sn_framer_push(&f, p, n) != 0)
        abort();
    struct sn_soup_sess cl, sv;
    uint64_t now = 0;
    sn_soup_sess_init(&cl, SN_SOUP_CLIENT, now);
    sn_soup_sess_init(&sv, SN_SOUP_SERVER, now);
    (void)sn_soup_on_send(&cl, SN_SOUP_LOGIN_REQUEST, now);
    const uint8_t *fr;
    size_t len;
    while (sn_framer_next(&f, &fr, &len) == 1) {
        struct sn_soup_pkt pk;
        int rc = sn_soup_parse(fr, len, &pk);
        if (rc != 0) {
            if (rc != -EBADMSG && rc != -EPROTONOSUPPORT)
                abort();
            continue;
        }
        now += (uint64_t)(len ? fr[len - 1] : 0) * 100000000ull;
        int e1 = sn_soup_on_recv(&cl, &pk, now);
        int e2 = sn_soup_on_recv(&sv, &pk, now);
        if (e2 == SN_SOUP_EV_LOGIN)
            (void)sn_soup_on_send(&sv, (len & 1) ? SN_SOUP_LOGIN_ACCEPTED : SN_SOUP_LOGIN_REJECTED, now);
        if ((e1 < 0 && e1 != -EPROTO) || (e2 < 0 && e2 != -EPROTO))
            abort();
        int t1 = sn_soup_tick(&cl, now), t2 = sn_soup_tick(&sv, now);
        if (t1 == 1 && sn_soup_on_send(&cl, SN_SOUP_CLIENT_HEARTBEAT, now) != 0)
            abort();
        if (t2 == 1 && sn_soup_on_send(&sv, SN_SOUP_SERVER_HEARTBEAT, now) != 0)
            abort();
        if (sn_soup_deadline(&cl) != UINT64_MAX && cl.state == SN_SOUP_CLOSED)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1); /* exact size: ASan sees overreads */
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    itch(copy, size);
    mold(copy, size);
    soup(copy, size);
    free(copy);
    return 0;
}
