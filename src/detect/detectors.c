/*
 * detectors.c - detector names: the catalogue's detectors plus "skip".
 */
#include "detect/detectors.h"

#include <strings.h>

static const fk_model_desc SKIP = {
    .name = "skip",
    .role = FK_ROLE_DETECTOR,
    .summary = "no detection: the whole image is the face",
};

fk_status fk__detector_find(const char *name, const fk_model_desc **out) {
    if (name && strcasecmp(name, SKIP.name) == 0) {
        *out = &SKIP;
        return FK_OK;
    }
    return fk__model_find(FK_ROLE_DETECTOR, "detector", name, SKIP.name, out);
}
