/*
 * tfjs_graph.c - TensorFlow.js graph models on the fk_graph IR (see
 * tfjs_graph.h).
 *
 * Conversion is a depth-first walk from the requested outputs. Every
 * TensorFlow node resolves to a `tv` (tensor value): either a constant
 * (float data + TensorFlow shape) or a graph value (id + static TensorFlow
 * shape for batch 1). Ops on constants only are evaluated on the spot with
 * the reference kernels (constant folding); the rest become graph nodes.
 * Facts about op semantics come from TensorFlow's op definitions (NHWC data,
 * HWIO filters, depthwise filters [kh][kw][c][multiplier], SAME padding with
 * the odd pixel at the bottom/right, fused_ops lists of _Fused* nodes).
 *
 * long file: about 900 lines, kept whole. The op converters, the resolver
 * that dispatches to them and the small helpers form one recursion over one
 * conversion context (a converter resolves its inputs, which runs other
 * converters); cutting it would put the context, the tensor value and some
 * twenty helpers behind an internal header to save a few lines.
 */
#include "nn/tfjs_graph.h"

#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/kernels.h"
#include "nn/tfjs_weights.h"

#define MAX_OUTPUTS 8

struct fk_tfjs_model {
    char what[64];
    fk_weights *weights;
    fk_graph *graph;
    int in_h, in_w, in_c;
    int n_out;
    int out_value[MAX_OUTPUTS];
    long out_count[MAX_OUTPUTS];
    int planned;
};

/* A resolved TensorFlow tensor. */
typedef struct tv {
    int state;          /* 0 unvisited, 1 in progress, 2 done */
    int is_const;
    const float *data;  /* constant values (borrowed or kept by the graph) */
    int value;          /* graph value id */
    int rank;
    int dims[4];        /* TensorFlow shape (batch 1 for values) */
} tv;

typedef struct conv_ctx {
    fk_tfjs_model *m;
    json_t *nodes;      /* modelTopology.node */
    size_t n_nodes;
    tv *tvs;
    const char *file;   /* for errors */
} conv_ctx;

/* ---- small helpers ---------------------------------------------------- */

static long tv_count(const tv *t) {
    long n = 1;
    for (int i = 0; i < t->rank; i++) n *= t->dims[i];
    return n;
}

/* NHWC shape of a TensorFlow shape, right-aligned. */
static fk_shape4 to_nhwc(int rank, const int *dims) {
    int d[4] = {1, 1, 1, 1};
    for (int i = 0; i < rank; i++) d[4 - rank + i] = dims[i];
    return (fk_shape4){d[0], d[1], d[2], d[3]};
}

static int shape_eq(fk_shape4 a, fk_shape4 b) {
    return a.n == b.n && a.h == b.h && a.w == b.w && a.c == b.c;
}

static const char *node_name(json_t *node) {
    return json_string_value(json_object_get(node, "name"));
}
static const char *node_op(json_t *node) {
    return json_string_value(json_object_get(node, "op"));
}

/* attr[key] of a node, or NULL. */
static json_t *attr(json_t *node, const char *key) {
    return json_object_get(json_object_get(node, "attr"), key);
}

/* An integer that JSON may spell as a number or a string ("2"). */
static long json_long(json_t *j) {
    if (json_is_integer(j)) return (long)json_integer_value(j);
    if (json_is_string(j)) return strtol(json_string_value(j), NULL, 10);
    if (json_is_real(j)) return (long)json_real_value(j);
    return 0;
}

/* attr[key].list.i as up to `cap` integers; returns how many. */
static int attr_ints(json_t *node, const char *key, long *out, int cap) {
    json_t *l = json_object_get(json_object_get(attr(node, key), "list"), "i");
    int n = 0;
    for (size_t i = 0; i < json_array_size(l) && n < cap; i++)
        out[n++] = json_long(json_array_get(l, i));
    return n;
}

/* Decode base64 (TF.js stores attr strings that way). */
static int b64_decode(const char *in, char *out, size_t cap) {
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned acc = 0;
    int bits = 0;
    size_t n = 0;
    for (; *in && *in != '='; in++) {
        const char *p = strchr(tab, *in);
        if (!p) return 0;
        acc = (acc << 6) | (unsigned)(p - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= cap) return 0;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = 0;
    return 1;
}

/* attr[key].s decoded ("" when absent). */
static void attr_str(json_t *node, const char *key, char *out, size_t cap) {
    const char *s = json_string_value(json_object_get(attr(node, key), "s"));
    out[0] = 0;
    if (s && !b64_decode(s, out, cap)) out[0] = 0;
}

/* attr[key].list.s decoded, up to 4 strings of 32 bytes. */
static int attr_strs(json_t *node, const char *key, char out[4][32]) {
    json_t *l = json_object_get(json_object_get(attr(node, key), "list"), "s");
    int n = 0;
    for (size_t i = 0; i < json_array_size(l) && n < 4; i++)
        if (b64_decode(json_string_value(json_array_get(l, i)), out[n], 32)) n++;
    return n;
}

static int attr_bool(json_t *node, const char *key) {
    return json_is_true(json_object_get(attr(node, key), "b"));
}

static double attr_float(json_t *node, const char *key, double fallback) {
    json_t *f = json_object_get(attr(node, key), "f");
    return json_is_number(f) ? json_number_value(f) : fallback;
}

/* Index of the node called `name` (":k" output suffix and "^" control
 * prefix ignored), or -1. */
static long find_node(const conv_ctx *cx, const char *name) {
    char buf[256];
    if (name[0] == '^') name++;
    snprintf(buf, sizeof buf, "%s", name);
    char *colon = strrchr(buf, ':');
    if (colon) *colon = 0;
    for (size_t i = 0; i < cx->n_nodes; i++) {
        const char *n = node_name(json_array_get(cx->nodes, i));
        if (n && strcmp(n, buf) == 0) return (long)i;
    }
    return -1;
}

static fk_status unsupported(const conv_ctx *cx, json_t *node, const char *why) {
    return fk__fail(FK_EFORMAT, "%s: node '%s' (op %s): %s", cx->file,
                   node_name(node), node_op(node), why);
}

/* A malloc'd float buffer the graph frees with itself. */
static float *keep_floats(conv_ctx *cx, long n, fk_status *st) {
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    if (!p) {
        *st = fk__fail(FK_ENOMEM, "%s: out of memory", cx->m->what);
        return NULL;
    }
    *st = fk__graph_keep(cx->m->graph, p);
    return *st == FK_OK ? p : NULL;
}

/* Status of the graph builder after an append (it remembers its first
 * error; we report it at once, naming the model). */
static fk_status built(conv_ctx *cx, int value) {
    if (value >= 0) return FK_OK;
    fk_status st = fk__graph_build_status(cx->m->graph);
    if (st == FK_OK) st = fk__fail(FK_EMODEL, "graph build failed");
    return fk__fail_prefix(st, "%s", cx->file);
}

/* Make `t` (a graph value whose real NHWC layout is `actual`) match the
 * right-aligned layout of its TensorFlow shape, adding a reshape if not. */
static fk_status relayout(conv_ctx *cx, tv *t, fk_shape4 actual) {
    fk_shape4 want = to_nhwc(t->rank, t->dims);
    if (shape_eq(want, actual)) return FK_OK;
    if (want.n != actual.n)
        return fk__fail(FK_EFORMAT, "%s: a reshape across the batch dimension is not supported",
                       cx->file);
    t->value = fk__graph_reshape(cx->m->graph, t->value, want.h, want.w, want.c);
    return built(cx, t->value);
}

static fk_status resolve(conv_ctx *cx, long idx, tv **out);

/* The node's k-th input, resolved. */
static fk_status input_tv(conv_ctx *cx, json_t *node, int k, tv **out) {
    json_t *ins = json_object_get(node, "input");
    const char *name = json_string_value(json_array_get(ins, (size_t)k));
    if (!name)
        return fk__fail(FK_EFORMAT, "%s: node '%s' has no input %d", cx->file,
                       node_name(node), k);
    long i = find_node(cx, name);
    if (i < 0)
        return fk__fail(FK_EFORMAT, "%s: node '%s' reads unknown node '%s'",
                       cx->file, node_name(node), name);
    return resolve(cx, i, out);
}

static fk_status const_input(conv_ctx *cx, json_t *node, int k, tv **out) {
    fk_status st = input_tv(cx, node, k, out);
    if (st == FK_OK && !(*out)->is_const)
        return unsupported(cx, node, "expects a constant here");
    return st;
}

/* ---- op converters ---------------------------------------------------- */

static fk_status conv_const(conv_ctx *cx, json_t *node, tv *t) {
    const fk_weight *w = fk__weights_find(cx->m->weights, node_name(node));
    if (!w)
        return fk__fail(FK_EMODEL, "%s: constant '%s' is missing from the weights manifest",
                       cx->file, node_name(node));
    if (w->ndim > 4) return unsupported(cx, node, "constants of rank > 4");
    t->is_const = 1;
    t->data = w->data;
    t->rank = w->ndim;
    for (int i = 0; i < w->ndim; i++) t->dims[i] = w->shape[i];
    return FK_OK;
}

/* Activation named in a fused_ops list entry. */
static fk_status fused_act(conv_ctx *cx, json_t *node, const char *name,
                           fk_act *act) {
    if (strcmp(name, "Relu") == 0) act->kind = FK_ACT_RELU;
    else if (strcmp(name, "Relu6") == 0) act->kind = FK_ACT_RELU6;
    else if (strcmp(name, "Sigmoid") == 0) act->kind = FK_ACT_SIGMOID;
    else if (strcmp(name, "Tanh") == 0) act->kind = FK_ACT_TANH;
    else if (strcmp(name, "LeakyRelu") == 0) {
        act->kind = FK_ACT_LEAKY;
        act->alpha = (float)attr_float(node, "leakyrelu_alpha", 0.2);
    } else if (strcmp(name, "Prelu") == 0) {
        act->kind = FK_ACT_PRELU;
    } else {
        return unsupported(cx, node, "fused activation not supported");
    }
    return FK_OK;
}

/* Window geometry from strides/padding attributes; explicit paddings become
 * a Pad node in front (returned in *x). */
static fk_status window_attrs(conv_ctx *cx, json_t *node, tv *x, int kh,
                              int kw, int *stride, fk_padding *pad, int *xv,
                              int *xh, int *xw) {
    long s[4] = {1, 1, 1, 1}, d[4] = {1, 1, 1, 1};
    attr_ints(node, "strides", s, 4);
    int nd = attr_ints(node, "dilations", d, 4);
    if (s[1] != s[2] || s[0] != 1 || s[3] != 1)
        return unsupported(cx, node, "unequal or batch/channel strides");
    if (nd && (d[1] != 1 || d[2] != 1))
        return unsupported(cx, node, "dilated windows");
    char p[16];
    attr_str(node, "padding", p, sizeof p);
    *stride = (int)s[1];
    *xv = x->value;
    *xh = x->dims[1];
    *xw = x->dims[2];
    if (strcmp(p, "SAME") == 0) {
        *pad = FK_PAD_SAME;
    } else if (strcmp(p, "VALID") == 0) {
        *pad = FK_PAD_VALID;
    } else if (strcmp(p, "EXPLICIT") == 0) {
        long e[8] = {0};
        if (attr_ints(node, "explicit_paddings", e, 8) != 8)
            return unsupported(cx, node, "explicit_paddings must have 8 entries");
        int pads[8] = {0, 0, (int)e[2], (int)e[3], (int)e[4], (int)e[5], 0, 0};
        *xv = fk__graph_pad(cx->m->graph, x->value, pads, 0.0f);
        *xh += pads[2] + pads[3];
        *xw += pads[4] + pads[5];
        *pad = FK_PAD_VALID;
        fk_status st = built(cx, *xv);
        if (st != FK_OK) return st;
    } else {
        return unsupported(cx, node, "unknown padding");
    }
    if (*xh < kh || *xw < kw)
        if (*pad == FK_PAD_VALID) return unsupported(cx, node, "input smaller than the window");
    return FK_OK;
}

static void window_out(int in, int k, int stride, fk_padding pad, int *out) {
    *out = pad == FK_PAD_SAME ? (in + stride - 1) / stride : (in - k) / stride + 1;
}

/* Conv2D, _FusedConv2D, DepthwiseConv2dNative, FusedDepthwiseConv2dNative. */
static fk_status conv_conv(conv_ctx *cx, json_t *node, tv *t, int depthwise) {
    tv *x, *f;
    fk_status st = input_tv(cx, node, 0, &x);
    if (st == FK_OK) st = const_input(cx, node, 1, &f);
    if (st != FK_OK) return st;
    if (x->is_const) return unsupported(cx, node, "convolution of a constant");
    if (x->rank != 4 || f->rank != 4) return unsupported(cx, node, "needs 4-D input and filter");
    int kh = f->dims[0], kw = f->dims[1], ic = f->dims[2], oc = f->dims[3];
    if (ic != x->dims[3])
        return fk__fail(FK_EMODEL, "%s: node '%s': filter has %d input channels, input %d",
                       cx->file, node_name(node), ic, x->dims[3]);
    if (depthwise && oc != 1) return unsupported(cx, node, "channel multiplier > 1");
    const float *bias = NULL;
    fk_act act = {.kind = FK_ACT_NONE};
    char fused[4][32];
    int nf = attr_strs(node, "fused_ops", fused);
    int arg = 2;
    for (int i = 0; i < nf; i++) {
        if (strcmp(fused[i], "BiasAdd") == 0) {
            tv *b;
            st = const_input(cx, node, arg++, &b);
            if (st != FK_OK) return st;
            if (tv_count(b) != (depthwise ? ic : oc))
                return unsupported(cx, node, "bias size does not match the channels");
            bias = b->data;
        } else {
            st = fused_act(cx, node, fused[i], &act);
            if (st != FK_OK) return st;
            if (act.kind == FK_ACT_PRELU) {
                tv *a;
                st = const_input(cx, node, arg++, &a);
                if (st != FK_OK) return st;
                if (tv_count(a) != (depthwise ? ic : oc))
                    return unsupported(cx, node, "prelu alpha size does not match the channels");
                act.slope = a->data;
            }
        }
    }
    int stride, xv, xh, xw;
    fk_padding pad;
    st = window_attrs(cx, node, x, kh, kw, &stride, &pad, &xv, &xh, &xw);
    if (st != FK_OK) return st;
    int outc = depthwise ? ic : oc;
    t->value = depthwise
        ? fk__graph_depthwise(cx->m->graph, xv, f->data, bias, kh, kw, ic, stride, pad, act)
        : fk__graph_conv(cx->m->graph, xv, f->data, bias, kh, kw, ic, oc, stride, pad, act);
    t->rank = 4;
    t->dims[0] = 1;
    window_out(xh, kh, stride, pad, &t->dims[1]);
    window_out(xw, kw, stride, pad, &t->dims[2]);
    t->dims[3] = outc;
    return built(cx, t->value);
}

/* MaxPool, AvgPool. */
static fk_status conv_pool(conv_ctx *cx, json_t *node, tv *t, fk_op op) {
    tv *x;
    fk_status st = input_tv(cx, node, 0, &x);
    if (st != FK_OK) return st;
    if (x->is_const || x->rank != 4) return unsupported(cx, node, "needs a 4-D value");
    long k[4] = {1, 1, 1, 1};
    attr_ints(node, "ksize", k, 4);
    if (k[1] != k[2] || k[0] != 1 || k[3] != 1)
        return unsupported(cx, node, "non-square or batch/channel windows");
    int stride, xv, xh, xw;
    fk_padding pad;
    st = window_attrs(cx, node, x, (int)k[1], (int)k[2], &stride, &pad, &xv, &xh, &xw);
    if (st != FK_OK) return st;
    t->value = fk__graph_pool(cx->m->graph, op, xv, (int)k[1], stride, pad);
    *t = (tv){.value = t->value, .rank = 4, .dims = {1, 0, 0, x->dims[3]}};
    window_out(xh, (int)k[1], stride, pad, &t->dims[1]);
    window_out(xw, (int)k[2], stride, pad, &t->dims[2]);
    return built(cx, t->value);
}

/* MatMul, _FusedMatMul: a value [n, k] times a constant [k, m]. */
static fk_status conv_matmul(conv_ctx *cx, json_t *node, tv *t) {
    tv *a, *b;
    fk_status st = input_tv(cx, node, 0, &a);
    if (st == FK_OK) st = const_input(cx, node, 1, &b);
    if (st != FK_OK) return st;
    if (a->is_const || a->rank != 2 || b->rank != 2 || attr_bool(node, "transpose_a"))
        return unsupported(cx, node, "only value[n,k] x constant[k,m] is supported");
    int k = b->dims[0], m = b->dims[1];
    const float *w = b->data;
    if (attr_bool(node, "transpose_b")) {
        float *tw = keep_floats(cx, (long)k * m, &st);
        if (!tw) return st;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < m; j++) tw[(long)j * k + i] = w[(long)i * m + j];
        int tmp = k;
        k = m;
        m = tmp;
        w = tw;
    }
    if (k != a->dims[1])
        return fk__fail(FK_EMODEL, "%s: node '%s': matrix has %d rows, input %d columns",
                       cx->file, node_name(node), k, a->dims[1]);
    const float *bias = NULL;
    fk_act act = {.kind = FK_ACT_NONE};
    char fused[4][32];
    int nf = attr_strs(node, "fused_ops", fused), arg = 2;
    for (int i = 0; i < nf; i++) {
        if (strcmp(fused[i], "BiasAdd") == 0) {
            tv *bb;
            st = const_input(cx, node, arg++, &bb);
            if (st != FK_OK) return st;
            if (tv_count(bb) != m) return unsupported(cx, node, "bias size mismatch");
            bias = bb->data;
        } else {
            st = fused_act(cx, node, fused[i], &act);
            if (st != FK_OK) return st;
            if (act.kind == FK_ACT_PRELU) {
                tv *al;
                st = const_input(cx, node, arg++, &al);
                if (st != FK_OK) return st;
                act.slope = al->data;
            }
        }
    }
    t->value = fk__graph_fc(cx->m->graph, a->value, w, bias, k, m, act);
    t->rank = 2;
    t->dims[0] = 1;
    t->dims[1] = m;
    return built(cx, t->value);
}

/* Broadcast TensorFlow shapes (right-aligned). */
static fk_status broadcast_shape(conv_ctx *cx, json_t *node, const tv *a,
                                 const tv *b, tv *t) {
    int r = a->rank > b->rank ? a->rank : b->rank;
    t->rank = r;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) return unsupported(cx, node, "shapes do not broadcast");
        t->dims[i] = da > db ? da : db;
    }
    return FK_OK;
}

static fk_status conv_binary(conv_ctx *cx, json_t *node, tv *t, fk_binop op) {
    tv *a, *b;
    fk_status st = input_tv(cx, node, 0, &a);
    if (st == FK_OK) st = input_tv(cx, node, 1, &b);
    if (st == FK_OK) st = broadcast_shape(cx, node, a, b, t);
    if (st != FK_OK) return st;
    fk_shape4 sa = to_nhwc(a->rank, a->dims), sb = to_nhwc(b->rank, b->dims),
              so = to_nhwc(t->rank, t->dims);
    if (a->is_const && b->is_const) { /* fold */
        float *o = keep_floats(cx, tv_count(t), &st);
        if (!o) return st;
        fk__binary_ref(op, a->data, sa, b->data, sb, o, so);
        t->is_const = 1;
        t->data = o;
        return FK_OK;
    }
    if (b->is_const)
        t->value = fk__graph_binary_const(cx->m->graph, op, a->value, b->data, sb, 0);
    else if (a->is_const)
        t->value = fk__graph_binary_const(cx->m->graph, op, b->value, a->data, sa, 1);
    else
        t->value = fk__graph_binary(cx->m->graph, op, a->value, b->value);
    return built(cx, t->value);
}

static fk_status conv_unary(conv_ctx *cx, json_t *node, tv *t, fk_unop op) {
    tv *x;
    fk_status st = input_tv(cx, node, 0, &x);
    if (st != FK_OK) return st;
    t->rank = x->rank;
    memcpy(t->dims, x->dims, sizeof t->dims);
    if (x->is_const) {
        float *o = keep_floats(cx, tv_count(x), &st);
        if (!o) return st;
        fk__unary_ref(op, x->data, tv_count(x), o);
        t->is_const = 1;
        t->data = o;
        return FK_OK;
    }
    t->value = fk__graph_unary(cx->m->graph, op, x->value);
    return built(cx, t->value);
}

/* Reshape-like ops: the new TensorFlow shape is already in t. */
static fk_status finish_reshape(conv_ctx *cx, json_t *node, const tv *x, tv *t) {
    if (tv_count(t) != tv_count(x)) return unsupported(cx, node, "element count changes");
    if (x->is_const) {
        t->is_const = 1;
        t->data = x->data;
        return FK_OK;
    }
    t->value = x->value;
    return relayout(cx, t, to_nhwc(x->rank, x->dims));
}

static fk_status conv_reshape(conv_ctx *cx, json_t *node, tv *t) {
    tv *x, *s;
    fk_status st = input_tv(cx, node, 0, &x);
    if (st == FK_OK) st = const_input(cx, node, 1, &s);
    if (st != FK_OK) return st;
    long n = tv_count(s), known = 1;
    int infer = -1;
    if (n > 4) return unsupported(cx, node, "rank > 4");
    t->rank = (int)n;
    for (int i = 0; i < n; i++) {
        t->dims[i] = (int)s->data[i];
        if (t->dims[i] == -1) infer = i;
        else known *= t->dims[i];
    }
    if (infer >= 0 && known > 0) t->dims[infer] = (int)(tv_count(x) / known);
    return finish_reshape(cx, node, x, t);
}

static fk_status conv_squeeze(conv_ctx *cx, json_t *node, tv *t) {
    tv *x;
    fk_status st = input_tv(cx, node, 0, &x);
    if (st != FK_OK) return st;
    long ax[4];
    int na = attr_ints(node, "squeeze_dims", ax, 4);
    int keep[4] = {1, 1, 1, 1};
    for (int i = 0; i < na; i++) keep[(ax[i] + x->rank) % x->rank] = 0;
    t->rank = 0;
    for (int i = 0; i < x->rank; i++)
        if ((na && keep[i]) || (!na && x->dims[i] != 1)) t->dims[t->rank++] = x->dims[i];
    return finish_reshape(cx, node, x, t);
}

static fk_status conv_expand(conv_ctx *cx, json_t *node, tv *t) {
    tv *x, *a;
    fk_status st = input_tv(cx, node, 0, &x);
    if (st == FK_OK) st = const_input(cx, node, 1, &a);
    if (st != FK_OK) return st;
    if (x->rank >= 4) return unsupported(cx, node, "rank > 4");
    int axis = (int)a->data[0];
    if (axis < 0) axis += x->rank + 1;
    t->rank = x->rank + 1;
    for (int i = 0, j = 0; i < t->rank; i++) t->dims[i] = i == axis ? 1 : x->dims[j++];
    return finish_reshape(cx, node, x, t);
}

/* StridedSlice with constant begin / end / strides of the input's rank
 * (at most 4): TensorFlow dimension i is NHWC dimension 4 - rank + i, the
 * NHWC dimensions before it are taken whole. Ellipsis and new axes are
 * refused. Slicing a constant is folded with the reference kernel. */
static fk_status conv_strided_slice(conv_ctx *cx, json_t *node, tv *t) {
    tv *x, *b, *e, *s;
    fk_status st = input_tv(cx, node, 0, &x);
    if (st == FK_OK) st = const_input(cx, node, 1, &b);
    if (st == FK_OK) st = const_input(cx, node, 2, &e);
    if (st == FK_OK) st = const_input(cx, node, 3, &s);
    if (st != FK_OK) return st;
    long ellipsis = json_long(json_object_get(attr(node, "ellipsis_mask"), "i"));
    long new_axis = json_long(json_object_get(attr(node, "new_axis_mask"), "i"));
    unsigned bm = (unsigned)json_long(json_object_get(attr(node, "begin_mask"), "i"));
    unsigned em = (unsigned)json_long(json_object_get(attr(node, "end_mask"), "i"));
    unsigned sm = (unsigned)json_long(json_object_get(attr(node, "shrink_axis_mask"), "i"));
    if (ellipsis || new_axis) return unsupported(cx, node, "ellipsis or new-axis masks");
    int r = x->rank;
    if (r < 1 || tv_count(b) != r || tv_count(e) != r || tv_count(s) != r)
        return unsupported(cx, node, "begin, end and strides must have the input's rank");
    fk_slice sp = {{0, 0, 0, 0}, {0, 0, 0, 0}, {1, 1, 1, 1}, 0, 0, 0};
    for (int k = 0; k < 4 - r; k++) sp.begin_mask |= 1u << k, sp.end_mask |= 1u << k;
    int kept[4] = {1, 1, 1, 1};
    t->rank = 0;
    for (int i = 0; i < r; i++) {
        int d = 4 - r + i, size = x->dims[i];
        sp.begin[d] = (int)b->data[i];
        sp.end[d] = (int)e->data[i];
        sp.strides[d] = (int)s->data[i];
        if (bm >> i & 1) sp.begin_mask |= 1u << d;
        if (em >> i & 1) sp.end_mask |= 1u << d;
        if (sm >> i & 1) sp.shrink_mask |= 1u << d;
        if (sp.strides[d] == 0) return unsupported(cx, node, "stride 0");
        /* the static size (batch 1) by the same rules the graph applies */
        int st_ = sp.strides[d];
        long lo, hi, len;
        if (sm >> i & 1) {
            len = 1;
        } else {
            lo = (bm >> i & 1) ? (st_ > 0 ? 0 : size - 1)
                               : (sp.begin[d] < 0 ? (long)sp.begin[d] + size : sp.begin[d]);
            hi = (em >> i & 1) ? (st_ > 0 ? size : -1)
                               : (sp.end[d] < 0 ? (long)sp.end[d] + size : sp.end[d]);
            long mn = st_ > 0 ? 0 : -1, mx = st_ > 0 ? size : size - 1;
            lo = lo < mn ? mn : lo > mx ? mx : lo;
            hi = hi < mn ? mn : hi > mx ? mx : hi;
            len = st_ > 0 ? (hi - lo + st_ - 1) / st_ : (lo - hi - st_ - 1) / -st_;
            if (len <= 0) return unsupported(cx, node, "empty slice");
            t->dims[t->rank++] = (int)len;
        }
        kept[d] = (int)len;
    }
    fk_shape4 have = {kept[0], kept[1], kept[2], kept[3]};
    if (x->is_const) {
        fk_graph *tmp = NULL;
        /* fold: slice the constant through a one-node graph */
        fk_shape4 xs = to_nhwc(x->rank, x->dims);
        float *o = keep_floats(cx, tv_count(t), &st);
        if (!o) return st;
        st = fk__graph_new(xs.c, &tmp);
        int v = st == FK_OK ? fk__graph_slice(tmp, 0, &sp) : -1;
        if (v >= 0) fk__graph_mark_output(tmp, v);
        if (st == FK_OK) st = fk__graph_plan(tmp, xs.n, xs.h, xs.w);
        if (st == FK_OK) fk__graph_use_reference(tmp, 1);
        if (st == FK_OK) st = fk__graph_run(tmp, x->data, NULL);
        if (st == FK_OK) memcpy(o, fk__graph_output(tmp, v, NULL), sizeof(float) * (size_t)tv_count(t));
        fk__graph_free(tmp);
        if (st != FK_OK) return fk__fail_prefix(st, "%s: node '%s'", cx->file, node_name(node));
        t->is_const = 1;
        t->data = o;
        return FK_OK;
    }
    t->value = fk__graph_slice(cx->m->graph, x->value, &sp);
    st = built(cx, t->value);
    if (st != FK_OK) return st;
    return relayout(cx, t, have);
}

/* Sum, Mean, Max over constant axes. */
static fk_status conv_reduce(conv_ctx *cx, json_t *node, tv *t, fk_reduce_op op) {
    tv *x, *a;
    fk_status st = input_tv(cx, node, 0, &x);
    if (st == FK_OK) st = const_input(cx, node, 1, &a);
    if (st != FK_OK) return st;
    if (x->is_const) return unsupported(cx, node, "reduction of a constant");
    int red[4] = {0, 0, 0, 0}, axes4[4] = {0, 0, 0, 0};
    for (long i = 0; i < tv_count(a); i++) {
        int ax = (int)a->data[i];
        if (ax < 0) ax += x->rank;
        if (ax < 0 || ax >= x->rank) return unsupported(cx, node, "axis out of range");
        red[ax] = 1;
        axes4[4 - x->rank + ax] = 1;
    }
    t->value = fk__graph_reduce(cx->m->graph, op, x->value, axes4);
    st = built(cx, t->value);
    if (st != FK_OK) return st;
    fk_shape4 s = to_nhwc(x->rank, x->dims);
    if (axes4[0]) s.n = 1;
    if (axes4[1]) s.h = 1;
    if (axes4[2]) s.w = 1;
    if (axes4[3]) s.c = 1;
    int keep = attr_bool(node, "keep_dims");
    t->rank = 0;
    for (int i = 0; i < x->rank; i++) {
        if (!red[i]) t->dims[t->rank++] = x->dims[i];
        else if (keep) t->dims[t->rank++] = 1;
    }
    return relayout(cx, t, s);
}

static fk_status conv_pad(conv_ctx *cx, json_t *node, tv *t) {
    tv *x, *p, *v = NULL;
    fk_status st = input_tv(cx, node, 0, &x);
    if (st == FK_OK) st = const_input(cx, node, 1, &p);
    if (st == FK_OK && json_array_size(json_object_get(node, "input")) > 2)
        st = const_input(cx, node, 2, &v);
    if (st != FK_OK) return st;
    if (x->is_const) return unsupported(cx, node, "padding a constant");
    if (tv_count(p) != 2L * x->rank) return unsupported(cx, node, "paddings shape");
    int pads[8] = {0};
    t->rank = x->rank;
    for (int i = 0; i < x->rank; i++) {
        int d = 4 - x->rank + i;
        pads[2 * d] = (int)p->data[2 * i];
        pads[2 * d + 1] = (int)p->data[2 * i + 1];
        t->dims[i] = x->dims[i] + pads[2 * d] + pads[2 * d + 1];
    }
    if (pads[0] || pads[1]) return unsupported(cx, node, "padding the batch dimension");
    t->value = fk__graph_pad(cx->m->graph, x->value, pads, v ? v->data[0] : 0.0f);
    return built(cx, t->value);
}

static fk_status conv_softmax(conv_ctx *cx, json_t *node, tv *t) {
    tv *x;
    fk_status st = input_tv(cx, node, 0, &x);
    if (st != FK_OK) return st;
    if (x->is_const) return unsupported(cx, node, "softmax of a constant");
    *t = (tv){.rank = x->rank};
    memcpy(t->dims, x->dims, sizeof t->dims);
    t->value = fk__graph_softmax(cx->m->graph, x->value);
    return built(cx, t->value);
}

static fk_status conv_placeholder(conv_ctx *cx, json_t *node, tv *t) {
    (void)node;
    t->value = 0;
    t->rank = 4;
    t->dims[0] = 1;
    t->dims[1] = cx->m->in_h;
    t->dims[2] = cx->m->in_w;
    t->dims[3] = cx->m->in_c;
    return FK_OK;
}

/* Resolve node idx (depth first, memoised). */
static fk_status resolve(conv_ctx *cx, long idx, tv **out) {
    tv *t = &cx->tvs[idx];
    json_t *node = json_array_get(cx->nodes, (size_t)idx);
    if (t->state == 2) {
        *out = t;
        return FK_OK;
    }
    if (t->state == 1)
        return fk__fail(FK_EFORMAT, "%s: node '%s' is part of a cycle", cx->file, node_name(node));
    t->state = 1;
    const char *op = node_op(node);
    if (!op) op = "";
    fk_status st;
    tv r = {0};
    if (strcmp(op, "Const") == 0) st = conv_const(cx, node, &r);
    else if (strcmp(op, "Placeholder") == 0) st = conv_placeholder(cx, node, &r);
    else if (strcmp(op, "Identity") == 0 || strcmp(op, "StopGradient") == 0) {
        tv *x;
        st = input_tv(cx, node, 0, &x);
        if (st == FK_OK) r = *x;
    } else if (strcmp(op, "Conv2D") == 0 || strcmp(op, "_FusedConv2D") == 0)
        st = conv_conv(cx, node, &r, 0);
    else if (strcmp(op, "DepthwiseConv2dNative") == 0 ||
             strcmp(op, "FusedDepthwiseConv2dNative") == 0)
        st = conv_conv(cx, node, &r, 1);
    else if (strcmp(op, "MatMul") == 0 || strcmp(op, "_FusedMatMul") == 0)
        st = conv_matmul(cx, node, &r);
    else if (strcmp(op, "MaxPool") == 0) st = conv_pool(cx, node, &r, FK_OP_MAXPOOL);
    else if (strcmp(op, "AvgPool") == 0) st = conv_pool(cx, node, &r, FK_OP_AVGPOOL);
    else if (strcmp(op, "Add") == 0 || strcmp(op, "AddV2") == 0 || strcmp(op, "BiasAdd") == 0)
        st = conv_binary(cx, node, &r, FK_BIN_ADD);
    else if (strcmp(op, "Sub") == 0) st = conv_binary(cx, node, &r, FK_BIN_SUB);
    else if (strcmp(op, "Mul") == 0) st = conv_binary(cx, node, &r, FK_BIN_MUL);
    else if (strcmp(op, "RealDiv") == 0) st = conv_binary(cx, node, &r, FK_BIN_DIV);
    else if (strcmp(op, "Maximum") == 0) st = conv_binary(cx, node, &r, FK_BIN_MAX);
    else if (strcmp(op, "Minimum") == 0) st = conv_binary(cx, node, &r, FK_BIN_MIN);
    else if (strcmp(op, "Relu") == 0) st = conv_unary(cx, node, &r, FK_UN_RELU);
    else if (strcmp(op, "Relu6") == 0) st = conv_unary(cx, node, &r, FK_UN_RELU6);
    else if (strcmp(op, "Abs") == 0) st = conv_unary(cx, node, &r, FK_UN_ABS);
    else if (strcmp(op, "Square") == 0) st = conv_unary(cx, node, &r, FK_UN_SQUARE);
    else if (strcmp(op, "Sqrt") == 0) st = conv_unary(cx, node, &r, FK_UN_SQRT);
    else if (strcmp(op, "Rsqrt") == 0) st = conv_unary(cx, node, &r, FK_UN_RSQRT);
    else if (strcmp(op, "Sigmoid") == 0) st = conv_unary(cx, node, &r, FK_UN_SIGMOID);
    else if (strcmp(op, "Tanh") == 0) st = conv_unary(cx, node, &r, FK_UN_TANH);
    else if (strcmp(op, "Neg") == 0) st = conv_unary(cx, node, &r, FK_UN_NEG);
    else if (strcmp(op, "Exp") == 0) st = conv_unary(cx, node, &r, FK_UN_EXP);
    else if (strcmp(op, "Softmax") == 0) st = conv_softmax(cx, node, &r);
    else if (strcmp(op, "Sum") == 0) st = conv_reduce(cx, node, &r, FK_RED_SUM);
    else if (strcmp(op, "Mean") == 0) st = conv_reduce(cx, node, &r, FK_RED_MEAN);
    else if (strcmp(op, "Max") == 0) st = conv_reduce(cx, node, &r, FK_RED_MAX);
    else if (strcmp(op, "Pad") == 0 || strcmp(op, "PadV2") == 0) st = conv_pad(cx, node, &r);
    else if (strcmp(op, "Reshape") == 0) st = conv_reshape(cx, node, &r);
    else if (strcmp(op, "Squeeze") == 0) st = conv_squeeze(cx, node, &r);
    else if (strcmp(op, "ExpandDims") == 0) st = conv_expand(cx, node, &r);
    else if (strcmp(op, "StridedSlice") == 0) st = conv_strided_slice(cx, node, &r);
    else st = unsupported(cx, node, "op not supported by facekit's graph executor");
    if (st != FK_OK) return st;
    r.state = 2;
    *t = r;
    *out = t;
    return FK_OK;
}

/* ---- public API -------------------------------------------------------- */

/* Find the Placeholder and read its NHWC shape. */
static fk_status find_input(conv_ctx *cx) {
    for (size_t i = 0; i < cx->n_nodes; i++) {
        json_t *node = json_array_get(cx->nodes, i);
        if (strcmp(node_op(node) ? node_op(node) : "", "Placeholder") != 0) continue;
        json_t *dims = json_object_get(json_object_get(attr(node, "shape"), "shape"), "dim");
        if (json_array_size(dims) != 4) break;
        long d[4];
        for (int k = 0; k < 4; k++)
            d[k] = json_long(json_object_get(json_array_get(dims, (size_t)k), "size"));
        if (d[1] <= 0 || d[2] <= 0 || d[3] <= 0) break;
        cx->m->in_h = (int)d[1];
        cx->m->in_w = (int)d[2];
        cx->m->in_c = (int)d[3];
        return FK_OK;
    }
    return fk__fail(FK_EFORMAT, "%s: no 4-D Placeholder with a fixed height, width and channels",
                   cx->file);
}

static fk_status build(fk_tfjs_model *m, json_t *root, const char *path,
                       const char *const *outputs, int n_outputs) {
    conv_ctx cx = {.m = m, .file = path};
    cx.nodes = json_object_get(json_object_get(root, "modelTopology"), "node");
    cx.n_nodes = json_array_size(cx.nodes);
    if (!cx.n_nodes)
        return fk__fail(FK_EFORMAT, "%s: not a TF.js graph model (no modelTopology.node)", path);
    fk_status st = find_input(&cx);
    if (st == FK_OK) st = fk__graph_new(m->in_c, &m->graph);
    if (st != FK_OK) return st;
    cx.tvs = calloc(cx.n_nodes, sizeof *cx.tvs);
    if (!cx.tvs) return fk__fail(FK_ENOMEM, "%s: out of memory", m->what);
    for (int i = 0; i < n_outputs && st == FK_OK; i++) {
        long idx = find_node(&cx, outputs[i]);
        tv *t;
        if (idx < 0) {
            st = fk__fail(FK_EFORMAT, "%s: no node named '%s'", path, outputs[i]);
            break;
        }
        st = resolve(&cx, idx, &t);
        if (st != FK_OK) break;
        if (t->is_const) {
            st = fk__fail(FK_EFORMAT, "%s: output '%s' is a constant", path, outputs[i]);
            break;
        }
        if (t->value == 0) { /* the input itself: copy it into a value */
            t->value = fk__graph_unary(m->graph, FK_UN_NEG, 0);
            t->value = fk__graph_unary(m->graph, FK_UN_NEG, t->value);
        }
        m->out_value[i] = t->value;
        m->out_count[i] = tv_count(t);
        fk__graph_mark_output(m->graph, t->value);
    }
    free(cx.tvs);
    if (st == FK_OK) st = fk__graph_fuse(m->graph);
    if (st == FK_OK) st = fk__graph_plan(m->graph, 1, m->in_h, m->in_w);
    return st;
}

fk_status fk__tfjs_model_load(const char *json_path, const char *what,
                             const char *const *outputs, int n_outputs,
                             fk_tfjs_model **out) {
    if (!json_path || !outputs || n_outputs <= 0 || n_outputs > MAX_OUTPUTS || !out)
        return fk__fail(FK_EINVAL, "fk__tfjs_model_load: bad arguments");
    *out = NULL;
    json_error_t err;
    json_t *root = json_load_file(json_path, 0, &err);
    if (!root)
        return fk__fail(FK_EMODEL, "%s: %s (line %d, column %d); run `facekit models fetch` to reinstall",
                       json_path, err.text, err.line, err.column);
    fk_tfjs_model *m = calloc(1, sizeof *m);
    if (!m) {
        json_decref(root);
        return fk__fail(FK_ENOMEM, "out of memory");
    }
    snprintf(m->what, sizeof m->what, "%s", what ? what : json_path);
    m->n_out = n_outputs;
    fk_status st = FK_OK;
    char *manifest = json_dumps(json_object_get(root, "weightsManifest"), JSON_COMPACT);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", json_path);
    char *dn = dirname(dir);
    if (!manifest)
        st = fk__fail(FK_EFORMAT, "%s: no weightsManifest", json_path);
    else
        st = fk__weights_load_tfjs_text(manifest, dn, json_path, &m->weights);
    free(manifest);
    if (st == FK_OK) st = build(m, root, json_path, outputs, n_outputs);
    json_decref(root);
    if (st != FK_OK) {
        fk__tfjs_model_free(m);
        return st;
    }
    *out = m;
    return FK_OK;
}

void fk__tfjs_model_free(fk_tfjs_model *m) {
    if (!m) return;
    fk__graph_free(m->graph);
    fk__weights_free(m->weights);
    free(m);
}

void fk__tfjs_model_input_shape(const fk_tfjs_model *m, int *h, int *w, int *c) {
    if (h) *h = m->in_h;
    if (w) *w = m->in_w;
    if (c) *c = m->in_c;
}

fk_graph *fk__tfjs_model_graph(fk_tfjs_model *m) { return m->graph; }

fk_status fk__tfjs_model_run(fk_tfjs_model *m, const float *input, fk_pool *pool) {
    return fk__tfjs_model_run_batch(m, 1, input, pool);
}

fk_status fk__tfjs_model_run_batch(fk_tfjs_model *m, int n, const float *input,
                                  fk_pool *pool) {
    if (!m || !input || n < 1)
        return fk__fail(FK_EINVAL, "fk__tfjs_model_run_batch: bad arguments");
    fk_status st = fk__graph_plan(m->graph, n, m->in_h, m->in_w);
    if (st == FK_OK) st = fk__graph_run(m->graph, input, pool);
    return st;
}

const float *fk__tfjs_model_result(const fk_tfjs_model *m, int i, long *count) {
    if (!m || i < 0 || i >= m->n_out) return NULL;
    if (count) *count = m->out_count[i];
    return fk__graph_output(m->graph, m->out_value[i], NULL);
}
