/*
 * tfjs_weights.c - load TensorFlow.js weights manifests into float32 tensors.
 *
 * The work happens in three passes so nothing large is allocated before the
 * files are known to match the manifest:
 *   1. parse the JSON and turn every weight entry into a spec (name, shape,
 *      stored encoding, byte size), rejecting anything we cannot decode;
 *   2. per group, stat the bin files and compare their total size with the
 *      bytes the specs describe (a truncated download shows up here);
 *   3. read the group's files as one byte stream and decode each tensor.
 * Bin files are little-endian (TF.js writes the JS typed arrays as-is on
 * little-endian hosts); we assemble values from bytes so the loader also
 * works on a big-endian machine.
 */
#include "nn/tfjs_weights.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"

#define FETCH_HINT "run `facekit models fetch` to reinstall"

/* How a tensor's values are stored in the bin. */
typedef enum stored_kind {
    STORED_F32,
    STORED_I32,
    STORED_F16,
    STORED_U8,
    STORED_U16
} stored_kind;

/* One weight entry of the manifest, parsed and checked. */
typedef struct weight_spec {
    const char *name;     /* borrowed from the JSON tree */
    int ndim;
    int shape[FK_MAX_DIMS];
    long count;
    stored_kind kind;
    int round_to_int;     /* int32 tensor stored quantized: round like TF.js */
    double scale, min;    /* uint8/uint16 dequantization */
    size_t bytes;         /* bytes this tensor takes in the bin stream */
} weight_spec;

/* Bytes per stored element of each kind. */
static size_t stored_size(stored_kind k) {
    switch (k) {
    case STORED_F32: case STORED_I32: return 4;
    case STORED_F16: case STORED_U16: return 2;
    case STORED_U8: return 1;
    }
    return 0;
}

/* Decode an IEEE 754 half (binary16) into a float. Every half is exactly
 * representable as a float, so this is exact: subnormals become
 * mant * 2^-24, exponent 31 gives infinities and NaNs (payload kept). */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    float f;
    if (exp == 0) {
        f = ldexpf((float)mant, -24);
        return sign ? -f : f;
    }
    if (exp == 31)
        bits = sign | 0x7f800000u | (mant << 13);
    else
        bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Little-endian loads from an unaligned byte pointer. */
static uint16_t load_u16(const unsigned char *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}
static uint32_t load_u32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* Decode spec->count values stored at `src` into `dst`. Assumes `src` holds
 * spec->bytes bytes. Quantized values are computed in double and then
 * rounded to float, which is what TF.js does (JS numbers are doubles written
 * into a Float32Array), so our tensors are bit-identical to TF.js's. */
static void decode_tensor(const weight_spec *s, const unsigned char *src,
                          float *dst) {
    long i;
    for (i = 0; i < s->count; i++) {
        double v;
        switch (s->kind) {
        case STORED_F32: {
            uint32_t bits = load_u32(src + 4 * i);
            memcpy(&dst[i], &bits, sizeof bits);
            continue;
        }
        case STORED_I32:
            dst[i] = (float)(int32_t)load_u32(src + 4 * i);
            continue;
        case STORED_F16:
            dst[i] = half_to_float(load_u16(src + 2 * i));
            continue;
        case STORED_U8:
            v = src[i] * s->scale + s->min;
            break;
        case STORED_U16:
            v = load_u16(src + 2 * i) * s->scale + s->min;
            break;
        default:
            v = 0;
        }
        /* TF.js rounds quantized int32 tensors with Math.round (half up). */
        dst[i] = (float)(s->round_to_int ? floor(v + 0.5) : v);
    }
}

/* Write "[a,b,c]" for a shape into buf (always terminated). */
static void format_shape(char *buf, size_t cap, int ndim, const int *shape) {
    size_t n = 0;
    int i;
    n += (size_t)snprintf(buf, cap, "[");
    for (i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%d", i ? "," : "",
                              shape[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

/* Fill `s` from one manifest weight object; `what` and `idx` name it in
 * errors. Checks the shape (non-negative ints, at most FK_MAX_DIMS, product
 * and byte size without overflow) and the dtype/quantization pair, following
 * the combinations TF.js itself accepts. */
static fk_status parse_weight(json_t *jw, const char *what, size_t idx,
                              weight_spec *s) {
    json_t *jname = json_object_get(jw, "name");
    json_t *jshape = json_object_get(jw, "shape");
    json_t *jdtype = json_object_get(jw, "dtype");
    json_t *jq = json_object_get(jw, "quantization");
    const char *dtype, *qdtype = NULL;
    size_t i, elem;

    memset(s, 0, sizeof *s);
    if (!json_is_object(jw))
        return fk__fail(FK_EFORMAT, "%s: weight #%zu is not an object", what,
                       idx);
    if (!json_is_string(jname) || !json_string_value(jname)[0])
        return fk__fail(FK_EFORMAT, "%s: weight #%zu has no \"name\"", what,
                       idx);
    s->name = json_string_value(jname);
    if (!json_is_array(jshape))
        return fk__fail(FK_EFORMAT, "%s: tensor '%s' has no \"shape\" array",
                       what, s->name);
    if (json_array_size(jshape) > FK_MAX_DIMS)
        return fk__fail(FK_EFORMAT,
                       "%s: tensor '%s' has %zu dims, at most %d supported",
                       what, s->name, json_array_size(jshape), FK_MAX_DIMS);
    s->ndim = (int)json_array_size(jshape);
    s->count = 1;
    for (i = 0; i < json_array_size(jshape); i++) {
        json_t *jd = json_array_get(jshape, i);
        json_int_t d;
        if (!json_is_integer(jd))
            return fk__fail(FK_EFORMAT,
                           "%s: tensor '%s': shape[%zu] is not an integer",
                           what, s->name, i);
        d = json_integer_value(jd);
        if (d < 0 || d > INT_MAX)
            return fk__fail(FK_EFORMAT,
                           "%s: tensor '%s': shape[%zu] = %lld is out of range",
                           what, s->name, i, (long long)d);
        s->shape[i] = (int)d;
        /* Cap the element count so count * 4 bytes fits in size_t and long. */
        if (d != 0 && s->count > (LONG_MAX / 8) / d)
            return fk__fail(FK_EFORMAT,
                           "%s: tensor '%s': shape is absurdly large", what,
                           s->name);
        s->count *= (long)d;
    }

    if (!json_is_string(jdtype))
        return fk__fail(FK_EFORMAT, "%s: tensor '%s' has no \"dtype\"", what,
                       s->name);
    dtype = json_string_value(jdtype);
    if (strcmp(dtype, "float32") != 0 && strcmp(dtype, "int32") != 0)
        return fk__fail(FK_EFORMAT,
                       "%s: tensor '%s': unsupported dtype '%s' (supported: "
                       "float32, int32)",
                       what, s->name, dtype);
    if (jq && !json_is_null(jq)) {
        json_t *jqd = json_object_get(jq, "dtype");
        if (!json_is_object(jq) || !json_is_string(jqd))
            return fk__fail(FK_EFORMAT,
                           "%s: tensor '%s': \"quantization\" has no dtype",
                           what, s->name);
        qdtype = json_string_value(jqd);
    }

    if (!qdtype) {
        s->kind = dtype[0] == 'f' ? STORED_F32 : STORED_I32;
    } else if (strcmp(qdtype, "uint8") == 0 || strcmp(qdtype, "uint16") == 0) {
        json_t *jscale = json_object_get(jq, "scale");
        json_t *jmin = json_object_get(jq, "min");
        if (!json_is_number(jscale) || !json_is_number(jmin))
            return fk__fail(FK_EFORMAT,
                           "%s: tensor '%s': %s quantization needs numeric "
                           "\"scale\" and \"min\"",
                           what, s->name, qdtype);
        s->kind = qdtype[4] == '8' ? STORED_U8 : STORED_U16;
        s->scale = json_number_value(jscale);
        s->min = json_number_value(jmin);
        s->round_to_int = dtype[0] == 'i';
    } else if (strcmp(qdtype, "float16") == 0) {
        if (dtype[0] != 'f')
            return fk__fail(FK_EFORMAT,
                           "%s: tensor '%s': float16 quantization applies "
                           "only to float32 tensors, not %s",
                           what, s->name, dtype);
        s->kind = STORED_F16;
    } else {
        return fk__fail(FK_EFORMAT,
                       "%s: tensor '%s': unsupported quantization dtype '%s' "
                       "(supported: uint8, uint16, float16)",
                       what, s->name, qdtype);
    }
    elem = stored_size(s->kind);
    s->bytes = (size_t)s->count * elem;
    return FK_OK;
}

/* Join the manifest folder and a relative bin path into buf. Refuses
 * absolute paths and ".." components: a manifest names files beside it, and
 * a hostile one must not make us read elsewhere. */
static fk_status bin_path(const char *dir, const char *rel, const char *what,
                          char *buf, size_t cap) {
    const char *p = rel;
    int n;
    if (rel[0] == '/' || rel[0] == '\0')
        return fk__fail(FK_EFORMAT, "%s: bad weights path '%s'", what, rel);
    while (p) {
        if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0'))
            return fk__fail(FK_EFORMAT,
                           "%s: weights path '%s' leaves the model folder",
                           what, rel);
        p = strchr(p, '/');
        if (p)
            p++;
    }
    if (dir && dir[0])
        n = snprintf(buf, cap, "%s/%s", dir, rel);
    else
        n = snprintf(buf, cap, "%s", rel);
    if (n < 0 || (size_t)n >= cap)
        return fk__fail(FK_EINVAL, "%s: path too long: %s/%s", what,
                       dir ? dir : "", rel);
    return FK_OK;
}

/* Read one group's bin files, in order, into a new buffer of exactly
 * `need` bytes (*out, caller frees; may be NULL when need == 0). The sizes
 * are checked with stat first, so a short or long file fails before the
 * (possibly large) buffer is allocated. */
static fk_status read_group(json_t *jpaths, const char *dir, const char *what,
                            size_t need, unsigned char **out) {
    char path[4096];
    size_t i, npaths = json_array_size(jpaths);
    size_t have = 0, off = 0;
    unsigned char *buf;
    fk_status st;

    *out = NULL;
    if (npaths == 0)
        return need == 0 ? FK_OK
                         : fk__fail(FK_EFORMAT,
                                   "%s: a weights group has no \"paths\"",
                                   what);
    for (i = 0; i < npaths; i++) {
        json_t *jp = json_array_get(jpaths, i);
        struct stat sb;
        if (!json_is_string(jp))
            return fk__fail(FK_EFORMAT, "%s: \"paths\" holds a non-string",
                           what);
        st = bin_path(dir, json_string_value(jp), what, path, sizeof path);
        if (st)
            return st;
        if (stat(path, &sb) != 0)
            return fk__fail(FK_EMODEL, "%s: cannot open: %s; " FETCH_HINT,
                           path, strerror(errno));
        if (!S_ISREG(sb.st_mode))
            return fk__fail(FK_EMODEL, "%s: not a regular file; " FETCH_HINT,
                           path);
        have += (size_t)sb.st_size;
    }
    /* `path` now names the group's last file: the one that is short or long
     * when files are concatenated, and the only one in the common case. */
    if (have < need)
        return fk__fail(FK_EMODEL,
                       "%s: truncated: expected %zu bytes, found %zu; "
                       FETCH_HINT,
                       path, need, have);
    if (have > need)
        return fk__fail(FK_EMODEL,
                       "%s: too long: expected %zu bytes, found %zu (the bin "
                       "does not match its manifest); " FETCH_HINT,
                       path, need, have);
    if (need == 0)
        return FK_OK;
    buf = malloc(need);
    if (!buf)
        return fk__fail(FK_ENOMEM, "%s: out of memory for %zu bytes of weights",
                       what, need);
    for (i = 0; i < npaths; i++) {
        FILE *f;
        size_t got;
        bin_path(dir, json_string_value(json_array_get(jpaths, i)), what, path,
                 sizeof path);
        f = fopen(path, "rb");
        if (!f) {
            st = fk__fail(FK_EMODEL, "%s: cannot open: %s; " FETCH_HINT, path,
                         strerror(errno));
            free(buf);
            return st;
        }
        /* Read what remains; a file that changed since stat shows as short. */
        got = fread(buf + off, 1, need - off, f);
        if (ferror(f)) {
            st = fk__fail(FK_EIO, "%s: read failed: %s", path, strerror(errno));
            fclose(f);
            free(buf);
            return st;
        }
        fclose(f);
        off += got;
    }
    if (off != need) {
        free(buf);
        return fk__fail(FK_EMODEL,
                       "%s: truncated: expected %zu bytes, found %zu; "
                       FETCH_HINT,
                       path, need, off);
    }
    *out = buf;
    return FK_OK;
}

/* qsort comparator over tensor-name pointers, for duplicate detection. */
static int cmp_name_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Fail if two tensors share a name: lookups by name would be ambiguous. */
static fk_status check_unique_names(const fk_weights *w, const char *what) {
    const char **names;
    int i;
    fk_status st = FK_OK;
    if (w->count < 2)
        return FK_OK;
    names = malloc((size_t)w->count * sizeof *names);
    if (!names)
        return fk__fail(FK_ENOMEM, "%s: out of memory", what);
    for (i = 0; i < w->count; i++)
        names[i] = w->items[i].name;
    qsort(names, (size_t)w->count, sizeof *names, cmp_name_ptr);
    for (i = 1; i < w->count && !st; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            st = fk__fail(FK_EFORMAT, "%s: tensor '%s' appears twice", what,
                         names[i]);
    free(names);
    return st;
}

/* Decode every weight of one group into w->items[w->count...]. Assumes
 * w->items has room for the group's weights. */
static fk_status load_group(json_t *jgroup, size_t gi, const char *dir,
                            const char *what, fk_weights *w) {
    json_t *jpaths = json_object_get(jgroup, "paths");
    json_t *jws = json_object_get(jgroup, "weights");
    size_t i, n, need = 0, off = 0;
    weight_spec *specs;
    unsigned char *bytes = NULL;
    fk_status st = FK_OK;

    if (!json_is_object(jgroup) || !json_is_array(jpaths) ||
        !json_is_array(jws))
        return fk__fail(FK_EFORMAT,
                       "%s: group #%zu needs \"paths\" and \"weights\" arrays",
                       what, gi);
    n = json_array_size(jws);
    specs = calloc(n ? n : 1, sizeof *specs);
    if (!specs)
        return fk__fail(FK_ENOMEM, "%s: out of memory", what);
    for (i = 0; i < n && !st; i++) {
        st = parse_weight(json_array_get(jws, i), what, i, &specs[i]);
        if (!st && specs[i].bytes > SIZE_MAX / 2 - need)
            st = fk__fail(FK_EFORMAT, "%s: weights are absurdly large", what);
        if (!st)
            need += specs[i].bytes;
    }
    if (!st)
        st = read_group(jpaths, dir, what, need, &bytes);
    for (i = 0; i < n && !st; i++) {
        fk_weight *t = &w->items[w->count];
        const weight_spec *s = &specs[i];
        memset(t, 0, sizeof *t);
        t->name = strdup(s->name);
        /* At least one float, so data is never NULL for an empty tensor. */
        t->data = malloc((size_t)(s->count ? s->count : 1) * sizeof(float));
        if (!t->name || !t->data) {
            free(t->name);
            free(t->data);
            st = fk__fail(FK_ENOMEM, "%s: out of memory", what);
            break;
        }
        t->ndim = s->ndim;
        memcpy(t->shape, s->shape, sizeof t->shape);
        t->count = s->count;
        decode_tensor(s, bytes + off, t->data);
        off += s->bytes;
        w->count++;
    }
    free(bytes);
    free(specs);
    return st;
}

fk_status fk__weights_load_tfjs_text(const char *manifest_json, const char *dir,
                                    const char *what, fk_weights **out) {
    /* Parses the manifest text, counts the weights to size the item array
     * once, then loads group by group. On failure nothing is leaked and
     * *out is NULL. */
    json_error_t jerr;
    json_t *root;
    fk_weights *w;
    size_t g, total = 0;
    fk_status st = FK_OK;

    *out = NULL;
    if (!what)
        what = "weights manifest";
    root = json_loads(manifest_json, 0, &jerr);
    if (!root)
        return fk__fail(FK_EMODEL, "%s: line %d, column %d: %s", what,
                       jerr.line, jerr.column, jerr.text);
    if (!json_is_array(root)) {
        json_decref(root);
        return fk__fail(FK_EMODEL,
                       "%s: not a weights manifest (expected a JSON array of "
                       "groups)",
                       what);
    }
    for (g = 0; g < json_array_size(root); g++)
        total += json_array_size(
            json_object_get(json_array_get(root, g), "weights"));
    if (total > INT_MAX) {
        json_decref(root);
        return fk__fail(FK_EFORMAT, "%s: too many tensors", what);
    }
    w = calloc(1, sizeof *w);
    if (w)
        w->items = calloc(total ? total : 1, sizeof *w->items);
    if (!w || !w->items) {
        free(w);
        json_decref(root);
        return fk__fail(FK_ENOMEM, "%s: out of memory", what);
    }
    for (g = 0; g < json_array_size(root) && !st; g++)
        st = load_group(json_array_get(root, g), g, dir, what, w);
    if (!st)
        st = check_unique_names(w, what);
    json_decref(root);
    if (st) {
        fk__weights_free(w);
        return st;
    }
    *out = w;
    return FK_OK;
}

fk_status fk__weights_load_tfjs(const char *manifest_path, fk_weights **out) {
    /* Reads the whole manifest file (they are small: tens of KB) and hands
     * it to the text loader with the file's folder as the bin folder. */
    char dir[4096];
    const char *slash;
    FILE *f;
    char *text;
    long size;
    size_t got;
    fk_status st;

    *out = NULL;
    f = fopen(manifest_path, "rb");
    if (!f)
        return fk__fail(FK_EMODEL,
                       "%s: cannot open: %s; run `facekit models fetch` to "
                       "install the models",
                       manifest_path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        st = fk__fail(FK_EIO, "%s: cannot read: %s", manifest_path,
                     strerror(errno));
        fclose(f);
        return st;
    }
    text = malloc((size_t)size + 1);
    if (!text) {
        fclose(f);
        return fk__fail(FK_ENOMEM, "%s: out of memory", manifest_path);
    }
    got = fread(text, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size) {
        free(text);
        return fk__fail(FK_EIO, "%s: short read", manifest_path);
    }
    text[size] = '\0';

    slash = strrchr(manifest_path, '/');
    if (slash && (size_t)(slash - manifest_path) < sizeof dir) {
        size_t n = (size_t)(slash - manifest_path);
        memcpy(dir, manifest_path, n);
        dir[n] = '\0';
        if (n == 0)
            strcpy(dir, "/");
    } else if (slash) {
        free(text);
        return fk__fail(FK_EINVAL, "%s: path too long", manifest_path);
    } else {
        dir[0] = '\0';
    }
    st = fk__weights_load_tfjs_text(text, dir, manifest_path, out);
    free(text);
    return st;
}

void fk__weights_free(fk_weights *w) {
    /* Frees every tensor's name and data, then the set; NULL is fine. */
    int i;
    if (!w)
        return;
    for (i = 0; i < w->count; i++) {
        free(w->items[i].name);
        free(w->items[i].data);
    }
    free(w->items);
    free(w);
}

const fk_weight *fk__weights_find(const fk_weights *w, const char *name) {
    /* A linear scan: models have a few hundred tensors and are looked up
     * once each at load time, so an index would not pay for itself. */
    int i;
    if (!w || !name)
        return NULL;
    for (i = 0; i < w->count; i++)
        if (strcmp(w->items[i].name, name) == 0)
            return &w->items[i];
    return NULL;
}

fk_status fk__weights_get(const fk_weights *w, const char *what,
                         const char *name, int ndim, const int *shape,
                         const fk_weight **out) {
    /* Finds the tensor and checks its rank and every dim (-1 = any), so a
     * model built on it can index without further checks. */
    const fk_weight *t = fk__weights_find(w, name);
    int i, ok;
    char have[128], want[128];

    *out = NULL;
    if (!what)
        what = "model";
    if (!t)
        return fk__fail(FK_EMODEL,
                       "%s: tensor '%s' not found (the weights file does not "
                       "belong to this model; " FETCH_HINT ")",
                       what, name);
    ok = t->ndim == ndim;
    for (i = 0; ok && i < ndim; i++)
        if (shape[i] != -1 && shape[i] != t->shape[i])
            ok = 0;
    if (!ok) {
        format_shape(have, sizeof have, t->ndim, t->shape);
        format_shape(want, sizeof want, ndim > FK_MAX_DIMS ? FK_MAX_DIMS : ndim,
                     shape);
        return fk__fail(FK_EMODEL, "%s: tensor '%s' has shape %s, expected %s",
                       what, name, have, want);
    }
    *out = t;
    return FK_OK;
}
