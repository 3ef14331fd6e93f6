/*
 * tflite_graph.c - converting a TensorFlow Lite model read by
 * tflite_reader.c (fk_tfl_model, tflite.h) into an fk_graph: each operator
 * becomes a graph node, constants keep the layout the graph expects (conv
 * filters OHWI -> HWIO, fully-connected weights [out][in] -> [in][out]),
 * and the elementary-op spellings of PReLU and softmax that the old TOCO
 * converter wrote are recognised as wholes (tflite.h lists them). It reads
 * only the parsed model, never the flatbuffer, so every bounds check stays
 * in the reader.
 *
 * An operator the graph cannot express is FK_EFORMAT naming the operator's
 * index, its name and the file.
 */
#include "nn/tflite.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* ---- conversion to fk_graph -------------------------------------------- */

typedef struct tval {
    int value;   /* graph value id, -1 = not computed by the graph */
    int softmax; /* the tensor is softmax(value) (applied by the caller) */
    float beta;
    int flat;    /* reshaped to a different shape: no spatial op may read it */
} tval;

typedef struct conv_ctx {
    const fk_tfl_model *m;
    fk_graph *g;
    tval *val;
    int *uses;     /* ops reading each tensor */
    char *done;    /* ops already handled (fused into an earlier one) */
    int *is_output;
} conv_ctx;

static fk_status op_error(const conv_ctx *c, int i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static fk_status op_error(const conv_ctx *c, int i, const char *fmt, ...) {
    char detail[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return fk__fail(FK_EFORMAT, "%s: operator %d (%s): %s", c->m->what, i,
                   fk__tflite_op_name(c->m->ops[i].code), detail);
}

/* The graph value an operator reads as its data input `k`. */
static fk_status data_input(const conv_ctx *c, int i, int k, int spatial, int *value) {
    const fk_tfl_op *op = &c->m->ops[i];
    if (op->n_inputs <= k || op->inputs[k] < 0)
        return op_error(c, i, "input %d is missing", k);
    int t = op->inputs[k];
    const tval *v = &c->val[t];
    if (v->value < 0)
        return op_error(c, i, "input '%s' is not computed by the graph",
                        c->m->tensors[t].name ? c->m->tensors[t].name : "");
    if (v->softmax)
        return op_error(c, i, "reads a softmax output; softmax is only "
                        "supported as a final operator");
    if (spatial && v->flat)
        return op_error(c, i, "reads a reshaped tensor spatially");
    *value = v->value;
    return FK_OK;
}

/* Constant input k (with at least `min_dims` dims), or NULL when optional
 * and absent. */
static const fk_tfl_tensor *const_input(const conv_ctx *c, int i, int k) {
    const fk_tfl_op *op = &c->m->ops[i];
    if (op->n_inputs <= k || op->inputs[k] < 0) return NULL;
    const fk_tfl_tensor *t = &c->m->tensors[op->inputs[k]];
    return t->data ? t : NULL;
}

static fk_status map_act(const conv_ctx *c, int i, int tfl_act, fk_act *act) {
    memset(act, 0, sizeof *act);
    switch (tfl_act) {
    case FK_TFL_ACT_NONE: act->kind = FK_ACT_NONE; return FK_OK;
    case FK_TFL_ACT_RELU: act->kind = FK_ACT_RELU; return FK_OK;
    case FK_TFL_ACT_RELU6: act->kind = FK_ACT_RELU6; return FK_OK;
    case FK_TFL_ACT_TANH: act->kind = FK_ACT_TANH; return FK_OK;
    default: return op_error(c, i, "fused activation %d is not supported", tfl_act);
    }
}

/* The single operator reading tensor t, provided it has operator code
 * `code` and t is not a model output; else -1. */
static int sole_reader(const conv_ctx *c, int t, int code) {
    if (t < 0 || c->uses[t] != 1 || c->is_output[t]) return -1;
    const fk_tfl_model *m = c->m;
    for (int j = 0; j < m->n_ops; j++)
        for (int k = 0; k < m->ops[j].n_inputs; k++)
            if (m->ops[j].inputs[k] == t)
                return m->ops[j].code == code && !c->done[j] ? j : -1;
    return -1;
}

/* The readers of t when exactly two ops read it: *a of code ca, *b of cb. */
static int two_readers(const conv_ctx *c, int t, int ca, int cb, int *a, int *b) {
    if (t < 0 || c->uses[t] != 2 || c->is_output[t]) return 0;
    const fk_tfl_model *m = c->m;
    *a = *b = -1;
    for (int j = 0; j < m->n_ops; j++) {
        int reads = 0;
        for (int k = 0; k < m->ops[j].n_inputs; k++) reads += m->ops[j].inputs[k] == t;
        if (reads != 1 && reads != 0) return 0;
        if (!reads || c->done[j]) continue;
        if (m->ops[j].code == ca && *a < 0) *a = j;
        else if (m->ops[j].code == cb && *b < 0) *b = j;
        else return 0;
    }
    return *a >= 0 && *b >= 0;
}

/* The other input of binary op j (the one that is not t), or -1. */
static int other_input(const fk_tfl_model *m, int j, int t) {
    const fk_tfl_op *o = &m->ops[j];
    if (o->n_inputs != 2) return -1;
    if (o->inputs[0] == t) return o->inputs[1];
    if (o->inputs[1] == t) return o->inputs[0];
    return -1;
}

static int out0(const fk_tfl_model *m, int j) {
    return m->ops[j].n_outputs >= 1 ? m->ops[j].outputs[0] : -1;
}

/* Recognise relu(t) + alpha * neg(relu(neg(t))) (TOCO's PReLU). On a match
 * *alpha is the constant slope tensor, *out the result tensor, and ops[6]
 * the operators to mark as done. */
static int match_prelu(const conv_ctx *c, int t, int *alpha, int *out, int ops[6]) {
    const fk_tfl_model *m = c->m;
    int relu, neg;
    if (!two_readers(c, t, FK_TFL_RELU, FK_TFL_NEG, &relu, &neg)) return 0;
    int relu2 = sole_reader(c, out0(m, neg), FK_TFL_RELU);
    if (relu2 < 0) return 0;
    int neg2 = sole_reader(c, out0(m, relu2), FK_TFL_NEG);
    if (neg2 < 0) return 0;
    int mul = sole_reader(c, out0(m, neg2), FK_TFL_MUL);
    if (mul < 0 || m->ops[mul].activation != FK_TFL_ACT_NONE) return 0;
    int a = other_input(m, mul, out0(m, neg2));
    if (a < 0 || !m->tensors[a].data) return 0;
    int add = sole_reader(c, out0(m, mul), FK_TFL_ADD);
    if (add < 0 || m->ops[add].activation != FK_TFL_ACT_NONE) return 0;
    if (other_input(m, add, out0(m, mul)) != out0(m, relu) ||
        sole_reader(c, out0(m, relu), FK_TFL_ADD) != add)
        return 0;
    if (out0(m, add) < 0) return 0;
    *alpha = a;
    *out = out0(m, add);
    ops[0] = relu; ops[1] = neg; ops[2] = relu2; ops[3] = neg2; ops[4] = mul;
    ops[5] = add;
    return 1;
}

/* Recognise relu(t) + k * (t - abs(t)) (the PReLU of sirius-ai's
 * MobileFaceNet as TOCO wrote it; below zero t - abs(t) = 2t, so the slope
 * is 2k). t must be read by exactly a RELU, an ABS and the SUB t - abs(t).
 * On a match *k is the constant tensor, *out the result, ops[5] the
 * operators to mark as done. */
static int match_prelu_abs(const conv_ctx *c, int t, int *k, int *out, int ops[5]) {
    const fk_tfl_model *m = c->m;
    if (t < 0 || c->uses[t] != 3 || c->is_output[t]) return 0;
    int relu = -1, abs_op = -1, sub = -1;
    for (int j = 0; j < m->n_ops; j++) {
        const fk_tfl_op *o = &m->ops[j];
        int reads = 0;
        for (int q = 0; q < o->n_inputs; q++) reads += o->inputs[q] == t;
        if (!reads) continue;
        if (reads != 1 || c->done[j]) return 0;
        if (o->code == FK_TFL_RELU && relu < 0) relu = j;
        else if (o->code == FK_TFL_ABS && abs_op < 0) abs_op = j;
        else if (o->code == FK_TFL_SUB && sub < 0) sub = j;
        else return 0;
    }
    if (relu < 0 || abs_op < 0 || sub < 0) return 0;
    /* SUB must be t - abs(t), in that order, with nothing fused. */
    const fk_tfl_op *s = &m->ops[sub];
    if (s->n_inputs != 2 || s->inputs[0] != t || s->inputs[1] != out0(m, abs_op) ||
        s->activation != FK_TFL_ACT_NONE ||
        sole_reader(c, out0(m, abs_op), FK_TFL_SUB) != sub)
        return 0;
    int mul = sole_reader(c, out0(m, sub), FK_TFL_MUL);
    if (mul < 0 || m->ops[mul].activation != FK_TFL_ACT_NONE) return 0;
    int kt = other_input(m, mul, out0(m, sub));
    if (kt < 0 || !m->tensors[kt].data) return 0;
    int add = sole_reader(c, out0(m, mul), FK_TFL_ADD);
    if (add < 0 || m->ops[add].activation != FK_TFL_ACT_NONE) return 0;
    if (other_input(m, add, out0(m, mul)) != out0(m, relu) ||
        sole_reader(c, out0(m, relu), FK_TFL_ADD) != add || out0(m, add) < 0)
        return 0;
    *k = kt;
    *out = out0(m, add);
    ops[0] = relu; ops[1] = abs_op; ops[2] = sub; ops[3] = mul; ops[4] = add;
    return 1;
}

/* A constant holding one axis equal to the last of `ndim` dims. */
static int is_last_axis(const fk_tfl_model *m, int t, int ndim) {
    if (t < 0 || !m->tensors[t].data || m->tensors[t].count != 1) return 0;
    int axis = (int)m->tensors[t].data[0];
    return axis == ndim - 1 || axis == -1;
}

/* Recognise exp(t - reduce_max(t)) / sum(exp(...)) over the last axis,
 * starting at the REDUCE_MAX op i. *out gets the result, ops[5] the ops. */
static int match_softmax(const conv_ctx *c, int i, int *out, int ops[5]) {
    const fk_tfl_model *m = c->m;
    const fk_tfl_op *mx = &m->ops[i];
    if (mx->n_inputs != 2 || mx->inputs[0] < 0) return 0;
    int t = mx->inputs[0];
    int nd = m->tensors[t].ndim;
    if (!is_last_axis(m, mx->inputs[1], nd)) return 0;
    int rmax, sub;
    if (!two_readers(c, t, FK_TFL_REDUCE_MAX, FK_TFL_SUB, &rmax, &sub) || rmax != i)
        return 0;
    if (m->ops[sub].inputs[0] != t || m->ops[sub].inputs[1] != out0(m, i) ||
        sole_reader(c, out0(m, i), FK_TFL_SUB) != sub)
        return 0;
    int ex = sole_reader(c, out0(m, sub), FK_TFL_EXP);
    if (ex < 0) return 0;
    int sum, div;
    if (!two_readers(c, out0(m, ex), FK_TFL_SUM, FK_TFL_DIV, &sum, &div)) return 0;
    if (!is_last_axis(m, m->ops[sum].n_inputs == 2 ? m->ops[sum].inputs[1] : -1, nd) ||
        m->ops[div].inputs[0] != out0(m, ex) || m->ops[div].inputs[1] != out0(m, sum) ||
        sole_reader(c, out0(m, sum), FK_TFL_DIV) != div)
        return 0;
    if (out0(m, div) < 0) return 0;
    *out = out0(m, div);
    ops[0] = i; ops[1] = sub; ops[2] = ex; ops[3] = sum; ops[4] = div;
    return 1;
}

/* When op i has no fused activation and its only reader is an activation
 * op (PRELU, RELU, RELU6, TANH, LOGISTIC, LEAKY_RELU), fuse that op: *act gets it and
 * *out_tensor its output. `channels` is the producer's output channels. */
static fk_status fuse_activation(conv_ctx *c, int i, int channels, fk_act *act,
                                 int *out_tensor) {
    const fk_tfl_model *m = c->m;
    int t = m->ops[i].outputs[0];
    *out_tensor = t;
    if (act->kind != FK_ACT_NONE) return FK_OK;
    int alpha, pout, pops[6];
    if (match_prelu(c, t, &alpha, &pout, pops)) {
        if (m->tensors[alpha].count != channels)
            return op_error(c, pops[4], "%ld PReLU slopes for %d channels",
                            m->tensors[alpha].count, channels);
        act->kind = FK_ACT_PRELU;
        act->slope = m->tensors[alpha].data;
        for (int k = 0; k < 6; k++) c->done[pops[k]] = 1;
        *out_tensor = pout;
        return FK_OK;
    }
    int kt, aops[5];
    if (match_prelu_abs(c, t, &kt, &pout, aops)) {
        const fk_tfl_tensor *kk = &m->tensors[kt];
        if (kk->count != channels && kk->count != 1)
            return op_error(c, aops[3], "%ld PReLU factors for %d channels", kk->count,
                            channels);
        float *slope = malloc(sizeof *slope * (size_t)channels);
        if (!slope) return fk__fail(FK_ENOMEM, "%s: out of memory", m->what);
        for (int q = 0; q < channels; q++)
            slope[q] = 2.0f * kk->data[kk->count == 1 ? 0 : q];
        fk_status st = fk__graph_keep(c->g, slope);
        if (st != FK_OK) return st;
        act->kind = FK_ACT_PRELU;
        act->slope = slope;
        for (int q = 0; q < 5; q++) c->done[aops[q]] = 1;
        *out_tensor = pout;
        return FK_OK;
    }
    if (c->uses[t] != 1 || c->is_output[t]) return FK_OK;
    for (int j = i + 1; j < m->n_ops; j++) {
        const fk_tfl_op *o = &m->ops[j];
        int reads = 0;
        for (int k = 0; k < o->n_inputs; k++) reads |= o->inputs[k] == t;
        if (!reads) continue;
        if (o->inputs[0] != t || o->n_outputs < 1) return FK_OK;
        switch (o->code) {
        case FK_TFL_PRELU: {
            const fk_tfl_tensor *alpha = const_input(c, j, 1);
            if (!alpha) return op_error(c, j, "the slope is not a constant");
            const float *slope = alpha->data;
            if (alpha->count == 1 && channels > 1) {
                float *s = malloc(sizeof *s * (size_t)channels);
                if (!s) return fk__fail(FK_ENOMEM, "%s: out of memory", m->what);
                for (int k = 0; k < channels; k++) s[k] = alpha->data[0];
                fk_status st = fk__graph_keep(c->g, s);
                if (st != FK_OK) return st;
                slope = s;
            } else if (alpha->count != channels) {
                return op_error(c, j, "%ld slopes for %d channels", alpha->count,
                                channels);
            }
            act->kind = FK_ACT_PRELU;
            act->slope = slope;
            break;
        }
        case FK_TFL_RELU: act->kind = FK_ACT_RELU; break;
        case FK_TFL_RELU6: act->kind = FK_ACT_RELU6; break;
        case FK_TFL_TANH: act->kind = FK_ACT_TANH; break;
        case FK_TFL_LOGISTIC: act->kind = FK_ACT_SIGMOID; break;
        case FK_TFL_LEAKY_RELU:
            act->kind = FK_ACT_LEAKY;
            act->alpha = o->alpha;
            break;
        default: return FK_OK;
        }
        c->done[j] = 1;
        *out_tensor = o->outputs[0];
        return FK_OK;
    }
    return FK_OK;
}

/* Bias input 2 of a conv / fc, checked to have `n` entries (NULL: none). */
static fk_status bias_input(const conv_ctx *c, int i, int n, const float **bias) {
    const fk_tfl_op *op = &c->m->ops[i];
    *bias = NULL;
    if (op->n_inputs <= 2 || op->inputs[2] < 0) return FK_OK;
    const fk_tfl_tensor *b = const_input(c, i, 2);
    if (!b) return op_error(c, i, "the bias is not a constant");
    if (b->count != n) return op_error(c, i, "%ld biases for %d outputs", b->count, n);
    *bias = b->data;
    return FK_OK;
}

static fk_padding map_pad(int tfl_pad) {
    return tfl_pad == FK_TFL_PAD_VALID ? FK_PAD_VALID : FK_PAD_SAME;
}

/* A graph builder refused op i: it recorded why, fk__graph_plan reports
 * it; name the operator. */
static fk_status graph_failed(const conv_ctx *c, int i) {
    fk_status st = fk__graph_plan(c->g, 1, 1, 1);
    return fk__fail_prefix(st == FK_OK ? FK_EFORMAT : st, "%s: operator %d (%s)",
                          c->m->what, i, fk__tflite_op_name(c->m->ops[i].code));
}

static fk_status set_value(conv_ctx *c, int i, int tensor, int value) {
    if (value < 0) return graph_failed(c, i);
    c->val[tensor] = (tval){value, 0, 1.0f, 0};
    return FK_OK;
}

static fk_status convert_conv(conv_ctx *c, int i) {
    const fk_tfl_op *op = &c->m->ops[i];
    int in;
    fk_status st = data_input(c, i, 0, 1, &in);
    if (st != FK_OK) return st;
    const fk_tfl_tensor *f = const_input(c, i, 1);
    if (!f || f->ndim != 4 || f->count == 0)
        return op_error(c, i, "the filter is not a constant 4-d tensor");
    if (op->stride_w != op->stride_h || op->stride_w < 1)
        return op_error(c, i, "strides %dx%d (only equal strides)", op->stride_h,
                        op->stride_w);
    if (op->dilation_w != 1 || op->dilation_h != 1)
        return op_error(c, i, "dilation %dx%d", op->dilation_h, op->dilation_w);
    int oc = f->shape[0], kh = f->shape[1], kw = f->shape[2], ic = f->shape[3];
    const float *bias;
    if ((st = bias_input(c, i, oc, &bias)) != FK_OK) return st;
    fk_act act;
    if ((st = map_act(c, i, op->activation, &act)) != FK_OK) return st;
    int out_t;
    if ((st = fuse_activation(c, i, oc, &act, &out_t)) != FK_OK) return st;
    /* OHWI -> HWIO */
    float *w = malloc(sizeof *w * (size_t)f->count);
    if (!w) return fk__fail(FK_ENOMEM, "%s: out of memory", c->m->what);
    for (int o = 0; o < oc; o++)
        for (int y = 0; y < kh; y++)
            for (int x = 0; x < kw; x++)
                for (int k = 0; k < ic; k++)
                    w[(((size_t)y * kw + x) * ic + k) * oc + o] =
                        f->data[(((size_t)o * kh + y) * kw + x) * ic + k];
    if ((st = fk__graph_keep(c->g, w)) != FK_OK) return st;
    int v = fk__graph_conv(c->g, in, w, bias, kh, kw, ic, oc, op->stride_w,
                          map_pad(op->padding), act);
    return set_value(c, i, out_t, v);
}

static fk_status convert_depthwise(conv_ctx *c, int i) {
    const fk_tfl_op *op = &c->m->ops[i];
    int in;
    fk_status st = data_input(c, i, 0, 1, &in);
    if (st != FK_OK) return st;
    const fk_tfl_tensor *f = const_input(c, i, 1);
    if (!f || f->ndim != 4 || f->shape[0] != 1 || f->count == 0)
        return op_error(c, i, "the filter is not a constant [1,kh,kw,c] tensor");
    if (op->depth_multiplier > 1)
        return op_error(c, i, "depth multiplier %d (only 1)", op->depth_multiplier);
    if (op->stride_w != op->stride_h || op->stride_w < 1)
        return op_error(c, i, "strides %dx%d (only equal strides)", op->stride_h,
                        op->stride_w);
    if (op->dilation_w != 1 || op->dilation_h != 1)
        return op_error(c, i, "dilation %dx%d", op->dilation_h, op->dilation_w);
    int kh = f->shape[1], kw = f->shape[2], ch = f->shape[3];
    const float *bias;
    if ((st = bias_input(c, i, ch, &bias)) != FK_OK) return st;
    fk_act act;
    if ((st = map_act(c, i, op->activation, &act)) != FK_OK) return st;
    int out_t;
    if ((st = fuse_activation(c, i, ch, &act, &out_t)) != FK_OK) return st;
    /* [1][kh][kw][c] is already the graph's [kh][kw][c]. */
    int v = fk__graph_depthwise(c->g, in, f->data, bias, kh, kw, ch, op->stride_w,
                               map_pad(op->padding), act);
    return set_value(c, i, out_t, v);
}

static fk_status convert_fc(conv_ctx *c, int i) {
    const fk_tfl_op *op = &c->m->ops[i];
    int in;
    fk_status st = data_input(c, i, 0, 0, &in);
    if (st != FK_OK) return st;
    const fk_tfl_tensor *f = const_input(c, i, 1);
    if (!f || f->ndim != 2 || f->count == 0)
        return op_error(c, i, "the weights are not a constant 2-d tensor");
    int out_n = f->shape[0], in_n = f->shape[1];
    const float *bias;
    if ((st = bias_input(c, i, out_n, &bias)) != FK_OK) return st;
    fk_act act;
    if ((st = map_act(c, i, op->activation, &act)) != FK_OK) return st;
    int out_t;
    if ((st = fuse_activation(c, i, out_n, &act, &out_t)) != FK_OK) return st;
    /* [out][in] -> [in][out] */
    float *w = malloc(sizeof *w * (size_t)f->count);
    if (!w) return fk__fail(FK_ENOMEM, "%s: out of memory", c->m->what);
    for (int o = 0; o < out_n; o++)
        for (int k = 0; k < in_n; k++)
            w[(size_t)k * out_n + o] = f->data[(size_t)o * in_n + k];
    if ((st = fk__graph_keep(c->g, w)) != FK_OK) return st;
    int v = fk__graph_fc(c->g, in, w, bias, in_n, out_n, act);
    return set_value(c, i, out_t, v);
}

static fk_status convert_pool(conv_ctx *c, int i) {
    const fk_tfl_op *op = &c->m->ops[i];
    int in;
    fk_status st = data_input(c, i, 0, 1, &in);
    if (st != FK_OK) return st;
    if (op->filter_w != op->filter_h || op->stride_w != op->stride_h ||
        op->filter_w < 1 || op->stride_w < 1)
        return op_error(c, i, "window %dx%d stride %dx%d (only square windows "
                        "and equal strides)", op->filter_h, op->filter_w,
                        op->stride_h, op->stride_w);
    if (op->activation != FK_TFL_ACT_NONE)
        return op_error(c, i, "fused activation %d on a pool", op->activation);
    int v = fk__graph_pool(c->g, op->code == FK_TFL_MAX_POOL_2D ? FK_OP_MAXPOOL
                                                                : FK_OP_AVGPOOL,
                          in, op->filter_w, op->stride_w, map_pad(op->padding));
    return set_value(c, i, op->outputs[0], v);
}

/* Same shape, ignoring a leading batch dimension of any size. */
static int same_shape(const fk_tfl_tensor *a, const fk_tfl_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int d = 1; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return 1;
}

/* ---- shapes: every graph value is laid out as its TFLite tensor's shape
 * right-aligned into NHWC ([c] -> 1x1x1xc, [n,c] -> nx1x1xc), except the
 * `flat` aliases of a reshape across the batch. */

static fk_status nhwc_of(const conv_ctx *c, int i, const fk_tfl_tensor *t, fk_shape4 *s) {
    if (t->ndim > 4)
        return op_error(c, i, "tensor '%s' has %d dimensions (at most 4)",
                        t->name ? t->name : "", t->ndim);
    int d[4] = {1, 1, 1, 1};
    for (int k = 0; k < t->ndim; k++) d[4 - t->ndim + k] = t->shape[k];
    *s = (fk_shape4){d[0], d[1], d[2], d[3]};
    return FK_OK;
}

/* Value v laid out as `have`; make it `want` (a graph reshape unless they
 * agree). The batch must stay where it is. */
static fk_status relayout(conv_ctx *c, int i, int *v, fk_shape4 have, fk_shape4 want) {
    if (have.h == want.h && have.w == want.w && have.c == want.c) return FK_OK;
    if (have.n != want.n)
        return op_error(c, i, "moves values across the batch dimension");
    *v = fk__graph_reshape(c->g, *v, want.h, want.w, want.c);
    return *v < 0 ? graph_failed(c, i) : FK_OK;
}

/* SUB, MUL, DIV and the comparisons: two values, or a value and a
 * constant (either side), NumPy broadcasting over the NHWC layouts. */
static fk_status convert_binary(conv_ctx *c, int i, fk_binop bop) {
    const fk_tfl_op *op = &c->m->ops[i];
    if (op->n_inputs != 2) return op_error(c, i, "expects 2 inputs");
    const fk_tfl_tensor *k0 = const_input(c, i, 0), *k1 = const_input(c, i, 1);
    if (k0 && k1) return op_error(c, i, "both inputs are constants");
    int a = -1;
    fk_status st = data_input(c, i, k0 ? 1 : 0, 0, &a);
    if (st != FK_OK) return st;
    fk_act act;
    if ((st = map_act(c, i, op->activation, &act)) != FK_OK) return st;
    if (act.kind != FK_ACT_NONE && act.kind != FK_ACT_RELU && act.kind != FK_ACT_RELU6)
        return op_error(c, i, "fused activation %d on an elementwise operator", op->activation);
    int v;
    const fk_tfl_tensor *k = k0 ? k0 : k1;
    if (k) {
        fk_shape4 ks;
        if ((st = nhwc_of(c, i, k, &ks)) != FK_OK) return st;
        v = fk__graph_binary_const(c->g, bop, a, k->data, ks, k0 != NULL);
    } else {
        int b;
        if ((st = data_input(c, i, 1, 0, &b)) != FK_OK) return st;
        v = fk__graph_binary(c->g, bop, a, b);
    }
    if (v >= 0 && act.kind != FK_ACT_NONE)
        v = fk__graph_unary(c->g, act.kind == FK_ACT_RELU ? FK_UN_RELU : FK_UN_RELU6, v);
    return set_value(c, i, op->outputs[0], v);
}

/* STRIDED_SLICE of a tensor of up to 4 dimensions, constant begin / end /
 * strides; dimension k of the tensor is NHWC dimension 4 - ndim + k, the
 * leading NHWC dimensions it lacks are taken whole. */
static fk_status convert_slice(conv_ctx *c, int i) {
    const fk_tfl_op *op = &c->m->ops[i];
    int a = -1;
    fk_status st = data_input(c, i, 0, 0, &a);
    if (st != FK_OK) return st;
    const fk_tfl_tensor *x = &c->m->tensors[op->inputs[0]];
    const fk_tfl_tensor *y = &c->m->tensors[op->outputs[0]];
    const fk_tfl_tensor *b = const_input(c, i, 1), *e = const_input(c, i, 2),
                        *s = const_input(c, i, 3);
    if (op->ellipsis_mask || op->new_axis_mask)
        return op_error(c, i, "ellipsis or new-axis masks (%#x, %#x) are not supported",
                        op->ellipsis_mask, op->new_axis_mask);
    if (x->ndim > 4 || x->ndim < 1)
        return op_error(c, i, "slicing a tensor of %d dimensions (1 to 4)", x->ndim);
    int r = x->ndim;
    if (!b || !e || b->count != r || e->count != r || (s && s->count != r))
        return op_error(c, i, "begin, end and strides must be constants of %d values", r);
    fk_slice sp = {{0, 0, 0, 0}, {0, 0, 0, 0}, {1, 1, 1, 1}, 0, 0, 0};
    for (int k = 0; k < 4 - r; k++) sp.begin_mask |= 1u << k, sp.end_mask |= 1u << k;
    for (int k = 0; k < r; k++) {
        int d = 4 - r + k;
        unsigned bit = 1u << k;
        sp.begin[d] = (int)b->data[k];
        sp.end[d] = op->slice_offset ? (int)(b->data[k] + e->data[k]) : (int)e->data[k];
        sp.strides[d] = s ? (int)s->data[k] : 1;
        if (op->begin_mask & bit) sp.begin_mask |= 1u << d;
        if (op->end_mask & bit) sp.end_mask |= 1u << d;
        if (op->shrink_axis_mask & bit) sp.shrink_mask |= 1u << d;
    }
    int v = fk__graph_slice(c->g, a, &sp);
    if (v < 0) return graph_failed(c, i);
    /* The slice keeps a shrunk dimension as 1; the output tensor drops it. */
    fk_shape4 want = {1, 1, 1, 1};
    if ((st = nhwc_of(c, i, y, &want)) != FK_OK) return st;
    int kept[4] = {1, 1, 1, 1}, j = y->ndim - 1;
    for (int d = 3; d >= 4 - r; d--)
        kept[d] = (sp.shrink_mask & (1u << d)) ? 1 : (j >= 0 ? y->shape[j--] : 1);
    fk_shape4 have = {kept[0], kept[1], kept[2], kept[3]};
    if ((st = relayout(c, i, &v, have, want)) != FK_OK) return st;
    return set_value(c, i, op->outputs[0], v);
}

/* CONCATENATION along the last axis, as a chain of two-value concats. */
static fk_status convert_concat(conv_ctx *c, int i) {
    const fk_tfl_op *op = &c->m->ops[i];
    const fk_tfl_tensor *y = &c->m->tensors[op->outputs[0]];
    int axis = op->axis < 0 ? op->axis + y->ndim : op->axis;
    if (axis != y->ndim - 1)
        return op_error(c, i, "concatenation along axis %d of %d (only the last)", op->axis,
                        y->ndim);
    if (op->activation != FK_TFL_ACT_NONE)
        return op_error(c, i, "fused activation %d on a concatenation", op->activation);
    if (op->n_inputs < 1) return op_error(c, i, "no inputs");
    int v;
    fk_status st = data_input(c, i, 0, 0, &v);
    for (int k = 1; k < op->n_inputs && st == FK_OK; k++) {
        int b;
        st = data_input(c, i, k, 0, &b);
        if (st == FK_OK) v = fk__graph_concat(c->g, v, b);
        if (v < 0) return graph_failed(c, i);
    }
    if (st != FK_OK) return st;
    return set_value(c, i, op->outputs[0], v);
}

static fk_status convert_op(conv_ctx *c, int i) {
    const fk_tfl_model *m = c->m;
    const fk_tfl_op *op = &m->ops[i];
    if (op->n_outputs < 1) return op_error(c, i, "no output");
    int out_t = op->outputs[0];
    switch (op->code) {
    case FK_TFL_CONV_2D: return convert_conv(c, i);
    case FK_TFL_DEPTHWISE_CONV_2D: return convert_depthwise(c, i);
    case FK_TFL_FULLY_CONNECTED: return convert_fc(c, i);
    case FK_TFL_MAX_POOL_2D:
    case FK_TFL_AVERAGE_POOL_2D: return convert_pool(c, i);
    case FK_TFL_ADD: {
        int a, b;
        fk_act act;
        const fk_tfl_tensor *y = &m->tensors[out_t];
        fk_status st = data_input(c, i, 0, 0, &a);
        if (st == FK_OK) st = data_input(c, i, 1, 0, &b);
        if (st == FK_OK) st = map_act(c, i, op->activation, &act);
        /* a LEAKY_RELU (or other activation) after a residual add */
        if (st == FK_OK)
            st = fuse_activation(c, i, y->ndim ? y->shape[y->ndim - 1] : 1, &act, &out_t);
        if (st != FK_OK) return st;
        return set_value(c, i, out_t, fk__graph_add(c->g, a, b, act));
    }
    case FK_TFL_SUB: return convert_binary(c, i, FK_BIN_SUB);
    case FK_TFL_MUL: return convert_binary(c, i, FK_BIN_MUL);
    case FK_TFL_DIV: return convert_binary(c, i, FK_BIN_DIV);
    case FK_TFL_GREATER: return convert_binary(c, i, FK_BIN_GREATER);
    case FK_TFL_GREATER_EQUAL: return convert_binary(c, i, FK_BIN_GREATER_EQUAL);
    case FK_TFL_LESS: return convert_binary(c, i, FK_BIN_LESS);
    case FK_TFL_LESS_EQUAL: return convert_binary(c, i, FK_BIN_LESS_EQUAL);
    case FK_TFL_STRIDED_SLICE: return convert_slice(c, i);
    case FK_TFL_CONCATENATION: return convert_concat(c, i);
    case FK_TFL_CAST: {
        /* bool tensors are already float 1 / 0 in the graph */
        int a;
        fk_status st = data_input(c, i, 0, 0, &a);
        if (st != FK_OK) return st;
        int from = m->tensors[op->inputs[0]].type, to = m->tensors[out_t].type;
        if ((from != FK_TFL_BOOL && from != FK_TFL_FLOAT32) || to != FK_TFL_FLOAT32)
            return op_error(c, i, "cast from type %d to %d (only bool or float32 to "
                            "float32)", from, to);
        c->val[out_t] = c->val[op->inputs[0]];
        return FK_OK;
    }
    case FK_TFL_LOGISTIC: {
        int a;
        fk_status st = data_input(c, i, 0, 0, &a);
        if (st != FK_OK) return st;
        return set_value(c, i, out_t, fk__graph_sigmoid(c->g, a));
    }
    case FK_TFL_RESHAPE: {
        int a;
        fk_status st = data_input(c, i, 0, 0, &a);
        if (st != FK_OK) return st;
        tval v = c->val[op->inputs[0]];
        const fk_tfl_tensor *x = &m->tensors[op->inputs[0]], *y = &m->tensors[out_t];
        fk_shape4 have = {1, 1, 1, 1}, want = have;
        if (!v.flat && x->ndim <= 4 && y->ndim <= 4 && x->count == y->count &&
            nhwc_of(c, i, x, &have) == FK_OK && nhwc_of(c, i, y, &want) == FK_OK &&
            have.n == want.n) {
            /* values move between height, width and channels: an
             * elementwise op after it must see the new layout */
            st = relayout(c, i, &a, have, want);
            if (st != FK_OK) return st;
            return set_value(c, i, out_t, a);
        }
        /* across the batch: an alias only a flattening op may read */
        if (!same_shape(x, y)) v.flat = 1;
        c->val[out_t] = v;
        return FK_OK;
    }
    case FK_TFL_SOFTMAX: {
        int a;
        fk_status st = data_input(c, i, 0, 0, &a);
        if (st != FK_OK) return st;
        c->val[out_t] = c->val[op->inputs[0]];
        c->val[out_t].softmax = 1;
        c->val[out_t].beta = op->beta;
        return FK_OK;
    }
    case FK_TFL_REDUCE_MAX: {
        int sout, sops[5], a;
        if (!match_softmax(c, i, &sout, sops))
            return op_error(c, i, "only supported as part of a softmax");
        fk_status st = data_input(c, i, 0, 0, &a);
        if (st != FK_OK) return st;
        c->val[sout] = c->val[op->inputs[0]];
        c->val[sout].softmax = 1;
        c->val[sout].beta = 1.0f;
        for (int k = 0; k < 5; k++) c->done[sops[k]] = 1;
        return FK_OK;
    }
    case FK_TFL_DEQUANTIZE:
        if (m->tensors[out_t].data) return FK_OK; /* folded at load */
        return op_error(c, i, "dequantizing a computed tensor");
    case FK_TFL_PRELU:
    case FK_TFL_RELU:
    case FK_TFL_RELU6:
    case FK_TFL_TANH:
    case FK_TFL_LEAKY_RELU:
        return op_error(c, i, "a standalone activation (only fused after a conv, "
                        "fully-connected or add operator)");
    default:
        if (op->custom)
            return op_error(c, i, "custom operator '%s' is not supported", op->custom);
        return op_error(c, i, "not supported by facekit's graph");
    }
}

fk_status fk__tflite_build(const fk_tfl_model *m, fk_graph *g,
                          fk_tfl_output *outs, int cap, int *count) {
    if (!m || !g || !count || (cap > 0 && !outs))
        return fk__fail(FK_EINVAL, "fk__tflite_build: bad arguments");
    *count = 0;
    if (m->n_inputs != 1)
        return fk__fail(FK_EFORMAT, "%s: the model has %d inputs; facekit's graph "
                       "takes exactly one", m->what, m->n_inputs);
    conv_ctx c = {m, g, NULL, NULL, NULL, NULL};
    size_t nt = (size_t)(m->n_tensors ? m->n_tensors : 1);
    c.val = malloc(sizeof *c.val * nt);
    c.uses = calloc(nt, sizeof *c.uses);
    c.is_output = calloc(nt, sizeof *c.is_output);
    c.done = calloc((size_t)(m->n_ops ? m->n_ops : 1), 1);
    fk_status st = FK_OK;
    if (!c.val || !c.uses || !c.is_output || !c.done) {
        st = fk__fail(FK_ENOMEM, "%s: out of memory", m->what);
        goto out;
    }
    for (size_t t = 0; t < nt; t++) c.val[t] = (tval){-1, 0, 1.0f, 0};
    for (int i = 0; i < m->n_ops; i++)
        for (int k = 0; k < m->ops[i].n_inputs; k++)
            if (m->ops[i].inputs[k] >= 0) c.uses[m->ops[i].inputs[k]]++;
    for (int k = 0; k < m->n_outputs; k++) c.is_output[m->outputs[k]] = 1;
    c.val[m->inputs[0]].value = 0;

    for (int i = 0; i < m->n_ops && st == FK_OK; i++)
        if (!c.done[i]) st = convert_op(&c, i);
    if (st != FK_OK) goto out;

    for (int k = 0; k < m->n_outputs; k++) {
        int t = m->outputs[k];
        if (c.val[t].value < 0) {
            st = fk__fail(FK_EFORMAT, "%s: output '%s' is not computed by the graph",
                         m->what, m->tensors[t].name ? m->tensors[t].name : "");
            goto out;
        }
        fk__graph_mark_output(g, c.val[t].value);
        if (k < cap)
            outs[k] = (fk_tfl_output){m->tensors[t].name, t, c.val[t].value,
                                      c.val[t].softmax, c.val[t].beta};
    }
    *count = m->n_outputs;
    st = fk__graph_fuse(g); /* fold what the file left separate (see graph.h) */
out:
    free(c.val);
    free(c.uses);
    free(c.is_output);
    free(c.done);
    return st;
}
