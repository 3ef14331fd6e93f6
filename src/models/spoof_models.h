/*
 * spoof_models.h - what the anti-spoofing models (antispoof.c, liveness.c)
 * share: the square face cut they are given, and the
 * run of a one-input TF.js graph over a batch of such cuts.
 */
#ifndef FK_MODELS_SPOOF_MODELS_H
#define FK_MODELS_SPOOF_MODELS_H

#include "facekit.h"
#include "core/threadpool.h"

/* A size x size RGB cut of img around face f: a square of side
 * factor * max(w, h) centred on the box centre, parts outside the image
 * black (as TF.js cropAndResize extrapolates), resized bilinearly (by area
 * averaging first when it shrinks more than twice, where bilinear
 * aliases). *out is the caller's (fk_image_free). */
fk_status fk__face_crop_square(const fk_image *img, const fk_face *f, float factor,
                              int size, fk_image **out);

/* Write the cut's size * size * 3 values as pixel * scale into dst. */
void fk__face_crop_fill(const fk_image *cut, float scale, float *dst);

/* ---- a human-models graph over face cuts (antispoof, liveness) -------- */

typedef struct fk_spoof_graph_spec {
    const char *name;    /* the model's name, for errors */
    const char *file;    /* in <home>/human-models/ */
    const char *output;  /* the node read */
    int size;            /* input size (square) */
    int classes;         /* values per face at `output` */
    float factor;        /* cut side / max(box w, h) */
} fk_spoof_graph_spec;

/* Load spec's graph from the home, checking its input and output sizes. */
fk_status fk__spoof_graph_load(const char *home, const fk_spoof_graph_spec *spec,
                              void **out);
void fk__spoof_graph_free(void *model);
/* Run the graph on the n faces' cuts (RGB / 255, as human feeds its face
 * tensors), in batches of up to 16 faces; the `classes` values of face i
 * go to out + i * classes. */
fk_status fk__spoof_graph_run(void *model, const fk_image *img, const fk_face *faces,
                             int n, fk_pool *pool, float *out);

#endif
