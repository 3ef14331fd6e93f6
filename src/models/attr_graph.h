/*
 * attr_graph.h - what the analyzer models (gear.c, ssrnet_age.c,
 * oarriaga_gender.c, oarriaga_emotion.c, faceres_attr.c) share: a
 * human-models TF.js graph loaded with the outputs they read, and the
 * input batch cut from the detected faces the way @vladmandic/human cuts
 * them.
 *
 * The crop (@vladmandic/human 3.3.6): human's face detector box is the
 * detector's box enlarged 1.2 times about its centre and made square
 * (src/face/blazeface.ts, faceBoxScaleFactor = 1.2), and each attribute
 * model gets that square (gear: a sub-box of it, [top 0, left 0.10,
 * bottom 0.90, right 0.90], src/gear/gear.ts) resized bilinearly to its
 * input. Pixels outside the image are black, as tf.image.cropAndResize
 * makes them.
 */
#ifndef FK_MODELS_ATTR_GRAPH_H
#define FK_MODELS_ATTR_GRAPH_H

#include "facekit.h"
#include "models/model.h"
#include "nn/tfjs_graph.h"

/* How the crop's 0..255 pixels become input values. */
typedef enum fk_attr_fill {
    FK_FILL_RGB_01,   /* RGB / 255 (gear) */
    FK_FILL_RGB_255,  /* RGB as is (SSR-Net, FaceRes) */
    FK_FILL_GRAY_PM1  /* gray = 0.2989 R + 0.5870 G + 0.1140 B of RGB / 255,
                         then (gray - 0.5) * 2 (oarriaga) */
} fk_attr_fill;

/* Box enlargement of human's face crop; a model may use its own
 * (`scale` below), measured. */
#define FK_ATTR_FACE_SCALE 1.2f

typedef struct fk_attr_graph {
    const char *name;       /* the model's name, for errors */
    fk_tfjs_model *model;
    int size, channels;     /* the Placeholder's */
    float *input;           /* cap items */
    int cap;
} fk_attr_graph;

/* Load <home>/human-models/<file> with `n` outputs, checking that its input
 * is size x size x channels. */
fk_status fk__attr_graph_load(const char *home, const char *name, const char *file,
                             const char *const *outputs, int n, int size, int channels,
                             fk_attr_graph **out);
void fk__attr_graph_free(fk_attr_graph *g);

/* The faces' crops (the square face box enlarged `scale` times; sub-box
 * `sub` = top, left, bottom, right as fractions of it, NULL: all of it) filled per `fill` and run in
 * batches; after each batch `take(ctx, first, count)` reads the outputs
 * (fk__tfjs_model_result). */
typedef void (*fk_attr_take_fn)(void *ctx, const fk_attr_graph *g, int first, int count);
fk_status fk__attr_graph_run(fk_attr_graph *g, const fk_image *img, const fk_face *faces,
                            int n, float scale, const float sub[4], fk_attr_fill fill,
                            fk_pool *pool,
                            fk_attr_take_fn take, void *ctx);

/* The largest input side the crop fills (its column table is on the
 * stack); the analyzers' inputs are 64 to 224. */
#define FK_ATTR_MAX_SIZE 1024

/* Fill dst (size * size * channels, size <= FK_ATTR_MAX_SIZE) with one
 * face's crop: exposed for the tests. */
void fk__attr_crop_fill(const fk_image *img, const fk_face *f, float scale, const float sub[4],
                       int size, int channels, fk_attr_fill fill, float *dst);

#endif
