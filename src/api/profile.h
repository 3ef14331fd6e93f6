/*
 * profile.h - the pipeline's per-stage timings, for bench/bench_pipeline.c.
 *
 * Internal: a user of the library times whole calls (fk_verify_result's
 * time_ms, or their own clock); the split by stage is a tuning aid, so it
 * stays out of facekit.h.
 */
#ifndef FK_API_PROFILE_H
#define FK_API_PROFILE_H

#include "facekit.h"

/* Milliseconds per stage of the pipeline (decoding happens before it sees
 * the image, so the caller times that). */
typedef struct fk__stage_times {
    double detect_ms, landmarks_ms, align_ms, embed_ms;
} fk__stage_times;

/* fk_represent, adding the time spent in each stage to *times (may be
 * NULL). */
fk_status fk__represent_timed(fk_context *ctx, const fk_image *img,
                              const fk_options *opt, fk_faces *out,
                              fk__stage_times *times);

#endif
