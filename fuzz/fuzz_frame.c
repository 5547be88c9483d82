/* fuzz_frame.c — libFuzzer target for whole-frame dissection: every parser of
 * the wire module (Ethernet to TCP options), the field formatter and the
 * one-line summary. Byte 0 picks the link type, byte 1 how much the wire
 * length exceeds the capture; the rest is the frame. */
#include <sysnet/wire.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t links[] = {SN_LINKTYPE_ETHERNET, SN_LINKTYPE_RAW, SN_LINKTYPE_LINUX_SLL};
    if (size < 2)
        return 0;
    uint32_t link = links[data[0] % 3];
    uint32_t extra = data[1];
    data += 2;
    size -= 2;
    /* A private copy of exactly `size` bytes, so ASan sees any read past the end. */
    uint8_t *frame = malloc(size ? size : 1);
    if (!frame)
        return 0;
    memcpy(frame, data, size);
    struct sn_dissect d;
    int n = sn_dissect(frame, (uint32_t)size, (uint32_t)size + extra, link, &d);
    if (n < 0 || n > SN_DISSECT_MAX_LAYERS)
        abort();
    for (int i = 0; i < d.n; i++)
        if (d.l[i].off > size || d.l[i].off + d.l[i].avail > size)
            abort();
    char out[4096];
    struct sn_frame_meta m = {1, 1700000000000000000LL};
    for (int id = 0; sn_dissect_field_names()[id]; id++) {
        int k = sn_dissect_field(&d, &m, id, out, sizeof(out));
        if (k < 0 || strlen(out) >= sizeof(out))
            abort();
    }
    char small[8];
    for (int id = 0; sn_dissect_field_names()[id]; id++)
        (void)sn_dissect_field(&d, &m, id, small, sizeof(small)); /* -ENOSPC paths */
    sn_dissect_summary(&d, out, sizeof(out));
    sn_dissect_summary(&d, small, sizeof(small));
    free(frame);
    return 0;
}
