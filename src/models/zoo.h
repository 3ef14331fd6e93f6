/*
 * zoo.h - the loaded models of one context, cached by name, loaded on first
 * use.
 *
 * Any model type can live in the zoo: the caller says how to load and free
 * it; models described in the catalogue load by their description. Not thread-safe (a
 * context is used by one thread at a time).
 */
#ifndef FK_MODELS_ZOO_H
#define FK_MODELS_ZOO_H

#include "models/model.h"

typedef struct fk_zoo fk_zoo;

fk_status fk__zoo_new(const char *home, fk_zoo **out);
void fk__zoo_free(fk_zoo *z);
const char *fk__zoo_home(const fk_zoo *z);

/* The model cached under `key`, loading it with load(home) the first time;
 * free_fn releases it when the zoo is freed. A failed load is not cached
 * (the next call tries again, e.g. after `facekit models fetch`). */
fk_status fk__zoo_get(fk_zoo *z, const char *key, fk_model_load_fn load,
                     fk_model_free_fn free_fn, void **out);

/* ---- models by description (the generic run path) ----------------------
 * Load `m` (cached under its name) after checking its installed files
 * against the package stamp (model_store.h fk__model_check_files), run its
 * role's hook, and refuse non-finite outputs (FK_EMODEL naming the model). */
fk_status fk__zoo_model(fk_zoo *z, const fk_model_desc *m, void **out);
/* The same with the weights file of a model whose weights users bring
 * (fk_model_desc.user_file; NULL: discovered as keras_model.h says);
 * FK_EINVAL when `weights` is given for a model facekit installs. */
fk_status fk__zoo_model_weights(fk_zoo *z, const fk_model_desc *m, const char *weights,
                               void **out);
fk_status fk__zoo_embed(fk_zoo *z, const fk_model_desc *m, fk_pool *pool,
                       const fk_image *const *chips, int n,
                       const fk_input_norm *norm, const char *weights, float *out);
fk_status fk__zoo_detect(fk_zoo *z, const fk_model_desc *m, fk_pool *pool,
                        const fk_image *img, float min_score, fk_detection **out,
                        int *count);
fk_status fk__zoo_landmarks(fk_zoo *z, const fk_model_desc *m, fk_pool *pool,
                           const fk_image *img, float x, float y, float w, float h,
                           fk_point *pts);
/* n faces of img through an analyzer or anti-spoofing model; every value
 * of every filled field checked finite. */
fk_status fk__zoo_analyze(fk_zoo *z, const fk_model_desc *m, fk_pool *pool,
                         const fk_image *img, const fk_face *faces, int n,
                         fk_attr_result *out);

#endif
