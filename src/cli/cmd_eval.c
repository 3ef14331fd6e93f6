/*
 * cmd_eval.c - `facekit eval`: verification accuracy on labelled pairs,
 * measured the way the field does (LFW protocol, ROC, calibrated
 * thresholds).
 *
 *   facekit eval --pairs FILE --images DIR [--model M] [--detector D]
 *                [--metric X] [--align B] [--json] [--pairs-csv F]
 *                [--roc F.svg] [--strict] [--threads N] [--quiet]
 *   facekit eval --sweep --pairs FILE --images DIR [--markdown F] [--json]
 *
 * The pairs file is read by eval_pairs.c (LFW pairs files and CSV); the
 * reports are written by eval_report.c (JSON, text) and eval_plots.c (CSV,
 * ROC SVG, Markdown). This file embeds and evaluates.
 *
 * Every distinct image is embedded once (worker threads, each with its own
 * context) and every metric is evaluated on the same embeddings. An image
 * in which the detector finds no face is embedded as with --detector skip
 * (the whole image taken as the face, still landmarked and aligned: LFW
 * images are centred on their subject) and counted. A pair's distance is
 * that of its closest two faces, as fk_verify decides. The statistics come
 * from the library (fk_eval_summarize): the CLI reads files, embeds, and
 * reports.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/eval.h"

const char *const eval_metrics[NMETRICS] = {"cosine", "euclidean", "euclidean_l2", "angular"};

/* ---- embedding --------------------------------------------------------- */

/* The embeddings of one image under one configuration (model, align) of an
 * embedding pass. */
typedef struct eval_slot {
    fk_faces faces;
    int embedded; /* faces is valid */
    int failed;   /* the model could not embed it (message in image.error) */
} eval_slot;

typedef struct eval_job {
    eval_image *images;
    int nimages;
    int *todo; /* indices of the images to embed */
    int count;
    const fk_options *conf; /* nconf configurations sharing one detector */
    int nconf;
    eval_slot *slots;       /* nconf x nimages */
    size_t max_pixels;      /* --max-megapixels; 0: the library default */
    int decode_max_side;    /* --decode-max-side; 0: full decode */
    /* the progress bar, drawn on the calling thread */
    int progress;
    const char *label;
    int done;
    double t0, last_draw;
} eval_job;

/* A copy of faces without embeddings, for another model to fill. */
static fk_status copy_faces(const fk_faces *from, fk_faces *to) {
    to->count = 0;
    to->faces = NULL;
    if (from->count == 0) return FK_OK;
    to->faces = malloc(sizeof *to->faces * (size_t)from->count);
    if (!to->faces) return FK_ENOMEM;
    memcpy(to->faces, from->faces, sizeof *to->faces * (size_t)from->count);
    for (int i = 0; i < from->count; i++) {
        to->faces[i].embedding = NULL;
        to->faces[i].embedding_dim = 0;
    }
    to->count = from->count;
    return FK_OK;
}

/* One image: detect once (an image with no face gets detector skip, the
 * whole image), then align and embed with every configuration. */
static void embed_one(eval_job *job, fk_context *ctx, int index) {
    eval_image *im = &job->images[index];
    fk_image *img = NULL;
    fk_faces found = {0};
    fk_options o = job->conf[0];
    o.image_names[0] = im->path;
    fk_status st = fk_image_load_scaled(im->path, job->max_pixels, job->decode_max_side,
                                        &img);
    if (st == FK_OK) st = fk_detect(ctx, img, &o, &found);
    if (st == FK_ENOFACE) {
        o.detector = "skip";
        im->fallback = 1;
        st = fk_detect(ctx, img, &o, &found);
    }
    if (st != FK_OK) {
        im->detect_failed = 1;
        snprintf(im->error, sizeof im->error, "%s", fk_last_error());
    }
    for (int c = 0; st == FK_OK && c < job->nconf; c++) {
        eval_slot *slot = &job->slots[(size_t)c * job->nimages + index];
        fk_options oc = job->conf[c];
        oc.image_names[0] = im->path;
        int copied = copy_faces(&found, &slot->faces) == FK_OK;
        fk_status sc = copied ? fk_embed_faces(ctx, img, &oc, &slot->faces) : FK_ENOMEM;
        if (sc == FK_OK) {
            slot->embedded = 1;
        } else {
            slot->failed = 1;
            fk_faces_free(&slot->faces);
            if (!im->error[0])
                snprintf(im->error, sizeof im->error, "%s%s", copied ? "" : "out of memory: ",
                         copied ? fk_last_error() : im->path);
        }
    }
    fk_faces_free(&found);
    fk_image_free(img);
}

/* Draw the progress bar on stderr (a terminal): label, bar, count, time
 * left. */
static void draw_progress(const char *label, int done, int total, double elapsed) {
    char bar[31];
    int filled = total ? (int)((long long)done * 30 / total) : 30;
    for (int i = 0; i < 30; i++) bar[i] = i < filled ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r\033[K%s [%s] %d/%d images", label, bar, done, total);
    if (done > 0 && done < total) {
        double left = elapsed / done * (total - done);
        fprintf(stderr, ", %dm%02ds left", (int)left / 60, (int)left % 60);
    }
    fflush(stderr);
}

/* Free the embeddings of an embedding pass. */
static void free_slots(eval_slot *slots, size_t n) {
    for (size_t i = 0; slots && i < n; i++) fk_faces_free(&slots[i].faces);
    free(slots);
}

/* Make configuration c of a pass the embeddings eval_image describes (moves
 * them out of the slots; the images' own embeddings are freed first). */
static void use_slots(eval_set *s, eval_slot *slots, int c) {
    for (int i = 0; i < s->nimages; i++) {
        eval_image *im = &s->images[i];
        eval_slot *slot = &slots[(size_t)c * s->nimages + i];
        fk_faces_free(&im->faces);
        im->faces = slot->faces;
        slot->faces.faces = NULL;
        slot->faces.count = 0;
        im->embedded = slot->embedded;
        im->failed = im->detect_failed || slot->failed;
    }
}

/* fk_run_workers' task: one image on the worker's context. Failures are
 * the image's own (recorded in it), never fatal. */
static fk_status embed_task(fk_context *ctx, int item, void *user) {
    eval_job *job = user;
    embed_one(job, ctx, job->todo[item]);
    return FK_OK;
}

/* fk_run_workers' done callback: count, and redraw the bar every 250 ms. */
static int embed_done(void *user, int item, fk_status status) {
    eval_job *job = user;
    (void)item;
    (void)status;
    job->done++;
    double now = cli_now_s();
    if (job->progress && job->done < job->count && now - job->last_draw >= 0.25) {
        draw_progress(job->label, job->done, job->count, now - job->t0);
        job->last_draw = now;
    }
    return 0;
}

/* Embed every wanted image of s under the nconf configurations conf (they
 * share conf[0]'s detector: each image is decoded and detected once, then
 * aligned and embedded per configuration), images over max_pixels refused
 * as by the other commands, with `threads` workers (fk_run_workers: one
 * context each) and a progress bar on stderr when `progress`. Forgets the
 * embeddings of an earlier call first. *slots receives nconf x nimages
 * results for use_slots. Returns the seconds taken, or -1 after printing
 * why the workers could not run (e.g. no context could be made). */
static double embed_images(eval_set *s, const fk_options *conf, int nconf, size_t max_pixels,
                           int decode_max_side, int threads, int progress, const char *label, eval_slot **slots) {
    eval_job job = {.images = s->images, .nimages = s->nimages, .conf = conf, .nconf = nconf,
                    .max_pixels = max_pixels, .decode_max_side = decode_max_side,
                    .progress = progress, .label = label};
    *slots = NULL;
    job.todo = malloc(sizeof *job.todo * (size_t)(s->nimages ? s->nimages : 1));
    job.slots = calloc((size_t)nconf * (size_t)(s->nimages ? s->nimages : 1), sizeof *job.slots);
    if (!job.todo || !job.slots) {
        fprintf(stderr, "facekit: out of memory\n");
        free(job.todo);
        free(job.slots);
        return -1;
    }
    for (int i = 0; i < s->nimages; i++) {
        eval_image *im = &s->images[i];
        fk_faces_free(&im->faces);
        im->embedded = im->fallback = im->failed = im->detect_failed = 0;
        im->error[0] = '\0';
        if (im->wanted) job.todo[job.count++] = i;
    }
    fk_context_options co;
    fk_context_options_init(&co);
    co.max_pixels = max_pixels;
    job.t0 = job.last_draw = cli_now_s();
    if (progress && job.count) draw_progress(label, 0, job.count, 0);
    fk_status st = fk_run_workers(&co, threads, job.count, embed_task, embed_done, &job);
    if (progress) fprintf(stderr, "\r\033[K");
    free(job.todo);
    if (st != FK_OK) {
        fprintf(stderr, "facekit: %s\n", fk_last_error());
        free_slots(job.slots, (size_t)nconf * (size_t)s->nimages);
        return -1;
    }
    *slots = job.slots;
    return cli_now_s() - job.t0;
}

/* Load the models and check the options once, on a small synthetic image,
 * before hours of work depend on them: unknown names or missing models fail
 * here with the library's message. Fills the canonical model, detector and
 * metric names (static strings). Returns 0 or -1 after printing the error. */
static int probe_pipeline(const fk_options *o, const char **model, const char **detector,
                          const char **metric) {
    fk_context_options co;
    fk_context_options_init(&co);
    co.threads = 1;
    fk_context *ctx = NULL;
    fk_image *img = NULL;
    fk_verify_result r;
    fk_options p = *o;
    p.enforce_detection = 0; /* no face in a gradient; the models still load */
    p.image_names[0] = p.image_names[1] = "probe";
    fk_status st = fk_context_new(&co, &ctx);
    if (st == FK_OK) st = fk_image_new(96, 96, 3, &img);
    if (st == FK_OK) {
        for (int y = 0; y < 96; y++)
            for (int x = 0; x < 96 * 3; x++) img->data[y * img->stride + x] = (uint8_t)(40 + x / 3 + y);
        st = fk_verify(ctx, img, img, &p, &r);
    }
    if (st == FK_OK) {
        *model = r.model;
        *detector = r.detector;
        *metric = r.metric;
    } else {
        fprintf(stderr, "facekit: %s\n", fk_last_error());
    }
    fk_image_free(img);
    fk_context_free(ctx);
    return st == FK_OK ? 0 : -1;
}


/* Closest-pair distance between two embedded images under `metric` (as
 * fk_verify picks the closest two faces). Returns 0, or -1 when the
 * library refuses (message in fk_last_error). */
static int pair_distance(const eval_image *x, const eval_image *y, const char *metric, float *out) {
    float best = INFINITY;
    for (int p = 0; p < x->faces.count; p++)
        for (int q = 0; q < y->faces.count; q++) {
            const fk_face *fa = &x->faces.faces[p], *fb = &y->faces.faces[q];
            float d;
            if (fa->embedding_dim != fb->embedding_dim ||
                fk_distance(fa->embedding, fb->embedding, fa->embedding_dim, metric, &d) != FK_OK)
                return -1;
            if (d < best) best = d;
        }
    if (!isfinite(best)) return -1;
    *out = best;
    return 0;
}

/* Count what embedding produced, report unreadable images (warnings, or an
 * error under --strict; `loud` = 0 keeps a sweep from repeating them), and
 * evaluate every metric of r on the pairs whose images both embedded.
 * Returns 0 or -1 after printing the error. */
static int evaluate(const eval_set *s, eval_run *r, int strict, int loud, int want_roc) {
    r->embedded = r->without_face = r->failed = 0;
    int listed = 0;
    for (int i = 0; i < s->nimages; i++) {
        const eval_image *im = &s->images[i];
        r->embedded += im->embedded;
        r->without_face += im->embedded && im->fallback;
        if (!im->failed) continue;
        r->failed++;
        if (strict) {
            fprintf(stderr, "facekit: %s (--strict)\n", im->error);
            return -1;
        }
        if (loud && listed++ < MAX_LISTED)
            fprintf(stderr, "facekit: warning: %s (its pairs are skipped)\n", im->error);
    }
    if (loud && listed > MAX_LISTED)
        fprintf(stderr, "facekit: warning: ... and %d more unreadable images\n", listed - MAX_LISTED);

    int n = 0;
    float *d = malloc(sizeof *d * (size_t)s->npairs);
    int *labels = malloc(sizeof *labels * (size_t)s->npairs);
    int *folds = malloc(sizeof *folds * (size_t)s->npairs);
    int *fold_size = calloc((size_t)s->folds + 1, sizeof *fold_size);
    if (!d || !labels || !folds || !fold_size) {
        fprintf(stderr, "facekit: out of memory\n");
        free(d), free(labels), free(folds), free(fold_size);
        return -1;
    }
    r->same = r->different = 0;
    for (int i = 0; i < s->npairs; i++) {
        const eval_pair *p = &s->pairs[i];
        if (!s->images[p->a].embedded || !s->images[p->b].embedded) continue;
        labels[n] = p->same;
        folds[n] = p->fold;
        fold_size[p->fold]++;
        r->same += p->same;
        n++;
    }
    r->used = n;
    r->different = n - r->same;
    r->folds = s->folds;
    for (int f = 0; f < s->folds; f++)
        if (fold_size[f] == 0) {
            if (loud)
                fprintf(stderr, "facekit: warning: fold %d has no usable pairs; no k-fold figures\n", f + 1);
            r->folds = 0;
            break;
        }
    int rc = 0;
    if (n == 0) {
        fprintf(stderr, "facekit: %s: no usable pairs: every pair names an image that could not be embedded\n",
                s->file);
        rc = -1;
    }
    for (int m = 0; rc == 0 && m < r->nmetrics; m++) {
        metric_eval *e = &r->m[m];
        e->dist = malloc(sizeof *e->dist * (size_t)s->npairs);
        if (!e->dist) {
            fprintf(stderr, "facekit: out of memory\n");
            rc = -1;
            break;
        }
        int k = 0;
        for (int i = 0; i < s->npairs && rc == 0; i++) {
            const eval_pair *p = &s->pairs[i];
            e->dist[i] = NAN;
            if (!s->images[p->a].embedded || !s->images[p->b].embedded) continue;
            if (pair_distance(&s->images[p->a], &s->images[p->b], e->metric, &e->dist[i])) {
                fprintf(stderr, "facekit: %s:%d: %s distance: %s\n", s->file, p->line, e->metric,
                        fk_last_error());
                rc = -1;
            }
            d[k++] = e->dist[i];
        }
        if (rc) break;
        if (fk_eval_summarize(d, labels, r->folds ? folds : NULL, n, &e->s) != FK_OK) {
            fprintf(stderr, "facekit: %s: %s\n", s->file, fk_last_error());
            rc = -1;
            break;
        }
        if (fk_threshold(r->model, e->metric, &e->shipped) != FK_OK) e->shipped = NAN;
        e->shipped_accuracy = NAN;
        if (!isnan(e->shipped)) fk_eval_accuracy(d, labels, n, e->shipped, &e->shipped_accuracy);
        if (want_roc && fk_eval_roc(d, labels, n, NULL, 0, &e->nroc) == FK_OK) {
            e->roc = malloc(sizeof *e->roc * (size_t)e->nroc);
            if (!e->roc || fk_eval_roc(d, labels, n, e->roc, e->nroc, &e->nroc) != FK_OK) {
                fprintf(stderr, "facekit: out of memory\n");
                rc = -1;
            }
        }
    }
    free(d), free(labels), free(folds), free(fold_size);
    return rc;
}

/* Set up r's metrics: the n canonical names in `list`, or all when n == 0. */
static void choose_metrics(eval_run *r, const char *const *list, int n) {
    memset(r->m, 0, sizeof r->m);
    r->nmetrics = 0;
    for (int m = 0; m < (n ? n : NMETRICS) && m < NMETRICS; m++)
        r->m[r->nmetrics++].metric = n ? list[m] : eval_metrics[m];
}

/* Free what evaluate allocated in r. */
static void free_run(eval_run *r) {
    for (int m = 0; m < r->nmetrics; m++) {
        free(r->m[m].dist);
        free(r->m[m].roc);
        r->m[m].dist = NULL;
        r->m[m].roc = NULL;
    }
}

/* ---- the command -------------------------------------------------------- */

/* Worker threads: --threads, else $FACEKIT_THREADS, else every core. */
static int worker_count(const cli_args *a) {
    if (a->threads > 0) return a->threads;
    const char *env = getenv("FACEKIT_THREADS");
    long n = env ? strtol(env, NULL, 10) : 0;
    if (n > 0 && n <= 1024) return (int)n;
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Open an output file for writing before the long work starts, so a typo in
 * its path costs seconds, not minutes. NULL path -> NULL, no error. */
static int open_output(const char *path, FILE **f) {
    *f = NULL;
    if (!path) return 0;
    *f = fopen(path, "w");
    if (*f) return 0;
    fprintf(stderr, "facekit: %s: cannot write: %s\n", path, strerror(errno));
    return -1;
}

/* Close an output file, reporting a failed write (a full disk shows here).
 * Returns 0 or -1 after printing the error. */
static int close_output(const char *path, FILE *f) {
    if (!f) return 0;
    int bad = ferror(f);
    if (fclose(f) != 0) bad = 1;
    if (bad) fprintf(stderr, "facekit: %s: write failed\n", path);
    return bad ? -1 : 0;
}

/* Every installed recognizer and detector, for the sweep's grid ("skip" is
 * always a detector: it needs no model). Sets the counts; no recognizer
 * installed leaves *nmodels 0. */
static void installed_grid(const char **models, int *nmodels, const char **detectors, int *ndetectors,
                           int cap) {
    fk_model_info infos[64];
    int n = 0;
    char home[PATH_MAX];
    *nmodels = *ndetectors = 0;
    if (fk_models_default_home(home, sizeof home) == FK_OK && fk_models_list(home, infos, 64, &n) == FK_OK)
        for (int i = 0; i < n && i < 64; i++) {
            if (!infos[i].installed) continue;
            if (!strcmp(infos[i].role, "recognizer") && *nmodels < cap) models[(*nmodels)++] = infos[i].name;
            if (!strcmp(infos[i].role, "detector") && *ndetectors < cap - 1)
                detectors[(*ndetectors)++] = infos[i].name;
        }
    detectors[(*ndetectors)++] = "skip";
}

/* Split a comma-separated list in place into at most `cap` non-empty names.
 * Returns the count, or -1 when there are more than cap or an empty one. */
static int split_list(char *s, const char **out, int cap) {
    int n = 0;
    for (char *p = s;; p++) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        if (!*p || n == cap) return -1;
        out[n++] = p;
        if (!comma) return n;
        p = comma;
    }
}

/* The canonical names of the metrics in `list` (comma-separated) into out.
 * Returns the count, or -1 after printing which name is unknown. */
static int metric_list(char *list, const char **out) {
    const char *names[NMETRICS];
    int n = split_list(list, names, NMETRICS);
    if (n < 0) {
        fprintf(stderr, "facekit: --metric: expected up to %d comma-separated names\n", NMETRICS);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        int m = 0;
        while (m < NMETRICS && strcasecmp(names[i], eval_metrics[m])) m++;
        if (m == NMETRICS) {
            /* The library's message lists the valid names. */
            float one = 1, d;
            fk_distance(&one, &one, 1, names[i], &d);
            fprintf(stderr, "facekit: %s\n", fk_last_error());
            return -1;
        }
        out[i] = eval_metrics[m];
    }
    return n;
}
/* --sweep: every (model, detector, align) embedding set once, all metrics on
 * each. The grid is every installed model and detector and both align
 * settings, narrowed by --model/--detector/--metric lists and --align.
 * Returns the exit code. */
static int run_sweep(cli_args *a, eval_set *s, int threads, int progress) {
    enum { CAP = 16 };
    const char *models[CAP], *detectors[CAP], *metrics[NMETRICS];
    int nmodels, ndetectors, nmetrics = 0, rc = 0;
    char *model_arg = strdup(a->model_given ? a->opt.model : "");
    char *detector_arg = strdup(a->detector_given ? a->opt.detector : "");
    char *metric_arg = strdup(a->metric_given ? a->opt.metric : "");
    if (!model_arg || !detector_arg || !metric_arg) {
        fprintf(stderr, "facekit: out of memory\n");
        rc = 1;
    }
    if (rc == 0) installed_grid(models, &nmodels, detectors, &ndetectors, CAP);
    if (rc == 0 && a->model_given && (nmodels = split_list(model_arg, models, CAP)) < 0) {
        fprintf(stderr, "facekit: --model: expected up to %d comma-separated names\n", CAP);
        rc = 2;
    }
    if (rc == 0 && a->detector_given && (ndetectors = split_list(detector_arg, detectors, CAP)) < 0) {
        fprintf(stderr, "facekit: --detector: expected up to %d comma-separated names\n", CAP);
        rc = 2;
    }
    if (rc == 0 && a->metric_given && (nmetrics = metric_list(metric_arg, metrics)) < 0) rc = 2;
    if (rc == 0 && nmodels == 0) {
        fprintf(stderr, "facekit: no recognizer installed; run `facekit models fetch`\n");
        rc = 1;
    }
    int aligns = a->align_given ? 1 : 2, total = nmodels * ndetectors * aligns;
    FILE *md = NULL;
    if (rc == 0 && open_output(a->markdown, &md)) rc = 1;
    eval_run *runs = rc == 0 ? calloc((size_t)total, sizeof *runs) : NULL;
    if (rc == 0 && !runs) {
        fprintf(stderr, "facekit: out of memory\n");
        rc = 1;
    }
    /* One pass per detector: each image is decoded and detected once, then
     * aligned and embedded by every (model, align) configuration. Runs keep
     * the model-major order of the table. */
    int nruns = 0, per_detector = nmodels * aligns;
    double t0 = cli_now_s();
    fk_options *conf = rc == 0 ? calloc((size_t)per_detector, sizeof *conf) : NULL;
    if (rc == 0 && !conf) {
        fprintf(stderr, "facekit: out of memory\n");
        rc = 1;
    }
    for (int di = 0; rc == 0 && di < ndetectors; di++) {
        for (int mi = 0; rc == 0 && mi < nmodels; mi++)
            for (int k = 0; rc == 0 && k < aligns; k++) {
                eval_run *r = &runs[(mi * ndetectors + di) * aligns + k];
                fk_options *o = &conf[mi * aligns + k];
                *o = a->opt;
                o->model = models[mi];
                o->detector = detectors[di];
                o->align = a->align_given ? a->opt.align : k == 0;
                o->metric = "cosine";
                o->enforce_detection = 1;
                const char *metric;
                if (probe_pipeline(o, &r->model, &r->detector, &metric)) {
                    rc = 1;
                    break;
                }
                r->align = o->align;
                choose_metrics(r, metrics, nmetrics);
            }
        if (rc) break;
        char label[96];
        snprintf(label, sizeof label, "[detector %d/%d] %s, %d model%s", di + 1, ndetectors,
                 runs[di * aligns].detector, per_detector, per_detector == 1 ? "" : "s");
        eval_slot *slots = NULL;
        double seconds = embed_images(s, conf, per_detector, a->max_pixels, a->decode_max_side, threads, progress, label, &slots);
        if (seconds < 0) rc = 1;
        for (int c = 0; rc == 0 && c < per_detector; c++) {
            eval_run *r = &runs[((c / aligns) * ndetectors + di) * aligns + c % aligns];
            use_slots(s, slots, c);
            r->seconds = seconds;
            if (evaluate(s, r, a->strict, di == 0 && c == 0, 0)) rc = 1;
        }
        free_slots(slots, (size_t)per_detector * (size_t)s->nimages);
        nruns += per_detector;
    }
    free(conf);
    if (rc != 0) nruns = 0; /* a partial grid is not reported */
    if (rc == 0) {
        double elapsed = cli_now_s() - t0;
        char flags[512] = "";
        size_t used = 0;
        if (a->model_given) used += (size_t)snprintf(flags + used, sizeof flags - used, " --model %s", a->opt.model);
        if (a->detector_given && used < sizeof flags)
            used += (size_t)snprintf(flags + used, sizeof flags - used, " --detector %s", a->opt.detector);
        if (a->metric_given && used < sizeof flags)
            used += (size_t)snprintf(flags + used, sizeof flags - used, " --metric %s", a->opt.metric);
        if (a->align_given && used < sizeof flags)
            snprintf(flags + used, sizeof flags - used, " --align %s", a->opt.align ? "true" : "false");
        if (md || !a->json) eval_write_markdown(md ? md : stdout, s, runs, nruns, threads, elapsed, flags);
        if (a->json) {
            json_t *all = json_array();
            for (int i = 0; i < nruns; i++) json_array_append_new(all, eval_run_json(s, &runs[i]));
            cli_print_json(all);
        }
    }
    if (close_output(a->markdown, md)) rc = 1;
    for (int i = 0; runs && i < total; i++) free_run(&runs[i]);
    free(runs);
    free(model_arg);
    free(detector_arg);
    free(metric_arg);
    return rc;
}

/* One evaluation with the pipeline options of the command line. Returns the
 * exit code. */
static int run_single(cli_args *a, eval_set *s, int threads, int progress) {
    eval_run r;
    memset(&r, 0, sizeof r);
    fk_options o = a->opt;
    o.enforce_detection = 1; /* so a missing face is noticed and counted */
    const char *metric;
    if (probe_pipeline(&o, &r.model, &r.detector, &metric)) return 1;
    r.align = o.align;
    choose_metrics(&r, &metric, a->metric_given);
    FILE *csv = NULL, *svg = NULL;
    if (open_output(a->pairs_csv, &csv) || open_output(a->roc_path, &svg)) {
        if (csv) fclose(csv);
        return 1;
    }
    int rc = 0;
    eval_slot *slots = NULL;
    r.seconds = embed_images(s, &o, 1, a->max_pixels, a->decode_max_side, threads, progress, "embedding", &slots);
    if (r.seconds >= 0) use_slots(s, slots, 0);
    free_slots(slots, (size_t)s->nimages);
    if (r.seconds < 0 || evaluate(s, &r, a->strict, 1, svg != NULL)) rc = 1;
    if (rc == 0) {
        if (a->json) cli_print_json(eval_run_json(s, &r));
        else eval_print_summary(s, &r, threads);
        if (csv) eval_write_pairs_csv(csv, s, &r);
        if (svg) eval_write_roc_svg(svg, s, &r);
    }
    if (close_output(a->pairs_csv, csv)) rc = 1;
    if (close_output(a->roc_path, svg)) rc = 1;
    free_run(&r);
    return rc;
}

/* `facekit eval`: check the command line, read the pairs file, then run one
 * evaluation or the sweep. Exit code 0, 1 (bad data or a failure) or 2
 * (usage). */
int cmd_eval(cli_args *a) {
    if (!a->pairs_path || !a->images_dir || a->npositional) {
        fprintf(stderr, "facekit: usage: facekit eval --pairs FILE --images DIR [--sweep] [options]\n");
        return 2;
    }
    if (a->sweep && (a->pairs_csv || a->roc_path)) {
        fprintf(stderr, "facekit: --pairs-csv and --roc describe one evaluation; not with --sweep\n");
        return 2;
    }
    if (!a->sweep && a->markdown) {
        fprintf(stderr, "facekit: --markdown writes the --sweep table; add --sweep\n");
        return 2;
    }
    struct stat st;
    if (stat(a->images_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "facekit: %s: not a directory (--images)\n", a->images_dir);
        return 1;
    }
    eval_set s;
    memset(&s, 0, sizeof s);
    s.file = a->pairs_path;
    s.dir = a->images_dir;
    int rc = 1;
    if (eval_read_pairs(&s) == 0 && eval_check_missing(&s, a->strict) == 0) {
        int threads = worker_count(a);
        int progress = !a->quiet && isatty(2);
        rc = a->sweep ? run_sweep(a, &s, threads, progress) : run_single(a, &s, threads, progress);
    }
    eval_free_set(&s);
    return rc;
}
