/* src/loop/uring.c — the io_uring backend: the rings set up and driven with the
 * raw system calls (io_uring_setup / io_uring_enter / io_uring_register, no
 * liburing), readiness on poll requests, completions native, provided-buffer
 * rings for recv into a group.
 * Sources: include/uapi/linux/io_uring.h; io_uring/{io_uring,poll,net,kbuf,
 * cancel,timeout}.c; io_uring_setup(2), io_uring_enter(2), io_uring_register(2);
 * Jens Axboe, "Efficient IO with io_uring" (2019).
 *
 * user_data, the 64 bits the kernel hands back in each CQE:
 *
 *     63      56 55                 32 31                     0
 *     [  kind   |  generation (24 bit) |  index (32 bit)       ]
 *
 *   K_OP      index = slot in the operation slab, generation = the slot's; the
 *             operation id given to the caller is the low 56 bits (>= 0).
 *   K_POLL    index = fd, generation = the fd's registration generation. add, mod
 *             and del bump it, so a CQE of an older poll (still in the CQ, or
 *             posted while its removal was on the way) is recognised and dropped.
 *   K_WAKE    the poll on the wake eventfd.
 *   K_IGNORE  requests whose CQE nobody wants (the cancels).
 *   K_CANCEL_ALL  close's cancellation of everything.
 *
 * Readiness with poll requests (epoll's three modes over io_uring's two):
 *   edge     one multishot POLL_ADD (edge triggered in the kernel: a CQE per
 *            wake-up). If the kernel ends it (CQ overflow), it is re-armed.
 *   level    a single-shot POLL_ADD, re-armed at the start of the next wait after
 *            its event was returned: a single-shot poll on a ready fd completes at
 *            once, so a fd that is still ready is reported again, as epoll does.
 *            (IORING_POLL_ADD_LEVEL is refused with -EINVAL: level-triggered
 *            multishot poll is not implemented by the kernel, tested on 6.18.)
 *   oneshot  a single-shot POLL_ADD not re-armed until mod.
 *   The kernel always adds EPOLLERR|EPOLLHUP|EPOLLRDHUP to a poll's mask; bits the
 *   caller did not ask for are not reported. A single-shot poll that fired with
 *   only such bits (SN_WRITE alone on a half-closed socket) would fire again at
 *   once when re-armed, so it is "parked" on a multishot poll until a wake-up
 *   brings something the caller asked for.
 *
 * Memory ordering on the shared ring words (C11 atomics on the mmap'd words):
 *   SQ: we write SQEs with plain stores, then store the SQ tail with release, so
 *       the kernel, which loads the tail with acquire (smp_load_acquire), sees the
 *       SQE contents; we load the SQ head with acquire before reusing a slot the
 *       kernel has released.
 *   CQ: the kernel fills a CQE then stores the CQ tail with release; we load the
 *       tail with acquire before reading CQEs, and store the CQ head with release
 *       after copying a CQE out, so the kernel does not overwrite a slot we are
 *       still reading.
 *   Buffer rings: entries are written, then the ring's tail is stored with release
 *       (the kernel loads it with acquire in io_ring_buffer_select).
 *   With no SQPOLL thread the kernel reads the SQ only inside io_uring_enter, but
 *   the CQ and buffer rings are read/written by the kernel at any time.
 */
#include "poller_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Constants newer than the oldest UAPI header we build against. */
#ifndef EPOLLEXCLUSIVE
#define EPOLLEXCLUSIVE (1u << 28)
#endif
#ifndef IORING_SETUP_SUBMIT_ALL
#define IORING_SETUP_SUBMIT_ALL (1u << 7)
#endif
#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1u << 8)
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1u << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1u << 13)
#endif
#ifndef IORING_ASYNC_CANCEL_ALL
#define IORING_ASYNC_CANCEL_ALL (1u << 0)
#endif
#ifndef IORING_ASYNC_CANCEL_ANY
#define IORING_ASYNC_CANCEL_ANY (1u << 2)
#endif
#ifndef IORING_RECV_MULTISHOT
#define IORING_RECV_MULTISHOT (1u << 1)
#endif
#ifndef IORING_ACCEPT_MULTISHOT
#define IORING_ACCEPT_MULTISHOT (1u << 0)
#endif
#ifndef IORING_REGISTER_ENABLE_RINGS
#define IORING_REGISTER_ENABLE_RINGS 12
#endif

/* ---- user_data ----------------------------------------------------------- */

enum { K_OP = 1, K_POLL, K_WAKE, K_IGNORE, K_CANCEL_ALL };

#define GEN_MASK 0xffffffu

static inline uint64_t ud_make(unsigned kind, uint32_t gen, uint32_t idx)
{
    return (uint64_t)kind << 56 | (uint64_t)(gen & GEN_MASK) << 32 | idx;
}
static inline unsigned ud_kind(uint64_t ud) { return (unsigned)(ud >> 56); }
static inline uint32_t ud_gen(uint64_t ud) { return (uint32_t)(ud >> 32) & GEN_MASK; }
static inline uint32_t ud_idx(uint64_t ud) { return (uint32_t)ud; }

/* ---- state ----------------------------------------------------------------- */

enum { M_LEVEL, M_EDGE, M_ONESHOT };          /* readiness mode of a registration */
enum { ARM_NONE, ARM_SINGLE, ARM_MULTI };     /* the poll request we have in the kernel */

struct fdrec {
    uint64_t token;
    uint32_t gen;        /* current generation; CQEs of other generations are stale */
    uint32_t batch;      /* the wait call that last reported this fd ... */
    uint32_t slot;       /* ... in ev[slot] (events of one fd are merged, as epoll does) */
    uint32_t nops;       /* completion operations on this fd, queued or in the kernel */
    struct opq { uint32_t head, tail; } rq, wq; /* recv/accept, send/connect: FIFO */
    int next;            /* re-arm list link */
    unsigned interest;
    uint8_t registered, mode, armed, parked, fired, listed, exclusive;
};

#define OPS_CHUNK 256u   /* records never move (the kernel may hold pointers into them) */
#define NO_OP UINT32_MAX

enum { OP_FREE, OP_QUEUED, OP_KERNEL, OP_DONE };

struct oprec {
    uint64_t token;
    void *buf;           /* recv / send */
    size_t len;
    struct sn_bufgroup *group; /* recv into a group */
    int msg_flags;
    int fd;              /* -1 for a timeout, or a fd the kernel will refuse */
    uint32_t gen;
    uint32_t next;       /* free list, fd queue or done list link */
    int32_t res;         /* OP_DONE: the result to deliver */
    uint8_t op, flags, state, cancelling;
    uint8_t queued;      /* in a queue of fds[fd] */
    union {
        struct __kernel_timespec ts;  /* timeout: read by the kernel at submit */
        struct sockaddr_storage sa;   /* connect: the caller's address, copied */
    } u;
};

struct uring {
    struct sn_poller base;
    int ring_fd, wake_fd;
    unsigned setup_flags, features;
    int enabled;                      /* R_DISABLED rings: enabled by the first user */
    pid_t creator, issuer;            /* threads the kernel tracks as users of the ring */
    /* submission queue */
    _Atomic uint32_t *sq_head, *sq_tail, *sq_flags;
    uint32_t *sq_array;
    uint32_t sq_mask, sq_entries, sq_tail_local;
    struct io_uring_sqe *sqes;
    /* completion queue */
    _Atomic uint32_t *cq_head, *cq_tail;
    struct io_uring_cqe *cqes;
    uint32_t cq_mask, cq_entries;
    /* mappings */
    void *sq_map, *cq_map, *sqe_map;
    size_t sq_map_len, cq_map_len, sqe_map_len;
    /* requests submitted or queued whose final CQE has not been seen */
    uint64_t inflight;
    uint64_t cqes_seen;
    uint32_t batch;                   /* wait calls so far */
    /* readiness */
    struct fdrec *fds;
    unsigned nfds;
    int rearm_now, rearm_next;        /* lists of fds to re-arm: now / at the next wait */
    /* wake */
    atomic_int wake_pending;
    int wake_armed;
    /* operations */
    struct oprec **chunks;
    unsigned nchunks, cap_chunks;
    uint32_t free_op;
    uint32_t done_head, done_tail;    /* completed without the kernel (cancelled while queued) */
    int closing;
    /* buffer groups, for close */
    struct sn_bufgroup **groups;
    unsigned ngroups, cap_groups;
};

static inline struct uring *U(struct sn_poller *p) { return (struct uring *)(void *)p; }
static inline const struct uring *CU(const struct sn_poller *p)
{
    return (const struct uring *)(const void *)p;
}

/* ---- system calls ---------------------------------------------------------- */

static int sys_setup(unsigned entries, struct io_uring_params *prm)
{
    long r = syscall(__NR_io_uring_setup, entries, prm);
    return r < 0 ? -errno : (int)r;
}

static int ensure_enabled(struct uring *u)
{
    if (u->enabled)
        return 0;
    /* SINGLE_ISSUER binds the ring to the task that enables it: the thread that
     * first uses the poller, which need not be the one that opened it. */
    long r = syscall(__NR_io_uring_register, u->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    if (r < 0)
        return -errno;
    u->enabled = 1;
    u->issuer = gettid();
    return 0;
}

static int ring_register(struct uring *u, unsigned op, void *arg, unsigned nr)
{
    int rc = ensure_enabled(u);
    if (rc < 0)
        return rc;
    long r = syscall(__NR_io_uring_register, u->ring_fd, op, arg, nr);
    return r < 0 ? -errno : (int)r;
}

static inline uint32_t sq_pending(const struct uring *u)
{
    return u->sq_tail_local - atomic_load_explicit(u->sq_head, memory_order_acquire);
}

/* io_uring_enter: submit `submit` SQEs; with IORING_ENTER_GETEVENTS also run the
 * completion work and wait for min_complete CQEs, at most *ts (relative, through
 * IORING_ENTER_EXT_ARG: nanosecond resolution, never early). */
static int ring_enter(struct uring *u, unsigned submit, unsigned min_complete, unsigned flags,
                      const struct __kernel_timespec *ts)
{
    int rc = ensure_enabled(u);
    if (rc < 0)
        return rc;
    /* release: the SQE contents are visible before the new tail */
    atomic_store_explicit(u->sq_tail, u->sq_tail_local, memory_order_release);
    struct io_uring_getevents_arg arg;
    void *argp = NULL;
    size_t argsz = 0;
    if (ts) {
        memset(&arg, 0, sizeof(arg));
        arg.ts = (uint64_t)(uintptr_t)ts;
        flags |= IORING_ENTER_EXT_ARG;
        argp = &arg;
        argsz = sizeof(arg);
    }
    long r = syscall(__NR_io_uring_enter, u->ring_fd, submit, min_complete, flags, argp, argsz);
    return r < 0 ? -errno : (int)r;
}

/* Push every queued SQE to the kernel. The number submitted or -errno. */
static int sq_submit(struct uring *u)
{
    int total = 0;
    for (;;) {
        uint32_t pending = sq_pending(u);
        if (!pending)
            return total;
        int rc = ring_enter(u, pending, 0, 0, NULL);
        if (rc == -EINTR)
            continue;
        if (rc < 0)
            return total ? total : rc;
        if (rc == 0)
            return total;
        /* Without SUBMIT_ALL the kernel stops at an SQE that fails (its error is
         * posted as its CQE); go on with the rest. */
        total += rc;
    }
}

/* The next free SQE, zeroed. SQ full: submit what is queued and retry. */
static struct io_uring_sqe *sqe_get(struct uring *u, int *err)
{
    if (u->sq_tail_local - atomic_load_explicit(u->sq_head, memory_order_acquire) >=
        u->sq_entries) {
        int rc = sq_submit(u);
        if (rc < 0) {
            *err = rc;
            return NULL;
        }
        if (sq_pending(u) >= u->sq_entries) {
            *err = -EAGAIN;
            return NULL;
        }
    }
    struct io_uring_sqe *s = &u->sqes[u->sq_tail_local & u->sq_mask];
    memset(s, 0, sizeof(*s));
    u->sq_tail_local++;
    u->inflight++;
    return s;
}

/* ---- setup ------------------------------------------------------------------- */

/* Setup flags, newest first: on EINVAL (a kernel that predates one) the newest
 * remaining one is dropped and the setup tried again.
 *   DEFER_TASKRUN (6.1)  completion work runs only when we ask for events
 *                        (io_uring_enter with GETEVENTS), in a batch, in our
 *                        thread, instead of at any kernel entry. Needs SINGLE_ISSUER.
 *   SINGLE_ISSUER (6.0)  one task submits (our thread rule): the kernel skips
 *                        submission locking. With it we add R_DISABLED (5.10) so
 *                        that the issuer is the thread that first uses the poller.
 *   COOP_TASKRUN (5.19)  no inter-processor interrupt to run completion work while
 *                        we are in user space; it runs at our next io_uring_enter,
 *                        which every wait makes anyway.
 *   SUBMIT_ALL (5.18)    one SQE that fails at submit (a bad fd) does not stop the
 *                        rest of the batch; its error comes back as its CQE.
 *   CLAMP (5.6, kept)    entries beyond the kernel's maximum are clamped. */
static const unsigned setup_ladder[] = {
    IORING_SETUP_DEFER_TASKRUN,
    IORING_SETUP_SINGLE_ISSUER,
    IORING_SETUP_COOP_TASKRUN,
    IORING_SETUP_SUBMIT_ALL,
};

static int ring_setup(struct uring *u, unsigned entries, unsigned refuse, struct io_uring_params *prm)
{
    unsigned want = IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
                    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL;
    for (size_t i = 0;; i++) {
        unsigned flags = want | IORING_SETUP_CLAMP;
        if (want & IORING_SETUP_SINGLE_ISSUER)
            flags |= IORING_SETUP_R_DISABLED;
        memset(prm, 0, sizeof(*prm));
        prm->flags = flags;
        /* refuse: a test hook that makes flags look unknown, as on an older kernel */
        int fd = (flags & refuse) ? -EINVAL : sys_setup(entries, prm);
        if (fd >= 0) {
            u->ring_fd = fd;
            u->setup_flags = flags;
            u->features = prm->features;
            u->enabled = !(flags & IORING_SETUP_R_DISABLED);
            u->creator = u->issuer = gettid();
            return 0;
        }
        /* ENOSYS (no io_uring), EPERM (kernel.io_uring_disabled, seccomp), ENOMEM
         * (memlock on old kernels) are final; only EINVAL means "try less". */
        if (fd != -EINVAL || i == SN_COUNTOF(setup_ladder))
            return fd;
        want &= ~setup_ladder[i];
    }
}

static int ring_map(struct uring *u, const struct io_uring_params *prm)
{
    size_t sq_len = prm->sq_off.array + prm->sq_entries * sizeof(uint32_t);
    size_t cq_len = prm->cq_off.cqes + prm->cq_entries * sizeof(struct io_uring_cqe);
    int single = (prm->features & IORING_FEAT_SINGLE_MMAP) != 0;
    if (single) /* 5.4: one mapping holds both rings */
        sq_len = cq_len = SN_MAX(sq_len, cq_len);
    void *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->ring_fd,
                    (off_t)IORING_OFF_SQ_RING);
    if (sq == MAP_FAILED)
        return -errno;
    u->sq_map = sq;
    u->sq_map_len = sq_len;
    void *cq = sq;
    if (!single) {
        cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->ring_fd,
                  (off_t)IORING_OFF_CQ_RING);
        if (cq == MAP_FAILED)
            return -errno;
        u->cq_map = cq;
        u->cq_map_len = cq_len;
    }
    size_t sqe_len = prm->sq_entries * sizeof(struct io_uring_sqe);
    void *sqes = mmap(NULL, sqe_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->ring_fd,
                      (off_t)IORING_OFF_SQES);
    if (sqes == MAP_FAILED)
        return -errno;
    u->sqe_map = sqes;
    u->sqe_map_len = sqe_len;

    uint8_t *s = sq, *c = cq;
    u->sq_head = (_Atomic uint32_t *)(void *)(s + prm->sq_off.head);
    u->sq_tail = (_Atomic uint32_t *)(void *)(s + prm->sq_off.tail);
    u->sq_flags = (_Atomic uint32_t *)(void *)(s + prm->sq_off.flags);
    u->sq_array = (uint32_t *)(void *)(s + prm->sq_off.array);
    u->sq_mask = *(uint32_t *)(void *)(s + prm->sq_off.ring_mask);
    u->sq_entries = *(uint32_t *)(void *)(s + prm->sq_off.ring_entries);
    u->sqes = sqes;
    u->cq_head = (_Atomic uint32_t *)(void *)(c + prm->cq_off.head);
    u->cq_tail = (_Atomic uint32_t *)(void *)(c + prm->cq_off.tail);
    u->cqes = (struct io_uring_cqe *)(void *)(c + prm->cq_off.cqes);
    u->cq_mask = *(uint32_t *)(void *)(c + prm->cq_off.ring_mask);
    u->cq_entries = *(uint32_t *)(void *)(c + prm->cq_off.ring_entries);
    /* The indirection array maps SQ slot i to SQE i, once: SQEs are used in order. */
    for (uint32_t i = 0; i < u->sq_entries; i++)
        u->sq_array[i] = i;
    u->sq_tail_local = atomic_load_explicit(u->sq_tail, memory_order_relaxed);
    return 0;
}

/* ---- the fd table and the re-arm lists ------------------------------------- */

static int fd_reserve(struct uring *u, int fd)
{
    if ((unsigned)fd < u->nfds)
        return 0;
    unsigned n = u->nfds ? u->nfds : 64;
    while (n <= (unsigned)fd)
        n *= 2;
    struct fdrec *t = realloc(u->fds, (size_t)n * sizeof(*t));
    if (!t)
        return -ENOMEM;
    memset(t + u->nfds, 0, (size_t)(n - u->nfds) * sizeof(*t));
    for (unsigned i = u->nfds; i < n; i++) {
        t[i].next = -1;
        t[i].rq.head = t[i].rq.tail = t[i].wq.head = t[i].wq.tail = NO_OP;
    }
    u->fds = t;
    u->nfds = n;
    return 0;
}

static inline struct fdrec *fd_get(struct uring *u, int fd)
{
    return fd >= 0 && (unsigned)fd < u->nfds ? &u->fds[fd] : NULL;
}

static void list_push(struct uring *u, int *head, int fd)
{
    struct fdrec *f = &u->fds[fd];
    if (f->listed)
        return;
    f->listed = 1;
    f->next = *head;
    *head = fd;
}

static inline uint32_t poll_events(unsigned interest, int exclusive)
{
    uint32_t e = 0;
    if (interest & SN_READ) /* as epoll.c: RDHUP with READ, but not with EXCLUSIVE */
        e |= POLLIN | (exclusive ? 0 : POLLRDHUP);
    if (interest & SN_WRITE)
        e |= POLLOUT;
    if (exclusive)
        e |= EPOLLEXCLUSIVE;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    e = e << 16 | e >> 16; /* poll32_events is word-swapped on big endian */
#endif
    return e;
}

/* The kernel's poll mask -> SN_* events, as the epoll backend maps EPOLL* bits,
 * keeping only what the caller asked for (plus HUP and ERR, always reported). */
static inline uint32_t report_mask(int32_t res, unsigned interest)
{
    uint32_t r = (uint32_t)res, m = 0;
    if ((r & POLLIN) && (interest & SN_READ))
        m |= SN_READ;
    if ((r & POLLOUT) && (interest & SN_WRITE))
        m |= SN_WRITE;
    if ((r & POLLRDHUP) && (interest & SN_READ) && !(interest & SN_EXCLUSIVE))
        m |= SN_RDHUP;
    if (r & POLLHUP)
        m |= SN_HUP;
    if (r & (POLLERR | POLLNVAL))
        m |= SN_ERR;
    return m;
}

static inline int fd_mode(unsigned interest)
{
    if (interest & SN_ONESHOT)
        return M_ONESHOT;
    return (interest & SN_EDGE) ? M_EDGE : M_LEVEL;
}

static int poll_arm(struct uring *u, int fd, struct fdrec *f, int multishot)
{
    int err = 0;
    struct io_uring_sqe *s = sqe_get(u, &err);
    if (!s)
        return err;
    s->opcode = IORING_OP_POLL_ADD;
    s->fd = fd;
    s->poll32_events = poll_events(f->interest, f->exclusive);
    s->len = multishot ? IORING_POLL_ADD_MULTI : 0;
    s->user_data = ud_make(K_POLL, f->gen, (uint32_t)fd);
    f->armed = multishot ? ARM_MULTI : ARM_SINGLE;
    return 0;
}

static int cancel_ud(struct uring *u, uint64_t target)
{
    int err = 0;
    struct io_uring_sqe *s = sqe_get(u, &err);
    if (!s)
        return err;
    s->opcode = IORING_OP_ASYNC_CANCEL;
    s->fd = -1;
    s->addr = target;
    s->user_data = ud_make(K_IGNORE, 0, 0); /* its CQE is nobody's business */
    return 0;
}

/* End the poll we have armed; its CQEs are stale once the generation moves on.
 * ASYNC_CANCEL, not POLL_REMOVE: POLL_REMOVE needs to take ownership of the poll
 * and says -EALREADY while a wake-up of it is being processed (a multishot poll
 * then goes on forever); a cancel marks the poll and its owner ends it. */
static void poll_disarm(struct uring *u, int fd, struct fdrec *f)
{
    if (f->armed == ARM_NONE)
        return;
    (void)cancel_ud(u, ud_make(K_POLL, f->gen, (uint32_t)fd));
    /* No SQE (the kernel refuses submissions): the poll stays until close, its
     * CQEs dropped by generation. */
    f->armed = ARM_NONE;
}

/* Arm the fds of a re-arm list according to their state now. */
static void rearm_list(struct uring *u, int *head)
{
    while (*head >= 0) {
        int fd = *head;
        struct fdrec *f = &u->fds[fd];
        if (f->registered && f->armed == ARM_NONE && !f->fired) {
            if (poll_arm(u, fd, f, f->mode == M_EDGE || f->parked) < 0)
                return; /* the SQ is stuck: leave the rest for the next wait */
        }
        *head = f->next;
        f->next = -1;
        f->listed = 0;
    }
}

static void wake_arm(struct uring *u)
{
    int err = 0;
    struct io_uring_sqe *s = sqe_get(u, &err);
    if (!s)
        return;
    s->opcode = IORING_OP_POLL_ADD;
    s->fd = u->wake_fd;
    s->poll32_events = poll_events(SN_READ, 0);
    s->len = IORING_POLL_ADD_MULTI;
    s->user_data = ud_make(K_WAKE, 0, 0);
    u->wake_armed = 1;
}

/* ---- the operation slab ---------------------------------------------------- */

static inline struct oprec *op_at(const struct uring *u, uint32_t idx)
{
    if (idx / OPS_CHUNK >= u->nchunks)
        return NULL;
    return &u->chunks[idx / OPS_CHUNK][idx % OPS_CHUNK];
}

static int op_grow(struct uring *u)
{
    if (u->nchunks == u->cap_chunks) {
        unsigned cap = u->cap_chunks ? u->cap_chunks * 2 : 4;
        struct oprec **c = realloc(u->chunks, cap * sizeof(*c));
        if (!c)
            return -ENOMEM;
        u->chunks = c;
        u->cap_chunks = cap;
    }
    struct oprec *chunk = calloc(OPS_CHUNK, sizeof(*chunk));
    if (!chunk)
        return -ENOMEM;
    uint32_t base = u->nchunks * OPS_CHUNK;
    u->chunks[u->nchunks++] = chunk;
    for (uint32_t i = OPS_CHUNK; i-- > 0;) {
        chunk[i].gen = 1;
        chunk[i].next = u->free_op;
        u->free_op = base + i;
    }
    return 0;
}

static struct oprec *op_alloc(struct uring *u, uint32_t *idx)
{
    if (u->free_op == NO_OP && op_grow(u) < 0)
        return NULL;
    *idx = u->free_op;
    struct oprec *r = op_at(u, *idx);
    u->free_op = r->next;
    r->next = NO_OP;
    r->cancelling = 0;
    return r;
}

static void op_free(struct uring *u, uint32_t idx, struct oprec *r)
{
    r->state = OP_FREE;
    r->gen = (r->gen + 1) & GEN_MASK;
    if (!r->gen)
        r->gen = 1;
    r->next = u->free_op;
    u->free_op = idx;
}

/* Operations of one fd go to the kernel one direction at a time, in order: two
 * recvs (or sends) in flight on one socket are two poll waiters, and the kernel
 * wakes the one armed last first, so their data would come out of order. */
static inline struct opq *op_queue(struct fdrec *f, const struct oprec *r)
{
    return r->op == SN_OP_SEND || r->op == SN_OP_CONNECT ? &f->wq : &f->rq;
}

static void q_push(struct uring *u, struct opq *q, uint32_t idx)
{
    if (q->head == NO_OP)
        q->head = idx;
    else
        op_at(u, q->tail)->next = idx;
    q->tail = idx;
}

static void q_unlink(struct uring *u, struct opq *q, uint32_t idx)
{
    uint32_t prev = NO_OP;
    for (uint32_t i = q->head; i != NO_OP; prev = i, i = op_at(u, i)->next) {
        if (i != idx)
            continue;
        uint32_t next = op_at(u, i)->next;
        if (prev == NO_OP)
            q->head = next;
        else
            op_at(u, prev)->next = next;
        if (q->tail == idx)
            q->tail = prev;
        op_at(u, idx)->next = NO_OP;
        return;
    }
}

/* Finish r without the kernel: its completion waits in the done list. */
static void op_done(struct uring *u, uint32_t idx, struct oprec *r, int32_t res)
{
    r->state = OP_DONE;
    r->res = res;
    r->next = NO_OP;
    if (u->done_head == NO_OP)
        u->done_head = idx;
    else
        op_at(u, u->done_tail)->next = idx;
    u->done_tail = idx;
}

static inline int64_t op_id(uint32_t gen, uint32_t idx)
{
    return (int64_t)((uint64_t)gen << 32 | idx);
}

/* Give r to the kernel: one SQE. */
static int op_issue(struct uring *u, uint32_t idx, struct oprec *r)
{
    int err = 0;
    struct io_uring_sqe *s = sqe_get(u, &err);
    if (!s)
        return err;
    s->fd = r->fd;
    s->user_data = ud_make(K_OP, r->gen, idx);
    switch (r->op) {
    case SN_OP_ACCEPT:
        s->opcode = IORING_OP_ACCEPT;
        s->accept_flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
        if (r->flags & SN_MULTISHOT)
            s->ioprio = IORING_ACCEPT_MULTISHOT;
        break;
    case SN_OP_RECV:
        s->opcode = IORING_OP_RECV;
        if (r->group) {
            /* the kernel picks a buffer from the ring when data is there */
            s->flags = IOSQE_BUFFER_SELECT;
            s->buf_group = r->group->bgid;
            if (r->flags & SN_MULTISHOT)
                s->ioprio = IORING_RECV_MULTISHOT;
        } else {
            s->addr = (uint64_t)(uintptr_t)r->buf;
            s->len = (uint32_t)SN_MIN(r->len, (size_t)UINT32_MAX);
        }
        break;
    case SN_OP_SEND:
        s->opcode = IORING_OP_SEND;
        s->addr = (uint64_t)(uintptr_t)r->buf;
        s->len = (uint32_t)SN_MIN(r->len, (size_t)UINT32_MAX);
        s->msg_flags = (uint32_t)(r->msg_flags | MSG_NOSIGNAL);
        break;
    case SN_OP_CONNECT:
        s->opcode = IORING_OP_CONNECT;
        s->addr = (uint64_t)(uintptr_t)&r->u.sa; /* copied by the kernel at submit */
        s->off = r->len;
        break;
    case SN_OP_TIMEOUT:
    default:
        s->opcode = IORING_OP_TIMEOUT;
        s->addr = (uint64_t)(uintptr_t)&r->u.ts;
        s->len = 1;
        s->off = 0; /* a pure timer: not "after N completions" */
        break;
    }
    r->state = OP_KERNEL;
    return 0;
}

/* Take r out of its fd's queue. */
static void op_dequeue(struct uring *u, uint32_t idx, struct oprec *r)
{
    if (!r->queued)
        return;
    struct fdrec *f = &u->fds[r->fd];
    q_unlink(u, op_queue(f, r), idx);
    f->nops--;
    r->queued = 0;
}

/* The head of q has ended: issue the next one (an error is its result). */
static void q_advance(struct uring *u, struct opq *q)
{
    while (q->head != NO_OP && !u->closing) {
        uint32_t idx = q->head;
        struct oprec *r = op_at(u, idx);
        if (r->state != OP_QUEUED)
            return;
        int rc = op_issue(u, idx, r);
        if (rc == 0)
            return;
        op_dequeue(u, idx, r);
        op_done(u, idx, r, rc);
    }
}

/* r's final completion is being delivered (or dropped): release it, and let the
 * next operation of its queue go to the kernel. */
static void op_finish(struct uring *u, uint32_t idx, struct oprec *r)
{
    struct opq *q = NULL;
    if (r->queued) {
        q = op_queue(&u->fds[r->fd], r);
        if (q->head != idx)
            q = NULL;
        op_dequeue(u, idx, r);
    }
    op_free(u, idx, r);
    if (q)
        q_advance(u, q);
}

/* Completions that did not come from the kernel, into ev[n..max). */
static unsigned deliver_done(struct uring *u, struct sn_event *ev, unsigned n, unsigned max)
{
    while (u->done_head != NO_OP && n < max) {
        uint32_t idx = u->done_head;
        struct oprec *r = op_at(u, idx);
        u->done_head = r->next;
        if (u->done_head == NO_OP)
            u->done_tail = NO_OP;
        ev[n++] = (struct sn_event){.token = r->token, .id = op_id(r->gen, idx), .res = r->res,
                                    .op = r->op};
        op_free(u, idx, r);
    }
    return n;
}

/* ---- completions ------------------------------------------------------------- */

/* Report fd's events, merged with an event this wait already holds for it. */
static int emit_ready(struct uring *u, struct fdrec *f, uint32_t mask, struct sn_event *ev,
                      unsigned n)
{
    if (f->batch == u->batch && f->slot < n) {
        ev[f->slot].events |= mask;
        return 0;
    }
    f->batch = u->batch;
    f->slot = n;
    ev[n] = (struct sn_event){.token = f->token, .id = -1, .events = mask};
    return 1;
}

static int on_poll(struct uring *u, const struct io_uring_cqe *c, struct sn_event *ev, unsigned n)
{
    int fd = (int)ud_idx(c->user_data);
    struct fdrec *f = fd_get(u, fd);
    if (!f || !f->registered || f->gen != ud_gen(c->user_data))
        return 0; /* a deleted or modified registration */
    int final = !(c->flags & IORING_CQE_F_MORE);
    if (final)
        f->armed = ARM_NONE;
    if (c->res < 0) {
        /* The kernel ended the poll itself (our removals change the generation
         * first): report it once, do not re-arm. */
        f->fired = f->mode != M_EDGE;
        return ev ? emit_ready(u, f, SN_ERR, ev, n) : 0;
    }
    uint32_t mask = report_mask(c->res, f->interest);
    if (f->mode == M_EDGE) {
        if (final) /* ended by the kernel (CQ overflow): keep the registration going */
            list_push(u, &u->rearm_now, fd);
    } else if (!mask) {
        /* only bits nobody asked for: wait for a change on a multishot poll */
        f->parked = 1;
        if (final)
            list_push(u, &u->rearm_now, fd);
        return 0;
    } else {
        if (f->parked) {
            f->parked = 0;
            if (!final) {
                poll_disarm(u, fd, f);
                f->gen = (f->gen + 1) & GEN_MASK;
            }
        }
        if (f->mode == M_LEVEL)
            list_push(u, &u->rearm_next, fd);
        else
            f->fired = 1;
    }
    if (!mask || !ev)
        return 0;
    return emit_ready(u, f, mask, ev, n);
}

static int on_op(struct uring *u, const struct io_uring_cqe *c, struct sn_event *ev, unsigned n)
{
    uint32_t idx = ud_idx(c->user_data), gen = ud_gen(c->user_data);
    struct oprec *r = op_at(u, idx);
    if (!r || r->state != OP_KERNEL || r->gen != gen)
        return 0;
    int final = !(c->flags & IORING_CQE_F_MORE);
    int out = 0;
    if (ev) {
        struct sn_event *e = &ev[n];
        *e = (struct sn_event){.token = r->token, .id = op_id(gen, idx), .res = c->res, .op = r->op};
        if (!final)
            e->flags |= SN_EV_MORE;
        if (c->flags & IORING_CQE_F_BUFFER) {
            e->flags |= SN_EV_BUF;
            e->buf = (uint16_t)(c->flags >> IORING_CQE_BUFFER_SHIFT);
        }
        out = 1;
    } else if (r->op == SN_OP_ACCEPT && c->res >= 0) {
        close(c->res); /* closing: a connection nobody will see */
    }
    if (final)
        op_finish(u, idx, r);
    return out;
}

static void cancel_each(struct uring *u);

static void on_wake(struct uring *u, const struct io_uring_cqe *c, int *woke)
{
    if (!(c->flags & IORING_CQE_F_MORE))
        u->wake_armed = 0;
    if (c->res < 0)
        return;
    /* Clear the flag first, then drain the counter: a wake that comes between
     * sees the flag clear and writes again, so it is not lost. */
    atomic_store(&u->wake_pending, 0);
    uint64_t v;
    ssize_t r = read(u->wake_fd, &v, sizeof(v));
    (void)r;
    if (woke)
        *woke = 1;
}

/* One CQE: returns 1 if it became ev[n]. ev NULL: closing, drop everything. */
static int on_cqe(struct uring *u, const struct io_uring_cqe *c, struct sn_event *ev, unsigned n,
                  int *woke)
{
    if (!(c->flags & IORING_CQE_F_MORE))
        u->inflight--;
    switch (ud_kind(c->user_data)) {
    case K_OP:
        return on_op(u, c, ev, n);
    case K_POLL:
        return on_poll(u, c, ev, n);
    case K_WAKE:
        on_wake(u, c, woke);
        return 0;
    case K_CANCEL_ALL:
        if (c->res == -EINVAL) /* no IORING_ASYNC_CANCEL_ANY (< 5.19) */
            cancel_each(u);
        return 0;
    default:
        return 0;
    }
}

/* Take CQEs into ev[n..max). Returns the new n. Flushes an overflowed CQ. */
static unsigned reap(struct uring *u, struct sn_event *ev, unsigned n, unsigned max, int *woke)
{
    uint32_t head = atomic_load_explicit(u->cq_head, memory_order_relaxed); /* ours */
    for (int flushes = 0;; flushes++) {
        /* acquire: the CQEs up to tail are written before we read them */
        uint32_t tail = atomic_load_explicit(u->cq_tail, memory_order_acquire);
        while (head != tail && (!ev || n < max)) {
            struct io_uring_cqe c = u->cqes[head & u->cq_mask];
            head++;
            /* release: we are done with the slot before the kernel may refill it */
            atomic_store_explicit(u->cq_head, head, memory_order_release);
            u->cqes_seen++;
            n += (unsigned)on_cqe(u, &c, ev, n, woke);
        }
        if (ev && n >= max)
            return n;
        if (head != tail)
            continue;
        /* The kernel keeps CQEs that did not fit (IORING_FEAT_NODROP) and moves them
         * in when we enter with GETEVENTS and there is room. */
        if (!(atomic_load_explicit(u->sq_flags, memory_order_acquire) & IORING_SQ_CQ_OVERFLOW) ||
            flushes > 64)
            return n;
        if (ring_enter(u, 0, 0, IORING_ENTER_GETEVENTS, NULL) < 0)
            return n;
        if (atomic_load_explicit(u->cq_tail, memory_order_acquire) == head)
            return n;
    }
}

/* ---- readiness ---------------------------------------------------------------- */

static int uring_add(struct sn_poller *p, int fd, uint64_t token, unsigned interest)
{
    struct uring *u = U(p);
    struct fdrec *f = fd_get(u, fd);
    if (f && f->registered)
        return -EEXIST;
    if (f && f->nops)
        return -EBUSY;
    /* epoll_ctl says EBADF at once (a poll request would say it in a CQE); and
     * only an open fd may grow the table (fd 1<<30: -EBADF, not -ENOMEM) */
    if (fcntl(fd, F_GETFD) < 0)
        return -EBADF;
    int rc = fd_reserve(u, fd);
    if (rc < 0)
        return rc;
    f = &u->fds[fd];
    f->token = token;
    f->interest = interest;
    f->mode = (uint8_t)fd_mode(interest);
    f->exclusive = (interest & SN_EXCLUSIVE) != 0;
    f->parked = f->fired = 0;
    f->gen = (f->gen + 1) & GEN_MASK;
    /* a poll of an earlier registration may still be on its way out */
    f->armed = ARM_NONE;
    rc = poll_arm(u, fd, f, f->mode == M_EDGE);
    if (rc < 0)
        return rc;
    f->registered = 1;
    return 0;
}

static int uring_mod(struct sn_poller *p, int fd, uint64_t token, unsigned interest)
{
    struct uring *u = U(p);
    struct fdrec *f = fd_get(u, fd);
    if (!f || !f->registered)
        return -ENOENT;
    if (f->exclusive) /* as epoll_ctl(EPOLL_CTL_MOD) on an EPOLLEXCLUSIVE entry */
        return -EINVAL;
    int mode = fd_mode(interest);
    f->token = token;
    /* Cancel the armed poll and add one (two SQEs, one io_uring_enter), under a
     * new generation: CQEs of the old one still in the CQ are dropped, and the new
     * poll reports a ready fd at once, as EPOLL_CTL_MOD re-polls it.
     * Not IORING_POLL_UPDATE_*: it keeps the poll's ONESHOT/ET bits (no mode
     * change), and like POLL_REMOVE it fails with -EALREADY when a wake-up of the
     * poll is being processed (DEFER_TASKRUN makes that window wide), leaving the
     * old multishot poll alive. */
    poll_disarm(u, fd, f);
    f->gen = (f->gen + 1) & GEN_MASK;
    f->interest = interest;
    f->mode = (uint8_t)mode;
    f->parked = f->fired = 0;
    return poll_arm(u, fd, f, mode == M_EDGE);
}

static int uring_del(struct sn_poller *p, int fd)
{
    struct uring *u = U(p);
    struct fdrec *f = fd_get(u, fd);
    if (!f || !f->registered)
        return -ENOENT;
    poll_disarm(u, fd, f);
    f->gen = (f->gen + 1) & GEN_MASK; /* CQEs already queued for it are now stale */
    f->registered = 0;
    return 0;
}

static int uring_wait(struct sn_poller *p, struct sn_event *ev, unsigned max, int64_t timeout_ns)
{
    struct uring *u = U(p);
    int woke = 0;
    u->batch++;
    /* Level registrations reported by the previous wait are polled again now. */
    rearm_list(u, &u->rearm_next);
    unsigned n = deliver_done(u, ev, 0, max);
    n = reap(u, ev, n, max, &woke);
    uint64_t deadline = 0;
    if (timeout_ns > 0) {
        uint64_t now = sn_now_ns();
        deadline = (uint64_t)timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + (uint64_t)timeout_ns;
    }
    for (;;) {
        rearm_list(u, &u->rearm_now);
        if (!u->wake_armed)
            wake_arm(u);
        uint32_t pending = sq_pending(u);
        if (n || woke || timeout_ns == 0) {
            /* Submit what is queued; with nothing in hand, let the kernel run its
             * completion work (DEFER_TASKRUN) and look once more. */
            if (pending || (!n && !woke)) {
                int rc = ring_enter(u, pending, 0, IORING_ENTER_GETEVENTS, NULL);
                if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN && !n && !woke)
                    return rc;
                n = reap(u, ev, n, max, &woke);
            }
            return (int)n;
        }
        struct __kernel_timespec ts, *tsp = NULL;
        if (timeout_ns > 0) {
            uint64_t now = sn_now_ns();
            if (now >= deadline)
                return 0;
            uint64_t left = deadline - now;
            ts.tv_sec = (long long)(left / 1000000000u);
            ts.tv_nsec = (long long)(left % 1000000000u);
            tsp = &ts;
        }
        uint64_t seen = u->cqes_seen;
        uint32_t tail0 = atomic_load_explicit(u->cq_tail, memory_order_acquire);
        int rc = ring_enter(u, pending, 1, IORING_ENTER_GETEVENTS, tsp);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
            return rc;
        n = reap(u, ev, n, max, &woke);
        if (n || woke)
            return (int)n;
        if (rc == -EINTR)
            return -EINTR;
        if (rc == -ETIME)
            return 0; /* the kernel's timer ran for at least what was left */
        /* io_uring_enter returns the number submitted even when the wait that
         * followed was cut short: nothing at all arrived, time is left, so a
         * signal ended it. */
        if (rc > 0 && u->cqes_seen == seen &&
            atomic_load_explicit(u->cq_tail, memory_order_acquire) == tail0 &&
            (!deadline || sn_now_ns() < deadline))
            return -EINTR;
    }
}

static int uring_wake(struct sn_poller *p)
{
    struct uring *u = U(p);
    /* Coalesced: only the first wake since the loop last saw one writes. */
    if (atomic_exchange(&u->wake_pending, 1))
        return 0;
    uint64_t one = 1;
    if (write(u->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        return -errno;
    return 0;
}

/* ---- completion operations ------------------------------------------------------ */

static int64_t uring_op(struct sn_poller *p, const struct sn_opreq *req)
{
    struct uring *u = U(p);
    int fd = req->op == SN_OP_TIMEOUT ? -1 : req->fd;
    struct fdrec *f = NULL;
    /* A fd beyond the table grows it only if it is open; a bad one is left to the
     * kernel, whose -EBADF is the operation's result (as in emul.c). */
    if (fd >= 0 && ((unsigned)fd < u->nfds || fcntl(fd, F_GETFD) >= 0)) {
        int rc = fd_reserve(u, fd);
        if (rc < 0)
            return rc;
        f = &u->fds[fd];
        if (f->registered)
            return -EBUSY;
    }
    uint32_t idx;
    struct oprec *r = op_alloc(u, &idx);
    if (!r)
        return -ENOMEM;
    r->token = req->token;
    r->fd = fd;
    r->queued = 0;
    r->op = req->op;
    r->flags = (uint8_t)req->flags;
    r->buf = req->buf;
    r->len = req->len;
    r->msg_flags = req->msg_flags;
    r->group = req->group;
    if (req->op == SN_OP_CONNECT) {
        memcpy(&r->u.sa, &req->sa, SN_MIN((size_t)req->salen, sizeof(r->u.sa)));
        r->len = req->salen;
    } else if (req->op == SN_OP_TIMEOUT) {
        r->u.ts.tv_sec = (long long)(req->ns / 1000000000);
        r->u.ts.tv_nsec = (long long)(req->ns % 1000000000);
    }
    r->state = OP_QUEUED;
    if (f) {
        struct opq *q = op_queue(f, r);
        q_push(u, q, idx);
        f->nops++;
        r->queued = 1;
        if (q->head != idx)
            return op_id(r->gen, idx); /* behind another: issued when that one ends */
    }
    int rc = op_issue(u, idx, r);
    if (rc < 0) {
        op_dequeue(u, idx, r);
        op_free(u, idx, r);
        return rc;
    }
    return op_id(r->gen, idx);
}

static int uring_cancel(struct sn_poller *p, int64_t id)
{
    struct uring *u = U(p);
    if (id < 0 || (uint64_t)id >> 56)
        return -ENOENT;
    uint32_t idx = (uint32_t)id, gen = (uint32_t)((uint64_t)id >> 32) & GEN_MASK;
    struct oprec *r = op_at(u, idx);
    if (!r || r->state == OP_FREE || r->gen != gen)
        return -ENOENT;
    if (r->cancelling || r->state == OP_DONE)
        return 0;
    r->cancelling = 1;
    if (r->state == OP_QUEUED) { /* never reached the kernel */
        op_dequeue(u, idx, r);
        op_done(u, idx, r, -ECANCELED);
        return 0;
    }
    /* The operation then ends once: -ECANCELED, or its result if it won the race. */
    int rc = cancel_ud(u, ud_make(K_OP, gen, idx));
    if (rc < 0)
        r->cancelling = 0;
    return rc;
}

static int uring_submit(struct sn_poller *p)
{
    return sq_submit(U(p));
}

/* ---- buffer groups ---------------------------------------------------------------- */

static inline _Atomic uint16_t *bufring_tail(const struct sn_bufgroup *g)
{
    /* struct io_uring_buf_ring: the tail overlays bufs[0].resv */
    return (_Atomic uint16_t *)(void *)((uint8_t *)g->ring + offsetof(struct io_uring_buf, resv));
}

static void bufring_add(struct sn_bufgroup *g, uint16_t id)
{
    struct io_uring_buf *b = (struct io_uring_buf *)g->ring + (g->ring_tail & (g->count - 1));
    b->addr = (uint64_t)(uintptr_t)(g->mem + (size_t)id * g->size);
    b->len = g->size;
    b->bid = id;
    g->ring_tail++;
}

static inline void bufring_publish(struct sn_bufgroup *g)
{
    /* release: the entries are written before the kernel sees the new tail */
    atomic_store_explicit(bufring_tail(g), g->ring_tail, memory_order_release);
}

static int uring_bufgroup_open(struct sn_poller *p, struct sn_bufgroup *g)
{
    struct uring *u = U(p);
    if (u->ngroups == u->cap_groups) {
        unsigned cap = u->cap_groups ? u->cap_groups * 2 : 4;
        struct sn_bufgroup **t = realloc(u->groups, cap * sizeof(*t));
        if (!t)
            return -ENOMEM;
        u->groups = t;
        u->cap_groups = cap;
    }
    long page = sysconf(_SC_PAGESIZE);
    size_t len = (size_t)g->count * sizeof(struct io_uring_buf);
    len = (len + (size_t)page - 1) & ~((size_t)page - 1);
    /* The ring must be page aligned: the kernel pins its pages. */
    void *ring = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ring == MAP_FAILED)
        return -errno;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)ring;
    reg.ring_entries = g->count;
    reg.bgid = g->bgid;
    int rc = ring_register(u, IORING_REGISTER_PBUF_RING, &reg, 1);
    if (rc < 0) {
        munmap(ring, len);
        return rc == -EINVAL ? -EOPNOTSUPP : rc; /* < 5.19 */
    }
    g->ring = ring;
    g->ring_len = len;
    g->ring_tail = 0;
    for (unsigned i = 0; i < g->count; i++)
        bufring_add(g, (uint16_t)i);
    bufring_publish(g);
    u->groups[u->ngroups++] = g;
    return 0;
}

static void bufgroup_release(struct uring *u, struct sn_bufgroup *g)
{
    if (!g->ring)
        return;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.bgid = g->bgid;
    (void)ring_register(u, IORING_UNREGISTER_PBUF_RING, &reg, 1);
    munmap(g->ring, g->ring_len);
    g->ring = NULL;
    g->ring_len = 0;
}

static void uring_bufgroup_close(struct sn_poller *p, struct sn_bufgroup *g)
{
    struct uring *u = U(p);
    /* The caller should have waited for its recvs; if not, they are cancelled
     * (they end with -ECANCELED, or -ENOBUFS) and the ring unregistered before
     * the memory goes: the kernel takes a buffer only from a registered ring,
     * under the same lock as the unregistration, so it writes none after. */
    int cancels = 0;
    for (unsigned c = 0; c < u->nchunks; c++)
        for (uint32_t i = 0; i < OPS_CHUNK; i++) {
            struct oprec *r = &u->chunks[c][i];
            if (r->group == g && (r->state == OP_QUEUED || r->state == OP_KERNEL) &&
                !r->cancelling) {
                cancels += r->state == OP_KERNEL;
                (void)uring_cancel(p, op_id(r->gen, c * OPS_CHUNK + i));
            }
        }
    if (cancels)
        (void)sq_submit(u);
    bufgroup_release(u, g);
    for (unsigned i = 0; i < u->ngroups; i++) {
        if (u->groups[i] == g) {
            u->groups[i] = u->groups[--u->ngroups];
            break;
        }
    }
}

static void uring_bufgroup_put(struct sn_poller *p, struct sn_bufgroup *g, uint16_t id)
{
    (void)p;
    if (!g->ring)
        return;
    bufring_add(g, id);
    bufring_publish(g);
}

/* ---- open / close ------------------------------------------------------------------ */

/* Fallback for kernels without IORING_ASYNC_CANCEL_ANY: one request at a time. */
static void cancel_each(struct uring *u)
{
    for (unsigned c = 0; c < u->nchunks; c++)
        for (uint32_t i = 0; i < OPS_CHUNK; i++) {
            struct oprec *r = &u->chunks[c][i];
            if (r->state == OP_KERNEL)
                (void)cancel_ud(u, ud_make(K_OP, r->gen, c * OPS_CHUNK + i));
        }
    for (unsigned fd = 0; fd < u->nfds; fd++)
        if (u->fds[fd].armed != ARM_NONE)
            poll_disarm(u, (int)fd, &u->fds[fd]);
    if (u->wake_armed)
        (void)cancel_ud(u, ud_make(K_WAKE, 0, 0));
}

/* Cancel everything and wait for every CQE, so the kernel writes no buffer after
 * close returns. Bounded: a request the kernel cannot cancel does not hang us. */
static void drain(struct uring *u)
{
    int err = 0;
    struct io_uring_sqe *s = sqe_get(u, &err);
    if (s) {
        s->opcode = IORING_OP_ASYNC_CANCEL;
        s->fd = -1;
        s->cancel_flags = IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL;
        s->user_data = ud_make(K_CANCEL_ALL, 0, 0);
    } else {
        cancel_each(u);
    }
    uint64_t deadline = sn_now_ns() + 5000000000ull;
    while (u->inflight > 0) {
        struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 100000000};
        int rc = ring_enter(u, sq_pending(u), 1, IORING_ENTER_GETEVENTS, &ts);
        reap(u, NULL, 0, 0, NULL); /* what is there: accepted fds to close */
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
            break; /* -EEXIST: closed on another thread than the issuer; closing the
                    * ring fd then kills its requests (io_ring_ctx_wait_and_kill) */
        if (sn_now_ns() > deadline)
            break;
    }
}

static void ring_free(struct uring *u)
{
    if (u->sqe_map)
        munmap(u->sqe_map, u->sqe_map_len);
    if (u->cq_map)
        munmap(u->cq_map, u->cq_map_len);
    if (u->sq_map)
        munmap(u->sq_map, u->sq_map_len);
    if (u->ring_fd >= 0)
        close(u->ring_fd);
    if (u->wake_fd >= 0)
        close(u->wake_fd);
    for (unsigned i = 0; i < u->nchunks; i++)
        free(u->chunks[i]);
    free(u->chunks);
    free(u->fds);
    free(u->groups);
    free(u);
}

/* After the last close of a ring fd the kernel tears the ring down in a worker
 * (io_ring_exit_work): once its references are gone (an RCU grace period, a few
 * ms) it runs io_tctx_exit_cb as task work, TWA_SIGNAL, on every thread that used
 * the ring. That task work interrupts whatever the thread blocks in next, and
 * epoll_wait does not restart: it says EINTR with no signal sent (poll(2) and
 * io_uring_enter restart). So a thread that closes a ring it used waits for that
 * task work here, bounded, in an epoll_wait of its own; then the ring is gone and
 * the caller's next epoll_wait is not cut short. */
static void absorb_exit_work(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return;
    struct epoll_event e;
    uint64_t end = sn_now_ns() + 100000000u;
    for (;;) {
        uint64_t now = sn_now_ns();
        if (now >= end)
            break;
        int ms = (int)((end - now + 999999u) / 1000000u);
        if (epoll_wait(ep, &e, 1, ms) < 0 && errno == EINTR)
            break; /* the exit task work ran (or a signal came: fine too) */
    }
    close(ep);
}

static void uring_close(struct sn_poller *p)
{
    struct uring *u = U(p);
    if (!u)
        return;
    /* Nothing reached a ring never enabled: its SQEs were never submitted. */
    u->closing = 1; /* queued operations stay queued: nothing more is issued */
    if (u->enabled && u->sq_map)
        drain(u);
    for (unsigned i = 0; i < u->ngroups; i++) {
        bufgroup_release(u, u->groups[i]);
        u->groups[i]->p = NULL; /* detached: sn_bufgroup_close frees only its memory */
    }
    pid_t me = gettid();
    int used_here = u->ring_fd >= 0 && (me == u->creator || me == u->issuer);
    ring_free(u);
    if (used_here)
        absorb_exit_work();
}

/* Test and diagnostic hooks (tests/unit/test_uring.c), not public API. */
int sn_uring_open_refusing(struct sn_poller **out, const struct sn_poller_opts *opts,
                           unsigned refuse);
uint64_t sn_uring_info(const struct sn_poller *p, int what);

int sn_uring_open_refusing(struct sn_poller **out, const struct sn_poller_opts *opts,
                           unsigned refuse)
{
    struct uring *u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    u->base.vt = &sn_backend_uring;
    u->ring_fd = u->wake_fd = -1;
    u->rearm_now = u->rearm_next = -1;
    u->free_op = u->done_head = u->done_tail = NO_OP;
    atomic_init(&u->wake_pending, 0);
    unsigned entries = opts && opts->entries ? opts->entries : 1024;
    struct io_uring_params prm;
    int rc = ring_setup(u, entries, refuse, &prm);
    if (rc < 0)
        goto fail;
    /* EXT_ARG (5.11): a wait with a timeout in one system call, ns resolution. */
    rc = -EOPNOTSUPP;
    if (!(u->features & IORING_FEAT_EXT_ARG))
        goto fail;
    rc = ring_map(u, &prm);
    if (rc < 0)
        goto fail;
    u->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (u->wake_fd < 0) {
        rc = -errno;
        goto fail;
    }
    wake_arm(u); /* queued: reaches the kernel with the first submit */
    *out = &u->base;
    return 0;
fail:;
    int had_ring = u->ring_fd >= 0;
    ring_free(u);
    if (had_ring)
        absorb_exit_work();
    return rc;
}

/* what: 0 setup flags, 1 features, 2 SQ entries, 3 CQ entries, 4 CQEs waiting in
 * the CQ, 5 requests in flight, 6 the ring is enabled. */
uint64_t sn_uring_info(const struct sn_poller *p, int what)
{
    const struct uring *u = CU(p);
    switch (what) {
    case 0: return u->setup_flags;
    case 1: return u->features;
    case 2: return u->sq_entries;
    case 3: return u->cq_entries;
    case 4:
        return atomic_load_explicit(u->cq_tail, memory_order_acquire) -
               atomic_load_explicit(u->cq_head, memory_order_relaxed);
    case 5: return u->inflight;
    case 6: return (uint64_t)u->enabled;
    default: return 0;
    }
}

static int uring_open(struct sn_poller **out, const struct sn_poller_opts *opts)
{
    return sn_uring_open_refusing(out, opts, 0);
}

const struct sn_backend_vt sn_backend_uring = {
    .name = "uring",
    .backend = SN_BACKEND_URING,
    .open = uring_open,
    .close = uring_close,
    .add = uring_add,
    .mod = uring_mod,
    .del = uring_del,
    .wait = uring_wait,
    .wake = uring_wake,
    .op = uring_op,
    .cancel = uring_cancel,
    .submit = uring_submit,
    .bufgroup_open = uring_bufgroup_open,
    .bufgroup_close = uring_bufgroup_close,
    .bufgroup_put = uring_bufgroup_put,
};
