/* lex.c — tokens of tcpdump's expression language, as libpcap's scanner.l cuts
 * them: the longest match wins, and on a tie the earlier rule (keyword, MAC
 * address, number, dotted IPv4, IPv6, name). So "10-20" is one name (used by
 * portrange), "len-1" too (a syntax error, as in tcpdump), "001122334455" is a
 * MAC address. Numbers are decimal, 0x hex or leading-0 octal, 32 bits. */
#include "filter_int.h"

#include <errno.h>
#include <string.h>
#include <sysnet/sock.h>

struct kwdef {
    const char *s;
    uint16_t kw;
};

/* Keywords (scanner.l). Those this compiler does not implement are still
 * keywords, so they are refused by name rather than taken for host names. */
static const struct kwdef kwtab[] = {
    {"dst", K_DST}, {"src", K_SRC}, {"host", K_HOST}, {"net", K_NET},
    {"mask", K_MASK}, {"port", K_PORT}, {"portrange", K_PORTRANGE}, {"proto", K_PROTO},
    {"less", K_LESS}, {"greater", K_GREATER}, {"byte", K_BYTE},
    {"link", K_LINK}, {"ether", K_LINK}, {"ppp", K_LINK}, {"slip", K_LINK},
    {"fddi", K_LINK}, {"tr", K_LINK}, {"wlan", K_LINK},
    {"ip", K_IP}, {"ip6", K_IP6}, {"arp", K_ARP}, {"rarp", K_RARP}, {"sctp", K_SCTP},
    {"tcp", K_TCP}, {"udp", K_UDP}, {"icmp", K_ICMP}, {"icmp6", K_ICMP6}, {"igmp", K_IGMP},
    {"igrp", K_IGRP}, {"pim", K_PIM}, {"vrrp", K_VRRP}, {"carp", K_CARP}, {"ah", K_AH},
    {"esp", K_ESP}, {"broadcast", K_BROADCAST}, {"multicast", K_MULTICAST},
    {"and", K_AND}, {"or", K_OR}, {"not", K_NOT}, {"len", K_LEN}, {"length", K_LEN},
    {"vlan", K_VLAN},
    {"gateway", K_UNSUPPORTED}, {"protochain", K_UNSUPPORTED}, {"atalk", K_UNSUPPORTED},
    {"aarp", K_UNSUPPORTED}, {"decnet", K_UNSUPPORTED}, {"lat", K_UNSUPPORTED},
    {"sca", K_UNSUPPORTED}, {"moprc", K_UNSUPPORTED}, {"mopdl", K_UNSUPPORTED},
    {"iso", K_UNSUPPORTED}, {"esis", K_UNSUPPORTED}, {"es-is", K_UNSUPPORTED},
    {"isis", K_UNSUPPORTED}, {"is-is", K_UNSUPPORTED}, {"l1", K_UNSUPPORTED},
    {"l2", K_UNSUPPORTED}, {"iih", K_UNSUPPORTED}, {"lsp", K_UNSUPPORTED},
    {"snp", K_UNSUPPORTED}, {"csnp", K_UNSUPPORTED}, {"psnp", K_UNSUPPORTED},
    {"clnp", K_UNSUPPORTED}, {"stp", K_UNSUPPORTED}, {"ipx", K_UNSUPPORTED},
    {"netbeui", K_UNSUPPORTED}, {"radio", K_UNSUPPORTED}, {"inbound", K_UNSUPPORTED},
    {"outbound", K_UNSUPPORTED}, {"ifindex", K_UNSUPPORTED}, {"mpls", K_UNSUPPORTED},
    {"pppoed", K_UNSUPPORTED}, {"pppoes", K_UNSUPPORTED}, {"geneve", K_UNSUPPORTED},
    {"lane", K_UNSUPPORTED}, {"llc", K_UNSUPPORTED}, {"metac", K_UNSUPPORTED},
    {"bcc", K_UNSUPPORTED}, {"oam", K_UNSUPPORTED}, {"oamf4", K_UNSUPPORTED},
    {"oamf4ec", K_UNSUPPORTED}, {"oamf4sc", K_UNSUPPORTED}, {"sc", K_UNSUPPORTED},
    {"ilmic", K_UNSUPPORTED}, {"vpi", K_UNSUPPORTED}, {"vci", K_UNSUPPORTED},
    {"connectmsg", K_UNSUPPORTED}, {"metaconnect", K_UNSUPPORTED}, {"on", K_UNSUPPORTED},
    {"ifname", K_UNSUPPORTED}, {"rnr", K_UNSUPPORTED}, {"rulenum", K_UNSUPPORTED},
    {"srnr", K_UNSUPPORTED}, {"subrulenum", K_UNSUPPORTED}, {"reason", K_UNSUPPORTED},
    {"rset", K_UNSUPPORTED}, {"ruleset", K_UNSUPPORTED}, {"action", K_UNSUPPORTED},
    {"fisu", K_UNSUPPORTED}, {"lssu", K_UNSUPPORTED}, {"lsu", K_UNSUPPORTED},
    {"msu", K_UNSUPPORTED}, {"hfisu", K_UNSUPPORTED}, {"hlssu", K_UNSUPPORTED},
    {"hmsu", K_UNSUPPORTED}, {"sio", K_UNSUPPORTED}, {"opc", K_UNSUPPORTED},
    {"dpc", K_UNSUPPORTED}, {"sls", K_UNSUPPORTED}, {"hsio", K_UNSUPPORTED},
    {"hopc", K_UNSUPPORTED}, {"hdpc", K_UNSUPPORTED}, {"hsls", K_UNSUPPORTED},
    {"type", K_UNSUPPORTED}, {"subtype", K_UNSUPPORTED}, {"direction", K_UNSUPPORTED},
    {"dir", K_UNSUPPORTED}, {"address1", K_UNSUPPORTED}, {"addr1", K_UNSUPPORTED},
    {"address2", K_UNSUPPORTED}, {"addr2", K_UNSUPPORTED}, {"address3", K_UNSUPPORTED},
    {"addr3", K_UNSUPPORTED}, {"address4", K_UNSUPPORTED}, {"addr4", K_UNSUPPORTED},
    {"ra", K_UNSUPPORTED}, {"ta", K_UNSUPPORTED},
};

struct constdef {
    const char *s;
    uint32_t v;
};

/* Named constants that scanner.l turns into numbers (header offsets, ICMP types,
 * TCP flag bits). */
static const struct constdef consttab[] = {
    {"icmptype", 0}, {"icmpcode", 1},
    {"icmp-echoreply", 0}, {"icmp-unreach", 3}, {"icmp-sourcequench", 4},
    {"icmp-redirect", 5}, {"icmp-echo", 8}, {"icmp-routeradvert", 9},
    {"icmp-routersolicit", 10}, {"icmp-timxceed", 11}, {"icmp-paramprob", 12},
    {"icmp-tstamp", 13}, {"icmp-tstampreply", 14}, {"icmp-ireq", 15},
    {"icmp-ireqreply", 16}, {"icmp-maskreq", 17}, {"icmp-maskreply", 18},
    {"icmp6type", 0}, {"icmp6code", 1},
    {"icmp6-destinationunreach", 1}, {"icmp6-packettoobig", 2}, {"icmp6-timeexceeded", 3},
    {"icmp6-parameterproblem", 4}, {"icmp6-echo", 128}, {"icmp6-echoreply", 129},
    {"icmp6-multicastlistenerquery", 130}, {"icmp6-multicastlistenerreportv1", 131},
    {"icmp6-multicastlistenerdone", 132}, {"icmp6-routersolicit", 133},
    {"icmp6-routeradvert", 134}, {"icmp6-neighborsolicit", 135},
    {"icmp6-neighboradvert", 136}, {"icmp6-redirect", 137}, {"icmp6-routerrenum", 138},
    {"icmp6-nodeinformationquery", 139}, {"icmp6-nodeinformationresponse", 140},
    {"icmp6-ineighbordiscoverysolicit", 141}, {"icmp6-ineighbordiscoveryadvert", 142},
    {"icmp6-multicastlistenerreportv2", 143}, {"icmp6-homeagentdiscoveryrequest", 144},
    {"icmp6-homeagentdiscoveryreply", 145}, {"icmp6-mobileprefixsolicit", 146},
    {"icmp6-mobileprefixadvert", 147}, {"icmp6-certpathsolicit", 148},
    {"icmp6-certpathadvert", 149}, {"icmp6-multicastrouteradvert", 151},
    {"icmp6-multicastroutersolicit", 152}, {"icmp6-multicastrouterterm", 153},
    {"tcpflags", 13}, {"tcp-fin", 0x01}, {"tcp-syn", 0x02}, {"tcp-rst", 0x04},
    {"tcp-push", 0x08}, {"tcp-ack", 0x10}, {"tcp-urg", 0x20}, {"tcp-ece", 0x40},
    {"tcp-cwr", 0x80},
};

static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_xdigit(int c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static int is_alnum(int c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int xval(int c) { return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10; }

/* {N}: [0-9]+ | 0[xX][0-9A-Fa-f]+ */
static size_t m_num(const char *s, size_t n)
{
    size_t i = 0;
    if (n >= 3 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && is_xdigit((unsigned char)s[2])) {
        i = 2;
        while (i < n && is_xdigit((unsigned char)s[i]))
            i++;
        return i;
    }
    while (i < n && is_digit((unsigned char)s[i]))
        i++;
    return i;
}

/* {N}.{N}, {N}.{N}.{N}, {N}.{N}.{N}.{N} */
static size_t m_hid(const char *s, size_t n)
{
    size_t i = m_num(s, n), best = 0;
    int parts = 1;
    if (i == 0)
        return 0;
    while (parts < 4 && i < n && s[i] == '.') {
        size_t l = m_num(s + i + 1, n - i - 1);
        if (l == 0)
            break;
        i += 1 + l;
        parts++;
        best = i;
    }
    return best;
}

/* [A-Za-z0-9]([-_.A-Za-z0-9]*[.A-Za-z0-9])? */
static size_t m_id(const char *s, size_t n)
{
    size_t i = 1;
    if (n == 0 || !is_alnum((unsigned char)s[0]))
        return 0;
    while (i < n && (is_alnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_' || s[i] == '.'))
        i++;
    while (i > 1 && (s[i - 1] == '-' || s[i - 1] == '_'))
        i--;
    return i;
}

/* MAC addresses: six groups of one or two hex digits joined by ':', '-' or '.'
 * (the same throughout), three dot-separated groups of four hex digits, or twelve
 * hex digits. Fills mac. */
static size_t m_mac(const char *s, size_t n, uint8_t mac[6])
{
    size_t i;
    /* 12 hex digits */
    for (i = 0; i < n && is_xdigit((unsigned char)s[i]); i++)
        ;
    if (i == 12) {
        for (int g = 0; g < 6; g++)
            mac[g] = (uint8_t)(xval(s[2 * g]) << 4 | xval(s[2 * g + 1]));
        return 12;
    }
    /* xxxx.xxxx.xxxx */
    if (n >= 14 && s[4] == '.' && s[9] == '.') {
        int ok = 1;
        for (int g = 0; g < 3 && ok; g++)
            for (int d = 0; d < 4; d++)
                ok &= is_xdigit((unsigned char)s[g * 5 + d]);
        if (ok && !(n > 14 && (is_xdigit((unsigned char)s[14]) || s[14] == '.'))) {
            for (int g = 0; g < 3; g++) {
                mac[2 * g] = (uint8_t)(xval(s[g * 5]) << 4 | xval(s[g * 5 + 1]));
                mac[2 * g + 1] = (uint8_t)(xval(s[g * 5 + 2]) << 4 | xval(s[g * 5 + 3]));
            }
            return 14;
        }
    }
    /* B sep B sep ... (6 groups) */
    char sep = 0;
    i = 0;
    for (int g = 0; g < 6; g++) {
        if (g > 0) {
            if (i >= n || (s[i] != ':' && s[i] != '-' && s[i] != '.'))
                return 0;
            if (g == 1)
                sep = s[i];
            else if (s[i] != sep)
                return 0;
            i++;
        }
        if (i >= n || !is_xdigit((unsigned char)s[i]))
            return 0;
        unsigned v = (unsigned)xval(s[i++]);
        if (i < n && is_xdigit((unsigned char)s[i]))
            v = v << 4 | (unsigned)xval(s[i++]);
        mac[g] = (uint8_t)v;
    }
    return i;
}

/* The longest prefix of s that is an IPv6 address (it must hold a ':'). */
static size_t m_v6(const char *s, size_t n, uint8_t out[16])
{
    size_t run = 0;
    int colon = 0;
    while (run < n && run < SN_IPV6_STRLEN && (is_xdigit((unsigned char)s[run]) || s[run] == ':' || s[run] == '.')) {
        colon |= s[run] == ':';
        run++;
    }
    if (!colon)
        return 0;
    for (size_t l = run; l >= 2; l--)
        if (sn_parse_ipv6(s, l, out) == 0)
            return l;
    return 0;
}

/* stoulen() of scanner.l: decimal, 0x hex, 0 octal, at most 32 bits. */
static void conv_num(struct fstate *fs, const char *s, size_t n, int pos, uint32_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    int base = 10;
    if (n > 1 && s[0] == '0') {
        if (s[1] == 'x' || s[1] == 'X') {
            base = 16;
            i = 2;
        } else {
            base = 8;
            i = 1;
        }
    }
    for (; i < n; i++) {
        int d = xval((unsigned char)s[i]);
        if (base == 8 && d > 7)
            fs_error(fs, pos, "number %.*s contains a non-octal digit", (int)n, s);
        v = v * (unsigned)base + (unsigned)d;
        if (v > 0xffffffffu)
            fs_error(fs, pos, "number %.*s overflows 32 bits", (int)n, s);
    }
    *out = (uint32_t)v;
}

static void add_tok(struct fstate *fs, const struct ftok *t)
{
    fs->toks[fs->ntoks++] = *t;
}

int fs_lex(struct fstate *fs)
{
    const char *e = fs->expr;
    size_t n = fs->len, i = 0;

    /* Every token takes at least one byte: len + 1 slots are enough. */
    fs->toks = fs_alloc(fs, (n + 1) * sizeof(struct ftok));
    fs->ntoks = 0;
    while (i < n) {
        struct ftok t;
        unsigned char c = (unsigned char)e[i];
        memset(&t, 0, sizeof t);
        t.pos = (int)i;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            i++;
            continue;
        }
        /* punctuation, two characters first */
        static const struct { char s[3]; uint8_t kind; uint16_t v; } two[] = {
            {">=", T_OP, OP_GEQ}, {"<=", T_OP, OP_LEQ}, {"!=", T_OP, OP_NEQ}, {"==", T_OP, '='},
            {"<<", T_OP, OP_LSH}, {">>", T_OP, OP_RSH}, {"&&", T_KW, K_AND}, {"||", T_KW, K_OR},
        };
        int done = 0;
        if (i + 1 < n)
            for (size_t j = 0; j < SN_COUNTOF(two); j++)
                if (e[i] == two[j].s[0] && e[i + 1] == two[j].s[1]) {
                    t.kind = two[j].kind;
                    t.kw = two[j].v;
                    t.len = 2;
                    done = 1;
                    break;
                }
        if (!done && c && strchr("+-*/%:[]!<>()&|^=", c)) {
            t.kind = T_OP;
            t.kw = c;
            t.len = 1;
            if (c == '!') {
                t.kind = T_KW;
                t.kw = K_NOT;
            }
            done = 1;
        }
        if (!done && c == '\\') {
            /* "\\"[^ !()\n\t]+ : a name that is not a keyword (ip proto \tcp) */
            size_t j = i + 1;
            while (j < n && e[j] != ' ' && e[j] != '!' && e[j] != '(' && e[j] != ')' &&
                   e[j] != '\n' && e[j] != '\t' && e[j] != 0)
                j++;
            if (j == i + 1)
                fs_error(fs, (int)i, "a name must follow '\\'");
            t.kind = T_ID;
            t.text = e + i + 1;
            t.text_len = (int)(j - i - 1);
            t.len = (int)(j - i);
            done = 1;
        }
        if (!done) {
            uint8_t mac[6], a6[16];
            size_t l_id = m_id(e + i, n - i), l_mac = m_mac(e + i, n - i, mac);
            size_t l_num = m_num(e + i, n - i), l_hid = m_hid(e + i, n - i);
            size_t l_v6 = m_v6(e + i, n - i, a6);
            size_t best = l_id;
            if (l_mac > best) best = l_mac;
            if (l_num > best) best = l_num;
            if (l_hid > best) best = l_hid;
            if (l_v6 > best) best = l_v6;
            if (best == 0)
                fs_error(fs, (int)i, "unexpected character '%c'", c >= 0x20 && c < 0x7f ? c : '?');
            t.len = (int)best;
            t.text = e + i;
            t.text_len = (int)best;
            /* ties: keyword, MAC, number, dotted IPv4, IPv6, named constant, name */
            int kw = 0;
            if (l_id == best)
                for (size_t j = 0; j < SN_COUNTOF(kwtab); j++)
                    if (strlen(kwtab[j].s) == best && !memcmp(kwtab[j].s, e + i, best)) {
                        t.kind = T_KW;
                        t.kw = kwtab[j].kw;
                        kw = 1;
                        break;
                    }
            if (kw) {
            } else if (l_mac == best) {
                t.kind = T_EID;
                memcpy(t.mac, mac, 6);
            } else if (l_num == best) {
                t.kind = T_NUM;
                conv_num(fs, e + i, best, (int)i, &t.num);
            } else if (l_hid == best) {
                t.kind = T_HID;
            } else if (l_v6 == best) {
                t.kind = T_HID6;
                memcpy(t.addr6, a6, 16);
            } else {
                t.kind = T_ID;
                for (size_t j = 0; j < SN_COUNTOF(consttab); j++)
                    if (strlen(consttab[j].s) == best && !memcmp(consttab[j].s, e + i, best)) {
                        t.kind = T_NUM;
                        t.num = consttab[j].v;
                        break;
                    }
            }
        }
        add_tok(fs, &t);
        i += (size_t)t.len;
    }
    struct ftok eof;
    memset(&eof, 0, sizeof eof);
    eof.kind = T_EOF;
    eof.pos = (int)n;
    add_tok(fs, &eof);
    return 0;
}
