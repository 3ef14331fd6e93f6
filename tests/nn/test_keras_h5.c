/*
 * test_keras_h5.c - the Keras HDF5 weight reader (nn/keras_h5.h) on small
 * files this test writes itself with the HDF5 C API, in the layout Keras'
 * save_weights produces: root attr layer_names (fixed-length strings, a
 * layer without weights among them), a group per layer with attr
 * weight_names, datasets at <layer>/<weight name>.
 *
 * Checks: weights come back in order with their values (float32 and
 * float16 datasets); matching is by position whatever the file's names;
 * every mismatch (shape, weight count, too few or too many layers, integer
 * data, a listed dataset missing) is FK_EMODEL naming the layer and what
 * was expected; non-HDF5, truncated and foreign files are FK_EMODEL; the
 * reader never prints.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "nn/keras_h5.h"
#include "test.h"

#if FK_WITH_HDF5
#include <hdf5.h>

static char dir[] = "/tmp/fk_keras_h5_XXXXXX";

/* A fixed-length string attribute holding n names. */
static void put_names(hid_t loc, const char *attr, const char *const *names, int n) {
    size_t len = 1;
    for (int i = 0; i < n; i++)
        if (strlen(names[i]) > len) len = strlen(names[i]);
    char *buf = calloc((size_t)(n ? n : 1), len);
    for (int i = 0; i < n; i++) memcpy(buf + (size_t)i * len, names[i], strlen(names[i]));
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, len);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    hsize_t d = (hsize_t)n;
    hid_t s = n ? H5Screate_simple(1, &d, NULL) : H5Screate(H5S_NULL);
    if (!n) { /* an empty list, as Keras writes it: np.asarray([]), float64 */
        H5Sclose(s);
        d = 0;
        s = H5Screate_simple(1, &d, NULL);
    }
    hid_t a = H5Acreate2(loc, attr, n ? t : H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT);
    if (n) H5Awrite(a, t, buf);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
    free(buf);
}

/* Dataset `path` under g with the given dims and values (stored as `ft`). */
static void put_data(hid_t g, const char *path, int nd, const hsize_t *dims, hid_t ft,
                     const float *v) {
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t s = H5Screate_simple(nd, dims, NULL);
    hid_t d = H5Dcreate2(g, path, ft, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
    H5Sclose(s);
    H5Pclose(lcpl);
}

/* IEEE half precision, as h5py writes float16. */
static hid_t half_type(void) {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(t, 15, 10, 5, 0, 10);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 15);
    return t;
}

typedef struct file_opts {
    int kernel_in;       /* conv kernel's in channels (2 = right) */
    hid_t conv_type;     /* type of conv1's kernel */
    int drop_dense;      /* no dense layer */
    int extra_layer;     /* one more layer with weights */
    int no_layer_names;
    int missing_bias;    /* bias listed in weight_names but not written */
} file_opts;

/* conv (3x3x2x4 kernel + bias), a pooling layer without weights, dense
 * (36 x 5, kernel + bias); names as a Keras 2 session numbers them. */
static void write_file(const char *path, const file_opts *o) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const char *layers[] = {"conv2d_7", "max_pooling2d_3", "dense_2", "dense_3"};
    int nl = o->drop_dense ? 2 : o->extra_layer ? 4 : 3;
    if (!o->no_layer_names) put_names(f, "layer_names", layers, nl);
    float v[200];
    for (int i = 0; i < 200; i++) v[i] = (float)i * 0.25f - 10.0f;

    hid_t g = H5Gcreate2(f, "conv2d_7", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const char *cw[] = {"conv2d_7/kernel:0", "conv2d_7/bias:0"};
    put_names(g, "weight_names", cw, 2);
    hsize_t kd[4] = {3, 3, (hsize_t)o->kernel_in, 4}, bd[1] = {4};
    put_data(g, cw[0], 4, kd, o->conv_type, v);
    if (!o->missing_bias) put_data(g, cw[1], 1, bd, H5T_IEEE_F32LE, v + 100);
    H5Gclose(g);

    g = H5Gcreate2(f, "max_pooling2d_3", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    put_names(g, "weight_names", NULL, 0);
    H5Gclose(g);

    for (int L = 2; L < nl; L++) {
        g = H5Gcreate2(f, layers[L], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        char k[64], b[64];
        snprintf(k, sizeof k, "%s/kernel:0", layers[L]);
        snprintf(b, sizeof b, "%s/bias:0", layers[L]);
        const char *dw[] = {k, b};
        put_names(g, "weight_names", dw, 2);
        hsize_t dd[2] = {36, 5}, db[1] = {5};
        float *big = malloc(sizeof(float) * 180);
        for (int i = 0; i < 180; i++) big[i] = (float)i;
        put_data(g, k, 2, dd, H5T_IEEE_F32LE, big);
        put_data(g, b, 1, db, H5T_IEEE_F32LE, v);
        free(big);
        H5Gclose(g);
    }
    H5Fclose(f);
}

static const fk_keras_weight CONV[] = {{"kernel", 4, {3, 3, 2, 4}}, {"bias", 1, {4}}};
static const fk_keras_weight DENSE[] = {{"kernel", 2, {36, 5}}, {"bias", 1, {5}}};

/* Open `path` and read conv + dense; returns the first failure. */
static fk_status load_all(const char *path, const float **conv, const float **dense,
                          fk_keras_h5 **out) {
    fk_keras_h5 *k = NULL;
    fk_status st = fk__keras_h5_open(path, "TestNet", &k);
    if (st == FK_OK) st = fk__keras_h5_layer(k, "conv1", CONV, 2, conv);
    if (st == FK_OK) st = fk__keras_h5_layer(k, "fc", DENSE, 2, dense);
    if (st == FK_OK) st = fk__keras_h5_end(k);
    if (out && st == FK_OK) *out = k;
    else fk__keras_h5_free(k);
    return st;
}

static void test_good(const char *path, hid_t conv_type, const char *label) {
    file_opts o = {.kernel_in = 2, .conv_type = conv_type};
    write_file(path, &o);
    const float *conv[2], *dense[2];
    fk_keras_h5 *k = NULL;
    fk_status st = fk__keras_h5_open(path, "TestNet", &k);
    CHECK(st == FK_OK && fk__keras_h5_layer_count(k) == 2 &&
              !strcmp(fk__keras_h5_layer_name(k, 1), "dense_2"),
          "%s: the pooling layer is skipped", label);
    fk__keras_h5_free(k);
    k = NULL;
    st = load_all(path, conv, dense, &k);
    CHECK(st == FK_OK, "%s: %s", label, fk_last_error());
    if (st != FK_OK) return;
    /* values in order: v[i] = i/4 - 10 is exact in float16 too */
    int ok = 1;
    for (int i = 0; i < 72; i++) ok &= conv[0][i] == (float)i * 0.25f - 10.0f;
    CHECK(ok, "%s: conv kernel values", label);
    CHECK(conv[1][0] == 15.0f && conv[1][3] == 15.75f, "%s: bias %g %g", label, conv[1][0],
          conv[1][3]);
    CHECK(dense[0][179] == 179.0f && dense[1][4] == -9.0f, "%s: dense values", label);
    fk__keras_h5_free(k);
}

static void expect_error(const char *path, const char *label, const char *want1,
                         const char *want2) {
    const float *conv[2], *dense[2];
    fk_status st = load_all(path, conv, dense, NULL);
    const char *msg = fk_last_error();
    CHECK(st == FK_EMODEL, "%s: status %d (%s)", label, st, msg);
    CHECK(strstr(msg, want1) != NULL, "%s: '%s' not in: %s", label, want1, msg);
    if (want2) CHECK(strstr(msg, want2) != NULL, "%s: '%s' not in: %s", label, want2, msg);
}

int main(void) {
    if (!mkdtemp(dir)) test_skip("no temp dir");
    char path[256];
    snprintf(path, sizeof path, "%s/w.h5", dir);

    test_good(path, H5T_IEEE_F32LE, "float32");
    hid_t half = half_type();
    test_good(path, half, "float16");
    test_good(path, H5T_IEEE_F64BE, "float64 big-endian");

    file_opts o = {.kernel_in = 1, .conv_type = H5T_IEEE_F32LE};
    write_file(path, &o);
    expect_error(path, "shape", "layer conv1 (file: conv2d_7): kernel is 3x3x2x4, file has 3x3x1x4",
                 NULL);

    o = (file_opts){.kernel_in = 2, .conv_type = H5T_STD_I32LE};
    write_file(path, &o);
    expect_error(path, "integer", "conv1", "integer");

    o = (file_opts){.kernel_in = 2, .conv_type = H5T_IEEE_F32LE, .drop_dense = 1};
    write_file(path, &o);
    expect_error(path, "too few layers", "nothing for layer fc", "1 layers with weights");

    o = (file_opts){.kernel_in = 2, .conv_type = H5T_IEEE_F32LE, .extra_layer = 1};
    write_file(path, &o);
    expect_error(path, "too many layers", "another network", "dense_3");

    o = (file_opts){.kernel_in = 2, .conv_type = H5T_IEEE_F32LE, .missing_bias = 1};
    write_file(path, &o);
    expect_error(path, "missing dataset", "conv2d_7/bias:0", "conv1");

    o = (file_opts){.kernel_in = 2, .conv_type = H5T_IEEE_F32LE, .no_layer_names = 1};
    write_file(path, &o);
    expect_error(path, "no layer_names", "not a Keras weights file", "TestNet");

    /* a layer given the wrong number of weights */
    o = (file_opts){.kernel_in = 2, .conv_type = H5T_IEEE_F32LE};
    write_file(path, &o);
    {
        fk_keras_h5 *k = NULL;
        const float *w[3];
        fk_keras_weight bn[3] = {{"gamma", 1, {4}}, {"beta", 1, {4}}, {"moving_mean", 1, {4}}};
        fk_status st = fk__keras_h5_open(path, "TestNet", &k);
        CHECK(st == FK_OK, "open: %s", fk_last_error());
        st = fk__keras_h5_layer(k, "bn1", bn, 3, w);
        CHECK(st == FK_EMODEL && strstr(fk_last_error(), "bn1 (file: conv2d_7) has 3 weights"),
              "weight count: %s", fk_last_error());
        fk__keras_h5_free(k);
    }

    /* truncated: the good file cut in half */
    {
        FILE *in = fopen(path, "rb");
        fseek(in, 0, SEEK_END);
        long n = ftell(in);
        rewind(in);
        char *buf = malloc((size_t)n);
        CHECK(fread(buf, 1, (size_t)n, in) == (size_t)n, "read");
        fclose(in);
        char cut[300];
        snprintf(cut, sizeof cut, "%s/cut.h5", dir);
        long lens[] = {n / 2, n - 100, 600, 8};
        for (int i = 0; i < 4; i++) {
            FILE *o2 = fopen(cut, "wb");
            fwrite(buf, 1, (size_t)lens[i], o2);
            fclose(o2);
            const float *c[2], *d[2];
            fk_status st = load_all(cut, c, d, NULL);
            CHECK(st == FK_EMODEL, "truncated to %ld: status %d (%s)", lens[i], st,
                  fk_last_error());
        }
        free(buf);
        unlink(cut);
    }

    /* not HDF5 at all, and missing */
    {
        char txt[300];
        snprintf(txt, sizeof txt, "%s/x.h5", dir);
        FILE *t = fopen(txt, "w");
        fputs("<html>404 not found</html>\n", t);
        fclose(t);
        expect_error(txt, "html", "not an HDF5 file", "TestNet");
        unlink(txt);
        expect_error(txt, "missing", "not found", NULL);
    }

    H5Tclose(half);
    unlink(path);
    rmdir(dir);
    return test_summary();
}

#else
int main(void) {
    fk_keras_h5 *k = NULL;
    fk_status st = fk__keras_h5_open("/nonexistent.h5", "TestNet", &k);
    CHECK(st == FK_EMODEL && strstr(fk_last_error(), "HDF5"), "no-HDF5 build: %s",
          fk_last_error());
    CHECK(!fk__keras_h5_available(), "available");
    return test_summary();
}
#endif
