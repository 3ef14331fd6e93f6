/*
 * tfjs_weights.h - loader for TensorFlow.js weights manifests.
 *
 * A manifest (`*-weights_manifest.json`, or the `weightsManifest` member of a
 * graph-model `model.json`) is a JSON array of groups {"paths": [...],
 * "weights": [{"name", "shape", "dtype", "quantization"?}, ...]}. Each group's
 * binary files, concatenated in order, hold its weights back to back.
 * Supported encodings: float32; int32; float16 ("quantization": {"dtype":
 * "float16"}); uint8/uint16 with {"scale", "min"} (value = q * scale + min).
 * Every tensor is dequantized to float32 at load time (int32 tensors too).
 *
 * Loading checks everything it can: JSON syntax (line/column in the error),
 * known dtypes, shape products, and that each group's files hold exactly the
 * bytes the manifest describes. A missing or damaged file is FK_EMODEL with a
 * message naming the file (JSON syntax errors included); a well-formed
 * manifest using an encoding or structure we do not support is FK_EFORMAT.
 */
#ifndef FK_NN_TFJS_WEIGHTS_H
#define FK_NN_TFJS_WEIGHTS_H

#include "facekit.h"

#define FK_MAX_DIMS 6

typedef struct fk_weight {
    char *name;
    int ndim;
    int shape[FK_MAX_DIMS];
    long count;   /* product of shape (1 for a scalar) */
    float *data;  /* dequantized values, owned by the fk_weights */
} fk_weight;

typedef struct fk_weights {
    fk_weight *items;
    int count;
} fk_weights;

/* Load the manifest at `manifest_path`; bin paths are relative to its
 * folder. */
fk_status fk__weights_load_tfjs(const char *manifest_path, fk_weights **out);
/* Same, when the manifest is already parsed: `manifest_json` is the text of
 * the JSON array, `dir` the folder of its bins, `what` names it in errors. */
fk_status fk__weights_load_tfjs_text(const char *manifest_json, const char *dir,
                                    const char *what, fk_weights **out);
void fk__weights_free(fk_weights *w);

/* The named tensor, or NULL. */
const fk_weight *fk__weights_find(const fk_weights *w, const char *name);
/* The named tensor, checked to have exactly `ndim` dims equal to `shape`
 * (a dim of -1 matches anything). On failure FK_EMODEL naming the tensor and
 * `what` (the model), expected and actual shape. */
fk_status fk__weights_get(const fk_weights *w, const char *what,
                         const char *name, int ndim, const int *shape,
                         const fk_weight **out);

#endif
