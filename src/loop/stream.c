/* src/loop/stream.c — TCP streams, listeners, connectors and UDP endpoints on the
 * loop (include/sysnet/stream.h). Two engines behind one API:
 *
 *  readiness (epoll, poll): an sn_io watcher in level-triggered mode whose interest
 *  is exactly what the stream needs now (SN_READ while reading, SN_WRITE while the
 *  write queue holds bytes), so an idle connection costs no wake-ups and no system
 *  calls; reads and writes are recv/sendmsg until EAGAIN.
 *
 *  completion (io_uring): one multishot recv per stream into the loop's shared
 *  buffer group (sn_loop_bufgroup), and writes queued and sent by one send
 *  operation at a time; every stream's operations go to the kernel in the loop's
 *  one io_uring_enter per iteration, so a message costs no system call of its own.
 *  The price is a copy of each write into the queue, and care at close: the
 *  stream lives until its operations have completed (cancelled ones included). */
#include <sysnet/stream.h>

#include "loop_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define DEF_HIGH_WATER (1u << 20)
#define DEF_LOW_WATER (256u << 10)
#define DEF_LINGER_NS (5 * SN_SEC)
#define CHUNK_MIN (16u << 10)
#define READ_BUF (64u << 10)
#define READS_PER_EVENT 16  /* then let other streams run: level triggering brings us back */
#define WRITEV_MAX 64
#define ACCEPTS_PER_EVENT 64
#define EMFILE_RETRY_NS (100 * SN_MS)

struct sn_stream_chunk {
    struct sn_stream_chunk *next;
    size_t len, cap;
    uint8_t data[];
};

enum {
    ST_READING = 0x01,   /* the caller wants on_read */
    ST_EOF = 0x02,       /* read() returned 0 or an error: nothing more to read */
    ST_SHUT = 0x04,      /* shutdown asked: FIN once the queue is empty */
    ST_SHUT_DONE = 0x08, /* FIN sent */
    ST_CLOSING = 0x10,   /* sn_stream_close: flushing, then close */
    ST_HIGH = 0x20,      /* a write returned 1: on_drain owed at low water */
    ST_CLOSED = 0x40,    /* fd closed, on_closed queued */
    ST_URING = 0x80,     /* the completion engine */
    ST_RECV_ON = 0x100,  /* uring: the multishot recv is in flight */
    ST_SEND_ON = 0x200,  /* uring: a send is in flight */
    ST_CANCEL = 0x400,   /* uring: the recv's cancel was asked */
    ST_DONE = 0x800,     /* on_closed queued (after the last operation completed) */
};

/* One read buffer per thread: a loop runs on one thread and on_read's data lives
 * only during the call, so every stream of the thread can share it. */
static _Thread_local uint8_t rbuf[READ_BUF];

/* Write-queue chunks of the minimum size are recycled through a small cache in
 * the loop: an echo-like stream queues and frees one per message, and malloc/free
 * of 16 KiB is most of that cost. Idle streams hold none. (Per loop, not per
 * thread: a loop may be closed by another thread than the one that ran it.) */
#define CHUNK_CACHE 64

static struct sn_stream_chunk *chunk_new(struct sn_loop *l, size_t cap)
{
    struct sn_stream_chunk *c = l->chunk_cache;
    if (cap == CHUNK_MIN && c) {
        l->chunk_cache = c->next;
        l->chunk_cached--;
    } else if (!(c = malloc(sizeof(*c) + cap))) {
        return NULL;
    }
    c->next = NULL;
    c->len = 0;
    c->cap = cap;
    return c;
}

/* Called by sn_loop_close: the cache goes back to malloc. */
void snl_stream_cache_flush(struct sn_loop *l)
{
    while (l->chunk_cache) {
        struct sn_stream_chunk *c = l->chunk_cache;
        l->chunk_cache = c->next;
        free(c);
    }
    l->chunk_cached = 0;
}

static void chunk_free(struct sn_loop *l, struct sn_stream_chunk *c)
{
    if (c->cap == CHUNK_MIN && l->chunk_cached < CHUNK_CACHE) {
        c->next = l->chunk_cache;
        l->chunk_cache = c;
        l->chunk_cached++;
        return;
    }
    free(c);
}

static void stream_on_io(struct sn_io *io, unsigned events);

static unsigned stream_interest(const struct sn_stream *s)
{
    unsigned want = 0;
    if ((s->state & (ST_READING | ST_EOF | ST_CLOSING)) == ST_READING)
        want |= SN_READ;
    if (s->queued)
        want |= SN_WRITE;
    return want;
}

static void stream_update(struct sn_stream *s)
{
    if (s->fd < 0 || (s->state & ST_URING))
        return;
    unsigned want = stream_interest(s);
    if (want != s->io.interest)
        sn_io_set(&s->io, want);
}

int sn_stream_open(struct sn_loop *l, struct sn_stream *s, int fd, const struct sn_stream_opts *opts)
{
    if (!l || !s || fd < 0)
        return -EINVAL;
    void *data = s->data;
    memset(s, 0, sizeof(*s));
    s->data = data;
    if (opts)
        s->o = *opts;
    if (!s->o.high_water)
        s->o.high_water = DEF_HIGH_WATER;
    if (!s->o.low_water)
        s->o.low_water = s->o.high_water > DEF_LOW_WATER ? DEF_LOW_WATER : s->o.high_water / 4;
    if (s->o.low_water >= s->o.high_water)
        return -EINVAL;
    if (!s->o.hard_limit)
        s->o.hard_limit = 16 * s->o.high_water;
    if (s->o.hard_limit < s->o.high_water)
        return -EINVAL;
    if (!s->o.linger_ns)
        s->o.linger_ns = DEF_LINGER_NS;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
        return -errno;
    if (!opts || opts->nodelay >= 0) {
        int one = !opts || opts->nodelay != 0 ? 1 : 0;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* not TCP: ignore */
    }
    s->loop = l;
    s->fd = fd;
    s->stash_end = 1;
    if (sn_poller_backend(sn_loop_poller(l)) == SN_BACKEND_URING && (s->group = sn_loop_bufgroup(l)) != NULL) {
        s->state |= ST_URING;
        return 0;
    }
    s->io.data = s;
    int rc = sn_io_start(l, &s->io, fd, 0, stream_on_io);
    if (rc < 0) {
        s->fd = -1;
        return rc;
    }
    return 0;
}

static void uring_arm_recv(struct sn_stream *s);
static void uring_kick(struct sn_defer *d);

int sn_stream_read_start(struct sn_stream *s, sn_stream_read_cb cb)
{
    if (!s || !cb)
        return -EINVAL;
    if (s->state & (ST_CLOSING | ST_CLOSED))
        return -EPIPE;
    s->on_read = cb;
    s->state |= ST_READING;
    if (s->state & ST_URING) {
        if (s->stash_len || s->stash_end <= 0) { /* what came while stopped: from the loop */
            if (!s->kick.active) {
                s->kick.data = s;
                sn_defer(s->loop, &s->kick, uring_kick);
            }
        } else {
            uring_arm_recv(s);
        }
        return 0;
    }
    stream_update(s);
    return 0;
}

void sn_stream_read_stop(struct sn_stream *s)
{
    if (!s)
        return;
    s->state &= ~(unsigned)ST_READING;
    if ((s->state & (ST_URING | ST_RECV_ON | ST_CANCEL)) == (ST_URING | ST_RECV_ON)) {
        s->state |= ST_CANCEL; /* what arrives before the cancel lands goes to the stash */
        sn_op_cancel(&s->rop);
    }
    stream_update(s);
}

size_t sn_stream_queued(const struct sn_stream *s)
{
    return s ? s->queued : 0;
}

/* ---- closing ---- */

static void free_queue(struct sn_stream *s)
{
    for (struct sn_stream_chunk *c = s->head, *n; c; c = n) {
        n = c->next;
        chunk_free(s->loop, c);
    }
    s->head = s->tail = NULL;
    s->queued = s->head_off = 0;
}

static void closed_cb(struct sn_defer *d)
{
    struct sn_stream *s = d->data;
    if (s->on_closed)
        s->on_closed(s); /* last: the caller may free s */
}

/* on_closed once nothing of the stream is in flight any more. */
static void maybe_done(struct sn_stream *s)
{
    if ((s->state & (ST_CLOSED | ST_RECV_ON | ST_SEND_ON | ST_DONE)) != ST_CLOSED)
        return;
    s->state |= ST_DONE;
    free_queue(s); /* the send that used it has completed */
    free(s->stash);
    s->stash = NULL;
    s->stash_len = s->stash_cap = 0;
    sn_defer_cancel(&s->kick);
    s->closing.data = s;
    sn_defer(s->loop, &s->closing, closed_cb);
}

/* Close the fd now and call on_closed from the loop (io_uring: once the
 * operations in flight have completed; they hold the file, not the fd number). */
static void finish_close(struct sn_stream *s)
{
    if (s->state & ST_CLOSED)
        return;
    s->state |= ST_CLOSED;
    s->state &= ~(unsigned)ST_READING;
    sn_io_stop(&s->io);
    sn_timer_stop(&s->linger);
    if (s->state & ST_RECV_ON)
        sn_op_cancel(&s->rop);
    if (s->state & ST_SEND_ON)
        sn_op_cancel(&s->wop);
    close(s->fd);
    s->fd = -1;
    if (!(s->state & ST_SEND_ON))
        free_queue(s);
    maybe_done(s);
}

static void linger_expired(struct sn_timer *t)
{
    finish_close(t->data);
}

void sn_stream_close(struct sn_stream *s, sn_stream_cb on_closed)
{
    if (!s || (s->state & (ST_CLOSING | ST_CLOSED)))
        return;
    s->on_closed = on_closed;
    s->state |= ST_CLOSING;
    s->state &= ~(unsigned)ST_READING;
    if (!s->queued || s->err) {
        finish_close(s);
        return;
    }
    s->linger.data = s;
    sn_timer_start(s->loop, &s->linger, linger_expired, s->o.linger_ns, 0);
    stream_update(s);
}

void sn_stream_abort(struct sn_stream *s, sn_stream_cb on_closed)
{
    if (!s || (s->state & ST_CLOSED))
        return;
    s->on_closed = on_closed;
    struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* close() sends RST, drops unsent data */
    (void)setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    finish_close(s);
}

int sn_stream_shutdown(struct sn_stream *s)
{
    if (!s || s->fd < 0)
        return -EINVAL;
    if (s->state & (ST_SHUT | ST_CLOSING))
        return -EPIPE;
    s->state |= ST_SHUT;
    if (!s->queued) {
        s->state |= ST_SHUT_DONE;
        if (shutdown(s->fd, SHUT_WR) < 0)
            return -errno;
    }
    return 0;
}

/* ---- writing ---- */

/* Send from the queue until it is empty or the socket is full. 0, or -errno (the
 * stream's error, recorded). */
static int flush_queue(struct sn_stream *s)
{
    while (s->head) {
        struct iovec iov[WRITEV_MAX];
        int n = 0;
        size_t off = s->head_off;
        for (struct sn_stream_chunk *c = s->head; c && n < WRITEV_MAX; c = c->next, off = 0)
            iov[n++] = (struct iovec){c->data + off, c->len - off};
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t k = sendmsg(s->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return 0;
            return s->err = -errno;
        }
        s->queued -= (size_t)k;
        while (k > 0) {
            struct sn_stream_chunk *c = s->head;
            size_t left = c->len - s->head_off;
            if ((size_t)k < left) {
                s->head_off += (size_t)k;
                break;
            }
            k -= (ssize_t)left;
            s->head = c->next;
            s->head_off = 0;
            chunk_free(s->loop, c);
        }
        if (!s->head)
            s->tail = NULL;
    }
    return 0;
}

/* The queue has become empty, or fell to low water: FIN, close, on_drain. */
static void after_flush(struct sn_stream *s)
{
    if (!s->queued) {
        if ((s->state & (ST_SHUT | ST_SHUT_DONE)) == ST_SHUT) {
            s->state |= ST_SHUT_DONE;
            (void)shutdown(s->fd, SHUT_WR);
        }
        if (s->state & ST_CLOSING) {
            finish_close(s);
            return;
        }
    }
    if ((s->state & ST_HIGH) && s->queued <= s->o.low_water) {
        s->state &= ~(unsigned)ST_HIGH;
        stream_update(s);
        if (s->on_drain)
            s->on_drain(s);
        return;
    }
    stream_update(s);
}

static int enqueue(struct sn_stream *s, const uint8_t *p, size_t n)
{
    struct sn_stream_chunk *t = s->tail;
    if (t && t->cap - t->len >= n) {
        memcpy(t->data + t->len, p, n);
        t->len += n;
    } else {
        if (t && t->cap > t->len) { /* fill the tail's room first */
            size_t k = t->cap - t->len;
            memcpy(t->data + t->len, p, k);
            t->len += k;
            p += k;
            n -= k;
            s->queued += k;
        }
        size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
        struct sn_stream_chunk *c = chunk_new(s->loop, cap);
        if (!c)
            return -ENOMEM;
        c->len = n;
        memcpy(c->data, p, n);
        if (s->tail)
            s->tail->next = c;
        else
            s->head = c;
        s->tail = c;
    }
    s->queued += n;
    return 0;
}

/* ---- the io_uring engine ---- */

static void uring_on_send(struct sn_op *op, int res, unsigned flags, uint16_t buf);

static void uring_arm_send(struct sn_stream *s)
{
    if ((s->state & (ST_SEND_ON | ST_CLOSED)) || !s->head || s->err)
        return;
    struct sn_stream_chunk *c = s->head;
    s->inflight = c->len - s->head_off;
    s->wop.data = s;
    if (sn_op_send(s->loop, &s->wop, s->fd, c->data + s->head_off, s->inflight, uring_on_send) == 0)
        s->state |= ST_SEND_ON;
    else
        s->err = -EIO;
}

static void uring_on_send(struct sn_op *op, int res, unsigned flags, uint16_t buf)
{
    (void)flags;
    (void)buf;
    struct sn_stream *s = op->data;
    s->state &= ~(unsigned)ST_SEND_ON;
    if (s->state & ST_CLOSED) {
        maybe_done(s);
        return;
    }
    if (res < 0) {
        if (res == -ECANCELED || res == -EINTR || res == -EAGAIN) {
            uring_arm_send(s);
            return;
        }
        s->err = res; /* the peer is gone: nothing queued can be delivered any more */
        free_queue(s);
        if (s->state & ST_CLOSING) {
            finish_close(s);
            return;
        }
        if ((s->state & (ST_READING | ST_EOF)) == ST_READING) {
            s->state |= ST_EOF;
            sn_stream_read_stop(s);
            s->on_read(s, NULL, res);
        }
        return;
    }
    size_t k = (size_t)res; /* at most inflight: the head chunk's bytes at submit */
    s->queued -= k;
    s->head_off += k;
    if (s->head_off == s->head->len && s->head != s->tail) {
        struct sn_stream_chunk *c = s->head;
        s->head = c->next;
        s->head_off = 0;
        chunk_free(s->loop, c);
    } else if (s->head_off == s->head->len && s->head == s->tail) {
        chunk_free(s->loop, s->head); /* the last chunk, all sent */
        s->head = s->tail = NULL;
        s->head_off = 0;
    }
    uring_arm_send(s);
    after_flush(s);
}

/* Append to the stash: bytes that arrived while reading was stopped. */
static int stash_add(struct sn_stream *s, const uint8_t *p, size_t n)
{
    if (s->stash_len + n > s->stash_cap) {
        size_t cap = s->stash_cap ? s->stash_cap : 16384;
        while (cap < s->stash_len + n)
            cap *= 2;
        uint8_t *q = realloc(s->stash, cap);
        if (!q)
            return -ENOMEM;
        s->stash = q;
        s->stash_cap = cap;
    }
    memcpy(s->stash + s->stash_len, p, n);
    s->stash_len += n;
    return 0;
}

static void uring_on_recv(struct sn_op *op, int res, unsigned flags, uint16_t buf)
{
    struct sn_stream *s = op->data;
    const uint8_t *data = (flags & SN_EV_BUF) ? sn_bufgroup_buf(s->group, buf) : NULL;
    if (!(flags & SN_EV_MORE))
        s->state &= ~(unsigned)(ST_RECV_ON | ST_CANCEL);
    if (s->state & ST_CLOSED) {
        if (data)
            sn_bufgroup_put(s->group, buf);
        maybe_done(s);
        return;
    }
    int reading = (s->state & (ST_READING | ST_EOF | ST_CLOSING)) == ST_READING && !s->stash_len;
    if (res > 0) {
        if (reading)
            s->on_read(s, data, res);
        else if (stash_add(s, data, (size_t)res) < 0)
            s->err = -ENOMEM;
    } else if (res == 0 || (res != -ENOBUFS && res != -ECANCELED && res != -EINTR)) {
        if (reading) {
            s->state |= ST_EOF;
            if (res < 0)
                s->err = res;
            s->on_read(s, NULL, res);
        } else {
            s->stash_end = res;
        }
    }
    if (data)
        sn_bufgroup_put(s->group, buf);
    /* The recv ended (EOF, error, -ENOBUFS, a cancel, or the kernel stopped the
     * multishot): go on if the caller still reads. */
    if (!(s->state & (ST_RECV_ON | ST_CLOSED | ST_EOF)) && s->stash_end > 0 &&
        (s->state & (ST_READING | ST_CLOSING)) == ST_READING && !s->stash_len)
        uring_arm_recv(s);
}

static void uring_arm_recv(struct sn_stream *s)
{
    if (s->state & (ST_RECV_ON | ST_CLOSED | ST_EOF))
        return;
    s->rop.data = s;
    if (sn_op_recv_group(s->loop, &s->rop, s->fd, s->group, SN_MULTISHOT, uring_on_recv) == 0)
        s->state |= ST_RECV_ON;
}

/* After read_start: hand over the stash (and a stashed EOF or error), then receive. */
static void uring_kick(struct sn_defer *d)
{
    struct sn_stream *s = d->data;
    if ((s->state & (ST_READING | ST_CLOSING | ST_CLOSED)) != ST_READING)
        return;
    /* In pieces no larger than a read would be, so backpressure still bites: a
     * caller that stops reading again keeps the rest stashed. */
    size_t off = 0;
    while (off < s->stash_len && (s->state & (ST_READING | ST_CLOSING | ST_CLOSED)) == ST_READING) {
        size_t n = s->stash_len - off < READ_BUF ? s->stash_len - off : READ_BUF;
        s->on_read(s, s->stash + off, (ssize_t)n);
        off += n;
        if (s->state & ST_DONE)
            return;
    }
    if (s->stash) {
        memmove(s->stash, s->stash + off, s->stash_len - off);
        s->stash_len -= off;
    }
    if (s->stash_len)
        return; /* reading stopped again: read_start kicks again */
    if ((s->state & (ST_READING | ST_CLOSING | ST_CLOSED)) != ST_READING)
        return;
    if (s->stash_end <= 0) {
        int end = s->stash_end;
        s->stash_end = 1;
        s->state |= ST_EOF;
        if (end < 0)
            s->err = end;
        s->on_read(s, NULL, end);
        return;
    }
    uring_arm_recv(s);
}

int sn_stream_writev(struct sn_stream *s, const struct iovec *iov, int iovcnt)
{
    if (!s || (!iov && iovcnt) || iovcnt < 0 || iovcnt > WRITEV_MAX)
        return -EINVAL;
    if (s->state & (ST_SHUT | ST_CLOSING | ST_CLOSED))
        return -EPIPE;
    if (s->err)
        return s->err;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (!total)
        return s->queued >= s->o.high_water;
    if (s->queued && s->queued + total > s->o.hard_limit)
        return -ENOBUFS; /* a write into an empty queue is always taken */
    if (s->state & ST_URING) {
        for (int i = 0; i < iovcnt; i++) {
            int rc = enqueue(s, iov[i].iov_base, iov[i].iov_len);
            if (rc < 0)
                return rc;
        }
        uring_arm_send(s);
        if (s->queued >= s->o.high_water) {
            s->state |= ST_HIGH;
            return 1;
        }
        return 0;
    }
    size_t sent = 0;
    if (!s->queued) { /* nothing ahead of us: try the socket first, most writes end here */
        struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
        ssize_t k = sendmsg(s->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0 && errno != EAGAIN && errno != EINTR)
            return s->err = -errno;
        if (k > 0)
            sent = (size_t)k;
    }
    if (sent < total) {
        size_t skip = sent;
        for (int i = 0; i < iovcnt; i++) {
            size_t len = iov[i].iov_len;
            if (skip >= len) {
                skip -= len;
                continue;
            }
            int rc = enqueue(s, (const uint8_t *)iov[i].iov_base + skip, len - skip);
            if (rc < 0)
                return rc; /* the bytes before are queued: the stream stays coherent */
            skip = 0;
        }
        stream_update(s);
    }
    if (s->queued >= s->o.high_water) {
        s->state |= ST_HIGH;
        return 1;
    }
    return 0;
}

int sn_stream_write(struct sn_stream *s, const void *buf, size_t len)
{
    struct iovec iov = {(void *)buf, len};
    return sn_stream_writev(s, &iov, 1);
}

/* ---- reading ---- */

static void do_reads(struct sn_stream *s)
{
    for (int i = 0; i < READS_PER_EVENT && (s->state & (ST_READING | ST_EOF | ST_CLOSING | ST_CLOSED)) == ST_READING;
         i++) {
        ssize_t n = recv(s->fd, rbuf, sizeof(rbuf), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            n = -errno;
            s->err = (int)n;
        }
        if (n <= 0) {
            s->state |= ST_EOF;
            stream_update(s);
        }
        s->on_read(s, rbuf, n);
        if (n < (ssize_t)sizeof(rbuf))
            return; /* short read: the socket is empty now */
    }
}

static void stream_on_io(struct sn_io *io, unsigned events)
{
    struct sn_stream *s = io->data;
    if (s->state & ST_CLOSED)
        return;
    if (events & (SN_WRITE | SN_ERR | SN_HUP)) {
        if (s->queued) {
            if (flush_queue(s) < 0) {
                /* The peer is gone: nothing queued can be delivered any more. */
                free_queue(s);
                if (s->state & ST_CLOSING) {
                    finish_close(s);
                    return;
                }
                if ((s->state & (ST_READING | ST_EOF)) == ST_READING) {
                    s->state |= ST_EOF;
                    stream_update(s);
                    s->on_read(s, NULL, s->err);
                    return;
                }
            }
            after_flush(s);
            if (s->state & ST_CLOSED)
                return;
        }
    }
    if (events & (SN_READ | SN_ERR | SN_HUP | SN_RDHUP))
        do_reads(s);
}

/* ---- listening ---- */

static int open_spare(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void listener_on_io(struct sn_io *io, unsigned events);

static void listener_retry(struct sn_timer *t)
{
    struct sn_listener *ls = t->data;
    sn_io_set(&ls->io, SN_READ);
}

/* Out of fds: free the spare, take the oldest connection off the backlog and close
 * it (the client sees a clean close rather than a connection that hangs), take the
 * spare back, and pause accepting for a moment so a busy backlog does not spin. */
static void emfile_trick(struct sn_listener *ls)
{
    if (ls->spare >= 0) {
        close(ls->spare);
        ls->spare = -1;
        int fd;
        while ((fd = accept4(ls->fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
            close(fd);
            ls->rejected++;
            break; /* one per round: the next fd may be free again by then */
        }
        ls->spare = open_spare();
    }
    sn_io_set(&ls->io, 0);
    sn_timer_start(ls->loop, &ls->retry, listener_retry, EMFILE_RETRY_NS, 0);
}

static void listener_on_io(struct sn_io *io, unsigned events)
{
    (void)events;
    struct sn_listener *ls = io->data;
    for (int i = 0; i < ACCEPTS_PER_EVENT && ls->fd >= 0; i++) {
        int fd = accept4(ls->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                emfile_trick(ls);
                return;
            }
            /* EAGAIN: drained. ECONNABORTED, EPERM (firewall), EPROTO...: that
             * connection is gone, the next one may be fine. */
            if (errno == EAGAIN || errno == EINTR)
                return;
            continue;
        }
        ls->accepted++;
        ls->cb(ls, fd); /* may close the listener */
    }
}

int sn_tcp_listen(struct sn_loop *l, struct sn_listener *ls, const struct sn_addr *addr, unsigned flags,
                  int backlog, sn_accept_cb cb)
{
    if (!l || !ls || !addr || !cb || (flags & ~SN_LISTEN_REUSEPORT))
        return -EINVAL;
    void *data = ls->data;
    memset(ls, 0, sizeof(*ls));
    ls->data = data;
    ls->fd = ls->spare = -1;
    struct sn_sock_opts so = {
        .type = SOCK_STREAM,
        .flags = SN_SOCK_NONBLOCK | SN_SOCK_REUSEADDR | ((flags & SN_LISTEN_REUSEPORT) ? SN_SOCK_REUSEPORT : 0),
        .bind = addr,
        .backlog = backlog > 0 ? backlog : SOMAXCONN,
    };
    int fd = sn_sock_open(&so);
    if (fd < 0)
        return fd;
    ls->spare = open_spare();
    if (ls->spare < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    ls->loop = l;
    ls->fd = fd;
    ls->cb = cb;
    ls->flags = flags;
    ls->io.data = ls;
    ls->retry.data = ls;
    int rc = sn_io_start(l, &ls->io, fd, SN_READ, listener_on_io);
    if (rc < 0) {
        close(fd);
        close(ls->spare);
        ls->fd = ls->spare = -1;
        return rc;
    }
    return 0;
}

void sn_listener_close(struct sn_listener *ls)
{
    if (!ls || ls->fd < 0)
        return;
    sn_io_stop(&ls->io);
    sn_timer_stop(&ls->retry);
    close(ls->fd);
    ls->fd = -1;
    if (ls->spare >= 0)
        close(ls->spare);
    ls->spare = -1;
}

/* ---- connecting ---- */

static void connect_done(struct sn_connector *c, int res)
{
    sn_io_stop(&c->io);
    sn_timer_stop(&c->timer);
    int fd = c->fd;
    c->fd = -1;
    if (res < 0 && fd >= 0)
        close(fd);
    c->cb(c, res < 0 ? res : fd);
}

static void connector_on_io(struct sn_io *io, unsigned events)
{
    (void)events;
    struct sn_connector *c = io->data;
    int err = sn_sock_error(c->fd);
    connect_done(c, err);
}

static void connector_timeout(struct sn_timer *t)
{
    connect_done(t->data, -ETIMEDOUT);
}

static void connector_now(struct sn_timer *t)
{
    connect_done(t->data, 0); /* connected inside sn_tcp_connect: reported from the loop */
}

int sn_tcp_connect(struct sn_loop *l, struct sn_connector *c, const struct sn_addr *to, const struct sn_addr *from,
                   uint64_t timeout_ns, sn_connect_cb cb)
{
    if (!l || !c || !to || !cb)
        return -EINVAL;
    void *data = c->data;
    memset(c, 0, sizeof(*c));
    c->data = data;
    c->loop = l;
    c->cb = cb;
    c->io.data = c->timer.data = c;
    struct sn_sock_opts so = {.family = to->family, .type = SOCK_STREAM, .flags = SN_SOCK_NONBLOCK | SN_SOCK_NODELAY};
    int fd = sn_sock_open(&so);
    if (fd < 0)
        return fd;
    c->fd = fd;
    int rc = 0;
    if (from) {
        /* IP_BIND_ADDRESS_NO_PORT: bind only the address; the port is picked at
         * connect time, unique per 4-tuple rather than per source address, so one
         * source address serves ~28k connections to each destination port. */
        int one = 1;
        (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        rc = sn_sock_bind(fd, from);
    }
    if (rc == 0)
        rc = sn_sock_connect(fd, to);
    if (rc < 0 && rc != -EINPROGRESS) {
        close(fd);
        c->fd = -1;
        return rc;
    }
    if (rc == 0) {
        sn_timer_start(l, &c->timer, connector_now, 0, 0);
        return 0;
    }
    if ((rc = sn_io_start(l, &c->io, fd, SN_WRITE, connector_on_io)) < 0) {
        close(fd);
        c->fd = -1;
        return rc;
    }
    sn_loop_update_time(l); /* the timeout counts from now, not from the iteration's start */
    if (timeout_ns)
        sn_timer_start(l, &c->timer, connector_timeout, timeout_ns, 0);
    return 0;
}

void sn_connect_cancel(struct sn_connector *c)
{
    if (c && c->fd >= 0)
        connect_done(c, -ECANCELED);
}

/* ---- UDP ---- */

static void udp_on_io(struct sn_io *io, unsigned events)
{
    (void)events;
    struct sn_udp *u = io->data;
    for (int i = 0; i < 8 && u->cb; i++) {
        sn_batch_init(u->batch);
        sn_batch_recv_bufs(u->batch, u->mem, u->bufsize, SN_BATCH_MAX);
        int n = sn_batch_recv(u->fd, u->batch, MSG_DONTWAIT);
        if (n <= 0)
            return; /* -EAGAIN: empty; other errors (ICMP errors on a connected socket) are per datagram */
        u->cb(u, u->batch, n);
        if (n < SN_BATCH_MAX)
            return;
    }
}

int sn_udp_open(struct sn_loop *l, struct sn_udp *u, const struct sn_addr *addr, unsigned bufsize)
{
    if (!l || !u || !addr || bufsize > 65536)
        return -EINVAL;
    void *data = u->data;
    memset(u, 0, sizeof(*u));
    u->data = data;
    u->fd = -1;
    u->bufsize = bufsize ? bufsize : 2048;
    struct sn_sock_opts so = {.type = SOCK_DGRAM, .flags = SN_SOCK_NONBLOCK, .bind = addr};
    int fd = sn_sock_open(&so);
    if (fd < 0)
        return fd;
    u->batch = malloc(sizeof(*u->batch));
    u->mem = malloc((size_t)u->bufsize * SN_BATCH_MAX);
    if (!u->batch || !u->mem) {
        free(u->batch);
        free(u->mem);
        close(fd);
        return -ENOMEM;
    }
    u->loop = l;
    u->fd = fd;
    u->io.data = u;
    int rc = sn_io_start(l, &u->io, fd, 0, udp_on_io);
    if (rc < 0) {
        sn_udp_close(u);
        return rc;
    }
    return 0;
}

int sn_udp_recv_start(struct sn_udp *u, sn_udp_recv_cb cb)
{
    if (!u || !cb || u->fd < 0)
        return -EINVAL;
    u->cb = cb;
    return sn_io_set(&u->io, SN_READ);
}

void sn_udp_recv_stop(struct sn_udp *u)
{
    if (!u || u->fd < 0)
        return;
    u->cb = NULL;
    sn_io_set(&u->io, 0);
}

int sn_udp_send(struct sn_udp *u, struct sn_batch *b)
{
    if (!u || !b || u->fd < 0)
        return -EINVAL;
    return sn_batch_send(u->fd, b, 0, MSG_DONTWAIT);
}

void sn_udp_close(struct sn_udp *u)
{
    if (!u)
        return;
    if (u->fd >= 0) {
        sn_io_stop(&u->io);
        close(u->fd);
    }
    u->fd = -1;
    free(u->batch);
    free(u->mem);
    u->batch = NULL;
    u->mem = NULL;
    u->cb = NULL;
}
