/* sysnet/poller.h — layer 5, events: the readiness-and-completion poller under
 * every server (mio's Poll, the part of libuv below uv_run). One API over three
 * kernel interfaces, chosen at run time:
 *
 *   epoll    the default on Linux: readiness (level or edge), epoll_pwait2 for ns
 *            timeouts where the kernel has it (5.11), epoll_wait (ms) otherwise.
 *   io_uring io_uring_setup/enter/register and the mmap'd SQ/CQ rings written here
 *            (no liburing). Readiness through multishot POLL_ADD; completions are
 *            native (multishot accept, recv into provided-buffer rings, send,
 *            connect, timeouts, cancel).
 *   poll     poll(2): portable, O(n) per wait; for the odd fd epoll refuses
 *            (regular files) and as the reference the tests compare with.
 *
 * SN_LOOP_BACKEND=epoll|uring|poll in the environment picks one when the caller
 * asks for SN_BACKEND_AUTO; otherwise AUTO is epoll.
 *
 * Two ways to use an fd, never both on the same fd at once (-EBUSY):
 *
 *  Readiness (mio): register the fd with a token and an interest; sn_poller_wait
 *  returns events {token, SN_READ|SN_WRITE|...}; the caller then does the
 *  read/write/accept itself until EAGAIN.
 *
 *    struct sn_poller *p;  sn_poller_open(&p, NULL);
 *    sn_poller_add(p, fd, 42, SN_READ);
 *    struct sn_event ev[64];
 *    int n = sn_poller_wait(p, ev, 64, -1);   // ev[i].token == 42, ev[i].events & SN_READ
 *
 *  Completion (io_uring, IOCP): submit an operation; sn_poller_wait returns its
 *  result {token, op, res} once it is done. Native on io_uring; on epoll and poll
 *  the poller waits for readiness and makes the system call itself, so a caller
 *  writes one code path for every backend.
 *
 *    int64_t id = sn_poller_send(p, fd, 7, buf, len, 0);
 *    ... sn_poller_wait() → {token 7, op SN_OP_SEND, res = bytes sent or -errno}
 *
 * Buffer ownership during an operation: a buffer given to sn_poller_recv or
 * sn_poller_send belongs to the kernel (or to the emulation) from the submit
 * until its completion has been returned by sn_poller_wait — including after a
 * cancel, whose completion (-ECANCELED, or the result if the operation won the
 * race) is always delivered. Do not free, reuse or move it before. A connect's
 * address is copied at submit. Provided buffers (sn_bufgroup) belong to the
 * poller while they are in the group; a completion with SN_EV_BUF hands buffer
 * ev.buf to the caller, who gives it back with sn_bufgroup_put() when done.
 *
 * Submission: operations are queued and reach the kernel at the next
 * sn_poller_wait (or sn_poller_submit), one io_uring_enter for the whole batch.
 * On epoll/poll an operation that can complete at once (a send with room in the
 * socket buffer, an accept with a connection waiting) is made at submit and its
 * completion is queued for the next wait, so no system call is wasted on readiness.
 *
 * Errors: >= 0 or a negative errno (base.h). -EINVAL bad arguments, -EBADF bad fd,
 * -EEXIST fd already registered (add), -ENOENT not registered (mod/del), -EBUSY
 * the fd is used the other way (readiness vs operations), -ENOSYS/-EOPNOTSUPP a
 * backend this kernel lacks (open) or an operation a backend cannot do, -ENOMEM,
 * -EINTR a signal interrupted the wait.
 *
 * Thread rules: a poller is used by one thread at a time, except sn_poller_wake(),
 * which any thread may call at any time. The backend interface (src/loop/poller_int.h)
 * has both a readiness and a completion half so that kqueue (readiness) and IOCP
 * (completion) fit it as they are.
 *
 * Memory: sn_poller_open allocates the poller (and, growing, its fd and operation
 * tables); add/mod/del and operation submits do not allocate once those tables are
 * large enough (they grow by doubling). sn_poller_wait never allocates.
 */
#ifndef SYSNET_POLLER_H
#define SYSNET_POLLER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sysnet/base.h>

#ifdef __cplusplus
extern "C" {
#endif

enum sn_backend {
    SN_BACKEND_AUTO = 0,  /* $SN_LOOP_BACKEND, else epoll */
    SN_BACKEND_EPOLL = 1,
    SN_BACKEND_URING = 2,
    SN_BACKEND_POLL = 3,
};
/* "epoll", "uring", "poll" ("auto" for 0); NULL for an unknown value. */
const char *sn_backend_name(int backend);
/* The reverse ("io_uring" is accepted for uring): the enum value, or -EINVAL. */
int sn_backend_parse(const char *name);

/* Interest (add/mod) */
#define SN_READ      0x01u /* readable: data, a connection to accept, EOF */
#define SN_WRITE     0x02u /* writable: room in the send buffer, a connect finished */
#define SN_EDGE      0x04u /* edge-triggered: one event per change (EPOLLET); default level */
#define SN_ONESHOT   0x08u /* one event, then disarmed until sn_poller_mod re-arms it */
#define SN_EXCLUSIVE 0x10u /* wake one of several pollers waiting on this fd (EPOLLEXCLUSIVE,
                              add only: mod refuses it); backends without it ignore it */
/* Readiness events (besides SN_READ / SN_WRITE) */
#define SN_HUP       0x20u /* hang-up: both directions closed (reads return 0, writes fail) */
#define SN_RDHUP     0x40u /* the peer shut down its sending side (a read will return 0) */
#define SN_ERR       0x80u /* an error is pending on the fd (read it with SO_ERROR) */

/* Completion operations (sn_event.op) */
enum sn_op_kind {
    SN_OP_NONE = 0,       /* a readiness event */
    SN_OP_ACCEPT,         /* res: the new fd (SOCK_NONBLOCK|SOCK_CLOEXEC) or -errno */
    SN_OP_RECV,           /* res: bytes received, 0 at EOF, or -errno */
    SN_OP_SEND,           /* res: bytes sent (may be short) or -errno */
    SN_OP_CONNECT,        /* res: 0 or -errno (-ECONNREFUSED, -ETIMEDOUT...) */
    SN_OP_TIMEOUT,        /* res: -ETIME when it expired, -ECANCELED if cancelled */
};

/* sn_event.flags */
#define SN_EV_MORE 0x1u   /* a multishot operation goes on: more completions will come */
#define SN_EV_BUF  0x2u   /* ev.buf is a provided buffer holding the res bytes received */

struct sn_event {
    uint64_t token;       /* what the caller gave at add / submit */
    int64_t id;           /* completion: the operation's id (from its submit); readiness: -1 */
    uint32_t events;      /* readiness: SN_READ|SN_WRITE|SN_HUP|SN_RDHUP|SN_ERR; completion: 0 */
    int32_t res;          /* completion: the result (see enum sn_op_kind); readiness: 0 */
    uint8_t op;           /* enum sn_op_kind */
    uint8_t flags;        /* SN_EV_* */
    uint16_t buf;         /* SN_EV_BUF: the buffer id in the group of the operation */
};

struct sn_poller_opts {
    int backend;          /* enum sn_backend; 0 = AUTO */
    unsigned entries;     /* io_uring SQ size (CQ is twice it), power of two; 0 = 1024 */
};

struct sn_poller;         /* opaque: its layout depends on the backend */

/* Open a poller. opts may be NULL (AUTO, defaults). -ENOSYS/-EPERM/-EOPNOTSUPP when
 * the backend asked for is missing or disabled here (io_uring off by sysctl
 * kernel.io_uring_disabled, seccomp), -EINVAL for an unknown SN_LOOP_BACKEND. */
int sn_poller_open(struct sn_poller **out, const struct sn_poller_opts *opts);
/* Close: fds registered are not closed (they are the caller's); operations still in
 * flight are cancelled and their completions dropped, then the kernel is waited for
 * (so no buffer is written after close returns). NULL is fine. */
void sn_poller_close(struct sn_poller *p);
/* The backend in use (enum sn_backend, never AUTO). */
int sn_poller_backend(const struct sn_poller *p);

/* ---- readiness ---- */
int sn_poller_add(struct sn_poller *p, int fd, uint64_t token, unsigned interest);
/* Change the token and interest (and re-arm a SN_ONESHOT registration). */
int sn_poller_mod(struct sn_poller *p, int fd, uint64_t token, unsigned interest);
/* Forget the fd. Do it before close(fd): epoll tracks the open file, not the fd
 * number, so a closed fd whose file lives on in a dup() or a child would go on
 * reporting events. Events of this fd already returned by the current wait are the
 * caller's to ignore. */
int sn_poller_del(struct sn_poller *p, int fd);

/* Wait for events: up to max readiness events and completions into ev. timeout_ns:
 * -1 forever, 0 only look, > 0 at most that long — rounded UP to the backend's
 * resolution (1 ms for epoll_wait/poll, 1 ns for epoll_pwait2/io_uring) so it never
 * returns before the time has passed unless something happened. Submits queued
 * operations first. Returns the number of events (0 on timeout or after a wake),
 * -EINTR on a signal, or -errno. */
int sn_poller_wait(struct sn_poller *p, struct sn_event *ev, unsigned max, int64_t timeout_ns);

/* Make a wait in progress (or the next one) return at once. Any thread; async-
 * signal-safe; wakes are coalesced (one eventfd write pending at most). 0 or -errno. */
int sn_poller_wake(struct sn_poller *p);

/* ---- completions ----
 * Each returns the operation's id (>= 0, unique in this poller until its final
 * completion has been returned) or -errno, and delivers exactly one completion —
 * or, for multishot, completions with SN_EV_MORE and a final one without it. */

#define SN_MULTISHOT 0x1u /* accept / recv with a buffer group: keep going after a result */

/* Accept connections on a listening socket (non-blocking, close-on-exec fds). */
int64_t sn_poller_accept(struct sn_poller *p, int fd, uint64_t token, unsigned flags);
/* Receive into buf[0..len). */
int64_t sn_poller_recv(struct sn_poller *p, int fd, uint64_t token, void *buf, size_t len);
/* Send buf[0..len) (MSG_NOSIGNAL is always added to msg_flags). */
int64_t sn_poller_send(struct sn_poller *p, int fd, uint64_t token, const void *buf, size_t len,
                       int msg_flags);
/* Connect a non-blocking socket; the address is copied. */
int64_t sn_poller_connect(struct sn_poller *p, int fd, uint64_t token, const struct sockaddr *sa,
                          socklen_t salen);
/* A completion with res -ETIME after ns nanoseconds (>= 0). */
int64_t sn_poller_timeout(struct sn_poller *p, uint64_t token, int64_t ns);
/* Cancel operation id: 0 when a cancellation is under way — the operation then
 * completes with -ECANCELED (or with its result, if it finished first) — or
 * -ENOENT if no such operation is in flight. */
int sn_poller_cancel(struct sn_poller *p, int64_t id);
/* Push queued operations to the kernel now without waiting (io_uring_enter; a no-op
 * on epoll/poll). The number submitted or -errno. */
int sn_poller_submit(struct sn_poller *p);

/* ---- provided buffers (io_uring's buffer rings; emulated elsewhere) ----
 * A group of count buffers of size bytes each (count a power of two <= 32768). A
 * recv on a group takes a free buffer only when data is there, so 10,000 idle
 * connections cost no buffer memory. No free buffer: the recv completes with
 * -ENOBUFS (a multishot recv then stops; submit it again after putting buffers back). */
struct sn_bufgroup;
int sn_bufgroup_open(struct sn_poller *p, struct sn_bufgroup **out, unsigned count, unsigned size);
void sn_bufgroup_close(struct sn_bufgroup *g); /* after every recv on it has completed */
/* The buffer with that id (ev.buf of a SN_EV_BUF completion) and the size of each. */
void *sn_bufgroup_buf(const struct sn_bufgroup *g, uint16_t id);
unsigned sn_bufgroup_size(const struct sn_bufgroup *g);
/* Give buffer id back to the group. */
void sn_bufgroup_put(struct sn_bufgroup *g, uint16_t id);
/* Receive into a buffer taken from g when data arrives (SN_MULTISHOT: for every
 * arrival until an error, EOF or cancel). Completions carry SN_EV_BUF and ev.buf. */
int64_t sn_poller_recv_group(struct sn_poller *p, int fd, uint64_t token, struct sn_bufgroup *g,
                             unsigned flags);

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_POLLER_H */
