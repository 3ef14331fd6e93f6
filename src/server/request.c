/*
 * request.c - reading the fields of a request, as deepface's API reads
 * them: JSON values, or the text fields of a form (where every value is a
 * string, so "true", "false", "3" and "0.4" are accepted for booleans and
 * numbers in both). A value of the wrong kind is a 400 naming the key,
 * never silently taken as a default.
 *
 * Images (deepface's extract_image_from_request, without URL fetching):
 * an uploaded file of the key's name first, else the key's text: a data
 * URI or base64 (fk_image_decode_text, which never opens a file), or a
 * path on the server. Paths are refused unless the server was started with
 * --image-root, and then only files inside that folder: a path with a
 * ".." component is refused outright, and the file is opened first and
 * its real location (/proc/self/fd, after every symlink) checked against
 * the root, so a symlink pointing out of the root, or one swapped in
 * between a check and the open, is refused too.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/srv.h"

void srv_request_clear(srv_request *r) {
    json_decref(r->args);
    for (int i = 0; i < r->nfiles; i++) {
        free(r->files[i].key);
        free(r->files[i].filename);
        free(r->files[i].data);
    }
    free(r->files);
    memset(r, 0, sizeof *r);
}

void srv_error(srv_reply *r, int status, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_decref(r->body);
    r->status = status;
    r->body = json_pack("{s:s}", "exception", msg);
}

int srv_status_of(fk_status s) {
    switch (s) {
    case FK_OK: return 200;
    case FK_EINVAL:
    case FK_EFORMAT: return 400;
    case FK_ETOOBIG: return 413;
    case FK_ENOFACE:
    case FK_ESPOOF: return 422;
    case FK_ENOMEM: return 503;
    case FK_EIO:       /* the gallery's file or database */
    case FK_EMODEL:    /* a model file missing on the server */
    case FK_EEXTERNAL: return 500;
    }
    return 500;
}

/* The library's messages name the command line's options in their hints
 * ("pass --enforce-detection false to use the whole image"); over HTTP the
 * same setting is the request key enforce_detection, so "--a-b" becomes
 * "a_b". */
static void hints_as_keys(const char *in, char *out, size_t cap) {
    size_t o = 0;
    for (const char *p = in; *p && o + 1 < cap; p++) {
        if (p[0] == '-' && p[1] == '-' && p[2] >= 'a' && p[2] <= 'z' &&
            (p == in || p[-1] == ' ' || p[-1] == '(')) {
            p += 2;
            while (*p && o + 1 < cap && ((*p >= 'a' && *p <= 'z') || *p == '-'))
                out[o++] = *p == '-' ? '_' : *p, p++;
            p--;
            continue;
        }
        out[o++] = *p;
    }
    out[o] = 0;
}

void srv_fail(srv_reply *r, fk_status s) {
    char msg[1024];
    hints_as_keys(fk_last_error(), msg, sizeof msg);
    srv_error(r, srv_status_of(s), "%s", msg);
    if (s == FK_ENOMEM) r->retry_after = 1;
}

/* ---- scalar fields -------------------------------------------------------- */

static json_t *field(const srv_request *q, const char *key) {
    json_t *v = q->args ? json_object_get(q->args, key) : NULL;
    return v && !json_is_null(v) ? v : NULL;
}

int srv_get_bool(const srv_request *q, const char *key, int *out, srv_reply *r) {
    json_t *v = field(q, key);
    if (!v) return 0;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (s && (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes"))) {
        *out = 1;
        return 0;
    }
    if (s && (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no"))) {
        *out = 0;
        return 0;
    }
    if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) {
        *out = (int)json_integer_value(v);
        return 0;
    }
    srv_error(r, 400, "'%s' must be true or false", key);
    return -1;
}

/* A JSON number, or a string holding one. */
static int number_of(json_t *v, double *out) {
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (errno || *end) return -1;
    *out = d;
    return 0;
}

int srv_get_int(const srv_request *q, const char *key, long lo, long hi, int *out,
                srv_reply *r) {
    json_t *v = field(q, key);
    if (!v) return 0;
    double d;
    if (number_of(v, &d) || d != (double)(long)d || d < (double)lo || d > (double)hi) {
        srv_error(r, 400, "'%s' must be a whole number from %ld to %ld", key, lo, hi);
        return -1;
    }
    *out = (int)d;
    return 0;
}

int srv_get_float(const srv_request *q, const char *key, double lo, double hi, float *out,
                  srv_reply *r) {
    json_t *v = field(q, key);
    if (!v) return 0;
    double d;
    if (number_of(v, &d) || !(d >= lo && d <= hi)) {
        srv_error(r, 400, "'%s' must be a number from %g to %g", key, lo, hi);
        return -1;
    }
    *out = (float)d;
    return 0;
}

int srv_get_string(const srv_request *q, const char *key, const char **out, srv_reply *r) {
    json_t *v = field(q, key);
    if (!v) return 0;
    if (!json_is_string(v)) {
        srv_error(r, 400, "'%s' must be a string", key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* ---- images ----------------------------------------------------------------- */

/* How decoding fails, as a status: the budget is 413, anything else 400
 * (the bytes came from the client). */
static int image_status(fk_status s) {
    return s == FK_ETOOBIG ? 413 : s == FK_ENOMEM ? 503 : 400;
}

/* Text made only of the base64 alphabet (standard or URL-safe, padding,
 * whitespace): a base64 image rather than a path. */
static int looks_base64(const char *s, size_t len) {
    if (len < 16) return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '-' || c == '_' || c == '=' || c == ' ' ||
              c == '\n' || c == '\r' || c == '\t'))
            return 0;
    }
    return 1;
}

/* A path component "..". */
static int has_dotdot(const char *p) {
    for (const char *s = p; *s;) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.') return 1;
        s += n;
        while (*s == '/') s++;
    }
    return 0;
}

/* Open `path` (relative to the root, or absolute) only if the file it
 * reaches is a regular file inside root; returns the fd or -1 with r. */
static int open_under_root(const char *root, const char *key, const char *path, srv_reply *r) {
    if (has_dotdot(path)) {
        srv_error(r, 403, "'%s': a path with '..' is refused (paths are read only under "
                  "--image-root)", key);
        return -1;
    }
    char full[PATH_MAX];
    if (snprintf(full, sizeof full, "%s%s%s", path[0] == '/' ? "" : root,
                 path[0] == '/' ? "" : "/", path) >= (int)sizeof full) {
        srv_error(r, 400, "'%s': path too long", key);
        return -1;
    }
    int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        /* Outside the root, say so before saying it is missing: a
         * client must not learn which files exist elsewhere. */
        if (path[0] == '/' && (strncmp(path, root, strlen(root)) || path[strlen(root)] != '/')) {
            srv_error(r, 403, "'%s': %s is outside the image root", key, path);
            return -1;
        }
        srv_error(r, 400, "'%s': %s: no such image under the image root", key, path);
        return -1;
    }
    char link[64], real[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, real, sizeof real - 1);
    size_t rl = strlen(root);
    if (n <= 0 || (size_t)n >= sizeof real - 1) {
        close(fd);
        srv_error(r, 500, "'%s': cannot resolve the opened file", key);
        return -1;
    }
    real[n] = '\0';
    if (strncmp(real, root, rl) != 0 || real[rl] != '/') {
        close(fd);
        srv_error(r, 403, "'%s': %s is outside the image root", key, path);
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        srv_error(r, 400, "'%s': %s is not a regular file", key, path);
        return -1;
    }
    return fd;
}

static int load_path(const srv_config *cfg, const char *key, const char *path, fk_image **out,
                     srv_reply *r) {
    int fd = open_under_root(cfg->image_root, key, path, r);
    if (fd < 0) return -1;
    struct stat sb;
    fstat(fd, &sb);
    size_t bound = fk_image_max_bytes(cfg->max_pixels);
    if ((unsigned long long)sb.st_size > bound) {
        close(fd);
        srv_error(r, 413, "'%s': %s is %lld bytes, over the %zu-byte bound of the pixel budget",
                  key, path, (long long)sb.st_size, bound);
        return -1;
    }
    size_t len = (size_t)sb.st_size, got = 0;
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf) {
        close(fd);
        srv_error(r, 503, "out of memory");
        return -1;
    }
    while (got < len) {
        ssize_t k = read(fd, buf + got, len - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd);
    fk_status s = fk_image_decode_scaled(buf, got, path, cfg->max_pixels, cfg->decode_max_side,
                                         out);
    free(buf);
    if (s != FK_OK) {
        srv_error(r, image_status(s), "'%s': %s", key, fk_last_error());
        return -1;
    }
    return 0;
}

int srv_get_image(const srv_config *cfg, const srv_request *q, const char *key,
                  fk_image **out, char *label, size_t label_cap, srv_reply *r) {
    for (int i = 0; i < q->nfiles; i++) {
        const srv_file *f = &q->files[i];
        if (strcmp(f->key, key) != 0) continue;
        if (!f->filename[0] && !f->len) {
            srv_error(r, 400, "no file uploaded for '%s'", key);
            return -1;
        }
        fk_status s = fk_image_decode_scaled(f->data, f->len, key, cfg->max_pixels,
                                             cfg->decode_max_side, out);
        if (s != FK_OK) {
            srv_error(r, image_status(s), "%s", fk_last_error());
            return -1;
        }
        if (label) snprintf(label, label_cap, "%s", f->filename[0] ? f->filename : "upload");
        return 0;
    }
    json_t *v = q->args ? json_object_get(q->args, key) : NULL;
    if (!v || json_is_null(v)) {
        srv_error(r, 400, "'%s' not found in the request (an uploaded file, a base64 string, "
                  "a data URI%s)", key, cfg->image_root ? " or a path under the image root" : "");
        return -1;
    }
    if (!json_is_string(v) || !json_string_length(v)) {
        srv_error(r, 400, "'%s' must be a non-empty string (base64, a data URI%s)", key,
                  cfg->image_root ? " or a path under the image root" : "");
        return -1;
    }
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (!strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8)) {
        srv_error(r, 400, "'%s': URLs are not fetched; send the image itself (upload, base64 "
                  "or data URI)", key);
        return -1;
    }
    int text = !strncmp(s, "data:", 5) || (looks_base64(s, len) && !strchr(s, '.'));
    if (text && cfg->image_root && looks_base64(s, len) && strchr(s, '/')) {
        /* base64 or a dot-less path such as "people/alice": the file wins
         * when it exists under the root, as fk_image_load_source's order */
        srv_reply tmp = {0};
        int fd = open_under_root(cfg->image_root, key, s, &tmp);
        json_decref(tmp.body);
        if (fd >= 0) {
            close(fd);
            text = 0;
        }
    }
    if (text) {
        fk_status st = fk_image_decode_text(s, len, key, cfg->max_pixels, cfg->decode_max_side,
                                            out);
        if (st != FK_OK) {
            srv_error(r, image_status(st), "%s", fk_last_error());
            return -1;
        }
        if (label) snprintf(label, label_cap, "base64");
        return 0;
    }
    if (!cfg->image_root) {
        srv_error(r, 400, "'%s' is neither base64 nor a data URI, and server-side paths are "
                  "refused (the server was started without --image-root)", key);
        return -1;
    }
    if (load_path(cfg, key, s, out, r)) return -1;
    if (label) snprintf(label, label_cap, "%s", s);
    return 0;
}
