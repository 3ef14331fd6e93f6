/*
 * tflite.c - reading TensorFlow Lite flatbuffers and converting them into
 * an fk_graph (see tflite.h).
 *
 * The flatbuffer encoding, as this reader relies on it (all little-endian):
 *  - the file starts with a uoffset (u32) to the root table, then the file
 *    identifier "TFL3";
 *  - a table starts with an soffset (i32): its vtable lies at
 *    table - soffset. A vtable is u16 vtable_bytes, u16 table_bytes, then
 *    one u16 per field: the field's offset inside the table, 0 = absent
 *    (the schema default applies);
 *  - a field holding a table, vector or string stores a u32 offset relative
 *    to the field's own position;
 *  - a vector is a u32 element count followed by the elements; a vector of
 *    tables holds u32 offsets, each relative to its own slot; a string is a
 *    vector of bytes (plus a NUL we do not rely on);
 *  - a union takes two fields: a u8 type, then the offset of the table.
 * Every position is checked against the buffer size (in 64-bit arithmetic,
 * so no sum can wrap) before it is read, and values are assembled byte by
 * byte, so misaligned or hostile offsets are safe.
 */
#include "nn/tflite.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define TFL_MAX_FILE ((size_t)1 << 31)  /* 2 GiB: flatbuffers' own limit */
#define TFL_MAX_COUNT ((long)1 << 30)   /* elements in one tensor */

/* ---- bounds-checked flatbuffer access ---------------------------------- */

typedef struct fb {
    const uint8_t *p;
    size_t n;
    const char *what;
    int bad;       /* an error has been recorded (the first one wins) */
    fk_status st;  /* its status */
} fb;

typedef struct fb_table {
    uint64_t pos;   /* start of the table */
    uint64_t vt;    /* start of its vtable */
    unsigned vsize; /* vtable bytes */
    unsigned tsize; /* table bytes */
} fb_table;

/* Record that the file is damaged (FK_EMODEL) with a detail; returns 0 so
 * callers can write `return corrupt(...)`. */
static int corrupt(fb *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int corrupt(fb *r, const char *fmt, ...) {
    if (!r->bad) {
        char detail[192];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof detail, fmt, ap);
        va_end(ap);
        fk__fail(FK_EMODEL,
                "%s: truncated or corrupt TensorFlow Lite file (%s); fetch "
                "it again (`facekit models fetch`)",
                r->what, detail);
        r->bad = 1;
        r->st = FK_EMODEL;
    }
    return 0;
}

/* Record an unsupported but well-formed construct (FK_EFORMAT). */
static int unsupported(fb *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int unsupported(fb *r, const char *fmt, ...) {
    if (!r->bad) {
        char detail[192];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof detail, fmt, ap);
        va_end(ap);
        fk__fail(FK_EFORMAT, "%s: unsupported TensorFlow Lite model: %s",
                r->what, detail);
        r->bad = 1;
        r->st = FK_EFORMAT;
    }
    return 0;
}

/* True if [pos, pos + len) lies inside the buffer. */
static int fb_has(const fb *r, uint64_t pos, uint64_t len) {
    return pos <= r->n && len <= r->n - pos;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) {
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}
static float rdf32(const uint8_t *p) {
    uint32_t u = rd32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Open the table at `pos` (`kind` names it in errors). */
static int table_at(fb *r, uint64_t pos, const char *kind, fb_table *t) {
    if (r->bad) return 0;
    if (!fb_has(r, pos, 4))
        return corrupt(r, "%s table at offset %llu lies outside the %zu-byte file",
                       kind, (unsigned long long)pos, r->n);
    int32_t so = (int32_t)rd32(r->p + pos);
    int64_t vt = (int64_t)pos - (int64_t)so;
    if (vt < 0 || !fb_has(r, (uint64_t)vt, 4))
        return corrupt(r, "%s vtable at offset %lld lies outside the file", kind,
                       (long long)vt);
    t->pos = pos;
    t->vt = (uint64_t)vt;
    t->vsize = rd16(r->p + vt);
    t->tsize = rd16(r->p + vt + 2);
    if (t->vsize < 4 || (t->vsize & 1) || !fb_has(r, t->vt, t->vsize))
        return corrupt(r, "%s vtable at offset %llu is malformed", kind,
                       (unsigned long long)t->vt);
    if (t->tsize < 4 || !fb_has(r, pos, t->tsize))
        return corrupt(r, "%s table at offset %llu (%u bytes) runs past the end",
                       kind, (unsigned long long)pos, t->tsize);
    return 1;
}

/* Position of field `i` of size `size`, or 0 when absent (or on error). */
static uint64_t field(fb *r, const fb_table *t, int i, unsigned size) {
    if (r->bad) return 0;
    unsigned slot = 4 + 2 * (unsigned)i;
    if (slot + 2 > t->vsize) return 0;
    unsigned off = rd16(r->p + t->vt + slot);
    if (off == 0) return 0;
    if (off < 4 || (uint64_t)off + size > t->tsize) {
        corrupt(r, "field %d at offset %llu lies outside its table", i,
                (unsigned long long)(t->pos + off));
        return 0;
    }
    return t->pos + off;
}

static int64_t get_int(fb *r, const fb_table *t, int i, unsigned size,
                       int is_signed, int64_t def) {
    uint64_t p = field(r, t, i, size);
    if (!p) return def;
    const uint8_t *b = r->p + p;
    switch (size) {
    case 1: return is_signed ? (int64_t)(int8_t)b[0] : (int64_t)b[0];
    case 2: return is_signed ? (int64_t)(int16_t)rd16(b) : (int64_t)rd16(b);
    case 4: return is_signed ? (int64_t)(int32_t)rd32(b) : (int64_t)rd32(b);
    default: return (int64_t)rd64(b);
    }
}

static float get_f32(fb *r, const fb_table *t, int i, float def) {
    uint64_t p = field(r, t, i, 4);
    return p ? rdf32(r->p + p) : def;
}

/* Follow the offset in field `i`: *target gets the referenced position.
 * Returns 0 when the field is absent or on error. */
static int get_ref(fb *r, const fb_table *t, int i, uint64_t *target) {
    uint64_t p = field(r, t, i, 4);
    if (!p) return 0;
    uint64_t to = p + rd32(r->p + p);
    if (!fb_has(r, to, 4))
        return corrupt(r, "field %d of the table at offset %llu points outside "
                       "the file", i, (unsigned long long)t->pos);
    *target = to;
    return 1;
}

/* The vector in field `i` with elements of `elem` bytes: *pos gets the
 * first element, *len the count (0 when absent). */
static int get_vec(fb *r, const fb_table *t, int i, unsigned elem,
                   uint64_t *pos, uint32_t *len) {
    uint64_t to = 0;
    *len = 0;
    *pos = 0;
    if (!get_ref(r, t, i, &to)) return !r->bad;
    uint32_t n = rd32(r->p + to);
    if (!fb_has(r, to + 4, (uint64_t)n * elem))
        return corrupt(r, "a vector of %u elements at offset %llu runs past the "
                       "end of the file", n, (unsigned long long)to);
    *pos = to + 4;
    *len = n;
    return 1;
}

/* Element j of a vector of tables. */
static int vec_table(fb *r, uint64_t vpos, uint32_t j, const char *kind,
                     fb_table *t) {
    uint64_t slot = vpos + 4 * (uint64_t)j;
    return table_at(r, slot + rd32(r->p + slot), kind, t);
}

/* A malloc'd copy of the string in field `i`; NULL when absent. *ok is
 * cleared on error (corrupt data or no memory). */
static char *get_str(fb *r, const fb_table *t, int i, int *ok) {
    uint64_t pos;
    uint32_t len;
    if (!get_vec(r, t, i, 1, &pos, &len)) {
        *ok = 0;
        return NULL;
    }
    if (!pos) return NULL;
    char *s = malloc((size_t)len + 1);
    if (!s) {
        fk__fail(FK_ENOMEM, "%s: out of memory", r->what);
        r->bad = 1;
        r->st = FK_ENOMEM;
        *ok = 0;
        return NULL;
    }
    memcpy(s, r->p + pos, len);
    s[len] = '\0';
    return s;
}

/* A malloc'd copy of an int32 vector field, checking every entry is in
 * [lo, hi). */
static int get_index_vec(fb *r, const fb_table *t, int i, int lo, int hi,
                         const char *kind, int **out, int *count) {
    uint64_t pos;
    uint32_t len;
    *out = NULL;
    *count = 0;
    if (!get_vec(r, t, i, 4, &pos, &len)) return 0;
    if (len == 0) return 1;
    int *v = malloc(sizeof *v * len);
    if (!v) {
        fk__fail(FK_ENOMEM, "%s: out of memory", r->what);
        r->bad = 1;
        r->st = FK_ENOMEM;
        return 0;
    }
    for (uint32_t k = 0; k < len; k++) {
        int32_t x = (int32_t)rd32(r->p + pos + 4 * (uint64_t)k);
        if (x < lo || x >= hi) {
            free(v);
            return corrupt(r, "%s %u is tensor %d, outside 0..%d", kind, k, x, hi - 1);
        }
        v[k] = x;
    }
    *out = v;
    *count = (int)len;
    return 1;
}

/* ---- element decoding -------------------------------------------------- */

static int type_size(int type) {
    switch (type) {
    case FK_TFL_FLOAT32: case FK_TFL_INT32: return 4;
    case FK_TFL_FLOAT16: case FK_TFL_INT16: return 2;
    case FK_TFL_UINT8: case FK_TFL_INT8: case FK_TFL_BOOL: return 1;
    case FK_TFL_INT64: case FK_TFL_FLOAT64: return 8;
    default: return 0;
    }
}

static const char *type_name(int type) {
    static const char *names[] = {"FLOAT32", "FLOAT16", "INT32", "UINT8",
                                  "INT64", "STRING", "BOOL", "INT16",
                                  "COMPLEX64", "INT8", "FLOAT64"};
    return type >= 0 && type <= 10 ? names[type] : "unknown type";
}

/* IEEE half to float (subnormals, infinities and NaN included). */
static float half_to_float(uint16_t h) {
    int sign = h >> 15, exp = (h >> 10) & 31, man = h & 1023;
    float v;
    if (exp == 0) v = ldexpf((float)man, -24);
    else if (exp == 31) v = man ? NAN : INFINITY;
    else v = ldexpf((float)(man | 1024), exp - 25);
    return sign ? -v : v;
}

/* The raw element k of a buffer as a double. */
static double raw_value(const uint8_t *b, int type, long k) {
    switch (type) {
    case FK_TFL_FLOAT32: return rdf32(b + 4 * k);
    case FK_TFL_FLOAT16: return half_to_float(rd16(b + 2 * k));
    case FK_TFL_INT32: return (int32_t)rd32(b + 4 * k);
    case FK_TFL_INT16: return (int16_t)rd16(b + 2 * k);
    case FK_TFL_UINT8: case FK_TFL_BOOL: return b[k];
    case FK_TFL_INT8: return (int8_t)b[k];
    case FK_TFL_INT64: return (double)(int64_t)rd64(b + 8 * k);
    case FK_TFL_FLOAT64: {
        uint64_t u = rd64(b + 8 * k);
        double d;
        memcpy(&d, &u, sizeof d);
        return d;
    }
    default: return 0;
    }
}

/* Quantization parameters of one tensor, still in the file. */
typedef struct quant {
    uint64_t scale_pos, zero_pos;
    uint32_t n_scale, n_zero;
    int dim;
} quant;

/* Convert a constant tensor's buffer to float32 (see tflite.h). */
static int decode_tensor(fb *r, fk_tfl_tensor *t, int index, const uint8_t *b,
                         uint64_t bytes, const quant *q) {
    int es = type_size(t->type);
    if (es == 0)
        return unsupported(r, "tensor %d ('%s') holds %s constants", index,
                           t->name ? t->name : "", type_name(t->type));
    if (bytes != (uint64_t)t->count * (uint64_t)es)
        return corrupt(r, "tensor %d ('%s') has %llu bytes of data, its shape "
                       "needs %llu", index, t->name ? t->name : "",
                       (unsigned long long)bytes,
                       (unsigned long long)t->count * (uint64_t)es);
    int is_int = t->type == FK_TFL_UINT8 || t->type == FK_TFL_INT8 ||
                 t->type == FK_TFL_INT16;
    long inner = 1, axis_len = 1;
    if (is_int && q->n_scale > 0) {
        t->quantized = 1;
        if (q->n_scale > 1) {
            if (q->dim < 0 || q->dim >= t->ndim || t->shape[q->dim] != (int)q->n_scale)
                return corrupt(r, "tensor %d ('%s'): %u scales do not match "
                               "quantized dimension %d", index,
                               t->name ? t->name : "", q->n_scale, q->dim);
            for (int d = q->dim + 1; d < t->ndim; d++) inner *= t->shape[d];
            axis_len = t->shape[q->dim];
        }
        if (q->n_zero != 0 && q->n_zero != 1 && q->n_zero != q->n_scale)
            return corrupt(r, "tensor %d ('%s'): %u zero points for %u scales",
                           index, t->name ? t->name : "", q->n_zero, q->n_scale);
    }
    t->data = malloc(sizeof(float) * (size_t)(t->count > 0 ? t->count : 1));
    if (!t->data) {
        fk__fail(FK_ENOMEM, "%s: out of memory", r->what);
        r->bad = 1;
        r->st = FK_ENOMEM;
        return 0;
    }
    for (long k = 0; k < t->count; k++) {
        double v = raw_value(b, t->type, k);
        if (t->quantized) {
            long c = q->n_scale > 1 ? (k / inner) % axis_len : 0;
            double scale = rdf32(r->p + q->scale_pos + 4 * (uint64_t)c);
            double zero = 0;
            if (q->n_zero)
                zero = (double)(int64_t)rd64(r->p + q->zero_pos +
                                             8 * (uint64_t)(q->n_zero > 1 ? c : 0));
            v = scale * (v - zero);
        }
        t->data[k] = (float)v;
    }
    return 1;
}

/* ---- the model --------------------------------------------------------- */

void fk__tflite_free(fk_tfl_model *m) {
    if (!m) return;
    for (int i = 0; m->tensors && i < m->n_tensors; i++) {
        free(m->tensors[i].name);
        if (!m->tensors[i].data_borrowed) free(m->tensors[i].data);
    }
    for (int i = 0; m->ops && i < m->n_ops; i++) {
        free(m->ops[i].custom);
        free(m->ops[i].inputs);
        free(m->ops[i].outputs);
    }
    free(m->tensors);
    free(m->ops);
    free(m->inputs);
    free(m->outputs);
    free(m->description);
    free(m->what);
    free(m);
}

/* A buffer's bytes: inline data, or (for models over 2 GB) an offset and
 * size into the file. */
typedef struct buf_ref {
    uint64_t pos, len;
} buf_ref;

static int read_buffers(fb *r, const fb_table *model, buf_ref **out,
                        uint32_t *count) {
    uint64_t vpos;
    uint32_t n;
    *out = NULL;
    *count = 0;
    if (!get_vec(r, model, 4, 4, &vpos, &n)) return 0;
    buf_ref *b = calloc(n ? n : 1, sizeof *b);
    if (!b) {
        fk__fail(FK_ENOMEM, "%s: out of memory", r->what);
        r->bad = 1;
        r->st = FK_ENOMEM;
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        fb_table t;
        if (!vec_table(r, vpos, i, "buffer", &t)) break;
        uint64_t pos;
        uint32_t len;
        if (!get_vec(r, &t, 0, 1, &pos, &len)) break;
        b[i].pos = pos;
        b[i].len = len;
        uint64_t off = (uint64_t)get_int(r, &t, 1, 8, 0, 0);
        uint64_t size = (uint64_t)get_int(r, &t, 2, 8, 0, 0);
        if (off > 1 && size > 0) {
            if (!fb_has(r, off, size)) {
                corrupt(r, "buffer %u (%llu bytes at offset %llu) lies outside "
                        "the file", i, (unsigned long long)size,
                        (unsigned long long)off);
                break;
            }
            b[i].pos = off;
            b[i].len = size;
        }
    }
    if (r->bad) {
        free(b);
        return 0;
    }
    *out = b;
    *count = n;
    return 1;
}

typedef struct opcode {
    int code, version;
    uint64_t custom_tbl; /* 0 or the operator code table (for its name) */
    fb_table t;
} opcode;

static int read_opcodes(fb *r, const fb_table *model, opcode **out,
                        uint32_t *count) {
    uint64_t vpos;
    uint32_t n;
    *out = NULL;
    *count = 0;
    if (!get_vec(r, model, 1, 4, &vpos, &n)) return 0;
    opcode *c = calloc(n ? n : 1, sizeof *c);
    if (!c) {
        fk__fail(FK_ENOMEM, "%s: out of memory", r->what);
        r->bad = 1;
        r->st = FK_ENOMEM;
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!vec_table(r, vpos, i, "operator code", &c[i].t)) break;
        /* Old files store the code in a byte (field 0), new ones in an int
         * (field 3) and keep the byte for codes below 127: take the larger. */
        int64_t dep = get_int(r, &c[i].t, 0, 1, 1, 0);
        int64_t code = get_int(r, &c[i].t, 3, 4, 1, 0);
        c[i].code = (int)(dep > code ? dep : code);
        c[i].version = (int)get_int(r, &c[i].t, 2, 4, 1, 1);
    }
    if (r->bad) {
        free(c);
        return 0;
    }
    *out = c;
    *count = n;
    return 1;
}

static int read_tensor(fb *r, const fb_table *t, int index, const buf_ref *bufs,
                       uint32_t n_bufs, fk_tfl_tensor *ten) {
    uint64_t pos;
    uint32_t len;
    int ok = 1;
    ten->name = get_str(r, t, 3, &ok);
    if (!ok) return 0;
    if (!get_vec(r, t, 0, 4, &pos, &len)) return 0;
    if (len > FK_TFL_MAX_DIMS)
        return unsupported(r, "tensor %d ('%s') has %u dimensions (at most %d)",
                           index, ten->name ? ten->name : "", len, FK_TFL_MAX_DIMS);
    ten->ndim = (int)len;
    ten->count = 1;
    for (uint32_t d = 0; d < len; d++) {
        int32_t x = (int32_t)rd32(r->p + pos + 4 * (uint64_t)d);
        if (x < 0)
            return corrupt(r, "tensor %d ('%s') has a negative dimension %d",
                           index, ten->name ? ten->name : "", x);
        ten->shape[d] = x;
        if (x > 0 && ten->count > TFL_MAX_COUNT / x)
            return corrupt(r, "tensor %d ('%s') is impossibly large", index,
                           ten->name ? ten->name : "");
        ten->count *= x;
    }
    ten->type = (int)get_int(r, t, 1, 1, 1, 0);
    int64_t buf = get_int(r, t, 2, 4, 0, 0);
    if (r->bad) return 0;
    if (buf < 0 || (uint64_t)buf >= (n_bufs ? n_bufs : 1))
        return corrupt(r, "tensor %d ('%s') refers to buffer %lld of %u", index,
                       ten->name ? ten->name : "", (long long)buf, n_bufs);
    ten->buffer = (int)buf;

    quant q = {0, 0, 0, 0, 0};
    uint64_t qpos;
    if (get_ref(r, t, 4, &qpos)) {
        fb_table qt;
        if (!table_at(r, qpos, "quantization", &qt)) return 0;
        if (!get_vec(r, &qt, 2, 4, &q.scale_pos, &q.n_scale)) return 0;
        if (!get_vec(r, &qt, 3, 8, &q.zero_pos, &q.n_zero)) return 0;
        q.dim = (int)get_int(r, &qt, 6, 4, 1, 0);
    }
    if (r->bad) return 0;
    if (n_bufs && bufs[buf].len > 0)
        return decode_tensor(r, ten, index, r->p + bufs[buf].pos, bufs[buf].len, &q);
    return 1;
}

/* Decode the builtin options of the operators the converter understands. */
static void read_options(fb *r, const fb_table *opt, fk_tfl_op *op) {
    switch (op->options_type) {
    case 1: /* Conv2DOptions */
        op->padding = (int)get_int(r, opt, 0, 1, 1, 0);
        op->stride_w = (int)get_int(r, opt, 1, 4, 1, 0);
        op->stride_h = (int)get_int(r, opt, 2, 4, 1, 0);
        op->activation = (int)get_int(r, opt, 3, 1, 1, 0);
        op->dilation_w = (int)get_int(r, opt, 4, 4, 1, 1);
        op->dilation_h = (int)get_int(r, opt, 5, 4, 1, 1);
        break;
    case 2: /* DepthwiseConv2DOptions */
        op->padding = (int)get_int(r, opt, 0, 1, 1, 0);
        op->stride_w = (int)get_int(r, opt, 1, 4, 1, 0);
        op->stride_h = (int)get_int(r, opt, 2, 4, 1, 0);
        op->depth_multiplier = (int)get_int(r, opt, 3, 4, 1, 0);
        op->activation = (int)get_int(r, opt, 4, 1, 1, 0);
        op->dilation_w = (int)get_int(r, opt, 5, 4, 1, 1);
        op->dilation_h = (int)get_int(r, opt, 6, 4, 1, 1);
        break;
    case 5: /* Pool2DOptions */
        op->padding = (int)get_int(r, opt, 0, 1, 1, 0);
        op->stride_w = (int)get_int(r, opt, 1, 4, 1, 0);
        op->stride_h = (int)get_int(r, opt, 2, 4, 1, 0);
        op->filter_w = (int)get_int(r, opt, 3, 4, 1, 0);
        op->filter_h = (int)get_int(r, opt, 4, 4, 1, 0);
        op->activation = (int)get_int(r, opt, 5, 1, 1, 0);
        break;
    case 8:  /* FullyConnectedOptions */
    case 11: /* AddOptions */
    case 21: /* MulOptions */
    case 28: /* SubOptions */
    case 29: /* DivOptions */
        op->activation = (int)get_int(r, opt, 0, 1, 1, 0);
        break;
    case 9: /* SoftmaxOptions */
        op->beta = get_f32(r, opt, 0, 1.0f);
        break;
    case 17: { /* ReshapeOptions */
        uint64_t pos;
        uint32_t len;
        if (!get_vec(r, opt, 0, 4, &pos, &len)) return;
        if (len > FK_TFL_MAX_DIMS) {
            unsupported(r, "a reshape to %u dimensions", len);
            return;
        }
        op->n_new_shape = (int)len;
        for (uint32_t d = 0; d < len; d++)
            op->new_shape[d] = (int32_t)rd32(r->p + pos + 4 * (uint64_t)d);
        break;
    }
    default:
        break;
    }
}

static int read_operator(fb *r, const fb_table *t, int index, const opcode *codes,
                         uint32_t n_codes, int n_tensors, fk_tfl_op *op) {
    int64_t oc = get_int(r, t, 0, 4, 0, 0);
    if (r->bad) return 0;
    if (oc < 0 || (uint64_t)oc >= n_codes)
        return corrupt(r, "operator %d uses operator code %lld of %u", index,
                       (long long)oc, n_codes);
    op->code = codes[oc].code;
    op->version = codes[oc].version;
    op->beta = 1.0f;
    op->dilation_w = op->dilation_h = 1;
    if (op->code == FK_TFL_CUSTOM) {
        int ok = 1;
        op->custom = get_str(r, &codes[oc].t, 1, &ok);
        if (!ok) return 0;
    }
    if (!get_index_vec(r, t, 1, -1, n_tensors, "input", &op->inputs, &op->n_inputs))
        return 0;
    if (!get_index_vec(r, t, 2, 0, n_tensors, "output", &op->outputs, &op->n_outputs))
        return 0;
    op->options_type = (int)get_int(r, t, 3, 1, 0, 0);
    uint64_t opos;
    if (op->options_type && get_ref(r, t, 4, &opos)) {
        fb_table ot;
        if (!table_at(r, opos, "operator options", &ot)) return 0;
        read_options(r, &ot, op);
    }
    return !r->bad;
}

/* Point the output of DEQUANTIZE at its constant input's (already float)
 * data, so consumers see a constant. */
static void fold_dequantize(fk_tfl_model *m) {
    for (int i = 0; i < m->n_ops; i++) {
        fk_tfl_op *op = &m->ops[i];
        if (op->code != FK_TFL_DEQUANTIZE || op->n_inputs < 1 || op->n_outputs < 1 ||
            op->inputs[0] < 0)
            continue;
        fk_tfl_tensor *in = &m->tensors[op->inputs[0]];
        fk_tfl_tensor *o = &m->tensors[op->outputs[0]];
        if (in->data && !o->data && in->count == o->count) {
            o->data = in->data;
            o->data_borrowed = 1;
        }
    }
}

static int read_model(fb *r, fk_tfl_model *m) {
    if (r->n < 8)
        return corrupt(r, "%zu bytes is too short for a flatbuffer", r->n);
    if (memcmp(r->p + 4, "TFL3", 4) != 0) {
        fk__fail(FK_EMODEL, "%s: not a TensorFlow Lite file (no TFL3 identifier)",
                r->what);
        r->bad = 1;
        r->st = FK_EMODEL;
        return 0;
    }
    fb_table model;
    if (!table_at(r, rd32(r->p), "model", &model)) return 0;
    m->version = (uint32_t)get_int(r, &model, 0, 4, 0, 0);
    int ok = 1;
    m->description = get_str(r, &model, 3, &ok);
    if (!ok) return 0;

    buf_ref *bufs = NULL;
    opcode *codes = NULL;
    uint32_t n_bufs = 0, n_codes = 0;
    if (!read_buffers(r, &model, &bufs, &n_bufs)) return 0;
    if (!read_opcodes(r, &model, &codes, &n_codes)) {
        free(bufs);
        return 0;
    }

    uint64_t sgpos;
    uint32_t n_sg;
    fb_table sg;
    if (!get_vec(r, &model, 2, 4, &sgpos, &n_sg)) goto done;
    m->n_subgraphs = (int)n_sg;
    if (n_sg == 0) {
        corrupt(r, "the model has no subgraph");
        goto done;
    }
    if (!vec_table(r, sgpos, 0, "subgraph", &sg)) goto done;

    uint64_t tpos, opos;
    uint32_t nt, no;
    if (!get_vec(r, &sg, 0, 4, &tpos, &nt) || !get_vec(r, &sg, 3, 4, &opos, &no))
        goto done;
    m->tensors = calloc(nt ? nt : 1, sizeof *m->tensors);
    m->ops = calloc(no ? no : 1, sizeof *m->ops);
    if (!m->tensors || !m->ops) {
        fk__fail(FK_ENOMEM, "%s: out of memory", r->what);
        r->bad = 1;
        r->st = FK_ENOMEM;
        goto done;
    }
    for (uint32_t i = 0; i < nt; i++) {
        fb_table t;
        m->n_tensors = (int)i + 1;
        if (!vec_table(r, tpos, i, "tensor", &t) ||
            !read_tensor(r, &t, (int)i, bufs, n_bufs, &m->tensors[i]))
            goto done;
    }
    m->n_tensors = (int)nt;
    if (!get_index_vec(r, &sg, 1, 0, (int)nt, "subgraph input", &m->inputs, &m->n_inputs) ||
        !get_index_vec(r, &sg, 2, 0, (int)nt, "subgraph output", &m->outputs, &m->n_outputs))
        goto done;
    for (uint32_t i = 0; i < no; i++) {
        fb_table t;
        m->n_ops = (int)i + 1;
        if (!vec_table(r, opos, i, "operator", &t) ||
            !read_operator(r, &t, (int)i, codes, n_codes, (int)nt, &m->ops[i]))
            goto done;
    }
    m->n_ops = (int)no;
    fold_dequantize(m);
done:
    free(bufs);
    free(codes);
    return !r->bad;
}

fk_status fk__tflite_parse(const void *data, size_t size, const char *what,
                          fk_tfl_model **out) {
    if (!out) return fk__fail(FK_EINVAL, "fk__tflite_parse: out is NULL");
    *out = NULL;
    if (!what) what = "tflite model";
    if (!data && size) return fk__fail(FK_EINVAL, "fk__tflite_parse: data is NULL");
    fk_tfl_model *m = calloc(1, sizeof *m);
    if (!m || !(m->what = strdup(what))) {
        free(m);
        return fk__fail(FK_ENOMEM, "%s: out of memory", what);
    }
    fb r = {data, size, what, 0, FK_OK};
    if (!read_model(&r, m)) {
        fk_status st = r.st != FK_OK ? r.st : FK_EMODEL;
        fk__tflite_free(m);
        return st;
    }
    *out = m;
    return FK_OK;
}

fk_status fk__tflite_load(const char *path, fk_tfl_model **out) {
    if (!path || !out) return fk__fail(FK_EINVAL, "fk__tflite_load: bad arguments");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return fk__fail(FK_EMODEL, "%s: cannot open: %s", path, strerror(errno));
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return fk__fail(FK_EMODEL, "%s: cannot read: %s", path, strerror(errno));
    }
    if ((size_t)size > TFL_MAX_FILE) {
        fclose(f);
        return fk__fail(FK_EFORMAT, "%s: %ld bytes is larger than a TensorFlow "
                       "Lite flatbuffer can be", path, size);
    }
    uint8_t *buf = malloc(size ? (size_t)size : 1);
    if (!buf) {
        fclose(f);
        return fk__fail(FK_ENOMEM, "%s: out of memory", path);
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    int err = ferror(f);
    fclose(f);
    if (got != (size_t)size || err) {
        free(buf);
        return fk__fail(FK_EMODEL, "%s: read failed", path);
    }
    fk_status st = fk__tflite_parse(buf, (size_t)size, path, out);
    free(buf);
    return st;
}

int fk__tflite_find_tensor(const fk_tfl_model *m, const char *name) {
    for (int i = 0; m && name && i < m->n_tensors; i++)
        if (m->tensors[i].name && strcmp(m->tensors[i].name, name) == 0) return i;
    return -1;
}

const char *fk__tflite_op_name(int code) {
    switch (code) {
    case FK_TFL_ADD: return "ADD";
    case FK_TFL_AVERAGE_POOL_2D: return "AVERAGE_POOL_2D";
    case FK_TFL_CONCATENATION: return "CONCATENATION";
    case FK_TFL_CONV_2D: return "CONV_2D";
    case FK_TFL_DEPTHWISE_CONV_2D: return "DEPTHWISE_CONV_2D";
    case FK_TFL_DEQUANTIZE: return "DEQUANTIZE";
    case FK_TFL_FULLY_CONNECTED: return "FULLY_CONNECTED";
    case FK_TFL_LOGISTIC: return "LOGISTIC";
    case FK_TFL_MAX_POOL_2D: return "MAX_POOL_2D";
    case FK_TFL_MUL: return "MUL";
    case FK_TFL_RELU: return "RELU";
    case FK_TFL_RELU6: return "RELU6";
    case FK_TFL_RESHAPE: return "RESHAPE";
    case FK_TFL_SOFTMAX: return "SOFTMAX";
    case FK_TFL_TANH: return "TANH";
    case FK_TFL_CUSTOM: return "CUSTOM";
    case FK_TFL_PAD: return "PAD";
    case FK_TFL_TRANSPOSE: return "TRANSPOSE";
    case FK_TFL_MEAN: return "MEAN";
    case FK_TFL_SUB: return "SUB";
    case FK_TFL_PRELU: return "PRELU";
    case FK_TFL_DIV: return "DIV";
    case FK_TFL_EXP: return "EXP";
    case FK_TFL_NEG: return "NEG";
    case FK_TFL_SUM: return "SUM";
    case FK_TFL_REDUCE_MAX: return "REDUCE_MAX";
    case FK_TFL_ABS: return "ABS";
    default: {
        static _Thread_local char buf[24];
        snprintf(buf, sizeof buf, "op#%d", code);
        return buf;
    }
    }
}

/* ---- conversion to fk_graph -------------------------------------------- */

typedef struct tval {
    int value;   /* graph value id, -1 = not computed by the graph */
    int softmax; /* the tensor is softmax(value) (applied by the caller) */
    float beta;
    int flat;    /* reshaped to a different shape: no spatial op may read it */
} tval;

typedef struct conv_ctx {
    const fk_tfl_model *m;
    fk_graph *g;
    tval *val;
    int *uses;     /* ops reading each tensor */
    char *done;    /* ops already handled (fused into an earlier one) */
    int *is_output;
} conv_ctx;

static fk_status op_error(const conv_ctx *c, int i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static fk_status op_error(const conv_ctx *c, int i, const char *fmt, ...) {
    char detail[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return fk__fail(FK_EFORMAT, "%s: operator %d (%s): %s", c->m->what, i,
                   fk__tflite_op_name(c->m->ops[i].code), detail);
}

/* The graph value an operator reads as its data input `k`. */
static fk_status data_input(const conv_ctx *c, int i, int k, int spatial, int *value) {
    const fk_tfl_op *op = &c->m->ops[i];
    if (op->n_inputs <= k || op->inputs[k] < 0)
        return op_error(c, i, "input %d is missing", k);
    int t = op->inputs[k];
    const tval *v = &c->val[t];
    if (v->value < 0)
        return op_error(c, i, "input '%s' is not computed by the graph",
                        c->m->tensors[t].name ? c->m->tensors[t].name : "");
    if (v->softmax)
        return op_error(c, i, "reads a softmax output; softmax is only "
                        "supported as a final operator");
    if (spatial && v->flat)
        return op_error(c, i, "reads a reshaped tensor spatially");
    *value = v->value;
    return FK_OK;
}

/* Constant input k (with at least `min_dims` dims), or NULL when optional
 * and absent. */
static const fk_tfl_tensor *const_input(const conv_ctx *c, int i, int k) {
    const fk_tfl_op *op = &c->m->ops[i];
    if (op->n_inputs <= k || op->inputs[k] < 0) return NULL;
    const fk_tfl_tensor *t = &c->m->tensors[op->inputs[k]];
    return t->data ? t : NULL;
}

static fk_status map_act(const conv_ctx *c, int i, int tfl_act, fk_act *act) {
    memset(act, 0, sizeof *act);
    switch (tfl_act) {
    case FK_TFL_ACT_NONE: act->kind = FK_ACT_NONE; return FK_OK;
    case FK_TFL_ACT_RELU: act->kind = FK_ACT_RELU; return FK_OK;
    case FK_TFL_ACT_RELU6: act->kind = FK_ACT_RELU6; return FK_OK;
    case FK_TFL_ACT_TANH: act->kind = FK_ACT_TANH; return FK_OK;
    default: return op_error(c, i, "fused activation %d is not supported", tfl_act);
    }
}

/* The single operator reading tensor t, provided it has operator code
 * `code` and t is not a model output; else -1. */
static int sole_reader(const conv_ctx *c, int t, int code) {
    if (t < 0 || c->uses[t] != 1 || c->is_output[t]) return -1;
    const fk_tfl_model *m = c->m;
    for (int j = 0; j < m->n_ops; j++)
        for (int k = 0; k < m->ops[j].n_inputs; k++)
            if (m->ops[j].inputs[k] == t)
                return m->ops[j].code == code && !c->done[j] ? j : -1;
    return -1;
}

/* The readers of t when exactly two ops read it: *a of code ca, *b of cb. */
static int two_readers(const conv_ctx *c, int t, int ca, int cb, int *a, int *b) {
    if (t < 0 || c->uses[t] != 2 || c->is_output[t]) return 0;
    const fk_tfl_model *m = c->m;
    *a = *b = -1;
    for (int j = 0; j < m->n_ops; j++) {
        int reads = 0;
        for (int k = 0; k < m->ops[j].n_inputs; k++) reads += m->ops[j].inputs[k] == t;
        if (reads != 1 && reads != 0) return 0;
        if (!reads || c->done[j]) continue;
        if (m->ops[j].code == ca && *a < 0) *a = j;
        else if (m->ops[j].code == cb && *b < 0) *b = j;
        else return 0;
    }
    return *a >= 0 && *b >= 0;
}

/* The other input of binary op j (the one that is not t), or -1. */
static int other_input(const fk_tfl_model *m, int j, int t) {
    const fk_tfl_op *o = &m->ops[j];
    if (o->n_inputs != 2) return -1;
    if (o->inputs[0] == t) return o->inputs[1];
    if (o->inputs[1] == t) return o->inputs[0];
    return -1;
}

static int out0(const fk_tfl_model *m, int j) {
    return m->ops[j].n_outputs >= 1 ? m->ops[j].outputs[0] : -1;
}

/* Recognise relu(t) + alpha * neg(relu(neg(t))) (TOCO's PReLU). On a match
 * *alpha is the constant slope tensor, *out the result tensor, and ops[6]
 * the operators to mark as done. */
static int match_prelu(const conv_ctx *c, int t, int *alpha, int *out, int ops[6]) {
    const fk_tfl_model *m = c->m;
    int relu, neg;
    if (!two_readers(c, t, FK_TFL_RELU, FK_TFL_NEG, &relu, &neg)) return 0;
    int relu2 = sole_reader(c, out0(m, neg), FK_TFL_RELU);
    if (relu2 < 0) return 0;
    int neg2 = sole_reader(c, out0(m, relu2), FK_TFL_NEG);
    if (neg2 < 0) return 0;
    int mul = sole_reader(c, out0(m, neg2), FK_TFL_MUL);
    if (mul < 0 || m->ops[mul].activation != FK_TFL_ACT_NONE) return 0;
    int a = other_input(m, mul, out0(m, neg2));
    if (a < 0 || !m->tensors[a].data) return 0;
    int add = sole_reader(c, out0(m, mul), FK_TFL_ADD);
    if (add < 0 || m->ops[add].activation != FK_TFL_ACT_NONE) return 0;
    if (other_input(m, add, out0(m, mul)) != out0(m, relu) ||
        sole_reader(c, out0(m, relu), FK_TFL_ADD) != add)
        return 0;
    if (out0(m, add) < 0) return 0;
    *alpha = a;
    *out = out0(m, add);
    ops[0] = relu; ops[1] = neg; ops[2] = relu2; ops[3] = neg2; ops[4] = mul;
    ops[5] = add;
    return 1;
}

/* Recognise relu(t) + k * (t - abs(t)) (the PReLU of sirius-ai's
 * MobileFaceNet as TOCO wrote it; below zero t - abs(t) = 2t, so the slope
 * is 2k). t must be read by exactly a RELU, an ABS and the SUB t - abs(t).
 * On a match *k is the constant tensor, *out the result, ops[5] the
 * operators to mark as done. */
static int match_prelu_abs(const conv_ctx *c, int t, int *k, int *out, int ops[5]) {
    const fk_tfl_model *m = c->m;
    if (t < 0 || c->uses[t] != 3 || c->is_output[t]) return 0;
    int relu = -1, abs_op = -1, sub = -1;
    for (int j = 0; j < m->n_ops; j++) {
        const fk_tfl_op *o = &m->ops[j];
        int reads = 0;
        for (int q = 0; q < o->n_inputs; q++) reads += o->inputs[q] == t;
        if (!reads) continue;
        if (reads != 1 || c->done[j]) return 0;
        if (o->code == FK_TFL_RELU && relu < 0) relu = j;
        else if (o->code == FK_TFL_ABS && abs_op < 0) abs_op = j;
        else if (o->code == FK_TFL_SUB && sub < 0) sub = j;
        else return 0;
    }
    if (relu < 0 || abs_op < 0 || sub < 0) return 0;
    /* SUB must be t - abs(t), in that order, with nothing fused. */
    const fk_tfl_op *s = &m->ops[sub];
    if (s->n_inputs != 2 || s->inputs[0] != t || s->inputs[1] != out0(m, abs_op) ||
        s->activation != FK_TFL_ACT_NONE ||
        sole_reader(c, out0(m, abs_op), FK_TFL_SUB) != sub)
        return 0;
    int mul = sole_reader(c, out0(m, sub), FK_TFL_MUL);
    if (mul < 0 || m->ops[mul].activation != FK_TFL_ACT_NONE) return 0;
    int kt = other_input(m, mul, out0(m, sub));
    if (kt < 0 || !m->tensors[kt].data) return 0;
    int add = sole_reader(c, out0(m, mul), FK_TFL_ADD);
    if (add < 0 || m->ops[add].activation != FK_TFL_ACT_NONE) return 0;
    if (other_input(m, add, out0(m, mul)) != out0(m, relu) ||
        sole_reader(c, out0(m, relu), FK_TFL_ADD) != add || out0(m, add) < 0)
        return 0;
    *k = kt;
    *out = out0(m, add);
    ops[0] = relu; ops[1] = abs_op; ops[2] = sub; ops[3] = mul; ops[4] = add;
    return 1;
}

/* A constant holding one axis equal to the last of `ndim` dims. */
static int is_last_axis(const fk_tfl_model *m, int t, int ndim) {
    if (t < 0 || !m->tensors[t].data || m->tensors[t].count != 1) return 0;
    int axis = (int)m->tensors[t].data[0];
    return axis == ndim - 1 || axis == -1;
}

/* Recognise exp(t - reduce_max(t)) / sum(exp(...)) over the last axis,
 * starting at the REDUCE_MAX op i. *out gets the result, ops[5] the ops. */
static int match_softmax(const conv_ctx *c, int i, int *out, int ops[5]) {
    const fk_tfl_model *m = c->m;
    const fk_tfl_op *mx = &m->ops[i];
    if (mx->n_inputs != 2 || mx->inputs[0] < 0) return 0;
    int t = mx->inputs[0];
    int nd = m->tensors[t].ndim;
    if (!is_last_axis(m, mx->inputs[1], nd)) return 0;
    int rmax, sub;
    if (!two_readers(c, t, FK_TFL_REDUCE_MAX, FK_TFL_SUB, &rmax, &sub) || rmax != i)
        return 0;
    if (m->ops[sub].inputs[0] != t || m->ops[sub].inputs[1] != out0(m, i) ||
        sole_reader(c, out0(m, i), FK_TFL_SUB) != sub)
        return 0;
    int ex = sole_reader(c, out0(m, sub), FK_TFL_EXP);
    if (ex < 0) return 0;
    int sum, div;
    if (!two_readers(c, out0(m, ex), FK_TFL_SUM, FK_TFL_DIV, &sum, &div)) return 0;
    if (!is_last_axis(m, m->ops[sum].n_inputs == 2 ? m->ops[sum].inputs[1] : -1, nd) ||
        m->ops[div].inputs[0] != out0(m, ex) || m->ops[div].inputs[1] != out0(m, sum) ||
        sole_reader(c, out0(m, sum), FK_TFL_DIV) != div)
        return 0;
    if (out0(m, div) < 0) return 0;
    *out = out0(m, div);
    ops[0] = i; ops[1] = sub; ops[2] = ex; ops[3] = sum; ops[4] = div;
    return 1;
}

/* When op i has no fused activation and its only reader is an activation
 * op (PRELU, RELU, RELU6, TANH, LOGISTIC), fuse that op: *act gets it and
 * *out_tensor its output. `channels` is the producer's output channels. */
static fk_status fuse_activation(conv_ctx *c, int i, int channels, fk_act *act,
                                 int *out_tensor) {
    const fk_tfl_model *m = c->m;
    int t = m->ops[i].outputs[0];
    *out_tensor = t;
    if (act->kind != FK_ACT_NONE) return FK_OK;
    int alpha, pout, pops[6];
    if (match_prelu(c, t, &alpha, &pout, pops)) {
        if (m->tensors[alpha].count != channels)
            return op_error(c, pops[4], "%ld PReLU slopes for %d channels",
                            m->tensors[alpha].count, channels);
        act->kind = FK_ACT_PRELU;
        act->slope = m->tensors[alpha].data;
        for (int k = 0; k < 6; k++) c->done[pops[k]] = 1;
        *out_tensor = pout;
        return FK_OK;
    }
    int kt, aops[5];
    if (match_prelu_abs(c, t, &kt, &pout, aops)) {
        const fk_tfl_tensor *kk = &m->tensors[kt];
        if (kk->count != channels && kk->count != 1)
            return op_error(c, aops[3], "%ld PReLU factors for %d channels", kk->count,
                            channels);
        float *slope = malloc(sizeof *slope * (size_t)channels);
        if (!slope) return fk__fail(FK_ENOMEM, "%s: out of memory", m->what);
        for (int q = 0; q < channels; q++)
            slope[q] = 2.0f * kk->data[kk->count == 1 ? 0 : q];
        fk_status st = fk__graph_keep(c->g, slope);
        if (st != FK_OK) return st;
        act->kind = FK_ACT_PRELU;
        act->slope = slope;
        for (int q = 0; q < 5; q++) c->done[aops[q]] = 1;
        *out_tensor = pout;
        return FK_OK;
    }
    if (c->uses[t] != 1 || c->is_output[t]) return FK_OK;
    for (int j = i + 1; j < m->n_ops; j++) {
        const fk_tfl_op *o = &m->ops[j];
        int reads = 0;
        for (int k = 0; k < o->n_inputs; k++) reads |= o->inputs[k] == t;
        if (!reads) continue;
        if (o->inputs[0] != t || o->n_outputs < 1) return FK_OK;
        switch (o->code) {
        case FK_TFL_PRELU: {
            const fk_tfl_tensor *alpha = const_input(c, j, 1);
            if (!alpha) return op_error(c, j, "the slope is not a constant");
            const float *slope = alpha->data;
            if (alpha->count == 1 && channels > 1) {
                float *s = malloc(sizeof *s * (size_t)channels);
                if (!s) return fk__fail(FK_ENOMEM, "%s: out of memory", m->what);
                for (int k = 0; k < channels; k++) s[k] = alpha->data[0];
                fk_status st = fk__graph_keep(c->g, s);
                if (st != FK_OK) return st;
                slope = s;
            } else if (alpha->count != channels) {
                return op_error(c, j, "%ld slopes for %d channels", alpha->count,
                                channels);
            }
            act->kind = FK_ACT_PRELU;
            act->slope = slope;
            break;
        }
        case FK_TFL_RELU: act->kind = FK_ACT_RELU; break;
        case FK_TFL_RELU6: act->kind = FK_ACT_RELU6; break;
        case FK_TFL_TANH: act->kind = FK_ACT_TANH; break;
        case FK_TFL_LOGISTIC: act->kind = FK_ACT_SIGMOID; break;
        default: return FK_OK;
        }
        c->done[j] = 1;
        *out_tensor = o->outputs[0];
        return FK_OK;
    }
    return FK_OK;
}

/* Bias input 2 of a conv / fc, checked to have `n` entries (NULL: none). */
static fk_status bias_input(const conv_ctx *c, int i, int n, const float **bias) {
    const fk_tfl_op *op = &c->m->ops[i];
    *bias = NULL;
    if (op->n_inputs <= 2 || op->inputs[2] < 0) return FK_OK;
    const fk_tfl_tensor *b = const_input(c, i, 2);
    if (!b) return op_error(c, i, "the bias is not a constant");
    if (b->count != n) return op_error(c, i, "%ld biases for %d outputs", b->count, n);
    *bias = b->data;
    return FK_OK;
}

static fk_padding map_pad(int tfl_pad) {
    return tfl_pad == FK_TFL_PAD_VALID ? FK_PAD_VALID : FK_PAD_SAME;
}

static fk_status set_value(conv_ctx *c, int i, int tensor, int value) {
    if (value < 0) {
        /* The graph recorded why; fk__graph_plan reports it. Name the op. */
        fk_status st = fk__graph_plan(c->g, 1, 1, 1);
        return fk__fail_prefix(st == FK_OK ? FK_EFORMAT : st, "%s: operator %d (%s)",
                              c->m->what, i, fk__tflite_op_name(c->m->ops[i].code));
    }
    c->val[tensor] = (tval){value, 0, 1.0f, 0};
    return FK_OK;
}

static fk_status convert_conv(conv_ctx *c, int i) {
    const fk_tfl_op *op = &c->m->ops[i];
    int in;
    fk_status st = data_input(c, i, 0, 1, &in);
    if (st != FK_OK) return st;
    const fk_tfl_tensor *f = const_input(c, i, 1);
    if (!f || f->ndim != 4 || f->count == 0)
        return op_error(c, i, "the filter is not a constant 4-d tensor");
    if (op->stride_w != op->stride_h || op->stride_w < 1)
        return op_error(c, i, "strides %dx%d (only equal strides)", op->stride_h,
                        op->stride_w);
    if (op->dilation_w != 1 || op->dilation_h != 1)
        return op_error(c, i, "dilation %dx%d", op->dilation_h, op->dilation_w);
    int oc = f->shape[0], kh = f->shape[1], kw = f->shape[2], ic = f->shape[3];
    const float *bias;
    if ((st = bias_input(c, i, oc, &bias)) != FK_OK) return st;
    fk_act act;
    if ((st = map_act(c, i, op->activation, &act)) != FK_OK) return st;
    int out_t;
    if ((st = fuse_activation(c, i, oc, &act, &out_t)) != FK_OK) return st;
    /* OHWI -> HWIO */
    float *w = malloc(sizeof *w * (size_t)f->count);
    if (!w) return fk__fail(FK_ENOMEM, "%s: out of memory", c->m->what);
    for (int o = 0; o < oc; o++)
        for (int y = 0; y < kh; y++)
            for (int x = 0; x < kw; x++)
                for (int k = 0; k < ic; k++)
                    w[(((size_t)y * kw + x) * ic + k) * oc + o] =
                        f->data[(((size_t)o * kh + y) * kw + x) * ic + k];
    if ((st = fk__graph_keep(c->g, w)) != FK_OK) return st;
    int v = fk__graph_conv(c->g, in, w, bias, kh, kw, ic, oc, op->stride_w,
                          map_pad(op->padding), act);
    return set_value(c, i, out_t, v);
}

static fk_status convert_depthwise(conv_ctx *c, int i) {
    const fk_tfl_op *op = &c->m->ops[i];
    int in;
    fk_status st = data_input(c, i, 0, 1, &in);
    if (st != FK_OK) return st;
    const fk_tfl_tensor *f = const_input(c, i, 1);
    if (!f || f->ndim != 4 || f->shape[0] != 1 || f->count == 0)
        return op_error(c, i, "the filter is not a constant [1,kh,kw,c] tensor");
    if (op->depth_multiplier > 1)
        return op_error(c, i, "depth multiplier %d (only 1)", op->depth_multiplier);
    if (op->stride_w != op->stride_h || op->stride_w < 1)
        return op_error(c, i, "strides %dx%d (only equal strides)", op->stride_h,
                        op->stride_w);
    if (op->dilation_w != 1 || op->dilation_h != 1)
        return op_error(c, i, "dilation %dx%d", op->dilation_h, op->dilation_w);
    int kh = f->shape[1], kw = f->shape[2], ch = f->shape[3];
    const float *bias;
    if ((st = bias_input(c, i, ch, &bias)) != FK_OK) return st;
    fk_act act;
    if ((st = map_act(c, i, op->activation, &act)) != FK_OK) return st;
    int out_t;
    if ((st = fuse_activation(c, i, ch, &act, &out_t)) != FK_OK) return st;
    /* [1][kh][kw][c] is already the graph's [kh][kw][c]. */
    int v = fk__graph_depthwise(c->g, in, f->data, bias, kh, kw, ch, op->stride_w,
                               map_pad(op->padding), act);
    return set_value(c, i, out_t, v);
}

static fk_status convert_fc(conv_ctx *c, int i) {
    const fk_tfl_op *op = &c->m->ops[i];
    int in;
    fk_status st = data_input(c, i, 0, 0, &in);
    if (st != FK_OK) return st;
    const fk_tfl_tensor *f = const_input(c, i, 1);
    if (!f || f->ndim != 2 || f->count == 0)
        return op_error(c, i, "the weights are not a constant 2-d tensor");
    int out_n = f->shape[0], in_n = f->shape[1];
    const float *bias;
    if ((st = bias_input(c, i, out_n, &bias)) != FK_OK) return st;
    fk_act act;
    if ((st = map_act(c, i, op->activation, &act)) != FK_OK) return st;
    int out_t;
    if ((st = fuse_activation(c, i, out_n, &act, &out_t)) != FK_OK) return st;
    /* [out][in] -> [in][out] */
    float *w = malloc(sizeof *w * (size_t)f->count);
    if (!w) return fk__fail(FK_ENOMEM, "%s: out of memory", c->m->what);
    for (int o = 0; o < out_n; o++)
        for (int k = 0; k < in_n; k++)
            w[(size_t)k * out_n + o] = f->data[(size_t)o * in_n + k];
    if ((st = fk__graph_keep(c->g, w)) != FK_OK) return st;
    int v = fk__graph_fc(c->g, in, w, bias, in_n, out_n, act);
    return set_value(c, i, out_t, v);
}

static fk_status convert_pool(conv_ctx *c, int i) {
    const fk_tfl_op *op = &c->m->ops[i];
    int in;
    fk_status st = data_input(c, i, 0, 1, &in);
    if (st != FK_OK) return st;
    if (op->filter_w != op->filter_h || op->stride_w != op->stride_h ||
        op->filter_w < 1 || op->stride_w < 1)
        return op_error(c, i, "window %dx%d stride %dx%d (only square windows "
                        "and equal strides)", op->filter_h, op->filter_w,
                        op->stride_h, op->stride_w);
    if (op->activation != FK_TFL_ACT_NONE)
        return op_error(c, i, "fused activation %d on a pool", op->activation);
    int v = fk__graph_pool(c->g, op->code == FK_TFL_MAX_POOL_2D ? FK_OP_MAXPOOL
                                                                : FK_OP_AVGPOOL,
                          in, op->filter_w, op->stride_w, map_pad(op->padding));
    return set_value(c, i, op->outputs[0], v);
}

/* Same shape, ignoring a leading batch dimension of any size. */
static int same_shape(const fk_tfl_tensor *a, const fk_tfl_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int d = 1; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return 1;
}

static fk_status convert_op(conv_ctx *c, int i) {
    const fk_tfl_model *m = c->m;
    const fk_tfl_op *op = &m->ops[i];
    if (op->n_outputs < 1) return op_error(c, i, "no output");
    int out_t = op->outputs[0];
    switch (op->code) {
    case FK_TFL_CONV_2D: return convert_conv(c, i);
    case FK_TFL_DEPTHWISE_CONV_2D: return convert_depthwise(c, i);
    case FK_TFL_FULLY_CONNECTED: return convert_fc(c, i);
    case FK_TFL_MAX_POOL_2D:
    case FK_TFL_AVERAGE_POOL_2D: return convert_pool(c, i);
    case FK_TFL_ADD: {
        int a, b;
        fk_act act;
        fk_status st = data_input(c, i, 0, 0, &a);
        if (st == FK_OK) st = data_input(c, i, 1, 0, &b);
        if (st == FK_OK) st = map_act(c, i, op->activation, &act);
        if (st != FK_OK) return st;
        return set_value(c, i, out_t, fk__graph_add(c->g, a, b, act));
    }
    case FK_TFL_LOGISTIC: {
        int a;
        fk_status st = data_input(c, i, 0, 0, &a);
        if (st != FK_OK) return st;
        return set_value(c, i, out_t, fk__graph_sigmoid(c->g, a));
    }
    case FK_TFL_RESHAPE: {
        int a;
        fk_status st = data_input(c, i, 0, 0, &a);
        if (st != FK_OK) return st;
        tval v = c->val[op->inputs[0]];
        if (!same_shape(&m->tensors[op->inputs[0]], &m->tensors[out_t])) v.flat = 1;
        c->val[out_t] = v;
        return FK_OK;
    }
    case FK_TFL_SOFTMAX: {
        int a;
        fk_status st = data_input(c, i, 0, 0, &a);
        if (st != FK_OK) return st;
        c->val[out_t] = c->val[op->inputs[0]];
        c->val[out_t].softmax = 1;
        c->val[out_t].beta = op->beta;
        return FK_OK;
    }
    case FK_TFL_REDUCE_MAX: {
        int sout, sops[5], a;
        if (!match_softmax(c, i, &sout, sops))
            return op_error(c, i, "only supported as part of a softmax");
        fk_status st = data_input(c, i, 0, 0, &a);
        if (st != FK_OK) return st;
        c->val[sout] = c->val[op->inputs[0]];
        c->val[sout].softmax = 1;
        c->val[sout].beta = 1.0f;
        for (int k = 0; k < 5; k++) c->done[sops[k]] = 1;
        return FK_OK;
    }
    case FK_TFL_DEQUANTIZE:
        if (m->tensors[out_t].data) return FK_OK; /* folded at load */
        return op_error(c, i, "dequantizing a computed tensor");
    case FK_TFL_PRELU:
    case FK_TFL_RELU:
    case FK_TFL_RELU6:
    case FK_TFL_TANH:
        return op_error(c, i, "a standalone activation (only fused after a conv "
                        "or fully-connected operator)");
    default:
        if (op->custom)
            return op_error(c, i, "custom operator '%s' is not supported", op->custom);
        return op_error(c, i, "not supported by facekit's graph");
    }
}

fk_status fk__tflite_build(const fk_tfl_model *m, fk_graph *g,
                          fk_tfl_output *outs, int cap, int *count) {
    if (!m || !g || !count || (cap > 0 && !outs))
        return fk__fail(FK_EINVAL, "fk__tflite_build: bad arguments");
    *count = 0;
    if (m->n_inputs != 1)
        return fk__fail(FK_EFORMAT, "%s: the model has %d inputs; facekit's graph "
                       "takes exactly one", m->what, m->n_inputs);
    conv_ctx c = {m, g, NULL, NULL, NULL, NULL};
    size_t nt = (size_t)(m->n_tensors ? m->n_tensors : 1);
    c.val = malloc(sizeof *c.val * nt);
    c.uses = calloc(nt, sizeof *c.uses);
    c.is_output = calloc(nt, sizeof *c.is_output);
    c.done = calloc((size_t)(m->n_ops ? m->n_ops : 1), 1);
    fk_status st = FK_OK;
    if (!c.val || !c.uses || !c.is_output || !c.done) {
        st = fk__fail(FK_ENOMEM, "%s: out of memory", m->what);
        goto out;
    }
    for (size_t t = 0; t < nt; t++) c.val[t] = (tval){-1, 0, 1.0f, 0};
    for (int i = 0; i < m->n_ops; i++)
        for (int k = 0; k < m->ops[i].n_inputs; k++)
            if (m->ops[i].inputs[k] >= 0) c.uses[m->ops[i].inputs[k]]++;
    for (int k = 0; k < m->n_outputs; k++) c.is_output[m->outputs[k]] = 1;
    c.val[m->inputs[0]].value = 0;

    for (int i = 0; i < m->n_ops && st == FK_OK; i++)
        if (!c.done[i]) st = convert_op(&c, i);
    if (st != FK_OK) goto out;

    for (int k = 0; k < m->n_outputs; k++) {
        int t = m->outputs[k];
        if (c.val[t].value < 0) {
            st = fk__fail(FK_EFORMAT, "%s: output '%s' is not computed by the graph",
                         m->what, m->tensors[t].name ? m->tensors[t].name : "");
            goto out;
        }
        fk__graph_mark_output(g, c.val[t].value);
        if (k < cap)
            outs[k] = (fk_tfl_output){m->tensors[t].name, t, c.val[t].value,
                                      c.val[t].softmax, c.val[t].beta};
    }
    *count = m->n_outputs;
    st = fk__graph_fuse(g); /* fold what the file left separate (see graph.h) */
out:
    free(c.val);
    free(c.uses);
    free(c.is_output);
    free(c.done);
    return st;
}
