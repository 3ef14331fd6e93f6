/*
 * model_weights.c - locating and loading a model's weights manifest.
 */
#include <limits.h>

#include "core/error.h"
#include "models/face_models.h"
#include "models/model_store.h"

/* Resolve <home>/<dir>/<manifest> (FK_EMODEL with the fetch hint when it is
 * not installed) and load it. */
fk_status fk__model_weights(const char *home, const char *dir,
                           const char *manifest, fk_weights **out) {
    char path[PATH_MAX];
    fk_status s = fk__model_file(home, dir, manifest, path, sizeof path);
    if (s != FK_OK) return s;
    return fk__weights_load_tfjs(path, out);
}
