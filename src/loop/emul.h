/* src/loop/emul.h — what the readiness backends (epoll.c, poll.c; later kqueue)
 * share: the fd table, the eventfd wake, the wait loop with its timer heap, and
 * the completion half of poller.h emulated with non-blocking system calls.
 *
 * A backend's poller struct starts with a struct sn_emul (which starts with the
 * struct sn_poller of poller_int.h) and gives two hooks: `watch`, to make the
 * kernel report readiness of an fd for the operations queued on it, and `poll`,
 * one kernel wait that turns what the kernel reports into events (readiness
 * events itself, operations through sn_emul_io). Everything else in the vtable
 * can be the sn_emul_* functions below as they are.
 */
#ifndef SN_LOOP_EMUL_H
#define SN_LOOP_EMUL_H

#include "poller_int.h"

#include <stdatomic.h>
#include <stdint.h>

#define SN_EMUL_NIL UINT32_MAX

/* A FIFO of operation slots linked through the operations (SN_EMUL_NIL: empty). */
struct sn_emul_q {
    uint32_t head, tail;
};

/* One fd: its readiness registration, or the operations queued on it (never both:
 * -EBUSY). Indexed by fd number, grown by doubling. */
struct sn_emul_fd {
    uint64_t token;         /* readiness: the caller's token */
    unsigned interest;      /* readiness: SN_READ|SN_WRITE|... as added; 0 = not registered */
    unsigned want;          /* operations: SN_READ|SN_WRITE the backend watches for them */
    int slot;               /* the backend's (poll: index in its pollfd array); -1 = none */
    struct sn_emul_q rq;    /* operations waiting to read: accept, recv */
    struct sn_emul_q wq;    /* operations waiting to write: send, connect */
};

struct sn_emul;
struct sn_emul_hooks {
    /* The queued operations of fd now wait for `want` (SN_READ|SN_WRITE; 0: forget
     * the fd), level-triggered; called only when it changes. Watching more may fail
     * (-errno: the operation just submitted completes with it); watching less must
     * return 0 (an error there means the fd is gone, and the kernel forgot it). */
    int (*watch)(struct sn_emul *e, int fd, unsigned want);
    /* One kernel wait of at most timeout_ns (-1 forever, 0 only look; rounded up by
     * the backend). Writes up to max events to ev and returns how many, or -errno.
     * Calls sn_emul_woke() when the wake eventfd is readable. */
    int (*poll)(struct sn_emul *e, struct sn_event *ev, unsigned max, int64_t timeout_ns);
};

struct sn_emul_op;

struct sn_emul {
    struct sn_poller base;       /* first: the vtable */
    const struct sn_emul_hooks *hooks;
    struct sn_emul_fd *fds;      /* fd table */
    int nfds;
    struct sn_emul_op *ops;      /* operation slots; an id is (generation << 32 | slot) */
    uint32_t nops, free_op;      /* free_op: free list head */
    uint32_t done, done_tail;    /* finished operations whose completion waits for a wait */
    uint32_t *heap;              /* timeouts: a binary min-heap of slots keyed by deadline */
    uint32_t nheap, heapcap;
    struct sn_bufgroup **groups; /* open buffer groups (detached at close) */
    unsigned ngroups, groupcap;
    int wakefd;                  /* eventfd: sn_poller_wake */
    atomic_int wake_pending;     /* 1 while a wake's eventfd write is unread (coalescing) */
    int woken;                   /* the current wait saw the eventfd */
};

/* Set up e (the eventfd included) for a backend; e->base.vt = vt. -errno. */
int sn_emul_init(struct sn_emul *e, const struct sn_backend_vt *vt,
                 const struct sn_emul_hooks *hooks);
/* Drop every operation (an accepted fd nobody was told about is closed), detach the
 * open buffer groups, free the tables, close the eventfd. */
void sn_emul_fini(struct sn_emul *e);

/* The entry of fd, or NULL if the table does not reach it (= never used). */
struct sn_emul_fd *sn_emul_fd(struct sn_emul *e, int fd);
/* The entry of fd, growing the table. -ENOMEM. */
int sn_emul_fd_get(struct sn_emul *e, int fd, struct sn_emul_fd **out);
/* 1 if operations are queued on fd (a readiness add must say -EBUSY). */
int sn_emul_fd_busy(const struct sn_emul_fd *f);

/* The kernel says fd is ready (revents: SN_READ|SN_WRITE|SN_HUP|SN_ERR|SN_RDHUP):
 * make the queued calls, write up to max completions to ev; returns how many. What
 * cannot be written now is retried at the next report (watch is level-triggered). */
unsigned sn_emul_io(struct sn_emul *e, int fd, unsigned revents, struct sn_event *ev, unsigned max);
/* The wake eventfd was reported readable: drain it, end the current wait. */
void sn_emul_woke(struct sn_emul *e);

/* vtable entries for a backend built on sn_emul */
int sn_emul_wait(struct sn_poller *p, struct sn_event *ev, unsigned max, int64_t timeout_ns);
int sn_emul_wake(struct sn_poller *p);
int64_t sn_emul_op(struct sn_poller *p, const struct sn_opreq *req);
int sn_emul_cancel(struct sn_poller *p, int64_t id);
int sn_emul_submit(struct sn_poller *p);
int sn_emul_bufgroup_open(struct sn_poller *p, struct sn_bufgroup *g);
void sn_emul_bufgroup_close(struct sn_poller *p, struct sn_bufgroup *g);
void sn_emul_bufgroup_put(struct sn_poller *p, struct sn_bufgroup *g, uint16_t id);

#endif
