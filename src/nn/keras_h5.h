/*
 * keras_h5.h - Keras HDF5 weight files (`model.save_weights("x.h5")`, and
 * the `model_weights` group of a whole-model `model.save`), read the way
 * Keras' own load_weights reads them.
 *
 * The layout Keras 2 writes:
 *   /                      attr layer_names: every layer of the model, in
 *                          order (attr backend, keras_version beside it)
 *   /<layer>               a group per layer, attr weight_names: that
 *                          layer's weights in order ("conv1/kernel:0",
 *                          "conv1/bias:0"); empty for layers without weights
 *   /<layer>/<weight name> a dataset per weight (the name is a path, so
 *                          "conv1/kernel:0" is /conv1/conv1/kernel:0)
 * Attributes too big for one HDF5 object header are split by Keras into
 * layer_names0, layer_names1, ... ; those are joined back here.
 *
 * Matching is by position, never by name, as load_weights does: the file's
 * layers that have weights, in layer_names order, go to the architecture's
 * layers with weights, in order; within a layer the weights go in
 * weight_names order. Layer names depend on the Keras version and on how
 * many layers the writing session had built before ("conv2d_17"), so they
 * only ever appear in messages. What is checked instead: the number of
 * layers with weights, each layer's number of weights, each weight's shape
 * (exactly what the architecture expects) and its type (IEEE float of 16,
 * 32 or 64 bits, converted to float32). Memory is sized from the
 * architecture's expectation, never from the file, and only after the
 * file's shape matched it, so a damaged or hostile file cannot make us
 * allocate more than the network needs.
 *
 * Errors are FK_EMODEL and name the file, the architecture's layer (and
 * the file's name for it), and what was expected against what was found:
 *   "vgg_face_weights.h5: layer conv2_1 (file: conv2d_3): kernel is
 *    3x3x64x128, file has 3x3x64x64".
 * HDF5's own error printing is switched off around every call (the library
 * never prints) and, because Debian's HDF5 is built without thread safety,
 * all HDF5 use in facekit goes through one lock.
 *
 * Usage: open the file, then call fk__keras_h5_layer once per architecture
 * layer with weights, in the architecture's order; then fk__keras_h5_end,
 * which checks that the file had no layers left over and closes it (the
 * weights stay, owned by the handle, until fk__keras_h5_free).
 */
#ifndef FK_NN_KERAS_H5_H
#define FK_NN_KERAS_H5_H

#include "facekit.h"

typedef struct fk_keras_h5 fk_keras_h5;

/* One weight an architecture layer expects: its role ("kernel", "bias",
 * "gamma", "moving_variance", ... used in messages) and its exact shape in
 * Keras' order (conv kernels kh x kw x in x out, dense in x out). */
typedef struct fk_keras_weight {
    const char *role;
    int ndim;       /* 1..4 */
    int shape[4];
} fk_keras_weight;

/* Largest weight the reader accepts, in elements (a VGG-Face fc6 kernel is
 * 7*7*512*4096 = 102.8 M); a bigger expectation is a bug in the caller. */
#define FK_KERAS_MAX_WEIGHT (1L << 28)

/* Open `path` and read its layer table. `what` names the network in
 * messages ("VGG-Face"). FK_EMODEL when the file is missing, not HDF5 (a
 * truncated download included), or not a Keras weights file. FK_EFORMAT is
 * never used: every failure is about the file the user gave. */
fk_status fk__keras_h5_open(const char *path, const char *what, fk_keras_h5 **out);
void fk__keras_h5_free(fk_keras_h5 *k);

/* Layers with weights in the file (after open). */
int fk__keras_h5_layer_count(const fk_keras_h5 *k);
/* The file's name of the i-th layer with weights (static within k). */
const char *fk__keras_h5_layer_name(const fk_keras_h5 *k, int i);

/* The next layer of the file, as the architecture's layer `name` with the
 * n weights `spec` (n <= 8): checks and reads them into out[0..n-1]
 * (float32, owned by k, valid until fk__keras_h5_free). FK_EMODEL naming
 * the layer when the file has no more layers, a different number of
 * weights, another shape or a type that is not float. out NULL: the
 * layer is checked the same way but not read (a head the network drops,
 * such as DeepFace's 8631-way classifier, 141 MB as float32). */
fk_status fk__keras_h5_layer(fk_keras_h5 *k, const char *name,
                            const fk_keras_weight *spec, int n, const float **out);
/* Done: FK_EMODEL when the file holds more layers with weights than were
 * read (it was written for another network); closes the file either way. */
fk_status fk__keras_h5_end(fk_keras_h5 *k);

/* Whether this build reads HDF5 (FK_WITH_HDF5); without it open is
 * FK_EMODEL saying facekit needs a build with libhdf5-dev. */
int fk__keras_h5_available(void);

#endif
