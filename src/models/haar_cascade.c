/*
 * haar_cascade.c - Viola-Jones Haar cascades (the classic detector behind
 * deepface's default "opencv" backend) evaluated in plain C: no OpenCV at
 * run time, only its data files, which haar_xml.c reads.
 *
 * Facts used (read from the XML files of Debian's opencv-data and from the
 * published description of OpenCV's cascade detector):
 *  - a weak classifier is a small tree: start at node 0; if the feature value
 *    is below the node threshold go `left` else `right`; an index <= 0 is
 *    the leaf -index (so a stump "0 -1" picks leaf 0 or leaf 1);
 *  - a stage passes when the sum of its leaves is >= stageThreshold (less a
 *    1e-5 tolerance); a window is a detection when every stage passes;
 *  - feature value = sum(weight * pixel sum of rect) / nf, with
 *    nf = sqrt(A * sqsum - sum^2) over the window shrunk by one pixel on each
 *    side (A its area): the variance normalisation that makes the cascade
 *    indifferent to contrast; windows with nf <= 10 * A (a standard
 *    deviation of at most 10 grey levels) are rejected without evaluation;
 *  - detectMultiScale: the window stays at its trained size and the image
 *    shrinks by `scale_factor` per level (bilinear); windows step by 2 pixels
 *    on levels with factor <= 2 and by 1 above; a window rejected by the
 *    very first stage also skips the next position;
 *  - grouping (groupRectangles, eps 0.2): raw hits are partitioned into
 *    classes of similar rectangles, each class is averaged, classes with no
 *    more than min_neighbors members are dropped, and a class lying inside
 *    a stronger one is dropped too.
 *
 * Integral images are uint32 with wrap-around: every rectangle sum we take
 * is far below 2^32, so the modular differences are exact even when the
 * running totals of a large image overflow.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "image/image.h"
#include "models/haar.h"

/* ---- evaluation -------------------------------------------------------- */

/* Integral image (w+1) x (h+1) of pixels and of squared pixels. */
typedef struct haar_integral {
    int w, h;
    size_t stride;        /* w + 1 */
    uint32_t *sum, *sq;
} haar_integral;

static fk_status integral_build(const fk_image *gray, haar_integral *ii) {
    ii->w = gray->width;
    ii->h = gray->height;
    ii->stride = (size_t)gray->width + 1;
    size_t n = ii->stride * ((size_t)gray->height + 1);
    ii->sum = calloc(n, sizeof *ii->sum);
    ii->sq = calloc(n, sizeof *ii->sq);
    if (!ii->sum || !ii->sq) {
        free(ii->sum);
        free(ii->sq);
        return fk__fail(FK_ENOMEM, "out of memory");
    }
    for (int y = 0; y < gray->height; y++) {
        const uint8_t *row = gray->data + (size_t)y * gray->stride;
        uint32_t rs = 0, rq = 0;
        uint32_t *s = ii->sum + (size_t)(y + 1) * ii->stride + 1, *sp = s - ii->stride;
        uint32_t *q = ii->sq + (size_t)(y + 1) * ii->stride + 1, *qp = q - ii->stride;
        for (int x = 0; x < gray->width; x++) {
            rs += row[x];
            rq += (uint32_t)row[x] * row[x];
            s[x] = sp[x] + rs;
            q[x] = qp[x] + rq;
        }
    }
    return FK_OK;
}

static void integral_free(haar_integral *ii) {
    free(ii->sum);
    free(ii->sq);
}

/* Corner offsets of every feature rect for one integral stride. */
typedef struct rect_ofs {
    int p[4];       /* top-left, top-right, bottom-left, bottom-right */
    float weight;
} rect_ofs;

static inline int32_t rect_sum(const uint32_t *base, const int p[4]) {
    return (int32_t)(base[p[0]] - base[p[1]] - base[p[2]] + base[p[3]]);
}

/* Run the cascade on the window at (x, y). Returns the number of stages
 * passed: c->nstages means a detection, 0 a rejection by the first stage,
 * -1 a window too flat to evaluate. */
static int haar_run(const fk_haar *c, const haar_integral *ii, const rect_ofs *ofs,
                    const int norm[4], int x, int y) {
    size_t origin = (size_t)y * ii->stride + (size_t)x;
    const uint32_t *base = ii->sum + origin;
    int32_t s = rect_sum(base, norm);
    uint32_t q = ii->sq[origin + norm[0]] - ii->sq[origin + norm[1]] -
                 ii->sq[origin + norm[2]] + ii->sq[origin + norm[3]];
    double area = (double)(c->win_w - 2) * (c->win_h - 2);
    double nf = area * (double)q - (double)s * s;
    /* nf = area * standard deviation: nearly flat windows (deviation of 10
     * grey levels or less) hold no face and are rejected unseen. */
    if (!(nf > 0)) return -1;
    nf = sqrt(nf);
    if (area / nf >= 0.1) return -1;
    float inv = (float)(1.0 / nf);
    for (int si = 0; si < c->nstages; si++) {
        const haar_stage *hs = &c->stages[si];
        float total = 0;
        for (int wi = hs->weak0; wi < hs->weak0 + hs->weaks; wi++) {
            const haar_weak *hw = &c->weak[wi];
            int idx = 0;
            do {
                const haar_node *hn = &c->nodes[hw->node0 + idx];
                const rect_ofs *ro = ofs + (size_t)hn->feature * HAAR_MAX_RECTS;
                int nr = c->features[hn->feature].nrects;
                float v = 0;
                for (int r = 0; r < nr; r++) v += ro[r].weight * (float)rect_sum(base, ro[r].p);
                idx = v * inv < hn->threshold ? hn->left : hn->right;
            } while (idx > 0);
            total += c->leaves[hw->leaf0 - idx];
        }
        if (total < hs->threshold - HAAR_STAGE_EPS) return si;
    }
    return c->nstages;
}

static void corner_offsets(size_t stride, int x, int y, int w, int h, int p[4]) {
    p[0] = (int)((size_t)y * stride + (size_t)x);
    p[1] = (int)((size_t)y * stride + (size_t)(x + w));
    p[2] = (int)((size_t)(y + h) * stride + (size_t)x);
    p[3] = (int)((size_t)(y + h) * stride + (size_t)(x + w));
}

/* Append rectangle to a growing array. */
typedef struct hit_list {
    fk_haar_hit *v;
    int n, cap;
} hit_list;

static int hits_push(hit_list *l, int x, int y, int w, int h) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 256;
        fk_haar_hit *p = realloc(l->v, (size_t)cap * sizeof *p);
        if (!p) return 0;
        l->v = p;
        l->cap = cap;
    }
    fk_haar_hit *h_ = &l->v[l->n++];
    h_->x = x; h_->y = y; h_->w = w; h_->h = h; h_->neighbors = 1;
    return 1;
}

/* One level's scan, shared by the pool's workers: each takes a range of
 * window rows and appends its hits under the lock (hits are rare). */
typedef struct scan_job {
    const fk_haar *c;
    const haar_integral *ii;
    const rect_ofs *ofs;
    int norm[4];
    int step, nx;
    double factor;
    int win_w, win_h;
    hit_list *hits;
    pthread_mutex_t lock;
    int oom;
} scan_job;

static void scan_rows(void *arg, long begin, long end) {
    scan_job *j = arg;
    for (long r = begin; r < end; r++) {
        int y = (int)r * j->step;
        for (int x = 0; x < j->nx; x += j->step) {
            int passed = haar_run(j->c, j->ii, j->ofs, j->norm, x, y);
            if (passed == j->c->nstages) {
                pthread_mutex_lock(&j->lock);
                if (!hits_push(j->hits, (int)lround(x * j->factor), (int)lround(y * j->factor),
                               j->win_w, j->win_h))
                    j->oom = 1;
                pthread_mutex_unlock(&j->lock);
            } else if (passed == 0) {
                x += j->step; /* rejected at once: skip the next position too */
            }
        }
    }
}

/* Every window of one scaled image that passes the whole cascade, mapped
 * back to the original image by `factor`. */
static fk_status scan_level(const fk_haar *c, const fk_image *scaled, double factor,
                            int win_w, int win_h, fk_pool *pool, hit_list *hits) {
    haar_integral ii;
    fk_status st = integral_build(scaled, &ii);
    if (st != FK_OK) return st;
    rect_ofs *ofs = calloc((size_t)c->nfeatures * HAAR_MAX_RECTS, sizeof *ofs);
    if (!ofs) {
        integral_free(&ii);
        return fk__fail(FK_ENOMEM, "out of memory");
    }
    for (int f = 0; f < c->nfeatures; f++)
        for (int r = 0; r < c->features[f].nrects; r++) {
            const haar_rect *hr = &c->features[f].r[r];
            rect_ofs *ro = &ofs[(size_t)f * HAAR_MAX_RECTS + r];
            corner_offsets(ii.stride, hr->x, hr->y, hr->w, hr->h, ro->p);
            ro->weight = hr->weight;
        }
    scan_job j = {.c = c, .ii = &ii, .ofs = ofs, .factor = factor, .win_w = win_w,
                  .win_h = win_h, .hits = hits};
    corner_offsets(ii.stride, 1, 1, c->win_w - 2, c->win_h - 2, j.norm);
    j.step = factor > 2.0 ? 1 : 2;
    /* As OpenCV: the last column and row of window positions are not tried. */
    j.nx = scaled->width - c->win_w;
    int ny = scaled->height - c->win_h;
    long rows = ny > 0 ? (ny + j.step - 1) / j.step : 0;
    pthread_mutex_init(&j.lock, NULL);
    fk__pool_run(pool, rows, 8, scan_rows, &j);
    pthread_mutex_destroy(&j.lock);
    if (j.oom) st = fk__fail(FK_ENOMEM, "out of memory");
    free(ofs);
    integral_free(&ii);
    return st;
}

/* ---- grouping ---------------------------------------------------------- */

static int similar(const fk_haar_hit *a, const fk_haar_hit *b, double eps) {
    double delta = eps * (fmin(a->w, b->w) + fmin(a->h, b->h)) * 0.5;
    return fabs((double)a->x - b->x) <= delta && fabs((double)a->y - b->y) <= delta &&
           fabs((double)(a->x + a->w) - (b->x + b->w)) <= delta &&
           fabs((double)(a->y + a->h) - (b->y + b->h)) <= delta;
}

static int uf_find(int *parent, int i) {
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

static int by_neighbors(const void *x, const void *y) {
    const fk_haar_hit *a = x, *b = y;
    if (a->neighbors != b->neighbors) return a->neighbors < b->neighbors ? 1 : -1;
    if (a->y != b->y) return a->y < b->y ? -1 : 1;
    return a->x < b->x ? -1 : a->x > b->x;
}

fk_status fk__haar_group(fk_haar_hit *hits, int n, int min_neighbors, int *count) {
    if ((!hits && n > 0) || n < 0 || !count) return fk__fail(FK_EINVAL, "fk__haar_group: bad arguments");
    *count = 0;
    if (n == 0) return FK_OK;
    int *parent = malloc((size_t)n * sizeof *parent);
    int *label = malloc((size_t)n * sizeof *label);
    double *acc = calloc((size_t)n * 4, sizeof *acc);
    int *members = calloc((size_t)n, sizeof *members);
    fk_haar_hit *cls = calloc((size_t)n, sizeof *cls);
    if (!parent || !label || !acc || !members || !cls) {
        free(parent); free(label); free(acc); free(members); free(cls);
        return fk__fail(FK_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) parent[i] = i;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (similar(&hits[i], &hits[j], HAAR_GROUP_EPS)) {
                int a = uf_find(parent, i), b = uf_find(parent, j);
                if (a != b) parent[b] = a;
            }
    /* Number the classes in order of first appearance. */
    int nclasses = 0;
    for (int i = 0; i < n; i++) label[i] = -1;
    for (int i = 0; i < n; i++) {
        int r = uf_find(parent, i);
        if (label[r] < 0) label[r] = nclasses++;
        int k = label[r];
        acc[4 * k] += hits[i].x;
        acc[4 * k + 1] += hits[i].y;
        acc[4 * k + 2] += hits[i].w;
        acc[4 * k + 3] += hits[i].h;
        members[k]++;
    }
    for (int k = 0; k < nclasses; k++) {
        double s = 1.0 / members[k];
        cls[k].x = (int)lrint(acc[4 * k] * s);
        cls[k].y = (int)lrint(acc[4 * k + 1] * s);
        cls[k].w = (int)lrint(acc[4 * k + 2] * s);
        cls[k].h = (int)lrint(acc[4 * k + 3] * s);
        cls[k].neighbors = members[k];
    }
    /* Keep classes with enough members that do not sit inside a stronger
     * class (a small face-like patch within a face). */
    int kept = 0;
    for (int i = 0; i < nclasses; i++) {
        int n1 = cls[i].neighbors, inside = 0;
        if (n1 <= min_neighbors) continue;
        for (int j = 0; j < nclasses && !inside; j++) {
            int n2 = cls[j].neighbors;
            if (j == i || n2 <= min_neighbors) continue;
            const fk_haar_hit *r1 = &cls[i], *r2 = &cls[j];
            int dx = (int)lrint(r2->w * HAAR_GROUP_EPS), dy = (int)lrint(r2->h * HAAR_GROUP_EPS);
            if (r1->x >= r2->x - dx && r1->y >= r2->y - dy &&
                r1->x + r1->w <= r2->x + r2->w + dx && r1->y + r1->h <= r2->y + r2->h + dy &&
                (n2 > (n1 > 3 ? n1 : 3) || n1 < 3))
                inside = 1;
        }
        if (!inside) hits[kept++] = cls[i];
    }
    qsort(hits, (size_t)kept, sizeof *hits, by_neighbors);
    free(parent); free(label); free(acc); free(members); free(cls);
    *count = kept;
    return FK_OK;
}

/* ---- detectMultiScale -------------------------------------------------- */

void fk__haar_params_init(fk_haar_params *p) {
    p->scale_factor = 1.1;
    p->min_neighbors = 3;
    p->min_size = 0;
    p->max_size = 0;
}

fk_status fk__haar_luma(const fk_image *img, fk_image **out) {
    if (!img || !out || (img->channels != 1 && img->channels != 3))
        return fk__fail(FK_EINVAL, "fk__haar_luma: need a gray or RGB image");
    fk_image *g;
    fk_status st = fk_image_new(img->width, img->height, 1, &g);
    if (st != FK_OK) return st;
    for (int y = 0; y < img->height; y++) {
        const uint8_t *s = img->data + (size_t)y * img->stride;
        uint8_t *d = g->data + (size_t)y * g->stride;
        if (img->channels == 1) {
            memcpy(d, s, (size_t)img->width);
            continue;
        }
        /* ITU-R BT.601 luma in 14-bit fixed point, rounded. */
        for (int x = 0; x < img->width; x++, s += 3)
            d[x] = (uint8_t)((s[0] * 4899u + s[1] * 9617u + s[2] * 1868u + 8192u) >> 14);
    }
    *out = g;
    return FK_OK;
}

fk_status fk__haar_detect(const fk_haar *c, const fk_image *img, const fk_haar_params *params,
                         fk_pool *pool, fk_haar_hit **out, int *count) {
    if (!c || !img || !out || !count) return fk__fail(FK_EINVAL, "fk__haar_detect: bad arguments");
    fk_haar_params def;
    if (!params) {
        fk__haar_params_init(&def);
        params = &def;
    }
    if (!(params->scale_factor > 1.0) || params->min_neighbors < 0)
        return fk__fail(FK_EINVAL, "haar: scale factor must be > 1 and min_neighbors >= 0");
    *out = NULL;
    *count = 0;
    fk_image *gray = NULL;
    fk_status st = fk__haar_luma(img, &gray);
    if (st != FK_OK) return st;
    hit_list hits = {0};
    int max_w = params->max_size > 0 ? params->max_size : img->width;
    int max_h = params->max_size > 0 ? params->max_size : img->height;
    for (double factor = 1.0; st == FK_OK; factor *= params->scale_factor) {
        int win_w = (int)lround(c->win_w * factor), win_h = (int)lround(c->win_h * factor);
        int sw = (int)lround(img->width / factor), sh = (int)lround(img->height / factor);
        if (sw < c->win_w || sh < c->win_h) break;
        if (win_w > max_w || win_h > max_h) break;
        if (win_w < params->min_size || win_h < params->min_size) continue;
        fk_image *scaled = gray;
        if (sw != gray->width || sh != gray->height) st = fk__image_resize(gray, sw, sh, &scaled);
        if (st == FK_OK) st = scan_level(c, scaled, factor, win_w, win_h, pool, &hits);
        if (scaled != gray) fk_image_free(scaled);
    }
    fk_image_free(gray);
    int n = hits.n;
    if (st == FK_OK && params->min_neighbors > 0) st = fk__haar_group(hits.v, hits.n, params->min_neighbors, &n);
    if (st != FK_OK) {
        free(hits.v);
        return st;
    }
    *out = hits.v;
    *count = n;
    return FK_OK;
}
