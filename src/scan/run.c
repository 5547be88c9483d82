/* run.c — the scan engine: one loop that sends SYN batches as the token bucket
 * allows and drains answers between them, rounds of retries over a 2-bit state
 * table, the RST that answers each open port, and the final wait. The design
 * and its reasons are in scan.h ("The engine"). */
#include <sysnet/raw.h>
#include <sysnet/scan.h>
#include <sysnet/sock.h>

#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

/* ---- sockets ------------------------------------------------------------
 * Both come from raw.h. Send: AF_INET/IPPROTO_RAW with SN_RAW_HDRINCL: we write
 * the whole IPv4 header. Receive: AF_INET/IPPROTO_TCP, a copy of every TCP
 * segment delivered to this host, from its IP header on, with a classic BPF
 * filter so the kernel drops everything not addressed to our source port with
 * SYN or RST set, read in recvmmsg batches (sn_batch, sock.h). Two private
 * helpers here, for what raw.h does not offer: the filter, and a wait with a
 * nanosecond timeout (ppoll; sn_raw_wait counts in milliseconds, too coarse
 * to pace 5000 probes a second). */
struct scan_io {
    int tx, rx;
};

/* ldxb 4*([0]&0xf); ldh [x+2]; jeq #sport; ldb [x+13]; jset #(SYN|RST); ret. The
 * IP header is at offset 0 on a raw IP socket (no link header). A load past the
 * end of the packet ends the program with 0: dropped. */
static int attach_filter(int fd, uint16_t sport)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),                 /* X = IP header length */
        BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),                  /* TCP destination port */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, sport, 0, 3),
        BPF_STMT(BPF_LD | BPF_B | BPF_IND, 13),                 /* TCP flags (low byte) */
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, SN_TCP_SYN | SN_TCP_RST, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0x40000),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_fprog prog = {.len = SN_COUNTOF(f), .filter = f};
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ? -errno : 0;
}

static int scan_io_open(struct scan_io *io, const char *ifname, uint16_t sport)
{
    io->tx = io->rx = -1;
    /* Answers arrive at the probe rate: 4 MiB (best effort, the kernel clamps
     * to net.core.rmem_max) rides out a slow consumer. */
    struct sn_raw_opts ro = {
        .family = AF_INET, .proto = IPPROTO_TCP, .flags = SN_RAW_NONBLOCK | SN_RAW_TIMESTAMPNS,
        .rcvbuf = 4 << 20, .device = ifname,
    };
    int rc = sn_raw_open(&ro);
    if (rc < 0)
        return rc;
    io->rx = rc;
    if ((rc = attach_filter(io->rx, sport)) < 0)
        goto fail;
    struct sn_raw_opts to = {
        .family = AF_INET, .proto = IPPROTO_RAW, .flags = SN_RAW_HDRINCL | SN_RAW_NONBLOCK,
        .sndbuf = 1 << 20, .device = ifname,
    };
    if ((rc = sn_raw_open(&to)) < 0)
        goto fail;
    io->tx = rc;
    return 0;
fail:
    sn_raw_close(io->rx);
    io->rx = -1;
    return rc;
}

static void scan_io_close(struct scan_io *io)
{
    if (io->tx >= 0)
        sn_raw_close(io->tx);
    if (io->rx >= 0)
        sn_raw_close(io->rx);
    io->tx = io->rx = -1;
}

static void poll_ns(int fd, short events, uint64_t ns)
{
    struct pollfd p = {.fd = fd, .events = events};
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ULL), .tv_nsec = (long)(ns % 1000000000ULL)};
    ppoll(&p, 1, &ts, NULL);
}

static void scan_io_wait(struct scan_io *io, uint64_t ns)
{
    poll_ns(io->rx, POLLIN, ns);
}

static void scan_io_wait_tx(struct scan_io *io, uint64_t ns)
{
    poll_ns(io->tx, POLLOUT, ns);
}

#define RX_SLOT 2048 /* a SYN-ACK or RST is small; an MTU-sized segment still fits */

struct engine {
    const struct sn_scan_config *c;
    struct sn_scan_stats *st;
    struct scan_io io;
    uint64_t count, answered, next_progress;
    struct sn_scan_perm perm;
    struct sn_scan_rate rate;
    struct sn_batch rx;
    unsigned ntx;
    struct sn_raw_pkt txp[SN_BATCH_MAX];
    uint8_t txbuf[SN_BATCH_MAX][64];
    uint8_t rxbuf[SN_BATCH_MAX][RX_SLOT];
};

static int stopping(const struct engine *e)
{
    return e->c->stop && *e->c->stop;
}

static void progress(struct engine *e, uint64_t now)
{
    if (!e->st->start_ns || now < e->next_progress)
        return; /* nothing sent yet, or not time yet */
    uint64_t every = e->c->progress_ns ? e->c->progress_ns : 1000000000ULL;
    e->next_progress = now + every;
    e->st->elapsed_ns = now - e->st->start_ns;
    if (e->c->on_progress)
        e->c->on_progress(e->c->ctx, e->st);
}

/* ---- receive ----------------------------------------------------------- */

static void answer(struct engine *e, const struct sn_scan_reply *r, uint64_t ts_ns)
{
    uint64_t i;
    if (sn_scan_targets_index(e->c->targets, r->target, r->port, &i) < 0) {
        e->st->ignored++; /* a cookie match outside the set: 2^-32 luck */
        return;
    }
    e->st->replies++;
    if (r->status == SN_SCAN_OPEN) {
        /* Free the target's half-open connection now (scan.h: open ports). */
        uint8_t pkt[SN_SCAN_RST_LEN];
        struct sn_addr to;
        sn_addr_ipv4(&to, r->target, 0);
        if (sn_scan_rst_emit(r, pkt, sizeof(pkt)) > 0 &&
            sn_raw_send(e->io.tx, pkt, sizeof(pkt), &to, -1) > 0)
            e->st->rsts++;
    }
    if (sn_scan_state_set(e->c->states, i, r->status) != SN_SCAN_NONE)
        return;
    e->answered++;
    if (r->status == SN_SCAN_OPEN)
        e->st->open++;
    else
        e->st->closed++;
    if (e->c->on_result) {
        struct sn_scan_result res = {
            .index = i, .status = r->status, .port = r->port, .ttl = r->ttl,
            .window = r->window, .mss = r->mss, .ts_ns = ts_ns,
        };
        memcpy(res.addr, r->target, 4);
        e->c->on_result(e->c->ctx, &res);
    }
}

/* Everything queued on the receive socket, without blocking. */
static void drain(struct engine *e)
{
    for (;;) {
        int n = sn_batch_recv(e->io.rx, &e->rx, MSG_DONTWAIT);
        if (n <= 0)
            return; /* -EAGAIN: empty; other errors: try again at the next drain */
        for (unsigned k = 0; k < (unsigned)n; k++) {
            struct sn_scan_reply r;
            size_t len = sn_batch_len(&e->rx, k);
            if (sn_batch_truncated(&e->rx, k)) {
                e->st->malformed++;
                continue;
            }
            int rc = sn_scan_reply_parse(e->c->key, e->rxbuf[k], len, e->c->sport, 0, &r);
            if (rc < 0)
                e->st->malformed++;
            else if (rc == 0)
                e->st->ignored++;
            else
                answer(e, &r, e->rx.ts_ns[k]);
        }
        if ((unsigned)n < e->rx.nbufs)
            return;
    }
}

/* Drain answers until `until` (sn_now_ns clock), or until everything is
 * answered or the caller stops us. */
static void wait_until(struct engine *e, uint64_t until)
{
    for (;;) {
        drain(e);
        uint64_t now = sn_now_ns();
        progress(e, now);
        if (now >= until || e->answered == e->count || stopping(e))
            return;
        uint64_t left = until - now;
        /* Wake at least every 100 ms for progress and the stop flag. */
        scan_io_wait(&e->io, SN_MIN(left, 100000000ULL));
    }
}

/* ---- transmit ---------------------------------------------------------- */

/* Send txp[0..ntx): retry briefly when the socket buffer is full; a probe the
 * kernel refuses (no route, neighbour failed, a firewall) is counted and skipped. */
static void send_batch(struct engine *e, unsigned round)
{
    unsigned first = 0;
    int full = 0;
    while (first < e->ntx) {
        int r = sn_raw_send_many(e->io.tx, e->txp + first, e->ntx - first, MSG_DONTWAIT);
        if (r > 0) {
            first += (unsigned)r;
            full = 0;
            e->st->sent += (unsigned)r;
            if (round)
                e->st->retried += (unsigned)r;
        } else if ((r == -EAGAIN || r == -ENOBUFS) && full++ < 100) {
            scan_io_wait_tx(&e->io, 1000000); /* 1 ms */
            drain(e);
        } else if (r == -EINTR) {
            continue;
        } else {
            e->st->send_errors++;
            if (!e->st->first_send_error)
                e->st->first_send_error = r < 0 ? r : -EIO;
            first++;
        }
    }
    e->st->last_tx_ns = sn_now_ns();
}

/* One round over the permutation; in rounds >= 1 only unanswered indexes. */
static void round_run(struct engine *e, unsigned round)
{
    const struct sn_scan_config *c = e->c;
    struct sn_scan_probe pr = {.sport = c->sport, .ttl = c->ttl};
    memcpy(pr.src, c->src, 4);
    uint64_t j = 0, t0 = 0, tx_before = e->st->tx_ns;
    e->st->round = round;
    while (j < e->count && !stopping(e) && e->answered < e->count) {
        uint64_t now = sn_now_ns();
        progress(e, now);
        uint64_t tokens = sn_scan_rate_take(&e->rate, now, SN_BATCH_MAX);
        if (tokens == 0) {
            drain(e);
            uint64_t d = sn_scan_rate_delay(&e->rate, sn_now_ns());
            if (d)
                scan_io_wait(&e->io, d);
            continue;
        }
        e->ntx = 0;
        while (e->ntx < tokens && j < e->count) {
            uint64_t i = sn_scan_perm_at(&e->perm, j++);
            if (sn_scan_state_get(c->states, i) != SN_SCAN_NONE)
                continue;
            sn_scan_targets_at(c->targets, i, pr.dst, &pr.dport);
            struct sn_raw_pkt *p = &e->txp[e->ntx++];
            sn_scan_syn_emit(c->key, &pr, e->txbuf[e->ntx - 1], sizeof(e->txbuf[0]));
            *p = (struct sn_raw_pkt){.data = e->txbuf[e->ntx - 1], .len = SN_SCAN_SYN_LEN, .ttl = -1};
            sn_addr_ipv4(&p->to, pr.dst, 0);
        }
        e->st->round_pos = j;
        if (e->ntx) {
            if (!t0)
                t0 = sn_now_ns();
            if (!e->st->start_ns) {
                e->st->start_ns = t0;
                e->next_progress = t0 + (c->progress_ns ? c->progress_ns : 1000000000ULL);
            }
            send_batch(e, round);
            e->st->tx_ns = tx_before + (e->st->last_tx_ns - t0);
        }
        drain(e);
    }
}

/* ---- the whole scan ------------------------------------------------------ */

static int config_check(const struct sn_scan_config *c)
{
    if (!c->targets || !c->key || !c->states || c->sport == 0 || c->rate == 0 ||
        c->rate > SN_SCAN_RATE_MAX || c->retries > 100)
        return -EINVAL;
    uint64_t n = sn_scan_targets_count(c->targets);
    if (n == 0 || n > SN_SCAN_PERM_MAX)
        return -EINVAL;
    return 0;
}

int sn_scan_run(const struct sn_scan_config *c, struct sn_scan_stats *st)
{
    memset(st, 0, sizeof(*st));
    int rc = config_check(c);
    if (rc < 0)
        return rc;
    struct engine *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->c = c;
    e->st = st;
    e->count = st->count = sn_scan_targets_count(c->targets);
    sn_scan_perm_init(&e->perm, e->count, c->key);
    rc = scan_io_open(&e->io, c->ifname, c->sport);
    if (rc < 0)
        goto out;
    sn_batch_init(&e->rx);
    sn_batch_recv_bufs(&e->rx, e->rxbuf, RX_SLOT, SN_BATCH_MAX);
    sn_scan_rate_init(&e->rate, c->rate, 0, sn_now_ns());
    for (unsigned round = 0; round <= c->retries; round++) {
        if (round) /* answers to the previous round still in flight: wait_ns */
            wait_until(e, st->last_tx_ns + c->wait_ns);
        if (stopping(e) || e->answered == e->count)
            break;
        round_run(e, round);
    }
    if (!stopping(e))
        wait_until(e, st->last_tx_ns + c->wait_ns);
    st->stopped = stopping(e);
    st->filtered = e->count - e->answered;
    st->elapsed_ns = st->start_ns ? sn_now_ns() - st->start_ns : 0;
    scan_io_close(&e->io);
    rc = 0;
out:
    free(e);
    return rc;
}
