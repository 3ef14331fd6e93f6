/*
 * gallery_sqlite.c - the SQLite gallery backend: one file, opened, created
 * and validated here, with the writes, reads and counts the gallery layer
 * needs (see fk_gallery_backend in gallery.h).
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
 * a killed writer leaves the last committed state. The generation is
 * PRAGMA data_version, which changes when another connection commits.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "gallery/gallery.h"

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

fk_status fk__gallery_db_fail(fk_gallery *g, const char *what) {
    int code = sqlite3_extended_errcode(g->db) & 0xff;
    fk_status st = code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? FK_EFORMAT
                   : code == SQLITE_NOMEM                          ? FK_ENOMEM
                                                                   : FK_EIO;
    if (st == FK_EFORMAT)
        return fk__fail(st, "%s: %s: %s (the gallery file is damaged; delete it to "
                       "rebuild the index)", g->path, what, sqlite3_errmsg(g->db));
    return fk__fail(st, "%s: %s: %s", g->path, what, sqlite3_errmsg(g->db));
}

/* Run SQL without results. */
static fk_status exec(fk_gallery *g, const char *sql, const char *what) {
    if (sqlite3_exec(g->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return fk__gallery_db_fail(g, what);
    return FK_OK;
}

/* A single integer from SQL (a PRAGMA or a COUNT); bind1 > 0 binds ?1. */
static fk_status query_int(fk_gallery *g, const char *sql, int64_t bind1, int64_t *out) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(g->db, sql, -1, &s, NULL) != SQLITE_OK)
        return fk__gallery_db_fail(g, "reading");
    if (bind1 > 0) sqlite3_bind_int64(s, 1, bind1);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int64(s, 0);
    else if (rc == SQLITE_DONE) *out = 0;
    fk_status st = rc == SQLITE_ROW || rc == SQLITE_DONE ? FK_OK
                                                         : fk__gallery_db_fail(g, "reading");
    sqlite3_finalize(s);
    return st;
}

static fk_status sq_begin(fk_gallery *g) {
    return exec(g, "BEGIN IMMEDIATE", "starting a transaction");
}

static void sq_rollback(fk_gallery *g) {
    if (!sqlite3_get_autocommit(g->db)) sqlite3_exec(g->db, "ROLLBACK", NULL, NULL, NULL);
}

static fk_status sq_commit(fk_gallery *g) {
    fk_status st = exec(g, "COMMIT", "committing");
    if (st != FK_OK) sq_rollback(g);
    return st;
}

/* Refuse anything but an SQLite file before SQLite sees it: SQLite only
 * notices a foreign file at the first read, with a vaguer message. An
 * empty file is a new database. */
static fk_status check_header(const char *path, int *exists) {
    *exists = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return FK_OK;
        return fk__fail(FK_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    *exists = 1;
    char head[16];
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    if (got == 0) return FK_OK;
    if (got < sizeof head || memcmp(head, "SQLite format 3", 16) != 0)
        return fk__fail(FK_EFORMAT, "%s: not a facekit gallery (not an SQLite database); "
                       "refusing to use it", path);
    return FK_OK;
}

/* Check the file is ours and of a schema we read, creating the schema in a
 * fresh (table-less) file when `create`. */
static fk_status check_schema(fk_gallery *g, int create) {
    int64_t app = 0, version = 0, tables = 0;
    /* Both reads in one read transaction: read apart, they could straddle
     * another process's schema creation (no application id yet, then its
     * tables) and take our own new gallery for a foreign database. */
    fk_status st = exec(g, "BEGIN", "reading the schema");
    if (st != FK_OK) return st;
    /* the SELECT first: it surely starts the transaction's snapshot */
    st = query_int(g, "SELECT count(*) FROM sqlite_master", 0, &tables);
    if (st == FK_OK) st = query_int(g, "PRAGMA application_id", 0, &app);
    if (st == FK_OK) st = exec(g, "COMMIT", "reading the schema");
    else sq_rollback(g);
    if (st != FK_OK) return st;
    if (app == 0 && tables == 0) {
        if (!create)
            return fk__fail(FK_EFORMAT, "%s: an empty database, not a facekit gallery", g->path);
        /* Two processes may race to create: the loser re-checks inside
         * the write lock and finds the schema there. */
        st = sq_begin(g);
        if (st != FK_OK) return st;
        st = query_int(g, "SELECT count(*) FROM sqlite_master", 0, &tables);
        if (st == FK_OK && tables == 0) {
            char pragmas[128];
            snprintf(pragmas, sizeof pragmas, "PRAGMA application_id=%d; PRAGMA user_version=%d;",
                     FK_GALLERY_APP_ID, FK_GALLERY_SCHEMA);
            st = exec(g, SCHEMA, "creating the schema");
            if (st == FK_OK) st = exec(g, pragmas, "creating the schema");
        }
        if (st == FK_OK) st = sq_commit(g);
        else sq_rollback(g);
        if (st != FK_OK) return st;
        st = query_int(g, "PRAGMA application_id", 0, &app);
        if (st != FK_OK) return st;
    }
    if (app != FK_GALLERY_APP_ID)
        return fk__fail(FK_EFORMAT, "%s: an SQLite database of another application, not a "
                       "facekit gallery; refusing to touch it", g->path);
    st = query_int(g, "PRAGMA user_version", 0, &version);
    if (st != FK_OK) return st;
    if (version != FK_GALLERY_SCHEMA)
        return fk__fail(FK_EFORMAT, "%s: gallery schema version %lld, this facekit reads "
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
            return fk__gallery_db_fail(g, "reading the configuration");
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
                return fk__fail(FK_EFORMAT, "%s: configuration %s/%s has embeddings of "
                               "dimension %d, the model gives %d", g->path, g->opt.model,
                               g->opt.detector, dim, g->dim);
            return FK_OK;
        }
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE) return fk__gallery_db_fail(g, "reading the configuration");
        if (attempt) break;
        fk_status st = sq_begin(g);
        if (st != FK_OK) return st;
        if (sqlite3_prepare_v2(g->db,
                               "INSERT OR IGNORE INTO configs(model, detector, align, "
                               "normalization, dim) VALUES(?1, ?2, ?3, ?4, ?5)",
                               -1, &s, NULL) != SQLITE_OK) {
            st = fk__gallery_db_fail(g, "recording the configuration");
            sq_rollback(g);
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
            st = fk__gallery_db_fail(g, "recording the configuration");
            sq_rollback(g);
            return st;
        }
        st = sq_commit(g);
        if (st != FK_OK) return st;
    }
    return fk__fail(FK_EIO, "%s: could not record the configuration", g->path);
}

/* Put the file in WAL mode (persistent, so usually already done). Switching
 * needs a moment alone with the file; another process opening it at the
 * same time is waited out, and one that switched it first is fine. */
static fk_status use_wal(fk_gallery *g) {
    for (int attempt = 0; attempt < 50; attempt++) {
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(g->db, attempt ? "PRAGMA journal_mode=WAL" : "PRAGMA journal_mode",
                               -1, &s, NULL) != SQLITE_OK)
            return fk__gallery_db_fail(g, "switching to WAL");
        int rc = sqlite3_step(s);
        int wal = rc == SQLITE_ROW &&
                  !strcmp((const char *)sqlite3_column_text(s, 0), "wal");
        sqlite3_finalize(s);
        if (wal) return FK_OK;
        if (rc != SQLITE_ROW && (sqlite3_errcode(g->db) & 0xff) != SQLITE_BUSY)
            return fk__gallery_db_fail(g, "switching to WAL");
        if (attempt) usleep(20000);
    }
    return fk__fail(FK_EIO, "%s: could not switch the gallery to WAL mode (another process "
                   "keeps it busy)", g->path);
}

/* Open the file at `location` (g->path holds the same path). */
static fk_status sq_open(fk_gallery *g, const char *location) {
    int exists = 0;
    fk_status st = check_header(location, &exists);
    if (st != FK_OK) return st;
    if (!exists && !g->gopt.create)
        return fk__fail(FK_EIO, "%s: no such gallery (register a face or index a folder "
                       "to create it)", location);
    int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX |
                 (g->gopt.create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(location, &g->db, oflags, NULL) != SQLITE_OK)
        return g->db ? fk__gallery_db_fail(g, "opening")
                     : fk__fail(FK_ENOMEM, "%s: cannot open", location);
    sqlite3_busy_timeout(g->db, 60000);
    st = check_schema(g, g->gopt.create);
    /* WAL: readers and one writer at once; NORMAL sync is crash-safe for
     * the process (a kill loses nothing committed). */
    if (st == FK_OK) st = use_wal(g);
    if (st == FK_OK) st = exec(g, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON",
                               "setting pragmas");
    if (st == FK_OK) st = bind_config(g);
    return st;
}

static void sq_close(fk_gallery *g) {
    if (g->db) sqlite3_close(g->db);
    g->db = NULL;
}

/* ---- writes ------------------------------------------------------------- */

/* The id of identity `name`, created if needed (inside a transaction). */
static fk_status lookup_identity(fk_gallery *g, const char *name, int64_t *id) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(g->db, "INSERT INTO identities(name) VALUES(?1) "
                           "ON CONFLICT(name) DO UPDATE SET name=name RETURNING id",
                           -1, &s, NULL) != SQLITE_OK)
        return fk__gallery_db_fail(g, "recording an identity");
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? FK_OK : fk__gallery_db_fail(g, "recording an identity");
}

/* Insert one face row of image_id. */
static fk_status put_face(fk_gallery *g, sqlite3_stmt *s, int64_t image_id, const fk_face *f) {
    if (f->embedding_dim != g->dim || !f->embedding)
        return fk__fail(FK_EINVAL, "%s: embedding of dimension %d, the gallery holds %d",
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
    if (sqlite3_step(s) != SQLITE_DONE) return fk__gallery_db_fail(g, "writing a face");
    return FK_OK;
}

static fk_status sq_put_image(fk_gallery *g, const char *path, const char *identity,
                               int64_t size, int64_t mtime_ns, const unsigned char *hash,
                               int status, const fk_faces *faces, int64_t *face_ids) {
    int64_t identity_id = 0, image_id = 0;
    fk_status st = lookup_identity(g, identity, &identity_id);
    if (st != FK_OK) return st;
    sqlite3_stmt *s = NULL;
    /* Replacing the row drops its faces (ON DELETE CASCADE). */
    if (sqlite3_prepare_v2(g->db, "DELETE FROM images WHERE config_id=?1 AND path=?2", -1, &s,
                           NULL) != SQLITE_OK)
        return fk__gallery_db_fail(g, "replacing an image");
    sqlite3_bind_int64(s, 1, g->config_id);
    sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return fk__gallery_db_fail(g, "replacing an image");
    if (sqlite3_prepare_v2(g->db, "INSERT INTO images(config_id, identity_id, path, size, "
                           "mtime_ns, sha256, status) VALUES(?1,?2,?3,?4,?5,?6,?7) RETURNING id",
                           -1, &s, NULL) != SQLITE_OK)
        return fk__gallery_db_fail(g, "writing an image");
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
    if (rc != SQLITE_ROW) return fk__gallery_db_fail(g, "writing an image");
    if (status != FK_IMG_OK || !faces || faces->count == 0) return FK_OK;
    if (sqlite3_prepare_v2(g->db, "INSERT INTO faces(image_id, x, y, w, h, confidence, "
                           "has_eyes, left_eye_x, left_eye_y, right_eye_x, right_eye_y, "
                           "embedding) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
                           -1, &s, NULL) != SQLITE_OK)
        return fk__gallery_db_fail(g, "writing a face");
    for (int i = 0; i < faces->count && st == FK_OK; i++) {
        st = put_face(g, s, image_id, &faces->faces[i]);
        if (st == FK_OK && face_ids) face_ids[i] = sqlite3_last_insert_rowid(g->db);
    }
    sqlite3_finalize(s);
    return st;
}

/* Run a one-row write: sql with ?1..?3 bound to a, b, c. */
static fk_status write3(fk_gallery *g, const char *sql, int64_t a, int64_t b, int64_t c,
                        const char *what) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(g->db, sql, -1, &s, NULL) != SQLITE_OK)
        return fk__gallery_db_fail(g, what);
    sqlite3_bind_int64(s, 1, a);
    sqlite3_bind_int64(s, 2, b);
    sqlite3_bind_int64(s, 3, c);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? FK_OK : fk__gallery_db_fail(g, what);
}

static fk_status sq_touch_image(fk_gallery *g, int64_t image_id, int64_t size,
                                int64_t mtime_ns) {
    return write3(g, "UPDATE images SET size=?2, mtime_ns=?3 WHERE id=?1", image_id, size,
                  mtime_ns, "updating an image");
}

static fk_status sq_delete_image(fk_gallery *g, int64_t image_id) {
    return write3(g, "DELETE FROM images WHERE id=?1 AND ?2=?3", image_id, 0, 0,
                  "removing an image");
}

static fk_status sq_count_faces(fk_gallery *g, int *count) {
    int64_t n = 0;
    fk_status st = query_int(g, "SELECT count(*) FROM faces JOIN images ON faces.image_id="
                             "images.id WHERE images.config_id=?1", g->config_id, &n);
    *count = (int)n;
    return st;
}

/* ---- reads -------------------------------------------------------------- */

static char *column_dup(sqlite3_stmt *s, int col) {
    const char *t = (const char *)sqlite3_column_text(s, col);
    return strdup(t ? t : "");
}

static fk_status sq_find_hash(fk_gallery *g, const unsigned char *hash, int64_t *image_id,
                              char **identity, char **path) {
    *image_id = 0;
    *identity = *path = NULL;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(g->db, "SELECT i.id, n.name, i.path FROM images i JOIN identities n "
                           "ON i.identity_id=n.id WHERE i.config_id=?1 AND i.sha256=?2 "
                           "ORDER BY i.id LIMIT 1", -1, &s, NULL) != SQLITE_OK)
        return fk__gallery_db_fail(g, "looking for the image");
    sqlite3_bind_int64(s, 1, g->config_id);
    sqlite3_bind_blob(s, 2, hash, 32, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    fk_status st = FK_OK;
    if (rc == SQLITE_ROW) {
        *image_id = sqlite3_column_int64(s, 0);
        *identity = column_dup(s, 1);
        *path = column_dup(s, 2);
        if (!*identity || !*path) st = fk__fail(FK_ENOMEM, "out of memory");
    } else if (rc != SQLITE_DONE) {
        st = fk__gallery_db_fail(g, "looking for the image");
    }
    sqlite3_finalize(s);
    return st;
}

static fk_status sq_path_taken(fk_gallery *g, const char *path, int *taken) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(g->db, "SELECT 1 FROM images WHERE config_id=?1 AND path=?2", -1, &s,
                           NULL) != SQLITE_OK)
        return fk__gallery_db_fail(g, "looking for the image");
    sqlite3_bind_int64(s, 1, g->config_id);
    sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fk__gallery_db_fail(g, "looking for the image");
    *taken = rc == SQLITE_ROW;
    return FK_OK;
}

static fk_status sq_other_configs(fk_gallery *g, fk__gallery_config_faces *out, int cap,
                                  int *count) {
    *count = 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(g->db, "SELECT c.model, c.detector, c.align, count(f.id) AS n, "
                           "c.normalization FROM configs c JOIN images i ON i.config_id=c.id JOIN faces f ON "
                           "f.image_id=i.id WHERE c.id<>?1 GROUP BY c.id ORDER BY n DESC, c.id",
                           -1, &s, NULL) != SQLITE_OK)
        return fk__gallery_db_fail(g, "reading the configurations");
    sqlite3_bind_int64(s, 1, g->config_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*count < cap) {
            fk__gallery_config_faces *c = &out[*count];
            const char *m = (const char *)sqlite3_column_text(s, 0);
            const char *d = (const char *)sqlite3_column_text(s, 1);
            snprintf(c->model, sizeof c->model, "%s", m ? m : "");
            snprintf(c->detector, sizeof c->detector, "%s", d ? d : "");
            c->align = sqlite3_column_int(s, 2);
            c->faces = sqlite3_column_int(s, 3);
            const char *nm = (const char *)sqlite3_column_text(s, 4);
            snprintf(c->normalization, sizeof c->normalization, "%s", nm ? nm : "base");
        }
        (*count)++;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? FK_OK : fk__gallery_db_fail(g, "reading the configurations");
}

static fk_status sq_list(fk_gallery *g, fk_gallery_identities *out) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(g->db,
                           "SELECT n.name, count(DISTINCT i.id), count(f.id) FROM identities n "
                           "JOIN images i ON i.identity_id=n.id AND i.config_id=?1 "
                           "LEFT JOIN faces f ON f.image_id=i.id "
                           "GROUP BY n.id ORDER BY n.name",
                           -1, &s, NULL) != SQLITE_OK)
        return fk__gallery_db_fail(g, "listing identities");
    sqlite3_bind_int64(s, 1, g->config_id);
    fk_status st = FK_OK;
    int cap = 0, n = 0, rc;
    fk_gallery_identity *list = NULL;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            fk_gallery_identity *grown = realloc(list, (size_t)cap * sizeof *list);
            if (!grown) {
                st = fk__fail(FK_ENOMEM, "out of memory");
                break;
            }
            list = grown;
        }
        const char *name = (const char *)sqlite3_column_text(s, 0);
        list[n].name = strdup(name ? name : "");
        list[n].images = sqlite3_column_int(s, 1);
        list[n].faces = sqlite3_column_int(s, 2);
        if (!list[n].name) {
            st = fk__fail(FK_ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    if (st == FK_OK && rc != SQLITE_DONE) st = fk__gallery_db_fail(g, "listing identities");
    sqlite3_finalize(s);
    out->items = list;
    out->count = n;
    if (st != FK_OK) fk_gallery_identities_free(out);
    return st;
}

static fk_status sq_remove(fk_gallery *g, const char *identity, int *faces_removed) {
    int64_t id = 0, faces = 0;
    fk_status st = fk__gallery_begin(g);
    if (st != FK_OK) return st;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(g->db, "SELECT id FROM identities WHERE name=?1", -1, &s, NULL) !=
        SQLITE_OK) {
        st = fk__gallery_db_fail(g, "removing an identity");
        fk__gallery_rollback(g);
        return st;
    }
    sqlite3_bind_text(s, 1, identity, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) id = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE)
        st = fk__fail(FK_EINVAL, "%s: no identity '%s' in the gallery", g->path, identity);
    else if (rc != SQLITE_ROW) st = fk__gallery_db_fail(g, "removing an identity");
    if (st == FK_OK)
        st = query_int(g, "SELECT count(*) FROM faces JOIN images ON faces.image_id=images.id "
                       "WHERE images.identity_id=?1", id, &faces);
    if (st == FK_OK)
        st = write3(g, "DELETE FROM images WHERE identity_id=?1 AND ?2=?3", id, 0, 0,
                    "removing an identity");
    if (st == FK_OK)
        st = write3(g, "DELETE FROM identities WHERE id=?1 AND ?2=?3", id, 0, 0,
                    "removing an identity");
    if (st == FK_OK) st = fk__gallery_commit(g);
    else fk__gallery_rollback(g);
    if (st == FK_OK && faces_removed) *faces_removed = (int)faces;
    return st;
}

static fk_status sq_stats(fk_gallery *g, fk_gallery_stats *out) {
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
    if (st == FK_OK) st = sq_count_faces(g, &out->faces);
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


/* ---- search rows ------------------------------------------------------- */

/* PRAGMA data_version: changes when another connection commits (this
 * handle's own commits clear g->cache_valid instead). */
static fk_status sq_generation(fk_gallery *g, int64_t *gen) {
    return query_int(g, "PRAGMA data_version", 0, gen);
}

/* Read this configuration's embeddings into a new matrix; count and rows
 * in one read transaction so they agree even while another process
 * writes. */
static fk_status sq_load_rows(fk_gallery *g, int64_t *gen) {
    if (sqlite3_exec(g->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return fk__gallery_db_fail(g, "loading embeddings");
    int count = 0;
    sqlite3_stmt *s = NULL;
    fk_status st = sq_generation(g, gen);
    if (st == FK_OK) st = sq_count_faces(g, &count);
    if (st == FK_OK) st = fk__gallery_alloc_rows(g, count);
    if (st == FK_OK &&
        sqlite3_prepare_v2(g->db, "SELECT f.id, f.image_id, f.embedding FROM faces f JOIN "
                           "images i ON f.image_id=i.id WHERE i.config_id=?1 ORDER BY f.id",
                           -1, &s, NULL) != SQLITE_OK)
        st = fk__gallery_db_fail(g, "loading embeddings");
    if (st != FK_OK) {
        sqlite3_exec(g->db, "COMMIT", NULL, NULL, NULL);
        return st;
    }
    sqlite3_bind_int64(s, 1, g->config_id);
    int n = 0, rc;
    const int want = (int)(g->dim * sizeof(float));
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < count) {
        const void *blob = sqlite3_column_blob(s, 2);
        int bytes = sqlite3_column_bytes(s, 2);
        if (!blob || bytes != want) {
            st = fk__fail(FK_EFORMAT, "%s: face %lld has an embedding of %d bytes, expected "
                         "%d (the gallery file is damaged)", g->path,
                         (long long)sqlite3_column_int64(s, 0), bytes, want);
            break;
        }
        memcpy(g->matrix + (size_t)n * g->dim, blob, (size_t)bytes);
        g->face_ids[n] = sqlite3_column_int64(s, 0);
        g->image_ids[n] = sqlite3_column_int64(s, 1);
        n++;
    }
    if (st == FK_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
        st = fk__gallery_db_fail(g, "loading embeddings");
    sqlite3_finalize(s);
    sqlite3_exec(g->db, "COMMIT", NULL, NULL, NULL);
    g->n = n;
    return st;
}

/* Fill the matches from the face rows, one statement for all. */
static fk_status sq_fetch_matches(fk_gallery *g, const int64_t *face_ids, int count,
                                  fk_gallery_match *matches) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(g->db, "SELECT i.id, i.path, n.name, i.sha256, f.x, f.y, f.w, f.h, "
                           "f.confidence, f.has_eyes, f.left_eye_x, f.left_eye_y, "
                           "f.right_eye_x, f.right_eye_y FROM faces f JOIN images i ON "
                           "f.image_id=i.id JOIN identities n ON i.identity_id=n.id "
                           "WHERE f.id=?1",
                           -1, &s, NULL) != SQLITE_OK)
        return fk__gallery_db_fail(g, "reading matches");
    fk_status st = FK_OK;
    for (int k = 0; k < count && st == FK_OK; k++) {
        fk_gallery_match *m = &matches[k];
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, face_ids[k]);
        if (sqlite3_step(s) != SQLITE_ROW) {
            st = fk__gallery_db_fail(g, "reading a match");
            break;
        }
        m->face_id = face_ids[k];
        m->image_id = sqlite3_column_int64(s, 0);
        const char *path = (const char *)sqlite3_column_text(s, 1);
        m->path = strdup(path ? path : "");
        const char *name = (const char *)sqlite3_column_text(s, 2);
        m->identity = strdup(name ? name : "");
        const unsigned char *hash = sqlite3_column_blob(s, 3);
        if (hash && sqlite3_column_bytes(s, 3) == 32)
            for (int i = 0; i < 32; i++) snprintf(m->hash + 2 * i, 3, "%02x", hash[i]);
        fk_face *f = &m->area;
        f->x = (float)sqlite3_column_double(s, 4);
        f->y = (float)sqlite3_column_double(s, 5);
        f->w = (float)sqlite3_column_double(s, 6);
        f->h = (float)sqlite3_column_double(s, 7);
        f->confidence = (float)sqlite3_column_double(s, 8);
        m->has_eyes = sqlite3_column_int(s, 9);
        f->left_eye = (fk_point){(float)sqlite3_column_double(s, 10),
                                 (float)sqlite3_column_double(s, 11)};
        f->right_eye = (fk_point){(float)sqlite3_column_double(s, 12),
                                  (float)sqlite3_column_double(s, 13)};
        if (!m->path || !m->identity) st = fk__fail(FK_ENOMEM, "out of memory");
    }
    sqlite3_finalize(s);
    return st;
}

const fk_gallery_backend fk__gallery_sqlite_backend = {
    .name = "sqlite",
    .can_index = 1,
    .local_file = 1,
    .open = sq_open,
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .put_image = sq_put_image,
    .touch_image = sq_touch_image,
    .delete_image = sq_delete_image,
    .count_faces = sq_count_faces,
    .find_hash = sq_find_hash,
    .path_taken = sq_path_taken,
    .other_configs = sq_other_configs,
    .list = sq_list,
    .remove = sq_remove,
    .stats = sq_stats,
    .generation = sq_generation,
    .load_rows = sq_load_rows,
    .fetch_matches = sq_fetch_matches,
};
