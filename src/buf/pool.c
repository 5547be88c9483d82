/* pool.c — sn_pool: fixed-size blocks from one allocation, O(1) get/put through
 * an index free list. Layout of the memory, all in one piece:
 *   [count blocks, stride apart][count uint32 links][bitmap, one bit per block]
 * Links and bitmap live outside the blocks so a stray write into a freed block
 * cannot corrupt the pool, and every put can be checked. */
#include <sysnet/buf.h>

#include <stdlib.h>
#include <string.h>

#define SN_POOL_NONE UINT32_MAX
/* Blocks of pools we allocate start on a cache line: no false sharing at the edge. */
#define SN_POOL_CACHELINE 64u

struct layout {
    size_t stride;   /* block_size rounded up to SN_POOL_ALIGN */
    size_t off_next; /* offset of the links */
    size_t off_used; /* offset of the bitmap (8-aligned) */
    size_t total;    /* bytes in all */
};

/* 0 on success, -EINVAL for bad numbers, -ENOMEM if the sizes overflow size_t. */
static int pool_layout(size_t block_size, uint32_t count, struct layout *l)
{
    if (block_size == 0 || count == 0 || count == SN_POOL_NONE)
        return -EINVAL;
    if (block_size > SIZE_MAX - (SN_POOL_ALIGN - 1))
        return -ENOMEM;
    l->stride = (block_size + SN_POOL_ALIGN - 1) & ~(size_t)(SN_POOL_ALIGN - 1);
    if (l->stride > SIZE_MAX / count)
        return -ENOMEM;
    size_t blocks = l->stride * count;
    size_t links = (size_t)count * sizeof(uint32_t);
    size_t words = ((size_t)count + 63) / 64;
    size_t links_end = (links + 7) & ~(size_t)7; /* keep the bitmap 8-aligned */
    if (blocks > SIZE_MAX - links_end - words * 8 - SN_POOL_CACHELINE)
        return -ENOMEM; /* headroom for the cache-line round up in sn_pool_init */
    l->off_next = blocks;
    l->off_used = blocks + links_end;
    l->total = l->off_used + words * 8;
    return 0;
}

size_t sn_pool_mem_size(size_t block_size, uint32_t count)
{
    struct layout l;
    return pool_layout(block_size, count, &l) < 0 ? 0 : l.total;
}

/* Every block free, linked in address order so the first get returns block 0. */
static void pool_setup(struct sn_pool *pl, uint8_t *mem, size_t block_size, uint32_t count,
                       const struct layout *l)
{
    memset(pl, 0, sizeof(*pl));
    pl->mem = mem;
    pl->block_size = block_size;
    pl->stride = l->stride;
    pl->count = count;
    pl->next = (uint32_t *)(void *)(mem + l->off_next);
    pl->used = (uint64_t *)(void *)(mem + l->off_used);
    for (uint32_t i = 0; i < count; i++)
        pl->next[i] = i + 1 < count ? i + 1 : SN_POOL_NONE;
    memset(pl->used, 0, l->total - l->off_used);
    pl->free_head = 0;
}

int sn_pool_init(struct sn_pool *pl, size_t block_size, uint32_t count)
{
    struct layout l;
    memset(pl, 0, sizeof(*pl));
    int err = pool_layout(block_size, count, &l);
    if (err < 0)
        return err;
    /* C11 aligned_alloc wants the size to be a multiple of the alignment. */
    size_t sz = (l.total + SN_POOL_CACHELINE - 1) & ~(size_t)(SN_POOL_CACHELINE - 1);
    uint8_t *mem = aligned_alloc(SN_POOL_CACHELINE, sz);
    if (!mem)
        return -ENOMEM;
    pool_setup(pl, mem, block_size, count, &l);
    pl->owned = mem;
    return 0;
}

int sn_pool_init_mem(struct sn_pool *pl, void *mem, size_t mem_len, size_t block_size,
                     uint32_t count)
{
    struct layout l;
    memset(pl, 0, sizeof(*pl));
    int err = pool_layout(block_size, count, &l);
    if (err < 0)
        return -EINVAL; /* whatever the cause, the caller's numbers do not fit */
    if (!mem || ((uintptr_t)mem & (SN_POOL_ALIGN - 1)) || mem_len < l.total)
        return -EINVAL;
    pool_setup(pl, mem, block_size, count, &l);
    return 0;
}

void sn_pool_fini(struct sn_pool *pl)
{
    free(pl->owned);
    memset(pl, 0, sizeof(*pl));
}

static int used_get(const struct sn_pool *pl, uint32_t i)
{
    return (int)((pl->used[i / 64] >> (i % 64)) & 1u);
}

static void used_flip(struct sn_pool *pl, uint32_t i)
{
    pl->used[i / 64] ^= (uint64_t)1 << (i % 64);
}

void *sn_pool_get(struct sn_pool *pl)
{
    uint32_t i = pl->free_head;
    if (i == SN_POOL_NONE) {
        pl->empty++;
        return NULL;
    }
    pl->free_head = pl->next[i];
    used_flip(pl, i);
    pl->in_use++;
    if (pl->in_use > pl->high_water)
        pl->high_water = pl->in_use;
    pl->gets++;
    return pl->mem + (size_t)i * pl->stride;
}

/* Integer arithmetic, not pointer comparison: relational operators on pointers
 * into different objects are undefined, and a foreign pointer is exactly that. */
int sn_pool_index(const struct sn_pool *pl, const void *blk, uint32_t *idx)
{
    uintptr_t a = (uintptr_t)blk, base = (uintptr_t)pl->mem;
    if (!pl->mem || a < base)
        return -EINVAL;
    uintptr_t off = a - base;
    if (off % pl->stride != 0 || off / pl->stride >= pl->count)
        return -EINVAL;
    *idx = (uint32_t)(off / pl->stride);
    return 0;
}

int sn_pool_put(struct sn_pool *pl, void *blk)
{
    uint32_t i;
    if (sn_pool_index(pl, blk, &i) < 0 || !used_get(pl, i)) {
        pl->bad_puts++;
        return -EINVAL;
    }
    used_flip(pl, i);
    pl->next[i] = pl->free_head;
    pl->free_head = i;
    pl->in_use--;
    return 0;
}

void *sn_pool_block(const struct sn_pool *pl, uint32_t idx)
{
    return idx < pl->count ? pl->mem + (size_t)idx * pl->stride : NULL;
}
