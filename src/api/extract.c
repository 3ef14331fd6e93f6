/*
 * extract.c - fk_extract_faces (facekit.h): deepface's extract_faces, the
 * detected faces cut out of the image.
 *
 * Aligned crops are not a second implementation of alignment: they come
 * from fk__represent_chip, the function represent cuts its chips with, so a
 * crop is bit for bit what the recognizer sees, and where the eyes land in
 * it is read off the same chip map. Unaligned crops are the box itself at
 * the image's own resolution (what deepface returns with align=False).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/error.h"
#include "detect/detect.h"
#include "image/image.h"
#include "represent/recognizers.h"
#include "represent/represent.h"
#include "align/align.h"

void fk_face_crops_free(fk_face_crops *crops) {
    if (!crops) return;
    for (int i = 0; i < crops->count; i++) fk_image_free(crops->crops[i].image);
    free(crops->crops);
    crops->crops = NULL;
    crops->count = 0;
}

/* The box rounded to whole pixels and clipped to the image (at least one
 * pixel), as x0, y0, w, h. */
static void box_pixels(const fk_face *f, const fk_image *img, int r[4]) {
    long x0 = lroundf(f->x), y0 = lroundf(f->y);
    long x1 = lroundf(f->x + f->w), y1 = lroundf(f->y + f->h);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > img->width) x1 = img->width;
    if (y1 > img->height) y1 = img->height;
    if (x0 > img->width - 1) x0 = img->width - 1;
    if (y0 > img->height - 1) y0 = img->height - 1;
    if (x1 <= x0) x1 = x0 + 1;
    if (y1 <= y0) y1 = y0 + 1;
    r[0] = (int)x0; r[1] = (int)y0; r[2] = (int)(x1 - x0); r[3] = (int)(y1 - y0);
}

/* RGB -> BGR in place, or a new 1-channel BT.601 luma image in *img. */
static fk_status recolor(fk_image **img, const char *color) {
    fk_image *c = *img;
    if (!strcmp(color, "bgr")) {
        for (int y = 0; y < c->height; y++) {
            uint8_t *p = c->data + (size_t)y * c->stride;
            for (int x = 0; x < c->width; x++, p += 3) {
                uint8_t t = p[0];
                p[0] = p[2];
                p[2] = t;
            }
        }
        return FK_OK;
    }
    if (strcmp(color, "gray")) return FK_OK;
    fk_image *g = NULL;
    fk_status st = fk_image_new(c->width, c->height, 1, &g);
    if (st != FK_OK) return st;
    for (int y = 0; y < c->height; y++) {
        const uint8_t *p = c->data + (size_t)y * c->stride;
        uint8_t *q = g->data + (size_t)y * g->stride;
        for (int x = 0; x < c->width; x++, p += 3)
            q[x] = (uint8_t)((299u * p[0] + 587u * p[1] + 114u * p[2] + 500u) / 1000u);
    }
    fk_image_free(c);
    *img = g;
    return FK_OK;
}

/* Crop one face (in img's pixels) per the options. */
static fk_status crop_face(const fk_model_desc *rec, const fk_image *img, const fk_face *f,
                           const fk_options *o, fk_face_crop *out) {
    fk_status st;
    out->has_eyes = f->landmark_count > 0 || f->left_eye.x != 0 || f->left_eye.y != 0 ||
                    f->right_eye.x != 0 || f->right_eye.y != 0;
    if (o->align) {
        double m[6];
        st = fk__represent_chip(rec, img, f, 1, o->expand_percentage, &out->image, m);
        if (st != FK_OK) return st;
        out->left_eye = fk__align_map_to_chip(m, f->left_eye);
        out->right_eye = fk__align_map_to_chip(m, f->right_eye);
    } else {
        int r[4];
        box_pixels(f, img, r);
        st = fk__image_crop(img, r[0], r[1], r[2], r[3], 0, &out->image);
        if (st != FK_OK) return st;
        out->left_eye = (fk_point){f->left_eye.x - r[0], f->left_eye.y - r[1]};
        out->right_eye = (fk_point){f->right_eye.x - r[0], f->right_eye.y - r[1]};
    }
    if (!out->has_eyes) out->left_eye = out->right_eye = (fk_point){0, 0};
    return recolor(&out->image, o->color_face);
}

fk_status fk_extract_faces(fk_context *ctx, const fk_image *img, const fk_options *opt,
                           fk_face_crops *out) {
    fk__clear_error();
    if (!ctx || !out) return fk__fail(FK_EINVAL, "fk_extract_faces: ctx and out are required");
    memset(out, 0, sizeof *out);
    fk_options o;
    const fk_model_desc *rec = NULL;
    fk_status st = fk__check_image(img, "fk_extract_faces");
    if (st == FK_OK) st = fk__resolve_options(opt, &o);
    if (st == FK_OK) st = fk__recognizer_find(o.model, &rec);
    if (st != FK_OK) return st;
    fk_faces faces = {0};
    st = fk__detect_faces(fk__context_zoo(ctx), fk__context_pool(ctx), img, o.image_names[0],
                         &o, &faces, NULL, NULL);
    if (st != FK_OK) return st;
    out->crops = calloc((size_t)(faces.count ? faces.count : 1), sizeof *out->crops);
    if (!out->crops) st = fk__fail(FK_ENOMEM, "out of memory");
    float back = 1.0f / fk__image_scale(img);
    for (int i = 0; st == FK_OK && i < faces.count; i++) {
        fk_face_crop *c = &out->crops[i];
        st = crop_face(rec, img, &faces.faces[i], &o, c);
        out->count = i + 1; /* so a failure frees what was made */
        if (st != FK_OK) break;
        c->face = faces.faces[i];
        c->face.embedding = NULL;
        c->face.embedding_dim = 0;
        if (back != 1.0f) fk__face_rescale(&c->face, back);
    }
    fk_faces_free(&faces);
    if (st != FK_OK) fk_face_crops_free(out);
    return st;
}
