/*
 * verify_embeddings.c - fk_verify_embeddings: the verdict on two embeddings
 * a caller already has (from fk_represent, from a file `facekit represent`
 * wrote, or from deepface's represent), with no image and no network run.
 *
 * The model still matters: it names the calibrated threshold and the
 * embedding size. A vector of another size is refused rather than compared,
 * because a distance between embeddings of two different models means
 * nothing and a threshold of the wrong model would give a confident wrong
 * verdict.
 */
#include <math.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "represent/recognizers.h"
#include "verify/verify.h"

/* Every value finite: a NaN would make every comparison false. */
static fk_status check_vector(const float *v, int dim, const char *which) {
    for (int i = 0; i < dim; i++)
        if (!isfinite(v[i]))
            return fk__fail(FK_EINVAL, "fk_verify_embeddings: %s[%d] is not a finite number",
                           which, i);
    return FK_OK;
}

fk_status fk_verify_embeddings(const float *a, const float *b, int dim,
                               const fk_options *opt, fk_verify_result *out) {
    fk__clear_error();
    if (!out) return fk__fail(FK_EINVAL, "fk_verify_embeddings: out is NULL");
    memset(out, 0, sizeof *out);
    double t0 = fk__now_ms();
    if (!a || !b || dim <= 0)
        return fk__fail(FK_EINVAL, "fk_verify_embeddings: two embeddings of dim > 0 are "
                       "required (dim %d)", dim);
    fk_status st = FK_OK;
    if (opt && (st = fk_options_check(opt)) != FK_OK) return st;
    fk_options o;
    fk_options_init(&o);
    if (opt) {
        if (opt->model) o.model = opt->model;
        if (opt->metric) o.metric = opt->metric;
        o.threshold = opt->threshold;
    }
    const fk_model_desc *rec;
    if ((st = fk__recognizer_find(o.model, &rec)) != FK_OK) return st;
    if ((st = fk__metric_name(o.metric, &o.metric)) != FK_OK) return st;
    if (dim != rec->dim)
        return fk__fail(FK_EINVAL, "the embeddings have %d values; model %s gives %d: name "
                       "the model that made them (--model)", dim, rec->name, rec->dim);
    if ((st = check_vector(a, dim, "img1")) != FK_OK ||
        (st = check_vector(b, dim, "img2")) != FK_OK)
        return st;
    float threshold = o.threshold;
    if (threshold <= 0 && (st = fk_threshold(rec->name, o.metric, &threshold)) != FK_OK)
        return st;
    float d = 0;
    if ((st = fk_distance(a, b, dim, o.metric, &d)) != FK_OK) return st;
    if ((st = fk_confidence(d, threshold, &out->confidence)) != FK_OK) return st;
    out->verified = d <= threshold;
    out->distance = d;
    out->threshold = threshold;
    out->model = rec->name;
    out->detector = "none";
    out->metric = o.metric;
    out->faces1 = out->faces2 = 1;
    out->time_ms = fk__now_ms() - t0;
    return FK_OK;
}
