/*
 * recognizers.h - the face recognition models facekit can use, by name
 * (--model), with the chip each was trained on.
 *
 * Adding a recognizer is an embed adapter and one line in the table in
 * recognizers.c; its thresholds go in src/verify/distance.c, chosen by
 * `facekit eval`.
 */
#ifndef FK_REPRESENT_RECOGNIZERS_H
#define FK_REPRESENT_RECOGNIZERS_H

#include "facekit.h"
#include "models/zoo.h"
#include "nn/threadpool.h"

/* How a recognizer's training chips were cut. */
typedef enum fk_align_kind {
    FK_ALIGN_DLIB68, /* dlib's mean face, landmarks 17..67, with padding */
    FK_ALIGN_ARCFACE5, /* InsightFace's 5-point 112x112 template (eyes, nose,
                          mouth corners from the 68 landmarks) */
    FK_ALIGN_EYES_BOX  /* the detector box, eye-levelled, square, `padding`
                          margin on each side */
} fk_align_kind;

/* Embed n chips (chip_size x chip_size RGB) into n * dim floats. */
typedef fk_status (*fk_embed_fn)(fk_zoo *zoo, fk_pool *pool,
                                 const fk_image *const *chips, int n,
                                 float *out);

typedef struct fk_recognizer_def {
    const char *name;      /* first member: looked up by fk__lookup_name */
    int chip_size;
    int dim;
    fk_align_kind align;
    double padding;        /* FK_ALIGN_DLIB68, FK_ALIGN_EYES_BOX: margin
                              around the face */
    fk_embed_fn embed;
} fk_recognizer_def;

const fk_recognizer_def *fk__recognizers(int *count);
fk_status fk__recognizer_find(const char *name, const fk_recognizer_def **out);

#endif
