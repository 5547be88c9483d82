/* fuzz_pcapng.c — the capture-file reader over arbitrary bytes, seeded with pcapng
 * files (several sections, both byte orders, SPB, PB, options, unknown blocks).
 * Walks every packet touching every byte it claims (ASan catches a pointer past the
 * input), checks that errors are sticky, and re-encodes what it read with the
 * pcapng writer: reading that back must give the same packets. */
#include <sysnet/pcap.h>

#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t digest(const struct sn_pcap_pkt *p)
{
    uint64_t s = (uint64_t)p->ts_ns * 3 + p->caplen + ((uint64_t)SN_MAX(p->wirelen, p->caplen) << 20);
    for (uint32_t i = 0; i < p->caplen; i++)
        s = s * 31 + p->data[i];
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -2;
    struct sn_pcap_reader r;
    struct sn_pcap_writer w;
    struct sn_pcap_pkt pkt;
    uint64_t sum = 0, n = 0;
    int rc;

    if (fd == -2)
        fd = memfd_create("fuzz_pcapng", MFD_CLOEXEC);
    int wok = fd >= 0 && ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0;
    struct sn_pcap_writer_opts o = {.format = SN_PCAP_NG, .linktype = 1};
    wok = wok && sn_pcap_writer_open_fd(&w, fd, &o) == 0;

    if ((rc = sn_pcap_open_mem(&r, data, size)) == 0) {
        while ((rc = sn_pcap_next(&r, &pkt)) > 0) {
            if (pkt.ts_ns < 0)
                continue; /* the writer refuses those (-ERANGE) */
            sum = sum * 1000003 + digest(&pkt);
            n++;
            if (wok && sn_pcap_write(&w, pkt.ts_ns, pkt.data, pkt.caplen, pkt.wirelen) != 0)
                __builtin_trap();
        }
        if (rc < 0 && sn_pcap_next(&r, &pkt) != rc) /* errors are sticky */
            __builtin_trap();
    }
    if (rc < 0 && rc != -EBADMSG && rc != -ENODATA && rc != -EPROTONOSUPPORT)
        __builtin_trap(); /* only the documented input errors */
    if (rc < 0 && sn_pcap_errmsg(&r)[0] == 0)
        __builtin_trap();
    sn_pcap_close(&r);
    if (!wok)
        return 0;
    if (sn_pcap_writer_close(&w) != 0)
        __builtin_trap();

    /* What we wrote reads back the same, through the streaming path. */
    uint64_t sum2 = 0, n2 = 0;
    if (lseek(fd, 0, SEEK_SET) != 0 || sn_pcap_open_fd(&r, fd, SN_PCAP_STREAM) != 0)
        __builtin_trap();
    while ((rc = sn_pcap_next(&r, &pkt)) > 0) {
        sum2 = sum2 * 1000003 + digest(&pkt);
        n2++;
    }
    sn_pcap_close(&r);
    if (rc != 0 || n2 != n || sum2 != sum)
        __builtin_trap();
    return 0;
}
