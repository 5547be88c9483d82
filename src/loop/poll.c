/* src/loop/poll.c — the poll(2) backend: one pollfd array (entry 0 is the wake
 * eventfd) with the token/interest table of emul.c indexed by fd; O(n) per wait,
 * takes any fd (regular files too), ms timeouts. Completions are emul.c's.
 *
 * poll(2) is level-triggered and keeps no state between calls, so:
 *  - ONESHOT is exact: after its event the entry is disarmed (a negative fd,
 *    which poll skips) until sn_poller_mod.
 *  - EDGE reports like level. poll cannot see an arrival between two calls: after
 *    the caller read until EAGAIN and more data came, the fd just looks "still
 *    readable", the same as unread data. Suppressing repeats would then lose that
 *    arrival and hang a correct edge-triggered caller; repeating only costs it a
 *    read that says EAGAIN, which the edge-triggered contract already handles.
 */
#include "emul.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

struct pl_poller {
    struct sn_emul e;        /* first */
    struct pollfd *pfds;     /* [0]: the wake eventfd */
    unsigned npfds, cap;
    unsigned cursor;         /* where the next scan starts: no fd starves when max is small */
};

static short pl_events(unsigned interest)
{
    return (short)((interest & SN_READ ? POLLIN | POLLRDHUP : 0) |
                   (interest & SN_WRITE ? POLLOUT : 0));
}

static unsigned sn_events(short rev)
{
    /* POLLNVAL: the fd was closed while registered; report it as an error once. */
    return (rev & POLLIN ? SN_READ : 0) | (rev & POLLOUT ? SN_WRITE : 0) |
           (rev & (POLLHUP | POLLNVAL) ? SN_HUP : 0) | (rev & POLLRDHUP ? SN_RDHUP : 0) |
           (rev & (POLLERR | POLLNVAL) ? SN_ERR : 0);
}

/* fd's pollfd, appended (disarmed) if it has none. */
static int pl_slot(struct pl_poller *pl, int fd, struct sn_emul_fd *f)
{
    if (f->slot >= 0)
        return 0;
    if (pl->npfds == pl->cap) {
        unsigned n = pl->cap * 2;
        struct pollfd *a = realloc(pl->pfds, n * sizeof(*a));
        if (!a)
            return -ENOMEM;
        pl->pfds = a;
        pl->cap = n;
    }
    f->slot = (int)pl->npfds;
    pl->pfds[pl->npfds++] = (struct pollfd){.fd = ~fd};
    return 0;
}

/* Set fd's entry: armed with events, or parked (negative fd: poll skips it). Parked
 * entries nobody uses are swept before the next poll, never while one is scanned. */
static void pl_set(struct pl_poller *pl, int fd, struct sn_emul_fd *f, short events)
{
    pl->pfds[f->slot] = (struct pollfd){.fd = events ? fd : ~fd, .events = events};
}

static void pl_sweep(struct pl_poller *pl)
{
    for (unsigned i = pl->npfds; i-- > 1;) {
        int fd = pl->pfds[i].fd < 0 ? ~pl->pfds[i].fd : pl->pfds[i].fd;
        struct sn_emul_fd *f = sn_emul_fd(&pl->e, fd);
        if (f->interest || f->want)
            continue;
        f->slot = -1;
        if (i != --pl->npfds) { /* the last entry takes its place */
            pl->pfds[i] = pl->pfds[pl->npfds];
            int mfd = pl->pfds[i].fd < 0 ? ~pl->pfds[i].fd : pl->pfds[i].fd;
            sn_emul_fd(&pl->e, mfd)->slot = (int)i;
        }
    }
}

/* poll(2) looks at no fd before it waits; check it as epoll_ctl would. */
static int fd_open(int fd) { return fcntl(fd, F_GETFD) < 0 ? -errno : 0; }

/* ---- readiness ---------------------------------------------------------------- */

static int pl_add(struct sn_poller *p, int fd, uint64_t token, unsigned interest)
{
    struct pl_poller *pl = (struct pl_poller *)p;
    struct sn_emul_fd *f;
    int r = sn_emul_fd_get(&pl->e, fd, &f);
    if (r < 0)
        return r;
    if (f->interest)
        return -EEXIST;
    if (sn_emul_fd_busy(f))
        return -EBUSY;
    if ((r = fd_open(fd)) < 0 || (r = pl_slot(pl, fd, f)) < 0)
        return r;
    f->token = token;
    f->interest = interest;
    pl_set(pl, fd, f, pl_events(interest));
    return 0;
}

static int pl_mod(struct sn_poller *p, int fd, uint64_t token, unsigned interest)
{
    struct pl_poller *pl = (struct pl_poller *)p;
    struct sn_emul_fd *f = sn_emul_fd(&pl->e, fd);
    if (!f || !f->interest)
        return -ENOENT;
    if (f->interest & SN_EXCLUSIVE) /* as epoll: an exclusive registration is final */
        return -EINVAL;
    int r = fd_open(fd);
    if (r < 0)
        return r;
    f->token = token;
    f->interest = interest;
    pl_set(pl, fd, f, pl_events(interest)); /* re-arms a ONESHOT one */
    return 0;
}

static int pl_del(struct sn_poller *p, int fd)
{
    struct pl_poller *pl = (struct pl_poller *)p;
    struct sn_emul_fd *f = sn_emul_fd(&pl->e, fd);
    if (!f || !f->interest)
        return -ENOENT;
    f->interest = 0;
    pl_set(pl, fd, f, 0);
    return fd_open(fd); /* -EBADF, like epoll, when it was closed first */
}

/* ---- the emulation's hooks ------------------------------------------------------- */

static int pl_watch(struct sn_emul *e, int fd, unsigned want)
{
    struct pl_poller *pl = (struct pl_poller *)e;
    struct sn_emul_fd *f = sn_emul_fd(e, fd);
    int r = want ? pl_slot(pl, fd, f) : 0;
    if (r < 0)
        return r;
    if (f->slot >= 0)
        pl_set(pl, fd, f, (short)((want & SN_READ ? POLLIN : 0) | (want & SN_WRITE ? POLLOUT : 0)));
    return 0;
}

static int pl_poll(struct sn_emul *e, struct sn_event *ev, unsigned max, int64_t timeout_ns)
{
    struct pl_poller *pl = (struct pl_poller *)e;
    pl_sweep(pl);
    int n = poll(pl->pfds, pl->npfds, sn_poller_ns_to_ms(timeout_ns));
    if (n <= 0)
        return n < 0 ? -errno : 0;
    if (pl->pfds[0].revents)
        sn_emul_woke(e);
    /* Readiness first (one slot each; a ONESHOT entry is disarmed only once its
     * event is written), then operations with the room left, as in epoll.c. */
    unsigned out = 0, cnt = pl->npfds - 1, start = cnt ? pl->cursor++ % cnt : 0;
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned j = 0; j < cnt && out < max; j++) {
            struct pollfd *q = &pl->pfds[1 + (start + j) % cnt];
            if (!q->revents || q->fd < 0)
                continue;
            struct sn_emul_fd *f = sn_emul_fd(e, q->fd);
            if (pass == 0 && f->interest) {
                ev[out++] = (struct sn_event){.token = f->token, .id = -1,
                                              .events = sn_events(q->revents)};
                if ((f->interest & SN_ONESHOT) || (q->revents & POLLNVAL))
                    q->fd = ~q->fd; /* POLLNVAL too: it would be reported on every call */
            } else if (pass == 1 && !f->interest && f->want) {
                out += sn_emul_io(e, q->fd, sn_events(q->revents), ev + out, max - out);
            }
        }
    }
    return (int)out;
}

static const struct sn_emul_hooks pl_hooks = {.watch = pl_watch, .poll = pl_poll};

/* ---- open / close -------------------------------------------------------------------- */

static void pl_close(struct sn_poller *p)
{
    struct pl_poller *pl = (struct pl_poller *)p;
    sn_emul_fini(&pl->e);
    free(pl->pfds);
    free(pl);
}

static int pl_open(struct sn_poller **out, const struct sn_poller_opts *opts)
{
    (void)opts;
    struct pl_poller *pl = calloc(1, sizeof(*pl));
    if (!pl)
        return -ENOMEM;
    int r = sn_emul_init(&pl->e, &sn_backend_poll, &pl_hooks);
    pl->cap = 64;
    pl->pfds = r < 0 ? NULL : malloc(pl->cap * sizeof(*pl->pfds));
    if (r == 0 && !pl->pfds)
        r = -ENOMEM;
    if (r < 0) {
        pl_close(&pl->e.base);
        return r;
    }
    pl->pfds[0] = (struct pollfd){.fd = pl->e.wakefd, .events = POLLIN};
    pl->npfds = 1;
    *out = &pl->e.base;
    return 0;
}

const struct sn_backend_vt sn_backend_poll = {
    .name = "poll",
    .backend = SN_BACKEND_POLL,
    .open = pl_open,
    .close = pl_close,
    .add = pl_add,
    .mod = pl_mod,
    .del = pl_del,
    .wait = sn_emul_wait,
    .wake = sn_emul_wake,
    .op = sn_emul_op,
    .cancel = sn_emul_cancel,
    .submit = sn_emul_submit,
    .bufgroup_open = sn_emul_bufgroup_open,
    .bufgroup_close = sn_emul_bufgroup_close,
    .bufgroup_put = sn_emul_bufgroup_put,
};
