/*
 * gallery_db.c - the gallery file: open, create and validate it, the writes
 * the indexer and register need, and list / remove / stats.
 *
 * Schema (version FK_GALLERY_SCHEMA, application_id "FKGL"):
 *   configs(id, model, detector, align, normalization, dim)  one row per
 *       embedding configuration; every image row belongs to one
 *   identities(id, name UNIQUE)
 *   images(id, config_id, identity_id, path, size, mtime_ns, sha256, status)
 *       UNIQUE(config_id, path); status says why an image has no faces
 *   faces(id, image_id, x, y, w, h, confidence, eyes, embedding BLOB)
 *       ON DELETE CASCADE from images
 * The file is opened in WAL mode with a 60 s busy timeout; every write runs
 * inside BEGIN IMMEDIATE ... COMMIT, so readers never see half a batch and
 * a killed writer leaves the last committed state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "detect/detectors.h"
#include "gallery/gallery.h"
#include "gallery/gallery_ann.h"
#include "represent/recognizers.h"
#include "verify/verify.h"

static const char SCHEMA[] =
    "CREATE TABLE configs("
    " id INTEGER PRIMARY KEY, model TEXT NOT NULL, detector TEXT NOT NULL,"
    " align INTEGER NOT NULL, normalization TEXT NOT NULL, dim INTEGER NOT NULL,"
    " UNIQUE(model, detector, align, normalization));"
    "CREATE TABLE identities(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE images("
    " id INTEGER PRIMARY KEY,"
    " config_id INTEGER NOT NULL REFERENCES configs(id),"
    " identity_id INTEGER NOT NULL REFERENCES identities(id),"
    " path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
    " sha256 BLOB, status INTEGER NOT NULL,"
    " UNIQUE(config_id, path));"
    "CREATE INDEX images_identity ON images(identity_id);"
    "CREATE TABLE faces("
    " id INTEGER PRIMARY KEY,"
    " image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    " x REAL, y REAL, w REAL, h REAL, confidence REAL,"
    " has_eyes INTEGER NOT NULL, left_eye_x REAL, left_eye_y REAL,"
    " right_eye_x REAL, right_eye_y REAL,"
    " embedding BLOB NOT NULL);"
    "CREATE INDEX faces_image ON faces(image_id);";

fk_status fk_gallery_db_fail(fk_gallery *g, const char *what) {
    int code = sqlite3_extended_errcode(g->db) & 0xff;
    fk_status st = code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? FK_EFORMAT
                   : code == SQLITE_NOMEM                          ? FK_ENOMEM
                                                                   : FK_EIO;
    if (st == FK_EFORMAT)
        return fk_fail(st, "%s: %s: %s (the gallery file is damaged; delete it to "
                       "rebuild the index)", g->path, what, sqlite3_errmsg(g->db));
    return fk_fail(st, "%s: %s: %s", g->path, what, sqlite3_errmsg(g->db));
}

/* Run SQL without results. */
static fk_status exec(fk_gallery *g, const char *sql, const char *what) {
    if (sqlite3_exec(g->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return fk_gallery_db_fail(g, what);
    return FK_OK;
}

/* A single integer from SQL (a PRAGMA or a COUNT); bind1 > 0 binds ?1. */
static fk_status query_int(fk_gallery *g, const char *sql, int64_t bind1, int64_t *out) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(g->db, sql, -1, &s, NULL) != SQLITE_OK)
        return fk_gallery_db_fail(g, "reading");
    if (bind1 > 0) sqlite3_bind_int64(s, 1, bind1);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int64(s, 0);
    else if (rc == SQLITE_DONE) *out = 0;
    fk_status st = rc == SQLITE_ROW || rc == SQLITE_DONE ? FK_OK
                                                         : fk_gallery_db_fail(g, "reading");
    sqlite3_finalize(s);
    return st;
}

fk_status fk_gallery_begin(fk_gallery *g) {
    return exec(g, "BEGIN IMMEDIATE", "starting a transaction");
}

fk_status fk_gallery_commit(fk_gallery *g) {
    g->cache_valid = 0;
    fk_status st = exec(g, "COMMIT", "committing");
    if (st != FK_OK) fk_gallery_rollback(g);
    return st;
}

void fk_gallery_rollback(fk_gallery *g) {
    if (!sqlite3_get_autocommit(g->db)) sqlite3_exec(g->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Refuse anything but an SQLite file before SQLite sees it: SQLite only
 * notices a foreign file at the first read, with a vaguer message. An
 * empty file is a new database. */
static fk_status check_header(const char *path, int *exists) {
    *exists = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return FK_OK;
        return fk_fail(FK_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    *exists = 1;
    char head[16];
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    if (got == 0) return FK_OK;
    if (got < sizeof head || memcmp(head, "SQLite format 3", 16) != 0)
        return fk_fail(FK_EFORMAT, "%s: not a facekit gallery (not an SQLite database); "
                       "refusing to use it", path);
    return FK_OK;
}

/* Check the file is ours and of a schema we read, creating the schema in a
 * fresh (table-less) file when `create`. */
static fk_status check_schema(fk_gallery *g, int create) {
    int64_t app = 0, version = 0, tables = 0;
    fk_status st = query_int(g, "PRAGMA application_id", 0, &app);
    if (st == FK_OK) st = query_int(g, "SELECT count(*) FROM sqlite_master", 0, &tables);
    if (st != FK_OK) return st;
    if (app == 0 && tables == 0) {
        if (!create)
            return fk_fail(FK_EFORMAT, "%s: an empty database, not a facekit gallery", g->path);
        /* Two processes may race to create: the loser re-checks inside
         * the write lock and finds the schema there. */
        st = fk_gallery_begin(g);
        if (st != FK_OK) return st;
        st = query_int(g, "SELECT count(*) FROM sqlite_master", 0, &tables);
        if (st == FK_OK && tables == 0) {
            char pragmas[128];
            snprintf(pragmas, sizeof pragmas, "PRAGMA application_id=%d; PRAGMA user_version=%d;",
                     FK_GALLERY_APP_ID, FK_GALLERY_SCHEMA);
            st = exec(g, SCHEMA, "creating the schema");
            if (st == FK_OK) st = exec(g, pragmas, "creating the schema");
        }
        if (st == FK_OK) st = fk_gallery_commit(g);
        else fk_gallery_rollback(g);
        if (st != FK_OK) return st;
        st = query_int(g, "PRAGMA application_id", 0, &app);
        if (st != FK_OK) return st;
    }
    if (app != FK_GALLERY_APP_ID)
        return fk_fail(FK_EFORMAT, "%s: an SQLite database of another application, not a "
                       "facekit gallery; refusing to touch it", g->path);
    st = query_int(g, "PRAGMA user_version", 0, &version);
    if (st != FK_OK) return st;
    if (version != FK_GALLERY_SCHEMA)
        return fk_fail(FK_EFORMAT, "%s: gallery schema version %lld, this facekit reads "
                       "version %d", g->path, (long long)version, FK_GALLERY_SCHEMA);
    return FK_OK;
}

/* The configs row for the handle's options, created if new. */
static fk_status bind_config(fk_gallery *g) {
    sqlite3_stmt *s = NULL;
    const char *sql = "SELECT id, dim FROM configs WHERE model=?1 AND detector=?2 AND "
                      "align=?3 AND normalization=?4";
    for (int attempt = 0; attempt < 2; attempt++) {
        if (sqlite3_prepare_v2(g->db, sql, -1, &s, NULL) != SQLITE_OK)
            return fk_gallery_db_fail(g, "reading the configuration");
        sqlite3_bind_text(s, 1, g->opt.model, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, g->opt.detector, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 3, g->opt.align);
        sqlite3_bind_text(s, 4, g->normalization, -1, SQLITE_STATIC);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            g->config_id = sqlite3_column_int64(s, 0);
            int dim = sqlite3_column_int(s, 1);
            sqlite3_finalize(s);
            if (dim != g->dim)
                return fk_fail(FK_EFORMAT, "%s: configuration %s/%s has embeddings of "
                               "dimension %d, the model gives %d", g->path, g->opt.model,
                               g->opt.detector, dim, g->dim);
            return FK_OK;
        }
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE) return fk_gallery_db_fail(g, "reading the configuration");
        if (attempt) break;
        fk_status st = fk_gallery_begin(g);
        if (st != FK_OK) return st;
        if (sqlite3_prepare_v2(g->db,
                               "INSERT OR IGNORE INTO configs(model, detector, align, "
                               "normalization, dim) VALUES(?1, ?2, ?3, ?4, ?5)",
                               -1, &s, NULL) != SQLITE_OK) {
            st = fk_gallery_db_fail(g, "recording the configuration");
            fk_gallery_rollback(g);
            return st;
        }
        sqlite3_bind_text(s, 1, g->opt.model, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, g->opt.detector, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 3, g->opt.align);
        sqlite3_bind_text(s, 4, g->normalization, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 5, g->dim);
        rc = sqlite3_step(s);
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE) {
            st = fk_gallery_db_fail(g, "recording the configuration");
            fk_gallery_rollback(g);
            return st;
        }
        st = fk_gallery_commit(g);
        if (st != FK_OK) return st;
    }
    return fk_fail(FK_EIO, "%s: could not record the configuration", g->path);
}

/* The search method and ANN index kind (names checked, canonical static
 * strings kept), and the search threads. */
static fk_status resolve_search(fk_gallery *g) {
    const char *m = g->opt.search_method ? g->opt.search_method : "exact";
    const char *k = g->opt.ann_index ? g->opt.ann_index : "hnsw";
    if (!strcmp(m, "exact")) g->opt.search_method = "exact";
    else if (!strcmp(m, "ann")) g->opt.search_method = "ann";
    else
        return fk_fail(FK_EINVAL, "unknown search method '%s' (valid: exact, ann)", m);
    if (!strcmp(k, "hnsw")) {
        g->opt.ann_index = "hnsw";
        g->ann_kind = FK_FAISS_HNSW;
    } else if (!strcmp(k, "ivfpq")) {
        g->opt.ann_index = "ivfpq";
        g->ann_kind = FK_FAISS_IVFPQ;
    } else {
        return fk_fail(FK_EINVAL, "unknown ANN index '%s' (valid: hnsw, ivfpq)", k);
    }
    g->use_ann = !strcmp(g->opt.search_method, "ann");
    const char *env = getenv("FACEKIT_THREADS");
    long t = env && *env ? strtol(env, NULL, 10) : 0;
    if (t <= 0) t = sysconf(_SC_NPROCESSORS_ONLN);
    g->threads = t < 1 ? 1 : t > 256 ? 256 : (int)t;
    return FK_OK;
}

/* Canonical option names, the embedding size and the threshold. */
static fk_status resolve(fk_gallery *g, const fk_options *in) {
    fk_options_init(&g->opt);
    if (in) g->opt = *in;
    const fk_detector_def *det;
    const fk_recognizer_def *rec;
    fk_status st = fk_detector_find(g->opt.detector ? g->opt.detector : "ssd", &det);
    if (st == FK_OK) st = fk_recognizer_find(g->opt.model ? g->opt.model : "Dlib", &rec);
    if (st == FK_OK) st = fk_metric_name(g->opt.metric ? g->opt.metric : "cosine", &g->opt.metric);
    if (st != FK_OK) return st;
    g->opt.detector = det->name;
    g->opt.model = rec->name;
    g->opt.align = g->opt.align ? 1 : 0;
    g->opt.image_names[0] = g->opt.image_names[1] = NULL;
    g->dim = rec->dim;
    st = resolve_search(g);
    if (st != FK_OK) return st;
    /* Each recognizer has one fixed input normalization today; the column
     * is there so a second one never mixes with the first. */
    g->normalization = "base";
    if (g->opt.threshold > 0) g->threshold = g->opt.threshold;
    else return fk_threshold(g->opt.model, g->opt.metric, &g->threshold);
    return FK_OK;
}

/* Put the file in WAL mode (persistent, so usually already done). Switching
 * needs a moment alone with the file; another process opening it at the
 * same time is waited out, and one that switched it first is fine. */
static fk_status use_wal(fk_gallery *g) {
    for (int attempt = 0; attempt < 50; attempt++) {
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(g->db, attempt ? "PRAGMA journal_mode=WAL" : "PRAGMA journal_mode",
                               -1, &s, NULL) != SQLITE_OK)
            return fk_gallery_db_fail(g, "switching to WAL");
        int rc = sqlite3_step(s);
        int wal = rc == SQLITE_ROW &&
                  !strcmp((const char *)sqlite3_column_text(s, 0), "wal");
        sqlite3_finalize(s);
        if (wal) return FK_OK;
        if (rc != SQLITE_ROW && (sqlite3_errcode(g->db) & 0xff) != SQLITE_BUSY)
            return fk_gallery_db_fail(g, "switching to WAL");
        if (attempt) usleep(20000);
    }
    return fk_fail(FK_EIO, "%s: could not switch the gallery to WAL mode (another process "
                   "keeps it busy)", g->path);
}

fk_status fk_gallery_open(const char *path, const fk_options *opt, int flags,
                          fk_gallery **out) {
    fk_clear_error();
    if (!path || !*path || !out) return fk_fail(FK_EINVAL, "fk_gallery_open: path and out are required");
    *out = NULL;
    fk_gallery *g = calloc(1, sizeof *g);
    if (!g) return fk_fail(FK_ENOMEM, "out of memory");
    if (snprintf(g->path, sizeof g->path, "%s", path) >= (int)sizeof g->path) {
        free(g);
        return fk_fail(FK_EINVAL, "%s: path too long", path);
    }
    fk_status st = resolve(g, opt);
    int exists = 0;
    if (st == FK_OK) st = check_header(path, &exists);
    if (st == FK_OK && !exists && !(flags & FK_GALLERY_CREATE))
        st = fk_fail(FK_EIO, "%s: no such gallery (register a face or index a folder "
                     "to create it)", path);
    if (st != FK_OK) {
        free(g);
        return st;
    }
    int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX |
                 ((flags & FK_GALLERY_CREATE) ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &g->db, oflags, NULL) != SQLITE_OK) {
        st = g->db ? fk_gallery_db_fail(g, "opening")
                   : fk_fail(FK_ENOMEM, "%s: cannot open", path);
        fk_gallery_close(g);
        return st;
    }
    sqlite3_busy_timeout(g->db, 60000);
    st = check_schema(g, flags & FK_GALLERY_CREATE);
    /* WAL: readers and one writer at once; NORMAL sync is crash-safe for
     * the process (a kill loses nothing committed). */
    if (st == FK_OK) st = use_wal(g);
    if (st == FK_OK) st = exec(g, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON",
                               "setting pragmas");
    if (st == FK_OK) st = bind_config(g);
    if (st != FK_OK) {
        fk_gallery_close(g);
        return st;
    }
    *out = g;
    return FK_OK;
}

void fk_gallery_drop_cache(fk_gallery *g) {
    free(g->matrix);
    free(g->sqnorm);
    free(g->face_ids);
    free(g->image_ids);
    g->matrix = g->sqnorm = NULL;
    g->face_ids = g->image_ids = NULL;
    g->n = 0;
    g->cache_valid = 0;
}

void fk_gallery_close(fk_gallery *g) {
    if (!g) return;
    fk_gallery_drop_cache(g);
    fk_gallery_ann_free(g->ann);
    fk_pool_free(g->pool);
    if (g->db) sqlite3_close(g->db);
    free(g);
}

fk_status fk_gallery_identity_id(fk_gallery *g, const char *name, int64_t *id) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(g->db, "INSERT INTO identities(name) VALUES(?1) "
                           "ON CONFLICT(name) DO UPDATE SET name=name RETURNING id",
                           -1, &s, NULL) != SQLITE_OK)
        return fk_gallery_db_fail(g, "recording an identity");
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? FK_OK : fk_gallery_db_fail(g, "recording an identity");
}

/* Insert one face row of image_id. */
static fk_status put_face(fk_gallery *g, sqlite3_stmt *s, int64_t image_id, const fk_face *f) {
    if (f->embedding_dim != g->dim || !f->embedding)
        return fk_fail(FK_EINVAL, "%s: embedding of dimension %d, the gallery holds %d",
                       g->path, f->embedding_dim, g->dim);
    sqlite3_reset(s);
    sqlite3_bind_int64(s, 1, image_id);
    sqlite3_bind_double(s, 2, f->x);
    sqlite3_bind_double(s, 3, f->y);
    sqlite3_bind_double(s, 4, f->w);
    sqlite3_bind_double(s, 5, f->h);
    sqlite3_bind_double(s, 6, f->confidence);
    sqlite3_bind_int(s, 7, f->landmark_count > 0);
    sqlite3_bind_double(s, 8, f->left_eye.x);
    sqlite3_bind_double(s, 9, f->left_eye.y);
    sqlite3_bind_double(s, 10, f->right_eye.x);
    sqlite3_bind_double(s, 11, f->right_eye.y);
    sqlite3_bind_blob(s, 12, f->embedding, (int)(sizeof(float) * (size_t)g->dim), SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE) return fk_gallery_db_fail(g, "writing a face");
    return FK_OK;
}

fk_status fk_gallery_put_image(fk_gallery *g, const char *path, const char *identity,
                               int64_t size, int64_t mtime_ns, const unsigned char *hash,
                               int status, const fk_faces *faces, int64_t *face_id) {
    int64_t identity_id = 0, image_id = 0;
    fk_status st = fk_gallery_identity_id(g, identity, &identity_id);
    if (st != FK_OK) return st;
    sqlite3_stmt *s = NULL;
    /* Replacing the row drops its faces (ON DELETE CASCADE). */
    if (sqlite3_prepare_v2(g->db, "DELETE FROM images WHERE config_id=?1 AND path=?2", -1, &s,
                           NULL) != SQLITE_OK)
        return fk_gallery_db_fail(g, "replacing an image");
    sqlite3_bind_int64(s, 1, g->config_id);
    sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return fk_gallery_db_fail(g, "replacing an image");
    if (sqlite3_prepare_v2(g->db, "INSERT INTO images(config_id, identity_id, path, size, "
                           "mtime_ns, sha256, status) VALUES(?1,?2,?3,?4,?5,?6,?7) RETURNING id",
                           -1, &s, NULL) != SQLITE_OK)
        return fk_gallery_db_fail(g, "writing an image");
    sqlite3_bind_int64(s, 1, g->config_id);
    sqlite3_bind_int64(s, 2, identity_id);
    sqlite3_bind_text(s, 3, path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, size);
    sqlite3_bind_int64(s, 5, mtime_ns);
    if (hash) sqlite3_bind_blob(s, 6, hash, 32, SQLITE_STATIC);
    else sqlite3_bind_null(s, 6);
    sqlite3_bind_int(s, 7, status);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) image_id = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) return fk_gallery_db_fail(g, "writing an image");
    if (status != FK_IMG_OK || !faces || faces->count == 0) return FK_OK;
    if (sqlite3_prepare_v2(g->db, "INSERT INTO faces(image_id, x, y, w, h, confidence, "
                           "has_eyes, left_eye_x, left_eye_y, right_eye_x, right_eye_y, "
                           "embedding) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
                           -1, &s, NULL) != SQLITE_OK)
        return fk_gallery_db_fail(g, "writing a face");
    for (int i = 0; i < faces->count && st == FK_OK; i++) {
        st = put_face(g, s, image_id, &faces->faces[i]);
        if (st == FK_OK && i == 0 && face_id) *face_id = sqlite3_last_insert_rowid(g->db);
    }
    sqlite3_finalize(s);
    return st;
}

/* Run a one-row write: sql with ?1..?3 bound to a, b, c. */
static fk_status write3(fk_gallery *g, const char *sql, int64_t a, int64_t b, int64_t c,
                        const char *what) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(g->db, sql, -1, &s, NULL) != SQLITE_OK)
        return fk_gallery_db_fail(g, what);
    sqlite3_bind_int64(s, 1, a);
    sqlite3_bind_int64(s, 2, b);
    sqlite3_bind_int64(s, 3, c);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? FK_OK : fk_gallery_db_fail(g, what);
}

fk_status fk_gallery_touch_image(fk_gallery *g, int64_t image_id, int64_t size,
                                 int64_t mtime_ns) {
    return write3(g, "UPDATE images SET size=?2, mtime_ns=?3 WHERE id=?1", image_id, size,
                  mtime_ns, "updating an image");
}

fk_status fk_gallery_delete_image(fk_gallery *g, int64_t image_id) {
    return write3(g, "DELETE FROM images WHERE id=?1 AND ?2=?3", image_id, 0, 0,
                  "removing an image");
}

fk_status fk_gallery_count_faces(fk_gallery *g, int *count) {
    int64_t n = 0;
    fk_status st = query_int(g, "SELECT count(*) FROM faces JOIN images ON faces.image_id="
                             "images.id WHERE images.config_id=?1", g->config_id, &n);
    *count = (int)n;
    return st;
}

void fk_gallery_identity_from_path(const char *rel, char *buf, size_t cap) {
    const char *slash = strchr(rel, '/');
    size_t len;
    if (slash) {
        len = (size_t)(slash - rel);
    } else {
        const char *dot = strrchr(rel, '.');
        len = dot && dot != rel ? (size_t)(dot - rel) : strlen(rel);
        size_t full = len;
        while (len > 0 && strchr("0123456789_-. ", rel[len - 1])) len--;
        if (len == 0) len = full; /* "0001.jpg": keep the name as it is */
    }
    if (len >= cap) len = cap - 1;
    memcpy(buf, rel, len);
    buf[len] = '\0';
}

fk_status fk_gallery_list(fk_gallery *g, fk_gallery_identity **items, int *count) {
    fk_clear_error();
    if (!g || !items || !count) return fk_fail(FK_EINVAL, "fk_gallery_list: bad arguments");
    *items = NULL;
    *count = 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(g->db,
                           "SELECT n.name, count(DISTINCT i.id), count(f.id) FROM identities n "
                           "JOIN images i ON i.identity_id=n.id AND i.config_id=?1 "
                           "LEFT JOIN faces f ON f.image_id=i.id "
                           "GROUP BY n.id ORDER BY n.name",
                           -1, &s, NULL) != SQLITE_OK)
        return fk_gallery_db_fail(g, "listing identities");
    sqlite3_bind_int64(s, 1, g->config_id);
    fk_status st = FK_OK;
    int cap = 0, n = 0, rc;
    fk_gallery_identity *list = NULL;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            fk_gallery_identity *grown = realloc(list, (size_t)cap * sizeof *list);
            if (!grown) {
                st = fk_fail(FK_ENOMEM, "out of memory");
                break;
            }
            list = grown;
        }
        const char *name = (const char *)sqlite3_column_text(s, 0);
        list[n].name = strdup(name ? name : "");
        list[n].images = sqlite3_column_int(s, 1);
        list[n].faces = sqlite3_column_int(s, 2);
        if (!list[n].name) {
            st = fk_fail(FK_ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    if (st == FK_OK && rc != SQLITE_DONE) st = fk_gallery_db_fail(g, "listing identities");
    sqlite3_finalize(s);
    if (st != FK_OK) {
        fk_gallery_identities_free(list, n);
        return st;
    }
    *items = list;
    *count = n;
    return FK_OK;
}

void fk_gallery_identities_free(fk_gallery_identity *items, int count) {
    for (int i = 0; items && i < count; i++) free(items[i].name);
    free(items);
}

fk_status fk_gallery_remove(fk_gallery *g, const char *identity, int *faces_removed) {
    fk_clear_error();
    if (!g || !identity) return fk_fail(FK_EINVAL, "fk_gallery_remove: bad arguments");
    int64_t id = 0, faces = 0;
    fk_status st = fk_gallery_begin(g);
    if (st != FK_OK) return st;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(g->db, "SELECT id FROM identities WHERE name=?1", -1, &s, NULL) !=
        SQLITE_OK) {
        st = fk_gallery_db_fail(g, "removing an identity");
        fk_gallery_rollback(g);
        return st;
    }
    sqlite3_bind_text(s, 1, identity, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) id = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE)
        st = fk_fail(FK_EINVAL, "%s: no identity '%s' in the gallery", g->path, identity);
    else if (rc != SQLITE_ROW) st = fk_gallery_db_fail(g, "removing an identity");
    if (st == FK_OK)
        st = query_int(g, "SELECT count(*) FROM faces JOIN images ON faces.image_id=images.id "
                       "WHERE images.identity_id=?1", id, &faces);
    if (st == FK_OK)
        st = write3(g, "DELETE FROM images WHERE identity_id=?1 AND ?2=?3", id, 0, 0,
                    "removing an identity");
    if (st == FK_OK)
        st = write3(g, "DELETE FROM identities WHERE id=?1 AND ?2=?3", id, 0, 0,
                    "removing an identity");
    if (st == FK_OK) st = fk_gallery_commit(g);
    else fk_gallery_rollback(g);
    if (st == FK_OK && faces_removed) *faces_removed = (int)faces;
    return st;
}

fk_status fk_gallery_stats_get(fk_gallery *g, fk_gallery_stats *out) {
    fk_clear_error();
    if (!g || !out) return fk_fail(FK_EINVAL, "fk_gallery_stats_get: bad arguments");
    memset(out, 0, sizeof *out);
    out->model = g->opt.model;
    out->detector = g->opt.detector;
    out->normalization = g->normalization;
    out->align = g->opt.align;
    out->dim = g->dim;
    int64_t v[6] = {0};
    fk_status st = query_int(g, "SELECT count(DISTINCT identity_id) FROM images WHERE "
                             "config_id=?1", g->config_id, &v[0]);
    if (st == FK_OK)
        st = query_int(g, "SELECT count(*) FROM images WHERE config_id=?1", g->config_id, &v[1]);
    if (st == FK_OK)
        st = query_int(g, "SELECT count(*) FROM images WHERE config_id=?1 AND status=1",
                       g->config_id, &v[2]);
    if (st == FK_OK)
        st = query_int(g, "SELECT count(*) FROM images WHERE config_id=?1 AND status=2",
                       g->config_id, &v[3]);
    if (st == FK_OK) st = query_int(g, "SELECT count(*) FROM configs", 0, &v[4]);
    if (st == FK_OK) st = fk_gallery_count_faces(g, &out->faces);
    if (st != FK_OK) return st;
    out->identities = (int)v[0];
    out->images = (int)v[1];
    out->no_face = (int)v[2];
    out->unreadable = (int)v[3];
    out->configurations = (int)v[4];
    struct stat sb;
    if (stat(g->path, &sb) == 0) out->file_bytes = sb.st_size;
    return FK_OK;
}

fk_status fk_gallery_register(fk_gallery *g, fk_context *ctx, const fk_image *img,
                              const char *identity, const char *source, int64_t *face_id) {
    fk_clear_error();
    if (!g || !ctx || !img || !identity || !*identity)
        return fk_fail(FK_EINVAL, "fk_gallery_register: gallery, context, image and a "
                       "non-empty identity are required");
    if (!source) source = "image";
    fk_faces faces = {0};
    fk_options o = g->opt;
    o.image_names[0] = source;
    fk_status st = fk_represent(ctx, img, &o, &faces);
    if (st == FK_OK && faces.count == 0)
        st = fk_fail(FK_ENOFACE, "%s: no face detected", source);
    if (st != FK_OK) return st;
    /* The most confident face (fk_represent sorts by confidence). */
    fk_faces first = {faces.faces, 1};
    int64_t id = 0;
    st = fk_gallery_begin(g);
    if (st == FK_OK)
        st = fk_gallery_put_image(g, source, identity, 0, 0, NULL, FK_IMG_OK, &first, &id);
    if (st == FK_OK) st = fk_gallery_commit(g);
    else fk_gallery_rollback(g);
    fk_faces_free(&faces);
    if (st == FK_OK && face_id) *face_id = id;
    return st;
}
