/* checksum.c — the Internet checksum (RFC 1071), its incremental update
 * (RFC 1624) and the IPv4/IPv6 pseudo-header sums.
 *
 * The one's-complement sum is independent of byte order (RFC 1071 §2(B)): we add
 * native-order 64-bit words with end-around carry, fold, and swap the 16-bit
 * result once at the end on a little-endian host. */
#include <sysnet/wire.h>

/* Sum native 64-bit words; returns a 64-bit accumulator with carries folded in.
 * Four independent accumulators hide the add-with-carry latency chain. */
static uint64_t sum_native(const uint8_t *p, size_t len)
{
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, c0 = 0, c1 = 0, c2 = 0, c3 = 0;
    while (len >= 32) {
        uint64_t w0, w1, w2, w3;
        memcpy(&w0, p, 8);
        memcpy(&w1, p + 8, 8);
        memcpy(&w2, p + 16, 8);
        memcpy(&w3, p + 24, 8);
        a0 += w0; c0 += a0 < w0;
        a1 += w1; c1 += a1 < w1;
        a2 += w2; c2 += a2 < w2;
        a3 += w3; c3 += a3 < w3;
        p += 32;
        len -= 32;
    }
    uint64_t acc = 0, carry = c0 + c1 + c2 + c3;
    acc += a0; carry += acc < a0;
    acc += a1; carry += acc < a1;
    acc += a2; carry += acc < a2;
    acc += a3; carry += acc < a3;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        acc += w; carry += acc < w;
        p += 8;
        len -= 8;
    }
    /* The tail: up to 7 bytes, zero-padded on the right as RFC 1071 says for an
     * odd byte. Building it in memory keeps the byte positions right in either
     * host order. */
    if (len) {
        uint8_t t[8] = {0};
        memcpy(t, p, len);
        uint64_t w;
        memcpy(&w, t, 8);
        acc += w; carry += acc < w;
    }
    /* Fold the carry count back in (end-around carry). */
    acc += carry;
    if (acc < carry)
        acc++;
    return acc;
}

static uint32_t fold64(uint64_t v)
{
    v = (v & 0xffffffffu) + (v >> 32);
    v = (v & 0xffffffffu) + (v >> 32);
    return (uint32_t)v;
}

static uint16_t fold32(uint32_t v)
{
    v = (v & 0xffff) + (v >> 16);
    v = (v & 0xffff) + (v >> 16);
    return (uint16_t)v;
}

uint32_t sn_csum_add(uint32_t sum, const void *p, size_t len)
{
    /* Native-order sum folded to 16 bits, then to big-endian word order. */
    uint16_t s = fold32(fold64(sum_native(p, len)));
    s = SN_HOST_BE16(s);
    uint32_t r = sum + s;
    return (r & 0xffff) + (r >> 16);
}

uint16_t sn_csum_fold(uint32_t sum)
{
    return (uint16_t)~fold32(sum);
}

uint16_t sn_csum_update16(uint16_t csum, uint16_t old16, uint16_t new16)
{
    /* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') — never yields -0 from +0 as eqn. 2 can. */
    uint32_t s = (uint16_t)~csum;
    s += (uint16_t)~old16;
    s += new16;
    return (uint16_t)~fold32(s);
}

uint16_t sn_csum_update32(uint16_t csum, uint32_t old32, uint32_t new32)
{
    uint32_t s = (uint16_t)~csum;
    s += (uint16_t)~(old32 >> 16);
    s += (uint16_t)~(old32 & 0xffff);
    s += new32 >> 16;
    s += new32 & 0xffff;
    return (uint16_t)~fold32(s);
}

uint32_t sn_csum_pseudo4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto, uint16_t len)
{
    uint32_t s = sn_csum_add(0, src, 4);
    s = sn_csum_add(s, dst, 4);
    s += proto;
    s += len;
    return fold32(s);
}

uint32_t sn_csum_pseudo6(const uint8_t src[16], const uint8_t dst[16], uint8_t nxt, uint32_t len)
{
    uint32_t s = sn_csum_add(0, src, 16);
    s = sn_csum_add(s, dst, 16);
    s += len >> 16;
    s += len & 0xffff;
    s += nxt;
    return fold32(s);
}
