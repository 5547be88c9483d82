/* tools/echo_task.h — the tools on the task runtime (task.h, coro.h):
 * `sysnet echo --runtime future|coro` (echo_task.c: the echo server on the runtime
 * instead of the callback loop of echo.c + srv.c), `sysnet chat` (chat.c) and the
 * runtime step of `sysnet lab` (lab_task.c). */
#ifndef SYSNET_TOOLS_ECHO_TASK_H
#define SYSNET_TOOLS_ECHO_TASK_H

#include "srv.h"

#include <stddef.h>

enum { ECHO_RT_LOOP = 0, ECHO_RT_FUTURE, ECHO_RT_CORO };

struct echo_task_opts {
    const struct srv_opts *srv; /* address, backend, workers (processes), quiet, stats */
    int runtime;                /* ECHO_RT_FUTURE or ECHO_RT_CORO */
    unsigned threads;           /* runtime workers: 0 = the current-thread runtime */
    size_t stack_size;          /* coroutine stacks: 0 = SN_CO_STACK_DEFAULT */
};

/* "loop", "future", "coro" -> ECHO_RT_*, or -1. */
int echo_runtime_parse(const char *s);
/* Serve until SIGINT/SIGTERM; the process exit code (0, or 1 after a message). */
int echo_task_run(const struct echo_task_opts *o);

/* chat.c: `sysnet chat`. */
int cmd_chat(int argc, char **argv);

/* lab_task.c: step 8 of `sysnet lab` (one million sleeping tasks with their memory,
 * a coroutine echo, select/timeout): 0, or an exit code after a message. tasks: how
 * many sleeping tasks (0 = 1000000). */
int lab_step_runtime(int quiet, unsigned tasks);

#endif
