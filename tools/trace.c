/* trace.c — `sysnet trace`: being written (issue 3); replaced by the real tool. */
#include "tool.h"

int cmd_trace(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return tool_err("trace", "not built yet");
}
