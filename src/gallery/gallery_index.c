/*
 * gallery_index.c - bring a gallery up to date with a folder of images.
 *
 * 1. Walk the folder (recursively; hidden files and the gallery's own files
 *    are skipped) for .jpg/.jpeg/.png/.webp/.bmp files, sorted by path.
 * 2. Merge with the rows already indexed for this configuration: same size
 *    and mtime -> unchanged; otherwise a job; rows whose file is gone ->
 *    removed.
 * 3. Worker threads (fk_run_workers: each with its own single-threaded
 *    context) read each job's file once, hash it (SHA-256), and - unless
 *    the hash equals the stored one (a touched file) - decode and embed it.
 * 4. The calling thread is the only writer: fk_run_workers hands it finished
 *    jobs as they come and it commits them in batches, one transaction
 *    each, so a kill loses at most the batch in flight.
 * A file that cannot be decoded is recorded as unreadable (not retried until
 * it changes), counted and reported; a model error stops everything.
 */
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/error.h"
#include "gallery/gallery.h"

typedef struct file_entry {
    char *rel;        /* path relative to the folder */
    int64_t size, mtime_ns;
} file_entry;

typedef struct file_list {
    file_entry *items;
    int count, cap;
} file_list;

enum { JOB_EMBEDDED, JOB_TOUCHED, JOB_NOFACE, JOB_UNREADABLE };

typedef struct index_job {
    const file_entry *file;
    int64_t old_id;            /* existing row, 0 for a new file */
    unsigned char old_hash[32];
    int has_old_hash;
    /* filled by the worker */
    int outcome;
    unsigned char hash[32];
    fk_faces faces;
    char error[PATH_MAX + 512];
} index_job;

typedef struct index_run {
    index_job *jobs;
    int count;
    char dir[PATH_MAX];
    size_t max_pixels;
    int decode_max_side;        /* fk_image_decode_scaled's bound; 0: full */
    fk_options opt;
    /* the writer: the calling thread, in fk_run_workers' done callback */
    fk_gallery *g;
    const fk_gallery_index_options *io;
    fk_gallery_index_stats *stats;
    int batch_size;
    int *batch;                 /* finished jobs not yet committed */
    int pending;
    int written;                /* jobs committed */
    double last_commit;
    int total, done_before;     /* for progress: files, unchanged ones */
    fk_status st;               /* the writer's first failure */
} index_run;

static double now_s(void) { return fk__now_ms() / 1e3; }

static int has_image_ext(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    return !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png") ||
           !strcasecmp(dot, ".webp") || !strcasecmp(dot, ".bmp");
}

static fk_status list_push(file_list *l, const char *rel, const struct stat *sb) {
    if (l->count == l->cap) {
        int cap = l->cap ? l->cap * 2 : 256;
        file_entry *grown = realloc(l->items, (size_t)cap * sizeof *grown);
        if (!grown) return fk__fail(FK_ENOMEM, "out of memory");
        l->items = grown;
        l->cap = cap;
    }
    file_entry *e = &l->items[l->count];
    e->rel = strdup(rel);
    if (!e->rel) return fk__fail(FK_ENOMEM, "out of memory");
    e->size = sb->st_size;
    e->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
    l->count++;
    return FK_OK;
}

static void list_free(file_list *l) {
    for (int i = 0; i < l->count; i++) free(l->items[i].rel);
    free(l->items);
}

/* Collect image files under dir/rel (rel "" for the top), depth-limited. */
static fk_status walk(const char *dir, const char *rel, int depth, file_list *out) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s%s", dir, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d) {
        if (!*rel) return fk__fail(FK_EIO, "%s: cannot read the folder: %s", dir, strerror(errno));
        return FK_OK; /* an unreadable subfolder: nothing to index there */
    }
    fk_status st = FK_OK;
    struct dirent *de;
    while (st == FK_OK && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char sub[PATH_MAX], full[PATH_MAX];
        if (snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", de->d_name) >=
                (int)sizeof sub ||
            snprintf(full, sizeof full, "%s/%s", dir, sub) >= (int)sizeof full)
            continue;
        struct stat sb;
        if (stat(full, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode)) {
            if (depth < 8) st = walk(dir, sub, depth + 1, out);
        } else if (S_ISREG(sb.st_mode) && has_image_ext(de->d_name)) {
            st = list_push(out, sub, &sb);
        }
    }
    closedir(d);
    return st;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const file_entry *)a)->rel, ((const file_entry *)b)->rel);
}

/* Read a whole file. */
static int read_file(const char *path, unsigned char **data, size_t *size, char *err,
                     size_t errcap) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (snprintf(err, errcap, "%s: cannot open: %s", path, strerror(errno)) < 0) err[0] = 0;
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        unsigned char *grown = cap > ((size_t)1 << 30) ? NULL : realloc(buf, cap * 2);
        if (!grown) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        const char *why = buf ? "" : " (out of memory or over 1 GB)";
        free(buf);
        if (snprintf(err, errcap, "%s: cannot read%s", path, why) < 0) err[0] = 0;
        return -1;
    }
    *data = buf;
    *size = n;
    return 0;
}

static void sha256(const unsigned char *data, size_t size, unsigned char out[32]) {
    unsigned int len = 32;
    EVP_Digest(data, size, out, &len, EVP_sha256(), NULL);
}

/* One job on the worker's context: read, hash, decode, embed. Returns a
 * fatal status (model missing, out of memory) or FK_OK with an outcome. */
static fk_status run_job(index_run *r, fk_context *ctx, index_job *j) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", r->dir, j->file->rel) >= (int)sizeof path) {
        j->outcome = JOB_UNREADABLE;
        snprintf(j->error, sizeof j->error, "%s: path too long", j->file->rel);
        return FK_OK;
    }
    unsigned char *data = NULL;
    size_t size = 0;
    if (read_file(path, &data, &size, j->error, sizeof j->error)) {
        j->outcome = JOB_UNREADABLE;
        memset(j->hash, 0, sizeof j->hash);
        return FK_OK;
    }
    sha256(data, size, j->hash);
    if (j->has_old_hash && memcmp(j->hash, j->old_hash, 32) == 0) {
        free(data);
        j->outcome = JOB_TOUCHED;
        return FK_OK;
    }
    fk_image *img = NULL;
    fk_status st = fk_image_decode_scaled(data, size, path, r->max_pixels,
                                          r->decode_max_side, &img);
    free(data);
    if (st != FK_OK) {
        if (st == FK_ENOMEM) return st;
        j->outcome = JOB_UNREADABLE;
        snprintf(j->error, sizeof j->error, "%s", fk_last_error());
        return FK_OK;
    }
    fk_options o = r->opt;
    o.image_names[0] = path;
    /* The folder is the user's own gallery: deepface's find checks only the
     * query for spoofs, never the database images, and one spoof-looking
     * photo must not stop the index. */
    o.anti_spoofing = 0;
    st = fk_represent(ctx, img, &o, &j->faces);
    fk_image_free(img);
    if (st == FK_ENOFACE || (st == FK_OK && j->faces.count == 0)) {
        fk_faces_free(&j->faces);
        j->outcome = JOB_NOFACE;
        snprintf(j->error, sizeof j->error, "%s: no face detected", path);
        return FK_OK;
    }
    if (st == FK_ETOOBIG || st == FK_EFORMAT) {
        j->outcome = JOB_UNREADABLE;
        snprintf(j->error, sizeof j->error, "%s", fk_last_error());
        return FK_OK;
    }
    if (st != FK_OK) return st;
    j->outcome = JOB_EMBEDDED;
    return FK_OK;
}

/* fk_run_workers' task: one job on the worker's context. */
static fk_status index_task(fk_context *ctx, int item, void *user) {
    index_run *r = user;
    return run_job(r, ctx, &r->jobs[item]);
}

/* Write one finished job (inside the writer's transaction). */
static fk_status write_job(fk_gallery *g, index_job *j, fk_gallery_index_stats *stats) {
    const file_entry *f = j->file;
    if (j->outcome == JOB_TOUCHED) {
        stats->unchanged++;
        return fk__gallery_touch_image(g, j->old_id, f->size, f->mtime_ns);
    }
    char identity[256];
    fk__gallery_identity_from_path(f->rel, identity, sizeof identity);
    int status = j->outcome == JOB_EMBEDDED ? FK_IMG_OK
                 : j->outcome == JOB_NOFACE ? FK_IMG_NOFACE
                                            : FK_IMG_UNREADABLE;
    if (j->outcome == JOB_UNREADABLE) stats->unreadable++;
    else if (j->outcome == JOB_NOFACE) stats->no_face++;
    if (j->old_id) stats->changed++;
    else stats->added++;
    return fk__gallery_put_image(g, f->rel, identity, f->size, f->mtime_ns,
                                j->outcome == JOB_UNREADABLE ? NULL : j->hash, status,
                                &j->faces, NULL);
}

/* Commit a batch of finished jobs; warnings go out after the commit. */
static fk_status commit_batch(fk_gallery *g, index_run *r, const int *batch, int n,
                              const fk_gallery_index_options *io,
                              fk_gallery_index_stats *stats) {
    fk_status st = fk__gallery_begin(g);
    for (int i = 0; st == FK_OK && i < n; i++) st = write_job(g, &r->jobs[batch[i]], stats);
    if (st == FK_OK) st = fk__gallery_commit(g);
    else fk__gallery_rollback(g);
    for (int i = 0; i < n; i++) {
        index_job *j = &r->jobs[batch[i]];
        if (st == FK_OK && io->warn && (j->outcome == JOB_UNREADABLE || j->outcome == JOB_NOFACE)) {
            char msg[sizeof j->error + 16];
            snprintf(msg, sizeof msg, "%s; skipped", j->error);
            io->warn(io->user, msg);
        }
        fk_faces_free(&j->faces);
    }
    return st;
}

typedef struct old_row {
    int64_t id, size, mtime_ns;
    char *path;
    unsigned char hash[32];
    int has_hash;
} old_row;

/* The rows indexed so far in this configuration, sorted by path. */
static fk_status load_rows(fk_gallery *g, old_row **out, int *count) {
    sqlite3_stmt *s = NULL;
    *out = NULL;
    *count = 0;
    if (sqlite3_prepare_v2(g->db, "SELECT id, path, size, mtime_ns, sha256 FROM images "
                           "WHERE config_id=?1 ORDER BY path",
                           -1, &s, NULL) != SQLITE_OK)
        return fk__gallery_db_fail(g, "reading the index");
    sqlite3_bind_int64(s, 1, g->config_id);
    int n = 0, cap = 0, rc;
    old_row *rows = NULL;
    fk_status st = FK_OK;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            old_row *grown = realloc(rows, (size_t)cap * sizeof *rows);
            if (!grown) {
                st = fk__fail(FK_ENOMEM, "out of memory");
                break;
            }
            rows = grown;
        }
        old_row *o = &rows[n];
        memset(o, 0, sizeof *o);
        o->id = sqlite3_column_int64(s, 0);
        const char *p = (const char *)sqlite3_column_text(s, 1);
        o->path = strdup(p ? p : "");
        o->size = sqlite3_column_int64(s, 2);
        o->mtime_ns = sqlite3_column_int64(s, 3);
        if (sqlite3_column_bytes(s, 4) == 32) {
            memcpy(o->hash, sqlite3_column_blob(s, 4), 32);
            o->has_hash = 1;
        }
        n++;
        if (!o->path) {
            st = fk__fail(FK_ENOMEM, "out of memory");
            break;
        }
    }
    if (st == FK_OK && rc != SQLITE_DONE) st = fk__gallery_db_fail(g, "reading the index");
    sqlite3_finalize(s);
    *out = rows;
    *count = n;
    return st;
}

static void free_rows(old_row *rows, int n) {
    for (int i = 0; i < n; i++) free(rows[i].path);
    free(rows);
}

void fk_gallery_index_options_init(fk_gallery_index_options *io) {
    if (io) memset(io, 0, sizeof *io);
}

/* Is `rel` the gallery file (or its WAL / shared-memory / journal)? */
static int is_gallery_file(const char *dir, const char *rel, const char *gallery_real) {
    if (!gallery_real) return 0;
    char path[PATH_MAX], real[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (!realpath(path, real)) return 0;
    size_t n = strlen(gallery_real);
    return strncmp(real, gallery_real, n) == 0 &&
           (real[n] == '\0' || !strcmp(real + n, "-wal") || !strcmp(real + n, "-shm") ||
            !strcmp(real + n, "-journal"));
}

/* fk_run_workers' done callback, on the calling thread: queue the job,
 * commit every batch_size jobs, every 2 s and at the end, and report
 * progress. Returns non-zero to stop (progress said so, or a commit
 * failed). Jobs that finish after a stop are queued and committed by
 * run_jobs: they are done work. */
static int index_done(void *user, int item, fk_status status) {
    index_run *r = user;
    if (status != FK_OK || r->st != FK_OK) return 1; /* a fatal job is not written */
    r->batch[r->pending++] = item;
    if (r->stats->stopped) return 1;
    int last = r->written + r->pending == r->count;
    if (r->pending >= r->batch_size || last || now_s() - r->last_commit > 2) {
        r->st = commit_batch(r->g, r, r->batch, r->pending, r->io, r->stats);
        r->written += r->pending;
        r->pending = 0;
        r->last_commit = now_s();
        if (r->st != FK_OK) return 1;
    }
    if (r->io->progress && r->io->progress(r->io->user, r->done_before + r->written + r->pending,
                                           r->total, r->done_before + r->written)) {
        r->stats->stopped = 1;
        return 1;
    }
    return 0;
}

/* Run the workers over r's jobs, committing as results arrive. */
static fk_status run_jobs(fk_gallery *g, fk_context *ctx, index_run *r, int threads,
                          const fk_gallery_index_options *io, fk_gallery_index_stats *stats,
                          int total, int done_before) {
    r->batch = malloc((size_t)(r->count > 0 ? r->count : 1) * sizeof *r->batch);
    if (!r->batch) return fk__fail(FK_ENOMEM, "out of memory");
    r->g = g;
    r->io = io;
    r->stats = stats;
    r->batch_size = io->batch > 0 ? io->batch : 32;
    r->total = total;
    r->done_before = done_before;
    r->last_commit = now_s();
    fk_context_options co;
    fk_context_options_init(&co);
    co.model_home = fk_context_get_model_home(ctx);
    co.max_pixels = r->max_pixels;
    fk_status fatal = fk_run_workers(&co, threads, r->count, index_task, index_done, r);
    char fatal_msg[512];
    snprintf(fatal_msg, sizeof fatal_msg, "%s", fk_last_error());
    fk_status st = r->st;
    /* Jobs that finished after the last commit (a stop, or a fatal error in
     * another job): write them too, they are done work. */
    if (st == FK_OK && r->pending > 0) {
        st = commit_batch(g, r, r->batch, r->pending, io, stats);
        r->pending = 0;
    }
    /* Free results never written (after an error). */
    for (int i = 0; i < r->count; i++) fk_faces_free(&r->jobs[i].faces);
    if (st == FK_OK && fatal != FK_OK) st = fk__fail(fatal, "%s", fatal_msg);
    free(r->batch);
    return st;
}

fk_status fk_gallery_index_folder(fk_gallery *g, fk_context *ctx, const char *dir,
                                  const fk_gallery_index_options *io_in,
                                  fk_gallery_index_stats *stats_out) {
    fk__clear_error();
    if (!g || !ctx || !dir) return fk__fail(FK_EINVAL, "fk_gallery_index_folder: bad arguments");
    if (!g->be->can_index)
        return fk__fail(FK_EINVAL, "%s: folder indexing keeps its index in an SQLite file "
                       "inside the folder; a %s gallery takes registrations", g->path,
                       g->be->name);
    double t0 = now_s();
    fk_gallery_index_options io;
    fk_gallery_index_options_init(&io);
    if (io_in) io = *io_in;
    if (io.decode_max_side < 0)
        return fk__fail(FK_EINVAL, "fk_gallery_index_folder: decode_max_side %d is negative "
                       "(0 decodes in full)", io.decode_max_side);
    fk_gallery_index_stats stats;
    memset(&stats, 0, sizeof stats);

    file_list files = {0};
    old_row *rows = NULL;
    int nrows = 0;
    index_run r;
    memset(&r, 0, sizeof r);
    fk_status st = walk(dir, "", 0, &files);
    if (st == FK_OK && snprintf(r.dir, sizeof r.dir, "%s", dir) >= (int)sizeof r.dir)
        st = fk__fail(FK_EINVAL, "%s: path too long", dir);
    if (st == FK_OK) st = load_rows(g, &rows, &nrows);
    if (st != FK_OK) {
        list_free(&files);
        free_rows(rows, nrows);
        return st;
    }
    /* Leave the gallery's own files out when it lives inside the folder. */
    char gallery_real[PATH_MAX];
    const char *greal = realpath(g->path, gallery_real) ? gallery_real : NULL;
    int kept = 0;
    for (int i = 0; i < files.count; i++) {
        if (is_gallery_file(dir, files.items[i].rel, greal)) free(files.items[i].rel);
        else files.items[kept++] = files.items[i];
    }
    files.count = kept;
    qsort(files.items, (size_t)files.count, sizeof *files.items, cmp_entry);
    stats.files = files.count;

    r.jobs = calloc((size_t)(files.count > 0 ? files.count : 1), sizeof *r.jobs);
    int64_t *gone = malloc((size_t)(nrows > 0 ? nrows : 1) * sizeof *gone);
    int ngone = 0;
    if (!r.jobs || !gone) st = fk__fail(FK_ENOMEM, "out of memory");
    /* Merge the sorted file list with the sorted rows. */
    for (int i = 0, k = 0; st == FK_OK && (i < files.count || k < nrows);) {
        int c = i >= files.count ? 1 : k >= nrows ? -1 : strcmp(files.items[i].rel, rows[k].path);
        if (c > 0) {
            gone[ngone++] = rows[k++].id;
            continue;
        }
        const file_entry *f = &files.items[i++];
        if (c == 0) {
            const old_row *o = &rows[k++];
            if (o->size == f->size && o->mtime_ns == f->mtime_ns) {
                stats.unchanged++;
                continue;
            }
            index_job *j = &r.jobs[r.count++];
            j->file = f;
            j->old_id = o->id;
            j->has_old_hash = o->has_hash;
            memcpy(j->old_hash, o->hash, 32);
        } else {
            r.jobs[r.count++].file = f;
        }
    }
    free_rows(rows, nrows);

    if (st == FK_OK && ngone > 0) {
        st = fk__gallery_begin(g);
        for (int i = 0; st == FK_OK && i < ngone; i++) st = fk__gallery_delete_image(g, gone[i]);
        if (st == FK_OK) st = fk__gallery_commit(g);
        else fk__gallery_rollback(g);
        if (st == FK_OK) stats.removed = ngone;
    }
    free(gone);

    if (st == FK_OK && r.count > 0) {
        int threads = io.threads > 0 ? io.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
        if (threads < 1) threads = 1;
        if (threads > r.count) threads = r.count;
        r.max_pixels = io.max_pixels;
        r.decode_max_side = io.decode_max_side;
        r.opt = g->opt;
        st = run_jobs(g, ctx, &r, threads, &io, &stats, files.count, stats.unchanged);
    }
    free(r.jobs);
    list_free(&files);
    if (st == FK_OK) st = fk__gallery_count_faces(g, &stats.faces);
    stats.seconds = now_s() - t0;
    if (stats_out) *stats_out = stats;
    return st;
}
