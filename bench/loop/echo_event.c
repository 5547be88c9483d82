/* echo_event.c — the bench/loop echo server over libevent 2 (the peer of `sysnet echo`).
 * The listener is libevent's evconnlistener (SO_REUSEADDR via LEV_OPT_REUSEABLE,
 * backlog 4096; it accepts until EAGAIN and makes the sockets non-blocking). Two ways
 * to serve a connection, both idiomatic libevent:
 *
 *   default         raw events: one event_new(fd, EV_READ|EV_PERSIST) per connection;
 *                   on readable one recv(2) into the connection's 64 KiB buffer and one
 *                   send(2) back; what the socket did not take is kept and the event is
 *                   re-assigned to EV_WRITE until it is gone (no reading meanwhile).
 *   --bufferevent   bufferevent_socket_new per connection; the read callback moves the
 *                   input evbuffer to the output one (evbuffer_add_buffer: chains move,
 *                   bytes are not copied); reading pauses while 64 KiB wait to be sent.
 *
 * The raw events are the faster of the two (bench/README.md, bench/loop: measured with
 * `sysnet load`), so bench/loop/run.sh runs the default. Usage: echo_event ADDR:PORT [--bufferevent] */
#include "echo.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

/* ---- raw events ---- */
struct conn {
    struct event *ev;
    struct event_base *base;
    evutil_socket_t fd;
    size_t off, len; /* unsent bytes: buf[off, off + len) */
    char buf[ECHO_BUF];
};

static void conn_close(struct conn *c)
{
    event_free(c->ev);
    evutil_closesocket(c->fd);
    free(c);
}

/* Send buf[off, off+len); 0 when all is out, 1 when some remains, -1 on error. */
static int conn_flush(struct conn *c)
{
    while (c->len) {
        ssize_t w = send(c->fd, c->buf + c->off, c->len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
        }
        c->off += (size_t)w;
        c->len -= (size_t)w;
    }
    return 0;
}

static void on_conn(evutil_socket_t fd, short what, void *arg);

static void set_events(struct conn *c, short what)
{
    event_del(c->ev);
    event_assign(c->ev, c->base, c->fd, what | EV_PERSIST, on_conn, c);
    event_add(c->ev, NULL);
}

static void on_conn(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (what & EV_WRITE) {
        int r = conn_flush(c);
        if (r < 0)
            conn_close(c);
        else if (r == 0)
            set_events(c, EV_READ);
        return;
    }
    ssize_t n = recv(fd, c->buf, sizeof(c->buf), 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        conn_close(c); /* EOF or error */
        return;
    }
    c->off = 0;
    c->len = (size_t)n;
    int r = conn_flush(c);
    if (r < 0)
        conn_close(c);
    else if (r > 0)
        set_events(c, EV_WRITE);
}

static void on_accept_raw(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    (void)sa;
    (void)salen;
    (void)arg;
    struct conn *c = malloc(sizeof(*c));
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    echo_nodelay(fd);
    c->base = evconnlistener_get_base(l);
    c->fd = fd;
    c->off = c->len = 0;
    c->ev = event_new(c->base, fd, EV_READ | EV_PERSIST, on_conn, c);
    if (!c->ev || event_add(c->ev, NULL) < 0) {
        if (c->ev)
            event_free(c->ev);
        evutil_closesocket(fd);
        free(c);
    }
}

/* ---- bufferevents ---- */
static void bev_on_read(struct bufferevent *bev, void *arg);

static void bev_on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        bufferevent_free(bev);
}

static void bev_on_write(struct bufferevent *bev, void *arg)
{
    (void)arg; /* the output fell below the low-water mark: read again */
    bufferevent_setcb(bev, bev_on_read, NULL, bev_on_event, NULL);
    bufferevent_enable(bev, EV_READ);
}

static void bev_on_read(struct bufferevent *bev, void *arg)
{
    (void)arg;
    struct evbuffer *out = bufferevent_get_output(bev);
    evbuffer_add_buffer(out, bufferevent_get_input(bev));
    if (evbuffer_get_length(out) >= ECHO_BUF) {
        bufferevent_disable(bev, EV_READ);
        bufferevent_setcb(bev, bev_on_read, bev_on_write, bev_on_event, NULL);
    }
}

static void on_accept_bev(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    (void)sa;
    (void)salen;
    (void)arg;
    echo_nodelay(fd);
    struct bufferevent *bev = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        evutil_closesocket(fd);
        return;
    }
    bufferevent_setcb(bev, bev_on_read, NULL, bev_on_event, NULL);
    bufferevent_setwatermark(bev, EV_WRITE, ECHO_BUF / 2, 0);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int bev = argc == 3 && strcmp(argv[2], "--bufferevent") == 0;
    if (argc < 2 || argc > 2 + bev || echo_parse_addr(argv[1], &ss, &sl) < 0) {
        echo_usage("echo_event", " [--bufferevent]");
        return 2;
    }
    echo_setup();
    struct event_base *base = event_base_new();
    if (!base) {
        fprintf(stderr, "echo_event: event_base_new failed\n");
        return 1;
    }
    struct evconnlistener *l =
        evconnlistener_new_bind(base, bev ? on_accept_bev : on_accept_raw, NULL,
                                LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, ECHO_BACKLOG,
                                (struct sockaddr *)&ss, (int)sl);
    if (!l) {
        fprintf(stderr, "echo_event: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    char lib[64];
    snprintf(lib, sizeof(lib), "libevent %s, %s, %s", event_get_version(), event_base_get_method(base),
             bev ? "bufferevents" : "raw events");
    echo_announce("echo_event", evconnlistener_get_fd(l), lib);
    event_base_dispatch(base);
    evconnlistener_free(l);
    event_base_free(base);
    return 0;
}
