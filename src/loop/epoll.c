/* src/loop/epoll.c — the epoll backend: readiness straight from the kernel
 * (level, EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE), completions emulated by emul.c
 * on level-triggered registrations, an eventfd for sn_poller_wake, and
 * epoll_pwait2 (Linux 5.11) for ns timeouts with epoll_wait (ms) as the fallback.
 *
 * Pitfalls this file lives with:
 *  - epoll registers the open file description, keyed by (file, fd number). A fd
 *    closed while a dup() or a child still holds the file goes on reporting (with
 *    our fd number as data); a fd closed for good is dropped by the kernel, and
 *    EPOLL_CTL_DEL on it then says EBADF/ENOENT. Hence "del before close" in
 *    poller.h, and the emulation deletes a fd as soon as no operation waits on it.
 *  - EPOLLEXCLUSIVE is accepted by EPOLL_CTL_ADD only, together with nothing but
 *    EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP/EPOLLET (no EPOLLRDHUP, no EPOLLONESHOT),
 *    and a registration made with it can never be modified.
 */
#include "emul.h"

#include <errno.h>
#include <linux/time_types.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441 /* the same number on every architecture */
#endif

#define EP_BATCH 256 /* kernel events per epoll_wait: more wait for the next call */

struct ep_poller {
    struct sn_emul e;                 /* first */
    int epfd;
    int pwait2;                       /* epoll_pwait2 not known to be missing */
    struct epoll_event evs[EP_BATCH];
};

static uint32_t ep_events(unsigned interest)
{
    uint32_t ev = 0;
    if (interest & SN_READ) /* RDHUP only with READ: a writer would spin on it (level) */
        ev |= EPOLLIN | (interest & SN_EXCLUSIVE ? 0 : EPOLLRDHUP);
    if (interest & SN_WRITE)
        ev |= EPOLLOUT;
    if (interest & SN_EDGE)
        ev |= EPOLLET;
    if (interest & SN_ONESHOT)
        ev |= EPOLLONESHOT;
    if (interest & SN_EXCLUSIVE)
        ev |= EPOLLEXCLUSIVE;
    return ev;
}

static unsigned sn_events(uint32_t ev)
{
    return (ev & EPOLLIN ? SN_READ : 0) | (ev & EPOLLOUT ? SN_WRITE : 0) |
           (ev & EPOLLHUP ? SN_HUP : 0) | (ev & EPOLLRDHUP ? SN_RDHUP : 0) |
           (ev & EPOLLERR ? SN_ERR : 0);
}

/* ---- readiness ------------------------------------------------------------------ */

static int ep_ctl(struct ep_poller *ep, int op, int fd, unsigned interest)
{
    struct epoll_event ev = {.events = ep_events(interest), .data.fd = fd};
    return epoll_ctl(ep->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

static int ep_add(struct sn_poller *p, int fd, uint64_t token, unsigned interest)
{
    struct ep_poller *ep = (struct ep_poller *)p;
    struct sn_emul_fd *f;
    int r = sn_emul_fd_get(&ep->e, fd, &f);
    if (r < 0)
        return r;
    if (f->interest)
        return -EEXIST;
    if (sn_emul_fd_busy(f))
        return -EBUSY;
    r = ep_ctl(ep, EPOLL_CTL_ADD, fd, interest); /* -EPERM: a regular file (use poll) */
    if (r < 0)
        return r;
    f->token = token;
    f->interest = interest;
    return 0;
}

static int ep_mod(struct sn_poller *p, int fd, uint64_t token, unsigned interest)
{
    struct ep_poller *ep = (struct ep_poller *)p;
    struct sn_emul_fd *f = sn_emul_fd(&ep->e, fd);
    if (!f || !f->interest)
        return -ENOENT;
    if (f->interest & SN_EXCLUSIVE)
        return -EINVAL;
    int r = ep_ctl(ep, EPOLL_CTL_MOD, fd, interest); /* re-arms a ONESHOT one too */
    if (r < 0)
        return r;
    f->token = token;
    f->interest = interest;
    return 0;
}

static int ep_del(struct sn_poller *p, int fd)
{
    struct ep_poller *ep = (struct ep_poller *)p;
    struct sn_emul_fd *f = sn_emul_fd(&ep->e, fd);
    if (!f || !f->interest)
        return -ENOENT;
    /* Forgotten even when the kernel says EBADF (closed before del): it dropped the
     * registration itself then, unless a dup keeps the file open. */
    f->interest = 0;
    return epoll_ctl(ep->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

/* ---- the emulation's hooks --------------------------------------------------------- */

/* Operations get plain level-triggered registrations for what their queue heads
 * wait for: a fd left ready (no room in the caller's array) is simply reported
 * again. Deleted as soon as nothing waits, before the caller can close the fd. */
static int ep_watch(struct sn_emul *e, int fd, unsigned want)
{
    struct ep_poller *ep = (struct ep_poller *)e;
    unsigned had = sn_emul_fd(e, fd)->want;
    int op = !want ? EPOLL_CTL_DEL : had ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    struct epoll_event ev = {.data.fd = fd};
    ev.events = (want & SN_READ ? EPOLLIN : 0) | (want & SN_WRITE ? EPOLLOUT : 0);
    if (epoll_ctl(ep->epfd, op, fd, &ev) == 0)
        return 0;
    /* Watching less cannot fail: an error means the fd was closed under its
     * operations, and the kernel has dropped it already. */
    return want & ~had ? -errno : 0;
}

/* One epoll_pwait2 (ns) or epoll_wait (ms, rounded up) into ep->evs. */
static int ep_kwait(struct ep_poller *ep, int max, int64_t timeout_ns)
{
    if (ep->pwait2) {
        struct __kernel_timespec ts = {.tv_sec = timeout_ns / 1000000000,
                                       .tv_nsec = timeout_ns % 1000000000};
        long n = syscall(SYS_epoll_pwait2, ep->epfd, ep->evs, max, timeout_ns < 0 ? NULL : &ts,
                         NULL, 0);
        if (n >= 0)
            return (int)n;
        if (errno != ENOSYS && errno != EPERM)
            return -errno;
        /* ENOSYS before 5.11; EPERM from seccomp filters (container runtimes) that
         * predate the call. Either way: epoll_wait from now on. */
        ep->pwait2 = 0;
    }
    int n = epoll_wait(ep->epfd, ep->evs, max, sn_poller_ns_to_ms(timeout_ns));
    return n < 0 ? -errno : n;
}

static int ep_poll(struct sn_emul *e, struct sn_event *ev, unsigned max, int64_t timeout_ns)
{
    struct ep_poller *ep = (struct ep_poller *)e;
    int n = ep_kwait(ep, max < EP_BATCH ? (int)max : EP_BATCH, timeout_ns);
    if (n <= 0)
        return n;
    /* Readiness events first: one slot each and n <= max, so they all fit (an
     * EPOLLONESHOT or EPOLLET event the kernel handed over must not be dropped).
     * Operations get the room left; what they cannot write now stays ready. */
    unsigned out = 0;
    for (int i = 0; i < n; i++) {
        int fd = ep->evs[i].data.fd;
        struct sn_emul_fd *f = sn_emul_fd(e, fd);
        if (fd == e->wakefd)
            sn_emul_woke(e);
        else if (f && f->interest)
            ev[out++] = (struct sn_event){.token = f->token, .id = -1,
                                          .events = sn_events(ep->evs[i].events)};
    }
    for (int i = 0; i < n && out < max; i++) {
        int fd = ep->evs[i].data.fd;
        struct sn_emul_fd *f = sn_emul_fd(e, fd);
        if (fd != e->wakefd && f && !f->interest && f->want)
            out += sn_emul_io(e, fd, sn_events(ep->evs[i].events), ev + out, max - out);
    }
    return (int)out;
}

static const struct sn_emul_hooks ep_hooks = {.watch = ep_watch, .poll = ep_poll};

/* ---- open / close -------------------------------------------------------------------- */

static void ep_close(struct sn_poller *p)
{
    struct ep_poller *ep = (struct ep_poller *)p;
    sn_emul_fini(&ep->e);
    if (ep->epfd >= 0)
        close(ep->epfd);
    free(ep);
}

static int ep_open(struct sn_poller **out, const struct sn_poller_opts *opts)
{
    (void)opts;
    struct ep_poller *ep = calloc(1, sizeof(*ep));
    if (!ep)
        return -ENOMEM;
    int r = sn_emul_init(&ep->e, &sn_backend_epoll, &ep_hooks);
    ep->pwait2 = 1;
    ep->epfd = r < 0 ? -1 : epoll_create1(EPOLL_CLOEXEC);
    if (r == 0 && ep->epfd < 0)
        r = -errno;
    if (r == 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = ep->e.wakefd};
        r = epoll_ctl(ep->epfd, EPOLL_CTL_ADD, ep->e.wakefd, &ev) < 0 ? -errno : 0;
    }
    if (r < 0) {
        ep_close(&ep->e.base);
        return r;
    }
    *out = &ep->e.base;
    return 0;
}

const struct sn_backend_vt sn_backend_epoll = {
    .name = "epoll",
    .backend = SN_BACKEND_EPOLL,
    .open = ep_open,
    .close = ep_close,
    .add = ep_add,
    .mod = ep_mod,
    .del = ep_del,
    .wait = sn_emul_wait,
    .wake = sn_emul_wake,
    .op = sn_emul_op,
    .cancel = sn_emul_cancel,
    .submit = sn_emul_submit,
    .bufgroup_open = sn_emul_bufgroup_open,
    .bufgroup_close = sn_emul_bufgroup_close,
    .bufgroup_put = sn_emul_bufgroup_put,
};
