/* bytes.c — sn_bytes and sn_bytes_mut: views onto ref-counted shared storage,
 * the design of Rust's bytes::Bytes / BytesMut. The reference count is a C11
 * atomic with the usual Arc ordering: increments are relaxed (a holder already
 * keeps the block alive), decrements are acquire-release, so every write made
 * through any view happens-before the free. */
#include <sysnet/buf.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Smallest storage sn_bytes_mut allocates when it must grow. */
#define SN_BYTES_MIN_ALLOC 64u

struct sn_bytes_shared {
    atomic_size_t refs;          /* handles pointing into this block */
    sn_bytes_release_fn release; /* wrapped memory: give it back; NULL: data[] is inline */
    void *ctx;                   /* argument for release */
    void *mem;                   /* wrapped memory, as given to sn_bytes_wrap */
    size_t mem_len;              /* its length */
    size_t cap;                  /* inline storage: bytes in data[] */
    uint8_t data[];              /* inline storage (heap kind) */
};

/* p + n, defined also for the empty view {NULL, 0} (NULL + 0 is UB in C). */
static uint8_t *at(uint8_t *p, size_t n)
{
    return p ? p + n : p;
}
static const uint8_t *cat(const uint8_t *p, size_t n)
{
    return p ? p + n : p;
}

static struct sn_bytes_shared *shared_new(size_t cap)
{
    if (cap > SIZE_MAX - sizeof(struct sn_bytes_shared))
        return NULL;
    struct sn_bytes_shared *sh = malloc(sizeof(*sh) + cap);
    if (!sh)
        return NULL;
    atomic_init(&sh->refs, 1);
    sh->release = NULL;
    sh->ctx = sh->mem = NULL;
    sh->mem_len = 0;
    sh->cap = cap;
    return sh;
}

static void shared_ref(struct sn_bytes_shared *sh)
{
    if (sh)
        atomic_fetch_add_explicit(&sh->refs, 1, memory_order_relaxed);
}

static void shared_unref(struct sn_bytes_shared *sh)
{
    /* acq_rel rather than release + an acquire fence on the last one: the same
     * code on x86, and ThreadSanitizer (which does not model fences) understands it. */
    if (!sh || atomic_fetch_sub_explicit(&sh->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (sh->release)
        sh->release(sh->ctx, sh->mem, sh->mem_len);
    free(sh);
}

/* Only a holder may ask, so a count of 1 means "just me", and it cannot rise behind our back. */
static int shared_unique(struct sn_bytes_shared *sh)
{
    return atomic_load_explicit(&sh->refs, memory_order_acquire) == 1;
}

/* ---- sn_bytes ---------------------------------------------------------- */

int sn_bytes_from_copy(struct sn_bytes *out, const void *p, size_t len)
{
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return 0;
    struct sn_bytes_shared *sh = shared_new(len);
    if (!sh)
        return -ENOMEM;
    memcpy(sh->data, p, len);
    out->p = sh->data;
    out->len = len;
    out->sh = sh;
    return 0;
}

struct sn_bytes sn_bytes_from_static(const void *p, size_t len)
{
    struct sn_bytes b = {(const uint8_t *)p, len, NULL};
    return b;
}

int sn_bytes_wrap(struct sn_bytes *out, void *mem, size_t len, sn_bytes_release_fn release,
                  void *ctx)
{
    memset(out, 0, sizeof(*out));
    if (!release || (!mem && len > 0))
        return -EINVAL;
    struct sn_bytes_shared *sh = shared_new(0);
    if (!sh)
        return -ENOMEM;
    sh->release = release;
    sh->ctx = ctx;
    sh->mem = mem;
    sh->mem_len = len;
    out->p = mem;
    out->len = len;
    out->sh = sh;
    return 0;
}

struct sn_bytes sn_bytes_clone(const struct sn_bytes *b)
{
    shared_ref(b->sh);
    return *b;
}

int sn_bytes_slice(const struct sn_bytes *b, size_t from, size_t to, struct sn_bytes *out)
{
    if (from > to || to > b->len)
        return -EINVAL;
    shared_ref(b->sh);
    out->p = cat(b->p, from);
    out->len = to - from;
    out->sh = b->sh;
    return 0;
}

int sn_bytes_split_to(struct sn_bytes *b, size_t n, struct sn_bytes *head)
{
    if (n > b->len)
        return -EINVAL;
    shared_ref(b->sh);
    head->p = b->p;
    head->len = n;
    head->sh = b->sh;
    return sn_bytes_advance(b, n);
}

int sn_bytes_split_off(struct sn_bytes *b, size_t at_, struct sn_bytes *tail)
{
    if (at_ > b->len)
        return -EINVAL;
    sn_bytes_slice(b, at_, b->len, tail); /* cannot fail: at_ <= len */
    b->len = at_;
    return 0;
}

int sn_bytes_advance(struct sn_bytes *b, size_t n)
{
    if (n > b->len)
        return -EINVAL;
    b->p = cat(b->p, n);
    b->len -= n;
    return 0;
}

int sn_bytes_truncate(struct sn_bytes *b, size_t len)
{
    if (len > b->len)
        return -EINVAL;
    b->len = len;
    return 0;
}

void sn_bytes_release(struct sn_bytes *b)
{
    shared_unref(b->sh);
    memset(b, 0, sizeof(*b));
}

size_t sn_bytes_refcount(const struct sn_bytes *b)
{
    return b->sh ? atomic_load_explicit(&b->sh->refs, memory_order_relaxed) : 0;
}

/* ---- sn_bytes_mut ------------------------------------------------------ */

int sn_bytes_mut_init(struct sn_bytes_mut *m, size_t cap)
{
    memset(m, 0, sizeof(*m));
    if (cap == 0)
        return 0;
    struct sn_bytes_shared *sh = shared_new(cap);
    if (!sh)
        return -ENOMEM;
    m->p = sh->data;
    m->cap = cap;
    m->sh = sh;
    return 0;
}

void sn_bytes_mut_fini(struct sn_bytes_mut *m)
{
    shared_unref(m->sh);
    memset(m, 0, sizeof(*m));
}

/* The sole view on its storage may take all of it: move its bytes to the front. */
static int reclaim(struct sn_bytes_mut *m, size_t need)
{
    if (!m->sh || m->sh->release || m->sh->cap < need || !shared_unique(m->sh))
        return 0;
    memmove(m->sh->data, m->p, m->len);
    m->p = m->sh->data;
    m->cap = m->sh->cap;
    return 1;
}

static int regrow(struct sn_bytes_mut *m, size_t need)
{
    size_t ncap = m->cap <= SIZE_MAX / 2 ? m->cap * 2 : need;
    ncap = SN_MAX(ncap, SN_MAX(need, (size_t)SN_BYTES_MIN_ALLOC));
    struct sn_bytes_shared *sh = shared_new(ncap);
    if (!sh)
        return -ENOMEM;
    if (m->len)
        memcpy(sh->data, m->p, m->len);
    shared_unref(m->sh); /* other views keep the old block alive if they need it */
    m->p = sh->data;
    m->cap = ncap;
    m->sh = sh;
    return 0;
}

int sn_bytes_mut_reserve(struct sn_bytes_mut *m, size_t n)
{
    if (n <= m->cap - m->len)
        return 0;
    if (n > SIZE_MAX - m->len)
        return -ENOMEM;
    size_t need = m->len + n;
    if (reclaim(m, need))
        return 0;
    return regrow(m, need);
}

int sn_bytes_mut_append(struct sn_bytes_mut *m, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    int err = sn_bytes_mut_reserve(m, n);
    if (err < 0)
        return err;
    memcpy(m->p + m->len, p, n);
    m->len += n;
    return 0;
}

uint8_t *sn_bytes_mut_wptr(struct sn_bytes_mut *m, size_t *avail)
{
    *avail = m->cap - m->len;
    return at(m->p, m->len);
}

int sn_bytes_mut_commit(struct sn_bytes_mut *m, size_t n)
{
    if (n > m->cap - m->len)
        return -EINVAL;
    m->len += n;
    return 0;
}

int sn_bytes_mut_split_to(struct sn_bytes_mut *m, size_t n, struct sn_bytes_mut *head)
{
    if (n > m->len)
        return -EINVAL;
    shared_ref(m->sh);
    head->p = m->p;
    head->len = head->cap = n;
    head->sh = m->sh;
    m->p = at(m->p, n);
    m->len -= n;
    m->cap -= n;
    return 0;
}

int sn_bytes_mut_split_off(struct sn_bytes_mut *m, size_t at_, struct sn_bytes_mut *tail)
{
    if (at_ > m->len)
        return -EINVAL;
    shared_ref(m->sh);
    tail->p = at(m->p, at_);
    tail->len = m->len - at_;
    tail->cap = m->cap - at_;
    tail->sh = m->sh;
    m->len = m->cap = at_;
    return 0;
}

struct sn_bytes sn_bytes_mut_freeze(struct sn_bytes_mut *m)
{
    struct sn_bytes b = {m->p, m->len, m->sh}; /* the reference moves over */
    memset(m, 0, sizeof(*m));
    return b;
}
