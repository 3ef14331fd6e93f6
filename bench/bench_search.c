/*
 * bench_search.c - 1:N search speed: facekit's exact search, facekit's ANN
 * index, and faiss's own exhaustive IndexFlatIP as the yardstick, on the
 * same synthetic embeddings in the same run.
 *
 * Data: `rows` unit vectors of `dim` floats shaped like a face gallery:
 * rows / 10 identities with a random center each, every row its identity's
 * center plus uniform noise (same-identity cosine about 0.7, different
 * identities about 0). Queries are fresh samples of random identities (not
 * rows of the gallery). Deterministic (fixed seeds).
 *
 * Printed: index build time, query latency p50/p99 for single queries and
 * for batches of 64, recall@1 and recall@10 of ANN against exact, memory,
 * and the ratios the targets are stated in:
 *   faiss flat / facekit exact   >= 1.0 (single query and batch of 64)
 *   facekit exact / facekit ANN  >= 20 at recall@10 >= 0.95 on 1M rows
 * Exact search runs fk__gallery_topk / fk__gallery_topk_batch on facekit's
 * pool; ANN runs the gallery's own ANN code (gallery_ann.c: faiss HNSW or
 * IVF-PQ, candidates re-ranked exactly), its file written to a temporary
 * folder and read back once to time the load. faiss gets the same number
 * of threads for OpenMP and for OpenBLAS (its flat search of a batch is an
 * sgemm); facekit's calls run OpenBLAS single-threaded inside its pool.
 *
 * Every section is printed (and flushed) as soon as it is measured, so a
 * long run shows its progress; the summary table and the ratios follow at
 * the end. Memory: the matrix (rows x dim floats) stays for the whole run;
 * faiss's flat copy of it is freed before the ANN indexes are built, and
 * each ANN index is freed (its file deleted) before the next. --no-flat
 * leaves the faiss flat copy out (then no faiss ratio is printed).
 *
 * --effort E1,E2,... searches each ANN index at several efforts (HNSW's
 * search beam efSearch, IVF-PQ's lists probed nprobe; 0 = the gallery's
 * default) after building it once: one row per effort.
 *
 * Usage: bench_search [--rows N] [--dim D] [--queries Q]
 *                     [--ann none|hnsw|ivfpq|hnsw,ivfpq] [--effort E[,E...]]
 *                     [--threads T] [--no-flat] [--quick]
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "gallery/gallery.h"
#include "gallery/gallery_ann.h"
#include "core/threadpool.h"

#define BATCH 64
#define K 10

static double now(void) { return fk__now_ms() / 1e3; }

/* Resident memory of the process, in MiB. */
static double rss_mib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static float frand(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*s >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

static void normalize(float *v, int dim) {
    double s = 0;
    for (int i = 0; i < dim; i++) s += (double)v[i] * v[i];
    float inv = (float)(1 / sqrt(s > 0 ? s : 1));
    for (int i = 0; i < dim; i++) v[i] *= inv;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "bench_search: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static void sample(const float *centers, int id, int dim, uint64_t *seed, float *out) {
    for (int i = 0; i < dim; i++) out[i] = centers[(size_t)id * dim + i] + 0.65f * frand(seed);
    normalize(out, dim);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* p-th percentile (0..100) of n timings (sorted in place). */
static double pct(double *t, int n, double p) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    int i = (int)ceil(p / 100.0 * n) - 1;
    return t[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static void die_fk(const char *what) {
    fprintf(stderr, "bench_search: %s: %s\n", what, fk_last_error());
    exit(1);
}

typedef struct timing {
    double p50, p99;
} timing;

/* One ANN kind's figures at one search effort. */
typedef struct ann_row {
    int kind, effort;
    double build, save, load, mem, file;
    timing one, batch;
    double r1, r10;
} ann_row;

/* ", effort N" for a row searched with an explicit effort, "" for the
 * default (a static buffer per call site is enough for printf). */
static const char *effort_name(int effort) {
    static char buf[8][24];
    static int next;
    if (effort <= 0) return "";
    char *b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], ", effort %d", effort);
    return b;
}

static timing timed(double *lat, int n) {
    timing t = {pct(lat, n, 50), pct(lat, n, 99)};
    return t;
}

/* Build the gallery's ANN index of `kind` on the bench matrix, save it,
 * load it back, then at each of the search efforts (0: the gallery's
 * default) search it and compare it with the exact top-10 `truth`; one row
 * per effort into out. */
static void run_ann(int kind, const int *efforts, int nefforts, float *matrix, long rows,
                    int dim, int threads, const float *q, int nq, const int *truth,
                    double *lat, ann_row *out) {
    ann_row res = {.kind = kind};
    int nb = nq / BATCH;
    const char *name = fk__gallery_ann_kind_name(kind);
    char dir[] = "/tmp/fk_bench_search_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    fk_gallery *g = calloc(1, sizeof *g);
    if (!g) exit(1);
    snprintf(g->path, sizeof g->path, "%s/bench.db", dir);
    fk_options_init(&g->opt);
    g->opt.metric = "cosine";
    g->dim = dim;
    g->config_id = 1;
    g->n = (int)rows;
    g->matrix = matrix;
    g->face_ids = xmalloc((size_t)rows * sizeof *g->face_ids);
    g->image_ids = xmalloc((size_t)rows * sizeof *g->image_ids);
    for (long r = 0; r < rows; r++) g->face_ids[r] = g->image_ids[r] = r + 1;
    g->cache_gen = 1;
    g->threads = threads;
    fk_gallery_options_init(&g->gopt);
    g->gopt.search_method = "ann";
    g->gopt.ann_index = name;
    g->use_ann = 1;
    g->ann_kind = kind;
    g->be = &fk__gallery_sqlite_backend; /* only its local_file flag is read: save/load the index */
    printf("%s: building the index of %ld rows ...\n", name, rows);
    fflush(stdout);
    double rss = rss_mib();
    int use = 0;
    if (fk__gallery_ann_sync(g, &use) != FK_OK || !use) die_fk("building the ANN index");
    res.mem = rss_mib() - rss;
    fk_gallery_ann_info info;
    fk_gallery_get_ann_info(g, &info);
    if (info.note[0]) printf("note: %s\n", info.note);
    res.build = info.build_seconds;
    res.save = info.save_seconds;
    char path[PATH_MAX + 64];
    fk__gallery_ann_path(g, path, sizeof path);
    struct stat sb;
    res.file = stat(path, &sb) == 0 ? (double)sb.st_size / (1024.0 * 1024.0) : 0;
    printf("%s: built in %.1f s (saved in %.1f s, %.0f MiB in memory, file %.0f MiB)\n", name,
           res.build, res.save, res.mem, res.file);
    fflush(stdout);
    /* Read it back, as the next process would. */
    fk__gallery_ann_free(g->ann);
    g->ann = NULL;
    if (fk__gallery_ann_sync(g, &use) != FK_OK) die_fk("loading the ANN index");
    fk_gallery_get_ann_info(g, &info);
    res.load = info.load_seconds;

    int *arow = xmalloc((size_t)nq * K * sizeof *arow);
    float *akey = xmalloc((size_t)nq * K * sizeof *akey);
    int *agot = xmalloc((size_t)nq * sizeof *agot);
    for (int e = 0; e < nefforts; e++) {
        res.effort = g->ann_effort = efforts[e];
        fk__gallery_ann_search(g, 1, q, K, 0, arow, akey, agot); /* warm-up */
        for (int i = 0; i < nq; i++) {
            double t = now();
            if (fk__gallery_ann_search(g, 1, q + (size_t)i * dim, K, 0, arow + (size_t)i * K,
                                      akey + (size_t)i * K, agot + i) != FK_OK)
                die_fk("ANN search");
            lat[i] = now() - t;
        }
        res.one = timed(lat, nq);
        int hit1 = 0, hit10 = 0;
        for (int i = 0; i < nq; i++) {
            hit1 += arow[(size_t)i * K] == truth[(size_t)i * K];
            for (int a = 0; a < K; a++)
                for (int b = 0; b < K; b++)
                    hit10 += arow[(size_t)i * K + a] == truth[(size_t)i * K + b];
        }
        for (int b = 0; b < nb; b++) {
            double t = now();
            fk__gallery_ann_search(g, BATCH, q + (size_t)b * BATCH * dim, K, 0, arow, akey, agot);
            lat[b] = now() - t;
        }
        res.batch = timed(lat, nb);
        res.r1 = (double)hit1 / nq;
        res.r10 = (double)hit10 / ((double)nq * K);
        char eff[32] = "default";
        if (res.effort > 0) snprintf(eff, sizeof eff, "%d", res.effort);
        printf("%s (loaded in %.1f s), effort %s: single p50 %.3f ms p99 %.3f ms; batch-%d p50 "
               "%.2f ms; recall@1 %.3f recall@10 %.3f\n",
               name, res.load, eff, res.one.p50 * 1e3, res.one.p99 * 1e3, BATCH,
               res.batch.p50 * 1e3, res.r1, res.r10);
        fflush(stdout);
        out[e] = res;
    }
    unlink(path);
    rmdir(dir);
    fk__gallery_ann_free(g->ann);
    free(g->face_ids);
    free(g->image_ids);
    free(g);
    free(arow);
    free(akey);
    free(agot);
}

int main(int argc, char **argv) {
    long rows = 100000;
    int dim = 128, nq = 200, threads = 0, with_flat = 1;
    int kinds[2] = {FK_FAISS_HNSW, -1}, nkinds = 1;
    int efforts[8] = {0}, nefforts = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            rows = 20000;
            nq = 128;
        } else if (!strcmp(a, "--no-flat")) with_flat = 0;
        else if (!strcmp(a, "--rows") && v) rows = atol(argv[++i]);
        else if (!strcmp(a, "--dim") && v) dim = atoi(argv[++i]);
        else if (!strcmp(a, "--queries") && v) nq = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && v) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--effort") && v) {
            char list[128];
            snprintf(list, sizeof list, "%s", argv[++i]);
            nefforts = 0;
            for (char *save = NULL, *t = strtok_r(list, ",", &save); t;
                 t = strtok_r(NULL, ",", &save)) {
                int e = atoi(t);
                if (e < 0 || nefforts == 8 || (e == 0 && strcmp(t, "0"))) {
                    fprintf(stderr, "bench_search: --effort E[,E...] (at most 8; 0: default)\n");
                    return 2;
                }
                efforts[nefforts++] = e;
            }
        }
        else if (!strcmp(a, "--ann") && v) {
            const char *k = argv[++i];
            nkinds = 0;
            if (!strcmp(k, "none")) continue;
            char list[64];
            snprintf(list, sizeof list, "%s", k);
            for (char *save = NULL, *t = strtok_r(list, ",", &save); t;
                 t = strtok_r(NULL, ",", &save)) {
                int kind = !strcmp(t, "hnsw") ? FK_FAISS_HNSW
                           : !strcmp(t, "ivfpq") ? FK_FAISS_IVFPQ : -1;
                if (kind < 0 || nkinds == 2 || (nkinds == 1 && kinds[0] == kind)) {
                    fprintf(stderr, "bench_search: --ann none|hnsw|ivfpq|hnsw,ivfpq\n");
                    return 2;
                }
                kinds[nkinds++] = kind;
            }
        } else {
            fprintf(stderr, "usage: bench_search [--rows N] [--dim D] [--queries Q] "
                            "[--ann none|hnsw|ivfpq|hnsw,ivfpq] [--effort E[,E...]] [--threads T] "
                            "[--no-flat] [--quick]\n");
            return 2;
        }
    }
    if (rows < 1000 || rows > 100000000 || dim < 8 || dim > 4096 || nq < BATCH) {
        fprintf(stderr, "bench_search: need rows >= 1000, 8 <= dim <= 4096, queries >= %d\n",
                BATCH);
        return 2;
    }
    if (threads <= 0) {
        const char *env = getenv("FACEKIT_THREADS");
        threads = env && atoi(env) > 0 ? atoi(env) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    }
    double load[3] = {0};
    FILE *lf = fopen("/proc/loadavg", "r");
    if (lf) {
        if (fscanf(lf, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = 0;
        fclose(lf);
    }
    char annlist[32] = "";
    for (int i = 0; i < nkinds; i++)
        snprintf(annlist + strlen(annlist), sizeof annlist - strlen(annlist), "%s%s",
                 i ? "," : "", fk__gallery_ann_kind_name(kinds[i]));
    double gib = (double)rows * dim * sizeof(float) / (1024.0 * 1024.0 * 1024.0);
    printf("bench_search: %ld rows x %d dims, %d queries, top-%d, %d threads, ANN %s%s; "
           "load average %.2f %.2f %.2f\n",
           rows, dim, nq, K, threads, nkinds ? annlist : "none",
           with_flat ? "" : ", no faiss flat", load[0], load[1], load[2]);
    printf("memory: matrix %.2f GiB%s, plus the largest ANN index (HNSW: about the matrix "
           "again)\n",
           gib, with_flat ? ", faiss flat copy the same again (freed before ANN)" : "");
    fflush(stdout);

    /* ---- data ---- */
    double rss0 = rss_mib();
    double t = now();
    int ids = (int)(rows / 10 > 1 ? rows / 10 : 1);
    uint64_t seed = 42;
    float *centers = xmalloc((size_t)ids * dim * sizeof *centers);
    for (size_t i = 0; i < (size_t)ids * dim; i++) centers[i] = frand(&seed);
    float *matrix = xmalloc((size_t)rows * dim * sizeof *matrix);
    for (long r = 0; r < rows; r++)
        sample(centers, (int)(r % ids), dim, &seed, matrix + (size_t)r * dim);
    float *q = xmalloc((size_t)nq * dim * sizeof *q);
    for (int i = 0; i < nq; i++)
        sample(centers, (int)((uint64_t)(i * 2654435761u) % (uint64_t)ids), dim, &seed,
               q + (size_t)i * dim);
    free(centers);
    double rss_matrix = rss_mib() - rss0;
    printf("data: %.1f s to generate; facekit matrix %.0f MiB\n", now() - t, rss_matrix);
    fflush(stdout);

    fk_pool *pool = NULL;
    if (fk__pool_new(threads, &pool) != FK_OK) die_fk("pool");
    int *idx = xmalloc((size_t)nq * K * sizeof *idx);
    float *key = xmalloc((size_t)nq * K * sizeof *key);
    double *lat = xmalloc((size_t)nq * sizeof *lat);
    int nb = nq / BATCH;

    /* ---- facekit exact ---- */
    openblas_set_num_threads(1);
    fk__gallery_topk(pool, matrix, NULL, NULL, (int)rows, dim, q, K, idx, key); /* warm-up */
    for (int i = 0; i < nq; i++) {
        t = now();
        fk__gallery_topk(pool, matrix, NULL, NULL, (int)rows, dim, q + (size_t)i * dim, K,
                        idx + (size_t)i * K, key + (size_t)i * K);
        lat[i] = now() - t;
    }
    timing fx1 = timed(lat, nq);
    int *truth = xmalloc((size_t)nq * K * sizeof *truth); /* exact top-10 rows */
    memcpy(truth, idx, (size_t)nq * K * sizeof *idx);
    printf("facekit exact: single p50 %.3f ms p99 %.3f ms\n", fx1.p50 * 1e3, fx1.p99 * 1e3);
    fflush(stdout);
    int *bidx = xmalloc((size_t)BATCH * K * sizeof *bidx);
    float *bkey = xmalloc((size_t)BATCH * K * sizeof *bkey);
    int bgot[BATCH];
    int batch_agree = 1;
    fk__gallery_topk_batch(pool, matrix, NULL, (int)rows, dim, q, BATCH, K, bidx, bkey, bgot);
    for (int b = 0; b < nb; b++) {
        t = now();
        fk__gallery_topk_batch(pool, matrix, NULL, (int)rows, dim, q + (size_t)b * BATCH * dim,
                              BATCH, K, bidx, bkey, bgot);
        lat[b] = now() - t;
        for (int i = 0; i < BATCH; i++)
            batch_agree &= bidx[i * K] == truth[((size_t)b * BATCH + i) * K];
    }
    timing fxb = timed(lat, nb);
    printf("facekit exact: batch-%d p50 %.2f ms p99 %.2f ms; batch top-1 == single top-1: %s\n",
           BATCH, fxb.p50 * 1e3, fxb.p99 * 1e3, batch_agree ? "yes" : "NO");
    fflush(stdout);

    /* ---- faiss IndexFlatIP ---- */
    char err[256];
    timing ff1 = {0, 0}, ffb = {0, 0};
    double flat_build = 0, rss_flat = 0;
    int flat_agree = 1;
    if (with_flat) {
        fk_faiss *flat = NULL;
        fk_faiss_params fp = {FK_FAISS_FLAT, dim, 0, 0, 0, 0, 0};
        double rss1 = rss_mib();
        t = now();
        if (fk__faiss_new(&fp, &flat, err, sizeof err) != FK_OK ||
            fk__faiss_add(flat, rows, matrix, threads, err, sizeof err) != FK_OK) {
            fprintf(stderr, "bench_search: %s\n", err);
            return 1;
        }
        flat_build = now() - t;
        rss_flat = rss_mib() - rss1;
        openblas_set_num_threads(threads);
        float *fd = xmalloc((size_t)BATCH * K * sizeof *fd);
        int64_t *fl = xmalloc((size_t)BATCH * K * sizeof *fl);
        fk__faiss_search(flat, 1, q, K, 0, NULL, threads, fd, fl, err, sizeof err);
        for (int i = 0; i < nq; i++) {
            t = now();
            fk__faiss_search(flat, 1, q + (size_t)i * dim, K, 0, NULL, threads, fd, fl, err,
                            sizeof err);
            lat[i] = now() - t;
            flat_agree &= fl[0] == truth[(size_t)i * K];
        }
        ff1 = timed(lat, nq);
        fk__faiss_search(flat, BATCH, q, K, 0, NULL, threads, fd, fl, err, sizeof err);
        for (int b = 0; b < nb; b++) {
            t = now();
            fk__faiss_search(flat, BATCH, q + (size_t)b * BATCH * dim, K, 0, NULL, threads, fd,
                            fl, err, sizeof err);
            lat[b] = now() - t;
        }
        ffb = timed(lat, nb);
        fk__faiss_free(flat);
        free(fd);
        free(fl);
        openblas_set_num_threads(1);
        printf("faiss IndexFlatIP: single p50 %.3f ms p99 %.3f ms; batch-%d p50 %.2f ms "
               "p99 %.2f ms; top-1 == facekit exact top-1: %s (copy freed)\n",
               ff1.p50 * 1e3, ff1.p99 * 1e3, BATCH, ffb.p50 * 1e3, ffb.p99 * 1e3,
               flat_agree ? "yes" : "NO");
        printf("ratios (p50) faiss flat / facekit exact: single %.2f, batch of %d %.2f "
               "(target >= 1.0)\n",
               ff1.p50 / fx1.p50, BATCH, ffb.p50 / fxb.p50);
        fflush(stdout);
    }

    /* ---- facekit ANN (the gallery's code on an in-memory gallery) ---- */
    ann_row ann[2 * 8];
    int nann = 0;
    for (int i = 0; i < nkinds; i++, nann += nefforts)
        run_ann(kinds[i], efforts, nefforts, matrix, rows, dim, threads, q, nq, truth, lat,
                ann + nann);

    /* ---- report ---- */
    printf("\n| search | build | single p50 | single p99 | batch-%d p50 (per query) | "
           "batch-%d p99 | recall@1 | recall@10 | memory |\n",
           BATCH, BATCH);
    printf("|---|---|---|---|---|---|---|---|---|\n");
    printf("| facekit exact | - | %.3f ms | %.3f ms | %.2f ms (%.3f) | %.2f ms | 1 | 1 | "
           "%.0f MiB (matrix) |\n",
           fx1.p50 * 1e3, fx1.p99 * 1e3, fxb.p50 * 1e3, fxb.p50 * 1e3 / BATCH, fxb.p99 * 1e3,
           rss_matrix);
    if (with_flat)
        printf("| faiss IndexFlatIP | %.2f s | %.3f ms | %.3f ms | %.2f ms (%.3f) | %.2f ms | - "
               "| - | %.0f MiB |\n",
               flat_build, ff1.p50 * 1e3, ff1.p99 * 1e3, ffb.p50 * 1e3, ffb.p50 * 1e3 / BATCH,
               ffb.p99 * 1e3, rss_flat);
    for (int i = 0; i < nann; i++)
        printf("| facekit ANN (%s%s) | %.1f s (+ save %.1f s, load %.1f s) | %.3f ms | %.3f ms | "
               "%.2f ms (%.3f) | %.2f ms | %.3f | %.3f | %.0f MiB (file %.0f MiB) |\n",
               fk__gallery_ann_kind_name(ann[i].kind), effort_name(ann[i].effort), ann[i].build, ann[i].save, ann[i].load,
               ann[i].one.p50 * 1e3, ann[i].one.p99 * 1e3, ann[i].batch.p50 * 1e3,
               ann[i].batch.p50 * 1e3 / BATCH, ann[i].batch.p99 * 1e3, ann[i].r1, ann[i].r10,
               ann[i].mem, ann[i].file);
    printf("\nratios (p50):\n");
    if (with_flat) {
        printf("  faiss flat / facekit exact, single query: %.2f  (target >= 1.0)\n",
               ff1.p50 / fx1.p50);
        printf("  faiss flat / facekit exact, batch of %d:  %.2f  (target >= 1.0)\n", BATCH,
               ffb.p50 / fxb.p50);
    }
    for (int i = 0; i < nann; i++) {
        const char *name = fk__gallery_ann_kind_name(ann[i].kind);
        const char *eff = effort_name(ann[i].effort);
        printf("  facekit exact / facekit ANN (%s%s), single query: %.1f at recall@10 %.3f  "
               "(target >= 20 at recall@10 >= 0.95 on 1M rows)\n",
               name, eff, fx1.p50 / ann[i].one.p50, ann[i].r10);
        printf("  facekit exact / facekit ANN (%s%s), batch of %d:  %.1f\n", name, eff, BATCH,
               fxb.p50 / ann[i].batch.p50);
    }
    printf("checks: %sbatch top-1 == single top-1: %s\n",
           with_flat ? (flat_agree ? "faiss flat top-1 == facekit exact top-1: yes; "
                                   : "faiss flat top-1 == facekit exact top-1: NO; ")
                     : "",
           batch_agree ? "yes" : "NO");

    fk__pool_free(pool);
    free(matrix);
    free(q);
    free(idx);
    free(key);
    free(lat);
    free(truth);
    free(bidx);
    free(bkey);
    return flat_agree && batch_agree ? 0 : 1;
}
