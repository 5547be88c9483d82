/* fuzz_pcap.c — the capture-file reader over arbitrary bytes, seeded with classic
 * pcap files. Walks every packet and touches every byte it claims (ASan catches a
 * pointer past the input), checks that errors are sticky, and that the streaming
 * reader (read(2) from a memfd) sees exactly what the in-memory reader sees. */
#include <sysnet/pcap.h>

#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct digest {
    int rc;
    uint64_t npkts;
    uint64_t sum;
    char msg[192];
};

static void walk(struct sn_pcap_reader *r, int rc, struct digest *d)
{
    struct sn_pcap_pkt pkt;
    d->rc = rc;
    d->npkts = 0;
    d->sum = 0;
    if (rc == 0) {
        while ((d->rc = sn_pcap_next(r, &pkt)) > 0) {
            uint64_t s = (uint64_t)pkt.ts_ns ^ pkt.wirelen ^ ((uint64_t)pkt.ifindex << 32) ^ pkt.linktype;
            for (uint32_t i = 0; i < pkt.caplen; i++)
                s = s * 31 + pkt.data[i];
            d->sum = d->sum * 1000003 + s + pkt.caplen;
            d->npkts++;
        }
        if (d->rc < 0 && sn_pcap_next(r, &pkt) != d->rc) /* errors are sticky */
            __builtin_trap();
    }
    if (d->rc < 0 && d->rc != -EBADMSG && d->rc != -ENODATA && d->rc != -EPROTONOSUPPORT)
        __builtin_trap(); /* only the documented input errors */
    snprintf(d->msg, sizeof(d->msg), "%s", sn_pcap_errmsg(r));
    sn_pcap_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -2;
    struct sn_pcap_reader r;
    struct digest a, b;

    walk(&r, sn_pcap_open_mem(&r, data, size), &a);

    if (fd == -2)
        fd = memfd_create("fuzz_pcap", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size ||
        lseek(fd, 0, SEEK_SET) != 0)
        return 0;
    walk(&r, sn_pcap_open_fd(&r, fd, SN_PCAP_STREAM), &b);
    if (a.rc != b.rc || a.npkts != b.npkts || a.sum != b.sum || strcmp(a.msg, b.msg) != 0)
        __builtin_trap();
    return 0;
}
