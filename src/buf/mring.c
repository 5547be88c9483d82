/* mring.c — sn_mring: the mirrored ("magic") ring buffer. One memfd is mapped
 * twice into a reserved range of twice its size, so the byte after the last one
 * is the first one again and no read or write ever has to wrap. */
#include <sysnet/buf.h>

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Map the memfd over [addr, addr + size), replacing the reservation there. */
static int map_half(uint8_t *addr, size_t size, int fd)
{
    void *p = mmap(addr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
    return p == MAP_FAILED ? -errno : 0;
}

/* size rounded up to whole pages, or 0 if it does not fit (twice) in the address space. */
static size_t page_round(size_t size)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t page = pg > 0 ? (size_t)pg : 4096;
    if (size > SIZE_MAX / 2 - page)
        return 0;
    size = (size + page - 1) / page * page;
    if ((off_t)size < 0 || (size_t)(off_t)size != size) /* ftruncate takes an off_t */
        return 0;
    return size;
}

int sn_mring_open(struct sn_mring *r, size_t size)
{
    memset(r, 0, sizeof(*r));
    if (size == 0)
        return -EINVAL;
    size = page_round(size);
    if (size == 0)
        return -ENOMEM;
    int err;
    int fd = memfd_create("sn-mring", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)size) < 0) {
        err = -errno;
        goto fail_fd;
    }
    /* Reserve 2*size of address space first so the two halves are adjacent and
     * nothing else can be mapped between them; MAP_FIXED then replaces it. */
    uint8_t *base = mmap(NULL, 2 * size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                         -1, 0);
    if (base == MAP_FAILED) {
        err = -errno;
        goto fail_fd;
    }
    if ((err = map_half(base, size, fd)) < 0 || (err = map_half(base + size, size, fd)) < 0)
        goto fail_map;
    close(fd); /* the mappings hold the pages now */
    r->base = base;
    r->size = size;
    return 0;
fail_map:
    munmap(base, 2 * size);
fail_fd:
    close(fd);
    return err;
}

void sn_mring_close(struct sn_mring *r)
{
    if (r->base)
        munmap(r->base, 2 * r->size);
    memset(r, 0, sizeof(*r));
}

const uint8_t *sn_mring_rptr(const struct sn_mring *r, size_t *avail)
{
    *avail = r->len;
    return r->base ? r->base + r->rpos : NULL;
}

uint8_t *sn_mring_wptr(const struct sn_mring *r, size_t *avail)
{
    *avail = sn_mring_space(r);
    if (!r->base)
        return NULL;
    /* rpos + len < 2 * size, and the mirror makes base[w] valid for w < 2*size. */
    return r->base + r->rpos + r->len;
}

int sn_mring_consume(struct sn_mring *r, size_t n)
{
    if (n > r->len)
        return -EINVAL;
    r->rpos += n;
    if (r->rpos >= r->size)
        r->rpos -= r->size;
    r->len -= n;
    if (r->len == 0)
        r->rpos = 0; /* not needed for correctness; keeps runs page-aligned when idle */
    return 0;
}

int sn_mring_commit(struct sn_mring *r, size_t n)
{
    if (n > sn_mring_space(r))
        return -EINVAL;
    r->len += n;
    return 0;
}

int sn_mring_write(struct sn_mring *r, const void *p, size_t n)
{
    size_t avail;
    uint8_t *w = sn_mring_wptr(r, &avail);
    if (n > avail)
        return -ENOSPC;
    if (n)
        memcpy(w, p, n);
    r->len += n;
    return 0;
}

size_t sn_mring_read(struct sn_mring *r, void *p, size_t n)
{
    size_t avail;
    const uint8_t *q = sn_mring_rptr(r, &avail);
    n = SN_MIN(n, avail);
    if (n)
        memcpy(p, q, n);
    sn_mring_consume(r, n);
    return n;
}
