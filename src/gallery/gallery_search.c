/*
 * gallery_search.c - exact 1:N search: the gallery's embeddings as one
 * contiguous float matrix, dot products against a query, top-k.
 *
 * For cosine, euclidean_l2 and angular the rows are stored unit-length, so
 * every distance is a monotone function of the dot product and ranking is
 * by -dot. For euclidean, |q - x|^2 = |q|^2 + |x|^2 - 2 q.x, so ranking is
 * by |x|^2 - 2 q.x with |x|^2 precomputed. The rows are split into one
 * chunk per thread; each keeps its own top-k in a max-heap and the chunk
 * results are merged. Distances are then computed from the dot products.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FK_X86 1
#endif

#include "core/error.h"
#include "gallery/gallery.h"
#include "gallery/gallery_ann.h"
#include "nn/kernels.h"

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

/* Chosen once: AVX2+FMA when the CPU has it (FACEKIT_NO_AVX2=1 turns it
 * off, like the nn kernels). */
static dot_fn pick_dot(void) {
#ifdef FK_X86
    const char *no = getenv("FACEKIT_NO_AVX2");
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        !(no && *no == '1'))
        return dot_avx2;
#endif
    return dot_plain;
}

float fk_gallery_dot(const float *a, const float *b, int n) {
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

/* Pool callback: chunks [begin, end) of the rows. */
static void topk_chunks(void *arg, long begin, long end) {
    topk_job *j = arg;
    for (long c = begin; c < end; c++) {
        long r0 = (long)j->n * c / j->chunks, r1 = (long)j->n * (c + 1) / j->chunks;
        heap *h = &j->heaps[c];
        for (long r = r0; r < r1; r++) {
            if (j->skip && j->skip[r]) continue;
            float d = fk_gallery_dot(j->q, j->matrix + (size_t)r * j->dim, j->dim);
            heap_push(h, j->bias ? j->bias[r] - 2 * d : -d, (int)r);
        }
    }
}

typedef struct ranked {
    float key;
    int idx;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->idx - y->idx; /* ties: the earlier row first, deterministic */
}

int fk_gallery_topk(fk_pool *pool, const float *matrix, const float *bias,
                    const unsigned char *skip, int n, int dim, const float *q, int k,
                    int *idx, float *key) {
    if (n <= 0 || k <= 0) return 0;
    if (k > n) k = n;
    /* Below ~8k rows one thread is faster than waking the pool. */
    int threads = pool ? fk_pool_threads(pool) : 1;
    int chunks = n >= 8192 ? threads : 1;
    heap *heaps = calloc((size_t)chunks, sizeof *heaps);
    float *keys = malloc((size_t)chunks * k * sizeof *keys);
    int *idxs = malloc((size_t)chunks * k * sizeof *idxs);
    ranked *all = malloc((size_t)chunks * k * sizeof *all);
    int got = 0;
    if (heaps && keys && idxs && all) {
        for (int c = 0; c < chunks; c++)
            heaps[c] = (heap){keys + (size_t)c * k, idxs + (size_t)c * k, 0, k};
        topk_job j = {matrix, bias, q, skip, n, dim, chunks, heaps};
        if (chunks > 1) fk_pool_run(pool, chunks, 1, topk_chunks, &j);
        else topk_chunks(&j, 0, 1);
        int m = 0;
        for (int c = 0; c < chunks; c++)
            for (int i = 0; i < heaps[c].size; i++)
                all[m++] = (ranked){heaps[c].key[i], heaps[c].idx[i]};
        qsort(all, (size_t)m, sizeof *all, cmp_ranked);
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

/* Rows per sgemm block of the batched search: about 2 MB of rows, so a
 * block stays in L2/L3 while its scores are read back. */
static int batch_block(int dim) {
    int b = 524288 / (dim > 0 ? dim : 1);
    return b < 256 ? 256 : b > 8192 ? 8192 : b;
}

typedef struct batch_job {
    const float *matrix, *bias, *q;
    int n, dim, nq, k, chunks, block;
    heap *heaps;    /* chunks x nq */
    float *scores;  /* chunks x nq x block */
} batch_job;

/* Pool callback: chunks [begin, end) of the rows, each scored block by
 * block against every query with one sgemm. */
static void batch_chunks(void *arg, long begin, long end) {
    batch_job *j = arg;
    for (long c = begin; c < end; c++) {
        long r0 = (long)j->n * c / j->chunks, r1 = (long)j->n * (c + 1) / j->chunks;
        heap *hs = j->heaps + (size_t)c * j->nq;
        float *sc = j->scores + (size_t)c * j->nq * j->block;
        for (long b = r0; b < r1; b += j->block) {
            int nb = (int)(r1 - b < j->block ? r1 - b : j->block);
            fk_sgemm_abt(j->nq, nb, j->dim, j->q, j->dim, j->matrix + (size_t)b * j->dim,
                         j->dim, sc, nb);
            for (int qi = 0; qi < j->nq; qi++) {
                heap *h = &hs[qi];
                const float *row = sc + (size_t)qi * nb;
                float worst = h->size < h->cap ? INFINITY : h->key[0];
                for (int i = 0; i < nb; i++) {
                    float key = j->bias ? j->bias[b + i] - 2 * row[i] : -row[i];
                    if (key < worst) {
                        heap_push(h, key, (int)(b + i));
                        worst = h->size < h->cap ? INFINITY : h->key[0];
                    }
                }
            }
        }
    }
}

int fk_gallery_topk_batch(fk_pool *pool, const float *matrix, const float *bias, int n,
                          int dim, const float *q, int nq, int k, int *idx, float *key,
                          int *got) {
    if (nq <= 0) return 0;
    if (n <= 0 || k <= 0) {
        for (int i = 0; i < nq; i++) got[i] = 0;
        return 0;
    }
    int kk = k < n ? k : n;
    int threads = pool ? fk_pool_threads(pool) : 1;
    int chunks = n >= 8192 ? threads : 1;
    int block = batch_block(dim);
    size_t nh = (size_t)chunks * nq;
    heap *heaps = calloc(nh, sizeof *heaps);
    float *keys = malloc(nh * kk * sizeof *keys);
    int *idxs = malloc(nh * kk * sizeof *idxs);
    float *scores = malloc((size_t)chunks * nq * block * sizeof *scores);
    ranked *all = malloc((size_t)chunks * kk * sizeof *all);
    int rc = -1;
    if (heaps && keys && idxs && scores && all) {
        for (size_t h = 0; h < nh; h++)
            heaps[h] = (heap){keys + h * kk, idxs + h * kk, 0, kk};
        batch_job j = {matrix, bias, q, n, dim, nq, kk, chunks, block, heaps, scores};
        if (chunks > 1) fk_pool_run(pool, chunks, 1, batch_chunks, &j);
        else batch_chunks(&j, 0, 1);
        for (int qi = 0; qi < nq; qi++) {
            int m = 0;
            for (int c = 0; c < chunks; c++) {
                heap *h = &heaps[(size_t)c * nq + qi];
                for (int i = 0; i < h->size; i++) all[m++] = (ranked){h->key[i], h->idx[i]};
            }
            qsort(all, (size_t)m, sizeof *all, cmp_ranked);
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
    fk_gallery_drop_cache(g);
    st = g->be->load_rows(g, &version);
    if (st != FK_OK) {
        fk_gallery_drop_cache(g);
        return st;
    }
    int euclid = metric_is_euclidean(g);
    for (int r = 0; r < g->n; r++) {
        float *row = g->matrix + (size_t)r * g->dim;
        if (!euclid) normalize(row, g->dim);
        g->sqnorm[r] = fk_gallery_dot(row, row, g->dim);
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

/* Search nq embeddings (nq x dim) into out[0..nq): exact or ANN as the
 * handle says. exclude_image_id > 0 is only used with nq == 1. */
static fk_status search_many(fk_gallery *g, const float *emb, int nq, int top_k,
                             int64_t exclude_image_id, fk_gallery_result *out) {
    int dim = g->dim;
    fk_status st = load_matrix(g);
    if (st != FK_OK) return st;
    for (int i = 0; i < nq; i++) out[i].method = "exact";
    if (g->n == 0 || nq == 0) return FK_OK;
    int use_ann = 0;
    if (g->use_ann) {
        st = fk_gallery_ann_sync(g, &use_ann);
        if (st != FK_OK) return st;
    }
    if (!g->pool && g->n >= 8192 && fk_pool_new(g->threads, &g->pool) != FK_OK) g->pool = NULL;

    int k = top_k < g->n ? top_k : g->n;
    float *q = malloc((size_t)nq * dim * sizeof *q);
    float *qsq = malloc((size_t)nq * sizeof *qsq);
    int *idx = malloc((size_t)nq * k * sizeof *idx);
    float *key = malloc((size_t)nq * k * sizeof *key);
    int *got = malloc((size_t)nq * sizeof *got);
    unsigned char *skip = NULL;
    if (!q || !qsq || !idx || !key || !got) {
        st = fk_fail(FK_ENOMEM, "out of memory");
        goto done;
    }
    memcpy(q, emb, (size_t)nq * dim * sizeof *q);
    int euclid = metric_is_euclidean(g);
    for (int i = 0; i < nq; i++) {
        float *qi = q + (size_t)i * dim;
        if (!euclid) normalize(qi, dim);
        qsq[i] = fk_gallery_dot(qi, qi, dim);
    }
    const float *bias = euclid ? g->sqnorm : NULL;
    if (use_ann) {
        st = fk_gallery_ann_search(g, nq, q, k, exclude_image_id, idx, key, got);
        for (int i = 0; i < nq; i++) out[i].method = fk_gallery_ann_kind_name(g->ann_kind);
    } else if (nq == 1) {
        if (exclude_image_id > 0) {
            skip = calloc((size_t)g->n, 1);
            if (!skip) {
                st = fk_fail(FK_ENOMEM, "out of memory");
                goto done;
            }
            for (int i = 0; i < g->n; i++) skip[i] = g->image_ids[i] == exclude_image_id;
        }
        got[0] = fk_gallery_topk(g->pool, g->matrix, bias, skip, g->n, dim, q, k, idx, key);
        if (got[0] < 0) st = fk_fail(FK_ENOMEM, "out of memory");
    } else if (fk_gallery_topk_batch(g->pool, g->matrix, bias, g->n, dim, q, nq, k, idx, key,
                                     got) != 0) {
        st = fk_fail(FK_ENOMEM, "out of memory");
    }
    if (st != FK_OK) goto done;
    int64_t *ids = malloc((size_t)(k > 0 ? k : 1) * sizeof *ids);
    if (!ids) {
        st = fk_fail(FK_ENOMEM, "out of memory");
        goto done;
    }
    for (int qi = 0; st == FK_OK && qi < nq; qi++) {
        fk_gallery_result *r = &out[qi];
        r->matches = calloc(got[qi] > 0 ? (size_t)got[qi] : 1, sizeof *r->matches);
        if (!r->matches) {
            st = fk_fail(FK_ENOMEM, "out of memory");
            break;
        }
        for (int i = 0; i < got[qi]; i++) {
            fk_gallery_match *m = &r->matches[i];
            m->distance = key_to_distance(g, key[(size_t)qi * k + i], qsq[qi]);
            m->threshold = g->threshold;
            ids[i] = g->face_ids[idx[(size_t)qi * k + i]];
        }
        r->count = got[qi];
        st = g->be->fetch_matches(g, ids, got[qi], r->matches);
    }
    free(ids);
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
    fk_clear_error();
    if (!g || !embedding || !out || top_k < 1)
        return fk_fail(FK_EINVAL, "fk_gallery_search_embedding: bad arguments (top_k >= 1)");
    memset(out, 0, sizeof *out);
    if (dim != g->dim)
        return fk_fail(FK_EINVAL, "query embedding of dimension %d, the gallery's %s "
                       "embeddings have %d", dim, g->opt.model, g->dim);
    fk_status st = search_many(g, embedding, 1, top_k, exclude_image_id, out);
    if (st != FK_OK) fk_gallery_result_free(out);
    return st;
}

fk_status fk_gallery_search_embeddings(fk_gallery *g, const float *embeddings, int count,
                                       int dim, int top_k, fk_gallery_results *out) {
    fk_clear_error();
    if (!g || !embeddings || !out || count < 1 || top_k < 1)
        return fk_fail(FK_EINVAL, "fk_gallery_search_embeddings: bad arguments (count >= 1, "
                       "top_k >= 1)");
    memset(out, 0, sizeof *out);
    if (dim != g->dim)
        return fk_fail(FK_EINVAL, "query embeddings of dimension %d, the gallery's %s "
                       "embeddings have %d", dim, g->opt.model, g->dim);
    out->items = calloc((size_t)count, sizeof *out->items);
    if (!out->items) return fk_fail(FK_ENOMEM, "out of memory");
    out->count = count;
    fk_status st = search_many(g, embeddings, count, top_k, 0, out->items);
    if (st != FK_OK) fk_gallery_results_free(out);
    return st;
}

fk_status fk_gallery_search(fk_gallery *g, fk_context *ctx, const fk_image *img, int top_k,
                            fk_gallery_results *out) {
    fk_clear_error();
    if (!g || !ctx || !img || !out || top_k < 1)
        return fk_fail(FK_EINVAL, "fk_gallery_search: bad arguments (top_k >= 1)");
    memset(out, 0, sizeof *out);
    fk_faces faces = {0};
    fk_options o = g->opt;
    o.image_names[0] = "query";
    fk_status st = fk_represent(ctx, img, &o, &faces);
    if (st != FK_OK) return st;
    float *emb = malloc((size_t)(faces.count > 0 ? faces.count : 1) * g->dim * sizeof *emb);
    if (!emb) st = fk_fail(FK_ENOMEM, "out of memory");
    for (int i = 0; st == FK_OK && i < faces.count; i++) {
        if (faces.faces[i].embedding_dim != g->dim || !faces.faces[i].embedding)
            st = fk_fail(FK_EINVAL, "query face of dimension %d, the gallery holds %d",
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
