/* tests/unit/test_stream.c — TCP streams, listeners, connectors and UDP on the
 * loop, each test on every backend that opens (epoll, uring, poll), over loopback
 * only: echo round trips, backpressure from a client that never reads (memory stays
 * at the water marks), half-close, graceful close flushing the queue, abrupt
 * resets, the EMFILE reserve-fd trick (accepting resumes), connect refused and
 * timed out, and UDP batches. */
#include "../harness.h"
#include "../loop_common.h"

#include <sysnet/loop.h>
#include <sysnet/stream.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Run until *done or the deadline; 0 if done. */
static int run_until(struct sn_loop *l, const int *done, uint64_t ms)
{
    uint64_t end = sn_now_ns() + ms * SN_MS;
    while (!*done && sn_now_ns() < end)
        if (sn_loop_run(l, SN_RUN_ONCE) < 0)
            return -1;
    return *done ? 0 : -1;
}

/* A blocking client socket connected to the listener. */
static int client_to(const struct sn_listener *ls)
{
    struct sn_addr a;
    if (sn_sock_local_addr(ls->fd, &a) < 0)
        return -1;
    struct sn_sock_opts so = {.type = SOCK_STREAM, .connect = &a};
    return sn_sock_open(&so);
}

static void loopback(struct sn_addr *a)
{
    sn_addr_loopback(a, AF_INET, 0);
}

/* ---- an echo server inside the test ---- */

struct esrv {
    struct sn_loop *loop;
    struct sn_listener ls;
    struct sn_stream_opts so;
    struct sn_stream *conns[64];
    int n, closed, reads_paused, eofs, errors;
    size_t max_queued;
};

static void es_closed(struct sn_stream *s)
{
    struct esrv *e = s->data;
    e->closed++;
}

static void es_read(struct sn_stream *s, const uint8_t *p, ssize_t n)
{
    struct esrv *e = s->data;
    if (n > 0) {
        int rc = sn_stream_write(s, p, (size_t)n);
        if (sn_stream_queued(s) > e->max_queued)
            e->max_queued = sn_stream_queued(s);
        if (rc == 1) {
            e->reads_paused++;
            sn_stream_read_stop(s);
        }
    } else if (n == 0) {
        e->eofs++;
        sn_stream_close(s, es_closed);
    } else {
        e->errors++;
        sn_stream_abort(s, es_closed);
    }
}

static void es_drain(struct sn_stream *s)
{
    sn_stream_read_start(s, es_read);
}

static void es_accept(struct sn_listener *ls, int fd)
{
    struct esrv *e = ls->data;
    if (e->n == (int)SN_COUNTOF(e->conns)) {
        close(fd);
        return;
    }
    struct sn_stream *s = calloc(1, sizeof(*s));
    s->data = e;
    if (sn_stream_open(e->loop, s, fd, &e->so) < 0) {
        close(fd);
        free(s);
        return;
    }
    s->on_drain = es_drain;
    sn_stream_read_start(s, es_read);
    e->conns[e->n++] = s;
}

static int es_start(struct esrv *e, struct sn_loop *l)
{
    struct sn_addr a;
    loopback(&a);
    e->loop = l;
    e->ls.data = e;
    return sn_tcp_listen(l, &e->ls, &a, 0, 128, es_accept);
}

static void es_stop(struct esrv *e)
{
    sn_listener_close(&e->ls);
    for (int i = 0; i < e->n; i++)
        if (e->conns[i]->fd >= 0)
            sn_stream_abort(e->conns[i], es_closed);
    int all = 0;
    for (int k = 0; k < 100 && !all; k++) {
        sn_loop_run(e->loop, SN_RUN_NOWAIT);
        all = e->closed == e->n;
    }
    for (int i = 0; i < e->n; i++)
        free(e->conns[i]);
    e->n = 0;
}

/* Drive the loop while a blocking client socket does I/O: the client's calls use
 * MSG_DONTWAIT and poll, the loop runs between them. */
static ssize_t pump_send(struct sn_loop *l, int fd, const uint8_t *p, size_t n)
{
    size_t off = 0;
    uint64_t end = sn_now_ns() + 10 * SN_SEC;
    while (off < n && sn_now_ns() < end) {
        ssize_t k = send(fd, p + off, n - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k > 0)
            off += (size_t)k;
        else if (k < 0 && errno != EAGAIN)
            return -errno;
        sn_loop_run(l, SN_RUN_NOWAIT);
    }
    return (ssize_t)off;
}

static ssize_t pump_recv(struct sn_loop *l, int fd, uint8_t *p, size_t n)
{
    size_t off = 0;
    uint64_t end = sn_now_ns() + 10 * SN_SEC;
    while (off < n && sn_now_ns() < end) {
        ssize_t k = recv(fd, p + off, n - off, MSG_DONTWAIT);
        if (k > 0)
            off += (size_t)k;
        else if (k == 0)
            break;
        else if (errno != EAGAIN)
            return -errno;
        sn_loop_run(l, SN_RUN_NOWAIT);
    }
    return (ssize_t)off;
}

SN_TEST(stream_echo_roundtrip)
{
    int ran = 0;
    FOR_BACKENDS(l)
    {
        ran++;
        struct esrv e = {0};
        CHECK_EQ(es_start(&e, l), 0);
        int fd = client_to(&e.ls);
        CHECK(fd >= 0);
        static uint8_t out[300000], in[300000];
        for (size_t i = 0; i < sizeof(out); i++)
            out[i] = (uint8_t)(i * 7 + 3);
        CHECK_EQ(pump_send(l, fd, out, sizeof(out)), (ssize_t)sizeof(out));
        CHECK_EQ(pump_recv(l, fd, in, sizeof(in)), (ssize_t)sizeof(in));
        CHECK(!memcmp(in, out, sizeof(out)));
        close(fd);
        int done = 0;
        for (int k = 0; k < 1000 && !done; k++) {
            sn_loop_run(l, SN_RUN_NOWAIT);
            done = e.closed == 1;
        }
        CHECK_EQ(e.eofs, 1);
        es_stop(&e);
        CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 0); /* nothing left active */
    }
    CHECK(ran >= 1);
}

SN_TEST(stream_backpressure_client_never_reads)
{
    FOR_BACKENDS(l)
    {
        struct esrv e = {.so = {.high_water = 256 << 10, .low_water = 64 << 10}};
        CHECK_EQ(es_start(&e, l), 0);
        int fd = client_to(&e.ls);
        int small = 64 << 10;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        /* Send 32 MiB without reading: the server must stop reading at high water. */
        static uint8_t chunk[1 << 16];
        size_t sent = 0;
        uint64_t end = sn_now_ns() + 3 * SN_SEC;
        while (sn_now_ns() < end && sent < (32u << 20)) {
            ssize_t k = send(fd, chunk, sizeof(chunk), MSG_DONTWAIT | MSG_NOSIGNAL);
            if (k > 0)
                sent += (size_t)k;
            sn_loop_run(l, SN_RUN_NOWAIT);
            if (k < 0 && errno == EAGAIN) {
                struct pollfd p = {fd, POLLOUT, 0};
                poll(&p, 1, 5);
                if (!(p.revents & POLLOUT) && e.reads_paused)
                    break; /* both directions are full: backpressure reached the client */
            }
        }
        CHECK(e.reads_paused >= 1);
        /* Bounded: at most high water plus one read's worth queued. */
        CHECK(e.max_queued <= (256u << 10) + (64u << 10));
        CHECK(sent < (32u << 20));
        /* Now read everything back: reading resumes, all bytes come back. */
        static uint8_t in[1 << 16];
        size_t got = 0;
        end = sn_now_ns() + 10 * SN_SEC;
        shutdown(fd, SHUT_WR);
        while (got < sent && sn_now_ns() < end) {
            ssize_t k = recv(fd, in, sizeof(in), MSG_DONTWAIT);
            if (k > 0)
                got += (size_t)k;
            else if (k == 0)
                break;
            sn_loop_run(l, SN_RUN_NOWAIT);
        }
        CHECK_EQ(got, sent);
        close(fd);
        es_stop(&e);
    }
}

SN_TEST(stream_half_close_and_graceful_close)
{
    FOR_BACKENDS(l)
    {
        struct esrv e = {0};
        CHECK_EQ(es_start(&e, l), 0);
        int fd = client_to(&e.ls);
        static uint8_t out[2 << 20], in[2 << 20];
        memset(out, 'h', sizeof(out));
        CHECK_EQ(pump_send(l, fd, out, sizeof(out)), (ssize_t)sizeof(out));
        shutdown(fd, SHUT_WR); /* half-close: the server still owes us everything */
        CHECK_EQ(pump_recv(l, fd, in, sizeof(in)), (ssize_t)sizeof(in));
        char c;
        ssize_t k = -1;
        for (int i = 0; i < 1000 && k != 0; i++) { /* then its FIN */
            k = recv(fd, &c, 1, MSG_DONTWAIT);
            sn_loop_run(l, SN_RUN_NOWAIT);
        }
        CHECK_EQ(k, 0);
        CHECK_EQ(e.eofs, 1);
        close(fd);
        es_stop(&e);
    }
}

static int g_rst_done;
static void rst_closed(struct sn_stream *s)
{
    (void)s;
    g_rst_done = 1;
}
static ssize_t g_rst_n = 1;
static void rst_read(struct sn_stream *s, const uint8_t *p, ssize_t n)
{
    (void)p;
    if (n <= 0) {
        g_rst_n = n;
        sn_stream_abort(s, rst_closed);
    }
}

SN_TEST(stream_abrupt_reset)
{
    FOR_BACKENDS(l)
    {
        int pair[2];
        /* A real TCP pair: listener + client, the accepted side becomes the stream. */
        struct sn_addr a;
        loopback(&a);
        struct sn_sock_opts lso = {.type = SOCK_STREAM, .bind = &a, .backlog = 4};
        int lfd = sn_sock_open(&lso);
        sn_sock_local_addr(lfd, &a);
        struct sn_sock_opts cso = {.type = SOCK_STREAM, .connect = &a};
        pair[0] = sn_sock_open(&cso);
        pair[1] = accept(lfd, NULL, NULL);
        close(lfd);
        struct sn_stream s = {0};
        CHECK_EQ(sn_stream_open(l, &s, pair[1], NULL), 0);
        g_rst_done = 0;
        g_rst_n = 1;
        CHECK_EQ(sn_stream_read_start(&s, rst_read), 0);
        /* The stream has unsent data queued when the reset arrives. */
        struct linger lg = {1, 0};
        setsockopt(pair[0], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(pair[0]); /* RST */
        CHECK_EQ(run_until(l, &g_rst_done, 3000), 0);
        CHECK(g_rst_n == -ECONNRESET || g_rst_n == 0);
        CHECK_EQ(s.fd, -1);
        CHECK_EQ(sn_stream_write(&s, "x", 1), -EPIPE);
    }
}

/* ---- EMFILE ---- */

static int g_accepted;
static void count_accept(struct sn_listener *ls, int fd)
{
    (void)ls;
    g_accepted++;
    close(fd);
}

SN_TEST(listener_emfile_reserve_fd)
{
    FOR_BACKENDS(l)
    {
        struct sn_listener ls = {0};
        struct sn_addr a;
        loopback(&a);
        g_accepted = 0;
        CHECK_EQ(sn_tcp_listen(l, &ls, &a, 0, 64, count_accept), 0);
        int c1 = client_to(&ls);
        CHECK(c1 >= 0);
        /* Use up every fd but none: clients first, then filler. */
        int c2 = client_to(&ls), c3 = client_to(&ls);
        struct rlimit old, lim;
        getrlimit(RLIMIT_NOFILE, &old);
        int fill[4096], nfill = 0;
        lim = old;
        lim.rlim_cur = 256;
        CHECK_EQ(setrlimit(RLIMIT_NOFILE, &lim), 0);
        int f;
        while (nfill < (int)SN_COUNTOF(fill) && (f = dup(0)) >= 0)
            fill[nfill++] = f;
        CHECK(nfill > 0);
        /* The loop tries to accept: EMFILE; the trick closes the spare, accepts and
         * closes one connection, and backs off. */
        for (int k = 0; k < 20; k++)
            sn_loop_run(l, SN_RUN_NOWAIT);
        CHECK(ls.rejected >= 1);
        CHECK_EQ(g_accepted, 0);
        /* fds free again: accepting resumes by itself (after the 100 ms back-off). */
        while (nfill)
            close(fill[--nfill]);
        setrlimit(RLIMIT_NOFILE, &old);
        int c4 = client_to(&ls);
        uint64_t end = sn_now_ns() + 3 * SN_SEC;
        while (g_accepted < 1 && sn_now_ns() < end)
            sn_loop_run(l, SN_RUN_ONCE);
        CHECK(g_accepted >= 1);
        /* The rejected clients saw a close, not a hang. */
        char c;
        int closed_seen = 0;
        for (int i = 0; i < 3; i++) {
            int fd = i == 0 ? c1 : i == 1 ? c2 : c3;
            struct pollfd p = {fd, POLLIN, 0};
            if (poll(&p, 1, 0) == 1 && recv(fd, &c, 1, MSG_DONTWAIT) <= 0)
                closed_seen++;
        }
        CHECK(closed_seen >= 1);
        close(c1);
        close(c2);
        close(c3);
        close(c4);
        sn_listener_close(&ls);
    }
}

/* ---- connect ---- */

static int g_conn_res, g_conn_done;
static void on_conn(struct sn_connector *c, int fd_or_err)
{
    (void)c;
    g_conn_res = fd_or_err;
    g_conn_done = 1;
    if (fd_or_err >= 0)
        close(fd_or_err);
}

SN_TEST(connect_ok_refused_timeout)
{
    FOR_BACKENDS(l)
    {
        struct sn_addr a;
        loopback(&a);
        struct sn_sock_opts lso = {.type = SOCK_STREAM, .bind = &a, .backlog = 16};
        int lfd = sn_sock_open(&lso);
        sn_sock_local_addr(lfd, &a);
        struct sn_connector c = {0};
        g_conn_done = 0;
        CHECK_EQ(sn_tcp_connect(l, &c, &a, NULL, SN_SEC, on_conn), 0);
        CHECK_EQ(g_conn_done, 0); /* never from inside the call */
        CHECK_EQ(run_until(l, &g_conn_done, 3000), 0);
        CHECK(g_conn_res >= 0);
        close(lfd);
        /* Refused: the port is closed now. */
        g_conn_done = 0;
        CHECK_EQ(sn_tcp_connect(l, &c, &a, NULL, SN_SEC, on_conn), 0);
        CHECK_EQ(run_until(l, &g_conn_done, 3000), 0);
        CHECK_EQ(g_conn_res, -ECONNREFUSED);
        /* Timed out: a listener whose accept queue is full drops new SYNs. */
        struct sn_sock_opts fso = {.type = SOCK_STREAM, .bind = &a, .backlog = 1};
        a.port = 0;
        lfd = sn_sock_open(&fso);
        sn_sock_local_addr(lfd, &a);
        int fillers[8], nf = 0;
        for (int i = 0; i < 8; i++) {
            struct sn_sock_opts co = {.type = SOCK_STREAM, .flags = SN_SOCK_NONBLOCK, .connect = &a};
            fillers[nf++] = sn_sock_open(&co);
        }
        usleep(100000);
        g_conn_done = 0;
        uint64_t t0 = sn_now_ns();
        CHECK_EQ(sn_tcp_connect(l, &c, &a, NULL, 200 * SN_MS, on_conn), 0);
        CHECK_EQ(run_until(l, &g_conn_done, 5000), 0);
        CHECK_EQ(g_conn_res, -ETIMEDOUT);
        CHECK(sn_now_ns() - t0 >= 200 * SN_MS);
        for (int i = 0; i < nf; i++)
            if (fillers[i] >= 0)
                close(fillers[i]);
        close(lfd);
        /* Cancel: cb runs with -ECANCELED. */
        g_conn_done = 0;
        a.port = 9; /* discard: closed on loopback → refused, unless cancelled first */
        CHECK_EQ(sn_tcp_connect(l, &c, &a, NULL, SN_SEC, on_conn), 0);
        sn_connect_cancel(&c);
        CHECK_EQ(g_conn_done, 1);
        CHECK_EQ(g_conn_res, -ECANCELED);
        sn_loop_run(l, SN_RUN_NOWAIT);
    }
}

/* ---- UDP ---- */

static int g_udp_got;
static void udp_echo(struct sn_udp *u, struct sn_batch *b, int n)
{
    for (int i = 0; i < n; i++) {
        b->iov[i].iov_len = sn_batch_len(b, (unsigned)i);
        b->msg[i].msg_hdr.msg_controllen = 0;
    }
    b->n = (unsigned)n;
    g_udp_got += n;
    sn_udp_send(u, b);
}

SN_TEST(udp_batches_echo)
{
    FOR_BACKENDS(l)
    {
        struct sn_udp u = {0};
        struct sn_addr a;
        loopback(&a);
        CHECK_EQ(sn_udp_open(l, &u, &a, 0), 0);
        CHECK_EQ(sn_udp_recv_start(&u, udp_echo), 0);
        sn_sock_local_addr(u.fd, &a);
        struct sn_sock_opts co = {.type = SOCK_DGRAM, .connect = &a};
        int fd = sn_sock_open(&co);
        g_udp_got = 0;
        for (int i = 0; i < 200; i++) {
            char m[32];
            int k = snprintf(m, sizeof(m), "d%d", i);
            send(fd, m, (size_t)k, 0);
        }
        int back = 0;
        uint64_t end = sn_now_ns() + 3 * SN_SEC;
        while (back < 200 && sn_now_ns() < end) {
            sn_loop_run(l, SN_RUN_NOWAIT);
            char m[32];
            while (recv(fd, m, sizeof(m), MSG_DONTWAIT) > 0)
                back++;
        }
        CHECK_EQ(g_udp_got, 200);
        CHECK_EQ(back, 200);
        close(fd);
        sn_udp_close(&u);
        CHECK_EQ(sn_loop_run(l, SN_RUN_NOWAIT), 0);
    }
}
