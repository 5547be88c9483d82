/* mold.c — MoldUDP64 1.00: downstream packets (header + message blocks, heartbeat,
 * end of session), re-request packets, and sequence tracking with gap detection.
 * Source: "MoldUDP64 Protocol Specification" (NASDAQ). */
#include <sysnet/itch.h>

#include <errno.h>
#include <string.h>

int sn_mold_next(const struct sn_mold_pkt *pk, size_t *off, const uint8_t **msg, size_t *len)
{
    size_t o = *off;
    if (o >= pk->blocks_len)
        return 0;
    if (pk->blocks_len - o < 2)
        return -EBADMSG;
    size_t n = sn_load_be16(pk->blocks + o);
    if (n > pk->blocks_len - o - 2)
        return -EBADMSG;
    *msg = pk->blocks + o + 2;
    *len = n;
    *off = o + 2 + n;
    return 1;
}

int sn_mold_parse(const uint8_t *p, size_t len, struct sn_mold_pkt *out)
{
    if (!p || len < SN_MOLD_HDR_LEN)
        return -EBADMSG;
    struct sn_mold_pkt pk;
    memcpy(pk.session, p, 10);
    pk.seq = sn_load_be64(p + 10);
    pk.count = sn_load_be16(p + 18);
    pk.blocks = p + SN_MOLD_HDR_LEN;
    pk.blocks_len = len - SN_MOLD_HDR_LEN;
    if (pk.count == SN_MOLD_HEARTBEAT || pk.count == SN_MOLD_END) {
        if (pk.blocks_len)
            return -EBADMSG;
    } else {
        /* The blocks must be exactly count, and fill the packet. */
        size_t off = 0;
        const uint8_t *m;
        size_t ml;
        for (unsigned i = 0; i < pk.count; i++)
            if (sn_mold_next(&pk, &off, &m, &ml) != 1)
                return -EBADMSG;
        if (off != pk.blocks_len)
            return -EBADMSG;
        /* The last message's sequence number must not wrap around. */
        if (pk.seq > UINT64_MAX - pk.count)
            return -EBADMSG;
    }
    *out = pk;
    return 0;
}

static int put_session(uint8_t *p, const char *session)
{
    size_t l = session ? strnlen(session, 11) : 0;
    if (l > 10)
        return -EINVAL;
    memset(p, ' ', 10);
    if (l)
        memcpy(p, session, l);
    return 0;
}

static ssize_t emit_hdr(const char *session, uint64_t seq, uint16_t count, uint8_t *d, size_t cap)
{
    if (cap < SN_MOLD_HDR_LEN)
        return -ENOBUFS;
    if (put_session(d, session) < 0)
        return -EINVAL;
    sn_store_be64(d + 10, seq);
    sn_store_be16(d + 18, count);
    return SN_MOLD_HDR_LEN;
}

ssize_t sn_mold_emit(const char *session, uint64_t seq, const struct iovec *msgs, unsigned n,
                     void *out, size_t cap)
{
    uint8_t *d = out;
    if (n == 0 || n >= SN_MOLD_END)
        return -EINVAL;
    size_t total = SN_MOLD_HDR_LEN;
    for (unsigned i = 0; i < n; i++) {
        if (msgs[i].iov_len > 0xFFFF)
            return -EMSGSIZE;
        total += 2 + msgs[i].iov_len;
    }
    if (total > cap)
        return -ENOBUFS;
    ssize_t rc = emit_hdr(session, seq, (uint16_t)n, d, cap);
    if (rc < 0)
        return rc;
    size_t off = SN_MOLD_HDR_LEN;
    for (unsigned i = 0; i < n; i++) {
        sn_store_be16(d + off, (uint16_t)msgs[i].iov_len);
        if (msgs[i].iov_len)
            memcpy(d + off + 2, msgs[i].iov_base, msgs[i].iov_len);
        off += 2 + msgs[i].iov_len;
    }
    return (ssize_t)off;
}

ssize_t sn_mold_emit_heartbeat(const char *session, uint64_t next_seq, void *out, size_t cap)
{
    return emit_hdr(session, next_seq, SN_MOLD_HEARTBEAT, out, cap);
}

ssize_t sn_mold_emit_end(const char *session, uint64_t next_seq, void *out, size_t cap)
{
    return emit_hdr(session, next_seq, SN_MOLD_END, out, cap);
}

ssize_t sn_mold_emit_request(const char session[10], uint64_t seq, uint16_t count, void *out,
                             size_t cap)
{
    uint8_t *d = out;
    if (count == 0 || count == SN_MOLD_END)
        return -EINVAL;
    if (cap < SN_MOLD_HDR_LEN)
        return -ENOBUFS;
    memcpy(d, session, 10); /* as received: the session field is copied verbatim */
    sn_store_be64(d + 10, seq);
    sn_store_be16(d + 18, count);
    return SN_MOLD_HDR_LEN;
}

int sn_mold_parse_request(const uint8_t *p, size_t len, char session[10], uint64_t *seq,
                          uint16_t *count)
{
    if (!p || len != SN_MOLD_HDR_LEN)
        return -EBADMSG;
    uint16_t c = sn_load_be16(p + 18);
    if (c == 0 || c == SN_MOLD_END)
        return -EBADMSG;
    memcpy(session, p, 10);
    *seq = sn_load_be64(p + 10);
    *count = c;
    return 0;
}

void sn_mold_tracker_init(struct sn_mold_tracker *t, uint64_t first_seq)
{
    memset(t, 0, sizeof(*t));
    t->expected = first_seq;
}

int sn_mold_track(struct sn_mold_tracker *t, const struct sn_mold_pkt *pk, struct sn_mold_track *r)
{
    memset(r, 0, sizeof(*r));
    if (t->have_session && memcmp(t->session, pk->session, 10) != 0)
        return -EPROTO;
    if (!t->have_session) {
        memcpy(t->session, pk->session, 10);
        t->have_session = 1;
    }
    if (t->expected == 0)
        t->expected = pk->seq; /* joining a session in progress */
    int control = pk->count == SN_MOLD_HEARTBEAT || pk->count == SN_MOLD_END;
    uint64_t n = control ? 0 : pk->count;
    r->end = pk->count == SN_MOLD_END;
    if (r->end)
        t->ended = 1;
    /* Heartbeats and end of session carry the next sequence number: past expected,
     * messages were lost just as for a data packet. */
    if (pk->seq > t->expected) {
        r->gap_seq = t->expected;
        r->gap_count = pk->seq - t->expected;
    }
    uint64_t last = pk->seq + n; /* one past this packet's last message */
    if (last <= t->expected)
        return 0; /* all seen already (or nothing in it) */
    r->skip = pk->seq < t->expected ? (unsigned)(t->expected - pk->seq) : 0;
    r->fresh = (unsigned)(n - r->skip);
    t->expected = last;
    return (int)r->fresh;
}
