/*
 * names.c - the closest known name to a misspelt one (see names.h).
 *
 * Optimal string alignment distance (Levenshtein plus adjacent swaps):
 * "mtcnn" typed as "mtcn" or "mtncn" is one edit away, which is how people
 * mistype. Names are short (under 64 characters), so the
 * table is a fixed 64 x 64 array on the stack.
 */
#include <ctype.h>
#include <string.h>

#include "core/names.h"

#define MAXLEN 63

int fk__edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n > MAXLEN) n = MAXLEN;
    if (m > MAXLEN) m = MAXLEN;
    int d[MAXLEN + 1][MAXLEN + 1];
    for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            int best = d[i - 1][j - 1] + (ca != cb);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

const char *fk__closest_name(const char *name, const void *table, int count,
                             size_t stride) {
    if (!name || !table) return NULL;
    const char *base = table, *best = NULL;
    int best_d = 3; /* at most 2 edits */
    for (int i = 0; i < count; i++) {
        const char *entry = *(const char *const *)(base + (size_t)i * stride);
        if (!entry) continue;
        int d = fk__edit_distance(name, entry);
        if (d < best_d && 2 * (size_t)d <= strlen(entry)) {
            best_d = d;
            best = entry;
        }
    }
    return best;
}
