/*
 * detectors.h - the face detectors facekit can use, by name (--detector).
 *
 * A detector is a model of role FK_ROLE_DETECTOR in the catalogue
 * (src/models/catalogue.c); its detect hook hangs off its description
 * (models/model.h) and runs through the zoo (fk__zoo_detect). Adding one is
 * a model file and a line in the catalogue. "skip" is the detector that
 * detects nothing: the whole image is the face.
 */
#ifndef FK_DETECT_DETECTORS_H
#define FK_DETECT_DETECTORS_H

#include "facekit.h"
#include "models/model.h"
#include "models/zoo.h"

/* The detector called `name` (any case), "skip" included (its detect hook
 * is NULL), or FK_EINVAL listing them all. */
fk_status fk__detector_find(const char *name, const fk_model_desc **out);

#endif
