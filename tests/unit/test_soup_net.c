/* tests/unit/test_soup_net.c — SoupBinTCP 3.0 client and server on the loop
 * (src/frame/soup_net.c), each test on every backend that opens (epoll, uring,
 * poll), over loopback only: login accepted and rejected (bad password, unknown
 * session), 10,000 messages in order with their sequence numbers, resuming from a
 * sequence number and from "the next new one" (0), live publishing, heartbeats
 * both ways on an idle session (short intervals), a dead client dropped by the
 * server, a silent server detected by the client, logout, end of session, and a
 * malformed packet. */
#include "../harness.h"
#include "../loop_common.h"

#include <sysnet/soupnet.h>
#include <sysnet/loop.h>
#include <sysnet/sock.h>
#include <sysnet/stream.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

static void wake_cb(struct sn_timer *t)
{
    (void)t;
}

/* Run until *done or ms have passed; 0 if done. A timer bounds each wait (the
 * listener alone would let the loop sleep for ever). */
static int run_until(struct sn_loop *l, const int *done, uint64_t ms)
{
    uint64_t end = sn_now_ns() + ms * SN_MS;
    struct sn_timer t;
    memset(&t, 0, sizeof(t));
    uint64_t now;
    while (!*done && (now = sn_now_ns()) < end) {
        if (!sn_timer_active(&t))
            sn_timer_start(l, &t, wake_cb, end - now + SN_MS / 4, 0);
        if (sn_loop_run(l, SN_RUN_ONCE) < 0)
            break;
    }
    sn_timer_stop(&t);
    return *done ? 0 : -1;
}

/* Run for ms whatever happens. */
static void run_for(struct sn_loop *l, uint64_t ms)
{
    int never = 0;
    (void)run_until(l, &never, ms);
}

/* ---- the fixture: one server, one client ---- */

struct fx {
    struct sn_soup_server srv;
    struct sn_soup_client cl;
    struct sn_addr addr;
    /* server side */
    int srv_closes, srv_reason, srv_closed;
    uint64_t srv_sent, srv_heartbeats;
    /* client side */
    int logged_in, closed, reason, bad_seq, bad_data;
    uint64_t login_seq, expect_seq, got;
    uint64_t stop_after; /* client logs out after this many messages (0: never) */
};

/* Message seq: "m<seq>" then filler, 8..57 bytes: different sizes, checkable content. */
static size_t msg_for(uint64_t seq, uint8_t *buf, size_t cap)
{
    size_t len = 8 + (size_t)(seq % 50);
    if (cap < len)
        return 0;
    int n = snprintf((char *)buf, cap, "m%llu", (unsigned long long)seq);
    for (size_t i = (size_t)n; i < len; i++)
        buf[i] = (uint8_t)('a' + (seq + i) % 26);
    return len;
}

static ssize_t fx_get(struct sn_soup_server *srv, uint64_t seq, uint8_t *buf, size_t cap)
{
    (void)srv;
    return (ssize_t)msg_for(seq, buf, cap);
}

static int fx_login(struct sn_soup_server *srv, struct sn_soup_conn *c, const char user[6],
                    const char pass[10])
{
    (void)srv;
    (void)c;
    if (memcmp(user, "alice ", 6) == 0 && memcmp(pass, "secret    ", 10) == 0)
        return 0;
    return 'A';
}

static void fx_srv_close(struct sn_soup_server *srv, struct sn_soup_conn *c, int reason)
{
    struct fx *f = srv->data;
    f->srv_closes++;
    f->srv_reason = reason;
    f->srv_sent += c->sent;
    f->srv_heartbeats += c->heartbeats;
}

static void fx_cl_login(struct sn_soup_client *c, const char session[10], uint64_t next_seq)
{
    struct fx *f = c->data;
    (void)session;
    f->logged_in = 1;
    f->login_seq = next_seq;
    f->expect_seq = next_seq;
}

static void fx_cl_msg(struct sn_soup_client *c, uint64_t seq, const uint8_t *msg, size_t len)
{
    struct fx *f = c->data;
    uint8_t want[64];
    size_t wl = msg_for(seq, want, sizeof(want));
    if (seq != f->expect_seq)
        f->bad_seq++;
    if (len != wl || memcmp(msg, want, wl) != 0)
        f->bad_data++;
    f->expect_seq = seq + 1;
    f->got++;
    if (f->stop_after && f->got == f->stop_after)
        sn_soup_client_logout(c);
}

static void fx_cl_close(struct sn_soup_client *c, int reason)
{
    struct fx *f = c->data;
    f->closed = 1;
    f->reason = reason;
}

static int fx_server(struct fx *f, struct sn_loop *l, uint64_t head, uint64_t hb_ns, uint64_t to_ns)
{
    memset(f, 0, sizeof(*f));
    struct sn_soup_server_opts o = {.session = "SESS1", .get = fx_get, .on_login = fx_login,
                                    .on_close = fx_srv_close, .first_head = head,
                                    .heartbeat_ns = hb_ns, .timeout_ns = to_ns};
    struct sn_addr any;
    sn_addr_loopback(&any, AF_INET, 0);
    f->srv.data = f;
    int rc = sn_soup_server_open(l, &f->srv, &any, &o);
    if (rc < 0)
        return rc;
    f->srv.data = f;
    return sn_sock_local_addr(f->srv.ls.fd, &f->addr);
}

static int fx_client(struct fx *f, struct sn_loop *l, const char *user, const char *pass,
                     const char *session, uint64_t seq, uint64_t hb_ns, uint64_t to_ns)
{
    struct sn_soup_client_opts o = {.username = user, .password = pass, .session = session,
                                    .seq = seq, .heartbeat_ns = hb_ns, .timeout_ns = to_ns};
    f->cl.data = f;
    f->cl.on_login = fx_cl_login;
    f->cl.on_message = fx_cl_msg;
    f->cl.on_close = fx_cl_close;
    return sn_soup_client_open(l, &f->cl, &f->addr, &o);
}

static void fx_srv_closed(struct sn_soup_server *srv)
{
    struct fx *f = srv->data;
    f->srv_closed = 1;
}

/* Close the server and let everything finish. */
static void fx_done(struct fx *f, struct sn_loop *l)
{
    sn_soup_server_close(&f->srv, fx_srv_closed);
    (void)run_until(l, &f->srv_closed, 2000);
    run_for(l, 5);
}

/* ---- tests ---- */

SN_TEST(soup_net_login_accepted_rejected)
{
    FOR_BACKENDS(l)
    {
        printf("# backend %s\n", sn_backend_name(sn_poller_backend(sn_loop_poller(l))));
        struct fx f;
        CHECK_EQ(fx_server(&f, l, 1, 0, 0), 0);
        /* a bad password: Login Rejected 'A', both sides closed */
        CHECK_EQ(fx_client(&f, l, "alice", "wrong", NULL, 1, 0, 0), 0);
        CHECK_EQ(run_until(l, &f.closed, 2000), 0);
        CHECK_EQ(f.reason, SN_SOUP_EV_REJECTED);
        CHECK_EQ(f.cl.reject_reason, 'A');
        CHECK(!f.logged_in);
        for (int i = 0; i < 200 && f.srv_closes < 1; i++)
            run_for(l, 1);
        CHECK_EQ(f.srv_closes, 1);
        CHECK_EQ(f.srv_reason, SN_SOUP_EV_REJECTED);
        CHECK_EQ(f.srv.rejects, 1);
        /* an unknown session: 'S' */
        f.closed = 0;
        CHECK_EQ(fx_client(&f, l, "alice", "secret", "OTHER", 1, 0, 0), 0);
        CHECK_EQ(run_until(l, &f.closed, 2000), 0);
        CHECK_EQ(f.reason, SN_SOUP_EV_REJECTED);
        CHECK_EQ(f.cl.reject_reason, 'S');
        /* the right ones: accepted, with our session and sequence number */
        f.closed = 0;
        CHECK_EQ(fx_client(&f, l, "alice", "secret", "SESS1", 1, 0, 0), 0);
        CHECK_EQ(run_until(l, &f.logged_in, 2000), 0);
        CHECK(!memcmp(f.cl.sess.session, "     SESS1", 10));
        CHECK_EQ(f.login_seq, 1);
        CHECK_EQ(f.srv.logins, 1);
        CHECK_EQ(f.srv.clients, 1);
        sn_soup_client_close(&f.cl);
        CHECK_EQ(run_until(l, &f.closed, 2000), 0);
        CHECK_EQ(f.reason, -ECANCELED);
        fx_done(&f, l);
        CHECK_EQ(f.srv.clients, 0);
    }
}

SN_TEST(soup_net_10000_in_order_then_end_of_session)
{
    FOR_BACKENDS(l)
    {
        struct fx f;
        CHECK_EQ(fx_server(&f, l, 10001, 0, 0), 0);
        sn_soup_server_end(&f.srv);
        CHECK_EQ(fx_client(&f, l, "alice", "secret", NULL, 1, 0, 0), 0);
        CHECK_EQ(run_until(l, &f.closed, 10000), 0);
        CHECK_EQ(f.reason, SN_SOUP_EV_END);
        CHECK_EQ(f.got, 10000);
        CHECK_EQ(f.cl.messages, 10000);
        CHECK_EQ(f.bad_seq, 0);
        CHECK_EQ(f.bad_data, 0);
        CHECK_EQ(f.expect_seq, 10001);
        CHECK_EQ(f.cl.sess.next_seq, 10001);
        for (int i = 0; i < 500 && f.srv_closes < 1; i++)
            run_for(l, 1);
        CHECK_EQ(f.srv_closes, 1);
        CHECK_EQ(f.srv_reason, SN_SOUP_EV_END);
        CHECK_EQ(f.srv_sent, 10000);
        fx_done(&f, l);
    }
}

SN_TEST(soup_net_resume_and_live_publish)
{
    FOR_BACKENDS(l)
    {
        struct fx f;
        CHECK_EQ(fx_server(&f, l, 101, 0, 0), 0); /* 100 messages exist */
        /* resume from 40: gets 40..100 */
        CHECK_EQ(fx_client(&f, l, "alice", "secret", NULL, 40, 0, 0), 0);
        CHECK_EQ(run_until(l, &f.logged_in, 2000), 0);
        CHECK_EQ(f.login_seq, 40);
        for (int i = 0; i < 2000 && f.got < 61; i++)
            run_for(l, 1);
        CHECK_EQ(f.got, 61);
        CHECK_EQ(f.expect_seq, 101);
        /* published live: 101..300 */
        sn_soup_server_publish(&f.srv, 301);
        for (int i = 0; i < 2000 && f.got < 261; i++)
            run_for(l, 1);
        CHECK_EQ(f.got, 261);
        CHECK_EQ(f.bad_seq, 0);
        CHECK_EQ(f.bad_data, 0);
        sn_soup_client_logout(&f.cl);
        CHECK_EQ(run_until(l, &f.closed, 2000), 0);
        CHECK_EQ(f.reason, SN_SOUP_EV_LOGOUT);
        /* a second client asking for 0: starts at the next new one (301) */
        f.closed = f.logged_in = 0;
        f.got = 0;
        CHECK_EQ(fx_client(&f, l, "alice", "secret", NULL, 0, 0, 0), 0);
        CHECK_EQ(run_until(l, &f.logged_in, 2000), 0);
        CHECK_EQ(f.login_seq, 301);
        run_for(l, 20);
        CHECK_EQ(f.got, 0);
        sn_soup_server_publish(&f.srv, 306);
        for (int i = 0; i < 2000 && f.got < 5; i++)
            run_for(l, 1);
        CHECK_EQ(f.got, 5);
        CHECK_EQ(f.expect_seq, 306);
        /* a request beyond the end also starts at the next new one */
        sn_soup_client_close(&f.cl);
        CHECK_EQ(run_until(l, &f.closed, 2000), 0);
        f.closed = f.logged_in = 0;
        CHECK_EQ(fx_client(&f, l, "alice", "secret", NULL, 99999, 0, 0), 0);
        CHECK_EQ(run_until(l, &f.logged_in, 2000), 0);
        CHECK_EQ(f.login_seq, 306);
        sn_soup_client_close(&f.cl);
        CHECK_EQ(run_until(l, &f.closed, 2000), 0);
        fx_done(&f, l);
    }
}

SN_TEST(soup_net_logout_mid_stream)
{
    FOR_BACKENDS(l)
    {
        struct fx f;
        CHECK_EQ(fx_server(&f, l, 200001, 0, 0), 0);
        f.stop_after = 1000;
        CHECK_EQ(fx_client(&f, l, "alice", "secret", NULL, 1, 0, 0), 0);
        CHECK_EQ(run_until(l, &f.closed, 5000), 0);
        CHECK_EQ(f.reason, SN_SOUP_EV_LOGOUT);
        CHECK_EQ(f.got, 1000); /* nothing delivered after the logout */
        for (int i = 0; i < 2000 && f.srv_closes < 1; i++)
            run_for(l, 1);
        CHECK_EQ(f.srv_closes, 1);
        /* the server saw the Logout Request (the client drains until the server
         * closes, so no reset loses it) */
        CHECK_EQ(f.srv_reason, SN_SOUP_EV_LOGOUT);
        CHECK(f.srv_sent >= 1000);
        fx_done(&f, l);
    }
}

SN_TEST(soup_net_heartbeats_when_idle)
{
    FOR_BACKENDS(l)
    {
        struct fx f;
        /* heartbeat every 20 ms, silence limit 150 ms, idle for 400 ms: nobody drops */
        CHECK_EQ(fx_server(&f, l, 1, 20 * SN_MS, 150 * SN_MS), 0);
        CHECK_EQ(fx_client(&f, l, "alice", "secret", NULL, 1, 20 * SN_MS, 150 * SN_MS), 0);
        CHECK_EQ(run_until(l, &f.logged_in, 2000), 0);
        run_for(l, 400);
        CHECK(!f.closed);
        CHECK_EQ(f.srv_closes, 0);
        CHECK(f.cl.heartbeats >= 5); /* server heartbeats seen by the client */
        CHECK(f.srv.conns && f.srv.conns->heartbeats >= 5);
        CHECK_EQ(f.srv.timeouts, 0);
        sn_soup_client_logout(&f.cl);
        CHECK_EQ(run_until(l, &f.closed, 2000), 0);
        for (int i = 0; i < 2000 && f.srv_closes < 1; i++)
            run_for(l, 1);
        CHECK_EQ(f.srv_reason, SN_SOUP_EV_LOGOUT);
        fx_done(&f, l);
    }
}

/* A blocking client that logs in, then says nothing: the server must drop it. */
SN_TEST(soup_net_server_drops_dead_client)
{
    FOR_BACKENDS(l)
    {
        struct fx f;
        CHECK_EQ(fx_server(&f, l, 1, 20 * SN_MS, 100 * SN_MS), 0);
        struct sn_sock_opts so = {.type = SOCK_STREAM, .connect = &f.addr};
        int fd = sn_sock_open(&so);
        CHECK(fd >= 0);
        uint8_t b[64];
        ssize_t n = sn_soup_emit_login_request("alice", "secret", NULL, 1, b, sizeof(b));
        CHECK(n > 0);
        CHECK_EQ(write(fd, b, (size_t)n), n);
        uint64_t t0 = sn_now_ns();
        for (int i = 0; i < 2000 && f.srv_closes < 1; i++)
            run_for(l, 1);
        uint64_t waited = sn_now_ns() - t0;
        CHECK_EQ(f.srv_closes, 1);
        CHECK_EQ(f.srv_reason, -ETIMEDOUT);
        CHECK_EQ(f.srv.timeouts, 1);
        CHECK(waited >= 90 * SN_MS);
        /* it got Login Accepted and heartbeats before the cut */
        ssize_t r = read(fd, b, sizeof(b));
        CHECK(r >= 33);
        CHECK_EQ(b[2], 'A');
        close(fd);
        fx_done(&f, l);
    }
}

/* A server that accepts the TCP connection and never answers: the client gives up. */
SN_TEST(soup_net_client_detects_silent_server)
{
    FOR_BACKENDS(l)
    {
        struct fx f;
        memset(&f, 0, sizeof(f));
        struct sn_addr any;
        sn_addr_loopback(&any, AF_INET, 0);
        struct sn_sock_opts so = {.type = SOCK_STREAM, .bind = &any, .backlog = 8};
        int lfd = sn_sock_open(&so);
        CHECK(lfd >= 0);
        CHECK_EQ(sn_sock_local_addr(lfd, &f.addr), 0);
        CHECK_EQ(fx_client(&f, l, "alice", "secret", NULL, 1, 20 * SN_MS, 100 * SN_MS), 0);
        CHECK_EQ(run_until(l, &f.closed, 3000), 0);
        CHECK_EQ(f.reason, -ETIMEDOUT);
        CHECK(!f.logged_in);
        close(lfd);
    }
}

/* Garbage from a client (a server-only packet type) gets it dropped with -EPROTO. */
SN_TEST(soup_net_server_drops_protocol_violation)
{
    FOR_BACKENDS(l)
    {
        struct fx f;
        CHECK_EQ(fx_server(&f, l, 1, 0, 0), 0);
        struct sn_sock_opts so = {.type = SOCK_STREAM, .connect = &f.addr};
        int fd = sn_sock_open(&so);
        CHECK(fd >= 0);
        uint8_t pkt[3] = {0, 1, 'H'}; /* a Server Heartbeat, from a client */
        CHECK_EQ(write(fd, pkt, 3), 3);
        for (int i = 0; i < 2000 && f.srv_closes < 1; i++)
            run_for(l, 1);
        CHECK_EQ(f.srv_closes, 1);
        CHECK_EQ(f.srv_reason, -EPROTO);
        close(fd);
        fx_done(&f, l);
    }
}
