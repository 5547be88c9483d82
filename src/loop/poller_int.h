/* src/loop/poller_int.h — the backend interface behind include/sysnet/poller.h.
 *
 * src/loop/poller.c owns the public functions: it checks arguments (so backends
 * may trust them), picks the backend (SN_LOOP_BACKEND), and calls through the
 * vtable below. Each backend defines a struct whose first member is struct
 * sn_poller and a `const struct sn_backend_vt sn_backend_<name>`.
 *
 * The vtable has a readiness half (add/mod/del/wait) and a completion half
 * (op/cancel/submit, buffer groups). A readiness kernel interface (epoll, poll,
 * later kqueue) implements the completion half with the shared emulation in
 * src/loop/emul.c; a completion interface (io_uring, later IOCP) implements it
 * natively and readiness on top of its own poll operations. Everything a backend
 * returns follows poller.h (>= 0 or -errno; the same errno for the same failure
 * on every backend — tests/unit/test_poller.c runs each test on each backend).
 */
#ifndef SN_LOOP_POLLER_INT_H
#define SN_LOOP_POLLER_INT_H

#include <sysnet/poller.h>

#include <stdint.h>
#include <sys/socket.h>

/* One operation as submitted (copied by the backend; the connect address too). */
struct sn_opreq {
    uint8_t op;                  /* enum sn_op_kind */
    unsigned flags;              /* SN_MULTISHOT */
    int fd;
    uint64_t token;
    void *buf;                   /* recv / send (send: const, cast away) */
    size_t len;
    int msg_flags;               /* send: the caller's flags | MSG_NOSIGNAL */
    struct sn_bufgroup *group;   /* recv_group */
    int64_t ns;                  /* timeout */
    struct sockaddr_storage sa;  /* connect */
    socklen_t salen;
};

struct sn_poller;

struct sn_backend_vt {
    const char *name;            /* "epoll", "uring", "poll" */
    int backend;                 /* enum sn_backend */
    int (*open)(struct sn_poller **out, const struct sn_poller_opts *opts);
    void (*close)(struct sn_poller *p);
    int (*add)(struct sn_poller *p, int fd, uint64_t token, unsigned interest);
    int (*mod)(struct sn_poller *p, int fd, uint64_t token, unsigned interest);
    int (*del)(struct sn_poller *p, int fd);
    int (*wait)(struct sn_poller *p, struct sn_event *ev, unsigned max, int64_t timeout_ns);
    int (*wake)(struct sn_poller *p);
    int64_t (*op)(struct sn_poller *p, const struct sn_opreq *req);
    int (*cancel)(struct sn_poller *p, int64_t id);
    int (*submit)(struct sn_poller *p);
    /* Buffer groups: g's common fields (below) are set by poller.c before
     * bufgroup_open, which registers it (io_uring) or sets up the free list. */
    int (*bufgroup_open)(struct sn_poller *p, struct sn_bufgroup *g);
    void (*bufgroup_close)(struct sn_poller *p, struct sn_bufgroup *g);
    void (*bufgroup_put)(struct sn_poller *p, struct sn_bufgroup *g, uint16_t id);
};

/* The head of every backend's poller struct. */
struct sn_poller {
    const struct sn_backend_vt *vt;
};

/* A buffer group: count buffers of size bytes at mem (one mapping, page aligned,
 * made and freed by poller.c). The backend owns the rest. */
struct sn_bufgroup {
    struct sn_poller *p;
    uint8_t *mem;
    size_t mem_len;
    unsigned count, size;        /* count: power of two <= 32768 */
    uint16_t bgid;               /* group id, unique in the poller (io_uring's bgid) */
    /* emulation (emul.c): a stack of free buffer ids */
    uint16_t *free_ids;
    unsigned nfree;
    /* io_uring: the mapped buffer ring (struct io_uring_buf entries) */
    void *ring;
    size_t ring_len;
    uint16_t ring_tail;
};

extern const struct sn_backend_vt sn_backend_epoll;
extern const struct sn_backend_vt sn_backend_uring;
extern const struct sn_backend_vt sn_backend_poll;

/* Round a timeout in ns up to ms for epoll_wait/poll: -1 stays -1, 1 ns becomes 1 ms,
 * and anything beyond INT_MAX ms is clamped. */
int sn_poller_ns_to_ms(int64_t timeout_ns);

#endif
