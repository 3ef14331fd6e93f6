/*
 * zoo.h - the loaded models of one context, cached by name, loaded on first
 * use.
 *
 * Any model type can live in the zoo: the caller says how to load and free
 * it. Typed accessors for the built-in models sit below. Not thread-safe (a
 * context is used by one thread at a time).
 */
#ifndef FK_MODELS_ZOO_H
#define FK_MODELS_ZOO_H

#include "models/face_models.h"

typedef struct fk_zoo fk_zoo;

fk_status fk__zoo_new(const char *home, fk_zoo **out);
void fk__zoo_free(fk_zoo *z);
const char *fk__zoo_home(const fk_zoo *z);

typedef fk_status (*fk_model_load_fn)(const char *home, void **out);
typedef void (*fk_model_free_fn)(void *model);

/* The model cached under `key`, loading it with load(home) the first time;
 * free_fn releases it when the zoo is freed. A failed load is not cached
 * (the next call tries again, e.g. after `facekit models fetch`). */
fk_status fk__zoo_get(fk_zoo *z, const char *key, fk_model_load_fn load,
                     fk_model_free_fn free_fn, void **out);

fk_status fk__zoo_ssd(fk_zoo *z, fk_ssd **out);
fk_status fk__zoo_landmarks68(fk_zoo *z, fk_landmarks68 **out);
fk_status fk__zoo_dlib(fk_zoo *z, fk_dlib_resnet **out);

/* Find `name` (ignoring case) among `count` entries of `stride` bytes whose
 * first member is a `const char *name`; *index gets its position. Else
 * FK_EINVAL "unknown <kind> 'name'; valid: a, b, c". Shared by the detector
 * and recognizer tables. */
fk_status fk__lookup_name(const char *kind, const void *table, int count,
                         size_t stride, const char *name, int *index);

#endif
