/*
 * test_model_batch.c - every model's graph, as the benchmark runs it (the
 * accessors of face_models.h): the fast kernels give the reference
 * kernels' outputs, and a batch gives each item the outputs it gets alone.
 *
 * For each model in the model home (absent ones are left out; all absent
 * is a skip): three different pseudo-random inputs at the model's input
 * size; the first run alone with the reference kernels and with the fast
 * ones (outputs within 1e-4 of the largest reference output: the fast
 * kernels sum in another order), then all three as one batch with the fast kernels
 * (each item within 1e-5 of the largest output of its batch-1 run: the
 * same kernels on the same values, only the row split of sgemm may
 * differ). Compared are the graph's marked outputs, read through
 * fk__graph_output of the last value (every model marks its result last).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "models/face_models.h"
#include "nn/graph.h"

#define BATCH 3

static float *inputs(int n, int h, int w, unsigned seed) {
    float *p = malloc(sizeof(float) * (size_t)n * h * w * 3);
    for (long i = 0; i < (long)n * h * w * 3; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    return p;
}

/* Largest |a - b| over n values, and largest |b|. */
static void diff(const float *a, const float *b, long n, double *d, double *mag) {
    *d = 0;
    *mag = 0;
    for (long i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (e > *d || isnan(e)) *d = isnan(e) ? INFINITY : e;
        if (fabs(b[i]) > *mag) *mag = fabs(b[i]);
    }
}

/* Run g on in (n items) and copy output value `out` into a new buffer. */
static float *run_copy(fk_graph *g, int n, int h, int w, const float *in, int out,
                       fk_pool *pool, long *count) {
    if (fk__graph_plan(g, n, h, w) != FK_OK || fk__graph_run(g, in, pool) != FK_OK) {
        fprintf(stderr, "run: %s\n", fk_last_error());
        return NULL;
    }
    fk_shape4 s;
    const float *o = fk__graph_output(g, out, &s);
    *count = (long)s.n * s.h * s.w * s.c;
    float *c = malloc(sizeof(float) * (size_t)*count);
    memcpy(c, o, sizeof(float) * (size_t)*count);
    return c;
}

/* The graph's outputs: the values it marked. There is no public list, so
 * probe ids from the last one down: fk__graph_output returns data for any
 * valid value after a run, and marked outputs are kept intact. We compare
 * the last value (each model's final node). */
static void check_graph(const char *name, fk_graph *g, int h, int w, fk_pool *pool) {
    int last = -1;
    for (int v = 1; v < 100000; v++) {
        if (fk__graph_plan(g, 1, h, w) != FK_OK) break;
        if (!fk__graph_output(g, v, NULL)) break;
        last = v;
    }
    CHECK(last > 0, "%s: no values", name);
    if (last <= 0) return;
    long per = (long)h * w * 3;
    float *in = inputs(BATCH, h, w, 7u);
    float *alone[BATCH] = {0};
    long count = 0;
    double worst_ref = 0, worst_batch = 0;
    for (int k = 0; k < BATCH; k++) {
        alone[k] = run_copy(g, 1, h, w, in + per * k, last, pool, &count);
        CHECK(alone[k] != NULL, "%s: item %d runs", name, k);
        /* The reference kernels on the first item only: they are slow (naive
         * loops; minutes for ssd under the sanitizers), and one input already
         * exercises every layer of both code paths. */
        if (k > 0) continue;
        fk__graph_use_reference(g, 1);
        float *ref = run_copy(g, 1, h, w, in + per * k, last, NULL, &count);
        fk__graph_use_reference(g, 0);
        CHECK(ref != NULL, "%s: item %d runs on the reference kernels", name, k);
        if (!ref || !alone[k]) {
            free(ref);
            continue;
        }
        double d, mag;
        diff(alone[k], ref, count, &d, &mag);
        CHECK(d <= 1e-4 * (mag > 1 ? mag : 1), "%s item %d: fast vs reference %.3g (max %.3g)",
              name, k, d, mag);
        if (d / (mag > 1 ? mag : 1) > worst_ref) worst_ref = d / (mag > 1 ? mag : 1);
        free(ref);
    }
    long bcount = 0;
    float *batch = run_copy(g, BATCH, h, w, in, last, pool, &bcount);
    CHECK(batch && bcount == count * BATCH, "%s: batch of %d gives %ld values, want %ld", name,
          BATCH, bcount, count * BATCH);
    for (int k = 0; batch && bcount == count * BATCH && k < BATCH; k++) {
        if (!alone[k]) continue;
        double d, mag;
        diff(batch + count * k, alone[k], count, &d, &mag);
        CHECK(d <= 1e-5 * (mag > 1 ? mag : 1), "%s item %d: batch vs alone %.3g (max %.3g)",
              name, k, d, mag);
        if (d / (mag > 1 ? mag : 1) > worst_batch) worst_batch = d / (mag > 1 ? mag : 1);
    }
    printf("%-14s %3dx%-3d value %4d: fast vs reference %.2e, batch %d vs alone %.2e\n", name,
           h, w, last, worst_ref, BATCH, worst_batch);
    free(batch);
    for (int k = 0; k < BATCH; k++) free(alone[k]);
    free(in);
    fk__graph_plan(g, 1, h, w);
}

/* fk__human_recognizer_embed on several chips at once (one graph run) gives
 * each chip the embedding it gets alone. */
static void check_embed_batch(const char *name, fk_human_recognizer *m, int size,
                              fk_pool *pool) {
    enum { N = 3 };
    fk_image *chips[N] = {0};
    unsigned seed = 99;
    for (int i = 0; i < N; i++) {
        CHECK(fk_image_new(size, size, 3, &chips[i]) == FK_OK, "chip");
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size * 3; x++) {
                seed = seed * 1103515245u + 12345u;
                chips[i]->data[(size_t)y * chips[i]->stride + x] = (uint8_t)(seed >> 16);
            }
    }
    float all[N * 1024], one[1024];
    CHECK(fk__human_recognizer_embed(m, (const fk_image *const *)chips, N, NULL, pool, all) == FK_OK,
          "%s: embed batch: %s", name, fk_last_error());
    int dim = size == 224 ? 1024 : 0;
    if (!dim) dim = strcmp(name, "MobileFace") == 0 ? FK_MOBILEFACE_DIM : FK_MOBILEFACENET_DIM;
    double worst = 0;
    for (int i = 0; i < N; i++) {
        const fk_image *c = chips[i];
        CHECK(fk__human_recognizer_embed(m, &c, 1, NULL, pool, one) == FK_OK, "%s: embed one", name);
        double d, mag;
        diff(all + (long)i * dim, one, dim, &d, &mag);
        CHECK(d <= 1e-5 * (mag > 1 ? mag : 1), "%s chip %d: batch vs alone %.3g", name, i, d);
        if (d > worst) worst = d;
    }
    printf("%-14s embed of %d chips at once vs one by one: %.2e\n", name, N, worst);
    for (int i = 0; i < N; i++) fk_image_free(chips[i]);
}

int main(void) {
    char home[1024];
    if (fk_models_default_home(home, sizeof home) != FK_OK) test_skip("no model home");
    fk_pool *pool = NULL;
    CHECK(fk__pool_new(2, &pool) == FK_OK, "pool");
    int tested = 0, h, w;
    const char *only = getenv("FK_TEST_MODEL"); /* one model while debugging */
#define WANT(nm) (!only || strcmp(only, nm) == 0)
    fk_ssd *ssd = NULL;
    if (WANT("ssd") && fk__ssd_load(home, &ssd) == FK_OK) {
        fk_graph *g = fk__ssd_graph(ssd, &h, &w);
        check_graph("ssd", g, h, w, pool);
        fk__ssd_free(ssd);
        tested++;
    }
    fk_tiny_face *tiny = NULL;
    if (WANT("tiny") && fk__tiny_face_load(home, &tiny) == FK_OK) {
        fk_graph *g = fk__tiny_face_graph(tiny, &h, &w);
        check_graph("tiny", g, h, w, pool);
        fk__tiny_face_free(tiny);
        tested++;
    }
    fk_landmarks68 *lm = NULL;
    if (WANT("landmarks68") && fk__landmarks68_load(home, &lm) == FK_OK) {
        fk_graph *g = fk__landmarks68_graph(lm, &h, &w);
        check_graph("landmarks68", g, h, w, pool);
        fk__landmarks68_free(lm);
        tested++;
    }
    fk_dlib_resnet *dlib = NULL;
    if (WANT("Dlib") && fk__dlib_resnet_load(home, &dlib) == FK_OK) {
        fk_graph *g = fk__dlib_resnet_graph(dlib, &h, &w);
        check_graph("Dlib", g, h, w, pool);
        fk__dlib_resnet_free(dlib);
        tested++;
    }
    struct {
        const char *name;
        fk_status (*load)(const char *, fk_human_recognizer **);
    } human[] = {{"FaceRes", fk__faceres_load},
                 {"FaceRes-Deep", fk__faceres_deep_load},
                 {"MobileFace", fk__mobileface_load}};
    for (size_t i = 0; i < sizeof human / sizeof human[0]; i++) {
        fk_human_recognizer *m = NULL;
        if (!WANT(human[i].name) || human[i].load(home, &m) != FK_OK) continue;
        fk_graph *g = fk__human_recognizer_graph(m, &h, &w);
        check_graph(human[i].name, g, h, w, pool);
        check_embed_batch(human[i].name, m, h, pool);
        fk__human_recognizer_free(m);
        tested++;
    }
    fk_mobilefacenet *mfn = NULL;
    if (WANT("MobileFaceNet") && fk__mobilefacenet_load(home, &mfn) == FK_OK) {
        fk_graph *g = fk__mobilefacenet_graph(mfn, &h, &w);
        check_graph("MobileFaceNet", g, h, w, pool);
        fk__mobilefacenet_free(mfn);
        tested++;
    }
    fk_blazeface *blaze = NULL;
    if (WANT("BlazeFace") && fk__blazeface_back_load(home, &blaze) == FK_OK) {
        fk_graph *g = fk__blazeface_graph(blaze, &h, &w);
        check_graph("BlazeFace", g, h, w, pool);
        fk__blazeface_free(blaze);
        tested++;
    }
    fk_mtcnn *mt = NULL;
    if (WANT("mtcnn") && fk__mtcnn_load(home, &mt) == FK_OK) {
        for (int stage = 0; stage < 3; stage++) {
            const char *nm[3] = {"mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet"};
            fk_graph *g = fk__mtcnn_graph(mt, stage, &h, &w);
            check_graph(nm[stage], g, h, w, pool);
        }
        CHECK(fk__mtcnn_graph(mt, 3, NULL, NULL) == NULL, "mtcnn: bad stage gives NULL");
        fk__mtcnn_free(mt);
        tested++;
    }
#undef WANT
    CHECK(fk__ssd_graph(NULL, &h, &w) == NULL && fk__human_recognizer_graph(NULL, NULL, NULL) ==
                                                     NULL,
          "NULL model gives NULL graph");
    fk__pool_free(pool);
    if (!tested) test_skip("no model installed (run `facekit models fetch`)");
    return test_summary();
}
