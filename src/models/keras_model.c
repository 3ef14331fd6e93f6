/*
 * keras_model.c - the deepface recognizers' shared plumbing (see
 * keras_model.h): weight discovery, Keras layers as graph nodes, embedding.
 *
 * Batches: the graph is planned for up to KERAS_BATCH faces per run; VGG-
 * Face's arena is about 25 MB per 224x224 face, so 4 bounds it near 100 MB
 * while still amortising the weight reads of the large layers.
 */
#include "models/keras_model.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "models/model_store.h"

#define KERAS_BATCH 4

/* ---- discovery ---------------------------------------------------------- */

static int is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

fk_status fk__user_weights_find(const char *home, const fk_model_desc *m,
                               const char *override, char *path, size_t cap) {
    if (!m || !m->user_file || !path || cap == 0)
        return fk__fail(FK_EINVAL, "fk__user_weights_find: bad arguments");
    if (override && *override) {
        if (strlen(override) >= cap) return fk__fail(FK_EINVAL, "--weights: path too long");
        if (!is_file(override))
            return fk__fail(FK_EMODEL, "%s: weights file not found (--weights for %s, "
                            "deepface's %s)", override, m->name, m->user_file);
        strcpy(path, override);
        return FK_OK;
    }
    char places[2][PATH_MAX + 64];
    const char *dh = getenv("DEEPFACE_HOME");
    if (!dh || !*dh) dh = getenv("HOME");
    int np = 0;
    if (dh && *dh &&
        snprintf(places[np], sizeof places[np], "%s/.deepface/weights/%s", dh, m->user_file) <
            (int)sizeof places[np])
        np++;
    char h[PATH_MAX];
    if (fk__resolve_home(home, h, sizeof h) == FK_OK &&
        snprintf(places[np], sizeof places[np], "%s/deepface/%s", h, m->user_file) <
            (int)sizeof places[np])
        np++;
    for (int i = 0; i < np; i++)
        if (is_file(places[i])) {
            if (strlen(places[i]) >= cap) return fk__fail(FK_EINVAL, "weights path too long");
            strcpy(path, places[i]);
            return FK_OK;
        }
    return fk__fail(FK_EMODEL,
                    "%s needs deepface's weights file %s, which facekit cannot download; "
                    "looked in %s%s%s. Copy it from a deepface install (~/.deepface/"
                    "weights/), set DEEPFACE_HOME, or pass --weights FILE",
                    m->name, m->user_file, np > 0 ? places[0] : "(no $HOME)",
                    np > 1 ? " and " : "", np > 1 ? places[1] : "");
}

/* ---- layers --------------------------------------------------------------- */

int fk__keras_conv_ex(fk_keras_h5 *k, fk_graph *g, int in, const char *name, int kh,
                     int kw, int in_c, int out_c, int sh, int sw, fk_padding pad,
                     int use_bias, fk_act_kind act, fk_status *st) {
    if (*st != FK_OK) return -1;
    const fk_keras_weight spec[2] = {{"kernel", 4, {kh, kw, in_c, out_c}},
                                     {"bias", 1, {out_c}}};
    const float *w[2] = {NULL, NULL};
    *st = fk__keras_h5_layer(k, name, spec, use_bias ? 2 : 1, w);
    if (*st != FK_OK) return -1;
    if (sh != sw) {
        *st = fk__fail(FK_EINVAL, "%s: strides %dx%d: only equal strides are supported",
                       name, sh, sw);
        return -1;
    }
    fk_act a = {.kind = act};
    int v = fk__graph_conv(g, in, w[0], w[1], kh, kw, in_c, out_c, sh, pad, a);
    if (v < 0) *st = fk__graph_build_status(g);
    return v;
}

int fk__keras_conv(fk_keras_h5 *k, fk_graph *g, int in, const char *name, int kh, int kw,
                  int in_c, int out_c, int stride, fk_padding pad, fk_act_kind act,
                  fk_status *st) {
    return fk__keras_conv_ex(k, g, in, name, kh, kw, in_c, out_c, stride, stride, pad, 1,
                             act, st);
}

int fk__keras_dense_ex(fk_keras_h5 *k, fk_graph *g, int in, const char *name, int in_f,
                      int out_f, int use_bias, fk_act_kind act, fk_status *st) {
    if (*st != FK_OK) return -1;
    const fk_keras_weight spec[2] = {{"kernel", 2, {in_f, out_f}}, {"bias", 1, {out_f}}};
    const float *w[2] = {NULL, NULL};
    *st = fk__keras_h5_layer(k, name, spec, use_bias ? 2 : 1, w);
    if (*st != FK_OK) return -1;
    fk_act a = {.kind = act};
    int v = fk__graph_fc(g, in, w[0], w[1], in_f, out_f, a);
    if (v < 0) *st = fk__graph_build_status(g);
    return v;
}

int fk__keras_dense(fk_keras_h5 *k, fk_graph *g, int in, const char *name, int in_f,
                   int out_f, fk_act_kind act, fk_status *st) {
    return fk__keras_dense_ex(k, g, in, name, in_f, out_f, 1, act, st);
}

void fk__keras_bn_fold(const float *const *w, unsigned flags, float eps, int c, float *s,
                      float *t) {
    int i = 0;
    const float *gamma = flags & FK_KERAS_BN_SCALE ? w[i++] : NULL;
    const float *beta = flags & FK_KERAS_BN_CENTER ? w[i++] : NULL;
    const float *mean = w[i], *var = w[i + 1];
    for (int o = 0; o < c; o++) {
        /* in double, so the fold adds no error of its own */
        double r = 1.0 / sqrt((double)var[o] + eps);
        double sc = (gamma ? gamma[o] : 1.0) * r;
        s[o] = (float)sc;
        t[o] = (float)((beta ? beta[o] : 0.0) - mean[o] * sc);
    }
}

int fk__keras_bn(fk_keras_h5 *k, fk_graph *g, int in, const char *name, int c,
                unsigned flags, float eps, fk_act_kind act, fk_status *st) {
    if (*st != FK_OK) return -1;
    if (c <= 0 || c > FK_KERAS_MAX_WEIGHT || fk__graph_channels(g, in) != c ||
        (act != FK_ACT_NONE && act != FK_ACT_RELU) || !(eps > 0)) {
        *st = fk__fail(FK_EINVAL, "%s: bad batch-norm arguments (%d channels, value has %d)",
                       name, c, fk__graph_channels(g, in));
        return -1;
    }
    fk_keras_weight spec[4];
    int n = 0;
    if (flags & FK_KERAS_BN_SCALE) spec[n++] = (fk_keras_weight){"gamma", 1, {c}};
    if (flags & FK_KERAS_BN_CENTER) spec[n++] = (fk_keras_weight){"beta", 1, {c}};
    spec[n++] = (fk_keras_weight){"moving_mean", 1, {c}};
    spec[n++] = (fk_keras_weight){"moving_variance", 1, {c}};
    const float *w[4];
    *st = fk__keras_h5_layer(k, name, spec, n, w);
    if (*st != FK_OK) return -1;
    float *st_buf = malloc(sizeof(float) * 2 * (size_t)c);
    if (!st_buf || fk__graph_keep(g, st_buf) != FK_OK) {
        *st = fk__fail(FK_ENOMEM, "%s: out of memory", name);
        return -1;
    }
    fk__keras_bn_fold(w, flags, eps, c, st_buf, st_buf + c);
    fk_shape4 ks = {1, 1, 1, c};
    int v = fk__graph_binary_const(g, FK_BIN_MUL, in, st_buf, ks, 0);
    v = fk__graph_binary_const(g, FK_BIN_ADD, v, st_buf + c, ks, 0);
    if (act == FK_ACT_RELU) v = fk__graph_unary(g, FK_UN_RELU, v);
    if (v < 0) *st = fk__graph_build_status(g);
    return v;
}

/* ---- functional models (keras_model.h) ----------------------------------- */

typedef enum kf_kind {
    KF_INPUT, KF_CONV, KF_DENSE, KF_BN, KF_RELU, KF_POOL, KF_CONCAT, KF_ADD, KF_SCALE,
    KF_GAP, KF_PASS, KF_PAD, KF_PRELU, KF_SIGMOID, KF_MUL, KF_FLATTEN
} kf_kind;

#define KF_MAX_IN 4
#define KF_MAX_LAYERS 4096

typedef struct kf_layer {
    kf_kind kind;
    int n_in, in[KF_MAX_IN];
    char name[128];
    int c;                          /* output channels */
    int kh, kw, stride, use_bias;   /* conv, pool (kh = k), zero padding (kh = pad) */
    fk_padding pad;
    fk_op pool_op;
    unsigned bn_flags;
    float eps, scale;
    const float *w[4];              /* read weights */
    int value;                      /* graph value */
} kf_layer;

/* Remember the first recording error and its message. */
#define KF_FAIL(f, ...)                                                        \
    ((f)->st = fk__fail(__VA_ARGS__),                                          \
     snprintf((f)->msg, sizeof (f)->msg, "%s", fk_last_error()))

struct fk_keras_fn {
    kf_layer *l;
    int n, cap;
    fk_status st;
    char msg[256];  /* the first error's message, for fk__kf_build */
};

fk_keras_fn *fk__kf_new(int in_c) {
    fk_keras_fn *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->cap = 256;
    f->l = calloc((size_t)f->cap, sizeof *f->l);
    if (!f->l) {
        free(f);
        return NULL;
    }
    f->n = 1;
    f->l[0] = (kf_layer){.kind = KF_INPUT, .c = in_c, .value = 0};
    snprintf(f->l[0].name, sizeof f->l[0].name, "input");
    return f;
}

void fk__kf_free(fk_keras_fn *f) {
    if (!f) return;
    free(f->l);
    free(f);
}

/* Append a layer reading in[0..n_in-1]; NULL once failed. */
static kf_layer *kf_add(fk_keras_fn *f, kf_kind kind, const char *name, int n_in,
                        const int *in) {
    if (!f || f->st != FK_OK) return NULL;
    if (n_in < 1 || n_in > KF_MAX_IN) {
        KF_FAIL(f, FK_EINVAL, "keras model: %d inputs to one layer", n_in);
        return NULL;
    }
    for (int i = 0; i < n_in; i++)
        if (in[i] < 0 || in[i] >= f->n) {
            KF_FAIL(f, FK_EINVAL, "keras model: %s reads an unknown layer",
                             name ? name : "a layer");
            return NULL;
        }
    if (f->n == f->cap) {
        if (f->cap >= KF_MAX_LAYERS) {
            KF_FAIL(f, FK_EINVAL, "keras model: more than %d layers", KF_MAX_LAYERS);
            return NULL;
        }
        kf_layer *nl = realloc(f->l, sizeof *nl * (size_t)f->cap * 2);
        if (!nl) {
            KF_FAIL(f, FK_ENOMEM, "keras model: out of memory");
            return NULL;
        }
        f->l = nl;
        f->cap *= 2;
    }
    kf_layer *L = &f->l[f->n++];
    *L = (kf_layer){.kind = kind, .n_in = n_in, .c = f->l[in[0]].c, .value = -1};
    memcpy(L->in, in, sizeof(int) * (size_t)n_in);
    snprintf(L->name, sizeof L->name, "%s", name ? name : "");
    return L;
}

int fk__kf_conv(fk_keras_fn *f, int in, const char *name, int out_c, int kh, int kw,
               int stride, fk_padding pad, int use_bias) {
    kf_layer *L = kf_add(f, KF_CONV, name, 1, &in);
    if (!L) return -1;
    if (out_c <= 0 || kh <= 0 || kw <= 0 || stride <= 0) {
        KF_FAIL(f, FK_EINVAL, "%s: bad Conv2D arguments", L->name);
        return -1;
    }
    L->c = out_c, L->kh = kh, L->kw = kw, L->stride = stride, L->pad = pad;
    L->use_bias = use_bias;
    return f->n - 1;
}

int fk__kf_dense(fk_keras_fn *f, int in, const char *name, int out_f, int use_bias) {
    kf_layer *L = kf_add(f, KF_DENSE, name, 1, &in);
    if (!L) return -1;
    if (out_f <= 0) {
        KF_FAIL(f, FK_EINVAL, "%s: bad Dense arguments", L->name);
        return -1;
    }
    L->c = out_f, L->use_bias = use_bias;
    return f->n - 1;
}

int fk__kf_bn(fk_keras_fn *f, int in, const char *name, unsigned flags, float eps) {
    kf_layer *L = kf_add(f, KF_BN, name, 1, &in);
    if (!L) return -1;
    if (!(eps > 0)) {
        KF_FAIL(f, FK_EINVAL, "%s: batch-norm epsilon must be > 0", L->name);
        return -1;
    }
    L->bn_flags = flags, L->eps = eps;
    return f->n - 1;
}

int fk__kf_relu(fk_keras_fn *f, int in) {
    return kf_add(f, KF_RELU, "relu", 1, &in) ? f->n - 1 : -1;
}

int fk__kf_pool(fk_keras_fn *f, int in, fk_op op, int k, int stride, fk_padding pad) {
    kf_layer *L = kf_add(f, KF_POOL, "pool", 1, &in);
    if (!L) return -1;
    if ((op != FK_OP_MAXPOOL && op != FK_OP_AVGPOOL) || k <= 0 || stride <= 0) {
        KF_FAIL(f, FK_EINVAL, "keras model: bad pooling arguments");
        return -1;
    }
    L->pool_op = op, L->kh = L->kw = k, L->stride = stride, L->pad = pad;
    return f->n - 1;
}

int fk__kf_concat(fk_keras_fn *f, int n, const int *in) {
    kf_layer *L = kf_add(f, KF_CONCAT, "concatenate", n, in);
    if (!L) return -1;
    L->c = 0;
    for (int i = 0; i < n; i++) L->c += f->l[in[i]].c;
    return f->n - 1;
}

int fk__kf_add(fk_keras_fn *f, int a, int b) {
    int in[2] = {a, b};
    kf_layer *L = kf_add(f, KF_ADD, "add", 2, in);
    if (!L) return -1;
    if (f->l[a].c != f->l[b].c) {
        KF_FAIL(f, FK_EINVAL, "keras model: add of %d and %d channels", f->l[a].c,
                         f->l[b].c);
        return -1;
    }
    return f->n - 1;
}

int fk__kf_scale(fk_keras_fn *f, int in, float s) {
    kf_layer *L = kf_add(f, KF_SCALE, "lambda", 1, &in);
    if (!L) return -1;
    L->scale = s;
    return f->n - 1;
}

int fk__kf_gap(fk_keras_fn *f, int in) {
    return kf_add(f, KF_GAP, "global_average_pooling2d", 1, &in) ? f->n - 1 : -1;
}

int fk__kf_pass(fk_keras_fn *f, int in) {
    return kf_add(f, KF_PASS, "pass", 1, &in) ? f->n - 1 : -1;
}

int fk__kf_zeropad(fk_keras_fn *f, int in, const char *name, int pad) {
    kf_layer *L = kf_add(f, KF_PAD, name, 1, &in);
    if (!L) return -1;
    if (pad < 0) {
        KF_FAIL(f, FK_EINVAL, "%s: bad ZeroPadding2D", L->name);
        return -1;
    }
    L->kh = pad;
    return f->n - 1;
}

int fk__kf_prelu(fk_keras_fn *f, int in, const char *name) {
    return kf_add(f, KF_PRELU, name, 1, &in) ? f->n - 1 : -1;
}

int fk__kf_sigmoid(fk_keras_fn *f, int in) {
    return kf_add(f, KF_SIGMOID, "sigmoid", 1, &in) ? f->n - 1 : -1;
}

int fk__kf_mul(fk_keras_fn *f, int a, int b) {
    int in[2] = {a, b};
    kf_layer *L = kf_add(f, KF_MUL, "multiply", 2, in);
    if (!L) return -1;
    if (f->l[a].c != f->l[b].c) {
        KF_FAIL(f, FK_EINVAL, "keras model: multiply of %d and %d channels", f->l[a].c,
                f->l[b].c);
        return -1;
    }
    return f->n - 1;
}

int fk__kf_flatten(fk_keras_fn *f, int in, int h, int w) {
    kf_layer *L = kf_add(f, KF_FLATTEN, "flatten", 1, &in);
    if (!L) return -1;
    if (h <= 0 || w <= 0 || (long)h * w * L->c > INT_MAX / 4) {
        KF_FAIL(f, FK_EINVAL, "keras model: bad Flatten of %dx%d", h, w);
        return -1;
    }
    L->c *= h * w;
    return f->n - 1;
}

/* Keras' walk: depth-first from the output, inputs in order; a layer is
 * numbered when first met (idx), appended once all its inputs are done
 * (post, so the output is last). */
static void kf_walk(const fk_keras_fn *f, int l, int *idx, int *n_idx, char *done,
                    int *post, int *n_post) {
    if (done[l]) return;
    if (idx[l] < 0) idx[l] = (*n_idx)++;
    for (int i = 0; i < f->l[l].n_in; i++)
        kf_walk(f, f->l[l].in[i], idx, n_idx, done, post, n_post);
    done[l] = 1;
    post[(*n_post)++] = l;
}

/* Keras' layer order: x before y when deeper, or as deep and met first. */
static int kf_before(const int *depth, const int *idx, int x, int y) {
    return depth[x] != depth[y] ? depth[x] > depth[y] : idx[x] < idx[y];
}

/* Read one layer's weights (the recorded shapes say what to expect). */
static fk_status kf_read(fk_keras_fn *f, kf_layer *L, fk_keras_h5 *k) {
    int cin = f->l[L->in[0]].c;
    fk_keras_weight spec[4];
    int n = 0;
    if (L->kind == KF_CONV) {
        spec[n++] = (fk_keras_weight){"kernel", 4, {L->kh, L->kw, cin, L->c}};
        if (L->use_bias) spec[n++] = (fk_keras_weight){"bias", 1, {L->c}};
    } else if (L->kind == KF_DENSE) {
        spec[n++] = (fk_keras_weight){"kernel", 2, {cin, L->c}};
        if (L->use_bias) spec[n++] = (fk_keras_weight){"bias", 1, {L->c}};
    } else if (L->kind == KF_PRELU) { /* shared_axes=[1, 2]: one slope a channel */
        spec[n++] = (fk_keras_weight){"alpha", 3, {1, 1, L->c}};
    } else {
        if (L->bn_flags & FK_KERAS_BN_SCALE) spec[n++] = (fk_keras_weight){"gamma", 1, {L->c}};
        if (L->bn_flags & FK_KERAS_BN_CENTER) spec[n++] = (fk_keras_weight){"beta", 1, {L->c}};
        spec[n++] = (fk_keras_weight){"moving_mean", 1, {L->c}};
        spec[n++] = (fk_keras_weight){"moving_variance", 1, {L->c}};
    }
    return fk__keras_h5_layer(k, L->name, spec, n, L->w);
}

/* Append layer L to g (its inputs are there: ids are in build order). */
static fk_status kf_emit(fk_keras_fn *f, kf_layer *L, fk_graph *g) {
    const int a = f->l[L->in[0]].value;
    const fk_act none = {.kind = FK_ACT_NONE};
    const fk_shape4 one = {1, 1, 1, 1}, per_c = {1, 1, 1, L->c};
    int v = -1;
    switch (L->kind) {
    case KF_INPUT: return FK_OK;
    case KF_CONV:
        v = fk__graph_conv(g, a, L->w[0], L->use_bias ? L->w[1] : NULL, L->kh, L->kw,
                           f->l[L->in[0]].c, L->c, L->stride, L->pad, none);
        break;
    case KF_DENSE:
        v = fk__graph_fc(g, a, L->w[0], L->use_bias ? L->w[1] : NULL, f->l[L->in[0]].c, L->c,
                         none);
        break;
    case KF_BN: {
        float *s = malloc(sizeof(float) * 2 * (size_t)L->c);
        if (!s || fk__graph_keep(g, s) != FK_OK)
            return fk__fail(FK_ENOMEM, "%s: out of memory", L->name);
        fk__keras_bn_fold(L->w, L->bn_flags, L->eps, L->c, s, s + L->c);
        v = fk__graph_binary_const(g, FK_BIN_MUL, a, s, per_c, 0);
        v = fk__graph_binary_const(g, FK_BIN_ADD, v, s + L->c, per_c, 0);
        break;
    }
    case KF_RELU: v = fk__graph_unary(g, FK_UN_RELU, a); break;
    case KF_POOL: v = fk__graph_pool(g, L->pool_op, a, L->kh, L->stride, L->pad); break;
    case KF_CONCAT:
        v = a;
        for (int i = 1; i < L->n_in; i++) v = fk__graph_concat(g, v, f->l[L->in[i]].value);
        break;
    case KF_ADD: v = fk__graph_add(g, a, f->l[L->in[1]].value, none); break;
    case KF_SCALE: {
        float *s = malloc(sizeof *s);
        if (!s || fk__graph_keep(g, s) != FK_OK)
            return fk__fail(FK_ENOMEM, "%s: out of memory", L->name);
        *s = L->scale;
        v = fk__graph_binary_const(g, FK_BIN_MUL, a, s, one, 0);
        break;
    }
    case KF_GAP: v = fk__graph_mean_hw(g, a); break;
    case KF_PASS: v = a; break;
    case KF_PAD: {
        const int pads[8] = {0, 0, L->kh, L->kh, L->kh, L->kh, 0, 0};
        v = fk__graph_pad(g, a, pads, 0.0f);
        break;
    }
    case KF_PRELU: {
        /* max(x, 0) + alpha * min(x, 0): fk__graph_fuse folds it into the
         * activation of a convolution before it */
        static const float zero = 0.0f;
        int mx = fk__graph_binary_const(g, FK_BIN_MAX, a, &zero, one, 0);
        int mn = fk__graph_binary_const(g, FK_BIN_MIN, a, &zero, one, 0);
        mn = fk__graph_binary_const(g, FK_BIN_MUL, mn, L->w[0], per_c, 0);
        v = fk__graph_binary(g, FK_BIN_ADD, mx, mn);
        break;
    }
    case KF_SIGMOID: v = fk__graph_sigmoid(g, a); break;
    case KF_MUL: v = fk__graph_binary(g, FK_BIN_MUL, a, f->l[L->in[1]].value); break;
    case KF_FLATTEN: v = fk__graph_reshape(g, a, 1, 1, L->c); break;
    }
    L->value = v;
    return v < 0 ? fk__graph_build_status(g) : FK_OK;
}

fk_status fk__kf_build(fk_keras_fn *f, fk_keras_h5 *k, fk_graph *g, int out_layer, int *out) {
    if (!f) return fk__fail(FK_ENOMEM, "keras model: out of memory");
    if (f->st != FK_OK) return fk__fail(f->st, "%s", f->msg);
    if (!k || !g || !out || out_layer < 0 || out_layer >= f->n)
        return fk__fail(FK_EINVAL, "fk__kf_build: bad arguments");
    int n = f->n;
    int *idx = malloc(sizeof(int) * 4 * (size_t)n);
    char *done = calloc((size_t)n, 1);
    if (!idx || !done) {
        free(idx);
        free(done);
        return fk__fail(FK_ENOMEM, "keras model: out of memory");
    }
    int *post = idx + n, *depth = idx + 2 * n, *order = idx + 3 * n;
    int n_idx = 0, n_post = 0;
    for (int i = 0; i < n; i++) idx[i] = -1, depth[i] = 0;
    kf_walk(f, out_layer, idx, &n_idx, done, post, &n_post);
    /* depths, from the output back (Keras: reversed(nodes_in_decreasing_depth)) */
    for (int i = n_post - 1; i >= 0; i--) {
        const kf_layer *L = &f->l[post[i]];
        for (int j = 0; j < L->n_in; j++)
            if (depth[L->in[j]] < depth[post[i]] + 1) depth[L->in[j]] = depth[post[i]] + 1;
    }
    memcpy(order, post, sizeof(int) * (size_t)n_post);
    for (int i = 1; i < n_post; i++) { /* insertion sort: a few thousand layers at most */
        int x = order[i], j = i;
        for (; j > 0 && kf_before(depth, idx, x, order[j - 1]); j--) order[j] = order[j - 1];
        order[j] = x;
    }
    fk_status st = FK_OK;
    for (int i = 0; i < n_post && st == FK_OK; i++) {
        kf_layer *L = &f->l[order[i]];
        if (L->kind == KF_CONV || L->kind == KF_DENSE || L->kind == KF_BN ||
            L->kind == KF_PRELU)
            st = kf_read(f, L, k);
    }
    for (int i = 0; i < n && st == FK_OK; i++)
        if (done[i]) st = kf_emit(f, &f->l[i], g);
    if (st == FK_OK) *out = f->l[out_layer].value;
    free(idx);
    free(done);
    return st;
}

/* ---- the network ---------------------------------------------------------- */

struct fk_keras_net {
    const fk_keras_arch *arch;
    fk_keras_h5 *h5;    /* owns the weights the graph reads */
    fk_graph *graph;
    int out;
    float *input;       /* KERAS_BATCH inputs */
};

fk_status fk__keras_net_load(const fk_keras_arch *arch, const char *path,
                            fk_keras_net **out) {
    if (!arch || !path || !out) return fk__fail(FK_EINVAL, "fk__keras_net_load: bad arguments");
    *out = NULL;
    const fk_model_desc *d = arch->desc;
    fk_keras_net *net = calloc(1, sizeof *net);
    if (!net) return fk__fail(FK_ENOMEM, "%s: out of memory", d->name);
    net->arch = arch;
    fk_status st = fk__keras_h5_open(path, d->name, &net->h5);
    if (st == FK_OK) st = fk__graph_new(3, &net->graph);
    if (st == FK_OK) st = arch->build(net->h5, net->graph, &net->out);
    if (st == FK_OK) st = fk__graph_build_status(net->graph);
    if (st == FK_OK) st = fk__keras_h5_end(net->h5);
    if (st == FK_OK && fk__graph_channels(net->graph, net->out) != d->dim)
        st = fk__fail(FK_EINVAL, "%s: the architecture gives %d values, the description %d",
                      d->name, fk__graph_channels(net->graph, net->out), d->dim);
    if (st == FK_OK) {
        fk__graph_mark_output(net->graph, net->out);
        st = fk__graph_fuse(net->graph);
    }
    if (st == FK_OK) st = fk__graph_plan(net->graph, 1, d->input_h, d->input_w);
    if (st == FK_OK) {
        net->input = malloc(sizeof(float) * KERAS_BATCH * (size_t)d->input_w * d->input_h * 3);
        if (!net->input) st = fk__fail(FK_ENOMEM, "%s: out of memory", d->name);
    }
    if (st != FK_OK) {
        fk__keras_net_free(net);
        return st;
    }
    *out = net;
    return FK_OK;
}

void fk__keras_net_free(fk_keras_net *net) {
    if (!net) return;
    fk__graph_free(net->graph);
    fk__keras_h5_free(net->h5);
    free(net->input);
    free(net);
}

fk_graph *fk__keras_net_graph(fk_keras_net *net, int *h, int *w) {
    if (!net) return NULL;
    if (h) *h = net->arch->desc->input_h;
    if (w) *w = net->arch->desc->input_w;
    return net->graph;
}

fk_status fk__keras_net_run(fk_keras_net *net, const float *input, int n, fk_pool *pool,
                           float *out) {
    const fk_model_desc *d = net->arch->desc;
    fk_status st = fk__graph_plan(net->graph, n, d->input_h, d->input_w);
    if (st == FK_OK) st = fk__graph_run(net->graph, input, pool);
    if (st != FK_OK) return st;
    const float *o = fk__graph_output(net->graph, net->out, NULL);
    for (long i = 0; i < (long)n * d->dim; i++) out[i] = o[i];
    if (net->arch->l2) /* deepface's verification.l2_normalize */
        for (int i = 0; i < n; i++) {
            float *r = out + (long)i * d->dim;
            double ss = 0;
            for (int k = 0; k < d->dim; k++) ss += (double)r[k] * r[k];
            if (ss <= 0) continue;
            double inv = 1.0 / sqrt(ss);
            for (int k = 0; k < d->dim; k++) r[k] = (float)(r[k] * inv);
        }
    return FK_OK;
}

fk_status fk__keras_net_embed(fk_keras_net *net, const fk_image *const *faces, int n,
                             const fk_input_norm *norm, fk_pool *pool, float *out) {
    if (!net || !faces || n <= 0 || !out)
        return fk__fail(FK_EINVAL, "fk__keras_net_embed: bad arguments");
    const fk_model_desc *d = net->arch->desc;
    for (int i = 0; i < n; i++)
        if (!faces[i] || faces[i]->width < 1 || faces[i]->height < 1 ||
            (faces[i]->channels != 3 && faces[i]->channels != 1))
            return fk__fail(FK_EINVAL, "%s: face %d is not an RGB image", d->name, i);
    const long per = (long)d->input_w * d->input_h * 3;
    for (int at = 0; at < n; at += KERAS_BATCH) {
        int b = n - at < KERAS_BATCH ? n - at : KERAS_BATCH;
        for (int i = 0; i < b; i++)
            fk__input_norm_fill_letterbox(norm ? norm : d->input_norm, faces[at + i],
                                          d->input_w, d->input_h, net->input + per * i);
        fk_status st = fk__keras_net_run(net, net->input, b, pool, out + (long)at * d->dim);
        if (st != FK_OK) return st;
    }
    return FK_OK;
}

void fk__keras_free_hook(void *model) { fk__keras_net_free(model); }

fk_status fk__keras_embed_hook(void *model, const fk_image *const *faces, int n,
                               const fk_input_norm *norm, fk_pool *pool, float *out) {
    return fk__keras_net_embed(model, faces, n, norm, pool, out);
}
