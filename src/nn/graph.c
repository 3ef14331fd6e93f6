/*
 * graph.c - building, planning and running fk_graph (see graph.h); the
 * fusion passes that rewrite a built graph are in graph_fuse.c.
 *
 * Planning walks the nodes once to infer shapes, then lays every value out in
 * a single arena with a first-fit allocator over value lifetimes: a value is
 * born at the node that writes it and dies after the last node that reads it
 * (outputs never die). Running is then a loop of kernel calls on fixed
 * pointers, with no allocation.
 */
#include "nn/graph.h"
#include "nn/graph_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* Grow an array of `size`-byte elements to hold at least `need`. */
static int grow(void **items, int *cap, int need, size_t size) {
    if (need <= *cap) return 1;
    int ncap = *cap ? *cap * 2 : 16;
    while (ncap < need) ncap *= 2;
    void *p = realloc(*items, (size_t)ncap * size);
    if (!p) return 0;
    *items = p;
    *cap = ncap;
    return 1;
}

/* Remember the first error found while building; later calls are no-ops. */
int fk__graph_build_fail(fk_graph *g, fk_status s, const char *fmt, ...) {
    if (g->build_status == FK_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->build_error, sizeof g->build_error, fmt, ap);
        va_end(ap);
        g->build_status = s;
    }
    return -1;
}

static int new_value(fk_graph *g, int c) {
    if (!grow((void **)&g->values, &g->cap_values, g->n_values + 1,
              sizeof *g->values))
        return fk__graph_build_fail(g, FK_ENOMEM, "graph: out of memory");
    fk_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->c = c;
    v->last_use = -1;
    return g->n_values++;
}

static int valid_value(const fk_graph *g, int v) {
    return v >= 0 && v < g->n_values;
}

/* Append a node reading in0 (and in1 unless -1) and producing a value of
 * out_c channels. Returns the new value id or -1. */
static int add_node(fk_graph *g, fk_node node, int out_c) {
    if (g->build_status != FK_OK) return -1;
    if (!valid_value(g, node.in[0]) ||
        (node.in[1] != -1 && !valid_value(g, node.in[1])))
        return fk__graph_build_fail(g, FK_EINVAL, "graph: node %d reads an unknown value",
                          g->n_nodes);
    if (!grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1,
              sizeof *g->nodes))
        return fk__graph_build_fail(g, FK_ENOMEM, "graph: out of memory");
    int out = new_value(g, out_c);
    if (out < 0) return -1;
    node.out = out;
    g->nodes[g->n_nodes++] = node;
    g->planned_n = 0; /* the plan is stale */
    return out;
}

fk_status fk__graph_new(int in_channels, fk_graph **out) {
    if (!out || in_channels <= 0)
        return fk__fail(FK_EINVAL, "fk__graph_new: bad arguments");
    fk_graph *g = calloc(1, sizeof *g);
    if (!g) return fk__fail(FK_ENOMEM, "graph: out of memory");
    const char *ref = getenv("FK_REFERENCE_KERNELS");
    g->reference = ref && ref[0] == '1';
    if (new_value(g, in_channels) != 0) {
        fk__graph_free(g);
        return fk__fail(FK_ENOMEM, "graph: out of memory");
    }
    *out = g;
    return FK_OK;
}

void fk__graph_free(fk_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n_owned; i++) free(g->owned[i]);
    free(g->owned);
    free(g->nodes);
    free(g->values);
    free(g->arena);
    free(g->workspace);
    free(g);
}

fk_status fk__graph_keep(fk_graph *g, void *buffer) {
    if (!grow((void **)&g->owned, &g->cap_owned, g->n_owned + 1,
              sizeof *g->owned)) {
        free(buffer);
        return fk__fail(FK_ENOMEM, "graph: out of memory");
    }
    g->owned[g->n_owned++] = buffer;
    return FK_OK;
}

int fk__graph_conv(fk_graph *g, int in, const float *filt, const float *bias,
                  int kh, int kw, int in_c, int out_c, int stride,
                  fk_padding pad, fk_act act) {
    if (g->build_status != FK_OK) return -1;
    if (!valid_value(g, in) || !filt || kh <= 0 || kw <= 0 || out_c <= 0 ||
        stride <= 0)
        return fk__graph_build_fail(g, FK_EINVAL, "graph: bad conv arguments");
    if (g->values[in].c != in_c)
        return fk__graph_build_fail(g, FK_EMODEL,
                          "graph: conv expects %d input channels, value has %d",
                          in_c, g->values[in].c);
    fk_node n = {.op = FK_OP_CONV, .in = {in, -1}, .w = filt, .b = bias,
                 .kh = kh, .kw = kw, .in_c = in_c, .out_c = out_c,
                 .stride = stride, .pad = pad, .act = act};
    return add_node(g, n, out_c);
}

int fk__graph_depthwise(fk_graph *g, int in, const float *filt,
                       const float *bias, int kh, int kw, int c, int stride,
                       fk_padding pad, fk_act act) {
    if (g->build_status != FK_OK) return -1;
    if (!valid_value(g, in) || !filt || kh <= 0 || kw <= 0 || stride <= 0)
        return fk__graph_build_fail(g, FK_EINVAL, "graph: bad depthwise arguments");
    if (g->values[in].c != c)
        return fk__graph_build_fail(g, FK_EMODEL,
                          "graph: depthwise expects %d channels, value has %d",
                          c, g->values[in].c);
    fk_node n = {.op = FK_OP_DEPTHWISE, .in = {in, -1}, .w = filt, .b = bias,
                 .kh = kh, .kw = kw, .in_c = c, .out_c = c, .stride = stride,
                 .pad = pad, .act = act};
    return add_node(g, n, c);
}

int fk__graph_pool(fk_graph *g, fk_op op, int in, int k, int stride,
                  fk_padding pad) {
    if (g->build_status != FK_OK) return -1;
    if (!valid_value(g, in) || (op != FK_OP_MAXPOOL && op != FK_OP_AVGPOOL) ||
        k <= 0 || stride <= 0)
        return fk__graph_build_fail(g, FK_EINVAL, "graph: bad pool arguments");
    int c = g->values[in].c;
    fk_node n = {.op = op, .in = {in, -1}, .kh = k, .kw = k, .in_c = c,
                 .out_c = c, .stride = stride, .pad = pad};
    return add_node(g, n, c);
}

int fk__graph_add(fk_graph *g, int a, int b, fk_act act) {
    if (g->build_status != FK_OK) return -1;
    if (!valid_value(g, a) || !valid_value(g, b))
        return fk__graph_build_fail(g, FK_EINVAL, "graph: add reads an unknown value");
    int ca = g->values[a].c, cb = g->values[b].c;
    fk_node n = {.op = FK_OP_ADD, .in = {a, b}, .act = act};
    return add_node(g, n, ca > cb ? ca : cb);
}

int fk__graph_mean_hw(fk_graph *g, int in) {
    if (g->build_status != FK_OK) return -1;
    if (!valid_value(g, in))
        return fk__graph_build_fail(g, FK_EINVAL, "graph: mean reads an unknown value");
    fk_node n = {.op = FK_OP_MEAN_HW, .in = {in, -1}};
    return add_node(g, n, g->values[in].c);
}

int fk__graph_fc(fk_graph *g, int in, const float *w, const float *bias,
                int in_features, int out_features, fk_act act) {
    if (g->build_status != FK_OK) return -1;
    if (!valid_value(g, in) || !w || in_features <= 0 || out_features <= 0)
        return fk__graph_build_fail(g, FK_EINVAL, "graph: bad fc arguments");
    fk_node n = {.op = FK_OP_FC, .in = {in, -1}, .w = w, .b = bias,
                 .in_c = in_features, .out_c = out_features, .act = act};
    return add_node(g, n, out_features);
}

int fk__graph_sigmoid(fk_graph *g, int in) {
    if (g->build_status != FK_OK) return -1;
    if (!valid_value(g, in))
        return fk__graph_build_fail(g, FK_EINVAL, "graph: sigmoid reads an unknown value");
    fk_node n = {.op = FK_OP_SIGMOID, .in = {in, -1}};
    return add_node(g, n, g->values[in].c);
}

fk_status fk__graph_build_status(const fk_graph *g) {
    if (g->build_status == FK_OK) return FK_OK;
    return fk__fail(g->build_status, "%s", g->build_error);
}

int fk__graph_channels(const fk_graph *g, int value) {
    return valid_value(g, value) ? g->values[value].c : -1;
}

int fk__graph_binary(fk_graph *g, fk_binop op, int a, int b) {
    if (g->build_status != FK_OK) return -1;
    if (!valid_value(g, a) || !valid_value(g, b))
        return fk__graph_build_fail(g, FK_EINVAL, "graph: binary op reads an unknown value");
    int ca = g->values[a].c, cb = g->values[b].c;
    if (ca != cb && ca != 1 && cb != 1)
        return fk__graph_build_fail(g, FK_EMODEL, "graph: cannot broadcast %d and %d channels",
                          ca, cb);
    fk_node n = {.op = FK_OP_BINARY, .in = {a, b}, .sub = (int)op};
    return add_node(g, n, ca > cb ? ca : cb);
}

int fk__graph_binary_const(fk_graph *g, fk_binop op, int a, const float *k,
                          fk_shape4 ks, int const_first) {
    if (g->build_status != FK_OK) return -1;
    if (!valid_value(g, a) || !k || ks.n <= 0 || ks.h <= 0 || ks.w <= 0 || ks.c <= 0)
        return fk__graph_build_fail(g, FK_EINVAL, "graph: bad binary constant arguments");
    int ca = g->values[a].c;
    if (ca != ks.c && ca != 1 && ks.c != 1)
        return fk__graph_build_fail(g, FK_EMODEL, "graph: cannot broadcast %d and %d channels",
                          ca, ks.c);
    fk_node n = {.op = FK_OP_BINARY, .in = {a, -1}, .w = k, .kshape = ks,
                 .sub = (int)op, .const_first = const_first};
    return add_node(g, n, ca > ks.c ? ca : ks.c);
}

int fk__graph_unary(fk_graph *g, fk_unop op, int in) {
    if (g->build_status != FK_OK) return -1;
    if (!valid_value(g, in))
        return fk__graph_build_fail(g, FK_EINVAL, "graph: unary op reads an unknown value");
    fk_node n = {.op = FK_OP_UNARY, .in = {in, -1}, .sub = (int)op};
    return add_node(g, n, g->values[in].c);
}

int fk__graph_pad(fk_graph *g, int in, const int pads[8], float value) {
    if (g->build_status != FK_OK) return -1;
    if (!valid_value(g, in) || !pads)
        return fk__graph_build_fail(g, FK_EINVAL, "graph: bad pad arguments");
    fk_node n = {.op = FK_OP_PAD, .in = {in, -1}, .fparam = value};
    for (int i = 0; i < 8; i++) {
        if (pads[i] < 0) return fk__graph_build_fail(g, FK_EMODEL, "graph: negative padding");
        n.ip[i] = pads[i];
    }
    return add_node(g, n, g->values[in].c + pads[6] + pads[7]);
}

int fk__graph_reduce(fk_graph *g, fk_reduce_op op, int in, const int axes[4]) {
    if (g->build_status != FK_OK) return -1;
    if (!valid_value(g, in) || !axes)
        return fk__graph_build_fail(g, FK_EINVAL, "graph: bad reduce arguments");
    fk_node n = {.op = FK_OP_REDUCE, .in = {in, -1}, .sub = (int)op};
    for (int i = 0; i < 4; i++) n.ip[i] = axes[i] != 0;
    return add_node(g, n, n.ip[3] ? 1 : g->values[in].c);
}

int fk__graph_softmax(fk_graph *g, int in) {
    if (g->build_status != FK_OK) return -1;
    if (!valid_value(g, in))
        return fk__graph_build_fail(g, FK_EINVAL, "graph: softmax reads an unknown value");
    fk_node n = {.op = FK_OP_SOFTMAX, .in = {in, -1}};
    return add_node(g, n, g->values[in].c);
}

int fk__graph_reshape(fk_graph *g, int in, int h, int w, int c) {
    if (g->build_status != FK_OK) return -1;
    if (!valid_value(g, in) || h <= 0 || w <= 0 || c <= 0)
        return fk__graph_build_fail(g, FK_EINVAL, "graph: bad reshape arguments");
    fk_node n = {.op = FK_OP_RESHAPE, .in = {in, -1},
                 .kshape = (fk_shape4){1, h, w, c}};
    return add_node(g, n, c);
}

/* Resolve one dimension of a strided slice (TensorFlow's rules, graph.h)
 * into its first index, step and length; 0 when it is empty. */
static int slice_dim(const fk_slice *s, int k, int d, int *from, int *step) {
    int st = s->strides[k], b = s->begin[k], e = s->end[k];
    unsigned bit = 1u << k;
    if (s->shrink_mask & bit) {
        if (b < 0) b += d;
        *from = b;
        *step = 1;
        return b >= 0 && b < d ? 1 : -1;
    }
    /* valid positions are 0..d-1; a negative stride may stop at -1 */
    long lo = st > 0 ? 0 : -1, hi = st > 0 ? d : d - 1;
    long lb, le;
    if (s->begin_mask & bit) lb = st > 0 ? 0 : d - 1;
    else lb = b < 0 ? (long)b + d : b;
    if (s->end_mask & bit) le = st > 0 ? d : -1;
    else le = e < 0 ? (long)e + d : e;
    lb = lb < lo ? lo : lb > hi ? hi : lb;
    le = le < lo ? lo : le > hi ? hi : le;
    long len = st > 0 ? (le - lb + st - 1) / st : (lb - le + (-st) - 1) / (-st);
    *from = (int)lb;
    *step = st;
    return len > 0 ? (int)len : 0;
}

int fk__graph_slice(fk_graph *g, int in, const fk_slice *spec) {
    if (g->build_status != FK_OK) return -1;
    if (!valid_value(g, in) || !spec)
        return fk__graph_build_fail(g, FK_EINVAL, "graph: bad slice arguments");
    for (int k = 0; k < 4; k++)
        if (spec->strides[k] == 0)
            return fk__graph_build_fail(g, FK_EMODEL, "graph: slice with stride 0");
    if ((spec->begin_mask | spec->end_mask | spec->shrink_mask) & ~0xfu)
        return fk__graph_build_fail(g, FK_EMODEL, "graph: slice mask beyond 4 dimensions");
    fk_node n = {.op = FK_OP_SLICE, .in = {in, -1}, .slice = *spec};
    /* Channels are fixed while building (only batch, height and width
     * follow the plan), so the channel count out is known now. */
    int from, step, c = slice_dim(spec, 3, g->values[in].c, &from, &step);
    if (c <= 0)
        return fk__graph_build_fail(g, FK_EMODEL, "graph: slice of %d channels is %s",
                                    g->values[in].c, c < 0 ? "out of range" : "empty");
    return add_node(g, n, c);
}

int fk__graph_concat(fk_graph *g, int a, int b) {
    if (g->build_status != FK_OK) return -1;
    if (!valid_value(g, a) || !valid_value(g, b))
        return fk__graph_build_fail(g, FK_EINVAL, "graph: concat reads an unknown value");
    fk_node n = {.op = FK_OP_CONCAT, .in = {a, b}};
    return add_node(g, n, g->values[a].c + g->values[b].c);
}

int fk__graph_local(fk_graph *g, int in, const float *filt, const float *bias,
                   int kh, int kw, int in_c, int out_c, int stride, int oh, int ow,
                   fk_act act) {
    if (g->build_status != FK_OK) return -1;
    if (!valid_value(g, in) || !filt || kh <= 0 || kw <= 0 || out_c <= 0 || stride <= 0 ||
        oh <= 0 || ow <= 0)
        return fk__graph_build_fail(g, FK_EINVAL, "graph: bad locally-connected arguments");
    if (g->values[in].c != in_c)
        return fk__graph_build_fail(g, FK_EMODEL,
                                    "graph: locally-connected layer expects %d input "
                                    "channels, value has %d", in_c, g->values[in].c);
    fk_node n = {.op = FK_OP_LOCAL, .in = {in, -1}, .w = filt, .b = bias, .kh = kh,
                 .kw = kw, .in_c = in_c, .out_c = out_c, .stride = stride,
                 .pad = FK_PAD_VALID, .act = act, .kshape = {0, oh, ow, out_c}};
    return add_node(g, n, out_c);
}

void fk__graph_mark_output(fk_graph *g, int value) {
    if (!valid_value(g, value)) {
        fk__graph_build_fail(g, FK_EINVAL, "graph: output %d is not a value", value);
        return;
    }
    g->values[value].is_output = 1;
    g->planned_n = 0;
}

/* Infer the output shape of node `nd` from its inputs' shapes; fills the
 * window for window ops and adds the node's multiply-adds to *macs. */
static fk_status infer_shape(fk_graph *g, fk_node *nd, double *macs) {
    const fk_shape4 a = g->values[nd->in[0]].shape;
    fk_shape4 o = a;
    switch (nd->op) {
    case FK_OP_CONV:
    case FK_OP_DEPTHWISE:
    case FK_OP_LOCAL:
    case FK_OP_MAXPOOL:
    case FK_OP_AVGPOOL: {
        fk_window win = {.kh = nd->kh, .kw = nd->kw, .stride_h = nd->stride,
                         .stride_w = nd->stride};
        fk__window_pad_tf(&win, a.h, a.w, nd->pad == FK_PAD_SAME);
        fk__window_out(&win, a.h, a.w, &o.h, &o.w);
        if (o.h <= 0 || o.w <= 0)
            return fk__fail(FK_EINVAL,
                           "graph: input %dx%d is too small for a %dx%d window",
                           a.h, a.w, nd->kh, nd->kw);
        nd->win = win;
        o.c = nd->out_c;
        if (nd->op == FK_OP_CONV && nd->in[1] >= 0) {
            fk_shape4 r = g->values[nd->in[1]].shape;
            if (r.n != o.n || r.h != o.h || r.w != o.w || r.c != o.c)
                return fk__fail(FK_EMODEL,
                               "graph: residual %dx%dx%dx%d added to a convolution's "
                               "%dx%dx%dx%d output",
                               r.n, r.h, r.w, r.c, o.n, o.h, o.w, o.c);
        }
        if (nd->op == FK_OP_LOCAL && (o.h != nd->kshape.h || o.w != nd->kshape.w))
            return fk__fail(FK_EMODEL,
                           "graph: locally-connected layer has weights for %dx%d outputs, "
                           "its %dx%d input gives %dx%d", nd->kshape.h, nd->kshape.w, a.h,
                           a.w, o.h, o.w);
        if (nd->op == FK_OP_CONV || nd->op == FK_OP_LOCAL)
            *macs += (double)o.n * o.h * o.w * o.c * nd->kh * nd->kw * nd->in_c;
        else if (nd->op == FK_OP_DEPTHWISE)
            *macs += (double)o.n * o.h * o.w * o.c * nd->kh * nd->kw;
        break;
    }
    case FK_OP_ADD: {
        const fk_shape4 b = g->values[nd->in[1]].shape;
        if (a.n != b.n) return fk__fail(FK_EINVAL, "graph: add of batch %d and %d", a.n, b.n);
        o.h = a.h > b.h ? a.h : b.h;
        o.w = a.w > b.w ? a.w : b.w;
        o.c = a.c > b.c ? a.c : b.c;
        break;
    }
    case FK_OP_MEAN_HW:
        o.h = o.w = 1;
        break;
    case FK_OP_FC:
        if ((long)a.h * a.w * a.c != nd->in_c)
            return fk__fail(FK_EMODEL,
                           "graph: fully-connected layer expects %d inputs, got %dx%dx%d",
                           nd->in_c, a.h, a.w, a.c);
        o.h = o.w = 1;
        o.c = nd->out_c;
        *macs += (double)o.n * nd->in_c * nd->out_c;
        break;
    case FK_OP_SIGMOID:
    case FK_OP_UNARY:
    case FK_OP_SOFTMAX:
        break;
    case FK_OP_BINARY: {
        const fk_shape4 b = nd->in[1] >= 0 ? g->values[nd->in[1]].shape : nd->kshape;
        const int da[4] = {a.n, a.h, a.w, a.c}, db[4] = {b.n, b.h, b.w, b.c};
        int d[4];
        for (int k = 0; k < 4; k++) {
            if (da[k] != db[k] && da[k] != 1 && db[k] != 1)
                return fk__fail(FK_EMODEL,
                               "graph: cannot broadcast %dx%dx%dx%d with %dx%dx%dx%d",
                               a.n, a.h, a.w, a.c, b.n, b.h, b.w, b.c);
            d[k] = da[k] > db[k] ? da[k] : db[k];
        }
        o = (fk_shape4){d[0], d[1], d[2], d[3]};
        break;
    }
    case FK_OP_PAD:
        o.n += nd->ip[0] + nd->ip[1];
        o.h += nd->ip[2] + nd->ip[3];
        o.w += nd->ip[4] + nd->ip[5];
        o.c += nd->ip[6] + nd->ip[7];
        break;
    case FK_OP_REDUCE:
        if (nd->ip[0]) o.n = 1;
        if (nd->ip[1]) o.h = 1;
        if (nd->ip[2]) o.w = 1;
        if (nd->ip[3]) o.c = 1;
        break;
    case FK_OP_SLICE: {
        const int d[4] = {a.n, a.h, a.w, a.c};
        int len[4];
        for (int k = 0; k < 4; k++) {
            len[k] = slice_dim(&nd->slice, k, d[k], &nd->from[k], &nd->step[k]);
            if (len[k] < 0)
                return fk__fail(FK_EMODEL, "graph: slice takes element %d of a dimension "
                               "of %d", nd->slice.begin[k], d[k]);
            if (len[k] == 0)
                return fk__fail(FK_EMODEL, "graph: slice of %dx%dx%dx%d is empty in "
                               "dimension %d", a.n, a.h, a.w, a.c, k);
        }
        o = (fk_shape4){len[0], len[1], len[2], len[3]};
        break;
    }
    case FK_OP_CONCAT: {
        const fk_shape4 b = g->values[nd->in[1]].shape;
        if (a.n != b.n || a.h != b.h || a.w != b.w)
            return fk__fail(FK_EMODEL, "graph: cannot concatenate %dx%dx%dx%d and "
                           "%dx%dx%dx%d along channels", a.n, a.h, a.w, a.c, b.n, b.h,
                           b.w, b.c);
        o.c = a.c + b.c;
        break;
    }
    case FK_OP_RESHAPE:
        o.h = nd->kshape.h;
        o.w = nd->kshape.w;
        o.c = nd->kshape.c;
        if ((long)o.h * o.w * o.c != (long)a.h * a.w * a.c)
            return fk__fail(FK_EMODEL, "graph: cannot reshape %dx%dx%d to %dx%dx%d",
                           a.h, a.w, a.c, o.h, o.w, o.c);
        break;
    }
    g->values[nd->out].shape = o;
    g->values[nd->out].count = (long)o.n * o.h * o.w * o.c;
    return FK_OK;
}

/* A block of the arena in use by a value. */
typedef struct span {
    size_t offset, size;
    int value;
} span;

static int span_cmp(const void *x, const void *y) {
    const span *a = x, *b = y;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

/* Lowest offset where `size` floats fit between the live spans. */
static size_t first_fit(span *live, int n_live, size_t size) {
    qsort(live, (size_t)n_live, sizeof *live, span_cmp);
    size_t at = 0;
    for (int i = 0; i < n_live; i++) {
        if (live[i].offset >= at + size) break;
        size_t end = live[i].offset + live[i].size;
        if (end > at) at = end;
    }
    return at;
}

/* Lay values out in the arena by lifetime; returns the arena size needed. */
static fk_status layout(fk_graph *g, size_t *arena_floats) {
    span *live = malloc(sizeof *live * (size_t)g->n_values);
    if (!live) return fk__fail(FK_ENOMEM, "graph: out of memory");
    int n_live = 0;
    size_t top = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        fk_value *v = &g->values[g->nodes[i].out];
        size_t size = ((size_t)v->count + FK_ARENA_ALIGN - 1) /
                      FK_ARENA_ALIGN * FK_ARENA_ALIGN;
        v->offset = first_fit(live, n_live, size);
        if (v->offset + size > top) top = v->offset + size;
        live[n_live++] = (span){v->offset, size, g->nodes[i].out};
        /* Free every value whose last reader is this node (the one just born
         * stays until after its readers, even if it has none yet). */
        for (int k = 0; k < n_live;) {
            const fk_value *lv = &g->values[live[k].value];
            if (!lv->is_output && lv->last_use <= i && live[k].value != g->nodes[i].out) {
                live[k] = live[n_live - 1];
                n_live--;
            } else {
                k++;
            }
        }
    }
    free(live);
    *arena_floats = top;
    return FK_OK;
}

fk_status fk__graph_plan(fk_graph *g, int n, int h, int w) {
    if (!g || n <= 0 || h <= 0 || w <= 0)
        return fk__fail(FK_EINVAL, "fk__graph_plan: bad arguments");
    if (g->build_status != FK_OK)
        return fk__fail(g->build_status, "%s", g->build_error);
    if (g->planned_n == n && g->planned_h == h && g->planned_w == w)
        return FK_OK;
    g->planned_n = 0;

    g->values[0].shape = (fk_shape4){n, h, w, g->values[0].c};
    g->values[0].count = (long)n * h * w * g->values[0].c;
    for (int v = 0; v < g->n_values; v++) g->values[v].last_use = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < 2; k++)
            if (g->nodes[i].in[k] >= 0) g->values[g->nodes[i].in[k]].last_use = i;

    double macs = 0;
    size_t ws = 0;
    int threads = g->workspace_threads > 0 ? g->workspace_threads : 1;
    for (int i = 0; i < g->n_nodes; i++) {
        fk_node *nd = &g->nodes[i];
        fk_status s = infer_shape(g, nd, &macs);
        if (s != FK_OK) return s;
        if (nd->op == FK_OP_CONV) {
            size_t need = fk__conv2d_workspace(g->values[nd->in[0]].shape,
                                              nd->out_c, &nd->win, threads);
            if (need > ws) ws = need;
        }
    }
    size_t arena_floats = 0;
    fk_status s = layout(g, &arena_floats);
    if (s != FK_OK) return s;

    if (arena_floats > g->arena_floats) {
        float *a = realloc(g->arena, arena_floats * sizeof(float));
        if (!a) return fk__fail(FK_ENOMEM, "graph: cannot allocate %zu MB of activations",
                               arena_floats * sizeof(float) >> 20);
        g->arena = a;
        g->arena_floats = arena_floats;
    }
    if (ws > g->workspace_floats) {
        float *a = realloc(g->workspace, ws * sizeof(float));
        if (!a) return fk__fail(FK_ENOMEM, "graph: cannot allocate %zu MB of workspace",
                               ws * sizeof(float) >> 20);
        g->workspace = a;
        g->workspace_floats = ws;
    }
    g->macs = macs;
    g->planned_n = n;
    g->planned_h = h;
    g->planned_w = w;
    return FK_OK;
}

/* out = a + b where a smaller operand reads as zero outside its extent. */
static void add_zero_extended(const float *a, fk_shape4 sa, const float *b,
                              fk_shape4 sb, float *out, fk_shape4 so) {
    for (int n = 0; n < so.n; n++)
        for (int y = 0; y < so.h; y++)
            for (int x = 0; x < so.w; x++) {
                float *o = out + (((long)n * so.h + y) * so.w + x) * so.c;
                const float *pa = (y < sa.h && x < sa.w)
                    ? a + (((long)n * sa.h + y) * sa.w + x) * sa.c : NULL;
                const float *pb = (y < sb.h && x < sb.w)
                    ? b + (((long)n * sb.h + y) * sb.w + x) * sb.c : NULL;
                for (int c = 0; c < so.c; c++) {
                    float va = (pa && c < sa.c) ? pa[c] : 0.0f;
                    float vb = (pb && c < sb.c) ? pb[c] : 0.0f;
                    o[c] = va + vb;
                }
            }
}

static const float *value_data(const fk_graph *g, int v, const float *input) {
    return v == 0 ? input : g->arena + g->values[v].offset;
}

/* The window and matmul ops through the plain reference kernels; returns 0
 * for ops that have no separate reference (they are simple loops anyway). */
static int run_reference(const fk_graph *g, const fk_node *nd, const float *a,
                         float *o, const float *input) {
    const fk_shape4 is = g->values[nd->in[0]].shape;
    switch (nd->op) {
    case FK_OP_CONV:
        if (nd->in[1] >= 0) { /* fused residual: act(conv + bias + r) */
            const fk_value *vo = &g->values[nd->out];
            const float *r = value_data(g, nd->in[1], input);
            fk__conv2d_ref(a, is, nd->w, nd->b, nd->out_c, &nd->win, NULL, o);
            for (long i = 0; i < vo->count; i++) o[i] += r[i];
            fk__act_apply(&nd->act, o, vo->count, nd->out_c);
            return 1;
        }
        fk__conv2d_ref(a, is, nd->w, nd->b, nd->out_c, &nd->win, &nd->act, o);
        return 1;
    case FK_OP_DEPTHWISE:
        fk__depthwise_ref(a, is, nd->w, nd->b, &nd->win, &nd->act, o);
        return 1;
    case FK_OP_LOCAL:
        fk__local_ref(a, is, nd->w, nd->b, nd->out_c, &nd->win, &nd->act, o);
        return 1;
    case FK_OP_MAXPOOL:
        fk__maxpool_ref(a, is, &nd->win, o);
        return 1;
    case FK_OP_AVGPOOL:
        fk__avgpool_ref(a, is, &nd->win, o);
        return 1;
    case FK_OP_FC:
        fk__fc_ref(a, is.n, nd->in_c, nd->w, nd->b, nd->out_c, &nd->act, o);
        return 1;
    case FK_OP_BINARY: {
        const fk_shape4 so = g->values[nd->out].shape;
        fk_shape4 sb = nd->kshape;
        const float *b = nd->w;
        if (nd->in[1] >= 0) {
            sb = g->values[nd->in[1]].shape;
            b = value_data(g, nd->in[1], input);
        }
        if (nd->const_first)
            fk__binary_ref((fk_binop)nd->sub, b, sb, a, is, o, so);
        else
            fk__binary_ref((fk_binop)nd->sub, a, is, b, sb, o, so);
        return 1;
    }
    case FK_OP_UNARY:
        fk__unary_ref((fk_unop)nd->sub, a, g->values[nd->out].count, o);
        return 1;
    case FK_OP_PAD:
        fk__pad_ref(a, is, nd->ip, nd->fparam, o);
        return 1;
    case FK_OP_REDUCE:
        fk__reduce_ref((fk_reduce_op)nd->sub, a, is, nd->ip, o);
        return 1;
    case FK_OP_SLICE:
        fk__slice_ref(a, is, nd->from, nd->step, o, g->values[nd->out].shape);
        return 1;
    default:
        return 0;
    }
}

void fk__graph_use_reference(fk_graph *g, int on) { g->reference = on; }

fk_status fk__graph_run(fk_graph *g, const float *input, fk_pool *pool) {
    if (!g || !input) return fk__fail(FK_EINVAL, "fk__graph_run: bad arguments");
    if (!g->planned_n) return fk__fail(FK_EINVAL, "fk__graph_run: graph not planned");
    int threads = pool ? fk__pool_threads(pool) : 1;
    if (threads > g->workspace_threads) {
        /* The workspace was sized for fewer threads: re-plan for this pool. */
        int n = g->planned_n, h = g->planned_h, w = g->planned_w;
        g->workspace_threads = threads;
        g->planned_n = 0;
        fk_status s = fk__graph_plan(g, n, h, w);
        if (s != FK_OK) return s;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const fk_node *nd = &g->nodes[i];
        const fk_value *va = &g->values[nd->in[0]];
        const fk_value *vo = &g->values[nd->out];
        const float *a = value_data(g, nd->in[0], input);
        float *o = g->arena + vo->offset;
        if (g->reference && run_reference(g, nd, a, o, input)) continue;
        switch (nd->op) {
        case FK_OP_CONV:
            fk__conv2d_res(a, va->shape, nd->w, nd->b,
                          nd->in[1] >= 0 ? value_data(g, nd->in[1], input) : NULL, nd->out_c,
                          &nd->win, &nd->act, o, g->workspace, pool);
            break;
        case FK_OP_DEPTHWISE:
            fk__depthwise(a, va->shape, nd->w, nd->b, &nd->win, &nd->act, o, pool);
            break;
        case FK_OP_MAXPOOL:
            fk__maxpool(a, va->shape, &nd->win, o, pool);
            break;
        case FK_OP_AVGPOOL:
            fk__avgpool(a, va->shape, &nd->win, o, pool);
            break;
        case FK_OP_ADD: {
            const fk_value *vb = &g->values[nd->in[1]];
            const float *b = value_data(g, nd->in[1], input);
            if (va->count == vo->count && vb->count == vo->count) {
                fk__add_rows(a, b, vo->count / vo->shape.c, vo->shape.c, &nd->act, o, pool);
            } else {
                add_zero_extended(a, va->shape, b, vb->shape, o, vo->shape);
                fk__act_apply(&nd->act, o, vo->count, vo->shape.c);
            }
            break;
        }
        case FK_OP_MEAN_HW:
            fk__mean_hw(a, va->shape, o);
            break;
        case FK_OP_FC:
            fk__fc(a, va->shape.n, nd->in_c, nd->w, nd->b, nd->out_c, &nd->act, o,
                  pool);
            break;
        case FK_OP_SIGMOID: {
            fk_act sig = {.kind = FK_ACT_SIGMOID};
            memcpy(o, a, (size_t)vo->count * sizeof(float));
            fk__act_apply(&sig, o, vo->count, vo->shape.c);
            break;
        }
        case FK_OP_BINARY: {
            fk_shape4 sb = nd->kshape;
            const float *b = nd->w;
            if (nd->in[1] >= 0) {
                sb = g->values[nd->in[1]].shape;
                b = value_data(g, nd->in[1], input);
            }
            if (nd->const_first)
                fk__binary((fk_binop)nd->sub, b, sb, a, va->shape, o, vo->shape, pool);
            else
                fk__binary((fk_binop)nd->sub, a, va->shape, b, sb, o, vo->shape, pool);
            break;
        }
        case FK_OP_UNARY:
            fk__unary((fk_unop)nd->sub, a, vo->count, o, pool);
            break;
        case FK_OP_PAD:
            fk__pad(a, va->shape, nd->ip, nd->fparam, o, pool);
            break;
        case FK_OP_REDUCE:
            fk__reduce((fk_reduce_op)nd->sub, a, va->shape, nd->ip, o);
            break;
        case FK_OP_SOFTMAX:
            fk__softmax(a, vo->count / vo->shape.c, vo->shape.c, o);
            break;
        case FK_OP_RESHAPE:
            memcpy(o, a, (size_t)vo->count * sizeof(float));
            break;
        case FK_OP_SLICE:
            fk__slice(a, va->shape, nd->from, nd->step, o, vo->shape, pool);
            break;
        case FK_OP_CONCAT:
            fk__concat_channels(a, va->shape, value_data(g, nd->in[1], input),
                               g->values[nd->in[1]].shape, o);
            break;
        case FK_OP_LOCAL:
            fk__local(a, va->shape, nd->w, nd->b, nd->out_c, &nd->win, &nd->act, o, pool);
            break;
        }
    }
    return FK_OK;
}

const float *fk__graph_output(const fk_graph *g, int value, fk_shape4 *shape) {
    if (!g || !valid_value(g, value) || !g->planned_n) return NULL;
    if (shape) *shape = g->values[value].shape;
    return g->arena + g->values[value].offset;
}

size_t fk__graph_arena_bytes(const fk_graph *g) {
    return (g->arena_floats + g->workspace_floats) * sizeof(float);
}

double fk__graph_macs(const fk_graph *g) { return g->macs; }

int fk__graph_node_count(const fk_graph *g) { return g ? g->n_nodes : 0; }
