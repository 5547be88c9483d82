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

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <stdatomic.h>
#define SN_CSUM_AVX2 1

/* AVX2: 32 bytes per step in three instructions. Each 16-bit word w is biased to
 * the signed w - 0x8000 (xor), vpmaddwd with ones adds neighbours into 32-bit
 * lanes, and the lanes accumulate; the bias is added back per chunk. A lane gains
 * at most 65536 per step, so 16384 steps (512 KiB) cannot overflow it. Returns
 * the plain integer sum of the native 16-bit words of p[0..*done); the caller
 * sums the tail. Same one's-complement sum, any word grouping (RFC 1071 §2(C)). */
__attribute__((target("avx2"))) static uint64_t sum_avx2(const uint8_t *p, size_t len, size_t *done)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i bias = _mm256_set1_epi16((short)0x8000);
    uint64_t total = 0;
    size_t n = 0;
    while (len - n >= 64) {
        size_t chunk = SN_MIN(len - n, (size_t)64 * 8192) & ~(size_t)63;
        __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
        for (size_t i = 0; i < chunk; i += 64) {
            __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)(p + n + i));
            __m256i x1 = _mm256_loadu_si256((const __m256i *)(const void *)(p + n + i + 32));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_xor_si256(x0, bias), ones));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_xor_si256(x1, bias), ones));
        }
        __m256i a = _mm256_add_epi32(a0, a1); /* |lane| <= 2^30 */
        int32_t lanes[8];
        _mm256_storeu_si256((__m256i *)(void *)lanes, a);
        int64_t s = 0;
        for (int k = 0; k < 8; k++)
            s += lanes[k];
        s += (int64_t)(chunk / 2) * 0x8000; /* undo the bias of every word */
        total += (uint64_t)s;
        n += chunk;
    }
    *done = n;
    return total;
}

/* The same with AVX-512BW, 64 bytes per step in two chains, and the last
 * 1..63 bytes through a masked load (zero-filled, as RFC 1071 pads an odd
 * byte), so the whole buffer is summed here. */
__attribute__((target("avx512f,avx512bw"))) static uint64_t sum_avx512(const uint8_t *p, size_t len,
                                                                        size_t *done)
{
    const __m512i ones = _mm512_set1_epi16(1);
    const __m512i bias = _mm512_set1_epi16((short)0x8000);
    uint64_t total = 0;
    size_t n = 0;
    while (n < len) {
        size_t chunk = SN_MIN(len - n, (size_t)128 * 8192);
        size_t words = (chunk + 1) / 2, i = 0;
        __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
        for (; i + 128 <= chunk; i += 128) {
            __m512i x0 = _mm512_loadu_si512((const void *)(p + n + i));
            __m512i x1 = _mm512_loadu_si512((const void *)(p + n + i + 64));
            a0 = _mm512_add_epi32(a0, _mm512_madd_epi16(_mm512_xor_si512(x0, bias), ones));
            a1 = _mm512_add_epi32(a1, _mm512_madd_epi16(_mm512_xor_si512(x1, bias), ones));
        }
        if (i + 64 <= chunk) {
            __m512i x = _mm512_loadu_si512((const void *)(p + n + i));
            a0 = _mm512_add_epi32(a0, _mm512_madd_epi16(_mm512_xor_si512(x, bias), ones));
            i += 64;
        }
        if (i < chunk) {
            /* Masked-off bytes read as zero and fault-free; only the words the
             * buffer has are biased, so the correction below stays exact. */
            size_t rest = chunk - i;
            __mmask64 m = rest == 64 ? ~(__mmask64)0 : (((__mmask64)1 << rest) - 1);
            __mmask32 wm = (__mmask32)((((uint64_t)1 << ((rest + 1) / 2)) - 1) & 0xffffffffu);
            __m512i x = _mm512_maskz_loadu_epi8(m, (const void *)(p + n + i));
            x = _mm512_mask_blend_epi16(wm, x, _mm512_xor_si512(x, bias));
            a1 = _mm512_add_epi32(a1, _mm512_madd_epi16(x, ones));
        }
        int64_t s = _mm512_reduce_add_epi32(_mm512_add_epi32(a0, a1)); /* |lane| <= 2^30 */
        s += (int64_t)words * 0x8000;
        total += (uint64_t)s;
        n += chunk;
    }
    *done = n;
    return total;
}

/* 2 = AVX-512BW, 1 = AVX2, 0 = neither (the scalar loop). Asked once: the
 * answer never changes, and racing first calls store the same value. */
static int vector_level(void)
{
    static _Atomic int level = -1;
    int l = atomic_load_explicit(&level, memory_order_relaxed);
    if (l < 0) {
        __builtin_cpu_init();
        l = __builtin_cpu_supports("avx512bw") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
        atomic_store_explicit(&level, l, memory_order_relaxed);
    }
    return l;
}
#endif

uint32_t sn_csum_add(uint32_t sum, const void *p, size_t len)
{
    uint64_t acc;
#ifdef SN_CSUM_AVX2
    int level = len >= 128 ? vector_level() : 0;
    if (level) {
        size_t done;
        uint64_t v = level == 2 ? sum_avx512(p, len, &done) : sum_avx2(p, len, &done);
        acc = sum_native((const uint8_t *)p + done, len - done);
        acc += v;
        if (acc < v) /* end-around carry */
            acc++;
    } else
#endif
        acc = sum_native(p, len);
    /* Native-order sum folded to 16 bits, then to big-endian word order. */
    uint16_t s = fold32(fold64(acc));
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
