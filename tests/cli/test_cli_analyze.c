/*
 * test_cli_analyze.c - `facekit analyze` run as a user runs it, on
 * face-api's sample1 (three faces): deepface's JSON fields (age, gender
 * {Woman, Man}, dominant_gender, emotion's seven keys, dominant_emotion,
 * race, dominant_race, region, face_confidence), no is_real without
 * --anti-spoofing, --actions narrowing the fields, --max-faces, and usage
 * errors (exit 2): an unknown action listing the valid ones, a model that
 * lacks the action. Skips when the models or FK_CLI are absent.
 */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facekit.h"
#include "test.h"
#include "test_cli_run.h"

static char out[1 << 20], err[1 << 14];

static json_t *run(const char *cli, const char *const *argv, const test_cli_io *io, int *rc) {
    *rc = test_cli_run(cli, argv, io);
    json_error_t e;
    return *rc == 0 ? json_loads(out, 0, &e) : NULL;
}

int main(void) {
    const char *cli = getenv("FK_CLI");
    char home[1024], img[PATH_MAX], probe[PATH_MAX];
    if (!cli || access(cli, X_OK) != 0) test_skip("FK_CLI not set");
    if (fk_models_default_home(home, sizeof home) != FK_OK) test_skip("no model home");
    snprintf(img, sizeof img, "%s/face-api/sample1.jpg", home);
    snprintf(probe, sizeof probe, "%s/human-models/gear.json", home);
    if (access(img, R_OK) != 0 || access(probe, R_OK) != 0)
        test_skip("analyzer models not installed");
    char scratch[] = "/tmp/fk-cli-analyze-XXXXXX";
    if (!mkdtemp(scratch)) test_skip("no scratch folder");
    test_cli_io io = {scratch, home, NULL, out, sizeof out, err, sizeof err};
    int rc;

    const char *a1[] = {cli, "analyze", img, NULL};
    json_t *j = run(cli, a1, &io, &rc);
    CHECK(rc == 0 && json_is_array(j) && json_array_size(j) == 3, "rc %d: %s", rc, err);
    static const char *const EMO[] = {"angry", "disgust", "fear", "happy", "sad", "surprise",
                                      "neutral"};
    for (size_t i = 0; j && i < json_array_size(j); i++) {
        json_t *f = json_array_get(j, i);
        json_t *g = json_object_get(f, "gender"), *e = json_object_get(f, "emotion");
        json_t *r = json_object_get(f, "race"), *area = json_object_get(f, "region");
        CHECK(json_is_integer(json_object_get(f, "age")) &&
                  json_is_number(json_object_get(g, "Woman")) &&
                  json_is_number(json_object_get(g, "Man")) && json_object_size(g) == 2,
              "face %zu: age, gender", i);
        const char *dg = json_string_value(json_object_get(f, "dominant_gender"));
        CHECK(dg && (!strcmp(dg, "Woman") || !strcmp(dg, "Man")), "dominant_gender");
        CHECK(json_object_size(e) == 7, "7 emotions");
        for (int k = 0; k < 7; k++) CHECK(json_is_number(json_object_get(e, EMO[k])), "%s", EMO[k]);
        CHECK(json_is_string(json_object_get(f, "dominant_emotion")), "dominant_emotion");
        CHECK(json_object_size(r) == 5 && json_object_get(r, "white") &&
                  json_object_get(r, "asian") && json_object_get(r, "indian") &&
                  json_object_get(r, "black") && json_object_get(r, "other"),
              "GEAR's five classes");
        CHECK(json_is_string(json_object_get(f, "dominant_race")), "dominant_race");
        CHECK(json_is_integer(json_object_get(area, "x")) && json_is_integer(json_object_get(area, "h")) &&
                  json_is_array(json_object_get(area, "left_eye")) &&
                  json_is_array(json_object_get(area, "right_eye")),
              "region");
        CHECK(json_is_real(json_object_get(f, "face_confidence")), "face_confidence");
        CHECK(!json_object_get(f, "is_real") && !json_object_get(f, "antispoof_score"),
              "no anti-spoofing fields without --anti-spoofing");
    }
    json_decref(j);

    const char *a2[] = {cli, "analyze", img, "--actions", "Age, emotion", "--max-faces", "1", NULL};
    j = run(cli, a2, &io, &rc);
    CHECK(rc == 0 && json_array_size(j) == 1, "rc %d: %s", rc, err);
    json_t *f = json_array_get(j, 0);
    CHECK(f && json_object_get(f, "age") && json_object_get(f, "emotion") &&
              !json_object_get(f, "gender") && !json_object_get(f, "race") &&
              json_object_get(f, "region"),
          "--actions age,emotion: only those");
    json_decref(j);

    const char *a3[] = {cli, "analyze", img, "--actions", "age,smile", NULL};
    rc = test_cli_run(cli, a3, &io);
    CHECK(rc == 2 && strstr(err, "'smile'") && strstr(err, "age, gender, emotion, race"),
          "unknown action: rc %d: %s", rc, err);
    const char *a4[] = {cli, "analyze", img, "--race-model", "Oarriaga-Gender", NULL};
    rc = test_cli_run(cli, a4, &io);
    CHECK(rc == 2 && strstr(err, "gives no race"), "model without the action: rc %d: %s", rc, err);
    const char *a5[] = {cli, "analyze", NULL};
    CHECK(test_cli_run(cli, a5, &io) == 2, "no image");
    const char *a6[] = {cli, "analyze", img, "--model", "Dlib", NULL};
    CHECK(test_cli_run(cli, a6, &io) == 2, "--model is not analyze's");
    const char *a7[] = {cli, "models", "list", NULL};
    rc = test_cli_run(cli, a7, &io);
    CHECK(rc == 0 && strstr(out, "GEAR") && strstr(out, "Oarriaga-Emotion") &&
              strstr(out, "analyzer"),
          "models list shows the analyzers");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/stdout", scratch);
    unlink(path);
    snprintf(path, sizeof path, "%s/stderr", scratch);
    unlink(path);
    rmdir(scratch);
    return test_summary();
}
