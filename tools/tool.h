/* tools/tool.h — what the subcommands of `sysnet` share: the entry points,
 * a one-line fatal error, number parsing with clear complaints, the stop signals,
 * and (probe.c) the pieces ping and trace have in common. */
#ifndef SYSNET_TOOL_H
#define SYSNET_TOOL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* Each subcommand: argv[0] is its name. Returns the process exit code. */
int cmd_sniff(int argc, char **argv);
int cmd_lab(int argc, char **argv);
/* lab_net.c: the loop steps of sysnet lab (0, or an exit code after a message). */
int lab_step_echo(int quiet);
int lab_step_feed(int quiet);
int cmd_ping(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_scan(int argc, char **argv);
int cmd_echo(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_feed(int, char **);

/* "sysnet SUB: message\n" on stderr; returns exit code 1 (2 for usage errors). */
int tool_err(const char *sub, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tool_usage(const char *sub, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parse an unsigned decimal in [min, max]; -EINVAL/-ERANGE otherwise. */
int tool_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Parse seconds, fractional ("0.05", "1", "2.5"), in [min, max] into *ns; -EINVAL otherwise. */
int tool_parse_seconds(const char *s, double min, double max, int64_t *ns);
/* The usage error for what getopt(3) returned as c, ':' (a missing value) or '?'
 * (an unknown option, short or long); returns exit code 2. */
int tool_bad_option(const char *sub, int c, char **argv);

/* Set to 1 by the signals tool_stop_on() catches. */
extern volatile sig_atomic_t tool_stop;
/* Catch the signals listed (ended by 0) by setting tool_stop. No SA_RESTART: a
 * wait in progress returns -EINTR, so the caller's loop sees tool_stop at once. */
void tool_stop_on(int sig, ...);

/* ---- probe.c: what ping and trace share ---- */
struct sn_addr;
struct sn_raw_rx;
/* The one HOST operand after the options (argv[optind]): a numeric address of
 * `family` (0: either), without a port (else "'HOST': no_port"). Fills *host and
 * *dst; returns 0, or exit code 2 after a usage message. */
int probe_host(const char *sub, int argc, char **argv, int family, const char *no_port,
               const char **host, struct sn_addr *dst);
/* ICMPv6 sockets: pass only what a prober waits for (echo reply, unreachable,
 * packet too big, time exceeded, parameter problem). 0 or -errno. */
int probe_icmp6_filter(int fd);
/* Receive every packet waiting on non-blocking fd, handing each to fn. */
typedef void probe_rx_fn(void *arg, int fd, const uint8_t *buf, size_t len, const struct sn_raw_rx *rx);
void probe_drain(int fd, probe_rx_fn *fn, void *arg);
/* The message for raw sockets that did not open (err < 0): the CAP_NET_RAW hint,
 * "IFOPT IFACE: no such interface", or "what: error". Returns exit code 1. */
int probe_open_err(const char *sub, const char *ifopt, const char *iface, int err, const char *what);

#endif
