/*
 * faceapi_net.h - what face-api's face networks share (face_landmark68.c,
 * faceapi_age_gender.c, faceapi_expression.c): the layers as face-api
 * names them in its weights manifests, its FaceFeatureExtractor, and the
 * face input exactly as face-api cuts it from an image tensor.
 *
 * face-api's face input (@vladmandic/face-api 1.7.15,
 * src/dom/extractFaceTensors.ts, src/classes/Box.ts, src/dom/NetInput.ts,
 * src/ops/padToSquare.ts, src/ops/normalize.ts):
 *  - the box is clipped to the image (x' = max(x, 0), w' = min(x + w - x',
 *    W - x'), the same for y) and then floored, all four of x', y', w', h';
 *    that region is sliced out;
 *  - the region is padded with zeros to a square: the shorter side gets
 *    d = |w' - h'| more pixels, round(d / 2) after it and the rest before;
 *  - the square is resized to size x size with tf.image.resizeBilinear
 *    (alignCorners false, halfPixelCenters false: source = dst * side /
 *    size, no half-pixel shift), computed on float pixels, not rounded;
 *  - (pixel - [122.782, 117.001, 104.298]) / 255 in float32.
 */
#ifndef FK_MODELS_FACEAPI_NET_H
#define FK_MODELS_FACEAPI_NET_H

#include "facekit.h"
#include "models/net.h"

/* The input side of every face-api face network. */
#define FK_FACEAPI_INPUT 112

/* The padded square of one face in image pixels: its left and top (may be
 * negative) and side. */
typedef struct fk_faceapi_square {
    int x0, y0, side;
} fk_faceapi_square;

/* Fill dst (size * size * 3 floats) with the face in box (x, y, w, h) as
 * face-api makes it (see the file comment); *sq (may be NULL) gets the
 * square. FK_EINVAL when the clipped box is empty. */
fk_status fk__faceapi_face_input(const fk_image *img, float x, float y, float w, float h,
                                int size, float *dst, fk_faceapi_square *sq);

/* <prefix>/filters (k x k x in_c x out_c) + <prefix>/bias, SAME padding. */
int fk__faceapi_conv(fk_net *m, int in, const char *prefix, int k, int in_c, int out_c,
                    int stride, fk_act act, fk_status *st);
/* face-api's depthwiseSeparableConv: <prefix>/depthwise_filter (3x3),
 * <prefix>/pointwise_filter, <prefix>/bias, SAME padding. */
int fk__faceapi_sepconv(fk_net *m, int in, const char *prefix, int in_c, int out_c,
                       int stride, fk_act act, fk_status *st);

/* face-api's FaceFeatureExtractor on the graph input (112x112x3): four
 * dense blocks dense0..dense3 (32, 64, 128, 256 channels, each halving the
 * size) and a 7x7/2 VALID average pool; the value id of [n, 1, 1, 256]. */
int fk__faceapi_feature_extractor(fk_net *m, fk_status *st);

/* Run a network whose input is face-api's 112x112 face over n faces, all
 * in one run up to a batch of 16 (the activations stay a few MB); after
 * each run take(ctx, first, count) reads the outputs. */
typedef void (*fk_faceapi_take_fn)(void *ctx, int first, int count);
fk_status fk__faceapi_run_faces(fk_net *m, const fk_image *img, const fk_face *faces, int n,
                               fk_pool *pool, fk_faceapi_take_fn take, void *ctx);

#endif
