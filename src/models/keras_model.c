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
