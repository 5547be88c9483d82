/* test_buf.c — slices, growable buffers, shared bytes, pools, iovec chains and the
 * mirrored ring. Misuse is tested as much as use: every rejected call must leave
 * its object exactly as it was. Leaks and double frees are ASan's to catch. */
#include "../harness.h"
#include <sysnet/buf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

/* A small deterministic generator (xorshift32): reproducible "random" sizes. */
static uint32_t rnd_state = 2463534242u;
static uint32_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;
    return rnd_state;
}

/* The byte at stream position i of every producer/consumer test. */
static uint8_t pat(uint64_t i)
{
    return (uint8_t)(i * 131 + (i >> 8) * 7 + 1);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* ======================================================================
 * slices
 * ====================================================================== */

SN_TEST(slice_sub_bounds)
{
    struct sn_slice s = sn_slice_str("hello world"), o = sn_slice_str("untouched");
    CHECK_EQ(sn_slice_sub(s, 6, 11, &o), 0);
    CHECK(sn_slice_eq(o, sn_slice_str("world")));
    CHECK_EQ(sn_slice_sub(s, 11, 11, &o), 0);
    CHECK_EQ(o.len, 0);
    struct sn_slice keep = sn_slice_str("keep");
    o = keep;
    CHECK_EQ(sn_slice_sub(s, 5, 4, &o), -EINVAL); /* from > to */
    CHECK_EQ(sn_slice_sub(s, 0, 12, &o), -EINVAL); /* to > len */
    CHECK_EQ(sn_slice_sub(s, SIZE_MAX, SIZE_MAX, &o), -EINVAL);
    CHECK(o.p == keep.p && o.len == keep.len);
    struct sn_slice empty = {NULL, 0};
    CHECK_EQ(sn_slice_sub(empty, 0, 0, &o), 0);
    CHECK(o.p == NULL && o.len == 0);
}

SN_TEST(slice_advance_and_split)
{
    struct sn_slice s = sn_slice_str("abcdef"), h;
    const uint8_t *p0 = s.p;
    CHECK_EQ(sn_slice_advance(&s, 7), -EINVAL);
    CHECK(s.p == p0 && s.len == 6);
    CHECK_EQ(sn_slice_advance(&s, 2), 0);
    CHECK(sn_slice_eq(s, sn_slice_str("cdef")));
    CHECK_EQ(sn_slice_split_to(&s, 5, &h), -EINVAL);
    CHECK(sn_slice_eq(s, sn_slice_str("cdef")));
    CHECK_EQ(sn_slice_split_to(&s, 1, &h), 0);
    CHECK(sn_slice_eq(h, sn_slice_str("c")));
    CHECK(sn_slice_eq(s, sn_slice_str("def")));
    CHECK_EQ(sn_slice_advance(&s, 3), 0);
    CHECK_EQ(s.len, 0);
}

SN_TEST(slice_eq_and_find_byte)
{
    struct sn_slice a = sn_slice_str("abc"), e = {NULL, 0};
    CHECK(sn_slice_eq(a, sn_slice_str("abc")));
    CHECK(!sn_slice_eq(a, sn_slice_str("abd")));
    CHECK(!sn_slice_eq(a, sn_slice_str("ab")));
    CHECK(sn_slice_eq(e, sn_slice_str("")));
    CHECK_EQ(sn_slice_find_byte(a, 'c'), 2);
    CHECK_EQ(sn_slice_find_byte(a, 'z'), -ENOENT);
    CHECK_EQ(sn_slice_find_byte(e, 'a'), -ENOENT);
    const uint8_t bin[] = {1, 0, 2, 0};
    CHECK_EQ(sn_slice_find_byte(sn_slice_make(bin, 4), 0), 1);
}

SN_TEST(slice_find_memmem)
{
    struct sn_slice h = sn_slice_str("aaabaab\r\n\r\nbody");
    CHECK_EQ(sn_slice_find(h, sn_slice_str("aab")), 1); /* a false start before the match */
    CHECK_EQ(sn_slice_find(h, sn_slice_str("\r\n\r\n")), 7);
    CHECK_EQ(sn_slice_find(h, sn_slice_str("body")), 11); /* at the very end */
    CHECK_EQ(sn_slice_find(h, sn_slice_str("bodyx")), -ENOENT);
    CHECK_EQ(sn_slice_find(h, sn_slice_str("")), 0);
    CHECK_EQ(sn_slice_find(sn_slice_str("ab"), sn_slice_str("abc")), -ENOENT);
    struct sn_slice e = {NULL, 0};
    CHECK_EQ(sn_slice_find(e, sn_slice_str("a")), -ENOENT);
}

/* ======================================================================
 * sn_buf
 * ====================================================================== */

SN_TEST(buf_mem_never_allocates_enospc_intact)
{
    uint8_t mem[16];
    struct sn_buf b;
    CHECK_EQ(sn_buf_init_mem(&b, mem, sizeof(mem)), 0);
    CHECK_EQ(sn_buf_append(&b, "0123456789", 10), 0);
    CHECK_EQ(sn_buf_append(&b, "abcdefg", 7), -ENOSPC); /* 17 > 16 */
    CHECK_EQ(sn_buf_len(&b), 10);
    CHECK_MEM(sn_buf_rptr(&b), "0123456789", 10);
    CHECK_EQ(sn_buf_append(&b, "abcdef", 6), 0); /* exactly full */
    CHECK_EQ(sn_buf_append(&b, "x", 1), -ENOSPC);
    CHECK(b.data == mem && b.cap == 16);
    CHECK_MEM(sn_buf_rptr(&b), "0123456789abcdef", 16);
    /* consumed space is reused by compaction, still in the caller's memory */
    CHECK_EQ(sn_buf_consume(&b, 10), 0);
    CHECK_EQ(sn_buf_append(&b, "XYZ", 3), 0);
    CHECK(b.data == mem);
    CHECK(sn_slice_eq(sn_buf_slice(&b), sn_slice_str("abcdefXYZ")));
    sn_buf_fini(&b); /* must not free caller memory (ASan would complain) */
    CHECK(b.data == NULL);
    CHECK_EQ(sn_buf_init_mem(&b, NULL, 4), -EINVAL);
}

SN_TEST(buf_owned_grows_to_max_then_enospc)
{
    struct sn_buf b;
    CHECK_EQ(sn_buf_init(&b, 0, 1000), 0);
    CHECK(b.data == NULL); /* initial 0: nothing allocated yet */
    uint8_t chunk[64];
    size_t total = 0;
    for (int i = 0; total + 64 <= 1000; i++) {
        for (int k = 0; k < 64; k++)
            chunk[k] = pat(total + (size_t)k);
        CHECK_EQ(sn_buf_append(&b, chunk, 64), 0);
        total += 64;
    }
    CHECK(b.cap <= 1000);
    CHECK_EQ(sn_buf_append(&b, chunk, 64), -ENOSPC);
    CHECK_EQ(sn_buf_reserve(&b, SIZE_MAX), -ENOSPC); /* no overflow in len + n */
    CHECK_EQ(sn_buf_len(&b), total);
    for (size_t i = 0; i < total; i++)
        CHECK_EQ(sn_buf_rptr(&b)[i], pat(i));
    CHECK_EQ(sn_buf_append(&b, chunk, 1000 - total), 0); /* fill to the byte */
    CHECK_EQ(b.cap, 1000);
    CHECK_EQ(sn_buf_append(&b, chunk, 1), -ENOSPC);
    sn_buf_fini(&b);
    sn_buf_fini(&b); /* twice is harmless */
}

SN_TEST(buf_init_misuse)
{
    struct sn_buf b;
    CHECK_EQ(sn_buf_init(&b, 10, 5), -EINVAL);
    CHECK_EQ(sn_buf_init(&b, 0, 0), -EINVAL);
    CHECK_EQ(sn_buf_init(&b, 8, 8), 0);
    CHECK(b.data != NULL && b.cap == 8);
    sn_buf_fini(&b);
}

SN_TEST(buf_consume_cursor_rewinds_and_misuse)
{
    struct sn_buf b;
    CHECK_EQ(sn_buf_init(&b, 32, 32), 0);
    CHECK_EQ(sn_buf_append(&b, "header:body", 11), 0);
    CHECK_EQ(sn_buf_consume(&b, 12), -EINVAL);
    CHECK_EQ(sn_buf_len(&b), 11);
    CHECK_EQ(b.rpos, 0);
    CHECK_EQ(sn_buf_consume(&b, 7), 0);
    CHECK(sn_slice_eq(sn_buf_slice(&b), sn_slice_str("body")));
    CHECK_EQ(sn_buf_tailroom(&b), 21);
    CHECK_EQ(sn_buf_consume(&b, 4), 0); /* empty: cursors rewind, whole tail is free */
    CHECK_EQ(b.rpos, 0);
    CHECK_EQ(sn_buf_tailroom(&b), 32);
    CHECK_EQ(sn_buf_consume(&b, 1), -EINVAL);
    sn_buf_append(&b, "zz", 2);
    sn_buf_clear(&b);
    CHECK_EQ(sn_buf_len(&b), 0);
    sn_buf_fini(&b);
}

SN_TEST(buf_reserve_compacts_before_growing)
{
    struct sn_buf b;
    CHECK_EQ(sn_buf_init(&b, 16, 1 << 20), 0);
    uint8_t *d0 = b.data;
    CHECK_EQ(sn_buf_append(&b, "0123456789abcdef", 16), 0);
    CHECK_EQ(sn_buf_consume(&b, 12), 0);
    CHECK_EQ(sn_buf_tailroom(&b), 0);
    CHECK_EQ(sn_buf_reserve(&b, 12), 0); /* 4 live + 12 fit in 16: memmove, no realloc */
    CHECK(b.data == d0);
    CHECK_EQ(b.rpos, 0);
    CHECK_MEM(sn_buf_rptr(&b), "cdef", 4);
    CHECK_EQ(sn_buf_tailroom(&b), 12);
    CHECK_EQ(sn_buf_reserve(&b, 13), 0); /* now it must grow */
    CHECK(b.cap >= 17);
    CHECK_MEM(sn_buf_rptr(&b), "cdef", 4);
    CHECK_EQ(sn_buf_consume(&b, 1), 0);
    sn_buf_compact(&b);
    CHECK_EQ(b.rpos, 0);
    CHECK_MEM(sn_buf_rptr(&b), "def", 3);
    sn_buf_fini(&b);
}

SN_TEST(buf_wptr_commit_reads_from_pipe)
{
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    struct sn_buf b;
    CHECK_EQ(sn_buf_init(&b, 0, 4096), 0);
    size_t avail;
    CHECK(sn_buf_wptr(&b, &avail) == NULL && avail == 0);
    CHECK_EQ(write(fds[1], "GET / HTTP/1.1\r\n\r\n", 18), 18);
    close(fds[1]);
    for (;;) { /* the read(2) loop every protocol reader has */
        CHECK_EQ(sn_buf_reserve(&b, 5), 0);
        uint8_t *w = sn_buf_wptr(&b, &avail);
        CHECK(avail >= 5);
        ssize_t n = read(fds[0], w, 5); /* small reads: several commits */
        CHECK(n >= 0);
        if (n == 0)
            break;
        CHECK_EQ(sn_buf_commit(&b, (size_t)n), 0);
    }
    close(fds[0]);
    CHECK_EQ(sn_buf_commit(&b, sn_buf_tailroom(&b) + 1), -EINVAL);
    CHECK_EQ(sn_buf_len(&b), 18);
    CHECK_EQ(sn_slice_find(sn_buf_slice(&b), sn_slice_str("\r\n\r\n")), 14);
    sn_buf_fini(&b);
}

/* ======================================================================
 * sn_bytes
 * ====================================================================== */

SN_TEST(bytes_clone_and_slice_share_storage)
{
    struct sn_bytes a, s;
    CHECK_EQ(sn_bytes_from_copy(&a, "shared storage", 14), 0);
    CHECK_EQ(sn_bytes_refcount(&a), 1);
    struct sn_bytes c = sn_bytes_clone(&a);
    CHECK(c.p == a.p && c.len == 14); /* no copy */
    CHECK_EQ(sn_bytes_refcount(&a), 2);
    CHECK_EQ(sn_bytes_slice(&a, 7, 14, &s), 0);
    CHECK(s.p == a.p + 7);
    CHECK(sn_slice_eq(sn_bytes_slice_of(&s), sn_slice_str("storage")));
    CHECK_EQ(sn_bytes_refcount(&a), 3);
    sn_bytes_release(&a);
    CHECK(a.p == NULL && a.sh == NULL);
    sn_bytes_release(&a); /* released handle: no-op */
    CHECK_EQ(sn_bytes_refcount(&c), 2);
    sn_bytes_release(&c);
    CHECK(sn_slice_eq(sn_bytes_slice_of(&s), sn_slice_str("storage"))); /* still alive */
    sn_bytes_release(&s);
    struct sn_bytes e;
    CHECK_EQ(sn_bytes_from_copy(&e, NULL, 0), 0); /* empty: no allocation */
    CHECK(e.sh == NULL && e.len == 0);
    sn_bytes_release(&e);
}

SN_TEST(bytes_split_to_split_off_zero_copy)
{
    struct sn_bytes b, head, tail;
    CHECK_EQ(sn_bytes_from_copy(&b, "HDRpayloadTRL", 13), 0);
    const uint8_t *p0 = b.p;
    CHECK_EQ(sn_bytes_split_to(&b, 3, &head), 0);
    CHECK(head.p == p0 && head.len == 3);
    CHECK(b.p == p0 + 3 && b.len == 10);
    CHECK_EQ(sn_bytes_split_off(&b, 7, &tail), 0);
    CHECK(tail.p == p0 + 10 && tail.len == 3);
    CHECK(sn_slice_eq(sn_bytes_slice_of(&b), sn_slice_str("payload")));
    CHECK(sn_slice_eq(sn_bytes_slice_of(&head), sn_slice_str("HDR")));
    CHECK(sn_slice_eq(sn_bytes_slice_of(&tail), sn_slice_str("TRL")));
    CHECK_EQ(sn_bytes_refcount(&b), 3);
    CHECK_EQ(sn_bytes_advance(&b, 3), 0);
    CHECK_EQ(sn_bytes_truncate(&b, 2), 0);
    CHECK(sn_slice_eq(sn_bytes_slice_of(&b), sn_slice_str("lo")));
    CHECK_EQ(sn_bytes_refcount(&b), 3); /* narrowing in place takes no reference */
    sn_bytes_release(&head);
    sn_bytes_release(&b);
    sn_bytes_release(&tail);
}

SN_TEST(bytes_out_of_range_einval_unchanged)
{
    struct sn_bytes b, o = {NULL, 0, NULL};
    CHECK_EQ(sn_bytes_from_copy(&b, "0123456789", 10), 0);
    struct sn_bytes before = b;
    CHECK_EQ(sn_bytes_slice(&b, 4, 3, &o), -EINVAL);
    CHECK_EQ(sn_bytes_slice(&b, 0, 11, &o), -EINVAL);
    CHECK_EQ(sn_bytes_split_to(&b, 11, &o), -EINVAL);
    CHECK_EQ(sn_bytes_split_off(&b, 11, &o), -EINVAL);
    CHECK_EQ(sn_bytes_split_off(&b, SIZE_MAX, &o), -EINVAL);
    CHECK_EQ(sn_bytes_advance(&b, 11), -EINVAL);
    CHECK_EQ(sn_bytes_truncate(&b, 11), -EINVAL);
    CHECK(o.p == NULL && o.sh == NULL);
    CHECK(b.p == before.p && b.len == before.len && b.sh == before.sh);
    CHECK_EQ(sn_bytes_refcount(&b), 1); /* no reference leaked by a rejected call */
    CHECK_EQ(sn_bytes_split_to(&b, 10, &o), 0); /* the edges are legal */
    CHECK_EQ(b.len, 0);
    struct sn_bytes t;
    CHECK_EQ(sn_bytes_split_off(&o, 0, &t), 0);
    CHECK_EQ(o.len, 0);
    CHECK_EQ(t.len, 10);
    CHECK_EQ(sn_bytes_refcount(&t), 3); /* empty views hold references too */
    sn_bytes_release(&b);
    sn_bytes_release(&o);
    sn_bytes_release(&t);
}

static atomic_int wrap_freed;
static void count_release(void *ctx, void *mem, size_t len)
{
    CHECK_EQ(len, 4096);
    free(mem);
    atomic_fetch_add((atomic_int *)ctx, 1);
}

SN_TEST(bytes_wrap_many_clones_release_exactly_once)
{
    enum { N = 1000 };
    static struct sn_bytes h[N];
    uint8_t *mem = malloc(4096);
    CHECK(mem != NULL);
    memset(mem, 0x5a, 4096);
    atomic_store(&wrap_freed, 0);
    struct sn_bytes b;
    CHECK_EQ(sn_bytes_wrap(&b, mem, 4096, count_release, &wrap_freed), 0);
    CHECK(b.p == mem); /* zero copy */
    for (int i = 0; i < N; i++) { /* clones, slices and splits all hold references */
        if (i % 3 == 0)
            h[i] = sn_bytes_clone(&b);
        else if (i % 3 == 1)
            CHECK_EQ(sn_bytes_slice(&b, (size_t)i % b.len, b.len, &h[i]), 0);
        else
            CHECK_EQ(sn_bytes_split_off(&b, b.len - 1, &h[i]), 0);
    }
    CHECK_EQ(sn_bytes_refcount(&b), N + 1);
    sn_bytes_release(&b);
    for (int i = N - 1; i > 0; i--) { /* release in a shuffled order */
        int j = (int)(rnd() % (uint32_t)(i + 1));
        struct sn_bytes t = h[i];
        h[i] = h[j];
        h[j] = t;
    }
    for (int i = 0; i < N; i++) {
        CHECK_EQ(atomic_load(&wrap_freed), 0);
        CHECK_EQ(h[i].p[0], 0x5a); /* still readable until the very last release */
        sn_bytes_release(&h[i]);
    }
    CHECK_EQ(atomic_load(&wrap_freed), 1);
    CHECK_EQ(sn_bytes_wrap(&b, mem, 1, NULL, NULL), -EINVAL);
    CHECK_EQ(sn_bytes_wrap(&b, NULL, 1, count_release, NULL), -EINVAL);
}

SN_TEST(bytes_static_has_no_refcount)
{
    static const char msg[] = "static table";
    struct sn_bytes s = sn_bytes_from_static(msg, 12), sub;
    struct sn_bytes c = sn_bytes_clone(&s);
    CHECK_EQ(sn_bytes_refcount(&c), 0);
    CHECK_EQ(sn_bytes_slice(&s, 7, 12, &sub), 0);
    CHECK(sub.p == (const uint8_t *)msg + 7);
    sn_bytes_release(&s);
    sn_bytes_release(&c);
    sn_bytes_release(&sub);
    struct sn_bytes zero = {NULL, 0, NULL}, z2;
    CHECK_EQ(sn_bytes_split_to(&zero, 0, &z2), 0); /* the zero handle is a valid empty value */
    CHECK(z2.p == NULL && z2.len == 0);
}

enum { T_THREADS = 4, T_ITERS = 20000 };

static void *clone_worker(void *arg)
{
    const struct sn_bytes *shared = arg;
    for (int i = 0; i < T_ITERS; i++) {
        struct sn_bytes c = sn_bytes_clone(shared), s;
        if (sn_bytes_slice(&c, 1, 3, &s) != 0 || s.p[0] != 'b')
            return (void *)1;
        sn_bytes_release(&c);
        sn_bytes_release(&s);
    }
    return NULL;
}

SN_TEST(bytes_threads_clone_release_concurrently)
{
    struct sn_bytes b;
    CHECK_EQ(sn_bytes_from_copy(&b, "abcdef", 6), 0);
    pthread_t t[T_THREADS];
    for (int i = 0; i < T_THREADS; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, clone_worker, &b), 0);
    int bad = 0;
    for (int i = 0; i < T_THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad |= r != NULL;
    }
    CHECK(!bad);
    CHECK_EQ(sn_bytes_refcount(&b), 1); /* every increment was matched */
    sn_bytes_release(&b);
}

struct handoff {
    struct sn_bytes b[64];
    int from, to;
};
static void *release_worker(void *arg)
{
    struct handoff *h = arg;
    for (int i = h->from; i < h->to; i++)
        sn_bytes_release(&h->b[i]);
    return NULL;
}

SN_TEST(bytes_last_release_in_other_threads)
{
    static struct handoff h;
    uint8_t *mem = malloc(4096);
    CHECK(mem != NULL);
    memset(mem, 1, 4096);
    atomic_store(&wrap_freed, 0);
    CHECK_EQ(sn_bytes_wrap(&h.b[0], mem, 4096, count_release, &wrap_freed), 0);
    for (int i = 1; i < 64; i++)
        CHECK_EQ(sn_bytes_slice(&h.b[0], (size_t)i, (size_t)i * 64, &h.b[i]), 0);
    struct handoff parts[2] = {h, h}; /* two threads race for the last reference */
    parts[0].from = 0;
    parts[0].to = 32;
    parts[1].from = 32;
    parts[1].to = 64;
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, release_worker, &parts[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(atomic_load(&wrap_freed), 1);
}

/* ======================================================================
 * sn_bytes_mut
 * ====================================================================== */

SN_TEST(bytes_mut_append_grow_freeze_no_copy)
{
    struct sn_bytes_mut m;
    CHECK_EQ(sn_bytes_mut_init(&m, 0), 0);
    CHECK(m.sh == NULL);
    for (size_t i = 0; i < 5000; i++) {
        uint8_t c = pat(i);
        CHECK_EQ(sn_bytes_mut_append(&m, &c, 1), 0);
    }
    CHECK(m.cap >= 5000);
    const uint8_t *p = m.p;
    struct sn_bytes f = sn_bytes_mut_freeze(&m);
    CHECK(f.p == p && f.len == 5000); /* same bytes, not a copy */
    CHECK(m.p == NULL && m.sh == NULL && m.len == 0);
    CHECK_EQ(sn_bytes_refcount(&f), 1);
    for (size_t i = 0; i < 5000; i++)
        CHECK_EQ(f.p[i], pat(i));
    sn_bytes_release(&f);
    sn_bytes_mut_fini(&m); /* frozen-away handle: no-op */
}

SN_TEST(bytes_mut_split_to_halves_append_independently)
{
    struct sn_bytes_mut m, head;
    CHECK_EQ(sn_bytes_mut_init(&m, 64), 0);
    CHECK_EQ(sn_bytes_mut_append(&m, "frame1|frame2", 13), 0);
    uint8_t *p0 = m.p;
    CHECK_EQ(sn_bytes_mut_split_to(&m, 7, &head), 0);
    CHECK(head.p == p0 && head.len == 7 && head.cap == 7);
    CHECK(m.p == p0 + 7 && m.len == 6 && m.cap == 57);
    CHECK(head.sh == m.sh);
    /* m owns the rest of the region: appends in place */
    CHECK_EQ(sn_bytes_mut_append(&m, "+tail", 5), 0);
    CHECK(m.p == p0 + 7);
    /* head's region is full: it must move to storage of its own */
    CHECK_EQ(sn_bytes_mut_append(&head, "+head", 5), 0);
    CHECK(head.p != p0 && head.sh != m.sh);
    CHECK_EQ(head.len, 12);
    CHECK_MEM(head.p, "frame1|+head", 12);
    CHECK_EQ(m.len, 11);
    CHECK_MEM(m.p, "frame2+tail", 11);
    sn_bytes_mut_fini(&head);
    sn_bytes_mut_fini(&m);
}

SN_TEST(bytes_mut_split_off_halves_append_independently)
{
    struct sn_bytes_mut m, tail;
    CHECK_EQ(sn_bytes_mut_init(&m, 32), 0);
    CHECK_EQ(sn_bytes_mut_append(&m, "AAAABBBB", 8), 0);
    CHECK_EQ(sn_bytes_mut_split_off(&m, 4, &tail), 0);
    CHECK(tail.p == m.p + 4 && tail.len == 4 && tail.cap == 28);
    CHECK_EQ(m.cap, 4);
    for (int i = 0; i < 100; i++) { /* interleaved; neither may see the other's bytes */
        CHECK_EQ(sn_bytes_mut_append(&m, "a", 1), 0);
        CHECK_EQ(sn_bytes_mut_append(&tail, "b", 1), 0);
    }
    CHECK_EQ(m.len, 104);
    CHECK_EQ(tail.len, 104);
    CHECK_MEM(m.p, "AAAA", 4);
    CHECK_MEM(tail.p, "BBBB", 4);
    for (int i = 4; i < 104; i++)
        CHECK(m.p[i] == 'a' && tail.p[i] == 'b');
    struct sn_bytes fm = sn_bytes_mut_freeze(&m), ft = sn_bytes_mut_freeze(&tail);
    CHECK_EQ(fm.len + ft.len, 208);
    sn_bytes_release(&fm);
    sn_bytes_release(&ft);
}

SN_TEST(bytes_mut_unique_view_reclaims_storage)
{
    struct sn_bytes_mut m, head;
    CHECK_EQ(sn_bytes_mut_init(&m, 32), 0);
    uint8_t *base = m.p;
    CHECK_EQ(sn_bytes_mut_append(&m, "0123456789abcdefghijklmnopqrstuv", 32), 0);
    CHECK_EQ(sn_bytes_mut_split_to(&m, 30, &head), 0);
    struct sn_bytes frozen = sn_bytes_mut_freeze(&head); /* a message handed on */
    CHECK_EQ(sn_bytes_refcount(&frozen), 2);
    CHECK_EQ(sn_bytes_mut_reserve(&m, 10), 0); /* shared: must not touch frozen bytes */
    CHECK(m.p != base + 30);
    CHECK_MEM(frozen.p, "0123456789", 10);
    CHECK_MEM(m.p, "uv", 2);
    sn_bytes_release(&frozen);
    /* again, but the other half is gone first: the storage is reused in place */
    sn_bytes_mut_fini(&m);
    CHECK_EQ(sn_bytes_mut_init(&m, 32), 0);
    base = m.p;
    CHECK_EQ(sn_bytes_mut_append(&m, "0123456789abcdefghijklmnopqrstuv", 32), 0);
    CHECK_EQ(sn_bytes_mut_split_to(&m, 30, &head), 0);
    sn_bytes_mut_fini(&head);
    CHECK_EQ(sn_bytes_mut_reserve(&m, 10), 0);
    CHECK(m.p == base); /* moved to the front of the same block */
    CHECK_EQ(m.cap, 32);
    CHECK_MEM(m.p, "uv", 2);
    sn_bytes_mut_fini(&m);
}

SN_TEST(bytes_mut_misuse_einval_unchanged)
{
    struct sn_bytes_mut m, o = {NULL, 0, 0, NULL};
    CHECK_EQ(sn_bytes_mut_init(&m, 16), 0);
    CHECK_EQ(sn_bytes_mut_append(&m, "abc", 3), 0);
    struct sn_bytes_mut before = m;
    CHECK_EQ(sn_bytes_mut_split_to(&m, 4, &o), -EINVAL);
    CHECK_EQ(sn_bytes_mut_split_off(&m, 4, &o), -EINVAL);
    CHECK_EQ(sn_bytes_mut_commit(&m, 14), -EINVAL); /* 13 writable */
    CHECK_EQ(sn_bytes_mut_reserve(&m, SIZE_MAX), -ENOMEM);
    CHECK(m.p == before.p && m.len == 3 && m.cap == 16 && m.sh == before.sh);
    CHECK(o.p == NULL && o.sh == NULL);
    struct sn_bytes f = sn_bytes_mut_freeze(&m);
    CHECK_EQ(sn_bytes_refcount(&f), 1); /* rejected splits took no reference */
    sn_bytes_release(&f);
    CHECK_EQ(sn_bytes_mut_init(&m, SIZE_MAX), -ENOMEM); /* overflow caught before malloc */
    CHECK(m.sh == NULL);
}

SN_TEST(bytes_mut_read_into_and_split_frames)
{
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    CHECK_EQ(write(fds[1], "one\ntwo\nthr", 11), 11);
    struct sn_bytes_mut m;
    CHECK_EQ(sn_bytes_mut_init(&m, 8), 0);
    CHECK_EQ(sn_bytes_mut_reserve(&m, 64), 0);
    size_t avail;
    uint8_t *w = sn_bytes_mut_wptr(&m, &avail);
    CHECK(avail >= 64);
    ssize_t n = read(fds[0], w, avail);
    CHECK_EQ(n, 11);
    CHECK_EQ(sn_bytes_mut_commit(&m, (size_t)n), 0);
    struct sn_bytes frames[2];
    for (int i = 0; i < 2; i++) { /* a line decoder: split each frame off, zero copy */
        ssize_t nl = sn_slice_find_byte(sn_slice_make(m.p, m.len), '\n');
        CHECK(nl >= 0);
        struct sn_bytes_mut f;
        CHECK_EQ(sn_bytes_mut_split_to(&m, (size_t)nl + 1, &f), 0);
        frames[i] = sn_bytes_mut_freeze(&f);
    }
    CHECK(sn_slice_eq(sn_bytes_slice_of(&frames[0]), sn_slice_str("one\n")));
    CHECK(sn_slice_eq(sn_bytes_slice_of(&frames[1]), sn_slice_str("two\n")));
    CHECK_EQ(m.len, 3);
    CHECK_EQ(write(fds[1], "ee\n", 3), 3); /* the partial frame completes in place */
    w = sn_bytes_mut_wptr(&m, &avail);
    CHECK_EQ(read(fds[0], w, avail), 3);
    CHECK_EQ(sn_bytes_mut_commit(&m, 3), 0);
    CHECK_MEM(m.p, "three\n", 6);
    CHECK(m.p == frames[1].p + 4);
    sn_bytes_mut_clear(&m);
    CHECK_EQ(m.len, 0);
    close(fds[0]);
    close(fds[1]);
    sn_bytes_release(&frames[0]);
    sn_bytes_release(&frames[1]);
    sn_bytes_mut_fini(&m);
}

/* ======================================================================
 * sn_pool
 * ====================================================================== */

SN_TEST(pool_get_until_empty_lifo_and_stats)
{
    struct sn_pool pl;
    CHECK_EQ(sn_pool_init(&pl, 100, 8), 0);
    CHECK_EQ(pl.stride, 112);
    void *b[8];
    for (int i = 0; i < 8; i++) {
        b[i] = sn_pool_get(&pl);
        CHECK(b[i] != NULL);
        CHECK(((uintptr_t)b[i] & (SN_POOL_ALIGN - 1)) == 0);
        memset(b[i], i, 100); /* blocks must not overlap: checked below */
    }
    CHECK(sn_pool_get(&pl) == NULL);
    CHECK_EQ(pl.empty, 1);
    CHECK_EQ(pl.in_use, 8);
    CHECK_EQ(sn_pool_free_count(&pl), 0);
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < 100; k++)
            CHECK_EQ(((uint8_t *)b[i])[k], i);
    CHECK_EQ(sn_pool_put(&pl, b[3]), 0);
    CHECK_EQ(sn_pool_put(&pl, b[5]), 0);
    CHECK(sn_pool_get(&pl) == b[5]); /* LIFO: the warmest block first */
    CHECK(sn_pool_get(&pl) == b[3]);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(sn_pool_put(&pl, b[i]), 0);
    CHECK_EQ(pl.in_use, 0);
    CHECK_EQ(pl.high_water, 8);
    CHECK_EQ(pl.gets, 10);
    CHECK(sn_pool_get(&pl) != NULL);
    CHECK_EQ(pl.high_water, 8);
    sn_pool_fini(&pl);
}

SN_TEST(pool_foreign_and_double_put_einval)
{
    struct sn_pool pl;
    CHECK_EQ(sn_pool_init(&pl, 64, 4), 0);
    uint8_t *a = sn_pool_get(&pl), *b = sn_pool_get(&pl);
    CHECK(a && b);
    uint8_t local[64];
    uint32_t head = pl.free_head;
    CHECK_EQ(sn_pool_put(&pl, local), -EINVAL);        /* foreign */
    CHECK_EQ(sn_pool_put(&pl, NULL), -EINVAL);
    CHECK_EQ(sn_pool_put(&pl, a + 1), -EINVAL);        /* inside a block */
    CHECK_EQ(sn_pool_put(&pl, a + 4 * pl.stride), -EINVAL); /* one past the last block */
    CHECK_EQ(sn_pool_put(&pl, sn_pool_block(&pl, 3)), -EINVAL); /* never handed out */
    CHECK_EQ(pl.in_use, 2);
    CHECK_EQ(pl.free_head, head);
    CHECK_EQ(sn_pool_put(&pl, a), 0);
    CHECK_EQ(sn_pool_put(&pl, a), -EINVAL); /* double put */
    CHECK_EQ(pl.in_use, 1);
    CHECK_EQ(pl.bad_puts, 6);
    uint32_t idx = 99;
    CHECK_EQ(sn_pool_index(&pl, b, &idx), 0);
    CHECK_EQ(idx, 1);
    CHECK_EQ(sn_pool_index(&pl, b + 3, &idx), -EINVAL);
    CHECK(sn_pool_block(&pl, 1) == b);
    CHECK(sn_pool_block(&pl, 4) == NULL);
    /* the free list survives: exactly 3 gets succeed */
    CHECK(sn_pool_get(&pl) && sn_pool_get(&pl) && sn_pool_get(&pl));
    CHECK(sn_pool_get(&pl) == NULL);
    sn_pool_fini(&pl);
}

SN_TEST(pool_over_caller_memory)
{
    static _Alignas(16) uint8_t mem[4096];
    size_t need = sn_pool_mem_size(48, 50);
    CHECK(need >= 48 * 50 && need <= sizeof(mem) - 16);
    struct sn_pool pl;
    CHECK_EQ(sn_pool_init_mem(&pl, mem, need - 1, 48, 50), -EINVAL); /* too small */
    CHECK_EQ(sn_pool_init_mem(&pl, mem + 8, need, 48, 50), -EINVAL); /* misaligned */
    CHECK_EQ(sn_pool_init_mem(&pl, NULL, need, 48, 50), -EINVAL);
    CHECK_EQ(sn_pool_init_mem(&pl, mem + 16, need, 48, 50), 0);
    int n = 0;
    void *blk;
    while ((blk = sn_pool_get(&pl)) != NULL) {
        CHECK((uint8_t *)blk >= mem + 16 && (uint8_t *)blk + 48 <= mem + 16 + need);
        memset(blk, 0xee, 48); /* scribbling blocks must not break the free list */
        n++;
    }
    CHECK_EQ(n, 50);
    for (uint32_t i = 0; i < 50; i++)
        CHECK_EQ(sn_pool_put(&pl, sn_pool_block(&pl, i)), 0);
    CHECK_EQ(pl.in_use, 0);
    sn_pool_fini(&pl); /* caller memory: nothing freed (ASan would catch it) */
}

SN_TEST(pool_init_misuse)
{
    struct sn_pool pl;
    CHECK_EQ(sn_pool_init(&pl, 0, 4), -EINVAL);
    CHECK_EQ(sn_pool_init(&pl, 64, 0), -EINVAL);
    CHECK_EQ(sn_pool_init(&pl, 64, UINT32_MAX), -EINVAL);
    CHECK_EQ(sn_pool_init(&pl, SIZE_MAX, 2), -ENOMEM); /* overflow, caught before malloc */
    CHECK_EQ(sn_pool_init(&pl, SIZE_MAX / 4, 8), -ENOMEM);
    CHECK_EQ(sn_pool_mem_size(0, 1), 0);
    CHECK_EQ(sn_pool_mem_size(SIZE_MAX / 2, 4), 0);
    CHECK(pl.mem == NULL && pl.owned == NULL);
    sn_pool_fini(&pl);
}

SN_TEST(pool_random_get_put_matches_model)
{
    enum { NB = 200 };
    struct sn_pool pl;
    CHECK_EQ(sn_pool_init(&pl, 24, NB), 0);
    static void *out[NB];
    static int model[NB]; /* our own idea of which blocks are out */
    memset(model, 0, sizeof(model));
    int nout = 0, peak = 0;
    for (int step = 0; step < 20000; step++) {
        uint32_t idx;
        if (nout < NB && (nout == 0 || rnd() % 3 != 0)) {
            void *b = sn_pool_get(&pl);
            CHECK(b != NULL);
            CHECK_EQ(sn_pool_index(&pl, b, &idx), 0);
            CHECK(!model[idx]); /* never handed out twice */
            model[idx] = 1;
            out[nout++] = b;
        } else {
            int k = (int)(rnd() % (uint32_t)nout);
            CHECK_EQ(sn_pool_index(&pl, out[k], &idx), 0);
            model[idx] = 0;
            CHECK_EQ(sn_pool_put(&pl, out[k]), 0);
            CHECK_EQ(sn_pool_put(&pl, out[k]), -EINVAL);
            out[k] = out[--nout];
        }
        peak = SN_MAX(peak, nout);
        CHECK_EQ(pl.in_use, nout);
    }
    CHECK_EQ(pl.high_water, peak);
    sn_pool_fini(&pl);
}

/* ======================================================================
 * sn_iovs
 * ====================================================================== */

SN_TEST(iovs_push_full_and_skip_empty)
{
    struct iovec iov[3];
    struct sn_iovs v;
    CHECK_EQ(sn_iovs_init(&v, iov, 3), 0);
    struct sn_buf b;
    CHECK_EQ(sn_buf_init(&b, 8, 8), 0);
    sn_buf_append(&b, "buf", 3);
    struct sn_bytes by = sn_bytes_from_static("bytes", 5);
    CHECK_EQ(sn_iovs_push(&v, "", 0), 0); /* skipped */
    CHECK_EQ(sn_iovs_push_slice(&v, sn_slice_str("slice")), 0);
    CHECK_EQ(sn_iovs_push_buf(&v, &b), 0);
    CHECK_EQ(sn_iovs_push_bytes(&v, &by), 0);
    CHECK_EQ(sn_iovs_push(&v, "x", 1), -ENOSPC);
    CHECK_EQ(sn_iovs_count(&v), 3);
    CHECK_EQ(sn_iovs_bytes(&v), 13);
    CHECK_EQ(iov[1].iov_len, 3);
    struct iovec big[2];
    CHECK_EQ(sn_iovs_init(&v, big, 2), 0);
    CHECK_EQ(sn_iovs_push(&v, "a", (size_t)SSIZE_MAX), 0);
    CHECK_EQ(sn_iovs_push(&v, "a", 1), -EMSGSIZE); /* writev's total must fit ssize_t */
    CHECK_EQ(sn_iovs_count(&v), 1);
    CHECK_EQ(sn_iovs_init(&v, NULL, 1), -EINVAL);
    sn_buf_fini(&b);
}

/* Advance by every split of a 3-piece message into two writes; the remaining
 * iovecs must always describe exactly the unwritten suffix. */
SN_TEST(iovs_advance_every_split_point)
{
    const char *pieces[] = {"abc", "defgh", "i"};
    const char *all = "abcdefghi";
    for (size_t first = 0; first <= 9; first++) {
        struct iovec iov[3];
        struct sn_iovs v;
        sn_iovs_init(&v, iov, 3);
        for (int i = 0; i < 3; i++)
            CHECK_EQ(sn_iovs_push(&v, pieces[i], strlen(pieces[i])), 0);
        CHECK_EQ(sn_iovs_advance(&v, first), 0);
        CHECK_EQ(sn_iovs_bytes(&v), 9 - first);
        char flat[16];
        size_t k = 0;
        for (int i = 0; i < sn_iovs_count(&v); i++) {
            memcpy(flat + k, sn_iovs_vec(&v)[i].iov_base, sn_iovs_vec(&v)[i].iov_len);
            k += sn_iovs_vec(&v)[i].iov_len;
        }
        CHECK_EQ(k, 9 - first);
        CHECK_MEM(flat, all + first, k);
        CHECK_EQ(sn_iovs_advance(&v, 9 - first), 0);
        CHECK_EQ(sn_iovs_count(&v), 0); /* done: reset, reusable */
        CHECK_EQ(v.n, 0);
    }
}

SN_TEST(iovs_advance_misuse_einval_unchanged)
{
    struct iovec iov[2];
    struct sn_iovs v;
    sn_iovs_init(&v, iov, 2);
    sn_iovs_push(&v, "hello", 5);
    sn_iovs_push(&v, "world", 5);
    CHECK_EQ(sn_iovs_advance(&v, 7), 0);
    CHECK_EQ(sn_iovs_advance(&v, 4), -EINVAL);
    CHECK_EQ(sn_iovs_bytes(&v), 3);
    CHECK_EQ(sn_iovs_count(&v), 1);
    CHECK_MEM(sn_iovs_vec(&v)[0].iov_base, "rld", 3);
    CHECK_EQ(sn_iovs_push(&v, "!", 1), -ENOSPC); /* the array is still full */
    CHECK_EQ(sn_iovs_advance(&v, 0), 0);
    CHECK_EQ(sn_iovs_bytes(&v), 3);
    CHECK_EQ(sn_iovs_write(-1, &v), -EBADF);
    CHECK_EQ(sn_iovs_bytes(&v), 3); /* a failed write advances nothing */
}

/* Drain whatever is readable from a non-blocking fd and check it continues the stream. */
static int drain_check(int fd, uint64_t *pos, size_t max)
{
    static uint8_t tmp[8192];
    ssize_t n = read(fd, tmp, SN_MIN(max, sizeof(tmp)));
    if (n < 0)
        return errno == EAGAIN ? 0 : -1;
    for (ssize_t i = 0; i < n; i++)
        if (tmp[i] != pat((*pos)++))
            return -1;
    return 0;
}

/* Send 64 pieces of random length (300 KB in all) through a non-blocking fd that
 * takes far less per call; each write is partial, sn_iovs_advance picks up. */
static int stream_through(int wfd, int rfd, int use_sendmsg, int *partials)
{
    enum { PIECES = 64 };
    static uint8_t data[PIECES * 9000];
    struct iovec iov[PIECES];
    struct sn_iovs v;
    sn_iovs_init(&v, iov, PIECES);
    size_t total = 0;
    for (int i = 0; i < PIECES; i++) {
        size_t len = rnd() % 9000;
        for (size_t k = 0; k < len; k++)
            data[total + k] = pat(total + k);
        if (sn_iovs_push(&v, data + total, len) < 0)
            return -1;
        total += len;
    }
    uint64_t got = 0;
    *partials = 0;
    while (sn_iovs_bytes(&v) > 0) {
        size_t before = sn_iovs_bytes(&v);
        ssize_t w;
        if (use_sendmsg) {
            struct msghdr mh = {.msg_iov = sn_iovs_vec(&v), .msg_iovlen = (size_t)sn_iovs_count(&v)};
            w = sendmsg(wfd, &mh, MSG_DONTWAIT);
            w = w < 0 ? -errno : w;
            if (w > 0 && sn_iovs_advance(&v, (size_t)w) < 0)
                return -1;
        } else {
            w = sn_iovs_write(wfd, &v);
        }
        if (w < 0 && w != -EAGAIN)
            return -1;
        if (w > 0 && (size_t)w < before)
            (*partials)++;
        if (drain_check(rfd, &got, 1 + rnd() % 8192) < 0) /* the reader is slower, at random */
            return -1;
    }
    while (got < total) {
        uint64_t g0 = got;
        if (drain_check(rfd, &got, 8192) < 0 || got == g0)
            return -1;
    }
    return got == total ? 0 : -1;
}

SN_TEST(iovs_writev_partial_writes_pipe)
{
    int fds[2];
    CHECK_EQ(pipe2(fds, O_NONBLOCK), 0);
    fcntl(fds[1], F_SETPIPE_SZ, 4096); /* as small as it goes: many partial writes */
    int partials;
    int r = stream_through(fds[1], fds[0], 0, &partials);
    close(fds[0]);
    close(fds[1]);
    CHECK_EQ(r, 0);
    CHECK(partials > 10);
}

SN_TEST(iovs_sendmsg_partial_writes_socketpair)
{
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    int partials;
    int r = stream_through(sv[0], sv[1], 1, &partials);
    close(sv[0]);
    close(sv[1]);
    CHECK_EQ(r, 0);
    CHECK(partials > 10);
}

SN_TEST(iovs_count_clamped_to_uio_maxiov)
{
    enum { N = 1500 };
    static struct iovec iov[N];
    static uint8_t bytes[N];
    struct sn_iovs v;
    sn_iovs_init(&v, iov, N);
    for (int i = 0; i < N; i++) {
        bytes[i] = pat((uint64_t)i);
        CHECK_EQ(sn_iovs_push(&v, &bytes[i], 1), 0);
    }
    CHECK_EQ(sn_iovs_count(&v), SN_IOVS_MAX);
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    CHECK_EQ(sn_iovs_write(fds[1], &v), SN_IOVS_MAX); /* not EINVAL */
    CHECK_EQ(sn_iovs_count(&v), N - SN_IOVS_MAX);
    CHECK_EQ(sn_iovs_write(fds[1], &v), N - SN_IOVS_MAX);
    CHECK_EQ(sn_iovs_bytes(&v), 0);
    uint64_t got = 0;
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    CHECK_EQ(drain_check(fds[0], &got, N), 0);
    CHECK_EQ(got, N);
    close(fds[0]);
    close(fds[1]);
}

/* ======================================================================
 * sn_mring
 * ====================================================================== */

static int mring_open_or_skip(struct sn_mring *r, size_t size)
{
    int err = sn_mring_open(r, size);
    return err == -ENOSYS || err == -EPERM ? 1 : err; /* memfd_create blocked (seccomp) */
}

SN_TEST(mring_size_rounded_and_mirrored)
{
    struct sn_mring r;
    int err = mring_open_or_skip(&r, 100);
    if (err == 1)
        SKIP("memfd_create not available");
    CHECK_EQ(err, 0);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    CHECK_EQ(r.size, page);
    volatile uint8_t *lo = r.base, *hi = r.base + r.size; /* volatile: the compiler cannot know they alias */
    lo[5] = 0x42;
    CHECK_EQ(hi[5], 0x42);
    hi[r.size - 1] = 0x17;
    CHECK_EQ(lo[r.size - 1], 0x17);
    sn_mring_close(&r);
    sn_mring_close(&r); /* twice is harmless */
    CHECK_EQ(sn_mring_open(&r, 2 * page), 0);
    CHECK_EQ(r.size, 2 * page); /* already a multiple: not rounded further */
    sn_mring_close(&r);
}

SN_TEST(mring_write_across_the_end_reads_contiguously)
{
    struct sn_mring r;
    int err = mring_open_or_skip(&r, 4096);
    if (err == 1)
        SKIP("memfd_create not available");
    CHECK_EQ(err, 0);
    uint8_t *junk = calloc(1, r.size);
    CHECK(junk != NULL);
    err = sn_mring_write(&r, junk, r.size - 10);
    free(junk);
    CHECK_EQ(err, 0);
    CHECK_EQ(sn_mring_consume(&r, r.size - 12), 0); /* 2 left, 10 before the end */
    const char msg[] = "this message straddles the end of the ring";
    CHECK_EQ(sn_mring_write(&r, msg, sizeof(msg)), 0);
    size_t avail;
    const uint8_t *p = sn_mring_rptr(&r, &avail);
    CHECK_EQ(avail, 2 + sizeof(msg));
    CHECK_MEM(p + 2, msg, sizeof(msg)); /* one contiguous run, no wrap handling */
    CHECK(p + avail > r.base + r.size);
    sn_mring_close(&r);
}

SN_TEST(mring_random_sizes_many_cycles)
{
    struct sn_mring r;
    int err = mring_open_or_skip(&r, 8192);
    if (err == 1)
        SKIP("memfd_create not available");
    CHECK_EQ(err, 0);
    uint64_t wpos = 0, rpos = 0;
    for (int step = 0; step < 40000; step++) {
        size_t avail;
        if (rnd() & 1) { /* producer: fill part of the free run in place */
            uint8_t *w = sn_mring_wptr(&r, &avail);
            size_t n = avail ? rnd() % (avail + 1) : 0;
            for (size_t k = 0; k < n; k++)
                w[k] = pat(wpos + k);
            CHECK_EQ(sn_mring_commit(&r, n), 0);
            wpos += n;
        } else { /* consumer: check a contiguous run */
            const uint8_t *p = sn_mring_rptr(&r, &avail);
            size_t n = avail ? rnd() % (avail + 1) : 0;
            for (size_t k = 0; k < n; k++)
                CHECK_EQ(p[k], pat(rpos + k));
            CHECK_EQ(sn_mring_consume(&r, n), 0);
            rpos += n;
        }
        CHECK_EQ(sn_mring_len(&r), wpos - rpos);
    }
    CHECK(wpos > 100 * r.size); /* wrapped many times over */
    sn_mring_close(&r);
}

SN_TEST(mring_misuse_einval_enospc_unchanged)
{
    struct sn_mring r;
    CHECK_EQ(sn_mring_open(&r, 0), -EINVAL);
    int err = mring_open_or_skip(&r, 4096);
    if (err == 1)
        SKIP("memfd_create not available");
    CHECK_EQ(err, 0);
    CHECK_EQ(sn_mring_consume(&r, 1), -EINVAL);
    CHECK_EQ(sn_mring_write(&r, "abcd", 4), 0);
    CHECK_EQ(sn_mring_commit(&r, r.size - 3), -EINVAL);
    static uint8_t big[65536];
    if (r.size > sizeof(big))
        SKIP("page size above 64 KiB");
    CHECK_EQ(sn_mring_write(&r, big, r.size - 3), -ENOSPC);
    CHECK_EQ(sn_mring_len(&r), 4);
    CHECK_EQ(sn_mring_consume(&r, 5), -EINVAL);
    char out[8];
    CHECK_EQ(sn_mring_read(&r, out, sizeof(out)), 4); /* short read: what there is */
    CHECK_MEM(out, "abcd", 4);
    CHECK_EQ(sn_mring_space(&r), r.size);
    CHECK_EQ(sn_mring_write(&r, big, r.size), 0); /* completely full is legal */
    CHECK_EQ(sn_mring_write(&r, big, 1), -ENOSPC);
    sn_mring_close(&r);
}

SN_TEST(mring_open_failure_leaves_nothing_behind)
{
    struct sn_mring r;
    int before = count_fds();
    CHECK(before > 0);
    /* 2^62 bytes: the memfd may take the size (sparse), the address space cannot. */
    int err = sn_mring_open(&r, (size_t)1 << 62);
    if (err == -ENOSYS || err == -EPERM)
        SKIP("memfd_create not available");
    CHECK(err < 0);
    CHECK(r.base == NULL && r.size == 0);
    CHECK_EQ(count_fds(), before); /* the goto ladder closed the memfd */
    CHECK_EQ(sn_mring_open(&r, SIZE_MAX), -ENOMEM); /* rejected before any syscall */
    CHECK_EQ(count_fds(), before);
}
