/*
 * test_faceapi_attr.c - the face-api analyzers (FaceApi-AgeGender,
 * FaceApi-Expression) against face-api itself, and on labelled faces.
 *
 *  - face-api's face cut (fk__faceapi_face_input) on a tiny image, against
 *    values worked out by hand: the odd padding pixel goes after the
 *    region (JS Math.round(0.5) = 1), resizing has no half-pixel shift, a
 *    box over the border is clipped and floored;
 *  - tests/data/faceapi_attr_reference.txt: what @vladmandic/face-api 1.7.15
 *    under TensorFlow.js 4.22 (cpu backend) gives for real faces, LFW
 *    crops and face-api's sample1/sample3 with the boxes fk_detect finds,
 *    plus boxes over sample1's border (made by
 *    tests/tools/faceapi_attr_reference.js, see its header). Each image's
 *    faces run as one batch, with the fast kernels and with the reference
 *    kernels, and one at a time: all within 1e-5 of face-api (age relative,
 *    probabilities absolute);
 *  - end to end: fk_analyze on sample1 with the two models finds the
 *    reference's three faces and gives face-api's numbers (as percentages);
 *    the three women come out Woman;
 *  - the happy faces of tests/data/emotion_faces.tsv (LFW) come out happy
 *    at least at the rate measured (docs/analyze.md), when ../shared is
 *    there.
 * Skips when the models are not installed ($FACEKIT_HOME).
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../test.h"
#include "models/faceapi_net.h"
#include "models/model.h"
#include "models/zoo.h"

#define MAX_REF 64

/* deepface's emotion k is face-api's TO_FACEAPI[k] (faceapi_expression.c's
 * mapping, written out again from the label lists) */
static const int TO_FACEAPI[FK_EMOTION_COUNT] = {3, 5, 4, 1, 2, 6, 0};

typedef struct ref_face {
    char name[256];
    fk_face face;
    float age, man, woman, expr[7];
} ref_face;

static char home[1024];
static char lfw[1200];

static int read_refs(const char *path, ref_face *r, int cap) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    char line[2048];
    while (n < cap && fgets(line, sizeof line, f)) {
        ref_face *x = &r[n];
        memset(x, 0, sizeof *x);
        int got = sscanf(line,
                         "face %255s %f %f %f %f age %f gender %f %f expression %f %f %f %f %f "
                         "%f %f",
                         x->name, &x->face.x, &x->face.y, &x->face.w, &x->face.h, &x->age,
                         &x->man, &x->woman, &x->expr[0], &x->expr[1], &x->expr[2], &x->expr[3],
                         &x->expr[4], &x->expr[5], &x->expr[6]);
        if (got == 15) n++;
    }
    fclose(f);
    return n;
}

/* The image a reference name stands for: lfw/<rel>, face-api/<file>,
 * edge/<file> (face-api's file with hand-made boxes). */
static int image_path(const char *name, char *out, size_t cap) {
    if (!strncmp(name, "lfw/", 4)) return snprintf(out, cap, "%s/%s", lfw, name + 4) < (int)cap;
    const char *slash = strchr(name, '/');
    return slash && snprintf(out, cap, "%s/face-api%s", home, slash) < (int)cap;
}

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* ---- the face cut, by hand ---------------------------------------------- */

static void check_face_input(void) {
    /* 3 wide, 2 high, gray values 10 * (y * 3 + x) + 10 in all channels */
    uint8_t px[2 * 9];
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 3; x++)
            for (int c = 0; c < 3; c++) px[y * 9 + x * 3 + c] = (uint8_t)(10 * (y * 3 + x) + 10);
    fk_image img = {.width = 3, .height = 2, .channels = 3, .stride = 9, .data = px};
    const float mean0 = 122.782f;
    float dst[6 * 6 * 3];
    fk_faceapi_square sq;
    /* the whole image: side 3, d = 1 row, round(0.5) = 1 after, 0 before */
    CHECK(fk__faceapi_face_input(&img, 0, 0, 3, 2, 3, dst, &sq) == FK_OK, "cut: %s",
          fk_last_error());
    CHECK(sq.x0 == 0 && sq.y0 == 0 && sq.side == 3, "square %d %d %d", sq.x0, sq.y0, sq.side);
    CHECK(fabsf(dst[0] - (10 - mean0) / 255) < 1e-6f, "first row is the image's: %g", dst[0]);
    CHECK(fabsf(dst[(2 * 3 + 0) * 3] - (0 - mean0) / 255) < 1e-6f, "last row is padding: %g",
          dst[(2 * 3 + 0) * 3]);
    /* to 6x6: source = dst / 2, so dst column 1 is halfway between 10 and 20 */
    CHECK(fk__faceapi_face_input(&img, 0, 0, 3, 2, 6, dst, NULL) == FK_OK, "cut 6");
    CHECK(fabsf(dst[3] - (15 - mean0) / 255) < 1e-6f, "no half-pixel shift: %g", dst[3]);
    CHECK(fabsf(dst[5 * 3] - (30 - mean0) / 255) < 1e-6f, "last column clamps: %g", dst[5 * 3]);
    /* (-0.5, 0.7, 2.9, 5): clipped to x 0, w 2.4 -> 2; y 0.7 -> 0, h 1.3 -> 1 */
    CHECK(fk__faceapi_face_input(&img, -0.5f, 0.7f, 2.9f, 5, 2, dst, &sq) == FK_OK, "cut clip");
    CHECK(sq.side == 2 && sq.x0 == 0 && sq.y0 == 0, "clipped square %d %d %d", sq.x0, sq.y0,
          sq.side);
    CHECK(fabsf(dst[3] - (20 - mean0) / 255) < 1e-6f, "clipped: %g", dst[3]);
    CHECK(fk__faceapi_face_input(&img, 5, 0, 3, 2, 6, dst, NULL) == FK_EINVAL,
          "a box outside the image is refused");
}

/* ---- against face-api -------------------------------------------------- */

static double compare(const ref_face *r, const fk_attr_result *ag, const fk_attr_result *ex) {
    double e = fabs(ag->age - r->age) / fmax(1.0, fabs(r->age));
    e = fmax(e, fmax(fabs(ag->man - r->man), fabs(ag->woman - r->woman)));
    for (int k = 0; k < FK_EMOTION_COUNT; k++)
        e = fmax(e, fabs(ex->emotion[k] - r->expr[TO_FACEAPI[k]]));
    return e;
}

static void check_reference(fk_zoo *z, const ref_face *r, int n, const char *kernels) {
    const fk_model_desc *agm = fk__model_get("FaceApi-AgeGender");
    const fk_model_desc *exm = fk__model_get("FaceApi-Expression");
    double worst = 0;
    int checked = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && !strcmp(r[j].name, r[i].name)) j++;
        char path[PATH_MAX];
        fk_image *img = NULL;
        if (!image_path(r[i].name, path, sizeof path) || !exists(path)) {
            printf("note: %s not found; skipped\n", r[i].name);
            i = j;
            continue;
        }
        CHECK(fk_image_load(path, 0, &img) == FK_OK, "load %s", path);
        fk_face faces[MAX_REF];
        fk_attr_result ag[MAX_REF], ex[MAX_REF], one[2];
        for (int k = i; k < j; k++) faces[k - i] = r[k].face;
        fk_status st = fk__zoo_analyze(z, agm, NULL, img, faces, j - i, ag);
        CHECK(st == FK_OK, "%s: age/gender: %s", r[i].name, fk_last_error());
        st = fk__zoo_analyze(z, exm, NULL, img, faces, j - i, ex);
        CHECK(st == FK_OK, "%s: expression: %s", r[i].name, fk_last_error());
        for (int k = i; k < j && st == FK_OK; k++) {
            double e = compare(&r[k], &ag[k - i], &ex[k - i]);
            CHECK(e < 1e-5, "%s face %d (%s kernels): %.3g from face-api (age %g vs %g)",
                  r[k].name, k - i, kernels, e, ag[k - i].age, r[k].age);
            worst = fmax(worst, e);
            checked++;
            /* alone gives what the batch gave */
            CHECK(fk__zoo_analyze(z, agm, NULL, img, &faces[k - i], 1, &one[0]) == FK_OK &&
                      fk__zoo_analyze(z, exm, NULL, img, &faces[k - i], 1, &one[1]) == FK_OK,
                  "single run");
            double d = fabs(one[0].age - ag[k - i].age) + fabs(one[0].man - ag[k - i].man);
            for (int c = 0; c < FK_EMOTION_COUNT; c++)
                d += fabs(one[1].emotion[c] - ex[k - i].emotion[c]);
            CHECK(d < 1e-5, "%s face %d: alone %.3g from the batch", r[k].name, k - i, d);
        }
        fk_image_free(img);
        i = j;
    }
    printf("face-api reference, %s kernels: %d faces, worst difference %.2e\n", kernels, checked,
           worst);
    CHECK(checked >= 9, "only %d reference faces checked", checked);
}

/* ---- end to end ---------------------------------------------------------- */

static void check_end_to_end(fk_context *ctx, const ref_face *r, int n) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/face-api/sample1.jpg", home);
    fk_image *img = NULL;
    CHECK(fk_image_load(path, 0, &img) == FK_OK, "load %s", path);
    if (!img) return;
    fk_analyze_options ao;
    fk_analyze_options_init(&ao);
    ao.actions = FK_ACTION_AGE | FK_ACTION_GENDER | FK_ACTION_EMOTION;
    ao.age_model = ao.gender_model = "FaceApi-AgeGender";
    ao.emotion_model = "FaceApi-Expression";
    fk_analysis a = {0};
    CHECK(fk_analyze(ctx, img, NULL, &ao, &a) == FK_OK, "analyze: %s", fk_last_error());
    CHECK(a.count == 3, "sample1: %d faces", a.count);
    int matched = 0;
    for (int i = 0; i < a.count; i++) {
        const fk_face_analysis *f = &a.faces[i];
        CHECK(!strcmp(f->dominant_gender, "Woman"), "sample1 face %d (a woman): %s %.1f%%", i,
              f->dominant_gender, f->man);
        for (int k = 0; k < n; k++) {
            const ref_face *x = &r[k];
            if (strcmp(x->name, "face-api/sample1.jpg") || fabsf(x->face.x - f->face.x) > 0.01f ||
                fabsf(x->face.y - f->face.y) > 0.01f || fabsf(x->face.w - f->face.w) > 0.01f ||
                fabsf(x->face.h - f->face.h) > 0.01f)
                continue;
            matched++;
            double e = fabs(f->age - x->age) / x->age;
            e = fmax(e, fabs(f->woman - 100 * x->woman) / 100);
            for (int c = 0; c < FK_EMOTION_COUNT; c++)
                e = fmax(e, fabs(f->emotion[c] - 100 * x->expr[TO_FACEAPI[c]]) / 100);
            CHECK(e < 1e-5, "sample1 face %d: %.3g from face-api", i, e);
        }
    }
    CHECK(matched == 3, "sample1: %d of 3 faces where face-api's reference has them", matched);
    fk_analysis_free(&a);
    fk_image_free(img);
}

/* The happy rows of tests/data/emotion_faces.tsv, the face nearest the
 * centre (max_faces 1 takes the largest; LFW's crops centre the person). */
static void check_happy(fk_context *ctx) {
    char list[PATH_MAX];
    snprintf(list, sizeof list, "%s/tests/data/emotion_faces.tsv",
             test_env("FK_SOURCE_DIR", "."));
    FILE *f = fopen(list, "r");
    CHECK(f != NULL, "cannot read %s", list);
    if (!f) return;
    int total = 0, happy = 0;
    char line[1024];
    fk_options o;
    fk_options_init(&o);
    o.max_faces = 1;
    o.enforce_detection = 0;
    fk_analyze_options ao;
    fk_analyze_options_init(&ao);
    ao.actions = FK_ACTION_EMOTION;
    ao.emotion_model = "FaceApi-Expression";
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (line[0] == '#' || !tab || strncmp(tab + 1, "happy", 5)) continue;
        *tab = '\0';
        char path[PATH_MAX * 2];
        snprintf(path, sizeof path, "%s/%s", lfw, line);
        fk_image *img = NULL;
        if (fk_image_load(path, 0, &img) != FK_OK) continue;
        fk_analysis a = {0};
        if (fk_analyze(ctx, img, &o, &ao, &a) == FK_OK && a.count == 1) {
            total++;
            happy += !strcmp(a.faces[0].dominant_emotion, "happy");
        }
        fk_analysis_free(&a);
        fk_image_free(img);
    }
    fclose(f);
    printf("emotion_faces.tsv: %d of %d happy faces come out happy\n", happy, total);
    CHECK(total >= 25, "only %d happy faces read", total);
    CHECK(happy >= total - 2, "happy faces: %d of %d happy (measured 29 of 30)", happy, total);
}

int main(void) {
    check_face_input();
    if (fk_models_default_home(home, sizeof home) != FK_OK) test_skip("no model home");
    snprintf(lfw, sizeof lfw, "%s/data/lfw-devtrain/images", test_env("FK_SHARED", "../shared"));
    char probe[PATH_MAX + 64];
    snprintf(probe, sizeof probe, "%s/face-api/face_expression_model.bin", home);
    if (!exists(probe)) {
        printf("note: face-api's analyzers not installed (facekit models fetch); "
               "only the face cut was checked\n");
        return test_summary();
    }
    char fixture[PATH_MAX];
    snprintf(fixture, sizeof fixture, "%s/tests/data/faceapi_attr_reference.txt",
             test_env("FK_SOURCE_DIR", "."));
    static ref_face refs[MAX_REF];
    int n = read_refs(fixture, refs, MAX_REF);
    CHECK(n >= 12, "cannot read %s (%d faces)", fixture, n);
    for (int ref = 0; ref < 2; ref++) {
        /* graphs read FK_REFERENCE_KERNELS when they are made */
        if (ref) setenv("FK_REFERENCE_KERNELS", "1", 1);
        fk_zoo *z = NULL;
        CHECK(fk__zoo_new(home, &z) == FK_OK, "zoo");
        if (z) check_reference(z, refs, n, ref ? "reference" : "fast");
        fk__zoo_free(z);
    }
    unsetenv("FK_REFERENCE_KERNELS");
    fk_context *ctx = NULL;
    CHECK(fk_context_new(NULL, &ctx) == FK_OK, "context: %s", fk_last_error());
    if (ctx) {
        check_end_to_end(ctx, refs, n);
        if (exists(lfw)) check_happy(ctx);
        else printf("note: %s not there; the labelled faces are skipped\n", lfw);
    }
    fk_context_free(ctx);
    return test_summary();
}
