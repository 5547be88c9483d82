/* parse.c — tokens to a syntax tree, following libpcap's grammar.y so that every
 * expression means what it means to tcpdump:
 *   - "and" and "or" have the same precedence and group left to right;
 *     "not"/"!" binds to the next term;
 *   - an id after "and"/"or" (or inside parentheses after a qualifier) inherits
 *     the qualifiers of the term before it: "host A or B", "tcp port 80 or 443",
 *     "host A and (B or C)"; a bare protocol or a comparison passes on none;
 *   - arithmetic: | below & below << >> below + - below * /, unary minus on top,
 *     all left-associative; % and ^ have no precedence in grammar.y, so yacc
 *     shifts on them: "1 + 2 % 3 ^ 4" is 1 + (2 % (3 ^ 4)), "-1 % 2" is -(1 % 2).
 * The tree is generated in post-order by gen.c, which is yacc's reduction order.
 * Syntax errors keep the one furthest into the expression (the most useful). */
#include "filter_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 128    /* parentheses, not, unary minus, nested ids */
#define MAX_ARITH 128    /* operators pending in one arithmetic expression */

static const struct fqual qerr = {Q_UNDEF, Q_UNDEF, Q_UNDEF};

static const struct ftok *peek(struct fstate *fs) { return &fs->toks[fs->tp]; }
static const struct ftok *peek_at(struct fstate *fs, int i)
{
    int j = fs->tp + i;
    return &fs->toks[j < fs->ntoks ? j : fs->ntoks - 1];
}
static void advance(struct fstate *fs)
{
    if (fs->toks[fs->tp].kind != T_EOF)
        fs->tp++;
}
static int is_kw(const struct ftok *t, int kw) { return t->kind == T_KW && t->kw == kw; }
static int is_op(const struct ftok *t, int op) { return t->kind == T_OP && t->kw == op; }
static int is_pname(const struct ftok *t) { return t->kind == T_KW && t->kw >= K_LINK && t->kw <= K_ESP; }

/* Record a syntax error at t unless one further on is already known. */
static void *perr(struct fstate *fs, const struct ftok *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void *perr(struct fstate *fs, const struct ftok *t, const char *fmt, ...)
{
    if (t->pos < fs->err_pos)
        return NULL;
    fs->err_pos = t->pos;
    if (t->kind == T_KW && t->kw == K_UNSUPPORTED) {
        snprintf(fs->err_msg, sizeof fs->err_msg, "'%.*s' is not supported by this compiler",
                 t->len, fs->expr + t->pos);
        return NULL;
    }
    char what[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (t->kind == T_EOF)
        snprintf(fs->err_msg, sizeof fs->err_msg, "%s, found the end of the expression", what);
    else
        snprintf(fs->err_msg, sizeof fs->err_msg, "%s, found '%.*s'", what,
                 t->len > 40 ? 40 : t->len, fs->expr + t->pos);
    return NULL;
}

static struct fnode *new_node(struct fstate *fs, int kind, int pos)
{
    struct fnode *n = fs_alloc(fs, sizeof *n);
    n->kind = (uint8_t)kind;
    n->pos = pos;
    return n;
}

/* Bounded recursion and bounded work, whatever the input. */
static int enter(struct fstate *fs)
{
    if (++fs->work > 64L * fs->ntoks + 4096)
        fs_error(fs, peek(fs)->pos, "expression too complex");
    if (++fs->depth > MAX_DEPTH) {
        fs_error(fs, peek(fs)->pos, "expression nested more than %d deep", MAX_DEPTH);
    }
    return 1;
}
static void leave(struct fstate *fs) { fs->depth--; }

static struct fnode *p_expr(struct fstate *fs, struct fqual ctx, struct fqual *qout);
static struct fnode *p_id(struct fstate *fs, struct fqual ctx);
static struct fnode *p_arth(struct fstate *fs);

/* Is tokens[i] the start of "(" ... NUM ... ")" with nothing else (a pnum)? */
static int is_paren_pnum(struct fstate *fs, int i)
{
    int open = 0;
    while (i < fs->ntoks && is_op(&fs->toks[i], '(')) {
        open++;
        i++;
    }
    if (i >= fs->ntoks || fs->toks[i].kind != T_NUM)
        return 0;
    i++;
    while (open > 0 && i < fs->ntoks && is_op(&fs->toks[i], ')')) {
        open--;
        i++;
    }
    return open == 0;
}

/* The token after the ')' matching the '(' at tokens[i] (EOF if unbalanced). */
static const struct ftok *after_paren(struct fstate *fs, int i)
{
    int open = 0;
    for (; i < fs->ntoks; i++) {
        if (is_op(&fs->toks[i], '('))
            open++;
        else if (is_op(&fs->toks[i], ')') && --open == 0)
            return &fs->toks[i + 1 < fs->ntoks ? i + 1 : fs->ntoks - 1];
    }
    return &fs->toks[fs->ntoks - 1];
}

static int is_arith_op(const struct ftok *t)
{
    if (t->kind != T_OP)
        return 0;
    switch (t->kw) {
    case '+': case '-': case '*': case '/': case '%': case '&': case '|': case '^':
    case OP_LSH: case OP_RSH:
        return 1;
    }
    return 0;
}

static int relop(const struct ftok *t, uint8_t *code, uint8_t *rev)
{
    if (t->kind != T_OP)
        return 0;
    switch (t->kw) {
    case '>': *code = BPF_JGT; *rev = 0; return 1;
    case OP_GEQ: *code = BPF_JGE; *rev = 0; return 1;
    case '=': *code = BPF_JEQ; *rev = 0; return 1;
    case OP_LEQ: *code = BPF_JGT; *rev = 1; return 1;
    case '<': *code = BPF_JGE; *rev = 1; return 1;
    case OP_NEQ: *code = BPF_JEQ; *rev = 1; return 1;
    }
    return 0;
}

/* pnum: NUM | '(' pnum ')' */
static int p_pnum(struct fstate *fs, uint32_t *v, int *pos)
{
    int open = 0;
    const struct ftok *t;
    while (is_op(peek(fs), '(')) {
        open++;
        advance(fs);
    }
    t = peek(fs);
    if (t->kind != T_NUM) {
        perr(fs, t, "expected a number");
        return 0;
    }
    *v = t->num;
    *pos = t->pos;
    advance(fs);
    while (open > 0) {
        if (!is_op(peek(fs), ')')) {
            perr(fs, peek(fs), "expected ')'");
            return 0;
        }
        advance(fs);
        open--;
    }
    return 1;
}

/* ---- arithmetic ------------------------------------------------------------------ */

/* yacc's precedences (grammar.y): 0 = none declared (% and ^). */
static int arith_prec(int op)
{
    switch (op) {
    case '|': return 1;
    case '&': return 2;
    case OP_LSH: case OP_RSH: return 3;
    case '+': case '-': return 4;
    case '*': case '/': return 5;
    }
    return 0;
}

static uint8_t alu_code(int op)
{
    switch (op) {
    case '+': return BPF_ADD;
    case '-': return BPF_SUB;
    case '*': return BPF_MUL;
    case '/': return BPF_DIV;
    case '%': return BPF_MOD;
    case '&': return BPF_AND;
    case '|': return BPF_OR;
    case '^': return BPF_XOR;
    case OP_LSH: return BPF_LSH;
    default: return BPF_RSH;
    }
}

#define UMINUS 1000

static struct fnode *p_primary(struct fstate *fs)
{
    const struct ftok *t = peek(fs);
    struct fnode *n;

    if (t->kind == T_NUM) {
        n = new_node(fs, A_NUM, t->pos);
        n->num = t->num;
        advance(fs);
        return n;
    }
    if (is_kw(t, K_LEN)) {
        advance(fs);
        return new_node(fs, A_LEN, t->pos);
    }
    if (is_op(t, '(')) {
        enter(fs);
        advance(fs);
        n = p_arth(fs);
        if (n && !is_op(peek(fs), ')'))
            n = perr(fs, peek(fs), "expected ')' or an arithmetic operator");
        else if (n)
            advance(fs);
        leave(fs);
        return n;
    }
    if (is_pname(t)) {
        int pos = t->pos;
        uint8_t proto = (uint8_t)t->kw;
        advance(fs);
        if (!is_op(peek(fs), '['))
            return perr(fs, peek(fs), "expected '[' after '%.*s' in an arithmetic expression", t->len,
                        fs->expr + t->pos);
        advance(fs);
        enter(fs);
        struct fnode *idx = p_arth(fs);
        leave(fs);
        if (!idx)
            return NULL;
        n = new_node(fs, A_LOAD, pos);
        n->proto = proto;
        n->a = idx;
        n->depth = idx->depth + 1;
        n->num = 1;
        if (is_op(peek(fs), ':')) {
            advance(fs);
            if (peek(fs)->kind != T_NUM)
                return perr(fs, peek(fs), "expected the size 1, 2 or 4 after ':'");
            n->num = peek(fs)->num;
            n->num2 = (uint32_t)peek(fs)->pos;
            advance(fs);
        }
        if (!is_op(peek(fs), ']'))
            return perr(fs, peek(fs), "expected ']'%s", n->num2 ? "" : " or ':' and a size");
        advance(fs);
        return n;
    }
    return perr(fs, t, "expected a number, 'len' or proto[offset]");
}

/* An operator-precedence parser that makes yacc's choices (see the top). */
static struct fnode *p_arth(struct fstate *fs)
{
    struct fnode *vals[MAX_ARITH + 1];
    int ops[MAX_ARITH], opos[MAX_ARITH];
    int nv = 0, no = 0;

    for (;;) {
        /* an operand, after any number of unary minus */
        while (is_op(peek(fs), '-')) {
            if (no == MAX_ARITH)
                fs_error(fs, peek(fs)->pos, "arithmetic expression too long");
            opos[no] = peek(fs)->pos;
            ops[no++] = UMINUS;
            advance(fs);
        }
        struct fnode *v = p_primary(fs);
        if (!v)
            return NULL;
        vals[nv++] = v;
        const struct ftok *t = peek(fs);
        int op = is_arith_op(t) ? t->kw : 0;
        /* reduce what binds tighter than op (everything at the end) */
        while (no > 0) {
            int top = ops[no - 1];
            int reduce;
            if (!op)
                reduce = 1;
            else if (arith_prec(op) == 0)
                reduce = 0; /* no precedence: shift */
            else if (top == UMINUS)
                reduce = 1;
            else if (arith_prec(top) == 0)
                reduce = 0;
            else
                reduce = arith_prec(top) >= arith_prec(op);
            if (!reduce)
                break;
            no--;
            struct fnode *n;
            if (top == UMINUS) {
                n = new_node(fs, A_NEG, opos[no]);
                n->a = vals[nv - 1];
                n->depth = n->a->depth + 1;
                vals[nv - 1] = n;
            } else {
                n = new_node(fs, A_BIN, opos[no]);
                n->op = alu_code(top);
                n->a = vals[nv - 2];
                n->b = vals[nv - 1];
                n->depth = (n->a->depth > n->b->depth ? n->a->depth : n->b->depth) + 1;
                vals[nv - 2] = n;
                nv--;
            }
            /* code generation walks the tree recursively: keep it shallow */
            if (n->depth > MAX_ARITH)
                fs_error(fs, n->pos, "arithmetic expression nested more than %d deep", MAX_ARITH);
        }
        if (!op)
            return vals[0];
        if (no == MAX_ARITH)
            fs_error(fs, t->pos, "arithmetic expression too long");
        opos[no] = t->pos;
        ops[no++] = op;
        advance(fs);
    }
}

static struct fnode *p_relation(struct fstate *fs)
{
    int pos = peek(fs)->pos;
    struct fnode *a = p_arth(fs), *b, *n;
    uint8_t code, rev;

    if (!a)
        return NULL;
    if (!relop(peek(fs), &code, &rev))
        return perr(fs, peek(fs), "expected a comparison (=, ==, !=, <, <=, >, >=) or an arithmetic operator");
    advance(fs);
    b = p_arth(fs);
    if (!b)
        return NULL;
    n = new_node(fs, N_REL, pos);
    n->op = code;
    n->reversed = rev;
    n->a = a;
    n->b = b;
    return n;
}

/* ---- ids ----------------------------------------------------------------------------- */

static struct fnode *id_node(struct fstate *fs, struct fqual q, int kind, const struct ftok *t)
{
    struct fnode *n = new_node(fs, N_ID, t->pos);
    n->q = q;
    n->idkind = (uint8_t)kind;
    n->t1 = t;
    n->num = t->num;
    return n;
}

/* nid: ID | HID '/' NUM | HID mask HID | HID | HID6 '/' NUM | HID6 | EID | not id */
static struct fnode *p_nid(struct fstate *fs, struct fqual ctx)
{
    const struct ftok *t = peek(fs);
    struct fnode *n;

    switch (t->kind) {
    case T_HID:
        advance(fs);
        if (is_op(peek(fs), '/')) {
            advance(fs);
            if (peek(fs)->kind != T_NUM)
                return perr(fs, peek(fs), "expected a prefix length after '/'");
            n = id_node(fs, ctx, ID_HID_LEN, t);
            n->num2 = peek(fs)->num;
            n->t2 = peek(fs);
            advance(fs);
            return n;
        }
        if (is_kw(peek(fs), K_MASK)) {
            advance(fs);
            if (peek(fs)->kind != T_HID)
                return perr(fs, peek(fs), "expected a dotted netmask after 'mask'");
            n = id_node(fs, ctx, ID_HID_MASK, t);
            n->t2 = peek(fs);
            advance(fs);
            return n;
        }
        return id_node(fs, ctx, ID_HID, t);
    case T_HID6:
        advance(fs);
        if (is_op(peek(fs), '/')) {
            advance(fs);
            if (peek(fs)->kind != T_NUM)
                return perr(fs, peek(fs), "expected a prefix length after '/'");
            n = id_node(fs, ctx, ID_HID6_LEN, t);
            n->num2 = peek(fs)->num;
            n->t2 = peek(fs);
            advance(fs);
            return n;
        }
        n = id_node(fs, ctx, ID_HID6, t);
        n->num2 = 128;
        return n;
    case T_EID:
        advance(fs);
        return id_node(fs, ctx, ID_EID, t);
    case T_ID:
        advance(fs);
        return id_node(fs, ctx, ID_NAME, t);
    case T_KW:
        if (t->kw == K_NOT) {
            advance(fs);
            enter(fs);
            struct fnode *k = p_id(fs, ctx);
            leave(fs);
            if (!k)
                return NULL;
            n = new_node(fs, N_NOT, t->pos);
            n->a = k;
            return n;
        }
        break;
    }
    return perr(fs, t, "expected an address, a number or a name");
}

/* pid: nid | qid and id | qid or id, where qid: pnum | pid (so a lone pnum is no pid) */
static struct fnode *p_pid(struct fstate *fs, struct fqual ctx)
{
    struct fnode *first, *chain, *last;
    int need_more = 0;
    const struct ftok *t = peek(fs);

    if (t->kind == T_NUM || (is_op(t, '(') && is_paren_pnum(fs, fs->tp))) {
        uint32_t v;
        int pos;
        if (!p_pnum(fs, &v, &pos))
            return NULL;
        first = new_node(fs, N_ID, pos);
        first->q = ctx;
        first->idkind = ID_NUM;
        first->num = v;
        need_more = 1;
    } else {
        first = p_nid(fs, ctx);
        if (!first)
            return NULL;
    }
    chain = NULL;
    last = first;
    while (is_kw(peek(fs), K_AND) || is_kw(peek(fs), K_OR)) {
        uint8_t op = (uint8_t)peek(fs)->kw;
        advance(fs);
        struct fnode *k = p_id(fs, ctx);
        if (!k)
            return NULL;
        if (!chain) {
            chain = new_node(fs, N_CHAIN, first->pos);
            chain->a = first;
        }
        k->join = op;
        last->next = k;
        last = k;
    }
    if (need_more && !chain)
        return perr(fs, peek(fs), "expected 'and' or 'or'");
    return chain ? chain : first;
}

/* id: nid | pnum | '(' pid ')' */
static struct fnode *p_id(struct fstate *fs, struct fqual ctx)
{
    const struct ftok *t = peek(fs);

    if (t->kind == T_NUM || (is_op(t, '(') && is_paren_pnum(fs, fs->tp))) {
        uint32_t v;
        int pos;
        if (!p_pnum(fs, &v, &pos))
            return NULL;
        struct fnode *n = new_node(fs, N_ID, pos);
        n->q = ctx;
        n->idkind = ID_NUM;
        n->num = v;
        return n;
    }
    if (is_op(t, '(')) {
        struct fnode *n;
        advance(fs);
        enter(fs);
        n = p_pid(fs, ctx);
        leave(fs);
        if (!n)
            return NULL;
        if (!is_op(peek(fs), ')'))
            return perr(fs, peek(fs), "expected ')', 'and' or 'or'");
        advance(fs);
        return n;
    }
    return p_nid(fs, ctx);
}

/* ---- terms --------------------------------------------------------------------------------- */

static int is_dqual_aqual(const struct ftok *t)
{
    return is_kw(t, K_SRC) || is_kw(t, K_DST) || is_kw(t, K_HOST) || is_kw(t, K_NET) ||
           is_kw(t, K_PORT) || is_kw(t, K_PORTRANGE) || is_kw(t, K_PROTO);
}

/* head id: [pname] [dqual] [aqual] | [pname] proto, then an id */
static struct fnode *p_head_id(struct fstate *fs, struct fqual *qout)
{
    struct fqual q = {Q_DEFAULT, Q_DEFAULT, Q_DEFAULT};
    const struct ftok *t = peek(fs), *last;

    if (is_pname(t)) {
        q.proto = (uint8_t)t->kw;
        advance(fs);
    }
    t = peek(fs);
    if (is_kw(t, K_SRC) || is_kw(t, K_DST)) {
        int first = t->kw;
        q.dir = first == K_SRC ? Q_SRC : Q_DST;
        advance(fs);
        t = peek(fs);
        if (is_kw(t, K_OR) || is_kw(t, K_AND)) {
            /* "src or dst", "dst and src": yacc shifts the and/or here */
            int other = first == K_SRC ? K_DST : K_SRC;
            q.dir = is_kw(t, K_OR) ? Q_OR : Q_AND;
            advance(fs);
            if (!is_kw(peek(fs), other))
                return perr(fs, peek(fs), "expected '%s' after '%s %s'", other == K_DST ? "dst" : "src",
                            first == K_SRC ? "src" : "dst", q.dir == Q_OR ? "or" : "and");
            advance(fs);
        }
        t = peek(fs);
        if (is_kw(t, K_HOST) || is_kw(t, K_NET) || is_kw(t, K_PORT) || is_kw(t, K_PORTRANGE)) {
            q.addr = is_kw(t, K_HOST) ? Q_HOST : is_kw(t, K_NET) ? Q_NET : is_kw(t, K_PORT) ? Q_PORT : Q_PORTRANGE;
            advance(fs);
        }
    } else if (is_kw(t, K_HOST) || is_kw(t, K_NET) || is_kw(t, K_PORT) || is_kw(t, K_PORTRANGE)) {
        q.addr = is_kw(t, K_HOST) ? Q_HOST : is_kw(t, K_NET) ? Q_NET : is_kw(t, K_PORT) ? Q_PORT : Q_PORTRANGE;
        advance(fs);
    } else if (is_kw(t, K_PROTO)) {
        q.addr = Q_PROTO;
        advance(fs);
    } else {
        return perr(fs, t, "expected 'src', 'dst', 'host', 'net', 'port', 'portrange' or 'proto'");
    }
    last = peek_at(fs, -1);
    int idtok = fs->tp;
    struct fnode *n = p_id(fs, q);
    if (!n && fs->err_pos == fs->toks[idtok].pos) {
        /* nothing usable right after the qualifiers: say which one wanted it */
        const char *what = q.addr == Q_PORT || q.addr == Q_PORTRANGE ? "a port number"
                         : q.addr == Q_PROTO ? "a protocol number" : "an address";
        fs->err_pos = -1;
        perr(fs, &fs->toks[idtok], "expected %s after '%.*s'", what, last->len, fs->expr + last->pos);
    }
    *qout = q;
    return n;
}

static struct fnode *p_term(struct fstate *fs, struct fqual ctx, struct fqual *qout);

static struct fnode *p_rterm(struct fstate *fs, struct fqual ctx, struct fqual *qout)
{
    const struct ftok *t = peek(fs), *t2 = peek_at(fs, 1);
    struct fnode *n;

    *qout = qerr;
    if (is_op(t, '(')) {
        /* "(expr)" is followed by and/or/')'/the end; "(arith)" by an operator */
        uint8_t code, rev;
        const struct ftok *after = after_paren(fs, fs->tp);
        if (is_arith_op(after) || relop(after, &code, &rev))
            return p_relation(fs);
        advance(fs);
        enter(fs);
        struct fqual dummy;
        n = p_expr(fs, ctx, &dummy);
        leave(fs);
        if (!n)
            return NULL;
        if (!is_op(peek(fs), ')'))
            return perr(fs, peek(fs), "expected ')', 'and' or 'or'");
        advance(fs);
        *qout = ctx; /* grammar.y: the qualifiers from before the '(' */
        return n;
    }
    if (t->kind == T_NUM || is_kw(t, K_LEN) || is_op(t, '-'))
        return p_relation(fs);
    if (is_pname(t)) {
        if (is_op(t2, '['))
            return p_relation(fs);
        if (is_dqual_aqual(t2))
            return p_head_id(fs, qout);
        if (is_kw(t2, K_BROADCAST) || is_kw(t2, K_MULTICAST)) {
            n = new_node(fs, is_kw(t2, K_BROADCAST) ? N_BCAST : N_MCAST, t->pos);
            n->proto = (uint8_t)t->kw;
            advance(fs);
            advance(fs);
            return n;
        }
        n = new_node(fs, N_PNAME, t->pos);
        n->proto = (uint8_t)t->kw;
        advance(fs);
        return n;
    }
    if (is_dqual_aqual(t))
        return p_head_id(fs, qout);
    if (t->kind == T_KW) {
        switch (t->kw) {
        case K_BROADCAST:
        case K_MULTICAST:
            n = new_node(fs, t->kw == K_BROADCAST ? N_BCAST : N_MCAST, t->pos);
            n->proto = Q_DEFAULT;
            advance(fs);
            return n;
        case K_LESS:
        case K_GREATER:
            n = new_node(fs, t->kw == K_LESS ? N_LESS : N_GREATER, t->pos);
            advance(fs);
            if (peek(fs)->kind != T_NUM)
                return perr(fs, peek(fs), "expected a length after '%s'", t->kw == K_LESS ? "less" : "greater");
            n->num = peek(fs)->num;
            advance(fs);
            return n;
        case K_VLAN:
            n = new_node(fs, N_VLAN, t->pos);
            advance(fs);
            if (peek(fs)->kind == T_NUM || (is_op(peek(fs), '(') && is_paren_pnum(fs, fs->tp))) {
                int pos;
                if (!p_pnum(fs, &n->num, &pos))
                    return NULL;
                n->has_num = 1;
                n->num2 = (uint32_t)pos;
            }
            return n;
        case K_BYTE: {
            n = new_node(fs, N_BYTE, t->pos);
            advance(fs);
            if (peek(fs)->kind != T_NUM)
                return perr(fs, peek(fs), "expected a byte offset after 'byte'");
            n->num = peek(fs)->num;
            advance(fs);
            const struct ftok *o = peek(fs);
            if (!(is_op(o, '&') || is_op(o, '|') || is_op(o, '<') || is_op(o, '>') || is_op(o, '=')))
                return perr(fs, o, "expected one of & | < > = after 'byte N'");
            n->op = (uint8_t)o->kw;
            advance(fs);
            if (peek(fs)->kind != T_NUM)
                return perr(fs, peek(fs), "expected a number");
            n->num2 = peek(fs)->num;
            advance(fs);
            return n;
        }
        }
    }
    if (t->kind == T_ID)
        return perr(fs, t, "expected a filter primitive (host and service names need a qualifier: 'host NAME', 'port NAME')");
    if (t->kind == T_HID || t->kind == T_HID6 || t->kind == T_EID)
        return perr(fs, t, "expected a qualifier ('host', 'net', 'ether host' ...) before the address");
    return perr(fs, t, "expected a filter primitive (ip, tcp, host, net, port, a comparison ...)");
}

static struct fnode *p_term(struct fstate *fs, struct fqual ctx, struct fqual *qout)
{
    const struct ftok *t = peek(fs);
    if (++fs->work > 64L * fs->ntoks + 4096)
        fs_error(fs, t->pos, "expression too complex");
    if (is_kw(t, K_NOT)) {
        struct fnode *k, *n;
        advance(fs);
        enter(fs);
        k = p_term(fs, ctx, qout);
        leave(fs);
        if (!k)
            return NULL;
        n = new_node(fs, N_NOT, t->pos);
        n->a = k;
        return n;
    }
    return p_rterm(fs, ctx, qout);
}

/* expr: term | expr and term | expr and id | expr or term | expr or id */
static struct fnode *p_expr(struct fstate *fs, struct fqual ctx, struct fqual *qout)
{
    struct fqual q;
    struct fnode *first = p_term(fs, ctx, &q), *chain = NULL, *last;

    if (!first)
        return NULL;
    last = first;
    while (is_kw(peek(fs), K_AND) || is_kw(peek(fs), K_OR)) {
        uint8_t op = (uint8_t)peek(fs)->kw;
        struct fnode *k;
        struct fqual q2;
        int save;
        advance(fs);
        save = fs->tp;
        /* a term if it parses as one, else an id inheriting q */
        k = p_term(fs, q, &q2);
        if (k) {
            q = q2;
        } else {
            fs->tp = save;
            k = p_id(fs, q);
            if (!k) {
                const struct ftok *t = &fs->toks[save];
                if (fs->err_pos == t->pos) {
                    /* neither a term nor an id starts here: say so plainly */
                    fs->err_pos = -1;
                    perr(fs, t, "expected a primitive or an address after '%s'", op == K_AND ? "and" : "or");
                }
                return NULL;
            }
        }
        if (!chain) {
            chain = new_node(fs, N_CHAIN, first->pos);
            chain->a = first;
        }
        k->join = op;
        last->next = k;
        last = k;
    }
    *qout = q;
    return chain ? chain : first;
}

struct fnode *fs_parse(struct fstate *fs)
{
    struct fqual q;
    struct fnode *root;

    fs->tp = 0;
    fs->depth = 0;
    fs->err_pos = -1;
    fs->err_msg[0] = 0;
    if (peek(fs)->kind == T_EOF)
        return NULL;
    root = p_expr(fs, qerr, &q);
    if (root && peek(fs)->kind != T_EOF) {
        const struct ftok *t = peek(fs);
        if (is_op(t, ')'))
            perr(fs, t, "a ')' with no '(' to close");
        else
            perr(fs, t, "expected 'and', 'or' or the end of the expression");
        root = NULL;
    }
    if (!root)
        fs_error(fs, fs->err_pos < 0 ? 0 : fs->err_pos, "%s", fs->err_msg[0] ? fs->err_msg : "syntax error");
    return root;
}
