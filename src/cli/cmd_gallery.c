/*
 * cmd_gallery.c - 1:N recognition commands:
 *
 *   facekit find IMG --db DIR [--top-k K]       index DIR (incremental) and
 *                                               rank its faces against IMG
 *   facekit register IMG [--id NAME] [--db F]   add IMG's faces to a gallery
 *   facekit search IMG [--db F] [--top-k K]     rank a gallery against IMG
 *     (find and search: --search-method exact|ann, --ann hnsw|ivfpq)
 *   facekit gallery list|stats [--db F]
 *   facekit gallery remove NAME [--db F]
 * F is a gallery file (default gallery.db) or a postgresql:// URI.
 *
 * Output is JSON with deepface's field names where deepface has the concept
 * (find's identity/hash/target_x../source_x../threshold/distance/
 * confidence). Matches are every face within the threshold (as deepface's
 * find), closest first; --top-k caps them. find's identity is the matched
 * image's path (DIR joined with the file, as deepface), its person's name
 * the extra field `name`; search's identity is the registered name (what
 * deepface's register calls img_name) and `source` the image it came from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

#define DEFAULT_GALLERY "gallery.db"
#define INDEX_NAME "facekit-index.sqlite"

static int usage(const char *text) {
    fprintf(stderr, "facekit: usage: %s\n", text);
    return 2;
}

/* ---- progress and warnings while indexing ------------------------------- */

typedef struct progress_state {
    int bar;           /* draw a bar (stderr is a terminal, not --quiet) */
    int warnings;
    int quiet;
    double t0;
} progress_state;

static int on_progress(void *user, int done, int total, int committed) {
    progress_state *p = user;
    (void)committed;
    if (!p->bar) return 0;
    char bar[31];
    int filled = total ? (int)((long long)done * 30 / total) : 30;
    for (int i = 0; i < 30; i++) bar[i] = i < filled ? '#' : '.';
    bar[30] = '\0';
    double el = cli_now_s() - p->t0;
    fprintf(stderr, "\r\033[Kindexing [%s] %d/%d images", bar, done, total);
    if (done > 0 && done < total) {
        double left = el / done * (total - done);
        fprintf(stderr, ", %dm%02ds left", (int)left / 60, (int)left % 60);
    }
    fflush(stderr);
    return 0;
}

static void on_warn(void *user, const char *msg) {
    progress_state *p = user;
    p->warnings++;
    if (p->quiet) return;
    if (p->bar) fputs("\r\033[K", stderr);
    fprintf(stderr, "facekit: warning: %s\n", msg);
}

/* ---- JSON --------------------------------------------------------------- */

/* Which method answered (the first face's; all faces of one call are
 * answered alike), and a warning when the ANN index file was not usable. */
static void method_json(fk_gallery *g, const fk_gallery_results *r, const cli_args *a,
                        json_t *o) {
    const char *method = r->count > 0 ? r->items[0].method : NULL;
    if (!method) method = a->search_method ? a->search_method : "exact";
    json_object_set_new(o, "search_method", json_string(method));
    fk_gallery_ann_info info;
    if (fk_gallery_get_ann_info(g, &info) == FK_OK && info.note[0] && !a->quiet)
        fprintf(stderr, "facekit: warning: %s\n", info.note);
}

/* The gallery's own options from --search-method and --ann; create: the
 * command may create the gallery. Returns go. */
static const fk_gallery_options *gallery_options(const cli_args *a, int create,
                                                 fk_gallery_options *go) {
    fk_gallery_options_init(go);
    go->create = create;
    if (a->search_method) go->search_method = a->search_method;
    if (a->ann_index) go->ann_index = a->ann_index;
    return go;
}

/* ---- commands ----------------------------------------------------------- */

int cmd_find(cli_args *a) {
    if (a->npositional != 1 || !a->db_path)
        return usage("facekit find IMG --db DIR [--top-k K] [--search-method exact|ann] "
                     "[options]");
    double t0 = cli_now_s();
    struct stat sb;
    if (stat(a->db_path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "facekit: %s: not a folder (find indexes the images of a folder)\n",
                a->db_path);
        return 1;
    }
    /* Without a trailing slash, so file names print cleanly. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", a->db_path);
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dir[--dl] = '\0';
    char index_path[4200];
    snprintf(index_path, sizeof index_path, "%s/%s", dir, INDEX_NAME);

    int rc = 0;
    fk_context *ctx = NULL;
    fk_gallery *g = NULL;
    fk_image *img = NULL;
    fk_gallery_results res = {0};
    fk_gallery_options go;
    fk_gallery_index_stats st;
    progress_state ps = {isatty(2) && !a->quiet, 0, a->quiet, cli_now_s()};
    fk_gallery_index_options io;
    fk_gallery_index_options_init(&io);
    io.threads = a->threads;
    io.max_pixels = a->max_pixels;
    io.decode_max_side = a->decode_max_side;
    io.progress = on_progress;
    io.warn = on_warn;
    io.user = &ps;
    a->opt.image_names[0] = cli_image_label(a->positional[0]);
    if (cli_open_context(a, &ctx) ||
        fk_gallery_open(index_path, &a->opt, gallery_options(a, 1, &go), &g) != FK_OK ||
        cli_load_image(a, a->positional[0], &img) != FK_OK) {
        rc = cli_fail();
        goto done;
    }
    fk_status s = fk_gallery_index_folder(g, ctx, dir, &io, &st);
    if (ps.bar) fputs("\r\033[K", stderr);
    if (s != FK_OK) {
        rc = cli_fail();
        goto done;
    }
    if (!a->quiet)
        fprintf(stderr, "facekit: index %s: %d images (%d unchanged, %d added, %d changed, "
                "%d removed, %d unreadable, %d without a face), %d faces, %.1f s\n",
                index_path, st.files, st.unchanged, st.added, st.changed, st.removed,
                st.unreadable, st.no_face, st.faces, st.seconds);
    if (fk_gallery_search(g, ctx, img, a->opt.image_names[0], a->top_k, &res) != FK_OK) {
        rc = cli_fail();
        goto done;
    }
    json_t *out = json_pack("{s:o}", "results", rj_gallery_results(&res, a->opt.anti_spoofing, dir));
    rj_gallery_config(g, out);
    json_object_set_new(out, "similarity_metric", json_string(a->opt.metric));
    method_json(g, &res, a, out);
    json_object_set_new(out, "index", json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f}",
        "file", index_path, "images", st.files, "unchanged", st.unchanged, "added", st.added,
        "changed", st.changed, "removed", st.removed, "unreadable", st.unreadable,
        "no_face", st.no_face, "faces", st.faces, "seconds", st.seconds));
    json_object_set_new(out, "time", json_real(cli_now_s() - t0));
    cli_print_json(out);
done:
    fk_gallery_results_free(&res);
    fk_image_free(img);
    fk_gallery_close(g);
    fk_context_free(ctx);
    return rc;
}

/* register's default --id: the file name without folder and extension,
 * when IMG names a file (stdin "-" and base64 strings do not). */
static int default_id(const char *arg, char *buf, size_t cap) {
    /* Not for "-", a data URI or base64 (cli_image_label names those); a
     * file name that does not exist gets a name too, so the load that
     * follows says "cannot open" rather than asking for --id. */
    if (cli_image_label(arg) != arg) return -1;
    const char *base = strrchr(arg, '/');
    base = base ? base + 1 : arg;
    const char *dot = strrchr(base, '.');
    size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    if (len == 0 || len >= cap) return -1;
    memcpy(buf, base, len);
    buf[len] = '\0';
    return 0;
}

int cmd_register(cli_args *a) {
    if (a->npositional != 1)
        return usage("facekit register IMG [--id NAME] [--db gallery.db|postgresql://...] "
                     "[options]");
    const char *arg = a->positional[0];
    char idbuf[256];
    const char *id = a->id;
    if (!id && default_id(arg, idbuf, sizeof idbuf) == 0) id = idbuf;
    if (!id || !*id) {
        fprintf(stderr, "facekit: register: %s is not a file name, so there is no name to "
                "register its faces under: pass --id NAME\n", strcmp(arg, "-") ? "the image" : "-");
        return 2;
    }
    /* The label stored as the image's path: the file name, "-" for stdin,
     * "base64" for an image given inline (never the whole string). */
    struct stat sb;
    const char *source = !strcmp(arg, "-") || (stat(arg, &sb) == 0 && S_ISREG(sb.st_mode))
                             ? arg : "base64";
    const char *db = a->db_path ? a->db_path : DEFAULT_GALLERY;
    int rc = 0;
    fk_context *ctx = NULL;
    fk_gallery *g = NULL;
    fk_image *img = NULL;
    fk_gallery_register_result res = {0};
    fk_gallery_register_options ro;
    fk_gallery_register_options_init(&ro);
    ro.allow_duplicates = a->allow_duplicates;
    fk_gallery_options go;
    a->opt.image_names[0] = cli_image_label(arg);
    if (cli_open_context(a, &ctx) || cli_load_image(a, arg, &img) != FK_OK ||
        fk_gallery_open(db, &a->opt, gallery_options(a, 1, &go), &g) != FK_OK ||
        fk_gallery_register(g, ctx, img, id, source, &ro, &res) != FK_OK) {
        rc = cli_fail();
    } else {
        /* The gallery's printable name: a PostgreSQL URI without its
         * password. */
        fk_gallery_stats gs;
        const char *where = fk_gallery_get_stats(g, &gs) == FK_OK ? gs.location : db;
        json_t *out = rj_register(&res, id, source, where, a->opt.anti_spoofing);
        if (res.duplicate && !a->quiet)
            fprintf(stderr, "facekit: %s is already registered as %s (%s): nothing stored; "
                    "pass --allow-duplicates to store it again\n", source,
                    res.duplicate_identity, res.duplicate_path);
        cli_print_json(rj_gallery_config(g, out));
    }
    fk_gallery_register_result_free(&res);
    fk_image_free(img);
    fk_gallery_close(g);
    fk_context_free(ctx);
    return rc;
}

int cmd_search(cli_args *a) {
    if (a->npositional != 1)
        return usage("facekit search IMG [--db gallery.db] [--top-k K] "
                     "[--search-method exact|ann] [--ann hnsw|ivfpq]");
    const char *db = a->db_path ? a->db_path : DEFAULT_GALLERY;
    double t0 = cli_now_s();
    int rc = 0;
    fk_context *ctx = NULL;
    fk_gallery *g = NULL;
    fk_image *img = NULL;
    fk_gallery_results res = {0};
    fk_gallery_options go;
    a->opt.image_names[0] = cli_image_label(a->positional[0]);
    if (cli_open_context(a, &ctx) ||
        fk_gallery_open(db, &a->opt, gallery_options(a, 0, &go), &g) != FK_OK ||
        cli_load_image(a, a->positional[0], &img) != FK_OK ||
        fk_gallery_search(g, ctx, img, a->opt.image_names[0], a->top_k, &res) != FK_OK) {
        rc = cli_fail();
    } else {
        json_t *out = json_pack("{s:o}", "results", rj_gallery_results(&res, a->opt.anti_spoofing, NULL));
        rj_gallery_config(g, out);
        json_object_set_new(out, "similarity_metric", json_string(a->opt.metric));
        method_json(g, &res, a, out);
        json_object_set_new(out, "time", json_real(cli_now_s() - t0));
        cli_print_json(out);
    }
    fk_gallery_results_free(&res);
    fk_image_free(img);
    fk_gallery_close(g);
    fk_context_free(ctx);
    return rc;
}

int cmd_gallery(cli_args *a) {
    const char *sub = a->npositional >= 1 ? a->positional[0] : "";
    int want = !strcmp(sub, "remove") ? 2 : 1;
    if ((strcmp(sub, "list") && strcmp(sub, "stats") && strcmp(sub, "remove")) ||
        a->npositional != want)
        return usage("facekit gallery list|stats [--db gallery.db] | "
                     "facekit gallery remove NAME [--db gallery.db]");
    const char *db = a->db_path ? a->db_path : DEFAULT_GALLERY;
    /* A folder given to find: its index. */
    char path[4200];
    struct stat sb;
    if (stat(db, &sb) == 0 && S_ISDIR(sb.st_mode)) snprintf(path, sizeof path, "%s/%s", db, INDEX_NAME);
    else snprintf(path, sizeof path, "%s", db);
    fk_gallery *g = NULL;
    fk_gallery_options go;
    if (fk_gallery_open(path, &a->opt, gallery_options(a, 0, &go), &g) != FK_OK)
        return cli_fail();
    int rc = 0;
    if (!strcmp(sub, "list")) {
        fk_gallery_identities ids = {0};
        if (fk_gallery_list(g, &ids) != FK_OK) {
            rc = cli_fail();
        } else {
            json_t *list = json_array();
            for (int i = 0; i < ids.count; i++)
                json_array_append_new(list, json_pack("{s:s, s:i, s:i}", "identity",
                                                      ids.items[i].name, "images",
                                                      ids.items[i].images, "faces",
                                                      ids.items[i].faces));
            cli_print_json(list);
        }
        fk_gallery_identities_free(&ids);
    } else if (!strcmp(sub, "stats")) {
        fk_gallery_stats s;
        if (fk_gallery_get_stats(g, &s) != FK_OK) {
            rc = cli_fail();
        } else {
            cli_print_json(json_pack(
                "{s:s, s:s, s:s, s:s, s:b, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I}", "db",
                s.location, "backend", s.backend,
                "model", s.model, "detector_backend", s.detector, "align", s.align,
                "normalization", s.normalization, "dimension", s.dim, "identities",
                s.identities, "images", s.images, "faces", s.faces, "unreadable", s.unreadable,
                "no_face", s.no_face, "configurations", s.configurations, "file_bytes",
                (json_int_t)s.file_bytes));
        }
    } else {
        int faces = 0;
        if (fk_gallery_remove(g, a->positional[1], &faces) != FK_OK) rc = cli_fail();
        else
            cli_print_json(json_pack("{s:s, s:i}", "removed", a->positional[1], "faces", faces));
    }
    fk_gallery_close(g);
    return rc;
}
