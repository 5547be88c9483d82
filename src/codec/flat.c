/* flat.c — the generic checks behind every verifier that `snc --flat` generates:
 * the 16-byte header, one region (offset + count) against the forward-only cursor,
 * bool bytes. The layout is described in <sysnet/codec.h>. */
#include <sysnet/codec.h>

int sn_flat_header_check(const uint8_t *b, size_t len, uint32_t hash, size_t root_size, size_t *total)
{
    if (len < SN_FLAT_HDR_SIZE)
        return -ENODATA;
    if (sn_load_le32(b) != SN_FLAT_MAGIC)
        return -EBADMSG;
    size_t t = sn_load_le32(b + 8);
    if (t > len)
        return -ENODATA;
    if (sn_load_le32(b + 4) != hash || sn_load_le32(b + 12) != 0 || t > SN_FLAT_MAX_SIZE ||
        t < SN_FLAT_HDR_SIZE || t - SN_FLAT_HDR_SIZE < root_size)
        return -EBADMSG;
    *total = t;
    return 0;
}

void sn_flat_header_write(uint8_t *b, uint32_t hash, uint32_t total)
{
    sn_store_le32(b, SN_FLAT_MAGIC);
    sn_store_le32(b + 4, hash);
    sn_store_le32(b + 8, total);
    sn_store_le32(b + 12, 0);
}

int sn_flat_region(size_t t, uint32_t off, uint32_t count, size_t elem_size, size_t total, size_t *cur)
{
    if (off == 0)
        return count == 0 ? 0 : -EBADMSG;
    /* 64-bit arithmetic: t, off and count are each below 2^32, elem_size is small. */
    uint64_t at = (uint64_t)t + off, size = (uint64_t)count * elem_size;
    if (elem_size > UINT32_MAX || at < *cur || at > total || size > total - at)
        return -EBADMSG;
    *cur = (size_t)(at + size);
    return 0;
}

int sn_flat_bools_check(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] > 1)
            return -EBADMSG;
    return 0;
}

const char *sn_flat_strerror(int err)
{
    switch (err < 0 ? -err : err) {
    case 0: return "ok";
    case ENODATA: return "truncated flat buffer (shorter than its header says)";
    case EBADMSG: return "malformed flat buffer (header, offset, length, bool, UTF-8 or depth)";
    case ENOSPC: return "output buffer too small";
    case EMSGSIZE: return "message too large for the flat layout (2 GiB)";
    case ENOMEM: return "arena too small";
    default: return sn_strerror(err);
    }
}
