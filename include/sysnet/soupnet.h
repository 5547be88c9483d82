/* sysnet/soupnet.h — layer 5 on 4: SoupBinTCP 3.0 over TCP on the loop. Kept apart
 * from itch.h (the pure parsers and the session state machine) because it pulls in
 * the loop and sockets (stream.h, which needs _GNU_SOURCE): a program that only
 * parses ITCH includes itch.h alone. */
#include <sysnet/itch.h>

/* ======================================================================
 * SoupBinTCP 3.0 on the loop: a server and a client (src/frame/soup_net.c)
 * ======================================================================
 * The I/O half of SoupBinTCP, built on stream.h (sn_tcp_listen, sn_tcp_connect,
 * sn_stream_*), the framer (2-byte big-endian length) and the session state machine
 * above (struct sn_soup_sess), with one sn_timer per connection at sn_soup_deadline():
 * heartbeats after heartbeat_ns of sending nothing (1 s by default), the peer dropped
 * after timeout_ns of hearing nothing (15 s by default).
 *
 * The server: accepts connections, answers Login Requests through on_login (accept,
 * or reject with 'A' not authorized / 'S' session not available), then streams
 * Sequenced Data from a message source: messages 1 .. head-1 exist, and get(seq)
 * writes message seq into a buffer (so the source may be a store, a file or a
 * generator). The application says when more exist (sn_soup_server_publish) and when
 * the session is over (sn_soup_server_end: each client gets End of Session once it
 * has every message, and is closed). A login asking for sequence number 0, or one
 * past head, starts at head (the next message published); 1 .. head replays from
 * there. Sending is paced by the stream's write queue: a client that reads slowly is
 * sent to as fast as it reads, at most high_water bytes queued for it (memory per
 * connection stays bounded), and at most 256 KiB per connection per loop iteration,
 * so one fast client does not starve the others or the timers.
 *
 * The client: connects, sends a Login Request (user, password, session, the
 * sequence number to resume from), delivers each Sequenced Data message to
 * on_message with its sequence number, heartbeats, and closes on End of Session, on
 * server silence (-ETIMEDOUT), on Login Rejected, on sn_soup_client_logout, or on
 * any error. on_close runs once, at the very end (after the socket is closed): the
 * struct may then be freed, or opened again.
 *
 * Close reasons (the `reason` of on_close): SN_SOUP_EV_END (End of Session),
 * SN_SOUP_EV_LOGOUT (a Logout Request, sent or received), SN_SOUP_EV_REJECTED (Login
 * Rejected: see reject_reason), -ETIMEDOUT (peer silent), -ECONNRESET (the peer
 * closed the connection outside the protocol), -EPROTO (a packet not allowed in the
 * state), -EBADMSG / -EPROTONOSUPPORT / -EMSGSIZE (a malformed packet or frame),
 * -ECONNREFUSED and other connect errors, -ECANCELED (closed by the application).
 *
 * Memory: the server allocates, at sn_soup_server_open, one 128 KiB send scratch
 * buffer, and for each connection one struct sn_soup_conn with its 64 KiB frame
 * buffer (freed when the connection closes); nothing per message. The client
 * allocates nothing (its frame buffer is inside struct sn_soup_client). Threads: all
 * of it belongs to the loop's thread.
 */
#ifndef SYSNET_SOUPNET_H
#define SYSNET_SOUPNET_H

#include <sysnet/loop.h>
#include <sysnet/stream.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sn_soup_server;
struct sn_soup_conn;

struct sn_soup_server_opts {
    const char *session;      /* the session name, up to 10 characters; NULL = "1" */
    uint64_t heartbeat_ns;    /* 0 = SN_SOUP_HEARTBEAT_NS (1 s) */
    uint64_t timeout_ns;      /* 0 = SN_SOUP_TIMEOUT_NS (15 s) */
    uint64_t first_head;      /* messages 1 .. first_head-1 exist at open; 0 = none (head 1) */
    const struct sn_stream_opts *stream; /* per-connection stream options; NULL = defaults */
    /* A Login Request: return 0 to accept, or the reject reason 'A' or 'S'. NULL
     * accepts everyone. username/password are as on the wire (space padded). A
     * request for another session than ours is rejected with 'S' before this. */
    int (*on_login)(struct sn_soup_server *srv, struct sn_soup_conn *c, const char username[6],
                    const char password[10]);
    /* The message source: write message seq (1 <= seq < head) into buf (cap >= 65534):
     * its length (>= 0), or a negative errno (the connection is aborted). Required. */
    ssize_t (*get)(struct sn_soup_server *srv, uint64_t seq, uint8_t *buf, size_t cap);
    /* Unsequenced Data from a logged-in client (optional). */
    void (*on_unsequenced)(struct sn_soup_server *srv, struct sn_soup_conn *c, const uint8_t *msg,
                           size_t len);
    /* A client's session is over (reason: see above), just before c is freed. Optional. */
    void (*on_close)(struct sn_soup_server *srv, struct sn_soup_conn *c, int reason);
};

struct sn_soup_conn {
    void *data;                    /* the application's */
    struct sn_soup_server *srv;    /* read-only */
    struct sn_soup_sess sess;      /* read-only: state, next_seq (the next S to send) */
    char username[7];              /* read-only, after login: NUL terminated, unpadded */
    uint64_t first_seq;            /* read-only: where the session started (from Login Accepted) */
    uint64_t sent;                 /* Sequenced Data sent */
    uint64_t heartbeats;           /* Server Heartbeats sent */
    /* private */
    struct sn_stream st;
    struct sn_timer timer;
    struct sn_defer kick;
    struct sn_framer fr;
    struct sn_soup_conn *prev, *next;
    int closing, reason, blocked;
    uint8_t fbuf[SN_SOUP_MAX_PACKET];
};

struct sn_soup_server {
    void *data;                    /* the application's */
    struct sn_loop *loop;          /* read-only */
    struct sn_listener ls;         /* read-only: ls.fd is the listening socket */
    char session[10];              /* read-only: as on the wire (left padded) */
    uint64_t head;                 /* read-only: the next sequence number to be published */
    int ended;                     /* sn_soup_server_end was called */
    unsigned clients;              /* connections open now */
    uint64_t logins, rejects, timeouts; /* counters */
    /* private */
    struct sn_soup_server_opts o;
    struct sn_stream_opts so;
    struct sn_soup_conn *conns;
    uint8_t *scratch;
    int closing;
    void (*on_closed)(struct sn_soup_server *srv);
};

/* Listen on addr (port 0: any; sn_sock_local_addr(srv->ls.fd) tells which). 0 or
 * -errno (-EINVAL: no get callback or a bad session name). */
int sn_soup_server_open(struct sn_loop *l, struct sn_soup_server *srv, const struct sn_addr *addr,
                        const struct sn_soup_server_opts *o);
/* Messages up to head-1 now exist (head only grows: a smaller value is ignored);
 * clients waiting for them are sent them. */
void sn_soup_server_publish(struct sn_soup_server *srv, uint64_t head);
/* No message after head-1 will come: every client gets End of Session once it has
 * all of them (clients logging in later get it at once), and is closed. */
void sn_soup_server_end(struct sn_soup_server *srv);
/* Stop listening and abort every connection (on_close with -ECANCELED); on_closed
 * (may be NULL) runs once the last one is gone (at once if there was none). */
void sn_soup_server_close(struct sn_soup_server *srv, void (*on_closed)(struct sn_soup_server *srv));

struct sn_soup_client;
struct sn_soup_client_opts {
    const char *username;     /* up to 6 characters */
    const char *password;     /* up to 10 characters */
    const char *session;      /* up to 10; NULL or "" = the server's current session */
    uint64_t seq;             /* the first sequence number wanted; 0 = from the next new one */
    uint64_t heartbeat_ns;    /* 0 = SN_SOUP_HEARTBEAT_NS (1 s) */
    uint64_t timeout_ns;      /* 0 = SN_SOUP_TIMEOUT_NS (15 s) */
    uint64_t connect_timeout_ns; /* 0 = the kernel's */
};

struct sn_soup_client {
    void *data;                    /* the application's */
    struct sn_loop *loop;          /* read-only */
    /* Login Accepted: the session and the sequence number of the first message to come. */
    void (*on_login)(struct sn_soup_client *c, const char session[10], uint64_t next_seq);
    /* One Sequenced Data message and its sequence number (data valid during the call). */
    void (*on_message)(struct sn_soup_client *c, uint64_t seq, const uint8_t *msg, size_t len);
    /* The end, once (see the reasons above); the struct is then the caller's again. */
    void (*on_close)(struct sn_soup_client *c, int reason);
    struct sn_soup_sess sess;      /* read-only: state, session, next_seq */
    char reject_reason;            /* read-only: 'A' or 'S' after Login Rejected, else 0 */
    uint64_t messages;             /* Sequenced Data received */
    uint64_t heartbeats;           /* Server Heartbeats received */
    /* private */
    struct sn_soup_client_opts o;
    struct sn_connector conn;
    struct sn_stream st;
    struct sn_timer timer;
    struct sn_framer fr;
    int phase, reason;
    uint8_t fbuf[SN_SOUP_MAX_PACKET];
};

/* Connect to `to` and log in; set on_message (and on_login, on_close) first. 0 or
 * -errno (-EINVAL for a username/password/session too long); later failures come
 * through on_close. */
int sn_soup_client_open(struct sn_loop *l, struct sn_soup_client *c, const struct sn_addr *to,
                        const struct sn_soup_client_opts *o);
/* Unsequenced Data to the server (logged in): 0, -EPROTO (not logged in), -ENOBUFS. */
int sn_soup_client_send(struct sn_soup_client *c, const void *msg, size_t len);
/* Logout Request, then a FIN; what still arrives is dropped until the server closes
 * (at most 1 s): on_close(SN_SOUP_EV_LOGOUT). No on_message after this call. */
void sn_soup_client_logout(struct sn_soup_client *c);
/* Close at once (on_close(-ECANCELED) unless already closing). */
void sn_soup_client_close(struct sn_soup_client *c);

#ifdef __cplusplus
}
#endif
#endif /* SYSNET_SOUPNET_H */
