/* lab_net.c — the network steps of `sysnet lab` (no privileges, loopback only):
 *   6. an echo server and 50 clients on one event loop: messages/s and latency
 *      percentiles of a closed-loop ping-pong (the loop module, docs/03);
 *   7. a SoupBinTCP session of ITCH 5.0 Add Orders, server and client on one loop,
 *      every message decoded and checked (the frame module, docs/04). */
#include "tool.h"

#include <sysnet/hist.h>
#include <sysnet/itch.h>
#include <sysnet/loop.h>
#include <sysnet/soupnet.h>
#include <sysnet/stream.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- step 6: echo ------------------------------------------------------------ */

#define ECHO_CONNS 50
#define ECHO_MSG 64
#define ECHO_NS (500 * SN_MS)

struct echo_lab {
    struct sn_loop *loop;
    struct sn_listener ls;
    struct sn_stream srv[ECHO_CONNS], cli[ECHO_CONNS];
    struct sn_connector cn[ECHO_CONNS];
    uint64_t sent_at[ECHO_CONNS];
    size_t got[ECHO_CONNS];
    int nsrv, ncli, closed, failed;
    int running;
    uint64_t msgs, t0;
    struct sn_hist hist;
    struct sn_timer stop;
};

static uint8_t echo_msg[ECHO_MSG]; /* 'a'..'z' repeated, filled at the start */

static void echo_closed(struct sn_stream *s)
{
    struct echo_lab *e = s->data;
    e->closed++;
}

static void srv_read(struct sn_stream *s, const uint8_t *p, ssize_t n)
{
    if (n > 0) {
        if (sn_stream_write(s, p, (size_t)n) < 0)
            sn_stream_abort(s, echo_closed);
    } else {
        sn_stream_close(s, echo_closed);
    }
}

static void srv_accept(struct sn_listener *ls, int fd)
{
    struct echo_lab *e = ls->data;
    if (e->nsrv == ECHO_CONNS) {
        close(fd);
        return;
    }
    struct sn_stream *s = &e->srv[e->nsrv];
    s->data = e;
    if (sn_stream_open(e->loop, s, fd, NULL) < 0) {
        close(fd);
        return;
    }
    e->nsrv++;
    sn_stream_read_start(s, srv_read);
}

static void cli_read(struct sn_stream *s, const uint8_t *p, ssize_t n)
{
    (void)p;
    struct echo_lab *e = s->data;
    int i = (int)(s - e->cli);
    if (n <= 0) {
        sn_stream_close(s, echo_closed);
        return;
    }
    e->got[i] += (size_t)n;
    if (e->got[i] < ECHO_MSG)
        return;
    e->got[i] -= ECHO_MSG;
    uint64_t now = sn_now_ns();
    sn_hist_record(&e->hist, now - e->sent_at[i]);
    e->msgs++;
    if (e->running) { /* closed loop: the next one at once */
        e->sent_at[i] = now;
        sn_stream_write(s, echo_msg, ECHO_MSG);
    }
}

static void cli_connected(struct sn_connector *c, int fd)
{
    struct echo_lab *e = c->data;
    int i = (int)(c - e->cn);
    if (fd < 0) {
        e->failed++;
        return;
    }
    struct sn_stream *s = &e->cli[i];
    s->data = e;
    if (sn_stream_open(e->loop, s, fd, NULL) < 0) {
        close(fd);
        e->failed++;
        return;
    }
    e->ncli++;
    sn_stream_read_start(s, cli_read);
    if (e->ncli == ECHO_CONNS) { /* everyone is up: start the clock and the ping-pong */
        e->running = 1;
        e->t0 = sn_now_ns();
        for (int k = 0; k < ECHO_CONNS; k++) {
            e->sent_at[k] = e->t0;
            sn_stream_write(&e->cli[k], echo_msg, ECHO_MSG);
        }
    }
}

static void echo_stop(struct sn_timer *t)
{
    struct echo_lab *e = t->data;
    e->running = 0;
    for (int i = 0; i < e->ncli; i++)
        sn_stream_close(&e->cli[i], echo_closed); /* FIN: the server side closes in turn */
    sn_listener_close(&e->ls);
}

int lab_step_echo(int quiet)
{
    static struct echo_lab e;
    memset(&e, 0, sizeof(e));
    for (size_t i = 0; i < sizeof(echo_msg); i++)
        echo_msg[i] = (uint8_t)('a' + i % 26);
    int rc = sn_loop_open(&e.loop, NULL);
    if (rc < 0) {
        printf("echo step skipped: no event loop here (%s)\n", sn_strerror(rc));
        return 0;
    }
    if ((rc = sn_hist_init(&e.hist, 10 * SN_SEC, 3)) < 0) {
        sn_loop_close(e.loop);
        return tool_err("lab", "histogram: %s", sn_strerror(rc));
    }
    struct sn_addr a;
    sn_addr_loopback(&a, AF_INET, 0);
    e.ls.data = &e;
    if ((rc = sn_tcp_listen(e.loop, &e.ls, &a, 0, 128, srv_accept)) < 0) {
        printf("echo step skipped: cannot listen on 127.0.0.1 (%s)\n", sn_strerror(rc));
        sn_hist_fini(&e.hist);
        sn_loop_close(e.loop);
        return 0;
    }
    sn_sock_local_addr(e.ls.fd, &a);
    const char *backend = sn_backend_name(sn_poller_backend(sn_loop_poller(e.loop)));
    if (!quiet) {
        char text[SN_ADDR_STRLEN];
        sn_addr_fmt(&a, text, sizeof(text));
        printf("\n== step 6: an echo server and %d clients on one event loop (%s), closed loop, %d-byte messages\n",
               ECHO_CONNS, backend, ECHO_MSG);
        printf("  server listening on %s; sysnet echo / sysnet load do this at scale\n", text);
    }
    e.stop.data = &e;
    for (int i = 0; i < ECHO_CONNS; i++) {
        e.cn[i].data = &e;
        if (sn_tcp_connect(e.loop, &e.cn[i], &a, NULL, SN_SEC, cli_connected) < 0)
            e.failed++;
    }
    /* Run until every client is up, then for ECHO_NS, then until all has closed. */
    uint64_t deadline = sn_now_ns() + 5 * SN_SEC;
    while (!e.running && e.ncli + e.failed < ECHO_CONNS && sn_now_ns() < deadline)
        sn_loop_run(e.loop, SN_RUN_ONCE);
    if (e.running) {
        sn_loop_update_time(e.loop);
        sn_timer_start(e.loop, &e.stop, echo_stop, ECHO_NS, 0);
    } else {
        echo_stop(&e.stop);
    }
    sn_loop_run(e.loop, SN_RUN_DEFAULT);
    double secs = (double)ECHO_NS / 1e9;
    char line[256];
    sn_hist_format(&e.hist, line, sizeof(line));
    if (quiet)
        printf("  echo on %s: %d connections, %.0f msgs/s\n", backend, e.ncli, (double)e.msgs / secs);
    else {
        printf("  %d connections up (%d failed); %" PRIu64 " round trips in %.1f s: %.0f msgs/s\n", e.ncli, e.failed,
               e.msgs, secs, (double)e.msgs / secs);
        printf("  latency (send to echo back, both ends on this loop): %s\n", line);
        printf("  closed cleanly: %d of %d streams\n", e.closed, e.ncli + e.nsrv);
    }
    int bad = e.ncli != ECHO_CONNS || e.closed != e.ncli + e.nsrv || !e.msgs;
    sn_hist_fini(&e.hist);
    rc = sn_loop_close(e.loop);
    if (bad || rc < 0)
        return tool_err("lab", "echo step: %d of %d connections, %d closed, %" PRIu64 " messages%s", e.ncli, ECHO_CONNS,
                        e.closed, e.msgs, rc < 0 ? ", loop still busy" : "");
    return 0;
}

/* ---- step 7: SoupBinTCP + ITCH ------------------------------------------------ */

#define FEED_MSGS 20000u

struct feed_lab {
    struct sn_loop *loop;
    struct sn_soup_server srv;
    struct sn_soup_client cli;
    uint64_t got, bad, first_seq, last_seq, t0, t1;
    int client_reason, done, server_closed;
    char first[160];
};

/* Message seq: an Add Order whose fields follow from seq, so the client can check it. */
static void make_order(uint64_t seq, struct sn_itch_msg *m)
{
    static const char *const syms[] = {"AAPL", "MSFT", "NVDA", "AMZN"};
    memset(m, 0, sizeof(*m));
    m->type = 'A';
    m->locate = (uint16_t)(1 + seq % 4);
    m->ts_ns = 34200ull * SN_SEC + seq * 1000; /* 09:30:00 + 1 us per order */
    m->u.A.order_ref = 1000000 + seq;
    m->u.A.side = seq & 1 ? 'S' : 'B';
    m->u.A.shares = (uint32_t)(100 * (1 + seq % 10));
    m->u.A.price = (uint32_t)(1000000 + seq % 5000); /* $100.0000 + */
    sn_itch_stock_set(m->u.A.stock, syms[seq % 4]);
}

static ssize_t feed_get(struct sn_soup_server *srv, uint64_t seq, uint8_t *buf, size_t cap)
{
    (void)srv;
    struct sn_itch_msg m;
    make_order(seq, &m);
    return sn_itch_encode(&m, buf, cap);
}

static void feed_message(struct sn_soup_client *c, uint64_t seq, const uint8_t *msg, size_t len)
{
    struct feed_lab *f = c->data;
    struct sn_itch_msg got, want;
    make_order(seq, &want);
    if (sn_itch_decode(msg, len, &got) < 0 || got.type != 'A' || got.u.A.order_ref != want.u.A.order_ref ||
        got.u.A.price != want.u.A.price || got.u.A.shares != want.u.A.shares || got.ts_ns != want.ts_ns ||
        memcmp(got.u.A.stock, want.u.A.stock, 8))
        f->bad++;
    if (!f->got) {
        f->first_seq = seq;
        char sym[9];
        snprintf(f->first, sizeof(f->first), "seq %" PRIu64 ": %s locate %u ts %" PRIu64 " ns ref %" PRIu64
                 " %c %u %s @ %u.%04u", seq, sn_itch_type_name(got.type), got.locate, got.ts_ns, got.u.A.order_ref,
                 got.u.A.side, got.u.A.shares, sn_itch_stock_str(got.u.A.stock, sym), got.u.A.price / 10000,
                 got.u.A.price % 10000);
    }
    f->got++;
    f->last_seq = seq;
}

static void feed_client_closed(struct sn_soup_client *c, int reason)
{
    struct feed_lab *f = c->data;
    f->t1 = sn_now_ns();
    f->client_reason = reason;
    f->done = 1;
}

static void feed_server_closed(struct sn_soup_server *srv)
{
    struct feed_lab *f = srv->data;
    f->server_closed = 1;
}

int lab_step_feed(int quiet)
{
    static struct feed_lab f;
    memset(&f, 0, sizeof(f));
    int rc = sn_loop_open(&f.loop, NULL);
    if (rc < 0) {
        printf("feed step skipped: no event loop here (%s)\n", sn_strerror(rc));
        return 0;
    }
    struct sn_addr a;
    sn_addr_loopback(&a, AF_INET, 0);
    struct sn_soup_server_opts so = {.session = "LAB", .first_head = FEED_MSGS + 1, .get = feed_get};
    f.srv.data = &f;
    if ((rc = sn_soup_server_open(f.loop, &f.srv, &a, &so)) < 0) {
        printf("feed step skipped: cannot listen on 127.0.0.1 (%s)\n", sn_strerror(rc));
        sn_loop_close(f.loop);
        return 0;
    }
    sn_soup_server_end(&f.srv); /* all FEED_MSGS exist: End of Session after the last */
    sn_sock_local_addr(f.srv.ls.fd, &a);
    if (!quiet)
        printf("\n== step 7: a SoupBinTCP 3.0 session of %u ITCH 5.0 Add Orders, server and client on one loop\n",
               FEED_MSGS);
    struct sn_soup_client_opts co = {.username = "lab", .password = "demo", .seq = 1};
    f.cli.data = &f;
    f.cli.on_message = feed_message;
    f.cli.on_close = feed_client_closed;
    f.t0 = sn_now_ns();
    if ((rc = sn_soup_client_open(f.loop, &f.cli, &a, &co)) < 0) {
        sn_soup_server_close(&f.srv, feed_server_closed);
        sn_loop_run(f.loop, SN_RUN_DEFAULT);
        sn_loop_close(f.loop);
        return tool_err("lab", "feed step: cannot connect: %s", sn_strerror(rc));
    }
    uint64_t deadline = sn_now_ns() + 10 * SN_SEC;
    while (!f.done && sn_now_ns() < deadline)
        sn_loop_run(f.loop, SN_RUN_ONCE);
    if (!f.done)
        sn_soup_client_close(&f.cli);
    sn_soup_server_close(&f.srv, feed_server_closed);
    sn_loop_run(f.loop, SN_RUN_DEFAULT);
    double secs = (double)(f.t1 - f.t0) / 1e9;
    int ok = f.got == FEED_MSGS && !f.bad && f.first_seq == 1 && f.last_seq == FEED_MSGS &&
             f.client_reason == SN_SOUP_EV_END;
    if (quiet)
        printf("  feed: %" PRIu64 " ITCH messages over SoupBinTCP, %.0f msgs/s\n", f.got, secs > 0 ? f.got / secs : 0);
    else {
        printf("  logged in as 'lab' to session LAB from sequence 1; the first message decoded:\n    %s\n", f.first);
        printf("  %" PRIu64 " messages, sequence %" PRIu64 "..%" PRIu64 ", %" PRIu64
               " wrong, then End of Session, in %.3f s (%.0f msgs/s)\n", f.got, f.first_seq, f.last_seq, f.bad, secs,
               secs > 0 ? f.got / secs : 0);
        printf("  the same with two processes: sysnet feed --listen 127.0.0.1:9000 --itch & sysnet feed --connect "
               "127.0.0.1:9000 --itch\n");
    }
    rc = sn_loop_close(f.loop);
    if (!ok || rc < 0)
        return tool_err("lab", "feed step: %" PRIu64 " of %u messages, %" PRIu64 " wrong, ended with %d", f.got,
                        FEED_MSGS, f.bad, f.client_reason);
    return 0;
}
