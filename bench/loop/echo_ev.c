/* echo_ev.c — the bench/loop echo server over libev (the peer of `sysnet echo`).
 * libev only watches fds, so the sockets are ours, as in every libev server: a
 * non-blocking listener whose ev_io accepts until EAGAIN, and one ev_io per
 * connection, level-triggered. On readable: one read(2) into the connection's
 * 64 KiB buffer and one send(2) of it back; what the socket did not take is kept
 * and the watcher switches from EV_READ to EV_WRITE until it is gone (no reading
 * meanwhile: a client that does not read costs at most one buffer). The loop is
 * ev_default_loop(0): libev picks epoll on Linux. Usage: echo_ev ADDR:PORT */
#include "echo.h"

#include <ev.h>

struct conn {
    ev_io io;
    size_t off, len; /* unsent bytes: buf[off, off + len) */
    char buf[ECHO_BUF];
};

static void conn_close(struct ev_loop *loop, struct conn *c)
{
    ev_io_stop(loop, &c->io);
    close(c->io.fd);
    free(c);
}

/* Send buf[off, off+len); 0 when all is out, 1 when some remains, -1 on error. */
static int conn_flush(struct conn *c)
{
    while (c->len) {
        ssize_t w = send(c->io.fd, c->buf + c->off, c->len, MSG_NOSIGNAL);
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

static void set_events(struct ev_loop *loop, struct conn *c, int events)
{
    ev_io_stop(loop, &c->io);
    ev_io_set(&c->io, c->io.fd, events);
    ev_io_start(loop, &c->io);
}

static void on_conn(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = (struct conn *)w;
    if (revents & EV_WRITE) {
        int r = conn_flush(c);
        if (r < 0)
            conn_close(loop, c);
        else if (r == 0)
            set_events(loop, c, EV_READ);
        return;
    }
    ssize_t n = read(w->fd, c->buf, sizeof(c->buf));
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        conn_close(loop, c); /* EOF or error */
        return;
    }
    c->off = 0;
    c->len = (size_t)n;
    int r = conn_flush(c);
    if (r < 0)
        conn_close(loop, c);
    else if (r > 0)
        set_events(loop, c, EV_WRITE);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    for (;;) {
        int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or EMFILE & co: try again on the next readiness */
        struct conn *c = malloc(sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        echo_nodelay(fd);
        c->off = c->len = 0;
        ev_io_init(&c->io, on_conn, fd, EV_READ);
        ev_io_start(loop, &c->io);
    }
}

int main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (argc != 2 || echo_parse_addr(argv[1], &ss, &sl) < 0) {
        echo_usage("echo_ev", "");
        return 2;
    }
    echo_setup();
    int one = 1;
    int lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(lfd, (struct sockaddr *)&ss, sl) < 0 || listen(lfd, ECHO_BACKLOG) < 0) {
        fprintf(stderr, "echo_ev: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    struct ev_loop *loop = ev_default_loop(0);
    if (!loop) {
        fprintf(stderr, "echo_ev: ev_default_loop failed\n");
        return 1;
    }
    unsigned be = ev_backend(loop);
    char lib[48];
    snprintf(lib, sizeof(lib), "libev %d.%d, %s", ev_version_major(), ev_version_minor(),
             be == EVBACKEND_EPOLL ? "epoll" : be == EVBACKEND_POLL ? "poll" : be == EVBACKEND_SELECT ? "select" : "other");
    ev_io lw;
    ev_io_init(&lw, on_accept, lfd, EV_READ);
    ev_io_start(loop, &lw);
    echo_announce("echo_ev", lfd, lib);
    ev_run(loop, 0);
    return 0;
}
