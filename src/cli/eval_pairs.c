/*
 * eval_pairs.c - `facekit eval`'s data set: the pairs file, read and
 * checked line by line, and the images it names (each once).
 *
 * Pairs files, recognised by their content:
 *  - LFW: a header "count" (pairsDevTrain.txt, pairsDevTest.txt) or
 *    "folds count" (pairs.txt: "10 300"), then for each fold `count` lines
 *    "name n1 n2" (same person) followed by `count` lines
 *    "name1 n1 name2 n2" (different people). Images are
 *    DIR/<name>/<name>_<nnnn>.jpg.
 *  - CSV: "file_x,file_y,label" lines, label 1/0 or Yes/No, paths relative
 *    to DIR; a header line is allowed.
 * Every error names the file and line and says what was expected.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli/eval.h"

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
void eval_free_set(eval_set *s) {
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
int eval_read_pairs(eval_set *s) {
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
int eval_check_missing(eval_set *s, int strict) {
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
