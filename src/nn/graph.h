/*
 * graph.h - a small graph IR for feed-forward networks, planned once per
 * input shape and then run without allocating.
 *
 * A graph is a list of nodes in execution order. Each node reads one or two
 * values (tensors, NHWC float32) and writes one new value. Value 0 is the
 * graph input. Weights are referenced, not copied: they belong to whoever
 * built the graph (usually an fk_weights plus tensors folded at load time,
 * kept alive in the graph's own `owned` list).
 *
 * Lifecycle (create -> plan -> run, like XNNPACK's operators):
 *   fk__graph_new            an empty graph with one input of `c` channels
 *   fk__graph_conv/...       append nodes; each returns the new value id
 *   fk__graph_mark_output    values the caller will read after run
 *   fk__graph_plan(n, h, w)  infer every shape and lay out every value in one
 *                           arena (values whose lifetimes do not overlap share
 *                           memory); sizes the convolution workspace
 *   fk__graph_run(input)     execute; outputs are read with fk__graph_output
 *                           and stay valid until the next plan or run
 * Re-planning with the same shape is free, so callers may plan before each
 * run.
 */
#ifndef FK_NN_GRAPH_H
#define FK_NN_GRAPH_H

#include "facekit.h"
#include "nn/kernels.h"

typedef struct fk_graph fk_graph;

typedef enum fk_op {
    FK_OP_CONV,       /* conv2d + bias + activation */
    FK_OP_DEPTHWISE,  /* depthwise conv + bias + activation */
    FK_OP_MAXPOOL,
    FK_OP_AVGPOOL,
    FK_OP_ADD,        /* a + b, + activation; when shapes differ, each operand
                         is zero-extended (at the end of H, W and C) to the
                         larger size in every dimension */
    FK_OP_MEAN_HW,    /* mean over H and W: [n,h,w,c] -> [n,1,1,c] */
    FK_OP_FC,         /* flatten [n,h,w,c] to [n, h*w*c], matmul + bias + act
                         -> [n,1,1,out] */
    FK_OP_SIGMOID,    /* elementwise logistic */
    /* general ops (TF.js graph models; see the second block of builders) */
    FK_OP_BINARY,     /* a op b, NumPy broadcasting; b a value or a constant */
    FK_OP_UNARY,      /* elementwise fk_unop */
    FK_OP_PAD,        /* constant padding of any dimension */
    FK_OP_REDUCE,     /* sum / mean / max over chosen dimensions (kept as 1) */
    FK_OP_SOFTMAX,    /* softmax over channels */
    FK_OP_RESHAPE,    /* same values, new h x w x c (batch unchanged) */
    FK_OP_SLICE,      /* strided slice (fk_slice) */
    FK_OP_CONCAT,     /* a then b along channels */
    FK_OP_LOCAL       /* locally connected 2-D + bias + activation */
} fk_op;

/* A strided slice as TensorFlow's StridedSlice states it, in NHWC (index 0
 * = n ... 3 = c; bit k of a mask = dimension k). Per dimension of size d:
 * begin and end count from the end when negative and are clamped into the
 * dimension; a begin_mask bit means "from the first element" (the last for
 * a negative stride) and an end_mask bit "to the end"; the output has
 * ceil((end - begin) / stride) elements. A shrink_mask bit takes the single
 * element at begin (the dimension becomes 1; the front end drops it from
 * its own rank). Strides are nonzero. Resolved at plan time against the
 * real input shape, so masks and negative indices follow the batch size.
 * Ellipsis and new axes are the front end's to expand or refuse. */
typedef struct fk_slice {
    int begin[4], end[4], strides[4];
    unsigned begin_mask, end_mask, shrink_mask;
} fk_slice;

/* Padding of a window op: TensorFlow's SAME or VALID, or explicit. */
typedef enum fk_padding { FK_PAD_VALID = 0, FK_PAD_SAME = 1 } fk_padding;

fk_status fk__graph_new(int in_channels, fk_graph **out);
void fk__graph_free(fk_graph *g);

/* Append nodes. Weights must outlive the graph (see fk__graph_keep). On a bad
 * argument (unknown value, channel mismatch) they return -1 and the graph
 * remembers the error, which fk__graph_plan then reports. */
int fk__graph_conv(fk_graph *g, int in, const float *filt, const float *bias,
                  int kh, int kw, int in_c, int out_c, int stride,
                  fk_padding pad, fk_act act);
int fk__graph_depthwise(fk_graph *g, int in, const float *filt,
                       const float *bias, int kh, int kw, int c, int stride,
                       fk_padding pad, fk_act act);
int fk__graph_pool(fk_graph *g, fk_op op, int in, int k, int stride,
                  fk_padding pad);
int fk__graph_add(fk_graph *g, int a, int b, fk_act act);
int fk__graph_mean_hw(fk_graph *g, int in);
int fk__graph_fc(fk_graph *g, int in, const float *w, const float *bias,
                int in_features, int out_features, fk_act act);
int fk__graph_sigmoid(fk_graph *g, int in);
/* Keras LocallyConnected2D (VALID, the only padding Keras has for it):
 * filt [oh * ow][kh * kw * in_c][out_c], bias [oh][ow][out_c] (kernels.h,
 * fk__local). The output size oh x ow is fixed by the weights, so planning
 * fails unless the input gives exactly that. */
int fk__graph_local(fk_graph *g, int in, const float *filt, const float *bias,
                   int kh, int kw, int in_c, int out_c, int stride, int oh, int ow,
                   fk_act act);
void fk__graph_mark_output(fk_graph *g, int value);

/* General ops, enough to execute TensorFlow graphs (see tfjs_graph.h).
 * Shapes follow NHWC with NumPy broadcasting (kernels.h). The constant of
 * fk__graph_binary_const has shape ks and must outlive the graph; with
 * const_first the constant is the left operand (k - a, k / a). */
int fk__graph_binary(fk_graph *g, fk_binop op, int a, int b);
int fk__graph_binary_const(fk_graph *g, fk_binop op, int a, const float *k,
                          fk_shape4 ks, int const_first);
int fk__graph_unary(fk_graph *g, fk_unop op, int in);
/* pads: {n0, n1, h0, h1, w0, w1, c0, c1} */
int fk__graph_pad(fk_graph *g, int in, const int pads[8], float value);
/* axes: {n, h, w, c}, 1 = reduce that dimension */
int fk__graph_reduce(fk_graph *g, fk_reduce_op op, int in, const int axes[4]);
int fk__graph_softmax(fk_graph *g, int in);
/* View the value as batch x h x w x c (copied; the element count must
 * match at plan time). */
int fk__graph_reshape(fk_graph *g, int in, int h, int w, int c);
/* Strided slice of `in` (see fk_slice). An empty result is a plan error. */
int fk__graph_slice(fk_graph *g, int in, const fk_slice *spec);
/* a and b side by side along channels (same batch, height and width). */
int fk__graph_concat(fk_graph *g, int a, int b);
/* The first error met while building (FK_OK if none), with its message
 * set again for this thread when it is an error. */
fk_status fk__graph_build_status(const fk_graph *g);
/* Channels of a value as known while building (-1 for a bad id). */
int fk__graph_channels(const fk_graph *g, int value);

/* Fold into each convolution and depthwise convolution the ops that only
 * rescale or shift its output per channel or clip it, as TensorFlow graphs
 * write batch-norm and Keras activations: x * k and x + k, x - k with a
 * per-channel or scalar constant (into the filter and bias, while it has no
 * activation), then Relu or Relu6, min(., 6) after a ReLU (ReLU6) and
 * max(., 0) after a ReLU (a no-op). Only a node that is the single reader
 * of the convolution's output is folded (never a graph output); the
 * convolution then writes that node's output value, so value ids the caller
 * holds stay valid. Folded weights are new buffers the graph keeps; the
 * caller's are not touched. Residual adds after a convolution (the other
 * operand computed before it; fk__graph_add or a two-value add) go into its
 * epilogue, with the add's activation or a Relu after it, and PReLU
 * written as max(x, 0) + gamma * min(x, 0) into its activation. Call after
 * building, before planning; answers change only by float rounding. The
 * model loaders (TF.js graphs, TFLite files, the face-api networks) all
 * call it. */
fk_status fk__graph_fuse(fk_graph *g);

/* Hand the graph a malloc'd buffer to free with it (folded weights). */
fk_status fk__graph_keep(fk_graph *g, void *buffer);

/* Infer shapes and lay out memory for an input of n x h x w. */
fk_status fk__graph_plan(fk_graph *g, int n, int h, int w);
/* Run on `input` ([n][h][w][c] as planned). */
fk_status fk__graph_run(fk_graph *g, const float *input, fk_pool *pool);
/* Run with the plain reference kernels instead of the fast ones (tests use
 * this to check that speed never changes answers). Also enabled for every
 * graph by the environment variable FK_REFERENCE_KERNELS=1. */
void fk__graph_use_reference(fk_graph *g, int on);
/* An output's data and shape after run. */
const float *fk__graph_output(const fk_graph *g, int value, fk_shape4 *shape);

/* Statistics of the current plan: bytes of the arena and workspace, and the
 * multiply-adds of one run (for benchmarks). */
size_t fk__graph_arena_bytes(const fk_graph *g);
/* Nodes the graph runs (fewer after fk__graph_fuse). */
int fk__graph_node_count(const fk_graph *g);
double fk__graph_macs(const fk_graph *g);

#endif
