/* feed.c — `sysnet feed`: a SoupBinTCP 3.0 market-data session on the loop
 * (include/sysnet/itch.h, src/frame/soup_net.c). --listen serves N messages (fixed
 * text, or ITCH 5.0 Add Orders), at a rate or all at once, then End of Session;
 * --connect logs in, prints each message with its sequence number (ITCH decoded,
 * one line each) and the counts and msgs/s at the end. */
#include "tool.h"

#include <sysnet/soupnet.h>
#include <sysnet/loop.h>
#include <sysnet/sock.h>
#include <sysnet/stream.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void help(void)
{
    printf("usage: sysnet feed --listen ADDR:PORT [--messages N] [--rate R] [--itch] [options]\n"
           "       sysnet feed --connect ADDR:PORT [--user U --password P] [--from SEQ] [-c N] [options]\n"
           "A SoupBinTCP 3.0 session (login, sequenced data, heartbeats, logout, end of session).\n\n"
           "server:\n"
           "  -l, --listen ADDR:PORT  serve on this address (port 0: any; the port is printed)\n"
           "  -n, --messages N        messages in the session (default 1000); then End of Session\n"
           "  -r, --rate R            publish R messages per second (default: all at once)\n"
           "      --itch              ITCH 5.0 Add Order messages (default: fixed text)\n"
           "      --once              exit after the first client's session is over\n"
           "client:\n"
           "  -C, --connect ADDR:PORT log in to this server\n"
           "  -f, --from SEQ          first sequence number wanted (default 1; 0: only new ones)\n"
           "  -c, --count N           log out after N messages\n"
           "  -q, --quiet             print only the totals\n"
           "both:\n"
           "  -u, --user U            username (up to 6; server: the only one accepted)\n"
           "  -p, --password P        password (up to 10; server: the only one accepted)\n"
           "  -s, --session S         session name (up to 10; client: blank = the current one)\n"
           "  -h, --help              this text\n\n"
           "The client prints \"SEQ TEXT\" per message, or for ITCH \"SEQ TYPE fields...\", and last\n"
           "\"N messages, sequence A..B, S s, R msgs/s, why\". The server stops on SIGINT/SIGTERM.\n"
           "Exit status: 0 ok (end of session, or -c messages received), 1 failure (login\n"
           "rejected, connection lost, timeout), 2 bad usage.\n");
}

static const char *const stocks[] = {"AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "INTC"};

/* The message of sequence number seq: an ITCH Add Order, or fixed text. */
static ssize_t make_msg(int itch, uint64_t seq, uint8_t *buf, size_t cap)
{
    if (!itch) {
        int n = snprintf((char *)buf, cap, "sysnet feed message %010" PRIu64, seq);
        return n < 0 || (size_t)n >= cap ? -ENOBUFS : n;
    }
    struct sn_itch_msg m;
    memset(&m, 0, sizeof(m));
    m.type = 'A';
    m.locate = (uint16_t)(1 + seq % SN_COUNTOF(stocks));
    m.tracking = (uint16_t)seq;
    m.ts_ns = 34200ull * SN_SEC + seq * 1000; /* from 09:30:00, 1 us apart */
    m.u.A.order_ref = seq;
    m.u.A.side = seq % 2 ? 'B' : 'S';
    m.u.A.shares = (uint32_t)(100 * (1 + seq % 10));
    sn_itch_stock_set(m.u.A.stock, stocks[seq % SN_COUNTOF(stocks)]);
    m.u.A.price = (uint32_t)(1000000 + (seq % 1000) * 100); /* 100.0000 + cents */
    return sn_itch_encode(&m, buf, cap);
}

/* ---- server ---- */

struct fsrv {
    struct sn_soup_server srv;
    struct sn_timer tick;
    struct sn_signal sigint, sigterm;
    uint64_t n, rate, t0;
    int itch, once, done;
    const char *user, *pass;
    uint64_t sessions, sent;
};

static ssize_t fs_get(struct sn_soup_server *srv, uint64_t seq, uint8_t *buf, size_t cap)
{
    struct fsrv *f = srv->data;
    return make_msg(f->itch, seq, buf, cap);
}

/* Compare a space-padded wire field with a C string. */
static int field_is(const char *field, size_t n, const char *s)
{
    size_t l = strlen(s);
    if (l > n || memcmp(field, s, l))
        return 0;
    for (size_t i = l; i < n; i++)
        if (field[i] != ' ')
            return 0;
    return 1;
}

static int fs_login(struct sn_soup_server *srv, struct sn_soup_conn *c, const char user[6],
                    const char pass[10])
{
    struct fsrv *f = srv->data;
    (void)c;
    if ((f->user && !field_is(user, 6, f->user)) || (f->pass && !field_is(pass, 10, f->pass)))
        return 'A';
    return 0;
}

static void fs_stop(struct fsrv *f)
{
    if (f->done)
        return;
    f->done = 1;
    sn_timer_stop(&f->tick);
    sn_signal_stop(&f->sigint);
    sn_signal_stop(&f->sigterm);
    sn_soup_server_close(&f->srv, NULL);
}

static const char *reason_str(int reason)
{
    switch (reason) {
    case SN_SOUP_EV_END: return "end of session";
    case SN_SOUP_EV_LOGOUT: return "logout";
    case SN_SOUP_EV_REJECTED: return "login rejected";
    default: return sn_strerror(reason);
    }
}

static void fs_close(struct sn_soup_server *srv, struct sn_soup_conn *c, int reason)
{
    struct fsrv *f = srv->data;
    char who[8];
    snprintf(who, sizeof(who), "%s", c->username[0] ? c->username : "-");
    printf("sysnet feed: client %s: %s, %" PRIu64 " messages sent from %" PRIu64 "\n", who,
           reason_str(reason), c->sent, c->first_seq);
    fflush(stdout);
    f->sent += c->sent;
    if (reason == SN_SOUP_EV_END || reason == SN_SOUP_EV_LOGOUT) {
        f->sessions++;
        if (f->once)
            fs_stop(f);
    }
}

static void fs_tick(struct sn_timer *t)
{
    struct fsrv *f = t->data;
    uint64_t el = sn_loop_now(f->srv.loop) - f->t0;
    uint64_t due = (uint64_t)((double)el * (double)f->rate / 1e9);
    if (due > f->n)
        due = f->n;
    sn_soup_server_publish(&f->srv, due + 1);
    if (due >= f->n) {
        sn_timer_stop(t);
        sn_soup_server_end(&f->srv);
    }
}

static void fs_signal(struct sn_signal *s, int signum)
{
    (void)signum;
    fs_stop(s->data);
}

static int run_server(const struct sn_addr *addr, struct fsrv *f, const char *session)
{
    struct sn_loop *l;
    int rc = sn_loop_open(&l, NULL);
    if (rc < 0)
        return tool_err("feed", "cannot open the loop: %s", sn_strerror(rc));
    struct sn_soup_server_opts o = {.session = session, .get = fs_get, .on_login = fs_login,
                                    .on_close = fs_close, .first_head = f->rate ? 1 : f->n + 1};
    f->srv.data = f;
    char text[SN_ADDR_STRLEN];
    sn_addr_fmt(addr, text, sizeof(text));
    if ((rc = sn_soup_server_open(l, &f->srv, addr, &o)) < 0) {
        sn_loop_close(l);
        return tool_err("feed", "cannot listen on %s: %s", text, sn_strerror(rc));
    }
    f->srv.data = f;
    struct sn_addr local;
    if (sn_sock_local_addr(f->srv.ls.fd, &local) == 0)
        sn_addr_fmt(&local, text, sizeof(text));
    f->t0 = sn_loop_now(l);
    if (f->rate) {
        f->tick.data = f;
        sn_timer_start(l, &f->tick, fs_tick, SN_MS, SN_MS);
    } else {
        sn_soup_server_end(&f->srv);
    }
    f->sigint.data = f->sigterm.data = f;
    sn_signal_start(l, &f->sigint, SIGINT, fs_signal);
    sn_signal_start(l, &f->sigterm, SIGTERM, fs_signal);
    printf("sysnet feed: listening on %s, session %s, %" PRIu64 " %s messages%s\n", text,
           session, f->n, f->itch ? "ITCH" : "text", f->rate ? "" : ", all at once");
    fflush(stdout);
    rc = sn_loop_run(l, SN_RUN_DEFAULT);
    printf("sysnet feed: %" PRIu64 " sessions, %" PRIu64 " logins, %" PRIu64 " rejected, %" PRIu64
           " messages sent\n",
           f->sessions, f->srv.logins, f->srv.rejects, f->sent);
    sn_loop_close(l);
    return rc < 0 ? tool_err("feed", "loop: %s", sn_strerror(rc)) : 0;
}

/* ---- client ---- */

struct fcl {
    struct sn_soup_client cl;
    struct sn_signal sigint, sigterm;
    uint64_t count, first, last, t0, t1;
    int itch, quiet, reason, done;
};

static void print_itch(uint64_t seq, const uint8_t *msg, size_t len)
{
    struct sn_itch_msg m;
    int rc = sn_itch_decode(msg, len, &m);
    if (rc < 0) {
        printf("%" PRIu64 " ? %zu bytes: %s\n", seq, len, sn_strerror(rc));
        return;
    }
    unsigned long long ts = (unsigned long long)m.ts_ns;
    printf("%" PRIu64 " %c %s locate=%u ts=%llu.%09llu", seq, m.type, sn_itch_type_name(m.type),
           m.locate, ts / SN_SEC, ts % SN_SEC);
    if (m.type == 'A' || m.type == 'F') {
        char st[9];
        printf(" ref=%" PRIu64 " %c %" PRIu32 " %s @ %" PRIu32 ".%04" PRIu32, m.u.A.order_ref,
               m.u.A.side, m.u.A.shares, sn_itch_stock_str(m.u.A.stock, st), m.u.A.price / 10000,
               m.u.A.price % 10000);
    }
    putchar('\n');
}

static void fc_message(struct sn_soup_client *c, uint64_t seq, const uint8_t *msg, size_t len)
{
    struct fcl *f = c->data;
    if (!f->first)
        f->first = seq;
    f->last = seq;
    if (!f->quiet) {
        if (f->itch) {
            print_itch(seq, msg, len);
        } else {
            printf("%" PRIu64 " ", seq);
            for (size_t i = 0; i < len; i++)
                putchar(msg[i] >= 0x20 && msg[i] < 0x7f ? msg[i] : '.');
            putchar('\n');
        }
    }
    if (f->count && c->messages >= f->count)
        sn_soup_client_logout(c);
}

static void fc_login(struct sn_soup_client *c, const char session[10], uint64_t next_seq)
{
    struct fcl *f = c->data;
    f->t0 = sn_now_ns();
    size_t skip = 0;
    while (skip < 10 && session[skip] == ' ')
        skip++;
    if (!f->quiet)
        printf("logged in: session %.*s, next sequence number %" PRIu64 "\n", (int)(10 - skip),
               session + skip, next_seq);
}

static void fc_close(struct sn_soup_client *c, int reason)
{
    struct fcl *f = c->data;
    f->reason = reason;
    f->done = 1;
    f->t1 = sn_now_ns();
    sn_signal_stop(&f->sigint);
    sn_signal_stop(&f->sigterm);
}

static void fc_signal(struct sn_signal *s, int signum)
{
    struct fcl *f = s->data;
    (void)signum;
    sn_soup_client_logout(&f->cl);
}

static int run_client(const struct sn_addr *addr, struct fcl *f, const struct sn_soup_client_opts *o)
{
    struct sn_loop *l;
    int rc = sn_loop_open(&l, NULL);
    if (rc < 0)
        return tool_err("feed", "cannot open the loop: %s", sn_strerror(rc));
    f->cl.data = f;
    f->cl.on_message = fc_message;
    f->cl.on_login = fc_login;
    f->cl.on_close = fc_close;
    char text[SN_ADDR_STRLEN];
    sn_addr_fmt(addr, text, sizeof(text));
    if ((rc = sn_soup_client_open(l, &f->cl, addr, o)) < 0) {
        sn_loop_close(l);
        return tool_err("feed", "cannot connect to %s: %s", text, sn_strerror(rc));
    }
    f->sigint.data = f->sigterm.data = f;
    sn_signal_start(l, &f->sigint, SIGINT, fc_signal);
    sn_signal_start(l, &f->sigterm, SIGTERM, fc_signal);
    rc = sn_loop_run(l, SN_RUN_DEFAULT);
    sn_loop_close(l);
    uint64_t n = f->cl.messages;
    double secs = f->t0 && f->t1 > f->t0 ? (double)(f->t1 - f->t0) / 1e9 : 0;
    int ok = f->reason == SN_SOUP_EV_END || (f->reason == SN_SOUP_EV_LOGOUT && f->count && n >= f->count);
    if (f->reason == SN_SOUP_EV_REJECTED)
        return tool_err("feed", "login rejected by %s: %s (%c)", text,
                        f->cl.reject_reason == 'S' ? "session not available" : "not authorized",
                        f->cl.reject_reason ? f->cl.reject_reason : '?');
    if (!f->t0 && f->reason < 0)
        return tool_err("feed", "cannot connect to %s: %s", text, sn_strerror(f->reason));
    printf("%" PRIu64 " messages, sequence %" PRIu64 "..%" PRIu64 ", %.3f s, %.0f msgs/s, %s\n", n,
           f->first, f->last, secs, secs > 0 ? (double)n / secs : 0.0, reason_str(f->reason));
    fflush(stdout);
    if (rc < 0)
        return tool_err("feed", "loop: %s", sn_strerror(rc));
    if (!ok)
        return tool_err("feed", "session with %s ended: %s", text, reason_str(f->reason));
    return 0;
}

int cmd_feed(int argc, char **argv)
{
    enum { OPT_ITCH = 256, OPT_ONCE };
    static const struct option lo[] = {
        {"listen", required_argument, NULL, 'l'},   {"connect", required_argument, NULL, 'C'},
        {"messages", required_argument, NULL, 'n'}, {"rate", required_argument, NULL, 'r'},
        {"itch", no_argument, NULL, OPT_ITCH},      {"once", no_argument, NULL, OPT_ONCE},
        {"from", required_argument, NULL, 'f'},     {"count", required_argument, NULL, 'c'},
        {"quiet", no_argument, NULL, 'q'},          {"user", required_argument, NULL, 'u'},
        {"password", required_argument, NULL, 'p'}, {"session", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *listen_at = NULL, *connect_to = NULL, *user = NULL, *pass = NULL, *session = NULL;
    uint64_t n = 1000, rate = 0, from = 1, count = 0;
    int itch = 0, once = 0, quiet = 0, c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":l:C:n:r:f:c:qu:p:s:h", lo, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return 0;
        case 'l': listen_at = optarg; break;
        case 'C': connect_to = optarg; break;
        case 'n':
            if (tool_parse_u64(optarg, 1, 1000000000000ull, &n) < 0)
                return tool_usage("feed", "--messages wants 1..10^12, not '%s'", optarg);
            break;
        case 'r':
            if (tool_parse_u64(optarg, 1, 1000000000ull, &rate) < 0)
                return tool_usage("feed", "--rate wants 1..10^9 messages/s, not '%s'", optarg);
            break;
        case 'f':
            if (tool_parse_u64(optarg, 0, UINT64_MAX / 2, &from) < 0)
                return tool_usage("feed", "--from wants a sequence number, not '%s'", optarg);
            break;
        case 'c':
            if (tool_parse_u64(optarg, 1, UINT64_MAX / 2, &count) < 0)
                return tool_usage("feed", "-c wants a count >= 1, not '%s'", optarg);
            break;
        case 'q': quiet = 1; break;
        case 'u': user = optarg; break;
        case 'p': pass = optarg; break;
        case 's': session = optarg; break;
        case OPT_ITCH: itch = 1; break;
        case OPT_ONCE: once = 1; break;
        default: return tool_bad_option("feed", c, argv);
        }
    }
    if (optind < argc)
        return tool_usage("feed", "unexpected argument '%s'", argv[optind]);
    if (!listen_at == !connect_to)
        return tool_usage("feed", "give one of --listen ADDR:PORT (server) or --connect ADDR:PORT (client)");
    if (user && strlen(user) > 6)
        return tool_usage("feed", "--user takes at most 6 characters");
    if (pass && strlen(pass) > 10)
        return tool_usage("feed", "--password takes at most 10 characters");
    if (session && strlen(session) > 10)
        return tool_usage("feed", "--session takes at most 10 characters");
    const char *at = listen_at ? listen_at : connect_to;
    struct sn_addr addr;
    const char *why = NULL;
    if (sn_addr_parse_len(at, strlen(at), &addr, &why) < 0)
        return tool_usage("feed", "%s '%s': %s", listen_at ? "--listen" : "--connect", at,
                          why ? why : "not an address");
    if (connect_to && addr.port == 0)
        return tool_usage("feed", "--connect '%s': the address needs a port", at);
    if (listen_at) {
        struct fsrv f;
        memset(&f, 0, sizeof(f));
        f.n = n;
        f.rate = rate;
        f.itch = itch;
        f.once = once;
        f.user = user;
        f.pass = pass;
        return run_server(&addr, &f, session ? session : "SYSNET");
    }
    struct fcl f;
    memset(&f, 0, sizeof(f));
    f.count = count;
    f.itch = itch;
    f.quiet = quiet;
    struct sn_soup_client_opts o = {.username = user ? user : "", .password = pass ? pass : "",
                                    .session = session, .seq = from,
                                    .connect_timeout_ns = 5 * SN_SEC};
    return run_client(&addr, &f, &o);
}
