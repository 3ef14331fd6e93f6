/*
 * kernels.h - the compute kernels of the nn layer.
 *
 * Layout: activations are NHWC float32, contiguous. Convolution filters are
 * HWIO ([kh][kw][in_c][out_c], TensorFlow's layout), depthwise filters are
 * [kh][kw][c] (channel multiplier 1), fully-connected weights are
 * [in][out].
 *
 * Each op has a reference implementation (`_ref`: plain loops, written to be
 * obviously right; the tests' yardstick) and a fast one (no suffix: im2col +
 * a matrix product for convolutions and matmul - facekit's own on AVX-512
 * CPUs (gemm.h), OpenBLAS sgemm elsewhere - channel-vectorised loops for
 * depthwise and elementwise ops, split over the thread pool). Both compute
 * the same function; the fast one may reorder float sums.
 *
 * Kernels never allocate: an op that needs scratch memory says how much via
 * its `_workspace` function and takes the buffer from the caller (the graph
 * plans it once per input shape).
 */
#ifndef FK_NN_KERNELS_H
#define FK_NN_KERNELS_H

#include <stddef.h>

#include "core/threadpool.h"

typedef struct fk_shape4 {
    int n, h, w, c;
} fk_shape4;

typedef enum fk_act_kind {
    FK_ACT_NONE = 0,
    FK_ACT_RELU,
    FK_ACT_RELU6,
    FK_ACT_LEAKY,  /* x < 0 ? alpha * x : x */
    FK_ACT_PRELU,  /* x < 0 ? slope[c] * x : x, per channel */
    FK_ACT_SIGMOID,
    FK_ACT_TANH
} fk_act_kind;

typedef struct fk_act {
    fk_act_kind kind;
    float alpha;         /* FK_ACT_LEAKY */
    const float *slope;  /* FK_ACT_PRELU: one per output channel */
} fk_act;

/* Window geometry for convolutions and pools. Output size:
 *   oh = (h + pad_top + pad_bottom - kh) / stride_h + 1   (same for w) */
typedef struct fk_window {
    int kh, kw;
    int stride_h, stride_w;
    int pad_top, pad_left, pad_bottom, pad_right;
} fk_window;

/* Fill the pads of `win` (kh, kw, strides already set) for TensorFlow's
 * padding modes: same != 0 gives SAME (output = ceil(in / stride), the extra
 * pad going to the bottom/right), same == 0 gives VALID (no pad). */
void fk__window_pad_tf(fk_window *win, int in_h, int in_w, int same);
/* Output spatial size of a window over in_h x in_w. */
void fk__window_out(const fk_window *win, int in_h, int in_w, int *out_h,
                   int *out_w);

/* Apply an activation in place to `count` values of `c` channels each
 * (channel = index % c). */
void fk__act_apply(const fk_act *act, float *x, long count, int c);

/* ---- convolution: out = act(conv(in, filt) + bias) --------------------- *
 * in: is (NHWC); filt: [kh][kw][is.c][oc]; bias: [oc] or NULL;
 * out: [is.n][oh][ow][oc]. Padded input positions read as 0. */
void fk__conv2d_ref(const float *in, fk_shape4 is, const float *filt,
                   const float *bias, int oc, const fk_window *win,
                   const fk_act *act, float *out);
size_t fk__conv2d_workspace(fk_shape4 is, int oc, const fk_window *win,
                           int threads);
void fk__conv2d(const float *in, fk_shape4 is, const float *filt,
               const float *bias, int oc, const fk_window *win,
               const fk_act *act, float *out, float *workspace, fk_pool *pool);
/* The same with a residual added before the activation:
 * out = act(conv(in, filt) + bias + res), res shaped like out (a ResNet
 * block's shortcut, fused by fk__graph_fuse). res may be NULL; it must not
 * overlap out. */
void fk__conv2d_res(const float *in, fk_shape4 is, const float *filt,
                   const float *bias, const float *res, int oc,
                   const fk_window *win, const fk_act *act, float *out,
                   float *workspace, fk_pool *pool);

/* ---- depthwise convolution (channel multiplier 1) ---------------------- *
 * filt: [kh][kw][c]; bias: [c] or NULL; out: [n][oh][ow][c]. */
void fk__depthwise_ref(const float *in, fk_shape4 is, const float *filt,
                      const float *bias, const fk_window *win,
                      const fk_act *act, float *out);
void fk__depthwise(const float *in, fk_shape4 is, const float *filt,
                  const float *bias, const fk_window *win, const fk_act *act,
                  float *out, fk_pool *pool);

/* ---- locally connected (Keras LocallyConnected2D, no padding) --------- *
 * A convolution whose filter differs at every output position: out[n][y][x]
 * = act(patch(y, x) . filt[y * ow + x] + bias[y][x]), where the patch is
 * the input window at (y * stride_h, x * stride_w) flattened in (ky, kx,
 * ci) order. filt: [oh * ow][kh * kw * is.c][oc] (Keras' layout); bias:
 * [oh][ow][oc] or NULL; out: [is.n][oh][ow][oc]. win's pads must be 0. */
void fk__local_ref(const float *in, fk_shape4 is, const float *filt,
                  const float *bias, int oc, const fk_window *win,
                  const fk_act *act, float *out);
/* The same split by output positions over the pool, the batch inner so a
 * position's filter is read from memory once per run, channels in vectors. */
void fk__local(const float *in, fk_shape4 is, const float *filt,
              const float *bias, int oc, const fk_window *win,
              const fk_act *act, float *out, fk_pool *pool);

/* ---- fully connected: out[m][n] = act(in[m][k] . w[k][n] + bias[n]) ---- */
void fk__fc_ref(const float *in, int m, int k, const float *w,
               const float *bias, int n, const fk_act *act, float *out);
void fk__fc(const float *in, int m, int k, const float *w, const float *bias,
           int n, const fk_act *act, float *out, fk_pool *pool);

/* ---- pooling ------------------------------------------------------------ *
 * Max pool ignores padded positions; average pool divides by the number of
 * real (unpadded) positions in the window, as TensorFlow does. */
void fk__maxpool_ref(const float *in, fk_shape4 is, const fk_window *win,
                    float *out);
void fk__maxpool(const float *in, fk_shape4 is, const fk_window *win,
                float *out, fk_pool *pool);
void fk__avgpool_ref(const float *in, fk_shape4 is, const fk_window *win,
                    float *out);
void fk__avgpool(const float *in, fk_shape4 is, const fk_window *win,
                float *out, fk_pool *pool);

/* ---- elementwise with broadcasting of the last axis -------------------- *
 * out[i] = a[i] op b[i % b_count] (b_count divides count; b_count == count is
 * plain elementwise, b_count == c is per-channel, 1 is a scalar). out may
 * alias a. Then act is applied (c = b_count for PReLU). */
void fk__add(const float *a, long count, const float *b, long b_count,
            const fk_act *act, float *out);
/* The same-shape case of fk__add, for rows of c channels, vectorised and
 * split by rows over the pool (rows stay with the thread whose cache likely
 * holds them from the layer before). out may alias a or b. */
void fk__add_rows(const float *a, const float *b, long rows, int c,
                 const fk_act *act, float *out, fk_pool *pool);
void fk__mul(const float *a, long count, const float *b, long b_count,
            const fk_act *act, float *out);
/* out[i] = a[i] * scale[i % c] + shift[i % c]  (folded batch-norm / affine).
 * out may alias a. */
void fk__scale_shift(const float *a, long count, int c, const float *scale,
                    const float *shift, const fk_act *act, float *out);

/* ---- reductions and normalisation -------------------------------------- */
/* Softmax over the last axis: rows of length c. out may alias in. */
void fk__softmax(const float *in, long rows, int c, float *out);
/* Mean over H and W: in NHWC -> out [n][c]. */
void fk__mean_hw(const float *in, fk_shape4 is, float *out);

/* ---- general tensor ops (the TF.js graph-model executor needs these) --- *
 * Shapes are NHWC 4-D; lower-rank TensorFlow tensors are right-aligned into
 * them ([c] -> 1x1x1xc, [n,c] -> nx1x1xc). */

/* Elementwise binary op with NumPy-style broadcasting: in every dimension
 * the operands' sizes are equal or one of them is 1; so is the output
 * shape (the larger of the two). out may alias a when sa equals so. */
typedef enum fk_binop {
    FK_BIN_ADD, FK_BIN_SUB, FK_BIN_MUL, FK_BIN_DIV, FK_BIN_MAX, FK_BIN_MIN,
    /* comparisons: 1.0 where true, 0.0 where false (TensorFlow's bool
     * tensors, which models cast to float and multiply) */
    FK_BIN_GREATER, FK_BIN_GREATER_EQUAL, FK_BIN_LESS, FK_BIN_LESS_EQUAL
} fk_binop;
void fk__binary_ref(fk_binop op, const float *a, fk_shape4 sa, const float *b,
                   fk_shape4 sb, float *out, fk_shape4 so);
void fk__binary(fk_binop op, const float *a, fk_shape4 sa, const float *b,
               fk_shape4 sb, float *out, fk_shape4 so, fk_pool *pool);

/* Elementwise unary op over `count` values. out may alias in. */
typedef enum fk_unop {
    FK_UN_RELU, FK_UN_RELU6, FK_UN_ABS, FK_UN_SQUARE, FK_UN_SQRT,
    FK_UN_RSQRT, FK_UN_SIGMOID, FK_UN_TANH, FK_UN_NEG, FK_UN_EXP
} fk_unop;
void fk__unary_ref(fk_unop op, const float *in, long count, float *out);
void fk__unary(fk_unop op, const float *in, long count, float *out,
              fk_pool *pool);

/* Constant padding: pads = {n0, n1, h0, h1, w0, w1, c0, c1} elements before
 * and after each dimension (all >= 0), filled with `value`.
 * out: [n+n0+n1][h+h0+h1][w+w0+w1][c+c0+c1]. */
void fk__pad_ref(const float *in, fk_shape4 is, const int pads[8], float value,
                float *out);
void fk__pad(const float *in, fk_shape4 is, const int pads[8], float value,
            float *out, fk_pool *pool);

/* Reduction over the dimensions flagged in axes[4] (n, h, w, c); the output
 * keeps every dimension, reduced ones as 1. */
typedef enum fk_reduce_op { FK_RED_SUM, FK_RED_MEAN, FK_RED_MAX } fk_reduce_op;
void fk__reduce_ref(fk_reduce_op op, const float *in, fk_shape4 is,
                   const int axes[4], float *out);
void fk__reduce(fk_reduce_op op, const float *in, fk_shape4 is,
               const int axes[4], float *out);

/* Strided slice: out[n][y][x][c] = in[start[0] + n * step[0]]
 * [start[1] + y * step[1]][start[2] + x * step[2]][start[3] + c * step[3]]
 * for the output shape os; steps may be negative (reversal), every index
 * read must be inside is (the graph resolves TensorFlow's begin / end /
 * masks into start and os, graph.h). */
void fk__slice_ref(const float *in, fk_shape4 is, const int start[4],
                  const int step[4], float *out, fk_shape4 os);
/* The same, copying whole runs of channels when step[3] is 1. */
void fk__slice(const float *in, fk_shape4 is, const int start[4],
              const int step[4], float *out, fk_shape4 os, fk_pool *pool);

/* Concatenation along channels: out[p] = a[p] (sa.c values) then b[p]
 * (sb.c values) for every pixel p; sa and sb agree in n, h and w. */
void fk__concat_channels(const float *a, fk_shape4 sa, const float *b,
                        fk_shape4 sb, float *out);

#endif
