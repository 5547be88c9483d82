/* optimize.c — libpcap's optimizer (optimize.c, after the BPF+ paper), step for
 * step, because it is part of what a tcpdump filter means: it deletes loads whose
 * results no path needs and tests whose outcome is already known, and a load past
 * the captured bytes ends a program with 0, so on truncated packets the optimized
 * and the unoptimized program can disagree. tcpdump always optimizes; to select
 * exactly its packets we run the same passes in the same order:
 *   - value numbering (Cocke & Schwartz) of every statement, constant folding,
 *     peephole rules, dead-store elimination (opt_blk, opt_peep, opt_deadstores);
 *   - branch threading along edge dominators (opt_j) and the or/and "pullups";
 *   - the loop until nothing changes (at most 100 passes that only move branches),
 *     once without and once with statement changes, then merging equal blocks
 *     (intern_blocks) and skipping a root whose branch is moot (opt_root).
 * Block numbering, level lists and in-edge lists are built in libpcap's orders,
 * because the results depend on them. This is the optimizer of libpcap 1.10.3
 * (what tcpdump 4.99 links): a store found dead does not make its register's
 * value unknown to the blocks below (libpcap PR #972 is not in 1.10), and the
 * pullups do not recompute the dominators (PR #976, merged after 1.10.3); each
 * difference shows in `tcpdump -d` output, against which this file is checked. Walks that libpcap does recursively are
 * done with explicit stacks here. Memory comes from the compile arena. */
#include "filter_int.h"

#include <string.h>

#define ATOMMASK(n) (1u << (n))
#define ATOMELEM(d, n) ((d) & ATOMMASK(n))
#define AX_ATOM F_N_ATOMS /* both A and X */
#define VAL_UNKNOWN 0u
#define MODULUS 213
#define BITS 32u
#define SET_MEMBER(p, a) ((p)[(unsigned)(a) / BITS] & (1u << ((unsigned)(a) % BITS)))
#define SET_INSERT(p, a) ((p)[(unsigned)(a) / BITS] |= (1u << ((unsigned)(a) % BITS)))

struct valnode {
    int code;
    uint32_t v0, v1;
    uint32_t val;
    struct valnode *next;
};

struct vmapinfo {
    int is_const;
    uint32_t const_val;
};

struct ostate {
    struct fstate *fs;
    struct fblock *root;
    int done;
    int non_branch_movement;
    unsigned n_blocks, n_edges;
    struct fblock **blocks;
    struct fedge **edges;
    unsigned nodewords, edgewords;
    struct fblock **levels;
    struct valnode *hashtbl[MODULUS];
    uint32_t curval, maxval;
    struct vmapinfo *vmap;
    struct valnode *vnode_base, *next_vnode;
    struct fblock **stack; /* for the walks */
};

static void unmark_all(struct fstate *fs) { fs->cur_mark++; }
static int is_marked(struct fstate *fs, const struct fblock *b) { return b->mark == fs->cur_mark; }
static void mark(struct fstate *fs, struct fblock *b) { b->mark = fs->cur_mark; }

static void set_intersect(uint32_t *a, const uint32_t *b, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        a[i] &= b[i];
}
static void set_union(uint32_t *a, const uint32_t *b, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        a[i] |= b[i];
}

/* ---- levels, dominators, closure, use-def ------------------------------------ */

/* find_levels_r(): post-order, true subtree first; each block is pushed on the
 * front of its level's list when it is finished. */
static void find_levels(struct ostate *os)
{
    struct fstate *fs = os->fs;
    struct { struct fblock *b; int state; } *st = (void *)os->stack;
    int sp = 0;

    memset(os->levels, 0, os->n_blocks * sizeof *os->levels);
    unmark_all(fs);
    mark(fs, os->root);
    os->root->link = NULL;
    st[sp].b = os->root;
    st[sp++].state = 0;
    while (sp > 0) {
        struct fblock *b = st[sp - 1].b, *next = NULL;
        if (JT(b) && st[sp - 1].state == 0) {
            st[sp - 1].state = 1;
            next = JT(b);
        } else if (JT(b) && st[sp - 1].state == 1) {
            st[sp - 1].state = 2;
            next = JF(b);
        } else {
            int level = 0;
            if (JT(b))
                level = (JT(b)->level > JF(b)->level ? JT(b)->level : JF(b)->level) + 1;
            b->level = level;
            b->link = os->levels[level];
            os->levels[level] = b;
            sp--;
            continue;
        }
        if (!is_marked(fs, next)) {
            mark(fs, next);
            next->link = NULL;
            st[sp].b = next;
            st[sp++].state = 0;
        }
    }
}

static void find_dom(struct ostate *os, struct fblock *root)
{
    for (unsigned i = 0; i < os->n_blocks; i++)
        memset(os->blocks[i]->dom, 0xff, os->nodewords * sizeof(uint32_t));
    memset(root->dom, 0, os->nodewords * sizeof(uint32_t));
    for (int level = root->level; level >= 0; --level)
        for (struct fblock *b = os->levels[level]; b; b = b->link) {
            SET_INSERT(b->dom, b->id);
            if (!JT(b))
                continue;
            set_intersect(JT(b)->dom, b->dom, os->nodewords);
            set_intersect(JF(b)->dom, b->dom, os->nodewords);
        }
}

static void propedom(struct ostate *os, struct fedge *ep)
{
    SET_INSERT(ep->edom, ep->id);
    if (ep->succ) {
        set_intersect(ep->succ->et.edom, ep->edom, os->edgewords);
        set_intersect(ep->succ->ef.edom, ep->edom, os->edgewords);
    }
}

static void find_edom(struct ostate *os, struct fblock *root)
{
    for (unsigned i = 0; i < os->n_blocks; i++) {
        memset(os->blocks[i]->et.edom, 0xff, os->edgewords * sizeof(uint32_t));
        memset(os->blocks[i]->ef.edom, 0xff, os->edgewords * sizeof(uint32_t));
    }
    memset(root->et.edom, 0, os->edgewords * sizeof(uint32_t));
    memset(root->ef.edom, 0, os->edgewords * sizeof(uint32_t));
    for (int level = root->level; level >= 0; --level)
        for (struct fblock *b = os->levels[level]; b; b = b->link) {
            propedom(os, &b->et);
            propedom(os, &b->ef);
        }
}

static void find_closure(struct ostate *os, struct fblock *root)
{
    for (unsigned i = 0; i < os->n_blocks; i++)
        memset(os->blocks[i]->closure, 0, os->nodewords * sizeof(uint32_t));
    for (int level = root->level; level >= 0; --level)
        for (struct fblock *b = os->levels[level]; b; b = b->link) {
            SET_INSERT(b->closure, b->id);
            if (!JT(b))
                continue;
            set_union(JT(b)->closure, b->closure, os->nodewords);
            set_union(JF(b)->closure, b->closure, os->nodewords);
        }
}

/* The atom a statement uses (A, X, both, M[k]) or -1. */
static int atomuse(const struct fstmt *s)
{
    int c = s->code;
    if (c == F_NOP)
        return -1;
    switch (BPF_CLASS(c)) {
    case BPF_RET:
        return BPF_RVAL(c) == BPF_A ? F_A_ATOM : BPF_RVAL(c) == BPF_X ? F_X_ATOM : -1;
    case BPF_LD:
    case BPF_LDX:
        return BPF_MODE(c) == BPF_IND ? F_X_ATOM : BPF_MODE(c) == BPF_MEM ? (int)s->k : -1;
    case BPF_ST:
        return F_A_ATOM;
    case BPF_STX:
        return F_X_ATOM;
    case BPF_JMP:
    case BPF_ALU:
        return BPF_SRC(c) == BPF_X ? AX_ATOM : F_A_ATOM;
    case BPF_MISC:
        return BPF_MISCOP(c) == BPF_TXA ? F_X_ATOM : F_A_ATOM;
    }
    return -1;
}

/* The atom a statement defines, or -1. */
static int atomdef(const struct fstmt *s)
{
    if (s->code == F_NOP)
        return -1;
    switch (BPF_CLASS(s->code)) {
    case BPF_LD:
    case BPF_ALU:
        return F_A_ATOM;
    case BPF_LDX:
        return F_X_ATOM;
    case BPF_ST:
    case BPF_STX:
        return (int)s->k;
    case BPF_MISC:
        return BPF_MISCOP(s->code) == BPF_TAX ? F_X_ATOM : F_A_ATOM;
    }
    return -1;
}

static void use_atom(int atom, uint32_t def, uint32_t *use)
{
    if (atom == AX_ATOM) {
        if (!ATOMELEM(def, F_X_ATOM))
            *use |= ATOMMASK(F_X_ATOM);
        if (!ATOMELEM(def, F_A_ATOM))
            *use |= ATOMMASK(F_A_ATOM);
    } else if (atom >= 0 && atom < F_N_ATOMS) {
        if (!ATOMELEM(def, atom))
            *use |= ATOMMASK(atom);
    }
}

static void compute_local_ud(struct fblock *b)
{
    uint32_t def = 0, use = 0, killed = 0;
    for (struct fstmt *s = b->stmts; s; s = s->next) {
        if (s->code == F_NOP)
            continue;
        use_atom(atomuse(s), def, &use);
        int atom = atomdef(s);
        if (atom >= 0 && atom < F_N_ATOMS) {
            if (!ATOMELEM(use, atom))
                killed |= ATOMMASK(atom);
            def |= ATOMMASK(atom);
        }
    }
    if (BPF_CLASS(b->s.code) == BPF_JMP)
        use_atom(atomuse(&b->s), def, &use);
    b->def = def;
    b->kill = killed;
    b->in_use = use;
}

static void find_ud(struct ostate *os, struct fblock *root)
{
    int maxlevel = root->level;
    for (int i = maxlevel; i >= 0; --i)
        for (struct fblock *p = os->levels[i]; p; p = p->link) {
            compute_local_ud(p);
            p->out_use = 0;
        }
    for (int i = 1; i <= maxlevel; ++i)
        for (struct fblock *p = os->levels[i]; p; p = p->link) {
            p->out_use |= JT(p)->in_use | JF(p)->in_use;
            p->in_use |= p->out_use & ~p->kill;
        }
}

/* ---- value numbering ---------------------------------------------------------------- */

static void init_val(struct ostate *os)
{
    os->curval = 0;
    os->next_vnode = os->vnode_base;
    memset(os->vmap, 0, os->maxval * sizeof *os->vmap);
    memset(os->hashtbl, 0, sizeof os->hashtbl);
}

/* The value number of (code, v0, v1), a new one if never seen. */
static uint32_t F(struct ostate *os, int code, uint32_t v0, uint32_t v1)
{
    unsigned hash = ((unsigned)code ^ (v0 << 4) ^ (v1 << 8)) % MODULUS;
    struct valnode *p;
    for (p = os->hashtbl[hash]; p; p = p->next)
        if (p->code == code && p->v0 == v0 && p->v1 == v1)
            return p->val;
    if (os->curval + 1 >= os->maxval)
        fs_error(os->fs, -1, "internal error: the optimizer ran out of value numbers");
    uint32_t val = ++os->curval;
    if (BPF_MODE(code) == BPF_IMM && (BPF_CLASS(code) == BPF_LD || BPF_CLASS(code) == BPF_LDX)) {
        os->vmap[val].const_val = v0;
        os->vmap[val].is_const = 1;
    }
    p = os->next_vnode++;
    p->val = val;
    p->code = code;
    p->v0 = v0;
    p->v1 = v1;
    p->next = os->hashtbl[hash];
    os->hashtbl[hash] = p;
    return val;
}

#define K(i) F(os, BPF_LD | BPF_IMM | BPF_W, (i), 0u)

static void vstore(struct fstmt *s, uint32_t *valp, uint32_t newval, int alter)
{
    if (alter && newval != VAL_UNKNOWN && *valp == newval)
        s->code = F_NOP;
    else
        *valp = newval;
}

static void changed(struct ostate *os)
{
    os->non_branch_movement = 1;
    os->done = 0;
}

static void fold_op(struct ostate *os, struct fstmt *s, uint32_t v0, uint32_t v1)
{
    uint32_t a = os->vmap[v0].const_val, b = os->vmap[v1].const_val;
    switch (BPF_OP(s->code)) {
    case BPF_ADD: a += b; break;
    case BPF_SUB: a -= b; break;
    case BPF_MUL: a *= b; break;
    case BPF_DIV:
        if (b == 0)
            fs_error(os->fs, -1, "division by zero");
        a /= b;
        break;
    case BPF_MOD:
        if (b == 0)
            fs_error(os->fs, -1, "modulus by zero");
        a %= b;
        break;
    case BPF_AND: a &= b; break;
    case BPF_OR: a |= b; break;
    case BPF_XOR: a ^= b; break;
    case BPF_LSH: a = b < 32 ? a << b : 0; break;
    case BPF_RSH: a = b < 32 ? a >> b : 0; break;
    default:
        fs_error(os->fs, -1, "internal error: folding opcode 0x%x", s->code);
    }
    s->k = a;
    s->code = BPF_LD | BPF_IMM;
    changed(os);
}

static struct fstmt *this_op(struct fstmt *s)
{
    while (s && s->code == F_NOP)
        s = s->next;
    return s;
}

static void opt_not(struct fblock *b)
{
    struct fblock *tmp = JT(b);
    JT(b) = JF(b);
    JF(b) = tmp;
}

static void opt_peep(struct ostate *os, struct fblock *b)
{
    struct fstmt *s = b->stmts, *next, *last;
    uint32_t val;

    if (!s)
        return;
    last = s;
    for (;; s = next) {
        s = this_op(s);
        if (!s)
            break;
        next = this_op(s->next);
        if (!next)
            break;
        last = next;
        /* st M[k]; ldx M[k]  ->  st M[k]; tax */
        if (s->code == BPF_ST && next->code == (BPF_LDX | BPF_MEM) && s->k == next->k) {
            changed(os);
            next->code = BPF_MISC | BPF_TAX;
        }
        /* ld #k; tax  ->  ldx #k; txa */
        if (s->code == (BPF_LD | BPF_IMM) && next->code == (BPF_MISC | BPF_TAX)) {
            s->code = BPF_LDX | BPF_IMM;
            next->code = BPF_MISC | BPF_TXA;
            changed(os);
        }
        /* ld #k; [ldxb 4*([n]&0xf);] add x; tax; ld [x+m]  ->  ...; ld [x+m+k] (tcp[k]) */
        if (s->code == (BPF_LD | BPF_IMM)) {
            struct fstmt *add, *tax, *ild;
            if (ATOMELEM(b->out_use, F_X_ATOM))
                continue;
            add = next->code != (BPF_LDX | BPF_MSH | BPF_B) ? next : this_op(next->next);
            if (!add || add->code != (BPF_ALU | BPF_ADD | BPF_X))
                continue;
            tax = this_op(add->next);
            if (!tax || tax->code != (BPF_MISC | BPF_TAX))
                continue;
            ild = this_op(tax->next);
            if (!ild || BPF_CLASS(ild->code) != BPF_LD || BPF_MODE(ild->code) != BPF_IND)
                continue;
            ild->k += s->k;
            s->code = F_NOP;
            add->code = F_NOP;
            tax->code = F_NOP;
            changed(os);
        }
    }
    /* an equality test whose A nobody needs afterwards */
    if (b->s.code == (BPF_JMP | BPF_JEQ | BPF_K) && !ATOMELEM(b->out_use, F_A_ATOM)) {
        if (last->code == (BPF_ALU | BPF_SUB | BPF_X)) {
            val = b->val[F_X_ATOM];
            if (os->vmap[val].is_const) {
                /* sub x; jeq #y  ->  jeq #(x+y) */
                b->s.k += os->vmap[val].const_val;
                last->code = F_NOP;
                changed(os);
            } else if (b->s.k == 0) {
                /* sub x; jeq #0  ->  jeq x */
                last->code = F_NOP;
                b->s.code = BPF_JMP | BPF_JEQ | BPF_X;
                changed(os);
            }
        } else if (last->code == (BPF_ALU | BPF_SUB | BPF_K)) {
            /* sub #x; jeq #y  ->  jeq #(x+y) */
            last->code = F_NOP;
            b->s.k += last->k;
            changed(os);
        } else if (last->code == (BPF_ALU | BPF_AND | BPF_K) && b->s.k == 0) {
            /* and #k; jeq #0  ->  jset #k, branches swapped */
            b->s.k = last->k;
            b->s.code = BPF_JMP | BPF_K | BPF_JSET;
            last->code = F_NOP;
            changed(os);
            opt_not(b);
        }
    }
    /* jset #0 never; jset #0xffffffff always */
    if (b->s.code == (BPF_JMP | BPF_K | BPF_JSET)) {
        if (b->s.k == 0)
            JT(b) = JF(b);
        if (b->s.k == 0xffffffffu)
            JF(b) = JT(b);
    }
    /* a comparison with X, X a known constant: compare with the constant */
    val = b->val[F_X_ATOM];
    if (os->vmap[val].is_const && BPF_SRC(b->s.code) == BPF_X) {
        b->s.code &= ~BPF_X;
        b->s.k = os->vmap[val].const_val;
    }
    /* A a known constant: the outcome is known */
    val = b->val[F_A_ATOM];
    if (os->vmap[val].is_const && BPF_SRC(b->s.code) == BPF_K) {
        uint32_t v = os->vmap[val].const_val;
        switch (BPF_OP(b->s.code)) {
        case BPF_JEQ: v = v == b->s.k; break;
        case BPF_JGT: v = v > b->s.k; break;
        case BPF_JGE: v = v >= b->s.k; break;
        case BPF_JSET: v &= b->s.k; break;
        default: fs_error(os->fs, -1, "internal error: branch opcode 0x%x", b->s.code);
        }
        if (JF(b) != JT(b))
            changed(os);
        if (v)
            JF(b) = JT(b);
        else
            JT(b) = JF(b);
    }
}

/* Symbolic evaluation of one statement; with alter, the rewrites too. */
static void opt_stmt(struct ostate *os, struct fstmt *s, uint32_t val[], int alter)
{
    int op;
    uint32_t v;

    switch (s->code) {
    case BPF_LD | BPF_ABS | BPF_W:
    case BPF_LD | BPF_ABS | BPF_H:
    case BPF_LD | BPF_ABS | BPF_B:
        v = F(os, s->code, s->k, 0);
        vstore(s, &val[F_A_ATOM], v, alter);
        break;
    case BPF_LD | BPF_IND | BPF_W:
    case BPF_LD | BPF_IND | BPF_H:
    case BPF_LD | BPF_IND | BPF_B:
        v = val[F_X_ATOM];
        if (alter && os->vmap[v].is_const) {
            s->code = BPF_LD | BPF_ABS | BPF_SIZE(s->code);
            s->k += os->vmap[v].const_val;
            v = F(os, s->code, s->k, 0);
            changed(os);
        } else {
            v = F(os, s->code, s->k, v);
        }
        vstore(s, &val[F_A_ATOM], v, alter);
        break;
    case BPF_LD | BPF_LEN:
        v = F(os, s->code, 0, 0);
        vstore(s, &val[F_A_ATOM], v, alter);
        break;
    case BPF_LD | BPF_IMM:
        v = K(s->k);
        vstore(s, &val[F_A_ATOM], v, alter);
        break;
    case BPF_LDX | BPF_IMM:
        v = K(s->k);
        vstore(s, &val[F_X_ATOM], v, alter);
        break;
    case BPF_LDX | BPF_MSH | BPF_B:
        v = F(os, s->code, s->k, 0);
        vstore(s, &val[F_X_ATOM], v, alter);
        break;
    case BPF_ALU | BPF_NEG:
        if (alter && os->vmap[val[F_A_ATOM]].is_const) {
            s->code = BPF_LD | BPF_IMM;
            s->k = 0u - os->vmap[val[F_A_ATOM]].const_val;
            val[F_A_ATOM] = K(s->k);
        } else {
            val[F_A_ATOM] = F(os, s->code, val[F_A_ATOM], 0);
        }
        break;
    case BPF_ALU | BPF_ADD | BPF_K:
    case BPF_ALU | BPF_SUB | BPF_K:
    case BPF_ALU | BPF_MUL | BPF_K:
    case BPF_ALU | BPF_DIV | BPF_K:
    case BPF_ALU | BPF_MOD | BPF_K:
    case BPF_ALU | BPF_AND | BPF_K:
    case BPF_ALU | BPF_OR | BPF_K:
    case BPF_ALU | BPF_XOR | BPF_K:
    case BPF_ALU | BPF_LSH | BPF_K:
    case BPF_ALU | BPF_RSH | BPF_K:
        op = BPF_OP(s->code);
        if (alter) {
            if (s->k == 0) {
                /* "sub #0" stays: later fixups may need it */
                if (op == BPF_ADD || op == BPF_LSH || op == BPF_RSH || op == BPF_OR || op == BPF_XOR) {
                    s->code = F_NOP;
                    break;
                }
                if (op == BPF_MUL || op == BPF_AND) {
                    s->code = BPF_LD | BPF_IMM;
                    val[F_A_ATOM] = K(s->k);
                    break;
                }
                if (op == BPF_DIV)
                    fs_error(os->fs, -1, "division by zero");
                if (op == BPF_MOD)
                    fs_error(os->fs, -1, "modulus by zero");
            }
            if (os->vmap[val[F_A_ATOM]].is_const) {
                fold_op(os, s, val[F_A_ATOM], K(s->k));
                val[F_A_ATOM] = K(s->k);
                break;
            }
        }
        val[F_A_ATOM] = F(os, s->code, val[F_A_ATOM], K(s->k));
        break;
    case BPF_ALU | BPF_ADD | BPF_X:
    case BPF_ALU | BPF_SUB | BPF_X:
    case BPF_ALU | BPF_MUL | BPF_X:
    case BPF_ALU | BPF_DIV | BPF_X:
    case BPF_ALU | BPF_MOD | BPF_X:
    case BPF_ALU | BPF_AND | BPF_X:
    case BPF_ALU | BPF_OR | BPF_X:
    case BPF_ALU | BPF_XOR | BPF_X:
    case BPF_ALU | BPF_LSH | BPF_X:
    case BPF_ALU | BPF_RSH | BPF_X:
        op = BPF_OP(s->code);
        if (alter && os->vmap[val[F_X_ATOM]].is_const) {
            if (os->vmap[val[F_A_ATOM]].is_const) {
                fold_op(os, s, val[F_A_ATOM], val[F_X_ATOM]);
                val[F_A_ATOM] = K(s->k);
            } else {
                s->code = BPF_ALU | BPF_K | op;
                s->k = os->vmap[val[F_X_ATOM]].const_val;
                if ((op == BPF_LSH || op == BPF_RSH) && s->k > 31)
                    fs_error(os->fs, -1, "shift by more than 31 bits");
                changed(os);
                val[F_A_ATOM] = F(os, s->code, val[F_A_ATOM], K(s->k));
            }
            break;
        }
        /* 0 op X */
        if (alter && os->vmap[val[F_A_ATOM]].is_const && os->vmap[val[F_A_ATOM]].const_val == 0) {
            if (op == BPF_ADD || op == BPF_OR || op == BPF_XOR) {
                s->code = BPF_MISC | BPF_TXA;
                vstore(s, &val[F_A_ATOM], val[F_X_ATOM], alter);
                break;
            } else if (op == BPF_MUL || op == BPF_DIV || op == BPF_MOD || op == BPF_AND || op == BPF_LSH ||
                       op == BPF_RSH) {
                s->code = BPF_LD | BPF_IMM;
                s->k = 0;
                vstore(s, &val[F_A_ATOM], K(s->k), alter);
                break;
            } else if (op == BPF_NEG) {
                s->code = F_NOP;
                break;
            }
        }
        val[F_A_ATOM] = F(os, s->code, val[F_A_ATOM], val[F_X_ATOM]);
        break;
    case BPF_MISC | BPF_TXA:
        vstore(s, &val[F_A_ATOM], val[F_X_ATOM], alter);
        break;
    case BPF_LD | BPF_MEM:
        v = val[s->k];
        if (alter && os->vmap[v].is_const) {
            s->code = BPF_LD | BPF_IMM;
            s->k = os->vmap[v].const_val;
            changed(os);
        }
        vstore(s, &val[F_A_ATOM], v, alter);
        break;
    case BPF_MISC | BPF_TAX:
        vstore(s, &val[F_X_ATOM], val[F_A_ATOM], alter);
        break;
    case BPF_LDX | BPF_MEM:
        v = val[s->k];
        if (alter && os->vmap[v].is_const) {
            s->code = BPF_LDX | BPF_IMM;
            s->k = os->vmap[v].const_val;
            changed(os);
        }
        vstore(s, &val[F_X_ATOM], v, alter);
        break;
    case BPF_ST:
        vstore(s, &val[s->k], val[F_A_ATOM], alter);
        break;
    case BPF_STX:
        vstore(s, &val[s->k], val[F_X_ATOM], alter);
        break;
    }
}

static void deadstmt(struct ostate *os, struct fstmt *s, struct fstmt *last[])
{
    int atom = atomuse(s);
    if (atom >= 0) {
        if (atom == AX_ATOM) {
            last[F_X_ATOM] = NULL;
            last[F_A_ATOM] = NULL;
        } else {
            last[atom] = NULL;
        }
    }
    atom = atomdef(s);
    if (atom >= 0) {
        if (last[atom]) {
            changed(os);
            last[atom]->code = F_NOP;
        }
        last[atom] = s;
    }
}

static void opt_deadstores(struct ostate *os, struct fblock *b)
{
    struct fstmt *last[F_N_ATOMS];
    memset(last, 0, sizeof last);
    for (struct fstmt *s = b->stmts; s; s = s->next)
        deadstmt(os, s, last);
    deadstmt(os, &b->s, last);
    for (int atom = 0; atom < F_N_ATOMS; ++atom)
        if (last[atom] && !ATOMELEM(b->out_use, atom)) {
            /* libpcap 1.10 keeps b->val[atom] as it was (later versions forget it) */
            last[atom]->code = F_NOP;
            changed(os);
        }
}

static void opt_blk(struct ostate *os, struct fblock *b, int do_stmts)
{
    struct fedge *p = b->in_edges;
    uint32_t aval, xval;

    if (!p) {
        memset(b->val, 0, sizeof b->val);
    } else {
        /* what every predecessor agrees on */
        memcpy(b->val, p->pred->val, sizeof b->val);
        while ((p = p->next) != NULL)
            for (int i = 0; i < F_N_ATOMS; ++i)
                if (b->val[i] != p->pred->val[i])
                    b->val[i] = 0;
    }
    aval = b->val[F_A_ATOM];
    xval = b->val[F_X_ATOM];
    for (struct fstmt *s = b->stmts; s; s = s->next)
        opt_stmt(os, s, b->val, do_stmts);
    /* A block that changes nothing anyone uses, or a ret, needs no statements. */
    if (do_stmts && ((b->out_use == 0 && aval != VAL_UNKNOWN && b->val[F_A_ATOM] == aval &&
                      xval != VAL_UNKNOWN && b->val[F_X_ATOM] == xval) ||
                     BPF_CLASS(b->s.code) == BPF_RET)) {
        if (b->stmts) {
            b->stmts = NULL;
            changed(os);
        }
    } else {
        opt_peep(os, b);
        opt_deadstores(os, b);
    }
    b->oval = BPF_SRC(b->s.code) == BPF_K ? K(b->s.k) : b->val[F_X_ATOM];
    b->et.code = b->s.code;
    b->ef.code = -b->s.code;
}

/* ---- branches ------------------------------------------------------------------------------ */

static int use_conflict(struct fblock *b, struct fblock *succ)
{
    uint32_t use = succ->out_use;
    if (use == 0)
        return 0;
    for (int atom = 0; atom < F_N_ATOMS; ++atom)
        if (ATOMELEM(use, atom) && b->val[atom] != succ->val[atom])
            return 1;
    return 0;
}

/* A child of `child` that an edge dominated by ep can go to directly, or NULL. */
static struct fblock *fold_edge(struct fblock *child, struct fedge *ep)
{
    int sense, code = ep->code;
    if (code < 0) {
        code = -code;
        sense = 0;
    } else {
        sense = 1;
    }
    if (child->s.code != code)
        return NULL;
    if (child->val[F_A_ATOM] != ep->pred->val[F_A_ATOM])
        return NULL;
    if (child->oval == ep->pred->oval)
        return sense ? JT(child) : JF(child);
    if (sense && code == (BPF_JMP | BPF_JEQ | BPF_K))
        return JF(child); /* A equals another constant: this test fails */
    return NULL;
}

static void opt_j(struct ostate *os, struct fedge *ep)
{
    struct fblock *target;

    if (!JT(ep->succ))
        return;
    if (JT(ep->succ) == JF(ep->succ)) {
        /* both ways lead to the same block: skip the test if nothing depends on it */
        if (!use_conflict(ep->pred, JT(ep->succ))) {
            changed(os);
            ep->succ = JT(ep->succ);
        }
    }
top:
    for (unsigned i = 0; i < os->edgewords; ++i) {
        uint32_t x = ep->edom[i];
        while (x != 0) {
            unsigned k = (unsigned)__builtin_ctz(x);
            x &= ~(1u << k);
            k += i * BITS;
            target = fold_edge(ep->succ, os->edges[k]);
            if (target && !use_conflict(ep->pred, target)) {
                os->done = 0;
                ep->succ = target;
                if (JT(target))
                    goto top;
                return;
            }
        }
    }
}

/* or_pullup and and_pullup are one transformation seen from its two sides: the
 * second is the first with the true and false branches exchanged (JT <-> JF).
 * They stay two functions, as in libpcap's optimize.c, so that each can be read
 * line for line against its original, which is what this file is checked by. */
static void or_pullup(struct ostate *os, struct fblock *b, struct fblock *root)
{
    uint32_t val;
    int at_top;
    struct fblock *pull, **diffp, **samep;
    struct fedge *ep = b->in_edges;

    if (!ep)
        return;
    val = ep->pred->val[F_A_ATOM];
    for (ep = ep->next; ep; ep = ep->next)
        if (val != ep->pred->val[F_A_ATOM])
            return;
    diffp = JT(b->in_edges->pred) == b ? &JT(b->in_edges->pred) : &JF(b->in_edges->pred);
    at_top = 1;
    for (;;) {
        if (!*diffp)
            return;
        if (JT(*diffp) != JT(b))
            return;
        if (!SET_MEMBER((*diffp)->dom, b->id))
            return;
        if ((*diffp)->val[F_A_ATOM] != val)
            break;
        diffp = &JF(*diffp);
        at_top = 0;
    }
    samep = &JF(*diffp);
    for (;;) {
        if (!*samep)
            return;
        if (JT(*samep) != JT(b))
            return;
        if (!SET_MEMBER((*samep)->dom, b->id))
            return;
        if ((*samep)->val[F_A_ATOM] == val)
            break;
        samep = &JF(*samep);
    }
    pull = *samep;
    *samep = JF(pull);
    JF(pull) = *diffp;
    if (at_top) {
        for (ep = b->in_edges; ep; ep = ep->next) {
            if (JT(ep->pred) == b)
                JT(ep->pred) = pull;
            else
                JF(ep->pred) = pull;
        }
    } else {
        *diffp = pull;
    }
    os->done = 0;
    /* libpcap 1.10.3 does not recompute the dominators here (1.10.4 does) */
    (void)root;
}

static void and_pullup(struct ostate *os, struct fblock *b, struct fblock *root)
{
    uint32_t val;
    int at_top;
    struct fblock *pull, **diffp, **samep;
    struct fedge *ep = b->in_edges;

    if (!ep)
        return;
    val = ep->pred->val[F_A_ATOM];
    for (ep = ep->next; ep; ep = ep->next)
        if (val != ep->pred->val[F_A_ATOM])
            return;
    diffp = JT(b->in_edges->pred) == b ? &JT(b->in_edges->pred) : &JF(b->in_edges->pred);
    at_top = 1;
    for (;;) {
        if (!*diffp)
            return;
        if (JF(*diffp) != JF(b))
            return;
        if (!SET_MEMBER((*diffp)->dom, b->id))
            return;
        if ((*diffp)->val[F_A_ATOM] != val)
            break;
        diffp = &JT(*diffp);
        at_top = 0;
    }
    samep = &JT(*diffp);
    for (;;) {
        if (!*samep)
            return;
        if (JF(*samep) != JF(b))
            return;
        if (!SET_MEMBER((*samep)->dom, b->id))
            return;
        if ((*samep)->val[F_A_ATOM] == val)
            break;
        samep = &JT(*samep);
    }
    pull = *samep;
    *samep = JT(pull);
    JT(pull) = *diffp;
    if (at_top) {
        for (ep = b->in_edges; ep; ep = ep->next) {
            if (JT(ep->pred) == b)
                JT(ep->pred) = pull;
            else
                JF(ep->pred) = pull;
        }
    } else {
        *diffp = pull;
    }
    os->done = 0;
    /* libpcap 1.10.3 does not recompute the dominators here (1.10.4 does) */
    (void)root;
}

static void find_inedges(struct ostate *os, struct fblock *root)
{
    for (unsigned i = 0; i < os->n_blocks; ++i)
        os->blocks[i]->in_edges = NULL;
    for (int level = root->level; level > 0; --level)
        for (struct fblock *b = os->levels[level]; b; b = b->link) {
            b->et.next = JT(b)->in_edges;
            JT(b)->in_edges = &b->et;
            b->ef.next = JF(b)->in_edges;
            JF(b)->in_edges = &b->ef;
        }
}

static void opt_blks(struct ostate *os, int do_stmts)
{
    int maxlevel;
    init_val(os);
    maxlevel = os->root->level;
    find_inedges(os, os->root);
    for (int i = maxlevel; i >= 0; --i)
        for (struct fblock *p = os->levels[i]; p; p = p->link)
            opt_blk(os, p, do_stmts);
    if (do_stmts)
        return; /* moving branches now would change nothing */
    for (int i = 1; i <= maxlevel; ++i)
        for (struct fblock *p = os->levels[i]; p; p = p->link) {
            opt_j(os, &p->et);
            opt_j(os, &p->ef);
        }
    find_inedges(os, os->root);
    for (int i = 1; i <= maxlevel; ++i)
        for (struct fblock *p = os->levels[i]; p; p = p->link) {
            or_pullup(os, p, os->root);
            and_pullup(os, p, os->root);
        }
}

/* libpcap has no bound besides its cycle heuristic; ours also stops after 2000
 * passes, which no expression we have seen comes near, so that no input can
 * keep a caller busy for long. */
#define MAX_PASSES 2000

static void opt_loop(struct ostate *os, int do_stmts)
{
    int loop_count = 0;
    for (int pass = 0; pass < MAX_PASSES; pass++) {
        os->done = 1;
        os->non_branch_movement = 0;
        find_levels(os);
        find_dom(os, os->root);
        find_closure(os, os->root);
        find_ud(os, os->root);
        find_edom(os, os->root);
        opt_blks(os, do_stmts);
        if (os->done)
            break;
        /* libpcap: 100 passes that only move branches are taken for a cycle */
        if (os->non_branch_movement) {
            loop_count = 0;
        } else if (++loop_count >= 100) {
            os->done = 1;
            break;
        }
    }
}

/* ---- set up, merge equal blocks, the root ------------------------------------------------------- */

static int slength_nop(const struct fstmt *s)
{
    int n = 0;
    for (; s; s = s->next)
        if (s->code != F_NOP)
            n++;
    return n;
}

/* number_blks_r(): pre-order, true subtree first (a block is taken when popped,
 * which gives the recursive order). */
static void number_blocks(struct ostate *os)
{
    struct fstate *fs = os->fs;
    unsigned sp = 0, cap = 64, bcap = 64;
    struct fblock **st = fs_alloc(fs, cap * sizeof *st);

    os->blocks = fs_alloc(fs, bcap * sizeof *os->blocks);
    os->n_blocks = 0;
    unmark_all(fs);
    st[sp++] = os->root;
    while (sp > 0) {
        struct fblock *p = st[--sp];
        if (!p || is_marked(fs, p))
            continue;
        mark(fs, p);
        if (os->n_blocks == bcap) {
            struct fblock **nb = fs_alloc(fs, bcap * 2 * sizeof *nb);
            memcpy(nb, os->blocks, bcap * sizeof *nb);
            os->blocks = nb;
            bcap *= 2;
        }
        p->id = (int)os->n_blocks;
        os->blocks[os->n_blocks++] = p;
        if (sp + 2 > cap) {
            struct fblock **n2 = fs_alloc(fs, cap * 2 * sizeof *n2);
            memcpy(n2, st, sp * sizeof *n2);
            st = n2;
            cap *= 2;
        }
        st[sp++] = JF(p);
        st[sp++] = JT(p);
    }
}

#define MAX_OPT_BLOCKS 8192

static void opt_init(struct ostate *os)
{
    struct fstate *fs = os->fs;
    unsigned max_stmts = 0;
    uint32_t *p;

    number_blocks(os);
    if (os->n_blocks > MAX_OPT_BLOCKS) {
        fs->rc = -EMSGSIZE;
        fs_error(fs, -1, "expression too complex: %u blocks to optimize (at most %d)", os->n_blocks,
                 MAX_OPT_BLOCKS);
    }
    os->n_edges = 2 * os->n_blocks;
    os->edges = fs_alloc(fs, os->n_edges * sizeof *os->edges);
    os->levels = fs_alloc(fs, os->n_blocks * sizeof *os->levels);
    os->stack = fs_alloc(fs, os->n_blocks * 2 * sizeof(void *) * 2);
    os->edgewords = os->n_edges / BITS + 1;
    os->nodewords = os->n_blocks / BITS + 1;
    p = fs_alloc(fs, ((size_t)2 * os->n_blocks * os->nodewords + (size_t)os->n_edges * os->edgewords) *
                         sizeof(uint32_t));
    for (unsigned i = 0; i < os->n_blocks; ++i) {
        os->blocks[i]->dom = p;
        p += os->nodewords;
    }
    for (unsigned i = 0; i < os->n_blocks; ++i) {
        os->blocks[i]->closure = p;
        p += os->nodewords;
    }
    for (unsigned i = 0; i < os->n_blocks; ++i) {
        struct fblock *b = os->blocks[i];
        b->et.edom = p;
        p += os->edgewords;
        b->ef.edom = p;
        p += os->edgewords;
        b->et.id = (int)i;
        os->edges[i] = &b->et;
        b->ef.id = (int)(os->n_blocks + i);
        os->edges[os->n_blocks + i] = &b->ef;
        b->et.pred = b;
        b->ef.pred = b;
    }
    for (unsigned i = 0; i < os->n_blocks; ++i)
        max_stmts += (unsigned)slength_nop(os->blocks[i]->stmts) + 1;
    /* at most 3 value numbers per statement (libpcap's bound), and some slack */
    os->maxval = 3 * max_stmts + 16;
    os->vmap = fs_alloc(fs, os->maxval * sizeof *os->vmap);
    os->vnode_base = fs_alloc(fs, os->maxval * sizeof *os->vnode_base);
}

static void make_marks(struct ostate *os)
{
    struct fstate *fs = os->fs;
    struct fblock **st = os->stack;
    unsigned sp = 0;

    unmark_all(fs);
    st[sp++] = os->root;
    while (sp > 0) {
        struct fblock *p = st[--sp];
        if (is_marked(fs, p))
            continue;
        mark(fs, p);
        if (BPF_CLASS(p->s.code) != BPF_RET) {
            st[sp++] = JT(p);
            st[sp++] = JF(p);
        }
    }
}

static int eq_slist(struct fstmt *x, struct fstmt *y)
{
    for (;;) {
        while (x && x->code == F_NOP)
            x = x->next;
        while (y && y->code == F_NOP)
            y = y->next;
        if (!x)
            return !y;
        if (!y)
            return !x;
        if (x->code != y->code || x->k != y->k)
            return 0;
        x = x->next;
        y = y->next;
    }
}

static int eq_blk(struct fblock *b0, struct fblock *b1)
{
    if (b0->s.code == b1->s.code && b0->s.k == b1->s.k && JT(b0) == JT(b1) && JF(b0) == JF(b1))
        return eq_slist(b0->stmts, b1->stmts);
    return 0;
}

/* Merge blocks that are the same code going the same places, until none are. */
static void intern_blocks(struct ostate *os)
{
    int done;
    do {
        done = 1;
        for (unsigned i = 0; i < os->n_blocks; ++i)
            os->blocks[i]->link = NULL;
        make_marks(os);
        for (unsigned i = os->n_blocks - 1; i != 0;) {
            --i;
            if (!is_marked(os->fs, os->blocks[i]))
                continue;
            for (unsigned j = i + 1; j < os->n_blocks; ++j) {
                if (!is_marked(os->fs, os->blocks[j]))
                    continue;
                if (eq_blk(os->blocks[i], os->blocks[j])) {
                    os->blocks[i]->link = os->blocks[j]->link ? os->blocks[j]->link : os->blocks[j];
                    break;
                }
            }
        }
        for (unsigned i = 0; i < os->n_blocks; ++i) {
            struct fblock *p = os->blocks[i];
            if (!JT(p))
                continue;
            if (JT(p)->link) {
                done = 0;
                JT(p) = JT(p)->link;
            }
            if (JF(p)->link) {
                done = 0;
                JF(p) = JF(p)->link;
            }
        }
    } while (!done);
}

/* Skip root branches that go the same way both ways, keeping their statements. */
static struct fblock *opt_root(struct fblock *b)
{
    struct fstmt *s = b->stmts, *tmp;
    b->stmts = NULL;
    while (BPF_CLASS(b->s.code) == BPF_JMP && JT(b) == JF(b))
        b = JT(b);
    tmp = b->stmts;
    if (tmp) {
        if (s)
            fs_sappend(s, tmp);
        else
            s = tmp;
    }
    b->stmts = s;
    if (BPF_CLASS(b->s.code) == BPF_RET)
        b->stmts = NULL; /* no side effects: nothing to compute before a ret */
    return b;
}

struct fblock *fs_optimize(struct fstate *fs, struct fblock *root)
{
    struct ostate *os = fs_alloc(fs, sizeof *os);
    os->fs = fs;
    os->root = root;
    opt_init(os);
    opt_loop(os, 0);
    opt_loop(os, 1);
    intern_blocks(os);
    return opt_root(os->root);
}
