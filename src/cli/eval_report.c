/*
 * eval_report.c - `facekit eval`'s reports of one run: the JSON object
 * (--json) and the text summary.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli/eval.h"

/* A JSON number, or null for NaN (JSON has no NaN). */
static json_t *num(double v) {
    return isnan(v) ? json_null() : json_real(v);
}

/* The figures of one metric as a JSON object. The first four fields keep
 * the names the first version of `facekit eval` used. */
static json_t *metric_json(const metric_eval *e, int folds) {
    const fk_eval_summary *s = &e->s;
    json_t *o = json_object();
    json_object_set_new(o, "threshold", num(e->shipped));
    json_object_set_new(o, "accuracy", num(e->shipped_accuracy));
    json_object_set_new(o, "best_threshold", json_real(s->best_threshold));
    json_object_set_new(o, "best_accuracy", json_real(s->best_accuracy));
    json_object_set_new(o, "kfold_accuracy", folds ? json_real(s->fold_accuracy_mean) : json_null());
    json_object_set_new(o, "kfold_std", folds ? json_real(s->fold_accuracy_std) : json_null());
    json_object_set_new(o, "kfold_threshold", folds ? json_real(s->fold_threshold_mean) : json_null());
    json_object_set_new(o, "auc", json_real(s->auc));
    json_object_set_new(o, "eer", json_real(s->eer));
    json_object_set_new(o, "eer_threshold", json_real(s->eer_threshold));
    json_object_set_new(o, "tar_at_far_1e-2", json_real(s->tar_at_far_1e2));
    json_object_set_new(o, "threshold_at_far_1e-2", json_real(s->threshold_at_far_1e2));
    json_object_set_new(o, "tar_at_far_1e-3", json_real(s->tar_at_far_1e3));
    json_object_set_new(o, "threshold_at_far_1e-3", json_real(s->threshold_at_far_1e3));
    return o;
}

static const char NO_FACE_HANDLING[] = "embedded with --detector skip (whole image as the face)";

/* One run as a JSON object (deepface's field names where they exist). */
json_t *eval_run_json(const eval_set *s, const eval_run *r) {
    json_t *metrics = json_object();
    for (int m = 0; m < r->nmetrics; m++)
        json_object_set_new(metrics, r->m[m].metric, metric_json(&r->m[m], r->folds));
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(r->model));
    json_object_set_new(o, "detector_backend", json_string(r->detector));
    json_object_set_new(o, "align", json_boolean(r->align));
    json_object_set_new(o, "pairs_file", json_string(s->file));
    json_object_set_new(o, "images_dir", json_string(s->dir));
    json_object_set_new(o, "format", json_string(s->csv ? "csv" : "lfw"));
    json_object_set_new(o, "folds", json_integer(r->folds));
    json_object_set_new(o, "pairs", json_integer(s->npairs));
    json_object_set_new(o, "pairs_used", json_integer(r->used));
    json_object_set_new(o, "pairs_skipped", json_integer(s->npairs - r->used));
    json_object_set_new(o, "same", json_integer(r->same));
    json_object_set_new(o, "different", json_integer(r->different));
    json_object_set_new(o, "images", json_integer(s->nimages));
    json_object_set_new(o, "images_missing", json_integer(s->missing));
    json_object_set_new(o, "images_without_face", json_integer(r->without_face));
    json_object_set_new(o, "images_without_face_handling", json_string(NO_FACE_HANDLING));
    json_object_set_new(o, "images_failed", json_integer(r->failed));
    json_object_set_new(o, "seconds", json_real(r->seconds));
    json_object_set_new(o, "metrics", metrics);
    return o;
}

/* A fraction as a percentage with two decimals ("97.45"), or "-" for NaN. */
const char *eval_pct(char *buf, double v) {
    if (isnan(v)) return "-";
    snprintf(buf, 16, "%.2f", 100 * v);
    return buf;
}

/* A threshold with four decimals, or "-" for NaN. */
const char *eval_thr(char *buf, double v) {
    if (isnan(v)) return "-";
    snprintf(buf, 16, "%.4f", v);
    return buf;
}

/* The human summary of one run on stdout. */
void eval_print_summary(const eval_set *s, const eval_run *r, int threads) {
    char a[16], b[16], c[16], d[16], e[16], f[16], g[16];
    if (s->folds) printf("facekit eval: %s (LFW, %d pairs in %d folds)\n", s->file, s->npairs, s->folds);
    else printf("facekit eval: %s (%s, %d pairs, no folds)\n", s->file, s->csv ? "CSV" : "LFW", s->npairs);
    printf("pipeline: model %s, detector %s, align %s\n", r->model, r->detector,
           r->align ? "true" : "false");
    printf("images:   %d distinct, %d embedded in %.1f s (%.1f images/s, %d threads)\n", s->nimages,
           r->embedded, r->seconds, r->seconds > 0 ? r->embedded / r->seconds : 0.0, threads);
    printf("          %d without a face found: %s\n", r->without_face, NO_FACE_HANDLING);
    if (s->missing || r->failed)
        printf("          %d missing, %d unreadable: their pairs skipped\n", s->missing, r->failed);
    printf("pairs:    %d used of %d (%d same, %d different)\n\n", r->used, s->npairs, r->same,
           r->different);
    printf("%-13s %9s %8s %9s %8s %15s %7s %8s %8s %6s\n", "metric", "shipped", "acc %", "best eval_thr",
           "best %", r->folds ? "k-fold %" : "k-fold", "AUC", "TAR@1e-2", "TAR@1e-3", "EER %");
    for (int m = 0; m < r->nmetrics; m++) {
        const metric_eval *x = &r->m[m];
        char kf[32] = "-";
        if (r->folds)
            snprintf(kf, sizeof kf, "%.2f ± %.2f", 100 * x->s.fold_accuracy_mean,
                     100 * x->s.fold_accuracy_std);
        printf("%-13s %9s %8s %9s %8s %*s %7.4f %8s %8s %6s\n", x->metric, eval_thr(a, x->shipped),
               eval_pct(b, x->shipped_accuracy), eval_thr(c, x->s.best_threshold), eval_pct(d, x->s.best_accuracy),
               r->folds ? 16 : 15, kf, x->s.auc, eval_pct(e, x->s.tar_at_far_1e2),
               eval_pct(f, x->s.tar_at_far_1e3), eval_pct(g, x->s.eer));
    }
    printf("\nshipped: the threshold facekit verify uses (accuracy at it); best: the threshold "
           "maximising accuracy on these pairs (optimistic)");
    if (r->folds)
        printf(";\nk-fold: threshold chosen on %d fold%s, tested on the remaining one, mean ± std",
               r->folds - 1, r->folds > 2 ? "s" : "");
    printf(".\nTAR@FAR: true accepts (%%) at a false-accept rate <= 1e-2 and 1e-3 (%d different "
           "pairs). A pair is the same person when distance <= threshold.\n",
           r->different);
}

