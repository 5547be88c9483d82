/* pool.c — the loop's blocking-work pool (libuv's threadpool, one per loop): N
 * threads started on the first sn_work_queue, one mutex + condvar FIFO queue, and
 * the results handed back to the loop thread through an internal sn_async, where
 * done() runs. Threads are joined by sn_loop_close. */
#include "loop_int.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>

int snl_pool_init(struct sn_loop *l, unsigned threads)
{
    struct snl_pool *p = &l->pool;
    int err = pthread_mutex_init(&p->mu, NULL);
    if (err)
        return -err;
    err = pthread_cond_init(&p->cv, NULL);
    if (err) {
        pthread_mutex_destroy(&p->mu);
        return -err;
    }
    p->want = threads;
    return 0;
}

static void *worker_main(void *arg)
{
    struct sn_loop *l = arg;
    struct snl_pool *p = &l->pool;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->qhead && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        struct sn_work *w = p->qhead;
        if (!w)
            break; /* stopping, and nothing left */
        p->qhead = w->next;
        if (!p->qhead)
            p->qtail = NULL;
        w->next = NULL;
        atomic_store(&w->state, SNL_WORK_RUNNING);
        pthread_mutex_unlock(&p->mu);

        w->work(w);

        pthread_mutex_lock(&p->mu);
        atomic_store(&w->state, SNL_WORK_DONE);
        if (p->dtail)
            p->dtail->next = w;
        else
            p->dhead = w;
        p->dtail = w;
        pthread_mutex_unlock(&p->mu);
        /* Outside the lock (the wake is a system call). The loop may run done() and
         * the caller free w before this returns: only the loop's own memory is
         * touched here, and sn_loop_close joins this thread before freeing it. */
        sn_async_send(&p->async);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* On the loop thread: hand every finished or cancelled item to its done(), in the
 * order they finished. The list is taken whole so done() may queue more work. */
static void pool_async_cb(struct sn_async *a)
{
    struct sn_loop *l = a->loop;
    struct snl_pool *p = &l->pool;
    pthread_mutex_lock(&p->mu);
    struct sn_work *w = p->dhead;
    p->dhead = p->dtail = NULL;
    pthread_mutex_unlock(&p->mu);
    while (w) {
        struct sn_work *next = w->next;
        int status = atomic_load(&w->state) == SNL_WORK_CANCELLED ? -ECANCELED : 0;
        w->next = NULL;
        atomic_store(&w->state, SNL_WORK_IDLE);
        p->pending--;
        l->nactive--;
        if (w->done)
            w->done(w, status);
        w = next;
    }
}

/* Start the threads with every signal blocked: a process-directed signal that a
 * loop watches (blocked only in the loop's thread) must not be delivered to a pool
 * thread, where its default action would kill the process. */
static int pool_start(struct sn_loop *l)
{
    struct snl_pool *p = &l->pool;
    p->threads = calloc(p->want, sizeof(*p->threads));
    if (!p->threads)
        return -ENOMEM;
    int err = snl_async_start_internal(l, &p->async, pool_async_cb);
    if (err)
        goto fail;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (unsigned i = 0; i < p->want; i++) {
        err = pthread_create(&p->threads[i], NULL, worker_main, l);
        if (err)
            break;
        p->nthreads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (p->nthreads > 0)
        return 0; /* fewer threads than asked is still a working pool */
    err = -err;
    snl_async_stop_internal(&p->async);
fail:
    free(p->threads);
    p->threads = NULL;
    return err;
}

int sn_work_queue(struct sn_loop *l, struct sn_work *w, sn_work_fn work, sn_work_done_cb done)
{
    if (!l || !w || !work)
        return -EINVAL;
    if (w->loop == l && atomic_load(&w->state) != SNL_WORK_IDLE)
        return -EBUSY;
    struct snl_pool *p = &l->pool;
    if (!p->threads) {
        int err = pool_start(l);
        if (err)
            return err;
    }
    w->work = work;
    w->done = done;
    w->loop = l;
    w->next = NULL;
    atomic_store(&w->state, SNL_WORK_QUEUED);
    pthread_mutex_lock(&p->mu);
    if (p->qtail)
        p->qtail->next = w;
    else
        p->qhead = w;
    p->qtail = w;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    p->pending++;
    l->nactive++;
    return 0;
}

int sn_work_cancel(struct sn_work *w)
{
    if (!w || !w->loop)
        return -EINVAL;
    struct snl_pool *p = &w->loop->pool;
    pthread_mutex_lock(&p->mu);
    if (atomic_load(&w->state) != SNL_WORK_QUEUED) {
        pthread_mutex_unlock(&p->mu);
        return -EBUSY;
    }
    /* Unlink from the queue: O(position), the list is singly linked (one pointer
     * per sn_work) and cancels are rare next to queues. */
    struct sn_work **pp = &p->qhead, *prev = NULL;
    while (*pp != w) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    *pp = w->next;
    if (p->qtail == w)
        p->qtail = prev;
    w->next = NULL;
    atomic_store(&w->state, SNL_WORK_CANCELLED);
    /* done(-ECANCELED) runs from the loop like any other result, never from here. */
    if (p->dtail)
        p->dtail->next = w;
    else
        p->dhead = w;
    p->dtail = w;
    pthread_mutex_unlock(&p->mu);
    sn_async_send(&p->async);
    return 0;
}

void snl_pool_fini(struct sn_loop *l)
{
    struct snl_pool *p = &l->pool;
    if (p->threads) {
        pthread_mutex_lock(&p->mu);
        p->stopping = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        for (unsigned i = 0; i < p->nthreads; i++)
            pthread_join(p->threads[i], NULL);
        free(p->threads);
        p->threads = NULL;
        p->nthreads = 0;
        snl_async_stop_internal(&p->async);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}
