/* sysnet/stream.h — layer 5, events: TCP streams and UDP endpoints on the loop
 * (libuv's uv_tcp/uv_stream/uv_udp). The caller writes one code path; underneath,
 * on epoll and poll a stream reads and writes on readiness (read until EAGAIN,
 * write until EAGAIN), on io_uring it keeps one multishot recv into a provided
 * buffer group per loop and sends with completions.
 *
 *   static void on_read(struct sn_stream *s, const uint8_t *p, ssize_t n) {
 *       if (n > 0) { if (sn_stream_write(s, p, (size_t)n) == 1) sn_stream_read_stop(s); }
 *       else sn_stream_close(s, on_closed);            // 0: EOF, < 0: error
 *   }
 *   static void on_drain(struct sn_stream *s) { sn_stream_read_start(s, on_read); }
 *   static void on_conn(struct sn_listener *ls, int fd) {
 *       struct sn_stream *s = malloc(sizeof *s);
 *       sn_stream_open(ls->loop, s, fd, NULL);  s->on_drain = on_drain;
 *       sn_stream_read_start(s, on_read);
 *   }
 *   sn_tcp_listen(loop, &ls, &addr, SN_LISTEN_REUSEPORT, 4096, on_conn);   // an echo server
 *
 * Writes and backpressure: sn_stream_write sends what the socket takes at once and
 * copies the rest into the stream's write queue (a chain of chunks), which the
 * loop drains as the socket becomes writable. It returns 1 once the queue holds
 * high_water bytes or more: stop producing (e.g. stop reading from the peer that
 * feeds this stream) until on_drain, which runs when the queue falls to low_water.
 * A writer that ignores the 1 is not refused — but a client that never reads is
 * then a memory leak of the caller's making; sn_stream_write refuses with -ENOBUFS
 * a write that would take a non-empty queue beyond hard_limit (default 16 x
 * high_water), so a bug cannot eat the machine. (A write into an empty queue is
 * always taken, whatever its size: it is bounded by the caller's own buffer.)
 *
 * Reads: on_read gets (data, n): n > 0 bytes, valid only during the call (a loop
 * buffer: copy what must live on); n == 0 the peer closed its side (EOF; the
 * stream may still write: half-close); n < 0 an error (-ECONNRESET...). Reading
 * stops after EOF or an error.
 *
 * Closing: sn_stream_shutdown sends FIN after the queued data (half-close: the
 * peer reads EOF, we keep reading). sn_stream_close is graceful: it stops reading,
 * flushes the write queue (for at most linger_ns, default 5 s), sends FIN, closes
 * the fd and calls on_closed — after which the caller may free the struct.
 * sn_stream_abort closes at once with an RST (SO_LINGER 0) and drops the queue;
 * on_closed still runs (from the loop, never from inside abort).
 *
 * Errors: >= 0 or -errno (base.h). A stream is touched only from its loop's thread.
 */
#ifndef SYSNET_STREAM_H
#define SYSNET_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sysnet/loop.h>
#include <sysnet/sock.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sn_stream_opts {
    size_t high_water;    /* write queue size that makes sn_stream_write return 1; 0 = 1 MiB */
    size_t low_water;     /* on_drain when the queue falls to this; 0 = 256 KiB (< high_water) */
    size_t hard_limit;    /* -ENOBUFS beyond this; 0 = 16 x high_water */
    uint64_t linger_ns;   /* sn_stream_close: how long to try to flush; 0 = 5 s */
    int nodelay;          /* 1: TCP_NODELAY (the default for sn_stream_open is 1; -1 leaves it) */
};

struct sn_stream;
typedef void (*sn_stream_read_cb)(struct sn_stream *s, const uint8_t *data, ssize_t n);
typedef void (*sn_stream_cb)(struct sn_stream *s);

struct sn_stream_chunk;
struct sn_stream {
    void *data;                 /* the caller's */
    sn_stream_cb on_drain;      /* the write queue fell to low_water after a write returned 1 */
    struct sn_loop *loop;       /* read-only */
    int fd;                     /* read-only; -1 once closed */
    /* private */
    sn_stream_read_cb on_read;
    sn_stream_cb on_closed;
    struct sn_stream_opts o;
    struct sn_io io;
    struct sn_op rop, wop;
    struct sn_timer linger;
    struct sn_defer closing;
    struct sn_stream_chunk *head, *tail;
    size_t queued;              /* bytes in the write queue */
    size_t head_off;            /* bytes of head already sent */
    size_t inflight;            /* io_uring: bytes of head given to the send in flight */
    unsigned state;             /* reading, eof, shutdown asked/done, closing, above high water... */
    int err;
    /* io_uring: a multishot recv into the loop's buffer group; what arrives while
     * reading is stopped waits here (a cancel races with arrivals) */
    struct sn_bufgroup *group;
    uint8_t *stash;
    size_t stash_len, stash_cap;
    int stash_end;              /* EOF (0) or error (< 0) after the stash; 1 = none */
    struct sn_defer kick;       /* delivers the stash after read_start */
};

/* Adopt a connected (or accepted) TCP socket; it is made non-blocking. opts may be
 * NULL. The stream owns fd from here: it closes it. */
int sn_stream_open(struct sn_loop *l, struct sn_stream *s, int fd, const struct sn_stream_opts *opts);
int sn_stream_read_start(struct sn_stream *s, sn_stream_read_cb cb);
void sn_stream_read_stop(struct sn_stream *s);
/* 0: sent or queued below high_water; 1: queued, at or above high_water; -errno:
 * -EPIPE after shutdown/close, -ENOBUFS (nothing taken) if the queue would pass
 * hard_limit, or the socket's error. */
int sn_stream_write(struct sn_stream *s, const void *buf, size_t len);
int sn_stream_writev(struct sn_stream *s, const struct iovec *iov, int iovcnt);
size_t sn_stream_queued(const struct sn_stream *s);
int sn_stream_shutdown(struct sn_stream *s);
void sn_stream_close(struct sn_stream *s, sn_stream_cb on_closed);
void sn_stream_abort(struct sn_stream *s, sn_stream_cb on_closed);

/* ---- listening ----
 * Accepted fds are non-blocking and close-on-exec. When accept fails with EMFILE /
 * ENFILE (out of file descriptors), the listener uses the reserve-fd trick: it
 * keeps one spare fd (open on /dev/null); it closes it, accepts the connection and
 * closes it at once (the client sees a clean close instead of hanging in the
 * backlog), reopens the spare, and tries again after 100 ms; `rejected` counts
 * those. Accepting resumes by itself once fds are free. */
struct sn_listener;
typedef void (*sn_accept_cb)(struct sn_listener *ls, int fd);
struct sn_listener {
    void *data;
    struct sn_loop *loop;       /* read-only */
    int fd;                     /* read-only */
    uint64_t accepted, rejected;/* counters */
    /* private */
    sn_accept_cb cb;
    struct sn_io io;
    struct sn_op op;
    struct sn_timer retry;
    int spare;                  /* the reserve fd */
    unsigned flags;
};
#define SN_LISTEN_REUSEPORT 0x1u /* SO_REUSEPORT: several processes/threads each with a listener */
/* Bind and listen on addr (port 0: any; sn_sock_local_addr(ls->fd) tells which) with
 * SO_REUSEADDR, and accept with cb for every connection. */
int sn_tcp_listen(struct sn_loop *l, struct sn_listener *ls, const struct sn_addr *addr, unsigned flags,
                  int backlog, sn_accept_cb cb);
void sn_listener_close(struct sn_listener *ls);

/* ---- connecting ---- */
struct sn_connector;
typedef void (*sn_connect_cb)(struct sn_connector *c, int fd_or_err); /* the connected fd, or -errno */
struct sn_connector {
    void *data;
    struct sn_loop *loop;
    /* private */
    sn_connect_cb cb;
    int fd;
    struct sn_io io;
    struct sn_op op;
    struct sn_timer timer;
};
/* Connect to `to` (from `from` when not NULL: a source address, e.g. 127.0.0.2 to
 * get past the ~28k ephemeral ports of one source), failing with -ETIMEDOUT after
 * timeout_ns (0 = the kernel's own). cb runs once, never from inside this call. */
int sn_tcp_connect(struct sn_loop *l, struct sn_connector *c, const struct sn_addr *to,
                   const struct sn_addr *from, uint64_t timeout_ns, sn_connect_cb cb);
void sn_connect_cancel(struct sn_connector *c); /* cb runs with -ECANCELED */

/* ---- UDP with recvmmsg / sendmmsg ---- */
struct sn_udp;
/* A batch of n datagrams: the i-th is b->... as sock.h's struct sn_batch describes. */
typedef void (*sn_udp_recv_cb)(struct sn_udp *u, struct sn_batch *b, int n);
struct sn_udp {
    void *data;
    struct sn_loop *loop;
    int fd;
    /* private */
    sn_udp_recv_cb cb;
    struct sn_io io;
    struct sn_batch *batch;
    uint8_t *mem;
    unsigned bufsize;
};
/* Open a UDP socket bound to addr; datagrams up to bufsize bytes (0 = 2048; longer
 * ones are cut, MSG_TRUNC). */
int sn_udp_open(struct sn_loop *l, struct sn_udp *u, const struct sn_addr *addr, unsigned bufsize);
int sn_udp_recv_start(struct sn_udp *u, sn_udp_recv_cb cb);
void sn_udp_recv_stop(struct sn_udp *u);
/* Send a batch with sendmmsg (sock.h's sn_batch_send): the number sent or -errno. */
int sn_udp_send(struct sn_udp *u, struct sn_batch *b);
void sn_udp_close(struct sn_udp *u);

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_STREAM_H */
