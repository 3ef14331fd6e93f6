/*
 * face_models.h - the model zoo: each model's weight files, input size,
 * normalisation and how to read its outputs.
 *
 * Every model is an opaque handle built from its weights once (load) and then
 * run many times. A handle is not thread-safe: it owns the planned graph and
 * its activation arena. The pipeline stages (src/detect, src/align, ...)
 * pick models from here by name and never see a tensor.
 */
#ifndef FK_MODELS_FACE_MODELS_H
#define FK_MODELS_FACE_MODELS_H

#include "facekit.h"
#include "nn/threadpool.h"
#include "nn/tfjs_weights.h"

/* Load <home>/<dir>/<manifest> with a clear error when it is missing. */
fk_status fk_model_weights(const char *home, const char *dir,
                           const char *manifest, fk_weights **out);

/* ---- detector "ssd": SSD MobileNetV1 (face-api) ------------------------ */

typedef struct fk_ssd fk_ssd;

typedef struct fk_box {
    float x0, y0, x1, y1; /* image pixels */
    float score;
} fk_box;

fk_status fk_ssd_load(const char *home, fk_ssd **out);
void fk_ssd_free(fk_ssd *m);
/* Detect faces scoring >= min_score; non-maximum suppression at IoU 0.5.
 * *boxes (malloc'd, caller frees) sorted by score, highest first. */
fk_status fk_ssd_detect(fk_ssd *m, const fk_image *img, float min_score,
                        fk_pool *pool, fk_box **boxes, int *count);

/* ---- 68-point landmarks (face-api) ------------------------------------- */

typedef struct fk_landmarks68 fk_landmarks68;

fk_status fk_landmarks68_load(const char *home, fk_landmarks68 **out);
void fk_landmarks68_free(fk_landmarks68 *m);
/* 68 points (image pixels) for the face in box (x, y, w, h). */
fk_status fk_landmarks68_run(fk_landmarks68 *m, const fk_image *img, float x,
                             float y, float w, float h, fk_pool *pool,
                             fk_point pts[68]);

/* Eye centres from 68 landmarks: the person's left eye (points 42..47, image
 * right) and right eye (36..41). */
void fk_landmarks68_eyes(const fk_point pts[68], fk_point *left_eye,
                         fk_point *right_eye);

/* ---- recognizer "Dlib": ResNet-34-like, 150x150 -> 128 (face-api) ------ */

typedef struct fk_dlib_resnet fk_dlib_resnet;

#define FK_DLIB_CHIP 150
#define FK_DLIB_DIM 128

fk_status fk_dlib_resnet_load(const char *home, fk_dlib_resnet **out);
void fk_dlib_resnet_free(fk_dlib_resnet *m);
/* Embed `n` aligned 150x150 RGB chips; writes n * 128 floats. */
fk_status fk_dlib_resnet_embed(fk_dlib_resnet *m, const fk_image *const *chips,
                               int n, fk_pool *pool, float *out);

#endif
