/*
 * tflite_reader.c - reading TensorFlow Lite flatbuffers into an
 * fk_tfl_model (see tflite.h); tflite_graph.c converts that into an
 * fk_graph.
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
    case 10: /* ConcatenationOptions */
        op->axis = (int)get_int(r, opt, 0, 4, 1, 0);
        op->activation = (int)get_int(r, opt, 1, 1, 1, 0);
        break;
    case 32: /* StridedSliceOptions */
        op->begin_mask = (unsigned)get_int(r, opt, 0, 4, 1, 0);
        op->end_mask = (unsigned)get_int(r, opt, 1, 4, 1, 0);
        op->ellipsis_mask = (unsigned)get_int(r, opt, 2, 4, 1, 0);
        op->new_axis_mask = (unsigned)get_int(r, opt, 3, 4, 1, 0);
        op->shrink_axis_mask = (unsigned)get_int(r, opt, 4, 4, 1, 0);
        op->slice_offset = (int)get_int(r, opt, 5, 1, 0, 0);
        break;
    case 75: /* LeakyReluOptions */
        op->alpha = get_f32(r, opt, 0, 0.0f);
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
    static const struct { int code; const char *name; } names[] = {
        {FK_TFL_ADD, "ADD"}, {FK_TFL_AVERAGE_POOL_2D, "AVERAGE_POOL_2D"},
        {FK_TFL_CONCATENATION, "CONCATENATION"}, {FK_TFL_CONV_2D, "CONV_2D"},
        {FK_TFL_DEPTHWISE_CONV_2D, "DEPTHWISE_CONV_2D"},
        {FK_TFL_DEQUANTIZE, "DEQUANTIZE"}, {FK_TFL_FULLY_CONNECTED, "FULLY_CONNECTED"},
        {FK_TFL_LOGISTIC, "LOGISTIC"}, {FK_TFL_MAX_POOL_2D, "MAX_POOL_2D"},
        {FK_TFL_MUL, "MUL"}, {FK_TFL_RELU, "RELU"}, {FK_TFL_RELU6, "RELU6"},
        {FK_TFL_RESHAPE, "RESHAPE"}, {FK_TFL_SOFTMAX, "SOFTMAX"}, {FK_TFL_TANH, "TANH"},
        {FK_TFL_CUSTOM, "CUSTOM"}, {FK_TFL_PAD, "PAD"}, {FK_TFL_TRANSPOSE, "TRANSPOSE"},
        {FK_TFL_MEAN, "MEAN"}, {FK_TFL_SUB, "SUB"}, {FK_TFL_DIV, "DIV"},
        {FK_TFL_STRIDED_SLICE, "STRIDED_SLICE"}, {FK_TFL_EXP, "EXP"},
        {FK_TFL_CAST, "CAST"}, {FK_TFL_PRELU, "PRELU"}, {FK_TFL_LESS, "LESS"},
        {FK_TFL_NEG, "NEG"}, {FK_TFL_GREATER, "GREATER"},
        {FK_TFL_GREATER_EQUAL, "GREATER_EQUAL"}, {FK_TFL_LESS_EQUAL, "LESS_EQUAL"},
        {FK_TFL_SUM, "SUM"}, {FK_TFL_REDUCE_MAX, "REDUCE_MAX"},
        {FK_TFL_LEAKY_RELU, "LEAKY_RELU"}, {FK_TFL_ABS, "ABS"},
    };
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (names[k].code == code) return names[k].name;
    static _Thread_local char buf[24];
    snprintf(buf, sizeof buf, "op#%d", code);
    return buf;
}
