/*
 * test_cli_antispoof.c - --anti-spoofing as a user meets it: is_real and
 * antispoof_score appear on every face only when asked, the demo photos'
 * faces are real, the model is chosen by name and a wrong name is a usage
 * error. The refusal end to end: none of the synthetic recaptures we can
 * make is flagged by these models (docs/antispoof.md), but the photographic
 * negative of an LFW photo, taken whole (--detector skip: no detector finds
 * a face in a negative), is judged a spoof by liveness (P(live) 0.014,
 * under its 0.03); with it represent, verify, analyze, register, search and
 * find refuse naming the image and change nothing, detect and
 * extract-faces report is_real false, and --anti-spoofing false lets it
 * through. Skipped without ../shared.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "facekit.h"
#include "test.h"
#include "test_cli_run.h"

static const char *cli;
static char tmp[64] = "/tmp/fk_clias_XXXXXX";
static char out_buf[1 << 20], err_buf[1 << 16];

static int run(const char *const *argv) {
    test_cli_io io = {tmp, NULL, NULL, out_buf, sizeof out_buf, err_buf, sizeof err_buf};
    return test_cli_run(cli, argv, &io);
}

/* Every object of `list` (an array of faces) has the fields or none has. */
static void check_faces(json_t *list, const char *key, int want, const char *what) {
    size_t i;
    json_t *f;
    int n = 0;
    json_array_foreach(list, i, f) {
        json_t *o = key ? json_object_get(f, key) : f;
        json_t *r = json_object_get(o, "is_real"), *s = json_object_get(o, "antispoof_score");
        if (want) {
            CHECK(json_is_true(r) && json_is_number(s) && json_number_value(s) > 0 &&
                      json_number_value(s) <= 1,
                  "%s: face %zu: is_real %s, score %g", what, i, json_is_true(r) ? "true" : "not true",
                  json_number_value(s));
        } else {
            CHECK(!r && !s, "%s: face %zu has spoof fields without the flag", what, i);
        }
        n++;
    }
    CHECK(n > 0, "%s: no faces", what);
}

/* The photographic negative of `src`, written as PNG to `dst`. */
static int write_negative(const char *src, const char *dst) {
    fk_image *img = NULL;
    if (fk_image_load(src, 0, &img) != FK_OK) return 0;
    for (int y = 0; y < img->height; y++) {
        uint8_t *row = img->data + (size_t)y * img->stride;
        for (int x = 0; x < img->width * img->channels; x++) row[x] = (uint8_t)(255 - row[x]);
    }
    int ok = fk_image_save(img, dst, 0) == FK_OK;
    fk_image_free(img);
    return ok;
}

static void check_refusals(const char *lfw) {
    char real[1200], neg[128], db[128], dir[128];
    snprintf(real, sizeof real, "%s/Albert_Brooks/Albert_Brooks_0001.jpg", lfw);
    if (access(real, R_OK) != 0) {
        printf("skip refusals: %s not found\n", real);
        return;
    }
    snprintf(neg, sizeof neg, "%s/negative.png", tmp);
    snprintf(db, sizeof db, "%s/refuse.db", tmp);
    snprintf(dir, sizeof dir, "%s/folder", tmp);
    CHECK(write_negative(real, neg), "negative: %s", fk_last_error());
#define SPOOF "--detector", "skip", "--anti-spoofing", "true", "--antispoof-model", "liveness"
    /* The real photo goes in first, so the refusals below must leave it. */
    const char *g0[] = {cli, "register", real, "--db", db, SPOOF, NULL};
    CHECK(run(g0) == 0, "register the real photo: %s", err_buf);
    const char *refused[][16] = {
        {cli, "represent", neg, SPOOF, NULL},
        {cli, "verify", real, neg, SPOOF, NULL},
        {cli, "analyze", neg, "--actions", "age", SPOOF, NULL},
        {cli, "register", neg, "--db", db, "--id", "fake", SPOOF, NULL},
        {cli, "search", neg, "--db", db, SPOOF, NULL},
    };
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) {
        int rc = run(refused[k]);
        CHECK(rc == 1 && out_buf[0] == 0 && strstr(err_buf, "negative.png: face 1 at (0, 0, 250, 250)") &&
                  strstr(err_buf, "looks like a spoof") && strstr(err_buf, "liveness"),
              "%s refuses the negative: rc %d, out '%.80s', err %s", refused[k][1], rc, out_buf, err_buf);
    }
    /* Nothing was stored: the gallery holds the real photo's face only. */
    const char *g1[] = {cli, "search", real, "--db", db, "--detector", "skip", NULL};
    CHECK(run(g1) == 0 && strstr(out_buf, "Albert_Brooks_0001") && !strstr(out_buf, "fake"),
          "gallery after the refusals: %s %s", out_buf, err_buf);
    /* find: the folder's images are the user's gallery (not checked, as in
     * deepface), the query is. */
    char cmd[2800];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s %s %s/", dir, real, neg, dir);
    CHECK(system(cmd) == 0, "%s", cmd);
    const char *f1[] = {cli, "find", neg, "--db", dir, SPOOF, NULL};
    int rc = run(f1);
    CHECK(rc == 1 && strstr(err_buf, "negative.png: face 1") && strstr(err_buf, "spoof"),
          "find refuses the query: rc %d %s", rc, err_buf);
    const char *f2[] = {cli, "find", real, "--db", dir, SPOOF, NULL};
    CHECK(run(f2) == 0 && strstr(out_buf, "Albert_Brooks_0001"), "find with a real query: %s %s",
          out_buf, err_buf);
    /* detect and extract-faces report the verdict. */
    const char *reported[][12] = {
        {cli, "detect", neg, SPOOF, NULL},
        {cli, "extract-faces", neg, SPOOF, NULL},
    };
    for (int k = 0; k < 2; k++) {
        CHECK(run(reported[k]) == 0, "%s: %s", reported[k][1], err_buf);
        json_error_t e;
        json_t *j = json_loads(out_buf, 0, &e), *f = json_array_get(j, 0);
        CHECK(json_array_size(j) == 1 && json_is_false(json_object_get(f, "is_real")) &&
                  json_number_value(json_object_get(f, "antispoof_score")) > 0.9,
              "%s reports the spoof: %.200s", reported[k][1], out_buf);
        json_decref(j);
    }
    /* Without the check it goes through. */
    const char *v0[] = {cli, "verify", real, neg, "--detector", "skip", NULL};
    CHECK(run(v0) == 0 && strstr(out_buf, "\"verified\""), "verify without the check: %s", err_buf);
#undef SPOOF
}

int main(void) {
    cli = getenv("FK_CLI");
    if (!cli || access(cli, X_OK) != 0) test_skip("FK_CLI does not name the facekit binary");
    char home[1024], s1[1200], s3[1200], probe[1200], db[128];
    if (fk_models_default_home(home, sizeof home) != FK_OK) test_skip("no model home");
    snprintf(s1, sizeof s1, "%s/face-api/sample1.jpg", home);
    snprintf(s3, sizeof s3, "%s/face-api/sample3.jpg", home);
    snprintf(probe, sizeof probe, "%s/human-models/antispoof.json", home);
    if (access(s1, R_OK) != 0 || access(probe, R_OK) != 0)
        test_skip("models not installed (facekit models fetch)");
    if (!mkdtemp(tmp)) return 1;
    snprintf(db, sizeof db, "%s/g.db", tmp);
    json_error_t e;

    const char *d0[] = {cli, "detect", s1, NULL};
    CHECK(run(d0) == 0, "detect: %s", err_buf);
    json_t *j = json_loads(out_buf, 0, &e);
    check_faces(j, NULL, 0, "detect without the flag");
    json_decref(j);
    const char *models[] = {"antispoof", "liveness"};
    for (int m = 0; m < 2; m++) {
        const char *d1[] = {cli, "detect", s1, "--anti-spoofing", "true", "--antispoof-model",
                            models[m], NULL};
        CHECK(run(d1) == 0, "detect --anti-spoofing (%s): %s", models[m], err_buf);
        j = json_loads(out_buf, 0, &e);
        check_faces(j, NULL, 1, models[m]);
        json_decref(j);
    }
    const char *r1[] = {cli, "represent", s1, "--anti-spoofing", "true", NULL};
    CHECK(run(r1) == 0, "represent: %s", err_buf);
    j = json_loads(out_buf, 0, &e);
    check_faces(j, NULL, 1, "represent");
    json_decref(j);

    /* verify: each image's face carries its verdict inside facial_areas. */
    const char *v1[] = {cli, "verify", s1, s3, "--anti-spoofing", "true", NULL};
    CHECK(run(v1) == 0 && strstr(out_buf, "\"verified\": true"), "verify: %s %s", out_buf, err_buf);
    j = json_loads(out_buf, 0, &e);
    json_t *areas = json_pack("[O, O]", json_object_get(json_object_get(j, "facial_areas"), "img1"),
                              json_object_get(json_object_get(j, "facial_areas"), "img2"));
    check_faces(areas, NULL, 1, "verify");
    json_decref(areas);
    json_decref(j);
    const char *v0[] = {cli, "verify", s1, s3, NULL};
    CHECK(run(v0) == 0 && !strstr(out_buf, "is_real"), "verify without the flag: %s", out_buf);

    /* register and search pass real faces and say so. */
    const char *g1[] = {cli, "register", s1, "--db", db, "--anti-spoofing", "true", NULL};
    CHECK(run(g1) == 0, "register: %s", err_buf);
    j = json_loads(out_buf, 0, &e);
    check_faces(json_object_get(j, "faces"), NULL, 1, "register");
    json_decref(j);
    const char *g2[] = {cli, "search", s3, "--db", db, "--anti-spoofing", "true", NULL};
    CHECK(run(g2) == 0, "search: %s", err_buf);
    j = json_loads(out_buf, 0, &e);
    check_faces(json_object_get(j, "results"), NULL, 1, "search");
    json_decref(j);

    /* A model name that does not exist: a usage error naming the valid ones. */
    const char *b1[] = {cli, "detect", s1, "--anti-spoofing", "true", "--antispoof-model", "livenes", NULL};
    int rc = run(b1);
    CHECK(rc == 2 && strstr(err_buf, "liveness") && out_buf[0] == 0, "bad model: rc %d: %s", rc,
          err_buf);
    const char *b2[] = {cli, "detect", s1, "--anti-spoofing", "maybe", NULL};
    CHECK(run(b2) == 2, "bad BOOL");

    char lfw[1024];
    snprintf(lfw, sizeof lfw, "%s/data/lfw-devtrain/images", test_env("FK_SHARED", "../shared"));
    check_refusals(lfw);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) return 1;
    return test_summary();
}
