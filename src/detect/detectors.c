/*
 * detectors.c - the table of detectors (see detectors.h).
 */
#include "detect/detectors.h"

static const fk_detector_def DETECTORS[] = {
    {"ssd", fk_detect_ssd, "SSD MobileNetV1 trained on WIDER FACE (face-api), 512x512"},
    {"skip", NULL, "no detection: the whole image is the face"},
};

const fk_detector_def *fk_detectors(int *count) {
    *count = (int)(sizeof DETECTORS / sizeof DETECTORS[0]);
    return DETECTORS;
}

fk_status fk_detector_find(const char *name, const fk_detector_def **out) {
    int n, i;
    const fk_detector_def *t = fk_detectors(&n);
    fk_status st = fk_lookup_name("detector", t, n, sizeof *t, name, &i);
    if (st == FK_OK) *out = &t[i];
    return st;
}
