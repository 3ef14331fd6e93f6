/*
 * net.h - what every model built from a weights file shares: the weights,
 * the graph built from them, an input staging buffer, and the load/free
 * sequence around a model-specific build function.
 */
#ifndef FK_MODELS_NET_H
#define FK_MODELS_NET_H

#include <stddef.h>

#include "nn/graph.h"
#include "nn/threadpool.h"
#include "nn/tfjs_weights.h"

typedef struct fk_net {
    const char *what;   /* model name used in errors */
    fk_weights *weights;
    fk_graph *graph;
    float *input;       /* staging buffer for the graph input */
    size_t input_cap;   /* floats */
} fk_net;

/* Build the graph of `model` from net->weights (nodes appended to
 * net->graph). */
typedef fk_status (*fk_net_build_fn)(fk_net *net, void *model);

/* Load <home>/<dir>/<manifest>, create a graph with `in_channels` inputs and
 * let `build` fill it. On failure everything is released. */
fk_status fk__net_open(fk_net *net, const char *what, const char *home,
                      const char *dir, const char *manifest, int in_channels,
                      fk_net_build_fn build, void *model);
void fk__net_close(fk_net *net);

/* The input buffer, grown to at least `floats`; NULL (with the error set)
 * when memory runs out. */
float *fk__net_input(fk_net *net, size_t floats);

/* Plan for n x h x w (free when unchanged) and run on net->input. */
fk_status fk__net_run(fk_net *net, int n, int h, int w, fk_pool *pool);

/* The named weight with the given shape. Errors accumulate in *st: once it
 * is not FK_OK this returns NULL without looking, so a builder can fetch
 * several weights and check once. */
const fk_weight *fk__net_weight(fk_net *net, const char *name, int ndim,
                               const int *shape, fk_status *st);

/* A copy of n floats the graph will free with itself (folded weights). */
float *fk__net_scratch(fk_net *net, size_t n, fk_status *st);

#endif
