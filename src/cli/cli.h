/*
 * cli.h - the facekit command line: the parsed command line shared by the
 * commands, and the commands themselves. The CLI is a user of the public API
 * (facekit.h) like any other: it never reaches into the library's layers.
 */
#ifndef FK_CLI_H
#define FK_CLI_H

#include <jansson.h>

#include "facekit.h"

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
} cli_args;

/* main.c parses each command's own options (its table says which) into a
 * cli_args, checks the pipeline options (fk_options_check), then calls the
 * command. Usage errors exit 2, failures 1. */

/* The CLI decodes a JPEG at 1/2, 1/4 or 1/8 scale only while its long side
 * stays >= this: every detector's input is 512 px or less, and faces stay
 * far above the 150 px recognition chips, so only photos of ~4000 px and
 * more are reduced (by 1/2) and accuracy cannot suffer. */
#define CLI_DECODE_MAX_SIDE 2048

/* fk_image_load_scaled with the command line's --max-megapixels and
 * --decode-max-side. */
fk_status cli_load_image(const cli_args *a, const char *path, fk_image **out);

/* Seconds on a monotonic clock (the CLI's one clock; the library has its
 * own in src/core/clock.c, which the CLI may not include). */
double cli_now_s(void);

/* Print a JSON value to stdout (indented), then free it. */
void cli_print_json(json_t *v);
/* Print "facekit: <fk_last_error()>" and return exit code 1. */
int cli_fail(void);

/* A face's facial_area object (deepface's field names). */
json_t *cli_facial_area(const fk_face *f);

int cmd_verify(cli_args *a);
int cmd_represent(cli_args *a);
int cmd_detect(cli_args *a);
int cmd_models(cli_args *a);
int cmd_eval(cli_args *a);
int cmd_find(cli_args *a);
int cmd_register(cli_args *a);
int cmd_search(cli_args *a);
int cmd_gallery(cli_args *a);

#endif
