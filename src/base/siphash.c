/* siphash.c — SipHash-2-4 (Aumasson & Bernstein 2012): two compression rounds
 * per 8-byte message word, four finalization rounds. Written from the paper's
 * description (§2); the constants are "somepseudorandomlygeneratedbytes". */
#include <sysnet/base.h>
#include <sysnet/siphash.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

struct sip {
    uint64_t v0, v1, v2, v3;
};

/* SipRound, paper §2 figure 2.1. */
static inline void sipround(struct sip *s)
{
    s->v0 += s->v1; s->v1 = ROTL(s->v1, 13); s->v1 ^= s->v0; s->v0 = ROTL(s->v0, 32);
    s->v2 += s->v3; s->v3 = ROTL(s->v3, 16); s->v3 ^= s->v2;
    s->v0 += s->v3; s->v3 = ROTL(s->v3, 21); s->v3 ^= s->v0;
    s->v2 += s->v1; s->v1 = ROTL(s->v1, 17); s->v1 ^= s->v2; s->v2 = ROTL(s->v2, 32);
}

static inline void sip_init(struct sip *s, const uint8_t key[SN_SIPHASH_KEYLEN])
{
    uint64_t k0 = sn_load_le64(key), k1 = sn_load_le64(key + 8);
    /* §2 initialization: "somepseudorandomlygeneratedbytes" as four words. */
    s->v0 = k0 ^ 0x736f6d6570736575ULL;
    s->v1 = k1 ^ 0x646f72616e646f6dULL;
    s->v2 = k0 ^ 0x6c7967656e657261ULL;
    s->v3 = k1 ^ 0x7465646279746573ULL;
}

/* Compression: c = 2 SipRounds per word. */
static inline void sip_word(struct sip *s, uint64_t m)
{
    s->v3 ^= m;
    sipround(s);
    sipround(s);
    s->v0 ^= m;
}

/* Finalization: v2 ^= 0xff, d = 4 SipRounds, output v0^v1^v2^v3. */
static inline uint64_t sip_final(struct sip *s)
{
    s->v2 ^= 0xff;
    sipround(s);
    sipround(s);
    sipround(s);
    sipround(s);
    return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

uint64_t sn_siphash24(const uint8_t key[SN_SIPHASH_KEYLEN], const void *data, size_t len)
{
    const uint8_t *p = data;
    struct sip s;
    sip_init(&s, key);
    size_t whole = len & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8)
        sip_word(&s, sn_load_le64(p + i));
    /* The last word: the 0..7 leftover bytes, zero padding, and len mod 256
     * in the top byte (§2: "the last block ... contains len mod 256"). */
    uint64_t b = (uint64_t)(len & 0xff) << 56;
    for (size_t i = 0; i < (len & 7); i++)
        b |= (uint64_t)p[whole + i] << (8 * i);
    sip_word(&s, b);
    return sip_final(&s);
}

uint64_t sn_siphash24_u64(const uint8_t key[SN_SIPHASH_KEYLEN], uint64_t v)
{
    struct sip s;
    sip_init(&s, key);
    sip_word(&s, v);
    sip_word(&s, (uint64_t)8 << 56);
    return sip_final(&s);
}
