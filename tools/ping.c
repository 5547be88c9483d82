/* ping.c — `sysnet ping`: being written (issue 3); replaced by the real tool. */
#include "tool.h"

int cmd_ping(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return tool_err("ping", "not built yet");
}
