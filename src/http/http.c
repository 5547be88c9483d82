/* src/http/http.c — the HTTP/1.1 request-head parser (include/sysnet/http.h).
 * One pass over the head, line by line; every byte is checked against the RFC 9110
 * grammar (tchar for names and methods, VCHAR/obs-text/blanks for values), so
 * nothing a later stage trusts can carry a control character. */
#include <sysnet/http.h>

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* tchar (RFC 9110 5.6.2): "!#$%&'*+-.^_`|~", digits, letters. */
static int is_tchar(unsigned char c)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c && strchr(extra, c));
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int slice_ieq(struct sn_http_slice s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.n != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s.p[i]) != lower((unsigned char)lit[i]))
            return 0;
    return 1;
}

/* Does the comma-separated list v contain token tok (case-insensitive)? Sets *last
 * to whether tok is the last element. */
static int list_has(struct sn_http_slice v, const char *tok, int *last)
{
    int found = 0;
    size_t i = 0;
    while (i < v.n) {
        while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
            i++;
        size_t b = i;
        while (i < v.n && v.p[i] != ',')
            i++;
        size_t e = i;
        while (e > b && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
            e--;
        if (e == b)
            continue;
        int hit = slice_ieq((struct sn_http_slice){v.p + b, e - b}, tok);
        found |= hit;
        if (last)
            *last = hit;
    }
    return found;
}

static int parse_request_line(const char *p, size_t n, struct sn_http_req *r)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ' ')
        return -EBADMSG;
    r->method = (struct sn_http_slice){p, i};
    size_t t = ++i;
    while (i < n && (unsigned char)p[i] > 0x20 && (unsigned char)p[i] < 0x7f)
        i++;
    if (i == t || i >= n || p[i] != ' ')
        return -EBADMSG;
    r->target = (struct sn_http_slice){p + t, i - t};
    i++;
    if (n - i != 8 || memcmp(p + i, "HTTP/", 5) || p[i + 5] < '0' || p[i + 5] > '9' || p[i + 6] != '.' ||
        p[i + 7] < '0' || p[i + 7] > '9')
        return -EBADMSG;
    if (p[i + 5] != '1' || p[i + 7] > '1')
        return -EPROTONOSUPPORT;
    r->minor = p[i + 7] - '0';
    return 0;
}

static int parse_length(struct sn_http_slice v, int64_t *out)
{
    if (v.n == 0 || v.n > 18)
        return -EBADMSG;
    int64_t x = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return -EBADMSG;
        x = x * 10 + (v.p[i] - '0');
    }
    *out = x;
    return 0;
}

static int parse_header(const char *p, size_t n, struct sn_http_req *r)
{
    if (n && (p[0] == ' ' || p[0] == '\t'))
        return -EBADMSG; /* obs-fold (RFC 9112 5.2): refuse */
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ':')
        return -EBADMSG; /* no name, or blanks between name and colon (RFC 9112 5.1) */
    struct sn_http_slice name = {p, i};
    i++;
    for (size_t k = i; k < n; k++) {
        unsigned char c = (unsigned char)p[k];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return -EBADMSG;
    }
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    size_t e = n;
    while (e > i && (p[e - 1] == ' ' || p[e - 1] == '\t'))
        e--;
    struct sn_http_slice value = {p + i, e - i};
    if (r->nheaders == SN_HTTP_MAX_HEADERS)
        return -E2BIG;
    r->headers[r->nheaders++] = (struct sn_http_header){name, value};

    if (slice_ieq(name, "content-length")) {
        int64_t len;
        if (parse_length(value, &len) < 0 || (r->content_length >= 0 && r->content_length != len))
            return -EBADMSG;
        r->content_length = len;
    } else if (slice_ieq(name, "transfer-encoding")) {
        int last = 0;
        list_has(value, "chunked", &last);
        r->chunked = last;
        if (!last)
            return -EBADMSG; /* a request body must end in chunked (RFC 9112 6.3 item 4) */
    } else if (slice_ieq(name, "connection")) {
        if (list_has(value, "close", NULL))
            r->keep_alive = 0;
        else if (list_has(value, "keep-alive", NULL))
            r->keep_alive = 1;
    }
    return 0;
}

int sn_http_parse_request(const char *buf, size_t len, struct sn_http_req *r)
{
    if (!buf || !r)
        return -EINVAL;
    size_t pos = 0;
    while (pos < len && (buf[pos] == '\r' || buf[pos] == '\n')) /* RFC 9112 2.2: skip leading blank lines */
        pos++;
    if (pos > SN_HTTP_MAX_HEAD)
        return -EMSGSIZE;
    memset(r, 0, offsetof(struct sn_http_req, headers));
    r->content_length = -1;
    int first = 1;
    for (;;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        if (!nl)
            return len - pos > SN_HTTP_MAX_HEAD ? -EMSGSIZE : 0;
        size_t end = (size_t)(nl - buf) + 1;
        if (end > SN_HTTP_MAX_HEAD)
            return -EMSGSIZE;
        size_t n = end - 1 - pos; /* line without LF */
        if (n && buf[pos + n - 1] == '\r')
            n--;
        const char *line = buf + pos;
        pos = end;
        if (first) {
            int rc = parse_request_line(line, n, r);
            if (rc < 0)
                return rc;
            r->keep_alive = r->minor == 1;
            first = 0;
            continue;
        }
        if (n == 0)
            break; /* the blank line: the head is complete */
        int rc = parse_header(line, n, r);
        if (rc < 0)
            return rc;
    }
    if (r->chunked && r->content_length >= 0)
        return -EBADMSG; /* both: the smuggling case (RFC 9112 6.1) */
    return (int)pos;
}

const struct sn_http_slice *sn_http_header(const struct sn_http_req *r, const char *name)
{
    if (!r || !name)
        return NULL;
    for (unsigned i = 0; i < r->nheaders; i++)
        if (slice_ieq(r->headers[i].name, name))
            return &r->headers[i].value;
    return NULL;
}
