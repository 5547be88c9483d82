/* sniff.c — `sysnet sniff`: capture live from an interface (a TPACKET_V3 ring per
 * worker thread, a kernel BPF filter, PACKET_FANOUT across workers) or read a
 * capture file, and print the packets as tcpdump-like lines, tshark-compatible
 * fields (-T fields -e ...) or JSON, and/or write them to a capture file. */
#include "tool.h"

#include <sysnet/filter.h>
#include <sysnet/pcap.h>
#include <sysnet/wire.h>

#include <sysnet/ring.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_FIELDS 128

enum out_mode { OUT_TEXT, OUT_FIELDS, OUT_JSON };

#define MAX_WORKERS 64
#define DEF_SNAPLEN 262144u   /* tcpdump's default -s */

enum direction { DIR_INOUT, DIR_IN, DIR_OUT };

struct opts {
    const char *rfile, *wfile;
    const char *ifname;       /* -i: live capture */
    uint32_t snaplen;         /* -s / --snaplen: 0 = DEF_SNAPLEN */
    unsigned workers;         /* --fanout N: worker threads, 1 = no fanout */
    uint16_t fanout_mode;     /* --fanout-mode */
    uint64_t buffer_kib;      /* -B: ring size per worker, KiB (0 = the ring's default) */
    int no_promisc;           /* -p */
    enum direction dir;       /* -Q */
    int line_buffered;        /* -l */
    int packet_buffered;      /* -U */
    int print;                /* --print: print packets also while writing (-w) live */
    uint64_t duration_s;      /* --duration: stop after this many seconds (0 = never) */
    enum sn_pcap_format wformat;
    uint64_t count;           /* -c: 0 = all */
    enum out_mode mode;
    int nfields;
    int field_ids[MAX_FIELDS];
    const char *field_names[MAX_FIELDS];
    int header;               /* -E header=y */
    char sep;                 /* -E separator= */
    int tstamp;               /* number of -t: 0 time of day, 1 none, 2 epoch, 3 delta, 4 date */
    int quiet, only_count, progress, stats;
    int dump;                 /* -d: print the compiled program and exit */
    char expr[4096];          /* the filter expression (remaining arguments) */
    struct sock_filter prog[SN_FILTER_MAXINSNS];
    int prog_len;             /* 0 = no filter */
};

static void help(void)
{
    printf("usage: sysnet sniff -i IFACE [options] [EXPRESSION]     capture live\n"
           "       sysnet sniff -r FILE [options] [EXPRESSION]      read a capture file\n"
           "       sysnet sniff -d EXPRESSION                       print the BPF program\n"
           "       sysnet sniff -D                                  list interfaces\n"
           "Capture packets from an interface (AF_PACKET TPACKET_V3 ring, kernel BPF filter)\n"
           "or read a capture file (pcap or pcapng, any byte order, \"-\" = stdin), and print them.\n\n"
           "Input:\n"
           "  -i IFACE           capture live on IFACE (needs CAP_NET_RAW); stops at -c, --duration,\n"
           "                     SIGINT or SIGTERM, then prints captured / received by filter /\n"
           "                     dropped by kernel on stderr, as tcpdump does\n"
           "  -r FILE            read packets from FILE\n"
           "Live capture:\n"
           "  -s, --snaplen N    keep at most N bytes of each packet (default 262144; cut in the kernel)\n"
           "  -B KIB             ring size per worker in KiB (default 4096)\n"
           "  -p                 do not put the interface in promiscuous mode\n"
           "  -Q in|out|inout    direction of the packets to capture (default inout; on loopback\n"
           "                     each packet is seen once, as received)\n"
           "      --fanout N     N worker threads, each with its own ring in one PACKET_FANOUT group\n"
           "                     (1..%d); with -w, packets of different workers may interleave\n"
           "      --fanout-mode hash|lb|cpu|rollover|random|qm   how the kernel splits (default hash:\n"
           "                     a flow stays on one worker)\n"
           "      --duration S   stop after S seconds\n"
           "  -U                 -w: flush the file after every packet\n"
           "  -l                 line-buffer standard output\n"
           "      --print        print packets even while writing them with -w (tcpdump --print)\n"
           "Output:\n"
           "  -w FILE            write the packets to FILE (pcap, microseconds; \"-\" = stdout); live,\n"
           "                     nothing else is printed per packet unless --print\n"
           "      --pcapng       write pcapng instead (nanosecond stamps)\n"
           "      --nano         write pcap with nanosecond stamps\n"
           "  -c N               stop after N matching packets\n"
           "  -T text|fields|json  output: tcpdump-like lines (default), tab-separated\n"
           "                     fields, or one JSON object per packet\n"
           "  -e FIELD           a field to print, tshark's name and format (repeatable);\n"
           "                     with -T json and no -e, every field present is printed\n"
           "  -E header=y|n      -T fields: first line names the fields\n"
           "  -E separator=/t|/s|C  -T fields: the separator (tab, space or a character)\n"
           "  -t                 no timestamp; -tt epoch seconds; -ttt delta; -tttt date and time (UTC)\n"
           "  -n                 numeric addresses (always so; accepted for tcpdump habits)\n"
           "  -q                 print nothing per packet\n"
           "      --count        print only the number of matching packets\n"
           "      --stats        statistics on stderr at the end\n"
           "      --progress     a progress line on stderr every second\n"
           "      --list-fields  the names -e accepts\n"
           "  -d                 print the compiled classic BPF program (as tcpdump -d) and exit\n"
           "  -D                 list the interfaces -i accepts and exit\n"
           "  EXPRESSION         a tcpdump filter (pcap-filter(7)): only matching packets count;\n"
           "                     live, it runs in the kernel (expressions with vlan run here, on\n"
           "                     the frame with its 802.1Q tag put back)\n"
           "  -h, --help         this text\n\n"
           "Fields match `tshark -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE\n"
           "-o udp.check_checksum:TRUE -o ip.defragment:FALSE -T fields -e FIELD`: absent\n"
           "fields are empty, repeated ones comma-separated, checksum.status is 1 good,\n"
           "0 bad, 2 unverified, 3 not present, 4 illegal.\n"
           "Exit status: 0 ok, 1 a file or the interface failed, 2 bad usage.\n",
           MAX_WORKERS);
}

static int parse_E(struct opts *o, const char *arg)
{
    if (!strcmp(arg, "header=y"))
        o->header = 1;
    else if (!strcmp(arg, "header=n"))
        o->header = 0;
    else if (!strcmp(arg, "separator=/t"))
        o->sep = '\t';
    else if (!strcmp(arg, "separator=/s"))
        o->sep = ' ';
    else if (!strncmp(arg, "separator=", 10) && strlen(arg) == 11)
        o->sep = arg[10];
    else
        return -1;
    return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    enum { O_PCAPNG = 256, O_NANO, O_COUNT, O_LIST, O_PROGRESS, O_STATS, O_FANOUT, O_FANOUT_MODE,
           O_DURATION, O_PRINT };
    static const struct option lo[] = {
        {"help", no_argument, NULL, 'h'},         {"pcapng", no_argument, NULL, O_PCAPNG},
        {"nano", no_argument, NULL, O_NANO},      {"count", no_argument, NULL, O_COUNT},
        {"list-fields", no_argument, NULL, O_LIST}, {"progress", no_argument, NULL, O_PROGRESS},
        {"stats", no_argument, NULL, O_STATS},    {"snaplen", required_argument, NULL, 's'},
        {"fanout", required_argument, NULL, O_FANOUT},
        {"fanout-mode", required_argument, NULL, O_FANOUT_MODE},
        {"duration", required_argument, NULL, O_DURATION},
        {"print", no_argument, NULL, O_PRINT},    {"interface", required_argument, NULL, 'i'},
        {NULL, 0, NULL, 0},
    };
    static const struct { const char *name; uint16_t mode; } modes[] = {
        {"hash", SN_RING_FANOUT_HASH}, {"lb", SN_RING_FANOUT_LB},         {"cpu", SN_RING_FANOUT_CPU},
        {"rollover", SN_RING_FANOUT_ROLLOVER}, {"random", SN_RING_FANOUT_RND}, {"qm", SN_RING_FANOUT_QM},
    };
    int c;
    uint64_t v;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":r:w:c:T:e:E:tnqhdDi:s:B:pQ:lU", lo, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return 0;
        case 'r': o->rfile = optarg; break;
        case 'w': o->wfile = optarg; break;
        case O_PCAPNG: o->wformat = SN_PCAP_NG; break;
        case O_NANO: o->wformat = SN_PCAP_NS; break;
        case O_COUNT: o->only_count = 1; break;
        case O_PROGRESS: o->progress = 1; break;
        case O_STATS: o->stats = 1; break;
        case 'q': o->quiet = 1; break;
        case 'd': o->dump = 1; break;
        case 'n': break;
        case 't': o->tstamp++; break;
        case 'c':
            if (tool_parse_u64(optarg, 1, UINT64_MAX, &v) < 0)
                return tool_usage("sniff", "-c wants a packet count >= 1, not '%s'", optarg);
            o->count = v;
            break;
        case 'T':
            if (!strcmp(optarg, "text"))
                o->mode = OUT_TEXT;
            else if (!strcmp(optarg, "fields"))
                o->mode = OUT_FIELDS;
            else if (!strcmp(optarg, "json"))
                o->mode = OUT_JSON;
            else
                return tool_usage("sniff", "-T wants text, fields or json, not '%s'", optarg);
            break;
        case 'e': {
            int id = sn_dissect_field_id(optarg);
            if (id < 0)
                return tool_usage("sniff", "unknown field '%s' (sysnet sniff --list-fields names them)", optarg);
            if (o->nfields == MAX_FIELDS)
                return tool_usage("sniff", "at most %d fields", MAX_FIELDS);
            o->field_names[o->nfields] = optarg;
            o->field_ids[o->nfields++] = id;
            break;
        }
        case 'E':
            if (parse_E(o, optarg) < 0)
                return tool_usage("sniff", "-E wants header=y|n or separator=/t|/s|C, not '%s'", optarg);
            break;
        case 'i': o->ifname = optarg; break;
        case 'D': {
            struct if_nameindex *ifs = if_nameindex();
            if (!ifs)
                return tool_err("sniff", "cannot list interfaces: %s", sn_strerror(-errno));
            for (struct if_nameindex *i = ifs; i->if_index; i++)
                printf("%u.%s\n", i->if_index, i->if_name);
            if_freenameindex(ifs);
            return 0;
        }
        case 's':
            if (tool_parse_u64(optarg, 0, UINT32_MAX, &v) < 0)
                return tool_usage("sniff", "-s wants a snapshot length in bytes, not '%s'", optarg);
            o->snaplen = v == 0 || v > DEF_SNAPLEN ? DEF_SNAPLEN : (uint32_t)v; /* tcpdump: 0 = default */
            if (o->snaplen < 14)
                return tool_usage("sniff", "-s %u would cut even the link header: at least 14", o->snaplen);
            break;
        case 'B':
            if (tool_parse_u64(optarg, 64, 1u << 21, &v) < 0)
                return tool_usage("sniff", "-B wants a ring size in KiB, 64..2097152, not '%s'", optarg);
            o->buffer_kib = v;
            break;
        case 'p': o->no_promisc = 1; break;
        case 'Q':
            if (!strcmp(optarg, "in"))
                o->dir = DIR_IN;
            else if (!strcmp(optarg, "out"))
                o->dir = DIR_OUT;
            else if (!strcmp(optarg, "inout"))
                o->dir = DIR_INOUT;
            else
                return tool_usage("sniff", "-Q wants in, out or inout, not '%s'", optarg);
            break;
        case 'l': o->line_buffered = 1; break;
        case 'U': o->packet_buffered = 1; break;
        case O_PRINT: o->print = 1; break;
        case O_FANOUT:
            if (tool_parse_u64(optarg, 1, MAX_WORKERS, &v) < 0)
                return tool_usage("sniff", "--fanout wants a number of workers, 1..%d, not '%s'", MAX_WORKERS, optarg);
            o->workers = (unsigned)v;
            break;
        case O_FANOUT_MODE: {
            size_t k = 0;
            while (k < SN_COUNTOF(modes) && strcmp(modes[k].name, optarg))
                k++;
            if (k == SN_COUNTOF(modes))
                return tool_usage("sniff", "--fanout-mode wants hash, lb, cpu, rollover, random or qm, not '%s'",
                                  optarg);
            o->fanout_mode = modes[k].mode;
            break;
        }
        case O_DURATION:
            if (tool_parse_u64(optarg, 1, 86400 * 365, &v) < 0)
                return tool_usage("sniff", "--duration wants seconds >= 1, not '%s'", optarg);
            o->duration_s = v;
            break;
        case O_LIST:
            for (const char *const *n = sn_dissect_field_names(); *n; n++)
                puts(*n);
            return 0;
        case ':': return tool_usage("sniff", "option -%c needs a value", optopt);
        default:
            if (optopt)
                return tool_usage("sniff", "unknown option -%c", optopt);
            return tool_usage("sniff", "unknown option '%s'", argv[optind - 1]);
        }
    }
    for (size_t k = 0; optind < argc; optind++) {
        size_t n = strlen(argv[optind]);
        if (k + n + 2 > sizeof(o->expr))
            return tool_usage("sniff", "filter expression too long");
        if (k)
            o->expr[k++] = ' ';
        memcpy(o->expr + k, argv[optind], n + 1);
        k += n;
    }
    if (o->dump && !o->expr[0])
        return tool_usage("sniff", "-d needs a filter expression");
    if (o->dump)
        return -1;
    if (!o->rfile && !o->ifname)
        return tool_usage("sniff", "no input: give an interface with -i IFACE or a capture file with -r FILE");
    if (o->rfile && o->ifname)
        return tool_usage("sniff", "-i and -r are exclusive: capture live or read a file");
    if (!o->ifname && (o->workers > 1 || o->fanout_mode || o->buffer_kib || o->duration_s))
        return tool_usage("sniff", "--fanout, --fanout-mode, -B and --duration are for live capture (-i)");
    if (o->ifname && !strcmp(o->ifname, "any"))
        return tool_usage("sniff", "-i any is not supported: capture on one interface (sysnet sniff -D lists them)");
    if (o->ifname && o->fanout_mode && o->workers < 2)
        return tool_usage("sniff", "--fanout-mode needs --fanout N with N >= 2");
    if (o->mode == OUT_FIELDS && o->nfields == 0)
        return tool_usage("sniff", "-T fields needs at least one -e FIELD");
    return -1; /* go on */
}

/* ---- output ------------------------------------------------------------------ */

static void print_time(const struct opts *o, int64_t ts, int64_t prev)
{
    int64_t s = ts / 1000000000, us = (ts % 1000000000) / 1000;
    switch (o->tstamp) {
    case 0:
    case 4: {
        time_t t = (time_t)s;
        struct tm tm;
        gmtime_r(&t, &tm);
        if (o->tstamp == 4)
            printf("%04d-%02d-%02d ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        printf("%02d:%02d:%02d.%06" PRId64 " ", tm.tm_hour, tm.tm_min, tm.tm_sec, us);
        break;
    }
    case 1: break;
    case 2: printf("%" PRId64 ".%06" PRId64 " ", s, us); break;
    default: {
        int64_t d = prev ? ts - prev : 0;
        printf("%" PRId64 ".%06" PRId64 " ", d / 1000000000, (d % 1000000000) / 1000);
    }
    }
}

static void print_text(const struct opts *o, const struct sn_dissect *d, int dr, int64_t ts, int64_t prev)
{
    char line[1024];
    print_time(o, ts, prev);
    if (dr < 0) {
        printf("linktype %u, length %u\n", d->linktype, d->wirelen);
        return;
    }
    sn_dissect_summary(d, line, sizeof(line));
    puts(line);
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

/* One value as a JSON string, or an array of strings when the field repeats. */
static void json_value(const char *v, int occurrences)
{
    if (occurrences == 1) {
        json_string(v);
        return;
    }
    putchar('[');
    char part[512];
    for (const char *p = v;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n >= sizeof(part))
            n = sizeof(part) - 1;
        memcpy(part, p, n);
        part[n] = 0;
        json_string(part);
        if (!comma)
            break;
        putchar(',');
        p = comma + 1;
    }
    putchar(']');
}

static void print_fields(const struct opts *o, const struct sn_dissect *d, const struct sn_frame_meta *m)
{
    char v[2048];
    for (int i = 0; i < o->nfields; i++) {
        if (i)
            putchar(o->sep);
        if (sn_dissect_field(d, m, o->field_ids[i], v, sizeof(v)) > 0)
            fputs(v, stdout);
    }
    putchar('\n');
}

static void print_json(const struct opts *o, const struct sn_dissect *d, const struct sn_frame_meta *m)
{
    char v[2048];
    const char *const *all = sn_dissect_field_names();
    int n = o->nfields ? o->nfields : 0, first = 1;
    if (!o->nfields)
        while (all[n])
            n++;
    putchar('{');
    for (int i = 0; i < n; i++) {
        int id = o->nfields ? o->field_ids[i] : i;
        int k = sn_dissect_field(d, m, id, v, sizeof(v));
        if (k <= 0)
            continue;
        if (!first)
            putchar(',');
        first = 0;
        json_string(all[id]);
        putchar(':');
        json_value(v, k);
    }
    puts("}");
}

/* Compile the expression for a link type; a one-line error naming the byte position. */
static int compile(struct opts *o, uint32_t linktype, uint32_t snaplen)
{
    struct sn_filter_err err;
    int n = sn_filter_compile(o->expr, linktype, snaplen, o->prog, SN_COUNTOF(o->prog), &err);
    if (n < 0)
        return tool_usage("sniff", "filter '%s': at byte %d: %s", o->expr, err.pos, err.msg);
    o->prog_len = n;
    return 0;
}

static int dump_program(struct opts *o)
{
    if (compile(o, SN_LINKTYPE_ETHERNET, 0))
        return 2;
    char line[128];
    for (int i = 0; i < o->prog_len; i++) {
        sn_filter_fmt(&o->prog[i], (unsigned)i, line, sizeof(line));
        puts(line);
    }
    return 0;
}

/* ---- the run: what file and live capture share ------------------------------- */

struct run {
    struct sn_pcap_reader r;
    struct sn_pcap_writer w;
    int writing;
    int per_packet;           /* print something for each packet */
    const char *what;         /* the input, for messages: file name or interface */
    uint64_t pkts, bytes;     /* matching packets so far */
    int64_t prev_ts;          /* -ttt */
    uint64_t t0, next_progress;
};

static void progress(struct run *run, int force)
{
    uint64_t now = sn_now_ns();
    if (!force && now < run->next_progress)
        return;
    run->next_progress = now + 1000000000ull;
    double secs = (double)(now - run->t0) / 1e9;
    fprintf(stderr, "sysnet sniff: %" PRIu64 " packets, %.1f MB in %.1f s (%.2f Mpps)\n", run->pkts,
            (double)run->bytes / 1e6, secs, secs > 0 ? (double)run->pkts / secs / 1e6 : 0.0);
}

static int open_writer(struct run *run, const struct opts *o, uint32_t linktype, uint32_t snaplen)
{
    struct sn_pcap_writer_opts wo = {
        .format = o->wformat ? o->wformat : SN_PCAP_US,
        .linktype = linktype,
        .snaplen = snaplen,
    };
    int rc = sn_pcap_writer_open(&run->w, o->wfile, &wo);
    if (rc < 0)
        return tool_err("sniff", "%s: %s", o->wfile, sn_strerror(rc));
    run->writing = 1;
    return 0;
}

static void print_header(const struct opts *o)
{
    if (o->mode == OUT_FIELDS && o->header && !o->quiet && !o->only_count) {
        for (int i = 0; i < o->nfields; i++)
            printf("%s%s", i ? (char[2]){o->sep, 0} : "", o->field_names[i]);
        putchar('\n');
    }
}

/* One matching packet: count it, write it, print it. 0, or the exit code of a write error. */
static int handle(struct run *run, const struct opts *o, int64_t ts, const uint8_t *data, uint32_t caplen,
                  uint32_t wirelen, uint32_t linktype)
{
    int rc;
    run->pkts++;
    run->bytes += caplen;
    if (run->writing) {
        rc = sn_pcap_write(&run->w, ts, data, caplen, wirelen);
        if (rc == 0 && o->packet_buffered)
            rc = sn_pcap_writer_flush(&run->w);
        if (rc < 0 && rc != -ERANGE)
            return tool_err("sniff", "%s: %s", o->wfile, sn_strerror(rc));
    }
    if (run->per_packet) {
        struct sn_dissect d;
        int dr = sn_dissect(data, caplen, wirelen, linktype, &d);
        if (dr < 0)
            d.n = 0; /* unknown link type: only frame.* fields */
        struct sn_frame_meta m = {run->pkts, ts};
        if (o->mode == OUT_TEXT)
            print_text(o, &d, dr, ts, run->prev_ts);
        else if (o->mode == OUT_FIELDS)
            print_fields(o, &d, &m);
        else
            print_json(o, &d, &m);
    }
    run->prev_ts = ts;
    return 0;
}

/* ---- reading a file ---------------------------------------------------------- */

static int file_loop(struct run *run, const struct opts *o)
{
    struct sn_pcap_pkt pkt;
    int rc = 0, ex;
    while ((!o->count || run->pkts < o->count) && (rc = sn_pcap_next(&run->r, &pkt)) > 0) {
        if (o->prog_len && !sn_filter_run(o->prog, (unsigned)o->prog_len, pkt.data, pkt.wirelen, pkt.caplen))
            continue;
        uint32_t caplen = o->snaplen && pkt.caplen > o->snaplen ? o->snaplen : pkt.caplen;
        if ((ex = handle(run, o, pkt.ts_ns, pkt.data, caplen, pkt.wirelen, pkt.linktype)) != 0)
            return ex;
        if (o->progress && (run->pkts & 4095) == 0)
            progress(run, 0);
    }
    if (o->count && run->pkts >= o->count)
        return 0;
    if (rc < 0) {
        fflush(stdout);
        return tool_err("sniff", "%s: %s (after %" PRIu64 " packets)", o->rfile, sn_pcap_errmsg(&run->r),
                        run->pkts);
    }
    return 0;
}

static int read_file(struct run *run, struct opts *o)
{
    int rc = sn_pcap_open(&run->r, o->rfile);
    if (rc < 0) {
        int ex = tool_err("sniff", "%s: %s", o->rfile,
                          rc == -ENOENT || rc == -EACCES || rc == -EISDIR ? sn_strerror(rc) : sn_pcap_errmsg(&run->r));
        sn_pcap_close(&run->r);
        return ex;
    }
    uint32_t lt = run->r.info.linktype == SN_PCAP_LINKTYPE_NONE ? SN_LINKTYPE_ETHERNET : run->r.info.linktype;
    if (o->expr[0] && compile(o, lt, 0)) {
        sn_pcap_close(&run->r);
        return 2;
    }
    uint32_t snap = run->r.info.snaplen;
    if (o->snaplen && (!snap || o->snaplen < snap))
        snap = o->snaplen;
    int ex = o->wfile ? open_writer(run, o, lt, snap) : 0;
    if (ex == 0) {
        print_header(o);
        ex = file_loop(run, o);
    }
    if (run->writing) {
        rc = sn_pcap_writer_close(&run->w);
        if (rc < 0 && !ex)
            ex = tool_err("sniff", "%s: %s", o->wfile, sn_strerror(rc));
    }
    sn_pcap_close(&run->r);
    return ex;
}

/* ---- live capture -------------------------------------------------------------
 * One ring per worker thread, all opened before any thread starts (so "listening
 * on" means it) and joined in one fanout group when there are several. Workers
 * read bursts in place and take the output lock once per burst: the file, stdout
 * and the counters are shared. Worker 0 is the main thread: SIGINT/SIGTERM are
 * blocked in the others, so the signal interrupts its poll(2) at once; the others
 * wait at most WAIT_MS before they see the stop flag. */

#define WAIT_MS 100
#define BURST 64

static _Atomic int g_stop;   /* a signal, -c reached, --duration over, or an error */
static _Atomic int g_signal; /* which signal stopped us (0 none) */

static void on_signal(int sig)
{
    atomic_store(&g_signal, sig);
    atomic_store(&g_stop, 1);
}

struct live;
struct worker {
    struct live *lv;
    struct sn_ring ring;
    pthread_t th;
    int started;
    int err;                  /* a ring error that stopped this worker */
    uint64_t pkts;            /* matching packets it delivered (--stats) */
    uint8_t frame[SN_PCAP_MAX_CAPLEN + 4]; /* a frame with its 802.1Q tag put back */
};

struct live {
    struct opts *o;
    struct run *run;
    uint32_t linktype;
    int user_filter;          /* run the filter here, on the rebuilt frame (vlan) */
    int ex;                   /* exit code of a write error */
    uint64_t deadline;        /* --duration, sn_now_ns() clock; 0 none */
    pthread_mutex_t lock;     /* run, stdout, ex */
    unsigned n;
    struct worker *w;
};

/* The packets of one burst, under the output lock. */
static void deliver(struct worker *wk, const struct sn_ring_pkt *pk, int n)
{
    struct live *lv = wk->lv;
    const struct opts *o = lv->o;
    pthread_mutex_lock(&lv->lock);
    for (int i = 0; i < n && !lv->ex; i++) {
        const struct sn_ring_pkt *p = &pk[i];
        if (o->count && lv->run->pkts >= o->count)
            break;
        if ((o->dir == DIR_IN && p->pkttype == PACKET_OUTGOING) || (o->dir == DIR_OUT && p->pkttype != PACKET_OUTGOING))
            continue;
        const uint8_t *data = p->data;
        uint32_t caplen = p->caplen, wirelen = p->wirelen;
        if (p->vlan_valid) {
            int k = sn_ring_vlan_rebuild(p, wk->frame, sizeof(wk->frame), &wirelen);
            if (k >= 0) {
                data = wk->frame;
                caplen = (uint32_t)k;
            }
        }
        if (lv->user_filter && !sn_filter_run(o->prog, (unsigned)o->prog_len, data, wirelen, caplen))
            continue;
        if (o->snaplen && caplen > o->snaplen)
            caplen = o->snaplen; /* the tag put back may have added 4 bytes */
        lv->ex = handle(lv->run, o, (int64_t)p->ts_ns, data, caplen, wirelen, lv->linktype);
        wk->pkts++;
    }
    if (lv->ex || (o->count && lv->run->pkts >= o->count))
        atomic_store(&g_stop, 1);
    if (o->progress && wk == lv->w)
        progress(lv->run, 0);
    pthread_mutex_unlock(&lv->lock);
}

static void *worker_main(void *arg)
{
    struct worker *wk = arg;
    struct live *lv = wk->lv;
    struct sn_ring_pkt pk[BURST];
    while (!atomic_load(&g_stop)) {
        int n = sn_ring_next_burst(&wk->ring, pk, BURST, WAIT_MS);
        if (n > 0)
            deliver(wk, pk, n);
        else if (n < 0 && n != -EINTR) {
            wk->err = n;
            atomic_store(&g_stop, 1);
        }
        if (lv->deadline && sn_now_ns() >= lv->deadline)
            atomic_store(&g_stop, 1);
        if (n == 0 && lv->o->progress && wk == lv->w) {
            pthread_mutex_lock(&lv->lock);
            progress(lv->run, 0);
            pthread_mutex_unlock(&lv->lock);
        }
    }
    /* Hand the last block back: nothing more is read from it. */
    sn_ring_release(&wk->ring);
    return NULL;
}

static const char *linktype_name(uint32_t lt)
{
    return lt == SN_LINKTYPE_ETHERNET ? "EN10MB (Ethernet)" : lt == SN_LINKTYPE_RAW ? "RAW (Raw IP)" : "?";
}

static int open_rings(struct live *lv, const struct opts *o)
{
    struct sn_ring_opts ro = {
        .ifname = o->ifname,
        .snaplen = o->snaplen >= DEF_SNAPLEN ? 0 : o->snaplen, /* a block holds less anyway */
        .flags = o->no_promisc ? 0 : SN_RING_PROMISC,
    };
    if (o->buffer_kib) {
        uint64_t total = o->buffer_kib * 1024;
        ro.block_size = SN_RING_DEF_BLOCK_SIZE;
        if (total / ro.block_size < 4) /* keep at least 4 blocks, so the kernel has one to fill */
            ro.block_size = (uint32_t)((total / 4) & ~(uint64_t)4095);
        if (ro.block_size < 4096)
            ro.block_size = 4096;
        ro.block_count = (uint32_t)(total / ro.block_size);
    }
    /* On loopback each packet would be seen twice, leaving and arriving: keep the
     * arrival (libpcap drops the outgoing copy too). -Q out keeps the other. */
    int loopback = !strcmp(o->ifname, "lo");
    if ((loopback && o->dir != DIR_OUT) || o->dir == DIR_IN)
        ro.flags |= SN_RING_NO_OUTGOING;
    if (o->prog_len && !lv->user_filter) {
        ro.filter = o->prog;
        ro.filter_len = (unsigned)o->prog_len;
    }
    if (lv->n > 1) {
        ro.fanout_group = (uint16_t)(getpid() & 0xffff);
        ro.fanout_mode = o->fanout_mode ? o->fanout_mode : SN_RING_FANOUT_HASH;
        ro.fanout_flags = SN_RING_FANOUT_FLAG_DEFRAG;
    }
    for (unsigned i = 0; i < lv->n; i++) {
        int rc = sn_ring_open(&lv->w[i].ring, &ro);
        if (rc < 0) {
            const char *hint = sn_ring_hint(rc);
            return tool_err("sniff", "%s: %s%s%s", o->ifname, sn_strerror(rc), hint ? ": " : "", hint ? hint : "");
        }
    }
    return 0;
}

static int capture(struct run *run, struct opts *o)
{
    struct live lv = {.o = o, .run = run, .n = o->workers ? o->workers : 1};
    if (!o->snaplen)
        o->snaplen = DEF_SNAPLEN;
    int lt = sn_ring_linktype_of(o->ifname);
    if (lt < 0) {
        const char *hint = sn_ring_hint(lt);
        return tool_err("sniff", "%s: %s%s%s", o->ifname,
                        lt == -EPROTONOSUPPORT ? "link type not supported (not Ethernet, loopback or raw IP)"
                                               : sn_strerror(lt),
                        hint ? ": " : "", hint ? hint : "");
    }
    lv.linktype = (uint32_t)lt;
    if (o->expr[0]) {
        if (compile(o, lv.linktype, o->snaplen))
            return 2;
        /* The kernel strips 802.1Q tags before packet sockets see a frame, so a
         * program that reads the tag from the frame would never match there. */
        lv.user_filter = strstr(o->expr, "vlan") != NULL;
    }
    lv.w = calloc(lv.n, sizeof(*lv.w));
    if (!lv.w)
        return tool_err("sniff", "out of memory");
    for (unsigned i = 0; i < lv.n; i++) {
        lv.w[i].lv = &lv;
        lv.w[i].ring.fd = -1;
    }
    pthread_mutex_init(&lv.lock, NULL);
    int ex = open_rings(&lv, o);
    if (!ex && o->wfile)
        ex = open_writer(run, o, lv.linktype, o->snaplen);
    if (!ex) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESETHAND; /* a second ^C kills */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        fprintf(stderr, "sysnet sniff: listening on %s, link-type %s, snapshot length %u bytes\n", o->ifname,
                linktype_name(lv.linktype), o->snaplen);
        if (lv.n > 1)
            fprintf(stderr, "sysnet sniff: %u workers in fanout group %u\n", lv.n, (unsigned)(getpid() & 0xffff));
        fflush(stderr);
        print_header(o);
        run->t0 = sn_now_ns();
        run->next_progress = run->t0 + 1000000000ull;
        if (o->duration_s)
            lv.deadline = run->t0 + o->duration_s * 1000000000ull;
        /* Workers 1.. run with the stop signals blocked. */
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &block, &old);
        for (unsigned i = 1; i < lv.n; i++) {
            int rc = pthread_create(&lv.w[i].th, NULL, worker_main, &lv.w[i]);
            if (rc) {
                ex = tool_err("sniff", "cannot start worker %u: %s", i, sn_strerror(-rc));
                atomic_store(&g_stop, 1);
                break;
            }
            lv.w[i].started = 1;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        worker_main(&lv.w[0]);
        for (unsigned i = 1; i < lv.n; i++)
            if (lv.w[i].started)
                pthread_join(lv.w[i].th, NULL);
    }
    /* Flush the file, then the statistics, as tcpdump does. */
    if (run->writing) {
        int rc = sn_pcap_writer_close(&run->w);
        if (rc < 0 && !ex && !lv.ex)
            ex = tool_err("sniff", "%s: %s", o->wfile, sn_strerror(rc));
    }
    if (!ex)
        ex = lv.ex;
    struct sn_ring_stats tot = {0};
    int opened = 0;
    for (unsigned i = 0; i < lv.n; i++) {
        struct sn_ring_stats st;
        if (lv.w[i].ring.map && sn_ring_stats(&lv.w[i].ring, &st) == 0) {
            tot.packets += st.packets;
            tot.drops += st.drops;
            opened = 1;
            if (o->stats)
                fprintf(stderr,
                        "sysnet sniff: worker %u: %" PRIu64 " matched, %" PRIu64 " received by filter, %" PRIu64
                        " dropped, %" PRIu64 " ring freezes, %" PRIu64 " blocks (%" PRIu64 " by timeout)\n",
                        i, lv.w[i].pkts, st.packets, st.drops, st.freezes, st.blocks, st.blocks_timeout);
        }
        if (lv.w[i].err && !ex) {
            const char *hint = sn_ring_hint(lv.w[i].err);
            ex = tool_err("sniff", "%s: %s%s%s", o->ifname, sn_strerror(lv.w[i].err), hint ? ": " : "",
                          hint ? hint : "");
        }
        sn_ring_close(&lv.w[i].ring);
    }
    if (o->only_count)
        printf("%" PRIu64 "\n", run->pkts);
    fflush(stdout);
    if (opened) {
        if (o->progress || o->stats)
            progress(run, 1);
        fprintf(stderr, "%" PRIu64 " packet%s captured\n", run->pkts, run->pkts == 1 ? "" : "s");
        fprintf(stderr, "%" PRIu64 " packet%s received by filter\n", tot.packets, tot.packets == 1 ? "" : "s");
        fprintf(stderr, "%" PRIu64 " packet%s dropped by kernel\n", tot.drops, tot.drops == 1 ? "" : "s");
    }
    pthread_mutex_destroy(&lv.lock);
    free(lv.w);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return ex;
}

int cmd_sniff(int argc, char **argv)
{
    static struct opts o;
    memset(&o, 0, sizeof(o));
    o.sep = '\t';
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (o.dump)
        return dump_program(&o);
    static char outbuf[1 << 20];
    if (o.line_buffered || (o.ifname && isatty(STDOUT_FILENO)))
        setvbuf(stdout, NULL, _IOLBF, 0);
    else
        setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));

    static struct run run;
    memset(&run, 0, sizeof(run));
    run.what = o.ifname ? o.ifname : o.rfile;
    int to_stdout = o.wfile && !strcmp(o.wfile, "-");
    run.per_packet = !o.quiet && !o.only_count && !to_stdout && !(o.ifname && o.wfile && !o.print);
    run.t0 = sn_now_ns();
    run.next_progress = run.t0 + 1000000000ull;
    int ex = o.ifname ? capture(&run, &o) : read_file(&run, &o);
    if (!o.ifname) {
        if (o.only_count)
            printf("%" PRIu64 "\n", run.pkts);
        fflush(stdout);
        if (o.progress || o.stats)
            progress(&run, 1);
        if (o.stats && o.wfile)
            fprintf(stderr, "sysnet sniff: %" PRIu64 " packets written to %s\n", run.pkts, o.wfile);
    }
    return ex;
}
