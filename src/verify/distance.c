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
#include "models/model.h"
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

/* The verify threshold of (model, metric) is in the model's description
 * (src/models/<model>.c), beside the command that measured it. */
fk_status fk_threshold(const char *model, const char *metric, float *out) {
    if (!model || !metric || !out) return fk__fail(FK_EINVAL, "fk_threshold: bad arguments");
    const char *m = NULL;
    fk_status st = fk__metric_name(metric, &m);
    if (st != FK_OK) return st;
    const fk_model_desc *d = fk__model_get(model);
    int k = 0;
    while (METRICS[k] && strcmp(METRICS[k], m) != 0) k++;
    if (d && d->role == FK_ROLE_RECOGNIZER && k < FK_METRIC_COUNT && d->thresholds[k] > 0) {
        *out = d->thresholds[k];
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

/* The logistic curve s(d) = 1 / (1 + e^(8 (d - t) / t)) is 1/2 at the
 * threshold and ~1 at 0; the verdict's side is stretched onto deepface's
 * ranges (51..100 accepted, 0..49 refused) so the number never contradicts
 * `verified`, and the gap at the threshold says which side it is on. */
fk_status fk_confidence(float distance, float threshold, float *out) {
    if (!out) return fk__fail(FK_EINVAL, "fk_confidence: out is NULL");
    *out = 0;
    if (!(distance >= 0) || !isfinite(distance))
        return fk__fail(FK_EINVAL, "fk_confidence: distance %g is not a finite value >= 0",
                       (double)distance);
    if (!(threshold > 0) || !isfinite(threshold))
        return fk__fail(FK_EINVAL, "fk_confidence: threshold %g is not > 0", (double)threshold);
    const double k = 8.0;
    double s = 1.0 / (1.0 + exp(k * ((double)distance - threshold) / threshold));
    double s0 = 1.0 / (1.0 + exp(-k));
    double c = distance <= threshold ? 51.0 + 49.0 * (s - 0.5) / (s0 - 0.5) : 98.0 * s;
    if (distance <= threshold && c < 51) c = 51;
    if (distance > threshold && c > 49) c = 49;
    if (c < 0) c = 0;
    if (c > 100) c = 100;
    *out = (float)(round(c * 100.0) / 100.0);
    return FK_OK;
}
