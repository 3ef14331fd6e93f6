/*
 * keras_h5.c - Keras HDF5 weight files (see keras_h5.h).
 *
 * Everything the file says is bounded before it is believed: at most
 * MAX_LAYERS layer names of at most MAX_NAME bytes, at most MAX_WEIGHTS
 * weights per layer, datasets of at most 4 dimensions; and the only large
 * allocation, a weight's values, is sized from the architecture's shape
 * after the file's shape was found equal to it.
 *
 * HDF5 keeps global state (its error stack, the open-object tables) and
 * Debian builds it without its thread-safety option, so one mutex covers
 * every HDF5 call made here; loading is rare and short next to running.
 * The automatic error printing HDF5 does on every failed call is turned
 * off inside the lock and restored on the way out, so a program that uses
 * HDF5 itself keeps its own setting.
 */
#include "nn/keras_h5.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"

#define MAX_LAYERS 20000
#define MAX_NAME 1024
#define MAX_WEIGHTS 8   /* a Keras layer has at most 4 (batch norm); slack */
#define MAX_CHUNKS 256  /* layer_names0 .. layer_names255 */

typedef struct h5_layer {
    char *name;
    int nweights;
    char **weights; /* nweights names, as in the layer's weight_names */
} h5_layer;

#if FK_WITH_HDF5

#include <hdf5.h>
#include <pthread.h>

struct fk_keras_h5 {
    char *path;
    char *what;
    hid_t file, root;   /* root: / or /model_weights */
    h5_layer *layers;   /* the layers with weights, in layer_names order */
    int count, next;
    float **data;       /* every weight read, freed with the handle */
    int ndata, cap_data;
};

int fk__keras_h5_available(void) { return 1; }

static pthread_mutex_t h5_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct h5_quiet {
    H5E_auto2_t func;
    void *data;
} h5_quiet;

static void h5_enter(h5_quiet *q) {
    pthread_mutex_lock(&h5_lock);
    q->func = NULL;
    q->data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void h5_leave(const h5_quiet *q) {
    H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
    pthread_mutex_unlock(&h5_lock);
}

/* ---- string attributes ---------------------------------------------------
 * Keras writes name lists with h5py from NumPy byte arrays, i.e. fixed-
 * length strings padded with NULs; files converted by other tools may hold
 * variable-length strings. Both are read into a list of malloc'd strings. */

typedef struct str_list {
    char **items;
    int count;
} str_list;

static void str_list_free(str_list *l) {
    for (int i = 0; i < l->count; i++) free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

static int str_list_push(str_list *l, const char *s, size_t len) {
    if (l->count >= MAX_LAYERS) return -1;
    char **p = realloc(l->items, sizeof *p * (size_t)(l->count + 1));
    if (!p) return -1;
    l->items = p;
    char *c = malloc(len + 1);
    if (!c) return -1;
    memcpy(c, s, len);
    c[len] = 0;
    l->items[l->count++] = c;
    return 0;
}

/* Append the strings of attribute `name` of `loc` to *l. 0 ok, 1 no such
 * attribute, -1 a bad attribute (*why says what), -2 out of memory. */
static int read_str_attr(hid_t loc, const char *name, str_list *l, const char **why) {
    htri_t ex = H5Aexists(loc, name);
    if (ex == 0) return 1;
    if (ex < 0) {
        *why = "unreadable attributes";
        return -1;
    }
    int rc = -1;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1;
    hid_t s = a >= 0 ? H5Aget_space(a) : -1;
    hid_t mt = -1;
    *why = "is not a list of strings";
    if (t < 0 || s < 0) goto done;
    int nd = H5Sget_simple_extent_ndims(s);
    hssize_t np = H5Sget_simple_extent_npoints(s);
    if (nd < 0 || nd > 1 || np < 0) goto done;
    if (np == 0) { /* Keras writes an empty list as np.asarray([]): float64 */
        rc = 0;
        goto done;
    }
    if (H5Tget_class(t) != H5T_STRING) goto done;
    if (np > MAX_LAYERS || l->count + np > MAX_LAYERS) {
        *why = "lists too many names";
        goto done;
    }
    mt = H5Tcopy(H5T_C_S1);
    if (mt < 0) goto done;
    if (H5Tis_variable_str(t) > 0) {
        char **v = calloc((size_t)np, sizeof *v);
        if (!v) {
            rc = -2;
            goto done;
        }
        if (H5Tset_size(mt, H5T_VARIABLE) >= 0 && H5Aread(a, mt, v) >= 0) {
            rc = 0;
            for (hssize_t i = 0; i < np && rc == 0; i++) {
                size_t len = v[i] ? strnlen(v[i], MAX_NAME + 1) : 0;
                if (len > MAX_NAME) {
                    *why = "has a name longer than 1024 bytes";
                    rc = -1;
                } else if (str_list_push(l, v[i] ? v[i] : "", len)) {
                    rc = -2;
                }
            }
            H5Dvlen_reclaim(mt, s, H5P_DEFAULT, v);
        }
        free(v);
    } else {
        size_t sz = H5Tget_size(t);
        if (sz == 0 || sz > MAX_NAME) {
            *why = "has a name longer than 1024 bytes";
            goto done;
        }
        char *buf = malloc(sz * (size_t)np);
        if (!buf) {
            rc = -2;
            goto done;
        }
        if (H5Tset_size(mt, sz) >= 0 && H5Tset_strpad(mt, H5T_STR_NULLPAD) >= 0 &&
            H5Aread(a, mt, buf) >= 0) {
            rc = 0;
            for (hssize_t i = 0; i < np && rc == 0; i++)
                if (str_list_push(l, buf + i * sz, strnlen(buf + i * sz, sz))) rc = -2;
        }
        free(buf);
    }
done:
    if (mt >= 0) H5Tclose(mt);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    return rc;
}

/* Attribute `name`, or its chunks name0, name1, ... (Keras splits
 * attributes over 64 KB). Returns as read_str_attr. */
static int read_names(hid_t loc, const char *name, str_list *l, const char **why) {
    int rc = read_str_attr(loc, name, l, why);
    if (rc != 1) return rc;
    char chunk[64];
    for (int i = 0; i < MAX_CHUNKS; i++) {
        snprintf(chunk, sizeof chunk, "%s%d", name, i);
        rc = read_str_attr(loc, chunk, l, why);
        if (rc == 1) return i == 0 ? 1 : 0;
        if (rc < 0) return rc;
    }
    return 0;
}

/* ---- open ---------------------------------------------------------------- */

static void free_layers(fk_keras_h5 *k) {
    for (int i = 0; i < k->count; i++) {
        free(k->layers[i].name);
        for (int w = 0; w < k->layers[i].nweights; w++) free(k->layers[i].weights[w]);
        free(k->layers[i].weights);
    }
    free(k->layers);
    k->layers = NULL;
    k->count = 0;
}

static void close_file(fk_keras_h5 *k) {
    if (k->root >= 0) H5Gclose(k->root);
    if (k->file >= 0) H5Fclose(k->file);
    k->root = k->file = -1;
}

/* Read the layer table; called with the lock held. */
static fk_status read_table(fk_keras_h5 *k) {
    const char *why = "";
    str_list names = {0};
    k->root = -1;
    if (H5Lexists(k->file, "model_weights", H5P_DEFAULT) > 0) /* model.save() */
        k->root = H5Gopen2(k->file, "model_weights", H5P_DEFAULT);
    else
        k->root = H5Gopen2(k->file, "/", H5P_DEFAULT);
    if (k->root < 0)
        return fk__fail(FK_EMODEL, "%s: unreadable HDF5 file (its root group cannot be opened)",
                        k->path);
    int rc = read_names(k->root, "layer_names", &names, &why);
    if (rc == 1)
        return fk__fail(FK_EMODEL,
                        "%s: not a Keras weights file: it has no layer_names attribute "
                        "(Keras' save_weights writes one; expected %s's weights)",
                        k->path, k->what);
    if (rc == -2) return fk__fail(FK_ENOMEM, "out of memory");
    if (rc < 0)
        return fk__fail(FK_EMODEL, "%s: not a Keras weights file: its layer_names %s",
                        k->path, why);
    fk_status st = FK_OK;
    k->layers = calloc(names.count ? (size_t)names.count : 1, sizeof *k->layers);
    if (!k->layers) st = fk__fail(FK_ENOMEM, "out of memory");
    for (int i = 0; i < names.count && st == FK_OK; i++) {
        const char *ln = names.items[i];
        hid_t g = -1;
        if (ln[0] && H5Lexists(k->root, ln, H5P_DEFAULT) > 0)
            g = H5Gopen2(k->root, ln, H5P_DEFAULT);
        if (g < 0) {
            st = fk__fail(FK_EMODEL,
                          "%s: damaged Keras weights file: layer_names lists '%s' but the "
                          "file has no group of that name (truncated or edited?)",
                          k->path, ln);
            break;
        }
        str_list wn = {0};
        rc = read_names(g, "weight_names", &wn, &why);
        H5Gclose(g);
        if (rc == -2) st = fk__fail(FK_ENOMEM, "out of memory");
        else if (rc < 0 || wn.count > MAX_WEIGHTS)
            st = fk__fail(FK_EMODEL, "%s: not a Keras weights file: layer %s's weight_names %s",
                          k->path, ln, rc < 0 ? why : "lists more than 8 weights");
        if (st == FK_OK && wn.count > 0) { /* layers without weights are skipped */
            h5_layer *L = &k->layers[k->count++];
            L->name = names.items[i];
            names.items[i] = NULL;
            L->weights = wn.items;
            L->nweights = wn.count;
            wn.items = NULL;
            wn.count = 0;
        }
        str_list_free(&wn);
    }
    str_list_free(&names);
    if (st == FK_OK && k->count == 0)
        st = fk__fail(FK_EMODEL, "%s: the Keras file holds no weights (expected %s's)",
                      k->path, k->what);
    return st;
}

fk_status fk__keras_h5_open(const char *path, const char *what, fk_keras_h5 **out) {
    if (!path || !out) return fk__fail(FK_EINVAL, "fk__keras_h5_open: bad arguments");
    *out = NULL;
    if (!what) what = "the model";
    struct stat sb;
    if (stat(path, &sb) != 0)
        return fk__fail(FK_EMODEL, "%s: weights file not found", path);
    if (!S_ISREG(sb.st_mode))
        return fk__fail(FK_EMODEL, "%s: not a regular file (expected %s's .h5 weights)", path,
                        what);
    fk_keras_h5 *k = calloc(1, sizeof *k);
    if (!k) return fk__fail(FK_ENOMEM, "out of memory");
    k->file = k->root = -1;
    k->path = strdup(path);
    k->what = strdup(what);
    if (!k->path || !k->what) {
        fk__keras_h5_free(k);
        return fk__fail(FK_ENOMEM, "out of memory");
    }
    h5_quiet q;
    h5_enter(&q);
    fk_status st = FK_OK;
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        st = fk__fail(FK_EMODEL,
                      "%s: not an HDF5 file (%lld bytes; a truncated or interrupted "
                      "download looks like this): expected %s's Keras .h5 weights",
                      path, (long long)sb.st_size, what);
    } else {
        k->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        if (k->file < 0)
            st = fk__fail(FK_EMODEL,
                          "%s: cannot be read as HDF5 (truncated or damaged, %lld bytes)",
                          path, (long long)sb.st_size);
        else
            st = read_table(k);
        if (st != FK_OK) close_file(k);
    }
    h5_leave(&q);
    if (st != FK_OK) {
        fk__keras_h5_free(k);
        return st;
    }
    *out = k;
    return FK_OK;
}

void fk__keras_h5_free(fk_keras_h5 *k) {
    if (!k) return;
    if (k->file >= 0 || k->root >= 0) {
        h5_quiet q;
        h5_enter(&q);
        close_file(k);
        h5_leave(&q);
    }
    free_layers(k);
    for (int i = 0; i < k->ndata; i++) free(k->data[i]);
    free(k->data);
    free(k->path);
    free(k->what);
    free(k);
}

int fk__keras_h5_layer_count(const fk_keras_h5 *k) { return k ? k->count : 0; }

const char *fk__keras_h5_layer_name(const fk_keras_h5 *k, int i) {
    return k && i >= 0 && i < k->count ? k->layers[i].name : NULL;
}

/* ---- layers -------------------------------------------------------------- */

static void shape_text(char *buf, size_t cap, int nd, const long long *d) {
    size_t at = 0;
    buf[0] = 0;
    if (nd == 0) snprintf(buf, cap, "a scalar");
    for (int i = 0; i < nd && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%lld", i ? "x" : "", d[i]);
}

static void roles_text(char *buf, size_t cap, const fk_keras_weight *spec, int n) {
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < n && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%s", i ? ", " : "", spec[i].role);
}

static void names_text(char *buf, size_t cap, const h5_layer *L) {
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < L->nweights && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%s", i ? ", " : "", L->weights[i]);
}

/* Read weight w of layer L as spec into a new buffer; lock held. */
static fk_status read_weight(fk_keras_h5 *k, hid_t g, const h5_layer *L, const char *name,
                             int w, const fk_keras_weight *spec, float **out) {
    char want[96], have[96];
    long long exp[4] = {0};
    long count = 1;
    for (int i = 0; i < spec->ndim; i++) {
        exp[i] = spec->shape[i];
        count *= spec->shape[i];
    }
    shape_text(want, sizeof want, spec->ndim, exp);
    fk_status st = FK_OK;
    hid_t d = H5Lexists(g, L->weights[w], H5P_DEFAULT) > 0
                  ? H5Dopen2(g, L->weights[w], H5P_DEFAULT)
                  : -1;
    hid_t t = d >= 0 ? H5Dget_type(d) : -1;
    hid_t s = d >= 0 ? H5Dget_space(d) : -1;
    if (d < 0 || t < 0 || s < 0) {
        st = fk__fail(FK_EMODEL,
                      "%s: layer %s (file: %s): %s: the file lists weight '%s' but has no "
                      "such dataset (truncated or damaged?)",
                      k->path, name, L->name, spec->role, L->weights[w]);
        goto done;
    }
    int nd = H5Sget_simple_extent_ndims(s);
    hsize_t dims[32];
    long long got[32];
    if (nd < 0 || nd > 32 || H5Sget_simple_extent_dims(s, dims, NULL) < 0) {
        st = fk__fail(FK_EMODEL, "%s: layer %s (file: %s): %s has an unreadable shape",
                      k->path, name, L->name, spec->role);
        goto done;
    }
    int same = nd == spec->ndim;
    for (int i = 0; i < nd; i++) {
        got[i] = dims[i] > (hsize_t)INT32_MAX ? (long long)INT32_MAX : (long long)dims[i];
        if (i < spec->ndim && got[i] != exp[i]) same = 0;
    }
    if (!same) {
        shape_text(have, sizeof have, nd, got);
        st = fk__fail(FK_EMODEL, "%s: layer %s (file: %s): %s is %s, file has %s", k->path,
                      name, L->name, spec->role, want, have);
        goto done;
    }
    size_t bytes = H5Tget_size(t);
    if (H5Tget_class(t) != H5T_FLOAT || (bytes != 2 && bytes != 4 && bytes != 8)) {
        st = fk__fail(FK_EMODEL,
                      "%s: layer %s (file: %s): %s is stored as %s%zu-byte values; expected "
                      "float16, float32 or float64",
                      k->path, name, L->name, spec->role,
                      H5Tget_class(t) == H5T_INTEGER ? "integer " : "non-float ", bytes);
        goto done;
    }
    if (!out) goto done; /* checked, not wanted (fk__keras_h5_layer's out NULL) */
    float *buf = malloc(sizeof(float) * (size_t)(count > 0 ? count : 1));
    if (!buf) {
        st = fk__fail(FK_ENOMEM, "%s: out of memory for layer %s (%ld values)", k->what, name,
                      count);
        goto done;
    }
    /* HDF5 converts float16 and float64 to the native float itself. */
    if (count > 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        free(buf);
        st = fk__fail(FK_EMODEL,
                      "%s: layer %s (file: %s): %s (%s) cannot be read: the file is "
                      "truncated or damaged",
                      k->path, name, L->name, spec->role, want);
        goto done;
    }
    *out = buf;
done:
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    if (d >= 0) H5Dclose(d);
    return st;
}

fk_status fk__keras_h5_layer(fk_keras_h5 *k, const char *name,
                            const fk_keras_weight *spec, int n, const float **out) {
    if (!k || !name || !spec || n <= 0 || n > MAX_WEIGHTS)
        return fk__fail(FK_EINVAL, "fk__keras_h5_layer: bad arguments");
    for (int i = 0; i < n; i++) {
        long c = 1;
        int ok = spec[i].ndim >= 1 && spec[i].ndim <= 4;
        for (int j = 0; ok && j < spec[i].ndim; j++) {
            ok = spec[i].shape[j] > 0 && c <= FK_KERAS_MAX_WEIGHT / spec[i].shape[j];
            c *= ok ? spec[i].shape[j] : 1;
        }
        if (!ok)
            return fk__fail(FK_EINVAL, "%s: layer %s: bad expected shape for %s", k->what, name,
                            spec[i].role);
    }
    if (k->root < 0)
        return fk__fail(FK_EINVAL, "%s: layer %s requested after the file was closed",
                        k->what, name);
    if (k->next >= k->count)
        return fk__fail(FK_EMODEL,
                        "%s: the file has %d layers with weights, %s has more: nothing for "
                        "layer %s (is it %s's weights file?)",
                        k->path, k->count, k->what, name, k->what);
    const h5_layer *L = &k->layers[k->next];
    if (L->nweights != n) {
        char want[128], have[512];
        roles_text(want, sizeof want, spec, n);
        names_text(have, sizeof have, L);
        return fk__fail(FK_EMODEL, "%s: layer %s (file: %s) has %d weights (%s), file has %d (%s)",
                        k->path, name, L->name, n, want, L->nweights, have);
    }
    if (k->ndata + n > k->cap_data) {
        int cap = k->cap_data ? k->cap_data * 2 : 64;
        while (cap < k->ndata + n) cap *= 2;
        float **p = realloc(k->data, sizeof *p * (size_t)cap);
        if (!p) return fk__fail(FK_ENOMEM, "out of memory");
        k->data = p;
        k->cap_data = cap;
    }
    h5_quiet q;
    h5_enter(&q);
    fk_status st = FK_OK;
    hid_t g = H5Gopen2(k->root, L->name, H5P_DEFAULT);
    if (g < 0)
        st = fk__fail(FK_EMODEL, "%s: layer %s (file: %s): its group cannot be opened",
                      k->path, name, L->name);
    float *bufs[MAX_WEIGHTS] = {0};
    for (int i = 0; i < n && st == FK_OK; i++)
        st = read_weight(k, g, L, name, i, &spec[i], out ? &bufs[i] : NULL);
    if (g >= 0) H5Gclose(g);
    h5_leave(&q);
    if (st != FK_OK) {
        for (int i = 0; i < n; i++) free(bufs[i]);
        return st;
    }
    for (int i = 0; out && i < n; i++) {
        k->data[k->ndata++] = bufs[i];
        out[i] = bufs[i];
    }
    k->next++;
    return FK_OK;
}

fk_status fk__keras_h5_end(fk_keras_h5 *k) {
    if (!k) return fk__fail(FK_EINVAL, "fk__keras_h5_end: bad arguments");
    fk_status st = FK_OK;
    if (k->next < k->count)
        st = fk__fail(FK_EMODEL,
                      "%s: the file has %d layers with weights, %s has %d: it was written "
                      "for another network (first layer left over: %s)",
                      k->path, k->count, k->what, k->next, k->layers[k->next].name);
    h5_quiet q;
    h5_enter(&q);
    close_file(k);
    h5_leave(&q);
    free_layers(k);
    return st;
}

#else /* !FK_WITH_HDF5 */

struct fk_keras_h5 {
    int unused;
};

int fk__keras_h5_available(void) { return 0; }

fk_status fk__keras_h5_open(const char *path, const char *what, fk_keras_h5 **out) {
    if (out) *out = NULL;
    return fk__fail(FK_EMODEL,
                    "%s: %s's Keras .h5 weights need a facekit built with HDF5 "
                    "(install libhdf5-dev and rebuild; FK_WITH_HDF5)",
                    path ? path : "(null)", what ? what : "the model");
}
void fk__keras_h5_free(fk_keras_h5 *k) { (void)k; }
int fk__keras_h5_layer_count(const fk_keras_h5 *k) { (void)k; return 0; }
const char *fk__keras_h5_layer_name(const fk_keras_h5 *k, int i) {
    (void)k;
    (void)i;
    return NULL;
}
fk_status fk__keras_h5_layer(fk_keras_h5 *k, const char *name, const fk_keras_weight *spec,
                            int n, const float **out) {
    (void)k; (void)name; (void)spec; (void)n; (void)out;
    return fk__fail(FK_EMODEL, "facekit was built without HDF5 (FK_WITH_HDF5)");
}
fk_status fk__keras_h5_end(fk_keras_h5 *k) {
    (void)k;
    return fk__fail(FK_EMODEL, "facekit was built without HDF5 (FK_WITH_HDF5)");
}

#endif
