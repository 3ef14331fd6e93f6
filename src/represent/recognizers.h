/*
 * recognizers.h - the face recognition models facekit can use, by name
 * (--model): the catalogue's models of role FK_ROLE_RECOGNIZER
 * (src/models/catalogue.c). Each description gives the chip it was trained
 * on (chip, padding, input_w), its embedding size (dim), its thresholds and
 * its embed hook, run through the zoo (fk__zoo_embed).
 */
#ifndef FK_REPRESENT_RECOGNIZERS_H
#define FK_REPRESENT_RECOGNIZERS_H

#include "facekit.h"
#include "models/model.h"
#include "models/zoo.h"

/* The recognizer called `name` (any case), or FK_EINVAL listing them. */
static inline fk_status fk__recognizer_find(const char *name, const fk_model_desc **out) {
    return fk__model_find(FK_ROLE_RECOGNIZER, "model", name, NULL, out);
}

#endif
