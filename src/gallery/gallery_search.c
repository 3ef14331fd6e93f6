/*
 * gallery_search.c - exact 1:N search: the gallery's embeddings as one
 * contiguous float matrix, dot products against a query, top-k.
 *
 * For cosine, euclidean_l2 and angular the rows are stored unit-length, so
 * every distance is a monotone function of the dot product and ranking is
 * by -dot. For euclidean, |q - x|^2 = |q|^2 + |x|^2 - 2 q.x, so ranking is
 * by |x|^2 - 2 q.x with |x|^2 precomputed. A single query splits the rows
 * into one chunk per thread; each keeps its own top-k in a max-heap and the
 * chunk results are merged. A batch of queries makes one pass over the
 * matrix (see "batched top-k" below). Distances are then computed from the
 * dot products.
 */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FK_X86 1
#endif

#include "core/cpu.h"
#include "core/error.h"
#include "core/threadpool.h"
#include "gallery/gallery.h"
#include "gallery/gallery_ann.h"

/* ---- dot products ------------------------------------------------------- */

static float dot_plain(const float *a, const float *b, int n) {
    /* Eight independent sums let the compiler vectorize and hide latency. */
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += a[i + k] * b[i + k];
    float t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (; i < n; i++) t += a[i] * b[i];
    return t;
}

#ifdef FK_X86
__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b,
                                                          int n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s0 = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    float t = _mm_cvtss_f32(h);
    for (; i < n; i++) t += a[i] * b[i];
    return t;
}
#endif

typedef float (*dot_fn)(const float *, const float *, int);

/* Chosen once: AVX2+FMA when the CPU has it (FK_NO_AVX2=1 turns it
 * off, like the nn kernels). */
static dot_fn pick_dot(void) {
#ifdef FK_X86
    if (fk__cpu_avx2()) return dot_avx2;
#endif
    return dot_plain;
}

float fk__gallery_dot(const float *a, const float *b, int n) {
    static dot_fn fn;
    if (!fn) fn = pick_dot(); /* benign race: every thread picks the same */
    return fn(a, b, n);
}

/* ---- top-k -------------------------------------------------------------- */

/* A max-heap of (key, idx) of at most k entries: the root is the worst of
 * the best k seen so far. */
typedef struct heap {
    float *key;
    int *idx;
    int size, cap;
} heap;

static void heap_sift_down(heap *h, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->size && h->key[l] > h->key[m]) m = l;
        if (r < h->size && h->key[r] > h->key[m]) m = r;
        if (m == i) return;
        float tk = h->key[i];
        int ti = h->idx[i];
        h->key[i] = h->key[m];
        h->idx[i] = h->idx[m];
        h->key[m] = tk;
        h->idx[m] = ti;
        i = m;
    }
}

static void heap_push(heap *h, float key, int idx) {
    if (h->size < h->cap) {
        int i = h->size++;
        while (i > 0) { /* sift up */
            int p = (i - 1) / 2;
            if (h->key[p] >= key) break;
            h->key[i] = h->key[p];
            h->idx[i] = h->idx[p];
            i = p;
        }
        h->key[i] = key;
        h->idx[i] = idx;
    } else if (key < h->key[0]) {
        h->key[0] = key;
        h->idx[0] = idx;
        heap_sift_down(h, 0);
    }
}

typedef struct topk_job {
    const float *matrix, *bias, *q;
    const unsigned char *skip;
    int n, dim, chunks;
    heap *heaps; /* one per chunk */
} topk_job;

int fk__gallery_cmp_ranked(const void *a, const void *b) {
    const fk__gallery_ranked *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->idx - y->idx; /* ties: the earlier row first, deterministic */
}

/* Pool callback: chunks [begin, end) of the rows. */
static void topk_chunks(void *arg, long begin, long end) {
    topk_job *j = arg;
    for (long c = begin; c < end; c++) {
        long r0 = (long)j->n * c / j->chunks, r1 = (long)j->n * (c + 1) / j->chunks;
        heap *h = &j->heaps[c];
        for (long r = r0; r < r1; r++) {
            if (j->skip && j->skip[r]) continue;
            float d = fk__gallery_dot(j->q, j->matrix + (size_t)r * j->dim, j->dim);
            heap_push(h, j->bias ? j->bias[r] - 2 * d : -d, (int)r);
        }
    }
}


int fk__gallery_topk(fk_pool *pool, const float *matrix, const float *bias,
                    const unsigned char *skip, int n, int dim, const float *q, int k,
                    int *idx, float *key) {
    if (n <= 0 || k <= 0) return 0;
    if (k > n) k = n;
    /* Below ~8k rows one thread is faster than waking the pool. */
    int threads = pool ? fk__pool_threads(pool) : 1;
    int chunks = n >= 8192 ? threads : 1;
    heap *heaps = calloc((size_t)chunks, sizeof *heaps);
    float *keys = malloc((size_t)chunks * k * sizeof *keys);
    int *idxs = malloc((size_t)chunks * k * sizeof *idxs);
    fk__gallery_ranked *all = malloc((size_t)chunks * k * sizeof *all);
    int got = 0;
    if (heaps && keys && idxs && all) {
        for (int c = 0; c < chunks; c++)
            heaps[c] = (heap){keys + (size_t)c * k, idxs + (size_t)c * k, 0, k};
        topk_job j = {matrix, bias, q, skip, n, dim, chunks, heaps};
        if (chunks > 1) fk__pool_run(pool, chunks, 1, topk_chunks, &j);
        else topk_chunks(&j, 0, 1);
        int m = 0;
        for (int c = 0; c < chunks; c++)
            for (int i = 0; i < heaps[c].size; i++)
                all[m++] = (fk__gallery_ranked){heaps[c].key[i], heaps[c].idx[i]};
        qsort(all, (size_t)m, sizeof *all, fk__gallery_cmp_ranked);
        got = m < k ? m : k;
        for (int i = 0; i < got; i++) {
            idx[i] = all[i].idx;
            key[i] = all[i].key;
        }
    } else {
        got = -1;
    }
    free(heaps);
    free(keys);
    free(idxs);
    free(all);
    return got;
}

/* ---- batched top-k --------------------------------------------------------
 *
 * nq queries against the whole matrix in one pass over it. The rows are cut
 * into blocks that the pool's threads take one at a time from a shared
 * counter (a thread slowed by other work on the machine simply takes fewer
 * blocks); every thread ("slot") keeps its own heap per query, merged at
 * the end.
 *
 * With AVX2+FMA the scores come from a register-tiled kernel: 6 rows x 16
 * queries of dot products held in 12 vector registers, the queries
 * transposed (dim x 16-query groups) so that a row's element is broadcast
 * against 16 queries at once. Each finished tile is compared, 8 queries per
 * instruction, with every query's admission bound (its k-th best key so
 * far, +inf while its heap is not full); only the rare score that beats it
 * touches a heap. No score buffer, no packing of the matrix: it is read
 * once, straight from memory. Without AVX2 (or FK_NO_AVX2=1) a block
 * of rows is scored against every query with one sgemm (OpenBLAS,
 * single-threaded inside the pool; see sgemm_abt) and read back through the
 * same bound. */

#define TILE_R 6  /* rows per register tile */
#define TILE_Q 16 /* queries per register tile: two 8-float vectors */

/* Rows a thread takes at a time: a multiple of TILE_R, about 256 KB of
 * rows (and for the sgemm path a score buffer of nq x block floats). */
static int batch_block(int dim) {
    int b = 65536 / (dim > 0 ? dim : 1);
    b = b < 96 ? 96 : b > 1536 ? 1536 : b;
    return b / TILE_R * TILE_R;
}

typedef struct batch_job {
    const float *matrix, *bias, *q;
    const float *qt;      /* tiled path: dim x nqp, queries transposed, zero-padded */
    int n, dim, nq, nqp, k, slots, block, tiled;
    long nblocks;
    atomic_long next;     /* next block to take */
    heap *heaps;          /* slots x nq */
    float *worst;         /* slots x nqp: admission bound per heap; -inf for padding */
    float *scores;        /* sgemm path: slots x nq x block */
} batch_job;

/* Offer row r with key `key` to query qi's heap of slot (hs, worst). */
static inline void batch_offer(heap *hs, float *worst, int qi, float key, long r) {
    if (!(key < worst[qi])) return;
    heap *h = &hs[qi];
    heap_push(h, key, (int)r);
    worst[qi] = h->size < h->cap ? INFINITY : h->key[0];
}

#ifdef FK_X86
/* Compare one row's 16 scores (s0: queries g..g+7, s1: g+8..g+15) with the
 * bounds and offer the ones that pass. */
__attribute__((target("avx2,fma"))) static inline void
tile_admit(const batch_job *j, heap *hs, float *worst, long r, int g, __m256 s0, __m256 s1) {
    __m256 k0, k1;
    if (j->bias) {
        __m256 b = _mm256_set1_ps(j->bias[r]), two = _mm256_set1_ps(2.0f);
        k0 = _mm256_fnmadd_ps(two, s0, b);
        k1 = _mm256_fnmadd_ps(two, s1, b);
    } else {
        __m256 neg = _mm256_set1_ps(-0.0f);
        k0 = _mm256_xor_ps(s0, neg);
        k1 = _mm256_xor_ps(s1, neg);
    }
    int m = _mm256_movemask_ps(_mm256_cmp_ps(k0, _mm256_loadu_ps(worst + g), _CMP_LT_OQ)) |
            _mm256_movemask_ps(_mm256_cmp_ps(k1, _mm256_loadu_ps(worst + g + 8), _CMP_LT_OQ))
                << 8;
    if (!m) return;
    float key[TILE_Q];
    _mm256_storeu_ps(key, k0);
    _mm256_storeu_ps(key + 8, k1);
    while (m) {
        int i = __builtin_ctz((unsigned)m);
        m &= m - 1;
        batch_offer(hs, worst, g + i, key[i], r);
    }
}

/* Rows [r0, r1) against every query, tile by tile. */
__attribute__((target("avx2,fma"))) static void batch_scan_avx2(const batch_job *j, heap *hs,
                                                                float *worst, long r0,
                                                                long r1) {
    const int dim = j->dim, nqp = j->nqp;
    long r = r0;
    for (; r + TILE_R <= r1; r += TILE_R) {
        const float *a0 = j->matrix + (size_t)r * dim;
        const float *a1 = a0 + dim, *a2 = a1 + dim, *a3 = a2 + dim, *a4 = a3 + dim,
                    *a5 = a4 + dim;
        for (int g = 0; g < nqp; g += TILE_Q) {
            __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,
                   c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
            const float *b = j->qt + g;
            for (int d = 0; d < dim; d++, b += nqp) {
                __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), x;
                x = _mm256_broadcast_ss(a0 + d);
                c00 = _mm256_fmadd_ps(x, b0, c00);
                c01 = _mm256_fmadd_ps(x, b1, c01);
                x = _mm256_broadcast_ss(a1 + d);
                c10 = _mm256_fmadd_ps(x, b0, c10);
                c11 = _mm256_fmadd_ps(x, b1, c11);
                x = _mm256_broadcast_ss(a2 + d);
                c20 = _mm256_fmadd_ps(x, b0, c20);
                c21 = _mm256_fmadd_ps(x, b1, c21);
                x = _mm256_broadcast_ss(a3 + d);
                c30 = _mm256_fmadd_ps(x, b0, c30);
                c31 = _mm256_fmadd_ps(x, b1, c31);
                x = _mm256_broadcast_ss(a4 + d);
                c40 = _mm256_fmadd_ps(x, b0, c40);
                c41 = _mm256_fmadd_ps(x, b1, c41);
                x = _mm256_broadcast_ss(a5 + d);
                c50 = _mm256_fmadd_ps(x, b0, c50);
                c51 = _mm256_fmadd_ps(x, b1, c51);
            }
            tile_admit(j, hs, worst, r, g, c00, c01);
            tile_admit(j, hs, worst, r + 1, g, c10, c11);
            tile_admit(j, hs, worst, r + 2, g, c20, c21);
            tile_admit(j, hs, worst, r + 3, g, c30, c31);
            tile_admit(j, hs, worst, r + 4, g, c40, c41);
            tile_admit(j, hs, worst, r + 5, g, c50, c51);
        }
    }
    for (; r < r1; r++) { /* the last rows of the matrix, one at a time */
        const float *a = j->matrix + (size_t)r * dim;
        for (int g = 0; g < nqp; g += TILE_Q) {
            __m256 c0 = _mm256_setzero_ps(), c1 = c0;
            const float *b = j->qt + g;
            for (int d = 0; d < dim; d++, b += nqp) {
                __m256 x = _mm256_broadcast_ss(a + d);
                c0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b), c0);
                c1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b + 8), c1);
            }
            tile_admit(j, hs, worst, r, g, c0, c1);
        }
    }
}
#endif

/* OpenBLAS from several threads. Debian's serial OpenBLAS (built without
 * USE_LOCKING) returns wrong products when two threads call sgemm at once;
 * the pthread flavour is safe once limited to one internal thread, which
 * also keeps it from starting threads of its own under the pool's. The nn
 * kernels make the same decision (kernels_conv.c records the measurement);
 * OpenBLAS is a library both layers use, not a layer, so the gallery calls
 * it directly and asks it what it is on its own. Decided once. */
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static int blas_serialise;
static pthread_mutex_t blas_lock = PTHREAD_MUTEX_INITIALIZER;

static void blas_setup(void) {
    /* 0: sequential build (not re-entrant); 1: pthreads; 2: OpenMP. */
    if (openblas_get_parallel() == 0) blas_serialise = 1;
    else openblas_set_num_threads(1);
}

/* Row-major C[m][n] = A[m][k] . B[n][k]^T, packed (lda = ldb = k, ldc = n). */
static void sgemm_abt(int m, int n, int k, const float *a, const float *b, float *c) {
    pthread_once(&blas_once, blas_setup);
    if (blas_serialise) pthread_mutex_lock(&blas_lock);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c,
                n);
    if (blas_serialise) pthread_mutex_unlock(&blas_lock);
}

/* Rows [r0, r1) scored with one sgemm into sc (nq x (r1 - r0)). */
static void batch_scan_sgemm(const batch_job *j, heap *hs, float *worst, float *sc, long r0,
                             long r1) {
    int nb = (int)(r1 - r0);
    sgemm_abt(j->nq, nb, j->dim, j->q, j->matrix + (size_t)r0 * j->dim, sc);
    for (int qi = 0; qi < j->nq; qi++) {
        const float *row = sc + (size_t)qi * nb;
        for (int i = 0; i < nb; i++) {
            float key = j->bias ? j->bias[r0 + i] - 2 * row[i] : -row[i];
            if (key < worst[qi]) batch_offer(hs, worst, qi, key, r0 + i);
        }
    }
}

/* Pool callback: slots [begin, end); each takes blocks until none are left. */
static void batch_slots(void *arg, long begin, long end) {
    batch_job *j = arg;
    for (long c = begin; c < end; c++) {
        heap *hs = j->heaps + (size_t)c * j->nq;
        float *worst = j->worst + (size_t)c * j->nqp;
        for (;;) {
            long b = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
            if (b >= j->nblocks) break;
            long r0 = b * j->block, r1 = r0 + j->block < j->n ? r0 + j->block : j->n;
#ifdef FK_X86
            if (j->tiled) {
                batch_scan_avx2(j, hs, worst, r0, r1);
                continue;
            }
#endif
            batch_scan_sgemm(j, hs, worst, j->scores + (size_t)c * j->nq * j->block, r0, r1);
        }
    }
}

/* The tiled kernel is used when the CPU has AVX2+FMA and FK_NO_AVX2 is
 * not 1 (read on every call, so a test can compare both paths). */
static int batch_tiled(void) {
#ifdef FK_X86
    return fk__cpu_avx2();
#else
    return 0;
#endif
}

int fk__gallery_topk_batch(fk_pool *pool, const float *matrix, const float *bias, int n,
                          int dim, const float *q, int nq, int k, int *idx, float *key,
                          int *got) {
    if (nq <= 0) return 0;
    if (n <= 0 || k <= 0) {
        for (int i = 0; i < nq; i++) got[i] = 0;
        return 0;
    }
    int kk = k < n ? k : n;
    int threads = pool ? fk__pool_threads(pool) : 1;
    int slots = n >= 8192 ? threads : 1;
    int tiled = batch_tiled();
    int block = batch_block(dim);
    int nqp = tiled ? (nq + TILE_Q - 1) / TILE_Q * TILE_Q : nq;
    size_t nh = (size_t)slots * nq;
    heap *heaps = calloc(nh, sizeof *heaps);
    float *keys = malloc(nh * kk * sizeof *keys);
    int *idxs = malloc(nh * kk * sizeof *idxs);
    float *worst = malloc((size_t)slots * nqp * sizeof *worst);
    float *qt = tiled ? calloc((size_t)dim * nqp, sizeof *qt) : NULL;
    float *scores = tiled ? NULL : malloc((size_t)slots * nq * block * sizeof *scores);
    fk__gallery_ranked *all = malloc((size_t)slots * kk * sizeof *all);
    int rc = -1;
    if (heaps && keys && idxs && worst && (tiled ? qt != NULL : scores != NULL) && all) {
        for (size_t h = 0; h < nh; h++)
            heaps[h] = (heap){keys + h * kk, idxs + h * kk, 0, kk};
        for (int c = 0; c < slots; c++)
            for (int i = 0; i < nqp; i++)
                worst[(size_t)c * nqp + i] = i < nq ? INFINITY : -INFINITY;
        if (tiled)
            for (int i = 0; i < nq; i++)
                for (int d = 0; d < dim; d++) qt[(size_t)d * nqp + i] = q[(size_t)i * dim + d];
        batch_job j = {.matrix = matrix, .bias = bias, .q = q, .qt = qt, .n = n, .dim = dim,
                       .nq = nq, .nqp = nqp, .k = kk, .slots = slots, .block = block,
                       .tiled = tiled, .nblocks = (n + (long)block - 1) / block,
                       .heaps = heaps, .worst = worst, .scores = scores};
        atomic_init(&j.next, 0);
        if (slots > 1) fk__pool_run(pool, slots, 1, batch_slots, &j);
        else batch_slots(&j, 0, 1);
        for (int qi = 0; qi < nq; qi++) {
            int m = 0;
            for (int c = 0; c < slots; c++) {
                heap *h = &heaps[(size_t)c * nq + qi];
                for (int i = 0; i < h->size; i++) all[m++] = (fk__gallery_ranked){h->key[i], h->idx[i]};
            }
            qsort(all, (size_t)m, sizeof *all, fk__gallery_cmp_ranked);
            got[qi] = m < kk ? m : kk;
            for (int i = 0; i < k; i++) {
                idx[(size_t)qi * k + i] = i < got[qi] ? all[i].idx : -1;
                key[(size_t)qi * k + i] = i < got[qi] ? all[i].key : INFINITY;
            }
        }
        rc = 0;
    }
    free(heaps);
    free(keys);
    free(idxs);
    free(worst);
    free(qt);
    free(scores);
    free(all);
    return rc;
}

/* ---- the matrix --------------------------------------------------------- */

static int metric_is_euclidean(const fk_gallery *g) {
    return strcmp(g->opt.metric, "euclidean") == 0;
}

/* Scale v to unit length (a zero vector stays zero). */
static void normalize(float *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
    if (s <= 0) return;
    float inv = (float)(1 / sqrt(s));
    for (int i = 0; i < n; i++) v[i] *= inv;
}

/* Load (or reload when the gallery changed) this configuration's
 * embeddings: the backend's generation is asked first (cheap), and the rows
 * are read only when it moved or this handle wrote. */
static fk_status load_matrix(fk_gallery *g) {
    int64_t version = 0;
    fk_status st = g->be->generation(g, &version);
    if (st != FK_OK) return st;
    if (g->cache_valid && version == g->cache_data_version) return FK_OK;
    fk__gallery_drop_cache(g);
    st = g->be->load_rows(g, &version);
    if (st != FK_OK) {
        fk__gallery_drop_cache(g);
        return st;
    }
    int euclid = metric_is_euclidean(g);
    for (int r = 0; r < g->n; r++) {
        float *row = g->matrix + (size_t)r * g->dim;
        if (!euclid) normalize(row, g->dim);
        g->sqnorm[r] = fk__gallery_dot(row, row, g->dim);
    }
    g->cache_valid = 1;
    g->cache_data_version = version;
    g->reloads++;
    g->cache_gen++;
    return FK_OK;
}

/* The distance under the handle's metric from a ranking key. */
static float key_to_distance(const fk_gallery *g, float key, float qsq) {
    const char *m = g->opt.metric;
    if (!strcmp(m, "euclidean")) return sqrtf(fmaxf(0, qsq + key));
    float cos = fminf(1, fmaxf(-1, -key));
    if (!strcmp(m, "cosine")) return 1 - cos;
    if (!strcmp(m, "euclidean_l2")) return sqrtf(fmaxf(0, 2 - 2 * cos));
    return (float)(acos(cos) / M_PI);
}

/* The largest ranking key a face within the threshold can have for a query
 * with |q|^2 = qsq (the inverse of key_to_distance), with a little room for
 * rounding: the matches are then filtered by their distance. */
static float key_bound(const fk_gallery *g, float qsq) {
    const char *m = g->opt.metric;
    float t = g->threshold, b;
    if (!strcmp(m, "euclidean")) b = t * t - qsq;
    else if (!strcmp(m, "cosine")) b = t - 1;
    else if (!strcmp(m, "euclidean_l2")) b = t * t / 2 - 1;
    else b = t >= 1 ? 1 : -cosf((float)M_PI * t);
    return b + 1e-4f * (1 + fabsf(b));
}

/* One query's candidate rows (matrix rows and ranking keys, closest
 * first) into matches: distances, threshold, the stored fields. within:
 * keep only those within the threshold. */
static fk_status fill_result(fk_gallery *g, const int *idx, const float *key, int count,
                             float qsq, int within, fk_gallery_result *r) {
    r->matches = calloc(count > 0 ? (size_t)count : 1, sizeof *r->matches);
    int64_t *ids = malloc((size_t)(count > 0 ? count : 1) * sizeof *ids);
    fk_status st = FK_OK;
    if (!r->matches || !ids) {
        free(ids);
        return fk__fail(FK_ENOMEM, "out of memory");
    }
    int m = 0;
    for (int i = 0; i < count; i++) {
        float d = key_to_distance(g, key[i], qsq);
        if (within && !(d <= g->threshold)) continue;
        r->matches[m].distance = d;
        r->matches[m].threshold = g->threshold;
        ids[m++] = g->face_ids[idx[i]];
    }
    r->count = m;
    st = g->be->fetch_matches(g, ids, m, r->matches);
    free(ids);
    return st;
}

/* top_k == 0 through the ANN index: ask for k candidates, and while some
 * query's k-th is still within the threshold and rows are left, ask again
 * for four times as many. */
static fk_status ann_within(fk_gallery *g, const float *q, const float *qsq, int nq,
                            int64_t exclude_image_id, fk_gallery_result *out) {
    int k = g->n < 32 ? g->n : 32;
    fk_status st = FK_OK;
    for (;;) {
        int *idx = malloc((size_t)nq * k * sizeof *idx);
        float *key = malloc((size_t)nq * k * sizeof *key);
        int *got = malloc((size_t)nq * sizeof *got);
        if (!idx || !key || !got) st = fk__fail(FK_ENOMEM, "out of memory");
        if (st == FK_OK) st = fk__gallery_ann_search(g, nq, q, k, exclude_image_id, idx, key, got);
        int more = 0;
        for (int i = 0; st == FK_OK && i < nq; i++)
            more |= got[i] == k && key_to_distance(g, key[(size_t)i * k + k - 1], qsq[i]) <=
                                       g->threshold;
        if (st == FK_OK && (!more || k >= g->n))
            for (int i = 0; st == FK_OK && i < nq; i++)
                st = fill_result(g, idx + (size_t)i * k, key + (size_t)i * k, got[i], qsq[i], 1,
                                 &out[i]);
        free(idx);
        free(key);
        free(got);
        if (st != FK_OK || !more || k >= g->n) return st;
        k = k > g->n / 4 ? g->n : k * 4;
    }
}

/* Search nq embeddings (nq x dim) into out[0..nq): exact or ANN as the
 * handle says; top_k == 0: every face within the threshold.
 * exclude_image_id > 0 is only used with nq == 1. */
static fk_status search_many(fk_gallery *g, const float *emb, int nq, int top_k,
                             int64_t exclude_image_id, fk_gallery_result *out) {
    int dim = g->dim;
    fk_status st = load_matrix(g);
    if (st != FK_OK) return st;
    for (int i = 0; i < nq; i++) out[i].method = "exact";
    if (g->n == 0) return fk__gallery_check_other_configs(g);
    if (nq == 0) return FK_OK;
    int use_ann = 0;
    if (g->use_ann) {
        st = fk__gallery_ann_sync(g, &use_ann);
        if (st != FK_OK) return st;
    }
    if (!g->pool && g->n >= 8192 && fk__pool_new(g->threads, &g->pool) != FK_OK) g->pool = NULL;

    int k = top_k > 0 && top_k < g->n ? top_k : g->n;
    float *q = malloc((size_t)nq * dim * sizeof *q);
    float *qsq = malloc((size_t)nq * sizeof *qsq);
    int *idx = NULL, *got = NULL;
    float *key = NULL;
    unsigned char *skip = NULL;
    if (!q || !qsq) {
        st = fk__fail(FK_ENOMEM, "out of memory");
        goto done;
    }
    memcpy(q, emb, (size_t)nq * dim * sizeof *q);
    int euclid = metric_is_euclidean(g);
    for (int i = 0; i < nq; i++) {
        float *qi = q + (size_t)i * dim;
        if (!euclid) normalize(qi, dim);
        qsq[i] = fk__gallery_dot(qi, qi, dim);
    }
    const float *bias = euclid ? g->sqnorm : NULL;
    if (use_ann)
        for (int i = 0; i < nq; i++) out[i].method = fk__gallery_ann_kind_name(g->ann_kind);
    if (exclude_image_id > 0 && !use_ann) {
        skip = calloc((size_t)g->n, 1);
        if (!skip) {
            st = fk__fail(FK_ENOMEM, "out of memory");
            goto done;
        }
        for (int i = 0; i < g->n; i++) skip[i] = g->image_ids[i] == exclude_image_id;
    }
    if (top_k == 0) {
        if (use_ann) {
            st = ann_within(g, q, qsq, nq, exclude_image_id, out);
            goto done;
        }
        /* Exact: one scan per query face against its bound. */
        for (int qi = 0; st == FK_OK && qi < nq; qi++) {
            int n = fk__gallery_within(g->pool, g->matrix, bias, skip, g->n, dim,
                                       q + (size_t)qi * dim, key_bound(g, qsq[qi]), &idx, &key);
            if (n < 0) st = fk__fail(FK_ENOMEM, "out of memory");
            else st = fill_result(g, idx, key, n, qsq[qi], 1, &out[qi]);
            free(idx);
            free(key);
            idx = NULL;
            key = NULL;
        }
        goto done;
    }
    idx = malloc((size_t)nq * k * sizeof *idx);
    key = malloc((size_t)nq * k * sizeof *key);
    got = malloc((size_t)nq * sizeof *got);
    if (!idx || !key || !got) {
        st = fk__fail(FK_ENOMEM, "out of memory");
        goto done;
    }
    if (use_ann) {
        st = fk__gallery_ann_search(g, nq, q, k, exclude_image_id, idx, key, got);
    } else if (nq == 1) {
        got[0] = fk__gallery_topk(g->pool, g->matrix, bias, skip, g->n, dim, q, k, idx, key);
        if (got[0] < 0) st = fk__fail(FK_ENOMEM, "out of memory");
    } else if (fk__gallery_topk_batch(g->pool, g->matrix, bias, g->n, dim, q, nq, k, idx, key,
                                     got) != 0) {
        st = fk__fail(FK_ENOMEM, "out of memory");
    }
    for (int qi = 0; st == FK_OK && qi < nq; qi++)
        st = fill_result(g, idx + (size_t)qi * k, key + (size_t)qi * k, got[qi], qsq[qi], 0,
                         &out[qi]);
done:
    free(q);
    free(qsq);
    free(idx);
    free(key);
    free(got);
    free(skip);
    return st;
}

fk_status fk_gallery_search_embedding(fk_gallery *g, const float *embedding, int dim,
                                      int top_k, int64_t exclude_image_id,
                                      fk_gallery_result *out) {
    fk__clear_error();
    if (!g || !embedding || !out || top_k < 0)
        return fk__fail(FK_EINVAL, "fk_gallery_search_embedding: bad arguments (top_k >= 0)");
    memset(out, 0, sizeof *out);
    if (dim != g->dim)
        return fk__fail(FK_EINVAL, "query embedding of dimension %d, the gallery's %s "
                       "embeddings have %d", dim, g->opt.model, g->dim);
    fk_status st = search_many(g, embedding, 1, top_k, exclude_image_id, out);
    if (st != FK_OK) fk_gallery_result_free(out);
    return st;
}

fk_status fk_gallery_search_embeddings(fk_gallery *g, const float *embeddings, int count,
                                       int dim, int top_k, fk_gallery_results *out) {
    fk__clear_error();
    if (!g || !embeddings || !out || count < 1 || top_k < 0)
        return fk__fail(FK_EINVAL, "fk_gallery_search_embeddings: bad arguments (count >= 1, "
                       "top_k >= 0)");
    memset(out, 0, sizeof *out);
    if (dim != g->dim)
        return fk__fail(FK_EINVAL, "query embeddings of dimension %d, the gallery's %s "
                       "embeddings have %d", dim, g->opt.model, g->dim);
    out->items = calloc((size_t)count, sizeof *out->items);
    if (!out->items) return fk__fail(FK_ENOMEM, "out of memory");
    out->count = count;
    fk_status st = search_many(g, embeddings, count, top_k, 0, out->items);
    if (st != FK_OK) fk_gallery_results_free(out);
    return st;
}

fk_status fk_gallery_search(fk_gallery *g, fk_context *ctx, const fk_image *img,
                            const char *image_name, int top_k, fk_gallery_results *out) {
    fk__clear_error();
    if (!g || !ctx || !img || !out || top_k < 0)
        return fk__fail(FK_EINVAL, "fk_gallery_search: bad arguments (top_k >= 0)");
    memset(out, 0, sizeof *out);
    fk_faces faces = {0};
    fk_options o = g->opt;
    o.image_names[0] = image_name ? image_name : "query";
    /* With anti_spoofing, fk_represent refuses a spoofed query (FK_ESPOOF),
     * as deepface's find does; the gallery's own photos were checked when
     * they were registered. */
    fk_status st = fk_represent(ctx, img, &o, &faces);
    if (st != FK_OK) {
        fk_faces_free(&faces);
        return st;
    }
    float *emb = malloc((size_t)(faces.count > 0 ? faces.count : 1) * g->dim * sizeof *emb);
    if (!emb) st = fk__fail(FK_ENOMEM, "out of memory");
    for (int i = 0; st == FK_OK && i < faces.count; i++) {
        if (faces.faces[i].embedding_dim != g->dim || !faces.faces[i].embedding)
            st = fk__fail(FK_EINVAL, "query face of dimension %d, the gallery holds %d",
                         faces.faces[i].embedding_dim, g->dim);
        else
            memcpy(emb + (size_t)i * g->dim, faces.faces[i].embedding,
                   (size_t)g->dim * sizeof *emb);
    }
    /* Every face of the photo in one batch (one sgemm pass over the
     * gallery instead of one scan per face). */
    if (st == FK_OK && faces.count > 0)
        st = fk_gallery_search_embeddings(g, emb, faces.count, g->dim, top_k, out);
    for (int i = 0; st == FK_OK && i < out->count; i++) {
        out->items[i].face = faces.faces[i];
        out->items[i].face.embedding = NULL;
    }
    free(emb);
    fk_faces_free(&faces);
    if (st != FK_OK) fk_gallery_results_free(out);
    return st;
}

void fk_gallery_result_free(fk_gallery_result *r) {
    if (!r) return;
    for (int i = 0; i < r->count; i++) {
        free(r->matches[i].identity);
        free(r->matches[i].path);
    }
    free(r->matches);
    r->matches = NULL;
    r->count = 0;
}

void fk_gallery_results_free(fk_gallery_results *r) {
    if (!r) return;
    for (int i = 0; i < r->count; i++) fk_gallery_result_free(&r->items[i]);
    free(r->items);
    r->items = NULL;
    r->count = 0;
}
