/* sysnet/buf.h — layer 1 memory: what the Rust `bytes` crate gives, plus the
 * buffers a network stack needs around it. Seven small tools, one per section:
 *
 *   sn_slice      a borrowed (pointer, length) view; never owns, never allocates
 *   sn_buf        a growable byte buffer with a hard maximum, a read cursor and a
 *                 writable tail for read(2)-style fills
 *   sn_bytes      an immutable view onto ref-counted shared storage: clone, slice
 *                 and split without copying (bytes::Bytes)
 *   sn_bytes_mut  a unique, appendable view; split halves share storage until one
 *                 must grow; freeze() turns it into sn_bytes without a copy (BytesMut)
 *   sn_pool       N fixed-size blocks from one allocation (or caller memory); O(1)
 *                 get/put; misuse (foreign pointer, double put) is detected
 *   sn_iovs       an iovec array for writev/sendmsg that advances over partial writes
 *   sn_mring      the "magic" ring buffer: the same pages mapped twice back to back,
 *                 so a read or a write never wraps
 *
 * Errors: functions return >= 0 on success or a negative errno: -EINVAL for an
 * argument out of range (the object is then left exactly as it was), -ENOSPC when a
 * fixed capacity would be exceeded (contents intact), -ENOMEM when an allocation
 * fails or a size overflows.
 *
 * Allocation, precisely (everything not listed never calls malloc):
 *   sn_buf_init (when initial > 0), sn_buf_reserve / sn_buf_append (only when an
 *     owned buffer must grow; never past its max, never for sn_buf_init_mem);
 *   sn_bytes_from_copy (one block: header + data; none for len 0),
 *   sn_bytes_wrap (one small control block; the data is not copied);
 *   sn_bytes_mut_init (one block, none for cap 0), sn_bytes_mut_reserve /
 *     sn_bytes_mut_append (only when the view must grow and cannot reclaim space);
 *   sn_pool_init (one aligned allocation; get/put never allocate);
 *   sn_mring_open (a memfd and two mappings; no malloc).
 * Releasing the last reference of an sn_bytes storage frees it (or calls the
 * caller's release callback for wrapped memory).
 *
 * Thread rules: a handle (any struct here) is used by one thread at a time.
 * The exception is the *storage* behind sn_bytes / sn_bytes_mut: its reference
 * count is atomic (C11 stdatomic), so clones may be handed to other threads and
 * cloned or released there concurrently; the storage is freed exactly once, by
 * whichever thread drops the last reference. sn_pool, sn_buf, sn_iovs and
 * sn_mring are single-threaded: one per thread (per loop), or lock around them.
 */
#ifndef SYSNET_BUF_H
#define SYSNET_BUF_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sysnet/base.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================
 * Slices: borrowed views. The memory belongs to someone else and must
 * outlive the slice. Pure functions: no state, no allocation.
 * ====================================================================== */
struct sn_slice {
    const uint8_t *p; /* first byte (may be NULL when len is 0) */
    size_t len;       /* number of bytes at p */
};

static inline struct sn_slice sn_slice_make(const void *p, size_t len)
{
    struct sn_slice s = {(const uint8_t *)p, len};
    return s;
}
/* A slice over a NUL-terminated string, without the NUL. */
static inline struct sn_slice sn_slice_str(const char *s)
{
    return sn_slice_make(s, strlen(s));
}

/* *out = s[from, to). -EINVAL unless from <= to <= s.len (out untouched). */
int sn_slice_sub(struct sn_slice s, size_t from, size_t to, struct sn_slice *out);
/* Drop the first n bytes. -EINVAL if n > s->len (s untouched). */
int sn_slice_advance(struct sn_slice *s, size_t n);
/* *head = first n bytes, *s keeps the rest. -EINVAL if n > s->len (both untouched). */
int sn_slice_split_to(struct sn_slice *s, size_t n, struct sn_slice *head);
/* 1 if a and b hold the same bytes, else 0. */
int sn_slice_eq(struct sn_slice a, struct sn_slice b);
/* Index of the first byte equal to c, or -ENOENT. */
ssize_t sn_slice_find_byte(struct sn_slice s, uint8_t c);
/* Index of the first occurrence of needle in hay (memmem), or -ENOENT.
 * An empty needle is found at 0. */
ssize_t sn_slice_find(struct sn_slice hay, struct sn_slice needle);

/* ======================================================================
 * sn_buf: a growable buffer with a hard maximum.
 *
 *   [0, rpos) consumed | [rpos, wpos) readable | [wpos, cap) writable tail
 *
 * Two ways to set one up:
 *   sn_buf_init_mem(b, mem, len): over caller memory; never allocates; cap = max = len.
 *   sn_buf_init(b, initial, max): owned; allocates `initial` bytes now (none if 0)
 *     and grows by doubling, never past max. sn_buf_fini frees it.
 * Appending past max returns -ENOSPC and leaves the contents intact. Making room
 * first reuses consumed space (memmove to the front) before it allocates, so a
 * buffer that is drained as fast as it fills never allocates again. Any call that
 * can make room (reserve, append, compact) may move the readable bytes: pointers
 * obtained earlier from sn_buf_rptr / sn_buf_wptr are then stale.
 * ====================================================================== */
struct sn_buf {
    uint8_t *data;  /* storage (NULL until an owned buffer first allocates) */
    size_t rpos;    /* read cursor: bytes before it are consumed */
    size_t wpos;    /* end of readable bytes; the writable tail starts here */
    size_t cap;     /* bytes of storage at data */
    size_t max;     /* hard limit for cap: -ENOSPC beyond it */
    unsigned owned; /* 1 if data came from malloc and sn_buf_fini frees it */
};

/* Owned buffer. -EINVAL if max == 0 or initial > max; -ENOMEM. */
int sn_buf_init(struct sn_buf *b, size_t initial, size_t max);
/* Over caller memory (which must outlive b); never allocates. -EINVAL if mem is NULL and len > 0. */
int sn_buf_init_mem(struct sn_buf *b, void *mem, size_t len);
/* Free owned storage; b is left zeroed (fini twice is harmless). */
void sn_buf_fini(struct sn_buf *b);

/* Make at least n bytes writable at the tail: compacts if that suffices, else
 * grows an owned buffer. -ENOSPC if len + n > max (nothing changes); -ENOMEM. */
int sn_buf_reserve(struct sn_buf *b, size_t n);
/* Append n bytes (p must not point into b). -ENOSPC / -ENOMEM as reserve, contents intact. */
int sn_buf_append(struct sn_buf *b, const void *p, size_t n);
/* Mark n readable bytes consumed. -EINVAL if n > len. When the buffer becomes
 * empty the cursors go back to 0, for free. */
int sn_buf_consume(struct sn_buf *b, size_t n);
/* The writable tail, for read(2)/recv into the buffer; *avail gets its size
 * (call sn_buf_reserve first to guarantee some). NULL with *avail 0 if none. */
uint8_t *sn_buf_wptr(struct sn_buf *b, size_t *avail);
/* After writing n bytes at sn_buf_wptr: make them readable. -EINVAL if n > avail. */
int sn_buf_commit(struct sn_buf *b, size_t n);
/* Move the readable bytes to the front (memmove), so the whole free space is tail. */
void sn_buf_compact(struct sn_buf *b);
/* Drop all readable bytes; keeps the storage. */
void sn_buf_clear(struct sn_buf *b);

static inline size_t sn_buf_len(const struct sn_buf *b) { return b->wpos - b->rpos; }
static inline size_t sn_buf_tailroom(const struct sn_buf *b) { return b->cap - b->wpos; }
static inline const uint8_t *sn_buf_rptr(const struct sn_buf *b)
{
    return b->data ? b->data + b->rpos : NULL;
}
static inline struct sn_slice sn_buf_slice(const struct sn_buf *b)
{
    return sn_slice_make(sn_buf_rptr(b), sn_buf_len(b));
}

/* ======================================================================
 * sn_bytes / sn_bytes_mut: shared, ref-counted storage (bytes::Bytes, BytesMut).
 *
 * A storage block holds a reference count; every sn_bytes and sn_bytes_mut
 * handle that points into it owns one reference. The handle structs are plain
 * values: copying one with `=` does NOT add a reference — use sn_bytes_clone.
 * Each handle is released exactly once (sn_bytes_release / sn_bytes_mut_fini);
 * release zeroes the handle, so releasing a zeroed handle again is a no-op.
 * A zeroed handle ({0}) is a valid empty value.
 *
 * sn_bytes is immutable: clone, slice, split_to and split_off give new views of
 * the same storage with a refcount increment and no copy.
 *
 * sn_bytes_mut owns its region [p, p + cap) exclusively, even while the storage
 * is shared: split_to / split_off cut the region in two disjoint regions, so each
 * half appends in place while it fits and allocates new storage (copying its own
 * bytes) only when it must grow past its region. A view that is the only one left
 * on its storage reclaims the whole storage before allocating. freeze() hands the
 * reference to an sn_bytes: no copy.
 *
 * Storage kinds: heap (from_copy, mut_init: one malloc, header + data), static
 * (from_static: no refcount, never freed) and wrapped caller memory (wrap: the
 * caller's release callback runs once, on the last release, in that thread — to
 * munmap a file mapping, return a buffer to a pool, ...).
 *
 * Threads: see the top of this file. The refcount is atomic; a single handle is not.
 * ====================================================================== */
struct sn_bytes_shared; /* private: refcount + storage, in src/buf/bytes.c */

/* Called once when the last reference to wrapped memory goes away. */
typedef void (*sn_bytes_release_fn)(void *ctx, void *mem, size_t len);

struct sn_bytes {
    const uint8_t *p;           /* first byte of this view */
    size_t len;                 /* bytes in this view */
    struct sn_bytes_shared *sh; /* storage this view holds a reference on (NULL: static/empty) */
};

struct sn_bytes_mut {
    uint8_t *p;                 /* first byte of this view's region */
    size_t len;                 /* bytes written */
    size_t cap;                 /* size of the region this view owns, from p (>= len) */
    struct sn_bytes_shared *sh; /* storage holding the region (NULL: nothing allocated yet) */
};

/* Copy p[0, len) into new storage (allocates; nothing for len 0). -ENOMEM. */
int sn_bytes_from_copy(struct sn_bytes *out, const void *p, size_t len);
/* A view on memory that lives forever (string literals, static tables): no
 * refcount, no allocation; clone and release cost nothing. */
struct sn_bytes sn_bytes_from_static(const void *p, size_t len);
/* Take ownership of caller memory without copying: release(ctx, mem, len) runs
 * once when the last reference goes. Allocates a small control block; on
 * failure (-ENOMEM) the caller still owns mem and release is not called.
 * -EINVAL if release is NULL or mem is NULL with len > 0. */
int sn_bytes_wrap(struct sn_bytes *out, void *mem, size_t len, sn_bytes_release_fn release,
                  void *ctx);
/* A new reference to the same view (refcount + 1). Never fails, never allocates. */
struct sn_bytes sn_bytes_clone(const struct sn_bytes *b);
/* *out = b[from, to), sharing storage. -EINVAL unless from <= to <= len (out untouched). */
int sn_bytes_slice(const struct sn_bytes *b, size_t from, size_t to, struct sn_bytes *out);
/* *head = b[0, n); b keeps b[n, len). Zero copy. -EINVAL if n > len (both untouched). */
int sn_bytes_split_to(struct sn_bytes *b, size_t n, struct sn_bytes *head);
/* *tail = b[at, len); b keeps b[0, at). Zero copy. -EINVAL if at > len (both untouched). */
int sn_bytes_split_off(struct sn_bytes *b, size_t at, struct sn_bytes *tail);
/* Narrow the view in place (no refcount change). -EINVAL if n > len. */
int sn_bytes_advance(struct sn_bytes *b, size_t n);
int sn_bytes_truncate(struct sn_bytes *b, size_t len);
/* Drop this reference (frees storage on the last one) and zero *b. */
void sn_bytes_release(struct sn_bytes *b);
/* References on b's storage right now (0 for static/empty). For tests and
 * debugging: with other threads involved it is stale as soon as it is read. */
size_t sn_bytes_refcount(const struct sn_bytes *b);

static inline struct sn_slice sn_bytes_slice_of(const struct sn_bytes *b)
{
    return sn_slice_make(b->p, b->len);
}

/* An empty buffer with room for cap bytes (allocates unless cap is 0). -ENOMEM. */
int sn_bytes_mut_init(struct sn_bytes_mut *m, size_t cap);
/* Drop the reference and zero *m. */
void sn_bytes_mut_fini(struct sn_bytes_mut *m);
/* Make room for n more bytes: in place if the region has it; else, if m is the
 * only view on its storage and the storage is big enough, by moving its bytes
 * to the front; else new storage (copy of m's bytes, at least double). -ENOMEM
 * (m unchanged). May move m->p. */
int sn_bytes_mut_reserve(struct sn_bytes_mut *m, size_t n);
/* Append n bytes (p must not point into m's storage). -ENOMEM, m unchanged. */
int sn_bytes_mut_append(struct sn_bytes_mut *m, const void *p, size_t n);
/* The unwritten rest of m's region, for read(2); *avail gets its size. */
uint8_t *sn_bytes_mut_wptr(struct sn_bytes_mut *m, size_t *avail);
/* After writing n bytes at the wptr. -EINVAL if n > avail. */
int sn_bytes_mut_commit(struct sn_bytes_mut *m, size_t n);
/* *head = m[0, n) with region [0, n); m keeps the rest of its bytes and region.
 * Zero copy; the two share storage. -EINVAL if n > len (both untouched). */
int sn_bytes_mut_split_to(struct sn_bytes_mut *m, size_t n, struct sn_bytes_mut *head);
/* *tail = m[at, len) with the rest of the region; m keeps [0, at) with region
 * [0, at). Zero copy. -EINVAL if at > len (both untouched). */
int sn_bytes_mut_split_off(struct sn_bytes_mut *m, size_t at, struct sn_bytes_mut *tail);
/* Turn m into an immutable sn_bytes over the same bytes: no copy, no refcount
 * change; m is left empty (zeroed). Unused capacity of m's region is given up. */
struct sn_bytes sn_bytes_mut_freeze(struct sn_bytes_mut *m);
/* Forget the bytes written; keep the region. */
static inline void sn_bytes_mut_clear(struct sn_bytes_mut *m) { m->len = 0; }

/* ======================================================================
 * sn_pool: count blocks of block_size bytes, carved from one allocation
 * (sn_pool_init) or from caller memory (sn_pool_init_mem). Blocks are
 * SN_POOL_ALIGN-aligned and laid out back to back (stride = block_size rounded
 * up to SN_POOL_ALIGN). get/put are O(1) through a LIFO free list (the block
 * most recently put is the warmest in cache) and never allocate. The free list
 * and an in-use bitmap live outside the blocks, so a caller scribbling on a block
 * it already put cannot corrupt the pool, and sn_pool_put rejects, with -EINVAL,
 * a pointer that is not the start of one of its blocks or a block not handed out.
 *
 * Threads: not thread-safe (no locks, no atomics): one pool per thread or loop.
 * ====================================================================== */
#define SN_POOL_ALIGN 16u

struct sn_pool {
    uint8_t *mem;        /* first block; blocks are stride bytes apart */
    size_t block_size;   /* usable bytes per block, as asked */
    size_t stride;       /* distance between blocks: block_size rounded up to SN_POOL_ALIGN */
    uint32_t count;      /* number of blocks */
    uint32_t free_head;  /* index of the first free block, or UINT32_MAX when empty */
    uint32_t *next;      /* free list link of each free block (after the blocks) */
    uint64_t *used;      /* in-use bitmap, one bit per block (after the links) */
    uint32_t in_use;     /* blocks handed out now */
    uint32_t high_water; /* most blocks ever handed out at once */
    uint64_t gets;       /* successful sn_pool_get calls */
    uint64_t empty;      /* sn_pool_get calls that found the pool empty */
    uint64_t bad_puts;   /* sn_pool_put calls rejected with -EINVAL */
    void *owned;         /* the allocation sn_pool_fini frees (NULL for caller memory) */
};

/* Bytes of caller memory sn_pool_init_mem needs, or 0 if the numbers are
 * invalid (block_size 0, count 0 or UINT32_MAX) or overflow. */
size_t sn_pool_mem_size(size_t block_size, uint32_t count);
/* One aligned allocation for blocks + bookkeeping. -EINVAL for block_size 0,
 * count 0 or UINT32_MAX; -ENOMEM (including sizes that overflow). */
int sn_pool_init(struct sn_pool *pl, size_t block_size, uint32_t count);
/* Over caller memory: mem must be SN_POOL_ALIGN-aligned and mem_len >=
 * sn_pool_mem_size(); otherwise -EINVAL. Never allocates. */
int sn_pool_init_mem(struct sn_pool *pl, void *mem, size_t mem_len, size_t block_size,
                     uint32_t count);
/* Frees the allocation of sn_pool_init (blocks still out become invalid). */
void sn_pool_fini(struct sn_pool *pl);
/* A free block (contents undefined), or NULL when all are in use (the -ENOMEM
 * case; counted in stats). */
void *sn_pool_get(struct sn_pool *pl);
/* Give a block back. -EINVAL if blk is not the start of a block of this pool,
 * or that block is not in use (double put); the free list is then untouched and
 * only bad_puts counts it. */
int sn_pool_put(struct sn_pool *pl, void *blk);
/* Block index of blk (for UMEM-style addressing), or -EINVAL as for put. */
int sn_pool_index(const struct sn_pool *pl, const void *blk, uint32_t *idx);
/* Block number idx (in use or not), or NULL if idx >= count. */
void *sn_pool_block(const struct sn_pool *pl, uint32_t idx);
static inline uint32_t sn_pool_free_count(const struct sn_pool *pl)
{
    return pl->count - pl->in_use;
}

/* ======================================================================
 * sn_iovs: gather a message from pieces for writev/sendmsg, then advance over
 * what the kernel took (partial writes are the normal case on non-blocking
 * sockets). The iovec array is caller memory; the pieces are borrowed and must
 * stay valid until written. sn_iovs_advance rewrites entries of that array in
 * place (base and length of the first partly written one). When everything has
 * been written the iovs resets to empty, ready for the next message.
 * Never allocates. Single-threaded.
 * ====================================================================== */
/* The kernel's limit on entries per writev/sendmsg (UIO_MAXIOV). */
#define SN_IOVS_MAX 1024

struct sn_iovs {
    struct iovec *iov; /* caller's array; entries [head, n) are still to be written */
    size_t cap;        /* entries the array holds */
    size_t n;          /* entries filled by push */
    size_t head;       /* first entry with bytes left */
    size_t bytes;      /* bytes left across [head, n) */
};

/* -EINVAL if iov is NULL with cap > 0. */
int sn_iovs_init(struct sn_iovs *v, struct iovec *iov, size_t cap);
/* Add a piece; empty pieces are skipped (return 0). -ENOSPC if the array is
 * full, -EMSGSIZE if the total would exceed SSIZE_MAX; v unchanged then. */
int sn_iovs_push(struct sn_iovs *v, const void *p, size_t len);
int sn_iovs_push_slice(struct sn_iovs *v, struct sn_slice s);
int sn_iovs_push_buf(struct sn_iovs *v, const struct sn_buf *b);     /* its readable bytes */
int sn_iovs_push_bytes(struct sn_iovs *v, const struct sn_bytes *b); /* borrowed, no ref taken */
/* n bytes were written: skip them. -EINVAL if n > sn_iovs_bytes() (v unchanged). */
int sn_iovs_advance(struct sn_iovs *v, size_t n);
/* Forget every entry. */
void sn_iovs_reset(struct sn_iovs *v);
/* One writev(2) of what is left (EINTR retried), then advance by what it took.
 * Returns the bytes written or a negative errno (-EAGAIN on a full non-blocking fd). */
ssize_t sn_iovs_write(int fd, struct sn_iovs *v);

/* What is left, for writev(fd, sn_iovs_vec(v), sn_iovs_count(v)) or msg_iov. */
static inline struct iovec *sn_iovs_vec(const struct sn_iovs *v)
{
    return v->iov ? v->iov + v->head : NULL;
}
/* Entries left, clamped to SN_IOVS_MAX so writev never fails with EINVAL:
 * the rest goes out on the next call after sn_iovs_advance. */
static inline int sn_iovs_count(const struct sn_iovs *v)
{
    size_t c = v->n - v->head;
    return (int)(c > SN_IOVS_MAX ? SN_IOVS_MAX : c);
}
static inline size_t sn_iovs_bytes(const struct sn_iovs *v) { return v->bytes; }

/* ======================================================================
 * sn_mring: a mirrored ("magic") ring buffer. A memfd of `size` bytes is mapped
 * twice, back to back, so base[i] and base[i + size] are the same byte: the
 * readable bytes and the free space are always one contiguous run from their
 * pointer, and read(2)/write(2)/parsers work on them without wrap handling.
 * size is rounded up to the page size. sn_mring_open owns a mapping (the memfd
 * is closed once mapped: the mappings keep the pages); sn_mring_close unmaps.
 * Never calls malloc. Single-threaded (no atomics): one producer and consumer
 * in the same thread.
 * ====================================================================== */
struct sn_mring {
    uint8_t *base; /* first of two adjacent mappings of the same size bytes */
    size_t size;   /* capacity in bytes, a multiple of the page size */
    size_t rpos;   /* offset of the first readable byte, in [0, size) */
    size_t len;    /* readable bytes, in [0, size] */
};

/* -EINVAL for size 0, -ENOMEM if it cannot be mapped, or the errno of
 * memfd_create/ftruncate/mmap. On failure nothing is left behind. */
int sn_mring_open(struct sn_mring *r, size_t size);
/* Unmap; r is zeroed (close twice is harmless). */
void sn_mring_close(struct sn_mring *r);
/* Readable bytes, contiguous; *avail = sn_mring_len(). */
const uint8_t *sn_mring_rptr(const struct sn_mring *r, size_t *avail);
/* -EINVAL if n > len. */
int sn_mring_consume(struct sn_mring *r, size_t n);
/* Free space, contiguous; *avail = sn_mring_space(). */
uint8_t *sn_mring_wptr(const struct sn_mring *r, size_t *avail);
/* After writing n bytes at the wptr. -EINVAL if n > space. */
int sn_mring_commit(struct sn_mring *r, size_t n);
/* Copy in all n bytes, or nothing: -ENOSPC if n > space. */
int sn_mring_write(struct sn_mring *r, const void *p, size_t n);
/* Copy out and consume up to n bytes; returns how many. */
size_t sn_mring_read(struct sn_mring *r, void *p, size_t n);

static inline size_t sn_mring_len(const struct sn_mring *r) { return r->len; }
static inline size_t sn_mring_space(const struct sn_mring *r) { return r->size - r->len; }

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_BUF_H */
