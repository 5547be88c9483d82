/* tests/loop_common.h — helpers for unit tests that run each test on every loop
 * backend that opens here (epoll, uring, poll): open_loop, close_loop and the
 * FOR_BACKENDS(l) iteration. Static, included after harness.h (close_loop uses
 * CHECK_EQ). */
#ifndef SN_TESTS_LOOP_COMMON_H
#define SN_TESTS_LOOP_COMMON_H

#include <sysnet/loop.h>

#include <errno.h>
#include <stdio.h>

static const int backends[] = {SN_BACKEND_EPOLL, SN_BACKEND_URING, SN_BACKEND_POLL};

/* Open a loop on backend b; 0 if that backend is missing here (the test skips it). */
static struct sn_loop *open_loop(int b)
{
    struct sn_loop *l = NULL;
    struct sn_loop_opts o = {.backend = b};
    int rc = sn_loop_open(&l, &o);
    if (rc == -ENOSYS || rc == -EPERM || rc == -EOPNOTSUPP)
        return NULL;
    if (rc < 0) {
        printf("# sn_loop_open(%s): %s\n", sn_backend_name(b), sn_strerror(rc));
        return NULL;
    }
    return l;
}

/* Close the loop of one backend's round: nothing may be left active. */
static void close_loop(struct sn_loop *l)
{
    for (int i = 0; i < 50 && sn_loop_alive(l); i++)
        sn_loop_run(l, SN_RUN_NOWAIT);
    int rc = sn_loop_close(l);
    if (rc < 0)
        printf("# sn_loop_close: %s, %u handles alive\n", sn_strerror(rc), sn_loop_alive(l));
    CHECK_EQ(rc, 0);
}

/* for each backend that opens: a loop l, closed (and checked) after the body. */
#define FOR_BACKENDS(l)                                                              \
    for (size_t bi_ = 0; bi_ < SN_COUNTOF(backends); bi_++)                           \
        for (struct sn_loop *l = open_loop(backends[bi_]); l; close_loop(l), l = NULL)

#endif
