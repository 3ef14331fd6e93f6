/*
 * graph_internal.h - the inside of an fk_graph (nodes, values, the plan),
 * shared by the files that work on it (internal to nn): graph.c builds,
 * plans and runs it, graph_fuse.c rewrites it before planning.
 */
#ifndef FK_NN_GRAPH_INTERNAL_H
#define FK_NN_GRAPH_INTERNAL_H

#include "nn/graph.h"

#define FK_ARENA_ALIGN 16 /* floats: 64 bytes, one cache line */

typedef struct fk_node {
    fk_op op;
    int in[2];
    int out;
    const float *w, *b;
    int kh, kw, in_c, out_c, stride;
    fk_padding pad;
    fk_act act;
    fk_window win; /* filled by plan */
    /* general ops */
    int sub;          /* fk_binop / fk_unop / fk_reduce_op */
    int const_first;  /* FK_OP_BINARY with a constant left operand */
    fk_shape4 kshape; /* FK_OP_BINARY constant shape; FK_OP_RESHAPE target */
    int ip[8];        /* FK_OP_PAD pads, FK_OP_REDUCE axes */
    float fparam;     /* FK_OP_PAD value */
    fk_slice slice;   /* FK_OP_SLICE as built */
    int from[4], step[4]; /* FK_OP_SLICE resolved by plan: first element,
                             step per dimension */
} fk_node;

typedef struct fk_value {
    int c;            /* channels, known when the graph is built */
    fk_shape4 shape;  /* filled by plan */
    long count;
    size_t offset;    /* in floats, into the arena */
    int last_use;     /* index of the last node reading it */
    int is_output;
} fk_value;

struct fk_graph {
    fk_node *nodes;
    int n_nodes, cap_nodes;
    fk_value *values;
    int n_values, cap_values;
    void **owned;
    int n_owned, cap_owned;

    fk_status build_status;
    char build_error[256];

    /* plan */
    int planned_n, planned_h, planned_w;
    float *arena;
    size_t arena_floats;
    float *workspace;
    size_t workspace_floats;
    int workspace_threads;
    double macs;
    int reference; /* run the _ref kernels (tests, debugging) */
};

/* Remember the first error found while building (a printf-style message);
 * later calls are no-ops. Returns -1, the "no value" of the builders. */
int fk__graph_build_fail(fk_graph *g, fk_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
