/* sysnet/base.h — layer 0: the error convention, byte-order loads and stores,
 * a monotonic nanosecond clock and CPU pinning. Everything else stands on this.
 *
 * Errors: every function that can fail returns int (or ssize_t): >= 0 on success,
 * a negative errno on failure, as the kernel and io_uring do. sn_strerror() names
 * the code. No global errno is read or written by sysnet on success paths.
 *
 * Thread rules: everything here is thread-safe and allocation-free.
 */
#ifndef SYSNET_BASE_H
#define SYSNET_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SN_LIKELY(x)   __builtin_expect(!!(x), 1)
#define SN_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SN_COUNTOF(a)  (sizeof(a) / sizeof((a)[0]))
#define SN_MIN(a, b)   ((a) < (b) ? (a) : (b))
#define SN_MAX(a, b)   ((a) > (b) ? (a) : (b))
#define SN_UNUSED(x)   ((void)(x))

/* The library version, MAJOR.MINOR.PATCH. */
#define SN_VERSION_MAJOR 0
#define SN_VERSION_MINOR 1
#define SN_VERSION_PATCH 0
const char *sn_version(void);

/* ---- errors ------------------------------------------------------------ */

/* A short description of an error code; accepts -EBADMSG and EBADMSG alike.
 * Never returns NULL; the string is static. Thread-safe (unlike strerror). */
const char *sn_strerror(int err);
/* The symbolic name ("EBADMSG"), or "E?" for a code we do not know. */
const char *sn_errname(int err);

/* ---- byte order ---------------------------------------------------------
 * Loads and stores at any alignment, big (network) or little endian. They go
 * through memcpy so the compiler emits one unaligned load plus a bswap; never
 * cast a packed struct over a buffer, never use bit-fields for wire formats.
 */
static inline uint16_t sn_bswap16(uint16_t v) { return __builtin_bswap16(v); }
static inline uint32_t sn_bswap32(uint32_t v) { return __builtin_bswap32(v); }
static inline uint64_t sn_bswap64(uint64_t v) { return __builtin_bswap64(v); }

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define SN_BIG_ENDIAN_HOST 1
#define SN_HOST_BE16(v) (v)
#define SN_HOST_BE32(v) (v)
#define SN_HOST_BE64(v) (v)
#define SN_HOST_LE16(v) sn_bswap16(v)
#define SN_HOST_LE32(v) sn_bswap32(v)
#define SN_HOST_LE64(v) sn_bswap64(v)
#else
#define SN_BIG_ENDIAN_HOST 0
#define SN_HOST_BE16(v) sn_bswap16(v)
#define SN_HOST_BE32(v) sn_bswap32(v)
#define SN_HOST_BE64(v) sn_bswap64(v)
#define SN_HOST_LE16(v) (v)
#define SN_HOST_LE32(v) (v)
#define SN_HOST_LE64(v) (v)
#endif

static inline uint16_t sn_load_be16(const void *p) { uint16_t v; memcpy(&v, p, 2); return SN_HOST_BE16(v); }
static inline uint32_t sn_load_be32(const void *p) { uint32_t v; memcpy(&v, p, 4); return SN_HOST_BE32(v); }
static inline uint64_t sn_load_be64(const void *p) { uint64_t v; memcpy(&v, p, 8); return SN_HOST_BE64(v); }
static inline uint16_t sn_load_le16(const void *p) { uint16_t v; memcpy(&v, p, 2); return SN_HOST_LE16(v); }
static inline uint32_t sn_load_le32(const void *p) { uint32_t v; memcpy(&v, p, 4); return SN_HOST_LE32(v); }
static inline uint64_t sn_load_le64(const void *p) { uint64_t v; memcpy(&v, p, 8); return SN_HOST_LE64(v); }

static inline void sn_store_be16(void *p, uint16_t v) { v = SN_HOST_BE16(v); memcpy(p, &v, 2); }
static inline void sn_store_be32(void *p, uint32_t v) { v = SN_HOST_BE32(v); memcpy(p, &v, 4); }
static inline void sn_store_be64(void *p, uint64_t v) { v = SN_HOST_BE64(v); memcpy(p, &v, 8); }
static inline void sn_store_le16(void *p, uint16_t v) { v = SN_HOST_LE16(v); memcpy(p, &v, 2); }
static inline void sn_store_le32(void *p, uint32_t v) { v = SN_HOST_LE32(v); memcpy(p, &v, 4); }
static inline void sn_store_le64(void *p, uint64_t v) { v = SN_HOST_LE64(v); memcpy(p, &v, 8); }

/* 48-bit values (MAC addresses as integers, MoldUDP64 sequence parts, ITCH timestamps). */
static inline uint64_t sn_load_be48(const void *p)
{
    const uint8_t *b = (const uint8_t *)p;
    return ((uint64_t)sn_load_be16(b) << 32) | sn_load_be32(b + 2);
}
static inline uint64_t sn_load_le48(const void *p)
{
    const uint8_t *b = (const uint8_t *)p;
    return ((uint64_t)sn_load_le16(b + 4) << 32) | sn_load_le32(b);
}
static inline void sn_store_be48(void *p, uint64_t v)
{
    uint8_t *b = (uint8_t *)p;
    sn_store_be16(b, (uint16_t)(v >> 32));
    sn_store_be32(b + 2, (uint32_t)v);
}
static inline void sn_store_le48(void *p, uint64_t v)
{
    uint8_t *b = (uint8_t *)p;
    sn_store_le32(b, (uint32_t)v);
    sn_store_le16(b + 4, (uint16_t)(v >> 32));
}

/* ---- time -------------------------------------------------------------- */

/* CLOCK_MONOTONIC in nanoseconds: for intervals and deadlines. */
uint64_t sn_now_ns(void);
/* CLOCK_REALTIME in nanoseconds since the epoch: for timestamps in files. */
uint64_t sn_realtime_ns(void);

/* ---- CPUs -------------------------------------------------------------- */

/* Number of CPUs this thread may run on (its affinity mask), >= 1. */
int sn_cpu_count(void);
/* Pin the calling thread to one CPU. -EINVAL for a CPU out of range or not
 * allowed by the cgroup/affinity mask. */
int sn_cpu_pin(int cpu);
/* The CPU the calling thread runs on now (a hint: it may move), or -errno. */
int sn_cpu_current(void);

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_BASE_H */
