/*
 * test_pipeline.c - the default pipeline (ssd + 68 landmarks + Dlib) on real
 * photos through the public API.
 *
 * Needs the face-api models in $FACEKIT_HOME (default ~/.facekit; run
 * `facekit models fetch`); skips when they are absent. The LFW checks also
 * need ../shared/data/lfw-devtrain and skip that part when it is absent.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facekit.h"
#include "test.h"

static char home[1024];

static fk_image *load(const char *path) {
    fk_image *img = NULL;
    fk_status st = fk_image_load(path, 0, &img);
    CHECK(st == FK_OK, "load %s: %s", path, fk_last_error());
    return img;
}

static fk_image *sample(int i) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/face-api/sample%d.jpg", home, i);
    return load(path);
}

/* Face counts in face-api's demo photos, counted by eye: sample1 three women
 * on a sofa, sample2 three, sample3 three, sample4 four standing, sample5
 * five (one in the lower left corner), sample6 four. */
static void test_detect_counts(fk_context *ctx) {
    static const int expected[7] = {0, 3, 3, 3, 4, 5, 4};
    for (int i = 1; i <= 6; i++) {
        fk_image *img = sample(i);
        if (!img) continue;
        fk_faces faces;
        fk_status st = fk_detect(ctx, img, NULL, &faces);
        CHECK(st == FK_OK, "detect sample%d: %s", i, fk_last_error());
        CHECK(faces.count == expected[i], "sample%d: %d faces, expected %d", i,
              faces.count, expected[i]);
        for (int k = 0; k < faces.count; k++) {
            const fk_face *f = &faces.faces[k];
            CHECK(f->confidence >= 0.5f && f->confidence <= 1.0f, "confidence %f", f->confidence);
            CHECK(f->w > 40 && f->h > 40 && f->x >= 0 && f->y >= 0 &&
                  f->x + f->w <= img->width + 0.5f && f->y + f->h <= img->height + 0.5f,
                  "sample%d face %d box %.0f,%.0f,%.0f,%.0f", i, k, f->x, f->y, f->w, f->h);
            CHECK(f->landmark_count == 68, "landmarks");
            /* Eyes inside the box, the person's left eye on the image right
             * (these faces are upright within +-45 degrees). */
            CHECK(f->left_eye.x > f->x && f->left_eye.x < f->x + f->w &&
                  f->right_eye.x > f->x && f->right_eye.x < f->x + f->w &&
                  f->left_eye.y > f->y && f->left_eye.y < f->y + f->h,
                  "sample%d face %d: eyes outside the box", i, k);
            CHECK(f->left_eye.x > f->right_eye.x, "sample%d face %d: eyes swapped", i, k);
            if (k > 0) CHECK(faces.faces[k - 1].confidence >= f->confidence, "sorted");
        }
        fk_faces_free(&faces);
        fk_image_free(img);
    }
}

/* The embedding of the most confident face of sample1.jpg, recorded once
 * from this implementation and checked for sanity by the distances below
 * (same person close, different people far). Pinning it catches any change
 * in decoding, detection, landmarks, alignment or the network. */
static const float SAMPLE1_FACE0[8] = {
    -0.06334f, 0.05833f, 0.03079f, -0.06387f, -0.07494f, 0.07274f, -0.04087f, 0.00099f};

static void test_embedding_pin(fk_context *ctx) {
    fk_image *img = sample(1);
    if (!img) return;
    fk_faces faces;
    fk_status st = fk_represent(ctx, img, NULL, &faces);
    CHECK(st == FK_OK, "represent: %s", fk_last_error());
    if (st == FK_OK) {
        CHECK(faces.count == 3, "3 faces, got %d", faces.count);
        const fk_face *f = &faces.faces[0];
        CHECK(f->embedding_dim == 128, "dim %d", f->embedding_dim);
        double norm = 0;
        for (int k = 0; k < f->embedding_dim; k++) norm += f->embedding[k] * f->embedding[k];
        CHECK(norm > 0.1 && norm < 10, "norm %f", sqrt(norm));
        printf("sample1 face 0 embedding[0..8):");
        for (int k = 0; k < 8; k++) printf(" %.5f", f->embedding[k]);
        printf("\n");
        for (int k = 0; k < 8; k++)
            CHECK(fabsf(f->embedding[k] - SAMPLE1_FACE0[k]) < 2e-3f,
                  "embedding[%d] = %f, pinned %f", k, f->embedding[k], SAMPLE1_FACE0[k]);
        /* Three different women: every pair is far apart. */
        for (int a = 0; a < 3; a++)
            for (int b = a + 1; b < 3; b++) {
                float d;
                fk_distance(faces.faces[a].embedding, faces.faces[b].embedding, 128, "euclidean", &d);
                CHECK(d > 0.6f, "faces %d and %d of sample1 are %.3f apart", a, b, d);
            }
    }
    fk_faces_free(&faces);
    fk_image_free(img);
}

/* Same person close, different people far, on real LFW photos. */
static void test_lfw_verify(fk_context *ctx, const char lfw[1024]) {
    char p1[PATH_MAX], p2[PATH_MAX], p3[PATH_MAX];
    snprintf(p1, sizeof p1, "%s/images/Aaron_Peirsol/Aaron_Peirsol_0001.jpg", lfw);
    snprintf(p2, sizeof p2, "%s/images/Aaron_Peirsol/Aaron_Peirsol_0002.jpg", lfw);
    snprintf(p3, sizeof p3, "%s/images/Aaron_Sorkin/Aaron_Sorkin_0001.jpg", lfw);
    if (access(p1, R_OK) || access(p2, R_OK) || access(p3, R_OK)) {
        printf("note: LFW images not found under %s; skipping the LFW checks\n", lfw);
        return;
    }
    fk_image *a = load(p1), *b = load(p2), *c = load(p3);
    static const char *metrics[] = {"cosine", "euclidean", "euclidean_l2", "angular"};
    for (int m = 0; m < 4 && a && b && c; m++) {
        fk_options o;
        fk_options_init(&o);
        o.metric = metrics[m];
        fk_verify_result same, diff;
        CHECK(fk_verify(ctx, a, b, &o, &same) == FK_OK, "verify: %s", fk_last_error());
        CHECK(fk_verify(ctx, a, c, &o, &diff) == FK_OK, "verify: %s", fk_last_error());
        CHECK(same.verified && same.distance < same.threshold, "%s same %.3f thr %.3f",
              metrics[m], same.distance, same.threshold);
        CHECK(!diff.verified && diff.distance > diff.threshold, "%s diff %.3f thr %.3f",
              metrics[m], diff.distance, diff.threshold);
        CHECK(strcmp(same.metric, metrics[m]) == 0, "metric echoed");
        CHECK(strcmp(same.model, "Dlib") == 0 && strcmp(same.detector, "ssd") == 0, "names");
    }
    fk_image_free(a);
    fk_image_free(b);
    fk_image_free(c);
}

/* The fast kernels must give the answers of the reference kernels. */
static void test_fast_matches_reference(fk_context *fast) {
    setenv("FK_REFERENCE_KERNELS", "1", 1);
    fk_context *ref = NULL;
    fk_context_options co;
    fk_context_options_init(&co);
    co.model_home = home;
    fk_status st = fk_context_new(&co, &ref);
    unsetenv("FK_REFERENCE_KERNELS");
    CHECK(st == FK_OK, "reference context");
    fk_image *img = sample(2);
    if (st != FK_OK || !img) return;
    fk_faces fa, fr;
    CHECK(fk_represent(fast, img, NULL, &fa) == FK_OK, "fast: %s", fk_last_error());
    CHECK(fk_represent(ref, img, NULL, &fr) == FK_OK, "ref: %s", fk_last_error());
    CHECK(fa.count == fr.count, "face counts %d vs %d", fa.count, fr.count);
    for (int i = 0; i < fa.count && i < fr.count; i++) {
        CHECK(fabsf(fa.faces[i].x - fr.faces[i].x) < 0.5f &&
              fabsf(fa.faces[i].w - fr.faces[i].w) < 0.5f &&
              fabsf(fa.faces[i].confidence - fr.faces[i].confidence) < 1e-3f, "box %d", i);
        float d;
        fk_distance(fa.faces[i].embedding, fr.faces[i].embedding, 128, "euclidean", &d);
        CHECK(d < 1e-3f, "face %d: fast and reference embeddings %.2e apart", i, d);
    }
    fk_faces_free(&fa);
    fk_faces_free(&fr);
    fk_image_free(img);
    fk_context_free(ref);
}

/* A plain grey image holds no face. */
static void test_no_face(fk_context *ctx) {
    fk_image *img = NULL;
    fk_image_new(320, 240, 3, &img);
    memset(img->data, 128, img->stride * img->height);
    fk_faces faces;
    fk_options o;
    fk_options_init(&o);
    o.image_names[0] = "grey.png";
    fk_status st = fk_represent(ctx, img, &o, &faces);
    CHECK(st == FK_ENOFACE, "grey image: status %d", st);
    CHECK(strstr(fk_last_error(), "grey.png: no face detected") != NULL, "%s", fk_last_error());
    CHECK(strstr(fk_last_error(), "enforce-detection") != NULL, "hint: %s", fk_last_error());
    o.enforce_detection = 0;
    st = fk_represent(ctx, img, &o, &faces);
    CHECK(st == FK_OK && faces.count == 1, "whole image as face: %s", fk_last_error());
    if (st == FK_OK) {
        CHECK(faces.faces[0].w == 320 && faces.faces[0].h == 240 &&
              faces.faces[0].confidence == 0 && faces.faces[0].embedding_dim == 128, "whole");
        fk_faces_free(&faces);
    }
    fk_image_free(img);
}

/* fk_detect then fk_embed_faces gives what fk_represent gives, so one
 * detection can serve several models; bad face lists are refused. */
static void test_embed_detected(fk_context *ctx) {
    fk_image *img = sample(1);
    if (!img) return;
    fk_faces det, rep;
    CHECK(fk_detect(ctx, img, NULL, &det) == FK_OK, "detect: %s", fk_last_error());
    CHECK(fk_represent(ctx, img, NULL, &rep) == FK_OK, "represent: %s", fk_last_error());
    CHECK(det.count == 3 && rep.count == 3, "faces %d %d", det.count, rep.count);
    CHECK(det.count == 0 || det.faces[0].embedding == NULL, "detect leaves embeddings empty");
    CHECK(fk_embed_faces(ctx, img, NULL, &det) == FK_OK, "embed: %s", fk_last_error());
    for (int i = 0; i < det.count && i < rep.count; i++) {
        CHECK(det.faces[i].embedding_dim == 128, "dim %d", det.faces[i].embedding_dim);
        float d = 0;
        for (int k = 0; k < 128; k++) d = fmaxf(d, fabsf(det.faces[i].embedding[k] - rep.faces[i].embedding[k]));
        CHECK(d == 0, "face %d: embed_faces and represent differ by %g", i, d);
    }
    /* A second model on the same detections replaces the embeddings. */
    fk_options o;
    fk_options_init(&o);
    o.model = "FaceRes";
    fk_status st = fk_embed_faces(ctx, img, &o, &det);
    CHECK(st == FK_OK || st == FK_EMODEL, "FaceRes: %s", fk_last_error());
    if (st == FK_OK) CHECK(det.faces[0].embedding_dim == 1024, "FaceRes dim %d", det.faces[0].embedding_dim);

    fk_faces bad = det;
    CHECK(fk_embed_faces(NULL, img, NULL, &det) == FK_EINVAL, "NULL context");
    CHECK(fk_embed_faces(ctx, img, NULL, NULL) == FK_EINVAL, "NULL faces");
    CHECK(fk_embed_faces(ctx, NULL, NULL, &det) == FK_EINVAL, "NULL image");
    bad.faces = NULL;
    CHECK(fk_embed_faces(ctx, img, NULL, &bad) == FK_EINVAL, "count without array");
    bad = det;
    bad.count = -1;
    CHECK(fk_embed_faces(ctx, img, NULL, &bad) == FK_EINVAL, "negative count");
    fk_face saved = det.faces[0];
    det.faces[0].landmark_count = 5;
    CHECK(fk_embed_faces(ctx, img, NULL, &det) == FK_EINVAL, "5 landmarks refused");
    CHECK(strstr(fk_last_error(), "face 0") != NULL, "names the face: %s", fk_last_error());
    det.faces[0] = saved;
    det.faces[0].w = 0;
    CHECK(fk_embed_faces(ctx, img, NULL, &det) == FK_EINVAL, "empty box refused");
    det.faces[0] = saved;
    det.faces[0].x = NAN;
    CHECK(fk_embed_faces(ctx, img, NULL, &det) == FK_EINVAL, "NaN box refused");
    det.faces[0] = saved;
    fk_faces_free(&det);
    fk_faces_free(&rep);
    fk_image_free(img);
}

/* Unknown names list the valid ones; bad option values are refused. */
static void test_bad_options(fk_context *ctx) {
    fk_image *img = NULL;
    fk_image_new(64, 64, 3, &img);
    fk_faces faces;
    fk_options o;
    fk_options_init(&o);
    o.detector = "yolo";
    CHECK(fk_detect(ctx, img, &o, &faces) == FK_EINVAL, "unknown detector");
    CHECK(strstr(fk_last_error(), "ssd") != NULL, "lists valid: %s", fk_last_error());
    fk_options_init(&o);
    o.model = "VGG-Nope";
    CHECK(fk_represent(ctx, img, &o, &faces) == FK_EINVAL, "unknown model");
    CHECK(strstr(fk_last_error(), "Dlib") != NULL, "lists valid: %s", fk_last_error());
    fk_options_init(&o);
    o.metric = "manhattan";
    fk_verify_result r;
    CHECK(fk_verify(ctx, img, img, &o, &r) == FK_EINVAL, "unknown metric");
    fk_options_init(&o);
    o.min_confidence = 2;
    CHECK(fk_detect(ctx, img, &o, &faces) == FK_EINVAL, "bad confidence");
    CHECK(fk_detect(ctx, NULL, NULL, &faces) == FK_EINVAL, "NULL image");
    CHECK(fk_detect(NULL, img, NULL, &faces) == FK_EINVAL, "NULL context");
    fk_image_free(img);
}

static int copy_file(const char *from, const char *to, long truncate_to) {
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    if (!in || !out) {
        if (in) fclose(in);
        if (out) fclose(out);
        return -1;
    }
    char buf[65536];
    size_t n;
    long total = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        if (truncate_to >= 0 && total + (long)n > truncate_to) n = (size_t)(truncate_to - total);
        fwrite(buf, 1, n, out);
        total += (long)n;
        if (truncate_to >= 0 && total >= truncate_to) break;
    }
    fclose(in);
    fclose(out);
    return 0;
}

/* A missing or damaged model file is FK_EMODEL pointing at the fetch
 * command, and nothing crashes. */
static void test_bad_model_files(void) {
    char tmp[64] = "/tmp/fk_models_XXXXXX";
    if (!mkdtemp(tmp)) return;
    char dir[1024], from[PATH_MAX], to[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/face-api", tmp);
    mkdir(dir, 0755);
    fk_image *img = sample(1);
    fk_context_options co;
    fk_context_options_init(&co);
    co.model_home = tmp;
    fk_context *ctx = NULL;
    fk_faces faces;

    /* Nothing installed. */
    CHECK(fk_context_new(&co, &ctx) == FK_OK, "context");
    fk_status st = fk_detect(ctx, img, NULL, &faces);
    CHECK(st == FK_EMODEL, "missing model: %d", st);
    CHECK(strstr(fk_last_error(), "facekit models fetch") != NULL, "hint: %s", fk_last_error());
    fk_context_free(ctx);

    /* Detector and landmarks fine, recognizer truncated. */
    static const char *files[] = {
        "ssd_mobilenetv1_model-weights_manifest.json", "ssd_mobilenetv1_model.bin",
        "face_landmark_68_model-weights_manifest.json", "face_landmark_68_model.bin",
        "face_recognition_model-weights_manifest.json", "face_recognition_model.bin"};
    for (int i = 0; i < 6; i++) {
        snprintf(from, sizeof from, "%s/face-api/%s", home, files[i]);
        snprintf(to, sizeof to, "%s/%s", dir, files[i]);
        copy_file(from, to, i == 5 ? 100000 : -1);
    }
    CHECK(fk_context_new(&co, &ctx) == FK_OK, "context");
    st = fk_represent(ctx, img, NULL, &faces);
    CHECK(st == FK_EMODEL, "truncated model: %d %s", st, fk_last_error());
    CHECK(strstr(fk_last_error(), "face_recognition_model") != NULL &&
              strstr(fk_last_error(), "facekit models fetch") != NULL,
          "names file and fix: %s", fk_last_error());
    fk_context_free(ctx);

    /* A manifest that is not JSON. */
    snprintf(to, sizeof to, "%s/%s", dir, files[0]);
    FILE *f = fopen(to, "w");
    if (f) {
        fputs("{ this is not json", f);
        fclose(f);
    }
    CHECK(fk_context_new(&co, &ctx) == FK_OK, "context");
    st = fk_detect(ctx, img, NULL, &faces);
    CHECK(st == FK_EMODEL || st == FK_EFORMAT, "corrupt manifest: %d", st);
    CHECK(strstr(fk_last_error(), "ssd_mobilenetv1_model") != NULL, "%s", fk_last_error());
    fk_context_free(ctx);

    for (int i = 0; i < 6; i++) {
        snprintf(to, sizeof to, "%s/%s", dir, files[i]);
        unlink(to);
    }
    rmdir(dir);
    rmdir(tmp);
    fk_image_free(img);
}

/* fk_verify with two threads works on both images at once (a second set of
 * models on a thread of its own); with one it does one after the other. The
 * answers must be the same, and an error in either image must come back
 * with that image's name. */
static void test_verify_concurrent(void) {
    fk_context *ctx[2] = {NULL, NULL};
    for (int t = 0; t < 2; t++) {
        fk_context_options co;
        fk_context_options_init(&co);
        co.model_home = home;
        co.threads = t + 1;
        CHECK(fk_context_new(&co, &ctx[t]) == FK_OK, "context: %s", fk_last_error());
    }
    fk_image *a = sample(1), *b = sample(3);
    fk_image *grey = NULL;
    fk_image_new(320, 240, 3, &grey);
    if (!ctx[0] || !ctx[1] || !a || !b || !grey) goto done;
    memset(grey->data, 128, grey->stride * grey->height);
    fk_verify_result r[2];
    for (int t = 0; t < 2; t++)
        CHECK(fk_verify(ctx[t], a, b, NULL, &r[t]) == FK_OK, "verify, %d thread(s): %s", t + 1,
              fk_last_error());
    CHECK(r[0].faces1 == r[1].faces1 && r[0].faces2 == r[1].faces2 && r[0].faces1 == 3,
          "face counts %d/%d vs %d/%d", r[0].faces1, r[0].faces2, r[1].faces1, r[1].faces2);
    CHECK(fabsf(r[0].distance - r[1].distance) < 1e-5f, "distance %.7f (1 thread) vs %.7f (2)",
          r[0].distance, r[1].distance);
    CHECK(r[0].verified == r[1].verified, "verdicts differ");
    CHECK(fabsf(r[0].face1.x - r[1].face1.x) < 0.01f && fabsf(r[0].face2.y - r[1].face2.y) < 0.01f,
          "closest faces differ");
    /* the same pair again: the second set of models is reused */
    fk_verify_result again;
    CHECK(fk_verify(ctx[1], a, b, NULL, &again) == FK_OK && again.distance == r[1].distance,
          "second verify on the same context");
    /* errors from either side, named */
    fk_options o;
    fk_options_init(&o);
    o.image_names[0] = "first.jpg";
    o.image_names[1] = "grey2.png";
    for (int t = 0; t < 2; t++) {
        fk_status st = fk_verify(ctx[t], a, grey, &o, &again);
        CHECK(st == FK_ENOFACE && strstr(fk_last_error(), "grey2.png") != NULL,
              "%d thread(s), no face in img2: status %d, %s", t + 1, st, fk_last_error());
    }
    o.image_names[0] = "grey1.png";
    o.image_names[1] = "second.jpg";
    fk_status st = fk_verify(ctx[1], grey, b, &o, &again);
    CHECK(st == FK_ENOFACE && strstr(fk_last_error(), "grey1.png") != NULL,
          "no face in img1: status %d, %s", st, fk_last_error());
done:
    fk_image_free(a);
    fk_image_free(b);
    fk_image_free(grey);
    fk_context_free(ctx[0]);
    fk_context_free(ctx[1]);
}

int main(void) {
    if (fk_models_default_home(home, sizeof home) != FK_OK) test_skip("no model home");
    char probe[PATH_MAX + 64];
    snprintf(probe, sizeof probe, "%s/face-api/face_recognition_model.bin", home);
    if (access(probe, R_OK) != 0)
        test_skip("face-api models not installed (run `facekit models fetch`)");
    fk_context *ctx = NULL;
    fk_context_options co;
    fk_context_options_init(&co);
    co.model_home = home;
    if (fk_context_new(&co, &ctx) != FK_OK) {
        fprintf(stderr, "context: %s\n", fk_last_error());
        return 1;
    }
    char lfw[1024];
    snprintf(lfw, sizeof lfw, "%s/data/lfw-devtrain", test_env("FK_SHARED", "../shared"));

    test_detect_counts(ctx);
    test_embedding_pin(ctx);
    test_lfw_verify(ctx, lfw);
    test_fast_matches_reference(ctx);
    test_no_face(ctx);
    test_embed_detected(ctx);
    test_verify_concurrent();
    test_bad_options(ctx);
    test_bad_model_files();
    fk_context_free(ctx);
    return test_summary();
}
