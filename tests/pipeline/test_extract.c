/*
 * test_extract.c - fk_extract_faces and represent's deepface options on
 * real photos (face-api's sample1..3, an LFW image):
 *  - aligned crops are each installed recognizer's chip, upright: the
 *    landmark model run on a crop (detector skip) finds level eyes where
 *    fk_extract_faces says they are and where the chip template puts them;
 *  - an aligned crop embedded again whole (detector skip, align off) gives
 *    represent's embedding exactly: it is the chip the recognizer saw;
 *  - align off: the clipped box at full resolution; gray is the BT.601
 *    luma of the RGB crop, bgr the channels swapped;
 *  - expand_percentage changes Dlib's and MobileFaceNet's embeddings and
 *    the face still verifies; l2_normalize gives unit length; the
 *    normalization names are checked and applied.
 * Skips when the face-api models are absent ($FACEKIT_HOME).
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "align/align.h"
#include "align/align_arcface.h"
#include "facekit.h"
#include "test.h"

static char home[1024];

static fk_image *sample(int i) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/face-api/sample%d.jpg", home, i);
    fk_image *img = NULL;
    CHECK(fk_image_load(path, 0, &img) == FK_OK, "load %s: %s", path, fk_last_error());
    return img;
}

static int installed(const char *name) {
    fk_model_info infos[64];
    int n = 0;
    if (fk_models_list(home, infos, 64, &n) != FK_OK) return 0;
    for (int i = 0; i < n && i < 64; i++)
        if (!strcmp(infos[i].name, name)) return infos[i].installed;
    return 0;
}

static float dist(const float *a, const float *b, int n, const char *metric) {
    float d = -1;
    CHECK(fk_distance(a, b, n, metric, &d) == FK_OK, "distance: %s", fk_last_error());
    return d;
}

static double norm2(const float *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
    return sqrt(s);
}

/* Mean of points [from, from + n). */
static fk_point mean_of(const fk_point *p, int from, int n) {
    fk_point m = {0, 0};
    for (int i = from; i < from + n; i++) m.x += p[i].x / n, m.y += p[i].y / n;
    return m;
}

static float gap(fk_point a, fk_point b) { return hypotf(a.x - b.x, a.y - b.y); }

/* Where the chip template puts the (person's left, right) eyes; 0 when the
 * chip kind has no template. */
static int template_eyes(const char *model, int size, fk_point *left, fk_point *right) {
    if (!strcmp(model, "Dlib")) {
        fk_point t[51]; /* landmarks 17..67: right eye 36..41, left 42..47 */
        fk__align_template68(size, 0.25, t);
        *right = mean_of(t, 36 - 17, 6);
        *left = mean_of(t, 42 - 17, 6);
        return 1;
    }
    if (!strcmp(model, "MobileFaceNet") || !strcmp(model, "MobileFace")) {
        fk_point t[5];
        fk__align_template5(size, t);
        *right = t[0];
        *left = t[1];
        return 1;
    }
    return 0;
}

static const struct { const char *name; int size; } RECOGNIZERS[] = {
    {"Dlib", 150}, {"MobileFaceNet", 112}, {"FaceRes", 224}, {"FaceRes-Deep", 224},
    {"MobileFace", 112},
};

static void test_aligned(fk_context *ctx, fk_image *img) {
    for (size_t r = 0; r < sizeof RECOGNIZERS / sizeof RECOGNIZERS[0]; r++) {
        const char *model = RECOGNIZERS[r].name;
        const int size = RECOGNIZERS[r].size;
        if (!installed(model)) {
            printf("note: %s not installed, not checked\n", model);
            continue;
        }
        fk_options o;
        fk_options_init(&o);
        o.model = model;
        fk_face_crops crops;
        fk_status st = fk_extract_faces(ctx, img, &o, &crops);
        CHECK(st == FK_OK && crops.count == 3, "%s: %d crops: %s", model, crops.count,
              fk_last_error());
        fk_faces rep = {0};
        CHECK(fk_represent(ctx, img, &o, &rep) == FK_OK && rep.count == crops.count,
              "%s represent: %s", model, fk_last_error());
        fk_point tl = {0, 0}, tr = {0, 0};
        int has_template = template_eyes(model, size, &tl, &tr);
        float worst_level = 0, worst_said = 0, worst_tpl = 0, worst_emb = 0;
        for (int i = 0; i < crops.count; i++) {
            const fk_face_crop *c = &crops.crops[i];
            CHECK(c->image && c->image->width == size && c->image->height == size &&
                      c->image->channels == 3,
                  "%s crop %d is %dx%dx%d", model, i, c->image ? c->image->width : 0,
                  c->image ? c->image->height : 0, c->image ? c->image->channels : 0);
            CHECK(c->has_eyes && c->face.landmark_count == 68 && c->face.embedding == NULL,
                  "%s crop %d: face", model, i);
            /* Same face, same order as represent. */
            CHECK(i < rep.count && fabsf(c->face.x - rep.faces[i].x) < 1e-3f &&
                      fabsf(c->face.w - rep.faces[i].w) < 1e-3f,
                  "%s crop %d: box differs from represent's", model, i);
            /* The crop is upright: landmarks found on it have level eyes,
             * where fk_extract_faces says, where the template puts them. */
            fk_options skip;
            fk_options_init(&skip);
            skip.detector = "skip";
            skip.model = model;
            fk_faces on = {0};
            CHECK(fk_detect(ctx, c->image, &skip, &on) == FK_OK && on.count == 1,
                  "%s crop %d: landmarks: %s", model, i, fk_last_error());
            if (on.count != 1) continue;
            fk_point le = on.faces[0].left_eye, re = on.faces[0].right_eye;
            float level = fabsf(le.y - re.y);
            float said = fmaxf(gap(le, c->left_eye), gap(re, c->right_eye));
            if (level > worst_level) worst_level = level;
            if (said > worst_said) worst_said = said;
            CHECK(le.x > re.x, "%s crop %d: the left eye is on the image right", model, i);
            CHECK(level < 0.04f * size, "%s crop %d: eyes %.1f px off level", model, i, level);
            CHECK(said < 0.05f * size, "%s crop %d: eyes found %.1f px from where "
                  "fk_extract_faces says", model, i, said);
            if (has_template) {
                float tpl = fmaxf(gap(c->left_eye, tl), gap(c->right_eye, tr));
                float tpl_found = fmaxf(gap(le, tl), gap(re, tr));
                if (tpl_found > worst_tpl) worst_tpl = tpl_found;
                CHECK(tpl < 0.06f * size && tpl_found < 0.06f * size,
                      "%s crop %d: eyes %.1f / %.1f px from the template's", model, i, tpl,
                      tpl_found);
            }
            fk_faces_free(&on);
            /* A landmark-aligned crop is the chip: embedded whole, unaligned,
             * it gives represent's embedding exactly. (Not so for FaceRes:
             * its eyes-box chip puts a 10% margin around whatever box it is
             * given, so the crop fed back is seen zoomed out.) */
            if (!has_template) continue;
            skip.align = 0;
            fk_faces again = {0};
            CHECK(fk_represent(ctx, c->image, &skip, &again) == FK_OK && again.count == 1,
                  "%s crop %d: embed: %s", model, i, fk_last_error());
            if (again.count == 1 && i < rep.count) {
                float d = 0;
                for (int k = 0; k < rep.faces[i].embedding_dim; k++)
                    d = fmaxf(d, fabsf(again.faces[0].embedding[k] - rep.faces[i].embedding[k]));
                if (d > worst_emb) worst_emb = d;
                CHECK(d <= 1e-5f, "%s crop %d: embedding of the crop differs by %g", model, i,
                      (double)d);
            }
            fk_faces_free(&again);
        }
        printf("%s: eyes level within %.2f px, %.2f px from fk_extract_faces'", model,
               worst_level, worst_said);
        if (has_template)
            printf(", %.2f px from the template's; crop embedding differs by at most %g",
                   worst_tpl, (double)worst_emb);
        printf("\n");
        fk_faces_free(&rep);
        fk_face_crops_free(&crops);
        CHECK(crops.crops == NULL && crops.count == 0, "freed");
    }
}

static void test_unaligned(fk_context *ctx, fk_image *img) {
    fk_options o;
    fk_options_init(&o);
    o.align = 0;
    o.expand_percentage = 25; /* boxes near the edge get clipped */
    fk_face_crops rgb, gray, bgr;
    CHECK(fk_extract_faces(ctx, img, &o, &rgb) == FK_OK && rgb.count == 3, "rgb: %s",
          fk_last_error());
    o.color_face = "GRAY";
    CHECK(fk_extract_faces(ctx, img, &o, &gray) == FK_OK && gray.count == rgb.count, "gray: %s",
          fk_last_error());
    o.color_face = "bgr";
    CHECK(fk_extract_faces(ctx, img, &o, &bgr) == FK_OK && bgr.count == rgb.count, "bgr: %s",
          fk_last_error());
    for (int i = 0; i < rgb.count && i < gray.count && i < bgr.count; i++) {
        const fk_face *f = &rgb.crops[i].face;
        const fk_image *c = rgb.crops[i].image, *g = gray.crops[i].image, *b = bgr.crops[i].image;
        long x0 = lroundf(f->x), y0 = lroundf(f->y);
        long x1 = lroundf(f->x + f->w), y1 = lroundf(f->y + f->h);
        CHECK(x0 >= 0 && y0 >= 0 && x1 <= img->width && y1 <= img->height, "box in image");
        CHECK(c->width == x1 - x0 && c->height == y1 - y0 && c->channels == 3,
              "crop %d is %dx%d, box %ldx%ld", i, c->width, c->height, x1 - x0, y1 - y0);
        /* Native pixels: the crop's corner is the image's pixel. */
        CHECK(!memcmp(c->data, img->data + y0 * img->stride + x0 * 3, 3) &&
                  !memcmp(c->data + (c->height - 1) * c->stride,
                          img->data + (y1 - 1) * img->stride + x0 * 3, 3),
              "crop %d: not the image's pixels", i);
        CHECK(fabsf(rgb.crops[i].left_eye.x - (f->left_eye.x - x0)) < 1e-3f &&
                  fabsf(rgb.crops[i].right_eye.y - (f->right_eye.y - y0)) < 1e-3f,
              "crop %d: eyes in crop pixels", i);
        CHECK(g->channels == 1 && g->width == c->width && g->height == c->height &&
                  b->channels == 3 && b->width == c->width && b->height == c->height,
              "crop %d: gray/bgr sizes", i);
        int bad_gray = 0, bad_bgr = 0;
        for (int y = 0; y < c->height; y++)
            for (int x = 0; x < c->width; x++) {
                const uint8_t *p = c->data + y * c->stride + x * 3;
                const uint8_t *q = b->data + y * b->stride + x * 3;
                double luma = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
                if (fabs(g->data[y * g->stride + x] - luma) > 0.51) bad_gray++;
                if (q[0] != p[2] || q[1] != p[1] || q[2] != p[0]) bad_bgr++;
            }
        CHECK(bad_gray == 0 && bad_bgr == 0, "crop %d: %d gray and %d bgr pixels wrong", i,
              bad_gray, bad_bgr);
    }
    fk_face_crops_free(&rgb);
    fk_face_crops_free(&gray);
    fk_face_crops_free(&bgr);
}

static void test_detection_options(fk_context *ctx, fk_image *img) {
    fk_options o;
    fk_options_init(&o);
    o.max_faces = 2;
    fk_face_crops c;
    CHECK(fk_extract_faces(ctx, img, &o, &c) == FK_OK && c.count == 2, "max_faces 2: %d",
          c.count);
    fk_face_crops_free(&c);
    o.max_faces = 0;
    o.detector = "skip";
    CHECK(fk_extract_faces(ctx, img, &o, &c) == FK_OK && c.count == 1 &&
              c.crops[0].image->width == 150,
          "skip: one face: %s", fk_last_error());
    fk_face_crops_free(&c);
    fk_image *blank = NULL;
    CHECK(fk_image_new(200, 160, 3, &blank) == FK_OK, "blank");
    fk_options_init(&o);
    CHECK(fk_extract_faces(ctx, blank, &o, &c) == FK_ENOFACE && c.count == 0 && !c.crops,
          "blank: no face is an error");
    o.enforce_detection = 0;
    o.align = 0;
    CHECK(fk_extract_faces(ctx, blank, &o, &c) == FK_OK && c.count == 1 &&
              c.crops[0].image->width == 200 && c.crops[0].image->height == 160 &&
              !c.crops[0].has_eyes,
          "blank, enforce off: the whole image: %s", fk_last_error());
    fk_face_crops_free(&c);
    fk_image_free(blank);
    o.color_face = "purple";
    CHECK(fk_extract_faces(ctx, img, &o, &c) == FK_EINVAL &&
              strstr(fk_last_error(), "rgb, bgr, gray"),
          "bad color_face: %s", fk_last_error());
    CHECK(fk_extract_faces(NULL, img, NULL, &c) == FK_EINVAL, "NULL ctx");
    fk_face_crops_free(NULL);
}

/* One face of an LFW image (or sample3's first) embedded with opt. */
static int embed_one(fk_context *ctx, fk_image *img, const fk_options *o, float *out, int cap) {
    fk_faces f = {0};
    fk_status st = fk_represent(ctx, img, o, &f);
    CHECK(st == FK_OK && f.count >= 1, "%s: %s", o->model, fk_last_error());
    int dim = st == FK_OK && f.count ? f.faces[0].embedding_dim : 0;
    if (dim > cap) dim = 0;
    if (dim) memcpy(out, f.faces[0].embedding, sizeof(float) * (size_t)dim);
    fk_faces_free(&f);
    return dim;
}

static void test_expand(fk_context *ctx, fk_image *img) {
    const char *models[] = {"Dlib", "MobileFaceNet"};
    for (int m = 0; m < 2; m++) {
        if (!installed(models[m])) continue;
        fk_options o;
        fk_options_init(&o);
        o.model = models[m];
        o.max_faces = 1;
        float a[1024], b[1024], c[1024];
        int n = embed_one(ctx, img, &o, a, 1024);
        o.expand_percentage = 30;
        int n2 = embed_one(ctx, img, &o, b, 1024);
        o.expand_percentage = 0;
        embed_one(ctx, img, &o, c, 1024);
        if (!n || n != n2) continue;
        float thr = 0, d = dist(a, b, n, "cosine");
        fk_threshold(models[m], "cosine", &thr);
        CHECK(memcmp(a, c, sizeof(float) * (size_t)n) == 0, "%s: expand 0 twice differs",
              models[m]);
        CHECK(d > 1e-4f, "%s: expand 30 leaves the embedding as it was (%g)", models[m],
              (double)d);
        CHECK(d < thr, "%s: expand 30 vs 0: cosine %.4f, over the threshold %.4f", models[m],
              (double)d, (double)thr);
        printf("%s: cosine distance expand 0 vs 30: %.4f (threshold %.4f)\n", models[m],
               (double)d, (double)thr);
    }
}

static void test_normalization(fk_context *ctx, fk_image *img) {
    fk_options o;
    fk_options_init(&o);
    o.max_faces = 1;
    float base[1024], other[1024];
    int n = embed_one(ctx, img, &o, base, 1024);
    CHECK(n == 128 && fabs(norm2(base, n) - 1) > 1e-3, "Dlib's own length is not 1");
    o.l2_normalize = 1;
    int n2 = embed_one(ctx, img, &o, other, 1024);
    CHECK(n2 == n && fabs(norm2(other, n) - 1) < 1e-5, "l2: norm %.7f", norm2(other, n));
    CHECK(n2 == n && dist(base, other, n, "cosine") < 1e-5f, "l2: same direction");
    o.l2_normalize = 0;

    fk_faces f = {0};
    o.normalization = "arcFACE";
    CHECK(fk_options_check(&o) == FK_OK, "arcFACE: %s", fk_last_error());
    CHECK(fk_represent(ctx, img, &o, &f) == FK_OK && f.count == 1 &&
              !strcmp(f.faces[0].normalization, "ArcFace"),
          "the result names the normalization: %s",
          f.count ? f.faces[0].normalization : fk_last_error());
    if (f.count == 1)
        CHECK(dist(base, f.faces[0].embedding, n, "cosine") > 1e-4f,
              "Dlib with ArcFace's input is not Dlib's own");
    fk_faces_free(&f);
    o.normalization = NULL;
    CHECK(fk_represent(ctx, img, &o, &f) == FK_OK && f.count == 1 &&
              !strcmp(f.faces[0].normalization, "base"),
          "default: base");
    fk_faces_free(&f);
    if (installed("MobileFaceNet")) { /* its own input is ArcFace's formula */
        o.model = "MobileFaceNet";
        int k = embed_one(ctx, img, &o, base, 1024);
        o.normalization = "ArcFace";
        int k2 = embed_one(ctx, img, &o, other, 1024);
        CHECK(k && k == k2 && !memcmp(base, other, sizeof(float) * (size_t)k),
              "MobileFaceNet: ArcFace normalization is its own, bit for bit");
        o.normalization = "Facenet";
        k2 = embed_one(ctx, img, &o, other, 1024);
        CHECK(k == k2 && dist(base, other, k, "cosine") > 1e-4f, "Facenet changes it");
    }
    const char *names[] = {"base", "raw", "Facenet", "Facenet2018", "VGGFace", "VGGFace2",
                           "ArcFace", "vggface2"};
    for (int i = 0; i < 8; i++) {
        fk_options_init(&o);
        o.normalization = names[i];
        CHECK(fk_options_check(&o) == FK_OK, "%s: %s", names[i], fk_last_error());
    }
    o.normalization = "imagenet";
    CHECK(fk_options_check(&o) == FK_EINVAL &&
              strstr(fk_last_error(), "base, raw, Facenet, Facenet2018, VGGFace, VGGFace2, ArcFace"),
          "unknown name: %s", fk_last_error());
    CHECK(fk_represent(ctx, img, &o, &f) == FK_EINVAL && f.count == 0, "represent refuses it");
    o.normalization = "Facenet";
    o.model = "MobileFace";
    CHECK(fk_options_check(&o) == FK_EINVAL && strstr(fk_last_error(), "graph"),
          "MobileFace: %s", fk_last_error());
    o.model = "Dlib";
    o.l2_normalize = 2;
    CHECK(fk_options_check(&o) == FK_EINVAL, "l2_normalize 2");
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
    fk_image *s1 = sample(1), *s3 = sample(3);
    if (s1 && s3) {
        test_aligned(ctx, s1);
        test_unaligned(ctx, s3);
        test_detection_options(ctx, s1);
        test_expand(ctx, s3);
        test_normalization(ctx, s1);
    }
    fk_image_free(s1);
    fk_image_free(s3);
    fk_context_free(ctx);
    return test_summary();
}
