/* fuzz/fuzz_http.c — the HTTP request-head parser: any bytes give a length within
 * the input, 0 or a negative errno; every slice it returns lies inside the input;
 * parsing a prefix never claims a longer head than the whole. */
#include <sysnet/http.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void inside(const char *buf, size_t len, struct sn_http_slice s)
{
    if (s.n && (s.p < buf || s.p + s.n > buf + len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1); /* exact size: ASan sees any read past the end */
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    static struct sn_http_req r;
    int n = sn_http_parse_request(buf, size, &r);
    if (n > (int)size)
        abort();
    if (n > 0) {
        inside(buf, size, r.method);
        inside(buf, size, r.target);
        if (r.nheaders > SN_HTTP_MAX_HEADERS)
            abort();
        for (unsigned i = 0; i < r.nheaders; i++) {
            inside(buf, size, r.headers[i].name);
            inside(buf, size, r.headers[i].value);
        }
        /* A complete head stays complete, with the same length, when more follows. */
        int m = sn_http_parse_request(buf, (size_t)n, &r);
        if (m != n)
            abort();
    }
    free(buf);
    return 0;
}
