/*
 * test_scaled_decode.c - the pipeline on images decoded at reduced scale
 * (fk_image_load_scaled): every result comes back in the ORIGINAL photo's
 * pixels, close to what a full decode gives.
 *
 * A large photo is made here from face-api's sample1.jpg (1920x1280, three
 * faces) upscaled 2x to 3840x2560 and saved as JPEG; sample1 itself is also
 * decoded at 1/2, where its faces shrink to ~90 px (a harder case than the
 * CLI's default bound ever produces). Needs the face-api models in
 * $FACEKIT_HOME (default ~/.facekit); skips when they are absent.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "facekit.h"
#include "image/image.h"
#include "test.h"

static char home[1024];
static char tmpdir[64] = "/tmp/fk_test_scaled_XXXXXX";

static float dist(fk_point a, fk_point b) {
    return hypotf(a.x - b.x, a.y - b.y);
}

/* The face of `faces` whose box centre is nearest f's. */
static const fk_face *nearest_face(const fk_faces *faces, const fk_face *f) {
    const fk_face *best = NULL;
    float best_d = INFINITY;
    for (int i = 0; i < faces->count; i++) {
        const fk_face *g = &faces->faces[i];
        fk_point a = {f->x + f->w / 2, f->y + f->h / 2}, b = {g->x + g->w / 2, g->y + g->h / 2};
        if (dist(a, b) < best_d) {
            best_d = dist(a, b);
            best = g;
        }
    }
    return best;
}

/* Detection on the scaled decode matches detection on the full decode, in
 * the full image's coordinates: same face count, box edges within
 * `box_tol` px, eyes within `eye_tol` px, landmarks on average within
 * `eye_tol` px. */
static void compare_detections(fk_context *ctx, const fk_image *full, const fk_image *scaled,
                               float box_tol, float eye_tol, const char *what) {
    fk_faces a = {0}, b = {0};
    CHECK(fk_detect(ctx, full, NULL, &a) == FK_OK, "%s full: %s", what, fk_last_error());
    CHECK(fk_detect(ctx, scaled, NULL, &b) == FK_OK, "%s scaled: %s", what, fk_last_error());
    CHECK(a.count == 3 && b.count == a.count, "%s: %d faces full, %d scaled", what, a.count,
          b.count);
    float worst_box = 0, worst_eye = 0, worst_lm = 0;
    for (int i = 0; i < a.count && b.count > 0; i++) {
        const fk_face *f = &a.faces[i], *g = nearest_face(&b, f);
        float box = fmaxf(fmaxf(fabsf(f->x - g->x), fabsf(f->y - g->y)),
                          fmaxf(fabsf(f->x + f->w - g->x - g->w), fabsf(f->y + f->h - g->y - g->h)));
        float eye = fmaxf(dist(f->left_eye, g->left_eye), dist(f->right_eye, g->right_eye));
        float lm = 0;
        for (int k = 0; k < f->landmark_count && k < g->landmark_count; k++)
            lm += dist(f->landmarks[k], g->landmarks[k]) / (float)f->landmark_count;
        CHECK(box <= box_tol, "%s face %d: box edges %.1f px apart (full %.0f,%.0f,%.0f,%.0f "
              "scaled %.0f,%.0f,%.0f,%.0f)", what, i, box, f->x, f->y, f->w, f->h, g->x, g->y,
              g->w, g->h);
        CHECK(eye <= eye_tol && lm <= eye_tol, "%s face %d: eyes %.1f px, landmarks %.1f px "
              "apart on average", what, i, eye, lm);
        CHECK(g->landmark_count == 68, "%s face %d: %d landmarks", what, i, g->landmark_count);
        worst_box = fmaxf(worst_box, box);
        worst_eye = fmaxf(worst_eye, eye);
        worst_lm = fmaxf(worst_lm, lm);
    }
    printf("%s (scale %g): worst box edge %.2f px, eye %.2f px, mean landmark %.2f px\n", what,
           (double)scaled->scale, worst_box, worst_eye, worst_lm);
    fk_faces_free(&a);
    fk_faces_free(&b);
}

/* represent, embed_faces and verify on a scaled image: coordinates in
 * original pixels, embeddings close to the full decode's. */
static void test_represent_verify(fk_context *ctx, const fk_image *full, const fk_image *scaled) {
    fk_faces det = {0}, rep = {0}, rep_full = {0};
    CHECK(fk_detect(ctx, scaled, NULL, &det) == FK_OK, "detect: %s", fk_last_error());
    CHECK(fk_represent(ctx, scaled, NULL, &rep) == FK_OK, "represent: %s", fk_last_error());
    CHECK(fk_represent(ctx, full, NULL, &rep_full) == FK_OK, "represent full: %s",
          fk_last_error());
    CHECK(det.count == rep.count && rep.count == rep_full.count && rep.count == 3,
          "counts %d %d %d", det.count, rep.count, rep_full.count);
    for (int i = 0; i < det.count && i < rep.count; i++) {
        /* represent's faces are detect's, same coordinates */
        CHECK(det.faces[i].x == rep.faces[i].x && det.faces[i].y == rep.faces[i].y &&
              det.faces[i].w == rep.faces[i].w &&
              det.faces[i].landmarks[30].x == rep.faces[i].landmarks[30].x,
              "face %d: represent and detect boxes differ", i);
        const fk_face *g = nearest_face(&rep_full, &rep.faces[i]);
        float d = 1;
        fk_distance(rep.faces[i].embedding, g->embedding, 128, "cosine", &d);
        CHECK(d < 0.03f, "face %d: embedding of the scaled decode %.4f (cosine) from the "
              "full decode's", i, d);
        printf("face %d: cosine distance scaled vs full %.4f\n", i, d);
    }
    /* embed_faces takes original coordinates, leaves them bit for bit, and
     * embeds exactly as represent did (a power-of-two scale is exact) */
    fk_faces before = {malloc(sizeof(fk_face) * (size_t)(det.count ? det.count : 1)), det.count};
    if (before.faces) memcpy(before.faces, det.faces, sizeof(fk_face) * (size_t)det.count);
    CHECK(fk_embed_faces(ctx, scaled, NULL, &det) == FK_OK, "embed: %s", fk_last_error());
    for (int i = 0; before.faces && i < det.count && i < rep.count; i++) {
        fk_face x = det.faces[i], y = before.faces[i];
        x.embedding = y.embedding = NULL;
        x.normalization = y.normalization = NULL; /* set with the embedding */
        x.embedding_dim = y.embedding_dim = 0;
        CHECK(memcmp(&x, &y, sizeof x) == 0, "face %d: embed_faces changed the face", i);
        float m = 0;
        for (int k = 0; det.faces[i].embedding && k < 128; k++)
            m = fmaxf(m, fabsf(det.faces[i].embedding[k] - rep.faces[i].embedding[k]));
        CHECK(det.faces[i].embedding && m == 0, "face %d: embed_faces and represent differ "
              "by %g", i, m);
    }
    free(before.faces);

    /* verify full against scaled: the same photo, each area in its own
     * image's original pixels */
    fk_verify_result r;
    CHECK(fk_verify(ctx, full, scaled, NULL, &r) == FK_OK, "verify: %s", fk_last_error());
    CHECK(r.verified && r.distance < 0.03f, "verify full vs scaled: distance %.4f",
          r.distance);
    CHECK(fabsf(r.face1.x - r.face2.x) <= 8 && fabsf(r.face1.y - r.face2.y) <= 8 &&
          dist(r.face1.left_eye, r.face2.left_eye) <= 8,
          "verify areas %.0f,%.0f vs %.0f,%.0f", r.face1.x, r.face1.y, r.face2.x, r.face2.y);
    fk_faces_free(&det);
    fk_faces_free(&rep);
    fk_faces_free(&rep_full);
}

/* fk_draw_faces takes original pixels and draws at the image's scale. */
static void test_draw(void) {
    fk_image *img = NULL;
    CHECK(fk_image_new(400, 300, 3, &img) == FK_OK, "new");
    if (!img) return;
    img->scale = 0.5f;
    fk_face f;
    memset(&f, 0, sizeof f);
    f.x = 200, f.y = 100, f.w = 300, f.h = 200; /* drawn at 100,50 150x100 */
    fk_faces faces = {&f, 1};
    CHECK(fk_draw_faces(img, &faces) == FK_OK, "draw: %s", fk_last_error());
    const uint8_t *corner = img->data + 50 * img->stride + 100 * 3;
    const uint8_t *unscaled = img->data + 100 * img->stride + 200 * 3;
    const uint8_t *far_edge = img->data + 149 * img->stride + 249 * 3;
    CHECK(corner[1] == 255 && corner[0] == 0, "box corner drawn at the scaled place");
    CHECK(far_edge[1] == 255, "far box corner drawn at the scaled place");
    CHECK(unscaled[1] == 0, "nothing drawn at the unscaled place");
    fk_image_free(img);
}

/* A scale that is not a plausible ratio is refused; 0 means 1. */
static void test_bad_scale(fk_context *ctx, fk_image *full) {
    fk_faces faces = {0}, ref = {0};
    const float bad[] = {-0.5f, NAN, INFINITY, 1e9f, 1e-6f};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        full->scale = bad[i];
        CHECK(fk_detect(ctx, full, NULL, &faces) == FK_EINVAL &&
              strstr(fk_last_error(), "scale") != NULL, "scale %g: %s", (double)bad[i],
              fk_last_error());
        fk_verify_result r;
        CHECK(fk_verify(ctx, full, full, NULL, &r) == FK_EINVAL, "verify scale %g",
              (double)bad[i]);
        CHECK(fk_draw_faces(full, &faces) == FK_EINVAL, "draw scale %g", (double)bad[i]);
    }
    full->scale = 1;
    CHECK(fk_detect(ctx, full, NULL, &ref) == FK_OK, "detect at scale 1");
    full->scale = 0;
    CHECK(fk_detect(ctx, full, NULL, &faces) == FK_OK, "detect at scale 0: %s", fk_last_error());
    CHECK(faces.count == ref.count && faces.count > 0 && faces.faces[0].x == ref.faces[0].x &&
          faces.faces[0].w == ref.faces[0].w, "scale 0 is scale 1");
    full->scale = 1;
    fk_faces_free(&faces);
    fk_faces_free(&ref);
}

int main(void) {
    if (fk_models_default_home(home, sizeof home) != FK_OK) test_skip("no model home");
    char path[PATH_MAX], probe[PATH_MAX + 64];
    snprintf(probe, sizeof probe, "%s/face-api/face_recognition_model.bin", home);
    snprintf(path, sizeof path, "%s/face-api/sample1.jpg", home);
    if (access(probe, R_OK) != 0 || access(path, R_OK) != 0)
        test_skip("face-api models not installed (run `facekit models fetch`)");
    if (!mkdtemp(tmpdir)) return 1;
    fk_context *ctx = NULL;
    fk_context_options co;
    fk_context_options_init(&co);
    co.model_home = home;
    if (fk_context_new(&co, &ctx) != FK_OK) {
        fprintf(stderr, "context: %s\n", fk_last_error());
        return 1;
    }
    test_draw();

    /* sample1 at 1/2: faces of ~90 px instead of ~180 */
    fk_image *full = NULL, *half = NULL;
    CHECK(fk_image_load(path, 0, &full) == FK_OK, "load: %s", fk_last_error());
    CHECK(fk_image_load_scaled(path, 0, 960, &half) == FK_OK && half->width == 960 &&
          half->height == 640 && half->scale == 0.5f, "load 1/2: %s", fk_last_error());
    if (full && half) compare_detections(ctx, full, half, 6, 6, "sample1 1/2");

    /* sample1 upscaled to 3840x2560, decoded at 1/2 and at 1/4 */
    char big_path[128];
    snprintf(big_path, sizeof big_path, "%s/big.jpg", tmpdir);
    fk_image *up = NULL, *big = NULL, *big_half = NULL, *big_quarter = NULL;
    CHECK(full && fk__image_resize(full, 3840, 2560, &up) == FK_OK &&
          fk_image_save(up, big_path, 92) == FK_OK, "make big.jpg: %s", fk_last_error());
    fk_image_free(up);
    CHECK(fk_image_load(big_path, 0, &big) == FK_OK, "load big: %s", fk_last_error());
    CHECK(fk_image_load_scaled(big_path, 0, 1920, &big_half) == FK_OK &&
          big_half->width == 1920 && big_half->scale == 0.5f, "big 1/2: %s", fk_last_error());
    CHECK(fk_image_load_scaled(big_path, 0, 960, &big_quarter) == FK_OK &&
          big_quarter->width == 960 && big_quarter->scale == 0.25f, "big 1/4: %s",
          fk_last_error());
    if (big && big_half) compare_detections(ctx, big, big_half, 8, 8, "3840x2560 1/2");
    if (big && big_quarter) compare_detections(ctx, big, big_quarter, 12, 12, "3840x2560 1/4");
    if (big && big_half) test_represent_verify(ctx, big, big_half);
    if (full) test_bad_scale(ctx, full);

    fk_image_free(full);
    fk_image_free(half);
    fk_image_free(big);
    fk_image_free(big_half);
    fk_image_free(big_quarter);
    unlink(big_path);
    rmdir(tmpdir);
    fk_context_free(ctx);
    return test_summary();
}
