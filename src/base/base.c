/* base.c — error names, clocks and CPU pinning (layer 0). */
#include <sysnet/base.h>

#include <errno.h>
#include <sched.h>
#include <time.h>

const char *sn_version(void)
{
    return "0.1.0";
}

/* One table, both directions: the names tools print and the short reasons
 * a user reads. Kept to the codes sysnet returns, plus the common syscall ones. */
static const struct {
    int code;
    const char *name;
    const char *desc;
} errtab[] = {
    {0, "OK", "success"},
    {EPERM, "EPERM", "operation not permitted (needs a capability such as CAP_NET_RAW)"},
    {ENOENT, "ENOENT", "no such file or directory"},
    {ESRCH, "ESRCH", "no such process"},
    {EINTR, "EINTR", "interrupted by a signal"},
    {EIO, "EIO", "input/output error"},
    {ENXIO, "ENXIO", "no such device or address"},
    {E2BIG, "E2BIG", "argument list too long"},
    {EBADF, "EBADF", "bad file descriptor"},
    {EAGAIN, "EAGAIN", "resource temporarily unavailable (try again)"},
    {ENOMEM, "ENOMEM", "out of memory"},
    {EACCES, "EACCES", "permission denied"},
    {EFAULT, "EFAULT", "bad address"},
    {EBUSY, "EBUSY", "device or resource busy"},
    {EEXIST, "EEXIST", "already exists"},
    {ENODEV, "ENODEV", "no such device"},
    {ENOTDIR, "ENOTDIR", "not a directory"},
    {EISDIR, "EISDIR", "is a directory"},
    {EINVAL, "EINVAL", "invalid argument"},
    {ENFILE, "ENFILE", "too many open files in the system"},
    {EMFILE, "EMFILE", "too many open files"},
    {ENOSPC, "ENOSPC", "no space left (buffer or device full)"},
    {ESPIPE, "ESPIPE", "illegal seek"},
    {EPIPE, "EPIPE", "broken pipe"},
    {EDOM, "EDOM", "argument out of domain"},
    {ERANGE, "ERANGE", "value out of range"},
    {ENAMETOOLONG, "ENAMETOOLONG", "name too long"},
    {ENOSYS, "ENOSYS", "not supported by this kernel"},
    {ENOTSUP, "ENOTSUP", "operation not supported"},
    {ENODATA, "ENODATA", "no data (end of input)"},
    {ENOMSG, "ENOMSG", "no message of the wanted type"},
    {EBADMSG, "EBADMSG", "malformed input"},
    {EPROTO, "EPROTO", "protocol violation"},
    {EOVERFLOW, "EOVERFLOW", "value too large for the type"},
    {EILSEQ, "EILSEQ", "illegal byte sequence"},
    {EMSGSIZE, "EMSGSIZE", "message too large"},
    {EPROTONOSUPPORT, "EPROTONOSUPPORT", "protocol not supported"},
    {EAFNOSUPPORT, "EAFNOSUPPORT", "address family not supported"},
    {EADDRINUSE, "EADDRINUSE", "address already in use"},
    {EADDRNOTAVAIL, "EADDRNOTAVAIL", "address not available"},
    {ENETDOWN, "ENETDOWN", "network is down"},
    {ENETUNREACH, "ENETUNREACH", "network unreachable"},
    {ECONNABORTED, "ECONNABORTED", "connection aborted"},
    {ECONNRESET, "ECONNRESET", "connection reset by peer"},
    {ENOBUFS, "ENOBUFS", "no buffer space available"},
    {ELOOP, "ELOOP", "nesting too deep"},
    {EISCONN, "EISCONN", "already connected"},
    {ENOTCONN, "ENOTCONN", "not connected"},
    {ETIMEDOUT, "ETIMEDOUT", "timed out"},
    {ECONNREFUSED, "ECONNREFUSED", "connection refused"},
    {EHOSTUNREACH, "EHOSTUNREACH", "host unreachable"},
    {EALREADY, "EALREADY", "operation already in progress"},
    {EINPROGRESS, "EINPROGRESS", "operation in progress"},
    {ECANCELED, "ECANCELED", "operation canceled"},
    {ENOTSOCK, "ENOTSOCK", "not a socket"},
    {EDESTADDRREQ, "EDESTADDRREQ", "destination address required"},
    {ENOPROTOOPT, "ENOPROTOOPT", "protocol option not available"},
    {ESHUTDOWN, "ESHUTDOWN", "endpoint shut down"},
};

static int find(int err)
{
    if (err < 0)
        err = -err;
    for (size_t i = 0; i < SN_COUNTOF(errtab); i++)
        if (errtab[i].code == err)
            return (int)i;
    return -1;
}

const char *sn_strerror(int err)
{
    int i = find(err);
    return i < 0 ? "unknown error" : errtab[i].desc;
}

const char *sn_errname(int err)
{
    int i = find(err);
    return i < 0 ? "E?" : errtab[i].name;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t sn_now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t sn_realtime_ns(void) { return clock_ns(CLOCK_REALTIME); }

int sn_cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return 1;
    int n = CPU_COUNT(&set);
    return n > 0 ? n : 1;
}

int sn_cpu_pin(int cpu)
{
    if (cpu < 0 || cpu >= CPU_SETSIZE)
        return -EINVAL;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    /* pid 0 = the calling thread (sched_setaffinity works per thread on Linux). */
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
        return -errno;
    return 0;
}

int sn_cpu_current(void)
{
    int c = sched_getcpu();
    return c < 0 ? -errno : c;
}
