/* test_reactor.c — the reactor futures of include/sysnet/task.h (src/task/reactor.c),
 * the combinators (comb.c) and the blocking pool future (blocking.c).
 *
 * Two ways of driving a future:
 *  - by hand: a struct sn_cx with rt = NULL, loop = a loop of the backend under
 *    test, and a counting waker (tw_*) of our own; drive() polls, runs the loop
 *    (SN_RUN_ONCE) until the waker fires, and polls again. Every REACTOR_TEST(x)
 *    runs as x_epoll, x_uring and x_poll (a backend that does not open here is
 *    skipped), so `test_reactor _uring` runs one backend.
 *  - inside the runtime (sn_rt_block_on, current-thread and 2 workers): rt_* tests.
 * Every test ends with the waker's reference count back at 0 (no waker leaked in a
 * loop handle or a future) and the loop closing cleanly (nothing left active), and
 * ASan checks the heap blocks of op and blocking futures are freed.
 * Timing is checked only as "never early" and against generous upper bounds.
 * Network traffic: socketpairs and 127.0.0.1 only. */
#include "../harness.h"
#include <sysnet/task.h>

#include "../task_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

/* ======================================================================
 * helpers: a hand-made context with a counting waker (task_common.h), a driver
 * ====================================================================== */

struct hand {
    struct twaker tw;
    struct sn_cx cx;
    struct sn_loop *l;
};

static void hand_init(struct hand *h, struct sn_loop *l)
{
    memset(h, 0, sizeof(*h));
    h->l = l;
    h->cx = tw_cx(&h->tw);
    h->cx.loop = l;
}

static int wakes(struct hand *h)
{
    return atomic_load(&h->tw.wakes);
}

static int refs(struct hand *h)
{
    return atomic_load(&h->tw.refs);
}

/* The watchdog keeps SN_RUN_ONCE from blocking for ever when a test is broken. */
static void tick_cb(struct sn_timer *t)
{
    (void)t;
}

/* Poll f until ready, running the loop between polls until our waker fires (and
 * only then polling again: a future that forgets to arrange its wake hangs here,
 * which is what we want to catch). 1 when ready, 0 after max_ns. */
static int drive_until(struct hand *h, struct sn_future *f, uint64_t max_ns)
{
    struct sn_timer tick = {0};
    tick.heap_idx = UINT32_MAX;
    int ticking = 0;
    uint64_t end = sn_now_ns() + max_ns;
    for (;;) {
        int w0 = wakes(h);
        if (sn_poll(f, &h->cx) == SN_READY) {
            if (ticking)
                sn_timer_stop(&tick);
            return 1;
        }
        while (wakes(h) == w0) {
            if (sn_now_ns() > end) {
                if (ticking)
                    sn_timer_stop(&tick);
                return 0;
            }
            if (!ticking && h->l) {
                sn_timer_start(h->l, &tick, tick_cb, 50 * SN_MS, 50 * SN_MS);
                ticking = 1;
            }
            if (h->l)
                sn_loop_run(h->l, SN_RUN_ONCE);
            else
                sched_yield();
        }
    }
}

static int drive(struct hand *h, struct sn_future *f)
{
    return drive_until(h, f, 5 * SN_SEC);
}

/* Drive x and y together (a join_all) until both are ready; each keeps its result
 * in its out. 1 when both are. */
static int drive_both(struct hand *h, struct sn_future *x, struct sn_future *y)
{
    struct sn_future *fs[] = {x, y};
    struct sn_join_all_fut j;
    if (sn_join_all_init(&j, fs, 2) != 0)
        return 0;
    int ok = drive(h, &j.base);
    sn_drop(&j.base);
    return ok;
}

/* Run the loop until nothing is active (ops completing after a cancel, pool work). */
static int settle(struct sn_loop *l)
{
    uint64_t end = sn_now_ns() + 5 * SN_SEC;
    while (sn_loop_alive(l) && sn_now_ns() < end)
        sn_loop_run(l, SN_RUN_NOWAIT), sched_yield();
    return sn_loop_alive(l) == 0;
}

static int g_backend;

static int open_loop(struct sn_loop **l, unsigned pool_threads)
{
    struct sn_loop_opts o = {.backend = g_backend, .pool_threads = pool_threads};
    return sn_loop_open(l, &o);
}

/* A loop or runtime that cannot open on this backend here: the test skips. */
static int backend_missing(int err)
{
    return err == -ENOSYS || err == -EPERM || err == -EOPNOTSUPP;
}

/* The fixture of every REACTOR_TEST: a loop of the backend under test (with
 * pool_threads blocking-pool threads) and a hand-made context on it; after the
 * body, no waker reference may be left, and the loop must settle (nothing active)
 * and close. A body that failed leaves both as they are, as any CHECK does. */
static void on_backend(int backend, unsigned pool_threads, void (*fn)(struct hand *h, struct sn_loop *l))
{
    g_backend = backend;
    struct sn_loop *l;
    int err = open_loop(&l, pool_threads);
    if (backend_missing(err)) {
        char why[96];
        snprintf(why, sizeof(why), "backend %s does not open here (%s)", sn_backend_name(backend),
                 sn_errname(err));
        SKIP(why);
    }
    CHECK_EQ(err, 0);
    struct hand h;
    hand_init(&h, l);
    fn(&h, l);
    if (sn_cur_failed)
        return;
    CHECK_EQ(refs(&h), 0);
    CHECK(settle(l));
    CHECK_EQ(sn_loop_close(l), 0);
}

/* REACTOR_TEST(x) { body using h and l } is x_epoll, x_uring and x_poll. */
#define REACTOR_TEST_POOL(name, pool_threads)                                            \
    static void rt_##name(struct hand *h, struct sn_loop *l);                            \
    SN_TEST(name##_epoll) { on_backend(SN_BACKEND_EPOLL, pool_threads, rt_##name); }     \
    SN_TEST(name##_uring) { on_backend(SN_BACKEND_URING, pool_threads, rt_##name); }     \
    SN_TEST(name##_poll) { on_backend(SN_BACKEND_POLL, pool_threads, rt_##name); }       \
    static void rt_##name(struct hand *h, __attribute__((unused)) struct sn_loop *l)
#define REACTOR_TEST(name) REACTOR_TEST_POOL(name, 0)

static int nb_socketpair(int sv[2])
{
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
}

/* A non-blocking socketpair of type (SOCK_STREAM, SOCK_DGRAM) with an afd on each
 * end: a on sv[0], b on sv[1]. spair_close closes both afds (again, if the test
 * closed one already: a no-op) and both fds. */
struct spair {
    int sv[2];
    struct sn_afd a, b;
};

static int spair_open(struct spair *p, int type)
{
    if (socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p->sv) < 0)
        return -errno;
    sn_afd_init(&p->a, p->sv[0]);
    sn_afd_init(&p->b, p->sv[1]);
    return 0;
}

static void spair_close(struct spair *p)
{
    sn_afd_close(&p->a);
    sn_afd_close(&p->b);
    close(p->sv[0]);
    close(p->sv[1]);
}

/* A listening TCP socket on 127.0.0.1, port chosen by the kernel. */
static int tcp_listener(struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(*sa);
    if (bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)sa, &len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int tcp_socket(void)
{
    return socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

/* In the hand-written task futures below (poll functions with a cx): poll fut and
 * return SN_PENDING from the task while it is pending. */
#define AWAIT(fut)                                                                       \
    do {                                                                                 \
        if (sn_poll((fut), cx) == SN_PENDING)                                            \
            return SN_PENDING;                                                           \
    } while (0)

/* A future for the combinator tests: ready (out = val) at its ready_at-th poll
 * (0: never); counts its polls and drops; asks to be polled again while pending
 * when spin is set. */
struct probe {
    struct sn_future base;
    int ready_at, polls, drops, spin;
    int64_t val;
};
static int probe_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct probe *p = (struct probe *)f;
    p->polls++;
    if (p->ready_at && p->polls >= p->ready_at) {
        f->out = p->val;
        return SN_READY;
    }
    if (p->spin)
        sn_waker_wake_by_ref(&cx->waker);
    return SN_PENDING;
}
static void probe_drop(struct sn_future *f)
{
    ((struct probe *)f)->drops++;
}
static const struct sn_future_vt probe_vt = {probe_poll, probe_drop, "probe"};
static void probe_init(struct probe *p, int ready_at, int64_t val, int spin)
{
    memset(p, 0, sizeof(*p));
    p->base.vt = &probe_vt;
    p->ready_at = ready_at;
    p->val = val;
    p->spin = spin;
}

/* ======================================================================
 * readiness futures
 * ====================================================================== */

/* A read that has to wait is woken by the loop's io callback (the waker fired
 * through the loop), then reads what the write future wrote; EOF reads 0. */
REACTOR_TEST(afd_read_write_socketpair)
{
    struct spair sp;
    CHECK_EQ(spair_open(&sp, SOCK_STREAM), 0);

    char buf[64] = {0};
    struct sn_read_fut rd;
    sn_read_init(&rd, &sp.a, buf, sizeof(buf));
    CHECK_EQ(sn_poll(&rd.base, &h->cx), SN_PENDING); /* nothing yet: EAGAIN, waker stored */
    CHECK_EQ(refs(h), 1);
    CHECK_EQ(wakes(h), 0);

    struct sn_write_fut wr;
    sn_write_init(&wr, &sp.b, "hello", 5, 0);
    CHECK_EQ(sn_poll(&wr.base, &h->cx), SN_READY); /* room in the buffer: written at once */
    CHECK_EQ(wr.base.out, 5);

    int w0 = wakes(h);
    for (int i = 0; i < 100 && wakes(h) == w0; i++)
        sn_loop_run(l, SN_RUN_ONCE);
    CHECK(wakes(h) > w0); /* the io callback woke the reader */
    CHECK_EQ(sn_poll(&rd.base, &h->cx), SN_READY);
    CHECK_EQ(rd.base.out, 5);
    CHECK_MEM(buf, "hello", 5);

    /* A second read waits again, and sees EOF when the peer shuts down. */
    sn_read_init(&rd, &sp.a, buf, sizeof(buf));
    CHECK_EQ(sn_poll(&rd.base, &h->cx), SN_PENDING);
    CHECK_EQ(shutdown(sp.sv[1], SHUT_WR), 0);
    CHECK(drive(h, &rd.base));
    CHECK_EQ(rd.base.out, 0);

    spair_close(&sp);
}

/* write_all of 4 MB through a socketpair whose buffer is far smaller: the write
 * waits for room (EAGAIN, then a writable edge) many times; the reader side drains
 * with plain reads. Every byte arrives, in order. */
REACTOR_TEST(afd_write_all_backpressure)
{
    struct spair sp;
    CHECK_EQ(spair_open(&sp, SOCK_STREAM), 0);
    size_t n = 4u << 20;
    unsigned char *src = malloc(n), *dst = malloc(n);
    CHECK(src && dst);
    for (size_t i = 0; i < n; i++)
        src[i] = (unsigned char)(i * 131 + (i >> 11));
    struct sn_write_fut wr;
    sn_write_init(&wr, &sp.b, src, n, 1);
    size_t got = 0;
    int pendings = 0;
    uint64_t end = sn_now_ns() + 8 * SN_SEC;
    for (;;) {
        int r = sn_poll(&wr.base, &h->cx);
        if (r == SN_READY)
            break;
        pendings++;
        ssize_t k;
        while ((k = read(sp.sv[0], dst + got, n - got)) > 0)
            got += (size_t)k;
        sn_loop_run(l, SN_RUN_NOWAIT);
        CHECK(sn_now_ns() < end);
    }
    CHECK_EQ(wr.base.out, (int64_t)n);
    CHECK(pendings > 0);
    while (got < n) {
        ssize_t k = read(sp.sv[0], dst + got, n - got);
        CHECK(k > 0);
        got += (size_t)k;
    }
    CHECK(memcmp(src, dst, n) == 0);
    free(src);
    free(dst);
    spair_close(&sp);
}

/* accept and connect on loopback TCP, together in a join_all; then data both ways
 * through the accepted socket. */
REACTOR_TEST(afd_accept_connect_tcp)
{
    struct sockaddr_in sa;
    int lfd = tcp_listener(&sa);
    CHECK(lfd >= 0);
    int cfd = tcp_socket();
    CHECK(cfd >= 0);
    struct sn_afd la, ca;
    sn_afd_init(&la, lfd);
    sn_afd_init(&ca, cfd);
    struct sn_accept_fut ac;
    sn_accept_init(&ac, &la, SOCK_CLOEXEC);
    struct sn_connect_fut co;
    sn_connect_init(&co, &ca, (struct sockaddr *)&sa, sizeof(sa));
    CHECK(drive_both(h, &ac.base, &co.base));
    CHECK_EQ(co.base.out, 0);
    CHECK(ac.base.out >= 0);
    int sfd = (int)ac.base.out;
    CHECK(fcntl(sfd, F_GETFL) & O_NONBLOCK);

    struct sn_afd sa_;
    sn_afd_init(&sa_, sfd);
    char buf[32];
    struct sn_read_fut rd;
    sn_read_init(&rd, &sa_, buf, sizeof(buf));
    struct sn_write_fut wr;
    sn_write_init(&wr, &ca, "ping", 4, 1);
    CHECK(drive_both(h, &rd.base, &wr.base));
    CHECK_EQ(rd.base.out, 4);
    CHECK_MEM(buf, "ping", 4);
    CHECK_EQ(wr.base.out, 4);

    sn_read_init(&rd, &ca, buf, sizeof(buf));
    sn_write_init(&wr, &sa_, "pong!", 5, 0);
    CHECK(drive_both(h, &rd.base, &wr.base));
    CHECK_EQ(rd.base.out, 5);
    CHECK_MEM(buf, "pong!", 5);

    sn_afd_close(&sa_);
    sn_afd_close(&ca);
    sn_afd_close(&la);
    close(sfd);
    close(cfd);
    close(lfd);
}

/* A connect to a port nobody listens on fails with -ECONNREFUSED (through the
 * writable edge and SO_ERROR). */
REACTOR_TEST(afd_connect_refused)
{
    struct sockaddr_in sa;
    int lfd = tcp_listener(&sa);
    CHECK(lfd >= 0);
    close(lfd); /* the port is now closed */
    int cfd = tcp_socket();
    struct sn_afd ca;
    sn_afd_init(&ca, cfd);
    struct sn_connect_fut co;
    sn_connect_init(&co, &ca, (struct sockaddr *)&sa, sizeof(sa));
    CHECK(drive(h, &co.base));
    CHECK_EQ(co.base.out, -ECONNREFUSED);
    sn_afd_close(&ca);
    close(cfd);
}

/* A short read (0 < n < len) of a byte stream drained it, so the read future clears
 * the read readiness at once instead of learning it from an EAGAIN. On a stream
 * socketpair and on a pipe: the next read waits, and data that arrives later
 * wakes it (no lost wake); data and EOF that arrived together (the hang-up edge
 * already reported) give the data, then EOF without a new edge. */
REACTOR_TEST(afd_short_read_stream)
{
    for (int kind = 0; kind < 2; kind++) {
        int sv[2];
        if (kind == 0)
            CHECK_EQ(nb_socketpair(sv), 0);
        else
            CHECK_EQ(pipe2(sv, O_NONBLOCK | O_CLOEXEC), 0);
        int rfd = sv[0], wfd = sv[1];
        struct sn_afd a;
        sn_afd_init(&a, rfd);
        char buf[64];
        CHECK_EQ(write(wfd, "abc", 3), 3);
        struct sn_read_fut rd;
        sn_read_init(&rd, &a, buf, sizeof(buf));
        CHECK_EQ(sn_poll(&rd.base, &h->cx), SN_READY); /* optimistic: read at once */
        CHECK_EQ(rd.base.out, 3);
        CHECK(!(a.ready & SN_READ)); /* short: drained, readiness gone */
        sn_read_init(&rd, &a, buf, sizeof(buf));
        CHECK_EQ(sn_poll(&rd.base, &h->cx), SN_PENDING);
        for (int i = 0; i < 3; i++)
            sn_loop_run(l, SN_RUN_NOWAIT); /* the registration's own events come and go */
        CHECK_EQ(write(wfd, "defg", 4), 4);
        CHECK(drive(h, &rd.base)); /* the new edge wakes it */
        CHECK_EQ(rd.base.out, 4);
        CHECK_MEM(buf, "defg", 4);

        /* data and EOF together, the edge delivered before the read */
        sn_read_init(&rd, &a, buf, sizeof(buf));
        CHECK_EQ(sn_poll(&rd.base, &h->cx), SN_PENDING);
        CHECK_EQ(write(wfd, "xyz", 3), 3);
        if (kind == 0)
            CHECK_EQ(shutdown(wfd, SHUT_WR), 0);
        else
            close(wfd);
        CHECK(drive(h, &rd.base));
        CHECK_EQ(rd.base.out, 3);
        for (int i = 0; i < 3; i++)
            sn_loop_run(l, SN_RUN_NOWAIT); /* nothing new comes: no edge to wait for */
        sn_read_init(&rd, &a, buf, sizeof(buf));
        CHECK(drive_until(h, &rd.base, 2 * SN_SEC)); /* EOF, without a new edge */
        CHECK_EQ(rd.base.out, 0);
        sn_afd_close(&a);
        close(rfd);
        if (kind == 0)
            close(wfd);
    }
}

/* A datagram socket: a short read is one message, not an empty socket, so the
 * readiness stays — two queued datagrams are read one after the other without
 * waiting for a new edge (the loop does not run between the polls). */
REACTOR_TEST(afd_short_read_dgram)
{
    struct spair sp;
    CHECK_EQ(spair_open(&sp, SOCK_DGRAM), 0);
    char buf[64];
    struct sn_read_fut rd;
    sn_read_init(&rd, &sp.a, buf, sizeof(buf));
    CHECK_EQ(sn_poll(&rd.base, &h->cx), SN_PENDING); /* registered, nothing yet */
    CHECK_EQ(send(sp.sv[1], "one", 3, 0), 3);
    CHECK_EQ(send(sp.sv[1], "three", 5, 0), 5);
    CHECK(drive(h, &rd.base));
    CHECK_EQ(rd.base.out, 3);
    CHECK_MEM(buf, "one", 3);
    sn_read_init(&rd, &sp.a, buf, sizeof(buf));
    CHECK_EQ(sn_poll(&rd.base, &h->cx), SN_READY); /* no edge needed */
    CHECK_EQ(rd.base.out, 5);
    CHECK_MEM(buf, "three", 5);
    spair_close(&sp);
}

/* Dropping a pending read: nothing was consumed (the next read gets every byte);
 * after sn_afd_close no callback comes and no waker is left behind. A task blocked
 * on an afd that is closed is woken and sees -EBADF. */
REACTOR_TEST(afd_drop_pending_read)
{
    struct spair sp;
    CHECK_EQ(spair_open(&sp, SOCK_STREAM), 0);
    char buf[16];
    struct sn_read_fut rd;
    sn_read_init(&rd, &sp.a, buf, sizeof(buf));
    CHECK_EQ(sn_poll(&rd.base, &h->cx), SN_PENDING);
    sn_drop(&rd.base); /* cancel-safe: nothing was read */
    CHECK_EQ(write(sp.sv[1], "abc", 3), 3);
    for (int i = 0; i < 5; i++)
        sn_loop_run(l, SN_RUN_NOWAIT);
    sn_read_init(&rd, &sp.a, buf, sizeof(buf));
    CHECK(drive(h, &rd.base));
    CHECK_EQ(rd.base.out, 3); /* nothing lost */

    /* Wait again, close the afd under the waiting read: woken, -EBADF. */
    sn_read_init(&rd, &sp.a, buf, sizeof(buf));
    CHECK_EQ(sn_poll(&rd.base, &h->cx), SN_PENDING);
    int w0 = wakes(h);
    sn_afd_close(&sp.a);
    CHECK(wakes(h) > w0);
    CHECK_EQ(sn_poll(&rd.base, &h->cx), SN_READY);
    CHECK_EQ(rd.base.out, -EBADF);
    CHECK_EQ(refs(h), 0);
    /* No callback after close: data arriving now wakes nobody. */
    w0 = wakes(h);
    CHECK_EQ(write(sp.sv[1], "xyz", 3), 3);
    for (int i = 0; i < 5; i++)
        sn_loop_run(l, SN_RUN_NOWAIT);
    CHECK_EQ(wakes(h), w0);
    spair_close(&sp);
}

/* A pipe is not a socket: the write future falls back to write(2). A write to a
 * socket whose peer is gone is -EPIPE, not SIGPIPE. */
REACTOR_TEST(afd_pipe_and_epipe)
{
    int p[2];
    CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    struct sn_afd r, w;
    sn_afd_init(&r, p[0]);
    sn_afd_init(&w, p[1]);
    char buf[8];
    struct sn_read_fut rd;
    sn_read_init(&rd, &r, buf, sizeof(buf));
    struct sn_write_fut wr;
    sn_write_init(&wr, &w, "pipe", 4, 1);
    CHECK(drive_both(h, &rd.base, &wr.base));
    CHECK_EQ(rd.base.out, 4);
    CHECK_EQ(wr.base.out, 4);
    sn_afd_close(&r);
    sn_afd_close(&w);
    close(p[0]);
    close(p[1]);

    int sv[2];
    CHECK_EQ(nb_socketpair(sv), 0);
    close(sv[0]);
    struct sn_afd s;
    sn_afd_init(&s, sv[1]);
    sn_write_init(&wr, &s, "x", 1, 0);
    CHECK(drive(h, &wr.base));
    CHECK_EQ(wr.base.out, -EPIPE);
    sn_afd_close(&s);
    close(sv[1]);
}

/* A UDP socket connected to a closed port: the ICMP error makes the socket
 * report SN_ERR and one read return -ECONNREFUSED; after that the error is gone,
 * the next read sees EAGAIN and must wait (not spin on a stale SN_ERR). */
REACTOR_TEST(afd_udp_error_then_wait)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int tmp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    socklen_t len = sizeof(sa);
    CHECK_EQ(bind(tmp, (struct sockaddr *)&sa, sizeof(sa)), 0);
    CHECK_EQ(getsockname(tmp, (struct sockaddr *)&sa, &len), 0);
    close(tmp); /* nobody listens on sa now */
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    CHECK_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct sn_afd a;
    sn_afd_init(&a, fd);
    char buf[8];
    struct sn_read_fut rd;
    sn_read_init(&rd, &a, buf, sizeof(buf));
    CHECK_EQ(sn_poll(&rd.base, &h->cx), SN_PENDING);
    CHECK_EQ(send(fd, "x", 1, 0), 1); /* answered by ICMP port unreachable */
    CHECK(drive(h, &rd.base));
    CHECK_EQ(rd.base.out, -ECONNREFUSED);
    sn_read_init(&rd, &a, buf, sizeof(buf));
    int w0 = wakes(h);
    CHECK_EQ(sn_poll(&rd.base, &h->cx), SN_PENDING);
    CHECK(!drive_until(h, &rd.base, 30 * SN_MS)); /* nothing comes: still waiting */
    CHECK(wakes(h) - w0 < 5);                      /* and not woken in a loop */
    sn_afd_close(&a);
    close(fd);
}

/* An afd belongs to the loop of its first poll: a poll from another loop (another
 * worker) is refused with -EXDEV instead of touching two loops. */
REACTOR_TEST(afd_other_loop_exdev)
{
    struct sn_loop *l2;
    CHECK_EQ(open_loop(&l2, 0), 0);
    struct hand h2;
    hand_init(&h2, l2);
    struct spair sp;
    CHECK_EQ(spair_open(&sp, SOCK_STREAM), 0);
    CHECK_EQ(sn_afd_poll(&sp.a, &h->cx, SN_WRITE), SN_READY);
    CHECK_EQ(sn_afd_poll(&sp.a, &h2.cx, SN_READ), -EXDEV);
    sn_afd_close(&sp.a);
    CHECK_EQ(sn_afd_poll(&sp.a, &h->cx, SN_READ), -EBADF);
    spair_close(&sp);
    CHECK_EQ(sn_loop_close(l2), 0);
}

/* ======================================================================
 * completion futures (sn_op)
 * ====================================================================== */

REACTOR_TEST(op_send_recv_socketpair)
{
    int sv[2];
    CHECK_EQ(nb_socketpair(sv), 0);
    char buf[32] = {0};
    struct sn_op_fut rv, sd;
    sn_op_recv_init(&rv, sv[0], buf, sizeof(buf));
    CHECK_EQ(sn_poll(&rv.base, &h->cx), SN_PENDING);
    sn_op_send_init(&sd, sv[1], "completion", 10);
    CHECK(drive_both(h, &rv.base, &sd.base));
    CHECK_EQ(sd.base.out, 10);
    CHECK_EQ(rv.base.out, 10);
    CHECK_MEM(buf, "completion", 10);
    CHECK(wakes(h) > 0);
    close(sv[0]);
    close(sv[1]);
}

REACTOR_TEST(op_accept_connect_tcp)
{
    struct sockaddr_in sa;
    int lfd = tcp_listener(&sa);
    CHECK(lfd >= 0);
    int cfd = tcp_socket();
    struct sn_op_fut ac, co;
    sn_op_accept_init(&ac, lfd);
    sn_op_connect_init(&co, cfd, (struct sockaddr *)&sa, sizeof(sa));
    CHECK(drive_both(h, &ac.base, &co.base));
    CHECK_EQ(co.base.out, 0);
    CHECK(ac.base.out >= 0);
    int sfd = (int)ac.base.out;

    char buf[16];
    struct sn_op_fut rv, sd;
    sn_op_recv_init(&rv, sfd, buf, sizeof(buf));
    sn_op_send_init(&sd, cfd, "tcp!", 4);
    CHECK(drive_both(h, &rv.base, &sd.base));
    CHECK_EQ(rv.base.out, 4);
    CHECK_MEM(buf, "tcp!", 4);
    close(sfd);
    close(cfd);
    close(lfd);
}

/* Drop an op future while its operation is in flight: the waker is released at
 * once, the op stays active in the loop (its buffer still the kernel's) until the
 * cancel's completion, whose callback frees the state (ASan: no leak, no use after
 * free); the data that comes later is not consumed by the cancelled recv. Same
 * for an accept. */
REACTOR_TEST(op_drop_in_flight)
{
    int sv[2];
    CHECK_EQ(nb_socketpair(sv), 0);
    static char buf[16];
    struct sn_op_fut rv;
    sn_op_recv_init(&rv, sv[0], buf, sizeof(buf));
    CHECK_EQ(sn_poll(&rv.base, &h->cx), SN_PENDING);
    sn_loop_run(l, SN_RUN_NOWAIT); /* on io_uring: the recv reaches the kernel */
    CHECK(sn_loop_alive(l) > 0);
    sn_drop(&rv.base);
    CHECK_EQ(refs(h), 0);
    CHECK(sn_loop_alive(l) > 0); /* the cancel's completion has not run yet */
    CHECK(settle(l));           /* ...and now it has, freeing the state */
    CHECK_EQ(write(sv[1], "late", 4), 4);
    char got[8];
    CHECK_EQ(read(sv[0], got, sizeof(got)), 4); /* still in the socket */

    struct sockaddr_in sa;
    int lfd = tcp_listener(&sa);
    CHECK(lfd >= 0);
    struct sn_op_fut ac;
    sn_op_accept_init(&ac, lfd);
    CHECK_EQ(sn_poll(&ac.base, &h->cx), SN_PENDING);
    sn_loop_run(l, SN_RUN_NOWAIT);
    sn_drop(&ac.base);
    CHECK(settle(l));
    /* Dropped before it was ever polled: nothing to do. */
    sn_op_recv_init(&rv, sv[0], buf, sizeof(buf));
    sn_drop(&rv.base);
    close(lfd);
    close(sv[0]);
    close(sv[1]);
    CHECK_EQ(sn_loop_alive(l), 0); /* nothing left for the fixture to settle */
}

/* Dropped after the completion ran but before the poll that would collect it:
 * the state is freed by the drop, and an accepted fd is closed. */
REACTOR_TEST(op_drop_completed_uncollected)
{
    struct sockaddr_in sa;
    int lfd = tcp_listener(&sa);
    CHECK(lfd >= 0);
    int cfd = tcp_socket();
    (void)connect(cfd, (struct sockaddr *)&sa, sizeof(sa));
    struct sn_op_fut ac;
    sn_op_accept_init(&ac, lfd);
    CHECK_EQ(sn_poll(&ac.base, &h->cx), SN_PENDING);
    CHECK(settle(l)); /* the accept completes: its callback woke us */
    CHECK(wakes(h) > 0);
    sn_drop(&ac.base);
    /* The accepted socket was closed by the drop: the client sees EOF or a reset. */
    char c;
    uint64_t end = sn_now_ns() + 5 * SN_SEC;
    ssize_t k;
    while ((k = read(cfd, &c, 1)) < 0 && errno == EAGAIN && sn_now_ns() < end)
        sched_yield();
    CHECK(k == 0 || (k < 0 && errno == ECONNRESET));
    close(cfd);
    close(lfd);
    CHECK_EQ(sn_loop_alive(l), 0); /* nothing left for the fixture to settle */
}

/* ======================================================================
 * time
 * ====================================================================== */

REACTOR_TEST(sleep_never_early)
{
    /* The loop's cached clock is stale on purpose: sleep must count from the real
     * time of its first poll, not from the loop's last iteration. */
    sn_loop_run(l, SN_RUN_NOWAIT);
    struct timespec ts = {0, 30 * 1000 * 1000};
    nanosleep(&ts, NULL);
    static const uint64_t ns[] = {1, 1000, 3 * SN_MS, 20 * SN_MS};
    for (size_t i = 0; i < SN_COUNTOF(ns); i++) {
        struct sn_sleep_fut s;
        sn_sleep_init(&s, ns[i]);
        uint64_t t0 = sn_now_ns();
        CHECK_EQ(sn_poll(&s.base, &h->cx), SN_PENDING); /* even 1 ns: armed, not early */
        CHECK(drive(h, &s.base));
        uint64_t t1 = sn_now_ns();
        CHECK(t1 - t0 >= ns[i]);
        CHECK(t1 - t0 < ns[i] + 2 * SN_SEC); /* generous: a loaded 2-CPU box */
        CHECK_EQ(s.base.out, 0);
        sn_drop(&s.base);
    }
    /* 0 ns: ready at the first poll, no timer. */
    struct sn_sleep_fut z;
    sn_sleep_init(&z, 0);
    CHECK_EQ(sn_poll(&z.base, &h->cx), SN_READY);
    CHECK_EQ(sn_loop_alive(l), 0);
    sn_drop(&z.base);
}

/* Two sleeps of the same length polled one after the other: the first polled has
 * the earlier (or equal) deadline, so a select over them picks index 0, and the
 * loser's timer is stopped. A sleep dropped while armed stops its timer. */
REACTOR_TEST(sleep_equal_deadlines_and_drop)
{
    for (int round = 0; round < 5; round++) {
        struct sn_sleep_fut a, b;
        sn_sleep_init(&a, 2 * SN_MS);
        sn_sleep_init(&b, 2 * SN_MS);
        struct sn_future *fs[] = {&a.base, &b.base};
        struct sn_select_fut s;
        CHECK_EQ(sn_select_init(&s, fs, 2), 0);
        CHECK(drive(h, &s.base));
        CHECK_EQ(s.winner, 0);
        CHECK_EQ(s.base.out, 0);
        CHECK_EQ(sn_loop_alive(l), 0); /* b's timer stopped at the win */
        sn_drop(&s.base);
    }
    struct sn_sleep_fut c;
    sn_sleep_init(&c, 10 * SN_SEC);
    CHECK_EQ(sn_poll(&c.base, &h->cx), SN_PENDING);
    CHECK_EQ(sn_loop_alive(l), 1);
    sn_drop(&c.base);
    CHECK_EQ(sn_loop_alive(l), 0);
}

/* timeout: fires (-ETIMEDOUT, not early, inner dropped: its timer gone), does not
 * fire (inner's result), 0 ns around a ready inner (inner's result: polled first),
 * 0 ns around a pending inner (-ETIMEDOUT at once), and the exact edge: inner a
 * sleep of the same length as the timeout gives inner's result. */
REACTOR_TEST(timeout_edges)
{

    struct sn_sleep_fut in;
    struct sn_timeout_fut to;
    sn_sleep_init(&in, 60 * SN_SEC);
    sn_timeout_init(&to, &in.base, 20 * SN_MS);
    uint64_t t0 = sn_now_ns();
    CHECK(drive(h, &to.base));
    CHECK(sn_now_ns() - t0 >= 20 * SN_MS);
    CHECK_EQ(to.base.out, -ETIMEDOUT);
    CHECK_EQ(sn_loop_alive(l), 0); /* inner (a 60 s timer) dropped */
    sn_drop(&to.base);

    sn_sleep_init(&in, 5 * SN_MS);
    sn_timeout_init(&to, &in.base, 30 * SN_SEC);
    CHECK(drive(h, &to.base));
    CHECK_EQ(to.base.out, 0);
    CHECK_EQ(sn_loop_alive(l), 0); /* the timeout's own timer stopped */
    sn_drop(&to.base);

    struct probe p;
    probe_init(&p, 1, 77, 0);
    sn_timeout_init(&to, &p.base, 0);
    CHECK_EQ(sn_poll(&to.base, &h->cx), SN_READY);
    CHECK_EQ(to.base.out, 77);
    CHECK_EQ(p.drops, 0);
    sn_drop(&to.base);
    CHECK_EQ(p.drops, 1);

    probe_init(&p, 0, 0, 0);
    sn_timeout_init(&to, &p.base, 0);
    CHECK_EQ(sn_poll(&to.base, &h->cx), SN_READY);
    CHECK_EQ(to.base.out, -ETIMEDOUT);
    CHECK_EQ(p.drops, 1); /* dropped when the time was up */
    sn_drop(&to.base);
    CHECK_EQ(p.drops, 1); /* exactly once */

    for (int i = 0; i < 5; i++) {
        sn_sleep_init(&in, 3 * SN_MS);
        sn_timeout_init(&to, &in.base, 3 * SN_MS);
        CHECK(drive(h, &to.base));
        CHECK_EQ(to.base.out, 0);
        sn_drop(&to.base);
    }
    CHECK_EQ(sn_loop_alive(l), 0);
}

/* A timeout around a read: fires while nothing comes; with data, the read wins. */
REACTOR_TEST(timeout_read)
{
    struct spair sp;
    CHECK_EQ(spair_open(&sp, SOCK_STREAM), 0);
    char buf[8];
    struct sn_read_fut rd;
    struct sn_timeout_fut to;
    sn_read_init(&rd, &sp.a, buf, sizeof(buf));
    sn_timeout_init(&to, &rd.base, 10 * SN_MS);
    CHECK(drive(h, &to.base));
    CHECK_EQ(to.base.out, -ETIMEDOUT);
    sn_drop(&to.base);
    CHECK_EQ(write(sp.sv[1], "ok", 2), 2);
    sn_read_init(&rd, &sp.a, buf, sizeof(buf));
    sn_timeout_init(&to, &rd.base, 10 * SN_SEC);
    CHECK(drive(h, &to.base));
    CHECK_EQ(to.base.out, 2);
    sn_drop(&to.base);
    spair_close(&sp);
}

/* ======================================================================
 * combinators
 * ====================================================================== */

SN_TEST(select_winner_losers_dropped)
{
    struct hand h;
    hand_init(&h, NULL);
    struct probe a, b, c;
    probe_init(&a, 0, 1, 0);     /* never */
    probe_init(&b, 3, 22, 1);    /* third poll */
    probe_init(&c, 5, 33, 1);    /* fifth: loses */
    struct sn_future *fs[] = {&a.base, &b.base, &c.base};
    struct sn_select_fut s;
    CHECK_EQ(sn_select_init(&s, fs, 3), 0);
    CHECK(drive(&h, &s.base));
    CHECK_EQ(s.winner, 1);
    CHECK_EQ(s.base.out, 22);
    CHECK_EQ(a.drops, 1); /* losers dropped at the win */
    CHECK_EQ(c.drops, 1);
    CHECK_EQ(b.drops, 0); /* the winner with the select */
    CHECK_EQ(b.polls, 3);
    sn_drop(&s.base);
    CHECK_EQ(a.drops, 1);
    CHECK_EQ(b.drops, 1);
    CHECK_EQ(c.drops, 1);

    /* Both ready at once: the lower index wins. Dropped before any winner: all
     * dropped once. Bad sizes: -EINVAL. */
    probe_init(&a, 1, 10, 0);
    probe_init(&b, 1, 20, 0);
    struct sn_future *fs2[] = {&b.base, &a.base};
    CHECK_EQ(sn_select_init(&s, fs2, 2), 0);
    CHECK_EQ(sn_poll(&s.base, &h.cx), SN_READY);
    CHECK_EQ(s.winner, 0);
    CHECK_EQ(s.base.out, 20);
    CHECK_EQ(a.polls, 0);
    sn_drop(&s.base);
    probe_init(&a, 0, 0, 0);
    probe_init(&b, 0, 0, 0);
    CHECK_EQ(sn_select_init(&s, fs2, 2), 0);
    CHECK_EQ(sn_poll(&s.base, &h.cx), SN_PENDING);
    sn_drop(&s.base);
    CHECK_EQ(a.drops, 1);
    CHECK_EQ(b.drops, 1);
    CHECK_EQ(sn_select_init(&s, fs2, 0), -EINVAL);
    CHECK_EQ(sn_select_init(&s, fs2, SN_COMB_MAX + 1), -EINVAL);
    CHECK_EQ(refs(&h), 0);
}

SN_TEST(join_all_results)
{
    struct hand h;
    hand_init(&h, NULL);
    struct probe p[SN_COMB_MAX];
    struct sn_future *fs[SN_COMB_MAX];
    for (int i = 0; i < SN_COMB_MAX; i++) {
        probe_init(&p[i], 1 + (i * 7) % 5, 100 + i, 1);
        fs[i] = &p[i].base;
    }
    struct sn_join_all_fut j;
    CHECK_EQ(sn_join_all_init(&j, fs, SN_COMB_MAX), 0);
    CHECK(drive(&h, &j.base));
    CHECK_EQ(j.base.out, 0);
    for (int i = 0; i < SN_COMB_MAX; i++) {
        CHECK_EQ(p[i].base.out, 100 + i);
        CHECK_EQ(p[i].polls, 1 + (i * 7) % 5); /* not polled again once ready */
        CHECK_EQ(p[i].drops, 0);
    }
    sn_drop(&j.base);
    for (int i = 0; i < SN_COMB_MAX; i++)
        CHECK_EQ(p[i].drops, 1);
    CHECK_EQ(sn_join_all_init(&j, fs, 0), -EINVAL);
    CHECK_EQ(refs(&h), 0);
}

/* A select between a read that never completes and a sleep, on the loop. */
REACTOR_TEST(select_read_vs_sleep)
{
    struct spair sp;
    CHECK_EQ(spair_open(&sp, SOCK_STREAM), 0);
    char buf[8];
    struct sn_read_fut rd;
    sn_read_init(&rd, &sp.a, buf, sizeof(buf));
    struct sn_sleep_fut s;
    sn_sleep_init(&s, 5 * SN_MS);
    struct sn_future *fs[] = {&rd.base, &s.base};
    struct sn_select_fut sel;
    CHECK_EQ(sn_select_init(&sel, fs, 2), 0);
    CHECK(drive(h, &sel.base));
    CHECK_EQ(sel.winner, 1);
    sn_drop(&sel.base);
    spair_close(&sp);
}

/* ======================================================================
 * the blocking pool
 * ====================================================================== */

static int64_t add_one(void *arg)
{
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return *(int64_t *)arg + 1;
}

struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open, entered, ran;
};
static int64_t gated(void *arg)
{
    struct gate *g = arg;
    pthread_mutex_lock(&g->mu);
    g->entered++;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    g->ran++;
    pthread_mutex_unlock(&g->mu);
    return 5;
}
static int64_t counted(void *arg)
{
    struct gate *g = arg;
    pthread_mutex_lock(&g->mu);
    g->ran += 100;
    pthread_mutex_unlock(&g->mu);
    return 6;
}

REACTOR_TEST_POOL(blocking_result, 2)
{
    int64_t args[4] = {41, 1, 2, 3};
    struct sn_blocking_fut b[4];
    struct sn_future *fs[4];
    for (int i = 0; i < 4; i++) {
        sn_blocking_init(&b[i], add_one, &args[i]);
        fs[i] = &b[i].base;
    }
    struct sn_join_all_fut j;
    CHECK_EQ(sn_join_all_init(&j, fs, 4), 0);
    CHECK(drive(h, &j.base));
    sn_drop(&j.base);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(b[i].base.out, args[i] + 1);
}

/* One pool thread, held by a gated job: a second job dropped while queued never
 * runs; the first, dropped while running, runs to its end and its state is freed
 * by done() (ASan), the loop staying active until then. */
REACTOR_TEST_POOL(blocking_cancel, 1)
{
    struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
    struct sn_blocking_fut b1, b2;
    sn_blocking_init(&b1, gated, &g);
    sn_blocking_init(&b2, counted, &g);
    CHECK_EQ(sn_poll(&b1.base, &h->cx), SN_PENDING);
    pthread_mutex_lock(&g.mu);
    while (!g.entered)
        pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);
    CHECK_EQ(sn_poll(&b2.base, &h->cx), SN_PENDING); /* queued behind b1 */
    sn_drop(&b2.base);                               /* before start: cancelled */
    sn_drop(&b1.base);                               /* running: result discarded */
    CHECK_EQ(refs(h), 0);
    CHECK(sn_loop_alive(l) > 0);
    pthread_mutex_lock(&g.mu);
    g.open = 1;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    CHECK(settle(l));
    pthread_mutex_lock(&g.mu);
    int ran = g.ran;
    pthread_mutex_unlock(&g.mu);
    CHECK_EQ(ran, 1); /* b1 ran, b2 never did */
    CHECK_EQ(wakes(h), 0);
}

/* ======================================================================
 * inside the runtime (H1's executors): current-thread and 2 workers, on epoll
 * and io_uring
 * ====================================================================== */

/* The fixture of the rt_* tests: a runtime with workers (0: current-thread) on
 * backend, closed after the body, and then the fds the body left in after_close
 * (those that must outlive the runtime's close). */
static void on_rt(unsigned workers, int backend, unsigned budget,
                  void (*fn)(struct sn_rt *rt, unsigned workers, int after_close[2]))
{
    struct sn_rt *rt;
    struct sn_rt_opts o = {.workers = workers, .backend = backend, .budget = budget};
    int err = sn_rt_open(&rt, &o);
    if (backend_missing(err))
        SKIP("backend does not open here");
    CHECK_EQ(err, 0);
    int after_close[2] = {-1, -1};
    fn(rt, workers, after_close);
    if (sn_cur_failed)
        return;
    CHECK_EQ(sn_rt_close(rt), 0);
    for (int i = 0; i < 2; i++)
        if (after_close[i] >= 0)
            close(after_close[i]);
}

/* RT_TEST(x) { body using rt, workers, after_close } is x_current_epoll,
 * x_current_uring, x_2workers_epoll and x_2workers_uring. */
#define RT_TEST(name)                                                                    \
    static void name(struct sn_rt *rt, unsigned workers, int after_close[2]);            \
    SN_TEST(name##_current_epoll) { on_rt(0, SN_BACKEND_EPOLL, 0, name); }               \
    SN_TEST(name##_current_uring) { on_rt(0, SN_BACKEND_URING, 0, name); }               \
    SN_TEST(name##_2workers_epoll) { on_rt(2, SN_BACKEND_EPOLL, 0, name); }              \
    SN_TEST(name##_2workers_uring) { on_rt(2, SN_BACKEND_URING, 0, name); }              \
    static void name(struct sn_rt *rt, __attribute__((unused)) unsigned workers,          \
                     __attribute__((unused)) int after_close[2])

/* One task runs a script of reactor futures in a row: a read and a write-all in a
 * join_all over a socketpair, a sleep (never early), a timeout around a read that
 * never comes, a send and a recv op future, a blocking job, and a select of a read
 * against a sleep. out: 1 when every step checked out, else the step number. */
struct script {
    struct sn_future base;
    int st, fail, open;
    int sv[2], sv2[2];
    uint64_t t0;
    struct sn_afd a, b;
    char buf[16];
    int64_t arg;
    struct sn_read_fut rd;
    struct sn_write_fut wr;
    struct sn_join_all_fut j;
    struct sn_sleep_fut sl;
    struct sn_timeout_fut to;
    struct sn_select_fut sel;
    struct sn_op_fut orv, osd;
    struct sn_blocking_fut bl;
    struct sn_future *fs[2];
    struct sn_future *cur;      /* the step's future, run before the next step */
};

static void script_close(struct script *s)
{
    if (!s->open)
        return;
    s->open = 0;
    sn_afd_close(&s->a);
    sn_afd_close(&s->b);
    close(s->sv[0]);
    close(s->sv[1]);
    close(s->sv2[0]);
    close(s->sv2[1]);
}

/* Each step starts a future (cur); the next poll runs it to completion and drops
 * it, and the next step checks its result. */
static int script_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct script *s = (struct script *)f;
    for (;;) {
        if (s->cur) {
            AWAIT(s->cur);
            sn_drop(s->cur);
            s->cur = NULL;
        }
        switch (s->st) {
        case 0:
            if (nb_socketpair(s->sv) || nb_socketpair(s->sv2))
                goto fail;
            s->open = 1;
            sn_afd_init(&s->a, s->sv[0]);
            sn_afd_init(&s->b, s->sv[1]);
            sn_read_init(&s->rd, &s->a, s->buf, sizeof(s->buf));
            sn_write_init(&s->wr, &s->b, "script", 6, 1);
            s->fs[0] = &s->rd.base;
            s->fs[1] = &s->wr.base;
            sn_join_all_init(&s->j, s->fs, 2);
            s->cur = &s->j.base;
            break;
        case 1:
            if (s->rd.base.out != 6 || memcmp(s->buf, "script", 6) || s->wr.base.out != 6)
                goto fail;
            sn_sleep_init(&s->sl, 3 * SN_MS);
            s->t0 = sn_now_ns();
            s->cur = &s->sl.base;
            break;
        case 2:
            if (sn_now_ns() - s->t0 < 3 * SN_MS)
                goto fail;
            sn_read_init(&s->rd, &s->a, s->buf, sizeof(s->buf));
            sn_timeout_init(&s->to, &s->rd.base, 5 * SN_MS);
            s->cur = &s->to.base;
            break;
        case 3:
            if (s->to.base.out != -ETIMEDOUT)
                goto fail;
            sn_op_recv_init(&s->orv, s->sv2[0], s->buf, sizeof(s->buf));
            sn_op_send_init(&s->osd, s->sv2[1], "op", 2);
            s->fs[0] = &s->orv.base;
            s->fs[1] = &s->osd.base;
            sn_join_all_init(&s->j, s->fs, 2);
            s->cur = &s->j.base;
            break;
        case 4:
            if (s->orv.base.out != 2 || memcmp(s->buf, "op", 2) || s->osd.base.out != 2)
                goto fail;
            s->arg = 41;
            sn_blocking_init(&s->bl, add_one, &s->arg);
            s->cur = &s->bl.base;
            break;
        case 5:
            if (s->bl.base.out != 42)
                goto fail;
            sn_read_init(&s->rd, &s->a, s->buf, sizeof(s->buf));
            sn_sleep_init(&s->sl, 2 * SN_MS);
            s->fs[0] = &s->rd.base;
            s->fs[1] = &s->sl.base;
            sn_select_init(&s->sel, s->fs, 2);
            s->cur = &s->sel.base;
            break;
        case 6:
            if (s->sel.winner != 1)
                goto fail;
            script_close(s);
            f->out = 1;
            return SN_READY;
        }
        s->st++;
    }
fail:
    s->fail = s->st + 100;
    script_close(s);
    f->out = s->fail;
    return SN_READY;
}

static void script_drop(struct sn_future *f)
{
    script_close((struct script *)f);
}

static const struct sn_future_vt script_vt = {script_poll, script_drop, "script"};

static void script_init(struct script *s)
{
    memset(s, 0, sizeof(*s));
    s->base.vt = &script_vt;
}

RT_TEST(rt_script)
{
    for (int i = 0; i < 3; i++) {
        struct script s;
        script_init(&s);
        CHECK_EQ(sn_rt_block_on(rt, &s.base), 1);
        sn_drop(&s.base);
    }
    /* Several scripts at once, spawned: each pins to the worker of its first poll. */
    struct sn_task *t[4];
    for (int i = 0; i < 4; i++) {
        struct script s;
        script_init(&s);
        CHECK_EQ(sn_spawn(rt, &s.base, sizeof(s), &t[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        struct sn_join j;
        sn_join_init(&j, t[i]);
        CHECK_EQ(sn_rt_block_on(rt, &j.base), 1);
        sn_drop(&j.base);
    }
}

/* A TCP echo across two tasks: a spawned server (accept, read, write back) and a
 * client in block_on (connect, write, read) — with 2 workers, likely on different
 * workers, each afd registered with its own task's loop. */
struct server {
    struct sn_future base;
    int lfd, cfd, st;
    struct sn_afd la, ca;
    struct sn_accept_fut ac;
    struct sn_read_fut rd;
    struct sn_write_fut wr;
    char buf[64];
};
static int server_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct server *s = (struct server *)f;
    for (;;) {
        switch (s->st) {
        case 0: /* init here, not before spawn: the task's copy must hold the pointers */
            sn_afd_init(&s->la, s->lfd);
            sn_accept_init(&s->ac, &s->la, SOCK_CLOEXEC);
            s->st = 1;
            break;
        case 1:
            AWAIT(&s->ac.base);
            if (s->ac.base.out < 0)
                return f->out = s->ac.base.out, SN_READY;
            s->cfd = (int)s->ac.base.out;
            sn_afd_init(&s->ca, s->cfd);
            sn_read_init(&s->rd, &s->ca, s->buf, sizeof(s->buf));
            s->st = 2;
            break;
        case 2:
            AWAIT(&s->rd.base);
            if (s->rd.base.out <= 0)
                return f->out = -EPROTO, SN_READY;
            sn_write_init(&s->wr, &s->ca, s->buf, (size_t)s->rd.base.out, 1);
            s->st = 3;
            break;
        case 3:
            AWAIT(&s->wr.base);
            f->out = s->wr.base.out;
            s->st = 4;
            return SN_READY;
        default:
            return SN_READY;
        }
    }
}
static void server_drop(struct sn_future *f)
{
    struct server *s = (struct server *)f;
    if (s->st >= 1)
        sn_afd_close(&s->la);
    if (s->st >= 2) {
        sn_afd_close(&s->ca);
        close(s->cfd);
    }
}
static const struct sn_future_vt server_vt = {server_poll, server_drop, "server"};

struct client {
    struct sn_future base;
    int fd, st;
    struct sockaddr_in sa;
    struct sn_afd a;
    struct sn_connect_fut co;
    struct sn_write_fut wr;
    struct sn_read_fut rd;
    char buf[64];
};
static int client_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct client *c = (struct client *)f;
    for (;;) {
        switch (c->st) {
        case 0:
            sn_afd_init(&c->a, c->fd);
            sn_connect_init(&c->co, &c->a, (struct sockaddr *)&c->sa, sizeof(c->sa));
            c->st = 1;
            break;
        case 1:
            AWAIT(&c->co.base);
            if (c->co.base.out)
                return f->out = c->co.base.out, SN_READY;
            sn_write_init(&c->wr, &c->a, "echo me", 7, 1);
            c->st = 2;
            break;
        case 2:
            AWAIT(&c->wr.base);
            sn_read_init(&c->rd, &c->a, c->buf, sizeof(c->buf));
            c->st = 3;
            break;
        case 3:
            AWAIT(&c->rd.base);
            f->out = c->rd.base.out == 7 && !memcmp(c->buf, "echo me", 7) ? 1 : -EPROTO;
            /* Close here, on the worker whose loop holds the afd: block_on's caller
             * drops this future on its own thread, where loop objects are off-limits. */
            sn_afd_close(&c->a);
            c->st = 4;
            return SN_READY;
        default:
            return SN_READY;
        }
    }
}
static void client_drop(struct sn_future *f)
{
    struct client *c = (struct client *)f;
    if (c->st >= 1 && c->st < 4)
        sn_afd_close(&c->a);
}
static const struct sn_future_vt client_vt = {client_poll, client_drop, "client"};

RT_TEST(rt_tcp_echo)
{
    for (int round = 0; round < 5; round++) {
        struct server s;
        memset(&s, 0, sizeof(s));
        s.base.vt = &server_vt;
        s.lfd = tcp_listener(&(struct sockaddr_in){0});
        CHECK(s.lfd >= 0);
        struct client c;
        memset(&c, 0, sizeof(c));
        c.base.vt = &client_vt;
        socklen_t len = sizeof(c.sa);
        CHECK_EQ(getsockname(s.lfd, (struct sockaddr *)&c.sa, &len), 0);
        c.fd = tcp_socket();
        struct sn_task *t;
        CHECK_EQ(sn_spawn(rt, &s.base, sizeof(s), &t), 0);
        CHECK_EQ(sn_rt_block_on(rt, &c.base), 1);
        sn_drop(&c.base);
        struct sn_join j;
        sn_join_init(&j, t);
        CHECK_EQ(sn_rt_block_on(rt, &j.base), 7);
        sn_drop(&j.base);
        close(c.fd);
        close(s.lfd);
    }
}

/* Cooperative budget: with a budget of 4 per poll, a task that reads 200 bytes one
 * at a time from a socketpair that already holds them all must yield (the read
 * returns PENDING with the budget spent and is polled again), and still gets every
 * byte in order. */
struct many_reads {
    struct sn_future base;
    int fd, started, got, polls;
    struct sn_afd a;
    struct sn_read_fut rd;
    char c;
};
static int many_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct many_reads *m = (struct many_reads *)f;
    m->polls++;
    if (!m->started) {
        sn_afd_init(&m->a, m->fd);
        sn_read_init(&m->rd, &m->a, &m->c, 1);
        m->started = 1;
    }
    for (;;) {
        AWAIT(&m->rd.base);
        if (m->rd.base.out != 1 || m->c != (char)m->got)
            return f->out = -EPROTO, SN_READY;
        if (++m->got == 200) {
            sn_afd_close(&m->a);
            f->out = m->polls;
            return SN_READY;
        }
        sn_read_init(&m->rd, &m->a, &m->c, 1);
    }
}
static const struct sn_future_vt many_vt = {many_poll, NULL, "many_reads"};

static void rt_coop(struct sn_rt *rt, unsigned workers, int after_close[2])
{
    (void)workers;
    (void)after_close;
    int sv[2];
    CHECK_EQ(nb_socketpair(sv), 0);
    char data[200];
    for (int i = 0; i < 200; i++)
        data[i] = (char)i;
    CHECK_EQ(write(sv[1], data, sizeof(data)), 200);
    struct many_reads m;
    memset(&m, 0, sizeof(m));
    m.base.vt = &many_vt;
    m.fd = sv[0];
    int64_t polls = sn_rt_block_on(rt, &m.base);
    CHECK(polls >= 200 / 4); /* yielded every 4 reads (at least) */
    close(sv[0]);
    close(sv[1]);
}

SN_TEST(rt_coop_budget_current) { on_rt(0, SN_BACKEND_EPOLL, 4, rt_coop); }
SN_TEST(rt_coop_budget_2workers) { on_rt(2, SN_BACKEND_EPOLL, 4, rt_coop); }

/* A task aborted while its op future is in flight (io_uring: in the kernel): its
 * drop cancels the op, and sn_rt_close runs the loop until the completion frees the
 * state (ASan: no leak). Likewise a pending blocking job and a pending sleep. */
struct stuck {
    struct sn_future base;
    int fd;
    int started;
    char buf[8];
    struct sn_op_fut op;
    struct sn_sleep_fut sl;
    struct sn_future *fs[2];
    struct sn_join_all_fut j;
    _Atomic int *polled;
};
static int stuck_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct stuck *s = (struct stuck *)f;
    if (!s->started) {
        sn_op_recv_init(&s->op, s->fd, s->buf, sizeof(s->buf));
        sn_sleep_init(&s->sl, 60 * SN_SEC);
        s->fs[0] = &s->op.base;
        s->fs[1] = &s->sl.base;
        sn_join_all_init(&s->j, s->fs, 2);
        s->started = 1;
    }
    int r = sn_poll(&s->j.base, cx);
    atomic_store(s->polled, 1);
    return r == SN_READY ? (f->out = 0, SN_READY) : SN_PENDING;
}
static void stuck_drop(struct sn_future *f)
{
    struct stuck *s = (struct stuck *)f;
    if (s->started)
        sn_drop(&s->j.base);
    atomic_store(s->polled, 2);
}
static const struct sn_future_vt stuck_vt = {stuck_poll, stuck_drop, "stuck"};

RT_TEST(rt_abort_inflight)
{
    int sv[2];
    CHECK_EQ(nb_socketpair(sv), 0);
    _Atomic int polled = 0;
    struct stuck s;
    memset(&s, 0, sizeof(s));
    s.base.vt = &stuck_vt;
    s.fd = sv[0];
    s.polled = &polled;
    struct sn_task *t;
    CHECK_EQ(sn_spawn(rt, &s.base, sizeof(s), &t), 0);
    if (workers == 0) { /* current-thread: tasks run inside block_on */
        struct sn_sleep_fut nap;
        sn_sleep_init(&nap, 5 * SN_MS);
        sn_rt_block_on(rt, &nap.base);
        sn_drop(&nap.base);
    } else {
        uint64_t end = sn_now_ns() + 5 * SN_SEC;
        while (!atomic_load(&polled) && sn_now_ns() < end)
            sched_yield();
    }
    CHECK(atomic_load(&polled));
    CHECK_EQ(sn_task_abort(t), 0);
    struct sn_join j;
    sn_join_init(&j, t);
    CHECK_EQ(sn_rt_block_on(rt, &j.base), -ECANCELED);
    sn_drop(&j.base);
    CHECK_EQ(atomic_load(&polled), 2); /* the join completes after the drop ran */
    /* Closing at once: the cancel may still be on its way, so sn_rt_close must run
     * each worker's loop until the op's completion has freed its state — on io_uring
     * from the worker's own thread (the ring is single-issuer: another thread's
     * io_uring_enter gets -EEXIST and the op would never complete). The fixture
     * closes the runtime now, and the socketpair after it. */
    after_close[0] = sv[0];
    after_close[1] = sv[1];
}

