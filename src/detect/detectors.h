/*
 * detectors.h - the face detectors facekit can use, by name (--detector).
 *
 * Each detector is an adapter (src/detect/detect_<name>.c) from a model in
 * the zoo to a list of fk_detection. Adding a detector is one adapter file
 * and one line in the table in detectors.c.
 */
#ifndef FK_DETECT_DETECTORS_H
#define FK_DETECT_DETECTORS_H

#include "facekit.h"
#include "models/zoo.h"
#include "nn/threadpool.h"

/* One face as a detector sees it, in image pixels. */
typedef struct fk_detection {
    float x0, y0, x1, y1;
    float score;                /* 0..1 */
    int has_eyes;               /* eye centres known from the detector */
    fk_point left_eye;          /* the person's left eye (image right) */
    fk_point right_eye;
    int keypoint_count;         /* detector-specific keypoints, or 0 */
    fk_point keypoints[FK_MAX_KEYPOINTS];
    const char *const *keypoint_names; /* static, keypoint_count of them */
} fk_detection;

/* Detect faces scoring >= min_score; *out is malloc'd (caller frees), sorted
 * by score, highest first. Zero faces is FK_OK with *count == 0. */
typedef fk_status (*fk_detect_fn)(fk_zoo *zoo, fk_pool *pool,
                                  const fk_image *img, float min_score,
                                  fk_detection **out, int *count);

typedef struct fk_detector_def {
    const char *name;      /* first member: looked up by fk__lookup_name */
    fk_detect_fn detect;   /* NULL for "skip": the whole image is the face */
    const char *summary;   /* one line for `facekit models list` / docs */
} fk_detector_def;

/* The table of detectors. */
const fk_detector_def *fk__detectors(int *count);
/* The detector called `name` (any case), or FK_EINVAL listing them all. */
fk_status fk__detector_find(const char *name, const fk_detector_def **out);

/* One pass of a box-only detector over img. */
typedef fk_status (*fk_box_pass_fn)(void *model, const fk_image *img,
                                    float min_score, fk_pool *pool,
                                    fk_box **boxes, int *count);

/* Run `pass`; when it finds nothing, run it again on img centred in a black
 * canvas twice its size (detectors trained on scenes miss faces that fill
 * the frame) and map the boxes back, clipped to img; boxes lying wholly in
 * the canvas border are dropped. Fills *out / *count as fk_detect_fn does. */
fk_status fk__detect_boxes_padded_retry(void *model, fk_box_pass_fn pass,
                                       const fk_image *img, float min_score,
                                       fk_pool *pool, fk_detection **out,
                                       int *count);

/* Adapters (one per detector file). */
fk_status fk__detect_ssd(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                        float min_score, fk_detection **out, int *count);

#endif
