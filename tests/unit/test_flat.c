/* test_flat.c — the generic pieces of the flat layout's verifiers (<sysnet/codec.h>):
 * the header (every truncation of a valid buffer, wrong magic/hash/reserved/total),
 * regions against the forward-only cursor (none, backwards, overlapping, past the end,
 * 32-bit offset and count extremes, zero-size elements), bool bytes, alignment. The
 * generated verifiers themselves are tested in tests/peers/test_protoc.sh (they need
 * snc's output) and fuzzed by fuzz/fuzz_flat.c. */
#include <sysnet/codec.h>

#include "../harness.h"

#define HASH 0x12345678u

SN_TEST(flat_header_roundtrip)
{
    uint8_t b[64] = {0};
    size_t total = 0;
    sn_flat_header_write(b, HASH, 40);
    CHECK_EQ(sn_load_le32(b), SN_FLAT_MAGIC);
    CHECK(memcmp(b, "SNFL", 4) == 0);
    CHECK_EQ(sn_flat_header_check(b, 40, HASH, 24, &total), 0);
    CHECK_EQ(total, 40);
    /* bytes after total are not the buffer's: a longer len is fine */
    CHECK_EQ(sn_flat_header_check(b, sizeof(b), HASH, 24, &total), 0);
    CHECK_EQ(total, 40);
}

SN_TEST(flat_header_every_truncation)
{
    uint8_t b[40] = {0};
    size_t total = 7;
    sn_flat_header_write(b, HASH, sizeof(b));
    for (size_t k = 0; k < sizeof(b); k++) {
        CHECK_EQ(sn_flat_header_check(b, k, HASH, 8, &total), -ENODATA);
        CHECK_EQ(total, 7); /* untouched on failure */
    }
    CHECK_EQ(sn_flat_header_check(b, sizeof(b), HASH, 8, &total), 0);
}

SN_TEST(flat_header_hostile)
{
    uint8_t b[32] = {0};
    size_t total;
    sn_flat_header_write(b, HASH, 32);
    b[0] ^= 1; /* magic */
    CHECK_EQ(sn_flat_header_check(b, 32, HASH, 0, &total), -EBADMSG);
    sn_flat_header_write(b, HASH, 32);
    CHECK_EQ(sn_flat_header_check(b, 32, HASH ^ 1, 0, &total), -EBADMSG);
    sn_store_le32(b + 12, 1); /* reserved */
    CHECK_EQ(sn_flat_header_check(b, 32, HASH, 0, &total), -EBADMSG);
    sn_flat_header_write(b, HASH, 15); /* smaller than the header itself */
    CHECK_EQ(sn_flat_header_check(b, 32, HASH, 0, &total), -EBADMSG);
    sn_flat_header_write(b, HASH, 20); /* no room for a 8-byte root table */
    CHECK_EQ(sn_flat_header_check(b, 32, HASH, 8, &total), -EBADMSG);
    CHECK_EQ(sn_flat_header_check(b, 32, HASH, 4, &total), 0);
    sn_flat_header_write(b, HASH, UINT32_MAX); /* claims 4 GiB: truncated */
    CHECK_EQ(sn_flat_header_check(b, 32, HASH, 0, &total), -ENODATA);
}

SN_TEST(flat_region_none)
{
    size_t cur = 24;
    CHECK_EQ(sn_flat_region(16, 0, 0, 8, 100, &cur), 0);
    CHECK_EQ(cur, 24);
    /* no offset but a count: the "huge count over nothing" attack */
    CHECK_EQ(sn_flat_region(16, 0, 1, 8, 100, &cur), -EBADMSG);
    CHECK_EQ(sn_flat_region(16, 0, UINT32_MAX, 1, 100, &cur), -EBADMSG);
    CHECK_EQ(cur, 24);
}

SN_TEST(flat_region_forward_only)
{
    size_t cur = 24;
    CHECK_EQ(sn_flat_region(16, 8, 4, 2, 100, &cur), 0); /* [24, 32) */
    CHECK_EQ(cur, 32);
    CHECK_EQ(sn_flat_region(16, 8, 1, 1, 100, &cur), -EBADMSG); /* overlaps the last one */
    CHECK_EQ(sn_flat_region(16, 15, 1, 1, 100, &cur), -EBADMSG); /* ends inside: still before cur */
    CHECK_EQ(sn_flat_region(16, 1, 0, 1, 100, &cur), -EBADMSG);  /* backwards (into the table) */
    CHECK_EQ(cur, 32);
    CHECK_EQ(sn_flat_region(16, 20, 3, 1, 100, &cur), 0); /* a gap (padding) is allowed */
    CHECK_EQ(cur, 39);
    CHECK_EQ(sn_flat_region(16, 23, 0, 8, 100, &cur), 0); /* empty, right at the cursor */
    CHECK_EQ(cur, 39);
}

SN_TEST(flat_region_bounds)
{
    size_t cur = 16;
    CHECK_EQ(sn_flat_region(16, 84, 0, 1, 100, &cur), 0); /* empty, exactly at the end */
    cur = 16;
    CHECK_EQ(sn_flat_region(16, 85, 0, 1, 100, &cur), -EBADMSG); /* starts past the end */
    CHECK_EQ(sn_flat_region(16, 80, 5, 1, 100, &cur), -EBADMSG);  /* ends one past */
    CHECK_EQ(sn_flat_region(16, 80, 4, 1, 100, &cur), 0);
    CHECK_EQ(cur, 100);
    cur = 16;
    CHECK_EQ(sn_flat_region(16, UINT32_MAX, 1, 1, 100, &cur), -EBADMSG);
    CHECK_EQ(sn_flat_region(UINT32_MAX, UINT32_MAX, 0, 1, SN_FLAT_MAX_SIZE, &cur), -EBADMSG);
    /* count * size that would wrap 32 bits: computed in 64 */
    CHECK_EQ(sn_flat_region(16, 8, 0x40000000u, 4, 100, &cur), -EBADMSG);
    CHECK_EQ(sn_flat_region(16, 8, UINT32_MAX, 8, 100, &cur), -EBADMSG);
    /* zero-size elements cannot happen (a table is >= 1 byte); the helper counts them as
     * taking nothing, so it is the generator's duty, tested here as documented */
    CHECK_EQ(sn_flat_region(16, 8, UINT32_MAX, 0, 100, &cur), 0);
    CHECK_EQ(cur, 24);
}

SN_TEST(flat_bools)
{
    const uint8_t ok[] = {0, 1, 1, 0}, bad[] = {0, 1, 2}, bad2[] = {0xff};
    CHECK_EQ(sn_flat_bools_check(ok, sizeof(ok)), 0);
    CHECK_EQ(sn_flat_bools_check(bad, sizeof(bad)), -EBADMSG);
    CHECK_EQ(sn_flat_bools_check(bad2, sizeof(bad2)), -EBADMSG);
    CHECK_EQ(sn_flat_bools_check(bad, 0), 0);
}

SN_TEST(flat_align_reserve)
{
    size_t cur = 17;
    CHECK_EQ(sn_flat_align(17, 8), 24);
    CHECK_EQ(sn_flat_align(24, 8), 24);
    CHECK_EQ(sn_flat_align(17, 1), 17);
    CHECK_EQ(sn_flat_reserve(&cur, 5, 4), 20);
    CHECK_EQ(cur, 25);
    CHECK_EQ(sn_flat_reserve(&cur, 0, 8), 32);
    CHECK_EQ(cur, 32);
}

/* A hand-made buffer: header, a root table {u32 off, u32 len} of a string, the string.
 * Walked as a generated verifier walks it; every truncation refused, every offset
 * value tried. */
static int verify_tiny(const uint8_t *b, size_t len)
{
    size_t total, cur = SN_FLAT_HDR_SIZE + 8;
    int rc = sn_flat_header_check(b, len, HASH, 8, &total);
    if (rc < 0)
        return rc;
    const uint8_t *t = b + SN_FLAT_HDR_SIZE;
    rc = sn_flat_region(SN_FLAT_HDR_SIZE, sn_load_le32(t), sn_load_le32(t + 4), 1, total, &cur);
    if (rc < 0)
        return rc;
    return cur == total ? 0 : -EBADMSG;
}

SN_TEST(flat_tiny_buffer)
{
    uint8_t b[29] = {0};
    sn_flat_header_write(b, HASH, sizeof(b));
    sn_store_le32(b + 16, 8); /* the string right after the table */
    sn_store_le32(b + 20, 5);
    memcpy(b + 24, "hello", 5);
    CHECK_EQ(verify_tiny(b, sizeof(b)), 0);
    for (size_t k = 0; k < sizeof(b); k++)
        CHECK_EQ(verify_tiny(b, k), -ENODATA);
    for (uint32_t off = 0; off < 40; off++) {
        sn_store_le32(b + 16, off);
        CHECK_EQ(verify_tiny(b, sizeof(b)), off == 8 ? 0 : -EBADMSG);
    }
    sn_store_le32(b + 16, 8);
    for (uint32_t n = 0; n < 40; n++) {
        sn_store_le32(b + 20, n);
        CHECK_EQ(verify_tiny(b, sizeof(b)), n == 5 ? 0 : -EBADMSG); /* short: bytes unaccounted */
    }
}

SN_TEST(flat_strerror)
{
    CHECK(strstr(sn_flat_strerror(-ENODATA), "truncated") != NULL);
    CHECK(strstr(sn_flat_strerror(-EBADMSG), "malformed") != NULL);
    CHECK(sn_flat_strerror(-EPERM) != NULL);
}
