/*
 * recognizers.c - the table of recognizers (see recognizers.h) and their
 * embed adapters.
 */
#include "represent/recognizers.h"

/* "Dlib": dlib's ResNet (face-api port) on dlib-style 150x150 chips. */
static fk_status embed_dlib(fk_zoo *zoo, fk_pool *pool,
                            const fk_image *const *chips, int n, float *out) {
    fk_dlib_resnet *net;
    fk_status st = fk_zoo_dlib(zoo, &net);
    if (st != FK_OK) return st;
    return fk_dlib_resnet_embed(net, chips, n, pool, out);
}

static const fk_recognizer_def RECOGNIZERS[] = {
    {"Dlib", FK_DLIB_CHIP, FK_DLIB_DIM, FK_ALIGN_DLIB68, 0.25, embed_dlib},
};

const fk_recognizer_def *fk_recognizers(int *count) {
    *count = (int)(sizeof RECOGNIZERS / sizeof RECOGNIZERS[0]);
    return RECOGNIZERS;
}

fk_status fk_recognizer_find(const char *name, const fk_recognizer_def **out) {
    int n, i;
    const fk_recognizer_def *t = fk_recognizers(&n);
    fk_status st = fk_lookup_name("model", t, n, sizeof *t, name, &i);
    if (st == FK_OK) *out = &t[i];
    return st;
}
