/* scan.c — `sysnet scan`: being written (issue 3); replaced by the real tool. */
#include "tool.h"

int cmd_scan(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return tool_err("scan", "not built yet");
}
