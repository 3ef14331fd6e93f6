/*
 * represent.c - chips and embeddings for detected faces (see represent.h).
 *
 * expand_percentage grows the detected box (detect.c). Box chips (align
 * off, and the eyes-box chips of FaceRes) are cut from that box, so they
 * widen with it; landmark-aligned chips (dlib68, arcface5) are placed by
 * the landmarks alone, so their field of view is widened here by the same
 * factor about the chip centre instead. Either way the recognizer sees
 * expand_percentage more around the face, and 0 leaves every chip as it was.
 */
#include "represent/represent.h"

#include <math.h>
#include <stdlib.h>

#include "align/align.h"
#include "align/align_arcface.h"
#include "align/align_eyes_box.h"
#include "core/clock.h"
#include "core/error.h"
#include "image/image.h"
#include "represent/recognizers.h"

/* deepface's face for its Keras models: the box at its own size (grown
 * by expand_percentage about its centre), rotated about its centre so the
 * eyes are level when aligning; the model letterboxes it. */
static fk_status deepface_face(const fk_image *img, const fk_face *f, int align,
                               float expand_percentage, fk_image **chip, double m[6]) {
    const double k = 1.0 + expand_percentage / 100.0;
    const double bw = f->w * k, bh = f->h * k;
    const double cx = f->x + f->w / 2.0, cy = f->y + f->h / 2.0;
    int w = (int)lround(bw), h = (int)lround(bh);
    if (w < 1) w = 1;
    if (h < 1) h = 1;
    if ((long)w * h > 64L * 1024 * 1024)
        return fk__fail(FK_EINVAL, "align: a face box of %dx%d pixels is too large", w, h);
    double a = 0;
    int eyes = f->left_eye.x != f->right_eye.x || f->left_eye.y != f->right_eye.y;
    if (align && eyes) a = fk__align_eye_angle(f->left_eye, f->right_eye);
    /* chip (u, v) -> image: rotate by a about the box centre */
    const double c = cos(a), s = sin(a), u0 = w / 2.0, v0 = h / 2.0;
    m[0] = c;
    m[1] = -s;
    m[3] = s;
    m[4] = c;
    m[2] = cx - 0.5 - (c * (u0 - 0.5) - s * (v0 - 0.5));
    m[5] = cy - 0.5 - (s * (u0 - 0.5) + c * (v0 - 0.5));
    if (a == 0 && w == (int)bw && h == (int)bh && k == 1.0 && f->x == (int)f->x &&
        f->y == (int)f->y) /* a whole-pixel box: an exact copy */
        return fk__image_crop(img, (int)f->x, (int)f->y, w, h, 0, chip);
    return fk__image_warp_affine(img, m, w, h, FK_BORDER_CONSTANT, 0, chip);
}

fk_status fk__represent_chip(const fk_model_desc *rec, const fk_image *img,
                            const fk_face *f, int align, float expand_percentage,
                            fk_image **chip, double m[6]) {
    if (!(f->w > 0 && f->h > 0)) return fk__fail(FK_EINVAL, "align: a face box of no size");
    const int size = rec->input_w;
    const double zoom = 1.0 + expand_percentage / 100.0;
    int landmarks = align && f->landmark_count == 68;
    fk_status st = FK_OK;
    int antialias = 0;
    if (landmarks && rec->chip == FK_ALIGN_DLIB68) {
        st = fk__align_map68(f->landmarks, size, rec->padding, m);
        fk__align_map_zoom(m, size, zoom);
        antialias = 1;
    } else if (landmarks && rec->chip == FK_ALIGN_ARCFACE5) {
        st = fk__align_map_arcface(f->landmarks, size, m);
        fk__align_map_zoom(m, size, zoom);
    } else if (rec->chip == FK_ALIGN_DEEPFACE) {
        return deepface_face(img, f, align, expand_percentage, chip, m);
    } else if (rec->chip == FK_ALIGN_EYES_BOX) { /* straightened only when aligning */
        fk__align_map_eyes_box(f->x, f->y, f->w, f->h, align ? f->left_eye : f->right_eye,
                               f->right_eye, size, rec->padding, m);
    } else {
        fk__align_map_box(f->x, f->y, f->w, f->h, size, m);
    }
    if (st != FK_OK) return st;
    return fk__align_warp(img, m, size, antialias, chip);
}

fk_status fk__represent_normalization(const fk_model_desc *rec, const char *name,
                                      const fk_input_norm **out) {
    fk_status st = fk__input_norm_find(name, out);
    if (st != FK_OK) return st;
    if (*out && rec->normalization_in_graph)
        return fk__fail(FK_EINVAL, "normalization '%s' cannot be used with %s: its graph "
                       "normalizes its input itself (%s); use base",
                       (*out)->name, rec->name, rec->normalization);
    return FK_OK;
}

/* Scale each of the n rows of v (dim values) to unit length. */
static void l2_rows(float *v, int n, int dim) {
    for (int i = 0; i < n; i++) {
        float *r = v + (long)i * dim;
        double ss = 0;
        for (int k = 0; k < dim; k++) ss += (double)r[k] * r[k];
        if (ss <= 0) continue; /* an all-zero vector has no direction */
        double inv = 1.0 / sqrt(ss);
        for (int k = 0; k < dim; k++) r[k] = (float)(r[k] * inv);
    }
}

fk_status fk__represent_faces(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                             const fk_options *opt, fk_faces *faces,
                             double *align_ms, double *embed_ms) {
    const fk_model_desc *rec;
    const fk_input_norm *norm = NULL;
    fk_status st = fk__recognizer_find(opt->model, &rec);
    if (st == FK_OK) st = fk__represent_normalization(rec, opt->normalization, &norm);
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
    for (int i = 0; i < n && st == FK_OK; i++) {
        double m[6];
        st = fk__represent_chip(rec, img, &faces->faces[i], opt->align, opt->expand_percentage,
                               &chips[i], m);
    }
    double t1 = fk__now_ms();
    if (st == FK_OK)
        st = fk__zoo_embed(zoo, rec, pool, (const fk_image *const *)chips, n, norm, opt->weights, emb);
    for (int i = 0; i < n; i++) fk_image_free(chips[i]);
    free(chips);
    if (st == FK_OK && opt->l2_normalize) l2_rows(emb, n, dim);
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
        faces->faces[i].normalization = norm ? norm->name : "base";
    }
    free(emb);
    if (align_ms) *align_ms += t1 - t0;
    if (embed_ms) *embed_ms += fk__now_ms() - t1;
    return st;
}
