/*
 * represent.c - chips and embeddings for detected faces (see represent.h).
 */
#include "represent/represent.h"

#include <stdlib.h>

#include "align/align.h"
#include "align/align_arcface.h"
#include "align/align_eyes_box.h"
#include "core/clock.h"
#include "core/error.h"
#include "represent/recognizers.h"

/* The chip `rec` expects for face f: aligned as it was trained when
 * alignment is on and the face has the landmarks for it, else the box made
 * square and resized. */
static fk_status make_chip(const fk_model_desc *rec, const fk_image *img,
                           const fk_face *f, int align, fk_image **chip) {
    if (align && rec->chip == FK_ALIGN_DLIB68 && f->landmark_count == 68)
        return fk__align_chip68(img, f->landmarks, rec->input_w, rec->padding, chip);
    if (align && rec->chip == FK_ALIGN_ARCFACE5 && f->landmark_count == 68)
        return fk__align_chip_arcface(img, f->landmarks, rec->input_w, chip);
    if (rec->chip == FK_ALIGN_EYES_BOX) /* straightened only when aligning */
        return fk__align_chip_eyes_box(img, f->x, f->y, f->w, f->h,
                                      align ? f->left_eye : f->right_eye,
                                      f->right_eye, rec->input_w, rec->padding,
                                      chip);
    return fk__align_box_chip(img, f->x, f->y, f->w, f->h, rec->input_w, chip);
}

fk_status fk__represent_faces(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                             const fk_options *opt, fk_faces *faces,
                             double *align_ms, double *embed_ms) {
    const fk_model_desc *rec;
    fk_status st = fk__recognizer_find(opt->model, &rec);
    if (st != FK_OK) return st;
    const int dim = rec->dim;
    int n = faces->count;
    if (n == 0) return FK_OK;

    double t0 = fk__now_ms();
    fk_image **chips = calloc((size_t)n, sizeof *chips);
    float *emb = malloc(sizeof(float) * (size_t)n * dim);
    if (!chips || !emb) {
        free(chips);
        free(emb);
        return fk__fail(FK_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n && st == FK_OK; i++)
        st = make_chip(rec, img, &faces->faces[i], opt->align, &chips[i]);
    double t1 = fk__now_ms();
    if (st == FK_OK) st = fk__zoo_embed(zoo, rec, pool, (const fk_image *const *)chips, n, emb);
    for (int i = 0; i < n; i++) fk_image_free(chips[i]);
    free(chips);
    for (int i = 0; i < n && st == FK_OK; i++) {
        float *e = malloc(sizeof(float) * (size_t)dim);
        if (!e) {
            st = fk__fail(FK_ENOMEM, "out of memory");
            break;
        }
        for (int k = 0; k < dim; k++) e[k] = emb[(long)i * dim + k];
        free(faces->faces[i].embedding);
        faces->faces[i].embedding = e;
        faces->faces[i].embedding_dim = dim;
    }
    free(emb);
    if (align_ms) *align_ms += t1 - t0;
    if (embed_ms) *embed_ms += fk__now_ms() - t1;
    return st;
}
