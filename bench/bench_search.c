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
 * Exact search runs fk_gallery_topk / fk_gallery_topk_batch on facekit's
 * pool; ANN runs the gallery's own ANN code (gallery_ann.c: faiss HNSW or
 * IVF-PQ, candidates re-ranked exactly), its file written to a temporary
 * folder and read back once to time the load. faiss gets the same number
 * of threads for OpenMP and for OpenBLAS (its flat search of a batch is an
 * sgemm); facekit's calls run OpenBLAS single-threaded inside its pool.
 *
 * Usage: bench_search [--rows N] [--dim D] [--queries Q] [--ann hnsw|ivfpq]
 *                     [--threads T] [--quick]
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gallery/gallery.h"
#include "gallery/gallery_ann.h"
#include "nn/threadpool.h"

#define BATCH 64
#define K 10

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

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

int main(int argc, char **argv) {
    long rows = 100000;
    int dim = 128, nq = 200, threads = 0, kind = FK_FAISS_HNSW;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            rows = 20000;
            nq = 128;
        } else if (!strcmp(a, "--rows") && v) rows = atol(argv[++i]);
        else if (!strcmp(a, "--dim") && v) dim = atoi(argv[++i]);
        else if (!strcmp(a, "--queries") && v) nq = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && v) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--ann") && v) {
            const char *k = argv[++i];
            if (!strcmp(k, "hnsw")) kind = FK_FAISS_HNSW;
            else if (!strcmp(k, "ivfpq")) kind = FK_FAISS_IVFPQ;
            else {
                fprintf(stderr, "bench_search: --ann hnsw|ivfpq\n");
                return 2;
            }
        } else {
            fprintf(stderr, "usage: bench_search [--rows N] [--dim D] [--queries Q] "
                            "[--ann hnsw|ivfpq] [--threads T] [--quick]\n");
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
    printf("bench_search: %ld rows x %d dims, %d queries, top-%d, %d threads, ANN %s; "
           "load average %.2f %.2f %.2f\n",
           rows, dim, nq, K, threads, fk_gallery_ann_kind_name(kind), load[0], load[1],
           load[2]);

    /* ---- data ---- */
    double rss0 = rss_mib();
    double t = now();
    int ids = (int)(rows / 10 > 1 ? rows / 10 : 1);
    uint64_t seed = 42;
    float *centers = xmalloc((size_t)ids * dim * sizeof *centers);
    for (size_t i = 0; i < (size_t)ids * dim; i++) centers[i] = frand(&seed);
    float *matrix = xmalloc((size_t)rows * dim * sizeof *matrix);
    for (long r = 0; r < rows; r++) sample(centers, (int)(r % ids), dim, &seed, matrix + (size_t)r * dim);
    float *q = xmalloc((size_t)nq * dim * sizeof *q);
    for (int i = 0; i < nq; i++)
        sample(centers, (int)((uint64_t)(i * 2654435761u) % (uint64_t)ids), dim, &seed,
               q + (size_t)i * dim);
    free(centers);
    double rss_matrix = rss_mib() - rss0;
    printf("data: %.1f s to generate; facekit matrix %.0f MiB\n", now() - t, rss_matrix);

    fk_pool *pool = NULL;
    if (fk_pool_new(threads, &pool) != FK_OK) die_fk("pool");
    int *idx = xmalloc((size_t)nq * K * sizeof *idx);
    float *key = xmalloc((size_t)nq * K * sizeof *key);
    int *got = xmalloc((size_t)nq * sizeof *got);
    double *lat = xmalloc((size_t)nq * sizeof *lat);
    int nb = nq / BATCH;

    /* ---- facekit exact ---- */
    openblas_set_num_threads(1);
    fk_gallery_topk(pool, matrix, NULL, NULL, (int)rows, dim, q, K, idx, key); /* warm-up */
    for (int i = 0; i < nq; i++) {
        t = now();
        fk_gallery_topk(pool, matrix, NULL, NULL, (int)rows, dim, q + (size_t)i * dim, K,
                        idx + (size_t)i * K, key + (size_t)i * K);
        lat[i] = now() - t;
    }
    double fx1_p50 = pct(lat, nq, 50), fx1_p99 = pct(lat, nq, 99);
    int *truth = xmalloc((size_t)nq * K * sizeof *truth); /* exact top-10 rows */
    memcpy(truth, idx, (size_t)nq * K * sizeof *idx);
    int *bidx = xmalloc((size_t)BATCH * K * sizeof *bidx);
    float *bkey = xmalloc((size_t)BATCH * K * sizeof *bkey);
    int bgot[BATCH];
    int batch_agree = 1;
    fk_gallery_topk_batch(pool, matrix, NULL, (int)rows, dim, q, BATCH, K, bidx, bkey, bgot);
    for (int b = 0; b < nb; b++) {
        t = now();
        fk_gallery_topk_batch(pool, matrix, NULL, (int)rows, dim, q + (size_t)b * BATCH * dim,
                              BATCH, K, bidx, bkey, bgot);
        lat[b] = now() - t;
        for (int i = 0; i < BATCH; i++)
            batch_agree &= bidx[i * K] == truth[((size_t)b * BATCH + i) * K];
    }
    double fxb_p50 = pct(lat, nb, 50), fxb_p99 = pct(lat, nb, 99);

    /* ---- faiss IndexFlatIP ---- */
    char err[256];
    fk_faiss *flat = NULL;
    fk_faiss_params fp = {FK_FAISS_FLAT, dim, 0, 0, 0, 0, 0};
    double rss1 = rss_mib();
    t = now();
    if (fk_faiss_new(&fp, &flat, err, sizeof err) != FK_OK ||
        fk_faiss_add(flat, rows, matrix, threads, err, sizeof err) != FK_OK) {
        fprintf(stderr, "bench_search: %s\n", err);
        return 1;
    }
    double flat_build = now() - t, rss_flat = rss_mib() - rss1;
    openblas_set_num_threads(threads);
    float *fd = xmalloc((size_t)BATCH * K * sizeof *fd);
    int64_t *fl = xmalloc((size_t)BATCH * K * sizeof *fl);
    int flat_agree = 1;
    fk_faiss_search(flat, 1, q, K, 0, NULL, threads, fd, fl, err, sizeof err);
    for (int i = 0; i < nq; i++) {
        t = now();
        fk_faiss_search(flat, 1, q + (size_t)i * dim, K, 0, NULL, threads, fd, fl, err,
                        sizeof err);
        lat[i] = now() - t;
        flat_agree &= fl[0] == truth[(size_t)i * K];
    }
    double ff1_p50 = pct(lat, nq, 50), ff1_p99 = pct(lat, nq, 99);
    fk_faiss_search(flat, BATCH, q, K, 0, NULL, threads, fd, fl, err, sizeof err);
    for (int b = 0; b < nb; b++) {
        t = now();
        fk_faiss_search(flat, BATCH, q + (size_t)b * BATCH * dim, K, 0, NULL, threads, fd, fl,
                        err, sizeof err);
        lat[b] = now() - t;
    }
    double ffb_p50 = pct(lat, nb, 50), ffb_p99 = pct(lat, nb, 99);
    fk_faiss_free(flat);
    openblas_set_num_threads(1);

    /* ---- facekit ANN (the gallery's code on an in-memory gallery) ---- */
    char dir[] = "/tmp/fk_bench_search_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    fk_gallery *g = calloc(1, sizeof *g);
    if (!g) return 1;
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
    g->use_ann = 1;
    g->ann_kind = kind;
    g->be = &fk_gallery_sqlite_backend; /* only its local_file flag is read: save/load the index */
    double rss2 = rss_mib();
    int use = 0;
    if (fk_gallery_ann_sync(g, &use) != FK_OK || !use) die_fk("building the ANN index");
    double rss_ann = rss_mib() - rss2;
    fk_gallery_ann_info info;
    fk_gallery_ann_info_get(g, &info);
    if (info.note[0]) printf("note: %s\n", info.note);
    char path[PATH_MAX + 64];
    fk_gallery_ann_path(g, path, sizeof path);
    struct stat sb;
    double file_mib = stat(path, &sb) == 0 ? (double)sb.st_size / (1024.0 * 1024.0) : 0;
    /* Read it back, as the next process would. */
    fk_gallery_ann_free(g->ann);
    g->ann = NULL;
    if (fk_gallery_ann_sync(g, &use) != FK_OK) die_fk("loading the ANN index");
    fk_gallery_ann_info linfo;
    fk_gallery_ann_info_get(g, &linfo);

    int *arow = xmalloc((size_t)nq * K * sizeof *arow);
    float *akey = xmalloc((size_t)nq * K * sizeof *akey);
    int *agot = xmalloc((size_t)nq * sizeof *agot);
    fk_gallery_ann_search(g, 1, q, K, 0, arow, akey, agot);
    for (int i = 0; i < nq; i++) {
        t = now();
        if (fk_gallery_ann_search(g, 1, q + (size_t)i * dim, K, 0, arow + (size_t)i * K,
                                  akey + (size_t)i * K, agot + i) != FK_OK)
            die_fk("ANN search");
        lat[i] = now() - t;
    }
    double an1_p50 = pct(lat, nq, 50), an1_p99 = pct(lat, nq, 99);
    int hit1 = 0, hit10 = 0;
    for (int i = 0; i < nq; i++) {
        hit1 += arow[(size_t)i * K] == truth[(size_t)i * K];
        for (int a = 0; a < K; a++)
            for (int b = 0; b < K; b++) hit10 += arow[(size_t)i * K + a] == truth[(size_t)i * K + b];
    }
    for (int b = 0; b < nb; b++) {
        t = now();
        fk_gallery_ann_search(g, BATCH, q + (size_t)b * BATCH * dim, K, 0, arow, akey, agot);
        lat[b] = now() - t;
    }
    double anb_p50 = pct(lat, nb, 50), anb_p99 = pct(lat, nb, 99);
    double r1 = (double)hit1 / nq, r10 = (double)hit10 / ((double)nq * K);

    /* ---- report ---- */
    printf("\n| search | build | single p50 | single p99 | batch-%d p50 (per query) | "
           "batch-%d p99 | recall@1 | recall@10 | memory |\n",
           BATCH, BATCH);
    printf("|---|---|---|---|---|---|---|---|---|\n");
    printf("| facekit exact | - | %.3f ms | %.3f ms | %.2f ms (%.3f) | %.2f ms | 1 | 1 | "
           "%.0f MiB (matrix) |\n",
           fx1_p50 * 1e3, fx1_p99 * 1e3, fxb_p50 * 1e3, fxb_p50 * 1e3 / BATCH, fxb_p99 * 1e3,
           rss_matrix);
    printf("| faiss IndexFlatIP | %.2f s | %.3f ms | %.3f ms | %.2f ms (%.3f) | %.2f ms | - | - | "
           "%.0f MiB |\n",
           flat_build, ff1_p50 * 1e3, ff1_p99 * 1e3, ffb_p50 * 1e3, ffb_p50 * 1e3 / BATCH,
           ffb_p99 * 1e3, rss_flat);
    printf("| facekit ANN (%s) | %.1f s (+ save %.1f s, load %.1f s) | %.3f ms | %.3f ms | "
           "%.2f ms (%.3f) | %.2f ms | %.3f | %.3f | %.0f MiB (file %.0f MiB) |\n",
           fk_gallery_ann_kind_name(kind), info.build_seconds, info.save_seconds,
           linfo.load_seconds, an1_p50 * 1e3, an1_p99 * 1e3, anb_p50 * 1e3,
           anb_p50 * 1e3 / BATCH, anb_p99 * 1e3, r1, r10, rss_ann, file_mib);
    printf("\nratios (p50):\n");
    printf("  faiss flat / facekit exact, single query: %.2f  (target >= 1.0)\n",
           ff1_p50 / fx1_p50);
    printf("  faiss flat / facekit exact, batch of %d:  %.2f  (target >= 1.0)\n", BATCH,
           ffb_p50 / fxb_p50);
    printf("  facekit exact / facekit ANN, single query: %.1f  (target >= 20 at recall@10 >= "
           "0.95 on 1M rows)\n",
           fx1_p50 / an1_p50);
    printf("  facekit exact / facekit ANN, batch of %d:  %.1f\n", BATCH, fxb_p50 / anb_p50);
    printf("checks: faiss flat top-1 == facekit exact top-1: %s; batch top-1 == single "
           "top-1: %s\n",
           flat_agree ? "yes" : "NO", batch_agree ? "yes" : "NO");

    unlink(path);
    rmdir(dir);
    fk_gallery_ann_free(g->ann);
    free(g->face_ids);
    free(g->image_ids);
    free(g);
    fk_pool_free(pool);
    free(matrix);
    free(q);
    free(idx);
    free(key);
    free(got);
    free(lat);
    free(truth);
    free(bidx);
    free(bkey);
    free(fd);
    free(fl);
    free(arow);
    free(akey);
    free(agot);
    return flat_agree && batch_agree ? 0 : 1;
}
