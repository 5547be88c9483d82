/* tests/unit/test_http.c — the HTTP/1.1 request-head parser: complete heads,
 * pipelined requests, every split point of a head, keep-alive rules, and the
 * malformed and hostile heads RFC 9112 says to refuse. */
#include "../harness.h"

#include <errno.h>
#include <sysnet/base.h>
#include <sysnet/http.h>

static int parse(const char *s, struct sn_http_req *r)
{
    return sn_http_parse_request(s, strlen(s), r);
}

static int slice_is(struct sn_http_slice s, const char *lit)
{
    return s.n == strlen(lit) && !memcmp(s.p, lit, s.n);
}

static struct sn_http_req r;

SN_TEST(http_simple_get)
{
    const char *req = "GET /index.html?q=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\n\r\n";
    CHECK_EQ(parse(req, &r), (int)strlen(req));
    CHECK(slice_is(r.method, "GET"));
    CHECK(slice_is(r.target, "/index.html?q=1"));
    CHECK_EQ(r.minor, 1);
    CHECK_EQ(r.keep_alive, 1);
    CHECK_EQ(r.content_length, -1);
    CHECK_EQ(r.nheaders, 2u);
    const struct sn_http_slice *h = sn_http_header(&r, "HOST");
    CHECK(h && slice_is(*h, "127.0.0.1:8080"));
    CHECK(sn_http_header(&r, "Accept") == NULL);
}

SN_TEST(http_every_split_is_incomplete)
{
    const char *req = "POST /x HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\n";
    size_t n = strlen(req);
    for (size_t k = 0; k < n; k++)
        CHECK_EQ(sn_http_parse_request(req, k, &r), 0);
    CHECK_EQ(sn_http_parse_request(req, n, &r), (int)n);
    CHECK_EQ(r.content_length, 5);
    CHECK_EQ(r.keep_alive, 0);
}

SN_TEST(http_pipelined_requests)
{
    const char *two = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    int n = parse(two, &r);
    CHECK_EQ(n, 19);
    CHECK(slice_is(r.target, "/a"));
    int m = sn_http_parse_request(two + n, strlen(two) - (size_t)n, &r);
    CHECK_EQ(m, (int)strlen(two) - n);
    CHECK(slice_is(r.target, "/b"));
}

SN_TEST(http_keep_alive_rules)
{
    CHECK(parse("GET / HTTP/1.0\r\n\r\n", &r) > 0);
    CHECK_EQ(r.keep_alive, 0);
    CHECK(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r) > 0);
    CHECK_EQ(r.keep_alive, 1);
    CHECK(parse("GET / HTTP/1.1\r\nConnection: upgrade, close\r\n\r\n", &r) > 0);
    CHECK_EQ(r.keep_alive, 0);
}

SN_TEST(http_bare_lf_and_leading_blank_lines)
{
    const char *req = "\r\n\nGET / HTTP/1.1\nHost: x\n\n";
    CHECK_EQ(parse(req, &r), (int)strlen(req));
    CHECK(slice_is(r.method, "GET"));
}

SN_TEST(http_value_blanks_trimmed)
{
    CHECK(parse("GET / HTTP/1.1\r\nX-A: \t spaced out \t\r\nX-B:\r\n\r\n", &r) > 0);
    CHECK(slice_is(r.headers[0].value, "spaced out"));
    CHECK(slice_is(r.headers[1].value, ""));
}

SN_TEST(http_malformed_refused)
{
    static const char *bad[] = {
        "GET\r\n\r\n",                                           /* no target */
        "GET  / HTTP/1.1\r\n\r\n",                               /* two spaces */
        "GET / HTTP/1.1 \r\n\r\n",                               /* trailing blank */
        "G(T / HTTP/1.1\r\n\r\n",                                /* not a token */
        "GET / HTTX/1.1\r\n\r\n",
        "GET /\x01 HTTP/1.1\r\n\r\n",                            /* control in target */
        "GET / HTTP/1.1\r\nHost : x\r\n\r\n",                    /* blank before colon */
        "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",             /* obs-fold */
        "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n",                    /* control in value */
        "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",                     /* bare CR */
        "GET / HTTP/1.1\r\nContent-Length: 5x\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    };
    for (size_t i = 0; i < SN_COUNTOF(bad); i++) {
        int rc = parse(bad[i], &r);
        if (rc != -EBADMSG)
            printf("# case %zu: %d\n", i, rc);
        CHECK_EQ(rc, -EBADMSG);
    }
    CHECK_EQ(parse("GET / HTTP/2.0\r\n\r\n", &r), -EPROTONOSUPPORT);
    CHECK_EQ(parse("GET / HTTP/1.2\r\n\r\n", &r), -EPROTONOSUPPORT);
    CHECK(parse("GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", &r) > 0);
    CHECK(parse("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &r) > 0);
    CHECK_EQ(r.chunked, 1);
}

SN_TEST(http_limits)
{
    static char big[SN_HTTP_MAX_HEAD + 64];
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    memset(big + 19, 'a', sizeof(big) - 19);
    CHECK_EQ(sn_http_parse_request(big, sizeof(big), &r), -EMSGSIZE);
    CHECK_EQ(sn_http_parse_request(big, 100, &r), 0);
    static char many[SN_HTTP_MAX_HEADERS * 8 + 64];
    size_t k = 0;
    k += (size_t)sprintf(many + k, "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= SN_HTTP_MAX_HEADERS; i++)
        k += (size_t)sprintf(many + k, "H%d: v\r\n", i % 10);
    k += (size_t)sprintf(many + k, "\r\n");
    CHECK_EQ(sn_http_parse_request(many, k, &r), -E2BIG);
    CHECK_EQ(sn_http_parse_request(NULL, 0, &r), -EINVAL);
}
