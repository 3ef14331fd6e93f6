/*
 * gallery_within.c - the search for every face within the threshold
 * (top_k 0): one scan of the search matrix, each chunk of rows (one per
 * thread from 8192 rows on) keeping the rows whose ranking key is within
 * the bound, merged and sorted. The key is fk__gallery_topk's; the bound
 * comes from the threshold (gallery_search.c's key_bound).
 */
#include <stdlib.h>
#include <string.h>

#include "core/threadpool.h"
#include "gallery/gallery.h"


typedef struct within_job {
    const float *matrix, *bias, *q;
    const unsigned char *skip;
    int n, dim, chunks;
    float bound;
    fk__gallery_ranked **lists; /* one per chunk */
    int *counts, *failed;
} within_job;

static void within_chunks(void *arg, long begin, long end) {
    within_job *j = arg;
    for (long c = begin; c < end; c++) {
        long r0 = (long)j->n * c / j->chunks, r1 = (long)j->n * (c + 1) / j->chunks;
        int cap = 0, m = 0;
        fk__gallery_ranked *list = NULL;
        for (long r = r0; r < r1; r++) {
            if (j->skip && j->skip[r]) continue;
            float d = fk__gallery_dot(j->q, j->matrix + (size_t)r * j->dim, j->dim);
            float key = j->bias ? j->bias[r] - 2 * d : -d;
            if (!(key <= j->bound)) continue;
            if (m == cap) {
                cap = cap ? cap * 2 : 64;
                fk__gallery_ranked *grown = realloc(list, (size_t)cap * sizeof *list);
                if (!grown) {
                    j->failed[c] = 1;
                    break;
                }
                list = grown;
            }
            list[m++] = (fk__gallery_ranked){key, (int)r};
        }
        j->lists[c] = list;
        j->counts[c] = m;
    }
}

int fk__gallery_within(fk_pool *pool, const float *matrix, const float *bias,
                      const unsigned char *skip, int n, int dim, const float *q, float bound,
                      int **idx, float **key) {
    *idx = NULL;
    *key = NULL;
    if (n <= 0) return 0;
    int threads = pool ? fk__pool_threads(pool) : 1;
    int chunks = n >= 8192 ? threads : 1;
    fk__gallery_ranked **lists = calloc((size_t)chunks, sizeof *lists);
    int *counts = calloc((size_t)chunks, sizeof *counts);
    int *failed = calloc((size_t)chunks, sizeof *failed);
    int got = -1;
    if (lists && counts && failed) {
        within_job j = {matrix, bias, q, skip, n, dim, chunks, bound, lists, counts, failed};
        if (chunks > 1) fk__pool_run(pool, chunks, 1, within_chunks, &j);
        else within_chunks(&j, 0, 1);
        int m = 0, bad = 0;
        for (int c = 0; c < chunks; c++) {
            m += counts[c];
            bad |= failed[c];
        }
        fk__gallery_ranked *all = bad ? NULL : malloc((size_t)(m > 0 ? m : 1) * sizeof *all);
        *idx = all ? malloc((size_t)(m > 0 ? m : 1) * sizeof **idx) : NULL;
        *key = *idx ? malloc((size_t)(m > 0 ? m : 1) * sizeof **key) : NULL;
        if (*key) {
            int at = 0;
            for (int c = 0; c < chunks; c++) {
                if (counts[c]) memcpy(all + at, lists[c], (size_t)counts[c] * sizeof *all);
                at += counts[c];
            }
            qsort(all, (size_t)m, sizeof *all, fk__gallery_cmp_ranked);
            for (int i = 0; i < m; i++) {
                (*idx)[i] = all[i].idx;
                (*key)[i] = all[i].key;
            }
            got = m;
        } else {
            free(*idx);
            *idx = NULL;
        }
        free(all);
    }
    for (int c = 0; lists && c < chunks; c++) free(lists[c]);
    free(lists);
    free(counts);
    free(failed);
    return got;
}
