/* compile.c — sn_filter_compile(): lex, parse, generate, then lay the blocks out
 * as libpcap's icode_to_fcode() does (a block, then its true successors, then its
 * false ones; a branch further than 255 instructions goes through an added ja),
 * so the program is instruction for instruction what `tcpdump -O -d` prints.
 * Memory: one arena (a few malloc'd chunks) per call, freed before returning.
 * Errors deep in code generation longjmp back here (fs_error); everything the
 * compiler allocated is in the arena, so the one exit frees it all. */
#include "filter_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EXPR_LEN 65536

void *fs_alloc(struct fstate *fs, size_t size)
{
    struct fchunk *c = fs->chunks;
    size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (!c || c->cap - c->used < size) {
        size_t cap = size > 32768 ? size : 32768;
        c = malloc(sizeof *c + cap);
        if (!c) {
            fs->rc = -ENOMEM;
            if (fs->err) {
                fs->err->pos = -1;
                snprintf(fs->err->msg, sizeof fs->err->msg, "out of memory");
            }
            longjmp(fs->env, 1);
        }
        c->cap = cap;
        c->used = 0;
        c->next = fs->chunks;
        fs->chunks = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

_Noreturn void fs_error(struct fstate *fs, int pos, const char *fmt, ...)
{
    if (fs->err) {
        va_list ap;
        fs->err->pos = pos;
        va_start(ap, fmt);
        vsnprintf(fs->err->msg, sizeof fs->err->msg, fmt, ap);
        va_end(ap);
    }
    if (!fs->rc)
        fs->rc = -EINVAL;
    longjmp(fs->env, 1);
}

static int slength(const struct fstmt *s)
{
    int n = 0;
    for (; s; s = s->next)
        if (s->code != F_NOP)
            n++;
    return n;
}

/* Blocks reachable from root, each once, in the order libpcap's recursive
 * convert_code_r() finishes them: false subtree, true subtree, then the block.
 * An explicit stack keeps deep programs off the C stack. */
struct frame {
    struct fblock *b;
    int state;
};

static int postorder(struct fstate *fs, struct fblock *root, struct fblock ***out)
{
    int cap = 64, n = 0, sp = 0, scap = 64;
    struct fblock **list = fs_alloc(fs, (size_t)cap * sizeof *list);
    struct frame *st = fs_alloc(fs, (size_t)scap * sizeof *st);

    fs->cur_mark++;
    root->mark = fs->cur_mark;
    st[sp++] = (struct frame){root, 0};
    while (sp > 0) {
        struct frame *f = &st[sp - 1];
        struct fblock *next = NULL;
        if (f->state == 0) {
            f->state = 1;
            next = JF(f->b);
        } else if (f->state == 1) {
            f->state = 2;
            next = JT(f->b);
        } else {
            if (n == cap) {
                struct fblock **l2 = fs_alloc(fs, (size_t)cap * 2 * sizeof *l2);
                memcpy(l2, list, (size_t)cap * sizeof *l2);
                list = l2;
                cap *= 2;
            }
            list[n++] = f->b;
            sp--;
            continue;
        }
        if (next && next->mark != fs->cur_mark) {
            next->mark = fs->cur_mark;
            if (sp == scap) {
                struct frame *s2 = fs_alloc(fs, (size_t)scap * 2 * sizeof *s2);
                memcpy(s2, st, (size_t)scap * sizeof *s2);
                st = s2;
                scap *= 2;
            }
            st[sp++] = (struct frame){next, 0};
        }
    }
    *out = list;
    return n;
}

/* One layout attempt: 0 when a branch turned out too long (its block is now
 * flagged and the caller tries again), else the number of instructions. */
static int convert(struct fblock **list, int nblocks, struct sock_filter *prog, int total)
{
    int tail = total;
    for (int i = 0; i < nblocks; i++) {
        struct fblock *p = list[i];
        int slen = slength(p->stmts);
        struct sock_filter *dst;
        tail -= slen + 1 + p->longjt + p->longjf;
        p->offset = tail;
        dst = &prog[tail];
        for (struct fstmt *s = p->stmts; s; s = s->next)
            if (s->code != F_NOP)
                *dst++ = (struct sock_filter){(uint16_t)s->code, 0, 0, s->k};
        *dst = (struct sock_filter){(uint16_t)p->s.code, 0, 0, p->s.k};
        if (JT(p)) {
            int extra = 0, off;
            off = JT(p)->offset - (p->offset + slen) - 1;
            if (off >= 256) {
                if (!p->longjt) {
                    p->longjt = 1;
                    return 0;
                }
                dst->jt = (uint8_t)extra;
                extra++;
                dst[extra] = (struct sock_filter){BPF_JMP | BPF_JA, 0, 0, (uint32_t)(off - extra)};
            } else {
                dst->jt = (uint8_t)off;
            }
            off = JF(p)->offset - (p->offset + slen) - 1;
            if (off >= 256) {
                if (!p->longjf) {
                    p->longjf = 1;
                    return 0;
                }
                dst->jf = (uint8_t)extra;
                extra++;
                dst[extra] = (struct sock_filter){BPF_JMP | BPF_JA, 0, 0, (uint32_t)(off - extra)};
            } else {
                dst->jf = (uint8_t)off;
            }
        }
    }
    return total;
}

/* The program of root, laid out into prog (arena memory): its length, or a
 * negative errno with fs->err filled. */
static int layout(struct fstate *fs, struct fblock *root, struct sock_filter **progp)
{
    struct fblock **list;
    int nblocks = postorder(fs, root, &list);

    for (;;) {
        long total = 0;
        for (int i = 0; i < nblocks; i++)
            total += slength(list[i]->stmts) + 1 + list[i]->longjt + list[i]->longjf;
        if (total > SN_FILTER_MAXINSNS) {
            if (fs->err) {
                fs->err->pos = -1;
                snprintf(fs->err->msg, sizeof fs->err->msg,
                         "the program needs %ld instructions, more than the %d a kernel takes", total,
                         SN_FILTER_MAXINSNS);
            }
            return -EMSGSIZE;
        }
        struct sock_filter *prog = fs_alloc(fs, (size_t)total * sizeof *prog);
        if (convert(list, nblocks, prog, (int)total) == 0)
            continue;
        *progp = prog;
        return (int)total;
    }
}

/* A load at an offset of 2^31 or more never falls inside a captured packet, so
 * libpcap's interpreter drops the packet there ("ether[-13]" once constants are
 * folded). The kernel reads such offsets as ancillary data or relative to the
 * link or network header (SKF_AD_OFF, SKF_LL_OFF, SKF_NET_OFF), or refuses the
 * program, so say what libpcap means outright: ret #0 in its place (jumps are
 * unchanged). `tcpdump -d` prints the load instead. */
static void drop_far_loads(struct sock_filter *prog, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint16_t c = prog[i].code;
        int ld = BPF_CLASS(c) == BPF_LD && (BPF_MODE(c) == BPF_ABS || BPF_MODE(c) == BPF_IND);
        int msh = c == (BPF_LDX | BPF_B | BPF_MSH);
        if ((ld || msh) && prog[i].k >= 0x80000000u)
            prog[i] = (struct sock_filter){BPF_RET | BPF_K, 0, 0, 0};
    }
}

int sn_filter_compile_flags(const char *expr, uint32_t linktype, uint32_t snaplen, unsigned flags,
                            struct sock_filter *out, unsigned cap, struct sn_filter_err *err)
{
    struct fstate *fs;
    /* volatile: set after setjmp and read after a longjmp (-Wclobbered) */
    struct sock_filter *volatile prog = NULL;
    int rc;

    if (err) {
        err->pos = -1;
        err->msg[0] = 0;
    }
    if (!expr)
        expr = "";
    if (linktype != SN_LINKTYPE_ETHERNET && linktype != SN_LINKTYPE_RAW) {
        if (err)
            snprintf(err->msg, sizeof err->msg, "link type %u: filters compile for Ethernet (1) and raw IP (101)",
                     linktype);
        return -EPROTONOSUPPORT;
    }
    size_t len = strlen(expr);
    if (len > MAX_EXPR_LEN) {
        if (err)
            snprintf(err->msg, sizeof err->msg, "expression of %zu bytes (at most %d)", len, MAX_EXPR_LEN);
        return -EMSGSIZE;
    }
    if (!out && cap)
        return -EINVAL;
    fs = calloc(1, sizeof *fs);
    if (!fs)
        return -ENOMEM;
    fs->err = err;
    fs->expr = expr;
    fs->len = len;
    fs->linktype = linktype;
    fs->snaplen = snaplen ? snaplen : SN_FILTER_SNAPLEN;
    fs->off_nl = 0;
    if (linktype == SN_LINKTYPE_ETHERNET) {
        fs->off_linktype = 12; /* gencode.c init_linktype(): DLT_EN10MB */
        fs->off_linkpl = 14;
    } else {
        fs->off_linktype = ~0u; /* DLT_RAW: no type field */
        fs->off_linkpl = 0;
    }

    if (setjmp(fs->env)) {
        rc = fs->rc;
        goto out;
    }
    fs_lex(fs);
    struct fnode *tree = fs_parse(fs);
    struct fblock *b = fs_gen(fs, tree), *root;
    if (!b) {
        root = fs_retblk(fs, fs->snaplen);
    } else {
        /* gencode.c finish_parse(): true exits accept, false exits drop */
        fs_backpatch(b, fs_retblk(fs, fs->snaplen));
        b->sense = !b->sense;
        fs_backpatch(b, fs_retblk(fs, 0));
        root = b->head;
    }
    if (!(flags & SN_FILTER_NO_OPTIMIZE))
        root = fs_optimize(fs, root);
    struct sock_filter *laid = NULL;
    rc = layout(fs, root, &laid);
    prog = laid;
    if (rc > 0)
        drop_far_loads(prog, (unsigned)rc);
    if (rc > 0) {
        struct sn_filter_err verr;
        if (sn_filter_verify(prog, (unsigned)rc, &verr) < 0) {
            if (err) {
                err->pos = -1;
                snprintf(err->msg, sizeof err->msg, "internal error: instruction %d: %.100s", verr.pos, verr.msg);
            }
            rc = -EINVAL;
        } else if ((unsigned)rc > cap) {
            if (err) {
                err->pos = -1;
                snprintf(err->msg, sizeof err->msg, "the program needs %d instructions, room for %u", rc, cap);
            }
            rc = -EMSGSIZE;
        } else {
            memcpy(out, prog, (size_t)rc * sizeof *prog);
        }
    }
out:
    while (fs->chunks) {
        struct fchunk *c = fs->chunks;
        fs->chunks = c->next;
        free(c);
    }
    free(fs);
    return rc;
}

int sn_filter_compile(const char *expr, uint32_t linktype, uint32_t snaplen, struct sock_filter *out,
                      unsigned cap, struct sn_filter_err *err)
{
    return sn_filter_compile_flags(expr, linktype, snaplen, 0, out, cap, err);
}
