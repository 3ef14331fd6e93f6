/*
 * test_cli_verify.c - verify's deepface fields (confidence) and
 * `verify --embeddings`, run as a user runs the binary: the verdict on saved
 * embeddings must be the verdict on the images they came from.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "facekit.h"
#include "test.h"
#include "test_cli_run.h"

static const char *cli;
static char tmp[64] = "/tmp/fk_cliv_XXXXXX";
static char out_buf[1 << 20], err_buf[1 << 16];

static int run(const char *const *argv) {
    test_cli_io io = {tmp, NULL, NULL, out_buf, sizeof out_buf, err_buf, sizeof err_buf};
    return test_cli_run(cli, argv, &io);
}

static json_t *parse_out(void) {
    json_error_t e;
    return json_loads(out_buf, 0, &e);
}

static double num(json_t *o, const char *k) {
    return json_number_value(json_object_get(o, k));
}

/* stdout into a file of the scratch folder. */
static void save_out(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(out_buf, f);
    fclose(f);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* The confidence field agrees with the verdict and the distance. */
static void check_confidence(json_t *v, const char *what) {
    double c = num(v, "confidence"), d = num(v, "distance"), t = num(v, "threshold");
    int ok = json_is_true(json_object_get(v, "verified"));
    CHECK(json_is_number(json_object_get(v, "confidence")), "%s: no confidence", what);
    CHECK(ok == (d <= t), "%s: verified %d, distance %g, threshold %g", what, ok, d, t);
    CHECK(ok ? c >= 51 && c <= 100 : c >= 0 && c <= 49, "%s: confidence %g with verified %d",
          what, c, ok);
    float want = 0;
    CHECK(fk_confidence((float)d, (float)t, &want) == FK_OK && fabs(want - c) < 0.011,
          "%s: confidence %g, fk_confidence says %g", what, c, want);
}

int main(void) {
    cli = getenv("FK_CLI");
    if (!cli || access(cli, X_OK) != 0) test_skip("FK_CLI does not name the facekit binary");
    char home[1024], s1[1200], s3[1200], s5[1200];
    if (fk_models_default_home(home, sizeof home) != FK_OK) test_skip("no model home");
    snprintf(s1, sizeof s1, "%s/face-api/sample1.jpg", home);
    snprintf(s3, sizeof s3, "%s/face-api/sample3.jpg", home);
    snprintf(s5, sizeof s5, "%s/face-api/sample5.jpg", home);
    if (access(s1, R_OK) != 0) test_skip("face-api demo photos not installed (facekit models fetch)");
    if (!mkdtemp(tmp)) return 1;
    char e1[128], e3[128], e5[128], bare[128], bad[128], words[128], mfn[128];
    snprintf(e1, sizeof e1, "%s/s1.json", tmp);
    snprintf(e3, sizeof e3, "%s/s3.json", tmp);
    snprintf(e5, sizeof e5, "%s/s5.json", tmp);
    snprintf(bare, sizeof bare, "%s/bare.json", tmp);
    snprintf(bad, sizeof bad, "%s/bad.json", tmp);
    snprintf(words, sizeof words, "%s/words.json", tmp);
    snprintf(mfn, sizeof mfn, "%s/mfn.json", tmp);

    /* Embeddings saved by represent. */
    const char *r1[] = {cli, "represent", s1, NULL}, *r3[] = {cli, "represent", s3, NULL},
               *r5[] = {cli, "represent", s5, NULL};
    int rc = run(r1);
    if (rc != 0 && strstr(err_buf, "models fetch")) test_skip(err_buf);
    CHECK(rc == 0, "represent sample1: %s", err_buf);
    save_out(e1);
    json_t *faces1 = parse_out();
    CHECK(run(r3) == 0, "represent sample3: %s", err_buf);
    save_out(e3);
    CHECK(run(r5) == 0, "represent sample5: %s", err_buf);
    save_out(e5);

    /* Images and their saved embeddings give the same verdict. */
    const char *pairs[2][2] = {{s1, s3}, {s1, s5}};
    const char *saved[2][2] = {{e1, e3}, {e1, e5}};
    for (int p = 0; p < 2; p++) {
        const char *vi[] = {cli, "verify", pairs[p][0], pairs[p][1], NULL};
        CHECK(run(vi) == 0, "verify images: %s", err_buf);
        json_t *a = parse_out();
        check_confidence(a, "verify images");
        const char *ve[] = {cli, "verify", "--embeddings", saved[p][0], saved[p][1], NULL};
        CHECK(run(ve) == 0, "verify --embeddings: %s", err_buf);
        json_t *b = parse_out();
        check_confidence(b, "verify --embeddings");
        CHECK(fabs(num(a, "distance") - num(b, "distance")) < 1e-6 &&
                  num(a, "threshold") == num(b, "threshold") &&
                  json_equal(json_object_get(a, "verified"), json_object_get(b, "verified")) &&
                  num(a, "confidence") == num(b, "confidence"),
              "pair %d: images %g/%g, embeddings %g/%g", p, num(a, "distance"),
              num(a, "confidence"), num(b, "distance"), num(b, "confidence"));
        /* The closest pair's facial areas come from the files. */
        json_t *fa = json_object_get(a, "facial_areas"), *fb = json_object_get(b, "facial_areas");
        CHECK(json_equal(json_object_get(json_object_get(fa, "img1"), "x"),
                         json_object_get(json_object_get(fb, "img1"), "x")),
              "pair %d: the same face of img1 decides", p);
        CHECK(!strcmp(json_string_value(json_object_get(b, "model")), "Dlib"), "model");
        json_decref(a);
        json_decref(b);
    }
    CHECK(!strcmp(pairs[0][0], s1), "sanity");

    /* A bare list of numbers is an embedding too: one face against itself. */
    json_t *first = json_object_get(json_array_get(faces1, 0), "embedding");
    char *txt = json_dumps(first, 0);
    write_text(bare, txt);
    free(txt);
    const char *vb[] = {cli, "verify", "--embeddings", bare, e1, NULL};
    CHECK(run(vb) == 0, "bare list: %s", err_buf);
    json_t *b = parse_out();
    CHECK(num(b, "distance") < 1e-6 && num(b, "confidence") == 100, "a face against itself: %s",
          out_buf);
    json_decref(b);
    json_decref(faces1);

    /* Refusals, each with one line naming the cause. */
    const char *vm[] = {cli, "verify", "--embeddings", e1, e3, "--model", "MobileFaceNet", NULL};
    CHECK(run(vm) == 1 && strstr(err_buf, "128 values") && strstr(err_buf, "MobileFaceNet") &&
              out_buf[0] == 0,
          "wrong model: %s", err_buf);
    write_text(bad, "[1, 2");
    const char *vj[] = {cli, "verify", "--embeddings", bad, e3, NULL};
    CHECK(run(vj) == 1 && strstr(err_buf, "bad.json: not JSON"), "bad JSON: %s", err_buf);
    write_text(words, "[{\"embedding\": [1, \"two\"]}]");
    const char *vw[] = {cli, "verify", "--embeddings", words, e3, NULL};
    CHECK(run(vw) == 1 && strstr(err_buf, "not a finite number"), "a string: %s", err_buf);
    const char *rm[] = {cli, "represent", s1, "--model", "MobileFaceNet", NULL};
    if (run(rm) == 0) {
        save_out(mfn);
        const char *vd[] = {cli, "verify", "--embeddings", mfn, e3, NULL};
        CHECK(run(vd) == 1 && strstr(err_buf, "different models"), "dims differ: %s", err_buf);
        const char *vk[] = {cli, "verify", "--embeddings", mfn, mfn, "--model", "mobilefacenet", NULL};
        CHECK(run(vk) == 0 && strstr(out_buf, "\"model\": \"MobileFaceNet\""), "MobileFaceNet: %s",
              err_buf);
    }
    const char *vs[] = {cli, "verify", "--embeddings", "-", "-", NULL};
    CHECK(run(vs) == 2, "two stdins: usage error");
    const char *vn[] = {cli, "verify", "--embeddings", e1, NULL};
    CHECK(run(vn) == 2, "one file: usage error");
    const char *vx[] = {cli, "verify", "--embeddings", "/nonexistent.json", e1, NULL};
    CHECK(run(vx) == 1 && strstr(err_buf, "cannot open"), "missing file: %s", err_buf);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) return 1;
    return test_summary();
}
