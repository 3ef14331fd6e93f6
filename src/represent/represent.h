/*
 * represent.h - the align + normalize + represent stages: from detected faces
 * to embeddings.
 */
#ifndef FK_REPRESENT_H
#define FK_REPRESENT_H

#include "facekit.h"
#include "models/model.h"
#include "models/zoo.h"
#include "nn/threadpool.h"

/* The chip recognizer `rec` sees for face f (in img's pixels), as
 * fk__represent_faces cuts it: aligned as the model was trained when `align`
 * and the face has the landmarks for it, else the box squared and resized;
 * landmark-aligned chips widened by expand_percentage about their centre
 * (box chips widen with the expanded box itself). *chip is a new
 * input_w x input_w RGB image; m its map (align.h: chip pixel -> img pixel).
 * For FK_ALIGN_DEEPFACE models the chip is deepface's face instead: the
 * box at its own size, eye-levelled when aligning (the model letterboxes
 * it to its input as deepface's represent does). */
fk_status fk__represent_chip(const fk_model_desc *rec, const fk_image *img,
                            const fk_face *f, int align, float expand_percentage,
                            fk_image **chip, double m[6]);

/* The input normalization `name` (fk_options.normalization) for `rec`:
 * *out NULL for the model's own (NULL or "base"). FK_EINVAL for an unknown
 * name (listing the valid ones) or a model whose graph normalizes its input
 * itself. */
fk_status fk__represent_normalization(const fk_model_desc *rec, const char *name,
                                      const fk_input_norm **out);

/* For every face in `faces` (as fk__detect_faces left them): build the chip
 * the recognizer `opt->model` expects (aligned on the landmarks when
 * opt->align and the face has them, else the box squared and resized),
 * embed all chips in one batch (input filled per opt->normalization, scaled
 * to unit length when opt->l2_normalize) and store each face's embedding
 * (malloc'd, freed by fk_faces_free); each face's normalization names
 * the normalization used. Times are added to *align_ms / *embed_ms. */
fk_status fk__represent_faces(fk_zoo *zoo, fk_pool *pool, const fk_image *img,
                             const fk_options *opt, fk_faces *faces,
                             double *align_ms, double *embed_ms);

#endif
