/*
 * align_similarity.c - similarity-transform alignment onto dlib's mean face.
 *
 * dlib builds its face chips by fitting a similarity transform from a mean
 * face shape (landmarks 17..67 of the 68-point scheme, normalised to the unit
 * square) to the detected landmarks, with a padding margin around the face;
 * its ResNet face descriptor was trained on such chips (150x150, padding
 * 0.25). We do the same, so the network sees what it was trained on.
 */
#include "align/align.h"

#include <math.h>

#include "core/error.h"
#include "image/image.h"

/* dlib's mean face shape for landmarks 17..67, in the unit square. */
static const double MEAN_FACE_X[51] = {
    0.000213256, 0.0752622, 0.18113,  0.29077,  0.393397, 0.586856, 0.689483,
    0.799124,    0.904991,  0.98004,  0.490127, 0.490127, 0.490127, 0.490127,
    0.36688,     0.426036,  0.490127, 0.554217, 0.613373, 0.121737, 0.187122,
    0.265825,    0.334606,  0.260918, 0.182743, 0.645647, 0.714428, 0.793132,
    0.858516,    0.79751,   0.719335, 0.254149, 0.340985, 0.428858, 0.490127,
    0.551395,    0.639268,  0.726104, 0.642159, 0.556721, 0.490127, 0.423532,
    0.338094,    0.290379,  0.428096, 0.490127, 0.552157, 0.689874, 0.553364,
    0.490127,    0.42689};
static const double MEAN_FACE_Y[51] = {
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891,
    0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625,
    0.587326, 0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758,
    0.179852, 0.231733, 0.245099, 0.244077, 0.231733, 0.179852, 0.178758,
    0.216423, 0.244077, 0.245099, 0.780233, 0.745405, 0.727388, 0.742578,
    0.727388, 0.745405, 0.780233, 0.864805, 0.902192, 0.909281, 0.902192,
    0.864805, 0.784792, 0.778746, 0.785343, 0.778746, 0.784792, 0.824182,
    0.831803, 0.824182};

fk_status fk__similarity_fit(const fk_point *from, const fk_point *to, int n,
                            double m[6]) {
    if (!from || !to || !m || n < 2)
        return fk__fail(FK_EINVAL, "similarity fit needs at least 2 points");
    double fx = 0, fy = 0, tx = 0, ty = 0;
    for (int i = 0; i < n; i++) {
        fx += from[i].x; fy += from[i].y;
        tx += to[i].x;   ty += to[i].y;
    }
    fx /= n; fy /= n; tx /= n; ty /= n;
    /* With both sets centred, the least-squares [a -b; b a] is
     * a = sum(p.q) / |p|^2, b = sum(p x q) / |p|^2. */
    double norm = 0, dot = 0, cross = 0;
    for (int i = 0; i < n; i++) {
        double px = from[i].x - fx, py = from[i].y - fy;
        double qx = to[i].x - tx, qy = to[i].y - ty;
        norm += px * px + py * py;
        dot += px * qx + py * qy;
        cross += px * qy - py * qx;
    }
    if (norm < 1e-12) return fk__fail(FK_EINVAL, "similarity fit: points coincide");
    double a = dot / norm, b = cross / norm;
    m[0] = a; m[1] = -b; m[2] = tx - (a * fx - b * fy);
    m[3] = b; m[4] = a;  m[5] = ty - (b * fx + a * fy);
    return FK_OK;
}

void fk__align_template68(int size, double padding, fk_point out[51]) {
    for (int i = 0; i < 51; i++) {
        out[i].x = (float)((padding + MEAN_FACE_X[i]) / (2 * padding + 1) * size);
        out[i].y = (float)((padding + MEAN_FACE_Y[i]) / (2 * padding + 1) * size);
    }
}

/* Warp through an area-shrunk copy of the part of `img` the chip covers,
 * shrunk by the integer factor f >= 2. */
static fk_status warp_shrunk(const fk_image *img, const double m[6], int size,
                             int f, fk_image **out) {
    /* Bounding box of the chip's corners in the image, plus a margin. */
    double xs[4], ys[4];
    for (int k = 0; k < 4; k++) {
        double cx = (k & 1) ? size : 0, cy = (k & 2) ? size : 0;
        xs[k] = m[0] * cx + m[1] * cy + m[2];
        ys[k] = m[3] * cx + m[4] * cy + m[5];
    }
    double x0 = xs[0], x1 = xs[0], y0 = ys[0], y1 = ys[0];
    for (int k = 1; k < 4; k++) {
        x0 = fmin(x0, xs[k]); x1 = fmax(x1, xs[k]);
        y0 = fmin(y0, ys[k]); y1 = fmax(y1, ys[k]);
    }
    int cx0 = (int)floor(x0) - 2 * f, cy0 = (int)floor(y0) - 2 * f;
    int cw = ((int)ceil(x1) + 2 * f - cx0) / f * f;
    int ch = ((int)ceil(y1) + 2 * f - cy0) / f * f;
    fk_image *crop = NULL, *small = NULL;
    fk_status st = fk__image_crop(img, cx0, cy0, cw, ch, 0, &crop);
    if (st == FK_OK) st = fk__image_resize_area(crop, cw / f, ch / f, &small);
    fk_image_free(crop);
    if (st != FK_OK) return st;
    /* Chip -> small: subtract the crop origin, divide by f; pixel centres
     * map as s = (p + 0.5) / f - 0.5. */
    double inv = 1.0 / f, shift = 0.5 * inv - 0.5;
    double ms[6] = {m[0] * inv, m[1] * inv, (m[2] - cx0) * inv + shift,
                    m[3] * inv, m[4] * inv, (m[5] - cy0) * inv + shift};
    st = fk__image_warp_affine(small, ms, size, size, FK_BORDER_CONSTANT, 0, out);
    fk_image_free(small);
    return st;
}

fk_status fk__align_map68(const fk_point landmarks[68], int size, double padding,
                         double m[6]) {
    if (!landmarks || !m || size <= 0 || padding < 0)
        return fk__fail(FK_EINVAL, "align: bad arguments");
    fk_point from[51], to[51];
    fk__align_template68(size, padding, from);
    for (int i = 0; i < 51; i++) to[i] = landmarks[17 + i];
    fk_status st = fk__similarity_fit(from, to, 51, m);
    return st == FK_OK ? FK_OK : fk__fail_prefix(st, "align");
}

fk_status fk__align_warp(const fk_image *img, const double m[6], int size,
                         int antialias, fk_image **out) {
    if (!img || !m || !out || size <= 0) return fk__fail(FK_EINVAL, "align: bad arguments");
    /* Shrinking a large face straight to the chip with bilinear sampling
     * aliases; when the chip samples the image more sparsely than every
     * 1.5 pixels, area-shrink just the region the chip covers first. */
    double scale = sqrt(m[0] * m[0] + m[3] * m[3]);
    if (antialias && scale > 1.5)
        return warp_shrunk(img, m, size, (int)floor(scale / 1.5) + 1, out);
    return fk__image_warp_affine(img, m, size, size, FK_BORDER_CONSTANT, 0, out);
}

fk_status fk__align_chip68(const fk_image *img, const fk_point landmarks[68],
                          int size, double padding, fk_image **out) {
    if (!img || !landmarks || !out || size <= 0 || padding < 0)
        return fk__fail(FK_EINVAL, "align: bad arguments");
    double m[6];
    fk_status st = fk__align_map68(landmarks, size, padding, m);
    return st == FK_OK ? fk__align_warp(img, m, size, 1, out) : st;
}

void fk__align_map_box(float x, float y, float w, float h, int size, double m[6]) {
    float side = w > h ? w : h;
    float s = side / size;
    /* Map the chip onto the square centred on the box. */
    m[0] = s; m[1] = 0; m[2] = x + (w - side) / 2;
    m[3] = 0; m[4] = s; m[5] = y + (h - side) / 2;
}

fk_status fk__align_box_chip(const fk_image *img, float x, float y, float w,
                            float h, int size, fk_image **out) {
    if (!img || !out || size <= 0 || !(w > 0) || !(h > 0))
        return fk__fail(FK_EINVAL, "align: bad arguments");
    double m[6];
    fk__align_map_box(x, y, w, h, size, m);
    return fk__image_warp_affine(img, m, size, size, FK_BORDER_CONSTANT, 0, out);
}

void fk__align_map_zoom(double m[6], int size, double k) {
    if (k == 1.0) return;
    /* Chip pixel u samples where u' = c + k (u - c) sampled before. */
    double c = size / 2.0, t = c * (1.0 - k);
    m[2] += (m[0] + m[1]) * t;
    m[5] += (m[3] + m[4]) * t;
    m[0] *= k; m[1] *= k; m[3] *= k; m[4] *= k;
}

fk_point fk__align_map_to_chip(const double m[6], fk_point p) {
    double det = m[0] * m[4] - m[1] * m[3];
    if (det == 0) return (fk_point){0, 0};
    double dx = p.x - m[2], dy = p.y - m[5];
    return (fk_point){(float)((m[4] * dx - m[1] * dy) / det),
                      (float)((m[0] * dy - m[3] * dx) / det)};
}
