/* src/task/task_int.h — the task header, shared by the executor (task.c, exec.c)
 * and the runtime's other parts. Private to src/task/. */
#ifndef SN_TASK_INT_H
#define SN_TASK_INT_H

#include <stdatomic.h>
#include <stdint.h>
#include <sysnet/task.h>

#define SN_TASK_NO_HOME (-1)

/* One allocation per task: this header, then the future (16-byte aligned).
 * state: the SN_TASK_* bits of task.h in the low byte, the reference count
 * above SN_TASK_REF_SHIFT (Tokio's layout). */
struct sn_task {
    _Atomic uint64_t state;
    struct sn_rt *rt;
    struct sn_task *_Atomic next;  /* run-queue / injection-queue link */
    _Atomic int32_t home;          /* worker it is pinned to, or SN_TASK_NO_HOME (stealable) */
    uint32_t size;                 /* bytes of future */
    int64_t result;                /* valid once COMPLETE */
    struct sn_waker join_waker;    /* written by the join side while JOIN_WAKER is clear */
    /* exec.c's registry of live tasks (sn_rt_close cancels what is left): an
     * intrusive list per shard, under the shard's mutex. */
    struct sn_task *live_prev, *live_next;
    uint32_t shard;                /* which shard's list holds it */
    uint32_t cache;                /* exec.c: free-list size class of the block, or 0 */
    _Alignas(16) unsigned char fut[];
};

/* Pin t to worker w unless it is already pinned (called from the worker polling t). */
static inline void sn_task_pin(struct sn_task *t, unsigned w)
{
    int32_t h = atomic_load_explicit(&t->home, memory_order_relaxed);
    if (h == SN_TASK_NO_HOME)
        atomic_store_explicit(&t->home, (int32_t)w, memory_order_relaxed);
}

#endif
