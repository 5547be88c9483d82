/* soup_net.c — SoupBinTCP 3.0 on the loop: a server streaming Sequenced Data from
 * a message source to logged-in clients, and a client delivering it with sequence
 * numbers. The protocol rules live in soup.c (sn_soup_sess); this file is the I/O:
 * streams, the framer, one timer per connection at sn_soup_deadline(). */
#include <sysnet/soupnet.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEND_BATCH (64u * 1024u)      /* flush the scratch buffer past this */
#define SCRATCH_CAP (SEND_BATCH + SN_SOUP_MAX_PACKET + 3u)
#define PUMP_MAX (256u * 1024u)       /* bytes per connection per loop iteration */

/* Arm t at the session's next deadline (never in the past: at least 1 ms on). */
static void arm(struct sn_timer *t, struct sn_loop *l, const struct sn_soup_sess *s, sn_timer_cb cb)
{
    uint64_t d = sn_soup_deadline(s), now = sn_loop_now(l);
    if (d == UINT64_MAX) {
        sn_timer_stop(t);
        return;
    }
    sn_timer_start(l, t, cb, d > now ? d - now : SN_MS, 0);
}

/* Parse one frame into a packet; the frame's errors come back as is. */
static int next_packet(struct sn_framer *fr, struct sn_soup_pkt *pk)
{
    const uint8_t *p;
    size_t len;
    int rc = sn_framer_next(fr, &p, &len);
    if (rc <= 0)
        return rc;
    rc = sn_soup_parse(p, len, pk);
    return rc < 0 ? rc : 1;
}

/* =============================== server =============================== */

static void conn_pump(struct sn_soup_conn *c);

static void conn_closed(struct sn_stream *st)
{
    struct sn_soup_conn *c = st->data;
    struct sn_soup_server *srv = c->srv;
    sn_timer_stop(&c->timer);
    sn_defer_cancel(&c->kick);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->clients--;
    if (srv->o.on_close)
        srv->o.on_close(srv, c, c->reason);
    free(c);
    if (srv->closing && !srv->clients && srv->on_closed) {
        void (*cb)(struct sn_soup_server *) = srv->on_closed;
        srv->on_closed = NULL;
        cb(srv);
    }
}

/* End the connection: graceful (queued data flushed first) or abortive. */
static void conn_end(struct sn_soup_conn *c, int reason, int graceful)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->reason = reason;
    if (reason == -ETIMEDOUT)
        c->srv->timeouts++;
    sn_timer_stop(&c->timer);
    sn_defer_cancel(&c->kick);
    if (graceful)
        sn_stream_close(&c->st, conn_closed);
    else
        sn_stream_abort(&c->st, conn_closed);
}

/* Send one control packet (no payload or a short one); 0 or -errno. */
static int conn_send(struct sn_soup_conn *c, const uint8_t *pkt, size_t len)
{
    int rc = sn_soup_on_send(&c->sess, (char)pkt[2], sn_loop_now(c->srv->loop));
    if (rc < 0)
        return rc;
    rc = sn_stream_write(&c->st, pkt, len);
    if (rc < 0)
        conn_end(c, rc, 0);
    else if (rc == 1)
        c->blocked = 1;
    return rc < 0 ? rc : 0;
}

static void conn_timer(struct sn_timer *t)
{
    struct sn_soup_conn *c = t->data;
    int rc = sn_soup_tick(&c->sess, sn_loop_now(c->srv->loop));
    if (rc < 0) {
        conn_end(c, rc, 0);
        return;
    }
    if (rc == 1) {
        uint8_t hb[3] = {0, 1, SN_SOUP_SERVER_HEARTBEAT};
        if (conn_send(c, hb, sizeof(hb)) < 0)
            return;
        c->heartbeats++;
    }
    arm(&c->timer, c->srv->loop, &c->sess, conn_timer);
}

static void conn_kick(struct sn_defer *d)
{
    conn_pump(d->data);
}

/* Send what the client is owed: Sequenced Data up to head-1 (at most PUMP_MAX bytes
 * now, the rest on the next iteration), then End of Session if the server ended. */
static void conn_pump(struct sn_soup_conn *c)
{
    struct sn_soup_server *srv = c->srv;
    if (c->closing || c->blocked || c->sess.state != SN_SOUP_ACTIVE)
        return;
    uint8_t *out = srv->scratch;
    size_t n = 0, total = 0;
    uint64_t now = sn_loop_now(srv->loop);
    while (c->sess.next_seq < srv->head && total + n < PUMP_MAX) {
        ssize_t len = srv->o.get(srv, c->sess.next_seq, out + n + 3, SN_SOUP_MAX_PACKET - 1);
        if (len < 0 || (size_t)len > SN_SOUP_MAX_PACKET - 1) {
            conn_end(c, len < 0 ? (int)len : -EMSGSIZE, 0);
            return;
        }
        sn_store_be16(out + n, (uint16_t)(len + 1));
        out[n + 2] = SN_SOUP_SEQUENCED;
        (void)sn_soup_on_send(&c->sess, SN_SOUP_SEQUENCED, now); /* ACTIVE: cannot fail */
        c->sent++;
        n += (size_t)len + 3;
        if (n >= SEND_BATCH) {
            int rc = sn_stream_write(&c->st, out, n);
            total += n;
            n = 0;
            if (rc < 0) {
                conn_end(c, rc, 0);
                return;
            }
            if (rc == 1) {
                c->blocked = 1; /* on_drain resumes */
                return;
            }
        }
    }
    if (n) {
        int rc = sn_stream_write(&c->st, out, n);
        if (rc < 0) {
            conn_end(c, rc, 0);
            return;
        }
        if (rc == 1) {
            c->blocked = 1;
            return;
        }
    }
    if (c->sess.next_seq < srv->head) {
        c->kick.data = c;
        if (!c->kick.active)
            sn_defer(srv->loop, &c->kick, conn_kick);
        return;
    }
    if (srv->ended) {
        uint8_t z[3] = {0, 1, SN_SOUP_END_OF_SESSION};
        if (conn_send(c, z, sizeof(z)) == 0)
            conn_end(c, SN_SOUP_EV_END, 1);
    }
}

static void conn_drain(struct sn_stream *st)
{
    struct sn_soup_conn *c = st->data;
    c->blocked = 0;
    conn_pump(c);
}

static void conn_login(struct sn_soup_conn *c, const struct sn_soup_pkt *pk)
{
    struct sn_soup_server *srv = c->srv;
    static const char blank[10] = "          ";
    int why = 0;
    size_t u = 6;
    while (u && pk->username[u - 1] == ' ')
        u--;
    memcpy(c->username, pk->username, u);
    c->username[u] = 0;
    if (memcmp(pk->session, blank, 10) && memcmp(pk->session, srv->session, 10))
        why = 'S';
    else if (srv->o.on_login)
        why = srv->o.on_login(srv, c, pk->username, pk->password);
    uint8_t b[64];
    if (why) {
        srv->rejects++;
        ssize_t n = sn_soup_emit_login_rejected(why == 'S' ? 'S' : 'A', b, sizeof(b));
        if (conn_send(c, b, (size_t)n) == 0)
            conn_end(c, SN_SOUP_EV_REJECTED, 1);
        return;
    }
    uint64_t seq = pk->seq;
    if (seq == 0 || seq > srv->head)
        seq = srv->head;
    char name[11];
    memcpy(name, srv->session, 10);
    name[10] = 0;
    ssize_t n = sn_soup_emit_login_accepted(name, seq, b, sizeof(b));
    if (n < 0 || conn_send(c, b, (size_t)n) < 0)
        return;
    srv->logins++;
    memcpy(c->sess.session, srv->session, 10);
    c->sess.next_seq = c->first_seq = seq;
    conn_pump(c);
}

static void conn_read(struct sn_stream *st, const uint8_t *data, ssize_t n)
{
    struct sn_soup_conn *c = st->data;
    if (c->closing)
        return;
    if (n <= 0) {
        conn_end(c, n == 0 ? -ECONNRESET : (int)n, 0);
        return;
    }
    int rc = sn_framer_push(&c->fr, data, (size_t)n);
    struct sn_soup_pkt pk;
    while (rc >= 0 && !c->closing && (rc = next_packet(&c->fr, &pk)) == 1) {
        int ev = sn_soup_on_recv(&c->sess, &pk, sn_loop_now(c->srv->loop));
        switch (ev) {
        case SN_SOUP_EV_LOGIN:
            conn_login(c, &pk);
            break;
        case SN_SOUP_EV_DATA:
            if (c->srv->o.on_unsequenced)
                c->srv->o.on_unsequenced(c->srv, c, pk.payload, pk.len);
            break;
        case SN_SOUP_EV_LOGOUT:
            conn_end(c, SN_SOUP_EV_LOGOUT, 1);
            break;
        default:
            if (ev < 0)
                rc = ev;
            break;
        }
    }
    if (rc < 0 && !c->closing)
        conn_end(c, rc, 0);
    else if (!c->closing)
        arm(&c->timer, c->srv->loop, &c->sess, conn_timer);
}

static void on_accept(struct sn_listener *ls, int fd)
{
    struct sn_soup_server *srv = ls->data;
    struct sn_soup_conn *c = malloc(sizeof(*c));
    if (!c) {
        close(fd);
        return;
    }
    memset(c, 0, sizeof(*c) - sizeof(c->fbuf));
    c->srv = srv;
    struct sn_frame_opts fo;
    sn_soup_frame_opts(&fo);
    if (sn_framer_init(&c->fr, &fo, c->fbuf, sizeof(c->fbuf)) < 0 ||
        sn_stream_open(srv->loop, &c->st, fd, &srv->so) < 0) {
        close(fd);
        free(c);
        return;
    }
    sn_soup_sess_init(&c->sess, SN_SOUP_SERVER, sn_loop_now(srv->loop));
    c->sess.heartbeat_ns = srv->o.heartbeat_ns;
    c->sess.timeout_ns = srv->o.timeout_ns;
    c->st.data = c;
    c->st.on_drain = conn_drain;
    c->timer.data = c;
    c->kick.data = c;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->clients++;
    sn_stream_read_start(&c->st, conn_read);
    arm(&c->timer, srv->loop, &c->sess, conn_timer);
}

int sn_soup_server_open(struct sn_loop *l, struct sn_soup_server *srv, const struct sn_addr *addr,
                        const struct sn_soup_server_opts *o)
{
    if (!l || !srv || !addr || !o || !o->get)
        return -EINVAL;
    void *data = srv->data; /* the application's, as everywhere in sysnet: kept */
    memset(srv, 0, sizeof(*srv));
    srv->data = data;
    srv->loop = l;
    srv->o = *o;
    if (!srv->o.heartbeat_ns)
        srv->o.heartbeat_ns = SN_SOUP_HEARTBEAT_NS;
    if (!srv->o.timeout_ns)
        srv->o.timeout_ns = SN_SOUP_TIMEOUT_NS;
    const char *name = o->session ? o->session : "1";
    size_t nl = strlen(name);
    if (nl > 10)
        return -EINVAL;
    memset(srv->session, ' ', 10);
    memcpy(srv->session + 10 - nl, name, nl); /* alpha session: left padded (soup.c) */
    if (o->stream)
        srv->so = *o->stream;
    srv->head = o->first_head ? o->first_head : 1;
    srv->scratch = malloc(SCRATCH_CAP);
    if (!srv->scratch)
        return -ENOMEM;
    srv->ls.data = srv;
    int rc = sn_tcp_listen(l, &srv->ls, addr, 0, 1024, on_accept);
    if (rc < 0) {
        free(srv->scratch);
        srv->scratch = NULL;
        return rc;
    }
    srv->ls.data = srv;
    return 0;
}

void sn_soup_server_publish(struct sn_soup_server *srv, uint64_t head)
{
    if (head <= srv->head || srv->ended)
        return;
    srv->head = head;
    for (struct sn_soup_conn *c = srv->conns; c; c = c->next)
        conn_pump(c);
}

void sn_soup_server_end(struct sn_soup_server *srv)
{
    srv->ended = 1;
    for (struct sn_soup_conn *c = srv->conns; c; c = c->next)
        conn_pump(c);
}

void sn_soup_server_close(struct sn_soup_server *srv, void (*on_closed)(struct sn_soup_server *srv))
{
    srv->closing = 1;
    srv->on_closed = on_closed;
    sn_listener_close(&srv->ls);
    for (struct sn_soup_conn *c = srv->conns; c; c = c->next)
        conn_end(c, -ECANCELED, 0);
    free(srv->scratch);
    srv->scratch = NULL;
    if (!srv->clients && srv->on_closed) {
        /* Nothing to wait for; still report from the loop's flow, now. */
        srv->on_closed = NULL;
        on_closed(srv);
    }
}

/* =============================== client =============================== */

enum { CL_CONNECTING = 1, CL_OPEN, CL_LOGOUT, CL_CLOSING, CL_DONE };

#define LOGOUT_WAIT_NS (1000 * SN_MS) /* how long to wait for the server to close after O */

static void client_closed(struct sn_stream *st)
{
    struct sn_soup_client *c = st->data;
    sn_timer_stop(&c->timer);
    c->phase = CL_DONE;
    if (c->on_close)
        c->on_close(c, c->reason);
}

static void client_end(struct sn_soup_client *c, int reason, int graceful)
{
    if (c->phase != CL_OPEN && c->phase != CL_LOGOUT)
        return;
    c->phase = CL_CLOSING;
    c->reason = reason;
    sn_timer_stop(&c->timer);
    if (graceful)
        sn_stream_close(&c->st, client_closed);
    else
        sn_stream_abort(&c->st, client_closed);
}

static int client_send_pkt(struct sn_soup_client *c, const uint8_t *pkt, size_t len)
{
    int rc = sn_soup_on_send(&c->sess, (char)pkt[2], sn_loop_now(c->loop));
    if (rc < 0)
        return rc;
    rc = sn_stream_write(&c->st, pkt, len);
    if (rc < 0) {
        client_end(c, rc, 0);
        return rc;
    }
    return 0;
}

static void client_timer(struct sn_timer *t)
{
    struct sn_soup_client *c = t->data;
    int rc = sn_soup_tick(&c->sess, sn_loop_now(c->loop));
    if (rc < 0) {
        client_end(c, rc, 0);
        return;
    }
    if (rc == 1) {
        uint8_t hb[3] = {0, 1, SN_SOUP_CLIENT_HEARTBEAT};
        if (client_send_pkt(c, hb, sizeof(hb)) < 0)
            return;
    }
    arm(&c->timer, c->loop, &c->sess, client_timer);
}

static void client_read(struct sn_stream *st, const uint8_t *data, ssize_t n)
{
    struct sn_soup_client *c = st->data;
    if (c->phase == CL_LOGOUT && n <= 0) {
        client_end(c, SN_SOUP_EV_LOGOUT, 1); /* the server closed after our Logout Request */
        return;
    }
    if (c->phase != CL_OPEN)
        return; /* CL_LOGOUT: what was in flight before the logout is dropped */
    if (n <= 0) {
        client_end(c, n == 0 ? -ECONNRESET : (int)n, 0);
        return;
    }
    int rc = sn_framer_push(&c->fr, data, (size_t)n);
    struct sn_soup_pkt pk;
    uint64_t now = sn_loop_now(c->loop);
    while (rc >= 0 && c->phase == CL_OPEN && (rc = next_packet(&c->fr, &pk)) == 1) {
        int ev = sn_soup_on_recv(&c->sess, &pk, now);
        switch (ev) {
        case SN_SOUP_EV_LOGGED_IN:
            if (c->on_login)
                c->on_login(c, c->sess.session, c->sess.next_seq);
            break;
        case SN_SOUP_EV_DATA:
            c->messages++;
            if (c->on_message)
                c->on_message(c, c->sess.next_seq - 1, pk.payload, pk.len);
            break;
        case SN_SOUP_EV_REJECTED:
            c->reject_reason = pk.reason;
            client_end(c, SN_SOUP_EV_REJECTED, 1);
            break;
        case SN_SOUP_EV_END:
            client_end(c, SN_SOUP_EV_END, 1);
            break;
        case SN_SOUP_EV_NONE:
            if (pk.type == SN_SOUP_SERVER_HEARTBEAT)
                c->heartbeats++;
            break;
        default:
            if (ev < 0)
                rc = ev;
            break;
        }
    }
    if (rc < 0 && c->phase == CL_OPEN)
        client_end(c, rc, 0);
    else if (c->phase == CL_OPEN)
        arm(&c->timer, c->loop, &c->sess, client_timer);
}

static void client_connected(struct sn_connector *cn, int fd)
{
    struct sn_soup_client *c = cn->data;
    if (fd < 0 || sn_stream_open(c->loop, &c->st, fd, NULL) < 0) {
        if (fd >= 0)
            close(fd);
        c->phase = CL_DONE;
        if (c->on_close)
            c->on_close(c, fd < 0 ? fd : -ENOMEM);
        return;
    }
    c->phase = CL_OPEN;
    c->st.data = c;
    sn_soup_sess_init(&c->sess, SN_SOUP_CLIENT, sn_loop_now(c->loop));
    c->sess.heartbeat_ns = c->o.heartbeat_ns;
    c->sess.timeout_ns = c->o.timeout_ns;
    uint8_t b[64];
    ssize_t n = sn_soup_emit_login_request(c->o.username, c->o.password, c->o.session, c->o.seq, b,
                                           sizeof(b));
    sn_stream_read_start(&c->st, client_read);
    if (n < 0 || client_send_pkt(c, b, (size_t)n) < 0) {
        client_end(c, n < 0 ? (int)n : -EPROTO, 0);
        return;
    }
    c->timer.data = c;
    arm(&c->timer, c->loop, &c->sess, client_timer);
}

int sn_soup_client_open(struct sn_loop *l, struct sn_soup_client *c, const struct sn_addr *to,
                        const struct sn_soup_client_opts *o)
{
    if (!l || !c || !to || !o)
        return -EINVAL;
    uint8_t probe[64];
    const char *user = o->username ? o->username : "", *pass = o->password ? o->password : "";
    if (sn_soup_emit_login_request(user, pass, o->session, o->seq, probe, sizeof(probe)) < 0)
        return -EINVAL;
    c->loop = l;
    c->o = *o;
    c->o.username = user;
    c->o.password = pass;
    if (!c->o.heartbeat_ns)
        c->o.heartbeat_ns = SN_SOUP_HEARTBEAT_NS;
    if (!c->o.timeout_ns)
        c->o.timeout_ns = SN_SOUP_TIMEOUT_NS;
    c->reject_reason = 0;
    c->messages = c->heartbeats = 0;
    c->reason = 0;
    memset(&c->sess, 0, sizeof(c->sess));
    memset(&c->timer, 0, sizeof(c->timer));
    struct sn_frame_opts fo;
    sn_soup_frame_opts(&fo);
    int rc = sn_framer_init(&c->fr, &fo, c->fbuf, sizeof(c->fbuf));
    if (rc < 0)
        return rc;
    c->conn.data = c;
    c->phase = CL_CONNECTING;
    rc = sn_tcp_connect(l, &c->conn, to, NULL, o->connect_timeout_ns, client_connected);
    if (rc < 0)
        c->phase = CL_DONE;
    return rc;
}

int sn_soup_client_send(struct sn_soup_client *c, const void *msg, size_t len)
{
    if (c->phase != CL_OPEN)
        return -EPROTO;
    if (len + 1 > SN_SOUP_MAX_PACKET)
        return -EMSGSIZE;
    int rc = sn_soup_on_send(&c->sess, SN_SOUP_UNSEQUENCED, sn_loop_now(c->loop));
    if (rc < 0)
        return rc;
    uint8_t hdr[3];
    sn_store_be16(hdr, (uint16_t)(len + 1));
    hdr[2] = SN_SOUP_UNSEQUENCED;
    struct iovec iov[2] = {{hdr, 3}, {(void *)(uintptr_t)msg, len}};
    rc = sn_stream_writev(&c->st, iov, 2);
    if (rc < 0)
        client_end(c, rc, 0);
    return rc < 0 ? rc : 0;
}

static void logout_wait(struct sn_timer *t)
{
    client_end(t->data, SN_SOUP_EV_LOGOUT, 0);
}

void sn_soup_client_logout(struct sn_soup_client *c)
{
    if (c->phase == CL_CONNECTING) {
        sn_connect_cancel(&c->conn); /* client_connected reports -ECANCELED */
        return;
    }
    if (c->phase != CL_OPEN)
        return;
    uint8_t o[3] = {0, 1, SN_SOUP_LOGOUT_REQUEST};
    if (client_send_pkt(c, o, sizeof(o)) < 0) {
        client_end(c, SN_SOUP_EV_LOGOUT, 0);
        return;
    }
    /* Keep reading (and dropping) until the server closes: closing now, with its
     * data unread in our socket, would reset the connection, and the server could
     * lose the Logout Request with it. */
    c->phase = CL_LOGOUT;
    sn_stream_shutdown(&c->st);
    sn_timer_start(c->loop, &c->timer, logout_wait, LOGOUT_WAIT_NS, 0);
}

void sn_soup_client_close(struct sn_soup_client *c)
{
    if (c->phase == CL_LOGOUT)
        client_end(c, SN_SOUP_EV_LOGOUT, 0);
    else if (c->phase == CL_CONNECTING)
        sn_connect_cancel(&c->conn);
    else
        client_end(c, -ECANCELED, 0);
}
