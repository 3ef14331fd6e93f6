/*
 * model.h - what facekit knows about one model, written once, in the
 * model's own file (src/models/<model>.c) and listed in the catalogue
 * (src/models/catalogue.c).
 *
 * A description says where the model's files come from (npm package and path
 * inside its tarball), what it takes (input size, layout, normalisation, the
 * chip it was trained on), what it gives (output size), the thresholds that
 * were measured for it (with the command in a comment beside them), its
 * origin and licence, and how to load, free and run it. Everything else
 * reads the description: `facekit models list`, the package file lists that
 * `facekit models fetch` installs, the zoo (load any model by name), the
 * detector and recognizer lookups, fk_threshold, and the integrity check at
 * load time.
 *
 * The run hook is role-specific: a recognizer embeds chips, a detector
 * finds faces, a landmarker places points, an analyzer (age, gender,
 * emotion, race) or an anti-spoofing model tells about faces already found:
 * it is given the image and the faces, and cuts each face the way it was
 * trained (a tight crop, the face with context around it, gray...), all
 * faces of the image in one batch where it can.
 */
#ifndef FK_MODELS_MODEL_H
#define FK_MODELS_MODEL_H

#include <stddef.h>

#include "facekit.h"
#include "nn/threadpool.h"

typedef enum fk_model_role {
    FK_ROLE_DETECTOR,
    FK_ROLE_LANDMARKS,
    FK_ROLE_RECOGNIZER,
    FK_ROLE_ANALYZER,  /* age, gender, emotion, race: see `attributes` */
    FK_ROLE_ANTISPOOF  /* is the face real (FK_ATTR_SPOOF) */
} fk_model_role;

/* "detector", "landmarks", "recognizer", "analyzer", "anti-spoofing"
 * (static). */
const char *fk__model_role_name(fk_model_role role);

/* How a recognizer's training chips were cut. */
typedef enum fk_align_kind {
    FK_ALIGN_NONE,     /* not a recognizer */
    FK_ALIGN_DLIB68,   /* dlib's mean face, landmarks 17..67, with padding */
    FK_ALIGN_ARCFACE5, /* InsightFace's 5-point 112x112 template (eyes, nose,
                          mouth corners from the 68 landmarks) */
    FK_ALIGN_EYES_BOX, /* the detector box, eye-levelled, square, `padding`
                          margin on each side */
    FK_ALIGN_DEEPFACE  /* deepface's face: the detector box at its own
                          size and shape, eye-levelled when aligning; the
                          embed hook letterboxes it to the input
                          (fk__input_norm_fill_letterbox) */
} fk_align_kind;

/* "dlib68", "arcface5", "eyes-box" or "" (static). */
const char *fk__align_kind_name(fk_align_kind kind);

/* The metrics, in the order of fk_model_desc.thresholds (distance.c's
 * names: "cosine", "euclidean", "euclidean_l2", "angular"). */
enum { FK_COSINE, FK_EUCLIDEAN, FK_EUCLIDEAN_L2, FK_ANGULAR, FK_METRIC_COUNT };

#define FK_MODEL_MAX_FILES 6

/* One file a model reads. `package` is the folder in the model home (and
 * the npm package's dir in the package table); `path` is the file's path
 * inside the tarball below "package/", installed flat as
 * <home>/<package>/<basename(path)>. A NULL package means a system file at
 * the absolute `path` (Debian's opencv-data). */
typedef struct fk_model_file {
    const char *package;
    const char *path;
} fk_model_file;

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

/* ---- input normalization -------------------------------------------------
 * How a recognizer's 8-bit RGB chip becomes its input tensor: per channel
 * c, v = (pixel - mean[c]) * scale; with per_image, v = (pixel - m) / sd
 * over all of the chip's values (deepface's "Facenet"). Each recognizer
 * fills its input through fk__input_norm_fill with its own normalization
 * (its desc's input_norm), or with one of deepface's named ones when
 * fk_options.normalization asks (fk__input_norm_find), so an override is
 * applied in that one place for every model whose normalization is not
 * inside its graph. */
typedef struct fk_input_norm {
    const char *name;   /* deepface's name (canonical case); "base" for a
                           model's own */
    float mean[3];      /* R, G, B */
    float scale;
    int per_image;
} fk_input_norm;

/* The normalization called `name` (any case): *out is NULL for NULL or
 * "base" (the model's own), else a static entry. FK_EINVAL listing the
 * valid names otherwise. */
fk_status fk__input_norm_find(const char *name, const fk_input_norm **out);
/* The valid names, comma-separated (static). */
const char *fk__input_norm_names(void);
/* Fill dst with the chip's w * h * 3 values (RGB order, row-major). */
void fk__input_norm_fill(const fk_input_norm *n, const fk_image *chip, float *dst);
/* deepface's represent input for a face of any size (its
 * preprocessing.resize_image, then normalize_input): the face scaled by
 * min(w / face w, h / face h) to int(face w * f) x int(face h * f) (bilinear
 * as cv2.resize INTER_LINEAR, on float values, no rounding to 8 bits),
 * centred on a black w x h canvas (the odd pixel of padding at the bottom
 * and right), channels in BGR order as deepface feeds its Keras models,
 * then `n` (in 0..255 units; per_image statistics over the whole canvas,
 * padding included, as deepface's). w * h * 3 values. */
void fk__input_norm_fill_letterbox(const fk_input_norm *n, const fk_image *face, int w,
                                   int h, float *dst);

/* ---- analysis ------------------------------------------------------------
 * What an analyzer or anti-spoofing model tells (fk_model_desc.attributes,
 * a bit set: gear gives age, gender and race from one run). */
enum {
    FK_ATTR_AGE = 1,
    FK_ATTR_GENDER = 2,
    FK_ATTR_EMOTION = 4,
    FK_ATTR_RACE = 8,
    FK_ATTR_SPOOF = 16
};

#define FK_EMOTION_COUNT 7 /* deepface's order: angry, disgust, fear, happy,
                              sad, surprise, neutral */
#define FK_RACE_MAX 8      /* a model's own race classes, at most */

/* One face's analysis, as a model gives it: only the fields of the bits it
 * has in `attributes` are filled. Probabilities are 0..1 (the public API
 * turns them into deepface's percentages). */
typedef struct fk_attr_result {
    float age;                     /* FK_ATTR_AGE: years */
    float woman, man;              /* FK_ATTR_GENDER: probabilities, sum 1 */
    float emotion[FK_EMOTION_COUNT]; /* FK_ATTR_EMOTION, deepface's order */
    float race[FK_RACE_MAX];       /* FK_ATTR_RACE: the model's classes
                                      (desc race_names), sum 1 */
    float real;                    /* FK_ATTR_SPOOF: probability that the
                                      face is real, 0..1 */
} fk_attr_result;

/* Analyzers and anti-spoofing models: results for n faces of img (boxes,
 * eyes and landmarks as the detect stage gives them, in img's pixels). */
typedef fk_status (*fk_model_analyze_fn)(void *model, const fk_image *img,
                                         const fk_face *faces, int n,
                                         fk_pool *pool, fk_attr_result *out);

/* Load the model from the home into *out (owned by the caller, released
 * with the free hook). */
typedef fk_status (*fk_model_load_fn)(const char *home, void **out);
typedef void (*fk_model_free_fn)(void *model);

/* Recognizers: embed n chips (input_w x input_h RGB) into n * dim floats,
 * the input filled with `norm` (NULL: the model's own, desc input_norm). */
typedef fk_status (*fk_model_embed_fn)(void *model, const fk_image *const *chips,
                                       int n, const fk_input_norm *norm,
                                       fk_pool *pool, float *out);
/* Detectors: faces scoring >= min_score; *out malloc'd (caller frees),
 * sorted by score, highest first; zero faces is FK_OK with *count == 0. */
typedef fk_status (*fk_model_detect_fn)(void *model, const fk_image *img,
                                        float min_score, fk_pool *pool,
                                        fk_detection **out, int *count);
/* Landmarkers: `dim` points (image pixels) for the face in box (x, y, w, h). */
typedef fk_status (*fk_model_landmarks_fn)(void *model, const fk_image *img,
                                           float x, float y, float w, float h,
                                           fk_pool *pool, fk_point *pts);

typedef struct fk_model_desc {
    const char *name;            /* unique, looked up ignoring case */
    fk_model_role role;
    fk_model_file files[FK_MODEL_MAX_FILES]; /* ends at the first NULL path */

    /* what it takes */
    const char *input;           /* for people: "150x150 RGB" */
    int input_w, input_h;        /* network input in pixels (recognizers:
                                    the chip); 0 when it varies (pyramids) */
    const char *layout;          /* "NHWC float32" */
    const char *normalization;   /* "pixel / 255", "(pixel - 127.5) / 128" */
    const fk_input_norm *input_norm; /* recognizers: the input fill the
                                    model itself uses (that string, as
                                    numbers) */
    int normalization_in_graph;  /* recognizers: 1 when the graph itself
                                    normalizes its input, so another
                                    normalization cannot be put in its place */
    fk_align_kind chip;          /* recognizers: the chip it was trained on */
    double padding;              /* FK_ALIGN_DLIB68, FK_ALIGN_EYES_BOX:
                                    margin around the face */

    /* what it gives */
    const char *output;          /* for people: "128-d embedding" */
    int dim;                     /* recognizers: embedding size; landmarks:
                                    points per face; 0 otherwise */
    /* Recognizers: verify thresholds per metric (FK_COSINE ...), a pair is
     * the same person when its distance is <= the threshold; 0 = none. */
    float thresholds[FK_METRIC_COUNT];

    const char *summary;         /* one line for docs and option help */
    const char *origin;          /* package and original authors */
    const char *license;

    fk_model_load_fn load;
    fk_model_free_fn free;
    /* Models whose weights users bring (deepface's Keras files): the file's
     * name where deepface keeps it (~/.deepface/weights/<user_file>), and a
     * load from a given path. Such a model has no `files`; load(home)
     * discovers the file itself (keras_model.h), load_file takes the
     * caller's (--weights). NULL for models facekit installs. */
    const char *user_file;
    fk_status (*load_file)(const char *path, void **out);
    fk_model_embed_fn embed;         /* FK_ROLE_RECOGNIZER */
    fk_model_detect_fn detect;       /* FK_ROLE_DETECTOR */
    fk_model_landmarks_fn landmarks; /* FK_ROLE_LANDMARKS */

    /* FK_ROLE_ANALYZER, FK_ROLE_ANTISPOOF */
    unsigned attributes;             /* FK_ATTR_* bits it gives */
    const char *const *race_names;   /* FK_ATTR_RACE: its classes, in its
                                        order (static) */
    int race_count;
    float spoof_threshold;           /* FK_ATTR_SPOOF: real when real >=
                                        this (measured: command beside it) */
    fk_model_analyze_fn analyze;
} fk_model_desc;

/* ---- the catalogue (catalogue.c) ---------------------------------------- */

/* Every model, in catalogue order. */
const fk_model_desc *const *fk__models(int *count);
/* The model called `name` (any case), or NULL. */
const fk_model_desc *fk__model_get(const char *name);
/* The model of `role` called `name` (any case). Else FK_EINVAL "unknown
 * <kind> 'name'; valid: a, b, c" listing that role's models and then
 * `also` (NULL or one more valid name, e.g. the detector "skip"). */
fk_status fk__model_find(fk_model_role role, const char *kind, const char *name,
                        const char *also, const fk_model_desc **out);

/* ---- shared helpers for run hooks (model.c) ---------------------------- */

/* FK_EMODEL naming the model when any of the n values is NaN or infinite:
 * a damaged weight file gives such outputs, and they must never reach a
 * distance or a score. `what` says which output ("embedding"). */
fk_status fk__check_finite(const fk_model_desc *m, const char *what,
                          const float *v, size_t n);
/* The same over detections (box, score, eyes, keypoints). */
fk_status fk__check_detections(const fk_model_desc *m, const fk_detection *d,
                              int n);

/* A box from a box-only detector pass. */
typedef struct fk_box {
    float x0, y0, x1, y1; /* image pixels */
    float score;
} fk_box;

/* One pass of a box-only detector over img. */
typedef fk_status (*fk_box_pass_fn)(void *model, const fk_image *img,
                                    float min_score, fk_pool *pool,
                                    fk_box **boxes, int *count);

/* Run `pass`; when it finds nothing, run it again on img centred in a black
 * canvas twice its size (detectors trained on scenes miss faces that fill
 * the frame) and map the boxes back, clipped to img; boxes lying wholly in
 * the canvas border are dropped. Fills *out / *count as a detect hook. */
fk_status fk__detect_boxes_padded_retry(void *model, fk_box_pass_fn pass,
                                       const fk_image *img, float min_score,
                                       fk_pool *pool, fk_detection **out,
                                       int *count);

#endif
