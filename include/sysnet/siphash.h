/* sysnet/siphash.h — SipHash-2-4, a keyed 64-bit pseudo-random function
 * (Aumasson & Bernstein, "SipHash: a fast short-input PRF", INDOCRYPT 2012).
 *
 * What it is for: hashing short inputs an attacker may choose (addresses,
 * ports, flow keys) without letting them predict or collide the output: SYN
 * cookies (scan.h), hash-table seeds, keyed permutations. It is a PRF, not a
 * general cryptographic hash: the 128-bit key is the secret; with the key
 * known, anyone can compute it.
 *
 * Byte conventions follow the paper and its reference code exactly: the key is
 * 16 bytes (k0 = the first 8 read little-endian, k1 = the next 8), the message
 * is read as little-endian 64-bit words, and the result is returned as a
 * uint64_t whose little-endian bytes are the reference implementation's 8
 * output bytes (sn_store_le64(out, sn_siphash24(...)) reproduces them). The
 * 64 reference vectors (key 00..0f, messages "", 00, 00 01, ... 00..3e) are
 * checked in tests/unit/test_scan.c.
 *
 * Thread rules: pure functions, no state, no allocation.
 */
#ifndef SYSNET_SIPHASH_H
#define SYSNET_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SN_SIPHASH_KEYLEN 16

/* SipHash-2-4 of data[0..len) under a 16-byte key (any alignment). */
uint64_t sn_siphash24(const uint8_t key[SN_SIPHASH_KEYLEN], const void *data, size_t len);

/* The same as sn_siphash24(key, b, 8) where b holds v as 8 little-endian bytes,
 * without the byte shuffling: the fast path for hashing one integer. */
uint64_t sn_siphash24_u64(const uint8_t key[SN_SIPHASH_KEYLEN], uint64_t v);

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_SIPHASH_H */
