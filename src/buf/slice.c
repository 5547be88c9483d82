/* slice.c — borrowed (pointer, length) views: bounds-checked narrowing and search.
 * Nothing here allocates or keeps state. */
#include <sysnet/buf.h>

#include <string.h>

/* p + n that stays defined for the empty slice {NULL, 0} (NULL + 0 is UB in C). */
static const uint8_t *at(const uint8_t *p, size_t n)
{
    return p ? p + n : p;
}

int sn_slice_sub(struct sn_slice s, size_t from, size_t to, struct sn_slice *out)
{
    if (from > to || to > s.len)
        return -EINVAL;
    *out = sn_slice_make(at(s.p, from), to - from);
    return 0;
}

int sn_slice_advance(struct sn_slice *s, size_t n)
{
    if (n > s->len)
        return -EINVAL;
    s->p = at(s->p, n);
    s->len -= n;
    return 0;
}

int sn_slice_split_to(struct sn_slice *s, size_t n, struct sn_slice *head)
{
    if (n > s->len)
        return -EINVAL;
    *head = sn_slice_make(s->p, n);
    s->p = at(s->p, n);
    s->len -= n;
    return 0;
}

int sn_slice_eq(struct sn_slice a, struct sn_slice b)
{
    if (a.len != b.len)
        return 0;
    return a.len == 0 || memcmp(a.p, b.p, a.len) == 0;
}

ssize_t sn_slice_find_byte(struct sn_slice s, uint8_t c)
{
    if (s.len == 0)
        return -ENOENT;
    const uint8_t *q = memchr(s.p, c, s.len);
    return q ? (ssize_t)(q - s.p) : -ENOENT;
}

ssize_t sn_slice_find(struct sn_slice hay, struct sn_slice needle)
{
    if (needle.len == 0)
        return 0;
    if (needle.len > hay.len)
        return -ENOENT;
    /* glibc's memmem is two-way for long needles: linear, no quadratic worst case. */
    const uint8_t *q = memmem(hay.p, hay.len, needle.p, needle.len);
    return q ? (ssize_t)(q - hay.p) : -ENOENT;
}
