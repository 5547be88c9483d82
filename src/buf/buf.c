/* buf.c — sn_buf: a growable buffer with a hard maximum, a read cursor and a
 * writable tail. It allocates only when an owned buffer must grow, and reuses
 * consumed space before it does. */
#include <sysnet/buf.h>

#include <stdlib.h>
#include <string.h>

/* First allocation of an owned buffer created with initial == 0. */
#define SN_BUF_MIN_ALLOC 64u

int sn_buf_init(struct sn_buf *b, size_t initial, size_t max)
{
    memset(b, 0, sizeof(*b));
    if (max == 0 || initial > max)
        return -EINVAL;
    b->max = max;
    b->owned = 1;
    if (initial == 0)
        return 0; /* lazy: the first append allocates */
    b->data = malloc(initial);
    if (!b->data)
        return -ENOMEM;
    b->cap = initial;
    return 0;
}

int sn_buf_init_mem(struct sn_buf *b, void *mem, size_t len)
{
    memset(b, 0, sizeof(*b));
    if (!mem && len > 0)
        return -EINVAL;
    b->data = mem;
    b->cap = b->max = len;
    return 0;
}

void sn_buf_fini(struct sn_buf *b)
{
    if (b->owned)
        free(b->data);
    memset(b, 0, sizeof(*b));
}

void sn_buf_compact(struct sn_buf *b)
{
    if (b->rpos == 0)
        return;
    size_t len = sn_buf_len(b);
    memmove(b->data, b->data + b->rpos, len);
    b->rpos = 0;
    b->wpos = len;
}

/* Doubling from the current size, clamped to max: amortised O(1) appends. */
static size_t grow_cap(const struct sn_buf *b, size_t need)
{
    size_t c = b->cap ? b->cap : SN_BUF_MIN_ALLOC;
    while (c < need && c <= b->max / 2)
        c *= 2;
    if (c < need || c > b->max)
        c = b->max; /* need <= max was checked by the caller */
    return c;
}

int sn_buf_reserve(struct sn_buf *b, size_t n)
{
    if (n <= sn_buf_tailroom(b))
        return 0;
    size_t len = sn_buf_len(b);
    if (n > b->max - len)
        return -ENOSPC;
    if (len + n <= b->cap) { /* the consumed prefix is enough room */
        sn_buf_compact(b);
        return 0;
    }
    if (!b->owned) /* cap == max for caller memory, so this is unreachable; be safe */
        return -ENOSPC;
    size_t ncap = grow_cap(b, len + n);
    sn_buf_compact(b); /* so realloc copies only live bytes */
    uint8_t *nd = realloc(b->data, ncap);
    if (!nd)
        return -ENOMEM; /* b->data is still valid, contents intact */
    b->data = nd;
    b->cap = ncap;
    return 0;
}

int sn_buf_append(struct sn_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    int err = sn_buf_reserve(b, n);
    if (err < 0)
        return err;
    memcpy(b->data + b->wpos, p, n);
    b->wpos += n;
    return 0;
}

int sn_buf_consume(struct sn_buf *b, size_t n)
{
    if (n > sn_buf_len(b))
        return -EINVAL;
    b->rpos += n;
    if (b->rpos == b->wpos) /* empty: rewind for free so the tail is whole again */
        b->rpos = b->wpos = 0;
    return 0;
}

uint8_t *sn_buf_wptr(struct sn_buf *b, size_t *avail)
{
    *avail = sn_buf_tailroom(b);
    return b->data ? b->data + b->wpos : NULL;
}

int sn_buf_commit(struct sn_buf *b, size_t n)
{
    if (n > sn_buf_tailroom(b))
        return -EINVAL;
    b->wpos += n;
    return 0;
}

void sn_buf_clear(struct sn_buf *b)
{
    b->rpos = b->wpos = 0;
}
