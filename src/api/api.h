/*
 * api.h - what the public entry points of src/api share (internal): the
 * context's stages, the argument and option checks every call makes, and
 * the move of a face between an image's pixels and the original's, the
 * refusal of a spoofed face.
 */
#ifndef FK_API_API_H
#define FK_API_API_H

#include "facekit.h"
#include "models/zoo.h"
#include "nn/threadpool.h"

/* The context's models and thread pool. */
fk_zoo *fk__context_zoo(fk_context *ctx);
fk_pool *fk__context_pool(fk_context *ctx);

/* FK_EINVAL naming `what` unless img is a valid RGB image with a plausible
 * scale. */
fk_status fk__check_image(const fk_image *img, const char *what);
/* Decoded pixels per original pixel (1 for a full-size image). */
float fk__image_scale(const fk_image *img);
/* Multiply every coordinate of a face (box, eyes, landmarks, keypoints) by
 * k. */
void fk__face_rescale(fk_face *f, float k);
/* Options with defaults filled in and every name checked and made
 * canonical (static strings). */
fk_status fk__resolve_options(const fk_options *in, fk_options *out);
/* With o->anti_spoofing (o resolved): FK_ESPOOF naming image_name for the
 * first face of `faces` (found in img's pixels) judged a spoof, its box
 * given in the original photo's pixels; FK_OK otherwise. deepface refuses
 * such an image in represent, verify, find and analyze ("Spoof detected in
 * the given image."); only extract_faces reports the verdict. */
fk_status fk__refuse_spoof(const fk_faces *faces, const fk_options *o, const char *image_name,
                           const fk_image *img);

#endif
