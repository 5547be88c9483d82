/* tools/tool.h — what the subcommands of `sysnet` share: the entry points,
 * a one-line fatal error, and number parsing with clear complaints. */
#ifndef SYSNET_TOOL_H
#define SYSNET_TOOL_H

#include <stdint.h>

/* Each subcommand: argv[0] is its name. Returns the process exit code. */
int cmd_sniff(int argc, char **argv);
int cmd_lab(int argc, char **argv);
int cmd_ping(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_scan(int argc, char **argv);

/* "sysnet SUB: message\n" on stderr; returns exit code 1 (2 for usage errors). */
int tool_err(const char *sub, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tool_usage(const char *sub, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parse an unsigned decimal in [min, max]; -EINVAL/-ERANGE otherwise. */
int tool_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
