/*
 * eval.h - the parts of `facekit eval` (src/cli/cmd_eval.c) shared by its
 * files: the data set read from a pairs file (eval_pairs.c), the figures of
 * one evaluation, and the writers of reports (eval_report.c: JSON and the
 * text summary; eval_plots.c: per-pair CSV, ROC SVG, the sweep's Markdown).
 * Functions print their own errors (one line on stderr) and return -1.
 */
#ifndef FK_CLI_EVAL_H
#define FK_CLI_EVAL_H

#include <stdio.h>

#include "cli/cli.h"

#define NMETRICS 4
/* The metrics in report order: "cosine", "euclidean", "euclidean_l2",
 * "angular". */
extern const char *const eval_metrics[NMETRICS];

/* How many missing or unreadable images are listed one by one before the
 * rest are only counted: a wrong --images would otherwise print thousands
 * of lines. */
#define MAX_LISTED 10

/* ---- the data set ------------------------------------------------------ */

typedef struct eval_image {
    char *path;    /* as opened: DIR joined with name */
    char *name;    /* as the pairs file names it, for reports */
    int line;      /* first line of the pairs file naming it */
    int missing;   /* not found on disk: its pairs are skipped */
    int wanted;    /* some usable pair needs it */
    fk_faces faces;
    int embedded;  /* faces is valid */
    int fallback;  /* no face found: whole image used */
    int failed;    /* could not be read or embedded */
    int detect_failed; /* could not be read or detected (any model) */
    char error[256];
} eval_image;

typedef struct eval_pair {
    int a, b;  /* image indices */
    int same;  /* label: 1 same person, 0 different */
    int fold;  /* 0..folds-1, or 0 without folds */
    int line;  /* line in the pairs file */
} eval_pair;

typedef struct eval_set {
    const char *file, *dir;
    int csv;          /* CSV rather than an LFW pairs file */
    int folds;        /* folds the header declares; 0 for one set or CSV */
    eval_pair *pairs;
    int npairs, cap_pairs;
    eval_image *images;
    int nimages, cap_images;
    int *slots;       /* open-addressing table: path -> image index */
    int nslots;
    int missing;      /* images not found */
} eval_set;

/* ---- evaluation -------------------------------------------------------- */

typedef struct metric_eval {
    const char *metric;
    float shipped;             /* fk_threshold; NaN when none ships */
    double shipped_accuracy;
    fk_eval_summary s;
    float *dist;               /* per pair of the set; NaN if skipped */
    fk_roc_point *roc;         /* when an ROC image is wanted */
    int nroc;
} metric_eval;

/* One evaluation: a (model, detector, align) embedding set and its
 * metrics. */
typedef struct eval_run {
    const char *model, *detector;
    int align;
    double seconds;
    int embedded, without_face, failed;
    int used, same, different;
    int folds;                 /* used for k-fold; 0 when none */
    int nmetrics;
    metric_eval m[NMETRICS];
} eval_run;

/* ---- eval_pairs.c ------------------------------------------------------- */

/* Read the pairs file into s (s->file and s->dir set by the caller). The
 * format is decided by the first non-blank line: a comma means CSV.
 * Returns 0, or -1 after printing one line saying what is wrong. */
int eval_read_pairs(eval_set *s);
/* Report images that are not on disk and mark the images usable pairs
 * need. Returns 0 or -1 after printing the error. */
int eval_check_missing(eval_set *s, int strict);
/* Free everything the set owns. */
void eval_free_set(eval_set *s);

/* ---- eval_report.c ------------------------------------------------------ */

/* One run as a JSON object (deepface's field names where they exist). */
json_t *eval_run_json(const eval_set *s, const eval_run *r);
/* The human summary of one run on stdout. */
void eval_print_summary(const eval_set *s, const eval_run *r, int threads);
/* A fraction as a percentage with two decimals ("97.45") into buf (16
 * bytes), or "-" for NaN. */
const char *eval_pct(char *buf, double v);
/* A threshold with four decimals into buf (16 bytes), or "-" for NaN. */
const char *eval_thr(char *buf, double v);

/* ---- eval_plots.c ------------------------------------------------------- */

/* Every pair with its label, fold and distance under each metric. */
void eval_write_pairs_csv(FILE *f, const eval_set *s, const eval_run *r);
/* The ROC curves of r as an SVG image (needs r's ROC points). */
void eval_write_roc_svg(FILE *f, const eval_set *s, const eval_run *r);
/* The sweep's Markdown: how it was made, the accuracy table, every
 * figure. */
void eval_write_markdown(FILE *f, const eval_set *s, eval_run *runs, int nruns, int threads,
                         double total, const char *grid_flags);

#endif
