/*
 * zoo.h - the loaded models of one context, by name, loaded on first use.
 *
 * The pipeline stages ask the zoo for a model; the zoo loads it from the
 * model home the first time and keeps it until fk_zoo_free. Not thread-safe
 * (a context is used by one thread at a time).
 */
#ifndef FK_MODELS_ZOO_H
#define FK_MODELS_ZOO_H

#include "models/face_models.h"

typedef struct fk_zoo fk_zoo;

fk_status fk_zoo_new(const char *home, fk_zoo **out);
void fk_zoo_free(fk_zoo *z);
const char *fk_zoo_home(const fk_zoo *z);

fk_status fk_zoo_ssd(fk_zoo *z, fk_ssd **out);
fk_status fk_zoo_landmarks68(fk_zoo *z, fk_landmarks68 **out);
fk_status fk_zoo_dlib(fk_zoo *z, fk_dlib_resnet **out);

/* Canonical spelling of a detector / recognizer name (case-insensitive
 * match), or FK_EINVAL listing the valid names. */
fk_status fk_zoo_detector_name(const char *name, const char **canonical);
fk_status fk_zoo_model_name(const char *name, const char **canonical);

/* Chip size and embedding size of a recognizer (canonical name). */
void fk_zoo_model_geometry(const char *model, int *chip, int *dim);

#endif
