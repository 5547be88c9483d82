/* test_uring.c — what is particular to the io_uring backend (src/loop/uring.c):
 * setup flags and their fallback, ns timeouts, a full SQ, an overflowed CQ,
 * multishot accept and recv into a provided-buffer ring, cancel, stale events
 * after del/mod, close with operations in flight, the refusal of io_uring by
 * seccomp. tests/unit/test_poller.c runs the common behaviour on every backend.
 * Network traffic: loopback (127.0.0.1) and socketpairs only.
 */
#include "../harness.h"
#include "../../src/loop/poller_int.h"
#include <sysnet/poller.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <stddef.h>

/* uring.c's test hooks */
int sn_uring_open_refusing(struct sn_poller **out, const struct sn_poller_opts *opts,
                           unsigned refuse);
uint64_t sn_uring_info(const struct sn_poller *p, int what);
enum { I_FLAGS, I_FEATURES, I_SQ, I_CQ, I_CQ_READY, I_INFLIGHT, I_ENABLED };

/* ---- the poller under test: the public API on the io_uring backend ---------- */

static int t_open(struct sn_poller **p, unsigned entries)
{
    struct sn_poller_opts o = {.backend = SN_BACKEND_URING, .entries = entries};
    return sn_poller_open(p, &o);
}

/* ---- helpers ---------------------------------------------------------------- */

static int lowest_free_fd(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
        close(fd);
    return fd;
}

static int pair(int sv[2])
{
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
}

/* A TCP listener on 127.0.0.1, port chosen by the kernel. */
static int listener(struct sockaddr_in *sa, int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(*sa);
    if (bind(fd, (struct sockaddr *)sa, len) < 0 || listen(fd, backlog) < 0 ||
        getsockname(fd, (struct sockaddr *)sa, &len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int connect_to(const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Wait until `want` events matching (token, op) have come, for at most ms. */
static int collect(struct sn_poller *p, struct sn_event *out, int want, int ms)
{
    int got = 0;
    uint64_t end = sn_now_ns() + (uint64_t)ms * 1000000u;
    while (got < want && sn_now_ns() < end) {
        int n = sn_poller_wait(p, out + got, (unsigned)(want - got), 10 * 1000000);
        if (n < 0)
            return n;
        got += n;
    }
    return got;
}

static int fd_count(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}

/* ---- setup ------------------------------------------------------------------- */

/* One small workload: readiness (level), a send and a recv op, a timeout, a wake. */
static const char *workload(struct sn_poller *p)
{
    int sv[2];
    if (pair(sv) < 0)
        return "socketpair";
    const char *why = NULL;
    struct sn_event ev[8];
    char buf[16] = {0};
    if (sn_poller_add(p, sv[0], 1, SN_READ) != 0) {
        why = "add";
        goto out;
    }
    if (write(sv[1], "hi", 2) != 2 || sn_poller_wait(p, ev, 8, 1000000000) != 1 ||
        ev[0].token != 1 || !(ev[0].events & SN_READ)) {
        why = "readiness";
        goto out;
    }
    /* level: reported again while unread */
    if (sn_poller_wait(p, ev, 8, 1000000000) != 1 || ev[0].token != 1) {
        why = "level again";
        goto out;
    }
    if (read(sv[0], buf, sizeof(buf)) != 2 || sn_poller_wait(p, ev, 8, 0) != 0 ||
        sn_poller_del(p, sv[0]) != 0) {
        why = "drained";
        goto out;
    }
    int64_t r = sn_poller_recv(p, sv[0], 2, buf, sizeof(buf));
    int64_t s = sn_poller_send(p, sv[1], 3, "abc", 3, 0);
    int64_t t = sn_poller_timeout(p, 4, 1000);
    if (r < 0 || s < 0 || t < 0 || collect(p, ev, 3, 2000) != 3) {
        why = "ops";
        goto out;
    }
    int seen = 0;
    for (int i = 0; i < 3; i++) {
        if (ev[i].token == 2 && ev[i].res == 3 && ev[i].op == SN_OP_RECV)
            seen |= 1;
        if (ev[i].token == 3 && ev[i].res == 3 && ev[i].op == SN_OP_SEND)
            seen |= 2;
        if (ev[i].token == 4 && ev[i].res == -ETIME && ev[i].op == SN_OP_TIMEOUT)
            seen |= 4;
    }
    if (seen != 7 || memcmp(buf, "abc", 3) != 0) {
        why = "op results";
        goto out;
    }
    if (sn_poller_wake(p) != 0 || sn_poller_wait(p, ev, 8, 1000000000) != 0) {
        why = "wake";
        goto out;
    }
out:
    close(sv[0]);
    close(sv[1]);
    return why;
}

SN_TEST(uring_setup_flags_on_this_kernel)
{
    struct sn_poller *p;
    int rc = t_open(&p, 0);
    if (rc == -ENOSYS || rc == -EPERM)
        SKIP("io_uring refused by this kernel");
    CHECK_EQ(rc, 0);
    CHECK_EQ(sn_poller_backend(p), SN_BACKEND_URING);
    unsigned flags = (unsigned)sn_uring_info(p, I_FLAGS);
    unsigned feat = (unsigned)sn_uring_info(p, I_FEATURES);
    CHECK(feat & IORING_FEAT_EXT_ARG);
    CHECK(feat & IORING_FEAT_NODROP);
    CHECK_EQ(sn_uring_info(p, I_SQ), 1024);
    CHECK_EQ(sn_uring_info(p, I_CQ), 2048);
    /* 6.1 and later take all four; the issuer is bound at first use */
    if (flags & IORING_SETUP_SINGLE_ISSUER) {
        CHECK(flags & IORING_SETUP_R_DISABLED);
        CHECK_EQ(sn_uring_info(p, I_ENABLED), 0);
    }
    const char *why = workload(p);
    if (why)
        printf("  workload: %s\n", why);
    CHECK(why == NULL);
    CHECK_EQ(sn_uring_info(p, I_ENABLED), 1);
    sn_poller_close(p);
}

SN_TEST(uring_setup_fallback_when_flags_refused)
{
    /* The kernel itself says EINVAL for DEFER_TASKRUN without SINGLE_ISSUER: the
     * kind of refusal the ladder steps down on. */
    struct io_uring_params prm;
    memset(&prm, 0, sizeof(prm));
    prm.flags = IORING_SETUP_DEFER_TASKRUN;
    long fd = syscall(__NR_io_uring_setup, 8, &prm);
    if (fd < 0 && (errno == ENOSYS || errno == EPERM))
        SKIP("io_uring refused by this kernel");
    CHECK(fd < 0 && errno == EINVAL);

    static const struct {
        unsigned refuse, expect;
    } cases[] = {
        {IORING_SETUP_DEFER_TASKRUN,
         IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL},
        {IORING_SETUP_SINGLE_ISSUER, IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL},
        {IORING_SETUP_COOP_TASKRUN, IORING_SETUP_SUBMIT_ALL},
        {IORING_SETUP_SUBMIT_ALL, 0},
    };
    const unsigned ours = IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
                          IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL;
    for (size_t i = 0; i < SN_COUNTOF(cases); i++) {
        struct sn_poller *p;
        struct sn_poller_opts o = {.backend = SN_BACKEND_URING, .entries = 64};
        CHECK_EQ(sn_uring_open_refusing(&p, &o, cases[i].refuse), 0);
        unsigned flags = (unsigned)sn_uring_info(p, I_FLAGS);
        CHECK_EQ(flags & ours, cases[i].expect);
        CHECK_EQ(!!(flags & IORING_SETUP_R_DISABLED), !!(flags & IORING_SETUP_SINGLE_ISSUER));
        const char *why = workload(p);
        if (why)
            printf("  refuse %#x: %s\n", cases[i].refuse, why);
        CHECK(why == NULL);
        sn_poller_close(p);
    }
}

/* LEVEL multishot poll is not there (the reason uring.c re-arms single-shot polls). */
SN_TEST(uring_kernel_refuses_level_multishot_poll)
{
    struct sn_poller *p;
    if (t_open(&p, 8) != 0)
        SKIP("no io_uring");
    sn_poller_close(p);
    struct io_uring_params prm;
    memset(&prm, 0, sizeof(prm));
    int fd = (int)syscall(__NR_io_uring_setup, 4, &prm);
    CHECK(fd >= 0);
    size_t sqlen = prm.sq_off.array + prm.sq_entries * 4;
    size_t cqlen = prm.cq_off.cqes + prm.cq_entries * sizeof(struct io_uring_cqe);
    size_t len = sqlen > cqlen ? sqlen : cqlen;
    uint8_t *ring = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, IORING_OFF_SQ_RING);
    struct io_uring_sqe *sqes = mmap(NULL, prm.sq_entries * sizeof(*sqes), PROT_READ | PROT_WRITE,
                                     MAP_SHARED, fd, IORING_OFF_SQES);
    CHECK(ring != MAP_FAILED && sqes != MAP_FAILED);
    int sv[2];
    CHECK_EQ(pair(sv), 0);
    memset(&sqes[0], 0, sizeof(sqes[0]));
    sqes[0].opcode = IORING_OP_POLL_ADD;
    sqes[0].fd = sv[0];
    sqes[0].poll32_events = POLLIN;
    sqes[0].len = IORING_POLL_ADD_MULTI | IORING_POLL_ADD_LEVEL;
    sqes[0].user_data = 77;
    ((uint32_t *)(void *)(ring + prm.sq_off.array))[0] = 0;
    atomic_store_explicit((_Atomic uint32_t *)(void *)(ring + prm.sq_off.tail), 1,
                          memory_order_release);
    CHECK_EQ(syscall(__NR_io_uring_enter, fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0), 1);
    struct io_uring_cqe *cqes = (struct io_uring_cqe *)(void *)(ring + prm.cq_off.cqes);
    CHECK_EQ(cqes[0].user_data, 77);
    CHECK_EQ(cqes[0].res, -EINVAL);
    munmap(sqes, prm.sq_entries * sizeof(*sqes));
    munmap(ring, len);
    close(fd);
    close(sv[0]);
    close(sv[1]);
}

/* io_uring_setup refused (seccomp here; kernel.io_uring_disabled gives the same
 * EPERM): open reports the kernel's errno. */
static int child_open_with_filter(int err)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)err),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = SN_COUNTOF(f), .filter = f};
    pid_t pid = fork();
    if (pid == 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
            _exit(100);
        struct sn_poller *p;
        int rc = t_open(&p, 0);
        _exit(rc < 0 ? -rc : 0);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

SN_TEST(uring_open_reports_kernel_refusal)
{
    CHECK_EQ(child_open_with_filter(EPERM), EPERM);
    CHECK_EQ(child_open_with_filter(ENOSYS), ENOSYS);
}

/* ---- timeouts ------------------------------------------------------------------ */

SN_TEST(uring_wait_timeout_never_early)
{
    struct sn_poller *p;
    if (t_open(&p, 0) != 0)
        SKIP("no io_uring");
    struct sn_event ev[4];
    static const int64_t ns[] = {1, 999, 1000, 50000, 1000001, 2500000, 10000000};
    for (size_t i = 0; i < SN_COUNTOF(ns); i++) {
        uint64_t t0 = sn_now_ns();
        CHECK_EQ(sn_poller_wait(p, ev, 4, ns[i]), 0);
        uint64_t dt = sn_now_ns() - t0;
        if (dt < (uint64_t)ns[i])
            printf("  %lld ns took %llu ns\n", (long long)ns[i], (unsigned long long)dt);
        CHECK(dt >= (uint64_t)ns[i]);
    }
    /* 0: only look */
    uint64_t t0 = sn_now_ns();
    CHECK_EQ(sn_poller_wait(p, ev, 4, 0), 0);
    CHECK(sn_now_ns() - t0 < 50000000u);
    /* the timeout operation: -ETIME, not before its time */
    for (size_t i = 0; i < SN_COUNTOF(ns); i++) {
        t0 = sn_now_ns();
        int64_t id = sn_poller_timeout(p, 9, ns[i]);
        CHECK(id >= 0);
        CHECK_EQ(collect(p, ev, 1, 2000), 1);
        uint64_t dt = sn_now_ns() - t0;
        CHECK_EQ(ev[0].id, id);
        CHECK_EQ(ev[0].token, 9);
        CHECK_EQ(ev[0].op, SN_OP_TIMEOUT);
        CHECK_EQ(ev[0].res, -ETIME);
        CHECK_EQ(ev[0].flags, 0);
        CHECK(dt >= (uint64_t)ns[i]);
    }
    /* a wait that wakes on internal completions only (a poll removed) still
     * lasts its time */
    int sv[2];
    CHECK_EQ(pair(sv), 0);
    CHECK_EQ(sn_poller_add(p, sv[0], 1, SN_READ | SN_EDGE), 0);
    CHECK_EQ(sn_poller_wait(p, ev, 4, 0), 0);
    CHECK_EQ(sn_poller_del(p, sv[0]), 0);
    t0 = sn_now_ns();
    CHECK_EQ(sn_poller_wait(p, ev, 4, 20000000), 0);
    CHECK(sn_now_ns() - t0 >= 20000000u);
    close(sv[0]);
    close(sv[1]);
    sn_poller_close(p);
}

/* ---- SQ full, CQ overflow ---------------------------------------------------------- */

SN_TEST(uring_sq_full_submits_and_retries)
{
    struct sn_poller *p;
    if (t_open(&p, 4) != 0) /* 4 SQEs, 8 CQEs */
        SKIP("no io_uring");
    CHECK_EQ(sn_uring_info(p, I_SQ), 4);
    int sv[2];
    CHECK_EQ(pair(sv), 0);
    enum { N = 100 };
    static char bytes[N];
    int64_t ids[N];
    for (int i = 0; i < N; i++) {
        bytes[i] = (char)i;
        ids[i] = sn_poller_send(p, sv[0], (uint64_t)i, &bytes[i], 1, 0);
        CHECK(ids[i] >= 0);
        for (int j = 0; j < i; j++)
            CHECK(ids[j] != ids[i]);
    }
    struct sn_event ev[N];
    CHECK_EQ(collect(p, ev, N, 5000), N);
    int seen[N] = {0};
    for (int i = 0; i < N; i++) {
        CHECK_EQ(ev[i].op, SN_OP_SEND);
        CHECK_EQ(ev[i].res, 1);
        CHECK(ev[i].token < N);
        CHECK_EQ(ev[i].id, ids[ev[i].token]);
        seen[ev[i].token]++;
    }
    for (int i = 0; i < N; i++)
        CHECK_EQ(seen[i], 1);
    /* in submission order on the wire */
    char got[N];
    CHECK_EQ(read(sv[1], got, N), N);
    CHECK_MEM(got, bytes, N);
    /* timeouts too: more than the SQ holds, in one go */
    for (int i = 0; i < N; i++)
        CHECK(sn_poller_timeout(p, 1000 + (uint64_t)i, 1000) >= 0);
    CHECK_EQ(collect(p, ev, N, 5000), N);
    for (int i = 0; i < N; i++)
        CHECK_EQ(ev[i].res, -ETIME);
    CHECK_EQ(sn_uring_info(p, I_INFLIGHT), 1); /* the wake poll */
    close(sv[0]);
    close(sv[1]);
    sn_poller_close(p);
}

SN_TEST(uring_cq_overflow_readiness_recovers)
{
    struct sn_poller *p;
    if (t_open(&p, 2) != 0) /* a CQ of 4 */
        SKIP("no io_uring");
    CHECK_EQ(sn_uring_info(p, I_CQ), 4);
    enum { N = 40 };
    int sv[N][2];
    for (int i = 0; i < N; i++) {
        CHECK_EQ(pair(sv[i]), 0);
        CHECK_EQ(sn_poller_add(p, sv[i][0], (uint64_t)i, SN_READ | SN_EDGE), 0);
    }
    struct sn_event ev[N];
    CHECK_EQ(sn_poller_wait(p, ev, N, 0), 0);
    for (int round = 0; round < 3; round++) {
        /* N edge events at once into a CQ of 4: the multishot polls that do not fit
         * end in the overflow list; each is reported and armed again */
        for (int i = 0; i < N; i++)
            CHECK_EQ(write(sv[i][1], "x", 1), 1);
        int seen[N] = {0}, got = 0;
        uint64_t end = sn_now_ns() + 3000000000u;
        while (got < N && sn_now_ns() < end) {
            int n = sn_poller_wait(p, ev, 3, 10000000); /* small batches, too */
            CHECK(n >= 0);
            for (int j = 0; j < n; j++) {
                CHECK(ev[j].token < N);
                CHECK(ev[j].events & SN_READ);
                if (!seen[ev[j].token]++)
                    got++;
            }
        }
        CHECK_EQ(got, N);
        char c;
        for (int i = 0; i < N; i++)
            CHECK_EQ(read(sv[i][0], &c, 1), 1);
        /* nothing more once drained (edge) */
        while (sn_poller_wait(p, ev, N, 5000000) > 0)
            ;
    }
    for (int i = 0; i < N; i++) {
        CHECK_EQ(sn_poller_del(p, sv[i][0]), 0);
        close(sv[i][0]);
        close(sv[i][1]);
    }
    CHECK_EQ(sn_poller_wait(p, ev, N, 1000000), 0);
    CHECK_EQ(sn_uring_info(p, I_INFLIGHT), 1);
    sn_poller_close(p);
}

SN_TEST(uring_cq_overflow_multishot_ops_end_and_resume)
{
    struct sn_poller *p;
    if (t_open(&p, 2) != 0)
        SKIP("no io_uring");
    struct sockaddr_in sa;
    int lfd = listener(&sa, 128);
    CHECK(lfd >= 0);
    enum { N = 30 };
    int cl[N];
    for (int i = 0; i < N; i++) {
        cl[i] = connect_to(&sa);
        CHECK(cl[i] >= 0);
    }
    /* all N are queued: the multishot accept posts more than the CQ holds */
    int64_t id = sn_poller_accept(p, lfd, 5, SN_MULTISHOT);
    CHECK(id >= 0);
    int accepted = 0, finals = 0;
    struct sn_event ev[8];
    uint64_t end = sn_now_ns() + 3000000000u;
    while (accepted < N && sn_now_ns() < end) {
        int n = sn_poller_wait(p, ev, 8, 10000000);
        CHECK(n >= 0);
        for (int j = 0; j < n; j++) {
            CHECK_EQ(ev[j].token, 5);
            CHECK_EQ(ev[j].op, SN_OP_ACCEPT);
            CHECK(ev[j].res >= 0);
            close(ev[j].res);
            accepted++;
            if (!(ev[j].flags & SN_EV_MORE)) {
                /* the kernel ended it (CQ full): the caller submits again */
                finals++;
                if (accepted < N)
                    CHECK(sn_poller_accept(p, lfd, 5, SN_MULTISHOT) >= 0);
            }
        }
    }
    CHECK_EQ(accepted, N);
    printf("  %d accepts, the multishot ended %d times on a full CQ\n", accepted, finals);
    for (int i = 0; i < N; i++)
        close(cl[i]);
    close(lfd);
    sn_poller_close(p);
}

/* ---- multishot accept ------------------------------------------------------------- */

SN_TEST(uring_multishot_accept_100_connections)
{
    int base = lowest_free_fd();
    struct sn_poller *p;
    if (t_open(&p, 0) != 0)
        SKIP("no io_uring");
    struct sockaddr_in sa;
    int lfd = listener(&sa, 256);
    CHECK(lfd >= 0);
    int64_t id = sn_poller_accept(p, lfd, 42, SN_MULTISHOT);
    CHECK(id >= 0);
    enum { N = 100 };
    int cl[N], sfd[N];
    struct sn_event ev[N];
    CHECK_EQ(sn_poller_wait(p, ev, N, 0), 0); /* the accept is in the kernel */
    for (int i = 0; i < N; i++) {
        cl[i] = connect_to(&sa);
        CHECK(cl[i] >= 0);
    }
    CHECK_EQ(collect(p, ev, N, 5000), N);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(ev[i].token, 42);
        CHECK_EQ(ev[i].id, id);
        CHECK_EQ(ev[i].op, SN_OP_ACCEPT);
        CHECK(ev[i].flags & SN_EV_MORE);
        CHECK(ev[i].res >= 0);
        sfd[i] = ev[i].res;
        CHECK(fcntl(sfd[i], F_GETFL) & O_NONBLOCK);
        CHECK(fcntl(sfd[i], F_GETFD) & FD_CLOEXEC);
    }
    /* each accepted socket is one of ours: say something through each */
    for (int i = 0; i < N; i++)
        CHECK_EQ(write(cl[i], "p", 1), 1);
    for (int i = 0; i < N; i++) {
        char c = 0;
        struct pollfd pf = {.fd = sfd[i], .events = POLLIN};
        CHECK_EQ(poll(&pf, 1, 1000), 1);
        CHECK_EQ(read(sfd[i], &c, 1), 1);
        CHECK_EQ(c, 'p');
    }
    /* cancel: one final completion, without MORE */
    CHECK_EQ(sn_poller_cancel(p, id), 0);
    CHECK_EQ(collect(p, ev, 1, 2000), 1);
    CHECK_EQ(ev[0].id, id);
    CHECK_EQ(ev[0].res, -ECANCELED);
    CHECK_EQ(ev[0].flags & SN_EV_MORE, 0);
    CHECK_EQ(sn_poller_cancel(p, id), -ENOENT);
    for (int i = 0; i < N; i++) {
        close(cl[i]);
        close(sfd[i]);
    }
    close(lfd);
    sn_poller_close(p);
    CHECK_EQ(lowest_free_fd(), base);
}

/* ---- provided buffers ------------------------------------------------------------ */

SN_TEST(uring_recv_group_multishot_enobufs_and_recovery)
{
    struct sn_poller *p;
    if (t_open(&p, 0) != 0)
        SKIP("no io_uring");
    struct sn_bufgroup *g;
    CHECK_EQ(sn_bufgroup_open(p, &g, 4, 64), 0);
    CHECK_EQ(sn_bufgroup_size(g), 64);
    int sv[2];
    CHECK_EQ(pair(sv), 0);
    int64_t id = sn_poller_recv_group(p, sv[0], 7, g, SN_MULTISHOT);
    CHECK(id >= 0);
    struct sn_event ev[4];
    unsigned held = 0;
    uint16_t bufs[4];
    for (int i = 0; i < 4; i++) {
        char msg[16];
        int len = snprintf(msg, sizeof(msg), "message %d", i);
        CHECK_EQ(write(sv[1], msg, (size_t)len), len);
        CHECK_EQ(collect(p, ev, 1, 2000), 1);
        CHECK_EQ(ev[0].id, id);
        CHECK_EQ(ev[0].token, 7);
        CHECK_EQ(ev[0].op, SN_OP_RECV);
        CHECK_EQ(ev[0].res, len);
        CHECK_EQ(ev[0].flags, SN_EV_MORE | SN_EV_BUF);
        CHECK(ev[0].buf < 4);
        CHECK(!(held & (1u << ev[0].buf)));
        held |= 1u << ev[0].buf;
        bufs[i] = ev[0].buf;
        CHECK_MEM(sn_bufgroup_buf(g, ev[0].buf), msg, (size_t)len);
    }
    /* every buffer is ours now: the next arrival ends the multishot with ENOBUFS */
    CHECK_EQ(write(sv[1], "late", 4), 4);
    CHECK_EQ(collect(p, ev, 1, 2000), 1);
    CHECK_EQ(ev[0].id, id);
    CHECK_EQ(ev[0].res, -ENOBUFS);
    CHECK_EQ(ev[0].flags & SN_EV_MORE, 0);
    CHECK_EQ(sn_poller_cancel(p, id), -ENOENT);
    /* give two back and submit again: the waiting bytes arrive */
    sn_bufgroup_put(g, bufs[1]);
    sn_bufgroup_put(g, bufs[3]);
    held &= ~((1u << bufs[1]) | (1u << bufs[3]));
    id = sn_poller_recv_group(p, sv[0], 8, g, SN_MULTISHOT);
    CHECK(id >= 0);
    CHECK_EQ(collect(p, ev, 1, 2000), 1);
    CHECK_EQ(ev[0].token, 8);
    CHECK_EQ(ev[0].res, 4);
    CHECK(ev[0].flags & SN_EV_BUF);
    CHECK(ev[0].buf == bufs[1] || ev[0].buf == bufs[3]);
    CHECK_MEM(sn_bufgroup_buf(g, ev[0].buf), "late", 4);
    sn_bufgroup_put(g, ev[0].buf);
    /* a single-shot recv on the group */
    CHECK_EQ(sn_poller_cancel(p, id), 0);
    CHECK_EQ(collect(p, ev, 1, 2000), 1);
    CHECK_EQ(ev[0].res, -ECANCELED);
    int64_t one = sn_poller_recv_group(p, sv[0], 9, g, 0);
    CHECK(one >= 0);
    CHECK_EQ(write(sv[1], "once", 4), 4);
    CHECK_EQ(collect(p, ev, 1, 2000), 1);
    CHECK_EQ(ev[0].id, one);
    CHECK_EQ(ev[0].res, 4);
    CHECK_EQ(ev[0].flags, SN_EV_BUF);
    CHECK_MEM(sn_bufgroup_buf(g, ev[0].buf), "once", 4);
    sn_bufgroup_put(g, ev[0].buf);
    /* EOF ends a multishot recv with res 0 */
    id = sn_poller_recv_group(p, sv[0], 10, g, SN_MULTISHOT);
    CHECK(id >= 0);
    CHECK_EQ(sn_poller_wait(p, ev, 4, 0), 0);
    close(sv[1]);
    CHECK_EQ(collect(p, ev, 1, 2000), 1);
    CHECK_EQ(ev[0].id, id);
    CHECK_EQ(ev[0].res, 0);
    CHECK_EQ(ev[0].flags, 0);
    close(sv[0]);
    sn_bufgroup_close(g);
    sn_poller_close(p);
}

/* ---- cancel ------------------------------------------------------------------------ */

SN_TEST(uring_cancel_recv_in_flight_exactly_one_completion)
{
    struct sn_poller *p;
    if (t_open(&p, 0) != 0)
        SKIP("no io_uring");
    int sv[2];
    CHECK_EQ(pair(sv), 0);
    char buf[32];
    struct sn_event ev[4];
    /* in the kernel, waiting for data */
    int64_t id = sn_poller_recv(p, sv[0], 1, buf, sizeof(buf));
    CHECK(id >= 0);
    CHECK_EQ(sn_poller_wait(p, ev, 4, 1000000), 0);
    CHECK_EQ(sn_poller_cancel(p, id), 0);
    CHECK_EQ(sn_poller_cancel(p, id), 0); /* still under way: the same answer */
    CHECK_EQ(collect(p, ev, 1, 2000), 1);
    CHECK_EQ(ev[0].id, id);
    CHECK_EQ(ev[0].token, 1);
    CHECK_EQ(ev[0].op, SN_OP_RECV);
    CHECK_EQ(ev[0].res, -ECANCELED);
    CHECK_EQ(sn_poller_wait(p, ev, 4, 20000000), 0); /* and nothing else */
    CHECK_EQ(sn_poller_cancel(p, id), -ENOENT);
    /* still queued, not yet submitted */
    id = sn_poller_recv(p, sv[0], 2, buf, sizeof(buf));
    CHECK(id >= 0);
    CHECK_EQ(sn_poller_cancel(p, id), 0);
    CHECK_EQ(collect(p, ev, 2, 300), 1);
    CHECK_EQ(ev[0].id, id);
    CHECK_EQ(ev[0].res, -ECANCELED);
    /* the operation finished first: its result, once */
    id = sn_poller_recv(p, sv[0], 3, buf, sizeof(buf));
    CHECK(id >= 0);
    CHECK_EQ(sn_poller_submit(p), 1);
    CHECK_EQ(write(sv[1], "data", 4), 4);
    CHECK_EQ(sn_poller_cancel(p, id), 0);
    CHECK_EQ(collect(p, ev, 2, 300), 1);
    CHECK_EQ(ev[0].id, id);
    CHECK(ev[0].res == 4 || ev[0].res == -ECANCELED);
    if (ev[0].res == -ECANCELED)
        CHECK_EQ(read(sv[0], buf, sizeof(buf)), 4);
    /* a timeout, an unknown id, a negative one */
    id = sn_poller_timeout(p, 4, 10000000000);
    CHECK(id >= 0);
    CHECK_EQ(sn_poller_cancel(p, id), 0);
    CHECK_EQ(collect(p, ev, 2, 300), 1);
    CHECK_EQ(ev[0].res, -ECANCELED);
    CHECK_EQ(ev[0].op, SN_OP_TIMEOUT);
    CHECK_EQ(sn_poller_cancel(p, id + 1), -ENOENT);
    CHECK_EQ(sn_uring_info(p, I_INFLIGHT), 1);
    close(sv[0]);
    close(sv[1]);
    sn_poller_close(p);
}

/* ---- operations on one fd: in order ---------------------------------------------- */

/* The kernel would complete two recvs waiting on one socket newest first, and a
 * send submitted while an earlier one waits for room could overtake it; the
 * backend keeps one per direction in the kernel. */
SN_TEST(uring_ops_on_one_fd_keep_order)
{
    struct sn_poller *p;
    if (t_open(&p, 8) != 0)
        SKIP("no io_uring");
    int sv[2];
    CHECK_EQ(pair(sv), 0);
    struct sn_event ev[64];
    char a = 0, b = 0, c = 0;
    int64_t ia = sn_poller_recv(p, sv[0], 1, &a, 1);
    int64_t ib = sn_poller_recv(p, sv[0], 2, &b, 1);
    int64_t ic = sn_poller_recv(p, sv[0], 3, &c, 1);
    CHECK(ia >= 0 && ib >= 0 && ic >= 0);
    CHECK_EQ(sn_poller_wait(p, ev, 8, 2000000), 0);
    /* b waits behind a: its cancel completes without the kernel */
    CHECK_EQ(sn_poller_cancel(p, ib), 0);
    CHECK_EQ(sn_poller_cancel(p, ib), 0);
    CHECK_EQ(sn_poller_wait(p, ev, 8, 0), 1);
    CHECK_EQ(ev[0].id, ib);
    CHECK_EQ(ev[0].res, -ECANCELED);
    CHECK_EQ(sn_poller_cancel(p, ib), -ENOENT);
    CHECK_EQ(write(sv[1], "AC", 2), 2);
    CHECK_EQ(collect(p, ev, 2, 1000), 2);
    CHECK_EQ(ev[0].id, ia);
    CHECK_EQ(ev[1].id, ic);
    CHECK(a == 'A' && c == 'C');

    /* sends under back-pressure: the stream is the sends' bytes in order */
    CHECK_EQ(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &(int){4096}, sizeof(int)), 0);
    enum { N = 24, LEN = 8192 };
    static uint8_t chunk[N][LEN];
    int64_t ids[N];
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < LEN; j++)
            chunk[i][j] = (uint8_t)(i * 7 + j % 251);
        ids[i] = sn_poller_send(p, sv[0], 100 + (uint64_t)i, chunk[i], LEN, 0);
        CHECK(ids[i] >= 0);
    }
    static uint8_t got[N * LEN];
    size_t have = 0;
    int32_t res[N];
    int done = 0, next = 0;
    uint64_t end = sn_now_ns() + 5000000000u;
    while (done < N && sn_now_ns() < end) {
        int n = sn_poller_wait(p, ev, 64, 1000000);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            CHECK_EQ(ev[i].op, SN_OP_SEND);
            CHECK_EQ(ev[i].token, 100 + (uint64_t)next); /* completions in order */
            CHECK(ev[i].res > 0);
            res[next++] = ev[i].res;
            done++;
        }
        ssize_t r;
        while ((r = read(sv[1], got + have, sizeof(got) - have)) > 0)
            have += (size_t)r;
    }
    CHECK_EQ(done, N);
    ssize_t r;
    while ((r = read(sv[1], got + have, sizeof(got) - have)) > 0)
        have += (size_t)r;
    size_t off = 0;
    for (int i = 0; i < N; i++) {
        CHECK(off + (size_t)res[i] <= have);
        CHECK_MEM(got + off, chunk[i], (size_t)res[i]);
        off += (size_t)res[i];
    }
    CHECK_EQ(off, have);
    CHECK_EQ(sn_uring_info(p, I_INFLIGHT), 1);
    close(sv[0]);
    close(sv[1]);
    sn_poller_close(p);
}

/* ---- stale events ------------------------------------------------------------------- */

SN_TEST(uring_del_drops_events_still_in_the_cq)
{
    struct sn_poller *p;
    if (t_open(&p, 0) != 0)
        SKIP("no io_uring");
    for (int mode = 0; mode < 3; mode++) {
        unsigned how = mode == 0 ? 0 : mode == 1 ? SN_EDGE : SN_ONESHOT;
        int a[2], b[2];
        CHECK_EQ(pair(a), 0);
        CHECK_EQ(pair(b), 0);
        CHECK_EQ(sn_poller_add(p, a[0], 1, SN_READ | how), 0);
        CHECK_EQ(sn_poller_add(p, b[0], 2, SN_READ | how), 0);
        struct sn_event ev[4];
        CHECK_EQ(sn_poller_wait(p, ev, 4, 0), 0);
        CHECK_EQ(write(a[1], "x", 1), 1);
        CHECK_EQ(write(b[1], "y", 1), 1);
        /* one event taken, the other's CQE left in the ring */
        CHECK_EQ(sn_poller_wait(p, ev, 1, 1000000000), 1);
        CHECK(sn_uring_info(p, I_CQ_READY) >= 1);
        int other = ev[0].token == 1 ? b[0] : a[0];
        uint64_t other_token = ev[0].token == 1 ? 2 : 1;
        CHECK_EQ(sn_poller_del(p, other), 0);
        for (int i = 0; i < 3; i++) {
            int n = sn_poller_wait(p, ev, 4, 5000000);
            CHECK(n >= 0);
            for (int j = 0; j < n; j++)
                CHECK(ev[j].token != other_token);
        }
        CHECK_EQ(sn_poller_del(p, other), -ENOENT);
        /* registered again: a new generation, reported again (still readable) */
        CHECK_EQ(sn_poller_add(p, other, 3, SN_READ | how), 0);
        int found = 0;
        for (int i = 0; i < 3 && !found; i++) {
            int n = sn_poller_wait(p, ev, 4, 100000000);
            for (int j = 0; j < n; j++)
                found |= ev[j].token == 3;
        }
        CHECK(found);
        CHECK_EQ(sn_poller_del(p, a[0]), 0);
        CHECK_EQ(sn_poller_del(p, b[0]), 0);
        close(a[0]);
        close(a[1]);
        close(b[0]);
        close(b[1]);
        while (sn_poller_wait(p, ev, 4, 1000000) > 0)
            ;
    }
    CHECK_EQ(sn_uring_info(p, I_INFLIGHT), 1);
    sn_poller_close(p);
}

SN_TEST(uring_mod_drops_old_token_and_repolls)
{
    struct sn_poller *p;
    if (t_open(&p, 0) != 0)
        SKIP("no io_uring");
    int a[2], b[2];
    CHECK_EQ(pair(a), 0);
    CHECK_EQ(pair(b), 0);
    struct sn_event ev[4];
    /* edge -> edge, with the old registration's CQE still in the ring */
    CHECK_EQ(sn_poller_add(p, a[0], 1, SN_READ | SN_EDGE), 0);
    CHECK_EQ(sn_poller_add(p, b[0], 2, SN_READ | SN_EDGE), 0);
    CHECK_EQ(sn_poller_wait(p, ev, 4, 0), 0);
    CHECK_EQ(write(a[1], "x", 1), 1);
    CHECK_EQ(write(b[1], "y", 1), 1);
    CHECK_EQ(sn_poller_wait(p, ev, 1, 1000000000), 1);
    int other = ev[0].token == 1 ? b[0] : a[0];
    uint64_t old = ev[0].token == 1 ? 2 : 1;
    CHECK_EQ(sn_poller_mod(p, other, 10, SN_READ | SN_WRITE | SN_EDGE), 0);
    int n = collect(p, ev, 1, 1000);
    CHECK_EQ(n, 1);
    CHECK_EQ(ev[0].token, 10); /* re-polled with the new token, the old CQE gone */
    CHECK_EQ(ev[0].events & (SN_READ | SN_WRITE), SN_READ | SN_WRITE);
    CHECK_EQ(sn_poller_wait(p, ev, 4, 5000000), 0);
    (void)old;
    /* edge -> level -> oneshot -> edge on a readable fd: each mod reports it */
    static const unsigned modes[] = {SN_READ, SN_READ | SN_ONESHOT, SN_READ | SN_EDGE, SN_READ};
    for (size_t i = 0; i < SN_COUNTOF(modes); i++) {
        CHECK_EQ(sn_poller_mod(p, other, 20 + i, modes[i]), 0);
        CHECK_EQ(collect(p, ev, 1, 1000), 1);
        CHECK_EQ(ev[0].token, 20 + i);
        CHECK(ev[0].events & SN_READ);
        int again = sn_poller_wait(p, ev, 4, 5000000);
        CHECK_EQ(again, modes[i] == SN_READ ? 1 : 0); /* only level reports it again */
    }
    CHECK_EQ(sn_poller_del(p, a[0]), 0);
    CHECK_EQ(sn_poller_del(p, b[0]), 0);
    CHECK_EQ(sn_poller_wait(p, ev, 4, 1000000), 0);
    CHECK_EQ(sn_uring_info(p, I_INFLIGHT), 1);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    sn_poller_close(p);
}

/* del and mod while a wake-up of the poll waits to be processed (DEFER_TASKRUN
 * runs it at the next enter): POLL_REMOVE would say -EALREADY there and leave the
 * multishot poll running; the backend's cancel ends it. */
SN_TEST(uring_del_and_mod_while_a_wakeup_is_pending)
{
    struct sn_poller *p;
    if (t_open(&p, 0) != 0)
        SKIP("no io_uring");
    struct sn_event ev[4];
    for (int round = 0; round < 2; round++) {
        int sv[2];
        CHECK_EQ(pair(sv), 0);
        CHECK_EQ(sn_poller_add(p, sv[0], 1, SN_READ | SN_EDGE), 0);
        CHECK_EQ(sn_poller_wait(p, ev, 4, 0), 0); /* armed */
        CHECK_EQ(sn_uring_info(p, I_INFLIGHT), 2);
        CHECK_EQ(write(sv[1], "x", 1), 1); /* a wake-up, not yet processed */
        if (round == 0) {
            CHECK_EQ(sn_poller_del(p, sv[0]), 0);
            close(sv[1]); /* and another */
            CHECK_EQ(sn_poller_wait(p, ev, 4, 5000000), 0);
            CHECK_EQ(sn_poller_wait(p, ev, 4, 5000000), 0);
            CHECK_EQ(sn_uring_info(p, I_INFLIGHT), 1); /* the poll really ended */
        } else {
            CHECK_EQ(sn_poller_mod(p, sv[0], 2, SN_READ | SN_EDGE), 0);
            CHECK_EQ(collect(p, ev, 1, 1000), 1);
            CHECK_EQ(ev[0].token, 2);
            CHECK_EQ(sn_poller_wait(p, ev, 4, 5000000), 0);
            CHECK_EQ(sn_uring_info(p, I_INFLIGHT), 2); /* wake + the one new poll */
            CHECK_EQ(sn_poller_del(p, sv[0]), 0);
            CHECK_EQ(sn_poller_wait(p, ev, 4, 5000000), 0);
            CHECK_EQ(sn_uring_info(p, I_INFLIGHT), 1);
            close(sv[1]);
        }
        close(sv[0]);
    }
    sn_poller_close(p);
}

SN_TEST(uring_exclusive_registrations)
{
    struct sn_poller *p;
    if (t_open(&p, 0) != 0)
        SKIP("no io_uring");
    static const unsigned how[] = {SN_READ | SN_EXCLUSIVE, SN_READ | SN_EDGE | SN_EXCLUSIVE};
    for (size_t i = 0; i < SN_COUNTOF(how); i++) {
        int sv[2];
        CHECK_EQ(pair(sv), 0);
        CHECK_EQ(sn_poller_add(p, sv[0], 7, how[i]), 0);
        struct sn_event ev[4];
        CHECK_EQ(sn_poller_wait(p, ev, 4, 1000000), 0);
        CHECK_EQ(shutdown(sv[1], SHUT_WR), 0);
        CHECK_EQ(collect(p, ev, 1, 1000), 1);
        CHECK_EQ(ev[0].token, 7);
        CHECK_EQ(ev[0].events, SN_READ); /* no RDHUP with EXCLUSIVE, as on epoll */
        CHECK_EQ(sn_poller_mod(p, sv[0], 8, SN_READ), -EINVAL);
        CHECK_EQ(sn_poller_del(p, sv[0]), 0);
        close(sv[0]);
        close(sv[1]);
    }
    struct sn_event ev[4];
    CHECK_EQ(sn_poller_wait(p, ev, 4, 1000000), 0);
    CHECK_EQ(sn_uring_info(p, I_INFLIGHT), 1);
    sn_poller_close(p);
}

/* ---- readiness semantics particular to poll requests --------------------------------- */

/* The kernel adds EPOLLRDHUP to every poll request; with SN_WRITE alone on a
 * half-closed socket whose send buffer is full, a single-shot poll would fire on
 * it at once, forever. The backend parks such a registration instead. */
SN_TEST(uring_level_write_only_does_not_spin_on_rdhup)
{
    struct sn_poller *p;
    if (t_open(&p, 0) != 0)
        SKIP("no io_uring");
    int sv[2];
    CHECK_EQ(pair(sv), 0);
    char junk[4096];
    memset(junk, 'j', sizeof(junk));
    while (write(sv[0], junk, sizeof(junk)) > 0)
        ;
    CHECK_EQ(shutdown(sv[1], SHUT_WR), 0);
    CHECK_EQ(sn_poller_add(p, sv[0], 5, SN_WRITE), 0);
    struct sn_event ev[4];
    uint64_t t0 = sn_now_ns();
    CHECK_EQ(sn_poller_wait(p, ev, 4, 30000000), 0);
    CHECK(sn_now_ns() - t0 >= 30000000u);
    CHECK_EQ(sn_poller_wait(p, ev, 4, 0), 0);
    /* room again: reported, and (level) again */
    while (read(sv[1], junk, sizeof(junk)) > 0)
        ;
    CHECK_EQ(collect(p, ev, 1, 1000), 1);
    CHECK_EQ(ev[0].token, 5);
    CHECK_EQ(ev[0].events, SN_WRITE);
    CHECK_EQ(sn_poller_wait(p, ev, 4, 1000000), 1);
    CHECK_EQ(ev[0].events, SN_WRITE);
    CHECK_EQ(sn_poller_del(p, sv[0]), 0);
    close(sv[0]);
    close(sv[1]);
    sn_poller_close(p);
}

/* The events of a poll request map as epoll reports the same states. */
SN_TEST(uring_poll_mask_maps_like_epoll)
{
    struct sn_poller *p;
    if (t_open(&p, 0) != 0)
        SKIP("no io_uring");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0);
    for (int state = 0; state < 4; state++) {
        int sv[2];
        CHECK_EQ(pair(sv), 0);
        if (state >= 1)
            CHECK_EQ(write(sv[1], "d", 1), 1);
        if (state == 2)
            CHECK_EQ(shutdown(sv[1], SHUT_WR), 0);
        if (state == 3)
            close(sv[1]);
        struct epoll_event ee = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.u64 = 0};
        CHECK_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ee), 0);
        CHECK_EQ(epoll_wait(ep, &ee, 1, 1000), 1);
        unsigned want = 0;
        if (ee.events & EPOLLIN)
            want |= SN_READ;
        if (ee.events & EPOLLOUT)
            want |= SN_WRITE;
        if (ee.events & EPOLLHUP)
            want |= SN_HUP;
        if (ee.events & EPOLLRDHUP)
            want |= SN_RDHUP;
        if (ee.events & EPOLLERR)
            want |= SN_ERR;
        CHECK_EQ(epoll_ctl(ep, EPOLL_CTL_DEL, sv[0], NULL), 0);
        CHECK_EQ(sn_poller_add(p, sv[0], 1, SN_READ | SN_WRITE), 0);
        struct sn_event ev[2];
        CHECK_EQ(sn_poller_wait(p, ev, 2, 1000000000), 1);
        CHECK_EQ(ev[0].events, want);
        CHECK_EQ(sn_poller_del(p, sv[0]), 0);
        close(sv[0]);
        if (state != 3)
            close(sv[1]);
    }
    close(ep);
    sn_poller_close(p);
}

/* Two arrivals before a wait: one edge event (merged, as epoll has one ready entry). */
SN_TEST(uring_edge_events_of_one_fd_merge)
{
    struct sn_poller *p;
    if (t_open(&p, 0) != 0)
        SKIP("no io_uring");
    int sv[2];
    CHECK_EQ(pair(sv), 0);
    CHECK_EQ(sn_poller_add(p, sv[0], 1, SN_READ | SN_WRITE | SN_EDGE), 0);
    struct sn_event ev[8];
    CHECK_EQ(sn_poller_wait(p, ev, 8, 1000000000), 1);
    CHECK_EQ(ev[0].events, SN_WRITE);
    CHECK_EQ(write(sv[1], "a", 1), 1);
    CHECK_EQ(write(sv[1], "b", 1), 1);
    CHECK_EQ(shutdown(sv[1], SHUT_WR), 0);
    CHECK_EQ(sn_poller_wait(p, ev, 8, 1000000000), 1);
    CHECK(ev[0].events & SN_READ);
    CHECK(ev[0].events & SN_RDHUP);
    CHECK_EQ(sn_poller_wait(p, ev, 8, 5000000), 0);
    close(sv[0]);
    close(sv[1]);
    sn_poller_close(p);
}

/* ---- EBUSY -------------------------------------------------------------------------- */

SN_TEST(uring_fd_used_both_ways_is_busy)
{
    struct sn_poller *p;
    if (t_open(&p, 0) != 0)
        SKIP("no io_uring");
    int sv[2];
    CHECK_EQ(pair(sv), 0);
    char buf[8];
    CHECK_EQ(sn_poller_add(p, sv[0], 1, SN_READ), 0);
    CHECK_EQ(sn_poller_recv(p, sv[0], 2, buf, sizeof(buf)), -EBUSY);
    CHECK_EQ(sn_poller_del(p, sv[0]), 0);
    int64_t id = sn_poller_recv(p, sv[0], 2, buf, sizeof(buf));
    CHECK(id >= 0);
    CHECK_EQ(sn_poller_add(p, sv[0], 1, SN_READ), -EBUSY);
    CHECK_EQ(sn_poller_cancel(p, id), 0);
    struct sn_event ev[2];
    CHECK_EQ(collect(p, ev, 1, 1000), 1);
    CHECK_EQ(sn_poller_add(p, sv[0], 1, SN_READ), 0); /* free again */
    CHECK_EQ(sn_poller_add(p, 999999, 1, SN_READ), -EBADF);
    CHECK_EQ(sn_poller_del(p, sv[0]), 0);
    close(sv[0]);
    close(sv[1]);
    sn_poller_close(p);
}

/* ---- connect ------------------------------------------------------------------------- */

SN_TEST(uring_connect_address_copied)
{
    struct sn_poller *p;
    if (t_open(&p, 0) != 0)
        SKIP("no io_uring");
    struct sockaddr_in sa;
    int lfd = listener(&sa, 8);
    CHECK(lfd >= 0);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CHECK(c >= 0);
    struct sockaddr_in tmp = sa;
    int64_t id = sn_poller_connect(p, c, 3, (struct sockaddr *)&tmp, sizeof(tmp));
    CHECK(id >= 0);
    memset(&tmp, 0xff, sizeof(tmp)); /* the caller's copy may go at once */
    struct sn_event ev[2];
    CHECK_EQ(collect(p, ev, 1, 2000), 1);
    CHECK_EQ(ev[0].id, id);
    CHECK_EQ(ev[0].op, SN_OP_CONNECT);
    CHECK_EQ(ev[0].res, 0);
    close(c);
    /* refused: a port nobody listens on (the listener's, once closed) */
    close(lfd);
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CHECK(c >= 0);
    id = sn_poller_connect(p, c, 4, (struct sockaddr *)&sa, sizeof(sa));
    CHECK(id >= 0);
    CHECK_EQ(collect(p, ev, 1, 2000), 1);
    CHECK_EQ(ev[0].res, -ECONNREFUSED);
    close(c);
    sn_poller_close(p);
}

/* ---- wake, signals, threads ------------------------------------------------------------ */

struct waker {
    struct sn_poller *p;
    int delay_ms;
    int sig;
    pthread_t target;
};

static void *waker_main(void *arg)
{
    struct waker *w = arg;
    usleep((useconds_t)w->delay_ms * 1000);
    if (w->sig)
        pthread_kill(w->target, w->sig);
    else
        sn_poller_wake(w->p);
    return NULL;
}

static void on_usr1(int sig) { (void)sig; }

SN_TEST(uring_wake_and_eintr)
{
    struct sn_poller *p;
    if (t_open(&p, 0) != 0)
        SKIP("no io_uring");
    struct sn_event ev[4];
    /* coalesced: three wakes, one return */
    CHECK_EQ(sn_poller_wake(p), 0);
    CHECK_EQ(sn_poller_wake(p), 0);
    CHECK_EQ(sn_poller_wake(p), 0);
    CHECK_EQ(sn_poller_wait(p, ev, 4, -1), 0);
    uint64_t t0 = sn_now_ns();
    CHECK_EQ(sn_poller_wait(p, ev, 4, 20000000), 0);
    CHECK(sn_now_ns() - t0 >= 20000000u);
    /* from another thread, into a wait without end */
    struct waker w = {.p = p, .delay_ms = 20};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, waker_main, &w), 0);
    CHECK_EQ(sn_poller_wait(p, ev, 4, -1), 0);
    pthread_join(th, NULL);
    /* a signal: -EINTR, with and without SQEs submitted by the same enter */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    CHECK_EQ(sigaction(SIGUSR1, &sa, &old), 0);
    int sv[2];
    CHECK_EQ(pair(sv), 0);
    char buf[4];
    for (int with_sqe = 0; with_sqe < 2; with_sqe++) {
        int64_t id = -1;
        if (with_sqe) {
            id = sn_poller_recv(p, sv[0], 1, buf, sizeof(buf));
            CHECK(id >= 0);
        }
        struct waker s = {.delay_ms = 20, .sig = SIGUSR1, .target = pthread_self()};
        CHECK_EQ(pthread_create(&th, NULL, waker_main, &s), 0);
        int rc = sn_poller_wait(p, ev, 4, 5000000000);
        pthread_join(th, NULL);
        CHECK_EQ(rc, -EINTR);
        if (with_sqe) {
            CHECK_EQ(sn_poller_cancel(p, id), 0);
            CHECK_EQ(collect(p, ev, 1, 1000), 1);
            CHECK_EQ(ev[0].res, -ECANCELED);
        }
    }
    sigaction(SIGUSR1, &old, NULL);
    close(sv[0]);
    close(sv[1]);
    sn_poller_close(p);
}

struct user_thread {
    struct sn_poller *p;
    const char *why;
};

static void *user_main(void *arg)
{
    struct user_thread *t = arg;
    t->why = workload(t->p);
    return NULL;
}

/* Opened on one thread, used on another (SINGLE_ISSUER binds the ring to the
 * thread that first uses it), closed on the first. */
SN_TEST(uring_open_here_use_there)
{
    struct sn_poller *p;
    if (t_open(&p, 0) != 0)
        SKIP("no io_uring");
    struct user_thread t = {.p = p};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, user_main, &t), 0);
    pthread_join(th, NULL);
    if (t.why)
        printf("  workload: %s\n", t.why);
    CHECK(t.why == NULL);
    sn_poller_close(p);
}

/* ---- close with operations in flight --------------------------------------------------- */

SN_TEST(uring_close_with_ops_in_flight)
{
    int base = lowest_free_fd();
    int nfd = fd_count();
    for (int round = 0; round < 3; round++) {
        struct sn_poller *p;
        if (t_open(&p, round == 2 ? 4 : 0) != 0)
            SKIP("no io_uring");
        struct sockaddr_in sa;
        int lfd = listener(&sa, 64);
        CHECK(lfd >= 0);
        int sv[2], rd[2];
        CHECK_EQ(pair(sv), 0);
        CHECK_EQ(pair(rd), 0);
        struct sn_bufgroup *g;
        CHECK_EQ(sn_bufgroup_open(p, &g, 8, 128), 0);
        char *buf = malloc(256);
        CHECK(buf != NULL);
        CHECK(sn_poller_recv(p, sv[0], 1, buf, 256) >= 0);
        CHECK(sn_poller_recv_group(p, rd[0], 2, g, SN_MULTISHOT) >= 0);
        CHECK(sn_poller_accept(p, lfd, 3, SN_MULTISHOT) >= 0);
        CHECK(sn_poller_timeout(p, 4, 60000000000) >= 0);
        CHECK_EQ(sn_poller_add(p, rd[1], 5, SN_READ | SN_EDGE), 0);
        int c1 = connect_to(&sa); /* its accept completes during close, if not before */
        CHECK(c1 >= 0);
        if (round == 1) {
            struct sn_event ev[8];
            int n = sn_poller_wait(p, ev, 8, 0);
            CHECK(n >= 0);
            for (int i = 0; i < n; i++) /* accepted fds that came back are ours */
                if (ev[i].op == SN_OP_ACCEPT && ev[i].res >= 0)
                    close(ev[i].res);
        }
        uint64_t t0 = sn_now_ns();
        sn_bufgroup_close(g);
        sn_poller_close(p); /* not submitted yet (rounds 0, 2) or in the kernel (1) */
        CHECK(sn_now_ns() - t0 < 2000000000u);
        /* the kernel holds nothing of ours: data now goes nowhere near buf */
        free(buf);
        CHECK_EQ(write(sv[1], "late", 4), 4);
        CHECK_EQ(write(rd[1], "late", 4), 4);
        char tmp[8];
        CHECK_EQ(read(sv[0], tmp, sizeof(tmp)), 4);
        CHECK_EQ(read(rd[0], tmp, sizeof(tmp)), 4);
        close(c1);
        close(lfd);
        close(sv[0]);
        close(sv[1]);
        close(rd[0]);
        close(rd[1]);
    }
    CHECK_EQ(lowest_free_fd(), base);
    CHECK_EQ(fd_count(), nfd);
}
