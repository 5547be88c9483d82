/* soup.c — SoupBinTCP 3.0: packet parsing and building, and the session state
 * machine (login, heartbeats, logout) as a pure function of received packets,
 * sent packets and the time you pass in. Source: "SoupBinTCP 3.0" (NASDAQ). */
#include <sysnet/itch.h>

#include <errno.h>
#include <string.h>

void sn_soup_frame_opts(struct sn_frame_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->kind = SN_FRAME_LEN;
    o->len_bytes = 2;
    o->big_endian = 1;
    o->max_frame = SN_SOUP_MAX_PACKET;
}

/* A Numeric field: ASCII digits, left padded with spaces (all blank reads as 0). */
static int get_num(const uint8_t *p, size_t n, uint64_t *v)
{
    size_t i = 0;
    uint64_t x = 0;
    while (i < n && p[i] == ' ')
        i++;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -EBADMSG;
        unsigned d = p[i] - '0';
        if (x > (UINT64_MAX - d) / 10)
            return -EBADMSG;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

static void put_num(uint8_t *p, size_t n, uint64_t v)
{
    memset(p, ' ', n);
    size_t i = n;
    do {
        p[--i] = (uint8_t)('0' + v % 10);
        v /= 10;
    } while (v && i);
}

/* Alpha fields: left (text first, spaces after) or right justified. */
static int put_alpha(uint8_t *p, size_t n, const char *s, int right_justify)
{
    size_t l = s ? strlen(s) : 0;
    if (l > n)
        return -EINVAL;
    memset(p, ' ', n);
    if (l)
        memcpy(p + (right_justify ? n - l : 0), s, l);
    return 0;
}

int sn_soup_parse(const uint8_t *p, size_t len, struct sn_soup_pkt *out)
{
    if (!p || len == 0)
        return -EBADMSG;
    memset(out, 0, sizeof(*out));
    out->type = (char)p[0];
    out->payload = p + 1;
    out->len = len - 1;
    const uint8_t *q = p + 1;
    switch (out->type) {
    case SN_SOUP_DEBUG:
    case SN_SOUP_SEQUENCED:
    case SN_SOUP_UNSEQUENCED:
        return 0;
    case SN_SOUP_SERVER_HEARTBEAT:
    case SN_SOUP_END_OF_SESSION:
    case SN_SOUP_CLIENT_HEARTBEAT:
    case SN_SOUP_LOGOUT_REQUEST:
        return out->len == 0 ? 0 : -EBADMSG;
    case SN_SOUP_LOGIN_REJECTED:
        if (out->len != 1)
            return -EBADMSG;
        out->reason = (char)q[0];
        return 0;
    case SN_SOUP_LOGIN_ACCEPTED:
        if (out->len != 30)
            return -EBADMSG;
        memcpy(out->session, q, 10);
        return get_num(q + 10, 20, &out->seq);
    case SN_SOUP_LOGIN_REQUEST:
        if (out->len != 46)
            return -EBADMSG;
        memcpy(out->username, q, 6);
        memcpy(out->password, q + 6, 10);
        memcpy(out->session, q + 16, 10);
        return get_num(q + 26, 20, &out->seq);
    default:
        return -EPROTONOSUPPORT;
    }
}

ssize_t sn_soup_emit(char type, const void *payload, size_t len, void *out, size_t cap)
{
    uint8_t *d = out;
    if (len + 1 > SN_SOUP_MAX_PACKET)
        return -EMSGSIZE;
    if (cap < len + 3)
        return -ENOBUFS;
    sn_store_be16(d, (uint16_t)(len + 1));
    d[2] = (uint8_t)type;
    if (len)
        memcpy(d + 3, payload, len);
    return (ssize_t)(len + 3);
}

ssize_t sn_soup_emit_login_request(const char *username, const char *password, const char *session,
                                   uint64_t seq, void *out, size_t cap)
{
    uint8_t b[46];
    if (put_alpha(b, 6, username, 0) < 0 || put_alpha(b + 6, 10, password, 0) < 0 ||
        put_alpha(b + 16, 10, session, 1) < 0)
        return -EINVAL;
    put_num(b + 26, 20, seq);
    return sn_soup_emit(SN_SOUP_LOGIN_REQUEST, b, sizeof(b), out, cap);
}

ssize_t sn_soup_emit_login_accepted(const char *session, uint64_t seq, void *out, size_t cap)
{
    uint8_t b[30];
    if (put_alpha(b, 10, session, 1) < 0)
        return -EINVAL;
    put_num(b + 10, 20, seq);
    return sn_soup_emit(SN_SOUP_LOGIN_ACCEPTED, b, sizeof(b), out, cap);
}

ssize_t sn_soup_emit_login_rejected(char reason, void *out, size_t cap)
{
    return sn_soup_emit(SN_SOUP_LOGIN_REJECTED, &reason, 1, out, cap);
}

const char *sn_soup_type_name(char type)
{
    switch (type) {
    case SN_SOUP_DEBUG: return "Debug";
    case SN_SOUP_LOGIN_ACCEPTED: return "Login Accepted";
    case SN_SOUP_LOGIN_REJECTED: return "Login Rejected";
    case SN_SOUP_SEQUENCED: return "Sequenced Data";
    case SN_SOUP_SERVER_HEARTBEAT: return "Server Heartbeat";
    case SN_SOUP_END_OF_SESSION: return "End of Session";
    case SN_SOUP_LOGIN_REQUEST: return "Login Request";
    case SN_SOUP_UNSEQUENCED: return "Unsequenced Data";
    case SN_SOUP_CLIENT_HEARTBEAT: return "Client Heartbeat";
    case SN_SOUP_LOGOUT_REQUEST: return "Logout Request";
    default: return "?";
    }
}

/* ---- the session state machine ------------------------------------------- */

void sn_soup_sess_init(struct sn_soup_sess *s, int role, uint64_t now_ns)
{
    memset(s, 0, sizeof(*s));
    s->role = role;
    s->state = role == SN_SOUP_SERVER ? SN_SOUP_AWAIT_LOGIN : SN_SOUP_IDLE;
    memset(s->session, ' ', sizeof(s->session));
    s->last_rx_ns = s->last_tx_ns = now_ns;
    s->heartbeat_ns = SN_SOUP_HEARTBEAT_NS;
    s->timeout_ns = SN_SOUP_TIMEOUT_NS;
}

static int close_with(struct sn_soup_sess *s, int why)
{
    s->state = SN_SOUP_CLOSED;
    s->close_reason = why;
    return why;
}

static int client_recv(struct sn_soup_sess *s, const struct sn_soup_pkt *p)
{
    switch (p->type) {
    case SN_SOUP_DEBUG:
        return SN_SOUP_EV_NONE;
    case SN_SOUP_LOGIN_ACCEPTED:
        if (s->state != SN_SOUP_LOGIN_SENT)
            return -EPROTO;
        memcpy(s->session, p->session, sizeof(s->session));
        s->next_seq = p->seq;
        s->state = SN_SOUP_ACTIVE;
        return SN_SOUP_EV_LOGGED_IN;
    case SN_SOUP_LOGIN_REJECTED:
        if (s->state != SN_SOUP_LOGIN_SENT)
            return -EPROTO;
        return close_with(s, SN_SOUP_EV_REJECTED);
    case SN_SOUP_SEQUENCED:
        if (s->state != SN_SOUP_ACTIVE)
            return -EPROTO;
        s->next_seq++;
        return SN_SOUP_EV_DATA;
    case SN_SOUP_SERVER_HEARTBEAT:
        /* A server may heartbeat while the login is being processed. */
        if (s->state != SN_SOUP_ACTIVE && s->state != SN_SOUP_LOGIN_SENT)
            return -EPROTO;
        return SN_SOUP_EV_NONE;
    case SN_SOUP_END_OF_SESSION:
        if (s->state != SN_SOUP_ACTIVE)
            return -EPROTO;
        return close_with(s, SN_SOUP_EV_END);
    default: /* client packets, or unknown */
        return -EPROTO;
    }
}

static int server_recv(struct sn_soup_sess *s, const struct sn_soup_pkt *p)
{
    switch (p->type) {
    case SN_SOUP_DEBUG:
        return SN_SOUP_EV_NONE;
    case SN_SOUP_LOGIN_REQUEST:
        if (s->state != SN_SOUP_AWAIT_LOGIN)
            return -EPROTO;
        s->state = SN_SOUP_LOGIN_RECEIVED;
        return SN_SOUP_EV_LOGIN;
    case SN_SOUP_UNSEQUENCED:
        if (s->state != SN_SOUP_ACTIVE)
            return -EPROTO;
        return SN_SOUP_EV_DATA;
    case SN_SOUP_CLIENT_HEARTBEAT:
        if (s->state != SN_SOUP_ACTIVE)
            return -EPROTO;
        return SN_SOUP_EV_NONE;
    case SN_SOUP_LOGOUT_REQUEST:
        if (s->state != SN_SOUP_ACTIVE && s->state != SN_SOUP_LOGIN_RECEIVED)
            return -EPROTO;
        return close_with(s, SN_SOUP_EV_LOGOUT);
    default:
        return -EPROTO;
    }
}

int sn_soup_on_recv(struct sn_soup_sess *s, const struct sn_soup_pkt *p, uint64_t now_ns)
{
    if (s->state == SN_SOUP_CLOSED)
        return -EPROTO;
    s->last_rx_ns = SN_MAX(s->last_rx_ns, now_ns);
    return s->role == SN_SOUP_SERVER ? server_recv(s, p) : client_recv(s, p);
}

static int client_send(struct sn_soup_sess *s, char type)
{
    switch (type) {
    case SN_SOUP_DEBUG:
        return 0;
    case SN_SOUP_LOGIN_REQUEST:
        if (s->state != SN_SOUP_IDLE)
            return -EPROTO;
        s->state = SN_SOUP_LOGIN_SENT;
        return 0;
    case SN_SOUP_UNSEQUENCED:
    case SN_SOUP_CLIENT_HEARTBEAT:
        return s->state == SN_SOUP_ACTIVE ? 0 : -EPROTO;
    case SN_SOUP_LOGOUT_REQUEST:
        if (s->state != SN_SOUP_ACTIVE && s->state != SN_SOUP_LOGIN_SENT)
            return -EPROTO;
        close_with(s, SN_SOUP_EV_LOGOUT);
        return 0;
    default:
        return -EPROTO;
    }
}

static int server_send(struct sn_soup_sess *s, char type)
{
    switch (type) {
    case SN_SOUP_DEBUG:
        return 0;
    case SN_SOUP_LOGIN_ACCEPTED:
        if (s->state != SN_SOUP_LOGIN_RECEIVED)
            return -EPROTO;
        s->state = SN_SOUP_ACTIVE;
        return 0;
    case SN_SOUP_LOGIN_REJECTED:
        if (s->state != SN_SOUP_LOGIN_RECEIVED)
            return -EPROTO;
        close_with(s, SN_SOUP_EV_REJECTED);
        return 0;
    case SN_SOUP_SEQUENCED:
        if (s->state != SN_SOUP_ACTIVE)
            return -EPROTO;
        s->next_seq++;
        return 0;
    case SN_SOUP_SERVER_HEARTBEAT:
        return s->state == SN_SOUP_ACTIVE ? 0 : -EPROTO;
    case SN_SOUP_END_OF_SESSION:
        if (s->state != SN_SOUP_ACTIVE)
            return -EPROTO;
        close_with(s, SN_SOUP_EV_END);
        return 0;
    default:
        return -EPROTO;
    }
}

int sn_soup_on_send(struct sn_soup_sess *s, char type, uint64_t now_ns)
{
    if (s->state == SN_SOUP_CLOSED)
        return -EPROTO;
    int rc = s->role == SN_SOUP_SERVER ? server_send(s, type) : client_send(s, type);
    if (rc == 0)
        s->last_tx_ns = SN_MAX(s->last_tx_ns, now_ns);
    return rc;
}

uint64_t sn_soup_deadline(const struct sn_soup_sess *s)
{
    if (s->state == SN_SOUP_CLOSED)
        return UINT64_MAX;
    uint64_t t = s->last_rx_ns + s->timeout_ns;
    if (s->state == SN_SOUP_ACTIVE)
        t = SN_MIN(t, s->last_tx_ns + s->heartbeat_ns);
    return t;
}

int sn_soup_tick(struct sn_soup_sess *s, uint64_t now_ns)
{
    if (s->state == SN_SOUP_CLOSED)
        return 0;
    /* SoupBinTCP 3.0: a side that hears nothing for 15 s considers the link lost. */
    if (now_ns >= s->last_rx_ns + s->timeout_ns) {
        close_with(s, -ETIMEDOUT);
        return -ETIMEDOUT;
    }
    /* ... and sends a heartbeat whenever it has sent nothing for 1 s. */
    if (s->state == SN_SOUP_ACTIVE && now_ns >= s->last_tx_ns + s->heartbeat_ns)
        return 1;
    return 0;
}
