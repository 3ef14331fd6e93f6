/*
 * error.c - the per-thread error message behind fk_last_error().
 */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define FK_ERROR_CAP 1024

static _Thread_local char error_text[FK_ERROR_CAP];

fk_status fk__fail(fk_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_text, sizeof error_text, fmt, ap);
    va_end(ap);
    return status;
}

fk_status fk__fail_prefix(fk_status status, const char *fmt, ...) {
    char prefix[FK_ERROR_CAP];
    char old[FK_ERROR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, error_text, sizeof old);
    /* Assemble by hand: the message is cut at the buffer size on purpose. */
    size_t n = strlen(prefix);
    if (n > FK_ERROR_CAP - 3) n = FK_ERROR_CAP - 3;
    memcpy(error_text, prefix, n);
    error_text[n++] = ':';
    error_text[n++] = ' ';
    size_t m = strlen(old);
    if (m > FK_ERROR_CAP - 1 - n) m = FK_ERROR_CAP - 1 - n;
    memcpy(error_text + n, old, m);
    error_text[n + m] = '\0';
    return status;
}

void fk__clear_error(void) { error_text[0] = '\0'; }

const char *fk_last_error(void) {
    return error_text[0] ? error_text : "no error";
}

const char *fk_status_name(fk_status s) {
    switch (s) {
    case FK_OK: return "ok";
    case FK_EINVAL: return "invalid argument";
    case FK_ENOMEM: return "out of memory";
    case FK_EIO: return "i/o error";
    case FK_EFORMAT: return "bad or unsupported data";
    case FK_ETOOBIG: return "too large";
    case FK_ENOFACE: return "no face detected";
    case FK_EMODEL: return "model missing or invalid";
    case FK_EEXTERNAL: return "external tool failed";
    case FK_ESPOOF: return "spoof detected";
    }
    return "unknown status";
}
