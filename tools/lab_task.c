/* lab_task.c — step 8 of `sysnet lab`: the task runtime (task.h, coro.h), no
 * privileges, loopback only:
 *   a. one million concurrent tasks, each a future sleeping SLEEP_NS, on the
 *      current-thread runtime: the process's memory before and with all of them
 *      alive (bytes per task), and the time to spawn, start and finish them;
 *   b. a coroutine echo: a coroutine server and ECHO_CLIENTS coroutine clients on
 *      one runtime, ECHO_MSGS round trips each, every byte checked: msgs/s;
 *   c. select and timeout: a oneshot against a sleep (select), a read on a silent
 *      socket under a timeout, and join_all of three sleeps. */
#include "echo_task.h"
#include "tool.h"

#include <sysnet/coro.h>
#include <sysnet/sock.h>
#include <sysnet/task.h>

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEF_TASKS 1000000u
#define SLEEP_NS (300 * SN_MS)
#define MEM_LIMIT (1ull << 30)
#define ECHO_CLIENTS 50u
#define ECHO_MSGS 1000u
#define ECHO_SIZE 64u

static long rss_bytes(void)
{
    return srv_rss_kib() * 1024L; /* pages are whole KiB */
}

static double ms_since(uint64_t t0)
{
    return (double)(sn_now_ns() - t0) / 1e6;
}

/* ---- a. a million sleeping tasks -------------------------------------------------- */

struct many {
    unsigned n;
    unsigned started, done;   /* one thread: plain counters */
    long rss_all;             /* rss when the last one started sleeping */
    uint64_t t_all;           /* when that was */
    struct sn_waker main;     /* the spawner, waiting for the last one */
};

struct sleeper {
    struct sn_future base;
    struct many *m;
    int state;                /* 0 not polled, 1 sleeping, 2 done */
    struct sn_sleep_fut sl;
};

static int sleeper_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct sleeper *s = (struct sleeper *)f;
    struct many *m = s->m;
    if (s->state == 0) {
        sn_sleep_init(&s->sl, SLEEP_NS);
        s->state = 1;
        if (++m->started == m->n) {
            m->rss_all = rss_bytes();
            m->t_all = sn_now_ns();
        }
    }
    if (sn_poll(&s->sl.base, cx) == SN_PENDING)
        return SN_PENDING;
    sn_drop(&s->sl.base);
    s->state = 2;
    if (++m->done == m->n)
        sn_waker_wake(&m->main);
    f->out = 0;
    return SN_READY;
}

static void sleeper_drop(struct sn_future *f)
{
    struct sleeper *s = (struct sleeper *)f;
    if (s->state == 1)
        sn_drop(&s->sl.base);
}

static const struct sn_future_vt sleeper_vt = {sleeper_poll, sleeper_drop, "lab_sleeper"};

struct spawner {
    struct sn_future base;
    struct many *m;
    unsigned spawned;
    int err;
    uint64_t t_spawned;
};

static int spawner_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct spawner *sp = (struct spawner *)f;
    struct many *m = sp->m;
    if (sp->spawned < m->n) {
        struct sleeper init = {.base = {&sleeper_vt, 0}, .m = m};
        for (; sp->spawned < m->n; sp->spawned++) {
            int rc = sn_spawn(cx->rt, &init.base, sizeof(init), NULL);
            if (rc < 0) {
                sp->err = rc;
                m->n = sp->spawned; /* wait for those that are out */
                break;
            }
        }
        sp->t_spawned = sn_now_ns();
    }
    if (m->done >= m->n) {
        f->out = sp->err;
        return SN_READY;
    }
    sn_waker_store(&m->main, &cx->waker);
    return SN_PENDING;
}

static const struct sn_future_vt spawner_vt = {spawner_poll, NULL, "lab_spawner"};

static int part_many(int quiet, unsigned n)
{
    struct sn_rt *rt;
    int rc = sn_rt_open(&rt, NULL);
    if (rc < 0)
        return tool_err("lab", "runtime step: cannot open a runtime: %s", sn_strerror(rc));
    static struct many m;
    memset(&m, 0, sizeof(m));
    m.n = n;
    long before = rss_bytes();
    struct rusage ru0;
    getrusage(RUSAGE_SELF, &ru0);
    if (!quiet)
        printf("  a. %u tasks, each a future that sleeps %d ms (sn_sleep), on the current-thread runtime\n", n,
               (int)(SLEEP_NS / SN_MS));
    uint64_t t0 = sn_now_ns();
    struct spawner sp = {.base = {&spawner_vt, 0}, .m = &m};
    int64_t res = sn_rt_block_on(rt, &sp.base);
    double total_ms = ms_since(t0);
    struct sn_rt_stats st;
    sn_rt_stats(rt, &st);
    sn_waker_drop(&m.main);
    sn_rt_close(rt);
    struct rusage ru1;
    getrusage(RUSAGE_SELF, &ru1);
    if (res < 0)
        return tool_err("lab", "runtime step: spawned %u of %u tasks: %s", sp.spawned, n, sn_strerror((int)res));
    long peak = m.rss_all;
    long maxrss = ru1.ru_maxrss * 1024L; /* the process's high-water mark: earlier steps too */
    long grown = peak > before ? peak - before : 0;
    double per = (double)grown / n;
    printf("  all %u completed: %" PRIu64 " polls; spawned in %.0f ms, all sleeping after %.0f ms, done after "
           "%.0f ms\n",
           m.done, st.polls, (double)(sp.t_spawned - t0) / 1e6, (double)(m.t_all - t0) / 1e6, total_ms);
    printf("  memory: rss %.1f MiB before, %.1f MiB with all %u alive (+%.1f MiB): %.0f bytes per task "
           "(peak rss of the process %.1f MiB)\n",
           before / 1048576.0, peak / 1048576.0, n, grown / 1048576.0, per, maxrss / 1048576.0);
    if (!quiet)
        printf("  (a task: one malloc of the task header and the %zu-byte future inline, plus its timer's\n"
               "   entry in the loop's heap; a thread with its own stack would need 8 MiB of address space)\n",
               sizeof(struct sleeper));
    if (m.done != n || m.started != n)
        return tool_err("lab", "runtime step: %u of %u tasks completed", m.done, n);
    if ((unsigned long long)grown >= MEM_LIMIT)
        return tool_err("lab", "runtime step: %u tasks took %.0f MiB, over the 1 GiB budget", n, grown / 1048576.0);
    return 0;
}

/* ---- b. coroutine echo -------------------------------------------------------------- */

struct coecho {
    int lfd;
    struct sockaddr_storage sa;
    socklen_t salen;
    unsigned clients, msgs;
    uint64_t done, bad;   /* one thread */
    uint8_t msg[ECHO_SIZE];
};

static int64_t ce_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    uint8_t buf[4096];
    ssize_t n;
    while ((n = sn_co_read(fd, buf, sizeof(buf))) > 0)
        if (sn_co_write(fd, buf, (size_t)n) < 0)
            break;
    sn_co_close(fd);
    return n < 0 ? n : 0;
}

static int64_t ce_server(void *arg)
{
    struct coecho *e = arg;
    int64_t rc = 0;
    for (unsigned i = 0; i < e->clients; i++) {
        int fd = sn_co_accept(e->lfd, NULL, NULL);
        if (fd < 0) {
            rc = fd;
            break;
        }
        if ((rc = sn_co_spawn(sn_co_rt(), ce_conn, (void *)(intptr_t)fd, NULL, NULL)) < 0) {
            close(fd);
            break;
        }
    }
    sn_co_close(e->lfd);
    e->lfd = -1;
    return rc;
}

static int64_t ce_client(void *arg)
{
    struct coecho *e = arg;
    int fd = socket(e->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    sn_sock_set_nodelay(fd, 1);
    int64_t rc = sn_co_connect(fd, (struct sockaddr *)&e->sa, e->salen);
    uint8_t buf[ECHO_SIZE];
    for (unsigned i = 0; rc >= 0 && i < e->msgs; i++) {
        if ((rc = sn_co_write(fd, e->msg, sizeof(e->msg))) < 0)
            break;
        size_t got = 0;
        while (got < sizeof(buf)) {
            ssize_t n = sn_co_read(fd, buf + got, sizeof(buf) - got);
            if (n <= 0) {
                rc = n < 0 ? n : -ECONNRESET;
                break;
            }
            got += (size_t)n;
        }
        if (rc < 0)
            break;
        if (memcmp(buf, e->msg, sizeof(buf)))
            e->bad++;
        e->done++;
    }
    sn_co_close(fd);
    return rc < 0 ? rc : 0;
}

static int64_t ce_main(void *arg)
{
    struct coecho *e = arg;
    struct sn_task *srv = NULL, **cli = calloc(e->clients, sizeof(*cli));
    if (!cli)
        return -ENOMEM;
    int64_t rc = sn_co_spawn(sn_co_rt(), ce_server, e, NULL, &srv);
    unsigned spawned = 0;
    for (; rc >= 0 && spawned < e->clients; spawned++)
        rc = sn_co_spawn(sn_co_rt(), ce_client, e, NULL, &cli[spawned]);
    if (rc < 0 && spawned)
        spawned--; /* the last one failed */
    int64_t first = rc < 0 ? rc : 0;
    for (unsigned i = 0; i < spawned; i++) {
        struct sn_join j;
        sn_join_init(&j, cli[i]);
        int64_t r = sn_co_await(&j.base);
        if (r < 0 && !first)
            first = r;
    }
    if (srv) {
        if (first < 0)
            sn_task_abort(srv); /* a client failed: the server may wait for it forever */
        struct sn_join j;
        sn_join_init(&j, srv);
        int64_t r = sn_co_await(&j.base);
        if (r < 0 && !first && r != -ECANCELED)
            first = r;
    }
    free(cli);
    return first;
}

static int part_coecho(int quiet)
{
    static struct coecho e;
    memset(&e, 0, sizeof(e));
    e.clients = ECHO_CLIENTS;
    e.msgs = ECHO_MSGS;
    for (size_t i = 0; i < sizeof(e.msg); i++)
        e.msg[i] = (uint8_t)('A' + i % 26);
    struct sn_addr a;
    sn_addr_loopback(&a, AF_INET, 0);
    struct sn_sock_opts so = {.type = SOCK_STREAM, .flags = SN_SOCK_NONBLOCK, .bind = &a, .backlog = 128};
    if ((e.lfd = sn_sock_open(&so)) < 0) {
        printf("  b. coroutine echo skipped: cannot listen on 127.0.0.1 (%s)\n", sn_strerror(e.lfd));
        return 0;
    }
    sn_sock_local_addr(e.lfd, &a);
    sn_addr_to_sockaddr(&a, &e.sa);
    e.salen = (socklen_t)sn_addr_socklen(&a);
    struct sn_rt *rt;
    int rc = sn_rt_open(&rt, NULL);
    if (rc < 0) {
        close(e.lfd);
        return tool_err("lab", "runtime step: cannot open a runtime: %s", sn_strerror(rc));
    }
    if (!quiet)
        printf("\n  b. a coroutine echo server and %u coroutine clients on one runtime, %u round trips each of "
               "%u bytes\n",
               e.clients, e.msgs, ECHO_SIZE);
    uint64_t t0 = sn_now_ns();
    struct sn_task *t = NULL;
    int64_t res = sn_co_spawn(rt, ce_main, &e, NULL, &t);
    if (res >= 0) {
        struct sn_join j;
        sn_join_init(&j, t);
        res = sn_rt_block_on(rt, &j.base);
        sn_drop(&j.base);
    }
    double secs = (double)(sn_now_ns() - t0) / 1e9;
    struct sn_rt_stats st;
    sn_rt_stats(rt, &st);
    sn_rt_close(rt);
    if (e.lfd >= 0)
        close(e.lfd);
    printf("  coroutine echo: %" PRIu64 " round trips in %.2f s: %.0f msgs/s (%" PRIu64 " tasks, %" PRIu64
           " polls), %" PRIu64 " wrong\n",
           e.done, secs, (double)e.done / secs, st.spawned, st.polls, e.bad);
    if (res < 0 || e.bad || e.done != (uint64_t)e.clients * e.msgs)
        return tool_err("lab", "runtime step: coroutine echo: %" PRIu64 " of %u round trips, %" PRIu64 " wrong%s%s",
                        e.done, e.clients * e.msgs, e.bad, res < 0 ? ": " : "", res < 0 ? sn_strerror((int)res) : "");
    return 0;
}

/* ---- c. select, timeout, join_all ------------------------------------------------------ */

/* Sleeps, then sends v on a oneshot. */
struct later {
    struct sn_future base;
    struct sn_oneshot *c;
    int64_t v;
    uint64_t ns;
    int state;
    struct sn_sleep_fut sl;
};

static int later_poll(struct sn_future *f, struct sn_cx *cx)
{
    struct later *l = (struct later *)f;
    if (l->state == 0) {
        sn_sleep_init(&l->sl, l->ns);
        l->state = 1;
    }
    if (sn_poll(&l->sl.base, cx) == SN_PENDING)
        return SN_PENDING;
    sn_drop(&l->sl.base);
    l->state = 2;
    f->out = sn_oneshot_send(l->c, l->v, NULL);
    l->c = NULL;
    return SN_READY;
}

static void later_drop(struct sn_future *f)
{
    struct later *l = (struct later *)f;
    if (l->state == 1)
        sn_drop(&l->sl.base);
    if (l->c)
        sn_oneshot_close_tx(l->c);
}

static const struct sn_future_vt later_vt = {later_poll, later_drop, "lab_later"};

static int part_select(int quiet)
{
    struct sn_rt *rt;
    int rc = sn_rt_open(&rt, NULL);
    if (rc < 0)
        return tool_err("lab", "runtime step: cannot open a runtime: %s", sn_strerror(rc));
    if (!quiet)
        printf("\n  c. combinators (futures in the caller's memory, polled by sn_rt_block_on)\n");
    int bad = 0;

    /* select: a oneshot a task fills after 20 ms, against a 200 ms sleep. */
    struct sn_oneshot *os;
    if ((rc = sn_oneshot_new(&os)) < 0) {
        sn_rt_close(rt);
        return tool_err("lab", "runtime step: oneshot: %s", sn_strerror(rc));
    }
    struct later lt = {.base = {&later_vt, 0}, .c = os, .v = 42, .ns = 20 * SN_MS};
    if ((rc = sn_spawn(rt, &lt.base, sizeof(lt), NULL)) < 0) {
        sn_oneshot_close_tx(os);
        sn_oneshot_close_rx(os);
        sn_rt_close(rt);
        return tool_err("lab", "runtime step: spawn: %s", sn_strerror(rc));
    }
    struct sn_oneshot_recv rv;
    sn_oneshot_recv_init(&rv, os);
    struct sn_sleep_fut slow;
    sn_sleep_init(&slow, 200 * SN_MS);
    struct sn_future *const pair[2] = {&rv.base, &slow.base};
    struct sn_select_fut sel;
    sn_select_init(&sel, pair, 2);
    uint64_t t0 = sn_now_ns();
    int64_t r = sn_rt_block_on(rt, &sel.base);
    double ms = ms_since(t0);
    int winner = sel.winner;
    sn_drop(&sel.base);
    printf("  select(oneshot sent after 20 ms, sleep 200 ms): child %d won after %.0f ms with %" PRId64
           " (the sleep was dropped)\n",
           winner, ms, r);
    bad += winner != 0 || r != 42;

    /* timeout: a read on a socket nobody writes to. */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0) {
        struct sn_afd afd;
        sn_afd_init(&afd, sv[0]);
        char b[16];
        struct sn_read_fut rd;
        sn_read_init(&rd, &afd, b, sizeof(b));
        struct sn_timeout_fut to;
        sn_timeout_init(&to, &rd.base, 50 * SN_MS);
        t0 = sn_now_ns();
        r = sn_rt_block_on(rt, &to.base);
        ms = ms_since(t0);
        sn_drop(&to.base);
        sn_afd_close(&afd); /* the current-thread runtime's loop is this thread's */
        close(sv[0]);
        close(sv[1]);
        printf("  timeout(read on a silent socket, 50 ms): %s after %.0f ms\n", r < 0 ? sn_strerror((int)r) : "data?",
               ms);
        bad += r != -ETIMEDOUT || ms < 49.0;
    } else {
        printf("  timeout skipped: socketpair: %s\n", sn_strerror(-errno));
    }

    /* join_all: three sleeps at once take as long as the longest. */
    struct sn_sleep_fut s1, s2, s3;
    sn_sleep_init(&s1, 10 * SN_MS);
    sn_sleep_init(&s2, 20 * SN_MS);
    sn_sleep_init(&s3, 30 * SN_MS);
    struct sn_future *const three[3] = {&s1.base, &s2.base, &s3.base};
    struct sn_join_all_fut ja;
    sn_join_all_init(&ja, three, 3);
    t0 = sn_now_ns();
    r = sn_rt_block_on(rt, &ja.base);
    ms = ms_since(t0);
    sn_drop(&ja.base);
    printf("  join_all(sleep 10, 20, 30 ms): all done after %.0f ms (not 60: they wait together)\n", ms);
    bad += r < 0 || ms < 29.0;
    sn_rt_close(rt);
    if (bad)
        return tool_err("lab", "runtime step: a combinator gave an unexpected result (see above)");
    return 0;
}

int lab_step_runtime(int quiet, unsigned tasks)
{
    if (!tasks)
        tasks = DEF_TASKS;
    if (!quiet)
        printf("\n== step 8: the task runtime: futures, coroutines, combinators (docs: include/sysnet/task.h)\n");
    int rc;
    if ((rc = part_many(quiet, tasks)) != 0)
        return rc;
    if ((rc = part_coecho(quiet)) != 0)
        return rc;
    return part_select(quiet);
}
