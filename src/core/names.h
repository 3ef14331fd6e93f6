/*
 * names.h - "did you mean": the closest known name to a misspelt one.
 *
 * Every name a user types (model, detector, metric, search method) is looked
 * up in a small table; when it is not there, the error names the nearest
 * entry if one is near enough to be a slip of the keyboard. One helper, so
 * the library's errors and the CLI's usage errors suggest the same thing.
 */
#ifndef FK_CORE_NAMES_H
#define FK_CORE_NAMES_H

#include <stddef.h>

/* The entry of `table` (count entries of `stride` bytes, each starting with
 * a `const char *` name; a plain array of strings has stride
 * sizeof(char *)) closest to `name`, ignoring case, by edit distance
 * (insert, delete, substitute, or swap two neighbours: one edit each).
 * Returns it when it is at most 2 edits away and the edits are no more than
 * half its length ("Dlb" -> "Dlib", "cosin" -> "cosine"; "yolo" -> nothing),
 * else NULL. The first of equally close entries wins. */
const char *fk__closest_name(const char *name, const void *table, int count,
                             size_t stride);

/* Edit distance between a and b as above (case-insensitive); strings are
 * cut at 63 characters. */
int fk__edit_distance(const char *a, const char *b);

#endif
