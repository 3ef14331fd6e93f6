/*
 * test_names.c - "did you mean" (core/names.c) and fk_options_check: the
 * suggestions users see for misspelt model, detector, metric and search
 * names, and the ranges checked before any file is read.
 */
#include <string.h>

#include "core/names.h"
#include "facekit.h"
#include "test.h"

static const char *const MODELS[] = {"Dlib", "FaceRes", "FaceRes-Deep", "MobileFaceNet", "MobileFace"};
static const char *const DETECTORS[] = {"ssd", "opencv", "tiny", "mtcnn", "mediapipe", "skip"};

static void test_distance(void) {
    CHECK(fk__edit_distance("Dlib", "Dlib") == 0, "same");
    CHECK(fk__edit_distance("dlib", "DLIB") == 0, "case is ignored");
    CHECK(fk__edit_distance("Dlb", "Dlib") == 1, "deletion");
    CHECK(fk__edit_distance("Dliib", "Dlib") == 1, "insertion");
    CHECK(fk__edit_distance("Dlab", "Dlib") == 1, "substitution");
    CHECK(fk__edit_distance("mtncn", "mtcnn") == 1, "swap of neighbours is one edit");
    CHECK(fk__edit_distance("", "ssd") == 3, "empty");
    CHECK(fk__edit_distance("kitten", "sitting") == 3, "kitten/sitting");
}

static void test_closest(void) {
    struct {
        const char *typed, *want;
    } m[] = {{"Dlb", "Dlib"}, {"dlib", "Dlib"}, {"FaceRs", "FaceRes"}, {"faceres-deep", "FaceRes-Deep"},
             {"MobileFaceNt", "MobileFaceNet"}, {"MobilFace", "MobileFace"}, {"VGG-Face", NULL},
             {"x", NULL}, {"", NULL}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        const char *got = fk__closest_name(m[i].typed, MODELS, 5, sizeof MODELS[0]);
        CHECK(m[i].want ? got && !strcmp(got, m[i].want) : got == NULL, "'%s' -> %s (want %s)",
              m[i].typed, got ? got : "NULL", m[i].want ? m[i].want : "NULL");
    }
    struct {
        const char *typed, *want;
    } d[] = {{"mtcn", "mtcnn"}, {"sd", "ssd"}, {"opencb", "opencv"}, {"yolo", NULL}, {"retinaface", NULL}};
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        const char *got = fk__closest_name(d[i].typed, DETECTORS, 6, sizeof DETECTORS[0]);
        CHECK(d[i].want ? got && !strcmp(got, d[i].want) : got == NULL, "'%s' -> %s (want %s)",
              d[i].typed, got ? got : "NULL", d[i].want ? d[i].want : "NULL");
    }
    CHECK(fk__closest_name(NULL, MODELS, 5, sizeof MODELS[0]) == NULL, "NULL name");
    /* a table of structs whose first member is the name */
    struct entry {
        const char *name;
        int x;
    } t[] = {{"alpha", 1}, {"beta", 2}};
    const char *got = fk__closest_name("betta", t, 2, sizeof t[0]);
    CHECK(got && !strcmp(got, "beta"), "stride: %s", got ? got : "NULL");
}

/* fk_options_check: FK_EINVAL with the valid names and the suggestion. */
static void expect(const fk_options *o, fk_status want, const char *n1, const char *n2) {
    fk_status st = fk_options_check(o);
    CHECK(st == want, "status %d, want %d (%s)", st, want, fk_last_error());
    CHECK(!n1 || strstr(fk_last_error(), n1), "'%s' not in: %s", n1, fk_last_error());
    CHECK(!n2 || strstr(fk_last_error(), n2), "'%s' not in: %s", n2, fk_last_error());
}

static void test_options_check(void) {
    fk_options o;
    fk_options_init(&o);
    expect(&o, FK_OK, NULL, NULL);
    CHECK(fk_options_check(NULL) == FK_EINVAL, "NULL options");
    o.model = "MOBILEFACENET";
    o.detector = "MediaPipe";
    o.metric = "Euclidean_L2";
    expect(&o, FK_OK, NULL, NULL);

    fk_options_init(&o);
    o.model = "Dlb";
    expect(&o, FK_EINVAL, "unknown model 'Dlb' (did you mean 'Dlib'?)", "valid: Dlib, FaceRes");
    fk_options_init(&o);
    o.model = "GhostFaceNet";
    expect(&o, FK_EINVAL, "unknown model 'GhostFaceNet'", "MobileFaceNet");
    CHECK(!strstr(fk_last_error(), "did you mean"), "no suggestion for GhostFaceNet: %s", fk_last_error());
    fk_options_init(&o);
    o.detector = "mtcn";
    expect(&o, FK_EINVAL, "did you mean 'mtcnn'?", "skip");
    fk_options_init(&o);
    o.metric = "cosin";
    expect(&o, FK_EINVAL, "unknown metric 'cosin' (did you mean 'cosine'?)", "euclidean_l2");

    fk_options_init(&o);
    o.min_confidence = 1.5f;
    expect(&o, FK_EINVAL, "min_confidence", NULL);
    fk_options_init(&o);
    o.expand_percentage = -1;
    expect(&o, FK_EINVAL, "expand_percentage", NULL);
    fk_options_init(&o);
    o.threshold = -0.1f;
    expect(&o, FK_EINVAL, "threshold", NULL);

    /* The library's own lookups carry the suggestion too. */
    float one = 1, d;
    CHECK(fk_distance(&one, &one, 1, "angulr", &d) == FK_EINVAL &&
              strstr(fk_last_error(), "did you mean 'angular'?"),
          "fk_distance: %s", fk_last_error());
}

int main(void) {
    test_distance();
    test_closest();
    test_options_check();
    return test_summary();
}
