/*
 * test_cli_extract.c - `facekit extract-faces` run as a user runs it, on
 * face-api's sample1 (three faces): the JSON fields, the inline PNG decodes
 * to a crop of the size reported, --out writes the files it lists,
 * --normalize-face gives deepface's float lists and is refused with --out,
 * --max-faces. Skips when the models or FK_CLI are absent.
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

static char out[1 << 24], err[1 << 14];

/* Decode standard base64 into a new buffer; *n its length. */
static uint8_t *unbase64(const char *s, size_t *n) {
    size_t len = strlen(s);
    uint8_t *b = malloc(len / 4 * 3 + 3);
    size_t o = 0;
    uint32_t v = 0;
    int bits = 0;
    for (size_t i = 0; b && i < len && s[i] != '='; i++) {
        const char *T = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const char *p = strchr(T, s[i]);
        if (!p) { free(b); return NULL; }
        v = v << 6 | (uint32_t)(p - T);
        if ((bits += 6) >= 8) b[o++] = (uint8_t)(v >> (bits -= 8));
    }
    *n = o;
    return b;
}

static json_t *run(const char *cli, const char *const *argv, const test_cli_io *io, int *rc) {
    *rc = test_cli_run(cli, argv, io);
    json_error_t e;
    return *rc == 0 ? json_loads(out, 0, &e) : NULL;
}

int main(void) {
    const char *cli = getenv("FK_CLI");
    char home[1024], img[PATH_MAX];
    if (!cli || access(cli, X_OK) != 0) test_skip("FK_CLI not set");
    if (fk_models_default_home(home, sizeof home) != FK_OK) test_skip("no model home");
    snprintf(img, sizeof img, "%s/face-api/sample1.jpg", home);
    if (access(img, R_OK) != 0) test_skip("face-api models not installed");
    char scratch[] = "/tmp/fk-cli-extract-XXXXXX";
    if (!mkdtemp(scratch)) test_skip("no scratch folder");
    test_cli_io io = {scratch, home, NULL, out, sizeof out, err, sizeof err};
    int rc;

    /* Inline PNGs. */
    const char *a1[] = {cli, "extract-faces", img, NULL};
    json_t *j = run(cli, a1, &io, &rc);
    CHECK(rc == 0 && json_is_array(j) && json_array_size(j) == 3, "rc %d: %s", rc, err);
    for (size_t i = 0; j && i < json_array_size(j); i++) {
        json_t *f = json_array_get(j, i);
        const char *face = json_string_value(json_object_get(f, "face"));
        json_t *area = json_object_get(f, "facial_area");
        CHECK(json_is_integer(json_object_get(area, "w")) && json_is_array(json_object_get(area, "left_eye")) &&
                  json_is_real(json_object_get(f, "confidence")) &&
                  json_is_array(json_object_get(json_object_get(f, "eyes_in_face"), "left_eye")),
              "face %zu: fields", i);
        CHECK(json_integer_value(json_object_get(f, "width")) == 150 &&
                  json_integer_value(json_object_get(f, "height")) == 150,
              "face %zu: Dlib's 150x150 chip", i);
        const char *prefix = "data:image/png;base64,";
        CHECK(face && !strncmp(face, prefix, strlen(prefix)), "face %zu: a PNG data URL", i);
        if (!face || strncmp(face, prefix, strlen(prefix))) continue;
        size_t n = 0;
        uint8_t *png = unbase64(face + strlen(prefix), &n);
        fk_image *crop = NULL;
        CHECK(png && fk_image_decode(png, n, "crop", 0, &crop) == FK_OK && crop->width == 150 &&
                  crop->height == 150,
              "face %zu: the PNG decodes to 150x150: %s", i, fk_last_error());
        fk_image_free(crop);
        free(png);
    }
    json_decref(j);

    /* --out DIR, unaligned, png. */
    char dir[256];
    snprintf(dir, sizeof dir, "%s/faces", scratch);
    mkdir(dir, 0755);
    const char *a2[] = {cli, "extract-faces", img, "--out", dir, "--format", "png", "--align",
                        "false", NULL};
    j = run(cli, a2, &io, &rc);
    CHECK(rc == 0 && json_array_size(j) == 3, "--out: rc %d: %s", rc, err);
    for (size_t i = 0; j && i < json_array_size(j); i++) {
        json_t *f = json_array_get(j, i);
        const char *path = json_string_value(json_object_get(f, "face"));
        char want[PATH_MAX + 64];
        snprintf(want, sizeof want, "%s/sample1_face%zu.png", dir, i + 1);
        CHECK(path && !strcmp(path, want), "face %zu: path %s", i, path ? path : "(none)");
        fk_image *crop = NULL;
        CHECK(path && fk_image_load(path, 0, &crop) == FK_OK &&
                  crop->width == json_integer_value(json_object_get(f, "width")) &&
                  /* whole pixels from the rounded ends: within 1 of the rounded w */
                  llabs(crop->width - json_integer_value(json_object_get(json_object_get(f, "facial_area"), "w"))) <= 1,
              "face %zu: the file is the box's size", i);
        fk_image_free(crop);
        if (path) unlink(path);
    }
    json_decref(j);
    rmdir(dir);

    /* --normalize-face: deepface's float lists; gray gives h x w. */
    const char *a3[] = {cli, "extract-faces", img, "--normalize-face", "true", "--model",
                        "MobileFaceNet", "--max-faces", "1", "--color-face", "gray", NULL};
    j = run(cli, a3, &io, &rc);
    CHECK(rc == 0 && json_array_size(j) == 1, "--max-faces 1: rc %d: %s", rc, err);
    json_t *rows = json_object_get(json_array_get(j, 0), "face");
    json_t *px = json_array_get(json_array_get(rows, 56), 56);
    CHECK(json_array_size(rows) == 112 && json_array_size(json_array_get(rows, 0)) == 112 &&
              json_is_real(px) && json_real_value(px) >= 0 && json_real_value(px) <= 1,
          "112 x 112 floats in 0..1");
    json_decref(j);

    const char *a4[] = {cli, "extract-faces", img, "--normalize-face", "true", "--out", scratch, NULL};
    rc = test_cli_run(cli, a4, &io);
    CHECK(rc == 2 && strstr(err, "8-bit"), "--normalize-face with --out: rc %d: %s", rc, err);
    const char *a5[] = {cli, "extract-faces", img, "--color-face", "blue", NULL};
    rc = test_cli_run(cli, a5, &io);
    CHECK(rc == 2 && strstr(err, "rgb, bgr, gray"), "bad --color-face: rc %d: %s", rc, err);
    /* --out makes the folder it is given, parents included; a file in
     * the way is refused. */
    char deep[PATH_MAX], made[PATH_MAX + 64];
    snprintf(deep, sizeof deep, "%s/new/deeper", scratch);
    const char *a11[] = {cli, "extract-faces", img, "--out", deep, "--max-faces", "1", NULL};
    rc = test_cli_run(cli, a11, &io);
    const char *base = strrchr(img, '/') ? strrchr(img, '/') + 1 : img;
    snprintf(made, sizeof made, "%s/%.*s_face1.jpg", deep, (int)(strcspn(base, ".")), base);
    CHECK(rc == 0 && access(made, R_OK) == 0, "--out made %s: rc %d: %s", made, rc, err);
    unlink(made);
    rmdir(deep);
    snprintf(made, sizeof made, "%s/new", scratch);
    rmdir(made);
    snprintf(made, sizeof made, "%s/stdout/x", scratch);
    const char *a12[] = {cli, "extract-faces", img, "--out", made, NULL};
    rc = test_cli_run(cli, a12, &io);
    CHECK(rc == 1 && strstr(err, "not a folder"), "--out through a file: rc %d: %s", rc, err);

    /* bgr: the lists of --normalize-face with red and blue swapped; refused
     * for image output, whose files would show swapped colours. */
    const char *a8[] = {cli, "extract-faces", img, "--color-face", "bgr", NULL};
    rc = test_cli_run(cli, a8, &io);
    CHECK(rc == 2 && strstr(err, "--normalize-face"), "bgr to a PNG: rc %d: %s", rc, err);
    const char *a9[] = {cli, "extract-faces", img, "--normalize-face", "true", "--max-faces", "1",
                        "--model", "MobileFaceNet", NULL};
    const char *a10[] = {cli, "extract-faces", img, "--normalize-face", "true", "--max-faces", "1",
                         "--model", "MobileFaceNet", "--color-face", "bgr", NULL};
    json_t *jr = run(cli, a9, &io, &rc);
    json_t *jb = run(cli, a10, &io, &rc);
    int swapped = jr && jb, differs = 0;
    for (int y = 0; swapped && y < 112; y += 7)
        for (int x = 0; x < 112; x += 7) {
            json_t *pr = json_array_get(json_array_get(json_object_get(json_array_get(jr, 0), "face"), y), x);
            json_t *pb = json_array_get(json_array_get(json_object_get(json_array_get(jb, 0), "face"), y), x);
            for (int c = 0; c < 3; c++)
                swapped &= json_real_value(json_array_get(pr, c)) ==
                           json_real_value(json_array_get(pb, 2 - c));
            differs |= json_real_value(json_array_get(pr, 0)) != json_real_value(json_array_get(pr, 2));
        }
    CHECK(swapped && differs, "bgr lists are the rgb lists with channels swapped");
    json_decref(jr);
    json_decref(jb);
    const char *a6[] = {cli, "represent", img, "--normalization", "nope", NULL};
    rc = test_cli_run(cli, a6, &io);
    CHECK(rc == 2 && strstr(err, "VGGFace2"), "bad --normalization: rc %d: %s", rc, err);
    const char *a7[] = {cli, "represent", img, "--l2-normalize", "true", "--normalization",
                        "facenet", "--max-faces", "1", NULL};
    j = run(cli, a7, &io, &rc);
    json_t *f0 = json_array_get(j, 0), *emb = json_object_get(f0, "embedding");
    double ss = 0;
    for (size_t k = 0; k < json_array_size(emb); k++) ss += json_real_value(json_array_get(emb, k)) * json_real_value(json_array_get(emb, k));
    CHECK(rc == 0 && json_array_size(emb) == 128 && ss > 0.9999 && ss < 1.0001 &&
              !strcmp(json_string_value(json_object_get(f0, "normalization")), "Facenet"),
          "represent --l2-normalize --normalization: rc %d, |e|^2 %f: %s", rc, ss, err);
    json_decref(j);

    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/stdout", scratch);
    unlink(path);
    snprintf(path, sizeof path, "%s/stderr", scratch);
    unlink(path);
    rmdir(scratch);
    return test_summary();
}
