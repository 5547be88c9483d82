/* src/task/cx.c — the poll context's helpers: the reactor lookup that pins a
 * task to its worker, and the cooperative budget. */
#include "task_int.h"

struct sn_loop *sn_cx_loop(struct sn_cx *cx)
{
    if (cx->task)
        sn_task_pin(cx->task, cx->worker);
    return cx->loop;
}

int sn_coop(struct sn_cx *cx)
{
    if (!cx->rt)            /* polled by hand (tests): no budget */
        return 1;
    if (cx->budget == 0) {  /* spent: ask to be polled again, after the others */
        sn_waker_wake_by_ref(&cx->waker);
        return 0;
    }
    cx->budget--;
    return 1;
}
