/* fuzz_filter.c — libFuzzer target for the filter module. The input up to its
 * first NUL byte (at most 1023 bytes) is an expression, what follows is a packet
 * (the whole input when there is no NUL). The expression is compiled for Ethernet
 * and for raw IP, optimized and not; a success must pass the verifier and run on
 * the packet, on every prefix of it (exact-size heap copies, so ASan sees a read
 * past the end) without fault; a failure must be -EINVAL/-EMSGSIZE with a
 * position inside the expression and a message. The raw bytes are also taken as a
 * cBPF program: verified, printed, and run (verified or not) on the packet.
 */
#include <sysnet/filter.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run_all_prefixes(const struct sock_filter *p, unsigned n, const uint8_t *pkt, size_t len)
{
    if (len > 256)
        len = 256;
    for (size_t cut = 0; cut <= len; cut += (cut < 64 ? 1 : 16)) {
        uint8_t *copy = malloc(cut ? cut : 1);
        if (!copy)
            return;
        memcpy(copy, pkt, cut);
        (void)sn_filter_run(p, n, copy, (uint32_t)len + 4, (uint32_t)cut);
        free(copy);
    }
}

static void as_program(const uint8_t *data, size_t size, const uint8_t *pkt, size_t plen)
{
    struct sock_filter prog[64];
    unsigned n = (unsigned)(size / sizeof(struct sock_filter));
    char line[128];
    if (n > 64)
        n = 64;
    memcpy(prog, data, n * sizeof(struct sock_filter));
    for (unsigned i = 0; i < n; i++)
        if (sn_filter_fmt(&prog[i], i, line, sizeof line) <= 0)
            abort();
    (void)sn_filter_verify(prog, n, NULL);
    run_all_prefixes(prog, n, pkt, plen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sock_filter prog[SN_FILTER_MAXINSNS];
    static const uint32_t lts[2] = {SN_LINKTYPE_ETHERNET, SN_LINKTYPE_RAW};
    char expr[1024];
    size_t n = 0;

    while (n < size && n < sizeof expr - 1 && data[n])
        n++;
    memcpy(expr, data, n);
    expr[n] = 0;
    const uint8_t *pkt = n < size ? data + n + 1 : data;
    size_t plen = n < size ? size - n - 1 : size;

    for (int i = 0; i < 4; i++) {
        struct sn_filter_err e;
        unsigned flags = i >= 2 ? SN_FILTER_NO_OPTIMIZE : 0;
        int r = sn_filter_compile_flags(expr, lts[i & 1], 0, flags, prog, SN_COUNTOF(prog), &e);
        if (r > 0) {
            if (sn_filter_verify(prog, (unsigned)r, NULL) != 0)
                abort();
            run_all_prefixes(prog, (unsigned)r, pkt, plen);
        } else {
            if (r != -EINVAL && r != -EMSGSIZE)
                abort();
            if (e.msg[0] == 0 || e.pos < -1 || e.pos > (int)n)
                abort();
        }
    }
    as_program(data, size, pkt, plen);
    return 0;
}
