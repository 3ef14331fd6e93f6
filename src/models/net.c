/*
 * net.c - the shared load/run plumbing of models (see net.h).
 */
#include "models/net.h"

#include <stdlib.h>

#include "core/error.h"
#include "models/face_models.h"

fk_status fk__net_open(fk_net *net, const char *what, const char *home,
                      const char *dir, const char *manifest, int in_channels,
                      fk_net_build_fn build, void *model) {
    net->what = what;
    net->weights = NULL;
    net->graph = NULL;
    net->input = NULL;
    net->input_cap = 0;
    fk_status st = fk__model_weights(home, dir, manifest, &net->weights);
    if (st == FK_OK) st = fk__graph_new(in_channels, &net->graph);
    if (st == FK_OK) st = build(net, model);
    /* fold residual adds and depthwise -> 1x1 pairs (see graph.h) */
    if (st == FK_OK) st = fk__graph_fuse(net->graph);
    if (st != FK_OK) fk__net_close(net);
    return st;
}

void fk__net_close(fk_net *net) {
    fk__graph_free(net->graph);
    fk__weights_free(net->weights);
    free(net->input);
    net->graph = NULL;
    net->weights = NULL;
    net->input = NULL;
    net->input_cap = 0;
}

float *fk__net_input(fk_net *net, size_t floats) {
    if (floats > net->input_cap) {
        float *p = realloc(net->input, floats * sizeof(float));
        if (!p) {
            fk__fail(FK_ENOMEM, "%s: out of memory", net->what);
            return NULL;
        }
        net->input = p;
        net->input_cap = floats;
    }
    return net->input;
}

fk_status fk__net_run(fk_net *net, int n, int h, int w, fk_pool *pool) {
    fk_status st = fk__graph_plan(net->graph, n, h, w);
    if (st == FK_OK) st = fk__graph_run(net->graph, net->input, pool);
    return st;
}

const fk_weight *fk__net_weight(fk_net *net, const char *name, int ndim,
                               const int *shape, fk_status *st) {
    const fk_weight *w = NULL;
    if (*st == FK_OK) *st = fk__weights_get(net->weights, net->what, name, ndim, shape, &w);
    return *st == FK_OK ? w : NULL;
}

float *fk__net_scratch(fk_net *net, size_t n, fk_status *st) {
    if (*st != FK_OK) return NULL;
    float *p = malloc(n * sizeof(float));
    if (!p) {
        *st = fk__fail(FK_ENOMEM, "%s: out of memory", net->what);
        return NULL;
    }
    *st = fk__graph_keep(net->graph, p);
    return *st == FK_OK ? p : NULL;
}
