/*
 * detect.h - the detect stage: faces (box, score, 68 landmarks, eyes) in an
 * image, with the detector chosen by name.
 */
#ifndef FK_DETECT_H
#define FK_DETECT_H

#include "facekit.h"
#include "models/zoo.h"
#include "nn/threadpool.h"

/* Fill `out` with the faces of `img` per `opt` (detector, min_confidence,
 * expand_percentage, enforce_detection). The landmark time is added to
 * *landmarks_ms and the rest to *detect_ms when those are non-NULL.
 * `name` labels errors (usually the file name). */
fk_status fk__detect_faces(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                          const char *name, const fk_options *opt,
                          fk_faces *out, double *detect_ms,
                          double *landmarks_ms);

#endif
