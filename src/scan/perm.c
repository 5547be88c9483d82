/* perm.c — a keyed pseudo-random permutation of [0, n): a Feistel network on
 * b bits (2^b >= n, split into halves of floor(b/2) and ceil(b/2) bits), cycle-
 * walked into the domain (Black & Rogaway 2002, "Ciphers with arbitrary finite
 * domains", §3 "cycle walking"). The order in which a scan visits its targets;
 * the role of masscan's "blackrock". */
#include <sysnet/scan.h>

#include <errno.h>

int sn_scan_perm_init(struct sn_scan_perm *p, uint64_t n, const struct sn_scan_key *key)
{
    if (n == 0 || n > SN_SCAN_PERM_MAX)
        return -EINVAL;
    /* Smallest b >= 2 with 2^b >= n: the domain [0, 2^b) holds [0, n) and is
     * less than twice its size, so a walk takes under 2 encryptions on average. */
    unsigned b = 2;
    while ((1ULL << b) < n)
        b++;
    p->n = n;
    p->bits = b;
    memcpy(p->key, key->k, sizeof(p->key));
    return 0;
}

/* An unbalanced Feistel network: x = L (lb bits) | R (rb bits); each round
 * (L, R) -> (R, L ^ F(round, R)), which swaps the halves' widths, so after an
 * even number of rounds the layout is back to (lb, rb). Each round is
 * invertible whatever F is, so the whole is a bijection of [0, 2^b). F is
 * SipHash-2-4 of one 64-bit word (round << 32 | R) truncated to L's width;
 * the cookies hash 12 or 36 bytes, so the two uses of the key never hash the
 * same message. */
static uint64_t feistel(const struct sn_scan_perm *p, uint64_t x)
{
    unsigned lb = p->bits / 2, rb = p->bits - lb;
    uint64_t l = x >> rb, r = x & ((1ULL << rb) - 1);
    for (uint64_t round = 0; round < SN_SCAN_PERM_ROUNDS; round++) {
        uint64_t f = sn_siphash24_u64(p->key, round << 32 | r) & ((1ULL << lb) - 1);
        uint64_t nl = r;
        r = l ^ f;
        l = nl;
        unsigned t = lb;
        lb = rb;
        rb = t;
    }
    return l << rb | r;
}

uint64_t sn_scan_perm_at(const struct sn_scan_perm *p, uint64_t i)
{
    if (i >= p->n)
        return i;
    uint64_t x = i;
    /* Terminates: the cycle of the bijection through i comes back to i < n. */
    do
        x = feistel(p, x);
    while (x >= p->n);
    return x;
}
