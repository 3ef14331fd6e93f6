/*
 * profile.h - the pipeline's per-stage timings, for bench/bench_pipeline.c
 * (represent's stages, and analyze's detection and analyzers).
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

/* fk_analyze's stages: detection, then each model the actions name, run
 * once over every face however many actions it serves (crop, input fill,
 * graph runs, reading the outputs), in the order fk_analyze runs them. */
#define FK__ANALYZE_MODELS_MAX 4
typedef struct fk__analyze_times {
    double detect_ms;   /* the detect stage, as fk_detect runs it */
    double analyze_ms;  /* every model below together */
    int model_count;
    const char *model[FK__ANALYZE_MODELS_MAX]; /* the models' names */
    double model_ms[FK__ANALYZE_MODELS_MAX];
} fk__analyze_times;

/* fk_analyze, filling *times (may be NULL) with the time of each stage. */
fk_status fk__analyze_timed(fk_context *ctx, const fk_image *img, const fk_options *opt,
                            const fk_analyze_options *ao, fk_analysis *out,
                            fk__analyze_times *times);

#endif
