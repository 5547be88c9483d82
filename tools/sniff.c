/* sniff.c — `sysnet sniff`: read a capture file and print its packets as
 * tcpdump-like lines, tshark-compatible fields (-T fields -e ...) or JSON,
 * and optionally write them to a new capture file. */
#include "tool.h"

#include <sysnet/filter.h>
#include <sysnet/pcap.h>
#include <sysnet/wire.h>

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_FIELDS 128

enum out_mode { OUT_TEXT, OUT_FIELDS, OUT_JSON };

struct opts {
    const char *rfile, *wfile;
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
    printf("usage: sysnet sniff -r FILE [options] [EXPRESSION]\n"
           "       sysnet sniff -d EXPRESSION\n"
           "Read a capture file (pcap or pcapng, any byte order, \"-\" = stdin) and print its packets.\n\n"
           "  -r FILE            read packets from FILE\n"
           "  -w FILE            also write them to FILE (pcap, microseconds; \"-\" = stdout)\n"
           "      --pcapng       write pcapng instead (nanosecond stamps)\n"
           "      --nano         write pcap with nanosecond stamps\n"
           "  -c N               stop after N packets\n"
           "  -T text|fields|json  output: tcpdump-like lines (default), tab-separated\n"
           "                     fields, or one JSON object per packet\n"
           "  -e FIELD           a field to print, tshark's name and format (repeatable);\n"
           "                     with -T json and no -e, every field present is printed\n"
           "  -E header=y|n      -T fields: first line names the fields\n"
           "  -E separator=/t|/s|C  -T fields: the separator (tab, space or a character)\n"
           "  -t                 no timestamp; -tt epoch seconds; -ttt delta; -tttt date and time\n"
           "  -n                 numeric addresses (always so; accepted for tcpdump habits)\n"
           "  -q                 print nothing per packet\n"
           "      --count        print only the number of packets\n"
           "      --stats        statistics on stderr at the end\n"
           "      --progress     a progress line on stderr every second\n"
           "      --list-fields  the names -e accepts\n"
           "  -d                 print the compiled classic BPF program (as tcpdump -d) and exit\n"
           "  EXPRESSION         a tcpdump filter (pcap-filter(7)): only matching packets count\n"
           "  -h, --help         this text\n\n"
           "Fields match `tshark -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE\n"
           "-o udp.check_checksum:TRUE -o ip.defragment:FALSE -T fields -e FIELD`: absent\n"
           "fields are empty, repeated ones comma-separated, checksum.status is 1 good,\n"
           "0 bad, 2 unverified, 3 not present, 4 illegal.\n"
           "Exit status: 0 ok, 1 a file could not be read or written, 2 bad usage.\n");
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
    enum { O_PCAPNG = 256, O_NANO, O_COUNT, O_LIST, O_PROGRESS, O_STATS };
    static const struct option lo[] = {
        {"help", no_argument, NULL, 'h'},         {"pcapng", no_argument, NULL, O_PCAPNG},
        {"nano", no_argument, NULL, O_NANO},      {"count", no_argument, NULL, O_COUNT},
        {"list-fields", no_argument, NULL, O_LIST}, {"progress", no_argument, NULL, O_PROGRESS},
        {"stats", no_argument, NULL, O_STATS},    {NULL, 0, NULL, 0},
    };
    int c;
    uint64_t v;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":r:w:c:T:e:E:tnqhdi:", lo, NULL)) != -1) {
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
        case 'i':
            return tool_usage("sniff", "live capture (-i) arrives with the ring module; read a file with -r");
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
    if (!o->rfile)
        return tool_usage("sniff", "no input: give a capture file with -r FILE");
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
static int compile(struct opts *o, uint32_t linktype)
{
    struct sn_filter_err err;
    int n = sn_filter_compile(o->expr, linktype, 0, o->prog, SN_COUNTOF(o->prog), &err);
    if (n < 0)
        return tool_usage("sniff", "filter '%s': at byte %d: %s", o->expr, err.pos, err.msg);
    o->prog_len = n;
    return 0;
}

static int dump_program(struct opts *o)
{
    if (compile(o, SN_LINKTYPE_ETHERNET))
        return 2;
    char line[128];
    for (int i = 0; i < o->prog_len; i++) {
        sn_filter_fmt(&o->prog[i], (unsigned)i, line, sizeof(line));
        puts(line);
    }
    return 0;
}

/* ---- the run ----------------------------------------------------------------- */

struct run {
    struct sn_pcap_reader r;
    struct sn_pcap_writer w;
    int writing;
    uint64_t pkts, bytes;
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

static int open_writer(struct run *run, const struct opts *o)
{
    struct sn_pcap_writer_opts wo = {
        .format = o->wformat ? o->wformat : SN_PCAP_US,
        .linktype = run->r.info.linktype == SN_PCAP_LINKTYPE_NONE ? SN_LINKTYPE_ETHERNET : run->r.info.linktype,
        .snaplen = run->r.info.snaplen,
    };
    int rc = sn_pcap_writer_open(&run->w, o->wfile, &wo);
    if (rc < 0)
        return tool_err("sniff", "%s: %s", o->wfile, sn_strerror(rc));
    run->writing = 1;
    return 0;
}

static int loop(struct run *run, const struct opts *o)
{
    struct sn_pcap_pkt pkt;
    struct sn_dissect d;
    int64_t prev = 0;
    int rc = 0;
    int per_packet = !o->quiet && !o->only_count && !(o->wfile && !strcmp(o->wfile, "-"));
    while ((!o->count || run->pkts < o->count) && (rc = sn_pcap_next(&run->r, &pkt)) > 0) {
        if (o->prog_len && !sn_filter_run(o->prog, (unsigned)o->prog_len, pkt.data, pkt.wirelen, pkt.caplen))
            continue;
        run->pkts++;
        run->bytes += pkt.caplen;
        if (run->writing && (rc = sn_pcap_write(&run->w, pkt.ts_ns, pkt.data, pkt.caplen, pkt.wirelen)) < 0 &&
            rc != -ERANGE)
            return tool_err("sniff", "%s: %s", o->wfile, sn_strerror(rc));
        if (per_packet) {
            int dr = sn_dissect(pkt.data, pkt.caplen, pkt.wirelen, pkt.linktype, &d);
            if (dr < 0)
                d.n = 0; /* unknown link type: only frame.* fields */
            struct sn_frame_meta m = {run->pkts, pkt.ts_ns};
            if (o->mode == OUT_TEXT)
                print_text(o, &d, dr, pkt.ts_ns, prev);
            else if (o->mode == OUT_FIELDS)
                print_fields(o, &d, &m);
            else
                print_json(o, &d, &m);
        }
        prev = pkt.ts_ns;
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
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));

    struct run run;
    memset(&run, 0, sizeof(run));
    rc = sn_pcap_open(&run.r, o.rfile);
    if (rc < 0) {
        int ex = tool_err("sniff", "%s: %s", o.rfile,
                          rc == -ENOENT || rc == -EACCES || rc == -EISDIR ? sn_strerror(rc) : sn_pcap_errmsg(&run.r));
        sn_pcap_close(&run.r);
        return ex;
    }
    if (o.expr[0]) {
        uint32_t lt = run.r.info.linktype == SN_PCAP_LINKTYPE_NONE ? SN_LINKTYPE_ETHERNET : run.r.info.linktype;
        if (compile(&o, lt)) {
            sn_pcap_close(&run.r);
            return 2;
        }
    }
    run.t0 = sn_now_ns();
    run.next_progress = run.t0 + 1000000000ull;
    int ex = o.wfile ? open_writer(&run, &o) : 0;
    if (ex == 0 && o.mode == OUT_FIELDS && o.header && !o.quiet && !o.only_count) {
        for (int i = 0; i < o.nfields; i++)
            printf("%s%s", i ? (char[2]){o.sep, 0} : "", o.field_names[i]);
        putchar('\n');
    }
    if (ex == 0)
        ex = loop(&run, &o);
    if (run.writing) {
        rc = sn_pcap_writer_close(&run.w);
        if (rc < 0 && !ex)
            ex = tool_err("sniff", "%s: %s", o.wfile, sn_strerror(rc));
    }
    if (o.only_count)
        printf("%" PRIu64 "\n", run.pkts);
    fflush(stdout);
    if (o.progress || o.stats)
        progress(&run, 1);
    if (o.stats && o.wfile)
        fprintf(stderr, "sysnet sniff: %" PRIu64 " packets written to %s\n", run.pkts, o.wfile);
    sn_pcap_close(&run.r);
    return ex;
}
