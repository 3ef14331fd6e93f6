/*
 * faces.c - the faces list every stage returns (fk_faces in facekit.h).
 *
 * It lives in core because detection fills it, represent adds embeddings
 * and the public API hands it out: each of those layers frees it, and none
 * may reach up into another to do so.
 */
#include <stdlib.h>

#include "facekit.h"

void fk_faces_free(fk_faces *faces) {
    if (!faces) return;
    for (int i = 0; i < faces->count; i++) free(faces->faces[i].embedding);
    free(faces->faces);
    faces->faces = NULL;
    faces->count = 0;
}
