/* tools/rt_srv.h — what the TCP servers on the task runtime share: `sysnet echo
 * --runtime future|coro` (echo_task.c) and `sysnet chat` (chat.c). srv.h is the same
 * for the servers on the callback loop.
 *
 * rt_srv_run: the stop signals (SIGINT, SIGTERM) blocked before the runtime starts its
 * threads (they inherit the mask) and read from a signalfd; the listener; the runtime
 * and the backend its reactor runs; the "listening on" line; then serving until the
 * stop (ops->run, or the accept future below), the "stopped" statistics, and the
 * cleanup.
 *
 * The accept future (ops->run NULL): accepts, counts and spawns each connection
 * (ops->spawn), spawns the --stats task, watches the signalfd; at the signal it stops
 * (rt_srv_stop) and waits until every connection has closed.
 *
 * Stopping: stop accepting, and shutdown(SHUT_RDWR) every open connection (a registry
 * under a mutex: the connections may live on several workers), which ends each
 * connection task's read with EOF so that it closes its socket on its own path
 * (rt_srv_closed); the drain waits until the count of open connections is 0 (a waker
 * stored in the registry). */
#ifndef SYSNET_TOOLS_RT_SRV_H
#define SYSNET_TOOLS_RT_SRV_H

#include <sysnet/sock.h>
#include <sysnet/task.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* An open connection as the registry sees it (inside the connection's task): what the
 * stop shuts down. */
struct rt_conn {
    struct rt_conn *prev, *next;
    int fd;
    int linked;
};

struct rt_srv;

struct rt_srv_ops {
    /* Spawn the task of a connection accepted on fd (already counted open) on rt: 0,
     * or < 0 (the server then closes fd and counts it closed). */
    int (*spawn)(struct rt_srv *s, struct sn_rt *rt, int fd);
    /* A statistics line on stderr: what is "stats" (every second with --stats) or
     * "stopped" (at the end). */
    void (*print_stats)(struct rt_srv *s, const char *what);
    /* Serve until the stop is done: >= 0, or -errno. NULL: the accept future. */
    int64_t (*run)(struct rt_srv *s);
};

struct rt_srv {
    /* Set by the caller (the rest zeroed) before rt_srv_run. */
    const struct rt_srv_ops *ops;
    const char *name;          /* "echo": errors say "sysnet echo: ..." (tool_err) */
    int worker;                /* >= 0: other lines say "sysnet echo[worker]: ...", < 0: "sysnet chat: ..." */
    const char *runtime;       /* "future": "the future runtime failed: ..."; NULL: "the runtime failed" */
    const char *detail;        /* the end of "listening on ADDR (tcp, BACKEND, DETAIL)" */
    const struct sn_addr *addr;
    unsigned threads;          /* runtime workers: 0 = the current-thread runtime */
    int backend, quiet, stats;
    int reuseport, backlog;    /* the listener */
    int accept_msg;            /* 1: the first accept error that pauses is reported on stderr */
    /* The server's state. */
    char tag[40];              /* "echo[0]" or "chat": after "sysnet " */
    struct sn_rt *rt;
    int lfd, sigfd;
    pthread_mutex_t mu;
    struct rt_conn *conns;     /* under mu: the connections to shut down at the stop */
    uint64_t open, peak;       /* under mu */
    struct sn_waker idle;      /* under mu: wakes the drain when open drops to 0 */
    _Atomic int stopping;      /* written under mu */
    _Atomic uint64_t closed, accept_errors;
};

/* Serve until SIGINT/SIGTERM: 0, or an exit code (1) after a message. */
int rt_srv_run(struct rt_srv *s);

/* open and peak, read together. */
void rt_srv_counts(struct rt_srv *s, uint64_t *open, uint64_t *peak);
/* An accepted connection on fd: TCP_NODELAY, counted open, its task spawned
 * (ops->spawn; on failure closed and uncounted). 0, or -ESHUTDOWN if the server is
 * stopping (fd closed). */
int rt_srv_accepted(struct rt_srv *s, struct sn_rt *rt, int fd);
/* An accept error: 0 for those about this connection only (go on); 1 for running out
 * of descriptors or memory (pause RT_SRV_PAUSE_NS, counted; reported once with
 * accept_msg). */
#define RT_SRV_PAUSE_NS (50 * SN_MS)
int rt_srv_accept_failed(struct rt_srv *s, int err);
/* The connection's task runs: put n (for fd) where the stop can find it. 0, or
 * -ESHUTDOWN if the stop came first (the task then closes at once). */
int rt_srv_link(struct rt_srv *s, struct rt_conn *n, int fd);
/* Out of the registry (before its number is closed elsewhere); nothing if not linked. */
void rt_srv_unlink(struct rt_srv *s, struct rt_conn *n);
/* The connection is done: out of the registry (n, or NULL), fd closed (under the
 * lock, so the stop never shuts down a number that was reused; fd < 0: closed
 * already), counted closed. After the stop, the last one wakes the drain: here (w
 * NULL), or *w gets the waker for the caller to wake when it is done. */
void rt_srv_closed(struct rt_srv *s, struct rt_conn *n, int fd, struct sn_waker *w);
/* Stop: no more connections, and every open one sees EOF (then closes itself). */
void rt_srv_stop(struct rt_srv *s);
/* The statistics task (a line every second until the stop), on rt; a message if it
 * cannot be spawned. */
void rt_srv_spawn_stats(struct rt_srv *s, struct sn_rt *rt);

/* Ready once every connection has closed (after rt_srv_stop). */
struct rt_srv_idle_fut {
    struct sn_future base;
    struct rt_srv *s;
};
void rt_srv_idle_init(struct rt_srv_idle_fut *f, struct rt_srv *s);

#endif
