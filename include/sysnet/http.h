/* sysnet/http.h — layer 4, protocols: an HTTP/1.1 request-head parser (RFC 9112),
 * the part of a server that finds where a request ends — enough for `sysnet serve`
 * to answer wrk with keep-alive and pipelining. Zero copy: the method, target and
 * header values are slices of the caller's buffer. No allocation, no state between
 * calls: parse the buffer again when more bytes have come (a request head is small,
 * and the scan for the blank line is the cost either way).
 *
 *   struct sn_http_req r;
 *   int n = sn_http_parse_request(buf, len, &r);
 *   // n > 0: a complete head of n bytes (the body, r.content_length bytes, follows)
 *   // 0: incomplete, read more; < 0: malformed — answer 400 and close
 */
#ifndef SYSNET_HTTP_H
#define SYSNET_HTTP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SN_HTTP_MAX_HEAD    16384 /* a longer head is -EMSGSIZE (431 Request Header Fields Too Large) */
#define SN_HTTP_MAX_HEADERS 64    /* more header lines are -E2BIG */

struct sn_http_slice {
    const char *p;
    size_t n;
};

struct sn_http_header {
    struct sn_http_slice name, value; /* value without surrounding blanks */
};

struct sn_http_req {
    struct sn_http_slice method;  /* "GET" */
    struct sn_http_slice target;  /* "/index.html?q=1" */
    int minor;                    /* HTTP/1.<minor>: 0 or 1 */
    int keep_alive;               /* 1.1 unless "Connection: close"; 1.0 only with "Connection: keep-alive" */
    int chunked;                  /* Transfer-Encoding ends in chunked */
    int64_t content_length;       /* -1 when absent */
    unsigned nheaders;
    struct sn_http_header headers[SN_HTTP_MAX_HEADERS];
};

/* Parse the request head at buf[0..len). Returns the head's length in bytes
 * (through the blank line) when it is complete, 0 when more bytes are needed, or:
 * -EBADMSG malformed (bad request line, a control character, a header line without
 * a colon or with blanks before it, obs-fold, a bad or conflicting Content-Length,
 * Content-Length together with Transfer-Encoding — the request-smuggling cases
 * RFC 9112 section 6.3 says to reject), -EPROTONOSUPPORT a version other than
 * HTTP/1.0 or 1.1, -EMSGSIZE the head is longer than SN_HTTP_MAX_HEAD, -E2BIG more
 * than SN_HTTP_MAX_HEADERS header lines. Leading empty lines are skipped (RFC 9112
 * 2.2). Lines end in CRLF; a bare LF is accepted as a line end too. */
int sn_http_parse_request(const char *buf, size_t len, struct sn_http_req *r);

/* The value of the first header with this name (case-insensitive), or NULL. */
const struct sn_http_slice *sn_http_header(const struct sn_http_req *r, const char *name);

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_HTTP_H */
