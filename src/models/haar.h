/*
 * haar.h - the in-memory form of a Haar cascade, shared by the two files
 * that handle it (internal to models): haar_xml.c builds it from OpenCV's
 * XML, haar_cascade.c evaluates it. Flat arrays, each structure holding
 * ranges into the next: a stage is a range of weak classifiers, a weak
 * classifier a range of tree nodes and of leaves, a node names a feature.
 */
#ifndef FK_MODELS_HAAR_H
#define FK_MODELS_HAAR_H

#include "models/face_models.h"

#define HAAR_MAX_RECTS 3
#define HAAR_STAGE_EPS 1e-5f
#define HAAR_GROUP_EPS 0.2

typedef struct haar_rect {
    int x, y, w, h;
    float weight;
} haar_rect;

typedef struct haar_feature {
    haar_rect r[HAAR_MAX_RECTS];
    int nrects;
} haar_feature;

typedef struct haar_node {
    int left, right, feature;
    float threshold;
} haar_node;

typedef struct haar_weak {
    int node0, nodes;   /* range in the node array */
    int leaf0, leaves;  /* range in the leaf array */
} haar_weak;

typedef struct haar_stage {
    int weak0, weaks;
    float threshold;
} haar_stage;

struct fk_haar {
    int win_w, win_h;
    int nstages, nweak, nnodes, nleaves, nfeatures;
    haar_stage *stages;
    haar_weak *weak;
    haar_node *nodes;
    float *leaves;
    haar_feature *features;
};

#endif
