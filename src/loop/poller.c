/* src/loop/poller.c — the public half of poller.h: argument checks (backends
 * trust what reaches them), the choice of backend (SN_LOOP_BACKEND), buffer-group
 * memory, and the calls through the backend's vtable (poller_int.h).
 */
#include "poller_int.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static const struct sn_backend_vt *const backends[] = {
    [SN_BACKEND_EPOLL] = &sn_backend_epoll,
    [SN_BACKEND_URING] = &sn_backend_uring,
    [SN_BACKEND_POLL] = &sn_backend_poll,
};

static const char *const backend_names[] = {
    [SN_BACKEND_AUTO] = "auto",
    [SN_BACKEND_EPOLL] = "epoll",
    [SN_BACKEND_URING] = "uring",
    [SN_BACKEND_POLL] = "poll",
};

const char *sn_backend_name(int backend)
{
    return backend >= 0 && backend < (int)SN_COUNTOF(backend_names) ? backend_names[backend] : NULL;
}

int sn_backend_parse(const char *name)
{
    if (!name)
        return -EINVAL;
    if (strcmp(name, "io_uring") == 0)
        return SN_BACKEND_URING;
    for (int b = 0; b < (int)SN_COUNTOF(backend_names); b++)
        if (strcmp(name, backend_names[b]) == 0)
            return b;
    return -EINVAL;
}

int sn_poller_ns_to_ms(int64_t timeout_ns)
{
    if (timeout_ns < 0)
        return -1;
    int64_t ms = timeout_ns / 1000000 + (timeout_ns % 1000000 != 0);
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* ---- open / close ------------------------------------------------------------ */

int sn_poller_open(struct sn_poller **out, const struct sn_poller_opts *opts)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    struct sn_poller_opts o = opts ? *opts : (struct sn_poller_opts){0};
    if (o.backend == SN_BACKEND_AUTO) {
        const char *env = getenv("SN_LOOP_BACKEND");
        o.backend = env && *env ? sn_backend_parse(env) : SN_BACKEND_AUTO;
        if (o.backend < 0)
            return -EINVAL;
        if (o.backend == SN_BACKEND_AUTO)
            o.backend = SN_BACKEND_EPOLL;
    }
    if (o.backend <= SN_BACKEND_AUTO || o.backend >= (int)SN_COUNTOF(backends))
        return -EINVAL;
    if (o.entries == 0)
        o.entries = 1024;
    /* io_uring's own limit (IORING_MAX_ENTRIES); every backend checks the same. */
    if (o.entries > 32768 || (o.entries & (o.entries - 1)))
        return -EINVAL;
    return backends[o.backend]->open(out, &o);
}

void sn_poller_close(struct sn_poller *p)
{
    if (p)
        p->vt->close(p);
}

int sn_poller_backend(const struct sn_poller *p)
{
    return p ? p->vt->backend : -EINVAL;
}

/* ---- readiness ----------------------------------------------------------------- */

#define INTEREST_BITS (SN_READ | SN_WRITE | SN_EDGE | SN_ONESHOT | SN_EXCLUSIVE)

/* An interest asks for reading and/or writing; EXCLUSIVE with ONESHOT is refused
 * by epoll (EPOLLEXCLUSIVE_OK_BITS), so by every backend. */
static int bad_interest(unsigned interest)
{
    return (interest & ~INTEREST_BITS) || !(interest & (SN_READ | SN_WRITE)) ||
           ((interest & SN_EXCLUSIVE) && (interest & SN_ONESHOT));
}

int sn_poller_add(struct sn_poller *p, int fd, uint64_t token, unsigned interest)
{
    if (!p || bad_interest(interest))
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    return p->vt->add(p, fd, token, interest);
}

int sn_poller_mod(struct sn_poller *p, int fd, uint64_t token, unsigned interest)
{
    if (!p || bad_interest(interest) || (interest & SN_EXCLUSIVE))
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    return p->vt->mod(p, fd, token, interest);
}

int sn_poller_del(struct sn_poller *p, int fd)
{
    if (!p)
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    return p->vt->del(p, fd);
}

int sn_poller_wait(struct sn_poller *p, struct sn_event *ev, unsigned max, int64_t timeout_ns)
{
    if (!p || !ev || max == 0 || timeout_ns < -1)
        return -EINVAL;
    return p->vt->wait(p, ev, max > INT_MAX ? INT_MAX : max, timeout_ns);
}

int sn_poller_wake(struct sn_poller *p)
{
    return p ? p->vt->wake(p) : -EINVAL;
}

/* ---- completions ---------------------------------------------------------------- */

/* Lengths are capped so that a byte count fits sn_event.res (int32_t); a stream
 * call may be short anyway. */
static size_t cap_len(size_t len) { return len > INT32_MAX ? INT32_MAX : len; }

int64_t sn_poller_accept(struct sn_poller *p, int fd, uint64_t token, unsigned flags)
{
    if (!p || (flags & ~SN_MULTISHOT))
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    struct sn_opreq r = {.op = SN_OP_ACCEPT, .flags = flags, .fd = fd, .token = token};
    return p->vt->op(p, &r);
}

int64_t sn_poller_recv(struct sn_poller *p, int fd, uint64_t token, void *buf, size_t len)
{
    if (!p || (!buf && len))
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    struct sn_opreq r = {.op = SN_OP_RECV, .fd = fd, .token = token, .buf = buf,
                         .len = cap_len(len)};
    return p->vt->op(p, &r);
}

int64_t sn_poller_send(struct sn_poller *p, int fd, uint64_t token, const void *buf, size_t len,
                       int msg_flags)
{
    if (!p || (!buf && len))
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    struct sn_opreq r = {.op = SN_OP_SEND, .fd = fd, .token = token, .buf = (void *)(uintptr_t)buf,
                         .len = cap_len(len), .msg_flags = msg_flags | MSG_NOSIGNAL};
    return p->vt->op(p, &r);
}

int64_t sn_poller_connect(struct sn_poller *p, int fd, uint64_t token, const struct sockaddr *sa,
                          socklen_t salen)
{
    struct sn_opreq r = {.op = SN_OP_CONNECT, .fd = fd, .token = token, .salen = salen};
    if (!p || !sa || salen == 0 || salen > sizeof(r.sa))
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    memcpy(&r.sa, sa, salen);
    return p->vt->op(p, &r);
}

int64_t sn_poller_timeout(struct sn_poller *p, uint64_t token, int64_t ns)
{
    if (!p || ns < 0)
        return -EINVAL;
    struct sn_opreq r = {.op = SN_OP_TIMEOUT, .fd = -1, .token = token, .ns = ns};
    return p->vt->op(p, &r);
}

int sn_poller_cancel(struct sn_poller *p, int64_t id)
{
    if (!p)
        return -EINVAL;
    return id < 0 ? -ENOENT : p->vt->cancel(p, id);
}

int sn_poller_submit(struct sn_poller *p)
{
    return p ? p->vt->submit(p) : -EINVAL;
}

int64_t sn_poller_recv_group(struct sn_poller *p, int fd, uint64_t token, struct sn_bufgroup *g,
                             unsigned flags)
{
    if (!p || !g || g->p != p || (flags & ~SN_MULTISHOT))
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    struct sn_opreq r = {.op = SN_OP_RECV, .flags = flags, .fd = fd, .token = token, .group = g};
    return p->vt->op(p, &r);
}

/* ---- provided buffers --------------------------------------------------------------- */

/* Group ids must be unique in a poller (io_uring keys its buffer rings by them) but
 * struct sn_poller holds only the vtable, so they come from one process-wide
 * counter; the rare id still in use after a wrap (io_uring says -EEXIST) is skipped. */
static atomic_uint next_bgid;

int sn_bufgroup_open(struct sn_poller *p, struct sn_bufgroup **out, unsigned count, unsigned size)
{
    if (!p || !out || count == 0 || count > 32768 || (count & (count - 1)) || size == 0 ||
        size > INT32_MAX)
        return -EINVAL;
    *out = NULL;
    struct sn_bufgroup *g = calloc(1, sizeof(*g));
    if (!g)
        return -ENOMEM;
    g->p = p;
    g->count = count;
    g->size = size;
    g->mem_len = (size_t)count * size;
    /* One anonymous mapping: page aligned, zero-filled, and its pages cost nothing
     * until a recv touches them. */
    void *mem = mmap(NULL, g->mem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        int r = -errno;
        free(g);
        return r;
    }
    g->mem = mem;
    int r = -EEXIST;
    for (int tries = 0; r == -EEXIST && tries < 64; tries++) {
        g->bgid = (uint16_t)atomic_fetch_add(&next_bgid, 1);
        r = p->vt->bufgroup_open(p, g);
    }
    if (r < 0) {
        munmap(g->mem, g->mem_len);
        free(g);
        return r;
    }
    *out = g;
    return 0;
}

void sn_bufgroup_close(struct sn_bufgroup *g)
{
    if (!g)
        return;
    if (g->p) /* NULL once its poller has been closed */
        g->p->vt->bufgroup_close(g->p, g);
    munmap(g->mem, g->mem_len);
    free(g);
}

void *sn_bufgroup_buf(const struct sn_bufgroup *g, uint16_t id)
{
    return g && id < g->count ? g->mem + (size_t)id * g->size : NULL;
}

unsigned sn_bufgroup_size(const struct sn_bufgroup *g)
{
    return g ? g->size : 0;
}

void sn_bufgroup_put(struct sn_bufgroup *g, uint16_t id)
{
    if (g && g->p && id < g->count)
        g->p->vt->bufgroup_put(g->p, g, id);
}
