/*
 * test_deepface_models.c - the deepface recognizers' architectures (VGG-
 * Face, VGG-Face-2622, DeepID, Facenet, Facenet512, DeepFace, ArcFace,
 * VGGFace2-ResNet50, VGGFace2-SENet50) against an independent reference.
 *
 * tests/tools/keras_ref.py builds each network again in PyTorch with
 * seeded random weights, writes them as Keras' save_weights would (.h5),
 * runs fixed inputs and one real face prepared as deepface's represent
 * prepares it, and saves inputs and outputs. This test runs it into a temp
 * folder (one Python process for every model: importing torch is the slow
 * part), loads each .h5 through facekit and checks:
 *  - the outputs on the reference's own inputs: max |facekit - ref| over
 *    max |ref| <= 1e-4 (the bound), every input;
 *  - the face: facekit's letterbox fill (BGR, /255, aspect kept, black
 *    padding) gives the reference's input tensor, and its embedding the
 *    reference's;
 *  - the zoo path with --weights and with $DEEPFACE_HOME, and the message
 *    of a missing file;
 *  - wrong files: another model's .h5 (the error names the layer and both
 *    shapes), a truncated one and a foreign one are FK_EMODEL.
 * Skipped (77) when facekit has no HDF5 or python3 cannot import torch,
 * h5py and numpy (FK_PYTHON picks the interpreter; default
 * /usr/bin/python3, where Debian's packages are).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/threadpool.h"
#include "models/keras_model.h"
#include "models/zoo.h"
#include "test.h"

static char dir[] = "/tmp/fk_deepface_XXXXXX";

static float *read_f32(const char *name, long count) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    float *v = malloc(sizeof(float) * (size_t)count);
    size_t got = v ? fread(v, sizeof(float), (size_t)count, f) : 0;
    fclose(f);
    if (got != (size_t)count) {
        free(v);
        return NULL;
    }
    return v;
}

/* max |a - b| / max |b| */
static double rel_err(const float *a, const float *b, long n) {
    double d = 0, m = 0;
    for (long i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (e > d || isnan(e)) d = isnan(e) ? INFINITY : e;
        if (fabs(b[i]) > m) m = fabs(b[i]);
    }
    return m > 0 ? d / m : d;
}

/* A face from LFW (FK_SHARED), cut non-square so the letterbox pads; NULL
 * when the data is absent. Also written as face.ppm for the reference. */
static fk_image *lfw_face(void) {
    char p[1024];
    snprintf(p, sizeof p, "%s/data/lfw-devtrain/images/Aaron_Sorkin/Aaron_Sorkin_0001.jpg",
             test_env("FK_SHARED", "../shared"));
    fk_image *img = NULL, *face = NULL;
    if (fk_image_load(p, 0, &img) != FK_OK) return NULL;
    const int x = 72, y = 62, w = 106, h = 131;
    if (img->width >= x + w && img->height >= y + h &&
        fk_image_new(w, h, 3, &face) == FK_OK) {
        for (int r = 0; r < h; r++)
            memcpy(face->data + (size_t)r * face->stride,
                   img->data + (size_t)(y + r) * img->stride + (size_t)x * 3, (size_t)w * 3);
    }
    fk_image_free(img);
    if (!face) return NULL;
    snprintf(p, sizeof p, "%s/face.ppm", dir);
    FILE *f = fopen(p, "wb");
    fprintf(f, "P6\n%d %d\n255\n", w, h);
    for (int r = 0; r < h; r++) fwrite(face->data + (size_t)r * face->stride, 1, (size_t)w * 3, f);
    fclose(f);
    return face;
}

static const char *desc_name(const char *ref) {
    if (!strcmp(ref, "vgg_face")) return "VGG-Face";
    if (!strcmp(ref, "vgg_face_2622")) return "VGG-Face-2622";
    if (!strcmp(ref, "deepid")) return "DeepID";
    if (!strcmp(ref, "fb_deepface")) return "DeepFace";
    if (!strcmp(ref, "arcface")) return "ArcFace";
    if (!strcmp(ref, "vggface2_resnet50")) return "VGGFace2-ResNet50";
    if (!strcmp(ref, "vggface2_senet50")) return "VGGFace2-SENet50";
    if (!strcmp(ref, "facenet")) return "Facenet";
    if (!strcmp(ref, "facenet512")) return "Facenet512";
    return NULL;
}

static void check_model(const char *ref, const char *h5, int H, int W, int n, int dim,
                        int has_face, const fk_image *face, fk_pool *pool) {
    const fk_model_desc *m = fk__model_get(desc_name(ref));
    CHECK(m && m->load_file && m->input_h == H && m->input_w == W && m->dim == dim,
          "%s: description (%dx%d -> %d)", ref, H, W, dim);
    if (!m) return;
    char path[512], name[128];
    snprintf(path, sizeof path, "%s/%s", dir, h5);
    const long per = (long)H * W * 3;
    snprintf(name, sizeof name, "%s.in.f32", ref);
    float *in = read_f32(name, per * n);
    snprintf(name, sizeof name, "%s.out.f32", ref);
    float *want = read_f32(name, (long)dim * n);
    float *got = calloc((size_t)dim * n, sizeof(float));
    void *net = NULL;
    fk_status st = m->load_file(path, &net);
    CHECK(st == FK_OK && in && want, "%s: load %s: %s", ref, h5, fk_last_error());
    if (st == FK_OK && in && want) {
        st = fk__keras_net_run(net, in, n, pool, got);
        CHECK(st == FK_OK, "%s: run: %s", ref, fk_last_error());
        for (int i = 0; i < n && st == FK_OK; i++) {
            double e = rel_err(got + (long)i * dim, want + (long)i * dim, dim);
            printf("%s: input %d%s: max relative error %.2e\n", ref, i,
                   has_face && i == n - 1 ? " (face)" : "", e);
            CHECK(e <= 1e-4, "%s: input %d: max relative error %.3g > 1e-4", ref, i, e);
        }
        if (has_face && face) { /* facekit's own input handling */
            float *mine = malloc(sizeof(float) * (size_t)per);
            fk__input_norm_fill_letterbox(m->input_norm, face, W, H, mine);
            double d = 0, big = 1; /* 1e-5 of the input's range (0..1, or 0..255 units) */
            for (long i = 0; i < per; i++) {
                d = fmax(d, fabs(mine[i] - in[per * (n - 1) + i]));
                big = fmax(big, fabs(in[per * (n - 1) + i]));
            }
            printf("%s: face input: max |facekit - deepface-style| %.2e\n", ref, d);
            CHECK(d <= 1e-5 * big, "%s: letterbox input differs by %.3g", ref, d);
            free(mine);
            const fk_image *faces[1] = {face};
            st = fk__keras_net_embed(net, faces, 1, NULL, pool, got);
            double e = st == FK_OK ? rel_err(got, want + (long)(n - 1) * dim, dim) : 1;
            CHECK(st == FK_OK && e <= 1e-4, "%s: face embedding: %s, error %.3g", ref,
                  fk_last_error(), e);
        }
    }
    m->free(net);
    free(in);
    free(want);
    free(got);
}

static void expect_load_error(const char *model, const char *file, const char *w1,
                              const char *w2) {
    const fk_model_desc *m = fk__model_get(model);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    void *net = NULL;
    fk_status st = m->load_file(path, &net);
    const char *msg = fk_last_error();
    CHECK(st == FK_EMODEL && !net, "%s <- %s: status %d (%s)", model, file, st, msg);
    CHECK(strstr(msg, w1) != NULL, "%s <- %s: '%s' not in: %s", model, file, w1, msg);
    if (w2) CHECK(strstr(msg, w2) != NULL, "%s <- %s: '%s' not in: %s", model, file, w2, msg);
    if (net) m->free(net);
}

static void copy_prefix(const char *from, const char *to, long len) {
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/%s", dir, from);
    snprintf(b, sizeof b, "%s/%s", dir, to);
    FILE *i = fopen(a, "rb"), *o = fopen(b, "wb");
    char buf[65536];
    size_t k;
    while (len > 0 && (k = fread(buf, 1, len < (long)sizeof buf ? (size_t)len : sizeof buf, i)) > 0) {
        fwrite(buf, 1, k, o);
        len -= (long)k;
    }
    fclose(i);
    fclose(o);
}

static void test_discovery(const fk_image *face, fk_pool *pool) {
    const fk_model_desc *m = fk__model_get("DeepID");
    char home[600], wdir[700], link[800], target[600];
    snprintf(home, sizeof home, "%s/fkhome", dir);
    mkdir(home, 0755);
    /* missing everywhere */
    setenv("DEEPFACE_HOME", dir, 1);
    char path[1024];
    fk_status st = fk__user_weights_find(home, m, NULL, path, sizeof path);
    CHECK(st == FK_EMODEL && strstr(fk_last_error(), "deepid_keras_weights.h5") &&
              strstr(fk_last_error(), "/.deepface/weights/") && strstr(fk_last_error(), home),
          "missing: %s", fk_last_error());
    /* $DEEPFACE_HOME/.deepface/weights/<deepface's name> */
    snprintf(wdir, sizeof wdir, "%s/.deepface", dir);
    mkdir(wdir, 0755);
    snprintf(wdir, sizeof wdir, "%s/.deepface/weights", dir);
    mkdir(wdir, 0755);
    snprintf(link, sizeof link, "%s/deepid_keras_weights.h5", wdir);
    snprintf(target, sizeof target, "%s/deepid.h5", dir);
    CHECK(symlink(target, link) == 0, "symlink");
    st = fk__user_weights_find(home, m, NULL, path, sizeof path);
    CHECK(st == FK_OK && !strcmp(path, link), "DEEPFACE_HOME: %s", fk_last_error());

    /* through the zoo, as represent calls it */
    fk_zoo *z = NULL;
    CHECK(fk__zoo_new(home, &z) == FK_OK, "zoo");
    float a[160], b[160];
    const fk_image *faces[1] = {face};
    st = fk__zoo_embed(z, m, pool, faces, 1, NULL, NULL, a);
    CHECK(st == FK_OK, "zoo embed (discovered): %s", fk_last_error());
    st = fk__zoo_embed(z, m, pool, faces, 1, NULL, target, b);
    CHECK(st == FK_OK && !memcmp(a, b, sizeof a), "zoo embed (--weights): %s",
          fk_last_error());
    char bad[700];
    snprintf(bad, sizeof bad, "%s/nope.h5", dir);
    st = fk__zoo_embed(z, m, pool, faces, 1, NULL, bad, b);
    CHECK(st == FK_EMODEL && strstr(fk_last_error(), "nope.h5"), "--weights missing: %s",
          fk_last_error());
    st = fk__zoo_embed(z, fk__model_get("Dlib"), pool, faces, 1, NULL, target, b);
    CHECK(st == FK_EINVAL && strstr(fk_last_error(), "--weights"), "--weights on Dlib: %s",
          fk_last_error());
    fk__zoo_free(z);
    unlink(link);
    unsetenv("DEEPFACE_HOME");
}

int main(void) {
#if !FK_WITH_HDF5
    test_skip("facekit built without HDF5 (FK_WITH_HDF5)");
#endif
    const char *py = test_env("FK_PYTHON", "/usr/bin/python3");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s -c 'import torch, h5py, numpy' >/dev/null 2>&1", py);
    if (system(cmd) != 0) test_skip("python3 with torch, h5py and numpy not found (FK_PYTHON)");
    if (!mkdtemp(dir)) test_skip("no temp dir");
    fk_image *face = lfw_face();
    if (!face) printf("note: no LFW face under FK_SHARED; random inputs only\n");
    /* Under the sanitizers one random input besides the face, not two: the
     * nine networks are the suite's longest ASan run, and every check still
     * runs on every model. */
#ifdef __SANITIZE_ADDRESS__
    const char *inputs = face ? " --inputs 1" : " --inputs 2";
#else
    const char *inputs = " --inputs 2";
#endif
    snprintf(cmd, sizeof cmd, "%s %s/tests/tools/keras_ref.py %s%s%s%s%s", py,
             test_env("FK_SOURCE_DIR", "."), dir, face ? " --face " : "", face ? dir : "",
             face ? "/face.ppm" : "", inputs);
    int rc = system(cmd);
    CHECK(rc == 0, "reference generator failed: %s", cmd);
    fk_pool *pool = NULL;
    fk__pool_new(2, &pool);

    char mpath[600];
    snprintf(mpath, sizeof mpath, "%s/manifest.txt", dir);
    FILE *mf = rc == 0 ? fopen(mpath, "r") : NULL;
    char ref[64], h5[64];
    int H, W, n, dim, has_face, models = 0;
    while (mf && fscanf(mf, "%63s %63s %d %d %d %d %d", ref, h5, &H, &W, &n, &dim, &has_face) == 7) {
        check_model(ref, h5, H, W, n, dim, has_face, face, pool);
        models++;
    }
    if (mf) fclose(mf);
    CHECK(models == 9, "models in the manifest: %d", models);

    if (rc == 0) {
        /* another model's file: the first layer that differs is named */
        expect_load_error("VGG-Face", "deepid.h5", "layer conv1_1 (file: Conv1): kernel is 3x3x3x64, file has 4x4x3x20", NULL);
        expect_load_error("DeepID", "vgg_face.h5", "layer Conv1 (file: conv2d): kernel is 4x4x3x20, file has 3x3x3x64", NULL);
        expect_load_error("Facenet", "deepid.h5", "layer Conv2d_1a_3x3 (file: Conv1) has 1 weights (kernel), file has 2", NULL);
        /* the same network but for the last layers: found in Keras' order */
        expect_load_error("Facenet512", "facenet.h5", "layer Bottleneck (file: Bottleneck): kernel is 1792x512, file has 1792x128", NULL);
        struct stat sb;
        char p[600];
        snprintf(p, sizeof p, "%s/deepid.h5", dir);
        stat(p, &sb);
        copy_prefix("deepid.h5", "cut.h5", sb.st_size / 2);
        expect_load_error("DeepID", "cut.h5", "cut.h5", NULL);
        expect_load_error("DeepFace", "deepid.h5",
                          "layer C1 (file: Conv1): kernel is 11x11x3x32, file has 4x4x3x20", NULL);
        expect_load_error("ArcFace", "deepid.h5",
                          "layer conv1_conv (file: Conv1) has 1 weights (kernel), file has 2",
                          NULL);
        expect_load_error("VGGFace2-ResNet50", "arcface.h5",
                          "layer conv1/7x7_s2 (file: conv1_conv): kernel is 7x7x3x64, file has "
                          "3x3x3x64", NULL);
        expect_load_error("VGGFace2-SENet50", "vggface2_resnet50.h5", "layer conv2_1_", NULL);
        expect_load_error("DeepID", "fb_deepface.h5",
                          "layer Conv1 (file: C1): kernel is 4x4x3x20, file has 11x11x3x32", NULL);
        copy_prefix("manifest.txt", "foreign.h5", 1 << 20);
        expect_load_error("DeepID", "foreign.h5", "not an HDF5 file", "DeepID");
        if (face) test_discovery(face, pool);
    }
    fk__pool_free(pool);
    fk_image_free(face);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
    return test_summary();
}
