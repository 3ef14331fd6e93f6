/*
 * bench_models.c - speed of every model, of verify and of represent, with the
 * machine's sgemm ceiling measured in the same run.
 *
 *   build/bench_models [--threads N] [--runs N] [--pair A.jpg B.jpg]
 *                      [--lfw DIR] [--lfw-count N] [--only NAME] [--json]
 *   build/bench_models --deepface DIR NAME [--threads N] [--runs N] [--profile]
 *
 * For 1 thread and for N threads (default $FACEKIT_THREADS, else every
 * core) it prints:
 *  - the ceiling: a 1024 x 1024 x 1024 sgemm through the same convolution
 *    kernel and thread pool the networks use (fk__conv2d, 1x1: a bare matrix
 *    product split by rows over the pool), in GFLOP/s, the better of
 *    facekit's own product (AVX-512 CPUs) and OpenBLAS's (the kernels
 *    OpenBLAS picked for this CPU, named in the output); --ceiling-only
 *    prints only this (compare.js also runs it with OPENBLAS_CORETYPE set
 *    to OpenBLAS's AVX-512 kernels, which it does not pick on every
 *    AVX-512 CPU by itself);
 *  - for each model: milliseconds per inference of its graph at batch 1
 *    and per item at batch 8 (pre- and post-processing not included), the
 *    FLOPs of one inference counted from the graph (a multiply-add is 2),
 *    the GFLOP/s achieved and their fraction of the ceiling;
 *  - verify: milliseconds for a pair of photos, decode + detect +
 *    landmarks + align + embed of both + distance (default: face-api's
 *    sample1.jpg and sample3.jpg from the model home);
 *  - represent: images per second over the first --lfw-count (default 60)
 *    images of an LFW folder (default ../shared/data/lfw-devtrain/images;
 *    the part is skipped when it is absent), decode included, on one
 *    context with 1 and with N threads, and on N single-threaded contexts
 *    working side by side (how find and register index a folder);
 *  - peak resident memory after the pipeline parts and at the end.
 * Every figure is the median of --runs timed runs (default 5; at most 5 at batch 8)
 * after one warm-up run. Inputs are deterministic pseudo-random values: the
 * kernels' speed does not depend on them.
 *
 * --deepface DIR NAME is the speed anchor's facekit half (issue 16; the
 * other half is bench/peers/onnx.js, both driven by compare.js): deepface's
 * model NAME from DIR/NAME.h5, written with its ONNX twin by
 * bench/tools/deepface_onnx.py. It runs the model once on DIR/NAME.in.nhwc.f32,
 * writes what facekit returns to DIR/NAME.fk.f32 (for the ONNX Runtime
 * check) with its largest difference from torch's DIR/NAME.ref.f32, then
 * times the graph as above, and prints only that (always JSON). With
 * --profile it prints instead, for batch 1 and 8 on each pool, every
 * convolution's time run alone against the whole graph's (text).
 */
#include <cblas.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "facekit.h"
#include "models/face_models.h"
#include "models/keras_model.h"
#include "nn/gemm.h"
#include "nn/graph.h"
#include "nn/graph_internal.h"
#include "nn/kernels.h"
#include "core/threadpool.h"

#include "bench_util.h"

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0; /* kilobytes on Linux */
}

/* n floats in [-1, 1), the same every run. */
static float *fill_random(size_t n) {
    float *p = malloc(n * sizeof *p + 64);
    if (!p) return NULL;
    unsigned s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        p[i] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    return p;
}

/* ---- the sgemm ceiling --------------------------------------------------- */

/* Median milliseconds of a 1024^3 product through fk__conv2d (1x1, direct),
 * after two warm-up runs. */
static double sgemm_ms(fk_pool *pool, int runs) {
    const fk_shape4 is = {1, 32, 32, 1024};
    fk_window win = {1, 1, 1, 1, 0, 0, 0, 0};
    float *a = fill_random(1024 * 1024), *b = fill_random(1024 * 1024),
          *c = fill_random(1024 * 1024);
    double *t = calloc((size_t)runs, sizeof *t), ms = -1;
    if (a && b && c && t) {
        for (int r = -2; r < runs; r++) {
            double t0 = now_ms();
            fk__conv2d(a, is, b, NULL, 1024, &win, NULL, c, NULL, pool);
            if (r >= 0) t[r] = now_ms() - t0;
        }
        ms = median(t, runs);
    }
    free(a), free(b), free(c), free(t);
    return ms;
}

/* GFLOP/s of the ceiling for each pool: the better of the convolutions'
 * default product and OpenBLAS's (FK_NO_AVX512=1 while measuring). */
static void ceiling(fk_pool *pools[2], int runs, double gflops[2]) {
    for (int t = 0; t < 2; t++) {
        gflops[t] = 2.0 * 1024 * 1024 * 1024 / (sgemm_ms(pools[t], runs) * 1e6);
        if (fk__gemm_avx512_usable()) {
            setenv("FK_NO_AVX512", "1", 1);
            double blas = 2.0 * 1024 * 1024 * 1024 / (sgemm_ms(pools[t], runs) * 1e6);
            unsetenv("FK_NO_AVX512");
            if (blas > gflops[t]) gflops[t] = blas;
        }
    }
}

/* ---- the models ------------------------------------------------------------ */

typedef struct model_entry {
    const char *name;   /* as printed and as compare.js matches it */
    fk_graph *graph;
    int h, w;
    void *handle;
    void (*free_fn)(void *);
} model_entry;

#define MAX_MODELS 16

typedef struct model_result {
    double gflop;       /* one inference */
    double ms1[2];      /* batch 1, [0] 1 thread, [1] N threads */
    double ms8[2];      /* per item at batch 8 */
} model_result;

/* Median milliseconds of one run of `g` planned for n x h x w. */
static double time_graph(fk_graph *g, int n, int h, int w, const float *input,
                         fk_pool *pool, int runs) {
    if (fk__graph_plan(g, n, h, w) != FK_OK) return -1;
    double *t = calloc((size_t)runs, sizeof *t);
    if (!t) return -1;
    double ms = -1;
    for (int r = -1; r < runs; r++) {
        double t0 = now_ms();
        if (fk__graph_run(g, input, pool) != FK_OK) goto done;
        if (r >= 0) t[r] = now_ms() - t0;
    }
    ms = median(t, runs);
done:
    free(t);
    return ms;
}

/* Wrappers so every model frees through one signature. */
static void free_ssd(void *m) { fk__ssd_free(m); }
static void free_tiny(void *m) { fk__tiny_face_free(m); }
static void free_lm(void *m) { fk__landmarks68_free(m); }
static void free_dlib(void *m) { fk__dlib_resnet_free(m); }
static void free_human(void *m) { fk__human_recognizer_free(m); }
static void free_mfn(void *m) { fk__mobilefacenet_free(m); }
static void free_blaze(void *m) { fk__blazeface_free(m); }
static void free_mtcnn(void *m) { fk__mtcnn_free(m); }

/* Load what the model home has; a missing model is reported and skipped. */
static int load_models(const char *home, const char *only, model_entry *e) {
    int n = 0;
#define WANT(nm) (!only || strcmp(only, nm) == 0)
#define ADD(nm, load, type, graph_fn, free_w)                               \
    if (WANT(nm)) {                                                         \
        type *m = NULL;                                                     \
        if (load(home, &m) == FK_OK) {                                      \
            int h_, w_;                                                     \
            fk_graph *g_ = graph_fn(m, &h_, &w_);                           \
            e[n++] = (model_entry){nm, g_, h_, w_, m, free_w};              \
        } else {                                                            \
            fprintf(stderr, "bench_models: %s skipped: %s\n", nm,           \
                    fk_last_error());                                       \
        }                                                                   \
    }
    ADD("ssd", fk__ssd_load, fk_ssd, fk__ssd_graph, free_ssd)
    ADD("tiny", fk__tiny_face_load, fk_tiny_face, fk__tiny_face_graph, free_tiny)
    ADD("landmarks68", fk__landmarks68_load, fk_landmarks68, fk__landmarks68_graph, free_lm)
    ADD("Dlib", fk__dlib_resnet_load, fk_dlib_resnet, fk__dlib_resnet_graph, free_dlib)
    ADD("FaceRes", fk__faceres_load, fk_human_recognizer, fk__human_recognizer_graph,
        free_human)
    ADD("FaceRes-Deep", fk__faceres_deep_load, fk_human_recognizer,
        fk__human_recognizer_graph, free_human)
    ADD("MobileFace", fk__mobileface_load, fk_human_recognizer, fk__human_recognizer_graph,
        free_human)
    ADD("MobileFaceNet", fk__mobilefacenet_load, fk_mobilefacenet, fk__mobilefacenet_graph,
        free_mfn)
    ADD("BlazeFace", fk__blazeface_back_load, fk_blazeface, fk__blazeface_graph, free_blaze)
#undef ADD
    if (WANT("mtcnn-rnet") || WANT("mtcnn-onet")) {
        fk_mtcnn *m = NULL;
        if (fk__mtcnn_load(home, &m) == FK_OK) {
            for (int stage = 1; stage <= 2; stage++) {
                const char *nm = stage == 1 ? "mtcnn-rnet" : "mtcnn-onet";
                if (!WANT(nm)) continue;
                int h, w;
                fk_graph *g = fk__mtcnn_graph(m, stage, &h, &w);
                e[n++] = (model_entry){nm, g, h, w, NULL, NULL};
            }
            e[n - 1].handle = m; /* the last entry frees the cascade */
            e[n - 1].free_fn = free_mtcnn;
        } else {
            fprintf(stderr, "bench_models: mtcnn skipped: %s\n", fk_last_error());
        }
    }
#undef WANT
    return n;
}

/* ---- the speed anchor: one deepface model from the bench cache ------------ */

/* n floats of `path`, or NULL (message printed). */
static float *read_f32(const char *path, size_t n) {
    FILE *f = fopen(path, "rb");
    float *p = f ? malloc(n * sizeof *p) : NULL;
    if (!p || fread(p, sizeof *p, n, f) != n) {
        fprintf(stderr, "bench_models: %s: cannot read %zu floats\n", path, n);
        free(p);
        p = NULL;
    }
    if (f) fclose(f);
    return p;
}

/* --profile: each convolution of `g` (planned for n) run alone on its place
 * in the arena, the median of `runs` after a warm-up, against the whole
 * graph: where the time goes. Each reads its input where the plan put it,
 * holding whatever the last full run left there (later values may share the
 * space): the kernels' speed does not depend on the values. */
static void profile_graph(fk_graph *g, int n, int h, int w, const float *input, fk_pool *pool,
                          int runs, const char *label) {
    double total = time_graph(g, n, h, w, input, pool, runs), convs = 0;
    printf("%s: %.2f ms the whole graph at batch %d on %d thread(s)\n", label, total, n,
           fk__pool_threads(pool));
    printf("  %4s %-18s %-9s %6s %8s %9s %7s %6s\n", "node", "input (n h w c)", "kernel", "out_c",
           "ms", "GFLOP/s", "share", "cum%");
    double *t = calloc((size_t)runs, sizeof *t);
    if (!t) return;
    for (int i = 0; i < g->n_nodes; i++) {
        const fk_node *nd = &g->nodes[i];
        if (nd->op != FK_OP_CONV) continue;
        const fk_value *va = &g->values[nd->in[0]], *vo = &g->values[nd->out];
        const float *a = nd->in[0] == 0 ? input : g->arena + va->offset;
        const float *r = nd->in[1] < 0 ? NULL
                         : nd->in[1] == 0 ? input : g->arena + g->values[nd->in[1]].offset;
        float *o = g->arena + vo->offset;
        for (int k = -1; k < runs; k++) {
            double t0 = now_ms();
            fk__conv2d_res(a, va->shape, nd->w, nd->b, r, nd->out_c, &nd->win, &nd->act, o,
                           g->workspace, pool);
            if (k >= 0) t[k] = now_ms() - t0;
        }
        double ms = median(t, runs);
        double gf = 2.0 * vo->count * nd->kh * nd->kw * va->shape.c / 1e9;
        convs += ms;
        char in[32], ker[16];
        snprintf(in, sizeof in, "%dx%dx%dx%d", va->shape.n, va->shape.h, va->shape.w, va->shape.c);
        snprintf(ker, sizeof ker, "%dx%d/%d", nd->kh, nd->kw, nd->stride);
        printf("  %4d %-18s %-9s %6d %8.2f %9.1f %6.1f%% %5.0f%%\n", i, in, ker, nd->out_c, ms,
               gf / ms * 1e3, 100 * ms / total, 100 * convs / total);
    }
    printf("  convolutions %.2f ms, the rest %.2f ms (%.1f%%)\n\n", convs, total - convs,
           100 * (total - convs) / total);
    free(t);
}

static int bench_deepface(const char *dir, const char *name, fk_pool *pools[2],
                          const int tcount[2], int runs, int profile) {
    const fk_model_desc *d = fk__model_get(name);
    if (!d || !d->load_file || d->dim <= 0) {
        fprintf(stderr, "bench_models: %s is not a model read from deepface's weights\n", name);
        return 1;
    }
    char path[PATH_MAX + 64];
    void *handle = NULL;
    snprintf(path, sizeof path, "%s/%s.h5", dir, name);
    if (d->load_file(path, &handle) != FK_OK) {
        fprintf(stderr, "bench_models: %s\n", fk_last_error());
        return 1;
    }
    fk_keras_net *net = handle;
    int h, w, rc = 1;
    fk_graph *g = fk__keras_net_graph(net, &h, &w);
    const size_t per = (size_t)h * w * 3;
    float *out = malloc(sizeof *out * (size_t)d->dim), *check = NULL, *ref = NULL;
    float *input = fill_random(8 * per);
    snprintf(path, sizeof path, "%s/%s.in.nhwc.f32", dir, name);
    if (out && input) check = read_f32(path, per);
    snprintf(path, sizeof path, "%s/%s.ref.f32", dir, name);
    if (check) ref = read_f32(path, (size_t)d->dim);
    if (!ref) goto done;
    if (fk__keras_net_run(net, check, 1, pools[1], out) != FK_OK) {
        fprintf(stderr, "bench_models: %s: %s\n", name, fk_last_error());
        goto done;
    }
    double diff = 0;
    for (int i = 0; i < d->dim; i++)
        if (fabs((double)out[i] - ref[i]) > diff) diff = fabs((double)out[i] - ref[i]);
    snprintf(path, sizeof path, "%s/%s.fk.f32", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(out, sizeof *out, (size_t)d->dim, f) != (size_t)d->dim) {
        fprintf(stderr, "bench_models: %s: cannot write\n", path);
        if (f) fclose(f);
        goto done;
    }
    fclose(f);
    if (profile) {
        for (int t = 0; t < 2; t++)
            for (int n = 1; n <= 8; n += 7) profile_graph(g, n, h, w, input, pools[t], runs, name);
        rc = 0;
        goto done;
    }
    /* deepface feeds 0..1 values; fill_random gives [-1, 1), speed is the same */
    double ms1[2], ms8[2];
    for (int t = 0; t < 2; t++) {
        ms1[t] = time_graph(g, 1, h, w, input, pools[t], runs);
        double b8 = time_graph(g, 8, h, w, input, pools[t], runs > 5 ? 5 : runs);
        ms8[t] = b8 > 0 ? b8 / 8 : -1;
    }
    fk__graph_plan(g, 1, h, w);
    printf("{\"name\": \"%s\", \"threads\": [%d, %d], \"runs\": %d, \"input\": [%d, %d, 3], "
           "\"gflop\": %.4f, \"diff_ref\": %.3g, \"ms_b1\": [%.3f, %.3f], "
           "\"ms_b8\": [%.3f, %.3f]}\n",
           name, tcount[0], tcount[1], runs, h, w, 2.0 * fk__graph_macs(g) / 1e9, diff, ms1[0],
           ms1[1], ms8[0], ms8[1]);
    rc = ms1[0] > 0 && ms1[1] > 0 && ms8[0] > 0 && ms8[1] > 0 ? 0 : 1;
done:
    free(out), free(check), free(ref), free(input);
    if (d->free) d->free(handle);
    return rc;
}

/* ---- verify and represent -------------------------------------------------- */

/* Median milliseconds of decode + fk_verify for the pair; -1 on error (the
 * message printed). */
static double time_verify(fk_context *ctx, const char *a, const char *b, int runs,
                          float *distance) {
    double *t = calloc((size_t)runs, sizeof *t), ms = -1;
    if (!t) return -1;
    for (int r = -1; r < runs; r++) {
        double t0 = now_ms();
        fk_image *ia = NULL, *ib = NULL;
        fk_verify_result res;
        fk_status st = fk_image_load(a, 0, &ia);
        if (st == FK_OK) st = fk_image_load(b, 0, &ib);
        if (st == FK_OK) st = fk_verify(ctx, ia, ib, NULL, &res);
        fk_image_free(ia);
        fk_image_free(ib);
        if (st != FK_OK) {
            fprintf(stderr, "bench_models: verify: %s\n", fk_last_error());
            goto done;
        }
        *distance = res.distance;
        if (r >= 0) t[r] = now_ms() - t0;
    }
    ms = median(t, runs);
done:
    free(t);
    return ms;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in `dir` (not starting with '.'), sorted; NULL when unreadable. */
static char **list_dir(const char *dir, int *count) {
    DIR *d = opendir(dir);
    if (!d) return NULL;
    int n = 0, cap = 64;
    char **v = malloc(sizeof *v * (size_t)cap);
    struct dirent *de;
    while (v && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (n == cap) {
            char **p = realloc(v, sizeof *v * (size_t)(cap *= 2));
            if (!p) break;
            v = p;
        }
        v[n++] = strdup(de->d_name);
    }
    closedir(d);
    if (v) qsort(v, (size_t)n, sizeof *v, cmp_str);
    *count = n;
    return v;
}

static void free_list(char **v, int n) {
    for (int i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

/* The first `want` .jpg files of an LFW folder (person folders in name
 * order, files in name order); returns how many were found. */
static int lfw_images(const char *root, int want, char ***out) {
    int np = 0, n = 0;
    char **people = list_dir(root, &np);
    char **paths = calloc((size_t)want, sizeof *paths);
    for (int p = 0; people && paths && p < np && n < want; p++) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/%s", root, people[p]);
        int nf = 0;
        char **files = list_dir(dir, &nf);
        for (int f = 0; files && f < nf && n < want; f++) {
            size_t len = strlen(files[f]);
            if (len < 4 || strcmp(files[f] + len - 4, ".jpg") != 0) continue;
            char path[PATH_MAX * 2];
            snprintf(path, sizeof path, "%s/%s", dir, files[f]);
            paths[n++] = strdup(path);
        }
        free_list(files, nf);
    }
    free_list(people, np);
    *out = paths;
    return n;
}

/* Seconds for decode + fk_represent of every image; *faces counts faces. */
static double time_represent(fk_context *ctx, char **paths, int n, int *faces) {
    fk_options opt;
    fk_options_init(&opt);
    opt.enforce_detection = 0;
    *faces = 0;
    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        fk_image *img = NULL;
        fk_faces f = {0};
        fk_status st = fk_image_load(paths[i], 0, &img);
        if (st == FK_OK) st = fk_represent(ctx, img, &opt, &f);
        fk_image_free(img);
        if (st != FK_OK) {
            fprintf(stderr, "bench_models: represent %s: %s\n", paths[i], fk_last_error());
            return -1;
        }
        *faces += f.count;
        fk_faces_free(&f);
    }
    return (now_ms() - t0) / 1e3;
}

/* Represent over the same images with one single-threaded context per
 * worker thread, the workers taking the next image as they finish one: how
 * `facekit find` and `facekit register` index a folder (gallery_index.c).
 * The contexts are created and warmed (models loaded, graphs planned) before
 * the clock starts, as the single context is by the verify runs. */
typedef struct rep_worker {
    fk_context *ctx;
    char **paths;
    int n;
    atomic_int *next;
    int faces;
    int failed;
} rep_worker;

static void *rep_worker_main(void *arg) {
    rep_worker *w = arg;
    int i;
    while (!w->failed && (i = atomic_fetch_add(w->next, 1)) < w->n) {
        int faces = 0;
        if (time_represent(w->ctx, w->paths + i, 1, &faces) < 0) w->failed = 1;
        w->faces += faces;
    }
    return NULL;
}

static double time_represent_parallel(char **paths, int n, int workers, int *faces) {
    rep_worker w[16] = {0};
    pthread_t tid[16];
    atomic_int next = 0;
    double secs = -1;
    int started = 0;
    if (workers > 16) workers = 16;
    for (int i = 0; i < workers; i++) {
        fk_context_options co;
        fk_context_options_init(&co);
        co.threads = 1;
        w[i] = (rep_worker){NULL, paths, n, &next, 0, 0};
        int warm = 0;
        if (fk_context_new(&co, &w[i].ctx) != FK_OK) {
            fprintf(stderr, "bench_models: %s\n", fk_last_error());
            goto done;
        }
        if (time_represent(w[i].ctx, paths, 1, &warm) < 0) goto done;
    }
    double t0 = now_ms();
    for (; started < workers; started++)
        if (pthread_create(&tid[started], NULL, rep_worker_main, &w[started]) != 0) break;
    for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
    if (started == 0) goto done;
    secs = (now_ms() - t0) / 1e3;
    *faces = 0;
    for (int i = 0; i < started; i++) {
        if (w[i].failed) secs = -1;
        *faces += w[i].faces;
    }
done:
    for (int i = 0; i < workers; i++) fk_context_free(w[i].ctx);
    return secs;
}

/* ---- main ------------------------------------------------------------------ */

int main(int argc, char **argv) {
    int json = 0, runs = 5, threads = 0, lfw_count = 60, ceiling_only = 0, profile = 0;
    const char *pair[2] = {NULL, NULL}, *lfw = NULL, *only = NULL, *deepface[2] = {NULL, NULL};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--ceiling-only")) ceiling_only = 1;
        else if (!strcmp(argv[i], "--profile")) profile = 1;
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lfw") && i + 1 < argc) lfw = argv[++i];
        else if (!strcmp(argv[i], "--lfw-count") && i + 1 < argc)
            lfw_count = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--deepface") && i + 2 < argc) {
            deepface[0] = argv[++i];
            deepface[1] = argv[++i];
        } else if (!strcmp(argv[i], "--pair") && i + 2 < argc) {
            pair[0] = argv[++i];
            pair[1] = argv[++i];
        } else {
            fprintf(stderr,
                    "usage: bench_models [--threads N] [--runs N] [--pair A B] "
                    "[--lfw DIR] [--lfw-count N] [--only MODEL] [--ceiling-only] [--json]\n"
                    "       bench_models --deepface DIR NAME [--threads N] [--runs N] [--profile]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 1000) runs = 5;
    if (lfw_count < 0) lfw_count = 0;
    if (threads <= 0) {
        const char *env = getenv("FACEKIT_THREADS");
        threads = env && atoi(env) > 0 ? atoi(env) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    }
    if (threads < 1) threads = 1;
    const int tcount[2] = {1, threads};

    char home[PATH_MAX], pa[PATH_MAX + 32], pb[PATH_MAX + 32];
    if (fk_models_default_home(home, sizeof home) != FK_OK) {
        fprintf(stderr, "%s\n", fk_last_error());
        return 1;
    }
    snprintf(pa, sizeof pa, "%s", pair[0] ? pair[0] : "");
    snprintf(pb, sizeof pb, "%s", pair[1] ? pair[1] : "");
    if (!pair[0]) {
        snprintf(pa, sizeof pa, "%s/face-api/sample1.jpg", home);
        snprintf(pb, sizeof pb, "%s/face-api/sample3.jpg", home);
    }
    if (!lfw) lfw = "../shared/data/lfw-devtrain/images";

    fk_pool *pools[2];
    if (fk__pool_new(tcount[0], &pools[0]) != FK_OK ||
        fk__pool_new(tcount[1], &pools[1]) != FK_OK) {
        fprintf(stderr, "%s\n", fk_last_error());
        return 1;
    }

    if (deepface[0]) {
        int rc = bench_deepface(deepface[0], deepface[1], pools, tcount, runs, profile);
        fk__pool_free(pools[0]);
        fk__pool_free(pools[1]);
        return rc;
    }

    /* 1. the ceiling */
    double ceil_gflops[2];
    ceiling(pools, runs, ceil_gflops);
    if (ceiling_only) {
        if (json)
            printf("{\"threads\": [%d, %d], \"sgemm_gflops\": [%.2f, %.2f], \"blas_core\": \"%s\"}\n",
                   tcount[0], tcount[1], ceil_gflops[0], ceil_gflops[1], openblas_get_corename());
        else
            printf("sgemm 1024^3 ceiling (OpenBLAS kernels: %s): %.1f GFLOP/s 1 thread, %.1f "
                   "GFLOP/s %d threads\n",
                   openblas_get_corename(), ceil_gflops[0], ceil_gflops[1], tcount[1]);
        fk__pool_free(pools[0]);
        fk__pool_free(pools[1]);
        return 0;
    }

    /* 2. verify and represent, through the public API like any user */
    double verify_ms[2] = {-1, -1}, rep_ips[2] = {-1, -1};
    float distance = 0;
    int rep_faces = 0;
    char **paths = NULL;
    int n_paths = lfw_count > 0 ? lfw_images(lfw, lfw_count, &paths) : 0;
    if (lfw_count > 0 && n_paths == 0)
        fprintf(stderr, "bench_models: no LFW images under %s: represent skipped\n", lfw);
    for (int t = 0; t < 2; t++) {
        fk_context_options co;
        fk_context_options_init(&co);
        co.threads = tcount[t];
        fk_context *ctx;
        if (fk_context_new(&co, &ctx) != FK_OK) {
            fprintf(stderr, "%s\n", fk_last_error());
            return 1;
        }
        verify_ms[t] = time_verify(ctx, pa, pb, runs, &distance);
        if (n_paths > 0) {
            double s = time_represent(ctx, paths, n_paths, &rep_faces);
            if (s > 0) rep_ips[t] = n_paths / s;
        }
        fk_context_free(ctx);
    }
    double rep_par_ips = -1;
    int rep_par_faces = 0;
    if (n_paths > 0 && tcount[1] > 1) {
        double s = time_represent_parallel(paths, n_paths, tcount[1], &rep_par_faces);
        if (s > 0) rep_par_ips = n_paths / s;
        if (s > 0 && rep_par_faces != rep_faces)
            fprintf(stderr, "bench_models: represent found %d faces on one context, %d on %d\n",
                    rep_faces, rep_par_faces, tcount[1]);
    }
    double rss_pipeline = peak_rss_mb();

    /* 3. every model's graph */
    model_entry models[MAX_MODELS];
    model_result res[MAX_MODELS];
    int n_models = load_models(home, only, models);
    for (int i = 0; i < n_models; i++) {
        model_entry *m = &models[i];
        model_result *r = &res[i];
        float *input = fill_random((size_t)8 * m->h * m->w * 3);
        if (!input || fk__graph_plan(m->graph, 1, m->h, m->w) != FK_OK) {
            fprintf(stderr, "bench_models: %s: %s\n", m->name, fk_last_error());
            return 1;
        }
        r->gflop = 2.0 * fk__graph_macs(m->graph) / 1e9;
        for (int t = 0; t < 2; t++) {
            r->ms1[t] = time_graph(m->graph, 1, m->h, m->w, input, pools[t], runs);
            double ms8 = time_graph(m->graph, 8, m->h, m->w, input, pools[t],
                                    runs > 5 ? 5 : runs);
            r->ms8[t] = ms8 > 0 ? ms8 / 8 : -1;
        }
        free(input);
        fk__graph_plan(m->graph, 1, m->h, m->w); /* leave it as the model had it */
    }
    double rss_total = peak_rss_mb();

    if (json) {
        printf("{\"threads\": [%d, %d], \"runs\": %d,\n", tcount[0], tcount[1], runs);
        printf(" \"sgemm_gflops\": [%.2f, %.2f], \"blas_core\": \"%s\",\n", ceil_gflops[0],
               ceil_gflops[1], openblas_get_corename());
        printf(" \"models\": [");
        for (int i = 0; i < n_models; i++) {
            const model_result *r = &res[i];
            printf("%s\n  {\"name\": \"%s\", \"input\": [%d, %d, 3], \"gflop\": %.4f, "
                   "\"ms_b1\": [%.3f, %.3f], \"ms_b8\": [%.3f, %.3f], "
                   "\"gflops_b1\": [%.2f, %.2f], \"gflops_b8\": [%.2f, %.2f]}",
                   i ? "," : "", models[i].name, models[i].h, models[i].w, r->gflop,
                   r->ms1[0], r->ms1[1], r->ms8[0], r->ms8[1], r->gflop / r->ms1[0] * 1e3,
                   r->gflop / r->ms1[1] * 1e3, r->gflop / r->ms8[0] * 1e3,
                   r->gflop / r->ms8[1] * 1e3);
        }
        printf("],\n \"verify\": {\"a\": \"%s\", \"b\": \"%s\", \"distance\": %.4f, "
               "\"ms\": [%.3f, %.3f]},\n",
               pa, pb, distance, verify_ms[0], verify_ms[1]);
        printf(" \"represent\": {\"images\": %d, \"faces\": %d, \"images_per_s\": [%.3f, %.3f], "
               "\"images_per_s_contexts\": %.3f, \"paths\": [",
               n_paths, rep_faces, rep_ips[0], rep_ips[1], rep_par_ips);
        for (int i = 0; i < n_paths; i++) printf("%s\"%s\"", i ? ", " : "", paths[i]);
        printf("]},\n \"peak_rss_mb\": {\"pipeline\": %.1f, \"total\": %.1f}}\n", rss_pipeline,
               rss_total);
    } else {
        printf("sgemm 1024^3 (fk__conv2d 1x1 through the pool; OpenBLAS kernels: %s): %.1f "
               "GFLOP/s 1 thread, %.1f GFLOP/s %d threads\n\n",
               openblas_get_corename(), ceil_gflops[0], ceil_gflops[1], tcount[1]);
        const char *coretype = getenv("OPENBLAS_CORETYPE");
        if (coretype && *coretype)
            printf("(OPENBLAS_CORETYPE=%s holds OpenBLAS to those kernels; `make bench` also "
                   "measures the ceiling without it, in another process)\n\n",
                   coretype);
        printf("%-14s %9s %8s | %9s %9s %9s %9s | %7s %7s %6s\n", "model", "input", "GFLOP",
               "b1 1T ms", "b1 NT ms", "b8 1T ms", "b8 NT ms", "GF/s 1T", "GF/s NT",
               "ceil%");
        for (int i = 0; i < n_models; i++) {
            const model_result *r = &res[i];
            double best_nt = r->ms8[1] > 0 && r->ms8[1] < r->ms1[1] ? r->ms8[1] : r->ms1[1];
            double g1 = r->gflop / r->ms1[0] * 1e3, gn = r->gflop / best_nt * 1e3;
            printf("%-14s %4dx%-4d %8.3f | %9.2f %9.2f %9.2f %9.2f | %7.1f %7.1f %5.0f%%\n",
                   models[i].name, models[i].h, models[i].w, r->gflop, r->ms1[0], r->ms1[1],
                   r->ms8[0], r->ms8[1], g1, gn, 100 * gn / ceil_gflops[1]);
        }
        printf("(b8: per item at batch 8; GF/s NT and ceil%%: the better of b1 and b8 on %d "
               "threads)\n\n",
               tcount[1]);
        printf("verify %s %s: %.1f ms 1 thread, %.1f ms %d threads (distance %.4f)\n", pa, pb,
               verify_ms[0], verify_ms[1], tcount[1], distance);
        if (n_paths > 0)
            printf("represent %d LFW images (%d faces): %.2f images/s 1 thread, %.2f images/s "
                   "%d threads\n",
                   n_paths, rep_faces, rep_ips[0], rep_ips[1], tcount[1]);
        if (rep_par_ips > 0)
            printf("represent, one 1-thread context per core (as find/register index a "
                   "folder): %.2f images/s on %d threads\n",
                   rep_par_ips, tcount[1]);
        printf("peak RSS: %.1f MB after verify + represent, %.1f MB with every model loaded\n",
               rss_pipeline, rss_total);
    }

    for (int i = 0; i < n_models; i++)
        if (models[i].free_fn) models[i].free_fn(models[i].handle);
    free_list(paths, n_paths);
    fk__pool_free(pools[0]);
    fk__pool_free(pools[1]);
    return 0;
}
