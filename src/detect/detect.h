/*
 * detect.h - the detect stage: faces (box, score, 68 landmarks, eyes) in an
 * image, with the detector chosen by name.
 */
#ifndef FK_DETECT_H
#define FK_DETECT_H

#include "facekit.h"
#include "models/zoo.h"
#include "nn/threadpool.h"

/* The anti-spoofing model used when fk_options.antispoof_model is NULL:
 * the one that kept every LFW devtrain face and demo-photo face real and
 * flagged the most synthetic spoofs (docs/antispoof.md). */
#define FK__DEFAULT_ANTISPOOF "antispoof"

/* The anti-spoofing model called `name` (NULL: the default); FK_EINVAL
 * listing the valid names otherwise. */
fk_status fk__antispoof_find(const char *name, const fk_model_desc **out);

/* Fill `out` with the faces of `img` per `opt` (detector, min_confidence,
 * expand_percentage, enforce_detection; with anti_spoofing, each face's
 * spoof_checked / is_real / antispoof_score from opt->antispoof_model, on
 * the box before expand_percentage grows it, all faces in one batch). The landmark time is added to
 * *landmarks_ms and the rest to *detect_ms when those are non-NULL.
 * `name` labels errors (usually the file name). */
fk_status fk__detect_faces(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                          const char *name, const fk_options *opt,
                          fk_faces *out, double *detect_ms,
                          double *landmarks_ms);

#endif
