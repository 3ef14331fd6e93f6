/*
 * cli.h - the facekit command line: the parsed command line shared by the
 * commands, and the commands themselves. The CLI is a user of the public API
 * (facekit.h) like any other: it never reaches into the library's layers.
 */
#ifndef FK_CLI_H
#define FK_CLI_H

#include <jansson.h>

#include "facekit.h"
#include "json/results_json.h"

/* Parsed command line: positional arguments plus the pipeline options. */
typedef struct cli_args {
    const char *positional[8];
    int npositional;
    fk_options opt;
    int threads;
    size_t max_pixels;      /* --max-megapixels; 0: the library default */
    int decode_max_side;    /* --decode-max-side (CLI_DECODE_MAX_SIDE);
                               0 (--full-decode): decode every pixel */
    const char *out_path;   /* detect --out */
    const char *pairs_path; /* eval --pairs */
    const char *images_dir; /* eval --images */
    const char *pairs_csv;  /* eval --pairs-csv: per-pair distances */
    const char *roc_path;   /* eval --roc: ROC curve (SVG) */
    const char *markdown;   /* eval --sweep --markdown: the table's file */
    int metric_given;       /* --metric was on the command line */
    int model_given;        /* --model was (eval --sweep narrows its grid) */
    int detector_given;     /* --detector was */
    int align_given;        /* --align was */
    int json;               /* eval --json: JSON instead of the summary */
    int sweep;              /* eval --sweep: the whole grid */
    int strict;             /* eval --strict: missing images are fatal */
    int quiet;
    const char *db_path;    /* find/register/search/gallery --db */
    const char *search_method; /* find/search --search-method; NULL: exact */
    const char *ann_index;  /* find/search --ann; NULL: hnsw */
    const char *id;         /* register --id; NULL: the file's base name */
    int allow_duplicates;   /* register --allow-duplicates */
    int top_k;              /* find/search --top-k; 0: default */
    int embeddings;         /* verify --embeddings: the arguments are JSON
                               files of embeddings, not images */
    const char *format;     /* extract-faces --format: "jpg", "png", "webp" */
    int normalize_face;     /* extract-faces --normalize-face */
    const char *actions;    /* analyze --actions (checked by the command) */
    const char *age_model;  /* analyze --age-model ... (NULL: default) */
    const char *gender_model;
    const char *emotion_model;
    const char *race_model;
} cli_args;

/* main.c parses each command's own options (its table says which) into a
 * cli_args, checks the pipeline options (fk_options_check), then calls the
 * command. Usage errors exit 2, failures 1. */

/* The CLI decodes a JPEG at 1/2, 1/4 or 1/8 scale only while its long side
 * stays >= this: every detector's input is 512 px or less, and faces stay
 * far above the 150 px recognition chips, so only photos of ~4000 px and
 * more are reduced (by 1/2) and accuracy cannot suffer. */
#define CLI_DECODE_MAX_SIDE 2048

/* A context honouring --threads and --max-megapixels; 0, or -1 with
 * fk_last_error() set. */
int cli_open_context(const cli_args *a, fk_context **ctx);

/* fk_image_load_source (a path, "-", a data URI or base64) with the command
 * line's --max-megapixels and --decode-max-side. */
fk_status cli_load_image(const cli_args *a, const char *path, fk_image **out);

/* How an IMG argument is named in messages: itself when it is a file name,
 * "standard input" for "-", "data URI image" / "base64 image" for the
 * encoded forms (which can be megabytes long). */
const char *cli_image_label(const char *arg);

/* Seconds on a monotonic clock (the CLI's one clock; the library has its
 * own in src/core/clock.c, which the CLI may not include). */
double cli_now_s(void);

/* Print a JSON value to stdout (indented), then free it. */
void cli_print_json(json_t *v);
/* Print "facekit: <fk_last_error()>" and return exit code 1. */
int cli_fail(void);

/* The JSON of results (facial_area, verify, represent, analyze, gallery) is
 * json/results_json.h's, shared with the server. With --anti-spoofing, add the face's is_real and antispoof_score to the
 * object o (deepface's field names); without it, o keeps deepface's shape. */
void cli_spoof_fields(json_t *o, const cli_args *a, const fk_face *f);
/* o with cli_spoof_fields added, returned (for json_pack chains). */
json_t *cli_with_spoof(json_t *o, const cli_args *a, const fk_face *f);

int cmd_verify(cli_args *a);
/* verify --embeddings (cmd_verify_embeddings.c). */
int cli_verify_embeddings(cli_args *a);
int cmd_represent(cli_args *a);
int cmd_detect(cli_args *a);
int cmd_models(cli_args *a);
int cmd_eval(cli_args *a);
int cmd_find(cli_args *a);
int cmd_register(cli_args *a);
int cmd_search(cli_args *a);
int cmd_gallery(cli_args *a);

/* cmd_extract.c: `facekit extract-faces`, its --help text, and --format's
 * check (0, or -1 for a value other than jpg, png, webp). */
int cmd_extract_faces(cli_args *a);
#define CMD_EXTRACT_ABOUT                                                          \
    "Cuts every face of IMG out, as deepface's extract_faces: aligned, each\n"     \
    "crop is the chip --model sees (Dlib 150x150, MobileFaceNet 112x112, ...);\n"  \
    "--align false gives the box at the photo's resolution. Prints face (a\n"     \
    "data:image/png;base64 URL, or with --out the file written), facial_area,\n"  \
    "confidence, eyes_in_face (the eyes in crop pixels), width and height."
int cli_extract_format(cli_args *a, const char *v);

/* cmd_analyze.c: `facekit analyze` and its --help text. */
int cmd_analyze(cli_args *a);
#define CMD_ANALYZE_ABOUT                                                          \
    "Age, gender, emotion and race of every face of IMG, as deepface's analyze:\n" \
    "age, gender {Woman, Man} and dominant_gender, emotion {angry, disgust,\n"     \
    "fear, happy, sad, surprise, neutral} and dominant_emotion, race and\n"        \
    "dominant_race (percentages), region and face_confidence as JSON; with\n"     \
    "--anti-spoofing true also is_real and antispoof_score. Models: see\n"        \
    "'facekit models list' (analyzers)."

#endif
