/*
 * haar_xml.c - reading a Haar cascade from OpenCV's XML format into an
 * fk_haar (models/haar.h); haar_cascade.c evaluates it.
 *
 * Facts used (read from the XML files of Debian's opencv-data):
 *  - file layout: <cascade> holds <width>/<height> (the training window),
 *    <stages> (each: <stageThreshold>, <weakClassifiers> of <internalNodes>
 *    "left right featureIndex threshold" quadruples and <leafValues>) and
 *    <features> (each: <rects> of "x y w h weight", optionally <tilted>);
 *
 * The XML is read by a small purpose-built reader (elements, text,
 * comments, declarations; attributes skipped) rather than libxml2: the
 * cascade format uses nothing else, and this keeps the detector free of a
 * build dependency.
 *
 * Every count, index and number is checked while building: a damaged
 * file is an error naming the file (and the line or the element), never
 * a crash.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/haar.h"

/* ---- a minimal XML reader --------------------------------------------- */

typedef struct xml_node {
    const char *name;   /* points into the document, not terminated */
    int name_len;
    const char *text;   /* first non-blank text run directly inside */
    int text_len;
    int first_child, last_child, next; /* indices, -1 when none */
} xml_node;

typedef struct xml_doc {
    xml_node *nodes;
    int count, cap;
} xml_doc;

static int xml_add(xml_doc *d, int parent, const char *name, int len) {
    if (d->count == d->cap) {
        int cap = d->cap ? d->cap * 2 : 1024;
        xml_node *p = realloc(d->nodes, (size_t)cap * sizeof *p);
        if (!p) return -1;
        d->nodes = p;
        d->cap = cap;
    }
    int i = d->count++;
    xml_node *n = &d->nodes[i];
    n->name = name;
    n->name_len = len;
    n->text = NULL;
    n->text_len = 0;
    n->first_child = n->last_child = n->next = -1;
    if (parent >= 0) {
        xml_node *p = &d->nodes[parent];
        if (p->last_child >= 0) d->nodes[p->last_child].next = i;
        else p->first_child = i;
        p->last_child = i;
    }
    return i;
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* 1-based line of position p, for error messages. */
static int line_of(const char *s, const char *p) {
    int line = 1;
    for (; s < p; s++) line += *s == '\n';
    return line;
}

#define XML_MAX_DEPTH 64

/* Parse the NUL-terminated `s` into a tree whose node 0 is a virtual root.
 * Element text is kept only for the first run of non-blank characters
 * before an element's end (enough for the cascade format, whose numbers sit
 * in leaf elements). */
static fk_status xml_parse(const char *s, const char *what, xml_doc *d) {
    int stack[XML_MAX_DEPTH], depth = 0;
    memset(d, 0, sizeof *d);
    if (xml_add(d, -1, "", 0) < 0) return fk__fail(FK_ENOMEM, "out of memory");
    stack[depth++] = 0;
    const char *p = s;
    while (*p) {
        const char *lt = strchr(p, '<');
        const char *end = lt ? lt : p + strlen(p);
        /* Text before the next tag belongs to the open element. */
        const char *t = p;
        while (t < end && is_blank(*t)) t++;
        if (t < end) {
            xml_node *top = &d->nodes[stack[depth - 1]];
            const char *te = end;
            while (te > t && is_blank(te[-1])) te--;
            if (!top->text) {
                top->text = t;
                top->text_len = (int)(te - t);
            }
        }
        if (!lt) break;
        p = lt;
        if (strncmp(p, "<!--", 4) == 0) {
            const char *e = strstr(p + 4, "-->");
            if (!e) return fk__fail(FK_EFORMAT, "%s: line %d: unterminated comment", what, line_of(s, p));
            p = e + 3;
        } else if (p[1] == '?' || p[1] == '!') {
            const char *e = strchr(p, '>');
            if (!e) return fk__fail(FK_EFORMAT, "%s: line %d: unterminated declaration", what, line_of(s, p));
            p = e + 1;
        } else if (p[1] == '/') {
            const char *n = p + 2, *e = n;
            while (*e && *e != '>' && !is_blank(*e)) e++;
            xml_node *top = &d->nodes[stack[depth - 1]];
            if (depth == 1 || top->name_len != (int)(e - n) || strncmp(top->name, n, (size_t)(e - n)) != 0)
                return fk__fail(FK_EFORMAT, "%s: line %d: closing tag </%.*s> does not match <%.*s>",
                               what, line_of(s, p), (int)(e - n), n, top->name_len, top->name);
            while (*e && *e != '>') e++;
            if (!*e) return fk__fail(FK_EFORMAT, "%s: line %d: unterminated tag", what, line_of(s, p));
            depth--;
            p = e + 1;
        } else {
            const char *n = p + 1, *e = n;
            while (*e && *e != '>' && *e != '/' && !is_blank(*e)) e++;
            if (e == n) return fk__fail(FK_EFORMAT, "%s: line %d: empty tag name", what, line_of(s, p));
            int name_len = (int)(e - n);
            /* Skip attributes (quoted values may hold '>'). */
            char quote = 0;
            while (*e && (quote || *e != '>')) {
                if (quote) { if (*e == quote) quote = 0; }
                else if (*e == '"' || *e == '\'') quote = *e;
                e++;
            }
            if (!*e) return fk__fail(FK_EFORMAT, "%s: line %d: unterminated tag", what, line_of(s, p));
            int self_closing = e[-1] == '/';
            int id = xml_add(d, stack[depth - 1], n, name_len);
            if (id < 0) return fk__fail(FK_ENOMEM, "out of memory");
            if (!self_closing) {
                if (depth == XML_MAX_DEPTH)
                    return fk__fail(FK_EFORMAT, "%s: line %d: elements nested too deeply", what, line_of(s, p));
                stack[depth++] = id;
            }
            p = e + 1;
        }
    }
    if (depth != 1) {
        xml_node *top = &d->nodes[stack[depth - 1]];
        return fk__fail(FK_EFORMAT, "%s: document ends inside <%.*s>", what, top->name_len, top->name);
    }
    return FK_OK;
}

/* The first child of `parent` called `name`, or -1. */
static int xml_child(const xml_doc *d, int parent, const char *name) {
    if (parent < 0) return -1;
    size_t len = strlen(name);
    for (int c = d->nodes[parent].first_child; c >= 0; c = d->nodes[c].next)
        if ((size_t)d->nodes[c].name_len == len && strncmp(d->nodes[c].name, name, len) == 0)
            return c;
    return -1;
}

static int xml_count_children(const xml_doc *d, int parent) {
    int n = 0;
    if (parent < 0) return 0;
    for (int c = d->nodes[parent].first_child; c >= 0; c = d->nodes[c].next) n++;
    return n;
}

/* Parse up to `cap` numbers from the text of `node`; returns how many were
 * read (the text must hold nothing else), or -1 on junk. */
static int xml_numbers(const xml_doc *d, int node, double *out, int cap) {
    if (node < 0 || !d->nodes[node].text) return 0;
    const char *p = d->nodes[node].text, *end = p + d->nodes[node].text_len;
    int n = 0;
    while (p < end) {
        while (p < end && is_blank(*p)) p++;
        if (p >= end) break;
        if (n == cap) return -1;
        char *q;
        errno = 0;
        double v = strtod(p, &q);
        if (q == p || q > end || errno == ERANGE || !isfinite(v)) return -1;
        out[n++] = v;
        p = q;
    }
    return n;
}

/* ---- building the cascade ---------------------------------------------- */

void fk__haar_free(fk_haar *c) {
    if (!c) return;
    free(c->stages);
    free(c->weak);
    free(c->nodes);
    free(c->leaves);
    free(c->features);
    free(c);
}

void fk__haar_info(const fk_haar *c, int *win_w, int *win_h, int *stages,
                  int *weak_classifiers, int *features) {
    if (win_w) *win_w = c->win_w;
    if (win_h) *win_h = c->win_h;
    if (stages) *stages = c->nstages;
    if (weak_classifiers) *weak_classifiers = c->nweak;
    if (features) *features = c->nfeatures;
}

/* Read one integer element (width, height). */
static int read_int(const xml_doc *d, int parent, const char *name, int *out) {
    double v;
    if (xml_numbers(d, xml_child(d, parent, name), &v, 1) != 1 || v != floor(v)) return 0;
    *out = (int)v;
    return 1;
}

/* Build the cascade from a parsed document. */
static fk_status haar_build(const xml_doc *d, const char *what, fk_haar *c) {
    int root = xml_child(d, 0, "opencv_storage");
    int cas = xml_child(d, root, "cascade");
    if (cas < 0)
        return fk__fail(FK_EFORMAT, "%s: no <opencv_storage><cascade> element "
                       "(not an OpenCV cascade in the current XML format)", what);
    int st_type = xml_child(d, cas, "stageType"), f_type = xml_child(d, cas, "featureType");
    if (st_type < 0 || d->nodes[st_type].text_len != 5 || strncmp(d->nodes[st_type].text, "BOOST", 5) != 0)
        return fk__fail(FK_EFORMAT, "%s: stageType is not BOOST", what);
    if (f_type < 0 || d->nodes[f_type].text_len != 4 || strncmp(d->nodes[f_type].text, "HAAR", 4) != 0)
        return fk__fail(FK_EFORMAT, "%s: featureType is not HAAR (LBP and HOG cascades are not supported)", what);
    if (!read_int(d, cas, "width", &c->win_w) || !read_int(d, cas, "height", &c->win_h) ||
        c->win_w < 3 || c->win_h < 3 || c->win_w > 1024 || c->win_h > 1024)
        return fk__fail(FK_EFORMAT, "%s: missing or bad <width>/<height>", what);

    int stages = xml_child(d, cas, "stages"), feats = xml_child(d, cas, "features");
    c->nstages = xml_count_children(d, stages);
    c->nfeatures = xml_count_children(d, feats);
    if (c->nstages == 0 || c->nfeatures == 0)
        return fk__fail(FK_EFORMAT, "%s: cascade has no stages or no features", what);

    /* Features. */
    c->features = calloc((size_t)c->nfeatures, sizeof *c->features);
    if (!c->features) return fk__fail(FK_ENOMEM, "out of memory");
    int fi = 0;
    for (int f = d->nodes[feats].first_child; f >= 0; f = d->nodes[f].next, fi++) {
        double tilted = 0;
        if (xml_numbers(d, xml_child(d, f, "tilted"), &tilted, 1) == 1 && tilted != 0)
            return fk__fail(FK_EFORMAT, "%s: feature %d is tilted; tilted Haar features are not supported", what, fi);
        int rects = xml_child(d, f, "rects");
        haar_feature *hf = &c->features[fi];
        for (int r = rects >= 0 ? d->nodes[rects].first_child : -1; r >= 0; r = d->nodes[r].next) {
            double v[5];
            if (hf->nrects == HAAR_MAX_RECTS)
                return fk__fail(FK_EFORMAT, "%s: feature %d has more than %d rects", what, fi, HAAR_MAX_RECTS);
            if (xml_numbers(d, r, v, 5) != 5)
                return fk__fail(FK_EFORMAT, "%s: feature %d: a rect is not \"x y w h weight\"", what, fi);
            haar_rect *hr = &hf->r[hf->nrects++];
            hr->x = (int)v[0]; hr->y = (int)v[1]; hr->w = (int)v[2]; hr->h = (int)v[3];
            hr->weight = (float)v[4];
            if (hr->x < 0 || hr->y < 0 || hr->w <= 0 || hr->h <= 0 ||
                hr->x + hr->w > c->win_w || hr->y + hr->h > c->win_h)
                return fk__fail(FK_EFORMAT, "%s: feature %d: rect (%d,%d,%d,%d) outside the %dx%d window",
                               what, fi, hr->x, hr->y, hr->w, hr->h, c->win_w, c->win_h);
        }
        if (hf->nrects == 0) return fk__fail(FK_EFORMAT, "%s: feature %d has no rects", what, fi);
    }

    /* Count weak classifiers, nodes and leaves, then fill. */
    int nweak = 0, nnodes = 0, nleaves = 0;
    double buf[4 * 64];
    for (int s = d->nodes[stages].first_child; s >= 0; s = d->nodes[s].next) {
        int wc = xml_child(d, s, "weakClassifiers");
        for (int w = wc >= 0 ? d->nodes[wc].first_child : -1; w >= 0; w = d->nodes[w].next) {
            int ni = xml_numbers(d, xml_child(d, w, "internalNodes"), buf, 4 * 64);
            int li = xml_numbers(d, xml_child(d, w, "leafValues"), buf, 4 * 64);
            if (ni <= 0 || ni % 4 != 0 || li < 2)
                return fk__fail(FK_EFORMAT, "%s: weak classifier %d: bad internalNodes or leafValues", what, nweak);
            nweak++;
            nnodes += ni / 4;
            nleaves += li;
        }
    }
    c->stages = calloc((size_t)c->nstages, sizeof *c->stages);
    c->weak = calloc((size_t)nweak, sizeof *c->weak);
    c->nodes = calloc((size_t)nnodes, sizeof *c->nodes);
    c->leaves = calloc((size_t)nleaves, sizeof *c->leaves);
    if (!c->stages || !c->weak || !c->nodes || !c->leaves) return fk__fail(FK_ENOMEM, "out of memory");
    int si = 0;
    for (int s = d->nodes[stages].first_child; s >= 0; s = d->nodes[s].next, si++) {
        double thr;
        if (xml_numbers(d, xml_child(d, s, "stageThreshold"), &thr, 1) != 1)
            return fk__fail(FK_EFORMAT, "%s: stage %d has no stageThreshold", what, si);
        haar_stage *hs = &c->stages[si];
        hs->threshold = (float)thr;
        hs->weak0 = c->nweak;
        int wc = xml_child(d, s, "weakClassifiers");
        for (int w = wc >= 0 ? d->nodes[wc].first_child : -1; w >= 0; w = d->nodes[w].next) {
            haar_weak *hw = &c->weak[c->nweak++];
            int ni = xml_numbers(d, xml_child(d, w, "internalNodes"), buf, 4 * 64) / 4;
            hw->node0 = c->nnodes;
            hw->nodes = ni;
            for (int k = 0; k < ni; k++) {
                haar_node *hn = &c->nodes[c->nnodes++];
                hn->left = (int)buf[4 * k];
                hn->right = (int)buf[4 * k + 1];
                hn->feature = (int)buf[4 * k + 2];
                hn->threshold = (float)buf[4 * k + 3];
                if (hn->feature < 0 || hn->feature >= c->nfeatures)
                    return fk__fail(FK_EFORMAT, "%s: stage %d: feature index %d out of range", what, si, hn->feature);
            }
            int li = xml_numbers(d, xml_child(d, w, "leafValues"), buf, 4 * 64);
            hw->leaf0 = c->nleaves;
            hw->leaves = li;
            for (int k = 0; k < li; k++) c->leaves[c->nleaves++] = (float)buf[k];
            /* Every branch must lead to a node or a leaf that exists. */
            for (int k = 0; k < ni; k++) {
                const haar_node *hn = &c->nodes[hw->node0 + k];
                int kids[2] = {hn->left, hn->right};
                for (int j = 0; j < 2; j++)
                    if ((kids[j] > 0 && (kids[j] >= ni || kids[j] <= k)) || (kids[j] <= 0 && -kids[j] >= li))
                        return fk__fail(FK_EFORMAT, "%s: stage %d: a tree branch points nowhere", what, si);
            }
        }
        hs->weaks = c->nweak - hs->weak0;
        if (hs->weaks == 0) return fk__fail(FK_EFORMAT, "%s: stage %d has no weak classifiers", what, si);
    }
    return FK_OK;
}

fk_status fk__haar_parse(const char *xml, const char *what, fk_haar **out) {
    if (!xml || !out) return fk__fail(FK_EINVAL, "fk__haar_parse: bad arguments");
    if (!what) what = "cascade";
    *out = NULL;
    xml_doc d;
    fk_status st = xml_parse(xml, what, &d);
    fk_haar *c = NULL;
    if (st == FK_OK) {
        c = calloc(1, sizeof *c);
        if (!c) st = fk__fail(FK_ENOMEM, "out of memory");
    }
    if (st == FK_OK) st = haar_build(&d, what, c);
    free(d.nodes);
    if (st != FK_OK) {
        fk__haar_free(c);
        return st;
    }
    *out = c;
    return FK_OK;
}

fk_status fk__haar_load(const char *path, fk_haar **out) {
    if (!path || !out) return fk__fail(FK_EINVAL, "fk__haar_load: bad arguments");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return fk__fail(FK_EMODEL, "%s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            size_t ncap = cap ? cap * 2 : 1 << 20;
            if (ncap > ((size_t)256 << 20)) {
                free(buf);
                fclose(f);
                return fk__fail(FK_EFORMAT, "%s: larger than 256 MB, not a cascade", path);
            }
            char *p = realloc(buf, ncap + 1);
            if (!p) {
                free(buf);
                fclose(f);
                return fk__fail(FK_ENOMEM, "out of memory");
            }
            buf = p;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return fk__fail(FK_EIO, "%s: read error", path);
    }
    buf[len] = 0;
    if (strlen(buf) != len) {
        free(buf);
        return fk__fail(FK_EFORMAT, "%s: binary data in an XML file", path);
    }
    fk_status st = fk__haar_parse(buf, path, out);
    free(buf);
    return st;
}
