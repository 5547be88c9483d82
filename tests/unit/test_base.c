/* test_base.c — error names, byte order, clocks, CPU pinning, the checksum core. */
#include "../harness.h"
#include <sysnet/base.h>
#include <sysnet/wire.h>
#include <errno.h>

SN_TEST(strerror_names_codes)
{
    CHECK_STR(sn_errname(-EBADMSG), "EBADMSG");
    CHECK_STR(sn_errname(EPROTO), "EPROTO");
    CHECK_STR(sn_strerror(-EBADMSG), "malformed input");
    CHECK_STR(sn_errname(-4095), "E?");
    CHECK_STR(sn_strerror(-4095), "unknown error");
    CHECK(sn_strerror(0) != NULL);
}

SN_TEST(byteorder_unaligned_roundtrip)
{
    uint8_t b[17];
    for (int off = 0; off < 8; off++) {
        memset(b, 0, sizeof(b));
        sn_store_be16(b + off, 0x1234);
        CHECK(b[off] == 0x12 && b[off + 1] == 0x34);
        CHECK_EQ(sn_load_be16(b + off), 0x1234);
        CHECK_EQ(sn_load_le16(b + off), 0x3412);
        sn_store_be32(b + off, 0xa1b2c3d4u);
        CHECK(b[off] == 0xa1 && b[off + 3] == 0xd4);
        CHECK_EQ(sn_load_le32(b + off), 0xd4c3b2a1u);
        sn_store_le64(b + off, 0x0102030405060708ull);
        CHECK(b[off] == 0x08 && b[off + 7] == 0x01);
        CHECK(sn_load_be64(b + off) == 0x0807060504030201ull);
        sn_store_be48(b + off, 0x112233445566ull);
        CHECK(b[off] == 0x11 && b[off + 5] == 0x66);
        CHECK(sn_load_be48(b + off) == 0x112233445566ull);
        CHECK(sn_load_le48(b + off) == 0x665544332211ull);
        sn_store_le48(b + off, 0x112233445566ull);
        CHECK(b[off] == 0x66 && b[off + 5] == 0x11);
    }
}

SN_TEST(clock_monotonic)
{
    uint64_t a = sn_now_ns(), b = sn_now_ns();
    CHECK(b >= a);
    CHECK(sn_realtime_ns() > 1600000000ull * 1000000000ull);
}

SN_TEST(cpu_pin_and_count)
{
    int n = sn_cpu_count();
    CHECK(n >= 1);
    CHECK_EQ(sn_cpu_pin(-1), -EINVAL);
    CHECK_EQ(sn_cpu_pin(1 << 20), -EINVAL);
    int cur = sn_cpu_current();
    CHECK(cur >= 0);
    CHECK_EQ(sn_cpu_pin(cur), 0);
    CHECK_EQ(sn_cpu_current(), cur);
}

/* Reference: RFC 1071 §3 example and a plain 16-bit loop. */
static uint16_t ref_csum(const uint8_t *p, size_t len)
{
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        s += (uint32_t)p[len - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

SN_TEST(csum_matches_reference_all_lengths_and_alignments)
{
    static uint8_t buf[2100];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    for (size_t off = 0; off < 9; off++)
        for (size_t len = 0; len < 2048; len += (len < 80 ? 1 : 37))
            CHECK_EQ(sn_csum(buf + off, len), ref_csum(buf + off, len));
    memset(buf, 0xff, sizeof(buf));
    CHECK_EQ(sn_csum(buf, 2048), ref_csum(buf, 2048));
    const uint8_t rfc[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    CHECK_EQ(sn_csum(rfc, 8), (uint16_t)~0xddf2); /* RFC 1071 §3: sum is ddf2 */
}

SN_TEST(csum_chained_equals_whole)
{
    uint8_t b[300];
    for (int i = 0; i < 300; i++)
        b[i] = (uint8_t)(i * 7 + 3);
    uint32_t s = sn_csum_add(0, b, 100);
    s = sn_csum_add(s, b + 100, 150);
    s = sn_csum_add(s, b + 250, 49);
    CHECK_EQ(sn_csum_fold(s), sn_csum(b, 299));
}

SN_TEST(csum_incremental_rfc1624)
{
    uint8_t h[20] = {0x45, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2};
    sn_store_be16(h + 10, sn_csum(h, 20));
    CHECK_EQ(sn_csum(h, 20), 0);
    for (int ttl = 64; ttl > 0; ttl--) { /* a router decrementing TTL */
        uint16_t old = sn_load_be16(h + 8);
        h[8]--;
        sn_store_be16(h + 10, sn_csum_update16(sn_load_be16(h + 10), old, sn_load_be16(h + 8)));
        CHECK_EQ(sn_csum(h, 20), 0);
    }
    uint32_t olda = sn_load_be32(h + 12); /* NAT rewrites the source */
    sn_store_be32(h + 12, 0xc6130a0bu);
    sn_store_be16(h + 10, sn_csum_update32(sn_load_be16(h + 10), olda, 0xc6130a0bu));
    CHECK_EQ(sn_csum(h, 20), 0);
}
