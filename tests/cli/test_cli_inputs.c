/*
 * test_cli_inputs.c - the IMG argument of the facekit commands in every
 * form a deepface user passes it: a path, "-" (standard input), a base64
 * string, a data URI, and a WebP file; detect --out writing WebP; bad forms
 * refused with exit 1 and one line naming the form, two "-" a usage error.
 *
 * The embedding checks need the models and a real photo: one LFW image
 * ($FK_SHARED/data/lfw-devtrain/images/AJ_Cook/AJ_Cook_0001.jpg), else the
 * model home's face-api/sample1.jpg; they are skipped cleanly without them.
 * FK_CLI names the binary (set by ctest).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "facekit.h"
#include "test.h"
#include "test_cli_run.h"

static const char *cli;
static char tmp[64] = "/tmp/fk_cli_inputs_XXXXXX";
static char out_buf[1 << 20], err_buf[1 << 16];

/* Run the CLI; stdin reads `in` (a file) when non-NULL. */
static int run_in(const char *in, const char *const *argv) {
    test_cli_io io = {tmp, NULL, NULL, out_buf, sizeof out_buf, err_buf, sizeof err_buf};
    int saved = -1;
    if (in) {
        int fd = open(in, O_RDONLY);
        if (fd < 0) return 127;
        saved = dup(0);
        dup2(fd, 0);
        close(fd);
    }
    int rc = test_cli_run(cli, argv, &io);
    if (saved >= 0) {
        dup2(saved, 0);
        close(saved);
    }
    return rc;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Exit 1, one stderr line holding n1 and n2, nothing on stdout. */
static void expect_error(const char *what, int rc, const char *n1, const char *n2) {
    CHECK(rc == 1, "%s: exit code %d (stderr: %s)", what, rc, err_buf);
    CHECK(count_lines(err_buf) == 1, "%s: stderr has %d lines: %s", what, count_lines(err_buf),
          err_buf);
    CHECK(out_buf[0] == '\0', "%s: stdout not empty: %.200s", what, out_buf);
    CHECK(!n1 || strstr(err_buf, n1), "%s: '%s' not in: %s", what, n1, err_buf);
    CHECK(!n2 || strstr(err_buf, n2), "%s: '%s' not in: %s", what, n2, err_buf);
}

static uint8_t *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(len > 0 ? (size_t)len : 1);
    *n = b ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    return b;
}

static void write_file(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(d, 1, n, f);
    fclose(f);
}

/* Base64 (standard alphabet, padded), with `prefix` before it. */
static char *b64(const uint8_t *d, size_t n, const char *prefix) {
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t pl = strlen(prefix);
    char *o = malloc(pl + (n + 2) / 3 * 4 + 1), *q = o + pl;
    memcpy(o, prefix, pl);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        *q++ = al[v >> 18 & 63];
        *q++ = al[v >> 12 & 63];
        *q++ = i + 1 < n ? al[v >> 6 & 63] : '=';
        *q++ = i + 2 < n ? al[v & 63] : '=';
    }
    *q = '\0';
    return o;
}

static void in_tmp(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", tmp, name);
}

/* ---- without models ----------------------------------------------------- */

static void test_bad_forms(void) {
    char text[256], textb64[512];
    const char msg[] = "these bytes are plain text, not a picture of anyone at all!!";
    char *wb = b64((const uint8_t *)msg, sizeof msg - 1, "");
    snprintf(textb64, sizeof textb64, "%s", wb);
    free(wb);

    const char *a1[] = {cli, "represent", "data:text/plain;base64,aGVsbG8gd29ybGQ=", NULL};
    expect_error("wrong MIME", run_in(NULL, a1), "data URI has MIME type text/plain", NULL);
    const char *a2[] = {cli, "detect", "data:image/png,not-base64", NULL};
    expect_error("data URI not base64", run_in(NULL, a2), "is not base64", NULL);
    const char *a3[] = {cli, "represent", textb64, NULL};
    expect_error("base64 of text", run_in(NULL, a3), "base64 string (80 characters)",
                 "not a JPEG, PNG, WebP or BMP image");
    const char *a4[] = {cli, "detect", "nosuch", NULL};
    expect_error("short typo", run_in(NULL, a4), "nosuch: not a file and not base64",
                 "No such file");
    in_tmp(text, sizeof text, "missing.jpg");
    const char *a5[] = {cli, "verify", text, text, NULL};
    expect_error("missing file", run_in(NULL, a5), "missing.jpg", "cannot open");
    const char *a6[] = {cli, "represent", "-", NULL};
    expect_error("empty stdin", run_in("/dev/null", a6), "standard input", "empty");
    in_tmp(text, sizeof text, "words.txt");
    write_file(text, msg, sizeof msg - 1);
    expect_error("text on stdin", run_in(text, a6), "standard input", "not a data URI");
    /* /dev/zero on stdin never ends: the byte bound stops it */
    const char *a7[] = {cli, "detect", "-", "--max-megapixels", "0.01", NULL};
    expect_error("endless stdin", run_in("/dev/zero", a7), "standard input", "more than");

    const char *u1[] = {cli, "verify", "-", "-", NULL};
    int rc = run_in("/dev/null", u1);
    CHECK(rc == 2 && strstr(err_buf, "standard input ('-') can be read only once"),
          "verify - -: exit %d: %s", rc, err_buf);
    const char *h[] = {cli, "represent", "--help", NULL};
    rc = run_in(NULL, h);
    CHECK(rc == 0 && strstr(out_buf, "WebP or BMP") && strstr(out_buf, "data URI") &&
              strstr(out_buf, "base64") && strstr(out_buf, "standard input"),
          "represent --help names the IMG forms: %s", out_buf);
    const char *h2[] = {cli, "detect", "--help", NULL};
    rc = run_in(NULL, h2);
    CHECK(rc == 0 && strstr(out_buf, ".webp"), "detect --help: --out takes .webp");
}

/* ---- with models -------------------------------------------------------- */

static void test_same_embedding(const char *photo) {
    size_t n = 0;
    uint8_t *jpg = read_file(photo, &n);
    CHECK(jpg != NULL, "read %s", photo);
    if (!jpg) return;
    char *plain = b64(jpg, n, ""), *uri = b64(jpg, n, "data:image/jpeg;base64,");

    const char *ap[] = {cli, "represent", photo, NULL};
    int rc = run_in(NULL, ap);
    CHECK(rc == 0 && strstr(out_buf, "\"embedding\""), "represent path: exit %d: %s", rc,
          err_buf);
    char *want = strdup(out_buf);

    const char *as[] = {cli, "represent", "-", NULL};
    rc = run_in(photo, as);
    CHECK(rc == 0 && !strcmp(out_buf, want), "stdin gives the identical output (exit %d: %s)",
          rc, err_buf);
    const char *ab[] = {cli, "represent", plain, NULL};
    rc = run_in(NULL, ab);
    CHECK(rc == 0 && !strcmp(out_buf, want), "base64 gives the identical output (exit %d: %s)",
          rc, err_buf);
    const char *au[] = {cli, "represent", uri, NULL};
    rc = run_in(NULL, au);
    CHECK(rc == 0 && !strcmp(out_buf, want), "data URI gives the identical output (exit %d: %s)",
          rc, err_buf);

    /* a lossless WebP of the photo's pixels: the identical embedding */
    char webp[256];
    in_tmp(webp, sizeof webp, "photo.webp");
    fk_image *img = NULL;
    CHECK(fk_image_load(photo, 0, &img) == FK_OK && fk_image_save(img, webp, 100) == FK_OK,
          "lossless WebP written: %s", fk_last_error());
    fk_image_free(img);
    const char *aw[] = {cli, "represent", webp, NULL};
    rc = run_in(NULL, aw);
    CHECK(rc == 0 && !strcmp(out_buf, want), "lossless WebP gives the identical output "
          "(exit %d: %s)", rc, err_buf);
    /* and a WebP on stdin */
    rc = run_in(webp, as);
    CHECK(rc == 0 && !strcmp(out_buf, want), "WebP on stdin: exit %d: %s", rc, err_buf);

    /* verify with one image from stdin and the other as base64 */
    const char *av[] = {cli, "verify", "-", plain, NULL};
    rc = run_in(photo, av);
    CHECK(rc == 0 && strstr(out_buf, "\"verified\": true"), "verify - base64: exit %d: %s %s",
          rc, err_buf, out_buf);

    /* detect --out x.webp writes a WebP of the photo's size */
    char annotated[256];
    in_tmp(annotated, sizeof annotated, "annotated.webp");
    const char *ad[] = {cli, "detect", plain, "--out", annotated, NULL};
    rc = run_in(NULL, ad);
    CHECK(rc == 0 && strstr(out_buf, "facial_area"), "detect --out .webp: exit %d: %s", rc,
          err_buf);
    size_t an = 0;
    uint8_t *ab2 = read_file(annotated, &an);
    CHECK(ab2 && an > 12 && !memcmp(ab2, "RIFF", 4) && !memcmp(ab2 + 8, "WEBP", 4),
          "annotated file is a WebP");
    free(ab2);
    fk_image *a = NULL, *orig = NULL;
    CHECK(fk_image_load(annotated, 0, &a) == FK_OK && fk_image_load(photo, 0, &orig) == FK_OK &&
              a->width == orig->width && a->height == orig->height,
          "annotated WebP decodes at the photo's size: %s", fk_last_error());
    fk_image_free(a);
    fk_image_free(orig);

    /* A face-less image as base64 is named briefly in the message, not by
     * its megabytes of text; on stdin it is "standard input". */
    fk_image *grey = NULL;
    uint8_t *png = NULL;
    size_t pn = 0;
    CHECK(fk_image_new(160, 160, 3, &grey) == FK_OK, "grey");
    memset(grey->data, 128, grey->stride * 160);
    CHECK(fk_image_encode(grey, ".png", 0, &png, &pn) == FK_OK, "encode grey");
    char *g64 = png ? b64(png, pn, "") : NULL;
    const char *anf[] = {cli, "represent", g64 ? g64 : "", NULL};
    expect_error("no face in base64", run_in(NULL, anf), "facekit: base64 image: no face", NULL);
    CHECK(strlen(err_buf) < 200, "message stays short: %zu bytes", strlen(err_buf));
    char greyfile[256];
    in_tmp(greyfile, sizeof greyfile, "grey.png");
    write_file(greyfile, png, pn);
    expect_error("no face on stdin", run_in(greyfile, as), "facekit: standard input: no face",
                 NULL);
    free(g64);
    free(png);
    fk_image_free(grey);

    free(want);
    free(plain);
    free(uri);
    free(jpg);
}

int main(void) {
    cli = getenv("FK_CLI");
    if (!cli || access(cli, X_OK) != 0) test_skip("FK_CLI does not name the facekit binary");
    if (!mkdtemp(tmp)) return 1;
    test_bad_forms();
    char home[1024], probe[1200], photo[1200];
    snprintf(photo, sizeof photo, "%s/data/lfw-devtrain/images/AJ_Cook/AJ_Cook_0001.jpg",
             test_env("FK_SHARED", "../shared"));
    int models = fk_models_default_home(home, sizeof home) == FK_OK &&
                 (snprintf(probe, sizeof probe, "%s/face-api/face_recognition_model.bin", home),
                  access(probe, R_OK) == 0);
    if (models && access(photo, R_OK) != 0) {
        printf("note: no LFW photo under $FK_SHARED; using face-api/sample1.jpg\n");
        snprintf(photo, sizeof photo, "%s/face-api/sample1.jpg", home);
    }
    /* Linux caps one argument at 128 KiB (MAX_ARG_STRLEN), so a base64
     * argument must come from a small JPEG: a large photo is re-encoded
     * at 1/2 or 1/4 size first (big images go through '-' instead). */
    size_t psize = 0;
    free(read_file(photo, &psize));
    if (models && psize > 90000) {
        fk_image *img = NULL;
        char small[256];
        in_tmp(small, sizeof small, "small.jpg");
        if (fk_image_load_scaled(photo, 0, 400, &img) == FK_OK &&
            fk_image_save(img, small, 90) == FK_OK)
            snprintf(photo, sizeof photo, "%s", small);
        fk_image_free(img);
    }
    if (models && access(photo, R_OK) == 0)
        test_same_embedding(photo);
    else
        printf("note: models not installed; skipped the embedding checks\n");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return test_summary();
}
