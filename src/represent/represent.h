/*
 * represent.h - the align + normalize + represent stages: from detected faces
 * to embeddings.
 */
#ifndef FK_REPRESENT_H
#define FK_REPRESENT_H

#include "facekit.h"
#include "models/zoo.h"
#include "nn/threadpool.h"

/* For every face in `faces` (as fk__detect_faces left them): build the chip
 * the recognizer `opt->model` expects (aligned on the landmarks when
 * opt->align and the face has them, else the box squared and resized),
 * embed all chips in one batch and store each face's embedding (malloc'd,
 * freed by fk_faces_free). Times are added to *align_ms / *embed_ms. */
fk_status fk__represent_faces(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                             const fk_options *opt, fk_faces *faces,
                             double *align_ms, double *embed_ms);

#endif
