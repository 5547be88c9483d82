/* tests/netns.h — test bodies run in a forked child: inside a network namespace of
 * its own (unshare(CLONE_NEWNET), then lo up), or as nobody without capabilities;
 * and the veth pairs a test makes in its namespace.
 *
 *   static void body(void) { CHECK(...); }
 *   SN_TEST(x) { in_netns(body, 30); }             (in_child(body, CHILD_NOBODY, 10))
 *
 * The child's CHECK/SKIP outcome comes back through a pipe; a crash, a leak report
 * (LeakSanitizer exits non-zero) or the watchdog alarm fails the test. Without root
 * the test says skip. Network safety (DESIGN.md): the namespace starts with only
 * `lo`, and what a test creates in it dies with the child, so the host's
 * interfaces are never seen, let alone opened.
 */
#ifndef SN_TEST_NETNS_H
#define SN_TEST_NETNS_H

#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* ioctl(2) `req` (SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCGIFHWADDR ...) about interface
 * `name`, on a socket of its own: *ifr carries the rest. 0 or -errno. */
static inline int if_ioctl(const char *name, unsigned long req, struct ifreq *ifr)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    strncpy(ifr->ifr_name, name, IFNAMSIZ - 1);
    int rc = ioctl(fd, req, ifr) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* The flags of interface `name` (SIOCGIFFLAGS), after setting `set` and clearing
 * `clear` (SIOCSIFFLAGS) when either is non-zero: the flags (>= 0) or -errno. */
static inline int if_flags(const char *name, int set, int clear)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    int rc = if_ioctl(name, SIOCGIFFLAGS, &ifr);
    if (rc == 0 && (set || clear)) {
        ifr.ifr_flags = (short)((ifr.ifr_flags | set) & ~clear);
        rc = if_ioctl(name, SIOCSIFFLAGS, &ifr);
    }
    return rc < 0 ? rc : (ifr.ifr_flags & 0xffff);
}

/* Become uid/gid 65534 with no supplementary groups: from root, changing all three
 * uids away from 0 clears the permitted and effective capability sets. 0 or -1. */
static inline int drop_to_nobody(void)
{
    if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
        setresuid(65534, 65534, 65534) < 0)
        return -1;
    return 0;
}

struct child_result {
    int failed, skipped;
    char msg[512];
};

enum { CHILD_NETNS = 1, CHILD_NOBODY = 2 };

/* Run body in a forked child, in a new network namespace with lo up (CHILD_NETNS)
 * or as nobody (CHILD_NOBODY), with a watchdog of timeout_s seconds. */
static inline void in_child(void (*body)(void), int how, unsigned timeout_s)
{
    if (geteuid() != 0)
        SKIP("needs root (CAP_NET_RAW, CAP_SYS_ADMIN for a network namespace)");
    int p[2];
    if (pipe(p) < 0) {
        sn_test_fail(__FILE__, __LINE__, "pipe");
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        sn_test_fail(__FILE__, __LINE__, "fork");
        return;
    }
    if (pid == 0) {
        struct child_result res;
        memset(&res, 0, sizeof(res));
        close(p[0]);
        alarm(timeout_s);
        sn_cur_failed = sn_cur_skipped = 0;
        sn_cur_msg[0] = 0;
        if (how == CHILD_NETNS && unshare(CLONE_NEWNET) < 0) {
            sn_cur_skipped = 1;
            snprintf(sn_cur_msg, sizeof(sn_cur_msg), "unshare(CLONE_NEWNET): %s", strerror(errno));
        } else if (how == CHILD_NETNS && if_flags("lo", IFF_UP, 0) < 0) {
            sn_test_fail(__FILE__, __LINE__, "cannot bring lo up in the new namespace");
        } else if (how == CHILD_NOBODY && drop_to_nobody() < 0) {
            sn_test_fail(__FILE__, __LINE__, "cannot drop to uid/gid 65534");
        } else {
            body();
        }
        res.failed = sn_cur_failed;
        res.skipped = sn_cur_skipped;
        memcpy(res.msg, sn_cur_msg, sizeof(res.msg));
        if (write(p[1], &res, sizeof(res)) != (ssize_t)sizeof(res))
            _exit(3);
        close(p[1]);
        exit(0); /* exit, not _exit: LeakSanitizer runs in the child too */
    }
    close(p[1]);
    struct child_result res;
    ssize_t n = read(p[0], &res, sizeof(res));
    close(p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (n != (ssize_t)sizeof(res)) {
        char m[128];
        if (WIFSIGNALED(status))
            snprintf(m, sizeof(m), "child killed by signal %d%s", WTERMSIG(status),
                     WTERMSIG(status) == SIGALRM ? " (watchdog: test hung)" : "");
        else
            snprintf(m, sizeof(m), "child exited with %d before reporting", WEXITSTATUS(status));
        sn_test_fail(__FILE__, __LINE__, m);
        return;
    }
    if (res.failed) { /* the child's message already says file:line */
        sn_cur_failed = 1;
        memcpy(sn_cur_msg, res.msg, sizeof(sn_cur_msg));
        sn_cur_msg[sizeof(sn_cur_msg) - 1] = 0;
        return;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char m[128];
        snprintf(m, sizeof(m), "child status %d after passing (a leak report?)", status);
        sn_test_fail(__FILE__, __LINE__, m);
        return;
    }
    if (res.skipped) {
        sn_cur_skipped = 1;
        memcpy(sn_cur_msg, res.msg, sizeof(sn_cur_msg));
    }
}

/* in_child(body, CHILD_NETNS, timeout_s). */
static inline void in_netns(void (*body)(void), unsigned timeout_s)
{
    in_child(body, CHILD_NETNS, timeout_s);
}

/* A veth pair a <-> b, both up, in the current (private) namespace: 0, or -1 when
 * `ip link add ... type veth` fails (no iproute2, no veth driver). IPv6 is turned
 * off first so the kernel sends no router solicitations on it. */
static inline int make_veth(const char *a, const char *b)
{
    char cmd[256];
    int fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, "1", 1) != 1) { /* no IPv6: fine */
        }
        close(fd);
    }
    snprintf(cmd, sizeof(cmd),
             "ip link add %s type veth peer name %s >/dev/null 2>&1 && "
             "ip link set %s up >/dev/null 2>&1 && ip link set %s up >/dev/null 2>&1",
             a, b, a, b);
    int rc = system(cmd);
    return rc == 0 ? 0 : -1;
}

/* The MAC address of interface `name` (SIOCGIFHWADDR): 0 or -errno. */
static inline int mac_of(const char *name, uint8_t mac[6])
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    int rc = if_ioctl(name, SIOCGIFHWADDR, &ifr);
    if (rc == 0)
        memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    return rc;
}

#endif
