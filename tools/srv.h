/* tools/srv.h — what `sysnet echo` and `sysnet serve` share: the listener, the
 * worker processes (SO_REUSEPORT), the connections (streams with backpressure),
 * SIGINT/SIGTERM handling with a graceful close of every connection, and the
 * statistics lines. A protocol gives an on_read callback and a per-connection size,
 * and optionally on_open / on_free hooks for its own per-connection state (timers).
 *
 * File descriptors: srv_run raises the soft RLIMIT_NOFILE to the hard limit before
 * anything else (one fd per connection). The limit is per process: with --workers N
 * each worker may hold that many connections, so N workers hold up to N times as
 * many; nothing checks or divides it. Beyond it, the listener's reserve-fd trick
 * (stream.h) closes the connections it cannot take, and accepting resumes later. */
#ifndef SYSNET_TOOLS_SRV_H
#define SYSNET_TOOLS_SRV_H

#include <sysnet/loop.h>
#include <sysnet/stream.h>

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

struct srv;

/* One connection; a protocol's own state follows it (srv_opts.conn_size bytes in all). */
struct srv_conn {
    struct sn_stream s;          /* s.data points back here */
    struct srv *srv;
    struct srv_conn *prev, *next;
    int closing;                 /* a close or abort has begun (the protocol's timers should do nothing) */
};

/* Counters of this process, for the protocol to add to. */
struct srv_counters {
    uint64_t conns, peak, closed, bytes_in, bytes_out, requests, datagrams;
};

struct srv_opts {
    const char *name;            /* "echo": messages say "sysnet echo[worker]: ..." */
    struct sn_addr addr;
    int backend;                 /* enum sn_backend, 0 = auto */
    unsigned workers;            /* processes, >= 1 */
    int quiet, stats;
    size_t high_water;           /* 0: the stream's default (1 MiB) */
    /* The write queue beyond which a write fails (-ENOBUFS: the connection is aborted).
     * 0: 16 x high_water, but at least high_water + 256 KiB — the stream checks a
     * write's whole length against it before trying the socket, so it must exceed
     * high water by more than the largest single write (a 64 KiB read echoed). */
    size_t hard_limit;
    size_t conn_size;            /* sizeof the protocol's struct, which starts with struct srv_conn */
    sn_stream_read_cb on_read;   /* the protocol */
    /* Called once the connection is set up (stream open, reading started, counted):
     * the protocol starts its own state here (timers), and may replace c->s.on_drain
     * (srv's restarts reading with on_read). < 0 aborts the connection, and on_free
     * still runs. Or NULL. */
    int (*on_open)(struct srv_conn *c);
    /* The protocol's own cleanup (stop its timers, free its buffers), after the stream
     * has closed and before c is freed; runs for every connection, also those whose
     * on_open failed. Or NULL. */
    void (*on_free)(struct srv_conn *c);
    int udp;                     /* UDP instead of TCP: on_datagrams gets each batch */
    void (*on_datagrams)(struct sn_udp *u, struct sn_batch *b, int n, struct srv_counters *ctr);
};

struct srv_counters *srv_counters(struct srv_conn *c);
/* Close a connection gracefully (flush, FIN) or at once (RST); it is freed after
 * (on_free, then free). Both set c->closing; calling either again is harmless. */
void srv_conn_close(struct srv_conn *c);
void srv_conn_abort(struct srv_conn *c);

/* The options every server has, for getopt_long: add SRV_LONGOPTS to the table and
 * SRV_SHORTOPTS to the short string; srv_option() handles their codes: 0 done, 1 not
 * one of them, or an exit code (2) after a usage message. */
enum { SRV_O_HIGH = 300, SRV_O_STATS };
#define SRV_SHORTOPTS "l:b:w:q"
#define SRV_LONGOPTS                                                                                  \
    {"listen", required_argument, NULL, 'l'}, {"backend", required_argument, NULL, 'b'},              \
        {"workers", required_argument, NULL, 'w'}, {"high-water", required_argument, NULL, SRV_O_HIGH}, \
        {"stats", no_argument, NULL, SRV_O_STATS}
#define SRV_HELP                                                                                       \
    "  -l, --listen ADDR:PORT  address to listen on (127.0.0.1:7000, [::1]:7000; port 0: any)\n"       \
    "  -b, --backend B         epoll (default), uring or poll ($SN_LOOP_BACKEND too)\n"                \
    "  -w, --workers N         N processes, each with its own loop and SO_REUSEPORT listener\n"        \
    "                          (1..64; default 1). Each process raises its open-file limit\n"        \
    "                          to the hard one (ulimit -Hn): N workers hold N times as many\n"      \
    "                          connections\n"                                                         \
    "      --high-water BYTES  write queue per connection above which reading from that\n"           \
    "                          client pauses until it drains (default 1048576)\n"                      \
    "      --stats             a line on stderr every second: connections, peak, bytes, memory\n"     \
    "  -q                      no start/stop lines\n"
int srv_option(struct srv_opts *o, const char **listen_at, int c, const char *arg);
/* The option loop of a server tool: getopt_long(argc, argv, shortopts, lo) with
 * opterr off (the caller sets opterr = 0 and optind = 1 first), srv's own options
 * handled by srv_option. Returns the next option code that is the tool's own, -1
 * after the last option, or -2 with *rc set to the exit code (2) after a usage
 * message (a bad value, a missing value, an unknown option, a stray argument). */
int srv_getopt(struct srv_opts *o, const char **listen_at, int argc, char **argv, const char *shortopts,
               const struct option *lo, int *rc);
/* After the options: -1 to go on, or an exit code (2) after a usage message. */
int srv_check(struct srv_opts *o, const char *listen_at);

/* Run until SIGINT/SIGTERM: the process exit code. */
int srv_run(const struct srv_opts *o);

/* What srv_run is made of, for the servers on the task runtime too (echo_task.c,
 * chat.c). srv_process_init: the soft RLIMIT_NOFILE raised to the hard limit, SIGPIPE
 * ignored. srv_processes: srv_process_init, then serve(arg, 0) in this process
 * (o->workers <= 1), or o->workers forked processes, each serve(arg, worker) with
 * SIGINT/SIGTERM blocked (serve reads them from a signalfd), while this one waits for
 * one of them and passes it on. The exit code: serve's, or 1 if a worker failed. */
void srv_process_init(void);
int srv_processes(const struct srv_opts *o, int (*serve)(const void *arg, unsigned worker), const void *arg);
/* The resident set of this process in KiB (the statistics lines). */
long srv_rss_kib(void);

#endif
