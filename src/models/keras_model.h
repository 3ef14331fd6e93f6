/*
 * keras_model.h - what the deepface recognizers (VGG-Face, DeepID, ...)
 * share: finding the user's own .h5 weights, building a graph layer by
 * layer from them, and embedding as deepface's represent does.
 *
 * Their weights are in no registry facekit can fetch from; a deepface user
 * already has them. A model's description names deepface's file
 * (fk_model_desc.user_file, e.g. "vgg_face_weights.h5"), and the file is
 * looked for, first found wins:
 *   1. the path the caller gives (--weights FILE, fk_options.weights);
 *   2. $DEEPFACE_HOME/.deepface/weights/<file> (DEEPFACE_HOME defaults to
 *      $HOME, as in deepface's folder_utils.get_deepface_home);
 *   3. <facekit home>/deepface/<file>.
 * When none holds it, FK_EMODEL says where it looked and what deepface
 * calls the file.
 *
 * Each model file holds only its architecture: a build function that asks
 * for its layers in Keras' order through fk__keras_conv / fk__keras_dense
 * (or fk__keras_h5_layer directly for anything else) and returns the output
 * value. Everything else (opening, the layer-count check at the end,
 * graph fusion, batching, the input fill, L2) is here, once.
 */
#ifndef FK_MODELS_KERAS_MODEL_H
#define FK_MODELS_KERAS_MODEL_H

#include <stddef.h>

#include "models/model.h"
#include "nn/graph.h"
#include "nn/keras_h5.h"

/* Where the weights of `m` are: the first of the places above holding a
 * file (override may be NULL). FK_EMODEL listing the places otherwise. */
fk_status fk__user_weights_find(const char *home, const fk_model_desc *m,
                               const char *override, char *path, size_t cap);

/* Appends the model's layers to g (value 0 is the H x W x 3 input) reading
 * them from k in order; sets *out to the value the model returns. */
typedef fk_status (*fk_keras_build_fn)(fk_keras_h5 *k, fk_graph *g, int *out);

/* One deepface model's build recipe (static, in the model's file). */
typedef struct fk_keras_arch {
    const fk_model_desc *desc;  /* name, input_w/h, dim, input_norm */
    fk_keras_build_fn build;
    int l2;                     /* L2-normalise the output, as deepface's
                                   forward does for this model */
} fk_keras_arch;

typedef struct fk_keras_net fk_keras_net;

/* Load arch's network from the .h5 at `path`. */
fk_status fk__keras_net_load(const fk_keras_arch *arch, const char *path,
                            fk_keras_net **out);
void fk__keras_net_free(fk_keras_net *net);
/* Embed n faces (RGB, any size: each is letterboxed to the model's input
 * as deepface's represent does, see fk__input_norm_fill_letterbox) into
 * n * dim floats. norm NULL: the model's own (desc input_norm). */
fk_status fk__keras_net_embed(fk_keras_net *net, const fk_image *const *faces, int n,
                             const fk_input_norm *norm, fk_pool *pool, float *out);
/* The graph it runs, planned for *h x *w (benchmarks, tests). */
fk_graph *fk__keras_net_graph(fk_keras_net *net, int *h, int *w);
/* Run the graph on n ready inputs (n x H x W x 3 floats, as the model's
 * input); the outputs (n * dim) are post-processed (L2) as embed's. For the
 * reference tests, which feed exactly the reference's inputs. */
fk_status fk__keras_net_run(fk_keras_net *net, const float *input, int n, fk_pool *pool,
                           float *out);

/* ---- layer helpers for build functions ----------------------------------
 * The next layer of k as a Keras Conv2D (kernel kh x kw x in_c x out_c +
 * bias) or Dense (in x out + bias) named `name` (deepface's name, for
 * messages), appended to g. Return the new value, or -1 with *st set;
 * once *st is not FK_OK they do nothing, so a builder checks once. */
int fk__keras_conv(fk_keras_h5 *k, fk_graph *g, int in, const char *name, int kh, int kw,
                  int in_c, int out_c, int stride, fk_padding pad, fk_act_kind act,
                  fk_status *st);
int fk__keras_dense(fk_keras_h5 *k, fk_graph *g, int in, const char *name, int in_f,
                   int out_f, fk_act_kind act, fk_status *st);
/* The same with all of Keras' Conv2D / Dense: kernel kh x kw (non-square,
 * 1x7, 7x1, allowed), strides sh x sw (the graph runs equal strides only:
 * sh != sw is FK_EINVAL naming the layer), use_bias 0 for use_bias=False
 * (the layer then holds its kernel only). */
int fk__keras_conv_ex(fk_keras_h5 *k, fk_graph *g, int in, const char *name, int kh,
                     int kw, int in_c, int out_c, int sh, int sw, fk_padding pad,
                     int use_bias, fk_act_kind act, fk_status *st);
int fk__keras_dense_ex(fk_keras_h5 *k, fk_graph *g, int in, const char *name, int in_f,
                      int out_f, int use_bias, fk_act_kind act, fk_status *st);

/* Keras BatchNormalization at inference: y = gamma (x - mean) /
 * sqrt(var + eps) + beta per channel. Its weights, in Keras' order, are
 * gamma (only with scale=True), beta (only with center=True), moving_mean,
 * moving_variance: 4 by default, 3 with scale=False (deepface's Facenet).
 * flags: FK_KERAS_BN_SCALE | FK_KERAS_BN_CENTER as the layer was built
 * (FK_KERAS_BN_DEFAULT for Keras' defaults); eps: the layer's epsilon
 * (Keras' default 1e-3; the architecture states its own). */
enum { FK_KERAS_BN_SCALE = 1, FK_KERAS_BN_CENTER = 2 };
#define FK_KERAS_BN_DEFAULT (FK_KERAS_BN_SCALE | FK_KERAS_BN_CENTER)
/* Fold BN weights (w in the order above, as flags say) into a per-channel
 * scale s and shift t (c each): y = s x + t. */
void fk__keras_bn_fold(const float *const *w, unsigned flags, float eps, int c, float *s,
                      float *t);
/* The next layer of k as a BatchNormalization of the c channels of `in`
 * (then act, FK_ACT_NONE or FK_ACT_RELU), appended as x * s + t: when `in`
 * comes from a convolution without activation, fk__graph_fuse folds both
 * into its filter and bias (one node, as if the file had no BN). */
int fk__keras_bn(fk_keras_h5 *k, fk_graph *g, int in, const char *name, int c,
                unsigned flags, float eps, fk_act_kind act, fk_status *st);

/* ---- functional models --------------------------------------------------
 * A Keras functional model (branches, concatenations, residual adds) has
 * its layers, and so its file's weights, in Keras' order, not the order the
 * code built them: Keras (Network._map_graph_network, the same in Keras 2
 * and tf.keras) walks the graph depth-first from the output, numbering
 * each layer when first met, gives each layer its depth (the longest path
 * to the output), and lists layers by decreasing depth, ties by that
 * number. Weightless layers (Activation, Lambda, Add, Dropout, ...) count
 * in the depths, so every Keras layer is recorded, then fk__kf_build
 * orders them as Keras does, reads the file's layers in that order and
 * appends the graph in build order.
 *
 * Each recorder call takes layer ids (0 is the input) and returns the new
 * layer's id, or -1 once anything failed (then calls do nothing and
 * fk__kf_build reports the first error). Names are deepface's (messages). */
typedef struct fk_keras_fn fk_keras_fn;

/* A recorder for a model whose input has in_c channels (NULL: no memory;
 * fk__kf_build(NULL, ...) then says so). */
fk_keras_fn *fk__kf_new(int in_c);
void fk__kf_free(fk_keras_fn *f);
/* Conv2D(out_c, (kh, kw), strides=stride, padding, use_bias), no activation. */
int fk__kf_conv(fk_keras_fn *f, int in, const char *name, int out_c, int kh, int kw,
               int stride, fk_padding pad, int use_bias);
/* Dense(out_f, use_bias) of a 1x1 (pooled or flattened) input. */
int fk__kf_dense(fk_keras_fn *f, int in, const char *name, int out_f, int use_bias);
/* BatchNormalization as fk__keras_bn (flags, eps). */
int fk__kf_bn(fk_keras_fn *f, int in, const char *name, unsigned flags, float eps);
int fk__kf_relu(fk_keras_fn *f, int in);                   /* Activation('relu') */
int fk__kf_pool(fk_keras_fn *f, int in, fk_op op, int k, int stride, fk_padding pad);
int fk__kf_concat(fk_keras_fn *f, int n, const int *in);   /* Concatenate(axis=3) */
int fk__kf_add(fk_keras_fn *f, int a, int b);              /* add([a, b]) */
int fk__kf_scale(fk_keras_fn *f, int in, float s);         /* Lambda: x * s */
int fk__kf_gap(fk_keras_fn *f, int in);                    /* GlobalAveragePooling2D */
int fk__kf_pass(fk_keras_fn *f, int in);  /* Dropout, Flatten, ...: identity */
int fk__kf_zeropad(fk_keras_fn *f, int in, const char *name, int pad); /* ZeroPadding2D(pad) */
int fk__kf_prelu(fk_keras_fn *f, int in, const char *name); /* PReLU(shared_axes=[1, 2]) */
int fk__kf_sigmoid(fk_keras_fn *f, int in);                /* Activation('sigmoid') */
int fk__kf_mul(fk_keras_fn *f, int a, int b);  /* multiply([a, b]); b may be 1x1 (SE) */
/* Flatten of an h x w input (Dense after it reads h * w * c values). */
int fk__kf_flatten(fk_keras_fn *f, int in, int h, int w);
/* Read the weights of f's layers from k in Keras' order and append the
 * network to g; *out is the graph value of layer `out_layer`, which is the
 * model's output (the walk starts there). */
fk_status fk__kf_build(fk_keras_fn *f, fk_keras_h5 *k, fk_graph *g, int out_layer, int *out);

/* Hooks for a deepface model's description: load (discovers the file in
 * `home`'s places without an override) is given per model, as it needs its
 * arch; these are shared. */
void fk__keras_free_hook(void *model);
fk_status fk__keras_embed_hook(void *model, const fk_image *const *faces, int n,
                               const fk_input_norm *norm, fk_pool *pool, float *out);

#endif
