/*
 * cmd_eval.c - `facekit eval`: verification accuracy on labelled pairs,
 * measured the way the field does (LFW protocol, ROC, calibrated
 * thresholds).
 *
 *   facekit eval --pairs FILE --images DIR [--model M] [--detector D]
 *                [--metric X] [--align B] [--json] [--pairs-csv F]
 *                [--roc F.svg] [--strict] [--threads N] [--quiet]
 *   facekit eval --sweep --pairs FILE --images DIR [--markdown F] [--json]
 *
 * Pairs files, recognised by their content:
 *  - LFW: a header "count" (pairsDevTrain.txt, pairsDevTest.txt) or
 *    "folds count" (pairs.txt: "10 300"), then for each fold `count` lines
 *    "name n1 n2" (same person) followed by `count` lines
 *    "name1 n1 name2 n2" (different people). Images are
 *    DIR/<name>/<name>_<nnnn>.jpg.
 *  - CSV: "file_x,file_y,label" lines, label 1/0 or Yes/No, paths relative
 *    to DIR; a header line is allowed.
 *
 * Every distinct image is embedded once (worker threads, each with its own
 * context) and every metric is evaluated on the same embeddings. An image
 * in which the detector finds no face is embedded as with --detector skip
 * (the whole image taken as the face, still landmarked and aligned: LFW
 * images are centred on their subject) and counted. A pair's distance is
 * that of its closest two faces, as fk_verify decides. The statistics come
 * from the library (fk_eval_summarize): the CLI reads files, embeds, and
 * reports.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

#define NMETRICS 4
static const char *const METRICS[NMETRICS] = {"cosine", "euclidean", "euclidean_l2", "angular"};

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

/* Hash of a NUL-terminated string (djb2): spreads paths well enough for
 * the path table. */
static unsigned long hash_str(const char *s) {
    unsigned long h = 5381;
    while (*s) h = h * 33 + (unsigned char)*s++;
    return h;
}

/* Grow the path table to twice its size and re-insert every image. Keeps
 * the table at most half full, so probes stay short. Returns 0 or -1. */
static int grow_slots(eval_set *s) {
    int n = s->nslots ? s->nslots * 2 : 1 << 12;
    int *slots = malloc(sizeof *slots * (size_t)n);
    if (!slots) return -1;
    memset(slots, -1, sizeof *slots * (size_t)n);
    for (int i = 0; i < s->nimages; i++) {
        unsigned long h = hash_str(s->images[i].path) % (unsigned long)n;
        while (slots[h] >= 0) h = (h + 1) % (unsigned long)n;
        slots[h] = i;
    }
    free(s->slots);
    s->slots = slots;
    s->nslots = n;
    return 0;
}

/* Index of the image at `name` (relative to the images folder unless
 * absolute), adding it when new and checking then whether it exists.
 * Returns -1 when out of memory. */
static int intern_image(eval_set *s, const char *name, int line) {
    char path[PATH_MAX];
    if (name[0] == '/') snprintf(path, sizeof path, "%s", name);
    else snprintf(path, sizeof path, "%s/%s", s->dir, name);
    if (2 * (s->nimages + 1) > s->nslots && grow_slots(s)) return -1;
    unsigned long h = hash_str(path) % (unsigned long)s->nslots;
    while (s->slots[h] >= 0) {
        if (strcmp(s->images[s->slots[h]].path, path) == 0) return s->slots[h];
        h = (h + 1) % (unsigned long)s->nslots;
    }
    if (s->nimages == s->cap_images) {
        int cap = s->cap_images ? s->cap_images * 2 : 256;
        eval_image *p = realloc(s->images, sizeof *p * (size_t)cap);
        if (!p) return -1;
        s->images = p;
        s->cap_images = cap;
    }
    eval_image *im = &s->images[s->nimages];
    memset(im, 0, sizeof *im);
    im->path = strdup(path);
    im->name = strdup(name);
    im->line = line;
    if (!im->path || !im->name) {
        free(im->path);
        free(im->name);
        return -1;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        im->missing = 1;
        snprintf(im->error, sizeof im->error, "%s", strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        im->missing = 1;
        snprintf(im->error, sizeof im->error, "not a regular file");
    }
    s->missing += im->missing;
    s->slots[h] = s->nimages;
    return s->nimages++;
}

/* Append a pair naming images x and y. Returns 0 or -1 (out of memory). */
static int add_pair(eval_set *s, const char *x, const char *y, int same, int fold, int line) {
    if (s->npairs == s->cap_pairs) {
        int cap = s->cap_pairs ? s->cap_pairs * 2 : 1024;
        eval_pair *p = realloc(s->pairs, sizeof *p * (size_t)cap);
        if (!p) return -1;
        s->pairs = p;
        s->cap_pairs = cap;
    }
    int a = intern_image(s, x, line), b = a < 0 ? -1 : intern_image(s, y, line);
    if (a < 0 || b < 0) return -1;
    s->pairs[s->npairs++] = (eval_pair){a, b, same, fold, line};
    return 0;
}

/* Free everything the set owns. */
static void free_set(eval_set *s) {
    for (int i = 0; i < s->nimages; i++) {
        fk_faces_free(&s->images[i].faces);
        free(s->images[i].path);
        free(s->images[i].name);
    }
    free(s->images);
    free(s->pairs);
    free(s->slots);
}

/* ---- reading pairs files ----------------------------------------------- */

/* Strip trailing newline, carriage return and blanks in place. */
static void chomp(char *line) {
    size_t n = strlen(line);
    while (n && strchr("\r\n \t", line[n - 1])) line[--n] = '\0';
}

/* A whole token as a positive integer below `max`; -1 if it is not one. */
static long parse_count(const char *tok, long max) {
    char *end;
    if (!tok || !*tok || *tok == '-' || *tok == '+') return -1;
    errno = 0;
    long v = strtol(tok, &end, 10);
    if (errno || *end || v < 1 || v >= max) return -1;
    return v;
}

/* Split an LFW line into at most 5 whitespace-separated tokens (the fifth
 * only to notice that there are too many). Returns the count. */
static int split_ws(char *line, char **tok) {
    int n = 0;
    for (char *save = NULL, *t = strtok_r(line, " \t", &save); t && n < 5;
         t = strtok_r(NULL, " \t", &save))
        tok[n++] = t;
    return n;
}

/* Split one CSV record in place into at most `max` fields: commas separate,
 * double quotes protect commas and "" stands for a quote, blanks around an
 * unquoted field are dropped. Returns the field count, or -1 for an
 * unterminated quote. */
static int split_csv(char *line, char **field, int max) {
    int n = 0;
    char *r = line, *w = line;
    for (;;) {
        while (*r == ' ' || *r == '\t') r++;
        char *start = w;
        if (*r == '"') {
            r++;
            for (;;) {
                if (*r == '\0') return -1;
                if (*r == '"' && r[1] == '"') {
                    *w++ = '"';
                    r += 2;
                } else if (*r == '"') {
                    r++;
                    break;
                } else *w++ = *r++;
            }
            while (*r == ' ' || *r == '\t') r++;
        } else {
            while (*r && *r != ',') *w++ = *r++;
            while (w > start && (w[-1] == ' ' || w[-1] == '\t')) w--;
        }
        char sep = *r;
        if (sep == ',') r++;
        else if (sep != '\0') return -1; /* text after a closing quote */
        *w++ = '\0';
        if (n < max) field[n] = start;
        n++;
        if (sep == '\0') return n;
    }
}

/* A CSV label: 1/yes/true -> 1, 0/no/false -> 0, else -1. */
static int parse_label(const char *s) {
    if (!strcmp(s, "1") || !strcasecmp(s, "yes") || !strcasecmp(s, "true")) return 1;
    if (!strcmp(s, "0") || !strcasecmp(s, "no") || !strcasecmp(s, "false")) return 0;
    return -1;
}

/* State of an LFW file being read: the header's promise and the count of
 * pairs so far, so each line can be checked against its place. */
typedef struct lfw_state {
    long folds, count; /* header: folds x (count same + count different) */
    long seen;
} lfw_state;

/* Parse the LFW header line into *st. Returns 0, or -1 after printing the
 * error. */
static int lfw_header(const eval_set *s, char *line, int lineno, lfw_state *st) {
    char *tok[5];
    int n = split_ws(line, tok);
    st->seen = 0;
    if (n == 1) {
        st->folds = 1;
        st->count = parse_count(tok[0], 10000000);
    } else if (n == 2) {
        st->folds = parse_count(tok[0], 1000);
        st->count = parse_count(tok[1], 10000000);
    }
    if ((n != 1 && n != 2) || st->folds < 0 || st->count < 0 ||
        st->folds * st->count > 10000000) {
        fprintf(stderr,
                "facekit: %s:%d: expected an LFW header (pair count, e.g. '1100', or folds "
                "and count, e.g. '10 300') or CSV 'file_x,file_y,label'\n",
                s->file, lineno);
        return -1;
    }
    return 0;
}

/* Parse one LFW pair line, checking it is the kind of pair its place in the
 * file calls for. Returns 0, or -1 after printing the error. */
static int lfw_line(eval_set *s, char *line, int lineno, lfw_state *st) {
    char *tok[5], x[PATH_MAX], y[PATH_MAX];
    char copy[160];
    snprintf(copy, sizeof copy, "%s", line);
    int n = split_ws(line, tok), same = n == 3;
    long a = n >= 3 ? parse_count(tok[1], 100000) : -1;
    long b = n == 3 ? parse_count(tok[2], 100000) : n == 4 ? parse_count(tok[3], 100000) : -1;
    if ((n != 3 && n != 4) || a < 0 || b < 0) {
        fprintf(stderr,
                "facekit: %s:%d: malformed pair line '%s': expected 'name n1 n2' (same person) "
                "or 'name1 n1 name2 n2' (different people)\n",
                s->file, lineno, copy);
        return -1;
    }
    long per_fold = 2 * st->count, fold = st->seen / per_fold;
    int want_same = st->seen % per_fold < st->count;
    if (fold >= st->folds) {
        fprintf(stderr, "facekit: %s:%d: more pairs than the header promises (%ld fold%s of %ld same + %ld different)\n",
                s->file, lineno, st->folds, st->folds > 1 ? "s" : "", st->count, st->count);
        return -1;
    }
    if (same != want_same) {
        fprintf(stderr,
                "facekit: %s:%d: expected a %s pair ('%s') as pair %ld of fold %ld (the header "
                "promises %ld same then %ld different per fold)\n",
                s->file, lineno, want_same ? "same-person" : "different-people",
                want_same ? "name n1 n2" : "name1 n1 name2 n2", st->seen % per_fold + 1, fold + 1,
                st->count, st->count);
        return -1;
    }
    snprintf(x, sizeof x, "%s/%s_%04ld.jpg", tok[0], tok[0], a);
    const char *other = same ? tok[0] : tok[2];
    snprintf(y, sizeof y, "%s/%s_%04ld.jpg", other, other, b);
    st->seen++;
    if (add_pair(s, x, y, same, st->folds > 1 ? (int)fold : 0, lineno)) {
        fprintf(stderr, "facekit: out of memory reading %s\n", s->file);
        return -1;
    }
    return 0;
}

/* Parse one CSV record. The first record may be a header (its label field
 * is not a label). Returns 0, or -1 after printing the error. */
static int csv_line(eval_set *s, char *line, int lineno, int first) {
    char *f[4];
    int n = split_csv(line, f, 4);
    if (n < 0) {
        fprintf(stderr, "facekit: %s:%d: malformed CSV: unbalanced double quote\n", s->file, lineno);
        return -1;
    }
    if (n != 3) {
        fprintf(stderr, "facekit: %s:%d: expected 3 comma-separated fields (file_x,file_y,label), found %d\n",
                s->file, lineno, n);
        return -1;
    }
    int label = parse_label(f[2]);
    if (label < 0 && first) return 0; /* the header */
    if (label < 0) {
        fprintf(stderr, "facekit: %s:%d: label '%s' is not 1/0 or Yes/No\n", s->file, lineno, f[2]);
        return -1;
    }
    if (!*f[0] || !*f[1]) {
        fprintf(stderr, "facekit: %s:%d: empty file name\n", s->file, lineno);
        return -1;
    }
    if (add_pair(s, f[0], f[1], label, 0, lineno)) {
        fprintf(stderr, "facekit: out of memory reading %s\n", s->file);
        return -1;
    }
    return 0;
}

/* Read the pairs file into s (s->file and s->dir set by the caller). The
 * format is decided by the first non-blank line: a comma means CSV.
 * Returns 0, or -1 after printing one line saying what is wrong. */
static int read_pairs(eval_set *s) {
    FILE *f = fopen(s->file, "r");
    if (!f) {
        fprintf(stderr, "facekit: %s: cannot open: %s\n", s->file, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = 0, started = 0;
    lfw_state st = {0, 0, 0};
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        lineno++;
        if (lineno == 1 && !strncmp(line, "\xEF\xBB\xBF", 3)) /* a BOM, as spreadsheets write */
            memmove(line, line + 3, strlen(line + 3) + 1);
        chomp(line);
        if (line[strspn(line, " \t")] == '\0') continue;
        if (!started) {
            started = 1;
            s->csv = strchr(line, ',') != NULL;
            if (s->csv) rc = csv_line(s, line, lineno, 1);
            else rc = lfw_header(s, line, lineno, &st);
        } else if (s->csv) {
            rc = csv_line(s, line, lineno, 0);
        } else {
            rc = lfw_line(s, line, lineno, &st);
        }
    }
    int read_error = ferror(f);
    free(line);
    fclose(f);
    if (rc) return rc;
    if (read_error) {
        fprintf(stderr, "facekit: %s: read error\n", s->file);
        return -1;
    }
    if (!started) {
        fprintf(stderr,
                "facekit: %s: empty file; expected an LFW pairs file ('1100' or '10 300' header) or "
                "CSV (file_x,file_y,label)\n",
                s->file);
        return -1;
    }
    if (!s->csv && st.seen != st.folds * 2 * st.count) {
        fprintf(stderr,
                "facekit: %s: the header promises %ld fold%s of %ld same + %ld different pairs "
                "(%ld in all) but the file has %ld\n",
                s->file, st.folds, st.folds > 1 ? "s" : "", st.count, st.count,
                st.folds * 2 * st.count, st.seen);
        return -1;
    }
    if (s->npairs == 0) {
        fprintf(stderr, "facekit: %s: no pairs found\n", s->file);
        return -1;
    }
    s->folds = !s->csv && st.folds > 1 ? (int)st.folds : 0;
    return 0;
}

/* Report images that are not on disk. Zero usable pairs is an error (the
 * usual cause is a wrong --images), as is any missing image under
 * --strict; otherwise each is a warning (the first MAX_LISTED by name) and
 * its pairs are skipped. Marks the images usable pairs need. Returns 0 or
 * -1 after printing the error. */
static int check_missing(eval_set *s, int strict) {
    int usable = 0;
    for (int i = 0; i < s->npairs; i++) {
        const eval_pair *p = &s->pairs[i];
        if (s->images[p->a].missing || s->images[p->b].missing) continue;
        s->images[p->a].wanted = s->images[p->b].wanted = 1;
        usable++;
    }
    const eval_image *first = NULL;
    for (int i = 0; i < s->nimages && !first; i++)
        if (s->images[i].missing) first = &s->images[i];
    if (!first) return 0;
    if (usable == 0 && s->missing == s->nimages) {
        fprintf(stderr,
                "facekit: %s: none of the %d images %s names were found there (e.g. %s: %s)\n",
                s->dir, s->nimages, s->file, first->path, first->error);
        return -1;
    }
    if (strict) {
        fprintf(stderr, "facekit: %s:%d: %s: %s (--strict; %d image%s missing)\n", s->file,
                first->line, first->path, first->error, s->missing, s->missing > 1 ? "s" : "");
        return -1;
    }
    if (usable == 0) {
        fprintf(stderr, "facekit: %s: no usable pairs: every pair names a missing image (e.g. %s: %s)\n",
                s->file, first->path, first->error);
        return -1;
    }
    int listed = 0;
    for (int i = 0; i < s->nimages; i++) {
        const eval_image *im = &s->images[i];
        if (im->missing && listed++ < MAX_LISTED)
            fprintf(stderr, "facekit: warning: %s:%d: %s: %s (its pairs are skipped)\n", s->file,
                    im->line, im->path, im->error);
    }
    if (listed > MAX_LISTED)
        fprintf(stderr, "facekit: warning: ... and %d more missing images\n", listed - MAX_LISTED);
    return 0;
}

/* ---- embedding --------------------------------------------------------- */

/* The embeddings of one image under one configuration (model, align) of an
 * embedding pass. */
typedef struct eval_slot {
    fk_faces faces;
    int embedded; /* faces is valid */
    int failed;   /* the model could not embed it (message in image.error) */
} eval_slot;

typedef struct eval_job {
    eval_image *images;
    int nimages;
    int *todo; /* indices of the images to embed */
    int count;
    atomic_int next;
    atomic_int done;
    const fk_options *conf; /* nconf configurations sharing one detector */
    int nconf;
    eval_slot *slots;       /* nconf x nimages */
    size_t max_pixels;      /* --max-megapixels; 0: the library default */
    int decode_max_side;    /* --decode-max-side; 0: full decode */
    pthread_mutex_t lock;   /* guards error */
    char error[256];        /* a worker could not start: why */
} eval_job;

/* A copy of faces without embeddings, for another model to fill. */
static fk_status copy_faces(const fk_faces *from, fk_faces *to) {
    to->count = 0;
    to->faces = NULL;
    if (from->count == 0) return FK_OK;
    to->faces = malloc(sizeof *to->faces * (size_t)from->count);
    if (!to->faces) return FK_ENOMEM;
    memcpy(to->faces, from->faces, sizeof *to->faces * (size_t)from->count);
    for (int i = 0; i < from->count; i++) {
        to->faces[i].embedding = NULL;
        to->faces[i].embedding_dim = 0;
    }
    to->count = from->count;
    return FK_OK;
}

/* One image: detect once (an image with no face gets detector skip, the
 * whole image), then align and embed with every configuration. */
static void embed_one(eval_job *job, fk_context *ctx, int index) {
    eval_image *im = &job->images[index];
    fk_image *img = NULL;
    fk_faces found = {0};
    fk_options o = job->conf[0];
    o.image_names[0] = im->path;
    fk_status st = fk_image_load_scaled(im->path, job->max_pixels, job->decode_max_side,
                                        &img);
    if (st == FK_OK) st = fk_detect(ctx, img, &o, &found);
    if (st == FK_ENOFACE) {
        o.detector = "skip";
        im->fallback = 1;
        st = fk_detect(ctx, img, &o, &found);
    }
    if (st != FK_OK) {
        im->detect_failed = 1;
        snprintf(im->error, sizeof im->error, "%s", fk_last_error());
    }
    for (int c = 0; st == FK_OK && c < job->nconf; c++) {
        eval_slot *slot = &job->slots[(size_t)c * job->nimages + index];
        fk_options oc = job->conf[c];
        oc.image_names[0] = im->path;
        int copied = copy_faces(&found, &slot->faces) == FK_OK;
        fk_status sc = copied ? fk_embed_faces(ctx, img, &oc, &slot->faces) : FK_ENOMEM;
        if (sc == FK_OK) {
            slot->embedded = 1;
        } else {
            slot->failed = 1;
            fk_faces_free(&slot->faces);
            if (!im->error[0])
                snprintf(im->error, sizeof im->error, "%s%s", copied ? "" : "out of memory: ",
                         copied ? fk_last_error() : im->path);
        }
    }
    fk_faces_free(&found);
    fk_image_free(img);
}

/* Worker: opens its own single-threaded context (contexts are not shared
 * between threads) and claims images until none are left. */
static void *eval_worker(void *arg) {
    eval_job *job = arg;
    fk_context_options co;
    fk_context_options_init(&co);
    co.threads = 1;
    co.max_pixels = job->max_pixels;
    fk_context *ctx = NULL;
    if (fk_context_new(&co, &ctx) != FK_OK) {
        pthread_mutex_lock(&job->lock);
        snprintf(job->error, sizeof job->error, "%s", fk_last_error());
        pthread_mutex_unlock(&job->lock);
        return NULL;
    }
    for (;;) {
        int i = atomic_fetch_add(&job->next, 1);
        if (i >= job->count) break;
        embed_one(job, ctx, job->todo[i]);
        atomic_fetch_add(&job->done, 1);
    }
    fk_context_free(ctx);
    return NULL;
}

/* Draw the progress bar on stderr (a terminal): label, bar, count, time
 * left. */
static void draw_progress(const char *label, int done, int total, double elapsed) {
    char bar[31];
    int filled = total ? (int)((long long)done * 30 / total) : 30;
    for (int i = 0; i < 30; i++) bar[i] = i < filled ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r\033[K%s [%s] %d/%d images", label, bar, done, total);
    if (done > 0 && done < total) {
        double left = elapsed / done * (total - done);
        fprintf(stderr, ", %dm%02ds left", (int)left / 60, (int)left % 60);
    }
    fflush(stderr);
}

/* Free the embeddings of an embedding pass. */
static void free_slots(eval_slot *slots, size_t n) {
    for (size_t i = 0; slots && i < n; i++) fk_faces_free(&slots[i].faces);
    free(slots);
}

/* Make configuration c of a pass the embeddings eval_image describes (moves
 * them out of the slots; the images' own embeddings are freed first). */
static void use_slots(eval_set *s, eval_slot *slots, int c) {
    for (int i = 0; i < s->nimages; i++) {
        eval_image *im = &s->images[i];
        eval_slot *slot = &slots[(size_t)c * s->nimages + i];
        fk_faces_free(&im->faces);
        im->faces = slot->faces;
        slot->faces.faces = NULL;
        slot->faces.count = 0;
        im->embedded = slot->embedded;
        im->failed = im->detect_failed || slot->failed;
    }
}

/* Embed every wanted image of s under the nconf configurations conf (they
 * share conf[0]'s detector: each image is decoded and detected once, then
 * aligned and embedded per configuration), images over max_pixels refused
 * as by the other commands, with `threads` workers and a progress bar on
 * stderr when `progress`. Forgets the embeddings of an earlier call first.
 * *slots receives nconf x nimages results for use_slots. Returns the
 * seconds taken, or -1 after printing why no worker could start (e.g. the
 * models are missing). */
static double embed_images(eval_set *s, const fk_options *conf, int nconf, size_t max_pixels,
                           int decode_max_side, int threads, int progress, const char *label, eval_slot **slots) {
    eval_job job = {.images = s->images, .nimages = s->nimages, .conf = conf, .nconf = nconf,
                    .max_pixels = max_pixels, .decode_max_side = decode_max_side};
    *slots = NULL;
    job.todo = malloc(sizeof *job.todo * (size_t)(s->nimages ? s->nimages : 1));
    job.slots = calloc((size_t)nconf * (size_t)(s->nimages ? s->nimages : 1), sizeof *job.slots);
    if (!job.todo || !job.slots) {
        fprintf(stderr, "facekit: out of memory\n");
        free(job.todo);
        free(job.slots);
        return -1;
    }
    for (int i = 0; i < s->nimages; i++) {
        eval_image *im = &s->images[i];
        fk_faces_free(&im->faces);
        im->embedded = im->fallback = im->failed = im->detect_failed = 0;
        im->error[0] = '\0';
        if (im->wanted) job.todo[job.count++] = i;
    }
    atomic_init(&job.next, 0);
    atomic_init(&job.done, 0);
    pthread_mutex_init(&job.lock, NULL);
    if (threads > job.count) threads = job.count > 0 ? job.count : 1;
    double t0 = cli_now_s();
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    int started = 0;
    for (int i = 0; tids && i < threads; i++)
        if (pthread_create(&tids[started], NULL, eval_worker, &job) == 0) started++;
    while (progress && started && atomic_load(&job.done) < job.count && !job.error[0]) {
        draw_progress(label, atomic_load(&job.done), job.count, cli_now_s() - t0);
        usleep(250000);
    }
    for (int i = 0; i < started; i++) pthread_join(tids[i], NULL);
    if (progress) fprintf(stderr, "\r\033[K");
    free(tids);
    pthread_mutex_destroy(&job.lock);
    int unclaimed = job.count - atomic_load(&job.done);
    free(job.todo);
    if (!started || unclaimed > 0) {
        fprintf(stderr, "facekit: %s\n", job.error[0] ? job.error : "could not start the worker threads");
        free_slots(job.slots, (size_t)nconf * (size_t)s->nimages);
        return -1;
    }
    *slots = job.slots;
    return cli_now_s() - t0;
}

/* Load the models and check the options once, on a small synthetic image,
 * before hours of work depend on them: unknown names or missing models fail
 * here with the library's message. Fills the canonical model, detector and
 * metric names (static strings). Returns 0 or -1 after printing the error. */
static int probe_pipeline(const fk_options *o, const char **model, const char **detector,
                          const char **metric) {
    fk_context_options co;
    fk_context_options_init(&co);
    co.threads = 1;
    fk_context *ctx = NULL;
    fk_image *img = NULL;
    fk_verify_result r;
    fk_options p = *o;
    p.enforce_detection = 0; /* no face in a gradient; the models still load */
    p.image_names[0] = p.image_names[1] = "probe";
    fk_status st = fk_context_new(&co, &ctx);
    if (st == FK_OK) st = fk_image_new(96, 96, 3, &img);
    if (st == FK_OK) {
        for (int y = 0; y < 96; y++)
            for (int x = 0; x < 96 * 3; x++) img->data[y * img->stride + x] = (uint8_t)(40 + x / 3 + y);
        st = fk_verify(ctx, img, img, &p, &r);
    }
    if (st == FK_OK) {
        *model = r.model;
        *detector = r.detector;
        *metric = r.metric;
    } else {
        fprintf(stderr, "facekit: %s\n", fk_last_error());
    }
    fk_image_free(img);
    fk_context_free(ctx);
    return st == FK_OK ? 0 : -1;
}

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

/* Closest-pair distance between two embedded images under `metric` (as
 * fk_verify picks the closest two faces). Returns 0, or -1 when the
 * library refuses (message in fk_last_error). */
static int pair_distance(const eval_image *x, const eval_image *y, const char *metric, float *out) {
    float best = INFINITY;
    for (int p = 0; p < x->faces.count; p++)
        for (int q = 0; q < y->faces.count; q++) {
            const fk_face *fa = &x->faces.faces[p], *fb = &y->faces.faces[q];
            float d;
            if (fa->embedding_dim != fb->embedding_dim ||
                fk_distance(fa->embedding, fb->embedding, fa->embedding_dim, metric, &d) != FK_OK)
                return -1;
            if (d < best) best = d;
        }
    if (!isfinite(best)) return -1;
    *out = best;
    return 0;
}

/* Count what embedding produced, report unreadable images (warnings, or an
 * error under --strict; `loud` = 0 keeps a sweep from repeating them), and
 * evaluate every metric of r on the pairs whose images both embedded.
 * Returns 0 or -1 after printing the error. */
static int evaluate(const eval_set *s, eval_run *r, int strict, int loud, int want_roc) {
    r->embedded = r->without_face = r->failed = 0;
    int listed = 0;
    for (int i = 0; i < s->nimages; i++) {
        const eval_image *im = &s->images[i];
        r->embedded += im->embedded;
        r->without_face += im->embedded && im->fallback;
        if (!im->failed) continue;
        r->failed++;
        if (strict) {
            fprintf(stderr, "facekit: %s (--strict)\n", im->error);
            return -1;
        }
        if (loud && listed++ < MAX_LISTED)
            fprintf(stderr, "facekit: warning: %s (its pairs are skipped)\n", im->error);
    }
    if (loud && listed > MAX_LISTED)
        fprintf(stderr, "facekit: warning: ... and %d more unreadable images\n", listed - MAX_LISTED);

    int n = 0;
    float *d = malloc(sizeof *d * (size_t)s->npairs);
    int *labels = malloc(sizeof *labels * (size_t)s->npairs);
    int *folds = malloc(sizeof *folds * (size_t)s->npairs);
    int *fold_size = calloc((size_t)s->folds + 1, sizeof *fold_size);
    if (!d || !labels || !folds || !fold_size) {
        fprintf(stderr, "facekit: out of memory\n");
        free(d), free(labels), free(folds), free(fold_size);
        return -1;
    }
    r->same = r->different = 0;
    for (int i = 0; i < s->npairs; i++) {
        const eval_pair *p = &s->pairs[i];
        if (!s->images[p->a].embedded || !s->images[p->b].embedded) continue;
        labels[n] = p->same;
        folds[n] = p->fold;
        fold_size[p->fold]++;
        r->same += p->same;
        n++;
    }
    r->used = n;
    r->different = n - r->same;
    r->folds = s->folds;
    for (int f = 0; f < s->folds; f++)
        if (fold_size[f] == 0) {
            if (loud)
                fprintf(stderr, "facekit: warning: fold %d has no usable pairs; no k-fold figures\n", f + 1);
            r->folds = 0;
            break;
        }
    int rc = 0;
    if (n == 0) {
        fprintf(stderr, "facekit: %s: no usable pairs: every pair names an image that could not be embedded\n",
                s->file);
        rc = -1;
    }
    for (int m = 0; rc == 0 && m < r->nmetrics; m++) {
        metric_eval *e = &r->m[m];
        e->dist = malloc(sizeof *e->dist * (size_t)s->npairs);
        if (!e->dist) {
            fprintf(stderr, "facekit: out of memory\n");
            rc = -1;
            break;
        }
        int k = 0;
        for (int i = 0; i < s->npairs && rc == 0; i++) {
            const eval_pair *p = &s->pairs[i];
            e->dist[i] = NAN;
            if (!s->images[p->a].embedded || !s->images[p->b].embedded) continue;
            if (pair_distance(&s->images[p->a], &s->images[p->b], e->metric, &e->dist[i])) {
                fprintf(stderr, "facekit: %s:%d: %s distance: %s\n", s->file, p->line, e->metric,
                        fk_last_error());
                rc = -1;
            }
            d[k++] = e->dist[i];
        }
        if (rc) break;
        if (fk_eval_summarize(d, labels, r->folds ? folds : NULL, n, &e->s) != FK_OK) {
            fprintf(stderr, "facekit: %s: %s\n", s->file, fk_last_error());
            rc = -1;
            break;
        }
        if (fk_threshold(r->model, e->metric, &e->shipped) != FK_OK) e->shipped = NAN;
        e->shipped_accuracy = NAN;
        if (!isnan(e->shipped)) fk_eval_accuracy(d, labels, n, e->shipped, &e->shipped_accuracy);
        if (want_roc && fk_eval_roc(d, labels, n, NULL, 0, &e->nroc) == FK_OK) {
            e->roc = malloc(sizeof *e->roc * (size_t)e->nroc);
            if (!e->roc || fk_eval_roc(d, labels, n, e->roc, e->nroc, &e->nroc) != FK_OK) {
                fprintf(stderr, "facekit: out of memory\n");
                rc = -1;
            }
        }
    }
    free(d), free(labels), free(folds), free(fold_size);
    return rc;
}

/* Set up r's metrics: the n canonical names in `list`, or all when n == 0. */
static void choose_metrics(eval_run *r, const char *const *list, int n) {
    memset(r->m, 0, sizeof r->m);
    r->nmetrics = 0;
    for (int m = 0; m < (n ? n : NMETRICS) && m < NMETRICS; m++)
        r->m[r->nmetrics++].metric = n ? list[m] : METRICS[m];
}

/* Free what evaluate allocated in r. */
static void free_run(eval_run *r) {
    for (int m = 0; m < r->nmetrics; m++) {
        free(r->m[m].dist);
        free(r->m[m].roc);
        r->m[m].dist = NULL;
        r->m[m].roc = NULL;
    }
}

/* ---- reports ------------------------------------------------------------ */

/* A JSON number, or null for NaN (JSON has no NaN). */
static json_t *num(double v) {
    return isnan(v) ? json_null() : json_real(v);
}

/* The figures of one metric as a JSON object. The first four fields keep
 * the names the first version of `facekit eval` used. */
static json_t *metric_json(const metric_eval *e, int folds) {
    const fk_eval_summary *s = &e->s;
    json_t *o = json_object();
    json_object_set_new(o, "threshold", num(e->shipped));
    json_object_set_new(o, "accuracy", num(e->shipped_accuracy));
    json_object_set_new(o, "best_threshold", json_real(s->best_threshold));
    json_object_set_new(o, "best_accuracy", json_real(s->best_accuracy));
    json_object_set_new(o, "kfold_accuracy", folds ? json_real(s->fold_accuracy_mean) : json_null());
    json_object_set_new(o, "kfold_std", folds ? json_real(s->fold_accuracy_std) : json_null());
    json_object_set_new(o, "kfold_threshold", folds ? json_real(s->fold_threshold_mean) : json_null());
    json_object_set_new(o, "auc", json_real(s->auc));
    json_object_set_new(o, "eer", json_real(s->eer));
    json_object_set_new(o, "eer_threshold", json_real(s->eer_threshold));
    json_object_set_new(o, "tar_at_far_1e-2", json_real(s->tar_at_far_1e2));
    json_object_set_new(o, "threshold_at_far_1e-2", json_real(s->threshold_at_far_1e2));
    json_object_set_new(o, "tar_at_far_1e-3", json_real(s->tar_at_far_1e3));
    json_object_set_new(o, "threshold_at_far_1e-3", json_real(s->threshold_at_far_1e3));
    return o;
}

static const char NO_FACE_HANDLING[] = "embedded with --detector skip (whole image as the face)";

/* One run as a JSON object (deepface's field names where they exist). */
static json_t *run_json(const eval_set *s, const eval_run *r) {
    json_t *metrics = json_object();
    for (int m = 0; m < r->nmetrics; m++)
        json_object_set_new(metrics, r->m[m].metric, metric_json(&r->m[m], r->folds));
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(r->model));
    json_object_set_new(o, "detector_backend", json_string(r->detector));
    json_object_set_new(o, "align", json_boolean(r->align));
    json_object_set_new(o, "pairs_file", json_string(s->file));
    json_object_set_new(o, "images_dir", json_string(s->dir));
    json_object_set_new(o, "format", json_string(s->csv ? "csv" : "lfw"));
    json_object_set_new(o, "folds", json_integer(r->folds));
    json_object_set_new(o, "pairs", json_integer(s->npairs));
    json_object_set_new(o, "pairs_used", json_integer(r->used));
    json_object_set_new(o, "pairs_skipped", json_integer(s->npairs - r->used));
    json_object_set_new(o, "same", json_integer(r->same));
    json_object_set_new(o, "different", json_integer(r->different));
    json_object_set_new(o, "images", json_integer(s->nimages));
    json_object_set_new(o, "images_missing", json_integer(s->missing));
    json_object_set_new(o, "images_without_face", json_integer(r->without_face));
    json_object_set_new(o, "images_without_face_handling", json_string(NO_FACE_HANDLING));
    json_object_set_new(o, "images_failed", json_integer(r->failed));
    json_object_set_new(o, "seconds", json_real(r->seconds));
    json_object_set_new(o, "metrics", metrics);
    return o;
}

/* A fraction as a percentage with two decimals ("97.45"), or "-" for NaN. */
static const char *pct(char *buf, double v) {
    if (isnan(v)) return "-";
    snprintf(buf, 16, "%.2f", 100 * v);
    return buf;
}

/* A threshold with four decimals, or "-" for NaN. */
static const char *thr(char *buf, double v) {
    if (isnan(v)) return "-";
    snprintf(buf, 16, "%.4f", v);
    return buf;
}

/* The human summary of one run on stdout. */
static void print_summary(const eval_set *s, const eval_run *r, int threads) {
    char a[16], b[16], c[16], d[16], e[16], f[16], g[16];
    if (s->folds) printf("facekit eval: %s (LFW, %d pairs in %d folds)\n", s->file, s->npairs, s->folds);
    else printf("facekit eval: %s (%s, %d pairs, no folds)\n", s->file, s->csv ? "CSV" : "LFW", s->npairs);
    printf("pipeline: model %s, detector %s, align %s\n", r->model, r->detector,
           r->align ? "true" : "false");
    printf("images:   %d distinct, %d embedded in %.1f s (%.1f images/s, %d threads)\n", s->nimages,
           r->embedded, r->seconds, r->seconds > 0 ? r->embedded / r->seconds : 0.0, threads);
    printf("          %d without a face found: %s\n", r->without_face, NO_FACE_HANDLING);
    if (s->missing || r->failed)
        printf("          %d missing, %d unreadable: their pairs skipped\n", s->missing, r->failed);
    printf("pairs:    %d used of %d (%d same, %d different)\n\n", r->used, s->npairs, r->same,
           r->different);
    printf("%-13s %9s %8s %9s %8s %15s %7s %8s %8s %6s\n", "metric", "shipped", "acc %", "best thr",
           "best %", r->folds ? "k-fold %" : "k-fold", "AUC", "TAR@1e-2", "TAR@1e-3", "EER %");
    for (int m = 0; m < r->nmetrics; m++) {
        const metric_eval *x = &r->m[m];
        char kf[32] = "-";
        if (r->folds)
            snprintf(kf, sizeof kf, "%.2f ± %.2f", 100 * x->s.fold_accuracy_mean,
                     100 * x->s.fold_accuracy_std);
        printf("%-13s %9s %8s %9s %8s %*s %7.4f %8s %8s %6s\n", x->metric, thr(a, x->shipped),
               pct(b, x->shipped_accuracy), thr(c, x->s.best_threshold), pct(d, x->s.best_accuracy),
               r->folds ? 16 : 15, kf, x->s.auc, pct(e, x->s.tar_at_far_1e2),
               pct(f, x->s.tar_at_far_1e3), pct(g, x->s.eer));
    }
    printf("\nshipped: the threshold facekit verify uses (accuracy at it); best: the threshold "
           "maximising accuracy on these pairs (optimistic)");
    if (r->folds)
        printf(";\nk-fold: threshold chosen on %d fold%s, tested on the remaining one, mean ± std",
               r->folds - 1, r->folds > 2 ? "s" : "");
    printf(".\nTAR@FAR: true accepts (%%) at a false-accept rate <= 1e-2 and 1e-3 (%d different "
           "pairs). A pair is the same person when distance <= threshold.\n",
           r->different);
}

/* Write a CSV field, quoted when it holds a comma, quote or newline. */
static void csv_field(FILE *f, const char *v) {
    if (!strpbrk(v, ",\"\n\r")) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (; *v; v++) {
        if (*v == '"') fputc('"', f);
        fputc(*v, f);
    }
    fputc('"', f);
}

/* Every pair with its label, fold and distance under each metric; skipped
 * pairs have empty distances and a note saying why. */
static void write_pairs_csv(FILE *f, const eval_set *s, const eval_run *r) {
    fprintf(f, "line,file_x,file_y,label,fold");
    for (int m = 0; m < r->nmetrics; m++) fprintf(f, ",%s", r->m[m].metric);
    fprintf(f, ",note\n");
    for (int i = 0; i < s->npairs; i++) {
        const eval_pair *p = &s->pairs[i];
        const eval_image *x = &s->images[p->a], *y = &s->images[p->b];
        fprintf(f, "%d,", p->line);
        csv_field(f, x->name);
        fputc(',', f);
        csv_field(f, y->name);
        fprintf(f, ",%d,", p->same);
        if (s->folds) fprintf(f, "%d", p->fold + 1);
        for (int m = 0; m < r->nmetrics; m++) {
            if (isnan(r->m[m].dist[i])) fprintf(f, ",");
            else fprintf(f, ",%.6f", r->m[m].dist[i]);
        }
        fputc(',', f);
        const eval_image *bad = x->missing || x->failed ? x : y->missing || y->failed ? y : NULL;
        if (bad) fprintf(f, "skipped: %s %s", bad->name, bad->missing ? "missing" : "unreadable");
        else if (x->fallback || y->fallback)
            fprintf(f, "no face found in %s: whole image used", x->fallback ? x->name : y->name);
        fputc('\n', f);
    }
}

/* Write s with &, <, > and " escaped for XML text and attributes. */
static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* The ROC curves of r as an SVG a browser opens: TAR against FAR, FAR on a
 * log axis (the region that matters for verification is small FAR), one
 * curve per metric, dashed differently because cosine, euclidean_l2 and
 * angular rank pairs identically and so draw the same curve. Points with
 * FAR 0 sit on the left edge. */
static void write_roc_svg(FILE *f, const eval_set *s, const eval_run *r) {
    static const char *colour[NMETRICS] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};
    static const char *dash[NMETRICS] = {"none", "8,4", "3,3", "1,5"};
    const double W = 720, H = 540, L = 70, R = 690, T = 60, B = 480;
    int decades = (int)ceil(log10(r->different > 1 ? r->different : 10));
    if (decades < 1) decades = 1;
    if (decades > 6) decades = 6;
    double lo = -decades; /* log10 of the left edge */
#define X(far) (L + (R - L) * ((log10((far) > pow(10, lo) ? (far) : pow(10, lo)) - lo) / -lo))
#define Y(tar) (B - (B - T) * (tar))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.0f\" y=\"24\" font-size=\"16\" text-anchor=\"middle\">ROC: %s, detector %s, "
               "align %s</text>\n",
            W / 2, r->model, r->detector, r->align ? "true" : "false");
    fprintf(f, "<text x=\"%.0f\" y=\"42\" text-anchor=\"middle\" fill=\"#555\">", W / 2);
    xml_text(f, s->file);
    fprintf(f, ": %d pairs (%d same, %d different)</text>\n", r->used, r->same, r->different);
    for (int k = 0; k <= decades; k++) { /* vertical grid: one line per decade */
        double x = X(pow(10, lo + k));
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/>\n", x, T, x, B);
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%g</text>\n", x, B + 16,
                pow(10, lo + k));
    }
    for (int k = 0; k <= 10; k++) { /* horizontal grid every 0.1 */
        double y = Y(k / 10.0);
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, y, R, y);
        fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>\n", L - 6, y + 4, k / 10.0);
    }
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#333\"/>\n",
            L, T, R - L, B - T);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">false accept rate (log scale)</text>\n",
            (L + R) / 2, B + 36);
    fprintf(f, "<text transform=\"translate(18 %.0f) rotate(-90)\" text-anchor=\"middle\">true accept "
               "rate</text>\n",
            (T + B) / 2);
    fprintf(f, "<polyline fill=\"none\" stroke=\"#aaa\" stroke-dasharray=\"2,4\" points=\""); /* chance */
    for (int k = 0; k <= 60; k++) {
        double far = pow(10, lo * (1 - k / 60.0));
        fprintf(f, "%.1f,%.1f ", X(far), Y(far));
    }
    fprintf(f, "\"/>\n");
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"290\" height=\"%d\" fill=\"white\" "
               "stroke=\"#ccc\"/>\n", /* the legend's box, over the chance line */
            R - 298, B - 36 - 18.0 * (r->nmetrics - 1), 18 * r->nmetrics + 8);
    for (int m = 0; m < r->nmetrics; m++) {
        const metric_eval *e = &r->m[m];
        int c = 0;
        while (c < NMETRICS && strcmp(METRICS[c], e->metric)) c++;
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-dasharray=\"%s\" points=\"",
                colour[c], dash[c]);
        for (int i = 0; i < e->nroc; i++) fprintf(f, "%.1f,%.1f ", X(e->roc[i].far), Y(e->roc[i].tar));
        fprintf(f, "\"/>\n");
        double ly = B - 20 - 18.0 * (r->nmetrics - 1 - m);
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"2\" "
                   "stroke-dasharray=\"%s\"/>\n",
                R - 290, ly - 4, R - 260, ly - 4, colour[c], dash[c]);
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\">%s: AUC %.4f, EER %.2f%%</text>\n", R - 252, ly, e->metric,
                e->s.auc, 100 * e->s.eer);
    }
    fprintf(f, "</svg>\n");
#undef X
#undef Y
}

/* ---- the command -------------------------------------------------------- */

/* Worker threads: --threads, else $FACEKIT_THREADS, else every core. */
static int worker_count(const cli_args *a) {
    if (a->threads > 0) return a->threads;
    const char *env = getenv("FACEKIT_THREADS");
    long n = env ? strtol(env, NULL, 10) : 0;
    if (n > 0 && n <= 1024) return (int)n;
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Open an output file for writing before the long work starts, so a typo in
 * its path costs seconds, not minutes. NULL path -> NULL, no error. */
static int open_output(const char *path, FILE **f) {
    *f = NULL;
    if (!path) return 0;
    *f = fopen(path, "w");
    if (*f) return 0;
    fprintf(stderr, "facekit: %s: cannot write: %s\n", path, strerror(errno));
    return -1;
}

/* Close an output file, reporting a failed write (a full disk shows here).
 * Returns 0 or -1 after printing the error. */
static int close_output(const char *path, FILE *f) {
    if (!f) return 0;
    int bad = ferror(f);
    if (fclose(f) != 0) bad = 1;
    if (bad) fprintf(stderr, "facekit: %s: write failed\n", path);
    return bad ? -1 : 0;
}

/* Every installed recognizer and detector, for the sweep's grid ("skip" is
 * always a detector: it needs no model). Sets the counts; no recognizer
 * installed leaves *nmodels 0. */
static void installed_grid(const char **models, int *nmodels, const char **detectors, int *ndetectors,
                           int cap) {
    fk_model_info infos[64];
    int n = 0;
    char home[PATH_MAX];
    *nmodels = *ndetectors = 0;
    if (fk_models_default_home(home, sizeof home) == FK_OK && fk_models_list(home, infos, 64, &n) == FK_OK)
        for (int i = 0; i < n && i < 64; i++) {
            if (!infos[i].installed) continue;
            if (!strcmp(infos[i].role, "recognizer") && *nmodels < cap) models[(*nmodels)++] = infos[i].name;
            if (!strcmp(infos[i].role, "detector") && *ndetectors < cap - 1)
                detectors[(*ndetectors)++] = infos[i].name;
        }
    detectors[(*ndetectors)++] = "skip";
}

/* Split a comma-separated list in place into at most `cap` non-empty names.
 * Returns the count, or -1 when there are more than cap or an empty one. */
static int split_list(char *s, const char **out, int cap) {
    int n = 0;
    for (char *p = s;; p++) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        if (!*p || n == cap) return -1;
        out[n++] = p;
        if (!comma) return n;
        p = comma;
    }
}

/* The canonical names of the metrics in `list` (comma-separated) into out.
 * Returns the count, or -1 after printing which name is unknown. */
static int metric_list(char *list, const char **out) {
    const char *names[NMETRICS];
    int n = split_list(list, names, NMETRICS);
    if (n < 0) {
        fprintf(stderr, "facekit: --metric: expected up to %d comma-separated names\n", NMETRICS);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        int m = 0;
        while (m < NMETRICS && strcasecmp(names[i], METRICS[m])) m++;
        if (m == NMETRICS) {
            /* The library's message lists the valid names. */
            float one = 1, d;
            fk_distance(&one, &one, 1, names[i], &d);
            fprintf(stderr, "facekit: %s\n", fk_last_error());
            return -1;
        }
        out[i] = METRICS[m];
    }
    return n;
}

/* The sweep's Markdown: how it was made, an accuracy table in the spirit of
 * deepface's benchmarks (rows model x detector x align, columns metric),
 * then every figure of every configuration. */
static void write_markdown(FILE *f, const eval_set *s, eval_run *runs, int nruns, int threads,
                           double total, const char *grid_flags) {
    char a[16], b[16], c[16], d[16], e[16], g[16], h[16];
    fprintf(f, "# facekit verification benchmark\n\n");
    fprintf(f, "Pairs: `%s` (%s, %d pairs: %d same, %d different; %d images%s).  \n", s->file,
            s->csv ? "CSV" : "LFW", s->npairs, runs[0].same, runs[0].different, s->nimages,
            s->folds ? ", with folds" : "");
    fprintf(f, "Command: `facekit eval --sweep --pairs %s --images %s%s` (facekit %s, %d threads, %.0f s in all).\n\n",
            s->file, s->dir, grid_flags, FK_VERSION, threads, total);
    fprintf(f, "A pair is the same person when distance <= threshold. *Accuracy* is at the threshold that is "
               "best on these pairs (optimistic: tuned on the test data)%s. Images where the detector found "
               "no face were embedded whole (as `--detector skip`); a pair's distance is that of its closest "
               "two faces, as `facekit verify` decides. Each detector's pass decodes and detects every image once, "
               "then aligns and embeds it with every model of the grid (*detector pass* is that pass's time).\n\n",
            runs[0].folds ? "; *k-fold* chooses it on the other folds (LFW protocol)" : "");
    fprintf(f, "## Accuracy (%%)\n\n| model | detector | align |");
    for (int m = 0; m < runs[0].nmetrics; m++) fprintf(f, " %s |", runs[0].m[m].metric);
    fprintf(f, "\n|---|---|---|");
    for (int m = 0; m < runs[0].nmetrics; m++) fprintf(f, "---|");
    fprintf(f, "\n");
    for (int i = 0; i < nruns; i++) {
        /* One row per embedding set, one column per metric: the metrics
         * share embeddings, so a row compares them on equal terms. */
        fprintf(f, "| %s | %s | %s |", runs[i].model, runs[i].detector, runs[i].align ? "true" : "false");
        for (int m = 0; m < runs[i].nmetrics; m++)
            fprintf(f, " %s |", runs[i].folds ? pct(a, runs[i].m[m].s.fold_accuracy_mean)
                                              : pct(a, runs[i].m[m].s.best_accuracy));
        fprintf(f, "\n");
    }
    fprintf(f, "\n%s\n\n## All figures\n\n",
            runs[0].folds ? "(k-fold accuracy)" : "(accuracy at the best threshold)");
    fprintf(f, "| model | detector | align | metric | accuracy %% | best threshold | shipped threshold | "
               "accuracy at shipped %% | k-fold %% | AUC | TAR@FAR=1e-2 %% | TAR@FAR=1e-3 %% | EER %% | "
               "no face | detector pass |\n");
    fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < nruns; i++)
        for (int m = 0; m < runs[i].nmetrics; m++) {
            const metric_eval *x = &runs[i].m[m];
            char kf[40] = "-";
            if (runs[i].folds)
                snprintf(kf, sizeof kf, "%.2f ± %.2f", 100 * x->s.fold_accuracy_mean,
                         100 * x->s.fold_accuracy_std);
            fprintf(f, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.4f | %s | %s | %s | %d | %.0f s |\n",
                    runs[i].model, runs[i].detector, runs[i].align ? "true" : "false", x->metric,
                    pct(a, x->s.best_accuracy), thr(b, x->s.best_threshold), thr(c, x->shipped),
                    pct(d, x->shipped_accuracy), kf, x->s.auc, pct(e, x->s.tar_at_far_1e2),
                    pct(g, x->s.tar_at_far_1e3), pct(h, x->s.eer), runs[i].without_face, runs[i].seconds);
        }
}

/* --sweep: every (model, detector, align) embedding set once, all metrics on
 * each. The grid is every installed model and detector and both align
 * settings, narrowed by --model/--detector/--metric lists and --align.
 * Returns the exit code. */
static int run_sweep(cli_args *a, eval_set *s, int threads, int progress) {
    enum { CAP = 16 };
    const char *models[CAP], *detectors[CAP], *metrics[NMETRICS];
    int nmodels, ndetectors, nmetrics = 0, rc = 0;
    char *model_arg = strdup(a->model_given ? a->opt.model : "");
    char *detector_arg = strdup(a->detector_given ? a->opt.detector : "");
    char *metric_arg = strdup(a->metric_given ? a->opt.metric : "");
    if (!model_arg || !detector_arg || !metric_arg) {
        fprintf(stderr, "facekit: out of memory\n");
        rc = 1;
    }
    if (rc == 0) installed_grid(models, &nmodels, detectors, &ndetectors, CAP);
    if (rc == 0 && a->model_given && (nmodels = split_list(model_arg, models, CAP)) < 0) {
        fprintf(stderr, "facekit: --model: expected up to %d comma-separated names\n", CAP);
        rc = 2;
    }
    if (rc == 0 && a->detector_given && (ndetectors = split_list(detector_arg, detectors, CAP)) < 0) {
        fprintf(stderr, "facekit: --detector: expected up to %d comma-separated names\n", CAP);
        rc = 2;
    }
    if (rc == 0 && a->metric_given && (nmetrics = metric_list(metric_arg, metrics)) < 0) rc = 2;
    if (rc == 0 && nmodels == 0) {
        fprintf(stderr, "facekit: no recognizer installed; run `facekit models fetch`\n");
        rc = 1;
    }
    int aligns = a->align_given ? 1 : 2, total = nmodels * ndetectors * aligns;
    FILE *md = NULL;
    if (rc == 0 && open_output(a->markdown, &md)) rc = 1;
    eval_run *runs = rc == 0 ? calloc((size_t)total, sizeof *runs) : NULL;
    if (rc == 0 && !runs) {
        fprintf(stderr, "facekit: out of memory\n");
        rc = 1;
    }
    /* One pass per detector: each image is decoded and detected once, then
     * aligned and embedded by every (model, align) configuration. Runs keep
     * the model-major order of the table. */
    int nruns = 0, per_detector = nmodels * aligns;
    double t0 = cli_now_s();
    fk_options *conf = rc == 0 ? calloc((size_t)per_detector, sizeof *conf) : NULL;
    if (rc == 0 && !conf) {
        fprintf(stderr, "facekit: out of memory\n");
        rc = 1;
    }
    for (int di = 0; rc == 0 && di < ndetectors; di++) {
        for (int mi = 0; rc == 0 && mi < nmodels; mi++)
            for (int k = 0; rc == 0 && k < aligns; k++) {
                eval_run *r = &runs[(mi * ndetectors + di) * aligns + k];
                fk_options *o = &conf[mi * aligns + k];
                *o = a->opt;
                o->model = models[mi];
                o->detector = detectors[di];
                o->align = a->align_given ? a->opt.align : k == 0;
                o->metric = "cosine";
                o->enforce_detection = 1;
                const char *metric;
                if (probe_pipeline(o, &r->model, &r->detector, &metric)) {
                    rc = 1;
                    break;
                }
                r->align = o->align;
                choose_metrics(r, metrics, nmetrics);
            }
        if (rc) break;
        char label[96];
        snprintf(label, sizeof label, "[detector %d/%d] %s, %d model%s", di + 1, ndetectors,
                 runs[di * aligns].detector, per_detector, per_detector == 1 ? "" : "s");
        eval_slot *slots = NULL;
        double seconds = embed_images(s, conf, per_detector, a->max_pixels, a->decode_max_side, threads, progress, label, &slots);
        if (seconds < 0) rc = 1;
        for (int c = 0; rc == 0 && c < per_detector; c++) {
            eval_run *r = &runs[((c / aligns) * ndetectors + di) * aligns + c % aligns];
            use_slots(s, slots, c);
            r->seconds = seconds;
            if (evaluate(s, r, a->strict, di == 0 && c == 0, 0)) rc = 1;
        }
        free_slots(slots, (size_t)per_detector * (size_t)s->nimages);
        nruns += per_detector;
    }
    free(conf);
    if (rc != 0) nruns = 0; /* a partial grid is not reported */
    if (rc == 0) {
        double elapsed = cli_now_s() - t0;
        char flags[512] = "";
        size_t used = 0;
        if (a->model_given) used += (size_t)snprintf(flags + used, sizeof flags - used, " --model %s", a->opt.model);
        if (a->detector_given && used < sizeof flags)
            used += (size_t)snprintf(flags + used, sizeof flags - used, " --detector %s", a->opt.detector);
        if (a->metric_given && used < sizeof flags)
            used += (size_t)snprintf(flags + used, sizeof flags - used, " --metric %s", a->opt.metric);
        if (a->align_given && used < sizeof flags)
            snprintf(flags + used, sizeof flags - used, " --align %s", a->opt.align ? "true" : "false");
        if (md || !a->json) write_markdown(md ? md : stdout, s, runs, nruns, threads, elapsed, flags);
        if (a->json) {
            json_t *all = json_array();
            for (int i = 0; i < nruns; i++) json_array_append_new(all, run_json(s, &runs[i]));
            cli_print_json(all);
        }
    }
    if (close_output(a->markdown, md)) rc = 1;
    for (int i = 0; runs && i < total; i++) free_run(&runs[i]);
    free(runs);
    free(model_arg);
    free(detector_arg);
    free(metric_arg);
    return rc;
}

/* One evaluation with the pipeline options of the command line. Returns the
 * exit code. */
static int run_single(cli_args *a, eval_set *s, int threads, int progress) {
    eval_run r;
    memset(&r, 0, sizeof r);
    fk_options o = a->opt;
    o.enforce_detection = 1; /* so a missing face is noticed and counted */
    const char *metric;
    if (probe_pipeline(&o, &r.model, &r.detector, &metric)) return 1;
    r.align = o.align;
    choose_metrics(&r, &metric, a->metric_given);
    FILE *csv = NULL, *svg = NULL;
    if (open_output(a->pairs_csv, &csv) || open_output(a->roc_path, &svg)) {
        if (csv) fclose(csv);
        return 1;
    }
    int rc = 0;
    eval_slot *slots = NULL;
    r.seconds = embed_images(s, &o, 1, a->max_pixels, a->decode_max_side, threads, progress, "embedding", &slots);
    if (r.seconds >= 0) use_slots(s, slots, 0);
    free_slots(slots, (size_t)s->nimages);
    if (r.seconds < 0 || evaluate(s, &r, a->strict, 1, svg != NULL)) rc = 1;
    if (rc == 0) {
        if (a->json) cli_print_json(run_json(s, &r));
        else print_summary(s, &r, threads);
        if (csv) write_pairs_csv(csv, s, &r);
        if (svg) write_roc_svg(svg, s, &r);
    }
    if (close_output(a->pairs_csv, csv)) rc = 1;
    if (close_output(a->roc_path, svg)) rc = 1;
    free_run(&r);
    return rc;
}

/* `facekit eval`: check the command line, read the pairs file, then run one
 * evaluation or the sweep. Exit code 0, 1 (bad data or a failure) or 2
 * (usage). */
int cmd_eval(cli_args *a) {
    if (!a->pairs_path || !a->images_dir || a->npositional) {
        fprintf(stderr, "facekit: usage: facekit eval --pairs FILE --images DIR [--sweep] [options]\n");
        return 2;
    }
    if (a->sweep && (a->pairs_csv || a->roc_path)) {
        fprintf(stderr, "facekit: --pairs-csv and --roc describe one evaluation; not with --sweep\n");
        return 2;
    }
    if (!a->sweep && a->markdown) {
        fprintf(stderr, "facekit: --markdown writes the --sweep table; add --sweep\n");
        return 2;
    }
    struct stat st;
    if (stat(a->images_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "facekit: %s: not a directory (--images)\n", a->images_dir);
        return 1;
    }
    eval_set s;
    memset(&s, 0, sizeof s);
    s.file = a->pairs_path;
    s.dir = a->images_dir;
    int rc = 1;
    if (read_pairs(&s) == 0 && check_missing(&s, a->strict) == 0) {
        int threads = worker_count(a);
        int progress = !a->quiet && isatty(2);
        rc = a->sweep ? run_sweep(a, &s, threads, progress) : run_single(a, &s, threads, progress);
    }
    free_set(&s);
    return rc;
}
