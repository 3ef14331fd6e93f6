/*
 * verify.h - the verify stage: distances between embeddings, the calibrated
 * threshold of each (model, metric), and the closest pair of faces.
 * fk_distance and fk_threshold are public (facekit.h).
 */
#ifndef FK_VERIFY_H
#define FK_VERIFY_H

#include "facekit.h"

/* Canonical metric name or FK_EINVAL listing the valid ones. */
fk_status fk__metric_name(const char *name, const char **canonical);

/* The pair (i, j) of faces with the smallest distance; both lists must have
 * embeddings of equal dimension. */
fk_status fk__closest_pair(const fk_faces *a, const fk_faces *b,
                          const char *metric, int *best_i, int *best_j,
                          float *distance);

#endif
