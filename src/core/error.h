/*
 * error.h - status codes and the per-thread error message.
 *
 * Every library function that can fail returns an fk_status. When it returns
 * something other than FK_OK it has also left a sentence in the calling
 * thread's error buffer saying what went wrong, in words a user can act on.
 * fk_last_error() (public, in facekit.h) reads it back.
 */
#ifndef FK_CORE_ERROR_H
#define FK_CORE_ERROR_H

#include "facekit.h"

/* Record a printf-style message for this thread and return `status`, so a
 * failing path can be written as `return fk__fail(FK_EIO, "%s: ...", path);` */
fk_status fk__fail(fk_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefix the current message with "prefix: ", keeping the status. Used when a
 * lower layer's error needs the caller's context (usually a file name). */
fk_status fk__fail_prefix(fk_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Forget the current message (called at the start of public entry points). */
void fk__clear_error(void);

#endif
