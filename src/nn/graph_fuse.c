/*
 * graph_fuse.c - fk__graph_fuse: rewriting a built fk_graph before it is
 * planned, so that fewer nodes run and fewer values are stored. What
 * follows a convolution (or depthwise convolution) folds into it when the
 * convolution's output has no other reader: a per-channel multiply or add
 * into its filter and bias, an activation (ReLU, and ReLU6 spelled as
 * Keras writes it) into its epilogue, a residual add of a value computed
 * earlier into the product, and PReLU spelled as max(x, 0) + gamma *
 * min(x, 0) into one activation. A per-channel affine map with a positive
 * scale followed by a VALID max-pool (batch norm after a ReLU, as GEAR's
 * Keras graph has it: conv, ReLU, BN, max-pool) moves after the pool, where
 * it touches a quarter of the values (max(s x + t) = s max(x) + t for
 * s > 0): GEAR's five batch norms cost 5.1 of its 31.6 ms on one thread
 * before the move. The rewritten graph computes the same function; a fold
 * into the filter reorders float operations.
 */
#include "nn/graph_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* ---- fusion ------------------------------------------------------------ */

/* A constant operand that is one value per channel of a c-channel value
 * (shape 1x1x1xc) or one value for all (1x1x1x1). */
static int per_channel(const fk_node *nd, int c) {
    fk_shape4 k = nd->kshape;
    return nd->in[1] < 0 && k.n == 1 && k.h == 1 && k.w == 1 && (k.c == 1 || k.c == c);
}

/* A constant operand holding one value, equal to x. */
static int scalar_is(const fk_node *nd, float x) {
    fk_shape4 k = nd->kshape;
    return nd->in[1] < 0 && (long)k.n * k.h * k.w * k.c == 1 && nd->w[0] == x;
}

/* A copy of n floats (of src, or zeros when src is NULL) kept by the graph,
 * or NULL when out of memory (then the graph's build status says so). */
static float *kept_copy(fk_graph *g, const float *src, long n) {
    float *p = malloc((size_t)n * sizeof *p);
    if (!p || fk__graph_keep(g, p) != FK_OK) {
        fk__graph_build_fail(g, FK_ENOMEM, "graph: out of memory");
        return NULL;
    }
    if (src)
        memcpy(p, src, (size_t)n * sizeof *p);
    else
        memset(p, 0, (size_t)n * sizeof *p);
    return p;
}

/* Whether value v is the graph input or produced by a node before `at`. */
static int computed_before(const fk_graph *g, int v, const fk_node *at) {
    if (v == 0) return 1;
    for (const fk_node *nd = g->nodes; nd < at; nd++)
        if (nd->out == v) return 1;
    return 0;
}

/* Try to fold node j (the only reader of convolution cv's output) into cv.
 * Returns 1 if folded (cv then stands for both). */
static int fold_into(fk_graph *g, fk_node *cv, const fk_node *j) {
    int c = cv->out_c;
    int affine = cv->act.kind == FK_ACT_NONE;
    if (j->op == FK_OP_BINARY && j->in[1] < 0) {
        fk_binop op = (fk_binop)j->sub;
        if (affine && op == FK_BIN_MUL && per_channel(j, c) && cv->in[1] < 0) {
            /* (x . w + b) * k = x . (w k) + b k, per output channel */
            long taps = cv->op == FK_OP_CONV ? (long)cv->kh * cv->kw * cv->in_c
                                             : (long)cv->kh * cv->kw;
            float *w = kept_copy(g, cv->w, taps * c);
            float *b = cv->b && w ? kept_copy(g, cv->b, c) : NULL;
            if (!w || (cv->b && !b)) return 0;
            for (long t = 0; t < taps; t++)
                for (int o = 0; o < c; o++) w[t * c + o] *= j->w[j->kshape.c == 1 ? 0 : o];
            if (b)
                for (int o = 0; o < c; o++) b[o] *= j->w[j->kshape.c == 1 ? 0 : o];
            cv->w = w;
            cv->b = b;
            return 1;
        }
        if (affine && (op == FK_BIN_ADD || (op == FK_BIN_SUB && !j->const_first)) &&
            per_channel(j, c)) {
            float *b = kept_copy(g, cv->b, c);
            if (!b) return 0;
            for (int o = 0; o < c; o++) {
                float k = j->w[j->kshape.c == 1 ? 0 : o];
                b[o] += op == FK_BIN_ADD ? k : -k;
            }
            cv->b = b;
            return 1;
        }
        /* clip_by_value(relu(x), 0, 6), as Keras writes ReLU6 */
        if (op == FK_BIN_MIN && cv->act.kind == FK_ACT_RELU && scalar_is(j, 6.0f)) {
            cv->act.kind = FK_ACT_RELU6;
            return 1;
        }
        if (op == FK_BIN_MAX && scalar_is(j, 0.0f) &&
            (cv->act.kind == FK_ACT_RELU || cv->act.kind == FK_ACT_RELU6 || affine)) {
            if (affine) cv->act.kind = FK_ACT_RELU;
            return 1;
        }
        return 0;
    }
    if (((j->op == FK_OP_BINARY && j->sub == FK_BIN_ADD) || j->op == FK_OP_ADD) &&
        cv->op == FK_OP_CONV && affine && cv->in[1] < 0) {
        /* a residual: conv(x) + y with y computed before the convolution
         * (it is then read where the convolution runs); plan checks that y
         * has the output's shape. facekit's own add brings its activation. */
        int y = j->in[0] == cv->out ? j->in[1] : j->in[0];
        if (y == cv->out || g->values[y].c != c || !computed_before(g, y, cv)) return 0;
        cv->in[1] = y;
        if (j->op == FK_OP_ADD) cv->act = j->act;
        return 1;
    }
    if (j->op == FK_OP_UNARY && affine && (j->sub == FK_UN_RELU || j->sub == FK_UN_RELU6)) {
        cv->act.kind = j->sub == FK_UN_RELU ? FK_ACT_RELU : FK_ACT_RELU6;
        return 1;
    }
    return 0;
}

/* Node indices reading value v (up to max of them); returns how many read
 * it, or max + 1 when v is a graph output (never to be folded away). */
static int reader_nodes(const fk_graph *g, int v, int *idx, int max) {
    if (g->values[v].is_output) return max + 1;
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].in[0] == v || g->nodes[i].in[1] == v) {
            if (n < max) idx[n] = i;
            n++;
        }
    return n;
}

/* The index of the only node reading v, or -1. */
static int only_reader(const fk_graph *g, int v) {
    int idx[1] = {-1};
    return reader_nodes(g, v, idx, 1) == 1 ? idx[0] : -1;
}

static void remove_node(fk_graph *g, int j) {
    memmove(&g->nodes[j], &g->nodes[j + 1], (size_t)(g->n_nodes - j - 1) * sizeof *g->nodes);
    g->n_nodes--;
}

static int cmp_int_desc(const void *x, const void *y) {
    int a = *(const int *)x, b = *(const int *)y;
    return (a < b) - (a > b);
}

/* PReLU as some converters write it, max(x, 0) + gamma * min(x, 0), after
 * convolution i (no activation yet): folds into its activation. Returns 1
 * if folded. */
static int fold_prelu(fk_graph *g, int i) {
    fk_node *cv = &g->nodes[i];
    int c = cv->out_c, two[2];
    if (cv->act.kind != FK_ACT_NONE || reader_nodes(g, cv->out, two, 2) != 2) return 0;
    int mx = -1, mn = -1;
    for (int k = 0; k < 2; k++) {
        const fk_node *nd = &g->nodes[two[k]];
        if (nd->op != FK_OP_BINARY || !scalar_is(nd, 0.0f) || two[k] <= i) return 0;
        if (nd->sub == FK_BIN_MAX) mx = two[k];
        if (nd->sub == FK_BIN_MIN) mn = two[k];
    }
    if (mx < 0 || mn < 0) return 0;
    int mul = only_reader(g, g->nodes[mn].out);
    if (mul < 0) return 0;
    const fk_node *m = &g->nodes[mul];
    if (m->op != FK_OP_BINARY || m->sub != FK_BIN_MUL || !per_channel(m, c)) return 0;
    int add = only_reader(g, m->out);
    if (add < 0 || only_reader(g, g->nodes[mx].out) != add) return 0;
    const fk_node *a = &g->nodes[add];
    if (a->op != FK_OP_BINARY || a->sub != FK_BIN_ADD || a->in[1] < 0) return 0;
    const float *slope = m->w;
    if (m->kshape.c == 1) { /* one slope for all: spread it per channel */
        float *s = kept_copy(g, NULL, c);
        if (!s) return 0;
        for (int o = 0; o < c; o++) s[o] = m->w[0];
        slope = s;
    }
    cv->act = (fk_act){FK_ACT_PRELU, 0.0f, slope};
    cv->out = a->out;
    int gone[4] = {mx, mn, mul, add};
    qsort(gone, 4, sizeof *gone, cmp_int_desc);
    for (int k = 0; k < 4; k++) remove_node(g, gone[k]);
    return 1;
}

/* Node i as a per-channel affine step y = s x + t that keeps order (so a
 * max-pool commutes with it): a multiply by positive constants, or an add
 * or subtract of constants. */
static int order_keeping_affine(const fk_graph *g, int i) {
    const fk_node *nd = &g->nodes[i];
    if (nd->op != FK_OP_BINARY || nd->in[1] >= 0 || nd->in[0] < 0) return 0;
    int c = g->values[nd->in[0]].c;
    if (c <= 0 || !per_channel(nd, c)) return 0;
    long n = nd->kshape.c;
    switch ((fk_binop)nd->sub) {
    case FK_BIN_MUL:
        for (long k = 0; k < n; k++)
            if (!(nd->w[k] > 0)) return 0;
        return 1;
    case FK_BIN_ADD: return 1;
    case FK_BIN_SUB: return !nd->const_first;
    default: return 0;
    }
}

/* One or two affine steps starting at node i whose only reader is a VALID
 * max-pool: the pool moves in front of them (values keep their ids; the
 * pool reads what the first step read). Returns 1 if moved. */
static int pool_before_affine(fk_graph *g, int i) {
    if (!order_keeping_affine(g, i)) return 0;
    int chain[2] = {i, -1}, n = 1;
    int next = only_reader(g, g->nodes[i].out);
    if (next > i && order_keeping_affine(g, next)) {
        chain[n++] = next;
        next = only_reader(g, g->nodes[next].out);
    }
    if (next <= chain[n - 1]) return 0;
    fk_node pool = g->nodes[next];
    if (pool.op != FK_OP_MAXPOOL || pool.pad != FK_PAD_VALID || pool.in[0] != g->nodes[chain[n - 1]].out)
        return 0;
    /* ids: x -a1-> A1 [-a2-> A2] -pool-> P  becomes
     *      x -pool-> A1 -a1-> (A2 -a2->) P */
    int x = g->nodes[i].in[0], a1_out = g->nodes[i].out;
    g->nodes[i].in[0] = a1_out;
    if (n == 2) {
        int a2_out = g->nodes[chain[1]].out;
        g->nodes[i].out = a2_out;
        g->nodes[chain[1]].in[0] = a2_out;
    }
    g->nodes[chain[n - 1]].out = pool.out;
    pool.in[0] = x;
    pool.out = a1_out;
    memmove(&g->nodes[i + 1], &g->nodes[i], (size_t)(next - i) * sizeof *g->nodes);
    g->nodes[i] = pool;
    return 1;
}

fk_status fk__graph_fuse(fk_graph *g) {
    if (!g) return fk__fail(FK_EINVAL, "fk__graph_fuse: graph is NULL");
    if (g->build_status != FK_OK) return fk__graph_build_status(g);
    for (int i = 0; i < g->n_nodes; i++) pool_before_affine(g, i);
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].op != FK_OP_CONV && g->nodes[i].op != FK_OP_DEPTHWISE) continue;
        for (;;) {
            fk_node *cv = &g->nodes[i];
            int j = only_reader(g, cv->out);
            if (j <= i) break;
            fk_node next = g->nodes[j];
            int two_values = (next.op == FK_OP_BINARY || next.op == FK_OP_ADD) && next.in[1] >= 0;
            if ((next.in[0] != cv->out && !(two_values && next.in[1] == cv->out)) ||
                !fold_into(g, cv, &next))
                break;
            /* cv now writes j's output; its old output is left unread */
            cv->out = next.out;
            remove_node(g, j);
        }
        if (fold_prelu(g, i)) i--; /* look at it again: more may follow */
        if (g->build_status != FK_OK) return fk__graph_build_status(g);
    }
    g->planned_n = 0;
    return FK_OK;
}
