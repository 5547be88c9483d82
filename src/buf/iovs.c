/* iovs.c — sn_iovs: an iovec array built from borrowed pieces, advanced over
 * partial writes. The caller's array is edited in place; nothing is allocated. */
#include <sysnet/buf.h>

#include <limits.h>
#include <string.h>
#include <unistd.h>

int sn_iovs_init(struct sn_iovs *v, struct iovec *iov, size_t cap)
{
    memset(v, 0, sizeof(*v));
    if (!iov && cap > 0)
        return -EINVAL;
    v->iov = iov;
    v->cap = cap;
    return 0;
}

void sn_iovs_reset(struct sn_iovs *v)
{
    v->n = v->head = v->bytes = 0;
}

int sn_iovs_push(struct sn_iovs *v, const void *p, size_t len)
{
    if (len == 0) /* an empty entry would only cost the kernel a loop turn */
        return 0;
    if (v->n == v->cap)
        return -ENOSPC;
    if (len > (size_t)SSIZE_MAX - v->bytes) /* writev returns the total as ssize_t */
        return -EMSGSIZE;
    v->iov[v->n].iov_base = (void *)(uintptr_t)p; /* iovec is not const-correct */
    v->iov[v->n].iov_len = len;
    v->n++;
    v->bytes += len;
    return 0;
}

int sn_iovs_push_slice(struct sn_iovs *v, struct sn_slice s)
{
    return sn_iovs_push(v, s.p, s.len);
}

int sn_iovs_push_buf(struct sn_iovs *v, const struct sn_buf *b)
{
    return sn_iovs_push(v, sn_buf_rptr(b), sn_buf_len(b));
}

int sn_iovs_push_bytes(struct sn_iovs *v, const struct sn_bytes *b)
{
    return sn_iovs_push(v, b->p, b->len);
}

int sn_iovs_advance(struct sn_iovs *v, size_t n)
{
    if (n > v->bytes)
        return -EINVAL;
    v->bytes -= n;
    while (n > 0) {
        struct iovec *e = &v->iov[v->head];
        if (n < e->iov_len) { /* a partial entry: move its start */
            e->iov_base = (uint8_t *)e->iov_base + n;
            e->iov_len -= n;
            break;
        }
        n -= e->iov_len;
        v->head++;
    }
    if (v->bytes == 0) /* all written: ready for the next message */
        sn_iovs_reset(v);
    return 0;
}

ssize_t sn_iovs_write(int fd, struct sn_iovs *v)
{
    if (v->bytes == 0)
        return 0;
    ssize_t w;
    do
        w = writev(fd, sn_iovs_vec(v), sn_iovs_count(v));
    while (w < 0 && errno == EINTR);
    if (w < 0)
        return -errno;
    sn_iovs_advance(v, (size_t)w); /* the kernel never reports more than we gave */
    return w;
}
