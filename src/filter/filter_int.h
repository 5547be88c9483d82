/* filter_int.h — private to src/filter: the expression compiler's tokens, syntax
 * tree, code blocks and state. The pipeline is lex.c (text -> tokens), parse.c
 * (tokens -> tree, following libpcap's grammar.y), gen.c (tree -> blocks, the
 * code shapes of libpcap's gencode.c) and compile.c (blocks -> instructions, as
 * libpcap's icode_to_fcode lays them out). */
#ifndef SN_FILTER_INT_H
#define SN_FILTER_INT_H

#include <sysnet/filter.h>

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

/* ---- memory: one arena per compilation, freed at once ---------------------- */
struct fchunk {
    struct fchunk *next;
    size_t used, cap;
    max_align_t data[];
};

/* ---- tokens ------------------------------------------------------------------ */
enum ftok_kind {
    T_EOF = 0,
    T_NUM,  /* a number or a named constant (tcp-syn ...): num */
    T_HID,  /* dotted IPv4, 2 to 4 parts: text */
    T_HID6, /* IPv6 address: addr6 */
    T_EID,  /* MAC address: mac */
    T_ID,   /* a name (or \name): text */
    T_KW,   /* a keyword: kw */
    T_OP,   /* punctuation: op */
};

/* Operators: single characters are themselves; these are the rest. */
enum {
    OP_GEQ = 256, OP_LEQ, OP_NEQ, OP_LSH, OP_RSH,
};

/* Keywords. The pname group are the protocol qualifiers of grammar.y. */
enum fkw {
    K_NONE = 0,
    /* protocols (pname) */
    K_LINK, K_IP, K_IP6, K_ARP, K_RARP, K_SCTP, K_TCP, K_UDP, K_ICMP, K_ICMP6,
    K_IGMP, K_IGRP, K_PIM, K_VRRP, K_CARP, K_AH, K_ESP,
    /* direction and address qualifiers */
    K_SRC, K_DST, K_HOST, K_NET, K_MASK, K_PORT, K_PORTRANGE, K_PROTO,
    /* logic and the rest */
    K_AND, K_OR, K_NOT, K_LESS, K_GREATER, K_LEN, K_VLAN, K_BROADCAST, K_MULTICAST,
    K_BYTE,
    /* known to tcpdump, refused here with a clear message */
    K_UNSUPPORTED,
};

struct ftok {
    uint8_t kind;      /* enum ftok_kind */
    uint16_t kw;       /* T_KW: enum fkw; T_OP: the operator */
    int pos, len;      /* where in the expression */
    uint32_t num;      /* T_NUM */
    const char *text;  /* T_HID/T_ID: the text (not NUL-terminated; len_text bytes) */
    int text_len;
    uint8_t addr6[16]; /* T_HID6 */
    uint8_t mac[6];    /* T_EID */
};

/* ---- qualifiers (grammar.y's struct qual) --------------------------------------- */
enum { Q_UNDEF = 255, Q_DEFAULT = 0 };
/* address kinds */
enum { Q_HOST = 1, Q_NET, Q_PORT, Q_PROTO, Q_PORTRANGE };
/* directions */
enum { Q_SRC = 1, Q_DST, Q_OR, Q_AND };
/* protocols (also used for pname): the K_ values of the pname group. */
struct fqual {
    uint8_t proto, dir, addr;
};

/* ---- syntax tree ----------------------------------------------------------------- */
enum fnode_kind {
    N_CHAIN,    /* kids joined left to right by and/or (op of each kid after the first) */
    N_NOT,      /* kid */
    N_PNAME,    /* a bare protocol name: "tcp" */
    N_ID,       /* a qualified id: "host 1.2.3.4", "port 80", the "5.6.7.8" of "or 5.6.7.8" */
    N_REL,      /* arth relop arth */
    N_LESS, N_GREATER, N_VLAN, N_BCAST, N_MCAST, N_BYTE,
    /* arithmetic */
    A_NUM, A_LEN, A_LOAD, A_BIN, A_NEG,
};

/* What kind of id an N_ID is (the nid/pnum alternatives of grammar.y). */
enum { ID_NUM = 1, ID_HID, ID_HID_LEN, ID_HID_MASK, ID_HID6, ID_HID6_LEN, ID_EID, ID_NAME };

struct fnode {
    uint8_t kind;
    uint8_t op;            /* N_REL: BPF_JGT/JGE/JEQ; A_BIN: BPF_ADD...; N_BYTE: char */
    uint8_t join;          /* a kid of an N_CHAIN after the first: K_AND or K_OR */
    uint8_t reversed;      /* N_REL */
    uint8_t proto;         /* N_PNAME, A_LOAD, N_BCAST/N_MCAST: pname */
    uint8_t idkind;        /* N_ID */
    struct fqual q;        /* N_ID */
    uint32_t num, num2;    /* N_ID (value, prefix length), A_NUM, A_LOAD (size), N_LESS.., N_VLAN */
    int has_num;           /* N_VLAN */
    int pos;               /* byte offset, for errors */
    int depth;             /* arithmetic: height of the subtree (bounded) */
    const struct ftok *t1, *t2; /* N_ID: the token(s) */
    struct fnode *a, *b;   /* N_NOT/N_REL/A_*: operands; N_CHAIN: first kid */
    struct fnode *next;    /* next kid in an N_CHAIN */
};

/* ---- code blocks (gencode.h's struct block / slist, optimize.c's fields) ----------- */
#define F_NOP (-1)           /* a statement the optimizer deleted */
#define F_MEMWORDS SN_FILTER_MEMWORDS
#define F_A_ATOM F_MEMWORDS  /* value-number slots: M[0..15], A, X */
#define F_X_ATOM (F_MEMWORDS + 1)
#define F_N_ATOMS (F_MEMWORDS + 2)

struct fstmt {
    int code;             /* BPF opcode, or F_NOP */
    uint32_t k;
    struct fstmt *next;
};

struct fblock;
struct fedge {
    int id;
    int code;             /* the branch opcode; negated for the false edge */
    uint32_t *edom;       /* edge dominators (bit set) */
    struct fblock *succ;  /* where it goes; while unresolved, a link of an exit list */
    struct fblock *pred;
    struct fedge *next;   /* next in-edge of succ */
};

struct fblock {
    int id;               /* optimizer: depth-first number */
    struct fstmt *stmts;  /* statements before the branch */
    struct fstmt s;       /* the branch (a conditional jump) or a ret */
    int mark;             /* == fs->cur_mark when visited */
    uint8_t sense;        /* which of jt/jf is the exit-list link (see gen_and) */
    uint8_t longjt, longjf; /* layout: this branch needs a ja to reach its target */
    int offset;           /* layout: index of the first instruction */
    int level;            /* optimizer: height above the leaves */
    struct fedge et, ef;  /* true and false edges */
    struct fblock *head;  /* the first block of the expression this block ends */
    struct fblock *link;  /* optimizer: level lists, intern_blocks */
    uint32_t *dom;        /* optimizer: dominators (bit set) */
    uint32_t *closure;    /* optimizer: backward closure (bit set) */
    struct fedge *in_edges;
    uint32_t def, kill, in_use, out_use; /* atom sets */
    uint32_t oval;        /* value number of the branch operand */
    uint32_t val[F_N_ATOMS]; /* value numbers of the atoms on exit */
};
#define JT(b) ((b)->et.succ)
#define JF(b) ((b)->ef.succ)

struct farth {
    struct fstmt *s;      /* code computing the value into M[regno] */
    struct fblock *b;     /* protocol checks that must hold first, or NULL */
    int regno;
};

/* ---- state -------------------------------------------------------------------------- */
struct fstate {
    jmp_buf env;                /* errors in code generation longjmp here (compile.c) */
    struct sn_filter_err *err;
    int rc;                     /* the error code when env is taken */
    struct fchunk *chunks;
    const char *expr;
    size_t len;
    /* tokens */
    struct ftok *toks;
    int ntoks;
    /* parser */
    int tp;                     /* next token */
    int depth;                  /* nesting, bounded */
    long work;                  /* parse steps, bounded */
    int err_pos;                /* furthest syntax error seen */
    char err_msg[160];
    /* link layer (gencode.c's offsets; off_linkhdr is always 0 here) */
    uint32_t linktype;
    uint32_t snaplen;
    uint32_t off_linktype;      /* absolute offset of the ethertype; ~0u for raw IP */
    uint32_t off_linkpl;        /* absolute offset of the link-layer payload */
    uint32_t off_nl;            /* network header, relative to the payload */
    unsigned vlan_depth;
    int cur_mark;               /* blocks visited in the current walk */
    /* scratch registers, allocated round robin as gencode.c does */
    uint8_t regused[SN_FILTER_MEMWORDS];
    int curreg;
};

/* compile.c */
void *fs_alloc(struct fstate *fs, size_t size);                 /* zeroed; longjmp on ENOMEM */
_Noreturn void fs_error(struct fstate *fs, int pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* lex.c: fills fs->toks; returns 0 or sets err and returns -EINVAL */
int fs_lex(struct fstate *fs);
/* parse.c: the tree, or NULL with err filled (-EINVAL) */
struct fnode *fs_parse(struct fstate *fs);
/* gen.c: the tree's code (NULL for an empty expression); errors longjmp */
struct fblock *fs_gen(struct fstate *fs, struct fnode *root);
struct fblock *fs_retblk(struct fstate *fs, uint32_t k);
void fs_backpatch(struct fblock *list, struct fblock *target);
void fs_sappend(struct fstmt *s0, struct fstmt *s1);
/* optimize.c: libpcap's optimizer; returns the new root */
struct fblock *fs_optimize(struct fstate *fs, struct fblock *root);

#endif
