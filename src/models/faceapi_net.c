/*
 * faceapi_net.c - face-api's shared layers, FaceFeatureExtractor and face
 * input (see faceapi_net.h).
 *
 * The input is sampled straight from the image into the tensor, the zero
 * padding and the clipped region included, with the arithmetic of
 * TensorFlow.js's cpu resizeBilinear (double coordinates and fractions,
 * interpolated in double, stored as float): face-api resizes float pixels,
 * so an 8-bit resized chip would be up to 0.5 grey levels off, and the
 * analyzers are checked against face-api to 1e-5.
 */
#include "models/faceapi_net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"

#define FACEAPI_BATCH 16

fk_status fk__faceapi_face_input(const fk_image *img, float x, float y, float w, float h,
                                int size, float *dst, fk_faceapi_square *sq) {
    if (!img || img->channels != 3 || !dst || size <= 0 || !isfinite(x) || !isfinite(y) ||
        !isfinite(w) || !isfinite(h))
        return fk__fail(FK_EINVAL, "face-api face input: bad arguments");
    /* Box.clipAtImageBorders, then Box.floor */
    double cx = x > 0 ? x : 0, cy = y > 0 ? y : 0;
    double cw = fmin((double)x + w - cx, img->width - cx);
    double ch = fmin((double)y + h - cy, img->height - cy);
    int bx = (int)floor(cx), by = (int)floor(cy);
    int bw = cw >= 1 ? (int)floor(cw) : 0, bh = ch >= 1 ? (int)floor(ch) : 0;
    if (bw < 1 || bh < 1 || bx >= img->width || by >= img->height)
        return fk__fail(FK_EINVAL, "face box (%g, %g, %g, %g) lies outside the %dx%d image", x, y,
                        w, h, img->width, img->height);
    if (bx + bw > img->width) bw = img->width - bx;
    if (by + bh > img->height) bh = img->height - by;
    /* padToSquare(centred): round(d / 2) after, the rest before */
    int side = bw > bh ? bw : bh;
    int d = side - (bw < bh ? bw : bh);
    int before = d - (int)floor(d * 0.5 + 0.5);
    int px = bw < bh ? before : 0, py = bh < bw ? before : 0;
    if (sq) {
        sq->x0 = bx - px;
        sq->y0 = by - py;
        sq->side = side;
    }
    static const float mean[3] = {122.782f, 117.001f, 104.298f};
    const double ratio = (double)side / size;
    for (int r = 0; r < size; r++) {
        double fr = ratio * r;
        int r0 = (int)floor(fr), r1 = (int)ceil(fr);
        if (r1 > side - 1) r1 = side - 1;
        double rf = fr - r0;
        /* rows of the square inside the region, else zero rows */
        const uint8_t *row0 = r0 - py >= 0 && r0 - py < bh
                                  ? img->data + (size_t)(by + r0 - py) * img->stride : NULL;
        const uint8_t *row1 = r1 - py >= 0 && r1 - py < bh
                                  ? img->data + (size_t)(by + r1 - py) * img->stride : NULL;
        for (int c = 0; c < size; c++) {
            double fc = ratio * c;
            int c0 = (int)floor(fc), c1 = (int)ceil(fc);
            if (c1 > side - 1) c1 = side - 1;
            double cf = fc - c0;
            int in0 = c0 - px >= 0 && c0 - px < bw, in1 = c1 - px >= 0 && c1 - px < bw;
            size_t o0 = (size_t)(bx + c0 - px) * 3, o1 = (size_t)(bx + c1 - px) * 3;
            float *out = dst + ((size_t)r * size + c) * 3;
            for (int k = 0; k < 3; k++) {
                double tl = row0 && in0 ? row0[o0 + k] : 0, tr = row0 && in1 ? row0[o1 + k] : 0;
                double bl = row1 && in0 ? row1[o0 + k] : 0, br = row1 && in1 ? row1[o1 + k] : 0;
                double top = tl + (tr - tl) * cf, bottom = bl + (br - bl) * cf;
                float v = (float)(top + (bottom - top) * rf);
                out[k] = (v - mean[k]) / 255.0f;
            }
        }
    }
    return FK_OK;
}

int fk__faceapi_conv(fk_net *m, int in, const char *prefix, int k, int in_c, int out_c,
                    int stride, fk_act act, fk_status *st) {
    char name[128];
    int fshape[4] = {k, k, in_c, out_c}, bshape[1] = {out_c};
    snprintf(name, sizeof name, "%s/filters", prefix);
    const fk_weight *f = fk__net_weight(m, name, 4, fshape, st);
    snprintf(name, sizeof name, "%s/bias", prefix);
    const fk_weight *b = fk__net_weight(m, name, 1, bshape, st);
    if (*st != FK_OK) return -1;
    return fk__graph_conv(m->graph, in, f->data, b->data, k, k, in_c, out_c, stride,
                         FK_PAD_SAME, act);
}

int fk__faceapi_sepconv(fk_net *m, int in, const char *prefix, int in_c, int out_c,
                       int stride, fk_act act, fk_status *st) {
    char name[128];
    fk_act none = {.kind = FK_ACT_NONE};
    int dshape[4] = {3, 3, in_c, 1}, pshape[4] = {1, 1, in_c, out_c}, bshape[1] = {out_c};
    snprintf(name, sizeof name, "%s/depthwise_filter", prefix);
    const fk_weight *dw = fk__net_weight(m, name, 4, dshape, st);
    snprintf(name, sizeof name, "%s/pointwise_filter", prefix);
    const fk_weight *pw = fk__net_weight(m, name, 4, pshape, st);
    snprintf(name, sizeof name, "%s/bias", prefix);
    const fk_weight *b = fk__net_weight(m, name, 1, bshape, st);
    if (*st != FK_OK) return -1;
    int v = fk__graph_depthwise(m->graph, in, dw->data, NULL, 3, 3, in_c, stride, FK_PAD_SAME,
                               none);
    return fk__graph_conv(m->graph, v, pw->data, b->data, 1, 1, in_c, out_c, 1, FK_PAD_SAME,
                         act);
}

/* Dense block `block` (face-api's denseBlock4): out1 = relu(L0(x)) (L0 a
 * plain 3x3 conv in the first block, else separable; stride 2);
 * out2 = L1(out1); out3 = L2(relu(out1 + out2));
 * out4 = L3(relu(out1 + out2 + out3)); result relu(out1 + ... + out4). */
static int dense_block(fk_net *m, int in, int block, int in_c, int out_c, fk_status *st) {
    fk_act relu = {.kind = FK_ACT_RELU};
    fk_act none = {.kind = FK_ACT_NONE};
    fk_graph *g = m->graph;
    char name[4][32];
    for (int l = 0; l < 4; l++) snprintf(name[l], sizeof name[l], "dense%d/conv%d", block, l);
    int out1 = block == 0 ? fk__faceapi_conv(m, in, name[0], 3, in_c, out_c, 2, relu, st)
                          : fk__faceapi_sepconv(m, in, name[0], in_c, out_c, 2, relu, st);
    int out2 = fk__faceapi_sepconv(m, out1, name[1], out_c, out_c, 1, none, st);
    int in3 = fk__graph_add(g, out1, out2, relu);
    int out3 = fk__faceapi_sepconv(m, in3, name[2], out_c, out_c, 1, none, st);
    int s12 = fk__graph_add(g, out1, out2, none);
    int in4 = fk__graph_add(g, s12, out3, relu);
    int out4 = fk__faceapi_sepconv(m, in4, name[3], out_c, out_c, 1, none, st);
    int s123 = fk__graph_add(g, s12, out3, none);
    return fk__graph_add(g, s123, out4, relu);
}

int fk__faceapi_feature_extractor(fk_net *m, fk_status *st) {
    static const int ch[5] = {3, 32, 64, 128, 256};
    int v = 0;
    for (int b = 0; b < 4 && *st == FK_OK; b++) v = dense_block(m, v, b, ch[b], ch[b + 1], st);
    if (*st != FK_OK) return -1;
    return fk__graph_pool(m->graph, FK_OP_AVGPOOL, v, 7, 2, FK_PAD_VALID);
}

fk_status fk__faceapi_run_faces(fk_net *m, const fk_image *img, const fk_face *faces, int n,
                               fk_pool *pool, fk_faceapi_take_fn take, void *ctx) {
    if (!m || !img || img->channels != 3 || !faces || n <= 0 || !take)
        return fk__fail(FK_EINVAL, "%s: bad arguments (an RGB image and faces are needed)",
                        m ? m->what : "face-api");
    const size_t per = (size_t)FK_FACEAPI_INPUT * FK_FACEAPI_INPUT * 3;
    int cap = n < FACEAPI_BATCH ? n : FACEAPI_BATCH;
    float *input = fk__net_input(m, per * (size_t)cap);
    if (!input) return FK_ENOMEM;
    for (int first = 0; first < n; first += cap) {
        int count = n - first < cap ? n - first : cap;
        for (int i = 0; i < count; i++) {
            const fk_face *f = &faces[first + i];
            fk_status st = fk__faceapi_face_input(img, f->x, f->y, f->w, f->h, FK_FACEAPI_INPUT,
                                                  input + per * (size_t)i, NULL);
            if (st != FK_OK) return st;
        }
        fk_status st = fk__net_run(m, count, FK_FACEAPI_INPUT, FK_FACEAPI_INPUT, pool);
        if (st != FK_OK) return st;
        take(ctx, first, count);
    }
    return FK_OK;
}
