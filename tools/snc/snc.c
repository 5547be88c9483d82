/* snc.c — the sysnet schema compiler: a proto3 subset in, C out.
 *   snc --c-out DIR [--main MSG [--flat]] FILE.proto
 * Reads FILE.proto (syntax = "proto3"; package; message, nested message, enum; the
 * 15 scalar types, string, bytes; repeated; optional; comments; field options such
 * as [packed = false], which are parsed and ignored) and writes DIR/NAME.pb.h and
 * DIR/NAME.pb.c: one struct per message and NAME_size/_encode/_decode built on
 * <sysnet/codec.h>. --main MSG (MSG as protoc names it: package.Message) adds
 * DIR/main.c, a filter stdin -> decode -> encode -> stdout. --flat adds the flat
 * zero-copy layout (<sysnet/codec.h>): per message a table of fixed-offset
 * little-endian fields, inline accessors, a verifier, and converters from/to the
 * struct; with --main, main.c then goes decode -> to flat -> verify -> read back
 * through the accessors -> encode. Errors are printed as
 * "file:line:col: message" and exit with status 1.
 *
 * Layout: lexer, parser (builds messages/enums/fields), resolver (type names to
 * messages/enums, protobuf's scoping rules), then the three emitters. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- utilities ------------------------------------------------------------------- */

static const char *g_file = "?";

static void *xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "snc: out of memory\n");
        exit(1);
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) {
        fprintf(stderr, "snc: out of memory\n");
        exit(1);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n);
    memcpy(d, s, n);
    return d;
}

static char *xfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xfmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static void die_at(int line, int col, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));
static void die_at(int line, int col, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d:%d: ", g_file, line, col);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* ---- lexer ----------------------------------------------------------------------- */

enum tok { T_EOF, T_IDENT, T_INT, T_FLOAT, T_STRING, T_SYM };

struct token {
    enum tok type;
    char *text; /* identifier, number, string contents, or the symbol */
    int line, col;
};

static struct {
    const char *src;
    size_t pos, len;
    int line, col;
    struct token cur;
} L;

static void lex_advance_char(void)
{
    if (L.src[L.pos] == '\n') {
        L.line++;
        L.col = 1;
    } else {
        L.col++;
    }
    L.pos++;
}

static void lex_next(void)
{
    for (;;) {
        while (L.pos < L.len && isspace((unsigned char)L.src[L.pos]))
            lex_advance_char();
        if (L.pos + 1 < L.len && L.src[L.pos] == '/' && L.src[L.pos + 1] == '/') {
            while (L.pos < L.len && L.src[L.pos] != '\n')
                lex_advance_char();
            continue;
        }
        if (L.pos + 1 < L.len && L.src[L.pos] == '/' && L.src[L.pos + 1] == '*') {
            int l = L.line, c = L.col;
            lex_advance_char();
            lex_advance_char();
            while (L.pos + 1 < L.len && !(L.src[L.pos] == '*' && L.src[L.pos + 1] == '/'))
                lex_advance_char();
            if (L.pos + 1 >= L.len)
                die_at(l, c, "unterminated /* comment");
            lex_advance_char();
            lex_advance_char();
            continue;
        }
        break;
    }
    struct token t = {T_EOF, NULL, L.line, L.col};
    if (L.pos >= L.len) {
        t.text = xstrdup("end of file");
        L.cur = t;
        return;
    }
    size_t start = L.pos;
    char c = L.src[L.pos];
    if (isalpha((unsigned char)c) || c == '_') {
        while (L.pos < L.len && (isalnum((unsigned char)L.src[L.pos]) || L.src[L.pos] == '_'))
            lex_advance_char();
        t.type = T_IDENT;
    } else if (isdigit((unsigned char)c)) {
        int hex = c == '0' && L.pos + 1 < L.len && (L.src[L.pos + 1] == 'x' || L.src[L.pos + 1] == 'X');
        t.type = T_INT;
        while (L.pos < L.len) {
            char d = L.src[L.pos];
            char prev = L.src[L.pos - 1];
            if (isalnum((unsigned char)d) || d == '.' || d == '_') {
                if (d == '.' || (!hex && (d == 'e' || d == 'E')))
                    t.type = T_FLOAT;
            } else if (!((d == '+' || d == '-') && !hex && (prev == 'e' || prev == 'E'))) {
                break;
            }
            lex_advance_char();
        }
    } else if (c == '"' || c == '\'') {
        lex_advance_char();
        while (L.pos < L.len && L.src[L.pos] != c && L.src[L.pos] != '\n') {
            if (L.src[L.pos] == '\\' && L.pos + 1 < L.len)
                lex_advance_char();
            lex_advance_char();
        }
        if (L.pos >= L.len || L.src[L.pos] != c)
            die_at(t.line, t.col, "unterminated string");
        lex_advance_char();
        t.type = T_STRING;
        size_t n = L.pos - start - 2;
        t.text = xmalloc(n + 1);
        memcpy(t.text, L.src + start + 1, n);
        L.cur = t;
        return;
    } else if (strchr("{}[]()<>=;,.-+:", c)) {
        lex_advance_char();
        t.type = T_SYM;
    } else {
        die_at(t.line, t.col, "unexpected character '%c'", isprint((unsigned char)c) ? c : '?');
    }
    size_t n = L.pos - start;
    t.text = xmalloc(n + 1);
    memcpy(t.text, L.src + start, n);
    L.cur = t;
}

static int is_sym(const char *s) { return L.cur.type == T_SYM && strcmp(L.cur.text, s) == 0; }
static int is_kw(const char *s) { return L.cur.type == T_IDENT && strcmp(L.cur.text, s) == 0; }

static void expect_sym(const char *s)
{
    if (!is_sym(s))
        die_at(L.cur.line, L.cur.col, "expected '%s', found '%s'", s, L.cur.text);
    lex_next();
}

static char *expect_ident(const char *what)
{
    if (L.cur.type != T_IDENT)
        die_at(L.cur.line, L.cur.col, "expected %s, found '%s'", what, L.cur.text);
    char *s = L.cur.text;
    lex_next();
    return s;
}

/* A possibly dotted name: [.]ident(.ident)* */
static char *expect_dotted(const char *what)
{
    char buf[1024];
    size_t n = 0;
    buf[0] = 0;
    if (is_sym(".")) {
        buf[n++] = '.';
        buf[n] = 0;
        lex_next();
    }
    for (;;) {
        char *id = expect_ident(what);
        size_t k = strlen(id);
        if (n + k + 2 >= sizeof(buf))
            die_at(L.cur.line, L.cur.col, "name too long");
        memcpy(buf + n, id, k + 1);
        n += k;
        if (!is_sym("."))
            break;
        buf[n++] = '.';
        buf[n] = 0;
        lex_next();
    }
    return xstrdup(buf);
}

/* ---- the schema ---------------------------------------------------------------------- */

enum kind {
    K_DOUBLE, K_FLOAT, K_INT32, K_INT64, K_UINT32, K_UINT64, K_SINT32, K_SINT64,
    K_FIXED32, K_FIXED64, K_SFIXED32, K_SFIXED64, K_BOOL, K_STRING, K_BYTES,
    K_ENUM, K_MESSAGE, K_NAMED, /* K_NAMED: not resolved yet */
};

static const struct {
    const char *name;
    const char *ctype;
} scalars[] = {
    [K_DOUBLE] = {"double", "double"},     [K_FLOAT] = {"float", "float"},
    [K_INT32] = {"int32", "int32_t"},      [K_INT64] = {"int64", "int64_t"},
    [K_UINT32] = {"uint32", "uint32_t"},   [K_UINT64] = {"uint64", "uint64_t"},
    [K_SINT32] = {"sint32", "int32_t"},    [K_SINT64] = {"sint64", "int64_t"},
    [K_FIXED32] = {"fixed32", "uint32_t"}, [K_FIXED64] = {"fixed64", "uint64_t"},
    [K_SFIXED32] = {"sfixed32", "int32_t"}, [K_SFIXED64] = {"sfixed64", "int64_t"},
    [K_BOOL] = {"bool", "bool"},           [K_STRING] = {"string", "struct sn_pb_slice"},
    [K_BYTES] = {"bytes", "struct sn_pb_slice"},
};

struct message;
struct enumdef;

struct field {
    char *name, *cname, *type_name;
    int line, col;
    enum kind kind;
    int repeated, optional;
    uint32_t number;
    struct message *msg;
    struct enumdef *enm;
};

struct enumval {
    char *name;
    int32_t number;
};

struct enumdef {
    char *name, *full, *cname;
    struct message *parent;
    struct enumval *vals;
    size_t nvals;
};

struct range {
    uint32_t lo, hi;
};

struct message {
    char *name, *full, *cname;
    struct message *parent;
    struct field *fields;
    size_t nfields;
    struct range *reserved;
    size_t nreserved;
    char **reserved_names;
    size_t nreserved_names;
    int line, col;
};

static char *g_package = NULL; /* "" when there is none */
static struct message **g_msgs;
static size_t g_nmsgs;
static struct enumdef **g_enums;
static size_t g_nenums;

static const char *c_keywords[] = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
    "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
    "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
    "volatile", "while", "bool", "true", "false", "NULL", "errno", "assert", "m", "r", "w", "a",
};

static char *c_ident(const char *name)
{
    for (size_t i = 0; i < sizeof(c_keywords) / sizeof(c_keywords[0]); i++)
        if (strcmp(name, c_keywords[i]) == 0)
            return xfmt("%s_", name);
    if (name[0] == '_')
        return xfmt("f%s", name);
    return xstrdup(name);
}

static char *scoped_full(struct message *parent, const char *name)
{
    if (parent)
        return xfmt("%s.%s", parent->full, name);
    return g_package[0] ? xfmt("%s.%s", g_package, name) : xstrdup(name);
}

static char *scoped_cname(struct message *parent, const char *name)
{
    if (parent)
        return xfmt("%s_%s", parent->cname, name);
    if (!g_package[0])
        return xstrdup(name);
    char *p = xfmt("%s_%s", g_package, name);
    for (char *q = p; *q; q++)
        if (*q == '.')
            *q = '_';
    return p;
}

static int name_taken(const char *full)
{
    for (size_t i = 0; i < g_nmsgs; i++)
        if (strcmp(g_msgs[i]->full, full) == 0)
            return 1;
    for (size_t i = 0; i < g_nenums; i++)
        if (strcmp(g_enums[i]->full, full) == 0)
            return 1;
    return 0;
}

/* ---- parser -------------------------------------------------------------------------- */

static uint64_t parse_uint(const struct token *t, uint64_t max, const char *what)
{
    if (t->type != T_INT)
        die_at(t->line, t->col, "expected %s, found '%s'", what, t->text);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(t->text, &end, 0);
    if (*end || errno)
        die_at(t->line, t->col, "invalid number '%s'", t->text);
    if (v > max)
        die_at(t->line, t->col, "%s %s out of range (max %llu)", what, t->text, (unsigned long long)max);
    return v;
}

/* A constant (option value): identifier, number (maybe signed), string. */
static void skip_constant(void)
{
    if (is_sym("-") || is_sym("+"))
        lex_next();
    if (L.cur.type == T_IDENT || L.cur.type == T_INT || L.cur.type == T_FLOAT || L.cur.type == T_STRING) {
        lex_next();
        return;
    }
    if (is_sym("{"))
        die_at(L.cur.line, L.cur.col, "aggregate option values are not supported");
    die_at(L.cur.line, L.cur.col, "expected a constant, found '%s'", L.cur.text);
}

/* option NAME = CONST ;  (after the keyword). Names may be (custom).x. */
static void parse_option_stmt(void)
{
    if (is_sym("(")) {
        lex_next();
        free(expect_dotted("option name"));
        expect_sym(")");
    } else {
        free(expect_dotted("option name"));
    }
    while (is_sym(".")) {
        lex_next();
        expect_ident("option name");
    }
    expect_sym("=");
    skip_constant();
    expect_sym(";");
}

/* [name = const, ...] after a field or enum value; parsed and ignored. */
static void parse_field_options(void)
{
    if (!is_sym("["))
        return;
    lex_next();
    for (;;) {
        if (is_sym("(")) {
            lex_next();
            free(expect_dotted("option name"));
            expect_sym(")");
        } else {
            char *n = expect_ident("option name");
            if (strcmp(n, "default") == 0)
                die_at(L.cur.line, L.cur.col, "explicit default values are not allowed in proto3");
        }
        expect_sym("=");
        skip_constant();
        if (is_sym(",")) {
            lex_next();
            continue;
        }
        expect_sym("]");
        break;
    }
}

static void parse_reserved(struct message *m)
{
    /* reserved 2, 15, 9 to 11, 40 to max;   or   reserved "foo", "bar"; */
    for (;;) {
        if (L.cur.type == T_STRING) {
            m->reserved_names = xrealloc(m->reserved_names, (m->nreserved_names + 1) * sizeof(char *));
            m->reserved_names[m->nreserved_names++] = L.cur.text;
            lex_next();
        } else {
            struct token t = L.cur;
            uint32_t lo = (uint32_t)parse_uint(&t, 536870911u, "field number"), hi = lo;
            lex_next();
            if (is_kw("to")) {
                lex_next();
                if (is_kw("max")) {
                    hi = 536870911u;
                    lex_next();
                } else {
                    t = L.cur;
                    hi = (uint32_t)parse_uint(&t, 536870911u, "field number");
                    lex_next();
                }
                if (hi < lo)
                    die_at(t.line, t.col, "reserved range end %u is before its start %u", hi, lo);
            }
            if (m) {
                m->reserved = xrealloc(m->reserved, (m->nreserved + 1) * sizeof(struct range));
                m->reserved[m->nreserved++] = (struct range){lo, hi};
            }
        }
        if (is_sym(",")) {
            lex_next();
            continue;
        }
        expect_sym(";");
        return;
    }
}

static void parse_enum(struct message *parent)
{
    int line = L.cur.line, col = L.cur.col;
    char *name = expect_ident("enum name");
    struct enumdef *e = xmalloc(sizeof(*e));
    e->name = name;
    e->parent = parent;
    e->full = scoped_full(parent, name);
    e->cname = scoped_cname(parent, name);
    if (name_taken(e->full))
        die_at(line, col, "\"%s\" is already defined", e->full);
    g_enums = xrealloc(g_enums, (g_nenums + 1) * sizeof(*g_enums));
    g_enums[g_nenums++] = e;
    expect_sym("{");
    while (!is_sym("}")) {
        if (L.cur.type == T_EOF)
            die_at(L.cur.line, L.cur.col, "unexpected end of file in enum %s", name);
        if (is_sym(";")) {
            lex_next();
            continue;
        }
        if (is_kw("option")) {
            lex_next();
            parse_option_stmt();
            continue;
        }
        if (is_kw("reserved")) {
            lex_next();
            struct message dummy = {0};
            parse_reserved(&dummy);
            free(dummy.reserved);
            free(dummy.reserved_names);
            continue;
        }
        int vl = L.cur.line, vc = L.cur.col;
        char *vname = expect_ident("enum value name");
        expect_sym("=");
        int neg = 0;
        if (is_sym("-")) {
            neg = 1;
            lex_next();
        }
        struct token t = L.cur;
        uint64_t v = parse_uint(&t, neg ? 2147483648u : 2147483647u, "enum value");
        lex_next();
        parse_field_options();
        expect_sym(";");
        for (size_t i = 0; i < e->nvals; i++)
            if (strcmp(e->vals[i].name, vname) == 0)
                die_at(vl, vc, "enum value \"%s\" is already defined in %s", vname, e->full);
        int32_t num = neg ? (int32_t)(-(int64_t)v) : (int32_t)v;
        if (e->nvals == 0 && num != 0)
            die_at(t.line, t.col, "the first enum value must be zero in proto3");
        e->vals = xrealloc(e->vals, (e->nvals + 1) * sizeof(*e->vals));
        e->vals[e->nvals++] = (struct enumval){vname, num};
    }
    lex_next();
    if (e->nvals == 0)
        die_at(line, col, "enum %s has no values", name);
}

static enum kind scalar_kind(const char *s)
{
    for (int k = 0; k <= K_BYTES; k++)
        if (strcmp(scalars[k].name, s) == 0)
            return (enum kind)k;
    return K_NAMED;
}

static void parse_message(struct message *parent);

static void parse_field(struct message *m)
{
    struct field f = {0};
    f.line = L.cur.line;
    f.col = L.cur.col;
    if (is_kw("repeated")) {
        f.repeated = 1;
        lex_next();
    } else if (is_kw("optional")) {
        f.optional = 1;
        lex_next();
    } else if (is_kw("required")) {
        die_at(L.cur.line, L.cur.col, "required fields are not allowed in proto3");
    }
    if (is_kw("map"))
        die_at(L.cur.line, L.cur.col, "map fields are not supported by snc");
    if (is_kw("group"))
        die_at(L.cur.line, L.cur.col, "groups are not supported (proto3 has none)");
    int tl = L.cur.line, tc = L.cur.col;
    f.type_name = expect_dotted("a field type");
    f.kind = scalar_kind(f.type_name);
    int nl = L.cur.line, nc = L.cur.col;
    f.name = expect_ident("a field name");
    f.cname = c_ident(f.name);
    expect_sym("=");
    struct token t = L.cur;
    f.number = (uint32_t)parse_uint(&t, 536870911u, "field number");
    if (f.number == 0)
        die_at(t.line, t.col, "field numbers start at 1");
    if (f.number >= 19000 && f.number <= 19999)
        die_at(t.line, t.col, "field numbers 19000 through 19999 are reserved for the protobuf implementation");
    lex_next();
    parse_field_options();
    expect_sym(";");
    for (size_t i = 0; i < m->nfields; i++) {
        if (strcmp(m->fields[i].name, f.name) == 0)
            die_at(nl, nc, "field \"%s\" is already defined in %s", f.name, m->full);
        if (m->fields[i].number == f.number)
            die_at(t.line, t.col, "field number %u is already used by \"%s\" in %s", f.number,
                   m->fields[i].name, m->full);
    }
    (void)tl;
    (void)tc;
    m->fields = xrealloc(m->fields, (m->nfields + 1) * sizeof(struct field));
    m->fields[m->nfields++] = f;
}

static void parse_message(struct message *parent)
{
    int line = L.cur.line, col = L.cur.col;
    char *name = expect_ident("message name");
    struct message *m = xmalloc(sizeof(*m));
    m->name = name;
    m->parent = parent;
    m->full = scoped_full(parent, name);
    m->cname = scoped_cname(parent, name);
    m->line = line;
    m->col = col;
    if (name_taken(m->full))
        die_at(line, col, "\"%s\" is already defined", m->full);
    g_msgs = xrealloc(g_msgs, (g_nmsgs + 1) * sizeof(*g_msgs));
    g_msgs[g_nmsgs++] = m;
    expect_sym("{");
    while (!is_sym("}")) {
        if (L.cur.type == T_EOF)
            die_at(L.cur.line, L.cur.col, "unexpected end of file in message %s", name);
        if (is_sym(";")) {
            lex_next();
        } else if (is_kw("message")) {
            lex_next();
            parse_message(m);
        } else if (is_kw("enum")) {
            lex_next();
            parse_enum(m);
        } else if (is_kw("option")) {
            lex_next();
            parse_option_stmt();
        } else if (is_kw("reserved")) {
            lex_next();
            parse_reserved(m);
        } else if (is_kw("oneof") || is_kw("extensions") || is_kw("extend")) {
            die_at(L.cur.line, L.cur.col, "'%s' is not supported by snc", L.cur.text);
        } else {
            parse_field(m);
        }
    }
    lex_next();
    for (size_t i = 0; i < m->nfields; i++) {
        struct field *f = &m->fields[i];
        for (size_t k = 0; k < m->nreserved; k++)
            if (f->number >= m->reserved[k].lo && f->number <= m->reserved[k].hi)
                die_at(f->line, f->col, "field \"%s\" uses reserved field number %u", f->name, f->number);
        for (size_t k = 0; k < m->nreserved_names; k++)
            if (strcmp(f->name, m->reserved_names[k]) == 0)
                die_at(f->line, f->col, "field name \"%s\" is reserved", f->name);
    }
}

static void parse_file(void)
{
    lex_next();
    if (!is_kw("syntax"))
        die_at(L.cur.line, L.cur.col, "expected 'syntax = \"proto3\";' first (only proto3 is supported)");
    lex_next();
    expect_sym("=");
    if (L.cur.type != T_STRING)
        die_at(L.cur.line, L.cur.col, "expected a string after 'syntax ='");
    if (strcmp(L.cur.text, "proto3") != 0)
        die_at(L.cur.line, L.cur.col, "syntax \"%s\" is not supported (only proto3)", L.cur.text);
    lex_next();
    expect_sym(";");
    g_package = xstrdup("");
    int have_package = 0;
    while (L.cur.type != T_EOF) {
        if (is_sym(";")) {
            lex_next();
        } else if (is_kw("package")) {
            if (have_package)
                die_at(L.cur.line, L.cur.col, "multiple package definitions");
            if (g_nmsgs || g_nenums)
                die_at(L.cur.line, L.cur.col, "package must come before messages and enums");
            lex_next();
            g_package = expect_dotted("package name");
            if (g_package[0] == '.')
                die_at(L.cur.line, L.cur.col, "package name cannot start with '.'");
            have_package = 1;
            expect_sym(";");
        } else if (is_kw("import")) {
            die_at(L.cur.line, L.cur.col, "import is not supported by snc (one file per schema)");
        } else if (is_kw("option")) {
            lex_next();
            parse_option_stmt();
        } else if (is_kw("message")) {
            lex_next();
            parse_message(NULL);
        } else if (is_kw("enum")) {
            lex_next();
            parse_enum(NULL);
        } else if (is_kw("service") || is_kw("extend")) {
            die_at(L.cur.line, L.cur.col, "'%s' is not supported by snc", L.cur.text);
        } else {
            die_at(L.cur.line, L.cur.col, "expected message, enum, package or option, found '%s'", L.cur.text);
        }
    }
}

/* ---- resolver ------------------------------------------------------------------------ */

static int lookup(const char *full, struct message **m, struct enumdef **e)
{
    for (size_t i = 0; i < g_nmsgs; i++)
        if (strcmp(g_msgs[i]->full, full) == 0) {
            *m = g_msgs[i];
            return 1;
        }
    for (size_t i = 0; i < g_nenums; i++)
        if (strcmp(g_enums[i]->full, full) == 0) {
            *e = g_enums[i];
            return 1;
        }
    return 0;
}

/* protobuf's rule, simplified: try the name in the message's scope, then each
 * enclosing scope out to the package and its parents, then the root. */
static void resolve_field(struct message *m, struct field *f)
{
    struct message *rm = NULL;
    struct enumdef *re = NULL;
    int found = 0;
    if (f->type_name[0] == '.') {
        found = lookup(f->type_name + 1, &rm, &re);
    } else {
        char *scope = xstrdup(m->full);
        for (;;) {
            char *cand = scope[0] ? xfmt("%s.%s", scope, f->type_name) : xstrdup(f->type_name);
            found = lookup(cand, &rm, &re);
            free(cand);
            if (found || !scope[0])
                break;
            char *dot = strrchr(scope, '.');
            if (dot)
                *dot = 0;
            else
                scope[0] = 0;
        }
        free(scope);
    }
    if (!found)
        die_at(f->line, f->col, "\"%s\" is not defined", f->type_name);
    if (rm) {
        f->kind = K_MESSAGE;
        f->msg = rm;
    } else {
        f->kind = K_ENUM;
        f->enm = re;
    }
}

static void resolve_all(void)
{
    for (size_t i = 0; i < g_nmsgs; i++)
        for (size_t k = 0; k < g_msgs[i]->nfields; k++)
            if (g_msgs[i]->fields[k].kind == K_NAMED)
                resolve_field(g_msgs[i], &g_msgs[i]->fields[k]);
}

/* ---- code generation helpers ------------------------------------------------------------ */

static int is_varint(enum kind k)
{
    return k == K_INT32 || k == K_INT64 || k == K_UINT32 || k == K_UINT64 || k == K_SINT32 ||
           k == K_SINT64 || k == K_BOOL || k == K_ENUM;
}
static int is_fixed32(enum kind k) { return k == K_FIXED32 || k == K_SFIXED32 || k == K_FLOAT; }
static int is_fixed64(enum kind k) { return k == K_FIXED64 || k == K_SFIXED64 || k == K_DOUBLE; }
static int is_packable(enum kind k) { return is_varint(k) || is_fixed32(k) || is_fixed64(k); }

static const char *wire_name(enum kind k)
{
    if (is_varint(k))
        return "SN_PB_VARINT";
    if (is_fixed32(k))
        return "SN_PB_I32";
    if (is_fixed64(k))
        return "SN_PB_I64";
    return "SN_PB_LEN";
}

/* The C type of one value of the field (element type for repeated). */
static char *elem_ctype(const struct field *f)
{
    if (f->kind == K_MESSAGE)
        return xfmt("struct %s", f->msg->cname);
    if (f->kind == K_ENUM)
        return xstrdup("int32_t");
    return xstrdup(scalars[f->kind].ctype);
}

/* Expression of the wire value (uint64_t for varints, uint32_t/uint64_t for fixed). */
static char *wire_value(enum kind k, const char *v)
{
    switch (k) {
    case K_INT32: case K_ENUM: return xfmt("(uint64_t)(int64_t)%s", v);
    case K_INT64: case K_UINT32: case K_UINT64: return xfmt("(uint64_t)%s", v);
    case K_SINT32: return xfmt("(uint64_t)sn_pb_zigzag32(%s)", v);
    case K_SINT64: return xfmt("sn_pb_zigzag64(%s)", v);
    case K_BOOL: return xfmt("(uint64_t)(%s ? 1 : 0)", v);
    case K_FIXED32: case K_FIXED64: return xstrdup(v);
    case K_SFIXED32: return xfmt("(uint32_t)%s", v);
    case K_SFIXED64: return xfmt("(uint64_t)%s", v);
    case K_FLOAT: return xfmt("sn_pb_f32_bits(%s)", v);
    case K_DOUBLE: return xfmt("sn_pb_f64_bits(%s)", v);
    default: return xstrdup(v);
    }
}

/* Expression converting the raw wire value `v` back to the C type. */
static char *from_wire(enum kind k, const char *v)
{
    switch (k) {
    case K_INT32: case K_ENUM: return xfmt("(int32_t)(uint32_t)%s", v);
    case K_INT64: return xfmt("(int64_t)%s", v);
    case K_UINT32: return xfmt("(uint32_t)%s", v);
    case K_UINT64: case K_FIXED32: case K_FIXED64: return xstrdup(v);
    case K_SINT32: return xfmt("sn_pb_unzigzag32((uint32_t)%s)", v);
    case K_SINT64: return xfmt("sn_pb_unzigzag64(%s)", v);
    case K_BOOL: return xfmt("(%s != 0)", v);
    case K_SFIXED32: return xfmt("(int32_t)%s", v);
    case K_SFIXED64: return xfmt("(int64_t)%s", v);
    case K_FLOAT: return xfmt("sn_pb_f32_from(%s)", v);
    case K_DOUBLE: return xfmt("sn_pb_f64_from(%s)", v);
    default: return xstrdup(v);
    }
}

/* Singular non-optional field: emitted only when not the proto3 default. */
static char *presence(const struct field *f, const char *v)
{
    if (f->optional)
        return xfmt("m->has_%s", f->cname);
    switch (f->kind) {
    case K_STRING: case K_BYTES: return xfmt("%s.len != 0", v);
    case K_MESSAGE: return xfmt("%s != NULL", v);
    case K_BOOL: return xstrdup(v);
    case K_FLOAT: return xfmt("sn_pb_f32_bits(%s) != 0", v);
    case K_DOUBLE: return xfmt("sn_pb_f64_bits(%s) != 0", v);
    default: return xfmt("%s != 0", v);
    }
}

static size_t tag_size(uint32_t number)
{
    uint64_t t = (uint64_t)number << 3;
    size_t n = 1;
    while (t >= 0x80) {
        t >>= 7;
        n++;
    }
    return n;
}

static int cmp_field_number(const void *a, const void *b)
{
    const struct field *x = *(const struct field *const *)a, *y = *(const struct field *const *)b;
    return x->number < y->number ? -1 : x->number > y->number;
}

/* The fields of m in field-number order (protoc emits them so). */
static struct field **sorted_fields(const struct message *m)
{
    struct field **v = xmalloc((m->nfields + 1) * sizeof(*v));
    for (size_t i = 0; i < m->nfields; i++)
        v[i] = &m->fields[i];
    qsort(v, m->nfields, sizeof(*v), cmp_field_number);
    return v;
}

static int g_flat_on; /* --flat: also emit the flat layout */

/* ---- emit: the flat layout (--flat) ------------------------------------------------------
 * See <sysnet/codec.h> for the layout. Per message: a table of fixed size (8-byte
 * fields, then 4-byte fields and every (offset, length) pair, then 1-byte bools and
 * presence bytes), offsets of its fields computed here once; then generated per
 * message: accessors (inline, in the header), a verifier, a writer that sizes (NULL
 * buffer) or writes with the same code, and a reader back to the struct. */

struct flat {
    size_t *off;    /* per field (declaration order): offset of its slot in the table */
    size_t *pres;   /* per optional field: offset of its presence byte */
    size_t size;    /* bytes of the table (>= 1, a multiple of align) */
    size_t align;   /* 8, 4 or 1 */
    uint32_t hash;  /* layout hash of the whole file, salted with the message name */
};
static struct flat *g_flat; /* parallel to g_msgs */

static size_t flat_scalar_size(enum kind k)
{
    if (k == K_BOOL)
        return 1;
    if (is_fixed64(k) || k == K_INT64 || k == K_UINT64 || k == K_SINT64)
        return 8;
    return 4;
}

/* Bytes and alignment of a field's slot in its table. */
static size_t flat_slot(const struct field *f, size_t *align)
{
    if (f->repeated || f->kind == K_STRING || f->kind == K_BYTES) {
        *align = 4;
        return 8;
    }
    if (f->kind == K_MESSAGE) {
        *align = 4;
        return 4;
    }
    *align = flat_scalar_size(f->kind);
    return *align;
}

static size_t msg_index(const struct message *m)
{
    for (size_t i = 0; i < g_nmsgs; i++)
        if (g_msgs[i] == m)
            return i;
    return 0;
}

static uint32_t fnv1a(uint32_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 16777619u;
    }
    return h;
}

/* The accessors of a message must have distinct names (X_flat_F, X_flat_has_F,
 * X_flat_F_count, X_flat_F_at, X_flat_root/size/verify): a field named "root", or
 * "a_count" beside a repeated "a", would define one twice. Refused with a clear error. */
static void flat_check_names(const struct message *m)
{
    size_t cap = 4 * m->nfields + 3, n = 0;
    char **names = xmalloc(cap * sizeof(char *));
    int *lines = xmalloc(cap * sizeof(int)), *cols = xmalloc(cap * sizeof(int));
    names[n++] = xstrdup("root");
    names[n++] = xstrdup("size");
    names[n++] = xstrdup("verify");
    for (size_t k = 0; k < m->nfields; k++) {
        const struct field *f = &m->fields[k];
        size_t first = n;
        names[n++] = xstrdup(f->cname);
        if (f->optional)
            names[n++] = xfmt("has_%s", f->cname);
        if (f->repeated) {
            names[n++] = xfmt("%s_count", f->cname);
            names[n++] = xfmt("%s_at", f->cname);
        }
        for (size_t q = first; q < n; q++) {
            lines[q] = f->line;
            cols[q] = f->col;
        }
    }
    for (size_t i = 3; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                die_at(lines[i], cols[i], "--flat: the accessor %s_flat_%s would be defined twice (rename the field)",
                       m->cname, names[i]);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(lines);
    free(cols);
}

static void flat_layout_all(void)
{
    for (size_t i = 0; i < g_nmsgs; i++)
        flat_check_names(g_msgs[i]);
    g_flat = xmalloc((g_nmsgs + 1) * sizeof(*g_flat));
    uint32_t file_hash = 2166136261u;
    for (size_t i = 0; i < g_nmsgs; i++) {
        const struct message *m = g_msgs[i];
        struct flat *L2 = &g_flat[i];
        L2->off = xmalloc((m->nfields + 1) * sizeof(size_t));
        L2->pres = xmalloc((m->nfields + 1) * sizeof(size_t));
        size_t pos = 0, maxa = 1;
        for (size_t want = 8; want >= 1; want /= 2) { /* 8-aligned slots, then 4, then 1 */
            for (size_t k = 0; k < m->nfields; k++) {
                size_t a, sz = flat_slot(&m->fields[k], &a);
                if (a == want) {
                    L2->off[k] = pos;
                    pos += sz;
                    if (a > maxa)
                        maxa = a;
                }
            }
            if (want == 1)
                for (size_t k = 0; k < m->nfields; k++)
                    if (m->fields[k].optional)
                        L2->pres[k] = pos++;
        }
        L2->align = maxa;
        L2->size = pos ? (pos + maxa - 1) / maxa * maxa : 1; /* >= 1: a count never exceeds the bytes */
        file_hash = fnv1a(file_hash, m->full);
        for (size_t k = 0; k < m->nfields; k++) {
            const struct field *f = &m->fields[k];
            char *d = xfmt("|%u:%s:%d%d:%zu", f->number,
                           f->kind == K_MESSAGE ? f->msg->full : f->kind == K_ENUM ? "enum" : scalars[f->kind].name,
                           f->repeated, f->optional, L2->off[k]);
            file_hash = fnv1a(file_hash, d);
            free(d);
        }
        file_hash = fnv1a(file_hash, ";");
    }
    for (size_t i = 0; i < g_nmsgs; i++)
        g_flat[i].hash = fnv1a(fnv1a(file_hash, "root:"), g_msgs[i]->full);
}

/* Load expression of a scalar of kind k stored at byte pointer P. */
static char *flat_load(enum kind k, const char *P)
{
    switch (k) {
    case K_DOUBLE: return xfmt("sn_pb_f64_from(sn_load_le64(%s))", P);
    case K_FLOAT: return xfmt("sn_pb_f32_from(sn_load_le32(%s))", P);
    case K_INT64: case K_SINT64: case K_SFIXED64: return xfmt("(int64_t)sn_load_le64(%s)", P);
    case K_UINT64: case K_FIXED64: return xfmt("sn_load_le64(%s)", P);
    case K_INT32: case K_SINT32: case K_SFIXED32: case K_ENUM: return xfmt("(int32_t)sn_load_le32(%s)", P);
    case K_UINT32: case K_FIXED32: return xfmt("sn_load_le32(%s)", P);
    case K_BOOL: return xfmt("((%s)[0] != 0)", P);
    default: return xstrdup("0");
    }
}

/* Store statement of value V of kind k at byte pointer P. */
static char *flat_store(enum kind k, const char *P, const char *V)
{
    switch (k) {
    case K_DOUBLE: return xfmt("sn_store_le64(%s, sn_pb_f64_bits(%s));", P, V);
    case K_FLOAT: return xfmt("sn_store_le32(%s, sn_pb_f32_bits(%s));", P, V);
    case K_BOOL: return xfmt("(%s)[0] = (uint8_t)(%s ? 1 : 0);", P, V);
    default:
        if (flat_scalar_size(k) == 8)
            return xfmt("sn_store_le64(%s, (uint64_t)%s);", P, V);
        return xfmt("sn_store_le32(%s, (uint32_t)%s);", P, V);
    }
}

static void emit_flat_header(FILE *o, const struct message *m)
{
    const struct flat *F = &g_flat[msg_index(m)];
    const char *c = m->cname;
    fprintf(o, "/* flat layout of %s: a %zu-byte table, aligned to %zu */\n", m->full, F->size, F->align);
    fprintf(o, "#define %s_FLAT_TABLE_SIZE %zu\n#define %s_FLAT_HASH 0x%08xu\n", c, F->size, c, F->hash);
    fprintf(o, "size_t %s_flat_size(const struct %s *m);\n", c, c);
    fprintf(o, "int %s_to_flat(const struct %s *m, uint8_t *buf, size_t cap);\n", c, c);
    fprintf(o, "int %s_flat_verify(const uint8_t *buf, size_t len);\n", c);
    fprintf(o, "int %s_from_flat(struct %s *m, const uint8_t *buf, size_t len, struct sn_pb_arena *a);\n", c, c);
    fprintf(o, "static inline const uint8_t *%s_flat_root(const uint8_t *buf) { return buf + SN_FLAT_HDR_SIZE; }\n", c);
    for (size_t k = 0; k < m->nfields; k++) {
        const struct field *f = &m->fields[k];
        size_t off = F->off[k];
        char *t = f->kind == K_MESSAGE ? xstrdup("const uint8_t *") : elem_ctype(f);
        if (!f->repeated) {
            if (f->optional)
                fprintf(o, "static inline bool %s_flat_has_%s(const uint8_t *t) { return t[%zu] != 0; }\n", c, f->cname,
                        F->pres[k]);
            if (f->kind == K_MESSAGE) {
                fprintf(o, "static inline const uint8_t *%s_flat_%s(const uint8_t *t)\n{\n"
                           "    uint32_t o = sn_load_le32(t + %zu);\n    return o ? t + o : NULL;\n}\n",
                        c, f->cname, off);
            } else if (f->kind == K_STRING || f->kind == K_BYTES) {
                fprintf(o, "static inline struct sn_pb_slice %s_flat_%s(const uint8_t *t)\n{\n"
                           "    struct sn_pb_slice s = {t + sn_load_le32(t + %zu), sn_load_le32(t + %zu)};\n"
                           "    return s;\n}\n", c, f->cname, off, off + 4);
            } else {
                char *P = xfmt("t + %zu", off);
                char *ld = flat_load(f->kind, P);
                fprintf(o, "static inline %s %s_flat_%s(const uint8_t *t) { return %s; }\n", t, c, f->cname, ld);
                free(ld);
                free(P);
            }
        } else {
            fprintf(o, "static inline size_t %s_flat_%s_count(const uint8_t *t) { return sn_load_le32(t + %zu); }\n",
                    c, f->cname, off + 4);
            if (f->kind == K_MESSAGE) {
                fprintf(o, "static inline const uint8_t *%s_flat_%s_at(const uint8_t *t, size_t i)\n{\n"
                           "    return t + sn_load_le32(t + %zu) + i * %zu; /* %s_FLAT_TABLE_SIZE */\n}\n",
                        c, f->cname, off, g_flat[msg_index(f->msg)].size, f->msg->cname);
            } else if (f->kind == K_STRING || f->kind == K_BYTES) {
                fprintf(o, "static inline struct sn_pb_slice %s_flat_%s_at(const uint8_t *t, size_t i)\n{\n"
                           "    const uint8_t *e = t + sn_load_le32(t + %zu) + 8 * i;\n"
                           "    struct sn_pb_slice s = {t + sn_load_le32(e), sn_load_le32(e + 4)};\n"
                           "    return s;\n}\n", c, f->cname, off);
            } else {
                char *P = xfmt("t + sn_load_le32(t + %zu) + %zu * i", off, flat_scalar_size(f->kind));
                char *ld = flat_load(f->kind, P);
                fprintf(o, "static inline %s %s_flat_%s_at(const uint8_t *t, size_t i) { return %s; }\n", t, c,
                        f->cname, ld);
                free(ld);
                free(P);
            }
        }
        free(t);
    }
    fputs("\n", o);
}

static void emit_flat_verify(FILE *o, const struct message *m)
{
    const struct flat *F = &g_flat[msg_index(m)];
    const char *c = m->cname;
    fprintf(o, "static int %s_flat_verify_(const uint8_t *b, size_t t, size_t total, size_t *cur, int depth)\n{\n"
               "    const uint8_t *p = b + t;\n"
               "    (void)p;\n    (void)total;\n    (void)cur;\n"
               "    if (depth > SN_FLAT_MAX_DEPTH)\n        return -EBADMSG;\n", c);
    for (size_t k = 0; k < m->nfields; k++) {
        const struct field *f = &m->fields[k];
        size_t off = F->off[k];
        if (f->optional)
            fprintf(o, "    if (p[%zu] > 1)\n        return -EBADMSG;\n", F->pres[k]);
        if (!f->repeated && f->kind == K_BOOL)
            fprintf(o, "    if (p[%zu] > 1)\n        return -EBADMSG;\n", off);
        if (!f->repeated && f->kind != K_STRING && f->kind != K_BYTES && f->kind != K_MESSAGE)
            continue;
        fprintf(o, "    { /* %s */\n        uint32_t o = sn_load_le32(p + %zu)%s;\n", f->name, off,
                f->repeated || f->kind != K_MESSAGE ? "" : ", n = o ? 1 : 0");
        if (f->repeated || f->kind != K_MESSAGE)
            fprintf(o, "        uint32_t n = sn_load_le32(p + %zu);\n", off + 4);
        if (f->kind == K_MESSAGE) {
            const struct flat *G = &g_flat[msg_index(f->msg)];
            fprintf(o, "        SNC_TRY(sn_flat_region(t, o, n, %zu, total, cur));\n", G->size);
            int needs = 0; /* does an element need a look inside? (refs, bools, presence bytes) */
            for (size_t q = 0; q < f->msg->nfields; q++)
                if (f->msg->fields[q].repeated || f->msg->fields[q].optional || !is_packable(f->msg->fields[q].kind) ||
                    f->msg->fields[q].kind == K_BOOL)
                    needs = 1;
            if (needs || !f->repeated)
                fprintf(o, "        for (uint32_t i = 0; i < n; i++)\n"
                           "            SNC_TRY(%s_flat_verify_(b, t + o + (size_t)i * %zu, total, cur, depth + 1));\n",
                        f->msg->cname, G->size);
        } else if (f->kind == K_STRING || f->kind == K_BYTES) {
            if (f->repeated) {
                fprintf(o, "        SNC_TRY(sn_flat_region(t, o, n, 8, total, cur));\n"
                           "        for (uint32_t i = 0; i < n; i++) {\n"
                           "            const uint8_t *e = p + o + (size_t)i * 8;\n"
                           "            uint32_t so = sn_load_le32(e), sl = sn_load_le32(e + 4);\n"
                           "            SNC_TRY(sn_flat_region(t, so, sl, 1, total, cur));\n");
                if (f->kind == K_STRING)
                    fputs("            if (sn_pb_utf8_check(p + so, sl) < 0)\n                return -EBADMSG;\n", o);
                fputs("        }\n", o);
            } else {
                fputs("        SNC_TRY(sn_flat_region(t, o, n, 1, total, cur));\n", o);
                if (f->kind == K_STRING)
                    fputs("        if (sn_pb_utf8_check(p + o, n) < 0)\n            return -EBADMSG;\n", o);
            }
        } else {
            fprintf(o, "        SNC_TRY(sn_flat_region(t, o, n, %zu, total, cur));\n", flat_scalar_size(f->kind));
            if (f->kind == K_BOOL)
                fputs("        SNC_TRY(sn_flat_bools_check(p + o, n));\n", o);
        }
        fputs("    }\n", o);
    }
    fputs("    return 0;\n}\n\n", o);
    fprintf(o, "int %s_flat_verify(const uint8_t *buf, size_t len)\n{\n"
               "    size_t total, cur = SN_FLAT_HDR_SIZE + %s_FLAT_TABLE_SIZE;\n"
               "    SNC_TRY(sn_flat_header_check(buf, len, %s_FLAT_HASH, %s_FLAT_TABLE_SIZE, &total));\n"
               "    SNC_TRY(%s_flat_verify_(buf, SN_FLAT_HDR_SIZE, total, &cur, 0));\n"
               "    return cur == total ? 0 : -EBADMSG; /* nothing unaccounted for at the end */\n}\n\n",
            c, c, c, c, c);
}

static void emit_flat_put(FILE *o, const struct message *m)
{
    const struct flat *F = &g_flat[msg_index(m)];
    const char *c = m->cname;
    fprintf(o, "/* Write m's variable data after *cur (its table, at t, is already placed), or only\n"
               " * advance *cur when b is NULL: sizing and writing share this code. */\n"
               "static void %s_flat_put_(const struct %s *m, uint8_t *b, size_t t, size_t *cur)\n{\n"
               "    uint8_t *p = b ? b + t : NULL;\n    (void)m;\n    (void)cur;\n", c, c);
    fputs("    if (p) {\n", o);
    for (size_t k = 0; k < m->nfields; k++) {
        const struct field *f = &m->fields[k];
        if (f->optional)
            fprintf(o, "        p[%zu] = m->has_%s ? 1 : 0;\n", F->pres[k], f->cname);
        if (f->repeated || !is_packable(f->kind))
            continue;
        char *P = xfmt("p + %zu", F->off[k]);
        char *V = xfmt("m->%s", f->cname);
        char *st = flat_store(f->kind, P, V);
        fprintf(o, "        %s\n", st);
        free(st);
        free(V);
        free(P);
    }
    fputs("    }\n", o);
    for (size_t k = 0; k < m->nfields; k++) {
        const struct field *f = &m->fields[k];
        size_t off = F->off[k];
        const char *fn = f->cname;
        if (!f->repeated && is_packable(f->kind))
            continue;
        if (!f->repeated && f->kind == K_MESSAGE) {
            const struct flat *G = &g_flat[msg_index(f->msg)];
            fprintf(o, "    if (m->%s) {\n        size_t at = sn_flat_reserve(cur, %zu, %zu);\n"
                       "        if (p)\n            sn_store_le32(p + %zu, (uint32_t)(at - t));\n"
                       "        %s_flat_put_(m->%s, b, at, cur);\n    }\n",
                    fn, G->size, G->align, off, f->msg->cname, fn);
        } else if (!f->repeated) {
            fprintf(o, "    if (m->%s.len) {\n        size_t at = sn_flat_reserve(cur, m->%s.len, 1);\n"
                       "        if (p) {\n            sn_store_le32(p + %zu, (uint32_t)(at - t));\n"
                       "            sn_store_le32(p + %zu, (uint32_t)m->%s.len);\n"
                       "            memcpy(b + at, m->%s.ptr, m->%s.len);\n        }\n    }\n",
                    fn, fn, off, off + 4, fn, fn, fn);
        } else {
            size_t es, ea;
            if (f->kind == K_MESSAGE) {
                es = g_flat[msg_index(f->msg)].size;
                ea = g_flat[msg_index(f->msg)].align;
            } else if (f->kind == K_STRING || f->kind == K_BYTES) {
                es = 8;
                ea = 4;
            } else {
                es = ea = flat_scalar_size(f->kind);
            }
            fprintf(o, "    if (m->%s.count) {\n        size_t n = m->%s.count;\n"
                       "        size_t at = sn_flat_reserve(cur, n * %zu, %zu);\n"
                       "        if (p) {\n            sn_store_le32(p + %zu, (uint32_t)(at - t));\n"
                       "            sn_store_le32(p + %zu, (uint32_t)n);\n        }\n",
                    fn, fn, es, ea, off, off + 4);
            if (f->kind == K_MESSAGE) {
                fprintf(o, "        for (size_t i = 0; i < n; i++)\n"
                           "            %s_flat_put_(&m->%s.ptr[i], b, at + i * %zu, cur);\n",
                        f->msg->cname, fn, es);
            } else if (f->kind == K_STRING || f->kind == K_BYTES) {
                fprintf(o, "        for (size_t i = 0; i < n; i++) {\n"
                           "            const struct sn_pb_slice *s = &m->%s.ptr[i];\n"
                           "            if (!s->len)\n                continue;\n"
                           "            size_t so = sn_flat_reserve(cur, s->len, 1);\n"
                           "            if (p) {\n"
                           "                sn_store_le32(b + at + 8 * i, (uint32_t)(so - t));\n"
                           "                sn_store_le32(b + at + 8 * i + 4, (uint32_t)s->len);\n"
                           "                memcpy(b + so, s->ptr, s->len);\n            }\n        }\n", fn);
            } else {
                char *P = xfmt("b + at + %zu * i", es);
                char *V = xfmt("m->%s.ptr[i]", fn);
                char *st = flat_store(f->kind, P, V);
                fprintf(o, "        if (p)\n            for (size_t i = 0; i < n; i++)\n                %s\n", st);
                free(st);
                free(V);
                free(P);
            }
            fputs("    }\n", o);
        }
    }
    fputs("}\n\n", o);
    fprintf(o, "size_t %s_flat_size(const struct %s *m)\n{\n"
               "    size_t cur = SN_FLAT_HDR_SIZE + %s_FLAT_TABLE_SIZE;\n"
               "    %s_flat_put_(m, NULL, SN_FLAT_HDR_SIZE, &cur);\n    return cur;\n}\n\n", c, c, c, c);
    fprintf(o, "int %s_to_flat(const struct %s *m, uint8_t *buf, size_t cap)\n{\n"
               "    size_t n = %s_flat_size(m), cur = SN_FLAT_HDR_SIZE + %s_FLAT_TABLE_SIZE;\n"
               "    if (n > SN_FLAT_MAX_SIZE)\n        return -EMSGSIZE;\n"
               "    if (n > cap)\n        return -ENOSPC;\n"
               "    memset(buf, 0, n);\n"
               "    %s_flat_put_(m, buf, SN_FLAT_HDR_SIZE, &cur);\n"
               "    sn_flat_header_write(buf, %s_FLAT_HASH, (uint32_t)n);\n"
               "    return (int)n;\n}\n\n", c, c, c, c, c, c);
}

static void emit_flat_read(FILE *o, const struct message *m)
{
    const char *c = m->cname;
    fprintf(o, "static int %s_from_flat_(struct %s *m, const uint8_t *t, struct sn_pb_arena *a)\n{\n"
               "    (void)t;\n    (void)a;\n    memset(m, 0, sizeof(*m));\n", c, c);
    for (size_t k = 0; k < m->nfields; k++) {
        const struct field *f = &m->fields[k];
        const char *fn = f->cname;
        if (!f->repeated && f->kind != K_MESSAGE) {
            if (f->optional)
                fprintf(o, "    m->has_%s = %s_flat_has_%s(t);\n", fn, c, fn);
            fprintf(o, "    m->%s = %s_flat_%s(t);\n", fn, c, fn);
        } else if (!f->repeated) {
            fprintf(o, "    {\n        const uint8_t *s = %s_flat_%s(t);\n        if (s) {\n"
                       "            struct %s *sub = sn_pb_arena_take(a, 1, sizeof(*sub), _Alignof(struct %s));\n"
                       "            if (!sub)\n                return -ENOMEM;\n"
                       "            SNC_TRY(%s_from_flat_(sub, s, a));\n            m->%s = sub;\n        }\n    }\n",
                    c, fn, f->msg->cname, f->msg->cname, f->msg->cname, fn);
        } else {
            char *et = elem_ctype(f);
            fprintf(o, "    {\n        size_t n = %s_flat_%s_count(t);\n        if (n) {\n"
                       "            %s *arr = sn_pb_arena_alloc(a, n, sizeof(%s), _Alignof(%s));\n"
                       "            if (!arr)\n                return -ENOMEM;\n"
                       "            for (size_t i = 0; i < n; i++)\n",
                    c, fn, et, et, et);
            if (f->kind == K_MESSAGE)
                fprintf(o, "                SNC_TRY(%s_from_flat_(&arr[i], %s_flat_%s_at(t, i), a));\n", f->msg->cname, c, fn);
            else
                fprintf(o, "                arr[i] = %s_flat_%s_at(t, i);\n", c, fn);
            fprintf(o, "            m->%s.ptr = arr;\n            m->%s.count = n;\n        }\n    }\n", fn, fn);
            free(et);
        }
    }
    fputs("    return 0;\n}\n\n", o);
    fprintf(o, "int %s_from_flat(struct %s *m, const uint8_t *buf, size_t len, struct sn_pb_arena *a)\n{\n"
               "    size_t mark = a ? a->used : 0;\n"
               "    int rc = %s_flat_verify(buf, len);\n"
               "    if (rc == 0)\n        rc = %s_from_flat_(m, %s_flat_root(buf), a);\n"
               "    if (rc < 0) {\n        memset(m, 0, sizeof(*m));\n        if (a)\n            a->used = mark;\n    }\n"
               "    return rc;\n}\n\n", c, c, c, c, c);
}

static void emit_flat_source(FILE *o)
{
    for (size_t i = 0; i < g_nmsgs; i++) {
        const char *c = g_msgs[i]->cname;
        fprintf(o, "static int %s_flat_verify_(const uint8_t *b, size_t t, size_t total, size_t *cur, int depth);\n", c);
        fprintf(o, "static void %s_flat_put_(const struct %s *m, uint8_t *b, size_t t, size_t *cur);\n", c, c);
        fprintf(o, "static int %s_from_flat_(struct %s *m, const uint8_t *t, struct sn_pb_arena *a);\n", c, c);
    }
    fputs("\n", o);
    for (size_t i = 0; i < g_nmsgs; i++) {
        emit_flat_verify(o, g_msgs[i]);
        emit_flat_put(o, g_msgs[i]);
        emit_flat_read(o, g_msgs[i]);
    }
}

/* ---- emit: header ------------------------------------------------------------------------ */

static void emit_header(FILE *o, const char *src, const char *base)
{
    char *guard = xfmt("SNC_%s_PB_H", base);
    for (char *q = guard; *q; q++)
        *q = isalnum((unsigned char)*q) ? (char)toupper((unsigned char)*q) : '_';
    fprintf(o, "/* %s.pb.h — generated by snc from %s. Do not edit.\n", base, src);
    fputs(" *\n"
          " * One struct per message, with three functions each:\n"
          " *   size_t X_size(const struct X *m)      encoded size, nothing written\n"
          " *   int X_encode(const struct X *m, uint8_t *buf, size_t cap)\n"
          " *       bytes written, -ENOSPC if cap < X_size(m), -EMSGSIZE over INT_MAX.\n"
          " *       Fields go out in field-number order; proto3 defaults (0, false, empty)\n"
          " *       are not written; repeated scalars are packed; a message field is written\n"
          " *       when its pointer is not NULL, an optional field when has_X is set.\n"
          " *   int X_decode(struct X *m, const uint8_t *buf, size_t len, struct sn_pb_arena *a)\n"
          " *       0 or a negative errno (see <sysnet/codec.h>; -ENOMEM: arena too small).\n"
          " *       Zero copy: string/bytes slices point into buf, which must outlive m.\n"
          " *       Arrays and nested messages are placed in the caller's arena (no malloc);\n"
          " *       on failure *m is zeroed and the arena is given back. Repeated scalars are\n"
          " *       accepted packed and unpacked; unknown fields are skipped; a field with the\n"
          " *       wrong wire type is skipped as unknown; a singular message field that\n"
          " *       occurs twice keeps the last occurrence (protobuf would merge them).\n"
          " * Enum fields are int32_t (proto3 enums are open: unknown values are kept).\n"
          " */\n", o);
    fprintf(o, "#ifndef %s\n#define %s\n\n", guard, guard);
    fputs("#include <stdbool.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <sysnet/codec.h>\n\n", o);
    fputs("#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n", o);
    for (size_t i = 0; i < g_nenums; i++) {
        struct enumdef *e = g_enums[i];
        fprintf(o, "/* enum %s */\nenum %s {\n", e->full, e->cname);
        for (size_t k = 0; k < e->nvals; k++)
            fprintf(o, "    %s_%s = %s%ld,\n", e->cname, e->vals[k].name,
                    e->vals[k].number == INT32_MIN ? "-2147483647 - " : "",
                    e->vals[k].number == INT32_MIN ? 1L : (long)e->vals[k].number);
        fputs("};\n\n", o);
    }
    for (size_t i = 0; i < g_nmsgs; i++)
        fprintf(o, "struct %s;\n", g_msgs[i]->cname);
    fputs("\n", o);
    for (size_t i = 0; i < g_nmsgs; i++) {
        struct message *m = g_msgs[i];
        fprintf(o, "/* message %s */\nstruct %s {\n", m->full, m->cname);
        if (m->nfields == 0)
            fputs("    char snc_empty_; /* C has no empty structs */\n", o);
        for (size_t k = 0; k < m->nfields; k++) {
            struct field *f = &m->fields[k];
            char *t = elem_ctype(f);
            const char *tn = f->kind == K_MESSAGE ? f->msg->full : f->kind == K_ENUM ? f->enm->full : scalars[f->kind].name;
            const char *lab = f->repeated ? "repeated " : f->optional ? "optional " : "";
            if (f->repeated)
                fprintf(o, "    struct { const %s *ptr; size_t count; } %s; /* %u: %s%s */\n", t, f->cname,
                        f->number, lab, tn);
            else if (f->kind == K_MESSAGE)
                fprintf(o, "    const %s *%s; /* %u: %s%s (NULL: absent) */\n", t, f->cname, f->number, lab, tn);
            else {
                if (f->optional)
                    fprintf(o, "    bool has_%s;\n", f->cname);
                fprintf(o, "    %s %s; /* %u: %s%s */\n", t, f->cname, f->number, lab, tn);
            }
            free(t);
        }
        fputs("};\n", o);
        fprintf(o, "size_t %s_size(const struct %s *m);\n", m->cname, m->cname);
        fprintf(o, "int %s_encode(const struct %s *m, uint8_t *buf, size_t cap);\n", m->cname, m->cname);
        fprintf(o, "int %s_decode(struct %s *m, const uint8_t *buf, size_t len, struct sn_pb_arena *a);\n\n",
                m->cname, m->cname);
    }
    if (g_flat_on) {
        fputs("/* The flat layout (snc --flat; see <sysnet/codec.h>). Per message X:\n"
              " *   size_t X_flat_size(const struct X *m)   bytes X_to_flat will write\n"
              " *   int X_to_flat(const struct X *m, uint8_t *buf, size_t cap)\n"
              " *       bytes written, -ENOSPC if cap is smaller, -EMSGSIZE over 2 GiB\n"
              " *   int X_flat_verify(const uint8_t *buf, size_t len)\n"
              " *       0, -ENODATA (truncated) or -EBADMSG. Call it before any accessor.\n"
              " *   int X_from_flat(struct X *m, const uint8_t *buf, size_t len, struct sn_pb_arena *a)\n"
              " *       verify, then read back into the struct (slices point into buf)\n"
              " *   Accessors (read straight from a verified buffer, no bounds checks):\n"
              " *       const uint8_t *t = X_flat_root(buf);   the root table\n"
              " *       X_flat_F(t)  a scalar, a string/bytes slice, or a nested table (NULL: absent)\n"
              " *       X_flat_has_F(t)  optional fields\n"
              " *       X_flat_F_count(t), X_flat_F_at(t, i)  repeated fields (i < count)\n"
              " */\n", o);
        for (size_t i = 0; i < g_nmsgs; i++)
            emit_flat_header(o, g_msgs[i]);
    }
    fputs("#ifdef __cplusplus\n}\n#endif\n", o);
    fprintf(o, "#endif /* %s */\n", guard);
    free(guard);
}

/* ---- emit: size and encode ------------------------------------------------------------------
 * X_size() sums the field sizes; X_encode() sizes the whole message once, checks it
 * against the caller's buffer, then X_put_() writes with no further checks: the tags
 * are constant bytes, the values go through the inline writers of <sysnet/codec.h>.
 * A nested message is sized again (X_sz_, inline) for its length prefix. */

static void emit_size(FILE *o, const struct message *m)
{
    struct field **fs = sorted_fields(m);
    fprintf(o, "static inline size_t %s_sz_(const struct %s *m)\n{\n    size_t n = 0;\n", m->cname, m->cname);
    if (m->nfields == 0)
        fputs("    (void)m;\n", o);
    for (size_t i = 0; i < m->nfields; i++) {
        const struct field *f = fs[i];
        size_t ts = tag_size(f->number);
        char *v = xfmt("m->%s", f->cname);
        if (!f->repeated) {
            char *pres = presence(f, v);
            fprintf(o, "    if (%s)\n        n += %zu + ", pres, ts);
            if (is_varint(f->kind)) {
                char *wv = wire_value(f->kind, v);
                fprintf(o, "sn_pb_varint_size(%s);\n", wv);
                free(wv);
            } else if (is_fixed32(f->kind)) {
                fputs("4;\n", o);
            } else if (is_fixed64(f->kind)) {
                fputs("8;\n", o);
            } else if (f->kind == K_MESSAGE) {
                fprintf(o, "sn_pb_len_size(%s_sz_(%s));\n", f->msg->cname, v);
            } else {
                fprintf(o, "sn_pb_len_size(%s.len);\n", v);
            }
            free(pres);
        } else if (is_packable(f->kind)) {
            fprintf(o, "    if (%s.count) {\n", v);
            if (is_varint(f->kind)) {
                char *e = xfmt("%s.ptr[i]", v);
                char *wv = wire_value(f->kind, e);
                fprintf(o, "        size_t b = 0;\n        for (size_t i = 0; i < %s.count; i++)\n"
                           "            b += sn_pb_varint_size(%s);\n", v, wv);
                free(wv);
                free(e);
            } else {
                fprintf(o, "        size_t b = %s.count * %d;\n", v, is_fixed32(f->kind) ? 4 : 8);
            }
            fprintf(o, "        n += %zu + sn_pb_len_size(b);\n    }\n", ts);
        } else if (f->kind == K_MESSAGE) {
            fprintf(o, "    for (size_t i = 0; i < %s.count; i++)\n        n += %zu + sn_pb_len_size(%s_sz_(&%s.ptr[i]));\n",
                    v, ts, f->msg->cname, v);
        } else {
            fprintf(o, "    for (size_t i = 0; i < %s.count; i++)\n        n += %zu + sn_pb_len_size(%s.ptr[i].len);\n",
                    v, ts, v);
        }
        free(v);
    }
    fputs("    return n;\n}\n\n", o);
    fprintf(o, "size_t %s_size(const struct %s *m)\n{\n    return %s_sz_(m);\n}\n\n", m->cname, m->cname, m->cname);
    free(fs);
}

static unsigned wire_num(enum kind k)
{
    if (is_varint(k))
        return 0;
    if (is_fixed32(k))
        return 5;
    if (is_fixed64(k))
        return 1;
    return 2;
}

/* The tag of (number, wire type) as constant byte stores: "*p++ = 0x52;". */
static void emit_tag(FILE *o, const char *ind, uint32_t number, unsigned wt)
{
    uint64_t t = (uint64_t)number << 3 | wt;
    fputs(ind, o);
    while (t >= 0x80) {
        fprintf(o, "*p++ = 0x%02x; ", (unsigned)((t & 0x7f) | 0x80));
        t >>= 7;
    }
    fprintf(o, "*p++ = 0x%02x; /* field %u, wire type %u */\n", (unsigned)t, number, wt);
}

/* One value (not its tag), unchecked. */
static void emit_put_value(FILE *o, const char *ind, enum kind k, const char *v)
{
    char *wv = wire_value(k, v);
    if (is_varint(k))
        fprintf(o, "%sp = sn_pb_put_varint(p, %s);\n", ind, wv);
    else if (is_fixed32(k))
        fprintf(o, "%sp = sn_pb_put_fixed32(p, %s);\n", ind, wv);
    else
        fprintf(o, "%sp = sn_pb_put_fixed64(p, %s);\n", ind, wv);
    free(wv);
}

static void emit_encode(FILE *o, const struct message *m)
{
    struct field **fs = sorted_fields(m);
    fprintf(o, "static uint8_t *%s_put_(const struct %s *m, uint8_t *p)\n{\n", m->cname, m->cname);
    if (m->nfields == 0)
        fputs("    (void)m;\n", o);
    for (size_t i = 0; i < m->nfields; i++) {
        const struct field *f = fs[i];
        char *v = xfmt("m->%s", f->cname);
        if (!f->repeated) {
            char *pres = presence(f, v);
            fprintf(o, "    if (%s) {\n", pres);
            if (is_packable(f->kind)) {
                emit_tag(o, "        ", f->number, wire_num(f->kind));
                emit_put_value(o, "        ", f->kind, v);
            } else if (f->kind == K_MESSAGE) {
                emit_tag(o, "        ", f->number, 2);
                fprintf(o, "        p = sn_pb_put_varint(p, %s_sz_(%s));\n"
                           "        p = %s_put_(%s, p);\n", f->msg->cname, v, f->msg->cname, v);
            } else {
                emit_tag(o, "        ", f->number, 2);
                fprintf(o, "        p = sn_pb_put_varint(p, %s.len);\n"
                           "        p = sn_pb_put_raw(p, %s.ptr, %s.len);\n", v, v, v);
            }
            fputs("    }\n", o);
            free(pres);
        } else if (is_packable(f->kind)) {
            char *e = xfmt("%s.ptr[i]", v);
            fprintf(o, "    if (%s.count) {\n", v);
            if (is_varint(f->kind)) {
                char *wv = wire_value(f->kind, e);
                fprintf(o, "        size_t b = 0;\n        for (size_t i = 0; i < %s.count; i++)\n"
                           "            b += sn_pb_varint_size(%s);\n", v, wv);
                free(wv);
            } else {
                fprintf(o, "        size_t b = %s.count * %d;\n", v, is_fixed32(f->kind) ? 4 : 8);
            }
            emit_tag(o, "        ", f->number, 2);
            fprintf(o, "        p = sn_pb_put_varint(p, b);\n"
                       "        for (size_t i = 0; i < %s.count; i++)\n", v);
            emit_put_value(o, "            ", f->kind, e);
            fputs("    }\n", o);
            free(e);
        } else if (f->kind == K_MESSAGE) {
            fprintf(o, "    for (size_t i = 0; i < %s.count; i++) {\n", v);
            emit_tag(o, "        ", f->number, 2);
            fprintf(o, "        p = sn_pb_put_varint(p, %s_sz_(&%s.ptr[i]));\n"
                       "        p = %s_put_(&%s.ptr[i], p);\n    }\n",
                    f->msg->cname, v, f->msg->cname, v);
        } else {
            fprintf(o, "    for (size_t i = 0; i < %s.count; i++) {\n", v);
            emit_tag(o, "        ", f->number, 2);
            fprintf(o, "        p = sn_pb_put_varint(p, %s.ptr[i].len);\n"
                       "        p = sn_pb_put_raw(p, %s.ptr[i].ptr, %s.ptr[i].len);\n    }\n", v, v, v);
        }
        free(v);
    }
    fputs("    return p;\n}\n\n", o);
    fprintf(o, "int %s_encode(const struct %s *m, uint8_t *buf, size_t cap)\n{\n"
               "    size_t n = %s_sz_(m);\n"
               "    if (n > (size_t)INT_MAX)\n        return -EMSGSIZE;\n"
               "    if (n > cap)\n        return -ENOSPC;\n"
               "    if (n == 0)\n        return 0;\n"
               "    /* Exactly n bytes follow (m is not modified meanwhile): no further checks. */\n"
               "    return (int)(%s_put_(m, buf) - buf);\n}\n\n",
            m->cname, m->cname, m->cname, m->cname);
    free(fs);
}

/* ---- emit: decode ----------------------------------------------------------------------
 * One pass over the input: a cursor p and the end of the message in registers, the tag
 * read as one varint and switched on whole (field << 3 | wire type), so a known field
 * with its own wire type is one case; anything else (unknown field, wrong wire type,
 * bad tag) goes to sn_pb_skip_tagged(). Repeated fields need their arrays sized: at the
 * first element of any repeated field, X_cnt_() counts the elements of every repeated
 * field from there to the end of the message (no repeated element lies before it),
 * and each array becomes one arena block of the right size. Arena blocks are taken
 * unzeroed (sn_pb_arena_take): every element is written before the decode succeeds. */

/* Read one scalar value of kind k from cursor P (end E) into lvalue LV. */
static void emit_read_scalar(FILE *o, const char *ind, enum kind k, const char *P, const char *E, const char *lv)
{
    char *c = from_wire(k, "v");
    if (is_varint(k))
        fprintf(o, "%suint64_t v;\n%sSNC_VARINT(%s, %s, v);\n%s%s = %s;\n", ind, ind, P, E, ind, lv, c);
    else if (is_fixed32(k))
        fprintf(o, "%suint32_t v;\n%sSNC_FIXED32(%s, %s, v);\n%s%s = %s;\n", ind, ind, P, E, ind, lv, c);
    else
        fprintf(o, "%suint64_t v;\n%sSNC_FIXED64(%s, %s, v);\n%s%s = %s;\n", ind, ind, P, E, ind, lv, c);
    free(c);
}

static void emit_count(FILE *o, const struct message *m)
{
    fprintf(o, "static int %s_cnt_(const uint8_t *p, const uint8_t *end, size_t *cnt)\n{\n"
               "    while (p < end) {\n        uint64_t t;\n        SNC_VARINT(p, end, t);\n        switch (t) {\n",
            m->cname);
    size_t j = 0;
    for (size_t i = 0; i < m->nfields; i++) {
        const struct field *f = &m->fields[i];
        if (!f->repeated)
            continue;
        uint64_t tl = (uint64_t)f->number << 3 | 2;
        if (is_packable(f->kind)) {
            fprintf(o, "        case %llu: { /* %s, packed */\n"
                       "            uint64_t l;\n            size_t k;\n"
                       "            SNC_LEN(p, end, l);\n"
                       "            SNC_TRY(sn_pb_packed_count(p, (size_t)l, %s, &k));\n"
                       "            cnt[%zu] += k;\n            p += l;\n            continue;\n        }\n",
                    (unsigned long long)tl, f->name, wire_name(f->kind), j);
            fprintf(o, "        case %llu: /* %s */\n            cnt[%zu]++;\n            break;\n",
                    (unsigned long long)((uint64_t)f->number << 3 | wire_num(f->kind)), f->name, j);
        } else {
            fprintf(o, "        case %llu: { /* %s */\n"
                       "            uint64_t l;\n            SNC_LEN(p, end, l);\n"
                       "            cnt[%zu]++;\n            p += l;\n            continue;\n        }\n",
                    (unsigned long long)tl, f->name, j);
        }
        j++;
    }
    fputs("        default:\n            break;\n        }\n"
          "        SNC_TRY(sn_pb_skip_tagged(t, &p, end));\n    }\n    return 0;\n}\n\n", o);
}

/* At the first repeated element: count them all, allocate every array. */
static void emit_lazy_alloc(FILE *o, const struct message *m)
{
    fprintf(o, "            if (SN_UNLIKELY(!counted)) {\n"
               "                SNC_TRY(%s_cnt_(tp, end, cnt));\n                counted = 1;\n", m->cname);
    size_t j = 0;
    for (size_t i = 0; i < m->nfields; i++) {
        const struct field *f = &m->fields[i];
        if (!f->repeated)
            continue;
        char *t = elem_ctype(f);
        fprintf(o, "                if (cnt[%zu]) {\n"
                   "                    arr%zu = sn_pb_arena_take(a, cnt[%zu], sizeof(%s), _Alignof(%s));\n"
                   "                    if (!arr%zu)\n                        return -ENOMEM;\n"
                   "                    m->%s.ptr = arr%zu;\n                }\n",
                j, i, j, t, t, i, f->cname, i);
        free(t);
        j++;
    }
    fputs("            }\n", o);
}

/* The fast chain: encoders write fields in number order, so after a field the decoder
 * first tests for the tag of the same field again (repeated) and of the next field
 * (one-byte tags only) and jumps straight to its case: direct, predictable branches
 * instead of the switch's indirect jump. Any other order falls back to the switch. */
static uint64_t chain_tag(const struct field *f)
{
    return (uint64_t)f->number << 3 | (f->repeated || !is_packable(f->kind) ? 2 : wire_num(f->kind));
}

static int chain_labeled(struct field **fs, size_t k)
{
    if (chain_tag(fs[k]) >= 0x80)
        return 0;
    return fs[k]->repeated || k > 0;
}

static void emit_chain(FILE *o, struct field **fs, size_t n, const struct field *f, int nrep)
{
    size_t k = 0;
    while (fs[k] != f)
        k++;
    if (f->repeated && chain_tag(f) < 0x80)
        fprintf(o, "            if (p < end && *p == %llu) {\n%s                p++;\n                goto snc_f%u;\n            }\n",
                (unsigned long long)chain_tag(f), nrep ? "                tp = p;\n" : "", f->number);
    if (k + 1 < n && chain_labeled(fs, k + 1))
        fprintf(o, "            if (p < end && *p == %llu) {\n%s                p++;\n                goto snc_f%u;\n            }\n",
                (unsigned long long)chain_tag(fs[k + 1]), nrep ? "                tp = p;\n" : "", fs[k + 1]->number);
    fputs("            continue;\n", o);
}

static const char *chain_label(struct field **fs, size_t n, const struct field *f)
{
    static char buf[64];
    for (size_t k = 0; k < n; k++)
        if (fs[k] == f && chain_labeled(fs, k)) {
            snprintf(buf, sizeof(buf), " snc_f%u:", f->number);
            return buf;
        }
    return "";
}

static void emit_decode(FILE *o, const struct message *m)
{
    int nrep = 0, needs_arena = 0, needs_depth = 0;
    for (size_t i = 0; i < m->nfields; i++) {
        if (m->fields[i].repeated)
            nrep++;
        if (m->fields[i].repeated || m->fields[i].kind == K_MESSAGE)
            needs_arena = 1;
        if (m->fields[i].kind == K_MESSAGE)
            needs_depth = 1;
    }
    if (nrep)
        emit_count(o, m);
    fprintf(o, "static int %s_dec_(struct %s *m, const uint8_t *p, const uint8_t *end, int depth, struct sn_pb_arena *a)\n{\n"
               "    memset(m, 0, sizeof(*m));\n",
            m->cname, m->cname);
    if (!needs_arena)
        fputs("    (void)a;\n", o);
    if (!needs_depth)
        fputs("    (void)depth;\n", o);
    if (nrep) {
        fprintf(o, "    size_t cnt[%d] = {0};\n    int counted = 0;\n", nrep);
        for (size_t i = 0; i < m->nfields; i++) {
            const struct field *f = &m->fields[i];
            if (!f->repeated)
                continue;
            char *t = elem_ctype(f);
            fprintf(o, "    %s *arr%zu = NULL;\n", t, i);
            free(t);
        }
    }
    fputs("    while (p < end) {\n", o);
    if (nrep)
        fputs("        const uint8_t *tp = p;\n", o);
    fputs("        uint64_t t;\n        SNC_VARINT(p, end, t);\n        switch (t) {\n", o);
    struct field **fs = sorted_fields(m);
    size_t j = 0;
    for (size_t i = 0; i < m->nfields; i++) {
        const struct field *f = &m->fields[i];
        const char *lab = chain_label(fs, m->nfields, f);
        char *lv = xfmt("m->%s", f->cname);
        uint64_t tl = (uint64_t)f->number << 3 | 2, tn = (uint64_t)f->number << 3 | wire_num(f->kind);
        if (f->repeated && is_packable(f->kind)) {
            char *el = xfmt("arr%zu[%s.count++]", i, lv);
            fprintf(o, "        case %llu:%s { /* %s, packed */\n", (unsigned long long)tl, lab, f->name);
            emit_lazy_alloc(o, m);
            fprintf(o, "            uint64_t l;\n            SNC_LEN(p, end, l);\n"
                       "            const uint8_t *q = p, *qe = p + l;\n            p = qe;\n"
                       "            while (q < qe) {\n"
                       "                if (%s.count >= cnt[%zu])\n                    return -EBADMSG;\n",
                    lv, j);
            emit_read_scalar(o, "                ", f->kind, "q", "qe", el);
            fputs("            }\n", o);
            emit_chain(o, fs, m->nfields, f, nrep);
            fputs("        }\n", o);
            fprintf(o, "        case %llu: { /* %s */\n", (unsigned long long)tn, f->name);
            emit_lazy_alloc(o, m);
            fprintf(o, "            if (%s.count >= cnt[%zu])\n                return -EBADMSG;\n", lv, j);
            emit_read_scalar(o, "            ", f->kind, "p", "end", el);
            emit_chain(o, fs, m->nfields, f, nrep);
            fputs("        }\n", o);
            free(el);
            j++;
        } else if (f->repeated) {
            fprintf(o, "        case %llu:%s { /* %s */\n", (unsigned long long)tl, lab, f->name);
            emit_lazy_alloc(o, m);
            fprintf(o, "            if (%s.count >= cnt[%zu])\n                return -EBADMSG;\n", lv, j);
            if (f->kind == K_MESSAGE) {
                fprintf(o, "            if (depth >= SN_PB_MAX_DEPTH)\n                return -ELOOP;\n"
                           "            uint64_t l;\n            SNC_LEN(p, end, l);\n"
                           "            SNC_TRY(%s_dec_(&arr%zu[%s.count], p, p + l, depth + 1, a));\n"
                           "            p += l;\n            %s.count++;\n",
                        f->msg->cname, i, lv, lv);
            } else {
                fputs("            uint64_t l;\n            SNC_LEN(p, end, l);\n", o);
                if (f->kind == K_STRING)
                    fputs("            SNC_TRY(sn_pb_utf8_ok(p, (size_t)l));\n", o);
                fprintf(o, "            arr%zu[%s.count].ptr = p;\n            arr%zu[%s.count].len = (size_t)l;\n"
                           "            p += l;\n            %s.count++;\n", i, lv, i, lv, lv);
            }
            emit_chain(o, fs, m->nfields, f, nrep);
            fputs("        }\n", o);
            j++;
        } else {
            fprintf(o, "        case %llu:%s { /* %s */\n", (unsigned long long)tn, lab, f->name);
            if (is_packable(f->kind)) {
                emit_read_scalar(o, "            ", f->kind, "p", "end", lv);
            } else if (f->kind == K_MESSAGE) {
                fprintf(o, "            if (depth >= SN_PB_MAX_DEPTH)\n                return -ELOOP;\n"
                           "            uint64_t l;\n            SNC_LEN(p, end, l);\n"
                           "            struct %s *sub = sn_pb_arena_take(a, 1, sizeof(*sub), _Alignof(struct %s));\n"
                           "            if (!sub)\n                return -ENOMEM;\n"
                           "            SNC_TRY(%s_dec_(sub, p, p + l, depth + 1, a));\n"
                           "            p += l;\n            %s = sub;\n",
                        f->msg->cname, f->msg->cname, f->msg->cname, lv);
            } else {
                fputs("            uint64_t l;\n            SNC_LEN(p, end, l);\n", o);
                if (f->kind == K_STRING)
                    fputs("            SNC_TRY(sn_pb_utf8_ok(p, (size_t)l));\n", o);
                fprintf(o, "            %s.ptr = p;\n            %s.len = (size_t)l;\n            p += l;\n", lv, lv);
            }
            if (f->optional)
                fprintf(o, "            m->has_%s = true;\n", f->cname);
            emit_chain(o, fs, m->nfields, f, nrep);
            fputs("        }\n", o);
        }
        free(lv);
    }
    free(fs);
    fputs("        default:\n            break;\n        }\n"
          "        SNC_TRY(sn_pb_skip_tagged(t, &p, end)); /* unknown field or wire type */\n    }\n    return 0;\n}\n\n", o);
    fprintf(o, "int %s_decode(struct %s *m, const uint8_t *buf, size_t len, struct sn_pb_arena *a)\n{\n"
               "    size_t mark = a ? a->used : 0;\n"
               "    int rc = %s_dec_(m, buf, buf + len, 0, a);\n"
               "    if (rc < 0) {\n        memset(m, 0, sizeof(*m));\n        if (a)\n            a->used = mark;\n    }\n"
               "    return rc < 0 ? rc : 0;\n}\n\n",
            m->cname, m->cname, m->cname);
}

static void emit_source(FILE *o, const char *src, const char *base)
{
    fprintf(o, "/* %s.pb.c — generated by snc from %s. Do not edit. */\n", base, src);
    fprintf(o, "#include \"%s.pb.h\"\n\n#include <errno.h>\n#include <limits.h>\n#include <string.h>\n\n", base);
    fputs("#define SNC_TRY(x)             \\\n    do {                       \\\n        int rc_ = (x);         \\\n"
          "        if (rc_ < 0)           \\\n            return rc_;        \\\n    } while (0)\n", o);
    fputs("/* Decoding at cursor P, end E: a varint; a length that must fit; fixed32/64. */\n"
          "#define SNC_VARINT(P, E, V)                          \\\n"
          "    do {                                             \\\n"
          "        int n_ = sn_pb_varint_get((P), (E), &(V));   \\\n"
          "        if (n_ < 0)                                  \\\n"
          "            return n_;                               \\\n"
          "        (P) += n_;                                   \\\n"
          "    } while (0)\n"
          "#define SNC_LEN(P, E, L)                             \\\n"
          "    do {                                             \\\n"
          "        SNC_VARINT(P, E, L);                         \\\n"
          "        if ((L) > (uint64_t)((E) - (P)))             \\\n"
          "            return -EBADMSG;                         \\\n"
          "    } while (0)\n"
          "#define SNC_FIXED32(P, E, V)                         \\\n"
          "    do {                                             \\\n"
          "        if ((E) - (P) < 4)                           \\\n"
          "            return -ENODATA;                         \\\n"
          "        (V) = sn_load_le32(P);                       \\\n"
          "        (P) += 4;                                    \\\n"
          "    } while (0)\n"
          "#define SNC_FIXED64(P, E, V)                         \\\n"
          "    do {                                             \\\n"
          "        if ((E) - (P) < 8)                           \\\n"
          "            return -ENODATA;                         \\\n"
          "        (V) = sn_load_le64(P);                       \\\n"
          "        (P) += 8;                                    \\\n"
          "    } while (0)\n\n", o);
    for (size_t i = 0; i < g_nmsgs; i++) {
        const char *c = g_msgs[i]->cname;
        fprintf(o, "static inline size_t %s_sz_(const struct %s *m);\n", c, c);
        fprintf(o, "static uint8_t *%s_put_(const struct %s *m, uint8_t *p);\n", c, c);
        fprintf(o, "static int %s_dec_(struct %s *m, const uint8_t *p, const uint8_t *end, int depth, struct sn_pb_arena *a);\n", c, c);
    }
    fputs("\n", o);
    for (size_t i = 0; i < g_nmsgs; i++) {
        emit_size(o, g_msgs[i]);
        emit_encode(o, g_msgs[i]);
        emit_decode(o, g_msgs[i]);
    }
    if (g_flat_on)
        emit_flat_source(o);
}

static void emit_main(FILE *o, const char *base, const struct message *m)
{
    fprintf(o, "/* main.c — generated by snc: read a protobuf %s on stdin, decode it, write it\n"
               " * re-encoded on stdout; exit 1 with a one-line reason on malformed input. */\n", m->full);
    fprintf(o, "#include \"%s.pb.h\"\n\n#include <errno.h>\n#include <stdio.h>\n#include <stdlib.h>\n\n", base);
    char *flat_part = xstrdup("");
    if (g_flat_on) {
        const char *c = m->cname, *fu = m->full;
        free(flat_part);
        flat_part = xfmt(
            "    /* Through the flat layout: convert, verify, read back through the accessors. */\n"
            "    size_t fsize = %s_flat_size(&msg);\n"
            "    flat = malloc(fsize ? fsize : 1);\n"
            "    if (!flat)\n        goto nomem;\n"
            "    int fl = %s_to_flat(&msg, flat, fsize);\n"
            "    if (fl < 0) {\n        fprintf(stderr, \"%s: to flat: %%s\\n\", sn_flat_strerror(fl));\n        goto out;\n    }\n"
            "    int vr = %s_flat_verify(flat, (size_t)fl);\n"
            "    if (vr < 0) {\n        fprintf(stderr, \"%s: flat verify: %%s\\n\", sn_flat_strerror(vr));\n        goto out;\n    }\n"
            "    for (acap = 4096 + 16 * (size_t)fl;;) {\n"
            "        struct sn_pb_arena a2;\n"
            "        free(arena2);\n"
            "        arena2 = malloc(acap);\n"
            "        if (!arena2)\n            goto nomem;\n"
            "        sn_pb_arena_init(&a2, arena2, acap);\n"
            "        int d = %s_from_flat(&msg, flat, (size_t)fl, &a2);\n"
            "        if (d == -ENOMEM && acap < ((size_t)1 << 32)) {\n            acap *= 4;\n            continue;\n        }\n"
            "        if (d < 0) {\n"
            "            fprintf(stderr, \"%s: from flat: %%s\\n\", sn_flat_strerror(d));\n"
            "            goto out;\n        }\n        break;\n    }\n",
            c, c, fu, c, fu, c, fu);
    }
    fprintf(o,
            "int main(void)\n{\n"
            "    size_t cap = 65536, len = 0, got;\n"
            "    uint8_t *in = malloc(cap), *arena = NULL, *out = NULL;\n%s"
            "    int rc = 1;\n"
            "    if (!in)\n        goto nomem;\n"
            "    while ((got = fread(in + len, 1, cap - len, stdin)) > 0) {\n"
            "        len += got;\n"
            "        if (len == cap) {\n"
            "            uint8_t *bigger = cap < ((size_t)1 << 31) ? realloc(in, cap * 2) : NULL;\n"
            "            if (!bigger)\n                goto nomem;\n"
            "            in = bigger;\n            cap *= 2;\n        }\n    }\n"
            "    if (ferror(stdin)) {\n        fprintf(stderr, \"%s: cannot read stdin\\n\");\n        goto out;\n    }\n"
            "    /* Arrays and nested messages go to the arena: grow it until it suffices. */\n"
            "    struct %s msg;\n"
            "    size_t acap = 4096 + 16 * len;\n"
            "    for (;;) {\n"
            "        struct sn_pb_arena a;\n"
            "        free(arena);\n"
            "        arena = malloc(acap);\n"
            "        if (!arena)\n            goto nomem;\n"
            "        sn_pb_arena_init(&a, arena, acap);\n"
            "        int d = %s_decode(&msg, in, len, &a);\n"
            "        if (d == -ENOMEM && acap < ((size_t)1 << 32)) {\n            acap *= 4;\n            continue;\n        }\n"
            "        if (d < 0) {\n"
            "            fprintf(stderr, \"%s: malformed input: %%s\\n\", sn_pb_strerror(d));\n"
            "            goto out;\n        }\n        break;\n    }\n"
            "%s"
            "    size_t n = %s_size(&msg);\n"
            "    out = malloc(n ? n : 1);\n"
            "    if (!out)\n        goto nomem;\n"
            "    int e = %s_encode(&msg, out, n);\n"
            "    if (e < 0) {\n        fprintf(stderr, \"%s: encode: %%s\\n\", sn_pb_strerror(e));\n        goto out;\n    }\n"
            "    if (fwrite(out, 1, (size_t)e, stdout) != (size_t)e || fflush(stdout) != 0) {\n"
            "        fprintf(stderr, \"%s: cannot write stdout\\n\");\n        goto out;\n    }\n"
            "    rc = 0;\n    goto out;\n"
            "nomem:\n    fprintf(stderr, \"%s: out of memory\\n\");\n"
            "out:\n    free(in);\n    free(arena);\n    free(out);\n%s    return rc;\n}\n",
            g_flat_on ? "    uint8_t *flat = NULL, *arena2 = NULL;\n" : "", m->full, m->cname, m->cname, m->full, flat_part, m->cname, m->cname, m->full, m->full, m->full,
            g_flat_on ? "    free(flat);\n    free(arena2);\n" : "");
    free(flat_part);
}

/* ---- main ---------------------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "snc: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    size_t cap = 4096, n = 0, got;
    char *s = xmalloc(cap);
    while ((got = fread(s + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            cap *= 2;
            s = xrealloc(s, cap);
        }
    }
    fclose(f);
    s[n] = 0;
    if (memchr(s, 0, n)) {
        fprintf(stderr, "%s:1:1: NUL byte in the file\n", path);
        exit(1);
    }
    *len = n;
    return s;
}

static FILE *open_out(const char *dir, const char *name, char **path)
{
    *path = xfmt("%s/%s", dir, name);
    FILE *f = fopen(*path, "w");
    if (!f) {
        fprintf(stderr, "snc: %s: %s\n", *path, strerror(errno));
        exit(1);
    }
    return f;
}

static void close_out(FILE *f, char *path)
{
    if (ferror(f) || fclose(f) != 0) {
        fprintf(stderr, "snc: %s: write error\n", path);
        exit(1);
    }
    free(path);
}

static void usage(void)
{
    fprintf(stderr, "usage: snc --c-out DIR [--main MSG [--flat]] FILE.proto\n"
                    "  writes DIR/NAME.pb.h and DIR/NAME.pb.c; --main package.Message adds DIR/main.c,\n"
                    "  a stdin -> decode -> encode -> stdout filter for that message; --flat adds the\n"
                    "  flat zero-copy layout (accessors, verifier, converters), and main goes through it\n");
    exit(1);
}

int main(int argc, char **argv)
{
    const char *out_dir = NULL, *main_msg = NULL, *input = NULL;
    int flat = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--c-out") == 0 && i + 1 < argc)
            out_dir = argv[++i];
        else if (strncmp(argv[i], "--c-out=", 8) == 0)
            out_dir = argv[i] + 8;
        else if (strcmp(argv[i], "--main") == 0 && i + 1 < argc)
            main_msg = argv[++i];
        else if (strncmp(argv[i], "--main=", 7) == 0)
            main_msg = argv[i] + 7;
        else if (strcmp(argv[i], "--flat") == 0)
            flat = 1;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            usage();
        else if (argv[i][0] == '-' || input)
            usage();
        else
            input = argv[i];
    }
    if (!out_dir || !input)
        usage();
    g_flat_on = flat;
    g_file = input;
    size_t len;
    L.src = read_file(input, &len);
    L.len = len;
    L.line = L.col = 1;
    parse_file();
    resolve_all();
    if (g_flat_on)
        flat_layout_all();

    const struct message *mm = NULL;
    if (main_msg) {
        for (size_t i = 0; i < g_nmsgs; i++)
            if (strcmp(g_msgs[i]->full, main_msg) == 0)
                mm = g_msgs[i];
        if (!mm) {
            fprintf(stderr, "snc: --main %s: no such message in %s (name it as protoc does: package.Message)\n",
                    main_msg, input);
            return 1;
        }
    }
    const char *slash = strrchr(input, '/');
    char *base = xstrdup(slash ? slash + 1 : input);
    size_t bl = strlen(base);
    if (bl > 6 && strcmp(base + bl - 6, ".proto") == 0)
        base[bl - 6] = 0;

    char *path, *name;
    name = xfmt("%s.pb.h", base);
    FILE *f = open_out(out_dir, name, &path);
    emit_header(f, input, base);
    close_out(f, path);
    free(name);
    name = xfmt("%s.pb.c", base);
    f = open_out(out_dir, name, &path);
    emit_source(f, input, base);
    close_out(f, path);
    free(name);
    if (mm) {
        f = open_out(out_dir, "main.c", &path);
        emit_main(f, base, mm);
        close_out(f, path);
    }
    return 0;
}
