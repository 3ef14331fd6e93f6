/*
 * represent.c - chips and embeddings for detected faces (see represent.h).
 */
#include "represent/represent.h"

#include <stdlib.h>

#include "align/align.h"
#include "core/error.h"
#include "detect/detect.h"

/* dlib's chips: 150 px with a margin of 0.25 of the face on each side. */
#define CHIP_PADDING 0.25

fk_status fk_represent_faces(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                             const fk_options *opt, fk_faces *faces,
                             double *align_ms, double *embed_ms) {
    const char *model;
    fk_status st = fk_zoo_model_name(opt->model, &model);
    if (st != FK_OK) return st;
    int chip_size, dim;
    fk_zoo_model_geometry(model, &chip_size, &dim);
    fk_dlib_resnet *net;
    st = fk_zoo_dlib(zoo, &net);
    if (st != FK_OK) return st;
    int n = faces->count;
    if (n == 0) return FK_OK;

    double t0 = fk_now_ms();
    fk_image **chips = calloc((size_t)n, sizeof *chips);
    float *emb = malloc(sizeof(float) * (size_t)n * dim);
    if (!chips || !emb) {
        free(chips);
        free(emb);
        return fk_fail(FK_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n && st == FK_OK; i++) {
        const fk_face *f = &faces->faces[i];
        if (opt->align && f->landmark_count == 68)
            st = fk_align_chip68(img, f->landmarks, chip_size, CHIP_PADDING, &chips[i]);
        else
            st = fk_align_box_chip(img, f->x, f->y, f->w, f->h, chip_size, &chips[i]);
    }
    double t1 = fk_now_ms();
    if (st == FK_OK)
        st = fk_dlib_resnet_embed(net, (const fk_image *const *)chips, n, pool, emb);
    for (int i = 0; i < n; i++) fk_image_free(chips[i]);
    free(chips);
    for (int i = 0; i < n && st == FK_OK; i++) {
        float *e = malloc(sizeof(float) * (size_t)dim);
        if (!e) {
            st = fk_fail(FK_ENOMEM, "out of memory");
            break;
        }
        for (int k = 0; k < dim; k++) e[k] = emb[(long)i * dim + k];
        free(faces->faces[i].embedding);
        faces->faces[i].embedding = e;
        faces->faces[i].embedding_dim = dim;
    }
    free(emb);
    if (align_ms) *align_ms += t1 - t0;
    if (embed_ms) *embed_ms += fk_now_ms() - t1;
    return st;
}
