/*
 * test_cli_antispoof.c - --anti-spoofing as a user meets it: is_real and
 * antispoof_score appear on every face only when asked, the demo photos'
 * faces are real, the model is chosen by name and a wrong name is a usage
 * error. (The refusal itself - FK_ESPOOF naming the image - is checked in
 * test_antispoof on hand-built faces: no spoof we can make honestly here is
 * flagged by these models, see docs/antispoof.md.)
 */
#include <jansson.h>
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

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) return 1;
    return test_summary();
}
