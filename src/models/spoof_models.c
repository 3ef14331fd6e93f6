/*
 * spoof_models.c - the anti-spoofing models' shared parts (spoof_models.h):
 * the square face cut, and the batch run of a human-models graph.
 */
#include "models/spoof_models.h"

#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "image/image.h"
#include "models/attr_graph.h"

fk_status fk__face_crop_square(const fk_image *img, const fk_face *f, float factor,
                              int size, fk_image **out) {
    *out = NULL;
    if (!img || !f || !(factor > 0) || size <= 0 || img->channels != 3)
        return fk__fail(FK_EINVAL, "fk__face_crop_square: bad arguments");
    float side = factor * (f->w > f->h ? f->w : f->h);
    if (!(side >= 1)) side = 1;
    float cx = f->x + f->w / 2, cy = f->y + f->h / 2;
    int s = (int)lrintf(side);
    int x = (int)lrintf(cx - side / 2), y = (int)lrintf(cy - side / 2);
    fk_image *cut = NULL, *mid = NULL;
    fk_status st = fk__image_crop(img, x, y, s, s, 0, &cut);
    if (st == FK_OK && s > 2 * size) {
        st = fk__image_resize_area(cut, 2 * size, 2 * size, &mid);
        fk_image_free(cut);
        cut = st == FK_OK ? mid : NULL;
    }
    if (st == FK_OK && (cut->width != size || cut->height != size)) {
        st = fk__image_resize(cut, size, size, &mid);
        fk_image_free(cut);
        cut = st == FK_OK ? mid : NULL;
    }
    if (st != FK_OK) {
        fk_image_free(cut);
        return st;
    }
    *out = cut;
    return FK_OK;
}

void fk__face_crop_fill(const fk_image *cut, float scale, float *dst) {
    for (int y = 0; y < cut->height; y++) {
        const uint8_t *row = cut->data + (size_t)y * cut->stride;
        for (int k = 0; k < cut->width * 3; k++) *dst++ = row[k] * scale;
    }
}

/* ---- human-models graphs ------------------------------------------------ */

#define SPOOF_BATCH 16 /* cuts per run: the inputs are small (128x128 at
                          most), so one run covers a crowded photo */

/* The graph is loaded and its input checked by the analyzers' loader
 * (attr_graph.c); only the cut differs (spoof_models.h). */
typedef struct spoof_graph {
    const fk_spoof_graph_spec *spec;
    fk_attr_graph *g;
} spoof_graph;

void fk__spoof_graph_free(void *model) {
    spoof_graph *m = model;
    if (!m) return;
    fk__attr_graph_free(m->g);
    free(m);
}

fk_status fk__spoof_graph_load(const char *home, const fk_spoof_graph_spec *spec,
                              void **out) {
    *out = NULL;
    spoof_graph *m = calloc(1, sizeof *m);
    if (!m) return fk__fail(FK_ENOMEM, "%s: out of memory", spec->name);
    m->spec = spec;
    const char *outputs[1] = {spec->output};
    fk_status st = fk__attr_graph_load(home, spec->name, spec->file, outputs, 1, spec->size, 3,
                                       &m->g);
    if (st == FK_OK) {
        long count = 0;
        fk__tfjs_model_result(m->g->model, 0, &count);
        if (count != spec->classes)
            st = fk__fail(FK_EMODEL, "%s: %s gives %ld values; expected %d (run `facekit "
                         "models fetch` to reinstall)", spec->name, spec->file, count,
                         spec->classes);
    }
    if (st == FK_OK) {
        m->g->input = malloc(sizeof(float) * SPOOF_BATCH * (size_t)spec->size * spec->size * 3);
        if (!m->g->input) st = fk__fail(FK_ENOMEM, "%s: out of memory", spec->name);
        m->g->cap = SPOOF_BATCH;
    }
    if (st != FK_OK) {
        fk__spoof_graph_free(m);
        return st;
    }
    *out = m;
    return FK_OK;
}

fk_status fk__spoof_graph_run(void *model, const fk_image *img, const fk_face *faces,
                             int n, fk_pool *pool, float *out) {
    spoof_graph *m = model;
    const fk_spoof_graph_spec *s = m->spec;
    const long per = (long)s->size * s->size * 3;
    for (int first = 0; first < n; first += SPOOF_BATCH) {
        int count = n - first < SPOOF_BATCH ? n - first : SPOOF_BATCH;
        for (int i = 0; i < count; i++) {
            fk_image *cut;
            fk_status st = fk__face_crop_square(img, &faces[first + i], s->factor, s->size, &cut);
            if (st != FK_OK) return fk__fail_prefix(st, "%s", s->name);
            fk__face_crop_fill(cut, 1.0f / 255, m->g->input + per * i);
            fk_image_free(cut);
        }
        fk_status st = fk__tfjs_model_run_batch(m->g->model, count, m->g->input, pool);
        if (st != FK_OK) return st;
        const float *o = fk__tfjs_model_result(m->g->model, 0, NULL);
        for (long k = 0; k < (long)count * s->classes; k++)
            out[(long)first * s->classes + k] = o[k];
    }
    return FK_OK;
}
