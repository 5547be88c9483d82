/* echo_uv.c — the bench/loop echo server over libuv (the peer of `sysnet echo`).
 * Idiomatic and quick: one uv_tcp_t per connection with its own 64 KiB read buffer
 * (the alloc callback hands it out, no malloc per read); each chunk read is written
 * back at once with uv_try_write, and only what the socket did not take is copied
 * into a uv_write request — reading stops until that write completes, so a client
 * that does not read cannot make the server buffer without bound.
 * libuv sets SO_REUSEADDR itself in uv_tcp_bind. Usage: echo_uv ADDR:PORT */
#include "echo.h"

#include <uv.h>

struct conn {
    uv_tcp_t tcp;
    char buf[ECHO_BUF];
};

struct wreq {
    uv_write_t req;
    char data[];
};

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)hint;
    struct conn *c = h->data;
    *b = uv_buf_init(c->buf, sizeof(c->buf));
}

static void on_close(uv_handle_t *h)
{
    free(h->data);
}

static void close_conn(uv_stream_t *s)
{
    if (!uv_is_closing((uv_handle_t *)s))
        uv_close((uv_handle_t *)s, on_close);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

static void on_write(uv_write_t *req, int status)
{
    uv_stream_t *s = req->handle;
    free(req);
    if (status < 0) {
        close_conn(s); /* also UV_ECANCELED when the handle is closing: nothing to do */
        return;
    }
    uv_read_start(s, on_alloc, on_read);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    if (n < 0) { /* UV_EOF or an error */
        close_conn(s);
        return;
    }
    if (n == 0) /* EAGAIN */
        return;
    uv_buf_t out = uv_buf_init(b->base, (unsigned)n);
    int w = uv_try_write(s, &out, 1);
    if (w == n)
        return;
    if (w < 0 && w != UV_EAGAIN) {
        close_conn(s);
        return;
    }
    size_t off = w > 0 ? (size_t)w : 0, rest = (size_t)n - off;
    struct wreq *r = malloc(sizeof(*r) + rest);
    if (!r) {
        close_conn(s);
        return;
    }
    memcpy(r->data, b->base + off, rest);
    uv_buf_t rb = uv_buf_init(r->data, (unsigned)rest);
    uv_read_stop(s);
    if (uv_write(&r->req, s, &rb, 1, on_write) < 0) {
        free(r);
        close_conn(s);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    struct conn *c = malloc(sizeof(*c));
    if (!c)
        return;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (argc != 2 || echo_parse_addr(argv[1], &ss, &sl) < 0) {
        echo_usage("echo_uv", "");
        return 2;
    }
    echo_setup();
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    int rc = uv_tcp_bind(&server, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&server, ECHO_BACKLOG, on_connection);
    if (rc != 0) {
        fprintf(stderr, "echo_uv: %s: %s\n", argv[1], uv_strerror(rc));
        return 1;
    }
    uv_os_fd_t fd;
    uv_fileno((uv_handle_t *)&server, &fd);
    char lib[32];
    snprintf(lib, sizeof(lib), "libuv %s", uv_version_string());
    echo_announce("echo_uv", fd, lib);
    return uv_run(loop, UV_RUN_DEFAULT);
}
