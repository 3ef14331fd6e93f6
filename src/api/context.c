/*
 * context.c - the public entry points of the pipeline (facekit.h): the
 * context, options, detect, represent and verify. Each validates its
 * arguments, then hands the work to the stages in src/detect, src/represent
 * and src/verify.
 */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/profile.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/names.h"
#include "detect/detect.h"
#include "detect/detectors.h"
#include "image/image.h"
#include "models/zoo.h"
#include "nn/threadpool.h"
#include "represent/recognizers.h"
#include "represent/represent.h"
#include "verify/verify.h"

struct fk_context {
    char home[PATH_MAX];
    size_t max_pixels;
    fk_pool *pool;
    fk_zoo *zoo;
    /* A second set of models, loaded on the first fk_verify of a context
     * with two or more threads: verify then works on its two images at once,
     * one thread each (see fk_verify). */
    fk_zoo *twin;
};

void fk_context_options_init(fk_context_options *opt) {
    if (!opt) return;
    memset(opt, 0, sizeof *opt);
}

/* Threads from the options, else $FACEKIT_THREADS, else every core (0). */
static int context_threads(const fk_context_options *opt) {
    if (opt && opt->threads > 0) return opt->threads;
    const char *env = getenv("FACEKIT_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v > 0 && v <= 1024) return (int)v;
    }
    return 0;
}

fk_status fk_context_new(const fk_context_options *opt, fk_context **out) {
    fk__clear_error();
    if (!out) return fk__fail(FK_EINVAL, "fk_context_new: out is NULL");
    *out = NULL;
    fk_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return fk__fail(FK_ENOMEM, "out of memory");
    fk_status st = FK_OK;
    if (opt && opt->model_home) {
        if (strlen(opt->model_home) >= sizeof ctx->home)
            st = fk__fail(FK_EINVAL, "model home path is too long");
        else
            strcpy(ctx->home, opt->model_home);
    } else {
        st = fk_models_default_home(ctx->home, sizeof ctx->home);
    }
    ctx->max_pixels = opt && opt->max_pixels ? opt->max_pixels : FK_DEFAULT_MAX_PIXELS;
    if (st == FK_OK) st = fk__pool_new(context_threads(opt), &ctx->pool);
    if (st == FK_OK) st = fk__zoo_new(ctx->home, &ctx->zoo);
    if (st != FK_OK) {
        fk_context_free(ctx);
        return st;
    }
    *out = ctx;
    return FK_OK;
}

void fk_context_free(fk_context *ctx) {
    if (!ctx) return;
    fk__zoo_free(ctx->zoo);
    fk__zoo_free(ctx->twin);
    fk__pool_free(ctx->pool);
    free(ctx);
}

const char *fk_context_get_model_home(const fk_context *ctx) {
    return ctx ? ctx->home : NULL;
}

void fk_options_init(fk_options *opt) {
    if (!opt) return;
    memset(opt, 0, sizeof *opt);
    opt->detector = "ssd";
    opt->model = "Dlib";
    opt->metric = "cosine";
    opt->align = 1;
    opt->enforce_detection = 1;
    opt->expand_percentage = 0;
    opt->min_confidence = 0.5f;
    opt->threshold = 0;
}

fk_zoo *fk__context_zoo(fk_context *ctx) { return ctx->zoo; }
fk_pool *fk__context_pool(fk_context *ctx) { return ctx->pool; }

/* Check an image handed in by a caller, its scale included (0 stands for
 * 1; anything else must be a plausible ratio, not a NaN or a sign slip). */
fk_status fk__check_image(const fk_image *img, const char *what) {
    if (!img || !img->data || img->width <= 0 || img->height <= 0 ||
        img->channels != 3 || img->stride < (size_t)img->width * 3)
        return fk__fail(FK_EINVAL, "%s: not a valid RGB image", what);
    if (img->scale != 0 && !(img->scale >= 1e-3f && img->scale <= 1e3f))
        return fk__fail(FK_EINVAL, "%s: image scale %g is not within 0.001..1000 "
                       "(0 or 1: full size)", what, (double)img->scale);
    return FK_OK;
}

/* Decoded pixels per original pixel (1 for a full-size image). */
float fk__image_scale(const fk_image *img) {
    return img->scale > 0 ? img->scale : 1.0f;
}

/* Multiply every coordinate of a face (box, eyes, landmarks, keypoints) by
 * k. The pipeline works in the pixels of the image it is given; this is the
 * one place its results move between those and the original file's pixels
 * (k = 1 / scale out of the pipeline, k = scale into it). */
void fk__face_rescale(fk_face *f, float k) {
    f->x *= k;
    f->y *= k;
    f->w *= k;
    f->h *= k;
    f->left_eye.x *= k;
    f->left_eye.y *= k;
    f->right_eye.x *= k;
    f->right_eye.y *= k;
    for (int i = 0; i < f->landmark_count && i < FK_MAX_LANDMARKS; i++) {
        f->landmarks[i].x *= k;
        f->landmarks[i].y *= k;
    }
    for (int i = 0; i < f->keypoint_count && i < FK_MAX_KEYPOINTS; i++) {
        f->keypoints[i].x *= k;
        f->keypoints[i].y *= k;
    }
}

/* Faces found in img's pixels, moved to the original image's pixels. */
static void faces_to_original(fk_faces *faces, const fk_image *img) {
    float s = fk__image_scale(img);
    if (s == 1.0f) return;
    for (int i = 0; i < faces->count; i++) fk__face_rescale(&faces->faces[i], 1.0f / s);
}

/* Options with defaults filled in and every name checked; the canonical
 * names are static strings. */
fk_status fk__resolve_options(const fk_options *in, fk_options *out) {
    fk_options_init(out);
    if (in) *out = *in;
    if (!out->detector) out->detector = "ssd";
    if (!out->model) out->model = "Dlib";
    if (!out->metric) out->metric = "cosine";
    if (!out->image_names[0]) out->image_names[0] = "img1";
    if (!out->image_names[1]) out->image_names[1] = "img2";
    const fk_model_desc *det;
    const fk_model_desc *rec;
    fk_status st = fk__detector_find(out->detector, &det);
    if (st == FK_OK) st = fk__recognizer_find(out->model, &rec);
    if (st != FK_OK) return st;
    out->detector = det->name;
    out->model = rec->name;
    if (st == FK_OK) st = fk__metric_name(out->metric, &out->metric);
    if (st != FK_OK) return st;
    if (!(out->min_confidence >= 0 && out->min_confidence <= 1))
        return fk__fail(FK_EINVAL, "min_confidence must be within 0..1");
    if (!(out->expand_percentage >= 0 && out->expand_percentage <= 1000))
        return fk__fail(FK_EINVAL, "expand_percentage must be within 0..1000");
    if (out->max_faces < 0)
        return fk__fail(FK_EINVAL, "max_faces must be >= 0 (0 = every face)");
    if (out->threshold != out->threshold || out->threshold < 0)
        return fk__fail(FK_EINVAL, "threshold must be >= 0 (0 = calibrated)");
    if (out->l2_normalize != 0 && out->l2_normalize != 1)
        return fk__fail(FK_EINVAL, "l2_normalize must be 0 or 1");
    const fk_input_norm *norm;
    st = fk__represent_normalization(rec, out->normalization, &norm);
    if (st != FK_OK) return st;
    out->normalization = norm ? norm->name : "base";
    const fk_model_desc *spoof;
    st = fk__antispoof_find(out->antispoof_model, &spoof);
    if (st != FK_OK) return st;
    out->antispoof_model = spoof->name;
    if (out->anti_spoofing != 0 && out->anti_spoofing != 1)
        return fk__fail(FK_EINVAL, "anti_spoofing must be 0 or 1");
    static const char *const COLORS[] = {"rgb", "bgr", "gray"};
    const char *color = out->color_face ? out->color_face : "rgb";
    out->color_face = NULL;
    for (int i = 0; i < 3; i++)
        if (!strcasecmp(color, COLORS[i])) out->color_face = COLORS[i];
    if (!out->color_face)
        return fk__fail(FK_EINVAL, "unknown color_face '%s'; valid: rgb, bgr, gray", color);
    return FK_OK;
}

/* FK_ESPOOF for the first checked face judged a spoof; boxes are reported
 * multiplied by k (1 / image scale: the pixels the user sees). */
static fk_status refuse_spoof(const fk_faces *faces, const char *image_name,
                              const char *model, float k) {
    for (int i = 0; i < faces->count; i++) {
        fk_face f = faces->faces[i];
        if (!f.spoof_checked || f.is_real) continue;
        fk__face_rescale(&f, k);
        return fk__fail(FK_ESPOOF,
                       "%s: face %d at (%.0f, %.0f, %.0f, %.0f) looks like a spoof "
                       "(antispoof_score %.2f, model %s); pass --anti-spoofing false to "
                       "skip the check",
                       image_name ? image_name : "image", i + 1, f.x, f.y, f.w, f.h,
                       f.antispoof_score, model);
    }
    return FK_OK;
}

fk_status fk__refuse_spoof(const fk_faces *faces, const fk_options *o, const char *image_name,
                           const fk_image *img) {
    if (!o->anti_spoofing) return FK_OK;
    return refuse_spoof(faces, image_name, o->antispoof_model, 1.0f / fk__image_scale(img));
}

fk_status fk_faces_check_real(const fk_faces *faces, const char *image_name,
                              const fk_options *opt) {
    fk__clear_error();
    if (!faces || (faces->count > 0 && !faces->faces))
        return fk__fail(FK_EINVAL, "fk_faces_check_real: faces is NULL");
    const fk_model_desc *m;
    fk_status st = fk__antispoof_find(opt ? opt->antispoof_model : NULL, &m);
    if (st != FK_OK) return st;
    return refuse_spoof(faces, image_name, m->name, 1.0f);
}

fk_status fk_options_check(const fk_options *opt) {
    fk__clear_error();
    if (!opt) return fk__fail(FK_EINVAL, "fk_options_check: opt is NULL");
    fk_options o;
    return fk__resolve_options(opt, &o);
}

fk_status fk_detect(fk_context *ctx, const fk_image *img, const fk_options *opt,
                    fk_faces *out) {
    fk__clear_error();
    if (!ctx || !out) return fk__fail(FK_EINVAL, "fk_detect: ctx and out are required");
    memset(out, 0, sizeof *out);
    fk_options o;
    fk_status st = fk__check_image(img, "fk_detect");
    if (st == FK_OK) st = fk__resolve_options(opt, &o);
    if (st != FK_OK) return st;
    st = fk__detect_faces(ctx->zoo, ctx->pool, img, o.image_names[0], &o, out, NULL, NULL);
    if (st == FK_OK) faces_to_original(out, img);
    return st;
}

fk_status fk__represent_timed(fk_context *ctx, const fk_image *img,
                              const fk_options *opt, fk_faces *out,
                              fk__stage_times *times) {
    fk__clear_error();
    if (!ctx || !out) return fk__fail(FK_EINVAL, "fk_represent: ctx and out are required");
    memset(out, 0, sizeof *out);
    fk_options o;
    fk_status st = fk__check_image(img, "fk_represent");
    if (st == FK_OK) st = fk__resolve_options(opt, &o);
    if (st != FK_OK) return st;
    fk__stage_times local = {0};
    if (!times) times = &local;
    st = fk__detect_faces(ctx->zoo, ctx->pool, img, o.image_names[0], &o, out,
                         &times->detect_ms, &times->landmarks_ms);
    if (st == FK_OK) st = fk__refuse_spoof(out, &o, o.image_names[0], img);
    if (st == FK_OK)
        st = fk__represent_faces(ctx->zoo, ctx->pool, img, &o, out,
                                &times->align_ms, &times->embed_ms);
    if (st == FK_OK) faces_to_original(out, img);
    if (st != FK_OK) fk_faces_free(out);
    return st;
}

fk_status fk_embed_faces(fk_context *ctx, const fk_image *img,
                         const fk_options *opt, fk_faces *faces) {
    fk__clear_error();
    if (!ctx || !faces) return fk__fail(FK_EINVAL, "fk_embed_faces: ctx and faces are required");
    if (faces->count < 0 || (faces->count > 0 && !faces->faces))
        return fk__fail(FK_EINVAL, "fk_embed_faces: faces->count is %d with %s face array",
                       faces->count, faces->faces ? "a" : "no");
    fk_options o;
    fk_status st = fk__check_image(img, "fk_embed_faces");
    if (st == FK_OK) st = fk__resolve_options(opt, &o);
    for (int i = 0; st == FK_OK && i < faces->count; i++) {
        const fk_face *f = &faces->faces[i];
        if (!(f->w > 0 && f->h > 0) || !isfinite(f->x + f->y + f->w + f->h) || f->landmark_count < 0 || f->landmark_count > FK_MAX_LANDMARKS ||
            (f->landmark_count != 0 && f->landmark_count != 68))
            st = fk__fail(FK_EINVAL, "fk_embed_faces: face %d: needs a box of positive size and 0 or 68 "
                         "landmarks (has %gx%g, %d landmarks)", i, f->w, f->h, f->landmark_count);
    }
    if (st != FK_OK) return st;
    float s = fk__image_scale(img);
    if (s == 1.0f || faces->count == 0)
        return fk__represent_faces(ctx->zoo, ctx->pool, img, &o, faces, NULL, NULL);
    /* The caller's faces are in original pixels: embed from copies moved into
     * img's pixels, so the caller's coordinates come back bit for bit. */
    fk_faces local = {malloc(sizeof *local.faces * (size_t)faces->count), faces->count};
    if (!local.faces) return fk__fail(FK_ENOMEM, "out of memory");
    for (int i = 0; i < faces->count; i++) {
        local.faces[i] = faces->faces[i];
        local.faces[i].embedding = NULL;
        fk__face_rescale(&local.faces[i], s);
    }
    st = fk__represent_faces(ctx->zoo, ctx->pool, img, &o, &local, NULL, NULL);
    for (int i = 0; st == FK_OK && i < faces->count; i++) {
        free(faces->faces[i].embedding);
        faces->faces[i].embedding = local.faces[i].embedding;
        faces->faces[i].embedding_dim = local.faces[i].embedding_dim;
        faces->faces[i].normalization = local.faces[i].normalization;
        local.faces[i].embedding = NULL;
    }
    fk_faces_free(&local);
    return st;
}

fk_status fk_represent(fk_context *ctx, const fk_image *img,
                       const fk_options *opt, fk_faces *out) {
    return fk__represent_timed(ctx, img, opt, out, NULL);
}

/* Detect and embed every face of one image. */
static fk_status faces_of(fk_zoo *zoo, fk_pool *pool, const fk_image *img, const char *name,
                          const fk_options *o, fk_faces *out) {
    fk_status st = fk__detect_faces(zoo, pool, img, name, o, out, NULL, NULL);
    if (st == FK_OK) st = fk__represent_faces(zoo, pool, img, o, out, NULL, NULL);
    return st;
}

/* The second image's work, on a thread of its own. Errors are per thread
 * (core/error.c), so the message is copied out for the caller. */
typedef struct second_image {
    fk_zoo *zoo;
    const fk_image *img;
    const char *name;
    const fk_options *o;
    fk_faces *out;
    fk_status st;
    char error[1024];
} second_image;

static void *second_image_main(void *arg) {
    second_image *j = arg;
    j->st = faces_of(j->zoo, NULL, j->img, j->name, j->o, j->out);
    if (j->st != FK_OK) snprintf(j->error, sizeof j->error, "%s", fk_last_error());
    return NULL;
}

/* Faces and embeddings of both images of a verify. With two or more threads
 * the images are processed at the same time, each on one thread with its own
 * models (ctx->twin holds the second set): a photo's networks split over two
 * threads layer by layer lose time at every layer's hand-over and on the
 * serial work between layers (decoding boxes, alignment), while two whole
 * pipelines side by side share nothing. Both ways compute the same answer
 * (the kernels' results do not depend on the thread count; test_pipeline
 * checks the two paths agree). Costs a second copy of the models in memory.
 * Falls back to one image after the other if the second set or the thread
 * cannot be had. */
static fk_status verify_both_images(fk_context *ctx, const fk_image *img1,
                                    const fk_image *img2, const fk_options *o, fk_faces *a,
                                    fk_faces *b) {
    int together = fk__pool_threads(ctx->pool) >= 2;
    if (together && !ctx->twin && fk__zoo_new(ctx->home, &ctx->twin) != FK_OK) {
        fk__clear_error();
        together = 0;
    }
    pthread_t thread;
    second_image job = {ctx->twin, img2, o->image_names[1], o, b, FK_OK, ""};
    if (together && pthread_create(&thread, NULL, second_image_main, &job) != 0)
        together = 0;
    if (!together) {
        fk_status st = fk__detect_faces(ctx->zoo, ctx->pool, img1, o->image_names[0], o, a,
                                       NULL, NULL);
        if (st == FK_OK)
            st = fk__detect_faces(ctx->zoo, ctx->pool, img2, o->image_names[1], o, b, NULL, NULL);
        if (st == FK_OK) st = fk__represent_faces(ctx->zoo, ctx->pool, img1, o, a, NULL, NULL);
        if (st == FK_OK) st = fk__represent_faces(ctx->zoo, ctx->pool, img2, o, b, NULL, NULL);
        return st;
    }
    fk_status st = faces_of(ctx->zoo, NULL, img1, o->image_names[0], o, a);
    pthread_join(thread, NULL);
    if (st == FK_OK && job.st != FK_OK) st = fk__fail(job.st, "%s", job.error);
    return st;
}

fk_status fk_verify(fk_context *ctx, const fk_image *img1, const fk_image *img2,
                    const fk_options *opt, fk_verify_result *out) {
    fk__clear_error();
    if (!ctx || !out) return fk__fail(FK_EINVAL, "fk_verify: ctx and out are required");
    memset(out, 0, sizeof *out);
    double t0 = fk__now_ms();
    fk_options o;
    fk_status st = fk__check_image(img1, "fk_verify: img1");
    if (st == FK_OK) st = fk__check_image(img2, "fk_verify: img2");
    if (st == FK_OK) st = fk__resolve_options(opt, &o);
    if (st != FK_OK) return st;
    float threshold = o.threshold;
    if (threshold <= 0) {
        st = fk_threshold(o.model, o.metric, &threshold);
        if (st != FK_OK) return st;
    }
    fk_faces a = {0}, b = {0};
    st = verify_both_images(ctx, img1, img2, &o, &a, &b);
    /* A spoof anywhere refuses its image (facekit.h): checked in original
     * pixels, so the message gives the box the user sees. */
    if (st == FK_OK) st = fk__refuse_spoof(&a, &o, o.image_names[0], img1);
    if (st == FK_OK) st = fk__refuse_spoof(&b, &o, o.image_names[1], img2);
    int i = -1, j = -1;
    float d = 0;
    if (st == FK_OK) st = fk__closest_pair(&a, &b, o.metric, &i, &j, &d);
    if (st == FK_OK) {
        out->verified = d <= threshold;
        out->distance = d;
        out->threshold = threshold;
        st = fk_confidence(d, threshold, &out->confidence);
        out->model = o.model;
        out->detector = o.detector;
        out->metric = o.metric;
        out->face1 = a.faces[i];
        out->face2 = b.faces[j];
        out->face1.embedding = out->face2.embedding = NULL;
        fk__face_rescale(&out->face1, 1.0f / fk__image_scale(img1));
        fk__face_rescale(&out->face2, 1.0f / fk__image_scale(img2));
        out->faces1 = a.count;
        out->faces2 = b.count;
        out->time_ms = fk__now_ms() - t0;
    }
    fk_faces_free(&a);
    fk_faces_free(&b);
    return st;
}

fk_status fk_draw_faces(fk_image *img, const fk_faces *faces) {
    fk__clear_error();
    fk_status st = fk__check_image(img, "fk_draw_faces");
    if (st != FK_OK) return st;
    if (!faces || (faces->count > 0 && !faces->faces))
        return fk__fail(FK_EINVAL, "fk_draw_faces: faces is NULL");
    int thick = (img->width + img->height) / 400 + 1;
    float s = fk__image_scale(img);
    for (int i = 0; i < faces->count; i++) {
        fk_face scaled = faces->faces[i];
        fk__face_rescale(&scaled, s); /* original pixels -> img's */
        const fk_face *f = &scaled;
        fk__image_draw_rect(img, (int)f->x, (int)f->y, (int)f->w, (int)f->h, thick, 0, 255, 0);
        for (int k = 0; k < f->landmark_count && k < FK_MAX_LANDMARKS; k++)
            fk__image_draw_dot(img, (int)f->landmarks[k].x, (int)f->landmarks[k].y,
                              thick / 2 + 1, 255, 220, 0);
        if (f->landmark_count) {
            fk__image_draw_dot(img, (int)f->left_eye.x, (int)f->left_eye.y, thick + 1, 255, 0, 0);
            fk__image_draw_dot(img, (int)f->right_eye.x, (int)f->right_eye.y, thick + 1, 0, 0, 255);
        }
    }
    return FK_OK;
}
