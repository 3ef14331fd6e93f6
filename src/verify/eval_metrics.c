/*
 * eval_metrics.c - verification accuracy measured the way the field does:
 * accuracy at a threshold, the best threshold, the ROC curve, its area, the
 * equal-error rate, TAR at a fixed FAR and the k-fold protocol of LFW.
 *
 * Everything works on a list of pairs, each a distance and a label (1 = the
 * same person, 0 = different people). A threshold t accepts a pair as "same"
 * when distance <= t, as fk_verify does. The functions never look at images
 * or models, so `facekit eval` and the tests can feed them anything.
 *
 * The one idea underneath: sort the pairs by distance once; as the threshold
 * sweeps upward past a distance, every pair at that distance changes from
 * rejected to accepted together. So the curve has one point per distinct
 * distance, and each statistic is one pass over the sorted groups.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "facekit.h"

/* A pair reduced to what the statistics need. */
typedef struct scored {
    float d;
    int same;
} scored;

/* A run of equal distances in the sorted list: how many same and different
 * pairs sit exactly at distance d. */
typedef struct group {
    float d;
    int same, different;
} group;

/* Check the arguments every entry point shares: non-NULL arrays, n >= 1,
 * finite distances, labels 0 or 1. Counts the labels into *same and
 * *different. `who` names the public function in the message. */
static fk_status check_pairs(const char *who, const float *d, const int *labels, int n,
                             int *same, int *different) {
    if (!d || !labels) return fk__fail(FK_EINVAL, "%s: distances and labels are required", who);
    if (n < 1) return fk__fail(FK_EINVAL, "%s: need at least one pair (n = %d)", who, n);
    int s = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(d[i]))
            return fk__fail(FK_EINVAL, "%s: distance %d is not a finite number", who, i);
        if (labels[i] != 0 && labels[i] != 1)
            return fk__fail(FK_EINVAL, "%s: label %d is %d; labels must be 1 (same) or 0 (different)",
                           who, i, labels[i]);
        s += labels[i];
    }
    *same = s;
    *different = n - s;
    return FK_OK;
}

/* ROC-based statistics are rates over both classes, so they need one of
 * each. */
static fk_status need_both(const char *who, int same, int different) {
    if (same == 0 || different == 0)
        return fk__fail(FK_EINVAL,
                       "%s: need at least one same and one different pair (have %d same, %d different)",
                       who, same, different);
    return FK_OK;
}

/* qsort order: by distance ascending. */
static int cmp_scored(const void *x, const void *y) {
    float a = ((const scored *)x)->d, b = ((const scored *)y)->d;
    return a < b ? -1 : a > b;
}

/* The pairs whose index i has mask[i] == keep (all pairs when mask is NULL),
 * collapsed into groups of equal distance in ascending order. *groups is
 * malloc'ed (caller frees); *count may be 0 when nothing is selected. */
static fk_status make_groups(const float *d, const int *labels, int n, const int *mask, int keep,
                             group **groups, int *count) {
    scored *s = malloc(sizeof *s * (size_t)n);
    group *g = malloc(sizeof *g * (size_t)n);
    if (!s || !g) {
        free(s);
        free(g);
        return fk__fail(FK_ENOMEM, "evaluation: out of memory for %d pairs", n);
    }
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!mask || (mask[i] == keep)) s[m++] = (scored){d[i], labels[i]};
    qsort(s, (size_t)m, sizeof *s, cmp_scored);
    int k = 0;
    for (int i = 0; i < m; i++) {
        if (k == 0 || g[k - 1].d != s[i].d) g[k++] = (group){s[i].d, 0, 0};
        if (s[i].same) g[k - 1].same++;
        else g[k - 1].different++;
    }
    free(s);
    *groups = g;
    *count = k;
    return FK_OK;
}

/* A float strictly between a and b (a < b), as close to their midpoint as
 * floats allow. A midpoint generalises better to new pairs than either end;
 * when a and b are adjacent floats the midpoint rounds onto one of them, and
 * then a itself is the only threshold that keeps b rejected. */
static float between(float a, float b) {
    float m = (float)(((double)a + (double)b) / 2);
    return m >= b || m < a ? a : m;
}

/* Best threshold over sorted groups: the one with the most correct
 * decisions, the smallest such on ties. Threshold reported as described at
 * fk_eval_best_threshold. */
static void best_of_groups(const group *g, int k, int different, float *threshold, int *correct) {
    int now = different; /* accept nothing: every different pair right */
    int best = now, best_k = -1;
    for (int i = 0; i < k; i++) {
        now += g[i].same - g[i].different;
        if (now > best) {
            best = now;
            best_k = i;
        }
    }
    if (best_k < 0) *threshold = nextafterf(g[0].d, -INFINITY);
    else if (best_k == k - 1) *threshold = g[k - 1].d;
    else *threshold = between(g[best_k].d, g[best_k + 1].d);
    *correct = best;
}

/* Public (facekit.h): the fraction of pairs `threshold` decides rightly. */
fk_status fk_eval_accuracy(const float *distances, const int *labels, int n, float threshold,
                           double *accuracy) {
    fk__clear_error();
    int same, different;
    if (!accuracy) return fk__fail(FK_EINVAL, "fk_eval_accuracy: accuracy is required");
    fk_status st = check_pairs("fk_eval_accuracy", distances, labels, n, &same, &different);
    if (st != FK_OK) return st;
    if (isnan(threshold)) return fk__fail(FK_EINVAL, "fk_eval_accuracy: threshold is NaN");
    int ok = 0;
    for (int i = 0; i < n; i++) ok += (distances[i] <= threshold) == (labels[i] == 1);
    *accuracy = (double)ok / n;
    return FK_OK;
}

/* Public (facekit.h): the threshold with the most right decisions. */
fk_status fk_eval_best_threshold(const float *distances, const int *labels, int n,
                                 float *threshold, double *accuracy) {
    fk__clear_error();
    int same, different, k, correct;
    group *g;
    if (!threshold || !accuracy)
        return fk__fail(FK_EINVAL, "fk_eval_best_threshold: threshold and accuracy are required");
    fk_status st = check_pairs("fk_eval_best_threshold", distances, labels, n, &same, &different);
    if (st == FK_OK) st = make_groups(distances, labels, n, NULL, 0, &g, &k);
    if (st != FK_OK) return st;
    best_of_groups(g, k, different, threshold, &correct);
    *accuracy = (double)correct / n;
    free(g);
    return FK_OK;
}

/* Fill the ROC points of sorted groups into pts (room for k + 1). Point 0
 * accepts nothing; point i + 1 accepts every pair up to group i. */
static void roc_of_groups(const group *g, int k, int same, int different, fk_roc_point *pts) {
    int tp = 0, fp = 0;
    pts[0] = (fk_roc_point){nextafterf(g[0].d, -INFINITY), 0, 0};
    for (int i = 0; i < k; i++) {
        tp += g[i].same;
        fp += g[i].different;
        pts[i + 1] = (fk_roc_point){g[i].d, (double)fp / different, (double)tp / same};
    }
}

/* Public (facekit.h): the ROC curve into caller storage, sized by *count. */
fk_status fk_eval_roc(const float *distances, const int *labels, int n, fk_roc_point *points,
                      int cap, int *count) {
    fk__clear_error();
    int same, different, k;
    group *g;
    if (!count) return fk__fail(FK_EINVAL, "fk_eval_roc: count is required");
    if (cap < 0 || (cap > 0 && !points))
        return fk__fail(FK_EINVAL, "fk_eval_roc: points must hold cap (%d) entries", cap);
    fk_status st = check_pairs("fk_eval_roc", distances, labels, n, &same, &different);
    if (st == FK_OK) st = need_both("fk_eval_roc", same, different);
    if (st == FK_OK) st = make_groups(distances, labels, n, NULL, 0, &g, &k);
    if (st != FK_OK) return st;
    *count = k + 1;
    if (cap > 0) {
        fk_roc_point *all = malloc(sizeof *all * (size_t)(k + 1));
        if (!all) {
            free(g);
            return fk__fail(FK_ENOMEM, "fk_eval_roc: out of memory for %d points", k + 1);
        }
        roc_of_groups(g, k, same, different, all);
        memcpy(points, all, sizeof *all * (size_t)(cap < k + 1 ? cap : k + 1));
        free(all);
    }
    free(g);
    return FK_OK;
}

/* Largest TAR among the points whose FAR <= target. FAR only grows along the
 * curve, so that is the last such point; the first point (FAR 0) always
 * qualifies. */
static void tar_of_roc(const fk_roc_point *pts, int m, double target, double *tar, float *threshold) {
    int best = 0;
    for (int i = 0; i < m && pts[i].far <= target; i++) best = i;
    *tar = pts[best].tar;
    *threshold = pts[best].threshold;
}

/* Public (facekit.h): TAR at a FAR target, read off the ROC curve. */
fk_status fk_eval_tar_at_far(const float *distances, const int *labels, int n, double far,
                             double *tar, float *threshold) {
    fk__clear_error();
    if (!tar || !threshold)
        return fk__fail(FK_EINVAL, "fk_eval_tar_at_far: tar and threshold are required");
    if (!(far >= 0 && far <= 1))
        return fk__fail(FK_EINVAL, "fk_eval_tar_at_far: far must be within 0..1");
    int m = 0;
    fk_status st = fk_eval_roc(distances, labels, n, NULL, 0, &m);
    if (st != FK_OK) return st;
    fk_roc_point *pts = malloc(sizeof *pts * (size_t)m);
    if (!pts) return fk__fail(FK_ENOMEM, "fk_eval_tar_at_far: out of memory");
    st = fk_eval_roc(distances, labels, n, pts, m, &m);
    if (st == FK_OK) tar_of_roc(pts, m, far, tar, threshold);
    free(pts);
    return st;
}

/* Equal-error rate on the ROC points: FRR = 1 - TAR falls and FAR rises along
 * the curve; find the first point where FAR >= FRR and interpolate linearly
 * from the one before it to where the two meet. Point 0 has FAR 0 < FRR 1
 * and the last has FAR 1 >= FRR 0, so the crossing always exists. */
static void eer_of_roc(const fk_roc_point *pts, int m, double *eer, float *threshold) {
    int k = 1;
    while (k < m - 1 && pts[k].far < 1 - pts[k].tar) k++;
    const fk_roc_point *a = &pts[k - 1], *b = &pts[k];
    double da = a->far - (1 - a->tar), db = b->far - (1 - b->tar);
    double t = db > da ? -da / (db - da) : 1; /* da < 0 <= db */
    *eer = a->far + t * (b->far - a->far);
    *threshold = (float)(a->threshold + t * ((double)b->threshold - a->threshold));
}

/* Mann-Whitney AUC over sorted groups: the fraction of (same, different)
 * pairings in which the same pair is the closer one, ties counted half. */
static double auc_of_groups(const group *g, int k, int same, int different) {
    double wins = 0;
    long long farther = different; /* different pairs at a larger distance */
    for (int i = 0; i < k; i++) {
        farther -= g[i].different;
        wins += (double)g[i].same * ((double)farther + 0.5 * g[i].different);
    }
    return wins / ((double)same * different);
}

/* Check a fold assignment and count its folds: every value in 0..F-1 for
 * some F >= 2, and every fold holding at least one pair. */
static fk_status check_folds(const int *folds, int n, int *count) {
    int max = -1;
    for (int i = 0; i < n; i++) {
        if (folds[i] < 0 || folds[i] >= n)
            return fk__fail(FK_EINVAL, "fk_eval_summarize: fold of pair %d is %d; folds are numbered 0..F-1",
                           i, folds[i]);
        if (folds[i] > max) max = folds[i];
    }
    if (max < 1)
        return fk__fail(FK_EINVAL, "fk_eval_summarize: k-fold needs at least 2 folds (have %d)", max + 1);
    int *size = calloc((size_t)max + 1, sizeof *size);
    if (!size) return fk__fail(FK_ENOMEM, "fk_eval_summarize: out of memory");
    for (int i = 0; i < n; i++) size[folds[i]]++;
    for (int f = 0; f <= max; f++)
        if (size[f] == 0) {
            free(size);
            return fk__fail(FK_EINVAL, "fk_eval_summarize: fold %d of 0..%d holds no pairs", f, max);
        }
    free(size);
    *count = max + 1;
    return FK_OK;
}

/* The k-fold protocol: for each fold, the best threshold on the other folds
 * is applied to this one. Writes the mean and population standard deviation
 * of the per-fold accuracies and the mean threshold. */
static fk_status kfold(const float *d, const int *labels, const int *folds, int n, int nfolds,
                       fk_eval_summary *out) {
    double sum = 0, sum2 = 0, tsum = 0;
    int *train = malloc(sizeof *train * (size_t)n); /* 1 = pair trains this round */
    if (!train) return fk__fail(FK_ENOMEM, "fk_eval_summarize: out of memory");
    for (int f = 0; f < nfolds; f++) {
        group *g;
        int k, different = 0, correct, ok = 0, size = 0;
        for (int i = 0; i < n; i++) different += folds[i] != f && labels[i] == 0;
        for (int i = 0; i < n; i++) train[i] = folds[i] != f;
        fk_status st = make_groups(d, labels, n, train, 1, &g, &k);
        if (st != FK_OK) {
            free(train);
            return st;
        }
        float t;
        best_of_groups(g, k, different, &t, &correct);
        free(g);
        for (int i = 0; i < n; i++)
            if (folds[i] == f) {
                size++;
                ok += (d[i] <= t) == (labels[i] == 1);
            }
        double acc = (double)ok / size;
        sum += acc;
        sum2 += acc * acc;
        tsum += t;
    }
    free(train);
    out->folds = nfolds;
    out->fold_accuracy_mean = sum / nfolds;
    double var = sum2 / nfolds - out->fold_accuracy_mean * out->fold_accuracy_mean;
    out->fold_accuracy_std = var > 0 ? sqrt(var) : 0;
    out->fold_threshold_mean = (float)(tsum / nfolds);
    return FK_OK;
}

/* Public (facekit.h): every statistic from one sort of the pairs (plus one
 * per fold for the k-fold protocol). */
fk_status fk_eval_summarize(const float *distances, const int *labels, const int *folds, int n,
                            fk_eval_summary *out) {
    fk__clear_error();
    int same, different, k, nfolds = 0, correct;
    group *g;
    if (!out) return fk__fail(FK_EINVAL, "fk_eval_summarize: out is required");
    memset(out, 0, sizeof *out);
    fk_status st = check_pairs("fk_eval_summarize", distances, labels, n, &same, &different);
    if (st == FK_OK) st = need_both("fk_eval_summarize", same, different);
    if (st == FK_OK && folds) st = check_folds(folds, n, &nfolds);
    if (st == FK_OK) st = make_groups(distances, labels, n, NULL, 0, &g, &k);
    if (st != FK_OK) return st;
    fk_roc_point *pts = calloc((size_t)k + 1, sizeof *pts);
    if (!pts) {
        free(g);
        return fk__fail(FK_ENOMEM, "fk_eval_summarize: out of memory");
    }
    out->pairs = n;
    out->same = same;
    out->different = different;
    best_of_groups(g, k, different, &out->best_threshold, &correct);
    out->best_accuracy = (double)correct / n;
    out->auc = auc_of_groups(g, k, same, different);
    roc_of_groups(g, k, same, different, pts);
    eer_of_roc(pts, k + 1, &out->eer, &out->eer_threshold);
    tar_of_roc(pts, k + 1, 1e-2, &out->tar_at_far_1e2, &out->threshold_at_far_1e2);
    tar_of_roc(pts, k + 1, 1e-3, &out->tar_at_far_1e3, &out->threshold_at_far_1e3);
    free(pts);
    free(g);
    if (nfolds) st = kfold(distances, labels, folds, n, nfolds, out);
    return st;
}
