/* bench/loop/echo.h — what the peer echo servers (echo_uv.c, echo_ev.c, echo_event.c)
 * share and that is not the event library's business: parsing ADDR:PORT, the
 * process setup, and the line that says where the server listens. The protocol:
 * a TCP server that writes back every byte it reads, keeps connections open until
 * the client closes, SO_REUSEADDR, listen backlog 4096, TCP_NODELAY on accepted
 * connections (a reply is sent at once, as `sysnet echo` does).
 *
 *   echo_uv 127.0.0.1:7000      (port 0: the kernel picks one; the line says which)
 *   -> "echo_uv listening 127.0.0.1:7000 (libuv 1.44.2)" on stdout, then serves until killed.
 */
#ifndef SN_BENCH_ECHO_H
#define SN_BENCH_ECHO_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define ECHO_BACKLOG 4096
#define ECHO_BUF 65536

/* "A.B.C.D:PORT" or "[v6]:PORT" into ss; 0 or -1. */
static inline int echo_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port > 65535)
        return -1;
    memset(ss, 0, sizeof(*ss));
    size_t hl = strlen(host);
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        host[hl - 1] = 0;
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return -1;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return -1;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *len = sizeof(*a4);
    return 0;
}

/* Writes to a peer that reset must fail with EPIPE, not kill the server; and
 * thousands of connections need file descriptors: raise the soft limit to the hard. */
static inline void echo_setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static inline void echo_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* The listening line, with the port the kernel gave. */
static inline void echo_announce(const char *prog, int lfd, const char *lib)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
            port = ntohs(a6->sin6_port);
            printf("%s listening [%s]:%u (%s)\n", prog, host, port, lib);
        } else {
            struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
            port = ntohs(a4->sin_port);
            printf("%s listening %s:%u (%s)\n", prog, host, port, lib);
        }
    }
    fflush(stdout);
}

static inline void echo_usage(const char *prog, const char *extra)
{
    fprintf(stderr, "usage: %s ADDR:PORT%s\n  a TCP echo server (bench/loop); port 0 picks one\n", prog, extra);
}

#endif /* SN_BENCH_ECHO_H */
