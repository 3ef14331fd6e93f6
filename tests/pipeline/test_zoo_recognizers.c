/*
 * test_zoo_recognizers.c - the graph-model recognizers (FaceRes,
 * FaceRes-Deep, MobileFaceNet, MobileFace) and the mediapipe detector
 * through the public API, like a user.
 *
 *  - mediapipe finds the faces in face-api's six demo photos, counted by
 *    eye (3, 3, 3, 4, 5, 4), each one matching an ssd box, with its eyes
 *    inside the box and the person's left eye on the image right;
 *  - every recognizer gives embeddings of its documented size, and on LFW
 *    pairs (when ../shared/data/lfw-devtrain is present) same-person pairs
 *    are closer on average than different-person pairs, with fk_verify
 *    deciding most pairs right at the shipped threshold;
 *  - MobileFaceNet, whose inputs were once fed wrong (every face gave
 *    nearly the same vector: cosine distance < 0.001 between strangers),
 *    is held to more: unit-length embeddings, the three different people
 *    of sample1 at cosine distance > 0.3 from each other, and on LFW a
 *    clear gap between the mean same-person and different-person
 *    distances, with at least 11 of every 12 pairs right;
 *  - unknown model or detector names are refused with the valid names.
 * Skips when the models are not installed (`facekit models fetch`).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../test.h"
#include "facekit.h"

static char home[1024];

static fk_image *load(const char *path) {
    fk_image *img = NULL;
    if (fk_image_load(path, 0, &img) != FK_OK) return NULL;
    return img;
}

static float iou(const fk_face *a, const fk_face *b) {
    float ix = fminf(a->x + a->w, b->x + b->w) - fmaxf(a->x, b->x);
    float iy = fminf(a->y + a->h, b->y + b->h) - fmaxf(a->y, b->y);
    if (ix <= 0 || iy <= 0) return 0;
    return ix * iy / (a->w * a->h + b->w * b->h - ix * iy);
}

static void test_mediapipe(fk_context *ctx) {
    static const int faces_by_eye[6] = {3, 3, 3, 4, 5, 4};
    for (int i = 1; i <= 6; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/face-api/sample%d.jpg", home, i);
        fk_image *img = load(path);
        CHECK(img != NULL, "load %s", path);
        if (!img) continue;
        fk_options opt;
        fk_options_init(&opt);
        opt.detector = "mediapipe";
        fk_faces mp, ssd;
        fk_status st = fk_detect(ctx, img, &opt, &mp);
        CHECK(st == FK_OK, "mediapipe on sample%d: %s", i, fk_last_error());
        opt.detector = "ssd";
        fk_status st2 = fk_detect(ctx, img, &opt, &ssd);
        if (st == FK_OK && st2 == FK_OK) {
            CHECK(mp.count == faces_by_eye[i - 1], "sample%d: %d faces, %d by eye", i,
                  mp.count, faces_by_eye[i - 1]);
            for (int k = 0; k < mp.count; k++) {
                const fk_face *f = &mp.faces[k];
                float best = 0;
                for (int j = 0; j < ssd.count; j++) best = fmaxf(best, iou(f, &ssd.faces[j]));
                CHECK(best > 0.4f, "sample%d face %d: IoU with ssd only %.2f", i, k, best);
                CHECK(f->left_eye.x > f->right_eye.x, "sample%d face %d: eyes swapped", i, k);
                CHECK(f->left_eye.x > f->x && f->left_eye.x < f->x + f->w &&
                      f->right_eye.y > f->y && f->right_eye.y < f->y + f->h,
                      "sample%d face %d: eyes outside the box", i, k);
                CHECK(f->confidence >= 0.5f && f->confidence <= 1.0f, "confidence %g",
                      f->confidence);
            }
            fk_faces_free(&ssd);
        }
        if (st == FK_OK) fk_faces_free(&mp);
        fk_image_free(img);
    }
}

/* The first `n` same and `n` different pairs of an LFW pairs file. */
static int read_pairs(const char *file, int n, char same[][2][96], char diff[][2][96]) {
    FILE *f = fopen(file, "r");
    if (!f) return 0;
    int count = 0, got_s = 0, got_d = 0;
    if (fscanf(f, "%d", &count) != 1) {
        fclose(f);
        return 0;
    }
    char line[512];
    fgets(line, sizeof line, f);
    for (int i = 0; i < 2 * count && fgets(line, sizeof line, f); i++) {
        char a[40], b[40];
        int x, y;
        if (i < count && got_s < n && sscanf(line, "%39s %d %d", a, &x, &y) == 3) {
            snprintf(same[got_s][0], 96, "%s/%s_%04d.jpg", a, a, x);
            snprintf(same[got_s][1], 96, "%s/%s_%04d.jpg", a, a, y);
            got_s++;
        } else if (i >= count && got_d < n &&
                   sscanf(line, "%39s %d %39s %d", a, &x, b, &y) == 4) {
            snprintf(diff[got_d][0], 96, "%s/%s_%04d.jpg", a, a, x);
            snprintf(diff[got_d][1], 96, "%s/%s_%04d.jpg", b, b, y);
            got_d++;
        }
    }
    fclose(f);
    return got_s < got_d ? got_s : got_d;
}

#define NPAIRS 12

static void test_recognizer(fk_context *ctx, const char *model, int dim, const char *lfw) {
    const int strict = strcmp(model, "MobileFaceNet") == 0;
    char path[1200];
    snprintf(path, sizeof path, "%s/face-api/sample1.jpg", home);
    fk_image *img = load(path);
    fk_options opt;
    fk_options_init(&opt);
    opt.model = model;
    fk_faces faces;
    fk_status st = fk_represent(ctx, img, &opt, &faces);
    CHECK(st == FK_OK, "%s: represent: %s", model, fk_last_error());
    if (st == FK_OK) {
        CHECK(faces.count == 3, "%s: %d faces", model, faces.count);
        for (int i = 0; i < faces.count; i++) {
            CHECK(faces.faces[i].embedding_dim == dim, "%s: dim %d", model,
                  faces.faces[i].embedding_dim);
            double norm = 0;
            for (int k = 0; k < faces.faces[i].embedding_dim; k++)
                norm += faces.faces[i].embedding[k] * faces.faces[i].embedding[k];
            CHECK(norm > 0 && isfinite(norm), "%s: embedding norm %g", model, norm);
            if (strict)
                CHECK(fabs(norm - 1) < 1e-3, "%s: embedding not unit length (%g)", model,
                      norm);
        }
        /* Different people must get different vectors. */
        for (int i = 0; strict && i < faces.count; i++)
            for (int j = i + 1; j < faces.count; j++) {
                float d = -1;
                fk_distance(faces.faces[i].embedding, faces.faces[j].embedding, dim,
                            "cosine", &d);
                CHECK(d > 0.3f, "%s: sample1 faces %d and %d at cosine distance %g", model,
                      i, j, d);
            }
        fk_faces_free(&faces);
    }
    fk_image_free(img);
    if (!lfw) return;

    static char same[NPAIRS][2][96], diff[NPAIRS][2][96];
    char pairs[1200];
    snprintf(pairs, sizeof pairs, "%s/pairsDevTrain.txt", lfw);
    int n = read_pairs(pairs, NPAIRS, same, diff);
    CHECK(n == NPAIRS, "read %d pairs from %s", n, pairs);
    double sum_same = 0, sum_diff = 0;
    int right = 0, total = 0;
    for (int kind = 0; kind < 2; kind++)
        for (int i = 0; i < n; i++) {
            char pa[4096], pb[4096];
            snprintf(pa, sizeof pa, "%s/images/%s", lfw, kind ? diff[i][0] : same[i][0]);
            snprintf(pb, sizeof pb, "%s/images/%s", lfw, kind ? diff[i][1] : same[i][1]);
            fk_image *a = load(pa), *b = load(pb);
            fk_verify_result r;
            opt.enforce_detection = 0;
            if (a && b && fk_verify(ctx, a, b, &opt, &r) == FK_OK) {
                if (kind) sum_diff += r.distance;
                else sum_same += r.distance;
                right += r.verified == !kind;
                total++;
            } else {
                CHECK(0, "%s: verify %s %s: %s", model, pa, pb, fk_last_error());
            }
            fk_image_free(a);
            fk_image_free(b);
        }
    printf("%-14s mean distance same %.4f, different %.4f; %d/%d pairs right\n", model,
           sum_same / n, sum_diff / n, right, total);
    CHECK(sum_same < sum_diff, "%s: same-person pairs not closer than different ones", model);
    CHECK(right * 10 >= total * 6, "%s: only %d of %d pairs right", model, right, total);
    if (strict) {
        CHECK(sum_diff / n - sum_same / n > 0.3, "%s: mean cosine distance same %.4f, "
              "different %.4f: no clear gap", model, sum_same / n, sum_diff / n);
        CHECK(right * 12 >= total * 11, "%s: only %d of %d pairs right", model, right,
              total);
    }
}

static void test_unknown_names(fk_context *ctx) {
    fk_image *img = NULL;
    fk_image_new(32, 32, 3, &img);
    fk_options opt;
    fk_options_init(&opt);
    opt.model = "NoSuchNet";
    fk_faces faces;
    opt.detector = "skip";
    CHECK(fk_represent(ctx, img, &opt, &faces) == FK_EINVAL, "unknown model accepted");
    const char *e = fk_last_error();
    CHECK(strstr(e, "NoSuchNet") && strstr(e, "FaceRes") && strstr(e, "FaceRes-Deep") &&
          strstr(e, "MobileFaceNet") && strstr(e, "MobileFace") && strstr(e, "Dlib"),
          "message lists the models: %s", e);
    fk_options_init(&opt);
    opt.detector = "blaze";
    CHECK(fk_detect(ctx, img, &opt, &faces) == FK_EINVAL, "unknown detector accepted");
    e = fk_last_error();
    CHECK(strstr(e, "blaze") && strstr(e, "mediapipe") && strstr(e, "ssd"),
          "message lists the detectors: %s", e);
    fk_image_free(img);
}

int main(void) {
    if (fk_models_default_home(home, sizeof home) != FK_OK) test_skip("no model home");
    struct stat sb;
    char probe[1300];
    snprintf(probe, sizeof probe, "%s/human-models/faceres.json", home);
    if (stat(probe, &sb) != 0)
        test_skip("human-models not installed (run `facekit models fetch`)");
    snprintf(probe, sizeof probe, "%s/face-api/sample1.jpg", home);
    if (stat(probe, &sb) != 0) test_skip("face-api models not installed");
    fk_context_options co;
    fk_context_options_init(&co);
    co.model_home = home;
    fk_context *ctx = NULL;
    if (fk_context_new(&co, &ctx) != FK_OK) {
        CHECK(0, "context: %s", fk_last_error());
        return test_summary();
    }
    char lfw[1200];
    snprintf(lfw, sizeof lfw, "%s/data/lfw-devtrain", test_env("FK_SHARED", "../shared"));
    snprintf(probe, sizeof probe, "%s/pairsDevTrain.txt", lfw);
    const char *lfw_dir = stat(probe, &sb) == 0 ? lfw : NULL;
    if (!lfw_dir) printf("note: %s not found; skipping the LFW checks\n", lfw);
    test_unknown_names(ctx);
    test_mediapipe(ctx);
    test_recognizer(ctx, "FaceRes", 1024, lfw_dir);
    test_recognizer(ctx, "FaceRes-Deep", 1024, lfw_dir);
    test_recognizer(ctx, "MobileFaceNet", 192, lfw_dir);
    test_recognizer(ctx, "MobileFace", 256, lfw_dir);
    fk_context_free(ctx);
    return test_summary();
}
