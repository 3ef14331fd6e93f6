/*
 * tfjs_graph.h - execute TensorFlow.js graph models (model.json with a
 * GraphDef in `modelTopology` and a weights manifest) on the fk_graph IR.
 *
 * Loading parses the GraphDef (node[]: name, op, input, attr), resolves
 * every Const node through the weights manifest (fk__weights_load_tfjs_text),
 * walks back from the requested outputs so only the nodes they need are
 * built, folds every op whose inputs are all constants into a new constant,
 * and appends the rest to an fk_graph. Shapes are inferred statically for a
 * batch of one at the Placeholder's height and width; TensorFlow tensors of
 * rank < 4 are laid out right-aligned in NHWC ([n, c] -> n x 1 x 1 x c), so
 * NumPy broadcasting carries over unchanged.
 *
 * Supported ops: Placeholder, Const, Identity, Conv2D, _FusedConv2D
 * (fused BiasAdd, Relu, Relu6, Sigmoid, Tanh, Prelu, LeakyRelu),
 * DepthwiseConv2dNative, FusedDepthwiseConv2dNative, MatMul, _FusedMatMul,
 * BiasAdd, Add, AddV2, Sub, Mul, RealDiv, Maximum, Minimum, Relu, Relu6,
 * Abs, Square, Sqrt, Rsqrt, Sigmoid, Tanh, Neg, Exp, Softmax, Sum, Mean,
 * Max, MaxPool, AvgPool, Pad, PadV2, Reshape, Squeeze, ExpandDims. Anything
 * else is FK_EFORMAT naming the node and the op. Not supported: dilated
 * windows, channel multipliers > 1, unequal strides, ops that change the
 * batch dimension.
 */
#ifndef FK_NN_TFJS_GRAPH_H
#define FK_NN_TFJS_GRAPH_H

#include "facekit.h"
#include "nn/graph.h"
#include "core/threadpool.h"

typedef struct fk_tfjs_model fk_tfjs_model;

/* Load the graph model at `json_path` (its bins beside it) and build the
 * nodes that `n_outputs` named outputs need (a trailing ":0" is ignored).
 * `what` names the model in errors. */
fk_status fk__tfjs_model_load(const char *json_path, const char *what,
                             const char *const *outputs, int n_outputs,
                             fk_tfjs_model **out);
void fk__tfjs_model_free(fk_tfjs_model *m);

/* The Placeholder's height, width and channels. */
void fk__tfjs_model_input_shape(const fk_tfjs_model *m, int *h, int *w,
                               int *c);
/* The built graph (for reference-kernel runs and statistics). */
fk_graph *fk__tfjs_model_graph(fk_tfjs_model *m);

/* Run on one input image [h][w][c] as the Placeholder declares. */
fk_status fk__tfjs_model_run(fk_tfjs_model *m, const float *input,
                            fk_pool *pool);
/* Run on a batch of n inputs, one [h][w][c] image after another. Output i
 * then holds n items of its count, item k at k * count. */
fk_status fk__tfjs_model_run_batch(fk_tfjs_model *m, int n, const float *input,
                                  fk_pool *pool);
/* Output i (in the order requested at load) after a run: its values and
 * element count (per item). */
const float *fk__tfjs_model_result(const fk_tfjs_model *m, int i, long *count);

#endif
